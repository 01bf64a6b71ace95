/*
 * capture.h - hc-edge's media sources: GStreamer pipelines ending in an
 * appsink, delivering raw video (I420), already-encoded H.264 (an IP camera
 * over RTSP), or audio (S16LE, 48 kHz) to a callback.
 *
 * A source is a gst-launch style description (conf/edge.ini `[source.*]
 * pipeline = ...`) or one of the presets below, which expand to such a
 * description. The description must produce exactly one appsink named
 * "sink"; capture.c adds the caps it needs (video/x-raw,format=I420 or
 * video/x-h264,stream-format=byte-stream,alignment=au or
 * audio/x-raw,format=S16LE,rate=48000) when the preset does not.
 *
 * Presets (name, argument):
 *   "test"      synthetic live video: videotestsrc (moving pattern) with a
 *               visible wall clock (clockoverlay) and frame counter
 *               (timecodestamper ! timeoverlay time-mode=time-code; the
 *               overlays need gstreamer1.0-x and are left out without it);
 *               arg "WxH@fps".
 *   "audiotest" audiotestsrc sine, live.
 *   "v4l2"      USB camera: v4l2src device=arg ! videoconvert ! videoscale.
 *               (added by edge-gst:) arg "DEVICE@WxH@fps" asks the camera
 *               for that mode as raw video or MJPEG, through decodebin.
 *   "alsa"      microphone: alsasrc device=arg; "pulse": pulsesrc.
 *   "rtsp"      IP camera already sending H.264: rtspsrc location=arg
 *               latency=... ! rtph264depay ! h264parse (passthrough: the
 *               edge forwards it without re-encoding while the uplink
 *               allows, and transcodes when it must go lower).
 *   "file"      a lesson file: filesrc location=arg ! decodebin (video or
 *               audio branch), paced in real time (sync=true).
 *               (added by edge-gst:) arg "PATH" or "video:PATH" for the
 *               picture, "audio:PATH" for the sound.
 *
 * Frames carry two times: pts_us on hc_now_us()'s clock (monotonic, for
 * pacing and jitter) and wall_us (for the RTP abs-capture-time extension,
 * from which receivers measure end-to-end delay).
 *
 * Ownership: hc_capture_new() allocates; hc_capture_destroy() stops and
 * frees. Frame memory belongs to GStreamer and is valid only during the
 * callback: copy what you keep.
 * Threading: the callback runs on a GStreamer streaming thread, one per
 * source; it must not block for long (hand the frame to an encoder queue).
 */
#ifndef HC_EDGE_CAPTURE_H
#define HC_EDGE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hc_capture hc_capture_t;

typedef enum hc_cap_kind {
    HC_CAP_VIDEO_I420 = 1, /* planes y,u,v */
    HC_CAP_VIDEO_H264,     /* one Annex-B access unit in bytes/len */
    HC_CAP_AUDIO_S16,      /* interleaved S16 at 48 kHz */
} hc_cap_kind_t;

typedef struct hc_cap_frame {
    hc_cap_kind_t kind;
    /* I420 */
    const uint8_t *plane[3];
    int stride[3];
    int width, height;
    /* H.264 */
    const uint8_t *bytes;
    size_t len;
    bool keyframe;
    /* audio */
    const int16_t *pcm;
    int samples; /* per channel */
    int channels;
    /* times */
    uint64_t pts_us;  /* hc_now_us() clock */
    uint64_t wall_us; /* Unix epoch microseconds */
    uint64_t seq;     /* frame number from this source, from 0 */
} hc_cap_frame_t;

typedef void (*hc_cap_fn)(void *ud, const hc_cap_frame_t *f);

/* Expand a preset into a pipeline description. 0, or -HC_EINVAL naming the
 * problem in err (unknown preset, bad argument). */
int hc_capture_preset(const char *name, const char *arg, char *out, size_t cap, char *err,
                      size_t errcap);

/* Build (not start) a source. -HC_ECONFIG with GStreamer's parse error, or
 * the missing element's name, in err. */
int hc_capture_new(hc_capture_t **out, const char *pipeline, hc_cap_fn fn, void *ud, char *err,
                   size_t errcap);
int hc_capture_start(hc_capture_t *c);
void hc_capture_stop(hc_capture_t *c);
void hc_capture_destroy(hc_capture_t **c);
/* For H.264 sources: ask upstream for a keyframe (force-key-unit event). */
void hc_capture_request_keyframe(hc_capture_t *c);
/* True after an error or end of stream (a file ended, a camera unplugged);
 * err gets GStreamer's message. */
bool hc_capture_failed(hc_capture_t *c, char *err, size_t errcap);

#endif
