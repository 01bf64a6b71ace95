/*
 * worker.c - hc-relay's media worker threads (worker.h).
 *
 * Per worker: a loop, the worker's socket of the SO_REUSEPORT group, a
 * packet pool, a receive batch and a router. The socket's watch callback
 * drains the socket with recvmmsg (a bounded number of batches, so timers
 * and posts still run under a flood; the watch is level-triggered, so what
 * is left wakes the next iteration) and hands every datagram to the
 * router; an after-batch hook flushes the router's sendmmsg batch once per
 * iteration; a 1 s timer publishes the snapshot.
 */
#include "relay/worker.h"

#include "proto/err.h"
#include "relay/core/clock.h"
#include "relay/core/steer.h"
#include "relay/core/udp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECV_BUDGET 16 /* recvmmsg batches per readiness callback */
#define SNAPSHOT_US 1000000u

struct hc_worker {
    unsigned index;
    int fd;
    hc_loop_t *loop;
    hc_pool_t pool;
    hc_udp_rx_t rx;
    hc_router_t *router;
    hc_watch_t watch;
    hc_loop_hook_t flush_hook;
    hc_timer_t snap_timer;
    pthread_t thread;
    bool started;

    /* posts: closed once the loop is gone, so a late post fails cleanly */
    pthread_mutex_t post_mu;
    bool closed;

    /* snapshot, under snap_mu */
    pthread_mutex_t snap_mu;
    hc_worker_snapshot_t snap;
    uint64_t last_busy, last_idle; /* loop thread */
};

typedef struct post {
    hc_loop_msg_t msg;
    hc_worker_t *w;
    void (*fn)(hc_worker_t *w, void *ud);
    void *ud;
} post_t;

unsigned hc_worker_index(const hc_worker_t *w)
{
    return w->index;
}

hc_loop_t *hc_worker_loop(hc_worker_t *w)
{
    return w->loop;
}

hc_router_t *hc_worker_router(hc_worker_t *w)
{
    return w->router;
}

static void on_readable(hc_loop_t *loop, hc_watch_t *wt, uint32_t events)
{
    hc_worker_t *w = wt->ud;
    (void)events;
    hc_pkt_t *pk[HC_UDP_BATCH];
    for (int b = 0; b < RECV_BUDGET; b++) {
        int n = hc_udp_recv_batch(w->fd, &w->rx, &w->pool, pk, HC_UDP_BATCH, hc_loop_now_us(loop));
        if (n <= 0) break; /* nothing waiting, or an error counted in rx */
        for (int i = 0; i < n; i++) hc_router_input(w->router, pk[i]);
        if (n < HC_UDP_BATCH) break;
    }
}

static void on_after_batch(hc_loop_t *loop, void *ud)
{
    hc_worker_t *w = ud;
    (void)loop;
    hc_router_flush(w->router);
}

static void take_snapshot(hc_worker_t *w)
{
    hc_worker_snapshot_t s;
    memset(&s, 0, sizeof s);
    hc_router_counters(w->router, &s.router);
    hc_loop_stats_t ls;
    hc_loop_stats(w->loop, &ls);
    s.busy_us = ls.busy_us;
    s.idle_us = ls.idle_us;
    uint64_t db = ls.busy_us - w->last_busy, di = ls.idle_us - w->last_idle;
    s.busy_ratio = db + di ? (double)db / (double)(db + di) : 0.0;
    w->last_busy = ls.busy_us;
    w->last_idle = ls.idle_us;
    s.pool_in_use = w->pool.in_use;
    s.pool_high_water = w->pool.high_water;
    s.pool_exhausted = w->pool.exhausted;
    s.rx_truncated = w->rx.truncated;
    s.rx_nobuf = w->rx.nobuf;
    pthread_mutex_lock(&w->snap_mu);
    w->snap = s;
    pthread_mutex_unlock(&w->snap_mu);
}

static void on_snapshot(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_worker_t *w = ud;
    take_snapshot(w);
    /* From the last due time, so the period does not drift. */
    hc_timer_start(loop, t, t->due_us + SNAPSHOT_US, on_snapshot, w);
}

static void *worker_main(void *arg)
{
    hc_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "hc-worker-%u", w->index);
    pthread_setname_np(pthread_self(), name);
    hc_timer_start(w->loop, &w->snap_timer, hc_now_us() + SNAPSHOT_US, on_snapshot, w);
    hc_loop_run(w->loop);
    take_snapshot(w);
    return NULL;
}

static void run_post(hc_loop_t *loop, hc_loop_msg_t *m)
{
    (void)loop;
    post_t *p = (post_t *)m;
    p->fn(p->w, p->ud);
    free(p);
}

int hc_worker_post(hc_worker_t *w, void (*fn)(hc_worker_t *w, void *ud), void *ud)
{
    post_t *p = malloc(sizeof *p);
    if (!p) return -HC_ENOMEM;
    p->w = w;
    p->fn = fn;
    p->ud = ud;
    hc_loop_msg_init(&p->msg, run_post, p);
    pthread_mutex_lock(&w->post_mu);
    if (w->closed) {
        pthread_mutex_unlock(&w->post_mu);
        free(p);
        return -HC_ECLOSED;
    }
    hc_loop_post(w->loop, &p->msg);
    pthread_mutex_unlock(&w->post_mu);
    return 0;
}

void hc_worker_snapshot(hc_worker_t *w, hc_worker_snapshot_t *out)
{
    pthread_mutex_lock(&w->snap_mu);
    *out = w->snap;
    pthread_mutex_unlock(&w->snap_mu);
}

void hc_workers_snapshot(hc_workers_t *ws, hc_worker_snapshot_t *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < ws->n; i++) {
        hc_worker_snapshot_t s;
        hc_worker_snapshot(ws->w[i], &s);
        hc_router_counters_t *a = &out->router;
        const hc_router_counters_t *b = &s.router;
        a->rx_packets += b->rx_packets;
        a->rx_bytes += b->rx_bytes;
        a->tx_packets += b->tx_packets;
        a->tx_bytes += b->tx_bytes;
        a->drop_malformed += b->drop_malformed;
        a->drop_unknown += b->drop_unknown;
        a->drop_auth += b->drop_auth;
        a->drop_replay += b->drop_replay;
        a->drop_nobuf += b->drop_nobuf;
        a->drop_send += b->drop_send;
        a->drop_noaddr += b->drop_noaddr;
        a->nacks_rx += b->nacks_rx;
        a->nacks_tx += b->nacks_tx;
        a->rtx_tx += b->rtx_tx;
        a->plis_rx += b->plis_rx;
        a->plis_tx += b->plis_tx;
        a->firs_rx += b->firs_rx;
        a->rebinds += b->rebinds;
        a->legs += b->legs;
        a->instreams += b->instreams;
        a->tracks += b->tracks;
        out->busy_us += s.busy_us;
        out->idle_us += s.idle_us;
        out->pool_in_use += s.pool_in_use;
        out->pool_high_water += s.pool_high_water;
        out->pool_exhausted += s.pool_exhausted;
        out->rx_truncated += s.rx_truncated;
        out->rx_nobuf += s.rx_nobuf;
        out->busy_ratio += s.busy_ratio / ws->n;
    }
}

static void worker_free(hc_worker_t *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->post_mu);
    w->closed = true;
    pthread_mutex_unlock(&w->post_mu);
    hc_loop_unwatch(&w->watch);
    hc_loop_hook_remove(&w->flush_hook);
    hc_timer_stop(&w->snap_timer);
    /* Posts still queued run now, on this thread, while the router exists,
     * so their owners can clean up (worker.h); then the router, then the
     * loop. */
    if (w->loop) hc_loop_run_once(w->loop, 0);
    hc_router_destroy(&w->router);
    hc_loop_destroy(&w->loop);
    hc_udp_rx_fini(&w->rx, &w->pool);
    hc_pool_fini(&w->pool);
    pthread_mutex_destroy(&w->post_mu);
    pthread_mutex_destroy(&w->snap_mu);
    free(w);
}

int hc_workers_start(hc_workers_t *ws, const hc_workers_cfg_t *cfg, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) err = dummy, errcap = sizeof dummy;
    memset(ws, 0, sizeof *ws);
    if (!cfg || cfg->count < 1 || cfg->count > HC_STEER_MAX || cfg->pool_packets < 1) {
        snprintf(err, errcap, "workers: count must be 1..%u and pool_packets >= 1", HC_STEER_MAX);
        return -HC_EINVAL;
    }
    int *fds = calloc(cfg->count, sizeof *fds);
    ws->w = calloc(cfg->count, sizeof *ws->w);
    if (!fds || !ws->w) {
        free(fds);
        free(ws->w);
        ws->w = NULL;
        return -HC_ENOMEM;
    }
    int rc = hc_steer_open(&cfg->bind, cfg->count, fds);
    if (rc < 0) {
        char a[HC_ADDR_STRLEN] = "?";
        hc_addr_format(&cfg->bind, a, sizeof a);
        snprintf(err, errcap, "cannot open the media port %s: %s", a, strerror(errno));
        free(fds);
        free(ws->w);
        ws->w = NULL;
        return rc;
    }
    hc_addr_t local;
    if (hc_udp_local(fds[0], &local) == 0) ws->port = hc_addr_port(&local);

    for (unsigned i = 0; i < cfg->count; i++) {
        hc_worker_t *w = calloc(1, sizeof *w);
        if (!w) {
            rc = -HC_ENOMEM;
            for (unsigned k = i; k < cfg->count; k++) close(fds[k]);
            break;
        }
        pthread_mutex_init(&w->post_mu, NULL);
        pthread_mutex_init(&w->snap_mu, NULL);
        w->index = i;
        w->fd = fds[i];
        ws->w[i] = w;
        ws->n = i + 1;
        hc_udp_rx_init(&w->rx);
        if ((rc = hc_loop_new(&w->loop)) < 0) {
            snprintf(err, errcap, "worker %u: cannot create its event loop", i);
            for (unsigned k = i + 1; k < cfg->count; k++) close(fds[k]);
            break;
        }
        if ((rc = hc_pool_init(&w->pool, cfg->pool_packets)) < 0) {
            snprintf(err, errcap, "worker %u: cannot allocate %u packet buffers", i,
                     cfg->pool_packets);
            for (unsigned k = i + 1; k < cfg->count; k++) close(fds[k]);
            break;
        }
        hc_router_cfg_t rcfg = cfg->router;
        rcfg.seed = cfg->router.seed ^ (0x9E3779B9u * (i + 1));
        if ((rc = hc_router_new(&w->router, &rcfg, w->loop, w->fd, &w->pool, &cfg->events)) < 0) {
            snprintf(err, errcap, "worker %u: cannot create its router (%s)", i, hc_strerror(rc));
            for (unsigned k = i + 1; k < cfg->count; k++) close(fds[k]);
            break;
        }
        if ((rc = hc_loop_watch(w->loop, &w->watch, w->fd, HC_EV_IN, on_readable, w)) < 0) {
            snprintf(err, errcap, "worker %u: cannot watch its socket", i);
            for (unsigned k = i + 1; k < cfg->count; k++) close(fds[k]);
            break;
        }
        hc_loop_hook_add(w->loop, &w->flush_hook, on_after_batch, w);
        take_snapshot(w);
    }
    free(fds);
    if (rc < 0) {
        hc_workers_stop(ws);
        return rc;
    }
    for (unsigned i = 0; i < ws->n; i++) {
        hc_worker_t *w = ws->w[i];
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, errcap, "worker %u: cannot start its thread", i);
            hc_workers_stop(ws);
            return -HC_ENOMEM;
        }
        w->started = true;
    }
    return 0;
}

void hc_workers_stop(hc_workers_t *ws)
{
    if (!ws || !ws->w) return;
    for (unsigned i = 0; i < ws->n; i++)
        if (ws->w[i] && ws->w[i]->started) hc_loop_stop(ws->w[i]->loop);
    for (unsigned i = 0; i < ws->n; i++) {
        hc_worker_t *w = ws->w[i];
        if (w && w->started) {
            pthread_join(w->thread, NULL);
            w->started = false;
        }
    }
    /* Every socket of the group stays open until all threads are gone, so
     * steering never shifts under a running worker (steer.h). */
    for (unsigned i = 0; i < ws->n; i++) {
        hc_worker_t *w = ws->w[i];
        if (!w) continue;
        int fd = w->fd;
        worker_free(w);
        if (fd >= 0) close(fd);
        ws->w[i] = NULL;
    }
    free(ws->w);
    memset(ws, 0, sizeof *ws);
}
