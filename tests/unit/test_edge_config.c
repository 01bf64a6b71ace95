/*
 * Unit tests of edge/config.h: the sample conf/edge.ini loads and says what
 * the defaults say, and each of its presets (teacher, classroom, clinic,
 * specialist) gives the box it describes; every key refuses a bad value
 * with a message naming group, key and value; unknown groups and keys are
 * errors; presets and command-line values override in order; the
 * whole-picture checks of hc_edge_config_finish(); the token file.
 */
#include "edge/config.h"

#include "proto/err.h"
#include "tests/common/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The repository top, from this file's path (CMake compiles it by its
 * absolute path). */
static const char *repo_top(void)
{
    static char top[1024];
    snprintf(top, sizeof top, "%s", __FILE__);
    char *p = strstr(top, "/tests/unit/test_edge_config.c");
    ck_assert_ptr_nonnull(p);
    *p = 0;
    return top;
}

static hc_edge_config_t *cfg_new(void)
{
    hc_edge_config_t *cfg = malloc(sizeof *cfg);
    ck_assert_ptr_nonnull(cfg);
    hc_edge_config_default(cfg);
    return cfg;
}

static int load_text(hc_edge_config_t *cfg, const char *text, const char *preset, char *err,
                     size_t cap)
{
    hc_edge_config_default(cfg);
    return hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", "/etc/hc", preset, err, cap);
}

/* The minimum a box needs to finish, for tests that look at other keys. */
#define BASE                                                                                       \
    "[edge]\nrelay = ws://127.0.0.1:8443\ntoken = a.b.c\nsite = Hongqi School\n"                   \
    "session = math-101\n"

static const hc_edge_source_t *pub(const hc_edge_config_t *cfg, size_t i)
{
    ck_assert_uint_lt(i, cfg->n_pub);
    return &cfg->source[cfg->pub[i]];
}

START_TEST(sample_loads_with_defaults)
{
    char path[1200], err[4096];
    snprintf(path, sizeof path, "%s/conf/edge.ini", repo_top());
    hc_edge_config_t *cfg = cfg_new(), *def = cfg_new();
    int rc = hc_edge_config_load(cfg, path, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    /* Every documented default is the compiled-in one. */
    ck_assert(cfg->insecure == def->insecure);
    ck_assert(cfg->subscribe == def->subscribe);
    ck_assert_str_eq(cfg->video_sink, def->video_sink);
    ck_assert_str_eq(cfg->audio_sink, def->audio_sink);
    ck_assert_uint_eq(cfg->min_kbps, def->min_kbps);
    ck_assert_uint_eq(cfg->start_kbps, def->start_kbps);
    ck_assert_uint_eq(cfg->max_kbps, def->max_kbps);
    ck_assert_uint_eq(cfg->playout_budget_ms, def->playout_budget_ms);
    ck_assert_uint_eq(cfg->jitter_min_ms, def->jitter_min_ms);
    ck_assert_uint_eq(cfg->jitter_max_ms, def->jitter_max_ms);
    ck_assert(cfg->repair == def->repair);
    ck_assert_str_eq(cfg->media_via, "");
    ck_assert_str_eq(cfg->record_dir, "");
    ck_assert_int_eq(cfg->log_level, def->log_level);
    /* What the sample sets. */
    ck_assert_str_eq(cfg->preset, "classroom");
    ck_assert_str_eq(cfg->session, "math-101");
    ck_assert_str_eq(cfg->relay, "wss://relay.example.org:8443");
    ck_assert_uint_eq(cfg->n_sources, 7);
    /* token_file is relative to the file's directory. */
    char want[1300];
    snprintf(want, sizeof want, "%s/conf/edge.token", repo_top());
    ck_assert_str_eq(cfg->token_file, want);
    free(cfg);
    free(def);
}
END_TEST

/* Each preset of the sample: load it, give a token, finish, and look at
 * the box it makes. */
static hc_edge_config_t *sample_preset(const char *preset)
{
    char path[1200], err[4096];
    snprintf(path, sizeof path, "%s/conf/edge.ini", repo_top());
    hc_edge_config_t *cfg = cfg_new();
    int rc = hc_edge_config_load(cfg, path, preset, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", preset, err);
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "token", "x.y.z", "--token", err, sizeof err),
                     0);
    rc = hc_edge_config_finish(cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", preset, err);
    ck_assert_str_eq(cfg->token, "x.y.z");
    return cfg;
}

START_TEST(sample_presets)
{
    hc_edge_config_t *cfg = sample_preset("teacher");
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_TEACHER);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_CLASS);
    ck_assert_uint_eq(cfg->n_pub, 2);
    ck_assert_str_eq(pub(cfg, 0)->mid, "lecture");
    ck_assert_int_eq(pub(cfg, 0)->kind, HC_EDGE_VIDEO);
    ck_assert_int_eq(pub(cfg, 0)->tag, HC_SIG_TAG_MAIN);
    ck_assert_uint_eq(pub(cfg, 0)->width, 1280);
    /* the teacher's camera goes out in two layers: 1280x720 and 640x360 */
    ck_assert_uint_eq(pub(cfg, 0)->simulcast, 2);
    hc_edge_layer_t l[HC_EDGE_LAYERS_MAX];
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 0), l, HC_EDGE_LAYERS_MAX), 2);
    ck_assert_str_eq(l[0].mid, "lecture");
    ck_assert_uint_eq(l[0].layer, 0);
    ck_assert_uint_eq(l[0].max_kbps, 2500);
    ck_assert_str_eq(l[1].mid, "lecture-l1");
    ck_assert_uint_eq(l[1].layer, 1);
    ck_assert_uint_eq(l[1].width, 640);
    ck_assert_uint_eq(l[1].height, 360);
    ck_assert_uint_eq(l[1].fps, 25);
    ck_assert_uint_eq(l[1].max_kbps, 300);
    ck_assert_uint_eq(pub(cfg, 1)->simulcast, 1);
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 1), l, HC_EDGE_LAYERS_MAX), 1);
    ck_assert_str_eq(pub(cfg, 1)->mid, "mic");
    ck_assert_int_eq(pub(cfg, 1)->kind, HC_EDGE_AUDIO);
    ck_assert_int_eq(pub(cfg, 1)->tag, HC_SIG_TAG_AUDIO);
    free(cfg);

    cfg = sample_preset("classroom");
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_SITE);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_NONE);
    ck_assert_uint_eq(cfg->n_pub, 2);
    ck_assert_str_eq(pub(cfg, 0)->mid, "camera");
    ck_assert_uint_eq(pub(cfg, 0)->simulcast, 1);
    free(cfg);

    cfg = sample_preset("clinic");
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_SITE);
    ck_assert_uint_eq(cfg->n_pub, 3);
    ck_assert_int_eq(pub(cfg, 0)->tag, HC_SIG_TAG_DIAGNOSTIC);
    ck_assert_str_eq(pub(cfg, 0)->preset, "rtsp");
    ck_assert_int_eq(pub(cfg, 1)->tag, HC_SIG_TAG_FACE);
    ck_assert_int_eq(pub(cfg, 2)->tag, HC_SIG_TAG_AUDIO);
    ck_assert_int_eq(hc_edge_config_stream_role(pub(cfg, 0)->tag), HC_ROLE_DIAG);
    ck_assert_int_eq(hc_edge_config_stream_role(pub(cfg, 1)->tag), HC_ROLE_FACE);
    ck_assert_int_eq(hc_edge_config_stream_role(pub(cfg, 2)->tag), HC_ROLE_AUDIO);
    free(cfg);

    cfg = sample_preset("specialist");
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_CLINICIAN);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_CONSULT);
    ck_assert_uint_eq(cfg->n_pub, 2);
    ck_assert_str_eq(pub(cfg, 0)->mid, "face");
    free(cfg);

    cfg = sample_preset("demo");
    ck_assert_str_eq(pub(cfg, 0)->preset, "test");
    ck_assert_str_eq(pub(cfg, 0)->arg, "640x360@30");
    /* the demo's teacher sends 640x360 and 320x180 */
    ck_assert_uint_eq(pub(cfg, 0)->simulcast, 2);
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 0), l, HC_EDGE_LAYERS_MAX), 2);
    ck_assert_str_eq(l[1].mid, "test-l1");
    ck_assert_uint_eq(l[1].width, 320);
    ck_assert_uint_eq(l[1].height, 180);
    ck_assert_uint_eq(l[1].fps, 30);
    ck_assert_uint_le(l[1].max_kbps, 300);
    ck_assert_uint_ge(l[1].max_kbps, 100);
    free(cfg);
}
END_TEST

START_TEST(empty_file_is_defaults)
{
    char err[1024];
    hc_edge_config_t *cfg = cfg_new(), *def = cfg_new();
    ck_assert_int_eq(load_text(cfg, "", NULL, err, sizeof err), 0);
    snprintf(def->dir, sizeof def->dir, "/etc/hc");
    ck_assert_int_eq(memcmp(cfg, def, sizeof *cfg), 0);
    /* ... which is not enough to run: every missing key is named. */
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "[edge] relay: required"));
    ck_assert_ptr_nonnull(strstr(err, "[edge] session: required"));
    ck_assert_ptr_nonnull(strstr(err, "[edge] site: required"));
    ck_assert_ptr_nonnull(strstr(err, "[edge] token or token_file"));
    free(cfg);
    free(def);
}
END_TEST

/* Every key of the table refuses its bad value, naming group, key and
 * value; a source key is tried inside a [source.x] group. */
START_TEST(every_key_refuses_bad_value)
{
    char err[2048], text[1024];
    hc_edge_config_t *cfg = cfg_new();
    size_t n = hc_edge_config_nkeys();
    ck_assert_uint_ge(n, 30);
    for (size_t i = 0; i < n; i++) {
        const char *g, *k, *bad;
        ck_assert_int_eq(hc_edge_config_key(i, &g, &k, &bad), 0);
        bool src = !strcmp(g, "source");
        /* Control characters cannot be written in an INI value; they are
         * checked through hc_edge_config_set for [edge] paths below. */
        if (strchr(bad, '\x01') || strchr(bad, '\x07')) continue;
        if (src)
            snprintf(text, sizeof text, "[source.x]\n%s = %s\n", k, bad);
        else
            snprintf(text, sizeof text, "[%s]\n%s = %s\n", g, k, bad);
        int rc = load_text(cfg, text, NULL, err, sizeof err);
        ck_assert_msg(rc == -HC_ECONFIG, "[%s] %s = %s accepted", g, k, bad);
        char want[256];
        snprintf(want, sizeof want, "[%s] %s = \"%s\": expected", src ? "source.x" : g, k, bad);
        ck_assert_msg(strstr(err, want), "[%s] %s: message \"%s\" lacks \"%s\"", g, k, err, want);
        ck_assert_ptr_nonnull(strstr(err, "t.ini: "));
    }
    ck_assert_int_eq(
        hc_edge_config_key(n, &(const char *){0}, &(const char *){0}, &(const char *){0}),
        -HC_ERANGE);
    free(cfg);
}
END_TEST

START_TEST(control_characters_refused)
{
    char err[1024];
    hc_edge_config_t *cfg = cfg_new();
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "token_file",
                                        "a\x01"
                                        "b",
                                        "--token-file", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "--token-file: [edge] token_file = \"a\\x01b\""));
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "site", "a\x07", "--site", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "site = \"a\\x07\": expected UTF-8 text"));
    /* Not UTF-8. */
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "site", "\xff\xfe", "--site", err, sizeof err),
                     -HC_ECONFIG);
    free(cfg);
}
END_TEST

START_TEST(unknown_group_and_key)
{
    char err[2048];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg,
                       "[edge]\nrelai = ws://x:1\n[netwerk]\nmax_kbps = 1\n[source.cam]\n"
                       "preset = test\ncolour = red\n[source.bad name]\npreset = test\n"
                       "[preset.p]\npreset = x\nwidth = 3\n",
                       NULL, err, sizeof err);
    ck_assert_int_eq(rc, -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "[edge] unknown key \"relai\""));
    ck_assert_ptr_nonnull(strstr(err, "unknown group [netwerk]"));
    ck_assert_ptr_nonnull(strstr(err, "[source.cam] unknown key \"colour\""));
    ck_assert_ptr_nonnull(strstr(err, "[source.bad name]: a source name"));
    /* A preset holds [edge]/[network]/[playback] keys, not preset itself
     * nor source keys. */
    ck_assert_ptr_nonnull(strstr(err, "[preset.p] unknown key \"preset\""));
    ck_assert_ptr_nonnull(strstr(err, "[preset.p] unknown key \"width\""));
    free(cfg);
}
END_TEST

START_TEST(every_error_reported)
{
    char err[4096];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg,
                       "[edge]\nrole = admin\ncreate = lesson\n[network]\nmin_kbps = 0\n"
                       "repair = auto\n[log]\nlevel = loud\n",
                       NULL, err, sizeof err);
    ck_assert_int_eq(rc, -HC_ECONFIG);
    int lines = 1;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 5);
    ck_assert_ptr_nonnull(strstr(err, "role = \"admin\": expected teacher, clinician, site"));
    ck_assert_ptr_nonnull(strstr(err, "create = \"lesson\""));
    ck_assert_ptr_nonnull(strstr(err, "min_kbps = \"0\": expected an integer 16..100000"));
    ck_assert_ptr_nonnull(strstr(err, "repair = \"auto\": expected on or off"));
    ck_assert_ptr_nonnull(strstr(err, "level = \"loud\""));
    free(cfg);
}
END_TEST

START_TEST(not_ini_and_missing_file)
{
    char err[1024];
    hc_edge_config_t *cfg = cfg_new();
    ck_assert_int_eq(load_text(cfg, "this is not = an ini [file\n", NULL, err, sizeof err),
                     -HC_EIO);
    ck_assert_ptr_nonnull(strstr(err, "not an INI file"));
    ck_assert_int_eq(hc_edge_config_load(cfg, "/nonexistent/edge.ini", NULL, err, sizeof err),
                     -HC_EIO);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/edge.ini"));
    free(cfg);
}
END_TEST

START_TEST(values_and_paths)
{
    char err[2048];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg,
                       BASE "role = teacher\ncreate = consult\ntitle = Capsule gastroscopy\n"
                            "ca_file = relay.pem\ninsecure = yes\nsubscribe = off\n"
                            "token_file = /abs/t.jwt\n"
                            "[playback]\nvideo_sink = headless\n"
                            "audio_sink = appsrc name=src ! audioconvert ! fakesink\n"
                            "[network]\nmin_kbps = 100\nstart_kbps = 300\nmax_kbps = 2000\n"
                            "playout_budget_ms = 400\njitter_min_ms = 0\njitter_max_ms = 400\n"
                            "repair = false\nmedia_via = 127.0.0.1:40000\n"
                            "[record]\ndir = rec\n[log]\nlevel = debug  \n",
                       NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_TEACHER);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_CONSULT);
    ck_assert_str_eq(cfg->title, "Capsule gastroscopy");
    ck_assert_str_eq(cfg->ca_file, "/etc/hc/relay.pem");
    ck_assert_str_eq(cfg->token_file, "/abs/t.jwt");
    ck_assert_str_eq(cfg->record_dir, "/etc/hc/rec");
    ck_assert(cfg->insecure);
    ck_assert(!cfg->subscribe);
    ck_assert(!cfg->repair);
    ck_assert_str_eq(cfg->video_sink, "headless");
    ck_assert_uint_eq(cfg->min_kbps, 100);
    ck_assert_uint_eq(cfg->start_kbps, 300);
    ck_assert_uint_eq(cfg->max_kbps, 2000);
    ck_assert_uint_eq(cfg->playout_budget_ms, 400);
    ck_assert_uint_eq(cfg->jitter_min_ms, 0);
    ck_assert_str_eq(cfg->media_via, "127.0.0.1:40000");
    ck_assert_int_eq(cfg->log_level, HC_LOG_DEBUG); /* trailing spaces stripped */
    /* token given inline wins over token_file (which is then not read). */
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->token, "a.b.c");
    free(cfg);
}
END_TEST

START_TEST(sources_defaults_and_order)
{
    char err[2048];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg,
                       BASE "[source.mic]\npreset = pulse\n"
                            "[source.scope]\npipeline = videotestsrc ! appsink name=sink\n"
                            "kind = video\ntag = diagnostic\nmid = diag\nmax_kbps = 3000\n"
                            "[source.cam]\npreset = test\nwidth = 320\nheight = 180\nfps = 15\n",
                       NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    /* No `sources`: every source, in file order. */
    ck_assert_uint_eq(cfg->n_pub, 3);
    ck_assert_str_eq(pub(cfg, 0)->mid, "mic");
    ck_assert_int_eq(pub(cfg, 0)->kind, HC_EDGE_AUDIO);
    ck_assert_int_eq(pub(cfg, 0)->tag, HC_SIG_TAG_AUDIO);
    ck_assert_str_eq(pub(cfg, 1)->mid, "diag");
    ck_assert_str_eq(pub(cfg, 1)->pipeline, "videotestsrc ! appsink name=sink");
    ck_assert_uint_eq(pub(cfg, 1)->max_kbps, 3000);
    ck_assert_str_eq(pub(cfg, 2)->mid, "cam");
    ck_assert_int_eq(pub(cfg, 2)->tag, HC_SIG_TAG_MAIN);
    /* The test source's argument follows width, height and fps. */
    ck_assert_str_eq(pub(cfg, 2)->arg, "320x180@15");

    /* `sources` picks and orders. */
    ck_assert_int_eq(
        hc_edge_config_set(cfg, "edge", "sources", "cam , mic", "--sources", err, sizeof err), 0);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    ck_assert_uint_eq(cfg->n_pub, 2);
    ck_assert_str_eq(pub(cfg, 0)->mid, "cam");
    ck_assert_str_eq(pub(cfg, 1)->mid, "mic");
    free(cfg);
}
END_TEST

START_TEST(simulcast_layers)
{
    char err[2048];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg,
                       BASE "[source.cam]\npreset = test\nwidth = 1280\nheight = 720\nfps = 30\n"
                            "simulcast = 3\n[source.mic]\npreset = pulse\n",
                       NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    hc_edge_layer_t l[HC_EDGE_LAYERS_MAX];
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 0), l, HC_EDGE_LAYERS_MAX), 3);
    ck_assert_str_eq(l[0].mid, "cam");
    ck_assert_uint_eq(l[0].width, 1280);
    ck_assert_uint_eq(l[0].max_kbps, 0); /* the top: from its role */
    ck_assert_str_eq(l[1].mid, "cam-l1");
    ck_assert_uint_eq(l[1].width, 640);
    ck_assert_uint_eq(l[1].height, 360);
    ck_assert_uint_eq(l[1].fps, 30);
    ck_assert_uint_eq(l[1].max_kbps, 300);
    ck_assert_str_eq(l[2].mid, "cam-l2");
    ck_assert_uint_eq(l[2].layer, 2);
    ck_assert_uint_eq(l[2].width, 320);
    ck_assert_uint_eq(l[2].height, 180);
    ck_assert_uint_eq(l[2].fps, 15);
    ck_assert_uint_le(l[2].max_kbps, 120);
    /* a smaller cap gives fewer; audio is one stream */
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 0), l, 2), 2);
    ck_assert_uint_eq(hc_edge_config_layers(pub(cfg, 1), l, HC_EDGE_LAYERS_MAX), 1);
    ck_assert_uint_eq(pub(cfg, 1)->simulcast, 1);
    /* the default is 1 */
    ck_assert_int_eq(load_text(cfg, BASE "[source.cam]\npreset = test\n", NULL, err, sizeof err),
                     0);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    ck_assert_uint_eq(pub(cfg, 0)->simulcast, 1);
    free(cfg);
    cfg = cfg_new();
    /* values out of range are named with the key and the value */
    ck_assert_int_eq(
        load_text(cfg, BASE "[source.cam]\npreset = test\nsimulcast = 0\n", NULL, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "[source.cam] simulcast = \"0\": expected an integer 1..3"));
    free(cfg);
    cfg = cfg_new();
    ck_assert_int_eq(load_text(cfg, BASE "[source.cam]\npreset = test\nsimulcast = two\n", NULL,
                               err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "simulcast = \"two\": expected an integer 1..3"));
    free(cfg);
}
END_TEST

/* The whole-picture errors, each named. */
static void finish_fails(const char *text, const char *want)
{
    char err[4096];
    hc_edge_config_t *cfg = cfg_new();
    int rc = load_text(cfg, text, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "load: %s", err);
    rc = hc_edge_config_finish(cfg, err, sizeof err);
    ck_assert_msg(rc == -HC_ECONFIG, "finish accepted: %s", text);
    ck_assert_msg(strstr(err, want), "\"%s\" lacks \"%s\"", err, want);
    free(cfg);
}

START_TEST(finish_checks)
{
    finish_fails(BASE "create = class\n", "create = class: only a teacher or clinician");
    finish_fails(BASE "role = viewer\nsources = cam\n[source.cam]\npreset = test\n",
                 "a viewer publishes nothing");
    finish_fails(BASE "sources = cam, mic\n[source.cam]\npreset = test\n",
                 "[edge] sources: no [source.mic] group");
    finish_fails(BASE "[source.a]\npreset = test\nmid = v\n[source.b]\npreset = v4l2\nmid = v\n",
                 "[source.b] mid = v: [source.a] has it too");
    finish_fails(BASE "[source.a]\npreset = audiotest\ntag = main\n", "[source.a] tag = main");
    finish_fails(BASE "[source.a]\npreset = test\ntag = audio\n", "[source.a] tag = audio");
    finish_fails(BASE "[source.a]\npreset = test\nkind = audio\n",
                 "[source.a] kind = audio: preset test gives video");
    finish_fails(BASE "[source.a]\npipeline = x ! appsink name=sink\n",
                 "kind (audio or video) is needed with a pipeline");
    finish_fails(BASE "[source.a]\npreset = test\npipeline = x\n", "give one of them");
    finish_fails(BASE "[source.a]\nmid = a\n", "give a preset (and arg) or a pipeline");
    finish_fails(BASE "[source.a]\npreset = test\nwidth = 320\n", "width and height together");
    finish_fails(BASE "[source.a]\npreset = test\nwidth = 321\nheight = 180\n", "must be even");
    finish_fails(BASE "[source.a]\npreset = alsa\nfps = 30\n", "are for video sources");
    finish_fails(BASE "[source.a]\npreset = audiotest\nsimulcast = 2\n",
                 "[source.a] simulcast = 2: only video sources send layers");
    finish_fails(BASE "[source.a]\npreset = rtsp\narg = rtsp://cam/x\nsimulcast = 2\n",
                 "[source.a] simulcast = 2: preset rtsp forwards");
    finish_fails(BASE "[source.a]\npreset = v4l2\nsimulcast = 2\n",
                 "[source.a] simulcast = 2: give width and height");
    finish_fails(BASE "[source.a]\npreset = test\nwidth = 48\nheight = 32\nsimulcast = 3\n",
                 "[source.a] simulcast = 3: 48x32 is too small for 3 layers");
    finish_fails(BASE "[source.a]\npreset = test\nmid = abcdefghijabcdefghijabcdefghij\n"
                      "simulcast = 2\n",
                 "leaves no room for the layers' \"-l1\" (at most 29 characters)");
    finish_fails(BASE "[source.a]\npreset = test\nsimulcast = 2\n[source.b]\npreset = test\n"
                      "mid = a-l1\n",
                 "[source.b] mid = a-l1: the simulcast layer of [source.a] has it");
    finish_fails(BASE "[source.a]\npreset = test\nsimulcast = 3\n[source.b]\npreset = test\n"
                      "simulcast = 3\n[source.c]\npreset = test\nsimulcast = 3\n",
                 "[edge] sources: 9 streams with the simulcast layers, at most 8");
    finish_fails(BASE "[network]\nmin_kbps = 900\nstart_kbps = 800\n", "need min <= start <= max");
    finish_fails(BASE "[network]\njitter_max_ms = 400\n",
                 "need jitter_min <= jitter_max <= playout_budget");
    /* More than 8 published at once. */
    char text[2048];
    int o = snprintf(text, sizeof text, "%s", BASE);
    for (int i = 0; i < 9; i++)
        o += snprintf(text + o, sizeof text - (size_t)o, "[source.s%d]\npreset = test\n", i);
    finish_fails(text, "more than 8 published at once");
}
END_TEST

START_TEST(presets_override_in_order)
{
    char err[2048];
    hc_edge_config_t *cfg = cfg_new();
    const char *text = BASE "role = site\npreset = a\n"
                            "[network]\nmax_kbps = 3000\n"
                            "[preset.a]\nrole = teacher\ncreate = class\nmax_kbps = 1000\n"
                            "video_sink = headless\n"
                            "[preset.b]\nrole = clinician\n";
    ck_assert_int_eq(load_text(cfg, text, NULL, err, sizeof err), 0);
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_TEACHER);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_CLASS);
    ck_assert_uint_eq(cfg->max_kbps, 1000);
    ck_assert_str_eq(cfg->video_sink, "headless");
    /* The command line's preset wins over the file's. */
    ck_assert_int_eq(load_text(cfg, text, "b", err, sizeof err), 0);
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_CLINICIAN);
    ck_assert_int_eq(cfg->create, HC_SIG_KIND_NONE);
    ck_assert_uint_eq(cfg->max_kbps, 3000);
    /* ... and command-line values over everything. */
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "role", "site", "--role", err, sizeof err), 0);
    ck_assert_int_eq(cfg->role, HC_SIG_ROLE_SITE);
    /* An unknown preset is named. */
    ck_assert_int_eq(load_text(cfg, text, "nurse", err, sizeof err), -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "preset \"nurse\": no [preset.nurse] group"));
    /* A bad value in a preset that is not chosen is still found. */
    ck_assert_int_eq(load_text(cfg, BASE "[preset.x]\nrole = nurse\n", NULL, err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "[preset.x] role = \"nurse\""));
    free(cfg);
}
END_TEST

START_TEST(command_line_values)
{
    char err[1024];
    hc_edge_config_t *cfg = cfg_new();
    ck_assert_int_eq(
        hc_edge_config_set(cfg, "edge", "relay", "ftp://x", "--relay", err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "--relay: [edge] relay = \"ftp://x\": expected a ws://"));
    ck_assert_int_eq(
        hc_edge_config_set(cfg, "edge", "relay", "wss://[::1]:8443", "--relay", err, sizeof err),
        0);
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "relay", "ws://", "--relay", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_int_eq(
        hc_edge_config_set(cfg, "edge", "session", "a b", "--session", err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "session = \"a b\": expected 1..64 characters"));
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "nope", "1", "--nope", err, sizeof err),
                     -HC_ENOTFOUND);
    /* Source keys are not settable one by one from the command line. */
    ck_assert_int_eq(hc_edge_config_set(cfg, "source", "fps", "1", "--fps", err, sizeof err),
                     -HC_ENOTFOUND);
    /* Relative paths from the command line stay relative to the cwd. */
    ck_assert_int_eq(
        hc_edge_config_set(cfg, "edge", "token_file", "t.jwt", "--token-file", err, sizeof err), 0);
    ck_assert_str_eq(cfg->token_file, "t.jwt");
    /* A long value is cut in the message. */
    char longv[600];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    ck_assert_int_eq(hc_edge_config_set(cfg, "edge", "site", longv, "--site", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "...\": expected"));
    free(cfg);
}
END_TEST

START_TEST(token_file)
{
    char dir[] = "/tmp/hc-edge-config-XXXXXX", path[256], err[2048], text[1024];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/site.token", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("eyJh.eyJy.c2ln \n\n", f);
    fclose(f);
    hc_edge_config_t *cfg = cfg_new();
    snprintf(text, sizeof text,
             "[edge]\nrelay = ws://127.0.0.1:1\nsite = s\nsession = x\ntoken_file = site.token\n");
    hc_edge_config_default(cfg);
    ck_assert_int_eq(
        hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", dir, NULL, err, sizeof err), 0);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), 0);
    ck_assert_str_eq(cfg->token, "eyJh.eyJy.c2ln");

    /* Missing, and not a token. */
    hc_edge_config_default(cfg);
    snprintf(text, sizeof text,
             "[edge]\nrelay = ws://127.0.0.1:1\nsite = s\nsession = x\ntoken_file = nope\n");
    ck_assert_int_eq(
        hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", dir, NULL, err, sizeof err), 0);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "[edge] token_file = \""));
    ck_assert_ptr_nonnull(strstr(err, "/nope\""));
    f = fopen(path, "w");
    fputs("two words\n", f);
    fclose(f);
    hc_edge_config_default(cfg);
    snprintf(text, sizeof text,
             "[edge]\nrelay = ws://127.0.0.1:1\nsite = s\nsession = x\ntoken_file = site.token\n");
    ck_assert_int_eq(
        hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", dir, NULL, err, sizeof err), 0);
    ck_assert_int_eq(hc_edge_config_finish(cfg, err, sizeof err), -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "expected one token"));
    unlink(path);
    rmdir(dir);
    free(cfg);
}
END_TEST

static Suite *edge_config_suite(void)
{
    Suite *s = suite_create("edge_config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, sample_loads_with_defaults);
    tcase_add_test(tc, sample_presets);
    tcase_add_test(tc, simulcast_layers);
    tcase_add_test(tc, empty_file_is_defaults);
    tcase_add_test(tc, every_key_refuses_bad_value);
    tcase_add_test(tc, control_characters_refused);
    tcase_add_test(tc, unknown_group_and_key);
    tcase_add_test(tc, every_error_reported);
    tcase_add_test(tc, not_ini_and_missing_file);
    tcase_add_test(tc, values_and_paths);
    tcase_add_test(tc, sources_defaults_and_order);
    tcase_add_test(tc, finish_checks);
    tcase_add_test(tc, presets_override_in_order);
    tcase_add_test(tc, command_line_values);
    tcase_add_test(tc, token_file);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(edge_config_suite)
