#include "proto/err.h"
#include "relay/ctlchan.h"
#include "tests/common/testutil.h"

#include <stdint.h>

#define MS 1000u

static hc_ctlchan_t *mk(uint32_t parties, uint32_t pending, uint32_t deadline_ms)
{
    hc_ctlchan_t *c = NULL;
    hc_ctlchan_cfg_t cfg = {
        .parties = parties, .max_pending = pending, .deadline_us = (uint64_t)deadline_ms * MS};
    ck_assert_int_eq(hc_ctlchan_new(&c, &cfg), 0);
    return c;
}

START_TEST(bad_cfg)
{
    hc_ctlchan_t *c = NULL;
    hc_ctlchan_cfg_t cfg = {.parties = 0, .max_pending = 4, .deadline_us = 1};
    ck_assert_int_eq(hc_ctlchan_new(&c, &cfg), -HC_EINVAL);
    cfg.parties = 2;
    cfg.deadline_us = 0;
    ck_assert_int_eq(hc_ctlchan_new(&c, &cfg), -HC_EINVAL);
    hc_ctlchan_destroy(&c); /* NULL is fine */
}
END_TEST

START_TEST(rtt_per_message)
{
    hc_ctlchan_t *c = mk(2, 16, 300);
    uint32_t to = 1;
    uint64_t rtt = 0;
    hc_ctlchan_event_t ev;
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 41, &to, 1, 1000 * MS), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 42, &to, 1, 1010 * MS), 0);
    ck_assert_uint_eq(hc_ctlchan_pending(c, 0), 2);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), 1300 * MS);
    ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, 41, 1086 * MS + 500, &rtt, &ev), 0);
    ck_assert_uint_eq(rtt, 86 * MS + 500);
    ck_assert_int_eq(ev.kind, HC_CTLCHAN_NONE);
    ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, 41, 1090 * MS, &rtt, &ev), -HC_ENOTFOUND);
    /* The ack must come from the receiver it went to. */
    ck_assert_int_eq(hc_ctlchan_ack(c, 0, 0, 42, 1090 * MS, &rtt, &ev), -HC_ENOTFOUND);
    ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, 42, 1050 * MS, &rtt, &ev), 0);
    ck_assert_uint_eq(rtt, 40 * MS);
    ck_assert_uint_eq(hc_ctlchan_pending(c, 0), 0);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), UINT64_MAX);
    ck_assert_int_eq(hc_ctlchan_ack(c, 5, 0, 1, 0, &rtt, &ev), -HC_EINVAL);
    hc_ctlchan_destroy(&c);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(order_per_sender)
{
    hc_ctlchan_t *c = mk(3, 16, 300);
    uint32_t to = 1;
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 0xfffffffeu, &to, 1, 0), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 0xfffffffeu, &to, 1, 0), -HC_EINVAL); /* replay */
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 5, &to, 1, 0), 0); /* wraps forward, gap allowed */
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 4, &to, 1, 0), -HC_EINVAL); /* older */
    ck_assert_int_eq(hc_ctlchan_check(c, 0, 6, 1), 0);
    /* Another sender has its own sequence space. */
    to = 0;
    ck_assert_int_eq(hc_ctlchan_send(c, 2, 4, &to, 1, 0), 0);
    /* Not to itself, nor to a party that does not exist. */
    ck_assert_int_eq(hc_ctlchan_send(c, 2, 5, (uint32_t[]){2}, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_ctlchan_send(c, 2, 5, (uint32_t[]){3}, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_ctlchan_check(c, 3, 1, 1), -HC_EINVAL);
    /* A reset party starts a fresh sequence. */
    hc_ctlchan_reset_party(c, 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 1, (uint32_t[]){1}, 1, 0), 0);
    hc_ctlchan_destroy(&c);
}
END_TEST

START_TEST(backlog_bounded)
{
    hc_ctlchan_t *c = mk(4, 8, 300);
    uint32_t all[3] = {1, 2, 3};
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 1, all, 3, 0), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 2, all, 3, 0), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 3, all, 3, 0), -HC_EFULL); /* 9 > 8 */
    ck_assert_uint_eq(hc_ctlchan_pending(c, 0), 6);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 3, all, 2, 0), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 4, all, 1, 0), -HC_EFULL);
    uint64_t rtt;
    ck_assert_int_eq(hc_ctlchan_ack(c, 2, 0, 1, 10, &rtt, NULL), 0);
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 4, all, 1, 0), 0);
    /* Leaving receivers free the sender's backlog. */
    hc_ctlchan_reset_party(c, 1);
    ck_assert_uint_eq(hc_ctlchan_pending(c, 0), 4);
    hc_ctlchan_destroy(&c);
}
END_TEST

/* The deadline alarm fires exactly once, and is restored exactly once when
 * the acks catch up. */
START_TEST(deadline_alarm_once)
{
    hc_ctlchan_t *c = mk(2, 256, 300);
    hc_ctlchan_event_t ev[4];
    uint32_t to = 1;
    uint64_t t = 5000 * MS, rtt;
    uint32_t seq = 100;
    ck_assert_int_eq(hc_ctlchan_send(c, 0, seq++, &to, 1, t), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, t + 299 * MS, ev, 4), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, t + 300 * MS, ev, 4), 1);
    ck_assert_int_eq(ev[0].kind, HC_CTLCHAN_LOST);
    ck_assert_uint_eq(ev[0].party, 1);
    ck_assert_uint_eq(ev[0].since_us, t);
    /* Lost receivers are not re-checked until something changes. */
    ck_assert_uint_eq(hc_ctlchan_next_due(c), UINT64_MAX);
    /* The sender keeps steering; polls during the outage stay quiet. */
    for (int i = 1; i <= 20; i++) {
        uint64_t at = t + 300 * MS + (uint64_t)i * 40 * MS;
        ck_assert_int_eq(hc_ctlchan_send(c, 0, seq++, &to, 1, at), 0);
        ck_assert_uint_eq(hc_ctlchan_poll(c, at + 10, ev, 4), 0);
    }
    /* Acks resume, in order. While overdue ones remain, still lost. */
    uint64_t now = t + 1100 * MS;
    hc_ctlchan_event_t e;
    ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, 100, now, &rtt, &e), 0);
    ck_assert_uint_eq(rtt, 1100 * MS);
    ck_assert_int_eq(e.kind, HC_CTLCHAN_NONE);
    int restored = 0;
    for (uint32_t s = 101; s < seq; s++) {
        ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, s, now, &rtt, &e), 0);
        if (e.kind == HC_CTLCHAN_RESTORED) {
            restored++;
            ck_assert_uint_eq(e.party, 1);
            /* Restored as soon as nothing left is older than the deadline:
             * the next one went out at t+300+40*(s+1-100) ms. */
            ck_assert_uint_gt(t + 300 * MS + 40 * MS * (s + 1 - 100) + 300 * MS, now);
            ck_assert_uint_le(t + 300 * MS + 40 * MS * (s - 100) + 300 * MS, now);
        }
    }
    ck_assert_int_eq(restored, 1);
    ck_assert_uint_eq(hc_ctlchan_poll(c, now + 1000 * MS, ev, 4), 0);
    hc_ctlchan_destroy(&c);
}
END_TEST

START_TEST(several_receivers)
{
    hc_ctlchan_t *c = mk(3, 32, 300);
    hc_ctlchan_event_t ev[4];
    uint32_t both[2] = {1, 2};
    uint64_t rtt;
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 1, both, 2, 0), 0);
    ck_assert_int_eq(hc_ctlchan_ack(c, 1, 0, 1, 20 * MS, &rtt, NULL), 0);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), 300 * MS);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 400 * MS, ev, 4), 1);
    ck_assert_uint_eq(ev[0].party, 2); /* only the silent one */
    /* Party 1 sends to party 2 too; it is already lost: no new alarm. */
    ck_assert_int_eq(hc_ctlchan_send(c, 1, 9, (uint32_t[]){2}, 1, 500 * MS), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 900 * MS, ev, 4), 0);
    /* Party 2 leaves: its lost state goes with it, nothing pending remains. */
    hc_ctlchan_reset_party(c, 2);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), 0); /* poll again at once */
    ck_assert_uint_eq(hc_ctlchan_poll(c, 901 * MS, ev, 4), 0);
    ck_assert_uint_eq(hc_ctlchan_pending(c, 0), 0);
    ck_assert_uint_eq(hc_ctlchan_pending(c, 1), 0);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), UINT64_MAX);
    hc_ctlchan_destroy(&c);
}
END_TEST

START_TEST(sender_leaves_restores)
{
    hc_ctlchan_t *c = mk(2, 8, 100);
    hc_ctlchan_event_t ev[2];
    ck_assert_int_eq(hc_ctlchan_send(c, 0, 1, (uint32_t[]){1}, 1, 0), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 100 * MS, ev, 2), 1);
    ck_assert_int_eq(ev[0].kind, HC_CTLCHAN_LOST);
    /* The waiting sender leaves: nothing is overdue any more. */
    hc_ctlchan_reset_party(c, 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 101 * MS, ev, 2), 1);
    ck_assert_int_eq(ev[0].kind, HC_CTLCHAN_RESTORED);
    ck_assert_uint_eq(ev[0].party, 1);
    /* An event that does not fit is reported by the next poll. */
    ck_assert_int_eq(hc_ctlchan_send(c, 1, 1, (uint32_t[]){0}, 1, 200 * MS), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 400 * MS, ev, 0), 0);
    ck_assert_uint_eq(hc_ctlchan_next_due(c), 0);
    ck_assert_uint_eq(hc_ctlchan_poll(c, 400 * MS, ev, 2), 1);
    ck_assert_uint_eq(ev[0].party, 0);
    hc_ctlchan_destroy(&c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_ctlchan");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bad_cfg);
    tcase_add_test(tc, rtt_per_message);
    tcase_add_test(tc, order_per_sender);
    tcase_add_test(tc, backlog_bounded);
    tcase_add_test(tc, deadline_alarm_once);
    tcase_add_test(tc, several_receivers);
    tcase_add_test(tc, sender_leaves_restores);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
