/* router_fec.c - hop-by-hop FlexFEC (RFC 8627) in the relay: recovery of
 * what a publisher's repair stream protects, and a repair stream per
 * subscriber track chosen by that subscriber's reports; see router.h and
 * router_int.h. */
#include "relay/core/router_int.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- uplink: the publisher's repair packets ---- */

int rt_fec_in_init(hc_instream_t *s)
{
    s->fec = malloc(sizeof(*s->fec));
    if (!s->fec) return -HC_ENOMEM;
    return hc_fec_dec_init(&s->fec->dec, s->ssrc, s->fec->src, RT_FEC_SRC_SLOTS, s->fec->fec,
                           RT_FEC_FEC_SLOTS);
}

void rt_fec_recover(hc_router_t *r, hc_instream_t *s, uint64_t now)
{
    if (!s->fec) return;
    uint8_t buf[HC_FEC_MAX_PKT];
    int n;
    /* Each rebuilt packet is a late original to the rest of the path
     * (RFC 8627 section 6.3.2 gives back the packet as sent). */
    while ((n = hc_fec_dec_recover(&s->fec->dec, buf, sizeof(buf))) > 0)
        rt_rtp_input(r, s, RT_VIA_FEC, buf, (size_t)n, now);
}

void rt_fec_input(hc_router_t *r, hc_instream_t *s, const uint8_t *data, size_t len, uint64_t now)
{
    if (!s->fec || hc_fec_dec_add_fec(&s->fec->dec, data, len) < 0) {
        s->fec_bad++;
        r->c.drop_malformed++;
        return;
    }
    s->fec_rx++;
    r->c.fec_rx++;
    s->fec_seen = true;
    s->fec_seen_us = now;
    rt_fec_recover(r, s, now);
    /* The repair packet of the newest group came: whatever is still
     * missing needs a retransmission after all, without the hold. */
    if (s->nack.live && s->rtx_ssrc && r->cfg.nack_max_retries) rt_nack_arm(r, s, now);
}

uint64_t rt_fec_nack_due(const hc_router_t *r, const hc_instream_t *s, uint64_t now)
{
    if (!r->cfg.fec_nack_hold_ms || !s->fec || !s->fec_seen ||
        now - s->fec_seen_us >= RT_FEC_ACTIVE_US)
        return now;
    return now + r->cfg.fec_nack_hold_ms * 1000ull;
}

/* ---- downlink: a repair stream per track ---- */

static void out_reset(rt_fec_out_t *e)
{
    memset(e->repair, 0, e->repair_len);
    memset(e->mask, 0, sizeof(e->mask));
    e->repair_len = 0;
    e->count = 0;
    e->b0 = e->b1 = 0;
    e->len_rec = 0;
    e->ts_rec = 0;
}

int rt_fec_out_init(hc_track_t *t)
{
    /* Not calloc: the repair buffer is touched only as far as groups use
     * it, so a track that never sends FEC costs little resident memory. */
    t->fec = malloc(sizeof(*t->fec));
    if (!t->fec) return -HC_ENOMEM;
    memset(t->fec, 0, offsetof(rt_fec_out_t, repair));
    return 0;
}

static void set_k(rt_fec_out_t *e, unsigned k)
{
    if (k == e->k) return;
    e->k = k;
    out_reset(e);
}

void rt_fec_set_policy(hc_track_t *t, const hc_fec_policy_t *p)
{
    rt_fec_out_t *e = t->fec;
    e->pol = *p;
    if (!e->pol.budget_ms) e->pol.budget_ms = RT_FEC_BUDGET_MS;
    hc_repair_init(&e->policy);
    e->have_loss = false;
    set_k(e, p->mode == HC_FEC_FIXED ? p->k : 0);
}

static bool mask_has(const uint8_t *m, unsigned i)
{
    return (m[i >> 3] >> (7 - (i & 7))) & 1;
}

static void mask_set(uint8_t *m, unsigned i)
{
    m[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

/* The group's SN base moves d numbers back: every bit d places on. */
static void mask_shift(rt_fec_out_t *e, unsigned d)
{
    uint8_t m[sizeof(e->mask)] = {0};
    for (unsigned i = 0; i + d < HC_FEC_MAX_GROUP; i++)
        if (mask_has(e->mask, i)) mask_set(m, i + d);
    memcpy(e->mask, m, sizeof(m));
}

/* Add one plain packet to t's group (RFC 8627 section 6.2: octets 0-1
 * without the version, the timestamp, length - 12, every octet after the
 * fixed header). The group is the next k packets sent whose numbers fit
 * one flexible mask (110 numbers): a gap the publisher's loss left does
 * not end it, and a late packet (repaired upstream after its successors
 * went out) joins it when it fits, moving the SN base back if need be.
 * True when the group is complete. */
static bool out_add(rt_fec_out_t *e, const uint8_t *pkt, size_t len)
{
    if (len < HC_RTP_FIXED_LEN || len > HC_FEC_MAX_PKT) return false;
    if (e->count >= e->k) out_reset(e); /* complete but never sent */
    uint16_t seq = hc_rd16(pkt + 2);
    if (e->count) {
        if ((int16_t)(seq - e->base) < 0) {
            if ((uint16_t)(e->last - seq) >= HC_FEC_MAX_GROUP) return false; /* too old */
            mask_shift(e, (uint16_t)(e->base - seq));
            e->base = seq;
        } else if ((uint16_t)(seq - e->base) >= HC_FEC_MAX_GROUP) {
            out_reset(e); /* too far on for this group's mask: a new one */
        } else if (mask_has(e->mask, (uint16_t)(seq - e->base))) {
            return false; /* in the group already */
        }
    }
    if (!e->count) e->base = e->last = seq;
    if ((int16_t)(seq - e->last) > 0) e->last = seq;
    mask_set(e->mask, (uint16_t)(seq - e->base));
    size_t n = len - HC_RTP_FIXED_LEN;
    e->b0 ^= pkt[0] & 0x3f;
    e->b1 ^= pkt[1];
    e->ts_rec ^= hc_rd32(pkt + 4);
    e->len_rec ^= (uint16_t)n;
    if (n > e->repair_len) {
        memset(e->repair + e->repair_len, 0, n - e->repair_len);
        e->repair_len = n;
    }
    for (size_t i = 0; i < n; i++) e->repair[i] ^= pkt[HC_RTP_FIXED_LEN + i];
    e->count++;
    return e->count >= e->k;
}

/* The repair packet of t's complete group (RFC 8627 sections 4.1 and
 * 4.2.2.1): RTP header naming the track's SSRC as its one CSRC, then the
 * FEC header with the flexible mask, then the repair payload. */
static int out_write(hc_track_t *t, uint32_t ts, uint8_t *buf, size_t cap)
{
    rt_fec_out_t *e = t->fec;
    hc_fec_hdr_t h;
    memset(&h, 0, sizeof(h));
    h.p = (e->b0 >> 5) & 1;
    h.x = (e->b0 >> 4) & 1;
    h.cc = e->b0 & 0x0f;
    h.m = e->b1 >> 7;
    h.pt = e->b1 & 0x7f;
    h.len_rec = e->len_rec;
    h.ts_rec = e->ts_rec;
    h.sn_base = e->base;
    unsigned top = (uint16_t)(e->last - e->base);
    h.mask_bits = top < 15 ? 15 : top < 46 ? 46 : 110;
    memcpy(h.mask, e->mask, sizeof(h.mask));
    h.repair = e->repair;
    h.repair_len = e->repair_len;
    const size_t rtp_len = HC_RTP_FIXED_LEN + 4;
    int n = hc_fec_write(&h, buf + rtp_len, cap - rtp_len);
    if (n < 0) return n;
    buf[0] = 0x80 | 1; /* V=2, CC=1 */
    buf[1] = e->pt;
    hc_wr16(buf + 2, e->seq);
    hc_wr32(buf + 4, ts);
    hc_wr32(buf + 8, e->ssrc);
    hc_wr32(buf + 12, t->ssrc);
    return (int)rtp_len + n;
}

bool rt_fec_add(hc_track_t *t, const uint8_t *pkt, size_t len)
{
    return t->fec && t->fec->k && out_add(t->fec, pkt, len);
}

void rt_fec_send(hc_router_t *r, hc_track_t *t, uint32_t ts, uint64_t now)
{
    hc_leg_t *leg = t->leg;
    uint8_t *slot = rt_tx_slot(r);
    int len = out_write(t, ts, slot, HC_PKT_CAP - HC_SRTP_MAX_TRAILER);
    out_reset(t->fec);
    if (len < 0) return;
    int n = hc_srtp_protect(&leg->tx, slot, (size_t)len, HC_PKT_CAP);
    if (n < 0) {
        r->c.drop_send++;
        return;
    }
    t->fec->seq++;
    if (!rt_tx_queue(r, leg, slot, (uint32_t)n)) return;
    t->fec->sent++;
    t->fec->bytes += (uint64_t)n;
    t->bytes += (uint64_t)n;
    rt_rate_add(&t->rate, (uint64_t)n, now);
    r->c.fec_tx++;
}

void rt_fec_on_report(hc_router_t *r, hc_track_t *t, uint64_t now)
{
    (void)r;
    rt_fec_out_t *e = t->fec;
    if (!e || e->pol.mode != HC_FEC_AUTO) return;
    /* Each report covers about a second already; half weight to the new
     * one follows a change within two or three reports. */
    e->loss = e->have_loss ? (e->loss + t->loss) / 2 : t->loss;
    e->have_loss = true;
    /* The report's jitter is whatever the subscriber wrote: up to ~13 h at
     * 90 kHz. Past 10 s it means nothing for a playout budget anyway. */
    double jitter_us = t->jitter_ms * 1000.0;
    if (!(jitter_us < 10e6)) jitter_us = 10e6;
    hc_repair_in_t in = {
        .loss = e->loss,
        .burst_len = 1,
        .rtt_us = t->leg->rtt_us ? t->leg->rtt_us : RT_FEC_RTT_US,
        .jitter_us = (uint32_t)jitter_us,
        .budget_us = e->pol.budget_ms * 1000u,
        .rate_bps = t->rate.bps,
    };
    hc_repair_out_t out;
    if (hc_repair_update(&e->policy, &in, now, &out) < 0) return;
    /* (downlink layers) FEC on a congested link adds to what overflows
     * it: off while the leg's estimator calls the loss congestive; its
     * bytes count in the leg's traffic the layer choice leaves room for. */
    if (rt_bwe_congested(t->leg, now)) {
        set_k(e, 0);
        return;
    }
    set_k(e, out.fec ? out.fec_k : 0);
}
