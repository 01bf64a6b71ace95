/*
 * rtcp.c - RTCP demux, compound iteration, SR/RR/SDES/BYE parse and write
 * (see rtcp.h). Feedback messages live in rtcp_fb.c.
 */
#include "proto/rtcp.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <string.h>

bool hc_rtcp_is_rtcp(const uint8_t *buf, size_t len)
{
    if (buf == NULL || len < 8) return false;
    if ((buf[0] >> 6) != HC_RTCP_VERSION) return false;
    /* RFC 5761 §4: 192..223 is where RTCP packet types live and where RTP's
     * M|PT octet cannot be once PTs 64..95 are kept off the muxed port. */
    return buf[1] >= 192 && buf[1] <= 223;
}

void hc_rtcp_iter_init(hc_rtcp_iter_t *it, const uint8_t *buf, size_t len)
{
    if (it == NULL) return;
    it->buf = buf;
    it->len = buf != NULL ? len : 0;
    it->off = 0;
    it->err = 0;
}

/* SR (§6.4.1) and RR (§6.4.2): sender SSRC, [sender info], RC blocks, then
 * an optional profile-specific extension that we hand back untouched. */
static int parse_report(hc_rtcp_pkt_t *pkt, bool sr)
{
    const uint8_t *b = pkt->body;
    size_t len = pkt->body_len;
    size_t fixed = sr ? 24 : 4;
    hc_rtcp_report_t *r = &pkt->u.report;

    if (len < fixed) return -HC_ETRUNC;
    r->ssrc = hc_rd32(b);
    if (sr) {
        r->info.ntp = hc_rd64(b + 4);
        r->info.rtp_ts = hc_rd32(b + 12);
        r->info.packet_count = hc_rd32(b + 16);
        r->info.octet_count = hc_rd32(b + 20);
    }
    r->rb_count = pkt->count;
    if (len - fixed < (size_t)HC_RTCP_RB_LEN * pkt->count) return -HC_ETRUNC;
    r->rb = b + fixed;
    size_t used = fixed + (size_t)HC_RTCP_RB_LEN * pkt->count;
    if (used < len) {
        r->ext = b + used;
        r->ext_len = len - used;
    }
    pkt->kind = sr ? HC_RTCP_KIND_SR : HC_RTCP_KIND_RR;
    return 0;
}

/*
 * One SDES chunk at p[0..len) (§6.5): SSRC, items of type/length/text, then
 * a null octet ending the list and more nulls up to the next 32-bit
 * boundary. Chunks start on a boundary because the packet does, so the
 * chunk length is a multiple of 4. Returns the chunk length or an error.
 */
static int sdes_chunk(const uint8_t *p, size_t len, hc_rtcp_sdes_chunk_t *out)
{
    if (len < 4) return -HC_ETRUNC;
    memset(out, 0, sizeof(*out));
    out->ssrc = hc_rd32(p);
    size_t off = 4;
    for (;;) {
        if (off >= len) return -HC_ETRUNC; /* no null item before the end */
        uint8_t type = p[off];
        if (type == HC_RTCP_SDES_END) break;
        if (len - off < 2) return -HC_ETRUNC;
        uint8_t ilen = p[off + 1];
        if (len - off - 2 < ilen) return -HC_ETRUNC;
        if (type == HC_RTCP_SDES_CNAME && out->cname == NULL) {
            out->cname = p + off + 2;
            out->cname_len = ilen;
        }
        off += 2u + ilen;
    }
    out->items = p + 4;
    out->items_len = off - 4;
    /* The null item, then pad to the boundary. */
    size_t end = (off + 1 + 3) & ~(size_t)3;
    if (end > len) return -HC_ETRUNC;
    return (int)end;
}

static int parse_sdes(hc_rtcp_pkt_t *pkt)
{
    const uint8_t *b = pkt->body;
    size_t len = pkt->body_len, off = 0;
    hc_rtcp_sdes_chunk_t c;

    for (unsigned i = 0; i < pkt->count; i++) {
        int n = sdes_chunk(b + off, len - off, &c);
        if (n < 0) return n;
        off += (size_t)n;
    }
    /* Anything after SC chunks is not SDES; padding was removed already. */
    if (off != len) return -HC_EMALFORMED;
    pkt->u.sdes.chunk_count = pkt->count;
    pkt->u.sdes.chunks = b;
    pkt->u.sdes.len = len;
    pkt->kind = HC_RTCP_KIND_SDES;
    return 0;
}

/* BYE (§6.6): SC SSRCs, then optionally a length-prefixed reason padded to
 * the next 32-bit boundary. */
static int parse_bye(hc_rtcp_pkt_t *pkt)
{
    const uint8_t *b = pkt->body;
    size_t len = pkt->body_len;
    size_t off = 4u * pkt->count;
    hc_rtcp_bye_t *y = &pkt->u.bye;

    if (len < off) return -HC_ETRUNC;
    y->ssrc_count = pkt->count;
    y->ssrcs = b;
    if (off < len) {
        uint8_t rlen = b[off];
        if (len - off - 1 < rlen) return -HC_ETRUNC;
        y->reason = b + off + 1;
        y->reason_len = rlen;
        off += 1u + rlen;
        /* Only the padding to the boundary may follow. */
        if (len - off >= 4) return -HC_EMALFORMED;
    }
    pkt->kind = HC_RTCP_KIND_BYE;
    return 0;
}

static int fail(hc_rtcp_iter_t *it, int err)
{
    it->err = err;
    return err;
}

int hc_rtcp_next(hc_rtcp_iter_t *it, hc_rtcp_pkt_t *out)
{
    if (it == NULL || out == NULL) return -HC_EINVAL;
    if (it->err != 0) return it->err;
    if (it->off == it->len) {
        /* An empty datagram is not a compound packet (§6.1: at least one). */
        return it->off == 0 ? fail(it, -HC_ETRUNC) : 0;
    }

    const uint8_t *p = it->buf + it->off;
    size_t rest = it->len - it->off;
    if (rest < HC_RTCP_HDR_LEN) return fail(it, -HC_ETRUNC);

    /* §6.4.1 header: V(2) P(1) count(5) | PT(8) | length(16) in words - 1. */
    if ((p[0] >> 6) != HC_RTCP_VERSION) return fail(it, -HC_EVERSION);
    bool padded = (p[0] & 0x20) != 0;
    size_t plen = 4 * ((size_t)hc_rd16(p + 2) + 1);
    if (plen > rest) return fail(it, -HC_ETRUNC);

    memset(out, 0, sizeof(*out));
    out->count = p[0] & 0x1f;
    out->type = p[1];
    out->data = p;
    out->len = plen;
    out->body = p + HC_RTCP_HDR_LEN;
    out->body_len = plen - HC_RTCP_HDR_LEN;

    if (padded) {
        /* §6.4.1: only the last packet of a compound may be padded, and the
         * last octet counts the padding including itself. */
        if (plen != rest) return fail(it, -HC_EMALFORMED);
        size_t pad = p[plen - 1];
        if (pad == 0 || pad > out->body_len) return fail(it, -HC_EMALFORMED);
        out->padding_len = pad;
        out->body_len -= pad;
    }

    int rc = 0;
    switch (out->type) {
    case HC_RTCP_PT_SR: rc = parse_report(out, true); break;
    case HC_RTCP_PT_RR: rc = parse_report(out, false); break;
    case HC_RTCP_PT_SDES: rc = parse_sdes(out); break;
    case HC_RTCP_PT_BYE: rc = parse_bye(out); break;
    case HC_RTCP_PT_RTPFB:
    case HC_RTCP_PT_PSFB: rc = hc_rtcp_parse_fb_(out); break;
    default: out->kind = HC_RTCP_KIND_OTHER; break;
    }
    if (rc < 0) return fail(it, rc);

    it->off += plen;
    return 1;
}

int hc_rtcp_validate_compound(const uint8_t *buf, size_t len)
{
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    int n = 0, rc;
    bool report_first = false, feedback = false;

    if (buf == NULL) return -HC_EINVAL;
    hc_rtcp_iter_init(&it, buf, len);
    while ((rc = hc_rtcp_next(&it, &pkt)) == 1) {
        if (n == 0) report_first = pkt.type == HC_RTCP_PT_SR || pkt.type == HC_RTCP_PT_RR;
        if (pkt.type == HC_RTCP_PT_RTPFB || pkt.type == HC_RTCP_PT_PSFB) feedback = true;
        n++;
    }
    if (rc < 0) return rc;
    if (!report_first && !feedback) return -HC_EMALFORMED;
    return n;
}

int hc_rtcp_report_block(const hc_rtcp_pkt_t *pkt, size_t i, hc_rtcp_rb_t *out)
{
    if (pkt == NULL || out == NULL) return -HC_EINVAL;
    if (pkt->kind != HC_RTCP_KIND_SR && pkt->kind != HC_RTCP_KIND_RR) return -HC_EINVAL;
    if (i >= pkt->u.report.rb_count) return -HC_EINVAL;

    const uint8_t *b = pkt->u.report.rb + HC_RTCP_RB_LEN * i;
    out->ssrc = hc_rd32(b);
    out->fraction_lost = b[4];
    /* §6.4.1: cumulative lost is a signed 24-bit number (negative when
     * duplicates outnumber losses); sign-extend. */
    uint32_t cl = hc_rd24(b + 5);
    out->cumulative_lost = (int32_t)(cl ^ 0x800000u) - 0x800000;
    out->ext_highest_seq = hc_rd32(b + 8);
    out->jitter = hc_rd32(b + 12);
    out->lsr = hc_rd32(b + 16);
    out->dlsr = hc_rd32(b + 20);
    return 0;
}

int hc_rtcp_bye_ssrc(const hc_rtcp_pkt_t *pkt, size_t i, uint32_t *ssrc)
{
    if (pkt == NULL || ssrc == NULL || pkt->kind != HC_RTCP_KIND_BYE) return -HC_EINVAL;
    if (i >= pkt->u.bye.ssrc_count) return -HC_EINVAL;
    *ssrc = hc_rd32(pkt->u.bye.ssrcs + 4 * i);
    return 0;
}

void hc_rtcp_sdes_iter_init(hc_rtcp_sdes_iter_t *it, const hc_rtcp_pkt_t *pkt)
{
    if (it == NULL) return;
    memset(it, 0, sizeof(*it));
    if (pkt == NULL || pkt->kind != HC_RTCP_KIND_SDES) return;
    it->p = pkt->u.sdes.chunks;
    it->len = pkt->u.sdes.len;
    it->left = pkt->u.sdes.chunk_count;
}

int hc_rtcp_sdes_next(hc_rtcp_sdes_iter_t *it, hc_rtcp_sdes_chunk_t *out)
{
    if (it == NULL || out == NULL) return -HC_EINVAL;
    if (it->left == 0) return 0;
    int n = sdes_chunk(it->p + it->off, it->len - it->off, out);
    if (n < 0) {
        it->left = 0;
        return n;
    }
    it->off += (size_t)n;
    it->left--;
    return 1;
}

int hc_rtcp_sdes_item_next(const hc_rtcp_sdes_chunk_t *chunk, size_t *off, hc_rtcp_sdes_item_t *out)
{
    if (chunk == NULL || off == NULL || out == NULL) return -HC_EINVAL;
    size_t o = *off, len = chunk->items_len;
    if (o >= len) return 0;
    if (len - o < 2) return -HC_ETRUNC;
    uint8_t ilen = chunk->items[o + 1];
    if (len - o - 2 < ilen) return -HC_ETRUNC;
    out->type = chunk->items[o];
    out->len = ilen;
    out->text = chunk->items + o + 2;
    *off = o + 2 + ilen;
    return 1;
}

/* --- writers ------------------------------------------------------------- */

/* Common header; len is the whole packet in bytes, a multiple of 4. */
static void put_hdr(uint8_t *buf, uint8_t count, uint8_t pt, size_t len)
{
    buf[0] = (uint8_t)((HC_RTCP_VERSION << 6) | (count & 0x1f));
    buf[1] = pt;
    hc_wr16(buf + 2, (uint16_t)(len / 4 - 1));
}

static void put_rb(uint8_t *p, const hc_rtcp_rb_t *rb)
{
    /* Appendix A.3: clamp instead of wrapping the signed 24-bit field. */
    int32_t cl = rb->cumulative_lost;
    if (cl > 0x7fffff) cl = 0x7fffff;
    if (cl < -0x800000) cl = -0x800000;
    hc_wr32(p, rb->ssrc);
    p[4] = rb->fraction_lost;
    hc_wr24(p + 5, (uint32_t)cl & 0xffffffu);
    hc_wr32(p + 8, rb->ext_highest_seq);
    hc_wr32(p + 12, rb->jitter);
    hc_wr32(p + 16, rb->lsr);
    hc_wr32(p + 20, rb->dlsr);
}

static int write_report(uint8_t *buf, size_t cap, uint32_t ssrc, const hc_rtcp_sender_info_t *info,
                        const hc_rtcp_rb_t *rb, size_t n)
{
    if (buf == NULL || n > HC_RTCP_MAX_RB || (n > 0 && rb == NULL)) return -HC_EINVAL;
    size_t fixed = HC_RTCP_HDR_LEN + (info != NULL ? 24 : 4);
    size_t len = fixed + HC_RTCP_RB_LEN * n;
    if (cap < len) return -HC_ENOSPC;

    put_hdr(buf, (uint8_t)n, info != NULL ? HC_RTCP_PT_SR : HC_RTCP_PT_RR, len);
    hc_wr32(buf + 4, ssrc);
    if (info != NULL) {
        hc_wr64(buf + 8, info->ntp);
        hc_wr32(buf + 16, info->rtp_ts);
        hc_wr32(buf + 20, info->packet_count);
        hc_wr32(buf + 24, info->octet_count);
    }
    for (size_t i = 0; i < n; i++) put_rb(buf + fixed + HC_RTCP_RB_LEN * i, &rb[i]);
    return (int)len;
}

int hc_rtcp_write_sr(uint8_t *buf, size_t cap, uint32_t ssrc, const hc_rtcp_sender_info_t *info,
                     const hc_rtcp_rb_t *rb, size_t n)
{
    if (info == NULL) return -HC_EINVAL;
    return write_report(buf, cap, ssrc, info, rb, n);
}

int hc_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t ssrc, const hc_rtcp_rb_t *rb, size_t n)
{
    return write_report(buf, cap, ssrc, NULL, rb, n);
}

int hc_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname, size_t len)
{
    if (buf == NULL || len > 255 || (len > 0 && cname == NULL)) return -HC_EINVAL;
    /* SSRC, CNAME item (type, length, text), at least one null octet, all
     * rounded up to a 32-bit boundary (§6.5). */
    size_t chunk = 4 + ((2 + len + 1 + 3) & ~(size_t)3);
    size_t total = HC_RTCP_HDR_LEN + chunk;
    if (cap < total) return -HC_ENOSPC;

    put_hdr(buf, 1, HC_RTCP_PT_SDES, total);
    hc_wr32(buf + 4, ssrc);
    buf[8] = HC_RTCP_SDES_CNAME;
    buf[9] = (uint8_t)len;
    if (len > 0) memcpy(buf + 10, cname, len);
    memset(buf + 10 + len, 0, total - 10 - len);
    return (int)total;
}

int hc_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, size_t n, const char *reason,
                      size_t reason_len)
{
    if (buf == NULL || ssrcs == NULL || n == 0 || n > HC_RTCP_MAX_SSRC) return -HC_EINVAL;
    if (reason_len > 255 || (reason == NULL && reason_len > 0)) return -HC_EINVAL;
    size_t total = HC_RTCP_HDR_LEN + 4 * n;
    if (reason != NULL) total += (1 + reason_len + 3) & ~(size_t)3;
    if (cap < total) return -HC_ENOSPC;

    put_hdr(buf, (uint8_t)n, HC_RTCP_PT_BYE, total);
    size_t off = HC_RTCP_HDR_LEN;
    for (size_t i = 0; i < n; i++, off += 4) hc_wr32(buf + off, ssrcs[i]);
    if (reason != NULL) {
        buf[off] = (uint8_t)reason_len;
        if (reason_len > 0) memcpy(buf + off + 1, reason, reason_len);
        off += 1 + reason_len;
        memset(buf + off, 0, total - off);
    }
    return (int)total;
}
