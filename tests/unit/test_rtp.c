#include "proto/err.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* Minimal packet: no CSRC, no extension, no padding. */
static const uint8_t PKT_MIN[] = {
    0x80,                   /* V=2 P=0 X=0 CC=0 */
    0x60,                   /* M=0 PT=96 */
    0x12, 0x34,             /* seq 0x1234 */
    0x00, 0x00, 0x30, 0x39, /* ts 12345 */
    0xde, 0xad, 0xbe, 0xef, /* ssrc */
    0x01, 0x02, 0x03,       /* payload */
};

/* Everything at once: 2 CSRCs, one-byte extension block, marker, padding. */
static const uint8_t PKT_FULL[] = {
    0xb2,                   /* V=2 P=1 X=1 CC=2 */
    0xef,                   /* M=1 PT=111 */
    0xff, 0xff,             /* seq 65535 */
    0xff, 0xff, 0xff, 0xfe, /* ts 0xfffffffe */
    0x00, 0x00, 0x00, 0x01, /* ssrc 1 */
    0x11, 0x11, 0x11, 0x11, /* csrc[0] */
    0x22, 0x22, 0x22, 0x22, /* csrc[1] */
    0xbe, 0xde, 0x00, 0x02, /* profile 0xBEDE, 2 words of extension data */
    0x10, 0xff,             /* id 1 L=0: audio level V=1 level 127 */
    0x22, 0x01, 0x02, 0x03, /* id 2 L=2: abs-send-time 0x010203 */
    0x00, 0x00,             /* extension padding */
    0xaa, 0xbb, 0xcc, 0xdd, /* payload */
    0x00, 0x00, 0x03,       /* padding: 3 octets, count last (RFC 3550 5.1) */
};

/* Extension header with length 0 and a two-byte profile; no payload. */
static const uint8_t PKT_EMPTY_EXT[] = {
    0x90,                   /* V=2 X=1 */
    0x00,                   /* PT=0 */
    0x00, 0x01,             /* seq 1 */
    0x00, 0x00, 0x00, 0x00, /* ts 0 */
    0x00, 0x00, 0x00, 0x02, /* ssrc 2 */
    0x10, 0x00, 0x00, 0x00, /* profile 0x1000, 0 words */
};

/* Padding-only packet (bandwidth probe): P=1, every byte after the header
 * is padding, so the payload is empty. */
static const uint8_t PKT_PAD_ONLY[] = {
    0xa0, 0x7f, 0x00, 0x05, /* V=2 P=1, PT=127, seq 5 */
    0x00, 0x00, 0x00, 0x06, /* ts 6 */
    0x00, 0x00, 0x00, 0x07, /* ssrc 7 */
    0x00, 0x00, 0x00, 0x04, /* 4 octets of padding */
};

static uint8_t *heap_copy(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n) memcpy(b, p, n);
    return b;
}

START_TEST(parse_minimal)
{
    hc_rtp_hdr_t h;
    int rc = hc_rtp_parse(PKT_MIN, sizeof(PKT_MIN), &h);
    ck_assert_int_eq(rc, 12);
    ck_assert(!h.padding);
    ck_assert(!h.extension);
    ck_assert_uint_eq(h.csrc_count, 0);
    ck_assert(!h.marker);
    ck_assert_uint_eq(h.pt, 96);
    ck_assert_uint_eq(h.seq, 0x1234);
    ck_assert_uint_eq(h.ts, 12345);
    ck_assert_uint_eq(h.ssrc, 0xdeadbeef);
    ck_assert_ptr_eq(h.payload, PKT_MIN + 12);
    ck_assert_uint_eq(h.payload_len, 3);
    ck_assert_uint_eq(h.padding_len, 0);
    ck_assert_uint_eq(h.header_len, 12);
}
END_TEST

START_TEST(parse_full)
{
    hc_rtp_hdr_t h;
    int rc = hc_rtp_parse(PKT_FULL, sizeof(PKT_FULL), &h);
    ck_assert_int_eq(rc, 32);
    ck_assert(h.padding);
    ck_assert(h.extension);
    ck_assert_uint_eq(h.csrc_count, 2);
    ck_assert(h.marker);
    ck_assert_uint_eq(h.pt, 111);
    ck_assert_uint_eq(h.seq, 65535);
    ck_assert_uint_eq(h.ts, 0xfffffffe);
    ck_assert_uint_eq(h.ssrc, 1);
    ck_assert_uint_eq(h.csrc[0], 0x11111111);
    ck_assert_uint_eq(h.csrc[1], 0x22222222);
    ck_assert_uint_eq(h.ext_profile, 0xbede);
    ck_assert_ptr_eq(h.ext_data, PKT_FULL + 24);
    ck_assert_uint_eq(h.ext_len, 8);
    ck_assert_ptr_eq(h.payload, PKT_FULL + 32);
    ck_assert_uint_eq(h.payload_len, 4);
    ck_assert_uint_eq(h.padding_len, 3);
    ck_assert_uint_eq(h.header_len, 32);

    /* the extension elements are reachable through rtpext */
    const uint8_t *d;
    size_t l;
    ck_assert_int_eq(hc_rtpext_find(&h, 2, &d, &l), 1);
    ck_assert_uint_eq(l, 3);
    ck_assert_ptr_eq(d, PKT_FULL + 27);
}
END_TEST

START_TEST(parse_empty_ext_and_pad_only)
{
    hc_rtp_hdr_t h;
    ck_assert_int_eq(hc_rtp_parse(PKT_EMPTY_EXT, sizeof(PKT_EMPTY_EXT), &h), 16);
    ck_assert(h.extension);
    ck_assert_uint_eq(h.ext_profile, 0x1000);
    ck_assert_uint_eq(h.ext_len, 0);
    ck_assert_uint_eq(h.payload_len, 0);

    ck_assert_int_eq(hc_rtp_parse(PKT_PAD_ONLY, sizeof(PKT_PAD_ONLY), &h), 12);
    ck_assert(h.padding);
    ck_assert_uint_eq(h.padding_len, 4);
    ck_assert_uint_eq(h.payload_len, 0);
    ck_assert_uint_eq(h.pt, 127);
}
END_TEST

START_TEST(parse_errors)
{
    hc_rtp_hdr_t h;
    uint8_t b[64];

    ck_assert_int_eq(hc_rtp_parse(NULL, 12, &h), -HC_EINVAL);
    ck_assert_int_eq(hc_rtp_parse(PKT_MIN, sizeof(PKT_MIN), NULL), -HC_EINVAL);

    /* versions 0, 1, 3 */
    for (int v = 0; v < 4; v++) {
        if (v == 2) continue;
        memcpy(b, PKT_MIN, sizeof(PKT_MIN));
        b[0] = (uint8_t)((v << 6) | (b[0] & 0x3f));
        ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_MIN), &h), -HC_EVERSION);
    }

    /* padding count 0 */
    memcpy(b, PKT_MIN, sizeof(PKT_MIN));
    b[0] |= 0x20;
    b[sizeof(PKT_MIN) - 1] = 0;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_MIN), &h), -HC_EMALFORMED);
    /* padding count larger than the 3 bytes after the header */
    b[sizeof(PKT_MIN) - 1] = 4;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_MIN), &h), -HC_EMALFORMED);
    /* exactly the bytes after the header: allowed, empty payload */
    b[sizeof(PKT_MIN) - 1] = 3;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_MIN), &h), 12);
    ck_assert_uint_eq(h.payload_len, 0);
    /* P set but nothing after the header */
    ck_assert_int_eq(hc_rtp_parse(b, 12, &h), -HC_ETRUNC);

    /* CC=15 with too few bytes */
    memcpy(b, PKT_MIN, sizeof(PKT_MIN));
    b[0] = 0x8f;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_MIN), &h), -HC_ETRUNC);

    /* extension length larger than the packet */
    memcpy(b, PKT_EMPTY_EXT, sizeof(PKT_EMPTY_EXT));
    b[15] = 1;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(PKT_EMPTY_EXT), &h), -HC_ETRUNC);
    memset(b + 16, 0, 4);
    ck_assert_int_eq(hc_rtp_parse(b, 20, &h), 20);
    ck_assert_uint_eq(h.ext_len, 4);
}
END_TEST

/* Every cut inside the header must fail; cuts inside payload/padding either
 * fail or parse consistently (RTP has no payload length). Each input sits in
 * an exactly-sized heap buffer so ASan sees any over-read. */
static void check_truncations(const uint8_t *pkt, size_t len)
{
    hc_rtp_hdr_t full;
    int hl = hc_rtp_parse(pkt, len, &full);
    ck_assert_int_gt(hl, 0);
    for (size_t n = 0; n < len; n++) {
        uint8_t *b = heap_copy(pkt, n);
        hc_rtp_hdr_t h;
        int rc = hc_rtp_parse(b, n, &h);
        if (n < (size_t)hl) {
            ck_assert_msg(rc < 0, "len %zu parsed (rc %d)", n, rc);
        } else if (rc >= 0) {
            ck_assert_int_eq(rc, hl);
            ck_assert_uint_eq(h.header_len + h.payload_len + h.padding_len, n);
            ck_assert_uint_eq(h.seq, full.seq);
        } else {
            ck_assert(full.padding);
            ck_assert(rc == -HC_EMALFORMED || rc == -HC_ETRUNC);
        }
        free(b);
    }
}

START_TEST(truncation_every_length)
{
    check_truncations(PKT_MIN, sizeof(PKT_MIN));
    check_truncations(PKT_FULL, sizeof(PKT_FULL));
    check_truncations(PKT_EMPTY_EXT, sizeof(PKT_EMPTY_EXT));
    check_truncations(PKT_PAD_ONLY, sizeof(PKT_PAD_ONLY));
}
END_TEST

START_TEST(write_full_matches_vector)
{
    hc_rtp_hdr_t h;
    ck_assert_int_eq(hc_rtp_parse(PKT_FULL, sizeof(PKT_FULL), &h), 32);
    uint8_t out[128];
    int n = hc_rtp_write(&h, h.payload, h.payload_len, out, sizeof(out));
    ck_assert_int_eq(n, (int)sizeof(PKT_FULL));
    ck_assert_mem_eq(out, PKT_FULL, sizeof(PKT_FULL));

    ck_assert_int_eq(hc_rtp_parse(PKT_MIN, sizeof(PKT_MIN), &h), 12);
    n = hc_rtp_write(&h, h.payload, h.payload_len, out, sizeof(out));
    ck_assert_int_eq(n, (int)sizeof(PKT_MIN));
    ck_assert_mem_eq(out, PKT_MIN, sizeof(PKT_MIN));

    ck_assert_int_eq(hc_rtp_parse(PKT_PAD_ONLY, sizeof(PKT_PAD_ONLY), &h), 12);
    n = hc_rtp_write(&h, NULL, 0, out, sizeof(out));
    ck_assert_int_eq(n, (int)sizeof(PKT_PAD_ONLY));
    ck_assert_mem_eq(out, PKT_PAD_ONLY, sizeof(PKT_PAD_ONLY));

    ck_assert_int_eq(hc_rtp_parse(PKT_EMPTY_EXT, sizeof(PKT_EMPTY_EXT), &h), 16);
    n = hc_rtp_write(&h, NULL, 0, out, sizeof(out));
    ck_assert_int_eq(n, (int)sizeof(PKT_EMPTY_EXT));
    ck_assert_mem_eq(out, PKT_EMPTY_EXT, sizeof(PKT_EMPTY_EXT));
}
END_TEST

START_TEST(write_header_only)
{
    hc_rtp_hdr_t h;
    ck_assert_int_eq(hc_rtp_parse(PKT_FULL, sizeof(PKT_FULL), &h), 32);
    ck_assert_uint_eq(hc_rtp_header_size(&h), 32);
    uint8_t out[64];
    ck_assert_int_eq(hc_rtp_write_header(&h, out, sizeof(out)), 32);
    /* P bit still set because padding_len > 0; the caller adds the rest */
    ck_assert_mem_eq(out, PKT_FULL, 32);
    for (size_t cap = 0; cap < 32; cap++)
        ck_assert_int_eq(hc_rtp_write_header(&h, out, cap), -HC_ENOSPC);
}
END_TEST

START_TEST(write_errors)
{
    hc_rtp_hdr_t h;
    uint8_t out[128];
    uint8_t pl[4] = {1, 2, 3, 4};
    ck_assert_int_eq(hc_rtp_parse(PKT_FULL, sizeof(PKT_FULL), &h), 32);

    ck_assert_int_eq(hc_rtp_write(NULL, pl, 4, out, sizeof(out)), -HC_EINVAL);
    ck_assert_int_eq(hc_rtp_write(&h, pl, 4, NULL, sizeof(out)), -HC_EINVAL);
    ck_assert_int_eq(hc_rtp_write(&h, NULL, 4, out, sizeof(out)), -HC_EINVAL);
    ck_assert_int_eq(hc_rtp_write_header(NULL, out, sizeof(out)), -HC_EINVAL);

    hc_rtp_hdr_t bad = h;
    bad.csrc_count = 16;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), -HC_EINVAL);
    bad = h;
    bad.pt = 128;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), -HC_EINVAL);
    bad = h;
    bad.ext_len = 6;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), -HC_EINVAL);
    bad = h;
    bad.ext_data = NULL;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), -HC_EINVAL);
    bad = h;
    bad.padding_len = 256;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), -HC_EINVAL);

    /* every capacity below the packet size */
    for (size_t cap = 0; cap < sizeof(PKT_FULL); cap++)
        ck_assert_int_eq(hc_rtp_write(&h, pl, 4, out, cap), -HC_ENOSPC);
    ck_assert_int_eq(hc_rtp_write(&h, pl, 4, out, sizeof(PKT_FULL)), (int)sizeof(PKT_FULL));

    /* ext fields are ignored without the X flag */
    bad = h;
    bad.extension = false;
    bad.ext_len = 6;
    bad.ext_data = NULL;
    ck_assert_int_eq(hc_rtp_write(&bad, pl, 4, out, sizeof(out)), 12 + 8 + 4 + 3);
}
END_TEST

static void assert_same_hdr(const hc_rtp_hdr_t *a, const hc_rtp_hdr_t *b)
{
    ck_assert(a->padding == b->padding);
    ck_assert(a->extension == b->extension);
    ck_assert_uint_eq(a->csrc_count, b->csrc_count);
    ck_assert(a->marker == b->marker);
    ck_assert_uint_eq(a->pt, b->pt);
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_uint_eq(a->ts, b->ts);
    ck_assert_uint_eq(a->ssrc, b->ssrc);
    for (unsigned i = 0; i < a->csrc_count; i++) ck_assert_uint_eq(a->csrc[i], b->csrc[i]);
    if (a->extension) {
        ck_assert_uint_eq(a->ext_profile, b->ext_profile);
        ck_assert_uint_eq(a->ext_len, b->ext_len);
        if (a->ext_len) ck_assert_mem_eq(a->ext_data, b->ext_data, a->ext_len);
    }
    ck_assert_uint_eq(a->payload_len, b->payload_len);
    if (a->payload_len) ck_assert_mem_eq(a->payload, b->payload, a->payload_len);
    ck_assert_uint_eq(a->padding_len, b->padding_len);
    ck_assert_uint_eq(a->header_len, b->header_len);
}

/* Random headers with CSRCs, both extension forms and padding survive
 * write -> parse, and write_header + payload gives the same bytes. */
START_TEST(round_trip_random)
{
    uint64_t rs = 42;
    static uint8_t pkt[4096], pkt2[4096], ext[512], payload[1500];
    for (int iter = 0; iter < 2000; iter++) {
        hc_rtp_hdr_t h;
        memset(&h, 0, sizeof(h));
        h.csrc_count = (uint8_t)(hc_test_rand(&rs) % 16);
        for (unsigned i = 0; i < h.csrc_count; i++) h.csrc[i] = (uint32_t)hc_test_rand(&rs);
        h.marker = hc_test_rand(&rs) & 1;
        h.pt = (uint8_t)(hc_test_rand(&rs) & 0x7f);
        h.seq = (uint16_t)hc_test_rand(&rs);
        h.ts = (uint32_t)hc_test_rand(&rs);
        h.ssrc = (uint32_t)hc_test_rand(&rs);
        h.extension = hc_test_rand(&rs) & 1;
        if (h.extension) {
            hc_rtpext_builder_t b;
            hc_rtpext_builder_init(&b, ext, sizeof(ext));
            bool two = hc_test_rand(&rs) & 1;
            int nel = (int)(hc_test_rand(&rs) % 6);
            for (int e = 0; e < nel; e++) {
                uint8_t data[32];
                uint8_t id = (uint8_t)(1 + hc_test_rand(&rs) % (two ? 255 : 14));
                size_t l = two ? hc_test_rand(&rs) % 33 : 1 + hc_test_rand(&rs) % 16;
                for (size_t k = 0; k < l; k++) data[k] = (uint8_t)hc_test_rand(&rs);
                ck_assert_int_eq(hc_rtpext_add(&b, id, data, l), 0);
            }
            size_t elen;
            ck_assert_int_ge(hc_rtpext_finish(&b, &h.ext_profile, &elen), 0);
            h.ext_data = ext;
            h.ext_len = elen;
        }
        size_t plen = hc_test_rand(&rs) % sizeof(payload);
        for (size_t k = 0; k < plen; k++) payload[k] = (uint8_t)hc_test_rand(&rs);
        h.padding_len = (hc_test_rand(&rs) % 3 == 0) ? 1 + hc_test_rand(&rs) % 255 : 0;
        h.padding = h.padding_len > 0;

        int n = hc_rtp_write(&h, payload, plen, pkt, sizeof(pkt));
        ck_assert_int_gt(n, 0);
        ck_assert_uint_eq((size_t)n, hc_rtp_header_size(&h) + plen + h.padding_len);

        hc_rtp_hdr_t p;
        int hl = hc_rtp_parse(pkt, (size_t)n, &p);
        ck_assert_int_eq(hl, (int)hc_rtp_header_size(&h));
        h.payload = payload;
        h.payload_len = plen;
        h.header_len = (size_t)hl;
        assert_same_hdr(&h, &p);

        int hn = hc_rtp_write_header(&h, pkt2, sizeof(pkt2));
        ck_assert_int_eq(hn, hl);
        memcpy(pkt2 + hn, payload, plen);
        memcpy(pkt2 + hn + plen, pkt + hn + plen, h.padding_len);
        ck_assert_mem_eq(pkt, pkt2, (size_t)n);
    }
}
END_TEST

START_TEST(set_fields_in_place)
{
    uint8_t b[sizeof(PKT_FULL)];
    memcpy(b, PKT_FULL, sizeof(b));
    hc_rtp_hdr_t before, after;
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(b), &before), 32);

    hc_rtp_set_seq(b, 0x0102);
    hc_rtp_set_ts(b, 0xa0b0c0d0);
    hc_rtp_set_ssrc(b, 0x55667788);
    hc_rtp_set_pt_marker(b, 96, false);
    ck_assert_int_eq(hc_rtp_parse(b, sizeof(b), &after), 32);
    ck_assert_uint_eq(after.seq, 0x0102);
    ck_assert_uint_eq(after.ts, 0xa0b0c0d0);
    ck_assert_uint_eq(after.ssrc, 0x55667788);
    ck_assert_uint_eq(after.pt, 96);
    ck_assert(!after.marker);
    /* nothing else moved */
    ck_assert(after.padding && after.extension);
    ck_assert_uint_eq(after.csrc_count, 2);
    ck_assert_uint_eq(after.padding_len, before.padding_len);
    ck_assert_mem_eq(b + 12, PKT_FULL + 12, sizeof(PKT_FULL) - 12);
    ck_assert_uint_eq(b[0], PKT_FULL[0]);
    /* exact bytes */
    const uint8_t want[12] = {0xb2, 0x60, 0x01, 0x02, 0xa0, 0xb0,
                              0xc0, 0xd0, 0x55, 0x66, 0x77, 0x88};
    ck_assert_mem_eq(b, want, 12);
    hc_rtp_set_pt_marker(b, 127, true);
    ck_assert_uint_eq(b[1], 0xff);
}
END_TEST

START_TEST(peek)
{
    uint32_t ssrc = 0;
    uint16_t seq = 0;
    ck_assert_int_eq(hc_rtp_peek_ssrc(PKT_MIN, sizeof(PKT_MIN), &ssrc), 0);
    ck_assert_uint_eq(ssrc, 0xdeadbeef);
    ck_assert_int_eq(hc_rtp_peek_seq(PKT_MIN, sizeof(PKT_MIN), &seq), 0);
    ck_assert_uint_eq(seq, 0x1234);
    for (size_t n = 0; n < 12; n++) {
        uint8_t *b = heap_copy(PKT_MIN, n);
        ck_assert_int_eq(hc_rtp_peek_ssrc(b, n, &ssrc), -HC_ETRUNC);
        ck_assert_int_eq(hc_rtp_peek_seq(b, n, &seq), -HC_ETRUNC);
        free(b);
    }
    uint8_t b[12];
    memcpy(b, PKT_MIN, 12);
    b[0] = 0x40;
    ck_assert_int_eq(hc_rtp_peek_ssrc(b, 12, &ssrc), -HC_EVERSION);
    ck_assert_int_eq(hc_rtp_peek_seq(b, 12, &seq), -HC_EVERSION);
    ck_assert_int_eq(hc_rtp_peek_ssrc(NULL, 12, &ssrc), -HC_EINVAL);
    ck_assert_int_eq(hc_rtp_peek_seq(PKT_MIN, 12, NULL), -HC_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rtp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_minimal);
    tcase_add_test(tc, parse_full);
    tcase_add_test(tc, parse_empty_ext_and_pad_only);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, truncation_every_length);
    tcase_add_test(tc, write_full_matches_vector);
    tcase_add_test(tc, write_header_only);
    tcase_add_test(tc, write_errors);
    tcase_add_test(tc, round_trip_random);
    tcase_add_test(tc, set_fields_in_place);
    tcase_add_test(tc, peek);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
