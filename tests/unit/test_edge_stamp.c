/*
 * test_edge_stamp.c - the frame-number stamp (edge/stamp.c, declared in
 * edge/playback.h): raw round trips at every size the ladder uses, pictures
 * without a stamp read as none, a flipped block is caught by the check, and
 * the stamp survives what the real path does to it: libx264 at low bitrates
 * down to 160x90 and back through libavcodec's decoder, and libswscale
 * downscaling.
 */
#include "edge/playback.h"
#include "tests/common/testutil.h"

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A picture with detail everywhere (moving gradient plus pseudo-random
 * texture), so the encoder has to spend bits on more than the stamp. */
static void fill_picture(uint8_t *y, int stride, int w, int h, uint32_t frame, uint64_t *rng)
{
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            int v = ((c + r + 3 * (int)frame) & 0xff) / 2 + 40;
            v += (int)(hc_test_rand(rng) & 31) - 16;
            y[(size_t)r * (size_t)stride + (size_t)c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static uint8_t *exact_copy(const uint8_t *src, size_t n)
{
    uint8_t *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    memcpy(b, src, n);
    return b;
}

START_TEST(raw_round_trip_sizes)
{
    static const int sizes[][2] = {{1280, 720}, {960, 540}, {640, 360}, {320, 180},
                                   {160, 90},   {96, 8},    {200, 20},  {427, 240}};
    static const uint32_t values[] = {0, 1, 2, 0x7fffffffu, 0x80000000u, 0xffffffffu, 12345678u};
    uint64_t rng = 7;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int w = sizes[s][0], h = sizes[s][1], stride = w + 13;
        uint8_t *pic = malloc((size_t)stride * (size_t)h);
        ck_assert_ptr_nonnull(pic);
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            fill_picture(pic, stride, w, h, (uint32_t)v, &rng);
            hc_playback_stamp_write(pic, stride, w, h, values[v]);
            uint32_t n = 0;
            ck_assert_msg(hc_playback_stamp_read(pic, stride, w, h, &n), "%dx%d", w, h);
            ck_assert_uint_eq(n, values[v]);
        }
        free(pic);
    }
}
END_TEST

START_TEST(random_values)
{
    uint64_t rng = 99;
    int w = 320, h = 180;
    uint8_t *pic = calloc((size_t)w * h, 1);
    ck_assert_ptr_nonnull(pic);
    for (int i = 0; i < 2000; i++) {
        uint32_t v = (uint32_t)hc_test_rand(&rng), n = 0;
        hc_playback_stamp_write(pic, w, w, h, v);
        ck_assert(hc_playback_stamp_read(pic, w, w, h, &n));
        ck_assert_uint_eq(n, v);
    }
    free(pic);
}
END_TEST

/* The stamp stays inside its top-left corner: width/2 by width/24 (or
 * 96x8 below 192 pixels of width); nothing else of the picture changes. */
START_TEST(touches_only_its_corner)
{
    static const int sizes[][2] = {{640, 360}, {160, 90}, {1280, 720}};
    for (size_t s = 0; s < 3; s++) {
        int w = sizes[s][0], h = sizes[s][1], stride = w + 8;
        size_t n = (size_t)stride * (size_t)h;
        uint8_t *pic = malloc(n);
        ck_assert_ptr_nonnull(pic);
        memset(pic, 77, n);
        hc_playback_stamp_write(pic, stride, w, h, 0xa5a5a5a5u);
        int sw = w >= 192 ? w / 2 : 96, sh = w >= 192 ? 2 * w / 48 : 8;
        for (int r = 0; r < h; r++)
            for (int c = 0; c < stride; c++) {
                uint8_t v = pic[(size_t)r * (size_t)stride + (size_t)c];
                if (r < sh && c < sw)
                    ck_assert(v == 16 || v == 235);
                else
                    ck_assert_msg(v == 77, "%dx%d touched at %d,%d", w, h, c, r);
            }
        free(pic);
    }
}
END_TEST

START_TEST(too_small_is_left_alone)
{
    uint8_t pic[95 * 8];
    memset(pic, 50, sizeof pic);
    hc_playback_stamp_write(pic, 95, 95, 8, 1);
    for (size_t i = 0; i < sizeof pic; i++) ck_assert_uint_eq(pic[i], 50);
    uint32_t n = 0;
    ck_assert(!hc_playback_stamp_read(pic, 95, 95, 8, &n));
    uint8_t flat[96 * 7];
    memset(flat, 50, sizeof flat);
    hc_playback_stamp_write(flat, 96, 96, 7, 1);
    for (size_t i = 0; i < sizeof flat; i++) ck_assert_uint_eq(flat[i], 50);
    ck_assert(!hc_playback_stamp_read(flat, 96, 96, 7, &n));
    ck_assert(!hc_playback_stamp_read(NULL, 96, 96, 8, &n));
    ck_assert(!hc_playback_stamp_read(flat, 95, 96, 7, &n)); /* stride < width */
}
END_TEST

/* Exactly-sized heap copies of the smallest stampable picture: ASan catches
 * a read or write past the last row. */
START_TEST(smallest_picture_in_bounds)
{
    uint8_t base[96 * 8];
    memset(base, 0, sizeof base);
    uint8_t *pic = exact_copy(base, sizeof base);
    hc_playback_stamp_write(pic, 96, 96, 8, 0xdeadbeefu);
    uint32_t n = 0;
    ck_assert(hc_playback_stamp_read(pic, 96, 96, 8, &n));
    ck_assert_uint_eq(n, 0xdeadbeefu);
    free(pic);
}
END_TEST

START_TEST(unstamped_pictures_read_as_none)
{
    int w = 320, h = 180;
    uint8_t *pic = malloc((size_t)w * h);
    ck_assert_ptr_nonnull(pic);
    uint32_t n;
    static const uint8_t flats[] = {0, 16, 126, 127, 128, 200, 235, 255};
    for (size_t i = 0; i < sizeof flats; i++) {
        memset(pic, flats[i], (size_t)w * h);
        ck_assert_msg(!hc_playback_stamp_read(pic, w, w, h, &n), "flat %u", flats[i]);
    }
    /* random block patterns: the 16-bit check lets about 1 in 65536 through,
     * so 3000 tries expect none (and the seed is fixed). */
    uint64_t rng = 5;
    int hits = 0;
    for (int t = 0; t < 3000; t++) {
        for (int k = 0; k < w * h; k++) pic[k] = (uint8_t)hc_test_rand(&rng);
        hits += hc_playback_stamp_read(pic, w, w, h, &n);
    }
    ck_assert_int_eq(hits, 0);
    free(pic);
}
END_TEST

START_TEST(flipped_block_is_caught)
{
    int w = 480, h = 270;
    uint8_t *pic = malloc((size_t)w * h);
    ck_assert_ptr_nonnull(pic);
    int side = w / 48;
    for (int blk = 0; blk < 48; blk++) {
        memset(pic, 60, (size_t)w * h);
        hc_playback_stamp_write(pic, w, w, h, 0x01020304u);
        int c = blk % 24, r = blk / 24;
        uint8_t *p = pic + (size_t)(r * side + side / 2) * (size_t)w + (size_t)(c * side);
        uint8_t flip = p[side / 2] == 235 ? 16 : 235;
        for (int yy = -side / 2; yy < side / 2; yy++) memset(p + yy * w, flip, (size_t)side);
        uint32_t n;
        ck_assert_msg(!hc_playback_stamp_read(pic, w, w, h, &n), "block %d", blk);
    }
    free(pic);
}
END_TEST

/* ---- through libx264 and back ------------------------------------------------------------ */

typedef struct {
    int frames, read_ok, read_wrong;
} x264_result_t;

static void x264_pass(int w, int h, int bitrate, int crf, int nframes, x264_result_t *res)
{
    memset(res, 0, sizeof *res);
    av_log_set_level(AV_LOG_ERROR); /* libx264's statistics are not news here */
    const AVCodec *ec = avcodec_find_encoder_by_name("libx264");
    ck_assert_ptr_nonnull(ec);
    AVCodecContext *enc = avcodec_alloc_context3(ec);
    enc->width = w;
    enc->height = h;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, 30};
    enc->framerate = (AVRational){30, 1};
    enc->gop_size = 60;
    enc->max_b_frames = 0;
    enc->thread_count = 1;
    if (bitrate) {
        enc->bit_rate = bitrate;
        enc->rc_max_rate = bitrate;
        enc->rc_buffer_size = bitrate / 2;
    }
    av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    av_opt_set(enc->priv_data, "tune", "zerolatency", 0);
    if (crf) av_opt_set_int(enc->priv_data, "crf", crf, 0);
    ck_assert_int_eq(avcodec_open2(enc, ec, NULL), 0);

    const AVCodec *dc = avcodec_find_decoder(AV_CODEC_ID_H264);
    AVCodecContext *dec = avcodec_alloc_context3(dc);
    dec->thread_count = 1;
    ck_assert_int_eq(avcodec_open2(dec, dc, NULL), 0);

    AVFrame *in = av_frame_alloc(), *out = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    in->format = AV_PIX_FMT_YUV420P;
    in->width = w;
    in->height = h;
    ck_assert_int_eq(av_frame_get_buffer(in, 0), 0);
    uint64_t rng = 1234;
    uint32_t base = 0x00fedc00u; /* numbers with many ones and zeros */
    for (int i = 0; i <= nframes; i++) {
        if (i < nframes) {
            ck_assert_int_ge(av_frame_make_writable(in), 0);
            fill_picture(in->data[0], in->linesize[0], w, h, (uint32_t)i, &rng);
            for (int p = 1; p < 3; p++)
                for (int r = 0; r < (h + 1) / 2; r++)
                    memset(in->data[p] + (size_t)r * (size_t)in->linesize[p],
                           (uint8_t)(100 + 20 * p + (i & 15)), (size_t)(w + 1) / 2);
            hc_playback_stamp_write(in->data[0], in->linesize[0], w, h, base + (uint32_t)i);
            in->pts = i;
            ck_assert_int_eq(avcodec_send_frame(enc, in), 0);
        } else {
            ck_assert_int_eq(avcodec_send_frame(enc, NULL), 0);
        }
        while (avcodec_receive_packet(enc, pkt) == 0) {
            ck_assert_int_eq(avcodec_send_packet(dec, pkt), 0);
            av_packet_unref(pkt);
            while (avcodec_receive_frame(dec, out) == 0) {
                uint32_t n;
                int idx = res->frames++;
                if (hc_playback_stamp_read(out->data[0], out->linesize[0], out->width, out->height,
                                           &n)) {
                    if (n == base + (uint32_t)idx)
                        res->read_ok++;
                    else
                        res->read_wrong++;
                }
                av_frame_unref(out);
            }
        }
    }
    av_frame_free(&in);
    av_frame_free(&out);
    av_packet_free(&pkt);
    avcodec_free_context(&enc);
    avcodec_free_context(&dec);
}

START_TEST(survives_x264_low_bitrate)
{
    /* roughly the ladder's floors at 30 fps (and below them for 160x90) */
    static const struct {
        int w, h, bitrate, crf;
    } runs[] = {
        {1280, 720, 1000000, 0}, {640, 360, 250000, 0}, {320, 180, 80000, 0},
        {160, 90, 30000, 0},     {320, 180, 0, 40},     {160, 90, 0, 42},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        x264_result_t r;
        int nframes = runs[i].w >= 1280 ? 20 : 60;
        x264_pass(runs[i].w, runs[i].h, runs[i].bitrate, runs[i].crf, nframes, &r);
        fprintf(stderr, "stamp through x264 %dx%d %s%d: %d frames, %d read, %d wrong\n", runs[i].w,
                runs[i].h, runs[i].crf ? "crf " : "bps ",
                runs[i].crf ? runs[i].crf : runs[i].bitrate, r.frames, r.read_ok, r.read_wrong);
        ck_assert_int_eq(r.frames, nframes);
        ck_assert_int_eq(r.read_wrong, 0);
        ck_assert_int_eq(r.read_ok, r.frames);
    }
}
END_TEST

/* ---- through libswscale ------------------------------------------------------------------ */

static void scale_pass(int sw, int sh, int dw, int dh, int flags)
{
    uint64_t rng = 77;
    uint8_t *src = malloc((size_t)sw * sh), *dst = malloc((size_t)dw * dh);
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(dst);
    struct SwsContext *sws =
        sws_getContext(sw, sh, AV_PIX_FMT_GRAY8, dw, dh, AV_PIX_FMT_GRAY8, flags, NULL, NULL, NULL);
    ck_assert_ptr_nonnull(sws);
    for (uint32_t v = 0; v < 40; v++) {
        uint32_t want = v * 0x01010101u + 0x00f00f00u;
        fill_picture(src, sw, sw, sh, v, &rng);
        hc_playback_stamp_write(src, sw, sw, sh, want);
        const uint8_t *sp[4] = {src, NULL, NULL, NULL};
        int ss[4] = {sw, 0, 0, 0};
        uint8_t *dp[4] = {dst, NULL, NULL, NULL};
        int ds[4] = {dw, 0, 0, 0};
        ck_assert_int_eq(sws_scale(sws, sp, ss, 0, sh, dp, ds), dh);
        uint32_t n = 0;
        ck_assert_msg(hc_playback_stamp_read(dst, dw, dw, dh, &n), "%dx%d -> %dx%d flags %d", sw,
                      sh, dw, dh, flags);
        ck_assert_uint_eq(n, want);
    }
    sws_freeContext(sws);
    free(src);
    free(dst);
}

START_TEST(survives_swscale_downscale)
{
    static const int flags[] = {SWS_BILINEAR, SWS_BICUBIC, SWS_AREA, SWS_FAST_BILINEAR};
    for (size_t f = 0; f < 4; f++) {
        scale_pass(1280, 720, 640, 360, flags[f]);
        scale_pass(1280, 720, 960, 540, flags[f]);
        scale_pass(1280, 720, 320, 180, flags[f]);
        scale_pass(640, 360, 426, 240, flags[f]);
        scale_pass(1920, 1080, 384, 216, flags[f]);
    }
}
END_TEST

static Suite *stamp_suite(void)
{
    Suite *s = suite_create("edge_stamp");
    TCase *tc = tcase_create("stamp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, raw_round_trip_sizes);
    tcase_add_test(tc, random_values);
    tcase_add_test(tc, touches_only_its_corner);
    tcase_add_test(tc, too_small_is_left_alone);
    tcase_add_test(tc, smallest_picture_in_bounds);
    tcase_add_test(tc, unstamped_pictures_read_as_none);
    tcase_add_test(tc, flipped_block_is_caught);
    tcase_add_test(tc, survives_x264_low_bitrate);
    tcase_add_test(tc, survives_swscale_downscale);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(stamp_suite)
