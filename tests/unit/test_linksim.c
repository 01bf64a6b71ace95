/*
 * Tests of the simulated bottleneck (proto/linksim.h): serialisation at a
 * rate and by a Mahimahi trace, propagation delay, drop-tail bounds,
 * seeded loss, outages, capacity accounting, queuing-delay quantiles,
 * counters that add up, and the trace parser (vectors, errors, every
 * truncated length).
 */
#include "proto/err.h"
#include "proto/linksim.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000ull
#define S  1000000ull

static hc_linksim_t *mk(uint64_t delay, uint64_t qbytes, double loss, uint64_t seed)
{
    hc_linksim_cfg_t c = {.delay_us = delay, .queue_bytes = qbytes, .loss = loss, .seed = seed};
    hc_linksim_t *l = NULL;
    ck_assert_int_eq(hc_linksim_new(&l, &c), 0);
    return l;
}

/* Poll everything up to `until`; returns the count and copies packets. */
static size_t poll_all(hc_linksim_t *l, uint64_t until, hc_linksim_pkt_t *out, size_t max)
{
    size_t n = 0;
    hc_linksim_pkt_t p;
    while (hc_linksim_poll(l, until, &p) == 1) {
        if (n < max) out[n] = p;
        n++;
    }
    return n;
}

START_TEST(rate_serialises_and_delays)
{
    hc_linksim_t *l = mk(50 * MS, 0, 0, 1);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 1000000), 0);
    /* Five 1000-byte packets at once: 8 ms each at 1 Mbit/s. */
    for (uint64_t i = 0; i < 5; i++) ck_assert_int_eq(hc_linksim_send(l, 0, i, 1000), 1);
    ck_assert_uint_eq(hc_linksim_queue_bytes(l), 5000);
    ck_assert_uint_eq(hc_linksim_next(l), 8 * MS);
    hc_linksim_pkt_t p[8];
    ck_assert_uint_eq(poll_all(l, 57 * MS, p, 8), 0); /* nothing before 58 ms */
    ck_assert_uint_eq(poll_all(l, 200 * MS, p, 8), 5);
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(p[i].id, i);
        ck_assert_uint_eq(p[i].t_dep, 8 * MS * (i + 1));
        ck_assert_uint_eq(p[i].t_out, p[i].t_dep + 50 * MS);
        ck_assert_uint_eq(p[i].qdelay_us, p[i].t_dep);
    }
    ck_assert_uint_eq(hc_linksim_next(l), UINT64_MAX);
    ck_assert_uint_eq(hc_linksim_queue_bytes(l), 0);
    /* After an idle time the link starts afresh. */
    ck_assert_int_eq(hc_linksim_send(l, 1 * S, 9, 500), 1);
    ck_assert_uint_eq(poll_all(l, 2 * S, p, 8), 1);
    ck_assert_uint_eq(p[0].t_dep, 1 * S + 4 * MS);
    hc_linksim_destroy(&l);
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(rate_steps)
{
    hc_linksim_t *l = mk(0, 0, 0, 1);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 1000000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 10 * MS, 2000000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 10 * MS, 3000000), -HC_EINVAL); /* not increasing */
    ck_assert_int_eq(hc_linksim_set_rate(l, 20 * MS, 0), -HC_EINVAL);
    /* Packet 1 starts at 0 at 1 Mbit/s (8 ms); packet 2 starts at 8 ms,
     * still 1 Mbit/s (8 ms); packet 3 starts at 16 ms at 2 Mbit/s (4 ms). */
    for (uint64_t i = 0; i < 3; i++) hc_linksim_send(l, 0, i, 1000);
    hc_linksim_pkt_t p[4];
    ck_assert_uint_eq(poll_all(l, S, p, 4), 3);
    ck_assert_uint_eq(p[0].t_dep, 8 * MS);
    ck_assert_uint_eq(p[1].t_dep, 16 * MS);
    ck_assert_uint_eq(p[2].t_dep, 20 * MS);
    /* Capacity: 10 ms at 1 Mbit/s + 90 ms at 2 Mbit/s. */
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 100 * MS), 1250 + 22500);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 5 * MS, 15 * MS), 625 + 1250);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 15 * MS, 5 * MS), 0);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(drop_tail)
{
    /* Bytes bound: 2500 bytes. */
    hc_linksim_t *l = mk(0, 2500, 0, 1);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 8000), 0); /* 1 byte per ms */
    ck_assert_int_eq(hc_linksim_send(l, 0, 0, 1000), 1);
    ck_assert_int_eq(hc_linksim_send(l, 0, 1, 1000), 1);
    ck_assert_int_eq(hc_linksim_send(l, 0, 2, 1000), 0); /* 3000 > 2500 */
    ck_assert_int_eq(hc_linksim_send(l, 0, 3, 500), 1);  /* 2500 fits */
    hc_linksim_stats_t st;
    hc_linksim_stats(l, &st);
    ck_assert_uint_eq(st.drop[HC_LINKSIM_DROP_QUEUE], 1);
    hc_linksim_destroy(&l);

    /* An empty queue always takes a packet, whatever its size. */
    l = mk(0, 100, 0, 1);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 8000), 0);
    ck_assert_int_eq(hc_linksim_send(l, 0, 0, 1500), 1);
    hc_linksim_destroy(&l);

    /* Time bound: 300 ms at 1 Mbit/s = 37500 bytes (the default). */
    ck_assert_int_eq(hc_linksim_new(&l, NULL), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 1000000), 0);
    int in = 0;
    for (int i = 0; i < 100; i++) in += hc_linksim_send(l, 0, (uint64_t)i, 1000);
    ck_assert_int_eq(in, 37);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(loss_is_seeded)
{
    int got[2];
    for (int r = 0; r < 2; r++) {
        hc_linksim_t *l = mk(0, 0, 0.1, 42);
        got[r] = 0;
        hc_linksim_pkt_t p;
        for (int i = 0; i < 10000; i++) {
            got[r] += hc_linksim_send(l, (uint64_t)i, (uint64_t)i, 100);
            while (hc_linksim_poll(l, (uint64_t)i, &p) == 1) continue;
        }
        hc_linksim_stats_t st;
        hc_linksim_stats(l, &st);
        ck_assert_uint_eq(st.drop[HC_LINKSIM_DROP_LOSS], 10000 - (uint64_t)got[r]);
        hc_linksim_destroy(&l);
    }
    ck_assert_int_eq(got[0], got[1]);
    ck_assert_int_ge(got[0], 8800);
    ck_assert_int_le(got[0], 9200);
    hc_linksim_t *l = mk(0, 0, 1.0, 3);
    ck_assert_int_eq(hc_linksim_send(l, 0, 0, 100), 0);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(outage)
{
    hc_linksim_t *l = mk(10 * MS, 0, 0, 1);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 1000000), 0);
    ck_assert_int_eq(hc_linksim_add_outage(l, 100 * MS, 200 * MS), 0);
    ck_assert_int_eq(hc_linksim_add_outage(l, 300 * MS, 300 * MS), -HC_EINVAL);
    ck_assert(hc_linksim_down(l, 150 * MS));
    ck_assert(!hc_linksim_down(l, 200 * MS));
    /* Sent at 80 ms: leaves at 88, arrives at 98 ms. Sent at 90 ms: leaves
     * at 98 but would reach the far end (108) inside the outage; the next
     * leaves inside it (106); one sent inside it never enters. The queue
     * keeps draining meanwhile. */
    ck_assert_int_eq(hc_linksim_send(l, 80 * MS, 0, 1000), 1);
    for (uint64_t i = 1; i < 3; i++) ck_assert_int_eq(hc_linksim_send(l, 90 * MS, i, 1000), 1);
    ck_assert_int_eq(hc_linksim_send(l, 150 * MS, 3, 1000), 0);
    hc_linksim_pkt_t p[8];
    ck_assert_uint_eq(poll_all(l, S, p, 8), 1);
    ck_assert_uint_eq(p[0].id, 0);
    ck_assert_uint_eq(p[0].t_out, 98 * MS);
    ck_assert_int_eq(hc_linksim_send(l, 250 * MS, 4, 1000), 1);
    ck_assert_uint_eq(poll_all(l, S, p, 8), 1);
    ck_assert_uint_eq(p[0].id, 4);
    hc_linksim_stats_t st;
    hc_linksim_stats(l, &st);
    ck_assert_uint_eq(st.drop[HC_LINKSIM_DROP_OUTAGE], 3);
    ck_assert_uint_eq(st.pkts_in, 5);
    ck_assert_uint_eq(st.pkts_out, 2);
    /* Capacity leaves the outage out. */
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 1 * S), 125000 - 12500);
    ck_assert_int_eq(hc_linksim_add_outage(l, 150 * MS, 250 * MS), 0); /* overlapping */
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 1 * S), 125000 - 18750);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(trace_service)
{
    /* Opportunities at 1, 1, 2, 5 ms (period 5 ms), 1500 bytes each. */
    static const uint32_t tr[] = {1, 1, 2, 5};
    hc_linksim_t *l = mk(0, 1000000, 0, 1);
    ck_assert_int_eq(hc_linksim_set_trace(l, tr, 4, 1.0, 0), 0);
    for (uint64_t i = 0; i < 6; i++) ck_assert_int_eq(hc_linksim_send(l, 0, i, 1500), 1);
    ck_assert_uint_eq(hc_linksim_next(l), 1 * MS);
    hc_linksim_pkt_t p[8];
    ck_assert_uint_eq(poll_all(l, 100 * MS, p, 8), 6);
    uint64_t want[] = {1, 1, 2, 5, 6, 6};
    for (int i = 0; i < 6; i++) ck_assert_uint_eq(p[i].t_dep, want[i] * MS);
    hc_linksim_destroy(&l);

    /* Scale 0.5: 750 bytes per opportunity, a 1500-byte packet needs two;
     * a packet that arrives after an opportunity cannot use it. */
    l = mk(0, 1000000, 0, 1);
    ck_assert_int_eq(hc_linksim_set_trace(l, tr, 4, 0.5, 0), 0);
    ck_assert_int_eq(hc_linksim_send(l, 0, 0, 1500), 1);
    ck_assert_int_eq(hc_linksim_send(l, 1500, 1, 700), 1);
    ck_assert_uint_eq(poll_all(l, 100 * MS, p, 8), 2);
    ck_assert_uint_eq(p[0].t_dep, 1 * MS); /* both opportunities at 1 ms */
    ck_assert_uint_eq(p[1].t_dep, 2 * MS);
    ck_assert_uint_eq(p[1].qdelay_us, 500);
    /* Capacity: loop 0 has 1, 1, 2, 5 ms, loop 1 has 6, 6, 7, 10 ms; the
     * window [0, 10 ms) holds 7 of them. */
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 10 * MS), 7 * 750);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 10 * MS + 1), 8 * 750);
    /* [0, 1 ms) has none; [1, 2 ms) has two; the loop end (5 ms) and the
     * next loop's 1 ms (6 ms). */
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, 1 * MS), 0);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 1 * MS, 2 * MS), 1500);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 5 * MS, 6 * MS), 750);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 5 * MS, 6001), 2250);
    /* Long idle: the loop is skipped ahead, service resumes on schedule. */
    ck_assert_int_eq(hc_linksim_send(l, 1 * S + 500, 2, 700), 1);
    ck_assert_uint_eq(poll_all(l, 2 * S, p, 8), 1);
    ck_assert_uint_eq(p[0].t_dep, 1 * S + 1 * MS);
    /* One arriving exactly at an opportunity (1 s is a loop end) uses it. */
    ck_assert_int_eq(hc_linksim_send(l, 2 * S, 3, 700), 1);
    ck_assert_uint_eq(poll_all(l, 3 * S, p, 8), 1);
    ck_assert_uint_eq(p[0].t_dep, 2 * S);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(qdelay_quantiles)
{
    hc_linksim_t *l = mk(0, 0, 0, 1);
    ck_assert_uint_eq(hc_linksim_qdelay_quantile(l, 0.5), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 8000000), 0); /* 1000 bytes = 1 ms */
    /* 100 packets at once: queuing delays 1..100 ms. */
    for (uint64_t i = 0; i < 100; i++) hc_linksim_send(l, 0, i, 1000);
    hc_linksim_pkt_t p[128];
    ck_assert_uint_eq(poll_all(l, S, p, 128), 100);
    ck_assert_uint_eq(hc_linksim_qdelay_quantile(l, 0.5), 50 * MS + 250);
    ck_assert_uint_eq(hc_linksim_qdelay_quantile(l, 0.95), 95 * MS + 250);
    ck_assert_uint_eq(hc_linksim_qdelay_quantile(l, 1.0), 100 * MS);
    ck_assert_uint_eq(hc_linksim_qdelay_quantile(l, 0.0), 1 * MS + 250);
    hc_linksim_stats_t st;
    hc_linksim_stats(l, &st);
    ck_assert_uint_eq(st.qdelay_max_us, 100 * MS);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(counters_add_up)
{
    /* Random traffic through loss, a queue bound and an outage: every
     * packet is delivered, dropped once, or still inside. */
    hc_linksim_t *l = mk(20 * MS, 20000, 0.05, 9);
    ck_assert_int_eq(hc_linksim_set_rate(l, 0, 2000000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 2 * S, 500000), 0);
    ck_assert_int_eq(hc_linksim_add_outage(l, 3 * S, 3500 * MS), 0);
    uint64_t rng = 5, now = 0, bytes_out = 0, out = 0;
    hc_linksim_pkt_t p;
    for (int i = 0; i < 5000; i++) {
        now += hc_test_rand(&rng) % 2000;
        hc_linksim_send(l, now, (uint64_t)i, 100 + (uint32_t)(hc_test_rand(&rng) % 1300));
        while (hc_linksim_poll(l, now, &p) == 1) {
            ck_assert_uint_le(p.t_out, now);
            bytes_out += p.bytes;
            out++;
        }
    }
    hc_linksim_stats_t st;
    hc_linksim_stats(l, &st);
    uint64_t drops = 0;
    for (int d = 0; d < HC_LINKSIM_DROP_N; d++) drops += st.drop[d];
    while (hc_linksim_poll(l, UINT64_MAX / 2, &p) == 1) {
        bytes_out += p.bytes;
        out++;
    }
    hc_linksim_stats(l, &st);
    drops = 0;
    for (int d = 0; d < HC_LINKSIM_DROP_N; d++) drops += st.drop[d];
    ck_assert_uint_eq(st.pkts_in, 5000);
    ck_assert_uint_eq(st.pkts_out, out);
    ck_assert_uint_eq(st.bytes_out, bytes_out);
    ck_assert_uint_eq(st.pkts_in, st.pkts_out + drops);
    ck_assert_uint_gt(st.drop[HC_LINKSIM_DROP_LOSS], 0);
    ck_assert_uint_gt(st.drop[HC_LINKSIM_DROP_QUEUE], 0);
    ck_assert_uint_gt(st.drop[HC_LINKSIM_DROP_OUTAGE], 0);
    ck_assert_uint_eq(hc_linksim_next(l), UINT64_MAX);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(nobuf_and_unlimited)
{
    hc_linksim_cfg_t c = {.capacity = 4, .delay_us = 10 * MS};
    hc_linksim_t *l = NULL;
    ck_assert_int_eq(hc_linksim_new(&l, &c), 0);
    /* No rate: packets only take the delay. */
    for (uint64_t i = 0; i < 4; i++) ck_assert_int_eq(hc_linksim_send(l, i, i, 100), 1);
    ck_assert_int_eq(hc_linksim_send(l, 5, 4, 100), 0);
    hc_linksim_stats_t st;
    hc_linksim_stats(l, &st);
    ck_assert_uint_eq(st.drop[HC_LINKSIM_DROP_NOBUF], 1);
    hc_linksim_pkt_t p[8];
    ck_assert_uint_eq(poll_all(l, 10 * MS + 3, p, 8), 4);
    ck_assert_uint_eq(p[3].t_out, 10 * MS + 3);
    ck_assert_uint_eq(p[3].qdelay_us, 0);
    ck_assert_uint_eq(hc_linksim_capacity_bytes(l, 0, S), 0);
    hc_linksim_destroy(&l);
}
END_TEST

START_TEST(linksim_args)
{
    hc_linksim_t *l = NULL;
    hc_linksim_cfg_t c = {.loss = 1.5};
    ck_assert_int_eq(hc_linksim_new(&l, &c), -HC_EINVAL);
    c = (hc_linksim_cfg_t){.capacity = (1u << 24) + 1};
    ck_assert_int_eq(hc_linksim_new(&l, &c), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_new(NULL, NULL), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_new(&l, NULL), 0);
    static const uint32_t bad[] = {5, 3};
    static const uint32_t zero[] = {0, 0};
    static const uint32_t ok[] = {1};
    ck_assert_int_eq(hc_linksim_set_trace(l, bad, 2, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_set_trace(l, zero, 2, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_set_trace(l, ok, 1, 0, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_set_trace(l, NULL, 1, 1, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_send(l, 0, 0, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_poll(l, 0, NULL), -HC_EINVAL);
    for (int i = 0; i < HC_LINKSIM_MAX_OUTAGES; i++)
        ck_assert_int_eq(hc_linksim_add_outage(l, (uint64_t)i * 10, (uint64_t)i * 10 + 5), 0);
    ck_assert_int_eq(hc_linksim_add_outage(l, 1000, 2000), -HC_EFULL);
    for (int i = 0; i < HC_LINKSIM_MAX_STEPS; i++)
        ck_assert_int_eq(hc_linksim_set_rate(l, (uint64_t)i, 1000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(l, 1000, 1000), -HC_EFULL);
    ck_assert_uint_eq(hc_linksim_next(NULL), UINT64_MAX);
    ck_assert_uint_eq(hc_linksim_queue_bytes(NULL), 0);
    hc_linksim_destroy(&l);
    hc_linksim_destroy(&l);
    hc_linksim_destroy(NULL);
}
END_TEST

/* --- trace parser --------------------------------------------------------- */

START_TEST(trace_parse_vectors)
{
    uint32_t ms[16];
    size_t n = 0;
    const char *t1 = "0\n0\n3\n7\n7\n12\n";
    ck_assert_int_eq(hc_linksim_trace_parse(t1, strlen(t1), ms, 16, &n), 0);
    ck_assert_uint_eq(n, 6);
    uint32_t want[] = {0, 0, 3, 7, 7, 12};
    for (size_t i = 0; i < n; i++) ck_assert_uint_eq(ms[i], want[i]);
    /* CRLF, blank lines, no final newline; counting only. */
    const char *t2 = "1\r\n\r\n\n2\r\n4294967295";
    ck_assert_int_eq(hc_linksim_trace_parse(t2, strlen(t2), NULL, 0, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(hc_linksim_trace_parse(t2, strlen(t2), ms, 16, &n), 0);
    ck_assert_uint_eq(ms[2], 4294967295u);
    /* Errors. */
    const char *bad[] = {"", "\n\n", "0\n", "5\n3\n", "1\nx\n", "-1\n", "4294967296\n", "1 2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(hc_linksim_trace_parse(bad[i], strlen(bad[i]), ms, 16, &n),
                         -HC_EMALFORMED);
    ck_assert_int_eq(hc_linksim_trace_parse(t1, strlen(t1), ms, 5, &n), -HC_ENOSPC);
    ck_assert_int_eq(hc_linksim_trace_parse(NULL, 0, ms, 16, &n), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_trace_parse(t1, strlen(t1), NULL, 16, &n), -HC_EINVAL);
    ck_assert_int_eq(hc_linksim_trace_parse(t1, strlen(t1), ms, 16, NULL), -HC_EINVAL);
}
END_TEST

START_TEST(trace_parse_truncated)
{
    /* Every prefix of a valid trace, in an exactly sized heap buffer:
     * either a valid shorter trace or an error, never a read past the end. */
    const char *t = "1\n1\n25\n31\n400\n4000\n";
    size_t len = strlen(t);
    uint32_t ms[16];
    for (size_t k = 0; k < len; k++) {
        char *b = malloc(k ? k : 1);
        ck_assert_ptr_nonnull(b);
        memcpy(b, t, k);
        size_t n = 99;
        int rc = hc_linksim_trace_parse(b, k, ms, 16, &n);
        if (rc == 0) {
            ck_assert_uint_ge(n, 1);
            ck_assert_uint_gt(ms[n - 1], 0);
        } else {
            ck_assert_int_eq(rc, -HC_EMALFORMED);
        }
        free(b);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("linksim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rate_serialises_and_delays);
    tcase_add_test(tc, rate_steps);
    tcase_add_test(tc, drop_tail);
    tcase_add_test(tc, loss_is_seeded);
    tcase_add_test(tc, outage);
    tcase_add_test(tc, trace_service);
    tcase_add_test(tc, qdelay_quantiles);
    tcase_add_test(tc, counters_add_up);
    tcase_add_test(tc, nobuf_and_unlimited);
    tcase_add_test(tc, linksim_args);
    tcase_add_test(tc, trace_parse_vectors);
    tcase_add_test(tc, trace_parse_truncated);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
