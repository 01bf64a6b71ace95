/* loop.c - epoll event loop with timers, posts and after-batch hooks; see loop.h. */
#include "relay/core/loop.h"

#include "proto/err.h"
#include "relay/core/clock.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(HC_EV_IN == EPOLLIN && HC_EV_OUT == EPOLLOUT && HC_EV_ERR == EPOLLERR &&
                   HC_EV_HUP == EPOLLHUP && HC_EV_ET == (uint32_t)EPOLLET,
               "HC_EV_* must be the epoll bits");

#define LOOP_EVENTS 64

struct hc_loop {
    int epfd;
    int efd;                        /* eventfd: posts and stop wake the loop through it */
    hc_watch_t wake;                /* the eventfd's watch */
    _Atomic(hc_loop_msg_t *) posts; /* LIFO stack pushed by any thread */
    atomic_int stop;
    int no_pwait2; /* kernel lacks epoll_pwait2: ms timeouts */

    uint64_t now_us;
    uint64_t (*clock)(void *ud);
    void *clock_ud;
    uint64_t last_wake; /* end of the previous epoll_wait, 0 before the first */

    struct epoll_event ev[LOOP_EVENTS];
    int ev_i, ev_n; /* the batch being dispatched */

    hc_watch_t *watches;
    hc_loop_hook_t *hooks, *hooks_tail, *hook_next;

    /* Written by the loop thread only (except wakeups), read by anyone. */
    _Atomic uint64_t busy_us, idle_us, iterations, fd_events, posts_run, wakeups, timers;

    hc_timer_wheel_t wheel;
};

/* Single-writer counter bump without a locked instruction. */
static inline void bump(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static uint64_t read_clock(hc_loop_t *loop)
{
    uint64_t t = loop->clock ? loop->clock(loop->clock_ud) : hc_now_us();
    return t < loop->now_us ? loop->now_us : t;
}

static void wake(hc_loop_t *loop)
{
    uint64_t one = 1;
    /* EAGAIN only if the counter is saturated, which still wakes us. */
    ssize_t r = write(loop->efd, &one, sizeof(one));
    (void)r;
    atomic_fetch_add_explicit(&loop->wakeups, 1, memory_order_relaxed);
}

static void on_wake(hc_loop_t *loop, hc_watch_t *w, uint32_t events)
{
    uint64_t v;
    (void)w;
    (void)events;
    ssize_t r = read(loop->efd, &v, sizeof(v));
    (void)r;
}

int hc_loop_new(hc_loop_t **out)
{
    if (!out) return -HC_EINVAL;
    *out = NULL;
    hc_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop) return -HC_ENOMEM;
    loop->efd = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) goto fail;
    loop->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->efd < 0) goto fail;
    atomic_init(&loop->posts, NULL);
    atomic_init(&loop->stop, 0);
    loop->now_us = hc_now_us();
    hc_timer_wheel_init(&loop->wheel, loop, loop->now_us);
    if (hc_loop_watch(loop, &loop->wake, loop->efd, HC_EV_IN, on_wake, NULL) < 0) goto fail;
    *out = loop;
    return 0;
fail:;
    int e = errno;
    if (loop->efd >= 0) close(loop->efd);
    if (loop->epfd >= 0) close(loop->epfd);
    free(loop);
    errno = e;
    return -HC_EIO;
}

/* Run the queued messages in posting order; returns how many. */
static uint32_t run_posts(hc_loop_t *loop)
{
    if (!atomic_load_explicit(&loop->posts, memory_order_relaxed)) return 0;
    hc_loop_msg_t *m = atomic_exchange_explicit(&loop->posts, NULL, memory_order_acquire);
    hc_loop_msg_t *fifo = NULL;
    while (m) {
        hc_loop_msg_t *next = m->next;
        m->next = fifo;
        fifo = m;
        m = next;
    }
    uint32_t n = 0;
    while (fifo) {
        hc_loop_msg_t *next = fifo->next;
        fifo->next = NULL;
        fifo->fn(loop, fifo); /* may free or re-post fifo */
        fifo = next;
        n++;
    }
    bump(&loop->posts_run, n);
    return n;
}

void hc_loop_destroy(hc_loop_t **loopp)
{
    if (!loopp || !*loopp) return;
    hc_loop_t *loop = *loopp;
    /* Give queued messages to their callbacks so owners can release them;
     * bounded in case callbacks keep re-posting. */
    for (int i = 0; i < 1000 && run_posts(loop) > 0; i++) {
    }
    hc_timer_wheel_fini(&loop->wheel);
    for (hc_watch_t *w = loop->watches; w;) {
        hc_watch_t *next = w->next;
        w->loop = NULL;
        w->prev = w->next = NULL;
        w = next;
    }
    for (hc_loop_hook_t *h = loop->hooks; h;) {
        hc_loop_hook_t *next = h->next;
        h->loop = NULL;
        h->prev = h->next = NULL;
        h = next;
    }
    close(loop->efd);
    close(loop->epfd);
    free(loop);
    *loopp = NULL;
}

int hc_loop_watch(hc_loop_t *loop, hc_watch_t *w, int fd, uint32_t events, hc_watch_fn cb, void *ud)
{
    if (!loop || !w || !cb || fd < 0) return -HC_EINVAL;
    if (w->loop) return -HC_EEXIST;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return -HC_EIO;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->ud = ud;
    w->loop = loop;
    w->prev = NULL;
    w->next = loop->watches;
    if (loop->watches) loop->watches->prev = w;
    loop->watches = w;
    return 0;
}

int hc_loop_watch_modify(hc_watch_t *w, uint32_t events)
{
    if (!w || !w->loop) return -HC_EINVAL;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) return -HC_EIO;
    w->events = events;
    return 0;
}

void hc_loop_unwatch(hc_watch_t *w)
{
    if (!w || !w->loop) return;
    hc_loop_t *loop = w->loop;
    /* Fails only if the fd was closed first; the kernel then dropped it. */
    int e = errno;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    errno = e;
    /* The batch being dispatched may still name w. */
    for (int i = loop->ev_i + 1; i < loop->ev_n; i++)
        if (loop->ev[i].data.ptr == w) loop->ev[i].data.ptr = NULL;
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->watches = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->loop = NULL;
}

void hc_timer_start(hc_loop_t *loop, hc_timer_t *t, uint64_t due_us, hc_timer_fn cb, void *ud)
{
    assert(loop && t && cb);
    hc_timer_wheel_add(&loop->wheel, t, due_us, cb, ud);
}

void hc_loop_post(hc_loop_t *loop, hc_loop_msg_t *m)
{
    assert(loop && m && m->fn);
    hc_loop_msg_t *old = atomic_load_explicit(&loop->posts, memory_order_relaxed);
    do {
        m->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&loop->posts, &old, m, memory_order_release,
                                                    memory_order_relaxed));
    /* Only the post that makes the queue non-empty wakes the loop: the
     * loop takes the whole queue at once after that wakeup. */
    if (!old) wake(loop);
}

void hc_loop_hook_add(hc_loop_t *loop, hc_loop_hook_t *h, hc_loop_hook_fn fn, void *ud)
{
    assert(loop && h && fn && !h->loop);
    h->fn = fn;
    h->ud = ud;
    h->loop = loop;
    h->next = NULL;
    h->prev = loop->hooks_tail;
    if (loop->hooks_tail)
        loop->hooks_tail->next = h;
    else
        loop->hooks = h;
    loop->hooks_tail = h;
}

void hc_loop_hook_remove(hc_loop_hook_t *h)
{
    if (!h || !h->loop) return;
    hc_loop_t *loop = h->loop;
    if (loop->hook_next == h) loop->hook_next = h->next;
    if (h->prev)
        h->prev->next = h->next;
    else
        loop->hooks = h->next;
    if (h->next)
        h->next->prev = h->prev;
    else
        loop->hooks_tail = h->prev;
    h->prev = h->next = NULL;
    h->loop = NULL;
}

static void run_hooks(hc_loop_t *loop)
{
    hc_loop_hook_t *h = loop->hooks;
    while (h) {
        loop->hook_next = h->next; /* hc_loop_hook_remove() keeps this valid */
        h->fn(loop, h->ud);
        h = loop->hook_next;
    }
    loop->hook_next = NULL;
}

static int wait_events(hc_loop_t *loop, int64_t wait_us)
{
    if (wait_us > 0 && !loop->no_pwait2) {
        struct timespec ts = {.tv_sec = (time_t)(wait_us / 1000000),
                              .tv_nsec = (long)(wait_us % 1000000) * 1000};
        int n = epoll_pwait2(loop->epfd, loop->ev, LOOP_EVENTS, &ts, NULL);
        if (n >= 0 || errno != ENOSYS) return n;
        loop->no_pwait2 = 1;
    }
    int ms;
    if (wait_us < 0)
        ms = -1;
    else if (wait_us > (int64_t)INT32_MAX * 1000)
        ms = INT32_MAX;
    else
        ms = (int)((wait_us + 999) / 1000); /* round up: never wake early */
    return epoll_wait(loop->epfd, loop->ev, LOOP_EVENTS, ms);
}

int hc_loop_run_once(hc_loop_t *loop, int64_t max_wait_us)
{
    uint64_t t0 = read_clock(loop);
    if (loop->last_wake) bump(&loop->busy_us, t0 - loop->last_wake);
    loop->now_us = t0;
    hc_timer_wheel_set_now(&loop->wheel, t0);

    int64_t wait;
    if (atomic_load_explicit(&loop->stop, memory_order_relaxed) ||
        atomic_load_explicit(&loop->posts, memory_order_relaxed)) {
        wait = 0;
    } else {
        wait = hc_timer_wheel_next(&loop->wheel);
        if (max_wait_us >= 0 && (wait < 0 || wait > max_wait_us)) wait = max_wait_us;
    }

    int n = wait_events(loop, wait);
    if (n < 0) {
        if (errno != EINTR) return -HC_EIO;
        n = 0;
    }

    uint64_t t1 = read_clock(loop);
    bump(&loop->idle_us, t1 - t0);
    loop->last_wake = t1;
    loop->now_us = t1;
    hc_timer_wheel_set_now(&loop->wheel, t1);

    uint32_t ran = 0, fd_ran = 0;
    loop->ev_n = n;
    for (loop->ev_i = 0; loop->ev_i < n; loop->ev_i++) {
        hc_watch_t *w = loop->ev[loop->ev_i].data.ptr;
        if (!w) continue; /* unwatched earlier in this batch */
        w->cb(loop, w, loop->ev[loop->ev_i].events);
        if (w != &loop->wake) fd_ran++;
    }
    loop->ev_n = 0;
    loop->ev_i = 0;
    bump(&loop->fd_events, fd_ran);
    ran += fd_ran;

    ran += run_posts(loop);

    uint32_t fired = hc_timer_wheel_run(&loop->wheel);
    bump(&loop->timers, fired);
    ran += fired;

    run_hooks(loop);
    bump(&loop->iterations, 1);
    return (int)ran;
}

int hc_loop_run(hc_loop_t *loop)
{
    int rc = 0;
    while (!atomic_load_explicit(&loop->stop, memory_order_acquire)) {
        int r = hc_loop_run_once(loop, -1);
        if (r < 0) {
            rc = r;
            break;
        }
    }
    atomic_store_explicit(&loop->stop, 0, memory_order_relaxed);
    return rc;
}

void hc_loop_stop(hc_loop_t *loop)
{
    atomic_store_explicit(&loop->stop, 1, memory_order_release);
    wake(loop);
}

uint64_t hc_loop_now_us(const hc_loop_t *loop)
{
    return loop->now_us;
}

void hc_loop_set_clock(hc_loop_t *loop, uint64_t (*now)(void *ud), void *ud)
{
    /* A new clock has a new origin: restart time (and the empty wheel) there. */
    assert(loop->wheel.armed == 0 && loop->wheel.ready_n == 0);
    loop->clock = now;
    loop->clock_ud = ud;
    loop->now_us = now ? now(ud) : hc_now_us();
    loop->last_wake = 0;
    hc_timer_wheel_init(&loop->wheel, loop, loop->now_us);
}

void hc_loop_stats(const hc_loop_t *loop, hc_loop_stats_t *out)
{
    /* The counters are atomics, so a metrics thread may read them. */
    hc_loop_t *l = (hc_loop_t *)loop;
    out->busy_us = atomic_load_explicit(&l->busy_us, memory_order_relaxed);
    out->idle_us = atomic_load_explicit(&l->idle_us, memory_order_relaxed);
    out->iterations = atomic_load_explicit(&l->iterations, memory_order_relaxed);
    out->fd_events = atomic_load_explicit(&l->fd_events, memory_order_relaxed);
    out->posts = atomic_load_explicit(&l->posts_run, memory_order_relaxed);
    out->wakeups = atomic_load_explicit(&l->wakeups, memory_order_relaxed);
    out->timers = atomic_load_explicit(&l->timers, memory_order_relaxed);
}

double hc_loop_busy_ratio(const hc_loop_t *loop)
{
    hc_loop_stats_t s;
    hc_loop_stats(loop, &s);
    uint64_t total = s.busy_us + s.idle_us;
    return total ? (double)s.busy_us / (double)total : 0.0;
}
