/* test_edge_sender.c - the edge's send side (edge/sender.h) against a
 * simulated uplink: a bottleneck (proto/linksim.h) whose capacity steps
 * down and up, the relay's transport-wide feedback built from what got
 * through (relay/core/twccfb.h), all in simulated time. The encoders are
 * stand-ins that produce exactly what the sender's targets ask for. */
#include "edge/sender.h"
#include "proto/err.h"
#include "proto/linksim.h"
#include "relay/core/twccfb.h"
#include "tests/common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FB_DELAY_US 50000 /* the feedback's way back */

typedef struct fbq {
    uint64_t at;
    uint8_t buf[1500];
    int len;
} fbq_t;

typedef struct sim {
    hc_sender_t *s;
    hc_linksim_t *link;
    hc_twccfb_t fb;
    uint64_t arr[4096];
    uint16_t twcc;
    fbq_t q[64];
    unsigned qh, qt;
    uint64_t now;
    int vid, aud;
    uint32_t vframe, apkt;
    uint32_t key_seen;
    uint64_t keyframes, padding;
    /* padding as the endpoint makes it: at most pad_cap bytes a packet
     * (0: as asked); the pacer's slots and what filled them */
    uint32_t pad_cap, pad_expect;
    uint64_t pad_slots, pad_asked, pad_bytes, pad_short_slots;
    unsigned pad_in_slot, pad_max_in_slot;
    uint8_t au[200000];
    /* delivered bytes per 100 ms, for rates */
    uint64_t rx_bytes[1000];
    uint32_t widths[1000];
    uint32_t targets[1000];
    /* simulcast: lower layers encoded next to vid, and per 100 ms the top
     * layer's state and the layers' targets */
    int xv[3], nxv;
    uint32_t xkey_seen[3];
    uint64_t xframes[3];
    uint8_t fpss[1000];
    bool offs[1000];
    uint32_t shares[1000];
    uint32_t xrates[3][1000];
} sim_t;

static int sim_send(void *ud, const hc_sender_out_t *p, uint64_t now, int32_t *twcc, uint32_t *wire)
{
    sim_t *m = ud;
    uint32_t bytes = (uint32_t)p->len + (p->padding ? 0 : HC_SENDER_OVERHEAD);
    if (p->padding) {
        m->padding++;
        if (m->pad_cap && bytes > m->pad_cap) bytes = m->pad_cap;
        if (m->pad_expect && p->len == m->pad_expect) {
            m->pad_in_slot++; /* the rest of the same slot */
        } else {
            if (m->pad_slots && m->pad_expect >= 100) m->pad_short_slots++;
            m->pad_slots++;
            m->pad_asked += p->len;
            m->pad_in_slot = 1;
        }
        if (m->pad_in_slot > m->pad_max_in_slot) m->pad_max_in_slot = m->pad_in_slot;
        m->pad_bytes += bytes;
        m->pad_expect = bytes < p->len ? (uint32_t)p->len - bytes : 0;
    }
    *twcc = m->twcc;
    *wire = bytes;
    hc_linksim_send(m->link, now, m->twcc, bytes);
    m->twcc++;
    return 0;
}

static void sim_init(sim_t *m, hc_profile_t profile, bool repair, double loss, uint64_t start_bps)
{
    memset(m, 0, sizeof *m);
    m->vid = m->aud = -1;
    hc_linksim_cfg_t lc = {.delay_us = 50000, .queue_us = 300000, .loss = loss, .seed = 7};
    ck_assert_int_eq(hc_linksim_new(&m->link, &lc), 0);
    hc_twccfb_init(&m->fb, m->arr, 4096);
    hc_sender_cfg_t c;
    hc_sender_cfg_default(&c);
    c.profile = profile;
    c.repair = repair;
    c.start_bps = (uint32_t)start_bps;
    c.io.send = sim_send;
    c.io.ud = m;
    m->now = 1000000;
    ck_assert_int_eq(hc_sender_new(&m->s, &c, m->now), 0);
    hc_sender_set_rtt(m->s, 100000);
}

static void sim_fini(sim_t *m)
{
    hc_sender_destroy(&m->s);
    ck_assert_ptr_null(m->s);
    hc_linksim_destroy(&m->link);
}

/* A stand-in access unit of n bytes: SPS + PPS + IDR, or one slice. */
static size_t fake_au(sim_t *m, size_t n, bool key)
{
    size_t o = 0;
    static const uint8_t sc[] = {0, 0, 0, 1};
    if (key) {
        static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1e, 0xda};
        static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
        memcpy(m->au + o, sc, 4), o += 4;
        memcpy(m->au + o, sps, sizeof sps), o += sizeof sps;
        memcpy(m->au + o, sc, 4), o += 4;
        memcpy(m->au + o, pps, sizeof pps), o += sizeof pps;
    }
    if (n < 16) n = 16;
    if (n > sizeof m->au - 64) n = sizeof m->au - 64;
    memcpy(m->au + o, sc, 4), o += 4;
    m->au[o++] = key ? 0x65 : 0x41;
    memset(m->au + o, 0xa5, n);
    return o + n;
}

static void sim_step(sim_t *m)
{
    /* encoders */
    if (m->vid >= 0 && m->now >= 1000000 + (uint64_t)m->vframe * 33333) {
        hc_sender_target_t t;
        hc_sender_target(m->s, m->vid, &t);
        bool key = m->vframe == 0 || t.keyframe_gen != m->key_seen;
        m->key_seen = t.keyframe_gen;
        if (!t.off && t.bitrate_bps) {
            size_t bytes = t.bitrate_bps / 30 / 8;
            if (key) bytes *= 3;
            size_t len = fake_au(m, bytes, key);
            if (key) m->keyframes++;
            hc_sender_video(m->s, m->vid, m->au, len, m->vframe * 3000, key, 0, m->now);
        }
        for (int k = 0; k < m->nxv; k++) {
            hc_sender_target(m->s, m->xv[k], &t);
            bool xkey = m->vframe == 0 || t.keyframe_gen != m->xkey_seen[k];
            m->xkey_seen[k] = t.keyframe_gen;
            if (t.off || !t.bitrate_bps) continue;
            size_t bytes = t.bitrate_bps / 30 / 8;
            if (xkey) bytes *= 3;
            size_t len = fake_au(m, bytes, xkey);
            hc_sender_video(m->s, m->xv[k], m->au, len, m->vframe * 3000, xkey, 0, m->now);
            m->xframes[k]++;
        }
        m->vframe++;
    }
    if (m->aud >= 0 && m->now >= 1000000 + (uint64_t)m->apkt * 20000) {
        hc_sender_target_t t;
        hc_sender_target(m->s, m->aud, &t);
        uint8_t a[400];
        size_t n = t.bitrate_bps / 50 / 8 * (1 + t.red_level);
        if (n > sizeof a) n = sizeof a;
        memset(a, 0x33, n);
        a[0] = 0xf8;
        hc_sender_audio(m->s, m->aud, a, n, m->apkt * 960, 111, 40, true, 0, m->now);
        m->apkt++;
    }
    hc_sender_poll(m->s, m->now);
    /* the link and the relay's feedback */
    hc_linksim_pkt_t p;
    while (hc_linksim_poll(m->link, m->now, &p) == 1) {
        hc_twccfb_record(&m->fb, (uint16_t)p.id, p.t_out);
        uint64_t slot = (p.t_out - 1000000) / 100000;
        if (slot < 1000) m->rx_bytes[slot] += p.bytes;
    }
    if (m->now % 50000 == 0 && hc_twccfb_pending(&m->fb)) {
        fbq_t *f = &m->q[m->qt++ % 64];
        f->at = m->now + FB_DELAY_US;
        f->len = hc_twccfb_build(&m->fb, f->buf, sizeof f->buf, 1, 2, NULL);
        ck_assert_int_gt(f->len, 0);
    }
    while (m->qh != m->qt && m->q[m->qh % 64].at <= m->now) {
        fbq_t *f = &m->q[m->qh++ % 64];
        hc_sender_on_rtcp(m->s, f->buf, (size_t)f->len, m->now);
    }
    if (m->now % 100000 == 0) {
        uint64_t slot = (m->now - 1000000) / 100000;
        if (slot < 1000) {
            hc_sender_stats_t st;
            hc_sender_stats(m->s, &st, m->now);
            m->targets[slot] = st.target_bps;
            if (m->vid >= 0) {
                hc_sender_target_t t;
                hc_sender_target(m->s, m->vid, &t);
                m->widths[slot] = (uint32_t)t.width;
                m->fpss[slot] = (uint8_t)t.fps;
                m->offs[slot] = t.off;
                hc_sender_stream_stats_t vs;
                hc_sender_stream_stats(m->s, m->vid, &vs);
                m->shares[slot] = vs.share_bps;
            }
            for (int k = 0; k < m->nxv; k++) {
                hc_sender_target_t t;
                hc_sender_target(m->s, m->xv[k], &t);
                m->xrates[k][slot] = t.off ? 0 : t.bitrate_bps;
            }
        }
    }
    m->now += 1000;
}

static void sim_run_until(sim_t *m, double sec)
{
    uint64_t end = 1000000 + (uint64_t)(sec * 1e6);
    while (m->now < end) sim_step(m);
}

/* Delivered rate (bit/s) over [a, b) seconds of simulated time. */
static double rx_rate(const sim_t *m, double a, double b)
{
    uint64_t sum = 0;
    for (unsigned i = (unsigned)(a * 10); i < (unsigned)(b * 10); i++) sum += m->rx_bytes[i];
    return (double)sum * 8.0 / (b - a);
}

START_TEST(adapts_to_capacity_steps)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CLASS, true, 0.0, 600000);
    hc_sender_stream_cfg_t v = {.video = true,
                                .role = HC_ROLE_MAIN,
                                .ssrc = 0x1000,
                                .pt = 96,
                                .width = 640,
                                .height = 360,
                                .fps = 30};
    hc_sender_stream_cfg_t a = {.video = false, .role = HC_ROLE_AUDIO, .ssrc = 0x2000, .pt = 111};
    m->vid = hc_sender_add(m->s, &v);
    m->aud = hc_sender_add(m->s, &a);
    ck_assert_int_eq(m->vid, 0);
    ck_assert_int_eq(m->aud, 1);
    /* 1.2 Mbit/s, 300 kbit/s from 15 s, 1.2 Mbit/s again from 30 s */
    hc_linksim_set_rate(m->link, 0, 1200000);
    hc_linksim_set_rate(m->link, 1000000 + 15000000, 300000);
    hc_linksim_set_rate(m->link, 1000000 + 30000000, 1200000);
    sim_run_until(m, 45);

    double r1 = rx_rate(m, 8, 15), r2 = rx_rate(m, 18, 30), r3 = rx_rate(m, 40, 45);
    if (getenv("HC_TEST_VERBOSE")) {
        for (int i = 0; i < 450; i += 5)
            fprintf(stderr, "t=%.1f target=%u width=%u rx=%.0f\n", i / 10.0, m->targets[i],
                    m->widths[i], rx_rate(m, i / 10.0, i / 10.0 + 0.5));
    }
    /* The link is used, and not overrun for long after the drop. */
    ck_assert_msg(r1 > 0.6 * 1200000, "before the drop: %.0f bit/s", r1);
    ck_assert_msg(r2 > 0.5 * 300000 && r2 <= 1.02 * 300000, "after the drop: %.0f bit/s", r2);
    ck_assert_msg(r3 > 0.6 * 1200000, "after the rise: %.0f bit/s", r3);
    /* The target falls under the new capacity within 2 s of the drop. */
    ck_assert_msg(m->targets[170] < 330000, "target 2 s after the drop: %u", m->targets[170]);
    /* The video rung follows: 360p before, 180p after the drop, 360p again. */
    ck_assert_uint_eq(m->widths[140], 640);
    ck_assert_uint_eq(m->widths[250], 320);
    ck_assert_uint_eq(m->widths[440], 640);
    /* A clean uplink, yet the voice carries RED and Opus FEC for the
     * listeners' downlinks, at no less than its wanted Opus rate. */
    hc_sender_target_t ta;
    hc_sender_target(m->s, m->aud, &ta);
    ck_assert_uint_ge(ta.red_level, 1); /* 2 at this rate */
    ck_assert(ta.opus_fec);
    ck_assert_uint_ge(ta.opus_loss_pct, 10);
    ck_assert_uint_ge(ta.bitrate_bps, 32000);
    /* Queuing stays bounded: p95 under 300 ms over the whole run. */
    uint64_t p95 = hc_linksim_qdelay_quantile(m->link, 0.95);
    ck_assert_msg(p95 < 300000, "p95 queuing delay %llu us", (unsigned long long)p95);
    hc_sender_stream_stats_t vs;
    hc_sender_stream_stats(m->s, m->vid, &vs);
    ck_assert_uint_gt(vs.frames, 1300);
    ck_assert_uint_gt(vs.sent_packets, 0);
    hc_sender_stats_t st;
    hc_sender_stats(m->s, &st, m->now);
    ck_assert_uint_gt(st.feedbacks, 500);
    ck_assert(st.link_up);
    ck_assert_uint_eq(st.bwe.unknown, 0);
    sim_fini(m);
    free(m);
}
END_TEST

/* Probe clusters are filled with padding the endpoint builds; a padding
 * packet holds fewer bytes than the pacer planned (RFC 3550: 255 octets
 * of padding at most), so the sender asks for more until the slot is
 * full, and each packet counts for the estimator (probe results come). */
START_TEST(padding_fills_probe_slots)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CLASS, true, 0.0, 300000);
    m->pad_cap = 300;
    hc_sender_stream_cfg_t v = {.video = true,
                                .role = HC_ROLE_MAIN,
                                .ssrc = 0x1000,
                                .pt = 96,
                                .width = 640,
                                .height = 360,
                                .fps = 30};
    m->vid = hc_sender_add(m->s, &v);
    hc_linksim_set_rate(m->link, 0, 3000000);
    sim_run_until(m, 6);
    hc_sender_stats_t st;
    hc_sender_stats(m->s, &st, m->now);
    if (getenv("HC_TEST_VERBOSE"))
        fprintf(stderr, "probes %llu valid %llu probe_bps %u target %u pad %llu/%llu slots %llu\n",
                (unsigned long long)st.bwe.probes, (unsigned long long)st.bwe.probes_valid,
                st.bwe.probe_bps, st.target_bps, (unsigned long long)m->pad_bytes,
                (unsigned long long)m->pad_asked, (unsigned long long)m->pad_slots);
    ck_assert_uint_gt(st.probes, 0);
    ck_assert_uint_gt(m->pad_slots, 0);
    /* slots bigger than a padding packet took several, never more than 8 */
    ck_assert_uint_gt(m->padding, m->pad_slots);
    ck_assert_uint_le(m->pad_max_in_slot, 8);
    ck_assert_uint_eq(m->pad_short_slots, 0);
    ck_assert_msg(m->pad_bytes + 100 * m->pad_slots >= m->pad_asked, "padding %llu of %llu",
                  (unsigned long long)m->pad_bytes, (unsigned long long)m->pad_asked);
    ck_assert_uint_eq(st.padding_sent, m->padding);
    ck_assert_uint_eq(st.padding_refused, 0);
    /* the clusters came back whole and measured well above the start */
    ck_assert_uint_gt(st.bwe.probes_valid, 0);
    ck_assert_uint_gt(st.bwe.probe_bps, 900000);
    ck_assert_uint_eq(st.bwe.unknown, 0);
    /* an RTX the endpoint sent by itself counts too */
    hc_sender_note_sent(m->s, m->twcc++, 1200, false, m->now);
    hc_sender_note_sent(NULL, 0, 0, false, 0);
    sim_fini(m);
    free(m);
}
END_TEST

START_TEST(repair_follows_loss)
{
    for (int on = 0; on < 2; on++) {
        sim_t *m = calloc(1, sizeof *m);
        sim_init(m, HC_PROFILE_CLASS, on, 0.10, 600000);
        hc_sender_stream_cfg_t v = {.video = true,
                                    .role = HC_ROLE_MAIN,
                                    .ssrc = 0x1000,
                                    .pt = 96,
                                    .width = 320,
                                    .height = 180,
                                    .fps = 30};
        hc_sender_stream_cfg_t a = {.role = HC_ROLE_AUDIO, .ssrc = 0x2000, .pt = 111};
        m->vid = hc_sender_add(m->s, &v);
        m->aud = hc_sender_add(m->s, &a);
        hc_linksim_set_rate(m->link, 0, 2000000);
        sim_run_until(m, 6);
        hc_sender_target_t tv, ta;
        hc_sender_target(m->s, m->vid, &tv);
        hc_sender_target(m->s, m->aud, &ta);
        hc_sender_stats_t st;
        hc_sender_stats(m->s, &st, m->now);
        ck_assert_msg(st.bwe.loss > 0.05, "measured loss %.3f", st.bwe.loss);
        if (on) {
            /* 10 % loss at 100 ms RTT: FEC, RED 2, Opus FEC. */
            ck_assert_uint_gt(tv.fec_k, 0);
            ck_assert_uint_eq(ta.red_level, 2);
            ck_assert(ta.opus_fec);
            ck_assert_uint_ge(ta.opus_loss_pct, 10);
            /* random loss is not congestion: the rate holds up */
            ck_assert_uint_gt(st.target_bps, 300000);
        } else {
            ck_assert_uint_eq(tv.fec_k, 0);
            ck_assert_uint_eq(ta.red_level, 0);
            ck_assert(!ta.opus_fec);
            ck_assert(!tv.intra_refresh);
        }
        sim_fini(m);
        free(m);
    }
}
END_TEST

START_TEST(budget_caps_the_target)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CLASS, true, 0.0, 800000);
    hc_sender_stream_cfg_t v = {
        .video = true, .role = HC_ROLE_MAIN, .pt = 96, .width = 640, .height = 360, .fps = 30};
    m->vid = hc_sender_add(m->s, &v);
    m->aud = -1;
    hc_linksim_set_rate(m->link, 0, 3000000);
    hc_sender_set_budget(m->s, 250000);
    sim_run_until(m, 5);
    hc_sender_stats_t st;
    hc_sender_stats(m->s, &st, m->now);
    ck_assert_uint_le(st.target_bps, 250000);
    ck_assert_msg(rx_rate(m, 2, 5) < 260000, "%.0f", rx_rate(m, 2, 5));
    hc_sender_target_t t;
    hc_sender_target(m->s, m->vid, &t);
    ck_assert_int_eq(t.width, 320);
    sim_fini(m);
    free(m);
}
END_TEST

START_TEST(consult_keeps_diagnostic_drops_face)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CONSULT, true, 0.0, 350000);
    hc_sender_stream_cfg_t d = {
        .video = true, .role = HC_ROLE_DIAG, .pt = 96, .width = 640, .height = 360, .fps = 30};
    hc_sender_stream_cfg_t f = {
        .video = true, .role = HC_ROLE_FACE, .pt = 96, .width = 640, .height = 360, .fps = 30};
    hc_sender_stream_cfg_t a = {.role = HC_ROLE_AUDIO, .pt = 111};
    int di = hc_sender_add(m->s, &d), fi = hc_sender_add(m->s, &f), ai = hc_sender_add(m->s, &a);
    hc_sender_target_t td, tf, ta;
    hc_sender_target(m->s, di, &td);
    hc_sender_target(m->s, fi, &tf);
    hc_sender_target(m->s, ai, &ta);
    /* 350 kbit/s: audio first, then the diagnostic video at its full
     * resolution (lower frame rate); the face camera stops. */
    ck_assert_uint_ge(ta.bitrate_bps, 24000);
    ck_assert(!td.off);
    ck_assert_int_eq(td.width, 640);
    ck_assert_uint_gt(td.bitrate_bps, 100000);
    ck_assert(tf.off);
    ck_assert_uint_eq(tf.bitrate_bps, 0);
    /* Every rung of the diagnostic ladder keeps 640x360. */
    hc_ladder_cfg_t lc;
    hc_sender_ladder_cfg(HC_PROFILE_CONSULT, HC_ROLE_DIAG, 640, 360, 30, &lc);
    ck_assert_uint_eq(lc.nres, 1);
    ck_assert_uint_eq(lc.mode, HC_LADDER_FPS_FIRST);
    ck_assert_uint_eq(lc.floor, HC_LADDER_STILLS);
    sim_fini(m);
    free(m);
}
END_TEST

/* Simulcast, three layers of one picture from one estimate: the lower
 * layers (320x180 at 150 kbit/s, 160x90 at 60 kbit/s) get their rates
 * first; the top layer (640x360) takes the rest through its ladder, sinks
 * a rung as the link narrows, stops when even its last rung does not fit
 * on top of the lower layers, and comes back (with a keyframe, once) when
 * the link widens again. */
START_TEST(simulcast_layers_share_one_estimate)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CLASS, false, 0.0, 800000);
    hc_sender_stream_cfg_t v = {.video = true,
                                .role = HC_ROLE_MAIN,
                                .ssrc = 0x1000,
                                .pt = 96,
                                .width = 640,
                                .height = 360,
                                .fps = 30};
    hc_sender_stream_cfg_t a = {.video = false, .role = HC_ROLE_AUDIO, .ssrc = 0x2000, .pt = 111};
    m->vid = hc_sender_add(m->s, &v);
    m->aud = hc_sender_add(m->s, &a);
    hc_sender_stream_cfg_t l1 = v, l2 = v;
    l1.ssrc = 0x1001, l1.width = 320, l1.height = 180, l1.max_bps = 150000;
    l1.layer = 1, l1.top = m->vid;
    l2.ssrc = 0x1002, l2.width = 160, l2.height = 90, l2.fps = 15, l2.max_bps = 60000;
    l2.layer = 2, l2.top = m->vid;
    m->xv[0] = hc_sender_add(m->s, &l1);
    m->xv[1] = hc_sender_add(m->s, &l2);
    ck_assert_int_eq(m->xv[0], 2);
    ck_assert_int_eq(m->xv[1], 3);
    m->nxv = 2;
    /* bad layers are refused: no rate, no top, not smaller, audio top */
    hc_sender_stream_cfg_t bad = l1;
    bad.max_bps = 0;
    ck_assert_int_eq(hc_sender_add(m->s, &bad), -HC_EINVAL);
    bad = l1, bad.top = 7;
    ck_assert_int_eq(hc_sender_add(m->s, &bad), -HC_EINVAL);
    bad = l1, bad.width = 640, bad.height = 360;
    ck_assert_int_eq(hc_sender_add(m->s, &bad), -HC_EINVAL);
    bad = l1, bad.top = m->aud;
    ck_assert_int_eq(hc_sender_add(m->s, &bad), -HC_EINVAL);
    bad = l1, bad.top = m->xv[0];
    ck_assert_int_eq(hc_sender_add(m->s, &bad), -HC_EINVAL);

    /* 1.5 Mbit/s; 600 kbit/s from 15 s; 400 kbit/s from 30 s; 1.5 Mbit/s
     * again from 45 s */
    hc_linksim_set_rate(m->link, 0, 1500000);
    hc_linksim_set_rate(m->link, 1000000 + 15000000, 600000);
    hc_linksim_set_rate(m->link, 1000000 + 30000000, 400000);
    hc_linksim_set_rate(m->link, 1000000 + 45000000, 1500000);
    sim_run_until(m, 70);
    if (getenv("HC_TEST_VERBOSE")) {
        for (int i = 0; i < 700; i += 5)
            fprintf(stderr, "t=%.1f target=%u top %u@%u%s share %u l1 %u l2 %u rx=%.0f\n", i / 10.0,
                    m->targets[i], m->widths[i], m->fpss[i], m->offs[i] ? " off" : "", m->shares[i],
                    m->xrates[0][i], m->xrates[1][i], rx_rate(m, i / 10.0, i / 10.0 + 0.5));
    }
    /* high: all three run, the top at its best rung */
    for (int i = 100; i < 150; i++) {
        ck_assert_msg(!m->offs[i], "top off at %.1f s", i / 10.0);
        ck_assert_uint_eq(m->widths[i], 640);
        ck_assert_uint_eq(m->fpss[i], 30);
        ck_assert_uint_ge(m->xrates[0][i], 140000);
        ck_assert_uint_ge(m->xrates[1][i], 55000);
    }
    /* 600 kbit/s: the top's rung sinks (frame rate; 320x180 is layer 1's) */
    for (int i = 250; i < 300; i++) {
        ck_assert_msg(!m->offs[i], "top off at %.1f s", i / 10.0);
        ck_assert_uint_eq(m->widths[i], 640);
        ck_assert_uint_eq(m->fpss[i], 15);
        ck_assert_uint_ge(m->xrates[0][i], 140000);
        ck_assert_uint_ge(m->xrates[1][i], 55000);
    }
    /* 400 kbit/s: the top stops, the lower layers keep their rates */
    int full = 0;
    for (int i = 360; i < 450; i++) {
        ck_assert_msg(m->offs[i], "top still on at %.1f s", i / 10.0);
        /* the estimate's dips may halve layer 1 for a moment, never stop it */
        ck_assert_uint_ge(m->xrates[0][i], 75000);
        ck_assert_uint_ge(m->xrates[1][i], 55000);
        if (m->xrates[0][i] >= 140000) full++;
    }
    ck_assert_msg(full >= 80, "layer 1 at its rate %d of 90 slots", full);
    ck_assert_msg(rx_rate(m, 36, 45) < 400000 * 1.02, "%.0f", rx_rate(m, 36, 45));
    /* back at 1.5 Mbit/s: the top resumes (within 15 s) and stays */
    int back = -1;
    for (int i = 450; i < 700 && back < 0; i++)
        if (!m->offs[i]) back = i;
    ck_assert_msg(back > 0 && back < 600, "the top did not come back (%d)", back);
    for (int i = back; i < 700; i++) ck_assert_msg(!m->offs[i], "flap at %.1f s", i / 10.0);
    ck_assert_uint_eq(m->widths[690], 640);
    /* one stop, one resume: no flapping */
    hc_sender_stream_stats_t st, s1, s2;
    hc_sender_stream_stats(m->s, m->vid, &st);
    hc_sender_stream_stats(m->s, m->xv[0], &s1);
    hc_sender_stream_stats(m->s, m->xv[1], &s2);
    ck_assert_uint_eq(st.stops, 1);
    ck_assert_uint_eq(st.resumes, 1);
    ck_assert_uint_eq(s1.stops, 0);
    ck_assert_uint_eq(s2.stops, 0);
    ck_assert_uint_gt(m->xframes[0], 60 * 30 * 9 / 10);
    ck_assert_uint_gt(s2.frames, 60 * 30 * 9 / 10);
    /* the top's sent frames: none while it was stopped; its resume made a
     * keyframe (the first and the resume at least) */
    ck_assert_uint_ge(st.keyframes, 2);
    ck_assert_uint_lt(st.frames, s1.frames - 8 * 30);
    sim_fini(m);
    free(m);
}
END_TEST

START_TEST(bad_input)
{
    sim_t *m = calloc(1, sizeof *m);
    sim_init(m, HC_PROFILE_CLASS, true, 0.0, 600000);
    hc_sender_stream_cfg_t v = {
        .video = true, .role = HC_ROLE_MAIN, .pt = 96, .width = 320, .height = 180, .fps = 30};
    int vi = hc_sender_add(m->s, &v);
    uint8_t junk[100];
    memset(junk, 0x11, sizeof junk);
    ck_assert_int_eq(hc_sender_video(m->s, vi, junk, sizeof junk, 0, false, 0, m->now),
                     -HC_EMALFORMED);
    ck_assert_int_eq(hc_sender_video(m->s, 5, junk, sizeof junk, 0, false, 0, m->now), -HC_EINVAL);
    ck_assert_int_eq(hc_sender_audio(m->s, vi, junk, 10, 0, 111, 0, 0, 0, m->now), -HC_EINVAL);
    /* A frame too big for the buffers is dropped whole and asks for a key. */
    hc_sender_target_t t0, t1;
    hc_sender_target(m->s, vi, &t0);
    size_t len = fake_au(m, 190000, false);
    int total = 0;
    for (int i = 0; i < 20; i++) {
        int rc = hc_sender_video(m->s, vi, m->au, len, 0, false, 0, m->now);
        if (rc == -HC_EFULL) break;
        ck_assert_int_gt(rc, 0);
        total += rc;
    }
    hc_sender_target(m->s, vi, &t1);
    ck_assert_uint_gt(t1.keyframe_gen, t0.keyframe_gen);
    hc_sender_flush(m->s, true, m->now);
    hc_sender_stats_t st;
    hc_sender_stats(m->s, &st, m->now);
    ck_assert_uint_eq(st.queue_us, 0);
    ck_assert_int_gt(total, 0);
    sim_fini(m);
    free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("edge_sender");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, adapts_to_capacity_steps);
    tcase_add_test(tc, padding_fills_probe_slots);
    tcase_add_test(tc, repair_follows_loss);
    tcase_add_test(tc, budget_caps_the_target);
    tcase_add_test(tc, consult_keeps_diagnostic_drops_face);
    tcase_add_test(tc, simulcast_layers_share_one_estimate);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
