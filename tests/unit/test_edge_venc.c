/* test_edge_venc.c - the edge's video encoder and decoder (edge/venc.h,
 * edge/vdec.h): bitrate changes in place without keyframes, a keyframe at
 * every rung change, keyframes on request, intra refresh, and the decoder
 * proving what came out. */
#include "edge/still.h"
#include "edge/vdec.h"
#include "edge/venc.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "tests/common/testutil.h"

#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A source picture: a moving gradient with a noisy band, so the encoder
 * needs every bit it is given and its output follows the rate. */
typedef struct src {
    int w, h;
    uint8_t *p[3];
    int stride[3];
    uint64_t rng;
} src_t;

static void src_init(src_t *s, int w, int h)
{
    s->w = w;
    s->h = h;
    s->stride[0] = w;
    s->stride[1] = s->stride[2] = w / 2;
    s->p[0] = malloc((size_t)w * h);
    s->p[1] = malloc((size_t)w * h / 4);
    s->p[2] = malloc((size_t)w * h / 4);
    s->rng = 42;
}

static void src_fini(src_t *s)
{
    for (int i = 0; i < 3; i++) free(s->p[i]);
}

static void src_draw(src_t *s, uint32_t n)
{
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            uint8_t v = (uint8_t)((x + y + 3 * (int)n) & 0xff);
            if (y > s->h / 3) v = (uint8_t)(v / 2 + (hc_test_rand(&s->rng) & 0x7f));
            s->p[0][y * s->w + x] = v;
        }
    memset(s->p[1], (int)(128 + (n & 15)), (size_t)s->w * s->h / 4);
    memset(s->p[2], 128, (size_t)s->w * s->h / 4);
}

static hc_venc_pic_t src_pic(const src_t *s)
{
    hc_venc_pic_t p;
    for (int i = 0; i < 3; i++) {
        p.plane[i] = s->p[i];
        p.stride[i] = s->stride[i];
    }
    p.width = s->w;
    p.height = s->h;
    return p;
}

/* A frame number in 16 blocks of 8x8 on the first rows (the test's own
 * mark; the edge uses playback.h's stamp). */
static void mark(void *ud, uint8_t *const plane[3], const int stride[3], int w, int h)
{
    uint32_t n = *(uint32_t *)ud;
    (void)h;
    for (int b = 0; b < 16 && (b + 1) * 8 <= w; b++)
        for (int y = 0; y < 8; y++)
            memset(plane[0] + (size_t)y * stride[0] + b * 8, (n >> (15 - b)) & 1 ? 235 : 16, 8);
    (void)stride;
}

static int read_mark(const hc_vdec_pic_t *p)
{
    int n = 0;
    for (int b = 0; b < 16; b++)
        n = (n << 1) | (p->plane[0][4 * p->stride[0] + b * 8 + 4] > 128 ? 1 : 0);
    return n;
}

static void quiet(void)
{
    av_log_set_level(AV_LOG_ERROR);
}

START_TEST(bitrate_steps_in_place)
{
    quiet();
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, 320, 180, 30, 600000);
    c.keyint_ms = 20000; /* no periodic keyframe inside the test */
    hc_venc_t *v;
    char err[128];
    ck_assert_int_eq(hc_venc_new(&v, &c, err, sizeof err), 0);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    src_t s;
    src_init(&s, 320, 180);
    const uint32_t steps[] = {600000, 200000, 900000, 300000};
    uint64_t seg_bytes[4] = {0};
    uint32_t n = 0, keys = 0, decoded = 0, marks_ok = 0;
    for (int seg = 0; seg < 4; seg++) {
        hc_venc_set_bitrate(v, steps[seg]);
        ck_assert_uint_eq(hc_venc_bitrate(v), steps[seg]);
        for (int i = 0; i < 60; i++, n++) {
            src_draw(&s, n);
            hc_venc_pic_t p = src_pic(&s);
            hc_venc_out_t o;
            int rc = hc_venc_encode(v, &p, mark, &n, &o);
            ck_assert_int_ge(rc, 0);
            if (rc == 0) continue;
            ck_assert_int_eq(o.keyframe, hc_h264_au_is_keyframe(o.au, o.len));
            if (o.keyframe) keys++;
            /* The first 15 frames of a segment let rate control settle. */
            if (i >= 15) seg_bytes[seg] += o.len;
            hc_vdec_pic_t pic;
            rc = hc_vdec_decode(d, o.au, o.len, &pic);
            ck_assert_int_ge(rc, 0);
            if (rc == 1) {
                decoded++;
                ck_assert_int_eq(pic.width, 320);
                ck_assert_int_eq(pic.height, 180);
                if (read_mark(&pic) == (int)n) marks_ok++;
            }
        }
    }
    /* One keyframe: the first picture. Bitrate changes made none. */
    ck_assert_uint_eq(keys, 1);
    hc_venc_stats_t st;
    hc_venc_stats(v, &st);
    ck_assert_uint_eq(st.keyframes, 1);
    ck_assert_uint_ge(st.reconfigs, 3);
    ck_assert_uint_eq(st.reopens, 0);
    ck_assert_uint_eq(decoded, n);
    ck_assert_uint_eq(marks_ok, n);
    /* The output follows the rate: each segment's bitrate within 50 % of
     * its target, and the order of the steps kept. */
    for (int seg = 0; seg < 4; seg++) {
        double bps = (double)seg_bytes[seg] * 8.0 * 30.0 / 45.0;
        ck_assert_msg(bps > steps[seg] * 0.5 && bps < steps[seg] * 1.5,
                      "segment %d: %.0f bit/s for a target of %u", seg, bps, steps[seg]);
    }
    ck_assert_uint_lt(seg_bytes[1], seg_bytes[0]);
    ck_assert_uint_gt(seg_bytes[2], seg_bytes[1]);
    ck_assert_uint_lt(seg_bytes[3], seg_bytes[2]);
    src_fini(&s);
    hc_vdec_destroy(&d);
    hc_venc_destroy(&v);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(rung_change_makes_keyframe)
{
    quiet();
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, 320, 180, 30, 400000);
    c.keyint_ms = 20000;
    hc_venc_t *v;
    ck_assert_int_eq(hc_venc_new(&v, &c, NULL, 0), 0);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    src_t s;
    src_init(&s, 640, 360); /* the camera is bigger: the encoder scales */
    const struct {
        int w, h, fps;
    } rungs[] = {{320, 180, 30}, {160, 90, 15}, {160, 90, 15}, {320, 180, 30}, {320, 180, 10}};
    uint32_t n = 0;
    for (size_t r = 0; r < sizeof rungs / sizeof rungs[0]; r++) {
        int rc = hc_venc_reconfigure(v, rungs[r].w, rungs[r].h, rungs[r].fps, false);
        bool changed = r > 0 && (rungs[r].w != rungs[r - 1].w || rungs[r].fps != rungs[r - 1].fps);
        ck_assert_int_eq(rc, r == 0 ? 0 : changed ? 1 : 0);
        for (int i = 0; i < 10; i++, n++) {
            src_draw(&s, n);
            hc_venc_pic_t p = src_pic(&s);
            hc_venc_out_t o;
            ck_assert_int_eq(hc_venc_encode(v, &p, mark, &n, &o), 1);
            ck_assert_int_eq(o.width, rungs[r].w);
            /* The first picture of a new rung is a keyframe, the rest not. */
            bool want_key = i == 0 && (r == 0 || changed);
            ck_assert_int_eq(o.keyframe, want_key);
            hc_vdec_pic_t pic;
            ck_assert_int_eq(hc_vdec_decode(d, o.au, o.len, &pic), 1);
            ck_assert_int_eq(pic.width, rungs[r].w);
            ck_assert_int_eq(pic.height, rungs[r].h);
            ck_assert_int_eq(read_mark(&pic), (int)n);
        }
    }
    hc_venc_stats_t st;
    hc_venc_stats(v, &st);
    ck_assert_uint_eq(st.reopens, 3);
    ck_assert_uint_eq(st.keyframes, 4);
    ck_assert_int_eq(hc_venc_reconfigure(v, 7, 90, 15, false), -HC_EINVAL);
    src_fini(&s);
    hc_vdec_destroy(&d);
    hc_venc_destroy(&v);
}
END_TEST

/* Simulcast as a receiver sees it: two encoders (two layers) of the same
 * pictures, and the relay switching its one forwarded stream from one to
 * the other at a keyframe; one decoder follows each size change. */
START_TEST(layer_switch_one_decoder)
{
    quiet();
    hc_venc_cfg_t c0, c1;
    hc_venc_cfg_default(&c0, 320, 180, 30, 300000);
    hc_venc_cfg_default(&c1, 160, 90, 30, 80000);
    hc_venc_t *v[2];
    ck_assert_int_eq(hc_venc_new(&v[0], &c0, NULL, 0), 0);
    ck_assert_int_eq(hc_venc_new(&v[1], &c1, NULL, 0), 0);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    src_t s;
    src_init(&s, 320, 180);
    int fwd = 0, want = 0;
    for (uint32_t n = 0; n < 60; n++) {
        if (n == 20) want = 1; /* the downlink narrows: the lower layer */
        if (n == 40) want = 0; /* and widens again */
        /* the relay asks the wanted layer's encoder for a keyframe */
        if (want != fwd) hc_venc_request_keyframe(v[want]);
        src_draw(&s, n);
        hc_venc_pic_t p = src_pic(&s);
        hc_venc_out_t o[2];
        for (int l = 0; l < 2; l++) ck_assert_int_eq(hc_venc_encode(v[l], &p, mark, &n, &o[l]), 1);
        if (want != fwd && o[want].keyframe) fwd = want;
        hc_vdec_pic_t pic;
        ck_assert_int_eq(hc_vdec_decode(d, o[fwd].au, o[fwd].len, &pic), 1);
        ck_assert_int_eq(pic.width, fwd ? 160 : 320);
        ck_assert_int_eq(pic.height, fwd ? 90 : 180);
        ck_assert_int_eq(read_mark(&pic), (int)n);
    }
    ck_assert_int_eq(fwd, 0);
    hc_vdec_stats_t st;
    hc_vdec_stats(d, &st);
    ck_assert_uint_eq(st.errors, 0);
    ck_assert_uint_eq(st.pictures, 60);
    src_fini(&s);
    hc_vdec_destroy(&d);
    hc_venc_destroy(&v[0]);
    hc_venc_destroy(&v[1]);
}
END_TEST

START_TEST(keyframe_on_request)
{
    quiet();
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, 160, 90, 30, 150000);
    c.keyint_ms = 20000;
    hc_venc_t *v;
    ck_assert_int_eq(hc_venc_new(&v, &c, NULL, 0), 0);
    src_t s;
    src_init(&s, 160, 90);
    for (uint32_t n = 0; n < 30; n++) {
        if (n == 12 || n == 20) hc_venc_request_keyframe(v);
        src_draw(&s, n);
        hc_venc_pic_t p = src_pic(&s);
        hc_venc_out_t o;
        ck_assert_int_eq(hc_venc_encode(v, &p, NULL, NULL, &o), 1);
        ck_assert_int_eq(o.keyframe, n == 0 || n == 12 || n == 20);
        if (o.keyframe) {
            int f = hc_h264_au_flags(o.au, o.len);
            ck_assert_int_ge(f, 0);
            /* SPS and PPS repeated with every keyframe */
            ck_assert(f & HC_H264_AU_SPS);
            ck_assert(f & HC_H264_AU_PPS);
            ck_assert(f & HC_H264_AU_IDR);
        }
    }
    hc_venc_stats_t st;
    hc_venc_stats(v, &st);
    ck_assert_uint_eq(st.keyframes_asked, 2);
    src_fini(&s);
    hc_venc_destroy(&v);
}
END_TEST

/* Stills (edge/still.h): each an IDR that decodes on its own, within 15 %
 * of its budget, the quantizer following budgets up and down. */
START_TEST(stills_fit_budget)
{
    quiet();
    ck_assert_int_eq(hc_still_next_qp(30, 10000, 10000), 30);
    ck_assert_int_eq(hc_still_next_qp(30, 20000, 10000), 36); /* twice: +6 */
    ck_assert_int_eq(hc_still_next_qp(30, 11000, 10000), 30); /* within 15 % */
    ck_assert_int_eq(hc_still_next_qp(30, 2500, 10000), 24);  /* a quarter: -12 / 2 */
    ck_assert_int_eq(hc_still_next_qp(50, 1000000, 1000), HC_STILL_QP_MAX);
    ck_assert_int_eq(hc_still_next_qp(14, 1, 1000000), HC_STILL_QP_MIN);
    ck_assert_int_eq(hc_still_next_qp(30, 0, 1000), 30);

    hc_still_t st;
    hc_still_init(&st);
    src_t s;
    src_init(&s, 640, 360);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    const size_t budgets[] = {12000, 12000, 12000, 4000, 4000, 30000, 30000, 30000};
    for (uint32_t n = 0; n < 8; n++) {
        src_draw(&s, n);
        hc_venc_pic_t p = src_pic(&s);
        hc_venc_out_t o;
        ck_assert_int_eq(hc_still_encode(&st, &p, 640, 360, budgets[n], mark, &n, &o), 1);
        fprintf(stderr, "still %u: budget %zu bytes, got %zu (qp now %d)\n", n, budgets[n], o.len,
                st.qp);
        ck_assert(o.keyframe);
        ck_assert_uint_le(o.len, budgets[n] + budgets[n] * 15 / 100);
        /* the receiver knows a keyframe by its first RTP packet's SPS */
        hc_h264_pack_t pk;
        ck_assert_int_eq(hc_h264_pack_init(&pk, o.au, o.len, 1200), 0);
        uint8_t rtp[1300];
        bool mk = false;
        int pl = hc_h264_pack_next(&pk, rtp, sizeof rtp, &mk);
        ck_assert_int_gt(pl, 0);
        fprintf(stderr, "still %u first packet flags %x\n", n, hc_h264_rtp_flags(rtp, (size_t)pl));
        ck_assert(hc_h264_rtp_flags(rtp, (size_t)pl) & HC_H264_AU_SPS);
        /* a budget three times the first lets the quality rise again */
        if (n == 7) ck_assert_uint_gt(o.len, budgets[n] / 4);
        hc_vdec_pic_t dp;
        ck_assert_int_eq(hc_vdec_decode(d, o.au, o.len, &dp), 1);
        ck_assert_int_eq(dp.width, 640);
        ck_assert_int_eq(read_mark(&dp), (int)n);
    }
    ck_assert_uint_eq(st.stills, 8);
    ck_assert_uint_ge(st.encodes, 8);
    ck_assert_uint_eq(st.over_budget, 0);
    hc_vdec_destroy(&d);
    src_fini(&s);
    hc_still_fini(&st);
}
END_TEST

START_TEST(intra_refresh_no_periodic_keyframes)
{
    quiet();
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, 320, 180, 30, 300000);
    c.keyint_ms = 500; /* a refresh wave every 15 frames */
    hc_venc_t *v;
    ck_assert_int_eq(hc_venc_new(&v, &c, NULL, 0), 0);
    ck_assert_int_eq(hc_venc_reconfigure(v, 320, 180, 30, true), 1);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    src_t s;
    src_init(&s, 320, 180);
    uint32_t keys = 0, decoded = 0;
    size_t max_p = 0, key_len = 0;
    for (uint32_t n = 0; n < 90; n++) {
        src_draw(&s, n);
        hc_venc_pic_t p = src_pic(&s);
        hc_venc_out_t o;
        ck_assert_int_eq(hc_venc_encode(v, &p, mark, &n, &o), 1);
        if (o.keyframe) {
            keys++;
            key_len = o.len;
        } else if (o.len > max_p) {
            max_p = o.len;
        }
        hc_vdec_pic_t pic;
        if (hc_vdec_decode(d, o.au, o.len, &pic) == 1) {
            decoded++;
            ck_assert_int_eq(read_mark(&pic), (int)n);
        }
    }
    /* Only the first picture is an IDR; with keyint 15 and no refresh
     * there would be six. No P picture approaches the keyframe's size. */
    ck_assert_uint_eq(keys, 1);
    ck_assert_uint_eq(decoded, 90);
    ck_assert_uint_lt(max_p, key_len);
    src_fini(&s);
    hc_vdec_destroy(&d);
    hc_venc_destroy(&v);
}
END_TEST

START_TEST(bad_arguments)
{
    quiet();
    hc_venc_cfg_t c;
    hc_venc_t *v = (hc_venc_t *)1;
    char err[128] = "";
    hc_venc_cfg_default(&c, 321, 180, 30, 100000);
    ck_assert_int_eq(hc_venc_new(&v, &c, err, sizeof err), -HC_EINVAL);
    ck_assert_ptr_null(v);
    ck_assert(strstr(err, "321x180") != NULL);
    hc_venc_cfg_default(&c, 320, 180, 0, 100000);
    ck_assert_int_eq(hc_venc_new(&v, &c, err, sizeof err), -HC_EINVAL);
    hc_vdec_t *d;
    ck_assert_int_eq(hc_vdec_new(&d), 0);
    hc_vdec_pic_t pic;
    ck_assert_int_eq(hc_vdec_decode(d, (const uint8_t *)"", 0, &pic), -HC_EINVAL);
    /* garbage is refused or yields nothing, never a crash */
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(i * 37);
    ck_assert_int_le(hc_vdec_decode(d, junk, sizeof junk, &pic), 0);
    hc_vdec_destroy(&d);
    hc_vdec_destroy(&d);
    hc_venc_destroy(NULL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("edge_venc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bitrate_steps_in_place);
    tcase_add_test(tc, rung_change_makes_keyframe);
    tcase_add_test(tc, layer_switch_one_decoder);
    tcase_add_test(tc, keyframe_on_request);
    tcase_add_test(tc, intra_refresh_no_periodic_keyframes);
    tcase_add_test(tc, stills_fit_budget);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
