/*
 * test_edge_capture.c - capture sources (edge/capture.c) on this machine:
 * the presets' descriptions and argument checks, frames from the "test" and
 * "audiotest" presets and from custom descriptions (caps added by capture.c,
 * audio re-cut into 20 ms chunks), a short lesson file made here with
 * GStreamer (video and audio branches, real-time pacing, end of stream),
 * errors that name a missing element, a parse error or a missing device.
 * The RTSP preset runs against a real RTSP server in
 * tests/integration/test_edge_rtsp.c.
 */
#include "edge/capture.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tests/common/testutil.h"

#include <gst/gst.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a consumer that records what it gets --------------------------------------------------- */

#define MAXF 512

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    int kinds[4];
    int width, height, channels, samples;
    bool strides_ok, seq_ok, pts_ok, audio_loud;
    uint64_t pts[MAXF], wall[MAXF];
    int keyframes;
    bool first_annexb;
} sink_t;

static void sink_init(sink_t *k)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->strides_ok = k->seq_ok = k->pts_ok = true;
}

static void sink_fini(sink_t *k)
{
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
}

static void on_frame(void *ud, const hc_cap_frame_t *f)
{
    sink_t *k = ud;
    pthread_mutex_lock(&k->mu);
    if (f->seq != (uint64_t)k->n) k->seq_ok = false;
    if (k->n < MAXF) {
        k->pts[k->n] = f->pts_us;
        k->wall[k->n] = f->wall_us;
        if (k->n && f->pts_us < k->pts[k->n - 1]) k->pts_ok = false;
    }
    if (f->kind >= 1 && f->kind <= 3) k->kinds[f->kind]++;
    if (f->kind == HC_CAP_VIDEO_I420) {
        k->width = f->width;
        k->height = f->height;
        if (!f->plane[0] || !f->plane[1] || !f->plane[2] || f->stride[0] < f->width ||
            f->stride[1] < (f->width + 1) / 2 || f->stride[2] < (f->width + 1) / 2)
            k->strides_ok = false;
        else /* touch the last byte of every plane: ASan checks the mapping */
            for (int p = 0; p < 3; p++) {
                int h = p ? (f->height + 1) / 2 : f->height, w = p ? (f->width + 1) / 2 : f->width;
                volatile uint8_t v =
                    f->plane[p][(size_t)(h - 1) * (size_t)f->stride[p] + (size_t)w - 1];
                (void)v;
            }
    } else if (f->kind == HC_CAP_AUDIO_S16) {
        k->channels = f->channels;
        k->samples = f->samples;
        for (int i = 0; i < f->samples * f->channels; i++)
            if (f->pcm[i] > 2000 || f->pcm[i] < -2000) k->audio_loud = true;
    } else if (f->kind == HC_CAP_VIDEO_H264) {
        if (f->keyframe) k->keyframes++;
        if (k->n == 0)
            k->first_annexb = f->len >= 4 && f->bytes[0] == 0 && f->bytes[1] == 0 &&
                              (f->bytes[2] == 1 || (f->bytes[2] == 0 && f->bytes[3] == 1));
    }
    k->n++;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

/* Wait until n frames arrived or the source failed; the limit only guards
 * against a hang. */
static int sink_wait(sink_t *k, hc_capture_t *c, int n, int limit_s)
{
    uint64_t end = hc_now_us() + (uint64_t)limit_s * 1000000u;
    pthread_mutex_lock(&k->mu);
    while (k->n < n && hc_now_us() < end) {
        pthread_mutex_unlock(&k->mu);
        if (c && hc_capture_failed(c, NULL, 0)) {
            pthread_mutex_lock(&k->mu);
            break;
        }
        usleep(10000);
        pthread_mutex_lock(&k->mu);
    }
    int got = k->n;
    pthread_mutex_unlock(&k->mu);
    return got;
}

static bool contains(const char *s, const char *sub)
{
    return s && strstr(s, sub) != NULL;
}

/* ---- presets ------------------------------------------------------------------------------- */

START_TEST(preset_descriptions)
{
    char d[1024], err[256];
    ck_assert_int_eq(hc_capture_preset("test", "320x180@15", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "videotestsrc is-live=true"));
    ck_assert(contains(d, "width=320,height=180,framerate=15/1"));
    ck_assert(contains(d, "appsink name=sink"));
    ck_assert_int_eq(hc_capture_preset("test", NULL, d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "width=1280,height=720,framerate=30/1"));
    ck_assert_int_eq(hc_capture_preset("test", "640x360", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "width=640,height=360,framerate=30/1"));

    ck_assert_int_eq(hc_capture_preset("audiotest", "", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "audiotestsrc is-live=true"));
    ck_assert_int_eq(hc_capture_preset("v4l2", "/dev/video2", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "v4l2src device=\"/dev/video2\""));
    ck_assert_int_eq(hc_capture_preset("v4l2", NULL, d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "/dev/video0"));
    ck_assert_int_eq(
        hc_capture_preset("v4l2", "/dev/video1@1280x720@30", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "v4l2src device=\"/dev/video1\""));
    ck_assert(contains(d, "video/x-raw,width=1280,height=720,framerate=30/1; "
                          "image/jpeg,width=1280,height=720,framerate=30/1"));
    ck_assert(contains(d, "decodebin ! videoconvert"));
    {
        hc_capture_t *c = NULL; /* the description builds */
        ck_assert_int_eq(hc_capture_new(&c, d, on_frame, NULL, err, sizeof err), 0);
        hc_capture_destroy(&c);
    }
    ck_assert_int_eq(hc_capture_preset("v4l2", "@640x480@15", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "/dev/video0"));
    ck_assert_int_eq(hc_capture_preset("alsa", "hw:1", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "alsasrc device=\"hw:1\""));
    ck_assert_int_eq(hc_capture_preset("pulse", NULL, d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "pulsesrc ! "));
    ck_assert_int_eq(
        hc_capture_preset("rtsp", "rtsp://10.0.0.5/stream1", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "rtspsrc location=\"rtsp://10.0.0.5/stream1\""));
    ck_assert(contains(d, "rtph264depay ! h264parse"));
    ck_assert_int_eq(hc_capture_preset("file", "/srv/lesson 1.mp4", d, sizeof d, err, sizeof err),
                     0);
    ck_assert(contains(d, "filesrc location=\"/srv/lesson 1.mp4\" ! decodebin ! videoconvert"));
    ck_assert(contains(d, "sync=true"));
    ck_assert_int_eq(hc_capture_preset("file", "audio:/srv/a.ogg", d, sizeof d, err, sizeof err),
                     0);
    ck_assert(contains(d, "location=\"/srv/a.ogg\" ! decodebin ! audioconvert"));
    /* quotes and backslashes in a file name are escaped for the parser */
    ck_assert_int_eq(hc_capture_preset("file", "a\"b\\c", d, sizeof d, err, sizeof err), 0);
    ck_assert(contains(d, "location=\"a\\\"b\\\\c\""));
}
END_TEST

START_TEST(preset_errors)
{
    char d[1024], err[256];
    static const char *bad_modes[] = {"320x",      "abc",           "0x0@30",    "321x180@30",
                                      "320x180@0", "320x180@30fps", "99999x180", "320x180@500"};
    for (size_t i = 0; i < sizeof bad_modes / sizeof bad_modes[0]; i++) {
        err[0] = '\0';
        ck_assert_int_eq(hc_capture_preset("test", bad_modes[i], d, sizeof d, err, sizeof err),
                         -HC_EINVAL);
        ck_assert_msg(contains(err, bad_modes[i]), "err: %s", err);
    }
    ck_assert_int_eq(hc_capture_preset("v4l2", "/dev/video0@big", d, sizeof d, err, sizeof err),
                     -HC_EINVAL);
    ck_assert(contains(err, "big"));
    ck_assert_int_eq(hc_capture_preset("v4l2", "/dev/video0@", d, sizeof d, err, sizeof err),
                     -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("webcam", NULL, d, sizeof d, err, sizeof err), -HC_EINVAL);
    ck_assert(contains(err, "webcam"));
    ck_assert_int_eq(hc_capture_preset("rtsp", "http://cam/x", d, sizeof d, err, sizeof err),
                     -HC_EINVAL);
    ck_assert(contains(err, "rtsp://"));
    ck_assert_int_eq(hc_capture_preset("rtsp", NULL, d, sizeof d, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("file", "", d, sizeof d, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("file", "audio:", d, sizeof d, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("audiotest", "loud", d, sizeof d, err, sizeof err),
                     -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("file", "a\nb", d, sizeof d, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_capture_preset("test", NULL, d, 20, err, sizeof err), -HC_ENOSPC);
    ck_assert_int_eq(hc_capture_preset(NULL, NULL, d, sizeof d, err, sizeof err), -HC_EINVAL);
    /* a NULL error buffer is allowed */
    ck_assert_int_eq(hc_capture_preset("nope", NULL, d, sizeof d, NULL, 0), -HC_EINVAL);
}
END_TEST

/* ---- live sources -------------------------------------------------------------------------- */

START_TEST(test_preset_frames)
{
    char d[1024], err[256];
    ck_assert_int_eq(hc_capture_preset("test", "320x180@30", d, sizeof d, err, sizeof err), 0);
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_frame, &k, err, sizeof err), 0);
    uint64_t t0 = hc_now_us(), w0 = hc_wall_us();
    ck_assert_int_eq(hc_capture_start(c), 0);
    ck_assert_int_ge(sink_wait(&k, c, 30, 30), 30);
    hc_capture_request_keyframe(c); /* raw video: nothing to ask, must be harmless */
    hc_capture_stop(c);
    uint64_t t1 = hc_now_us(), w1 = hc_wall_us();
    ck_assert(!hc_capture_failed(c, err, sizeof err));
    hc_capture_destroy(&c);
    ck_assert_ptr_null(c);

    ck_assert_int_eq(k.kinds[HC_CAP_VIDEO_I420], k.n);
    ck_assert_int_eq(k.width, 320);
    ck_assert_int_eq(k.height, 180);
    ck_assert(k.strides_ok);
    ck_assert(k.seq_ok);
    ck_assert(k.pts_ok);
    /* both clocks: inside the capture window (the source is live, so a
     * frame is at most a little older than its delivery) */
    ck_assert_uint_ge(k.pts[0] + 200000, t0);
    ck_assert_uint_le(k.pts[k.n - 1], t1);
    ck_assert_uint_ge(k.wall[0] + 200000, w0);
    ck_assert_uint_le(k.wall[k.n - 1], w1 + 1000);
    /* a live 30 fps source: 29 intervals span about 967 ms */
    uint64_t span = k.pts[29] - k.pts[0];
    ck_assert_msg(span > 700000 && span < 1300000, "span %llu", (unsigned long long)span);
    sink_fini(&k);
}
END_TEST

START_TEST(audiotest_preset_chunks)
{
    char d[1024], err[256];
    ck_assert_int_eq(hc_capture_preset("audiotest", NULL, d, sizeof d, err, sizeof err), 0);
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_frame, &k, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    ck_assert_int_ge(sink_wait(&k, c, 25, 30), 25);
    hc_capture_destroy(&c);
    ck_assert_int_eq(k.kinds[HC_CAP_AUDIO_S16], k.n);
    ck_assert_int_eq(k.samples, 960);
    ck_assert_int_eq(k.channels, 1);
    ck_assert(k.audio_loud);
    ck_assert(k.seq_ok);
    uint64_t span = k.pts[24] - k.pts[0]; /* 24 chunks of 20 ms */
    ck_assert_msg(span > 400000 && span < 560000, "span %llu", (unsigned long long)span);
    sink_fini(&k);
}
END_TEST

/* A description of our own without caps: capture.c adds them; 44.1 kHz in
 * 441-sample buffers comes out as 48 kHz stereo in 960-sample chunks. */
START_TEST(custom_audio_rechunked)
{
    const char *d = "audiotestsrc is-live=true samplesperbuffer=441 ! "
                    "audio/x-raw,rate=44100,channels=2 ! audioconvert ! audioresample ! "
                    "appsink name=sink";
    char err[256];
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_frame, &k, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    ck_assert_int_ge(sink_wait(&k, c, 30, 30), 30);
    hc_capture_destroy(&c);
    ck_assert_int_eq(k.kinds[HC_CAP_AUDIO_S16], k.n);
    ck_assert_int_eq(k.samples, 960);
    ck_assert_int_eq(k.channels, 2);
    ck_assert(k.seq_ok);
    ck_assert(k.pts_ok);
    /* chunk times step by 20 ms (from the sample count, not delivery) */
    uint64_t span = k.pts[29] - k.pts[1];
    ck_assert_msg(span > 500000 && span < 620000, "span %llu", (unsigned long long)span);
    sink_fini(&k);
}
END_TEST

START_TEST(custom_video_caps_added)
{
    const char *d = "videotestsrc is-live=true pattern=ball ! "
                    "video/x-raw,width=64,height=48,framerate=30/1 ! appsink name=sink";
    char err[256];
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_frame, &k, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    ck_assert_int_ge(sink_wait(&k, c, 5, 30), 5);
    /* stop and start again: frame numbers go on */
    hc_capture_stop(c);
    ck_assert_int_eq(hc_capture_start(c), 0);
    int before = sink_wait(&k, c, 0, 0);
    ck_assert_int_ge(sink_wait(&k, c, before + 5, 30), before + 5);
    hc_capture_destroy(&c);
    ck_assert_int_eq(k.kinds[HC_CAP_VIDEO_I420], k.n);
    ck_assert_int_eq(k.width, 64);
    ck_assert_int_eq(k.height, 48);
    ck_assert(k.seq_ok);
    sink_fini(&k);
}
END_TEST

/* A consumer slower than the source sees the live edge: frames are
 * dropped, the ones it gets are recent. */
static void slow_frame(void *ud, const hc_cap_frame_t *f)
{
    sink_t *k = ud;
    on_frame(ud, f);
    pthread_mutex_lock(&k->mu);
    int n = k->n;
    pthread_mutex_unlock(&k->mu);
    if (n == 1) usleep(600000);
}

START_TEST(slow_consumer_gets_live_edge)
{
    char d[1024], err[256];
    ck_assert_int_eq(hc_capture_preset("test", "160x90@30", d, sizeof d, err, sizeof err), 0);
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, slow_frame, &k, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    ck_assert_int_ge(sink_wait(&k, c, 3, 30), 3);
    hc_capture_destroy(&c);
    /* the frame after the 600 ms stall is a recent one: the frames of the
     * stall were dropped, not queued (a queue would hand out the frame
     * 33 ms after the first) */
    ck_assert_uint_ge(k.pts[1] - k.pts[0], 400000);
    sink_fini(&k);
}
END_TEST

/* ---- a lesson file ------------------------------------------------------------------------- */

static char tmpdir[256];

static void make_lesson_file(char *path, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/hc-capture-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, cap, "%s/lesson.mkv", tmpdir);
    gst_init(NULL, NULL);
    char desc[1024];
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=60 pattern=ball ! "
             "video/x-raw,width=320,height=180,framerate=30/1 ! "
             "x264enc speed-preset=ultrafast tune=zerolatency ! h264parse ! matroskamux name=mux ! "
             "filesink location=\"%s\" "
             "audiotestsrc num-buffers=100 samplesperbuffer=960 wave=sine volume=0.5 ! "
             "audio/x-raw,rate=48000,channels=1 ! audioconvert ! opusenc ! mux.",
             path);
    GError *e = NULL;
    GstElement *p = gst_parse_launch(desc, &e);
    ck_assert_msg(p && !e, "%s", e ? e->message : "");
    ck_assert_int_ne(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstBus *bus = gst_element_get_bus(p);
    GstMessage *m =
        gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
    gst_message_unref(m);
    gst_object_unref(bus);
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
}

static void remove_lesson_file(const char *path)
{
    unlink(path);
    rmdir(tmpdir);
}

static void capture_to_end(const char *desc, sink_t *k, char *err, size_t errcap)
{
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, desc, on_frame, k, err, errcap), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    uint64_t end = hc_now_us() + 60 * 1000000ull;
    while (!hc_capture_failed(c, err, errcap) && hc_now_us() < end) usleep(20000);
    ck_assert_msg(hc_capture_failed(c, err, errcap), "file did not end");
    hc_capture_destroy(&c);
}

START_TEST(file_video_and_audio)
{
    char path[512], d[1024], err[256];
    make_lesson_file(path, sizeof path);

    ck_assert_int_eq(hc_capture_preset("file", path, d, sizeof d, err, sizeof err), 0);
    sink_t k;
    sink_init(&k);
    capture_to_end(d, &k, err, sizeof err);
    ck_assert_msg(contains(err, "end of stream"), "err: %s", err);
    ck_assert_int_eq(k.kinds[HC_CAP_VIDEO_I420], k.n);
    ck_assert_int_eq(k.n, 60);
    ck_assert_int_eq(k.width, 320);
    ck_assert_int_eq(k.height, 180);
    ck_assert(k.seq_ok);
    ck_assert(k.pts_ok);
    /* paced in real time: 59 intervals of 33 ms, not as fast as decoding */
    uint64_t span = k.pts[59] - k.pts[0];
    ck_assert_msg(span > 1500000 && span < 2600000, "span %llu", (unsigned long long)span);
    sink_fini(&k);

    char arg[600];
    snprintf(arg, sizeof arg, "audio:%s", path);
    ck_assert_int_eq(hc_capture_preset("file", arg, d, sizeof d, err, sizeof err), 0);
    sink_init(&k);
    capture_to_end(d, &k, err, sizeof err);
    ck_assert_msg(contains(err, "end of stream"), "err: %s", err);
    ck_assert_int_eq(k.kinds[HC_CAP_AUDIO_S16], k.n);
    ck_assert_int_ge(k.n, 95); /* 2 s of sound: 100 chunks, the encoder may trim a few */
    ck_assert_int_le(k.n, 101);
    ck_assert_int_eq(k.samples, 960);
    ck_assert(k.audio_loud);
    ck_assert(k.seq_ok);
    sink_fini(&k);

    remove_lesson_file(path);
}
END_TEST

START_TEST(file_missing)
{
    char d[1024], err[256];
    ck_assert_int_eq(
        hc_capture_preset("file", "/nonexistent/hillcast/lesson.mp4", d, sizeof d, err, sizeof err),
        0);
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_frame, &k, err, sizeof err), 0);
    int rc = hc_capture_start(c);
    uint64_t end = hc_now_us() + 10 * 1000000ull;
    while (!hc_capture_failed(c, err, sizeof err) && hc_now_us() < end) usleep(10000);
    ck_assert(rc == 0 || rc == -HC_EIO);
    ck_assert(hc_capture_failed(c, err, sizeof err));
    ck_assert_msg(contains(err, "filesrc") && contains(err, "lesson.mp4"), "err: %s", err);
    hc_capture_destroy(&c);
    sink_fini(&k);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------------- */

START_TEST(bad_pipelines_named)
{
    char err[256];
    hc_capture_t *c = (hc_capture_t *)1;
    sink_t k;
    sink_init(&k);
    ck_assert_int_eq(hc_capture_new(&c, "videotestsrc ! hillcastnosuchelement ! appsink name=sink",
                                    on_frame, &k, err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_ptr_null(c);
    ck_assert_msg(contains(err, "hillcastnosuchelement"), "err: %s", err);

    ck_assert_int_eq(
        hc_capture_new(&c, "videotestsrc ! ! appsink name=sink", on_frame, &k, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_msg(contains(err, "pipeline"), "err: %s", err);

    ck_assert_int_eq(hc_capture_new(&c, "videotestsrc hillcast-prop=1 ! appsink name=sink",
                                    on_frame, &k, err, sizeof err),
                     -HC_ECONFIG);
    ck_assert_msg(contains(err, "hillcast-prop"), "err: %s", err);

    ck_assert_int_eq(
        hc_capture_new(&c, "videotestsrc ! fakesink name=sink", on_frame, &k, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_msg(contains(err, "appsink"), "err: %s", err);
    ck_assert_int_eq(
        hc_capture_new(&c, "videotestsrc ! appsink name=other", on_frame, &k, err, sizeof err),
        -HC_ECONFIG);
    ck_assert_msg(contains(err, "sink"), "err: %s", err);

    ck_assert_int_eq(hc_capture_new(&c, "", on_frame, &k, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(
        hc_capture_new(&c, "videotestsrc ! appsink name=sink", NULL, &k, err, sizeof err),
        -HC_EINVAL);
    ck_assert_int_eq(hc_capture_new(NULL, "x", on_frame, &k, err, sizeof err), -HC_EINVAL);

    /* a lone appsink is wrapped and builds (it never gets data) */
    ck_assert_int_eq(hc_capture_new(&c, "appsink name=sink", on_frame, &k, err, sizeof err), 0);
    hc_capture_destroy(&c);
    hc_capture_destroy(&c); /* NULL is fine */
    hc_capture_destroy(NULL);
    hc_capture_stop(NULL);
    hc_capture_request_keyframe(NULL);
    ck_assert(!hc_capture_failed(NULL, err, sizeof err));
    sink_fini(&k);
}
END_TEST

START_TEST(unsupported_format_reported)
{
    char err[256];
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c,
                                    "videotestsrc is-live=true ! video/x-raw,width=64,height=48 ! "
                                    "appsink name=sink caps=video/x-raw,format=RGB",
                                    on_frame, &k, err, sizeof err),
                     0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    uint64_t end = hc_now_us() + 10 * 1000000ull;
    while (!hc_capture_failed(c, err, sizeof err) && hc_now_us() < end) usleep(10000);
    ck_assert_msg(contains(err, "I420"), "err: %s", err);
    ck_assert_int_eq(k.n, 0);
    hc_capture_destroy(&c);
    sink_fini(&k);
}
END_TEST

/* Devices that are not here: the error says which, at build or start or
 * shortly after (depending on where the element notices). */
static void device_missing(const char *preset, const char *arg, const char *want1,
                           const char *want2)
{
    char d[1024], err[512] = "";
    ck_assert_int_eq(hc_capture_preset(preset, arg, d, sizeof d, err, sizeof err), 0);
    sink_t k;
    sink_init(&k);
    hc_capture_t *c = NULL;
    int rc = hc_capture_new(&c, d, on_frame, &k, err, sizeof err);
    if (rc == 0) {
        rc = hc_capture_start(c);
        uint64_t end = hc_now_us() + 10 * 1000000ull;
        while (!hc_capture_failed(c, err, sizeof err) && hc_now_us() < end) usleep(10000);
        ck_assert_msg(hc_capture_failed(c, err, sizeof err), "%s: no error", preset);
        hc_capture_destroy(&c);
    } else {
        ck_assert_int_eq(rc, -HC_ECONFIG);
    }
    fprintf(stderr, "%s: %s\n", preset, err);
    ck_assert_msg(contains(err, want1) || contains(err, want2), "%s: err: %s", preset, err);
    ck_assert_int_eq(k.n, 0);
    sink_fini(&k);
}

START_TEST(v4l2_device_missing)
{
    device_missing("v4l2", "/dev/hillcast-no-camera", "/dev/hillcast-no-camera", "v4l2src");
}
END_TEST

START_TEST(alsa_device_missing)
{
    /* alsasrc may itself be missing (gstreamer1.0-alsa): the error names it */
    device_missing("alsa", "hw:77,7", "alsasrc", "hw:77,7");
}
END_TEST

START_TEST(pulse_server_missing)
{
    setenv("PULSE_SERVER", "unix:/nonexistent/hillcast-pulse", 1);
    device_missing("pulse", "hillcast-no-mic", "pulsesrc", "hillcast-no-mic");
}
END_TEST

static Suite *capture_suite(void)
{
    Suite *s = suite_create("edge_capture");
    TCase *tc = tcase_create("capture");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, preset_descriptions);
    tcase_add_test(tc, preset_errors);
    tcase_add_test(tc, test_preset_frames);
    tcase_add_test(tc, audiotest_preset_chunks);
    tcase_add_test(tc, custom_audio_rechunked);
    tcase_add_test(tc, custom_video_caps_added);
    tcase_add_test(tc, slow_consumer_gets_live_edge);
    tcase_add_test(tc, file_video_and_audio);
    tcase_add_test(tc, file_missing);
    tcase_add_test(tc, bad_pipelines_named);
    tcase_add_test(tc, unsupported_format_reported);
    tcase_add_test(tc, v4l2_device_missing);
    tcase_add_test(tc, alsa_device_missing);
    tcase_add_test(tc, pulse_server_missing);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(capture_suite)
