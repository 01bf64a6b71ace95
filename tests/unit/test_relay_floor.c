#include "proto/err.h"
#include "relay/floor.h"
#include "tests/common/testutil.h"

START_TEST(hands_in_order)
{
    uint32_t st[3];
    hc_floor_t f;
    hc_floor_init(&f, st, 3);
    ck_assert_int_eq(hc_floor_raise(&f, 7), 1);
    ck_assert_int_eq(hc_floor_raise(&f, 7), 0); /* already up: no second event */
    ck_assert_int_eq(hc_floor_raise(&f, 3), 1);
    ck_assert_int_eq(hc_floor_raise(&f, 9), 1);
    ck_assert_int_eq(hc_floor_raise(&f, 4), -HC_EFULL);
    ck_assert_int_eq(hc_floor_raise(&f, 0), -HC_EINVAL);
    ck_assert(hc_floor_hand(&f, 3));
    ck_assert(!hc_floor_hand(&f, 4));
    ck_assert(!hc_floor_hand(&f, 0));
    ck_assert_int_eq(hc_floor_lower(&f, 3), 1);
    ck_assert_int_eq(hc_floor_lower(&f, 3), 0);
    ck_assert_uint_eq(f.n_hands, 2);
    ck_assert_uint_eq(f.hands[0], 7); /* raise order kept */
    ck_assert_uint_eq(f.hands[1], 9);
    ck_assert_int_eq(hc_floor_raise(&f, 4), 1);
    ck_assert_uint_eq(f.hands[2], 4);
}
END_TEST

START_TEST(grant_revoke)
{
    uint32_t st[8];
    hc_floor_t f;
    hc_floor_init(&f, st, 8);
    uint32_t prev = 99;
    ck_assert_uint_eq(hc_floor_holder(&f), 0);
    ck_assert_int_eq(hc_floor_revoke(&f, 0, &prev), -HC_ENOTFOUND);
    hc_floor_raise(&f, 7);
    ck_assert_int_eq(hc_floor_grant(&f, 7, &prev), HC_FLOOR_MOVED | HC_FLOOR_LOWERED);
    ck_assert_uint_eq(prev, 0);
    ck_assert_uint_eq(hc_floor_holder(&f), 7);
    ck_assert(!hc_floor_hand(&f, 7));
    ck_assert_int_eq(hc_floor_grant(&f, 7, &prev), 0); /* no change */
    ck_assert_int_eq(hc_floor_grant(&f, 0, &prev), -HC_EINVAL);
    /* Replacing the holder. */
    ck_assert_int_eq(hc_floor_grant(&f, 8, &prev), HC_FLOOR_MOVED);
    ck_assert_uint_eq(prev, 7);
    /* The guard: revoking someone else than the holder fails. */
    ck_assert_int_eq(hc_floor_revoke(&f, 7, &prev), -HC_ENOTFOUND);
    ck_assert_uint_eq(hc_floor_holder(&f), 8);
    ck_assert_int_eq(hc_floor_revoke(&f, 8, &prev), HC_FLOOR_MOVED);
    ck_assert_uint_eq(prev, 8);
    ck_assert_uint_eq(hc_floor_holder(&f), 0);
    ck_assert_int_eq(hc_floor_grant(&f, 5, NULL), HC_FLOOR_MOVED);
    ck_assert_int_eq(hc_floor_revoke(&f, 0, NULL), HC_FLOOR_MOVED);
}
END_TEST

START_TEST(holder_leaves)
{
    uint32_t st[4];
    hc_floor_t f;
    hc_floor_init(&f, st, 4);
    hc_floor_raise(&f, 2);
    hc_floor_grant(&f, 3, NULL);
    ck_assert_int_eq(hc_floor_remove(&f, 2), HC_FLOOR_LOWERED);
    ck_assert_int_eq(hc_floor_remove(&f, 4), 0);
    ck_assert_int_eq(hc_floor_remove(&f, 3), HC_FLOOR_MOVED);
    ck_assert_uint_eq(hc_floor_holder(&f), 0);
    ck_assert_int_eq(hc_floor_remove(&f, 0), 0);
    /* No storage: every raise is refused, nothing breaks. */
    hc_floor_init(&f, NULL, 5);
    ck_assert_int_eq(hc_floor_raise(&f, 1), -HC_EFULL);
    ck_assert_int_eq(hc_floor_grant(&f, 1, NULL), HC_FLOOR_MOVED);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_floor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hands_in_order);
    tcase_add_test(tc, grant_revoke);
    tcase_add_test(tc, holder_leaves);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
