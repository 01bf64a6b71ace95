#include "proto/err.h"
#include "proto/rxstats.h"
#include "tests/common/testutil.h"

#include <math.h>
#include <string.h>

/* Feed seq with a timestamp and arrival that keep transit constant, so
 * jitter stays 0 unless a test wants otherwise (8 kHz, 20 ms packets). */
static int feed(hc_rxstats_t *st, uint16_t seq)
{
    return hc_rxstats_update(st, seq, (uint32_t)seq * 160u, (uint64_t)seq * 20000u);
}

START_TEST(args)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    ck_assert_int_eq(hc_rxstats_init(NULL, 8000), -HC_EINVAL);
    ck_assert_int_eq(hc_rxstats_init(&st, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_rxstats_update(NULL, 1, 1, 1), -HC_EINVAL);
    memset(&st, 0, sizeof(st)); /* not initialised: clock rate 0 */
    ck_assert_int_eq(hc_rxstats_update(&st, 1, 1, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rxstats_init(&st, 8000), 0);
    ck_assert_int_eq(hc_rxstats_report(NULL, &r), -HC_EINVAL);
    ck_assert_int_eq(hc_rxstats_peek(&st, NULL), -HC_EINVAL);
    /* nothing counted yet: no report block */
    ck_assert_int_eq(hc_rxstats_report(&st, &r), -HC_EAGAIN);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), -HC_EAGAIN);
}
END_TEST

START_TEST(probation)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    /* A.1: MIN_SEQUENTIAL = 2, the first packet is not counted */
    ck_assert_int_eq(feed(&st, 100), 0);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), -HC_EAGAIN);
    /* out of sequence: probation starts again from 500 */
    ck_assert_int_eq(feed(&st, 500), 0);
    ck_assert_int_eq(feed(&st, 502), 0);
    ck_assert_int_eq(feed(&st, 503), 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 503);
    ck_assert_uint_eq(r.expected, 1);
    ck_assert_uint_eq(r.received, 1);
    ck_assert_int_eq(r.cumulative_lost, 0);
    ck_assert_uint_eq(r.fraction_lost, 0);
    ck_assert_int_eq(feed(&st, 504), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 504);
    ck_assert_uint_eq(r.received, 2);
}
END_TEST

START_TEST(probation_across_wrap)
{
    /* 65535 then 0 is in sequence (the RFC's C code compares in int and
     * would miss it) */
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    ck_assert_int_eq(feed(&st, 65535), 0);
    ck_assert_int_eq(feed(&st, 0), 1);
    ck_assert_int_eq(feed(&st, 1), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 1);
    ck_assert_uint_eq(r.expected, 2);
    ck_assert_uint_eq(r.received, 2);
}
END_TEST

START_TEST(wrap_counts_cycles)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    ck_assert_int_eq(feed(&st, 65533), 0);
    ck_assert_int_eq(feed(&st, 65534), 1);
    ck_assert_int_eq(feed(&st, 65535), 1);
    ck_assert_int_eq(feed(&st, 0), 1);
    ck_assert_int_eq(feed(&st, 1), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    /* §6.4.1: cycles in the high 16 bits, max_seq in the low 16 */
    ck_assert_uint_eq(r.ext_highest_seq, 0x00010001);
    ck_assert_uint_eq(r.expected, 4);
    ck_assert_uint_eq(r.received, 4);
    ck_assert_int_eq(r.cumulative_lost, 0);
    /* a late packet from before the wrap is counted, max unchanged */
    ck_assert_int_eq(feed(&st, 65535), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 0x00010001);
    ck_assert_uint_eq(r.received, 5);
    ck_assert_int_eq(r.cumulative_lost, -1); /* duplicates make loss negative */
    /* reorder across the wrap with a gap: 2 lost then arrives late */
    ck_assert_int_eq(feed(&st, 3), 1);
    ck_assert_int_eq(feed(&st, 2), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 0x00010003);
}
END_TEST

/* 101 starts counting; 102..200 arrive except every seq ending in 5:
 * expected 100, received 90, lost 10, fraction 10 * 256 / 100 = 25.
 * Next interval 201..250 loses 210 and 220: fraction 2 * 256 / 50 = 10. */
START_TEST(loss_pattern)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    ck_assert_int_eq(feed(&st, 100), 0);
    ck_assert_int_eq(feed(&st, 101), 1);
    for (int s = 102; s <= 200; s++)
        if (s % 10 != 5) ck_assert_int_eq(feed(&st, (uint16_t)s), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 25);
    /* peek does not advance the interval */
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 25);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 25);
    ck_assert_int_eq(r.cumulative_lost, 10);
    ck_assert_uint_eq(r.expected, 100);
    ck_assert_uint_eq(r.received, 90);
    ck_assert_uint_eq(r.ext_highest_seq, 200);

    for (int s = 201; s <= 250; s++)
        if (s != 210 && s != 220) ck_assert_int_eq(feed(&st, (uint16_t)s), 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 10);
    ck_assert_int_eq(r.cumulative_lost, 12);
    ck_assert_uint_eq(r.ext_highest_seq, 250);

    /* an interval with nothing new: fraction 0 */
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 0);
    ck_assert_int_eq(r.cumulative_lost, 12);

    /* duplicates in an interval do not make the fraction negative */
    ck_assert_int_eq(feed(&st, 251), 1);
    ck_assert_int_eq(feed(&st, 251), 1);
    ck_assert_int_eq(feed(&st, 250), 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 0);
    ck_assert_int_eq(r.cumulative_lost, 10);
}
END_TEST

START_TEST(heavy_loss_fraction)
{
    /* one received out of 256 expected in the interval */
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    feed(&st, 0);
    feed(&st, 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_int_eq(feed(&st, 257), 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_uint_eq(r.fraction_lost, 255); /* 255 * 256 / 256 */
    ck_assert_int_eq(r.cumulative_lost, 255);
}
END_TEST

START_TEST(dropout_and_misorder_limits)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    feed(&st, 999);
    ck_assert_int_eq(feed(&st, 1000), 1);
    /* a forward jump just under MAX_DROPOUT is a gap */
    ck_assert_int_eq(feed(&st, 1000 + 2999), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_int_eq(r.cumulative_lost, 2998);
    ck_assert_uint_eq(r.ext_highest_seq, 3999);
    /* MAX_DROPOUT ahead is a bad sequence number */
    ck_assert_int_eq(feed(&st, 3999 + 3000), 0);
    /* 99 behind is a late packet; MAX_MISORDER (100) behind is already a
     * bad sequence number (A.1: udelta <= RTP_SEQ_MOD - MAX_MISORDER) */
    ck_assert_int_eq(feed(&st, 3999 - 99), 1);
    ck_assert_int_eq(feed(&st, 3999 - 100), 0);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 3999);
    ck_assert_uint_eq(r.received, 3);
}
END_TEST

START_TEST(restart_resyncs)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    feed(&st, 999);
    for (int s = 1000; s <= 1010; s++) ck_assert_int_eq(feed(&st, (uint16_t)s), 1);
    /* one stray packet far away is dropped and changes nothing */
    ck_assert_int_eq(feed(&st, 30000), 0);
    ck_assert_int_eq(feed(&st, 1011), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 1011);
    ck_assert_uint_eq(r.received, 12);
    /* the sender restarts at 40000: the first packet is bad, the next one in
     * sequence with it resyncs (A.1) and counts as the first packet */
    ck_assert_int_eq(feed(&st, 40000), 0);
    ck_assert_int_eq(feed(&st, 40001), 1);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.ext_highest_seq, 40001);
    ck_assert_uint_eq(r.expected, 1);
    ck_assert_uint_eq(r.received, 1);
    ck_assert_int_eq(r.cumulative_lost, 0);
    ck_assert_int_eq(feed(&st, 40002), 1);
    ck_assert_int_eq(feed(&st, 40004), 1);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_int_eq(r.cumulative_lost, 1);
    ck_assert_uint_eq(r.fraction_lost, 64); /* 1 * 256 / 4 */
}
END_TEST

/* Hand-calculated A.8 jitter at 8 kHz (1 unit = 125 us):
 *   pkt  ts   arrival   arrival(units)  transit  |D|  J*16 (integer form)
 *   1    160  20000 us  160             0        -    (baseline)
 *   2    320  41000 us  328             8        8    0 + 8 - (8>>4)=8
 *   3    480  60000 us  480             0        8    8 + 8 - (16>>4)=15
 *   4    640  82500 us  660             20       20   15 + 20 - (23>>4)=34
 * reported jitter = 34 >> 4 = 2; the floating form gives 2.158. */
START_TEST(jitter_hand_calculated)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    ck_assert_int_eq(hc_rxstats_update(&st, 10, 0, 0), 0); /* probation */
    ck_assert_int_eq(hc_rxstats_update(&st, 11, 160, 20000), 1);
    ck_assert_int_eq(hc_rxstats_update(&st, 12, 320, 41000), 1);
    ck_assert_uint_eq(st.jitter_q4, 8);
    ck_assert_int_eq(hc_rxstats_update(&st, 13, 480, 60000), 1);
    ck_assert_uint_eq(st.jitter_q4, 15);
    ck_assert_int_eq(hc_rxstats_update(&st, 14, 640, 82500), 1);
    ck_assert_uint_eq(st.jitter_q4, 34);
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_eq(r.jitter, 2);

    /* the floating-point form of A.8 agrees */
    double j = 0;
    const double transit[] = {0, 8, 0, 20};
    for (int i = 1; i < 4; i++) j += (fabs(transit[i] - transit[i - 1]) - j) / 16.0;
    ck_assert_uint_eq(r.jitter, (uint32_t)j);
}
END_TEST

/* Transit alternating by 40 units (5 ms at 8 kHz) converges to jitter 40;
 * constant transit keeps it 0; also across a timestamp wrap at 90 kHz. */
START_TEST(jitter_converges)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    for (int i = 0; i < 400; i++) {
        uint64_t arr = (uint64_t)i * 20000 + ((i & 1) ? 5000 : 0);
        hc_rxstats_update(&st, (uint16_t)(5000 + i), (uint32_t)i * 160, arr);
    }
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_ge(r.jitter, 39);
    ck_assert_uint_le(r.jitter, 40);

    hc_rxstats_init(&st, 90000);
    uint32_t ts0 = 0xffffffffu - 90000; /* wraps after one second */
    for (int i = 0; i < 300; i++) {
        uint64_t arr = 1000000000ull + (uint64_t)i * 33333;
        uint32_t ts = ts0 + (uint32_t)((uint64_t)i * 33333 * 90 / 1000);
        ck_assert_int_ge(hc_rxstats_update(&st, (uint16_t)(65000 + i), ts, arr), 0);
    }
    ck_assert_int_eq(hc_rxstats_peek(&st, &r), 0);
    ck_assert_uint_le(r.jitter, 1);
}
END_TEST

START_TEST(cumulative_lost_clamps)
{
    hc_rxstats_t st;
    hc_rxstats_report_t r;
    hc_rxstats_init(&st, 8000);
    uint16_t s = 0;
    feed(&st, s++);
    feed(&st, s);
    /* 3000 gaps of 2998 lost each: about 9 million > 0x7fffff */
    for (int i = 0; i < 3000; i++) {
        s = (uint16_t)(s + 2999);
        ck_assert_int_eq(feed(&st, s), 1);
    }
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_int_eq(r.cumulative_lost, 0x7fffff);
    ck_assert_uint_eq(r.expected, 3000ull * 2999 + 1);

    /* duplicates beyond 2^23 clamp at -0x800000 */
    hc_rxstats_init(&st, 8000);
    feed(&st, 0);
    feed(&st, 1);
    for (int i = 0; i < 0x800001; i++) hc_rxstats_update(&st, 1, 160, 20000);
    ck_assert_int_eq(hc_rxstats_report(&st, &r), 0);
    ck_assert_int_eq(r.cumulative_lost, -0x800000);
    ck_assert_uint_eq(r.fraction_lost, 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rxstats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, args);
    tcase_add_test(tc, probation);
    tcase_add_test(tc, probation_across_wrap);
    tcase_add_test(tc, wrap_counts_cycles);
    tcase_add_test(tc, loss_pattern);
    tcase_add_test(tc, heavy_loss_fraction);
    tcase_add_test(tc, dropout_and_misorder_limits);
    tcase_add_test(tc, restart_resyncs);
    tcase_add_test(tc, jitter_hand_calculated);
    tcase_add_test(tc, jitter_converges);
    tcase_add_test(tc, cumulative_lost_clamps);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
