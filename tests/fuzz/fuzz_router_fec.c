/*
 * fuzz_router_fec - throwaway libFuzzer harness for the router's FlexFEC
 * paths (uplink decoding of the publisher's repair stream, downlink
 * flexible-mask encoding per track, AUTO decisions from RRs).
 *
 * Records [op][len hi][len lo][bytes]: op & 3: 0 video RTP, 1 video RTX,
 * 2 FEC on the instream's fec_ssrc (op & 4: CSRC forced to the video
 * SSRC), 3 RTCP from the subscriber; op >> 5: advance time first.
 * Checks: pool balance, counters, and every repair packet the relay sends
 * to the subscriber matches the XOR (RFC 8627 6.2) of the packets it
 * protects, whenever all of them were seen.
 */
#include "proto/bytes.h"
#include "proto/fec.h"
#include "proto/rtp.h"
#include "proto/srtp.h"
#include "relay/core/addr.h"
#include "relay/core/loop.h"
#include "relay/core/pool.h"
#include "relay/core/router.h"
#include "relay/core/udp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static hc_loop_t *loop;
static hc_pool_t pool;
static uint64_t now_us;
static int relay_fd = -1, sub_fd = -1;
static hc_addr_t sub_addr;

static uint64_t fake_now(void *ud)
{
    (void)ud;
    return now_us;
}

enum { PUB_RTCP = 0x1001, SUB_RTCP = 0x2001, VIDEO = 0x3002, VRTX = 0x3003, VFEC = 0x3004 };
enum { T1 = 0x60, T1FEC = 0x62, T2 = 0x70, T2FEC = 0x72 };

static const uint8_t KEY_PUB[28] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static const uint8_t KEY_SUB[28] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

typedef struct seen {
    uint16_t len; /* 0: none */
    uint8_t d[1600];
} seen_t;
static seen_t seen[65536];
static uint16_t seen_list[4096];
static size_t nseen;

static void check_repair(const uint8_t *p, size_t len)
{
    hc_rtp_hdr_t h;
    CHECK(hc_rtp_parse(p, len, &h) > 0);
    CHECK(h.csrc_count == 1);
    CHECK(hc_rd32(p + 12) == T1);
    hc_fec_hdr_t f;
    CHECK(hc_fec_parse(h.payload, h.payload_len, &f) > 0);
    uint8_t b0 = 0, b1 = 0;
    uint16_t lr = 0;
    uint32_t tr = 0;
    static uint8_t x[1600];
    memset(x, 0, sizeof x);
    size_t maxn = 0;
    unsigned count = 0;
    for (unsigned i = 0; i < f.mask_bits; i++) {
        if (!hc_fec_mask_get(&f, i)) continue;
        const seen_t *s = &seen[(uint16_t)(f.sn_base + i)];
        if (!s->len) return; /* not all seen (sent before this input or lost) */
        size_t n = s->len - 12u;
        b0 ^= s->d[0] & 0x3f;
        b1 ^= s->d[1];
        tr ^= hc_rd32(s->d + 4);
        lr ^= (uint16_t)n;
        for (size_t k = 0; k < n; k++) x[k] ^= s->d[12 + k];
        if (n > maxn) maxn = n;
        count++;
    }
    CHECK(count >= 1);
    CHECK(f.p == ((b0 >> 5) & 1) && f.x == ((b0 >> 4) & 1) && f.cc == (b0 & 15));
    CHECK(f.m == (b1 >> 7) && f.pt == (b1 & 0x7f));
    CHECK(f.len_rec == lr && f.ts_rec == tr);
    CHECK(f.repair_len == maxn);
    CHECK(memcmp(f.repair, x, maxn) == 0);
}

static void drain(hc_srtp_t *rx)
{
    for (;;) {
        uint32_t buf[600];
        ssize_t n = recv(sub_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) break;
        uint8_t *p = (uint8_t *)buf;
        if (n < 12 || (p[1] >= 192 && p[1] <= 223)) continue;
        int len = hc_srtp_unprotect(rx, p, (size_t)n);
        CHECK(len > 0); /* what the relay sends authenticates */
        uint32_t ssrc = hc_rd32(p + 8);
        if (ssrc == T1) {
            uint16_t seq = hc_rd16(p + 2);
            if (!seen[seq].len && nseen < 4096) seen_list[nseen++] = seq;
            if (!seen[seq].len || nseen < 4096) {
                seen[seq].len = (uint16_t)len;
                memcpy(seen[seq].d, p, (size_t)len);
            }
        } else if (ssrc == T1FEC) {
            check_repair(p, (size_t)len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop) {
        CHECK(hc_loop_new(&loop) == 0);
        hc_loop_set_clock(loop, fake_now, NULL);
        CHECK(hc_pool_init(&pool, 8) == 0);
        hc_addr_t b;
        hc_addr_parse("127.0.0.1:0", &b);
        CHECK(hc_udp_open(&b, 0, &relay_fd) == 0);
        CHECK(hc_udp_open(&b, 0, &sub_fd) == 0);
        CHECK(hc_udp_local(sub_fd, &sub_addr) == 0);
    }
    for (size_t i = 0; i < nseen; i++) seen[seen_list[i]].len = 0;
    nseen = 0;
    now_us = 1000000000ull;
    hc_loop_run_once(loop, 0);

    hc_router_cfg_t cfg;
    hc_router_cfg_default(&cfg);
    cfg.max_legs = 4;
    cfg.max_instreams = 4;
    cfg.max_tracks = 4;
    cfg.history_video = 64;
    cfg.history_audio = 16;
    cfg.report_ms = 100;
    cfg.fec_nack_hold_ms = (size && data[0] & 1) ? 40 : 0;
    hc_router_t *r;
    CHECK(hc_router_new(&r, &cfg, loop, relay_fd, &pool, NULL) == 0);
    hc_addr_t a1;
    hc_addr_parse("127.0.0.1:9", &a1);
    hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM, .rtcp_ssrc = PUB_RTCP, .relay_ssrc = 7};
    memcpy(lc.key_up, KEY_PUB, 28);
    memcpy(lc.key_down, KEY_PUB, 28);
    hc_leg_t *pub, *sub;
    CHECK(hc_router_leg_add(r, &lc, &pub) == 0);
    lc.rtcp_ssrc = SUB_RTCP;
    lc.relay_ssrc = 8;
    lc.addr = &sub_addr;
    memcpy(lc.key_up, KEY_SUB, 28);
    memcpy(lc.key_down, KEY_SUB, 28);
    CHECK(hc_router_leg_add(r, &lc, &sub) == 0);
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_VIDEO,
                            .ssrc = VIDEO,
                            .rtx_ssrc = VRTX,
                            .fec_ssrc = VFEC,
                            .pt = 96,
                            .rtx_pt = 97,
                            .clock_rate = 90000};
    hc_instream_t *sv;
    CHECK(hc_router_instream_add(r, pub, &ic, &sv) == 0);
    hc_track_cfg_t tc = {
        .kind = HC_MEDIA_VIDEO,
        .ssrc = T1,
        .rtx_ssrc = 0x61,
        .fec_ssrc = T1FEC,
        .pt = 102,
        .rtx_pt = 103,
        .clock_rate = 90000,
        .fec = {.mode = HC_FEC_FIXED, .k = (uint8_t)(size > 1 ? 1 + data[1] % 20 : 3)}};
    hc_track_t *t1, *t2;
    CHECK(hc_router_track_add(r, sub, &tc, &t1) == 0);
    tc.ssrc = T2;
    tc.rtx_ssrc = 0x71;
    tc.fec_ssrc = T2FEC;
    tc.fec = (hc_fec_policy_t){.mode = HC_FEC_AUTO};
    CHECK(hc_router_track_add(r, sub, &tc, &t2) == 0);
    CHECK(hc_router_track_set_source(r, t1, sv) == 0);
    CHECK(hc_router_track_set_source(r, t2, sv) == 0);

    hc_srtp_t cpub, csub, rsub;
    CHECK(hc_srtp_init(&cpub, HC_SRTP_AEAD_AES_128_GCM, KEY_PUB, 28, HC_SRTP_SEND) == 0);
    CHECK(hc_srtp_init(&csub, HC_SRTP_AEAD_AES_128_GCM, KEY_SUB, 28, HC_SRTP_SEND) == 0);
    CHECK(hc_srtp_init(&rsub, HC_SRTP_AEAD_AES_128_GCM, KEY_SUB, 28, HC_SRTP_RECV) == 0);

    uint64_t fed = 0;
    size_t off = 2;
    while (off + 3 <= size) {
        uint8_t op = data[off];
        size_t len = ((size_t)data[off + 1] << 8) | data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        if (len > 1400) len = 1400;
        if (op >> 5) {
            now_us += (uint64_t)(op >> 5) * 20000u;
            hc_loop_run_once(loop, 0);
        }
        hc_pkt_t *pkt = hc_pool_get(&pool);
        CHECK(pkt != NULL);
        uint8_t *b = pkt->data;
        size_t n = len < 16 ? 16 : len;
        memset(b, 0, n);
        memcpy(b, data + off, len);
        off += len;
        int kind = op & 3;
        b[0] = (uint8_t)(0x80 | (b[0] & 0x3f));
        if (kind == 3) {
            if (b[1] < 192 || b[1] > 223) b[1] = 201;
            hc_wr32(b + 4, SUB_RTCP);
        } else {
            if (b[1] >= 192 && b[1] <= 223) b[1] &= 0x7f;
            hc_wr32(b + 8, kind == 0 ? VIDEO : kind == 1 ? VRTX : VFEC);
            if (kind == 2 && (op & 4)) {
                b[0] = (uint8_t)((b[0] & 0xf0) | 1);
                hc_wr32(b + 12, VIDEO);
            }
        }
        hc_srtp_t *ctx = kind == 3 ? &csub : &cpub;
        int pn = kind == 3 ? hc_srtp_protect_rtcp(ctx, b, n, HC_PKT_CAP)
                           : hc_srtp_protect(ctx, b, n, HC_PKT_CAP);
        if (pn < 0) pn = (int)n;
        pkt->len = (uint32_t)pn;
        pkt->peer = kind == 3 ? sub_addr : a1;
        hc_router_input(r, pkt);
        fed++;
        CHECK(pool.in_use == 0);
        hc_router_flush(r);
        drain(&rsub);
        hc_track_stats_t st;
        hc_track_stats(t2, &st);
        CHECK(st.fec_k <= HC_FEC_MAX_GROUP);
    }
    hc_router_counters_t c;
    hc_router_counters(r, &c);
    CHECK(c.rx_packets == fed);
    CHECK(c.legs == 2 && c.instreams == 1 && c.tracks == 2);
    hc_router_destroy(&r);
    drain(&rsub);
    hc_srtp_fini(&cpub);
    hc_srtp_fini(&csub);
    hc_srtp_fini(&rsub);
    CHECK(pool.in_use == 0);
    return 0;
}
