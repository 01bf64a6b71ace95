/*
 * test_opus.c - Opus TOC byte and packet framing (RFC 6716 3.1-3.4).
 */
#include "proto/err.h"
#include "proto/opus.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* Parse from an exactly sized heap copy so that ASan sees any over-read. */
static int parse(const uint8_t *b, size_t len, hc_opus_packet_t *out)
{
    uint8_t *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, b, len);
    int rc = hc_opus_packet_parse(c, len, out);
    if (rc >= 0) {
        /* frames must lie inside the packet, in order, after the headers */
        const uint8_t *prev = c;
        for (unsigned i = 0; i < out->frame_count; i++) {
            if (out->frame[i] < prev || out->frame[i] + out->frame_len[i] > c + len)
                ck_abort_msg("frame %u outside the packet", i);
            prev = out->frame[i] + out->frame_len[i];
        }
        for (unsigned i = 0; i < out->frame_count; i++) out->frame[i] = NULL; /* c is freed */
    }
    free(c);
    return rc;
}

static int parse_hex(const char *hex, hc_opus_packet_t *out)
{
    uint8_t b[4096];
    int n = hc_test_hex(hex, b, sizeof b);
    ck_assert_int_ge(n, 0);
    return parse(b, (size_t)n, out);
}

START_TEST(toc_table)
{
    /* RFC 6716 Table 2, written out row by row. */
    static const struct {
        hc_opus_mode_t mode;
        hc_opus_bandwidth_t bw;
        uint32_t samples; /* per frame at 48 kHz */
    } t[32] = {
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_NB, 480},    {HC_OPUS_MODE_SILK, HC_OPUS_BW_NB, 960},
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_NB, 1920},   {HC_OPUS_MODE_SILK, HC_OPUS_BW_NB, 2880},
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_MB, 480},    {HC_OPUS_MODE_SILK, HC_OPUS_BW_MB, 960},
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_MB, 1920},   {HC_OPUS_MODE_SILK, HC_OPUS_BW_MB, 2880},
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_WB, 480},    {HC_OPUS_MODE_SILK, HC_OPUS_BW_WB, 960},
        {HC_OPUS_MODE_SILK, HC_OPUS_BW_WB, 1920},   {HC_OPUS_MODE_SILK, HC_OPUS_BW_WB, 2880},
        {HC_OPUS_MODE_HYBRID, HC_OPUS_BW_SWB, 480}, {HC_OPUS_MODE_HYBRID, HC_OPUS_BW_SWB, 960},
        {HC_OPUS_MODE_HYBRID, HC_OPUS_BW_FB, 480},  {HC_OPUS_MODE_HYBRID, HC_OPUS_BW_FB, 960},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_NB, 120},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_NB, 240},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_NB, 480},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_NB, 960},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_WB, 120},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_WB, 240},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_WB, 480},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_WB, 960},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_SWB, 120},   {HC_OPUS_MODE_CELT, HC_OPUS_BW_SWB, 240},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_SWB, 480},   {HC_OPUS_MODE_CELT, HC_OPUS_BW_SWB, 960},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_FB, 120},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_FB, 240},
        {HC_OPUS_MODE_CELT, HC_OPUS_BW_FB, 480},    {HC_OPUS_MODE_CELT, HC_OPUS_BW_FB, 960},
    };
    for (unsigned toc = 0; toc < 256; toc++) {
        hc_opus_toc_t o;
        unsigned config = toc >> 3;
        hc_opus_toc_parse((uint8_t)toc, &o);
        ck_assert_uint_eq(o.config, config);
        ck_assert_int_eq(o.mode, t[config].mode);
        ck_assert_int_eq(o.bandwidth, t[config].bw);
        ck_assert_uint_eq(o.frame_samples, t[config].samples);
        ck_assert(o.stereo == ((toc & 4) != 0));
        ck_assert_uint_eq(o.code, toc & 3);
        /* a one-frame packet of this config: the RTP timestamp advances by one frame */
        if ((toc & 3) == 0) {
            uint8_t pkt[3] = {(uint8_t)toc, 0xaa, 0xbb};
            ck_assert_int_eq(hc_opus_packet_samples(pkt, 3), (int)t[config].samples);
        }
    }
}
END_TEST

START_TEST(code0_and_code1)
{
    hc_opus_packet_t p;
    /* 0xf8: config 31 (CELT FB 20 ms), mono, code 0 */
    ck_assert_int_eq(parse_hex("f8 01 02 03", &p), 4);
    ck_assert_uint_eq(p.frame_count, 1);
    ck_assert_uint_eq(p.frame_len[0], 3);
    ck_assert_uint_eq(p.samples, 960);
    ck_assert(!p.vbr && !p.padded);
    /* TOC only: one empty frame (DTX), still a valid 20 ms packet */
    ck_assert_int_eq(parse_hex("f8", &p), 1);
    ck_assert_uint_eq(p.frame_len[0], 0);
    ck_assert_uint_eq(p.samples, 960);
    /* 0x7d: config 15 (hybrid FB 20 ms), stereo, code 1: two equal frames (R3) */
    ck_assert_int_eq(parse_hex("7d aa bb cc dd", &p), 5);
    ck_assert(p.toc.stereo);
    ck_assert_uint_eq(p.frame_count, 2);
    ck_assert_uint_eq(p.frame_len[0], 2);
    ck_assert_uint_eq(p.frame_len[1], 2);
    ck_assert_uint_eq(p.samples, 1920);
    ck_assert_int_eq(parse_hex("7d aa bb cc", &p), -HC_EMALFORMED); /* odd */
    ck_assert_int_eq(parse_hex("7d", &p), 1);                       /* two empty frames */
    ck_assert_int_eq(parse_hex("", &p), -HC_ETRUNC);                /* R1 */
}
END_TEST

START_TEST(code2)
{
    hc_opus_packet_t p;
    ck_assert_int_eq(parse_hex("fa 01 aa bb cc", &p), 5);
    ck_assert_uint_eq(p.frame_count, 2);
    ck_assert_uint_eq(p.frame_len[0], 1);
    ck_assert_uint_eq(p.frame_len[1], 2);
    ck_assert(p.vbr);
    ck_assert_uint_eq(p.samples, 1920);
    ck_assert_int_eq(parse_hex("fa 00", &p), 2); /* two empty frames */
    ck_assert_int_eq(parse_hex("fa", &p), -HC_ETRUNC);
    ck_assert_int_eq(parse_hex("fa 05 aa", &p), -HC_ETRUNC); /* R4 */
    ck_assert_int_eq(parse_hex("fa fc", &p), -HC_ETRUNC);    /* two-byte length cut */
    /* two-byte length: 4 * 1 + 252 = 256 */
    uint8_t b[600];
    b[0] = 0xfa;
    b[1] = 252;
    b[2] = 1;
    memset(b + 3, 0x55, sizeof b - 3);
    ck_assert_int_eq(parse(b, 3 + 256 + 7, &p), 3 + 256 + 7);
    ck_assert_uint_eq(p.frame_len[0], 256);
    ck_assert_uint_eq(p.frame_len[1], 7);
    ck_assert_int_eq(parse(b, 3 + 255, &p), -HC_ETRUNC);
}
END_TEST

START_TEST(code3)
{
    hc_opus_packet_t p;
    /* CBR, 3 frames of 1 byte */
    ck_assert_int_eq(parse_hex("fb 03 aa bb cc", &p), 5);
    ck_assert_uint_eq(p.frame_count, 3);
    ck_assert_uint_eq(p.samples, 2880);
    ck_assert(!p.vbr);
    ck_assert_int_eq(parse_hex("fb 02 aa bb cc", &p), -HC_EMALFORMED); /* R6: 3 % 2 */
    /* VBR: lengths 1 and 2, the last frame takes the rest */
    ck_assert_int_eq(parse_hex("fb 83 01 02 aa bb bb cc", &p), 8);
    ck_assert(p.vbr);
    ck_assert_uint_eq(p.frame_len[0], 1);
    ck_assert_uint_eq(p.frame_len[1], 2);
    ck_assert_uint_eq(p.frame_len[2], 1);
    ck_assert_int_eq(parse_hex("fb 83 01 05 aa bb", &p), -HC_ETRUNC); /* R7 */
    ck_assert_int_eq(parse_hex("fb 83 01", &p), -HC_ETRUNC);
    /* padding: p bit, one length byte of 2, two frames of one byte, two padding bytes */
    ck_assert_int_eq(parse_hex("fb 42 02 aa bb 00 00", &p), 7);
    ck_assert(p.padded);
    ck_assert_uint_eq(p.padding, 2);
    ck_assert_uint_eq(p.frame_len[0], 1);
    ck_assert_uint_eq(p.frame_len[1], 1);
    ck_assert_int_eq(parse_hex("fb 42 05 aa bb 00 00", &p), -HC_ETRUNC); /* R6 */
    ck_assert_int_eq(parse_hex("fb 42", &p), -HC_ETRUNC);
    /* padding length 255 means 254 more bytes and another length byte follows */
    uint8_t b[400];
    memset(b, 0, sizeof b);
    b[0] = 0xfb;
    b[1] = 0x41; /* CBR, padded, one frame */
    b[2] = 255;
    b[3] = 1; /* 254 + 1 = 255 bytes of padding */
    b[4] = 0x77;
    ck_assert_int_eq(parse(b, 5 + 255, &p), 5 + 255);
    ck_assert_uint_eq(p.padding, 255);
    ck_assert_uint_eq(p.frame_len[0], 1);
    ck_assert_int_eq(parse(b, 4 + 255, &p), 4 + 255); /* the frame is empty */
    ck_assert_uint_eq(p.frame_len[0], 0);
    ck_assert_int_eq(parse(b, 3 + 255, &p), -HC_ETRUNC);
    ck_assert_int_eq(parse(b, 3, &p), -HC_ETRUNC); /* the second length byte is missing */
    /* R5: count 0, more than 120 ms */
    ck_assert_int_eq(parse_hex("fb 00", &p), -HC_EMALFORMED);
    ck_assert_int_eq(parse_hex("fb", &p), -HC_ETRUNC);
    ck_assert_int_eq(parse_hex("1b 02", &p), 2); /* config 3: 60 ms SILK, two = 120 ms */
    ck_assert_uint_eq(p.samples, 5760);
    ck_assert_int_eq(parse_hex("1b 03", &p), -HC_EMALFORMED);
    b[0] = 0x83; /* config 16: CELT 2.5 ms */
    b[1] = 48;
    ck_assert_int_eq(parse(b, 2, &p), 2);
    ck_assert_uint_eq(p.frame_count, 48);
    ck_assert_uint_eq(p.samples, 5760);
    b[1] = 49;
    ck_assert_int_eq(parse(b, 2, &p), -HC_EMALFORMED);
}
END_TEST

START_TEST(frame_size_limit)
{
    /* R2: no frame above 1275 bytes */
    static uint8_t b[3000];
    hc_opus_packet_t p;
    memset(b, 0x11, sizeof b);
    b[0] = 0xf8;
    ck_assert_int_eq(parse(b, 1 + 1275, &p), 1276);
    ck_assert_int_eq(parse(b, 1 + 1276, &p), -HC_EMALFORMED);
    b[0] = 0xf9;
    ck_assert_int_eq(parse(b, 1 + 2 * 1275, &p), 1 + 2 * 1275);
    ck_assert_int_eq(parse(b, 1 + 2 * 1276, &p), -HC_EMALFORMED);
    b[0] = 0xfa;
    b[1] = 1;
    ck_assert_int_eq(parse(b, 2 + 1 + 1275, &p), 2 + 1 + 1275);
    ck_assert_int_eq(parse(b, 2 + 1 + 1276, &p), -HC_EMALFORMED);
    ck_assert_int_eq(hc_opus_packet_samples(b, 2 + 1 + 1276), -HC_EMALFORMED);
    ck_assert_int_eq(hc_opus_packet_parse(NULL, 3, &p), -HC_EINVAL);
    ck_assert_int_eq(hc_opus_packet_parse(b, 3, NULL), -HC_EINVAL);
}
END_TEST

START_TEST(truncations)
{
    /* Every prefix of valid packets: never an over-read, and a prefix that cuts the headers
     * or a coded length is rejected. */
    static const struct {
        const char *hex;
        size_t header; /* bytes a prefix needs before it can be valid */
    } pk[] = {
        {"f8 01 02 03", 1},
        {"fa 02 aa bb cc dd", 4},
        {"fb 83 01 02 aa bb bb cc", 7},
        {"fb c3 03 01 02 aa bb bb cc 00 00 00", 11},
    };
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        uint8_t b[64];
        hc_opus_packet_t p;
        int n = hc_test_hex(pk[i].hex, b, sizeof b);
        ck_assert_int_eq(parse(b, (size_t)n, &p), n);
        for (int cut = 0; cut < n; cut++) {
            int rc = parse(b, (size_t)cut, &p);
            if ((size_t)cut < pk[i].header)
                ck_assert_int_lt(rc, 0);
            else
                ck_assert_int_eq(rc, cut);
        }
    }
    /* CBR with padding: a prefix is valid only where the frame bytes divide evenly. */
    uint8_t b[16];
    hc_opus_packet_t p;
    int n = hc_test_hex("fb 43 02 aa bb cc 00 00", b, sizeof b);
    static const int want[] = {-HC_ETRUNC, -HC_ETRUNC,     -HC_ETRUNC,     -HC_ETRUNC, -HC_ETRUNC,
                               5,          -HC_EMALFORMED, -HC_EMALFORMED, 8};
    for (int cut = 0; cut <= n; cut++) ck_assert_int_eq(parse(b, (size_t)cut, &p), want[cut]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("opus");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, toc_table);
    tcase_add_test(tc, code0_and_code1);
    tcase_add_test(tc, code2);
    tcase_add_test(tc, code3);
    tcase_add_test(tc, frame_size_limit);
    tcase_add_test(tc, truncations);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
