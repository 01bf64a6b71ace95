/*
 * h264.c - Annex-B scanning and writing, AU classification (H.264 Annex B, 7.3.1).
 */
#include "proto/h264.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <string.h>

/* Offset of the next 0x000001 at or after `from`, or len when there is none. */
static size_t find_start_code(const uint8_t *b, size_t len, size_t from)
{
    size_t i = from;
    while (len >= 3 && i <= len - 3) {
        /* A start code at i, i+1 or i+2 needs b[i+2] <= 1; skip three when it is larger. */
        if (b[i + 2] > 1) {
            i += 3;
        } else if (b[i + 2] == 1 && b[i + 1] == 0 && b[i] == 0) {
            return i;
        } else {
            i++;
        }
    }
    return len;
}

void hc_h264_annexb_init(hc_h264_annexb_t *it, const uint8_t *buf, size_t len)
{
    it->buf = buf;
    it->len = len;
    it->pos = len;
    it->err = 0;
    if (!buf && len) {
        it->err = -HC_EINVAL;
        it->len = 0;
        it->pos = 0;
        return;
    }
    size_t sc = find_start_code(buf, len, 0);
    if (sc == len) {
        it->err = -HC_EMALFORMED;
        return;
    }
    /* Only leading_zero_8bits may precede the first start code (Annex B.1). */
    for (size_t i = 0; i < sc; i++) {
        if (buf[i] != 0) {
            it->err = -HC_EMALFORMED;
            return;
        }
    }
    it->pos = sc + 3;
}

int hc_h264_annexb_next(hc_h264_annexb_t *it, const uint8_t **nal, size_t *nal_len)
{
    if (!it || !nal || !nal_len) return -HC_EINVAL;
    if (it->err) return it->err;
    while (it->pos < it->len) {
        size_t start = it->pos;
        size_t sc = find_start_code(it->buf, it->len, start);
        size_t end = sc;
        it->pos = sc == it->len ? it->len : sc + 3;
        /* A NAL unit never ends in a zero byte (its RBSP ends in a stop bit, or in the 0x03
         * of cabac_zero_words), so trailing zeros are trailing_zero_8bits or the first byte
         * of a four-byte start code (Annex B.1). */
        while (end > start && it->buf[end - 1] == 0) end--;
        if (end > start) {
            *nal = it->buf + start;
            *nal_len = end - start;
            return 1;
        }
    }
    return 0;
}

int hc_h264_annexb_append(uint8_t *buf, size_t cap, size_t *pos, const uint8_t *nal, size_t nal_len)
{
    if (!buf || !pos || !nal || nal_len == 0) return -HC_EINVAL;
    if (*pos > cap || cap - *pos < 4 || cap - *pos - 4 < nal_len) return -HC_ENOSPC;
    if (nal_len > (size_t)INT32_MAX - 4) return -HC_ERANGE;
    uint8_t *p = buf + *pos;
    p[0] = 0;
    p[1] = 0;
    p[2] = 0;
    p[3] = 1;
    memcpy(p + 4, nal, nal_len);
    *pos += 4 + nal_len;
    return (int)(4 + nal_len);
}

static int nal_flag(int type)
{
    switch (type) {
    case HC_H264_NAL_SPS: return HC_H264_AU_SPS;
    case HC_H264_NAL_PPS: return HC_H264_AU_PPS;
    case HC_H264_NAL_IDR: return HC_H264_AU_IDR;
    case 1:
    case 2:
    case 3:
    case 4: return HC_H264_AU_SLICE;
    default: return 0;
    }
}

int hc_h264_rtp_flags(const uint8_t *p, size_t len)
{
    if (!p || len < 1) return 0;
    int type = hc_h264_nal_type(p[0]);
    if (type == HC_H264_NAL_STAP_A) {
        int flags = 0;
        for (size_t off = 1; off + 2 <= len;) {
            size_t n = hc_rd16(p + off);
            off += 2;
            if (n == 0 || n > len - off) break;
            flags |= nal_flag(hc_h264_nal_type(p[off]));
            off += n;
        }
        return flags;
    }
    if (type == HC_H264_NAL_FU_A)
        return len >= 2 && (p[1] & 0x80) ? nal_flag(hc_h264_nal_type(p[1])) : 0;
    return nal_flag(type);
}

int hc_h264_au_flags(const uint8_t *au, size_t len)
{
    hc_h264_annexb_t it;
    const uint8_t *nal;
    size_t n;
    int flags = 0, rc;
    hc_h264_annexb_init(&it, au, len);
    while ((rc = hc_h264_annexb_next(&it, &nal, &n)) == 1) {
        flags |= nal_flag(hc_h264_nal_type(nal[0]));
    }
    return rc < 0 ? rc : flags;
}

bool hc_h264_au_is_keyframe(const uint8_t *au, size_t len)
{
    int f = hc_h264_au_flags(au, len);
    return f >= 0 && (f & HC_H264_AU_IDR);
}
