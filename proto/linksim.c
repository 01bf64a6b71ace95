/*
 * linksim.c - deterministic simulated bottleneck link (see linksim.h).
 */
#include "proto/linksim.h"

#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct lpkt {
    uint64_t id;
    uint32_t bytes;
    uint64_t t_in, t_dep, t_out;
} lpkt_t;

typedef struct ring {
    lpkt_t *e;
    size_t mask, head, n;
} ring_t;

typedef struct step {
    uint64_t at_us;
    uint64_t bps;
} step_t;

enum { MODE_NONE, MODE_RATE, MODE_TRACE };

struct hc_linksim {
    hc_linksim_cfg_t cfg;
    uint64_t rng;
    size_t cap;

    int mode;
    step_t steps[HC_LINKSIM_MAX_STEPS];
    size_t nsteps;

    const uint32_t *tr_ms;
    size_t tr_n;
    uint64_t tr_period_us;
    uint64_t tr_start_us;
    uint32_t opp_bytes;
    uint64_t tr_base_us; /* start of the current loop */
    size_t tr_idx;       /* next opportunity within the loop */
    uint32_t head_sent;  /* bytes of the head packet already served */

    uint64_t out_from[HC_LINKSIM_MAX_OUTAGES], out_to[HC_LINKSIM_MAX_OUTAGES];
    size_t nout;

    ring_t q;         /* bottleneck queue */
    uint64_t q_bytes; /* including the packet in service */
    uint64_t busy_ns; /* rate mode: when the last serialisation ended */
    ring_t d;         /* propagation delay line, t_out non-decreasing */

    hc_linksim_stats_t st;
    uint64_t *hist;
    uint64_t hist_n;
};

/* --- small helpers --------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: enough for loss decisions and reproducible everywhere. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static double rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int ring_init(ring_t *r, size_t cap)
{
    size_t n = 1;
    while (n < cap) n <<= 1;
    r->e = calloc(n, sizeof *r->e);
    if (!r->e) return -HC_ENOMEM;
    r->mask = n - 1;
    r->head = r->n = 0;
    return 0;
}

static lpkt_t *ring_front(const ring_t *r)
{
    return &r->e[r->head];
}

static void ring_push(ring_t *r, const lpkt_t *p)
{
    r->e[(r->head + r->n) & r->mask] = *p;
    r->n++;
}

static lpkt_t ring_pop(ring_t *r)
{
    lpkt_t p = r->e[r->head];
    r->head = (r->head + 1) & r->mask;
    r->n--;
    return p;
}

bool hc_linksim_down(const hc_linksim_t *l, uint64_t t)
{
    for (size_t i = 0; i < l->nout; i++)
        if (t >= l->out_from[i] && t < l->out_to[i]) return true;
    return false;
}

static uint64_t rate_at(const hc_linksim_t *l, uint64_t t)
{
    uint64_t r = 0;
    for (size_t i = 0; i < l->nsteps && l->steps[i].at_us <= t; i++) r = l->steps[i].bps;
    return r;
}

static uint64_t trace_mean_bps(const hc_linksim_t *l)
{
    return (uint64_t)((double)l->tr_n * l->opp_bytes * 8.0 * 1e6 / (double)l->tr_period_us);
}

static uint64_t queue_limit(const hc_linksim_t *l, uint64_t now)
{
    if (l->cfg.queue_bytes) return l->cfg.queue_bytes;
    uint64_t bps = l->mode == MODE_TRACE ? trace_mean_bps(l) : rate_at(l, now);
    return (uint64_t)((double)bps * (double)l->cfg.queue_us / 8e6);
}

/* --- lifecycle ---------------------------------------------------------------- */

int hc_linksim_new(hc_linksim_t **out, const hc_linksim_cfg_t *cfg)
{
    if (!out) return -HC_EINVAL;
    hc_linksim_cfg_t c = {0};
    if (cfg) c = *cfg;
    if (!(c.loss >= 0.0 && c.loss <= 1.0)) return -HC_EINVAL;
    if (c.capacity == 0) c.capacity = 8192;
    if (c.capacity > (1u << 24)) return -HC_EINVAL;
    if (c.queue_bytes == 0 && c.queue_us == 0) c.queue_us = HC_LINKSIM_DEFAULT_QUEUE;

    hc_linksim_t *l = calloc(1, sizeof *l);
    if (!l) return -HC_ENOMEM;
    l->cfg = c;
    l->cap = c.capacity;
    l->rng = c.seed ? c.seed : 1;
    l->hist = calloc(HC_LINKSIM_HIST_BUCKETS, sizeof *l->hist);
    if (!l->hist || ring_init(&l->q, c.capacity) < 0 || ring_init(&l->d, c.capacity) < 0) {
        free(l->hist);
        free(l->q.e);
        free(l->d.e);
        free(l);
        return -HC_ENOMEM;
    }
    l->opp_bytes = HC_LINKSIM_OPP_BYTES;
    *out = l;
    return 0;
}

void hc_linksim_destroy(hc_linksim_t **lp)
{
    if (!lp || !*lp) return;
    hc_linksim_t *l = *lp;
    free(l->hist);
    free(l->q.e);
    free(l->d.e);
    free(l);
    *lp = NULL;
}

int hc_linksim_set_rate(hc_linksim_t *l, uint64_t at_us, uint64_t bps)
{
    if (!l || bps == 0) return -HC_EINVAL;
    if (l->mode != MODE_RATE) l->nsteps = 0;
    if (l->nsteps && at_us <= l->steps[l->nsteps - 1].at_us) return -HC_EINVAL;
    if (l->nsteps == HC_LINKSIM_MAX_STEPS) return -HC_EFULL;
    l->steps[l->nsteps].at_us = at_us;
    l->steps[l->nsteps].bps = bps;
    l->nsteps++;
    l->mode = MODE_RATE;
    return 0;
}

int hc_linksim_set_trace(hc_linksim_t *l, const uint32_t *ms, size_t n, double scale,
                         uint64_t start_us)
{
    if (!l || !ms || n == 0 || !(scale > 0.0) || ms[n - 1] == 0) return -HC_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (ms[i] < ms[i - 1]) return -HC_EINVAL;
    double ob = HC_LINKSIM_OPP_BYTES * scale;
    if (ob > 1e9) return -HC_EINVAL;
    l->tr_ms = ms;
    l->tr_n = n;
    l->tr_period_us = (uint64_t)ms[n - 1] * 1000;
    l->tr_start_us = start_us;
    l->opp_bytes = ob < 1.0 ? 1 : (uint32_t)(ob + 0.5);
    l->tr_base_us = start_us;
    l->tr_idx = 0;
    l->head_sent = 0;
    l->nsteps = 0;
    l->mode = MODE_TRACE;
    return 0;
}

int hc_linksim_add_outage(hc_linksim_t *l, uint64_t from_us, uint64_t to_us)
{
    if (!l || to_us <= from_us) return -HC_EINVAL;
    if (l->nout == HC_LINKSIM_MAX_OUTAGES) return -HC_EFULL;
    l->out_from[l->nout] = from_us;
    l->out_to[l->nout] = to_us;
    l->nout++;
    return 0;
}

/* --- service ------------------------------------------------------------------ */

static void hist_add(hc_linksim_t *l, uint64_t v)
{
    uint64_t b = v / HC_LINKSIM_HIST_BUCKET_US;
    if (b >= HC_LINKSIM_HIST_BUCKETS) b = HC_LINKSIM_HIST_BUCKETS - 1;
    l->hist[b]++;
    l->hist_n++;
    if (v > l->st.qdelay_max_us) l->st.qdelay_max_us = v;
}

/* The head of the queue finished serialisation at dep: on to the delay line. */
static void depart(hc_linksim_t *l, uint64_t dep)
{
    lpkt_t p = ring_pop(&l->q);
    l->q_bytes -= p.bytes;
    if (hc_linksim_down(l, dep)) {
        l->st.drop[HC_LINKSIM_DROP_OUTAGE]++;
        return;
    }
    p.t_dep = dep;
    p.t_out = dep + l->cfg.delay_us;
    ring_push(&l->d, &p); /* cannot overflow: q and d share the capacity */
}

static uint64_t head_finish_ns(const hc_linksim_t *l)
{
    const lpkt_t *h = ring_front(&l->q);
    uint64_t start = h->t_in * 1000;
    if (start < l->busy_ns) start = l->busy_ns;
    uint64_t bps = rate_at(l, start / 1000);
    if (bps == 0) return start; /* before the first step: unlimited */
    return start + (uint64_t)h->bytes * 8u * 1000000000u / bps;
}

static uint64_t opp_time(const hc_linksim_t *l)
{
    return l->tr_base_us + (uint64_t)l->tr_ms[l->tr_idx] * 1000;
}

static void opp_next(hc_linksim_t *l)
{
    if (++l->tr_idx == l->tr_n) {
        l->tr_idx = 0;
        l->tr_base_us += l->tr_period_us;
    }
}

static void advance(hc_linksim_t *l, uint64_t now)
{
    if (l->mode == MODE_RATE) {
        while (l->q.n) {
            uint64_t fin = head_finish_ns(l);
            if (fin > now * 1000) break;
            l->busy_ns = fin;
            depart(l, (fin + 999) / 1000);
        }
    } else if (l->mode == MODE_TRACE) {
        while (l->q.n) {
            uint64_t t = opp_time(l);
            if (t > now) break;
            uint64_t t_in = ring_front(&l->q)->t_in;
            if (t < t_in) {
                /* Opportunities while the queue was empty are lost; jump
                 * whole loops after a long idle time. */
                if (t_in - t > l->tr_period_us)
                    l->tr_base_us += (t_in - t) / l->tr_period_us * l->tr_period_us;
                else
                    opp_next(l);
                continue;
            }
            uint32_t budget = l->opp_bytes;
            while (l->q.n) {
                lpkt_t *h = ring_front(&l->q);
                if (h->t_in > t) break;
                uint32_t need = h->bytes - l->head_sent;
                if (need > budget) {
                    l->head_sent += budget;
                    break;
                }
                budget -= need;
                l->head_sent = 0;
                depart(l, t);
            }
            opp_next(l);
        }
    }
}

int hc_linksim_send(hc_linksim_t *l, uint64_t now, uint64_t id, uint32_t bytes)
{
    if (!l || bytes == 0) return -HC_EINVAL;
    advance(l, now);
    l->st.pkts_in++;
    l->st.bytes_in += bytes;
    if (hc_linksim_down(l, now)) {
        l->st.drop[HC_LINKSIM_DROP_OUTAGE]++;
        return 0;
    }
    if (l->cfg.loss > 0.0 && rng_unit(&l->rng) < l->cfg.loss) {
        l->st.drop[HC_LINKSIM_DROP_LOSS]++;
        return 0;
    }
    if (l->q.n + l->d.n >= l->cap) {
        l->st.drop[HC_LINKSIM_DROP_NOBUF]++;
        return 0;
    }
    lpkt_t p = {.id = id, .bytes = bytes, .t_in = now};
    if (l->mode == MODE_NONE) {
        p.t_dep = now;
        p.t_out = now + l->cfg.delay_us;
        ring_push(&l->d, &p);
        return 1;
    }
    if (l->q.n && l->q_bytes + bytes > queue_limit(l, now)) {
        l->st.drop[HC_LINKSIM_DROP_QUEUE]++;
        return 0;
    }
    if (l->mode == MODE_RATE && l->q.n == 0 && l->busy_ns < now * 1000) l->busy_ns = now * 1000;
    ring_push(&l->q, &p);
    l->q_bytes += bytes;
    advance(l, now); /* an unlimited stretch before the first step serves at once */
    return 1;
}

int hc_linksim_poll(hc_linksim_t *l, uint64_t now, hc_linksim_pkt_t *out)
{
    if (!l || !out) return -HC_EINVAL;
    advance(l, now);
    while (l->d.n && ring_front(&l->d)->t_out <= now) {
        lpkt_t p = ring_pop(&l->d);
        if (hc_linksim_down(l, p.t_out)) {
            l->st.drop[HC_LINKSIM_DROP_OUTAGE]++;
            continue;
        }
        uint64_t qd = p.t_dep - p.t_in;
        hist_add(l, qd);
        l->st.pkts_out++;
        l->st.bytes_out += p.bytes;
        out->id = p.id;
        out->bytes = p.bytes;
        out->t_in = p.t_in;
        out->t_dep = p.t_dep;
        out->t_out = p.t_out;
        out->qdelay_us = qd;
        return 1;
    }
    return 0;
}

uint64_t hc_linksim_next(const hc_linksim_t *l)
{
    uint64_t t = UINT64_MAX;
    if (!l) return t;
    if (l->d.n) t = ring_front(&l->d)->t_out;
    if (l->q.n) {
        uint64_t qt;
        if (l->mode == MODE_RATE) {
            qt = (head_finish_ns(l) + 999) / 1000;
        } else {
            qt = opp_time(l);
            uint64_t t_in = ring_front(&l->q)->t_in;
            if (qt < t_in) qt = t_in; /* stale opportunities are skipped then */
        }
        if (qt < t) t = qt;
    }
    return t;
}

/* --- accounting ---------------------------------------------------------------- */

/* Rate mode: bits deliverable in [a, b) by the step schedule. */
static double rate_bits(const hc_linksim_t *l, uint64_t a, uint64_t b)
{
    double bits = 0;
    for (size_t i = 0; i < l->nsteps; i++) {
        uint64_t s = l->steps[i].at_us;
        uint64_t e = i + 1 < l->nsteps ? l->steps[i + 1].at_us : UINT64_MAX;
        if (s < a) s = a;
        if (e > b) e = b;
        if (e > s) bits += (double)l->steps[i].bps * (double)(e - s) / 1e6;
    }
    return bits;
}

/* Trace mode: opportunities strictly before t (absolute). */
static uint64_t opps_before(const hc_linksim_t *l, uint64_t t)
{
    if (t <= l->tr_start_us) return 0;
    uint64_t rel = t - l->tr_start_us;
    uint64_t loops = (rel - 1) / l->tr_period_us; /* rel in (loops*P, (loops+1)*P] */
    uint64_t x = rel - loops * l->tr_period_us;   /* in (0, P] */
    /* ms[i] * 1000 < x  <=>  ms[i] < ceil(x / 1000) */
    uint64_t lim = (x + 999) / 1000;
    size_t lo = 0, hi = l->tr_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->tr_ms[mid] < lim)
            lo = mid + 1;
        else
            hi = mid;
    }
    return loops * l->tr_n + lo;
}

static double up_bytes(const hc_linksim_t *l, uint64_t a, uint64_t b)
{
    if (b <= a) return 0;
    if (l->mode == MODE_RATE) return rate_bits(l, a, b) / 8.0;
    if (l->mode == MODE_TRACE)
        return (double)(opps_before(l, b) - opps_before(l, a)) * l->opp_bytes;
    return 0;
}

uint64_t hc_linksim_capacity_bytes(const hc_linksim_t *l, uint64_t from, uint64_t to)
{
    if (!l || to <= from) return 0;
    /* Clip, sort and merge the outage windows, then add up the gaps. */
    uint64_t s[HC_LINKSIM_MAX_OUTAGES], e[HC_LINKSIM_MAX_OUTAGES];
    size_t n = 0;
    for (size_t i = 0; i < l->nout; i++) {
        uint64_t a = l->out_from[i] < from ? from : l->out_from[i];
        uint64_t b = l->out_to[i] > to ? to : l->out_to[i];
        if (b <= a) continue;
        size_t j = n++;
        while (j > 0 && s[j - 1] > a) {
            s[j] = s[j - 1];
            e[j] = e[j - 1];
            j--;
        }
        s[j] = a;
        e[j] = b;
    }
    double total = 0;
    uint64_t cur = from;
    for (size_t i = 0; i < n; i++) {
        if (s[i] > cur) total += up_bytes(l, cur, s[i]);
        if (e[i] > cur) cur = e[i];
    }
    total += up_bytes(l, cur, to);
    return (uint64_t)(total + 0.5);
}

uint64_t hc_linksim_queue_bytes(const hc_linksim_t *l)
{
    return l ? l->q_bytes : 0;
}

void hc_linksim_stats(const hc_linksim_t *l, hc_linksim_stats_t *out)
{
    if (!l || !out) return;
    *out = l->st;
}

uint64_t hc_linksim_qdelay_quantile(const hc_linksim_t *l, double q)
{
    if (!l || l->hist_n == 0) return 0;
    if (q < 0) q = 0;
    if (q > 1) q = 1;
    uint64_t need = (uint64_t)(q * (double)l->hist_n + 0.999999);
    if (need == 0) need = 1;
    uint64_t acc = 0;
    for (size_t i = 0; i < HC_LINKSIM_HIST_BUCKETS; i++) {
        acc += l->hist[i];
        if (acc >= need) {
            uint64_t edge = (uint64_t)(i + 1) * HC_LINKSIM_HIST_BUCKET_US;
            return edge < l->st.qdelay_max_us ? edge : l->st.qdelay_max_us;
        }
    }
    return l->st.qdelay_max_us;
}

int hc_linksim_trace_parse(const char *text, size_t len, uint32_t *ms, size_t cap, size_t *n)
{
    if (!text || !n || (!ms && cap)) return -HC_EINVAL;
    *n = 0;
    size_t cnt = 0;
    uint64_t prev = 0;
    size_t i = 0;
    while (i < len) {
        /* One line: optional trailing CR, blank lines skipped. */
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        size_t end = j;
        if (end > i && text[end - 1] == '\r') end--;
        if (end > i) {
            uint64_t v = 0;
            for (size_t k = i; k < end; k++) {
                char c = text[k];
                if (c < '0' || c > '9') return -HC_EMALFORMED;
                v = v * 10 + (uint64_t)(c - '0');
                if (v > UINT32_MAX) return -HC_EMALFORMED;
            }
            if (cnt && v < prev) return -HC_EMALFORMED;
            if (ms) {
                if (cnt == cap) return -HC_ENOSPC;
                ms[cnt] = (uint32_t)v;
            }
            prev = v;
            cnt++;
        }
        i = j + 1;
    }
    if (cnt == 0 || prev == 0) return -HC_EMALFORMED;
    *n = cnt;
    return 0;
}
