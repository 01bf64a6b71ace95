/*
 * sender.h - hc-edge's send side on the media loop: from encoded frames to
 * paced RTP packets, and from the relay's feedback to what every encoder
 * should do next.
 *
 *   video AU  --packetize (RFC 6184 mode 1, proto/h264.h)--+
 *   Opus/RED  -------------------------------------------+--> pacer (proto/pacer.h)
 *        --> io.send (the endpoint: SRTP, history/RTX, transport-wide
 *            sequence number, abs-capture-time) --> hc_bwe_on_sent()
 *   RTCP from the relay: transport-wide feedback --> hc_bwe_on_feedback();
 *        receiver reports (RFC 3550 section 6.4.1) --> loss, jitter for the
 *        repair policy and the estimator's RR loss bound.
 *   every tick (100 ms) and whenever the estimate falls: the target, capped
 *        by the site budget, minus packet overhead, split across streams by
 *        the session profile (hc_ladder_allocate), each video share through
 *        its ladder (hc_ladder_update: rung, frame rate, stills, off), less
 *        FEC overhead, lowered further while the pacer's queue grows; the
 *        repair policy (proto/repair.h) for FEC group, RED level, Opus FEC
 *        and intra refresh; probe clusters when the estimator asks.
 *        Simulcast (several layers of one picture): the lower layers get
 *        their fixed rates first (they are what weak receivers get), the
 *        top layer the rest through its ladder, stopping when even its
 *        lowest rung does not fit.
 *
 * The sender does not own the endpoint: the caller gives an io callback
 * that sends one packet and tells which transport-wide sequence number it
 * carried, as the endpoint reported it (tests put a simulated link
 * there). Packets the endpoint sends on its own (RTX answers to NACKs,
 * from its `sent` event) are reported with hc_sender_note_sent() so the
 * estimator knows them. Probe clusters are filled with padding the io
 * builds (the endpoint's hc_endpoint_send_padding(): retransmissions of
 * recent packets, or RFC 3550 padding-only packets); a padding packet
 * smaller than asked is followed by more until the slot is filled.
 *
 * Ownership: hc_sender_new() allocates the packet pool, pacer and
 * estimator once; nothing is allocated per packet.
 * Threading: one thread (the media loop); encoders read targets through
 * the caller, which copies them across threads.
 */
#ifndef HC_EDGE_SENDER_H
#define HC_EDGE_SENDER_H

#include "proto/bwe.h"
#include "proto/ladder.h"
#include "proto/pacer.h"
#include "proto/repair.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_SENDER_MAX_STREAMS 8
#define HC_SENDER_VIDEO_MTU   1100 /* RTP payload: room for SRTP, extensions and FlexFEC's header */
#define HC_SENDER_MAX_PAYLOAD 1300
#define HC_SENDER_OVERHEAD    72 /* RTP 12 + extensions 16 + SRTP tag 16 + UDP/IPv4 28 */
#define HC_SENDER_TICK_US     100000

typedef struct hc_sender hc_sender_t;

/* A packet leaving the pacer. */
typedef struct hc_sender_out {
    int stream;             /* index from hc_sender_add(); -1 for padding */
    const uint8_t *payload; /* NULL for padding */
    size_t len;             /* payload bytes (padding: bytes wanted on the wire) */
    uint32_t ts;
    bool marker;
    bool keyframe; /* a packet of a keyframe */
    uint8_t pt;
    uint64_t capture_wall_us;
    bool has_level, voice;
    uint8_t level;
    bool probe;   /* part of a probe cluster */
    bool padding; /* probe padding: send if you can; *wire says how much went */
} hc_sender_out_t;

typedef struct hc_sender_io {
    void *ud;
    /* Send one packet now. Returns 0 with *twcc the transport-wide sequence
     * number it carried (-1 for none) and *wire its size on the wire, or a
     * negative -HC_E* code (padding may be refused with -HC_EUNSUPPORTED). */
    int (*send)(void *ud, const hc_sender_out_t *p, uint64_t now_us, int32_t *twcc, uint32_t *wire);
} hc_sender_io_t;

typedef struct hc_sender_cfg {
    hc_profile_t profile;
    uint32_t min_bps, start_bps, max_bps; /* estimator bounds (0: bwe.h defaults) */
    uint32_t budget_bps;                  /* site budget, 0 = none */
    uint32_t playout_budget_ms;           /* receivers' playout budget (300) */
    bool repair;                          /* false: no FEC, RED, Opus FEC, intra refresh */
    size_t pool;                          /* packet buffers (0: 2048) */
    hc_sender_io_t io;
} hc_sender_cfg_t;

typedef struct hc_sender_stream_cfg {
    bool video;
    hc_stream_role_t role;
    uint32_t ssrc;          /* to read the relay's report blocks about it */
    uint8_t pt;             /* payload type of the media */
    int width, height, fps; /* top rung (video) */
    uint32_t max_bps;       /* 0: from the role */
    /* added by downlink adaptation (simulcast): layer 1..3 makes this
     * stream a lower layer of video stream `top` (an index hc_sender_add()
     * returned): sent at width x height and fps as given, at the fixed rate
     * max_bps (required), no ladder; lower layers take their rates from
     * the estimate before every other stream but audio's floor, the lowest
     * layer first. A stream with lower layers keeps only its rungs larger
     * than its layer 1 and at 15 fps or more, and stops (target off, no
     * frames) below the last of them; the ladder's hysteresis brings it
     * back, with a keyframe. 0: a stream of its own, as before. */
    int layer;
    int top;
} hc_sender_stream_cfg_t;

/* What a stream's encoder should do now. */
typedef struct hc_sender_target {
    uint32_t bitrate_bps; /* encoder rate (payload); 0 when off */
    int width, height, fps;
    bool stills;
    uint32_t still_interval_ms;
    bool off;
    bool intra_refresh;
    uint8_t fec_k; /* FlexFEC group (0: off) */
    uint8_t red_level;
    bool opus_fec;
    uint8_t opus_loss_pct;
    uint32_t keyframe_gen; /* grows when a keyframe is wanted (pacer drop, link back) */
    uint32_t rung_gen;     /* grows with every rung change */
} hc_sender_target_t;

typedef struct hc_sender_stream_stats {
    uint64_t frames, keyframes, packets, bytes; /* queued media (payload bytes) */
    uint64_t sent_packets, sent_bytes;          /* left the pacer (wire bytes) */
    uint64_t dropped_pacer;                     /* video packets the pacer dropped */
    uint64_t dropped_full;                      /* refused: no buffer / queue full */
    uint32_t share_bps;                         /* allocated */
    /* added by downlink adaptation: times the stream stopped (target off)
     * and started again */
    uint64_t stops, resumes;
} hc_sender_stream_stats_t;

typedef struct hc_sender_stats {
    hc_bwe_state_t bwe;
    uint32_t target_bps; /* estimate, capped by the budget */
    uint64_t queue_us;   /* pacer queue delay */
    double rr_loss;      /* smoothed fraction lost from receiver reports */
    double rr_jitter_ms;
    uint32_t rtt_us;
    bool link_up; /* RTCP from the relay within the last 2 s */
    uint64_t feedbacks, rtcp;
    uint64_t padding_sent, padding_refused;
    uint64_t probes;
    hc_repair_out_t repair;
} hc_sender_stats_t;

void hc_sender_cfg_default(hc_sender_cfg_t *cfg);

/* 0, -HC_EINVAL, -HC_ENOMEM. */
int hc_sender_new(hc_sender_t **out, const hc_sender_cfg_t *cfg, uint64_t now_us);
void hc_sender_destroy(hc_sender_t **s);

/* Add a stream: its index (>= 0), or -HC_EFULL / -HC_EINVAL. */
int hc_sender_add(hc_sender_t *s, const hc_sender_stream_cfg_t *cfg);
/* A new SSRC for stream idx (after a rejoin). */
void hc_sender_set_ssrc(hc_sender_t *s, int idx, uint32_t ssrc);

/* Queue one encoded access unit (Annex-B) of video stream idx with RTP
 * timestamp ts (90 kHz). Returns packets queued, or -HC_EINVAL,
 * -HC_EMALFORMED (not Annex-B), -HC_EFULL (out of buffers: the frame is
 * dropped whole and a keyframe is asked for). */
int hc_sender_video(hc_sender_t *s, int idx, const uint8_t *au, size_t len, uint32_t ts,
                    bool keyframe, uint64_t capture_wall_us, uint64_t now_us);

/* Queue one audio payload (Opus, or RED with its payload type). */
int hc_sender_audio(hc_sender_t *s, int idx, const uint8_t *payload, size_t len, uint32_t ts,
                    uint8_t pt, uint8_t level, bool voice, uint64_t capture_wall_us,
                    uint64_t now_us);

/* An authenticated RTCP compound from the relay (the endpoint's rtcp
 * callback). */
void hc_sender_on_rtcp(hc_sender_t *s, const uint8_t *rtcp, size_t len, uint64_t now_us);

/* A packet the endpoint sent by itself (an RTX answering a NACK) with
 * transport-wide sequence number twcc, wire bytes on the wire (headers
 * included); probe when it belongs to a probe cluster. */
void hc_sender_note_sent(hc_sender_t *s, uint16_t twcc, uint32_t wire, bool probe, uint64_t now_us);

/* Round-trip time (from the endpoint's report blocks). */
void hc_sender_set_rtt(hc_sender_t *s, uint32_t rtt_us);
void hc_sender_set_budget(hc_sender_t *s, uint32_t bps);

/* Send what the pacer releases, run the tick when due. Returns the time
 * (absolute, now_us's clock) at which it wants to run again. */
uint64_t hc_sender_poll(hc_sender_t *s, uint64_t now_us);

/* Drop everything queued (a pause or a new leg): the next frames start
 * fresh, each video stream's keyframe_gen grows. A new leg also restarts
 * the transport-wide numbering: pass reset_bwe to start the estimator
 * again at its current target. */
void hc_sender_flush(hc_sender_t *s, bool reset_bwe, uint64_t now_us);

void hc_sender_target(const hc_sender_t *s, int idx, hc_sender_target_t *out);
/* Ask for a keyframe on stream idx (keyframe_gen grows); ignored in
 * stills mode, where every still is one. */
void hc_sender_want_keyframe(hc_sender_t *s, int idx);

void hc_sender_stats(const hc_sender_t *s, hc_sender_stats_t *out, uint64_t now_us);
void hc_sender_stream_stats(const hc_sender_t *s, int idx, hc_sender_stream_stats_t *out);

/* Build the ladder configuration of a video stream of this role in this
 * profile whose top rung is width x height at fps (exposed for tests). */
void hc_sender_ladder_cfg(hc_profile_t profile, hc_stream_role_t role, int width, int height,
                          int fps, hc_ladder_cfg_t *out);

#endif
