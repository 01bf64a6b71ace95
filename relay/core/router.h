/*
 * router.h - the relay's media data plane for one worker: SRTP legs, input
 * streams with NACK history, per-subscriber output tracks with rewriting,
 * fan-out, and the RTCP that goes with them.
 *
 * One router per worker thread. It owns no socket: the worker feeds it
 * received datagrams (hc_router_input) and gives it the fd to send on; the
 * router batches its sends (hc_udp_tx_t) and flushes them in
 * hc_router_flush(), which the worker calls once per loop iteration (an
 * after-batch hook) and which the router also calls when its batch fills.
 *
 * Objects, all created by the control plane (the session layer, on the
 * worker thread) and never by a packet:
 *   leg       one participant's media transport: the UDP address the
 *             relay learned, an SRTP receive context (key_up: what the
 *             client protects with) and a send context (key_down), the
 *             SSRC the client uses as RTCP sender (rtcp_ssrc) and the SSRC
 *             the relay uses as RTCP sender toward it (relay_ssrc).
 *   instream  a stream a leg publishes (SSRC assigned by the relay), with
 *             RFC 3550 receiver statistics, a history of recent packets
 *             (plain RTP) to answer NACKs, upstream NACK generation when the
 *             publisher's packets go missing, PLI/FIR merging, the last SR
 *             (for RR LSR/DLSR and for translating SRs to subscribers) and,
 *             for audio, the RFC 6464 level.
 *   track     one output stream toward one subscriber leg, with its own
 *             SSRC and RTX SSRC. Its source is an instream or none and can
 *             change at any time (floor moves, a speaker slot changes, a
 *             publisher reconnects): SSRC, sequence numbers and timestamps
 *             are rewritten so the receiver sees one continuous stream, and
 *             a video track waits for a keyframe from the new source
 *             (requesting one) before forwarding.
 *
 * Hot path (hc_router_input): peek the SSRC (RTP: bytes 8..11; RTCP: bytes
 * 4..7, RFC 5761 demux) -> table lookup (unknown: counted drop, nothing
 * created) -> SRTP unprotect with the leg's receive context (failure:
 * counted drop, nothing created or changed) -> the leg's address is learned,
 * or followed when it changed (NAT rebinding), only now -> RTP: statistics,
 * history, loss detection, then for each track fed by the instream: copy into
 * a send slot, rewrite, SRTP protect with the subscriber leg's send context,
 * queue; RTCP: handled (RR, SR, NACK -> RTX from history, PLI/FIR -> merged
 * request upstream, REMB/TWCC noted). No malloc, no blocking call, no log.
 *
 * FlexFEC (RFC 8627), hop by hop (added by the FEC work): the relay
 * rewrites SSRC, sequence numbers and timestamps per subscriber, which
 * would break an XOR taken across it, so FEC ends and starts here.
 * - Uplink: an instream with fec_ssrc takes the publisher's repair packets
 *   (proto/fec.h decoder over the instream's recent packets); a packet
 *   rebuilt from them is handled exactly like a late original (history,
 *   fan-out, its upstream NACK cancelled; counted in recovered and
 *   recovered_fec) but stays out of the receiver statistics, so the RRs
 *   toward the publisher keep telling the loss its FEC has to cover.
 *   Upstream NACKs go at once (FEC and NACK in parallel) unless
 *   fec_nack_hold_ms asks them to wait for the repair packet.
 * - Downlink: a track with fec_ssrc protects what it sends with its own
 *   repair stream (1-D row FEC, a flexible mask over the next k packets
 *   the track sends, so a gap the publisher's loss left does not break a
 *   group and a late packet is protected too) when its policy says so:
 *   HC_FEC_AUTO decides from the subscriber's receiver reports (fraction
 *   lost, smoothed; jitter; RTT) through proto/repair.h, hysteresis
 *   included; repair packets go under the subscriber leg's SRTP context
 *   and are counted (fec_sent).
 *
 * Timers (on the worker loop): RTCP reports toward every leg (SR for each
 * track with packets sent, RR for each instream) every report interval, which
 * also keeps carrier NAT mappings open; upstream NACK retries timed by RTT;
 * delayed PLIs; transport-wide CC feedback toward publishers that send the
 * transport-wide sequence extension (draft-holmer-rmcat-transport-wide-cc-
 * extensions-01), every 50 ms; leg activity (an event when a leg goes quiet
 * for leg_timeout_ms, and when it comes back).
 *
 * Ownership: hc_router_new() allocates the router and every table at their
 * configured capacities; legs, instreams and tracks come from those tables
 * (add returns -HC_EFULL when one is full). Pointers returned by the add
 * functions stay valid until the matching remove (removing a leg removes its
 * instreams and tracks). `owner` pointers are the caller's, never touched.
 * Threading: everything runs on the worker thread that owns the router.
 */
#ifndef HC_CORE_ROUTER_H
#define HC_CORE_ROUTER_H

#include "proto/srtp.h"
#include "relay/core/addr.h"
#include "relay/core/loop.h"
#include "relay/core/pool.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_router hc_router_t;
typedef struct hc_leg hc_leg_t;
typedef struct hc_instream hc_instream_t;
typedef struct hc_track hc_track_t;

typedef enum hc_media_kind { HC_MEDIA_AUDIO = 1, HC_MEDIA_VIDEO = 2 } hc_media_kind_t;

typedef struct hc_router_cfg {
    uint32_t max_legs; /* table capacities, allocated at new */
    uint32_t max_instreams;
    uint32_t max_tracks;
    uint32_t history_video;    /* packets kept per video instream (power of 2, e.g. 1024) */
    uint32_t history_audio;    /* per audio instream (e.g. 128) */
    uint32_t report_ms;        /* RTCP report interval per leg (e.g. 1000) */
    uint32_t leg_timeout_ms;   /* quiet this long => leg inactive event (e.g. 5000) */
    uint32_t pli_min_ms;       /* at most one PLI/FIR per instream per this (e.g. 300) */
    uint32_t nack_max_retries; /* upstream NACKs per lost packet (e.g. 5) */
    uint32_t rtx_max_age_ms;   /* do not retransmit packets older than this (e.g. 1000) */
    uint32_t seed;             /* hash seed for tables */
    /* added by the FEC work: while an instream's repair packets arrive,
     * upstream NACKs for a new gap wait this long for the repair packet of
     * its group, saving the retransmissions FEC makes unnecessary at the
     * cost of later ones for what it cannot repair (0, the default: NACK at
     * once, FEC in parallel, a rebuilt packet cancels the retries) */
    uint32_t fec_nack_hold_ms;
    /* added by downlink layers: sent records kept by a subscriber leg's
     * downlink estimator (proto/bwe.h; power of 2, 256..65536; 0: 256:
     * ~14 KiB with the estimator and the layer group). The estimator exists only on legs that
     * receive a layered track (hc_router_track_set_layers() with n >= 2). */
    uint32_t bwe_history;
} hc_router_cfg_t;

/* Fills cfg with the defaults quoted above. */
void hc_router_cfg_default(hc_router_cfg_t *cfg);

/* Events toward the control plane; called on the worker thread from inside
 * hc_router_input() or a router timer. The callee must not remove the object
 * the event is about from inside the callback (defer it with a timer/post). */
typedef struct hc_router_events {
    void *ud;
    /* The leg's address was learned (old == NULL) or changed. */
    void (*leg_addr)(void *ud, hc_leg_t *leg, const hc_addr_t *old, const hc_addr_t *now);
    /* The leg went quiet for leg_timeout_ms (active = false) or came back. */
    void (*leg_active)(void *ud, hc_leg_t *leg, bool active);
    /* A track's source changed to a new instream and the first packet of the
     * new source went out (video: the first keyframe). For "tracks" events. */
    void (*track_switched)(void *ud, hc_track_t *track, hc_instream_t *src);
} hc_router_events_t;

/* fd: the worker's UDP socket all sends go through. pool: the worker's
 * packet pool (hc_router_input returns packets to it). */
int hc_router_new(hc_router_t **out, const hc_router_cfg_t *cfg, hc_loop_t *loop, int fd,
                  hc_pool_t *pool, const hc_router_events_t *ev);
void hc_router_destroy(hc_router_t **r);

/* One received datagram, still protected. Takes the packet and returns it
 * to the pool before returning. */
void hc_router_input(hc_router_t *r, hc_pkt_t *pkt);

/* Send everything queued (sendmmsg). Cheap when nothing is queued. */
void hc_router_flush(hc_router_t *r);

/* ---- control plane (worker thread) ---- */

typedef struct hc_leg_cfg {
    hc_srtp_suite_t suite;
    uint8_t key_up[HC_SRTP_MAX_KEY_LEN];   /* the client protects with it */
    uint8_t key_down[HC_SRTP_MAX_KEY_LEN]; /* the relay protects with it */
    uint32_t rtcp_ssrc;                    /* client's RTCP sender SSRC */
    uint32_t relay_ssrc;                   /* relay's RTCP sender SSRC toward this leg */
    const hc_addr_t *addr;                 /* known address, or NULL: learn it */
    void *owner;
} hc_leg_cfg_t;

int hc_router_leg_add(hc_router_t *r, const hc_leg_cfg_t *cfg, hc_leg_t **out);
void hc_router_leg_remove(hc_router_t *r, hc_leg_t *leg);
void *hc_leg_owner(const hc_leg_t *leg);
/* Address learned from authenticated packets; false while unknown. */
bool hc_leg_addr(const hc_leg_t *leg, hc_addr_t *out);

typedef struct hc_instream_cfg {
    hc_media_kind_t kind;
    uint32_t ssrc;       /* assigned by the relay */
    uint32_t rtx_ssrc;   /* the publisher's RFC 4588 RTX stream, 0 = none */
    uint8_t pt, rtx_pt;  /* payload types on the wire */
    uint32_t clock_rate; /* 90000 video, 48000 Opus */
    void *owner;
    uint32_t fec_ssrc; /* the publisher's FlexFEC stream, 0 = none (added by the FEC work) */
} hc_instream_cfg_t;

int hc_router_instream_add(hc_router_t *r, hc_leg_t *leg, const hc_instream_cfg_t *cfg,
                           hc_instream_t **out);
/* Tracks fed by it lose their source (as if set to NULL). */
void hc_router_instream_remove(hc_router_t *r, hc_instream_t *s);
void *hc_instream_owner(const hc_instream_t *s);
/* Smoothed RFC 6464 audio level (0 = loudest, 127 = silence) and whether
 * voice activity was flagged within the last window; audio only. */
uint8_t hc_instream_audio_level(const hc_instream_t *s, uint64_t now_us, bool *voice);
/* Ask the publisher for a keyframe (merged with pending requests). */
void hc_router_request_keyframe(hc_router_t *r, hc_instream_t *s);

/* When a track sends FlexFEC (added by the FEC work). */
typedef enum hc_fec_mode {
    HC_FEC_AUTO = 0, /* from the subscriber's reports through proto/repair.h */
    HC_FEC_OFF,      /* never */
    HC_FEC_FIXED,    /* always, one repair packet per k packets */
} hc_fec_mode_t;

typedef struct hc_fec_policy {
    hc_fec_mode_t mode;
    uint8_t k;          /* HC_FEC_FIXED: group size, 1..HC_FEC_MAX_GROUP (proto/fec.h) */
    uint32_t budget_ms; /* HC_FEC_AUTO: the subscriber's playout budget (0: 300; <= 60000) */
} hc_fec_policy_t;

typedef struct hc_track_cfg {
    hc_media_kind_t kind;
    uint32_t ssrc;     /* what the subscriber sees; assigned by the relay */
    uint32_t rtx_ssrc; /* RFC 4588 retransmissions toward the subscriber; 0 = none */
    uint8_t pt, rtx_pt;
    uint32_t clock_rate;
    void *owner;
    /* added by the FEC work */
    uint32_t fec_ssrc;   /* the track's FlexFEC stream; 0 = never FEC */
    uint8_t fec_pt;      /* its payload type; 0: 98 (HC_EP_PT_FLEXFEC) */
    hc_fec_policy_t fec; /* zeroed: HC_FEC_AUTO, 300 ms budget */
} hc_track_cfg_t;

int hc_router_track_add(hc_router_t *r, hc_leg_t *subscriber, const hc_track_cfg_t *cfg,
                        hc_track_t **out);
/* Switch the source (NULL: pause). Same-kind only (-HC_EINVAL otherwise).
 * The next packet from src continues the track's sequence numbers with no
 * gap and its timestamps with the wall-clock time elapsed; video waits for a
 * keyframe (requested from src at once). */
int hc_router_track_set_source(hc_router_t *r, hc_track_t *t, hc_instream_t *src);
/* (added by downlink layers) Feed t from a simulcast group: layers[0] the
 * highest, layers[n-1] the lowest (n <= 4, all of t's kind). The router
 * forwards the highest layer whose bitrate (the instream's, over the last
 * second) fits the subscriber leg's downlink estimate less the leg's other
 * traffic, from the transport-wide feedback the subscriber sends for the
 * renumbered extension: down at once when the estimate falls below the
 * current layer or a receiver report says more than 10 % lost; up only
 * after the estimate held 1.3 x the next layer's bitrate for 5 s; a step
 * up that congests within 2 s goes back at once and doubles that wait (up
 * to 40 s). A layer silent for 2 s is skipped. Switches keep forwarding
 * the old layer until the new one's keyframe (requested at once) starts,
 * with no sequence gap. n == 1: hc_router_track_set_source(layers[0]);
 * n == 0: pause. The first layer chosen is the lowest until the estimate
 * says more. 0, -HC_EINVAL (kind, NULL entry, n > 4) or -HC_ENOMEM. */
int hc_router_track_set_layers(hc_router_t *r, hc_track_t *t, hc_instream_t *const *layers,
                               size_t n);
void hc_router_track_remove(hc_router_t *r, hc_track_t *t);
/* Change a track's FEC policy (added by the FEC work). OFF and FIXED apply
 * to the next packet; AUTO stops sending FEC and decides afresh at the next
 * receiver report. 0, or -HC_EINVAL (no fec_ssrc, unknown mode, k out of
 * range for FIXED, budget_ms over 60000). hc_router_track_add() checks the
 * same of hc_track_cfg_t.fec when fec_ssrc is set. */
int hc_router_track_set_fec(hc_router_t *r, hc_track_t *t, const hc_fec_policy_t *p);
void *hc_track_owner(const hc_track_t *t);
hc_instream_t *hc_track_source(const hc_track_t *t);

/* ---- statistics ---- */

typedef struct hc_leg_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t auth_fail, replay, rebinds;
    uint64_t last_rx_us;
    bool active;
    /* added by downlink layers: the downlink estimate (0 without one) */
    uint32_t estimate_bps;
    uint32_t acked_bps; /* delivery rate the subscriber's feedback acknowledged */
    uint32_t qdelay_ms; /* queuing delay the estimator sees */
    double est_loss;    /* loss over the last second from the feedback */
    uint64_t probes;    /* probe clusters sent */
} hc_leg_stats_t;

typedef struct hc_instream_stats {
    uint64_t packets, bytes;
    uint64_t lost; /* cumulative, RFC 3550 A.3 */
    double loss;   /* fraction over the last report interval */
    double jitter_ms;
    uint64_t nacks_sent; /* NACK requests toward the publisher */
    uint64_t recovered;  /* lost packets that arrived later (RTX or late) */
    uint64_t plis_sent, firs_sent;
    uint64_t keyframes;
    uint32_t bitrate_bps; /* over the last second */
    double rtt_ms;        /* from the publisher's SR/RR exchange, 0 when unknown */
    /* added by the FEC work */
    uint64_t fec_rx;        /* repair packets that authenticated and were held */
    uint64_t recovered_fec; /* lost packets rebuilt from them (also in recovered) */
    uint64_t fec_dropped;   /* repair packets unusable: malformed, stale, contradicting */
} hc_instream_stats_t;

typedef struct hc_track_stats {
    uint64_t packets, bytes;
    uint64_t nacks_received, rtx_sent, rtx_missed; /* missed: no longer in history */
    uint64_t plis_received, firs_received;
    uint64_t switches, dropped_wait_keyframe;
    double loss; /* from the subscriber's receiver reports */
    double jitter_ms;
    double rtt_ms; /* from LSR/DLSR of its RR against our SR */
    uint32_t bitrate_bps;
    uint64_t remb_bps; /* last REMB from the subscriber, 0 when none */
    /* added by the FEC work */
    uint32_t fec_k;               /* current FEC group size, 0 = off */
    uint64_t fec_sent, fec_bytes; /* repair packets sent, SRTP bytes (in bytes too) */
    double fec_loss;              /* smoothed loss the FEC decision uses */
    /* added by downlink layers */
    int32_t layer;             /* index of the layer forwarded, -1 none or not layered */
    uint32_t layers;           /* layers in the group (0: not layered) */
    int32_t layer_pending;     /* layer waiting for its keyframe, -1 none */
    uint32_t leg_estimate_bps; /* the subscriber leg's downlink estimate */
    uint64_t layer_ups, layer_downs, layer_failed_ups;
} hc_track_stats_t;

void hc_leg_stats(const hc_leg_t *leg, hc_leg_stats_t *out);
void hc_instream_stats(const hc_instream_t *s, hc_instream_stats_t *out);
void hc_track_stats(const hc_track_t *t, hc_track_stats_t *out);

/* Router-wide counters, for /metrics. Drops by cause. */
typedef struct hc_router_counters {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t drop_malformed; /* too short, bad version, unparsable RTCP */
    uint64_t drop_unknown;   /* SSRC not in the tables */
    uint64_t drop_auth;      /* SRTP/SRTCP authentication failed */
    uint64_t drop_replay;    /* SRTP replay */
    uint64_t drop_nobuf;     /* send slots exhausted */
    uint64_t drop_send;      /* sendmmsg refused */
    uint64_t drop_noaddr;    /* subscriber address not learned yet */
    uint64_t nacks_rx, nacks_tx, rtx_tx, plis_rx, plis_tx, firs_rx;
    uint64_t fec_rx, fec_tx, fec_recovered; /* added by the FEC work */
    uint64_t rebinds;
    uint32_t legs, instreams, tracks;
} hc_router_counters_t;

void hc_router_counters(const hc_router_t *r, hc_router_counters_t *out);

#endif
