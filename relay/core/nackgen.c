/* nackgen.c - missing sequence numbers and NACK retry timing; see nackgen.h. */
#include "relay/core/nackgen.h"

#include <assert.h>
#include <string.h>

void hc_nackgen_init(hc_nackgen_t *g, hc_nackgen_entry_t *entries, uint32_t cap,
                     uint32_t max_retries, uint64_t max_age_us)
{
    assert(g && entries && cap >= 1 && max_retries >= 1);
    memset(g, 0, sizeof(*g));
    g->e = entries;
    g->cap = cap;
    g->max_retries = max_retries > 255 ? 255 : max_retries;
    g->max_age_us = max_age_us;
    hc_seq_unwrap_init(&g->uw);
}

void hc_nackgen_reset(hc_nackgen_t *g)
{
    g->given_up += g->live;
    g->head = g->n = g->live = 0;
    g->started = false;
    hc_seq_unwrap_init(&g->uw);
}

static inline hc_nackgen_entry_t *at(hc_nackgen_t *g, uint32_t i)
{
    return &g->e[(g->head + i) % g->cap];
}

/* Drop dead entries from the front so the ring has room. */
static void compact_front(hc_nackgen_t *g)
{
    while (g->n && !at(g, 0)->live) {
        g->head = (g->head + 1) % g->cap;
        g->n--;
    }
}

static void push(hc_nackgen_t *g, uint16_t seq, uint64_t now_us)
{
    compact_front(g);
    if (g->n == g->cap && g->live < g->n) {
        /* Dead entries in the middle: squeeze them out (rare, O(cap)). */
        uint32_t k = 0;
        for (uint32_t i = 0; i < g->n; i++) {
            hc_nackgen_entry_t *e = at(g, i);
            if (e->live) *at(g, k++) = *e;
        }
        g->n = k;
    }
    if (g->n == g->cap) {
        /* Full: the oldest number is given up (it would be the first to
         * age out anyway). */
        hc_nackgen_entry_t *old = at(g, 0);
        if (old->live) {
            old->live = 0;
            g->live--;
            g->given_up++;
        }
        g->head = (g->head + 1) % g->cap;
        g->n--;
    }
    hc_nackgen_entry_t *e = at(g, g->n);
    e->seq = seq;
    e->first_us = now_us;
    e->sent_us = 0;
    e->retries = 0;
    e->live = 1;
    g->n++;
    g->live++;
    g->missing++;
}

int hc_nackgen_on_packet(hc_nackgen_t *g, uint16_t seq, uint64_t now_us, hc_nackgen_fill_t *fill)
{
    if (fill) memset(fill, 0, sizeof(*fill));
    int64_t x = hc_seq_unwrap(&g->uw, seq);
    if (!g->started) {
        g->started = true;
        g->highest = x;
        return 0;
    }
    if (x > g->highest) {
        int64_t gap = x - g->highest - 1;
        if (x - g->highest >= HC_NACKGEN_MAX_JUMP) {
            /* A restart, not loss (RFC 3550 A.1): start over at x. */
            g->given_up += g->live;
            g->head = g->n = g->live = 0;
            g->highest = x;
            return 0;
        }
        /* More holes than the list holds: only the newest cap are kept. */
        int64_t from = g->highest + 1;
        if (gap > (int64_t)g->cap) from = x - (int64_t)g->cap;
        if (from > g->highest + 1) {
            g->missing += (uint64_t)(from - g->highest - 1);
            g->given_up += (uint64_t)(from - g->highest - 1);
        }
        for (int64_t s = from; s < x; s++) push(g, (uint16_t)s, now_us);
        g->highest = x;
        return (int)(x - from);
    }
    if (x == g->highest || g->live == 0) return 0;
    /* Late or retransmitted: binary search in the ordered ring. Entries
     * are within 32768 of the newest one, so their distance from the
     * oldest entry orders them. */
    uint16_t base = at(g, 0)->seq;
    int32_t want = (uint16_t)(seq - base);
    if (hc_seq_diff(base, seq) < 0) return 0;
    uint32_t lo = 0, hi = g->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int32_t d = (uint16_t)(at(g, mid)->seq - base);
        if (d < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < g->n) {
        hc_nackgen_entry_t *e = at(g, lo);
        if (e->seq == seq && e->live) {
            e->live = 0;
            g->live--;
            g->recovered++;
            if (fill) {
                fill->recovered = true;
                fill->retries = e->retries;
                fill->sent_us = e->sent_us;
            }
            compact_front(g);
        }
    }
    return 0;
}

uint64_t hc_nackgen_retry_us(uint32_t rtt_us)
{
    uint64_t rtt = rtt_us ? rtt_us : HC_NACKGEN_DEFAULT_RTT_US;
    if (rtt < HC_NACKGEN_MIN_RTT_US) rtt = HC_NACKGEN_MIN_RTT_US;
    return rtt + rtt / 4;
}

/* When entry e next needs attention: asked for, or given up. */
static uint64_t entry_due(const hc_nackgen_t *g, const hc_nackgen_entry_t *e, uint64_t retry)
{
    uint64_t expire = g->max_age_us ? e->first_us + g->max_age_us : UINT64_MAX;
    uint64_t due = e->sent_us == 0 ? e->first_us : e->sent_us + retry;
    return due < expire ? due : expire;
}

size_t hc_nackgen_collect(hc_nackgen_t *g, uint64_t now_us, uint32_t rtt_us, uint16_t *out,
                          size_t max)
{
    uint64_t retry = hc_nackgen_retry_us(rtt_us);
    size_t k = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        hc_nackgen_entry_t *e = at(g, i);
        if (!e->live) continue;
        bool too_old = g->max_age_us && now_us >= e->first_us + g->max_age_us;
        bool done = e->retries >= g->max_retries && now_us >= e->sent_us + retry;
        if (too_old || done) {
            e->live = 0;
            g->live--;
            g->given_up++;
            continue;
        }
        if (e->retries >= g->max_retries) continue; /* last answer still awaited */
        if (e->sent_us != 0 && now_us < e->sent_us + retry) continue;
        if (k == max) continue;
        out[k++] = e->seq;
        e->sent_us = now_us ? now_us : 1;
        e->retries++;
        g->requests++;
    }
    compact_front(g);
    return k;
}

uint64_t hc_nackgen_next_due(const hc_nackgen_t *g, uint32_t rtt_us)
{
    uint64_t retry = hc_nackgen_retry_us(rtt_us);
    uint64_t best = UINT64_MAX;
    for (uint32_t i = 0; i < g->n; i++) {
        const hc_nackgen_entry_t *e = &g->e[(g->head + i) % g->cap];
        if (!e->live) continue;
        uint64_t d = entry_due(g, e, retry);
        if (d < best) best = d;
    }
    return best;
}
