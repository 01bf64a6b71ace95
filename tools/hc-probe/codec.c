/* codec.c - libavcodec H.264 (libx264) and Opus (libopus); see codec.h. */
#include "tools/hc-probe/codec.h"

#include "proto/err.h"

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 16 /* frame-number blocks, BLOCK x BLOCK luma pixels each */
#define BITS  16

struct hc_h264_enc {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    uint8_t *au;
    size_t au_cap;
};

struct hc_h264_dec {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    uint8_t *buf;
    size_t cap;
};

struct hc_opus_enc {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    uint64_t sample;
    uint8_t *out;
    size_t out_cap;
};

struct hc_opus_dec {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    uint8_t *buf;
    size_t cap;
};

static void set_err(char *err, size_t cap, const char *what, int rc)
{
    if (!err || !cap) return;
    char e[128];
    av_strerror(rc, e, sizeof e);
    snprintf(err, cap, "%s: %s", what, e);
}

int hc_h264_enc_new(hc_h264_enc_t **out, int width, int height, int fps, int bitrate, int gop,
                    char *err, size_t errcap)
{
    *out = NULL;
    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    if (!c) {
        set_err(err, errcap, "libx264 encoder", AVERROR_ENCODER_NOT_FOUND);
        return -HC_ECODEC;
    }
    hc_h264_enc_t *e = calloc(1, sizeof *e);
    if (!e) return -HC_ENOMEM;
    e->ctx = avcodec_alloc_context3(c);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->ctx || !e->frame || !e->pkt) goto nomem;
    e->ctx->width = width;
    e->ctx->height = height;
    e->ctx->time_base = (AVRational){1, fps};
    e->ctx->framerate = (AVRational){fps, 1};
    e->ctx->pix_fmt = AV_PIX_FMT_YUV420P;
    e->ctx->bit_rate = bitrate;
    e->ctx->rc_max_rate = bitrate;
    e->ctx->rc_buffer_size = bitrate / 2;
    e->ctx->gop_size = gop;
    e->ctx->max_b_frames = 0;
    e->ctx->thread_count = 1;
    /* low latency: no lookahead, no B-frames, SPS/PPS before every IDR */
    av_opt_set(e->ctx->priv_data, "preset", "ultrafast", 0);
    av_opt_set(e->ctx->priv_data, "tune", "zerolatency", 0);
    av_opt_set(e->ctx->priv_data, "profile", "baseline", 0);
    av_opt_set(e->ctx->priv_data, "x264-params", "repeat-headers=1:annexb=1", 0);
    int rc = avcodec_open2(e->ctx, c, NULL);
    if (rc < 0) {
        set_err(err, errcap, "opening libx264", rc);
        hc_h264_enc_destroy(&e);
        return -HC_ECODEC;
    }
    e->frame->format = AV_PIX_FMT_YUV420P;
    e->frame->width = width;
    e->frame->height = height;
    if (av_frame_get_buffer(e->frame, 32) < 0) goto nomem;
    *out = e;
    return 0;
nomem:
    hc_h264_enc_destroy(&e);
    return -HC_ENOMEM;
}

void hc_h264_enc_destroy(hc_h264_enc_t **pe)
{
    if (!pe || !*pe) return;
    hc_h264_enc_t *e = *pe;
    avcodec_free_context(&e->ctx);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    free(e->au);
    free(e);
    *pe = NULL;
}

static void draw(AVFrame *f, uint32_t n)
{
    for (int y = 0; y < f->height; y++) {
        uint8_t *row = f->data[0] + (size_t)y * f->linesize[0];
        for (int x = 0; x < f->width; x++)
            row[x] = (uint8_t)(((x + y + 2 * (int)n) & 0xff) / 2 + 64);
    }
    for (int y = 0; y < f->height / 2; y++) {
        memset(f->data[1] + (size_t)y * f->linesize[1], 128 + ((int)n & 31), (size_t)f->width / 2);
        memset(f->data[2] + (size_t)y * f->linesize[2], 128, (size_t)f->width / 2);
    }
    /* frame number, most significant bit first */
    for (int b = 0; b < BITS && (b + 1) * BLOCK <= f->width; b++) {
        uint8_t v = ((n >> (BITS - 1 - b)) & 1) ? 235 : 16;
        for (int y = 0; y < BLOCK && y < f->height; y++)
            memset(f->data[0] + (size_t)y * f->linesize[0] + (size_t)b * BLOCK, v, BLOCK);
    }
}

int hc_h264_enc_frame(hc_h264_enc_t *e, uint32_t n, bool key, const uint8_t **au, size_t *len,
                      bool *is_key)
{
    if (av_frame_make_writable(e->frame) < 0) return -HC_ECODEC;
    draw(e->frame, n);
    e->frame->pts = n;
    e->frame->pict_type = key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    if (avcodec_send_frame(e->ctx, e->frame) < 0) return -HC_ECODEC;
    int rc = avcodec_receive_packet(e->ctx, e->pkt);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc < 0) return -HC_ECODEC;
    if ((size_t)e->pkt->size > e->au_cap) {
        uint8_t *b = realloc(e->au, (size_t)e->pkt->size);
        if (!b) {
            av_packet_unref(e->pkt);
            return -HC_ENOMEM;
        }
        e->au = b;
        e->au_cap = (size_t)e->pkt->size;
    }
    memcpy(e->au, e->pkt->data, (size_t)e->pkt->size);
    *au = e->au;
    *len = (size_t)e->pkt->size;
    *is_key = (e->pkt->flags & AV_PKT_FLAG_KEY) != 0;
    av_packet_unref(e->pkt);
    return 1;
}

int hc_h264_dec_new(hc_h264_dec_t **out)
{
    *out = NULL;
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!c) return -HC_ECODEC;
    hc_h264_dec_t *d = calloc(1, sizeof *d);
    if (!d) return -HC_ENOMEM;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->ctx || !d->frame || !d->pkt) {
        hc_h264_dec_destroy(&d);
        return -HC_ENOMEM;
    }
    d->ctx->thread_count = 1;
    if (avcodec_open2(d->ctx, c, NULL) < 0) {
        hc_h264_dec_destroy(&d);
        return -HC_ECODEC;
    }
    *out = d;
    return 0;
}

void hc_h264_dec_destroy(hc_h264_dec_t **pd)
{
    if (!pd || !*pd) return;
    hc_h264_dec_t *d = *pd;
    avcodec_free_context(&d->ctx);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    free(d->buf);
    free(d);
    *pd = NULL;
}

/* libavcodec wants AV_INPUT_BUFFER_PADDING_SIZE zero bytes after input. */
static int padded(uint8_t **buf, size_t *cap, const uint8_t *data, size_t len)
{
    if (len + AV_INPUT_BUFFER_PADDING_SIZE > *cap) {
        size_t nc = len + AV_INPUT_BUFFER_PADDING_SIZE + 4096;
        uint8_t *b = realloc(*buf, nc);
        if (!b) return -HC_ENOMEM;
        *buf = b;
        *cap = nc;
    }
    memcpy(*buf, data, len);
    memset(*buf + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    return 0;
}

int hc_h264_dec_au(hc_h264_dec_t *d, const uint8_t *au, size_t len, int *w, int *h,
                   int64_t *frame_no)
{
    if (padded(&d->buf, &d->cap, au, len) < 0) return -HC_ENOMEM;
    d->pkt->data = d->buf;
    d->pkt->size = (int)len;
    int rc = avcodec_send_packet(d->ctx, d->pkt);
    if (rc < 0) return -HC_ECODEC;
    rc = avcodec_receive_frame(d->ctx, d->frame);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc < 0) return -HC_ECODEC;
    *w = d->frame->width;
    *h = d->frame->height;
    int64_t n = -1;
    if (d->frame->format == AV_PIX_FMT_YUV420P && d->frame->width >= BITS * BLOCK &&
        d->frame->height >= BLOCK) {
        n = 0;
        for (int b = 0; b < BITS; b++) {
            uint8_t v = d->frame->data[0][(size_t)(BLOCK / 2) * d->frame->linesize[0] +
                                          (size_t)b * BLOCK + BLOCK / 2];
            n = (n << 1) | (v > 128 ? 1 : 0);
        }
    }
    *frame_no = n;
    av_frame_unref(d->frame);
    return 1;
}

int hc_opus_enc_new(hc_opus_enc_t **out, int bitrate, char *err, size_t errcap)
{
    *out = NULL;
    const AVCodec *c = avcodec_find_encoder_by_name("libopus");
    if (!c) {
        set_err(err, errcap, "libopus encoder", AVERROR_ENCODER_NOT_FOUND);
        return -HC_ECODEC;
    }
    hc_opus_enc_t *e = calloc(1, sizeof *e);
    if (!e) return -HC_ENOMEM;
    e->ctx = avcodec_alloc_context3(c);
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->ctx || !e->frame || !e->pkt) goto nomem;
    e->ctx->sample_rate = 48000;
    e->ctx->sample_fmt = AV_SAMPLE_FMT_S16;
    av_channel_layout_default(&e->ctx->ch_layout, 1);
    e->ctx->bit_rate = bitrate;
    av_opt_set(e->ctx->priv_data, "application", "voip", 0);
    av_opt_set_int(e->ctx->priv_data, "frame_duration", 20, 0);
    int rc = avcodec_open2(e->ctx, c, NULL);
    if (rc < 0) {
        set_err(err, errcap, "opening libopus", rc);
        hc_opus_enc_destroy(&e);
        return -HC_ECODEC;
    }
    e->frame->format = AV_SAMPLE_FMT_S16;
    e->frame->nb_samples = e->ctx->frame_size ? e->ctx->frame_size : 960;
    av_channel_layout_copy(&e->frame->ch_layout, &e->ctx->ch_layout);
    e->frame->sample_rate = 48000;
    if (av_frame_get_buffer(e->frame, 0) < 0) goto nomem;
    *out = e;
    return 0;
nomem:
    hc_opus_enc_destroy(&e);
    return -HC_ENOMEM;
}

void hc_opus_enc_destroy(hc_opus_enc_t **pe)
{
    if (!pe || !*pe) return;
    hc_opus_enc_t *e = *pe;
    avcodec_free_context(&e->ctx);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    free(e->out);
    free(e);
    *pe = NULL;
}

int hc_opus_enc_frame(hc_opus_enc_t *e, const uint8_t **pkt)
{
    if (av_frame_make_writable(e->frame) < 0) return -HC_ECODEC;
    int16_t *s = (int16_t *)e->frame->data[0];
    for (int i = 0; i < e->frame->nb_samples; i++)
        s[i] = (int16_t)(8000.0 *
                         sin(2.0 * M_PI * 440.0 * (double)(e->sample + (uint64_t)i) / 48000.0));
    e->frame->pts = (int64_t)e->sample;
    e->sample += (uint64_t)e->frame->nb_samples;
    if (avcodec_send_frame(e->ctx, e->frame) < 0) return -HC_ECODEC;
    int rc = avcodec_receive_packet(e->ctx, e->pkt);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc < 0) return -HC_ECODEC;
    if ((size_t)e->pkt->size > e->out_cap) {
        uint8_t *b = realloc(e->out, (size_t)e->pkt->size);
        if (!b) {
            av_packet_unref(e->pkt);
            return -HC_ENOMEM;
        }
        e->out = b;
        e->out_cap = (size_t)e->pkt->size;
    }
    memcpy(e->out, e->pkt->data, (size_t)e->pkt->size);
    int n = e->pkt->size;
    av_packet_unref(e->pkt);
    *pkt = e->out;
    return n;
}

int hc_opus_dec_new(hc_opus_dec_t **out)
{
    *out = NULL;
    const AVCodec *c = avcodec_find_decoder_by_name("libopus");
    if (!c) c = avcodec_find_decoder(AV_CODEC_ID_OPUS);
    if (!c) return -HC_ECODEC;
    hc_opus_dec_t *d = calloc(1, sizeof *d);
    if (!d) return -HC_ENOMEM;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->ctx || !d->frame || !d->pkt) {
        hc_opus_dec_destroy(&d);
        return -HC_ENOMEM;
    }
    d->ctx->sample_rate = 48000;
    av_channel_layout_default(&d->ctx->ch_layout, 1);
    if (avcodec_open2(d->ctx, c, NULL) < 0) {
        hc_opus_dec_destroy(&d);
        return -HC_ECODEC;
    }
    *out = d;
    return 0;
}

void hc_opus_dec_destroy(hc_opus_dec_t **pd)
{
    if (!pd || !*pd) return;
    hc_opus_dec_t *d = *pd;
    avcodec_free_context(&d->ctx);
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    free(d->buf);
    free(d);
    *pd = NULL;
}

int hc_opus_dec_packet(hc_opus_dec_t *d, const uint8_t *pkt, size_t len)
{
    if (padded(&d->buf, &d->cap, pkt, len) < 0) return -HC_ENOMEM;
    d->pkt->data = d->buf;
    d->pkt->size = (int)len;
    if (avcodec_send_packet(d->ctx, d->pkt) < 0) return -HC_ECODEC;
    int total = 0, rc;
    while ((rc = avcodec_receive_frame(d->ctx, d->frame)) == 0) {
        total += d->frame->nb_samples;
        av_frame_unref(d->frame);
    }
    if (rc != AVERROR(EAGAIN) && rc != AVERROR_EOF) return -HC_ECODEC;
    return total;
}
