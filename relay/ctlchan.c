#include "relay/ctlchan.h"

#include "proto/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One forwarded message waiting for one receiver's ack. */
typedef struct delivery {
    uint64_t t_us; /* when it was forwarded */
    uint32_t seq;
    uint32_t to;
} delivery_t;

/* A sender's unacknowledged deliveries, oldest first (sends are recorded in
 * time order, and acks remove from anywhere, keeping the order). */
typedef struct sender {
    delivery_t *d;
    uint32_t n;
    uint32_t last_seq;
    bool has_last;
} sender_t;

typedef struct receiver {
    bool lost;
} receiver_t;

struct hc_ctlchan {
    hc_ctlchan_cfg_t cfg;
    sender_t *snd;
    receiver_t *rcv;
    bool recheck; /* a reset may have ended a lost state: poll at once */
};

int hc_ctlchan_new(hc_ctlchan_t **out, const hc_ctlchan_cfg_t *cfg)
{
    if (!out || !cfg || cfg->parties == 0 || cfg->max_pending == 0 || cfg->deadline_us == 0)
        return -HC_EINVAL;
    *out = NULL;
    hc_ctlchan_t *c = calloc(1, sizeof(*c));
    if (!c) return -HC_ENOMEM;
    c->cfg = *cfg;
    c->snd = calloc(cfg->parties, sizeof(*c->snd));
    c->rcv = calloc(cfg->parties, sizeof(*c->rcv));
    delivery_t *all = calloc((size_t)cfg->parties * cfg->max_pending, sizeof(*all));
    if (!c->snd || !c->rcv || !all) {
        free(all);
        free(c->snd);
        free(c->rcv);
        free(c);
        return -HC_ENOMEM;
    }
    for (uint32_t i = 0; i < cfg->parties; i++) c->snd[i].d = all + (size_t)i * cfg->max_pending;
    *out = c;
    return 0;
}

void hc_ctlchan_destroy(hc_ctlchan_t **cp)
{
    if (!cp || !*cp) return;
    hc_ctlchan_t *c = *cp;
    free(c->snd[0].d);
    free(c->snd);
    free(c->rcv);
    free(c);
    *cp = NULL;
}

/* RFC 1982 serial arithmetic on 32 bits: b comes after a when it is less
 * than half the space ahead. */
static bool seq_after(uint32_t a, uint32_t b)
{
    uint32_t d = b - a;
    return d != 0 && d < 0x80000000u;
}

int hc_ctlchan_check(const hc_ctlchan_t *c, uint32_t from, uint32_t seq, size_t n_to)
{
    if (!c || from >= c->cfg.parties) return -HC_EINVAL;
    const sender_t *s = &c->snd[from];
    if (s->has_last && !seq_after(s->last_seq, seq)) return -HC_EINVAL;
    if (n_to > c->cfg.max_pending - s->n) return -HC_EFULL;
    return 0;
}

int hc_ctlchan_send(hc_ctlchan_t *c, uint32_t from, uint32_t seq, const uint32_t *to, size_t n_to,
                    uint64_t now_us)
{
    int rc = hc_ctlchan_check(c, from, seq, n_to);
    if (rc < 0) return rc;
    for (size_t i = 0; i < n_to; i++)
        if (to[i] >= c->cfg.parties || to[i] == from) return -HC_EINVAL;
    sender_t *s = &c->snd[from];
    for (size_t i = 0; i < n_to; i++) {
        /* A clock that stepped back must not reorder the list. */
        uint64_t t = now_us;
        if (s->n && s->d[s->n - 1].t_us > t) t = s->d[s->n - 1].t_us;
        s->d[s->n++] = (delivery_t){.t_us = t, .seq = seq, .to = to[i]};
    }
    s->last_seq = seq;
    s->has_last = true;
    return 0;
}

/* Oldest unacknowledged delivery to r, or false when none. */
static bool oldest_to(const hc_ctlchan_t *c, uint32_t r, uint64_t *t)
{
    bool found = false;
    for (uint32_t p = 0; p < c->cfg.parties; p++) {
        const sender_t *s = &c->snd[p];
        for (uint32_t i = 0; i < s->n; i++) {
            if (s->d[i].to != r) continue;
            /* Per sender the list is in time order: the first match is its oldest. */
            if (!found || s->d[i].t_us < *t) *t = s->d[i].t_us;
            found = true;
            break;
        }
    }
    return found;
}

static bool overdue(const hc_ctlchan_t *c, uint64_t t, uint64_t now_us)
{
    return now_us >= t && now_us - t >= c->cfg.deadline_us;
}

int hc_ctlchan_ack(hc_ctlchan_t *c, uint32_t acker, uint32_t sender, uint32_t seq, uint64_t now_us,
                   uint64_t *rtt_us, hc_ctlchan_event_t *ev)
{
    if (ev) *ev = (hc_ctlchan_event_t){0};
    if (!c || acker >= c->cfg.parties || sender >= c->cfg.parties) return -HC_EINVAL;
    sender_t *s = &c->snd[sender];
    uint32_t i = 0;
    while (i < s->n && !(s->d[i].seq == seq && s->d[i].to == acker)) i++;
    if (i == s->n) return -HC_ENOTFOUND;
    uint64_t t = s->d[i].t_us;
    if (rtt_us) *rtt_us = now_us > t ? now_us - t : 0;
    memmove(&s->d[i], &s->d[i + 1], (s->n - i - 1) * sizeof(s->d[0]));
    s->n--;
    if (c->rcv[acker].lost) {
        uint64_t old;
        if (!oldest_to(c, acker, &old) || !overdue(c, old, now_us)) {
            c->rcv[acker].lost = false;
            if (ev) *ev = (hc_ctlchan_event_t){.kind = HC_CTLCHAN_RESTORED, .party = acker};
        }
    }
    return 0;
}

size_t hc_ctlchan_poll(hc_ctlchan_t *c, uint64_t now_us, hc_ctlchan_event_t *out, size_t cap)
{
    size_t n = 0;
    bool full = false;
    for (uint32_t r = 0; r < c->cfg.parties; r++) {
        uint64_t old = 0;
        bool any = oldest_to(c, r, &old);
        bool late = any && overdue(c, old, now_us);
        if (late == c->rcv[r].lost) continue;
        if (n == cap) {
            full = true;
            break;
        }
        c->rcv[r].lost = late;
        out[n++] = (hc_ctlchan_event_t){
            .kind = late ? HC_CTLCHAN_LOST : HC_CTLCHAN_RESTORED,
            .party = r,
            .since_us = late ? old : 0,
        };
    }
    c->recheck = full;
    return n;
}

uint64_t hc_ctlchan_next_due(const hc_ctlchan_t *c)
{
    if (c->recheck) return 0;
    uint64_t due = UINT64_MAX;
    for (uint32_t p = 0; p < c->cfg.parties; p++) {
        const sender_t *s = &c->snd[p];
        for (uint32_t i = 0; i < s->n; i++) {
            if (c->rcv[s->d[i].to].lost) continue;
            uint64_t t = s->d[i].t_us + c->cfg.deadline_us;
            if (t < due) due = t;
        }
    }
    return due;
}

void hc_ctlchan_reset_party(hc_ctlchan_t *c, uint32_t p)
{
    if (!c || p >= c->cfg.parties) return;
    c->snd[p].n = 0;
    c->snd[p].has_last = false;
    for (uint32_t q = 0; q < c->cfg.parties; q++) {
        sender_t *s = &c->snd[q];
        uint32_t k = 0;
        for (uint32_t i = 0; i < s->n; i++)
            if (s->d[i].to != p) s->d[k++] = s->d[i];
        s->n = k;
    }
    c->rcv[p].lost = false;
    c->recheck = true;
}

uint32_t hc_ctlchan_pending(const hc_ctlchan_t *c, uint32_t from)
{
    return (c && from < c->cfg.parties) ? c->snd[from].n : 0;
}
