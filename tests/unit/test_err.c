#include "proto/err.h"
#include "tests/common/testutil.h"

#include <string.h>

START_TEST(every_code_has_text)
{
    for (int c = 0; c < HC_ERR_COUNT; c++) {
        ck_assert_ptr_nonnull(hc_strerror(c));
        ck_assert_str_ne(hc_strerror(c), "unknown error");
        ck_assert_str_eq(hc_strerror(c), hc_strerror(-c));
        ck_assert_str_ne(hc_errname(c), "EUNKNOWN");
    }
}
END_TEST

START_TEST(unknown_codes)
{
    ck_assert_str_eq(hc_strerror(HC_ERR_COUNT), "unknown error");
    ck_assert_str_eq(hc_strerror(-100000), "unknown error");
    ck_assert_str_eq(hc_errname(123456), "EUNKNOWN");
    ck_assert_str_eq(hc_errname(-HC_ETRUNC), "ETRUNC");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, every_code_has_text);
    tcase_add_test(tc, unknown_codes);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
