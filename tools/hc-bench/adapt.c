/*
 * adapt.c - `hc-bench adapt`: how well hc-edge's send side follows the
 * uplink. A publisher engine (edge/media.h, the synthetic test source and a
 * sine) sends through hc-impair (its uplink: a capacity that changes, 50 ms
 * each way, a 300 ms drop-tail queue) to a real hc-relay, which forwards to
 * a headless subscriber engine.
 *
 *  1. Capacity steps in the spirit of RFC 8867 section 5.1 (variable
 *     available capacity, one flow): 1 -> 2.5 -> 0.6 -> 1 Mbit/s at 0, 40,
 *     60 and 80 s (shorter with --quick).
 *  2. The real cellular uplink traces of ../shared/traces (Mahimahi
 *     format), scaled to a rural 0.5-2 Mbit/s as tests/unit/test_bwe.c
 *     does in simulation (Verizon x0.25, AT&T x0.5); skipped with a printed
 *     line when the folder is absent.
 *
 * Every 100 ms it reads hc-impair's report (SIGUSR1: bytes in and out of
 * the uplink on hc-impair's own clock, on which its script runs) and the
 * publisher's statistics (estimate, media sent). The definitions follow
 * the simulation in tests/unit/test_bwe.c so the two can be compared:
 *   drop    seconds after a step down until everything sent (padding,
 *           RTCP, retransmissions included) over the last 200 ms is under
 *           the new capacity;
 *   rise80  seconds after a step up until the media sent over 500 ms is at
 *           least 80 % of the new capacity and stays there for a second;
 *   utilisation  bytes delivered by the link / its capacity, from the
 *           first packet to the end;
 *   p95 queuing delay  hc-impair's own histogram of the uplink queue.
 */
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tools/hc-bench/bench.h"
#include "tools/hc-bench/edgerig.h"
#include "tools/hc-impair/mmtrace.h"

#include <math.h>
#include <stddef.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH     "adapt"
#define NSTEPS    4
#define SAMPLE_MS 100
#define NTRACES   2

static const double step_bps[NSTEPS] = {1000000, 2500000, 600000, 1000000};

static const struct {
    const char *file;
    double scale;
} traces[NTRACES] = {{"verizon-lte-short.up", 0.25}, {"att-lte-driving-2016.up", 0.5}};

static const char usage[] =
    "usage: hc-bench adapt [--quick] [--steps S1,S2,S3,S4] [--trace-seconds T]\n"
    "                      [--size WxH] [--no-traces] [--seed N] [--relay PATH]\n"
    "\n"
    "A publisher engine (test source at WxH@30 + a sine) sends through hc-impair\n"
    "(uplink: 50 ms each way, 300 ms drop-tail queue) to hc-relay and a headless\n"
    "subscriber engine. First the capacity steps 1 -> 2.5 -> 0.6 -> 1 Mbit/s (RFC 8867\n"
    "section 5.1 in spirit), then the cellular traces of ../shared/traces scaled to\n"
    "0.5-2 Mbit/s. Prints utilisation, time under a lower capacity, time to 80 % of a\n"
    "higher one, p95 queuing delay against their targets, then one JSON line.\n"
    "  --quick            steps of 10,10,8,10 s and 20 s per trace (under two minutes)\n"
    "  --steps ...        seconds of each capacity step (default 40,20,20,20)\n"
    "  --trace-seconds T  seconds per trace (default 60)\n"
    "  --size WxH         the test source (default 1280x720: the 720p rung's 2.5 Mbit/s\n"
    "                     is what lets the sender fill the 2.5 Mbit/s step)\n"
    "  --no-traces        the steps only\n"
    "  --seed N           hc-impair's seed (default 1)\n"
    "  --timeline         also print the capacity steps every 0.5 s and each trace every\n"
    "                     second on stdout\n"
    "  --relay PATH       hc-relay binary (default: next to hc-bench)\n"
    "Traces are read from HC_TRACES_DIR, else <source>/../shared/traces.\n";

typedef struct sample {
    double t;              /* hc-impair's elapsed seconds */
    double in, out, media; /* cumulative bytes: into the link, out of it, media sent */
    double est;            /* estimate, bit/s */
    double rtx;            /* cumulative retransmissions sent */
    int w, h;              /* publisher's rung */
} sample_t;

typedef struct run {
    sample_t *s;
    size_t n, cap;
    double t_first; /* first sample with bytes into the link */
    double qdelay_p95_ms, qdelay_p50_ms;
    double delivered, capacity;
    uint64_t sub_on_time, sub_late, sub_lost;
    int sub_w, sub_h;
    bool ok;
    char err[512];
} run_t;

typedef struct opts {
    double steps_s[NSTEPS];
    double trace_s;
    int w, h;
    bool traces, timeline;
    unsigned seed;
    char relay_bin[4096];
} opts_t;

/* ---- series ---- */

static double cum_at(const run_t *r, double t, size_t field)
{
    if (!r->n) return 0;
    const sample_t *s = r->s;
#define F(i) (*(const double *)((const char *)&s[i] + field))
    if (t <= s[0].t) return F(0);
    if (t >= s[r->n - 1].t) return F(r->n - 1);
    size_t lo = 0, hi = r->n - 1;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s[mid].t <= t)
            lo = mid;
        else
            hi = mid;
    }
    double dt = s[hi].t - s[lo].t;
    double f = dt > 0 ? (t - s[lo].t) / dt : 0;
    return F(lo) + (F(hi) - F(lo)) * f;
#undef F
}

static double rate(const run_t *r, double t, double w, size_t field)
{
    return (cum_at(r, t, field) - cum_at(r, t - w, field)) * 8.0 / w;
}

/* See the header comment: the simulation's definitions (test_bwe.c). */
static double drop_time(const run_t *r, double t0, double t1, double cap)
{
    for (double t = t0 + 0.1; t < t1; t += 0.1)
        if (rate(r, t, 0.2, offsetof(sample_t, in)) < cap) return t - t0;
    return -1;
}

static double rise_time(const run_t *r, double t0, double t1, double cap)
{
    for (double t = t0 + 0.1; t + 1.0 < t1; t += 0.1) {
        bool ok = true;
        for (double u = t; u <= t + 1.0 + 1e-9 && ok; u += 0.1)
            ok = rate(r, u, 0.5, offsetof(sample_t, media)) >= 0.8 * cap;
        if (ok) return t - t0;
    }
    return -1;
}

static double mean_over(const run_t *r, double t0, double t1, size_t field, bool is_rate)
{
    if (is_rate) return (cum_at(r, t1, field) - cum_at(r, t0, field)) * 8.0 / (t1 - t0);
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->s[i].t >= t0 && r->s[i].t < t1) {
            sum += *(const double *)((const char *)&r->s[i] + field);
            n++;
        }
    return n ? sum / n : 0;
}

/* ---- one run ---- */

typedef double (*capacity_fn)(const void *ud, double t0, double t1); /* bytes */

static double cap_steps(const void *ud, double t0, double t1)
{
    const opts_t *o = ud;
    double bytes = 0, at = 0;
    for (int i = 0; i < NSTEPS; i++) {
        double a = at, b = at + o->steps_s[i];
        double lo = t0 > a ? t0 : a, hi = t1 < b ? t1 : b;
        if (hi > lo) bytes += (hi - lo) * step_bps[i] / 8.0;
        at = b;
    }
    return bytes;
}

typedef struct trace_ud {
    const hc_mmtrace_t *t;
    double scale;
} trace_ud_t;

static double cap_trace(const void *ud, double t0, double t1)
{
    const trace_ud_t *u = ud;
    return (double)hc_mmtrace_count(u->t, (uint64_t)(t0 * 1000.0), (uint64_t)(t1 * 1000.0)) *
           1500.0 * u->scale;
}

/* --timeline: a line every step seconds of what the link could carry and
 * what the sender did with it (sent over sent_win, the rest over step). */
static void print_timeline(const run_t *r, double (*cap)(const void *, double, double),
                           const void *ud, double t_end, double step, double sent_win)
{
    if (!r->n) return;
    printf("%7s %9s %9s %9s %9s %9s %6s %s\n", "t s", "capacity", "sent", "media", "delivered",
           "estimate", "rtx", "rung");
    for (double t = step; t <= t_end + 1e-9; t += step) {
        const sample_t *near = &r->s[0];
        for (size_t k = 0; k < r->n && r->s[k].t <= t; k++) near = &r->s[k];
        printf("%7.1f %9.2f %9.2f %9.2f %9.2f %9.2f %6.0f %dx%d\n", t,
               cap(ud, t - step, t) * 8 / step / 1e6,
               rate(r, t, sent_win, offsetof(sample_t, in)) / 1e6,
               rate(r, t, step, offsetof(sample_t, media)) / 1e6,
               rate(r, t, step, offsetof(sample_t, out)) / 1e6, near->est / 1e6,
               cum_at(r, t, offsetof(sample_t, rtx)) - cum_at(r, t - step, offsetof(sample_t, rtx)),
               near->w, near->h);
    }
    printf("(Mbit/s: sent over the last %.1f s, the others over the last %.1f s; rtx: packets "
           "retransmitted in it)\n\n",
           sent_win, step);
}

static int push(run_t *r, const sample_t *s)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 1024;
        sample_t *ns = realloc(r->s, nc * sizeof *ns);
        if (!ns) return -HC_ENOMEM;
        r->s = ns;
        r->cap = nc;
    }
    r->s[r->n++] = *s;
    return 0;
}

static int run_one(const opts_t *o, const fo_relay_t *relay, const char *session,
                   const char *const *impair_args, double duration_s, capacity_fn cap,
                   const void *cap_ud, run_t *r)
{
    memset(r, 0, sizeof *r);
    r->t_first = -1;
    er_party_t *pub = calloc(1, sizeof *pub), *sub = calloc(1, sizeof *sub);
    er_impair_t imp = {.pid = -1, .out = -1};
    int rc = -HC_ENOMEM;
    if (!pub || !sub) goto out;
    if ((rc = er_party_join(pub, relay, "teacher", session, "city-school", true, true, r->err,
                            sizeof r->err)) < 0)
        goto out;
    if ((rc = er_party_join(sub, relay, "site", session, "village-school", false, false, r->err,
                            sizeof r->err)) < 0)
        goto out;
    if ((rc = er_impair_start(&imp, (uint16_t)pub->joined.media.port, impair_args, r->err,
                              sizeof r->err)) < 0)
        goto out;
    hc_edge_media_cfg_t mc;
    hc_edge_media_cfg_default(&mc);
    mc.video_sink = "headless";
    mc.audio_sink = "headless";
    if ((rc = er_party_media(pub, relay, imp.port, &mc, r->err, sizeof r->err)) < 0) goto out;
    if ((rc = er_party_publish_test(pub, o->w, o->h, 30, true, 0, r->err, sizeof r->err)) < 0)
        goto out;
    if ((rc = er_party_media(sub, relay, 0, &mc, r->err, sizeof r->err)) < 0) goto out;
    /* the engine sets libav's (process-wide) level to errors: decoder
     * complaints about damaged frames are expected here */
    av_log_set_level(AV_LOG_FATAL);
    if ((rc = er_party_receive_joined(sub)) < 0) {
        snprintf(r->err, sizeof r->err, "subscriber: cannot receive: %s", hc_strerror(rc));
        goto out;
    }
    if ((rc = hc_edge_media_start(pub->media)) < 0 || (rc = hc_edge_media_start(sub->media)) < 0) {
        snprintf(r->err, sizeof r->err, "engine start: %s", hc_strerror(rc));
        goto out;
    }
    hc_edge_stats_t *st = malloc(sizeof *st);
    if (!st) {
        rc = -HC_ENOMEM;
        goto out;
    }
    hc_edge_media_stats(pub->media, st); /* starts the interval */
    uint64_t last_call = hc_now_us(), next = last_call + SAMPLE_MS * 1000u;
    double media = 0, next_progress = 2.0;
    er_imp_snap_t snap;
    for (;;) {
        uint64_t now = hc_now_us();
        if (now < next) er_sleep_ms((unsigned)((next - now) / 1000u) + 1);
        next += SAMPLE_MS * 1000u;
        er_party_pump(pub);
        er_party_pump(sub);
        hc_edge_media_stats(pub->media, st);
        uint64_t called = hc_now_us();
        double dt = (called - last_call) / 1e6;
        last_call = called;
        if ((rc = er_impair_snap(&imp, &snap)) < 0) {
            snprintf(r->err, sizeof r->err, "hc-impair stopped answering");
            break;
        }
        uint32_t sent = 0;
        double rtx = 0;
        const hc_edge_pub_stats_t *v = NULL;
        for (size_t i = 0; i < st->n_pub; i++) {
            sent += st->pub[i].sent_bps;
            rtx += (double)st->pub[i].rtx;
            if (!strcmp(st->pub[i].mid, "v0")) v = &st->pub[i];
        }
        media += sent * dt / 8.0;
        sample_t s = {.t = snap.elapsed_s,
                      .in = snap.up.bytes_in,
                      .out = snap.up.bytes_out,
                      .media = media,
                      .est = st->estimate_bps,
                      .rtx = rtx,
                      .w = v ? v->width : 0,
                      .h = v ? v->height : 0};
        if (r->t_first < 0 && s.in > 0) r->t_first = s.t;
        if ((rc = push(r, &s)) < 0) break;
        if (s.t >= next_progress) {
            next_progress += 2.0;
            double c = cap(cap_ud, s.t - 1.0, s.t) * 8.0;
            er_progress(BENCH,
                        "%s t=%5.1fs capacity %5.2f estimate %5.2f media %5.2f delivered %5.2f "
                        "Mbit/s, rung %dx%d",
                        session, s.t, c / 1e6, s.est / 1e6,
                        rate(r, s.t, 1.0, offsetof(sample_t, media)) / 1e6,
                        rate(r, s.t, 1.0, offsetof(sample_t, out)) / 1e6, s.w, s.h);
        }
        if (s.t >= duration_s) break;
    }
    if (rc == 0) {
        hc_edge_stats_t *ss = st;
        hc_edge_media_stats(sub->media, ss);
        const hc_edge_recv_stats_t *rv = er_recv_of(sub, ss, HC_EDGE_VIDEO);
        if (rv) {
            r->sub_on_time = rv->frames_on_time;
            r->sub_late = rv->frames_late;
            r->sub_lost = rv->frames_lost;
            r->sub_w = rv->width;
            r->sub_h = rv->height;
        }
    }
    free(st);
out:
    if (pub) er_party_fini(pub);
    if (sub) er_party_fini(sub);
    if (imp.pid > 0) {
        er_imp_snap_t last;
        if (er_impair_stop(&imp, &last) == 0) {
            r->qdelay_p95_ms = last.up.qdelay_p95_ms;
            r->qdelay_p50_ms = last.up.qdelay_p50_ms;
        }
    }
    free(pub);
    free(sub);
    if (rc == 0 && r->n && r->t_first >= 0) {
        double t1 = r->s[r->n - 1].t;
        r->delivered = r->s[r->n - 1].out - cum_at(r, r->t_first, offsetof(sample_t, out));
        r->capacity = cap(cap_ud, r->t_first, t1);
        r->ok = r->capacity > 0;
    } else if (rc == 0) {
        snprintf(r->err, sizeof r->err, "nothing reached the uplink");
        rc = -HC_EIO;
    }
    return rc;
}

/* ---- output ---- */

static void put_num(double v, int prec)
{
    if (v < 0 || v != v)
        printf("null");
    else
        printf("%.*f", prec, v);
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

static void fmt_time(char *out, size_t cap, double s)
{
    if (s < 0)
        snprintf(out, cap, "never");
    else
        snprintf(out, cap, "%.1f s", s);
}

int hc_bench_adapt(int argc, char **argv)
{
    opts_t o;
    memset(&o, 0, sizeof o);
    double def_steps[NSTEPS] = {40, 20, 20, 20}, quick_steps[NSTEPS] = {10, 10, 8, 10};
    memcpy(o.steps_s, def_steps, sizeof def_steps);
    o.trace_s = 60;
    o.w = 1280, o.h = 720;
    o.traces = true;
    o.seed = 1;
    bool quick = false, steps_set = false, trace_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--steps") && v) {
            if (sscanf(v, "%lf,%lf,%lf,%lf", &o.steps_s[0], &o.steps_s[1], &o.steps_s[2],
                       &o.steps_s[3]) != 4)
                goto bad;
            for (int k = 0; k < NSTEPS; k++)
                if (o.steps_s[k] < 3 || o.steps_s[k] > 600) goto bad;
            steps_set = true, i++;
        } else if (!strcmp(a, "--trace-seconds") && v && atof(v) >= 5 && atof(v) <= 600) {
            o.trace_s = atof(v), trace_set = true, i++;
        } else if (!strcmp(a, "--size") && v) {
            if (sscanf(v, "%dx%d", &o.w, &o.h) != 2 || o.w < 64 || o.h < 64 || o.w > 3840 ||
                o.h > 2160 || (o.w & 1) || (o.h & 1))
                goto bad;
            i++;
        } else if (!strcmp(a, "--timeline")) {
            o.timeline = true;
        } else if (!strcmp(a, "--no-traces")) {
            o.traces = false;
        } else if (!strcmp(a, "--seed") && v) {
            o.seed = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (!strcmp(a, "--relay") && v) {
            snprintf(o.relay_bin, sizeof o.relay_bin, "%s", v), i++;
        } else {
        bad:
            fprintf(stderr, "hc-bench adapt: bad option %s\n%s", a, usage);
            return 2;
        }
    }
    if (quick) {
        if (!steps_set) memcpy(o.steps_s, quick_steps, sizeof quick_steps);
        if (!trace_set) o.trace_s = 20;
    }
    if (!o.relay_bin[0]) er_bin_path("hc-relay", o.relay_bin, sizeof o.relay_bin);

    fo_relay_t relay;
    char err[512];
    er_progress(BENCH, "starting hc-relay");
    if (fo_relay_start(&relay, o.relay_bin, 1, 16, err, sizeof err) < 0) {
        er_progress(BENCH, "%s", err);
        printf("{\"bench\":\"adapt\",\"error\":\"hc-relay did not start\"}\n");
        return 1;
    }

    /* 1. capacity steps */
    double at[NSTEPS + 1] = {0};
    for (int i = 0; i < NSTEPS; i++) at[i + 1] = at[i] + o.steps_s[i];
    char seed[16], spec0[128], stepl[NSTEPS][96];
    snprintf(seed, sizeof seed, "%u", o.seed);
    snprintf(spec0, sizeof spec0, "rate=%.0fkbit delay=50ms queue=300ms", step_bps[0] / 1000);
    const char *args[32];
    int na = 0;
    args[na++] = "--up";
    args[na++] = spec0;
    args[na++] = "--down";
    args[na++] = "delay=50ms";
    args[na++] = "--seed";
    args[na++] = seed;
    for (int i = 1; i < NSTEPS; i++) {
        snprintf(stepl[i], sizeof stepl[i], "at %.0fms up rate=%.0fkbit", at[i] * 1000,
                 step_bps[i] / 1000);
        args[na++] = "--step";
        args[na++] = stepl[i];
    }
    args[na] = NULL;
    er_progress(BENCH, "capacity steps: %.0f s", at[NSTEPS]);
    run_t steps;
    int rc = run_one(&o, &relay, "adapt-steps", args, at[NSTEPS], cap_steps, &o, &steps);
    if (rc < 0) er_progress(BENCH, "capacity steps failed: %s", steps.err);

    /* 2. traces */
    const char *dir = o.traces ? er_traces_dir() : NULL;
    run_t tr[NTRACES];
    double tr_mean[NTRACES] = {0};
    bool tr_ran[NTRACES] = {false};
    memset(tr, 0, sizeof tr);
    for (int k = 0; dir && k < NTRACES; k++) {
        char path[4200], spec[4400], e2[256];
        snprintf(path, sizeof path, "%s/%s", dir, traces[k].file);
        hc_mmtrace_t *t = NULL;
        if (hc_mmtrace_load(&t, path, e2, sizeof e2) < 0) {
            er_progress(BENCH, "trace %s: %s", traces[k].file, e2);
            snprintf(tr[k].err, sizeof tr[k].err, "%s", e2);
            continue;
        }
        tr_mean[k] = hc_mmtrace_mean_bps(t, traces[k].scale);
        snprintf(spec, sizeof spec, "trace=%s scale=%.3f delay=50ms queue=300ms", path,
                 traces[k].scale);
        const char *ta[] = {"--up", spec, "--down", "delay=50ms", "--seed", seed, NULL};
        trace_ud_t ud = {t, traces[k].scale};
        char session[64];
        snprintf(session, sizeof session, "adapt-trace-%d", k);
        er_progress(BENCH, "trace %s x%.2f (mean %.2f Mbit/s): %.0f s", traces[k].file,
                    traces[k].scale, tr_mean[k] / 1e6, o.trace_s);
        if (run_one(&o, &relay, session, ta, o.trace_s, cap_trace, &ud, &tr[k]) < 0)
            er_progress(BENCH, "trace %s failed: %s", traces[k].file, tr[k].err);
        else if (o.timeline) {
            printf("timeline of %s:\n", traces[k].file);
            print_timeline(&tr[k], cap_trace, &ud, o.trace_s, 1.0, 1.0);
        }
        tr_ran[k] = true;
        hc_mmtrace_destroy(&t);
    }
    fo_relay_stop(&relay);

    /* ---- the table ---- */
    printf("hc-bench adapt: publisher engine (test source %dx%d@30 + sine, class profile) -> "
           "hc-impair uplink\n(50 ms each way, 300 ms drop-tail queue) -> hc-relay -> headless "
           "subscriber engine\n\n",
           o.w, o.h);
    if (o.timeline && steps.ok) print_timeline(&steps, cap_steps, &o, at[NSTEPS], 0.5, 0.2);
    printf("capacity steps (RFC 8867 section 5.1 in spirit):\n");
    printf("%-13s %9s %9s %9s %9s %6s %-9s | %-24s %8s %s\n", "step", "capacity", "estimate",
           "media", "delivered", "util", "rung", "event", "time", "target");
    double drop_s = -1, rise[NSTEPS] = {-1, -1, -1, -1}, worst_rise = -1;
    bool rise_any = false, rise_never = false;
    for (int i = 0; steps.ok && i < NSTEPS; i++) {
        double t0 = at[i], t1 = at[i + 1];
        double c = step_bps[i];
        double est = mean_over(&steps, t0, t1, offsetof(sample_t, est), false);
        double med = mean_over(&steps, t0, t1, offsetof(sample_t, media), true);
        double del = mean_over(&steps, t0, t1, offsetof(sample_t, out), true);
        char rung[16] = "-", ev[32] = "", tm[16] = "", tg[24] = "";
        for (size_t k = steps.n; k-- > 0;)
            if (steps.s[k].t < t1 && steps.s[k].w) {
                snprintf(rung, sizeof rung, "%dx%d", steps.s[k].w, steps.s[k].h);
                break;
            }
        if (i == 0) {
            double s = rise_time(&steps, t0, t1, c);
            snprintf(ev, sizeof ev, "start -> 80 %% (%.1f)", c * 0.8 / 1e6);
            fmt_time(tm, sizeof tm, s);
            snprintf(tg, sizeof tg, "(start-up)");
        } else if (c < step_bps[i - 1]) {
            double s = drop_time(&steps, t0, t1, c);
            drop_s = s;
            snprintf(ev, sizeof ev, "under capacity");
            fmt_time(tm, sizeof tm, s);
            snprintf(tg, sizeof tg, "<= 1 s %s", verdict(s >= 0 && s <= 1.0));
        } else {
            double s = rise_time(&steps, t0, t1, c);
            rise[i] = s;
            rise_any = true;
            if (s < 0) rise_never = true;
            if (s > worst_rise) worst_rise = s;
            snprintf(ev, sizeof ev, "80 %% of capacity (%.1f)", c * 0.8 / 1e6);
            fmt_time(tm, sizeof tm, s);
            snprintf(tg, sizeof tg, "<= 5 s %s", verdict(s >= 0 && s <= 5.0));
        }
        char name[16];
        snprintf(name, sizeof name, "%3.0f-%3.0f s", t0, t1);
        printf("%-13s %9.2f %9.2f %9.2f %9.2f %6.2f %-9s | %-24s %8s %s\n", name, c / 1e6,
               est / 1e6, med / 1e6, del / 1e6, del / c, rung, ev, tm, tg);
    }
    if (rise_never) worst_rise = -1;
    double util = steps.ok ? steps.delivered / steps.capacity : -1;
    if (steps.ok) {
        printf("(Mbit/s; media = what the encoders' streams sent, delivered = what left the "
               "link)\n");
        printf("whole run: utilisation %.3f (>= 0.80 %s), p95 queuing delay %.1f ms (<= 150 ms "
               "%s), p50 %.1f ms\n",
               util, verdict(util >= 0.8), steps.qdelay_p95_ms,
               verdict(steps.qdelay_p95_ms <= 150.0), steps.qdelay_p50_ms);
        printf("subscriber: %dx%d, video frames on time %llu, late %llu, lost %llu\n", steps.sub_w,
               steps.sub_h, (unsigned long long)steps.sub_on_time,
               (unsigned long long)steps.sub_late, (unsigned long long)steps.sub_lost);
    } else {
        printf("not measured: %s\n", steps.err);
    }

    printf("\ncellular uplink traces (50 ms each way, 300 ms queue at the trace's mean rate, "
           "%.0f s each):\n",
           o.trace_s);
    if (!o.traces) {
        printf("skipped (--no-traces)\n");
    } else if (!dir) {
        printf("skipped: no traces folder (HC_TRACES_DIR or <source>/../shared/traces)\n");
    } else {
        printf("%-26s %6s %11s %11s %7s %14s %7s\n", "trace", "scale", "mean Mbit/s", "utilisation",
               "target", "p95 qdelay ms", "target");
        for (int k = 0; k < NTRACES; k++) {
            if (!tr[k].ok) {
                printf("%-26s %6.2f %11.2f %s\n", traces[k].file, traces[k].scale, tr_mean[k] / 1e6,
                       tr[k].err[0] ? tr[k].err : "not measured");
                continue;
            }
            double u = tr[k].delivered / tr[k].capacity;
            printf("%-26s %6.2f %11.2f %11.3f %7s %14.1f %7s\n", traces[k].file, traces[k].scale,
                   tr_mean[k] / 1e6, u, verdict(u >= 0.8), tr[k].qdelay_p95_ms,
                   verdict(tr[k].qdelay_p95_ms <= 150.0));
        }
    }
    printf("\ntargets: under a new lower capacity within 1 s; 80 %% of a new higher one within "
           "5 s; p95 queuing delay <= 150 ms; utilisation >= 80 %%.\n");

    printf("{\"bench\":\"adapt\",\"drop_s\":");
    put_num(steps.ok ? drop_s : -1, 2);
    printf(",\"rise80_s\":");
    put_num(steps.ok && rise_any ? worst_rise : -1, 2);
    printf(",\"qdelay_p95_ms\":");
    put_num(steps.ok ? steps.qdelay_p95_ms : -1, 1);
    printf(",\"utilization\":");
    put_num(util, 3);
    printf(",\"rise80_steps_s\":[");
    bool first = true;
    for (int i = 1; i < NSTEPS; i++)
        if (step_bps[i] > step_bps[i - 1]) {
            printf("%s", first ? "" : ",");
            put_num(steps.ok ? rise[i] : -1, 2);
            first = false;
        }
    printf("],\"size\":\"%dx%d\",\"traces\":[", o.w, o.h);
    first = true;
    for (int k = 0; k < NTRACES; k++) {
        if (!tr_ran[k]) continue;
        printf("%s{\"name\":\"%s\",\"scale\":%.2f,\"utilization\":", first ? "" : ",",
               traces[k].file, traces[k].scale);
        put_num(tr[k].ok ? tr[k].delivered / tr[k].capacity : -1, 3);
        printf(",\"qdelay_p95_ms\":");
        put_num(tr[k].ok ? tr[k].qdelay_p95_ms : -1, 1);
        printf("}");
        first = false;
    }
    printf("]}\n");
    fflush(stdout);
    free(steps.s);
    for (int k = 0; k < NTRACES; k++) free(tr[k].s);
    return rc < 0 ? 1 : 0;
}
