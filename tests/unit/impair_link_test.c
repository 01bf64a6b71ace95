/*
 * Unit tests of the hc-impair pipeline (link, spec, script, trace, report)
 * in simulated time with fixed seeds: every number here is reproducible.
 */
#include "proto/err.h"
#include "tests/common/testutil.h"
#include "tools/hc-impair/link.h"
#include "tools/hc-impair/mmtrace.h"
#include "tools/hc-impair/pool.h"
#include "tools/hc-impair/report.h"
#include "tools/hc-impair/script.h"
#include "tools/hc-impair/spec.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MS 1000ull
#define S  1000000ull

static hc_imp_link_t *mk(const char *spec, uint64_t seed)
{
    hc_imp_link_t *l = NULL;
    ck_assert_int_eq(hc_imp_link_new(&l, 1 << 16, seed, NULL, 0), 0);
    if (spec) {
        hc_imp_spec_t s;
        char err[256] = "";
        int rc = hc_imp_spec_parse(&s, spec, err, sizeof err);
        ck_assert_msg(rc == 0, "spec '%s': %s", spec, err);
        hc_imp_link_apply(l, &s, 0);
        hc_imp_spec_fini(&s);
    }
    return l;
}

static void apply(hc_imp_link_t *l, const char *spec, uint64_t now)
{
    hc_imp_spec_t s;
    char err[256] = "";
    int rc = hc_imp_spec_parse(&s, spec, err, sizeof err);
    ck_assert_msg(rc == 0, "spec '%s': %s", spec, err);
    hc_imp_link_apply(l, &s, now);
    hc_imp_spec_fini(&s);
}

/* What came out of a link, in order. */
typedef struct outlog {
    hc_imp_pkt_t *p;
    size_t n, cap;
} outlog_t;

static void log_add(outlog_t *o, const hc_imp_pkt_t *p)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1024;
        o->p = realloc(o->p, o->cap * sizeof *o->p);
        ck_assert_ptr_nonnull(o->p);
    }
    o->p[o->n++] = *p;
}

/* Deliver everything due up to `until`, stepping through the link's own
 * event times so each packet is polled at (or after) its exact exit time. */
static void pump(hc_imp_link_t *l, uint64_t until, outlog_t *o)
{
    for (int guard = 0;; guard++) {
        ck_assert_int_lt(guard, 50000000);
        uint64_t t = hc_imp_link_next(l);
        if (t > until) break;
        hc_imp_pkt_t p;
        while (hc_imp_link_poll(l, t, &p)) log_add(o, &p);
    }
    hc_imp_pkt_t p;
    while (hc_imp_link_poll(l, until, &p)) log_add(o, &p);
}

/* Constant bit rate: n packets of len bytes every gap us from start; slot
 * numbers count up from first_slot. Returns how many the link accepted. */
static uint64_t cbr(hc_imp_link_t *l, uint64_t start, uint64_t gap, uint32_t len, uint64_t n,
                    uint32_t first_slot, outlog_t *o)
{
    uint64_t kept = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t = start + i * gap;
        pump(l, t, o);
        kept += (uint64_t)hc_imp_link_submit(l, t, first_slot + (uint32_t)i, len);
    }
    return kept;
}

static void check_conservation(hc_imp_link_t *l)
{
    const hc_imp_stats_t *s = hc_imp_link_stats(l);
    ck_assert_uint_eq(s->pkts_in + s->duplicated,
                      s->pkts_out + hc_imp_stats_dropped(s) + hc_imp_link_inflight(l));
}

START_TEST(loss_bernoulli_10pct)
{
    hc_imp_link_t *l = mk("loss=10%", 42);
    outlog_t o = {0};
    cbr(l, 0, 1000, 200, 100000, 0, &o);
    pump(l, UINT64_MAX - 1, &o);
    const hc_imp_stats_t *s = hc_imp_link_stats(l);
    double rate = (double)s->drop[HC_IMP_DROP_LOSS] / 100000.0;
    ck_assert_msg(fabs(rate - 0.10) <= 0.005, "loss %.4f", rate);
    ck_assert_uint_eq(s->pkts_out, o.n);
    ck_assert_uint_eq(s->pkts_out + s->drop[HC_IMP_DROP_LOSS], 100000);
    check_conservation(l);
    free(o.p);
    hc_imp_link_destroy(&l);
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(gilbert_elliott_stationary_and_bursts)
{
    const double p = 0.01, r = 0.25;
    hc_imp_link_t *l = mk("ge=0.01,0.25", 7);
    uint64_t n = 400000, lost = 0, bursts = 0, run = 0;
    for (uint64_t i = 0; i < n; i++) {
        int kept = hc_imp_link_submit(l, i * 100, (uint32_t)i, 100);
        if (!kept) {
            lost++;
            if (run == 0) bursts++;
            run++;
        } else {
            run = 0;
        }
        hc_imp_pkt_t pk;
        while (hc_imp_link_poll(l, i * 100, &pk)) {
        }
    }
    double rate = (double)lost / (double)n, want = p / (p + r);
    double mean_burst = (double)lost / (double)bursts;
    ck_assert_msg(fabs(rate - want) <= 0.1 * want, "GE loss %.4f want %.4f", rate, want);
    ck_assert_msg(fabs(mean_burst - 1 / r) <= 0.1 / r, "burst %.3f want %.3f", mean_burst, 1 / r);
    ck_assert_uint_eq(hc_imp_link_stats(l)->drop[HC_IMP_DROP_BURST], lost);
    hc_imp_link_destroy(&l);

    /* k and h: loss 1-k in good, 1-h in bad */
    l = mk("ge=0.5,0.5,0.9,0.5", 9);
    lost = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        lost += !hc_imp_link_submit(l, i, (uint32_t)i, 10);
        hc_imp_pkt_t pk;
        while (hc_imp_link_poll(l, i, &pk)) {
        }
    }
    /* stationary bad 0.5: loss = 0.5*0.1 + 0.5*0.5 = 0.3 */
    rate = (double)lost / 200000.0;
    ck_assert_msg(fabs(rate - 0.30) < 0.01, "GE k,h loss %.4f", rate);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(rate_limiter_10s_within_1pct)
{
    hc_imp_link_t *l = mk("rate=1000kbit", 1);
    outlog_t o = {0};
    /* offer 2 Mbit/s for 10 s: 1000 B every 4 ms */
    cbr(l, 0, 4000, 1000, 2500, 0, &o);
    pump(l, 10 * S, &o);
    uint64_t bytes = 0;
    for (size_t i = 0; i < o.n; i++) bytes += o.p[i].len;
    double kbit = (double)bytes * 8 / 10.0 / 1000.0;
    ck_assert_msg(fabs(kbit - 1000) <= 10, "delivered %.1f kbit/s", kbit);
    /* back to back at the rate: 8 ms per 1000 B */
    for (size_t i = 1; i < o.n; i++) ck_assert_uint_eq(o.p[i].t_out - o.p[i - 1].t_out, 8000);
    const hc_imp_stats_t *s = hc_imp_link_stats(l);
    ck_assert_uint_gt(s->drop[HC_IMP_DROP_QUEUE], 0);
    /* default queue 300 ms at 1 Mbit/s = 37500 B: queue delay tops out there */
    ck_assert_uint_eq(hc_imp_link_queue_limit(l), 37500);
    ck_assert_uint_le(s->qdelay_us.max, 300000 + 8000);
    ck_assert_uint_ge(s->qdelay_us.max, 290000);
    check_conservation(l);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(rate_odd_value_no_drift)
{
    /* 777 kbit/s with 1234-byte packets does not divide evenly */
    hc_imp_link_t *l = mk("rate=777kbit queue=2MB", 1);
    outlog_t o = {0};
    for (int i = 0; i < 1000; i++) hc_imp_link_submit(l, 0, (uint32_t)i, 1234);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, 1000);
    double exact_us = 1000.0 * 1234 * 8 / 777000.0 * 1e6;
    ck_assert_msg(fabs((double)o.p[999].t_out - exact_us) <= 1.0, "last %llu exact %.1f",
                  (unsigned long long)o.p[999].t_out, exact_us);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(queue_drop_tail_bound)
{
    hc_imp_link_t *l = mk("rate=1mbit queue=10kB", 1);
    uint64_t kept = 0;
    for (int i = 0; i < 100; i++) {
        kept += (uint64_t)hc_imp_link_submit(l, 0, (uint32_t)i, 1000);
        ck_assert_uint_le(hc_imp_link_queue_bytes(l), 10000);
    }
    ck_assert_uint_eq(kept, 10);
    ck_assert_uint_eq(hc_imp_link_stats(l)->drop[HC_IMP_DROP_QUEUE], 90);
    /* a steady overload never pushes the queue past its limit */
    outlog_t o = {0};
    for (uint64_t t = 0; t < 2 * S; t += 500) {
        pump(l, t, &o);
        hc_imp_link_submit(l, t, 1000, 700);
        ck_assert_uint_le(hc_imp_link_queue_bytes(l), 10000);
    }
    hc_imp_link_destroy(&l);

    /* queue in time: 200 ms at 2 Mbit/s = 50000 B; follows a rate change */
    l = mk("rate=2mbit queue=200ms", 1);
    ck_assert_uint_eq(hc_imp_link_queue_limit(l), 50000);
    apply(l, "rate=500kbit", 0);
    ck_assert_uint_eq(hc_imp_link_queue_limit(l), 12500);
    /* an empty queue takes even a packet larger than the limit */
    apply(l, "queue=100B", 0);
    ck_assert_int_eq(hc_imp_link_submit(l, 0, 1, 1500), 1);
    ck_assert_int_eq(hc_imp_link_submit(l, 0, 2, 10), 0);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(delay_exact)
{
    hc_imp_link_t *l = mk("delay=40ms", 1);
    outlog_t o = {0};
    uint64_t st = 5, t = 0;
    for (int i = 0; i < 5000; i++) {
        t += hc_test_rand(&st) % 3000;
        pump(l, t, &o);
        hc_imp_link_submit(l, t, (uint32_t)i, 100);
    }
    pump(l, t + 1 * S, &o);
    ck_assert_uint_eq(o.n, 5000);
    for (size_t i = 0; i < o.n; i++) {
        ck_assert_uint_eq(o.p[i].slot, i);
        ck_assert_uint_eq(o.p[i].t_out, o.p[i].t_in + 40 * MS);
    }
    t += 1 * S;
    /* a shorter delay applies to later packets, but they never overtake */
    hc_imp_link_submit(l, t, 8999, 100);
    apply(l, "delay=10ms", t);
    hc_imp_link_submit(l, t + 1, 9000, 100);
    hc_imp_link_submit(l, t + 100 * MS, 9001, 100);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.p[o.n - 3].t_out, t + 40 * MS);
    ck_assert_uint_eq(o.p[o.n - 2].t_out, t + 40 * MS);
    ck_assert_uint_eq(o.p[o.n - 1].t_out, t + 110 * MS);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

static void jitter_case(const char *spec, uint64_t delay, uint64_t jit)
{
    hc_imp_link_t *l = mk(spec, 3);
    outlog_t o = {0};
    cbr(l, 0, 2000, 100, 20000, 0, &o);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, 20000);
    uint64_t lo = UINT64_MAX, hi = 0;
    double sum = 0;
    for (size_t i = 0; i < o.n; i++) {
        ck_assert_uint_eq(o.p[i].slot, i); /* in order */
        if (i) ck_assert_uint_ge(o.p[i].t_out, o.p[i - 1].t_out);
        uint64_t d = o.p[i].t_out - o.p[i].t_in;
        ck_assert_uint_ge(d, delay);
        ck_assert_uint_le(d, delay + jit);
        if (d < lo) lo = d;
        if (d > hi) hi = d;
        sum += (double)d;
    }
    /* the spread is real, not a constant */
    ck_assert_uint_lt(lo, delay + jit / 4);
    ck_assert_uint_gt(hi, delay + jit * 3 / 4);
    double mean = sum / (double)o.n;
    ck_assert_msg(mean > (double)delay + jit * 0.4 && mean < (double)delay + jit * 0.7, "mean %.0f",
                  mean);
    free(o.p);
    hc_imp_link_destroy(&l);
}

START_TEST(jitter_bounded_in_order)
{
    jitter_case("delay=20ms jitter=10ms", 20000, 10000);
    jitter_case("delay=20ms jitter=10ms jitter_dist=normal", 20000, 10000);
}
END_TEST

START_TEST(reorder_rate_and_gap)
{
    hc_imp_link_t *l = mk("delay=10ms reorder=5%", 11);
    outlog_t o = {0};
    uint64_t n = 100000;
    cbr(l, 0, 1000, 100, n, 0, &o);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, n);
    const hc_imp_stats_t *s = hc_imp_link_stats(l);
    double rate = (double)s->reordered / (double)n;
    ck_assert_msg(fabs(rate - 0.05) < 0.005, "reordered %.4f", rate);
    /* each held packet leaves after the next 3 (default reorder_gap) */
    uint64_t late = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (i + 1 < o.n && o.p[i].slot > o.p[i + 1].slot) late++;
        ck_assert_uint_ge(o.p[i].t_out, o.p[i].t_in + 10 * MS);
        ck_assert_uint_le(o.p[i].t_out, o.p[i].t_in + 10 * MS + 100 * MS);
    }
    ck_assert_msg(late > n * 3 / 100, "late %llu", (unsigned long long)late);
    free(o.p);
    hc_imp_link_destroy(&l);

    /* by time only: held 30 ms, later packets (every 1 ms) overtake it */
    l = mk("reorder=100% reorder_gap=0 reorder_delay=30ms", 1);
    memset(&o, 0, sizeof o);
    cbr(l, 0, 1000, 100, 10, 0, &o);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, 10);
    for (size_t i = 0; i < o.n; i++) ck_assert_uint_eq(o.p[i].t_out, o.p[i].t_in + 30 * MS);
    free(o.p);
    hc_imp_link_destroy(&l);

    /* gap 2, one held packet: A B C D -> B C A D */
    l = mk("reorder_gap=2", 1);
    apply(l, "reorder=100%", 0);
    hc_imp_link_submit(l, 0, 0, 100);
    memset(&o, 0, sizeof o);
    pump(l, 0, &o);
    ck_assert_uint_eq(o.n, 0);
    apply(l, "reorder=0%", 0);
    for (uint32_t i = 1; i < 4; i++) hc_imp_link_submit(l, i, i, 100);
    pump(l, 10, &o);
    ck_assert_uint_eq(o.n, 4);
    uint32_t want[4] = {1, 2, 0, 3};
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(o.p[i].slot, want[i]);
    ck_assert_uint_eq(hc_imp_link_stats(l)->reordered, 1);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(dup_rate)
{
    hc_imp_link_t *l = mk("dup=2%", 5);
    outlog_t o = {0};
    uint64_t n = 100000;
    cbr(l, 0, 500, 100, n, 0, &o);
    pump(l, UINT64_MAX - 1, &o);
    const hc_imp_stats_t *s = hc_imp_link_stats(l);
    double rate = (double)s->duplicated / (double)n;
    ck_assert_msg(fabs(rate - 0.02) < 0.002, "dup %.4f", rate);
    ck_assert_uint_eq(o.n, n + s->duplicated);
    uint64_t twins = 0;
    for (size_t i = 1; i < o.n; i++) twins += o.p[i].slot == o.p[i - 1].slot;
    ck_assert_uint_eq(twins, s->duplicated);
    check_conservation(l);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

START_TEST(outage_drops_everything)
{
    hc_imp_link_t *l = mk("delay=15ms", 1);
    outlog_t o = {0};
    cbr(l, 0, 10 * MS, 100, 100, 0, &o); /* 0 .. 0.99 s */
    hc_imp_spec_t s;
    char err[128];
    ck_assert_int_eq(hc_imp_spec_parse(&s, "outage=1s", err, sizeof err), 0);
    hc_imp_link_apply(l, &s, 1 * S);
    hc_imp_spec_fini(&s);
    ck_assert(hc_imp_link_down(l, 1 * S));
    ck_assert(hc_imp_link_down(l, 2 * S - 1));
    ck_assert(!hc_imp_link_down(l, 2 * S));
    cbr(l, 1 * S, 10 * MS, 100, 200, 100, &o); /* 1 .. 2.99 s */
    pump(l, UINT64_MAX - 1, &o);
    for (size_t i = 0; i < o.n; i++)
        ck_assert_msg(o.p[i].t_out < 1 * S || o.p[i].t_out >= 2 * S, "packet at %llu",
                      (unsigned long long)o.p[i].t_out);
    const hc_imp_stats_t *st = hc_imp_link_stats(l);
    /* the packet sent at 0.99 s was in flight (exit 1.005 s): dropped too */
    ck_assert_uint_eq(st->drop[HC_IMP_DROP_OUTAGE], 101);
    ck_assert_uint_eq(o.n, 300 - 101);
    check_conservation(l);
    free(o.p);
    hc_imp_link_destroy(&l);

    /* queued packets whose turn falls inside the outage are lost as well */
    l = mk("rate=100kbit queue=1MB", 1);
    for (uint32_t i = 0; i < 20; i++) hc_imp_link_submit(l, 0, i, 1250); /* 100 ms each */
    ck_assert_int_eq(hc_imp_spec_parse(&s, "outage=1s", err, sizeof err), 0);
    hc_imp_link_apply(l, &s, 500 * MS);
    hc_imp_spec_fini(&s);
    memset(&o, 0, sizeof o);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, 5 + 5); /* before 0.5 s, and from 1.5 s */
    ck_assert_uint_eq(hc_imp_link_stats(l)->drop[HC_IMP_DROP_OUTAGE], 10);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

static const char small_trace[] = "0\n0\n3\n5\n5\n5\n9\n10\n";

START_TEST(trace_parse_and_count)
{
    hc_mmtrace_t *t = NULL;
    char err[256];
    ck_assert_int_eq(hc_mmtrace_parse(&t, small_trace, strlen(small_trace), err, sizeof err), 0);
    ck_assert_uint_eq(t->n, 8);
    ck_assert_uint_eq(t->period_ms, 10);
    ck_assert_uint_eq(hc_mmtrace_count(t, 0, 10), 7);   /* the one at 10 is in [10, 20) */
    ck_assert_uint_eq(hc_mmtrace_count(t, 0, 11), 10);  /* 10 (last) and 10+0 twice */
    ck_assert_uint_eq(hc_mmtrace_count(t, 0, 100), 79); /* 9 loops + 7 */
    ck_assert_uint_eq(hc_mmtrace_count(t, 5, 6), 3);
    ck_assert_double_eq_tol(hc_mmtrace_mean_bps(t, 1.0), 8 * 1500 * 8 * 100.0, 1e-6);
    hc_mmtrace_destroy(&t);
    ck_assert_ptr_null(t);

    ck_assert_int_eq(hc_mmtrace_parse(&t, "0\n5\n3\n", 6, err, sizeof err), -HC_EMALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "line 3"));
    ck_assert_int_eq(hc_mmtrace_parse(&t, "1\nx2\n", 5, err, sizeof err), -HC_EMALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "line 2"));
    ck_assert_int_eq(hc_mmtrace_parse(&t, "0\n0\n", 4, err, sizeof err), -HC_EMALFORMED);
    ck_assert_int_eq(hc_mmtrace_parse(&t, "\n\n", 2, err, sizeof err), -HC_EMALFORMED);
    ck_assert_int_eq(hc_mmtrace_parse(&t, "1\r\n 2 \n\n4", 9, err, sizeof err), 0);
    ck_assert_uint_eq(t->n, 3);
    hc_mmtrace_destroy(&t);
    ck_assert_int_eq(hc_mmtrace_load(&t, "/nonexistent/trace", err, sizeof err), -HC_EIO);
}
END_TEST

/* Saturate a trace-driven link and compare with the trace's own capacity. */
static void trace_saturate(const hc_mmtrace_t *tr, double scale, uint64_t seconds)
{
    hc_imp_link_t *l = NULL;
    ck_assert_int_eq(hc_imp_link_new(&l, 1 << 16, 1, NULL, 0), 0);
    /* Build a standing queue first (a 1 bit/s link holds it), then start the
     * trace 1 us later: opportunities at a time serve only packets that
     * arrived before them (as in mm-link), so none may find the queue empty. */
    hc_imp_spec_t s;
    memset(&s, 0, sizeof s);
    s.set = HC_IMP_SET_RATE | HC_IMP_SET_QUEUE;
    s.rate_bps = 1;
    s.queue_bytes = 200000;
    hc_imp_link_apply(l, &s, 0);
    for (uint32_t i = 0; i < 100; i++) hc_imp_link_submit(l, 0, 1000000 + i, 1000);
    memset(&s, 0, sizeof s);
    s.set = HC_IMP_SET_TRACE | HC_IMP_SET_SCALE;
    s.trace = tr;
    s.scale = scale;
    hc_imp_link_apply(l, &s, 1);
    outlog_t o = {0};
    uint64_t end = seconds * S;
    /* then 1000 B every 0.25 ms = 32 Mbit/s: more than any opportunity rate
     * here, so the queue never runs dry */
    cbr(l, 250, 250, 1000, end / 250 - 1, 0, &o);
    pump(l, end, &o);
    uint64_t bytes = 0;
    for (size_t i = 0; i < o.n; i++) bytes += o.p[i].len;
    double want = (double)hc_mmtrace_count(tr, 0, end / 1000) * 1500.0 * scale;
    /* exact but for the packet in service at the end */
    ck_assert_msg(fabs((double)bytes - want) <= 1000.0, "delivered %llu want %.0f",
                  (unsigned long long)bytes, want);
    ck_assert_uint_eq(hc_imp_link_stats(l)->drop[HC_IMP_DROP_NOBUF], 0);
    free(o.p);
    hc_imp_link_destroy(&l);
}

START_TEST(trace_replay_bytes_times_scale)
{
    hc_mmtrace_t *t = NULL;
    char err[256];
    ck_assert_int_eq(hc_mmtrace_parse(&t, small_trace, strlen(small_trace), err, sizeof err), 0);
    trace_saturate(t, 1.0, 2);
    trace_saturate(t, 0.25, 2);
    trace_saturate(t, 2.0, 1);
    hc_mmtrace_destroy(&t);

    /* opportunities before a packet arrives are lost; a packet spans several */
    ck_assert_int_eq(hc_mmtrace_parse(&t, "1\n2\n3\n4\n", 8, err, sizeof err), 0);
    hc_imp_link_t *l = NULL;
    ck_assert_int_eq(hc_imp_link_new(&l, 64, 1, NULL, 0), 0);
    hc_imp_spec_t s;
    memset(&s, 0, sizeof s);
    s.set = HC_IMP_SET_TRACE | HC_IMP_SET_SCALE;
    s.trace = t;
    s.scale = 0.5; /* 750 B per opportunity */
    hc_imp_link_apply(l, &s, 0);
    hc_imp_link_submit(l, 1500, 1, 1000); /* after the 1 ms one */
    outlog_t o = {0};
    pump(l, 10 * MS, &o);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_uint_eq(o.p[0].t_out, 3000); /* 750 B at 2 ms, 250 B at 3 ms */
    ck_assert_uint_eq(hc_imp_link_stats(l)->qdelay_us.max, 1500);
    /* after a long idle time the schedule keeps its phase: next at 4 ms + k*4 ms */
    hc_imp_link_submit(l, 1000 * S + 100, 2, 100);
    pump(l, UINT64_MAX - 1, &o);
    ck_assert_uint_eq(o.n, 2);
    ck_assert_uint_eq(o.p[1].t_out, 1000 * S + 1000);
    free(o.p);
    hc_imp_link_destroy(&l);
    hc_mmtrace_destroy(&t);
}
END_TEST

START_TEST(trace_replay_att_lte)
{
    const char *dir = hc_test_traces_dir();
    if (!dir) {
        printf("trace_replay_att_lte: traces absent, skipped\n");
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/att-lte-driving-2016.up", dir);
    hc_mmtrace_t *t = NULL;
    char err[512];
    if (access(path, R_OK) != 0) {
        printf("trace_replay_att_lte: %s absent, skipped\n", path);
        return;
    }
    ck_assert_msg(hc_mmtrace_load(&t, path, err, sizeof err) == 0, "%s", err);
    /* README: 120 s, mean 1.91 Mbit/s */
    ck_assert_uint_ge(t->period_ms, 119000);
    ck_assert_msg(fabs(hc_mmtrace_mean_bps(t, 1.0) - 1.91e6) < 0.05e6, "mean %.0f",
                  hc_mmtrace_mean_bps(t, 1.0));
    trace_saturate(t, 0.25, 30);
    hc_mmtrace_destroy(&t);
}
END_TEST

START_TEST(seed_reproducible)
{
    const char *spec = "loss=5% ge=0.02,0.3 dup=3% reorder=4% jitter=7ms delay=3ms";
    outlog_t a = {0}, b = {0}, c = {0};
    hc_imp_link_t *la = mk(spec, 99), *lb = mk(spec, 99), *lc = mk(spec, 100);
    cbr(la, 0, 700, 100, 20000, 0, &a);
    /* same packets, polled at other moments: same result */
    for (uint32_t i = 0; i < 20000; i++) {
        hc_imp_link_submit(lb, (uint64_t)i * 700, i, 100);
        if (i % 97 == 0) pump(lb, (uint64_t)i * 700, &b);
    }
    cbr(lc, 0, 700, 100, 20000, 0, &c);
    pump(la, UINT64_MAX - 1, &a);
    pump(lb, UINT64_MAX - 1, &b);
    pump(lc, UINT64_MAX - 1, &c);
    ck_assert_uint_eq(a.n, b.n);
    int same = 1;
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_uint_eq(a.p[i].slot, b.p[i].slot);
        ck_assert_uint_eq(a.p[i].t_out, b.p[i].t_out);
    }
    if (a.n == c.n) {
        for (size_t i = 0; i < a.n && same; i++) same = a.p[i].slot == c.p[i].slot;
    } else {
        same = 0;
    }
    ck_assert_msg(!same, "another seed gave the same run");
    check_conservation(la);
    free(a.p);
    free(b.p);
    free(c.p);
    hc_imp_link_destroy(&la);
    hc_imp_link_destroy(&lb);
    hc_imp_link_destroy(&lc);
}
END_TEST

START_TEST(pool_references)
{
    hc_imp_pool_t *pool = NULL;
    ck_assert_int_eq(hc_imp_pool_new(&pool, 64, 256), 0);
    hc_imp_link_t *l = NULL;
    ck_assert_int_eq(hc_imp_link_new(&l, 256, 3, pool, 0), 0);
    apply(l, "dup=50% loss=20% rate=1mbit queue=2kB delay=1ms", 0);
    hc_imp_pkt_t p;
    uint64_t outs = 0;
    for (uint64_t t = 0; t < 200000; t += 300) {
        while (hc_imp_link_poll(l, t, &p)) {
            hc_imp_pool_put(pool, p.slot);
            outs++;
        }
        int64_t s = hc_imp_pool_get(pool);
        if (s < 0) continue;
        hc_imp_link_submit(l, t, (uint32_t)s, 200);
    }
    ck_assert_uint_gt(outs, 100);
    /* slots in use never exceed the packets inside the link */
    ck_assert_uint_le(64 - hc_imp_pool_free_count(pool), hc_imp_link_inflight(l));
    hc_imp_link_destroy(&l); /* puts back what is still inside */
    ck_assert_uint_eq(hc_imp_pool_free_count(pool), 64);
    for (int i = 0; i < 64; i++) ck_assert_int_ge(hc_imp_pool_get(pool), 0);
    ck_assert_int_eq(hc_imp_pool_get(pool), -HC_EFULL);
    hc_imp_pool_destroy(&pool);
    ck_assert_ptr_null(pool);
}
END_TEST

START_TEST(link_storage_full_is_nobuf)
{
    hc_imp_link_t *l = NULL;
    ck_assert_int_eq(hc_imp_link_new(&l, 8, 1, NULL, 0), 0);
    apply(l, "delay=1s", 0);
    for (uint32_t i = 0; i < 20; i++) hc_imp_link_submit(l, i, i, 10);
    ck_assert_uint_eq(hc_imp_link_stats(l)->drop[HC_IMP_DROP_NOBUF], 12);
    ck_assert_uint_eq(hc_imp_link_inflight(l), 8);
    check_conservation(l);
    hc_imp_link_destroy(&l);
}
END_TEST

static int spec_err(const char *text, const char *needle)
{
    hc_imp_spec_t s;
    char err[512] = "";
    int rc = hc_imp_spec_parse(&s, text, err, sizeof err);
    ck_assert_msg(rc < 0, "'%s' accepted", text);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s': message '%s' lacks '%s'", text, err, needle);
    return rc;
}

START_TEST(spec_parser)
{
    hc_imp_spec_t s;
    char err[512];
    ck_assert_int_eq(hc_imp_spec_parse(&s,
                                       "delay=40ms jitter=5ms loss=3% rate=1000kbit queue=100ms "
                                       "ge=0.01,0.3 dup=1% reorder=2% reorder_gap=5 "
                                       "reorder_delay=20ms jitter_dist=normal",
                                       err, sizeof err),
                     0);
    ck_assert_uint_eq(s.delay_us, 40000);
    ck_assert_uint_eq(s.jitter_us, 5000);
    ck_assert_double_eq_tol(s.loss, 0.03, 1e-12);
    ck_assert_uint_eq(s.rate_bps, 1000000);
    ck_assert_uint_eq(s.queue_us, 100000);
    ck_assert_uint_eq(s.queue_bytes, 0);
    ck_assert(s.ge_on);
    ck_assert_double_eq_tol(s.ge_p, 0.01, 1e-12);
    ck_assert_double_eq_tol(s.ge_r, 0.3, 1e-12);
    ck_assert_double_eq_tol(s.ge_k, 1.0, 1e-12);
    ck_assert_double_eq_tol(s.ge_h, 0.0, 1e-12);
    ck_assert_uint_eq(s.reorder_gap, 5);
    ck_assert(s.jitter_normal);
    hc_imp_spec_fini(&s);
    ck_assert_int_eq(
        hc_imp_spec_parse(&s, "queue=64kB rate=2.5mbit ge=1%,30%,0.99,0.1", err, sizeof err), 0);
    ck_assert_uint_eq(s.queue_bytes, 64000);
    ck_assert_uint_eq(s.rate_bps, 2500000);
    ck_assert_double_eq_tol(s.ge_h, 0.1, 1e-12);
    ck_assert_int_eq(hc_imp_spec_parse(&s, "queue=64KiB delay=1.5s outage=250ms", err, sizeof err),
                     0);
    ck_assert_uint_eq(s.queue_bytes, 65536);
    ck_assert_uint_eq(s.delay_us, 1500000);
    ck_assert_uint_eq(s.outage_us, 250000);
    ck_assert_int_eq(hc_imp_spec_parse(&s, "rate=off trace=off ge=off", err, sizeof err), 0);
    ck_assert_uint_eq(s.rate_bps, 0);
    ck_assert_ptr_null(s.trace);

    spec_err("dela=40ms", "unknown key 'dela'");
    spec_err("delay=40", "delay=40");
    spec_err("delay=40ms delay=50ms", "twice");
    spec_err("loss=3", "percentage");
    spec_err("loss=120%", "loss=120%");
    spec_err("rate=1000", "rate=1000");
    spec_err("rate=-1kbit", "rate=-1kbit");
    spec_err("queue=0ms", "queue=0ms");
    spec_err("ge=0.1", "ge=0.1");
    spec_err("ge=0.1,0", "ge=0.1,0");
    spec_err("jitter_dist=pareto", "uniform or normal");
    spec_err("scale=0", "scale=0");
    spec_err("delay", "not key=value");
    spec_err("", "empty");
    spec_err("trace=/nonexistent/file.up", "/nonexistent/file.up");
    spec_err("delay=0x10ms", "delay=0x10ms");
    spec_err("delay=1e3ms", "delay=1e3ms");
}
END_TEST

static void step_ok(const char *line, hc_imp_step_t *st)
{
    char err[512] = "";
    int rc = hc_imp_script_parse_line(line, st, err, sizeof err);
    ck_assert_msg(rc == 1, "'%s' rejected: %s", line, err);
}

static void step_bad(const char *line, const char *needle)
{
    hc_imp_step_t st;
    char err[512] = "";
    int rc = hc_imp_script_parse_line(line, &st, err, sizeof err);
    ck_assert_msg(rc < 0, "'%s' accepted", line);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s': message '%s' lacks '%s'", line, err, needle);
}

START_TEST(script_parser)
{
    hc_imp_step_t st;
    step_ok("at 20s up rate=600kbit", &st);
    ck_assert_uint_eq(st.at_us, 20 * S);
    ck_assert_int_eq(st.kind, HC_IMP_STEP_SPEC);
    ck_assert_uint_eq(st.dirs, HC_IMP_DIR_UP);
    ck_assert_uint_eq(st.spec.rate_bps, 600000);
    step_ok("  at 1500ms both delay=30ms loss=1%   # comment", &st);
    ck_assert_uint_eq(st.at_us, 1500 * MS);
    ck_assert_uint_eq(st.dirs, HC_IMP_DIR_BOTH);
    step_ok("at 2.5s down outage 3s", &st);
    ck_assert_uint_eq(st.dirs, HC_IMP_DIR_DOWN);
    ck_assert_uint_eq(st.spec.set, HC_IMP_SET_OUTAGE);
    ck_assert_uint_eq(st.spec.outage_us, 3 * S);
    step_ok("at 30s rebind", &st);
    ck_assert_int_eq(st.kind, HC_IMP_STEP_REBIND);
    step_ok("at 60s end\r\n", &st);
    ck_assert_int_eq(st.kind, HC_IMP_STEP_END);
    ck_assert_uint_eq(st.at_us, 60 * S);

    char err[256];
    ck_assert_int_eq(hc_imp_script_parse_line("   # only a comment", &st, err, sizeof err), 0);
    ck_assert_int_eq(hc_imp_script_parse_line("", &st, err, sizeof err), 0);

    step_bad("after 20s up rate=1mbit", "expected 'at");
    step_bad("at", "missing time");
    step_bad("at 20 up rate=1mbit", "bad time '20'");
    step_bad("at 20s", "missing action");
    step_bad("at 20s sideways rate=1mbit", "unknown action 'sideways'");
    step_bad("at 20s up", "missing spec");
    step_bad("at 20s up outage", "needs a duration");
    step_bad("at 20s up outage 3", "bad outage duration '3'");
    step_bad("at 20s up outage 3s now", "unexpected 'now'");
    step_bad("at 20s rebind now", "takes no arguments");
    step_bad("at 20s end 5", "takes no arguments");
    step_bad("at 20s up rate=fast", "rate=fast");
    step_bad("at 20s up speed=1mbit", "unknown key 'speed'");
}
END_TEST

START_TEST(script_file_and_order)
{
    char path[] = "/tmp/hc-impair-script-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "# a lesson on a bad uplink\n"
                       "at 10s up rate=600kbit\n"
                       "\n"
                       "at 2s both delay=50ms\n"
                       "at 10s up loss=2%   # same time: after the rate step\n"
                       "at 5s up outage 2s\n"
                       "at 20s rebind\n"
                       "at 30s end\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    hc_imp_script_t sc;
    hc_imp_script_init(&sc);
    char err[512] = "";
    ck_assert_msg(hc_imp_script_load(&sc, path, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(sc.n, 6);
    hc_imp_script_sort(&sc);
    ck_assert_uint_eq(sc.steps[0].at_us, 2 * S);
    ck_assert_int_eq(sc.steps[0].line, 4);
    ck_assert_uint_eq(sc.steps[1].at_us, 5 * S);
    ck_assert_int_eq(sc.steps[2].line, 2);
    ck_assert_int_eq(sc.steps[3].line, 5);
    ck_assert_int_eq(sc.steps[5].kind, HC_IMP_STEP_END);
    hc_imp_script_fini(&sc);

    /* an error names the file and line */
    fd = open(path, O_WRONLY | O_TRUNC);
    const char *bad = "at 1s up delay=10ms\n# fine\nat 2s up delay=ten\n";
    ck_assert_int_eq(write(fd, bad, strlen(bad)), (int)strlen(bad));
    close(fd);
    hc_imp_script_init(&sc);
    ck_assert_int_eq(hc_imp_script_load(&sc, path, err, sizeof err), -HC_ECONFIG);
    char want[600];
    snprintf(want, sizeof want, "%s:3:", path);
    ck_assert_msg(strstr(err, want) != NULL, "message '%s'", err);
    ck_assert_ptr_nonnull(strstr(err, "delay=ten"));
    hc_imp_script_fini(&sc);
    unlink(path);
    ck_assert_int_eq(hc_imp_script_load(&sc, path, err, sizeof err), -HC_EIO);
    hc_imp_script_fini(&sc);
}
END_TEST

START_TEST(histogram_and_report)
{
    hc_imp_hist_t *h = calloc(1, sizeof *h);
    ck_assert_uint_eq(hc_imp_hist_quantile(h, 0.5), 0);
    for (uint64_t v = 1; v <= 1000; v++) hc_imp_hist_add(h, v * 100); /* 100 us .. 100 ms */
    uint64_t p50 = hc_imp_hist_quantile(h, 0.5), p95 = hc_imp_hist_quantile(h, 0.95);
    ck_assert_msg(p50 >= 50000 && p50 <= 50000 * 1.016 + 1, "p50 %llu", (unsigned long long)p50);
    ck_assert_msg(p95 >= 95000 && p95 <= 95000 * 1.016 + 1, "p95 %llu", (unsigned long long)p95);
    ck_assert_uint_eq(hc_imp_hist_quantile(h, 1.0), 100000);
    ck_assert_uint_eq(h->max, 100000);
    memset(h, 0, sizeof *h);
    for (uint64_t v = 0; v < 64; v++) hc_imp_hist_add(h, v);
    ck_assert_uint_eq(hc_imp_hist_quantile(h, 0.5), 31); /* exact below 64 */
    hc_imp_hist_add(h, UINT64_MAX);                      /* clamped, no crash */
    ck_assert_uint_eq(h->max, UINT64_MAX);
    free(h);

    hc_imp_stats_t *up = calloc(1, sizeof *up), *down = calloc(1, sizeof *down);
    up->pkts_in = 10;
    up->bytes_in = 1000;
    up->pkts_out = 7;
    up->bytes_out = 700;
    up->drop[HC_IMP_DROP_LOSS] = 2;
    up->drop[HC_IMP_DROP_QUEUE] = 1;
    hc_imp_hist_add(&up->qdelay_us, 1500);
    hc_imp_report_t r = {.elapsed_s = 2.0, .seed = 4, .clients = 1, .rebinds = 0};
    r.dir[0] = up;
    r.dir[1] = down;
    char buf[4096];
    int n = hc_imp_report_json(&r, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    ck_assert_ptr_nonnull(strstr(buf, "{\"impair\":{"));
    ck_assert_ptr_nonnull(strstr(buf, "\"up\":{\"pkts_in\":10,\"bytes_in\":1000,\"pkts_out\":7"));
    ck_assert_ptr_nonnull(strstr(buf, "\"dropped\":{\"loss\":2,\"burst\":0,\"queue\":1,"));
    ck_assert_ptr_nonnull(strstr(buf, "\"dropped_total\":3"));
    ck_assert_ptr_nonnull(strstr(buf, "\"p50\":1.500"));
    ck_assert_ptr_nonnull(strstr(buf, "\"rate_kbit\":2.800"));
    ck_assert_ptr_nonnull(strstr(buf, "\"down\":{\"pkts_in\":0"));
    ck_assert_int_eq(buf[n - 1], '}');
    ck_assert_int_eq(hc_imp_report_json(&r, buf, 50), -HC_ENOSPC);
    FILE *f = fopen("/dev/null", "w");
    hc_imp_report_text(&r, f);
    fclose(f);
    free(up);
    free(down);
}
END_TEST

START_TEST(rate_change_and_mode_switch)
{
    hc_imp_link_t *l = mk("rate=1mbit queue=1MB", 1);
    outlog_t o = {0};
    /* 2 Mbit/s offered; the rate drops to 500 kbit/s at 2 s */
    for (uint64_t t = 0; t < 4 * S; t += 4000) {
        if (t == 2 * S) apply(l, "rate=500kbit", t);
        pump(l, t, &o);
        hc_imp_link_submit(l, t, (uint32_t)(t / 4000), 1000);
    }
    pump(l, 4 * S, &o);
    uint64_t b1 = 0, b2 = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (o.p[i].t_out < 2 * S)
            b1 += o.p[i].len;
        else if (o.p[i].t_out >= 2 * S + 20000)
            b2 += o.p[i].len;
    }
    ck_assert_msg(fabs(b1 * 8 / 2.0 - 1e6) < 0.02e6, "first %llu", (unsigned long long)b1);
    ck_assert_msg(fabs(b2 * 8 / 1.98 - 5e5) < 0.02e6, "second %llu", (unsigned long long)b2);
    /* rate=off releases the queue at once */
    apply(l, "rate=off", 4 * S);
    ck_assert_uint_eq(hc_imp_link_queue_bytes(l), 0);
    pump(l, 4 * S, &o);
    ck_assert_uint_eq(hc_imp_link_inflight(l), 0);
    check_conservation(l);
    free(o.p);
    hc_imp_link_destroy(&l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("impair_link");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loss_bernoulli_10pct);
    tcase_add_test(tc, gilbert_elliott_stationary_and_bursts);
    tcase_add_test(tc, rate_limiter_10s_within_1pct);
    tcase_add_test(tc, rate_odd_value_no_drift);
    tcase_add_test(tc, queue_drop_tail_bound);
    tcase_add_test(tc, delay_exact);
    tcase_add_test(tc, jitter_bounded_in_order);
    tcase_add_test(tc, reorder_rate_and_gap);
    tcase_add_test(tc, dup_rate);
    tcase_add_test(tc, outage_drops_everything);
    tcase_add_test(tc, trace_parse_and_count);
    tcase_add_test(tc, trace_replay_bytes_times_scale);
    tcase_add_test(tc, trace_replay_att_lte);
    tcase_add_test(tc, seed_reproducible);
    tcase_add_test(tc, pool_references);
    tcase_add_test(tc, link_storage_full_is_nobuf);
    tcase_add_test(tc, spec_parser);
    tcase_add_test(tc, script_parser);
    tcase_add_test(tc, script_file_and_order);
    tcase_add_test(tc, histogram_and_report);
    tcase_add_test(tc, rate_change_and_mode_switch);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
