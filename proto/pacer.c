/*
 * pacer.c - leaky-bucket pacer with priority queues (see pacer.h).
 *
 * The budget is kept as "debt": bytes sent and not yet paid off at the
 * pacing rate. A packet may leave while the debt is at most the burst
 * budget (rate x burst_us, never less than nothing), which lets a few
 * packets out back to back after an idle time and then spaces them at the
 * pacing rate; the debt never goes below zero, so idle time does not build
 * up credit for a later burst (libwebrtc's PacingController works the same
 * way).
 */
#include "proto/pacer.h"

#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct pring {
    hc_pacer_pkt_t *e;
    size_t mask, head, n;
} pring_t;

struct hc_pacer {
    hc_pacer_cfg_t cfg;
    pring_t q[HC_PACER_KINDS];
    size_t total;
    uint64_t bytes;

    bool rate_set, bulk;
    uint32_t target_bps;
    double pacing_bps;
    double debt; /* bytes */
    uint64_t last_us;
    bool started;

    bool probing;
    double probe_bps;
    uint64_t probe_left; /* bytes still to send in the cluster */
    uint32_t probe_pkts; /* packets still needed */

    hc_pacer_stats_t st;
};

static int pring_init(pring_t *r, size_t cap)
{
    size_t n = 1;
    while (n < cap) n <<= 1;
    r->e = calloc(n, sizeof *r->e);
    if (!r->e) return -HC_ENOMEM;
    r->mask = n - 1;
    r->head = r->n = 0;
    return 0;
}

static hc_pacer_pkt_t pring_pop(pring_t *r)
{
    hc_pacer_pkt_t p = r->e[r->head];
    r->head = (r->head + 1) & r->mask;
    r->n--;
    return p;
}

int hc_pacer_new(hc_pacer_t **out, const hc_pacer_cfg_t *cfg)
{
    if (!out) return -HC_EINVAL;
    hc_pacer_cfg_t c = {0};
    if (cfg) c = *cfg;
    if (c.capacity == 0) c.capacity = 4096;
    if (c.factor == 0) c.factor = 2.5;
    if (c.burst_us == 0) c.burst_us = 5000;
    if (c.max_queue_us == 0) c.max_queue_us = 500000;
    if (c.padding_max == 0) c.padding_max = 1200;
    if (c.padding_min == 0) c.padding_min = 200;
    if (!(c.factor >= 1.0) || c.capacity > (1u << 20) || c.padding_min > c.padding_max)
        return -HC_EINVAL;
    hc_pacer_t *p = calloc(1, sizeof *p);
    if (!p) return -HC_ENOMEM;
    p->cfg = c;
    for (int k = 0; k < HC_PACER_KINDS; k++) {
        if (pring_init(&p->q[k], c.capacity) < 0) {
            for (int j = 0; j < k; j++) free(p->q[j].e);
            free(p);
            return -HC_ENOMEM;
        }
    }
    *out = p;
    return 0;
}

void hc_pacer_destroy(hc_pacer_t **pp)
{
    if (!pp || !*pp) return;
    hc_pacer_t *p = *pp;
    for (int k = 0; k < HC_PACER_KINDS; k++) {
        while (p->q[k].n) {
            hc_pacer_pkt_t pk = pring_pop(&p->q[k]);
            if (p->cfg.on_drop) p->cfg.on_drop(p->cfg.ctx, &pk);
        }
        free(p->q[k].e);
    }
    free(p);
    *pp = NULL;
}

void hc_pacer_set_rate(hc_pacer_t *p, uint32_t target_bps)
{
    if (!p) return;
    p->target_bps = target_bps;
    p->pacing_bps = (double)target_bps * (p->bulk ? HC_PACER_BULK_FACTOR : p->cfg.factor);
    p->rate_set = target_bps > 0;
}

void hc_pacer_set_bulk(hc_pacer_t *p, bool on)
{
    if (!p || p->bulk == on) return;
    p->bulk = on;
    if (p->rate_set) hc_pacer_set_rate(p, p->target_bps);
}

uint32_t hc_pacer_pacing_bps(const hc_pacer_t *p)
{
    if (!p) return 0;
    double r = p->probing ? p->probe_bps : p->pacing_bps;
    return r > 4e9 ? UINT32_MAX : (uint32_t)r;
}

static void drop_front_video(hc_pacer_t *p)
{
    hc_pacer_pkt_t pk = pring_pop(&p->q[HC_PACER_VIDEO]);
    p->total--;
    p->bytes -= pk.bytes;
    p->st.dropped_video_pkts++;
    p->st.dropped_video_bytes += pk.bytes;
    if (p->cfg.on_drop) p->cfg.on_drop(p->cfg.ctx, &pk);
}

static void drop_stale(hc_pacer_t *p, uint64_t now)
{
    pring_t *v = &p->q[HC_PACER_VIDEO];
    uint64_t max_age = p->bulk ? HC_PACER_BULK_QUEUE_US : p->cfg.max_queue_us;
    while (v->n && now - v->e[v->head].enqueue_us > max_age) drop_front_video(p);
}

int hc_pacer_push(hc_pacer_t *p, const hc_pacer_pkt_t *pkt, uint64_t now)
{
    if (!p || !pkt || pkt->bytes == 0 || pkt->kind >= HC_PACER_KINDS) return -HC_EINVAL;
    drop_stale(p, now);
    if (p->total >= p->cfg.capacity) {
        if (p->q[HC_PACER_VIDEO].n == 0 || pkt->kind == HC_PACER_PADDING) {
            p->st.refused++;
            return -HC_EFULL;
        }
        drop_front_video(p);
    }
    pring_t *r = &p->q[pkt->kind];
    hc_pacer_pkt_t *e = &r->e[(r->head + r->n) & r->mask];
    *e = *pkt;
    e->enqueue_us = now;
    e->probe = false;
    r->n++;
    p->total++;
    p->bytes += pkt->bytes;
    return 0;
}

/* Pay off debt for the time since the last call. */
static void settle(hc_pacer_t *p, uint64_t now)
{
    if (!p->started) {
        p->started = true;
        p->last_us = now;
        return;
    }
    if (now <= p->last_us) return;
    double rate = p->probing ? p->probe_bps : p->pacing_bps;
    p->debt -= rate * (double)(now - p->last_us) / 8e6;
    if (p->debt < 0) p->debt = 0;
    p->last_us = now;
}

int hc_pacer_probe(hc_pacer_t *p, uint32_t rate_bps, uint32_t bytes, uint32_t min_packets,
                   uint64_t now)
{
    if (!p || rate_bps == 0 || bytes == 0) return -HC_EINVAL;
    settle(p, now);
    p->probing = true;
    p->probe_bps = rate_bps;
    p->debt = 0;
    p->probe_left = bytes;
    p->probe_pkts = min_packets;
    p->st.probe_clusters++;
    return 0;
}

bool hc_pacer_probing(const hc_pacer_t *p)
{
    return p && p->probing;
}

static void take(hc_pacer_t *p, hc_pacer_pkt_t *out)
{
    p->debt += out->bytes;
    out->probe = p->probing;
    if (p->probing) {
        p->probe_left = out->bytes >= p->probe_left ? 0 : p->probe_left - out->bytes;
        if (p->probe_pkts) p->probe_pkts--;
        if (p->probe_left == 0 && p->probe_pkts == 0) p->probing = false;
    }
    p->st.sent_pkts[out->kind]++;
    p->st.sent_bytes[out->kind] += out->bytes;
}

static void pop_kind(hc_pacer_t *p, int k, hc_pacer_pkt_t *out)
{
    *out = pring_pop(&p->q[k]);
    p->total--;
    p->bytes -= out->bytes;
}

int hc_pacer_next(hc_pacer_t *p, uint64_t now, hc_pacer_pkt_t *out, uint64_t *wait_us)
{
    if (!p || !out) return -HC_EINVAL;
    settle(p, now);
    drop_stale(p, now);

    /* Audio is never held (see pacer.h), only counted. */
    if (p->q[HC_PACER_AUDIO].n) {
        pop_kind(p, HC_PACER_AUDIO, out);
        take(p, out);
        return 1;
    }
    if (p->total == 0 && !p->probing) {
        if (wait_us) *wait_us = UINT64_MAX;
        return 0;
    }
    double rate = p->probing ? p->probe_bps : p->pacing_bps;
    if (p->rate_set || p->probing) {
        /* A probe cluster is paced exactly at its rate, from its first
         * packet: a burst would read as a higher rate at the receiver. */
        double burst = p->probing ? 0 : rate * (double)p->cfg.burst_us / 8e6;
        if (p->debt > burst) {
            if (wait_us) {
                double w = (p->debt - burst) * 8e6 / rate;
                uint64_t wu = (uint64_t)w;
                if ((double)wu < w) wu++;
                *wait_us = wu ? wu : 1;
            }
            return 0;
        }
    }
    for (int k = HC_PACER_RTX; k < HC_PACER_KINDS; k++) {
        if (p->q[k].n) {
            pop_kind(p, k, out);
            take(p, out);
            return 1;
        }
    }
    /* Only a probe cluster is left: fill it with padding. */
    /* Spread what is left of the cluster over the packets still needed. */
    uint64_t sz = p->probe_left;
    if (p->probe_pkts > 1) sz = (sz + p->probe_pkts - 1) / p->probe_pkts;
    if (sz > p->cfg.padding_max) sz = p->cfg.padding_max;
    if (sz < p->cfg.padding_min) sz = p->cfg.padding_min;
    memset(out, 0, sizeof *out);
    out->bytes = (uint32_t)sz;
    out->kind = HC_PACER_PADDING;
    out->enqueue_us = now;
    take(p, out);
    return 1;
}

uint64_t hc_pacer_queue_delay_us(const hc_pacer_t *p, uint64_t now)
{
    if (!p || p->total == 0) return 0;
    uint64_t oldest = UINT64_MAX;
    for (int k = 0; k < HC_PACER_KINDS; k++)
        if (p->q[k].n && p->q[k].e[p->q[k].head].enqueue_us < oldest)
            oldest = p->q[k].e[p->q[k].head].enqueue_us;
    return now > oldest ? now - oldest : 0;
}

uint64_t hc_pacer_drain_us(const hc_pacer_t *p)
{
    if (!p || p->bytes == 0) return 0;
    if (!p->rate_set || p->pacing_bps <= 0) return 0;
    return (uint64_t)((double)p->bytes * 8e6 / p->pacing_bps);
}

uint64_t hc_pacer_queue_bytes(const hc_pacer_t *p)
{
    return p ? p->bytes : 0;
}

size_t hc_pacer_queue_len(const hc_pacer_t *p)
{
    return p ? p->total : 0;
}

void hc_pacer_stats(const hc_pacer_t *p, hc_pacer_stats_t *out)
{
    if (p && out) *out = p->st;
}
