/* media_pub.c - hc-edge's published streams: capture callbacks, the video
 * encoder thread (rung, rate, keyframes, stills, H.264 passthrough) and the
 * audio encoder on the capture thread; see media_int.h. */
#include "edge/media_int.h"

#include "proto/err.h"
#include "proto/h264.h"
#include "relay/core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_DOWN_TRICKLE_US 1000000 /* during an outage: one picture a second */

static uint32_t rtp90k(media_pub_t *p, uint64_t pts_us)
{
    if (!p->have_base) {
        p->base_pts = pts_us;
        p->have_base = true;
    }
    return (uint32_t)((pts_us - p->base_pts) * 9u / 100u);
}

/* ---- audio (capture thread) ---- */

static void on_opus(void *ud, const hc_aenc_pkt_t *pk)
{
    media_pub_t *p = ud;
    /* The recording keeps the sound while the link is down. */
    if (p->m->rec && p->rec_idx >= 0)
        (void)hc_record_audio(p->m->rec, p->rec_idx, pk->opus, pk->opus_len, pk->pts_us);
    if (atomic_load(&p->m->paused)) return;
    bool red = pk->red && pk->red_len;
    media_post_frame(p, false, red ? pk->red : pk->opus, red ? pk->red_len : pk->opus_len, pk->ts,
                     false, red ? HC_RECEIVER_PT_RED : HC_EP_PT_OPUS, pk->level, pk->voice,
                     pk->wall_us);
    atomic_fetch_add(&p->encoded, 1);
}

static void on_audio(media_pub_t *p, const hc_cap_frame_t *f)
{
    if (!p->aenc) return;
    hc_sender_target_t t;
    pthread_mutex_lock(&p->mu);
    t = p->tgt;
    pthread_mutex_unlock(&p->mu);
    hc_aenc_cfg_t c;
    hc_aenc_get(p->aenc, &c);
    hc_aenc_cfg_t n = c;
    if (t.bitrate_bps) n.bitrate_bps = t.bitrate_bps < 6000 ? 6000 : t.bitrate_bps;
    n.red_level = t.red_level;
    n.fec = t.opus_fec;
    n.loss_pct = t.opus_loss_pct;
    /* Reopening costs a little: only for a change of 2 kbit/s or more. */
    uint32_t d = n.bitrate_bps > c.bitrate_bps ? n.bitrate_bps - c.bitrate_bps
                                               : c.bitrate_bps - n.bitrate_bps;
    if (d < 2000) n.bitrate_bps = c.bitrate_bps;
    if (memcmp(&n, &c, sizeof n) != 0) (void)hc_aenc_set(p->aenc, &n);
    if (hc_aenc_push(p->aenc, f->pcm, f->samples, f->channels, f->pts_us, f->wall_us, on_opus, p) <
        0)
        atomic_fetch_add(&p->enc_errors, 1);
}

/* ---- video mailbox (capture thread) ---- */

static size_t frame_bytes(const hc_cap_frame_t *f)
{
    if (f->kind == HC_CAP_VIDEO_H264) return f->len;
    return (size_t)f->stride[0] * (size_t)f->height +
           ((size_t)f->stride[1] + (size_t)f->stride[2]) * (size_t)((f->height + 1) / 2);
}

static void on_video(media_pub_t *p, const hc_cap_frame_t *f)
{
    size_t need = frame_bytes(f);
    pthread_mutex_lock(&p->mu);
    if (p->stop) {
        pthread_mutex_unlock(&p->mu);
        return;
    }
    if (need > p->pend_cap) {
        uint8_t *b = realloc(p->pend_buf, need);
        if (!b) {
            pthread_mutex_unlock(&p->mu);
            return;
        }
        p->pend_buf = b;
        p->pend_cap = need;
    }
    /* A frame still waiting is replaced: the encoder gets the newest. */
    if (p->full) atomic_fetch_add(&p->dropped_busy, 1);
    p->pend = *f;
    if (f->kind == HC_CAP_VIDEO_H264) {
        memcpy(p->pend_buf, f->bytes, f->len);
        p->pend.bytes = p->pend_buf;
    } else {
        size_t off = 0;
        for (int i = 0; i < 3; i++) {
            int rows = i ? (f->height + 1) / 2 : f->height;
            size_t n = (size_t)f->stride[i] * (size_t)rows;
            memcpy(p->pend_buf + off, f->plane[i], n);
            p->pend.plane[i] = p->pend_buf + off;
            off += n;
        }
    }
    p->full = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void on_capture(void *ud, const hc_cap_frame_t *f)
{
    media_pub_t *p = ud;
    if (f->kind == HC_CAP_AUDIO_S16) {
        if (p->kind == HC_EDGE_AUDIO) on_audio(p, f);
    } else if (p->kind == HC_EDGE_VIDEO) {
        on_video(p, f);
        if (f->kind == HC_CAP_VIDEO_H264) return; /* layers need pictures (config.h) */
        /* Simulcast: the same picture into each lower layer's mailbox; its
         * encoder thread scales it to the layer's size. */
        media_pub_t *lower[3];
        int n;
        pthread_mutex_lock(&p->mu);
        n = p->nlower;
        memcpy(lower, p->lower, sizeof lower);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < n; i++) on_video(lower[i], f);
    }
}

/* ---- encoder thread ---- */

static void stamp_hook(void *ud, uint8_t *const plane[3], const int stride[3], int w, int h)
{
    uint32_t n = *(const uint32_t *)ud;
    hc_playback_stamp_write(plane[0], stride[0], w, h, n);
}

static int ensure_venc(media_pub_t *p, const hc_sender_target_t *t, int w, int h, int fps)
{
    if (!p->venc) {
        hc_venc_cfg_t c;
        hc_venc_cfg_default(&c, w, h, fps, t->bitrate_bps ? t->bitrate_bps : 300000);
        c.intra_refresh = t->intra_refresh;
        c.threads = w * h >= 1280 * 720 ? 2 : 1;
        return hc_venc_new(&p->venc, &c, NULL, 0);
    }
    return hc_venc_reconfigure(p->venc, w, h, fps, t->intra_refresh) < 0 ? -HC_ECODEC : 0;
}

/* A still (consult stills mode): the full-resolution picture under the
 * budget 80 % of the interval's rate carries (edge/still.h), and the next
 * one no sooner than the link needs to carry this one at that 80 % (so a
 * still over budget delays the next instead of queueing behind it). */
static void encode_still(media_pub_t *p, const hc_sender_target_t *t, const hc_venc_pic_t *pic,
                         uint64_t pts_us, uint64_t wall_us, uint32_t seq)
{
    uint64_t rate = t->bitrate_bps ? t->bitrate_bps : 50000;
    uint64_t iv_us = (uint64_t)(t->still_interval_ms ? t->still_interval_ms : 2000) * 1000u;
    size_t budget = (size_t)(rate * iv_us / 1000000u * 8 / 10 / 8);
    hc_venc_out_t o;
    int rc = hc_still_encode(&p->still, pic, p->width & ~1, p->height & ~1, budget,
                             p->stamp ? stamp_hook : NULL, &seq, &o);
    if (rc < 0) {
        atomic_fetch_add(&p->enc_errors, 1);
        return;
    }
    uint64_t carry_us = (uint64_t)o.len * 8u * 1000000u * 10 / 8 / rate;
    p->next_still_us = pts_us + (carry_us > iv_us ? carry_us : iv_us);
    if (p->m->rec && p->rec_idx >= 0)
        (void)hc_record_video(p->m->rec, p->rec_idx, o.au, o.len, o.keyframe, pts_us);
    media_post_frame(p, true, o.au, o.len, rtp90k(p, pts_us), o.keyframe, HC_EP_PT_H264, 0, false,
                     wall_us);
    atomic_fetch_add(&p->encoded, 1);
}

/* Encode one I420 picture at the target's rung and post it. */
static void encode_raw(media_pub_t *p, const hc_sender_target_t *t, const hc_venc_pic_t *pic,
                       uint64_t pts_us, uint64_t wall_us, uint32_t seq)
{
    if (t->stills) {
        encode_still(p, t, pic, pts_us, wall_us, seq);
        return;
    }
    if (p->still.enc) {
        /* Back to video: the receiver's references are the stills now. */
        hc_still_fini(&p->still);
        if (p->venc) hc_venc_request_keyframe(p->venc);
    }
    int w = t->width, h = t->height, fps = t->fps;
    uint32_t bps = t->bitrate_bps;
    if (w < 16 || h < 16 || fps < 1) {
        w = p->width;
        h = p->height;
        fps = p->fps;
    }
    w &= ~1;
    h &= ~1;
    if (ensure_venc(p, t, w, h, fps) < 0) {
        atomic_fetch_add(&p->enc_errors, 1);
        return;
    }
    hc_venc_set_bitrate(p->venc, bps ? bps : 50000);
    bool rec_key = atomic_exchange(&p->rec_key, false);
    if (t->keyframe_gen != p->key_gen_seen || rec_key) {
        p->key_gen_seen = t->keyframe_gen;
        hc_venc_request_keyframe(p->venc);
    }
    hc_venc_out_t o;
    int rc = hc_venc_encode(p->venc, pic, p->stamp ? stamp_hook : NULL, &seq, &o);
    if (rc < 0) {
        atomic_fetch_add(&p->enc_errors, 1);
        return;
    }
    if (rc == 0) return;
    if (p->m->rec && p->rec_idx >= 0)
        (void)hc_record_video(p->m->rec, p->rec_idx, o.au, o.len, o.keyframe, pts_us);
    media_post_frame(p, true, o.au, o.len, rtp90k(p, pts_us), o.keyframe, HC_EP_PT_H264, 0, false,
                     wall_us);
    atomic_fetch_add(&p->encoded, 1);
}

/* An H.264 source: forwarded while the target allows its rate, decoded and
 * re-encoded when it must go lower (capture.h "rtsp"). */
static void handle_h264(media_pub_t *p, const hc_sender_target_t *t, const hc_cap_frame_t *f)
{
    if (p->last_src_pts && f->pts_us > p->last_src_pts) {
        double fps = 1e6 / (double)(f->pts_us - p->last_src_pts);
        if (fps > 120) fps = 120;
        double bps = (double)f->len * 8.0 * fps;
        p->src_bps = p->src_bps ? p->src_bps * 0.95 + bps * 0.05 : bps;
    }
    p->last_src_pts = f->pts_us;
    bool fits = !p->src_bps || t->bitrate_bps >= p->src_bps * 1.05;
    if (p->pass == PASS_ON && !fits) p->pass = PASS_OFF;
    if (p->pass == PASS_OFF && fits) {
        p->pass = PASS_WAIT_KEY;
        hc_capture_request_keyframe(p->cap);
    }
    if (p->pass == PASS_WAIT_KEY && f->keyframe) p->pass = PASS_ON;
    if (p->pass == PASS_ON) {
        if (t->keyframe_gen != p->key_gen_seen || atomic_exchange(&p->rec_key, false)) {
            p->key_gen_seen = t->keyframe_gen;
            hc_capture_request_keyframe(p->cap);
        }
        if (p->m->rec && p->rec_idx >= 0)
            (void)hc_record_video(p->m->rec, p->rec_idx, f->bytes, f->len, f->keyframe, f->pts_us);
        media_post_frame(p, true, f->bytes, f->len, rtp90k(p, f->pts_us), f->keyframe,
                         HC_EP_PT_H264, 0, false, f->wall_us);
        atomic_fetch_add(&p->encoded, 1);
        return;
    }
    if (!p->vdec && hc_vdec_new(&p->vdec) < 0) return;
    hc_vdec_pic_t d;
    if (hc_vdec_decode(p->vdec, f->bytes, f->len, &d) != 1) return;
    hc_venc_pic_t pic;
    for (int i = 0; i < 3; i++) {
        pic.plane[i] = d.plane[i];
        pic.stride[i] = d.stride[i];
    }
    pic.width = d.width;
    pic.height = d.height;
    encode_raw(p, t, &pic, f->pts_us, f->wall_us, (uint32_t)f->seq);
}

static void handle_frame(media_pub_t *p, const hc_cap_frame_t *f)
{
    hc_sender_target_t t;
    pthread_mutex_lock(&p->mu);
    t = p->tgt;
    pthread_mutex_unlock(&p->mu);
    hc_edge_media_t *m = p->m;
    if (atomic_load(&m->paused) || t.off) {
        atomic_fetch_add(&p->dropped_link, 1);
        return;
    }
    uint64_t pts = f->pts_us;
    /* An outage: keep a trickle, so the relay's feedback can tell us the
     * link is back; the rest would only be lost. */
    if (atomic_load(&m->outage) && p->have_enc && pts < p->last_enc_pts + LINK_DOWN_TRICKLE_US) {
        atomic_fetch_add(&p->dropped_link, 1);
        return;
    }
    if (t.stills) {
        if (p->last_still_us && pts < p->next_still_us) return;
        p->last_still_us = pts;
    } else {
        p->last_still_us = 0;
        /* The rung's frame rate: skip pictures that come too soon. */
        int fps = t.fps > 0 ? t.fps : p->fps;
        uint64_t iv = 1000000u / (uint64_t)(fps > 0 ? fps : 30);
        if (p->have_enc && pts < p->last_enc_pts + iv * 8 / 10 && f->kind != HC_CAP_VIDEO_H264)
            return;
    }
    p->last_enc_pts = pts;
    p->have_enc = true;
    if (f->kind == HC_CAP_VIDEO_H264) {
        handle_h264(p, &t, f);
        return;
    }
    hc_venc_pic_t pic;
    for (int i = 0; i < 3; i++) {
        pic.plane[i] = f->plane[i];
        pic.stride[i] = f->stride[i];
    }
    pic.width = f->width;
    pic.height = f->height;
    encode_raw(p, &t, &pic, pts, f->wall_us, (uint32_t)f->seq);
}

static void *encoder_main(void *arg)
{
    media_pub_t *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->full) pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop) break;
        /* Take the frame: swap the buffers so capture can fill the other. */
        hc_cap_frame_t f = p->pend;
        uint8_t *b = p->pend_buf;
        size_t cap = p->pend_cap;
        p->pend_buf = p->work_buf;
        p->pend_cap = p->work_cap;
        p->work_buf = b;
        p->work_cap = cap;
        p->full = false;
        pthread_mutex_unlock(&p->mu);
        handle_frame(p, &f);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- life cycle ---- */

int media_pub_new(hc_edge_media_t *m, const hc_edge_pub_cfg_t *cfg, media_pub_t **out, char *err,
                  size_t errcap)
{
    media_pub_t *p = calloc(1, sizeof *p);
    if (p) hc_still_init(&p->still);
    if (!p) return -HC_ENOMEM;
    p->m = m;
    snprintf(p->mid, sizeof p->mid, "%s", cfg->mid ? cfg->mid : "");
    p->pipeline = strdup(cfg->pipeline ? cfg->pipeline : "");
    p->kind = cfg->kind;
    p->role = cfg->role;
    p->width = cfg->width > 0 ? cfg->width & ~1 : 1280;
    p->height = cfg->height > 0 ? cfg->height & ~1 : 720;
    p->fps = cfg->fps > 0 ? cfg->fps : 30;
    p->max_kbps = cfg->max_kbps;
    p->ssrc = cfg->ssrc;
    p->rtx_ssrc = cfg->rtx_ssrc;
    p->fec_ssrc = cfg->fec_ssrc;
    p->stamp = p->kind == HC_EDGE_VIDEO && strstr(p->pipeline, "videotestsrc") != NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    atomic_init(&p->dropped_busy, 0);
    atomic_init(&p->dropped_link, 0);
    atomic_init(&p->encoded, 0);
    atomic_init(&p->enc_errors, 0);
    atomic_init(&p->rec_key, false);
    p->rec_idx = -1;
    int rc = 0;
    if (!p->pipeline) rc = -HC_ENOMEM;
    if (!rc && p->kind == HC_EDGE_AUDIO) {
        hc_aenc_cfg_t ac;
        hc_aenc_cfg_default(&ac);
        ac.opus_pt = HC_EP_PT_OPUS;
        rc = hc_aenc_new(&p->aenc, &ac, err, errcap);
    }
    if (!rc && p->pipeline[0])
        rc = hc_capture_new(&p->cap, p->pipeline, on_capture, p, err, errcap);
    if (rc < 0) {
        media_pub_destroy(&p);
        return rc;
    }
    *out = p;
    return 0;
}

int media_pub_start(media_pub_t *p, char *err, size_t errcap)
{
    if (p->kind == HC_EDGE_VIDEO && !p->th_running) {
        if (pthread_create(&p->th, NULL, encoder_main, p) != 0) {
            if (err && errcap) snprintf(err, errcap, "%s: cannot start the encoder thread", p->mid);
            return -HC_ENOMEM;
        }
        p->th_running = true;
    }
    if (p->cap) {
        int rc = hc_capture_start(p->cap);
        if (rc < 0) {
            if (err && errcap) {
                char e[256] = "";
                hc_capture_failed(p->cap, e, sizeof e);
                snprintf(err, errcap, "%s: capture does not start: %s", p->mid, e);
            }
            return rc;
        }
    }
    return 0;
}

void media_pub_stop(media_pub_t *p)
{
    if (p->cap) hc_capture_stop(p->cap);
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->th_running) pthread_join(p->th, NULL);
    p->th_running = false;
}

void media_pub_destroy(media_pub_t **pp)
{
    if (!pp || !*pp) return;
    media_pub_t *p = *pp;
    media_pub_stop(p);
    hc_capture_destroy(&p->cap);
    hc_venc_destroy(&p->venc);
    hc_still_fini(&p->still);
    hc_vdec_destroy(&p->vdec);
    hc_aenc_destroy(&p->aenc);
    free(p->pend_buf);
    free(p->work_buf);
    free(p->pipeline);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    *pp = NULL;
}

void media_pub_set_target(media_pub_t *p, const hc_sender_target_t *t)
{
    pthread_mutex_lock(&p->mu);
    p->tgt = *t;
    pthread_mutex_unlock(&p->mu);
}
