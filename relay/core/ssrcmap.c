/* ssrcmap.c - open-addressing SSRC table; see ssrcmap.h. */
#include "relay/core/ssrcmap.h"

#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64's finaliser: every key bit reaches every slot bit, so SSRCs
 * that differ only in their low bits (steer.h picks them modulo the
 * worker count) still spread. */
static inline uint32_t slot_of(const hc_ssrcmap_t *m, uint64_t key)
{
    uint64_t x = key ^ ((uint64_t)m->seed * 0x9e3779b97f4a7c15ull);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (uint32_t)x & m->mask;
}

int hc_ssrcmap_init(hc_ssrcmap_t *m, uint32_t max_entries, uint32_t seed)
{
    if (!m) return -HC_EINVAL;
    memset(m, 0, sizeof(*m));
    if (max_entries == 0 || max_entries > (1u << 29)) return -HC_EINVAL;
    uint32_t slots = 16;
    while (slots < 2 * max_entries) slots <<= 1;
    m->slot = calloc(slots, sizeof(*m->slot));
    if (!m->slot) return -HC_ENOMEM;
    m->mask = slots - 1;
    m->max = max_entries;
    m->seed = seed;
    return 0;
}

void hc_ssrcmap_fini(hc_ssrcmap_t *m)
{
    if (!m) return;
    free(m->slot);
    memset(m, 0, sizeof(*m));
}

bool hc_ssrcmap_get(const hc_ssrcmap_t *m, uint64_t key, uint32_t *val)
{
    if (!m->slot) return false;
    for (uint32_t i = slot_of(m, key);; i = (i + 1) & m->mask) {
        const hc_ssrcmap_slot_t *s = &m->slot[i];
        if (!s->used) return false;
        if (s->key == key) {
            if (val) *val = s->val;
            return true;
        }
    }
}

int hc_ssrcmap_put(hc_ssrcmap_t *m, uint64_t key, uint32_t val)
{
    if (!m->slot) return -HC_EINVAL;
    uint32_t i = slot_of(m, key);
    for (;; i = (i + 1) & m->mask) {
        hc_ssrcmap_slot_t *s = &m->slot[i];
        if (!s->used) break;
        if (s->key == key) return -HC_EEXIST;
    }
    if (m->n >= m->max) return -HC_EFULL;
    m->slot[i].key = key;
    m->slot[i].val = val;
    m->slot[i].used = 1;
    m->n++;
    return 0;
}

int hc_ssrcmap_del(hc_ssrcmap_t *m, uint64_t key)
{
    if (!m->slot) return -HC_ENOTFOUND;
    uint32_t i = slot_of(m, key);
    for (;; i = (i + 1) & m->mask) {
        if (!m->slot[i].used) return -HC_ENOTFOUND;
        if (m->slot[i].key == key) break;
    }
    /* Backward-shift deletion (Knuth 6.4, algorithm R): move up every later
     * entry of the run whose home slot is not between the hole and it. */
    uint32_t hole = i;
    for (uint32_t j = (i + 1) & m->mask; m->slot[j].used; j = (j + 1) & m->mask) {
        uint32_t home = slot_of(m, m->slot[j].key);
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        m->slot[hole] = m->slot[j];
        hole = j;
    }
    m->slot[hole].used = 0;
    m->n--;
    return 0;
}
