/*
 * config.h - hc-edge's configuration: an INI file read with GLib's GKeyFile
 * (conf/edge.ini is the documented sample), command-line overrides, and one
 * complete check at start.
 *
 * Groups:
 *   [edge]          relay URL, token or token_file, site, session, role,
 *                   create, title, ca_file/insecure, subscribe, preset,
 *                   sources
 *   [source.NAME]   one capture source (capture.h): preset + arg, or a
 *                   pipeline; mid, kind, tag, max_kbps, width/height/fps
 *   [preset.NAME]   a named set of [edge]/[network]/[playback] keys (e.g.
 *                   teacher, classroom, clinic, specialist); `sources`
 *                   picks which [source.*] groups the box publishes
 *   [playback]      video_sink, audio_sink (playback.h)
 *   [network]       uplink min/start/max kbps, playout budget, jitter
 *                   buffer bounds, repair on/off, media_via
 *   [record]        dir (local recording of what we send)
 *   [log]           level
 *
 * Strict like the relay's config: an unknown group or key, a value of the
 * wrong type or out of range is an error, and every error is reported (one
 * line each, naming the file, group, key, the value given and what is
 * allowed), so an operator fixes the file in one pass. Values from the
 * command line go through the same checks (hc_edge_config_set) and name
 * the option. Order: defaults < file groups < the chosen [preset.*] < the
 * command line; hc_edge_config_finish() then checks what only the whole
 * picture can tell (required keys, role against create, kinds against
 * tags, unique mids, simulcast only where layers can be made) and reads
 * the token file.
 *
 * Relative paths are resolved against the directory of the config file.
 *
 * Ownership: plain structs filled in place (large: keep them off small
 * stacks); nothing to free. Threading: call at start-up, then read-only.
 */
#ifndef HC_EDGE_CONFIG_H
#define HC_EDGE_CONFIG_H

#include "edge/media.h"
#include "proto/sig.h"
#include "relay/core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keep in step with project(VERSION) in the top-level CMakeLists.txt. */
#define HC_EDGE_VERSION "0.1.0"

#define HC_EDGE_PATH_MAX     1024
#define HC_EDGE_URL_MAX      512
#define HC_EDGE_PIPELINE_MAX 2048
#define HC_EDGE_SOURCES_MAX  16                 /* [source.*] groups defined */
#define HC_EDGE_PUB_MAX      HC_SIG_STREAMS_MAX /* sources published at once */
#define HC_EDGE_PRESETS_MAX  16

typedef struct hc_edge_source {
    char name[HC_SIG_MID_MAX + 1]; /* NAME of [source.NAME] */
    char preset[16];               /* capture.h preset, "" when pipeline is given */
    char arg[512];                 /* the preset's argument */
    /* A gst-launch description; main.c expands preset+arg into it. */
    char pipeline[HC_EDGE_PIPELINE_MAX];
    char mid[HC_SIG_MID_MAX + 1]; /* default: NAME */
    hc_edge_kind_t kind;          /* default: from the preset */
    hc_sig_tag_t tag;             /* default: audio for audio, main for video */
    uint32_t max_kbps;            /* 0: from the role */
    uint32_t width, height, fps;  /* 0: from the source */
    /* added by downlink adaptation: simulcast layers sent from this video
     * source's one capture, 1 (off; 0 reads as 1) to 3; see
     * hc_edge_config_layers() */
    uint32_t simulcast;
} hc_edge_source_t;

/* One stream a published source sends (added by downlink adaptation):
 * the source itself (layer 0), or one of its lower simulcast layers. */
typedef struct hc_edge_layer {
    char mid[HC_SIG_MID_MAX + 1]; /* the source's mid; "<mid>-l1", "<mid>-l2" */
    uint32_t layer;               /* 0 = the source itself */
    uint32_t width, height, fps;  /* as the source's (0: unknown) */
    uint32_t max_kbps;            /* layer 0: the source's max_kbps; lower: the fixed rate */
} hc_edge_layer_t;

#define HC_EDGE_LAYERS_MAX 3

typedef struct hc_edge_config {
    char path[HC_EDGE_PATH_MAX]; /* the file read, "" for defaults */
    char dir[HC_EDGE_PATH_MAX];  /* its directory: base of relative paths */
    /* [edge] */
    char relay[HC_EDGE_URL_MAX]; /* ws://host:port or wss://... */
    char token[HC_SIG_TOKEN_MAX + 1];
    char token_file[HC_EDGE_PATH_MAX];
    char site[HC_SIG_NAME_MAX + 1];
    char session[HC_SIG_ID_MAX + 1];
    hc_sig_role_t role;
    hc_sig_kind_t create; /* HC_SIG_KIND_NONE: join only */
    char title[HC_SIG_TITLE_MAX + 1];
    char ca_file[HC_EDGE_PATH_MAX];
    bool insecure;
    bool subscribe;
    char preset[HC_SIG_ID_MAX + 1]; /* the [preset.*] applied, "" none */
    char sources[256];              /* comma list of source names, "" = all */
    /* [source.*], in file order */
    hc_edge_source_t source[HC_EDGE_SOURCES_MAX];
    size_t n_sources;
    /* After hc_edge_config_finish(): the sources published, in order
     * (indexes into source[]); join.publish follows this order. */
    size_t pub[HC_EDGE_PUB_MAX];
    size_t n_pub;
    /* [playback] */
    char video_sink[HC_EDGE_PIPELINE_MAX];
    char audio_sink[HC_EDGE_PIPELINE_MAX];
    /* [network] */
    uint32_t min_kbps, start_kbps, max_kbps;
    uint32_t playout_budget_ms, jitter_min_ms, jitter_max_ms;
    bool repair;
    char media_via[64]; /* "ip:port": send media there (a link emulator) */
    /* [record] */
    char record_dir[HC_EDGE_PATH_MAX];
    /* [log] */
    hc_log_level_t log_level;
} hc_edge_config_t;

/* The documented defaults (conf/edge.ini). */
void hc_edge_config_default(hc_edge_config_t *cfg);

/*
 * Read the file at path over the defaults, applying [preset.<preset>]
 * when preset is non-NULL (the command line's --preset), else the file's
 * [edge] preset. Every [preset.*] group is checked, used or not. Returns
 * 0, -HC_ECONFIG with every problem in err (lines separated by '\n',
 * truncated to errcap), or -HC_EIO when the file cannot be read or is not
 * INI.
 */
int hc_edge_config_load(hc_edge_config_t *cfg, const char *path, const char *preset, char *err,
                        size_t errcap);

/* The same from text in memory; name labels messages, dir is the base of
 * relative paths. */
int hc_edge_config_load_data(hc_edge_config_t *cfg, const char *data, size_t len, const char *name,
                             const char *dir, const char *preset, char *err, size_t errcap);

/*
 * Set one key as the file would (group "edge", "network", "playback",
 * "record", "log"); `origin` names where the value came from in the
 * message, e.g. "--role". Relative paths are taken against the current
 * directory (command line). 0, or -HC_ECONFIG / -HC_ENOTFOUND (no such
 * key) with the reason in err.
 */
int hc_edge_config_set(hc_edge_config_t *cfg, const char *group, const char *key, const char *value,
                       const char *origin, char *err, size_t errcap);

/*
 * Whole-picture checks and derived values: required keys (relay, session,
 * site, a token or token file), create only for teacher/clinician, the
 * published sources (`sources`, or every [source.*]; none for a viewer),
 * each source's kind/tag/mid defaults and agreement, unique mids, bounds
 * in order (min <= start <= max kbps, jitter_min <= jitter_max <=
 * playout_budget), a test preset's "WxH@fps" argument from width, height
 * and fps when none is given (640x360@30 for those left 0), and the token read from token_file
 * (trailing whitespace removed) when no token is set. 0 or -HC_ECONFIG with every problem in err.
 */
int hc_edge_config_finish(hc_edge_config_t *cfg, char *err, size_t errcap);

/*
 * The streams a finished source publishes, in join.publish order: itself,
 * then for simulcast = N its N-1 lower layers, each from the same capture:
 * layer 1 at half the width and height, 25 % of the top rate and at most
 * 300 kbit/s, at the source's frame rate up to 30; layer 2 at a quarter of
 * the size, 1/16 of the top rate and at most 120 kbit/s, at 15 fps or less.
 * The top rate is max_kbps, or 2500 kbit/s scaled by pixels from 720p
 * (at least 300). Returns the number written (at most cap).
 */
size_t hc_edge_config_layers(const hc_edge_source_t *src, hc_edge_layer_t *out, size_t cap);

/* The ladder role of a published stream's tag (main/screen: main). */
hc_stream_role_t hc_edge_config_stream_role(hc_sig_tag_t tag);

/* Number of keys the loader knows (groups edge, network, playback, record,
 * log, and source.* as "source"), for tests that walk them all. */
size_t hc_edge_config_nkeys(void);
/* Key i as group, name and one value that must be refused. 0 or -HC_ERANGE. */
int hc_edge_config_key(size_t i, const char **group, const char **key, const char **bad_value);

#endif
