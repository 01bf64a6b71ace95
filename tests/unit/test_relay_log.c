/*
 * Unit tests of relay/log.h: the line format (logfmt), quoting, levels,
 * and the rate-limited helper.
 */
#include "relay/log.h"

#include "proto/err.h"
#include "tests/common/testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2];

static void setup(void)
{
    ck_assert_int_eq(pipe2(pipefd, O_NONBLOCK), 0);
    hc_log_set_fd(pipefd[1]);
    hc_log_set_level(HC_LOG_INFO);
}

static void teardown(void)
{
    hc_log_set_fd(-1);
    close(pipefd[0]);
    close(pipefd[1]);
}

/* Everything logged since the last call. */
static const char *drain(void)
{
    static char buf[65536];
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

START_TEST(line_format)
{
    hc_log_info("relay started", "workers=%d port=%u", 2, 5004u);
    const char *l = drain();
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ level=info msg="relay started" workers=2 port=5004\n */
    ck_assert_int_eq(strncmp(l, "ts=", 3), 0);
    ck_assert_uint_eq(strlen(l), 3 + 24 +
                                     strlen(" level=info msg=\"relay started\" workers=2 "
                                            "port=5004\n"));
    ck_assert_int_eq(l[7], '-');
    ck_assert_int_eq(l[13], 'T');
    ck_assert_int_eq(l[26], 'Z');
    ck_assert_str_eq(l + 27, " level=info msg=\"relay started\" workers=2 port=5004\n");
    hc_log_warn("no fields", NULL);
    ck_assert_str_eq(drain() + 27, " level=warn msg=\"no fields\"\n");
    /* a newline smuggled into a value cannot split the line */
    hc_log_error("x", "v=%s", "a\nb");
    l = drain();
    ck_assert_str_eq(l + 27, " level=error msg=\"x\" v=a b\n");
}
END_TEST

START_TEST(levels)
{
    hc_log_set_level(HC_LOG_WARN);
    hc_log_info("hidden", NULL);
    hc_log_debug("hidden", NULL);
    ck_assert_str_eq(drain(), "");
    hc_log_warn("shown", NULL);
    ck_assert_ptr_nonnull(strstr(drain(), "level=warn"));
    hc_log_level_t lv;
    ck_assert_int_eq(hc_log_level_parse("debug", &lv), 0);
    ck_assert_int_eq(lv, HC_LOG_DEBUG);
    ck_assert_int_eq(hc_log_level_parse("error", &lv), 0);
    ck_assert_int_eq(lv, HC_LOG_ERROR);
    ck_assert_int_eq(hc_log_level_parse("Info", &lv), -HC_EINVAL);
    ck_assert_int_eq(hc_log_level_parse(NULL, &lv), -HC_EINVAL);
    ck_assert_str_eq(hc_log_level_name(HC_LOG_INFO), "info");
    hc_log_set_level(HC_LOG_DEBUG);
    ck_assert_int_eq(hc_log_get_level(), HC_LOG_DEBUG);
    hc_log_debug("now shown", NULL);
    ck_assert_ptr_nonnull(strstr(drain(), "level=debug"));
}
END_TEST

START_TEST(quoting)
{
    char b[64];
    ck_assert_str_eq(hc_log_q(b, sizeof b, "plain-token_1.2:3"), "plain-token_1.2:3");
    ck_assert_str_eq(hc_log_q(b, sizeof b, "two words"), "\"two words\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, ""), "\"\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, NULL), "\"\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, "a=b"), "\"a=b\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, "say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, "l1\nl2\t\x01"), "\"l1\\nl2\\t\\x01\"");
    ck_assert_str_eq(hc_log_q(b, sizeof b, "东乡二中"), "\"东乡二中\"");
    /* truncation keeps the quotes balanced and the buffer terminated */
    char small[8];
    hc_log_q(small, sizeof small, "a long value with spaces");
    ck_assert_uint_lt(strlen(small), sizeof small);
    ck_assert_int_eq(small[0], '"');
    ck_assert_int_eq(small[strlen(small) - 1], '"');
    /* the message is always quoted */
    hc_log_info("single", NULL);
    ck_assert_str_eq(drain() + 27, " level=info msg=\"single\"\n");
}
END_TEST

START_TEST(rate_limited)
{
    hc_log_limit_t l = HC_LOG_LIMIT(3, 200);
    int shown = 0;
    for (int i = 0; i < 10; i++) shown += hc_log_rl(&l, HC_LOG_WARN, "flood", "i=%d", i);
    ck_assert_int_eq(shown, 3);
    const char *out = drain();
    ck_assert_ptr_nonnull(strstr(out, "i=0\n"));
    ck_assert_ptr_nonnull(strstr(out, "i=2\n"));
    ck_assert_ptr_null(strstr(out, "i=3"));
    usleep(250 * 1000);
    ck_assert(hc_log_rl(&l, HC_LOG_WARN, "flood", "i=%d", 10));
    ck_assert_ptr_nonnull(strstr(drain(), "i=10 suppressed=7\n"));
    ck_assert(hc_log_rl(&l, HC_LOG_WARN, "flood", "i=%d", 11));
    ck_assert_ptr_null(strstr(drain(), "suppressed"));
    /* below the level: not counted as suppressed either */
    hc_log_set_level(HC_LOG_ERROR);
    ck_assert(!hc_log_rl(&l, HC_LOG_WARN, "flood", NULL));
    ck_assert_uint_eq(l.suppressed, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_log");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, line_format);
    tcase_add_test(tc, levels);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, rate_limited);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
