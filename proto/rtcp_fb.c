/*
 * rtcp_fb.c - RTCP feedback messages (RFC 4585 §6): generic NACK, PLI, FIR
 * (RFC 5104), REMB (draft-alvestrand-rmcat-remb-03) and the framing of
 * transport-wide CC feedback. See rtcp.h.
 */
#include "proto/rtcp.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <string.h>

#define NACK_FCI_LEN 4 /* PID(16) BLP(16) */
#define FIR_FCI_LEN  8 /* SSRC(32) seq(8) reserved(24) */
#define REMB_FIXED   8 /* "REMB", num SSRC(8) exp(6) mantissa(18) */

uint64_t hc_rtcp_remb_decode(uint8_t exp, uint32_t mantissa)
{
    exp &= 0x3f;
    mantissa &= HC_RTCP_REMB_MAX_MANTISSA;
    /* 18 + 63 bits do not fit 64: saturate rather than wrap, so a bogus
     * estimate reads as "no limit", never as a tiny rate. */
    if (exp > 46 && (mantissa >> (64 - exp)) != 0) return UINT64_MAX;
    return (uint64_t)mantissa << exp;
}

void hc_rtcp_remb_encode(uint64_t bitrate_bps, uint8_t *exp, uint32_t *mantissa)
{
    uint8_t e = 0;
    while ((bitrate_bps >> e) > HC_RTCP_REMB_MAX_MANTISSA) e++;
    if (exp != NULL) *exp = e;
    if (mantissa != NULL) *mantissa = (uint32_t)(bitrate_bps >> e);
}

/* PT 205: transport layer feedback. */
static int parse_rtpfb(hc_rtcp_pkt_t *pkt)
{
    hc_rtcp_fb_t *fb = &pkt->u.fb;
    switch (pkt->count) {
    case HC_RTCP_FMT_NACK:
        /* RFC 4585 §6.2.1: one or more PID/BLP pairs. */
        if (fb->fci_len == 0 || fb->fci_len % NACK_FCI_LEN != 0) return -HC_EMALFORMED;
        fb->count = fb->fci_len / NACK_FCI_LEN;
        pkt->kind = HC_RTCP_KIND_NACK;
        return 0;
    case HC_RTCP_FMT_TWCC: pkt->kind = HC_RTCP_KIND_TWCC; return 0;
    default: pkt->kind = HC_RTCP_KIND_RTPFB; return 0;
    }
}

/* PT 206: payload-specific feedback. */
static int parse_psfb(hc_rtcp_pkt_t *pkt)
{
    hc_rtcp_fb_t *fb = &pkt->u.fb;
    const uint8_t *f = fb->fci;
    switch (pkt->count) {
    case HC_RTCP_FMT_PLI:
        /* RFC 4585 §6.3.1: "the length field MUST be 2", no FCI. */
        if (fb->fci_len != 0) return -HC_EMALFORMED;
        pkt->kind = HC_RTCP_KIND_PLI;
        return 0;
    case HC_RTCP_FMT_FIR:
        /* RFC 5104 §4.3.1.1: one or more 8-byte entries. */
        if (fb->fci_len == 0 || fb->fci_len % FIR_FCI_LEN != 0) return -HC_EMALFORMED;
        fb->count = fb->fci_len / FIR_FCI_LEN;
        pkt->kind = HC_RTCP_KIND_FIR;
        return 0;
    case HC_RTCP_FMT_AFB:
        /* RFC 4585 §6.4: application-defined; REMB is recognised by its
         * "REMB" identifier (draft-alvestrand-rmcat-remb-03 §2.2). */
        if (fb->fci_len < 4 || memcmp(f, "REMB", 4) != 0) {
            pkt->kind = HC_RTCP_KIND_PSFB;
            return 0;
        }
        if (fb->fci_len < REMB_FIXED) return -HC_ETRUNC;
        fb->count = f[4];
        fb->remb.exp = f[5] >> 2;
        fb->remb.mantissa = ((uint32_t)(f[5] & 0x03) << 16) | hc_rd16(f + 6);
        fb->remb.bitrate = hc_rtcp_remb_decode(fb->remb.exp, fb->remb.mantissa);
        if (fb->fci_len - REMB_FIXED < 4 * fb->count) return -HC_ETRUNC;
        if (fb->fci_len - REMB_FIXED > 4 * fb->count) return -HC_EMALFORMED;
        pkt->kind = HC_RTCP_KIND_REMB;
        return 0;
    default: pkt->kind = HC_RTCP_KIND_PSFB; return 0;
    }
}

int hc_rtcp_parse_fb_(hc_rtcp_pkt_t *pkt)
{
    /* RFC 4585 §6.1: sender SSRC, media SSRC, then the FCI. */
    if (pkt->body_len < 8) return -HC_ETRUNC;
    hc_rtcp_fb_t *fb = &pkt->u.fb;
    fb->sender_ssrc = hc_rd32(pkt->body);
    fb->media_ssrc = hc_rd32(pkt->body + 4);
    fb->fci = pkt->body + 8;
    fb->fci_len = pkt->body_len - 8;
    return pkt->type == HC_RTCP_PT_RTPFB ? parse_rtpfb(pkt) : parse_psfb(pkt);
}

int hc_rtcp_nack_fci(const hc_rtcp_pkt_t *pkt, size_t i, uint16_t *pid, uint16_t *blp)
{
    if (pkt == NULL || pkt->kind != HC_RTCP_KIND_NACK || i >= pkt->u.fb.count) return -HC_EINVAL;
    const uint8_t *f = pkt->u.fb.fci + NACK_FCI_LEN * i;
    if (pid != NULL) *pid = hc_rd16(f);
    if (blp != NULL) *blp = hc_rd16(f + 2);
    return 0;
}

int hc_rtcp_nack_lost(const hc_rtcp_pkt_t *pkt, uint16_t *out, size_t max)
{
    if (pkt == NULL || pkt->kind != HC_RTCP_KIND_NACK || (out == NULL && max > 0))
        return -HC_EINVAL;
    size_t n = 0;
    for (size_t i = 0; i < pkt->u.fb.count; i++) {
        const uint8_t *f = pkt->u.fb.fci + NACK_FCI_LEN * i;
        uint16_t pid = hc_rd16(f), blp = hc_rd16(f + 2);
        if (n >= max) return -HC_ENOSPC;
        out[n++] = pid;
        for (unsigned k = 0; k < 16; k++) {
            if (!(blp & (1u << k))) continue;
            if (n >= max) return -HC_ENOSPC;
            out[n++] = (uint16_t)(pid + k + 1);
        }
    }
    return n > (size_t)INT32_MAX ? -HC_ERANGE : (int)n;
}

int hc_rtcp_fir_entry(const hc_rtcp_pkt_t *pkt, size_t i, hc_rtcp_fir_t *out)
{
    if (pkt == NULL || out == NULL || pkt->kind != HC_RTCP_KIND_FIR || i >= pkt->u.fb.count)
        return -HC_EINVAL;
    const uint8_t *f = pkt->u.fb.fci + FIR_FCI_LEN * i;
    out->ssrc = hc_rd32(f);
    out->seq = f[4];
    return 0;
}

int hc_rtcp_remb_ssrc(const hc_rtcp_pkt_t *pkt, size_t i, uint32_t *ssrc)
{
    if (pkt == NULL || ssrc == NULL || pkt->kind != HC_RTCP_KIND_REMB || i >= pkt->u.fb.count)
        return -HC_EINVAL;
    *ssrc = hc_rd32(pkt->u.fb.fci + REMB_FIXED + 4 * i);
    return 0;
}

/* --- writers ------------------------------------------------------------- */

/* Header and the two SSRCs of RFC 4585 §6.1; total is the packet length. */
static void put_fb_hdr(uint8_t *buf, uint8_t fmt, uint8_t pt, size_t total, uint32_t sender,
                       uint32_t media)
{
    buf[0] = (uint8_t)((HC_RTCP_VERSION << 6) | (fmt & 0x1f));
    buf[1] = pt;
    hc_wr16(buf + 2, (uint16_t)(total / 4 - 1));
    hc_wr32(buf + 4, sender);
    hc_wr32(buf + 8, media);
}

/*
 * NACK packing. Keys place every lost number on a line: key(x) = signed
 * distance of x from lost[0], shifted so the oldest is 0. For any input the
 * keys of distinct numbers are distinct (the signed distance is a
 * bijection of the 16-bit space), so every number is covered even for a
 * nonsensical list; for a list spanning < 32768 the key order is RFC 3550
 * sequence order, across the 65535 -> 0 wrap. The keys go into a bitmap of
 * the whole space (8 KiB of stack), which sorts and removes duplicates in
 * O(n) without allocating.
 */
#define NACK_MAP_WORDS (65536 / 64)

static int32_t nack_dist(uint16_t x, uint16_t ref)
{
    return (int32_t)(int16_t)(uint16_t)(x - ref);
}

static bool map_has(const uint64_t *map, int32_t k)
{
    return (map[k >> 6] >> (k & 63)) & 1;
}

/* Smallest key >= from that is set, or -1. */
static int32_t map_next(const uint64_t *map, int32_t from)
{
    if (from > 65535) return -1;
    size_t w = (size_t)from >> 6;
    uint64_t bits = map[w] & (~0ull << (from & 63));
    while (bits == 0) {
        if (++w == NACK_MAP_WORDS) return -1;
        bits = map[w];
    }
    int32_t k = (int32_t)(w * 64);
    while (!(bits & 1)) {
        bits >>= 1;
        k++;
    }
    return k;
}

int hc_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       const uint16_t *lost, size_t n)
{
    if (buf == NULL || lost == NULL || n == 0) return -HC_EINVAL;

    int32_t dmin = 0;
    for (size_t i = 1; i < n; i++) {
        int32_t d = nack_dist(lost[i], lost[0]);
        if (d < dmin) dmin = d;
    }
    uint16_t base = (uint16_t)(lost[0] + dmin); /* key 0 */
    uint64_t map[NACK_MAP_WORDS];
    memset(map, 0, sizeof map);
    for (size_t i = 0; i < n; i++) {
        int32_t k = nack_dist(lost[i], lost[0]) - dmin;
        map[k >> 6] |= 1ull << (k & 63);
    }

    /* Count FCIs first so the length is known and cap checked up front. A
     * PID/BLP pair covers keys pid..pid+16. */
    size_t fcis = 0;
    for (int32_t k = map_next(map, 0); k >= 0; k = map_next(map, k + 17)) fcis++;
    size_t total = HC_RTCP_FB_HDR_LEN + NACK_FCI_LEN * fcis;
    if (cap < total) return -HC_ENOSPC;

    put_fb_hdr(buf, HC_RTCP_FMT_NACK, HC_RTCP_PT_RTPFB, total, sender_ssrc, media_ssrc);
    uint8_t *f = buf + HC_RTCP_FB_HDR_LEN;
    for (int32_t k = map_next(map, 0); k >= 0; k = map_next(map, k + 17)) {
        uint16_t blp = 0;
        for (int32_t j = 1; j <= 16 && k + j <= 65535; j++)
            if (map_has(map, k + j)) blp |= (uint16_t)(1u << (j - 1));
        hc_wr16(f, (uint16_t)(base + k));
        hc_wr16(f + 2, blp);
        f += NACK_FCI_LEN;
    }
    return (int)total;
}

int hc_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc)
{
    if (buf == NULL) return -HC_EINVAL;
    if (cap < HC_RTCP_FB_HDR_LEN) return -HC_ENOSPC;
    put_fb_hdr(buf, HC_RTCP_FMT_PLI, HC_RTCP_PT_PSFB, HC_RTCP_FB_HDR_LEN, sender_ssrc, media_ssrc);
    return HC_RTCP_FB_HDR_LEN;
}

int hc_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, const hc_rtcp_fir_t *e,
                      size_t n)
{
    if (buf == NULL || e == NULL || n == 0) return -HC_EINVAL;
    if (n > (HC_RTCP_MAX_LEN - HC_RTCP_FB_HDR_LEN) / FIR_FCI_LEN) return -HC_EINVAL;
    size_t total = HC_RTCP_FB_HDR_LEN + FIR_FCI_LEN * n;
    if (cap < total) return -HC_ENOSPC;
    /* RFC 5104 §4.3.1.2: media source SSRC SHALL be 0; targets are in the FCI. */
    put_fb_hdr(buf, HC_RTCP_FMT_FIR, HC_RTCP_PT_PSFB, total, sender_ssrc, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f = buf + HC_RTCP_FB_HDR_LEN + FIR_FCI_LEN * i;
        hc_wr32(f, e[i].ssrc);
        f[4] = e[i].seq;
        f[5] = f[6] = f[7] = 0;
    }
    return (int)total;
}

int hc_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate_bps,
                       const uint32_t *ssrcs, size_t n)
{
    if (buf == NULL || n > HC_RTCP_REMB_MAX_SSRC || (n > 0 && ssrcs == NULL)) return -HC_EINVAL;
    size_t total = HC_RTCP_FB_HDR_LEN + REMB_FIXED + 4 * n;
    if (cap < total) return -HC_ENOSPC;

    uint8_t exp;
    uint32_t mant;
    hc_rtcp_remb_encode(bitrate_bps, &exp, &mant);
    /* draft-alvestrand-rmcat-remb-03 §2.2: media source SSRC is always 0. */
    put_fb_hdr(buf, HC_RTCP_FMT_AFB, HC_RTCP_PT_PSFB, total, sender_ssrc, 0);
    uint8_t *f = buf + HC_RTCP_FB_HDR_LEN;
    memcpy(f, "REMB", 4);
    f[4] = (uint8_t)n;
    f[5] = (uint8_t)((exp << 2) | (mant >> 16));
    hc_wr16(f + 6, (uint16_t)mant);
    for (size_t i = 0; i < n; i++) hc_wr32(f + REMB_FIXED + 4 * i, ssrcs[i]);
    return (int)total;
}
