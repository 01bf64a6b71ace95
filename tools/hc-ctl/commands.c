/*
 * commands.c - hc-ctl's commands: each builds the admin request of
 * proto/SIGNALING.md, sends it with ctl_call() and prints the reply.
 * List replies are paginated by the relay (HC_SIG_PAGE_MAX sessions,
 * HC_SIG_PPAGE_MAX participants per page); the commands fetch every page.
 */
#include "tools/hc-ctl/ctl.h"

#include "proto/err.h"
#include "proto/token.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static hc_sig_msg_t *msg_new(hc_sig_type_t t)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m) {
        fputs("hc-ctl: out of memory\n", stderr);
        exit(CTL_EXIT_ERR);
    }
    hc_sig_msg_init(m, t);
    return m;
}

static int copy_id(ctl_t *x, char *dst, size_t cap, const char *what, const char *v)
{
    if (strlen(v) >= cap || !hc_sig_id_valid(v, strlen(v)) || !*v)
        return ctl_usage_error(x, "%s must be 1..%zu of A-Z a-z 0-9 . _ -, not \"%s\"", what,
                               cap - 1, v);
    snprintf(dst, cap, "%s", v);
    return 0;
}

static int copy_text(ctl_t *x, char *dst, size_t cap, const char *what, const char *v)
{
    if (!*v || strlen(v) >= cap || !hc_sig_text_valid(v, strlen(v)))
        return ctl_usage_error(x, "%s must be 1..%zu bytes of text", what, cap - 1);
    snprintf(dst, cap, "%s", v);
    return 0;
}

static int parse_u32(ctl_t *x, const char *what, const char *v, uint32_t lo, uint32_t hi,
                     uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || n < lo || n > hi)
        return ctl_usage_error(x, "%s must be %u..%u, not \"%s\"", what, lo, hi, v);
    *out = (uint32_t)n;
    return 0;
}

/* ---- fetching every page ---- */

static int fetch_sessions(ctl_t *x, ctl_sessions_t *out)
{
    memset(out, 0, sizeof *out);
    hc_sig_msg_t *req = msg_new(HC_SIG_LIST_SESSIONS), *rep = msg_new(HC_SIG_NONE);
    int rc = 0;
    for (;;) {
        hc_sig_msg_init(req, HC_SIG_LIST_SESSIONS);
        req->list_sessions.offset = (uint32_t)out->n;
        req->list_sessions.has_offset = true;
        if ((rc = ctl_call(x, req, rep))) break;
        if (rep->type != HC_SIG_SESSIONS) {
            fprintf(x->err, "hc-ctl: unexpected reply %s\n", hc_sig_type_name(rep->type));
            hc_sig_msg_fini(rep);
            rc = CTL_EXIT_ERR;
            break;
        }
        size_t k = rep->sessions.n_items;
        out->total = rep->sessions.total;
        void *p = realloc(out->items, (out->n + k + 1) * sizeof *out->items);
        if (!p) {
            hc_sig_msg_fini(rep);
            rc = CTL_EXIT_ERR;
            break;
        }
        out->items = p;
        memcpy(out->items + out->n, rep->sessions.items, k * sizeof *out->items);
        out->n += k;
        hc_sig_msg_fini(rep);
        /* Sessions may come and go between pages; an empty page ends it. */
        if (k == 0 || out->n >= out->total) break;
    }
    free(req);
    free(rep);
    return rc;
}

static int fetch_participants(ctl_t *x, const char *session, ctl_participants_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->session, sizeof out->session, "%s", session);
    hc_sig_msg_t *req = msg_new(HC_SIG_LIST_PARTICIPANTS), *rep = msg_new(HC_SIG_NONE);
    int rc = 0;
    for (;;) {
        hc_sig_msg_init(req, HC_SIG_LIST_PARTICIPANTS);
        snprintf(req->list_participants.session, sizeof req->list_participants.session, "%s",
                 session);
        req->list_participants.offset = (uint32_t)out->n;
        req->list_participants.has_offset = true;
        if ((rc = ctl_call(x, req, rep))) break;
        if (rep->type != HC_SIG_PARTICIPANTS) {
            fprintf(x->err, "hc-ctl: unexpected reply %s\n", hc_sig_type_name(rep->type));
            hc_sig_msg_fini(rep);
            rc = CTL_EXIT_ERR;
            break;
        }
        size_t k = rep->participants.n_items;
        out->total = rep->participants.total;
        void *p = realloc(out->items, (out->n + k + 1) * sizeof *out->items);
        if (!p) {
            hc_sig_msg_fini(rep);
            rc = CTL_EXIT_ERR;
            break;
        }
        out->items = p;
        memcpy(out->items + out->n, rep->participants.items, k * sizeof *out->items);
        out->n += k;
        hc_sig_msg_fini(rep);
        if (k == 0 || out->n >= out->total) break;
    }
    free(req);
    free(rep);
    return rc;
}

/* ---- commands ---- */

int cmd_sessions(ctl_t *x, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) return ctl_usage_error(x, "sessions takes no arguments");
    ctl_sessions_t s;
    int rc = fetch_sessions(x, &s);
    if (rc == 0) {
        if (x->json)
            print_sessions_json(x->out, &s);
        else
            print_sessions(x->out, &s, now_ms());
    }
    free(s.items);
    return rc;
}

int cmd_participants(ctl_t *x, int argc, char **argv)
{
    if (argc != 2) return ctl_usage_error(x, "usage: participants SESSION");
    char session[HC_SIG_ID_MAX + 1];
    int rc = copy_id(x, session, sizeof session, "SESSION", argv[1]);
    if (rc) return rc;
    ctl_participants_t p;
    rc = fetch_participants(x, session, &p);
    if (rc == 0) {
        if (x->json)
            print_participants_json(x->out, &p);
        else
            print_participants(x->out, &p, now_ms());
    }
    free(p.items);
    return rc;
}

/* Send req, expect `ok`, print done (or the ok message in JSON). */
static int simple(ctl_t *x, hc_sig_msg_t *req, const char *done)
{
    hc_sig_msg_t *rep = msg_new(HC_SIG_NONE);
    int rc = ctl_call(x, req, rep);
    if (rc == 0) {
        if (x->json)
            print_msg_json(x->out, rep);
        else
            fprintf(x->out, "%s\n", done);
        hc_sig_msg_fini(rep);
    }
    free(rep);
    return rc;
}

int cmd_kick(ctl_t *x, int argc, char **argv)
{
    if (argc < 3 || argc > 4) return ctl_usage_error(x, "usage: kick SESSION PARTICIPANT [REASON]");
    hc_sig_msg_t *req = msg_new(HC_SIG_KICK);
    int rc = copy_id(x, req->kick.session, sizeof req->kick.session, "SESSION", argv[1]);
    if (!rc)
        rc =
            copy_id(x, req->kick.participant, sizeof req->kick.participant, "PARTICIPANT", argv[2]);
    if (!rc && argc == 4)
        rc = copy_text(x, req->kick.reason, sizeof req->kick.reason, "REASON", argv[3]);
    char done[200];
    snprintf(done, sizeof done, "kicked %s from %s", req->kick.participant, req->kick.session);
    if (!rc) rc = simple(x, req, done);
    free(req);
    return rc;
}

int cmd_close(ctl_t *x, int argc, char **argv)
{
    if (argc < 2 || argc > 3) return ctl_usage_error(x, "usage: close SESSION [REASON]");
    hc_sig_msg_t *req = msg_new(HC_SIG_CLOSE_SESSION);
    int rc = copy_id(x, req->close_session.session, sizeof req->close_session.session, "SESSION",
                     argv[1]);
    if (!rc && argc == 3)
        rc = copy_text(x, req->close_session.reason, sizeof req->close_session.reason, "REASON",
                       argv[2]);
    char done[200];
    snprintf(done, sizeof done, "closed %s", req->close_session.session);
    if (!rc) rc = simple(x, req, done);
    free(req);
    return rc;
}

int cmd_budget(ctl_t *x, int argc, char **argv)
{
    if (argc != 3) return ctl_usage_error(x, "usage: budget SITE KBPS");
    hc_sig_msg_t *req = msg_new(HC_SIG_SET_BUDGET);
    int rc = copy_text(x, req->set_budget.site, sizeof req->set_budget.site, "SITE", argv[1]);
    if (!rc) rc = parse_u32(x, "KBPS", argv[2], 0, 100000, &req->set_budget.kbps);
    if (!rc && req->set_budget.kbps && req->set_budget.kbps < 64)
        rc = ctl_usage_error(x, "KBPS must be 0 (no budget) or 64..100000, not %s", argv[2]);
    char done[200];
    if (req->set_budget.kbps)
        snprintf(done, sizeof done, "budget of %s: %u kbps", req->set_budget.site,
                 req->set_budget.kbps);
    else
        snprintf(done, sizeof done, "budget of %s: none", req->set_budget.site);
    if (!rc) rc = simple(x, req, done);
    free(req);
    return rc;
}

int cmd_stats(ctl_t *x, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) return ctl_usage_error(x, "stats takes no arguments");
    hc_sig_msg_t *req = msg_new(HC_SIG_STATS), *rep = msg_new(HC_SIG_NONE);
    int rc = ctl_call(x, req, rep);
    if (rc == 0) {
        if (x->json)
            print_msg_json(x->out, rep);
        else
            print_stats(x->out, &rep->stats_reply);
        hc_sig_msg_fini(rep);
    }
    free(req);
    free(rep);
    return rc;
}

/* The token key file: its content without trailing whitespace, as the relay
 * reads it (relay/config.h, hc_relay_secret_load). */
static int read_secret(ctl_t *x, const char *path, uint8_t *key, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(x->err, "hc-ctl: %s: %s\n", path, strerror(errno));
        return CTL_EXIT_ERR;
    }
    size_t n = fread(key, 1, cap, f);
    bool more = n == cap && fgetc(f) != EOF;
    fclose(f);
    while (n &&
           (key[n - 1] == '\n' || key[n - 1] == '\r' || key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    if (more || n < HC_TOKEN_KEY_MIN) {
        fprintf(x->err, "hc-ctl: %s: the key must be %d..%zu bytes\n", path, HC_TOKEN_KEY_MIN, cap);
        return CTL_EXIT_ERR;
    }
    *len = n;
    return 0;
}

int cmd_token(ctl_t *x, int argc, char **argv)
{
    enum { T_ROLE = 1, T_SESSION, T_SITE, T_SUB, T_TTL, T_SECRET };
    static const struct option opts[] = {
        {"role", required_argument, 0, T_ROLE},
        {"session", required_argument, 0, T_SESSION},
        {"site", required_argument, 0, T_SITE},
        {"sub", required_argument, 0, T_SUB},
        {"ttl", required_argument, 0, T_TTL},
        {"secret-file", required_argument, 0, T_SECRET},
        {0, 0, 0, 0},
    };
    hc_sig_msg_t *req = msg_new(HC_SIG_MINT_TOKEN);
    hc_sig_mint_token_t *q = &req->mint_token;
    q->ttl_s = 3600;
    const char *secret = NULL;
    int rc = 0, o;
    optind = 1;
    opterr = 0;
    while (!rc && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case T_ROLE:
            q->role = hc_sig_role_from_name(optarg);
            if (q->role == HC_SIG_ROLE_NONE)
                rc = ctl_usage_error(
                    x, "--role must be admin, teacher, clinician, site or viewer, not %s", optarg);
            break;
        case T_SESSION: rc = copy_id(x, q->session, sizeof q->session, "--session", optarg); break;
        case T_SITE: rc = copy_text(x, q->site, sizeof q->site, "--site", optarg); break;
        case T_SUB: rc = copy_text(x, q->sub, sizeof q->sub, "--sub", optarg); break;
        case T_TTL: rc = parse_u32(x, "--ttl", optarg, 1, HC_SIG_TTL_MAX, &q->ttl_s); break;
        case T_SECRET: secret = optarg; break;
        default: rc = ctl_usage_error(x, "token: unknown option %s", argv[optind - 1]);
        }
    }
    if (!rc && optind < argc) rc = ctl_usage_error(x, "token: unexpected %s", argv[optind]);
    if (!rc && q->role == HC_SIG_ROLE_NONE) rc = ctl_usage_error(x, "token needs --role");
    if (!rc && q->role != HC_SIG_ROLE_ADMIN && !q->session[0])
        rc = ctl_usage_error(x, "a %s token needs --session", hc_sig_role_name(q->role));
    if (rc) {
        free(req);
        return rc;
    }

    char token[HC_TOKEN_MAX + 1];
    int64_t expires_ms;
    if (secret) {
        /* Local minting, for the first admin token before any exists. */
        uint8_t key[4096];
        size_t keylen;
        if ((rc = read_secret(x, secret, key, sizeof key, &keylen))) {
            free(req);
            return rc;
        }
        hc_token_claims_t c;
        memset(&c, 0, sizeof c);
        c.role = q->role;
        snprintf(c.session, sizeof c.session, "%s", q->session);
        snprintf(c.site, sizeof c.site, "%s", q->site);
        snprintf(c.sub, sizeof c.sub, "%s", q->sub);
        c.iat = (int64_t)time(NULL);
        c.exp = c.iat + q->ttl_s;
        int n = hc_token_mint(&c, key, keylen, token, sizeof token);
        memset(key, 0, sizeof key);
        if (n < 0) {
            fprintf(x->err, "hc-ctl: cannot mint: %s\n", hc_strerror(n));
            free(req);
            return CTL_EXIT_ERR;
        }
        expires_ms = c.exp * 1000;
    } else {
        hc_sig_msg_t *rep = msg_new(HC_SIG_NONE);
        rc = ctl_call(x, req, rep);
        if (rc == 0) {
            snprintf(token, sizeof token, "%s", rep->token.token);
            expires_ms = rep->token.expires_ms;
            hc_sig_msg_fini(rep);
        }
        free(rep);
        if (rc) {
            free(req);
            return rc;
        }
    }
    if (x->json)
        fprintf(x->out, "{\"token\":\"%s\",\"expires_ms\":%lld}\n", token, (long long)expires_ms);
    else
        fprintf(x->out, "%s\n", token);
    free(req);
    return 0;
}

/* ---- watch ---- */

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

int cmd_watch(ctl_t *x, int argc, char **argv)
{
    enum { W_COUNT = 1, W_INTERVAL };
    static const struct option opts[] = {
        {"count", required_argument, 0, W_COUNT},
        {"interval", required_argument, 0, W_INTERVAL},
        {0, 0, 0, 0},
    };
    uint32_t count = 0, interval = 1000;
    int rc = 0, o;
    optind = 1;
    opterr = 0;
    while (!rc && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case W_COUNT: rc = parse_u32(x, "--count", optarg, 1, 1000000, &count); break;
        case W_INTERVAL: rc = parse_u32(x, "--interval", optarg, 100, 3600000, &interval); break;
        default: rc = ctl_usage_error(x, "watch: unknown option %s", argv[optind - 1]);
        }
    }
    if (rc) return rc;
    const char *session = NULL;
    char sbuf[HC_SIG_ID_MAX + 1];
    if (optind < argc) {
        if ((rc = copy_id(x, sbuf, sizeof sbuf, "SESSION", argv[optind]))) return rc;
        session = sbuf;
        optind++;
    }
    if (optind < argc) return ctl_usage_error(x, "watch: unexpected %s", argv[optind]);
    if ((rc = ctl_connect(x))) return rc;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(fileno(x->out));
    for (uint32_t i = 0; !g_stop && (count == 0 || i < count); i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f) return CTL_EXIT_ERR;
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        if (!x->json)
            fprintf(f, "%shc-ctl watch %s  %s  (every %u ms, Ctrl-C to stop)\n\n",
                    tty ? "\033[1m" : "", session ? session : "all sessions", ts, interval);
        if (tty && !x->json) fputs("\033[0m", f);
        if (session) {
            ctl_participants_t p;
            rc = fetch_participants(x, session, &p);
            if (!rc) {
                if (x->json)
                    print_participants_json(f, &p);
                else
                    print_participants(f, &p, now_ms());
            }
            free(p.items);
        } else {
            hc_sig_msg_t *req = msg_new(HC_SIG_STATS), *rep = msg_new(HC_SIG_NONE);
            rc = ctl_call(x, req, rep);
            if (!rc) {
                if (x->json)
                    print_msg_json(f, rep);
                else
                    print_stats(f, &rep->stats_reply);
                hc_sig_msg_fini(rep);
            }
            free(req);
            free(rep);
            ctl_sessions_t s;
            if (!rc) rc = fetch_sessions(x, &s);
            if (!rc) {
                if (x->json) {
                    print_sessions_json(f, &s);
                } else {
                    fputc('\n', f);
                    print_sessions(f, &s, now_ms());
                }
                free(s.items);
            }
        }
        fclose(f);
        if (rc) {
            free(buf);
            return rc;
        }
        /* One write per frame, after a clear, so the table never flickers
         * half-drawn. */
        if (tty && !x->json) fputs("\033[H\033[2J", x->out);
        fwrite(buf, 1, len, x->out);
        if (!tty && !x->json) fputs("--\n", x->out);
        fflush(x->out);
        free(buf);
        if (count && i + 1 >= count) break;
        for (uint32_t w = 0; w < interval && !g_stop; w += 50) usleep(50 * 1000);
    }
    return 0;
}
