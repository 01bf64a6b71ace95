/*
 * loop.h - the per-worker event loop: fd readiness, timers, cross-thread
 * posts and an after-batch hook, over epoll.
 *
 * hc-relay runs one loop per worker thread (each with its own UDP socket,
 * packet pool and sessions); hc-edge runs one for its media legs. One
 * iteration of hc_loop_run():
 *   1. epoll_wait, sleeping no longer than the next timer (never when
 *      something is already due);
 *   2. hc_loop_now_us() is read once and cached for the whole iteration;
 *   3. fd callbacks for every ready watch;
 *   4. posted messages, in the order they were posted (per poster);
 *   5. due timers (timer.h);
 *   6. after-batch hooks, in the order added: where a worker flushes the
 *      sendmmsg batch it filled in 3-5, so one syscall carries them all.
 * Nothing in an iteration allocates.
 *
 * Busy accounting: time spent outside epoll_wait is "busy", inside it is
 * "idle"; the relay exports busy / (busy + idle) over a scrape interval as
 * its loop busy ratio (take the difference of two hc_loop_stats()).
 *
 * Ownership: the caller owns every hc_watch_t, hc_timer_t, hc_loop_msg_t and
 * hc_loop_hook_t and keeps it valid while registered; registering never
 * allocates. hc_loop_new() allocates the loop; hc_loop_destroy() frees it.
 * Threading: a loop belongs to the thread that runs it. Only
 * hc_loop_post(), hc_loop_stop(), hc_loop_stats() and hc_loop_busy_ratio()
 * may be called from other threads; everything else (watches, timers, hooks, run) from the
 * loop's thread, or from any one thread while the loop is not running.
 */
#ifndef HC_CORE_LOOP_H
#define HC_CORE_LOOP_H

#include "relay/core/timer.h"

#include <stdint.h>

typedef struct hc_loop hc_loop_t;

/* ---- fd watches ---- */

/* Event bits: the epoll values, so they pass straight through. */
#define HC_EV_IN  0x001u     /* readable */
#define HC_EV_OUT 0x004u     /* writable */
#define HC_EV_ERR 0x008u     /* error (always reported) */
#define HC_EV_HUP 0x010u     /* hang-up (always reported) */
#define HC_EV_ET  (1u << 31) /* edge-triggered (default: level) */

typedef struct hc_watch hc_watch_t;
typedef void (*hc_watch_fn)(hc_loop_t *loop, hc_watch_t *w, uint32_t events);

struct hc_watch {
    int fd;
    uint32_t events;
    hc_watch_fn cb;
    void *ud;
    hc_loop_t *loop;              /* private: NULL while not watched */
    struct hc_watch *prev, *next; /* private */
};

/* Watch fd for events (HC_EV_*); cb(loop, w, ready_events) runs on the
 * loop's thread. Returns 0, -HC_EEXIST if w is already watched, -HC_EINVAL,
 * or -HC_EIO (errno from epoll_ctl kept). */
int hc_loop_watch(hc_loop_t *loop, hc_watch_t *w, int fd, uint32_t events, hc_watch_fn cb,
                  void *ud);
/* Change the events of a watched w: 0, -HC_EINVAL or -HC_EIO. */
int hc_loop_watch_modify(hc_watch_t *w, uint32_t events);
/* Stop watching (call before closing the fd). Safe inside any callback:
 * events already collected for w in this iteration are discarded, so w may
 * be freed right after. No-op when not watched. */
void hc_loop_unwatch(hc_watch_t *w);

/* ---- timers: hc_timer_start()/hc_timer_stop() in timer.h ---- */

/* ---- cross-thread posts ---- */

typedef struct hc_loop_msg hc_loop_msg_t;
typedef void (*hc_loop_msg_fn)(hc_loop_t *loop, hc_loop_msg_t *m);

struct hc_loop_msg {
    hc_loop_msg_t *next; /* private while posted */
    hc_loop_msg_fn fn;
    void *ud;
};

static inline void hc_loop_msg_init(hc_loop_msg_t *m, hc_loop_msg_fn fn, void *ud)
{
    m->next = 0;
    m->fn = fn;
    m->ud = ud;
}

/* Queue m (fn set) to run m->fn(loop, m) on the loop's thread. Thread-safe
 * and lock-free; the loop is woken once per batch (only the post that finds
 * the queue empty writes the eventfd). The loop never touches m after
 * calling fn, so fn may free or re-post it. m must not be posted again
 * before its fn has started. */
void hc_loop_post(hc_loop_t *loop, hc_loop_msg_t *m);

/* ---- after-batch hooks ---- */

typedef struct hc_loop_hook hc_loop_hook_t;
typedef void (*hc_loop_hook_fn)(hc_loop_t *loop, void *ud);

struct hc_loop_hook {
    hc_loop_hook_fn fn;
    void *ud;
    hc_loop_t *loop;                  /* private */
    struct hc_loop_hook *prev, *next; /* private */
};

/* Run fn(loop, ud) once at the end of every iteration. h must not already
 * be added. */
void hc_loop_hook_add(hc_loop_t *loop, hc_loop_hook_t *h, hc_loop_hook_fn fn, void *ud);
/* Remove h (safe inside any callback, including h's own). No-op if not added. */
void hc_loop_hook_remove(hc_loop_hook_t *h);

/* ---- life cycle and running ---- */

/* Create a loop: 0, -HC_ENOMEM, or -HC_EIO (errno kept). */
int hc_loop_new(hc_loop_t **out);
/* Destroy *loop and set it to NULL. Must not be running. Messages still
 * queued are run first on the calling thread (so their owners can free
 * them); timers, watches and hooks still registered are deactivated (their
 * callbacks never run). NULL or *loop == NULL is a no-op. */
void hc_loop_destroy(hc_loop_t **loop);

/* Run iterations until hc_loop_stop(). Returns 0, or -HC_EIO when epoll
 * fails (errno kept). A stop requested before run was entered is honoured
 * at once; the stop request is cleared when run returns. */
int hc_loop_run(hc_loop_t *loop);
/* One iteration, sleeping at most max_wait_us (< 0: until something
 * happens; 0: poll). A pending stop request (consumed only by
 * hc_loop_run) makes it poll. Returns the number of callbacks run (fd,
 * post, timer; hooks not counted) or -HC_EIO. */
int hc_loop_run_once(hc_loop_t *loop, int64_t max_wait_us);
/* Make hc_loop_run() return after the current iteration. Thread-safe. */
void hc_loop_stop(hc_loop_t *loop);

/* The time cached at the start of the current iteration (hc_now_us clock,
 * or the clock set below). */
uint64_t hc_loop_now_us(const hc_loop_t *loop);

/* Replace the clock (for tests and simulations): now(ud) is read where the
 * loop would call hc_now_us(). A clock that goes back is treated as
 * standing still. NULL restores hc_now_us(). Call it before arming any
 * timer (the wheel restarts at the new clock's time). Loop thread only. */
void hc_loop_set_clock(hc_loop_t *loop, uint64_t (*now)(void *ud), void *ud);

/* ---- statistics (readable from any thread) ---- */

typedef struct hc_loop_stats {
    uint64_t busy_us; /* time outside epoll_wait while iterating */
    uint64_t idle_us; /* time inside epoll_wait */
    uint64_t iterations;
    uint64_t fd_events; /* fd callbacks run */
    uint64_t posts;     /* messages run */
    uint64_t wakeups;   /* eventfd writes by posters and hc_loop_stop */
    uint64_t timers;    /* timer callbacks run */
} hc_loop_stats_t;

void hc_loop_stats(const hc_loop_t *loop, hc_loop_stats_t *out);
/* busy / (busy + idle) since the loop was created, 0 before any iteration. */
double hc_loop_busy_ratio(const hc_loop_t *loop);

#endif
