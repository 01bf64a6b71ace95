/*
 * aenc.h - hc-edge's audio encoder: 48 kHz S16 samples in (any chunk
 * size, any channel count: mixed down to mono, the classroom and clinic
 * carry speech), 20 ms Opus packets out (RFC 7587: 48 kHz RTP clock), with
 * what the repair policy (proto/repair.h) asks for:
 *   - in-band FEC (RFC 6716 section 2.1.7, LBRR) and the expected loss
 *     (OPUS_SET_INBAND_FEC, OPUS_SET_PACKET_LOSS_PERC);
 *   - DTX (RFC 6716 section 2.1.9, OPUS_SET_DTX): in silence libopus
 *     codes a frame in 1-2 bytes (a TOC alone), which RFC 7587 section 3.1.3
 *     lets the sender leave out; those are not sent, the RTP timestamp of
 *     the next packet simply jumps, and a comfort-noise update still comes
 *     every 400 ms;
 *   - RED (RFC 2198): each packet can repeat the previous one or two Opus
 *     frames, built here as the RED payload next to the plain one;
 *   - the RFC 6464 audio level of every frame (-dBov) and a voice flag.
 * libopus directly rather than through libavcodec: FFmpeg 5.1's wrapper
 * has no DTX option and takes bitrate, FEC and loss only when opened (a
 * reopen per change), while opus_encoder_ctl() changes them between two
 * frames; the receiver (receiver.h) needs libopus' decode_fec anyway.
 *
 * Ownership: hc_aenc_new() allocates; packets handed to the callback are
 * valid during the callback only.
 * Threading: one encoder per thread (the capture thread of the audio
 * source, which a 20 ms Opus encode does not hold up).
 */
#ifndef HC_EDGE_AENC_H
#define HC_EDGE_AENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_AENC_FRAME      960 /* 20 ms at 48 kHz */
#define HC_AENC_MAX_PACKET 1275
/* RED payload: two redundant blocks of up to 1023 bytes and the primary. */
#define HC_AENC_MAX_RED (4 + 4 + 1 + 2 * 1023 + HC_AENC_MAX_PACKET)

typedef struct hc_aenc hc_aenc_t;

typedef struct hc_aenc_cfg {
    uint32_t bitrate_bps; /* 32000 */
    bool fec;             /* Opus in-band FEC (takes effect with loss_pct > 0) */
    bool dtx;             /* discontinuous transmission in silence (on) */
    uint8_t loss_pct;     /* expected loss told to Opus, 0..100 */
    uint8_t red_level;    /* redundant frames per RED packet, 0..2 */
    uint8_t opus_pt;      /* payload type named in the RED block headers */
} hc_aenc_cfg_t;

/* One encoded 20 ms frame. */
typedef struct hc_aenc_pkt {
    const uint8_t *opus; /* the Opus packet */
    size_t opus_len;
    const uint8_t *red; /* RED payload (redundant blocks + this frame), NULL when red_level 0 */
    size_t red_len;
    uint32_t ts;      /* RTP timestamp, 48 kHz, from 0 */
    uint64_t pts_us;  /* capture time of the frame's first sample (monotonic) */
    uint64_t wall_us; /* the same on the wall clock */
    uint8_t level;    /* RFC 6464: 0 (loud) .. 127 (silence), -dBov */
    bool voice;
} hc_aenc_pkt_t;

typedef void (*hc_aenc_fn)(void *ud, const hc_aenc_pkt_t *p);

typedef struct hc_aenc_stats {
    uint64_t frames, bytes, red_packets;
    uint64_t changes;     /* settings applied to the running encoder */
    uint64_t dtx_skipped; /* silent frames not sent (DTX) */
} hc_aenc_stats_t;

void hc_aenc_cfg_default(hc_aenc_cfg_t *cfg);

/* 0, -HC_EINVAL, -HC_ENOMEM, -HC_ECODEC (libopus refused) with err. */
int hc_aenc_new(hc_aenc_t **out, const hc_aenc_cfg_t *cfg, char *err, size_t errcap);
void hc_aenc_destroy(hc_aenc_t **a);

/* New settings, applied to the running encoder before the next frame
 * (no reopen, no glitch). 0 or -HC_EINVAL. */
int hc_aenc_set(hc_aenc_t *a, const hc_aenc_cfg_t *cfg);
void hc_aenc_get(const hc_aenc_t *a, hc_aenc_cfg_t *out);

/* Feed samples (interleaved S16, channels >= 1) captured at pts_us/wall_us
 * (of the first sample). Every complete 20 ms frame is encoded and handed
 * to fn. Returns frames encoded (>= 0) or -HC_EINVAL / -HC_ECODEC. */
int hc_aenc_push(hc_aenc_t *a, const int16_t *pcm, int samples, int channels, uint64_t pts_us,
                 uint64_t wall_us, hc_aenc_fn fn, void *ud);

/* Skip ahead after a gap in the input (the capture restarted): the next
 * frame's timestamp continues from the samples that would have been. */
void hc_aenc_skip(hc_aenc_t *a, uint32_t samples);

void hc_aenc_stats(const hc_aenc_t *a, hc_aenc_stats_t *out);

/* RFC 6464 level (-dBov, 0..127) of mono samples. */
uint8_t hc_aenc_level(const int16_t *pcm, int n);

#endif
