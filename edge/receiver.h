/*
 * receiver.h - hc-edge's receive side for one track: packets from the
 * endpoint (RTX already unwrapped, FlexFEC already recovered, both marked
 * recovered) into a jitter buffer (proto/jbuf.h), whole frames out at
 * their playout time, depacketized (RFC 6184, proto/h264.h) and decoded on
 * the track's decoder thread (edge/vdec.h; Opus with libopus), then
 * handed to a sink (the playback stream) with the playout time as
 * presentation time.
 *
 * Repair: retransmission requests come from the jitter buffer
 * (hc_jbuf_nacks(): after the reorder wait, again every RTT, and never
 * once a retransmission could not arrive before the playout time of the
 * packet's frame), handed to the caller's nack callback from
 * hc_receiver_poll(), which sends them (hc_endpoint_send_nack(), the
 * track added with nack_by_caller so the endpoint's own generator stays
 * quiet). The jitter buffer runs with nack on so its delay leaves room
 * for the retransmission rounds the loss needs. PLI only when the jitter
 * buffer says a frame could not be completed (hc_jbuf_need_keyframe) or
 * the decoder refused a frame, at most once per RTT. Audio: RED (RFC 2198)
 * blocks fill holes before the jitter buffer sees them; a frame still
 * missing at its playout time is rebuilt from the next packet's in-band
 * FEC (RFC 6716 section 2.1.7, libopus decode_fec) when that packet is
 * already in the buffer, else concealed (libopus PLC).
 *
 * End-to-end delay: the abs-capture-time of a frame's packets against the
 * wall clock when its picture or sound leaves the decoder.
 *
 * Ownership: hc_receiver_new() allocates the packet store (one buffer per
 * jitter-buffer slot and a few more), the jitter buffer and the decoder
 * (and starts its thread when asked); destroy stops and frees everything.
 * Threading: everything on one thread (the media loop); the sink is
 * called on the decoder thread (or inside poll without a thread).
 */
#ifndef HC_EDGE_RECEIVER_H
#define HC_EDGE_RECEIVER_H

#include "proto/jbuf.h"
#include "relay/core/endpoint.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_RECEIVER_PT_RED 63 /* RED (RFC 2198) for Opus; outside 64..95 (RFC 5761 section 4) */

typedef struct hc_receiver hc_receiver_t;

typedef struct hc_receiver_sink {
    void *ud;
    /* A decoded picture (I420), shown at pts_us (hc_now_us() clock). */
    void (*video)(void *ud, const uint8_t *const plane[3], const int stride[3], int width,
                  int height, uint64_t pts_us);
    /* Decoded (or concealed) mono S16 samples at 48 kHz. */
    void (*audio)(void *ud, const int16_t *pcm, int samples, uint64_t pts_us);
} hc_receiver_sink_t;

typedef struct hc_receiver_cfg {
    bool video;
    uint32_t min_delay_ms; /* jitter buffer bounds (40, 300) */
    uint32_t max_delay_ms;
    bool nack;       /* retransmissions are asked for (through the nack callback) */
    bool thread;     /* decode on an own thread (false: inside poll, for tests) */
    uint8_t opus_pt; /* 111 */
    uint8_t red_pt;  /* HC_RECEIVER_PT_RED */
    hc_receiver_sink_t sink;
    /* (added by the edge polish) The jitter buffer's NACK list (sequence
     * numbers, oldest first), called from hc_receiver_poll() on its
     * thread; the caller sends it (hc_endpoint_send_nack()). NULL: the
     * list is only counted (jb.nacks_sent). */
    void (*on_nack)(void *ud, const uint16_t *seqs, size_t n, uint64_t now_us);
    void *nack_ud;
} hc_receiver_cfg_t;

typedef struct hc_receiver_stats {
    hc_jbuf_stats_t jb;
    uint64_t packets, bytes; /* handed in */
    uint64_t recovered;      /* of those, marked recovered (RTX, FEC) */
    uint64_t red_recovered;  /* audio frames rebuilt from RED blocks */
    uint64_t frames_out;     /* frames given to the decoder */
    uint64_t decoded;        /* pictures / audio frames out of the decoder */
    uint64_t decode_errors;
    /* decoded but not shown: captured no later than a picture already shown
     * (the first frames after the relay switched to a simulcast layer whose
     * encoder runs behind the old one's) */
    uint64_t stale_skipped;
    uint64_t concealed;     /* audio frames concealed (libopus PLC) */
    uint64_t fec_recovered; /* audio frames rebuilt from the next packet's in-band FEC */
    uint64_t queue_drops;   /* frames dropped because the decoder fell behind */
    uint64_t incomplete;    /* video frames the depacketizer found broken */
    uint64_t plis;          /* PLIs asked for */
    int width, height;      /* last picture */
    double delay_p50_ms;    /* end to end, over the samples since the previous call */
    uint64_t delay_samples; /* samples in that */
} hc_receiver_stats_t;

void hc_receiver_cfg_default(hc_receiver_cfg_t *cfg, bool video);

/* 0, -HC_EINVAL, -HC_ENOMEM, -HC_ECODEC (no decoder). */
int hc_receiver_new(hc_receiver_t **out, const hc_receiver_cfg_t *cfg);
void hc_receiver_destroy(hc_receiver_t **r);

/* A packet the endpoint delivered for this track. */
void hc_receiver_rtp(hc_receiver_t *r, const hc_ep_rx_t *rx, uint64_t now_us);

/* Release what is due to the decoder. Returns the absolute time it wants
 * to run again (UINT64_MAX: only after the next packet). */
uint64_t hc_receiver_poll(hc_receiver_t *r, uint64_t now_us);

/* True when a PLI should go out now (at most once per RTT, 200 ms at least). */
bool hc_receiver_want_pli(hc_receiver_t *r, uint64_t now_us);

void hc_receiver_on_rtt(hc_receiver_t *r, uint32_t rtt_us);

/* Stop the decoder's output (a removed track): what is queued is dropped. */
void hc_receiver_flush(hc_receiver_t *r);

void hc_receiver_stats(hc_receiver_t *r, hc_receiver_stats_t *out);

#endif
