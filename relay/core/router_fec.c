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

int rt_fec_out_init(hc_track_t *t)
{
    /* Not calloc: the repair buffer is touched only as far as groups use
     * it, so a track that never sends FEC costs little resident memory. */
    t->fec = malloc(sizeof(*t->fec));
    if (!t->fec) return -HC_ENOMEM;
    memset(t->fec, 0, offsetof(rt_fec_out_t, enc) + offsetof(hc_fec_enc_t, repair));
    return 0;
}

/* The group size; a new one starts a new group. The parity is over the
 * packets as the subscriber sees them (its track's SSRC and numbers), in
 * gap mode: a hole the publisher's loss left does not end a group, and a
 * packet repaired upstream after its successors went out joins it. */
static void set_k(hc_track_t *t, unsigned k)
{
    rt_fec_out_t *e = t->fec;
    if (k == e->k) return;
    e->k = k;
    if (k && hc_fec_enc_init(&e->enc, t->ssrc, k) == 0) hc_fec_enc_allow_gaps(&e->enc, true);
}

void rt_fec_set_policy(hc_track_t *t, const hc_fec_policy_t *p)
{
    rt_fec_out_t *e = t->fec;
    e->pol = *p;
    if (!e->pol.budget_ms) e->pol.budget_ms = RT_FEC_BUDGET_MS;
    hc_repair_init(&e->policy);
    e->have_loss = false;
    e->k = 0;
    set_k(t, p->mode == HC_FEC_FIXED ? p->k : 0);
}

bool rt_fec_add(hc_track_t *t, const uint8_t *pkt, size_t len)
{
    return t->fec && t->fec->k && hc_fec_enc_add(&t->fec->enc, pkt, len) == 1;
}

void rt_fec_send(hc_router_t *r, hc_track_t *t, uint32_t ts, uint64_t now)
{
    hc_leg_t *leg = t->leg;
    rt_fec_out_t *e = t->fec;
    uint8_t *slot = rt_tx_slot(r);
    hc_fec_rtp_t fh = {.ssrc = e->ssrc, .seq = e->seq, .ts = ts, .pt = e->pt};
    int len = hc_fec_enc_write(&e->enc, &fh, slot, HC_PKT_CAP - HC_SRTP_MAX_TRAILER);
    if (len < 0) {
        hc_fec_enc_allow_gaps(&e->enc, true); /* drop the group */
        return;
    }
    int n = hc_srtp_protect(&leg->tx, slot, (size_t)len, HC_PKT_CAP);
    if (n < 0) {
        r->c.drop_send++;
        return;
    }
    e->seq++;
    if (!rt_tx_queue(r, leg, slot, (uint32_t)n)) return;
    e->sent++;
    e->bytes += (uint64_t)n;
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
        set_k(t, 0);
        return;
    }
    set_k(t, out.fec ? out.fec_k : 0);
}
