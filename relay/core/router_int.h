/*
 * router_int.h - the router's objects and the functions its three source
 * files share (router.c: tables, life cycle, input dispatch, statistics;
 * router_rtp.c: instream receive, fan-out and rewriting; router_rtcp.c:
 * RTCP in and out, RTX, keyframe requests, reports, transport-wide CC).
 * Private to relay/core/router*.c; callers use router.h.
 *
 * Choices documented here once (router.h is the spec):
 * - Counting. NACKs are counted per sequence number asked for, everywhere:
 *   router nacks_rx/nacks_tx, track nacks_received and instream nacks_sent;
 *   so for a track nacks_received == rtx_sent + rtx_missed. rtx_tx counts
 *   RTX packets sent to subscribers. plis_tx counts PLIs sent upstream
 *   (FIRs upstream are in the instream's firs_sent). Track bytes and
 *   bitrates are SRTP bytes on the wire; SR octet counts are payload
 *   octets (RFC 3550 section 6.4.1).
 * - Input drops: shorter than an RTP header, not version 2, or an RTP
 *   packet too large to forward (with the RTX OSN and the SRTP trailer) ->
 *   drop_malformed before any lookup; after SRTP: unparsable RTP or an
 *   RTCP compound that fails RFC 3550 A.2 (relaxed for RFC 5506) ->
 *   drop_malformed (the leg still counts the packet and follows its
 *   address: it did authenticate). SRTP -HC_EAUTH and every other libsrtp
 *   failure but replay (truncated tag, ...) -> drop_auth; -HC_EREPLAY ->
 *   drop_replay.
 * - Leg activity: `active` starts false and becomes true (leg_active event)
 *   at the first authenticated packet; every later change also raises the
 *   event.
 * - Transport-wide CC: the sequence number is per transport, so the
 *   recorder is per publishing leg (allocated with its first instream);
 *   feedback goes every 50 ms from relay_ssrc with the media SSRC of the
 *   leg's instream that last carried the extension. Toward subscribers the
 *   extension is kept and renumbered with a per-leg counter, so the
 *   numbers a subscriber sees are one consecutive series for the
 *   downlink's own (future) congestion control. TWCC feedback arriving
 *   from subscribers is ignored for now, REMB is noted in the track stats.
 * - Upstream NACKs only for instreams with an RTX SSRC: without RTX a
 *   publisher could only resend the same SRTP packet, which the relay's
 *   replay protection rejects. nack_max_retries 0 turns them off.
 * - Limits: history up to 65536 packets (the whole sequence space); a
 *   packet up to a history behind the newest is late, not a restart.
 *   One NACK packet from a subscriber makes at most 256 retransmissions
 *   (the rest count as rtx_missed).
 * - Upstream RTT: from LSR/DLSR in the publisher's report blocks about the
 *   tracks the relay sends it; failing that from NACK -> RTX round trips
 *   (first request only, Karn's rule).
 * - Subscriber NACKs map back through the current source epoch only; a
 *   sequence number sent before the last switch is answered as missed.
 * - Keyframe start (video, H.264 RFC 6184): single NAL of type 5 (IDR) or
 *   7 (SPS, which encoders send just before the IDR), STAP-A holding type
 *   5 or 7, FU-A start fragment of type 5.
 * - SR toward subscribers: the source's last SR extrapolated to now on the
 *   publisher's own clock (NTP and RTP advance together, so the mapping is
 *   exactly the publisher's and audio/video of one publisher lip-sync),
 *   RTP time rewritten through the track's offset; before the source sent
 *   an SR, the relay's NTP time and the last forwarded timestamp advanced
 *   by the time since it went out. RTT comes from the LSR the subscriber
 *   echoes, matched against the NTP the relay put in that track's SR.
 * - Feedback toward publishers (NACK, PLI, FIR, TWCC) is reduced-size
 *   RTCP (RFC 5506), as hc-edge's endpoint expects; reports are full
 *   compounds (SR..., RR, SDES CNAME "hc-relay").
 * - Timestamps of the relay's NTP clock are the loop's monotonic time plus
 *   the wall clock offset taken at hc_router_new(), so they never jump.
 * - FlexFEC (router_fec.c). Uplink: the decoder (allocated with the
 *   instream when it has a fec_ssrc: 64 source slots, 8 repair slots,
 *   ~108 KB) gets every original after SRTP; a rebuilt packet enters
 *   rt_rtp_input() like a late original but stays out of rxstats and of
 *   the transport-wide record (it never crossed the link). While repair
 *   packets arrived within the last second and fec_nack_hold_ms is set, a
 *   gap arms the upstream NACK timer that much later instead of at once;
 *   each repair packet that leaves something missing re-arms it at once. Downlink: the
 *   encoder (allocated with the track when it has a fec_ssrc, ~1.5 KB)
 *   takes each packet send_media() sends, after rewriting and before SRTP;
 *   k packets whose numbers fit within 110 make one repair packet with a
 *   flexible mask (RFC 8627 section 4.2.2.1), so a publisher-side gap does
 *   not abandon the group and a late packet (repaired upstream) is still
 *   protected when it fits the current group's span. Repair packets: the track's fec_ssrc,
 *   own random sequence, the timestamp of the group's last packet, no
 *   extensions, the subscriber leg's SRTP, not kept for RTX; counted in
 *   the track's bytes and fec_sent, the router's tx and fec_tx. AUTO
 *   policy: each receiver report block for the track updates the loss
 *   (EWMA, 1/2 weight: a report covers ~1 s already) and feeds
 *   proto/repair.h with it, the report's jitter, the leg's RTT (100 ms
 *   while unknown) and the track's rate; its fec_k (hysteresis included)
 *   becomes the group size. SSRC map: the FEC SSRC of an instream is
 *   RT_MAP_RTX with RT_MAP_FEC_FLAG.
 */
#ifndef HC_CORE_ROUTER_INT_H
#define HC_CORE_ROUTER_INT_H

#include "proto/bwe.h"
#include "proto/fec.h"
#include "proto/repair.h"
#include "proto/rtp.h"
#include "proto/rxstats.h"
#include "proto/seq.h"
#include "proto/srtp.h"
#include "relay/core/history.h"
#include "relay/core/loop.h"
#include "relay/core/nackgen.h"
#include "relay/core/router.h"
#include "relay/core/ssrcmap.h"
#include "relay/core/timer.h"
#include "relay/core/twccfb.h"
#include "relay/core/udp.h"

#include <stdbool.h>
#include <stdint.h>

#define RT_CNAME            "hc-relay"
#define RT_TWCC_WINDOW      512     /* transport-wide numbers recorded per publishing leg */
#define RT_TWCC_INTERVAL_US 50000   /* feedback period */
#define RT_VOICE_WINDOW_US  500000  /* hc_instream_audio_level(): voice within this */
#define RT_LEVEL_STALE_US   1000000 /* no level for this long: silence */
#define RT_AVG_VIDEO_PKT    1200    /* history ring bytes per slot, video */
#define RT_AVG_AUDIO_PKT    300     /* and audio (Opus with RED fits) */
#define RT_MTU_PAYLOAD      1200    /* RTCP compounds the relay writes stay below this */
#define RT_BITRATE_WINDOW   1000000
#define RT_FEC_SRC_SLOTS    64      /* uplink decoder: source packets remembered */
#define RT_FEC_FEC_SLOTS    8       /* and repair packets held */
#define RT_FEC_ACTIVE_US    1000000 /* repair packets this recent: hold NACKs */
#define RT_FEC_BUDGET_MS    300     /* hc_fec_policy_t.budget_ms 0 */
#define RT_FEC_RTT_US       100000  /* RTT assumed for the decision while unknown */
#define RT_FEC_PT           98      /* hc_track_cfg_t.fec_pt 0 (endpoint.h HC_EP_PT_FLEXFEC) */
/* Downlink layers (router_layers.c, added by downlink layers) */
#define RT_LAYERS_MAX       4        /* simulcast layers per track */
#define RT_BWE_TICK_US      100000   /* estimator tick and layer decision period */
#define RT_BWE_HISTORY      256      /* hc_router_cfg_t.bwe_history 0 */
#define RT_BWE_START_BPS    1000000  /* the estimate a leg starts from */
#define RT_BWE_FB_MAX       1024     /* packets one feedback may report */
#define RT_WIRE_OVERHEAD    28       /* UDP/IPv4 headers counted with every datagram */
#define RT_LAYER_STALE_US   2000000  /* a layer silent this long is skipped */
#define RT_LAYER_UP_WAIT_US 5000000  /* estimate must hold above 1.3 x the next layer */
#define RT_LAYER_UP_MAX_US  40000000 /* the wait after failed steps up, at most */
#define RT_LAYER_TRIAL_US   2000000  /* a step up that congests within this failed */
#define RT_LAYER_SETTLE_US  20000000 /* held this long: the wait is back to its start */
#define RT_LAYER_UP_MARGIN  1.3
#define RT_LAYER_LOSS_DOWN  0.10    /* RR fraction lost that steps down at once */
#define RT_LAYER_QDELAY_US  30000   /* queue delay that fails a step up */
#define RT_PROBE_GAP_US     4000    /* spacing of probe padding packets */
#define RT_LAYER_PROBE_US   5000000 /* first wait between probes for the next layer up */
/* The largest plain RTP packet the relay forwards: its copy must fit a send
 * slot with the RTX OSN and the SRTP trailer. */
#define RT_MAX_RTP (HC_PKT_CAP - HC_SRTP_MAX_TRAILER - 2)

/* Values in the SSRC map: kind in the top bits, table index below. */
#define RT_MAP_LEG            0u /* a leg's rtcp_ssrc */
#define RT_MAP_IN             1u /* an instream's SSRC */
#define RT_MAP_RTX            2u /* an instream's RTX SSRC */
#define RT_MAP_TRACK          3u /* a track's SSRC, keyed with its leg */
#define RT_MAP_VAL(kind, idx) (((uint32_t)(kind) << 30) | (uint32_t)(idx))
#define RT_MAP_KIND(v)        ((v) >> 30)
#define RT_MAP_IDX(v)         ((v)&0x00ffffffu) /* tables hold at most 1 << 24 */
#define RT_MAP_FEC_FLAG       (1u << 29)        /* with RT_MAP_RTX: an instream's FEC SSRC */
#define RT_TRACK_KEY(legidx, ssrc)                                                                 \
    ((1ull << 63) | ((uint64_t)(legidx) << 32) | (uint64_t)(uint32_t)(ssrc))

typedef struct rt_rate {
    uint64_t start_us, bytes;
    uint32_t bps;
} rt_rate_t;

/* how a packet reached an instream */
enum { RT_VIA_MEDIA = 0, RT_VIA_RTX, RT_VIA_FEC };

/* Uplink FlexFEC decoder of an instream, one allocation. */
typedef struct rt_fec_in {
    hc_fec_dec_t dec;
    hc_fec_src_slot_t src[RT_FEC_SRC_SLOTS];
    hc_fec_fec_slot_t fec[RT_FEC_FEC_SLOTS];
} rt_fec_in_t;

/* Downlink FlexFEC of a track (allocated only for tracks with a fec_ssrc,
 * so the track table stays small): policy, decision and the encoder of k
 * packets under a flexible mask. */
typedef struct rt_fec_out {
    uint32_t ssrc; /* the repair stream's */
    uint8_t pt;
    uint16_t seq;
    hc_fec_policy_t pol;
    bool have_loss;
    double loss; /* smoothed, for the AUTO decision */
    hc_repair_t policy;
    uint64_t sent, bytes;
    unsigned k;       /* group size now, 0 = off */
    hc_fec_enc_t enc; /* gap mode (proto/fec.h); last: its repair buffer is
                       * touched only as far as groups reach */
} rt_fec_out_t;

typedef struct rt_leg_twcc {
    hc_twccfb_t fb;
    hc_timer_t timer;
    uint32_t media_ssrc;
    uint64_t arr[RT_TWCC_WINDOW];
} rt_leg_twcc_t;

/* A track's simulcast group (allocated by hc_router_track_set_layers() with
 * n >= 2): in[0] the highest layer. t->src is in[cur]; while a switch
 * waits for the new layer's keyframe, in[pend] has the track on its
 * pending list and t->src keeps forwarding. */
typedef struct rt_layers rt_layers_t;
struct rt_layers {
    hc_track_t *t;
    hc_instream_t *in[RT_LAYERS_MAX];
    uint8_t n;
    int8_t cur, pend;                   /* indices into in[], -1 none */
    rt_layers_t *pend_prev, *pend_next; /* on in[pend]->pending */
    uint64_t up_ok_since;               /* the next layer up fits since (0: it does not) */
    uint64_t up_wait_us;                /* how long it must fit first */
    uint64_t trial_until;               /* a step up is on trial until then (0: none) */
    int8_t trial_from;                  /* the layer it came from */
    uint64_t settled_since;
    uint64_t ups, downs, failed_ups;
    uint64_t next_probe_us, probe_wait_us; /* asking the estimator for a probe */
};

/* A subscriber leg's downlink estimator (allocated with its first layered
 * track): every packet sent with a transport-wide number is recorded, the
 * leg's feedback, RR loss and RTT feed it, a timer ticks it, and probe
 * clusters (padding made of RTX of recently sent packets) let it find
 * capacity above what the chosen layers use. */
typedef struct rt_leg_bwe {
    hc_bwe_t *bwe;
    hc_timer_t tick, probe_timer;
    uint32_t layered; /* layered tracks on the leg */
    bool probing;
    uint32_t probe_bps;
    uint64_t probe_start, probe_bytes;
    uint32_t probe_pkts;
    uint8_t probe_back;
    uint32_t last_target;
    uint64_t falling_until; /* the estimate fell recently: congestion */
    uint64_t fb_packets;    /* feedback packets parsed */
} rt_leg_bwe_t;

struct hc_leg {
    hc_router_t *r;
    hc_addr_t addr;
    hc_srtp_t rx, tx;
    uint32_t idx;
    uint32_t rtcp_ssrc, relay_ssrc;
    bool used, has_addr, active;
    uint8_t rtt_src;   /* 0 unknown, 1 NACK->RTX, 2 LSR/DLSR */
    uint16_t twcc_seq; /* transport-wide numbers toward this leg */
    uint32_t rtt_us;
    void *owner;
    hc_instream_t *instreams; /* via next_in_leg */
    hc_track_t *tracks;       /* via next_in_leg */
    rt_leg_twcc_t *twcc;      /* publishing legs only */
    rt_leg_bwe_t *bwe;        /* legs with layered tracks only (added by downlink layers) */
    hc_timer_t report_timer, active_timer;
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t auth_fail, replay, rebinds, last_rx_us;
};

struct hc_instream {
    hc_leg_t *leg;
    hc_instream_t *next_in_leg;
    hc_track_t *tracks; /* fan-out list via src_prev/src_next */
    void *owner;
    uint32_t idx;
    hc_media_kind_t kind;
    uint32_t ssrc, rtx_ssrc, clock_rate;
    uint8_t pt, rtx_pt;
    bool used;
    /* sequence space */
    bool have_seq, have_bad;
    uint16_t max_seq, bad_seq;
    hc_seq_unwrap_t uw;
    int64_t highest_ext;
    hc_rxstats_t rx;
    hc_history_t hist;
    hc_nackgen_t nack;
    hc_nackgen_entry_t *nack_mem;
    hc_timer_t nack_timer, kf_timer;
    /* keyframe requests toward the publisher */
    uint64_t kf_last_us;
    bool kf_sent, kf_pending, kf_fir;
    uint8_t fir_seq;
    bool have_kf_ts;
    uint32_t kf_ts;
    /* last SR */
    bool have_sr;
    uint64_t sr_ntp, sr_arrival_us;
    uint32_t sr_rtp;
    /* RFC 6464 level */
    bool have_level;
    uint16_t level_q4;
    uint64_t level_us, voice_us;
    /* stats */
    uint64_t packets, bytes, recovered, nacks_sent, plis_sent, firs_sent, keyframes;
    int64_t lost;
    double loss;
    rt_rate_t rate;
    /* FlexFEC from the publisher */
    uint32_t fec_ssrc;
    rt_fec_in_t *fec;
    bool fec_seen;
    uint64_t fec_seen_us;
    uint64_t fec_rx, recovered_fec, fec_bad;
    /* downlink layers */
    uint64_t last_rx_us;  /* last original packet */
    rt_layers_t *pending; /* tracks waiting for this instream's keyframe */
};

struct hc_track {
    hc_leg_t *leg;
    hc_track_t *next_in_leg;
    hc_instream_t *src;
    hc_track_t *src_prev, *src_next;
    void *owner;
    uint32_t idx;
    hc_media_kind_t kind;
    uint32_t ssrc, rtx_ssrc, clock_rate;
    uint8_t pt, rtx_pt;
    bool used;
    /* rewriting */
    bool have_out, epoch, wait_kf, switching, have_fir_seq, sent_since_sr;
    uint8_t last_fir_seq;
    uint16_t seq_off, last_out_seq, rtx_seq;
    uint32_t ts_off, last_out_ts;
    int64_t epoch_first_ext;
    uint64_t last_out_us;
    /* SR */
    uint32_t sr_packets, sr_octets;
    uint32_t last_sr_mid;
    uint64_t last_sr_us;
    /* stats */
    uint64_t packets, bytes, nacks_received, rtx_sent, rtx_missed, plis_received, firs_received,
        switches, dropped_wait_kf, remb_bps;
    double loss, jitter_ms, rtt_ms;
    rt_rate_t rate;
    rt_fec_out_t *fec; /* FlexFEC toward the subscriber: with a fec_ssrc only */
    rt_layers_t *lay;  /* simulcast group, n >= 2 only (added by downlink layers) */
    uint32_t rr_ext;   /* highest sequence number of the last report block */
};

struct hc_router {
    hc_router_cfg_t cfg;
    hc_loop_t *loop;
    int fd;
    hc_pool_t *pool;
    hc_router_events_t ev;
    hc_leg_t *legs;
    hc_instream_t *ins;
    hc_track_t *trk;
    uint32_t *free_legs, *free_ins, *free_trk; /* stacks of free indices */
    uint32_t nfree_legs, nfree_ins, nfree_trk;
    hc_ssrcmap_t map;
    hc_udp_tx_t tx;
    uint8_t *slots; /* HC_UDP_TX_BATCH * HC_PKT_CAP, cache-line aligned */
    hc_loop_hook_t hook;
    hc_router_counters_t c;
    uint64_t rng;
    int64_t wall_off_us;   /* wall clock minus loop clock */
    hc_twcc_pkt_t *fbpkts; /* RT_BWE_FB_MAX: parsing subscribers' feedback */
};

/* router.c */
uint32_t rt_rand(hc_router_t *r);
uint64_t rt_now(const hc_router_t *r);
uint64_t rt_ntp(const hc_router_t *r, uint64_t now_us);
/* A rate's bit/s over its last window, 0 once it stopped (2 windows). */
uint32_t rt_rate_now(const rt_rate_t *rate, uint64_t now_us);
void rt_rate_add(rt_rate_t *rate, uint64_t bytes, uint64_t now_us);
/* The next send slot (flushes a full batch first). */
uint8_t *rt_tx_slot(hc_router_t *r);
/* Queue len bytes of slot toward leg; counts. */
bool rt_tx_queue(hc_router_t *r, hc_leg_t *leg, uint8_t *slot, uint32_t len);
/* Protect the RTCP compound in slot[0..len) with leg's send context and queue it. */
void rt_tx_rtcp(hc_router_t *r, hc_leg_t *leg, uint8_t *slot, size_t len);
/* Track of leg with this SSRC, or NULL. */
hc_track_t *rt_track_of(hc_router_t *r, hc_leg_t *leg, uint32_t ssrc);
hc_instream_t *rt_instream_of(hc_router_t *r, uint32_t ssrc);

/* router_rtp.c */
/* via: RT_VIA_MEDIA, RT_VIA_RTX or RT_VIA_FEC (rebuilt from FlexFEC). */
void rt_rtp_input(hc_router_t *r, hc_instream_t *s, int via, uint8_t *data, size_t len,
                  uint64_t now);
bool rt_h264_keyframe_start(const uint8_t *payload, size_t len);
void rt_track_unlink(hc_track_t *t);

/* router_fec.c */
/* Allocate the decoder / encoder for a new instream / track with fec_ssrc. */
int rt_fec_in_init(hc_instream_t *s);
int rt_fec_out_init(hc_track_t *t);
/* A repair packet from the publisher (plain, after SRTP). */
void rt_fec_input(hc_router_t *r, hc_instream_t *s, const uint8_t *data, size_t len, uint64_t now);
/* After an original arrived on s: rebuild what its held repair packets allow. */
void rt_fec_recover(hc_router_t *r, hc_instream_t *s, uint64_t now);
/* When a new gap on s may be NACKed upstream. */
uint64_t rt_fec_nack_due(const hc_router_t *r, const hc_instream_t *s, uint64_t now);
/* Add the plain packet t is about to send (rewritten, before SRTP) to its
 * FEC group; true when that completed the group: call rt_fec_send() once
 * the packet is queued. */
bool rt_fec_add(hc_track_t *t, const uint8_t *pkt, size_t len);
void rt_fec_send(hc_router_t *r, hc_track_t *t, uint32_t ts, uint64_t now);
/* A receiver report block about t: the AUTO decision. */
void rt_fec_on_report(hc_router_t *r, hc_track_t *t, uint64_t now);
/* Apply a policy (k for FIXED and OFF at once; AUTO at the next report). */
void rt_fec_set_policy(hc_track_t *t, const hc_fec_policy_t *p);

/* router_layers.c (added by downlink layers) */
/* A packet with transport-wide number seq, wire bytes (SRTP), went to leg. */
void rt_bwe_sent(hc_router_t *r, hc_leg_t *leg, uint16_t seq, size_t bytes, uint64_t now);
/* A subscriber's transport-wide feedback (the FCI). */
void rt_bwe_feedback(hc_router_t *r, hc_leg_t *leg, const uint8_t *fci, size_t len, uint64_t now);
/* A subscriber's report block about t (after t->loss was set). */
void rt_bwe_report(hc_router_t *r, hc_track_t *t, const void *rb, uint64_t now);
/* True while the leg's loss should count as congestion (FEC stays off). */
bool rt_bwe_congested(const hc_leg_t *leg, uint64_t now);
/* A keyframe of s starts: tracks waiting on it switch to it now (they
 * take this packet as the first of their new epoch). */
void rt_layers_promote(hc_router_t *r, hc_instream_t *s);
/* Detach t's layers (set_source, remove) and free them. */
void rt_layers_free(hc_router_t *r, hc_track_t *t);
/* s goes away: out of every group. */
void rt_layers_instream_gone(hc_router_t *r, hc_instream_t *s);
void rt_leg_bwe_free(hc_leg_t *leg);
/* Link t to src as its source (no keyframe wait logic). */
void rt_track_link(hc_track_t *t, hc_instream_t *src);
bool rt_send_rtx(hc_router_t *r, hc_track_t *t, uint16_t oseq, uint64_t now);

/* router_rtcp.c */
void rt_rtcp_input(hc_router_t *r, hc_leg_t *leg, const uint8_t *buf, size_t len, uint64_t now);
void rt_keyframe_request(hc_router_t *r, hc_instream_t *s, bool fir, uint64_t now);
void rt_keyframe_seen(hc_instream_t *s);
void rt_nack_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud);
void rt_nack_arm(hc_router_t *r, hc_instream_t *s, uint64_t due);
void rt_kf_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud);
void rt_report_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud);
void rt_twcc_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud);
/* An RTT measurement for leg; src 1 NACK->RTX, 2 LSR/DLSR (preferred). */
void rt_leg_rtt(hc_leg_t *leg, uint64_t rtt_us, uint8_t src);
/* Microseconds -> NTP Q32.32 duration. */
uint64_t rt_us_to_ntp(uint64_t us);

#endif
