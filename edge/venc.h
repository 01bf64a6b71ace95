/*
 * venc.h - hc-edge's video encoder: one I420 picture in, one H.264 access
 * unit (Annex-B, RFC 6184 packetization is proto/h264.h's job) out.
 *
 * The picture is scaled with libswscale to the rung the ladder chose
 * (proto/ladder.h), a caller hook may draw on the scaled picture (the
 * frame-number stamp of the test source), and libavcodec's libx264 wrapper
 * encodes it: preset veryfast, tune zerolatency (no lookahead, no
 * B-frames), baseline profile, SPS/PPS repeated before every keyframe,
 * Annex-B output, no global header.
 *
 * Rate: hc_venc_set_bitrate() changes bit_rate, rc_max_rate and
 * rc_buffer_size on the open codec context between two pictures; FFmpeg's
 * libx264 wrapper compares them with x264's parameters before every
 * picture and calls x264_encoder_reconfig() in place (reconfig_encoder()
 * in libavcodec/libx264.c), so the rate follows the estimator without a
 * keyframe. Size, frame rate and intra refresh are not reconfigurable in
 * place: hc_venc_reconfigure() reopens the encoder, whose next picture is
 * then a keyframe. Intra refresh (x264 intra-refresh: a column of intra
 * macroblocks sweeping the picture every keyint frames) replaces periodic
 * keyframes on thin links; a keyframe is still made when asked for
 * (hc_venc_request_keyframe(), e.g. for a PLI).
 *
 * Ownership: hc_venc_new() allocates the codec, scaler and picture; the
 * access unit returned by hc_venc_encode() stays valid until the next
 * encode, reconfigure or destroy.
 * Threading: one encoder per thread (the edge's encoder thread); not
 * thread-safe.
 */
#ifndef HC_EDGE_VENC_H
#define HC_EDGE_VENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_venc hc_venc_t;

typedef struct hc_venc_cfg {
    int width, height, fps; /* output picture and frame rate (even sizes) */
    uint32_t bitrate_bps;
    bool intra_refresh;  /* periodic intra refresh instead of periodic keyframes */
    uint32_t keyint_ms;  /* keyframe (or refresh wave) period; 0: 4000 (refresh: 1000) */
    uint32_t vbv_ms;     /* rate-control buffer as time at the bitrate; 0: 500 */
    const char *preset;  /* x264 preset; NULL: "veryfast" */
    const char *profile; /* NULL: "baseline" */
    int threads;         /* 0: 1 */
    int qp;              /* 1..51: constant quantizer, no rate control (edge/still.h);
                          * 0: the bitrate above */
} hc_venc_cfg_t;

/* An input picture (I420 planes, borrowed for the call). */
typedef struct hc_venc_pic {
    const uint8_t *plane[3];
    int stride[3];
    int width, height;
} hc_venc_pic_t;

/* Called on the scaled picture before it is encoded. */
typedef void (*hc_venc_hook_fn)(void *ud, uint8_t *const plane[3], const int stride[3], int width,
                                int height);

typedef struct hc_venc_out {
    const uint8_t *au; /* Annex-B access unit; valid until the next call */
    size_t len;
    bool keyframe; /* an IDR with SPS/PPS */
    int width, height;
} hc_venc_out_t;

typedef struct hc_venc_stats {
    uint64_t frames, keyframes, bytes;
    uint64_t reopens;         /* size/frame-rate/refresh changes */
    uint64_t reconfigs;       /* in-place bitrate changes */
    uint64_t keyframes_asked; /* hc_venc_request_keyframe() calls honoured */
} hc_venc_stats_t;

/* Fill cfg with the defaults above and the given size, rate and bitrate. */
void hc_venc_cfg_default(hc_venc_cfg_t *cfg, int width, int height, int fps, uint32_t bitrate_bps);

/* Open an encoder. 0, -HC_EINVAL (size, rate), -HC_ENOMEM, or -HC_ECODEC
 * (libx264 missing or refusing) with a message in err. */
int hc_venc_new(hc_venc_t **out, const hc_venc_cfg_t *cfg, char *err, size_t errcap);
void hc_venc_destroy(hc_venc_t **v);

/* New target rate, applied in place before the next picture (no keyframe). */
void hc_venc_set_bitrate(hc_venc_t *v, uint32_t bps);
uint32_t hc_venc_bitrate(const hc_venc_t *v);

/* New rung: size, frame rate, intra refresh. Reopens the encoder when any
 * of them differs (the next picture is a keyframe) and returns 1; 0 when
 * nothing changed; -HC_ECODEC/-HC_ENOMEM/-HC_EINVAL on failure (the
 * encoder is then closed and every encode fails until a reconfigure
 * succeeds). */
int hc_venc_reconfigure(hc_venc_t *v, int width, int height, int fps, bool intra_refresh);

/* The next picture is encoded as a keyframe (IDR with SPS/PPS). */
void hc_venc_request_keyframe(hc_venc_t *v);

/* Scale pic to the encoder's size, run hook (may be NULL) on it, encode.
 * Returns 1 with *out filled, 0 when the encoder produced nothing for this
 * picture, or -HC_EINVAL / -HC_ECODEC / -HC_ENOMEM. */
int hc_venc_encode(hc_venc_t *v, const hc_venc_pic_t *pic, hc_venc_hook_fn hook, void *ud,
                   hc_venc_out_t *out);

void hc_venc_get_cfg(const hc_venc_t *v, hc_venc_cfg_t *out);
void hc_venc_stats(const hc_venc_t *v, hc_venc_stats_t *out);

#endif
