/*
 * worker.h - hc-relay's media worker threads.
 *
 * One worker per core (config `[relay] workers`, 0 = one per online CPU).
 * Each owns: an hc_loop_t, a UDP socket that joined the media port's
 * SO_REUSEPORT group (relay/core/steer.h steers each datagram to the worker
 * whose index is its SSRC modulo the worker count), a packet pool, an
 * hc_router_t, and the sessions the session layer placed on it. The worker
 * receives with recvmmsg into the pool, hands each datagram to its router,
 * and flushes the router's send batch once per loop iteration.
 *
 * Every ~1 s a worker copies its router counters and loop busy time into a
 * snapshot guarded by a mutex, which /metrics and the admin API read from
 * other threads (hc_workers_snapshot).
 *
 * Ownership: hc_workers_start() allocates everything; hc_workers_stop()
 * joins the threads and frees it all.
 * Threading: hc_worker_post() and hc_workers_snapshot() from any thread;
 * everything else of a worker (its loop, router, sessions) on its own thread.
 */
#ifndef HC_RELAY_WORKER_H
#define HC_RELAY_WORKER_H

#include "relay/core/addr.h"
#include "relay/core/loop.h"
#include "relay/core/pool.h"
#include "relay/core/router.h"

#include <pthread.h>
#include <stdint.h>

typedef struct hc_worker hc_worker_t;

typedef struct hc_workers_cfg {
    unsigned count;            /* number of workers, >= 1 */
    hc_addr_t bind;            /* media address; port 0 picks one */
    uint32_t pool_packets;     /* packet pool per worker */
    hc_router_cfg_t router;    /* per worker */
    hc_router_events_t events; /* given to every worker's router */
} hc_workers_cfg_t;

typedef struct hc_workers {
    hc_worker_t **w; /* w[0..n-1] */
    unsigned n;
    uint16_t port; /* the media port actually bound */
} hc_workers_t;

typedef struct hc_worker_snapshot {
    hc_router_counters_t router;
    uint64_t busy_us, idle_us; /* cumulative loop time */
    uint32_t pool_in_use, pool_high_water;
    uint64_t pool_exhausted, rx_truncated, rx_nobuf;
    double busy_ratio; /* busy / (busy + idle) over the last snapshot interval
                          (added by server; in a sum: the mean of the workers) */
} hc_worker_snapshot_t;

/* Open the sockets, start the threads. 0 or -HC_E* (with a message in err). */
int hc_workers_start(hc_workers_t *ws, const hc_workers_cfg_t *cfg, char *err, size_t errcap);
/* Stop every loop, join, free. Safe on a zeroed or stopped set. */
void hc_workers_stop(hc_workers_t *ws);

unsigned hc_worker_index(const hc_worker_t *w);
hc_loop_t *hc_worker_loop(hc_worker_t *w);
hc_router_t *hc_worker_router(hc_worker_t *w);

/* Run fn(w, ud) on w's thread, soon. The closure is allocated here and freed
 * after it ran; returns -HC_ENOMEM when that fails. If the workers stop
 * before it runs, it still runs (on the stopping thread) so ud is not lost. */
int hc_worker_post(hc_worker_t *w, void (*fn)(hc_worker_t *w, void *ud), void *ud);

/* Sum of every worker's latest snapshot (sum = true) or worker i's. */
void hc_workers_snapshot(hc_workers_t *ws, hc_worker_snapshot_t *out);
/* Worker w's latest snapshot, any thread (added by server: /metrics has a
 * busy ratio per worker). */
void hc_worker_snapshot(hc_worker_t *w, hc_worker_snapshot_t *out);

#endif
