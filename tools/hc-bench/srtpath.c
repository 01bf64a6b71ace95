/* srtpath.c - the test source over MPEG-TS and srt-live-transmit through
 * hc-impair, received and checked here; see srtpath.h. */
#include "tools/hc-bench/srtpath.h"

#include "edge/capture.h"
#include "edge/playback.h"
#include "edge/vdec.h"
#include "edge/venc.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "relay/core/clock.h"
#include "tools/hc-bench/bench.h"
#include "tools/hc-bench/edgerig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SP_MAX_FRAMES 65536 /* 36 minutes at 30 fps */
#define TS_DGRAM      1316  /* 7 TS packets: what SRT carries in one packet */

struct sp_path {
    sp_cfg_t cfg;
    pid_t snd_pid, rcv_pid;
    er_impair_t imp;
    uint64_t imp_t0;
    int tx_fd, rx_fd;
    struct sockaddr_in to;
    hc_capture_t *cap;
    /* capture -> encoder mailbox (the newest frame wins, as in the edge) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool full, stop;
    uint8_t *pend, *work;
    uint64_t pend_pts;
    pthread_t enc_th, rx_th;
    bool enc_running, rx_running;
    /* encoder thread */
    hc_venc_t *venc;
    AVFormatContext *oc;
    uint64_t base_us;
    uint32_t next_no;
    /* receiver thread */
    atomic_bool rx_stop;
    uint8_t dgram[65536];
    size_t dg_len, dg_off;
    /* records (rec_mu) */
    pthread_mutex_t rec_mu;
    uint64_t *cap_us, *arr_us;
    uint64_t min_transit;
    sp_stats_t st;
    uint64_t bytes_out, first_out_us, last_out_us;
};

static pid_t spawn(const char *const *argv)
{
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t *pid)
{
    if (*pid <= 0) return;
    kill(*pid, SIGTERM);
    int st;
    for (int i = 0; i < 40 && waitpid(*pid, &st, WNOHANG) != *pid; i++) {
        if (i == 30) kill(*pid, SIGKILL);
        er_sleep_ms(50);
    }
    *pid = -1;
}

/* ---- send side ---- */

static int ts_write(void *ud, uint8_t *buf, int len)
{
    sp_path_t *p = ud;
    if (sendto(p->tx_fd, buf, (size_t)len, 0, (struct sockaddr *)&p->to, sizeof p->to) == len) {
        p->st.datagrams_out++;
        p->bytes_out += (uint64_t)len;
    }
    return len;
}

static int mux_open(sp_path_t *p)
{
    if (avformat_alloc_output_context2(&p->oc, NULL, "mpegts", NULL) < 0 || !p->oc)
        return -HC_ECODEC;
    AVStream *s = avformat_new_stream(p->oc, NULL);
    uint8_t *iobuf = av_malloc(TS_DGRAM);
    if (!s || !iobuf) {
        av_free(iobuf);
        return -HC_ENOMEM;
    }
    s->time_base = (AVRational){1, 90000};
    s->codecpar->codec_type = AVMEDIA_TYPE_VIDEO;
    s->codecpar->codec_id = AV_CODEC_ID_H264;
    s->codecpar->width = p->cfg.width;
    s->codecpar->height = p->cfg.height;
    /* A buffer of one datagram: each fill is one UDP packet of 7 TS packets. */
    p->oc->pb = avio_alloc_context(iobuf, TS_DGRAM, 1, p, NULL, ts_write, NULL);
    if (!p->oc->pb) {
        av_free(iobuf);
        return -HC_ENOMEM;
    }
    AVDictionary *o = NULL;
    /* The PES length lets the receiver's demuxer hand a frame over as soon
     * as its last TS packet is in, not when the next frame begins. */
    av_dict_set(&o, "omit_video_pes_length", "0", 0);
    int rc = avformat_write_header(p->oc, &o);
    av_dict_free(&o);
    return rc < 0 ? -HC_ECODEC : 0;
}

static void stamp(void *ud, uint8_t *const plane[3], const int stride[3], int w, int h)
{
    hc_playback_stamp_write(plane[0], stride[0], w, h, *(const uint32_t *)ud);
}

static void encode_one(sp_path_t *p, const uint8_t *f, uint64_t pts_us)
{
    int w = p->cfg.width, h = p->cfg.height;
    hc_venc_pic_t pic = {.plane = {f, f + w * h, f + w * h * 5 / 4},
                         .stride = {w, w / 2, w / 2},
                         .width = w,
                         .height = h};
    uint32_t no = p->next_no;
    if (no >= SP_MAX_FRAMES) return;
    hc_venc_out_t o;
    if (hc_venc_encode(p->venc, &pic, stamp, &no, &o) != 1) return;
    if (!p->base_us) p->base_us = pts_us;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt) return;
    pkt->data = (uint8_t *)o.au;
    pkt->size = (int)o.len;
    pkt->stream_index = 0;
    pkt->pts = pkt->dts = (int64_t)((pts_us - p->base_us) * 9 / 100) + 90000;
    if (o.keyframe) pkt->flags |= AV_PKT_FLAG_KEY;
    pthread_mutex_lock(&p->rec_mu);
    p->cap_us[no] = pts_us;
    p->next_no = no + 1;
    p->st.frames_sent++;
    pthread_mutex_unlock(&p->rec_mu);
    if (av_write_frame(p->oc, pkt) >= 0) avio_flush(p->oc->pb);
    av_packet_free(&pkt);
    uint64_t now = hc_now_us();
    if (!p->first_out_us) p->first_out_us = now;
    p->last_out_us = now;
}

static void *enc_main(void *arg)
{
    sp_path_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->full) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        uint8_t *t = p->pend;
        p->pend = p->work;
        p->work = t;
        uint64_t pts = p->pend_pts;
        p->full = false;
        pthread_mutex_unlock(&p->mu);
        encode_one(p, p->work, pts);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void on_frame(void *ud, const hc_cap_frame_t *f)
{
    sp_path_t *p = ud;
    int w = p->cfg.width, h = p->cfg.height;
    if (f->kind != HC_CAP_VIDEO_I420 || f->width != w || f->height != h) return;
    pthread_mutex_lock(&p->mu);
    uint8_t *o = p->pend;
    for (int k = 0; k < 3; k++) {
        int pw = k ? w / 2 : w, ph = k ? h / 2 : h;
        for (int y = 0; y < ph; y++, o += pw)
            memcpy(o, f->plane[k] + (size_t)y * (size_t)f->stride[k], (size_t)pw);
    }
    p->pend_pts = f->pts_us;
    p->full = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- receive side ---- */

static int ts_read(void *ud, uint8_t *buf, int len)
{
    sp_path_t *p = ud;
    while (p->dg_off >= p->dg_len) {
        if (atomic_load(&p->rx_stop)) return AVERROR_EOF;
        struct pollfd pf = {.fd = p->rx_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        ssize_t n = recv(p->rx_fd, p->dgram, sizeof p->dgram, 0);
        if (n <= 0) continue;
        p->dg_len = (size_t)n;
        p->dg_off = 0;
        p->st.datagrams_in++;
    }
    size_t n = p->dg_len - p->dg_off;
    if (n > (size_t)len) n = (size_t)len;
    memcpy(buf, p->dgram + p->dg_off, n);
    p->dg_off += n;
    return (int)n;
}

static void *rx_main(void *arg)
{
    sp_path_t *p = arg;
    hc_vdec_t *dec = NULL;
    AVFormatContext *ic = avformat_alloc_context();
    AVIOContext *pb = NULL;
    uint8_t *iobuf = av_malloc(TS_DGRAM * 4);
    AVPacket *pkt = av_packet_alloc();
    if (!ic || !iobuf || !pkt || hc_vdec_new(&dec) < 0) goto out;
    pb = avio_alloc_context(iobuf, TS_DGRAM * 4, 0, p, ts_read, NULL, NULL);
    if (!pb) goto out;
    iobuf = NULL; /* the I/O context owns it now */
    ic->pb = pb;
    ic->flags |= AVFMT_FLAG_CUSTOM_IO;
    if (avformat_open_input(&ic, NULL, av_find_input_format("mpegts"), NULL) < 0) goto out;
    bool have_last = false, chain = false;
    uint32_t last = 0;
    while (!atomic_load(&p->rx_stop) && av_read_frame(ic, pkt) >= 0) {
        uint64_t now = hc_now_us();
        AVStream *s = ic->streams[pkt->stream_index];
        if (s->codecpar->codec_id != AV_CODEC_ID_H264 || pkt->size <= 0) {
            av_packet_unref(pkt);
            continue;
        }
        pthread_mutex_lock(&p->rec_mu);
        p->st.packets++;
        pthread_mutex_unlock(&p->rec_mu);
        bool corrupt = (pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
        bool key = hc_h264_au_is_keyframe(pkt->data, (size_t)pkt->size);
        hc_vdec_pic_t pic;
        int rc = hc_vdec_decode(dec, pkt->data, (size_t)pkt->size, &pic);
        uint32_t n = 0;
        bool stamped = rc == 1 && hc_playback_stamp_read(pic.plane[0], pic.stride[0], pic.width,
                                                         pic.height, &n);
        pthread_mutex_lock(&p->rec_mu);
        if (corrupt) p->st.corrupt++;
        if (rc == 1) p->st.decoded++;
        if (rc == 1 && !stamped) p->st.stamps_bad++;
        if (corrupt || !stamped || n >= SP_MAX_FRAMES) {
            chain = false; /* damaged: what follows depends on it */
        } else {
            bool gap = !have_last || n != last + 1;
            if (key)
                chain = true;
            else if (gap)
                chain = false;
            have_last = true;
            last = n;
            if (chain && p->cap_us[n] && now >= p->cap_us[n]) {
                p->arr_us[n] = now;
                uint64_t tr = now - p->cap_us[n];
                if (!p->min_transit || tr < p->min_transit) p->min_transit = tr;
            }
        }
        pthread_mutex_unlock(&p->rec_mu);
        av_packet_unref(pkt);
    }
out:
    av_packet_free(&pkt);
    /* a failed open has freed ic already; custom I/O is always ours */
    avformat_close_input(&ic);
    if (pb) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    av_free(iobuf);
    hc_vdec_destroy(&dec);
    return NULL;
}

/* ---- life cycle ---- */

static int start(sp_path_t *p, const sp_cfg_t *cfg, char *err, size_t errcap);

int sp_start(sp_path_t **out, const sp_cfg_t *cfg, char *err, size_t errcap)
{
    *out = NULL;
    sp_path_t *p = calloc(1, sizeof *p);
    if (!p) return -HC_ENOMEM;
    int rc = start(p, cfg, err, errcap);
    if (rc < 0) {
        sp_stop(&p);
        return rc;
    }
    *out = p;
    return 0;
}

static int start(sp_path_t *p, const sp_cfg_t *cfg, char *err, size_t errcap)
{
    p->cfg = *cfg;
    p->snd_pid = p->rcv_pid = -1;
    p->imp.pid = -1;
    p->imp.out = -1;
    p->tx_fd = p->rx_fd = -1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_mutex_init(&p->rec_mu, NULL);
    atomic_init(&p->rx_stop, false);
    size_t fb = (size_t)cfg->width * (size_t)cfg->height * 3 / 2;
    p->pend = malloc(fb);
    p->work = malloc(fb);
    p->cap_us = calloc(SP_MAX_FRAMES, sizeof *p->cap_us);
    p->arr_us = calloc(SP_MAX_FRAMES, sizeof *p->arr_us);
    if (!p->pend || !p->work || !p->cap_us || !p->arr_us) return -HC_ENOMEM;

    uint16_t in_port = hc_bench_free_port(SOCK_DGRAM), srt_port = hc_bench_free_port(SOCK_DGRAM);
    /* the receiver's socket first, so nothing srt-live-transmit sends is lost */
    p->rx_fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    int big = 4 << 20;
    if (p->rx_fd < 0 || bind(p->rx_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(p->rx_fd, (struct sockaddr *)&a, &al) < 0) {
        snprintf(err, errcap, "receiver socket: %s", strerror(errno));
        return -HC_EIO;
    }
    setsockopt(p->rx_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    uint16_t out_port = ntohs(a.sin_port);
    p->tx_fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (p->tx_fd < 0 || !in_port || !srt_port) return -HC_EIO;
    p->to = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(in_port)};
    p->to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    char in_uri[64], lis_uri[128], call_uri[160], out_uri[64];
    snprintf(in_uri, sizeof in_uri, "udp://127.0.0.1:%u", in_port);
    snprintf(lis_uri, sizeof lis_uri, "srt://127.0.0.1:%u?mode=listener&latency=%u", srt_port,
             cfg->latency_ms);
    const char *snd[] = {"srt-live-transmit", "-q", in_uri, lis_uri, NULL};
    p->snd_pid = spawn(snd);
    if (p->snd_pid < 0) return -HC_EIO;
    er_sleep_ms(300);
    int st;
    if (waitpid(p->snd_pid, &st, WNOHANG) == p->snd_pid) {
        p->snd_pid = -1;
        snprintf(err, errcap, "srt-live-transmit (sender) exited at once: is srt-tools installed?");
        return -HC_EIO;
    }
    int rc = er_impair_start(&p->imp, srt_port, cfg->impair_args, err, errcap);
    if (rc < 0) return rc;
    p->imp_t0 = hc_now_us();
    snprintf(call_uri, sizeof call_uri, "srt://127.0.0.1:%u?mode=caller&latency=%u", p->imp.port,
             cfg->latency_ms);
    snprintf(out_uri, sizeof out_uri, "udp://127.0.0.1:%u", out_port);
    const char *rcv[] = {"srt-live-transmit", "-q", call_uri, out_uri, NULL};
    p->rcv_pid = spawn(rcv);
    if (p->rcv_pid < 0) return -HC_EIO;

    hc_venc_cfg_t vc;
    hc_venc_cfg_default(&vc, cfg->width, cfg->height, cfg->fps, cfg->bitrate_bps);
    vc.keyint_ms = cfg->keyint_ms;
    vc.threads = cfg->width * cfg->height >= 1280 * 720 ? 2 : 1;
    if ((rc = hc_venc_new(&p->venc, &vc, err, errcap)) < 0) return rc;
    if ((rc = mux_open(p)) < 0) {
        snprintf(err, errcap, "MPEG-TS muxer: %s", hc_strerror(rc));
        return rc;
    }
    if (pthread_create(&p->rx_th, NULL, rx_main, p) != 0) return -HC_ENOMEM;
    p->rx_running = true;
    if (pthread_create(&p->enc_th, NULL, enc_main, p) != 0) return -HC_ENOMEM;
    p->enc_running = true;
    char mode[32], pipe_desc[2048];
    snprintf(mode, sizeof mode, "%dx%d@%d", cfg->width, cfg->height, cfg->fps);
    if ((rc = hc_capture_preset("test", mode, pipe_desc, sizeof pipe_desc, err, errcap)) < 0 ||
        (rc = hc_capture_new(&p->cap, pipe_desc, on_frame, p, err, errcap)) < 0)
        return rc;
    if ((rc = hc_capture_start(p->cap)) < 0) {
        snprintf(err, errcap, "the test source does not start");
        return rc;
    }
    return 0;
}

uint64_t sp_impair_start_us(const sp_path_t *p)
{
    return p->imp_t0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void sp_window(sp_path_t *p, uint64_t t0, uint64_t t1, uint32_t budget_ms, sp_window_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->rec_mu);
    uint32_t n = p->next_no;
    uint64_t *tr = malloc((n ? n : 1) * sizeof *tr);
    size_t ntr = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t c = p->cap_us[i];
        if (!c || c < t0 || c >= t1) continue;
        out->sent++;
        if (!p->arr_us[i]) continue;
        out->intact++;
        uint64_t d = p->arr_us[i] - c;
        if (tr) tr[ntr++] = d;
        if (d <= p->min_transit + (uint64_t)budget_ms * 1000u) out->on_time++;
    }
    pthread_mutex_unlock(&p->rec_mu);
    if (ntr) {
        qsort(tr, ntr, sizeof *tr, cmp_u64);
        out->delay_p50_ms = tr[ntr / 2] / 1000.0;
    }
    free(tr);
}

void sp_stats(sp_path_t *p, sp_stats_t *out)
{
    pthread_mutex_lock(&p->rec_mu);
    *out = p->st;
    pthread_mutex_unlock(&p->rec_mu);
    double dt = p->last_out_us > p->first_out_us ? (p->last_out_us - p->first_out_us) / 1e6 : 0;
    out->sent_kbps = dt > 0 ? p->bytes_out * 8.0 / dt / 1000.0 : 0;
}

void sp_stop(sp_path_t **pp)
{
    if (!pp || !*pp) return;
    sp_path_t *p = *pp;
    if (p->cap) hc_capture_stop(p->cap);
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->enc_running) pthread_join(p->enc_th, NULL);
    hc_capture_destroy(&p->cap);
    atomic_store(&p->rx_stop, true);
    if (p->rx_running) pthread_join(p->rx_th, NULL);
    reap(&p->rcv_pid);
    reap(&p->snd_pid);
    er_impair_stop(&p->imp, NULL);
    if (p->oc) {
        AVIOContext *pb = p->oc->pb;
        avformat_free_context(p->oc);
        if (pb) {
            av_freep(&pb->buffer);
            avio_context_free(&pb);
        }
    }
    hc_venc_destroy(&p->venc);
    if (p->tx_fd >= 0) close(p->tx_fd);
    if (p->rx_fd >= 0) close(p->rx_fd);
    free(p->pend);
    free(p->work);
    free(p->cap_us);
    free(p->arr_us);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->rec_mu);
    free(p);
    *pp = NULL;
}
