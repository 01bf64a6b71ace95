/*
 * timer.h - one-shot timers of an event loop, on a hierarchical timing wheel.
 *
 * Timers drive RTCP report intervals, NACK retries, keyframe-request
 * pacing, keepalives and session timeouts, so a worker holds thousands of
 * them and starts/stops them on the packet path: start and stop are O(1)
 * and never allocate (the caller owns each hc_timer_t, the wheel links
 * them intrusively).
 *
 * Semantics:
 * - hc_timer_start(loop, t, due_us, ...) arms t to fire once, on the loop's
 *   thread, in the first loop iteration whose hc_loop_now_us() >= due_us.
 *   A timer is never early. It is late by at most the time the loop spends
 *   blocked elsewhere (plus the kernel's wakeup slack).
 * - A due_us at or before the loop's current time fires on the NEXT loop
 *   iteration, never inside the current timer pass, so a callback that
 *   re-arms itself "now" cannot spin the loop.
 * - Starting an active timer re-arms it (stop + start). Stopping an inactive
 *   timer does nothing. A callback may start or stop any timer, itself
 *   included; a stopped timer never fires afterwards.
 * - Timers that fall due in the same millisecond fire in an unspecified
 *   order; otherwise they fire in due order.
 * - The timer is inactive when its callback runs, so the callback may
 *   free it (if it does not re-arm it).
 *
 * Structure (Varghese & Lauck's hierarchical wheel, as in the classic BSD
 * and Linux callouts): 1 ms ticks; level 0 has 256 slots of 1 ms, levels
 * 1-4 have 64 slots each of 256 ms, 16.4 s, 17.5 min and 18.6 h, covering
 * 2^32 ms (49 days; farther timers are parked at the horizon and cascade
 * again). A timer within the horizon moves down a level at most four times
 * in its life, so the cost per timer stays O(1).
 *
 * Ownership: the caller owns every hc_timer_t; it must stay valid (not
 * freed, not moved) while active. A zeroed hc_timer_t is inactive.
 * Threading: timers belong to their loop's thread. hc_loop_destroy()
 * deactivates timers still armed, so stopping them afterwards is safe.
 */
#ifndef HC_CORE_TIMER_H
#define HC_CORE_TIMER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_loop hc_loop_t;
typedef struct hc_timer hc_timer_t;
typedef void (*hc_timer_fn)(hc_loop_t *loop, hc_timer_t *t, void *ud);

typedef struct hc_tlink {
    struct hc_tlink *prev, *next;
} hc_tlink_t;

struct hc_timer {
    hc_tlink_t link;              /* private */
    struct hc_timer_wheel *wheel; /* private: NULL while inactive */
    hc_timer_fn cb;
    void *ud;
    uint64_t due_us; /* as last started; handy for drift-free periods */
    uint32_t where;  /* private: level and slot, or the ready list */
};

/* Arm (or re-arm) t to call cb(loop, t, ud) once at due_us. */
void hc_timer_start(hc_loop_t *loop, hc_timer_t *t, uint64_t due_us, hc_timer_fn cb, void *ud);

/* Disarm t; no-op when inactive. */
void hc_timer_stop(hc_timer_t *t);

static inline bool hc_timer_active(const hc_timer_t *t)
{
    return t->wheel != 0;
}

/* ---- internal to relay/core: the wheel an hc_loop_t embeds ---- */

#define HC_WHEEL_LEVELS 5
#define HC_WHEEL_L0     256
#define HC_WHEEL_LN     64

typedef struct hc_timer_wheel {
    hc_loop_t *loop;  /* passed to callbacks */
    uint64_t now_us;  /* the loop's current time */
    uint64_t cur;     /* tick (ms) whose level-0 slot may still hold timers */
    uint32_t armed;   /* timers in the levels (not the ready list) */
    uint32_t ready_n; /* timers on the ready list */
    uint64_t fired;   /* total callbacks run */
    hc_tlink_t ready; /* due at or before now when started */
    hc_tlink_t l0[HC_WHEEL_L0];
    hc_tlink_t ln[HC_WHEEL_LEVELS - 1][HC_WHEEL_LN];
    uint64_t bits0[HC_WHEEL_L0 / 64]; /* non-empty level-0 slots */
    uint64_t bitsn[HC_WHEEL_LEVELS - 1];
} hc_timer_wheel_t;

void hc_timer_wheel_init(hc_timer_wheel_t *w, hc_loop_t *loop, uint64_t now_us);
/* Deactivate every timer still armed (their callbacks never run). */
void hc_timer_wheel_fini(hc_timer_wheel_t *w);
void hc_timer_wheel_add(hc_timer_wheel_t *w, hc_timer_t *t, uint64_t due_us, hc_timer_fn cb,
                        void *ud);
/* Set the current time (never moves backwards). */
void hc_timer_wheel_set_now(hc_timer_wheel_t *w, uint64_t now_us);
/* Fire everything due at w->now_us; returns the number of callbacks run. */
uint32_t hc_timer_wheel_run(hc_timer_wheel_t *w);
/* Microseconds from w->now_us until the wheel next needs hc_timer_wheel_run
 * (0 = at once), or -1 when no timer is armed. Never later than the next
 * due timer; may be earlier (a cascade with nothing to fire). */
int64_t hc_timer_wheel_next(const hc_timer_wheel_t *w);

#endif
