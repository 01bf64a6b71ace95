/*
 * test_h264.c - Annex-B scanner, RFC 6184 packetizer and depacketizer.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* Check records every passing ck_assert with a write(2); loops over thousands of packets use
 * this instead, which only reports failures. */
#define REQ(c)                                                                                     \
    do {                                                                                           \
        if (!(c)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);                               \
    } while (0)

typedef struct {
    uint8_t *data; /* exactly len bytes on the heap, so ASan sees over-reads */
    size_t len;
    bool marker;
    uint16_t seq;
    uint32_t ts;
} pkt_t;

typedef struct {
    pkt_t *p;
    size_t n, cap;
} pkts_t;

static void pkts_add(pkts_t *v, const uint8_t *d, size_t len, bool marker, uint16_t seq,
                     uint32_t ts)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->p = realloc(v->p, v->cap * sizeof *v->p);
        REQ(v->p != NULL);
    }
    pkt_t *p = &v->p[v->n++];
    p->data = malloc(len ? len : 1);
    REQ(p->data != NULL);
    memcpy(p->data, d, len);
    p->len = len;
    p->marker = marker;
    p->seq = seq;
    p->ts = ts;
}

static void pkts_free(pkts_t *v)
{
    for (size_t i = 0; i < v->n; i++) free(v->p[i].data);
    free(v->p);
    memset(v, 0, sizeof *v);
}

/* Packetize one AU, appending its packets; checks the packetizer's own invariants. */
static size_t pack_au(pkts_t *v, const uint8_t *au, size_t len, size_t mtu, uint16_t *seq,
                      uint32_t ts)
{
    hc_h264_pack_t p;
    REQ(hc_h264_pack_init(&p, au, len, mtu) == 0);
    uint8_t *buf = malloc(mtu);
    REQ(buf != NULL);
    size_t count = 0;
    bool marker = false, last_marker = false;
    int rc;
    while ((rc = hc_h264_pack_next(&p, buf, mtu, &marker)) > 0) {
        REQ((size_t)rc <= mtu);
        REQ(!last_marker); /* nothing after the marker */
        pkts_add(v, buf, (size_t)rc, marker, (*seq)++, ts);
        last_marker = marker;
        count++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert(last_marker);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, mtu, &marker), 0);
    free(buf);
    return count;
}

/* Build an Annex-B AU with four-byte start codes, the depacketizer's output form. */
static size_t mk_au(uint8_t *au, const uint8_t *const *nals, const size_t *lens, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        REQ(hc_h264_annexb_append(au, SIZE_MAX, &w, nals[i], lens[i]) == (int)(4 + lens[i]));
    }
    return w;
}

/* A random NAL unit without zero bytes (so no start code emulation) of a chosen type. */
static void rand_nal(uint64_t *rs, uint8_t *nal, size_t len, int type)
{
    nal[0] = (uint8_t)(((hc_test_rand(rs) % 4) << 5) | (unsigned)type);
    for (size_t i = 1; i < len; i++) nal[i] = (uint8_t)(1 + hc_test_rand(rs) % 255);
}

/* A random AU: optional SPS+PPS, then 1..4 slices of the given type, sizes up to max_slice. */
static size_t rand_au(uint64_t *rs, uint8_t *au, bool key, size_t max_slice)
{
    uint8_t nal[20000];
    size_t w = 0;
    size_t n;
    if (key) {
        n = 10 + hc_test_rand(rs) % 20;
        rand_nal(rs, nal, n, HC_H264_NAL_SPS);
        hc_h264_annexb_append(au, SIZE_MAX, &w, nal, n);
        rand_nal(rs, nal, 4, HC_H264_NAL_PPS);
        hc_h264_annexb_append(au, SIZE_MAX, &w, nal, 4);
    }
    if (hc_test_rand(rs) % 3 == 0) {
        n = 1 + hc_test_rand(rs) % 30;
        rand_nal(rs, nal, n, HC_H264_NAL_SEI);
        hc_h264_annexb_append(au, SIZE_MAX, &w, nal, n);
    }
    int slices = 1 + (int)(hc_test_rand(rs) % 4);
    for (int s = 0; s < slices; s++) {
        n = 1 + hc_test_rand(rs) % max_slice;
        rand_nal(rs, nal, n, key ? HC_H264_NAL_IDR : HC_H264_NAL_SLICE);
        hc_h264_annexb_append(au, SIZE_MAX, &w, nal, n);
    }
    return w;
}

/* Push with an exactly sized heap copy of the payload. */
static int push(hc_h264_depack_t *d, const pkt_t *p, hc_h264_frame_t *f)
{
    uint8_t *c = malloc(p->len ? p->len : 1);
    REQ(c != NULL);
    memcpy(c, p->data, p->len);
    int rc = hc_h264_depack_push(d, p->seq, p->ts, p->marker, c, p->len, f);
    free(c);
    return rc;
}

static int push_raw(hc_h264_depack_t *d, uint16_t seq, uint32_t ts, bool marker, const char *hex,
                    hc_h264_frame_t *f)
{
    uint8_t b[2048];
    int n = hc_test_hex(hex, b, sizeof b);
    ck_assert_int_ge(n, 0);
    pkt_t p = {b, (size_t)n, marker, seq, ts};
    return push(d, &p, f);
}

static void assert_bytes(const uint8_t *got, size_t got_len, const char *hex)
{
    uint8_t want[4096];
    int n = hc_test_hex(hex, want, sizeof want);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq(got_len, (size_t)n);
    ck_assert_mem_eq(got, want, (size_t)n);
}

static uint8_t g_frame[1 << 20];

/* ---- Annex-B ------------------------------------------------------------------------------ */

START_TEST(annexb_scan)
{
    /* leading zero, 4-byte and 3-byte start codes, an empty NAL, trailing zeros, a NAL with
     * emulation prevention (00 00 03) that must not split */
    uint8_t b[64];
    int n = hc_test_hex("00 00 00 00 01 67 42 | 00 00 01 68 ce | 00 00 01 | 00 00 00 01"
                        " 65 88 00 00 03 00 01 84 00 00 | 00 00 01 06 05",
                        b, sizeof b);
    hc_h264_annexb_t it;
    const uint8_t *nal;
    size_t len;
    hc_h264_annexb_init(&it, b, (size_t)n);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 1);
    assert_bytes(nal, len, "67 42");
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 1);
    assert_bytes(nal, len, "68 ce");
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 1);
    assert_bytes(nal, len, "65 88 00 00 03 00 01 84");
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 1);
    assert_bytes(nal, len, "06 05");
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 0);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 0);
}
END_TEST

START_TEST(annexb_errors)
{
    uint8_t b[16];
    hc_h264_annexb_t it;
    const uint8_t *nal;
    size_t len;
    int n = hc_test_hex("67 42 00 1f", b, sizeof b); /* no start code */
    hc_h264_annexb_init(&it, b, (size_t)n);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), -HC_EMALFORMED);
    n = hc_test_hex("ff 00 00 01 67", b, sizeof b); /* garbage before the start code */
    hc_h264_annexb_init(&it, b, (size_t)n);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), -HC_EMALFORMED);
    hc_h264_annexb_init(&it, b, 0);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), -HC_EMALFORMED);
    n = hc_test_hex("00 00 01", b, sizeof b); /* a start code and nothing else */
    hc_h264_annexb_init(&it, b, (size_t)n);
    ck_assert_int_eq(hc_h264_annexb_next(&it, &nal, &len), 0);
    ck_assert_int_eq(hc_h264_au_flags(b, 2), -HC_EMALFORMED);
    ck_assert(!hc_h264_au_is_keyframe(b, 2));
}
END_TEST

START_TEST(annexb_truncated_scan)
{
    /* Every prefix of a valid AU scans without reading past its end. */
    uint8_t b[64];
    int n = hc_test_hex("00 00 00 01 67 42 c0 1f 00 00 01 68 ce 3c 80 00 00 00 01 65 88 84", b,
                        sizeof b);
    for (int cut = 0; cut < n; cut++) {
        uint8_t *c = malloc((size_t)cut + 1);
        memcpy(c, b, (size_t)cut);
        hc_h264_annexb_t it;
        const uint8_t *nal;
        size_t len, total = 0;
        int rc;
        hc_h264_annexb_init(&it, c, (size_t)cut);
        while ((rc = hc_h264_annexb_next(&it, &nal, &len)) == 1) {
            ck_assert(nal >= c && nal + len <= c + cut);
            total += len;
        }
        ck_assert_int_le(rc, 0);
        ck_assert_uint_le(total, (size_t)cut);
        if (cut < 3) ck_assert_int_lt(rc, 0);
        free(c);
    }
}
END_TEST

START_TEST(annexb_append)
{
    uint8_t buf[16];
    const uint8_t nal[] = {0x65, 0x88, 0x84};
    for (size_t cap = 0; cap < 7; cap++) {
        size_t pos = 0;
        ck_assert_int_eq(hc_h264_annexb_append(buf, cap, &pos, nal, 3), -HC_ENOSPC);
        ck_assert_uint_eq(pos, 0);
    }
    size_t pos = 0;
    ck_assert_int_eq(hc_h264_annexb_append(buf, 7, &pos, nal, 3), 7);
    ck_assert_uint_eq(pos, 7);
    assert_bytes(buf, pos, "00 00 00 01 65 88 84");
    ck_assert_int_eq(hc_h264_annexb_append(buf, 16, &pos, nal, 0), -HC_EINVAL);
    pos = 17;
    ck_assert_int_eq(hc_h264_annexb_append(buf, 16, &pos, nal, 3), -HC_ENOSPC);
}
END_TEST

START_TEST(au_flags)
{
    uint8_t b[64];
    int n = hc_test_hex("00 00 00 01 67 42 00 00 00 01 68 ce 00 00 00 01 65 88", b, sizeof b);
    ck_assert_int_eq(hc_h264_au_flags(b, (size_t)n),
                     HC_H264_AU_SPS | HC_H264_AU_PPS | HC_H264_AU_IDR);
    ck_assert(hc_h264_au_is_keyframe(b, (size_t)n));
    n = hc_test_hex("00 00 01 41 9a 00 00 01 06 05", b, sizeof b);
    ck_assert_int_eq(hc_h264_au_flags(b, (size_t)n), HC_H264_AU_SLICE);
    ck_assert(!hc_h264_au_is_keyframe(b, (size_t)n));
    ck_assert_int_eq(hc_h264_nal_type(0x65), HC_H264_NAL_IDR);
    ck_assert_int_eq(hc_h264_nal_nri(0x65), 3);
    ck_assert_int_eq(hc_h264_nal_nri(0x41), 2);
}
END_TEST

/* RTP payloads: single NAL, STAP-A units up to a bad size, FU-A first
 * fragment only; every truncation stays in bounds. */
START_TEST(rtp_flags)
{
    uint8_t b[32];
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x65\x88", 2), HC_H264_AU_IDR);
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x41\x9a", 2), HC_H264_AU_SLICE);
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x06\x05", 2), 0);
    int n = hc_test_hex("78 00 02 67 42 00 02 68 ce 00 02 65 88", b, sizeof b);
    ck_assert_int_eq(hc_h264_rtp_flags(b, (size_t)n),
                     HC_H264_AU_SPS | HC_H264_AU_PPS | HC_H264_AU_IDR);
    for (int k = 0; k < n; k++) {
        uint8_t *t = malloc((size_t)k + 1);
        memcpy(t, b, (size_t)k);
        int f = hc_h264_rtp_flags(k ? t : NULL, (size_t)k);
        ck_assert_int_eq(f & ~(HC_H264_AU_SPS | HC_H264_AU_PPS), 0); /* the IDR is cut off */
        free(t);
    }
    n = hc_test_hex("78 00 02 67 42 00 09 65", b, sizeof b); /* second size too large */
    ck_assert_int_eq(hc_h264_rtp_flags(b, (size_t)n), HC_H264_AU_SPS);
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x7c\x85\x01", 3), HC_H264_AU_IDR);
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x7c\x05\x01", 3), 0); /* middle */
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x7c\x81\x01", 3), HC_H264_AU_SLICE);
    ck_assert_int_eq(hc_h264_rtp_flags((const uint8_t *)"\x7c", 1), 0);
    ck_assert_int_eq(hc_h264_rtp_flags(NULL, 0), 0);
}
END_TEST

/* ---- packetizer --------------------------------------------------------------------------- */

START_TEST(pack_single_nal)
{
    uint8_t au[32], buf[64];
    int n = hc_test_hex("00 00 00 01 41 9a 21 6c", au, sizeof au);
    hc_h264_pack_t p;
    bool m;
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 1200), 0);
    int rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    ck_assert_int_eq(rc, 4);
    assert_bytes(buf, 4, "41 9a 21 6c"); /* 5.6: the NAL unit itself, start code removed */
    ck_assert(m);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, sizeof buf, &m), 0);
    ck_assert(!m);
    /* exactly the MTU: still one packet */
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 4), 0);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, sizeof buf, &m), 4);
    ck_assert(m);
}
END_TEST

START_TEST(pack_stap_a_and_fu_a_vector)
{
    /* SPS + PPS + a 10-byte IDR at a payload MTU of 20: STAP-A (5.7.1) then FU-A (5.8). */
    uint8_t au[64], buf[64];
    int n = hc_test_hex("00 00 00 01 67 42 c0 1f 8c 8d | 00 00 00 01 68 ce 3c 80 |"
                        " 00 00 00 01 65 01 02 03 04 05 06 07 08 09",
                        au, sizeof au);
    hc_h264_pack_t p;
    bool m;
    int rc;
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 8), 0);
    /* MTU 8: SPS (6) alone, PPS (4) alone, IDR (10) in FU-As of 6 bytes of payload. */
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "67 42 c0 1f 8c 8d");
    ck_assert(!m);
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "68 ce 3c 80");
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "7c 85 01 02 03 04 05 06"); /* FU indicator NRI=3, S */
    ck_assert(!m);
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "7c 45 07 08 09"); /* E, marker */
    ck_assert(m);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, sizeof buf, &m), 0);

    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 20), 0);
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    /* STAP-A: F=0, NRI=max(3,3), type 24; then 16-bit sizes */
    assert_bytes(buf, (size_t)rc, "78 0006 67 42 c0 1f 8c 8d 0004 68 ce 3c 80");
    ck_assert(!m); /* the IDR would not fit as well: 1+8+6+12 = 27 > 20 */
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "65 01 02 03 04 05 06 07 08 09");
    ck_assert(m);

    /* A big enough MTU puts the whole AU in one STAP-A with the marker. */
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 1200), 0);
    rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc,
                 "78 0006 67 42 c0 1f 8c 8d 0004 68 ce 3c 80 000a 65 01 02 03 04 05 06 07 08 09");
    ck_assert(m);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, sizeof buf, &m), 0);
}
END_TEST

START_TEST(pack_stap_a_header_bits)
{
    /* NRI is the largest of the units, F the OR of theirs (5.7.1). */
    uint8_t au[32], buf[64];
    int n = hc_test_hex("00 00 01 06 05 | 00 00 01 a1 77 | 00 00 01 09 f0", au, sizeof au);
    hc_h264_pack_t p;
    bool m;
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 100), 0);
    int rc = hc_h264_pack_next(&p, buf, sizeof buf, &m);
    assert_bytes(buf, (size_t)rc, "b8 0002 06 05 0002 a1 77 0002 09 f0");
    ck_assert(m);
}
END_TEST

START_TEST(pack_fu_a_every_mtu)
{
    /* A 3000-byte IDR at every payload MTU from 3 to 1500. */
    static uint8_t au[4000];
    uint64_t rs = 7;
    uint8_t nal[3000];
    rand_nal(&rs, nal, sizeof nal, HC_H264_NAL_IDR);
    size_t w = 0;
    hc_h264_annexb_append(au, sizeof au, &w, nal, sizeof nal);
    uint8_t *buf = malloc(1500);
    uint8_t *re = malloc(sizeof nal);
    for (size_t mtu = HC_H264_MTU_MIN; mtu <= 1500; mtu++) {
        hc_h264_pack_t p;
        REQ(hc_h264_pack_init(&p, au, w, mtu) == 0);
        size_t frags = 0, rl = 1;
        bool m = false, last_m = false;
        int rc;
        re[0] = nal[0];
        while ((rc = hc_h264_pack_next(&p, buf, mtu, &m)) > 0) {
            REQ((size_t)rc <= mtu);
            REQ(rc >= 3);
            REQ(buf[0] == ((nal[0] & 0xe0) | HC_H264_NAL_FU_A));
            size_t left = sizeof nal - rl;
            bool last = (size_t)rc - 2 == left;
            REQ(buf[1] == ((frags == 0 ? 0x80 : 0) | (last ? 0x40 : 0) | 5));
            REQ(m == last);
            last_m = m;
            memcpy(re + rl, buf + 2, (size_t)rc - 2);
            rl += (size_t)rc - 2;
            frags++;
        }
        ck_assert_int_eq(rc, 0);
        ck_assert(last_m);
        ck_assert_uint_eq(rl, sizeof nal);
        ck_assert_mem_eq(re, nal, sizeof nal);
        ck_assert_uint_eq(frags, (sizeof nal - 1 + mtu - 3) / (mtu - 2));
    }
    free(buf);
    free(re);
}
END_TEST

START_TEST(pack_marker_placement)
{
    /* For random AUs at many MTUs: exactly one marker, on the last packet. */
    static uint8_t au[100000];
    uint64_t rs = 11;
    const size_t mtus[] = {3, 4, 7, 16, 50, 100, 300, 576, 1200, 1400, 9000, 65535};
    for (int i = 0; i < 40; i++) {
        size_t len = rand_au(&rs, au, i % 5 == 0, 6000);
        for (size_t k = 0; k < sizeof mtus / sizeof mtus[0]; k++) {
            pkts_t v = {0};
            uint16_t seq = 0;
            size_t n = pack_au(&v, au, len, mtus[k], &seq, 0);
            ck_assert_uint_eq(n, v.n);
            for (size_t j = 0; j < v.n; j++) REQ(v.p[j].marker == (j + 1 == v.n));
            pkts_free(&v);
        }
    }
}
END_TEST

START_TEST(pack_errors)
{
    uint8_t au[32], buf[8];
    hc_h264_pack_t p;
    bool m;
    int n = hc_test_hex("00 00 00 01 65 01 02 03 04 05 06 07 08 09", au, sizeof au);
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 2), -HC_EINVAL);
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 65536), -HC_EINVAL);
    ck_assert_int_eq(hc_h264_pack_init(NULL, au, (size_t)n, 1200), -HC_EINVAL);
    ck_assert_int_eq(hc_h264_pack_init(&p, NULL, 4, 1200), -HC_EINVAL);
    ck_assert_int_eq(hc_h264_pack_init(&p, au + 4, (size_t)n - 4, 1200), -HC_EMALFORMED);
    ck_assert_int_eq(hc_h264_pack_init(&p, au, 4, 1200), -HC_EMALFORMED); /* no NAL */
    /* transport-only NAL types cannot be sent as they are */
    const char *bad[] = {"00 00 01 78 00 01 02", "00 00 01 7c 85 01", "00 00 01 00 01",
                         "00 00 01 1f 01", "00 00 01 41 01 00 00 01 19 02"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int k = hc_test_hex(bad[i], au, sizeof au);
        ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)k, 1200), -HC_EMALFORMED);
    }
    /* A too-small output buffer consumes nothing. */
    n = hc_test_hex("00 00 00 01 65 01 02 03 04 05 06 07 08 09", au, sizeof au);
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 6), 0);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, 5, &m), -HC_ENOSPC);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, 6, &m), 6);
    assert_bytes(buf, 6, "7c 85 01 02 03 04");
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 100), 0);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, 8, &m), -HC_ENOSPC);
    n = hc_test_hex("00 00 01 06 05 00 00 01 09 f0", au, sizeof au);
    ck_assert_int_eq(hc_h264_pack_init(&p, au, (size_t)n, 100), 0);
    ck_assert_int_eq(hc_h264_pack_next(&p, buf, 8, &m), -HC_ENOSPC); /* STAP-A needs 9 */
    ck_assert_int_eq(hc_h264_pack_next(&p, NULL, 8, &m), -HC_EINVAL);
}
END_TEST

/* ---- depacketizer ------------------------------------------------------------------------- */

START_TEST(depack_vectors)
{
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    ck_assert(hc_h264_depack_need_keyframe(&d));
    /* STAP-A with SPS+PPS, then an IDR in three FU-As, the last with the marker */
    ck_assert_int_eq(push_raw(&d, 100, 9000, false, "78 0004 67 42 c0 1f 0003 68 ce 3c", &f), 0);
    ck_assert_int_eq(push_raw(&d, 101, 9000, false, "7c 85 01 02", &f), 0);
    ck_assert_int_eq(push_raw(&d, 102, 9000, false, "7c 05 03 04", &f), 0);
    ck_assert_int_eq(push_raw(&d, 103, 9000, true, "7c 45 05", &f), 1);
    assert_bytes(f.data, f.len,
                 "00000001 67 42 c0 1f 00000001 68 ce 3c 00000001 65 01 02 03 04 05");
    ck_assert(f.complete && f.marker && f.keyframe && f.has_sps && f.has_pps);
    ck_assert_uint_eq(f.ts, 9000);
    ck_assert_uint_eq(f.first_seq, 100);
    ck_assert_uint_eq(f.last_seq, 103);
    ck_assert_uint_eq(f.packets, 4);
    ck_assert_uint_eq(f.nal_count, 3);
    ck_assert(!hc_h264_depack_need_keyframe(&d));
    /* a single NAL unit packet with the marker */
    ck_assert_int_eq(push_raw(&d, 104, 12000, true, "41 9a 02", &f), 1);
    assert_bytes(f.data, f.len, "00000001 41 9a 02");
    ck_assert(f.complete && !f.keyframe && !f.has_sps);
    ck_assert_uint_eq(f.packets, 1);
    /* the F bit and NRI come back from the FU indicator, the type from the FU header */
    ck_assert_int_eq(push_raw(&d, 105, 15000, false, "bc 81 aa", &f), 0);
    ck_assert_int_eq(push_raw(&d, 106, 15000, true, "bc 41 bb", &f), 1);
    assert_bytes(f.data, f.len, "00000001 a1 aa bb");
    /* the R bit is ignored */
    ck_assert_int_eq(push_raw(&d, 107, 18000, false, "5c a1 aa", &f), 0);
    ck_assert_int_eq(push_raw(&d, 108, 18000, true, "5c 61 bb", &f), 1);
    assert_bytes(f.data, f.len, "00000001 41 aa bb");
    ck_assert(f.complete);
    ck_assert_uint_eq(d.stats.frames, 4);
    ck_assert_uint_eq(d.stats.gaps, 0);
}
END_TEST

START_TEST(depack_roundtrip_random)
{
    /* Random AUs at many MTUs, through pack and depack, across a sequence number wrap. */
    static uint8_t au[40][30000];
    size_t au_len[40];
    uint64_t rs = 42;
    const size_t mtus[] = {3, 4, 5, 10, 50, 100, 300, 576, 1200, 1400, 5000, 65535};
    for (int i = 0; i < 40; i++) au_len[i] = rand_au(&rs, au[i], i % 10 == 0, 6000);
    for (size_t k = 0; k < sizeof mtus / sizeof mtus[0]; k++) {
        pkts_t v = {0};
        uint16_t seq = (uint16_t)(65500 - k * 100);
        /* tiny MTUs make a packet per byte: fewer AUs keep the test quick */
        int aus = mtus[k] < 50 ? 10 : 40;
        for (int i = 0; i < aus; i++) pack_au(&v, au[i], au_len[i], mtus[k], &seq, 3000u * i);
        hc_h264_depack_t d;
        hc_h264_frame_t f, g;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        int got = 0;
        for (size_t j = 0; j < v.n; j++) {
            int rc = push(&d, &v.p[j], &f);
            REQ(rc >= 0);
            REQ(hc_h264_depack_pop(&d, &g) == 0); /* nothing waits */
            if (rc == 1) {
                ck_assert(f.complete && f.marker);
                ck_assert_uint_eq(f.ts, 3000u * got);
                ck_assert_uint_eq(f.len, au_len[got]);
                ck_assert_mem_eq(f.data, au[got], f.len);
                ck_assert(f.keyframe == (got % 10 == 0));
                ck_assert(f.has_sps == (got % 10 == 0));
                got++;
            }
        }
        ck_assert_int_eq(got, aus);
        ck_assert_uint_eq(d.stats.gaps + d.stats.malformed + d.stats.dropped, 0);
        ck_assert(!hc_h264_depack_need_keyframe(&d));
        pkts_free(&v);
    }
}
END_TEST

START_TEST(depack_roundtrip_zero_bytes)
{
    /* NAL units with emulation prevention bytes (00 00 03) and one-byte NAL units survive
     * every MTU; the AU is given with three-byte start codes and comes back with four. */
    static const uint8_t sps[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0x00, 0x00, 0x03, 0x00, 0x01};
    static const uint8_t pps[] = {0x68, 0xee, 0x3c, 0xb0};
    static const uint8_t idr[] = {0x65, 0x88, 0x80, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x01,
                                  0x00, 0x00, 0x03, 0x02, 0x10, 0x00, 0x00, 0x03, 0x03, 0x80};
    static const uint8_t eos[] = {0x0a};
    const uint8_t *nals[] = {sps, pps, idr, eos};
    const size_t lens[] = {sizeof sps, sizeof pps, sizeof idr, sizeof eos};
    uint8_t want[128], in[128];
    size_t wl = mk_au(want, nals, lens, 4);
    size_t il = 0;
    for (size_t i = 0; i < 4; i++) {
        in[il++] = 0;
        in[il++] = 0;
        in[il++] = 1;
        memcpy(in + il, nals[i], lens[i]);
        il += lens[i];
    }
    for (size_t mtu = HC_H264_MTU_MIN; mtu <= 64; mtu++) {
        pkts_t v = {0};
        uint16_t seq = 0;
        pack_au(&v, in, il, mtu, &seq, 1234);
        hc_h264_depack_t d;
        hc_h264_frame_t f;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        int got = 0;
        for (size_t j = 0; j < v.n; j++) got += push(&d, &v.p[j], &f);
        ck_assert_int_eq(got, 1);
        ck_assert(f.complete && f.keyframe && f.has_sps && f.has_pps);
        ck_assert_uint_eq(f.nal_count, 4);
        ck_assert_uint_eq(f.len, wl);
        ck_assert_mem_eq(f.data, want, wl);
        pkts_free(&v);
    }
}
END_TEST

/* Five AUs (key, P, P, key, P), every one several packets at MTU 200. */
static void five_aus(pkts_t *v, size_t *first, size_t *count)
{
    static uint8_t au[30000];
    uint64_t rs = 99;
    uint16_t seq = 65530;
    for (int i = 0; i < 5; i++) {
        bool key = i == 0 || i == 3;
        size_t len;
        do {
            len = rand_au(&rs, au, key, 1500);
        } while (len < 800);
        first[i] = v->n;
        count[i] = pack_au(v, au, len, 200, &seq, 90000u + 3000u * i);
        ck_assert_uint_ge(count[i], 2);
    }
}

/* Push one packet and record the AUs it finishes (index by timestamp; others ignored). */
static void feed(hc_h264_depack_t *d, const pkt_t *p, bool *seen, bool *complete)
{
    hc_h264_frame_t f;
    int rc = push(d, p, &f);
    REQ(rc >= 0);
    for (int r = rc; r == 1; r = hc_h264_depack_pop(d, &f)) {
        REQ(f.len > 0);
        if (f.ts < 90000u || f.ts >= 90000u + 5 * 3000u) continue;
        int idx = (int)((f.ts - 90000u) / 3000u);
        REQ(!seen[idx]);
        seen[idx] = true;
        complete[idx] = f.complete;
    }
}

START_TEST(depack_loss_of_any_packet)
{
    pkts_t v = {0};
    size_t first[5], count[5];
    five_aus(&v, first, count);
    /* Packets before and after the five AUs, so that losing the very first or last one is
     * noticed; the one before carries the marker, as a conforming sender's would. */
    pkt_t prime = {(uint8_t *)"\x09\xf0", 2, true, (uint16_t)(v.p[0].seq - 1), 0};
    pkt_t trail = {(uint8_t *)"\x09\xf0", 2, true, (uint16_t)(v.p[v.n - 1].seq + 1), 500000};
    for (size_t lost = 0; lost < v.n; lost++) {
        int lost_au = 0;
        while (lost >= first[lost_au] + count[lost_au]) lost_au++;
        hc_h264_depack_t d;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        bool seen[5] = {0}, complete[5] = {0};
        feed(&d, &prime, seen, complete);
        for (size_t j = 0; j < v.n; j++) {
            if (j == lost) continue;
            feed(&d, &v.p[j], seen, complete);
            /* From the loss on, a keyframe is wanted until a complete keyframe AU. */
            if (j > lost) {
                bool recovered = lost_au < 3 && j >= first[3] + count[3] - 1;
                REQ(hc_h264_depack_need_keyframe(&d) == !recovered);
            }
        }
        feed(&d, &trail, seen, complete);
        for (int i = 0; i < 5; i++) {
            if (i == lost_au) {
                ck_assert(!seen[i] || !complete[i]); /* never passed off as whole */
            } else {
                ck_assert(seen[i] && complete[i]);
            }
        }
        ck_assert_uint_eq(d.stats.gaps, 1);
        ck_assert_uint_eq(d.stats.lost, 1);
        ck_assert(hc_h264_depack_need_keyframe(&d) == (lost_au >= 3));
    }
    pkts_free(&v);
}
END_TEST

START_TEST(depack_loss_of_whole_au)
{
    /* A lost single-packet AU: the next AU cannot prove its head arrived. */
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    ck_assert_int_eq(push_raw(&d, 1, 0, true, "65 88", &f), 1);
    ck_assert(f.complete && !hc_h264_depack_need_keyframe(&d));
    /* seq 2 (ts 3000) lost */
    ck_assert_int_eq(push_raw(&d, 3, 6000, true, "41 9a", &f), 1);
    ck_assert(!f.complete);
    ck_assert(hc_h264_depack_need_keyframe(&d));
    ck_assert_int_eq(push_raw(&d, 4, 9000, true, "41 9b", &f), 1);
    ck_assert(f.complete);
    ck_assert(hc_h264_depack_need_keyframe(&d)); /* not a keyframe */
    ck_assert_int_eq(push_raw(&d, 5, 12000, true, "65 89", &f), 1);
    ck_assert(f.complete && f.keyframe);
    ck_assert(!hc_h264_depack_need_keyframe(&d));
    ck_assert_uint_eq(d.stats.lost, 1);
}
END_TEST

START_TEST(depack_marker_loss_with_markerless_sender)
{
    /* Until a marker has been seen, a single loss at a timestamp change may have been the
     * new AU's first packet, so both AUs are suspect. */
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    ck_assert_int_eq(push_raw(&d, 1, 0, false, "65 88", &f), 0);
    ck_assert_int_eq(push_raw(&d, 2, 3000, false, "41 9a", &f), 1);
    ck_assert(f.complete && !f.marker); /* ended by the timestamp change, nothing lost */
    ck_assert_int_eq(push_raw(&d, 4, 6000, false, "41 9b", &f), 1);
    ck_assert(!f.complete);
    ck_assert_int_eq(hc_h264_depack_flush(&d, &f), 1);
    ck_assert(!f.complete);
    ck_assert_int_eq(hc_h264_depack_flush(&d, &f), 0);
}
END_TEST

START_TEST(depack_reorder_and_duplicates)
{
    /* In-order delivery is the jitter buffer's job: a swapped pair is a loss then a late
     * packet; a duplicate is ignored. */
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    ck_assert_int_eq(push_raw(&d, 10, 0, false, "7c 85 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 10, 0, false, "7c 85 01", &f), 0); /* duplicate */
    ck_assert_int_eq(push_raw(&d, 11, 0, false, "7c 05 02", &f), 0);
    ck_assert_int_eq(push_raw(&d, 12, 0, true, "7c 45 03", &f), 1);
    ck_assert(f.complete);
    assert_bytes(f.data, f.len, "00000001 65 01 02 03");
    ck_assert_uint_eq(d.stats.late, 1);

    ck_assert_int_eq(push_raw(&d, 13, 3000, false, "06 05", &f), 0);
    ck_assert_int_eq(push_raw(&d, 14, 3000, false, "5c 81 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 16, 3000, true, "5c 41 03", &f), 1); /* 15 missing */
    ck_assert(!f.complete);
    assert_bytes(f.data, f.len, "00000001 06 05"); /* the partial NAL unit is cut out */
    ck_assert_int_eq(push_raw(&d, 15, 3000, false, "5c 01 02", &f), 0); /* late */
    ck_assert_uint_eq(d.stats.late, 2);
    ck_assert_uint_eq(d.stats.lost, 1);
    ck_assert(hc_h264_depack_need_keyframe(&d));
    /* a jump far backwards is a discontinuity, not a late packet */
    ck_assert_int_eq(push_raw(&d, 40000, 6000, true, "65 01", &f), 1);
    ck_assert(!f.complete);
    ck_assert_uint_eq(d.stats.gaps, 2);
    ck_assert_uint_eq(d.stats.lost, 1);
    ck_assert_int_eq(push_raw(&d, 40001, 9000, true, "65 02", &f), 1);
    ck_assert(f.complete);
    ck_assert(!hc_h264_depack_need_keyframe(&d));
}
END_TEST

START_TEST(depack_fu_a_edge_cases)
{
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    /* an FU-A start while one is open: the first NAL unit is incomplete and cut out */
    ck_assert_int_eq(push_raw(&d, 1, 0, true, "67 42", &f), 1);
    ck_assert_int_eq(push_raw(&d, 2, 3000, false, "7c 85 01 02", &f), 0);
    ck_assert_int_eq(push_raw(&d, 3, 3000, false, "7c 85 0a 0b", &f), 0);
    ck_assert_int_eq(push_raw(&d, 4, 3000, true, "7c 45 0c", &f), 1);
    ck_assert(!f.complete);
    assert_bytes(f.data, f.len, "00000001 65 0a 0b 0c");
    ck_assert_uint_eq(f.nal_count, 1);
    /* a continuation without a start: incomplete, and nothing whole: dropped */
    uint64_t dropped = d.stats.dropped;
    ck_assert_int_eq(push_raw(&d, 5, 6000, false, "7c 05 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 6, 6000, true, "7c 45 02", &f), 0);
    ck_assert_uint_eq(d.stats.dropped, dropped + 1);
    /* a single NAL unit while an FU-A is open: the FU-A NAL unit is cut out */
    ck_assert_int_eq(push_raw(&d, 7, 9000, false, "7c 85 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 8, 9000, true, "06 05", &f), 1);
    ck_assert(!f.complete);
    assert_bytes(f.data, f.len, "00000001 06 05");
    /* a fragment of another NAL unit while one is open */
    ck_assert_int_eq(push_raw(&d, 9, 12000, false, "7c 85 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 10, 12000, true, "5c 41 02", &f), 0);
    /* the marker arrives while the FU-A is still open */
    ck_assert_int_eq(push_raw(&d, 11, 15000, false, "41 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 12, 15000, true, "7c 85 01", &f), 1);
    ck_assert(!f.complete);
    assert_bytes(f.data, f.len, "00000001 41 01");
    /* a good keyframe recovers */
    ck_assert_int_eq(push_raw(&d, 13, 18000, true, "65 01", &f), 1);
    ck_assert(f.complete && !hc_h264_depack_need_keyframe(&d));
}
END_TEST

START_TEST(depack_malformed)
{
    static const struct {
        const char *hex;
        int rc;
    } bad[] = {
        {"", -HC_ETRUNC},
        {"78", -HC_ETRUNC},                     /* STAP-A without units */
        {"78 00", -HC_ETRUNC},                  /* half a size field */
        {"78 0000", -HC_EMALFORMED},            /* zero-length unit */
        {"78 0002 67 42 0000", -HC_EMALFORMED}, /* zero-length second unit */
        {"78 0003 67 42", -HC_ETRUNC},          /* unit longer than the payload */
        {"78 0002 67 42 00", -HC_ETRUNC},       /* trailing half size */
        {"78 0002 7c 85", -HC_EMALFORMED},      /* an FU-A inside a STAP-A */
        {"78 0002 78 00", -HC_EMALFORMED},      /* a STAP-A inside a STAP-A */
        {"7c", -HC_ETRUNC},                     /* FU-A without header */
        {"7c 85", -HC_ETRUNC},                  /* FU-A without fragment */
        {"7c c5 01", -HC_EMALFORMED},           /* S and E both set (5.8) */
        {"7c 9c 01", -HC_EMALFORMED},           /* fragmenting an FU-A */
        {"7c 80 01", -HC_EMALFORMED},           /* fragment of type 0 */
        {"79 0002 67 42", -HC_EUNSUPPORTED},    /* STAP-B (interleaved mode only) */
        {"7a 00", -HC_EUNSUPPORTED},            /* MTAP16 */
        {"7b 00", -HC_EUNSUPPORTED},            /* MTAP24 */
        {"7d 85 00 00 01", -HC_EUNSUPPORTED},   /* FU-B */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hc_h264_depack_t d;
        hc_h264_frame_t f;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        ck_assert_int_eq(push_raw(&d, 1, 0, true, "65 01", &f), 1);
        ck_assert(!hc_h264_depack_need_keyframe(&d));
        /* the AU of the bad packet is dropped: its later packets, marker included, too */
        ck_assert_int_eq(push_raw(&d, 2, 3000, false, "41 01", &f), 0);
        ck_assert_int_eq(push_raw(&d, 3, 3000, false, bad[i].hex, &f), bad[i].rc);
        ck_assert(hc_h264_depack_need_keyframe(&d));
        ck_assert_int_eq(push_raw(&d, 4, 3000, true, "41 02", &f), 0);
        ck_assert_int_eq(push_raw(&d, 5, 6000, true, "41 03", &f), 1);
        ck_assert(f.complete);
        assert_bytes(f.data, f.len, "00000001 41 03");
        ck_assert_uint_eq(d.stats.malformed, 1);
        ck_assert_uint_eq(d.stats.dropped, 1);
    }
}
END_TEST

START_TEST(depack_reserved_types_ignored)
{
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    ck_assert_int_eq(push_raw(&d, 1, 0, false, "1e 01 02", &f), 0);
    ck_assert_int_eq(push_raw(&d, 2, 0, false, "78 0002 00 01 0002 65 01 0002 1f 07", &f), 0);
    ck_assert_int_eq(push_raw(&d, 3, 0, true, "00 00", &f), 1);
    ck_assert(f.complete);
    assert_bytes(f.data, f.len, "00000001 65 01");
    ck_assert_uint_eq(d.stats.ignored, 2);
}
END_TEST

START_TEST(depack_truncated_payloads)
{
    /* STAP-A: a cut inside a unit or size is an error; a cut on a unit boundary is a shorter
     * but valid STAP-A. FU-A: a cut before the first fragment byte is an error. */
    uint8_t stap[64];
    int n = hc_test_hex("78 0004 67 42 c0 1f 0003 68 ce 3c 0002 06 05", stap, sizeof stap);
    for (int cut = 0; cut < n; cut++) {
        hc_h264_depack_t d;
        hc_h264_frame_t f;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        pkt_t p = {stap, (size_t)cut, true, 1, 0};
        int rc = push(&d, &p, &f);
        if (cut == 7 || cut == 12) {
            ck_assert_int_eq(rc, 1);
            ck_assert_uint_eq(f.nal_count, cut == 7 ? 1 : 2);
        } else {
            ck_assert_int_lt(rc, 0);
        }
    }
    uint8_t fu[16];
    n = hc_test_hex("7c 85 01 02 03", fu, sizeof fu);
    for (int cut = 0; cut < n; cut++) {
        hc_h264_depack_t d;
        hc_h264_frame_t f;
        hc_h264_depack_init(&d, g_frame, sizeof g_frame);
        pkt_t p = {fu, (size_t)cut, false, 1, 0};
        int rc = push(&d, &p, &f);
        ck_assert_int_eq(rc, cut < 3 ? -HC_ETRUNC : 0);
    }
    /* Every truncation of every packet of random AUs: never a read past the end. */
    static uint8_t au[30000];
    uint64_t rs = 5;
    pkts_t v = {0};
    uint16_t seq = 0;
    for (int i = 0; i < 4; i++) {
        size_t len = rand_au(&rs, au, i == 0, 3000);
        pack_au(&v, au, len, i % 2 ? 300 : 1400, &seq, 3000u * i);
    }
    for (size_t j = 0; j < v.n; j++) {
        for (size_t cut = 0; cut < v.p[j].len; cut++) {
            hc_h264_depack_t d;
            hc_h264_frame_t f;
            hc_h264_depack_init(&d, g_frame, sizeof g_frame);
            pkt_t p = v.p[j];
            p.len = cut;
            int rc = push(&d, &p, &f);
            int t = v.p[j].data[0] & 0x1f;
            if (cut == 0 || (t == HC_H264_NAL_FU_A && cut < 3)) REQ(rc < 0);
            if (t != HC_H264_NAL_STAP_A && t != HC_H264_NAL_FU_A && cut > 0) REQ(rc >= 0);
            if (rc == 1) ck_assert_uint_le(f.len, 4 * cut + cut);
            hc_h264_depack_flush(&d, &f);
        }
    }
    pkts_free(&v);
}
END_TEST

START_TEST(depack_overflow)
{
    /* The frame buffer is never overrun: an AU that does not fit is dropped. */
    uint8_t *small = malloc(20);
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, small, 20);
    ck_assert_int_eq(push_raw(&d, 1, 0, false, "7c 85 01 02 03 04 05 06 07 08", &f), 0);
    ck_assert_int_eq(push_raw(&d, 2, 0, false, "7c 05 01 02 03 04 05 06 07 08", &f), -HC_ENOSPC);
    ck_assert_int_eq(push_raw(&d, 3, 0, true, "7c 45 09", &f), 0);
    ck_assert_uint_eq(d.stats.overflow, 1);
    ck_assert(hc_h264_depack_need_keyframe(&d));
    ck_assert_int_eq(push_raw(&d, 4, 3000, true, "65 01 02 03 04 05 06 07 08 09 0a 0b", &f), 1);
    ck_assert_uint_eq(f.len, 16);
    ck_assert(f.complete);
    /* single NAL and STAP-A too big */
    ck_assert_int_eq(push_raw(&d, 5, 6000, true,
                              "65 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d"
                              " 0e 0f 10",
                              &f),
                     -HC_ENOSPC);
    ck_assert_int_eq(
        push_raw(&d, 6, 9000, true, "78 0004 06 01 02 03 0009 65 01 02 03 04 05 06 07 08", &f),
        -HC_ENOSPC);
    /* a zero-sized buffer can hold nothing */
    hc_h264_depack_init(&d, NULL, 100);
    ck_assert_int_eq(push_raw(&d, 1, 0, true, "65 01", &f), -HC_ENOSPC);
    free(small);
}
END_TEST

START_TEST(depack_timestamp_change_and_pop)
{
    hc_h264_depack_t d;
    hc_h264_frame_t f, g;
    hc_h264_depack_init(&d, g_frame, sizeof g_frame);
    /* AU 1 without marker, then AU 2 in one packet with the marker: two AUs at once */
    ck_assert_int_eq(push_raw(&d, 1, 0, false, "65 01", &f), 0);
    ck_assert_int_eq(push_raw(&d, 2, 0, false, "65 02", &f), 0);
    ck_assert_int_eq(push_raw(&d, 3, 3000, true, "41 03", &f), 1);
    ck_assert(f.complete && !f.marker);
    ck_assert_uint_eq(f.ts, 0);
    ck_assert_uint_eq(f.packets, 2);
    assert_bytes(f.data, f.len, "00000001 65 01 00000001 65 02");
    ck_assert_int_eq(hc_h264_depack_pop(&d, &g), 1);
    ck_assert(g.complete && g.marker);
    ck_assert_uint_eq(g.ts, 3000);
    assert_bytes(g.data, g.len, "00000001 41 03");
    assert_bytes(f.data, f.len, "00000001 65 01 00000001 65 02"); /* still valid */
    ck_assert_int_eq(hc_h264_depack_pop(&d, &g), 0);
    /* AU ended by a timestamp change while the new packet is malformed: pop gives the AU */
    ck_assert_int_eq(push_raw(&d, 4, 6000, false, "41 04", &f), 0);
    ck_assert_int_eq(push_raw(&d, 5, 9000, false, "7c c5 01", &f), -HC_EMALFORMED);
    ck_assert_int_eq(hc_h264_depack_pop(&d, &g), 1);
    ck_assert(g.complete);
    assert_bytes(g.data, g.len, "00000001 41 04");
    /* an AU left unpopped is dropped at the next push */
    ck_assert_int_eq(push_raw(&d, 6, 12000, false, "65 05", &f), 0);
    ck_assert_int_eq(push_raw(&d, 7, 15000, true, "41 06", &f), 1);
    uint64_t dropped = d.stats.dropped;
    ck_assert_int_eq(push_raw(&d, 8, 18000, true, "41 07", &f), 1);
    ck_assert_uint_eq(d.stats.dropped, dropped + 1);
    assert_bytes(f.data, f.len, "00000001 41 07");
    /* flush: queued first, then the AU under assembly (never complete) */
    ck_assert_int_eq(push_raw(&d, 9, 21000, false, "65 08", &f), 0);
    ck_assert_int_eq(push_raw(&d, 10, 24000, true, "41 09", &f), 1);
    ck_assert_int_eq(push_raw(&d, 11, 27000, false, "65 0a", &f), 0);
    ck_assert_int_eq(hc_h264_depack_flush(&d, &f), 1);
    ck_assert(!f.complete && !f.marker);
    assert_bytes(f.data, f.len, "00000001 65 0a");
    ck_assert_int_eq(hc_h264_depack_flush(&d, &f), 0);
    /* reset forgets everything and asks for a keyframe */
    ck_assert_int_eq(push_raw(&d, 12, 30000, false, "65 0b", &f), 0);
    hc_h264_depack_reset(&d);
    ck_assert(hc_h264_depack_need_keyframe(&d));
    ck_assert_int_eq(hc_h264_depack_flush(&d, &f), 0);
    ck_assert_int_eq(push_raw(&d, 500, 0, true, "65 0c", &f), 1);
    ck_assert(f.complete);
    ck_assert_int_eq(hc_h264_depack_push(&d, 1, 0, true, NULL, 1, &f), -HC_EINVAL);
    ck_assert_int_eq(hc_h264_depack_push(&d, 1, 0, true, f.data, 1, NULL), -HC_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("h264");
    TCase *a = tcase_create("annexb");
    tcase_add_test(a, annexb_scan);
    tcase_add_test(a, annexb_errors);
    tcase_add_test(a, annexb_truncated_scan);
    tcase_add_test(a, annexb_append);
    tcase_add_test(a, au_flags);
    tcase_add_test(a, rtp_flags);
    suite_add_tcase(s, a);
    TCase *p = tcase_create("pack");
    tcase_set_timeout(p, 120);
    tcase_add_test(p, pack_single_nal);
    tcase_add_test(p, pack_stap_a_and_fu_a_vector);
    tcase_add_test(p, pack_stap_a_header_bits);
    tcase_add_test(p, pack_fu_a_every_mtu);
    tcase_add_test(p, pack_marker_placement);
    tcase_add_test(p, pack_errors);
    suite_add_tcase(s, p);
    TCase *d = tcase_create("depack");
    tcase_set_timeout(d, 120);
    tcase_add_test(d, depack_vectors);
    tcase_add_test(d, depack_roundtrip_random);
    tcase_add_test(d, depack_roundtrip_zero_bytes);
    tcase_add_test(d, depack_loss_of_any_packet);
    tcase_add_test(d, depack_loss_of_whole_au);
    tcase_add_test(d, depack_marker_loss_with_markerless_sender);
    tcase_add_test(d, depack_reorder_and_duplicates);
    tcase_add_test(d, depack_fu_a_edge_cases);
    tcase_add_test(d, depack_malformed);
    tcase_add_test(d, depack_reserved_types_ignored);
    tcase_add_test(d, depack_truncated_payloads);
    tcase_add_test(d, depack_overflow);
    tcase_add_test(d, depack_timestamp_change_and_pop);
    suite_add_tcase(s, d);
    return s;
}

HC_TEST_MAIN(suite)
