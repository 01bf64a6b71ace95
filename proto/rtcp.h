/*
 * rtcp.h - RTCP compound packets: demultiplexing, parsing and writing of
 * reports, SDES, BYE and the feedback messages Hillcast uses.
 *
 * Receivers send RTCP back to senders: receiver reports (loss, jitter, RTT
 * via LSR/DLSR), NACKs that drive retransmission, PLI/FIR that ask for a
 * key frame, REMB and transport-wide CC feedback that drive the encoder's
 * rate. The relay parses every RTCP datagram it receives with the iterator
 * below and writes its own with the writers.
 *
 * Follows:
 *   RFC 3550 §6.1 (compound packets), §6.4.1 SR, §6.4.2 RR, §6.5 SDES,
 *            §6.6 BYE, Appendix A.2 (header validity checks)
 *   RFC 5761 §4 (RTP and RTCP on one port)
 *   RFC 5506 (reduced-size RTCP: feedback sent without a leading report)
 *   RFC 4585 §6.1 (common feedback format), §6.2.1 generic NACK, §6.3.1 PLI
 *   RFC 5104 §4.3.1 FIR
 *   draft-alvestrand-rmcat-remb-03 §2.2 REMB
 *   draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 (the FCI is
 *   parsed and written by twcc.h; this module frames it)
 *
 * Ownership: parsing never copies. Every pointer in hc_rtcp_pkt_t and in
 * the SDES chunk and item views points into the caller's buffer and is
 * valid as long as that buffer is. Writers copy from their arguments and
 * keep nothing.
 * Threading: pure functions; an iterator belongs to one thread at a time.
 *
 * Writing a compound packet: call the writers one after another into the
 * same buffer, advancing by what each returns (RFC 3550 §6.1 wants an SR
 * or RR first and an SDES CNAME in every full compound):
 *
 *     size_t off = 0;
 *     int n = hc_rtcp_write_rr(buf + off, cap - off, ssrc, rbs, nrb);
 *     if (n < 0) return n;
 *     off += (size_t)n;
 *     n = hc_rtcp_write_sdes_cname(buf + off, cap - off, ssrc, cname, cname_len);
 *     if (n < 0) return n;
 *     off += (size_t)n;
 *
 * hc_rtcp_append() below wraps the three lines per packet. No writer sets
 * the padding bit, so any packet may be followed by another.
 */
#ifndef HC_PROTO_RTCP_H
#define HC_PROTO_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_RTCP_VERSION    2
#define HC_RTCP_HDR_LEN    4           /* V P count | PT | length */
#define HC_RTCP_RB_LEN     24          /* one report block (§6.4.1) */
#define HC_RTCP_MAX_RB     31          /* the RC field is 5 bits */
#define HC_RTCP_MAX_SSRC   31          /* BYE SC field, 5 bits */
#define HC_RTCP_FB_HDR_LEN 12          /* common header + sender SSRC + media SSRC */
#define HC_RTCP_MAX_LEN    (4 * 65536) /* length field is 16 bits of words minus one */

/* Packet types (RFC 3550 §12.1, RFC 4585 §6.1). */
#define HC_RTCP_PT_SR    200
#define HC_RTCP_PT_RR    201
#define HC_RTCP_PT_SDES  202
#define HC_RTCP_PT_BYE   203
#define HC_RTCP_PT_APP   204
#define HC_RTCP_PT_RTPFB 205
#define HC_RTCP_PT_PSFB  206

/* Feedback message types (the FMT field in place of the count). */
#define HC_RTCP_FMT_NACK 1  /* RTPFB, RFC 4585 §6.2.1 */
#define HC_RTCP_FMT_TWCC 15 /* RTPFB, transport-wide CC draft §3.1 */
#define HC_RTCP_FMT_PLI  1  /* PSFB, RFC 4585 §6.3.1 */
#define HC_RTCP_FMT_FIR  4  /* PSFB, RFC 5104 §4.3.1 */
#define HC_RTCP_FMT_AFB  15 /* PSFB application layer feedback, RFC 4585 §6.4 */

/* SDES item types (RFC 3550 §6.5). */
#define HC_RTCP_SDES_END   0
#define HC_RTCP_SDES_CNAME 1
#define HC_RTCP_SDES_NAME  2
#define HC_RTCP_SDES_EMAIL 3
#define HC_RTCP_SDES_PHONE 4
#define HC_RTCP_SDES_LOC   5
#define HC_RTCP_SDES_TOOL  6
#define HC_RTCP_SDES_NOTE  7
#define HC_RTCP_SDES_PRIV  8

/* REMB (draft-alvestrand-rmcat-remb-03 §2.2): 6-bit exponent, 18-bit mantissa. */
#define HC_RTCP_REMB_MAX_MANTISSA 0x3FFFFu
#define HC_RTCP_REMB_MAX_SSRC     255

/* What hc_rtcp_next() recognised; the union member to read follows it. */
typedef enum hc_rtcp_kind {
    HC_RTCP_KIND_OTHER = 0, /* unknown or unhandled PT (APP, XR, ...): body only */
    HC_RTCP_KIND_SR,        /* u.report */
    HC_RTCP_KIND_RR,        /* u.report */
    HC_RTCP_KIND_SDES,      /* u.sdes, read with hc_rtcp_sdes_next() */
    HC_RTCP_KIND_BYE,       /* u.bye */
    HC_RTCP_KIND_NACK,      /* u.fb, count = FCI entries, hc_rtcp_nack_fci() */
    HC_RTCP_KIND_TWCC,      /* u.fb, fci parsed by hc_twcc_parse() */
    HC_RTCP_KIND_RTPFB,     /* u.fb, another RTPFB FMT: raw FCI */
    HC_RTCP_KIND_PLI,       /* u.fb, no FCI */
    HC_RTCP_KIND_FIR,       /* u.fb, count = entries, hc_rtcp_fir_entry() */
    HC_RTCP_KIND_REMB,      /* u.fb, count = SSRCs, u.fb.remb, hc_rtcp_remb_ssrc() */
    HC_RTCP_KIND_PSFB,      /* u.fb, another PSFB FMT or non-REMB AFB: raw FCI */
} hc_rtcp_kind_t;

/* Sender info of an SR (§6.4.1). */
typedef struct hc_rtcp_sender_info {
    uint64_t ntp;          /* NTP timestamp, 32.32 fixed point */
    uint32_t rtp_ts;       /* RTP timestamp for the same instant */
    uint32_t packet_count; /* sender's packet count */
    uint32_t octet_count;  /* sender's payload octet count */
} hc_rtcp_sender_info_t;

/* One reception report block (§6.4.1). */
typedef struct hc_rtcp_rb {
    uint32_t ssrc;            /* source this block is about */
    uint8_t fraction_lost;    /* 8-bit fixed point, binary point at the left */
    int32_t cumulative_lost;  /* signed 24-bit; writers clamp (Appendix A.3) */
    uint32_t ext_highest_seq; /* cycles << 16 | highest seq */
    uint32_t jitter;          /* interarrival jitter, timestamp units */
    uint32_t lsr;             /* middle 32 bits of the last SR's NTP time */
    uint32_t dlsr;            /* delay since last SR, 1/65536 s */
} hc_rtcp_rb_t;

/* SR and RR share one view; info is zero for an RR. */
typedef struct hc_rtcp_report {
    uint32_t ssrc;              /* sender of this report */
    hc_rtcp_sender_info_t info; /* SR only */
    uint8_t rb_count;           /* RC */
    const uint8_t *rb;          /* rb_count blocks of 24 bytes; use hc_rtcp_report_block() */
    const uint8_t *ext;         /* profile-specific extension after the blocks, or NULL */
    size_t ext_len;
} hc_rtcp_report_t;

typedef struct hc_rtcp_sdes {
    uint8_t chunk_count;   /* SC */
    const uint8_t *chunks; /* validated chunk list; walk it with hc_rtcp_sdes_next() */
    size_t len;
} hc_rtcp_sdes_t;

typedef struct hc_rtcp_bye {
    uint8_t ssrc_count;    /* SC */
    const uint8_t *ssrcs;  /* ssrc_count big-endian words; hc_rtcp_bye_ssrc() */
    const uint8_t *reason; /* reason text (not NUL-terminated), NULL when absent */
    uint8_t reason_len;
} hc_rtcp_bye_t;

/* Common feedback packet (RFC 4585 §6.1) and what its FMT made of the FCI. */
typedef struct hc_rtcp_fb {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    const uint8_t *fci; /* feedback control information, padding excluded */
    size_t fci_len;
    size_t count; /* NACK: PID/BLP pairs; FIR: entries; REMB: SSRCs; else 0 */
    struct {
        uint8_t exp;       /* 6 bits */
        uint32_t mantissa; /* 18 bits */
        uint64_t bitrate;  /* mantissa << exp in bps, UINT64_MAX when that overflows */
    } remb;                /* HC_RTCP_KIND_REMB only */
} hc_rtcp_fb_t;

/* One packet of a compound, as hc_rtcp_next() returns it. */
typedef struct hc_rtcp_pkt {
    uint8_t type;        /* PT, 0..255 */
    uint8_t count;       /* the 5-bit RC / SC / FMT field */
    hc_rtcp_kind_t kind; /* which union member is valid */
    const uint8_t *data; /* the whole packet: header, body and padding */
    size_t len;          /* 4 * (length field + 1) */
    const uint8_t *body; /* after the 4-byte header, padding removed */
    size_t body_len;
    size_t padding_len; /* padding octets including the count octet; 0 if P was clear */
    union {
        hc_rtcp_report_t report; /* SR, RR */
        hc_rtcp_sdes_t sdes;
        hc_rtcp_bye_t bye;
        hc_rtcp_fb_t fb; /* NACK, TWCC, RTPFB, PLI, FIR, REMB, PSFB */
    } u;
} hc_rtcp_pkt_t;

/* Iterator over a compound packet. Fields are private. */
typedef struct hc_rtcp_iter {
    const uint8_t *buf;
    size_t len;
    size_t off;
    int err; /* sticky error, 0 while good */
} hc_rtcp_iter_t;

/*
 * RFC 5761 §4: true when a datagram on the shared RTP/RTCP port is RTCP.
 * The second octet of RTCP is its packet type, 192..223 for every type that
 * may appear first (SR 200, RR 201, feedback 205/206); in RTP the same
 * octet is M|PT, and RFC 5761 §4 forbids RTP payload types 64..95 on a
 * muxed port precisely so that M|PT never lands in 192..223. Also requires
 * version 2 and at least 8 octets (header plus sender SSRC).
 */
bool hc_rtcp_is_rtcp(const uint8_t *buf, size_t len);

/* Start iterating over the compound packet buf[0..len). Keeps buf. */
void hc_rtcp_iter_init(hc_rtcp_iter_t *it, const uint8_t *buf, size_t len);

/*
 * Next packet of the compound. Returns 1 and fills *out, 0 at the end, or
 * a negative error, after which the iterator is finished and keeps
 * returning that error (RFC 3550 A.2: an invalid compound is dropped as a
 * whole). Checks, for every packet:
 *   -HC_ETRUNC     fewer than 4 bytes left; the length field points past the
 *                  end; an empty buffer (a compound holds at least one
 *                  packet); the body is shorter than its counts say
 *   -HC_EVERSION   version is not 2
 *   -HC_EMALFORMED P set on a packet that is not the last one (§6.4.1 allows
 *                  padding only on the last); a padding count of 0 or larger
 *                  than the body; a body that violates its type's format
 *                  (SDES chunk without its null item, PLI with an FCI, NACK
 *                  or FIR without entries, REMB longer than its SSRC count)
 *   -HC_EINVAL     it or out NULL
 * Known types are validated completely, so the accessors below cannot fail
 * on a packet that hc_rtcp_next() returned (bar wrong index or kind). The
 * transport-wide CC FCI is left to hc_twcc_parse(). Unknown types are
 * returned with kind HC_RTCP_KIND_OTHER and their raw body, not as an error
 * (§6.1: receivers ignore types they do not know).
 */
int hc_rtcp_next(hc_rtcp_iter_t *it, hc_rtcp_pkt_t *out);

/*
 * Header validity check of RFC 3550 Appendix A.2 over a whole datagram,
 * relaxed for reduced-size RTCP (RFC 5506). Returns the number of packets
 * (>= 1) or the first error of hc_rtcp_next(), or -HC_EMALFORMED when:
 *   - the first packet is not SR or RR and no packet is RTPFB or PSFB.
 * A.2 asks for SR/RR first; RFC 5506 lets an AVPF receiver send feedback
 * (NACK, PLI, TWCC, ...) alone to keep it small and fast, which browsers
 * and Hillcast's own receivers do. We accept a datagram that starts with a
 * report (full compound) or that carries at least one feedback packet
 * (reduced-size); a lone SDES, BYE or APP is still rejected, which keeps
 * most of A.2's protection against misrouted non-RTCP datagrams. The
 * remaining A.2 checks (version 2 everywhere, padding only on the last
 * packet, lengths adding up to the datagram) are those of hc_rtcp_next().
 */
int hc_rtcp_validate_compound(const uint8_t *buf, size_t len);

/* Report block i (0 <= i < rb_count) of an SR or RR. 0 or -HC_EINVAL. */
int hc_rtcp_report_block(const hc_rtcp_pkt_t *pkt, size_t i, hc_rtcp_rb_t *out);

/* SSRC i of a BYE. 0 or -HC_EINVAL. */
int hc_rtcp_bye_ssrc(const hc_rtcp_pkt_t *pkt, size_t i, uint32_t *ssrc);

/* SDES (§6.5): a chunk is an SSRC/CSRC and its items. */
typedef struct hc_rtcp_sdes_item {
    uint8_t type;        /* HC_RTCP_SDES_* */
    uint8_t len;         /* text octets */
    const uint8_t *text; /* UTF-8, not NUL-terminated; borrowed */
} hc_rtcp_sdes_item_t;

typedef struct hc_rtcp_sdes_chunk {
    uint32_t ssrc;
    const uint8_t *items; /* the item list up to (not including) the null item */
    size_t items_len;
    const uint8_t *cname; /* text of the first CNAME item, NULL when none */
    uint8_t cname_len;
} hc_rtcp_sdes_chunk_t;

typedef struct hc_rtcp_sdes_iter {
    const uint8_t *p;
    size_t len;
    size_t off;
    unsigned left;
} hc_rtcp_sdes_iter_t;

/* Start walking the chunks of an SDES packet (kind HC_RTCP_KIND_SDES). */
void hc_rtcp_sdes_iter_init(hc_rtcp_sdes_iter_t *it, const hc_rtcp_pkt_t *pkt);

/* Next chunk: 1 and *out, 0 at the end, -HC_ETRUNC/-HC_EMALFORMED/-HC_EINVAL. */
int hc_rtcp_sdes_next(hc_rtcp_sdes_iter_t *it, hc_rtcp_sdes_chunk_t *out);

/* Next item of a chunk; *off starts at 0. 1 and *out, 0 at the end, or error. */
int hc_rtcp_sdes_item_next(const hc_rtcp_sdes_chunk_t *chunk, size_t *off,
                           hc_rtcp_sdes_item_t *out);

/* Feedback accessors (rtcp_fb.c). All return 0 or -HC_EINVAL (wrong kind or index). */

/* Generic NACK FCI i (RFC 4585 §6.2.1): PID lost, and bit k of blp set means
 * PID + k + 1 lost as well. */
int hc_rtcp_nack_fci(const hc_rtcp_pkt_t *pkt, size_t i, uint16_t *pid, uint16_t *blp);

/*
 * Expand every FCI of a NACK into lost sequence numbers, in FCI order (PID
 * first, then the BLP bits from the least significant). Returns how many
 * were written, -HC_ENOSPC when more than max, -HC_EINVAL. Duplicates
 * across FCIs are reported as sent. At most 17 per FCI.
 */
int hc_rtcp_nack_lost(const hc_rtcp_pkt_t *pkt, uint16_t *out, size_t max);

/* FIR entry (RFC 5104 §4.3.1.1): SSRC asked for a decoder refresh and the
 * command sequence number that lets the sender drop repeats. */
typedef struct hc_rtcp_fir {
    uint32_t ssrc;
    uint8_t seq;
} hc_rtcp_fir_t;

int hc_rtcp_fir_entry(const hc_rtcp_pkt_t *pkt, size_t i, hc_rtcp_fir_t *out);

/* SSRC i that a REMB applies to. */
int hc_rtcp_remb_ssrc(const hc_rtcp_pkt_t *pkt, size_t i, uint32_t *ssrc);

/*
 * Writers. Each writes one complete RTCP packet (V=2, P=0, length set) into
 * buf and returns bytes written (a multiple of 4), or:
 *   -HC_EINVAL  NULL pointers where data is needed, counts out of range
 *   -HC_ENOSPC  cap too small (nothing useful is left in buf)
 */

/* SR with n report blocks (n <= 31). rb may be NULL when n is 0. */
int hc_rtcp_write_sr(uint8_t *buf, size_t cap, uint32_t ssrc, const hc_rtcp_sender_info_t *info,
                     const hc_rtcp_rb_t *rb, size_t n);

/* RR with n report blocks (n <= 31); n = 0 is the "empty RR" of §6.1. */
int hc_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t ssrc, const hc_rtcp_rb_t *rb, size_t n);

/* SDES with one chunk holding one CNAME item (len <= 255). */
int hc_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                             size_t len);

/* BYE for n SSRCs (1..31) with an optional reason (NULL for none, len <= 255). */
int hc_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, size_t n, const char *reason,
                      size_t reason_len);

/*
 * Generic NACK for n >= 1 lost sequence numbers, in any order, duplicates
 * allowed. They are ordered by RFC 3550 modular arithmetic relative to
 * lost[0] (so a list that crosses 65535 -> 0 is ordered across the wrap;
 * the list must span less than 32768, which a NACK list always does) and
 * packed greedily into PID/BLP pairs, oldest first.
 */
int hc_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       const uint16_t *lost, size_t n);

/* PLI (RFC 4585 §6.3.1): no FCI. */
int hc_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);

/* FIR with n >= 1 entries; media SSRC is written as 0 (RFC 5104 §4.3.1.2). */
int hc_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, const hc_rtcp_fir_t *e,
                      size_t n);

/*
 * REMB for n SSRCs (0..255). The bitrate is encoded with the smallest
 * exponent whose mantissa fits 18 bits, truncating the low bits, so the
 * value on the wire is never above bitrate_bps.
 */
int hc_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate_bps,
                       const uint32_t *ssrcs, size_t n);

/* Split a REMB bitrate into exponent and mantissa as hc_rtcp_write_remb() does. */
void hc_rtcp_remb_encode(uint64_t bitrate_bps, uint8_t *exp, uint32_t *mantissa);

/* mantissa << exp, saturating at UINT64_MAX. */
uint64_t hc_rtcp_remb_decode(uint8_t exp, uint32_t mantissa);

/*
 * Compound helper: when written >= 0, advance *off by it and return 0;
 * otherwise return written (the writer's error) and leave *off alone.
 *     if ((rc = hc_rtcp_append(&off, hc_rtcp_write_pli(buf + off, cap - off, a, b))) < 0) ...
 */
static inline int hc_rtcp_append(size_t *off, int written)
{
    if (written < 0) return written;
    *off += (size_t)written;
    return 0;
}

/* Shared between rtcp.c and rtcp_fb.c; not for callers. Fills pkt->u.fb
 * and pkt->kind for PT 205/206 from pkt->body. */
int hc_rtcp_parse_fb_(hc_rtcp_pkt_t *pkt);

#endif
