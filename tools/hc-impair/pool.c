#include "tools/hc-impair/pool.h"

#include "proto/err.h"

#include <assert.h>
#include <stdlib.h>

struct hc_imp_pool {
    uint32_t nslots;
    uint32_t slot_size;
    uint32_t nfree;
    uint32_t *free_stack; /* indices of free slots */
    uint16_t *refs;
    uint32_t *tags;
    uint8_t *data;
};

int hc_imp_pool_new(hc_imp_pool_t **out, uint32_t nslots, uint32_t slot_size)
{
    if (!out || nslots == 0 || slot_size == 0) return -HC_EINVAL;
    hc_imp_pool_t *p = calloc(1, sizeof *p);
    if (!p) return -HC_ENOMEM;
    p->nslots = nslots;
    p->slot_size = slot_size;
    p->free_stack = calloc(nslots, sizeof *p->free_stack);
    p->refs = calloc(nslots, sizeof *p->refs);
    p->tags = calloc(nslots, sizeof *p->tags);
    p->data = malloc((size_t)nslots * slot_size);
    if (!p->free_stack || !p->refs || !p->tags || !p->data) {
        hc_imp_pool_destroy(&p);
        return -HC_ENOMEM;
    }
    /* Hand out low indices first: keeps the working set small. */
    for (uint32_t i = 0; i < nslots; i++) p->free_stack[i] = nslots - 1 - i;
    p->nfree = nslots;
    *out = p;
    return 0;
}

void hc_imp_pool_destroy(hc_imp_pool_t **pool)
{
    if (!pool || !*pool) return;
    hc_imp_pool_t *p = *pool;
    free(p->free_stack);
    free(p->refs);
    free(p->tags);
    free(p->data);
    free(p);
    *pool = NULL;
}

int64_t hc_imp_pool_get(hc_imp_pool_t *p)
{
    if (p->nfree == 0) return -HC_EFULL;
    uint32_t s = p->free_stack[--p->nfree];
    p->refs[s] = 1;
    p->tags[s] = 0;
    return s;
}

void hc_imp_pool_ref(hc_imp_pool_t *p, uint32_t slot)
{
    assert(slot < p->nslots && p->refs[slot] > 0 && p->refs[slot] < UINT16_MAX);
    p->refs[slot]++;
}

void hc_imp_pool_put(hc_imp_pool_t *p, uint32_t slot)
{
    assert(slot < p->nslots && p->refs[slot] > 0);
    if (--p->refs[slot] == 0) p->free_stack[p->nfree++] = slot;
}

uint8_t *hc_imp_pool_data(hc_imp_pool_t *p, uint32_t slot)
{
    assert(slot < p->nslots);
    return p->data + (size_t)slot * p->slot_size;
}

void hc_imp_pool_set_tag(hc_imp_pool_t *p, uint32_t slot, uint32_t tag)
{
    assert(slot < p->nslots);
    p->tags[slot] = tag;
}

uint32_t hc_imp_pool_tag(const hc_imp_pool_t *p, uint32_t slot)
{
    assert(slot < p->nslots);
    return p->tags[slot];
}

uint32_t hc_imp_pool_slot_size(const hc_imp_pool_t *p)
{
    return p->slot_size;
}
uint32_t hc_imp_pool_nslots(const hc_imp_pool_t *p)
{
    return p->nslots;
}
uint32_t hc_imp_pool_free_count(const hc_imp_pool_t *p)
{
    return p->nfree;
}
