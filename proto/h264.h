/*
 * h264.h - H.264 NAL units in Annex-B form and in RTP (RFC 6184, packetization mode 1).
 *
 * What it is for: the edge encodes with libavcodec, which hands out access units (AUs) in
 * Annex-B byte-stream form (start code + NAL unit, repeated). The packetizer turns one AU into
 * RTP payloads; the depacketizer turns RTP payloads back into Annex-B AUs for libavcodec and
 * the recorder, and tells the receiver when a keyframe must be requested (PLI).
 *
 * Standards:
 *   - H.264 Annex B (byte stream: 0x000001 / 0x00000001 start codes) and 7.3.1 (NAL header).
 *   - RFC 6184 5.1 (marker bit on the last packet of an AU), 5.3 (NAL header as payload
 *     header), 5.6 (single NAL unit packet), 5.7.1 (STAP-A), 5.8 (FU-A), 6.2 (mode 1:
 *     non-interleaved; single NAL, STAP-A and FU-A only, sent in decoding order).
 *
 * Ownership:
 *   - The Annex-B scanner and the packetizer borrow the caller's AU; it must stay unchanged
 *     and alive until the iterator is done. Returned NAL pointers point into it.
 *   - The depacketizer writes into a frame buffer the caller owns (given to init). A finished
 *     frame's `data` points into that buffer and is valid until the next push or reset on the
 *     same depacketizer.
 *   - Nothing here allocates.
 *
 * Threading: no shared state; one iterator or depacketizer per thread (or external locking).
 *
 * Receive-side policy (see hc_h264_depack_push for the details):
 *   - Packets must arrive in sequence order (the jitter buffer upstream orders them). A packet
 *     with an older sequence number than expected (duplicate or too late) is ignored; a newer
 *     one than expected means loss.
 *   - An AU with a hole is NOT dropped: it is emitted with complete=false and holds only the
 *     NAL units that arrived whole (a partial FU-A NAL unit is cut out rather than passed on
 *     with F=1 as RFC 6184 5.8 would allow). The receiver decides whether to decode it (error
 *     concealment) or discard it. An AU of which nothing whole survived is dropped and
 *     counted.
 *   - A loss seen at a timestamp change makes both the AU it ends and the new AU incomplete,
 *     except when exactly one packet is missing and the sender is known to set the marker
 *     bit: then the missing packet was the old AU's last one and the new AU is whole.
 *   - After any loss, malformed payload or overflow, need_keyframe stays true until a complete
 *     AU holding an IDR slice arrives. It is also true from init until the first such AU.
 */
#ifndef HC_PROTO_H264_H
#define HC_PROTO_H264_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NAL unit types (H.264 Table 7-1) and RTP payload types (RFC 6184 Table 1). */
enum {
    HC_H264_NAL_SLICE = 1,
    HC_H264_NAL_IDR = 5,
    HC_H264_NAL_SEI = 6,
    HC_H264_NAL_SPS = 7,
    HC_H264_NAL_PPS = 8,
    HC_H264_NAL_AUD = 9,
    HC_H264_NAL_STAP_A = 24,
    HC_H264_NAL_STAP_B = 25,
    HC_H264_NAL_MTAP16 = 26,
    HC_H264_NAL_MTAP24 = 27,
    HC_H264_NAL_FU_A = 28,
    HC_H264_NAL_FU_B = 29,
};

/* nal_unit_type: the low five bits of the NAL header byte (H.264 7.3.1). */
static inline int hc_h264_nal_type(uint8_t nal_header)
{
    return nal_header & 0x1f;
}
/* nal_ref_idc (NRI), 0..3. */
static inline int hc_h264_nal_nri(uint8_t nal_header)
{
    return (nal_header >> 5) & 0x03;
}

/* ---- Annex-B scanner ------------------------------------------------------------------ */

typedef struct hc_h264_annexb {
    const uint8_t *buf;
    size_t len;
    size_t pos; /* offset just after the start code of the next NAL; len when done */
    int err;    /* sticky error from init (negative) or 0 */
} hc_h264_annexb_t;

/* Start scanning an Annex-B buffer. Bytes before the first start code must be zero
 * (leading_zero_8bits); anything else, or no start code at all, makes the first next()
 * return -HC_EMALFORMED. */
void hc_h264_annexb_init(hc_h264_annexb_t *it, const uint8_t *buf, size_t len);

/* Next NAL unit (without start code, trailing zero bytes removed; empty NAL units between
 * adjacent start codes are skipped). Returns 1 and sets *nal and *nal_len, 0 when done, or a
 * negative -HC_E* code. *nal borrows from the scanned buffer. */
int hc_h264_annexb_next(hc_h264_annexb_t *it, const uint8_t **nal, size_t *nal_len);

/* Append a 4-byte start code and the NAL unit at buf[*pos]; advances *pos. Returns bytes
 * written, -HC_ENOSPC (nothing written) when it does not fit, -HC_EINVAL for an empty NAL. */
int hc_h264_annexb_append(uint8_t *buf, size_t cap, size_t *pos, const uint8_t *nal,
                          size_t nal_len);

/* What an Annex-B AU holds. */
enum {
    HC_H264_AU_SPS = 1u << 0,
    HC_H264_AU_PPS = 1u << 1,
    HC_H264_AU_IDR = 1u << 2,
    HC_H264_AU_SLICE = 1u << 3, /* a non-IDR slice (types 1..4) */
};

/* Bitmask of HC_H264_AU_* for an Annex-B AU, or a negative -HC_E* code. */
int hc_h264_au_flags(const uint8_t *au, size_t len);

/* Bitmask of HC_H264_AU_* for the NAL units one RTP payload (RFC 6184)
 * carries or begins: a single NAL unit packet (5.6), every unit of a
 * STAP-A up to the first malformed size (5.7.1), and the fragmented unit's
 * type for the first FU-A fragment only (5.8: S bit). 0 for anything else,
 * including a non-first fragment; never reads past len. */
int hc_h264_rtp_flags(const uint8_t *payload, size_t len);

/* An AU is a keyframe when it carries an IDR slice; a decoder can start from it when SPS and
 * PPS came with it (or earlier). True only for well-formed Annex-B input. */
bool hc_h264_au_is_keyframe(const uint8_t *au, size_t len);

/* ---- Packetizer (RFC 6184 5.6, 5.7.1, 5.8) ----------------------------------------------- */

/* Largest payload MTU accepted: the STAP-A size field is 16 bits and the return value of
 * next() must fit an int. */
#define HC_H264_MTU_MAX 65535u
/* Smallest: an FU-A needs its two header bytes plus one byte of fragment. */
#define HC_H264_MTU_MIN 3u

typedef struct hc_h264_pack {
    hc_h264_annexb_t scan; /* positioned after `nal` */
    const uint8_t *nal;    /* NAL unit to send next; NULL when done */
    size_t nal_len;
    size_t frag_off; /* bytes of `nal` already sent as FU-A (0: fragmentation not begun) */
    size_t mtu;
} hc_h264_pack_t;

/* Prepare to packetize one AU in Annex-B form. mtu_payload is the largest RTP payload
 * (the RTP header and any SRTP tag already subtracted), HC_H264_MTU_MIN..HC_H264_MTU_MAX.
 * The whole AU is validated here, so next() fails only for lack of space.
 * Returns 0, -HC_EINVAL (bad argument or MTU), or -HC_EMALFORMED (not Annex-B, no NAL unit,
 * or a NAL unit type that cannot be sent: 0 or 24..31). */
int hc_h264_pack_init(hc_h264_pack_t *p, const uint8_t *au, size_t len, size_t mtu_payload);

/* Write the next RTP payload into buf. Consecutive NAL units that fit together go into one
 * STAP-A (5.7.1); a NAL unit that fits alone goes as a single NAL unit packet (5.6); a larger
 * one is split into FU-As (5.8). *marker is set on the last payload of the AU (5.1).
 * Returns the payload length, 0 when the AU is done, or -HC_ENOSPC if cap is smaller than
 * this payload (nothing consumed; cap >= mtu_payload always suffices). */
int hc_h264_pack_next(hc_h264_pack_t *p, uint8_t *buf, size_t cap, bool *marker);

/* ---- Depacketizer (RFC 6184 5.6, 5.7.1, 5.8, 6.2) ---------------------------------------- */

typedef struct hc_h264_frame {
    const uint8_t *data; /* Annex-B, 4-byte start codes, in the caller's frame buffer */
    size_t len;
    uint32_t ts;        /* RTP timestamp of the AU */
    uint16_t first_seq; /* sequence numbers of the first and last packet used */
    uint16_t last_seq;
    uint32_t packets;   /* RTP packets that carried this AU */
    uint32_t nal_count; /* NAL units in data */
    bool complete;      /* no packet was lost and every NAL unit is whole */
    bool marker;        /* finished by the marker bit (else by a timestamp change or flush) */
    bool keyframe;      /* holds an IDR slice */
    bool has_sps;
    bool has_pps;
} hc_h264_frame_t;

typedef struct hc_h264_depack_stats {
    uint64_t frames;     /* AUs emitted (complete or not) */
    uint64_t incomplete; /* of those, emitted with complete=false */
    uint64_t dropped;    /* AUs thrown away: malformed, overflow, nothing whole, not popped */
    uint64_t malformed;  /* payloads rejected */
    uint64_t overflow;   /* AUs that did not fit the frame buffer */
    uint64_t gaps;       /* sequence discontinuities */
    uint64_t lost;       /* packets missing, as far as the sequence numbers tell */
    uint64_t late;       /* packets ignored as duplicate or older than expected */
    uint64_t ignored;    /* payloads of types 0, 30, 31 (reserved, RFC 6184 Table 1) */
} hc_h264_depack_stats_t;

typedef struct hc_h264_depack {
    uint8_t *buf;
    size_t cap;
    size_t len;      /* bytes in buf */
    size_t au_start; /* offset of the AU being assembled; bytes before it were emitted */

    /* AU being assembled */
    bool in_au;
    bool discard; /* AU already given up (malformed/overflow): skip until it ends */
    bool broken;  /* a hole: will be emitted with complete=false */
    uint32_t ts;
    uint16_t first_seq, last_seq;
    uint32_t packets, nal_count;
    bool has_idr, has_sps, has_pps;

    /* FU-A reassembly (5.8) */
    bool fu_open;
    size_t fu_off;     /* offset of the start code of the NAL unit being reassembled */
    uint8_t fu_header; /* reconstructed NAL header */

    /* sequence tracking */
    bool have_seq;
    uint16_t next_seq;
    bool saw_marker; /* the sender sets the marker bit (5.1), so a lone loss can be placed */

    bool need_keyframe;
    bool has_queued;
    hc_h264_frame_t queued; /* second AU finished by one push, returned by pop */
    hc_h264_depack_stats_t stats;
} hc_h264_depack_t;

/* Packets further than this behind the expected sequence number are not "late" but a jump
 * (e.g. the sender restarted): treated as loss. */
#define HC_H264_LATE_WINDOW 1024u

/* Set up a depacketizer writing into frame_buf (caller-owned, cap bytes). The buffer should
 * hold the largest AU expected plus one RTP payload, because on a timestamp change the
 * finished AU stays in place while the new packet is stored after it. */
void hc_h264_depack_init(hc_h264_depack_t *d, uint8_t *frame_buf, size_t cap);

/* Forget all state (e.g. on an SSRC change); keeps the buffer and the counters, and asks for
 * a keyframe. Invalidates previously returned frames. */
void hc_h264_depack_reset(hc_h264_depack_t *d);

/* Feed one RTP payload (in sequence order; RTP header and padding already removed).
 * Returns 1 when *out holds a finished AU, 0 when more is needed (or the packet was ignored),
 * or a negative code: -HC_EMALFORMED/-HC_ETRUNC/-HC_EUNSUPPORTED for a bad payload or
 * -HC_ENOSPC when the AU outgrew the frame buffer; either way the AU of that timestamp is
 * dropped, need_keyframe is set, and the caller counts the error. -HC_EINVAL for bad
 * arguments. An AU is finished by the marker bit or, when its marker packet is missing or
 * never sent, by the first packet with another timestamp.
 * Rarely one push finishes two AUs (a timestamp change ends an AU and the new packet carries
 * the marker), or ends an AU and also rejects the new packet; the extra AU then waits for
 * hc_h264_depack_pop(), which a receiver calls after every push. */
int hc_h264_depack_push(hc_h264_depack_t *d, uint16_t seq, uint32_t ts, bool marker,
                        const uint8_t *payload, size_t len, hc_h264_frame_t *out);

/* The AU left waiting by the last push, if any: returns 1 and fills *out, else 0. It is
 * valid until the next push or reset. An AU not popped before the next push is dropped
 * (counted). */
int hc_h264_depack_pop(hc_h264_depack_t *d, hc_h264_frame_t *out);

/* Finish the AU being assembled without waiting for its marker (end of stream, timeout).
 * It is emitted with complete=false since its tail may be missing. An AU still waiting for
 * pop() comes out first, so call until it returns 0. Returns 1 when *out holds an AU, else 0.
 * The frame is valid until the next push or reset. */
int hc_h264_depack_flush(hc_h264_depack_t *d, hc_h264_frame_t *out);

/* True while the receiver should ask the sender for a keyframe (RFC 4585 PLI). */
bool hc_h264_depack_need_keyframe(const hc_h264_depack_t *d);

#endif
