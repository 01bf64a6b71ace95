/*
 * config.c - hc-edge's INI configuration (config.h).
 *
 * One table lists every key: group, name, kind, range, where it goes, and
 * a value that must be refused (for the unit test that walks the table).
 * Keys of [source.*] groups land in an hc_edge_source_t, the others in
 * hc_edge_config_t. Defaults live in hc_edge_config_default() and in
 * conf/edge.ini's comments; the unit test checks that the sample loads.
 */
#include "edge/config.h"

#include "proto/cfgval.h"
#include "proto/err.h"
#include "relay/core/addr.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum kind {
    K_U32,      /* decimal integer in min..max */
    K_U32Z,     /* 0, or a decimal integer in min..max */
    K_BOOL,     /* on/off, true/false, yes/no, 1/0 */
    K_PATH,     /* file system path, relative = against the config's dir */
    K_URL,      /* ws:// or wss:// URL */
    K_ID,       /* signaling identifier [A-Za-z0-9._-], min..max bytes */
    K_TEXT,     /* UTF-8 text without control characters, min..max bytes */
    K_ROLE,     /* teacher, clinician, site, viewer */
    K_CREATE,   /* class, consult, conference, or empty */
    K_LEVEL,    /* log level */
    K_SINK,     /* auto, headless, or "appsrc name=src ! ..." */
    K_VIA,      /* numeric host:port, or empty */
    K_LIST,     /* comma-separated identifiers */
    K_CAPTURE,  /* capture preset name, or empty */
    K_PIPELINE, /* gst-launch description, printable */
    K_MEDIA,    /* audio or video */
    K_TAG,      /* main, diagnostic, face, screen, audio */
    K_ARG,      /* printable text */
} kind_t;

/* Where a key's value goes. */
typedef enum target { T_CFG = 0, T_SRC } target_t;

typedef struct keydef {
    const char *group, *key;
    kind_t kind;
    uint32_t min, max;
    target_t target;
    size_t off;  /* in hc_edge_config_t or hc_edge_source_t */
    size_t size; /* of the member (bytes, or string capacity) */
    const char *bad;
} keydef_t;

#define F(m) T_CFG, offsetof(hc_edge_config_t, m), sizeof(((hc_edge_config_t *)0)->m)
#define S(m) T_SRC, offsetof(hc_edge_source_t, m), sizeof(((hc_edge_source_t *)0)->m)

static const keydef_t keys[] = {
    {"edge", "relay", K_URL, 0, 0, F(relay), "http://relay:8443"},
    {"edge", "token", K_ID, 0, HC_SIG_TOKEN_MAX, F(token), "not a token"},
    {"edge", "token_file", K_PATH, 0, 0, F(token_file), "\x01"},
    {"edge", "site", K_TEXT, 1, HC_SIG_NAME_MAX, F(site), ""},
    {"edge", "session", K_ID, 1, HC_SIG_ID_MAX, F(session), "math 101"},
    {"edge", "role", K_ROLE, 0, 0, F(role), "admin"},
    {"edge", "create", K_CREATE, 0, 0, F(create), "lesson"},
    {"edge", "title", K_TEXT, 0, HC_SIG_TITLE_MAX, F(title), "\x07"},
    {"edge", "ca_file", K_PATH, 0, 0, F(ca_file), "\x01"},
    {"edge", "insecure", K_BOOL, 0, 1, F(insecure), "sometimes"},
    {"edge", "subscribe", K_BOOL, 0, 1, F(subscribe), "2"},
    {"edge", "preset", K_ID, 0, HC_SIG_ID_MAX, F(preset), "no such preset"},
    {"edge", "sources", K_LIST, 0, 0, F(sources), "cam;mic"},

    {"source", "preset", K_CAPTURE, 0, 0, S(preset), "webcam"},
    {"source", "arg", K_ARG, 0, 0, S(arg), "\x01"},
    {"source", "pipeline", K_PIPELINE, 0, 0, S(pipeline), "\x01"},
    {"source", "mid", K_ID, 1, HC_SIG_MID_MAX, S(mid), "v/0"},
    {"source", "kind", K_MEDIA, 0, 0, S(kind), "data"},
    {"source", "tag", K_TAG, 0, 0, S(tag), "control"},
    {"source", "max_kbps", K_U32Z, 1, 100000, S(max_kbps), "100001"},
    {"source", "width", K_U32Z, 16, 7680, S(width), "15"},
    {"source", "height", K_U32Z, 16, 4320, S(height), "4321"},
    {"source", "fps", K_U32Z, 1, 120, S(fps), "121"},
    {"source", "simulcast", K_U32, 1, HC_EDGE_LAYERS_MAX, S(simulcast), "4"},

    {"playback", "video_sink", K_SINK, 0, 0, F(video_sink), "xvimagesink"},
    {"playback", "audio_sink", K_SINK, 0, 0, F(audio_sink), "speakers"},

    {"network", "min_kbps", K_U32, 16, 100000, F(min_kbps), "15"},
    {"network", "start_kbps", K_U32, 16, 100000, F(start_kbps), "1M"},
    {"network", "max_kbps", K_U32, 16, 100000, F(max_kbps), "100001"},
    {"network", "playout_budget_ms", K_U32, 50, 5000, F(playout_budget_ms), "49"},
    {"network", "jitter_min_ms", K_U32, 0, 2000, F(jitter_min_ms), "2001"},
    {"network", "jitter_max_ms", K_U32, 10, 5000, F(jitter_max_ms), "9"},
    {"network", "repair", K_BOOL, 0, 1, F(repair), "auto"},
    {"network", "media_via", K_VIA, 0, 0, F(media_via), "localhost:5004"},

    {"record", "dir", K_PATH, 0, 0, F(record_dir), "\x01"},

    {"log", "level", K_LEVEL, 0, 0, F(log_level), "verbose"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* Capture presets of capture.h, and whether each gives audio. */
static const struct {
    const char *name;
    hc_edge_kind_t kind;
} capture_presets[] = {
    {"test", HC_EDGE_VIDEO}, {"audiotest", HC_EDGE_AUDIO}, {"v4l2", HC_EDGE_VIDEO},
    {"alsa", HC_EDGE_AUDIO}, {"pulse", HC_EDGE_AUDIO},     {"rtsp", HC_EDGE_VIDEO},
    {"file", HC_EDGE_VIDEO},
};

size_t hc_edge_config_nkeys(void)
{
    return NKEYS;
}

int hc_edge_config_key(size_t i, const char **group, const char **key, const char **bad_value)
{
    if (i >= NKEYS) return -HC_ERANGE;
    *group = keys[i].group;
    *key = keys[i].key;
    *bad_value = keys[i].bad;
    return 0;
}

void hc_edge_config_default(hc_edge_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->dir, sizeof cfg->dir, ".");
    cfg->role = HC_SIG_ROLE_SITE;
    cfg->create = HC_SIG_KIND_NONE;
    cfg->subscribe = true;
    snprintf(cfg->video_sink, sizeof cfg->video_sink, "auto");
    snprintf(cfg->audio_sink, sizeof cfg->audio_sink, "auto");
    cfg->min_kbps = 150;
    cfg->start_kbps = 800;
    cfg->max_kbps = 4000;
    cfg->playout_budget_ms = 300;
    cfg->jitter_min_ms = 20;
    cfg->jitter_max_ms = 250;
    cfg->repair = true;
    cfg->log_level = HC_LOG_INFO;
}

hc_stream_role_t hc_edge_config_stream_role(hc_sig_tag_t tag)
{
    switch (tag) {
    case HC_SIG_TAG_AUDIO: return HC_ROLE_AUDIO;
    case HC_SIG_TAG_DIAGNOSTIC: return HC_ROLE_DIAG;
    case HC_SIG_TAG_FACE: return HC_ROLE_FACE;
    default: return HC_ROLE_MAIN;
    }
}

/* ---- value parsers ---- */

/* ws://host[:port][/path] or wss://...; host a name, IPv4 or [IPv6]. */
static bool url_ok(const char *v)
{
    const char *h;
    if (!strncmp(v, "ws://", 5))
        h = v + 5;
    else if (!strncmp(v, "wss://", 6))
        h = v + 6;
    else
        return false;
    if (!*h || *h == '/' || *h == ':') return false;
    for (const char *p = h; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

static bool sink_ok(const char *v)
{
    return !strcmp(v, "auto") || !strcmp(v, "headless") ||
           (!strncmp(v, "appsrc", 6) && strstr(v, "name=src") && hc_cfg_printable(v));
}

static bool id_ok(const char *v, uint32_t min, uint32_t max)
{
    size_t n = strlen(v);
    return n >= min && n <= max && (n == 0 || hc_sig_id_valid(v, n));
}

/* Comma-separated source names, spaces around names allowed. */
static bool list_ok(const char *v)
{
    const char *p = v;
    while (*p) {
        while (*p == ' ') p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ') p++;
        if (p == s || !hc_sig_id_valid(s, (size_t)(p - s)) || p - s > HC_SIG_MID_MAX) return false;
        while (*p == ' ') p++;
        if (*p == ',') {
            p++;
            if (!*p) return false;
        } else if (*p) {
            return false;
        }
    }
    return true;
}

static bool copy_str(void *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap) return false;
    snprintf((char *)dst, cap, "%s", v);
    return true;
}

/* Check value v for key k and store it at base (a config or a source).
 * where: "file: [group]" or "--option" text naming the origin. */
static void set_one(const char *dir, void *base, const keydef_t *k, const char *where,
                    const char *v, hc_cfg_errs_t *e)
{
    char sv[160];
    unsigned char *dst = (unsigned char *)base + k->off;
    uint32_t u;
    bool b;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        char what_[256];                                                                           \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                                \
        hc_cfg_err(e, "%s %s = \"%s\": expected %s", where, k->key,                                \
                   hc_cfg_shown(v, sv, sizeof sv), what_);                                         \
        return;                                                                                    \
    } while (0)
    switch (k->kind) {
    case K_U32:
    case K_U32Z:
        if (!hc_cfg_u32(v, &u) || ((u < k->min || u > k->max) && !(k->kind == K_U32Z && u == 0))) {
            if (k->kind == K_U32Z) BAD("0 or an integer %u..%u", k->min, k->max);
            BAD("an integer %u..%u", k->min, k->max);
        }
        memcpy(dst, &u, sizeof u);
        return;
    case K_BOOL:
        if (!hc_cfg_bool(v, &b)) BAD("on or off");
        memcpy(dst, &b, sizeof b);
        return;
    case K_PATH:
        if (!hc_cfg_printable(v) || !hc_cfg_path(dir, v, (char *)dst, k->size))
            BAD("a path (printable, at most %zu bytes)", k->size - 1);
        return;
    case K_URL:
        if (!url_ok(v) || !copy_str(dst, k->size, v))
            BAD("a ws:// or wss:// URL such as ws://relay.example.org:8443");
        return;
    case K_ID:
        if (!id_ok(v, k->min, k->max) || !copy_str(dst, k->size, v))
            BAD("%s%u..%u characters of A-Z a-z 0-9 . _ -", k->min ? "" : "empty or ", k->min,
                k->max);
        return;
    case K_TEXT:
        if (strlen(v) < k->min || strlen(v) > k->max || !hc_sig_text_valid(v, strlen(v)) ||
            !copy_str(dst, k->size, v))
            BAD("UTF-8 text of %u..%u bytes without control characters", k->min, k->max);
        return;
    case K_ROLE: {
        hc_sig_role_t r = hc_sig_role_from_name(v);
        if (r != HC_SIG_ROLE_TEACHER && r != HC_SIG_ROLE_CLINICIAN && r != HC_SIG_ROLE_SITE &&
            r != HC_SIG_ROLE_VIEWER)
            BAD("teacher, clinician, site or viewer");
        memcpy(dst, &r, sizeof r);
        return;
    }
    case K_CREATE: {
        hc_sig_kind_t c = v[0] ? hc_sig_kind_from_name(v) : HC_SIG_KIND_NONE;
        if (v[0] && c == HC_SIG_KIND_NONE) BAD("class, consult, conference, or empty (join only)");
        memcpy(dst, &c, sizeof c);
        return;
    }
    case K_LEVEL: {
        hc_log_level_t lv;
        if (hc_log_level_parse(v, &lv) < 0) BAD("debug, info, warn or error");
        memcpy(dst, &lv, sizeof lv);
        return;
    }
    case K_SINK:
        if (!sink_ok(v) || !copy_str(dst, k->size, v))
            BAD("auto, headless, or a pipeline starting with \"appsrc name=src\"");
        return;
    case K_VIA: {
        hc_addr_t a;
        if ((v[0] && hc_addr_parse(v, &a) < 0) || (v[0] && hc_addr_port(&a) == 0) ||
            !copy_str(dst, k->size, v))
            BAD("a numeric address:port such as 127.0.0.1:40000, or empty");
        return;
    }
    case K_LIST:
        if (!list_ok(v) || !copy_str(dst, k->size, v))
            BAD("source names separated by commas, e.g. camera, mic");
        return;
    case K_CAPTURE: {
        bool ok = !v[0];
        for (size_t i = 0; !ok && i < sizeof capture_presets / sizeof capture_presets[0]; i++)
            ok = !strcmp(v, capture_presets[i].name);
        if (!ok || !copy_str(dst, k->size, v))
            BAD("test, audiotest, v4l2, alsa, pulse, rtsp, file, or empty (pipeline)");
        return;
    }
    case K_PIPELINE:
    case K_ARG:
        if (!hc_cfg_printable(v) || !copy_str(dst, k->size, v))
            BAD("printable text of at most %zu bytes", k->size - 1);
        return;
    case K_MEDIA: {
        hc_edge_kind_t m;
        if (!strcmp(v, "audio"))
            m = HC_EDGE_AUDIO;
        else if (!strcmp(v, "video"))
            m = HC_EDGE_VIDEO;
        else
            BAD("audio or video");
        memcpy(dst, &m, sizeof m);
        return;
    }
    case K_TAG: {
        hc_sig_tag_t t = hc_sig_tag_from_name(v);
        if (t == HC_SIG_TAG_NONE || t == HC_SIG_TAG_CONTROL)
            BAD("main, diagnostic, face, screen or audio");
        memcpy(dst, &t, sizeof t);
        return;
    }
    }
#undef BAD
}

static const keydef_t *find_key(const char *group, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].group, group) && !strcmp(keys[i].key, key)) return &keys[i];
    return NULL;
}

/* A key a [preset.*] group may hold: any of [edge] (but preset),
 * [network] and [playback]. */
static const keydef_t *find_preset_key(const char *key)
{
    static const char *const groups[] = {"edge", "network", "playback"};
    if (!strcmp(key, "preset")) return NULL;
    for (size_t g = 0; g < 3; g++) {
        const keydef_t *k = find_key(groups[g], key);
        if (k) return k;
    }
    return NULL;
}

static bool plain_group(const char *g)
{
    return !strcmp(g, "edge") || !strcmp(g, "network") || !strcmp(g, "playback") ||
           !strcmp(g, "record") || !strcmp(g, "log");
}

/* Read and check every key of group g with the table of tgroup, into base. */
static void load_group(GKeyFile *kf, const char *name, const char *dir, const char *g,
                       const char *tgroup, bool preset_keys, void *base, void *cfg_base,
                       hc_cfg_errs_t *e)
{
    gsize nk = 0;
    gchar **ks = g_key_file_get_keys(kf, g, &nk, NULL);
    char where[160];
    snprintf(where, sizeof where, "%s: [%s]", name, g);
    for (gsize ki = 0; ks && ki < nk; ki++) {
        const keydef_t *k = preset_keys ? find_preset_key(ks[ki]) : find_key(tgroup, ks[ki]);
        if (!k) {
            hc_cfg_err(e, "%s: [%s] unknown key \"%s\"", name, g, ks[ki]);
            continue;
        }
        gchar *v = g_key_file_get_value(kf, g, ks[ki], NULL);
        if (!v) continue;
        /* GKeyFile keeps trailing spaces of values; an operator never means
         * them. */
        g_strstrip(v);
        set_one(dir, k->target == T_SRC ? base : cfg_base, k, where, v, e);
        g_free(v);
    }
    g_strfreev(ks);
}

int hc_edge_config_load_data(hc_edge_config_t *cfg, const char *data, size_t len, const char *name,
                             const char *dir, const char *preset, char *err, size_t errcap)
{
    hc_cfg_errs_t e = {err, errcap, 0, 0};
    if (err && errcap) err[0] = 0;
    if (!name) name = "config";
    snprintf(cfg->dir, sizeof cfg->dir, "%s", dir && *dir ? dir : ".");

    GKeyFile *kf = g_key_file_new();
    GError *ge = NULL;
    if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &ge)) {
        hc_cfg_err(&e, "%s: not an INI file: %s", name, ge ? ge->message : "?");
        g_clear_error(&ge);
        g_key_file_free(kf);
        return -HC_EIO;
    }
    gsize ng = 0;
    gchar **groups = g_key_file_get_groups(kf, &ng);
    /* Plain groups and sources first, in file order. */
    for (gsize gi = 0; gi < ng; gi++) {
        const char *g = groups[gi];
        if (plain_group(g)) {
            load_group(kf, name, cfg->dir, g, g, false, cfg, cfg, &e);
        } else if (!strncmp(g, "source.", 7)) {
            const char *sn = g + 7;
            if (!id_ok(sn, 1, HC_SIG_MID_MAX)) {
                hc_cfg_err(&e, "%s: [%s]: a source name is 1..%d characters of A-Z a-z 0-9 . _ -",
                           name, g, HC_SIG_MID_MAX);
                continue;
            }
            if (cfg->n_sources == HC_EDGE_SOURCES_MAX) {
                hc_cfg_err(&e, "%s: [%s]: more than %d sources", name, g, HC_EDGE_SOURCES_MAX);
                continue;
            }
            hc_edge_source_t *s = &cfg->source[cfg->n_sources++];
            memset(s, 0, sizeof *s);
            snprintf(s->name, sizeof s->name, "%s", sn);
            load_group(kf, name, cfg->dir, g, "source", false, s, cfg, &e);
        } else if (!strncmp(g, "preset.", 7)) {
            if (!id_ok(g + 7, 1, HC_SIG_ID_MAX))
                hc_cfg_err(&e, "%s: [%s]: a preset name is 1..%d characters of A-Z a-z 0-9 . _ -",
                           name, g, HC_SIG_ID_MAX);
            /* Checked below, applied when chosen. */
        } else {
            hc_cfg_err(&e,
                       "%s: unknown group [%s] (known: edge, source.NAME, preset.NAME, playback, "
                       "network, record, log)",
                       name, g);
        }
    }
    /* Every preset is checked (into a scratch copy) so a typo in one that is
     * not used today is found today; the chosen one is applied. */
    if (preset) snprintf(cfg->preset, sizeof cfg->preset, "%s", preset);
    bool found = !cfg->preset[0];
    hc_edge_config_t *scratch = malloc(sizeof *scratch);
    size_t npresets = 0;
    for (gsize gi = 0; gi < ng; gi++) {
        const char *g = groups[gi];
        if (strncmp(g, "preset.", 7) != 0) continue;
        if (++npresets > HC_EDGE_PRESETS_MAX) {
            hc_cfg_err(&e, "%s: [%s]: more than %d presets", name, g, HC_EDGE_PRESETS_MAX);
            continue;
        }
        bool chosen = cfg->preset[0] && !strcmp(g + 7, cfg->preset);
        if (chosen) {
            found = true;
            load_group(kf, name, cfg->dir, g, NULL, true, cfg, cfg, &e);
        } else if (scratch) {
            memcpy(scratch, cfg, sizeof *scratch);
            load_group(kf, name, scratch->dir, g, NULL, true, scratch, scratch, &e);
        }
    }
    free(scratch);
    if (!found) {
        char sv[160];
        hc_cfg_err(&e, "%s: preset \"%s\": no [preset.%s] group in the file", name,
                   hc_cfg_shown(cfg->preset, sv, sizeof sv),
                   hc_cfg_shown(cfg->preset, sv, sizeof sv));
    }
    g_strfreev(groups);
    g_key_file_free(kf);
    return e.count ? -HC_ECONFIG : 0;
}

int hc_edge_config_load(hc_edge_config_t *cfg, const char *path, const char *preset, char *err,
                        size_t errcap)
{
    if (err && errcap) err[0] = 0;
    gchar *data = NULL;
    gsize len = 0;
    GError *ge = NULL;
    if (!g_file_get_contents(path, &data, &len, &ge)) {
        if (err) snprintf(err, errcap, "%s: %s", path, ge ? ge->message : "cannot read");
        g_clear_error(&ge);
        return -HC_EIO;
    }
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    gchar *dir = g_path_get_dirname(path);
    int rc = hc_edge_config_load_data(cfg, data, len, path, dir, preset, err, errcap);
    g_free(dir);
    g_free(data);
    return rc;
}

int hc_edge_config_set(hc_edge_config_t *cfg, const char *group, const char *key, const char *value,
                       const char *origin, char *err, size_t errcap)
{
    hc_cfg_errs_t e = {err, errcap, 0, 0};
    if (err && errcap) err[0] = 0;
    const keydef_t *k = group && key ? find_key(group, key) : NULL;
    if (!k || k->target != T_CFG) {
        hc_cfg_err(&e, "no key [%s] %s", group ? group : "?", key ? key : "?");
        return -HC_ENOTFOUND;
    }
    char where[96];
    snprintf(where, sizeof where, "%s: [%s]", origin ? origin : "command line", group);
    set_one(".", cfg, k, where, value ? value : "", &e);
    return e.count ? -HC_ECONFIG : 0;
}

/* ---- whole-picture checks ---- */

static hc_edge_kind_t preset_kind(const char *preset)
{
    for (size_t i = 0; i < sizeof capture_presets / sizeof capture_presets[0]; i++)
        if (!strcmp(preset, capture_presets[i].name)) return capture_presets[i].kind;
    return 0;
}

static hc_edge_source_t *find_source(hc_edge_config_t *cfg, const char *name, size_t n)
{
    for (size_t i = 0; i < cfg->n_sources; i++)
        if (strlen(cfg->source[i].name) == n && !strncmp(cfg->source[i].name, name, n))
            return &cfg->source[i];
    return NULL;
}

static void add_pub(hc_edge_config_t *cfg, size_t idx, hc_cfg_errs_t *e)
{
    for (size_t i = 0; i < cfg->n_pub; i++)
        if (cfg->pub[i] == idx) return;
    if (cfg->n_pub == HC_EDGE_PUB_MAX) {
        hc_cfg_err(e, "[edge] sources: more than %d published at once", HC_EDGE_PUB_MAX);
        return;
    }
    cfg->pub[cfg->n_pub++] = idx;
}

static void finish_source(hc_edge_source_t *s, hc_cfg_errs_t *e)
{
    if (!s->preset[0] && !s->pipeline[0]) {
        hc_cfg_err(e, "[source.%s]: give a preset (and arg) or a pipeline", s->name);
        return;
    }
    if (s->preset[0] && s->pipeline[0]) {
        hc_cfg_err(e, "[source.%s]: preset = %s and a pipeline: give one of them", s->name,
                   s->preset);
        return;
    }
    if (!s->mid[0]) snprintf(s->mid, sizeof s->mid, "%s", s->name);
    if (!s->kind) s->kind = preset_kind(s->preset);
    if (!s->kind) {
        hc_cfg_err(e, "[source.%s]: kind (audio or video) is needed with a pipeline", s->name);
        return;
    }
    if (preset_kind(s->preset) && s->kind != preset_kind(s->preset)) {
        hc_cfg_err(e, "[source.%s] kind = %s: preset %s gives %s", s->name,
                   s->kind == HC_EDGE_AUDIO ? "audio" : "video", s->preset,
                   s->kind == HC_EDGE_AUDIO ? "video" : "audio");
        return;
    }
    if (!s->tag) s->tag = s->kind == HC_EDGE_AUDIO ? HC_SIG_TAG_AUDIO : HC_SIG_TAG_MAIN;
    /* The signaling schema ties tags to kinds (proto/SIGNALING.md, join). */
    if ((s->kind == HC_EDGE_AUDIO) != (s->tag == HC_SIG_TAG_AUDIO))
        hc_cfg_err(e, "[source.%s] tag = %s: %s sources take %s", s->name, hc_sig_tag_name(s->tag),
                   s->kind == HC_EDGE_AUDIO ? "audio" : "video",
                   s->kind == HC_EDGE_AUDIO ? "tag audio" : "main, diagnostic, face or screen");
    if (s->kind == HC_EDGE_AUDIO && (s->width || s->height || s->fps))
        hc_cfg_err(e, "[source.%s]: width, height and fps are for video sources", s->name);
    if ((s->width == 0) != (s->height == 0))
        hc_cfg_err(e, "[source.%s]: give width and height together", s->name);
    if (s->width % 2 || s->height % 2)
        hc_cfg_err(e, "[source.%s] %ux%u: width and height must be even (I420)", s->name, s->width,
                   s->height);
    /* The test source's size comes from its argument, and the other way
     * round: the encoder's top rung is the source's size, never an upscale. */
    if (!strcmp(s->preset, "test") && !s->arg[0])
        snprintf(s->arg, sizeof s->arg, "%ux%u@%u", s->width ? s->width : 640,
                 s->height ? s->height : 360, s->fps ? s->fps : 30);
    unsigned aw, ah, af = 0;
    if ((!strcmp(s->preset, "test") && sscanf(s->arg, "%ux%u@%u", &aw, &ah, &af) >= 2) ||
        (!strcmp(s->preset, "v4l2") && strchr(s->arg, '@') &&
         sscanf(strchr(s->arg, '@') + 1, "%ux%u@%u", &aw, &ah, &af) >= 2)) {
        if (!s->width) s->width = aw & ~1u, s->height = ah & ~1u;
        if (!s->fps && af) s->fps = af;
    }
}

size_t hc_edge_config_layers(const hc_edge_source_t *src, hc_edge_layer_t *out, size_t cap)
{
    size_t n = src->simulcast > 1 ? src->simulcast : 1;
    if (n > HC_EDGE_LAYERS_MAX) n = HC_EDGE_LAYERS_MAX;
    if (src->kind != HC_EDGE_VIDEO) n = 1;
    if (n > cap) n = cap;
    uint64_t px = (uint64_t)src->width * src->height;
    uint32_t top = src->max_kbps ? src->max_kbps : (uint32_t)(2500 * px / (1280 * 720));
    if (top < 300) top = 300;
    for (size_t i = 0; i < n; i++) {
        hc_edge_layer_t *l = &out[i];
        memset(l, 0, sizeof *l);
        l->layer = (uint32_t)i;
        if (i == 0) {
            snprintf(l->mid, sizeof l->mid, "%s", src->mid);
            l->width = src->width, l->height = src->height, l->fps = src->fps;
            l->max_kbps = src->max_kbps;
            continue;
        }
        snprintf(l->mid, sizeof l->mid, "%.*s-l%c", HC_SIG_MID_MAX - 3, src->mid, (char)('0' + i));
        l->width = (src->width >> i) & ~1u;
        l->height = (src->height >> i) & ~1u;
        uint32_t fps_cap = i == 1 ? 30 : 15;
        l->fps = src->fps && src->fps < fps_cap ? src->fps : fps_cap;
        uint32_t k = i == 1 ? top / 4 : top / 16, kmax = i == 1 ? 300 : 120;
        l->max_kbps = k > kmax ? kmax : k < 30 ? 30 : k;
    }
    return n;
}

/* Simulcast needs pictures to scale (not an H.264 passthrough), sizes to
 * halve, and room for the layers' mids. */
static void finish_simulcast(hc_edge_source_t *s, hc_cfg_errs_t *e)
{
    if (!s->simulcast) s->simulcast = 1;
    if (s->simulcast == 1) return;
    if (s->kind != HC_EDGE_VIDEO) {
        hc_cfg_err(e, "[source.%s] simulcast = %u: only video sources send layers", s->name,
                   s->simulcast);
        return;
    }
    if (!strcmp(s->preset, "rtsp")) {
        hc_cfg_err(e,
                   "[source.%s] simulcast = %u: preset rtsp forwards the camera's H.264; layers "
                   "need pictures to scale (use 1)",
                   s->name, s->simulcast);
        return;
    }
    unsigned div = 1u << (s->simulcast - 1);
    if (!s->width || !s->height)
        hc_cfg_err(e,
                   "[source.%s] simulcast = %u: give width and height (the layers are fractions "
                   "of them)",
                   s->name, s->simulcast);
    else if (s->width / div < 16 || s->height / div < 16)
        hc_cfg_err(e,
                   "[source.%s] simulcast = %u: %ux%u is too small for %u layers (the lowest would "
                   "be under 16x16)",
                   s->name, s->simulcast, s->width, s->height, s->simulcast);
    if (strlen(s->mid) + 3 > HC_SIG_MID_MAX)
        hc_cfg_err(e,
                   "[source.%s] simulcast = %u: mid \"%s\" leaves no room for the layers' "
                   "\"-l1\" (at most %d characters)",
                   s->name, s->simulcast, s->mid, HC_SIG_MID_MAX - 3);
}

static void read_token_file(hc_edge_config_t *cfg, hc_cfg_errs_t *e)
{
    gchar *data = NULL;
    gsize n = 0;
    GError *ge = NULL;
    if (!g_file_get_contents(cfg->token_file, &data, &n, &ge)) {
        hc_cfg_err(e, "[edge] token_file = \"%s\": %s", cfg->token_file,
                   ge ? ge->message : "cannot read");
        g_clear_error(&ge);
        return;
    }
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' ||
                 data[n - 1] == '\t'))
        n--;
    if (n == 0 || n > HC_SIG_TOKEN_MAX || !hc_sig_id_valid(data, n))
        hc_cfg_err(e, "[edge] token_file = \"%s\": expected one token (JWT) of 1..%d characters",
                   cfg->token_file, HC_SIG_TOKEN_MAX);
    else {
        memcpy(cfg->token, data, n);
        cfg->token[n] = 0;
    }
    g_free(data);
}

int hc_edge_config_finish(hc_edge_config_t *cfg, char *err, size_t errcap)
{
    hc_cfg_errs_t e = {err, errcap, 0, 0};
    if (err && errcap) err[0] = 0;

    if (!cfg->relay[0]) hc_cfg_err(&e, "[edge] relay: required (ws://host:port or wss://...)");
    if (!cfg->session[0]) hc_cfg_err(&e, "[edge] session: required");
    if (!cfg->site[0]) hc_cfg_err(&e, "[edge] site: required (the name others see)");
    if (!cfg->token[0] && !cfg->token_file[0])
        hc_cfg_err(&e, "[edge] token or token_file: one is required");
    else if (!cfg->token[0])
        read_token_file(cfg, &e);
    if (cfg->create != HC_SIG_KIND_NONE && cfg->role != HC_SIG_ROLE_TEACHER &&
        cfg->role != HC_SIG_ROLE_CLINICIAN)
        hc_cfg_err(&e, "[edge] create = %s: only a teacher or clinician creates sessions (role %s)",
                   hc_sig_kind_name(cfg->create), hc_sig_role_name(cfg->role));

    /* Sources to publish. */
    cfg->n_pub = 0;
    if (!strcmp(cfg->sources, "none")) {
        /* receive only: a room that watches and does not take the floor */
    } else if (cfg->sources[0]) {
        const char *p = cfg->sources;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            const char *s = p;
            while (*p && *p != ',' && *p != ' ') p++;
            if (p == s) break;
            hc_edge_source_t *src = find_source(cfg, s, (size_t)(p - s));
            if (!src)
                hc_cfg_err(&e, "[edge] sources: no [source.%.*s] group", (int)(p - s), s);
            else
                add_pub(cfg, (size_t)(src - cfg->source), &e);
        }
    } else if (cfg->role != HC_SIG_ROLE_VIEWER) {
        for (size_t i = 0; i < cfg->n_sources; i++) add_pub(cfg, i, &e);
    }
    if (cfg->role == HC_SIG_ROLE_VIEWER && cfg->n_pub)
        hc_cfg_err(&e, "[edge] sources = %s: a viewer publishes nothing", cfg->sources);
    for (size_t i = 0; i < cfg->n_sources; i++) {
        size_t before = (size_t)e.count;
        finish_source(&cfg->source[i], &e);
        if ((size_t)e.count == before) finish_simulcast(&cfg->source[i], &e);
    }
    size_t streams = 0;
    for (size_t i = 0; i < cfg->n_pub; i++) {
        const hc_edge_source_t *src = &cfg->source[cfg->pub[i]];
        streams += src->kind == HC_EDGE_VIDEO && src->simulcast > 1 ? src->simulcast : 1;
    }
    for (size_t i = 0; i < cfg->n_pub; i++) {
        hc_edge_layer_t l[HC_EDGE_LAYERS_MAX];
        size_t nl = hc_edge_config_layers(&cfg->source[cfg->pub[i]], l, HC_EDGE_LAYERS_MAX);
        for (size_t k = 1; k < nl; k++)
            for (size_t j = 0; j < cfg->n_pub; j++)
                if (!strcmp(cfg->source[cfg->pub[j]].mid, l[k].mid))
                    hc_cfg_err(
                        &e, "[source.%s] mid = %s: the simulcast layer of [source.%s] has it",
                        cfg->source[cfg->pub[j]].name, l[k].mid, cfg->source[cfg->pub[i]].name);
    }
    if (streams > HC_EDGE_PUB_MAX)
        hc_cfg_err(&e, "[edge] sources: %zu streams with the simulcast layers, at most %d", streams,
                   HC_EDGE_PUB_MAX);
    for (size_t i = 0; i < cfg->n_pub; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->source[cfg->pub[i]].mid, cfg->source[cfg->pub[j]].mid))
                hc_cfg_err(&e, "[source.%s] mid = %s: [source.%s] has it too; mids must differ",
                           cfg->source[cfg->pub[i]].name, cfg->source[cfg->pub[i]].mid,
                           cfg->source[cfg->pub[j]].name);

    if (cfg->min_kbps > cfg->start_kbps || cfg->start_kbps > cfg->max_kbps)
        hc_cfg_err(&e,
                   "[network] min_kbps %u, start_kbps %u, max_kbps %u: need min <= start <= max",
                   cfg->min_kbps, cfg->start_kbps, cfg->max_kbps);
    if (cfg->jitter_min_ms > cfg->jitter_max_ms || cfg->jitter_max_ms > cfg->playout_budget_ms)
        hc_cfg_err(&e,
                   "[network] jitter_min_ms %u, jitter_max_ms %u, playout_budget_ms %u: need "
                   "jitter_min <= jitter_max <= playout_budget",
                   cfg->jitter_min_ms, cfg->jitter_max_ms, cfg->playout_budget_ms);
    return e.count ? -HC_ECONFIG : 0;
}
