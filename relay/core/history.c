/* history.c - byte ring of recent RTP packets indexed by sequence number;
 * see history.h. */
#include "relay/core/history.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

#define HDR      4
#define WRAP_LEN 0xffffu /* header length meaning "the rest up to the end is unused" */

static inline uint32_t round4(uint32_t n)
{
    return (n + 3u) & ~3u;
}

int hc_history_init(hc_history_t *h, uint32_t packets, uint32_t bytes)
{
    if (!h) return -HC_EINVAL;
    memset(h, 0, sizeof(*h));
    if (packets == 0 || (packets & (packets - 1)) != 0 || bytes == 0 || bytes > (1u << 30))
        return -HC_EINVAL;
    h->slot = calloc(packets, sizeof(*h->slot));
    h->cap = round4(bytes);
    h->buf = malloc(h->cap);
    if (!h->slot || !h->buf) {
        hc_history_fini(h);
        return -HC_ENOMEM;
    }
    h->mask = packets - 1;
    return 0;
}

void hc_history_fini(hc_history_t *h)
{
    if (!h) return;
    free(h->slot);
    free(h->buf);
    memset(h, 0, sizeof(*h));
}

void hc_history_clear(hc_history_t *h)
{
    if (!h->slot) return;
    memset(h->slot, 0, ((size_t)h->mask + 1) * sizeof(*h->slot));
    h->rd = h->wr = h->used = 0;
}

/* Drop the oldest copy in the ring (used > 0). */
static void evict_one(hc_history_t *h)
{
    uint16_t len = hc_rd16(h->buf + h->rd + 2);
    if (len == WRAP_LEN) {
        h->used -= h->cap - h->rd;
        h->rd = 0;
        return;
    }
    uint16_t seq = hc_rd16(h->buf + h->rd);
    hc_history_slot_t *s = &h->slot[seq & h->mask];
    /* The index may already point at a newer copy of this seq (or of
     * another seq sharing the slot); only the copy being freed is dropped. */
    if (s->len && s->seq == seq && s->off == h->rd + HDR) {
        s->len = 0;
        h->evicted++;
    }
    uint32_t sz = HDR + round4(len);
    h->used -= sz;
    h->rd += sz;
    if (h->rd == h->cap) h->rd = 0;
}

int hc_history_put(hc_history_t *h, uint16_t seq, const uint8_t *pkt, size_t len, uint64_t now_us)
{
    if (!h || !h->buf || !pkt || len == 0) return -HC_EINVAL;
    if (len > HC_HISTORY_MAX_PKT || HDR + round4((uint32_t)len) > h->cap) return -HC_ENOSPC;
    uint32_t need = HDR + round4((uint32_t)len);
    for (;;) {
        if (h->used == 0) h->rd = h->wr = 0;
        if (h->used == 0 || h->wr > h->rd) {
            /* Free space is [wr, cap) and [0, rd). */
            if (h->cap - h->wr >= need) break;
            /* Does not fit before the end: waste the tail and go round. */
            if (h->cap - h->wr >= HDR) hc_wr16(h->buf + h->wr + 2, WRAP_LEN);
            h->used += h->cap - h->wr;
            h->wr = 0;
            continue;
        }
        /* wr <= rd with data in between: free space is [wr, rd). */
        if (h->rd - h->wr >= need) break;
        evict_one(h);
    }
    hc_history_slot_t *s = &h->slot[seq & h->mask];
    hc_wr16(h->buf + h->wr, seq);
    hc_wr16(h->buf + h->wr + 2, (uint16_t)len);
    memcpy(h->buf + h->wr + HDR, pkt, len);
    s->off = h->wr + HDR;
    s->seq = seq;
    s->len = (uint16_t)len;
    s->t_ms = (uint32_t)(now_us / 1000u);
    h->wr += need;
    h->used += need;
    if (h->wr == h->cap) h->wr = 0;
    h->stored++;
    return 0;
}

int hc_history_get(const hc_history_t *h, uint16_t seq, uint64_t now_us, const uint8_t **pkt,
                   size_t *len, uint32_t *age_ms)
{
    if (!h || !h->slot) return -HC_ENOTFOUND;
    const hc_history_slot_t *s = &h->slot[seq & h->mask];
    if (!s->len || s->seq != seq) return -HC_ENOTFOUND;
    if (pkt) *pkt = h->buf + s->off;
    if (len) *len = s->len;
    if (age_ms) *age_ms = (uint32_t)(now_us / 1000u) - s->t_ms;
    return 0;
}

bool hc_history_has(const hc_history_t *h, uint16_t seq)
{
    if (!h->slot) return false;
    const hc_history_slot_t *s = &h->slot[seq & h->mask];
    return s->len && s->seq == seq;
}

size_t hc_history_footprint(const hc_history_t *h)
{
    if (!h->slot) return 0;
    return h->cap + ((size_t)h->mask + 1) * sizeof(*h->slot);
}
