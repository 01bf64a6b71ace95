/*
 * config.c - hc-relay's INI configuration (config.h).
 *
 * One table lists every key: group, name, kind, range, where it goes in
 * hc_relay_config_t, and a value that must be refused (for the unit test
 * that walks the table). Defaults live in hc_relay_config_default() and
 * in conf/relay.ini's comments; the test checks that the sample loads.
 */
#include "relay/config.h"

#include "proto/cfgval.h"
#include "proto/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum kind {
    K_U32,    /* decimal integer in min..max */
    K_POW2,   /* power of two in min..max */
    K_BOOL,   /* on/off, true/false, yes/no */
    K_PATH,   /* file system path, relative = against the config's dir */
    K_ADDR,   /* numeric IPv4 or IPv6 address to bind */
    K_HOST,   /* host name or address told to clients */
    K_LEVEL,  /* log level */
    K_SUITE,  /* SRTP suite */
    K_STRING, /* printable text */
} kind_t;

typedef struct keydef {
    const char *group, *key;
    kind_t kind;
    uint32_t min, max;
    size_t off;  /* in hc_relay_config_t */
    size_t size; /* of the member (bytes, or string capacity) */
    const char *bad;
} keydef_t;

#define F(m) offsetof(hc_relay_config_t, m), sizeof(((hc_relay_config_t *)0)->m)

static const keydef_t keys[] = {
    {"relay", "workers", K_U32, 0, 1024, F(workers), "1025"},
    {"relay", "pool_packets", K_U32, 256, 1048576, F(pool_packets), "100"},
    {"relay", "state_dir", K_PATH, 1, HC_CONFIG_PATH_MAX - 1, F(state_dir), ""},

    {"media", "bind", K_ADDR, 0, 0, F(media_bind), "not-an-address"},
    {"media", "port", K_U32, 0, 65535, F(media_port), "65536"},
    {"media", "public_host", K_HOST, 0, 253, F(public_host), "bad host!"},

    {"signaling", "bind", K_ADDR, 0, 0, F(sig.bind), "300.1.1.1"},
    {"signaling", "port", K_U32, 0, 65535, F(sig.port), "-1"},
    {"signaling", "tls", K_BOOL, 0, 1, F(sig.tls), "maybe"},
    {"signaling", "cert", K_PATH, 0, HC_SIGSERVER_PATH_MAX - 1, F(sig.cert), "\x01"},
    {"signaling", "key", K_PATH, 0, HC_SIGSERVER_PATH_MAX - 1, F(sig.key), "\x01"},
    {"signaling", "keepalive_ms", K_U32, 100, 600000, F(sig.keepalive_ms), "99"},
    {"signaling", "hello_timeout_ms", K_U32, 100, 600000, F(sig.hello_timeout_ms), "0"},
    {"signaling", "max_conns", K_U32, 1, 1000000, F(sig.max_conns), "0"},
    {"signaling", "max_conns_per_ip", K_U32, 1, 100000, F(sig.max_conns_per_ip), "0"},
    {"signaling", "max_msgs_per_s", K_U32, 1, 100000, F(sig.max_msgs_per_s), "1e3"},
    {"signaling", "max_bad_frames", K_U32, 1, 1000, F(sig.max_bad_frames), "1001"},
    {"signaling", "max_pending_kib", K_U32, 64, 1048576, F(sig.max_pending_kib), "63"},
    {"signaling", "drain_ms", K_U32, 0, 60000, F(sig.drain_ms), "60001"},

    {"auth", "secret_file", K_PATH, 0, HC_CONFIG_PATH_MAX - 1, F(secret_file), "\x01"},
    {"auth", "token_leeway_s", K_U32, 0, 3600, F(sig.token_leeway_s), "3601"},

    {"session", "max_sessions", K_U32, 1, 100000, F(session.max_sessions), "0"},
    {"session", "max_participants", K_U32, 2, 10000, F(session.max_participants), "1"},
    {"session", "control_deadline_ms", K_U32, 10, 60000, F(session.control_deadline_ms), "9"},
    {"session", "conference_last_n", K_U32, 1, 16, F(session.conference_last_n), "17"},
    {"session", "conference_audio_k", K_U32, 1, 16, F(session.conference_audio_k), "0"},
    {"session", "leave_grace_ms", K_U32, 0, 600000, F(session.leave_grace_ms), "x"},
    {"session", "suite", K_SUITE, 0, 0, F(session.default_suite), "aes-256"},

    {"router", "max_legs", K_U32, 1, 1000000, F(router.max_legs), "0"},
    {"router", "max_instreams", K_U32, 1, 1000000, F(router.max_instreams), "0"},
    {"router", "max_tracks", K_U32, 1, 4000000, F(router.max_tracks), "0"},
    {"router", "history_video", K_POW2, 16, 65536, F(router.history_video), "1000"},
    {"router", "history_audio", K_POW2, 16, 65536, F(router.history_audio), "8"},
    {"router", "report_ms", K_U32, 100, 10000, F(router.report_ms), "10001"},
    {"router", "leg_timeout_ms", K_U32, 500, 600000, F(router.leg_timeout_ms), "499"},
    {"router", "pli_min_ms", K_U32, 0, 10000, F(router.pli_min_ms), "10001"},
    {"router", "nack_max_retries", K_U32, 0, 20, F(router.nack_max_retries), "21"},
    {"router", "rtx_max_age_ms", K_U32, 0, 10000, F(router.rtx_max_age_ms), "1 000"},

    {"log", "level", K_LEVEL, 0, 0, F(log_level), "verbose"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

size_t hc_relay_config_nkeys(void)
{
    return NKEYS;
}

int hc_relay_config_key(size_t i, const char **group, const char **key, const char **bad_value)
{
    if (i >= NKEYS) return -HC_ERANGE;
    *group = keys[i].group;
    *key = keys[i].key;
    *bad_value = keys[i].bad;
    return 0;
}

void hc_relay_config_default(hc_relay_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->dir, sizeof cfg->dir, ".");
    cfg->workers = 0;
    cfg->pool_packets = 8192;
    snprintf(cfg->state_dir, sizeof cfg->state_dir, "state");
    snprintf(cfg->media_bind, sizeof cfg->media_bind, "0.0.0.0");
    cfg->media_port = 5004;

    hc_sigserver_cfg_default(&cfg->sig);

    cfg->session.keepalive_ms = cfg->sig.keepalive_ms;
    cfg->session.max_sessions = 256;
    cfg->session.max_participants = 500;
    cfg->session.control_deadline_ms = 300;
    cfg->session.conference_last_n = 4;
    cfg->session.conference_audio_k = 3;
    cfg->session.leave_grace_ms = 30000;
    cfg->session.default_suite = HC_SRTP_AEAD_AES_128_GCM;

    cfg->router.max_legs = 2048;
    cfg->router.max_instreams = 4096;
    cfg->router.max_tracks = 32768;
    cfg->router.history_video = 1024;
    cfg->router.history_audio = 128;
    cfg->router.report_ms = 1000;
    cfg->router.leg_timeout_ms = 5000;
    cfg->router.pli_min_ms = 300;
    cfg->router.nack_max_retries = 5;
    cfg->router.rtx_max_age_ms = 1000;

    cfg->log_level = HC_LOG_INFO;
}

/* ---- value parsers ---- */

static bool addr_ok(const char *v)
{
    unsigned char b[16];
    return inet_pton(AF_INET, v, b) == 1 || inet_pton(AF_INET6, v, b) == 1;
}

static bool host_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 253) return false;
    if (addr_ok(v)) return true;
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    return v[0] != '-' && v[0] != '.';
}

static void set_one(hc_relay_config_t *cfg, const keydef_t *k, const char *file, const char *v,
                    hc_cfg_errs_t *e)
{
    char sv[160];
    unsigned char *dst = (unsigned char *)cfg + k->off;
    uint32_t u;
    bool b;
    switch (k->kind) {
    case K_U32:
    case K_POW2:
        if (!hc_cfg_u32(v, &u) || u < k->min || u > k->max ||
            (k->kind == K_POW2 && (u & (u - 1)))) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected %s %u..%u", file, k->group, k->key,
                       hc_cfg_shown(v, sv, sizeof sv),
                       k->kind == K_POW2 ? "a power of two in" : "an integer", k->min, k->max);
            return;
        }
        if (k->size == sizeof(uint16_t)) {
            uint16_t x = (uint16_t)u;
            memcpy(dst, &x, sizeof x);
        } else if (k->size == sizeof(int64_t)) {
            int64_t x = u;
            memcpy(dst, &x, sizeof x);
        } else {
            memcpy(dst, &u, sizeof u);
        }
        return;
    case K_BOOL:
        if (!hc_cfg_bool(v, &b)) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected on or off", file, k->group, k->key,
                       hc_cfg_shown(v, sv, sizeof sv));
            return;
        }
        memcpy(dst, &b, sizeof b);
        return;
    case K_PATH:
        if (!hc_cfg_printable(v) || (k->min && !v[0]) ||
            !hc_cfg_path(cfg->dir, v, (char *)dst, k->size)) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected a path (%s, at most %u bytes)", file,
                       k->group, k->key, hc_cfg_shown(v, sv, sizeof sv),
                       k->min ? "not empty" : "or empty", k->max);
            return;
        }
        return;
    case K_ADDR:
        if (!addr_ok(v)) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected a numeric IPv4 or IPv6 address", file,
                       k->group, k->key, hc_cfg_shown(v, sv, sizeof sv));
            return;
        }
        snprintf((char *)dst, k->size, "%s", v);
        return;
    case K_HOST:
        if (v[0] && !host_ok(v)) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected a host name or address (or empty)", file,
                       k->group, k->key, hc_cfg_shown(v, sv, sizeof sv));
            return;
        }
        snprintf((char *)dst, k->size, "%s", v);
        return;
    case K_LEVEL: {
        hc_log_level_t lv;
        if (hc_log_level_parse(v, &lv) < 0) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected debug, info, warn or error", file,
                       k->group, k->key, hc_cfg_shown(v, sv, sizeof sv));
            return;
        }
        memcpy(dst, &lv, sizeof lv);
        return;
    }
    case K_SUITE: {
        hc_srtp_suite_t st;
        if (!strcmp(v, "gcm"))
            st = HC_SRTP_AEAD_AES_128_GCM;
        else if (!strcmp(v, "aes-cm"))
            st = HC_SRTP_AES_CM_128_HMAC_SHA1_80;
        else {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected gcm or aes-cm", file, k->group, k->key,
                       hc_cfg_shown(v, sv, sizeof sv));
            return;
        }
        memcpy(dst, &st, sizeof st);
        return;
    }
    case K_STRING:
        if (!hc_cfg_printable(v) || strlen(v) >= k->size) {
            hc_cfg_err(e, "%s: [%s] %s = \"%s\": expected text of at most %zu bytes", file,
                       k->group, k->key, hc_cfg_shown(v, sv, sizeof sv), k->size - 1);
            return;
        }
        snprintf((char *)dst, k->size, "%s", v);
        return;
    }
}

static const keydef_t *find_key(const char *group, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].group, group) && !strcmp(keys[i].key, key)) return &keys[i];
    return NULL;
}

static bool group_known(const char *group)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].group, group)) return true;
    return false;
}

static void resolve_default_paths(hc_relay_config_t *cfg, bool state_set, bool secret_set,
                                  const char *name, hc_cfg_errs_t *e)
{
    char tmp[HC_CONFIG_PATH_MAX];
    if (!state_set) {
        snprintf(tmp, sizeof tmp, "%s", cfg->state_dir);
        if (!hc_cfg_path(cfg->dir, tmp, cfg->state_dir, sizeof cfg->state_dir))
            hc_cfg_err(e, "%s: [relay] state_dir: path too long", name);
    }
    if (!secret_set || !cfg->secret_file[0]) {
        int n = snprintf(cfg->secret_file, sizeof cfg->secret_file, "%.*s/token.key",
                         (int)(sizeof cfg->secret_file - 11), cfg->state_dir);
        if (n < 0 || (size_t)n >= sizeof cfg->secret_file)
            hc_cfg_err(e, "%s: [auth] secret_file: path too long", name);
    }
}

static void derive(hc_relay_config_t *cfg)
{
    snprintf(cfg->sig.state_dir, sizeof cfg->sig.state_dir, "%s", cfg->state_dir);
    snprintf(cfg->sig.cert_host, sizeof cfg->sig.cert_host, "%s", cfg->public_host);
    cfg->session.keepalive_ms = cfg->sig.keepalive_ms;
    snprintf(cfg->session.media_host, sizeof cfg->session.media_host, "%s", cfg->public_host);
}

int hc_relay_config_load_data(hc_relay_config_t *cfg, const char *data, size_t len,
                              const char *name, const char *dir, char *err, size_t errcap)
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
    bool state_set = false, secret_set = false;
    gsize ng = 0;
    gchar **groups = g_key_file_get_groups(kf, &ng);
    for (gsize gi = 0; gi < ng; gi++) {
        const char *g = groups[gi];
        if (!group_known(g)) {
            hc_cfg_err(&e,
                       "%s: unknown group [%s] (known: relay, media, signaling, auth, session, "
                       "router, log)",
                       name, g);
            continue;
        }
        gsize nk = 0;
        gchar **ks = g_key_file_get_keys(kf, g, &nk, NULL);
        for (gsize ki = 0; ks && ki < nk; ki++) {
            const keydef_t *k = find_key(g, ks[ki]);
            if (!k) {
                hc_cfg_err(&e, "%s: [%s] unknown key \"%s\"", name, g, ks[ki]);
                continue;
            }
            gchar *v = g_key_file_get_value(kf, g, ks[ki], NULL);
            if (!v) continue;
            /* GKeyFile keeps trailing spaces of values; an operator never
             * means them. */
            g_strstrip(v);
            set_one(cfg, k, name, v, &e);
            if (!strcmp(k->key, "state_dir")) state_set = true;
            if (!strcmp(k->key, "secret_file")) secret_set = true;
            g_free(v);
        }
        g_strfreev(ks);
    }
    g_strfreev(groups);
    g_key_file_free(kf);

    resolve_default_paths(cfg, state_set, secret_set, name, &e);
    if (cfg->sig.cert[0] && !cfg->sig.key[0])
        hc_cfg_err(&e, "%s: [signaling] cert is set but key is not: give both or neither", name);
    if (!cfg->sig.cert[0] && cfg->sig.key[0])
        hc_cfg_err(&e, "%s: [signaling] key is set but cert is not: give both or neither", name);
    derive(cfg);
    return e.count ? -HC_ECONFIG : 0;
}

int hc_relay_config_load(hc_relay_config_t *cfg, const char *path, char *err, size_t errcap)
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
    int rc = hc_relay_config_load_data(cfg, data, len, path, dir, err, errcap);
    g_free(dir);
    g_free(data);
    return rc;
}

/* ---- token key ---- */

static int create_secret(const char *path, char *err, size_t errcap)
{
    uint8_t rnd[48];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        snprintf(err, errcap, "no randomness for %s", path);
        return -HC_EIO;
    }
    static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char text[66];
    size_t o = 0;
    for (size_t i = 0; i < sizeof rnd; i += 3) {
        uint32_t v = (uint32_t)rnd[i] << 16 | (uint32_t)rnd[i + 1] << 8 | rnd[i + 2];
        text[o++] = b64u[(v >> 18) & 63];
        text[o++] = b64u[(v >> 12) & 63];
        text[o++] = b64u[(v >> 6) & 63];
        text[o++] = b64u[v & 63];
    }
    text[o++] = '\n';
    /* O_EXCL: two relays starting at once never overwrite each other's key. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errcap, "cannot create %s: %s", path, strerror(errno));
        return -HC_EIO;
    }
    ssize_t w = write(fd, text, o);
    int rc = (w == (ssize_t)o && fsync(fd) == 0) ? 0 : -HC_EIO;
    close(fd);
    if (rc < 0) {
        unlink(path);
        snprintf(err, errcap, "cannot write %s", path);
    }
    return rc;
}

int hc_relay_secret_load(const char *path, bool create, uint8_t *key, size_t cap, size_t *len,
                         bool *created, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) err = dummy, errcap = sizeof dummy;
    *created = false;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT || !create) {
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
            return -HC_EIO;
        }
        /* The directory may not exist yet on a first start. */
        gchar *dir = g_path_get_dirname(path);
        if (g_mkdir_with_parents(dir, 0700) != 0) {
            snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
            g_free(dir);
            return -HC_EIO;
        }
        g_free(dir);
        int rc = create_secret(path, err, errcap);
        if (rc < 0) return rc;
        *created = true;
        if (stat(path, &st) != 0) {
            snprintf(err, errcap, "%s: %s", path, strerror(errno));
            return -HC_EIO;
        }
    }
    if (st.st_mode & 077) {
        snprintf(err, errcap, "%s: readable by others (mode %03o); chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        return -HC_ECONFIG;
    }
    gchar *data = NULL;
    gsize n = 0;
    if (!g_file_get_contents(path, &data, &n, NULL)) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return -HC_EIO;
    }
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' ||
                 data[n - 1] == '\t'))
        n--;
    if (n > cap) {
        g_free(data);
        snprintf(err, errcap, "%s: longer than %zu bytes", path, cap);
        return -HC_ECONFIG;
    }
    memcpy(key, data, n);
    g_free(data);
    if (n < HC_TOKEN_KEY_MIN) {
        snprintf(err, errcap, "%s: %zu bytes, need at least %d", path, n, HC_TOKEN_KEY_MIN);
        return -HC_ECONFIG;
    }
    *len = n;
    return 0;
}
