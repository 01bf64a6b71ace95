/* aenc.c - Opus through libopus, RED assembly; see aenc.h. */
#include "edge/aenc.h"

#include "proto/err.h"
#include "proto/red.h"

#include <math.h>
#include <opus.h>
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
    OpusEncoder *enc;
    bool dirty; /* cfg not yet applied */
    int16_t acc[HC_AENC_FRAME];
    int nacc;
    uint64_t acc_pts, acc_wall; /* times of acc[0] */
    uint32_t ts;                /* RTP timestamp of the frame being filled */
    prev_frame_t prev[2];       /* [0] the older */
    uint8_t out[HC_AENC_MAX_PACKET];
    uint8_t red[HC_AENC_MAX_RED];
    hc_aenc_stats_t st;
};

void hc_aenc_cfg_default(hc_aenc_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bitrate_bps = 32000;
    cfg->dtx = true;
    cfg->opus_pt = 111;
}

static bool cfg_ok(const hc_aenc_cfg_t *c)
{
    return c->bitrate_bps >= 6000 && c->bitrate_bps <= 510000 && c->loss_pct <= 100 &&
           c->red_level <= 2 && c->opus_pt <= 127;
}

/* Settings into the running encoder: each is a plain ctl that takes effect
 * at the next frame. */
static int apply(hc_aenc_t *a)
{
    const hc_aenc_cfg_t *c = &a->cfg;
    /* RFC 6716 2.1.7: LBRR is only coded when the encoder expects loss. */
    int fec = c->fec && c->loss_pct ? 1 : 0;
    if (opus_encoder_ctl(a->enc, OPUS_SET_BITRATE((opus_int32)c->bitrate_bps)) != OPUS_OK ||
        opus_encoder_ctl(a->enc, OPUS_SET_INBAND_FEC(fec)) != OPUS_OK ||
        opus_encoder_ctl(a->enc, OPUS_SET_PACKET_LOSS_PERC((int)c->loss_pct)) != OPUS_OK ||
        opus_encoder_ctl(a->enc, OPUS_SET_DTX(c->dtx ? 1 : 0)) != OPUS_OK)
        return -HC_ECODEC;
    a->dirty = false;
    return 0;
}

int hc_aenc_new(hc_aenc_t **out, const hc_aenc_cfg_t *cfg, char *err, size_t errcap)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (!cfg_ok(cfg)) return -HC_EINVAL;
    hc_aenc_t *a = calloc(1, sizeof *a);
    if (!a) return -HC_ENOMEM;
    a->cfg = *cfg;
    int oe = 0;
    /* VOIP: speech in classrooms and clinics; libopus favours
     * intelligibility and enables its speech tools (RFC 6716 2.1.1). */
    a->enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &oe);
    if (!a->enc || oe != OPUS_OK || apply(a) < 0) {
        if (err && errcap) snprintf(err, errcap, "libopus encoder: %s", opus_strerror(oe));
        if (a->enc) opus_encoder_destroy(a->enc);
        free(a);
        return -HC_ECODEC;
    }
    *out = a;
    return 0;
}

void hc_aenc_destroy(hc_aenc_t **pa)
{
    if (!pa || !*pa) return;
    hc_aenc_t *a = *pa;
    opus_encoder_destroy(a->enc);
    free(a);
    *pa = NULL;
}

int hc_aenc_set(hc_aenc_t *a, const hc_aenc_cfg_t *cfg)
{
    if (!a || !cfg || !cfg_ok(cfg)) return -HC_EINVAL;
    if (cfg->bitrate_bps != a->cfg.bitrate_bps || cfg->fec != a->cfg.fec ||
        cfg->loss_pct != a->cfg.loss_pct || cfg->dtx != a->cfg.dtx)
        a->dirty = true;
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
    if (a->dirty) {
        if (apply(a) < 0) return -HC_ECODEC;
        a->st.changes++;
    }
    uint64_t pts = a->acc_pts, wall = a->acc_wall;
    uint8_t level = hc_aenc_level(a->acc, HC_AENC_FRAME);
    uint32_t ts = a->ts;
    a->ts += HC_AENC_FRAME;
    a->nacc = 0;
    opus_int32 n = opus_encode(a->enc, a->acc, HC_AENC_FRAME, a->out, sizeof a->out);
    if (n < 0) return -HC_ECODEC;
    if (n <= 2) {
        /* DTX: a TOC-only frame in silence (RFC 7587 3.1.3: need not be
         * sent); the receiver conceals nothing, the timestamp jumps. */
        a->st.dtx_skipped++;
        return 0;
    }
    size_t len = (size_t)n;
    hc_aenc_pkt_t p = {.opus = a->out,
                       .opus_len = len,
                       .ts = ts,
                       .pts_us = pts,
                       .wall_us = wall,
                       .level = level,
                       .voice = level < 50};
    if (a->cfg.red_level) {
        p.red_len = build_red(a, a->out, len, ts);
        if (p.red_len) {
            p.red = a->red;
            a->st.red_packets++;
        }
    }
    a->prev[0] = a->prev[1];
    memcpy(a->prev[1].data, a->out, len);
    a->prev[1].len = len;
    a->prev[1].ts = ts;
    a->prev[1].valid = true;
    a->st.frames++;
    a->st.bytes += len;
    if (fn) fn(ud, &p);
    return 1;
}

int hc_aenc_push(hc_aenc_t *a, const int16_t *pcm, int samples, int channels, uint64_t pts_us,
                 uint64_t wall_us, hc_aenc_fn fn, void *ud)
{
    if (!a || (!pcm && samples) || samples < 0 || channels < 1) return -HC_EINVAL;
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
}

void hc_aenc_stats(const hc_aenc_t *a, hc_aenc_stats_t *out)
{
    *out = a->st;
}
