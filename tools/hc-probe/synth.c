/* synth.c - synthetic H.264-shaped and Opus-shaped payloads; see synth.h. */
#include "tools/hc-probe/synth.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"

#include <string.h>

/* NAL header bytes: forbidden 0, NRI 3 (reference), type (H.264 7.3.1). */
#define NAL(type) ((uint8_t)(0x60 | (type)))

void hc_synth_video_init(hc_synth_video_t *v, uint32_t bitrate_bps, uint32_t fps, uint32_t mtu,
                         uint32_t gop)
{
    memset(v, 0, sizeof *v);
    v->fps = fps ? fps : 30;
    v->frame_bytes = bitrate_bps / 8 / v->fps;
    if (v->frame_bytes < 64) v->frame_bytes = 64;
    v->mtu = mtu < 64 ? 64 : mtu;
    v->gop = gop;
    v->force_key = true;
}

uint32_t hc_synth_video_ts(const hc_synth_video_t *v, uint32_t f)
{
    return (uint32_t)((uint64_t)f * 90000u / v->fps);
}

int hc_synth_video_frame(hc_synth_video_t *v, uint8_t *buf, size_t cap, hc_synth_pkt_t *pkts,
                         bool *key)
{
    bool k = v->force_key || (v->gop && v->frame % v->gop == 0);
    size_t n = 0, off = 0;
    size_t budget = v->frame_bytes;
    if (k) {
        /* STAP-A: header, then 16-bit size + NAL unit, for SPS and PPS. */
        static const uint8_t sps[] = {NAL(HC_H264_NAL_SPS),
                                      0x42,
                                      0xc0,
                                      0x1e,
                                      0xda,
                                      0x02,
                                      0x80,
                                      0xbf,
                                      0xe5,
                                      0x84,
                                      0x00,
                                      0x00,
                                      0x03,
                                      0x00,
                                      0x04};
        static const uint8_t pps[] = {NAL(HC_H264_NAL_PPS), 0xce, 0x3c, 0x80};
        size_t len = 1 + 2 + sizeof sps + 2 + sizeof pps;
        if (cap < len) return -HC_ENOSPC;
        uint8_t *p = buf;
        p[0] = NAL(HC_H264_NAL_STAP_A);
        hc_wr16(p + 1, sizeof sps);
        memcpy(p + 3, sps, sizeof sps);
        hc_wr16(p + 3 + sizeof sps, sizeof pps);
        memcpy(p + 5 + sizeof sps, pps, sizeof pps);
        pkts[n++] = (hc_synth_pkt_t){.off = 0, .len = len, .marker = false};
        off = len;
        budget = budget > len ? budget - len : 0;
        /* keyframes are bigger, as they are from a real encoder */
        budget *= 3;
    }
    /* The slice: NAL header + frame number + filler, as FU-A fragments
     * of at most mtu - 2 bytes of NAL body each. */
    uint8_t type = k ? HC_H264_NAL_IDR : HC_H264_NAL_SLICE;
    size_t body = budget < 16 ? 16 : budget; /* NAL body after its header */
    size_t frag = v->mtu - 2;
    size_t done = 0;
    while (done < body) {
        if (n >= HC_SYNTH_MAX_PKTS) return -HC_ENOSPC;
        size_t chunk = body - done < frag ? body - done : frag;
        if (off + 2 + chunk > cap) return -HC_ENOSPC;
        uint8_t *p = buf + off;
        p[0] = (uint8_t)(0x60 | HC_H264_NAL_FU_A); /* FU indicator: NRI of the NAL */
        p[1] = (uint8_t)((done == 0 ? 0x80 : 0) | (done + chunk == body ? 0x40 : 0) | type);
        memset(p + 2, (uint8_t)(0x20 + (v->frame & 0x3f)), chunk);
        if (done == 0) {
            /* first bytes of the slice: frame number (synthetic marker) */
            p[2] = 0x88;
            hc_wr32(p + 3, v->frame);
        }
        pkts[n++] = (hc_synth_pkt_t){.off = off, .len = 2 + chunk, .marker = false};
        off += 2 + chunk;
        done += chunk;
    }
    pkts[n - 1].marker = true;
    if (key) *key = k;
    v->force_key = false;
    v->frame++;
    return (int)n;
}

int64_t hc_synth_video_frame_no(const uint8_t *p, size_t len)
{
    if (len >= 7 && (p[0] & 0x1f) == HC_H264_NAL_FU_A && (p[1] & 0x80) && p[2] == 0x88)
        return hc_rd32(p + 3);
    return -1;
}

int hc_synth_audio_packet(uint32_t n, uint32_t bytes, uint8_t *buf, size_t cap)
{
    if (bytes < 2) bytes = 2;
    if (bytes > cap) return -HC_ENOSPC;
    buf[0] = (uint8_t)(31 << 3); /* config 31, mono, code 0 */
    memset(buf + 1, (uint8_t)n, bytes - 1);
    return (int)bytes;
}
