/*
 * Unit tests of relay/ratelimit.h: the token bucket's rate and burst in
 * simulated time, and the per-address connection table against a model.
 */
#include "relay/ratelimit.h"

#include "proto/err.h"
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(bucket_burst_then_rate)
{
    hc_rate_t b;
    uint64_t t = 1000000;
    hc_rate_init(&b, 10, 20, t);
    int ok = 0;
    for (int i = 0; i < 100; i++) ok += hc_rate_take(&b, t);
    ck_assert_int_eq(ok, 20); /* the burst */
    /* then 10 per second, whatever the call pattern */
    ok = 0;
    for (int ms = 1; ms <= 10000; ms++) {
        t += 1000;
        while (hc_rate_take(&b, t)) ok++;
    }
    ck_assert_int_eq(ok, 100);
    /* refills to the burst, not beyond */
    t += 3600ull * 1000000;
    ok = 0;
    while (hc_rate_take(&b, t)) ok++;
    ck_assert_int_eq(ok, 20);
}
END_TEST

START_TEST(bucket_fractions_do_not_drift)
{
    hc_rate_t b;
    uint64_t t = 0;
    hc_rate_init(&b, 3, 1, t);
    ck_assert(hc_rate_take(&b, t));
    int ok = 0;
    /* 1 ms steps: each adds 3 thousandths of a token; nothing may be lost */
    for (int i = 0; i < 60000; i++) {
        t += 1000;
        ok += hc_rate_take(&b, t);
    }
    ck_assert_int_ge(ok, 179);
    ck_assert_int_le(ok, 180);
    /* odd steps */
    hc_rate_init(&b, 7, 7, 0);
    for (int i = 0; i < 7; i++) ck_assert(hc_rate_take(&b, 0));
    ck_assert(!hc_rate_take(&b, 0));
    uint64_t st = 1;
    ok = 0;
    t = 0;
    for (int i = 0; i < 100000; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        t += 1 + (st >> 60) * 37; /* 1..556 us */
        ok += hc_rate_take(&b, t);
    }
    double want = (double)t / 1e6 * 7;
    ck_assert_msg(ok >= want - 1.5 && ok <= want + 1, "%d tokens in %.3f s", ok, t / 1e6);
}
END_TEST

START_TEST(bucket_unlimited_and_clock_back)
{
    hc_rate_t b;
    hc_rate_init(&b, 0, 0, 5);
    for (int i = 0; i < 1000; i++) ck_assert(hc_rate_take(&b, 5));
    hc_rate_init(&b, 1, 1, 1000000);
    ck_assert(hc_rate_take(&b, 1000000));
    ck_assert(!hc_rate_take(&b, 500000)); /* time going back adds nothing */
    ck_assert(!hc_rate_take(&b, 1999999));
    ck_assert(hc_rate_take(&b, 2000000));
}
END_TEST

static hc_addr_t ip4(const char *s, uint16_t port)
{
    char t[64];
    snprintf(t, sizeof t, "%s:%u", s, port);
    hc_addr_t a;
    ck_assert_int_eq(hc_addr_parse(t, &a), 0);
    return a;
}

START_TEST(iptable_limits)
{
    hc_iptable_t *t = NULL;
    ck_assert_int_eq(hc_iptable_new(&t, 0, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_iptable_new(&t, 3, 1), 0);
    hc_addr_t a = ip4("10.0.0.1", 1000), a2 = ip4("10.0.0.1", 2000), b = ip4("10.0.0.2", 1000);
    ck_assert_int_eq(hc_iptable_add(t, &a, 2), 0);
    ck_assert_int_eq(hc_iptable_add(t, &a2, 2), 0); /* same address, other port */
    ck_assert_int_eq(hc_iptable_add(t, &a, 2), -HC_ERANGE);
    ck_assert_uint_eq(hc_iptable_count(t, &a2), 2);
    ck_assert_int_eq(hc_iptable_add(t, &b, 2), 0);
    ck_assert_uint_eq(hc_iptable_size(t), 2);
    hc_addr_t c = ip4("10.0.0.3", 1), d = ip4("10.0.0.4", 1);
    ck_assert_int_eq(hc_iptable_add(t, &c, 0), 0);
    ck_assert_int_eq(hc_iptable_add(t, &d, 0), -HC_EFULL); /* capacity 3 addresses */
    hc_iptable_remove(t, &c);
    ck_assert_uint_eq(hc_iptable_count(t, &c), 0);
    ck_assert_int_eq(hc_iptable_add(t, &d, 0), 0);
    hc_iptable_remove(t, &a);
    ck_assert_uint_eq(hc_iptable_count(t, &a), 1);
    hc_iptable_remove(t, &a);
    hc_iptable_remove(t, &a); /* unknown: no-op */
    ck_assert_uint_eq(hc_iptable_size(t), 2);
    /* IPv6 */
    hc_addr_t v6;
    ck_assert_int_eq(hc_addr_parse("[2001:db8::1]:443", &v6), 0);
    ck_assert_int_eq(hc_iptable_add(t, &v6, 1), 0);
    ck_assert_int_eq(hc_iptable_add(t, &v6, 1), -HC_ERANGE);
    hc_iptable_destroy(&t);
    ck_assert_ptr_null(t);
    hc_iptable_destroy(&t);
}
END_TEST

START_TEST(iptable_against_model)
{
    enum { N = 64, CAP = 40 };
    hc_iptable_t *t = NULL;
    ck_assert_int_eq(hc_iptable_new(&t, CAP, 7), 0);
    uint32_t model[N] = {0};
    uint64_t st = 42;
    for (int step = 0; step < 200000; step++) {
        unsigned i = (unsigned)(hc_test_rand(&st) % N);
        char ip[32];
        snprintf(ip, sizeof ip, "192.168.%u.%u", i / 8, i % 8);
        hc_addr_t a = ip4(ip, (uint16_t)step);
        uint32_t distinct = 0;
        for (int k = 0; k < N; k++) distinct += model[k] != 0;
        if (hc_test_rand(&st) % 2) {
            int rc = hc_iptable_add(t, &a, 5);
            if (model[i] >= 5)
                ck_assert_int_eq(rc, -HC_ERANGE);
            else if (!model[i] && distinct >= CAP)
                ck_assert_int_eq(rc, -HC_EFULL);
            else {
                ck_assert_int_eq(rc, 0);
                model[i]++;
            }
        } else {
            hc_iptable_remove(t, &a);
            if (model[i]) model[i]--;
        }
        ck_assert_uint_eq(hc_iptable_count(t, &a), model[i]);
    }
    uint32_t distinct = 0;
    for (int k = 0; k < N; k++) distinct += model[k] != 0;
    ck_assert_uint_eq(hc_iptable_size(t), distinct);
    hc_iptable_destroy(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_ratelimit");
    TCase *tc = tcase_create("all");
    tcase_add_test(tc, bucket_burst_then_rate);
    tcase_add_test(tc, bucket_fractions_do_not_drift);
    tcase_add_test(tc, bucket_unlimited_and_clock_back);
    tcase_add_test(tc, iptable_limits);
    tcase_add_test(tc, iptable_against_model);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
