#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* --- vectors, hand-built from the RFC 3550 §6.4 / RFC 4585 §6 layouts ----- */

/* SR with one report block (RFC 3550 §6.4.1). */
static const uint8_t SR1[] = {
    0x81, 0xc8, 0x00, 0x0c, /* V=2 P=0 RC=1, PT=200, length 12 (52 bytes) */
    0x11, 0x22, 0x33, 0x44, /* SSRC of sender */
    0xe1, 0xb2, 0xc3, 0xd4, /* NTP timestamp, most significant word */
    0x80, 0x00, 0x00, 0x00, /* NTP timestamp, least significant word (.5 s) */
    0x00, 0x01, 0x5f, 0x90, /* RTP timestamp 90000 */
    0x00, 0x00, 0x00, 0x64, /* sender's packet count 100 */
    0x00, 0x02, 0x71, 0x00, /* sender's octet count 160000 */
    0x55, 0x66, 0x77, 0x88, /* SSRC_1 */
    0x40,                   /* fraction lost 64/256 */
    0x00, 0x00, 0x05,       /* cumulative lost 5 */
    0x00, 0x01, 0x00, 0x10, /* extended highest seq: 1 cycle, seq 16 */
    0x00, 0x00, 0x00, 0x20, /* interarrival jitter 32 */
    0xc3, 0xd4, 0x80, 0x00, /* LSR: middle 32 bits of the NTP time above */
    0x00, 0x01, 0x00, 0x00, /* DLSR 1 s (65536/65536) */
};

/* RR with two blocks, one with negative cumulative loss (RFC 3550 §6.4.2). */
static const uint8_t RR2[] = {
    0x82, 0xc9, 0x00, 0x0d, /* V=2 P=0 RC=2, PT=201, length 13 (56 bytes) */
    0xde, 0xad, 0xbe, 0xef, /* SSRC of packet sender */
    0x01, 0x02, 0x03, 0x04, /* SSRC_1 */
    0x00,                   /* fraction lost 0 */
    0xff, 0xff, 0xfe,       /* cumulative lost -2 (duplicates) */
    0x00, 0x00, 0xff, 0xff, /* extended highest seq 65535 */
    0x00, 0x00, 0x00, 0x00, /* jitter */
    0x00, 0x00, 0x00, 0x00, /* LSR: no SR received yet */
    0x00, 0x00, 0x00, 0x00, /* DLSR */
    0x0a, 0x0b, 0x0c, 0x0d, /* SSRC_2 */
    0xff,                   /* fraction lost 255/256 */
    0x7f, 0xff, 0xff,       /* cumulative lost 8388607 (largest) */
    0x00, 0x02, 0x00, 0x01, /* extended highest seq: 2 cycles, seq 1 */
    0x00, 0x00, 0x12, 0x34, /* jitter */
    0x00, 0x01, 0x00, 0x02, /* LSR */
    0x00, 0x00, 0x00, 0x03, /* DLSR */
};

/* Empty RR (§6.1: sent when there is nothing to report). */
static const uint8_t RR0[] = {0x80, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2a};

/* SDES with two chunks (RFC 3550 §6.5). */
static const uint8_t SDES2[] = {
    0x82, 0xca, 0x00, 0x09, /* V=2 SC=2, PT=202, length 9 (40 bytes) */
    0x11, 0x22, 0x33, 0x44, /* chunk 1 SSRC */
    0x01, 0x0a,             /* CNAME, 10 octets */
    'h',  'c',  '-',  'e',  'd', 'g', 'e',  '-',  '0',  '1',  0x02, 0x06, /* NAME, 6 octets */
    'R',  'o',  'o',  'm',  ' ', '3', 0x00, 0x00, 0x00, 0x00, /* null item + pad to the boundary */
    0x55, 0x66, 0x77, 0x88,                                   /* chunk 2 SSRC */
    0x00, 0x00, 0x00, 0x00,                                   /* no items: null item + padding */
};

/* BYE with two SSRCs and reason "bye" (RFC 3550 §6.6). */
static const uint8_t BYE2[] = {
    0x82, 0xcb, 0x00, 0x03,                         /* V=2 SC=2, PT=203, length 3 */
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* SSRCs */
    0x03, 'b',  'y',  'e',                          /* reason length 3, text, no padding needed */
};

/* Generic NACK (RFC 4585 §6.2.1): PID 1000, BLP bits 0, 2, 15. */
static const uint8_t NACK1[] = {
    0x81, 0xcd, 0x00, 0x03, /* V=2 FMT=1, PT=205, length 3 */
    0x00, 0x00, 0x00, 0x01, /* SSRC of packet sender */
    0x11, 0x22, 0x33, 0x44, /* SSRC of media source */
    0x03, 0xe8, 0x80, 0x05, /* PID 1000, BLP 0x8005: 1001, 1003, 1016 */
};

/* PLI (RFC 4585 §6.3.1): length MUST be 2. */
static const uint8_t PLI[] = {
    0x81, 0xce, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44,
};

/* FIR (RFC 5104 §4.3.1): one entry, media SSRC 0. */
static const uint8_t FIR1[] = {
    0x84, 0xce, 0x00, 0x04, /* V=2 FMT=4, PT=206, length 4 */
    0x00, 0x00, 0x00, 0x01, /* SSRC of packet sender */
    0x00, 0x00, 0x00, 0x00, /* SSRC of media source: unused, 0 */
    0x11, 0x22, 0x33, 0x44, /* FCI: SSRC */
    0x07, 0x00, 0x00, 0x00, /* seq nr 7, reserved */
};

/* REMB captured from Chrome (used as a vector by pion/rtcp):
 * exp 6, mantissa 139487 -> 8927168 bps, one SSRC. */
static const uint8_t REMB1[] = {
    0x8f, 0xce, 0x00, 0x05, /* V=2 FMT=15, PT=206, length 5 */
    0x00, 0x00, 0x00, 0x01, /* SSRC of packet sender */
    0x00, 0x00, 0x00, 0x00, /* SSRC of media source: 0 */
    'R',  'E',  'M',  'B',  /* unique identifier */
    0x01, 0x1a, 0x20, 0xdf, /* num SSRC 1, exp 6, mantissa 0x220df */
    0x48, 0x74, 0xed, 0x16, /* SSRC feedback */
};

/* Transport-wide CC feedback captured from Chrome (pion/rtcp vector):
 * padded with the RTCP P bit, one packet received 37 ms after ref time. */
static const uint8_t TWCC_CHROME[] = {
    0xaf, 0xcd, 0x00, 0x05, /* V=2 P=1 FMT=15, PT=205, length 5 */
    0xfa, 0x17, 0xfa, 0x17, /* SSRC of packet sender */
    0x43, 0x03, 0x2f, 0xa0, /* SSRC of media source */
    0x00, 0x99, 0x00, 0x01, /* base seq 153, status count 1 */
    0x3d, 0xe8, 0x02, 0x17, /* reference time 4057090, fb count 23 */
    0x20, 0x01,             /* run length chunk: small delta x1 */
    0x94,                   /* recv delta 148 * 250 us */
    0x01,                   /* RTCP padding count 1 */
};

/* APP (§6.7) and XR (RFC 3611): not handled, returned raw. */
static const uint8_t APP1[] = {
    0x80, 0xcc, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 'h', 'c', 's', 't', 0xaa, 0xbb, 0xcc, 0xdd,
};

static uint8_t *heap_copy(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    if (n) memcpy(b, p, n);
    return b;
}

/* Iterate a whole buffer; returns the last hc_rtcp_next() result (0 or <0)
 * and the number of packets seen. */
static int walk(const uint8_t *buf, size_t len, int *npkts)
{
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    int rc, n = 0;
    hc_rtcp_iter_init(&it, buf, len);
    while ((rc = hc_rtcp_next(&it, &pkt)) == 1) n++;
    if (npkts) *npkts = n;
    return rc;
}

/* Parse a buffer holding exactly one packet. */
static void one(const uint8_t *buf, size_t len, hc_rtcp_pkt_t *pkt)
{
    hc_rtcp_iter_t it;
    hc_rtcp_iter_init(&it, buf, len);
    ck_assert_int_eq(hc_rtcp_next(&it, pkt), 1);
    hc_rtcp_pkt_t dummy;
    ck_assert_int_eq(hc_rtcp_next(&it, &dummy), 0);
}

/*
 * Every truncated length of a compound: an error, except where the cut
 * falls exactly between packets (then a valid shorter compound). Copies
 * into exactly sized heap buffers so ASan sees any over-read.
 */
static void check_truncations(const uint8_t *v, size_t len)
{
    bool boundary[4096] = {false};
    ck_assert_uint_lt(len, sizeof boundary);
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    size_t off = 0;
    hc_rtcp_iter_init(&it, v, len);
    while (hc_rtcp_next(&it, &pkt) == 1) {
        off += pkt.len;
        boundary[off] = true;
    }
    ck_assert_uint_eq(off, len);

    for (size_t n = 0; n < len; n++) {
        uint8_t *b = heap_copy(v, n);
        int rc = walk(b, n, NULL);
        if (boundary[n])
            ck_assert_int_eq(rc, 0);
        else
            ck_assert_int_lt(rc, 0);
        if (!boundary[n]) ck_assert_int_lt(hc_rtcp_validate_compound(b, n), 0);
        free(b);
    }
}

/* --- demux ---------------------------------------------------------------- */

START_TEST(demux)
{
    ck_assert(hc_rtcp_is_rtcp(SR1, sizeof SR1));
    ck_assert(hc_rtcp_is_rtcp(RR0, sizeof RR0));
    ck_assert(hc_rtcp_is_rtcp(PLI, sizeof PLI));
    ck_assert(!hc_rtcp_is_rtcp(RR0, 7)); /* shorter than header + SSRC */
    ck_assert(!hc_rtcp_is_rtcp(NULL, 8));

    uint8_t rtp[12] = {0x80, 0x60}; /* RTP PT 96 */
    ck_assert(!hc_rtcp_is_rtcp(rtp, sizeof rtp));
    rtp[1] = 0x80 | 96; /* marker set: 224, outside 192..223 */
    ck_assert(!hc_rtcp_is_rtcp(rtp, sizeof rtp));
    rtp[1] = 0x80 | 72; /* PT 72 with marker = 200: why RFC 5761 bans 64..95 */
    ck_assert(hc_rtcp_is_rtcp(rtp, sizeof rtp));
    rtp[1] = 191;
    ck_assert(!hc_rtcp_is_rtcp(rtp, sizeof rtp));

    uint8_t v1[8];
    memcpy(v1, RR0, 8);
    v1[0] = 0x40; /* version 1 */
    ck_assert(!hc_rtcp_is_rtcp(v1, sizeof v1));
}
END_TEST

/* --- SR / RR -------------------------------------------------------------- */

START_TEST(sr_vector)
{
    hc_rtcp_pkt_t pkt;
    hc_rtcp_rb_t rb;
    one(SR1, sizeof SR1, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_SR);
    ck_assert_uint_eq(pkt.type, HC_RTCP_PT_SR);
    ck_assert_uint_eq(pkt.len, sizeof SR1);
    ck_assert_uint_eq(pkt.u.report.ssrc, 0x11223344);
    ck_assert_uint_eq(pkt.u.report.info.ntp, 0xe1b2c3d480000000ull);
    ck_assert_uint_eq(pkt.u.report.info.rtp_ts, 90000);
    ck_assert_uint_eq(pkt.u.report.info.packet_count, 100);
    ck_assert_uint_eq(pkt.u.report.info.octet_count, 160000);
    ck_assert_uint_eq(pkt.u.report.rb_count, 1);
    ck_assert_ptr_null(pkt.u.report.ext);
    ck_assert_int_eq(hc_rtcp_report_block(&pkt, 0, &rb), 0);
    ck_assert_uint_eq(rb.ssrc, 0x55667788);
    ck_assert_uint_eq(rb.fraction_lost, 0x40);
    ck_assert_int_eq(rb.cumulative_lost, 5);
    ck_assert_uint_eq(rb.ext_highest_seq, 0x10010);
    ck_assert_uint_eq(rb.jitter, 32);
    ck_assert_uint_eq(rb.lsr, 0xc3d48000);
    ck_assert_uint_eq(rb.dlsr, 65536);
    ck_assert_int_eq(hc_rtcp_report_block(&pkt, 1, &rb), -HC_EINVAL);

    /* Writer reproduces the vector byte for byte. */
    uint8_t out[64];
    hc_rtcp_sender_info_t si = pkt.u.report.info;
    ck_assert_int_eq(hc_rtcp_write_sr(out, sizeof out, 0x11223344, &si, &rb, 1), sizeof SR1);
    ck_assert_mem_eq(out, SR1, sizeof SR1);
    check_truncations(SR1, sizeof SR1);
}
END_TEST

START_TEST(rr_vector)
{
    hc_rtcp_pkt_t pkt;
    hc_rtcp_rb_t rb[2];
    one(RR2, sizeof RR2, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_RR);
    ck_assert_uint_eq(pkt.u.report.ssrc, 0xdeadbeef);
    ck_assert_uint_eq(pkt.u.report.info.ntp, 0);
    ck_assert_uint_eq(pkt.u.report.rb_count, 2);
    ck_assert_int_eq(hc_rtcp_report_block(&pkt, 0, &rb[0]), 0);
    ck_assert_int_eq(hc_rtcp_report_block(&pkt, 1, &rb[1]), 0);
    ck_assert_uint_eq(rb[0].ssrc, 0x01020304);
    ck_assert_int_eq(rb[0].cumulative_lost, -2);
    ck_assert_uint_eq(rb[0].ext_highest_seq, 65535);
    ck_assert_uint_eq(rb[1].fraction_lost, 255);
    ck_assert_int_eq(rb[1].cumulative_lost, 0x7fffff);
    ck_assert_uint_eq(rb[1].ext_highest_seq, 0x20001);
    ck_assert_uint_eq(rb[1].jitter, 0x1234);
    ck_assert_uint_eq(rb[1].lsr, 0x10002);
    ck_assert_uint_eq(rb[1].dlsr, 3);

    uint8_t out[64];
    ck_assert_int_eq(hc_rtcp_write_rr(out, sizeof out, 0xdeadbeef, rb, 2), sizeof RR2);
    ck_assert_mem_eq(out, RR2, sizeof RR2);
    check_truncations(RR2, sizeof RR2);

    one(RR0, sizeof RR0, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_RR);
    ck_assert_uint_eq(pkt.u.report.rb_count, 0);
    ck_assert_uint_eq(pkt.u.report.ssrc, 42);
    ck_assert_int_eq(hc_rtcp_write_rr(out, sizeof out, 42, NULL, 0), sizeof RR0);
    ck_assert_mem_eq(out, RR0, sizeof RR0);
    check_truncations(RR0, sizeof RR0);
}
END_TEST

START_TEST(report_extension_and_clamp)
{
    /* RR with no blocks and an 8-byte profile-specific extension. */
    static const uint8_t rr_ext[] = {0x80, 0xc9, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07,
                                     0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x02, 0x03, 0x04};
    hc_rtcp_pkt_t pkt;
    one(rr_ext, sizeof rr_ext, &pkt);
    ck_assert_ptr_eq(pkt.u.report.ext, rr_ext + 8);
    ck_assert_uint_eq(pkt.u.report.ext_len, 8);

    /* RC says 1 block but only the SSRC is there. */
    static const uint8_t rr_short[] = {0x81, 0xc9, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07};
    ck_assert_int_eq(walk(rr_short, sizeof rr_short, NULL), -HC_ETRUNC);

    /* Appendix A.3: cumulative lost is clamped, not wrapped. */
    hc_rtcp_rb_t in[2] = {{.ssrc = 1, .cumulative_lost = 0x1000000},
                          {.ssrc = 2, .cumulative_lost = -0x900000}};
    uint8_t out[64];
    int n = hc_rtcp_write_rr(out, sizeof out, 9, in, 2);
    ck_assert_int_gt(n, 0);
    one(out, (size_t)n, &pkt);
    hc_rtcp_rb_t rb;
    hc_rtcp_report_block(&pkt, 0, &rb);
    ck_assert_int_eq(rb.cumulative_lost, 0x7fffff);
    hc_rtcp_report_block(&pkt, 1, &rb);
    ck_assert_int_eq(rb.cumulative_lost, -0x800000);
}
END_TEST

START_TEST(report_roundtrip_random)
{
    uint64_t st = 77;
    uint8_t out[1024];
    for (int iter = 0; iter < 200; iter++) {
        size_t n = hc_test_rand(&st) % 32;
        hc_rtcp_rb_t rb[31];
        for (size_t i = 0; i < n; i++) {
            uint64_t r = hc_test_rand(&st);
            rb[i] = (hc_rtcp_rb_t){
                .ssrc = (uint32_t)r,
                .fraction_lost = (uint8_t)(r >> 32),
                .cumulative_lost = (int32_t)((r >> 40) & 0xffffff) - 0x800000,
                .ext_highest_seq = (uint32_t)hc_test_rand(&st),
                .jitter = (uint32_t)hc_test_rand(&st),
                .lsr = (uint32_t)hc_test_rand(&st),
                .dlsr = (uint32_t)hc_test_rand(&st),
            };
        }
        hc_rtcp_sender_info_t si = {.ntp = hc_test_rand(&st),
                                    .rtp_ts = (uint32_t)hc_test_rand(&st),
                                    .packet_count = (uint32_t)hc_test_rand(&st),
                                    .octet_count = (uint32_t)hc_test_rand(&st)};
        bool sr = iter & 1;
        int w = sr ? hc_rtcp_write_sr(out, sizeof out, 5, &si, rb, n)
                   : hc_rtcp_write_rr(out, sizeof out, 5, rb, n);
        ck_assert_int_eq(w, (sr ? 28 : 8) + 24 * (int)n);
        hc_rtcp_pkt_t pkt;
        one(out, (size_t)w, &pkt);
        ck_assert_uint_eq(pkt.u.report.rb_count, n);
        if (sr) {
            ck_assert_uint_eq(pkt.u.report.info.ntp, si.ntp);
            ck_assert_uint_eq(pkt.u.report.info.rtp_ts, si.rtp_ts);
            ck_assert_uint_eq(pkt.u.report.info.packet_count, si.packet_count);
            ck_assert_uint_eq(pkt.u.report.info.octet_count, si.octet_count);
        }
        for (size_t i = 0; i < n; i++) {
            hc_rtcp_rb_t got;
            ck_assert_int_eq(hc_rtcp_report_block(&pkt, i, &got), 0);
            ck_assert_uint_eq(got.ssrc, rb[i].ssrc);
            ck_assert_uint_eq(got.fraction_lost, rb[i].fraction_lost);
            ck_assert_int_eq(got.cumulative_lost, rb[i].cumulative_lost);
            ck_assert_uint_eq(got.ext_highest_seq, rb[i].ext_highest_seq);
            ck_assert_uint_eq(got.jitter, rb[i].jitter);
            ck_assert_uint_eq(got.lsr, rb[i].lsr);
            ck_assert_uint_eq(got.dlsr, rb[i].dlsr);
        }
    }
}
END_TEST

/* --- SDES ----------------------------------------------------------------- */

START_TEST(sdes_vector)
{
    hc_rtcp_pkt_t pkt;
    one(SDES2, sizeof SDES2, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_SDES);
    ck_assert_uint_eq(pkt.u.sdes.chunk_count, 2);

    hc_rtcp_sdes_iter_t it;
    hc_rtcp_sdes_chunk_t c;
    hc_rtcp_sdes_item_t item;
    size_t off = 0;
    hc_rtcp_sdes_iter_init(&it, &pkt);
    ck_assert_int_eq(hc_rtcp_sdes_next(&it, &c), 1);
    ck_assert_uint_eq(c.ssrc, 0x11223344);
    ck_assert_uint_eq(c.cname_len, 10);
    ck_assert_mem_eq(c.cname, "hc-edge-01", 10);
    ck_assert_int_eq(hc_rtcp_sdes_item_next(&c, &off, &item), 1);
    ck_assert_uint_eq(item.type, HC_RTCP_SDES_CNAME);
    ck_assert_int_eq(hc_rtcp_sdes_item_next(&c, &off, &item), 1);
    ck_assert_uint_eq(item.type, HC_RTCP_SDES_NAME);
    ck_assert_uint_eq(item.len, 6);
    ck_assert_mem_eq(item.text, "Room 3", 6);
    ck_assert_int_eq(hc_rtcp_sdes_item_next(&c, &off, &item), 0);

    ck_assert_int_eq(hc_rtcp_sdes_next(&it, &c), 1);
    ck_assert_uint_eq(c.ssrc, 0x55667788);
    ck_assert_ptr_null(c.cname);
    ck_assert_uint_eq(c.items_len, 0);
    ck_assert_int_eq(hc_rtcp_sdes_next(&it, &c), 0);
    check_truncations(SDES2, sizeof SDES2);
}
END_TEST

START_TEST(sdes_cname_write)
{
    static const uint8_t expect[] = {
        0x81, 0xca, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0x01, 0x0a, 'h',  'c',
        '-',  'e',  'd',  'g',  'e',  '-',  '0',  '1',  0x00, 0x00, 0x00, 0x00,
    };
    uint8_t out[300];
    ck_assert_int_eq(hc_rtcp_write_sdes_cname(out, sizeof out, 0x11223344, "hc-edge-01", 10),
                     sizeof expect);
    ck_assert_mem_eq(out, expect, sizeof expect);

    /* Every length 0..255 round-trips, padding to 32 bits with >= 1 null. */
    char name[256];
    for (size_t i = 0; i < sizeof name; i++) name[i] = (char)('a' + i % 26);
    for (size_t len = 0; len <= 255; len++) {
        int n = hc_rtcp_write_sdes_cname(out, sizeof out, 7, name, len);
        ck_assert_int_eq(n, 8 + (int)((2 + len + 1 + 3) & ~(size_t)3));
        hc_rtcp_pkt_t pkt;
        one(out, (size_t)n, &pkt);
        hc_rtcp_sdes_iter_t it;
        hc_rtcp_sdes_chunk_t c;
        hc_rtcp_sdes_iter_init(&it, &pkt);
        ck_assert_int_eq(hc_rtcp_sdes_next(&it, &c), 1);
        ck_assert_uint_eq(c.ssrc, 7);
        ck_assert_ptr_nonnull(c.cname);
        ck_assert_uint_eq(c.cname_len, len);
        if (len) ck_assert_mem_eq(c.cname, name, len);
        if (len % 4 == 1) check_truncations(out, (size_t)n);
    }
    ck_assert_int_eq(hc_rtcp_write_sdes_cname(out, sizeof out, 7, name, 256), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_sdes_cname(out, sizeof out, 7, NULL, 3), -HC_EINVAL);
    for (size_t cap = 0; cap < sizeof expect; cap++)
        ck_assert_int_eq(hc_rtcp_write_sdes_cname(out, cap, 1, "hc-edge-01", 10), -HC_ENOSPC);
}
END_TEST

START_TEST(sdes_malformed)
{
    /* Item runs to the end of the packet with no null item after it. */
    static const uint8_t no_null[] = {0x81, 0xca, 0x00, 0x02, 0x00, 0x00,
                                      0x00, 0x01, 0x01, 0x02, 'a',  'b'};
    ck_assert_int_eq(walk(no_null, sizeof no_null, NULL), -HC_ETRUNC);
    /* Item length points past the packet. */
    static const uint8_t long_item[] = {0x81, 0xca, 0x00, 0x02, 0x00, 0x00,
                                        0x00, 0x01, 0x01, 0x09, 'a',  'b'};
    ck_assert_int_eq(walk(long_item, sizeof long_item, NULL), -HC_ETRUNC);
    /* SC=1 but a second chunk's worth of bytes follows. */
    static const uint8_t extra[] = {0x81, 0xca, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,
                                    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02};
    ck_assert_int_eq(walk(extra, sizeof extra, NULL), -HC_EMALFORMED);
    /* SC=2 with one chunk. */
    static const uint8_t missing[] = {0x82, 0xca, 0x00, 0x02, 0x00, 0x00,
                                      0x00, 0x01, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(walk(missing, sizeof missing, NULL), -HC_ETRUNC);
    /* SC=0, empty body: valid and useless. */
    static const uint8_t empty[] = {0x80, 0xca, 0x00, 0x00};
    ck_assert_int_eq(walk(empty, sizeof empty, NULL), 0);
}
END_TEST

/* --- BYE ------------------------------------------------------------------ */

START_TEST(bye_vector)
{
    hc_rtcp_pkt_t pkt;
    uint32_t s;
    one(BYE2, sizeof BYE2, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_BYE);
    ck_assert_uint_eq(pkt.u.bye.ssrc_count, 2);
    ck_assert_int_eq(hc_rtcp_bye_ssrc(&pkt, 0, &s), 0);
    ck_assert_uint_eq(s, 0x11223344);
    ck_assert_int_eq(hc_rtcp_bye_ssrc(&pkt, 1, &s), 0);
    ck_assert_uint_eq(s, 0x55667788);
    ck_assert_int_eq(hc_rtcp_bye_ssrc(&pkt, 2, &s), -HC_EINVAL);
    ck_assert_uint_eq(pkt.u.bye.reason_len, 3);
    ck_assert_mem_eq(pkt.u.bye.reason, "bye", 3);

    uint8_t out[64];
    uint32_t ssrcs[2] = {0x11223344, 0x55667788};
    ck_assert_int_eq(hc_rtcp_write_bye(out, sizeof out, ssrcs, 2, "bye", 3), sizeof BYE2);
    ck_assert_mem_eq(out, BYE2, sizeof BYE2);
    check_truncations(BYE2, sizeof BYE2);

    /* No reason. */
    int n = hc_rtcp_write_bye(out, sizeof out, ssrcs, 1, NULL, 0);
    ck_assert_int_eq(n, 8);
    one(out, (size_t)n, &pkt);
    ck_assert_ptr_null(pkt.u.bye.reason);

    /* Reason needing padding: 1 + 10 -> 12. */
    n = hc_rtcp_write_bye(out, sizeof out, ssrcs, 1, "camera off", 10);
    ck_assert_int_eq(n, 20);
    one(out, (size_t)n, &pkt);
    ck_assert_uint_eq(pkt.u.bye.reason_len, 10);
    ck_assert_mem_eq(pkt.u.bye.reason, "camera off", 10);
    check_truncations(out, (size_t)n);

    /* Reason length past the end; junk after the reason's padding. */
    static const uint8_t long_reason[] = {0x81, 0xcb, 0x00, 0x02, 0, 0, 0, 1, 0x09, 'x', 'y', 'z'};
    ck_assert_int_eq(walk(long_reason, sizeof long_reason, NULL), -HC_ETRUNC);
    static const uint8_t junk[] = {0x81, 0xcb, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0, 0, 0, 1, 2, 3, 4};
    ck_assert_int_eq(walk(junk, sizeof junk, NULL), -HC_EMALFORMED);

    ck_assert_int_eq(hc_rtcp_write_bye(out, sizeof out, ssrcs, 0, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_bye(out, sizeof out, ssrcs, 32, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_bye(out, sizeof out, ssrcs, 1, NULL, 2), -HC_EINVAL);
    for (size_t cap = 0; cap < sizeof BYE2; cap++)
        ck_assert_int_eq(hc_rtcp_write_bye(out, cap, ssrcs, 2, "bye", 3), -HC_ENOSPC);
}
END_TEST

/* --- NACK ----------------------------------------------------------------- */

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Sort and drop duplicates; returns the new count. */
static size_t uniq(uint16_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u16);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || v[m - 1] != v[i]) v[m++] = v[i];
    return m;
}

START_TEST(nack_vector)
{
    hc_rtcp_pkt_t pkt;
    uint16_t pid, blp, lost[32];
    one(NACK1, sizeof NACK1, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_NACK);
    ck_assert_uint_eq(pkt.u.fb.sender_ssrc, 1);
    ck_assert_uint_eq(pkt.u.fb.media_ssrc, 0x11223344);
    ck_assert_uint_eq(pkt.u.fb.count, 1);
    ck_assert_int_eq(hc_rtcp_nack_fci(&pkt, 0, &pid, &blp), 0);
    ck_assert_uint_eq(pid, 1000);
    ck_assert_uint_eq(blp, 0x8005);
    ck_assert_int_eq(hc_rtcp_nack_fci(&pkt, 1, &pid, &blp), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_nack_lost(&pkt, lost, 32), 4);
    ck_assert_uint_eq(lost[0], 1000);
    ck_assert_uint_eq(lost[1], 1001);
    ck_assert_uint_eq(lost[2], 1003);
    ck_assert_uint_eq(lost[3], 1016);
    ck_assert_int_eq(hc_rtcp_nack_lost(&pkt, lost, 3), -HC_ENOSPC);

    /* Unsorted, with a duplicate: same bytes. */
    uint16_t in[] = {1016, 1003, 1000, 1001, 1003};
    uint8_t out[64];
    ck_assert_int_eq(hc_rtcp_write_nack(out, sizeof out, 1, 0x11223344, in, 5), sizeof NACK1);
    ck_assert_mem_eq(out, NACK1, sizeof NACK1);
    check_truncations(NACK1, sizeof NACK1);
    for (size_t cap = 0; cap < sizeof NACK1; cap++)
        ck_assert_int_eq(hc_rtcp_write_nack(out, cap, 1, 2, in, 5), -HC_ENOSPC);
    ck_assert_int_eq(hc_rtcp_write_nack(out, sizeof out, 1, 2, in, 0), -HC_EINVAL);

    /* NACK without FCI is a format violation (§6.2.1 needs at least one). */
    static const uint8_t empty[] = {0x81, 0xcd, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 2};
    ck_assert_int_eq(walk(empty, sizeof empty, NULL), -HC_EMALFORMED);
}
END_TEST

START_TEST(nack_wrap)
{
    /* 65533..65535 and 0..2, plus 20: oldest first across the wrap. */
    uint16_t in[] = {2, 65534, 0, 20, 65533, 1, 65535};
    uint8_t out[64];
    int n = hc_rtcp_write_nack(out, sizeof out, 1, 2, in, 7);
    ck_assert_int_eq(n, 12 + 8);
    hc_rtcp_pkt_t pkt;
    uint16_t pid, blp;
    one(out, (size_t)n, &pkt);
    ck_assert_uint_eq(pkt.u.fb.count, 2);
    hc_rtcp_nack_fci(&pkt, 0, &pid, &blp);
    ck_assert_uint_eq(pid, 65533);
    ck_assert_uint_eq(blp, 0x001f); /* 65534, 65535, 0, 1, 2 */
    hc_rtcp_nack_fci(&pkt, 1, &pid, &blp);
    ck_assert_uint_eq(pid, 20);
    ck_assert_uint_eq(blp, 0);

    /* Exactly 17 apart: PID + 16 fits the BLP's top bit. */
    uint16_t edge[] = {65530, (uint16_t)(65530 + 16), (uint16_t)(65530 + 17)};
    n = hc_rtcp_write_nack(out, sizeof out, 1, 2, edge, 3);
    one(out, (size_t)n, &pkt);
    ck_assert_uint_eq(pkt.u.fb.count, 2);
    hc_rtcp_nack_fci(&pkt, 0, &pid, &blp);
    ck_assert_uint_eq(pid, 65530);
    ck_assert_uint_eq(blp, 0x8000);
    hc_rtcp_nack_fci(&pkt, 1, &pid, &blp);
    ck_assert_uint_eq(pid, 11);
    ck_assert_uint_eq(blp, 0);
}
END_TEST

START_TEST(nack_roundtrip_random)
{
    uint64_t st = 5;
    static uint16_t in[600], want[600], got[600 * 17];
    static uint8_t out[12 + 4 * 600];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 1 + hc_test_rand(&st) % 500;
        uint16_t base = (uint16_t)hc_test_rand(&st);
        uint32_t span = 1 + (uint32_t)(hc_test_rand(&st) % 2000);
        for (size_t i = 0; i < n; i++) in[i] = (uint16_t)(base + hc_test_rand(&st) % span);
        int w = hc_rtcp_write_nack(out, sizeof out, 3, 4, in, n);
        ck_assert_int_gt(w, 0);
        hc_rtcp_pkt_t pkt;
        one(out, (size_t)w, &pkt);
        int m = hc_rtcp_nack_lost(&pkt, got, sizeof got / sizeof *got);
        ck_assert_int_gt(m, 0);
        /* Every lost number appears exactly once, and PIDs ascend from the
         * oldest in modular order. */
        memcpy(want, in, n * sizeof *in);
        size_t nw = uniq(want, n);
        ck_assert_uint_eq((size_t)m, nw);
        size_t ng = uniq(got, (size_t)m);
        ck_assert_uint_eq(ng, nw);
        ck_assert_mem_eq(got, want, nw * sizeof *want);
        uint16_t prev_pid = 0;
        for (size_t i = 0; i < pkt.u.fb.count; i++) {
            uint16_t pid, blp;
            hc_rtcp_nack_fci(&pkt, i, &pid, &blp);
            if (i > 0) ck_assert_int_gt((int16_t)(uint16_t)(pid - prev_pid), 16);
            prev_pid = pid;
        }
    }
}
END_TEST

/* --- PLI / FIR / REMB ----------------------------------------------------- */

START_TEST(pli_fir_vectors)
{
    hc_rtcp_pkt_t pkt;
    uint8_t out[64];
    one(PLI, sizeof PLI, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_PLI);
    ck_assert_uint_eq(pkt.u.fb.sender_ssrc, 1);
    ck_assert_uint_eq(pkt.u.fb.media_ssrc, 0x11223344);
    ck_assert_int_eq(hc_rtcp_write_pli(out, sizeof out, 1, 0x11223344), sizeof PLI);
    ck_assert_mem_eq(out, PLI, sizeof PLI);
    check_truncations(PLI, sizeof PLI);
    ck_assert_int_eq(hc_rtcp_write_pli(out, 11, 1, 2), -HC_ENOSPC);

    /* PLI with an FCI word: length MUST be 2. */
    static const uint8_t pli_fci[] = {0x81, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
    ck_assert_int_eq(walk(pli_fci, sizeof pli_fci, NULL), -HC_EMALFORMED);

    hc_rtcp_fir_t e;
    one(FIR1, sizeof FIR1, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_FIR);
    ck_assert_uint_eq(pkt.u.fb.count, 1);
    ck_assert_int_eq(hc_rtcp_fir_entry(&pkt, 0, &e), 0);
    ck_assert_uint_eq(e.ssrc, 0x11223344);
    ck_assert_uint_eq(e.seq, 7);
    ck_assert_int_eq(hc_rtcp_fir_entry(&pkt, 1, &e), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_fir(out, sizeof out, 1, &e, 1), sizeof FIR1);
    ck_assert_mem_eq(out, FIR1, sizeof FIR1);
    check_truncations(FIR1, sizeof FIR1);

    hc_rtcp_fir_t many[3] = {{10, 1}, {20, 2}, {30, 255}};
    int n = hc_rtcp_write_fir(out, sizeof out, 9, many, 3);
    ck_assert_int_eq(n, 36);
    one(out, (size_t)n, &pkt);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(hc_rtcp_fir_entry(&pkt, i, &e), 0);
        ck_assert_uint_eq(e.ssrc, many[i].ssrc);
        ck_assert_uint_eq(e.seq, many[i].seq);
    }
    ck_assert_int_eq(hc_rtcp_write_fir(out, sizeof out, 9, many, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_fir(out, 35, 9, many, 3), -HC_ENOSPC);

    /* FIR without entries, and with half an entry. */
    static const uint8_t fir0[] = {0x84, 0xce, 0x00, 0x02, 0, 0, 0, 1, 0, 0, 0, 0};
    ck_assert_int_eq(walk(fir0, sizeof fir0, NULL), -HC_EMALFORMED);
    static const uint8_t fir_half[] = {0x84, 0xce, 0x00, 0x03, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5};
    ck_assert_int_eq(walk(fir_half, sizeof fir_half, NULL), -HC_EMALFORMED);
}
END_TEST

START_TEST(remb_vector)
{
    hc_rtcp_pkt_t pkt;
    uint32_t s;
    one(REMB1, sizeof REMB1, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_REMB);
    ck_assert_uint_eq(pkt.u.fb.sender_ssrc, 1);
    ck_assert_uint_eq(pkt.u.fb.remb.exp, 6);
    ck_assert_uint_eq(pkt.u.fb.remb.mantissa, 139487);
    ck_assert_uint_eq(pkt.u.fb.remb.bitrate, 8927168);
    ck_assert_uint_eq(pkt.u.fb.count, 1);
    ck_assert_int_eq(hc_rtcp_remb_ssrc(&pkt, 0, &s), 0);
    ck_assert_uint_eq(s, 1215622422u);
    ck_assert_int_eq(hc_rtcp_remb_ssrc(&pkt, 1, &s), -HC_EINVAL);

    uint8_t out[64];
    ck_assert_int_eq(hc_rtcp_write_remb(out, sizeof out, 1, 8927168, &s, 1), sizeof REMB1);
    ck_assert_mem_eq(out, REMB1, sizeof REMB1);
    check_truncations(REMB1, sizeof REMB1);
    for (size_t cap = 0; cap < sizeof REMB1; cap++)
        ck_assert_int_eq(hc_rtcp_write_remb(out, cap, 1, 8927168, &s, 1), -HC_ENOSPC);

    /* One bps less: the mantissa rounds down, never above the request. */
    int n = hc_rtcp_write_remb(out, sizeof out, 1, 8927167, &s, 1);
    one(out, (size_t)n, &pkt);
    ck_assert_uint_eq(pkt.u.fb.remb.bitrate, 8927104);

    /* REMB with the SSRC count larger / smaller than what follows. */
    uint8_t bad[sizeof REMB1];
    memcpy(bad, REMB1, sizeof bad);
    bad[16] = 2;
    ck_assert_int_eq(walk(bad, sizeof bad, NULL), -HC_ETRUNC);
    bad[16] = 0;
    ck_assert_int_eq(walk(bad, sizeof bad, NULL), -HC_EMALFORMED);
    /* Application feedback that is not REMB is passed through raw. */
    bad[12] = 'X';
    one(bad, sizeof bad, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_PSFB);
    ck_assert_uint_eq(pkt.u.fb.fci_len, 12);
}
END_TEST

START_TEST(remb_encoding)
{
    uint8_t e;
    uint32_t m;
    hc_rtcp_remb_encode(0, &e, &m);
    ck_assert_uint_eq(e, 0);
    ck_assert_uint_eq(m, 0);
    hc_rtcp_remb_encode(0x3ffff, &e, &m);
    ck_assert_uint_eq(e, 0);
    ck_assert_uint_eq(m, 0x3ffff);
    hc_rtcp_remb_encode(0x40000, &e, &m);
    ck_assert_uint_eq(e, 1);
    ck_assert_uint_eq(m, 0x20000);
    hc_rtcp_remb_encode(UINT64_MAX, &e, &m);
    ck_assert_uint_eq(e, 46);
    ck_assert_uint_eq(m, 0x3ffff);
    /* Exponents past 46 overflow 64 bits: saturate. */
    ck_assert_uint_eq(hc_rtcp_remb_decode(63, 0x3ffff), UINT64_MAX);
    ck_assert_uint_eq(hc_rtcp_remb_decode(63, 1), 1ull << 63);
    ck_assert_uint_eq(hc_rtcp_remb_decode(47, 0x1ffff), 0x1ffffull << 47);
    ck_assert_uint_eq(hc_rtcp_remb_decode(47, 0x20000), UINT64_MAX);

    uint64_t st = 11;
    for (int i = 0; i < 10000; i++) {
        uint64_t want = hc_test_rand(&st) >> (hc_test_rand(&st) % 64);
        hc_rtcp_remb_encode(want, &e, &m);
        uint64_t got = hc_rtcp_remb_decode(e, m);
        ck_assert_uint_le(got, want);
        ck_assert_uint_lt(want - got, 1ull << e); /* only the truncated bits */
        ck_assert_uint_le(m, 0x3ffff);
        if (e > 0) ck_assert_uint_ge(m, 0x20000); /* smallest exponent */
    }
}
END_TEST

/* --- compounds, padding, unknown types, validation ------------------------ */

START_TEST(compound_roundtrip)
{
    uint8_t buf[512];
    size_t off = 0;
    hc_rtcp_sender_info_t si = {.ntp = 0x0102030405060708ull, .rtp_ts = 3000};
    hc_rtcp_rb_t rb = {.ssrc = 0xabcdef01, .fraction_lost = 12, .cumulative_lost = -1};
    uint16_t lost[] = {100, 102, 140};
    ck_assert_int_eq(
        hc_rtcp_append(&off, hc_rtcp_write_sr(buf + off, sizeof buf - off, 0x1234, &si, &rb, 1)),
        0);
    ck_assert_int_eq(hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(buf + off, sizeof buf - off,
                                                                   0x1234, "relay@a", 7)),
                     0);
    ck_assert_int_eq(hc_rtcp_append(&off, hc_rtcp_write_nack(buf + off, sizeof buf - off, 0x1234,
                                                             0xabcdef01, lost, 3)),
                     0);
    ck_assert_int_eq(
        hc_rtcp_append(&off, hc_rtcp_write_pli(buf + off, sizeof buf - off, 0x1234, 0xabcdef01)),
        0);
    size_t before = off;
    ck_assert_int_eq(hc_rtcp_append(&off, hc_rtcp_write_pli(buf + off, 3, 1, 2)), -HC_ENOSPC);
    ck_assert_uint_eq(off, before);

    static const hc_rtcp_kind_t kinds[] = {HC_RTCP_KIND_SR, HC_RTCP_KIND_SDES, HC_RTCP_KIND_NACK,
                                           HC_RTCP_KIND_PLI};
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    hc_rtcp_iter_init(&it, buf, off);
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
        ck_assert_int_eq(pkt.kind, kinds[i]);
    }
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 0);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 0);
    ck_assert_int_eq(hc_rtcp_validate_compound(buf, off), 4);
    check_truncations(buf, off);

    /* The static vectors glued together as one datagram. */
    uint8_t big[1024];
    const struct {
        const uint8_t *p;
        size_t n;
    } parts[] = {{RR2, sizeof RR2},     {SDES2, sizeof SDES2},
                 {NACK1, sizeof NACK1}, {FIR1, sizeof FIR1},
                 {REMB1, sizeof REMB1}, {APP1, sizeof APP1},
                 {BYE2, sizeof BYE2},   {PLI, sizeof PLI},
                 {SR1, sizeof SR1},     {TWCC_CHROME, sizeof TWCC_CHROME}};
    size_t len = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        memcpy(big + len, parts[i].p, parts[i].n);
        len += parts[i].n;
    }
    int npk;
    ck_assert_int_eq(walk(big, len, &npk), 0);
    ck_assert_int_eq(npk, 10);
    ck_assert_int_eq(hc_rtcp_validate_compound(big, len), 10);
    check_truncations(big, len);
}
END_TEST

START_TEST(padding)
{
    /* Empty RR padded by 4: P on the last (only) packet is fine. */
    static const uint8_t rr_pad[] = {0xa0, 0xc9, 0x00, 0x02, 0x00, 0x00,
                                     0x00, 0x2a, 0x00, 0x00, 0x00, 0x04};
    hc_rtcp_pkt_t pkt;
    one(rr_pad, sizeof rr_pad, &pkt);
    ck_assert_uint_eq(pkt.padding_len, 4);
    ck_assert_uint_eq(pkt.body_len, 4);
    ck_assert_uint_eq(pkt.u.report.ssrc, 42);
    ck_assert_ptr_null(pkt.u.report.ext);
    check_truncations(rr_pad, sizeof rr_pad);

    /* The same packet followed by another: padding not on the last. */
    uint8_t two[sizeof rr_pad + sizeof PLI];
    memcpy(two, rr_pad, sizeof rr_pad);
    memcpy(two + sizeof rr_pad, PLI, sizeof PLI);
    ck_assert_int_eq(walk(two, sizeof two, NULL), -HC_EMALFORMED);
    ck_assert_int_eq(hc_rtcp_validate_compound(two, sizeof two), -HC_EMALFORMED);

    /* Padded last packet after an unpadded one is fine. */
    uint8_t two_ok[sizeof PLI + sizeof rr_pad];
    memcpy(two_ok, PLI, sizeof PLI);
    memcpy(two_ok + sizeof PLI, rr_pad, sizeof rr_pad);
    int npk;
    ck_assert_int_eq(walk(two_ok, sizeof two_ok, &npk), 0);
    ck_assert_int_eq(npk, 2);

    /* Padding count 0, and larger than the body. */
    uint8_t bad[sizeof rr_pad];
    memcpy(bad, rr_pad, sizeof bad);
    bad[11] = 0;
    ck_assert_int_eq(walk(bad, sizeof bad, NULL), -HC_EMALFORMED);
    bad[11] = 9;
    ck_assert_int_eq(walk(bad, sizeof bad, NULL), -HC_EMALFORMED);
    /* Padding that eats the SSRC: body too short for an RR. */
    bad[11] = 8;
    ck_assert_int_eq(walk(bad, sizeof bad, NULL), -HC_ETRUNC);

    /* libwebrtc's TWCC padded with the P bit. */
    one(TWCC_CHROME, sizeof TWCC_CHROME, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_TWCC);
    ck_assert_uint_eq(pkt.padding_len, 1);
    ck_assert_uint_eq(pkt.u.fb.fci_len, 11);
    check_truncations(TWCC_CHROME, sizeof TWCC_CHROME);
}
END_TEST

START_TEST(unknown_types)
{
    hc_rtcp_pkt_t pkt;
    one(APP1, sizeof APP1, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_OTHER);
    ck_assert_uint_eq(pkt.type, HC_RTCP_PT_APP);
    ck_assert_uint_eq(pkt.body_len, 12);
    ck_assert_ptr_eq(pkt.body, APP1 + 4);

    /* XR (207), an RTPFB FMT we do not handle, a PT outside the RTCP range. */
    static const uint8_t xr[] = {0x80, 0xcf, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05};
    one(xr, sizeof xr, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_OTHER);
    ck_assert_uint_eq(pkt.type, 207);
    static const uint8_t tmmbr[] = {0x83, 0xcd, 0x00, 0x04, 0, 0, 0, 1, 0, 0,
                                    0,    0,    0,    0,    0, 2, 0, 0, 0, 0};
    one(tmmbr, sizeof tmmbr, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_RTPFB);
    ck_assert_uint_eq(pkt.count, 3);
    ck_assert_uint_eq(pkt.u.fb.fci_len, 8);
    static const uint8_t odd[] = {0x80, 0x64, 0x00, 0x00};
    one(odd, sizeof odd, &pkt);
    ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_OTHER);
    ck_assert_uint_eq(pkt.body_len, 0);

    /* Feedback shorter than its two SSRCs. */
    static const uint8_t fb_short[] = {0x81, 0xcd, 0x00, 0x01, 0, 0, 0, 1};
    ck_assert_int_eq(walk(fb_short, sizeof fb_short, NULL), -HC_ETRUNC);
}
END_TEST

START_TEST(iterator_errors)
{
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    /* Version 1 in the second packet: error, and it sticks. */
    uint8_t buf[sizeof RR0 + sizeof PLI];
    memcpy(buf, RR0, sizeof RR0);
    memcpy(buf + sizeof RR0, PLI, sizeof PLI);
    buf[sizeof RR0] = 0x41;
    hc_rtcp_iter_init(&it, buf, sizeof buf);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), -HC_EVERSION);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), -HC_EVERSION);

    /* Two stray bytes after a packet. */
    uint8_t tail[sizeof RR0 + 2];
    memcpy(tail, RR0, sizeof RR0);
    tail[8] = 0x80;
    tail[9] = 0xc9;
    ck_assert_int_eq(walk(tail, sizeof tail, NULL), -HC_ETRUNC);

    /* Empty datagram, NULL buffer, NULL arguments. */
    ck_assert_int_eq(walk(buf, 0, NULL), -HC_ETRUNC);
    hc_rtcp_iter_init(&it, NULL, 100);
    ck_assert_int_eq(hc_rtcp_next(&it, &pkt), -HC_ETRUNC);
    ck_assert_int_eq(hc_rtcp_next(NULL, &pkt), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_next(&it, NULL), -HC_EINVAL);

    /* Accessors refuse the wrong kind. */
    hc_rtcp_rb_t rb;
    uint16_t pid, blp;
    hc_rtcp_fir_t fe;
    uint32_t s;
    one(PLI, sizeof PLI, &pkt);
    ck_assert_int_eq(hc_rtcp_report_block(&pkt, 0, &rb), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_nack_fci(&pkt, 0, &pid, &blp), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_nack_lost(&pkt, &pid, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_fir_entry(&pkt, 0, &fe), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_remb_ssrc(&pkt, 0, &s), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_bye_ssrc(&pkt, 0, &s), -HC_EINVAL);
    hc_rtcp_sdes_iter_t si;
    hc_rtcp_sdes_chunk_t c;
    hc_rtcp_sdes_iter_init(&si, &pkt);
    ck_assert_int_eq(hc_rtcp_sdes_next(&si, &c), 0);
}
END_TEST

START_TEST(validate_compound)
{
    /* Full compound: report first. */
    ck_assert_int_eq(hc_rtcp_validate_compound(RR0, sizeof RR0), 1);
    ck_assert_int_eq(hc_rtcp_validate_compound(SR1, sizeof SR1), 1);
    /* Reduced-size (RFC 5506): feedback alone. */
    ck_assert_int_eq(hc_rtcp_validate_compound(PLI, sizeof PLI), 1);
    ck_assert_int_eq(hc_rtcp_validate_compound(NACK1, sizeof NACK1), 1);
    ck_assert_int_eq(hc_rtcp_validate_compound(TWCC_CHROME, sizeof TWCC_CHROME), 1);
    /* Neither: SDES, BYE or APP alone. */
    ck_assert_int_eq(hc_rtcp_validate_compound(SDES2, sizeof SDES2), -HC_EMALFORMED);
    ck_assert_int_eq(hc_rtcp_validate_compound(BYE2, sizeof BYE2), -HC_EMALFORMED);
    ck_assert_int_eq(hc_rtcp_validate_compound(APP1, sizeof APP1), -HC_EMALFORMED);
    /* SDES then NACK: reduced-size with feedback in it. */
    uint8_t b[sizeof SDES2 + sizeof NACK1];
    memcpy(b, SDES2, sizeof SDES2);
    memcpy(b + sizeof SDES2, NACK1, sizeof NACK1);
    ck_assert_int_eq(hc_rtcp_validate_compound(b, sizeof b), 2);
    ck_assert_int_eq(hc_rtcp_validate_compound(b, 0), -HC_ETRUNC);
    ck_assert_int_eq(hc_rtcp_validate_compound(NULL, 8), -HC_EINVAL);
}
END_TEST

START_TEST(writer_args)
{
    uint8_t out[64];
    hc_rtcp_rb_t rb[32] = {{0}};
    hc_rtcp_sender_info_t si = {0};
    ck_assert_int_eq(hc_rtcp_write_rr(out, sizeof out, 1, rb, 32), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_rr(out, sizeof out, 1, NULL, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_rr(NULL, sizeof out, 1, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_sr(out, sizeof out, 1, NULL, NULL, 0), -HC_EINVAL);
    for (size_t cap = 0; cap < sizeof SR1; cap++)
        ck_assert_int_eq(hc_rtcp_write_sr(out, cap, 1, &si, rb, 1), -HC_ENOSPC);
    for (size_t cap = 0; cap < sizeof RR0; cap++)
        ck_assert_int_eq(hc_rtcp_write_rr(out, cap, 1, NULL, 0), -HC_ENOSPC);
    uint32_t s = 1;
    ck_assert_int_eq(hc_rtcp_write_remb(out, sizeof out, 1, 1, NULL, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_remb(out, sizeof out, 1, 1, &s, 256), -HC_EINVAL);
    ck_assert_int_eq(hc_rtcp_write_remb(out, sizeof out, 1, 1000, NULL, 0), 20);
    ck_assert_int_eq(hc_rtcp_write_pli(NULL, 12, 1, 2), -HC_EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("rtcp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, demux);
    tcase_add_test(tc, sr_vector);
    tcase_add_test(tc, rr_vector);
    tcase_add_test(tc, report_extension_and_clamp);
    tcase_add_test(tc, report_roundtrip_random);
    tcase_add_test(tc, sdes_vector);
    tcase_add_test(tc, sdes_cname_write);
    tcase_add_test(tc, sdes_malformed);
    tcase_add_test(tc, bye_vector);
    tcase_add_test(tc, nack_vector);
    tcase_add_test(tc, nack_wrap);
    tcase_add_test(tc, nack_roundtrip_random);
    tcase_add_test(tc, pli_fir_vectors);
    tcase_add_test(tc, remb_vector);
    tcase_add_test(tc, remb_encoding);
    tcase_add_test(tc, compound_roundtrip);
    tcase_add_test(tc, padding);
    tcase_add_test(tc, unknown_types);
    tcase_add_test(tc, iterator_errors);
    tcase_add_test(tc, validate_compound);
    tcase_add_test(tc, writer_args);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
