/* test_edge_record.c - the edge's local recording (edge/record.h): libx264
 * pictures and Opus packets made as the edge makes them go into MPEG-TS
 * files in flushed parts; libavformat/libavcodec (and ffprobe when it is
 * installed) then read every file back. A recording process killed with
 * SIGKILL in the middle loses at most its last part, and what it left
 * plays. And the media engine (edge/media.h record_dir) records what it
 * captures and encodes. */
#include "edge/aenc.h"
#include "edge/capture.h"
#include "edge/media.h"
#include "edge/record.h"
#include "edge/venc.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tests/common/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define W   160
#define H   96
#define FPS 25

/* ---- a source: pictures with a moving pattern, a tone ---- */

typedef struct src {
    hc_venc_t *venc;
    hc_aenc_t *aenc;
    uint8_t y[W * H], u[W * H / 4], v[W * H / 4];
    uint32_t frame;
    uint64_t samples;
    hc_record_t *rec;
    int vs, as;
    volatile int want_key;
    uint64_t video_fed, audio_fed, keyframes;
} src_t;

static void on_want_key(void *ud, int stream)
{
    src_t *s = ud;
    if (stream == s->vs) s->want_key = 1;
}

static void src_init(src_t *s, int keyint_ms)
{
    memset(s, 0, sizeof *s);
    hc_venc_cfg_t vc;
    hc_venc_cfg_default(&vc, W, H, FPS, 200000);
    vc.keyint_ms = keyint_ms;
    ck_assert_int_eq(hc_venc_new(&s->venc, &vc, NULL, 0), 0);
    hc_aenc_cfg_t ac;
    hc_aenc_cfg_default(&ac);
    ac.dtx = false; /* a steady count of audio packets */
    ck_assert_int_eq(hc_aenc_new(&s->aenc, &ac, NULL, 0), 0);
}

static void src_fini(src_t *s)
{
    hc_venc_destroy(&s->venc);
    hc_aenc_destroy(&s->aenc);
}

static void on_opus(void *ud, const hc_aenc_pkt_t *p)
{
    src_t *s = ud;
    if (hc_record_audio(s->rec, s->as, p->opus, p->opus_len, p->pts_us) == 0) s->audio_fed++;
}

/* One picture at pts_us and the 1/FPS s of sound that goes with it. */
static void src_step(src_t *s, uint64_t pts_us)
{
    for (int yy = 0; yy < H; yy++)
        for (int xx = 0; xx < W; xx++)
            s->y[yy * W + xx] = (uint8_t)(xx + yy * 2 + (int)s->frame * 3);
    memset(s->u, 110, sizeof s->u);
    memset(s->v, 140, sizeof s->v);
    hc_venc_pic_t pic = {.plane = {s->y, s->u, s->v}, .stride = {W, W / 2, W / 2}, W, H};
    if (s->want_key) {
        s->want_key = 0;
        hc_venc_request_keyframe(s->venc);
    }
    hc_venc_out_t o;
    if (hc_venc_encode(s->venc, &pic, NULL, NULL, &o) == 1) {
        if (hc_record_video(s->rec, s->vs, o.au, o.len, o.keyframe, pts_us) == 0) s->video_fed++;
        if (o.keyframe) s->keyframes++;
    }
    s->frame++;
    int16_t pcm[48000 / FPS];
    for (int k = 0; k < 48000 / FPS; k++)
        pcm[k] = (int16_t)(5000 * sin(2 * M_PI * 330 * (double)(s->samples + (uint64_t)k) / 48000));
    s->samples += 48000 / FPS;
    ck_assert_int_ge(hc_aenc_push(s->aenc, pcm, 48000 / FPS, 1, pts_us, 0, on_opus, s), 0);
}

/* ---- reading the files back ---- */

typedef struct readback {
    int files;
    uint64_t video, audio;               /* frames decoded */
    uint64_t errors;                     /* demux or decode errors */
    int first_not_key;                   /* files whose first video frame is not a keyframe */
    int64_t first_pts[16], last_pts[16]; /* 90 kHz, per file, video */
} readback_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .ts files of dir, sorted (their names sort by start time). */
static int list_ts(const char *dir, char **names, int max)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 3 && !strcmp(e->d_name + l - 3, ".ts")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    return n;
}

static AVCodecContext *open_dec(const AVCodecParameters *par)
{
    const AVCodec *c = avcodec_find_decoder(par->codec_id);
    ck_assert_ptr_nonnull(c);
    AVCodecContext *ctx = avcodec_alloc_context3(c);
    ck_assert_int_ge(avcodec_parameters_to_context(ctx, par), 0);
    ck_assert_int_eq(avcodec_open2(ctx, c, NULL), 0);
    return ctx;
}

static uint64_t drain(AVCodecContext *ctx, AVFrame *f, bool *first_key, bool *seen)
{
    uint64_t n = 0;
    while (avcodec_receive_frame(ctx, f) == 0) {
        if (first_key && !*seen) {
            *seen = true;
            *first_key = f->key_frame;
        }
        n++;
        av_frame_unref(f);
    }
    return n;
}

/* Demux and decode one file completely. */
static void read_file(const char *path, readback_t *rb)
{
    int idx = rb->files++;
    AVFormatContext *fc = NULL;
    ck_assert_msg(avformat_open_input(&fc, path, NULL, NULL) == 0, "%s does not open", path);
    ck_assert_int_ge(avformat_find_stream_info(fc, NULL), 0);
    ck_assert_uint_eq(fc->nb_streams, 2);
    AVCodecContext *dec[2] = {NULL, NULL};
    int vi = -1;
    for (unsigned i = 0; i < 2; i++) {
        const AVCodecParameters *par = fc->streams[i]->codecpar;
        ck_assert(par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_OPUS);
        if (par->codec_id == AV_CODEC_ID_H264) {
            vi = (int)i;
            ck_assert_int_eq(par->width, W);
            ck_assert_int_eq(par->height, H);
        }
        dec[i] = open_dec(par);
    }
    ck_assert_int_ge(vi, 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    bool first_key = false, seen = false;
    rb->first_pts[idx] = -1;
    int rc;
    while ((rc = av_read_frame(fc, pkt)) == 0) {
        int s = pkt->stream_index;
        if (s == vi) {
            if (rb->first_pts[idx] < 0) rb->first_pts[idx] = pkt->pts;
            rb->last_pts[idx] = pkt->pts;
        }
        if (avcodec_send_packet(dec[s], pkt) < 0) rb->errors++;
        uint64_t got = drain(dec[s], f, s == vi ? &first_key : NULL, &seen);
        if (s == vi)
            rb->video += got;
        else
            rb->audio += got;
        av_packet_unref(pkt);
    }
    if (rc != AVERROR_EOF) rb->errors++;
    for (int s = 0; s < 2; s++) {
        avcodec_send_packet(dec[s], NULL);
        uint64_t got = drain(dec[s], f, s == vi ? &first_key : NULL, &seen);
        if (s == vi)
            rb->video += got;
        else
            rb->audio += got;
        avcodec_free_context(&dec[s]);
    }
    if (!first_key) rb->first_not_key++;
    av_frame_free(&f);
    av_packet_free(&pkt);
    avformat_close_input(&fc);
}

/* ffprobe, when installed, must read the file without a complaint. */
static void ffprobe_ok(const char *path)
{
    char *argv[] = {"ffprobe", "-v",         "error", "-show_streams", "-count_frames", "-of",
                    "csv",     (char *)path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char errpath[700];
    snprintf(errpath, sizeof errpath, "%s.err", path);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawnp(&pid, "ffprobe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return; /* not installed: libavformat's reading above suffices */
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    struct stat sb;
    ck_assert_int_eq(stat(errpath, &sb), 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && sb.st_size == 0,
                  "ffprobe complains about %s", path);
    unlink(errpath);
}

static void read_dir(const char *dir, readback_t *rb, char **names, int *n)
{
    memset(rb, 0, sizeof *rb);
    *n = list_ts(dir, names, 16);
    for (int i = 0; i < *n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        read_file(path, rb);
        ffprobe_ok(path);
    }
}

static void rm_dir(const char *dir, char **names, int n)
{
    for (int i = 0; i < n; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
        free(names[i]);
    }
    rmdir(dir);
}

static void make_dir(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/hc-record-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* ---- tests ---- */

/* 5 s of media in simulated time (as fast as it encodes): parts of
 * 500 ms, a new file every 2 s, each starting with a keyframe the
 * recorder asked for; every frame fed comes back decoded. */
START_TEST(files_and_parts_play)
{
    av_log_set_level(AV_LOG_FATAL);
    char dir[256];
    make_dir(dir, sizeof dir);
    src_t *s = calloc(1, sizeof *s);
    src_init(s, 60000); /* no periodic keyframes: the recorder asks */
    hc_record_cfg_t rc;
    hc_record_cfg_default(&rc);
    rc.dir = dir;
    rc.name = "lesson 7/b";
    rc.part_ms = 500;
    rc.file_s = 2;
    rc.want_keyframe = on_want_key;
    rc.ud = s;
    ck_assert_int_eq(hc_record_new(&s->rec, &rc, NULL, 0), 0);
    s->vs = hc_record_add_stream(s->rec, true);
    s->as = hc_record_add_stream(s->rec, false);
    ck_assert_int_eq(s->vs, 0);
    ck_assert_int_eq(s->as, 1);
    uint64_t t0 = 1000000000;
    for (int i = 0; i < 5 * FPS; i++) {
        src_step(s, t0 + (uint64_t)i * 1000000 / FPS);
        if (i % 10 == 0) usleep(2000); /* let the writer keep up */
    }
    hc_record_stats_t st;
    hc_record_destroy(&s->rec);
    ck_assert_ptr_null(s->rec);
    src_fini(s);
    char *names[16];
    int n;
    readback_t rb;
    read_dir(dir, &rb, names, &n);
    /* 0-2 s, 2-4 s, 4-5 s */
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < n; i++) {
        /* lesson_7_b-YYYYmmddTHHMMSSZ-00i.ts */
        ck_assert_msg(strncmp(names[i], "lesson_7_b-", 11) == 0, "%s", names[i]);
        ck_assert_uint_eq(strlen(names[i]), 11 + 16 + 1 + 3 + 3);
        ck_assert(names[i][11 + 8] == 'T' && names[i][11 + 15] == 'Z');
        char num[16];
        snprintf(num, sizeof num, "-%03d.ts", i + 1);
        ck_assert_str_eq(names[i] + strlen(names[i]) - 7, num);
    }
    ck_assert_uint_eq(rb.errors, 0);
    ck_assert_int_eq(rb.first_not_key, 0);
    ck_assert_uint_eq(rb.video, s->video_fed);
    ck_assert_uint_eq(s->video_fed, 5 * FPS);
    ck_assert_uint_ge(rb.audio + 2, s->audio_fed); /* the encoder's last frame may be pending */
    ck_assert_uint_ge(s->audio_fed, 5 * 50 - 2);
    /* one keyframe to start, one per new file */
    ck_assert_uint_eq(s->keyframes, 3);
    /* timestamps continue across the files */
    for (int i = 1; i < n; i++) {
        int64_t gap = rb.first_pts[i] - rb.last_pts[i - 1];
        ck_assert_msg(gap > 0 && gap <= 2 * 90000 / FPS, "gap %lld", (long long)gap);
    }
    rm_dir(dir, names, n);
    free(s);
    (void)st;
}
END_TEST

/* A recording process killed with SIGKILL: the parts flushed before are
 * all there (at most the last part, 1 s, is lost) and every file plays. */
START_TEST(kill_loses_at_most_last_part)
{
    av_log_set_level(AV_LOG_FATAL);
    char dir[256];
    make_dir(dir, sizeof dir);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The recording box: live capture times, real time. */
        close(pfd[0]);
        src_t *s = calloc(1, sizeof *s);
        src_init(s, 60000);
        hc_record_cfg_t rc;
        hc_record_cfg_default(&rc);
        rc.dir = dir;
        rc.name = "consult";
        rc.file_s = 2;
        rc.want_keyframe = on_want_key;
        rc.ud = s;
        if (hc_record_new(&s->rec, &rc, NULL, 0) < 0) _exit(2);
        s->vs = hc_record_add_stream(s->rec, true);
        s->as = hc_record_add_stream(s->rec, false);
        uint64_t start = hc_now_us();
        for (int i = 0; i < 10 * FPS; i++) {
            uint64_t due = start + (uint64_t)i * 1000000 / FPS;
            uint64_t now = hc_now_us();
            if (due > now) usleep((useconds_t)(due - now));
            src_step(s, due);
            /* tell the test how many pictures were handed over */
            uint32_t fed = (uint32_t)s->video_fed;
            if (write(pfd[1], &fed, sizeof fed) != sizeof fed) _exit(3);
        }
        _exit(0); /* not reached: killed before */
    }
    close(pfd[1]);
    /* Let it record 3.5 s (two files and part of a third), then kill. */
    uint32_t fed = 0, v;
    uint64_t start = hc_now_us();
    while (hc_now_us() < start + 3500000 && read(pfd[0], &v, sizeof v) == sizeof v) fed = v;
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    while (read(pfd[0], &v, sizeof v) == sizeof v) fed = v;
    close(pfd[0]);
    ck_assert_uint_ge(fed, 2 * FPS);

    char *names[16];
    int n;
    readback_t rb;
    read_dir(dir, &rb, names, &n);
    if (getenv("HC_TEST_VERBOSE"))
        fprintf(stderr, "killed after %u pictures: %d files, %llu pictures, %llu audio frames\n",
                fed, n, (unsigned long long)rb.video, (unsigned long long)rb.audio);
    ck_assert_int_ge(n, 2);
    ck_assert_int_eq(rb.first_not_key, 0);
    /* A write() cut by the kill could leave a truncated last packet in
     * the last file: one error at most, nowhere else. */
    ck_assert_uint_le(rb.errors, 1);
    /* lost: at most the part being collected (1 s) and what the writer
     * had not taken yet (a few pictures) */
    ck_assert_msg(rb.video + FPS + 3 >= fed, "%llu pictures of %u fed",
                  (unsigned long long)rb.video, fed);
    ck_assert_uint_le(rb.video, fed);
    ck_assert_uint_gt(rb.audio, 0);
    rm_dir(dir, names, n);
}
END_TEST

/* The media engine with record_dir: the synthetic test source and a tone,
 * published toward a relay that is not there (what matters is what the
 * box keeps), recorded under the session's name; after 2.5 s both
 * streams are in the file, and it plays. */
START_TEST(engine_records_what_it_sends)
{
    av_log_set_level(AV_LOG_FATAL);
    char dir[256], err[256] = "";
    make_dir(dir, sizeof dir);
    hc_edge_media_cfg_t c;
    hc_edge_media_cfg_default(&c);
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:9", &c.leg.relay), 0);
    for (int i = 0; i < HC_SRTP_MAX_KEY_LEN; i++) {
        c.leg.key_up[i] = (uint8_t)(i + 1);
        c.leg.key_down[i] = (uint8_t)(i * 3 + 2);
    }
    c.leg.rtcp_ssrc = 0x7001;
    c.record_dir = dir;
    c.record_name = "class-42";
    hc_edge_media_t *m;
    ck_assert_msg(hc_edge_media_new(&m, &c, err, sizeof err) == 0, "media: %s", err);
    char pv[1024], pa[1024];
    ck_assert_int_eq(hc_capture_preset("test", "160x96@15", pv, sizeof pv, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_preset("audiotest", NULL, pa, sizeof pa, err, sizeof err), 0);
    hc_edge_pub_cfg_t v = {.mid = "v0",
                           .kind = HC_EDGE_VIDEO,
                           .role = HC_ROLE_MAIN,
                           .pipeline = pv,
                           .ssrc = 0x7101,
                           .rtx_ssrc = 0x7102,
                           .width = W,
                           .height = H,
                           .fps = 15};
    hc_edge_pub_cfg_t a = {
        .mid = "a0", .kind = HC_EDGE_AUDIO, .role = HC_ROLE_AUDIO, .pipeline = pa, .ssrc = 0x7201};
    ck_assert_msg(hc_edge_media_publish(m, &v, err, sizeof err) == 0, "video: %s", err);
    ck_assert_msg(hc_edge_media_publish(m, &a, err, sizeof err) == 0, "audio: %s", err);
    ck_assert_int_eq(hc_edge_media_start(m), 0);
    usleep(2500000);
    hc_edge_media_destroy(&m);
    char *names[16];
    int n;
    readback_t rb;
    read_dir(dir, &rb, names, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_msg(strncmp(names[0], "class-42-", 9) == 0, "%s", names[0]);
    ck_assert_uint_eq(rb.errors, 0);
    ck_assert_int_eq(rb.first_not_key, 0);
    /* about 2.5 s at 15 fps and 50 packets a second, whatever start-up took */
    ck_assert_msg(rb.video >= 15, "%llu pictures", (unsigned long long)rb.video);
    ck_assert_msg(rb.audio >= 50, "%llu audio frames", (unsigned long long)rb.audio);
    rm_dir(dir, names, n);
}
END_TEST

/* Bad arguments, a directory that cannot be written, streams. */
START_TEST(api_and_errors)
{
    hc_record_cfg_t rc;
    hc_record_cfg_default(&rc);
    ck_assert_uint_eq(rc.part_ms, 1000);
    ck_assert_int_eq(rc.sync, HC_RECORD_SYNC_PART);
    hc_record_t *r = NULL;
    ck_assert_int_eq(hc_record_new(&r, &rc, NULL, 0), -HC_EINVAL); /* no dir */
    char dir[256];
    make_dir(dir, sizeof dir);
    rc.dir = dir;
    rc.part_ms = 1500; /* parts of at most 1 s */
    ck_assert_int_eq(hc_record_new(&r, &rc, NULL, 0), -HC_EINVAL);
    rc.part_ms = 1000;
    char missing[300], err[512] = "";
    snprintf(missing, sizeof missing, "%s/nope/deeper", dir);
    rc.dir = missing;
    ck_assert_int_eq(hc_record_new(&r, &rc, err, sizeof err), -HC_EIO);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    /* only the last level missing: created */
    snprintf(missing, sizeof missing, "%s/fresh", dir);
    rc.dir = missing;
    ck_assert_int_eq(hc_record_new(&r, &rc, NULL, 0), 0);
    hc_record_destroy(&r);
    ck_assert_int_eq(rmdir(missing), 0);
    rc.dir = dir;
    rc.sync = HC_RECORD_SYNC_NONE;
    ck_assert_int_eq(hc_record_new(&r, &rc, NULL, 0), 0);
    uint8_t b[4] = {0, 0, 0, 1};
    ck_assert_int_eq(hc_record_video(r, 0, b, 4, true, 0), -HC_EINVAL); /* no stream yet */
    ck_assert_int_eq(hc_record_add_stream(r, true), 0);
    ck_assert_int_eq(hc_record_audio(r, 0, b, 4, 0), -HC_EINVAL); /* a video stream */
    ck_assert_int_eq(hc_record_video(r, 0, NULL, 4, true, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_record_video(NULL, 0, b, 4, true, 0), -HC_EINVAL);
    /* before its first keyframe a video stream's packets are dropped */
    ck_assert_int_eq(hc_record_video(r, 0, b, 4, false, 0), 0);
    for (int i = 1; i < HC_RECORD_MAX_STREAMS; i++)
        ck_assert_int_eq(hc_record_add_stream(r, false), i);
    ck_assert_int_eq(hc_record_add_stream(r, false), -HC_EFULL);
    hc_record_stats_t st;
    hc_record_stats(r, &st);
    ck_assert_uint_eq(st.dropped, 1);
    ck_assert_uint_eq(st.files, 0);
    hc_record_destroy(&r);
    hc_record_destroy(&r);
    /* nothing was recorded: no file */
    char *names[16];
    ck_assert_int_eq(list_ts(dir, names, 16), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("edge_record");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, files_and_parts_play);
    tcase_add_test(tc, kill_loses_at_most_last_part);
    tcase_add_test(tc, api_and_errors);
    tcase_add_test(tc, engine_records_what_it_sends);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
