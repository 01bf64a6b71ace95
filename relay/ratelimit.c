/*
 * ratelimit.c - token bucket and per-address connection counts
 * (ratelimit.h).
 */
#include "relay/ratelimit.h"

#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

void hc_rate_init(hc_rate_t *b, uint32_t rate, uint32_t burst, uint64_t now_us)
{
    b->rate = rate;
    b->burst = burst ? burst : rate;
    b->milli = (uint64_t)b->burst * 1000u;
    b->last_us = now_us;
}

bool hc_rate_take(hc_rate_t *b, uint64_t now_us)
{
    if (b->rate == 0) return true;
    if (now_us > b->last_us) {
        /* rate tokens/s = rate milli-tokens/ms = rate/1000 milli-tokens/us */
        uint64_t el = now_us - b->last_us;
        uint64_t cap = (uint64_t)b->burst * 1000u;
        uint64_t add = el >= 1000000000u ? cap : el * b->rate / 1000u;
        if (add) {
            b->milli = b->milli + add > cap ? cap : b->milli + add;
            /* Keep the remainder: advance the clock only by what was
             * turned into tokens. */
            b->last_us = b->milli == cap ? now_us : b->last_us + add * 1000u / b->rate;
        }
    }
    if (b->milli < 1000u) return false;
    b->milli -= 1000u;
    return true;
}

typedef struct ipent {
    hc_addr_t addr; /* port 0 */
    uint32_t count;
    int32_t next; /* chain within bucket or free list, -1 = end */
} ipent_t;

struct hc_iptable {
    uint32_t cap, nbuckets, size, seed;
    int32_t free_head;
    int32_t *buckets;
    ipent_t *ents;
};

int hc_iptable_new(hc_iptable_t **out, uint32_t capacity, uint32_t seed)
{
    *out = NULL;
    if (!capacity || capacity > (1u << 28)) return -HC_EINVAL;
    hc_iptable_t *t = calloc(1, sizeof *t);
    if (!t) return -HC_ENOMEM;
    uint32_t nb = 16;
    while (nb < capacity * 2) nb <<= 1;
    t->cap = capacity;
    t->nbuckets = nb;
    t->seed = seed;
    t->buckets = malloc(nb * sizeof *t->buckets);
    t->ents = calloc(capacity, sizeof *t->ents);
    if (!t->buckets || !t->ents) {
        hc_iptable_destroy(&t);
        return -HC_ENOMEM;
    }
    for (uint32_t i = 0; i < nb; i++) t->buckets[i] = -1;
    for (uint32_t i = 0; i < capacity; i++)
        t->ents[i].next = i + 1 < capacity ? (int32_t)i + 1 : -1;
    t->free_head = 0;
    *out = t;
    return 0;
}

void hc_iptable_destroy(hc_iptable_t **tp)
{
    if (!tp || !*tp) return;
    free((*tp)->buckets);
    free((*tp)->ents);
    free(*tp);
    *tp = NULL;
}

static hc_addr_t key_of(const hc_addr_t *a)
{
    hc_addr_t k = *a;
    hc_addr_set_port(&k, 0);
    if (hc_addr_family(&k) == AF_INET6) {
        k.u.in6.sin6_flowinfo = 0;
        k.u.in6.sin6_scope_id = 0;
    }
    return k;
}

static int32_t *find(const hc_iptable_t *t, const hc_addr_t *k)
{
    uint32_t h = hc_addr_hash(k, t->seed) & (t->nbuckets - 1);
    int32_t *p = &t->buckets[h];
    while (*p >= 0 && !hc_addr_eq(&t->ents[*p].addr, k)) p = &t->ents[*p].next;
    return p;
}

int hc_iptable_add(hc_iptable_t *t, const hc_addr_t *a, uint32_t limit)
{
    hc_addr_t k = key_of(a);
    int32_t *p = find(t, &k);
    if (*p >= 0) {
        ipent_t *e = &t->ents[*p];
        if (limit && e->count >= limit) return -HC_ERANGE;
        e->count++;
        return 0;
    }
    if (limit == 0 && t->free_head < 0) return -HC_EFULL;
    if (t->free_head < 0) return -HC_EFULL;
    int32_t i = t->free_head;
    ipent_t *e = &t->ents[i];
    t->free_head = e->next;
    e->addr = k;
    e->count = 1;
    e->next = -1;
    *p = i;
    t->size++;
    return 0;
}

void hc_iptable_remove(hc_iptable_t *t, const hc_addr_t *a)
{
    hc_addr_t k = key_of(a);
    int32_t *p = find(t, &k);
    if (*p < 0) return;
    int32_t i = *p;
    ipent_t *e = &t->ents[i];
    if (--e->count) return;
    *p = e->next;
    e->next = t->free_head;
    t->free_head = i;
    t->size--;
}

uint32_t hc_iptable_count(const hc_iptable_t *t, const hc_addr_t *a)
{
    hc_addr_t k = key_of(a);
    int32_t *p = find(t, &k);
    return *p >= 0 ? t->ents[*p].count : 0;
}

uint32_t hc_iptable_size(const hc_iptable_t *t)
{
    return t->size;
}
