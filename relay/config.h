/*
 * config.h - hc-relay's configuration: an INI file read with GLib's
 * GKeyFile (conf/relay.ini is the documented sample), checked completely
 * at start.
 *
 * Strict like the signaling schema: an unknown group or key, a value of
 * the wrong type or out of its range is an error, and every error is
 * reported (one line each, naming the file, group, key, the value given
 * and what is allowed), so an operator fixes the file in one pass. Keys
 * left out take the defaults documented in conf/relay.ini, which match
 * hc_relay_config_default(). Relative paths are resolved against the
 * directory of the config file, so a unit file or a test can point at a
 * config anywhere.
 *
 * The secret file holds the HS256 token key (proto/token.h): its content
 * with trailing whitespace removed, at least HC_TOKEN_KEY_MIN bytes. When
 * it does not exist, hc_relay_secret_load() creates it (mode 0600) with 64
 * random base64url characters, so any JWT library can use the same text.
 *
 * Ownership: plain structs filled in place; nothing to free.
 * Threading: call at start-up (GKeyFile and the file system), then the
 * struct is read-only.
 */
#ifndef HC_RELAY_CONFIG_H
#define HC_RELAY_CONFIG_H

#include "relay/core/router.h"
#include "relay/log.h"
#include "relay/sessions.h"
#include "relay/sigserver.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keep in step with project(VERSION) in the top-level CMakeLists.txt. */
#define HC_RELAY_VERSION "0.1.0"

#define HC_CONFIG_PATH_MAX 1024

typedef struct hc_relay_config {
    char path[HC_CONFIG_PATH_MAX]; /* the file read, "" for defaults */
    char dir[HC_CONFIG_PATH_MAX];  /* its directory: base of relative paths */
    /* [relay] */
    uint32_t workers;      /* 0 = one per online CPU */
    uint32_t pool_packets; /* packet buffers per worker */
    char state_dir[HC_CONFIG_PATH_MAX];
    /* [media] */
    char media_bind[64];
    uint16_t media_port;
    char public_host[254];
    /* [signaling]: bind, port, tls, cert, key, limits, keepalive */
    hc_sigserver_cfg_t sig;
    /* [auth] */
    char secret_file[HC_CONFIG_PATH_MAX];
    /* [session] (keepalive_ms and media_host are filled from [signaling]
     * and [media]) */
    hc_sessions_cfg_t session;
    /* [router] (seed is drawn at start) */
    hc_router_cfg_t router;
    /* [log] */
    hc_log_level_t log_level;
} hc_relay_config_t;

/* The documented defaults (conf/relay.ini); paths relative to ".". */
void hc_relay_config_default(hc_relay_config_t *cfg);

/*
 * Read the file at path over the defaults. Returns 0, or -HC_ECONFIG with
 * every problem in err (lines separated by '\n', truncated to errcap), or
 * -HC_EIO when the file cannot be read or is not INI.
 */
int hc_relay_config_load(hc_relay_config_t *cfg, const char *path, char *err, size_t errcap);

/* The same from text in memory; dir is the base of relative paths. */
int hc_relay_config_load_data(hc_relay_config_t *cfg, const char *data, size_t len,
                              const char *name, const char *dir, char *err, size_t errcap);

/*
 * Read the token key from path into key (cap bytes), creating the file
 * with a fresh random key when it is missing and create is true (*created
 * says so). 0 and *len, or -HC_EIO / -HC_ECONFIG (shorter than
 * HC_TOKEN_KEY_MIN, longer than cap, or readable by others: mode & 077),
 * with a message in err.
 */
int hc_relay_secret_load(const char *path, bool create, uint8_t *key, size_t cap, size_t *len,
                         bool *created, char *err, size_t errcap);

/* Number of keys the loader knows (for tests that walk them all). */
size_t hc_relay_config_nkeys(void);
/* Key i as group, name and one value that is out of range or of the wrong
 * type for it (for tests). 0 or -HC_ERANGE past the end. */
int hc_relay_config_key(size_t i, const char **group, const char **key, const char **bad_value);

#endif
