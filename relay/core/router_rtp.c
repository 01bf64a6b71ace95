/* router_rtp.c - the relay's RTP path: receive on an instream (RTX unwrap,
 * statistics, history, loss detection, keyframe detection) and fan-out to
 * the tracks it feeds with SSRC/sequence/timestamp rewriting; see
 * router_int.h. */
#include "relay/core/router_int.h"

#include "proto/bytes.h"
#include "proto/h264.h"
#include "proto/rtpext.h"

#include <string.h>

/* RFC 6184: SPS counts as a keyframe start: encoders put SPS and PPS
 * right before the IDR, and a decoder joining at the IDR would lack them. */
bool rt_h264_keyframe_start(const uint8_t *p, size_t len)
{
    return (hc_h264_rtp_flags(p, len) & (HC_H264_AU_SPS | HC_H264_AU_IDR)) != 0;
}

void rt_track_link(hc_track_t *t, hc_instream_t *src)
{
    t->src = src;
    t->src_prev = NULL;
    t->src_next = src->tracks;
    if (src->tracks) src->tracks->src_prev = t;
    src->tracks = t;
}

void rt_track_unlink(hc_track_t *t)
{
    hc_instream_t *s = t->src;
    if (!s) return;
    if (t->src_prev)
        t->src_prev->src_next = t->src_next;
    else
        s->tracks = t->src_next;
    if (t->src_next) t->src_next->src_prev = t->src_prev;
    t->src = NULL;
    t->src_prev = t->src_next = NULL;
}

/* The first packet of a new source (or of a restarted one) on t: pick the
 * offsets so it continues the track with the next sequence number and a
 * timestamp advanced by the time since the last packet went out. */
static void start_epoch(hc_router_t *r, hc_track_t *t, uint16_t seq, uint32_t ts, int64_t ext,
                        uint64_t now)
{
    uint16_t oseq;
    uint32_t ots;
    if (t->have_out) {
        oseq = (uint16_t)(t->last_out_seq + 1);
        uint64_t ticks = (now - t->last_out_us) * t->clock_rate / 1000000u;
        if (ticks == 0) ticks = 1; /* a new frame never shares the last one's time */
        ots = t->last_out_ts + (uint32_t)ticks;
    } else {
        /* RFC 3550 5.1: random initial sequence number and timestamp. */
        oseq = (uint16_t)rt_rand(r);
        ots = rt_rand(r);
    }
    t->seq_off = (uint16_t)(oseq - seq);
    t->ts_off = ots - ts;
    t->epoch_first_ext = ext;
    t->epoch = true;
}

static void send_media(hc_router_t *r, hc_track_t *t, const uint8_t *pkt, size_t len,
                       const hc_rtp_hdr_t *h, bool own_pt, int twcc_off, uint64_t now)
{
    hc_leg_t *leg = t->leg;
    uint16_t oseq = (uint16_t)(h->seq + t->seq_off);
    uint32_t ots = h->ts + t->ts_off;
    uint8_t *slot = rt_tx_slot(r);
    memcpy(slot, pkt, len);
    hc_rtp_set_ssrc(slot, t->ssrc);
    hc_rtp_set_seq(slot, oseq);
    hc_rtp_set_ts(slot, ots);
    if (own_pt) hc_rtp_set_pt_marker(slot, t->pt, h->marker);
    uint16_t tw = leg->twcc_seq;
    if (twcc_off >= 0) hc_wr16(slot + twcc_off, leg->twcc_seq++);
    bool fec_due = rt_fec_add(t, slot, len); /* parity over what the subscriber will see */
    int n = hc_srtp_protect(&leg->tx, slot, len, HC_PKT_CAP);
    if (n < 0) {
        /* -HC_EREPLAY: a duplicate older than the history got this far;
         * GCM must never protect one index twice. */
        r->c.drop_send++;
        return;
    }
    if (!rt_tx_queue(r, leg, slot, (uint32_t)n)) return;
    if (twcc_off >= 0 && leg->bwe) rt_bwe_sent(r, leg, tw, (size_t)n, now);
    t->packets++;
    t->bytes += (uint64_t)n;
    t->sr_packets++;
    t->sr_octets += (uint32_t)h->payload_len;
    t->sent_since_sr = true;
    rt_rate_add(&t->rate, (uint64_t)n, now);
    if (!t->have_out || hc_seq_lt(t->last_out_seq, oseq)) {
        t->last_out_seq = oseq;
        t->last_out_ts = ots;
        t->last_out_us = now;
        t->have_out = true;
    }
    if (fec_due) rt_fec_send(r, t, ots, now);
}

/* The publisher's numbering started again (RFC 3550 A.1: two packets in a
 * row far from the last): forget its history and loss list, and let every
 * track continue seamlessly from the new numbers. */
static void restart_source(hc_instream_t *s)
{
    hc_seq_unwrap_init(&s->uw);
    s->have_seq = false;
    s->have_bad = false;
    hc_history_clear(&s->hist);
    hc_nackgen_reset(&s->nack);
    hc_timer_stop(&s->nack_timer);
    for (hc_track_t *t = s->tracks; t; t = t->src_next) t->epoch = false;
}

/* A packet that crossed the publisher's link arrived now: its
 * transport-wide sequence number goes into the leg's feedback. */
static void twcc_arrival(hc_router_t *r, hc_leg_t *leg, hc_instream_t *s, const uint8_t *d,
                         uint64_t now)
{
    hc_twccfb_record(&leg->twcc->fb, hc_rd16(d), now);
    leg->twcc->media_ssrc = s->ssrc;
    if (!hc_timer_active(&leg->twcc->timer))
        hc_timer_start(r->loop, &leg->twcc->timer, now + RT_TWCC_INTERVAL_US, rt_twcc_timer_fn,
                       leg);
}

void rt_rtp_input(hc_router_t *r, hc_instream_t *s, int via, uint8_t *data, size_t len,
                  uint64_t now)
{
    hc_leg_t *leg = s->leg;
    bool rtx = via == RT_VIA_RTX;
    hc_rtp_hdr_t h;
    if (len > RT_MAX_RTP || hc_rtp_parse(data, len, &h) < 0) {
        r->c.drop_malformed++;
        return;
    }
    if (rtx) {
        /* Every RTX packet counts for the publisher's congestion control
         * before anything may drop it: a payload-less one (RFC 3550
         * padding) or a repeat of a packet we have are bandwidth probes,
         * and a probe the feedback reported lost would read as loss. */
        const uint8_t *tw;
        size_t twl;
        if (leg->twcc && hc_rtpext_find(&h, HC_EXT_TWCC, &tw, &twl) == 1 && twl == 2)
            twcc_arrival(r, leg, s, tw, now);
        /* RFC 4588 section 4: the RTX payload is the original sequence
         * number followed by the original payload; header (extensions
         * included) and timestamp are the original's. Rebuild the original
         * in place, 2 bytes further on. A payload-less RTX packet is
         * bandwidth probing padding: nothing to recover. */
        if (h.payload_len < 2) return;
        uint16_t osn = hc_rd16(h.payload);
        size_t hl = h.header_len, plen = h.payload_len - 2;
        memmove(data + 2, data, hl);
        data += 2;
        len = hl + plen;
        data[0] &= (uint8_t)~0x20u; /* padding was dropped */
        hc_rtp_set_seq(data, osn);
        hc_rtp_set_ssrc(data, s->ssrc);
        hc_rtp_set_pt_marker(data, s->pt, h.marker);
        if (hc_rtp_parse(data, len, &h) < 0) {
            r->c.drop_malformed++;
            return;
        }
        /* Only numbers behind the newest one can have been asked for. */
        if (!s->have_seq || hc_seq_diff(s->max_seq, h.seq) > 0) return;
    } else if (via == RT_VIA_FEC) {
        /* Rebuilt from the publisher's repair packets, which protect what
         * the decoder's window holds: never a restart of the numbering. */
        int d = s->have_seq ? hc_seq_diff(s->max_seq, h.seq) : 0;
        if (d >= HC_RXSTATS_MAX_DROPOUT || d < -(int)(s->hist.mask + 1)) return;
    } else if (s->have_seq) {
        /* RFC 3550 A.1's test, except that a packet up to a history behind
         * counts as late rather than bad (A.1 allows 100): reordering on a
         * cellular uplink can exceed that, and the late packet may be the
         * very one subscribers are missing. */
        int d = hc_seq_diff(s->max_seq, h.seq);
        if (d >= HC_RXSTATS_MAX_DROPOUT || d < -(int)(s->hist.mask + 1)) {
            if (s->have_bad && h.seq == s->bad_seq) {
                restart_source(s);
            } else {
                /* RFC 3550 A.1: a very large jump is not used until the
                 * next packet confirms it. */
                s->bad_seq = (uint16_t)(h.seq + 1);
                s->have_bad = true;
                return;
            }
        }
    }
    uint16_t seq = h.seq;
    /* Originals feed the FEC decoder (an RTX copy may differ from what the
     * parity covers: padding dropped, transport-wide number renewed). */
    if (via == RT_VIA_MEDIA && s->fec) (void)hc_fec_dec_add_source(&s->fec->dec, data, len);
    /* An RTX for a packet that arrived after all, or a duplicate: the
     * history has it, subscribers got it. */
    if (s->have_seq && hc_history_has(&s->hist, seq)) return;
    int64_t ext = hc_seq_unwrap(&s->uw, seq);
    if (!s->have_seq || hc_seq_lt(s->max_seq, seq)) {
        s->max_seq = seq;
        s->highest_ext = ext;
    }
    s->have_seq = true;
    if (via == RT_VIA_MEDIA) {
        s->have_bad = false;
        /* RFC 4588 section 8 (and 3550 6.4.1): reports describe the
         * original stream before repair, so retransmissions (and packets
         * rebuilt from FEC) stay out of loss and jitter. */
        hc_rxstats_update(&s->rx, seq, h.ts, now);
    }
    hc_nackgen_fill_t fill;
    int gaps = hc_nackgen_on_packet(&s->nack, seq, now, &fill);
    if (via == RT_VIA_FEC) {
        /* Rebuilt: it did not arrive, whether or not a later packet had
         * shown it missing yet (the last of a group can come back first). */
        s->recovered_fec++;
        r->c.fec_recovered++;
        if (!fill.recovered) s->recovered++;
    }
    if (fill.recovered) {
        s->recovered++;
        /* Karn: only an answer to the first request times the path. */
        if (rtx && fill.retries == 1 && fill.sent_us && now > fill.sent_us)
            rt_leg_rtt(leg, now - fill.sent_us, 1);
    }
    if (gaps > 0 && s->rtx_ssrc && r->cfg.nack_max_retries)
        rt_nack_arm(r, s, rt_fec_nack_due(r, s, now));
    hc_history_put(&s->hist, seq, data, len, now);

    /* One pass over the header extensions (RFC 8285). */
    int twcc_off = -1;
    if (h.extension) {
        hc_rtpext_iter_t it;
        if (hc_rtpext_iter_init(&it, h.ext_profile, h.ext_data, h.ext_len) == 0) {
            uint8_t id;
            const uint8_t *d;
            size_t l;
            while (hc_rtpext_next(&it, &id, &d, &l) > 0) {
                if (id == HC_EXT_TWCC && l == 2) {
                    twcc_off = (int)(d - data);
                    /* A rebuilt packet never crossed the link; an RTX was
                     * recorded on arrival. */
                    if (leg->twcc && via == RT_VIA_MEDIA) twcc_arrival(r, leg, s, d, now);
                } else if (id == HC_EXT_AUDIO_LEVEL && s->kind == HC_MEDIA_AUDIO &&
                           via == RT_VIA_MEDIA) {
                    bool voice;
                    uint8_t level;
                    if (hc_rtpext_audio_level_parse(d, l, &voice, &level) > 0) {
                        int q = level * 16;
                        if (!s->have_level)
                            s->level_q4 = (uint16_t)q;
                        else
                            s->level_q4 = (uint16_t)(s->level_q4 + (q - (int)s->level_q4) / 4);
                        s->have_level = true;
                        s->level_us = now;
                        if (voice) s->voice_us = now;
                    }
                }
            }
        }
    }

    bool own_pt = h.pt == s->pt;
    bool kf = false;
    if (s->kind == HC_MEDIA_VIDEO && own_pt) {
        kf = rt_h264_keyframe_start(h.payload, h.payload_len);
        if (kf) {
            if (!s->have_kf_ts || s->kf_ts != h.ts) s->keyframes++;
            s->have_kf_ts = true;
            s->kf_ts = h.ts;
            rt_keyframe_seen(s);
        }
    }
    if (via == RT_VIA_MEDIA) s->last_rx_us = now;
    /* Tracks switching layers to s start with its keyframe. */
    if (kf && s->pending) rt_layers_promote(r, s);
    s->packets++;
    s->bytes += len;
    rt_rate_add(&s->rate, len, now);

    for (hc_track_t *t = s->tracks, *next; t; t = next) {
        next = t->src_next;
        if (!t->leg->has_addr) {
            r->c.drop_noaddr++;
            continue;
        }
        if (!t->epoch) {
            if (t->wait_kf) {
                if (!kf) {
                    t->dropped_wait_kf++;
                    continue;
                }
                t->wait_kf = false;
            }
            start_epoch(r, t, seq, h.ts, ext, now);
        } else if (ext < t->epoch_first_ext) {
            continue; /* from before the switch: its numbers are taken */
        }
        send_media(r, t, data, len, &h, own_pt, twcc_off, now);
        if (t->switching) {
            t->switching = false;
            t->switches++;
            if (r->ev.track_switched) r->ev.track_switched(r->ev.ud, t, s);
        }
    }
    /* An original may complete a group whose repair packet is held. Not
     * after a rebuilt packet: rt_fec_recover() is looping already. */
    if (via == RT_VIA_MEDIA && s->fec && s->nack.live) rt_fec_recover(r, s, now);
}
