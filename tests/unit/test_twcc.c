#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/*
 * Feedback captured from Chrome (libwebrtc), used as vectors by pion/rtcp.
 * libwebrtc pads with the RTCP P bit; the FCI ends where the padding starts.
 */

/* One packet, seq 153, received 37 ms after the reference time. */
static const uint8_t CHROME1[] = {
    0xaf, 0xcd, 0x00, 0x05, /* V=2 P=1 FMT=15, PT=205, length 5 */
    0xfa, 0x17, 0xfa, 0x17, /* SSRC of packet sender */
    0x43, 0x03, 0x2f, 0xa0, /* SSRC of media source */
    0x00, 0x99, 0x00, 0x01, /* base seq 153, status count 1 */
    0x3d, 0xe8, 0x02, 0x17, /* reference time 4057090 (x 64 ms), fb count 23 */
    0x20, 0x01,             /* run length chunk: T=0 S=01 (small delta) length 1 */
    0x94,                   /* recv delta 148 x 250 us = 37 ms */
    0x01,                   /* RTCP padding: 1 octet */
};

/* Seven packets from seq 4, all small deltas: one run length chunk. */
static const uint8_t CHROME4[] = {
    0xaf, 0xcd, 0x00, 0x07, 0xfa, 0x17, 0xfa, 0x17,
    0x19, 0x3d, 0xd8, 0xbb, 0x00, 0x04, 0x00, 0x07, /* base seq 4, status count 7 */
    0x10, 0x63, 0x6e, 0x01,                         /* reference time 1074030, fb count 1 */
    0x20, 0x07,                                     /* run: small delta x7 */
    0x4c, 0x24, 0x24, 0x10, 0x0c, 0x0c, 0x10,       /* 19, 9, 9, 4, 3, 3, 4 ms */
    0x00, 0x00, 0x03,                               /* RTCP padding: 3 octets */
};

/* Nine packets from seq 34108: a two-bit vector (5 small, lost, large) and
 * a run of 48 lost of which only 2 are inside the status count. */
static const uint8_t CHROME6[] = {
    0xaf, 0xcd, 0x00, 0x07, 0x9b, 0x74, 0xf6, 0x1f,
    0x93, 0x71, 0xdc, 0xbc, 0x85, 0x3c, 0x00, 0x09, /* base seq 34108, status count 9 */
    0x63, 0xf9, 0x16, 0xb3,                         /* reference time 6551830, fb count 179 */
    0xd5, 0x52,                                     /* T=1 S=1: 01 01 01 01 01 00 10 */
    0x00, 0x30,                                     /* run: not received x48 */
    0x9b, 0xaa, 0x6a, 0xaa, 0x7b, /* small deltas 38.75, 42.5, 26.5, 42.5, 30.75 ms */
    0x01, 0x09,                   /* large delta 265 x 250 us = 66.25 ms */
    0x01,                         /* RTCP padding: 1 octet */
};

/* Our writer pads inside the FCI with zeros (draft §3.1) and leaves P
 * clear; otherwise the same bytes as the captures above. */
static const uint8_t OURS1[] = {
    0x8f, 0xcd, 0x00, 0x05, 0xfa, 0x17, 0xfa, 0x17, 0x43, 0x03, 0x2f, 0xa0,
    0x00, 0x99, 0x00, 0x01, 0x3d, 0xe8, 0x02, 0x17, 0x20, 0x01, 0x94, 0x00,
};
static const uint8_t OURS4[] = {
    0x8f, 0xcd, 0x00, 0x07, 0xfa, 0x17, 0xfa, 0x17, 0x19, 0x3d, 0xd8, 0xbb, 0x00, 0x04, 0x00, 0x07,
    0x10, 0x63, 0x6e, 0x01, 0x20, 0x07, 0x4c, 0x24, 0x24, 0x10, 0x0c, 0x0c, 0x10, 0x00, 0x00, 0x00,
};
/* 14 packets from seq 1 as a one-bit vector 1110 1000 0000 00 (pion's
 * marshal example 5). */
static const uint8_t OURS5[] = {
    0x8f, 0xcd, 0x00, 0x06, 0xfa, 0x17, 0xfa, 0x17, 0x19, 0x3d, 0xd8, 0xbb, 0x00, 0x01,
    0x00, 0x0e, 0x10, 0x63, 0x6d, 0x00, 0xba, 0x00, 0x10, 0x0c, 0x0c, 0x10, 0x00, 0x00,
};
/* 12 packets from seq 39956: one-bit vector 1111 1011 0000 00 (pion's
 * marshal example 6). */
static const uint8_t OURS6[] = {
    0x8f, 0xcd, 0x00, 0x07, 0xfa, 0x17, 0xfa, 0x17, 0x43, 0x03, 0x2f, 0xa0, 0x9c, 0x14, 0x00, 0x0c,
    0x75, 0x84, 0x20, 0x00, 0xbe, 0xc0, 0xc1, 0x3f, 0x3b, 0x3f, 0x53, 0x90, 0x3b, 0x00, 0x00, 0x00,
};

static uint8_t *heap_copy(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n) memcpy(b, p, n);
    return b;
}

/* The FCI of a single TWCC RTCP packet. */
static void fci_of(const uint8_t *buf, size_t len, const uint8_t **fci, size_t *flen)
{
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    hc_rtcp_iter_init(&it, buf, len);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_TWCC);
    *fci = pkt.u.fb.fci;
    *flen = pkt.u.fb.fci_len;
}

/* Every cut shorter than `used` fails; cuts keeping all data parse. */
static void check_truncations(const uint8_t *fci, size_t len, size_t used)
{
    hc_twcc_fb_t h;
    hc_twcc_pkt_t p[64];
    size_t n;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *b = heap_copy(fci, cut);
        int rc = hc_twcc_parse(b, cut, &h, p, 64, &n);
        if (cut < used)
            ck_assert_int_lt(rc, 0);
        else
            ck_assert_int_eq(rc, (int)cut);
        free(b);
    }
}

static int64_t round250(int64_t us)
{
    int64_t x = us + 125, q = x / 250;
    if (x % 250 != 0 && x < 0) q--;
    return q * 250;
}

START_TEST(chrome_vectors)
{
    const uint8_t *fci;
    size_t flen, n;
    hc_twcc_fb_t h;
    hc_twcc_pkt_t p[16];

    fci_of(CHROME1, sizeof CHROME1, &fci, &flen);
    ck_assert_int_eq(hc_twcc_parse(fci, flen, &h, p, 16, &n), (int)flen);
    ck_assert_uint_eq(h.base_seq, 153);
    ck_assert_uint_eq(h.status_count, 1);
    ck_assert_int_eq(h.ref_time, 4057090);
    ck_assert_uint_eq(h.fb_count, 23);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(p[0].seq, 153);
    ck_assert(p[0].received);
    ck_assert_int_eq(p[0].arrival_us, 37000);
    check_truncations(fci, flen, flen);

    static const int64_t a4[] = {19000, 28000, 37000, 41000, 44000, 47000, 51000};
    fci_of(CHROME4, sizeof CHROME4, &fci, &flen);
    ck_assert_int_eq(hc_twcc_parse(fci, flen, &h, p, 16, &n), (int)flen);
    ck_assert_uint_eq(h.base_seq, 4);
    ck_assert_int_eq(h.ref_time, 1074030);
    ck_assert_uint_eq(h.fb_count, 1);
    ck_assert_uint_eq(n, 7);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_uint_eq(p[i].seq, 4 + i);
        ck_assert(p[i].received);
        ck_assert_int_eq(p[i].arrival_us, a4[i]);
    }
    check_truncations(fci, flen, flen);

    static const int64_t a6[] = {38750, 81250, 107750, 150250, 181000, 0, 247250, 0, 0};
    fci_of(CHROME6, sizeof CHROME6, &fci, &flen);
    ck_assert_int_eq(hc_twcc_parse(fci, flen, &h, p, 16, &n), (int)flen);
    ck_assert_uint_eq(h.base_seq, 34108);
    ck_assert_int_eq(h.ref_time, 6551830);
    ck_assert_uint_eq(h.fb_count, 179);
    ck_assert_uint_eq(n, 9);
    for (size_t i = 0; i < 9; i++) {
        ck_assert_uint_eq(p[i].seq, 34108 + i);
        ck_assert(p[i].received == (i != 5 && i < 7));
        ck_assert_int_eq(p[i].arrival_us, a6[i]);
    }
    check_truncations(fci, flen, flen);

    /* Our own writer re-encodes it: two-bit vector then a run of 2 lost. */
    uint8_t out[64];
    size_t cov;
    int w = hc_twcc_write(out, sizeof out, &h, p, n, &cov);
    ck_assert_int_eq(w, 20);
    ck_assert_uint_eq(cov, 9);
    static const uint8_t re6[] = {0x85, 0x3c, 0x00, 0x09, 0x63, 0xf9, 0x16, 0xb3, 0xd5, 0x52,
                                  0x00, 0x02, 0x9b, 0xaa, 0x6a, 0xaa, 0x7b, 0x01, 0x09, 0x00};
    ck_assert_mem_eq(out, re6, sizeof re6);
}
END_TEST

/* Packets from a delta list: 0 means lost, else ms * 1000 added to the clock. */
static size_t build(hc_twcc_pkt_t *p, uint16_t base, const int64_t *delta_us, size_t n)
{
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        p[i].seq = (uint16_t)(base + i);
        p[i].received = delta_us[i] >= 0;
        if (p[i].received) t += delta_us[i];
        p[i].arrival_us = p[i].received ? t : 0;
    }
    return n;
}

START_TEST(write_vectors)
{
    uint8_t out[64];
    size_t cov;
    hc_twcc_pkt_t p[16];

    hc_twcc_fb_t h1 = {.base_seq = 153, .ref_time = 4057090, .fb_count = 23};
    static const int64_t d1[] = {37000};
    build(p, 153, d1, 1);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, sizeof out, 0xfa17fa17, 0x43032fa0, &h1, p, 1, &cov),
                     sizeof OURS1);
    ck_assert_uint_eq(cov, 1);
    ck_assert_mem_eq(out, OURS1, sizeof OURS1);

    hc_twcc_fb_t h4 = {.base_seq = 4, .ref_time = 1074030, .fb_count = 1};
    static const int64_t d4[] = {19000, 9000, 9000, 4000, 3000, 3000, 4000};
    build(p, 4, d4, 7);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, sizeof out, 0xfa17fa17, 0x193dd8bb, &h4, p, 7, &cov),
                     sizeof OURS4);
    ck_assert_mem_eq(out, OURS4, sizeof OURS4);

    hc_twcc_fb_t h5 = {.base_seq = 1, .ref_time = 1074029, .fb_count = 0};
    static const int64_t d5[] = {4000, 3000, 3000, -1, 4000, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    build(p, 1, d5, 14);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, sizeof out, 0xfa17fa17, 0x193dd8bb, &h5, p, 14, &cov),
                     sizeof OURS5);
    ck_assert_uint_eq(cov, 14);
    ck_assert_mem_eq(out, OURS5, sizeof OURS5);

    hc_twcc_fb_t h6 = {.base_seq = 39956, .ref_time = 7701536, .fb_count = 0};
    static const int64_t d6[] = {48250, 15750, 14750, 15750, 20750, -1,
                                 36000, 14750, -1,    -1,    -1,    -1};
    build(p, 39956, d6, 12);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, sizeof out, 0xfa17fa17, 0x43032fa0, &h6, p, 12, &cov),
                     sizeof OURS6);
    ck_assert_mem_eq(out, OURS6, sizeof OURS6);

    /* And they parse back, with zero padding inside the FCI. */
    const uint8_t *fci;
    size_t flen, n;
    hc_twcc_fb_t h;
    hc_twcc_pkt_t q[16];
    fci_of(OURS6, sizeof OURS6, &fci, &flen);
    ck_assert_int_eq(hc_twcc_parse(fci, flen, &h, q, 16, &n), 20);
    ck_assert_uint_eq(n, 12);
    for (size_t i = 0; i < 12; i++) {
        ck_assert_uint_eq(q[i].seq, p[i].seq);
        ck_assert(q[i].received == p[i].received);
        ck_assert_int_eq(q[i].arrival_us, p[i].arrival_us);
    }
    check_truncations(fci, flen, 17);
    for (size_t cap = 0; cap < 12 + 12; cap++)
        ck_assert_int_eq(hc_rtcp_write_twcc(out, cap, 1, 2, &h6, p, 1, &cov), -HC_ENOSPC);
}
END_TEST

START_TEST(draft_chunk_examples)
{
    hc_twcc_fb_t h;
    hc_twcc_pkt_t p[221];
    size_t n;

    /* §3.1.3 example: run length chunk 0x00DD, 221 packets not received. */
    uint8_t run[12] = {0x00, 0x00, 0x00, 221, 0, 0, 0, 0, 0x00, 0xdd, 0x00, 0x00};
    ck_assert_int_eq(hc_twcc_parse(run, sizeof run, &h, p, 221, &n), 12);
    ck_assert_uint_eq(n, 221);
    for (size_t i = 0; i < n; i++) ck_assert(!p[i].received);
    ck_assert_int_eq(hc_twcc_parse(run, 10, &h, p, 221, &n), 10);
    ck_assert_int_eq(hc_twcc_parse(run, sizeof run, &h, p, 220, &n), -HC_ENOSPC);
    /* Validate only. */
    ck_assert_int_eq(hc_twcc_parse(run, sizeof run, &h, NULL, 0, &n), 12);
    ck_assert_uint_eq(n, 221);

    /* §3.1.4 example: one-bit vector 0x9F1C = 0 11111 000 111 00, deltas follow. */
    static const uint8_t vec[] = {0x00, 0x00, 0x00, 14, 0, 0, 0, 0, 0x9f, 0x1c,
                                  1,    2,    3,    4,  5, 6, 7, 8, 0x00, 0x00};
    static const bool rx[14] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0};
    ck_assert_int_eq(hc_twcc_parse(vec, sizeof vec, &h, p, 221, &n), sizeof vec);
    ck_assert_uint_eq(n, 14);
    int64_t t = 0, d = 1;
    for (size_t i = 0; i < 14; i++) {
        ck_assert(p[i].received == rx[i]);
        if (rx[i]) t += 250 * d++;
        ck_assert_int_eq(p[i].arrival_us, rx[i] ? t : 0);
    }
    check_truncations(vec, sizeof vec, 18);

    /* The draft's other examples use symbol 11, reserved in -01: rejected. */
    uint8_t r11[] = {0x00, 0x00, 0x00, 24, 0, 0, 0, 0, 0x60, 0x18, 0x00, 0x00};
    ck_assert_int_eq(hc_twcc_parse(r11, sizeof r11, &h, p, 221, &n), -HC_EMALFORMED);
    uint8_t v11[] = {0x00, 0x00, 0x00, 7, 0, 0, 0, 0, 0xcd, 0x50, 1, 1, 1, 0, 0, 0};
    ck_assert_int_eq(hc_twcc_parse(v11, sizeof v11, &h, p, 221, &n), -HC_EMALFORMED);
}
END_TEST

START_TEST(malformed)
{
    hc_twcc_fb_t h;
    hc_twcc_pkt_t p[8];
    size_t n;
    /* Status count 0. */
    uint8_t zero[] = {0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0x00, 0x00};
    ck_assert_int_eq(hc_twcc_parse(zero, sizeof zero, &h, p, 8, &n), -HC_EMALFORMED);
    /* Four bytes after the last delta. */
    uint8_t tail[] = {0, 0, 0, 1, 0, 0, 0, 0, 0x20, 0x01, 0x05, 0, 0, 0, 0};
    ck_assert_int_eq(hc_twcc_parse(tail, sizeof tail, &h, p, 8, &n), -HC_EMALFORMED);
    ck_assert_int_eq(hc_twcc_parse(tail, sizeof tail - 1, &h, p, 8, &n), sizeof tail - 1);
    /* Zero-length runs are skipped; a chunk list that never reaches the count. */
    uint8_t runs0[] = {0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x00, 0x20, 0x01, 0x07, 0, 0, 0};
    ck_assert_int_eq(hc_twcc_parse(runs0, sizeof runs0, &h, p, 8, &n), sizeof runs0);
    ck_assert_int_eq(p[0].arrival_us, 1750);
    uint8_t nochunk[] = {0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(hc_twcc_parse(nochunk, sizeof nochunk, &h, p, 8, &n), -HC_ETRUNC);
    /* Arguments. */
    ck_assert_int_eq(hc_twcc_parse(NULL, 8, &h, p, 8, &n), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_parse(zero, 8, NULL, p, 8, &n), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_parse(zero, 8, &h, p, 8, NULL), -HC_EINVAL);
}
END_TEST

START_TEST(reference_time_sign)
{
    uint8_t out[32];
    size_t cov, n;
    hc_twcc_pkt_t p = {.seq = 9, .received = true, .arrival_us = 1000};
    hc_twcc_fb_t h = {.base_seq = 9, .ref_time = -1, .fb_count = 2}, g;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, &p, 1, &cov), 12);
    ck_assert_uint_eq(out[4], 0xff);
    ck_assert_uint_eq(out[5], 0xff);
    ck_assert_uint_eq(out[6], 0xff);
    hc_twcc_pkt_t q;
    ck_assert_int_eq(hc_twcc_parse(out, 12, &g, &q, 1, &n), 12);
    ck_assert_int_eq(g.ref_time, -1);
    h.ref_time = HC_TWCC_REF_TIME_MIN;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, &p, 1, &cov), 12);
    hc_twcc_parse(out, 12, &g, &q, 1, &n);
    ck_assert_int_eq(g.ref_time, -0x800000);
    h.ref_time = HC_TWCC_REF_TIME_MAX + 1;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, &p, 1, &cov), -HC_EINVAL);
    h.ref_time = HC_TWCC_REF_TIME_MIN - 1;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, &p, 1, &cov), -HC_EINVAL);
}
END_TEST

/* Chunk words of a written FCI. */
static uint16_t chunk_at(const uint8_t *fci, size_t i)
{
    return (uint16_t)(fci[8 + 2 * i] << 8 | fci[9 + 2 * i]);
}

START_TEST(chunk_choice)
{
    static hc_twcc_pkt_t p[10000];
    static uint8_t out[40000];
    hc_twcc_fb_t h = {.base_seq = 0};
    size_t cov;

    /* 100 received, 1 ms apart: one run length chunk. */
    for (size_t i = 0; i < 100; i++)
        p[i] =
            (hc_twcc_pkt_t){.seq = (uint16_t)i, .received = true, .arrival_us = 1000 * (int64_t)i};
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 100, &cov), 8 + 2 + 100 + 2);
    ck_assert_uint_eq(chunk_at(out, 0), 0x2064);

    /* 10000 received at the same instant: runs cap at 8191. */
    for (size_t i = 0; i < 10000; i++)
        p[i] = (hc_twcc_pkt_t){.seq = (uint16_t)i, .received = true, .arrival_us = 0};
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 10000, &cov), 8 + 4 + 10000);
    ck_assert_uint_eq(chunk_at(out, 0), 0x3fff);
    ck_assert_uint_eq(chunk_at(out, 1), 0x2000 | (10000 - 8191));

    /* Alternating lost/received x28: two one-bit vectors 0101... */
    for (size_t i = 0; i < 28; i++)
        p[i] = (hc_twcc_pkt_t){.seq = (uint16_t)i, .received = i & 1, .arrival_us = 0};
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 28, &cov), 8 + 4 + 14 + 2);
    ck_assert_uint_eq(chunk_at(out, 0), 0x9555);
    ck_assert_uint_eq(chunk_at(out, 1), 0x9555);

    /* A large delta (100 ms) among small ones: a two-bit vector of 7. */
    static const int64_t t[] = {0, 1000, 2000, 102000, 103000, 104000, 105000};
    for (size_t i = 0; i < 7; i++)
        p[i] = (hc_twcc_pkt_t){.seq = (uint16_t)i, .received = true, .arrival_us = t[i]};
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 7, &cov), 8 + 2 + 6 + 2 + 2);
    ck_assert_uint_eq(chunk_at(out, 0),
                      0xc000 | 0x1000 | 0x0400 | 0x0100 | 0x0080 | 0x0010 | 0x0004 | 0x0001);
    ck_assert_uint_eq(out[12], 4);
    ck_assert_uint_eq(out[13], 0x01);
    ck_assert_uint_eq(out[14], 0x90); /* 400 ticks = 0x0190 */

    /* A negative delta is "large" too. */
    p[0] = (hc_twcc_pkt_t){.seq = 0, .received = true, .arrival_us = 5000};
    p[1] = (hc_twcc_pkt_t){.seq = 1, .received = true, .arrival_us = 4000};
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 2, &cov), 8 + 2 + 1 + 2 + 3);
    ck_assert_uint_eq(chunk_at(out, 0), 0xc000 | 0x1000 | 0x0800);
    ck_assert_uint_eq(out[10], 20);
    ck_assert_uint_eq(out[11], 0xff);
    ck_assert_uint_eq(out[12], 0xfc); /* -4 ticks */
}
END_TEST

START_TEST(roundtrip_random)
{
    static hc_twcc_pkt_t in[3000], got[3000];
    static uint8_t out[20000];
    uint64_t st = 1234;
    for (int iter = 0; iter < 150; iter++) {
        size_t n = 1 + hc_test_rand(&st) % 3000;
        uint16_t base = (uint16_t)hc_test_rand(&st);
        int loss = (int)(hc_test_rand(&st) % 60); /* percent */
        int64_t t = (int64_t)(hc_test_rand(&st) % 64000);
        for (size_t i = 0; i < n; i++) {
            uint64_t r = hc_test_rand(&st);
            in[i].seq = (uint16_t)(base + i);
            in[i].received = (int)(r % 100) >= loss;
            int kind = (int)((r >> 8) % 20);
            if (kind == 0)
                t -= (int64_t)((r >> 16) % 50000); /* reordering */
            else if (kind == 1)
                t += (int64_t)((r >> 16) % 500000); /* stall */
            else
                t += (int64_t)((r >> 16) % 20000);
            in[i].arrival_us = in[i].received ? t : 0;
        }
        hc_twcc_fb_t h = {.base_seq = base,
                          .ref_time = (int32_t)(hc_test_rand(&st) % 0x1000000) - 0x800000,
                          .fb_count = (uint8_t)iter},
                     g;
        size_t cov, m;
        int w = hc_twcc_write(out, sizeof out, &h, in, n, &cov);
        ck_assert_int_gt(w, 0);
        ck_assert_int_eq(w % 4, 0);
        ck_assert_uint_eq(cov, n);
        ck_assert_int_eq(hc_twcc_parse(out, (size_t)w, &g, got, 3000, &m), w);
        ck_assert_uint_eq(m, n);
        ck_assert_uint_eq(g.base_seq, base);
        ck_assert_uint_eq(g.status_count, n);
        ck_assert_int_eq(g.ref_time, h.ref_time);
        ck_assert_uint_eq(g.fb_count, h.fb_count);
        for (size_t i = 0; i < n; i++) {
            ck_assert_uint_eq(got[i].seq, in[i].seq);
            ck_assert(got[i].received == in[i].received);
            ck_assert_int_eq(got[i].arrival_us, in[i].received ? round250(in[i].arrival_us) : 0);
        }
    }
}
END_TEST

START_TEST(rounding_does_not_accumulate)
{
    /* 1000 packets 1.1 ms apart: each tick is rounded from the reference,
     * so the last is within 125 us of the truth. */
    static hc_twcc_pkt_t p[1000], q[1000];
    static uint8_t out[4000];
    hc_twcc_fb_t h = {.base_seq = 0}, g;
    for (size_t i = 0; i < 1000; i++)
        p[i] = (hc_twcc_pkt_t){
            .seq = (uint16_t)i, .received = true, .arrival_us = 1100 * (int64_t)i + 90};
    size_t cov, n;
    int w = hc_twcc_write(out, sizeof out, &h, p, 1000, &cov);
    ck_assert_int_gt(w, 0);
    ck_assert_int_eq(hc_twcc_parse(out, (size_t)w, &g, q, 1000, &n), w);
    for (size_t i = 0; i < 1000; i++) {
        int64_t err = q[i].arrival_us - p[i].arrival_us;
        ck_assert_int_le(err, 125);
        ck_assert_int_ge(err, -125);
    }
}
END_TEST

START_TEST(stop_on_delta_overflow)
{
    hc_twcc_pkt_t p[10];
    uint8_t out[64];
    size_t cov;
    for (size_t i = 0; i < 10; i++)
        p[i] = (hc_twcc_pkt_t){.seq = (uint16_t)(100 + i),
                               .received = true,
                               .arrival_us = 1000 * (int64_t)i + (i >= 5 ? 9000000 : 0)};
    hc_twcc_fb_t h = {.base_seq = 100, .ref_time = 10};
    int w = hc_twcc_write(out, sizeof out, &h, p, 10, &cov);
    ck_assert_int_gt(w, 0);
    ck_assert_uint_eq(cov, 5); /* the 9 s jump does not fit 16 bits of 250 us */

    /* The rest goes into a new feedback with a reference time near it. */
    hc_twcc_fb_t h2 = {.base_seq = 105, .ref_time = 10 + 9005000 / 64000, .fb_count = 1};
    hc_twcc_pkt_t rest[5];
    for (size_t i = 0; i < 5; i++) {
        rest[i] = p[5 + i];
        rest[i].arrival_us -= (int64_t)(h2.ref_time - h.ref_time) * 64000;
    }
    w = hc_twcc_write(out, sizeof out, &h2, rest, 5, &cov);
    ck_assert_int_gt(w, 0);
    ck_assert_uint_eq(cov, 5);

    /* Nothing coverable: the first packet is already too far. */
    p[0].arrival_us = 9000000;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 10, &cov), -HC_ERANGE);
    ck_assert_uint_eq(cov, 0);
    p[0].arrival_us = -9000000;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 10, &cov), -HC_ERANGE);
    p[0].arrival_us = INT64_MAX;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 10, &cov), -HC_ERANGE);
    /* Lost packets first, then an unreachable one: the lost ones are covered. */
    p[0].received = false;
    p[1].arrival_us = 9000000;
    ck_assert_int_gt(hc_twcc_write(out, sizeof out, &h, p, 10, &cov), 0);
    ck_assert_uint_eq(cov, 1);
}
END_TEST

START_TEST(stop_on_space)
{
    static hc_twcc_pkt_t p[300], q[300];
    static uint8_t full[2000];
    uint64_t st = 99;
    int64_t t = 0;
    for (size_t i = 0; i < 300; i++) {
        uint64_t r = hc_test_rand(&st);
        t += (int64_t)(r % 120000);
        p[i] = (hc_twcc_pkt_t){
            .seq = (uint16_t)(65500 + i), .received = (r >> 20) % 4 != 0, .arrival_us = t};
    }
    hc_twcc_fb_t h = {.base_seq = 65500, .ref_time = 5}, g;
    size_t cov, n, prev = 0;
    int wfull = hc_twcc_write(full, sizeof full, &h, p, 300, &cov);
    ck_assert_uint_eq(cov, 300);
    for (size_t cap = 0; cap <= (size_t)wfull; cap++) {
        uint8_t *b = malloc(cap ? cap : 1);
        int w = hc_twcc_write(b, cap, &h, p, 300, &cov);
        if (cap < 12) {
            ck_assert_int_eq(w, -HC_ENOSPC);
        } else {
            ck_assert_int_gt(w, 0);
            ck_assert_uint_le((size_t)w, cap);
            ck_assert_uint_ge(cov, prev); /* more room never covers less */
            prev = cov;
            ck_assert_int_eq(hc_twcc_parse(b, (size_t)w, &g, q, 300, &n), w);
            ck_assert_uint_eq(n, cov);
            for (size_t i = 0; i < n; i++) {
                ck_assert_uint_eq(q[i].seq, p[i].seq); /* wraps past 65535 */
                ck_assert(q[i].received == p[i].received);
                if (p[i].received) ck_assert_int_eq(q[i].arrival_us, round250(p[i].arrival_us));
            }
        }
        free(b);
    }
    ck_assert_uint_eq(prev, 300);
}
END_TEST

START_TEST(write_args)
{
    hc_twcc_pkt_t p[2] = {{.seq = 1, .received = true}, {.seq = 3, .received = true}};
    hc_twcc_fb_t h = {.base_seq = 1};
    uint8_t out[64];
    size_t cov;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 2, &cov), -HC_EINVAL); /* gap */
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 0, &cov), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_write(NULL, sizeof out, &h, p, 1, &cov), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, NULL, p, 1, &cov), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, NULL, 1, &cov), -HC_EINVAL);
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 1, NULL), -HC_EINVAL);
    h.base_seq = 2;
    ck_assert_int_eq(hc_twcc_write(out, sizeof out, &h, p, 1, &cov), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, sizeof out, 1, 2, &h, p, 1, NULL), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_twcc(out, 11, 1, 2, &h, p, 1, &cov), -HC_ENOSPC);
}
END_TEST

START_TEST(max_status_count)
{
    /* 70000 packets with alternating large deltas: one RTCP packet covers
     * 65535 and stays within the RTCP length field. */
    size_t total = 70000;
    hc_twcc_pkt_t *p = malloc(total * sizeof *p);
    hc_twcc_pkt_t *q = malloc(65535 * sizeof *q);
    uint8_t *out = malloc(1 << 20);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(out);
    int64_t t = 0;
    for (size_t i = 0; i < total; i++) {
        t += (i & 1) ? 70000 : -60000;
        p[i] = (hc_twcc_pkt_t){.seq = (uint16_t)(7 + i), .received = true, .arrival_us = t};
    }
    hc_twcc_fb_t h = {.base_seq = 7, .ref_time = 1}, g;
    size_t cov, n;
    int w = hc_rtcp_write_twcc(out, 1 << 20, 1, 2, &h, p, total, &cov);
    ck_assert_int_gt(w, 0);
    ck_assert_uint_le((size_t)w, HC_RTCP_MAX_LEN);
    ck_assert_uint_eq(cov, 65535);

    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    hc_rtcp_iter_init(&it, out, (size_t)w);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_TWCC);
    ck_assert_int_eq(hc_twcc_parse(pkt.u.fb.fci, pkt.u.fb.fci_len, &g, q, 65535, &n),
                     (int)pkt.u.fb.fci_len);
    ck_assert_uint_eq(n, 65535);
    ck_assert_int_eq(q[65534].arrival_us, p[65534].arrival_us);
    free(p);
    free(q);
    free(out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("twcc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, chrome_vectors);
    tcase_add_test(tc, write_vectors);
    tcase_add_test(tc, draft_chunk_examples);
    tcase_add_test(tc, malformed);
    tcase_add_test(tc, reference_time_sign);
    tcase_add_test(tc, chunk_choice);
    tcase_add_test(tc, roundtrip_random);
    tcase_add_test(tc, rounding_does_not_accumulate);
    tcase_add_test(tc, stop_on_delta_overflow);
    tcase_add_test(tc, stop_on_space);
    tcase_add_test(tc, write_args);
    tcase_add_test(tc, max_status_count);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
