/*
 * codec.h - real media for hc-probe through libavcodec: H.264 from libx264
 * encoding a synthetic moving picture that shows its frame number, Opus from
 * libopus encoding a sine, and the matching decoders that count what a
 * receiver could show and play.
 *
 * The encoder side hands out Annex-B access units (packetized with
 * proto/h264.h) and Opus packets; the decoder side takes what the
 * depacketizer and the endpoint deliver. The picture: a diagonal gradient
 * that scrolls one pixel per frame, and a row of 16 black/white blocks at
 * the top encoding the frame number in binary, so a viewer (or a decoder
 * check) can read which frame it sees.
 *
 * Ownership: each object owns its libavcodec contexts; the AU/packet
 * pointers returned stay valid until the next call on the same object.
 * Threading: one object per thread.
 */
#ifndef HC_PROBE_CODEC_H
#define HC_PROBE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_h264_enc hc_h264_enc_t;
typedef struct hc_h264_dec hc_h264_dec_t;
typedef struct hc_opus_enc hc_opus_enc_t;
typedef struct hc_opus_dec hc_opus_dec_t;

/* width x height at fps, bitrate in bit/s, keyframe every gop frames. 0 or
 * -HC_ECODEC (libx264 missing or refusing), with a message in err. */
int hc_h264_enc_new(hc_h264_enc_t **out, int width, int height, int fps, int bitrate, int gop,
                    char *err, size_t errcap);
void hc_h264_enc_destroy(hc_h264_enc_t **e);
/* Encode the next picture (frame number n; keyframe forced when key).
 * Returns 1 with *au, *len (Annex-B) and *is_key, 0 when the encoder gave
 * nothing yet, or -HC_ECODEC. */
int hc_h264_enc_frame(hc_h264_enc_t *e, uint32_t n, bool key, const uint8_t **au, size_t *len,
                      bool *is_key);

int hc_h264_dec_new(hc_h264_dec_t **out);
void hc_h264_dec_destroy(hc_h264_dec_t **d);
/* Decode one Annex-B access unit. Returns 1 when a picture came out (with
 * its size and the frame number read from the block row, -1 when it cannot
 * be read), 0 when none yet, -HC_ECODEC when the decoder refused it. */
int hc_h264_dec_au(hc_h264_dec_t *d, const uint8_t *au, size_t len, int *w, int *h,
                   int64_t *frame_no);

/* 48 kHz mono, 20 ms frames, bitrate in bit/s. */
int hc_opus_enc_new(hc_opus_enc_t **out, int bitrate, char *err, size_t errcap);
void hc_opus_enc_destroy(hc_opus_enc_t **e);
/* Encode the next 20 ms of a 440 Hz sine. Returns the packet length (> 0)
 * with *pkt set, 0 when nothing came out yet, or -HC_ECODEC. */
int hc_opus_enc_frame(hc_opus_enc_t *e, const uint8_t **pkt);

int hc_opus_dec_new(hc_opus_dec_t **out);
void hc_opus_dec_destroy(hc_opus_dec_t **d);
/* Decode one packet; returns samples decoded (> 0), 0, or -HC_ECODEC. */
int hc_opus_dec_packet(hc_opus_dec_t *d, const uint8_t *pkt, size_t len);

#endif
