/* timer.c - hierarchical timing wheel of the event loop; see timer.h. */
#include "relay/core/timer.h"

#include <assert.h>
#include <stddef.h>

#define WHERE_READY UINT32_MAX
#define L0_MASK     (HC_WHEEL_L0 - 1u)
#define LN_MASK     (HC_WHEEL_LN - 1u)
#define T_OF(l)     ((hc_timer_t *)((char *)(l)-offsetof(hc_timer_t, link)))

/* Bit position where level `lvl` (1..4) starts: 8, 14, 20, 26. */
static inline unsigned level_shift(unsigned lvl)
{
    return 8u + 6u * (lvl - 1u);
}

static inline void list_init(hc_tlink_t *h)
{
    h->prev = h->next = h;
}
static inline int list_empty(const hc_tlink_t *h)
{
    return h->next == h;
}

static inline void list_append(hc_tlink_t *h, hc_tlink_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void list_unlink(hc_tlink_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

/* Move every entry of `from` onto the empty list `to`. */
static inline void list_splice(hc_tlink_t *from, hc_tlink_t *to)
{
    if (list_empty(from)) return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    list_init(from);
}

static inline hc_tlink_t *head_of(hc_timer_wheel_t *w, uint32_t where)
{
    if (where == WHERE_READY) return &w->ready;
    unsigned lvl = where >> 8, idx = where & 0xffu;
    return lvl == 0 ? &w->l0[idx] : &w->ln[lvl - 1][idx];
}

static inline void bit_set(hc_timer_wheel_t *w, uint32_t where)
{
    unsigned lvl = where >> 8, idx = where & 0xffu;
    if (lvl == 0)
        w->bits0[idx >> 6] |= 1ull << (idx & 63);
    else
        w->bitsn[lvl - 1] |= 1ull << idx;
}

static inline void bit_clear(hc_timer_wheel_t *w, uint32_t where)
{
    unsigned lvl = where >> 8, idx = where & 0xffu;
    if (lvl == 0)
        w->bits0[idx >> 6] &= ~(1ull << (idx & 63));
    else
        w->bitsn[lvl - 1] &= ~(1ull << idx);
}

/* First non-empty level-0 slot in [from, to), or -1. */
static int bit0_next(const uint64_t *bits, unsigned from, unsigned to)
{
    while (from < to) {
        unsigned wi = from >> 6;
        uint64_t m = bits[wi] >> (from & 63);
        if (m) {
            unsigned b = from + (unsigned)__builtin_ctzll(m);
            return b < to ? (int)b : -1;
        }
        from = (wi + 1) << 6;
    }
    return -1;
}

/* Put an armed timer into the slot for its due tick, relative to w->cur
 * (the classic placement: the nearer the tick, the finer the level). */
static void place(hc_timer_wheel_t *w, hc_timer_t *t)
{
    uint64_t tick = t->due_us / 1000u;
    if (tick < w->cur) tick = w->cur;
    uint64_t d = tick - w->cur;
    uint32_t where;
    if (d < HC_WHEEL_L0) {
        where = (uint32_t)(tick & L0_MASK);
    } else {
        unsigned lvl = 1;
        if (d > UINT32_MAX) tick = w->cur + UINT32_MAX; /* park at the horizon */
        while (lvl < HC_WHEEL_LEVELS - 1 && d >= (1ull << level_shift(lvl + 1))) lvl++;
        where = (uint32_t)(lvl << 8) | (uint32_t)((tick >> level_shift(lvl)) & LN_MASK);
    }
    t->where = where;
    list_append(head_of(w, where), &t->link);
    bit_set(w, where);
}

void hc_timer_wheel_init(hc_timer_wheel_t *w, hc_loop_t *loop, uint64_t now_us)
{
    w->loop = loop;
    w->now_us = now_us;
    w->cur = now_us / 1000u;
    w->armed = 0;
    w->ready_n = 0;
    w->fired = 0;
    list_init(&w->ready);
    for (unsigned i = 0; i < HC_WHEEL_L0; i++) list_init(&w->l0[i]);
    for (unsigned l = 0; l < HC_WHEEL_LEVELS - 1; l++)
        for (unsigned i = 0; i < HC_WHEEL_LN; i++) list_init(&w->ln[l][i]);
    for (unsigned i = 0; i < HC_WHEEL_L0 / 64; i++) w->bits0[i] = 0;
    for (unsigned l = 0; l < HC_WHEEL_LEVELS - 1; l++) w->bitsn[l] = 0;
}

static void drop_all(hc_tlink_t *h)
{
    while (!list_empty(h)) {
        hc_timer_t *t = T_OF(h->next);
        list_unlink(&t->link);
        t->wheel = NULL;
    }
}

void hc_timer_wheel_fini(hc_timer_wheel_t *w)
{
    drop_all(&w->ready);
    for (unsigned i = 0; i < HC_WHEEL_L0; i++) drop_all(&w->l0[i]);
    for (unsigned l = 0; l < HC_WHEEL_LEVELS - 1; l++)
        for (unsigned i = 0; i < HC_WHEEL_LN; i++) drop_all(&w->ln[l][i]);
    for (unsigned i = 0; i < HC_WHEEL_L0 / 64; i++) w->bits0[i] = 0;
    for (unsigned l = 0; l < HC_WHEEL_LEVELS - 1; l++) w->bitsn[l] = 0;
    w->armed = 0;
    w->ready_n = 0;
}

void hc_timer_wheel_add(hc_timer_wheel_t *w, hc_timer_t *t, uint64_t due_us, hc_timer_fn cb,
                        void *ud)
{
    assert(cb);
    if (t->wheel) hc_timer_stop(t);
    t->cb = cb;
    t->ud = ud;
    t->due_us = due_us;
    t->wheel = w;
    if (due_us <= w->now_us) {
        /* Already due: the ready list runs at the next timer pass, which
         * has spliced the list first, so this waits one iteration. */
        t->where = WHERE_READY;
        list_append(&w->ready, &t->link);
        w->ready_n++;
        return;
    }
    place(w, t);
    w->armed++;
}

void hc_timer_stop(hc_timer_t *t)
{
    hc_timer_wheel_t *w = t->wheel;
    if (!w) return;
    list_unlink(&t->link);
    if (t->where == WHERE_READY) {
        w->ready_n--;
    } else {
        w->armed--;
        /* During a pass the slot's timers sit on a local list; the slot
         * head is then empty or holds re-queued timers, which is exactly
         * what its bit must say. */
        if (list_empty(head_of(w, t->where))) bit_clear(w, t->where);
    }
    t->wheel = NULL;
}

void hc_timer_wheel_set_now(hc_timer_wheel_t *w, uint64_t now_us)
{
    if (now_us > w->now_us) w->now_us = now_us;
}

static inline void fire(hc_timer_wheel_t *w, hc_timer_t *t)
{
    t->wheel = NULL;
    w->fired++;
    t->cb(w->loop, t, t->ud);
}

/* Fire the due timers of one level-0 slot; keep the rest (those due later
 * within the current millisecond). */
static uint32_t run_slot(hc_timer_wheel_t *w, unsigned idx)
{
    hc_tlink_t *h = &w->l0[idx];
    hc_tlink_t local;
    uint32_t n = 0;

    if (list_empty(h)) return 0;
    list_init(&local);
    list_splice(h, &local);
    bit_clear(w, idx);
    while (!list_empty(&local)) {
        hc_timer_t *t = T_OF(local.next);
        list_unlink(&t->link);
        if (t->due_us <= w->now_us) {
            w->armed--;
            fire(w, t);
            n++;
        } else {
            list_append(h, &t->link);
            bit_set(w, idx);
        }
    }
    return n;
}

/* Entering a tick that is a multiple of 256 ms: move the slots of every
 * level whose boundary this is one level (or more) down, top level first. */
static void cascade(hc_timer_wheel_t *w, uint64_t tick)
{
    for (unsigned lvl = HC_WHEEL_LEVELS - 1; lvl >= 1; lvl--) {
        unsigned shift = level_shift(lvl);
        if (tick & ((1ull << shift) - 1)) continue;
        uint32_t where = (uint32_t)(lvl << 8) | (uint32_t)((tick >> shift) & LN_MASK);
        hc_tlink_t *h = head_of(w, where);
        hc_tlink_t local;
        if (list_empty(h)) continue;
        list_init(&local);
        list_splice(h, &local);
        bit_clear(w, where);
        while (!list_empty(&local)) {
            hc_timer_t *t = T_OF(local.next);
            list_unlink(&t->link);
            place(w, t);
        }
    }
}

uint32_t hc_timer_wheel_run(hc_timer_wheel_t *w)
{
    uint64_t now_ms = w->now_us / 1000u;
    uint32_t n = 0;

    if (!list_empty(&w->ready)) {
        hc_tlink_t local;
        list_init(&local);
        list_splice(&w->ready, &local);
        while (!list_empty(&local)) {
            hc_timer_t *t = T_OF(local.next);
            list_unlink(&t->link);
            w->ready_n--;
            fire(w, t);
            n++;
        }
    }

    for (;;) {
        if (w->armed == 0) {
            /* Nothing in the levels: no cascade can matter, jump. */
            if (now_ms > w->cur) w->cur = now_ms;
            break;
        }
        n += run_slot(w, (unsigned)(w->cur & L0_MASK));
        if (w->cur >= now_ms) break;
        /* Skip to the next non-empty level-0 slot, the next cascade
         * boundary, or now, whichever comes first. */
        uint64_t next = (w->cur | L0_MASK) + 1;
        int s = bit0_next(w->bits0, (unsigned)(w->cur & L0_MASK) + 1, HC_WHEEL_L0);
        if (s >= 0) next = (w->cur & ~(uint64_t)L0_MASK) + (unsigned)s;
        if (next > now_ms) next = now_ms;
        w->cur = next;
        if ((next & L0_MASK) == 0) cascade(w, next);
    }
    return n;
}

int64_t hc_timer_wheel_next(const hc_timer_wheel_t *w)
{
    if (!list_empty(&w->ready)) return 0;
    if (w->armed == 0) return -1;

    uint64_t best = UINT64_MAX;
    unsigned start = (unsigned)(w->cur & L0_MASK);
    int s = bit0_next(w->bits0, start, HC_WHEEL_L0);
    if (s < 0) s = bit0_next(w->bits0, 0, start);
    if (s >= 0) {
        /* Every level-0 timer is due within 256 ticks of cur, so the first
         * non-empty slot holds the earliest timers; take their exact time. */
        const hc_tlink_t *h = &w->l0[s];
        for (const hc_tlink_t *l = h->next; l != h; l = l->next) {
            const hc_timer_t *t = T_OF(l);
            if (t->due_us < best) best = t->due_us;
        }
    }
    for (unsigned lvl = 1; lvl < HC_WHEEL_LEVELS; lvl++) {
        uint64_t word = w->bitsn[lvl - 1];
        if (!word) continue;
        unsigned shift = level_shift(lvl);
        uint64_t base = w->cur >> shift;
        unsigned r = (unsigned)((base + 1) & LN_MASK);
        uint64_t rot = r ? (word >> r) | (word << (64 - r)) : word;
        uint64_t dj = (uint64_t)__builtin_ctzll(rot) + 1; /* 1..64 slots ahead */
        uint64_t tick = (base + dj) << shift;
        /* A cascade moves timers down without firing them: an early,
         * safe wakeup bound for timers not yet in level 0. */
        if (tick * 1000u < best) best = tick * 1000u;
    }
    return best <= w->now_us ? 0 : (int64_t)(best - w->now_us);
}
