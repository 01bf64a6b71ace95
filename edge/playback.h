/*
 * playback.h - hc-edge's output of received streams: decoded video frames
 * and audio samples pushed through GStreamer appsrc elements into sinks.
 *
 * Sinks: "auto" (autovideosink / autoaudiosink: a window on the room's
 * screen or projector, the sound card), "headless" (fakesink with sync, for
 * tests, the demo and boxes without a screen: frames are still timed and
 * counted), or a custom pipeline description that starts with an appsrc
 * named "src". Several streams at once (a consult shows face + diagnostic).
 *
 * Headless checks: frames from Hillcast's synthetic test source carry the
 * sender's frame number stamped in the top-left luma blocks
 * (hc_playback_stamp_read); playback counts frames shown, frames whose stamp
 * went backwards or repeated, and gaps, so tests can prove that the
 * pictures that arrive are the right ones, in order.
 *
 * Ownership: hc_playback_new() allocates; destroy frees. Frame data is
 * copied into GStreamer buffers during the call.
 * Threading: any thread may push; each stream is pushed from one thread.
 */
#ifndef HC_EDGE_PLAYBACK_H
#define HC_EDGE_PLAYBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_playback hc_playback_t;
typedef struct hc_pb_stream hc_pb_stream_t;

typedef struct hc_pb_stats {
    uint64_t frames;                                /* video frames or audio packets pushed */
    uint64_t stamp_ok, stamp_backwards, stamp_gaps; /* video with stamps */
    uint64_t last_stamp;
    int width, height;
} hc_pb_stats_t;

/* sink: "auto", "headless", or a description starting with "appsrc name=src". */
int hc_playback_new(hc_playback_t **out, const char *video_sink, const char *audio_sink, char *err,
                    size_t errcap);
void hc_playback_destroy(hc_playback_t **pb);

/* A stream to show; label names it in window titles and stats. */
int hc_playback_add_video(hc_playback_t *pb, const char *label, hc_pb_stream_t **out);
int hc_playback_add_audio(hc_playback_t *pb, const char *label, int channels, hc_pb_stream_t **out);
void hc_playback_remove(hc_playback_t *pb, hc_pb_stream_t *s);

/* I420 planes; pts_us on hc_now_us()'s clock (the render time chosen by the
 * jitter buffer). Resolution may change between frames. */
int hc_playback_video(hc_pb_stream_t *s, const uint8_t *const plane[3], const int stride[3],
                      int width, int height, uint64_t pts_us);
int hc_playback_audio(hc_pb_stream_t *s, const int16_t *pcm, int samples, uint64_t pts_us);
void hc_pb_stats(const hc_pb_stream_t *s, hc_pb_stats_t *out);

/* Frame-number stamp in the top rows of the luma plane: 32 bits plus a
 * check, as black/white square blocks whose side scales with the width
 * (width/48, at least 4 pixels) so it survives H.264 at every rung. The
 * sender writes it on the encoder's input after scaling; the receiver
 * reads it from the decoded frame. */
void hc_playback_stamp_write(uint8_t *y, int stride, int width, int height, uint32_t n);
bool hc_playback_stamp_read(const uint8_t *y, int stride, int width, int height, uint32_t *n);

#endif
