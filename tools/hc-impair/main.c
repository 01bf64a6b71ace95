/*
 * hc-impair - a UDP link emulator for testing Hillcast over bad links.
 *
 * It sits between two endpoints on loopback and impairs each direction as
 * asked (delay, jitter, loss, burst loss, duplication, reordering, a rate
 * limit with a drop-tail queue or a Mahimahi trace, outages), changes the
 * impairments on a timed script, can move every client to a new upstream
 * port mid-session (NAT rebinding), and reports exactly what it did.
 * See --help, spec.h (impairments), script.h (steps), link.h (pipeline)
 * and proxy.h (sockets).
 */
#include "proto/err.h"
#include "tools/hc-impair/proxy.h"
#include "tools/hc-impair/script.h"
#include "tools/hc-impair/spec.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static const char usage[] =
    "usage: hc-impair --listen ADDR:PORT --target HOST:PORT [options]\n"
    "\n"
    "Forwards UDP from clients of the listen socket to the target (up) and the\n"
    "target's replies back to each client (down), impairing both directions.\n"
    "\n"
    "  --listen ADDR:PORT   where clients send (PORT 0: any free port)\n"
    "  --target HOST:PORT   where their packets go\n"
    "  --print-port         print the listen port as the first line of stdout\n"
    "  --up SPEC            impair client->target   (repeatable)\n"
    "  --down SPEC          impair target->client   (repeatable)\n"
    "  --both SPEC          impair both directions  (repeatable)\n"
    "  --script FILE        timed steps, one per line\n"
    "  --step LINE          one timed step, e.g. \"at 20s up rate=600kbit\" (repeatable)\n"
    "  --seed N             random seed (default 1): same seed, same decisions\n"
    "  --duration T         exit after T (e.g. 30s, 1500ms; a bare number is seconds)\n"
    "  --report FILE        also write the final JSON report to FILE\n"
    "  --max-clients N      client table size (default 64, at most 65535)\n"
    "  --idle T             forget a client idle for T (default 60s)\n"
    "  --slots N            packet slots of 2048 bytes (default 8192 = 16 MiB)\n"
    "  -h, --help           this text\n"
    "\n"
    "SPEC: key=value words, e.g. \"delay=40ms jitter=5ms loss=3% rate=1000kbit queue=100ms\"\n"
    "  delay=T jitter=T jitter_dist=uniform|normal loss=P% ge=p,r[,k,h]|off dup=P%\n"
    "  reorder=P% reorder_gap=N reorder_delay=T rate=R|off queue=BYTES|T\n"
    "  trace=FILE|off scale=F outage=T\n"
    "  times: us ms s; rates: bit kbit mbit gbit; bytes: B kB MB KiB MiB.\n"
    "Pipeline: outage -> loss -> burst loss -> dup -> queue/rate or trace -> delay+jitter\n"
    "-> reorder. Default queue limit 300ms at the current rate.\n"
    "Steps: at <time> <up|down|both> <SPEC> | at <time> <dir> outage <T>\n"
    "       | at <time> rebind | at <time> end      ('#' comments)\n"
    "Report: human text on stderr and one JSON line on stdout at exit and on SIGUSR1.\n";

static int die_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "hc-impair: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(see hc-impair --help)\n");
    return EXIT_USAGE;
}

/* "host:port" or "[v6]:port" into a socket address. */
static int parse_addr(const char *s, bool passive, struct sockaddr_storage *out, socklen_t *len)
{
    char host[256];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        port = e + 2;
    } else {
        const char *c = strrchr(s, ':');
        if (!c || (size_t)(c - s) >= sizeof host || strchr(s, ':') != c) return -1;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = 0;
        port = c + 1;
    }
    if (!*host || !*port || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        atoi(port) > 65535)
        return -1;
    if (!passive && atoi(port) == 0) return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *e;
    if (!*s || strspn(s, "0123456789") != strlen(s)) return -1;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || v < lo || v > hi) return -1;
    *out = (uint32_t)v;
    return 0;
}

/* A duration: number with unit, or a bare number of seconds. */
static int parse_duration(const char *s, uint64_t *us)
{
    if (*s && strspn(s, "0123456789.") == strlen(s)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%ss", s);
        return hc_imp_parse_time(buf, strlen(buf), us);
    }
    return hc_imp_parse_time(s, strlen(s), us);
}

int main(int argc, char **argv)
{
    hc_imp_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    hc_imp_script_init(&cfg.initial);
    hc_imp_script_init(&cfg.steps);
    cfg.seed = 1;
    cfg.max_clients = 64;
    cfg.idle_us = 60000000ull;
    cfg.slots = 8192;
    bool have_listen = false, have_target = false;
    int rc = 0;
    char err[1024];

    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        char name[64];
        const char *val = NULL;
        /* --opt=value or --opt value */
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
#define IS(opt) (strcmp(name, opt) == 0)
        if (IS("-h") || IS("--help")) {
            fputs(usage, stdout);
            goto out;
        }
        if (IS("--print-port")) {
            if (val) rc = die_usage("option '%s' takes no value%s", name, "");
            cfg.print_port = true;
            continue;
        }
        static const char *const with_value[] = {
            "--listen", "--target",   "--up",     "--down", "--both",  "--script",      "--step",
            "--seed",   "--duration", "--report", "--idle", "--slots", "--max-clients",
        };
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
            known = known || IS(with_value[k]);
        if (!known) {
            rc = die_usage("unknown option '%s'%s", a, "");
            break;
        }
        if (!val) {
            if (i + 1 >= argc) {
                rc = die_usage("option '%s' needs a value%s", name, "");
                break;
            }
            val = argv[++i];
        }
        if (IS("--listen")) {
            if (parse_addr(val, true, &cfg.listen, &cfg.listen_len) < 0)
                rc = die_usage("--listen '%s': expected ADDR:PORT, e.g. 127.0.0.1:0%s", val, "");
            have_listen = true;
        } else if (IS("--target")) {
            if (parse_addr(val, false, &cfg.target, &cfg.target_len) < 0)
                rc = die_usage("--target '%s': expected HOST:PORT with a port > 0%s", val, "");
            have_target = true;
        } else if (IS("--up") || IS("--down") || IS("--both")) {
            hc_imp_step_t st;
            memset(&st, 0, sizeof st);
            st.kind = HC_IMP_STEP_SPEC;
            st.dirs = IS("--up") ? HC_IMP_DIR_UP : IS("--down") ? HC_IMP_DIR_DOWN : HC_IMP_DIR_BOTH;
            if (hc_imp_spec_parse(&st.spec, val, err, sizeof err) < 0) {
                fprintf(stderr, "hc-impair: %s '%s': %s\n", name, val, err);
                rc = EXIT_USAGE;
            } else if (hc_imp_script_add(&cfg.initial, &st) < 0) {
                hc_imp_spec_fini(&st.spec);
                rc = 1;
            }
        } else if (IS("--script")) {
            if (hc_imp_script_load(&cfg.steps, val, err, sizeof err) < 0) {
                fprintf(stderr, "hc-impair: --script: %s\n", err);
                rc = EXIT_USAGE;
            }
        } else if (IS("--step")) {
            if (hc_imp_script_add_line(&cfg.steps, val, "--step", 0, err, sizeof err) < 0) {
                fprintf(stderr, "hc-impair: %s (in '%s')\n", err, val);
                rc = EXIT_USAGE;
            } else if (strspn(val, " \t") == strlen(val) || val[strspn(val, " \t")] == '#') {
                rc = die_usage("--step '%s': empty step%s", val, "");
            }
        } else if (IS("--seed")) {
            char *e;
            if (!*val || strspn(val, "0123456789") != strlen(val) || strlen(val) > 19)
                rc = die_usage("--seed '%s': expected a non-negative integer%s", val, "");
            else
                cfg.seed = strtoull(val, &e, 10);
        } else if (IS("--duration")) {
            if (parse_duration(val, &cfg.duration_us) < 0 || cfg.duration_us == 0)
                rc = die_usage("--duration '%s': expected a time like 30s or 500ms%s", val, "");
        } else if (IS("--report")) {
            cfg.report_path = val;
        } else if (IS("--idle")) {
            if (parse_duration(val, &cfg.idle_us) < 0 || cfg.idle_us == 0)
                rc = die_usage("--idle '%s': expected a time like 60s%s", val, "");
        } else if (IS("--slots")) {
            if (parse_u32(val, 16, 1u << 20, &cfg.slots) < 0)
                rc = die_usage("--slots '%s': expected a number from 16 to 1048576%s", val, "");
        } else if (IS("--max-clients")) {
            if (parse_u32(val, 1, 65535, &cfg.max_clients) < 0)
                rc = die_usage("--max-clients '%s': expected a number from 1 to 65535%s", val, "");
        }
#undef IS
    }
    if (rc == 0 && !have_listen) rc = die_usage("missing --listen ADDR:PORT%s%s", "", "");
    if (rc == 0 && !have_target) rc = die_usage("missing --target HOST:PORT%s%s", "", "");
    if (rc == 0) {
        hc_imp_script_sort(&cfg.steps);
        rc = hc_imp_run(&cfg);
    }
out:
    hc_imp_script_fini(&cfg.initial);
    hc_imp_script_fini(&cfg.steps);
    return rc;
}
