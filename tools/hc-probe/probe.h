/*
 * probe.h - a scripted Hillcast participant: joins a session over
 * signaling (edge/sigclient.h), publishes synthetic or real media and/or
 * receives and checks what the relay sends, on one media endpoint
 * (relay/core/endpoint.h) driven by an hc_loop_t.
 *
 * hc-probe (main.c) runs one; hc-bench and tests can run several on one
 * loop. What a receiving probe measures per track: packets, loss before
 * repair (sequence numbers found missing) and after (given up), packets
 * recovered by RTX, sequence continuity of what was delivered (a source
 * switch must not look like a jump), access units depacketized
 * (proto/h264.h) and, with real media, pictures decoded by libavcodec and
 * Opus frames decoded, and the end-to-end delay from the abs-capture-time
 * extension (sender and receiver share the machine's wall clock on
 * loopback; across machines it includes their clock offset).
 *
 * Publishing: video at the configured bit rate as synthetic H.264-shaped
 * payloads (synth.h) or real H.264 from libx264 (codec.h), keyframe every
 * 2 s and on PLI/FIR; audio as 20 ms Opus packets (synthetic or libopus),
 * with the RFC 6464 level extension (voice flagged) so a conference relay
 * can pick speakers.
 *
 * Floor scripting (class): a probe may raise its hand after joining; a
 * host probe may grant the floor to the first raised hand after a delay
 * and revoke it later. Everything the relay says is logged with a time
 * stamp when verbose.
 *
 * Ownership: hc_probe_new() copies the configuration strings; the probe
 * owns its signaling client, endpoint and codecs until hc_probe_destroy().
 * Threading: everything on the loop's thread, except that hc_probe_new()
 * blocks on signaling (call it before running the loop, or from the loop
 * thread when a stall of a round trip is acceptable). The signaling
 * client's thread only posts messages to the loop.
 */
#ifndef HC_PROBE_PROBE_H
#define HC_PROBE_PROBE_H

#include "proto/sig.h"
#include "relay/core/addr.h"
#include "relay/core/endpoint.h"
#include "relay/core/loop.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hc_probe hc_probe_t;

typedef enum hc_probe_media { HC_PROBE_SYNTHETIC = 0, HC_PROBE_H264 = 1 } hc_probe_media_t;

typedef struct hc_probe_cfg {
    const char *url;     /* ws://host:port */
    const char *token;   /* hello token */
    const char *ca_file; /* wss: pinned certificate, NULL = insecure */
    const char *create;  /* "class", "consult", "conference" or NULL: join only */
    const char *session;
    const char *site; /* display name */
    const char *name; /* label in reports; NULL: site */
    bool pub_video, pub_audio;
    bool subscribe;
    hc_probe_media_t media;
    uint32_t video_bps;    /* 1500000 */
    uint32_t audio_bps;    /* 32000 */
    uint32_t fps;          /* 30 */
    uint32_t width;        /* 640 (real H.264) */
    uint32_t height;       /* 360 */
    uint32_t mtu;          /* RTP payload limit, 1200 */
    uint32_t reorder_ms;   /* in-order delivery wait for repairs (300) */
    bool decode;           /* decode received H.264/Opus (default: media == H264) */
    const char *media_via; /* "ip:port": send media there (an hc-impair) instead */
    bool raise_hand;
    int64_t grant_after_ms;     /* host: grant the floor to the first raised hand; < 0 never */
    int64_t revoke_after_ms;    /* host: revoke it this long after granting; < 0 never */
    uint8_t audio_level;        /* RFC 6464 level we claim, 0 loudest .. 127 silence (30) */
    uint32_t max_sites, last_n; /* for create; 0 = relay default */
    const char *suite;          /* "gcm" (default) or "aes-cm" */
    bool verbose;               /* log signaling events to log */
    FILE *log;                  /* NULL: stderr */
} hc_probe_cfg_t;

void hc_probe_cfg_default(hc_probe_cfg_t *cfg);

/* Connect, hello, create (if asked), join, then set up the endpoint on loop
 * and start media. Blocks for the signaling round trips. 0 or -HC_E* with
 * a message in err. */
int hc_probe_new(hc_probe_t **out, const hc_probe_cfg_t *cfg, hc_loop_t *loop, char *err,
                 size_t errcap);

/* Send leave, stop media, close, free; *p = NULL. Not while the loop runs
 * a callback of this probe. */
void hc_probe_destroy(hc_probe_t **p);

/* The probe stopped by itself (kicked, session closed, signaling lost). */
bool hc_probe_done(const hc_probe_t *p);

hc_endpoint_t *hc_probe_endpoint(hc_probe_t *p);
const char *hc_probe_participant(const hc_probe_t *p);

/* Ask the relay for a floor change / hand (fire and forget). */
int hc_probe_raise_hand(hc_probe_t *p);
int hc_probe_grant_floor(hc_probe_t *p, const char *participant);
int hc_probe_revoke_floor(hc_probe_t *p);

/* Per-track results so far. */
typedef struct hc_probe_track_result {
    char mid[33];
    char from[65]; /* participant it carries now, "" when none */
    bool video;
    uint32_t ssrc;
    uint64_t packets, expected, missing, recovered, rtx, lost, duplicates;
    uint64_t delivered, seq_jumps, skipped;
    uint64_t frames, frames_complete, keyframes; /* depacketized access units */
    uint64_t decoded, decode_errors;             /* pictures or audio frames */
    uint64_t plis;
    int64_t last_frame_no; /* frame number read from the last picture/slice */
    double delay_p50_ms, delay_p95_ms, delay_max_ms;
    uint64_t delay_samples;
    double kbps; /* over the last second */
} hc_probe_track_result_t;

/* Number of tracks (also the ones removed, kept for the report). */
size_t hc_probe_track_count(const hc_probe_t *p);
void hc_probe_track_result(hc_probe_t *p, size_t i, hc_probe_track_result_t *out);

/* Counters of what the probe published. */
typedef struct hc_probe_pub_result {
    uint64_t video_frames, video_packets, keyframes, audio_packets;
    uint64_t plis, rtx_sent, nacks_rx;
    double rtt_ms;
} hc_probe_pub_result_t;
void hc_probe_pub_result(hc_probe_t *p, hc_probe_pub_result_t *out);

/* Signaling facts for scripts and tests. */
typedef struct hc_probe_sig_result {
    uint64_t floor_events, hand_events, tracks_events, errors, alarms;
    char floor[65]; /* current floor holder, "" = none */
    bool kicked, closed;
} hc_probe_sig_result_t;
void hc_probe_sig_result(hc_probe_t *p, hc_probe_sig_result_t *out);

/* One line per track (and one for publishing) in human form. */
void hc_probe_print(hc_probe_t *p, FILE *out);
/* The live line: bitrate, loss before/after repair, frames, delay. */
void hc_probe_print_live(hc_probe_t *p, FILE *out, double t_s);
/* One JSON object (no newline). */
void hc_probe_print_json(hc_probe_t *p, FILE *out);

/* ---- helpers shared with hc-bench ---- */

/* Host part of a ws:// or wss:// URL ("127.0.0.1", "::1"). 0 or -HC_EINVAL. */
int hc_probe_url_host(const char *url, char *host, size_t cap);
/* Where to send media for a joined reply: via when set, else media.host (or
 * the URL's host) and media.port, resolved numerically. 0 or -HC_EINVAL. */
int hc_probe_media_addr(const char *url, const hc_sig_joined_t *j, const char *via, hc_addr_t *out);
/* Fill an endpoint configuration's suite, keys and rtcp_ssrc from joined.
 * 0 or -HC_EMALFORMED (bad key). */
int hc_probe_endpoint_keys(const hc_sig_joined_t *j, hc_endpoint_cfg_t *cfg);

#endif
