/*
 * rtp.h - RTP fixed header, CSRC list, header extension block and padding.
 *
 * Every media packet Hillcast sends or receives passes through here: the
 * relay parses each packet once after SRTP unprotect, then rewrites
 * sequence number, timestamp, SSRC and payload type in place per subscriber.
 *
 * Follows RFC 3550 §5.1 (fixed header, CSRC list, padding) and §5.3.1
 * (header extension: 16-bit profile word, 16-bit length in 32-bit words).
 * The elements inside an extension block (RFC 8285) are handled by rtpext.h.
 * RTP/RTCP demultiplexing on one port (RFC 5761 §4) belongs to the RTCP
 * module; hc_rtp_parse() accepts any payload type.
 *
 * Ownership: hc_rtp_parse() does not copy: ext_data and payload in the
 * result point into the caller's buffer and are valid as long as it is.
 * Writers copy from the pointers they are given and keep nothing.
 * Threading: pure functions, no state.
 */
#ifndef HC_PROTO_RTP_H
#define HC_PROTO_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_RTP_VERSION     2
#define HC_RTP_FIXED_LEN   12 /* bytes before the CSRC list */
#define HC_RTP_MAX_CSRC    15
#define HC_RTP_MAX_PADDING 255 /* the count octet is 8 bits */
/* Longest possible header: fixed part, 15 CSRCs, extension header and
 * 65535 extension words. */
#define HC_RTP_MAX_HDR_LEN (HC_RTP_FIXED_LEN + 4 * HC_RTP_MAX_CSRC + 4 + 4 * 65535)

typedef struct hc_rtp_hdr {
    bool padding;       /* P bit as parsed; writers derive it from padding_len */
    bool extension;     /* X bit: a header extension block follows the CSRCs */
    uint8_t csrc_count; /* CC, 0..15 */
    bool marker;        /* M */
    uint8_t pt;         /* payload type, 0..127 */
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint32_t csrc[HC_RTP_MAX_CSRC]; /* first csrc_count entries are valid */

    /* Header extension (§5.3.1), meaningful when extension is true. */
    uint16_t ext_profile;    /* "defined by profile" word, e.g. 0xBEDE */
    const uint8_t *ext_data; /* the words after the 4-byte extension header */
    size_t ext_len;          /* bytes at ext_data, a multiple of 4 */

    const uint8_t *payload; /* borrowed; padding excluded */
    size_t payload_len;
    size_t padding_len; /* padding bytes including the count octet; 0 if none */
    size_t header_len;  /* offset of the payload in the packet */
} hc_rtp_hdr_t;

/*
 * Parse an RTP packet. Fills *out and returns the header length (offset of
 * the payload), or:
 *   -HC_EINVAL     buf or out NULL
 *   -HC_ETRUNC     shorter than the fixed header, the CSRC list or the
 *                  extension block; or P set with no byte after the header
 *   -HC_EVERSION   version is not 2
 *   -HC_EMALFORMED P set and the padding count is 0 or larger than the bytes
 *                  after the header
 * RTP carries no payload length, so a packet cut inside its payload still
 * parses (with a shorter payload) unless its padding count then fails.
 */
int hc_rtp_parse(const uint8_t *buf, size_t len, hc_rtp_hdr_t *out);

/* Bytes hc_rtp_write_header() would write for h (fixed header, CSRCs and,
 * when h->extension, the extension header and h->ext_len bytes). */
size_t hc_rtp_header_size(const hc_rtp_hdr_t *h);

/*
 * Write the header of h into buf: fixed header, h->csrc_count CSRCs and,
 * when h->extension is set, the extension header (h->ext_profile,
 * h->ext_len / 4) followed by h->ext_len bytes from h->ext_data. The P bit
 * is set when h->padding_len > 0 (h->padding is ignored); the caller then
 * appends payload and padding itself. Returns bytes written, or
 *   -HC_EINVAL  NULL pointers, csrc_count > 15, pt > 127, ext_len not a
 *               multiple of 4 or above 65535 words, ext_data NULL with
 *               ext_len > 0, padding_len > 255
 *   -HC_ENOSPC  cap too small
 */
int hc_rtp_write_header(const hc_rtp_hdr_t *h, uint8_t *buf, size_t cap);

/*
 * Write a full packet: header as hc_rtp_write_header(), plen bytes of
 * payload and, when h->padding_len > 0, that many padding bytes (zeros, the
 * last one holding the count, §5.1). h->payload and h->payload_len are
 * ignored; payload may be NULL when plen is 0. payload must not overlap buf.
 * Returns bytes written or the errors of hc_rtp_write_header(). Also
 * -HC_EINVAL when payload is NULL with plen > 0.
 */
int hc_rtp_write(const hc_rtp_hdr_t *h, const uint8_t *payload, size_t plen, uint8_t *buf,
                 size_t cap);

/*
 * In-place rewriting for the relay's hot path. pkt must be a packet that
 * hc_rtp_parse() accepted (so at least 12 bytes); nothing else is checked.
 */
void hc_rtp_set_seq(uint8_t *pkt, uint16_t seq);
void hc_rtp_set_ts(uint8_t *pkt, uint32_t ts);
void hc_rtp_set_ssrc(uint8_t *pkt, uint32_t ssrc);
/* pt must be 0..127. */
void hc_rtp_set_pt_marker(uint8_t *pkt, uint8_t pt, bool marker);

/*
 * Cheap looks at a packet that has not been parsed: check only the length
 * (>= 12) and the version. Return 0, -HC_EINVAL (NULL), -HC_ETRUNC or
 * -HC_EVERSION.
 */
int hc_rtp_peek_ssrc(const uint8_t *buf, size_t len, uint32_t *ssrc);
int hc_rtp_peek_seq(const uint8_t *buf, size_t len, uint16_t *seq);

#endif
