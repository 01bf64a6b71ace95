/*
 * libFuzzer harness for proto/fec.
 *
 * 1. The whole input as a FEC header + repair payload: parse, write back,
 *    the bytes must be identical.
 * 2. The input as a script of records [op][len hi][len lo][bytes...] run
 *    against one decoder: op 0 adds a source packet, 1 a repair packet,
 *    2 asks for recovery (a recovered packet must be valid RTP of the
 *    protected SSRC), 3 encodes a group from the record's bytes, drops one
 *    packet and checks a fresh decoder rebuilds it byte for byte.
 *    Bit 2 of op patches the SSRC/CSRC so packets get past the SSRC check.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/fec.h"

#include <stdlib.h>
#include <string.h>

#define PSSRC 0x0badcafeu

static hc_fec_src_slot_t g_src[32];
static hc_fec_fec_slot_t g_fec[4];
static hc_fec_src_slot_t g_src2[64];
static hc_fec_fec_slot_t g_fec2[1];
static uint8_t g_pkts[HC_FEC_MAX_GROUP][HC_FEC_MAX_PKT];
static size_t g_lens[HC_FEC_MAX_GROUP];

static void header_round_trip(const uint8_t *data, size_t size)
{
    hc_fec_hdr_t h;
    int n = hc_fec_parse(data, size, &h);
    if (n < 0) return;
    if ((size_t)n + h.repair_len != size || h.repair != data + n) abort();
    uint8_t *out = malloc(size ? size : 1);
    if (!out) abort();
    int w = hc_fec_write(&h, out, size);
    if (w != (int)size || memcmp(out, data, size) != 0) abort();
    if (size > 0 && hc_fec_write(&h, out, size - 1) != -HC_ENOSPC) abort();
    free(out);
}

/* Encode packets cut from the record, drop one, recover it. */
static void encode_and_recover(const uint8_t *b, size_t n)
{
    if (n < 4) return;
    unsigned k = 1 + b[0] % 24;
    unsigned drop = b[1] % k;
    uint16_t seq = hc_rd16(b + 2);
    b += 4;
    n -= 4;
    hc_fec_enc_t enc;
    if (hc_fec_enc_init(&enc, PSSRC, k) != 0) abort();
    for (unsigned i = 0; i < k; i++) {
        /* Header from the record; the payload length from one byte. */
        uint8_t *p = g_pkts[i];
        size_t plen = n ? b[0] : 0;
        memset(p, 0, 12);
        p[0] = 0x80;
        if (n >= 2) {
            p[0] = (uint8_t)(0x80 | (b[1] & 0x0f)); /* CC, no X/P */
            p[1] = n >= 3 ? b[2] : 0;
        }
        hc_wr16(p + 2, (uint16_t)(seq + i));
        hc_wr32(p + 8, PSSRC);
        size_t len = 12 + 4u * (p[0] & 0x0f) + plen;
        for (size_t j = 12; j < len; j++) p[j] = n ? b[j % n] : (uint8_t)j;
        g_lens[i] = len;
        size_t used = n < 3 ? n : 3;
        b += used;
        n -= used;
        int rc = hc_fec_enc_add(&enc, p, len);
        if (rc != (i + 1 == k)) abort();
    }
    static uint8_t fec[HC_FEC_MAX_FEC_PKT], out[HC_FEC_MAX_PKT];
    hc_fec_rtp_t fr = {0x12345678, 1, 2, 100};
    int fl = hc_fec_enc_write(&enc, &fr, fec, sizeof fec);
    if (fl <= 0) abort();
    hc_fec_dec_t d;
    if (hc_fec_dec_init(&d, PSSRC, g_src2, 64, g_fec2, 1) != 0) abort();
    for (unsigned i = 0; i < k; i++)
        if (i != drop && hc_fec_dec_add_source(&d, g_pkts[i], g_lens[i]) != 0) abort();
    if (hc_fec_dec_add_fec(&d, fec, (size_t)fl) != 0) abort();
    int r = hc_fec_dec_recover(&d, out, sizeof out);
    if (r != (int)g_lens[drop] || memcmp(out, g_pkts[drop], (size_t)r) != 0) abort();
    if (hc_fec_dec_recover(&d, out, sizeof out) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    header_round_trip(data, size);

    hc_fec_dec_t d;
    if (hc_fec_dec_init(&d, PSSRC, g_src, 32, g_fec, 4) != 0) abort();
    static uint8_t rec[2048], out[HC_FEC_MAX_PKT];
    size_t off = 0;
    while (size - off >= 3) {
        uint8_t op = data[off];
        size_t len = hc_rd16(data + off + 1);
        off += 3;
        if (len > size - off) len = size - off;
        if (len > sizeof rec) len = sizeof rec;
        uint8_t *b = malloc(len ? len : 1);
        if (!b) abort();
        memcpy(b, data + off, len);
        off += len;
        switch (op & 3) {
        case 0:
            if ((op & 4) && len >= 12) hc_wr32(b + 8, PSSRC);
            (void)hc_fec_dec_add_source(&d, b, len);
            break;
        case 1:
            if ((op & 4) && len >= 16) hc_wr32(b + 12, PSSRC);
            (void)hc_fec_dec_add_fec(&d, b, len);
            break;
        case 2: {
            size_t cap = (op & 4) ? sizeof out : (size_t)(op >> 3) * 40;
            int r = hc_fec_dec_recover(&d, out, cap);
            if (r > 0 &&
                (r < 12 || (size_t)r > cap || hc_rd32(out + 8) != PSSRC || (out[0] >> 6) != 2))
                abort();
            if (r < 0 && r != -HC_ENOSPC) abort();
            break;
        }
        case 3: encode_and_recover(b, len); break;
        }
        free(b);
    }
    return 0;
}
