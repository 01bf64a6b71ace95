/* vdec.c - libavcodec H.264 decoder to I420; see vdec.h. */
#include "edge/vdec.h"

#include "proto/err.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>

struct hc_vdec {
    AVCodecContext *ctx;
    AVFrame *frame;
    AVFrame *conv; /* I420 copy when the stream is another format */
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *buf; /* the access unit with libavcodec's zero padding */
    size_t cap;
    hc_vdec_stats_t st;
};

int hc_vdec_new(hc_vdec_t **out)
{
    if (!out) return -HC_EINVAL;
    *out = NULL;
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
    if (!c) return -HC_ECODEC;
    hc_vdec_t *d = calloc(1, sizeof *d);
    if (!d) return -HC_ENOMEM;
    d->ctx = avcodec_alloc_context3(c);
    d->frame = av_frame_alloc();
    d->conv = av_frame_alloc();
    d->pkt = av_packet_alloc();
    if (!d->ctx || !d->frame || !d->conv || !d->pkt) {
        hc_vdec_destroy(&d);
        return -HC_ENOMEM;
    }
    d->ctx->thread_count = 1;
    d->ctx->flags |= AV_CODEC_FLAG_LOW_DELAY;
    d->ctx->flags2 |= AV_CODEC_FLAG2_FAST;
    if (avcodec_open2(d->ctx, c, NULL) < 0) {
        hc_vdec_destroy(&d);
        return -HC_ECODEC;
    }
    *out = d;
    return 0;
}

void hc_vdec_destroy(hc_vdec_t **pd)
{
    if (!pd || !*pd) return;
    hc_vdec_t *d = *pd;
    avcodec_free_context(&d->ctx);
    av_frame_free(&d->frame);
    av_frame_free(&d->conv);
    av_packet_free(&d->pkt);
    sws_freeContext(d->sws);
    free(d->buf);
    free(d);
    *pd = NULL;
}

static int to_i420(hc_vdec_t *d, const AVFrame *f, hc_vdec_pic_t *pic)
{
    if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) {
        for (int i = 0; i < 3; i++) {
            pic->plane[i] = f->data[i];
            pic->stride[i] = f->linesize[i];
        }
        return 0;
    }
    if (d->conv->width != f->width || d->conv->height != f->height) {
        av_frame_unref(d->conv);
        d->conv->format = AV_PIX_FMT_YUV420P;
        d->conv->width = f->width;
        d->conv->height = f->height;
        if (av_frame_get_buffer(d->conv, 32) < 0) return -HC_ENOMEM;
    }
    d->sws = sws_getCachedContext(d->sws, f->width, f->height, f->format, f->width, f->height,
                                  AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!d->sws) return -HC_ECODEC;
    sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, d->conv->data,
              d->conv->linesize);
    for (int i = 0; i < 3; i++) {
        pic->plane[i] = d->conv->data[i];
        pic->stride[i] = d->conv->linesize[i];
    }
    return 0;
}

int hc_vdec_decode(hc_vdec_t *d, const uint8_t *au, size_t len, hc_vdec_pic_t *pic)
{
    if (!d || !au || !len || !pic || len > (size_t)INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
        return -HC_EINVAL;
    if (len + AV_INPUT_BUFFER_PADDING_SIZE > d->cap) {
        size_t nc = len + AV_INPUT_BUFFER_PADDING_SIZE + 8192;
        uint8_t *b = realloc(d->buf, nc);
        if (!b) return -HC_ENOMEM;
        d->buf = b;
        d->cap = nc;
    }
    memcpy(d->buf, au, len);
    memset(d->buf + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    av_frame_unref(d->frame);
    d->pkt->data = d->buf;
    d->pkt->size = (int)len;
    d->st.aus++;
    int rc = avcodec_send_packet(d->ctx, d->pkt);
    if (rc < 0) {
        d->st.errors++;
        return -HC_ECODEC;
    }
    rc = avcodec_receive_frame(d->ctx, d->frame);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc < 0) {
        d->st.errors++;
        return -HC_ECODEC;
    }
    pic->width = d->frame->width;
    pic->height = d->frame->height;
    pic->keyframe = d->frame->key_frame != 0;
    rc = to_i420(d, d->frame, pic);
    if (rc < 0) return rc;
    d->st.pictures++;
    return 1;
}

void hc_vdec_stats(const hc_vdec_t *d, hc_vdec_stats_t *out)
{
    *out = d->st;
}
