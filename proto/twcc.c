/*
 * twcc.c - transport-wide CC feedback FCI parse/write (see twcc.h).
 */
#include "proto/twcc.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/rtcp.h"

#include <string.h>

/* Status symbols, draft §3.1.1; the value is also the delta size in bytes. */
enum { SYM_LOST = 0, SYM_SMALL = 1, SYM_LARGE = 2, SYM_RESERVED = 3 };

#define ONE_BIT_CAP 14
#define TWO_BIT_CAP 7

/* --- parsing ------------------------------------------------------------- */

/* Reads packet status symbols one at a time across chunks. */
typedef struct symrd {
    const uint8_t *p;
    size_t len;
    size_t off;     /* next chunk */
    uint16_t chunk; /* current chunk */
    unsigned used;  /* symbols of it consumed */
    unsigned cap;   /* symbols it holds */
} symrd_t;

static int next_sym(symrd_t *r)
{
    while (r->used == r->cap) {
        /* A run length of 0 is useless but harmless: it just costs 2 bytes. */
        if (r->len - r->off < 2) return -HC_ETRUNC;
        r->chunk = hc_rd16(r->p + r->off);
        r->off += 2;
        r->used = 0;
        if (!(r->chunk & 0x8000))
            r->cap = r->chunk & HC_TWCC_MAX_RUN; /* §3.1.3 */
        else
            r->cap = (r->chunk & 0x4000) ? TWO_BIT_CAP : ONE_BIT_CAP; /* §3.1.4 */
    }
    unsigned u = r->used++;
    if (!(r->chunk & 0x8000)) return (r->chunk >> 13) & 3;
    if (!(r->chunk & 0x4000)) return (r->chunk >> (ONE_BIT_CAP - 1 - u)) & 1;
    return (r->chunk >> (2 * (TWO_BIT_CAP - 1 - u))) & 3;
}

int hc_twcc_parse(const uint8_t *fci, size_t len, hc_twcc_fb_t *hdr, hc_twcc_pkt_t *out, size_t max,
                  size_t *n)
{
    if (fci == NULL || hdr == NULL || n == NULL) return -HC_EINVAL;
    *n = 0;
    /* An FCI inside RTCP is below 256 KiB; refuse what int cannot report. */
    if (len > INT32_MAX) return -HC_EINVAL;
    if (len < HC_TWCC_HDR_LEN) return -HC_ETRUNC;

    hdr->base_seq = hc_rd16(fci);
    hdr->status_count = hc_rd16(fci + 2);
    uint32_t ref = hc_rd24(fci + 4);
    hdr->ref_time = (int32_t)(ref ^ 0x800000u) - 0x800000; /* signed 24-bit */
    hdr->fb_count = fci[7];
    size_t count = hdr->status_count;

    /* An empty report says nothing; libwebrtc rejects it too. */
    if (count == 0) return -HC_EMALFORMED;
    if (out != NULL && count > max) return -HC_ENOSPC;

    /* Pass 1: walk the chunks to find where the deltas start and how many
     * bytes they need. */
    symrd_t r = {.p = fci, .len = len, .off = HC_TWCC_HDR_LEN};
    size_t need = 0;
    for (size_t i = 0; i < count; i++) {
        int s = next_sym(&r);
        if (s < 0) return s;
        if (s == SYM_RESERVED) return -HC_EMALFORMED;
        need += (size_t)s;
    }
    size_t deltas = r.off;
    if (len - deltas < need) return -HC_ETRUNC;
    /* Only zero padding to the 32-bit boundary may follow. */
    if (len - deltas - need >= 4) return -HC_EMALFORMED;

    /* Pass 2: pair symbols with deltas (§3.1.5). */
    symrd_t r2 = {.p = fci, .len = len, .off = HC_TWCC_HDR_LEN};
    size_t d = deltas;
    int64_t ticks = 0;
    for (size_t i = 0; i < count; i++) {
        int s = next_sym(&r2);
        if (s == SYM_SMALL) {
            ticks += fci[d];
            d += 1;
        } else if (s == SYM_LARGE) {
            ticks += (int16_t)hc_rd16(fci + d);
            d += 2;
        }
        if (out != NULL) {
            out[i].seq = (uint16_t)(hdr->base_seq + i);
            out[i].received = s != SYM_LOST;
            out[i].arrival_us = s != SYM_LOST ? ticks * HC_TWCC_DELTA_US : 0;
        }
    }
    *n = count;
    return (int)len;
}

/* --- writing ------------------------------------------------------------- */

/*
 * The chunk being filled, after libwebrtc's LastChunk: symbols are added
 * while some chunk form can still hold them all; when none can, the chunk
 * is emitted (a run, a full one-bit vector, or the first seven as a two-bit
 * vector keeping the rest) and filling goes on.
 */
typedef struct chunkenc {
    uint8_t sym[ONE_BIT_CAP]; /* first symbols; a long run only needs sym[0] */
    size_t size;
    bool all_same;
    bool has_large;
} chunkenc_t;

static void enc_clear(chunkenc_t *c)
{
    c->size = 0;
    c->all_same = true;
    c->has_large = false;
}

static bool enc_can_add(const chunkenc_t *c, int s)
{
    if (c->size < TWO_BIT_CAP) return true;
    if (c->size < ONE_BIT_CAP && !c->has_large && s != SYM_LARGE) return true;
    return c->size < HC_TWCC_MAX_RUN && c->all_same && c->sym[0] == s;
}

static void enc_add(chunkenc_t *c, int s)
{
    if (c->size < ONE_BIT_CAP) c->sym[c->size] = (uint8_t)s;
    c->size++;
    c->all_same = c->all_same && c->sym[0] == s;
    c->has_large = c->has_large || s == SYM_LARGE;
}

static uint16_t enc_run(const chunkenc_t *c)
{
    return (uint16_t)((c->sym[0] << 13) | c->size);
}

static uint16_t enc_one_bit(const chunkenc_t *c)
{
    uint16_t v = 0x8000;
    for (size_t i = 0; i < c->size; i++) v |= (uint16_t)(c->sym[i] << (ONE_BIT_CAP - 1 - i));
    return v;
}

static uint16_t enc_two_bit(const chunkenc_t *c, size_t k)
{
    uint16_t v = 0xc000;
    for (size_t i = 0; i < k; i++) v |= (uint16_t)(c->sym[i] << (2 * (TWO_BIT_CAP - 1 - i)));
    return v;
}

/* Emit a full chunk when enc_can_add() said no. */
static uint16_t enc_emit(chunkenc_t *c)
{
    uint16_t v;
    if (c->all_same) {
        v = enc_run(c);
        enc_clear(c);
        return v;
    }
    if (c->size == ONE_BIT_CAP) {
        v = enc_one_bit(c);
        enc_clear(c);
        return v;
    }
    /* 7..13 symbols with a large delta among or after them. */
    v = enc_two_bit(c, TWO_BIT_CAP);
    size_t rest = c->size - TWO_BIT_CAP;
    uint8_t tmp[ONE_BIT_CAP];
    memcpy(tmp, c->sym + TWO_BIT_CAP, rest);
    enc_clear(c);
    for (size_t i = 0; i < rest; i++) enc_add(c, tmp[i]);
    return v;
}

static uint16_t enc_last(const chunkenc_t *c)
{
    if (c->all_same) return enc_run(c);
    if (c->size <= TWO_BIT_CAP) return enc_two_bit(c, c->size);
    return enc_one_bit(c);
}

/* Nearest 250 us tick, rounding halves up, correct for negatives. */
static bool to_ticks(int64_t us, int64_t *ticks)
{
    if (us > INT64_MAX - HC_TWCC_DELTA_US) return false;
    int64_t x = us + HC_TWCC_DELTA_US / 2;
    int64_t q = x / HC_TWCC_DELTA_US;
    if (x % HC_TWCC_DELTA_US != 0 && x < 0) q--;
    *ticks = q;
    return true;
}

/* Symbol for pkts[i] given the previous received tick; -1 when its delta
 * cannot be carried in 16 bits. */
static int symbol_for(const hc_twcc_pkt_t *p, int64_t prev, int64_t *ticks)
{
    if (!p->received) return SYM_LOST;
    if (!to_ticks(p->arrival_us, ticks)) return -1;
    int64_t d = *ticks - prev;
    if (d < INT16_MIN || d > INT16_MAX) return -1;
    return (d >= 0 && d <= 255) ? SYM_SMALL : SYM_LARGE;
}

int hc_twcc_write(uint8_t *buf, size_t cap, const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts,
                  size_t n, size_t *covered)
{
    if (buf == NULL || hdr == NULL || pkts == NULL || covered == NULL || n == 0) return -HC_EINVAL;
    *covered = 0;
    if (hdr->ref_time < HC_TWCC_REF_TIME_MIN || hdr->ref_time > HC_TWCC_REF_TIME_MAX)
        return -HC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (pkts[i].seq != (uint16_t)(hdr->base_seq + i)) return -HC_EINVAL;

    /* Pass 1: how many packets fit, trying each on a copy of the encoder. */
    chunkenc_t enc;
    enc_clear(&enc);
    size_t emitted = 0, dbytes = 0, k = 0;
    int64_t prev = 0, t = 0;
    int why = -HC_ENOSPC;
    for (; k < n && k < HC_TWCC_MAX_STATUS; k++) {
        int s = symbol_for(&pkts[k], prev, &t);
        if (s < 0) {
            why = -HC_ERANGE;
            break;
        }
        chunkenc_t e = enc;
        size_t em = emitted;
        if (!enc_can_add(&e, s)) {
            (void)enc_emit(&e);
            em++;
        }
        enc_add(&e, s);
        size_t size = HC_TWCC_HDR_LEN + 2 * (em + 1) + dbytes + (size_t)s;
        if (((size + 3) & ~(size_t)3) > cap) break;
        enc = e;
        emitted = em;
        dbytes += (size_t)s;
        if (s != SYM_LOST) prev = t;
    }
    if (k == 0) return why;

    /* Pass 2: the same decisions, now written out. */
    size_t nchunks = emitted + 1;
    size_t coff = HC_TWCC_HDR_LEN, doff = HC_TWCC_HDR_LEN + 2 * nchunks;
    enc_clear(&enc);
    prev = 0;
    for (size_t i = 0; i < k; i++) {
        int s = symbol_for(&pkts[i], prev, &t);
        if (!enc_can_add(&enc, s)) {
            hc_wr16(buf + coff, enc_emit(&enc));
            coff += 2;
        }
        enc_add(&enc, s);
        if (s == SYM_SMALL) {
            buf[doff++] = (uint8_t)(t - prev);
        } else if (s == SYM_LARGE) {
            hc_wr16(buf + doff, (uint16_t)(int16_t)(t - prev));
            doff += 2;
        }
        if (s != SYM_LOST) prev = t;
    }
    hc_wr16(buf + coff, enc_last(&enc));

    size_t total = (doff + 3) & ~(size_t)3;
    memset(buf + doff, 0, total - doff); /* §3.1: zero padding */
    hc_wr16(buf, hdr->base_seq);
    hc_wr16(buf + 2, (uint16_t)k);
    hc_wr24(buf + 4, (uint32_t)hdr->ref_time & 0xffffffu);
    buf[7] = hdr->fb_count;
    *covered = k;
    return (int)total;
}

int hc_rtcp_write_twcc(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       const hc_twcc_fb_t *hdr, const hc_twcc_pkt_t *pkts, size_t n,
                       size_t *covered)
{
    if (buf == NULL || covered == NULL) return -HC_EINVAL;
    *covered = 0;
    if (cap < HC_RTCP_FB_HDR_LEN) return -HC_ENOSPC;
    size_t fcap = cap - HC_RTCP_FB_HDR_LEN;
    /* The 16-bit length field counts words minus one. */
    if (fcap > HC_RTCP_MAX_LEN - HC_RTCP_FB_HDR_LEN) fcap = HC_RTCP_MAX_LEN - HC_RTCP_FB_HDR_LEN;
    int w = hc_twcc_write(buf + HC_RTCP_FB_HDR_LEN, fcap, hdr, pkts, n, covered);
    if (w < 0) return w;
    size_t total = HC_RTCP_FB_HDR_LEN + (size_t)w;
    buf[0] = (uint8_t)((HC_RTCP_VERSION << 6) | HC_RTCP_FMT_TWCC);
    buf[1] = HC_RTCP_PT_RTPFB;
    hc_wr16(buf + 2, (uint16_t)(total / 4 - 1));
    hc_wr32(buf + 4, sender_ssrc);
    hc_wr32(buf + 8, media_ssrc);
    return (int)total;
}
