/*
 * loss.c - `hc-bench loss`: what a classroom sees through a lossy
 * downlink. Three paths run side by side in one run, each through its own
 * hc-impair with the same impairment (50 ms each way = 100 ms RTT; the
 * loss on the receiving side's downlink only: the data direction):
 *
 *   repair on   publisher engine -> hc-relay -> [impair] -> subscriber
 *               engine, both with repair (NACK/RTX, FlexFEC, RED, Opus
 *               in-band FEC, intra refresh);
 *   repair off  the same with hc_edge_media_cfg.repair = false on both
 *               engines (no NACK, RTX, FEC or RED; PLI only), in its own
 *               session on the same relay;
 *   SRT         the same test source, encoded with the edge's encoder to
 *               MPEG-TS and carried by srt-live-transmit with latency =
 *               the 300 ms playout budget (srtpath.h).
 *
 * The impairment changes on hc-impair's script: 5 %, 10 %, 20 % random
 * loss, then a Gilbert-Elliott burst pattern; each pattern gets a settling
 * time and then a measuring window.
 *
 * Video on time: Hillcast - the subscriber's jitter buffer count of frames
 * complete by their playout time (which it keeps within the 300 ms budget
 * over the fastest-path arrival) divided by the frames the publisher sent
 * in the window; SRT - frames intact and arrived within 300 ms of their
 * fastest-path arrival, divided by the frames sent (srtpath.h). Audio
 * concealed: frames the subscriber's Opus decoder had to conceal, over the
 * audio frames the publisher sent.
 */
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tools/hc-bench/bench.h"
#include "tools/hc-bench/edgerig.h"
#include "tools/hc-bench/srtpath.h"

#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH     "loss"
#define NPAT      4
#define BUDGET_MS 300

static const struct {
    const char *name, *label, *spec;
} pats[NPAT] = {
    {"random5", "5 % random", "loss=5%"},
    {"random10", "10 % random", "loss=10%"},
    {"random20", "20 % random", "loss=20%"},
    /* p = 2.5 %, r = 25 % per packet: about 9 % loss in bursts of 4 */
    {"ge", "Gilbert-Elliott", "loss=0% ge=2.5%,25%"},
};

static const char usage[] =
    "usage: hc-bench loss [--quick] [--seconds S] [--settle S] [--size WxH] [--no-srt]\n"
    "                     [--seed N] [--relay PATH]\n"
    "\n"
    "Video frames on time (300 ms playout budget) and audio frames concealed under 5 %,\n"
    "10 %, 20 % random loss and a Gilbert-Elliott burst pattern at 100 ms RTT, loss on\n"
    "the subscriber's downlink: Hillcast with repair on, with repair off, and the same\n"
    "test source over srt-live-transmit (latency 300 ms) through the same hc-impair\n"
    "impairment, all in one run; then one JSON line.\n"
    "  --quick      12 s per pattern, 4 s of it settling (under two minutes)\n"
    "  --seconds S  per pattern (default 30)\n"
    "  --settle S   not measured after each change (default 6)\n"
    "  --size WxH   test source (default 640x360)\n"
    "  --no-srt     leave SRT out\n"
    "  --seed N     hc-impair's seed (default 1)\n"
    "  --relay PATH hc-relay binary (default: next to hc-bench)\n";

typedef struct counts {
    uint64_t on_time, late, lost, concealed, vframes, aframes;
    double dropped, pkts; /* the impairment on the subscriber's downlink */
} counts_t;

typedef struct side {
    const char *name;
    bool repair;
    er_party_t *pub, *sub;
    er_impair_t imp;
    counts_t at[NPAT][2]; /* window start, end */
    double delay_sum[NPAT];
    int delay_n[NPAT];
    uint32_t video_kbps_sum;
    int video_kbps_n;
    bool ok;
    char err[512];
} side_t;

static void snap(side_t *s, counts_t *c, hc_edge_stats_t *st)
{
    memset(c, 0, sizeof *c);
    hc_edge_media_stats(s->sub->media, st);
    const hc_edge_recv_stats_t *v = er_recv_of(s->sub, st, HC_EDGE_VIDEO);
    const hc_edge_recv_stats_t *a = er_recv_of(s->sub, st, HC_EDGE_AUDIO);
    if (v) {
        c->on_time = v->frames_on_time;
        c->late = v->frames_late;
        c->lost = v->frames_lost;
    }
    if (a) c->concealed = a->audio_concealed;
    hc_edge_media_stats(s->pub->media, st);
    const hc_edge_pub_stats_t *pv = er_pub_of(st, "v0"), *pa = er_pub_of(st, "a0");
    if (pv) c->vframes = pv->frames;
    if (pa) c->aframes = pa->frames;
    er_imp_snap_t is;
    if (er_impair_snap(&s->imp, &is) == 0) {
        c->dropped = is.down.dropped;
        c->pkts = is.down.pkts_in;
    }
}

/* Interval figures for the progress line and the delay average. */
static void progress(side_t *s, int pat, bool measuring, double t, hc_edge_stats_t *st)
{
    hc_edge_media_stats(s->sub->media, st);
    const hc_edge_recv_stats_t *v = er_recv_of(s->sub, st, HC_EDGE_VIDEO);
    if (!v) return;
    if (measuring && v->delay_ms > 0) {
        s->delay_sum[pat] += v->delay_ms;
        s->delay_n[pat]++;
    }
    if (measuring && v->bitrate_bps) {
        s->video_kbps_sum += v->bitrate_bps / 1000u;
        s->video_kbps_n++;
    }
    er_progress(BENCH,
                "t=%5.1fs %-10s %-15s %dx%d %4u kbit/s loss %4.1f%% -> %4.1f%%, frames on "
                "time %llu late %llu lost %llu, delay %3.0f ms, jitter buffer %3.0f ms",
                t, s->name, pats[pat].label, v->width, v->height, v->bitrate_bps / 1000u,
                100 * v->loss_before, 100 * v->loss_after, (unsigned long long)v->frames_on_time,
                (unsigned long long)v->frames_late, (unsigned long long)v->frames_lost, v->delay_ms,
                v->jitter_buffer_ms);
}

static int side_join(side_t *s, const fo_relay_t *relay, const char *session, char *err,
                     size_t errcap)
{
    s->pub = calloc(1, sizeof *s->pub);
    s->sub = calloc(1, sizeof *s->sub);
    s->imp.pid = -1;
    s->imp.out = -1;
    if (!s->pub || !s->sub) return -HC_ENOMEM;
    int rc =
        er_party_join(s->pub, relay, "teacher", session, "city-school", true, true, err, errcap);
    if (rc == 0)
        rc = er_party_join(s->sub, relay, "site", session, "village-school", false, false, err,
                           errcap);
    return rc;
}

static int side_media(side_t *s, const fo_relay_t *relay, int w, int h, char *err, size_t errcap)
{
    hc_edge_media_cfg_t mc;
    hc_edge_media_cfg_default(&mc);
    mc.repair = s->repair;
    mc.video_sink = "headless";
    mc.audio_sink = "headless";
    /* A clean uplink: the publisher would climb to its maximum anyway;
     * start there, at what the 360p rung carries. */
    mc.start_kbps = 1000;
    mc.max_kbps = 1000;
    int rc = er_party_media(s->pub, relay, 0, &mc, err, errcap);
    if (rc == 0) rc = er_party_publish_test(s->pub, w, h, 30, true, 0, err, errcap);
    if (rc == 0) rc = er_party_media(s->sub, relay, s->imp.port, &mc, err, errcap);
    if (rc == 0 && (rc = er_party_receive_joined(s->sub)) < 0)
        snprintf(err, errcap, "receive: %s", hc_strerror(rc));
    if (rc == 0 && (rc = hc_edge_media_start(s->pub->media)) < 0)
        snprintf(err, errcap, "publisher start: %s", hc_strerror(rc));
    if (rc == 0 && (rc = hc_edge_media_start(s->sub->media)) < 0)
        snprintf(err, errcap, "subscriber start: %s", hc_strerror(rc));
    return rc;
}

static void side_stop(side_t *s)
{
    if (s->pub) er_party_fini(s->pub);
    if (s->sub) er_party_fini(s->sub);
    free(s->pub);
    free(s->sub);
    s->pub = s->sub = NULL;
    if (s->imp.pid > 0) er_impair_stop(&s->imp, NULL);
}

static double frac(uint64_t a, uint64_t b)
{
    if (!b) return -1;
    double f = (double)a / (double)b;
    return f > 1 ? 1 : f;
}

static void put_frac(double v)
{
    if (v < 0)
        printf("null");
    else
        printf("%.4f", v);
}

static void cell_pct(char *out, size_t cap, double v)
{
    if (v < 0)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2f %%", 100 * v);
}

int hc_bench_loss(int argc, char **argv)
{
    double per_s = 30, settle_s = 6, warm_s = 5;
    int w = 640, h = 360;
    bool quick = false, per_set = false, settle_set = false, srt = true;
    unsigned seed = 1;
    char relay_bin[4096] = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--seconds") && v && atof(v) >= 6 && atof(v) <= 600) {
            per_s = atof(v), per_set = true, i++;
        } else if (!strcmp(a, "--settle") && v && atof(v) >= 1 && atof(v) <= 60) {
            settle_s = atof(v), settle_set = true, i++;
        } else if (!strcmp(a, "--size") && v) {
            if (sscanf(v, "%dx%d", &w, &h) != 2 || w < 64 || h < 64 || w > 1920 || h > 1080 ||
                (w & 1) || (h & 1))
                goto bad;
            i++;
        } else if (!strcmp(a, "--no-srt")) {
            srt = false;
        } else if (!strcmp(a, "--seed") && v) {
            seed = (unsigned)strtoul(v, NULL, 10), i++;
        } else if (!strcmp(a, "--relay") && v) {
            snprintf(relay_bin, sizeof relay_bin, "%s", v), i++;
        } else {
        bad:
            fprintf(stderr, "hc-bench loss: bad option %s\n%s", a, usage);
            return 2;
        }
    }
    if (quick) {
        if (!per_set) per_s = 12;
        if (!settle_set) settle_s = 4;
        warm_s = 3;
    }
    if (settle_s >= per_s - 2) settle_s = per_s / 3;
    if (!relay_bin[0]) er_bin_path("hc-relay", relay_bin, sizeof relay_bin);

    /* the impairment: the same script on every path */
    char seed_s[16], steps[NPAT][96];
    snprintf(seed_s, sizeof seed_s, "%u", seed);
    const char *args[32];
    int na = 0;
    args[na++] = "--both";
    args[na++] = "delay=50ms";
    args[na++] = "--down";
    args[na++] = pats[0].spec;
    args[na++] = "--seed";
    args[na++] = seed_s;
    double start[NPAT + 1];
    start[0] = 0;
    for (int k = 1; k <= NPAT; k++) start[k] = warm_s + k * per_s;
    for (int k = 1; k < NPAT; k++) {
        snprintf(steps[k], sizeof steps[k], "at %.0fms down %s", start[k] * 1000, pats[k].spec);
        args[na++] = "--step";
        args[na++] = steps[k];
    }
    args[na] = NULL;
    double total = start[NPAT];

    char err[512] = "";
    fo_relay_t relay;
    er_progress(BENCH, "starting hc-relay");
    if (fo_relay_start(&relay, relay_bin, 1, 16, err, sizeof err) < 0) {
        er_progress(BENCH, "%s", err);
        printf("{\"bench\":\"loss\",\"error\":\"hc-relay did not start\"}\n");
        return 1;
    }
    side_t sides[2];
    memset(sides, 0, sizeof sides);
    sides[0].name = "repair on";
    sides[0].repair = true;
    sides[1].name = "repair off";
    sides[1].repair = false;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = side_join(&sides[i], &relay, i ? "loss-norepair" : "loss-repair", sides[i].err,
                       sizeof sides[i].err);
        if (rc < 0) er_progress(BENCH, "%s: %s", sides[i].name, sides[i].err);
    }
    /* Both impairs back to back, the clock taken before: their scripts
     * switch patterns at or just after the times below, never before. */
    uint64_t t0 = hc_now_us();
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = er_impair_start(&sides[i].imp, (uint16_t)sides[i].sub->joined.media.port, args,
                             sides[i].err, sizeof sides[i].err);
        if (rc < 0) er_progress(BENCH, "%s: %s", sides[i].name, sides[i].err);
    }
    sp_path_t *sp = NULL;
    char srt_err[512] = "";
    if (rc == 0 && srt) {
        sp_cfg_t sc = {.width = w,
                       .height = h,
                       .fps = 30,
                       .bitrate_bps = 800000,
                       .latency_ms = BUDGET_MS,
                       .keyint_ms = 1000,
                       .impair_args = args};
        if (sp_start(&sp, &sc, srt_err, sizeof srt_err) < 0) {
            er_progress(BENCH, "SRT path: %s (measuring without it)", srt_err);
            sp = NULL;
        }
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        rc = side_media(&sides[i], &relay, w, h, sides[i].err, sizeof sides[i].err);
        if (rc < 0) er_progress(BENCH, "%s: %s", sides[i].name, sides[i].err);
    }
    /* the engines set libav's (process-wide) level to errors: decoder
     * complaints about damaged frames are the point of this benchmark */
    av_log_set_level(AV_LOG_FATAL);
    hc_edge_stats_t *st = malloc(sizeof *st);
    if (!st) rc = -HC_ENOMEM;
    if (rc == 0) {
        er_progress(BENCH,
                    "%.0f s: %d patterns of %.0f s (%.0f s settling each) after %.0f s "
                    "of warm-up",
                    total, NPAT, per_s, settle_s, warm_s);
        /* events on the relay-path clock (t0: the impairs started) */
        int pat = 0, edge = 0; /* edge 0: next is the window's start, 1: its end */
        double next_prog = 1.0;
        for (;;) {
            er_sleep_ms(100);
            double t = (hc_now_us() - t0) / 1e6;
            for (int i = 0; i < 2; i++) {
                er_party_pump(sides[i].pub);
                er_party_pump(sides[i].sub);
            }
            /* before the window edges: a snapshot restarts the engines' intervals */
            if (t >= next_prog) {
                next_prog += quick ? 3.0 : 5.0;
                int cur = 0;
                while (cur + 1 < NPAT && t >= start[cur + 1]) cur++;
                bool meas = edge == 1 && pat == cur;
                for (int i = 0; i < 2; i++) progress(&sides[i], cur, meas, t, st);
            }
            while (pat < NPAT) {
                double at_s =
                    edge == 0 ? start[pat] + (pat ? 0 : warm_s) + settle_s : start[pat + 1];
                if (t < at_s) break;
                for (int i = 0; i < 2; i++) snap(&sides[i], &sides[i].at[pat][edge], st);
                if (edge == 1) pat++;
                edge ^= 1;
            }
            if (pat >= NPAT) break;
        }
        for (int i = 0; i < 2; i++) sides[i].ok = true;
    }
    /* the last SRT frames are still on their way: wait out the latency */
    er_sleep_ms(BUDGET_MS + 700);
    sp_window_t sw[NPAT];
    sp_stats_t sst;
    memset(sw, 0, sizeof sw);
    memset(&sst, 0, sizeof sst);
    if (sp) {
        uint64_t b = sp_impair_start_us(sp);
        for (int k = 0; k < NPAT; k++) {
            /* frames captured in the last half second may still be
             * retransmitted under the next pattern: left out */
            double a = start[k] + (k ? 0 : warm_s) + settle_s, e = start[k + 1] - 0.5;
            sp_window(sp, b + (uint64_t)(a * 1e6), b + (uint64_t)(e * 1e6), BUDGET_MS, &sw[k]);
        }
        sp_stats(sp, &sst);
    }
    er_progress(BENCH, "stopping");
    sp_stop(&sp);
    for (int i = 0; i < 2; i++) side_stop(&sides[i]);
    free(st);
    fo_relay_stop(&relay);

    /* ---- the table ---- */
    printf("hc-bench loss: test source %dx%d@30 + sine; 100 ms RTT (50 ms each way), loss on "
           "the subscriber's downlink\n(the data direction; the uplink and the feedback "
           "direction are clean); playout budget %d ms;\n%.0f s per pattern, the last %.0f s "
           "measured.\n",
           w, h, BUDGET_MS, per_s, per_s - settle_s);
    printf("  repair on/off: publisher engine -> hc-relay -> hc-impair -> subscriber engine "
           "(hc_edge_media_cfg.repair on both)\n");
    if (srt)
        printf("  SRT: same source, edge encoder at 800 kbit/s with a keyframe every 1 s (SRT has "
               "no PLI), MPEG-TS,\n       srt-live-transmit latency=%d through the same "
               "hc-impair impairment%s\n",
               BUDGET_MS, sp || !srt_err[0] ? "" : " - NOT RUN");
    printf("  on time: Hillcast - jitter-buffer frames complete by their playout time / frames "
           "sent;\n           SRT - frames intact and in within %d ms of their fastest-path "
           "arrival / frames sent.\n\n",
           BUDGET_MS);
    printf("%-16s %6s | %9s %9s %8s | %9s %9s | %9s %9s %8s | %s\n", "pattern", "loss", "on time",
           "audio con", "delay", "no repair", "audio con", "SRT", "SRT any", "SRT dly",
           "target (repair on)");
    bool all_ok = sides[0].ok && sides[1].ok;
    double row_on[NPAT], row_off[NPAT], row_srt[NPAT], row_ac[NPAT], row_ac_off[NPAT];
    for (int k = 0; k < NPAT; k++) {
        counts_t *a0 = &sides[0].at[k][0], *a1 = &sides[0].at[k][1];
        counts_t *b0 = &sides[1].at[k][0], *b1 = &sides[1].at[k][1];
        row_on[k] = all_ok ? frac(a1->on_time - a0->on_time, a1->vframes - a0->vframes) : -1;
        row_off[k] = all_ok ? frac(b1->on_time - b0->on_time, b1->vframes - b0->vframes) : -1;
        row_ac[k] = all_ok ? frac(a1->concealed - a0->concealed, a1->aframes - a0->aframes) : -1;
        row_ac_off[k] =
            all_ok ? frac(b1->concealed - b0->concealed, b1->aframes - b0->aframes) : -1;
        row_srt[k] = frac(sw[k].on_time, sw[k].sent);
        double meas = a1->pkts > a0->pkts ? (a1->dropped - a0->dropped) / (a1->pkts - a0->pkts) : 0;
        char on[16], ac[16], off[16], acoff[16], s1[16], s2[16], dl[16], sd[16], tg[48] = "";
        cell_pct(on, sizeof on, row_on[k]);
        cell_pct(ac, sizeof ac, row_ac[k]);
        cell_pct(off, sizeof off, row_off[k]);
        cell_pct(acoff, sizeof acoff, row_ac_off[k]);
        cell_pct(s1, sizeof s1, row_srt[k]);
        cell_pct(s2, sizeof s2, sw[k].sent ? frac(sw[k].intact, sw[k].sent) : -1);
        snprintf(dl, sizeof dl, "%.0f ms",
                 sides[0].delay_n[k] ? sides[0].delay_sum[k] / sides[0].delay_n[k] : 0);
        snprintf(sd, sizeof sd, "%.0f ms", sw[k].delay_p50_ms);
        if (!strcmp(pats[k].name, "random10"))
            snprintf(tg, sizeof tg, ">= 99 %% %s", row_on[k] >= 0.99 ? "met" : "MISSED");
        else if (!strcmp(pats[k].name, "random20"))
            snprintf(tg, sizeof tg, ">= 95 %% %s", row_on[k] >= 0.95 ? "met" : "MISSED");
        printf("%-16s %5.1f%% | %9s %9s %8s | %9s %9s | %9s %9s %8s | %s\n", pats[k].label,
               100 * meas, on, ac, dl, off, acoff, s1, s2, sd, tg);
    }
    printf("(loss: measured on the repair-on subscriber's downlink in the window; audio con: "
           "audio frames concealed;\n delay: capture to render p50 (abs-capture-time); SRT any: "
           "frames intact at any delay; SRT dly: capture\n to arrival p50, which includes SRT's "
           "fixed %d ms latency)\n",
           BUDGET_MS);
    if (sp || sst.frames_sent)
        printf("SRT path: %llu frames sent at %.0f kbit/s (TS), %llu received, %llu with a "
               "continuity error, %llu decoded\n",
               (unsigned long long)sst.frames_sent, sst.sent_kbps, (unsigned long long)sst.packets,
               (unsigned long long)sst.corrupt, (unsigned long long)sst.decoded);
    if (!all_ok) printf("not measured: %s\n", sides[0].err[0] ? sides[0].err : sides[1].err);
    printf("targets: >= 99 %% of frames on time at 10 %% random loss, >= 95 %% at 20 %%.\n");

    printf("{\"bench\":\"loss\",\"rows\":[");
    for (int k = 0; k < NPAT; k++) {
        printf("%s{\"pattern\":\"%s\",\"on_time\":", k ? "," : "", pats[k].name);
        put_frac(row_on[k]);
        printf(",\"on_time_norepair\":");
        put_frac(row_off[k]);
        printf(",\"on_time_srt\":");
        put_frac(row_srt[k]);
        printf(",\"audio_concealed\":");
        put_frac(row_ac[k]);
        printf(",\"audio_concealed_norepair\":");
        put_frac(row_ac_off[k]);
        printf(",\"delay_p50_ms\":%.1f,\"srt_delay_p50_ms\":%.1f}",
               sides[0].delay_n[k] ? sides[0].delay_sum[k] / sides[0].delay_n[k] : 0,
               sw[k].delay_p50_ms);
    }
    printf("]}\n");
    fflush(stdout);
    return all_ok ? 0 : 1;
}
