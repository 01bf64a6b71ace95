/*
 * twcc.h - transport-wide congestion control feedback (the FCI of RTPFB
 * FMT 15).
 *
 * The receiver reports, for every packet stamped with a transport-wide
 * sequence number, whether it arrived and when; the sender's congestion
 * controller turns that into the rate the encoder may use on the uplink.
 * The relay writes these for the edges' uplinks and reads them for its
 * downlinks.
 *
 * Follows draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1:
 *   base sequence number(16) | packet status count(16)
 *   reference time(24, signed, 64 ms units) | feedback packet count(8)
 *   packet chunks (16 bits each), then receive deltas, then zero padding
 *   to 32 bits.
 * Chunks (§3.1.3, §3.1.4): run length T=0 S(2) length(13); status vector
 * T=1 S=0 with 14 one-bit symbols or S=1 with 7 two-bit symbols. Symbols
 * (§3.1.1): 00 not received, 01 received with a 1-byte delta (0..63.75 ms in
 * 250 us units), 10 received with a 2-byte signed delta, 11 reserved.
 * Deltas (§3.1.5) are relative to the previous received packet, the first
 * one to the reference time.
 *
 * Interoperability notes:
 *   - libwebrtc pads with the RTCP P bit instead of zero padding inside the
 *     FCI; the RTCP layer strips that, so both forms parse. We write the
 *     draft's zero padding, which leaves the packet free to sit anywhere in
 *     a compound.
 *   - libwebrtc treats the reference time as unsigned and wraps at 2^24;
 *     we sign-extend as the draft says. Only differences between reference
 *     times matter, and callers must take them modulo 2^24 either way.
 *   - Symbol 11 (used by some old examples for "received, no delta") is
 *     rejected as -HC_EMALFORMED, as libwebrtc does. Feedback without
 *     receive deltas (the -02 extension's timestamp-less mode) is not
 *     supported and parses as -HC_ETRUNC.
 *
 * Ownership: parse writes into caller storage and keeps no pointer into
 * the input; write copies from its arguments.
 * Threading: pure functions.
 */
#ifndef HC_PROTO_TWCC_H
#define HC_PROTO_TWCC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_TWCC_HDR_LEN      8     /* base seq, status count, ref time, fb count */
#define HC_TWCC_DELTA_US     250   /* receive delta unit */
#define HC_TWCC_REF_US       64000 /* reference time unit */
#define HC_TWCC_MAX_RUN      0x1fff
#define HC_TWCC_MAX_STATUS   65535
#define HC_TWCC_REF_TIME_MIN (-0x800000)
#define HC_TWCC_REF_TIME_MAX 0x7fffff

typedef struct hc_twcc_fb {
    uint16_t base_seq;     /* transport-wide seq of the first packet reported */
    uint16_t status_count; /* packets reported */
    int32_t ref_time;      /* signed 24-bit, units of 64 ms */
    uint8_t fb_count;      /* feedback packet count, lets the sender see lost feedback */
} hc_twcc_fb_t;

typedef struct hc_twcc_pkt {
    uint16_t seq;
    bool received;
    /* Arrival time in microseconds after ref_time * 64 ms; 0 when not
     * received. Parsed values are multiples of 250. */
    int64_t arrival_us;
} hc_twcc_pkt_t;

/*
 * Parse a transport-wide CC FCI (what follows the media SSRC; for a packet
 * from hc_rtcp_next(), pkt.u.fb.fci and fci_len). Fills *hdr, and out[0..n)
 * with one entry per reported packet, seq from base_seq upwards (wrapping).
 * out may be NULL with max 0 to validate only. Returns bytes consumed
 * (len: up to 3 trailing bytes of padding are accepted) or:
 *   -HC_EINVAL     fci, hdr or n NULL; out NULL with max > 0
 *   -HC_ETRUNC     shorter than the header, the chunks or the deltas need
 *   -HC_EMALFORMED status count 0, a reserved symbol (11), or 4 or more
 *                  bytes after the last delta
 *   -HC_ENOSPC     status count > max (nothing beyond the header is valid)
 */
int hc_twcc_parse(const uint8_t *fci, size_t len, hc_twcc_fb_t *hdr, hc_twcc_pkt_t *out, size_t max,
                  size_t *n);

/*
 * Write a transport-wide CC FCI for pkts[0..n), which must be consecutive
 * sequence numbers starting at hdr->base_seq (wrapping past 65535);
 * hdr->ref_time (within the signed 24-bit range) and hdr->fb_count are
 * written as given, hdr->status_count is ignored and derived. Arrival
 * times are rounded to the nearest 250 us tick from the reference time, so
 * rounding never accumulates across packets.
 *
 * Chunks are chosen greedily as libwebrtc does: run-length chunks for runs
 * of one symbol, one-bit vectors of 14 when no large delta is among them,
 * two-bit vectors of 7 around large or negative deltas.
 *
 * Stops early rather than fail when the next packet's delta does not fit
 * 16 bits signed, the status count would pass 65535, or the next packet
 * would not fit cap; *covered then tells how many packets (from pkts[0])
 * were written so the caller sends the rest in another feedback with
 * base_seq advanced by *covered. Returns bytes written (a multiple of 4),
 * or:
 *   -HC_EINVAL  NULL pointers, n == 0, non-consecutive seqs, ref_time out
 *               of range
 *   -HC_ERANGE  the first received packet's delta does not fit (nothing
 *               could be covered; choose a reference time nearer to it)
 *   -HC_ENOSPC  not even the first packet fits cap
 */
int hc_twcc_write(uint8_t *buf, size_t cap, const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts,
                  size_t n, size_t *covered);

/*
 * A complete RTCP RTPFB FMT 15 packet: common feedback header (RFC 4585
 * §6.1) around hc_twcc_write(). Same returns and *covered; the FCI is
 * limited so the packet length fits the RTCP length field.
 */
int hc_rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts, size_t n,
                       size_t *covered);

#endif
