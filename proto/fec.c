/*
 * fec.c - FlexFEC (RFC 8627) encoder, decoder and FEC header; see fec.h.
 */
#include "proto/fec.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#define RTP_FIXED_LEN 12
#define FEC_MASK_OFF  10 /* SN base ends at octet 10 of the FEC header */

/*
 * Check a plain RTP packet (RFC 3550 section 5.1): version 2, CSRC list and
 * header extension (5.3.1) inside the packet, padding count no larger than
 * what follows the header. Returns the header length; *end, when given,
 * receives the length without padding.
 */
static int rtp_check(const uint8_t *b, size_t len, size_t *end)
{
    if (len < RTP_FIXED_LEN) return -HC_ETRUNC;
    if ((b[0] >> 6) != 2) return -HC_EVERSION;
    size_t hl = RTP_FIXED_LEN + 4u * (b[0] & 0x0f);
    if (len < hl) return -HC_ETRUNC;
    if (b[0] & 0x10) {
        if (len - hl < 4) return -HC_ETRUNC;
        hl += 4 + 4u * hc_rd16(b + hl + 2);
        if (len < hl) return -HC_ETRUNC;
    }
    size_t e = len;
    if (b[0] & 0x20) {
        uint8_t pad = b[len - 1];
        if (pad == 0 || pad > len - hl) return -HC_EMALFORMED;
        e = len - pad;
    }
    if (end) *end = e;
    return (int)hl;
}

/* ---- FEC header (RFC 8627 section 4.2.2.1, R=0 F=0) ---- */

static size_t hdr_len_for_bits(unsigned bits)
{
    switch (bits) {
    case 15: return 12;
    case 46: return 16;
    case 110: return 24;
    }
    return 0;
}

/* Bit position of mask bit i counted from the first mask octet: chunk 0
 * is k + 15 bits, chunk 1 is k + 31 bits, chunk 2 is 64 bits, no k. */
static unsigned wire_pos(unsigned i)
{
    if (i < 15) return 1 + i;
    if (i < 46) return 17 + (i - 15);
    return 48 + (i - 46);
}

int hc_fec_parse(const uint8_t *payload, size_t len, hc_fec_hdr_t *out)
{
    if (!out || (!payload && len)) return -HC_EINVAL;
    if (len < 12) return -HC_ETRUNC;
    /* R=1 is the retransmission format, F=1 fixed L/D offsets: the other
     * variants of section 4.2.2, which we do not send. */
    if (payload[0] & 0xc0) return -HC_EUNSUPPORTED;
    unsigned bits = 15;
    if (!(payload[FEC_MASK_OFF] & 0x80)) {
        if (len < 16) return -HC_ETRUNC;
        bits = 46;
        if (!(payload[FEC_MASK_OFF + 2] & 0x80)) {
            if (len < 24) return -HC_ETRUNC;
            bits = 110;
        }
    }
    size_t hl = hdr_len_for_bits(bits);
    memset(out, 0, sizeof *out);
    out->p = (payload[0] >> 5) & 1;
    out->x = (payload[0] >> 4) & 1;
    out->cc = payload[0] & 0x0f;
    out->m = payload[1] >> 7;
    out->pt = payload[1] & 0x7f;
    out->len_rec = hc_rd16(payload + 2);
    out->ts_rec = hc_rd32(payload + 4);
    out->sn_base = hc_rd16(payload + 8);
    out->mask_bits = (uint8_t)bits;
    int any = 0;
    for (unsigned i = 0; i < bits; i++) {
        unsigned pos = wire_pos(i);
        if (payload[FEC_MASK_OFF + pos / 8] & (0x80 >> (pos % 8))) {
            hc_fec_mask_set(out, i);
            any = 1;
        }
    }
    if (!any) return -HC_EMALFORMED; /* protects nothing */
    out->repair = payload + hl;
    out->repair_len = len - hl;
    return (int)hl;
}

int hc_fec_write(const hc_fec_hdr_t *h, uint8_t *buf, size_t cap)
{
    if (!h || !buf) return -HC_EINVAL;
    if (h->p > 1 || h->x > 1 || h->m > 1 || h->cc > 15 || h->pt > 127) return -HC_EINVAL;
    size_t hl = hdr_len_for_bits(h->mask_bits);
    if (hl == 0) return -HC_EINVAL;
    int any = 0;
    for (unsigned i = 0; i < 8 * sizeof h->mask; i++) {
        int set = (h->mask[i >> 3] >> (7 - (i & 7))) & 1;
        if (set && i >= h->mask_bits) return -HC_EINVAL;
        any |= set;
    }
    if (!any) return -HC_EINVAL;
    if (h->repair_len && !h->repair) return -HC_EINVAL;
    if (h->repair_len > (size_t)INT_MAX - HC_FEC_HDR_MAX) return -HC_EINVAL;
    if (cap < hl || cap - hl < h->repair_len) return -HC_ENOSPC;

    buf[0] = (uint8_t)(h->p << 5 | h->x << 4 | h->cc); /* R=0, F=0 */
    buf[1] = (uint8_t)(h->m << 7 | h->pt);
    hc_wr16(buf + 2, h->len_rec);
    hc_wr32(buf + 4, h->ts_rec);
    hc_wr16(buf + 8, h->sn_base);
    memset(buf + FEC_MASK_OFF, 0, hl - FEC_MASK_OFF);
    for (unsigned i = 0; i < h->mask_bits; i++) {
        if (hc_fec_mask_get(h, i)) {
            unsigned pos = wire_pos(i);
            buf[FEC_MASK_OFF + pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
        }
    }
    /* k=1 marks the last chunk. */
    if (h->mask_bits == 15)
        buf[FEC_MASK_OFF] |= 0x80;
    else if (h->mask_bits == 46)
        buf[FEC_MASK_OFF + 2] |= 0x80;
    if (h->repair_len) memcpy(buf + hl, h->repair, h->repair_len);
    return (int)(hl + h->repair_len);
}

/* ---- Encoder (RFC 8627 section 6.2) ---- */

static void enc_reset(hc_fec_enc_t *e)
{
    /* the repair bytes are zeroed as far as the next group reaches */
    e->repair_len = 0;
    e->count = 0;
    e->sn_base = e->last = 0;
    memset(e->mask, 0, sizeof e->mask);
    e->b0 = e->b1 = 0;
    e->len_rec = 0;
    e->ts_rec = 0;
}

int hc_fec_enc_init(hc_fec_enc_t *e, uint32_t protected_ssrc, unsigned group)
{
    if (!e || group == 0 || group > HC_FEC_MAX_GROUP) return -HC_EINVAL;
    memset(e, 0, offsetof(hc_fec_enc_t, repair));
    e->ssrc = protected_ssrc;
    e->group = group;
    return 0;
}

void hc_fec_enc_allow_gaps(hc_fec_enc_t *e, bool on)
{
    if (!e) return;
    e->gaps = on;
    enc_reset(e);
}

static bool emask_has(const uint8_t *m, unsigned i)
{
    return (m[i >> 3] >> (7 - (i & 7))) & 1;
}

static void emask_set(uint8_t *m, unsigned i)
{
    m[i >> 3] |= (uint8_t)(0x80u >> (i & 7));
}

/* The group's SN base moves d numbers back: every bit d places on. */
static void emask_shift(hc_fec_enc_t *e, unsigned d)
{
    uint8_t m[sizeof e->mask] = {0};
    for (unsigned i = 0; i + d < HC_FEC_MAX_GROUP; i++)
        if (emask_has(e->mask, i)) emask_set(m, i + d);
    memcpy(e->mask, m, sizeof m);
}

/* Where seq goes in the current group: 1 added there (the base moved back
 * when it had to), 0 not to be added, -1 a new group is needed. */
static int enc_place(hc_fec_enc_t *e, uint16_t seq)
{
    if (!e->gaps) return seq == (uint16_t)(e->sn_base + e->count) ? 1 : -1;
    if ((int16_t)(seq - e->sn_base) < 0) {
        if ((uint16_t)(e->last - seq) >= HC_FEC_MAX_GROUP) return 0; /* too old */
        emask_shift(e, (uint16_t)(e->sn_base - seq));
        e->sn_base = seq;
        return 1;
    }
    if ((uint16_t)(seq - e->sn_base) >= HC_FEC_MAX_GROUP) return -1;
    return emask_has(e->mask, (uint16_t)(seq - e->sn_base)) ? 0 : 1;
}

int hc_fec_enc_add(hc_fec_enc_t *e, const uint8_t *rtp, size_t len)
{
    if (!e || !rtp || e->group == 0) return -HC_EINVAL;
    int rc = rtp_check(rtp, len, NULL);
    if (rc < 0) return rc;
    if (hc_rd32(rtp + 8) != e->ssrc) return -HC_EINVAL;
    if (len > HC_FEC_MAX_PKT) return -HC_ERANGE;

    uint16_t seq = hc_rd16(rtp + 2);
    if (e->count == e->group) enc_reset(e); /* completed but never written */
    if (e->count > 0) {
        int at = enc_place(e, seq);
        if (at == 0) return 0;
        if (at < 0) {
            e->groups_abandoned++;
            enc_reset(e);
        }
    }
    if (e->count == 0) e->sn_base = e->last = seq;
    if ((int16_t)(seq - e->last) > 0) e->last = seq;
    emask_set(e->mask, (uint16_t)(seq - e->sn_base));

    /* The bit string of section 6.2: octets 0-1 without the version, the
     * timestamp, the length minus 12, then everything after octet 12. */
    size_t n = len - RTP_FIXED_LEN;
    e->b0 ^= rtp[0] & 0x3f;
    e->b1 ^= rtp[1];
    e->ts_rec ^= hc_rd32(rtp + 4);
    e->len_rec ^= (uint16_t)n;
    if (n > e->repair_len) {
        memset(e->repair + e->repair_len, 0, n - e->repair_len);
        e->repair_len = n;
    }
    for (size_t i = 0; i < n; i++) e->repair[i] ^= rtp[RTP_FIXED_LEN + i];
    e->count++;
    return e->count == e->group;
}

/* Mask bits on the wire for a group spanning `span` numbers. */
static unsigned mask_bits_for(unsigned span)
{
    return span <= 15 ? 15 : span <= 46 ? 46 : 110;
}

int hc_fec_enc_write(hc_fec_enc_t *e, const hc_fec_rtp_t *fec_hdr, uint8_t *buf, size_t cap)
{
    if (!e || !fec_hdr || !buf || fec_hdr->pt > 127) return -HC_EINVAL;
    if (e->group == 0 || e->count != e->group) return -HC_EAGAIN;

    hc_fec_hdr_t h;
    memset(&h, 0, sizeof h);
    h.p = (e->b0 >> 5) & 1;
    h.x = (e->b0 >> 4) & 1;
    h.cc = e->b0 & 0x0f;
    h.m = e->b1 >> 7;
    h.pt = e->b1 & 0x7f;
    h.len_rec = e->len_rec;
    h.ts_rec = e->ts_rec;
    h.sn_base = e->sn_base;
    h.mask_bits = (uint8_t)mask_bits_for((uint16_t)(e->last - e->sn_base) + 1u);
    memcpy(h.mask, e->mask, sizeof h.mask);
    h.repair = e->repair;
    h.repair_len = e->repair_len;

    /* RTP header of the repair packet (4.1): V=2, no padding, no
     * extension, M=0, one CSRC naming the protected SSRC. */
    const size_t rtp_len = RTP_FIXED_LEN + 4;
    if (cap < rtp_len) return -HC_ENOSPC;
    int n = hc_fec_write(&h, buf + rtp_len, cap - rtp_len);
    if (n < 0) return n;
    buf[0] = 0x80 | 1;
    buf[1] = fec_hdr->pt;
    hc_wr16(buf + 2, fec_hdr->seq);
    hc_wr32(buf + 4, fec_hdr->ts);
    hc_wr32(buf + 8, fec_hdr->ssrc);
    hc_wr32(buf + 12, e->ssrc);
    enc_reset(e);
    return (int)rtp_len + n;
}

/* ---- Decoder (RFC 8627 section 6.3) ---- */

int hc_fec_dec_init(hc_fec_dec_t *d, uint32_t protected_ssrc, hc_fec_src_slot_t *src, unsigned nsrc,
                    hc_fec_fec_slot_t *fec, unsigned nfec)
{
    if (!d || !src || !fec || nfec == 0) return -HC_EINVAL;
    if (nsrc == 0 || nsrc > 32768 || (nsrc & (nsrc - 1)) != 0) return -HC_EINVAL;
    memset(d, 0, sizeof *d);
    d->ssrc = protected_ssrc;
    d->src = src;
    d->nsrc = nsrc;
    d->fec = fec;
    d->nfec = nfec;
    for (unsigned i = 0; i < nsrc; i++) src[i].len = 0;
    for (unsigned i = 0; i < nfec; i++) fec[i].used = 0;
    return 0;
}

/* A stored source packet, if it is still inside the window of the last
 * nsrc sequence numbers. */
static const hc_fec_src_slot_t *src_find(const hc_fec_dec_t *d, uint16_t seq)
{
    const hc_fec_src_slot_t *s = &d->src[seq & (d->nsrc - 1)];
    if (!s->len || s->seq != seq || !d->have_newest) return NULL;
    if ((uint16_t)(d->newest - seq) >= d->nsrc) return NULL;
    return s;
}

static void src_store(hc_fec_dec_t *d, const uint8_t *rtp, size_t len)
{
    uint16_t seq = hc_rd16(rtp + 2);
    hc_fec_src_slot_t *s = &d->src[seq & (d->nsrc - 1)];
    memcpy(s->data, rtp, len);
    s->len = (uint16_t)len;
    s->seq = seq;
    /* Newer, or so far from the window that the stream must have jumped
     * (a restart or a sender-side renumbering): follow it. */
    if (!d->have_newest || (int16_t)(seq - d->newest) > 0 ||
        (uint16_t)(d->newest - seq) >= d->nsrc) {
        d->newest = seq;
        d->have_newest = 1;
    }
}

int hc_fec_dec_add_source(hc_fec_dec_t *d, const uint8_t *rtp, size_t len)
{
    if (!d || !rtp || !d->src) return -HC_EINVAL;
    int rc = rtp_check(rtp, len, NULL);
    if (rc < 0) return rc;
    if (hc_rd32(rtp + 8) != d->ssrc) return -HC_EINVAL;
    if (len > HC_FEC_MAX_PKT) return -HC_ERANGE;
    src_store(d, rtp, len);
    return 0;
}

/* How far behind the newest source packet a held repair packet's group
 * starts; negative when it is ahead (sent before its group finished
 * arriving here). */
static int fec_age(const hc_fec_dec_t *d, const hc_fec_fec_slot_t *f)
{
    if (!d->have_newest) return 0;
    return (int16_t)(d->newest - f->hdr.sn_base);
}

int hc_fec_dec_add_fec(hc_fec_dec_t *d, const uint8_t *rtp, size_t len)
{
    if (!d || !rtp || !d->fec) return -HC_EINVAL;
    size_t end = 0;
    int hl = rtp_check(rtp, len, &end);
    if (hl < 0) return hl;
    /* The CSRC list names the protected SSRCs (4.1); we handle one. */
    unsigned cc = rtp[0] & 0x0f;
    if (cc == 0) return -HC_EMALFORMED;
    if (cc > 1) return -HC_EUNSUPPORTED;
    if (hc_rd32(rtp + RTP_FIXED_LEN) != d->ssrc) return -HC_EINVAL;
    hc_fec_hdr_t h;
    int n = hc_fec_parse(rtp + hl, end - (size_t)hl, &h);
    if (n < 0) return n;
    if (h.repair_len > HC_FEC_MAX_REPAIR) return -HC_ERANGE;

    hc_fec_fec_slot_t *slot = NULL;
    for (unsigned i = 0; i < d->nfec && !slot; i++)
        if (!d->fec[i].used) slot = &d->fec[i];
    if (!slot) { /* all held: give up the oldest group */
        slot = &d->fec[0];
        for (unsigned i = 1; i < d->nfec; i++)
            if (fec_age(d, &d->fec[i]) > fec_age(d, slot)) slot = &d->fec[i];
        d->fec_dropped++;
    }
    slot->hdr = h;
    memcpy(slot->repair, h.repair, h.repair_len);
    slot->hdr.repair = slot->repair;
    slot->used = 1;
    return 0;
}

/* Section 6.3.2: XOR the repair packet with every received packet of its
 * group to get the missing one back (sequence number SN base + miss). */
static int rebuild(const hc_fec_dec_t *d, const hc_fec_hdr_t *h, unsigned miss, uint8_t *out,
                   size_t cap)
{
    uint8_t b0 = (uint8_t)(h->p << 5 | h->x << 4 | h->cc);
    uint8_t b1 = (uint8_t)(h->m << 7 | h->pt);
    uint16_t plen = h->len_rec;
    uint32_t ts = h->ts_rec;
    for (unsigned i = 0; i < h->mask_bits; i++) {
        if (i == miss || !hc_fec_mask_get(h, i)) continue;
        const hc_fec_src_slot_t *s = src_find(d, (uint16_t)(h->sn_base + i));
        size_t n = s->len - RTP_FIXED_LEN;
        /* The repair payload is as long as the longest packet's. */
        if (n > h->repair_len) return -HC_EMALFORMED;
        b0 ^= s->data[0] & 0x3f;
        b1 ^= s->data[1];
        ts ^= hc_rd32(s->data + 4);
        plen ^= (uint16_t)n;
    }
    if (plen > h->repair_len || plen > HC_FEC_MAX_REPAIR) return -HC_EMALFORMED;
    size_t total = RTP_FIXED_LEN + (size_t)plen;
    if (cap < total) return -HC_ENOSPC;

    out[0] = (uint8_t)(0x80 | b0); /* version 2 */
    out[1] = b1;
    hc_wr16(out + 2, (uint16_t)(h->sn_base + miss));
    hc_wr32(out + 4, ts);
    hc_wr32(out + 8, d->ssrc);
    memcpy(out + RTP_FIXED_LEN, h->repair, plen);
    for (unsigned i = 0; i < h->mask_bits; i++) {
        if (i == miss || !hc_fec_mask_get(h, i)) continue;
        const hc_fec_src_slot_t *s = src_find(d, (uint16_t)(h->sn_base + i));
        size_t n = s->len - RTP_FIXED_LEN;
        if (n > plen) n = plen;
        for (size_t k = 0; k < n; k++) out[RTP_FIXED_LEN + k] ^= s->data[RTP_FIXED_LEN + k];
    }
    /* A repair packet that disagrees with what we received yields garbage;
     * catch what can be caught before handing it on. */
    if (rtp_check(out, total, NULL) < 0) return -HC_EMALFORMED;
    return (int)total;
}

int hc_fec_dec_recover(hc_fec_dec_t *d, uint8_t *out, size_t cap)
{
    if (!d || !out || !d->fec) return -HC_EINVAL;
    for (unsigned f = 0; f < d->nfec; f++) {
        hc_fec_fec_slot_t *slot = &d->fec[f];
        if (!slot->used) continue;
        if (fec_age(d, slot) >= (int)d->nsrc) { /* its group left the window */
            slot->used = 0;
            d->fec_dropped++;
            continue;
        }
        const hc_fec_hdr_t *h = &slot->hdr;
        unsigned missing = 0, miss = 0;
        for (unsigned i = 0; i < h->mask_bits && missing < 2; i++) {
            if (hc_fec_mask_get(h, i) && !src_find(d, (uint16_t)(h->sn_base + i))) {
                missing++;
                miss = i;
            }
        }
        if (missing == 0) { /* group complete: nothing left to repair */
            slot->used = 0;
            continue;
        }
        if (missing > 1) continue; /* a later arrival may still make it one */
        int n = rebuild(d, h, miss, out, cap);
        if (n == -HC_ENOSPC) return n;
        slot->used = 0;
        if (n < 0) {
            d->fec_dropped++;
            continue;
        }
        src_store(d, out, (size_t)n);
        d->recovered++;
        return n;
    }
    return 0;
}
