/*
 * fuzz_rtcp - libFuzzer harness for RTCP compounds and their sub-parts.
 *
 * Iterates the compound, reads every sub-part (report blocks, SDES chunks
 * and items, BYE, NACK, FIR, REMB, TWCC), writes what was parsed with the
 * writers, parses that again and aborts when the values differ where the
 * mapping is exact.
 */
#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static uint8_t out[HC_RTCP_MAX_LEN + 64];
static hc_twcc_pkt_t tw_a[65536], tw_b[65536];
static uint16_t lost_a[65536 * 17], lost_b[65536 * 17];
static uint64_t set_a[1024], set_b[1024];

/* Parse out[0..n) as exactly one packet. */
static void reparse(int n, hc_rtcp_pkt_t *pkt, hc_rtcp_kind_t kind)
{
    CHECK(n > 0);
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t end;
    hc_rtcp_iter_init(&it, out, (size_t)n);
    CHECK(hc_rtcp_next(&it, pkt) == 1);
    CHECK(hc_rtcp_next(&it, &end) == 0);
    CHECK(pkt->kind == kind);
}

static void report(const hc_rtcp_pkt_t *p)
{
    hc_rtcp_rb_t rb[HC_RTCP_MAX_RB], got;
    hc_rtcp_pkt_t q;
    size_t n = p->u.report.rb_count;
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_report_block(p, i, &rb[i]) == 0);
    CHECK(hc_rtcp_report_block(p, n, &got) == -HC_EINVAL);
    int w = p->kind == HC_RTCP_KIND_SR
                ? hc_rtcp_write_sr(out, sizeof out, p->u.report.ssrc, &p->u.report.info, rb, n)
                : hc_rtcp_write_rr(out, sizeof out, p->u.report.ssrc, rb, n);
    reparse(w, &q, p->kind);
    CHECK(q.u.report.ssrc == p->u.report.ssrc && q.u.report.rb_count == n);
    CHECK(q.u.report.info.ntp == p->u.report.info.ntp);
    CHECK(q.u.report.info.rtp_ts == p->u.report.info.rtp_ts);
    CHECK(q.u.report.info.packet_count == p->u.report.info.packet_count);
    CHECK(q.u.report.info.octet_count == p->u.report.info.octet_count);
    for (size_t i = 0; i < n; i++) {
        CHECK(hc_rtcp_report_block(&q, i, &got) == 0);
        CHECK(got.ssrc == rb[i].ssrc && got.fraction_lost == rb[i].fraction_lost);
        CHECK(got.cumulative_lost == rb[i].cumulative_lost);
        CHECK(got.cumulative_lost >= -0x800000 && got.cumulative_lost <= 0x7fffff);
        CHECK(got.ext_highest_seq == rb[i].ext_highest_seq && got.jitter == rb[i].jitter);
        CHECK(got.lsr == rb[i].lsr && got.dlsr == rb[i].dlsr);
    }
}

static void sdes(const hc_rtcp_pkt_t *p)
{
    hc_rtcp_sdes_iter_t it;
    hc_rtcp_sdes_chunk_t c, c2;
    hc_rtcp_sdes_item_t item;
    hc_rtcp_pkt_t q;
    unsigned chunks = 0;
    int rc;
    hc_rtcp_sdes_iter_init(&it, p);
    while ((rc = hc_rtcp_sdes_next(&it, &c)) == 1) {
        chunks++;
        size_t off = 0;
        bool seen_cname = false;
        while ((rc = hc_rtcp_sdes_item_next(&c, &off, &item)) == 1) {
            CHECK(item.type != HC_RTCP_SDES_END);
            if (item.type == HC_RTCP_SDES_CNAME && !seen_cname) {
                CHECK(item.text == c.cname && item.len == c.cname_len);
                seen_cname = true;
            }
        }
        CHECK(rc == 0 && off == c.items_len);
        CHECK(seen_cname == (c.cname != NULL));
        if (c.cname == NULL) continue;
        int w =
            hc_rtcp_write_sdes_cname(out, sizeof out, c.ssrc, (const char *)c.cname, c.cname_len);
        reparse(w, &q, HC_RTCP_KIND_SDES);
        hc_rtcp_sdes_iter_t it2;
        hc_rtcp_sdes_iter_init(&it2, &q);
        CHECK(hc_rtcp_sdes_next(&it2, &c2) == 1);
        CHECK(c2.ssrc == c.ssrc && c2.cname_len == c.cname_len);
        CHECK(c.cname_len == 0 || memcmp(c2.cname, c.cname, c.cname_len) == 0);
    }
    CHECK(rc == 0 && chunks == p->u.sdes.chunk_count); /* validated by hc_rtcp_next */
}

static void bye(const hc_rtcp_pkt_t *p)
{
    uint32_t ssrcs[HC_RTCP_MAX_SSRC], s;
    hc_rtcp_pkt_t q;
    size_t n = p->u.bye.ssrc_count;
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_bye_ssrc(p, i, &ssrcs[i]) == 0);
    if (n == 0) return; /* our writer never sends an empty BYE */
    int w = hc_rtcp_write_bye(out, sizeof out, ssrcs, n, (const char *)p->u.bye.reason,
                              p->u.bye.reason_len);
    reparse(w, &q, HC_RTCP_KIND_BYE);
    CHECK(q.u.bye.ssrc_count == n);
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_bye_ssrc(&q, i, &s) == 0 && s == ssrcs[i]);
    CHECK((q.u.bye.reason == NULL) == (p->u.bye.reason == NULL));
    CHECK(q.u.bye.reason_len == p->u.bye.reason_len);
    CHECK(q.u.bye.reason_len == 0 ||
          memcmp(q.u.bye.reason, p->u.bye.reason, q.u.bye.reason_len) == 0);
}

static void to_set(uint64_t *set, const uint16_t *v, size_t n)
{
    memset(set, 0, 1024 * sizeof *set);
    for (size_t i = 0; i < n; i++) set[v[i] >> 6] |= 1ull << (v[i] & 63);
}

static void nack(const hc_rtcp_pkt_t *p)
{
    hc_rtcp_pkt_t q;
    uint16_t pid, blp;
    for (size_t i = 0; i < p->u.fb.count; i++) CHECK(hc_rtcp_nack_fci(p, i, &pid, &blp) == 0);
    int n = hc_rtcp_nack_lost(p, lost_a, sizeof lost_a / sizeof *lost_a);
    CHECK(n >= (int)p->u.fb.count);
    int w = hc_rtcp_write_nack(out, sizeof out, p->u.fb.sender_ssrc, p->u.fb.media_ssrc, lost_a,
                               (size_t)n);
    reparse(w, &q, HC_RTCP_KIND_NACK);
    CHECK(q.u.fb.sender_ssrc == p->u.fb.sender_ssrc && q.u.fb.media_ssrc == p->u.fb.media_ssrc);
    int m = hc_rtcp_nack_lost(&q, lost_b, sizeof lost_b / sizeof *lost_b);
    CHECK(m > 0 && m <= n);
    /* The same set of sequence numbers, each once. */
    to_set(set_a, lost_a, (size_t)n);
    to_set(set_b, lost_b, (size_t)m);
    CHECK(memcmp(set_a, set_b, sizeof set_a) == 0);
    size_t distinct = 0;
    for (size_t i = 0; i < 1024; i++) distinct += (size_t)__builtin_popcountll(set_a[i]);
    CHECK(distinct == (size_t)m);
}

static void twcc(const hc_rtcp_pkt_t *p)
{
    hc_twcc_fb_t h, g;
    size_t n, m, cov;
    int rc = hc_twcc_parse(p->u.fb.fci, p->u.fb.fci_len, &h, tw_a, 65536, &n);
    size_t nv;
    hc_twcc_fb_t hv;
    CHECK(hc_twcc_parse(p->u.fb.fci, p->u.fb.fci_len, &hv, NULL, 0, &nv) == rc);
    if (rc < 0) return;
    CHECK((size_t)rc == p->u.fb.fci_len && n == h.status_count && nv == n);
    for (size_t i = 0; i < n; i++) CHECK(tw_a[i].seq == (uint16_t)(h.base_seq + i));

    int w = hc_twcc_write(out, sizeof out, &h, tw_a, n, &cov);
    CHECK(w > 0 && cov == n);
    CHECK(hc_twcc_parse(out, (size_t)w, &g, tw_b, 65536, &m) == w);
    CHECK(m == n && g.base_seq == h.base_seq && g.ref_time == h.ref_time);
    CHECK(g.fb_count == h.fb_count);
    for (size_t i = 0; i < n; i++) {
        CHECK(tw_b[i].seq == tw_a[i].seq && tw_b[i].received == tw_a[i].received);
        CHECK(tw_b[i].arrival_us == tw_a[i].arrival_us);
    }
    /* The RTCP framing of the same report parses as TWCC again. */
    w = hc_rtcp_write_twcc(out, sizeof out, p->u.fb.sender_ssrc, p->u.fb.media_ssrc, &h, tw_a, n,
                           &cov);
    if (w > 0) {
        hc_rtcp_pkt_t q;
        reparse(w, &q, HC_RTCP_KIND_TWCC);
        CHECK(hc_twcc_parse(q.u.fb.fci, q.u.fb.fci_len, &g, tw_b, 65536, &m) >= 0 && m == cov);
    }
}

static void pli(const hc_rtcp_pkt_t *p)
{
    hc_rtcp_pkt_t q;
    int w = hc_rtcp_write_pli(out, sizeof out, p->u.fb.sender_ssrc, p->u.fb.media_ssrc);
    reparse(w, &q, HC_RTCP_KIND_PLI);
    CHECK(q.u.fb.sender_ssrc == p->u.fb.sender_ssrc && q.u.fb.media_ssrc == p->u.fb.media_ssrc);
}

static void fir(const hc_rtcp_pkt_t *p)
{
    static hc_rtcp_fir_t e[HC_RTCP_MAX_LEN / 8];
    hc_rtcp_fir_t got;
    hc_rtcp_pkt_t q;
    size_t n = p->u.fb.count;
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_fir_entry(p, i, &e[i]) == 0);
    int w = hc_rtcp_write_fir(out, sizeof out, p->u.fb.sender_ssrc, e, n);
    reparse(w, &q, HC_RTCP_KIND_FIR);
    CHECK(q.u.fb.count == n && q.u.fb.sender_ssrc == p->u.fb.sender_ssrc);
    for (size_t i = 0; i < n; i++) {
        CHECK(hc_rtcp_fir_entry(&q, i, &got) == 0);
        CHECK(got.ssrc == e[i].ssrc && got.seq == e[i].seq);
    }
}

static void remb(const hc_rtcp_pkt_t *p)
{
    uint32_t ssrcs[HC_RTCP_REMB_MAX_SSRC], s;
    hc_rtcp_pkt_t q;
    size_t n = p->u.fb.count;
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_remb_ssrc(p, i, &ssrcs[i]) == 0);
    uint64_t br = p->u.fb.remb.bitrate;
    int w = hc_rtcp_write_remb(out, sizeof out, p->u.fb.sender_ssrc, br, ssrcs, n);
    reparse(w, &q, HC_RTCP_KIND_REMB);
    CHECK(q.u.fb.count == n);
    for (size_t i = 0; i < n; i++) CHECK(hc_rtcp_remb_ssrc(&q, i, &s) == 0 && s == ssrcs[i]);
    /* Exact unless the wire value saturated: m << e re-encodes losslessly. */
    CHECK(q.u.fb.remb.bitrate <= br);
    if (br != UINT64_MAX) CHECK(q.u.fb.remb.bitrate == br);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)hc_rtcp_is_rtcp(data, size);
    int valid = hc_rtcp_validate_compound(data, size);

    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pkt;
    size_t off = 0;
    int rc, npk = 0;
    hc_rtcp_iter_init(&it, data, size);
    while ((rc = hc_rtcp_next(&it, &pkt)) == 1) {
        npk++;
        CHECK(pkt.data == data + off && pkt.len >= 4 && pkt.len % 4 == 0);
        CHECK(pkt.body == pkt.data + 4 && pkt.body_len + pkt.padding_len + 4 == pkt.len);
        off += pkt.len;
        switch (pkt.kind) {
        case HC_RTCP_KIND_SR:
        case HC_RTCP_KIND_RR: report(&pkt); break;
        case HC_RTCP_KIND_SDES: sdes(&pkt); break;
        case HC_RTCP_KIND_BYE: bye(&pkt); break;
        case HC_RTCP_KIND_NACK: nack(&pkt); break;
        case HC_RTCP_KIND_TWCC: twcc(&pkt); break;
        case HC_RTCP_KIND_PLI: pli(&pkt); break;
        case HC_RTCP_KIND_FIR: fir(&pkt); break;
        case HC_RTCP_KIND_REMB: remb(&pkt); break;
        default: break;
        }
    }
    if (rc == 0) CHECK(off == size && size > 0);
    if (valid > 0) CHECK(rc == 0 && valid == npk);
    if (rc < 0) CHECK(valid < 0);

    /* The TWCC FCI parser on raw bytes too, so it is fuzzed directly. */
    hc_twcc_fb_t h;
    size_t n;
    (void)hc_twcc_parse(data, size, &h, tw_a, 65536, &n);
    return 0;
}
