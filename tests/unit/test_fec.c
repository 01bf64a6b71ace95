/*
 * Unit tests of proto/fec (FlexFEC, RFC 8627): FEC header vectors built by
 * hand from the figures of section 4.2.2.1, a whole repair packet worked
 * out by hand from section 6.2, recovery of every position of groups of
 * many sizes, limits of the decoder, and every truncated length.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/fec.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

#define PSSRC 0x11223344u
#define FSSRC 0xfec0fec0u

static const hc_fec_rtp_t FEC_RTP = {FSSRC, 1, 0x1000, 49};

/* Parse hex into buf; fail the test on bad hex. */
static size_t hex(const char *h, uint8_t *buf, size_t cap)
{
    int n = hc_test_hex(h, buf, cap);
    ck_assert_int_ge(n, 0);
    return (size_t)n;
}

/* Parse a header vector, then write it back byte for byte. */
static void header_round_trip(const char *vec, size_t want_hl, unsigned want_bits,
                              const unsigned *bits, unsigned nbits)
{
    uint8_t in[64], out[64];
    size_t n = hex(vec, in, sizeof in);
    hc_fec_hdr_t h;
    ck_assert_int_eq(hc_fec_parse(in, n, &h), (int)want_hl);
    ck_assert_uint_eq(h.mask_bits, want_bits);
    unsigned count = 0;
    for (unsigned i = 0; i < HC_FEC_MAX_GROUP; i++) count += (unsigned)hc_fec_mask_get(&h, i);
    ck_assert_uint_eq(count, nbits);
    for (unsigned i = 0; i < nbits; i++) ck_assert(hc_fec_mask_get(&h, bits[i]));
    ck_assert_ptr_eq(h.repair, in + want_hl);
    ck_assert_uint_eq(h.repair_len, n - want_hl);
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), (int)n);
    ck_assert_mem_eq(out, in, n);
    /* Every shorter header is refused. */
    for (size_t len = 0; len < want_hl; len++) {
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, in, len);
        ck_assert_int_eq(hc_fec_parse(b, len, &h), -HC_ETRUNC);
        free(b);
    }
}

/* RFC 8627 4.2.2.1, flexible mask: |R|F|P|X|CC|M|PT|length rec|TS rec|
 * SN base|k|mask 0-14|k|mask 15-45|mask 46-109|. */
START_TEST(header_vectors)
{
    /* P=0 X=1 CC=2, M=1 PT=96, len 0x0123, TS 0xdeadbeef, SN base 0x1000,
     * k=1 with bits 0-3 (a group of four), then two repair octets. */
    static const unsigned g4[] = {0, 1, 2, 3};
    header_round_trip("12 e0 0123 deadbeef 1000 f800 abcd", 12, 15, g4, 4);
    uint8_t in[64];
    hc_fec_hdr_t h;
    hex("12 e0 0123 deadbeef 1000 f800 abcd", in, sizeof in);
    ck_assert_int_eq(hc_fec_parse(in, 14, &h), 12);
    ck_assert_uint_eq(h.p, 0);
    ck_assert_uint_eq(h.x, 1);
    ck_assert_uint_eq(h.cc, 2);
    ck_assert_uint_eq(h.m, 1);
    ck_assert_uint_eq(h.pt, 96);
    ck_assert_uint_eq(h.len_rec, 0x0123);
    ck_assert_uint_eq(h.ts_rec, 0xdeadbeef);
    ck_assert_uint_eq(h.sn_base, 0x1000);

    /* Group of 20: chunk 0 full with k=0, chunk 1 k=1 with bits 15-19. */
    unsigned g20[20];
    for (unsigned i = 0; i < 20; i++) g20[i] = i;
    header_round_trip("20 7f 0000 00000000 fffe 7fff fc000000", 16, 46, g20, 20);

    /* Group of 48: chunks 0 and 1 full with k=0, bits 46-47 in chunk 2. */
    unsigned g48[48];
    for (unsigned i = 0; i < 48; i++) g48[i] = i;
    header_round_trip("00 00 0000 00000000 0000 7fff 7fffffff c000000000000000 00", 24, 110, g48,
                      48);

    /* Sparse: the first and last bit of every chunk. */
    static const unsigned sparse[] = {0, 14, 15, 45, 46, 109};
    header_round_trip("00 00 0000 00000000 0000 4001 40000001 8000000000000001", 24, 110, sparse,
                      6);
}
END_TEST

START_TEST(header_rejects)
{
    uint8_t in[64], out[64];
    hc_fec_hdr_t h;
    size_t n = hex("12 e0 0123 deadbeef 1000 f800", in, sizeof in);
    in[0] |= 0x80; /* R: retransmission format */
    ck_assert_int_eq(hc_fec_parse(in, n, &h), -HC_EUNSUPPORTED);
    in[0] = 0x52; /* F: fixed offsets */
    ck_assert_int_eq(hc_fec_parse(in, n, &h), -HC_EUNSUPPORTED);
    in[0] = 0x12;
    in[10] = 0x80; /* k=1 and no bit set */
    in[11] = 0;
    ck_assert_int_eq(hc_fec_parse(in, n, &h), -HC_EMALFORMED);
    ck_assert_int_eq(hc_fec_parse(NULL, 0, &h), -HC_ETRUNC);
    ck_assert_int_eq(hc_fec_parse(in, n, NULL), -HC_EINVAL);

    memset(&h, 0, sizeof h);
    h.mask_bits = 15;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL); /* empty mask */
    hc_fec_mask_set(&h, 15);
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL); /* beyond 15 bits */
    h.mask_bits = 46;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), 16);
    h.mask_bits = 16;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL);
    h.mask_bits = 46;
    h.pt = 128;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL);
    h.pt = 0;
    h.cc = 16;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL);
    h.cc = 0;
    ck_assert_int_eq(hc_fec_write(&h, out, 15), -HC_ENOSPC);
    uint8_t rep[3] = {1, 2, 3};
    h.repair = rep;
    h.repair_len = 3;
    ck_assert_int_eq(hc_fec_write(&h, out, 18), -HC_ENOSPC);
    ck_assert_int_eq(hc_fec_write(&h, out, 19), 19);
    h.repair = NULL;
    ck_assert_int_eq(hc_fec_write(&h, out, sizeof out), -HC_EINVAL);
}
END_TEST

/* A repair packet worked out by hand (RFC 8627 6.2) for two packets:
 *   80 60 000a 00000064 11223344 | aa bb cc            (15 bytes)
 *   81 e0 000b 000000c8 11223344 | 55667788 | 01       (17 bytes, 1 CSRC)
 * P/X/CC: 00^01 = 01; M/PT: 60^e0 = 80; TS: 64^c8 = ac; length: 3^5 = 6;
 * repair: aabbcc0000 ^ 5566778801 = ffddbb8801. */
START_TEST(encoder_vector)
{
    uint8_t p1[32], p2[32], want[64], out[HC_FEC_MAX_FEC_PKT];
    size_t n1 = hex("80 60 000a 00000064 11223344 aabbcc", p1, sizeof p1);
    size_t n2 = hex("81 e0 000b 000000c8 11223344 55667788 01", p2, sizeof p2);
    size_t wn = hex("81 31 0001 00001000 fec0fec0 11223344" /* RTP, CSRC = protected */
                    "01 80 0006 000000ac 000a e000"         /* FEC header, bits 0-1 */
                    "ffddbb8801",                           /* repair payload */
                    want, sizeof want);
    hc_fec_enc_t e;
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 2), 0);
    ck_assert_int_eq(hc_fec_enc_write(&e, &FEC_RTP, out, sizeof out), -HC_EAGAIN);
    ck_assert_int_eq(hc_fec_enc_add(&e, p1, n1), 0);
    ck_assert_int_eq(hc_fec_enc_write(&e, &FEC_RTP, out, sizeof out), -HC_EAGAIN);
    ck_assert_int_eq(hc_fec_enc_add(&e, p2, n2), 1);
    ck_assert_int_eq(hc_fec_enc_write(&e, &FEC_RTP, out, wn - 1), -HC_ENOSPC);
    ck_assert_int_eq(hc_fec_enc_write(&e, &FEC_RTP, out, sizeof out), (int)wn);
    ck_assert_mem_eq(out, want, wn);
    ck_assert_int_eq(hc_fec_enc_write(&e, &FEC_RTP, out, sizeof out), -HC_EAGAIN);

    /* And the decoder rebuilds each of the two from the other. */
    static hc_fec_src_slot_t src[8];
    static hc_fec_fec_slot_t fec[2];
    for (int drop = 0; drop < 2; drop++) {
        hc_fec_dec_t d;
        uint8_t rec[HC_FEC_MAX_PKT];
        ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, src, 8, fec, 2), 0);
        ck_assert_int_eq(hc_fec_dec_add_source(&d, drop ? p1 : p2, drop ? n1 : n2), 0);
        ck_assert_int_eq(hc_fec_dec_add_fec(&d, want, wn), 0);
        int r = hc_fec_dec_recover(&d, rec, sizeof rec);
        ck_assert_int_eq(r, (int)(drop ? n2 : n1));
        ck_assert_mem_eq(rec, drop ? p2 : p1, (size_t)r);
        ck_assert_int_eq(hc_fec_dec_recover(&d, rec, sizeof rec), 0);
    }
}
END_TEST

/* Source packet number i of a test stream: lengths, CSRCs, extensions,
 * padding, marker and PT all vary so every recovered field is exercised. */
static size_t make_src(uint8_t *b, uint16_t seq, unsigned i, uint64_t *rng)
{
    unsigned cc = i % 3 == 0 ? (unsigned)(hc_test_rand(rng) % 4) : 0;
    unsigned ext = i % 4 == 1 ? 1 + (unsigned)(hc_test_rand(rng) % 3) : 0;
    unsigned pad = i % 5 == 2 ? 1 + (unsigned)(hc_test_rand(rng) % 8) : 0;
    size_t plen = (size_t)(hc_test_rand(rng) % 1200);
    if (i % 7 == 3) plen = 0;
    b[0] = (uint8_t)(0x80 | (pad ? 0x20 : 0) | (ext ? 0x10 : 0) | cc);
    b[1] = (uint8_t)((i % 6 == 5 ? 0x80 : 0) | (i % 2 ? 96 : 111));
    hc_wr16(b + 2, seq);
    hc_wr32(b + 4, (uint32_t)hc_test_rand(rng));
    hc_wr32(b + 8, PSSRC);
    size_t n = 12;
    for (unsigned k = 0; k < cc; k++, n += 4) hc_wr32(b + n, (uint32_t)hc_test_rand(rng));
    if (ext) {
        hc_wr16(b + n, 0xBEDE);
        hc_wr16(b + n + 2, (uint16_t)ext);
        n += 4;
        for (unsigned k = 0; k < 4 * ext; k++) b[n++] = (uint8_t)hc_test_rand(rng);
    }
    for (size_t k = 0; k < plen; k++) b[n++] = (uint8_t)hc_test_rand(rng);
    if (pad) {
        for (unsigned k = 0; k + 1 < pad; k++) b[n++] = 0;
        b[n++] = (uint8_t)pad;
    }
    return n;
}

typedef struct group {
    uint8_t pkt[HC_FEC_MAX_GROUP][HC_FEC_MAX_PKT];
    size_t len[HC_FEC_MAX_GROUP];
    uint8_t fec[HC_FEC_MAX_FEC_PKT];
    size_t fec_len;
} group_t;

/* Encode `k` packets from seq0; the FEC packet into g->fec. */
static void encode_group(group_t *g, unsigned k, uint16_t seq0, uint64_t seed)
{
    hc_fec_enc_t e;
    uint64_t rng = seed;
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, k), 0);
    for (unsigned i = 0; i < k; i++) {
        g->len[i] = make_src(g->pkt[i], (uint16_t)(seq0 + i), i, &rng);
        ck_assert_int_eq(hc_fec_enc_add(&e, g->pkt[i], g->len[i]), i + 1 == k);
    }
    int n = hc_fec_enc_write(&e, &FEC_RTP, g->fec, sizeof g->fec);
    ck_assert_int_gt(n, 0);
    g->fec_len = (size_t)n;
}

static group_t G;
static hc_fec_src_slot_t SRC[128];
static hc_fec_fec_slot_t FEC[4];

/* Gap mode (the relay toward a subscriber): holes do not end a group, a
 * late packet joins it moving the SN base back, duplicates and packets
 * too old for the mask are left out; each missing member is rebuilt. */
START_TEST(gap_mode_groups)
{
    hc_fec_enc_t e;
    uint64_t rng = 99;
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 4), 0);
    hc_fec_enc_allow_gaps(&e, true);
    /* 65534, 1 (a hole of 65535 and 0), a duplicate of 1, 65533 late,
     * then 3: four members spanning 65533..3 */
    const uint16_t order[] = {65534, 1, 1, 65533, 3};
    const int want[] = {0, 0, 0, 0, 1};
    for (unsigned i = 0; i < 5; i++) {
        G.len[i] = make_src(G.pkt[i], order[i], i, &rng);
        ck_assert_int_eq(hc_fec_enc_add(&e, G.pkt[i], G.len[i]), want[i]);
    }
    ck_assert_uint_eq(e.groups_abandoned, 0);
    int n = hc_fec_enc_write(&e, &FEC_RTP, G.fec, sizeof G.fec);
    ck_assert_int_gt(n, 0);
    hc_fec_hdr_t h;
    ck_assert_int_gt(hc_fec_parse(G.fec + 16, (size_t)n - 16, &h), 0);
    ck_assert_uint_eq(h.sn_base, 65533);
    ck_assert_uint_eq(h.mask_bits, 15);
    for (unsigned b = 0; b < 15; b++)
        ck_assert_int_eq(hc_fec_mask_get(&h, b), b == 0 || b == 1 || b == 4 || b == 6);
    /* every member can be rebuilt from the other three */
    const unsigned members[] = {0, 1, 3, 4}; /* indexes into G.pkt */
    for (unsigned drop = 0; drop < 4; drop++) {
        hc_fec_dec_t d;
        uint8_t out[HC_FEC_MAX_PKT];
        ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 128, FEC, 4), 0);
        for (unsigned m = 0; m < 4; m++)
            if (m != drop)
                ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[members[m]], G.len[members[m]]),
                                 0);
        ck_assert_int_eq(hc_fec_dec_add_fec(&d, G.fec, (size_t)n), 0);
        int r = hc_fec_dec_recover(&d, out, sizeof out);
        ck_assert_int_eq(r, (int)G.len[members[drop]]);
        ck_assert_mem_eq(out, G.pkt[members[drop]], G.len[members[drop]]);
    }
    /* too old for the next group's mask: left out; too far on: a new group */
    uint8_t p[HC_FEC_MAX_PKT];
    size_t pl = make_src(p, 1000, 0, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, pl), 0);
    pl = make_src(p, (uint16_t)(1000 - HC_FEC_MAX_GROUP), 1, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, pl), 0);
    ck_assert_uint_eq(e.count, 1);
    pl = make_src(p, (uint16_t)(1000 + HC_FEC_MAX_GROUP), 2, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, pl), 0);
    ck_assert_uint_eq(e.count, 1);
    ck_assert_uint_eq(e.groups_abandoned, 1);
}
END_TEST

START_TEST(recover_every_position)
{
    static const unsigned sizes[] = {1, 2, 4, 15, 16, 46, 47, 48};
    static const uint16_t starts[] = {100, 65530, 65535, 0};
    unsigned k = sizes[_i];
    for (unsigned s = 0; s < 4; s++) {
        encode_group(&G, k, starts[s], 1234 + k + s);
        for (unsigned drop = 0; drop < k; drop++) {
            hc_fec_dec_t d;
            uint8_t out[HC_FEC_MAX_PKT];
            ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 128, FEC, 4), 0);
            /* FEC first for odd drops: arrival order must not matter. */
            if (drop % 2) ck_assert_int_eq(hc_fec_dec_add_fec(&d, G.fec, G.fec_len), 0);
            for (unsigned i = 0; i < k; i++)
                if (i != drop) ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[i], G.len[i]), 0);
            if (!(drop % 2)) ck_assert_int_eq(hc_fec_dec_add_fec(&d, G.fec, G.fec_len), 0);
            int n = hc_fec_dec_recover(&d, out, sizeof out);
            ck_assert_msg(n == (int)G.len[drop], "k %u start %u drop %u: %d", k, starts[s], drop,
                          n);
            ck_assert_mem_eq(out, G.pkt[drop], G.len[drop]);
            ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
            ck_assert_uint_eq(d.recovered, 1);
        }
    }
}
END_TEST

START_TEST(two_losses_not_recoverable)
{
    encode_group(&G, 8, 500, 99);
    hc_fec_dec_t d;
    uint8_t out[HC_FEC_MAX_PKT];
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 16, FEC, 2), 0);
    for (unsigned i = 0; i < 8; i++)
        if (i != 2 && i != 6) ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[i], G.len[i]), 0);
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, G.fec, G.fec_len), 0);
    ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
    ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
    /* A retransmission of one of them makes the other recoverable. */
    ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[6], G.len[6]), 0);
    ck_assert_int_eq(hc_fec_dec_recover(&d, out, 10), -HC_ENOSPC); /* kept */
    int n = hc_fec_dec_recover(&d, out, sizeof out);
    ck_assert_int_eq(n, (int)G.len[2]);
    ck_assert_mem_eq(out, G.pkt[2], G.len[2]);
    /* Nothing is lost: complete group, the FEC packet is let go. */
    ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
    ck_assert_int_eq(FEC[0].used | FEC[1].used, 0);
}
END_TEST

START_TEST(several_groups_in_flight)
{
    /* Three groups of 4, one loss in each, FECs after all sources. */
    static group_t gs[3];
    hc_fec_dec_t d;
    uint8_t out[HC_FEC_MAX_PKT];
    for (unsigned g = 0; g < 3; g++) encode_group(&gs[g], 4, (uint16_t)(65532 + 4 * g), 7 + g);
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 32, FEC, 4), 0);
    for (unsigned g = 0; g < 3; g++)
        for (unsigned i = 0; i < 4; i++)
            if (i != g + 1)
                ck_assert_int_eq(hc_fec_dec_add_source(&d, gs[g].pkt[i], gs[g].len[i]), 0);
    for (unsigned g = 0; g < 3; g++)
        ck_assert_int_eq(hc_fec_dec_add_fec(&d, gs[g].fec, gs[g].fec_len), 0);
    int got = 0;
    for (int n; (n = hc_fec_dec_recover(&d, out, sizeof out)) > 0; got++) {
        uint16_t seq = hc_rd16(out + 2);
        unsigned g = (uint16_t)(seq - 65532) / 4, i = (uint16_t)(seq - 65532) % 4;
        ck_assert_uint_eq(i, g + 1);
        ck_assert_int_eq(n, (int)gs[g].len[i]);
        ck_assert_mem_eq(out, gs[g].pkt[i], (size_t)n);
    }
    ck_assert_int_eq(got, 3);
}
END_TEST

START_TEST(decoder_bounds_memory)
{
    hc_fec_dec_t d;
    uint8_t out[HC_FEC_MAX_PKT];
    static group_t gs[3];
    for (unsigned g = 0; g < 3; g++) encode_group(&gs[g], 4, (uint16_t)(1000 + 4 * g), 50 + g);
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 8, FEC, 2), 0);
    /* Three FEC packets into two slots: the oldest group's is dropped. */
    ck_assert_int_eq(hc_fec_dec_add_source(&d, gs[2].pkt[3], gs[2].len[3]), 0);
    for (unsigned g = 0; g < 3; g++)
        ck_assert_int_eq(hc_fec_dec_add_fec(&d, gs[g].fec, gs[g].fec_len), 0);
    ck_assert_uint_eq(d.fec_dropped, 1);
    ck_assert(FEC[0].hdr.sn_base != 1000 && FEC[1].hdr.sn_base != 1000);
    /* Sources far ahead: both held groups leave the 8-packet window. */
    encode_group(&gs[0], 4, 1040, 3);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_int_eq(hc_fec_dec_add_source(&d, gs[0].pkt[i], gs[0].len[i]), 0);
    ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
    ck_assert_uint_eq(d.fec_dropped, 3);
    ck_assert_int_eq(FEC[0].used | FEC[1].used, 0);
}
END_TEST

START_TEST(encoder_rejects_and_gaps)
{
    hc_fec_enc_t e;
    uint8_t p[HC_FEC_MAX_PKT + 8], out[HC_FEC_MAX_FEC_PKT];
    uint64_t rng = 5;
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, HC_FEC_MAX_GROUP + 1), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_enc_init(NULL, PSSRC, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, HC_FEC_MAX_GROUP), 0);
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 4), 0);

    size_t n = make_src(p, 10, 0, &rng);
    hc_wr32(p + 8, 0x99);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), -HC_EINVAL);
    hc_wr32(p + 8, PSSRC);
    p[0] = 0x40 | (p[0] & 0x3f);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), -HC_EVERSION);
    p[0] = 0x80;
    memset(p + 12, 0, sizeof p - 12);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, HC_FEC_MAX_PKT + 1), -HC_ERANGE);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, HC_FEC_MAX_PKT), 0); /* the largest fits */
    p[0] = 0xa0;                                                /* padding count 0 */
    p[n - 1] = 0;
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), -HC_EMALFORMED);
    ck_assert_uint_eq(e.count, 1);

    /* seq 10 then 12: the group restarts at 12. */
    ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 2), 0);
    n = make_src(p, 10, 1, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), 0);
    n = make_src(p, 12, 1, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), 0);
    ck_assert_uint_eq(e.groups_abandoned, 1);
    n = make_src(p, 13, 1, &rng);
    ck_assert_int_eq(hc_fec_enc_add(&e, p, n), 1);
    int w = hc_fec_enc_write(&e, &FEC_RTP, out, sizeof out);
    ck_assert_int_gt(w, 0);
    hc_fec_hdr_t h;
    ck_assert_int_eq(hc_fec_parse(out + 16, (size_t)w - 16, &h), 12);
    ck_assert_uint_eq(h.sn_base, 12);
    hc_fec_rtp_t bad = FEC_RTP;
    bad.pt = 200;
    ck_assert_int_eq(hc_fec_enc_write(&e, &bad, out, sizeof out), -HC_EINVAL);
}
END_TEST

START_TEST(decoder_rejects)
{
    hc_fec_dec_t d;
    uint8_t f[HC_FEC_MAX_FEC_PKT], out[HC_FEC_MAX_PKT];
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 12, FEC, 4), -HC_EINVAL); /* not 2^n */
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 0, FEC, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 16, FEC, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, NULL, 16, FEC, 1), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 16, FEC, 4), 0);

    encode_group(&G, 4, 70, 1);
    memcpy(f, G.fec, G.fec_len);
    hc_wr32(f + 12, 0x5555); /* protects another SSRC */
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, G.fec_len), -HC_EINVAL);
    memcpy(f, G.fec, G.fec_len);
    f[0] = 0x80; /* no CSRC: protects nothing nameable */
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, G.fec_len), -HC_EMALFORMED);
    f[0] = 0x82; /* two protected SSRCs */
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, G.fec_len), -HC_EUNSUPPORTED);
    memcpy(f, G.fec, G.fec_len);
    f[16] |= 0x80; /* R bit */
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, G.fec_len), -HC_EUNSUPPORTED);
    memcpy(f, G.fec, G.fec_len);
    hc_wr32(f + 8, PSSRC); /* the SSRC field is the FEC stream's own: any value */
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, G.fec_len), 0);

    uint8_t p[HC_FEC_MAX_PKT];
    uint64_t rng = 3;
    size_t n = make_src(p, 1, 1, &rng);
    hc_wr32(p + 8, 0x5555);
    ck_assert_int_eq(hc_fec_dec_add_source(&d, p, n), -HC_EINVAL);
    ck_assert_int_eq(hc_fec_dec_recover(NULL, out, sizeof out), -HC_EINVAL);
}
END_TEST

/* A repair packet with padding and a header extension (e.g. a transport
 * sequence number added by the sender's pacer) is read past both. */
START_TEST(fec_packet_with_extension_and_padding)
{
    encode_group(&G, 4, 300, 77);
    uint8_t f[HC_FEC_MAX_FEC_PKT + 16], out[HC_FEC_MAX_PKT];
    size_t n = 0;
    memcpy(f, G.fec, 16);
    f[0] |= 0x30; /* X and P */
    n = 16;
    hc_wr16(f + n, 0xBEDE);
    hc_wr16(f + n + 2, 1);
    f[n + 4] = 0x11;
    f[n + 5] = 0x01;
    f[n + 6] = 0x02;
    f[n + 7] = 0;
    n += 8;
    memcpy(f + n, G.fec + 16, G.fec_len - 16);
    n += G.fec_len - 16;
    f[n++] = 0;
    f[n++] = 0;
    f[n++] = 3;
    hc_fec_dec_t d;
    ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 16, FEC, 4), 0);
    for (unsigned i = 1; i < 4; i++)
        ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[i], G.len[i]), 0);
    ck_assert_int_eq(hc_fec_dec_add_fec(&d, f, n), 0);
    int r = hc_fec_dec_recover(&d, out, sizeof out);
    ck_assert_int_eq(r, (int)G.len[0]);
    ck_assert_mem_eq(out, G.pkt[0], G.len[0]);
}
END_TEST

/* Every prefix of a repair packet: refused, or (repair payload cut) held but
 * never turned into a wrong packet. Every prefix of a source packet's
 * header: refused. Exactly sized heap copies so ASan sees over-reads. */
START_TEST(truncations)
{
    encode_group(&G, 20, 40000, 21);
    size_t hdr_end = 16 + 16; /* RTP + CSRC, FEC header with two chunks */
    for (size_t len = 0; len < G.fec_len; len++) {
        hc_fec_dec_t d;
        uint8_t out[HC_FEC_MAX_PKT];
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, G.fec, len);
        ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 32, FEC, 2), 0);
        for (unsigned i = 1; i < 20; i++)
            ck_assert_int_eq(hc_fec_dec_add_source(&d, G.pkt[i], G.len[i]), 0);
        int rc = hc_fec_dec_add_fec(&d, b, len);
        if (len < hdr_end) ck_assert_msg(rc < 0, "len %zu accepted", len);
        if (rc == 0) {
            ck_assert_int_eq(hc_fec_dec_recover(&d, out, sizeof out), 0);
            ck_assert_uint_eq(d.fec_dropped, 1);
        }
        hc_fec_hdr_t h;
        if (len >= 16) {
            rc = hc_fec_parse(b + 16, len - 16, &h);
            if (len < hdr_end)
                ck_assert_int_eq(rc, -HC_ETRUNC);
            else
                ck_assert_int_eq(rc, 16);
        }
        free(b);
    }
    /* A source packet with CSRCs and an extension. */
    unsigned idx = 1; /* make_src: i % 4 == 1 has an extension */
    size_t hl = 12 + 4u * (G.pkt[idx][0] & 15);
    hl += 4 + 4u * hc_rd16(G.pkt[idx] + hl + 2);
    for (size_t len = 0; len < hl; len++) {
        hc_fec_dec_t d;
        hc_fec_enc_t e;
        uint8_t *b = malloc(len ? len : 1);
        memcpy(b, G.pkt[idx], len);
        ck_assert_int_eq(hc_fec_dec_init(&d, PSSRC, SRC, 32, FEC, 2), 0);
        ck_assert_int_eq(hc_fec_enc_init(&e, PSSRC, 4), 0);
        ck_assert_int_eq(hc_fec_dec_add_source(&d, b, len), -HC_ETRUNC);
        ck_assert_int_eq(hc_fec_enc_add(&e, b, len), -HC_ETRUNC);
        free(b);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, header_vectors);
    tcase_add_test(tc, header_rejects);
    tcase_add_test(tc, encoder_vector);
    tcase_add_loop_test(tc, recover_every_position, 0, 8);
    tcase_add_test(tc, gap_mode_groups);
    tcase_add_test(tc, two_losses_not_recoverable);
    tcase_add_test(tc, several_groups_in_flight);
    tcase_add_test(tc, decoder_bounds_memory);
    tcase_add_test(tc, encoder_rejects_and_gaps);
    tcase_add_test(tc, decoder_rejects);
    tcase_add_test(tc, fec_packet_with_extension_and_padding);
    tcase_add_test(tc, truncations);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
