/*
 * rtpext.h - RTP header extension elements (RFC 8285) and the values of
 * the extensions Hillcast uses.
 *
 * An RTP header extension block (RFC 3550 §5.3.1, parsed by rtp.h) holds a
 * list of elements in one of two forms (RFC 8285 §4):
 *   one-byte  (profile 0xBEDE, §4.2): ID(4) L(4) then L+1 data bytes; IDs
 *             1..14; ID 15 ends processing; a zero byte is padding.
 *   two-byte  (profile 0x100X, §4.3, X = 4 "appbits"): ID(8) L(8) then L
 *             data bytes (L may be 0); IDs 1..255; a zero byte is padding.
 * This module iterates over elements, finds one by ID, builds a block, and
 * parses/writes the values of:
 *   audio level       RFC 6464 §3: V flag and level 0..127 in -dBov (1 byte)
 *   abs-send-time     24-bit 6.18 fixed point seconds (3 bytes)
 *   transport-wide cc draft-holmer-rmcat-transport-wide-cc-extensions-01 §2:
 *                     16-bit transport-wide sequence number (2 bytes)
 *   abs-capture-time  64-bit NTP timestamp (Q32.32) and optional signed Q32.32
 *                     capture clock offset (8 or 16 bytes)
 * Every Hillcast program uses the default IDs below so that edge and relay
 * agree without negotiation; the URIs are for SDP-style signaling.
 *
 * Ownership: iterators and hc_rtpext_find() return pointers into the
 * extension data they were given. The builder writes into the caller's
 * buffer and keeps only that pointer. Threading: no shared state.
 */
#ifndef HC_PROTO_RTPEXT_H
#define HC_PROTO_RTPEXT_H

#include "proto/rtp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default extension IDs (one-byte form) used by every Hillcast program. */
#define HC_EXT_AUDIO_LEVEL   1
#define HC_EXT_ABS_SEND_TIME 2
#define HC_EXT_TWCC          3
#define HC_EXT_CAPTURE_TIME  4

#define HC_EXT_URI_AUDIO_LEVEL   "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
#define HC_EXT_URI_ABS_SEND_TIME "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
#define HC_EXT_URI_TWCC          "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
#define HC_EXT_URI_CAPTURE_TIME  "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"

#define HC_RTPEXT_PROFILE_ONE_BYTE 0xBEDE
#define HC_RTPEXT_PROFILE_TWO_BYTE 0x1000 /* low 4 bits are appbits */

/* True for 0x1000..0x100F (RFC 8285 §4.3). */
bool hc_rtpext_is_two_byte(uint16_t profile);

/* ---- iteration -------------------------------------------------------- */

typedef struct hc_rtpext_iter {
    const uint8_t *data;
    size_t len;
    size_t off;
    bool two_byte;
    int state; /* 0 running, 1 ended, negative: sticky error */
} hc_rtpext_iter_t;

/* Start iterating the extension data of a block (the bytes after the 4-byte
 * extension header). Returns 0, -HC_EINVAL (it NULL, or data NULL with
 * len > 0) or -HC_EUNSUPPORTED when profile is neither form; on error the
 * iterator returns that error from every hc_rtpext_next(). */
int hc_rtpext_iter_init(hc_rtpext_iter_t *it, uint16_t profile, const uint8_t *data, size_t len);

/* Next element: returns 1 and sets *id, *data (into the block) and *len;
 * 0 at the end of the block or at a one-byte ID 15 (§4.2: processing stops
 * there); negative on error, and the same error on every later call:
 *   -HC_ETRUNC      an element's length runs past the block
 *   -HC_EMALFORMED  one-byte form: ID 0 with a non-zero length nibble (only
 *                   a whole zero byte is padding, §4.1) */
int hc_rtpext_next(hc_rtpext_iter_t *it, uint8_t *id, const uint8_t **data, size_t *len);

/* First element with this id in a parsed packet. Returns 1 and sets *data
 * and *len; 0 when the packet has no extension block or no such element;
 * negative for an unsupported profile or a malformed block before a match. */
int hc_rtpext_find(const hc_rtp_hdr_t *h, uint8_t id, const uint8_t **data, size_t *len);

/* ---- building ---------------------------------------------------------- */

/* Builds extension data in a caller buffer. Elements are stored in two-byte
 * form while building (2 + len bytes each must fit in cap); finish converts
 * to one-byte form in place when every element allows it. */
typedef struct hc_rtpext_builder {
    uint8_t *buf;
    size_t cap;
    size_t used;   /* bytes of two-byte-form elements so far */
    size_t count;  /* elements added */
    bool one_byte; /* every element so far fits the one-byte form */
    int error;     /* first error, reported again by finish */
} hc_rtpext_builder_t;

void hc_rtpext_builder_init(hc_rtpext_builder_t *b, uint8_t *buf, size_t cap);

/* Add an element. id 1..255, len 0..255 (data may be NULL when len is 0).
 * Returns 0, -HC_EINVAL or -HC_ENOSPC; an error is also remembered and
 * returned by hc_rtpext_finish(). */
int hc_rtpext_add(hc_rtpext_builder_t *b, uint8_t id, const uint8_t *data, size_t len);

/* Finish the block: one-byte form (profile 0xBEDE) when every id is 1..14
 * and every len 1..16, else two-byte form (profile 0x1000); zero-padded to a
 * 32-bit boundary. Sets *profile and *len and returns *len (bytes of
 * extension data for hc_rtp_hdr_t.ext_data/ext_len), or a negative error.
 * With no elements it returns 0 with profile 0xBEDE. The builder is spent
 * afterwards: later calls return -HC_EINVAL until it is initialised again. */
int hc_rtpext_finish(hc_rtpext_builder_t *b, uint16_t *profile, size_t *len);

/* ---- value codecs ------------------------------------------------------ */
/* Parsers take an element's data and length and return bytes consumed,
 * -HC_ETRUNC when len is shorter than the value, -HC_EMALFORMED when longer
 * (or not one of the allowed sizes). Writers return bytes written,
 * -HC_ENOSPC or -HC_EINVAL. */

/* RFC 6464 §3: level is 0 (loudest) .. 127 (silence) in -dBov. */
int hc_rtpext_audio_level_parse(const uint8_t *data, size_t len, bool *voice, uint8_t *level);
int hc_rtpext_audio_level_write(bool voice, uint8_t level, uint8_t *buf, size_t cap);

/* abs-send-time: 24 bits, 6.18 fixed point seconds (wraps every 64 s). */
int hc_rtpext_abs_send_time_parse(const uint8_t *data, size_t len, uint32_t *v24);
int hc_rtpext_abs_send_time_write(uint32_t v24, uint8_t *buf, size_t cap);
/* Microseconds (any epoch) to the 24-bit value, rounded, modulo 64 s. */
uint32_t hc_rtpext_abs_send_time_from_us(uint64_t us);
/* The 24-bit value to microseconds in [0, 64 s), rounded. */
uint64_t hc_rtpext_abs_send_time_to_us(uint32_t v24);

/* Transport-wide sequence number. */
int hc_rtpext_twcc_parse(const uint8_t *data, size_t len, uint16_t *seq);
int hc_rtpext_twcc_write(uint16_t seq, uint8_t *buf, size_t cap);

/* abs-capture-time: NTP timestamp of capture, optional clock offset. */
typedef struct hc_rtpext_capture_time {
    uint64_t ntp;    /* Q32.32 seconds since 1900 (RFC 5905 era 0/1) */
    bool has_offset; /* 16-byte form */
    int64_t offset;  /* estimated capture clock offset, signed Q32.32 s */
} hc_rtpext_capture_time_t;

int hc_rtpext_capture_time_parse(const uint8_t *data, size_t len, hc_rtpext_capture_time_t *out);
/* Writes 8 bytes, or 16 when ct->has_offset. */
int hc_rtpext_capture_time_write(const hc_rtpext_capture_time_t *ct, uint8_t *buf, size_t cap);

/* NTP Q32.32 <-> microseconds since the Unix epoch. NTP seconds below
 * 2208988800 (the Unix epoch in NTP era 0) are taken as era 1 (2036 on). */
uint64_t hc_rtpext_ntp_from_unix_us(uint64_t unix_us);
uint64_t hc_rtpext_ntp_to_unix_us(uint64_t ntp);
/* Signed Q32.32 seconds <-> signed microseconds (for the clock offset). */
int64_t hc_rtpext_q32_to_us(int64_t q);
int64_t hc_rtpext_q32_from_us(int64_t us);

#endif
