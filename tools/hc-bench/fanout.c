/*
 * fanout.c - `hc-bench fanout`: one publisher at 1.5 Mbit/s fanned out to
 * N SRTP subscribers on loopback, through a minimal forwarder (baseline)
 * and through a real hc-relay, for each N; prints a table and one JSON
 * line (see the relay issue for the fields). The parts are in fanout.h.
 */
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tools/hc-bench/bench.h"
#include "tools/hc-bench/fanout.h"
#include "tools/hc-probe/probe.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ROWS               8
#define RELAY_MAX_PARTICIPANTS 1000 /* hc-relay's cap per session */

typedef struct row {
    int subs;
    double base_pps_cpu, base_loss, base_p50, base_p99;
    double relay_pps_cpu, relay_loss, relay_p50, relay_p99, relay_cpu_util;
    double rss_kib_per_sub;
    uint64_t relay_out, base_out;
    uint64_t samples_bad;
    bool out_from_metrics;
    bool base_ok, relay_ok;
    char relay_err[512];
} row_t;

typedef struct opts {
    int subs[MAX_ROWS];
    int nsubs;
    double warm_s, measure_s;
    uint32_t video_bps, audio_bps;
    unsigned workers;
    int read; /* subscribers whose sockets are read */
    const char *relay_bin;
    bool baseline, relay;
} opts_t;

static const char usage[] =
    "usage: hc-bench fanout [--quick] [--subs 100,500,1000] [--seconds S] [--warmup S]\n"
    "                       [--bitrate 1500k] [--workers N] [--relay PATH]\n"
    "                       [--read K] [--no-baseline] [--no-relay]\n"
    "\n"
    "One publisher (synthetic H.264-shaped video in ~1200-byte packets at 30 fps\n"
    "plus 20 ms Opus-shaped audio, AEAD_AES_128_GCM) is fanned out to N SRTP\n"
    "subscribers on loopback, first by a minimal forwarder thread in this process\n"
    "(recvmmsg, libsrtp protect per subscriber, sendmmsg: the baseline), then by\n"
    "hc-relay started with a generated config (TLS off, loopback). Per N it prints\n"
    "output packets per CPU-second of the forwarder and of the relay, their ratio,\n"
    "loss, forwarding delay p50/p99 (abs-capture-time against arrival) and the\n"
    "relay's RSS per subscriber, then one JSON line.\n"
    "  --quick      N = 100,500 with short windows (under a minute)\n"
    "  --seconds S  measuring window per run (default 10, quick 4)\n"
    "  --warmup S   before measuring (default 3, quick 2)\n"
    "  --workers N  hc-relay workers (default 0: one per CPU)\n"
    "  --read K     read K subscribers' sockets (default 50); the others are left\n"
    "               unread so the bench's receiving does not take the CPU it measures\n"
    "  --relay PATH hc-relay binary (default: next to hc-bench)\n";

static void rand_key(uint8_t *k)
{
    RAND_bytes(k, HC_SRTP_MAX_KEY_LEN);
}

static double loss_of(const fo_snap_t *a, const fo_snap_t *b)
{
    uint64_t exp = b->expected - a->expected, got = b->rcvd - a->rcvd;
    if (!exp) return 1.0;
    double l = 1.0 - (double)got / (double)exp;
    return l < 0 ? 0 : l;
}

static void sleep_s(double s)
{
    usleep((useconds_t)(s * 1e6));
}

static int run_baseline(const opts_t *o, row_t *r)
{
    fo_rx_t rx;
    fo_base_t b;
    fo_pub_t pub;
    memset(&b, 0, sizeof b);
    memset(&pub, 0, sizeof pub);
    b.fd = -1;
    int rc = fo_rx_open(&rx, r->subs, o->read, HC_SRTP_AEAD_AES_128_GCM);
    if (rc < 0) goto out;
    for (int i = 0; i < r->subs; i++) rand_key(rx.subs[i].key_down);
    uint8_t pub_key[HC_SRTP_MAX_KEY_LEN];
    rand_key(pub_key);
    if ((rc = fo_base_start(&b, HC_SRTP_AEAD_AES_128_GCM, pub_key, rx.subs, r->subs)) < 0) goto out;
    if ((rc = fo_rx_start(&rx, false)) < 0) goto out;
    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    memcpy(ec.key_up, pub_key, sizeof pub_key);
    rand_key(ec.key_down);
    ec.rtcp_ssrc = 0x10;
    ec.remote = b.addr;
    if ((rc = fo_pub_start(&pub, &ec, 0x1000, 0x1001, 0x2000, o->video_bps, o->audio_bps)) < 0)
        goto out;
    sleep_s(o->warm_s);
    fo_base_phase(&b, FO_MEASURE);
    fo_rx_phase(&rx, FO_MEASURE);
    sleep_s(o->measure_s);
    fo_base_phase(&b, FO_DONE);
    fo_rx_phase(&rx, FO_DONE);
    double cpu = b.cpu1 - b.cpu0;
    r->base_out = b.sent1 - b.sent0;
    r->base_pps_cpu = cpu > 0 ? (double)r->base_out / cpu : 0;
    r->base_loss = loss_of(&rx.s0, &rx.s1);
    r->base_p50 = fo_rx_delay_ms(&rx, 0.50);
    r->base_p99 = fo_rx_delay_ms(&rx, 0.99);
    r->samples_bad += rx.s1.sample_bad;
    r->base_ok = true;
out:
    fo_pub_stop(&pub);
    fo_base_stop(&b);
    fo_rx_stop(&rx);
    return rc;
}

static int sig_connect(const fo_relay_t *rl, const char *token, hc_sigclient_t **out, char *err,
                       size_t cap)
{
    hc_sigclient_cfg_t c;
    hc_sigclient_cfg_default(&c);
    c.url = rl->url;
    c.token = token;
    c.client = "hc-bench/0.1.0";
    c.queue_max = 16; /* events nobody reads: keep only a few */
    return hc_sigclient_connect(out, &c, err, cap);
}

static int sig_join(hc_sigclient_t *c, const char *session, const char *site, bool publish,
                    hc_sig_joined_t *out, char *err, size_t cap)
{
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "%s", session);
    snprintf(req.join.site, sizeof req.join.site, "%s", site);
    if (publish) {
        hc_sig_stream_pub_t *v = &req.join.publish[req.join.n_publish++];
        snprintf(v->mid, sizeof v->mid, "v0");
        v->kind = HC_SIG_MEDIA_VIDEO;
        v->tag = HC_SIG_TAG_MAIN;
        v->codec = HC_SIG_CODEC_H264;
        hc_sig_stream_pub_t *a = &req.join.publish[req.join.n_publish++];
        snprintf(a->mid, sizeof a->mid, "a0");
        a->kind = HC_SIG_MEDIA_AUDIO;
        a->tag = HC_SIG_TAG_AUDIO;
        a->codec = HC_SIG_CODEC_OPUS;
        req.join.subscribe = false;
        req.join.has_subscribe = true;
    }
    int rc = hc_sigclient_call(c, &req, &rep, 10000);
    if (rc < 0) {
        snprintf(err, cap, "join %.60s: %s %.200s", site, hc_errname(rc),
                 rep.type == HC_SIG_ERROR ? rep.error.reason : "");
    } else {
        *out = rep.joined;
    }
    hc_sig_msg_fini(&rep);
    return rc;
}

/* Poll prefix until it differs from v (at most 2 s); returns the new value. */
static double wait_metric_change(const fo_relay_t *rl, const char *prefix, double v)
{
    uint64_t end = hc_now_us() + 2000000;
    double n = v;
    while (hc_now_us() < end && (n = fo_relay_metric(rl, prefix)) == v) usleep(10000);
    return n;
}

static int run_relay(const opts_t *o, row_t *r)
{
    fo_relay_t rl;
    fo_rx_t rx;
    fo_pub_t pub;
    memset(&rx, 0, sizeof rx);
    rx.epfd = -1;
    memset(&pub, 0, sizeof pub);
    hc_sigclient_t *psig = NULL;
    hc_sig_joined_t *j = malloc(sizeof *j);
    char *tok = malloc(4200);
    char *err = r->relay_err;
    size_t ecap = sizeof r->relay_err;
    int rc = fo_relay_start(&rl, o->relay_bin, o->workers, (unsigned)r->subs + 2, err, ecap);
    if (rc < 0) goto out0;
    char session[64];
    snprintf(session, sizeof session, "bench-%d", r->subs);
    fo_relay_token(&rl, "teacher", session, "bench teacher", tok, 4200);
    if ((rc = sig_connect(&rl, tok, &psig, err, ecap)) < 0) goto out;
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_CREATE);
    req.create.kind = HC_SIG_KIND_CLASS;
    snprintf(req.create.session, sizeof req.create.session, "%s", session);
    req.create.max_sites = (uint32_t)r->subs + 1;
    req.create.has_max_sites = true;
    rc = hc_sigclient_call(psig, &req, &rep, 10000);
    if (rc < 0)
        snprintf(err, ecap, "create: %s %.200s", hc_errname(rc),
                 rep.type == HC_SIG_ERROR ? rep.error.reason : "");
    hc_sig_msg_fini(&rep);
    if (rc < 0) goto out;
    if ((rc = sig_join(psig, session, "bench teacher", true, j, err, ecap)) < 0) goto out;
    if (j->n_streams < 2) {
        snprintf(err, ecap, "joined: %zu streams", j->n_streams);
        rc = -HC_EINTERNAL;
        goto out;
    }
    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    if ((rc = hc_probe_endpoint_keys(j, &ec)) < 0 ||
        (rc = hc_probe_media_addr(rl.url, j, NULL, &ec.remote)) < 0) {
        snprintf(err, ecap, "joined: bad keys or media address");
        goto out;
    }
    hc_srtp_suite_t suite = ec.suite;
    if ((rc = fo_pub_start(&pub, &ec, j->streams[0].ssrc,
                           j->streams[0].has_rtx_ssrc ? j->streams[0].rtx_ssrc : 0,
                           j->streams[1].ssrc, o->video_bps, o->audio_bps)) < 0)
        goto out;
    sleep_s(0.5);
    long rss0 = fo_proc_rss_kib(rl.pid);

    if ((rc = fo_rx_open(&rx, r->subs, o->read, suite)) < 0) goto out;
    uint64_t tj = hc_now_us();
    for (int i = 0; i < r->subs; i++) {
        fo_sub_t *s = &rx.subs[i];
        char site[32];
        snprintf(site, sizeof site, "site-%d", i);
        fo_relay_token(&rl, "site", session, site, tok, 4200);
        if ((rc = sig_connect(&rl, tok, &s->sig, err, ecap)) < 0) goto out;
        hc_sig_joined_t *sj = malloc(sizeof *sj);
        rc = sig_join(s->sig, session, site, false, sj, err, ecap);
        if (rc == 0) {
            hc_endpoint_cfg_t sc;
            hc_endpoint_cfg_default(&sc);
            rc = hc_probe_endpoint_keys(sj, &sc);
            memcpy(s->key_up, sc.key_up, sizeof s->key_up);
            memcpy(s->key_down, sc.key_down, sizeof s->key_down);
            s->rtcp_ssrc = sc.rtcp_ssrc;
        }
        free(sj);
        if (rc < 0) goto out;
    }
    fprintf(stderr, "hc-bench: N=%d: %d subscribers joined in %.1f s\n", r->subs, r->subs,
            (hc_now_us() - tj) / 1e6);
    rx.remote = ec.remote;
    if ((rc = fo_rx_start(&rx, true)) < 0) goto out;
    sleep_s(o->warm_s + 1.0);
    long rss1 = fo_proc_rss_kib(rl.pid);
    /* The relay's own count of datagrams sent, when its /metrics has one.
     * Workers publish their counters about once a second, so the window
     * runs from one change of the counter to another, with the CPU time
     * read at the same moments. */
    static const char *const out_metrics[] = {"hc_relay_packets_total{dir=\"tx\"}",
                                              "hc_relay_tx_packets_total", NULL};
    const char *metric = NULL;
    double m0 = -1;
    for (int i = 0; out_metrics[i] && m0 < 0; i++)
        if ((m0 = fo_relay_metric(&rl, out_metrics[i])) >= 0) metric = out_metrics[i];
    if (metric) m0 = wait_metric_change(&rl, metric, m0);
    double c0 = fo_proc_cpu_s(rl.pid);
    uint64_t t0 = hc_now_us();
    fo_rx_phase(&rx, FO_MEASURE);
    sleep_s(o->measure_s - (metric ? 0.5 : 0));
    double m1 = -1;
    if (metric) m1 = wait_metric_change(&rl, metric, fo_relay_metric(&rl, metric));
    double c1 = fo_proc_cpu_s(rl.pid);
    fo_rx_phase(&rx, FO_DONE);
    double wall = (hc_now_us() - t0) / 1e6;
    double cpu = c1 - c0;
    if (metric && m1 >= m0) {
        r->relay_out = (uint64_t)(m1 - m0);
        r->out_from_metrics = true;
    } else if (rx.n_read) {
        /* the subscribers read stand for all of them */
        r->relay_out = (rx.s1.rcvd - rx.s0.rcvd) * (uint64_t)rx.n / (uint64_t)rx.n_read;
    }
    r->relay_pps_cpu = cpu > 0 ? (double)r->relay_out / cpu : 0;
    r->relay_cpu_util = wall > 0 ? cpu / wall : 0;
    r->relay_loss = loss_of(&rx.s0, &rx.s1);
    r->relay_p50 = fo_rx_delay_ms(&rx, 0.50);
    r->relay_p99 = fo_rx_delay_ms(&rx, 0.99);
    r->samples_bad += rx.s1.sample_bad;
    r->rss_kib_per_sub = (rss0 >= 0 && rss1 >= 0) ? (double)(rss1 - rss0) / r->subs : -1;
    /* what the relay counted, for when the numbers look wrong */
    static const char *const causes[] = {"malformed",  "unknown_ssrc", "auth",
                                         "replay",     "no_send_slot", "send",
                                         "no_address", "truncated",    "pool_empty"};
    fprintf(stderr, "hc-bench: N=%d relay: rx %.0f tx %.0f packets; drops:", r->subs,
            fo_relay_metric(&rl, "hc_relay_packets_total{dir=\"rx\"}"),
            fo_relay_metric(&rl, "hc_relay_packets_total{dir=\"tx\"}"));
    for (size_t i = 0; i < sizeof causes / sizeof causes[0]; i++) {
        char name[96];
        snprintf(name, sizeof name, "hc_relay_drops_total{cause=\"%s\"}", causes[i]);
        double d = fo_relay_metric(&rl, name);
        if (d > 0) fprintf(stderr, " %s=%.0f", causes[i], d);
    }
    fprintf(stderr, "; threads %d\n", fo_proc_threads(rl.pid));
    r->relay_ok = true;
    rc = 0;
out:
    fo_rx_stop(&rx); /* closes the subscribers' signaling too */
    fo_pub_stop(&pub);
    hc_sigclient_destroy(&psig);
    fo_relay_stop(&rl);
out0:
    free(j);
    free(tok);
    return rc;
}

static int parse_subs(const char *s, opts_t *o)
{
    o->nsubs = 0;
    while (*s && o->nsubs < MAX_ROWS) {
        char *e;
        long v = strtol(s, &e, 10);
        if (e == s || v < 1 || v > 100000) return -1;
        o->subs[o->nsubs++] = (int)v;
        s = *e == ',' ? e + 1 : e;
        if (*e && *e != ',') return -1;
    }
    return o->nsubs ? 0 : -1;
}

int hc_bench_fanout(int argc, char **argv)
{
    opts_t o = {.subs = {100, 500, 1000},
                .nsubs = 3,
                .warm_s = 3,
                .measure_s = 10,
                .video_bps = 1468000,
                .audio_bps = 32000,
                .read = 50,
                .baseline = true,
                .relay = true};
    bool quick = false, subs_set = false, secs_set = false, warm_set = false;
    static char relay_path[4096];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--subs") && v) {
            if (parse_subs(v, &o) < 0) goto bad;
            subs_set = true;
            i++;
        } else if (!strcmp(a, "--seconds") && v) {
            o.measure_s = atof(v);
            secs_set = true;
            i++;
        } else if (!strcmp(a, "--warmup") && v) {
            o.warm_s = atof(v);
            warm_set = true;
            i++;
        } else if (!strcmp(a, "--bitrate") && v) {
            o.video_bps = (uint32_t)(atof(v) * (strchr(v, 'k')   ? 1e3
                                                : strchr(v, 'm') ? 1e6
                                                                 : 1)) -
                          o.audio_bps;
            i++;
        } else if (!strcmp(a, "--workers") && v) {
            o.workers = (unsigned)atoi(v);
            i++;
        } else if (!strcmp(a, "--read") && v) {
            o.read = atoi(v);
            if (o.read < 1) goto bad;
            i++;
        } else if (!strcmp(a, "--relay") && v) {
            o.relay_bin = v;
            i++;
        } else if (!strcmp(a, "--no-baseline")) {
            o.baseline = false;
        } else if (!strcmp(a, "--no-relay")) {
            o.relay = false;
        } else {
        bad:
            fprintf(stderr, "hc-bench fanout: bad option %s\n%s", a, usage);
            return 2;
        }
    }
    if (quick) {
        if (!subs_set) {
            o.subs[0] = 100;
            o.subs[1] = 500;
            o.nsubs = 2;
        }
        if (!secs_set) o.measure_s = 4;
        if (!warm_set) o.warm_s = 2;
    }
    if (!o.relay_bin) {
        ssize_t n = readlink("/proc/self/exe", relay_path, sizeof relay_path - 16);
        if (n > 0) {
            relay_path[n] = 0;
            char *sl = strrchr(relay_path, '/');
            if (sl) strcpy(sl + 1, "hc-relay");
        }
        o.relay_bin = relay_path;
    }
    if (o.relay && access(o.relay_bin, X_OK) != 0) {
        fprintf(stderr, "hc-bench: no hc-relay at %s: measuring the baseline only\n", o.relay_bin);
        o.relay = false;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("hc-bench fanout: one publisher at %.2f Mbit/s (video ~1200-byte packets at 30 fps + "
           "Opus 20 ms), SRTP AEAD_AES_128_GCM, loopback\n",
           (o.video_bps + o.audio_bps) / 1e6);
    printf("machine: %ld CPUs; hc-relay workers: %s%u; windows: %.0f s warm-up, %.0f s measured\n",
           cpus, o.workers ? "" : "default = ", o.workers ? o.workers : (unsigned)cpus, o.warm_s,
           o.measure_s);
    printf("note: %ld cores are shared by the forwarder or relay, the publisher and the bench's "
           "subscribers;\n      to leave the CPU to what is measured, %d of the N subscriber "
           "sockets are read (epoll + recvmmsg, 1 packet in %d decrypted)\n      and give loss "
           "and delay; the rest are never read and the kernel drops their packets after they\n"
           "      were sent (on loopback the sender pays for the delivery too). The baseline runs "
           "in one thread\n      of this process, the relay with all its workers.\n",
           cpus, o.read, FO_SAMPLE_EV);
    fflush(stdout);

    row_t rows[MAX_ROWS];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < o.nsubs; i++) {
        row_t *r = &rows[i];
        r->subs = o.subs[i];
        if (o.relay && r->subs + 1 > RELAY_MAX_PARTICIPANTS) {
            r->subs = RELAY_MAX_PARTICIPANTS - 1;
            fprintf(stderr,
                    "hc-bench: N=%d: hc-relay caps a session at %d participants (publisher "
                    "included): running %d subscribers\n",
                    o.subs[i], RELAY_MAX_PARTICIPANTS, r->subs);
        }
        if (o.baseline) {
            int rc = run_baseline(&o, r);
            if (rc < 0) fprintf(stderr, "hc-bench: baseline N=%d: %s\n", r->subs, hc_strerror(rc));
        }
        if (o.relay) {
            int rc = run_relay(&o, r);
            if (rc < 0)
                fprintf(stderr, "hc-bench: relay N=%d: %s\n", r->subs,
                        r->relay_err[0] ? r->relay_err : hc_strerror(rc));
        }
        fprintf(stderr, "hc-bench: N=%d done\n", r->subs);
    }

    printf("\n%6s | %12s %7s %9s | %12s %6s %7s %9s %9s %9s | %7s\n", "N", "base pps/cpu", "loss",
           "p99 ms", "relay pps/cpu", "ratio", "loss", "p50 ms", "p99 ms", "relay cpu", "KiB/sub");
    for (int i = 0; i < o.nsubs; i++) {
        row_t *r = &rows[i];
        double ratio = r->base_pps_cpu > 0 ? r->relay_pps_cpu / r->base_pps_cpu : 0;
        printf("%6d | %12.0f %6.2f%% %9.2f | %12.0f %6.2f %6.2f%% %9.2f %9.2f %8.0f%% | %7.1f\n",
               r->subs, r->base_pps_cpu, 100 * r->base_loss, r->base_p99, r->relay_pps_cpu, ratio,
               100 * r->relay_loss, r->relay_p50, r->relay_p99, 100 * r->relay_cpu_util,
               r->rss_kib_per_sub);
    }
    bool any_metrics = false, any_bad = false;
    for (int i = 0; i < o.nsubs; i++) {
        any_metrics |= rows[i].out_from_metrics;
        any_bad |= rows[i].samples_bad > 0;
    }
    printf("output packets: %s; loss is what the subscribers did not receive (includes their own "
           "socket drops);\ndelay: abs-capture-time stamped by the publisher at send against "
           "arrival at the subscriber.\n",
           any_metrics ? "the relay's /metrics counter" : "counted by the subscribers");
    if (any_bad) printf("WARNING: some sampled packets failed SRTP authentication\n");
    printf("{\"bench\":\"fanout\",\"rows\":[");
    for (int i = 0; i < o.nsubs; i++) {
        row_t *r = &rows[i];
        double ratio = r->base_pps_cpu > 0 ? r->relay_pps_cpu / r->base_pps_cpu : 0;
        printf("%s{\"subscribers\":%d,\"out_pps_per_cpu_s\":%.0f,\"ratio_vs_baseline\":%.3f,"
               "\"loss\":%.4f,\"delay_p50_ms\":%.3f,\"delay_p99_ms\":%.3f,\"rss_kib_per_sub\":%.1f,"
               "\"baseline_out_pps_per_cpu_s\":%.0f,\"baseline_loss\":%.4f}",
               i ? "," : "", r->subs, r->relay_pps_cpu, ratio, r->relay_loss, r->relay_p50,
               r->relay_p99, r->rss_kib_per_sub, r->base_pps_cpu, r->base_loss);
    }
    printf("]}\n");
    return 0;
}
