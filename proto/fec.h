/*
 * fec.h - FlexFEC (RFC 8627): XOR parity over groups of consecutive RTP
 * packets of one stream, so a receiver repairs a single loss per group
 * without waiting a round trip for NACK/RTX. Hillcast switches it on when
 * measured loss is high and RTT makes retransmission too slow.
 *
 * What is implemented of RFC 8627:
 * - the repair packet format of section 4.2: RTP header whose CSRC list
 *   names the protected SSRC (4.1), then the FEC header with R=0, F=0 and
 *   a flexible mask (4.2.2.1: SN base, mask chunks of 15, 31 and 64 bits
 *   separated by k-bits, k=1 marking the last chunk), then the repair
 *   payload;
 * - one protected SSRC per repair packet; R=1 (retransmission) and F=1
 *   (fixed L/D offsets) packets are parsed as -HC_EUNSUPPORTED;
 * - parity as in section 6.2: over the first 8 octets of each source
 *   packet's header except the sequence number (V/P/X/CC/M/PT, timestamp),
 *   its length minus 12, and every octet after the fixed 12-byte header
 *   (CSRCs, extension, payload, padding), shorter packets zero-padded;
 * - recovery as in section 6.3.2, including the length recovery.
 *
 * The sender protects `group` consecutive sequence numbers with one repair
 * packet: RFC 8627's 1-D non-interleaved (row) protection with L = group.
 * In gap mode (hc_fec_enc_allow_gaps(), the relay toward a subscriber) a
 * group is the next `group` packets sent whose numbers fit one flexible
 * mask: a hole its publisher's loss left does not end the group, and a
 * late packet (repaired upstream after its successors went out) joins it
 * when it fits, moving the SN base back if need be.
 *
 * Limits: source packets up to HC_FEC_MAX_PKT bytes; groups up to
 * HC_FEC_MAX_GROUP packets (the largest flexible mask). A repair packet is
 * 16 to 28 bytes longer than the longest packet of its group (its RTP
 * header carries a CSRC and is followed by the FEC header), plus SRTP's
 * tag: packetize media so that the repair packets still fit the MTU.
 *
 * Ownership: hc_fec_parse() results borrow from the input buffer. Encoder
 * and decoder are caller storage; the decoder works in slot arrays the
 * caller provides at init and keeps no other memory. Nothing allocates.
 * Threading: an encoder or decoder is used by one thread at a time.
 */
#ifndef HC_PROTO_FEC_H
#define HC_PROTO_FEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_FEC_MAX_PKT    1500 /* largest source RTP packet handled */
#define HC_FEC_MAX_GROUP  110  /* 15 + 31 + 64 mask bits */
#define HC_FEC_HDR_MAX    24   /* FEC header with all three mask chunks */
#define HC_FEC_MAX_REPAIR (HC_FEC_MAX_PKT - 12)
/* Largest repair RTP packet the encoder writes: RTP header with one CSRC,
 * FEC header, repair payload. */
#define HC_FEC_MAX_FEC_PKT (16 + HC_FEC_HDR_MAX + HC_FEC_MAX_REPAIR)

/* The FEC header (RFC 8627 section 4.2.2.1), R=0 F=0, one SSRC. */
typedef struct hc_fec_hdr {
    uint8_t p, x, cc, m, pt; /* recovery fields: XOR over the group */
    uint16_t len_rec;        /* length recovery */
    uint32_t ts_rec;         /* TS recovery */
    uint16_t sn_base;
    uint8_t mask_bits;     /* 15, 46 or 110: mask chunks on the wire */
    uint8_t mask[14];      /* bit i, MSB first: SN base + i is protected */
    const uint8_t *repair; /* repair payload; borrowed from the input */
    size_t repair_len;
} hc_fec_hdr_t;

static inline int hc_fec_mask_get(const hc_fec_hdr_t *h, unsigned i)
{
    return i < h->mask_bits && (h->mask[i >> 3] >> (7 - (i & 7))) & 1;
}

static inline void hc_fec_mask_set(hc_fec_hdr_t *h, unsigned i)
{
    h->mask[i >> 3] |= (uint8_t)(0x80 >> (i & 7));
}

/*
 * Parse the FEC header at the start of a repair packet's RTP payload; the
 * rest is the repair payload. Returns the header length (12, 16 or 24),
 * or -HC_ETRUNC, -HC_EUNSUPPORTED (R or F set), -HC_EMALFORMED (empty mask).
 */
int hc_fec_parse(const uint8_t *payload, size_t len, hc_fec_hdr_t *out);

/*
 * Write the FEC header and h->repair_len bytes of h->repair into buf.
 * Returns bytes written, -HC_ENOSPC, or -HC_EINVAL (field out of range,
 * mask_bits not 15/46/110, mask bits set beyond mask_bits, empty mask).
 */
int hc_fec_write(const hc_fec_hdr_t *h, uint8_t *buf, size_t cap);

/* RTP header fields of the repair stream itself (RFC 8627 section 4.1). */
typedef struct hc_fec_rtp {
    uint32_t ssrc; /* the FEC stream's own SSRC */
    uint16_t seq;  /* its own sequence, +1 per repair packet */
    uint32_t ts;   /* its own timestamp (sending time) */
    uint8_t pt;    /* dynamic payload type of "flexfec" */
} hc_fec_rtp_t;

typedef struct hc_fec_enc {
    uint32_t ssrc;                     /* protected SSRC */
    unsigned group;                    /* source packets per repair packet */
    unsigned count;                    /* packets in the current group */
    bool gaps;                         /* gap mode (see above) */
    uint16_t sn_base, last;            /* lowest and highest sequence number in the group */
    uint8_t mask[14];                  /* as hc_fec_hdr_t.mask, relative to sn_base */
    uint8_t b0, b1;                    /* XOR of P/X/CC and M/PT octets */
    uint16_t len_rec;                  /* XOR of (length - 12) */
    uint32_t ts_rec;                   /* XOR of timestamps */
    size_t repair_len;                 /* longest (length - 12) in the group */
    uint64_t groups_abandoned;         /* unfinished groups cut by a sequence gap */
    uint8_t repair[HC_FEC_MAX_REPAIR]; /* last: touched only as far as packets reach */
} hc_fec_enc_t;

/* Start an encoder for protected_ssrc; group is 1..HC_FEC_MAX_GROUP.
 * Writes the fields before `repair` only (a relay keeps one encoder per
 * subscriber track, most of them idle). Returns 0 or -HC_EINVAL. */
int hc_fec_enc_init(hc_fec_enc_t *e, uint32_t protected_ssrc, unsigned group);

/* Gap mode on or off (off after init); starts a new group. */
void hc_fec_enc_allow_gaps(hc_fec_enc_t *e, bool on);

/*
 * Feed one plain source RTP packet (before SRTP), in sending order.
 * Returns 1 when it completed a group (call hc_fec_enc_write() now), 0
 * otherwise, or a negative error with nothing changed: -HC_EINVAL (other
 * SSRC), -HC_ERANGE (longer than HC_FEC_MAX_PKT), -HC_ETRUNC/-HC_EVERSION/
 * -HC_EMALFORMED (not a valid RTP packet).
 * A sequence number that does not follow the previous packet abandons the
 * unfinished group (counted in groups_abandoned) and starts a new one; a
 * completed group that was not written is dropped by the next packet.
 * In gap mode only a number too far on for the group's mask starts a new
 * group (counted too); one already in the group, or too old for its mask,
 * is not added (0).
 */
int hc_fec_enc_add(hc_fec_enc_t *e, const uint8_t *rtp, size_t len);

/*
 * Write the repair packet of the completed group: RTP header from fec_hdr
 * with the protected SSRC as its one CSRC, FEC header, repair payload.
 * Returns its length (at most HC_FEC_MAX_FEC_PKT), -HC_EAGAIN when no group
 * is complete, -HC_ENOSPC (the group stays, retry with a larger buffer).
 */
int hc_fec_enc_write(hc_fec_enc_t *e, const hc_fec_rtp_t *fec_hdr, uint8_t *buf, size_t cap);

/* A received (or recovered) source packet, stored by sequence number. */
typedef struct hc_fec_src_slot {
    uint16_t seq;
    uint16_t len; /* 0: empty */
    uint8_t data[HC_FEC_MAX_PKT];
} hc_fec_src_slot_t;

/* A held repair packet. */
typedef struct hc_fec_fec_slot {
    hc_fec_hdr_t hdr; /* hdr.repair points into repair[] below */
    uint8_t used;
    uint8_t repair[HC_FEC_MAX_REPAIR];
} hc_fec_fec_slot_t;

typedef struct hc_fec_dec {
    uint32_t ssrc; /* protected SSRC */
    hc_fec_src_slot_t *src;
    unsigned nsrc; /* power of two; source packets remembered */
    hc_fec_fec_slot_t *fec;
    unsigned nfec;   /* repair packets held */
    uint16_t newest; /* highest source sequence seen */
    uint8_t have_newest;
    uint64_t recovered;   /* packets rebuilt */
    uint64_t fec_dropped; /* repair packets dropped: stale, evicted, or inconsistent */
} hc_fec_dec_t;

/*
 * Start a decoder. src: nsrc slots (a power of two, at least the group size;
 * twice the group or more lets reordered packets still count), fec: nfec
 * slots (>= 1). About 1.5 KB per slot; e.g. 64 + 4 slots = 103 KB.
 * Returns 0 or -HC_EINVAL.
 */
int hc_fec_dec_init(hc_fec_dec_t *d, uint32_t protected_ssrc, hc_fec_src_slot_t *src, unsigned nsrc,
                    hc_fec_fec_slot_t *fec, unsigned nfec);

/* Remember a received plain source packet. 0, or -HC_EINVAL (other SSRC),
 * -HC_ERANGE (too long), -HC_ETRUNC/-HC_EVERSION/-HC_EMALFORMED. */
int hc_fec_dec_add_source(hc_fec_dec_t *d, const uint8_t *rtp, size_t len);

/*
 * Hold a received repair RTP packet (plain, after SRTP). 0, or -HC_EINVAL
 * (not for the protected SSRC), -HC_EUNSUPPORTED (several protected SSRCs,
 * R or F set), -HC_ERANGE (repair payload longer than HC_FEC_MAX_REPAIR),
 * -HC_ETRUNC/-HC_EVERSION/-HC_EMALFORMED. When all slots are used, the
 * repair packet of the oldest group is dropped.
 */
int hc_fec_dec_add_fec(hc_fec_dec_t *d, const uint8_t *rtp, size_t len);

/*
 * Rebuild one lost source packet into out: when some held repair packet
 * has exactly one of its protected packets missing. The packet is also
 * remembered as received. Call again until it returns 0. Call it when a
 * gap is noticed (or before giving up on a packet): a packet that is only
 * late is rebuilt as well, and its original then arrives as a duplicate.
 * Returns the packet length, 0 when nothing can be recovered now, or
 * -HC_ENOSPC (out too small; nothing is lost, retry with a larger buffer).
 * Repair packets whose group is complete, too old to be completed, or that
 * contradict the received packets are dropped on the way.
 */
int hc_fec_dec_recover(hc_fec_dec_t *d, uint8_t *out, size_t cap);

#endif
