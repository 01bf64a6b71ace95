/*
 * fuzz_h264.c - libFuzzer harness for the RFC 6184 depacketizer and packetizer.
 *
 * Input: byte 0 picks the frame buffer size and the MTU; the rest is read twice:
 *  1. as pseudo RTP packets, records of [flags][length][payload]: flags bit 0 = marker,
 *     bits 1-2 = sequence step (+1, +2, -1, +1), bit 3 = next timestamp. Every emitted frame
 *     must lie inside the frame buffer and start with a start code.
 *  2. as one Annex-B AU: if the packetizer accepts it, its payloads pushed through a fresh
 *     depacketizer must give back one complete AU holding exactly the input's NAL units.
 */
#include "proto/h264.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint8_t frame_buf[1 << 18];
static uint8_t pkts[1 << 20];

static void check_frame(const hc_h264_frame_t *f, size_t cap)
{
    if (f->data < frame_buf || f->len == 0 || f->len > cap || f->data + f->len > frame_buf + cap)
        abort();
    if (f->data[0] != 0 || f->data[1] != 0 || f->data[2] != 0 || f->data[3] != 1) abort();
    if (f->packets == 0 || f->nal_count == 0) abort();
}

static void as_packets(const uint8_t *data, size_t size, size_t cap)
{
    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, frame_buf, cap);
    uint16_t seq = 1000;
    uint32_t ts = 0;
    size_t off = 0;
    while (size - off >= 2) {
        uint8_t flags = data[off];
        size_t len = data[off + 1];
        off += 2;
        if (len > size - off) len = size - off;
        static const int step[4] = {1, 2, -1, 1};
        seq = (uint16_t)(seq + step[(flags >> 1) & 3]);
        if (flags & 8) ts += 3000;
        int rc = hc_h264_depack_push(&d, seq, ts, flags & 1, data + off, len, &f);
        if (rc == 1) check_frame(&f, cap);
        if (rc > 1) abort();
        while (hc_h264_depack_pop(&d, &f) == 1) check_frame(&f, cap);
        off += len;
    }
    while (hc_h264_depack_flush(&d, &f) == 1) check_frame(&f, cap);
}

static void as_access_unit(const uint8_t *au, size_t size, size_t mtu)
{
    hc_h264_pack_t p;
    /* Four-byte start codes may grow the AU by a quarter; keep it within the frame buffer. */
    if (size > sizeof frame_buf / 2) return;
    if (hc_h264_pack_init(&p, au, size, mtu) != 0) return;
    size_t lens[8192], n = 0, used = 0;
    bool marker = false;
    int rc;
    while (n < 8192 && used + mtu <= sizeof pkts &&
           (rc = hc_h264_pack_next(&p, pkts + used, mtu, &marker)) > 0) {
        if ((size_t)rc > mtu) abort();
        lens[n++] = (size_t)rc;
        used += (size_t)rc;
    }
    if (!marker) return; /* ran out of harness storage */

    hc_h264_depack_t d;
    hc_h264_frame_t f;
    hc_h264_depack_init(&d, frame_buf, sizeof frame_buf);
    int frames = 0;
    used = 0;
    for (size_t i = 0; i < n; i++) {
        rc = hc_h264_depack_push(&d, (uint16_t)(65530 + i), 90000, i + 1 == n, pkts + used, lens[i],
                                 &f);
        used += lens[i];
        if (rc < 0) abort();
        if (rc == 1) frames++;
    }
    if (frames != 1 || !f.complete || !f.marker) abort();

    /* The NAL units that come out are the NAL units that went in. */
    hc_h264_annexb_t a, b;
    const uint8_t *na, *nb;
    size_t la, lb;
    int ra, rb;
    hc_h264_annexb_init(&a, au, size);
    hc_h264_annexb_init(&b, f.data, f.len);
    uint32_t count = 0;
    do {
        ra = hc_h264_annexb_next(&a, &na, &la);
        rb = hc_h264_annexb_next(&b, &nb, &lb);
        if (ra != rb) abort();
        if (ra == 1) {
            if (la != lb || memcmp(na, nb, la) != 0) abort();
            count++;
        }
    } while (ra == 1);
    if (ra != 0 || count != f.nal_count) abort();
    int flags = hc_h264_au_flags(au, size);
    if (flags < 0 || f.keyframe != ((flags & HC_H264_AU_IDR) != 0)) abort();
    if (f.has_sps != ((flags & HC_H264_AU_SPS) != 0)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t cap = (size_t)16 << (data[0] & 0x0f); /* 16 B .. 512 KiB, clamped below */
    if (cap > sizeof frame_buf) cap = sizeof frame_buf;
    static const size_t mtus[16] = {3,   4,   5,   7,   10,   16,   32,   64,
                                    100, 200, 300, 576, 1000, 1200, 1400, 65535};
    size_t mtu = mtus[data[0] >> 4];
    as_packets(data + 1, size - 1, cap);
    as_access_unit(data + 1, size - 1, mtu);
    return 0;
}
