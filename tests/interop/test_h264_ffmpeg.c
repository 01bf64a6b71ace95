/*
 * test_h264_ffmpeg.c - the real ffmpeg binary's RTP muxer as a sender we did not write.
 *
 *  - ffmpeg libx264 -f rtp -> UDP on loopback -> proto depacketizer -> libavcodec: 60 frames.
 *    (ffmpeg may send SPS/PPS in-band only with the IDR frames; that is all we need.)
 *  - ffmpeg libopus -f rtp -> hc_opus_packet_samples(): 960 samples per 20 ms packet, and
 *    the RTP timestamp advances by exactly that (RFC 7587 4.1).
 * The ffmpeg binary can be overridden with HC_FFMPEG. Every receive has a deadline, so a
 * stuck ffmpeg fails the test instead of hanging it.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "proto/opus.h"
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- RTP header by hand (RFC 3550 5.1) ------------------------------------------------------ */

typedef struct {
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts, ssrc;
    const uint8_t *payload;
    size_t len;
} rtp_t;

static int rtp_parse(const uint8_t *b, size_t len, rtp_t *r)
{
    if (len < 12 || (b[0] >> 6) != 2) return -1;
    size_t off = 12 + 4u * (b[0] & 0x0f);
    if (len < off) return -1;
    if (b[0] & 0x10) {
        if (len < off + 4) return -1;
        off += 4 + 4u * hc_rd16(b + off + 2);
        if (len < off) return -1;
    }
    size_t end = len;
    if (b[0] & 0x20) {
        if (b[len - 1] == 0 || b[len - 1] > len - off) return -1;
        end -= b[len - 1];
    }
    r->marker = (b[1] & 0x80) != 0;
    r->pt = b[1] & 0x7f;
    r->seq = hc_rd16(b + 2);
    r->ts = hc_rd32(b + 4);
    r->ssrc = hc_rd32(b + 8);
    r->payload = b + off;
    r->len = end - off;
    return 0;
}

/* ---- UDP capture of one ffmpeg run ----------------------------------------------------------- */

typedef struct {
    uint8_t *data[8192];
    size_t len[8192];
    int n;
} capture_t;

static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int big = 4 << 20; /* ffmpeg sends as fast as it encodes; the kernel may cap this */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run ffmpeg with `args` (NULL-terminated, "%URL%" replaced by the RTP URL) and collect every
 * RTP packet it sends until it has exited and the socket stays quiet. */
static void run_ffmpeg(const char *const *args, capture_t *cap)
{
    uint16_t rtp_port, rtcp_port;
    int fd = udp_socket(&rtp_port);
    int rtcp = udp_socket(&rtcp_port); /* RTCP goes here so ffmpeg's sends never bounce */
    char url[128];
    snprintf(url, sizeof url, "rtp://127.0.0.1:%u?rtcpport=%u", rtp_port, rtcp_port);

    const char *ffmpeg = getenv("HC_FFMPEG") ? getenv("HC_FFMPEG") : "ffmpeg";
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)ffmpeg;
    for (int i = 0; args[i]; i++) argv[argc++] = strcmp(args[i], "%URL%") ? (char *)args[i] : url;
    argv[argc] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* the RTP muxer prints an SDP on stdout; errors still reach stderr */
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, ffmpeg, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    ck_assert_msg(rc == 0, "cannot start %s: %s", ffmpeg, strerror(rc));

    memset(cap, 0, sizeof *cap);
    double deadline = now_s() + 120, quiet_since = 0;
    int status = 0;
    bool exited = false;
    uint8_t buf[65536];
    while (now_s() < deadline) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, 100);
        if (pr > 0) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0 && cap->n < 8192) {
                cap->data[cap->n] = malloc((size_t)n);
                memcpy(cap->data[cap->n], buf, (size_t)n);
                cap->len[cap->n++] = (size_t)n;
            }
            quiet_since = 0;
            continue;
        }
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = true;
        if (exited) {
            if (quiet_since == 0)
                quiet_since = now_s();
            else if (now_s() - quiet_since > 0.5)
                break;
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("ffmpeg did not finish in time");
    }
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "ffmpeg failed (status %d)",
                  status);
    close(fd);
    close(rtcp);
}

static void capture_free(capture_t *cap)
{
    for (int i = 0; i < cap->n; i++) free(cap->data[i]);
    cap->n = 0;
}

/* ---- libavcodec H.264 decoder --------------------------------------------------------------- */

typedef struct {
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *frm;
    int frames, errors;
} dec_t;

static void dec_init(dec_t *d)
{
    memset(d, 0, sizeof *d);
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
    ck_assert_ptr_nonnull(c);
    d->ctx = avcodec_alloc_context3(c);
    d->ctx->thread_count = 1;
    d->ctx->err_recognition = AV_EF_EXPLODE;
    ck_assert_int_eq(avcodec_open2(d->ctx, c, NULL), 0);
    d->pkt = av_packet_alloc();
    d->frm = av_frame_alloc();
}

static void dec_receive(dec_t *d)
{
    int r;
    while ((r = avcodec_receive_frame(d->ctx, d->frm)) == 0) {
        d->frames++;
        if (d->frm->decode_error_flags || (d->frm->flags & AV_FRAME_FLAG_CORRUPT)) d->errors++;
        if (d->frm->width != 320 || d->frm->height != 240) d->errors++;
        av_frame_unref(d->frm);
    }
    if (r != AVERROR(EAGAIN) && r != AVERROR_EOF) d->errors++;
}

static void dec_push(dec_t *d, const uint8_t *data, size_t len)
{
    ck_assert_int_eq(av_new_packet(d->pkt, (int)len), 0);
    memcpy(d->pkt->data, data, len);
    if (avcodec_send_packet(d->ctx, d->pkt) < 0) d->errors++;
    av_packet_unref(d->pkt);
    dec_receive(d);
}

static void dec_finish(dec_t *d)
{
    avcodec_send_packet(d->ctx, NULL);
    dec_receive(d);
    av_frame_free(&d->frm);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->ctx);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void h264_from_ffmpeg(const char *pkt_size)
{
    const char *args[] = {"-hide_banner", "-loglevel", "error",     "-nostdin",
                          "-f",           "lavfi",     "-i",        "testsrc=size=320x240:rate=30",
                          "-frames:v",    "60",        "-pix_fmt",  "yuv420p",
                          "-c:v",         "libx264",   "-tune",     "zerolatency",
                          "-bf",          "0",         "-pkt_size", pkt_size,
                          "-f",           "rtp",       "%URL%",     NULL};
    capture_t *cap = calloc(1, sizeof *cap);
    run_ffmpeg(args, cap);
    ck_assert_int_gt(cap->n, 0);

    static uint8_t frame_buf[1 << 21];
    hc_h264_depack_t dp;
    hc_h264_frame_t f;
    dec_t dec;
    hc_h264_depack_init(&dp, frame_buf, sizeof frame_buf);
    dec_init(&dec);
    int aus = 0, incomplete = 0, keyframes = 0, with_sps = 0, fu = 0, stap = 0;
    uint32_t ssrc = 0;
    bool first = true;
    for (int i = 0; i < cap->n; i++) {
        rtp_t r;
        ck_assert_int_eq(rtp_parse(cap->data[i], cap->len[i], &r), 0);
        ck_assert_uint_le(cap->len[i], (size_t)atoi(pkt_size));
        ck_assert_uint_ge(r.pt, 96); /* dynamic payload type */
        if (first) ssrc = r.ssrc;
        ck_assert_uint_eq(r.ssrc, ssrc);
        first = false;
        int t = r.len ? r.payload[0] & 0x1f : -1;
        fu += t == HC_H264_NAL_FU_A;
        stap += t == HC_H264_NAL_STAP_A;
        int rc = hc_h264_depack_push(&dp, r.seq, r.ts, r.marker, r.payload, r.len, &f);
        ck_assert_int_ge(rc, 0);
        for (; rc == 1; rc = hc_h264_depack_pop(&dp, &f)) {
            aus++;
            incomplete += !f.complete;
            keyframes += f.keyframe;
            with_sps += f.has_sps && f.has_pps;
            dec_push(&dec, f.data, f.len);
        }
    }
    while (hc_h264_depack_flush(&dp, &f) == 1) {
        aus++;
        incomplete++;
        dec_push(&dec, f.data, f.len);
    }
    dec_finish(&dec);
    fprintf(stderr,
            "ffmpeg->proto pkt_size %s: %d packets (%d STAP-A, %d FU-A), %d AUs, %d key, "
            "%d with SPS+PPS\n",
            pkt_size, cap->n, stap, fu, aus, keyframes, with_sps);
    ck_assert_int_eq(aus, 60);
    ck_assert_int_eq(incomplete, 0);
    ck_assert_int_ge(keyframes, 1);
    ck_assert_int_ge(with_sps, 1); /* at least the first IDR carries them in-band */
    ck_assert_uint_eq(dp.stats.gaps + dp.stats.malformed + dp.stats.dropped, 0);
    ck_assert(!hc_h264_depack_need_keyframe(&dp));
    ck_assert_int_eq(dec.errors, 0);
    ck_assert_int_eq(dec.frames, 60);
    ck_assert_int_gt(fu, 0);
    capture_free(cap);
    free(cap);
}

START_TEST(ffmpeg_h264_rtp_1200)
{
    h264_from_ffmpeg("1200");
}
END_TEST

START_TEST(ffmpeg_h264_rtp_300)
{
    h264_from_ffmpeg("300");
}
END_TEST

START_TEST(ffmpeg_opus_rtp)
{
    const char *args[] = {
        "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f",           "lavfi",     "-i",    "sine=frequency=440:sample_rate=48000:duration=1",
        "-c:a",         "libopus",   "-b:a",  "32k",
        "-f",           "rtp",       "%URL%", NULL};
    capture_t *cap = calloc(1, sizeof *cap);
    run_ffmpeg(args, cap);
    int packets = 0;
    uint32_t prev_ts = 0;
    int prev_samples = -1;
    uint16_t prev_seq = 0;
    for (int i = 0; i < cap->n; i++) {
        rtp_t r;
        ck_assert_int_eq(rtp_parse(cap->data[i], cap->len[i], &r), 0);
        int samples = hc_opus_packet_samples(r.payload, r.len);
        ck_assert_int_eq(samples, 960); /* libopus' default 20 ms frames at 48 kHz */
        hc_opus_packet_t p;
        ck_assert_int_eq(hc_opus_packet_parse(r.payload, r.len, &p), (int)r.len);
        ck_assert_uint_eq(p.toc.frame_samples * p.frame_count, 960);
        if (prev_samples > 0) {
            ck_assert_uint_eq((uint16_t)(r.seq - prev_seq), 1);
            ck_assert_uint_eq(r.ts - prev_ts, (uint32_t)prev_samples); /* RFC 7587 4.1 */
        }
        prev_ts = r.ts;
        prev_seq = r.seq;
        prev_samples = samples;
        packets++;
    }
    fprintf(stderr, "ffmpeg opus: %d packets of 960 samples\n", packets);
    ck_assert_int_ge(packets, 48); /* one second of audio */
    ck_assert_int_le(packets, 52);
    capture_free(cap);
    free(cap);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("h264_ffmpeg");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ffmpeg_h264_rtp_1200);
    tcase_add_test(tc, ffmpeg_h264_rtp_300);
    tcase_add_test(tc, ffmpeg_opus_rtp);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
