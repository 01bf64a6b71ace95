/*
 * red.c - RED payload (RFC 2198 section 3) writer and parser.
 */
#include "proto/red.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <string.h>

int hc_red_write(const hc_red_block_t *redundant, size_t n, const hc_red_block_t *primary,
                 uint8_t *buf, size_t cap)
{
    if (!primary || (n && !redundant) || (!buf && cap)) return -HC_EINVAL;
    if (primary->len && !primary->data) return -HC_EINVAL;
    if (primary->pt > HC_RED_MAX_PT) return -HC_ERANGE;

    size_t total = 1 + primary->len;
    for (size_t i = 0; i < n; i++) {
        const hc_red_block_t *b = &redundant[i];
        if (b->len && !b->data) return -HC_EINVAL;
        if (b->pt > HC_RED_MAX_PT || b->ts_offset > HC_RED_MAX_TS_OFFSET ||
            b->len > HC_RED_MAX_BLOCK_LEN)
            return -HC_ERANGE;
        total += 4 + b->len;
    }
    if (total > cap) return -HC_ENOSPC;
    if (total > (size_t)INT32_MAX) return -HC_ERANGE;

    /* Headers first, in block order, then the data blocks in the same order (section 3). */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const hc_red_block_t *b = &redundant[i];
        /* F=1 | PT(7) | timestamp offset(14) | block length(10) */
        buf[w] = (uint8_t)(0x80 | b->pt);
        hc_wr24(buf + w + 1, ((uint32_t)b->ts_offset << 10) | (uint32_t)b->len);
        w += 4;
    }
    buf[w++] = primary->pt; /* F=0 | PT(7): the last header */
    for (size_t i = 0; i < n; i++) {
        if (redundant[i].len) memcpy(buf + w, redundant[i].data, redundant[i].len);
        w += redundant[i].len;
    }
    if (primary->len) memcpy(buf + w, primary->data, primary->len);
    w += primary->len;
    return (int)w;
}

int hc_red_parse(const uint8_t *buf, size_t len, hc_red_block_t *out, size_t max, size_t *n)
{
    if (!n || (!buf && len) || (!out && max)) return -HC_EINVAL;
    *n = 0;
    size_t off = 0, count = 0, data_len = 0;
    /* Pass 1: walk the headers up to the one with F=0, checking the announced lengths. */
    for (;;) {
        if (off >= len) return -HC_ETRUNC;
        if (!(buf[off] & 0x80)) break;
        if (len - off < 4) return -HC_ETRUNC;
        data_len += hc_rd24(buf + off + 1) & 0x3ff;
        off += 4;
        count++;
    }
    off++; /* the primary's one-byte header */
    count++;
    if (data_len > len - off) return -HC_ETRUNC;
    if (count > max) return -HC_ENOSPC;

    /* Pass 2: fill in the blocks; the primary takes what is left. */
    size_t data = off;
    for (size_t i = 0, h = 0; i < count; i++) {
        hc_red_block_t *b = &out[i];
        b->pt = buf[h] & 0x7f;
        b->data = buf + data;
        if (i + 1 < count) {
            uint32_t v = hc_rd24(buf + h + 1);
            b->ts_offset = (uint16_t)(v >> 10);
            b->len = v & 0x3ff;
            b->primary = false;
            h += 4;
        } else {
            b->ts_offset = 0;
            b->len = len - data;
            b->primary = true;
        }
        data += b->len;
    }
    *n = count;
    if (len > (size_t)INT32_MAX) return -HC_ERANGE;
    return (int)len;
}
