/* twccfb.c - transport-wide CC arrival recorder and feedback writer; see
 * twccfb.h. */
#include "relay/core/twccfb.h"

#include "proto/err.h"
#include "proto/twcc.h"

#include <assert.h>
#include <string.h>

/* Feedback packets are built from this many numbers at a time, which keeps
 * the stack small; a window of more is reported in several packets. */
#define CHUNK 256

void hc_twccfb_init(hc_twccfb_t *t, uint64_t *arr, uint32_t window)
{
    assert(t && arr && window >= 16 && (window & (window - 1)) == 0);
    memset(t, 0, sizeof(*t));
    t->arr = arr;
    t->mask = window - 1;
    memset(arr, 0, (size_t)window * sizeof(*arr));
    hc_seq_unwrap_init(&t->uw);
}

void hc_twccfb_record(hc_twccfb_t *t, uint16_t seq, uint64_t arrival_us)
{
    int64_t x = hc_seq_unwrap(&t->uw, seq);
    int64_t window = (int64_t)t->mask + 1;
    if (!t->started) {
        t->started = true;
        t->base = x;
        t->highest = x - 1;
    }
    if (x < t->base) {
        t->late++;
        return;
    }
    if (x > t->highest) {
        /* Clear the slots of the numbers skipped (and of x itself): they
         * still hold arrivals from one window ago. */
        int64_t from = t->highest + 1;
        if (x - from >= window) from = x - window + 1;
        for (int64_t s = from; s <= x; s++) t->arr[(uint64_t)s & t->mask] = 0;
        t->highest = x;
        if (x - t->base >= window) {
            int64_t nb = x - window + 1;
            t->dropped += (uint64_t)(nb - t->base);
            t->base = nb;
        }
    }
    uint64_t *slot = &t->arr[(uint64_t)x & t->mask];
    if (*slot) return; /* duplicate: the first arrival counts */
    *slot = arrival_us + 1;
    t->recorded++;
}

uint32_t hc_twccfb_pending(const hc_twccfb_t *t)
{
    if (!t->started || t->highest < t->base) return 0;
    return (uint32_t)(t->highest - t->base + 1);
}

int hc_twccfb_build(hc_twccfb_t *t, uint8_t *buf, size_t cap, uint32_t sender_ssrc,
                    uint32_t media_ssrc, size_t *covered)
{
    if (covered) *covered = 0;
    if (!t || !buf) return -HC_EINVAL;
    uint32_t n = hc_twccfb_pending(t);
    if (n == 0) return 0;
    if (n > CHUNK) n = CHUNK;
    hc_twcc_pkt_t pkts[CHUNK];
    uint64_t ref_us = 0;
    bool have_ref = false;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = t->arr[(uint64_t)(t->base + i) & t->mask];
        pkts[i].seq = (uint16_t)(t->base + i);
        pkts[i].received = a != 0;
        if (a && !have_ref) {
            have_ref = true;
            ref_us = (a - 1) / HC_TWCC_REF_US * HC_TWCC_REF_US;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t a = t->arr[(uint64_t)(t->base + i) & t->mask];
        pkts[i].arrival_us = a ? (int64_t)(a - 1) - (int64_t)ref_us : 0;
    }
    /* The draft's reference time is 24 bits of 64 ms; only differences
     * modulo 2^24 mean anything to the sender, so wrap into the signed
     * range the writer takes. */
    int32_t ref = (int32_t)((ref_us / HC_TWCC_REF_US) & 0xffffffu);
    if (ref > HC_TWCC_REF_TIME_MAX) ref -= 0x1000000;
    hc_twcc_fb_t hdr = {.base_seq = (uint16_t)t->base, .ref_time = ref, .fb_count = t->fb_count};
    size_t cov = 0;
    int w = hc_rtcp_write_twcc(buf, cap, sender_ssrc, media_ssrc, &hdr, pkts, n, &cov);
    if (w < 0) return w;
    t->fb_count++;
    t->feedbacks++;
    t->base += (int64_t)cov;
    if (covered) *covered = cov;
    return w;
}
