/* router_rtcp.c - the relay's RTCP: reports and feedback from legs, RTX
 * answers to subscribers' NACKs, merged keyframe requests, upstream NACKs,
 * periodic SR/RR/SDES compounds and transport-wide CC feedback; see
 * router_int.h. */
#include "relay/core/router_int.h"

#include "proto/bytes.h"
#include "proto/repair.h"
#include "proto/rtcp.h"
#include "proto/rtpext.h"

#include <string.h>

/* Writers get a slot's room minus what SRTCP appends. */
#define RTCP_CAP (HC_PKT_CAP - HC_SRTP_MAX_TRAILER)
/* Sequence numbers one NACK packet may make the relay retransmit; the rest
 * count as missed, so one authenticated datagram cannot buy thousands of
 * sends. */
#define MAX_NACK_PER_PKT 256
/* Numbers per upstream NACK packet. */
#define MAX_NACK_OUT 128

void rt_leg_rtt(hc_leg_t *leg, uint64_t rtt_us, uint8_t src)
{
    if (rtt_us > 10000000u) return; /* 10 s: not a round trip */
    if (src < leg->rtt_src) return;
    if (src > leg->rtt_src || leg->rtt_us == 0)
        leg->rtt_us = (uint32_t)rtt_us;
    else
        leg->rtt_us = (uint32_t)((7 * (uint64_t)leg->rtt_us + rtt_us) / 8); /* RFC 6298 alpha */
    leg->rtt_src = src;
}

/* ---- keyframe requests toward a publisher ---- */

static void send_keyframe_request(hc_router_t *r, hc_instream_t *s, uint64_t now)
{
    hc_leg_t *leg = s->leg;
    uint64_t min = r->cfg.pli_min_ms * 1000ull;
    if (!leg->has_addr) {
        /* Nowhere to send it yet: try again later. */
        s->kf_pending = true;
        hc_timer_start(r->loop, &s->kf_timer, now + (min ? min : 100000), rt_kf_timer_fn, s);
        return;
    }
    uint8_t *slot = rt_tx_slot(r);
    int n;
    if (s->kf_fir) {
        /* RFC 5104 4.3.1: the command sequence number tells a new request
         * from a repeat. */
        hc_rtcp_fir_t e = {.ssrc = s->ssrc, .seq = s->fir_seq++};
        n = hc_rtcp_write_fir(slot, RTCP_CAP, leg->relay_ssrc, &e, 1);
        if (n > 0) s->firs_sent++;
    } else {
        n = hc_rtcp_write_pli(slot, RTCP_CAP, leg->relay_ssrc, s->ssrc); /* RFC 4585 6.3.1 */
        if (n > 0) {
            s->plis_sent++;
            r->c.plis_tx++;
        }
    }
    if (n <= 0) return;
    rt_tx_rtcp(r, leg, slot, (size_t)n);
    s->kf_sent = true;
    s->kf_last_us = now;
    s->kf_fir = false;
    s->kf_pending = false;
}

void rt_keyframe_request(hc_router_t *r, hc_instream_t *s, bool fir, uint64_t now)
{
    if (s->kind != HC_MEDIA_VIDEO) return;
    s->kf_fir |= fir;
    if (s->kf_pending) return; /* coalesced into the one already scheduled */
    uint64_t min = r->cfg.pli_min_ms * 1000ull;
    if (s->kf_sent && now < s->kf_last_us + min) {
        s->kf_pending = true;
        hc_timer_start(r->loop, &s->kf_timer, s->kf_last_us + min, rt_kf_timer_fn, s);
        return;
    }
    send_keyframe_request(r, s, now);
}

void rt_kf_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)t;
    hc_instream_t *s = ud;
    s->kf_pending = false;
    send_keyframe_request(s->leg->r, s, hc_loop_now_us(loop));
}

void rt_keyframe_seen(hc_instream_t *s)
{
    /* Whoever asked before this keyframe gets it: a delayed request is
     * no longer needed. */
    if (!s->kf_pending) return;
    s->kf_pending = false;
    s->kf_fir = false;
    hc_timer_stop(&s->kf_timer);
}

/* ---- upstream NACK ---- */

void rt_nack_arm(hc_router_t *r, hc_instream_t *s, uint64_t due)
{
    if (hc_timer_active(&s->nack_timer) && s->nack_timer.due_us <= due) return;
    hc_timer_start(r->loop, &s->nack_timer, due, rt_nack_timer_fn, s);
}

void rt_nack_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_instream_t *s = ud;
    hc_leg_t *leg = s->leg;
    hc_router_t *r = leg->r;
    uint64_t now = hc_loop_now_us(loop);
    uint16_t lost[MAX_NACK_OUT];
    size_t k = hc_nackgen_collect(&s->nack, now, leg->rtt_us, lost, MAX_NACK_OUT);
    if (k > 0 && leg->has_addr) {
        uint8_t *slot = rt_tx_slot(r);
        /* RFC 4585 6.2.1, reduced-size (RFC 5506). */
        int n = hc_rtcp_write_nack(slot, RTCP_CAP, leg->relay_ssrc, s->ssrc, lost, k);
        if (n > 0) {
            rt_tx_rtcp(r, leg, slot, (size_t)n);
            s->nacks_sent += k;
            r->c.nacks_tx += k;
        }
    }
    uint64_t next = hc_nackgen_next_due(&s->nack, leg->rtt_us);
    if (next != UINT64_MAX) hc_timer_start(loop, t, next, rt_nack_timer_fn, s);
}

/* ---- transport-wide CC feedback ---- */

void rt_twcc_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_leg_t *leg = ud;
    hc_router_t *r = leg->r;
    rt_leg_twcc_t *tw = leg->twcc;
    if (!leg->has_addr) return;
    for (int i = 0; i < 8 && hc_twccfb_pending(&tw->fb); i++) {
        uint8_t *slot = rt_tx_slot(r);
        int n =
            hc_twccfb_build(&tw->fb, slot, RT_MTU_PAYLOAD, leg->relay_ssrc, tw->media_ssrc, NULL);
        if (n <= 0) break;
        rt_tx_rtcp(r, leg, slot, (size_t)n);
    }
    if (hc_twccfb_pending(&tw->fb))
        hc_timer_start(loop, t, hc_loop_now_us(loop) + RT_TWCC_INTERVAL_US, rt_twcc_timer_fn, leg);
}

/* ---- RTX toward a subscriber (RFC 4588) ---- */

bool rt_send_rtx(hc_router_t *r, hc_track_t *t, uint16_t oseq, uint64_t now)
{
    hc_instream_t *s = t->src;
    hc_leg_t *leg = t->leg;
    if (!s || !t->epoch || !t->have_out || !t->rtx_ssrc || !leg->has_addr) return false;
    if (hc_seq_diff(t->last_out_seq, oseq) > 0) return false; /* never sent */
    uint16_t in = (uint16_t)(oseq - t->seq_off);
    int64_t in_ext = s->highest_ext + hc_seq_diff(s->max_seq, in);
    if (in_ext < t->epoch_first_ext) return false; /* before the last switch */
    const uint8_t *p;
    size_t plen;
    uint32_t age;
    if (hc_history_get(&s->hist, in, now, &p, &plen, &age) < 0 || age > r->cfg.rtx_max_age_ms)
        return false;
    hc_rtp_hdr_t h;
    if (hc_rtp_parse(p, plen, &h) < 0) return false;
    uint8_t *slot = rt_tx_slot(r);
    size_t hl = h.header_len;
    memcpy(slot, p, hl);
    slot[0] &= (uint8_t)~0x20u; /* the original's padding is not carried */
    hc_rtp_set_ssrc(slot, t->rtx_ssrc);
    hc_rtp_set_seq(slot, t->rtx_seq++);
    hc_rtp_set_ts(slot, h.ts + t->ts_off);
    hc_rtp_set_pt_marker(slot, t->rtx_pt, h.marker);
    hc_wr16(slot + hl, oseq); /* OSN: the number the subscriber knows */
    memcpy(slot + hl + 2, h.payload, h.payload_len);
    size_t len = hl + 2 + h.payload_len;
    const uint8_t *d;
    size_t dl;
    int tw = -1;
    if (hc_rtpext_find(&h, HC_EXT_TWCC, &d, &dl) == 1 && dl == 2) {
        tw = leg->twcc_seq;
        hc_wr16(slot + (d - p), leg->twcc_seq++);
    }
    int n = hc_srtp_protect(&leg->tx, slot, len, HC_PKT_CAP);
    if (n < 0) {
        r->c.drop_send++;
        return false;
    }
    if (!rt_tx_queue(r, leg, slot, (uint32_t)n)) return false;
    if (tw >= 0 && leg->bwe) rt_bwe_sent(r, leg, (uint16_t)tw, (size_t)n, now);
    t->bytes += (uint64_t)n;
    rt_rate_add(&t->rate, (uint64_t)n, now);
    r->c.rtx_tx++;
    return true;
}

/* ---- RTCP from a leg ---- */

static void on_blocks(hc_router_t *r, hc_leg_t *leg, const hc_rtcp_pkt_t *p, uint64_t now)
{
    for (size_t i = 0; i < p->u.report.rb_count; i++) {
        hc_rtcp_rb_t rb;
        if (hc_rtcp_report_block(p, i, &rb) < 0) break;
        hc_track_t *t = rt_track_of(r, leg, rb.ssrc);
        if (!t) continue;
        t->loss = rb.fraction_lost / 256.0;
        t->jitter_ms = (double)rb.jitter * 1000.0 / t->clock_rate;
        /* RFC 3550 6.4.1: RTT = arrival - LSR - DLSR; the LSR echoes the
         * NTP the relay put in this track's last SR. */
        if (rb.lsr && t->last_sr_us && rb.lsr == t->last_sr_mid) {
            uint64_t dlsr_us = (uint64_t)rb.dlsr * 1000000u / 65536u;
            uint64_t el = now - t->last_sr_us;
            uint64_t rtt = el > dlsr_us ? el - dlsr_us : 0;
            t->rtt_ms = rtt / 1000.0;
            rt_leg_rtt(leg, rtt, 2);
        }
        rt_bwe_report(r, t, &rb, now);
        rt_fec_on_report(r, t, now);
    }
}

static void on_nack(hc_router_t *r, hc_leg_t *leg, const hc_rtcp_pkt_t *p, uint64_t now)
{
    hc_track_t *t = rt_track_of(r, leg, p->u.fb.media_ssrc);
    if (!t) return;
    unsigned budget = MAX_NACK_PER_PKT;
    unsigned copies = hc_repair_rtx_copies(t->loss);
    for (size_t i = 0; i < p->u.fb.count; i++) {
        uint16_t pid, blp;
        if (hc_rtcp_nack_fci(p, i, &pid, &blp) < 0) break;
        for (int b = -1; b < 16; b++) {
            if (b >= 0 && !(blp & (1u << b))) continue;
            uint16_t seq = (uint16_t)(pid + b + 1);
            t->nacks_received++;
            r->c.nacks_rx++;
            if (budget > 0 && rt_send_rtx(r, t, seq, now)) {
                t->rtx_sent++;
                /* a lossy downlink takes retransmissions as often as
                 * originals: a second copy (proto/repair.h) */
                for (unsigned c = 1; c < copies && budget > 1; c++, budget--)
                    if (rt_send_rtx(r, t, seq, now)) t->rtx_sent++;
            } else {
                t->rtx_missed++;
            }
            if (budget > 0) budget--;
        }
    }
}

static void on_fir(hc_router_t *r, hc_leg_t *leg, const hc_rtcp_pkt_t *p, uint64_t now)
{
    for (size_t i = 0; i < p->u.fb.count; i++) {
        hc_rtcp_fir_t e;
        if (hc_rtcp_fir_entry(p, i, &e) < 0) break;
        hc_track_t *t = rt_track_of(r, leg, e.ssrc);
        if (!t) continue;
        /* RFC 5104 4.3.1.2: a repeated sequence number is a retransmitted
         * request, not a new one. */
        if (t->have_fir_seq && t->last_fir_seq == e.seq) continue;
        t->have_fir_seq = true;
        t->last_fir_seq = e.seq;
        t->firs_received++;
        r->c.firs_rx++;
        if (t->src) rt_keyframe_request(r, t->src, true, now);
    }
}

static void on_remb(hc_router_t *r, hc_leg_t *leg, const hc_rtcp_pkt_t *p)
{
    uint64_t bps = p->u.fb.remb.bitrate;
    if (p->u.fb.count == 0) {
        for (hc_track_t *t = leg->tracks; t; t = t->next_in_leg) t->remb_bps = bps;
        return;
    }
    for (size_t i = 0; i < p->u.fb.count; i++) {
        uint32_t ssrc;
        if (hc_rtcp_remb_ssrc(p, i, &ssrc) < 0) break;
        hc_track_t *t = rt_track_of(r, leg, ssrc);
        if (t) t->remb_bps = bps;
    }
}

void rt_rtcp_input(hc_router_t *r, hc_leg_t *leg, const uint8_t *buf, size_t len, uint64_t now)
{
    /* RFC 3550 A.2 (relaxed for RFC 5506): an invalid compound is dropped
     * whole, before any of it is acted on. */
    if (hc_rtcp_validate_compound(buf, len) < 0) {
        r->c.drop_malformed++;
        return;
    }
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t p;
    hc_rtcp_iter_init(&it, buf, len);
    while (hc_rtcp_next(&it, &p) > 0) {
        switch (p.kind) {
        case HC_RTCP_KIND_SR: {
            /* The publisher's clock mapping for this stream: kept for RR
             * LSR/DLSR and for the SRs translated toward subscribers. */
            hc_instream_t *s = rt_instream_of(r, p.u.report.ssrc);
            if (s && s->leg == leg) {
                s->have_sr = true;
                s->sr_ntp = p.u.report.info.ntp;
                s->sr_rtp = p.u.report.info.rtp_ts;
                s->sr_arrival_us = now;
            }
            on_blocks(r, leg, &p, now);
            break;
        }
        case HC_RTCP_KIND_RR: on_blocks(r, leg, &p, now); break;
        case HC_RTCP_KIND_NACK: on_nack(r, leg, &p, now); break;
        case HC_RTCP_KIND_PLI: {
            hc_track_t *t = rt_track_of(r, leg, p.u.fb.media_ssrc);
            if (!t) break;
            t->plis_received++;
            r->c.plis_rx++;
            if (t->src) rt_keyframe_request(r, t->src, false, now);
            break;
        }
        case HC_RTCP_KIND_FIR: on_fir(r, leg, &p, now); break;
        case HC_RTCP_KIND_REMB: on_remb(r, leg, &p); break;
        case HC_RTCP_KIND_TWCC:
            /* The subscriber's feedback on the leg's transport-wide
             * numbers: the downlink estimate (legs with layered tracks). */
            if (leg->bwe) rt_bwe_feedback(r, leg, p.u.fb.fci, p.u.fb.fci_len, now);
            break;
        default: break; /* SDES, BYE, TWCC from subscribers, APP: nothing to do */
        }
    }
}

/* ---- periodic reports ---- */

static bool make_rb(hc_instream_t *s, hc_rtcp_rb_t *rb, uint64_t now)
{
    hc_rxstats_report_t rep;
    if (hc_rxstats_report(&s->rx, &rep) < 0) return false;
    memset(rb, 0, sizeof(*rb));
    rb->ssrc = s->ssrc;
    rb->fraction_lost = rep.fraction_lost;
    rb->cumulative_lost = rep.cumulative_lost;
    rb->ext_highest_seq = rep.ext_highest_seq;
    rb->jitter = rep.jitter;
    if (s->have_sr) {
        rb->lsr = (uint32_t)(s->sr_ntp >> 16);
        rb->dlsr = (uint32_t)((now - s->sr_arrival_us) * 65536u / 1000000u);
    }
    s->loss = rep.fraction_lost / 256.0;
    return true;
}

static void make_sr(hc_router_t *r, hc_track_t *t, hc_rtcp_sender_info_t *si, uint64_t now)
{
    hc_instream_t *src = t->src;
    if (src && t->epoch && src->have_sr) {
        uint64_t d = now - src->sr_arrival_us;
        si->ntp = src->sr_ntp + rt_us_to_ntp(d);
        si->rtp_ts = src->sr_rtp + (uint32_t)(d * src->clock_rate / 1000000u) + t->ts_off;
    } else {
        si->ntp = rt_ntp(r, now);
        si->rtp_ts = t->last_out_ts + (uint32_t)((now - t->last_out_us) * t->clock_rate / 1000000u);
    }
    si->packet_count = t->sr_packets;
    si->octet_count = t->sr_octets;
    t->last_sr_mid = (uint32_t)(si->ntp >> 16);
    t->last_sr_us = now;
    t->sent_since_sr = false;
}

static hc_track_t *next_sr_track(hc_track_t *t)
{
    while (t && !t->sent_since_sr) t = t->next_in_leg;
    return t;
}

static void send_report(hc_router_t *r, hc_leg_t *leg, uint64_t now)
{
    /* RFC 3550 6.1: every compound starts with SR or RR and carries a
     * CNAME; one per MTU-sized datagram until every track and instream
     * was reported. */
    const size_t cname_len = sizeof(RT_CNAME) - 1;
    const size_t sdes = (4 + 4 + 2 + cname_len + 1 + 3) & ~(size_t)3;
    hc_track_t *tc = next_sr_track(leg->tracks);
    hc_instream_t *ic = leg->instreams;
    bool first = true;
    while (first || tc || ic) {
        first = false;
        uint8_t *slot = rt_tx_slot(r);
        size_t off = 0;
        bool any = false;
        for (; tc; tc = next_sr_track(tc->next_in_leg)) {
            if (off + 28 + 8 + sdes > RT_MTU_PAYLOAD) break;
            hc_rtcp_sender_info_t si;
            make_sr(r, tc, &si, now);
            if (hc_rtcp_append(
                    &off, hc_rtcp_write_sr(slot + off, RTCP_CAP - off, tc->ssrc, &si, NULL, 0)) < 0)
                return;
            any = true;
        }
        hc_rtcp_rb_t rbs[HC_RTCP_MAX_RB];
        size_t nrb = 0;
        while (ic && nrb < HC_RTCP_MAX_RB &&
               off + 8 + HC_RTCP_RB_LEN * (nrb + 1) + sdes <= RT_MTU_PAYLOAD) {
            if (make_rb(ic, &rbs[nrb], now)) nrb++;
            ic = ic->next_in_leg;
        }
        if (nrb || !any) {
            if (hc_rtcp_append(&off, hc_rtcp_write_rr(slot + off, RTCP_CAP - off, leg->relay_ssrc,
                                                      rbs, nrb)) < 0)
                return;
        }
        if (hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(slot + off, RTCP_CAP - off,
                                                          leg->relay_ssrc, RT_CNAME, cname_len)) <
            0)
            return;
        rt_tx_rtcp(r, leg, slot, off);
    }
}

void rt_report_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_leg_t *leg = ud;
    hc_router_t *r = leg->r;
    uint64_t now = hc_loop_now_us(loop);
    uint64_t period = r->cfg.report_ms * 1000ull;
    uint64_t next = t->due_us + period;
    if (next <= now) next = now + period;
    hc_timer_start(loop, t, next, rt_report_timer_fn, leg);
    /* Also the keepalive that keeps carrier NAT mappings open. */
    if (leg->has_addr) send_report(r, leg, now);
    /* A video track still waiting for its source's keyframe asks again
     * (merged and rate-limited per instream). */
    for (hc_track_t *tr = leg->tracks; tr; tr = tr->next_in_leg) {
        if (tr->wait_kf && tr->src) rt_keyframe_request(r, tr->src, false, now);
        if (tr->lay && tr->lay->pend >= 0)
            rt_keyframe_request(r, tr->lay->in[tr->lay->pend], false, now);
    }
}
