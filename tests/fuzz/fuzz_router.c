/*
 * fuzz_router - libFuzzer harness for the relay data plane
 * (relay/core/router.h) behind SRTP.
 *
 * An unauthenticated datagram stops at the SRTP check, so the parsing that
 * matters sits behind it: this harness plays the clients, protects what
 * the fuzzer wrote with the legs' real keys and feeds it to
 * hc_router_input(), so every RTP/RTX/RTCP path of the router (RTX unwrap,
 * header extensions, keyframe detection, NACK -> RTX, reports, SR/RR,
 * PLI/FIR/REMB, TWCC) sees arbitrary plaintext.
 *
 * Input: records of [op][len hi][len lo][len bytes]:
 *   op & 3   0 RTP on the audio instream, 1 on the video instream (op & 4:
 *            its lower simulcast layer), 2 on the video RTX SSRC, 3 RTCP
 *            (sender SSRC from op & 4: the publisher leg or the subscriber
 *            leg, whose transport-wide feedback drives its downlink
 *            estimator and the layer choice)
 *   op & 8   send it unprotected instead (must be dropped)
 *   op & 16  from a second source address (address following)
 *   op >> 5  advance the simulated clock by that many 20 ms steps first,
 *            running the router's timers
 * The bytes overwrite the packet from offset 0, except the SSRC field,
 * which the harness sets so that lookups succeed.
 *
 * Checks (abort): every packet goes back to the pool; nothing
 * unauthenticated is counted as received; the table counters stay what
 * the setup made.
 */
#include "proto/bytes.h"
#include "proto/rtp.h"
#include "proto/srtp.h"
#include "relay/core/addr.h"
#include "relay/core/loop.h"
#include "relay/core/pool.h"
#include "relay/core/router.h"
#include "relay/core/udp.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static hc_loop_t *loop;
static hc_pool_t pool;
static uint64_t now_us;

static uint64_t fake_now(void *ud)
{
    (void)ud;
    return now_us;
}

enum {
    PUB_RTCP = 0x1001,
    SUB_RTCP = 0x2001,
    AUDIO = 0x3001,
    VIDEO = 0x3002,
    VRTX = 0x3003,
    VIDEO_LO = 0x3004
};

static const uint8_t KEY_PUB[28] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
static const uint8_t KEY_SUB[28] = {9, 8, 7, 6, 5, 4, 3, 2, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!loop) {
        CHECK(hc_loop_new(&loop) == 0);
        hc_loop_set_clock(loop, fake_now, NULL);
        CHECK(hc_pool_init(&pool, 8) == 0);
    }
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
    hc_router_t *r;
    CHECK(hc_router_new(&r, &cfg, loop, -1, &pool, NULL) == 0);
    hc_addr_t a1, a2;
    hc_addr_parse("127.0.0.1:9", &a1);
    hc_addr_parse("127.0.0.2:9", &a2);
    hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM, .rtcp_ssrc = PUB_RTCP, .relay_ssrc = 7};
    memcpy(lc.key_up, KEY_PUB, 28);
    memcpy(lc.key_down, KEY_PUB, 28);
    hc_leg_t *pub, *sub;
    CHECK(hc_router_leg_add(r, &lc, &pub) == 0);
    lc.rtcp_ssrc = SUB_RTCP;
    lc.relay_ssrc = 8;
    lc.addr = &a1;
    memcpy(lc.key_up, KEY_SUB, 28);
    memcpy(lc.key_down, KEY_SUB, 28);
    CHECK(hc_router_leg_add(r, &lc, &sub) == 0);
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_AUDIO, .ssrc = AUDIO, .pt = 111, .clock_rate = 48000};
    hc_instream_t *sa, *sv;
    CHECK(hc_router_instream_add(r, pub, &ic, &sa) == 0);
    ic = (hc_instream_cfg_t){.kind = HC_MEDIA_VIDEO,
                             .ssrc = VIDEO,
                             .rtx_ssrc = VRTX,
                             .pt = 96,
                             .rtx_pt = 97,
                             .clock_rate = 90000};
    CHECK(hc_router_instream_add(r, pub, &ic, &sv) == 0);
    hc_instream_t *svlo;
    ic.ssrc = VIDEO_LO;
    ic.rtx_ssrc = 0;
    CHECK(hc_router_instream_add(r, pub, &ic, &svlo) == 0);
    hc_track_cfg_t tc = {.kind = HC_MEDIA_AUDIO,
                         .ssrc = 0x50,
                         .rtx_ssrc = 0x51,
                         .pt = 100,
                         .rtx_pt = 101,
                         .clock_rate = 48000};
    hc_track_t *ta, *tv, *tp;
    CHECK(hc_router_track_add(r, sub, &tc, &ta) == 0);
    tc = (hc_track_cfg_t){.kind = HC_MEDIA_VIDEO,
                          .ssrc = 0x60,
                          .rtx_ssrc = 0x61,
                          .pt = 102,
                          .rtx_pt = 103,
                          .clock_rate = 90000};
    CHECK(hc_router_track_add(r, sub, &tc, &tv) == 0);
    tc.ssrc = 0x70; /* the publisher sees its own video back */
    CHECK(hc_router_track_add(r, pub, &tc, &tp) == 0);
    CHECK(hc_router_track_set_source(r, ta, sa) == 0);
    hc_instream_t *group[2] = {sv, svlo};
    CHECK(hc_router_track_set_layers(r, tv, group, 2) == 0);
    CHECK(hc_router_track_set_source(r, tp, sv) == 0);

    hc_srtp_t cpub, csub;
    CHECK(hc_srtp_init(&cpub, HC_SRTP_AEAD_AES_128_GCM, KEY_PUB, 28, HC_SRTP_SEND) == 0);
    CHECK(hc_srtp_init(&csub, HC_SRTP_AEAD_AES_128_GCM, KEY_SUB, 28, HC_SRTP_SEND) == 0);

    uint64_t fed = 0, plain = 0;
    size_t off = 0;
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
        size_t n = len < 12 ? 12 : len;
        memset(b, 0, n);
        memcpy(b, data + off, len);
        off += len;
        int kind = op & 3;
        bool from_pub = kind != 3 || !(op & 4);
        if (kind == 3) {
            b[0] = (uint8_t)(0x80 | (b[0] & 0x3f));
            if (b[1] < 192 || b[1] > 223) b[1] = 201;
            hc_wr32(b + 4, from_pub ? PUB_RTCP : SUB_RTCP);
        } else {
            b[0] = (uint8_t)(0x80 | (b[0] & 0x3f));
            if (b[1] >= 192 && b[1] <= 223) b[1] &= 0x7f;
            hc_wr32(b + 8, kind == 0 ? AUDIO : kind == 1 ? ((op & 4) ? VIDEO_LO : VIDEO) : VRTX);
        }
        int pn = (int)n;
        if (!(op & 8)) {
            hc_srtp_t *ctx = from_pub ? &cpub : &csub;
            pn = kind == 3 ? hc_srtp_protect_rtcp(ctx, b, n, HC_PKT_CAP)
                           : hc_srtp_protect(ctx, b, n, HC_PKT_CAP);
            if (pn < 0) {
                pn = (int)n; /* what libsrtp refused goes in raw */
                plain++;
            }
        } else {
            plain++;
        }
        pkt->len = (uint32_t)pn;
        pkt->peer = (op & 16) ? a2 : a1;
        hc_router_counters_t before;
        hc_router_counters(r, &before);
        hc_leg_stats_t lb;
        hc_leg_stats(from_pub ? pub : sub, &lb);
        hc_router_input(r, pkt);
        fed++;
        CHECK(pool.in_use == 0);
        hc_router_counters_t after;
        hc_router_counters(r, &after);
        hc_leg_stats_t la;
        hc_leg_stats(from_pub ? pub : sub, &la);
        uint64_t drops_b = before.drop_auth + before.drop_replay + before.drop_unknown;
        uint64_t drops_a = after.drop_auth + after.drop_replay + after.drop_unknown;
        /* Unauthenticated bytes never count as the leg's. */
        if (op & 8) CHECK(la.rx_packets == lb.rx_packets);
        /* Authenticated (leg counted it) or dropped before: never both. */
        CHECK((la.rx_packets == lb.rx_packets + 1) != (drops_a == drops_b + 1) ||
              after.drop_malformed == before.drop_malformed + 1);
        hc_router_flush(r);
    }
    hc_router_counters_t c;
    hc_router_counters(r, &c);
    CHECK(c.rx_packets == fed);
    CHECK(c.legs == 2 && c.instreams == 3 && c.tracks == 3);
    (void)plain;
    hc_srtp_fini(&cpub);
    hc_srtp_fini(&csub);
    hc_router_destroy(&r);
    CHECK(pool.in_use == 0);
    return 0;
}
