/*
 * h264_depack.c - RFC 6184 depacketizer, packetization mode 1 (6.2): single NAL unit packets
 * (5.6), STAP-A (5.7.1) and FU-A (5.8) back into Annex-B access units.
 *
 * Frame buffer layout: [AUs handed out by the last push | AU being assembled]. The first part
 * stays valid until the next push, which moves the AU being assembled to the front.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"

#include <string.h>

/* Result of checking a payload before any state changes. */
enum { PAYLOAD_OK = 0, PAYLOAD_IGNORE = 1 };

static bool reserved_type(int t)
{
    return t == 0 || t == 30 || t == 31;
}

/* Check the whole payload so that a bad one is rejected before it touches the AU. */
static int validate(const uint8_t *p, size_t len)
{
    if (len < 1) return -HC_ETRUNC;
    int t = hc_h264_nal_type(p[0]);
    if (t >= 1 && t <= 23) return PAYLOAD_OK;
    if (reserved_type(t)) return PAYLOAD_IGNORE;
    switch (t) {
    case HC_H264_NAL_STAP_A: {
        /* 5.7.1: one or more (16-bit size, NAL unit) pairs filling the payload. */
        size_t off = 1;
        if (len == 1) return -HC_ETRUNC;
        while (off < len) {
            if (len - off < 2) return -HC_ETRUNC;
            size_t sz = hc_rd16(p + off);
            off += 2;
            if (sz == 0) return -HC_EMALFORMED;
            if (sz > len - off) return -HC_ETRUNC;
            int nt = hc_h264_nal_type(p[off]);
            /* An aggregation unit holds a NAL unit, never another aggregate or fragment. */
            if (nt >= 24 && nt <= 29) return -HC_EMALFORMED;
            off += sz;
        }
        return PAYLOAD_OK;
    }
    case HC_H264_NAL_FU_A: {
        if (len < 3) return -HC_ETRUNC; /* indicator, header, at least one byte */
        uint8_t fu = p[1];
        /* 5.8: a NAL unit is never sent whole in one FU, so S and E are never both set.
         * The R bit is ignored as the RFC asks. */
        if ((fu & 0xc0) == 0xc0) return -HC_EMALFORMED;
        int ft = fu & 0x1f;
        if (ft == 0 || ft >= 24) return -HC_EMALFORMED;
        return PAYLOAD_OK;
    }
    default:
        /* STAP-B, MTAP16, MTAP24, FU-B belong to the interleaved mode (6.3), not mode 1. */
        return -HC_EUNSUPPORTED;
    }
}

void hc_h264_depack_init(hc_h264_depack_t *d, uint8_t *frame_buf, size_t cap)
{
    memset(d, 0, sizeof *d);
    d->buf = frame_buf;
    d->cap = frame_buf ? cap : 0;
    d->need_keyframe = true;
}

void hc_h264_depack_reset(hc_h264_depack_t *d)
{
    hc_h264_depack_stats_t st = d->stats;
    if (d->has_queued) st.dropped++;
    hc_h264_depack_init(d, d->buf, d->cap);
    d->stats = st;
}

bool hc_h264_depack_need_keyframe(const hc_h264_depack_t *d)
{
    return d->need_keyframe;
}

/* Release what earlier pushes handed out and move the AU being assembled to the front. */
static void compact(hc_h264_depack_t *d)
{
    if (d->has_queued) {
        d->has_queued = false;
        d->stats.dropped++;
    }
    if (d->au_start == 0) return;
    memmove(d->buf, d->buf + d->au_start, d->len - d->au_start);
    d->len -= d->au_start;
    if (d->fu_open) d->fu_off -= d->au_start;
    d->au_start = 0;
}

static void start_au(hc_h264_depack_t *d, uint16_t seq, uint32_t ts, bool broken)
{
    d->in_au = true;
    d->discard = false;
    d->broken = broken;
    d->ts = ts;
    d->first_seq = seq;
    d->last_seq = seq;
    d->packets = 0;
    d->nal_count = 0;
    d->has_idr = d->has_sps = d->has_pps = false;
    d->fu_open = false;
    d->au_start = d->len;
}

/* Cut out a partially reassembled NAL unit: the AU now has a hole. */
static void abort_fu(hc_h264_depack_t *d)
{
    if (!d->fu_open) return;
    d->len = d->fu_off;
    d->fu_open = false;
    d->broken = true;
}

/* Give up on the AU being assembled; later packets with its timestamp are skipped. */
static void drop_au(hc_h264_depack_t *d)
{
    d->len = d->au_start;
    d->fu_open = false;
    d->discard = true;
    d->need_keyframe = true;
    d->stats.dropped++;
}

static void end_au(hc_h264_depack_t *d)
{
    d->in_au = false;
    d->discard = false;
    d->fu_open = false;
}

/* Finish the AU being assembled into *out. Returns 1, or 0 when nothing whole is left. */
static int finish(hc_h264_depack_t *d, hc_h264_frame_t *out, bool by_marker, bool may_complete)
{
    if (d->discard) {
        end_au(d);
        return 0;
    }
    abort_fu(d);
    bool complete = may_complete && !d->broken;
    size_t n = d->len - d->au_start;
    end_au(d);
    if (!complete) d->need_keyframe = true;
    if (n == 0) {
        d->stats.dropped++;
        return 0;
    }
    memset(out, 0, sizeof *out);
    out->data = d->buf + d->au_start;
    out->len = n;
    out->ts = d->ts;
    out->first_seq = d->first_seq;
    out->last_seq = d->last_seq;
    out->packets = d->packets;
    out->nal_count = d->nal_count;
    out->complete = complete;
    out->marker = by_marker;
    out->keyframe = d->has_idr;
    out->has_sps = d->has_sps;
    out->has_pps = d->has_pps;
    d->au_start = d->len;
    d->stats.frames++;
    if (!complete)
        d->stats.incomplete++;
    else if (d->has_idr)
        d->need_keyframe = false;
    return 1;
}

static void note_nal(hc_h264_depack_t *d, uint8_t hdr)
{
    switch (hc_h264_nal_type(hdr)) {
    case HC_H264_NAL_IDR: d->has_idr = true; break;
    case HC_H264_NAL_SPS: d->has_sps = true; break;
    case HC_H264_NAL_PPS: d->has_pps = true; break;
    default: break;
    }
    d->nal_count++;
}

static int put(hc_h264_depack_t *d, const uint8_t *src, size_t n)
{
    if (d->cap - d->len < n) return -HC_ENOSPC;
    memcpy(d->buf + d->len, src, n);
    d->len += n;
    return 0;
}

static int put_nal(hc_h264_depack_t *d, const uint8_t *nal, size_t n)
{
    if (d->cap - d->len < 4 + n) return -HC_ENOSPC;
    int rc = hc_h264_annexb_append(d->buf, d->cap, &d->len, nal, n);
    if (rc < 0) return rc;
    note_nal(d, nal[0]);
    return 0;
}

static int put_fu_a(hc_h264_depack_t *d, const uint8_t *p, size_t len)
{
    uint8_t fu = p[1];
    /* The NAL header is rebuilt from the FU indicator (F, NRI) and FU header (type) (5.8). */
    uint8_t hdr = (uint8_t)((p[0] & 0xe0) | (fu & 0x1f));
    if (fu & 0x80) {
        abort_fu(d); /* a start while one is open: the previous NAL unit lost its end */
        static const uint8_t sc[4] = {0, 0, 0, 1};
        size_t at = d->len;
        if (d->cap - d->len < 5 + (len - 2)) return -HC_ENOSPC;
        (void)put(d, sc, 4);
        (void)put(d, &hdr, 1);
        (void)put(d, p + 2, len - 2);
        d->fu_open = true;
        d->fu_off = at;
        d->fu_header = hdr;
        return 0;
    }
    if (!d->fu_open) {
        d->broken = true; /* its start is missing */
        return 0;
    }
    if (hdr != d->fu_header) {
        abort_fu(d); /* a fragment of another NAL unit: the open one lost its end */
        return 0;
    }
    int rc = put(d, p + 2, len - 2);
    if (rc < 0) return rc;
    if (fu & 0x40) {
        d->fu_open = false;
        note_nal(d, hdr);
    }
    return 0;
}

static int put_payload(hc_h264_depack_t *d, const uint8_t *p, size_t len)
{
    int t = hc_h264_nal_type(p[0]);
    if (t == HC_H264_NAL_FU_A) return put_fu_a(d, p, len);
    /* Anything but a continuation means the open FU-A never got its end fragment. */
    abort_fu(d);
    if (t != HC_H264_NAL_STAP_A) return put_nal(d, p, len);
    for (size_t off = 1; off < len;) {
        size_t sz = hc_rd16(p + off);
        off += 2;
        if (!reserved_type(hc_h264_nal_type(p[off]))) {
            int rc = put_nal(d, p + off, sz);
            if (rc < 0) return rc;
        }
        off += sz;
    }
    return 0;
}

/* Hand out what this push finished: the first in *out, a second one to pop(). */
static int emit(hc_h264_depack_t *d, hc_h264_frame_t *fin, int n, hc_h264_frame_t *out, int rc)
{
    if (rc < 0) {
        if (n > 0) {
            d->queued = fin[0];
            d->has_queued = true;
        }
        return rc;
    }
    if (n == 0) return 0;
    *out = fin[0];
    if (n == 2) {
        d->queued = fin[1];
        d->has_queued = true;
    }
    return 1;
}

int hc_h264_depack_push(hc_h264_depack_t *d, uint16_t seq, uint32_t ts, bool marker,
                        const uint8_t *payload, size_t len, hc_h264_frame_t *out)
{
    if (!d || !out || (!payload && len)) return -HC_EINVAL;
    compact(d);

    /* Sequence numbers: the jitter buffer delivers in order, so anything older than expected
     * is a duplicate or came too late to matter, and anything newer means loss. */
    bool gap = false;
    if (d->have_seq && seq != d->next_seq) {
        uint16_t ahead = (uint16_t)(seq - d->next_seq);
        uint16_t behind = (uint16_t)(d->next_seq - seq);
        if (ahead >= 0x8000 && behind <= HC_H264_LATE_WINDOW) {
            d->stats.late++;
            return 0;
        }
        gap = true;
        d->stats.gaps++;
        if (ahead < 0x8000) d->stats.lost += ahead;
        d->need_keyframe = true;
    }
    d->have_seq = true;
    d->next_seq = (uint16_t)(seq + 1);

    hc_h264_frame_t fin[2];
    int n = 0;
    bool head_lost = gap;
    if (d->in_au && ts != d->ts) {
        /* A new timestamp ends the AU even without its marker (5.1); it is whole only if no
         * packet went missing in between. One missing packet from a sender that sets the
         * marker bit can only have been that AU's marker packet, so the new AU is whole. */
        if (gap) {
            d->broken = true;
            if (d->saw_marker && (uint16_t)(seq - d->last_seq) == 2) head_lost = false;
        }
        n += finish(d, &fin[n], false, true);
    }
    if (!d->in_au) {
        /* After a gap the lost packets may have been this AU's first ones. */
        start_au(d, seq, ts, head_lost);
    } else if (gap) {
        abort_fu(d);
        d->broken = true;
    }
    d->packets++;
    d->last_seq = seq;

    int v = validate(payload, len);
    int rc = 0;
    if (d->discard) {
        /* The rest of an AU already given up. */
    } else if (v < 0) {
        d->stats.malformed++;
        drop_au(d);
        rc = v;
    } else if (v == PAYLOAD_IGNORE) {
        d->stats.ignored++;
    } else {
        rc = put_payload(d, payload, len);
        if (rc < 0) {
            d->stats.overflow++;
            drop_au(d);
        }
    }
    if (marker) {
        d->saw_marker = true;
        n += finish(d, &fin[n], true, true);
    }
    return emit(d, fin, n, out, rc);
}

int hc_h264_depack_pop(hc_h264_depack_t *d, hc_h264_frame_t *out)
{
    if (!d || !out) return -HC_EINVAL;
    if (!d->has_queued) return 0;
    *out = d->queued;
    d->has_queued = false;
    return 1;
}

int hc_h264_depack_flush(hc_h264_depack_t *d, hc_h264_frame_t *out)
{
    if (!d || !out) return -HC_EINVAL;
    if (d->has_queued) return hc_h264_depack_pop(d, out);
    if (!d->in_au) return 0;
    /* Without the marker nothing proves the AU's tail arrived. */
    return finish(d, out, false, false);
}
