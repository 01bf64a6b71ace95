/*
 * testutil.h - small helpers shared by the Check suites.
 *
 * HC_TEST_MAIN(suite_fn) defines main() that runs one suite and returns
 * failure when any test fails, so ctest sees it.
 */
#ifndef HC_TESTS_TESTUTIL_H
#define HC_TESTS_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Decode hex text (spaces and newlines ignored) into buf; returns bytes or -1. */
int hc_test_hex(const char *hex, uint8_t *buf, size_t cap);

/* Deterministic pseudo-random generator for tests (xorshift64*). */
uint64_t hc_test_rand(uint64_t *state);

/* Directory of the shared cellular traces, or NULL when absent.
 * HC_TRACES_DIR overrides; otherwise <source>/../shared/traces. */
const char *hc_test_traces_dir(void);

/* Path of the build tree's tool binaries (HC_BIN_DIR at compile time). */
const char *hc_test_bin_dir(void);

int hc_test_run_suite(Suite *s);

#define HC_TEST_MAIN(suite_fn)                                                                     \
    int main(void)                                                                                 \
    {                                                                                              \
        return hc_test_run_suite(suite_fn());                                                      \
    }

#endif
