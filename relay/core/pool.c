/* pool.c - fixed packet pool; see pool.h. */
#include "relay/core/pool.h"

#include "proto/err.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64u

int hc_pool_init(hc_pool_t *p, uint32_t n)
{
    if (!p) return -HC_EINVAL;
    memset(p, 0, sizeof(*p));
    if (n == 0 || n > (1u << 24)) return -HC_EINVAL;

    /* Headers first, rounded up to a cache line, then the buffers. */
    size_t hdr = ((size_t)n * sizeof(hc_pkt_t) + CACHE_LINE - 1) & ~(size_t)(CACHE_LINE - 1);
    size_t total = hdr + (size_t)n * HC_PKT_CAP;
    void *block = aligned_alloc(CACHE_LINE, total);
    if (!block) return -HC_ENOMEM;

    p->block = block;
    p->pkts = block;
    p->n = n;
    uint8_t *bufs = (uint8_t *)block + hdr;
    /* Build the free list so the first gets walk memory upwards. */
    for (uint32_t i = n; i-- > 0;) {
        hc_pkt_t *pkt = &p->pkts[i];
        memset(pkt, 0, sizeof(*pkt));
        pkt->data = bufs + (size_t)i * HC_PKT_CAP;
        pkt->cap = HC_PKT_CAP;
        pkt->pool_free = 1;
        pkt->next = p->free;
        p->free = pkt;
    }
    return 0;
}

void hc_pool_fini(hc_pool_t *p)
{
    if (!p) return;
    free(p->block);
    memset(p, 0, sizeof(*p));
}

void hc_pool_put(hc_pool_t *p, hc_pkt_t *pkt)
{
    if (!pkt) return;
    assert(pkt >= p->pkts && pkt < p->pkts + p->n && "packet from another pool");
    assert(!pkt->pool_free && "packet put twice");
    assert(p->in_use > 0);
    pkt->pool_free = 1;
    pkt->next = p->free;
    p->free = pkt;
    p->in_use--;
}

uint32_t hc_pool_put_chain(hc_pool_t *p, hc_pkt_t *head)
{
    uint32_t n = 0;
    while (head) {
        hc_pkt_t *next = head->next;
        hc_pool_put(p, head);
        head = next;
        n++;
    }
    return n;
}
