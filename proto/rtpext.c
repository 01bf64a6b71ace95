/*
 * rtpext.c - RFC 8285 header extension elements and value codecs
 * (see rtpext.h).
 */
#include "proto/rtpext.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <assert.h>
#include <string.h>

bool hc_rtpext_is_two_byte(uint16_t profile)
{
    return (profile & 0xfff0) == HC_RTPEXT_PROFILE_TWO_BYTE;
}

int hc_rtpext_iter_init(hc_rtpext_iter_t *it, uint16_t profile, const uint8_t *data, size_t len)
{
    if (it == NULL) return -HC_EINVAL;
    memset(it, 0, sizeof(*it));
    it->data = data;
    it->len = len;
    if (data == NULL && len > 0) {
        it->state = -HC_EINVAL;
    } else if (profile == HC_RTPEXT_PROFILE_ONE_BYTE) {
        it->two_byte = false;
    } else if (hc_rtpext_is_two_byte(profile)) {
        it->two_byte = true;
    } else {
        it->state = -HC_EUNSUPPORTED;
    }
    return it->state;
}

int hc_rtpext_next(hc_rtpext_iter_t *it, uint8_t *id, const uint8_t **data, size_t *len)
{
    if (it == NULL || id == NULL || data == NULL || len == NULL) return -HC_EINVAL;
    if (it->state != 0) return it->state < 0 ? it->state : 0;

    const uint8_t *p = it->data;
    /* §4.1: a zero byte is padding in both forms and may sit between
     * elements; skip it and read the next byte as a new element. */
    while (it->off < it->len && p[it->off] == 0) it->off++;
    if (it->off >= it->len) {
        it->state = 1;
        return 0;
    }

    size_t off = it->off;
    uint8_t eid;
    size_t elen;
    if (!it->two_byte) {
        eid = p[off] >> 4;
        if (eid == 15) {
            /* §4.2: ID 15 ends processing; its length is ignored. */
            it->state = 1;
            return 0;
        }
        if (eid == 0) {
            /* ID 0 is reserved for padding, which is the whole zero byte. */
            it->state = -HC_EMALFORMED;
            return it->state;
        }
        elen = (size_t)(p[off] & 0x0f) + 1;
        off += 1;
    } else {
        if (it->len - off < 2) {
            it->state = -HC_ETRUNC;
            return it->state;
        }
        eid = p[off];
        elen = p[off + 1];
        off += 2;
    }
    if (it->len - off < elen) {
        it->state = -HC_ETRUNC;
        return it->state;
    }
    *id = eid;
    *data = p + off;
    *len = elen;
    it->off = off + elen;
    return 1;
}

int hc_rtpext_find(const hc_rtp_hdr_t *h, uint8_t id, const uint8_t **data, size_t *len)
{
    if (h == NULL || data == NULL || len == NULL) return -HC_EINVAL;
    if (!h->extension) return 0;
    hc_rtpext_iter_t it;
    int rc = hc_rtpext_iter_init(&it, h->ext_profile, h->ext_data, h->ext_len);
    if (rc < 0) return rc;
    uint8_t eid;
    const uint8_t *d;
    size_t l;
    while ((rc = hc_rtpext_next(&it, &eid, &d, &l)) > 0) {
        if (eid == id) {
            *data = d;
            *len = l;
            return 1;
        }
    }
    return rc;
}

void hc_rtpext_builder_init(hc_rtpext_builder_t *b, uint8_t *buf, size_t cap)
{
    assert(b != NULL);
    memset(b, 0, sizeof(*b));
    b->buf = buf;
    b->cap = buf != NULL ? cap : 0;
    b->one_byte = true;
    if (buf == NULL && cap > 0) b->error = -HC_EINVAL;
}

int hc_rtpext_add(hc_rtpext_builder_t *b, uint8_t id, const uint8_t *data, size_t len)
{
    if (b == NULL) return -HC_EINVAL;
    if (b->error != 0) return b->error;
    if (id == 0 || len > 255 || (data == NULL && len > 0)) {
        b->error = -HC_EINVAL;
        return b->error;
    }
    if (b->cap - b->used < 2 + len) {
        b->error = -HC_ENOSPC;
        return b->error;
    }
    uint8_t *p = b->buf + b->used;
    p[0] = id;
    p[1] = (uint8_t)len;
    if (len > 0) memcpy(p + 2, data, len);
    b->used += 2 + len;
    b->count++;
    /* §4.2: one-byte IDs are 1..14 and carry 1..16 bytes. */
    if (id > 14 || len < 1 || len > 16) b->one_byte = false;
    return 0;
}

int hc_rtpext_finish(hc_rtpext_builder_t *b, uint16_t *profile, size_t *len)
{
    if (b == NULL || profile == NULL || len == NULL) return -HC_EINVAL;
    if (b->error != 0) return b->error;

    size_t n = b->used;
    if (b->one_byte) {
        /* Rewrite each element's 2-byte header as ID(4) L-1(4). Destination
         * offsets never pass source offsets, so a forward pass is safe. */
        size_t src = 0, dst = 0;
        while (src < b->used) {
            uint8_t id = b->buf[src];
            size_t l = b->buf[src + 1];
            b->buf[dst] = (uint8_t)((id << 4) | (l - 1));
            memmove(b->buf + dst + 1, b->buf + src + 2, l);
            src += 2 + l;
            dst += 1 + l;
        }
        n = dst;
        *profile = HC_RTPEXT_PROFILE_ONE_BYTE;
    } else {
        *profile = HC_RTPEXT_PROFILE_TWO_BYTE;
    }
    /* §4.1: the block is a whole number of 32-bit words; pad with zeros. */
    size_t padded = (n + 3) & ~(size_t)3;
    if (padded > b->cap) {
        b->error = -HC_ENOSPC;
        return b->error;
    }
    if (padded / 4 > 0xffff || padded > 0x7fffffff) {
        b->error = -HC_EINVAL;
        return b->error;
    }
    if (padded > n) memset(b->buf + n, 0, padded - n);
    *len = padded;
    /* Finishing twice must not convert again. */
    b->error = -HC_EINVAL;
    return (int)padded;
}

/* ---- value codecs ------------------------------------------------------ */

static int check_exact(size_t len, size_t want)
{
    if (len < want) return -HC_ETRUNC;
    if (len > want) return -HC_EMALFORMED;
    return 0;
}

int hc_rtpext_audio_level_parse(const uint8_t *data, size_t len, bool *voice, uint8_t *level)
{
    if ((data == NULL && len > 0) || voice == NULL || level == NULL) return -HC_EINVAL;
    int rc = check_exact(len, 1);
    if (rc < 0) return rc;
    /* RFC 6464 §3: V(1) level(7). */
    *voice = (data[0] & 0x80) != 0;
    *level = data[0] & 0x7f;
    return 1;
}

int hc_rtpext_audio_level_write(bool voice, uint8_t level, uint8_t *buf, size_t cap)
{
    if (buf == NULL || level > 127) return -HC_EINVAL;
    if (cap < 1) return -HC_ENOSPC;
    buf[0] = (uint8_t)((voice ? 0x80 : 0) | level);
    return 1;
}

int hc_rtpext_abs_send_time_parse(const uint8_t *data, size_t len, uint32_t *v24)
{
    if ((data == NULL && len > 0) || v24 == NULL) return -HC_EINVAL;
    int rc = check_exact(len, 3);
    if (rc < 0) return rc;
    *v24 = hc_rd24(data);
    return 3;
}

int hc_rtpext_abs_send_time_write(uint32_t v24, uint8_t *buf, size_t cap)
{
    if (buf == NULL || v24 > 0xffffff) return -HC_EINVAL;
    if (cap < 3) return -HC_ENOSPC;
    hc_wr24(buf, v24);
    return 3;
}

#define US_PER_S   1000000u
#define ABS_PERIOD (64u * US_PER_S) /* 6 integer bits of seconds */

uint32_t hc_rtpext_abs_send_time_from_us(uint64_t us)
{
    uint64_t x = us % ABS_PERIOD; /* < 2^26, so x << 18 fits easily */
    uint64_t v = ((x << 18) + US_PER_S / 2) / US_PER_S;
    return (uint32_t)(v & 0xffffff);
}

uint64_t hc_rtpext_abs_send_time_to_us(uint32_t v24)
{
    return ((uint64_t)(v24 & 0xffffff) * US_PER_S + (1u << 17)) >> 18;
}

int hc_rtpext_twcc_parse(const uint8_t *data, size_t len, uint16_t *seq)
{
    if ((data == NULL && len > 0) || seq == NULL) return -HC_EINVAL;
    int rc = check_exact(len, 2);
    if (rc < 0) return rc;
    *seq = hc_rd16(data);
    return 2;
}

int hc_rtpext_twcc_write(uint16_t seq, uint8_t *buf, size_t cap)
{
    if (buf == NULL) return -HC_EINVAL;
    if (cap < 2) return -HC_ENOSPC;
    hc_wr16(buf, seq);
    return 2;
}

int hc_rtpext_capture_time_parse(const uint8_t *data, size_t len, hc_rtpext_capture_time_t *out)
{
    if ((data == NULL && len > 0) || out == NULL) return -HC_EINVAL;
    if (len < 8) return -HC_ETRUNC;
    if (len != 8 && len != 16) return -HC_EMALFORMED;
    out->ntp = hc_rd64(data);
    out->has_offset = len == 16;
    /* Two's complement offset; spell the conversion out (C11 leaves
     * out-of-range unsigned to signed conversion implementation-defined). */
    uint64_t u = len == 16 ? hc_rd64(data + 8) : 0;
    out->offset = u > (uint64_t)INT64_MAX ? -(int64_t)(~u) - 1 : (int64_t)u;
    return (int)len;
}

int hc_rtpext_capture_time_write(const hc_rtpext_capture_time_t *ct, uint8_t *buf, size_t cap)
{
    if (ct == NULL || buf == NULL) return -HC_EINVAL;
    size_t need = ct->has_offset ? 16 : 8;
    if (cap < need) return -HC_ENOSPC;
    hc_wr64(buf, ct->ntp);
    if (ct->has_offset) hc_wr64(buf + 8, (uint64_t)ct->offset);
    return (int)need;
}

/* Seconds from 1900-01-01 (NTP era 0) to 1970-01-01. */
#define NTP_UNIX_OFFSET 2208988800u

uint64_t hc_rtpext_ntp_from_unix_us(uint64_t unix_us)
{
    uint64_t sec = unix_us / US_PER_S + NTP_UNIX_OFFSET;
    uint64_t frac = (((unix_us % US_PER_S) << 32) + US_PER_S / 2) / US_PER_S;
    /* Seconds past 2^32 fall into the next era and wrap, as on the wire. */
    return (sec << 32) + frac;
}

uint64_t hc_rtpext_ntp_to_unix_us(uint64_t ntp)
{
    uint64_t sec = ntp >> 32;
    uint64_t frac = ntp & 0xffffffffu;
    uint64_t unix_s =
        sec >= NTP_UNIX_OFFSET ? sec - NTP_UNIX_OFFSET : sec + 0x100000000ull - NTP_UNIX_OFFSET;
    return unix_s * US_PER_S + ((frac * US_PER_S + 0x80000000u) >> 32);
}

int64_t hc_rtpext_q32_to_us(int64_t q)
{
    bool neg = q < 0;
    uint64_t u = neg ? 0 - (uint64_t)q : (uint64_t)q;
    uint64_t us = (u >> 32) * US_PER_S + (((u & 0xffffffffu) * US_PER_S + 0x80000000u) >> 32);
    return neg ? -(int64_t)us : (int64_t)us;
}

int64_t hc_rtpext_q32_from_us(int64_t us)
{
    bool neg = us < 0;
    uint64_t u = neg ? 0 - (uint64_t)us : (uint64_t)us;
    uint64_t sec = u / US_PER_S;
    if (sec >= 0x80000000u) return neg ? INT64_MIN : INT64_MAX;
    uint64_t q = (sec << 32) + (((u % US_PER_S) << 32) + US_PER_S / 2) / US_PER_S;
    return neg ? -(int64_t)q : (int64_t)q;
}
