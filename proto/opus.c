/*
 * opus.c - Opus TOC byte and packet framing (RFC 6716 3.1-3.4).
 */
#include "proto/opus.h"

#include "proto/err.h"

#include <string.h>

void hc_opus_toc_parse(uint8_t toc, hc_opus_toc_t *out)
{
    /* RFC 6716 3.1, Table 2: config = the top five bits. */
    static const uint32_t silk_len[4] = {480, 960, 1920, 2880}; /* 10, 20, 40, 60 ms */
    static const uint32_t celt_len[4] = {120, 240, 480, 960};   /* 2.5, 5, 10, 20 ms */
    static const hc_opus_bandwidth_t celt_bw[4] = {HC_OPUS_BW_NB, HC_OPUS_BW_WB, HC_OPUS_BW_SWB,
                                                   HC_OPUS_BW_FB};
    uint8_t config = (uint8_t)(toc >> 3);
    out->config = config;
    out->stereo = (toc & 0x04) != 0;
    out->code = toc & 0x03;
    if (config < 12) {
        out->mode = HC_OPUS_MODE_SILK;
        out->bandwidth = (hc_opus_bandwidth_t)(HC_OPUS_BW_NB + config / 4);
        out->frame_samples = silk_len[config % 4];
    } else if (config < 16) {
        out->mode = HC_OPUS_MODE_HYBRID;
        out->bandwidth = config < 14 ? HC_OPUS_BW_SWB : HC_OPUS_BW_FB;
        out->frame_samples = config % 2 ? 960 : 480; /* 20 or 10 ms */
    } else {
        out->mode = HC_OPUS_MODE_CELT;
        out->bandwidth = celt_bw[(config - 16) / 4];
        out->frame_samples = celt_len[config % 4];
    }
}

/* Frame length coding (3.2.1): one byte below 252, else two bytes, 4 * second + first.
 * Returns the bytes used or -HC_ETRUNC. */
static int frame_length(const uint8_t *p, size_t avail, size_t *out)
{
    if (avail < 1) return -HC_ETRUNC;
    if (p[0] < 252) {
        *out = p[0];
        return 1;
    }
    if (avail < 2) return -HC_ETRUNC;
    *out = (size_t)p[1] * 4 + p[0];
    return 2;
}

int hc_opus_packet_parse(const uint8_t *buf, size_t len, hc_opus_packet_t *out)
{
    if (!out || (!buf && len)) return -HC_EINVAL;
    if (len < 1) return -HC_ETRUNC; /* R1 */
    memset(out, 0, sizeof *out);
    hc_opus_toc_parse(buf[0], &out->toc);

    size_t off = 1;   /* next byte to read */
    size_t end = len; /* end of frame data (padding excluded) */
    size_t size[HC_OPUS_MAX_FRAMES];
    unsigned count;
    int rc;

    switch (out->toc.code) {
    case 0: /* 3.2.2: one frame filling the packet */
        count = 1;
        size[0] = len - 1;
        break;
    case 1: /* 3.2.3: two frames of equal size; R3 */
        count = 2;
        if ((len - 1) % 2) return -HC_EMALFORMED;
        size[0] = size[1] = (len - 1) / 2;
        break;
    case 2: /* 3.2.4: two frames, the first one's length coded; R4 */
        count = 2;
        out->vbr = true;
        rc = frame_length(buf + off, len - off, &size[0]);
        if (rc < 0) return rc;
        off += (size_t)rc;
        if (size[0] > len - off) return -HC_ETRUNC;
        size[1] = len - off - size[0];
        break;
    default: { /* 3.2.5: frame count byte, optional padding, optional lengths */
        if (len < 2) return -HC_ETRUNC; /* R6 */
        uint8_t fc = buf[1];
        off = 2;
        count = fc & 0x3f;
        out->vbr = (fc & 0x80) != 0;
        out->padded = (fc & 0x40) != 0;
        /* R5: at least one frame and at most 120 ms. */
        if (count == 0 || count * out->toc.frame_samples > HC_OPUS_MAX_SAMPLES)
            return -HC_EMALFORMED;
        if (out->padded) {
            /* Each length byte adds its value; 255 adds 254 and says another byte follows. */
            size_t pad = 0;
            uint8_t b;
            do {
                if (off >= len) return -HC_ETRUNC;
                b = buf[off++];
                pad += b == 255 ? 254 : b;
            } while (b == 255);
            if (pad > len - off) return -HC_ETRUNC; /* R6/R7 */
            end = len - pad;
            out->padding = pad;
        }
        if (out->vbr) {
            /* R7: all M-1 lengths, then the frames, must fit before the padding. */
            size_t used = 0;
            for (unsigned i = 0; i + 1 < count; i++) {
                rc = frame_length(buf + off, end - off, &size[i]);
                if (rc < 0) return rc;
                off += (size_t)rc;
                used += size[i];
                if (used > end - off) return -HC_ETRUNC;
            }
            size[count - 1] = end - off - used;
        } else {
            /* R6: the frame bytes split evenly among M frames. */
            size_t data = end - off;
            if (data % count) return -HC_EMALFORMED;
            for (unsigned i = 0; i < count; i++) size[i] = data / count;
        }
        break;
    }
    }

    for (unsigned i = 0; i < count; i++) {
        if (size[i] > HC_OPUS_MAX_FRAME_BYTES) return -HC_EMALFORMED; /* R2 */
        out->frame[i] = buf + off;
        out->frame_len[i] = (uint16_t)size[i];
        off += size[i];
    }
    out->frame_count = (uint8_t)count;
    out->samples = count * out->toc.frame_samples;
    if (len > (size_t)INT32_MAX) return -HC_ERANGE;
    return (int)len;
}

int hc_opus_packet_samples(const uint8_t *buf, size_t len)
{
    hc_opus_packet_t pkt;
    int rc = hc_opus_packet_parse(buf, len, &pkt);
    return rc < 0 ? rc : (int)pkt.samples;
}
