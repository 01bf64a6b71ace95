/*
 * hc-edge - the classroom and clinic box: captures the room, sends it to
 * hc-relay at whatever the uplink carries this second, plays the far side,
 * and stays in the session through relay restarts and uplink drops.
 *
 * This file is the program around the pieces: the command line (which
 * overrides the INI file, edge/config.h), the capture presets expanded
 * into pipelines (edge/capture.h), GStreamer's start, signals, and the
 * session (edge/session.h) run on the real media engine (edge/media.h).
 * Exit status: 0 after a normal end, 1 when the session ended badly
 * (token refused, kicked, the engine failed), 2 for a configuration or
 * usage error.
 */
#include "edge/capture.h"
#include "edge/config.h"
#include "edge/media.h"
#include "edge/session.h"
#include "proto/err.h"
#include "relay/core/log.h"

#include <gst/gst.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_BAD    1
#define EXIT_CONFIG 2

/* Under LeakSanitizer: GLib's library constructor keeps a block LSan cannot
 * see a pointer to (tests/interop/test_h264_gst.c explains it), and
 * fontconfig keeps its configuration and font caches for the life of the
 * process once pango (the test source's clock and frame-counter overlays)
 * has asked it for a font. Only those libraries are excused: leaks of our
 * own making still fail sanitizer runs. Read only by sanitizer runtimes. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:_dl_init\nleak:libfontconfig.so\n";
}
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

static const char usage[] =
    "usage: hc-edge [-c FILE] [options]\n"
    "\n"
    "Joins a Hillcast session on hc-relay: captures and sends the configured\n"
    "sources, receives and plays what the relay sends, prints a live line\n"
    "every second and a summary at the end (Ctrl-C, SIGTERM, --duration).\n"
    "The command line overrides the file (conf/edge.ini documents every key).\n"
    "\n"
    "  -c, --config FILE     INI file (default: none, command line only)\n"
    "  --preset NAME         apply [preset.NAME] (teacher, classroom, clinic, specialist)\n"
    "  --role R              teacher | clinician | site | viewer\n"
    "  --session S           session id\n"
    "  --site NAME           the name others see\n"
    "  --token T             access token (JWT)\n"
    "  --token-file F        file holding the token\n"
    "  --relay URL           ws://host:port or wss://host:port\n"
    "  --create KIND         create the session first: class | consult | conference\n"
    "  --sources LIST        sources to publish, e.g. camera,mic\n"
    "  --media-via ADDR      send media to ip:port (a link emulator) instead\n"
    "  --headless            play nothing on screen or speakers (count and check only)\n"
    "  --raise-hand          raise the hand after joining (class)\n"
    "  --duration T          end after T (30s, 1500ms, 2m; a bare number is seconds)\n"
    "  --stats-json FILE     write one JSON object per second to FILE\n"
    "  --log-level L         debug | info | warn | error\n"
    "  --no-stdin            do not read commands from standard input\n"
    "  --check-config        check the configuration and the pipelines, then exit\n"
    "  -V, --version         print the version\n"
    "  -h, --help            this text\n"
    "\n"
    "Commands on standard input while running: hand, lower, grant P, revoke [P],\n"
    "control [to=ID] {JSON}, stats, quit, help.\n";

static hc_edge_session_t *g_session;

static void on_signal(int sig)
{
    (void)sig;
    hc_edge_session_stop(g_session);
}

static int parse_duration(const char *s, uint64_t *us)
{
    char *e;
    double v = strtod(s, &e);
    double mul = 1e6;
    if (e == s || !(v >= 0) || !isfinite(v)) return -1;
    if (!strcmp(e, "") || !strcmp(e, "s"))
        mul = 1e6;
    else if (!strcmp(e, "ms"))
        mul = 1e3;
    else if (!strcmp(e, "m") || !strcmp(e, "min"))
        mul = 60e6;
    else if (!strcmp(e, "h"))
        mul = 3600e6;
    else
        return -1;
    if (v * mul > 1e15) return -1;
    *us = (uint64_t)(v * mul);
    return 0;
}

static const hc_edge_media_ops_t real_engine = {
    .create = hc_edge_media_new,
    .destroy = hc_edge_media_destroy,
    .publish = hc_edge_media_publish,
    .receive = hc_edge_media_receive,
    .start = hc_edge_media_start,
    .set_budget = hc_edge_media_set_budget,
    .rekey = hc_edge_media_rekey,
    .pause = hc_edge_media_pause,
    .stats = hc_edge_media_stats,
};

/* Print a multi-line error text, one "hc-edge: " line each. */
static void print_errors(const char *err)
{
    const char *p = err;
    while (*p) {
        size_t n = strcspn(p, "\n");
        fprintf(stderr, "hc-edge: %.*s\n", (int)n, p);
        p += n;
        if (*p) p++;
    }
}

/* Expand the published sources' presets into pipelines (capture.h). */
static int expand_sources(hc_edge_config_t *cfg)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->n_pub; i++) {
        hc_edge_source_t *s = &cfg->source[cfg->pub[i]];
        if (!s->preset[0]) continue;
        char err[512] = "";
        if (hc_capture_preset(s->preset, s->arg, s->pipeline, sizeof s->pipeline, err, sizeof err) <
            0) {
            fprintf(stderr, "hc-edge: [source.%s] preset = %s, arg = \"%s\": %s\n", s->name,
                    s->preset, s->arg, err);
            bad++;
        }
    }
    return bad ? -HC_ECONFIG : 0;
}

static void noop_frame(void *ud, const hc_cap_frame_t *f)
{
    (void)ud;
    (void)f;
}

/* --check-config: build (not start) every published pipeline, so a
 * missing GStreamer element or a typo in a description is found now. */
static int check_pipelines(const hc_edge_config_t *cfg)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->n_pub; i++) {
        const hc_edge_source_t *s = &cfg->source[cfg->pub[i]];
        hc_capture_t *c = NULL;
        char err[512] = "";
        if (hc_capture_new(&c, s->pipeline, noop_frame, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "hc-edge: [source.%s] pipeline \"%s\": %s\n", s->name, s->pipeline,
                    err);
            bad++;
        }
        hc_capture_destroy(&c);
    }
    return bad;
}

static void print_config(const hc_edge_config_t *cfg)
{
    printf("hc-edge %s: relay %s, session %s, site \"%s\", role %s%s%s%s%s\n", HC_EDGE_VERSION,
           cfg->relay, cfg->session, cfg->site, hc_sig_role_name(cfg->role),
           cfg->create ? ", creates a " : "", cfg->create ? hc_sig_kind_name(cfg->create) : "",
           cfg->preset[0] ? ", preset " : "", cfg->preset);
    for (size_t i = 0; i < cfg->n_pub; i++) {
        const hc_edge_source_t *s = &cfg->source[cfg->pub[i]];
        printf("  publish %s (%s, %s): %s\n", s->mid, s->kind == HC_EDGE_AUDIO ? "audio" : "video",
               hc_sig_tag_name(s->tag), s->pipeline);
    }
    printf("  playback: video %s, audio %s; uplink %u..%u kbit/s (start %u); playout budget "
           "%u ms; repair %s\n",
           cfg->video_sink, cfg->audio_sink, cfg->min_kbps, cfg->max_kbps, cfg->start_kbps,
           cfg->playout_budget_ms, cfg->repair ? "on" : "off");
}

int main(int argc, char **argv)
{
    const char *path = NULL, *preset = NULL, *stats_json = NULL;
    uint64_t duration_us = 0;
    bool check = false, headless = false, raise_hand = false, no_stdin = false;
    /* Command-line keys are applied after the file, in the order given. */
    struct {
        const char *group, *key, *value;
        char opt[64];
    } sets[32];
    size_t nsets = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[64];
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof name) {
            memcpy(name, a, (size_t)(eq - a));
            name[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
        }
#define IS(o) (!strcmp(name, o))
#define NEED()                                                                                     \
    do {                                                                                           \
        if (!val) {                                                                                \
            if (i + 1 >= argc) {                                                                   \
                fprintf(stderr, "hc-edge: %s needs a value\n%s", name, usage);                     \
                return EXIT_CONFIG;                                                                \
            }                                                                                      \
            val = argv[++i];                                                                       \
        }                                                                                          \
    } while (0)
#define SET(g, k)                                                                                  \
    do {                                                                                           \
        NEED();                                                                                    \
        if (nsets == sizeof sets / sizeof sets[0]) {                                               \
            fprintf(stderr, "hc-edge: too many options\n");                                        \
            return EXIT_CONFIG;                                                                    \
        }                                                                                          \
        sets[nsets].group = g, sets[nsets].key = k, sets[nsets].value = val;                       \
        snprintf(sets[nsets++].opt, sizeof sets[0].opt, "%s", name);                               \
    } while (0)
        if (IS("-h") || IS("--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (IS("-V") || IS("--version")) {
            printf("hc-edge %s\n", HC_EDGE_VERSION);
            return 0;
        } else if (IS("-c") || IS("--config")) {
            NEED();
            path = val;
        } else if (IS("--preset")) {
            NEED();
            preset = val;
        } else if (IS("--role")) {
            SET("edge", "role");
        } else if (IS("--session")) {
            SET("edge", "session");
        } else if (IS("--site")) {
            SET("edge", "site");
        } else if (IS("--token")) {
            SET("edge", "token");
        } else if (IS("--token-file")) {
            SET("edge", "token_file");
        } else if (IS("--relay")) {
            SET("edge", "relay");
        } else if (IS("--create")) {
            SET("edge", "create");
        } else if (IS("--sources")) {
            SET("edge", "sources");
        } else if (IS("--media-via")) {
            SET("network", "media_via");
        } else if (IS("--log-level")) {
            SET("log", "level");
        } else if (IS("--duration")) {
            NEED();
            if (parse_duration(val, &duration_us) < 0) {
                fprintf(stderr, "hc-edge: --duration \"%s\": expected e.g. 30s, 1500ms, 2m\n", val);
                return EXIT_CONFIG;
            }
        } else if (IS("--stats-json")) {
            NEED();
            stats_json = val;
        } else if (IS("--headless")) {
            headless = true;
        } else if (IS("--raise-hand")) {
            raise_hand = true;
        } else if (IS("--no-stdin")) {
            no_stdin = true;
        } else if (IS("--check-config")) {
            check = true;
        } else {
            fprintf(stderr, "hc-edge: unknown option %s\n%s", a, usage);
            return EXIT_CONFIG;
        }
#undef IS
#undef NEED
#undef SET
    }

    hc_edge_config_t *cfg = malloc(sizeof *cfg);
    char *err = malloc(16384);
    if (!cfg || !err) return EXIT_BAD;
    hc_edge_config_default(cfg);
    int rc = 0, status = 0;
    if (path) {
        rc = hc_edge_config_load(cfg, path, preset, err, 16384);
    } else if (preset) {
        fprintf(stderr, "hc-edge: --preset needs a config file (-c) that defines it\n");
        rc = -HC_ECONFIG;
        err[0] = 0;
    }
    int bad = rc < 0;
    if (rc < 0) print_errors(err);
    /* A token given on the command line replaces the file's token_file and
     * the other way round: the operator meant the one they typed. */
    for (size_t i = 0; i < nsets; i++) {
        if (!strcmp(sets[i].key, "token")) cfg->token_file[0] = 0;
        if (!strcmp(sets[i].key, "token_file")) cfg->token[0] = 0;
        if (hc_edge_config_set(cfg, sets[i].group, sets[i].key, sets[i].value, sets[i].opt, err,
                               16384) < 0) {
            print_errors(err);
            bad = 1;
        }
    }
    if (headless) {
        snprintf(cfg->video_sink, sizeof cfg->video_sink, "headless");
        snprintf(cfg->audio_sink, sizeof cfg->audio_sink, "headless");
    }
    if (!bad && hc_edge_config_finish(cfg, err, 16384) < 0) {
        print_errors(err);
        bad = 1;
    }
    if (!bad && expand_sources(cfg) < 0) bad = 1;
    if (bad) {
        status = EXIT_CONFIG;
        goto out;
    }
    hc_log_set_level(cfg->log_level);
    gst_init(NULL, NULL);

    if (check) {
        if (check_pipelines(cfg)) {
            status = EXIT_CONFIG;
            goto out;
        }
        print_config(cfg);
        printf("config ok\n");
        goto out;
    }

    hc_edge_session_opts_t o;
    hc_edge_session_opts_default(&o);
    o.cfg = cfg;
    o.media = &real_engine;
    o.duration_us = duration_us;
    o.stats_json = stats_json;
    o.live = stdout;
    o.raise_hand = raise_hand;
    o.command_fd = no_stdin ? -1 : STDIN_FILENO;
    rc = hc_edge_session_new(&g_session, &o, err, 16384);
    if (rc < 0) {
        fprintf(stderr, "hc-edge: %s\n", err);
        status = rc == -HC_EINVAL ? EXIT_CONFIG : EXIT_BAD;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = hc_edge_session_run(g_session);
    if (rc < 0) {
        fprintf(stderr, "hc-edge: session ended: %s\n", hc_strerror(rc));
        status = EXIT_BAD;
    }
    /* No signal may reach a freed session. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    hc_edge_session_destroy(&g_session);
out:
    free(err);
    free(cfg);
    return status;
}
