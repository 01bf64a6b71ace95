/*
 * rtp.c - RTP header parse/write and in-place rewriting (see rtp.h).
 */
#include "proto/rtp.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <assert.h>
#include <string.h>

int hc_rtp_parse(const uint8_t *buf, size_t len, hc_rtp_hdr_t *out)
{
    if (buf == NULL || out == NULL) return -HC_EINVAL;
    if (len < HC_RTP_FIXED_LEN) return -HC_ETRUNC;

    /* §5.1: V(2) P(1) X(1) CC(4) | M(1) PT(7) | seq(16) | ts(32) | ssrc(32) */
    uint8_t b0 = buf[0];
    if ((b0 >> 6) != HC_RTP_VERSION) return -HC_EVERSION;

    memset(out, 0, sizeof(*out));
    out->padding = (b0 & 0x20) != 0;
    out->extension = (b0 & 0x10) != 0;
    out->csrc_count = b0 & 0x0f;
    out->marker = (buf[1] & 0x80) != 0;
    out->pt = buf[1] & 0x7f;
    out->seq = hc_rd16(buf + 2);
    out->ts = hc_rd32(buf + 4);
    out->ssrc = hc_rd32(buf + 8);

    size_t off = HC_RTP_FIXED_LEN;
    if (len - off < 4u * out->csrc_count) return -HC_ETRUNC;
    for (unsigned i = 0; i < out->csrc_count; i++, off += 4) out->csrc[i] = hc_rd32(buf + off);

    if (out->extension) {
        /* §5.3.1: profile word, then length in 32-bit words not counting
         * this 4-byte extension header (so 0 is valid). */
        if (len - off < 4) return -HC_ETRUNC;
        out->ext_profile = hc_rd16(buf + off);
        size_t words = hc_rd16(buf + off + 2);
        off += 4;
        if (len - off < 4 * words) return -HC_ETRUNC;
        out->ext_data = buf + off;
        out->ext_len = 4 * words;
        off += 4 * words;
    }

    size_t rest = len - off;
    if (out->padding) {
        /* §5.1: the last octet counts the padding octets including itself.
         * A count of 0 is impossible; a count equal to rest leaves an empty
         * payload, which padding-only probe packets use. */
        if (rest == 0) return -HC_ETRUNC;
        size_t pad = buf[len - 1];
        if (pad == 0 || pad > rest) return -HC_EMALFORMED;
        out->padding_len = pad;
        rest -= pad;
    }
    out->payload = buf + off;
    out->payload_len = rest;
    out->header_len = off;
    return (int)off;
}

/* Arguments a writer can reject without looking at the buffer. */
static int check_hdr(const hc_rtp_hdr_t *h)
{
    if (h->csrc_count > HC_RTP_MAX_CSRC || h->pt > 127) return -HC_EINVAL;
    if (h->padding_len > HC_RTP_MAX_PADDING) return -HC_EINVAL;
    if (h->extension) {
        if (h->ext_len % 4 != 0 || h->ext_len / 4 > 0xffff) return -HC_EINVAL;
        if (h->ext_len > 0 && h->ext_data == NULL) return -HC_EINVAL;
    }
    return 0;
}

size_t hc_rtp_header_size(const hc_rtp_hdr_t *h)
{
    assert(h != NULL);
    size_t n = HC_RTP_FIXED_LEN + 4u * h->csrc_count;
    if (h->extension) n += 4 + h->ext_len;
    return n;
}

int hc_rtp_write_header(const hc_rtp_hdr_t *h, uint8_t *buf, size_t cap)
{
    if (h == NULL || buf == NULL) return -HC_EINVAL;
    int rc = check_hdr(h);
    if (rc < 0) return rc;
    size_t need = hc_rtp_header_size(h);
    if (cap < need) return -HC_ENOSPC;

    buf[0] = (uint8_t)((HC_RTP_VERSION << 6) | (h->padding_len > 0 ? 0x20 : 0) |
                       (h->extension ? 0x10 : 0) | h->csrc_count);
    buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
    hc_wr16(buf + 2, h->seq);
    hc_wr32(buf + 4, h->ts);
    hc_wr32(buf + 8, h->ssrc);
    size_t off = HC_RTP_FIXED_LEN;
    for (unsigned i = 0; i < h->csrc_count; i++, off += 4) hc_wr32(buf + off, h->csrc[i]);
    if (h->extension) {
        hc_wr16(buf + off, h->ext_profile);
        hc_wr16(buf + off + 2, (uint16_t)(h->ext_len / 4));
        off += 4;
        if (h->ext_len > 0) memcpy(buf + off, h->ext_data, h->ext_len);
        off += h->ext_len;
    }
    return (int)off;
}

int hc_rtp_write(const hc_rtp_hdr_t *h, const uint8_t *payload, size_t plen, uint8_t *buf,
                 size_t cap)
{
    if (h == NULL || buf == NULL || (payload == NULL && plen > 0)) return -HC_EINVAL;
    int rc = check_hdr(h);
    if (rc < 0) return rc;
    size_t hlen = hc_rtp_header_size(h);
    if (cap < hlen || cap - hlen < plen || cap - hlen - plen < h->padding_len) return -HC_ENOSPC;
    if (hlen + plen + h->padding_len > (size_t)0x7fffffff) return -HC_EINVAL;

    rc = hc_rtp_write_header(h, buf, cap);
    if (rc < 0) return rc;
    size_t off = (size_t)rc;
    if (plen > 0) memcpy(buf + off, payload, plen);
    off += plen;
    if (h->padding_len > 0) {
        /* §5.1: padding octets are ignored by the receiver; zero them and put
         * the count in the last one. */
        memset(buf + off, 0, h->padding_len - 1);
        off += h->padding_len;
        buf[off - 1] = (uint8_t)h->padding_len;
    }
    return (int)off;
}

void hc_rtp_set_seq(uint8_t *pkt, uint16_t seq)
{
    assert(pkt != NULL);
    hc_wr16(pkt + 2, seq);
}

void hc_rtp_set_ts(uint8_t *pkt, uint32_t ts)
{
    assert(pkt != NULL);
    hc_wr32(pkt + 4, ts);
}

void hc_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc)
{
    assert(pkt != NULL);
    hc_wr32(pkt + 8, ssrc);
}

void hc_rtp_set_pt_marker(uint8_t *pkt, uint8_t pt, bool marker)
{
    assert(pkt != NULL && pt <= 127);
    pkt[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
}

static int peek_check(const uint8_t *buf, size_t len)
{
    if (buf == NULL) return -HC_EINVAL;
    if (len < HC_RTP_FIXED_LEN) return -HC_ETRUNC;
    if ((buf[0] >> 6) != HC_RTP_VERSION) return -HC_EVERSION;
    return 0;
}

int hc_rtp_peek_ssrc(const uint8_t *buf, size_t len, uint32_t *ssrc)
{
    if (ssrc == NULL) return -HC_EINVAL;
    int rc = peek_check(buf, len);
    if (rc < 0) return rc;
    *ssrc = hc_rd32(buf + 8);
    return 0;
}

int hc_rtp_peek_seq(const uint8_t *buf, size_t len, uint16_t *seq)
{
    if (seq == NULL) return -HC_EINVAL;
    int rc = peek_check(buf, len);
    if (rc < 0) return rc;
    *seq = hc_rd16(buf + 2);
    return 0;
}
