/* venc.c - libswscale + libavcodec libx264 video encoder; see venc.h. */
#include "edge/venc.h"

#include "proto/err.h"
#include "proto/h264.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hc_venc {
    hc_venc_cfg_t cfg;
    char preset[32], profile[32];
    const AVCodec *codec;
    AVCodecContext *ctx;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    int64_t pts;
    bool key_next;
    uint32_t last_bps; /* what the context was last told */
    uint8_t *au;
    size_t au_cap;
    hc_venc_stats_t st;
};

static void set_err(char *err, size_t cap, const char *what, int rc)
{
    if (!err || !cap) return;
    char e[128];
    av_strerror(rc, e, sizeof e);
    snprintf(err, cap, "%s: %s", what, e);
}

void hc_venc_cfg_default(hc_venc_cfg_t *cfg, int width, int height, int fps, uint32_t bitrate_bps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->width = width;
    cfg->height = height;
    cfg->fps = fps;
    cfg->bitrate_bps = bitrate_bps;
}

/* Rate-control fields on the context; libx264.c's reconfig_encoder() picks
 * them up before the next picture. VBV max rate = target keeps frames from
 * bursting above what the estimator allows; the buffer bounds how far one
 * frame (a keyframe) may exceed its share. */
static void apply_rate(hc_venc_t *v, uint32_t bps)
{
    if (bps < 16000) bps = 16000;
    uint32_t vbv = v->cfg.vbv_ms ? v->cfg.vbv_ms : 500;
    v->ctx->bit_rate = bps;
    v->ctx->rc_max_rate = bps;
    v->ctx->rc_buffer_size = (int)((uint64_t)bps * vbv / 1000u);
    v->last_bps = bps;
}

static void close_codec(hc_venc_t *v)
{
    avcodec_free_context(&v->ctx);
    av_frame_free(&v->frame);
}

static int open_codec(hc_venc_t *v, char *err, size_t errcap)
{
    const hc_venc_cfg_t *c = &v->cfg;
    v->ctx = avcodec_alloc_context3(v->codec);
    v->frame = av_frame_alloc();
    if (!v->ctx || !v->frame) {
        close_codec(v);
        return -HC_ENOMEM;
    }
    AVCodecContext *x = v->ctx;
    x->width = c->width;
    x->height = c->height;
    x->time_base = (AVRational){1, c->fps};
    x->framerate = (AVRational){c->fps, 1};
    x->pix_fmt = AV_PIX_FMT_YUV420P;
    x->max_b_frames = 0;
    x->thread_count = c->threads > 0 ? c->threads : 1;
    x->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER;
    uint32_t keyint_ms = c->keyint_ms ? c->keyint_ms : (c->intra_refresh ? 1000 : 4000);
    int keyint = (int)((uint64_t)keyint_ms * (uint32_t)c->fps / 1000u);
    if (keyint < 2) keyint = 2;
    x->gop_size = keyint;
    if (c->qp > 0)
        av_opt_set_int(x->priv_data, "qp", c->qp > 51 ? 51 : c->qp, 0);
    else
        apply_rate(v, c->bitrate_bps);
    av_opt_set(x->priv_data, "preset", v->preset, 0);
    av_opt_set(x->priv_data, "tune", "zerolatency", 0);
    av_opt_set(x->priv_data, "profile", v->profile, 0);
    /* forced-idr: a requested keyframe is an IDR (with intra refresh x264
     * would otherwise make a non-IDR I picture). */
    av_opt_set_int(x->priv_data, "forced-idr", 1, 0);
    char params[160];
    snprintf(params, sizeof params, "repeat-headers=1:annexb=1:aud=0:keyint=%d:min-keyint=%d%s",
             keyint, keyint, c->intra_refresh ? ":intra-refresh=1" : ":scenecut=0");
    av_opt_set(x->priv_data, "x264-params", params, 0);
    int rc = avcodec_open2(x, v->codec, NULL);
    if (rc < 0) {
        set_err(err, errcap, "opening libx264", rc);
        close_codec(v);
        return -HC_ECODEC;
    }
    v->frame->format = AV_PIX_FMT_YUV420P;
    v->frame->width = c->width;
    v->frame->height = c->height;
    if (av_frame_get_buffer(v->frame, 32) < 0) {
        close_codec(v);
        return -HC_ENOMEM;
    }
    v->pts = 0;
    v->key_next = true;
    return 0;
}

static bool cfg_ok(int w, int h, int fps)
{
    return w >= 16 && h >= 16 && w <= 7680 && h <= 4320 && !(w & 1) && !(h & 1) && fps >= 1 &&
           fps <= 120;
}

int hc_venc_new(hc_venc_t **out, const hc_venc_cfg_t *cfg, char *err, size_t errcap)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (!cfg_ok(cfg->width, cfg->height, cfg->fps)) {
        if (err && errcap)
            snprintf(err, errcap, "video encoder: bad size or rate %dx%d@%d", cfg->width,
                     cfg->height, cfg->fps);
        return -HC_EINVAL;
    }
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec) {
        set_err(err, errcap, "libx264 encoder", AVERROR_ENCODER_NOT_FOUND);
        return -HC_ECODEC;
    }
    hc_venc_t *v = calloc(1, sizeof *v);
    if (!v) return -HC_ENOMEM;
    v->cfg = *cfg;
    v->codec = codec;
    snprintf(v->preset, sizeof v->preset, "%s", cfg->preset ? cfg->preset : "veryfast");
    snprintf(v->profile, sizeof v->profile, "%s", cfg->profile ? cfg->profile : "baseline");
    v->cfg.preset = v->preset;
    v->cfg.profile = v->profile;
    v->pkt = av_packet_alloc();
    if (!v->pkt) {
        free(v);
        return -HC_ENOMEM;
    }
    int rc = open_codec(v, err, errcap);
    if (rc < 0) {
        av_packet_free(&v->pkt);
        free(v);
        return rc;
    }
    *out = v;
    return 0;
}

void hc_venc_destroy(hc_venc_t **pv)
{
    if (!pv || !*pv) return;
    hc_venc_t *v = *pv;
    close_codec(v);
    av_packet_free(&v->pkt);
    sws_freeContext(v->sws);
    free(v->au);
    free(v);
    *pv = NULL;
}

void hc_venc_set_bitrate(hc_venc_t *v, uint32_t bps)
{
    v->cfg.bitrate_bps = bps;
    if (!v->ctx || v->cfg.qp > 0) return;
    if (bps / 1000u != v->last_bps / 1000u) {
        apply_rate(v, bps);
        v->st.reconfigs++;
    }
}

uint32_t hc_venc_bitrate(const hc_venc_t *v)
{
    return v->cfg.bitrate_bps;
}

int hc_venc_reconfigure(hc_venc_t *v, int width, int height, int fps, bool intra_refresh)
{
    if (!cfg_ok(width, height, fps)) return -HC_EINVAL;
    if (v->ctx && width == v->cfg.width && height == v->cfg.height && fps == v->cfg.fps &&
        intra_refresh == v->cfg.intra_refresh)
        return 0;
    close_codec(v);
    v->cfg.width = width;
    v->cfg.height = height;
    v->cfg.fps = fps;
    v->cfg.intra_refresh = intra_refresh;
    int rc = open_codec(v, NULL, 0);
    if (rc < 0) return rc;
    v->st.reopens++;
    return 1;
}

void hc_venc_request_keyframe(hc_venc_t *v)
{
    v->key_next = true;
}

static int keep_au(hc_venc_t *v, const AVPacket *p)
{
    if ((size_t)p->size > v->au_cap) {
        size_t nc = (size_t)p->size + 4096;
        uint8_t *b = realloc(v->au, nc);
        if (!b) return -HC_ENOMEM;
        v->au = b;
        v->au_cap = nc;
    }
    memcpy(v->au, p->data, (size_t)p->size);
    return 0;
}

int hc_venc_encode(hc_venc_t *v, const hc_venc_pic_t *pic, hc_venc_hook_fn hook, void *ud,
                   hc_venc_out_t *out)
{
    if (!v || !pic || !out || pic->width < 2 || pic->height < 2) return -HC_EINVAL;
    if (!v->ctx) return -HC_ECODEC;
    if (av_frame_make_writable(v->frame) < 0) return -HC_ENOMEM;
    v->sws =
        sws_getCachedContext(v->sws, pic->width, pic->height, AV_PIX_FMT_YUV420P, v->cfg.width,
                             v->cfg.height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!v->sws) return -HC_ENOMEM;
    sws_scale(v->sws, (const uint8_t *const *)pic->plane, pic->stride, 0, pic->height,
              v->frame->data, v->frame->linesize);
    if (hook) hook(ud, v->frame->data, v->frame->linesize, v->cfg.width, v->cfg.height);
    v->frame->pts = v->pts++;
    bool asked = v->key_next && v->st.frames > 0;
    v->frame->pict_type = v->key_next ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
    v->key_next = false;
    if (avcodec_send_frame(v->ctx, v->frame) < 0) return -HC_ECODEC;
    int rc = avcodec_receive_packet(v->ctx, v->pkt);
    if (rc == AVERROR(EAGAIN)) return 0;
    if (rc < 0) return -HC_ECODEC;
    rc = keep_au(v, v->pkt);
    size_t len = (size_t)v->pkt->size;
    av_packet_unref(v->pkt);
    if (rc < 0) return rc;
    /* x264 flags intra-refresh recovery points as keyframes too; only an
     * IDR lets a receiver start decoding at once. */
    bool key = hc_h264_au_is_keyframe(v->au, len);
    out->au = v->au;
    out->len = len;
    out->keyframe = key;
    out->width = v->cfg.width;
    out->height = v->cfg.height;
    v->st.frames++;
    v->st.bytes += len;
    if (key) v->st.keyframes++;
    if (asked) v->st.keyframes_asked++;
    return 1;
}

void hc_venc_get_cfg(const hc_venc_t *v, hc_venc_cfg_t *out)
{
    *out = v->cfg;
}

void hc_venc_stats(const hc_venc_t *v, hc_venc_stats_t *out)
{
    *out = v->st;
}
