/*
 * rxstats.c - RTP receiver statistics, RFC 3550 A.1, A.3, A.8 (see rxstats.h).
 */
#include "proto/rxstats.h"

#include "proto/err.h"

#include <string.h>

#define SEQ_MOD 65536u

/* A.1 init_seq(): start counting at seq. */
static void init_seq(hc_rxstats_t *st, uint16_t seq)
{
    st->base_seq = seq;
    st->max_seq = seq;
    st->bad_seq = SEQ_MOD + 1; /* so seq == bad_seq is false */
    st->cycles = 0;
    st->received = 0;
    st->received_prior = 0;
    st->expected_prior = 0;
    /* New numbering, new timestamp base: restart the transit baseline. */
    st->have_transit = false;
}

int hc_rxstats_init(hc_rxstats_t *st, uint32_t clock_rate)
{
    if (st == NULL || clock_rate == 0) return -HC_EINVAL;
    memset(st, 0, sizeof(*st));
    st->clock_rate = clock_rate;
    st->bad_seq = SEQ_MOD + 1;
    return 0;
}

/* A.1 update_seq(). Returns 1 when the packet counts, 0 otherwise. */
static int update_seq(hc_rxstats_t *st, uint16_t seq)
{
    uint16_t udelta = (uint16_t)(seq - st->max_seq);

    if (st->probation) {
        /* In sequence? The comparison is done in 16 bits so 65535 -> 0 is
         * in sequence (the RFC's C code promotes to int and misses it). */
        if (seq == (uint16_t)(st->max_seq + 1)) {
            st->probation--;
            st->max_seq = seq;
            if (st->probation == 0) {
                init_seq(st, seq);
                st->received++;
                return 1;
            }
        } else {
            st->probation = HC_RXSTATS_MIN_SEQUENTIAL - 1;
            st->max_seq = seq;
        }
        return 0;
    } else if (udelta < HC_RXSTATS_MAX_DROPOUT) {
        /* In order, with permissible gap. */
        if (seq < st->max_seq) st->cycles += SEQ_MOD; /* wrapped */
        st->max_seq = seq;
    } else if (udelta <= SEQ_MOD - HC_RXSTATS_MAX_MISORDER) {
        /* A very large jump. */
        if (seq == st->bad_seq) {
            /* Two sequential packets: the sender restarted without telling
             * us, so resync and pretend this is the first packet. */
            init_seq(st, seq);
        } else {
            st->bad_seq = (uint32_t)(seq + 1) & (SEQ_MOD - 1);
            return 0;
        }
    } else {
        /* Duplicate or late packet: counted, max_seq unchanged. */
    }
    st->received++;
    return 1;
}

/* Arrival time in RTP clock units, modulo 2^32 like RTP timestamps. Split
 * into seconds and the rest so the product never overflows. */
static uint32_t arrival_units(uint64_t us, uint32_t rate)
{
    uint64_t s = us / 1000000u, rem = us % 1000000u;
    return (uint32_t)(s * rate + rem * rate / 1000000u);
}

/* A.8: J += (|D| - J) / 16, in the integer form with J scaled by 16. */
static void update_jitter(hc_rxstats_t *st, uint32_t rtp_ts, uint64_t arrival_us)
{
    uint32_t transit = arrival_units(arrival_us, st->clock_rate) - rtp_ts;
    if (!st->have_transit) {
        st->have_transit = true;
        st->transit = transit;
        return;
    }
    uint32_t du = transit - st->transit;
    st->transit = transit;
    /* |D| of the signed 32-bit difference. */
    uint32_t d = du >= 0x80000000u ? 0u - du : du;
    st->jitter_q4 += d - ((st->jitter_q4 + 8) >> 4);
}

int hc_rxstats_update(hc_rxstats_t *st, uint16_t seq, uint32_t rtp_ts, uint64_t arrival_us)
{
    if (st == NULL || st->clock_rate == 0) return -HC_EINVAL;
    if (!st->started) {
        /* A.1: a new source starts on probation. */
        st->started = true;
        init_seq(st, seq);
        st->max_seq = (uint16_t)(seq - 1);
        st->probation = HC_RXSTATS_MIN_SEQUENTIAL;
    }
    int rc = update_seq(st, seq);
    if (rc == 1) update_jitter(st, rtp_ts, arrival_us);
    return rc;
}

static void fill(const hc_rxstats_t *st, hc_rxstats_report_t *out)
{
    /* A.3 */
    uint64_t extended_max = st->cycles + st->max_seq;
    uint64_t expected = extended_max - st->base_seq + 1;
    int64_t lost = (int64_t)expected - (int64_t)st->received;
    /* §6.4.1: a signed 24-bit field; clamp rather than wrap. */
    if (lost > 0x7fffff) lost = 0x7fffff;
    if (lost < -0x800000) lost = -0x800000;

    int64_t expected_interval = (int64_t)(expected - st->expected_prior);
    int64_t received_interval = (int64_t)(st->received - st->received_prior);
    int64_t lost_interval = expected_interval - received_interval;
    uint32_t fraction = 0;
    if (expected_interval > 0 && lost_interval > 0) {
        uint64_t f = ((uint64_t)lost_interval << 8) / (uint64_t)expected_interval;
        fraction = f > 255 ? 255 : (uint32_t)f;
    }

    out->fraction_lost = (uint8_t)fraction;
    out->cumulative_lost = (int32_t)lost;
    out->ext_highest_seq = (uint32_t)extended_max;
    uint64_t j = st->jitter_q4 >> 4;
    out->jitter = j > UINT32_MAX ? UINT32_MAX : (uint32_t)j;
    out->expected = expected;
    out->received = st->received;
}

/* Counted anything yet? Probation ends with init_seq() and received = 1. */
static bool valid(const hc_rxstats_t *st)
{
    return st->started && st->probation == 0 && st->received > 0;
}

int hc_rxstats_peek(const hc_rxstats_t *st, hc_rxstats_report_t *out)
{
    if (st == NULL || out == NULL) return -HC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (!valid(st)) return -HC_EAGAIN;
    fill(st, out);
    return 0;
}

int hc_rxstats_report(hc_rxstats_t *st, hc_rxstats_report_t *out)
{
    int rc = hc_rxstats_peek(st, out);
    if (rc < 0) return rc;
    st->expected_prior = out->expected;
    st->received_prior = out->received;
    return 0;
}
