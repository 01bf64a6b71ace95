/*
 * Unit tests of relay/config.h: the sample conf/relay.ini loads and says
 * what the defaults say; every key refuses a bad value with a message
 * naming group, key and value; unknown groups and keys are errors; paths
 * resolve against the config's directory; the token key file.
 */
#include "relay/config.h"

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
    char *p = strstr(top, "/tests/unit/test_relay_config.c");
    ck_assert_ptr_nonnull(p);
    *p = 0;
    return top;
}

static int load_text(hc_relay_config_t *cfg, const char *text, char *err, size_t cap)
{
    hc_relay_config_default(cfg);
    return hc_relay_config_load_data(cfg, text, strlen(text), "t.ini", "/etc/hc", err, cap);
}

START_TEST(sample_loads_with_defaults)
{
    char path[1200], err[4096];
    snprintf(path, sizeof path, "%s/conf/relay.ini", repo_top());
    hc_relay_config_t *cfg = malloc(sizeof *cfg), *def = malloc(sizeof *def);
    hc_relay_config_default(cfg);
    int rc = hc_relay_config_load(cfg, path, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    hc_relay_config_default(def);
    /* Every documented default is the compiled-in one. */
    ck_assert_uint_eq(cfg->workers, def->workers);
    ck_assert_uint_eq(cfg->pool_packets, def->pool_packets);
    ck_assert_str_eq(cfg->media_bind, def->media_bind);
    ck_assert_uint_eq(cfg->media_port, def->media_port);
    ck_assert_str_eq(cfg->public_host, "");
    ck_assert_str_eq(cfg->sig.bind, def->sig.bind);
    ck_assert_uint_eq(cfg->sig.port, def->sig.port);
    ck_assert(cfg->sig.tls);
    ck_assert_str_eq(cfg->sig.cert, "");
    ck_assert_uint_eq(cfg->sig.keepalive_ms, def->sig.keepalive_ms);
    ck_assert_uint_eq(cfg->sig.hello_timeout_ms, def->sig.hello_timeout_ms);
    ck_assert_uint_eq(cfg->sig.max_conns, def->sig.max_conns);
    ck_assert_uint_eq(cfg->sig.max_conns_per_ip, def->sig.max_conns_per_ip);
    ck_assert_uint_eq(cfg->sig.max_msgs_per_s, def->sig.max_msgs_per_s);
    ck_assert_uint_eq(cfg->sig.max_bad_frames, def->sig.max_bad_frames);
    ck_assert_uint_eq(cfg->sig.max_pending_kib, def->sig.max_pending_kib);
    ck_assert_uint_eq(cfg->sig.drain_ms, def->sig.drain_ms);
    ck_assert_int_eq(cfg->sig.token_leeway_s, def->sig.token_leeway_s);
    ck_assert_uint_eq(cfg->session.max_sessions, def->session.max_sessions);
    ck_assert_uint_eq(cfg->session.max_participants, def->session.max_participants);
    ck_assert_uint_eq(cfg->session.control_deadline_ms, def->session.control_deadline_ms);
    ck_assert_uint_eq(cfg->session.conference_last_n, def->session.conference_last_n);
    ck_assert_uint_eq(cfg->session.conference_audio_k, def->session.conference_audio_k);
    ck_assert_uint_eq(cfg->session.leave_grace_ms, def->session.leave_grace_ms);
    ck_assert_int_eq(cfg->session.default_suite, def->session.default_suite);
    ck_assert_uint_eq(cfg->session.keepalive_ms, cfg->sig.keepalive_ms);
    ck_assert_uint_eq(cfg->router.max_legs, def->router.max_legs);
    ck_assert_uint_eq(cfg->router.max_instreams, def->router.max_instreams);
    ck_assert_uint_eq(cfg->router.max_tracks, def->router.max_tracks);
    ck_assert_uint_eq(cfg->router.history_video, def->router.history_video);
    ck_assert_uint_eq(cfg->router.history_audio, def->router.history_audio);
    ck_assert_uint_eq(cfg->router.report_ms, def->router.report_ms);
    ck_assert_uint_eq(cfg->router.leg_timeout_ms, def->router.leg_timeout_ms);
    ck_assert_uint_eq(cfg->router.pli_min_ms, def->router.pli_min_ms);
    ck_assert_uint_eq(cfg->router.nack_max_retries, def->router.nack_max_retries);
    ck_assert_uint_eq(cfg->router.rtx_max_age_ms, def->router.rtx_max_age_ms);
    ck_assert_int_eq(cfg->log_level, def->log_level);
    /* relative paths: against conf/ */
    char want[1300];
    snprintf(want, sizeof want, "%s/conf/state", repo_top());
    ck_assert_str_eq(cfg->state_dir, want);
    ck_assert_str_eq(cfg->sig.state_dir, want);
    snprintf(want, sizeof want, "%s/conf/state/token.key", repo_top());
    ck_assert_str_eq(cfg->secret_file, want);
    free(cfg);
    free(def);
}
END_TEST

/* Every key of the sample is a key the loader knows, and the other way
 * round: the sample documents all of them. */
START_TEST(sample_documents_every_key)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/conf/relay.ini", repo_top());
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    fclose(f);
    for (size_t i = 0; i < hc_relay_config_nkeys(); i++) {
        const char *g, *k, *bad;
        ck_assert_int_eq(hc_relay_config_key(i, &g, &k, &bad), 0);
        char group[64], line[96];
        snprintf(group, sizeof group, "\n[%s]\n", g);
        snprintf(line, sizeof line, "\n%s =", k);
        char *gp = strstr(text, group);
        ck_assert_msg(gp != NULL, "group [%s] not in the sample", g);
        char *next = strstr(gp + 1, "\n[");
        char *kp = strstr(gp, line);
        ck_assert_msg(kp && (!next || kp < next), "[%s] %s not documented in the sample", g, k);
        /* a comment right above it */
        ck_assert_msg(kp > text && kp[-1] != '\n', "[%s] %s has no comment", g, k);
    }
    const char *g, *k, *bad;
    ck_assert_int_eq(hc_relay_config_key(hc_relay_config_nkeys(), &g, &k, &bad), -HC_ERANGE);
}
END_TEST

START_TEST(every_key_refuses_a_bad_value)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    for (size_t i = 0; i < hc_relay_config_nkeys(); i++) {
        const char *g, *k, *bad;
        hc_relay_config_key(i, &g, &k, &bad);
        char text[256], err[1024];
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", g, k, bad);
        int rc = load_text(cfg, text, err, sizeof err);
        ck_assert_msg(rc == -HC_ECONFIG, "[%s] %s = %s accepted", g, k, bad);
        char want[128];
        snprintf(want, sizeof want, "t.ini: [%s] %s = \"", g, k);
        ck_assert_msg(strstr(err, want) != NULL, "message %s lacks %s", err, want);
        /* the value as given (control bytes shown escaped) */
        char shown[64];
        if (bad[0] && (unsigned char)bad[0] < 0x20)
            snprintf(shown, sizeof shown, "\"\\x%02x\"", (unsigned char)bad[0]);
        else
            snprintf(shown, sizeof shown, "\"%s\"", bad);
        ck_assert_msg(strstr(err, shown) != NULL, "message %s lacks the value %s", err, shown);
        ck_assert_msg(strstr(err, "expected") != NULL, "message %s says nothing allowed", err);
        /* exactly one line */
        ck_assert_ptr_null(strchr(err, '\n'));
    }
    free(cfg);
}
END_TEST

START_TEST(ranges_in_messages)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    char err[1024];
    ck_assert_int_eq(load_text(cfg, "[signaling]\nport = 70000\n", err, sizeof err), -HC_ECONFIG);
    ck_assert_str_eq(err, "t.ini: [signaling] port = \"70000\": expected an integer 0..65535");
    ck_assert_int_eq(load_text(cfg, "[router]\nhistory_video = 1000\n", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_str_eq(err, "t.ini: [router] history_video = \"1000\": expected a power of two in "
                          "16..65536");
    ck_assert_int_eq(load_text(cfg, "[log]\nlevel = loud\n", err, sizeof err), -HC_ECONFIG);
    ck_assert_str_eq(err, "t.ini: [log] level = \"loud\": expected debug, info, warn or error");
    free(cfg);
}
END_TEST

START_TEST(unknown_groups_and_keys)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    char err[1024];
    ck_assert_int_eq(load_text(cfg, "[relay]\nworker = 2\n", err, sizeof err), -HC_ECONFIG);
    ck_assert_str_eq(err, "t.ini: [relay] unknown key \"worker\"");
    ck_assert_int_eq(load_text(cfg, "[media]\nport = 1\n[medai]\nport = 2\n", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "t.ini: unknown group [medai]"));
    /* a key in the wrong group */
    ck_assert_int_eq(load_text(cfg, "[media]\nkeepalive_ms = 1000\n", err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_str_eq(err, "t.ini: [media] unknown key \"keepalive_ms\"");
    /* not INI at all */
    ck_assert_int_eq(load_text(cfg, "port = 5\n", err, sizeof err), -HC_EIO);
    ck_assert_ptr_nonnull(strstr(err, "not an INI file"));
    free(cfg);
}
END_TEST

START_TEST(all_errors_at_once)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    char err[2048];
    const char *text = "[relay]\nworkers = many\n[signaling]\nport = -1\ntls = sometimes\n"
                       "[nope]\nx = 1\n";
    ck_assert_int_eq(load_text(cfg, text, err, sizeof err), -HC_ECONFIG);
    int lines = 1;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 4);
    ck_assert_ptr_nonnull(strstr(err, "[relay] workers = \"many\""));
    ck_assert_ptr_nonnull(strstr(err, "[signaling] port = \"-1\""));
    ck_assert_ptr_nonnull(strstr(err, "[signaling] tls = \"sometimes\": expected on or off"));
    ck_assert_ptr_nonnull(strstr(err, "unknown group [nope]"));
    /* a small buffer is cut, never overrun */
    char small[40];
    ck_assert_int_eq(load_text(cfg, text, small, sizeof small), -HC_ECONFIG);
    ck_assert_uint_lt(strlen(small), sizeof small);
    free(cfg);
}
END_TEST

START_TEST(values_and_paths)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    char err[1024];
    const char *text = "[relay]\nworkers = 3\nstate_dir = var/hc\n"
                       "[media]\nbind = ::\nport = 0\npublic_host = relay.example.org\n"
                       "[signaling]\nbind = 127.0.0.1\ntls = off\nkeepalive_ms = 2000  \n"
                       "cert = /etc/ssl/c.pem\nkey = k.pem\n"
                       "[auth]\nsecret_file = keys/t.key\ntoken_leeway_s = 0\n"
                       "[session]\nsuite = aes-cm\n"
                       "[router]\nhistory_audio = 16\n"
                       "[log]\nlevel = debug\n";
    int rc = load_text(cfg, text, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(cfg->workers, 3);
    ck_assert_str_eq(cfg->state_dir, "/etc/hc/var/hc");
    ck_assert_str_eq(cfg->sig.state_dir, "/etc/hc/var/hc");
    ck_assert_str_eq(cfg->media_bind, "::");
    ck_assert_uint_eq(cfg->media_port, 0);
    ck_assert_str_eq(cfg->public_host, "relay.example.org");
    ck_assert_str_eq(cfg->session.media_host, "relay.example.org");
    ck_assert_str_eq(cfg->sig.cert_host, "relay.example.org");
    ck_assert_str_eq(cfg->sig.bind, "127.0.0.1");
    ck_assert(!cfg->sig.tls);
    ck_assert_uint_eq(cfg->sig.keepalive_ms, 2000);
    ck_assert_uint_eq(cfg->session.keepalive_ms, 2000);
    ck_assert_str_eq(cfg->sig.cert, "/etc/ssl/c.pem");
    ck_assert_str_eq(cfg->sig.key, "/etc/hc/k.pem");
    ck_assert_str_eq(cfg->secret_file, "/etc/hc/keys/t.key");
    ck_assert_int_eq(cfg->sig.token_leeway_s, 0);
    ck_assert_int_eq(cfg->session.default_suite, HC_SRTP_AES_CM_128_HMAC_SHA1_80);
    ck_assert_uint_eq(cfg->router.history_audio, 16);
    ck_assert_int_eq(cfg->log_level, HC_LOG_DEBUG);
    /* cert without key */
    ck_assert_int_eq(load_text(cfg, "[signaling]\ncert = c.pem\n", err, sizeof err), -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "cert is set but key is not"));
    /* booleans */
    const char *yes[] = {"on", "true", "yes", "1"}, *no[] = {"off", "false", "no", "0"};
    for (int i = 0; i < 4; i++) {
        char t[64];
        snprintf(t, sizeof t, "[signaling]\ntls = %s\n", no[i]);
        ck_assert_int_eq(load_text(cfg, t, err, sizeof err), 0);
        ck_assert(!cfg->sig.tls);
        snprintf(t, sizeof t, "[signaling]\ntls = %s\n", yes[i]);
        ck_assert_int_eq(load_text(cfg, t, err, sizeof err), 0);
        ck_assert(cfg->sig.tls);
    }
    /* integers are strict */
    const char *bad[] = {"+5", " ", "0x10", "5.0", "99999999999", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t[64];
        snprintf(t, sizeof t, "[relay]\nworkers = %s\n", bad[i]);
        ck_assert_msg(load_text(cfg, t, err, sizeof err) == -HC_ECONFIG, "%s accepted", bad[i]);
    }
    free(cfg);
}
END_TEST

static char tmp[256];

static void mktmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/hc-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void rmtmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(secret_created_and_reused)
{
    mktmp();
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/sub/dir/token.key", tmp);
    uint8_t key[256], key2[256];
    size_t len = 0, len2 = 0;
    bool created = false;
    ck_assert_int_eq(
        hc_relay_secret_load(path, false, key, sizeof key, &len, &created, err, sizeof err),
        -HC_EIO);
    int rc = hc_relay_secret_load(path, true, key, sizeof key, &len, &created, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert(created);
    ck_assert_uint_eq(len, 64);
    for (size_t i = 0; i < len; i++)
        ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                         key[i]) != NULL);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(
        hc_relay_secret_load(path, true, key2, sizeof key2, &len2, &created, err, sizeof err), 0);
    ck_assert(!created);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(key, key2, len);
    /* readable by others: refused */
    chmod(path, 0644);
    ck_assert_int_eq(
        hc_relay_secret_load(path, true, key, sizeof key, &len, &created, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
    /* too short */
    chmod(path, 0600);
    int fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "short key\n", 10), 10);
    close(fd);
    ck_assert_int_eq(
        hc_relay_secret_load(path, true, key, sizeof key, &len, &created, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "9 bytes, need at least 32"));
    /* too long */
    fd = open(path, O_WRONLY | O_TRUNC);
    char big[300];
    memset(big, 'k', sizeof big);
    ck_assert_int_eq(write(fd, big, sizeof big), (ssize_t)sizeof big);
    close(fd);
    ck_assert_int_eq(
        hc_relay_secret_load(path, true, key, sizeof key, &len, &created, err, sizeof err),
        -HC_ECONFIG);
    /* exactly the capacity plus a newline is fine */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, big, 256), 256);
    ck_assert_int_eq(write(fd, "\n", 1), 1);
    close(fd);
    ck_assert_int_eq(
        hc_relay_secret_load(path, true, key, sizeof key, &len, &created, err, sizeof err), 0);
    ck_assert_uint_eq(len, 256);
    rmtmp();
}
END_TEST

START_TEST(missing_file)
{
    hc_relay_config_t *cfg = malloc(sizeof *cfg);
    char err[512];
    hc_relay_config_default(cfg);
    ck_assert_int_eq(hc_relay_config_load(cfg, "/nonexistent/relay.ini", err, sizeof err), -HC_EIO);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/relay.ini"));
    free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_config");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, sample_loads_with_defaults);
    tcase_add_test(tc, sample_documents_every_key);
    tcase_add_test(tc, every_key_refuses_a_bad_value);
    tcase_add_test(tc, ranges_in_messages);
    tcase_add_test(tc, unknown_groups_and_keys);
    tcase_add_test(tc, all_errors_at_once);
    tcase_add_test(tc, values_and_paths);
    tcase_add_test(tc, secret_created_and_reused);
    tcase_add_test(tc, missing_file);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
