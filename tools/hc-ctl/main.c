/*
 * hc-ctl - command-line client of hc-relay's admin API.
 *
 *   hc-ctl [--url wss://host:port] [--token T | --token-file F]
 *          [--insecure | --ca FILE] [--json] [--timeout MS] <command> ...
 *
 * See ctl_usage() for the commands. The URL defaults to $HC_RELAY_URL or
 * wss://127.0.0.1:8443, the token to $HC_TOKEN.
 */
#include "tools/hc-ctl/ctl.h"

#include "proto/err.h"

#include <getopt.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void ctl_usage(FILE *f)
{
    fputs("usage: hc-ctl [options] <command> [arguments]\n"
          "\n"
          "options:\n"
          "  --url URL          relay signaling URL (default $HC_RELAY_URL or\n"
          "                     wss://127.0.0.1:8443)\n"
          "  --token T          admin token (default $HC_TOKEN)\n"
          "  --token-file F     read the token from F\n"
          "  --ca FILE          trust this certificate (e.g. the relay's sig-cert.pem)\n"
          "  --insecure         accept any certificate\n"
          "  --json             machine-readable output\n"
          "  --timeout MS       per request (default 5000)\n"
          "  --version, --help\n"
          "\n"
          "commands:\n"
          "  sessions                            list sessions\n"
          "  participants SESSION                participants and their legs\n"
          "  kick SESSION PARTICIPANT [REASON]   remove a participant\n"
          "  close SESSION [REASON]              end a session\n"
          "  token --role R [--session S] [--site NAME] [--sub WHO] [--ttl SECONDS]\n"
          "        [--secret-file F]             mint a token (through the relay, or\n"
          "                                      locally with the relay's key file)\n"
          "  budget SITE KBPS                    set a site's bandwidth budget (0 = none)\n"
          "  stats                               relay totals\n"
          "  watch [SESSION] [--count N] [--interval MS]\n"
          "                                      refreshing table until Ctrl-C\n"
          "\n"
          "exit status: 0 ok, 1 the relay refused or could not be reached, 2 usage\n",
          f);
}

int ctl_usage_error(ctl_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hc-ctl: ", x->err);
    vfprintf(x->err, fmt, ap);
    fputs(" (hc-ctl --help)\n", x->err);
    va_end(ap);
    return CTL_EXIT_USAGE;
}

int ctl_connect(ctl_t *x)
{
    if (x->c) return 0;
    if (!x->token || !*x->token) {
        fprintf(x->err, "hc-ctl: no token: give --token, --token-file or $HC_TOKEN\n");
        return CTL_EXIT_ERR;
    }
    hc_sigclient_cfg_t cfg;
    hc_sigclient_cfg_default(&cfg);
    cfg.url = x->url;
    cfg.token = x->token;
    cfg.client = "hc-ctl/" HC_VERSION;
    cfg.ca_file = x->ca;
    cfg.insecure = x->insecure;
    cfg.connect_timeout_ms = (uint32_t)x->timeout_ms;
    char err[320];
    int rc = hc_sigclient_connect(&x->c, &cfg, err, sizeof err);
    if (rc < 0) {
        bool tls_fail = !strncmp(x->url, "wss:", 4) && strstr(err, "SSL") && !x->insecure;
        fprintf(x->err, "hc-ctl: %s: %s%s\n", x->url, err,
                tls_fail ? " (certificate not trusted? give --ca with the relay's "
                           "sig-cert.pem, or --insecure)"
                         : "");
        return CTL_EXIT_ERR;
    }
    return 0;
}

int ctl_call(ctl_t *x, hc_sig_msg_t *req, hc_sig_msg_t *rep)
{
    int rc = ctl_connect(x);
    if (rc) return rc;
    rc = hc_sigclient_call(x->c, req, rep, x->timeout_ms);
    if (rc == 0) return 0;
    if (rep->type == HC_SIG_ERROR) {
        fprintf(x->err, "hc-ctl: %s: %s\n", hc_errname(rep->error.code), rep->error.reason);
        hc_sig_msg_fini(rep);
    } else if (rc == -HC_ESCHEMA) {
        char why[256];
        hc_sig_validate(req, why, sizeof why);
        fprintf(x->err, "hc-ctl: invalid request: %s\n", why);
    } else {
        fprintf(x->err, "hc-ctl: %s: %s\n", hc_errname(rc), hc_strerror(rc));
    }
    return CTL_EXIT_ERR;
}

static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *buf = calloc(1, HC_SIG_TOKEN_MAX + 2);
    size_t n = buf ? fread(buf, 1, HC_SIG_TOKEN_MAX + 1, f) : 0;
    fclose(f);
    if (!buf) return NULL;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
    return buf;
}

typedef struct command {
    const char *name;
    int (*fn)(ctl_t *x, int argc, char **argv);
} command_t;

static const command_t commands[] = {
    {"sessions", cmd_sessions}, {"participants", cmd_participants},
    {"kick", cmd_kick},         {"close", cmd_close},
    {"token", cmd_token},       {"budget", cmd_budget},
    {"stats", cmd_stats},       {"watch", cmd_watch},
};

int main(int argc, char **argv)
{
    ctl_t x = {0};
    x.out = stdout;
    x.err = stderr;
    x.timeout_ms = 5000;
    x.url = getenv("HC_RELAY_URL");
    if (!x.url || !*x.url) x.url = "wss://127.0.0.1:8443";
    x.token = getenv("HC_TOKEN");
    char *token_buf = NULL;

    enum { O_URL = 1000, O_TOKEN, O_TOKEN_FILE, O_CA, O_INSECURE, O_JSON, O_TIMEOUT, O_VERSION };
    static const struct option opts[] = {
        {"url", required_argument, 0, O_URL},
        {"token", required_argument, 0, O_TOKEN},
        {"token-file", required_argument, 0, O_TOKEN_FILE},
        {"ca", required_argument, 0, O_CA},
        {"insecure", no_argument, 0, O_INSECURE},
        {"json", no_argument, 0, O_JSON},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"version", no_argument, 0, O_VERSION},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    /* '+': stop at the command, whose own options come after it. */
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: x.url = optarg; break;
        case O_TOKEN: x.token = optarg; break;
        case O_TOKEN_FILE:
            free(token_buf);
            token_buf = read_token_file(optarg);
            if (!token_buf) {
                fprintf(stderr, "hc-ctl: cannot read token file %s\n", optarg);
                return CTL_EXIT_USAGE;
            }
            x.token = token_buf;
            break;
        case O_CA: x.ca = optarg; break;
        case O_INSECURE: x.insecure = true; break;
        case O_JSON: x.json = true; break;
        case O_TIMEOUT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 600000) {
                free(token_buf);
                return ctl_usage_error(&x, "--timeout wants 1..600000 ms, not %s", optarg);
            }
            x.timeout_ms = (int)v;
            break;
        }
        case O_VERSION: printf("hc-ctl %s\n", HC_VERSION); return CTL_EXIT_OK;
        case 'h': ctl_usage(stdout); return CTL_EXIT_OK;
        default: free(token_buf); return ctl_usage_error(&x, "unknown option %s", argv[optind - 1]);
        }
    }
    if (x.insecure && x.ca) {
        free(token_buf);
        return ctl_usage_error(&x, "--insecure and --ca exclude each other");
    }
    if (optind >= argc) {
        ctl_usage(stderr);
        free(token_buf);
        return CTL_EXIT_USAGE;
    }
    /* Errors reach the user through ctl_connect/ctl_call, once, in words. */
    lws_set_log_level(0, NULL);
    const char *name = argv[optind];
    int rc = -1;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(name, commands[i].name)) {
            rc = commands[i].fn(&x, argc - optind, argv + optind);
            break;
        }
    }
    if (rc < 0) rc = ctl_usage_error(&x, "unknown command %s", name);
    if (x.c) {
        hc_sigclient_close(x.c, "bye");
        hc_sigclient_destroy(&x.c);
    }
    free(token_buf);
    fflush(stdout);
    return rc;
}
