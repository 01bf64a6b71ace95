/*
 * fuzz_rtp.c - libFuzzer harness for proto/rtp and proto/rtpext.
 *
 * Parses the input as RTP; when it parses, checks the peeks agree, walks the
 * extension elements, rebuilds them with the builder and walks them again,
 * runs the value codecs on elements with the default IDs, writes the packet
 * back (header, payload, padding) into an exactly-sized buffer, parses that
 * and compares every field, and exercises the in-place setters. Any
 * disagreement aborts.
 */
#include "proto/err.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ELEMS 4096

typedef struct {
    uint8_t id;
    size_t len;
    const uint8_t *data;
} elem_t;

static elem_t g_orig[MAX_ELEMS], g_again[MAX_ELEMS];

static void check(int cond)
{
    if (!cond) abort();
}

/* Walk a block; returns element count, or -1 when it did not end cleanly
 * or had too many elements to keep. */
static int walk(uint16_t profile, const uint8_t *d, size_t n, elem_t *out)
{
    hc_rtpext_iter_t it;
    if (hc_rtpext_iter_init(&it, profile, d, n) < 0) return -1;
    int count = 0, rc;
    uint8_t id;
    const uint8_t *p;
    size_t l;
    while ((rc = hc_rtpext_next(&it, &id, &p, &l)) > 0) {
        /* elements stay inside the block */
        check(p >= d && l <= n && (size_t)(p - d) <= n - l);
        check(id != 0);
        if (!hc_rtpext_is_two_byte(profile)) check(id <= 14 && l >= 1 && l <= 16);
        if (count == MAX_ELEMS) return -1;
        out[count].id = id;
        out[count].len = l;
        out[count].data = p;
        count++;
    }
    check(hc_rtpext_next(&it, &id, &p, &l) == rc); /* sticky */
    return rc == 0 ? count : -1;
}

static void codecs(const elem_t *e)
{
    uint8_t out[16];
    switch (e->id) {
    case HC_EXT_AUDIO_LEVEL: {
        bool v;
        uint8_t lvl;
        if (hc_rtpext_audio_level_parse(e->data, e->len, &v, &lvl) == 1) {
            check(hc_rtpext_audio_level_write(v, lvl, out, sizeof(out)) == 1);
            check(out[0] == e->data[0]);
        }
        break;
    }
    case HC_EXT_ABS_SEND_TIME: {
        uint32_t v;
        if (hc_rtpext_abs_send_time_parse(e->data, e->len, &v) == 3) {
            check(hc_rtpext_abs_send_time_write(v, out, sizeof(out)) == 3);
            check(memcmp(out, e->data, 3) == 0);
            check(hc_rtpext_abs_send_time_to_us(v) < 64000000u);
        }
        break;
    }
    case HC_EXT_TWCC: {
        uint16_t s;
        if (hc_rtpext_twcc_parse(e->data, e->len, &s) == 2) {
            check(hc_rtpext_twcc_write(s, out, sizeof(out)) == 2);
            check(memcmp(out, e->data, 2) == 0);
        }
        break;
    }
    case HC_EXT_CAPTURE_TIME: {
        hc_rtpext_capture_time_t ct;
        int n = hc_rtpext_capture_time_parse(e->data, e->len, &ct);
        if (n > 0) {
            check(hc_rtpext_capture_time_write(&ct, out, sizeof(out)) == n);
            check(memcmp(out, e->data, (size_t)n) == 0);
            (void)hc_rtpext_ntp_to_unix_us(ct.ntp);
            (void)hc_rtpext_q32_to_us(ct.offset);
        }
        break;
    }
    default: break;
    }
}

static void extensions(const hc_rtp_hdr_t *h)
{
    int n = walk(h->ext_profile, h->ext_data, h->ext_len, g_orig);
    if (n < 0) return;
    for (int i = 0; i < n; i++) codecs(&g_orig[i]);

    /* find returns the first element with an id */
    if (n > 0) {
        const uint8_t *d;
        size_t l;
        check(hc_rtpext_find(h, g_orig[0].id, &d, &l) == 1);
        check(d == g_orig[0].data && l == g_orig[0].len);
    }

    /* rebuild and walk again: same elements in the same order */
    size_t cap = 2 * h->ext_len + 8;
    uint8_t *buf = malloc(cap);
    check(buf != NULL);
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, buf, cap);
    for (int i = 0; i < n; i++)
        check(hc_rtpext_add(&b, g_orig[i].id, g_orig[i].data, g_orig[i].len) == 0);
    uint16_t prof;
    size_t len;
    int rc = hc_rtpext_finish(&b, &prof, &len);
    check(rc >= 0 && (size_t)rc == len && len % 4 == 0);
    int m = walk(prof, buf, len, g_again);
    check(m == n);
    for (int i = 0; i < n; i++) {
        check(g_again[i].id == g_orig[i].id && g_again[i].len == g_orig[i].len);
        check(memcmp(g_again[i].data, g_orig[i].data, g_orig[i].len) == 0);
    }
    free(buf);
}

static void same_fields(const hc_rtp_hdr_t *a, const hc_rtp_hdr_t *b)
{
    check(a->padding == b->padding && a->extension == b->extension);
    check(a->csrc_count == b->csrc_count && a->marker == b->marker && a->pt == b->pt);
    check(a->seq == b->seq && a->ts == b->ts && a->ssrc == b->ssrc);
    check(memcmp(a->csrc, b->csrc, sizeof(uint32_t) * a->csrc_count) == 0);
    if (a->extension) {
        check(a->ext_profile == b->ext_profile && a->ext_len == b->ext_len);
        check(a->ext_len == 0 || memcmp(a->ext_data, b->ext_data, a->ext_len) == 0);
    }
    check(a->payload_len == b->payload_len && a->padding_len == b->padding_len);
    check(a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
    check(a->header_len == b->header_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hc_rtp_hdr_t h;
    int hl = hc_rtp_parse(data, size, &h);
    uint32_t ssrc;
    uint16_t seq;
    int ps = hc_rtp_peek_ssrc(data, size, &ssrc);
    int pq = hc_rtp_peek_seq(data, size, &seq);
    check(ps == pq);
    if (hl < 0) {
        check(hl == -HC_ETRUNC || hl == -HC_EVERSION || hl == -HC_EMALFORMED);
        return 0;
    }
    check(ps == 0 && ssrc == h.ssrc && seq == h.seq);
    check((size_t)hl == h.header_len && hl >= 12);
    check(h.header_len + h.payload_len + h.padding_len == size);
    check(h.payload == data + h.header_len);
    check(h.padding == (h.padding_len > 0));

    if (h.extension) extensions(&h);

    /* write it back into an exactly-sized buffer */
    uint8_t *out = malloc(size);
    check(out != NULL);
    check(hc_rtp_write(&h, h.payload, h.payload_len, out, size - 1) == -HC_ENOSPC);
    int n = hc_rtp_write(&h, h.payload, h.payload_len, out, size);
    check(n >= 0 && (size_t)n == size);
    /* identical except the padding bytes before the count, which we zero */
    check(memcmp(out, data, size - h.padding_len) == 0);
    if (h.padding_len) check(out[size - 1] == data[size - 1]);
    check(hc_rtp_write_header(&h, out, size) == hl);
    check(memcmp(out, data, (size_t)hl) == 0);

    hc_rtp_hdr_t again;
    check(hc_rtp_parse(out, size, &again) == hl);
    same_fields(&h, &again);

    /* in-place setters touch only their fields */
    hc_rtp_set_seq(out, (uint16_t)~h.seq);
    hc_rtp_set_ts(out, ~h.ts);
    hc_rtp_set_ssrc(out, ~h.ssrc);
    hc_rtp_set_pt_marker(out, (uint8_t)(h.pt ^ 0x55), !h.marker);
    check(hc_rtp_parse(out, size, &again) == hl);
    check(again.seq == (uint16_t)~h.seq && again.ts == (uint32_t)~h.ts);
    check(again.ssrc == (uint32_t)~h.ssrc);
    check(again.pt == (h.pt ^ 0x55) && again.marker == !h.marker);
    check(again.payload_len == h.payload_len && again.ext_len == h.ext_len);
    check(memcmp(out + 12, data + 12, size - 12 - h.padding_len) == 0);
    free(out);
    return 0;
}
