#include "proto/err.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* RFC 8285 §4.2 example (one-byte form, profile 0xBEDE, length 3), with
 * concrete data bytes; padding sits between elements. */
static const uint8_t EX_ONE[] = {
    0x10, 0xaa,             /* ID 1 L=0: 1 byte */
    0x21, 0xbb, 0xbb,       /* ID 2 L=1: 2 bytes */
    0x00, 0x00,             /* padding */
    0x33, 0xcc, 0xcc, 0xcc, /* ID 3 L=3: 4 bytes ... */
    0xcc,
};

/* RFC 8285 §4.3 example (two-byte form, profile 0x1000, length 3). */
static const uint8_t EX_TWO[] = {
    0x01, 0x00,             /* ID 1 L=0: no data */
    0x02, 0x01, 0xdd,       /* ID 2 L=1 */
    0x00,                   /* padding */
    0x03, 0x04, 0xee, 0xee, /* ID 3 L=4 */
    0xee, 0xee,
};

typedef struct {
    uint8_t id;
    size_t len;
    const uint8_t *data;
} elem_t;

/* Collect elements; returns the final rc of hc_rtpext_next (0 or error). */
static int collect(uint16_t profile, const uint8_t *d, size_t n, elem_t *out, int max, int *count)
{
    hc_rtpext_iter_t it;
    int rc = hc_rtpext_iter_init(&it, profile, d, n);
    *count = 0;
    if (rc < 0) return rc;
    uint8_t id;
    const uint8_t *p;
    size_t l;
    while ((rc = hc_rtpext_next(&it, &id, &p, &l)) > 0) {
        ck_assert_int_lt(*count, max);
        out[*count].id = id;
        out[*count].len = l;
        out[*count].data = p;
        (*count)++;
    }
    /* the end (or error) is sticky */
    ck_assert_int_eq(hc_rtpext_next(&it, &id, &p, &l), rc);
    return rc;
}

START_TEST(iter_rfc8285_one_byte)
{
    elem_t e[8];
    int n;
    ck_assert_int_eq(collect(0xBEDE, EX_ONE, sizeof(EX_ONE), e, 8, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(e[0].id, 1);
    ck_assert_uint_eq(e[0].len, 1);
    ck_assert_ptr_eq(e[0].data, EX_ONE + 1);
    ck_assert_uint_eq(e[1].id, 2);
    ck_assert_uint_eq(e[1].len, 2);
    ck_assert_ptr_eq(e[1].data, EX_ONE + 3);
    ck_assert_uint_eq(e[2].id, 3);
    ck_assert_uint_eq(e[2].len, 4);
    ck_assert_ptr_eq(e[2].data, EX_ONE + 8);
}
END_TEST

START_TEST(iter_rfc8285_two_byte)
{
    elem_t e[8];
    int n;
    ck_assert_int_eq(collect(0x1000, EX_TWO, sizeof(EX_TWO), e, 8, &n), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(e[0].id, 1);
    ck_assert_uint_eq(e[0].len, 0);
    ck_assert_uint_eq(e[1].id, 2);
    ck_assert_uint_eq(e[1].len, 1);
    ck_assert_ptr_eq(e[1].data, EX_TWO + 4);
    ck_assert_uint_eq(e[2].id, 3);
    ck_assert_uint_eq(e[2].len, 4);
    ck_assert_ptr_eq(e[2].data, EX_TWO + 8);
    /* any appbits value is the two-byte form */
    ck_assert_int_eq(collect(0x100f, EX_TWO, sizeof(EX_TWO), e, 8, &n), 0);
    ck_assert_int_eq(n, 3);
}
END_TEST

/* Every truncated length, in an exactly-sized heap buffer: elements fully
 * inside the cut are returned, a cut element is -HC_ETRUNC, padding and the
 * end of data are a clean end. */
START_TEST(iter_truncation)
{
    static const int one_n[12] = {0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2};
    static const int one_err[12] = {0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1};
    static const int two_n[12] = {0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2};
    static const int two_err[12] = {0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    for (size_t len = 0; len < 12; len++) {
        elem_t e[8];
        int n;
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, EX_ONE, len);
        int rc = collect(0xBEDE, b, len, e, 8, &n);
        ck_assert_int_eq(n, one_n[len]);
        ck_assert_int_eq(rc, one_err[len] ? -HC_ETRUNC : 0);
        memcpy(b, EX_TWO, len);
        rc = collect(0x1000, b, len, e, 8, &n);
        ck_assert_int_eq(n, two_n[len]);
        ck_assert_int_eq(rc, two_err[len] ? -HC_ETRUNC : 0);
        free(b);
    }
}
END_TEST

START_TEST(iter_id15_stops)
{
    /* RFC 8285 §4.2: ID 15 ends processing, its length is ignored */
    const uint8_t d[] = {0x10, 0xaa, 0xf3, 0xbb, 0x20, 0xcc, 0x00, 0x00};
    elem_t e[8];
    int n;
    ck_assert_int_eq(collect(0xBEDE, d, sizeof(d), e, 8, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(e[0].id, 1);
    /* ID 15 is an ordinary ID in the two-byte form */
    const uint8_t t[] = {0x0f, 0x01, 0x55, 0x00};
    ck_assert_int_eq(collect(0x1000, t, sizeof(t), e, 8, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(e[0].id, 15);
}
END_TEST

START_TEST(iter_errors)
{
    elem_t e[8];
    int n;
    /* ID 0 with a non-zero length nibble is not padding */
    const uint8_t z[] = {0x10, 0xaa, 0x05, 0x00};
    ck_assert_int_eq(collect(0xBEDE, z, sizeof(z), e, 8, &n), -HC_EMALFORMED);
    ck_assert_int_eq(n, 1);
    /* unknown profiles */
    ck_assert_int_eq(collect(0x1234, EX_ONE, sizeof(EX_ONE), e, 8, &n), -HC_EUNSUPPORTED);
    ck_assert_int_eq(collect(0x1010, EX_TWO, sizeof(EX_TWO), e, 8, &n), -HC_EUNSUPPORTED);
    ck_assert_int_eq(collect(0xBEDF, EX_ONE, sizeof(EX_ONE), e, 8, &n), -HC_EUNSUPPORTED);
    hc_rtpext_iter_t it;
    uint8_t id;
    const uint8_t *p;
    size_t l;
    ck_assert_int_eq(hc_rtpext_iter_init(&it, 0x0000, EX_ONE, 4), -HC_EUNSUPPORTED);
    ck_assert_int_eq(hc_rtpext_next(&it, &id, &p, &l), -HC_EUNSUPPORTED);
    ck_assert_int_eq(hc_rtpext_iter_init(NULL, 0xBEDE, EX_ONE, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_rtpext_iter_init(&it, 0xBEDE, NULL, 4), -HC_EINVAL);
    /* empty data and all-padding data are clean ends */
    ck_assert_int_eq(collect(0xBEDE, NULL, 0, e, 8, &n), 0);
    ck_assert_int_eq(n, 0);
    const uint8_t pad[4] = {0};
    ck_assert_int_eq(collect(0x1000, pad, 4, e, 8, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert(hc_rtpext_is_two_byte(0x1000) && hc_rtpext_is_two_byte(0x100f));
    ck_assert(!hc_rtpext_is_two_byte(0x1010) && !hc_rtpext_is_two_byte(0xbede));
}
END_TEST

START_TEST(builder_one_byte)
{
    uint8_t buf[32];
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    const uint8_t d1[] = {0xaa}, d2[] = {0xbb, 0xbb}, d3[] = {0xcc, 0xcc, 0xcc, 0xcc};
    ck_assert_int_eq(hc_rtpext_add(&b, 1, d1, 1), 0);
    ck_assert_int_eq(hc_rtpext_add(&b, 2, d2, 2), 0);
    ck_assert_int_eq(hc_rtpext_add(&b, 3, d3, 4), 0);
    uint16_t prof = 0;
    size_t len = 0;
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 12);
    ck_assert_uint_eq(prof, 0xBEDE);
    ck_assert_uint_eq(len, 12);
    const uint8_t want[] = {0x10, 0xaa, 0x21, 0xbb, 0xbb, 0x33, 0xcc, 0xcc, 0xcc, 0xcc, 0x00, 0x00};
    ck_assert_mem_eq(buf, want, sizeof(want));
    /* spent */
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), -HC_EINVAL);
    ck_assert_int_eq(hc_rtpext_add(&b, 1, d1, 1), -HC_EINVAL);
}
END_TEST

START_TEST(builder_two_byte)
{
    uint8_t buf[32];
    hc_rtpext_builder_t b;
    uint16_t prof;
    size_t len;
    const uint8_t dd[] = {0xdd}, de[] = {0xee, 0xee, 0xee, 0xee};

    /* a zero-length element forces the two-byte form */
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 1, NULL, 0), 0);
    ck_assert_int_eq(hc_rtpext_add(&b, 2, dd, 1), 0);
    ck_assert_int_eq(hc_rtpext_add(&b, 3, de, 4), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 12);
    ck_assert_uint_eq(prof, 0x1000);
    const uint8_t want[] = {0x01, 0x00, 0x02, 0x01, 0xdd, 0x03, 0x04, 0xee, 0xee, 0xee, 0xee, 0x00};
    ck_assert_mem_eq(buf, want, sizeof(want));

    /* so does id 15, an id above 14, or a length above 16 */
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 15, dd, 1), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 4);
    ck_assert_uint_eq(prof, 0x1000);
    const uint8_t want15[] = {0x0f, 0x01, 0xdd, 0x00};
    ck_assert_mem_eq(buf, want15, 4);

    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 200, dd, 1), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 4);
    ck_assert_uint_eq(prof, 0x1000);

    uint8_t big[17];
    memset(big, 7, sizeof(big));
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 1, big, 16), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 20); /* 1+16 -> 20 */
    ck_assert_uint_eq(prof, 0xBEDE);
    ck_assert_uint_eq(buf[0], 0x1f);
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 1, big, 17), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 20); /* 2+17 -> 20 */
    ck_assert_uint_eq(prof, 0x1000);
    ck_assert_uint_eq(buf[1], 17);
}
END_TEST

START_TEST(builder_errors)
{
    uint8_t buf[8];
    hc_rtpext_builder_t b;
    uint16_t prof;
    size_t len;
    const uint8_t d[3] = {1, 2, 3};

    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 0);
    ck_assert_uint_eq(prof, 0xBEDE);
    ck_assert_uint_eq(len, 0);

    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 0, d, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), -HC_EINVAL); /* remembered */

    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 1, d, 256), -HC_EINVAL);
    hc_rtpext_builder_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(hc_rtpext_add(&b, 1, NULL, 2), -HC_EINVAL);

    /* while building each element needs 2 + len bytes */
    for (size_t cap = 0; cap < 5; cap++) {
        hc_rtpext_builder_init(&b, buf, cap);
        ck_assert_int_eq(hc_rtpext_add(&b, 1, d, 3), -HC_ENOSPC);
        ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), -HC_ENOSPC);
    }
    hc_rtpext_builder_init(&b, buf, 5);
    ck_assert_int_eq(hc_rtpext_add(&b, 1, d, 3), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 4);
    /* two-byte: 5 bytes padded to 8 must fit at finish */
    for (size_t cap = 5; cap < 8; cap++) {
        hc_rtpext_builder_init(&b, buf, cap);
        ck_assert_int_eq(hc_rtpext_add(&b, 20, d, 3), 0);
        ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), -HC_ENOSPC);
    }
    hc_rtpext_builder_init(&b, buf, 8);
    ck_assert_int_eq(hc_rtpext_add(&b, 20, d, 3), 0);
    ck_assert_int_eq(hc_rtpext_finish(&b, &prof, &len), 8);
    ck_assert_int_eq(hc_rtpext_finish(NULL, &prof, &len), -HC_EINVAL);
    ck_assert_int_eq(hc_rtpext_add(NULL, 1, d, 1), -HC_EINVAL);
}
END_TEST

START_TEST(builder_iter_round_trip)
{
    uint64_t rs = 7;
    uint8_t buf[1024];
    for (int iter = 0; iter < 3000; iter++) {
        elem_t want[20];
        uint8_t store[20][40];
        int nel = (int)(hc_test_rand(&rs) % 20);
        int mode = (int)(hc_test_rand(&rs) % 3); /* 0 one-byte-able, 1 two-byte, 2 mixed */
        hc_rtpext_builder_t b;
        hc_rtpext_builder_init(&b, buf, sizeof(buf));
        bool expect_one = true;
        for (int e = 0; e < nel; e++) {
            uint8_t id;
            size_t l;
            if (mode == 0 || (mode == 2 && hc_test_rand(&rs) % 4 != 0)) {
                id = (uint8_t)(1 + hc_test_rand(&rs) % 14);
                l = 1 + hc_test_rand(&rs) % 16;
            } else {
                id = (uint8_t)(1 + hc_test_rand(&rs) % 255);
                l = hc_test_rand(&rs) % 40;
            }
            if (id > 14 || l < 1 || l > 16) expect_one = false;
            for (size_t k = 0; k < l; k++) store[e][k] = (uint8_t)hc_test_rand(&rs);
            want[e].id = id;
            want[e].len = l;
            want[e].data = store[e];
            ck_assert_int_eq(hc_rtpext_add(&b, id, store[e], l), 0);
        }
        uint16_t prof;
        size_t len;
        int rc = hc_rtpext_finish(&b, &prof, &len);
        ck_assert_int_ge(rc, 0);
        ck_assert_uint_eq(len % 4, 0);
        ck_assert_uint_eq(prof, expect_one ? 0xBEDE : 0x1000);
        elem_t got[20];
        int n;
        ck_assert_int_eq(collect(prof, buf, len, got, 20, &n), 0);
        ck_assert_int_eq(n, nel);
        for (int e = 0; e < nel; e++) {
            ck_assert_uint_eq(got[e].id, want[e].id);
            ck_assert_uint_eq(got[e].len, want[e].len);
            if (want[e].len) ck_assert_mem_eq(got[e].data, want[e].data, want[e].len);
        }
    }
}
END_TEST

/* A packet carrying all four Hillcast extensions at their default IDs. */
START_TEST(hillcast_defaults_in_packet)
{
    uint8_t ext[64], pkt[256], v[16];
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, ext, sizeof(ext));
    ck_assert_int_eq(hc_rtpext_audio_level_write(true, 30, v, sizeof(v)), 1);
    ck_assert_int_eq(hc_rtpext_add(&b, HC_EXT_AUDIO_LEVEL, v, 1), 0);
    ck_assert_int_eq(hc_rtpext_abs_send_time_write(0x123456, v, sizeof(v)), 3);
    ck_assert_int_eq(hc_rtpext_add(&b, HC_EXT_ABS_SEND_TIME, v, 3), 0);
    ck_assert_int_eq(hc_rtpext_twcc_write(0xfffe, v, sizeof(v)), 2);
    ck_assert_int_eq(hc_rtpext_add(&b, HC_EXT_TWCC, v, 2), 0);
    hc_rtpext_capture_time_t ct = {.ntp = 0x0102030405060708ull, .has_offset = false};
    ck_assert_int_eq(hc_rtpext_capture_time_write(&ct, v, sizeof(v)), 8);
    ck_assert_int_eq(hc_rtpext_add(&b, HC_EXT_CAPTURE_TIME, v, 8), 0);

    hc_rtp_hdr_t h = {.pt = 111, .seq = 9, .ts = 10, .ssrc = 11, .extension = true};
    ck_assert_int_eq(hc_rtpext_finish(&b, &h.ext_profile, &h.ext_len), 20);
    h.ext_data = ext;
    const uint8_t payload[] = {0xf8, 0xff, 0xfe};
    int n = hc_rtp_write(&h, payload, sizeof(payload), pkt, sizeof(pkt));
    ck_assert_int_eq(n, 12 + 4 + 20 + 3);

    hc_rtp_hdr_t p;
    ck_assert_int_eq(hc_rtp_parse(pkt, (size_t)n, &p), 36);
    const uint8_t *d;
    size_t l;
    bool voice;
    uint8_t level;
    ck_assert_int_eq(hc_rtpext_find(&p, HC_EXT_AUDIO_LEVEL, &d, &l), 1);
    ck_assert_int_eq(hc_rtpext_audio_level_parse(d, l, &voice, &level), 1);
    ck_assert(voice);
    ck_assert_uint_eq(level, 30);
    uint32_t ast;
    ck_assert_int_eq(hc_rtpext_find(&p, HC_EXT_ABS_SEND_TIME, &d, &l), 1);
    ck_assert_int_eq(hc_rtpext_abs_send_time_parse(d, l, &ast), 3);
    ck_assert_uint_eq(ast, 0x123456);
    uint16_t tw;
    ck_assert_int_eq(hc_rtpext_find(&p, HC_EXT_TWCC, &d, &l), 1);
    ck_assert_int_eq(hc_rtpext_twcc_parse(d, l, &tw), 2);
    ck_assert_uint_eq(tw, 0xfffe);
    hc_rtpext_capture_time_t ct2;
    ck_assert_int_eq(hc_rtpext_find(&p, HC_EXT_CAPTURE_TIME, &d, &l), 1);
    ck_assert_int_eq(hc_rtpext_capture_time_parse(d, l, &ct2), 8);
    ck_assert_uint_eq(ct2.ntp, 0x0102030405060708ull);
    ck_assert(!ct2.has_offset);
    ck_assert_int_eq(hc_rtpext_find(&p, 9, &d, &l), 0);

    /* no extension block: not found; unknown profile: unsupported */
    hc_rtp_hdr_t q = p;
    q.extension = false;
    ck_assert_int_eq(hc_rtpext_find(&q, HC_EXT_TWCC, &d, &l), 0);
    q = p;
    q.ext_profile = 0xabcd;
    ck_assert_int_eq(hc_rtpext_find(&q, HC_EXT_TWCC, &d, &l), -HC_EUNSUPPORTED);
    ck_assert_int_eq(hc_rtpext_find(NULL, 1, &d, &l), -HC_EINVAL);
    ck_assert_str_eq(HC_EXT_URI_TWCC,
                     "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01");
}
END_TEST

START_TEST(audio_level_codec)
{
    bool voice;
    uint8_t level, out[1];
    const uint8_t v1[] = {0xaa}; /* V=1, level 42 */
    ck_assert_int_eq(hc_rtpext_audio_level_parse(v1, 1, &voice, &level), 1);
    ck_assert(voice);
    ck_assert_uint_eq(level, 42);
    const uint8_t v2[] = {0x7f}; /* V=0, level 127 (silence) */
    ck_assert_int_eq(hc_rtpext_audio_level_parse(v2, 1, &voice, &level), 1);
    ck_assert(!voice);
    ck_assert_uint_eq(level, 127);
    ck_assert_int_eq(hc_rtpext_audio_level_parse(v1, 0, &voice, &level), -HC_ETRUNC);
    const uint8_t two[] = {0xaa, 0x00};
    ck_assert_int_eq(hc_rtpext_audio_level_parse(two, 2, &voice, &level), -HC_EMALFORMED);
    ck_assert_int_eq(hc_rtpext_audio_level_write(true, 42, out, 1), 1);
    ck_assert_uint_eq(out[0], 0xaa);
    ck_assert_int_eq(hc_rtpext_audio_level_write(false, 0, out, 1), 1);
    ck_assert_uint_eq(out[0], 0x00);
    ck_assert_int_eq(hc_rtpext_audio_level_write(false, 128, out, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rtpext_audio_level_write(false, 1, out, 0), -HC_ENOSPC);
}
END_TEST

START_TEST(abs_send_time_codec)
{
    uint32_t v;
    uint8_t out[3];
    /* 1.5 s in 6.18 fixed point is 1.5 * 2^18 = 0x060000 */
    const uint8_t w[] = {0x06, 0x00, 0x00};
    ck_assert_int_eq(hc_rtpext_abs_send_time_parse(w, 3, &v), 3);
    ck_assert_uint_eq(v, 0x060000);
    ck_assert_uint_eq(hc_rtpext_abs_send_time_to_us(v), 1500000);
    ck_assert_uint_eq(hc_rtpext_abs_send_time_from_us(1500000), 0x060000);
    /* modulo 64 s */
    ck_assert_uint_eq(hc_rtpext_abs_send_time_from_us(64000000ull * 1000 + 1500000), 0x060000);
    ck_assert_uint_eq(hc_rtpext_abs_send_time_from_us(0), 0);
    ck_assert_uint_eq(hc_rtpext_abs_send_time_from_us(63999999), 0); /* rounds to 64 s */
    ck_assert_uint_eq(hc_rtpext_abs_send_time_to_us(0xffffff), 63999996);
    ck_assert_int_eq(hc_rtpext_abs_send_time_write(0x060000, out, 3), 3);
    ck_assert_mem_eq(out, w, 3);
    ck_assert_int_eq(hc_rtpext_abs_send_time_write(0x1000000, out, 3), -HC_EINVAL);
    for (size_t cap = 0; cap < 3; cap++)
        ck_assert_int_eq(hc_rtpext_abs_send_time_write(1, out, cap), -HC_ENOSPC);
    for (size_t n = 0; n < 3; n++)
        ck_assert_int_eq(hc_rtpext_abs_send_time_parse(w, n, &v), -HC_ETRUNC);
    const uint8_t w4[] = {0, 0, 0, 0};
    ck_assert_int_eq(hc_rtpext_abs_send_time_parse(w4, 4, &v), -HC_EMALFORMED);
    /* resolution is 2^-18 s (about 3.8 us): round trips stay within 2 us */
    for (uint64_t us = 0; us < 64000000; us += 9973) {
        uint64_t back = hc_rtpext_abs_send_time_to_us(hc_rtpext_abs_send_time_from_us(us));
        int64_t err = (int64_t)back - (int64_t)us;
        ck_assert_int_le(err, 2);
        ck_assert_int_ge(err, -2);
    }
}
END_TEST

START_TEST(twcc_codec)
{
    uint16_t s;
    uint8_t out[2];
    const uint8_t w[] = {0x12, 0x34};
    ck_assert_int_eq(hc_rtpext_twcc_parse(w, 2, &s), 2);
    ck_assert_uint_eq(s, 0x1234);
    ck_assert_int_eq(hc_rtpext_twcc_write(0x1234, out, 2), 2);
    ck_assert_mem_eq(out, w, 2);
    ck_assert_int_eq(hc_rtpext_twcc_parse(w, 0, &s), -HC_ETRUNC);
    ck_assert_int_eq(hc_rtpext_twcc_parse(w, 1, &s), -HC_ETRUNC);
    const uint8_t w3[] = {1, 2, 3};
    ck_assert_int_eq(hc_rtpext_twcc_parse(w3, 3, &s), -HC_EMALFORMED);
    ck_assert_int_eq(hc_rtpext_twcc_write(1, out, 1), -HC_ENOSPC);
    ck_assert_int_eq(hc_rtpext_twcc_parse(NULL, 2, &s), -HC_EINVAL);
}
END_TEST

START_TEST(capture_time_codec)
{
    /* Unix time 1.5 s: NTP seconds 2208988801 = 0x83aa7e81, fraction 0.5 */
    const uint8_t w16[] = {
        0x83, 0xaa, 0x7e, 0x81, 0x80, 0x00, 0x00, 0x00, /* capture timestamp */
        0xff, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, /* offset -0.5 s */
    };
    hc_rtpext_capture_time_t ct;
    ck_assert_int_eq(hc_rtpext_capture_time_parse(w16, 8, &ct), 8);
    ck_assert_uint_eq(ct.ntp, 0x83aa7e8180000000ull);
    ck_assert(!ct.has_offset);
    ck_assert_uint_eq(hc_rtpext_ntp_to_unix_us(ct.ntp), 1500000);
    ck_assert_int_eq(hc_rtpext_capture_time_parse(w16, 16, &ct), 16);
    ck_assert(ct.has_offset);
    ck_assert_int_eq(ct.offset, -0x80000000LL);
    ck_assert_int_eq(hc_rtpext_q32_to_us(ct.offset), -500000);

    uint8_t out[16];
    ck_assert_int_eq(hc_rtpext_capture_time_write(&ct, out, 16), 16);
    ck_assert_mem_eq(out, w16, 16);
    for (size_t cap = 0; cap < 16; cap++)
        ck_assert_int_eq(hc_rtpext_capture_time_write(&ct, out, cap), -HC_ENOSPC);
    ct.has_offset = false;
    ck_assert_int_eq(hc_rtpext_capture_time_write(&ct, out, 8), 8);
    ck_assert_mem_eq(out, w16, 8);

    for (size_t n = 0; n < 8; n++) {
        uint8_t *b = malloc(n ? n : 1);
        memcpy(b, w16, n);
        ck_assert_int_eq(hc_rtpext_capture_time_parse(b, n, &ct), -HC_ETRUNC);
        free(b);
    }
    uint8_t w17[17] = {0};
    for (size_t n = 9; n <= 17; n++) {
        if (n == 16) continue;
        ck_assert_int_eq(hc_rtpext_capture_time_parse(w17, n, &ct), -HC_EMALFORMED);
    }
}
END_TEST

START_TEST(ntp_conversions)
{
    ck_assert_uint_eq(hc_rtpext_ntp_from_unix_us(0), 0x83aa7e8000000000ull);
    ck_assert_uint_eq(hc_rtpext_ntp_to_unix_us(0x83aa7e8000000000ull), 0);
    /* 2024-01-01T00:00:00Z = Unix 1704067200 = NTP 0xe93c7f00 */
    ck_assert_uint_eq(hc_rtpext_ntp_from_unix_us(1704067200ull * 1000000), 0xe93c7f0000000000ull);
    /* quarter second */
    ck_assert_uint_eq(hc_rtpext_ntp_from_unix_us(1704067200ull * 1000000 + 250000),
                      0xe93c7f0040000000ull);
    /* NTP era 1 (after 2036-02-07T06:28:16Z): seconds restart at 0 */
    ck_assert_uint_eq(hc_rtpext_ntp_to_unix_us(0), 2085978496ull * 1000000);
    ck_assert_uint_eq(hc_rtpext_ntp_from_unix_us(2085978496ull * 1000000 + 1), 4295);
    /* round trips to the microsecond, both eras */
    uint64_t rs = 99;
    for (int i = 0; i < 10000; i++) {
        uint64_t us = hc_test_rand(&rs) % (4000000000ull * 1000000);
        ck_assert_uint_eq(hc_rtpext_ntp_to_unix_us(hc_rtpext_ntp_from_unix_us(us)), us);
    }
    /* signed Q32.32 */
    ck_assert_int_eq(hc_rtpext_q32_from_us(1), 4295);
    ck_assert_int_eq(hc_rtpext_q32_to_us(4295), 1);
    ck_assert_int_eq(hc_rtpext_q32_from_us(-500000), -0x80000000LL);
    ck_assert_int_eq(hc_rtpext_q32_from_us(2500000), 0x280000000LL);
    ck_assert_int_eq(hc_rtpext_q32_to_us(INT64_MIN), -2147483648LL * 1000000);
    ck_assert_int_eq(hc_rtpext_q32_from_us(INT64_MAX), INT64_MAX);
    ck_assert_int_eq(hc_rtpext_q32_from_us(INT64_MIN), INT64_MIN);
    for (int i = 0; i < 10000; i++) {
        int64_t us = (int64_t)(hc_test_rand(&rs) % 4000000000000ull) - 2000000000000LL;
        ck_assert_int_eq(hc_rtpext_q32_to_us(hc_rtpext_q32_from_us(us)), us);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rtpext");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, iter_rfc8285_one_byte);
    tcase_add_test(tc, iter_rfc8285_two_byte);
    tcase_add_test(tc, iter_truncation);
    tcase_add_test(tc, iter_id15_stops);
    tcase_add_test(tc, iter_errors);
    tcase_add_test(tc, builder_one_byte);
    tcase_add_test(tc, builder_two_byte);
    tcase_add_test(tc, builder_errors);
    tcase_add_test(tc, builder_iter_round_trip);
    tcase_add_test(tc, hillcast_defaults_in_packet);
    tcase_add_test(tc, audio_level_codec);
    tcase_add_test(tc, abs_send_time_codec);
    tcase_add_test(tc, twcc_codec);
    tcase_add_test(tc, capture_time_codec);
    tcase_add_test(tc, ntp_conversions);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
