/* endpoint.c - the client end of an SRTP leg; see endpoint.h. */
#include "relay/core/endpoint.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/fec.h"
#include "proto/repair.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "proto/rxstats.h"
#include "proto/seq.h"
#include "relay/core/clock.h"
#include "relay/core/history.h"
#include "relay/core/pool.h"
#include "relay/core/twccfb.h"
#include "relay/core/udp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest plain RTP packet we send or keep: a pool buffer less the SRTP
 * trailer and the 2-byte OSN an RTX copy inserts (RFC 4588 section 4). */
#define EP_MAX_RTP    (HC_PKT_CAP - HC_SRTP_MAX_TRAILER - 2)
#define EP_SLOT_CAP   ((EP_MAX_RTP + 15u) & ~15u)
#define EP_HIST_AVG   1280u /* history ring bytes per packet slot */
#define EP_MAX_NACK   128   /* sequence numbers per NACK packet we write */
#define EP_MAX_LOST   256   /* sequence numbers of one received NACK we serve */
#define EP_RTCP_CAP   1200
#define EP_FEC_WINDOW 64      /* default source slots of a track's FEC decoder */
#define EP_FEC_ACTIVE 1000000 /* repair packets seen this recently: hold first NACKs */
#define EP_PAD_SCAN   16      /* probe padding repeats one of this many newest packets */
#define EP_PAD_MAX    255     /* RFC 3550 section 5.1: the padding count is one octet */
#define EP_TWCC_WIN   512     /* transport-wide numbers recorded (4 KiB) */
#define EP_TWCC_MS    50      /* feedback period by default */

/* How a packet reached a track. */
enum { VIA_MEDIA = 0, VIA_RTX, VIA_FEC };

enum { RX_EMPTY = 0, RX_MISSING, RX_HAVE, RX_DONE, RX_LOST };

struct hc_ep_stream {
    bool used;
    hc_ep_stream_cfg_t cfg;
    uint16_t next_seq;
    uint16_t rtx_seq;
    bool sent_any;
    uint32_t last_ts;
    uint64_t last_send_us;
    uint32_t sr_packets, sr_octets; /* RFC 3550 section 6.4.1 sender counts */
    bool has_hist;
    hc_history_t hist; /* plain RTP as sent, for RTX */
    hc_fec_enc_t *fec; /* with cfg.fec_ssrc; in use while fec_group > 0 */
    unsigned fec_group;
    uint16_t fec_seq;
    /* probe padding: where the walk back through the newest packets is */
    uint16_t pad_newest;
    uint8_t pad_back;
    hc_ep_stream_stats_t st;
};

typedef struct rx_slot {
    int64_t ext;
    uint8_t state;
    uint8_t retries;
    bool rtx, fec, recovered, marker, has_al, voice;
    uint8_t pt, level;
    uint16_t len;
    uint32_t ts;
    uint64_t missing_since, next_nack, last_nack;
    uint64_t capture, rx_us, rx_wall;
    uint8_t *data; /* reorder mode only */
} rx_slot_t;

struct hc_ep_track {
    bool used;
    hc_ep_track_cfg_t cfg;
    hc_rxstats_t rxs;
    hc_seq_unwrap_t unwrap;
    bool started;
    int64_t first, highest, next_out;
    rx_slot_t *ring;
    uint8_t *slab;
    uint32_t mask;
    uint32_t nmissing;
    uint32_t skipped; /* given up since the last in-order delivery */
    bool have_sr;
    uint32_t lsr;
    uint64_t sr_rx_us;
    uint64_t last_pli_us;
    bool pli_sent_once;
    /* FlexFEC recovery (cfg.fec_ssrc) */
    bool has_fec, fec_seen;
    uint64_t fec_bad; /* repair packets refused, and rebuilt packets that did not parse */
    uint64_t fec_seen_us;
    hc_fec_dec_t dec;
    hc_fec_src_slot_t *fec_src;
    hc_fec_fec_slot_t *fec_fec;
    hc_ep_track_stats_t st;
};

struct hc_endpoint {
    hc_endpoint_cfg_t cfg;
    size_t keylen;
    hc_srtp_t tx_srtp, rx_srtp;
    int fd;
    hc_pool_t pool;
    hc_udp_rx_t rx;
    hc_udp_tx_t tx;
    hc_pkt_t *inflight[HC_UDP_TX_BATCH];
    uint32_t ninflight;
    hc_ep_stream_t *streams;
    hc_ep_track_t *tracks;
    uint16_t twcc_seq;
    bool started;
    uint64_t next_report_us;
    uint64_t srtt_us;
    bool rtt_measured;
    hc_endpoint_stats_t st;
    /* hc_endpoint_set_rtx_rate(): the RTX token bucket, in bytes */
    uint32_t rtx_bps;
    double rtx_tokens;
    uint64_t rtx_tok_us;
    /* transport-wide feedback on what we receive (added by downlink layers) */
    hc_twccfb_t twfb;
    uint64_t *twarr;
    uint32_t tw_media_ssrc;
    uint64_t tw_next_us; /* 0: nothing pending */
    /* loop attachment */
    hc_loop_t *loop;
    hc_watch_t watch;
    hc_timer_t timer;
    hc_loop_hook_t hook;
};

void hc_endpoint_cfg_default(hc_endpoint_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->suite = HC_SRTP_AEAD_AES_128_GCM;
    cfg->report_ms = 1000;
    cfg->keepalive_ms = 1000;
    cfg->nack_max_retries = 4;
    cfg->nack_max_age_ms = 1000;
    cfg->rtt_init_ms = 100;
    cfg->pli_min_ms = 200;
    cfg->rtx_max_age_ms = 1000;
    cfg->max_streams = 8;
    cfg->max_tracks = 24;
    cfg->pool_packets = 512;
}

/* ---- sending ---- */

int hc_endpoint_flush(hc_endpoint_t *ep)
{
    if (!ep->tx.n) return 0;
    uint64_t dropped = ep->tx.dropped;
    int n = hc_udp_tx_flush(ep->fd, &ep->tx);
    ep->st.tx_dropped += ep->tx.dropped - dropped;
    if (n > 0) ep->st.tx_datagrams += (uint64_t)n;
    for (uint32_t i = 0; i < ep->ninflight; i++) hc_pool_put(&ep->pool, ep->inflight[i]);
    ep->ninflight = 0;
    return n;
}

/* A send buffer whose bytes stay put until the next flush. */
static hc_pkt_t *tx_slot(hc_endpoint_t *ep)
{
    if (ep->ninflight >= HC_UDP_TX_BATCH) hc_endpoint_flush(ep);
    hc_pkt_t *p = hc_pool_get(&ep->pool);
    if (!p && ep->ninflight) {
        hc_endpoint_flush(ep);
        p = hc_pool_get(&ep->pool);
    }
    if (!p) ep->st.drop_nobuf++;
    return p;
}

static void tx_queue(hc_endpoint_t *ep, hc_pkt_t *p, size_t len)
{
    ep->inflight[ep->ninflight++] = p;
    p->len = (uint32_t)len;
    (void)hc_udp_tx_add(&ep->tx, p->data, (uint32_t)len, &ep->cfg.remote);
    ep->st.tx_bytes += len;
}

/* Bytes a datagram of len costs on the wire: UDP and IP headers added. */
static uint32_t wire_of(const hc_endpoint_t *ep, size_t len)
{
    return (uint32_t)len + (hc_addr_family(&ep->cfg.remote) == AF_INET6 ? 48u : 28u);
}

static void note_sent(hc_endpoint_t *ep, hc_ep_stream_t *s, hc_ep_sent_kind_t kind, int32_t twcc,
                      size_t len)
{
    if (!ep->cfg.ev.sent) return;
    hc_ep_sent_t info = {.kind = kind, .twcc = twcc, .wire = wire_of(ep, len)};
    ep->cfg.ev.sent(ep->cfg.ev.ud, s, &info);
}

/* Protect an RTCP compound in buf and queue it. */
static int send_rtcp(hc_endpoint_t *ep, const uint8_t *rtcp, size_t len)
{
    hc_pkt_t *p = tx_slot(ep);
    if (!p) return -HC_EFULL;
    memcpy(p->data, rtcp, len);
    int n = hc_srtp_protect_rtcp(&ep->tx_srtp, p->data, len, p->cap);
    if (n < 0) {
        hc_pool_put(&ep->pool, p);
        return n;
    }
    tx_queue(ep, p, (size_t)n);
    ep->st.rtcp_tx++;
    return 0;
}

static const char *cname(const hc_endpoint_t *ep)
{
    return ep->cfg.cname[0] ? ep->cfg.cname : "hc-endpoint";
}

static uint32_t ntp_mid(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

static void rtt_sample(hc_endpoint_t *ep, uint64_t rtt_us)
{
    if (!ep->rtt_measured) {
        ep->srtt_us = rtt_us;
        ep->rtt_measured = true;
    } else {
        ep->srtt_us = (ep->srtt_us * 7 + rtt_us) / 8;
    }
}

/* RR (report blocks for every track that received) + SDES from rtcp_ssrc,
 * then the SRs of the streams that sent, in a second compound. */
static void send_reports(hc_endpoint_t *ep, uint64_t now_us)
{
    uint8_t buf[EP_RTCP_CAP];
    hc_rtcp_rb_t rbs[HC_RTCP_MAX_RB];
    size_t nrb = 0;
    for (uint32_t i = 0; i < ep->cfg.max_tracks && nrb < HC_RTCP_MAX_RB; i++) {
        hc_ep_track_t *t = &ep->tracks[i];
        hc_rxstats_report_t r;
        if (!t->used || hc_rxstats_report(&t->rxs, &r) < 0) continue;
        hc_rtcp_rb_t *rb = &rbs[nrb++];
        memset(rb, 0, sizeof *rb);
        rb->ssrc = t->cfg.ssrc;
        rb->fraction_lost = r.fraction_lost;
        rb->cumulative_lost = r.cumulative_lost;
        rb->ext_highest_seq = r.ext_highest_seq;
        rb->jitter = r.jitter;
        if (t->have_sr) {
            rb->lsr = t->lsr;
            /* RFC 3550 section 6.4.1: DLSR in units of 1/65536 s. */
            rb->dlsr = (uint32_t)(((now_us - t->sr_rx_us) << 16) / 1000000u);
        }
    }
    size_t off = 0;
    const char *cn = cname(ep);
    if (hc_rtcp_append(&off, hc_rtcp_write_rr(buf, sizeof buf, ep->cfg.rtcp_ssrc, rbs, nrb)) == 0 &&
        hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(buf + off, sizeof buf - off,
                                                      ep->cfg.rtcp_ssrc, cn, strlen(cn))) == 0)
        (void)send_rtcp(ep, buf, off);

    off = 0;
    uint64_t ntp = hc_rtpext_ntp_from_unix_us(hc_wall_us());
    for (uint32_t i = 0; i < ep->cfg.max_streams; i++) {
        hc_ep_stream_t *s = &ep->streams[i];
        if (!s->used || !s->sent_any) continue;
        hc_rtcp_sender_info_t info;
        info.ntp = ntp;
        uint64_t el = now_us > s->last_send_us ? now_us - s->last_send_us : 0;
        info.rtp_ts = s->last_ts + (uint32_t)(el * s->cfg.clock_rate / 1000000u);
        info.packet_count = s->sr_packets;
        info.octet_count = s->sr_octets;
        size_t save = off;
        if (hc_rtcp_append(&off, hc_rtcp_write_sr(buf + off, sizeof buf - off, s->cfg.ssrc, &info,
                                                  NULL, 0)) < 0 ||
            hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(buf + off, sizeof buf - off, s->cfg.ssrc,
                                                          cn, strlen(cn))) < 0) {
            off = save;
            break;
        }
    }
    if (off) (void)send_rtcp(ep, buf, off);
}

/* Queue orig (plain RTP as sent, from the history) again as RFC 4588 RTX:
 * same timestamp, marker and extensions, the stream's RTX SSRC and payload
 * type, its own sequence number, and the original sequence number (OSN)
 * before the payload. Returns the SRTP length (> 0) with *twcc the
 * transport-wide number it took (-1 none) and *plen the original payload's
 * length, or a negative code. */
static int rtx_out(hc_endpoint_t *ep, hc_ep_stream_t *s, const uint8_t *orig, size_t olen,
                   int32_t *twcc, size_t *plen)
{
    *twcc = -1;
    *plen = 0;
    hc_rtp_hdr_t hdr;
    if (hc_rtp_parse(orig, olen, &hdr) < 0) return -HC_EMALFORMED;
    hc_pkt_t *p = tx_slot(ep);
    if (!p) return -HC_EFULL;
    size_t hl = hdr.header_len;
    memcpy(p->data, orig, hl);
    hc_rtp_set_ssrc(p->data, s->cfg.rtx_ssrc);
    hc_rtp_set_seq(p->data, s->rtx_seq++);
    hc_rtp_set_pt_marker(p->data, s->cfg.rtx_pt, hdr.marker);
    p->data[0] &= (uint8_t)~0x20u; /* padding is not carried over */
    hc_wr16(p->data + hl, hdr.seq);
    memcpy(p->data + hl + 2, hdr.payload, hdr.payload_len);
    size_t len = hl + 2 + hdr.payload_len;
    if ((s->cfg.ext & HC_EP_EXT_TWCC) && hdr.extension) {
        /* A retransmission is a new packet on the wire for congestion
         * control: it gets its own transport-wide sequence number. */
        hc_rtp_hdr_t nh;
        const uint8_t *d;
        size_t dl;
        if (hc_rtp_parse(p->data, len, &nh) >= 0 &&
            hc_rtpext_find(&nh, HC_EXT_TWCC, &d, &dl) == 1 && dl == 2) {
            *twcc = ep->twcc_seq;
            hc_wr16(p->data + (d - p->data), ep->twcc_seq);
        }
    }
    int n = hc_srtp_protect(&ep->tx_srtp, p->data, len, p->cap);
    if (n < 0) {
        hc_pool_put(&ep->pool, p);
        *twcc = -1;
        return n;
    }
    tx_queue(ep, p, (size_t)n);
    if (*twcc >= 0) ep->twcc_seq++; /* taken only by a packet that goes */
    *plen = hdr.payload_len;
    return n;
}

/* Retransmit seq of stream s (a NACK's answer, or unasked): 0 or -HC_E*. */
static int send_rtx(hc_endpoint_t *ep, hc_ep_stream_t *s, uint16_t seq, uint64_t now_us)
{
    const uint8_t *orig;
    size_t olen;
    uint32_t age_ms;
    if (!s->has_hist || !s->cfg.rtx_ssrc ||
        hc_history_get(&s->hist, seq, now_us, &orig, &olen, &age_ms) < 0 ||
        age_ms > ep->cfg.rtx_max_age_ms) {
        s->st.rtx_missed++;
        return -HC_ENOTFOUND;
    }
    if (ep->rtx_bps) {
        double depth = (double)ep->rtx_bps / 8.0 * 0.2;
        if (depth < 2.0 * (EP_MAX_RTP + 64)) depth = 2.0 * (EP_MAX_RTP + 64);
        if (now_us > ep->rtx_tok_us)
            ep->rtx_tokens += (double)(now_us - ep->rtx_tok_us) * ep->rtx_bps / 8e6;
        ep->rtx_tok_us = now_us;
        if (ep->rtx_tokens > depth) ep->rtx_tokens = depth;
        if (ep->rtx_tokens < (double)wire_of(ep, olen + 2)) {
            s->st.rtx_limited++;
            return -HC_EAGAIN;
        }
    }
    int32_t twcc;
    size_t plen;
    int n = rtx_out(ep, s, orig, olen, &twcc, &plen);
    if (n < 0) {
        if (n != -HC_EFULL) s->st.rtx_missed++;
        return n;
    }
    if (ep->rtx_bps) ep->rtx_tokens -= (double)wire_of(ep, (size_t)n);
    s->st.rtx_sent++;
    s->st.rtx_bytes += plen;
    note_sent(ep, s, HC_EP_SENT_RTX, twcc, (size_t)n);
    return 0;
}

/* Answer a NACK for seq of stream s with a retransmission. */
static void answer_nack(hc_endpoint_t *ep, hc_ep_stream_t *s, uint16_t seq, uint64_t now_us)
{
    s->st.nacks_rx++;
    /* a lossy uplink takes retransmissions as often as originals: a
     * second copy (proto/repair.h), within the same rate cap */
    unsigned copies = hc_repair_rtx_copies(s->st.loss);
    for (unsigned c = 0; c < copies; c++)
        if (send_rtx(ep, s, seq, now_us) < 0) break;
}

int hc_endpoint_resend(hc_endpoint_t *ep, hc_ep_stream_t *s, uint16_t seq, uint64_t now_us)
{
    if (!ep || !s || !s->used || !s->cfg.rtx_ssrc) return -HC_EINVAL;
    int rc = send_rtx(ep, s, seq, now_us);
    if (rc == 0) s->st.rtx_unasked++;
    return rc;
}

/* The repair packet of the group s's encoder just completed: its own SSRC
 * and sequence space (RFC 8627 section 4.1), the media clock's timestamp
 * of the group's last packet, no extensions. */
static void send_fec(hc_endpoint_t *ep, hc_ep_stream_t *s, uint32_t ts)
{
    hc_pkt_t *p = tx_slot(ep);
    if (!p) return;
    hc_fec_rtp_t fh = {.ssrc = s->cfg.fec_ssrc,
                       .seq = s->fec_seq,
                       .ts = ts,
                       .pt = s->cfg.fec_pt ? s->cfg.fec_pt : HC_EP_PT_FLEXFEC};
    int len = hc_fec_enc_write(s->fec, &fh, p->data, EP_MAX_RTP);
    int n = len < 0 ? len : hc_srtp_protect(&ep->tx_srtp, p->data, (size_t)len, p->cap);
    if (n < 0) {
        hc_pool_put(&ep->pool, p);
        return;
    }
    s->fec_seq++;
    tx_queue(ep, p, (size_t)n);
    s->st.fec_sent++;
    s->st.fec_bytes += (uint64_t)len - 16u; /* RTP header with its one CSRC */
    note_sent(ep, s, HC_EP_SENT_FEC, -1, (size_t)n);
}

int hc_endpoint_stream_fec(hc_ep_stream_t *s, unsigned group)
{
    if (!s || !s->used || !s->fec || group > HC_FEC_MAX_GROUP) return -HC_EINVAL;
    if (group == s->fec_group) return 0;
    if (group && hc_fec_enc_init(s->fec, s->cfg.ssrc, group) < 0) return -HC_EINVAL;
    s->fec_group = group;
    return 0;
}

/* Build the extension data a stream stamps into ext (at least 32 bytes). */
static int build_ext(hc_endpoint_t *ep, hc_ep_stream_t *s, const hc_rtp_hdr_t *keep,
                     const hc_ep_send_opts_t *o, uint8_t *ext, size_t cap, uint16_t *profile,
                     size_t *ext_len, int32_t *twcc)
{
    *twcc = -1;
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, ext, cap);
    if (keep && keep->extension) {
        hc_rtpext_iter_t it;
        uint8_t id;
        const uint8_t *d;
        size_t dl;
        if (hc_rtpext_iter_init(&it, keep->ext_profile, keep->ext_data, keep->ext_len) < 0)
            return -HC_EMALFORMED;
        int rc;
        while ((rc = hc_rtpext_next(&it, &id, &d, &dl)) == 1) {
            if ((id == HC_EXT_CAPTURE_TIME && (s->cfg.ext & HC_EP_EXT_CAPTURE_TIME)) ||
                (id == HC_EXT_TWCC && (s->cfg.ext & HC_EP_EXT_TWCC)) ||
                (id == HC_EXT_AUDIO_LEVEL && (s->cfg.ext & HC_EP_EXT_AUDIO_LEVEL) && o &&
                 o->has_audio_level))
                continue;
            hc_rtpext_add(&b, id, d, dl);
        }
        if (rc < 0) return rc;
    }
    uint8_t v[16];
    int n;
    if ((s->cfg.ext & HC_EP_EXT_AUDIO_LEVEL) && o && o->has_audio_level) {
        n = hc_rtpext_audio_level_write(o->voice, o->audio_level & 0x7f, v, sizeof v);
        if (n > 0) hc_rtpext_add(&b, HC_EXT_AUDIO_LEVEL, v, (size_t)n);
    }
    if (s->cfg.ext & HC_EP_EXT_TWCC) {
        n = hc_rtpext_twcc_write(ep->twcc_seq, v, sizeof v);
        if (n > 0 && hc_rtpext_add(&b, HC_EXT_TWCC, v, (size_t)n) == 0) *twcc = ep->twcc_seq;
    }
    if (s->cfg.ext & HC_EP_EXT_CAPTURE_TIME) {
        hc_rtpext_capture_time_t ct = {0};
        uint64_t cap_us = o && o->capture_wall_us ? o->capture_wall_us : hc_wall_us();
        ct.ntp = hc_rtpext_ntp_from_unix_us(cap_us);
        n = hc_rtpext_capture_time_write(&ct, v, sizeof v);
        if (n > 0) hc_rtpext_add(&b, HC_EXT_CAPTURE_TIME, v, (size_t)n);
    }
    if (b.count == 0) {
        *ext_len = 0;
        return 0;
    }
    n = hc_rtpext_finish(&b, profile, ext_len);
    return n < 0 ? n : 0;
}

static int send_built(hc_endpoint_t *ep, hc_ep_stream_t *s, hc_rtp_hdr_t *h, const uint8_t *payload,
                      size_t plen, const hc_ep_send_opts_t *o, const hc_rtp_hdr_t *keep,
                      uint64_t now_us)
{
    uint8_t ext[96];
    uint16_t profile = HC_RTPEXT_PROFILE_ONE_BYTE;
    size_t ext_len = 0;
    int32_t twcc;
    int rc = build_ext(ep, s, keep, o, ext, sizeof ext, &profile, &ext_len, &twcc);
    if (rc < 0) return rc;
    h->extension = ext_len > 0;
    h->ext_profile = profile;
    h->ext_data = ext;
    h->ext_len = ext_len;
    h->padding_len = 0;
    if (hc_rtp_header_size(h) + plen > EP_MAX_RTP) return -HC_ENOSPC;
    hc_pkt_t *p = tx_slot(ep);
    if (!p) return -HC_EFULL;
    int len = hc_rtp_write(h, payload, plen, p->data, EP_MAX_RTP);
    if (len < 0) {
        hc_pool_put(&ep->pool, p);
        return len;
    }
    if (s->has_hist) (void)hc_history_put(&s->hist, h->seq, p->data, (size_t)len, now_us);
    /* The parity is over the plain packet, exactly as the relay will see
     * it after SRTP (RFC 8627 section 6.2); a packet the encoder refuses
     * (longer than HC_FEC_MAX_PKT) cuts its group short. */
    bool fec_due = s->fec_group && hc_fec_enc_add(s->fec, p->data, (size_t)len) == 1;
    int n = hc_srtp_protect(&ep->tx_srtp, p->data, (size_t)len, p->cap);
    if (n < 0) {
        hc_pool_put(&ep->pool, p);
        return n;
    }
    tx_queue(ep, p, (size_t)n);
    /* The number is taken only by a packet that goes: a failed send leaves
     * no hole the receiver's feedback would report as a loss. */
    if (twcc >= 0) ep->twcc_seq++;
    if (o && o->twcc_out) *o->twcc_out = twcc;
    if (o && o->wire_out) *o->wire_out = wire_of(ep, (size_t)n);
    if (fec_due) send_fec(ep, s, h->ts);
    s->sent_any = true;
    s->last_ts = h->ts;
    s->last_send_us = now_us;
    s->sr_packets++;
    s->sr_octets += (uint32_t)plen;
    s->st.packets++;
    s->st.bytes += plen;
    s->next_seq = (uint16_t)(h->seq + 1);
    return h->seq;
}

int hc_endpoint_send(hc_endpoint_t *ep, hc_ep_stream_t *s, const uint8_t *payload, size_t len,
                     uint32_t ts, bool marker, const hc_ep_send_opts_t *opts, uint64_t now_us)
{
    if (!ep || !s || !s->used || (!payload && len)) return -HC_EINVAL;
    hc_rtp_hdr_t h;
    memset(&h, 0, sizeof h);
    h.marker = marker;
    h.pt = s->cfg.pt;
    h.seq = s->next_seq;
    h.ts = ts;
    h.ssrc = s->cfg.ssrc;
    return send_built(ep, s, &h, payload, len, opts, NULL, now_us);
}

int hc_endpoint_send_rtp(hc_endpoint_t *ep, hc_ep_stream_t *s, const uint8_t *rtp, size_t len,
                         const hc_ep_send_opts_t *opts, uint64_t now_us)
{
    if (!ep || !s || !s->used || !rtp) return -HC_EINVAL;
    hc_rtp_hdr_t in;
    int rc = hc_rtp_parse(rtp, len, &in);
    if (rc < 0) return rc;
    hc_rtp_hdr_t h = in;
    h.ssrc = s->cfg.ssrc;
    return send_built(ep, s, &h, in.payload, in.payload_len, opts, &in, now_us);
}

/* A padding-only packet (RFC 3550 section 5.1: P set, no payload, the
 * last padding octet holds the count) on s's RTX SSRC, of about `bytes`
 * on the wire (fixed: what UDP/IP and SRTP add). Returns the SRTP length
 * with *twcc the transport-wide number it took (-1 none). */
static int padding_only(hc_endpoint_t *ep, hc_ep_stream_t *s, size_t bytes, uint32_t fixed,
                        int32_t *twcc)
{
    *twcc = -1;
    uint8_t ext[16], v[4];
    size_t ext_len = 0;
    uint16_t profile = HC_RTPEXT_PROFILE_ONE_BYTE;
    int32_t t = -1;
    if (s->cfg.ext & HC_EP_EXT_TWCC) {
        hc_rtpext_builder_t b;
        hc_rtpext_builder_init(&b, ext, sizeof ext);
        int n = hc_rtpext_twcc_write(ep->twcc_seq, v, sizeof v);
        if (n > 0 && hc_rtpext_add(&b, HC_EXT_TWCC, v, (size_t)n) == 0 &&
            hc_rtpext_finish(&b, &profile, &ext_len) >= 0)
            t = ep->twcc_seq;
        else
            ext_len = 0;
    }
    hc_rtp_hdr_t h;
    memset(&h, 0, sizeof h);
    h.pt = s->cfg.rtx_pt;
    h.seq = s->rtx_seq;
    h.ts = s->last_ts;
    h.ssrc = s->cfg.rtx_ssrc;
    h.extension = ext_len > 0;
    h.ext_profile = profile;
    h.ext_data = ext;
    h.ext_len = ext_len;
    size_t hl = hc_rtp_header_size(&h);
    size_t pad = bytes > hl + fixed ? bytes - hl - fixed : 1;
    h.padding_len = pad > EP_PAD_MAX ? EP_PAD_MAX : pad;
    hc_pkt_t *p = tx_slot(ep);
    if (!p) return -HC_EFULL;
    int len = hc_rtp_write(&h, NULL, 0, p->data, EP_MAX_RTP);
    int n = len < 0 ? len : hc_srtp_protect(&ep->tx_srtp, p->data, (size_t)len, p->cap);
    if (n < 0) {
        hc_pool_put(&ep->pool, p);
        return n;
    }
    tx_queue(ep, p, (size_t)n);
    s->rtx_seq++;
    if (t >= 0) ep->twcc_seq++;
    *twcc = t;
    return n;
}

int hc_endpoint_send_padding(hc_endpoint_t *ep, hc_ep_stream_t *s, size_t bytes,
                             const hc_ep_send_opts_t *opts, uint64_t now_us)
{
    if (!ep || !s || !s->used || !s->cfg.rtx_ssrc) return -HC_EINVAL;
    /* UDP/IP and the SRTP tag (16 for AEAD_AES_128_GCM, 10 for the
     * HMAC-SHA1-80 suite: a few bytes under is fine for a probe). */
    uint32_t fixed = wire_of(ep, 0) + 16;
    int32_t twcc = -1;
    int n = -1;
    bool rtx = false;
    if (s->has_hist && s->sent_any) {
        /* The newest packets that fit, one after the other: the receiver
         * gets some redundancy out of the probe, and a packet that was
         * lost on the way is repaired before anyone asked. */
        uint16_t newest = (uint16_t)(s->next_seq - 1);
        if (newest != s->pad_newest) {
            s->pad_newest = newest;
            s->pad_back = 0;
        }
        for (unsigned k = 0; k < EP_PAD_SCAN && n < 0; k++) {
            unsigned back = (s->pad_back + k) % EP_PAD_SCAN;
            const uint8_t *orig;
            size_t olen, plen;
            uint32_t age_ms;
            if (hc_history_get(&s->hist, (uint16_t)(newest - back), now_us, &orig, &olen, &age_ms) <
                    0 ||
                age_ms > ep->cfg.rtx_max_age_ms || olen + 2 + fixed > bytes)
                continue;
            n = rtx_out(ep, s, orig, olen, &twcc, &plen);
            if (n == -HC_EFULL) return n;
            if (n > 0) {
                rtx = true;
                s->pad_back = (uint8_t)((back + 1) % EP_PAD_SCAN);
            }
        }
    }
    if (n < 0) n = padding_only(ep, s, bytes, fixed, &twcc);
    if (n < 0) return n;
    uint32_t wire = wire_of(ep, (size_t)n);
    if (rtx)
        s->st.padding_rtx++;
    else
        s->st.padding_only++;
    s->st.padding_bytes += wire;
    if (opts && opts->twcc_out) *opts->twcc_out = twcc;
    if (opts && opts->wire_out) *opts->wire_out = wire;
    return (int)wire;
}

/* ---- receiving ---- */

/* The track a received SSRC belongs to; *via says which of its streams. */
static hc_ep_track_t *track_by_ssrc(hc_endpoint_t *ep, uint32_t ssrc, int *via)
{
    for (uint32_t i = 0; i < ep->cfg.max_tracks; i++) {
        hc_ep_track_t *t = &ep->tracks[i];
        if (!t->used) continue;
        if (t->cfg.ssrc == ssrc) {
            *via = VIA_MEDIA;
            return t;
        }
        if (t->cfg.rtx_ssrc && t->cfg.rtx_ssrc == ssrc) {
            *via = VIA_RTX;
            return t;
        }
        if (t->cfg.fec_ssrc && t->cfg.fec_ssrc == ssrc) {
            *via = VIA_FEC;
            return t;
        }
    }
    return NULL;
}

static hc_ep_stream_t *stream_by_ssrc(hc_endpoint_t *ep, uint32_t ssrc)
{
    for (uint32_t i = 0; i < ep->cfg.max_streams; i++)
        if (ep->streams[i].used && ep->streams[i].cfg.ssrc == ssrc) return &ep->streams[i];
    return NULL;
}

/* Any SSRC a stream of ours sends on (media, RTX, FEC). */
static bool stream_ssrc_taken(hc_endpoint_t *ep, uint32_t ssrc)
{
    for (uint32_t i = 0; i < ep->cfg.max_streams; i++) {
        const hc_ep_stream_t *s = &ep->streams[i];
        if (s->used && (s->cfg.ssrc == ssrc || (s->cfg.rtx_ssrc && s->cfg.rtx_ssrc == ssrc) ||
                        (s->cfg.fec_ssrc && s->cfg.fec_ssrc == ssrc)))
            return true;
    }
    return false;
}

static void deliver(hc_endpoint_t *ep, hc_ep_track_t *t, rx_slot_t *sl, const uint8_t *payload)
{
    hc_ep_rx_t rx;
    rx.ssrc = t->cfg.ssrc;
    rx.seq = (uint16_t)sl->ext;
    rx.ts = sl->ts;
    rx.pt = sl->pt;
    rx.marker = sl->marker;
    rx.payload = payload;
    rx.len = sl->len;
    rx.capture_wall_us = sl->capture;
    rx.rx_us = sl->rx_us;
    rx.rx_wall_us = sl->rx_wall;
    rx.recovered = sl->recovered;
    rx.rtx = sl->rtx;
    rx.has_audio_level = sl->has_al;
    rx.voice = sl->voice;
    rx.audio_level = sl->level;
    rx.skipped = t->skipped;
    rx.fec = sl->fec;
    t->skipped = 0;
    t->st.delivered++;
    if (ep->cfg.ev.rtp) ep->cfg.ev.rtp(ep->cfg.ev.ud, t, &rx);
}

/* Give up on a missing packet: it counts as lost after repair. */
static void give_up(hc_ep_track_t *t, rx_slot_t *sl)
{
    if (sl->state == RX_MISSING) {
        t->nmissing--;
        t->st.lost++;
    }
    sl->state = RX_LOST;
}

/* In-order release: deliver what is there from next_out on; a hole is
 * skipped once it waited reorder_ms, or at once when `upto` says the window
 * needs the slot (everything below upto goes). */
static void drain(hc_endpoint_t *ep, hc_ep_track_t *t, uint64_t now_us, int64_t upto)
{
    uint64_t wait = (uint64_t)t->cfg.reorder_ms * 1000u;
    while (t->next_out <= t->highest) {
        rx_slot_t *sl = &t->ring[t->next_out & t->mask];
        if (sl->ext != t->next_out) {
            t->skipped++;
        } else if (sl->state == RX_HAVE) {
            sl->state = RX_DONE;
            deliver(ep, t, sl, sl->data);
        } else if (sl->state == RX_MISSING) {
            if (t->next_out >= upto && now_us < sl->missing_since + wait) break;
            give_up(t, sl);
            t->skipped++;
        } else if (sl->state == RX_LOST) {
            t->skipped++;
        }
        t->next_out++;
    }
}

/* Clear a slot before it takes a new sequence number. */
static void evict(hc_ep_track_t *t, rx_slot_t *sl)
{
    if (sl->state == RX_MISSING) give_up(t, sl);
    sl->state = RX_EMPTY;
}

static void track_reset_window(hc_endpoint_t *ep, hc_ep_track_t *t, uint64_t now_us)
{
    if (t->cfg.reorder_ms) drain(ep, t, now_us, t->highest + 1);
    for (uint32_t i = 0; i <= t->mask; i++) {
        evict(t, &t->ring[i]);
        t->ring[i].ext = -1;
    }
    t->nmissing = 0;
}

static void rx_rtp(hc_endpoint_t *ep, hc_ep_track_t *t, int via, const hc_rtp_hdr_t *h,
                   uint64_t now_us)
{
    bool is_rtx = via == VIA_RTX;
    const uint8_t *payload = h->payload;
    size_t plen = h->payload_len;
    uint16_t seq = h->seq;
    if (is_rtx) {
        if (plen < 2) return; /* RTX padding probe: nothing to deliver */
        seq = hc_rd16(payload);
        payload += 2;
        plen -= 2;
    }
    int64_t ext = hc_seq_unwrap(&t->unwrap, seq);
    /* RFC 4588 section 8 (and RFC 3550 section 6.4.1): reports describe
     * the stream before repair, so retransmissions and rebuilt packets stay
     * out of loss and jitter; the relay sizes its FEC toward us from them. */
    if (via == VIA_MEDIA) (void)hc_rxstats_update(&t->rxs, seq, h->ts, now_us);
    /* While the relay's repair packets arrive, a new gap first waits a
     * little for the repair packet of its group before it is NACKed. */
    uint64_t first_nack = now_us;
    if (t->fec_seen && now_us - t->fec_seen_us < EP_FEC_ACTIVE)
        first_nack += (uint64_t)ep->cfg.fec_nack_hold_ms * 1000u;

    rx_slot_t *sl;
    if (!t->started) {
        t->started = true;
        t->first = t->highest = t->next_out = ext;
        sl = &t->ring[ext & t->mask];
        evict(t, sl);
    } else if (ext > t->highest) {
        int64_t gap = ext - t->highest - 1;
        if (gap > (int64_t)t->mask / 2) {
            /* A jump no window covers (sender restart, long outage): the
             * gap is lost, and the window starts again at ext. */
            track_reset_window(ep, t, now_us);
            t->st.missing += (uint64_t)gap;
            t->st.lost += (uint64_t)gap;
            t->skipped += (uint32_t)gap;
            t->next_out = ext;
        } else {
            if (t->cfg.reorder_ms) drain(ep, t, now_us, ext - (int64_t)t->mask);
            for (int64_t e = t->highest + 1; e < ext; e++) {
                rx_slot_t *m = &t->ring[e & t->mask];
                evict(t, m);
                m->ext = e;
                m->state = RX_MISSING;
                m->retries = 0;
                m->missing_since = now_us;
                m->next_nack = first_nack;
                t->nmissing++;
                t->st.missing++;
            }
        }
        t->highest = ext;
        sl = &t->ring[ext & t->mask];
        evict(t, sl);
        if (via == VIA_FEC) {
            /* Rebuilt before anything after it arrived: it was missing all
             * the same (lost, or behind its own repair packet). */
            t->st.missing++;
            t->st.recovered++;
            t->st.fec_recovered++;
            sl->recovered = true;
            sl->rtx = false;
            sl->fec = true;
            goto fill;
        }
    } else if (ext <= t->highest - (int64_t)t->mask || ext < t->first) {
        t->st.too_old++;
        return;
    } else {
        sl = &t->ring[ext & t->mask];
        if (sl->ext != ext) {
            t->st.too_old++;
            return;
        }
        if (sl->state == RX_HAVE || sl->state == RX_DONE) {
            /* FEC rebuilds what came by RTX too (RTX copies stay out of the
             * decoder): not a duplicate on the wire. */
            if (via != VIA_FEC) t->st.duplicates++;
            return;
        }
        if (sl->state == RX_LOST && t->cfg.reorder_ms && ext < t->next_out) {
            t->st.late++; /* its turn has passed */
            return;
        }
        if (sl->state == RX_MISSING) {
            t->nmissing--;
            if (is_rtx && sl->retries == 1) rtt_sample(ep, now_us - sl->last_nack);
        } else {
            t->st.lost--; /* given up, yet here it is */
        }
        t->st.recovered++;
        if (is_rtx) t->st.rtx++;
        if (via == VIA_FEC) t->st.fec_recovered++;
        sl->recovered = true;
        sl->rtx = is_rtx;
        sl->fec = via == VIA_FEC;
        goto fill;
    }
    sl->recovered = false;
    sl->rtx = is_rtx;
    sl->fec = false;
fill:
    sl->ext = ext;
    sl->pt = h->pt;
    sl->marker = h->marker;
    sl->ts = h->ts;
    sl->len = (uint16_t)plen;
    sl->rx_us = now_us;
    sl->rx_wall = hc_wall_us();
    sl->capture = 0;
    sl->has_al = false;
    const uint8_t *d;
    size_t dl;
    hc_rtpext_capture_time_t ct;
    if (hc_rtpext_find(h, HC_EXT_CAPTURE_TIME, &d, &dl) == 1 &&
        hc_rtpext_capture_time_parse(d, dl, &ct) > 0)
        sl->capture = hc_rtpext_ntp_to_unix_us(ct.ntp);
    if (hc_rtpext_find(h, HC_EXT_AUDIO_LEVEL, &d, &dl) == 1 &&
        hc_rtpext_audio_level_parse(d, dl, &sl->voice, &sl->level) > 0)
        sl->has_al = true;
    t->st.packets++;
    t->st.bytes += plen;
    if (t->cfg.reorder_ms) {
        memcpy(sl->data, payload, plen);
        sl->state = RX_HAVE;
        drain(ep, t, now_us, t->next_out);
    } else {
        sl->state = RX_DONE;
        deliver(ep, t, sl, payload);
    }
}

/* Rebuild what the held repair packets allow (RFC 8627 section 6.3.2) and
 * take it like a late original: delivered as recovered, its NACK off. */
static void fec_recover(hc_endpoint_t *ep, hc_ep_track_t *t, uint64_t now_us)
{
    uint8_t out[HC_FEC_MAX_PKT];
    int n;
    while ((n = hc_fec_dec_recover(&t->dec, out, sizeof out)) > 0) {
        hc_rtp_hdr_t h;
        if (hc_rtp_parse(out, (size_t)n, &h) < 0) {
            t->fec_bad++;
            continue;
        }
        rx_rtp(ep, t, VIA_FEC, &h, now_us);
    }
}

/* A repair packet for track t (plain, parsed as RTP into h). */
static void rx_fec(hc_endpoint_t *ep, hc_ep_track_t *t, const uint8_t *pkt, size_t len,
                   const hc_rtp_hdr_t *h, uint64_t now_us)
{
    hc_fec_hdr_t fh;
    if (hc_fec_parse(h->payload, h->payload_len, &fh) < 0 ||
        hc_fec_dec_add_fec(&t->dec, pkt, len) < 0) {
        t->fec_bad++;
        return;
    }
    t->st.fec_rx++;
    t->fec_seen = true;
    t->fec_seen_us = now_us;
    fec_recover(ep, t, now_us);
    if (!t->started) return;
    /* What this repair packet covers and still could not rebuild (two or
     * more of its group missing) need not wait any longer for the NACK. */
    for (unsigned i = 0; i < fh.mask_bits; i++) {
        if (!hc_fec_mask_get(&fh, i)) continue;
        uint16_t seq = (uint16_t)(fh.sn_base + i);
        int64_t e = t->highest - (int16_t)((uint16_t)t->highest - seq);
        if (e > t->highest || e < t->first || e <= t->highest - (int64_t)t->mask) continue;
        rx_slot_t *sl = &t->ring[e & t->mask];
        if (sl->ext == e && sl->state == RX_MISSING && sl->retries == 0 && sl->next_nack > now_us)
            sl->next_nack = now_us;
    }
}

static void handle_rb(hc_endpoint_t *ep, const hc_rtcp_rb_t *rb, uint64_t wall_ntp)
{
    hc_ep_stream_t *s = stream_by_ssrc(ep, rb->ssrc);
    if (!s) return;
    s->st.loss = rb->fraction_lost / 256.0;
    s->st.jitter_ms = s->cfg.clock_rate ? rb->jitter * 1000.0 / s->cfg.clock_rate : 0;
    if (rb->lsr) {
        /* RFC 3550 section 6.4.1: RTT = A - LSR - DLSR in 1/65536 s. */
        uint32_t rtt = ntp_mid(wall_ntp) - rb->lsr - rb->dlsr;
        if (rtt < (60u << 16)) {
            uint64_t us = ((uint64_t)rtt * 1000000u) >> 16;
            s->st.rtt_ms = us / 1000.0;
            rtt_sample(ep, us);
        }
    }
}

static void rx_rtcp(hc_endpoint_t *ep, const uint8_t *buf, size_t len, uint64_t now_us)
{
    if (hc_rtcp_validate_compound(buf, len) < 0) {
        ep->st.drop_malformed++;
        return;
    }
    ep->st.rtcp_rx++;
    uint64_t wall_ntp = hc_rtpext_ntp_from_unix_us(hc_wall_us());
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    hc_rtcp_iter_init(&it, buf, len);
    while (hc_rtcp_next(&it, &pkt) == 1) {
        switch (pkt.kind) {
        case HC_RTCP_KIND_SR: {
            int via;
            hc_ep_track_t *t = track_by_ssrc(ep, pkt.u.report.ssrc, &via);
            if (t && via == VIA_MEDIA) {
                t->have_sr = true;
                t->lsr = ntp_mid(pkt.u.report.info.ntp);
                t->sr_rx_us = now_us;
                t->st.srs_rx++;
            }
        } /* fall through: an SR carries report blocks too */
        /* fall through */
        case HC_RTCP_KIND_RR:
            for (size_t i = 0; i < pkt.u.report.rb_count; i++) {
                hc_rtcp_rb_t rb;
                if (hc_rtcp_report_block(&pkt, i, &rb) == 0) handle_rb(ep, &rb, wall_ntp);
            }
            break;
        case HC_RTCP_KIND_NACK: {
            hc_ep_stream_t *s = stream_by_ssrc(ep, pkt.u.fb.media_ssrc);
            uint16_t lost[EP_MAX_LOST];
            int n = hc_rtcp_nack_lost(&pkt, lost, EP_MAX_LOST);
            if (n == -HC_ENOSPC) n = EP_MAX_LOST; /* serve the oldest ones */
            if (!s || n < 0) break;
            for (int i = 0; i < n; i++) answer_nack(ep, s, lost[i], now_us);
            break;
        }
        case HC_RTCP_KIND_PLI: {
            hc_ep_stream_t *s = stream_by_ssrc(ep, pkt.u.fb.media_ssrc);
            if (!s) break;
            s->st.plis_rx++;
            if (ep->cfg.ev.keyframe) ep->cfg.ev.keyframe(ep->cfg.ev.ud, s, false);
            break;
        }
        case HC_RTCP_KIND_FIR:
            for (size_t i = 0; i < pkt.u.fb.count; i++) {
                hc_rtcp_fir_t f;
                if (hc_rtcp_fir_entry(&pkt, i, &f) < 0) continue;
                hc_ep_stream_t *s = stream_by_ssrc(ep, f.ssrc);
                if (!s) continue;
                s->st.firs_rx++;
                if (ep->cfg.ev.keyframe) ep->cfg.ev.keyframe(ep->cfg.ev.ud, s, true);
            }
            break;
        default: break;
        }
    }
    if (ep->cfg.ev.rtcp) ep->cfg.ev.rtcp(ep->cfg.ev.ud, buf, len);
}

static uint64_t twcc_period(const hc_endpoint_t *ep)
{
    return (uint64_t)(ep->cfg.twcc_fb_ms ? ep->cfg.twcc_fb_ms : EP_TWCC_MS) * 1000u;
}

/* Transport-wide feedback for what arrived since the last one (up to 8
 * packets when a burst filled more than one). Returns microseconds until
 * the next one is due, UINT64_MAX when nothing is pending. */
static uint64_t twcc_feedback(hc_endpoint_t *ep, uint64_t now_us)
{
    if (!ep->tw_next_us) return UINT64_MAX;
    if (now_us < ep->tw_next_us) return ep->tw_next_us - now_us;
    uint8_t buf[EP_RTCP_CAP];
    for (int i = 0; i < 8 && hc_twccfb_pending(&ep->twfb); i++) {
        int n =
            hc_twccfb_build(&ep->twfb, buf, sizeof buf, ep->cfg.rtcp_ssrc, ep->tw_media_ssrc, NULL);
        if (n <= 0) break;
        if (send_rtcp(ep, buf, (size_t)n) == 0) ep->st.twcc_fbs++;
    }
    ep->tw_next_us = 0;
    return UINT64_MAX;
}

/* A datagram libsrtp refused, counted by cause. */
static void count_unprotect_error(hc_endpoint_t *ep, int rc)
{
    if (rc == -HC_EREPLAY)
        ep->st.drop_replay++;
    else if (rc == -HC_EAUTH)
        ep->st.drop_auth++;
    else
        ep->st.drop_malformed++;
}

/* One datagram in a pool buffer (4-byte aligned, as libsrtp wants). */
static void handle(hc_endpoint_t *ep, hc_pkt_t *p, uint64_t now_us)
{
    ep->st.rx_datagrams++;
    ep->st.rx_bytes += p->len;
    if (p->len < 12 || (p->data[0] >> 6) != 2) {
        ep->st.drop_malformed++;
        return;
    }
    if (hc_rtcp_is_rtcp(p->data, p->len)) {
        int n = hc_srtp_unprotect_rtcp(&ep->rx_srtp, p->data, p->len);
        if (n < 0) {
            count_unprotect_error(ep, n);
            return;
        }
        rx_rtcp(ep, p->data, (size_t)n, now_us);
        return;
    }
    /* Look the SSRC up before paying for decryption: unknown streams
     * cost a compare loop and nothing else. */
    uint32_t ssrc = hc_rd32(p->data + 8);
    int via = VIA_MEDIA;
    hc_ep_track_t *t = track_by_ssrc(ep, ssrc, &via);
    if (!t) {
        ep->st.drop_unknown++;
        return;
    }
    int n = hc_srtp_unprotect(&ep->rx_srtp, p->data, p->len);
    if (n < 0) {
        count_unprotect_error(ep, n);
        return;
    }
    hc_rtp_hdr_t h;
    if (hc_rtp_parse(p->data, (size_t)n, &h) < 0) {
        ep->st.drop_malformed++;
        return;
    }
    if (ep->twarr && h.extension) {
        /* Every packet that crossed the downlink counts for the relay's
         * estimate, whatever happens to it next. */
        const uint8_t *tw;
        size_t twl;
        if (hc_rtpext_find(&h, HC_EXT_TWCC, &tw, &twl) == 1 && twl == 2) {
            hc_twccfb_record(&ep->twfb, hc_rd16(tw), now_us);
            ep->tw_media_ssrc = t->cfg.ssrc;
            ep->st.twcc_rx++;
            if (!ep->tw_next_us) ep->tw_next_us = now_us + twcc_period(ep);
        }
    }
    if (via == VIA_FEC) {
        rx_fec(ep, t, p->data, (size_t)n, &h, now_us);
        return;
    }
    /* The decoder keeps originals only: an RTX copy may differ from what
     * the parity covers (padding dropped, transport-wide number renewed). */
    if (via == VIA_MEDIA && t->has_fec) (void)hc_fec_dec_add_source(&t->dec, p->data, (size_t)n);
    rx_rtp(ep, t, via, &h, now_us);
    if (t->has_fec && t->nmissing) fec_recover(ep, t, now_us);
}

/* NACKs due now for every track, give-ups, PLIs; then in-order release. */
static uint64_t feedback(hc_endpoint_t *ep, uint64_t now_us)
{
    uint64_t next = UINT64_MAX;
    uint64_t rtt = ep->rtt_measured ? ep->srtt_us : (uint64_t)ep->cfg.rtt_init_ms * 1000u;
    uint64_t retry = rtt + rtt / 4 + 5000;
    if (retry < 10000) retry = 10000;
    uint64_t max_age = (uint64_t)ep->cfg.nack_max_age_ms * 1000u;
    uint8_t buf[EP_RTCP_CAP];
    size_t off = 0;
    for (uint32_t i = 0; i < ep->cfg.max_tracks; i++) {
        hc_ep_track_t *t = &ep->tracks[i];
        if (!t->used) continue;
        if (!t->started) continue;
        uint16_t lost[EP_MAX_NACK];
        size_t nl = 0;
        if (t->nmissing) {
            int64_t lo = t->highest - (int64_t)t->mask;
            if (lo < t->first) lo = t->first;
            for (int64_t e = lo; e <= t->highest && t->nmissing; e++) {
                rx_slot_t *sl = &t->ring[e & t->mask];
                if (sl->ext != e || sl->state != RX_MISSING) continue;
                if (t->cfg.nack_by_caller) {
                    /* The caller NACKs; the gap only waits to be given up. */
                    if (now_us - sl->missing_since >= max_age) {
                        give_up(t, sl);
                        continue;
                    }
                    uint64_t d = sl->missing_since + max_age - now_us;
                    if (d < next) next = d;
                    continue;
                }
                bool exhausted = !t->cfg.nack || sl->retries >= ep->cfg.nack_max_retries;
                if (now_us - sl->missing_since >= max_age ||
                    (exhausted && now_us >= sl->next_nack)) {
                    give_up(t, sl);
                    continue;
                }
                if (!exhausted && now_us >= sl->next_nack && nl < EP_MAX_NACK) {
                    lost[nl++] = (uint16_t)e;
                    sl->retries++;
                    sl->last_nack = now_us;
                    sl->next_nack = now_us + retry;
                }
                uint64_t d = sl->next_nack > now_us ? sl->next_nack - now_us : 0;
                if (d < next) next = d;
            }
        }
        if (nl) {
            if (off + 16 + 4 * nl > sizeof buf) {
                (void)send_rtcp(ep, buf, off);
                off = 0;
            }
            if (hc_rtcp_append(&off,
                               hc_rtcp_write_nack(buf + off, sizeof buf - off, ep->cfg.rtcp_ssrc,
                                                  t->cfg.ssrc, lost, nl)) == 0)
                t->st.nacks_sent += nl;
        }
        if (t->cfg.reorder_ms && t->next_out <= t->highest) {
            drain(ep, t, now_us, t->next_out);
            if (t->next_out <= t->highest) {
                rx_slot_t *sl = &t->ring[t->next_out & t->mask];
                uint64_t due = sl->missing_since + (uint64_t)t->cfg.reorder_ms * 1000u;
                uint64_t d = due > now_us ? due - now_us : 0;
                if (d < next) next = d;
            }
        }
    }
    if (off) (void)send_rtcp(ep, buf, off);
    uint64_t tw = twcc_feedback(ep, now_us);
    if (tw < next) next = tw;
    return next;
}

int hc_endpoint_recv(hc_endpoint_t *ep, uint64_t now_us)
{
    hc_pkt_t *pk[HC_UDP_BATCH];
    int total = 0;
    for (;;) {
        int n = hc_udp_recv_batch(ep->fd, &ep->rx, &ep->pool, pk, HC_UDP_BATCH, now_us);
        if (n < 0) {
            hc_endpoint_flush(ep);
            return total ? total : n;
        }
        for (int i = 0; i < n; i++) {
            handle(ep, pk[i], now_us);
            hc_pool_put(&ep->pool, pk[i]);
        }
        total += n;
        if (n < HC_UDP_BATCH) break;
    }
    if (total) (void)feedback(ep, now_us);
    hc_endpoint_flush(ep);
    return total;
}

void hc_endpoint_input(hc_endpoint_t *ep, const uint8_t *buf, size_t len, const hc_addr_t *from,
                       uint64_t now_us)
{
    if (!ep || (!buf && len)) return;
    if (len > HC_PKT_CAP) {
        ep->st.drop_malformed++;
        return;
    }
    hc_pkt_t *p = hc_pool_get(&ep->pool);
    if (!p) {
        ep->st.drop_nobuf++;
        return;
    }
    if (len) memcpy(p->data, buf, len);
    p->len = (uint32_t)len;
    p->rx_us = now_us;
    if (from) p->peer = *from;
    handle(ep, p, now_us);
    hc_pool_put(&ep->pool, p);
    (void)feedback(ep, now_us);
}

uint64_t hc_endpoint_poll(hc_endpoint_t *ep, uint64_t now_us)
{
    uint64_t next = feedback(ep, now_us);
    if (ep->started) {
        if (now_us >= ep->next_report_us) {
            send_reports(ep, now_us);
            uint32_t iv = ep->cfg.report_ms;
            if (ep->cfg.keepalive_ms && ep->cfg.keepalive_ms < iv) iv = ep->cfg.keepalive_ms;
            ep->next_report_us = now_us + (uint64_t)iv * 1000u;
        }
        uint64_t d = ep->next_report_us - now_us;
        if (d < next) next = d;
    }
    hc_endpoint_flush(ep);
    return next == UINT64_MAX ? 1000000u : next;
}

void hc_endpoint_request_keyframe(hc_endpoint_t *ep, hc_ep_track_t *t, uint64_t now_us)
{
    if (!ep || !t || !t->used) return;
    if (t->pli_sent_once && now_us - t->last_pli_us < (uint64_t)ep->cfg.pli_min_ms * 1000u) return;
    /* Written and queued right here rather than through feedback(): this is
     * often called from inside the rtp callback, in the middle of an
     * in-order release that feedback() would re-enter. */
    uint8_t buf[16];
    int n = hc_rtcp_write_pli(buf, sizeof buf, ep->cfg.rtcp_ssrc, t->cfg.ssrc);
    if (n < 0 || send_rtcp(ep, buf, (size_t)n) < 0) return;
    t->st.plis_sent++;
    t->last_pli_us = now_us;
    t->pli_sent_once = true;
}

int hc_endpoint_send_nack(hc_endpoint_t *ep, hc_ep_track_t *t, const uint16_t *seqs, size_t n,
                          uint64_t now_us)
{
    if (!ep || !t || !t->used || !seqs || !n) return -HC_EINVAL;
    /* Written and queued here, like a PLI: the caller may be inside the
     * rtp callback, in the middle of an in-order release. */
    uint8_t buf[EP_RTCP_CAP];
    for (size_t off = 0; off < n; off += EP_MAX_NACK) {
        size_t k = n - off < EP_MAX_NACK ? n - off : EP_MAX_NACK;
        int w = hc_rtcp_write_nack(buf, sizeof buf, ep->cfg.rtcp_ssrc, t->cfg.ssrc, seqs + off, k);
        if (w < 0) return w;
        int rc = send_rtcp(ep, buf, (size_t)w);
        if (rc < 0) return rc;
    }
    t->st.nacks_sent += n;
    if (!t->started) return 0;
    /* Karn's rule needs to know which request an RTX answers: the first
     * one of a packet times the RTT (rx_rtp). */
    for (size_t i = 0; i < n; i++) {
        int64_t e = t->highest - (int16_t)((uint16_t)t->highest - seqs[i]);
        if (e > t->highest || e < t->first || e <= t->highest - (int64_t)t->mask) continue;
        rx_slot_t *sl = &t->ring[e & t->mask];
        if (sl->ext != e || sl->state != RX_MISSING) continue;
        if (sl->retries < UINT8_MAX) sl->retries++;
        sl->last_nack = now_us;
    }
    return 0;
}

void hc_endpoint_set_rtx_rate(hc_endpoint_t *ep, uint32_t bps)
{
    if (!ep) return;
    if (bps && !ep->rtx_bps) ep->rtx_tok_us = 0; /* the first retransmission finds it full */
    ep->rtx_bps = bps;
}

void hc_endpoint_set_rtt(hc_endpoint_t *ep, uint32_t rtt_us)
{
    if (ep) rtt_sample(ep, rtt_us);
}

/* ---- life cycle ---- */

static int open_socket(hc_endpoint_t *ep, int *fd)
{
    hc_addr_t b = ep->cfg.bind;
    if (!b.len) {
        memset(&b, 0, sizeof b);
        if (hc_addr_family(&ep->cfg.remote) == AF_INET6) {
            b.u.in6.sin6_family = AF_INET6;
            b.len = sizeof b.u.in6;
        } else {
            b.u.in4.sin_family = AF_INET;
            b.len = sizeof b.u.in4;
        }
    }
    hc_addr_set_port(&b, 0);
    return hc_udp_open(&b, 0, fd);
}

int hc_endpoint_new(hc_endpoint_t **out, const hc_endpoint_cfg_t *cfg)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    size_t keylen = hc_srtp_key_len(cfg->suite);
    if (!keylen || !cfg->remote.len || !cfg->max_streams || !cfg->max_tracks ||
        cfg->pool_packets < HC_UDP_BATCH + HC_UDP_TX_BATCH + 8)
        return -HC_EINVAL;
    hc_endpoint_t *ep = calloc(1, sizeof *ep);
    if (!ep) return -HC_ENOMEM;
    ep->cfg = *cfg;
    ep->keylen = keylen;
    ep->fd = -1;
    ep->srtt_us = (uint64_t)cfg->rtt_init_ms * 1000u;
    int rc = -HC_ENOMEM;
    ep->streams = calloc(cfg->max_streams, sizeof *ep->streams);
    ep->tracks = calloc(cfg->max_tracks, sizeof *ep->tracks);
    if (!ep->streams || !ep->tracks) goto fail;
    if ((rc = hc_pool_init(&ep->pool, cfg->pool_packets)) < 0) goto fail;
    hc_udp_rx_init(&ep->rx);
    hc_udp_tx_init(&ep->tx);
    if ((rc = hc_srtp_init(&ep->tx_srtp, cfg->suite, cfg->key_up, keylen, HC_SRTP_SEND)) < 0)
        goto fail;
    if ((rc = hc_srtp_init(&ep->rx_srtp, cfg->suite, cfg->key_down, keylen, HC_SRTP_RECV)) < 0)
        goto fail;
    if ((rc = open_socket(ep, &ep->fd)) < 0) goto fail;
    if (!cfg->twcc_fb_off) {
        ep->twarr = calloc(EP_TWCC_WIN, sizeof *ep->twarr);
        if (!ep->twarr) {
            rc = -HC_ENOMEM;
            goto fail;
        }
        hc_twccfb_init(&ep->twfb, ep->twarr, EP_TWCC_WIN);
    }
    *out = ep;
    return 0;
fail:
    hc_endpoint_destroy(&ep);
    return rc;
}

static void stream_free(hc_ep_stream_t *s)
{
    hc_history_fini(&s->hist);
    free(s->fec);
    memset(s, 0, sizeof *s);
}

static void track_free(hc_ep_track_t *t)
{
    free(t->ring);
    free(t->slab);
    free(t->fec_src);
    free(t->fec_fec);
    memset(t, 0, sizeof *t);
}

void hc_endpoint_destroy(hc_endpoint_t **pep)
{
    if (!pep || !*pep) return;
    hc_endpoint_t *ep = *pep;
    hc_endpoint_detach(ep);
    if (ep->fd >= 0) {
        hc_endpoint_flush(ep);
        close(ep->fd);
    }
    for (uint32_t i = 0; ep->streams && i < ep->cfg.max_streams; i++) stream_free(&ep->streams[i]);
    for (uint32_t i = 0; ep->tracks && i < ep->cfg.max_tracks; i++) track_free(&ep->tracks[i]);
    free(ep->streams);
    free(ep->tracks);
    free(ep->twarr);
    hc_srtp_fini(&ep->tx_srtp);
    hc_srtp_fini(&ep->rx_srtp);
    if (ep->pool.block) {
        hc_udp_rx_fini(&ep->rx, &ep->pool);
        hc_pool_fini(&ep->pool);
    }
    free(ep);
    *pep = NULL;
}

void hc_endpoint_start(hc_endpoint_t *ep, uint64_t now_us)
{
    ep->started = true;
    ep->next_report_us = now_us;
    (void)hc_endpoint_poll(ep, now_us);
}

int hc_endpoint_fd(const hc_endpoint_t *ep)
{
    return ep->fd;
}

int hc_endpoint_local(const hc_endpoint_t *ep, hc_addr_t *out)
{
    return hc_udp_local(ep->fd, out);
}

static void on_readable(hc_loop_t *loop, hc_watch_t *w, uint32_t events)
{
    (void)events;
    hc_endpoint_t *ep = w->ud;
    (void)hc_endpoint_recv(ep, hc_loop_now_us(loop));
}

static void on_timer(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_endpoint_t *ep = ud;
    uint64_t now = hc_loop_now_us(loop);
    uint64_t d = hc_endpoint_poll(ep, now);
    hc_timer_start(loop, t, now + (d ? d : 1000), on_timer, ep);
}

static void on_hook(hc_loop_t *loop, void *ud)
{
    (void)loop;
    hc_endpoint_flush(ud);
}

int hc_endpoint_rebind(hc_endpoint_t *ep, uint64_t now_us)
{
    int fd;
    int rc = open_socket(ep, &fd);
    if (rc < 0) return rc;
    hc_endpoint_flush(ep);
    hc_loop_t *loop = ep->loop;
    if (loop) hc_loop_unwatch(&ep->watch);
    hc_udp_rx_fini(&ep->rx, &ep->pool);
    hc_udp_rx_init(&ep->rx);
    close(ep->fd);
    ep->fd = fd;
    if (loop) (void)hc_loop_watch(loop, &ep->watch, fd, HC_EV_IN, on_readable, ep);
    ep->st.rebinds++;
    if (ep->started) {
        ep->next_report_us = now_us;
        (void)hc_endpoint_poll(ep, now_us);
    }
    return 0;
}

void hc_endpoint_set_remote(hc_endpoint_t *ep, const hc_addr_t *remote)
{
    if (ep && remote && remote->len) {
        hc_endpoint_flush(ep);
        ep->cfg.remote = *remote;
    }
}

int hc_endpoint_attach(hc_endpoint_t *ep, hc_loop_t *loop)
{
    if (!ep || !loop || ep->loop) return -HC_EINVAL;
    int rc = hc_loop_watch(loop, &ep->watch, ep->fd, HC_EV_IN, on_readable, ep);
    if (rc < 0) return rc;
    ep->loop = loop;
    hc_loop_hook_add(loop, &ep->hook, on_hook, ep);
    hc_timer_start(loop, &ep->timer, hc_loop_now_us(loop), on_timer, ep);
    return 0;
}

void hc_endpoint_detach(hc_endpoint_t *ep)
{
    if (!ep || !ep->loop) return;
    hc_loop_unwatch(&ep->watch);
    hc_timer_stop(&ep->timer);
    hc_loop_hook_remove(&ep->hook);
    ep->loop = NULL;
}

/* ---- tables ---- */

static bool pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

int hc_endpoint_stream_add(hc_endpoint_t *ep, const hc_ep_stream_cfg_t *cfg, hc_ep_stream_t **out)
{
    if (!ep || !cfg || !out || !cfg->ssrc || !cfg->clock_rate || cfg->pt > 127 ||
        cfg->rtx_pt > 127 || cfg->fec_pt > 127 || (cfg->history && !pow2(cfg->history)) ||
        (cfg->fec_ssrc && (cfg->fec_ssrc == cfg->ssrc || cfg->fec_ssrc == cfg->rtx_ssrc)))
        return -HC_EINVAL;
    if (stream_ssrc_taken(ep, cfg->ssrc) ||
        (cfg->rtx_ssrc && stream_ssrc_taken(ep, cfg->rtx_ssrc)) ||
        (cfg->fec_ssrc && stream_ssrc_taken(ep, cfg->fec_ssrc)))
        return -HC_EEXIST;
    hc_ep_stream_t *s = NULL;
    for (uint32_t i = 0; i < ep->cfg.max_streams && !s; i++)
        if (!ep->streams[i].used) s = &ep->streams[i];
    if (!s) return -HC_EFULL;
    memset(s, 0, sizeof *s);
    if (cfg->history) {
        /* relay/core/history.h: an index of `history` slots over a byte
         * ring sized for that many full video packets; small (audio)
         * packets use only what they need of it */
        int rc = hc_history_init(&s->hist, cfg->history, cfg->history * EP_HIST_AVG);
        if (rc < 0) {
            stream_free(s);
            return rc;
        }
        s->has_hist = true;
    }
    if (cfg->fec_ssrc) {
        /* ~1.5 KB, only for streams that may send FEC; off until
         * hc_endpoint_stream_fec() gives it a group size */
        s->fec = malloc(sizeof *s->fec);
        if (!s->fec) {
            stream_free(s);
            return -HC_ENOMEM;
        }
    }
    s->cfg = *cfg;
    s->next_seq = cfg->first_seq;
    s->rtx_seq = (uint16_t)(cfg->first_seq ^ 0x5a5a);
    s->fec_seq = (uint16_t)(cfg->first_seq ^ 0xa5a5);
    s->used = true;
    *out = s;
    return 0;
}

void hc_endpoint_stream_remove(hc_endpoint_t *ep, hc_ep_stream_t *s)
{
    (void)ep;
    if (s) stream_free(s);
}

void *hc_ep_stream_owner(const hc_ep_stream_t *s)
{
    return s->cfg.owner;
}

uint32_t hc_ep_stream_ssrc(const hc_ep_stream_t *s)
{
    return s->cfg.ssrc;
}

int hc_endpoint_track_add(hc_endpoint_t *ep, const hc_ep_track_cfg_t *cfg, hc_ep_track_t **out)
{
    uint32_t fw = cfg ? (cfg->fec_window ? cfg->fec_window : EP_FEC_WINDOW) : 0;
    if (!ep || !cfg || !out || !cfg->clock_rate || !pow2(cfg->window) || cfg->window < 16 ||
        cfg->window > 32768 ||
        (cfg->fec_ssrc && (!pow2(fw) || fw < 16 || fw > 1024 || cfg->fec_ssrc == cfg->ssrc ||
                           cfg->fec_ssrc == cfg->rtx_ssrc)))
        return -HC_EINVAL;
    int via;
    if (track_by_ssrc(ep, cfg->ssrc, &via) ||
        (cfg->rtx_ssrc && track_by_ssrc(ep, cfg->rtx_ssrc, &via)) ||
        (cfg->fec_ssrc && track_by_ssrc(ep, cfg->fec_ssrc, &via)))
        return -HC_EEXIST;
    hc_ep_track_t *t = NULL;
    for (uint32_t i = 0; i < ep->cfg.max_tracks && !t; i++)
        if (!ep->tracks[i].used) t = &ep->tracks[i];
    if (!t) return -HC_EFULL;
    memset(t, 0, sizeof *t);
    t->ring = calloc(cfg->window, sizeof *t->ring);
    if (!t->ring) return -HC_ENOMEM;
    if (cfg->reorder_ms) {
        t->slab = malloc((size_t)cfg->window * EP_SLOT_CAP);
        if (!t->slab) {
            track_free(t);
            return -HC_ENOMEM;
        }
    }
    if (cfg->fec_ssrc) {
        /* Repair packets held: one per group the source window spans at
         * the smallest groups the repair policy picks (4), at least 4. */
        uint32_t nf = fw / 8 < 4 ? 4 : fw / 8;
        t->fec_src = malloc((size_t)fw * sizeof *t->fec_src);
        t->fec_fec = malloc((size_t)nf * sizeof *t->fec_fec);
        if (!t->fec_src || !t->fec_fec ||
            hc_fec_dec_init(&t->dec, cfg->ssrc, t->fec_src, fw, t->fec_fec, nf) < 0) {
            track_free(t);
            return -HC_ENOMEM;
        }
        t->has_fec = true;
    }
    for (uint32_t i = 0; i < cfg->window; i++) {
        t->ring[i].ext = -1;
        if (t->slab) t->ring[i].data = t->slab + (size_t)i * EP_SLOT_CAP;
    }
    t->mask = cfg->window - 1;
    t->cfg = *cfg;
    hc_rxstats_init(&t->rxs, cfg->clock_rate);
    hc_seq_unwrap_init(&t->unwrap);
    t->used = true;
    *out = t;
    return 0;
}

void hc_endpoint_track_remove(hc_endpoint_t *ep, hc_ep_track_t *t)
{
    (void)ep;
    if (t) track_free(t);
}

hc_ep_track_t *hc_endpoint_track_find(hc_endpoint_t *ep, uint32_t ssrc)
{
    int via;
    hc_ep_track_t *t = track_by_ssrc(ep, ssrc, &via);
    return t && via == VIA_MEDIA ? t : NULL;
}

void *hc_ep_track_owner(const hc_ep_track_t *t)
{
    return t->cfg.owner;
}

uint32_t hc_ep_track_ssrc(const hc_ep_track_t *t)
{
    return t->cfg.ssrc;
}

/* ---- statistics ---- */

void hc_endpoint_stats(const hc_endpoint_t *ep, hc_endpoint_stats_t *out)
{
    *out = ep->st;
    out->rtt_ms = (ep->rtt_measured ? ep->srtt_us : (uint64_t)ep->cfg.rtt_init_ms * 1000u) / 1000.0;
}

void hc_ep_stream_stats(const hc_ep_stream_t *s, hc_ep_stream_stats_t *out)
{
    *out = s->st;
    out->fec_group = s->fec_group;
}

void hc_ep_track_stats(const hc_ep_track_t *t, hc_ep_track_stats_t *out)
{
    *out = t->st;
    out->expected = t->started ? (uint64_t)(t->highest - t->first + 1) : 0;
    out->fec_dropped = t->fec_bad + (t->has_fec ? t->dec.fec_dropped : 0);
    hc_rxstats_report_t r;
    out->jitter_ms = 0;
    if (hc_rxstats_peek(&t->rxs, &r) == 0)
        out->jitter_ms = r.jitter * 1000.0 / (t->cfg.clock_rate ? t->cfg.clock_rate : 1);
}
