#include "relay/floor.h"

#include "proto/err.h"

#include <string.h>

void hc_floor_init(hc_floor_t *f, uint32_t *storage, uint32_t cap)
{
    f->holder = 0;
    f->hands = storage;
    f->n_hands = 0;
    f->cap = storage ? cap : 0;
}

static int find_hand(const hc_floor_t *f, uint32_t p)
{
    for (uint32_t i = 0; i < f->n_hands; i++)
        if (f->hands[i] == p) return (int)i;
    return -1;
}

bool hc_floor_hand(const hc_floor_t *f, uint32_t p)
{
    return p != 0 && find_hand(f, p) >= 0;
}

int hc_floor_raise(hc_floor_t *f, uint32_t p)
{
    if (p == 0) return -HC_EINVAL;
    if (find_hand(f, p) >= 0) return 0;
    if (f->n_hands >= f->cap) return -HC_EFULL;
    f->hands[f->n_hands++] = p;
    return 1;
}

int hc_floor_lower(hc_floor_t *f, uint32_t p)
{
    int i = find_hand(f, p);
    if (p == 0 || i < 0) return 0;
    /* Keep the raise order of the others: the teacher's console shows the
     * queue oldest first. */
    memmove(&f->hands[i], &f->hands[i + 1], (f->n_hands - (uint32_t)i - 1) * sizeof(f->hands[0]));
    f->n_hands--;
    return 1;
}

int hc_floor_grant(hc_floor_t *f, uint32_t p, uint32_t *prev)
{
    if (p == 0) return -HC_EINVAL;
    if (prev) *prev = f->holder;
    int bits = 0;
    if (f->holder != p) {
        f->holder = p;
        bits |= HC_FLOOR_MOVED;
    }
    if (hc_floor_lower(f, p) > 0) bits |= HC_FLOOR_LOWERED;
    return bits;
}

int hc_floor_revoke(hc_floor_t *f, uint32_t expect, uint32_t *prev)
{
    if (f->holder == 0 || (expect != 0 && expect != f->holder)) return -HC_ENOTFOUND;
    if (prev) *prev = f->holder;
    f->holder = 0;
    return HC_FLOOR_MOVED;
}

int hc_floor_remove(hc_floor_t *f, uint32_t p)
{
    int bits = 0;
    if (p == 0) return 0;
    if (f->holder == p) {
        f->holder = 0;
        bits |= HC_FLOOR_MOVED;
    }
    if (hc_floor_lower(f, p) > 0) bits |= HC_FLOOR_LOWERED;
    return bits;
}
