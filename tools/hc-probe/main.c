/*
 * hc-probe - a scripted test publisher/subscriber for hc-relay.
 *
 * Joins a session over signaling, publishes synthetic or real (libx264 +
 * libopus) media and/or receives what the relay sends, checks it (loss
 * before and after repair, sequence continuity, frames depacketized and
 * decoded, end-to-end delay) and prints a summary (and a JSON line). The
 * exit code reflects the --expect-* checks. See probe.h.
 */
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tools/hc-probe/probe.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_CHECK 1
#define EXIT_USAGE 2
#define EXIT_JOIN  3

static const char usage[] =
    "usage: hc-probe --url ws://HOST:PORT --token TOKEN [options]\n"
    "\n"
    "  --create KIND        create the session first: class, consult or conference\n"
    "  --session ID         session to join (default: the token's)\n"
    "  --site NAME          display name (default hc-probe)\n"
    "  --name LABEL         label in reports (default: the site)\n"
    "  --publish LIST       publish video,audio (or one of them)\n"
    "  --subscribe          receive too (default when nothing is published)\n"
    "  --h264               real media: libx264 H.264 + libopus Opus, decoded on receive\n"
    "  --synthetic          synthetic H.264-shaped payloads (default)\n"
    "  --bitrate R          video bit rate, e.g. 1500k, 2m (default 1500k)\n"
    "  --fps N              video frame rate (default 30)\n"
    "  --size WxH           picture size for --h264 (default 640x360)\n"
    "  --level N            RFC 6464 audio level we send, 0 loud .. 127 silent (default 30)\n"
    "  --duration T         run for T (10s, 500ms; default 10s)\n"
    "  --via HOST:PORT      send media there (e.g. an hc-impair) instead of the relay\n"
    "  --reorder-ms N       wait this long for repairs before skipping (default 300)\n"
    "  --raise-hand         raise the hand after joining\n"
    "  --grant-after T      (host) grant the floor to the first raised hand after T\n"
    "  --revoke-after T     (host) revoke it T after granting\n"
    "  --max-sites N --last-n N   for --create\n"
    "  --suite gcm|aes-cm   SRTP suite (default gcm)\n"
    "  --ca FILE            wss: trust this certificate (default: accept any)\n"
    "  --live               print a line per second\n"
    "  --json               print a JSON line at the end\n"
    "  --verbose            log signaling events\n"
    "  --expect-frames N    every video track that got media: N frames (decoded with\n"
    "                       --h264, else complete), and at least one such track\n"
    "  --expect-packets N   every track that got media: N packets, at least one track\n"
    "  --expect-loss-after P  loss after repair at most P percent on every track\n"
    "  --expect-no-jumps    no sequence jump or skipped packet on any track\n"
    "Exit: 0 ok, 1 an expectation failed, 2 usage, 3 could not join.\n";

static volatile sig_atomic_t g_stop;
static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}

static int parse_time_ms(const char *s, int64_t *out)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || v < 0) return -1;
    if (!*e || !strcmp(e, "s"))
        v *= 1000;
    else if (!strcmp(e, "ms"))
        ;
    else if (!strcmp(e, "m") || !strcmp(e, "min"))
        v *= 60000;
    else
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_rate(const char *s, uint32_t *out)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || v <= 0) return -1;
    if (*e == 'k' || *e == 'K')
        v *= 1e3, e++;
    else if (*e == 'm' || *e == 'M')
        v *= 1e6, e++;
    if (*e && strcmp(e, "bit") && strcmp(e, "bps")) return -1;
    *out = (uint32_t)v;
    return 0;
}

typedef struct state {
    hc_probe_t *p;
    hc_loop_t *loop;
    bool live;
    uint64_t t0;
    uint64_t end;
    hc_timer_t tick, live_t;
} state_t;

static void on_tick(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    state_t *st = ud;
    uint64_t now = hc_loop_now_us(loop);
    if (g_stop || now >= st->end || hc_probe_done(st->p)) {
        hc_loop_stop(loop);
        return;
    }
    hc_timer_start(loop, t, now + 50000, on_tick, st);
}

static void on_live(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    state_t *st = ud;
    hc_probe_print_live(st->p, stdout, (hc_loop_now_us(loop) - st->t0) / 1e6);
    fflush(stdout);
    hc_timer_start(loop, t, t->due_us + 1000000, on_live, st);
}

int main(int argc, char **argv)
{
    hc_probe_cfg_t cfg;
    hc_probe_cfg_default(&cfg);
    int64_t duration_ms = 10000;
    bool json = false, live = false, subscribe = false, no_jumps = false;
    int64_t expect_frames = -1, expect_packets = -1;
    double expect_loss = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                                                     \
    do {                                                                                           \
        if (!val) {                                                                                \
            fprintf(stderr, "hc-probe: %s needs a value\n", a);                                    \
            return EXIT_USAGE;                                                                     \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--url")) {
            NEED();
            cfg.url = val;
        } else if (!strcmp(a, "--token")) {
            NEED();
            cfg.token = val;
        } else if (!strcmp(a, "--create")) {
            NEED();
            cfg.create = val;
        } else if (!strcmp(a, "--session")) {
            NEED();
            cfg.session = val;
        } else if (!strcmp(a, "--site")) {
            NEED();
            cfg.site = val;
        } else if (!strcmp(a, "--name")) {
            NEED();
            cfg.name = val;
        } else if (!strcmp(a, "--publish")) {
            NEED();
            cfg.pub_video = strstr(val, "video") != NULL;
            cfg.pub_audio = strstr(val, "audio") != NULL;
            if (!cfg.pub_video && !cfg.pub_audio) {
                fprintf(stderr, "hc-probe: --publish takes video,audio\n");
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--subscribe")) {
            subscribe = true;
        } else if (!strcmp(a, "--h264")) {
            cfg.media = HC_PROBE_H264;
        } else if (!strcmp(a, "--synthetic")) {
            cfg.media = HC_PROBE_SYNTHETIC;
        } else if (!strcmp(a, "--bitrate")) {
            NEED();
            if (parse_rate(val, &cfg.video_bps) < 0) goto bad;
        } else if (!strcmp(a, "--fps")) {
            NEED();
            cfg.fps = (uint32_t)atoi(val);
            if (cfg.fps < 1 || cfg.fps > 120) goto bad;
        } else if (!strcmp(a, "--size")) {
            NEED();
            if (sscanf(val, "%ux%u", &cfg.width, &cfg.height) != 2 || cfg.width < 16 ||
                cfg.height < 16)
                goto bad;
        } else if (!strcmp(a, "--level")) {
            NEED();
            int l = atoi(val);
            if (l < 0 || l > 127) goto bad;
            cfg.audio_level = (uint8_t)l;
        } else if (!strcmp(a, "--duration")) {
            NEED();
            if (parse_time_ms(val, &duration_ms) < 0) goto bad;
        } else if (!strcmp(a, "--via")) {
            NEED();
            cfg.media_via = val;
        } else if (!strcmp(a, "--reorder-ms")) {
            NEED();
            cfg.reorder_ms = (uint32_t)atoi(val);
        } else if (!strcmp(a, "--raise-hand")) {
            cfg.raise_hand = true;
        } else if (!strcmp(a, "--grant-after")) {
            NEED();
            if (parse_time_ms(val, &cfg.grant_after_ms) < 0) goto bad;
        } else if (!strcmp(a, "--revoke-after")) {
            NEED();
            if (parse_time_ms(val, &cfg.revoke_after_ms) < 0) goto bad;
        } else if (!strcmp(a, "--max-sites")) {
            NEED();
            cfg.max_sites = (uint32_t)atoi(val);
        } else if (!strcmp(a, "--last-n")) {
            NEED();
            cfg.last_n = (uint32_t)atoi(val);
        } else if (!strcmp(a, "--suite")) {
            NEED();
            if (strcmp(val, "gcm") && strcmp(val, "aes-cm")) goto bad;
            cfg.suite = val;
        } else if (!strcmp(a, "--ca")) {
            NEED();
            cfg.ca_file = val;
        } else if (!strcmp(a, "--live")) {
            live = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--verbose")) {
            cfg.verbose = true;
        } else if (!strcmp(a, "--expect-frames")) {
            NEED();
            expect_frames = atoll(val);
        } else if (!strcmp(a, "--expect-packets")) {
            NEED();
            expect_packets = atoll(val);
        } else if (!strcmp(a, "--expect-loss-after")) {
            NEED();
            expect_loss = atof(val);
        } else if (!strcmp(a, "--expect-no-jumps")) {
            no_jumps = true;
        } else {
            fprintf(stderr, "hc-probe: unknown option %s\n%s", a, usage);
            return EXIT_USAGE;
        }
        continue;
    bad:
        fprintf(stderr, "hc-probe: bad value for %s: %s\n", a, val);
        return EXIT_USAGE;
    }
    if (!cfg.url || !cfg.token) {
        fprintf(stderr, "hc-probe: --url and --token are required\n%s", usage);
        return EXIT_USAGE;
    }
    cfg.subscribe = subscribe || (!cfg.pub_video && !cfg.pub_audio);
    cfg.decode = cfg.media == HC_PROBE_H264;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    hc_loop_t *loop;
    if (hc_loop_new(&loop) < 0) {
        fprintf(stderr, "hc-probe: cannot create the event loop\n");
        return EXIT_JOIN;
    }
    char err[512] = "";
    state_t st = {0};
    int rc = hc_probe_new(&st.p, &cfg, loop, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "hc-probe: %s\n", err[0] ? err : hc_strerror(rc));
        hc_loop_destroy(&loop);
        return EXIT_JOIN;
    }
    st.loop = loop;
    st.t0 = hc_loop_now_us(loop);
    if (st.t0 == 0) st.t0 = hc_now_us();
    st.end = st.t0 + (uint64_t)duration_ms * 1000u;
    hc_timer_start(loop, &st.tick, st.t0 + 50000, on_tick, &st);
    if (live) hc_timer_start(loop, &st.live_t, st.t0 + 1000000, on_live, &st);
    hc_loop_run(loop);
    hc_timer_stop(&st.tick);
    hc_timer_stop(&st.live_t);

    hc_probe_print(st.p, stdout);
    if (json) {
        hc_probe_print_json(st.p, stdout);
        fputc('\n', stdout);
    }
    /* checks */
    int fail = 0;
    size_t n = hc_probe_track_count(st.p);
    bool any_video = false, any_track = false;
    for (size_t i = 0; i < n; i++) {
        hc_probe_track_result_t r;
        hc_probe_track_result(st.p, i, &r);
        if (r.packets == 0) continue;
        any_track = true;
        uint64_t frames = cfg.decode ? r.decoded : r.frames_complete;
        if (r.video && expect_frames >= 0) {
            if (frames >= (uint64_t)expect_frames)
                any_video = true;
            else {
                fprintf(stderr, "hc-probe: track %s: %" PRIu64 " frames, expected %" PRId64 "\n",
                        r.mid, frames, expect_frames);
                fail = 1;
            }
        }
        if (expect_packets >= 0 && r.packets < (uint64_t)expect_packets) {
            fprintf(stderr, "hc-probe: track %s: %" PRIu64 " packets, expected %" PRId64 "\n",
                    r.mid, r.packets, expect_packets);
            fail = 1;
        }
        double la = r.expected ? 100.0 * (double)r.lost / (double)r.expected : 0;
        if (expect_loss >= 0 && la > expect_loss) {
            fprintf(stderr, "hc-probe: track %s: %.2f%% lost after repair, expected <= %.2f%%\n",
                    r.mid, la, expect_loss);
            fail = 1;
        }
        if (no_jumps && (r.seq_jumps || r.skipped)) {
            fprintf(stderr,
                    "hc-probe: track %s: %" PRIu64 " sequence jumps, %" PRIu64 " packets skipped\n",
                    r.mid, r.seq_jumps, r.skipped);
            fail = 1;
        }
    }
    if (expect_frames >= 0 && !any_video) {
        fprintf(stderr, "hc-probe: no video track reached %" PRId64 " frames\n", expect_frames);
        fail = 1;
    }
    if (expect_packets >= 0 && !any_track) {
        fprintf(stderr, "hc-probe: no track received media\n");
        fail = 1;
    }
    hc_probe_destroy(&st.p);
    hc_loop_destroy(&loop);
    return fail ? EXIT_CHECK : 0;
}
