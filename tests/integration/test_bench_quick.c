/*
 * test_bench_quick.c - `hc-bench encode --quick` runs to the end and its
 * last line is the JSON the issue asks for: {"bench":"encode",
 * "ratio_vs_ffmpeg":<number, or null without ffmpeg>, "rows":[...]}.
 * Only the shape is checked, never the figures: the machine's speed is not
 * the test's business.
 */
#include "tests/common/testutil.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

START_TEST(encode_quick_json)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/hc-bench' encode --quick", hc_test_bin_dir());
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char line[8192], last[8192] = "";
    size_t lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        if (line[0] == '{') snprintf(last, sizeof last, "%s", line);
    }
    int st = pclose(f);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "hc-bench encode --quick exited with %d",
                  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    ck_assert_msg(lines > 3, "only %zu lines on stdout", lines);
    ck_assert_msg(last[0] == '{', "no JSON line");
    /* it is the last line */
    ck_assert_str_eq(line, last);

    json_error_t je;
    json_t *j = json_loads(last, 0, &je);
    ck_assert_msg(j != NULL, "JSON: %s", je.text);
    ck_assert_str_eq(json_string_value(json_object_get(j, "bench")), "encode");
    json_t *r = json_object_get(j, "ratio_vs_ffmpeg");
    ck_assert_msg(r && (json_is_number(r) || json_is_null(r)), "ratio_vs_ffmpeg missing");
    json_t *rows = json_object_get(j, "rows");
    ck_assert(json_is_array(rows));
    ck_assert_uint_gt(json_array_size(rows), 0);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        ck_assert(json_is_string(json_object_get(row, "rung")));
        ck_assert(json_is_number(json_object_get(row, "ours_ms_per_frame")));
        ck_assert(json_is_number(json_object_get(row, "ffmpeg_ms_per_frame")));
    }
    json_decref(j);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bench_quick");
    TCase *tc = tcase_create("encode");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, encode_quick_json);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
