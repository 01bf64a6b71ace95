/*
 * capture.c - GStreamer sources ending in an appsink (see capture.h).
 *
 * One pull thread per source takes samples from the appsink. Video runs
 * with drop=true max-buffers=2, so a consumer that falls behind gets the
 * newest pictures (the live edge) and never a backlog; audio gets a deeper
 * queue (about a second) because a gap in sound is worse than a late one.
 * Audio is cut into 20 ms chunks (960 samples at 48 kHz) here, whatever
 * size the source delivers, so the Opus encoder gets exactly one frame per
 * callback.
 *
 * Times: a buffer's age is the pipeline clock's now minus the buffer's
 * running time plus the base time (how long ago it was captured, for live
 * sources; about zero for a file paced by sync=true). Both frame times are
 * "now minus age" on their own clock, so they do not depend on which clock
 * the pipeline picked (an audio source may provide its own).
 *
 * Errors and end of stream arrive on the bus; a sync handler keeps the
 * first one (its element's name and message) for hc_capture_failed(), so no
 * GLib main loop is needed.
 */
#include "edge/capture.h"
#include "edge/gst.h"

#include "proto/err.h"
#include "relay/core/clock.h"

#include <gst/app/gstappsink.h>
#include <gst/audio/audio.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_RATE         48000
#define AUDIO_CHUNK        960 /* 20 ms at 48 kHz */
#define AUDIO_MAX_CHANNELS 8

/* What the appsink accepts when the description does not say: raw I420,
 * Annex-B H.264 access units, or S16 audio at 48 kHz. */
#define CAPTURE_CAPS                                                                               \
    "video/x-raw,format=I420; "                                                                    \
    "video/x-h264,stream-format=byte-stream,alignment=au; "                                        \
    "audio/x-raw,format=S16LE,rate=48000,layout=interleaved"

struct hc_capture {
    GstElement *pipeline;
    GstElement *sink; /* the appsink "sink" (own reference) */
    hc_cap_fn fn;
    void *ud;

    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_uint fku_count;

    pthread_mutex_t mu; /* guards failed and msg */
    bool failed;
    char msg[512];

    atomic_int kind; /* hc_cap_kind_t of the last sample, 0 before the first */
    /* pull-thread state */
    uint64_t seq;
    uint64_t last_pts_us;
    GstCaps *vcaps; /* caps the cached video info came from */
    GstVideoInfo vinfo;
    int16_t acc[AUDIO_CHUNK * AUDIO_MAX_CHANNELS];
    int acc_n;        /* samples per channel in acc */
    int acc_channels; /* channels of what is in acc */
    uint64_t acc_pts_us, acc_wall_us;
};

static void put_err(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* ---- presets ------------------------------------------------------------------------------- */

static bool have_element(const char *name)
{
    GstElementFactory *f = gst_element_factory_find(name);
    if (!f) return false;
    gst_object_unref(f);
    return true;
}

/* Whether an element's enum property knows a value (GStreamer versions
 * differ: timeoverlay's buffer-count arrived after 1.22). */
static bool enum_has(const char *element, const char *prop, const char *nick)
{
    GstElement *e = gst_element_factory_make(element, NULL);
    if (!e) return false;
    bool ok = false;
    GParamSpec *ps = g_object_class_find_property(G_OBJECT_GET_CLASS(e), prop);
    if (ps && G_IS_PARAM_SPEC_ENUM(ps))
        ok = g_enum_get_value_by_nick(G_PARAM_SPEC_ENUM(ps)->enum_class, nick) != NULL;
    gst_object_unref(e);
    return ok;
}

/* The visible clock and frame counter of the test source. They need the
 * pango plugin; without it the picture still moves and the media engine's
 * stamp still numbers the frames. The counter is timeoverlay's buffer
 * count where the version has it, else a timecode (HH:MM:SS:frame) from
 * timecodestamper, else the running time. */
static void test_overlays(char *out, size_t cap)
{
    out[0] = '\0';
    if (!have_element("clockoverlay") || !have_element("timeoverlay")) return;
    const char *clock = "clockoverlay halignment=right valignment=top "
                        "time-format=\"%H:%M:%S\" ! ";
    const char *counter;
    if (enum_has("timeoverlay", "time-mode", "buffer-count"))
        counter = "timeoverlay time-mode=buffer-count halignment=right valignment=bottom ! ";
    else if (have_element("timecodestamper"))
        counter = "timecodestamper ! timeoverlay time-mode=time-code halignment=right "
                  "valignment=bottom ! ";
    else
        counter = "timeoverlay time-mode=running-time halignment=right valignment=bottom ! ";
    snprintf(out, cap, "%s%s", clock, counter);
}

/* Copy a value into a gst-launch double-quoted string: quotes and
 * backslashes are escaped with a backslash (the parser unescapes them). */
static bool quote(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') return false;
        if (*s == '"' || *s == '\\') {
            if (n + 1 >= cap) return false;
            out[n++] = '\\';
        }
        if (n + 1 >= cap) return false;
        out[n++] = *s;
    }
    out[n] = '\0';
    return true;
}

static int parse_video_mode(const char *arg, int *w, int *h, int *fps)
{
    *w = 1280;
    *h = 720;
    *fps = 30;
    if (!arg || !*arg) return 0;
    char extra;
    int n = sscanf(arg, "%dx%d@%d%c", w, h, fps, &extra);
    if (n == 2) *fps = 30;
    if (n != 2 && n != 3) return -1;
    if (*w < 16 || *w > 7680 || *h < 16 || *h > 4320 || (*w & 1) || (*h & 1) || *fps < 1 ||
        *fps > 120)
        return -1;
    return 0;
}

static int emit(char *out, size_t cap, char *err, size_t errcap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        put_err(err, errcap, "pipeline description longer than %zu bytes", cap ? cap - 1 : 0);
        return -HC_ENOSPC;
    }
    return 0;
}

int hc_capture_preset(const char *name, const char *arg, char *out, size_t cap, char *err,
                      size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!name || !out || !cap) {
        put_err(err, errcap, "no preset name or output buffer");
        return -HC_EINVAL;
    }
    out[0] = '\0';
    char q[1024];
    if (arg && !quote(arg, q, sizeof q)) {
        put_err(err, errcap, "preset %s: argument too long or has a line break", name);
        return -HC_EINVAL;
    }
    bool has_arg = arg && *arg;

    if (strcmp(name, "test") == 0) {
        int w, h, fps;
        if (parse_video_mode(arg, &w, &h, &fps) < 0) {
            put_err(err, errcap,
                    "preset test: argument \"%s\" is not WxH@fps (even sizes 16..7680 x "
                    "16..4320, 1..120 fps)",
                    arg);
            return -HC_EINVAL;
        }
        char overlays[512] = "";
        if (hc_gst_init(NULL, 0)) test_overlays(overlays, sizeof overlays);
        return emit(out, cap, err, errcap,
                    "videotestsrc is-live=true pattern=smpte horizontal-speed=2 ! "
                    "video/x-raw,width=%d,height=%d,framerate=%d/1 ! %s"
                    "videoconvert ! appsink name=sink sync=false",
                    w, h, fps, overlays);
    }
    if (strcmp(name, "audiotest") == 0) {
        int freq = 440;
        if (has_arg) {
            char extra;
            if (sscanf(arg, "%d%c", &freq, &extra) != 1 || freq < 20 || freq > 20000) {
                put_err(err, errcap, "preset audiotest: argument \"%s\" is not a tone in Hz", arg);
                return -HC_EINVAL;
            }
        }
        return emit(out, cap, err, errcap,
                    "audiotestsrc is-live=true wave=sine freq=%d volume=0.3 "
                    "samplesperbuffer=%d ! audio/x-raw,rate=%d,channels=1 ! audioconvert ! "
                    "appsink name=sink sync=false",
                    freq, AUDIO_CHUNK, AUDIO_RATE);
    }
    if (strcmp(name, "v4l2") == 0) {
        /* "DEVICE" or "DEVICE@WxH@fps": with a mode, the camera is asked for
         * it as raw video or as MJPEG (many USB cameras give 720p30 only as
         * MJPEG), decoded by decodebin. */
        const char *at = has_arg ? strchr(arg, '@') : NULL;
        if (!at)
            return emit(out, cap, err, errcap,
                        "v4l2src device=\"%s\" ! videoconvert ! videoscale ! "
                        "appsink name=sink sync=false",
                        has_arg ? q : "/dev/video0");
        int w, h, fps;
        if (!at[1] || parse_video_mode(at + 1, &w, &h, &fps) < 0) {
            put_err(err, errcap, "preset v4l2: mode \"%s\" is not WxH@fps", at + 1);
            return -HC_EINVAL;
        }
        char dev[1024];
        size_t dl = (size_t)(at - arg);
        snprintf(dev, sizeof dev, "%.*s", (int)dl, arg);
        quote(dl ? dev : "/dev/video0", q, sizeof q);
        return emit(out, cap, err, errcap,
                    "v4l2src device=\"%s\" ! capsfilter caps=\"video/x-raw,width=%d,height=%d,"
                    "framerate=%d/1; image/jpeg,width=%d,height=%d,framerate=%d/1\" ! "
                    "decodebin ! videoconvert ! videoscale ! appsink name=sink sync=false",
                    q, w, h, fps, w, h, fps);
    }
    if (strcmp(name, "alsa") == 0) {
        return emit(out, cap, err, errcap,
                    "alsasrc device=\"%s\" ! audioconvert ! audioresample ! "
                    "appsink name=sink sync=false",
                    has_arg ? q : "default");
    }
    if (strcmp(name, "pulse") == 0) {
        char dev[1100] = "";
        if (has_arg) snprintf(dev, sizeof dev, " device=\"%s\"", q);
        return emit(out, cap, err, errcap,
                    "pulsesrc%s ! audioconvert ! audioresample ! appsink name=sink sync=false",
                    dev);
    }
    if (strcmp(name, "rtsp") == 0) {
        if (!has_arg || (strncmp(arg, "rtsp://", 7) != 0 && strncmp(arg, "rtsps://", 8) != 0 &&
                         strncmp(arg, "rtspt://", 8) != 0)) {
            put_err(err, errcap, "preset rtsp: argument \"%s\" is not an rtsp:// URL",
                    arg ? arg : "");
            return -HC_EINVAL;
        }
        /* config-interval=-1: SPS/PPS before every IDR, so any keyframe the
         * edge forwards can be decoded on its own. */
        return emit(out, cap, err, errcap,
                    "rtspsrc location=\"%s\" latency=100 ! rtph264depay ! "
                    "h264parse config-interval=-1 ! appsink name=sink sync=false",
                    q);
    }
    if (strcmp(name, "file") == 0) {
        /* "PATH" or "video:PATH" for the picture, "audio:PATH" for the sound;
         * decodebin's other streams stay unlinked. */
        const char *path = arg;
        bool audio = false;
        if (has_arg && strncmp(arg, "audio:", 6) == 0) {
            audio = true;
            path = arg + 6;
        } else if (has_arg && strncmp(arg, "video:", 6) == 0) {
            path = arg + 6;
        }
        if (!path || !*path) {
            put_err(err, errcap, "preset file: no file name");
            return -HC_EINVAL;
        }
        quote(path, q, sizeof q);
        return emit(out, cap, err, errcap,
                    "filesrc location=\"%s\" ! decodebin ! %s ! appsink name=sink sync=true", q,
                    audio ? "audioconvert ! audioresample" : "videoconvert ! videoscale");
    }
    put_err(err, errcap,
            "unknown source preset \"%s\" (test, audiotest, v4l2, alsa, pulse, rtsp, file)", name);
    return -HC_EINVAL;
}

/* ---- failure reporting ----------------------------------------------------------------------- */

static void set_failed(hc_capture_t *c, const char *fmt, ...)
{
    pthread_mutex_lock(&c->mu);
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, sizeof c->msg, fmt, ap);
        va_end(ap);
        c->failed = true;
    }
    pthread_mutex_unlock(&c->mu);
}

static bool is_failed(hc_capture_t *c)
{
    pthread_mutex_lock(&c->mu);
    bool f = c->failed;
    pthread_mutex_unlock(&c->mu);
    return f;
}

static GstBusSyncReply on_bus(GstBus *bus, GstMessage *m, gpointer ud)
{
    (void)bus;
    hc_capture_t *c = ud;
    switch (GST_MESSAGE_TYPE(m)) {
    case GST_MESSAGE_ERROR: {
        GError *e = NULL;
        gchar *dbg = NULL;
        gst_message_parse_error(m, &e, &dbg);
        /* The debug text's last line often has the detail that matters
         * (which file, which device, the errno text); the rest is source
         * positions and object paths. */
        const char *detail = dbg ? strrchr(dbg, '\n') : NULL;
        detail = detail ? detail + 1 : NULL;
        set_failed(c, "%s: %s%s%s%s", m->src ? GST_OBJECT_NAME(m->src) : "pipeline",
                   e ? e->message : "error", detail && *detail ? " (" : "",
                   detail && *detail ? detail : "", detail && *detail ? ")" : "");
        g_clear_error(&e);
        g_free(dbg);
        break;
    }
    case GST_MESSAGE_EOS: set_failed(c, "end of stream"); break;
    default: break;
    }
    return GST_BUS_DROP;
}

bool hc_capture_failed(hc_capture_t *c, char *err, size_t errcap)
{
    if (!c) return false;
    pthread_mutex_lock(&c->mu);
    bool f = c->failed;
    if (f && err && errcap) snprintf(err, errcap, "%s", c->msg);
    pthread_mutex_unlock(&c->mu);
    return f;
}

/* ---- keyframe requests to RTSP cameras ------------------------------------------------------ */

/* rtspsrc's RTP session turns our force-key-unit event into an RTCP PLI
 * (RFC 4585 6.3.1) only when the stream's caps carry rtcp-fb-nack-pli, i.e.
 * when the camera's SDP listed "a=rtcp-fb:<pt> nack pli"; most IP cameras
 * list nothing and still answer a PLI (and one that does not understands
 * it as an unknown RTCP packet and ignores it, RFC 3550 6.1). So the caps
 * entering each RTP session of a video stream get the field. */
static GstPadProbeReturn allow_pli(GstPad *pad, GstPadProbeInfo *info, gpointer ud)
{
    (void)pad;
    (void)ud;
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT(info);
    if (!ev || GST_EVENT_TYPE(ev) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
    GstCaps *caps = NULL;
    gst_event_parse_caps(ev, &caps);
    if (!caps || gst_caps_get_size(caps) == 0) return GST_PAD_PROBE_OK;
    const GstStructure *st = gst_caps_get_structure(caps, 0);
    const char *media = gst_structure_get_string(st, "media");
    if (!media || strcmp(media, "video") != 0 || gst_structure_has_field(st, "rtcp-fb-nack-pli"))
        return GST_PAD_PROBE_OK;
    GstCaps *nc = gst_caps_copy(caps);
    gst_caps_set_simple(nc, "rtcp-fb-nack-pli", G_TYPE_BOOLEAN, TRUE, NULL);
    GstEvent *ne = gst_event_new_caps(nc);
    gst_caps_unref(nc);
    gst_event_unref(ev);
    GST_PAD_PROBE_INFO_DATA(info) = ne;
    return GST_PAD_PROBE_OK;
}

static void on_session_pad(GstElement *session, GstPad *pad, gpointer ud)
{
    (void)session;
    (void)ud;
    if (g_str_has_prefix(GST_PAD_NAME(pad), "recv_rtp_sink"))
        gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, allow_pli, NULL, NULL);
}

/* Every RTP session inside the pipeline (rtspsrc's rtpbin makes one per
 * stream): its video caps get the PLI field, and it runs with AVPF timing
 * so the PLI may leave at once (RFC 4585 3.5.2) instead of with the next
 * regular report, up to several seconds later. The profile is local: the
 * camera's transport (RTP/AVP) is unchanged. */
static void on_deep_element(GstBin *bin, GstBin *sub, GstElement *el, gpointer ud)
{
    (void)bin;
    (void)sub;
    (void)ud;
    GstElementFactory *f = gst_element_get_factory(el);
    if (f && strcmp(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(f)), "rtpsession") == 0) {
        g_signal_connect(el, "pad-added", G_CALLBACK(on_session_pad), NULL);
        gst_util_set_object_arg(G_OBJECT(el), "rtp-profile", "avpf");
    }
}

/* ---- new / destroy ------------------------------------------------------------------------- */

int hc_capture_new(hc_capture_t **out, const char *pipeline, hc_cap_fn fn, void *ud, char *err,
                   size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return -HC_EINVAL;
    *out = NULL;
    if (!pipeline || !*pipeline || !fn) {
        put_err(err, errcap, "no pipeline description or callback");
        return -HC_EINVAL;
    }
    if (!hc_gst_init(err, errcap)) return -HC_ECONFIG;

    GstElement *el = hc_gst_parse(pipeline, "pipeline", err, errcap);
    if (!el) return -HC_ECONFIG;

    /* A lone element comes back as itself: wrap it in a pipeline. */
    if (!GST_IS_PIPELINE(el)) {
        GstElement *p = gst_pipeline_new(NULL);
        gst_bin_add(GST_BIN(p), el);
        el = p;
    }
    GstElement *sink = gst_bin_get_by_name(GST_BIN(el), "sink");
    if (!sink || !GST_IS_APP_SINK(sink)) {
        put_err(err, errcap, "pipeline has no appsink named \"sink\"");
        if (sink) gst_object_unref(sink);
        gst_object_unref(el);
        return -HC_ECONFIG;
    }

    hc_capture_t *c = calloc(1, sizeof *c);
    if (!c) {
        gst_object_unref(sink);
        gst_object_unref(el);
        return -HC_ENOMEM;
    }
    c->pipeline = el;
    c->sink = sink;
    c->fn = fn;
    c->ud = ud;
    pthread_mutex_init(&c->mu, NULL);
    atomic_init(&c->stop, false);
    atomic_init(&c->fku_count, 0);
    atomic_init(&c->kind, 0);

    GstCaps *have = gst_app_sink_get_caps(GST_APP_SINK(sink));
    if (!have) {
        GstCaps *caps = gst_caps_from_string(CAPTURE_CAPS);
        gst_app_sink_set_caps(GST_APP_SINK(sink), caps);
        gst_caps_unref(caps);
    } else {
        gst_caps_unref(have);
    }
    /* Live edge for video; audio deepens the queue on its first sample. */
    g_object_set(sink, "drop", TRUE, "max-buffers", 2u, "emit-signals", FALSE, NULL);

    g_signal_connect(el, "deep-element-added", G_CALLBACK(on_deep_element), NULL);

    GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(el));
    gst_bus_set_sync_handler(bus, on_bus, c, NULL);
    gst_object_unref(bus);

    *out = c;
    return 0;
}

void hc_capture_destroy(hc_capture_t **pc)
{
    if (!pc || !*pc) return;
    hc_capture_t *c = *pc;
    hc_capture_stop(c);
    GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(c->pipeline));
    gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
    gst_object_unref(bus);
    gst_object_unref(c->sink);
    gst_object_unref(c->pipeline);
    if (c->vcaps) gst_caps_unref(c->vcaps);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *pc = NULL;
}

/* ---- delivery ------------------------------------------------------------------------------ */

/* How long ago (ns) the buffer with this PTS was captured, by the pipeline
 * clock; 0 when it cannot be told or lies in the future. */
static uint64_t buffer_age_ns(hc_capture_t *c, const GstSegment *seg, GstClockTime pts)
{
    if (!GST_CLOCK_TIME_IS_VALID(pts) || !seg || seg->format != GST_FORMAT_TIME) return 0;
    GstClockTime rt = gst_segment_to_running_time(seg, GST_FORMAT_TIME, pts);
    if (!GST_CLOCK_TIME_IS_VALID(rt)) return 0;
    GstClock *clk = gst_element_get_clock(c->pipeline);
    if (!clk) return 0;
    GstClockTime now = gst_clock_get_time(clk);
    gst_object_unref(clk);
    GstClockTime at = gst_element_get_base_time(c->pipeline) + rt;
    if (!GST_CLOCK_TIME_IS_VALID(now) || now <= at) return 0;
    uint64_t age = now - at;
    return age > 10 * GST_SECOND ? 0 : age; /* a clock we cannot relate: no correction */
}

static void frame_times(hc_capture_t *c, const GstSegment *seg, GstClockTime pts, uint64_t *pts_us,
                        uint64_t *wall_us)
{
    uint64_t age_us = buffer_age_ns(c, seg, pts) / 1000;
    uint64_t now = hc_now_us(), wall = hc_wall_us();
    *pts_us = now > age_us ? now - age_us : 0;
    *wall_us = wall > age_us ? wall - age_us : 0;
}

/* Times handed out never go backwards within a source. */
static void deliver(hc_capture_t *c, hc_cap_frame_t *f)
{
    if (f->pts_us < c->last_pts_us) f->pts_us = c->last_pts_us;
    c->last_pts_us = f->pts_us;
    f->seq = c->seq++;
    c->fn(c->ud, f);
}

static void deliver_video(hc_capture_t *c, GstSample *s, GstCaps *caps, GstBuffer *buf)
{
    if (!c->vcaps || !gst_caps_is_equal(c->vcaps, caps)) {
        if (!gst_video_info_from_caps(&c->vinfo, caps) ||
            GST_VIDEO_INFO_FORMAT(&c->vinfo) != GST_VIDEO_FORMAT_I420) {
            gchar *t = gst_caps_to_string(caps);
            set_failed(c, "appsink \"sink\": raw video must be I420, got %s", t);
            g_free(t);
            return;
        }
        if (c->vcaps) gst_caps_unref(c->vcaps);
        c->vcaps = gst_caps_ref(caps);
    }
    GstVideoFrame vf;
    if (!gst_video_frame_map(&vf, &c->vinfo, buf, GST_MAP_READ)) return;
    hc_cap_frame_t f = {.kind = HC_CAP_VIDEO_I420,
                        .width = GST_VIDEO_FRAME_WIDTH(&vf),
                        .height = GST_VIDEO_FRAME_HEIGHT(&vf)};
    for (int p = 0; p < 3; p++) {
        f.plane[p] = GST_VIDEO_FRAME_PLANE_DATA(&vf, p);
        f.stride[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&vf, p);
    }
    frame_times(c, gst_sample_get_segment(s), GST_BUFFER_PTS(buf), &f.pts_us, &f.wall_us);
    deliver(c, &f);
    gst_video_frame_unmap(&vf);
}

static void deliver_h264(hc_capture_t *c, GstSample *s, GstCaps *caps, GstBuffer *buf)
{
    const GstStructure *st = gst_caps_get_structure(caps, 0);
    const char *sf = gst_structure_get_string(st, "stream-format");
    const char *al = gst_structure_get_string(st, "alignment");
    if ((sf && strcmp(sf, "byte-stream") != 0) || (al && strcmp(al, "au") != 0)) {
        set_failed(c, "appsink \"sink\": H.264 must be byte-stream in access units, got %s/%s",
                   sf ? sf : "?", al ? al : "?");
        return;
    }
    GstMapInfo mi;
    if (!gst_buffer_map(buf, &mi, GST_MAP_READ)) return;
    hc_cap_frame_t f = {.kind = HC_CAP_VIDEO_H264,
                        .bytes = mi.data,
                        .len = mi.size,
                        .keyframe = !GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT)};
    gst_structure_get_int(st, "width", &f.width);
    gst_structure_get_int(st, "height", &f.height);
    frame_times(c, gst_sample_get_segment(s), GST_BUFFER_PTS(buf), &f.pts_us, &f.wall_us);
    deliver(c, &f);
    gst_buffer_unmap(buf, &mi);
}

static void deliver_chunk(hc_capture_t *c, const int16_t *pcm, int channels, uint64_t pts_us,
                          uint64_t wall_us)
{
    hc_cap_frame_t f = {.kind = HC_CAP_AUDIO_S16,
                        .pcm = pcm,
                        .samples = AUDIO_CHUNK,
                        .channels = channels,
                        .pts_us = pts_us,
                        .wall_us = wall_us};
    deliver(c, &f);
}

static void deliver_audio(hc_capture_t *c, GstSample *s, GstCaps *caps, GstBuffer *buf)
{
    GstAudioInfo ai;
    if (!gst_audio_info_from_caps(&ai, caps) ||
        GST_AUDIO_INFO_FORMAT(&ai) != GST_AUDIO_FORMAT_S16 ||
        GST_AUDIO_INFO_RATE(&ai) != AUDIO_RATE || GST_AUDIO_INFO_CHANNELS(&ai) < 1 ||
        GST_AUDIO_INFO_CHANNELS(&ai) > AUDIO_MAX_CHANNELS ||
        GST_AUDIO_INFO_LAYOUT(&ai) != GST_AUDIO_LAYOUT_INTERLEAVED) {
        gchar *t = gst_caps_to_string(caps);
        set_failed(c, "appsink \"sink\": audio must be interleaved S16LE at 48000 Hz, got %s", t);
        g_free(t);
        return;
    }
    int ch = GST_AUDIO_INFO_CHANNELS(&ai);
    GstMapInfo mi;
    if (!gst_buffer_map(buf, &mi, GST_MAP_READ)) return;
    const int16_t *pcm = (const int16_t *)(const void *)mi.data;
    int n = (int)(mi.size / (sizeof(int16_t) * (size_t)ch));
    uint64_t pts_us, wall_us;
    frame_times(c, gst_sample_get_segment(s), GST_BUFFER_PTS(buf), &pts_us, &wall_us);

    /* A discontinuity or a channel change starts a new chunk: a partial
     * chunk from before it would glue two moments together. */
    if (c->acc_n && (ch != c->acc_channels || GST_BUFFER_FLAG_IS_SET(buf, GST_BUFFER_FLAG_DISCONT)))
        c->acc_n = 0;
    int i = 0;
    if (c->acc_n == 0 && n == AUDIO_CHUNK) { /* the common case: no copy */
        deliver_chunk(c, pcm, ch, pts_us, wall_us);
        i = n;
    }
    while (i < n) {
        if (c->acc_n == 0) {
            uint64_t off = (uint64_t)i * 1000000u / AUDIO_RATE;
            c->acc_pts_us = pts_us + off;
            c->acc_wall_us = wall_us + off;
            c->acc_channels = ch;
        }
        int take = AUDIO_CHUNK - c->acc_n;
        if (take > n - i) take = n - i;
        memcpy(c->acc + (size_t)c->acc_n * (size_t)ch, pcm + (size_t)i * (size_t)ch,
               (size_t)take * (size_t)ch * sizeof(int16_t));
        c->acc_n += take;
        i += take;
        if (c->acc_n == AUDIO_CHUNK) {
            deliver_chunk(c, c->acc, ch, c->acc_pts_us, c->acc_wall_us);
            c->acc_n = 0;
        }
    }
    gst_buffer_unmap(buf, &mi);
}

static void handle_sample(hc_capture_t *c, GstSample *s)
{
    GstBuffer *buf = gst_sample_get_buffer(s);
    GstCaps *caps = gst_sample_get_caps(s);
    if (!buf || !caps || gst_caps_is_empty(caps)) return;
    const char *name = gst_structure_get_name(gst_caps_get_structure(caps, 0));
    if (strcmp(name, "video/x-raw") == 0) {
        atomic_store(&c->kind, HC_CAP_VIDEO_I420);
        deliver_video(c, s, caps, buf);
    } else if (strcmp(name, "video/x-h264") == 0) {
        atomic_store(&c->kind, HC_CAP_VIDEO_H264);
        deliver_h264(c, s, caps, buf);
    } else if (strcmp(name, "audio/x-raw") == 0) {
        if (atomic_exchange(&c->kind, HC_CAP_AUDIO_S16) != HC_CAP_AUDIO_S16)
            g_object_set(c->sink, "max-buffers", 64u, NULL); /* ~1 s of 10-20 ms buffers */
        deliver_audio(c, s, caps, buf);
    } else {
        set_failed(c, "appsink \"sink\": unsupported media %s", name);
    }
}

static void *pull_thread(void *arg)
{
    hc_capture_t *c = arg;
    GstAppSink *sink = GST_APP_SINK(c->sink);
    while (!atomic_load(&c->stop)) {
        GstSample *s = gst_app_sink_try_pull_sample(sink, 100 * GST_MSECOND);
        if (s) {
            handle_sample(c, s);
            gst_sample_unref(s);
            continue;
        }
        if (gst_app_sink_is_eos(sink)) {
            set_failed(c, "end of stream");
            break;
        }
        /* A flushing sink (the pipeline failed or is stopping) returns at
         * once: do not spin. */
        if (is_failed(c)) break;
        g_usleep(5000);
    }
    return NULL;
}

/* ---- start / stop -------------------------------------------------------------------------- */

int hc_capture_start(hc_capture_t *c)
{
    if (!c) return -HC_EINVAL;
    if (c->running) return 0;
    pthread_mutex_lock(&c->mu);
    c->failed = false;
    c->msg[0] = '\0';
    pthread_mutex_unlock(&c->mu);
    c->acc_n = 0;
    atomic_store(&c->stop, false);
    if (gst_element_set_state(c->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        set_failed(c, "pipeline did not start");
        gst_element_set_state(c->pipeline, GST_STATE_NULL);
        return -HC_EIO;
    }
    if (pthread_create(&c->thread, NULL, pull_thread, c) != 0) {
        set_failed(c, "no thread for the source");
        gst_element_set_state(c->pipeline, GST_STATE_NULL);
        return -HC_ENOMEM;
    }
    c->running = true;
    return 0;
}

void hc_capture_stop(hc_capture_t *c)
{
    if (!c || !c->running) return;
    atomic_store(&c->stop, true);
    pthread_join(c->thread, NULL);
    gst_element_set_state(c->pipeline, GST_STATE_NULL);
    c->running = false;
}

void hc_capture_request_keyframe(hc_capture_t *c)
{
    if (!c) return;
    int kind = atomic_load(&c->kind);
    if (kind == HC_CAP_VIDEO_I420 || kind == HC_CAP_AUDIO_S16) return;
    /* Travels upstream from the appsink: h264parse passes it on, the RTP
     * session of rtspsrc turns it into a PLI/FIR to the camera (RFC 4585
     * 6.3.1, RFC 5104 4.3.1), an encoder in the pipeline forces an IDR. */
    unsigned n = atomic_fetch_add(&c->fku_count, 1);
    GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, n);
    gst_element_send_event(c->sink, ev);
}
