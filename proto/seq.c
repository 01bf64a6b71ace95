/*
 * seq.c - RTP sequence number and timestamp arithmetic (see seq.h).
 */
#include "proto/seq.h"

#include <assert.h>
#include <stddef.h>

/* Converting an out-of-range unsigned value to a signed type is
 * implementation-defined in C11, so the mapping into the signed range is
 * spelled out. */
int16_t hc_seq_diff(uint16_t a, uint16_t b)
{
    uint16_t d = (uint16_t)(b - a);
    return d >= 0x8000u ? (int16_t)((int32_t)d - 0x10000) : (int16_t)d;
}

bool hc_seq_lt(uint16_t a, uint16_t b)
{
    return hc_seq_diff(a, b) > 0;
}

int32_t hc_ts_diff(uint32_t a, uint32_t b)
{
    uint32_t d = b - a;
    return d >= 0x80000000u ? (int32_t)((int64_t)d - 0x100000000LL) : (int32_t)d;
}

bool hc_ts_lt(uint32_t a, uint32_t b)
{
    return hc_ts_diff(a, b) > 0;
}

void hc_seq_unwrap_init(hc_seq_unwrap_t *u)
{
    assert(u != NULL);
    u->highest = 0;
    u->started = false;
}

int64_t hc_seq_unwrap(hc_seq_unwrap_t *u, uint16_t seq)
{
    assert(u != NULL);
    if (!u->started) {
        u->started = true;
        u->highest = seq;
        return seq;
    }
    /* Measure from the highest value so one late packet does not move the
     * reference backwards. */
    int64_t v = u->highest + hc_seq_diff((uint16_t)u->highest, seq);
    if (v > u->highest) u->highest = v;
    return v;
}

void hc_ts_unwrap_init(hc_ts_unwrap_t *u)
{
    assert(u != NULL);
    u->highest = 0;
    u->started = false;
}

int64_t hc_ts_unwrap(hc_ts_unwrap_t *u, uint32_t ts)
{
    assert(u != NULL);
    if (!u->started) {
        u->started = true;
        u->highest = ts;
        return ts;
    }
    int64_t v = u->highest + hc_ts_diff((uint32_t)u->highest, ts);
    if (v > u->highest) u->highest = v;
    return v;
}
