/*
 * media.h - hc-edge's media engine: everything between the capture sources
 * and the relay, and between the relay and the screens, for one joined
 * session. The signaling side (edge/session.c) creates it from the `joined`
 * reply and feeds it the changes signaling brings (`tracks`, `budget`, a
 * rejoin with fresh keys after a reconnect).
 *
 * Send path, per published stream:
 *   capture (capture.h) -> encoder thread: scale (libswscale) to the rung
 *   the ladder chose (proto/ladder.h), stamp the frame number (test
 *   source), encode with libavcodec libx264 (zerolatency, no B-frames,
 *   bitrate changed in place without a keyframe; a new rung or frame rate
 *   restarts the encoder at a keyframe; periodic intra refresh instead of
 *   big keyframes on thin links) or Opus (libopus: in-band FEC, DTX, expected
 *   loss from the repair policy; RED, RFC 2198, when the policy says so)
 *   -> packetize (proto/h264, proto/red) -> the media loop: pacer
 *   (proto/pacer.h) -> endpoint (relay/core/endpoint.h: SRTP, send history
 *   and RTX for NACKs, transport-wide sequence numbers, abs-capture-time) and
 *   FlexFEC (proto/fec.h) when the repair policy (proto/repair.h) turns it on.
 *   Transport-wide feedback and receiver reports drive the bandwidth
 *   estimator (proto/bwe.h) every 200 ms or faster; its target, capped by the
 *   site budget, is split across streams by the session profile
 *   (hc_ladder_allocate): class keeps the teacher's frame rate last; consult
 *   keeps audio first, drops the face camera before the diagnostic one,
 *   keeps the diagnostic resolution and lowers its frame rate, and below a
 *   floor sends full-resolution stills every few seconds, reliably (resent
 *   until acknowledged by the relay's receiver report / NACK silence).
 *   An H.264 source (RTSP camera) is forwarded as is while the target allows
 *   its bitrate, and decoded + re-encoded when it must go lower.
 *   Simulcast: lower layers of a video stream (hc_edge_pub_cfg_t.layer) get
 *   the same captured pictures, each scaled and encoded on its own thread,
 *   sent with their own SSRCs through the same pacer and estimator.
 *
 * Receive path, per received track (joined.receive / `tracks`):
 *   endpoint -> FlexFEC recovery -> jitter buffer (proto/jbuf.h: delay from
 *   measured jitter and RTT within bounds, NACKs timed by RTT) -> H.264
 *   depacketizer -> libavcodec decoder (on its own thread) -> playback
 *   (playback.h) at the render time; PLI only when a frame cannot be
 *   completed; audio: Opus decode with PLC/in-band FEC for lost packets
 *   (concealment counted). Per-track statistics below.
 *
 * Staying up: when the uplink drops the engine keeps its state, keeps
 * capturing at the live edge (old frames are dropped, never queued), and
 * resumes sending within 2 s of the link's return; keepalives (RTCP) keep the
 * carrier NAT mapping open. hc_edge_media_rekey() switches to a new leg
 * (new keys/SSRCs after a rejoin) without restarting capture or encoders.
 *
 * Ownership: hc_edge_media_new() allocates; destroy stops every thread and
 * frees. Threading: all functions here are called from the session's thread
 * (any single thread); internally a media loop thread (hc_loop_t) owns the
 * endpoint, pacer and estimator, and encoder/decoder threads post to it.
 */
#ifndef HC_EDGE_MEDIA_H
#define HC_EDGE_MEDIA_H

#include "proto/ladder.h"
#include "proto/srtp.h"
#include "relay/core/addr.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_edge_media hc_edge_media_t;

typedef enum hc_edge_kind { HC_EDGE_AUDIO = 1, HC_EDGE_VIDEO = 2 } hc_edge_kind_t;

/* What the relay told us in `joined` (media + our assigned SSRCs). */
typedef struct hc_edge_leg {
    hc_addr_t relay; /* media address (host:port) */
    hc_srtp_suite_t suite;
    uint8_t key_up[HC_SRTP_MAX_KEY_LEN];   /* we protect with it */
    uint8_t key_down[HC_SRTP_MAX_KEY_LEN]; /* the relay protects with it */
    uint32_t rtcp_ssrc;
} hc_edge_leg_t;

typedef struct hc_edge_media_cfg {
    hc_edge_leg_t leg;
    hc_profile_t profile;                    /* class / consult / conference */
    uint32_t min_kbps, start_kbps, max_kbps; /* estimator bounds for the whole uplink */
    uint32_t budget_kbps;                    /* site budget from the relay, 0 = none */
    uint32_t playout_budget_ms;              /* receive target upper bound (300) */
    uint32_t jitter_min_ms, jitter_max_ms;
    bool repair;            /* NACK/RTX/FEC/RED on (benchmarks turn it off) */
    const char *video_sink; /* playback.h: "auto", "headless", or a pipeline */
    const char *audio_sink;
    const char *record_dir; /* local recording of what we send, NULL = off */
    /* added by the edge polish: the session, in recording file names
     * (edge/record.h); NULL: "hc-edge" */
    const char *record_name;
} hc_edge_media_cfg_t;

void hc_edge_media_cfg_default(hc_edge_media_cfg_t *cfg);

/* A stream we publish. The SSRCs are the relay's (joined.streams). */
typedef struct hc_edge_pub_cfg {
    const char *mid;
    hc_edge_kind_t kind;
    hc_stream_role_t role; /* ladder.h: teacher video, diagnostic, face, audio, ... */
    const char *pipeline;  /* capture.h description (presets expanded) */
    uint32_t ssrc, rtx_ssrc, fec_ssrc;
    uint32_t max_kbps;      /* 0: from the role */
    int width, height, fps; /* top rung; 0: from the source */
    /* added by downlink adaptation (simulcast): layer 1..3 publishes a
     * lower layer of the video stream published earlier with mid
     * layer_of: no pipeline of its own, the same captured pictures scaled
     * to width x height (0: the top's halved per layer), its own encoder,
     * SSRCs and send history, sent at the fixed rate max_kbps (0: 300 for
     * layer 1, 120 below) taken from the uplink estimate before the top's
     * share; the top stops while the rest does not fit. 0: a stream of its
     * own. */
    int layer;
    const char *layer_of;
} hc_edge_pub_cfg_t;

/* A stream we receive (joined.receive / tracks). */
typedef struct hc_edge_recv_cfg {
    const char *mid;
    const char *label; /* participant / site shown with it */
    hc_edge_kind_t kind;
    uint32_t ssrc, rtx_ssrc, fec_ssrc;
} hc_edge_recv_cfg_t;

int hc_edge_media_new(hc_edge_media_t **out, const hc_edge_media_cfg_t *cfg, char *err,
                      size_t errcap);
void hc_edge_media_destroy(hc_edge_media_t **m);

int hc_edge_media_publish(hc_edge_media_t *m, const hc_edge_pub_cfg_t *p, char *err, size_t errcap);
/* Replace the set of received tracks (matching by ssrc keeps a track's
 * state; new ones start; missing ones stop). */
int hc_edge_media_receive(hc_edge_media_t *m, const hc_edge_recv_cfg_t *r, size_t n);
int hc_edge_media_start(hc_edge_media_t *m);
void hc_edge_media_set_budget(hc_edge_media_t *m, uint32_t kbps);
/* A new leg after a rejoin: keys, relay address, SSRCs (same order as the
 * publish calls). Capture and encoders keep running; the next frames are
 * sent at the live edge with a keyframe. */
int hc_edge_media_rekey(hc_edge_media_t *m, const hc_edge_leg_t *leg, const uint32_t *ssrcs,
                        const uint32_t *rtx_ssrcs, const uint32_t *fec_ssrcs, size_t n);
/* Pause sending (the signaling connection is down and we rejoin) without
 * stopping capture. */
void hc_edge_media_pause(hc_edge_media_t *m, bool paused);

typedef struct hc_edge_pub_stats {
    char mid[33];
    uint32_t target_bps, sent_bps;
    int width, height, fps; /* current rung */
    bool stills, stopped;   /* consult stills mode; dropped by the profile */
    int layer;              /* added by downlink adaptation: simulcast layer (0: top) */
    uint64_t stops;         /* added by downlink adaptation: times it stopped */
    uint64_t frames, keyframes, plis, nacks, rtx, fec_packets;
} hc_edge_pub_stats_t;

typedef struct hc_edge_recv_stats {
    char mid[33], label[65];
    int width, height;
    uint32_t bitrate_bps;
    double loss_before, loss_after; /* fractions, over the last interval */
    uint64_t frames_on_time, frames_late, frames_lost, freezes;
    uint64_t audio_concealed;
    double delay_ms; /* end to end, from abs-capture-time, p50 over the interval */
    double jitter_buffer_ms;
    uint64_t stamp_ok, stamp_bad; /* test-source frame numbers checked */
} hc_edge_recv_stats_t;

typedef struct hc_edge_stats {
    uint32_t estimate_bps, budget_bps;
    double rtt_ms, uplink_loss;
    bool link_up; /* feedback from the relay within the last 2 s */
    size_t n_pub, n_recv;
    hc_edge_pub_stats_t pub[8];
    hc_edge_recv_stats_t recv[24];
} hc_edge_stats_t;

/* A snapshot; interval figures cover the time since the previous call. */
void hc_edge_media_stats(hc_edge_media_t *m, hc_edge_stats_t *out);

#endif
