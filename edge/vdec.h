/*
 * vdec.h - hc-edge's H.264 decoder: one Annex-B access unit in (as the
 * jitter buffer and depacketizer, proto/jbuf.h and proto/h264.h, hand it
 * over), at most one I420 picture out. libavcodec's native H.264 decoder,
 * one thread, low-delay flags, so a picture leaves with the access unit
 * that carried it. Pictures in another pixel format (a JPEG-range or 4:2:2
 * stream from a camera) are converted to I420 with libswscale.
 *
 * Used by the receive path (one decoder per received video track, on that
 * track's decoder thread) and by the send path for H.264 sources that must
 * be transcoded to a lower rate.
 *
 * Ownership: hc_vdec_new() allocates; the picture returned by
 * hc_vdec_decode() is valid until the next decode or destroy.
 * Threading: one decoder per thread.
 */
#ifndef HC_EDGE_VDEC_H
#define HC_EDGE_VDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_vdec hc_vdec_t;

typedef struct hc_vdec_pic {
    const uint8_t *plane[3]; /* I420 */
    int stride[3];
    int width, height;
    bool keyframe;
} hc_vdec_pic_t;

typedef struct hc_vdec_stats {
    uint64_t aus, pictures, errors;
} hc_vdec_stats_t;

/* 0, -HC_ENOMEM, or -HC_ECODEC (no H.264 decoder). */
int hc_vdec_new(hc_vdec_t **out);
void hc_vdec_destroy(hc_vdec_t **d);

/* Decode one access unit. 1 with *pic filled, 0 when no picture came out,
 * -HC_ECODEC when the decoder refused it (the next keyframe recovers),
 * -HC_EINVAL, -HC_ENOMEM. */
int hc_vdec_decode(hc_vdec_t *d, const uint8_t *au, size_t len, hc_vdec_pic_t *pic);

void hc_vdec_stats(const hc_vdec_t *d, hc_vdec_stats_t *out);

#endif
