/* test_edge_receiver.c - the edge's receive side (edge/receiver.h) behind a
 * real endpoint pair on loopback: a publishing endpoint (libx264 frames
 * packetized as the edge does) whose packets pass through the test, which
 * drops some before the receiving endpoint sees them. Repair by NACK/RTX
 * (the receiver's jitter buffer decides what to ask for and when, the
 * receiving endpoint sends its lists, the publisher's answers from its
 * history) and by FlexFEC (hop-by-hop repair packets), compared with no
 * repair; and audio holes filled from RED blocks, from Opus in-band FEC,
 * or concealed, and DTX silences. Simulated time: every step is a
 * millisecond, loopback delivery is immediate. */
#include "edge/aenc.h"
#include "edge/receiver.h"
#include "edge/venc.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "proto/rtcp.h"
#include "relay/core/endpoint.h"
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <libavutil/log.h>
#include <math.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_MEDIA 0x11110001u
#define S_RTX   0x11110002u
#define S_FEC   0x11110003u

typedef struct pair {
    bool cap_back;        /* frames 30 and 31 carry the capture times of 28 and 29 */
    hc_endpoint_t *a, *b; /* a publishes, b receives */
    hc_ep_stream_t *s;
    hc_ep_track_t *t;
    int link; /* the test's socket between a and b */
    hc_addr_t a_addr;
    hc_receiver_t *r;
    hc_venc_t *enc;
    uint64_t now;
    uint64_t rng;
    /* what to drop */
    double loss;         /* random loss of media packets */
    unsigned drop_every; /* drop every n-th media packet (0: off) */
    uint64_t media_seen, dropped;
    /* what came out */
    uint32_t frame;
    int64_t last_mark;
    uint64_t pictures, backwards, key_asked;
    /* source */
    uint8_t *y, *u, *v;
} pair_t;

static void quiet(void)
{
    av_log_set_level(AV_LOG_FATAL);
}

static void on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    (void)t;
    pair_t *p = ud;
    hc_receiver_rtp(p->r, rx, rx->rx_us);
}

/* The jitter buffer's NACKs go out through the receiving endpoint. */
static void on_nack(void *ud, const uint16_t *seqs, size_t n, uint64_t now_us)
{
    pair_t *p = ud;
    ck_assert_int_eq(hc_endpoint_send_nack(p->b, p->t, seqs, n, now_us), 0);
}

static void on_key(void *ud, hc_ep_stream_t *s, bool fir)
{
    (void)s;
    (void)fir;
    pair_t *p = ud;
    p->key_asked++;
    hc_venc_request_keyframe(p->enc);
}

static int read_mark(const uint8_t *y, int stride)
{
    int n = 0;
    for (int b = 0; b < 16; b++) n = (n << 1) | (y[4 * stride + b * 8 + 4] > 128 ? 1 : 0);
    return n;
}

static void on_picture(void *ud, const uint8_t *const plane[3], const int stride[3], int w, int h,
                       uint64_t pts)
{
    (void)w;
    (void)h;
    (void)pts;
    pair_t *p = ud;
    int m = read_mark(plane[0], stride[0]);
    if (p->last_mark >= 0 && m <= p->last_mark) p->backwards++;
    p->last_mark = m;
    p->pictures++;
}

static void mark(void *ud, uint8_t *const plane[3], const int stride[3], int w, int h)
{
    (void)h;
    uint32_t n = *(uint32_t *)ud;
    for (int b = 0; b < 16 && (b + 1) * 8 <= w; b++)
        for (int y = 0; y < 8; y++)
            memset(plane[0] + (size_t)y * stride[0] + b * 8, (n >> (15 - b)) & 1 ? 235 : 16, 8);
}

static void pair_init(pair_t *p, bool nack, unsigned fec_group)
{
    memset(p, 0, sizeof *p);
    p->rng = 99;
    p->last_mark = -1;
    p->now = 10000000;
    uint8_t k1[HC_SRTP_MAX_KEY_LEN], k2[HC_SRTP_MAX_KEY_LEN];
    for (int i = 0; i < HC_SRTP_MAX_KEY_LEN; i++) {
        k1[i] = (uint8_t)(i * 7 + 1);
        k2[i] = (uint8_t)(i * 13 + 5);
    }
    /* the link socket */
    p->link = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(p->link, 0);
    struct sockaddr_in la = {.sin_family = AF_INET};
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(p->link, (struct sockaddr *)&la, sizeof la), 0);
    socklen_t ll = sizeof la;
    getsockname(p->link, (struct sockaddr *)&la, &ll);
    hc_addr_t link_addr;
    ck_assert_int_eq(hc_addr_from_sockaddr(&link_addr, (struct sockaddr *)&la, ll), 0);

    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    memcpy(c.key_up, k1, sizeof k1);
    memcpy(c.key_down, k2, sizeof k2);
    c.rtcp_ssrc = 0xa0000001;
    c.remote = link_addr;
    hc_addr_parse("127.0.0.1:0", &c.bind);
    c.ev.ud = p;
    c.ev.keyframe = on_key;
    ck_assert_int_eq(hc_endpoint_new(&p->a, &c), 0);
    ck_assert_int_eq(hc_endpoint_local(p->a, &p->a_addr), 0);

    hc_endpoint_cfg_default(&c);
    memcpy(c.key_up, k2, sizeof k2);
    memcpy(c.key_down, k1, sizeof k1);
    c.rtcp_ssrc = 0xb0000001;
    c.remote = p->a_addr;
    hc_addr_parse("127.0.0.1:0", &c.bind);
    c.nack_max_age_ms = 300;
    c.ev.ud = p;
    c.ev.rtp = on_rtp;
    ck_assert_int_eq(hc_endpoint_new(&p->b, &c), 0);

    hc_ep_stream_cfg_t sc = {.ssrc = S_MEDIA,
                             .rtx_ssrc = S_RTX,
                             .pt = HC_EP_PT_H264,
                             .rtx_pt = HC_EP_PT_H264_RTX,
                             .clock_rate = 90000,
                             .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                             .history = 1024,
                             .first_seq = 65000,
                             .fec_ssrc = S_FEC};
    ck_assert_int_eq(hc_endpoint_stream_add(p->a, &sc, &p->s), 0);
    if (fec_group) ck_assert_int_eq(hc_endpoint_stream_fec(p->s, fec_group), 0);
    hc_ep_track_cfg_t tc = {.ssrc = S_MEDIA,
                            .rtx_ssrc = S_RTX,
                            .clock_rate = 90000,
                            .window = 1024,
                            .nack = nack,
                            .fec_ssrc = S_FEC,
                            .nack_by_caller = true};
    ck_assert_int_eq(hc_endpoint_track_add(p->b, &tc, &p->t), 0);

    hc_receiver_cfg_t rc;
    hc_receiver_cfg_default(&rc, true);
    rc.thread = false;
    rc.nack = nack;
    rc.sink.ud = p;
    rc.sink.video = on_picture;
    rc.on_nack = on_nack;
    rc.nack_ud = p;
    ck_assert_int_eq(hc_receiver_new(&p->r, &rc), 0);
    hc_receiver_on_rtt(p->r, 20000);

    hc_venc_cfg_t vc;
    hc_venc_cfg_default(&vc, 320, 180, 30, 400000);
    vc.keyint_ms = 60000;
    ck_assert_int_eq(hc_venc_new(&p->enc, &vc, NULL, 0), 0);
    p->y = malloc(320 * 180);
    p->u = malloc(320 * 180 / 4);
    p->v = malloc(320 * 180 / 4);
    hc_endpoint_start(p->a, p->now);
    hc_endpoint_start(p->b, p->now);
}

static void pair_fini(pair_t *p)
{
    hc_receiver_destroy(&p->r);
    hc_endpoint_destroy(&p->a);
    hc_endpoint_destroy(&p->b);
    hc_venc_destroy(&p->enc);
    close(p->link);
    free(p->y);
    free(p->u);
    free(p->v);
}

static void send_frame(pair_t *p)
{
    for (int y = 0; y < 180; y++)
        for (int x = 0; x < 320; x++)
            p->y[y * 320 + x] =
                (uint8_t)((x * 2 + y + 4 * (int)p->frame) ^ (int)(hc_test_rand(&p->rng) & 31));
    memset(p->u, 120, 320 * 180 / 4);
    memset(p->v, 136, 320 * 180 / 4);
    hc_venc_pic_t pic = {.plane = {p->y, p->u, p->v}, .stride = {320, 160, 160}, 320, 180};
    hc_venc_out_t o;
    ck_assert_int_eq(hc_venc_encode(p->enc, &pic, mark, &p->frame, &o), 1);
    hc_h264_pack_t pk;
    ck_assert_int_eq(hc_h264_pack_init(&pk, o.au, o.len, 1100), 0);
    uint8_t buf[1200];
    bool marker;
    int n;
    hc_ep_send_opts_t so = {0};
    if (p->cap_back) {
        uint64_t f = p->frame >= 30 && p->frame < 32 ? p->frame - 2 : p->frame;
        so.capture_wall_us = 1700000000000000ull + f * 33333;
    }
    while ((n = hc_h264_pack_next(&pk, buf, sizeof buf, &marker)) > 0)
        ck_assert_int_ge(hc_endpoint_send(p->a, p->s, buf, (size_t)n, p->frame * 3000, marker,
                                          p->cap_back ? &so : NULL, p->now),
                         0);
    hc_endpoint_flush(p->a);
    p->frame++;
}

/* Move what a sent through the link into b, dropping media by the rules. */
static void carry(pair_t *p)
{
    uint8_t buf[2048];
    ssize_t n;
    while ((n = recv(p->link, buf, sizeof buf, 0)) > 0) {
        if (!hc_rtcp_is_rtcp(buf, (size_t)n) && n >= 12) {
            uint32_t ssrc =
                (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
            if (ssrc == S_MEDIA) {
                p->media_seen++;
                bool drop = false;
                if (p->drop_every && p->media_seen % p->drop_every == 0) drop = true;
                if (p->loss > 0 && (double)(hc_test_rand(&p->rng) % 10000) < p->loss * 10000)
                    drop = true;
                if (drop) {
                    p->dropped++;
                    continue;
                }
            }
        }
        hc_endpoint_input(p->b, buf, (size_t)n, &p->a_addr, p->now);
    }
}

static void run(pair_t *p, unsigned frames)
{
    uint64_t t0 = p->now;
    uint64_t end = t0 + (uint64_t)frames * 33333 + 600000;
    while (p->now < end) {
        if (p->frame < frames && p->now >= t0 + (uint64_t)p->frame * 33333) send_frame(p);
        carry(p);
        hc_endpoint_poll(p->b, p->now);
        hc_receiver_poll(p->r, p->now);
        if (hc_receiver_want_pli(p->r, p->now)) hc_endpoint_request_keyframe(p->b, p->t, p->now);
        hc_endpoint_flush(p->b);
        hc_endpoint_recv(p->a, p->now);
        hc_endpoint_poll(p->a, p->now);
        carry(p);
        p->now += 1000;
    }
}

START_TEST(clean_link_every_frame)
{
    quiet();
    pair_t *p = calloc(1, sizeof *p);
    pair_init(p, true, 0);
    run(p, 60);
    hc_receiver_stats_t st;
    hc_receiver_stats(p->r, &st);
    ck_assert_uint_eq(p->pictures, 60);
    ck_assert_uint_eq(p->backwards, 0);
    ck_assert_int_eq(p->last_mark, 59);
    ck_assert_uint_eq(st.jb.frames_on_time, 60);
    ck_assert_uint_eq(st.jb.frames_lost, 0);
    ck_assert_int_eq(st.width, 320);
    ck_assert_int_eq(st.height, 180);
    ck_assert_uint_eq(st.decode_errors, 0);
    pair_fini(p);
    free(p);
}
END_TEST

/* Pictures captured no later than one already shown (a simulcast switch to
 * a layer whose encoder runs behind) are decoded but not shown. */
START_TEST(older_pictures_not_shown)
{
    quiet();
    pair_t *p = calloc(1, sizeof *p);
    pair_init(p, true, 0);
    p->cap_back = true;
    run(p, 60);
    hc_receiver_stats_t st;
    hc_receiver_stats(p->r, &st);
    ck_assert_uint_eq(st.stale_skipped, 2);
    ck_assert_uint_eq(p->pictures, 58);
    ck_assert_int_eq(p->last_mark, 59);
    ck_assert_uint_eq(st.jb.frames_on_time, 60);
    ck_assert_uint_eq(st.decode_errors, 0);
    pair_fini(p);
    free(p);
}
END_TEST

/* 5 % random loss of media packets: without repair frames are lost and the
 * decoder waits for keyframes; with NACK/RTX nearly every frame plays. */
START_TEST(loss_recovered_by_nack)
{
    quiet();
    uint64_t pics[2], lost[2];
    for (int nack = 0; nack < 2; nack++) {
        pair_t *p = calloc(1, sizeof *p);
        pair_init(p, nack, 0);
        p->loss = 0.05;
        run(p, 150);
        hc_receiver_stats_t st;
        hc_receiver_stats(p->r, &st);
        hc_ep_track_stats_t ts;
        hc_ep_track_stats(p->t, &ts);
        ck_assert_uint_gt(p->dropped, 10);
        ck_assert_uint_eq(p->backwards, 0);
        pics[nack] = p->pictures;
        lost[nack] = st.jb.frames_lost;
        /* every NACK came from the jitter buffer */
        ck_assert_uint_eq(ts.nacks_sent, st.jb.nacks_sent);
        if (nack) {
            ck_assert_uint_gt(ts.rtx, 0);
            ck_assert_uint_gt(st.recovered, 0);
            ck_assert_uint_gt(ts.nacks_sent, 0);
            ck_assert_msg(p->pictures >= 147, "%llu of 150 pictures",
                          (unsigned long long)p->pictures);
        } else {
            ck_assert_uint_eq(ts.nacks_sent, 0);
            /* the lost frames asked for keyframes */
            ck_assert_uint_gt(st.plis, 0);
            ck_assert_uint_gt(p->key_asked, 0);
        }
        pair_fini(p);
        free(p);
    }
    ck_assert_uint_gt(pics[1], pics[0]);
    ck_assert_uint_lt(lost[1], lost[0]);
}
END_TEST

/* The jitter buffer asks only for what can still make its playout time:
 * with a round trip longer than the whole playout budget nothing is worth
 * asking for, where a NACK generator that only knows the RTT would retry
 * every packet. */
START_TEST(nacks_respect_playout_deadline)
{
    quiet();
    pair_t *p = calloc(1, sizeof *p);
    pair_init(p, true, 0);
    hc_receiver_on_rtt(p->r, 500000); /* 300 ms budget (the default) */
    p->loss = 0.05;
    run(p, 60);
    hc_receiver_stats_t st;
    hc_receiver_stats(p->r, &st);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(p->t, &ts);
    ck_assert_uint_gt(p->dropped, 3);
    ck_assert_uint_eq(st.jb.nacks_sent, 0);
    ck_assert_uint_eq(ts.nacks_sent, 0);
    ck_assert_uint_eq(ts.rtx, 0);
    /* the endpoint still accounts the gaps, given up after its max age */
    ck_assert_uint_eq(ts.missing, p->dropped);
    ck_assert_uint_eq(ts.lost, p->dropped);
    pair_fini(p);
    free(p);
}
END_TEST

/* One media packet in ten dropped, FlexFEC groups of five, no NACK: every
 * hole is rebuilt from the repair packets. */
START_TEST(loss_recovered_by_fec)
{
    quiet();
    pair_t *p = calloc(1, sizeof *p);
    pair_init(p, false, 5);
    p->drop_every = 10;
    run(p, 90);
    hc_receiver_stats_t st;
    hc_receiver_stats(p->r, &st);
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(p->t, &ts);
    ck_assert_uint_gt(p->dropped, 10);
    ck_assert_uint_eq(ts.fec_recovered, p->dropped);
    ck_assert_uint_eq(ts.rtx, 0);
    ck_assert_uint_eq(p->pictures, 90);
    ck_assert_uint_eq(p->backwards, 0);
    ck_assert_uint_eq(st.jb.frames_lost, 0);
    pair_fini(p);
    free(p);
}
END_TEST

/* ---- audio ---- */

typedef struct atest {
    hc_receiver_t *r;
    uint64_t samples;
    uint16_t seq;
    unsigned drop_every, n;
    uint64_t now;
    bool red;
    bool dropped_last;  /* the previous packet was dropped */
    unsigned lbrr_next; /* dropped packets whose successor carries LBRR */
} atest_t;

/* RFC 6716 4.2.3: the LBRR flag of a mono SILK/hybrid packet of one 20 ms
 * frame is the second bit of its first frame. */
static bool has_lbrr(const uint8_t *p, size_t len)
{
    const unsigned char *fr[48];
    opus_int16 sz[48];
    if ((p[0] >> 3) >= 16 || opus_packet_parse(p, (opus_int32)len, NULL, fr, sz, NULL) <= 0 ||
        sz[0] == 0)
        return false;
    return (fr[0][0] >> 6) & 1;
}

static void on_pcm(void *ud, const int16_t *pcm, int n, uint64_t pts)
{
    (void)pcm;
    (void)pts;
    ((atest_t *)ud)->samples += (uint64_t)n;
}

static void on_opus(void *ud, const hc_aenc_pkt_t *pk)
{
    atest_t *a = ud;
    uint16_t seq = a->seq++;
    a->n++;
    if (a->dropped_last && has_lbrr(pk->opus, pk->opus_len)) a->lbrr_next++;
    a->dropped_last = a->drop_every && a->n % a->drop_every == 0;
    if (a->dropped_last) return;
    hc_ep_rx_t rx = {.ssrc = 1,
                     .seq = seq,
                     .ts = pk->ts,
                     .pt = a->red ? HC_RECEIVER_PT_RED : 111,
                     .payload = a->red ? pk->red : pk->opus,
                     .len = a->red ? pk->red_len : pk->opus_len,
                     .rx_us = a->now};
    hc_receiver_rtp(a->r, &rx, a->now);
}

START_TEST(audio_red_fills_holes)
{
    quiet();
    for (int red = 0; red < 2; red++) {
        atest_t a = {.drop_every = 7, .now = 5000000, .red = red};
        hc_receiver_cfg_t rc;
        hc_receiver_cfg_default(&rc, false);
        rc.thread = false;
        rc.nack = false;
        rc.sink.ud = &a;
        rc.sink.audio = on_pcm;
        ck_assert_int_eq(hc_receiver_new(&a.r, &rc), 0);
        hc_aenc_cfg_t ac;
        hc_aenc_cfg_default(&ac);
        ac.red_level = red ? 1 : 0;
        hc_aenc_t *e;
        ck_assert_int_eq(hc_aenc_new(&e, &ac, NULL, 0), 0);
        int16_t pcm[480];
        uint64_t t = 0;
        for (int i = 0; i < 200; i++) { /* 2 s in 10 ms chunks */
            for (int k = 0; k < 480; k++)
                pcm[k] = (int16_t)(6000 * sin(2 * M_PI * 440 * (double)(t + k) / 48000.0));
            t += 480;
            ck_assert_int_ge(hc_aenc_push(e, pcm, 480, 1, a.now, 0, on_opus, &a), 0);
            for (int ms = 0; ms < 10; ms++) {
                hc_receiver_poll(a.r, a.now);
                a.now += 1000;
            }
        }
        for (int ms = 0; ms < 500; ms++) {
            hc_receiver_poll(a.r, a.now);
            a.now += 1000;
        }
        hc_receiver_stats_t st;
        hc_receiver_stats(a.r, &st);
        unsigned dropped = a.n / 7;
        if (red) {
            ck_assert_uint_eq(st.red_recovered, dropped);
            ck_assert_uint_eq(st.concealed, 0);
            hc_aenc_stats_t es;
            hc_aenc_stats(e, &es);
            ck_assert_uint_eq(es.red_packets, es.frames);
        } else {
            ck_assert_uint_eq(st.red_recovered, 0);
            ck_assert_uint_ge(st.concealed, dropped - 1);
        }
        /* Either way the sound has no holes: 960 samples per frame. */
        ck_assert_uint_ge(a.samples, (uint64_t)(a.n - 1) * 960);
        ck_assert_uint_eq(st.decode_errors, 0);
        hc_aenc_destroy(&e);
        hc_receiver_destroy(&a.r);
    }
}
END_TEST

/* Speech-like test sound: a vowel (a few harmonics of a gliding pitch)
 * switched on and off at syllable rate, over a little noise. */
static int16_t speech(uint64_t n, uint64_t *rng)
{
    double t = (double)n / 48000.0;
    double f0 = 140.0 + 30.0 * sin(2 * M_PI * 0.7 * t);
    double v = 0;
    for (int h = 1; h <= 6; h++) v += sin(2 * M_PI * f0 * h * t) / h;
    double env = 0.5 + 0.5 * sin(2 * M_PI * 3.0 * t);
    double noise = (double)(int)(hc_test_rand(rng) % 2001 - 1000) / 1000.0;
    return (int16_t)(4000.0 * v * env + 300.0 * noise);
}

/* A lost Opus packet whose successor is in the jitter buffer comes back
 * from that packet's in-band FEC (LBRR); without FEC in the stream it is
 * concealed. */
START_TEST(audio_inband_fec)
{
    quiet();
    uint64_t rec[2], con[2];
    unsigned lbrr = 0, drops = 0;
    for (int fec = 0; fec < 2; fec++) {
        atest_t a = {.drop_every = 5, .now = 5000000};
        hc_receiver_cfg_t rc;
        hc_receiver_cfg_default(&rc, false);
        rc.thread = false;
        rc.nack = false;
        rc.sink.ud = &a;
        rc.sink.audio = on_pcm;
        ck_assert_int_eq(hc_receiver_new(&a.r, &rc), 0);
        hc_aenc_cfg_t ac;
        hc_aenc_cfg_default(&ac);
        ac.fec = fec;
        ac.loss_pct = 15;
        hc_aenc_t *e;
        ck_assert_int_eq(hc_aenc_new(&e, &ac, NULL, 0), 0);
        int16_t pcm[480];
        uint64_t t = 0, rng = 5;
        for (int i = 0; i < 300; i++) { /* 3 s in 10 ms chunks */
            for (int k = 0; k < 480; k++) pcm[k] = speech(t + (uint64_t)k, &rng);
            t += 480;
            ck_assert_int_ge(hc_aenc_push(e, pcm, 480, 1, a.now, 0, on_opus, &a), 0);
            for (int ms = 0; ms < 10; ms++) {
                hc_receiver_poll(a.r, a.now);
                a.now += 1000;
            }
        }
        for (int ms = 0; ms < 500; ms++) {
            hc_receiver_poll(a.r, a.now);
            a.now += 1000;
        }
        hc_receiver_stats_t st;
        hc_receiver_stats(a.r, &st);
        unsigned dropped = a.n / 5;
        rec[fec] = st.fec_recovered;
        con[fec] = st.concealed;
        if (fec) {
            lbrr = a.lbrr_next;
            drops = dropped;
        } else {
            ck_assert_uint_eq(a.lbrr_next, 0);
        }
        /* every lost frame is filled one way or the other */
        ck_assert_uint_ge(st.fec_recovered + st.concealed, dropped - 1);
        ck_assert_uint_ge(a.samples, (uint64_t)(a.n - 1) * 960);
        ck_assert_uint_eq(st.decode_errors, 0);
        hc_aenc_destroy(&e);
        hc_receiver_destroy(&a.r);
    }
    /* 150 frames, one in five lost */
    ck_assert_uint_eq(rec[0], 0);
    ck_assert_uint_ge(con[0], 29);
    /* libopus codes LBRR for the frames its VAD calls active: each of
     * those holes is rebuilt, only the others are concealed */
    ck_assert_uint_ge(lbrr, drops / 2);
    ck_assert_uint_eq(rec[1], lbrr);
    ck_assert_uint_le(con[1], drops - lbrr);
    ck_assert_uint_ge(con[1] + 1, drops - lbrr);
}
END_TEST

/* DTX: silence costs almost nothing (a comfort-noise update every 400 ms
 * or so) and the receiver plays on without concealing anything. */
START_TEST(audio_dtx_silence)
{
    quiet();
    for (int dtx = 0; dtx < 2; dtx++) {
        atest_t a = {.now = 5000000};
        hc_receiver_cfg_t rc;
        hc_receiver_cfg_default(&rc, false);
        rc.thread = false;
        rc.nack = false;
        rc.sink.ud = &a;
        rc.sink.audio = on_pcm;
        ck_assert_int_eq(hc_receiver_new(&a.r, &rc), 0);
        hc_aenc_cfg_t ac;
        hc_aenc_cfg_default(&ac);
        ck_assert(ac.dtx); /* on by default */
        ac.dtx = dtx;
        hc_aenc_t *e;
        ck_assert_int_eq(hc_aenc_new(&e, &ac, NULL, 0), 0);
        int16_t pcm[480];
        uint64_t t = 0, rng = 9;
        /* 1 s of speech, 2 s of silence, 1 s of speech */
        for (int i = 0; i < 400; i++) {
            bool quiet_part = i >= 100 && i < 300;
            for (int k = 0; k < 480; k++) pcm[k] = quiet_part ? 0 : speech(t + (uint64_t)k, &rng);
            t += 480;
            ck_assert_int_ge(hc_aenc_push(e, pcm, 480, 1, a.now, 0, on_opus, &a), 0);
            for (int ms = 0; ms < 10; ms++) {
                hc_receiver_poll(a.r, a.now);
                a.now += 1000;
            }
        }
        for (int ms = 0; ms < 500; ms++) {
            hc_receiver_poll(a.r, a.now);
            a.now += 1000;
        }
        hc_aenc_stats_t es;
        hc_aenc_stats(e, &es);
        hc_receiver_stats_t st;
        hc_receiver_stats(a.r, &st);
        if (dtx) {
            /* 100 silent frames, nearly all left out */
            ck_assert_uint_ge(es.dtx_skipped, 80);
            ck_assert_uint_le(a.n, 400 / 2 - 80);
        } else {
            ck_assert_uint_eq(es.dtx_skipped, 0);
            ck_assert_uint_eq(a.n, 200);
        }
        ck_assert_uint_eq(st.concealed, 0);
        ck_assert_uint_eq(st.decode_errors, 0);
        hc_aenc_destroy(&e);
        hc_receiver_destroy(&a.r);
    }
}
END_TEST

START_TEST(audio_encoder_settings)
{
    quiet();
    hc_aenc_cfg_t ac;
    hc_aenc_cfg_default(&ac);
    hc_aenc_t *e;
    ck_assert_int_eq(hc_aenc_new(&e, &ac, NULL, 0), 0);
    ac.fec = true;
    ac.loss_pct = 10;
    ac.bitrate_bps = 24000;
    ck_assert_int_eq(hc_aenc_set(e, &ac), 0);
    int16_t pcm[960 * 3];
    for (int k = 0; k < 960 * 3; k++) pcm[k] = (int16_t)(3000 * sin(k * 0.05));
    ck_assert_int_eq(hc_aenc_push(e, pcm, 960 * 3, 1, 0, 0, NULL, NULL), 3);
    hc_aenc_stats_t es;
    hc_aenc_stats(e, &es);
    /* applied once, to the running encoder */
    ck_assert_uint_eq(es.changes, 1);
    ck_assert_uint_eq(es.frames, 3);
    ck_assert_int_eq(hc_aenc_set(e, &ac), 0); /* the same again: nothing to apply */
    ck_assert_int_eq(hc_aenc_push(e, pcm, 960, 1, 0, 0, NULL, NULL), 1);
    hc_aenc_stats(e, &es);
    ck_assert_uint_eq(es.changes, 1);
    ac.red_level = 3;
    ck_assert_int_eq(hc_aenc_set(e, &ac), -HC_EINVAL);
    /* RFC 6464 levels: silence 127, full scale 0 */
    int16_t z[100] = {0}, full[100];
    for (int k = 0; k < 100; k++) full[k] = (k & 1) ? 32767 : -32767;
    ck_assert_uint_eq(hc_aenc_level(z, 100), 127);
    ck_assert_uint_eq(hc_aenc_level(full, 100), 0);
    hc_aenc_destroy(&e);
    ck_assert_ptr_null(e);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("edge_receiver");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, clean_link_every_frame);
    tcase_add_test(tc, older_pictures_not_shown);
    tcase_add_test(tc, loss_recovered_by_nack);
    tcase_add_test(tc, loss_recovered_by_fec);
    tcase_add_test(tc, nacks_respect_playout_deadline);
    tcase_add_test(tc, audio_red_fills_holes);
    tcase_add_test(tc, audio_inband_fec);
    tcase_add_test(tc, audio_dtx_silence);
    tcase_add_test(tc, audio_encoder_settings);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
