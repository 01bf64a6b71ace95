/* aenc.c - Opus through libavcodec libopus, RED assembly; see aenc.h. */
#include "edge/aenc.h"

#include "proto/err.h"
#include "proto/red.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct prev_frame {
    uint8_t data[HC_AENC_MAX_PACKET];
    size_t len;
    uint32_t ts;
    bool valid;
} prev_frame_t;

struct hc_aenc {
    hc_aenc_cfg_t cfg;
    const AVCodec *codec;
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    int16_t acc[HC_AENC_FRAME];
    int nacc;
    uint64_t acc_pts, acc_wall; /* times of acc[0] */
    uint32_t ts;                /* input samples so far (pts of the next frame) */
    uint32_t ts_out;            /* RTP timestamp of the next packet */
    bool reopen;
    prev_frame_t prev[2]; /* [0] the older */
    uint8_t red[HC_AENC_MAX_RED];
    hc_aenc_stats_t st;
};

void hc_aenc_cfg_default(hc_aenc_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bitrate_bps = 32000;
    cfg->opus_pt = 111;
}

static void close_codec(hc_aenc_t *a)
{
    avcodec_free_context(&a->ctx);
    av_frame_free(&a->frame);
}

static int open_codec(hc_aenc_t *a, char *err, size_t errcap)
{
    a->ctx = avcodec_alloc_context3(a->codec);
    a->frame = av_frame_alloc();
    if (!a->ctx || !a->frame) {
        close_codec(a);
        return -HC_ENOMEM;
    }
    a->ctx->sample_rate = 48000;
    a->ctx->sample_fmt = AV_SAMPLE_FMT_S16;
    av_channel_layout_default(&a->ctx->ch_layout, 1);
    a->ctx->bit_rate = a->cfg.bitrate_bps;
    av_opt_set(a->ctx->priv_data, "application", "voip", 0);
    av_opt_set_double(a->ctx->priv_data, "frame_duration", 20.0, 0);
    /* libopus: in-band FEC only takes effect with a non-zero expected loss. */
    av_opt_set_int(a->ctx->priv_data, "packet_loss", a->cfg.loss_pct, 0);
    av_opt_set_int(a->ctx->priv_data, "fec", a->cfg.fec && a->cfg.loss_pct ? 1 : 0, 0);
    int rc = avcodec_open2(a->ctx, a->codec, NULL);
    if (rc < 0) {
        if (err && errcap) {
            char e[128];
            av_strerror(rc, e, sizeof e);
            snprintf(err, errcap, "opening libopus: %s", e);
        }
        close_codec(a);
        return -HC_ECODEC;
    }
    a->frame->format = AV_SAMPLE_FMT_S16;
    a->frame->nb_samples = HC_AENC_FRAME;
    a->frame->sample_rate = 48000;
    av_channel_layout_copy(&a->frame->ch_layout, &a->ctx->ch_layout);
    if (av_frame_get_buffer(a->frame, 0) < 0) {
        close_codec(a);
        return -HC_ENOMEM;
    }
    a->reopen = false;
    return 0;
}

static bool cfg_ok(const hc_aenc_cfg_t *c)
{
    return c->bitrate_bps >= 6000 && c->bitrate_bps <= 510000 && c->loss_pct <= 100 &&
           c->red_level <= 2 && c->opus_pt <= 127;
}

int hc_aenc_new(hc_aenc_t **out, const hc_aenc_cfg_t *cfg, char *err, size_t errcap)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (!cfg_ok(cfg)) return -HC_EINVAL;
    const AVCodec *c = avcodec_find_encoder_by_name("libopus");
    if (!c) {
        if (err && errcap) snprintf(err, errcap, "libopus encoder not found in libavcodec");
        return -HC_ECODEC;
    }
    hc_aenc_t *a = calloc(1, sizeof *a);
    if (!a) return -HC_ENOMEM;
    a->cfg = *cfg;
    a->codec = c;
    a->pkt = av_packet_alloc();
    int rc = a->pkt ? open_codec(a, err, errcap) : -HC_ENOMEM;
    if (rc < 0) {
        av_packet_free(&a->pkt);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void hc_aenc_destroy(hc_aenc_t **pa)
{
    if (!pa || !*pa) return;
    hc_aenc_t *a = *pa;
    close_codec(a);
    av_packet_free(&a->pkt);
    free(a);
    *pa = NULL;
}

int hc_aenc_set(hc_aenc_t *a, const hc_aenc_cfg_t *cfg)
{
    if (!a || !cfg || !cfg_ok(cfg)) return -HC_EINVAL;
    if (cfg->bitrate_bps != a->cfg.bitrate_bps || cfg->fec != a->cfg.fec ||
        cfg->loss_pct != a->cfg.loss_pct)
        a->reopen = true;
    a->cfg = *cfg;
    return 0;
}

void hc_aenc_get(const hc_aenc_t *a, hc_aenc_cfg_t *out)
{
    *out = a->cfg;
}

uint8_t hc_aenc_level(const int16_t *pcm, int n)
{
    if (n <= 0) return 127;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += (double)pcm[i] * pcm[i];
    double rms = sqrt(sum / n) / 32768.0;
    if (rms <= 0) return 127;
    double db = -20.0 * log10(rms);
    if (db < 0) db = 0;
    if (db > 127) db = 127;
    return (uint8_t)(db + 0.5);
}

/* RFC 2198: the previous frames (oldest first) as redundant blocks, this
 * frame as the primary. A block that cannot be described (offset beyond
 * 14 bits after a long silence, or longer than 10 bits) is left out. */
static size_t build_red(hc_aenc_t *a, const uint8_t *opus, size_t len, uint32_t ts)
{
    hc_red_block_t red[2], prim = {.pt = a->cfg.opus_pt, .data = opus, .len = len};
    size_t n = 0;
    for (int i = 2 - a->cfg.red_level; i < 2; i++) {
        const prev_frame_t *p = &a->prev[i];
        uint32_t off = ts - p->ts;
        if (!p->valid || off == 0 || off > HC_RED_MAX_TS_OFFSET || p->len > HC_RED_MAX_BLOCK_LEN)
            continue;
        red[n++] = (hc_red_block_t){
            .pt = a->cfg.opus_pt, .ts_offset = (uint16_t)off, .data = p->data, .len = p->len};
    }
    int w = hc_red_write(red, n, &prim, a->red, sizeof a->red);
    return w > 0 ? (size_t)w : 0;
}

static int encode_frame(hc_aenc_t *a, hc_aenc_fn fn, void *ud)
{
    if (a->reopen) {
        close_codec(a);
        int rc = open_codec(a, NULL, 0);
        if (rc < 0) return rc;
        a->st.reopens++;
    }
    if (av_frame_make_writable(a->frame) < 0) return -HC_ENOMEM;
    memcpy(a->frame->data[0], a->acc, sizeof a->acc);
    a->frame->pts = a->ts;
    uint64_t pts = a->acc_pts, wall = a->acc_wall;
    uint8_t level = hc_aenc_level(a->acc, HC_AENC_FRAME);
    a->ts += HC_AENC_FRAME;
    a->nacc = 0;
    if (avcodec_send_frame(a->ctx, a->frame) < 0) return -HC_ECODEC;
    int got = 0, rc;
    while ((rc = avcodec_receive_packet(a->ctx, a->pkt)) == 0) {
        size_t len = (size_t)a->pkt->size;
        if (len > HC_AENC_MAX_PACKET) {
            av_packet_unref(a->pkt);
            continue;
        }
        /* One packet per 20 ms frame; its timestamp counts packets (the
         * wrapper's pts starts negative by the encoder's lookahead). */
        uint32_t pts48 = a->ts_out;
        a->ts_out += HC_AENC_FRAME;
        if (len <= 2) {
            a->st.dtx_skipped++;
            av_packet_unref(a->pkt);
            continue;
        }
        hc_aenc_pkt_t p = {.opus = a->pkt->data,
                           .opus_len = len,
                           .ts = pts48,
                           .pts_us = pts,
                           .wall_us = wall,
                           .level = level,
                           .voice = level < 50};
        if (a->cfg.red_level) {
            p.red_len = build_red(a, a->pkt->data, len, pts48);
            if (p.red_len) {
                p.red = a->red;
                a->st.red_packets++;
            }
        }
        a->prev[0] = a->prev[1];
        memcpy(a->prev[1].data, a->pkt->data, len);
        a->prev[1].len = len;
        a->prev[1].ts = pts48;
        a->prev[1].valid = true;
        a->st.frames++;
        a->st.bytes += len;
        if (fn) fn(ud, &p);
        av_packet_unref(a->pkt);
        got++;
    }
    if (rc != AVERROR(EAGAIN)) return -HC_ECODEC;
    return got;
}

int hc_aenc_push(hc_aenc_t *a, const int16_t *pcm, int samples, int channels, uint64_t pts_us,
                 uint64_t wall_us, hc_aenc_fn fn, void *ud)
{
    if (!a || (!pcm && samples) || samples < 0 || channels < 1) return -HC_EINVAL;
    if (!a->ctx && !a->reopen) return -HC_ECODEC;
    int frames = 0;
    for (int i = 0; i < samples; i++) {
        if (a->nacc == 0) {
            uint64_t off = (uint64_t)i * 1000000u / 48000u;
            a->acc_pts = pts_us + off;
            a->acc_wall = wall_us + off;
        }
        int32_t s = 0;
        for (int c = 0; c < channels; c++) s += pcm[(size_t)i * channels + c];
        a->acc[a->nacc++] = (int16_t)(s / channels);
        if (a->nacc == HC_AENC_FRAME) {
            int rc = encode_frame(a, fn, ud);
            if (rc < 0) return rc;
            frames++;
        }
    }
    return frames;
}

void hc_aenc_skip(hc_aenc_t *a, uint32_t samples)
{
    a->ts += samples;
    a->ts_out += samples;
}

void hc_aenc_stats(const hc_aenc_t *a, hc_aenc_stats_t *out)
{
    *out = a->st;
}
