/*
 * playback.c - received streams into GStreamer sinks (see playback.h).
 *
 * Each stream is its own small pipeline, "appsrc name=src ! ... ! sink", so
 * a sink that fails or blocks (a window closed, a sound card gone) takes
 * only its stream with it, and streams come and go without touching the
 * others. Every pipeline runs on one monotonic system clock with the same
 * fixed base time, chosen so that a buffer's running time maps back to its
 * pts_us on hc_now_us()'s clock (less the pipeline latency the sink adds):
 * the sinks then render each frame at the moment the jitter buffer picked,
 * and streams of one participant stay in step.
 *
 * appsrc: format=time, is-live=true, do-timestamp=false (our times, not
 * arrival times); caps are set again whenever the picture size changes, and
 * appsrc sends them in order with the buffers. Its queue holds at most 2 s
 * and drops the oldest beyond that, so a stalled sink costs memory once,
 * not forever.
 */
#include "edge/playback.h"
#include "edge/gst.h"

#include "proto/err.h"
#include "relay/core/clock.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIO_RATE 48000
#define MAX_DIM    16384

struct hc_pb_stream {
    hc_playback_t *pb;
    hc_pb_stream_t *next;
    bool video;
    int channels;
    char label[65];
    GstElement *pipeline;
    GstElement *src; /* the appsrc "src" (own reference) */
    int caps_w, caps_h;
    GstClockTime latency; /* the pipeline's, once known: taken off each pts */
    bool latency_known;
    int latency_tries;
    atomic_bool failed;
    atomic_bool reported;

    pthread_mutex_t mu; /* guards st and have_stamp against hc_pb_stats */
    hc_pb_stats_t st;
    bool have_stamp;
};

struct hc_playback {
    char *video_desc, *audio_desc;
    GstClock *clock;
    GstClockTime base_time; /* clock time at origin_us */
    uint64_t origin_us;     /* hc_now_us() at creation */
    pthread_mutex_t mu;     /* guards the stream list */
    hc_pb_stream_t *streams;
};

static void put_err(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

static bool have_display(void)
{
    const char *x = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY");
    return (x && *x) || (w && *w);
}

static GstElement *find_src(GstElement *pipeline)
{
    if (!GST_IS_BIN(pipeline)) return NULL;
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    if (src && !GST_IS_APP_SRC(src)) {
        gst_object_unref(src);
        src = NULL;
    }
    return src;
}

/* Expand a sink choice into a per-stream description. */
static char *expand(const char *sink, bool video, char *err, size_t errcap)
{
    if (!sink || !*sink || strcmp(sink, "headless") == 0)
        return g_strdup("appsrc name=src ! fakesink sync=true");
    if (strcmp(sink, "auto") == 0) {
        if (video) {
            if (!have_display()) {
                fprintf(stderr, "playback: no display ($DISPLAY and $WAYLAND_DISPLAY unset): "
                                "video goes to the headless sink\n");
                return g_strdup("appsrc name=src ! fakesink sync=true");
            }
            return g_strdup("appsrc name=src ! videoconvert ! videoscale ! autovideosink");
        }
        /* autoaudiosink itself falls back to a fake sink without a sound card */
        return g_strdup("appsrc name=src ! audioconvert ! audioresample ! autoaudiosink");
    }
    /* A custom description: check it once now, so a typo is reported at
     * start and not when the first stream arrives. */
    GstElement *p = hc_gst_parse(sink, "sink pipeline", err, errcap);
    if (!p) return NULL;
    GstElement *src = find_src(p);
    gst_object_unref(p);
    if (!src) {
        put_err(err, errcap, "%s sink pipeline has no appsrc named \"src\"",
                video ? "video" : "audio");
        return NULL;
    }
    gst_object_unref(src);
    return g_strdup(sink);
}

int hc_playback_new(hc_playback_t **out, const char *video_sink, const char *audio_sink, char *err,
                    size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!out) return -HC_EINVAL;
    *out = NULL;
    if (!hc_gst_init(err, errcap)) return -HC_ECONFIG;
    char *vd = expand(video_sink, true, err, errcap);
    if (!vd) return -HC_ECONFIG;
    char *ad = expand(audio_sink, false, err, errcap);
    if (!ad) {
        g_free(vd);
        return -HC_ECONFIG;
    }
    hc_playback_t *pb = calloc(1, sizeof *pb);
    if (!pb) {
        g_free(vd);
        g_free(ad);
        return -HC_ENOMEM;
    }
    pb->video_desc = vd;
    pb->audio_desc = ad;
    /* our own instance: the shared default clock's type is anyone's to change */
    pb->clock = g_object_new(GST_TYPE_SYSTEM_CLOCK, "clock-type", GST_CLOCK_TYPE_MONOTONIC, NULL);
    gst_object_ref_sink(pb->clock);
    pb->origin_us = hc_now_us();
    pb->base_time = gst_clock_get_time(pb->clock);
    pthread_mutex_init(&pb->mu, NULL);
    *out = pb;
    return 0;
}

void hc_playback_destroy(hc_playback_t **ppb)
{
    if (!ppb || !*ppb) return;
    hc_playback_t *pb = *ppb;
    while (pb->streams) hc_playback_remove(pb, pb->streams);
    gst_object_unref(pb->clock);
    g_free(pb->video_desc);
    g_free(pb->audio_desc);
    pthread_mutex_destroy(&pb->mu);
    free(pb);
    *ppb = NULL;
}

/* ---- streams --------------------------------------------------------------------------------- */

static GstBusSyncReply on_bus(GstBus *bus, GstMessage *m, gpointer ud)
{
    (void)bus;
    hc_pb_stream_t *s = ud;
    if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
        atomic_store(&s->failed, true);
        if (!atomic_exchange(&s->reported, true)) {
            GError *e = NULL;
            gchar *dbg = NULL;
            gst_message_parse_error(m, &e, &dbg);
            /* the debug text's last line says why (e.g. not-negotiated) */
            const char *why = dbg ? strrchr(dbg, '\n') : NULL;
            fprintf(stderr, "playback: stream \"%s\": %s: %s%s%s%s\n", s->label,
                    m->src ? GST_OBJECT_NAME(m->src) : "pipeline", e ? e->message : "error",
                    why ? " (" : "", why ? why + 1 : "", why ? ")" : "");
            g_clear_error(&e);
            g_free(dbg);
        }
    }
    return GST_BUS_DROP;
}

static GstPadProbeReturn title_probe(GstPad *pad, GstPadProbeInfo *info, gpointer ud)
{
    (void)info;
    hc_pb_stream_t *s = ud;
    GstTagList *tags = gst_tag_list_new(GST_TAG_TITLE, s->label, NULL);
    gst_pad_push_event(pad, gst_event_new_tag(tags));
    return GST_PAD_PROBE_REMOVE;
}

static void free_stream(hc_pb_stream_t *s)
{
    if (s->pipeline) {
        gst_element_set_state(s->pipeline, GST_STATE_NULL);
        GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(s->pipeline));
        gst_bus_set_sync_handler(bus, NULL, NULL, NULL);
        gst_object_unref(bus);
    }
    if (s->src) gst_object_unref(s->src);
    if (s->pipeline) gst_object_unref(s->pipeline);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int add_stream(hc_playback_t *pb, const char *label, bool video, int channels,
                      hc_pb_stream_t **out)
{
    if (!pb || !out) return -HC_EINVAL;
    *out = NULL;
    hc_pb_stream_t *s = calloc(1, sizeof *s);
    if (!s) return -HC_ENOMEM;
    s->pb = pb;
    s->video = video;
    s->channels = channels;
    snprintf(s->label, sizeof s->label, "%s", label && *label ? label : video ? "video" : "audio");
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->failed, false);
    atomic_init(&s->reported, false);

    GstElement *el =
        hc_gst_parse(video ? pb->video_desc : pb->audio_desc, "sink pipeline", NULL, 0);
    if (!el) {
        free_stream(s);
        return -HC_ECONFIG;
    }
    if (!GST_IS_PIPELINE(el)) {
        GstElement *p = gst_pipeline_new(NULL);
        gst_bin_add(GST_BIN(p), el);
        el = p;
    }
    s->pipeline = el;
    s->src = find_src(el);
    if (!s->src) {
        free_stream(s);
        return -HC_ECONFIG;
    }
    g_object_set(s->src, "format", GST_FORMAT_TIME, "is-live", TRUE, "do-timestamp", FALSE,
                 "min-latency", (gint64)0, "max-bytes", (guint64)0, "max-buffers", (guint64)0,
                 "max-time", (guint64)(2 * GST_SECOND), "leaky-type", GST_APP_LEAKY_TYPE_DOWNSTREAM,
                 NULL);
    if (!video) {
        GstCaps *caps = gst_caps_new_simple(
            "audio/x-raw", "format", G_TYPE_STRING, "S16LE", "layout", G_TYPE_STRING, "interleaved",
            "rate", G_TYPE_INT, AUDIO_RATE, "channels", G_TYPE_INT, channels, NULL);
        if (channels == 2) /* front left + front right */
            gst_caps_set_simple(caps, "channel-mask", GST_TYPE_BITMASK, (guint64)0x3, NULL);
        gst_app_src_set_caps(GST_APP_SRC(s->src), caps);
        gst_caps_unref(caps);
    }

    GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(el));
    gst_bus_set_sync_handler(bus, on_bus, s, NULL);
    gst_object_unref(bus);

    /* One clock and one base time for every stream (see to_running_ns). */
    gst_pipeline_use_clock(GST_PIPELINE(el), pb->clock);
    gst_element_set_start_time(el, GST_CLOCK_TIME_NONE);
    gst_element_set_base_time(el, pb->base_time);

    if (gst_element_set_state(el, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        free_stream(s);
        return -HC_EIO;
    }
    /* The window title: video sinks take it from the title tag, sent once
     * caps and segment are out (tags first would put the segment ahead of
     * the caps). */
    GstPad *pad = gst_element_get_static_pad(s->src, "src");
    if (pad) {
        gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, title_probe, s, NULL);
        gst_object_unref(pad);
    }

    pthread_mutex_lock(&pb->mu);
    s->next = pb->streams;
    pb->streams = s;
    pthread_mutex_unlock(&pb->mu);
    *out = s;
    return 0;
}

int hc_playback_add_video(hc_playback_t *pb, const char *label, hc_pb_stream_t **out)
{
    return add_stream(pb, label, true, 0, out);
}

int hc_playback_add_audio(hc_playback_t *pb, const char *label, int channels, hc_pb_stream_t **out)
{
    if (channels < 1 || channels > 8) return -HC_EINVAL;
    return add_stream(pb, label, false, channels, out);
}

void hc_playback_remove(hc_playback_t *pb, hc_pb_stream_t *s)
{
    if (!pb || !s) return;
    pthread_mutex_lock(&pb->mu);
    for (hc_pb_stream_t **pp = &pb->streams; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&pb->mu);
    free_stream(s);
}

/* pts_us on hc_now_us()'s clock -> buffer time. A live sink renders at
 * base time + running time + the pipeline latency (a sink's processing
 * deadline, 20 ms by default), so the latency is taken off to render at
 * pts_us itself; a time before the playback began plays at once. The
 * latency query answers once the sinks have seen data. */
static GstClockTime to_running_ns(hc_pb_stream_t *s, uint64_t pts_us)
{
    /* Until the sinks have data they answer "not live"; a pipeline still
     * not live after a few dozen frames (a sink with sync=false) has no
     * latency to take off. */
    if (!s->latency_known && s->latency_tries < 64) {
        s->latency_tries++;
        GstQuery *q = gst_query_new_latency();
        gboolean live = FALSE;
        GstClockTime min = 0;
        if (gst_element_query(s->pipeline, q)) {
            gst_query_parse_latency(q, &live, &min, NULL);
            if (live && GST_CLOCK_TIME_IS_VALID(min)) {
                s->latency = min;
                s->latency_known = true;
            }
        }
        gst_query_unref(q);
    }
    uint64_t origin = s->pb->origin_us, lat_us = s->latency / 1000u;
    return pts_us > origin + lat_us ? (pts_us - origin - lat_us) * 1000u : 0;
}

static int push(hc_pb_stream_t *s, GstBuffer *b)
{
    if (atomic_load(&s->failed)) {
        gst_buffer_unref(b);
        return -HC_EIO;
    }
    GstFlowReturn fr = gst_app_src_push_buffer(GST_APP_SRC(s->src), b);
    return fr == GST_FLOW_OK ? 0 : -HC_EIO;
}

/* Frames in order move the stamp forward by one; more is a gap (still a
 * good frame); the same or an older number is a repeat or a reorder. */
static void check_stamp(hc_pb_stream_t *s, const uint8_t *y, int stride, int w, int h)
{
    uint32_t n;
    bool ok = hc_playback_stamp_read(y, stride, w, h, &n);
    if (!ok) return;
    if (!s->have_stamp) {
        s->have_stamp = true;
        s->st.stamp_ok++;
        s->st.last_stamp = n;
    } else if (n > s->st.last_stamp) {
        if (n != s->st.last_stamp + 1) s->st.stamp_gaps++;
        s->st.stamp_ok++;
        s->st.last_stamp = n;
    } else {
        s->st.stamp_backwards++;
    }
}

int hc_playback_video(hc_pb_stream_t *s, const uint8_t *const plane[3], const int stride[3],
                      int width, int height, uint64_t pts_us)
{
    if (!s || !s->video || !plane || !stride || width < 2 || height < 2 || width > MAX_DIM ||
        height > MAX_DIM)
        return -HC_EINVAL;
    GstVideoInfo info;
    if (!gst_video_info_set_format(&info, GST_VIDEO_FORMAT_I420, (guint)width, (guint)height))
        return -HC_EINVAL;
    for (int p = 0; p < 3; p++)
        if (!plane[p] || stride[p] < GST_VIDEO_INFO_COMP_WIDTH(&info, p)) return -HC_EINVAL;

    if (width != s->caps_w || height != s->caps_h) {
        GstCaps *caps =
            gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT,
                                width, "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION,
                                0, 1, "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
        gst_app_src_set_caps(GST_APP_SRC(s->src), caps);
        gst_caps_unref(caps);
        s->caps_w = width;
        s->caps_h = height;
    }

    GstBuffer *b = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&info), NULL);
    if (!b) return -HC_ENOMEM;
    GstMapInfo mi;
    if (!gst_buffer_map(b, &mi, GST_MAP_WRITE)) {
        gst_buffer_unref(b);
        return -HC_ENOMEM;
    }
    for (int p = 0; p < 3; p++) {
        int rows = GST_VIDEO_INFO_COMP_HEIGHT(&info, p);
        size_t bytes = (size_t)GST_VIDEO_INFO_COMP_WIDTH(&info, p);
        uint8_t *dst = mi.data + GST_VIDEO_INFO_PLANE_OFFSET(&info, p);
        int dstride = GST_VIDEO_INFO_PLANE_STRIDE(&info, p);
        for (int r = 0; r < rows; r++)
            memcpy(dst + (size_t)r * (size_t)dstride, plane[p] + (size_t)r * (size_t)stride[p],
                   bytes);
    }
    gst_buffer_unmap(b, &mi);
    GST_BUFFER_PTS(b) = to_running_ns(s, pts_us);

    pthread_mutex_lock(&s->mu);
    check_stamp(s, plane[0], stride[0], width, height);
    s->st.width = width;
    s->st.height = height;
    pthread_mutex_unlock(&s->mu);

    int rc = push(s, b);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        s->st.frames++;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

int hc_playback_audio(hc_pb_stream_t *s, const int16_t *pcm, int samples, uint64_t pts_us)
{
    if (!s || s->video || !pcm || samples <= 0 || samples > AUDIO_RATE) return -HC_EINVAL;
    size_t bytes = (size_t)samples * (size_t)s->channels * sizeof(int16_t);
    GstBuffer *b = gst_buffer_new_allocate(NULL, bytes, NULL);
    if (!b) return -HC_ENOMEM;
    gst_buffer_fill(b, 0, pcm, bytes);
    GST_BUFFER_PTS(b) = to_running_ns(s, pts_us);
    GST_BUFFER_DURATION(b) = gst_util_uint64_scale_int((guint64)samples, GST_SECOND, AUDIO_RATE);
    int rc = push(s, b);
    if (rc == 0) {
        pthread_mutex_lock(&s->mu);
        s->st.frames++;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

void hc_pb_stats(const hc_pb_stream_t *s, hc_pb_stats_t *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s) return;
    hc_pb_stream_t *m = (hc_pb_stream_t *)s; /* the lock is not part of the value */
    pthread_mutex_lock(&m->mu);
    *out = s->st;
    pthread_mutex_unlock(&m->mu);
}
