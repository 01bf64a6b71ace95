/*
 * h264_pack.c - RFC 6184 packetizer, packetization mode 1 (6.2): single NAL unit packets
 * (5.6), STAP-A (5.7.1) and FU-A (5.8), in decoding order, without allocation.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"

#include <string.h>

/* NAL unit types H.264 itself may produce; 0 and 24..31 are for transport payload
 * structures (RFC 6184 Table 1) and cannot be carried as they are. */
static bool sendable_type(uint8_t hdr)
{
    int t = hc_h264_nal_type(hdr);
    return t >= 1 && t <= 23;
}

int hc_h264_pack_init(hc_h264_pack_t *p, const uint8_t *au, size_t len, size_t mtu_payload)
{
    if (!p || (!au && len)) return -HC_EINVAL;
    memset(p, 0, sizeof *p);
    if (mtu_payload < HC_H264_MTU_MIN || mtu_payload > HC_H264_MTU_MAX) return -HC_EINVAL;
    p->mtu = mtu_payload;

    /* Validate the whole AU first so that next() cannot fail half-way through it. */
    hc_h264_annexb_t it;
    const uint8_t *nal;
    size_t n;
    int rc, count = 0;
    hc_h264_annexb_init(&it, au, len);
    while ((rc = hc_h264_annexb_next(&it, &nal, &n)) == 1) {
        if (!sendable_type(nal[0])) return -HC_EMALFORMED;
        count++;
    }
    if (rc < 0) return rc;
    if (count == 0) return -HC_EMALFORMED;

    hc_h264_annexb_init(&p->scan, au, len);
    rc = hc_h264_annexb_next(&p->scan, &p->nal, &p->nal_len);
    return rc == 1 ? 0 : -HC_EINTERNAL;
}

/* Move on to the NAL unit after the current one. */
static void advance(hc_h264_pack_t *p)
{
    p->frag_off = 0;
    if (hc_h264_annexb_next(&p->scan, &p->nal, &p->nal_len) != 1) {
        p->nal = NULL;
        p->nal_len = 0;
    }
}

static int next_fu_a(hc_h264_pack_t *p, uint8_t *buf, size_t cap, bool *marker)
{
    /* The NAL header is not sent: F and NRI travel in the FU indicator and the type in the
     * FU header, and the receiver rebuilds it (5.8). */
    size_t off = p->frag_off ? p->frag_off : 1;
    size_t chunk = p->nal_len - off;
    if (chunk > p->mtu - 2) chunk = p->mtu - 2;
    if (cap < 2 + chunk) return -HC_ENOSPC;
    bool start = off == 1;
    bool end = off + chunk == p->nal_len;
    uint8_t hdr = p->nal[0];
    buf[0] = (uint8_t)((hdr & 0xe0) | HC_H264_NAL_FU_A);
    buf[1] = (uint8_t)((start ? 0x80 : 0) | (end ? 0x40 : 0) | (hdr & 0x1f));
    memcpy(buf + 2, p->nal + off, chunk);
    if (end) {
        advance(p);
        *marker = p->nal == NULL;
    } else {
        p->frag_off = off + chunk;
        *marker = false;
    }
    return (int)(2 + chunk);
}

int hc_h264_pack_next(hc_h264_pack_t *p, uint8_t *buf, size_t cap, bool *marker)
{
    if (!p || !buf || !marker) return -HC_EINVAL;
    *marker = false;
    if (!p->nal) return 0;
    /* A NAL unit larger than the MTU is fragmented; it never fits in one FU since it loses
     * only its header byte, so S and E are never both set (5.8). */
    if (p->nal_len > p->mtu || p->frag_off) return next_fu_a(p, buf, cap, marker);

    /* Aggregate the following NAL units while the STAP-A still fits (5.7.1). */
    hc_h264_annexb_t look = p->scan;
    const uint8_t *nal;
    size_t n, count = 1, size = 1 + 2 + p->nal_len;
    while (hc_h264_annexb_next(&look, &nal, &n) == 1 && size + 2 + n <= p->mtu) {
        size += 2 + n;
        count++;
    }
    if (count == 1) {
        if (cap < p->nal_len) return -HC_ENOSPC;
        memcpy(buf, p->nal, p->nal_len);
        size = p->nal_len;
        advance(p);
        *marker = p->nal == NULL;
        return (int)size;
    }
    if (cap < size) return -HC_ENOSPC;

    /* STAP-A header: F is the OR of the F bits, NRI the largest NRI (5.7.1). */
    uint8_t f = 0, nri = 0;
    size_t w = 1;
    for (size_t i = 0; i < count; i++) {
        f |= p->nal[0] & 0x80;
        if ((p->nal[0] & 0x60) > nri) nri = p->nal[0] & 0x60;
        hc_wr16(buf + w, (uint16_t)p->nal_len);
        memcpy(buf + w + 2, p->nal, p->nal_len);
        w += 2 + p->nal_len;
        advance(p);
    }
    buf[0] = (uint8_t)(f | nri | HC_H264_NAL_STAP_A);
    *marker = p->nal == NULL;
    return (int)w;
}
