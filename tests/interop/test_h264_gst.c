/*
 * test_h264_gst.c - our RFC 6184 packetizer and depacketizer against GStreamer's
 * rtph264pay/rtph264depay, with libavcodec and avdec_h264 as the judges.
 *
 *  - GStreamer (x264enc ! rtph264pay) -> proto depacketizer -> libavcodec decode: 90 frames.
 *  - libavcodec libx264 -> proto packetizer -> GStreamer (rtph264depay ! avdec_h264): 60 frames.
 * Each direction also runs with a small MTU so FU-A is used heavily, and GStreamer's STAP-A
 * aggregation is switched on in one run.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "tests/common/testutil.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- RTP header by hand (RFC 3550 5.1); proto/rtp.h is another module's ------------------- */

typedef struct {
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts, ssrc;
    const uint8_t *payload;
    size_t len;
} rtp_t;

static int rtp_parse(const uint8_t *b, size_t len, rtp_t *r)
{
    if (len < 12 || (b[0] >> 6) != 2) return -1;
    size_t off = 12 + 4u * (b[0] & 0x0f);
    if (len < off) return -1;
    if (b[0] & 0x10) { /* header extension: 16-bit profile, 16-bit length in words */
        if (len < off + 4) return -1;
        off += 4 + 4u * hc_rd16(b + off + 2);
        if (len < off) return -1;
    }
    size_t end = len;
    if (b[0] & 0x20) { /* padding: the last byte counts it */
        if (b[len - 1] == 0 || b[len - 1] > len - off) return -1;
        end -= b[len - 1];
    }
    r->marker = (b[1] & 0x80) != 0;
    r->pt = b[1] & 0x7f;
    r->seq = hc_rd16(b + 2);
    r->ts = hc_rd32(b + 4);
    r->ssrc = hc_rd32(b + 8);
    r->payload = b + off;
    r->len = end - off;
    return 0;
}

static void rtp_write_header(uint8_t *b, bool marker, uint8_t pt, uint16_t seq, uint32_t ts,
                             uint32_t ssrc)
{
    b[0] = 0x80;
    b[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
    hc_wr16(b + 2, seq);
    hc_wr32(b + 4, ts);
    hc_wr32(b + 8, ssrc);
}

/* ---- libavcodec H.264 decoder --------------------------------------------------------------- */

typedef struct {
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *frm;
    int frames, errors, width, height;
} dec_t;

static void dec_init(dec_t *d)
{
    memset(d, 0, sizeof *d);
    const AVCodec *c = avcodec_find_decoder(AV_CODEC_ID_H264);
    ck_assert_ptr_nonnull(c);
    d->ctx = avcodec_alloc_context3(c);
    d->ctx->thread_count = 1;
    d->ctx->err_recognition = AV_EF_EXPLODE; /* any bitstream error fails the decode */
    ck_assert_int_eq(avcodec_open2(d->ctx, c, NULL), 0);
    d->pkt = av_packet_alloc();
    d->frm = av_frame_alloc();
}

static void dec_receive(dec_t *d)
{
    int r;
    while ((r = avcodec_receive_frame(d->ctx, d->frm)) == 0) {
        d->frames++;
        d->width = d->frm->width;
        d->height = d->frm->height;
        if (d->frm->decode_error_flags || (d->frm->flags & AV_FRAME_FLAG_CORRUPT)) d->errors++;
        av_frame_unref(d->frm);
    }
    if (r != AVERROR(EAGAIN) && r != AVERROR_EOF) d->errors++;
}

static void dec_push(dec_t *d, const uint8_t *data, size_t len)
{
    ck_assert_int_eq(av_new_packet(d->pkt, (int)len), 0);
    memcpy(d->pkt->data, data, len);
    if (avcodec_send_packet(d->ctx, d->pkt) < 0) d->errors++;
    av_packet_unref(d->pkt);
    dec_receive(d);
}

static void dec_finish(dec_t *d)
{
    avcodec_send_packet(d->ctx, NULL);
    dec_receive(d);
    av_frame_free(&d->frm);
    av_packet_free(&d->pkt);
    avcodec_free_context(&d->ctx);
}

/* ---- GStreamer helpers ---------------------------------------------------------------------- */

/* Fail on any error or warning GStreamer posted. */
static void assert_bus_clean(GstElement *pipeline)
{
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *m;
    int bad = 0;
    while ((m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR | GST_MESSAGE_WARNING))) {
        GError *err = NULL;
        gchar *dbg = NULL;
        if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR)
            gst_message_parse_error(m, &err, &dbg);
        else
            gst_message_parse_warning(m, &err, &dbg);
        fprintf(stderr, "gstreamer %s: %s (%s)\n", GST_MESSAGE_SRC_NAME(m),
                err ? err->message : "?", dbg ? dbg : "");
        g_clear_error(&err);
        g_free(dbg);
        gst_message_unref(m);
        bad++;
    }
    gst_object_unref(bus);
    ck_assert_int_eq(bad, 0);
}

static GstElement *launch(const char *desc)
{
    GError *err = NULL;
    GstElement *p = gst_parse_launch(desc, &err);
    if (!p || err) ck_abort_msg("gst_parse_launch: %s", err ? err->message : "?");
    return p;
}

/* ---- GStreamer -> proto -> libavcodec ------------------------------------------------------- */

static void gst_to_proto(int mtu, const char *aggregate)
{
    gst_init(NULL, NULL);
    char desc[512];
    snprintf(desc, sizeof desc,
             "videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
             "x264enc tune=zerolatency key-int-max=30 ! "
             "rtph264pay mtu=%d config-interval=-1 aggregate-mode=%s ! "
             "appsink name=sink sync=false",
             mtu, aggregate);
    GstElement *pipeline = launch(desc);
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

    static uint8_t frame_buf[1 << 21];
    hc_h264_depack_t dp;
    hc_h264_frame_t f;
    dec_t dec;
    hc_h264_depack_init(&dp, frame_buf, sizeof frame_buf);
    dec_init(&dec);
    int packets = 0, aus = 0, incomplete = 0, keyframes = 0, stap = 0, fu = 0;
    for (;;) {
        GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
        if (!s) {
            ck_assert_msg(gst_app_sink_is_eos(GST_APP_SINK(sink)), "no RTP from GStreamer");
            break;
        }
        GstBuffer *buf = gst_sample_get_buffer(s);
        GstMapInfo map;
        ck_assert(gst_buffer_map(buf, &map, GST_MAP_READ));
        rtp_t r;
        ck_assert_int_eq(rtp_parse(map.data, map.size, &r), 0);
        ck_assert_uint_le(map.size, (size_t)mtu);
        int t = r.len ? r.payload[0] & 0x1f : -1;
        stap += t == HC_H264_NAL_STAP_A;
        fu += t == HC_H264_NAL_FU_A;
        int rc = hc_h264_depack_push(&dp, r.seq, r.ts, r.marker, r.payload, r.len, &f);
        ck_assert_int_ge(rc, 0);
        for (; rc == 1; rc = hc_h264_depack_pop(&dp, &f)) {
            aus++;
            incomplete += !f.complete;
            keyframes += f.keyframe;
            dec_push(&dec, f.data, f.len);
        }
        packets++;
        gst_buffer_unmap(buf, &map);
        gst_sample_unref(s);
    }
    while (hc_h264_depack_flush(&dp, &f) == 1) {
        aus++;
        dec_push(&dec, f.data, f.len);
    }
    dec_finish(&dec);
    assert_bus_clean(pipeline);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(sink);
    gst_object_unref(pipeline);

    fprintf(stderr, "gst->proto mtu %d %s: %d packets (%d STAP-A, %d FU-A), %d AUs, %d key\n", mtu,
            aggregate, packets, stap, fu, aus, keyframes);
    ck_assert_int_eq(aus, 90);
    ck_assert_int_eq(incomplete, 0);
    ck_assert_int_eq(keyframes, 3); /* key-int-max=30 over 90 frames */
    ck_assert_uint_eq(dp.stats.gaps + dp.stats.malformed + dp.stats.dropped, 0);
    ck_assert_int_eq(dec.errors, 0);
    ck_assert_int_eq(dec.frames, 90);
    ck_assert_int_eq(dec.width, 320);
    ck_assert_int_eq(dec.height, 240);
    ck_assert_int_gt(fu, 0);
    if (strcmp(aggregate, "none") != 0) ck_assert_int_gt(stap, 0);
}

START_TEST(gst_pay_to_proto_mtu1200)
{
    gst_to_proto(1200, "none");
}
END_TEST

START_TEST(gst_pay_to_proto_mtu300_stap)
{
    gst_to_proto(300, "zero-latency");
}
END_TEST

/* ---- libavcodec -> proto -> GStreamer ------------------------------------------------------- */

static void fill_frame(AVFrame *fr, int i)
{
    for (int y = 0; y < fr->height; y++)
        for (int x = 0; x < fr->width; x++)
            fr->data[0][y * fr->linesize[0] + x] =
                (uint8_t)((x + 2 * y + 4 * i) ^ ((x / 16 + y / 16 + i / 8) & 1 ? 0x40 : 0));
    for (int y = 0; y < fr->height / 2; y++)
        for (int x = 0; x < fr->width / 2; x++) {
            fr->data[1][y * fr->linesize[1] + x] = (uint8_t)(128 + x - i);
            fr->data[2][y * fr->linesize[2] + x] = (uint8_t)(128 + y + i);
        }
}

static GstBuffer *rtp_buffer(const uint8_t *payload, size_t len, bool marker, uint16_t seq,
                             uint32_t ts, GstClockTime pts)
{
    GstBuffer *b = gst_buffer_new_allocate(NULL, 12 + len, NULL);
    GstMapInfo map;
    ck_assert(gst_buffer_map(b, &map, GST_MAP_WRITE));
    rtp_write_header(map.data, marker, 96, seq, ts, 0x1234abcd);
    memcpy(map.data + 12, payload, len);
    gst_buffer_unmap(b, &map);
    GST_BUFFER_PTS(b) = pts;
    GST_BUFFER_DTS(b) = pts;
    return b;
}

static void proto_to_gst(int mtu)
{
    gst_init(NULL, NULL);
    GstElement *pipeline =
        launch("appsrc name=src format=time caps=\"application/x-rtp,media=video,"
               "clock-rate=90000,encoding-name=H264,payload=96\" ! rtph264depay ! avdec_h264 ! "
               "appsink name=sink sync=false");
    GstElement *src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    ck_assert_int_ne(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);

    const AVCodec *c = avcodec_find_encoder_by_name("libx264");
    ck_assert_ptr_nonnull(c);
    AVCodecContext *enc = avcodec_alloc_context3(c);
    enc->width = 320;
    enc->height = 240;
    enc->pix_fmt = AV_PIX_FMT_YUV420P;
    enc->time_base = (AVRational){1, 30};
    enc->framerate = (AVRational){30, 1};
    enc->gop_size = 30;
    enc->max_b_frames = 0;
    av_opt_set(enc->priv_data, "preset", "veryfast", 0);
    av_opt_set(enc->priv_data, "tune", "zerolatency", 0);
    ck_assert_int_eq(avcodec_open2(enc, c, NULL), 0);
    AVFrame *fr = av_frame_alloc();
    fr->format = enc->pix_fmt;
    fr->width = enc->width;
    fr->height = enc->height;
    ck_assert_int_eq(av_frame_get_buffer(fr, 0), 0);
    AVPacket *pkt = av_packet_alloc();

    uint8_t *payload = malloc((size_t)mtu);
    uint16_t seq = 40000;
    int aus = 0, packets = 0, fu = 0, stap = 0;
    for (int i = 0; i <= 60; i++) {
        if (i < 60) {
            ck_assert_int_eq(av_frame_make_writable(fr), 0);
            fill_frame(fr, i);
            fr->pts = i;
            ck_assert_int_eq(avcodec_send_frame(enc, fr), 0);
        } else {
            ck_assert_int_eq(avcodec_send_frame(enc, NULL), 0);
        }
        while (avcodec_receive_packet(enc, pkt) == 0) {
            hc_h264_pack_t p;
            uint32_t ts = (uint32_t)(pkt->pts * 3000);
            GstClockTime pts = gst_util_uint64_scale(pkt->pts, GST_SECOND, 30);
            ck_assert_int_eq(hc_h264_pack_init(&p, pkt->data, (size_t)pkt->size, (size_t)mtu - 12),
                             0);
            bool m;
            int n;
            while ((n = hc_h264_pack_next(&p, payload, (size_t)mtu - 12, &m)) > 0) {
                fu += (payload[0] & 0x1f) == HC_H264_NAL_FU_A;
                stap += (payload[0] & 0x1f) == HC_H264_NAL_STAP_A;
                GstBuffer *b = rtp_buffer(payload, (size_t)n, m, seq++, ts, pts);
                ck_assert_int_eq(gst_app_src_push_buffer(GST_APP_SRC(src), b), GST_FLOW_OK);
                packets++;
            }
            ck_assert_int_eq(n, 0);
            aus++;
            av_packet_unref(pkt);
        }
    }
    ck_assert_int_eq(gst_app_src_end_of_stream(GST_APP_SRC(src)), GST_FLOW_OK);

    int frames = 0;
    for (;;) {
        GstSample *s = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
        if (!s) {
            ck_assert_msg(gst_app_sink_is_eos(GST_APP_SINK(sink)), "no frames from GStreamer");
            break;
        }
        GstStructure *st = gst_caps_get_structure(gst_sample_get_caps(s), 0);
        int w = 0, h = 0;
        gst_structure_get_int(st, "width", &w);
        gst_structure_get_int(st, "height", &h);
        ck_assert_int_eq(w, 320);
        ck_assert_int_eq(h, 240);
        frames++;
        gst_sample_unref(s);
    }
    assert_bus_clean(pipeline);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    fprintf(stderr, "proto->gst mtu %d: %d AUs, %d packets (%d STAP-A, %d FU-A), %d frames\n", mtu,
            aus, packets, stap, fu, frames);
    ck_assert_int_eq(aus, 60);
    ck_assert_int_eq(frames, 60);
    ck_assert_int_gt(fu, 0);
    ck_assert_int_gt(stap, 0); /* SPS+PPS(+SEI) go together */

    free(payload);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    avcodec_free_context(&enc);
    gst_object_unref(src);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
}

START_TEST(proto_to_gst_depay_mtu1200)
{
    proto_to_gst(1200);
}
END_TEST

START_TEST(proto_to_gst_depay_mtu300)
{
    proto_to_gst(300);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("h264_gst");
    TCase *tc = tcase_create("interop");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, gst_pay_to_proto_mtu1200);
    tcase_add_test(tc, gst_pay_to_proto_mtu300_stap);
    tcase_add_test(tc, proto_to_gst_depay_mtu1200);
    tcase_add_test(tc, proto_to_gst_depay_mtu300);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
