/*
 * test_edge_playback.c - playback of received streams (edge/playback.c):
 * headless playback of stamped frames counts them and sees injected
 * reorders, repeats and gaps; resolution changes mid-stream through a
 * converting sink; several streams at once; audio; "auto" without a display
 * falls back to headless; sink descriptions that cannot work are reported
 * with the element's name; a sink that refuses the stream makes the pushes
 * fail; and frames are rendered at their pts, never early (observed through
 * a udpsink on loopback).
 */
#include "edge/playback.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tests/common/testutil.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An I420 picture in exactly-sized heap planes (ASan sees over-reads). */
typedef struct {
    int w, h;
    uint8_t *p[3];
    int stride[3];
} pic_t;

static void pic_new(pic_t *pc, int w, int h)
{
    pc->w = w;
    pc->h = h;
    for (int i = 0; i < 3; i++) {
        int pw = i ? (w + 1) / 2 : w, ph = i ? (h + 1) / 2 : h;
        pc->stride[i] = pw;
        pc->p[i] = malloc((size_t)pw * (size_t)ph);
        ck_assert_ptr_nonnull(pc->p[i]);
        memset(pc->p[i], i ? 128 : 90, (size_t)pw * (size_t)ph);
    }
}

static void pic_free(pic_t *pc)
{
    for (int i = 0; i < 3; i++) free(pc->p[i]);
}

static int push_stamped(hc_pb_stream_t *s, pic_t *pc, uint32_t n, uint64_t pts)
{
    hc_playback_stamp_write(pc->p[0], pc->stride[0], pc->w, pc->h, n);
    const uint8_t *planes[3] = {pc->p[0], pc->p[1], pc->p[2]};
    return hc_playback_video(s, planes, pc->stride, pc->w, pc->h, pts);
}

START_TEST(headless_counts_100_stamped_frames)
{
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, "headless", "headless", err, sizeof err), 0);
    hc_pb_stream_t *s = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "teacher", &s), 0);
    pic_t pc;
    pic_new(&pc, 320, 180);
    uint64_t t0 = hc_now_us();
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert_int_eq(push_stamped(s, &pc, 1000 + i, t0 + i * 2000), 0);
        usleep(2000);
    }
    hc_pb_stats_t st;
    hc_pb_stats(s, &st);
    ck_assert_uint_eq(st.frames, 100);
    ck_assert_uint_eq(st.stamp_ok, 100);
    ck_assert_uint_eq(st.stamp_backwards, 0);
    ck_assert_uint_eq(st.stamp_gaps, 0);
    ck_assert_uint_eq(st.last_stamp, 1099);
    ck_assert_int_eq(st.width, 320);
    ck_assert_int_eq(st.height, 180);
    pic_free(&pc);
    hc_playback_destroy(&pb);
    ck_assert_ptr_null(pb);
}
END_TEST

START_TEST(reorder_repeat_and_gap_detected)
{
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, "headless", NULL, err, sizeof err), 0);
    hc_pb_stream_t *s = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "diag", &s), 0);
    pic_t pc;
    pic_new(&pc, 160, 90);
    /* 0..9 in order, then 11 before 10 (a reorder: a gap, then a step
     * back), 12 twice (a repeat), 13, a jump to 20, and a frame without a
     * stamp (counted, not judged) */
    static const uint32_t seq[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 10, 12, 12, 13, 20};
    uint64_t t = hc_now_us();
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
        ck_assert_int_eq(push_stamped(s, &pc, seq[i], t + i * 1000), 0);
    memset(pc.p[0], 90, (size_t)pc.w * (size_t)pc.h);
    const uint8_t *planes[3] = {pc.p[0], pc.p[1], pc.p[2]};
    ck_assert_int_eq(hc_playback_video(s, planes, pc.stride, pc.w, pc.h, t + 20000), 0);
    hc_pb_stats_t st;
    hc_pb_stats(s, &st);
    ck_assert_uint_eq(st.frames, 17);
    ck_assert_uint_eq(st.stamp_ok, 14);       /* 0..9, 11, 12, 13, 20 */
    ck_assert_uint_eq(st.stamp_backwards, 2); /* 10 after 11; the second 12 */
    ck_assert_uint_eq(st.stamp_gaps, 2);      /* 9 -> 11, 13 -> 20 */
    ck_assert_uint_eq(st.last_stamp, 20);
    pic_free(&pc);
    hc_playback_destroy(&pb);
}
END_TEST

/* A sink that converts and scales: each size change must renegotiate, or
 * the pipeline errors and the pushes after it fail. */
START_TEST(resolution_changes_mid_stream)
{
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb,
                                     "appsrc name=src ! videoconvert ! videoscale ! "
                                     "video/x-raw,format=RGB,width=64,height=36 ! "
                                     "fakesink sync=true",
                                     "headless", err, sizeof err),
                     0);
    hc_pb_stream_t *s = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "remote classroom", &s), 0);
    static const int sizes[][2] = {{320, 180}, {160, 90}, {640, 360}, {322, 182}, {320, 180}};
    uint32_t n = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        pic_t pc;
        pic_new(&pc, sizes[k][0], sizes[k][1]);
        for (int i = 0; i < 10; i++) {
            ck_assert_int_eq(push_stamped(s, &pc, n++, hc_now_us()), 0);
            usleep(3000);
        }
        hc_pb_stats_t st;
        hc_pb_stats(s, &st);
        ck_assert_int_eq(st.width, sizes[k][0]);
        ck_assert_int_eq(st.height, sizes[k][1]);
        pic_free(&pc);
    }
    usleep(300000); /* let the sink work through the queue */
    pic_t pc;
    pic_new(&pc, 320, 180);
    ck_assert_int_eq(push_stamped(s, &pc, n++, hc_now_us()), 0);
    pic_free(&pc);
    hc_pb_stats_t st;
    hc_pb_stats(s, &st);
    ck_assert_uint_eq(st.frames, 51);
    ck_assert_uint_eq(st.stamp_ok, 51);
    ck_assert_uint_eq(st.stamp_gaps + st.stamp_backwards, 0);
    hc_playback_destroy(&pb);
}
END_TEST

START_TEST(refusing_sink_fails_pushes)
{
    char err[256];
    hc_playback_t *pb = NULL;
    /* video into an audio converter cannot negotiate */
    ck_assert_int_eq(hc_playback_new(&pb, "appsrc name=src ! audioconvert ! fakesink", "headless",
                                     err, sizeof err),
                     0);
    hc_pb_stream_t *s = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "broken", &s), 0);
    pic_t pc;
    pic_new(&pc, 160, 90);
    int rc = 0;
    uint64_t end = hc_now_us() + 10 * 1000000ull;
    for (uint32_t i = 0; rc == 0 && hc_now_us() < end; i++) {
        rc = push_stamped(s, &pc, i, hc_now_us());
        usleep(20000);
    }
    ck_assert_int_eq(rc, -HC_EIO);
    pic_free(&pc);
    hc_playback_destroy(&pb);
}
END_TEST

START_TEST(several_streams)
{
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, "headless", "headless", err, sizeof err), 0);
    hc_pb_stream_t *face = NULL, *diag = NULL, *voice = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "face", &face), 0);
    ck_assert_int_eq(hc_playback_add_video(pb, "diagnostic", &diag), 0);
    ck_assert_int_eq(hc_playback_add_audio(pb, "voice", 1, &voice), 0);
    pic_t small, big;
    pic_new(&small, 160, 90);
    pic_new(&big, 640, 360);
    int16_t pcm[960];
    for (int i = 0; i < 960; i++) pcm[i] = (int16_t)((i % 48) * 500 - 12000);
    uint64_t t = hc_now_us();
    for (uint32_t i = 0; i < 30; i++) {
        if (i < 15) ck_assert_int_eq(push_stamped(face, &small, i, t + i * 20000), 0);
        ck_assert_int_eq(push_stamped(diag, &big, 500 + i, t + i * 20000), 0);
        ck_assert_int_eq(hc_playback_audio(voice, pcm, 960, t + i * 20000), 0);
        if (i == 14) { /* the face camera is dropped by the profile */
            hc_playback_remove(pb, face);
            face = NULL;
        }
        usleep(5000);
    }
    hc_pb_stats_t st;
    hc_pb_stats(diag, &st);
    ck_assert_uint_eq(st.frames, 30);
    ck_assert_uint_eq(st.stamp_ok, 30);
    ck_assert_uint_eq(st.last_stamp, 529);
    ck_assert_int_eq(st.width, 640);
    hc_pb_stats(voice, &st);
    ck_assert_uint_eq(st.frames, 30);
    ck_assert_uint_eq(st.stamp_ok, 0);
    pic_free(&small);
    pic_free(&big);
    hc_playback_destroy(&pb);
}
END_TEST

START_TEST(audio_mono_and_stereo)
{
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, "headless", "headless", err, sizeof err), 0);
    hc_pb_stream_t *mono = NULL, *stereo = NULL;
    ck_assert_int_eq(hc_playback_add_audio(pb, "mono", 1, &mono), 0);
    ck_assert_int_eq(hc_playback_add_audio(pb, "stereo", 2, &stereo), 0);
    int16_t *pcm = malloc(960 * 2 * sizeof(int16_t));
    ck_assert_ptr_nonnull(pcm);
    memset(pcm, 0, 960 * 2 * sizeof(int16_t));
    uint64_t t = hc_now_us();
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(hc_playback_audio(mono, pcm, 960, t + (uint64_t)i * 20000), 0);
        ck_assert_int_eq(hc_playback_audio(stereo, pcm, 960, t + (uint64_t)i * 20000), 0);
    }
    ck_assert_int_eq(hc_playback_audio(mono, pcm, 0, t), -HC_EINVAL);
    ck_assert_int_eq(hc_playback_audio(mono, NULL, 960, t), -HC_EINVAL);
    hc_pb_stats_t st;
    hc_pb_stats(stereo, &st);
    ck_assert_uint_eq(st.frames, 50);
    /* audio into a video stream and video into an audio one are refused */
    const uint8_t *planes[3] = {(const uint8_t *)pcm, (const uint8_t *)pcm, (const uint8_t *)pcm};
    int strides[3] = {16, 8, 8};
    ck_assert_int_eq(hc_playback_video(mono, planes, strides, 16, 16, t), -HC_EINVAL);
    hc_pb_stream_t *bad = NULL;
    ck_assert_int_eq(hc_playback_add_audio(pb, "none", 0, &bad), -HC_EINVAL);
    ck_assert_int_eq(hc_playback_add_audio(pb, "many", 9, &bad), -HC_EINVAL);
    free(pcm);
    hc_playback_destroy(&pb);
}
END_TEST

START_TEST(auto_without_display_is_headless)
{
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    char err[256];
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, "auto", "auto", err, sizeof err), 0);
    hc_pb_stream_t *v = NULL, *a = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "teacher", &v), 0);
    ck_assert_int_eq(hc_playback_add_audio(pb, "teacher", 1, &a), 0);
    pic_t pc;
    pic_new(&pc, 160, 90);
    int16_t pcm[960] = {0};
    uint64_t t = hc_now_us();
    for (uint32_t i = 0; i < 20; i++) {
        ck_assert_int_eq(push_stamped(v, &pc, i, t + i * 20000), 0);
        ck_assert_int_eq(hc_playback_audio(a, pcm, 960, t + i * 20000), 0);
        usleep(10000);
    }
    hc_pb_stats_t st;
    hc_pb_stats(v, &st);
    ck_assert_uint_eq(st.stamp_ok, 20);
    pic_free(&pc);
    hc_playback_destroy(&pb);
}
END_TEST

START_TEST(bad_sinks_named)
{
    char err[256];
    hc_playback_t *pb = (hc_playback_t *)1;
    ck_assert_int_eq(
        hc_playback_new(&pb, "appsrc name=src ! hillcastnosink", "headless", err, sizeof err),
        -HC_ECONFIG);
    ck_assert_ptr_null(pb);
    ck_assert_msg(strstr(err, "hillcastnosink"), "err: %s", err);
    ck_assert_int_eq(
        hc_playback_new(&pb, "headless", "appsrc name=other ! fakesink", err, sizeof err),
        -HC_ECONFIG);
    ck_assert_msg(strstr(err, "\"src\""), "err: %s", err);
    ck_assert_int_eq(
        hc_playback_new(&pb, "appsrc name=src ! ! fakesink", "headless", err, sizeof err),
        -HC_ECONFIG);
    ck_assert_msg(strstr(err, "pipeline"), "err: %s", err);
    ck_assert_int_eq(hc_playback_new(NULL, "headless", "headless", err, sizeof err), -HC_EINVAL);
    hc_playback_destroy(NULL);
    hc_pb_stats_t st;
    hc_pb_stats(NULL, &st);
    ck_assert_uint_eq(st.frames, 0);

    ck_assert_int_eq(hc_playback_new(&pb, "headless", "headless", err, sizeof err), 0);
    hc_pb_stream_t *s = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, NULL, &s), 0);
    pic_t pc;
    pic_new(&pc, 64, 36);
    const uint8_t *planes[3] = {pc.p[0], pc.p[1], pc.p[2]};
    int short_stride[3] = {63, 32, 32};
    ck_assert_int_eq(hc_playback_video(s, planes, short_stride, 64, 36, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_playback_video(s, planes, pc.stride, 0, 36, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_playback_video(s, NULL, pc.stride, 64, 36, 0), -HC_EINVAL);
    const uint8_t *holes[3] = {pc.p[0], NULL, pc.p[2]};
    ck_assert_int_eq(hc_playback_video(s, holes, pc.stride, 64, 36, 0), -HC_EINVAL);
    /* a pts before the playback began plays at once */
    ck_assert_int_eq(hc_playback_video(s, planes, pc.stride, 64, 36, 0), 0);
    /* odd sizes: chroma rounds up */
    pic_t odd;
    pic_new(&odd, 33, 17);
    const uint8_t *op[3] = {odd.p[0], odd.p[1], odd.p[2]};
    ck_assert_int_eq(hc_playback_video(s, op, odd.stride, 33, 17, hc_now_us()), 0);
    pic_free(&odd);
    pic_free(&pc);
    hc_playback_destroy(&pb);
}
END_TEST

/* ---- timing through a loopback udpsink --------------------------------------------------- */

static int udp_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return fd;
}

/* Receive up to n datagrams; record when each arrived and its size. */
static int udp_collect(int fd, int n, uint64_t *at, size_t *size, int limit_ms)
{
    static uint8_t buf[65536];
    int got = 0;
    uint64_t end = hc_now_us() + (uint64_t)limit_ms * 1000u;
    while (got < n && hc_now_us() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) continue;
        at[got] = hc_now_us();
        size[got] = (size_t)r;
        got++;
    }
    return got;
}

START_TEST(rendered_at_pts_never_early)
{
    int port;
    int fd = udp_listen(&port);
    char vdesc[256], adesc[256], err[256];
    snprintf(vdesc, sizeof vdesc, "appsrc name=src ! udpsink host=127.0.0.1 port=%d sync=true",
             port);
    snprintf(adesc, sizeof adesc, "appsrc name=src ! udpsink host=127.0.0.1 port=%d sync=true",
             port);
    hc_playback_t *pb = NULL;
    ck_assert_int_eq(hc_playback_new(&pb, vdesc, adesc, err, sizeof err), 0);
    hc_pb_stream_t *v = NULL;
    ck_assert_int_eq(hc_playback_add_video(pb, "timed", &v), 0);
    pic_t pc;
    pic_new(&pc, 160, 90); /* 21600 bytes: one datagram */
    enum { N = 10 };
    uint64_t pts[N], at[N];
    size_t size[N];
    /* a first frame: the sinks report their latency once they have data */
    ck_assert_int_eq(push_stamped(v, &pc, 0, hc_now_us()), 0);
    ck_assert_int_eq(udp_collect(fd, 1, at, size, 10000), 1);
    /* ten frames pushed at once, to be shown 300 ms from now, 40 ms apart */
    uint64_t base = hc_now_us() + 300000;
    for (int i = 0; i < N; i++) {
        pts[i] = base + (uint64_t)i * 40000;
        ck_assert_int_eq(push_stamped(v, &pc, (uint32_t)i + 1, pts[i]), 0);
    }
    ck_assert_int_eq(udp_collect(fd, N, at, size, 10000), N);
    for (int i = 0; i < N; i++) {
        long long d = (long long)at[i] - (long long)pts[i];
        if (i == 0) fprintf(stderr, "frame rendered %+lld us from its pts\n", d);
        ck_assert_uint_eq(size[i], 160 * 90 * 3 / 2);
        ck_assert_msg(d > -5000, "frame %d rendered %lld us early", i, -d);
        ck_assert_msg(d < 250000, "frame %d rendered %lld us late", i, d);
    }
    /* the spacing is kept: sync follows the pts, not the push times */
    ck_assert_uint_ge(at[N - 1] - at[0], (N - 1) * 40000 - 10000);
    pic_free(&pc);

    hc_pb_stream_t *a = NULL;
    ck_assert_int_eq(hc_playback_add_audio(pb, "timed audio", 1, &a), 0);
    int16_t pcm[960] = {0};
    ck_assert_int_eq(hc_playback_audio(a, pcm, 960, hc_now_us()), 0);
    ck_assert_int_eq(udp_collect(fd, 1, at, size, 10000), 1);
    base = hc_now_us() + 200000;
    for (int i = 0; i < N; i++) {
        pts[i] = base + (uint64_t)i * 20000;
        ck_assert_int_eq(hc_playback_audio(a, pcm, 960, pts[i]), 0);
    }
    ck_assert_int_eq(udp_collect(fd, N, at, size, 10000), N);
    for (int i = 0; i < N; i++) {
        long long d = (long long)at[i] - (long long)pts[i];
        ck_assert_uint_eq(size[i], 1920);
        ck_assert_msg(d > -5000, "chunk %d played %lld us early", i, -d);
        ck_assert_msg(d < 250000, "chunk %d played %lld us late", i, d);
    }
    hc_playback_destroy(&pb);
    close(fd);
}
END_TEST

static Suite *playback_suite(void)
{
    Suite *s = suite_create("edge_playback");
    TCase *tc = tcase_create("playback");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, headless_counts_100_stamped_frames);
    tcase_add_test(tc, reorder_repeat_and_gap_detected);
    tcase_add_test(tc, resolution_changes_mid_stream);
    tcase_add_test(tc, refusing_sink_fails_pushes);
    tcase_add_test(tc, several_streams);
    tcase_add_test(tc, audio_mono_and_stereo);
    tcase_add_test(tc, auto_without_display_is_headless);
    tcase_add_test(tc, bad_sinks_named);
    tcase_add_test(tc, rendered_at_pts_never_early);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(playback_suite)
