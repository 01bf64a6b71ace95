/*
 * Unit tests of relay/core/endpoint: two endpoints on loopback, A the
 * publisher and B the subscriber, with a test-owned UDP socket M between
 * them standing in for the relay (it forwards, drops what a test asks, and
 * lets a test read what went by). A's key_up is B's key_down and B's key_up
 * is A's key_down, so each side's SRTP is the other's, as with a relay that
 * only forwards. Time is simulated except where NTP-based RTT is checked.
 */
#include "tests/common/testutil.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/fec.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "proto/srtp.h"
#include "relay/core/clock.h"
#include "proto/twcc.h"
#include "relay/core/endpoint.h"
#include "relay/core/router.h"
#include "relay/core/udp.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SSRC_V    0x11110000u
#define SSRC_VRTX 0x11110001u
#define SSRC_VFEC 0x11110002u
#define SSRC_A    0x22220000u
#define RTCP_A    0x33330000u
#define RTCP_B    0x44440000u
#define MAXREC    4096

typedef struct rec {
    uint16_t seq;
    uint32_t ts;
    bool marker, recovered, rtx, fec, has_al;
    uint8_t level;
    uint32_t skipped;
    uint64_t capture;
    size_t len;
    uint8_t first;
    uint32_t sum; /* of the payload bytes */
} rec_t;

typedef struct net {
    hc_endpoint_t *a, *b;
    hc_ep_stream_t *sv, *sa;
    hc_ep_track_t *tv, *ta;
    int m;
    hc_addr_t maddr, aaddr, baddr;
    /* drop A->B RTP whose (original) seq is in drop[] (RTX too when drop_rtx) */
    uint16_t drop[16];
    int ndrop;
    bool drop_once; /* drop each listed seq only the first time */
    bool dropped_once[16];
    bool drop_rtx;
    bool drop_all_ab;
    uint64_t ab, ba; /* datagrams forwarded */
    uint64_t ba_rtcp;
    rec_t rec[MAXREC];
    int nrec;
    int keyframes;
    bool fir;
    /* what went A -> B (RTP only): SSRC and transport-wide number, -1 none */
    uint32_t wire_ssrc[512];
    int32_t wire_twcc[512];
    size_t wire_len[512];
    int nwire;
    /* A's `sent` events */
    hc_ep_sent_t sent[64];
    uint32_t sent_ssrc[64];
    int nsent;
    /* transport-wide feedback A received (added by downlink layers) */
    int twcc_fbs;
    uint32_t twcc_sender, twcc_media;
    uint8_t twcc_fb_count[64];
    uint16_t twcc_seen[1024]; /* reported numbers, in feedback order */
    bool twcc_recv[1024];
    int twcc_n;
} net_t;

static uint8_t K1[HC_SRTP_MAX_KEY_LEN], K2[HC_SRTP_MAX_KEY_LEN];
static uint32_t g_report_ms; /* report interval for the next net_new(), 0: default */
static bool g_fec;           /* next net_new(): video with FlexFEC on SSRC_VFEC */
static uint32_t g_hold_ms;   /* next net_new(): fec_nack_hold_ms */
static bool g_caller_nack;   /* next net_new(): the video track's NACKs come from the test */

static void keys(void)
{
    for (int i = 0; i < HC_SRTP_MAX_KEY_LEN; i++) {
        K1[i] = (uint8_t)(i * 7 + 1);
        K2[i] = (uint8_t)(i * 13 + 5);
    }
}

static void on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    (void)t;
    net_t *n = ud;
    if (n->nrec >= MAXREC) return;
    rec_t *r = &n->rec[n->nrec++];
    r->seq = rx->seq;
    r->ts = rx->ts;
    r->marker = rx->marker;
    r->recovered = rx->recovered;
    r->rtx = rx->rtx;
    r->has_al = rx->has_audio_level;
    r->level = rx->audio_level;
    r->skipped = rx->skipped;
    r->capture = rx->capture_wall_us;
    r->len = rx->len;
    r->first = rx->len ? rx->payload[0] : 0;
    r->fec = rx->fec;
    r->sum = 0;
    for (size_t i = 0; i < rx->len; i++) r->sum += rx->payload[i] * (uint32_t)(i + 1);
}

static void on_sent(void *ud, hc_ep_stream_t *s, const hc_ep_sent_t *info)
{
    net_t *n = ud;
    if (n->nsent >= 64) return;
    n->sent_ssrc[n->nsent] = hc_ep_stream_ssrc(s);
    n->sent[n->nsent++] = *info;
}

/* The transport-wide number in an SRTP packet's clear header, -1 none. */
static int32_t wire_twcc_of(const uint8_t *buf, size_t len)
{
    uint8_t c[2048];
    if (len > sizeof c) return -1;
    memcpy(c, buf, len);
    c[0] &= (uint8_t)~0x20u; /* the padding count is under SRTP's tag */
    hc_rtp_hdr_t h;
    const uint8_t *d;
    size_t dl;
    if (hc_rtp_parse(c, len, &h) < 0 || hc_rtpext_find(&h, HC_EXT_TWCC, &d, &dl) != 1 || dl != 2)
        return -1;
    return hc_rd16(d);
}

/* Every authenticated RTCP compound an endpoint got: keep the transport-
 * wide feedback, parsed with proto/twcc. */
static void on_rtcp(void *ud, const uint8_t *rtcp, size_t len)
{
    net_t *n = ud;
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t p;
    hc_rtcp_iter_init(&it, rtcp, len);
    while (hc_rtcp_next(&it, &p) > 0) {
        if (p.kind != HC_RTCP_KIND_TWCC) continue;
        hc_twcc_fb_t hdr;
        hc_twcc_pkt_t pk[256];
        size_t np = 0;
        ck_assert_int_gt(hc_twcc_parse(p.u.fb.fci, p.u.fb.fci_len, &hdr, pk, 256, &np), 0);
        if (n->twcc_fbs < 64) n->twcc_fb_count[n->twcc_fbs] = hdr.fb_count;
        n->twcc_fbs++;
        n->twcc_sender = p.u.fb.sender_ssrc;
        n->twcc_media = p.u.fb.media_ssrc;
        for (size_t i = 0; i < np && n->twcc_n < 1024; i++) {
            n->twcc_seen[n->twcc_n] = pk[i].seq;
            n->twcc_recv[n->twcc_n++] = pk[i].received;
        }
    }
}

static void on_keyframe(void *ud, hc_ep_stream_t *s, bool fir)
{
    (void)s;
    net_t *n = ud;
    n->keyframes++;
    n->fir = fir;
}

static int udp_loopback(hc_addr_t *addr)
{
    hc_addr_t b;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &b), 0);
    int fd;
    ck_assert_int_eq(hc_udp_open(&b, 0, &fd), 0);
    ck_assert_int_eq(hc_udp_local(fd, addr), 0);
    return fd;
}

static void ep_cfg(hc_endpoint_cfg_t *c, net_t *n, const uint8_t *up, const uint8_t *down,
                   uint32_t rtcp)
{
    hc_endpoint_cfg_default(c);
    memcpy(c->key_up, up, HC_SRTP_MAX_KEY_LEN);
    memcpy(c->key_down, down, HC_SRTP_MAX_KEY_LEN);
    c->rtcp_ssrc = rtcp;
    c->remote = n->maddr;
    hc_addr_parse("127.0.0.1:0", &c->bind);
    c->ev.ud = n;
    c->ev.rtp = on_rtp;
    c->ev.keyframe = on_keyframe;
    c->ev.sent = on_sent;
    c->ev.rtcp = on_rtcp;
    c->rtt_init_ms = 20;
    if (g_report_ms) c->report_ms = c->keepalive_ms = g_report_ms;
    c->fec_nack_hold_ms = g_hold_ms;
}

/* A publishes video (with RTX) and audio; B receives both. */
static net_t *net_new(uint32_t reorder_ms, const uint8_t *b_down)
{
    keys();
    net_t *n = calloc(1, sizeof *n);
    n->m = udp_loopback(&n->maddr);
    hc_endpoint_cfg_t c;
    ep_cfg(&c, n, K1, K2, RTCP_A);
    ck_assert_int_eq(hc_endpoint_new(&n->a, &c), 0);
    ep_cfg(&c, n, K2, b_down ? b_down : K1, RTCP_B);
    ck_assert_int_eq(hc_endpoint_new(&n->b, &c), 0);
    hc_endpoint_local(n->a, &n->aaddr);
    hc_endpoint_local(n->b, &n->baddr);

    hc_ep_stream_cfg_t sc = {.ssrc = SSRC_V,
                             .rtx_ssrc = SSRC_VRTX,
                             .pt = HC_EP_PT_H264,
                             .rtx_pt = HC_EP_PT_H264_RTX,
                             .clock_rate = 90000,
                             .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                             .history = 256,
                             .first_seq = 65500,
                             .fec_ssrc = g_fec ? SSRC_VFEC : 0};
    ck_assert_int_eq(hc_endpoint_stream_add(n->a, &sc, &n->sv), 0);
    hc_ep_stream_cfg_t ac = {.ssrc = SSRC_A,
                             .pt = HC_EP_PT_OPUS,
                             .clock_rate = 48000,
                             .ext = HC_EP_EXT_AUDIO_LEVEL | HC_EP_EXT_CAPTURE_TIME,
                             .history = 64,
                             .first_seq = 100};
    ck_assert_int_eq(hc_endpoint_stream_add(n->a, &ac, &n->sa), 0);

    hc_ep_track_cfg_t tc = {.ssrc = SSRC_V,
                            .rtx_ssrc = SSRC_VRTX,
                            .clock_rate = 90000,
                            .window = 256,
                            .reorder_ms = reorder_ms,
                            .nack = true,
                            .fec_ssrc = g_fec ? SSRC_VFEC : 0,
                            .nack_by_caller = g_caller_nack};
    ck_assert_int_eq(hc_endpoint_track_add(n->b, &tc, &n->tv), 0);
    hc_ep_track_cfg_t ta = {.ssrc = SSRC_A, .clock_rate = 48000, .window = 64};
    ck_assert_int_eq(hc_endpoint_track_add(n->b, &ta, &n->ta), 0);
    return n;
}

static void net_free(net_t *n)
{
    hc_endpoint_destroy(&n->a);
    hc_endpoint_destroy(&n->b);
    ck_assert_ptr_null(n->a);
    close(n->m);
    free(n);
}

static bool should_drop(net_t *n, const uint8_t *buf, size_t len)
{
    if (n->drop_all_ab) return true;
    if (len < 12 || hc_rtcp_is_rtcp(buf, len)) return false;
    uint32_t ssrc = hc_rd32(buf + 8);
    uint16_t seq = hc_rd16(buf + 2);
    if (ssrc == SSRC_VRTX) {
        if (!n->drop_rtx) return false;
        /* the OSN is encrypted; RTX drops are all-or-nothing */
        return true;
    }
    if (ssrc != SSRC_V) return false;
    for (int i = 0; i < n->ndrop; i++) {
        if (n->drop[i] != seq) continue;
        if (n->drop_once && n->dropped_once[i]) return false;
        n->dropped_once[i] = true;
        return true;
    }
    return false;
}

/* Move everything waiting at M; returns datagrams moved. */
static int relay_once(net_t *n)
{
    int moved = 0;
    for (;;) {
        uint8_t buf[2048];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t r = recvfrom(n->m, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
        if (r < 0) break;
        hc_addr_t from;
        hc_addr_from_sockaddr(&from, (struct sockaddr *)&ss, sl);
        moved++;
        if (hc_addr_eq(&from, &n->aaddr)) {
            if (!hc_rtcp_is_rtcp(buf, (size_t)r) && r >= 12 && n->nwire < 512) {
                n->wire_ssrc[n->nwire] = hc_rd32(buf + 8);
                n->wire_len[n->nwire] = (size_t)r;
                n->wire_twcc[n->nwire++] = wire_twcc_of(buf, (size_t)r);
            }
            if (should_drop(n, buf, (size_t)r)) continue;
            sendto(n->m, buf, (size_t)r, 0, hc_addr_sa(&n->baddr), n->baddr.len);
            n->ab++;
        } else {
            n->baddr = from; /* follow B (rebinding) */
            if (hc_rtcp_is_rtcp(buf, (size_t)r)) n->ba_rtcp++;
            sendto(n->m, buf, (size_t)r, 0, hc_addr_sa(&n->aaddr), n->aaddr.len);
            n->ba++;
        }
    }
    return moved;
}

/* Let everything in flight settle at time now. */
static void pump(net_t *n, uint64_t now)
{
    for (int i = 0; i < 8; i++) {
        hc_endpoint_flush(n->a);
        hc_endpoint_flush(n->b);
        int moved = relay_once(n);
        hc_endpoint_recv(n->b, now);
        hc_endpoint_recv(n->a, now);
        hc_endpoint_poll(n->b, now);
        hc_endpoint_poll(n->a, now);
        if (!moved && i > 1) break;
    }
}

static void send_video(net_t *n, int count, uint64_t *now, uint64_t step_us)
{
    for (int i = 0; i < count; i++) {
        uint8_t payload[600];
        memset(payload, i & 0xff, sizeof payload);
        payload[0] = (uint8_t)i;
        int seq = hc_endpoint_send(n->a, n->sv, payload, sizeof payload, 3000u * (uint32_t)i,
                                   (i % 4) == 3, NULL, *now);
        ck_assert_int_ge(seq, 0);
        pump(n, *now);
        *now += step_us;
    }
}

/* Packets of varying size and content (FEC length recovery), i-th one. */
static size_t var_payload(int i, uint8_t *p)
{
    size_t len = 100 + (size_t)(i * 137) % 1000;
    for (size_t k = 0; k < len; k++) p[k] = (uint8_t)(i * 31 + k * 7);
    return len;
}

static uint32_t sum_of(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++) sum += p[i] * (uint32_t)(i + 1);
    return sum;
}

static void send_video_var(net_t *n, int count, uint64_t *now, uint64_t step_us)
{
    for (int i = 0; i < count; i++) {
        uint8_t payload[1200];
        size_t len = var_payload(i, payload);
        int seq = hc_endpoint_send(n->a, n->sv, payload, len, 3000u * (uint32_t)(i / 3),
                                   (i % 3) == 2, NULL, *now);
        ck_assert_int_ge(seq, 0);
        pump(n, *now);
        *now += step_us;
    }
}

START_TEST(delivers_every_packet)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    send_video(n, 100, &now, 1000);
    ck_assert_int_eq(n->nrec, 100);
    uint64_t wall = hc_wall_us();
    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(n->rec[i].seq, (uint16_t)(65500 + i)); /* wraps past 65535 */
        ck_assert_uint_eq(n->rec[i].ts, 3000u * (uint32_t)i);
        ck_assert_int_eq(n->rec[i].marker, (i % 4) == 3);
        ck_assert_uint_eq(n->rec[i].first, (uint8_t)i);
        ck_assert_uint_eq(n->rec[i].len, 600);
        ck_assert(!n->rec[i].recovered);
        /* abs-capture-time went through, near the wall clock */
        ck_assert_uint_gt(n->rec[i].capture, wall - 10000000u);
        ck_assert_uint_le(n->rec[i].capture, wall + 1000u);
    }
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.packets, 100);
    ck_assert_uint_eq(ts.expected, 100);
    ck_assert_uint_eq(ts.missing, 0);
    ck_assert_uint_eq(ts.lost, 0);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.packets, 100);
    ck_assert_uint_eq(ss.bytes, 60000);
    net_free(n);
}
END_TEST

START_TEST(nack_brings_rtx)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 5);
    n->drop[1] = (uint16_t)(65500 + 6);
    n->drop[2] = (uint16_t)(65500 + 40); /* after the wrap */
    n->ndrop = 3;
    send_video(n, 60, &now, 1000);
    for (int i = 0; i < 5; i++) {
        pump(n, now);
        now += 5000;
    }
    ck_assert_int_eq(n->nrec, 60);
    int rtx = 0;
    for (int i = 0; i < n->nrec; i++) {
        uint16_t s = n->rec[i].seq;
        bool lost = s == n->drop[0] || s == n->drop[1] || s == n->drop[2];
        ck_assert_int_eq(n->rec[i].recovered, lost);
        ck_assert_int_eq(n->rec[i].rtx, lost);
        if (lost) {
            rtx++;
            ck_assert_uint_eq(n->rec[i].len, 600); /* OSN stripped */
            ck_assert_uint_eq(n->rec[i].first, (uint8_t)(uint16_t)(s - 65500));
            ck_assert_uint_eq(n->rec[i].ts, 3000u * (uint16_t)(s - 65500));
            ck_assert_uint_gt(n->rec[i].capture, 0);
        }
    }
    ck_assert_int_eq(rtx, 3);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.missing, 3);
    ck_assert_uint_eq(ts.recovered, 3);
    ck_assert_uint_eq(ts.rtx, 3);
    ck_assert_uint_eq(ts.lost, 0);
    ck_assert_uint_ge(ts.nacks_sent, 3);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.rtx_sent, 3);
    ck_assert_uint_eq(ss.packets, 60); /* retransmissions are not first sends */
    net_free(n);
}
END_TEST

/* A frame's last packet lost with nothing after it: the sender's unasked
 * resend (a tail probe) brings it as an RFC 4588 retransmission. */
START_TEST(resend_tail_unasked)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 7);
    n->ndrop = 1;
    send_video(n, 8, &now, 1000);
    pump(n, now);
    ck_assert_int_eq(n->nrec, 7);
    ck_assert_int_eq(hc_endpoint_resend(n->a, n->sv, (uint16_t)(65500 + 7), now), 0);
    pump(n, now);
    ck_assert_int_eq(n->nrec, 8);
    ck_assert_uint_eq(n->rec[7].seq, (uint16_t)(65500 + 7));
    ck_assert(n->rec[7].rtx);
    ck_assert_uint_eq(n->rec[7].len, 600);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.rtx_sent, 1);
    ck_assert_uint_eq(ss.rtx_unasked, 1);
    ck_assert_uint_eq(ss.nacks_rx, 0);
    /* what the history does not hold, and streams without RTX */
    ck_assert_int_eq(hc_endpoint_resend(n->a, n->sv, 1234, now), -HC_ENOTFOUND);
    ck_assert_int_eq(hc_endpoint_resend(n->a, n->sa, 0, now), -HC_EINVAL);
    ck_assert_int_eq(hc_endpoint_resend(NULL, n->sv, 0, now), -HC_EINVAL);
    net_free(n);
}
END_TEST

/* A burst of NACKs after a loss burst is answered within the RTX rate cap:
 * the rest waits for the receiver's next NACK, and all arrive in the end. */
START_TEST(rtx_rate_cap)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    hc_endpoint_set_rtx_rate(n->a, 200000); /* 25 KB/s; the bucket holds two full packets */
    hc_endpoint_set_rtt(n->b, 100000);      /* NACK rounds 112 ms apart, as on a real link */
    for (int i = 0; i < 12; i++) n->drop[i] = (uint16_t)(65500 + 10 + i);
    n->ndrop = 12;
    send_video(n, 60, &now, 1000);
    for (int i = 0; i < 3; i++) {
        pump(n, now);
        now += 5000;
    }
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_ge(ss.rtx_limited, 1);
    ck_assert_uint_lt(ss.rtx_sent, 12);
    /* the receiver asks again every RTT (100 ms before a measurement) */
    for (int i = 0; i < 300 && n->nrec < 60; i++) {
        pump(n, now);
        now += 5000;
    }
    hc_ep_stream_stats(n->sv, &ss);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    fprintf(stderr,
            "rtx cap: rec %d rtx_sent %llu limited %llu nacks_rx %llu nacks_sent %llu lost %llu\n",
            n->nrec, (unsigned long long)ss.rtx_sent, (unsigned long long)ss.rtx_limited,
            (unsigned long long)ss.nacks_rx, (unsigned long long)ts.nacks_sent,
            (unsigned long long)ts.lost);
    ck_assert_int_eq(n->nrec, 60);
    ck_assert_uint_eq(ss.rtx_sent, 12);
    /* the ones over the bucket came with the next NACK round */
    ck_assert_uint_ge(now - 1060000, 100000);
    hc_endpoint_set_rtx_rate(n->a, 0);
    hc_endpoint_set_rtx_rate(NULL, 1);
    net_free(n);
}
END_TEST

START_TEST(in_order_waits_for_repair)
{
    net_t *n = net_new(200, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    /* the first RTX of seq 10 is lost as well: delivery waits a retry */
    n->drop[0] = (uint16_t)(65500 + 10);
    n->ndrop = 1;
    n->drop_once = true;
    n->drop_rtx = true;
    send_video(n, 15, &now, 1000);
    ck_assert_int_eq(n->nrec, 10); /* held behind the hole */
    n->drop_rtx = false;
    for (int i = 0; i < 20; i++) {
        now += 10000;
        pump(n, now);
    }
    ck_assert_int_eq(n->nrec, 15);
    for (int i = 0; i < 15; i++) {
        ck_assert_uint_eq(n->rec[i].seq, (uint16_t)(65500 + i));
        ck_assert_int_eq(n->rec[i].recovered, i == 10);
        ck_assert_uint_eq(n->rec[i].skipped, 0);
    }
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_ge(ts.nacks_sent, 2);
    ck_assert_uint_eq(ts.lost, 0);
    net_free(n);
}
END_TEST

START_TEST(gives_up_after_retries)
{
    net_t *n = net_new(100, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 7);
    n->ndrop = 1;
    n->drop_rtx = true;
    send_video(n, 20, &now, 1000);
    ck_assert_int_eq(n->nrec, 7);
    for (int i = 0; i < 150; i++) {
        now += 10000;
        pump(n, now);
    }
    ck_assert_int_eq(n->nrec, 19);
    ck_assert_uint_eq(n->rec[7].seq, (uint16_t)(65500 + 8));
    ck_assert_uint_eq(n->rec[7].skipped, 1);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.missing, 1);
    ck_assert_uint_eq(ts.lost, 1);
    ck_assert_uint_eq(ts.recovered, 0);
    /* bounded retries: the default is 4 */
    ck_assert_uint_ge(ts.nacks_sent, 1);
    ck_assert_uint_le(ts.nacks_sent, 4);
    net_free(n);
}
END_TEST

START_TEST(wrong_key_gets_nothing)
{
    uint8_t bad[HC_SRTP_MAX_KEY_LEN];
    memset(bad, 0x42, sizeof bad);
    net_t *n = net_new(0, bad);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    send_video(n, 20, &now, 1000);
    ck_assert_int_eq(n->nrec, 0);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(n->b, &es);
    ck_assert_uint_ge(es.drop_auth, 20);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.packets, 0);
    ck_assert_uint_eq(ts.nacks_sent, 0);
    net_free(n);
}
END_TEST

START_TEST(pli_reaches_publisher)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    hc_endpoint_request_keyframe(n->b, n->tv, now);
    pump(n, now);
    ck_assert_int_eq(n->keyframes, 1);
    ck_assert(!n->fir);
    /* rate limited */
    hc_endpoint_request_keyframe(n->b, n->tv, now + 1000);
    pump(n, now + 1000);
    ck_assert_int_eq(n->keyframes, 1);
    hc_endpoint_request_keyframe(n->b, n->tv, now + 300000);
    pump(n, now + 300000);
    ck_assert_int_eq(n->keyframes, 2);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.plis_rx, 2);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.plis_sent, 2);
    net_free(n);
}
END_TEST

START_TEST(reports_carry_rtt_and_loss)
{
    g_report_ms = 50;
    net_t *n = net_new(0, NULL);
    g_report_ms = 0;
    /* real clock: RTT comes from NTP times (wall clock) and DLSR (our clock) */
    uint64_t now = hc_now_us();
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 3);
    n->ndrop = 1;
    n->drop_rtx = true;
    for (int i = 0; i < 10; i++) {
        uint8_t p[100] = {0};
        hc_endpoint_send(n->a, n->sv, p, sizeof p, 90u * (uint32_t)i, false, NULL, now);
    }
    pump(n, hc_now_us());
    /* A's SR reaches B at A's next report; B's next RR carries the loss
     * and LSR/DLSR back to A. */
    usleep(60000);
    hc_endpoint_poll(n->a, hc_now_us());
    relay_once(n);
    hc_endpoint_recv(n->b, hc_now_us());
    usleep(10000);
    hc_endpoint_poll(n->b, hc_now_us());
    relay_once(n);
    hc_endpoint_recv(n->a, hc_now_us());
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_ge(ts.srs_rx, 1);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    /* one of ten lost in the interval */
    ck_assert(ss.loss > 0.05 && ss.loss < 0.2);
    /* DLSR takes out the 10 ms B held the SR; loopback is fast */
    ck_assert(ss.rtt_ms >= 0.0 && ss.rtt_ms < 8.0);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(n->a, &es);
    ck_assert_uint_ge(es.rtcp_rx, 2);
    net_free(n);
}
END_TEST

START_TEST(keepalive_when_idle)
{
    keys();
    net_t *n = calloc(1, sizeof *n);
    n->m = udp_loopback(&n->maddr);
    hc_endpoint_cfg_t c;
    ep_cfg(&c, n, K2, K1, RTCP_B);
    c.keepalive_ms = 500;
    ck_assert_int_eq(hc_endpoint_new(&n->b, &c), 0);
    hc_srtp_t dec;
    ck_assert_int_eq(hc_srtp_init(&dec, HC_SRTP_AEAD_AES_128_GCM, K2, 28, HC_SRTP_RECV), 0);
    uint64_t now = 5000000;
    int got = 0;
    hc_endpoint_start(n->b, now); /* one at once: the relay learns our address */
    for (int step = 0; step <= 4; step++) {
        hc_endpoint_poll(n->b, now + (uint64_t)step * 250000u);
        uint8_t buf[2048] __attribute__((aligned(8)));
        ssize_t r;
        while ((r = recv(n->m, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
            ck_assert(hc_rtcp_is_rtcp(buf, (size_t)r));
            ck_assert_uint_eq(hc_rd32(buf + 4), RTCP_B);
            int len = hc_srtp_unprotect_rtcp(&dec, buf, (size_t)r);
            ck_assert_int_gt(len, 0);
            hc_rtcp_iter_t it;
            hc_rtcp_pkt_t pkt;
            hc_rtcp_iter_init(&it, buf, (size_t)len);
            ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
            ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_RR);
            ck_assert_int_eq(hc_rtcp_next(&it, &pkt), 1);
            ck_assert_int_eq(pkt.kind, HC_RTCP_KIND_SDES);
            got++;
        }
    }
    /* at 0, 0.5 s and 1.0 s */
    ck_assert_int_eq(got, 3);
    hc_srtp_fini(&dec);
    hc_endpoint_destroy(&n->b);
    close(n->m);
    free(n);
}
END_TEST

START_TEST(rebind_moves_port)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    send_video(n, 5, &now, 1000);
    hc_addr_t before = n->baddr;
    ck_assert_int_eq(hc_endpoint_rebind(n->b, now), 0);
    pump(n, now); /* the keepalive from the new socket tells M */
    ck_assert(!hc_addr_eq(&before, &n->baddr));
    hc_addr_t local;
    hc_endpoint_local(n->b, &local);
    ck_assert(hc_addr_eq(&local, &n->baddr));
    send_video(n, 5, &now, 1000);
    ck_assert_int_eq(n->nrec, 10);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(n->b, &es);
    ck_assert_uint_eq(es.rebinds, 1);
    net_free(n);
}
END_TEST

START_TEST(audio_level_and_whole_packets)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    hc_ep_send_opts_t o = {.capture_wall_us = 1700000000000000ull,
                           .has_audio_level = true,
                           .voice = true,
                           .audio_level = 33};
    uint8_t opus[40] = {0x78};
    ck_assert_int_eq(hc_endpoint_send(n->a, n->sa, opus, sizeof opus, 960, false, &o, now), 100);
    /* a whole packet from the caller, with an element of its own (id 9) */
    uint8_t ext[16], pkt[200];
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, ext, sizeof ext);
    uint8_t nine[3] = {1, 2, 3};
    hc_rtpext_add(&b, 9, nine, 3);
    uint16_t prof;
    size_t el;
    ck_assert_int_ge(hc_rtpext_finish(&b, &prof, &el), 0);
    hc_rtp_hdr_t h = {.pt = HC_EP_PT_OPUS,
                      .seq = 500,
                      .ts = 1920,
                      .ssrc = 0xdeadbeef,
                      .extension = true,
                      .ext_profile = prof,
                      .ext_data = ext,
                      .ext_len = el};
    int len = hc_rtp_write(&h, opus, sizeof opus, pkt, sizeof pkt);
    ck_assert_int_gt(len, 0);
    ck_assert_int_eq(hc_endpoint_send_rtp(n->a, n->sa, pkt, (size_t)len, &o, now), 500);
    ck_assert_int_eq(hc_endpoint_send(n->a, n->sa, opus, sizeof opus, 2880, false, NULL, now), 501);
    pump(n, now);
    ck_assert_int_eq(n->nrec, 3);
    ck_assert(n->rec[0].has_al);
    ck_assert_uint_eq(n->rec[0].level, 33);
    ck_assert_uint_eq(n->rec[0].capture, 1700000000000000ull);
    ck_assert_uint_eq(n->rec[1].seq, 500);
    ck_assert_uint_eq(n->rec[1].ts, 1920);
    ck_assert(n->rec[1].has_al);
    ck_assert(!n->rec[2].has_al);
    ck_assert_uint_eq(n->rec[2].seq, 501);
    net_free(n);
}
END_TEST

/* Capture what A sends, feed B every truncation and some garbage. */
START_TEST(bad_input_is_counted)
{
    net_t *n = net_new(50, NULL);
    uint64_t now = 1000000;
    uint8_t p[300];
    memset(p, 7, sizeof p);
    hc_endpoint_send(n->a, n->sv, p, sizeof p, 1, true, NULL, now);
    hc_endpoint_flush(n->a);
    uint8_t wire[2048];
    ssize_t r = recv(n->m, wire, sizeof wire, 0);
    ck_assert_int_gt(r, 0);
    for (ssize_t l = 0; l < r; l++) {
        uint8_t *c = malloc(l ? (size_t)l : 1);
        memcpy(c, wire, (size_t)l);
        hc_endpoint_input(n->b, c, (size_t)l, NULL, now);
        free(c);
    }
    ck_assert_int_eq(n->nrec, 0);
    uint64_t seed = 99;
    for (int i = 0; i < 2000; i++) {
        uint8_t g[256];
        size_t l = hc_test_rand(&seed) % sizeof g;
        for (size_t k = 0; k < l; k++) g[k] = (uint8_t)hc_test_rand(&seed);
        if (i & 1 && l >= 12) {
            g[0] = 0x80;
            hc_wr32(g + 8, SSRC_V); /* known SSRC: must fail authentication */
        }
        if (i % 3 == 0 && l >= 8) {
            g[0] = 0x80;
            g[1] = 201;
        }
        hc_endpoint_input(n->b, g, l, NULL, now);
    }
    /* the intact packet still goes through afterwards */
    hc_endpoint_input(n->b, wire, (size_t)r, NULL, now);
    ck_assert_int_eq(n->nrec, 1);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(n->b, &es);
    ck_assert_uint_gt(es.drop_malformed + es.drop_auth + es.drop_unknown, 2000);
    ck_assert_uint_gt(es.drop_auth, 100);
    /* a replay is refused */
    hc_endpoint_input(n->b, wire, (size_t)r, NULL, now);
    hc_endpoint_stats(n->b, &es);
    ck_assert_uint_eq(es.drop_replay, 1);
    ck_assert_int_eq(n->nrec, 1);
    net_free(n);
}
END_TEST

START_TEST(fec_round_trip_with_drops)
{
    g_fec = true;
    g_hold_ms = 30;
    net_t *n = net_new(0, NULL);
    g_fec = false;
    g_hold_ms = 0;
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    ck_assert_int_eq(hc_endpoint_stream_fec(n->sv, 5), 0);
    /* One packet of every group of 5 but the first, at every position in
     * turn (the last one too: rebuilt before anything after it came), and
     * no retransmission gets through: only FEC can bring them back. */
    for (int g = 1; g < 17; g++) n->drop[n->ndrop++] = (uint16_t)(65500 + 5 * g + g % 5);
    n->drop_rtx = true;
    send_video_var(n, 100, &now, 1000);
    for (int i = 0; i < 5; i++) {
        now += 10000;
        pump(n, now);
    }
    ck_assert_int_eq(n->nrec, 100);
    int fec = 0;
    for (int i = 0; i < n->nrec; i++) {
        rec_t *r = &n->rec[i];
        int k = (uint16_t)(r->seq - 65500);
        bool dropped = false;
        for (int d = 0; d < n->ndrop; d++) dropped |= n->drop[d] == r->seq;
        ck_assert_int_eq(r->fec, dropped);
        ck_assert_int_eq(r->recovered, dropped);
        ck_assert(!r->rtx);
        uint8_t want[1200];
        size_t wl = var_payload(k, want);
        ck_assert_uint_eq(r->len, wl);
        ck_assert_uint_eq(r->sum, sum_of(want, wl));
        ck_assert_uint_eq(r->ts, 3000u * (uint32_t)(k / 3));
        ck_assert_int_eq(r->marker, (k % 3) == 2);
        ck_assert_uint_gt(r->capture, 0); /* extensions are rebuilt too */
        fec += r->fec;
    }
    ck_assert_int_eq(fec, 16);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.fec_rx, 20);
    ck_assert_uint_eq(ts.fec_recovered, 16);
    ck_assert_uint_eq(ts.missing, 16);
    ck_assert_uint_eq(ts.recovered, 16);
    ck_assert_uint_eq(ts.rtx, 0);
    ck_assert_uint_eq(ts.lost, 0);
    ck_assert_uint_eq(ts.duplicates, 0);
    ck_assert_uint_eq(ts.fec_dropped, 0);
    /* FEC came within the 30 ms hold every time: nothing was NACKed */
    ck_assert_uint_eq(ts.nacks_sent, 0);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.fec_group, 5);
    ck_assert_uint_eq(ss.fec_sent, 20);
    ck_assert_uint_gt(ss.fec_bytes, 20 * 100);
    ck_assert_uint_eq(ss.packets, 100);
    ck_assert_uint_eq(ss.nacks_rx, 0);
    net_free(n);
}
END_TEST

START_TEST(fec_in_order_and_nack_fallback)
{
    g_fec = true;
    g_hold_ms = 1000;
    net_t *n = net_new(100, NULL);
    g_fec = false;
    g_hold_ms = 0;
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    ck_assert_int_eq(hc_endpoint_stream_fec(n->sv, 4), 0);
    /* group 2 (seq +8..+11) loses one packet: FEC; group 4 (+16..+19)
     * loses two: its repair packet cannot help, and the NACK goes out as
     * soon as that repair packet arrived, not after the hold. */
    n->drop[0] = (uint16_t)(65500 + 9);
    n->drop[1] = (uint16_t)(65500 + 16);
    n->drop[2] = (uint16_t)(65500 + 18);
    n->ndrop = 3;
    n->drop_once = true;
    send_video_var(n, 24, &now, 1000);
    for (int i = 0; i < 10; i++) {
        now += 10000;
        pump(n, now);
    }
    ck_assert_int_eq(n->nrec, 24);
    for (int i = 0; i < 24; i++) {
        rec_t *r = &n->rec[i];
        ck_assert_uint_eq(r->seq, (uint16_t)(65500 + i)); /* in order */
        ck_assert_int_eq(r->fec, i == 9);
        ck_assert_int_eq(r->rtx, i == 16 || i == 18);
        ck_assert_uint_eq(r->skipped, 0);
    }
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.fec_recovered, 1);
    ck_assert_uint_eq(ts.rtx, 2);
    ck_assert_uint_eq(ts.lost, 0);
    ck_assert_uint_eq(ts.nacks_sent, 2);
    net_free(n);
}
END_TEST

START_TEST(fec_reports_loss_before_repair)
{
    g_fec = true;
    net_t *n = net_new(0, NULL);
    g_fec = false;
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    ck_assert_int_eq(hc_endpoint_stream_fec(n->sv, 4), 0);
    /* one in every 4: 25 % lost on the way, all of it repaired */
    for (int g = 1; g < 16; g++) n->drop[n->ndrop++] = (uint16_t)(65500 + 4 * g + 1);
    n->drop_rtx = true;
    send_video_var(n, 64, &now, 1000);
    /* B's next RR tells A the loss the link had, not what is left */
    for (int i = 0; i < 30; i++) {
        now += 50000;
        pump(n, now);
    }
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.fec_recovered, 15);
    ck_assert_uint_eq(ts.lost, 0);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert(ss.loss > 0.2 && ss.loss < 0.27);
    /* off again: no more repair packets */
    ck_assert_int_eq(hc_endpoint_stream_fec(n->sv, 0), 0);
    n->ndrop = 0;
    uint64_t before = ss.fec_sent;
    send_video_var(n, 12, &now, 1000);
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.fec_sent, before);
    ck_assert_uint_eq(ss.fec_group, 0);
    net_free(n);
}
END_TEST

START_TEST(fec_api_errors)
{
    keys();
    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    ck_assert_uint_eq(c.fec_nack_hold_ms, 0);
    hc_addr_parse("127.0.0.1:9", &c.remote);
    hc_endpoint_t *ep = NULL;
    ck_assert_int_eq(hc_endpoint_new(&ep, &c), 0);
    hc_ep_stream_cfg_t sc = {.ssrc = 5, .rtx_ssrc = 6, .clock_rate = 90000};
    hc_ep_stream_t *s, *s2;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), 0);
    ck_assert_int_eq(hc_endpoint_stream_fec(s, 5), -HC_EINVAL); /* no fec_ssrc */
    ck_assert_int_eq(hc_endpoint_stream_fec(NULL, 5), -HC_EINVAL);
    sc.ssrc = 7;
    sc.rtx_ssrc = 0;
    sc.fec_ssrc = 7;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s2), -HC_EINVAL); /* same as ssrc */
    sc.fec_ssrc = 6;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s2), -HC_EEXIST); /* s's RTX */
    sc.fec_ssrc = 8;
    sc.fec_pt = 200;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s2), -HC_EINVAL);
    sc.fec_pt = 0;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s2), 0);
    ck_assert_int_eq(hc_endpoint_stream_fec(s2, HC_FEC_MAX_GROUP + 1), -HC_EINVAL);
    ck_assert_int_eq(hc_endpoint_stream_fec(s2, HC_FEC_MAX_GROUP), 0);
    ck_assert_int_eq(hc_endpoint_stream_fec(s2, 0), 0);
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(s2, &ss);
    ck_assert_uint_eq(ss.fec_group, 0);

    hc_ep_track_cfg_t tc = {.ssrc = 9, .clock_rate = 90000, .window = 64, .fec_ssrc = 10};
    hc_ep_track_t *t;
    tc.fec_window = 48;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), -HC_EINVAL);
    tc.fec_window = 2048;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), -HC_EINVAL);
    tc.fec_window = 0;
    tc.fec_ssrc = 9;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), -HC_EINVAL);
    tc.fec_ssrc = 10;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), 0);
    /* the FEC SSRC belongs to the track but is not the track */
    ck_assert_ptr_null(hc_endpoint_track_find(ep, 10));
    hc_ep_track_cfg_t tc2 = {.ssrc = 10, .clock_rate = 90000, .window = 64};
    hc_ep_track_t *t2;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc2, &t2), -HC_EEXIST);
    /* garbage on the FEC SSRC: decrypted and refused, counted */
    uint8_t junk[40] = {0x80, HC_EP_PT_FLEXFEC, 0, 1, 0, 0, 0, 0, 0, 0, 0, 10};
    hc_endpoint_input(ep, junk, sizeof junk, NULL, 0);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(ep, &es);
    ck_assert_uint_eq(es.drop_auth, 1);
    hc_endpoint_track_remove(ep, t);
    hc_endpoint_destroy(&ep);
}
END_TEST

/* ---- edge hooks (added by the edge polish) ---- */

/* Every send says which transport-wide number it used and what it cost on
 * the wire; a failed send takes no number; an RTX the endpoint sends on
 * its own comes through the `sent` event with the number it carries. */
START_TEST(twcc_reported_per_send)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    /* the gap shows with the last packet: its NACK is answered after it */
    n->drop[0] = (uint16_t)(65500 + 8);
    n->ndrop = 1;
    int32_t tw[10];
    uint32_t wire[10];
    for (int i = 0; i < 10; i++) {
        uint8_t p[300 + 10 * 10];
        memset(p, i, sizeof p);
        tw[i] = -7;
        hc_ep_send_opts_t o = {.twcc_out = &tw[i], .wire_out = &wire[i]};
        ck_assert_int_ge(
            hc_endpoint_send(n->a, n->sv, p, 300 + (size_t)i * 10, 3000u * i, false, &o, now), 0);
        if (i == 5) {
            /* too large: refused, and no number is used up */
            uint8_t big[2000] = {0};
            int32_t t2 = -7;
            hc_ep_send_opts_t o2 = {.twcc_out = &t2};
            ck_assert_int_eq(hc_endpoint_send(n->a, n->sv, big, sizeof big, 0, false, &o2, now),
                             -HC_ENOSPC);
            ck_assert_int_eq(t2, -7);
        }
        pump(n, now);
        now += 1000;
    }
    for (int i = 0; i < 10; i++) ck_assert_int_eq(tw[i], i);
    /* what the wire carried agrees, and the wire size is the datagram's
     * plus UDP/IPv4 */
    ck_assert_int_ge(n->nwire, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_uint_eq(n->wire_ssrc[i], SSRC_V);
        ck_assert_int_eq(n->wire_twcc[i], tw[i]);
        ck_assert_uint_eq(wire[i], n->wire_len[i] + 28);
    }
    /* audio without the extension: -1 */
    int32_t ta = -7;
    uint8_t opus[30] = {0x78};
    hc_ep_send_opts_t oa = {.twcc_out = &ta};
    ck_assert_int_ge(hc_endpoint_send(n->a, n->sa, opus, sizeof opus, 960, false, &oa, now), 0);
    ck_assert_int_eq(ta, -1);
    /* B NACKed seq 8: A's RTX took number 10, reported by the event */
    for (int i = 0; i < 5; i++) {
        pump(n, now);
        now += 5000;
    }
    ck_assert_int_eq(n->nsent, 1);
    ck_assert_int_eq(n->sent[0].kind, HC_EP_SENT_RTX);
    ck_assert_uint_eq(n->sent_ssrc[0], SSRC_V);
    ck_assert_int_eq(n->sent[0].twcc, 10);
    bool seen = false;
    for (int i = 0; i < n->nwire; i++)
        if (n->wire_ssrc[i] == SSRC_VRTX) {
            ck_assert_int_eq(n->wire_twcc[i], 10);
            ck_assert_uint_eq(n->sent[0].wire, n->wire_len[i] + 28);
            seen = true;
        }
    ck_assert(seen);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.rtx, 1);
    net_free(n);
}
END_TEST

/* Probe padding: retransmissions of recent packets that fit the size
 * asked, walking back through them, else RFC 3550 padding-only packets;
 * each with the next transport-wide number; B takes none as media. */
START_TEST(padding_for_probes)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    int32_t tw = -7;
    uint32_t wire = 0;
    hc_ep_send_opts_t o = {.twcc_out = &tw, .wire_out = &wire};
    /* nothing sent yet: padding only, bounded by the 255 padding octets */
    int w = hc_endpoint_send_padding(n->a, n->sv, 1000, &o, now);
    ck_assert_int_gt(w, 0);
    ck_assert_int_le(w, 12 + 8 + 255 + 16 + 28);
    ck_assert_int_eq(tw, 0);
    ck_assert_uint_eq(wire, (uint32_t)w);
    send_video(n, 8, &now, 1000); /* 600-byte payloads, numbers 1..8 */
    int nrec = n->nrec;
    int32_t expect = 9;
    for (int i = 0; i < 4; i++) {
        w = hc_endpoint_send_padding(n->a, n->sv, 900, &o, now);
        ck_assert_int_gt(w, 600);
        ck_assert_int_le(w, 900);
        ck_assert_int_eq(tw, expect++);
    }
    /* too small for any packet: padding only, about the size asked */
    w = hc_endpoint_send_padding(n->a, n->sv, 200, &o, now);
    ck_assert_int_ge(w, 190);
    ck_assert_int_le(w, 200);
    ck_assert_int_eq(tw, expect++);
    pump(n, now);
    ck_assert_int_eq(n->nrec, nrec); /* duplicates and padding: nothing delivered */
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(n->sv, &ss);
    ck_assert_uint_eq(ss.padding_rtx, 4);
    ck_assert_uint_eq(ss.padding_only, 2);
    ck_assert_uint_eq(ss.rtx_sent, 0);
    ck_assert_uint_eq(ss.packets, 8);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.duplicates, 4);
    ck_assert_uint_eq(ts.packets, 8);
    /* the retransmitted ones were four different recent packets, newest
     * first, and everything went on the RTX SSRC with its number */
    int rtx_seen = 0;
    int32_t want = 0;
    for (int i = 0; i < n->nwire; i++) {
        if (n->wire_ssrc[i] != SSRC_VRTX) continue;
        ck_assert_int_eq(n->wire_twcc[i], want);
        want = want == 0 ? 9 : want + 1;
        rtx_seen++;
    }
    ck_assert_int_eq(rtx_seen, 6);
    /* a stream without RTX cannot probe */
    ck_assert_int_eq(hc_endpoint_send_padding(n->a, n->sa, 500, NULL, now), -HC_EINVAL);
    ck_assert_int_eq(hc_endpoint_send_padding(NULL, n->sv, 500, NULL, now), -HC_EINVAL);
    net_free(n);
}
END_TEST

/* nack_by_caller: the endpoint sends no NACK of its own; the caller's
 * list brings the retransmissions; a gap nobody asks for is given up
 * after nack_max_age_ms. */
START_TEST(caller_nacks)
{
    g_caller_nack = true;
    net_t *n = net_new(0, NULL);
    g_caller_nack = false;
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 3);
    n->drop[1] = (uint16_t)(65500 + 36); /* after the wrap */
    n->drop[2] = (uint16_t)(65500 + 20); /* never asked for */
    n->ndrop = 3;
    n->drop_once = true;
    send_video(n, 40, &now, 1000);
    for (int i = 0; i < 10; i++) {
        pump(n, now);
        now += 10000;
    }
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.nacks_sent, 0);
    ck_assert_uint_eq(ts.missing, 3);
    ck_assert_int_eq(n->nrec, 37);
    uint16_t ask[2] = {(uint16_t)(65500 + 36), (uint16_t)(65500 + 3)};
    ck_assert_int_eq(hc_endpoint_send_nack(n->b, n->tv, ask, 2, now), 0);
    pump(n, now);
    ck_assert_int_eq(n->nrec, 39);
    ck_assert(n->rec[37].rtx && n->rec[38].rtx);
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.nacks_sent, 2);
    ck_assert_uint_eq(ts.rtx, 2);
    /* the unasked one is given up after nack_max_age_ms (1000) */
    ck_assert_uint_eq(ts.lost, 0);
    for (int i = 0; i < 120; i++) {
        pump(n, now);
        now += 10000;
    }
    hc_ep_track_stats(n->tv, &ts);
    ck_assert_uint_eq(ts.lost, 1);
    ck_assert_uint_eq(ts.recovered, 2);
    ck_assert_uint_eq(ts.nacks_sent, 2);
    /* errors */
    ck_assert_int_eq(hc_endpoint_send_nack(n->b, n->tv, ask, 0, now), -HC_EINVAL);
    ck_assert_int_eq(hc_endpoint_send_nack(n->b, NULL, ask, 1, now), -HC_EINVAL);
    /* a long list goes in several packets */
    uint16_t many[300];
    for (int i = 0; i < 300; i++) many[i] = (uint16_t)(1000 + 2 * i);
    hc_endpoint_stats_t before, after;
    hc_endpoint_stats(n->b, &before);
    ck_assert_int_eq(hc_endpoint_send_nack(n->b, n->tv, many, 300, now), 0);
    hc_endpoint_stats(n->b, &after);
    ck_assert_uint_eq(after.rtcp_tx - before.rtcp_tx, 3);
    net_free(n);
}
END_TEST

/* ---- against the relay's router: probes count in its feedback ---- */

typedef struct rly {
    uint64_t now;
    hc_loop_t *loop;
    hc_pool_t pool;
    hc_udp_rx_t rx;
    int fd;
    hc_addr_t addr;
    hc_router_t *r;
    hc_watch_t w;
    /* the transport-wide feedback the endpoint got */
    uint8_t fb[8][1500];
    size_t fblen[8];
    int nfb;
} rly_t;

static uint64_t rly_clock(void *ud)
{
    return ((rly_t *)ud)->now;
}

static void rly_readable(hc_loop_t *loop, hc_watch_t *w, uint32_t events)
{
    (void)events;
    rly_t *rl = w->ud;
    hc_pkt_t *pk[HC_UDP_BATCH];
    for (;;) {
        int n =
            hc_udp_recv_batch(rl->fd, &rl->rx, &rl->pool, pk, HC_UDP_BATCH, hc_loop_now_us(loop));
        if (n <= 0) break;
        for (int i = 0; i < n; i++) hc_router_input(rl->r, pk[i]);
    }
}

static void rly_rtcp(void *ud, const uint8_t *rtcp, size_t len)
{
    rly_t *rl = ud;
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t p;
    hc_rtcp_iter_init(&it, rtcp, len);
    while (hc_rtcp_next(&it, &p) == 1)
        if (p.kind == HC_RTCP_KIND_TWCC && rl->nfb < 8 && p.u.fb.fci_len <= 1500) {
            memcpy(rl->fb[rl->nfb], p.u.fb.fci, p.u.fb.fci_len);
            rl->fblen[rl->nfb++] = p.u.fb.fci_len;
        }
}

static void rly_pump(rly_t *rl, hc_endpoint_t *ep)
{
    for (int i = 0; i < 6; i++) {
        hc_endpoint_flush(ep);
        hc_loop_run_once(rl->loop, 0);
        hc_endpoint_recv(ep, rl->now);
    }
}

START_TEST(relay_counts_probe_padding)
{
    keys();
    rly_t *rl = calloc(1, sizeof *rl);
    rl->now = 5000000;
    ck_assert_int_eq(hc_loop_new(&rl->loop), 0);
    hc_loop_set_clock(rl->loop, rly_clock, rl);
    ck_assert_int_eq(hc_pool_init(&rl->pool, 256), 0);
    hc_udp_rx_init(&rl->rx);
    hc_addr_t bind;
    hc_addr_parse("127.0.0.1:0", &bind);
    ck_assert_int_eq(hc_udp_open(&bind, 0, &rl->fd), 0);
    ck_assert_int_eq(hc_udp_local(rl->fd, &rl->addr), 0);
    hc_router_cfg_t rc;
    hc_router_cfg_default(&rc);
    rc.max_legs = 4;
    rc.max_instreams = 4;
    rc.max_tracks = 4;
    hc_router_events_t rev = {0};
    ck_assert_int_eq(hc_router_new(&rl->r, &rc, rl->loop, rl->fd, &rl->pool, &rev), 0);
    ck_assert_int_eq(hc_loop_watch(rl->loop, &rl->w, rl->fd, HC_EV_IN, rly_readable, rl), 0);
    hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM, .rtcp_ssrc = RTCP_A, .relay_ssrc = 77};
    memcpy(lc.key_up, K1, sizeof lc.key_up);
    memcpy(lc.key_down, K2, sizeof lc.key_down);
    hc_leg_t *leg;
    ck_assert_int_eq(hc_router_leg_add(rl->r, &lc, &leg), 0);
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_VIDEO,
                            .ssrc = SSRC_V,
                            .rtx_ssrc = SSRC_VRTX,
                            .pt = HC_EP_PT_H264,
                            .rtx_pt = HC_EP_PT_H264_RTX,
                            .clock_rate = 90000};
    hc_instream_t *in;
    ck_assert_int_eq(hc_router_instream_add(rl->r, leg, &ic, &in), 0);

    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    memcpy(c.key_up, K1, sizeof c.key_up);
    memcpy(c.key_down, K2, sizeof c.key_down);
    c.rtcp_ssrc = RTCP_A;
    c.remote = rl->addr;
    hc_addr_parse("127.0.0.1:0", &c.bind);
    c.ev.ud = rl;
    c.ev.rtcp = rly_rtcp;
    hc_endpoint_t *ep;
    ck_assert_int_eq(hc_endpoint_new(&ep, &c), 0);
    hc_ep_stream_cfg_t sc = {.ssrc = SSRC_V,
                             .rtx_ssrc = SSRC_VRTX,
                             .pt = HC_EP_PT_H264,
                             .rtx_pt = HC_EP_PT_H264_RTX,
                             .clock_rate = 90000,
                             .ext = HC_EP_EXT_TWCC,
                             .history = 64,
                             .first_seq = 4000};
    hc_ep_stream_t *s;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), 0);
    hc_endpoint_start(ep, rl->now);
    rly_pump(rl, ep);
    /* numbers 0..5 media, 6..8 retransmissions of recent packets, 9..11
     * padding only */
    for (int i = 0; i < 6; i++) {
        uint8_t p[500];
        memset(p, i, sizeof p);
        ck_assert_int_ge(hc_endpoint_send(ep, s, p, sizeof p, 3000u * i, true, NULL, rl->now), 0);
        rl->now += 2000;
        rly_pump(rl, ep);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_int_gt(hc_endpoint_send_padding(ep, s, i < 3 ? 700 : 250, NULL, rl->now), 0);
        rl->now += 2000;
        rly_pump(rl, ep);
    }
    hc_ep_stream_stats_t ss;
    hc_ep_stream_stats(s, &ss);
    ck_assert_uint_eq(ss.padding_rtx, 3);
    ck_assert_uint_eq(ss.padding_only, 3);
    for (int i = 0; i < 60; i++) {
        rl->now += 2000;
        rly_pump(rl, ep);
    }
    ck_assert_int_ge(rl->nfb, 1);
    bool got[12] = {false};
    for (int f = 0; f < rl->nfb; f++) {
        hc_twcc_fb_t hdr;
        hc_twcc_pkt_t pk[64];
        size_t np;
        ck_assert_int_gt(hc_twcc_parse(rl->fb[f], rl->fblen[f], &hdr, pk, 64, &np), 0);
        for (size_t i = 0; i < np; i++) {
            uint16_t seq = (uint16_t)(hdr.base_seq + i);
            if (seq < 12 && pk[i].received) got[seq] = true;
        }
    }
    for (int i = 0; i < 12; i++) ck_assert_msg(got[i], "transport-wide %d not received", i);
    hc_router_counters_t rcn;
    hc_router_counters(rl->r, &rcn);
    hc_endpoint_destroy(&ep);
    hc_router_destroy(&rl->r);
    hc_loop_unwatch(&rl->w);
    hc_udp_rx_fini(&rl->rx, &rl->pool);
    hc_pool_fini(&rl->pool);
    hc_loop_destroy(&rl->loop);
    close(rl->fd);
    free(rl);
}
END_TEST

START_TEST(api_errors)
{
    keys();
    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    hc_endpoint_t *ep = NULL;
    ck_assert_int_eq(hc_endpoint_new(&ep, &c), -HC_EINVAL); /* no remote */
    hc_addr_parse("127.0.0.1:9", &c.remote);
    c.suite = (hc_srtp_suite_t)7;
    ck_assert_int_eq(hc_endpoint_new(&ep, &c), -HC_EINVAL);
    c.suite = HC_SRTP_AES_CM_128_HMAC_SHA1_80;
    c.max_streams = 1;
    ck_assert_int_eq(hc_endpoint_new(&ep, &c), 0);
    hc_ep_stream_cfg_t sc = {.ssrc = 5, .clock_rate = 90000, .history = 100};
    hc_ep_stream_t *s;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), -HC_EINVAL); /* not a power of 2 */
    sc.history = 0;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), 0);
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), -HC_EEXIST);
    sc.ssrc = 6;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), -HC_EFULL);
    hc_ep_track_cfg_t tc = {.ssrc = 9, .clock_rate = 48000, .window = 8};
    hc_ep_track_t *t;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), -HC_EINVAL);
    tc.window = 64;
    ck_assert_int_eq(hc_endpoint_track_add(ep, &tc, &t), 0);
    ck_assert_ptr_eq(hc_endpoint_track_find(ep, 9), t);
    ck_assert_ptr_null(hc_endpoint_track_find(ep, 10));
    hc_endpoint_track_remove(ep, t);
    ck_assert_ptr_null(hc_endpoint_track_find(ep, 9));
    uint8_t big[2000] = {0};
    /* s is still the stream of ssrc 5; remove it and add it again */
    hc_endpoint_stream_remove(ep, s);
    sc.ssrc = 5;
    ck_assert_int_eq(hc_endpoint_stream_add(ep, &sc, &s), 0);
    ck_assert_int_eq(hc_endpoint_send(ep, s, big, sizeof big, 0, false, NULL, 0), -HC_ENOSPC);
    ck_assert_int_eq(hc_endpoint_send_rtp(ep, s, big, 5, NULL, 0), -HC_ETRUNC);
    hc_endpoint_destroy(&ep);
    hc_endpoint_destroy(&ep);
}
END_TEST

/* (added by downlink layers) B reports the transport-wide numbers of what
 * it received, lost ones included, every 50 ms from its rtcp_ssrc, in
 * feedback proto/twcc parses; with twcc_fb_off it stays quiet. */
START_TEST(twcc_feedback_for_received)
{
    net_t *n = net_new(0, NULL);
    uint64_t now = 1000000;
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    n->drop[0] = (uint16_t)(65500 + 4);
    n->ndrop = 1;
    n->drop_rtx = true; /* the gap stays a loss */
    for (int i = 0; i < 20; i++) {
        uint8_t p[200];
        memset(p, i, sizeof p);
        ck_assert_int_ge(hc_endpoint_send(n->a, n->sv, p, sizeof p, 3000u * i, true, NULL, now), 0);
        /* audio carries no transport-wide number: not reported */
        ck_assert_int_ge(hc_endpoint_send(n->a, n->sa, p, 40, 960u * i, false, NULL, now), 0);
        pump(n, now);
        now += 5000;
    }
    for (int i = 0; i < 30; i++) {
        pump(n, now);
        now += 5000;
    }
    ck_assert_int_ge(n->twcc_fbs, 2); /* 100 ms of sending, one per 50 ms */
    ck_assert_int_le(n->twcc_fbs, 5);
    ck_assert_uint_eq(n->twcc_sender, RTCP_B);
    ck_assert_uint_eq(n->twcc_media, SSRC_V);
    for (int i = 1; i < n->twcc_fbs && i < 64; i++)
        ck_assert_uint_eq((uint8_t)(n->twcc_fb_count[i - 1] + 1), n->twcc_fb_count[i]);
    /* numbers 0..19 each reported once, 4 as lost */
    /* Every number that went on the wire (media, and RTX answering B's
     * NACKs, which M drops) is reported once, in order, received or not,
     * up to the highest received one. */
    int highest = -1, nwire = 0, nrecv = 0;
    bool expect[1024] = {false}, used[1024] = {false};
    for (int i = 0; i < n->nwire; i++) {
        int32_t tw = n->wire_twcc[i];
        if (tw < 0 || tw >= 1024) continue;
        used[tw] = true;
        nwire++;
        expect[tw] = n->wire_ssrc[i] == SSRC_V && tw != 4;
        if (expect[tw]) {
            nrecv++;
            if (tw > highest) highest = tw;
        }
    }
    ck_assert_int_ge(nwire, 20);
    ck_assert_int_eq(n->twcc_n, highest + 1);
    for (int i = 0; i < n->twcc_n; i++) {
        ck_assert_uint_eq(n->twcc_seen[i], i);
        ck_assert(used[i]);
        ck_assert(n->twcc_recv[i] == expect[i]);
    }
    ck_assert(!n->twcc_recv[4]);
    hc_endpoint_stats_t st;
    hc_endpoint_stats(n->b, &st);
    ck_assert_uint_eq(st.twcc_rx, (uint64_t)nrecv);
    ck_assert_uint_eq(st.twcc_fbs, (uint64_t)n->twcc_fbs);
    net_free(n);

    /* Switched off: nothing. */
    n = net_new(0, NULL);
    hc_endpoint_destroy(&n->b);
    hc_endpoint_cfg_t c;
    ep_cfg(&c, n, K2, K1, RTCP_B);
    c.twcc_fb_off = true;
    ck_assert_int_eq(hc_endpoint_new(&n->b, &c), 0);
    hc_endpoint_local(n->b, &n->baddr);
    hc_ep_track_cfg_t tc = {.ssrc = SSRC_V, .clock_rate = 90000, .window = 256};
    ck_assert_int_eq(hc_endpoint_track_add(n->b, &tc, &n->tv), 0);
    hc_endpoint_start(n->a, now);
    hc_endpoint_start(n->b, now);
    for (int i = 0; i < 20; i++) {
        uint8_t p[200] = {0};
        ck_assert_int_ge(hc_endpoint_send(n->a, n->sv, p, sizeof p, 3000u * i, true, NULL, now), 0);
        pump(n, now);
        now += 10000;
    }
    ck_assert_int_eq(n->twcc_fbs, 0);
    hc_endpoint_stats(n->b, &st);
    ck_assert_uint_eq(st.twcc_rx, 0);
    ck_assert_uint_gt(n->nrec, 0);
    net_free(n);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_endpoint");
    TCase *tc = tcase_create("endpoint");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, delivers_every_packet);
    tcase_add_test(tc, nack_brings_rtx);
    tcase_add_test(tc, resend_tail_unasked);
    tcase_add_test(tc, rtx_rate_cap);
    tcase_add_test(tc, in_order_waits_for_repair);
    tcase_add_test(tc, gives_up_after_retries);
    tcase_add_test(tc, wrong_key_gets_nothing);
    tcase_add_test(tc, pli_reaches_publisher);
    tcase_add_test(tc, reports_carry_rtt_and_loss);
    tcase_add_test(tc, keepalive_when_idle);
    tcase_add_test(tc, rebind_moves_port);
    tcase_add_test(tc, audio_level_and_whole_packets);
    tcase_add_test(tc, bad_input_is_counted);
    tcase_add_test(tc, api_errors);
    tcase_add_test(tc, fec_round_trip_with_drops);
    tcase_add_test(tc, fec_in_order_and_nack_fallback);
    tcase_add_test(tc, fec_reports_loss_before_repair);
    tcase_add_test(tc, fec_api_errors);
    tcase_add_test(tc, twcc_reported_per_send);
    tcase_add_test(tc, padding_for_probes);
    tcase_add_test(tc, caller_nacks);
    tcase_add_test(tc, relay_counts_probe_padding);
    tcase_add_test(tc, twcc_feedback_for_received);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
