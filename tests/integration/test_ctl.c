/*
 * Integration test of hc-ctl: the real binary against an in-process
 * signaling server whose test handlers answer the admin requests with
 * canned replies (tests/integration/sigtest.c). Checks output, JSON output
 * and exit codes, and that locally minted tokens verify.
 */
#include "tests/integration/sigtest.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>

static hc_sigserver_t *srv;
static sigtest_state_t st;
static char url[64];
static char admin_token[HC_TOKEN_MAX + 1];

static void setup(void)
{
    hc_sigserver_cfg_t cfg;
    sigtest_cfg(&cfg);
    srv = sigtest_start(&cfg, &st);
    st.canned_admin = true;
    snprintf(url, sizeof url, "ws://127.0.0.1:%u", (unsigned)hc_sigserver_port(srv));
    snprintf(admin_token, sizeof admin_token, "%s",
             sigtest_token(HC_SIG_ROLE_ADMIN, NULL, NULL, 600, NULL));
}

static void teardown(void)
{
    sigtest_stop(&srv, &st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Run hc-ctl with the given arguments (NULL-terminated); its exit status,
 * stdout and stderr (malloc'd). */
static int ctl(char **out, char **err, ...)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-ctl", hc_test_bin_dir());
    const char *argv[40];
    int n = 0;
    argv[n++] = "hc-ctl";
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 39) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char opath[] = "/tmp/hc-ctl-out-XXXXXX", epath[] = "/tmp/hc-ctl-err-XXXXXX";
    int ofd = mkstemp(opath), efd = mkstemp(epath);
    ck_assert(ofd >= 0 && efd >= 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(ofd, 1);
        dup2(efd, 2);
        unsetenv("HC_TOKEN");
        unsetenv("HC_RELAY_URL");
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    close(ofd);
    close(efd);
    char *o = slurp(opath), *e = slurp(epath);
    unlink(opath);
    unlink(epath);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    ck_assert_msg(WIFEXITED(status), "hc-ctl did not exit normally");
    return WEXITSTATUS(status);
}

START_TEST(sessions_table_and_json)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "sessions", NULL), 0);
    ck_assert_str_eq(err, "");
    ck_assert_ptr_nonnull(strstr(out, "SESSION"));
    ck_assert_ptr_nonnull(strstr(out, "math-101"));
    ck_assert_ptr_nonnull(strstr(out, "Algebra"));
    ck_assert_ptr_nonnull(strstr(out, "consult-7"));
    ck_assert_ptr_nonnull(strstr(out, "16500"));
    free(out);
    free(err);

    ck_assert_int_eq(
        ctl(&out, &err, "--json", "--url", url, "--token", admin_token, "sessions", NULL), 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    ck_assert_msg(o != NULL, "not JSON: %s", out);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "total")), 2);
    json_t *items = json_object_get(o, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "session")),
                     "math-101");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "kind")),
                     "consult");
    json_decref(o);
    free(out);
    free(err);
}
END_TEST

START_TEST(participants_with_legs)
{
    char *out, *err;
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "participants", "math-101", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "session math-101: 2 participants"));
    ck_assert_ptr_nonnull(strstr(out, "City School"));
    ck_assert_ptr_nonnull(strstr(out, "Dongxiang No.2"));
    ck_assert_ptr_nonnull(strstr(out, "10.0.0.5:40000"));
    /* the video leg: ssrc, dir, kind, tag, kbps, loss %, rtt, jitter, nacks, plis */
    ck_assert_ptr_nonnull(strstr(out, "1111"));
    ck_assert_ptr_nonnull(strstr(out, "1.2 "));
    ck_assert_ptr_nonnull(strstr(out, "48ms"));
    ck_assert_ptr_nonnull(strstr(out, "5.0 "));
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&out, &err, "--json", "--url", url, "--token", admin_token, "participants",
                         "math-101", NULL),
                     0);
    json_t *o = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(o);
    json_t *p0 = json_array_get(json_object_get(o, "items"), 0);
    json_t *leg = json_array_get(json_object_get(p0, "legs"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(leg, "ssrc")), 1111);
    ck_assert(json_real_value(json_object_get(leg, "loss")) > 0.0119 &&
              json_real_value(json_object_get(leg, "loss")) < 0.0121);
    json_decref(o);
    free(out);
    free(err);

    /* a refusal: exit 1 with the code and reason */
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "participants", "nope", NULL), 1);
    ck_assert_str_eq(err, "hc-ctl: ENOTFOUND: no session\n");
    free(out);
    free(err);
}
END_TEST

START_TEST(kick_close_budget)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "kick", "math-101", "p7",
                         "disruptive", NULL),
                     0);
    ck_assert_str_eq(out, "kicked p7 from math-101\n");
    ck_assert_str_eq(st.kicked, "p7");
    free(out);
    free(err);
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "close", "math-101", NULL), 0);
    ck_assert_str_eq(out, "closed math-101\n");
    ck_assert_str_eq(st.closed_session, "math-101");
    free(out);
    free(err);
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "close", "nope", "lesson over", NULL),
        1);
    ck_assert_str_eq(err, "hc-ctl: ENOTFOUND: no session nope\n");
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "budget",
                         "Dongxiang No.2", "800", NULL),
                     0);
    ck_assert_str_eq(out, "budget of Dongxiang No.2: 800 kbps\n");
    ck_assert_str_eq(st.budget_site, "Dongxiang No.2");
    ck_assert_uint_eq(st.budget_kbps, 800);
    free(out);
    free(err);
    /* out of range is a usage error, never sent */
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "budget", "X", "10", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "KBPS must be 0"));
    free(out);
    free(err);
}
END_TEST

START_TEST(stats_and_watch)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "stats", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "sessions      3\n"));
    ck_assert_ptr_nonnull(strstr(out, "out_kbps      96000\n"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--json", "--url", url, "--token", admin_token, "stats", NULL),
                     0);
    ck_assert_ptr_nonnull(strstr(out, "\"type\":\"stats_reply\""));
    free(out);
    free(err);

    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "watch", "--count", "2",
                         "--interval", "100", "math-101", NULL),
                     0);
    /* two frames (not a terminal: separated by "--" instead of a clear) */
    char *first = strstr(out, "hc-ctl watch math-101");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(strstr(first + 1, "hc-ctl watch math-101"));
    ck_assert_ptr_nonnull(strstr(out, "1111"));
    ck_assert_ptr_null(strstr(out, "\033["));
    free(out);
    free(err);
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "watch", "--count", "1", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "participants  64"));
    ck_assert_ptr_nonnull(strstr(out, "consult-7"));
    free(out);
    free(err);
}
END_TEST

START_TEST(token_via_relay_and_local)
{
    char *out, *err;
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "token", "--role",
                         "site", "--session", "math-101", "--site", "Dongxiang No.2", "--ttl",
                         "7200", NULL),
                     0);
    out[strcspn(out, "\n")] = 0;
    hc_token_claims_t c;
    int64_t now = (int64_t)time(NULL);
    ck_assert_int_eq(hc_token_verify(out, strlen(out), (const uint8_t *)SIGTEST_SECRET,
                                     strlen(SIGTEST_SECRET), now, 0, &c),
                     0);
    ck_assert_int_eq(c.role, HC_SIG_ROLE_SITE);
    ck_assert_str_eq(c.session, "math-101");
    ck_assert_int_le(c.exp - now - 7200, 1);
    free(out);
    free(err);

    /* local: the key file as the relay keeps it (text plus a newline) */
    char path[] = "/tmp/hc-ctl-key-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *key = "local-secret-local-secret-local-secret-1234\n";
    ck_assert_int_eq(write(fd, key, strlen(key)), (ssize_t)strlen(key));
    close(fd);
    ck_assert_int_eq(ctl(&out, &err, "token", "--secret-file", path, "--role", "admin", "--sub",
                         "first admin", NULL),
                     0);
    out[strcspn(out, "\n")] = 0;
    ck_assert_int_eq(
        hc_token_verify(out, strlen(out), (const uint8_t *)key, strlen(key) - 1, now, 0, &c), 0);
    ck_assert_int_eq(c.role, HC_SIG_ROLE_ADMIN);
    ck_assert_str_eq(c.sub, "first admin");
    ck_assert_int_le(c.exp - now - 3600, 1);
    /* the relay does not know that key */
    char *out2, *err2;
    ck_assert_int_eq(ctl(&out2, &err2, "--url", url, "--token", out, "stats", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err2, "ESIGNATURE"));
    free(out2);
    free(err2);
    free(out);
    free(err);
    /* too short a key */
    fd = open(path, O_WRONLY | O_TRUNC);
    ck_assert_int_eq(write(fd, "short\n", 6), 6);
    close(fd);
    ck_assert_int_eq(ctl(&out, &err, "token", "--secret-file", path, "--role", "admin", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "must be 32"));
    free(out);
    free(err);
    unlink(path);
    /* --json */
    ck_assert_int_eq(ctl(&out, &err, "--json", "--url", url, "--token", admin_token, "token",
                         "--role", "admin", "--ttl", "60", NULL),
                     0);
    json_t *o = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert(json_is_string(json_object_get(o, "token")));
    ck_assert(json_integer_value(json_object_get(o, "expires_ms")) > now * 1000);
    json_decref(o);
    free(out);
    free(err);
}
END_TEST

START_TEST(errors_and_usage)
{
    char *out, *err;
    /* a site token may not use the admin API */
    char site[HC_TOKEN_MAX + 1];
    snprintf(site, sizeof site, "%s", sigtest_token(HC_SIG_ROLE_SITE, "math-101", NULL, 600, NULL));
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", site, "sessions", NULL), 1);
    ck_assert_str_eq(err, "hc-ctl: EPERM: role site may not send list_sessions\n");
    free(out);
    free(err);
    /* an expired token */
    char old[HC_TOKEN_MAX + 1];
    snprintf(old, sizeof old, "%s", sigtest_token(HC_SIG_ROLE_ADMIN, NULL, NULL, -600, NULL));
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", old, "stats", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "EEXPIRED"));
    free(out);
    free(err);
    /* the token from a file */
    char path[] = "/tmp/hc-ctl-tok-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_eq(write(fd, admin_token, strlen(admin_token)), (ssize_t)strlen(admin_token));
    ck_assert_int_eq(write(fd, "\n", 1), 1);
    close(fd);
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token-file", path, "stats", NULL), 0);
    free(out);
    free(err);
    unlink(path);
    /* nothing listening */
    ck_assert_int_eq(ctl(&out, &err, "--url", "ws://127.0.0.1:1", "--token", admin_token,
                         "--timeout", "2000", "stats", NULL),
                     1);
    ck_assert_ptr_nonnull(strstr(err, "ws://127.0.0.1:1"));
    free(out);
    free(err);
    /* no token */
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "stats", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "no token"));
    free(out);
    free(err);
    /* usage errors: exit 2, nothing sent */
    uint32_t before = st.messages;
    ck_assert_int_eq(ctl(&out, &err, NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "usage: hc-ctl"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--bogus", "stats", NULL), 2);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "frobnicate", NULL), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown command frobnicate"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--url", url, "--token", admin_token, "participants", NULL),
                     2);
    free(out);
    free(err);
    ck_assert_int_eq(
        ctl(&out, &err, "--url", url, "--token", admin_token, "kick", "bad id!", "p1", NULL), 2);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "token", "--role", "king", NULL), 2);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--insecure", "--ca", "x.pem", "stats", NULL), 2);
    free(out);
    free(err);
    ck_assert_uint_eq(st.messages, before);
    ck_assert_int_eq(ctl(&out, &err, "--help", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "commands:"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--version", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "hc-ctl "));
    free(out);
    free(err);
}
END_TEST

/* ---- the real hc-relay, driven by hc-ctl ---- */

static char rdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Start hc-relay -c path; stderr to <rdir>/relay.log. */
static pid_t relay_spawn(const char *path, int *status_if_exited)
{
    char bin[512], logp[512];
    snprintf(bin, sizeof bin, "%s/hc-relay", hc_test_bin_dir());
    snprintf(logp, sizeof logp, "%s/relay.log", rdir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, "hc-relay", "-c", path, (char *)NULL);
        _exit(127);
    }
    *status_if_exited = -1;
    return pid;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

START_TEST(relay_process)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-relay", hc_test_bin_dir());
    ck_assert_msg(access(bin, X_OK) == 0, "%s not built", bin);
    snprintf(rdir, sizeof rdir, "/tmp/hc-relay-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rdir));
    int port = free_port();
    char path[400], text[1024];
    snprintf(path, sizeof path, "%s/relay.ini", rdir);
    snprintf(text, sizeof text,
             "[relay]\nworkers = 2\npool_packets = 512\n"
             "[media]\nbind = 127.0.0.1\nport = 0\n"
             "[signaling]\nbind = 127.0.0.1\nport = %d\ntls = off\n"
             "[router]\nmax_legs = 64\nmax_instreams = 64\nmax_tracks = 256\n",
             port);
    write_file(path, text);
    int st_ = 0;
    pid_t pid = relay_spawn(path, &st_);
    /* up when /healthz answers */
    int status = 0;
    bool up = false;
    for (int t = 0; t < 300 && !up; t++) {
        char *hdr = NULL, *body = NULL;
        if (sigtest_http_get((uint16_t)port, "/healthz", &status, &hdr, &body) == 0)
            up = status == 200;
        free(hdr);
        free(body);
        if (!up) sigtest_sleep_ms(20);
    }
    ck_assert_msg(up, "hc-relay did not come up");
    /* the key it created at first start mints a working admin token */
    char key[400];
    snprintf(key, sizeof key, "%s/state/token.key", rdir);
    struct stat sb;
    ck_assert_int_eq(stat(key, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0600);
    char *tok, *err;
    ck_assert_int_eq(ctl(&tok, &err, "token", "--secret-file", key, "--role", "admin", NULL), 0);
    tok[strcspn(tok, "\n")] = 0;
    free(err);
    char u[64];
    snprintf(u, sizeof u, "ws://127.0.0.1:%d", port);
    char *out;
    ck_assert_int_eq(ctl(&out, &err, "--url", u, "--token", tok, "stats", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "sessions      0\n"));
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--url", u, "--token", tok, "sessions", NULL), 0);
    free(out);
    free(err);
    ck_assert_int_eq(ctl(&out, &err, "--url", u, "--token", tok, "participants", "none", NULL), 1);
    ck_assert_ptr_nonnull(strstr(err, "ENOTFOUND"));
    free(out);
    free(err);
    char *hdr = NULL, *body = NULL;
    ck_assert_int_eq(sigtest_http_get((uint16_t)port, "/metrics", &status, &hdr, &body), 0);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(strstr(body, "hc_relay_loop_busy_ratio{worker=\"1\"}"));
    ck_assert_ptr_nonnull(strstr(body, "hc_relay_signaling_rejects_total{cause=\"token\"} 0"));
    ck_assert_ptr_nonnull(strstr(body, "\nhc_relay_sessions 0\n"));
    free(hdr);
    free(body);
    free(tok);
    /* SIGHUP is ignored, SIGTERM stops it cleanly */
    kill(pid, SIGHUP);
    sigtest_sleep_ms(100);
    ck_assert_int_eq(waitpid(pid, &status, WNOHANG), 0);
    kill(pid, SIGTERM);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    char logp[400];
    snprintf(logp, sizeof logp, "%s/relay.log", rdir);
    char *log = slurp(logp);
    ck_assert_ptr_nonnull(strstr(log, "msg=\"relay started\""));
    ck_assert_ptr_nonnull(strstr(log, "msg=\"relay stopped\""));
    free(log);

    /* a bad configuration: exit 2, every problem named */
    write_file(path, "[signaling]\nport = 99999\ntls = perhaps\n[relay]\nworkerz = 1\n");
    pid = relay_spawn(path, &st_);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    log = slurp(logp);
    ck_assert_ptr_nonnull(
        strstr(log, "[signaling] port = \"99999\": expected an integer 0..65535"));
    ck_assert_ptr_nonnull(strstr(log, "[signaling] tls = \"perhaps\""));
    ck_assert_ptr_nonnull(strstr(log, "[relay] unknown key \"workerz\""));
    free(log);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", rdir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sessions_table_and_json);
    tcase_add_test(tc, participants_with_legs);
    tcase_add_test(tc, kick_close_budget);
    tcase_add_test(tc, stats_and_watch);
    tcase_add_test(tc, token_via_relay_and_local);
    tcase_add_test(tc, errors_and_usage);
    suite_add_tcase(s, tc);
    TCase *rp = tcase_create("relay_process");
    tcase_set_timeout(rp, 120);
    tcase_add_test(rp, relay_process);
    suite_add_tcase(s, rp);
    return s;
}

HC_TEST_MAIN(suite)
