/*
 * Unit tests for relay/core/router.h over real UDP sockets on loopback.
 *
 * The test plays the worker (a loop with a watch on the relay's socket
 * that feeds hc_router_input, on a simulated clock so timers are driven
 * exactly) and the clients (each a UDP socket with proto/srtp contexts:
 * protect with key_up, unprotect with key_down).
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/fec.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "proto/srtp.h"
#include "proto/twcc.h"
#include "relay/core/addr.h"
#include "relay/core/loop.h"
#include "relay/core/pool.h"
#include "relay/core/router.h"
#include "relay/core/router_int.h" /* sizes and the keyframe detector */
#include "relay/core/udp.h"
#include "tests/common/testutil.h"

#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MS 1000ull

/* ---- the relay side ---- */

typedef struct ev_log {
    int addr_events, addr_changes, active_events, switched;
    bool last_active;
    hc_leg_t *last_leg;
    hc_track_t *last_track;
} ev_log_t;

typedef struct relay {
    hc_loop_t *loop;
    hc_pool_t pool;
    hc_udp_rx_t rx;
    hc_watch_t w;
    int fd;
    hc_addr_t addr;
    hc_router_t *r;
    hc_router_cfg_t cfg;
    uint64_t now;
    ev_log_t ev;
} relay_t;

static relay_t R;
static uint64_t rng_state = 1;

static uint64_t fake_clock(void *ud)
{
    return *(uint64_t *)ud;
}

static void on_leg_addr(void *ud, hc_leg_t *leg, const hc_addr_t *old, const hc_addr_t *now)
{
    ev_log_t *e = ud;
    (void)now;
    e->addr_events++;
    if (old) e->addr_changes++;
    e->last_leg = leg;
}

static void on_leg_active(void *ud, hc_leg_t *leg, bool active)
{
    ev_log_t *e = ud;
    e->active_events++;
    e->last_active = active;
    e->last_leg = leg;
}

static void on_switched(void *ud, hc_track_t *t, hc_instream_t *src)
{
    ev_log_t *e = ud;
    (void)src;
    e->switched++;
    e->last_track = t;
}

static void on_readable(hc_loop_t *loop, hc_watch_t *w, uint32_t events)
{
    (void)events;
    relay_t *rl = w->ud;
    hc_pkt_t *pk[HC_UDP_BATCH];
    for (;;) {
        int n =
            hc_udp_recv_batch(rl->fd, &rl->rx, &rl->pool, pk, HC_UDP_BATCH, hc_loop_now_us(loop));
        if (n <= 0) break;
        for (int i = 0; i < n; i++) hc_router_input(rl->r, pk[i]);
    }
}

static void relay_start(const hc_router_cfg_t *cfg)
{
    memset(&R, 0, sizeof(R));
    rng_state = 0x1234567;
    R.now = 1000000000ull;
    ck_assert_int_eq(hc_loop_new(&R.loop), 0);
    hc_loop_set_clock(R.loop, fake_clock, &R.now);
    ck_assert_int_eq(hc_pool_init(&R.pool, 512), 0);
    hc_udp_rx_init(&R.rx);
    hc_addr_t bind;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &bind), 0);
    ck_assert_int_eq(hc_udp_open(&bind, 0, &R.fd), 0);
    ck_assert_int_eq(hc_udp_local(R.fd, &R.addr), 0);
    if (cfg) {
        R.cfg = *cfg;
    } else {
        hc_router_cfg_default(&R.cfg);
        R.cfg.max_legs = 64;
        R.cfg.max_instreams = 64;
        R.cfg.max_tracks = 128;
        R.cfg.history_video = 256;
        R.cfg.history_audio = 64;
        R.cfg.seed = 77;
    }
    hc_router_events_t ev = {.ud = &R.ev,
                             .leg_addr = on_leg_addr,
                             .leg_active = on_leg_active,
                             .track_switched = on_switched};
    ck_assert_int_eq(hc_router_new(&R.r, &R.cfg, R.loop, R.fd, &R.pool, &ev), 0);
    ck_assert_int_eq(hc_loop_watch(R.loop, &R.w, R.fd, HC_EV_IN, on_readable, &R), 0);
}

static void relay_stop(void)
{
    hc_router_destroy(&R.r);
    ck_assert_ptr_null(R.r);
    hc_loop_unwatch(&R.w);
    hc_udp_rx_fini(&R.rx, &R.pool);
    ck_assert_uint_eq(R.pool.in_use, 0);
    hc_pool_fini(&R.pool);
    hc_loop_destroy(&R.loop);
    close(R.fd);
}

/* Let the relay read and answer everything sent so far, and run due timers. */
static void pump(void)
{
    for (int i = 0; i < 8; i++) {
        struct pollfd p = {.fd = R.fd, .events = POLLIN};
        int ready = poll(&p, 1, 0);
        int n = hc_loop_run_once(R.loop, 0);
        if (ready == 0 && n == 0 && i > 1) break;
    }
}

/* Move the simulated clock forward in 1 ms steps, running timers. */
static void advance(uint64_t us)
{
    uint64_t end = R.now + us;
    while (R.now < end) {
        R.now += MS < end - R.now ? MS : end - R.now;
        pump();
    }
}

static hc_router_counters_t counters(void)
{
    hc_router_counters_t c;
    hc_router_counters(R.r, &c);
    return c;
}

/* ---- the client side ---- */

#define MAXGOT 600

typedef struct got {
    bool rtcp;
    uint16_t len;
    uint8_t buf[1600];
} got_t;

typedef struct client {
    int fd;
    hc_addr_t local;
    hc_srtp_t tx, rx;
    uint8_t key_up[30], key_down[30];
    uint32_t rtcp_ssrc, relay_ssrc;
    hc_leg_t *leg;
    got_t *got;
    size_t ngot;
    uint64_t bad;
} client_t;

static uint32_t next_ssrc = 0x10000;

static void client_socket(client_t *c)
{
    hc_addr_t bind;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &bind), 0);
    ck_assert_int_eq(hc_udp_open(&bind, 0, &c->fd), 0);
    ck_assert_int_eq(hc_udp_local(c->fd, &c->local), 0);
}

static void client_new(client_t *c)
{
    memset(c, 0, sizeof(*c));
    client_socket(c);
    for (int i = 0; i < 30; i++) {
        c->key_up[i] = (uint8_t)hc_test_rand(&rng_state);
        c->key_down[i] = (uint8_t)hc_test_rand(&rng_state);
    }
    ck_assert_int_eq(hc_srtp_init(&c->tx, HC_SRTP_AEAD_AES_128_GCM, c->key_up, 28, HC_SRTP_SEND),
                     0);
    ck_assert_int_eq(hc_srtp_init(&c->rx, HC_SRTP_AEAD_AES_128_GCM, c->key_down, 28, HC_SRTP_RECV),
                     0);
    c->rtcp_ssrc = next_ssrc++;
    c->relay_ssrc = next_ssrc++;
    hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM,
                       .rtcp_ssrc = c->rtcp_ssrc,
                       .relay_ssrc = c->relay_ssrc,
                       .owner = c};
    memcpy(lc.key_up, c->key_up, 28);
    memcpy(lc.key_down, c->key_down, 28);
    ck_assert_int_eq(hc_router_leg_add(R.r, &lc, &c->leg), 0);
    ck_assert_ptr_eq(hc_leg_owner(c->leg), c);
    c->got = calloc(MAXGOT, sizeof(*c->got));
    ck_assert_ptr_nonnull(c->got);
}

static void client_free(client_t *c)
{
    hc_srtp_fini(&c->tx);
    hc_srtp_fini(&c->rx);
    close(c->fd);
    free(c->got);
}

static void send_raw(client_t *c, const uint8_t *buf, size_t len)
{
    ck_assert_int_eq(sendto(c->fd, buf, len, 0, hc_addr_sa(&R.addr), R.addr.len), (ssize_t)len);
}

/* Protect an RTP packet into out (aligned) and return its length. */
static size_t protect_rtp(client_t *c, const uint8_t *rtp, size_t len, uint32_t *out)
{
    memcpy(out, rtp, len);
    int n = hc_srtp_protect(&c->tx, (uint8_t *)out, len, 2048);
    ck_assert_int_gt(n, 0);
    return (size_t)n;
}

typedef struct rtp_opts {
    int twcc;  /* transport-wide seq, < 0 none */
    int level; /* audio level, < 0 none */
    bool voice;
    uint64_t capture; /* capture-time NTP, 0 none */
    bool marker;
} rtp_opts_t;

static const rtp_opts_t NO_OPTS = {.twcc = -1, .level = -1};

static size_t build_rtp(uint8_t *buf, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts,
                        const uint8_t *payload, size_t plen, const rtp_opts_t *o)
{
    hc_rtp_hdr_t h;
    memset(&h, 0, sizeof(h));
    h.pt = pt;
    h.seq = seq;
    h.ts = ts;
    h.ssrc = ssrc;
    h.marker = o->marker;
    uint8_t ext[64];
    hc_rtpext_builder_t b;
    hc_rtpext_builder_init(&b, ext, sizeof(ext));
    uint8_t v[16];
    int n;
    if (o->level >= 0) {
        n = hc_rtpext_audio_level_write(o->voice, (uint8_t)o->level, v, sizeof(v));
        hc_rtpext_add(&b, HC_EXT_AUDIO_LEVEL, v, (size_t)n);
    }
    if (o->twcc >= 0) {
        n = hc_rtpext_twcc_write((uint16_t)o->twcc, v, sizeof(v));
        hc_rtpext_add(&b, HC_EXT_TWCC, v, (size_t)n);
    }
    if (o->capture) {
        hc_rtpext_capture_time_t ct = {.ntp = o->capture};
        n = hc_rtpext_capture_time_write(&ct, v, sizeof(v));
        hc_rtpext_add(&b, HC_EXT_CAPTURE_TIME, v, (size_t)n);
    }
    size_t elen = 0;
    uint16_t prof;
    ck_assert_int_ge(hc_rtpext_finish(&b, &prof, &elen), 0);
    if (elen) {
        h.extension = true;
        h.ext_profile = prof;
        h.ext_data = ext;
        h.ext_len = elen;
    }
    int w = hc_rtp_write(&h, payload, plen, buf, 1600);
    ck_assert_int_gt(w, 0);
    return (size_t)w;
}

static void send_rtp(client_t *c, uint32_t ssrc, uint8_t pt, uint16_t seq, uint32_t ts,
                     const uint8_t *payload, size_t plen, const rtp_opts_t *o)
{
    uint8_t rtp[1600];
    uint32_t out[600];
    size_t len = build_rtp(rtp, ssrc, pt, seq, ts, payload, plen, o ? o : &NO_OPTS);
    send_raw(c, (uint8_t *)out, protect_rtp(c, rtp, len, out));
}

static void send_rtcp(client_t *c, const uint8_t *rtcp, size_t len)
{
    uint32_t out[600];
    memcpy(out, rtcp, len);
    int n = hc_srtp_protect_rtcp(&c->tx, (uint8_t *)out, len, sizeof(out));
    ck_assert_int_gt(n, 0);
    send_raw(c, (uint8_t *)out, (size_t)n);
}

/* An RR + SDES from the client's rtcp_ssrc: what a client sends first so the
 * relay learns its address. */
static void send_keepalive(client_t *c)
{
    uint8_t b[256];
    size_t off = 0;
    ck_assert_int_eq(hc_rtcp_append(&off, hc_rtcp_write_rr(b, sizeof(b), c->rtcp_ssrc, NULL, 0)),
                     0);
    ck_assert_int_eq(hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(b + off, sizeof(b) - off,
                                                                   c->rtcp_ssrc, "c", 1)),
                     0);
    send_rtcp(c, b, off);
}

/* Read and decrypt everything waiting. */
static void client_poll(client_t *c)
{
    for (;;) {
        uint32_t buf[600];
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) break;
        uint8_t *p = (uint8_t *)buf;
        bool rtcp = hc_rtcp_is_rtcp(p, (size_t)n);
        int len = rtcp ? hc_srtp_unprotect_rtcp(&c->rx, p, (size_t)n)
                       : hc_srtp_unprotect(&c->rx, p, (size_t)n);
        if (len < 0) {
            c->bad++;
            continue;
        }
        ck_assert_uint_lt(c->ngot, MAXGOT);
        got_t *g = &c->got[c->ngot++];
        g->rtcp = rtcp;
        g->len = (uint16_t)len;
        memcpy(g->buf, p, (size_t)len);
    }
}

static void client_clear(client_t *c)
{
    client_poll(c);
    c->ngot = 0;
}

/* RTP packets received for ssrc, parsed, in arrival order. */
static size_t rtp_for(client_t *c, uint32_t ssrc, hc_rtp_hdr_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < c->ngot; i++) {
        if (c->got[i].rtcp) continue;
        hc_rtp_hdr_t h;
        ck_assert_int_gt(hc_rtp_parse(c->got[i].buf, c->got[i].len, &h), 0);
        if (h.ssrc != ssrc) continue;
        if (k < max) out[k] = h;
        k++;
    }
    return k;
}

/* RTCP packets of one kind received, as parsed views. */
static size_t rtcp_of(client_t *c, hc_rtcp_kind_t kind, hc_rtcp_pkt_t *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < c->ngot; i++) {
        if (!c->got[i].rtcp) continue;
        ck_assert_int_gt(hc_rtcp_validate_compound(c->got[i].buf, c->got[i].len), 0);
        hc_rtcp_iter_t it;
        hc_rtcp_pkt_t p;
        hc_rtcp_iter_init(&it, c->got[i].buf, c->got[i].len);
        while (hc_rtcp_next(&it, &p) > 0) {
            if (p.kind != kind) continue;
            if (k < max) out[k] = p;
            k++;
        }
    }
    return k;
}

/* ---- media objects ---- */

#define PT_OPUS 111
#define PT_H264 96
#define PT_RTX  97

static hc_instream_t *add_instream(client_t *c, hc_media_kind_t kind, uint32_t ssrc,
                                   uint32_t rtx_ssrc)
{
    hc_instream_cfg_t ic = {.kind = kind,
                            .ssrc = ssrc,
                            .rtx_ssrc = rtx_ssrc,
                            .pt = kind == HC_MEDIA_AUDIO ? PT_OPUS : PT_H264,
                            .rtx_pt = PT_RTX,
                            .clock_rate = kind == HC_MEDIA_AUDIO ? 48000 : 90000};
    hc_instream_t *s;
    ck_assert_int_eq(hc_router_instream_add(R.r, c->leg, &ic, &s), 0);
    return s;
}

static hc_track_t *add_track(client_t *c, hc_media_kind_t kind, uint32_t ssrc, uint32_t rtx_ssrc,
                             hc_instream_t *src)
{
    hc_track_cfg_t tc = {.kind = kind,
                         .ssrc = ssrc,
                         .rtx_ssrc = rtx_ssrc,
                         .pt = kind == HC_MEDIA_AUDIO ? 100 : 102,
                         .rtx_pt = 103,
                         .clock_rate = kind == HC_MEDIA_AUDIO ? 48000 : 90000};
    hc_track_t *t;
    ck_assert_int_eq(hc_router_track_add(R.r, c->leg, &tc, &t), 0);
    if (src) ck_assert_int_eq(hc_router_track_set_source(R.r, t, src), 0);
    return t;
}

static size_t payload_of(uint8_t *buf, uint16_t seq, size_t n, uint8_t first)
{
    buf[0] = first;
    for (size_t i = 1; i < n; i++) buf[i] = (uint8_t)(seq + i);
    return n;
}

/* ---- tests ---- */

START_TEST(fanout_three_subscribers)
{
    relay_start(NULL);
    client_t pub, sub[3];
    client_new(&pub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0xA0001, 0);
    hc_track_t *tr[3];
    for (int i = 0; i < 3; i++) {
        client_new(&sub[i]);
        tr[i] = add_track(&sub[i], HC_MEDIA_AUDIO, 0x5000 + (uint32_t)i, 0x6000 + (uint32_t)i, in);
        send_keepalive(&sub[i]);
    }
    pump();
    ck_assert_int_eq(R.ev.addr_events, 3);
    hc_addr_t a;
    ck_assert(hc_leg_addr(sub[1].leg, &a));
    ck_assert(hc_addr_eq(&a, &sub[1].local));
    ck_assert(!hc_leg_addr(pub.leg, NULL));
    enum { N = 60 };
    uint8_t pl[200];
    for (int k = 0; k < N; k++) {
        rtp_opts_t o = {.twcc = 500 + k,
                        .level = 30 + k % 10,
                        .voice = k % 2,
                        .capture = 0x1122334455667788ull + (uint64_t)k,
                        .marker = k == 0};
        size_t n = payload_of(pl, (uint16_t)k, 40 + (size_t)k, (uint8_t)k);
        send_rtp(&pub, 0xA0001, PT_OPUS, (uint16_t)(65500 + k), 1000u + 960u * (uint32_t)k, pl, n,
                 &o);
        if (k % 10 == 9) {
            pump();
            R.now += 20 * MS;
        }
    }
    pump();
    for (int i = 0; i < 3; i++) {
        client_poll(&sub[i]);
        ck_assert_uint_eq(sub[i].bad, 0);
        hc_rtp_hdr_t h[N + 5];
        ck_assert_uint_eq(rtp_for(&sub[i], 0x5000 + (uint32_t)i, h, N + 5), N);
        uint16_t tw0 = 0;
        for (int k = 0; k < N; k++) {
            ck_assert_uint_eq(h[k].pt, 100);
            ck_assert(h[k].marker == (k == 0));
            if (k > 0) {
                ck_assert_uint_eq(h[k].seq, (uint16_t)(h[0].seq + k));
                ck_assert_uint_eq(h[k].ts - h[0].ts, 960u * (uint32_t)k);
            }
            size_t n = payload_of(pl, (uint16_t)k, 40 + (size_t)k, (uint8_t)k);
            ck_assert_uint_eq(h[k].payload_len, n);
            ck_assert_mem_eq(h[k].payload, pl, n);
            const uint8_t *d;
            size_t dl;
            ck_assert_int_eq(hc_rtpext_find(&h[k], HC_EXT_CAPTURE_TIME, &d, &dl), 1);
            hc_rtpext_capture_time_t ct;
            ck_assert_int_gt(hc_rtpext_capture_time_parse(d, dl, &ct), 0);
            ck_assert_uint_eq(ct.ntp, 0x1122334455667788ull + (uint64_t)k);
            ck_assert_int_eq(hc_rtpext_find(&h[k], HC_EXT_AUDIO_LEVEL, &d, &dl), 1);
            bool voice;
            uint8_t level;
            ck_assert_int_gt(hc_rtpext_audio_level_parse(d, dl, &voice, &level), 0);
            ck_assert_uint_eq(level, 30 + k % 10);
            ck_assert(voice == (k % 2));
            /* Transport-wide numbers: renumbered per subscriber leg, consecutive. */
            ck_assert_int_eq(hc_rtpext_find(&h[k], HC_EXT_TWCC, &d, &dl), 1);
            uint16_t tw;
            ck_assert_int_gt(hc_rtpext_twcc_parse(d, dl, &tw), 0);
            if (k == 0) tw0 = tw;
            ck_assert_uint_eq(tw, (uint16_t)(tw0 + k));
        }
        hc_track_stats_t ts;
        hc_track_stats(tr[i], &ts);
        ck_assert_uint_eq(ts.packets, N);
        ck_assert_uint_eq(ts.switches, 1);
    }
    ck_assert_int_eq(R.ev.switched, 3);
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.packets, N);
    ck_assert_uint_eq(is.lost, 0);
    bool voice;
    uint8_t lvl = hc_instream_audio_level(in, R.now, &voice);
    ck_assert_uint_ge(lvl, 30);
    ck_assert_uint_le(lvl, 39);
    ck_assert(voice);
    ck_assert_uint_eq(hc_instream_audio_level(in, R.now + 2000 * MS, &voice), 127);
    ck_assert(!voice);
    hc_router_counters_t c = counters();
    ck_assert_uint_eq(c.legs, 4);
    ck_assert_uint_eq(c.instreams, 1);
    ck_assert_uint_eq(c.tracks, 3);
    ck_assert_uint_eq(c.drop_auth + c.drop_malformed + c.drop_unknown + c.drop_replay, 0);
    ck_assert_uint_ge(c.tx_packets, 3 * N); /* plus RTCP reports */
    hc_leg_stats_t ls;
    hc_leg_stats(pub.leg, &ls);
    ck_assert_uint_eq(ls.rx_packets, N);
    ck_assert(ls.active);
    for (int i = 0; i < 3; i++) client_free(&sub[i]);
    client_free(&pub);
    relay_stop();
}
END_TEST

/* A packet that must not change anything: counted in exactly one drop
 * counter, and the fresh publisher leg stays untouched. */
static uint64_t counter_at(const hc_router_counters_t *c, size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)c + off, sizeof(v));
    return v;
}

static void expect_drop(client_t *c, const uint8_t *buf, size_t len, size_t which)
{
    hc_router_counters_t before = counters();
    send_raw(c, buf, len);
    pump();
    hc_router_counters_t after = counters();
    uint64_t drops_b =
        before.drop_auth + before.drop_malformed + before.drop_unknown + before.drop_replay;
    uint64_t drops_a =
        after.drop_auth + after.drop_malformed + after.drop_unknown + after.drop_replay;
    ck_assert_uint_eq(drops_a, drops_b + 1);
    ck_assert_uint_eq(counter_at(&after, which), counter_at(&before, which) + 1);
    ck_assert_uint_eq(after.tx_packets, before.tx_packets);
}

#define OFF(f) offsetof(hc_router_counters_t, f)

START_TEST(bad_input_changes_nothing)
{
    relay_start(NULL);
    client_t pub, sub, evil;
    client_new(&pub);
    client_new(&sub);
    client_new(&evil); /* a leg whose key the attacker has, to make wrong-key packets */
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0xB0001, 0xB0002);
    hc_track_t *t = add_track(&sub, HC_MEDIA_AUDIO, 0x7000, 0x7001, in);
    send_keepalive(&sub);
    pump();
    R.ev.addr_events = 0;
    uint8_t pl[100], rtp[1600];
    uint32_t prot[600];
    size_t n = payload_of(pl, 1, 100, 0x11);
    size_t len = build_rtp(rtp, 0xB0001, PT_OPUS, 10, 1000, pl, n, &NO_OPTS);

    /* Unknown SSRC. */
    uint8_t unk[1600];
    size_t ulen = build_rtp(unk, 0xDEAD, PT_OPUS, 10, 1000, pl, n, &NO_OPTS);
    expect_drop(&pub, unk, ulen, OFF(drop_unknown));
    /* Garbage: too short, wrong version, random bytes on a known SSRC. */
    expect_drop(&pub, rtp, 11, OFF(drop_malformed));
    uint8_t v0[100];
    memcpy(v0, rtp, 100);
    v0[0] = 0x00;
    expect_drop(&pub, v0, 100, OFF(drop_malformed));
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)hc_test_rand(&rng_state);
    junk[0] = 0x80;
    junk[1] = PT_OPUS;
    hc_wr32(junk + 8, 0xB0001);
    expect_drop(&pub, junk, sizeof(junk), OFF(drop_auth));
    /* RTCP-looking garbage on the leg's RTCP SSRC. */
    junk[1] = 201;
    hc_wr32(junk + 4, pub.rtcp_ssrc);
    expect_drop(&pub, junk, 64, OFF(drop_auth));
    /* Wrong key: a real SRTP packet under another leg's key. */
    size_t plen = protect_rtp(&evil, rtp, len, prot);
    expect_drop(&pub, (uint8_t *)prot, plen, OFF(drop_auth));
    /* Every truncation of a valid packet. */
    plen = protect_rtp(&pub, rtp, len, prot);
    for (size_t k = 0; k < plen; k++) {
        uint8_t *cut = malloc(k ? k : 1);
        memcpy(cut, prot, k);
        hc_router_counters_t b = counters();
        if (k) send_raw(&pub, cut, k);
        pump();
        hc_router_counters_t a = counters();
        if (k) {
            ck_assert_uint_eq(a.drop_auth + a.drop_malformed + a.drop_unknown,
                              b.drop_auth + b.drop_malformed + b.drop_unknown + 1);
        }
        free(cut);
    }
    /* None of that taught the relay anything. */
    ck_assert(!hc_leg_addr(pub.leg, NULL));
    ck_assert_int_eq(R.ev.addr_events, 0);
    hc_leg_stats_t ls;
    hc_leg_stats(pub.leg, &ls);
    ck_assert_uint_eq(ls.rx_packets, 0);
    ck_assert(!ls.active);
    ck_assert_uint_gt(ls.auth_fail, 0);
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.packets, 0);
    hc_track_stats_t ts;
    hc_track_stats(t, &ts);
    ck_assert_uint_eq(ts.packets, 0);
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7000, NULL, 0), 0);

    /* The full packet goes through once; its replay is dropped. */
    send_raw(&pub, (uint8_t *)prot, plen);
    pump();
    ck_assert(hc_leg_addr(pub.leg, NULL));
    expect_drop(&pub, (uint8_t *)prot, plen, OFF(drop_replay));
    hc_leg_stats(pub.leg, &ls);
    ck_assert_uint_eq(ls.rx_packets, 1);
    ck_assert_uint_eq(ls.replay, 1);
    /* RTP sent on the RTX SSRC that is not RTX-shaped (payload < 2) is
     * ignored; RTP on the RTCP SSRC is unknown. */
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7000, NULL, 0), 1);
    client_free(&pub);
    client_free(&sub);
    client_free(&evil);
    relay_stop();
}
END_TEST

START_TEST(address_follows_only_authenticated)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0xC0001, 0);
    add_track(&sub, HC_MEDIA_AUDIO, 0x7100, 0, in);
    send_keepalive(&sub);
    uint8_t pl[50];
    payload_of(pl, 0, 50, 1);
    send_rtp(&pub, 0xC0001, PT_OPUS, 1, 100, pl, 50, NULL);
    pump();
    hc_addr_t a;
    ck_assert(hc_leg_addr(pub.leg, &a));
    ck_assert(hc_addr_eq(&a, &pub.local));
    int ev0 = R.ev.addr_events;

    /* From a second socket: a wrong-key packet and a replayed one do not
     * move the leg. */
    client_t moved = pub;
    client_socket(&moved);
    uint8_t rtp[1600];
    uint32_t prot[600];
    size_t len = build_rtp(rtp, 0xC0001, PT_OPUS, 2, 200, pl, 50, &NO_OPTS);
    hc_srtp_t wrong;
    uint8_t k[28] = {1, 2, 3};
    ck_assert_int_eq(hc_srtp_init(&wrong, HC_SRTP_AEAD_AES_128_GCM, k, 28, HC_SRTP_SEND), 0);
    memcpy(prot, rtp, len);
    int n = hc_srtp_protect(&wrong, (uint8_t *)prot, len, sizeof(prot));
    send_raw(&moved, (uint8_t *)prot, (size_t)n);
    size_t plen = protect_rtp(&pub, rtp, len, prot);
    send_raw(&pub, (uint8_t *)prot, plen);   /* the genuine one, from the old address */
    send_raw(&moved, (uint8_t *)prot, plen); /* and its replay from the new one */
    pump();
    ck_assert(hc_leg_addr(pub.leg, &a));
    ck_assert(hc_addr_eq(&a, &pub.local));
    ck_assert_int_eq(R.ev.addr_events, ev0);
    hc_srtp_fini(&wrong);

    /* An authenticated packet from the new address: the leg follows. */
    send_rtp(&moved, 0xC0001, PT_OPUS, 3, 300, pl, 50, NULL);
    pump();
    ck_assert(hc_leg_addr(pub.leg, &a));
    ck_assert(hc_addr_eq(&a, &moved.local));
    ck_assert_int_eq(R.ev.addr_events, ev0 + 1);
    ck_assert_int_eq(R.ev.addr_changes, 1);
    hc_leg_stats_t ls;
    hc_leg_stats(pub.leg, &ls);
    ck_assert_uint_eq(ls.rebinds, 1);
    ck_assert_uint_eq(counters().rebinds, 1);

    /* A subscriber that moves gets the media at its new address. */
    client_t sub2 = sub;
    client_socket(&sub2);
    send_keepalive(&sub2);
    pump();
    send_rtp(&moved, 0xC0001, PT_OPUS, 4, 400, pl, 50, NULL);
    pump();
    client_poll(&sub);
    client_poll(&sub2);
    ck_assert_uint_eq(rtp_for(&sub, 0x7100, NULL, 0), 3);
    ck_assert_uint_eq(rtp_for(&sub2, 0x7100, NULL, 0), 1);
    close(moved.fd);
    close(sub2.fd);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

static const uint8_t IDR[] = {0x65, 0x88, 0x84, 0x00};
static const uint8_t PSLICE[] = {0x41, 0x9a, 0x02, 0x03};

static void send_video(client_t *c, uint32_t ssrc, uint16_t seq, uint32_t ts, bool key)
{
    uint8_t pl[300];
    memcpy(pl, key ? IDR : PSLICE, 4);
    for (int i = 4; i < 300; i++) pl[i] = (uint8_t)(seq ^ i);
    rtp_opts_t o = NO_OPTS;
    o.marker = true;
    send_rtp(c, ssrc, PT_H264, seq, ts, pl, 300, &o);
}

static size_t count_pli(client_t *c, uint32_t media)
{
    hc_rtcp_pkt_t p[32];
    size_t n = rtcp_of(c, HC_RTCP_KIND_PLI, p, 32), k = 0;
    for (size_t i = 0; i < n && i < 32; i++) k += p[i].u.fb.media_ssrc == media;
    return k;
}

START_TEST(source_switch_is_seamless)
{
    relay_start(NULL);
    client_t p1, p2, sub;
    client_new(&p1);
    client_new(&p2);
    client_new(&sub);
    send_keepalive(&p1);
    send_keepalive(&p2);
    send_keepalive(&sub);
    pump();
    hc_instream_t *v1 = add_instream(&p1, HC_MEDIA_VIDEO, 0xD0001, 0);
    hc_instream_t *v2 = add_instream(&p2, HC_MEDIA_VIDEO, 0xD0002, 0);
    hc_track_t *t = add_track(&sub, HC_MEDIA_VIDEO, 0x7200, 0x7201, v1);
    pump();
    client_poll(&p1);
    ck_assert_uint_eq(count_pli(&p1, 0xD0001), 1); /* the track asked for a keyframe */
    /* p1: two deltas (dropped: the track waits), a keyframe, deltas. */
    uint16_t s1 = 40000;
    uint32_t ts1 = 5000;
    for (int k = 0; k < 10; k++) {
        send_video(&p1, 0xD0001, s1++, ts1, k == 2);
        ts1 += 3000;
        R.now += 33 * MS;
        pump();
    }
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.dropped_wait_keyframe, 2);
    ck_assert_uint_eq(st.packets, 8);
    ck_assert_int_eq(R.ev.switched, 1);
    /* p2 streams too, to nobody yet. */
    uint16_t s2 = 100;
    uint32_t ts2 = 999999;
    for (int k = 0; k < 3; k++) {
        send_video(&p2, 0xD0002, s2++, ts2, false);
        ts2 += 3000;
    }
    pump();
    client_clear(&p2);
    /* The floor moves to p2: a PLI goes to p2 at once, p1's packets stop,
     * p2's deltas wait for its keyframe. */
    ck_assert_int_eq(hc_router_track_set_source(R.r, t, v2), 0);
    ck_assert_ptr_eq(hc_track_source(t), v2);
    pump();
    client_poll(&p2);
    ck_assert_uint_eq(count_pli(&p2, 0xD0002), 1);
    R.now += 100 * MS;
    for (int k = 0; k < 6; k++) {
        send_video(&p1, 0xD0001, s1++, ts1, false);
        send_video(&p2, 0xD0002, s2++, ts2, k == 2);
        ts1 += 3000;
        ts2 += 3000;
        R.now += 33 * MS;
        pump();
    }
    /* And back to p1, whose next keyframe comes at once. */
    ck_assert_int_eq(hc_router_track_set_source(R.r, t, v1), 0);
    R.now += 300 * MS;
    for (int k = 0; k < 3; k++) {
        send_video(&p1, 0xD0001, s1++, ts1, k == 0);
        ts1 += 3000;
        R.now += 33 * MS;
        pump();
    }
    client_poll(&sub);
    hc_rtp_hdr_t h[64];
    size_t n = rtp_for(&sub, 0x7200, h, 64);
    ck_assert_uint_eq(n, 8 + 4 + 3);
    for (size_t i = 1; i < n; i++) {
        ck_assert_uint_eq(h[i].seq, (uint16_t)(h[i - 1].seq + 1)); /* no gap, ever */
        ck_assert_int_gt(hc_ts_diff(h[i - 1].ts, h[i].ts), 0);     /* time moves on */
        ck_assert_uint_eq(h[i].pt, 102);
    }
    /* The switch gap in timestamps follows the wall clock: 100 ms + 3 x 33
     * ms between the last p1 packet and p2's keyframe going out, at 90 kHz. */
    ck_assert_uint_eq(h[8].payload[0], 0x65);
    uint32_t gap = h[8].ts - h[7].ts;
    ck_assert_uint_eq(gap, (uint32_t)((100 + 3 * 33) * 90));
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.switches, 3);
    ck_assert_uint_eq(st.dropped_wait_keyframe, 2 + 2);
    ck_assert_int_eq(R.ev.switched, 3);
    hc_instream_stats_t is;
    hc_instream_stats(v2, &is);
    ck_assert_uint_eq(is.keyframes, 1);
    ck_assert_uint_ge(is.plis_sent, 1);
    /* Kind mismatch. */
    hc_instream_t *a1 = add_instream(&p1, HC_MEDIA_AUDIO, 0xD0003, 0);
    ck_assert_int_eq(hc_router_track_set_source(R.r, t, a1), -HC_EINVAL);
    /* Pause. */
    ck_assert_int_eq(hc_router_track_set_source(R.r, t, NULL), 0);
    ck_assert_ptr_null(hc_track_source(t));
    client_free(&p1);
    client_free(&p2);
    client_free(&sub);
    relay_stop();
}
END_TEST

static void send_nack(client_t *c, uint32_t media, const uint16_t *lost, size_t n)
{
    uint8_t b[256];
    int w = hc_rtcp_write_nack(b, sizeof(b), c->rtcp_ssrc, media, lost, n);
    ck_assert_int_gt(w, 0);
    send_rtcp(c, b, (size_t)w);
}

START_TEST(nack_answered_with_rtx)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0xE0001, 0);
    hc_track_t *t = add_track(&sub, HC_MEDIA_AUDIO, 0x7300, 0x7301, in);
    send_keepalive(&sub);
    pump();
    uint8_t pl[120];
    for (int k = 0; k < 100; k++) {
        rtp_opts_t o = {.twcc = k, .level = -1, .capture = 77};
        payload_of(pl, (uint16_t)k, 120, (uint8_t)k);
        send_rtp(&pub, 0xE0001, PT_OPUS, (uint16_t)(65530 + k), 960u * (uint32_t)k, pl, 120, &o);
        if (k % 20 == 19) pump();
    }
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t h[128];
    ck_assert_uint_eq(rtp_for(&sub, 0x7300, h, 128), 100);
    uint16_t base = h[0].seq;
    uint32_t tsbase = h[0].ts;
    client_clear(&sub);
    /* Ask for three recent ones (across the publisher's seq wrap) and one
     * that the 64-packet audio history no longer holds. */
    uint16_t lost[] = {(uint16_t)(base + 90), (uint16_t)(base + 5), (uint16_t)(base + 97),
                       (uint16_t)(base + 99)};
    send_nack(&sub, 0x7300, lost, 4);
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t r[8];
    ck_assert_uint_eq(rtp_for(&sub, 0x7301, r, 8), 3);
    uint16_t want[] = {90, 97, 99};
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(r[i].pt, 103);
        ck_assert_uint_eq(r[i].seq, (uint16_t)(r[0].seq + i));
        ck_assert_uint_eq(r[i].payload_len, 2 + 120);
        uint16_t osn = hc_rd16(r[i].payload);
        ck_assert_uint_eq(osn, (uint16_t)(base + want[i]));
        ck_assert_uint_eq(r[i].ts, tsbase + 960u * want[i]);
        payload_of(pl, want[i], 120, (uint8_t)want[i]);
        ck_assert_mem_eq(r[i].payload + 2, pl, 120);
        const uint8_t *d;
        size_t dl;
        ck_assert_int_eq(hc_rtpext_find(&r[i], HC_EXT_CAPTURE_TIME, &d, &dl), 1);
    }
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.nacks_received, 4);
    ck_assert_uint_eq(st.rtx_sent, 3);
    ck_assert_uint_eq(st.rtx_missed, 1);
    ck_assert_uint_eq(counters().rtx_tx, 3);
    ck_assert_uint_eq(counters().nacks_rx, 4);
    /* Too old by age: after rtx_max_age_ms nothing is retransmitted. A
     * number never sent is missed too. */
    R.now += (R.cfg.rtx_max_age_ms + 10) * MS;
    pump();
    client_clear(&sub);
    uint16_t late[] = {(uint16_t)(base + 98), (uint16_t)(base + 120)};
    send_nack(&sub, 0x7300, late, 2);
    pump();
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7301, r, 8), 0);
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.rtx_missed, 3);
    /* A NACK for a track of another leg is not this leg's business. */
    client_t other;
    client_new(&other);
    send_keepalive(&other);
    send_nack(&other, 0x7300, lost, 1);
    pump();
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.nacks_received, 6);
    client_free(&other);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

START_TEST(pli_merged_upstream)
{
    relay_start(NULL);
    client_t pub, sub[10];
    client_new(&pub);
    send_keepalive(&pub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_VIDEO, 0xF0001, 0);
    hc_track_t *t[10];
    for (int i = 0; i < 10; i++) {
        client_new(&sub[i]);
        send_keepalive(&sub[i]);
    }
    pump();
    for (int i = 0; i < 10; i++)
        t[i] = add_track(&sub[i], HC_MEDIA_VIDEO, 0x8000 + (uint32_t)i, 0, in);
    pump();
    /* Ten tracks waiting for a keyframe made one PLI, not ten. */
    client_poll(&pub);
    ck_assert_uint_eq(count_pli(&pub, 0xF0001), 1);
    send_video(&pub, 0xF0001, 1, 1000, true);
    pump();
    for (int i = 0; i < 10; i++) {
        hc_track_stats_t st;
        hc_track_stats(t[i], &st);
        ck_assert_uint_eq(st.packets, 1);
    }
    advance(R.cfg.pli_min_ms * MS + 5 * MS);
    client_clear(&pub);
    uint64_t tx0 = counters().plis_tx;
    /* Ten subscribers ask within pli_min_ms: one PLI at once... */
    for (int i = 0; i < 10; i++) {
        uint8_t b[64];
        int w = hc_rtcp_write_pli(b, sizeof(b), sub[i].rtcp_ssrc, 0x8000 + (uint32_t)i);
        send_rtcp(&sub[i], b, (size_t)w);
        R.now += 10 * MS;
        pump();
    }
    client_poll(&pub);
    ck_assert_uint_eq(count_pli(&pub, 0xF0001), 1);
    /* ...and the nine later ones as one delayed PLI. */
    advance(R.cfg.pli_min_ms * MS);
    client_poll(&pub);
    ck_assert_uint_eq(count_pli(&pub, 0xF0001), 2);
    advance(2 * R.cfg.pli_min_ms * MS);
    client_poll(&pub);
    ck_assert_uint_eq(count_pli(&pub, 0xF0001), 2);
    hc_router_counters_t c = counters();
    ck_assert_uint_eq(c.plis_rx, 10);
    ck_assert_uint_eq(c.plis_tx - tx0, 2);
    hc_track_stats_t st;
    hc_track_stats(t[3], &st);
    ck_assert_uint_eq(st.plis_received, 1);
    /* A keyframe arriving cancels a delayed request. */
    for (int i = 0; i < 2; i++) {
        uint8_t b[64];
        int w = hc_rtcp_write_pli(b, sizeof(b), sub[i].rtcp_ssrc, 0x8000 + (uint32_t)i);
        send_rtcp(&sub[i], b, (size_t)w);
        pump();
    }
    send_video(&pub, 0xF0001, 2, 4000, true);
    pump();
    advance(2 * R.cfg.pli_min_ms * MS);
    ck_assert_uint_eq(counters().plis_tx - tx0, 3);
    /* FIR from a subscriber goes up as FIR; a repeated FIR seq is ignored. */
    client_clear(&pub);
    for (int rep = 0; rep < 2; rep++) {
        uint8_t b[64];
        hc_rtcp_fir_t e = {.ssrc = 0x8005, .seq = 9};
        int w = hc_rtcp_write_fir(b, sizeof(b), sub[5].rtcp_ssrc, &e, 1);
        send_rtcp(&sub[5], b, (size_t)w);
        pump();
    }
    advance(R.cfg.pli_min_ms * MS);
    client_poll(&pub);
    hc_rtcp_pkt_t fp[4];
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_FIR, fp, 4), 1);
    hc_rtcp_fir_t fe;
    ck_assert_int_eq(hc_rtcp_fir_entry(&fp[0], 0, &fe), 0);
    ck_assert_uint_eq(fe.ssrc, 0xF0001);
    ck_assert_uint_eq(counters().firs_rx, 1);
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.firs_sent, 1);
    for (int i = 0; i < 10; i++) client_free(&sub[i]);
    client_free(&pub);
    relay_stop();
}
END_TEST

START_TEST(upstream_loss_nack_and_rtx)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_VIDEO, 0x90001, 0x90002);
    hc_track_t *t = add_track(&sub, HC_MEDIA_VIDEO, 0x7400, 0, in);
    pump();
    /* Keyframe, then 10 deltas with 5 and 7 missing. */
    for (uint16_t k = 0; k < 10; k++) {
        if (k == 5 || k == 7) continue;
        send_video(&pub, 0x90001, (uint16_t)(1000 + k), 3000u * k, k == 0);
    }
    pump();
    client_poll(&pub);
    hc_rtcp_pkt_t np[4];
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_NACK, np, 4), 1);
    ck_assert_uint_eq(np[0].u.fb.media_ssrc, 0x90001);
    ck_assert_uint_eq(np[0].u.fb.sender_ssrc, pub.relay_ssrc);
    uint16_t lost[8];
    ck_assert_int_eq(hc_rtcp_nack_lost(&np[0], lost, 8), 2);
    ck_assert_uint_eq(lost[0], 1005);
    ck_assert_uint_eq(lost[1], 1007);
    client_clear(&pub);
    /* The publisher answers 1005 with RTX 30 ms later. */
    R.now += 30 * MS;
    uint8_t pl[302];
    hc_wr16(pl, 1005);
    memcpy(pl + 2, PSLICE, 4);
    for (int i = 4; i < 300; i++) pl[2 + i] = (uint8_t)(1005 ^ i);
    rtp_opts_t o = NO_OPTS;
    o.marker = true;
    send_rtp(&pub, 0x90002, PT_RTX, 7, 3000u * 5, pl, 302, &o);
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t h[16];
    size_t n = rtp_for(&sub, 0x7400, h, 16);
    ck_assert_uint_eq(n, 9);
    ck_assert_uint_eq(h[8].seq, (uint16_t)(h[0].seq + 5));
    ck_assert_uint_eq(h[8].ts, h[0].ts + 15000);
    ck_assert_uint_eq(h[8].payload_len, 300);
    ck_assert_mem_eq(h[8].payload, pl + 2, 300);
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.recovered, 1);
    ck_assert_uint_eq(is.nacks_sent, 2);
    ck_assert_uint_eq(is.lost, 2); /* before repair (RFC 4588) */
    ck_assert_int_eq((int)(is.rtt_ms + 0.5), 30);
    /* The same RTX again: a duplicate, not forwarded twice. */
    send_rtp(&pub, 0x90002, PT_RTX, 8, 3000u * 5, pl, 302, &o);
    pump();
    client_clear(&sub);
    /* 1007 stays missing: asked again every max(RTT, 20 ms) * 5/4, at most
     * nack_max_retries times. */
    advance(2000 * MS);
    client_poll(&pub);
    size_t nn = rtcp_of(&pub, HC_RTCP_KIND_NACK, np, 4);
    ck_assert_uint_eq(nn, R.cfg.nack_max_retries - 1);
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.nacks_sent, 1 + R.cfg.nack_max_retries);
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.packets, 9);
    ck_assert_uint_eq(counters().nacks_tx, 1 + R.cfg.nack_max_retries);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

START_TEST(reports_and_rtt)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0x91001, 0);
    hc_track_t *t = add_track(&sub, HC_MEDIA_AUDIO, 0x7500, 0, in);
    pump();
    uint8_t pl[80];
    for (int k = 0; k < 20; k++) {
        payload_of(pl, (uint16_t)k, 80, 1);
        send_rtp(&pub, 0x91001, PT_OPUS, (uint16_t)(10 + k), 48000u + 960u * (uint32_t)k, pl, 80,
                 NULL);
    }
    /* The publisher's SR: NTP N <-> RTP 48000 + 960 * 20. */
    uint8_t b[256];
    hc_rtcp_sender_info_t si = {.ntp = 0xE0000000ull << 32,
                                .rtp_ts = 48000 + 960 * 20,
                                .packet_count = 20,
                                .octet_count = 1600};
    int w = hc_rtcp_write_sr(b, sizeof(b), 0x91001, &si, NULL, 0);
    send_rtcp(&pub, b, (size_t)w);
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t h[32];
    ck_assert_uint_eq(rtp_for(&sub, 0x7500, h, 32), 20);
    uint32_t ts_off = h[0].ts - 48000u;
    client_clear(&sub);
    client_clear(&pub);
    /* Within one report interval (the first has a random phase) the
     * subscriber gets an SR for its track: the publisher's mapping
     * extrapolated, RTP time through the track's offset, its own counts. */
    uint64_t sr_rx = 0;
    hc_rtcp_pkt_t p[8];
    for (uint64_t i = 0; i < R.cfg.report_ms + 10 && !sr_rx; i++) {
        advance(MS);
        client_poll(&sub);
        if (rtcp_of(&sub, HC_RTCP_KIND_SR, p, 8)) sr_rx = R.now;
    }
    ck_assert_uint_gt(sr_rx, 0);
    size_t n = rtcp_of(&sub, HC_RTCP_KIND_SR, p, 8);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(p[0].u.report.ssrc, 0x7500);
    ck_assert_uint_eq(p[0].u.report.info.packet_count, 20);
    ck_assert_uint_eq(p[0].u.report.info.octet_count, 20 * 80);
    uint64_t sr_ntp = p[0].u.report.info.ntp;
    double el_s = (double)(sr_ntp - si.ntp) / 4294967296.0;
    uint32_t want_rtp = (uint32_t)(48000u + 960u * 20 + el_s * 48000 + 0.5) + ts_off;
    ck_assert_int_le(abs(hc_ts_diff(want_rtp, p[0].u.report.info.rtp_ts)), 1);
    ck_assert(el_s > 0.0 && el_s <= 1.1 * R.cfg.report_ms / 1000.0);
    /* The subscriber answers with DLSR 20 ms, 60 ms after the SR left the
     * relay: RTT 40 ms. */
    R.now += 60 * MS;
    hc_rtcp_rb_t back = {.ssrc = 0x7500,
                         .lsr = (uint32_t)(sr_ntp >> 16),
                         .dlsr = 20 * 65536 / 1000,
                         .fraction_lost = 64,
                         .jitter = 480};
    w = hc_rtcp_write_rr(b, sizeof(b), sub.rtcp_ssrc, &back, 1);
    send_rtcp(&sub, b, (size_t)w);
    pump();
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_int_eq((int)(st.rtt_ms + 0.5), 40);
    ck_assert(st.loss > 0.24 && st.loss < 0.26);
    ck_assert(st.jitter_ms > 9.9 && st.jitter_ms < 10.1);
    /* The publisher's leg has its own RTT, still unknown: no exchange with it. */
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert(is.rtt_ms == 0.0);
    /* The publisher gets an RR from relay_ssrc about its stream, with LSR
     * and DLSR for its SR, and an SDES. */
    advance(R.cfg.report_ms * MS + 10 * MS);
    client_poll(&pub);
    n = rtcp_of(&pub, HC_RTCP_KIND_RR, p, 8);
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_eq(p[0].u.report.ssrc, pub.relay_ssrc);
    ck_assert_uint_eq(p[0].u.report.rb_count, 1);
    hc_rtcp_rb_t rb;
    ck_assert_int_eq(hc_rtcp_report_block(&p[0], 0, &rb), 0);
    ck_assert_uint_eq(rb.ssrc, 0x91001);
    ck_assert_uint_eq(rb.lsr, (uint32_t)(si.ntp >> 16));
    ck_assert_uint_gt(rb.dlsr, 0);
    ck_assert_uint_le(rb.dlsr, (uint32_t)(2.2 * R.cfg.report_ms * 65.536));
    ck_assert_uint_eq(rb.ext_highest_seq, 29);
    ck_assert_uint_eq(rb.cumulative_lost, 0);
    hc_rtcp_pkt_t sd[8];
    ck_assert_uint_ge(rtcp_of(&pub, HC_RTCP_KIND_SDES, sd, 8), 1);
    /* REMB noted. */
    uint32_t rs = 0x7500;
    w = hc_rtcp_write_remb(b, sizeof(b), sub.rtcp_ssrc, 800000, &rs, 1);
    send_rtcp(&sub, b, (size_t)w);
    pump();
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.remb_bps, 800000);
    /* Idle: the next interval still carries a report (keepalive) to both. */
    client_clear(&sub);
    client_clear(&pub);
    advance(R.cfg.report_ms * MS + 2 * MS);
    client_poll(&pub);
    client_poll(&sub);
    ck_assert_uint_ge(rtcp_of(&pub, HC_RTCP_KIND_RR, p, 8), 1);
    ck_assert_uint_ge(rtcp_of(&sub, HC_RTCP_KIND_RR, p, 8), 1);
    ck_assert_uint_eq(rtcp_of(&sub, HC_RTCP_KIND_SR, p, 8), 0); /* nothing sent since */
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

START_TEST(twcc_feedback)
{
    relay_start(NULL);
    client_t pub;
    client_new(&pub);
    add_instream(&pub, HC_MEDIA_AUDIO, 0x92001, 0);
    add_instream(&pub, HC_MEDIA_VIDEO, 0x92002, 0);
    uint8_t pl[60];
    payload_of(pl, 0, 60, 1);
    /* One transport-wide series across both streams, 7 missing. */
    int k = 0;
    for (uint16_t tw = 65530; k < 12; tw++, k++) {
        if (k == 7) continue;
        rtp_opts_t o = {.twcc = tw, .level = -1};
        send_rtp(&pub, k % 2 ? 0x92001 : 0x92002, k % 2 ? PT_OPUS : PT_H264, (uint16_t)k,
                 (uint32_t)k, pl, 60, &o);
        R.now += 2 * MS;
        pump();
    }
    client_clear(&pub);
    advance(60 * MS);
    client_poll(&pub);
    hc_rtcp_pkt_t p[4];
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_TWCC, p, 4), 1);
    ck_assert_uint_eq(p[0].u.fb.sender_ssrc, pub.relay_ssrc);
    ck_assert(p[0].u.fb.media_ssrc == 0x92001 || p[0].u.fb.media_ssrc == 0x92002);
    hc_twcc_fb_t hdr;
    hc_twcc_pkt_t pk[32];
    size_t np;
    ck_assert_int_gt(hc_twcc_parse(p[0].u.fb.fci, p[0].u.fb.fci_len, &hdr, pk, 32, &np), 0);
    ck_assert_uint_eq(hdr.base_seq, 65530);
    ck_assert_uint_eq(np, 12);
    int rec = 0;
    for (size_t i = 0; i < np; i++) {
        rec += pk[i].received;
        if (i > 0 && pk[i].received && pk[i - 1].received)
            ck_assert_int_eq(pk[i].arrival_us - pk[i - 1].arrival_us, 2000);
    }
    ck_assert_int_eq(rec, 11);
    ck_assert(!pk[7].received);
    /* Nothing new: no more feedback. */
    client_clear(&pub);
    advance(200 * MS);
    client_poll(&pub);
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_TWCC, p, 4), 0);
    client_free(&pub);
    relay_stop();
}
END_TEST

START_TEST(activity_events)
{
    relay_start(NULL);
    client_t c;
    client_new(&c);
    send_keepalive(&c);
    pump();
    ck_assert_int_eq(R.ev.active_events, 1);
    ck_assert(R.ev.last_active);
    advance((R.cfg.leg_timeout_ms - 100) * MS);
    send_keepalive(&c);
    pump();
    advance((R.cfg.leg_timeout_ms - 100) * MS);
    ck_assert_int_eq(R.ev.active_events, 1);
    advance(200 * MS);
    ck_assert_int_eq(R.ev.active_events, 2);
    ck_assert(!R.ev.last_active);
    hc_leg_stats_t ls;
    hc_leg_stats(c.leg, &ls);
    ck_assert(!ls.active);
    send_keepalive(&c);
    pump();
    ck_assert_int_eq(R.ev.active_events, 3);
    ck_assert(R.ev.last_active);
    client_free(&c);
    relay_stop();
}
END_TEST

START_TEST(tables_and_removal)
{
    hc_router_cfg_t cfg;
    hc_router_cfg_default(&cfg);
    cfg.max_legs = 3;
    cfg.max_instreams = 2;
    cfg.max_tracks = 2;
    cfg.history_video = 64;
    cfg.history_audio = 16;
    relay_start(&cfg);
    client_t a, b, c;
    client_new(&a);
    client_new(&b);
    client_new(&c);
    hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM, .rtcp_ssrc = 1};
    hc_leg_t *l;
    ck_assert_int_eq(hc_router_leg_add(R.r, &lc, &l), -HC_EFULL);
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_AUDIO, .ssrc = a.rtcp_ssrc, .clock_rate = 48000};
    hc_instream_t *s;
    ck_assert_int_eq(hc_router_instream_add(R.r, a.leg, &ic, &s), -HC_EEXIST);
    ic.clock_rate = 0;
    ic.ssrc = 5;
    ck_assert_int_eq(hc_router_instream_add(R.r, a.leg, &ic, &s), -HC_EINVAL);
    hc_instream_t *s1 = add_instream(&a, HC_MEDIA_AUDIO, 0x100, 0x101);
    ic.clock_rate = 48000;
    ic.ssrc = 0x101;
    ck_assert_int_eq(hc_router_instream_add(R.r, a.leg, &ic, &s), -HC_EEXIST);
    hc_instream_t *s2 = add_instream(&b, HC_MEDIA_AUDIO, 0x200, 0);
    ic.ssrc = 0x300;
    ck_assert_int_eq(hc_router_instream_add(R.r, a.leg, &ic, &s), -HC_EFULL);
    hc_track_t *t1 = add_track(&c, HC_MEDIA_AUDIO, 0x400, 0, s1);
    hc_track_cfg_t tc = {.kind = HC_MEDIA_AUDIO, .ssrc = 0x400, .clock_rate = 48000};
    hc_track_t *t;
    ck_assert_int_eq(hc_router_track_add(R.r, c.leg, &tc, &t), -HC_EEXIST);
    /* The same track SSRC on another leg is fine (tracks are per leg). */
    hc_track_t *t2 = add_track(&b, HC_MEDIA_AUDIO, 0x400, 0, s1);
    tc.ssrc = 0x401;
    ck_assert_int_eq(hc_router_track_add(R.r, c.leg, &tc, &t), -HC_EFULL);
    hc_router_counters_t k = counters();
    ck_assert_uint_eq(k.legs, 3);
    ck_assert_uint_eq(k.instreams, 2);
    ck_assert_uint_eq(k.tracks, 2);
    /* Removing an instream leaves its tracks without a source. */
    hc_router_instream_remove(R.r, s1);
    ck_assert_ptr_null(hc_track_source(t1));
    ck_assert_ptr_null(hc_track_source(t2));
    ck_assert_int_eq(hc_router_track_set_source(R.r, t1, s2), 0);
    /* Removing a leg removes its instreams and tracks, and frees its SSRCs. */
    hc_router_leg_remove(R.r, b.leg);
    k = counters();
    ck_assert_uint_eq(k.legs, 2);
    ck_assert_uint_eq(k.instreams, 0);
    ck_assert_uint_eq(k.tracks, 1);
    ck_assert_ptr_null(hc_track_source(t1));
    s1 = add_instream(&a, HC_MEDIA_AUDIO, 0x200, 0x101);
    ck_assert_ptr_eq(hc_instream_owner(s1), NULL);
    /* Packets for removed SSRCs are unknown. */
    uint8_t pl[10] = {0};
    send_rtp(&b, 0x9999, PT_OPUS, 1, 1, pl, 10, NULL);
    pump();
    ck_assert_uint_eq(counters().drop_unknown, 1);
    client_free(&a);
    client_free(&b);
    client_free(&c);
    relay_stop();
}
END_TEST

/* Memory per subscriber: a leg with an audio and a video track, contexts
 * warmed up by real packets (libsrtp adds a stream per SSRC). Printed for
 * the record; the assert only guards against an accident (the SRTP
 * contexts dominate, see srtp.h). */
START_TEST(memory_per_subscriber)
{
    hc_router_cfg_t cfg;
    hc_router_cfg_default(&cfg);
    cfg.max_legs = 256;
    cfg.max_instreams = 8;
    cfg.max_tracks = 512;
    relay_start(&cfg);
    client_t pub;
    client_new(&pub);
    hc_instream_t *a = add_instream(&pub, HC_MEDIA_AUDIO, 0x93001, 0);
    hc_instream_t *v = add_instream(&pub, HC_MEDIA_VIDEO, 0x93002, 0);
    enum { NSUB = 100 };
    static client_t sub[NSUB];
    for (int i = 0; i < NSUB; i++) {
        memset(&sub[i], 0, sizeof(sub[i]));
        client_socket(&sub[i]);
    }
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < NSUB; i++) {
        client_t *c = &sub[i];
        for (int k = 0; k < 28; k++) c->key_down[k] = c->key_up[k] = (uint8_t)(i + k);
        c->rtcp_ssrc = next_ssrc++;
        hc_leg_cfg_t lc = {.suite = HC_SRTP_AEAD_AES_128_GCM,
                           .rtcp_ssrc = c->rtcp_ssrc,
                           .relay_ssrc = next_ssrc++};
        memcpy(lc.key_up, c->key_up, 28);
        memcpy(lc.key_down, c->key_down, 28);
        ck_assert_int_eq(hc_router_leg_add(R.r, &lc, &c->leg), 0);
        add_track(c, HC_MEDIA_AUDIO, 0x10, 0x11, a);
        add_track(c, HC_MEDIA_VIDEO, 0x20, 0x21, v);
        hc_srtp_init(&c->tx, HC_SRTP_AEAD_AES_128_GCM, c->key_up, 28, HC_SRTP_SEND);
    }
    for (int i = 0; i < NSUB; i++) send_keepalive(&sub[i]);
    pump();
    uint8_t pl[100] = {0x65};
    send_rtp(&pub, 0x93001, PT_OPUS, 1, 1, pl, 100, NULL);
    send_rtp(&pub, 0x93002, PT_H264, 1, 1, pl, 100, NULL);
    pump();
    advance(2 * cfg.report_ms * MS);
    struct mallinfo2 m1 = mallinfo2();
    /* The client-side send contexts were made in the same window. */
    size_t client_ctx = 0;
    {
        struct mallinfo2 c0 = mallinfo2();
        hc_srtp_t x;
        uint8_t key[28] = {0};
        hc_srtp_init(&x, HC_SRTP_AEAD_AES_128_GCM, key, 28, HC_SRTP_SEND);
        struct mallinfo2 c1 = mallinfo2();
        client_ctx = c1.uordblks - c0.uordblks;
        hc_srtp_fini(&x);
    }
    size_t per = (m1.uordblks - m0.uordblks) / NSUB;
    size_t relay_per = per > client_ctx ? per - client_ctx : 0;
    fprintf(stderr,
            "router memory: sizeof(leg)=%zu sizeof(track)=%zu sizeof(instream)=%zu; heap per "
            "subscriber leg with 2 tracks incl. SRTP contexts: %zu bytes (%.1f KiB)\n",
            sizeof(struct hc_leg), sizeof(struct hc_track), sizeof(struct hc_instream), relay_per,
            relay_per / 1024.0);
    if (m1.uordblks > m0.uordblks) ck_assert_uint_lt(relay_per, 96 * 1024);
    ck_assert_uint_le(sizeof(struct hc_leg) + 2 * sizeof(struct hc_track), 1024);
    for (int i = 0; i < NSUB; i++) {
        hc_srtp_fini(&sub[i].tx);
        close(sub[i].fd);
    }
    client_free(&pub);
    relay_stop();
}
END_TEST

START_TEST(keyframe_detection)
{
    /* RFC 6184: single NAL IDR/SPS, STAP-A with SPS, FU-A start of an IDR. */
    const uint8_t idr[] = {0x65, 1};
    const uint8_t sps[] = {0x67, 1};
    const uint8_t slice[] = {0x41, 1};
    const uint8_t stap_sps[] = {0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce};
    const uint8_t stap_p[] = {0x78, 0x00, 0x02, 0x41, 0x42};
    const uint8_t stap_bad[] = {0x78, 0x00, 0x09, 0x67};
    const uint8_t fu_start[] = {0x7c, 0x85, 1};
    const uint8_t fu_mid[] = {0x7c, 0x05, 1};
    const uint8_t fu_p[] = {0x7c, 0x81, 1};
    ck_assert(rt_h264_keyframe_start(idr, 2));
    ck_assert(rt_h264_keyframe_start(sps, 2));
    ck_assert(!rt_h264_keyframe_start(slice, 2));
    ck_assert(rt_h264_keyframe_start(stap_sps, sizeof(stap_sps)));
    ck_assert(!rt_h264_keyframe_start(stap_p, sizeof(stap_p)));
    ck_assert(!rt_h264_keyframe_start(stap_bad, sizeof(stap_bad)));
    ck_assert(rt_h264_keyframe_start(fu_start, 3));
    ck_assert(!rt_h264_keyframe_start(fu_mid, 3));
    ck_assert(!rt_h264_keyframe_start(fu_p, 3));
    ck_assert(!rt_h264_keyframe_start(fu_start, 1));
    ck_assert(!rt_h264_keyframe_start(idr, 0));
}
END_TEST

/* Many tracks and instreams on one leg: the reports split into several
 * compounds, each a valid MTU-sized one starting with SR or RR. */
START_TEST(reports_split_over_datagrams)
{
    hc_router_cfg_t cfg;
    hc_router_cfg_default(&cfg);
    cfg.max_legs = 8;
    cfg.max_instreams = 64;
    cfg.max_tracks = 128;
    cfg.history_audio = 16;
    relay_start(&cfg);
    client_t pub, peer;
    client_new(&pub);
    client_new(&peer);
    send_keepalive(&peer);
    /* peer publishes 40 streams and receives 50 tracks of pub's stream. */
    hc_instream_t *src = add_instream(&pub, HC_MEDIA_AUDIO, 0x94000, 0);
    for (uint32_t i = 0; i < 40; i++) add_instream(&peer, HC_MEDIA_AUDIO, 0x95000 + i, 0);
    for (uint32_t i = 0; i < 50; i++) add_track(&peer, HC_MEDIA_AUDIO, 0x96000 + i, 0, src);
    pump();
    uint8_t pl[40] = {1};
    for (uint16_t k = 0; k < 3; k++) /* past RFC 3550 A.1 probation */
        for (uint32_t i = 0; i < 40; i++)
            send_rtp(&peer, 0x95000 + i, PT_OPUS, (uint16_t)(5 + k), 5, pl, 40, NULL);
    send_rtp(&pub, 0x94000, PT_OPUS, 5, 5, pl, 40, NULL);
    pump();
    client_clear(&peer);
    /* Legs report first at 1 ms + a random phase of the interval after
     * they were added (at this same simulated time): up to 1 ms past one
     * interval holds exactly one round. */
    advance(cfg.report_ms * MS + 1 * MS);
    client_poll(&peer);
    size_t compounds = 0, srs = 0, blocks = 0;
    for (size_t i = 0; i < peer.ngot; i++) {
        if (!peer.got[i].rtcp) continue;
        compounds++;
        ck_assert_uint_le(peer.got[i].len, 1200);
        ck_assert_int_gt(hc_rtcp_validate_compound(peer.got[i].buf, peer.got[i].len), 0);
        hc_rtcp_iter_t it;
        hc_rtcp_pkt_t p;
        hc_rtcp_iter_init(&it, peer.got[i].buf, peer.got[i].len);
        bool first = true, cname = false;
        while (hc_rtcp_next(&it, &p) > 0) {
            if (first) ck_assert(p.kind == HC_RTCP_KIND_SR || p.kind == HC_RTCP_KIND_RR);
            first = false;
            if (p.kind == HC_RTCP_KIND_SR) srs++;
            if (p.kind == HC_RTCP_KIND_RR) blocks += p.u.report.rb_count;
            if (p.kind == HC_RTCP_KIND_SDES) cname = true;
        }
        ck_assert(cname);
    }
    ck_assert_uint_ge(compounds, 2);
    ck_assert_uint_eq(srs, 50);
    ck_assert_uint_eq(blocks, 40);
    client_free(&pub);
    client_free(&peer);
    relay_stop();
}
END_TEST

/* The publisher's numbering restarts (RFC 3550 A.1: confirmed by a second
 * packet): subscribers see one continuous sequence. */
START_TEST(publisher_restart_stays_continuous)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0x97000, 0x97001);
    add_track(&sub, HC_MEDIA_AUDIO, 0x7600, 0, in);
    pump();
    uint8_t pl[40] = {1};
    for (int k = 0; k < 5; k++)
        send_rtp(&pub, 0x97000, PT_OPUS, (uint16_t)(100 + k), 0, pl, 40, NULL);
    pump();
    R.now += 20 * MS;
    for (int k = 0; k < 5; k++)
        send_rtp(&pub, 0x97000, PT_OPUS, (uint16_t)(20100 + k), 777777, pl, 40, NULL);
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t h[16];
    size_t n = rtp_for(&sub, 0x7600, h, 16);
    ck_assert_uint_eq(n, 9); /* the first packet after the jump is held back (A.1) */
    for (size_t i = 1; i < n; i++) ck_assert_uint_eq(h[i].seq, (uint16_t)(h[i - 1].seq + 1));
    ck_assert_int_gt(hc_ts_diff(h[4].ts, h[5].ts), 0);
    /* No NACK storm for the 19995 "missing" numbers. */
    advance(300 * MS);
    client_poll(&pub);
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_NACK, NULL, 0), 0);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

/* ---- FlexFEC (RFC 8627), hop by hop ---- */

#define PT_FEC 98

/* A video packet of varying size whose payload is a function of seq. */
static size_t fec_media(uint8_t *rtp, uint32_t ssrc, uint16_t seq, uint32_t ts, bool key)
{
    uint8_t pl[1200];
    size_t n = 200 + (size_t)(seq * 53u) % 900;
    memcpy(pl, key ? IDR : PSLICE, 4);
    for (size_t i = 4; i < n; i++) pl[i] = (uint8_t)(seq * 7u ^ i);
    rtp_opts_t o = NO_OPTS;
    o.marker = seq % 3 == 0;
    o.capture = 0x0102030405060708ull + seq;
    return build_rtp(rtp, ssrc, PT_H264, seq, ts, pl, n, &o);
}

static void send_plain(client_t *c, const uint8_t *rtp, size_t len)
{
    uint32_t out[600];
    send_raw(c, (uint8_t *)out, protect_rtp(c, rtp, len, out));
}

/* Publisher side of the uplink: send packet seq (unless drop) and feed it
 * to the encoder; when that completes a group, send the repair packet. */
static void fec_pub_send(client_t *c, hc_fec_enc_t *enc, uint32_t fec_ssrc, uint16_t *fseq,
                         uint16_t seq, uint32_t ts, bool key, bool drop)
{
    uint8_t rtp[1600];
    size_t len = fec_media(rtp, enc->ssrc, seq, ts, key);
    if (!drop) send_plain(c, rtp, len);
    if (hc_fec_enc_add(enc, rtp, len) == 1) {
        uint8_t f[1600];
        hc_fec_rtp_t fh = {.ssrc = fec_ssrc, .seq = (*fseq)++, .ts = ts, .pt = PT_FEC};
        int n = hc_fec_enc_write(enc, &fh, f, sizeof(f));
        ck_assert_int_gt(n, 0);
        send_plain(c, f, (size_t)n);
    }
}

static hc_instream_t *add_fec_instream(client_t *c, uint32_t ssrc)
{
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_VIDEO,
                            .ssrc = ssrc,
                            .rtx_ssrc = ssrc + 1,
                            .fec_ssrc = ssrc + 2,
                            .pt = PT_H264,
                            .rtx_pt = PT_RTX,
                            .clock_rate = 90000};
    hc_instream_t *s;
    ck_assert_int_eq(hc_router_instream_add(R.r, c->leg, &ic, &s), 0);
    return s;
}

static hc_track_t *add_fec_track(client_t *c, uint32_t ssrc, hc_instream_t *src,
                                 const hc_fec_policy_t *pol)
{
    hc_track_cfg_t tc = {.kind = HC_MEDIA_VIDEO,
                         .ssrc = ssrc,
                         .rtx_ssrc = ssrc + 1,
                         .fec_ssrc = ssrc + 2,
                         .pt = 102,
                         .rtx_pt = 103,
                         .clock_rate = 90000};
    if (pol) tc.fec = *pol;
    hc_track_t *t;
    ck_assert_int_eq(hc_router_track_add(R.r, c->leg, &tc, &t), 0);
    if (src) ck_assert_int_eq(hc_router_track_set_source(R.r, t, src), 0);
    return t;
}

/* An RR from the subscriber about ssrc with this fraction lost (/256). */
static void send_rr_loss(client_t *c, uint32_t ssrc, uint8_t fraction)
{
    hc_rtcp_rb_t rb;
    memset(&rb, 0, sizeof(rb));
    rb.ssrc = ssrc;
    rb.fraction_lost = fraction;
    uint8_t b[128];
    int n = hc_rtcp_write_rr(b, sizeof(b), c->rtcp_ssrc, &rb, 1);
    ck_assert_int_gt(n, 0);
    send_rtcp(c, b, (size_t)n);
}

START_TEST(uplink_fec_recovers_without_gap)
{
    hc_router_cfg_t cfg;
    hc_router_cfg_default(&cfg);
    ck_assert_uint_eq(cfg.fec_nack_hold_ms, 0);
    cfg.max_legs = cfg.max_instreams = 16;
    cfg.max_tracks = 32;
    cfg.history_video = 256;
    cfg.history_audio = 64;
    /* NACKs wait for the repair packet (a long hold: its arrival ends it) */
    cfg.fec_nack_hold_ms = 1000;
    relay_start(&cfg);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    hc_instream_t *in = add_fec_instream(&pub, 0x91000);
    add_track(&sub, HC_MEDIA_VIDEO, 0x7500, 0, in);
    pump();
    hc_fec_enc_t enc;
    ck_assert_int_eq(hc_fec_enc_init(&enc, 0x91000, 5), 0);
    uint16_t fseq = 7;
    /* The first group whole (the relay sees FEC is on), then 7 groups of 5
     * losing one packet each, at every position in turn: the last one
     * too, rebuilt before anything after it arrives. */
    enum { N = 40 };
    int dropped = 0;
    for (int k = 0; k < N; k++) {
        bool drop = k >= 5 && k % 5 == (k / 5) % 5;
        dropped += drop;
        fec_pub_send(&pub, &enc, 0x91002, &fseq, (uint16_t)(65520 + k), 3000u * (uint32_t)k, k == 0,
                     drop);
        R.now += 1 * MS;
        pump();
    }
    client_poll(&sub);
    ck_assert_uint_eq(sub.bad, 0);
    hc_rtp_hdr_t h[N + 4];
    ck_assert_uint_eq(rtp_for(&sub, 0x7500, h, N + 4), N);
    /* Every number exactly once with the original content: no gap. */
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        int k = (uint16_t)(h[i].seq - h[0].seq);
        ck_assert_int_lt(k, N);
        ck_assert(!seen[k]);
        seen[k] = true;
        uint8_t rtp[1600];
        size_t len = fec_media(rtp, 0x91000, (uint16_t)(65520 + k), 0, k == 0);
        hc_rtp_hdr_t o;
        ck_assert_int_gt(hc_rtp_parse(rtp, len, &o), 0);
        ck_assert_uint_eq(h[i].payload_len, o.payload_len);
        ck_assert_mem_eq(h[i].payload, o.payload, o.payload_len);
        ck_assert_uint_eq(h[i].ts - h[0].ts, 3000u * (uint32_t)k);
        ck_assert_int_eq(h[i].marker, o.marker);
    }
    hc_instream_stats_t is;
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.fec_rx, N / 5);
    ck_assert_uint_eq(is.recovered_fec, (uint64_t)dropped);
    ck_assert_uint_eq(is.recovered, (uint64_t)dropped);
    ck_assert_uint_eq(is.lost, (uint64_t)dropped); /* reports keep the loss before repair */
    ck_assert_uint_eq(is.fec_dropped, 0);
    /* Every loss came back within the hold: no NACK went upstream. */
    advance(200 * MS);
    client_poll(&pub);
    hc_rtcp_pkt_t np[4];
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_NACK, np, 4), 0);
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.nacks_sent, 0);
    hc_router_counters_t c = counters();
    ck_assert_uint_eq(c.fec_rx, N / 5);
    ck_assert_uint_eq(c.fec_recovered, (uint64_t)dropped);
    client_clear(&pub);
    /* Two losses in one group: its repair packet cannot help, and the NACK
     * for both goes at once when it arrives, not after the hold. */
    for (int k = N; k < N + 5; k++)
        fec_pub_send(&pub, &enc, 0x91002, &fseq, (uint16_t)(65520 + k), 3000u * (uint32_t)k, false,
                     k == N + 1 || k == N + 3);
    pump();
    client_poll(&pub);
    ck_assert_uint_eq(rtcp_of(&pub, HC_RTCP_KIND_NACK, np, 4), 1);
    uint16_t lost[4];
    ck_assert_int_eq(hc_rtcp_nack_lost(&np[0], lost, 4), 2);
    ck_assert_uint_eq(lost[0], (uint16_t)(65520 + N + 1));
    ck_assert_uint_eq(lost[1], (uint16_t)(65520 + N + 3));
    /* A repair packet that is not one: counted, nothing else. */
    uint8_t junk[40] = {0x81, PT_FEC, 0x03, 0xe8, 0, 0,    0,    1,
                        0,    0x09,   0x10, 0x02, 0, 0x09, 0x10, 0};
    send_plain(&pub, junk, sizeof(junk));
    pump();
    hc_instream_stats(in, &is);
    ck_assert_uint_eq(is.fec_dropped, 1);
    ck_assert_uint_eq(counters().drop_malformed, 1);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

/* The subscriber's side: rebuild packet `missing` (a track seq) from what
 * it got, the FEC packets included, with a proto/fec.h decoder. */
static bool sub_recovers(client_t *c, uint32_t ssrc, uint32_t fec_ssrc, uint16_t missing,
                         uint8_t *out, size_t *out_len)
{
    hc_fec_src_slot_t *src = calloc(256, sizeof(*src));
    hc_fec_fec_slot_t fec[16];
    hc_fec_dec_t d;
    ck_assert_int_eq(hc_fec_dec_init(&d, ssrc, src, 256, fec, 16), 0);
    for (size_t i = 0; i < c->ngot; i++) {
        got_t *g = &c->got[i];
        if (g->rtcp) continue;
        uint32_t s = hc_rd32(g->buf + 8);
        if (s == ssrc && hc_rd16(g->buf + 2) != missing)
            ck_assert_int_eq(hc_fec_dec_add_source(&d, g->buf, g->len), 0);
        else if (s == fec_ssrc)
            ck_assert_int_eq(hc_fec_dec_add_fec(&d, g->buf, g->len), 0);
    }
    bool ok = false;
    int n;
    while ((n = hc_fec_dec_recover(&d, out, 1600)) > 0) {
        if (hc_rd16(out + 2) == missing) {
            ok = true;
            *out_len = (size_t)n;
            break;
        }
    }
    free(src);
    return ok;
}

static const got_t *got_rtp(const client_t *c, uint32_t ssrc, uint16_t seq)
{
    for (size_t i = 0; i < c->ngot; i++) {
        const got_t *g = &c->got[i];
        if (!g->rtcp && hc_rd32(g->buf + 8) == ssrc && hc_rd16(g->buf + 2) == seq) return g;
    }
    return NULL;
}

/* A subscriber that reports 10 % loss gets two copies of each
 * retransmission (proto/repair.h hc_repair_rtx_copies); at 2 % one. */
START_TEST(lossy_downlink_gets_two_rtx_copies)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_AUDIO, 0xE0002, 0);
    hc_track_t *t = add_track(&sub, HC_MEDIA_AUDIO, 0x7310, 0x7311, in);
    send_keepalive(&sub);
    pump();
    uint8_t pl[120];
    for (int k = 0; k < 20; k++) {
        rtp_opts_t o = {.twcc = k, .level = -1, .capture = 77};
        payload_of(pl, (uint16_t)k, 120, (uint8_t)k);
        send_rtp(&pub, 0xE0002, PT_OPUS, (uint16_t)(100 + k), 960u * (uint32_t)k, pl, 120, &o);
    }
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t h[32];
    ck_assert_uint_eq(rtp_for(&sub, 0x7310, h, 32), 20);
    uint16_t base = h[0].seq;
    uint16_t lost[] = {(uint16_t)(base + 3), (uint16_t)(base + 11)};
    const struct {
        uint8_t fraction; /* of 256 */
        unsigned copies;
    } cases[] = {{5, 1}, {26, 2}};
    for (int c = 0; c < 2; c++) {
        send_rr_loss(&sub, 0x7310, cases[c].fraction);
        pump();
        client_clear(&sub);
        send_nack(&sub, 0x7310, lost, 2);
        pump();
        client_poll(&sub);
        hc_rtp_hdr_t r[8];
        ck_assert_uint_eq(rtp_for(&sub, 0x7311, r, 8), 2 * cases[c].copies);
        for (unsigned i = 0; i < 2 * cases[c].copies; i++)
            ck_assert_uint_eq(hc_rd16(r[i].payload), lost[i / cases[c].copies]);
    }
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.nacks_received, 4);
    ck_assert_uint_eq(st.rtx_sent, 6);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

START_TEST(downlink_fec_follows_reported_loss)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    send_keepalive(&pub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_VIDEO, 0x92000, 0);
    hc_track_t *t = add_fec_track(&sub, 0x7600, in, NULL); /* AUTO */
    pump();
    uint16_t seq = 100;
    for (int k = 0; k < 20; k++) {
        send_video(&pub, 0x92000, seq, 3000u * seq, k == 0);
        seq++;
        R.now += 10 * MS;
        pump();
    }
    client_poll(&sub);
    hc_rtp_hdr_t h[64];
    ck_assert_uint_eq(rtp_for(&sub, 0x7600, h, 64), 20);
    ck_assert_uint_eq(rtp_for(&sub, 0x7602, h, 64), 0); /* no loss reported: no FEC */
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.fec_k, 0);
    client_clear(&sub);
    /* 10 % loss reported: FEC on at once (proto/repair.h: with the 100 ms
     * RTT assumed and a 300 ms budget, 2 retransmission rounds fit, too few
     * at 10 %), one repair packet per 5. */
    send_rr_loss(&sub, 0x7600, 26);
    pump();
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.fec_k, 5);
    ck_assert(st.fec_loss > 0.09 && st.fec_loss < 0.11);
    for (int k = 0; k < 20; k++) {
        send_video(&pub, 0x92000, seq, 3000u * seq, false);
        seq++;
        R.now += 10 * MS;
        pump();
    }
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7600, h, 64), 20);
    ck_assert_uint_eq(rtp_for(&sub, 0x7602, h, 64), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(h[i].pt, PT_FEC);
        ck_assert_uint_eq(h[i].csrc_count, 1);
        if (i) ck_assert_uint_eq(h[i].seq, (uint16_t)(h[0].seq + i));
    }
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.fec_sent, 4);
    ck_assert_uint_gt(st.fec_bytes, 4 * 300);
    ck_assert_uint_eq(counters().fec_tx, 4);
    /* The subscriber loses any one packet: the repair stream rebuilds it
     * exactly, header and extensions included. */
    hc_rtp_hdr_t m[32];
    rtp_for(&sub, 0x7600, m, 32);
    for (int drop = 0; drop < 20; drop += 3) {
        uint8_t out[1600];
        size_t ol = 0;
        ck_assert(sub_recovers(&sub, 0x7600, 0x7602, m[drop].seq, out, &ol));
        const got_t *g = got_rtp(&sub, 0x7600, m[drop].seq);
        ck_assert_ptr_nonnull(g);
        ck_assert_uint_eq(ol, g->len);
        ck_assert_mem_eq(out, g->buf, ol);
    }
    client_clear(&sub);
    /* The loss goes away: FEC stays for a while (hysteresis), then goes. */
    int off_after = 0;
    for (int i = 1; i <= 40 && !off_after; i++) {
        send_rr_loss(&sub, 0x7600, 0);
        pump();
        hc_track_stats(t, &st);
        if (st.fec_k == 0) off_after = i;
        R.now += 1000 * MS;
        pump();
        client_clear(&sub);
        client_clear(&pub);
    }
    ck_assert_int_ge(off_after, 5);
    ck_assert_int_le(off_after, 20);
    for (int k = 0; k < 20; k++) {
        send_video(&pub, 0x92000, seq, 3000u * seq, false);
        seq++;
        R.now += 10 * MS;
        pump();
    }
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7600, h, 64), 20);
    ck_assert_uint_eq(rtp_for(&sub, 0x7602, h, 64), 0);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

START_TEST(downlink_fec_fixed_across_gaps)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    send_keepalive(&sub);
    send_keepalive(&pub);
    hc_instream_t *in = add_instream(&pub, HC_MEDIA_VIDEO, 0x93000, 0x93001);
    hc_fec_policy_t fixed = {.mode = HC_FEC_FIXED, .k = 4};
    hc_track_t *t = add_fec_track(&sub, 0x7700, in, &fixed);
    pump();
    /* The publisher's 3 and 9 never arrive (its retransmission of 3 comes
     * late): the relay's groups go across the gaps, and the late packet
     * joins the group open when it is sent. */
    for (uint16_t k = 0; k < 16; k++) {
        if (k == 3 || k == 9) continue;
        send_video(&pub, 0x93000, (uint16_t)(500 + k), 3000u * k, k == 0);
        R.now += 1 * MS;
        pump();
    }
    uint8_t pl[302];
    hc_wr16(pl, 503);
    memcpy(pl + 2, PSLICE, 4);
    for (int i = 4; i < 300; i++) pl[2 + i] = (uint8_t)(503 ^ i);
    rtp_opts_t o = NO_OPTS;
    o.marker = true;
    send_rtp(&pub, 0x93001, PT_RTX, 1, 3000u * 3, pl, 302, &o);
    pump();
    send_video(&pub, 0x93000, 516, 3000u * 16, false);
    pump();
    client_poll(&sub);
    hc_rtp_hdr_t m[32], f[8];
    ck_assert_uint_eq(rtp_for(&sub, 0x7700, m, 32), 16);
    ck_assert_uint_eq(rtp_for(&sub, 0x7702, f, 8), 4); /* 16 packets: 4 groups of 4 */
    hc_fec_hdr_t fh;
    ck_assert_int_gt(hc_fec_parse(f[0].payload, f[0].payload_len, &fh), 0);
    ck_assert_uint_eq(fh.sn_base, m[0].seq);
    ck_assert(hc_fec_mask_get(&fh, 0) && hc_fec_mask_get(&fh, 1) && hc_fec_mask_get(&fh, 2));
    ck_assert(!hc_fec_mask_get(&fh, 3)); /* the gap */
    ck_assert(hc_fec_mask_get(&fh, 4));
    /* The last group: 14, 15, then the late 3 moved its base back, 16. */
    ck_assert_int_gt(hc_fec_parse(f[3].payload, f[3].payload_len, &fh), 0);
    ck_assert_uint_eq(fh.sn_base, (uint16_t)(m[0].seq + 3));
    for (unsigned i = 0; i < 15; i++)
        ck_assert_int_eq(hc_fec_mask_get(&fh, i), i == 0 || i == 11 || i == 12 || i == 13);
    /* Every packet can be rebuilt from the others and the repair stream. */
    for (size_t i = 0; i < 16; i++) {
        uint8_t out[1600];
        size_t ol = 0;
        ck_assert(sub_recovers(&sub, 0x7700, 0x7702, m[i].seq, out, &ol));
        ck_assert_mem_eq(out, got_rtp(&sub, 0x7700, m[i].seq)->buf, ol);
    }
    /* Policy changes. */
    hc_fec_policy_t bad = {.mode = HC_FEC_FIXED, .k = 0};
    ck_assert_int_eq(hc_router_track_set_fec(R.r, t, &bad), -HC_EINVAL);
    bad.k = HC_FEC_MAX_GROUP + 1;
    ck_assert_int_eq(hc_router_track_set_fec(R.r, t, &bad), -HC_EINVAL);
    bad.mode = (hc_fec_mode_t)9;
    ck_assert_int_eq(hc_router_track_set_fec(R.r, t, &bad), -HC_EINVAL);
    hc_fec_policy_t slow = {.mode = HC_FEC_AUTO, .budget_ms = 60001};
    ck_assert_int_eq(hc_router_track_set_fec(R.r, t, &slow), -HC_EINVAL);
    hc_fec_policy_t off = {.mode = HC_FEC_OFF};
    ck_assert_int_eq(hc_router_track_set_fec(R.r, t, &off), 0);
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.fec_k, 0);
    client_clear(&sub);
    for (uint16_t k = 17; k < 25; k++) {
        send_video(&pub, 0x93000, (uint16_t)(500 + k), 3000u * k, false);
        pump();
    }
    client_poll(&sub);
    ck_assert_uint_eq(rtp_for(&sub, 0x7702, f, 8), 0);
    /* A track without a FEC stream has no policy to set. */
    hc_track_t *plain = add_track(&sub, HC_MEDIA_VIDEO, 0x7800, 0, in);
    ck_assert_int_eq(hc_router_track_set_fec(R.r, plain, &fixed), -HC_EINVAL);
    /* Configuration errors. */
    hc_track_cfg_t tc = {.kind = HC_MEDIA_VIDEO,
                         .ssrc = 0x7900,
                         .rtx_ssrc = 0x7901,
                         .fec_ssrc = 0x7900,
                         .clock_rate = 90000};
    hc_track_t *x;
    ck_assert_int_eq(hc_router_track_add(R.r, sub.leg, &tc, &x), -HC_EINVAL);
    tc.fec_ssrc = 0x7901;
    ck_assert_int_eq(hc_router_track_add(R.r, sub.leg, &tc, &x), -HC_EINVAL);
    tc.fec_ssrc = 0x7902;
    tc.fec_pt = 128;
    ck_assert_int_eq(hc_router_track_add(R.r, sub.leg, &tc, &x), -HC_EINVAL);
    tc.fec_pt = 0;
    tc.fec = bad;
    ck_assert_int_eq(hc_router_track_add(R.r, sub.leg, &tc, &x), -HC_EINVAL);
    hc_instream_cfg_t ic = {.kind = HC_MEDIA_VIDEO,
                            .ssrc = 0x94000,
                            .rtx_ssrc = 0x94001,
                            .fec_ssrc = 0x94001,
                            .clock_rate = 90000};
    hc_instream_t *y;
    ck_assert_int_eq(hc_router_instream_add(R.r, pub.leg, &ic, &y), -HC_EINVAL);
    ic.fec_ssrc = 0x93001; /* the other instream's RTX */
    ck_assert_int_eq(hc_router_instream_add(R.r, pub.leg, &ic, &y), -HC_EEXIST);
    ic.fec_ssrc = 0x94002;
    ck_assert_int_eq(hc_router_instream_add(R.r, pub.leg, &ic, &y), 0);
    ic.ssrc = 0x95000;
    ic.rtx_ssrc = 0;
    ck_assert_int_eq(hc_router_instream_add(R.r, pub.leg, &ic, &y), -HC_EEXIST);
    client_free(&pub);
    client_free(&sub);
    relay_stop();
}
END_TEST

/* ---- downlink layers (added by downlink layers) ---- */

#include "proto/linksim.h"
#include "relay/core/twccfb.h"

/* What a subscriber behind a simulated bottleneck does: every datagram the
 * relay sends goes into the link at the time it is read; what comes out
 * feeds transport-wide feedback (every 50 ms) and receiver reports for the
 * video track (every second). Sequence numbers are checked as sent. */
#define LS_RING 8192
typedef struct lsub {
    client_t c;
    hc_linksim_t *link;
    hc_twccfb_t fb;
    uint64_t arr[1024];
    struct ls_ent {
        bool rtp;
        uint32_t ssrc;
        uint16_t seq;
        int twcc;
    } ring[LS_RING];
    uint64_t next_id;
    uint32_t vssrc;
    bool have_seq;
    uint16_t last_seq;
    uint64_t seq_gaps, media_sent;
    /* RR state for vssrc */
    bool have_rx;
    uint16_t rx_max;
    uint32_t rx_count, exp_prev_max;
    uint64_t next_fb, next_rr;
    uint32_t jitter_us; /* arrival noise: uniform 0..jitter_us added to each arrival */
    uint64_t rng;
} lsub_t;

static void lsub_read(lsub_t *s)
{
    for (;;) {
        uint32_t buf[600];
        ssize_t n = recv(s->c.fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) break;
        uint8_t *p = (uint8_t *)buf;
        bool rtcp = hc_rtcp_is_rtcp(p, (size_t)n);
        uint64_t id = s->next_id++;
        s->ring[id % LS_RING].rtp = false;
        if (!rtcp) {
            int len = hc_srtp_unprotect(&s->c.rx, p, (size_t)n);
            ck_assert_int_gt(len, 0);
            hc_rtp_hdr_t h;
            ck_assert_int_gt(hc_rtp_parse(p, (size_t)len, &h), 0);
            const uint8_t *d;
            size_t dl;
            int tw = -1;
            if (hc_rtpext_find(&h, HC_EXT_TWCC, &d, &dl) == 1 && dl == 2) tw = hc_rd16(d);
            s->ring[id % LS_RING].rtp = true;
            s->ring[id % LS_RING].ssrc = h.ssrc;
            s->ring[id % LS_RING].seq = h.seq;
            s->ring[id % LS_RING].twcc = tw;
            if (h.ssrc == s->vssrc) {
                /* Loopback neither loses nor reorders: as sent. */
                if (s->have_seq && h.seq != (uint16_t)(s->last_seq + 1)) s->seq_gaps++;
                s->have_seq = true;
                s->last_seq = h.seq;
                s->media_sent++;
            }
        }
        (void)hc_linksim_send(s->link, R.now, id, (uint32_t)n + 28);
    }
    hc_linksim_pkt_t out;
    while (hc_linksim_poll(s->link, R.now, &out) == 1) {
        if (out.id + LS_RING <= s->next_id) continue;
        const struct ls_ent *e = &s->ring[out.id % LS_RING];
        if (!e->rtp) continue;
        uint64_t arr = out.t_out;
        if (s->jitter_us) arr += hc_test_rand(&s->rng) % s->jitter_us;
        if (e->twcc >= 0) hc_twccfb_record(&s->fb, (uint16_t)e->twcc, arr);
        if (e->ssrc == s->vssrc) {
            if (!s->have_rx || hc_seq_lt(s->rx_max, e->seq)) {
                if (!s->have_rx) s->exp_prev_max = (uint16_t)(e->seq - 1);
                s->rx_max = e->seq;
            }
            s->have_rx = true;
            s->rx_count++;
        }
    }
    if (R.now >= s->next_fb) {
        s->next_fb = R.now + 50 * MS;
        uint8_t b[1500];
        int n;
        while ((n = hc_twccfb_build(&s->fb, b, sizeof b, s->c.rtcp_ssrc, s->vssrc, NULL)) > 0)
            send_rtcp(&s->c, b, (size_t)n);
    }
    if (R.now >= s->next_rr && s->have_rx) {
        s->next_rr = R.now + 1000 * MS;
        uint32_t expected = (uint16_t)(s->rx_max - (uint16_t)s->exp_prev_max);
        double lost = expected > s->rx_count ? (double)(expected - s->rx_count) / expected : 0;
        hc_rtcp_rb_t rb = {
            .ssrc = s->vssrc, .fraction_lost = (uint8_t)(lost * 255), .ext_highest_seq = s->rx_max};
        uint8_t b[128];
        int n = hc_rtcp_write_rr(b, sizeof b, s->c.rtcp_ssrc, &rb, 1);
        ck_assert_int_gt(n, 0);
        send_rtcp(&s->c, b, (size_t)n);
        s->exp_prev_max = s->rx_max;
        s->rx_count = 0;
    }
}

static void send_layer_pkt(client_t *pub, uint32_t ssrc, uint16_t seq, uint32_t ts, bool key,
                           size_t plen, uint16_t *twseq)
{
    uint8_t pl[1300];
    memcpy(pl, key ? IDR : PSLICE, 4);
    for (size_t i = 4; i < plen; i++) pl[i] = (uint8_t)(seq ^ i);
    rtp_opts_t o = NO_OPTS;
    o.marker = true;
    o.twcc = (*twseq)++;
    send_rtp(pub, ssrc, PT_H264, seq, ts, pl, plen, &o);
}

/* jitter_us: a cellular downlink's few ms of arrival noise must not pin
 * the leg's estimate to the low layer's own rate once it stepped down. */
static void layers_follow(uint32_t jitter_us)
{
    relay_start(NULL);
    client_t pub;
    client_new(&pub);
    hc_instream_t *hi = add_instream(&pub, HC_MEDIA_VIDEO, 0x94001, 0x94011);
    hc_instream_t *lo = add_instream(&pub, HC_MEDIA_VIDEO, 0x94002, 0x94012);
    static lsub_t s;
    memset(&s, 0, sizeof(s));
    client_new(&s.c);
    free(s.c.got);
    s.c.got = NULL;
    s.vssrc = 0x20;
    hc_twccfb_init(&s.fb, s.arr, 1024);
    s.jitter_us = jitter_us;
    s.rng = 7;
    hc_linksim_cfg_t lc = {.queue_us = 300000, .seed = 3};
    ck_assert_int_eq(hc_linksim_new(&s.link, &lc), 0);
    uint64_t t0 = R.now;
    ck_assert_int_eq(hc_linksim_set_rate(s.link, t0, 4000000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(s.link, t0 + 10000 * MS, 400000), 0);
    ck_assert_int_eq(hc_linksim_set_rate(s.link, t0 + 18000 * MS, 4000000), 0);
    hc_track_cfg_t tc = {.kind = HC_MEDIA_VIDEO,
                         .ssrc = 0x20,
                         .rtx_ssrc = 0x21,
                         .pt = 102,
                         .rtx_pt = 103,
                         .clock_rate = 90000,
                         .fec_ssrc = 0x22};
    hc_track_t *t;
    ck_assert_int_eq(hc_router_track_add(R.r, s.c.leg, &tc, &t), 0);
    hc_instream_t *group[2] = {hi, lo};
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, group, 0), 0); /* pause */
    ck_assert_ptr_null(hc_track_source(t));
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, group, 2), 0);
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, group, 2), 0); /* same: no-op */
    hc_instream_t *bad[2] = {hi, NULL};
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, bad, 2), -HC_EINVAL);
    send_keepalive(&pub);
    send_keepalive(&s.c);
    pump();

    uint16_t hseq = 100, lseq = 5000, tw = 0;
    uint64_t fec_congested = 0, fec_before = 0;
    int layer_at_12 = -2, layer_at_10 = -2;
    for (uint64_t ms = 0; ms < 34000; ms++) {
        uint64_t frame = ms / 40;
        bool key = frame % 25 == 0;
        uint32_t ts = (uint32_t)(frame * 3600);
        /* high: 5 x 1200 B per 40 ms frame (1.2 Mbit/s); low: 1 x 1200 (240 kbit/s) */
        if (ms % 8 == 0) send_layer_pkt(&pub, 0x94001, hseq++, ts, key && ms % 40 == 0, 1200, &tw);
        if (ms % 40 == 0) send_layer_pkt(&pub, 0x94002, lseq++, ts, key, 1200, &tw);
        R.now += MS;
        pump();
        lsub_read(&s);
        hc_track_stats_t st;
        hc_track_stats(t, &st);
        if (ms == 10000) {
            layer_at_10 = st.layer;
            fec_before = st.fec_sent;
        }
        if (ms == 12000) {
            layer_at_12 = st.layer;
            fec_congested = st.fec_sent - fec_before;
        }
    }
    hc_track_stats_t st;
    hc_track_stats(t, &st);
    hc_leg_stats_t ls;
    hc_leg_stats(s.c.leg, &ls);
    hc_linksim_stats_t lst;
    hc_linksim_stats(s.link, &lst);
    fprintf(stderr,
            "layers (jitter %u us): at 10 s %d, at 12 s %d, end %d; ups %" PRIu64 " downs %" PRIu64
            " failed %" PRIu64 "; estimate %u acked %u probes %" PRIu64 "; sent %" PRIu64
            " gaps %" PRIu64 " link drops %" PRIu64 " fec %" PRIu64 "\n",
            jitter_us, layer_at_10, layer_at_12, st.layer, st.layer_ups, st.layer_downs,
            st.layer_failed_ups, ls.estimate_bps, ls.acked_bps, ls.probes, s.media_sent, s.seq_gaps,
            lst.drop[HC_LINKSIM_DROP_QUEUE], st.fec_sent);
    ck_assert_int_eq(layer_at_10, 0); /* 4 Mbit/s: the high layer */
    ck_assert_int_eq(layer_at_12, 1); /* 400 kbit/s: the low one within 2 s */
    ck_assert_int_eq(st.layer, 0);    /* capacity back: high again */
    ck_assert_uint_eq(st.layers, 2);
    ck_assert_uint_le(st.layer_ups + st.layer_downs, 6); /* no flapping */
    ck_assert_uint_eq(s.seq_gaps, 0);
    ck_assert_uint_eq(fec_congested, 0);
    ck_assert_uint_gt(s.media_sent, 2000);
    ck_assert_uint_gt(ls.estimate_bps, 1500000);
    /* Back to one source: layers gone, the estimator with them. */
    ck_assert_int_eq(hc_router_track_set_source(R.r, t, lo), 0);
    hc_track_stats(t, &st);
    ck_assert_int_eq(st.layer, -1);
    hc_leg_stats(s.c.leg, &ls);
    ck_assert_uint_eq(ls.estimate_bps, 0);
    /* An instream of a group going away leaves the rest of the group. */
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, group, 2), 0);
    hc_router_instream_remove(R.r, hi);
    hc_track_stats(t, &st);
    ck_assert_uint_eq(st.layers, 1);
    hc_linksim_destroy(&s.link);
    close(s.c.fd);
    hc_srtp_fini(&s.c.tx);
    hc_srtp_fini(&s.c.rx);
    client_free(&pub);
    relay_stop();
}

START_TEST(layers_follow_downlink_estimate)
{
    layers_follow(0);
}
END_TEST

START_TEST(layers_follow_through_jitter)
{
    layers_follow(8000);
}
END_TEST

START_TEST(layers_memory_per_leg)
{
    relay_start(NULL);
    client_t pub, sub;
    client_new(&pub);
    client_new(&sub);
    hc_instream_t *hi = add_instream(&pub, HC_MEDIA_VIDEO, 0x95001, 0);
    hc_instream_t *lo = add_instream(&pub, HC_MEDIA_VIDEO, 0x95002, 0);
    hc_track_t *t = add_track(&sub, HC_MEDIA_VIDEO, 0x20, 0x21, NULL);
    hc_instream_t *group[2] = {hi, lo};
    struct mallinfo2 m0 = mallinfo2();
    ck_assert_int_eq(hc_router_track_set_layers(R.r, t, group, 2), 0);
    struct mallinfo2 m1 = mallinfo2();
    size_t per = m1.uordblks > m0.uordblks ? m1.uordblks - m0.uordblks : 0;
    fprintf(stderr,
            "downlink layers memory: sizeof(leg)=%zu sizeof(track)=%zu; estimator + layer group "
            "per leg (history %u): %zu bytes (%.1f KiB)\n",
            sizeof(struct hc_leg), sizeof(struct hc_track), (unsigned)RT_BWE_HISTORY, per,
            per / 1024.0);
    if (per) ck_assert_uint_lt(per, 16 * 1024);
    ck_assert_uint_le(sizeof(struct hc_leg) + 2 * sizeof(struct hc_track), 1024);
    client_free(&sub);
    client_free(&pub);
    relay_stop();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_router");
    TCase *tc = tcase_create("router");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fanout_three_subscribers);
    tcase_add_test(tc, bad_input_changes_nothing);
    tcase_add_test(tc, address_follows_only_authenticated);
    tcase_add_test(tc, source_switch_is_seamless);
    tcase_add_test(tc, nack_answered_with_rtx);
    tcase_add_test(tc, lossy_downlink_gets_two_rtx_copies);
    tcase_add_test(tc, pli_merged_upstream);
    tcase_add_test(tc, upstream_loss_nack_and_rtx);
    tcase_add_test(tc, reports_and_rtt);
    tcase_add_test(tc, twcc_feedback);
    tcase_add_test(tc, activity_events);
    tcase_add_test(tc, tables_and_removal);
    tcase_add_test(tc, memory_per_subscriber);
    tcase_add_test(tc, keyframe_detection);
    tcase_add_test(tc, reports_split_over_datagrams);
    tcase_add_test(tc, publisher_restart_stays_continuous);
    tcase_add_test(tc, uplink_fec_recovers_without_gap);
    tcase_add_test(tc, downlink_fec_follows_reported_loss);
    tcase_add_test(tc, downlink_fec_fixed_across_gaps);
    tcase_add_test(tc, layers_follow_downlink_estimate);
    tcase_add_test(tc, layers_follow_through_jitter);
    tcase_add_test(tc, layers_memory_per_leg);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
