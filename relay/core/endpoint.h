/*
 * endpoint.h - the client end of one SRTP media leg toward a relay.
 *
 * What the relay's leg is on the server side (router.h), this is on the
 * client side: hc-probe, hc-bench, the integration tests and later hc-edge
 * each hold one endpoint per relay they talk to. It owns one UDP socket, an
 * SRTP send context (key_up: what the relay unprotects with) and a receive
 * context (key_down), and it speaks everything the relay expects of a
 * client on that leg:
 *
 *   publishing  streams the client sends (SSRCs assigned by the relay in
 *               `joined.streams`): RTP packets built from payload + marker +
 *               timestamp, or taken whole from the caller, with the header
 *               extensions asked for (abs-capture-time stamped from the wall
 *               clock, transport-wide sequence number, RFC 6464 audio
 *               level; IDs of rtpext.h); a send history per stream that
 *               answers the relay's generic NACKs (RFC 4585 section 6.2.1)
 *               with RFC 4588 retransmissions on the stream's RTX SSRC (the
 *               SRTP sender refuses to protect a sequence number twice, and
 *               RFC 4588 section 4 gives the retransmission its own
 *               sequence space); PLI/FIR (RFC 4585 section 6.3.1, RFC 5104
 *               section 4.3.1) are not answered here but reported to the
 *               caller, whose encoder makes the keyframe; an SR per
 *               stream every report interval (RFC 3550 section 6.4.1), and
 *               the round-trip time from the relay's report blocks.
 *   receiving   tracks the relay sends (`joined.receive`, `tracks`): SRTP
 *               unprotect, RFC 3550 receiver statistics per SSRC
 *               (rxstats.h), an RR every report interval with LSR/DLSR from
 *               the relay's SRs, generic NACK for sequence gaps (retried
 *               once per RTT, a bounded number of times), RFC 4588 RTX
 *               unwrapping (the OSN of section 4 restores the original
 *               sequence number), PLI when the caller asks, and per packet
 *               a callback with the payload, optionally released in
 *               sequence order after a bounded wait for repairs (a small
 *               reorder buffer, so a depacketizer can sit right on top).
 *   FEC         (added by the FEC work) FlexFEC (RFC 8627, proto/fec.h) is
 *               hop by hop: the relay rewrites SSRC, sequence numbers and
 *               timestamps per subscriber, which would break an XOR taken
 *               across it, so each side of each leg protects and recovers
 *               on its own. Publishing: a stream with fec_ssrc (joined.
 *               streams[i].fec_ssrc) emits, once hc_endpoint_stream_fec()
 *               set a group size k, one repair packet (RFC 8627 section
 *               4.2, 1-D row: the k consecutive packets just sent) on its
 *               own sequence space and SSRC after every k packets; the
 *               caller picks k from proto/repair.h (0 = off). Receiving: a
 *               track with fec_ssrc (joined.receive[i].fec_ssrc) holds the
 *               relay's repair packets and rebuilds a missing packet as
 *               soon as its group allows; it is delivered like an RTX
 *               (recovered = true, fec = true) and its NACK retries end.
 *               NACKs go at once, in parallel, unless fec_nack_hold_ms
 *               asks them to wait for the repair packet of their group
 *               (fewer retransmissions, later ones for what FEC cannot
 *               repair). Receiver reports describe the stream before
 *               repair (RTX and FEC stay out of loss and jitter, RFC 4588
 *               section 8), since the far side sizes its FEC from them.
 *   edge hooks  (added by the edge polish) what a sender's congestion
 *               control needs: every send can report the transport-wide
 *               sequence number it used and its size on the wire (the
 *               out pointers of hc_ep_send_opts_t), and packets the
 *               endpoint sends on its own (RTX answering a NACK, FlexFEC)
 *               are reported through the `sent` event, so the caller never
 *               has to guess the numbering (a send that fails takes no
 *               number: no hole the relay's feedback would report as a
 *               loss); hc_endpoint_send_padding()
 *               fills the estimator's probe clusters with RFC 4588
 *               retransmissions of recent packets (useful redundancy) or,
 *               when none fits, RFC 3550 section 5.1 padding-only packets,
 *               both on the stream's RTX SSRC; and a receiver whose jitter
 *               buffer knows the playout deadlines sends its own NACK
 *               lists (hc_endpoint_send_nack(), with
 *               hc_ep_track_cfg_t.nack_by_caller switching the endpoint's
 *               generator off for that track).
 *   keepalive   an RR + SDES compound (RFC 3550 section 6.1) from the
 *               relay-assigned rtcp_ssrc at start and at least every
 *               keepalive interval even when idle, so the relay learns the
 *               client's address from an authenticated packet before it
 *               publishes anything and carrier NAT mappings stay open.
 *
 * RTP and RTCP share the socket (RFC 5761 section 4); RTCP the endpoint
 * writes is reduced-size feedback (RFC 5506) or report compounds, always
 * from rtcp_ssrc, except SRs, which carry the stream's own SSRC as sender
 * (RFC 3550 section 6.4.1). Every packet travels SRTP/SRTCP (srtp.h).
 *
 * Time: every function that needs the time takes now_us (hc_now_us()
 * clock, or a simulated one); only NTP timestamps of SRs and the
 * capture-time extension read the wall clock (hc_wall_us()). Sends are
 * queued in an hc_udp_tx_t batch and go out in hc_endpoint_flush() (which
 * recv and poll also call), so a frame's packets leave in one sendmmsg.
 *
 * Driving it: either call hc_endpoint_recv() when the fd is readable and
 * hc_endpoint_poll() when it says, or let hc_endpoint_attach() register
 * the fd, a timer and an after-batch flush hook on an hc_loop_t.
 *
 * Ownership: hc_endpoint_new() allocates the endpoint, its packet pool,
 * the stream and track tables (max_streams, max_tracks), each stream's
 * history and each track's receive window at add time; nothing on the
 * packet path allocates. Stream and track pointers stay valid until their
 * remove (or the endpoint's destroy). Payload pointers handed to callbacks
 * are valid only during the callback.
 * Threading: single thread. Callbacks run inside recv/poll/input; they may
 * send, request keyframes and read stats, but must not call recv, input or
 * poll (which would re-enter the in-order release), remove the stream
 * or track they are about, nor destroy the endpoint.
 */
#ifndef HC_CORE_ENDPOINT_H
#define HC_CORE_ENDPOINT_H

#include "proto/srtp.h"
#include "relay/core/addr.h"
#include "relay/core/loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_endpoint hc_endpoint_t;
typedef struct hc_ep_stream hc_ep_stream_t; /* something we publish */
typedef struct hc_ep_track hc_ep_track_t;   /* something we receive */

/* Default payload types; the relay is told nothing about payload types, so
 * every Hillcast program uses these (dynamic range, RFC 3551 section 6, and
 * outside 64..95 as RFC 5761 section 4 requires on a muxed port). */
#define HC_EP_PT_H264     96
#define HC_EP_PT_H264_RTX 97
#define HC_EP_PT_OPUS     111
#define HC_EP_PT_OPUS_RTX 112
#define HC_EP_PT_FLEXFEC  98 /* "flexfec" repair streams (RFC 8627 section 5.1) */

/*
 * FEC API at a glance (added by the FEC work; details at each declaration):
 *   hc_ep_stream_cfg_t.fec_ssrc, .fec_pt     where a published stream's repair goes
 *   int hc_endpoint_stream_fec(hc_ep_stream_t *s, unsigned group)
 *                                            repair packet every `group` packets, 0 = off
 *   hc_ep_track_cfg_t.fec_ssrc, .fec_window  recover a received track from the relay's FEC
 *   hc_endpoint_cfg_t.fec_nack_hold_ms       first NACK may wait this long for FEC (0)
 *   hc_ep_rx_t.fec                           the packet was rebuilt from FEC
 *   hc_ep_stream_stats_t.fec_group, .fec_sent, .fec_bytes
 *   hc_ep_track_stats_t.fec_rx, .fec_recovered, .fec_dropped
 */

/* Header extensions a stream stamps on its packets (hc_ep_stream_cfg_t.ext). */
#define HC_EP_EXT_CAPTURE_TIME 0x1u /* abs-capture-time, 8-byte form */
#define HC_EP_EXT_TWCC         0x2u /* transport-wide sequence number, endpoint-wide counter */
#define HC_EP_EXT_AUDIO_LEVEL  0x4u /* RFC 6464, from hc_ep_send_opts_t */

/* What the callback gets for every delivered RTP packet (RTX unwrapped). */
typedef struct hc_ep_rx {
    uint32_t ssrc; /* the track's SSRC (also for packets that came as RTX) */
    uint16_t seq;  /* original sequence number */
    uint32_t ts;
    uint8_t pt;
    bool marker;
    const uint8_t *payload; /* valid during the callback only */
    size_t len;
    uint64_t capture_wall_us; /* abs-capture-time as Unix microseconds, 0 if absent */
    uint64_t rx_us;           /* arrival, caller's clock */
    uint64_t rx_wall_us;      /* arrival, wall clock */
    bool recovered;           /* it was missing first: came by RTX or late */
    bool rtx;                 /* came as an RFC 4588 retransmission */
    bool has_audio_level;
    bool voice;
    uint8_t audio_level;
    uint32_t skipped; /* in-order delivery: packets given up right before this one */
    bool fec;         /* rebuilt from FlexFEC (recovered is true too); added by the FEC work */
} hc_ep_rx_t;

/* (added by the edge polish) A packet the endpoint sent on its own. */
typedef enum hc_ep_sent_kind {
    HC_EP_SENT_RTX = 1, /* an RFC 4588 retransmission answering a NACK */
    HC_EP_SENT_FEC,     /* a FlexFEC repair packet (carries no transport-wide number) */
} hc_ep_sent_kind_t;

typedef struct hc_ep_sent {
    hc_ep_sent_kind_t kind;
    int32_t twcc;  /* transport-wide sequence number it carries, -1 none */
    uint32_t wire; /* bytes on the wire: the SRTP datagram + UDP/IP headers */
} hc_ep_sent_t;

typedef struct hc_endpoint_events {
    void *ud;
    /* A received RTP packet, in arrival order or (reorder_ms > 0) in
     * sequence order. */
    void (*rtp)(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx);
    /* The relay asked for a keyframe of stream s (PLI, or FIR when fir). */
    void (*keyframe)(void *ud, hc_ep_stream_t *s, bool fir);
    /* Any RTCP packet that authenticated (after the endpoint handled it),
     * for callers that want REMB/TWCC or raw reports. May be NULL. */
    void (*rtcp)(void *ud, const uint8_t *rtcp, size_t len);
    /* (added by the edge polish) A packet of stream s the endpoint queued by
     * itself (see hc_ep_sent_t), for the caller's bandwidth estimator; it
     * leaves with the next flush. May be NULL. */
    void (*sent)(void *ud, hc_ep_stream_t *s, const hc_ep_sent_t *info);
} hc_endpoint_events_t;

typedef struct hc_endpoint_cfg {
    hc_srtp_suite_t suite;
    uint8_t key_up[HC_SRTP_MAX_KEY_LEN];   /* we protect with it */
    uint8_t key_down[HC_SRTP_MAX_KEY_LEN]; /* the relay protects with it */
    uint32_t rtcp_ssrc;                    /* our RTCP sender SSRC (joined.media) */
    hc_addr_t remote;                      /* the relay's media address */
    hc_addr_t bind;            /* local address; unset: any address of remote's family */
    uint32_t report_ms;        /* SR/RR interval (1000) */
    uint32_t keepalive_ms;     /* longest RTCP silence (1000; <= report_ms is implied) */
    uint32_t nack_max_retries; /* NACKs per missing packet (4) */
    uint32_t nack_max_age_ms;  /* give up on a missing packet after this (1000) */
    uint32_t rtt_init_ms;      /* RTT assumed before a measurement (100) */
    uint32_t pli_min_ms;       /* at most one PLI per track per this (200) */
    uint32_t rtx_max_age_ms;   /* do not retransmit older packets (1000) */
    uint32_t max_streams;      /* publish table (8) */
    uint32_t max_tracks;       /* receive table (24) */
    uint32_t pool_packets;     /* send and receive buffers (512) */
    char cname[64];            /* SDES CNAME; empty: "hc-endpoint" */
    hc_endpoint_events_t ev;
    /* added by the FEC work: on a track whose repair packets arrive, the
     * first NACK for a gap waits at most this long for the repair packet
     * of its group, saving retransmissions FEC makes unnecessary; once that
     * repair packet came and could not rebuild it, the NACK goes at once.
     * 0 (the default): NACK at once, FEC in parallel, a rebuilt packet
     * ends the retries; the lowest delay when FEC cannot repair. */
    uint32_t fec_nack_hold_ms;
    /* added by downlink layers: transport-wide CC feedback (draft-holmer-
     * rmcat-transport-wide-cc-extensions-01 section 3.1, RTPFB FMT 15, from
     * rtcp_ssrc) for every received packet of a track (media, RTX, FEC)
     * that carries the transport-wide sequence number, which the relay
     * writes per leg, so it can estimate this downlink and choose
     * simulcast layers; one feedback every twcc_fb_ms (0: 50) while
     * numbers are pending. On unless twcc_fb_off. */
    uint32_t twcc_fb_ms;
    bool twcc_fb_off;
} hc_endpoint_cfg_t;

/* Defaults above; keys, SSRC and addresses zero. */
void hc_endpoint_cfg_default(hc_endpoint_cfg_t *cfg);

/* Open the socket and SRTP contexts. Returns 0, -HC_EINVAL (bad suite,
 * remote unset), -HC_ENOMEM, -HC_ESRTP or -HC_EIO (socket). Nothing is sent
 * before hc_endpoint_start(). */
int hc_endpoint_new(hc_endpoint_t **out, const hc_endpoint_cfg_t *cfg);
/* Detach, close, free; sets *ep to NULL. NULL is fine. */
void hc_endpoint_destroy(hc_endpoint_t **ep);

/* Send the first keepalive now and start the report clock. */
void hc_endpoint_start(hc_endpoint_t *ep, uint64_t now_us);

/* The socket (for the caller's poll/epoll) and its local address. */
int hc_endpoint_fd(const hc_endpoint_t *ep);
int hc_endpoint_local(const hc_endpoint_t *ep, hc_addr_t *out);

/* Move to a fresh socket with a new local port (a NAT rebinding, from the
 * relay's point of view) and send a keepalive from it at once. The relay
 * follows once a packet from the new address authenticates. 0 or -HC_EIO. */
int hc_endpoint_rebind(hc_endpoint_t *ep, uint64_t now_us);

/* Change where packets go (e.g. to an hc-impair in front of the relay). */
void hc_endpoint_set_remote(hc_endpoint_t *ep, const hc_addr_t *remote);

/* Receive everything waiting on the socket (batches of recvmmsg), handle
 * it, then flush. Returns datagrams read or -HC_EIO. */
int hc_endpoint_recv(hc_endpoint_t *ep, uint64_t now_us);

/* Handle one datagram as if received from `from` (tests, fuzzing, callers
 * with their own socket). buf is copied. */
void hc_endpoint_input(hc_endpoint_t *ep, const uint8_t *buf, size_t len, const hc_addr_t *from,
                       uint64_t now_us);

/* Run what is due (reports, keepalive, NACK retries and give-ups, in-order
 * release of packets whose wait expired), then flush. Returns microseconds
 * until the next call is wanted: the earliest NACK retry, in-order release
 * or report (1 s when nothing at all is pending). */
uint64_t hc_endpoint_poll(hc_endpoint_t *ep, uint64_t now_us);

/* sendmmsg everything queued. Returns datagrams sent. */
int hc_endpoint_flush(hc_endpoint_t *ep);

/* Register fd, a timer and an after-batch flush hook on loop (read from
 * the loop's clock). One loop at a time; hc_endpoint_detach() undoes it. */
int hc_endpoint_attach(hc_endpoint_t *ep, hc_loop_t *loop);
void hc_endpoint_detach(hc_endpoint_t *ep);

/* ---- publishing ---- */

typedef struct hc_ep_stream_cfg {
    uint32_t ssrc;       /* joined.streams[i].ssrc */
    uint32_t rtx_ssrc;   /* joined.streams[i].rtx_ssrc; 0: NACKs are not answered */
    uint8_t pt, rtx_pt;  /* HC_EP_PT_* */
    uint32_t clock_rate; /* 90000 video, 48000 Opus */
    uint32_t ext;        /* HC_EP_EXT_* */
    uint32_t history;    /* packets kept for RTX, power of 2 (video 512, audio 64; 0 = none) */
    uint16_t first_seq;  /* first sequence number (random is good) */
    void *owner;
    /* added by the FEC work */
    uint32_t fec_ssrc; /* joined.streams[i].fec_ssrc; 0: this stream sends no FEC */
    uint8_t fec_pt;    /* payload type of its repair packets; 0: HC_EP_PT_FLEXFEC */
} hc_ep_stream_cfg_t;

int hc_endpoint_stream_add(hc_endpoint_t *ep, const hc_ep_stream_cfg_t *cfg, hc_ep_stream_t **out);
void hc_endpoint_stream_remove(hc_endpoint_t *ep, hc_ep_stream_t *s);
void *hc_ep_stream_owner(const hc_ep_stream_t *s);
uint32_t hc_ep_stream_ssrc(const hc_ep_stream_t *s);

typedef struct hc_ep_send_opts {
    uint64_t capture_wall_us; /* capture time (Unix us); 0: now */
    bool has_audio_level;     /* with HC_EP_EXT_AUDIO_LEVEL */
    bool voice;
    uint8_t audio_level; /* 0 loudest .. 127 silence (-dBov) */
    /* (added by the edge polish) Outputs, each may be NULL: what the packet
     * just queued carried, for the caller's bandwidth estimator (written
     * only on success). */
    int32_t *twcc_out;  /* its transport-wide sequence number, -1 without HC_EP_EXT_TWCC */
    uint32_t *wire_out; /* bytes on the wire: the SRTP datagram + UDP/IP headers */
} hc_ep_send_opts_t;

/* Build and queue one RTP packet with the stream's next sequence number.
 * opts may be NULL. Returns the sequence number used (>= 0), or -HC_EINVAL,
 * -HC_ENOSPC (payload too large for a datagram), -HC_EFULL (no buffer),
 * -HC_ESRTP. */
int hc_endpoint_send(hc_endpoint_t *ep, hc_ep_stream_t *s, const uint8_t *payload, size_t len,
                     uint32_t ts, bool marker, const hc_ep_send_opts_t *opts, uint64_t now_us);

/* Queue a whole RTP packet the caller made: sequence number, timestamp,
 * payload type, marker, CSRCs and payload are kept; the SSRC becomes the
 * stream's; the extension block keeps the caller's elements except those
 * the stream stamps itself, which are (re)written. Later hc_endpoint_send()
 * calls continue after its sequence number. Same returns. */
int hc_endpoint_send_rtp(hc_endpoint_t *ep, hc_ep_stream_t *s, const uint8_t *rtp, size_t len,
                         const hc_ep_send_opts_t *opts, uint64_t now_us);

/*
 * (added by the FEC work) FlexFEC on stream s: after every `group`
 * consecutive packets sent (1..HC_FEC_MAX_GROUP; proto/repair.h's fec_k),
 * one repair packet protecting them goes out on the stream's fec_ssrc, in
 * the same flush. 0 turns it off. A new size starts a new group with the
 * next packet (a partly filled group is dropped); setting the current size
 * again changes nothing, so the caller may apply its policy every time it
 * runs. A sequence jump (hc_endpoint_send_rtp) drops the unfinished group.
 * Repair packets are not kept for RTX. Returns 0, or -HC_EINVAL (NULL, no
 * fec_ssrc, group too large).
 */
int hc_endpoint_stream_fec(hc_ep_stream_t *s, unsigned group);

/*
 * (added by the edge polish) One packet of about `bytes` on the wire (SRTP
 * datagram + UDP/IP headers) for a bandwidth probe, on stream s's RTX SSRC:
 * preferably an RFC 4588 retransmission of one of the stream's recent
 * packets that fits (successive calls walk back through the newest ones,
 * so a cluster repeats several packets: redundancy the receiver may use),
 * otherwise an RFC 3550 section 5.1 padding-only packet (no payload, at
 * most 255 padding octets, so smaller than asked when bytes is large; the
 * caller sends more to fill its cluster). Either carries a fresh
 * transport-wide sequence number (with HC_EP_EXT_TWCC), reported through
 * opts->twcc_out; opts may be NULL. Not kept for RTX, not counted as
 * retransmissions (hc_ep_stream_stats_t.padding_*). Returns the bytes on
 * the wire (> 0), or -HC_EINVAL (NULL, no rtx_ssrc), -HC_EFULL (no
 * buffer), -HC_ESRTP.
 */
int hc_endpoint_send_padding(hc_endpoint_t *ep, hc_ep_stream_t *s, size_t bytes,
                             const hc_ep_send_opts_t *opts, uint64_t now_us);

/* ---- receiving ---- */

typedef struct hc_ep_track_cfg {
    uint32_t ssrc;       /* joined.receive[i].ssrc */
    uint32_t rtx_ssrc;   /* joined.receive[i].rtx_ssrc, 0 = none */
    uint32_t clock_rate; /* 90000 video, 48000 Opus */
    uint32_t window;     /* receive window in packets, power of 2 (video 1024, audio 256) */
    uint32_t reorder_ms; /* 0: deliver on arrival; else in sequence order, waiting at most
                            this long for a missing packet */
    bool nack;           /* send NACKs for gaps (true for video and audio with RTX) */
    void *owner;
    /* added by the FEC work */
    uint32_t fec_ssrc;   /* joined.receive[i].fec_ssrc; 0: no FEC recovery */
    uint32_t fec_window; /* with fec_ssrc: source packets kept for recovery, power of 2,
                            at least twice the largest group (16..1024; 0: 64); about
                            1.5 KB each, allocated at add */
    /* (added by the edge polish) NACKs come from the caller
     * (hc_endpoint_send_nack(), e.g. a jitter buffer that knows each
     * packet's playout deadline): the endpoint's own generator stays off
     * for this track whatever `nack` says; gaps are still tracked for the
     * statistics and given up after nack_max_age_ms, and a retransmission
     * answering the first NACK of a packet still times the RTT. */
    bool nack_by_caller;
} hc_ep_track_cfg_t;

int hc_endpoint_track_add(hc_endpoint_t *ep, const hc_ep_track_cfg_t *cfg, hc_ep_track_t **out);
void hc_endpoint_track_remove(hc_endpoint_t *ep, hc_ep_track_t *t);
hc_ep_track_t *hc_endpoint_track_find(hc_endpoint_t *ep, uint32_t ssrc);
void *hc_ep_track_owner(const hc_ep_track_t *t);
uint32_t hc_ep_track_ssrc(const hc_ep_track_t *t);

/* Ask the relay for a keyframe on t (PLI, sent with the next flush; at most
 * one per pli_min_ms). */
void hc_endpoint_request_keyframe(hc_endpoint_t *ep, hc_ep_track_t *t, uint64_t now_us);

/* (added by the edge polish) A generic NACK (RFC 4585 section 6.2.1) for
 * the n sequence numbers (any order; spanning less than 32768) of track t,
 * from rtcp_ssrc, queued for the next flush (packed into as many PID/BLP
 * pairs and packets as needed). Meant for tracks with nack_by_caller;
 * counted in nacks_sent. May be called from inside the rtp callback.
 * Returns 0, or -HC_EINVAL (NULL, n == 0), -HC_EFULL, -HC_ESRTP. */
int hc_endpoint_send_nack(hc_endpoint_t *ep, hc_ep_track_t *t, const uint16_t *seqs, size_t n,
                          uint64_t now_us);

/* An RTT estimate from elsewhere (signaling ping), to time NACKs. */
void hc_endpoint_set_rtt(hc_endpoint_t *ep, uint32_t rtt_us);

/* Cap the bitrate of retransmissions answering NACKs (all streams
 * together; 0, the default: no cap). NACKs come in bursts exactly when a
 * link's queue overflowed, and answering them all at once keeps the
 * sender over the capacity that just fell (libwebrtc caps RTX at the
 * target rate for the same reason). A token bucket holding 200 ms of the
 * rate (at least two full packets); a retransmission the bucket cannot
 * pay for is skipped and counted in rtx_limited: the receiver asks again
 * one RTT later. Probe padding is paced by the caller and not capped. */
void hc_endpoint_set_rtx_rate(hc_endpoint_t *ep, uint32_t bps);

/* Retransmit packet seq of stream s before anyone asked (a tail probe:
 * the last packet of a frame with nothing sent after it, whose loss the
 * receiver cannot see until the next frame). An RFC 4588 retransmission
 * like a NACK's answer, under the same rate cap and age limit, reported
 * through the `sent` event, counted in rtx_sent and rtx_unasked. Returns
 * 0, -HC_EINVAL (NULL, no rtx_ssrc), -HC_ENOTFOUND (not in the history or
 * too old), -HC_EAGAIN (over the rate cap), -HC_EFULL. */
int hc_endpoint_resend(hc_endpoint_t *ep, hc_ep_stream_t *s, uint16_t seq, uint64_t now_us);

/* ---- statistics ---- */

typedef struct hc_ep_stream_stats {
    uint64_t packets, bytes; /* sent, first transmissions */
    uint64_t nacks_rx;       /* sequence numbers asked for */
    uint64_t rtx_sent, rtx_bytes;
    uint64_t rtx_missed;  /* asked for but no longer (or never) in the history */
    uint64_t rtx_limited; /* skipped by hc_endpoint_set_rtx_rate()'s cap */
    uint64_t rtx_unasked; /* of rtx_sent, hc_endpoint_resend()'s */
    uint64_t plis_rx, firs_rx;
    double loss;      /* fraction lost, from the relay's last report block */
    double jitter_ms; /* from the same */
    double rtt_ms;    /* from LSR/DLSR of that block, 0 until known */
    /* added by the FEC work */
    uint32_t fec_group;           /* current FEC group size, 0 = off */
    uint64_t fec_sent, fec_bytes; /* repair packets sent, their RTP payload bytes */
    /* added by the edge polish: hc_endpoint_send_padding() */
    uint64_t padding_rtx;   /* probe packets that were retransmissions of recent packets */
    uint64_t padding_only;  /* probe packets that were RFC 3550 padding-only packets */
    uint64_t padding_bytes; /* their bytes on the wire */
} hc_ep_stream_stats_t;

typedef struct hc_ep_track_stats {
    uint64_t packets, bytes; /* unique packets received (RTX included, duplicates not) */
    uint64_t expected;       /* highest - first + 1 */
    uint64_t missing;        /* sequence numbers found missing at first (loss before repair) */
    uint64_t recovered;      /* of those, received later */
    uint64_t rtx;            /* of those, received as RTX */
    uint64_t lost;           /* given up (loss after repair) */
    uint64_t duplicates, late, too_old;
    uint64_t nacks_sent; /* sequence numbers NACKed (retries included) */
    uint64_t plis_sent;
    uint64_t srs_rx;
    uint64_t delivered; /* callbacks */
    double jitter_ms;   /* RFC 3550 A.8 */
    /* added by the FEC work */
    uint64_t fec_rx;        /* repair packets received that authenticated and parsed */
    uint64_t fec_recovered; /* missing packets rebuilt from them (counted in recovered too) */
    uint64_t fec_dropped;   /* repair packets unusable: malformed, stale, or contradicting */
} hc_ep_track_stats_t;

typedef struct hc_endpoint_stats {
    uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes;
    uint64_t rtcp_rx, rtcp_tx;
    uint64_t drop_malformed; /* too short, not RTP/RTCP, unparsable after decrypting */
    uint64_t drop_unknown;   /* SSRC we do not receive */
    uint64_t drop_auth;      /* SRTP/SRTCP authentication failed */
    uint64_t drop_replay;
    uint64_t drop_nobuf; /* no packet buffer */
    uint64_t tx_dropped; /* sendmmsg refused */
    uint64_t rebinds;
    double rtt_ms; /* current estimate */
    /* added by downlink layers */
    uint64_t twcc_rx;  /* received packets with a transport-wide number */
    uint64_t twcc_fbs; /* feedback packets sent */
} hc_endpoint_stats_t;

void hc_endpoint_stats(const hc_endpoint_t *ep, hc_endpoint_stats_t *out);
void hc_ep_stream_stats(const hc_ep_stream_t *s, hc_ep_stream_stats_t *out);
void hc_ep_track_stats(const hc_ep_track_t *t, hc_ep_track_stats_t *out);

#endif
