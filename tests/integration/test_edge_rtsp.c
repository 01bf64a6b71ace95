/*
 * test_edge_rtsp.c - the "rtsp" capture preset (edge/capture.c) against a
 * real RTSP server on loopback: libgstrtspserver serving H.264 from
 * videotestsrc ! x264enc, as an IP camera would. The edge must get Annex-B
 * access units that libavcodec decodes, keyframes marked, capture times on
 * both clocks; a keyframe request must reach the camera's encoder (through
 * h264parse, the RTP session's PLI/FIR and the server's payloader) long
 * before its own keyframe interval; and a wrong path or a dead server must
 * be reported, not hang.
 *
 * Built only where gstreamer-rtsp-server-1.0 is found (HC_HAVE_GSTRTSP, set
 * in tests/integration/CMakeLists.txt); elsewhere it says so and passes.
 */
#include "edge/capture.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tests/common/testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HC_HAVE_GSTRTSP

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <libavcodec/avcodec.h>

/* ---- the camera: an RTSP server on its own main context and thread ------------------------- */

/* 10 s between the encoder's own keyframes: a keyframe seen sooner after a
 * request was asked for. */
#define CAMERA_GOP 300

typedef struct {
    GMainContext *ctx;
    GMainLoop *loop;
    GstRTSPServer *srv;
    guint source_id;
    pthread_t thread;
    int port;
} camera_t;

static void *camera_thread(void *arg)
{
    camera_t *cam = arg;
    g_main_context_push_thread_default(cam->ctx);
    g_main_loop_run(cam->loop);
    g_main_context_pop_thread_default(cam->ctx);
    return NULL;
}

static void camera_start(camera_t *cam)
{
    memset(cam, 0, sizeof *cam);
    gst_init(NULL, NULL);
    cam->ctx = g_main_context_new();
    cam->loop = g_main_loop_new(cam->ctx, FALSE);
    cam->srv = gst_rtsp_server_new();
    gst_rtsp_server_set_address(cam->srv, "127.0.0.1");
    gst_rtsp_server_set_service(cam->srv, "0");
    GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points(cam->srv);
    GstRTSPMediaFactory *f = gst_rtsp_media_factory_new();
    char launch[512];
    snprintf(launch, sizeof launch,
             "( videotestsrc is-live=true pattern=ball ! "
             "video/x-raw,width=320,height=180,framerate=30/1 ! "
             "x264enc tune=zerolatency speed-preset=ultrafast bitrate=400 key-int-max=%d ! "
             "rtph264pay name=pay0 pt=96 config-interval=1 )",
             CAMERA_GOP);
    gst_rtsp_media_factory_set_launch(f, launch);
    gst_rtsp_media_factory_set_shared(f, FALSE);
    gst_rtsp_mount_points_add_factory(mounts, "/cam", f);
    g_object_unref(mounts);
    cam->source_id = gst_rtsp_server_attach(cam->srv, cam->ctx);
    ck_assert_uint_ne(cam->source_id, 0);
    cam->port = gst_rtsp_server_get_bound_port(cam->srv);
    ck_assert_int_gt(cam->port, 0);
    ck_assert_int_eq(pthread_create(&cam->thread, NULL, camera_thread, cam), 0);
}

static GstRTSPFilterResult close_client(GstRTSPServer *srv, GstRTSPClient *c, gpointer ud)
{
    (void)srv;
    (void)c;
    (void)ud;
    return GST_RTSP_FILTER_REMOVE;
}

static gboolean quit_loop(gpointer ud)
{
    camera_t *cam = ud;
    gst_rtsp_server_client_filter(cam->srv, close_client, NULL);
    GSource *s = g_main_context_find_source_by_id(cam->ctx, cam->source_id);
    if (s) g_source_destroy(s);
    g_main_loop_quit(cam->loop);
    return G_SOURCE_REMOVE;
}

static void camera_stop(camera_t *cam)
{
    GSource *idle = g_idle_source_new();
    g_source_set_callback(idle, quit_loop, cam, NULL);
    g_source_attach(idle, cam->ctx);
    g_source_unref(idle);
    pthread_join(cam->thread, NULL);
    g_object_unref(cam->srv);
    g_main_loop_unref(cam->loop);
    g_main_context_unref(cam->ctx);
}

/* ---- the edge side ------------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int n, keyframes, annexb, decoded, decode_errors, width, height;
    int first_key; /* index of the first keyframe, -1 before */
    int last_key;  /* index of the latest keyframe */
    bool seq_ok, times_ok;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frm;
} edge_t;

static void edge_init(edge_t *e)
{
    memset(e, 0, sizeof *e);
    pthread_mutex_init(&e->mu, NULL);
    e->first_key = e->last_key = -1;
    e->seq_ok = e->times_ok = true;
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
    ck_assert_ptr_nonnull(c);
    e->dec = avcodec_alloc_context3(c);
    e->dec->thread_count = 1;
    ck_assert_int_eq(avcodec_open2(e->dec, c, NULL), 0);
    e->pkt = av_packet_alloc();
    e->frm = av_frame_alloc();
}

static void edge_fini(edge_t *e)
{
    avcodec_free_context(&e->dec);
    av_packet_free(&e->pkt);
    av_frame_free(&e->frm);
    pthread_mutex_destroy(&e->mu);
}

static void on_au(void *ud, const hc_cap_frame_t *f)
{
    edge_t *e = ud;
    uint64_t now = hc_now_us(), wall = hc_wall_us();
    pthread_mutex_lock(&e->mu);
    if (f->kind != HC_CAP_VIDEO_H264 || f->seq != (uint64_t)e->n) e->seq_ok = false;
    /* captured before delivery, not long before (jitter buffer 100 ms) */
    if (f->pts_us > now || f->pts_us + 2000000 < now || f->wall_us > wall ||
        f->wall_us + 2000000 < wall)
        e->times_ok = false;
    if (f->len >= 4 && f->bytes[0] == 0 && f->bytes[1] == 0 &&
        (f->bytes[2] == 1 || (f->bytes[2] == 0 && f->bytes[3] == 1)))
        e->annexb++;
    if (f->keyframe) {
        e->keyframes++;
        if (e->first_key < 0) e->first_key = e->n;
        e->last_key = e->n;
    }
    /* decode from the first keyframe on (libavcodec wants padding) */
    if (e->first_key >= 0) {
        uint8_t *b = av_malloc(f->len + AV_INPUT_BUFFER_PADDING_SIZE);
        memcpy(b, f->bytes, f->len);
        memset(b + f->len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
        av_packet_from_data(e->pkt, b, (int)f->len);
        if (avcodec_send_packet(e->dec, e->pkt) < 0) e->decode_errors++;
        av_packet_unref(e->pkt);
        while (avcodec_receive_frame(e->dec, e->frm) == 0) {
            e->decoded++;
            e->width = e->frm->width;
            e->height = e->frm->height;
            if (e->frm->decode_error_flags) e->decode_errors++;
            av_frame_unref(e->frm);
        }
    }
    e->n++;
    pthread_mutex_unlock(&e->mu);
}

static int edge_count(edge_t *e)
{
    pthread_mutex_lock(&e->mu);
    int n = e->n;
    pthread_mutex_unlock(&e->mu);
    return n;
}

static bool wait_frames(edge_t *e, hc_capture_t *c, int n, int limit_s)
{
    uint64_t end = hc_now_us() + (uint64_t)limit_s * 1000000u;
    while (edge_count(e) < n && hc_now_us() < end) {
        char err[256];
        if (hc_capture_failed(c, err, sizeof err)) {
            fprintf(stderr, "capture failed: %s\n", err);
            return false;
        }
        usleep(20000);
    }
    return edge_count(e) >= n;
}

START_TEST(rtsp_camera_frames_and_keyframe_request)
{
    camera_t cam;
    camera_start(&cam);
    char url[128], d[1024], err[256];
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/cam", cam.port);
    ck_assert_int_eq(hc_capture_preset("rtsp", url, d, sizeof d, err, sizeof err), 0);
    edge_t e;
    edge_init(&e);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_au, &e, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_start(c), 0);
    /* past the first regular RTCP report (about 2.5 s in), after which
     * feedback may go out early (RFC 4585 3.5.2) */
    ck_assert(wait_frames(&e, c, 100, 60));

    pthread_mutex_lock(&e.mu);
    int keys_before = e.keyframes, n_before = e.n;
    pthread_mutex_unlock(&e.mu);
    ck_assert_int_eq(keys_before, 1); /* the stream's first picture only */

    /* ask the camera for a keyframe: it comes well before its 10 s GOP */
    uint64_t asked = hc_now_us();
    hc_capture_request_keyframe(c);
    int key_at = -1;
    while (hc_now_us() - asked < 8000000u) {
        pthread_mutex_lock(&e.mu);
        if (e.keyframes > keys_before) key_at = e.last_key;
        pthread_mutex_unlock(&e.mu);
        if (key_at >= 0) break;
        usleep(10000);
    }
    uint64_t waited = hc_now_us() - asked;
    fprintf(stderr, "keyframe %d frames / %llu ms after the request\n", key_at - n_before,
            (unsigned long long)(waited / 1000));
    ck_assert_msg(key_at >= 0, "no keyframe after the request");
    ck_assert_int_lt(key_at, CAMERA_GOP - 30);
    ck_assert(wait_frames(&e, c, key_at + 10, 30));
    ck_assert(!hc_capture_failed(c, err, sizeof err));
    hc_capture_destroy(&c);
    camera_stop(&cam);

    ck_assert(e.seq_ok);
    ck_assert(e.times_ok);
    ck_assert_int_eq(e.annexb, e.n);
    ck_assert_int_eq(e.first_key, 0);
    ck_assert_int_eq(e.decode_errors, 0);
    ck_assert_int_ge(e.decoded, e.n - 2); /* a zero-latency decoder: one out per AU */
    ck_assert_int_eq(e.width, 320);
    ck_assert_int_eq(e.height, 180);
    edge_fini(&e);
}
END_TEST

static void expect_failure(const char *url, const char *what)
{
    char d[1024], err[512] = "";
    ck_assert_int_eq(hc_capture_preset("rtsp", url, d, sizeof d, err, sizeof err), 0);
    edge_t e;
    edge_init(&e);
    hc_capture_t *c = NULL;
    ck_assert_int_eq(hc_capture_new(&c, d, on_au, &e, err, sizeof err), 0);
    int rc = hc_capture_start(c);
    ck_assert(rc == 0 || rc == -HC_EIO);
    uint64_t end = hc_now_us() + 30 * 1000000ull;
    while (!hc_capture_failed(c, err, sizeof err) && hc_now_us() < end) usleep(20000);
    fprintf(stderr, "%s: %s\n", what, err);
    ck_assert_msg(hc_capture_failed(c, err, sizeof err), "%s: not reported", what);
    ck_assert_msg(strstr(err, "rtspsrc"), "%s: err: %s", what, err);
    ck_assert_int_eq(e.n, 0);
    hc_capture_destroy(&c);
    edge_fini(&e);
}

START_TEST(rtsp_wrong_path_and_dead_server)
{
    camera_t cam;
    camera_start(&cam);
    char url[128];
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/no-such-camera", cam.port);
    expect_failure(url, "wrong path");
    int port = cam.port;
    camera_stop(&cam);
    snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/cam", port);
    expect_failure(url, "no server");
}
END_TEST

#else /* no gstreamer-rtsp-server here */

START_TEST(rtsp_camera_frames_and_keyframe_request)
{
    fprintf(stderr, "skipped: gstreamer-rtsp-server-1.0 was not found at configure time\n");
}
END_TEST

START_TEST(rtsp_wrong_path_and_dead_server) {}
END_TEST

#endif

static Suite *rtsp_suite(void)
{
    Suite *s = suite_create("edge_rtsp");
    TCase *tc = tcase_create("rtsp");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, rtsp_camera_frames_and_keyframe_request);
    tcase_add_test(tc, rtsp_wrong_path_and_dead_server);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(rtsp_suite)
