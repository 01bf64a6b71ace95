/*
 * hc-relay - the central media relay of Hillcast.
 *
 *   hc-relay -c conf/relay.ini [--check-config] | --version | --help
 *
 * Start-up: configuration (relay/config.h; any error exits 2 before
 * anything starts), the token key (created at first start), the session
 * layer, the media workers (given the session layer's router events), the
 * signaling server (dispatching to the session layer), then the session
 * layer is attached to both.
 *
 * Signals (handled by the main thread with sigwait; every other thread
 * has them blocked):
 *   SIGTERM, SIGINT  shut down: the signaling server stops accepting and
 *                    stops calling the session layer; every session is
 *                    closed (participants get session_closed); queued
 *                    signaling output is flushed and connections closed
 *                    (1001) within [signaling] drain_ms; the workers stop;
 *                    exit 0.
 *   SIGHUP           ignored (logged): logs go to stderr, so there is no
 *                    file to reopen, and the configuration is read only at
 *                    start - restart to change it.
 */
#include "proto/err.h"
#include "relay/config.h"
#include "relay/core/addr.h"
#include "relay/log.h"
#include "relay/metrics.h"
#include "relay/sessions.h"
#include "relay/sigserver.h"
#include "relay/worker.h"

#include <getopt.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_CONFIG 2

typedef struct relay {
    hc_relay_config_t cfg;
    hc_sessions_t *sessions;
    hc_workers_t workers;
    hc_sigserver_t *sig;
} relay_t;

static void usage(FILE *f)
{
    fputs("usage: hc-relay -c FILE [--check-config]\n"
          "       hc-relay --version | --help\n"
          "\n"
          "  -c, --config FILE   configuration (INI; see conf/relay.ini for every key)\n"
          "      --check-config  check the configuration and the token key, then exit\n"
          "                      (0 ok, 2 with one line per problem)\n"
          "  -V, --version       print the version\n"
          "  -h, --help          this text\n"
          "\n"
          "Runs in the foreground and logs key=value lines to stderr. SIGTERM or SIGINT\n"
          "drain and stop it; SIGHUP is ignored.\n",
          f);
}

/* ---- signaling handlers: the session layer and the workers ---- */

static void on_message(void *ud, uint64_t conn, const hc_token_claims_t *who, hc_sig_msg_t *msg)
{
    relay_t *r = ud;
    hc_sessions_on_message(r->sessions, conn, who, msg);
}

static void on_close(void *ud, uint64_t conn)
{
    relay_t *r = ud;
    hc_sessions_on_close(r->sessions, conn);
}

static void on_hello(void *ud, uint64_t conn, const hc_token_claims_t *who,
                     hc_sig_welcome_t *welcome)
{
    relay_t *r = ud;
    (void)conn;
    if (hc_sessions_resumable(r->sessions, who)) {
        welcome->has_resume = true;
        welcome->resume = true;
    }
}

static void on_stats(void *ud, hc_sig_stats_reply_t *out)
{
    relay_t *r = ud;
    hc_sessions_counters_t sc;
    hc_sessions_counters(r->sessions, &sc);
    out->sessions = sc.sessions;
    out->participants = sc.participants;
    out->legs = sc.legs;
    out->in_kbps = sc.in_kbps;
    out->out_kbps = sc.out_kbps;
}

static void on_metrics(void *ud, FILE *f)
{
    relay_t *r = ud;
    unsigned n = r->workers.n;
    hc_worker_snapshot_t *per = calloc(n ? n : 1, sizeof *per);
    if (!per) return;
    for (unsigned i = 0; i < n; i++) hc_worker_snapshot(r->workers.w[i], &per[i]);
    hc_sessions_counters_t sc;
    hc_sessions_counters(r->sessions, &sc);
    hc_metrics_write(f, per, n, &sc);
    free(per);
}

/* ---- start-up ---- */

static int load_config(relay_t *r, const char *path)
{
    char *err = malloc(16384);
    if (!err) return EXIT_CONFIG;
    hc_relay_config_default(&r->cfg);
    int rc = hc_relay_config_load(&r->cfg, path, err, 16384);
    if (rc < 0) {
        /* One line per problem, so the operator fixes the file in one go. */
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, "hc-relay: %s: configuration refused\n", path);
        free(err);
        return EXIT_CONFIG;
    }
    free(err);
    return 0;
}

static int load_secret(relay_t *r, bool create)
{
    char err[1200];
    bool created = false;
    size_t len = 0;
    int rc = hc_relay_secret_load(r->cfg.secret_file, create, r->cfg.sig.secret,
                                  sizeof r->cfg.sig.secret, &len, &created, err, sizeof err);
    if (rc < 0) {
        hc_log_error("token key refused", "err=\"%s\"", err);
        return rc;
    }
    r->cfg.sig.secret_len = len;
    if (created) {
        char q[HC_CONFIG_PATH_MAX + 8];
        hc_log_info("created a token key", "file=%s", hc_log_q(q, sizeof q, r->cfg.secret_file));
    }
    return 0;
}

static int media_addr(const relay_t *r, hc_addr_t *out)
{
    char text[128];
    if (strchr(r->cfg.media_bind, ':'))
        snprintf(text, sizeof text, "[%s]:%u", r->cfg.media_bind, (unsigned)r->cfg.media_port);
    else
        snprintf(text, sizeof text, "%s:%u", r->cfg.media_bind, (unsigned)r->cfg.media_port);
    return hc_addr_parse(text, out);
}

static int start(relay_t *r)
{
    char err[512];
    int rc = hc_sessions_new(&r->sessions, &r->cfg.session);
    if (rc < 0) {
        hc_log_error("cannot start the session layer", "err=%s", hc_errname(rc));
        return rc;
    }

    hc_workers_cfg_t wc;
    memset(&wc, 0, sizeof wc);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    wc.count = r->cfg.workers ? r->cfg.workers : (cpus > 0 ? (unsigned)cpus : 1);
    if (media_addr(r, &wc.bind) < 0) {
        hc_log_error("bad media address", "bind=%s", r->cfg.media_bind);
        return -HC_ECONFIG;
    }
    wc.pool_packets = r->cfg.pool_packets;
    wc.router = r->cfg.router;
    uint32_t seed = 0;
    RAND_bytes((unsigned char *)&seed, sizeof seed);
    wc.router.seed = seed;
    hc_sessions_router_events(r->sessions, &wc.events);
    rc = hc_workers_start(&r->workers, &wc, err, sizeof err);
    if (rc < 0) {
        char q[600];
        hc_log_error("cannot start the media workers", "err=%s", hc_log_q(q, sizeof q, err));
        return rc;
    }

    hc_sigserver_handlers_t h = {
        .ud = r,
        .on_message = on_message,
        .on_close = on_close,
        .on_hello = on_hello,
        .stats = on_stats,
        .metrics = on_metrics,
    };
    rc = hc_sigserver_start(&r->sig, &r->cfg.sig, &h, err, sizeof err);
    if (rc < 0) {
        char q[600];
        hc_log_error("cannot start the signaling server", "err=%s", hc_log_q(q, sizeof q, err));
        return rc;
    }
    hc_sessions_attach(r->sessions, &r->workers, r->sig);
    char qc[HC_SIGSERVER_PATH_MAX + 40];
    hc_log_info("relay started",
                "version=%s workers=%u media=%s:%u signaling=%s://%s:%u cert=%s pid=%d",
                HC_RELAY_VERSION, r->workers.n, r->cfg.media_bind, (unsigned)r->workers.port,
                r->cfg.sig.tls ? "wss" : "ws", r->cfg.sig.bind, (unsigned)hc_sigserver_port(r->sig),
                hc_log_q(qc, sizeof qc, r->cfg.sig.tls ? hc_sigserver_cert_path(r->sig) : "-"),
                (int)getpid());
    return 0;
}

/* Reverse order of start; safe on a partly started relay. */
static void stop(relay_t *r)
{
    if (r->sig) hc_sigserver_drain(r->sig);
    if (r->sessions) hc_sessions_destroy(&r->sessions);
    hc_sigserver_stop(&r->sig);
    hc_workers_stop(&r->workers);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check = false;
    enum { O_CHECK = 1000 };
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"check-config", no_argument, 0, O_CHECK},
        {"version", no_argument, 0, 'V'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (o) {
        case 'c': path = optarg; break;
        case O_CHECK: check = true; break;
        case 'V': printf("hc-relay %s\n", HC_RELAY_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_CONFIG;
        }
    }
    if (optind < argc || !path) {
        if (optind < argc) fprintf(stderr, "hc-relay: unexpected argument %s\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }

    relay_t *r = calloc(1, sizeof *r);
    if (!r) return 1;
    int rc = load_config(r, path);
    if (rc) {
        free(r);
        return rc;
    }
    hc_log_set_level(r->cfg.log_level);
    hc_log_lws_bridge();

    if (check) {
        /* The key is checked if it exists; it is not created here. */
        if (access(r->cfg.secret_file, F_OK) == 0 && load_secret(r, false) < 0) {
            free(r);
            return EXIT_CONFIG;
        }
        printf("%s: configuration ok\n", path);
        free(r);
        return 0;
    }
    if (load_secret(r, true) < 0) {
        free(r);
        return EXIT_CONFIG;
    }

    /* Every thread started from here inherits the blocked set; the main
     * thread takes the signals with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = start(r);
    if (rc < 0) {
        stop(r);
        free(r);
        return 1;
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            hc_log_info("SIGHUP ignored: logs go to stderr and the configuration is read at start",
                        NULL);
            continue;
        }
        hc_log_info("shutting down", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
        break;
    }
    stop(r);
    hc_log_info("relay stopped", NULL);
    free(r);
    return 0;
}
