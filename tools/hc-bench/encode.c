/*
 * encode.c - `hc-bench encode`: CPU per frame of the edge's encode path
 * (720p30 I420 camera frames -> libswscale to the ladder rung the
 * estimated rate selects -> libx264 through edge/venc.h, with the frame
 * number stamp the test source gets) against the `ffmpeg` program doing
 * the same scale + encode with the same settings in the same run.
 *
 * Input: frames of the edge's own synthetic source (capture.h "test"
 * preset at 1280x720@30), captured once into memory and played forwards
 * and backwards (no cut in the motion). Ours: getrusage(RUSAGE_SELF)
 * around the encode loop (nothing else runs in the process meanwhile).
 * ffmpeg: the same frames written to its stdin as rawvideo (a writer
 * thread here, not counted), its CPU from wait4()'s rusage. Rungs and
 * rounds alternate between the two; each figure is the median over
 * rounds. The headline ratio is the total CPU of ours over ffmpeg's over
 * all rungs.
 */
#include "edge/capture.h"
#include "edge/playback.h"
#include "edge/sender.h"
#include "edge/venc.h"
#include "proto/err.h"
#include "proto/ladder.h"
#include "relay/core/clock.h"
#include "tools/hc-bench/bench.h"
#include "tools/hc-bench/edgerig.h"

#include <errno.h>
#include <libavutil/log.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SRC_W      1280
#define SRC_H      720
#define SRC_FPS    30
#define MAX_RUNGS  6
#define MAX_ROUNDS 9
#define BENCH      "encode"

static const char usage[] =
    "usage: hc-bench encode [--quick] [--frames N] [--rounds R] [--rates K1,K2,...]\n"
    "                       [--ffmpeg PATH]\n"
    "\n"
    "CPU per frame of hc-edge's encode path (1280x720@30 I420 frames of the synthetic\n"
    "test source -> libswscale to the ladder rung the estimated rate selects ->\n"
    "libx264 via edge/venc: veryfast, zerolatency, baseline, VBV = rate, 500 ms buffer)\n"
    "against the ffmpeg program doing the same scale + encode with the same settings\n"
    "and thread count, in the same run; prints both, the ratio and one JSON line.\n"
    "  --quick      120 frames per rung, one round (well under a minute)\n"
    "  --frames N   frames per rung and round (default 450 = 15 s of video)\n"
    "  --rounds R   alternating rounds, median taken (default 3)\n"
    "  --rates ...  estimated video rates in kbit/s, one rung each\n"
    "               (default 2000,1000,500,200: 720p, 540p, 360p, 180p)\n"
    "  --ffmpeg P   the ffmpeg binary (default: ffmpeg from PATH)\n";

typedef struct frames {
    uint8_t **f; /* I420, tightly packed */
    int n, want;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} frames_t;

static const size_t FRAME_BYTES = (size_t)SRC_W * SRC_H * 3 / 2;

static void on_frame(void *ud, const hc_cap_frame_t *c)
{
    frames_t *fr = ud;
    if (c->kind != HC_CAP_VIDEO_I420 || c->width != SRC_W || c->height != SRC_H) return;
    pthread_mutex_lock(&fr->mu);
    if (fr->n < fr->want) {
        uint8_t *d = malloc(FRAME_BYTES);
        if (d) {
            uint8_t *o = d;
            for (int p = 0; p < 3; p++) {
                int w = p ? SRC_W / 2 : SRC_W, h = p ? SRC_H / 2 : SRC_H;
                for (int y = 0; y < h; y++, o += w)
                    memcpy(o, c->plane[p] + (size_t)y * (size_t)c->stride[p], (size_t)w);
            }
            fr->f[fr->n++] = d;
            if (fr->n == fr->want) pthread_cond_signal(&fr->cv);
        }
    }
    pthread_mutex_unlock(&fr->mu);
}

static int capture_frames(frames_t *fr, int want, char *err, size_t errcap)
{
    memset(fr, 0, sizeof *fr);
    pthread_mutex_init(&fr->mu, NULL);
    pthread_cond_init(&fr->cv, NULL);
    fr->want = want;
    fr->f = calloc((size_t)want, sizeof *fr->f);
    if (!fr->f) return -HC_ENOMEM;
    char mode[32], pipe[2048];
    snprintf(mode, sizeof mode, "%dx%d@%d", SRC_W, SRC_H, SRC_FPS);
    int rc = hc_capture_preset("test", mode, pipe, sizeof pipe, err, errcap);
    hc_capture_t *cap = NULL;
    if (rc == 0) rc = hc_capture_new(&cap, pipe, on_frame, fr, err, errcap);
    if (rc == 0) rc = hc_capture_start(cap);
    if (rc == 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 30;
        pthread_mutex_lock(&fr->mu);
        while (fr->n < fr->want && rc == 0)
            if (pthread_cond_timedwait(&fr->cv, &fr->mu, &until) == ETIMEDOUT) rc = -HC_ETIMEOUT;
        pthread_mutex_unlock(&fr->mu);
        if (rc < 0) snprintf(err, errcap, "the test source gave %d of %d frames", fr->n, want);
    }
    hc_capture_destroy(&cap);
    return rc;
}

static void frames_free(frames_t *fr)
{
    for (int i = 0; i < fr->n; i++) free(fr->f[i]);
    free(fr->f);
    pthread_mutex_destroy(&fr->mu);
    pthread_cond_destroy(&fr->cv);
}

/* Frame i of the input: forwards then backwards through the captured ones. */
static const uint8_t *frame_at(const frames_t *fr, int i)
{
    int period = fr->n > 1 ? 2 * (fr->n - 1) : 1;
    int k = i % period;
    return fr->f[k < fr->n ? k : period - k];
}

typedef struct rung {
    int w, h, fps, threads;
    uint32_t est_kbps, bps;
    double ours_s[MAX_ROUNDS], ff_s[MAX_ROUNDS];
    uint64_t ours_bytes, ff_bytes;
    bool ff_ok;
} rung_t;

static void stamp(void *ud, uint8_t *const plane[3], const int stride[3], int w, int h)
{
    hc_playback_stamp_write(plane[0], stride[0], w, h, *(const uint32_t *)ud);
}

/* Our encode path over n frames; CPU seconds or < 0. */
static double run_ours(const frames_t *fr, const rung_t *r, int n, uint64_t *bytes, char *err,
                       size_t errcap)
{
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, r->w, r->h, r->fps, r->bps);
    c.threads = r->threads;
    hc_venc_t *v = NULL;
    if (hc_venc_new(&v, &c, err, errcap) < 0) return -1;
    double c0 = er_self_cpu_s();
    uint64_t b = 0;
    for (int i = 0; i < n; i++) {
        const uint8_t *f = frame_at(fr, i);
        hc_venc_pic_t pic = {.plane = {f, f + SRC_W * SRC_H, f + SRC_W * SRC_H * 5 / 4},
                             .stride = {SRC_W, SRC_W / 2, SRC_W / 2},
                             .width = SRC_W,
                             .height = SRC_H};
        uint32_t seq = (uint32_t)i;
        hc_venc_out_t o;
        if (hc_venc_encode(v, &pic, stamp, &seq, &o) == 1) b += o.len;
    }
    double cpu = er_self_cpu_s() - c0;
    hc_venc_destroy(&v);
    *bytes = b;
    return cpu;
}

typedef struct feeder {
    const frames_t *fr;
    int fd, n;
} feeder_t;

static void *feed_main(void *arg)
{
    feeder_t *f = arg;
    for (int i = 0; i < f->n; i++) {
        const uint8_t *p = frame_at(f->fr, i);
        size_t off = 0;
        while (off < FRAME_BYTES) {
            ssize_t w = write(f->fd, p + off, FRAME_BYTES - off);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) goto out;
            off += (size_t)w;
        }
    }
out:
    close(f->fd);
    return NULL;
}

/* Run argv (ffmpeg) with the n frames on its stdin; its CPU seconds, or < 0. */
static double run_fed(const char *const *argv, const frames_t *fr, int n, char *err, size_t errcap)
{
    int pfd[2];
    if (pipe(pfd) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pfd[0], 0);
        close(pfd[0]);
        close(pfd[1]);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[0]);
    feeder_t fd = {.fr = fr, .fd = pfd[1], .n = n};
    pthread_t th;
    bool th_ok = pthread_create(&th, NULL, feed_main, &fd) == 0;
    if (!th_ok) close(pfd[1]);
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    if (th_ok) pthread_join(th, NULL);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        snprintf(err, errcap, "%s exited with %d (%s)", argv[0],
                 WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                 WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "not found" : "see its messages above");
        return -1;
    }
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

#define FF_INPUT(ff, size, fps)                                                                    \
    ff, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", \
        size, "-r", fps, "-i", "pipe:0"

/* ffmpeg over the same n frames with the same settings; CPU seconds or < 0. */
static double run_ffmpeg(const char *ffmpeg, const frames_t *fr, const rung_t *r, int n,
                         uint64_t *bytes, char *err, size_t errcap)
{
    char out[] = "/tmp/hc-bench-encode-XXXXXX";
    int ofd = mkstemp(out);
    if (ofd < 0) {
        snprintf(err, errcap, "mkstemp: %s", strerror(errno));
        return -1;
    }
    close(ofd);
    /* What edge/venc.c sets: VBV max rate = the target, a 500 ms buffer, a
     * keyframe every 4 s without scene cuts, SPS/PPS before every IDR,
     * bilinear scaling, forced IDRs. */
    int keyint = 4 * r->fps;
    char size[32], vf[64], b[32], buf[32], g[16], params[128], thr[8], fps[8];
    snprintf(size, sizeof size, "%dx%d", SRC_W, SRC_H);
    snprintf(fps, sizeof fps, "%d", SRC_FPS);
    snprintf(vf, sizeof vf, "scale=%d:%d:flags=bilinear", r->w, r->h);
    snprintf(b, sizeof b, "%u", r->bps);
    snprintf(buf, sizeof buf, "%u", r->bps / 2);
    snprintf(g, sizeof g, "%d", keyint);
    snprintf(params, sizeof params,
             "repeat-headers=1:annexb=1:aud=0:keyint=%d:min-keyint=%d:scenecut=0", keyint, keyint);
    snprintf(thr, sizeof thr, "%d", r->threads);
    const char *argv[] = {FF_INPUT(ffmpeg, size, fps),
                          "-filter_threads",
                          "1",
                          "-vf",
                          vf,
                          "-c:v",
                          "libx264",
                          "-preset",
                          "veryfast",
                          "-tune",
                          "zerolatency",
                          "-profile:v",
                          "baseline",
                          "-b:v",
                          b,
                          "-maxrate",
                          b,
                          "-bufsize",
                          buf,
                          "-g",
                          g,
                          "-forced-idr",
                          "1",
                          "-x264-params",
                          params,
                          "-threads",
                          thr,
                          "-f",
                          "h264",
                          out,
                          NULL};
    double cpu = run_fed(argv, fr, n, err, errcap);
    struct stat sb;
    *bytes = stat(out, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    unlink(out);
    return cpu;
}

/* What ffmpeg spends on taking rawvideo from a pipe and nothing else (the
 * null muxer): its fixed cost per frame, for the second ratio. */
static double run_ffmpeg_input(const char *ffmpeg, const frames_t *fr, int n, char *err,
                               size_t errcap)
{
    char size[32], fps[8];
    snprintf(size, sizeof size, "%dx%d", SRC_W, SRC_H);
    snprintf(fps, sizeof fps, "%d", SRC_FPS);
    const char *argv[] = {FF_INPUT(ffmpeg, size, fps), "-f", "null", "-", NULL};
    return run_fed(argv, fr, n, err, errcap);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double t[MAX_ROUNDS];
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* The rung hc-edge's class ladder picks for a 720p30 camera at this rate
 * (the first update picks the best rung the rate can hold). */
static void pick_rung(rung_t *r, uint32_t est_kbps)
{
    hc_ladder_cfg_t lc;
    hc_sender_ladder_cfg(HC_PROFILE_CLASS, HC_ROLE_MAIN, SRC_W, SRC_H, SRC_FPS, &lc);
    hc_ladder_t l;
    hc_ladder_out_t o;
    memset(r, 0, sizeof *r);
    r->est_kbps = est_kbps;
    if (hc_ladder_init(&l, &lc) < 0 || hc_ladder_update(&l, est_kbps * 1000u, 1, &o) < 0 || o.off ||
        o.stills || !o.fps) {
        r->w = 320, r->h = 180, r->fps = 30, r->bps = est_kbps * 1000u;
    } else {
        r->w = o.width, r->h = o.height, r->fps = o.fps, r->bps = o.bitrate_bps;
    }
    /* edge/media_pub.c: two encoder threads at 720p and above */
    r->threads = r->w * r->h >= 1280 * 720 ? 2 : 1;
}

int hc_bench_encode(int argc, char **argv)
{
    int frames = 450, rounds = 3;
    bool quick = false, frames_set = false, rounds_set = false;
    uint32_t rates[MAX_RUNGS] = {2000, 1000, 500, 200};
    int nrates = 4;
    const char *ffmpeg = "ffmpeg";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--frames") && v && atoi(v) >= 10) {
            frames = atoi(v), frames_set = true, i++;
        } else if (!strcmp(a, "--rounds") && v && atoi(v) >= 1 && atoi(v) <= MAX_ROUNDS) {
            rounds = atoi(v), rounds_set = true, i++;
        } else if (!strcmp(a, "--ffmpeg") && v) {
            ffmpeg = v, i++;
        } else if (!strcmp(a, "--rates") && v) {
            nrates = 0;
            for (char *s = argv[++i], *e; *s && nrates < MAX_RUNGS; s = *e ? e + 1 : e) {
                long k = strtol(s, &e, 10);
                if (k < 50 || k > 20000 || (*e && *e != ',')) goto bad;
                rates[nrates++] = (uint32_t)k;
            }
            if (!nrates) goto bad;
        } else {
        bad:
            fprintf(stderr, "hc-bench encode: bad option %s\n%s", a, usage);
            return 2;
        }
    }
    if (quick) {
        if (!frames_set) frames = 120;
        if (!rounds_set) rounds = 1;
    }
    rung_t rungs[MAX_RUNGS];
    for (int i = 0; i < nrates; i++) pick_rung(&rungs[i], rates[i]);
    av_log_set_level(AV_LOG_ERROR); /* libx264's per-encoder summaries */

    char err[512] = "";
    frames_t fr;
    er_progress(BENCH, "capturing 2 s of the 1280x720@30 test source");
    int rc = capture_frames(&fr, 2 * SRC_FPS, err, sizeof err);
    if (rc < 0) {
        er_progress(BENCH, "cannot capture the test source: %s", err);
        frames_free(&fr);
        printf("{\"bench\":\"encode\",\"ratio_vs_ffmpeg\":null,\"error\":\"no test source\"}\n");
        return 1;
    }
    bool ff_missing = false;
    char ff_err[512] = "";
    double in_s[MAX_ROUNDS] = {0};
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < nrates; i++) {
            rung_t *r = &rungs[i];
            er_progress(BENCH, "round %d/%d: %dx%d@%d at %u kbit/s, %d thread%s: ours", round + 1,
                        rounds, r->w, r->h, r->fps, r->bps / 1000u, r->threads,
                        r->threads > 1 ? "s" : "");
            uint64_t b = 0;
            r->ours_s[round] = run_ours(&fr, r, frames, &b, err, sizeof err);
            if (r->ours_s[round] < 0) {
                er_progress(BENCH, "our encoder failed: %s", err);
                frames_free(&fr);
                return 1;
            }
            r->ours_bytes += b;
            if (ff_missing) continue;
            er_progress(BENCH, "round %d/%d: %dx%d@%d at %u kbit/s, %d thread%s: ffmpeg", round + 1,
                        rounds, r->w, r->h, r->fps, r->bps / 1000u, r->threads,
                        r->threads > 1 ? "s" : "");
            r->ff_s[round] = run_ffmpeg(ffmpeg, &fr, r, frames, &b, ff_err, sizeof ff_err);
            if (r->ff_s[round] < 0) {
                er_progress(BENCH, "ffmpeg failed: %s; measuring ours only", ff_err);
                ff_missing = true;
                continue;
            }
            r->ff_bytes += b;
            r->ff_ok = true;
        }
        if (!ff_missing) {
            er_progress(BENCH, "round %d/%d: ffmpeg taking the input only", round + 1, rounds);
            in_s[round] = run_ffmpeg_input(ffmpeg, &fr, frames, ff_err, sizeof ff_err);
            if (in_s[round] < 0) in_s[round] = 0;
        }
    }
    frames_free(&fr);
    double in_ms = ff_missing ? 0 : median(in_s, rounds) / frames * 1000.0;

    printf("hc-bench encode: 1280x720@30 test source -> ladder rung at the estimated rate -> "
           "libx264 (veryfast, zerolatency,\nbaseline, VBV max rate = target, 500 ms buffer, "
           "keyframe every 4 s); %d frames per rung, median of %d round%s.\n"
           "ours: edge/venc (libswscale + libavcodec libx264) in this process, getrusage; "
           "ffmpeg: the same frames as\nrawvideo on its stdin, -vf scale, same x264 settings and "
           "thread count, wait4 rusage%s.\n\n",
           frames, rounds, rounds > 1 ? "s" : "", ff_missing ? " - UNAVAILABLE" : "");
    printf("%-12s %6s %7s | %10s %10s %7s | %10s %7s | %8s %8s\n", "rung", "kbit/s", "threads",
           "ours ms", "ffmpeg ms", "ratio", "ff-input", "ratio", "ours kb/s", "ff kb/s");
    double tot_ours = 0, tot_ff = 0, tot_ffx = 0;
    for (int i = 0; i < nrates; i++) {
        rung_t *r = &rungs[i];
        double o = median(r->ours_s, rounds) / frames * 1000.0;
        double f = r->ff_ok && !ff_missing ? median(r->ff_s, rounds) / frames * 1000.0 : 0;
        double fx = f > in_ms ? f - in_ms : 0;
        tot_ours += o;
        tot_ff += f;
        tot_ffx += fx;
        double secs = (double)frames * rounds / SRC_FPS;
        char rn[32];
        snprintf(rn, sizeof rn, "%dx%d@%d", r->w, r->h, r->fps);
        printf("%-12s %6u %7d | %10.3f %10.3f %7.3f | %10.3f %7.3f | %8.0f %8.0f\n", rn,
               r->bps / 1000u, r->threads, o, f, f > 0 ? o / f : 0, fx, fx > 0 ? o / fx : 0,
               r->ours_bytes * 8 / secs / 1000, r->ff_bytes * 8 / secs / 1000);
    }
    double ratio = tot_ff > 0 ? tot_ours / tot_ff : 0,
           ratio_x = tot_ffx > 0 ? tot_ours / tot_ffx : 0;
    printf("%-12s %6s %7s | %10.3f %10.3f %7.3f | %10.3f %7.3f |\n", "all rungs", "", "", tot_ours,
           tot_ff, ratio, tot_ffx, ratio_x);
    printf("(CPU ms per frame; ff-input: ffmpeg less its cost of taking the raw frames from the "
           "pipe, %.3f ms per frame\n measured with the null muxer, i.e. its scale + encode "
           "alone; kb/s: what each encoder produced)\n",
           in_ms);
    if (tot_ff > 0)
        printf("\nratio (ours / ffmpeg CPU, all rungs): %.3f   target <= 1.10: %s   (against "
               "ffmpeg's scale + encode alone: %.3f)\n",
               ratio, ratio <= 1.10 ? "met" : "MISSED", ratio_x);
    else
        printf("\nratio: not measured (ffmpeg unavailable: %s)\n", ff_err);
    printf("{\"bench\":\"encode\",\"ratio_vs_ffmpeg\":");
    if (tot_ff > 0)
        printf("%.3f,\"ratio_vs_ffmpeg_encode_only\":%.3f", ratio, ratio_x);
    else
        printf("null");
    printf(",\"frames\":%d,\"rounds\":%d,\"ffmpeg_input_ms_per_frame\":%.3f,\"rows\":[", frames,
           rounds, in_ms);
    for (int i = 0; i < nrates; i++) {
        rung_t *r = &rungs[i];
        double o = median(r->ours_s, rounds) / frames * 1000.0;
        double f = r->ff_ok && !ff_missing ? median(r->ff_s, rounds) / frames * 1000.0 : 0;
        printf("%s{\"rung\":\"%dx%d@%d\",\"kbps\":%u,\"threads\":%d,\"ours_ms_per_frame\":%.3f,"
               "\"ffmpeg_ms_per_frame\":%.3f,\"ratio\":%.3f}",
               i ? "," : "", r->w, r->h, r->fps, r->bps / 1000u, r->threads, o, f,
               f > 0 ? o / f : 0);
    }
    printf("]}\n");
    fflush(stdout);
    return 0;
}
