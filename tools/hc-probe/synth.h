/*
 * synth.h - synthetic media for load tests: RTP payloads that look like
 * H.264 (RFC 6184) and Opus (RFC 7587) to everything that inspects them
 * without decoding, at a chosen bit rate and packet size.
 *
 * hc-probe --synthetic and hc-bench use it where the cost of a real
 * encoder would distort a measurement. A relay that waits for a keyframe
 * before forwarding video, or that checks payload framing, sees the same
 * things it would see from a real encoder:
 *   video  one access unit per frame; a keyframe starts with a STAP-A
 *          (RFC 6184 section 5.7.1) holding an SPS and a PPS, then the IDR
 *          slice (type 5) as FU-A fragments (section 5.8); other frames are
 *          a non-IDR slice (type 1) as FU-A fragments; the marker bit is on
 *          the last packet of the frame (section 5.1). The slice bytes carry
 *          the frame number, so a receiver can check what it got.
 *   audio  one Opus packet per 20 ms: TOC byte config 31 (CELT fullband
 *          20 ms, RFC 6716 section 3.1), code 0, mono, then filler bytes.
 * The SPS/PPS and slice bytes are not decodable H.264: a decoder rejects
 * them, which is fine for load.
 *
 * Ownership: plain values; payloads are written into caller buffers.
 * Threading: one generator per thread.
 */
#ifndef HC_PROBE_SYNTH_H
#define HC_PROBE_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_SYNTH_MAX_PKTS 64

/* One RTP payload of a frame: bytes at buf + off. */
typedef struct hc_synth_pkt {
    size_t off, len;
    bool marker;
} hc_synth_pkt_t;

typedef struct hc_synth_video {
    uint32_t fps;         /* frames per second */
    uint32_t frame_bytes; /* payload bytes per frame (bitrate / 8 / fps) */
    uint32_t mtu;         /* largest RTP payload */
    uint32_t gop;         /* frames between keyframes (0: only on request) */
    uint32_t frame;       /* frames made so far */
    bool force_key;       /* next frame is a keyframe */
} hc_synth_video_t;

/* bitrate_bps of video at fps with payloads of at most mtu bytes. */
void hc_synth_video_init(hc_synth_video_t *v, uint32_t bitrate_bps, uint32_t fps, uint32_t mtu,
                         uint32_t gop);

/* Make the next frame's payloads into buf (cap bytes): fills pkts[0..n).
 * Returns n (>= 1), or -HC_ENOSPC when buf or HC_SYNTH_MAX_PKTS is too
 * small. *key tells whether it was a keyframe. RTP timestamp for the frame:
 * frame * 90000 / fps (see hc_synth_video_ts). */
int hc_synth_video_frame(hc_synth_video_t *v, uint8_t *buf, size_t cap, hc_synth_pkt_t *pkts,
                         bool *key);

/* RTP timestamp (90 kHz) of frame number f. */
uint32_t hc_synth_video_ts(const hc_synth_video_t *v, uint32_t f);

/* The frame number a synthetic slice payload carries (FU-A start or
 * single slice), or -1 when the payload is not one of ours. */
int64_t hc_synth_video_frame_no(const uint8_t *payload, size_t len);

/* One 20 ms Opus-framed packet of `bytes` bytes (>= 2) into buf; returns
 * its length or -HC_ENOSPC. The RTP timestamp advances 960 per packet. */
int hc_synth_audio_packet(uint32_t n, uint32_t bytes, uint8_t *buf, size_t cap);

#endif
