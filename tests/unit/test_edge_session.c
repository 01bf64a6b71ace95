/*
 * Unit tests of the pure pieces of edge/session.h: the reconnect backoff
 * (0.5 s doubling to 10 s, +-25 % jitter), the media leg taken from a
 * joined reply (keys, suites, host from the reply, the URL or media_via),
 * the join request built from a config, and the per-second outputs (the
 * stats JSON, checked by parsing it back with jansson, and the live line).
 * The session against a real relay is tests/integration/test_edge_session.c.
 */
#include "edge/session.h"

#include "proto/b64.h"
#include "proto/err.h"
#include "tests/common/testutil.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(backoff_doubles_to_cap_with_jitter)
{
    uint64_t rng = 12345;
    uint32_t cur = 0, j;
    static const uint32_t want[] = {500, 1000, 2000, 4000, 8000, 10000, 10000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cur = hc_edge_backoff_next(cur, 500, 10000, &rng, &j);
        ck_assert_uint_eq(cur, want[i]);
        ck_assert_uint_ge(j, cur * 3 / 4);
        ck_assert_uint_le(j, cur * 5 / 4);
    }
    /* The jitter spreads over the whole +-25 % band. */
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 2000; i++) {
        hc_edge_backoff_next(1000, 500, 10000, &rng, &j); /* 2000 +-25 % */
        if (j < lo) lo = j;
        if (j > hi) hi = j;
    }
    ck_assert_uint_ge(lo, 1500);
    ck_assert_uint_le(lo, 1550);
    ck_assert_uint_le(hi, 2500);
    ck_assert_uint_ge(hi, 2450);
    /* Same seed, same delays. */
    uint64_t a = 7, b = 7;
    uint32_t ja, jb;
    for (int i = 0; i < 10; i++) {
        hc_edge_backoff_next(500, 500, 10000, &a, &ja);
        hc_edge_backoff_next(500, 500, 10000, &b, &jb);
        ck_assert_uint_eq(ja, jb);
    }
    /* Degenerate bounds stay sane. */
    ck_assert_uint_eq(hc_edge_backoff_next(0, 0, 0, &rng, &j), 1);
    ck_assert_uint_ge(j, 1);
    ck_assert_uint_eq(hc_edge_backoff_next(4000, 500, 300, &rng, NULL), 500);
}
END_TEST

START_TEST(url_host)
{
    char h[64];
    ck_assert_int_eq(hc_edge_url_host("ws://127.0.0.1:8443", h, sizeof h), 0);
    ck_assert_str_eq(h, "127.0.0.1");
    ck_assert_int_eq(hc_edge_url_host("wss://relay.example.org/sig?x=1", h, sizeof h), 0);
    ck_assert_str_eq(h, "relay.example.org");
    ck_assert_int_eq(hc_edge_url_host("ws://[::1]:8443", h, sizeof h), 0);
    ck_assert_str_eq(h, "::1");
    ck_assert_int_eq(hc_edge_url_host("wss://host", h, sizeof h), 0);
    ck_assert_str_eq(h, "host");
    ck_assert_int_eq(hc_edge_url_host("http://x", h, sizeof h), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_url_host("ws://", h, sizeof h), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_url_host("ws://:80", h, sizeof h), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_url_host("ws://[::1:80", h, sizeof h), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_url_host("ws://a-very-long-host-name", h, 8), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_url_host(NULL, h, sizeof h), -HC_EINVAL);
}
END_TEST

static void transport(hc_sig_transport_t *t, hc_sig_suite_t suite, size_t up_len, size_t down_len)
{
    memset(t, 0, sizeof *t);
    uint8_t k[64];
    for (size_t i = 0; i < sizeof k; i++) k[i] = (uint8_t)(i + 1);
    t->port = 40000;
    t->suite = suite;
    ck_assert_int_gt(hc_b64_encode(k, up_len, t->key_up, sizeof t->key_up), 0);
    for (size_t i = 0; i < sizeof k; i++) k[i] = (uint8_t)(0xa0 + i);
    ck_assert_int_gt(hc_b64_encode(k, down_len, t->key_down, sizeof t->key_down), 0);
    t->rtcp_ssrc = 0x11223344;
}

START_TEST(leg_from_joined)
{
    hc_sig_transport_t t;
    hc_edge_leg_t leg;
    char err[256], a[HC_ADDR_STRLEN];

    /* gcm: 16 + 12 bytes; no host in the reply: the URL's. */
    transport(&t, HC_SIG_SUITE_GCM, 28, 28);
    ck_assert_int_eq(
        hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", NULL, &leg, err, sizeof err), 0);
    ck_assert_int_eq(leg.suite, HC_SRTP_AEAD_AES_128_GCM);
    ck_assert_uint_eq(leg.key_up[0], 1);
    ck_assert_uint_eq(leg.key_up[27], 28);
    ck_assert_uint_eq(leg.key_down[0], 0xa0);
    ck_assert_uint_eq(leg.rtcp_ssrc, 0x11223344);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "127.0.0.1:40000");

    /* The reply's host wins over the URL's; a port written with it is not
     * the media port. */
    snprintf(t.host, sizeof t.host, "127.0.0.2");
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "", &leg, err, sizeof err),
                     0);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "127.0.0.2:40000");
    snprintf(t.host, sizeof t.host, "127.0.0.3:9999");
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "", &leg, err, sizeof err),
                     0);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "127.0.0.3:40000");
    snprintf(t.host, sizeof t.host, "[::1]");
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "", &leg, err, sizeof err),
                     0);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "[::1]:40000");
    /* A name is resolved (localhost needs no network). */
    snprintf(t.host, sizeof t.host, "localhost");
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "", &leg, err, sizeof err),
                     0);
    ck_assert_uint_eq(hc_addr_port(&leg.relay), 40000);
    t.host[0] = 0;

    /* IPv6 URL. */
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "wss://[::1]:8443", NULL, &leg, err, sizeof err),
                     0);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "[::1]:40000");

    /* media_via replaces the address, not the keys. */
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "127.0.0.1:50000", &leg,
                                             err, sizeof err),
                     0);
    hc_addr_format(&leg.relay, a, sizeof a);
    ck_assert_str_eq(a, "127.0.0.1:50000");
    ck_assert_uint_eq(leg.key_up[0], 1);
    ck_assert_int_eq(
        hc_edge_leg_from_joined(&t, "ws://127.0.0.1:8443", "nowhere", &leg, err, sizeof err),
        -HC_EINVAL);

    /* aes-cm: 16 + 14 bytes. */
    transport(&t, HC_SIG_SUITE_AES_CM, 30, 30);
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:1", NULL, &leg, err, sizeof err),
                     0);
    ck_assert_int_eq(leg.suite, HC_SRTP_AES_CM_128_HMAC_SHA1_80);
    ck_assert_uint_eq(leg.key_up[29], 30);

    /* Keys of the wrong length for the suite. */
    transport(&t, HC_SIG_SUITE_GCM, 30, 28);
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:1", NULL, &leg, err, sizeof err),
                     -HC_EMALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "key_up: 30 bytes, gcm needs 28"));
    transport(&t, HC_SIG_SUITE_GCM, 28, 16);
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:1", NULL, &leg, err, sizeof err),
                     -HC_EMALFORMED);
    ck_assert_ptr_nonnull(strstr(err, "key_down"));
    transport(&t, HC_SIG_SUITE_NONE, 28, 28);
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "ws://127.0.0.1:1", NULL, &leg, err, sizeof err),
                     -HC_EMALFORMED);
    /* No host anywhere. */
    transport(&t, HC_SIG_SUITE_GCM, 28, 28);
    ck_assert_int_eq(hc_edge_leg_from_joined(&t, "bogus", NULL, &leg, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_edge_leg_from_joined(NULL, "ws://x", NULL, &leg, err, sizeof err),
                     -HC_EINVAL);
}
END_TEST

START_TEST(join_from_config)
{
    static const char text[] = "[edge]\nrelay = ws://127.0.0.1:1\ntoken = t.t.t\nsite = 红旗小学\n"
                               "session = consult-42\nsubscribe = off\n"
                               "[source.scope]\npreset = rtsp\narg = rtsp://10.0.0.2/s\n"
                               "tag = diagnostic\nmax_kbps = 3000\nwidth = 1280\nheight = 720\n"
                               "fps = 25\n"
                               "[source.mic]\npreset = alsa\nmid = a0\n";
    hc_edge_config_t *cfg = malloc(sizeof *cfg);
    char err[1024];
    hc_edge_config_default(cfg);
    ck_assert_int_eq(
        hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", ".", NULL, err, sizeof err), 0);
    ck_assert_msg(hc_edge_config_finish(cfg, err, sizeof err) == 0, "%s", err);
    hc_sig_msg_t *m = malloc(sizeof *m);
    hc_edge_join_fill(cfg, m);
    ck_assert_int_eq(m->type, HC_SIG_JOIN);
    ck_assert_str_eq(m->join.session, "consult-42");
    ck_assert_str_eq(m->join.site, "红旗小学");
    ck_assert(m->join.has_subscribe && !m->join.subscribe);
    ck_assert_uint_eq(m->join.n_publish, 2);
    const hc_sig_stream_pub_t *v = &m->join.publish[0], *a = &m->join.publish[1];
    ck_assert_str_eq(v->mid, "scope");
    ck_assert_int_eq(v->kind, HC_SIG_MEDIA_VIDEO);
    ck_assert_int_eq(v->tag, HC_SIG_TAG_DIAGNOSTIC);
    ck_assert_int_eq(v->codec, HC_SIG_CODEC_H264);
    ck_assert(v->has_max_kbps && v->max_kbps == 3000);
    ck_assert(v->has_width && v->width == 1280 && v->has_height && v->height == 720);
    ck_assert(v->has_fps && v->fps == 25);
    ck_assert_str_eq(a->mid, "a0");
    ck_assert_int_eq(a->kind, HC_SIG_MEDIA_AUDIO);
    ck_assert_int_eq(a->tag, HC_SIG_TAG_AUDIO);
    ck_assert_int_eq(a->codec, HC_SIG_CODEC_OPUS);
    ck_assert(!a->has_max_kbps && !a->has_width && !a->has_fps);
    /* What the relay will read: the schema accepts it once an id is set. */
    m->join.id = 2;
    ck_assert_msg(hc_sig_validate(m, err, sizeof err) == 0, "%s", err);
    char buf[4096];
    ck_assert_int_gt(hc_sig_write(m, buf, sizeof buf), 0);
    hc_sig_msg_fini(m);
    free(m);
    free(cfg);
}
END_TEST

/* A simulcast source publishes its layers after it, same tag, layer 1, 2. */
START_TEST(join_with_simulcast_layers)
{
    static const char text[] = "[edge]\nrelay = ws://127.0.0.1:1\ntoken = t.t.t\nsite = s\n"
                               "session = math-1\nrole = teacher\n"
                               "[source.cam]\npreset = test\narg = 640x360@30\nsimulcast = 3\n"
                               "[source.mic]\npreset = alsa\n";
    hc_edge_config_t *cfg = malloc(sizeof *cfg);
    char err[1024];
    hc_edge_config_default(cfg);
    ck_assert_int_eq(
        hc_edge_config_load_data(cfg, text, strlen(text), "t.ini", ".", NULL, err, sizeof err), 0);
    ck_assert_msg(hc_edge_config_finish(cfg, err, sizeof err) == 0, "%s", err);
    hc_sig_msg_t *m = malloc(sizeof *m);
    hc_edge_join_fill(cfg, m);
    ck_assert_uint_eq(m->join.n_publish, 4);
    const hc_sig_stream_pub_t *p = m->join.publish;
    ck_assert_str_eq(p[0].mid, "cam");
    ck_assert(p[0].has_layer && p[0].layer == 0);
    ck_assert_uint_eq(p[0].width, 640);
    ck_assert_str_eq(p[1].mid, "cam-l1");
    ck_assert(p[1].has_layer && p[1].layer == 1);
    ck_assert_int_eq(p[1].tag, HC_SIG_TAG_MAIN);
    ck_assert_int_eq(p[1].kind, HC_SIG_MEDIA_VIDEO);
    ck_assert(p[1].has_width && p[1].width == 320 && p[1].height == 180);
    ck_assert(p[1].has_max_kbps && p[1].max_kbps <= 300);
    ck_assert_str_eq(p[2].mid, "cam-l2");
    ck_assert(p[2].has_layer && p[2].layer == 2);
    ck_assert(p[2].width == 160 && p[2].height == 90 && p[2].fps == 15);
    ck_assert(p[2].has_max_kbps && p[2].max_kbps <= 120);
    ck_assert_str_eq(p[3].mid, "mic");
    ck_assert(!p[3].has_layer);
    m->join.id = 2;
    ck_assert_msg(hc_sig_validate(m, err, sizeof err) == 0, "%s", err);
    char buf[4096];
    ck_assert_int_gt(hc_sig_write(m, buf, sizeof buf), 0);
    ck_assert_ptr_nonnull(strstr(buf, "\"layer\":2"));
    hc_sig_msg_fini(m);
    free(m);
    free(cfg);
}
END_TEST

static void fill_stats(hc_edge_stats_t *st, hc_edge_session_counters_t *c)
{
    memset(st, 0, sizeof *st);
    memset(c, 0, sizeof *c);
    c->state = HC_EDGE_SESS_JOINED;
    snprintf(c->participant, sizeof c->participant, "p7");
    c->connects = 2;
    c->disconnects = 1;
    c->joins = 2;
    c->rekeys = 1;
    st->estimate_bps = 1234000;
    st->budget_bps = 2000000;
    st->rtt_ms = 41.5;
    st->uplink_loss = 0.0125;
    st->link_up = true;
    st->n_pub = 3;
    snprintf(st->pub[0].mid, sizeof st->pub[0].mid, "cam");
    st->pub[0].target_bps = 900000;
    st->pub[0].sent_bps = 850000;
    st->pub[0].width = 640;
    st->pub[0].height = 360;
    st->pub[0].fps = 25;
    st->pub[0].frames = 1000;
    st->pub[0].keyframes = 3;
    st->pub[0].nacks = 7;
    st->pub[0].rtx = 6;
    snprintf(st->pub[1].mid, sizeof st->pub[1].mid, "mic");
    st->pub[1].target_bps = 32000;
    st->pub[1].stopped = true;
    /* cam's simulcast layer 1 */
    snprintf(st->pub[2].mid, sizeof st->pub[2].mid, "cam-l1");
    st->pub[2].layer = 1;
    st->pub[2].target_bps = 150000;
    st->pub[2].sent_bps = 160000;
    st->pub[2].width = 320;
    st->pub[2].height = 180;
    st->pub[2].fps = 25;
    st->n_recv = 1;
    hc_edge_recv_stats_t *r = &st->recv[0];
    snprintf(r->mid, sizeof r->mid, "main-video");
    snprintf(r->label, sizeof r->label, "No.1 \"Middle\" \\ 中学");
    r->width = 320;
    r->height = 180;
    r->bitrate_bps = 410000;
    r->loss_before = 0.031;
    r->loss_after = 0.0;
    r->frames_on_time = 450;
    r->frames_late = 2;
    r->frames_lost = 1;
    r->delay_ms = 85.25;
    r->jitter_buffer_ms = NAN; /* not measured yet */
    r->stamp_ok = 449;
}

START_TEST(stats_json_parses_back)
{
    hc_edge_stats_t *st = malloc(sizeof *st);
    hc_edge_session_counters_t c;
    fill_stats(st, &c);
    char buf[8192];
    int n = hc_edge_stats_json(st, &c, 12.5, 1700000000123ull, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    ck_assert_ptr_null(strchr(buf, '\n'));
    json_error_t je;
    json_t *j = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
    ck_assert_msg(j != NULL, "%s: %s", je.text, buf);
    ck_assert_double_eq_tol(json_real_value(json_object_get(j, "t")), 12.5, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "wall_ms")), 1700000000123ll);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "joined");
    ck_assert_str_eq(json_string_value(json_object_get(j, "participant")), "p7");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "rekeys")), 1);
    ck_assert(json_is_true(json_object_get(j, "media")));
    ck_assert(json_is_true(json_object_get(j, "link_up")));
    ck_assert_int_eq(json_integer_value(json_object_get(j, "estimate_kbps")), 1234);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "budget_kbps")), 2000);
    json_t *pub = json_object_get(j, "pub");
    ck_assert_uint_eq(json_array_size(pub), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(pub, 0), "layer")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(pub, 2), "layer")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(pub, 2), "width")), 320);
    json_t *p0 = json_array_get(pub, 0);
    ck_assert_str_eq(json_string_value(json_object_get(p0, "mid")), "cam");
    ck_assert_int_eq(json_integer_value(json_object_get(p0, "width")), 640);
    ck_assert_int_eq(json_integer_value(json_object_get(p0, "target_kbps")), 900);
    ck_assert_int_eq(json_integer_value(json_object_get(p0, "frames")), 1000);
    ck_assert(json_is_true(json_object_get(json_array_get(pub, 1), "stopped")));
    json_t *r0 = json_array_get(json_object_get(j, "recv"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "label")), "No.1 \"Middle\" \\ 中学");
    ck_assert_int_eq(json_integer_value(json_object_get(r0, "height")), 180);
    ck_assert_int_eq(json_integer_value(json_object_get(r0, "kbps")), 410);
    ck_assert_double_eq_tol(json_real_value(json_object_get(r0, "loss_before")), 0.031, 1e-6);
    ck_assert_int_eq(json_integer_value(json_object_get(r0, "frames_on_time")), 450);
    ck_assert_double_eq_tol(json_real_value(json_object_get(r0, "delay_ms")), 85.25, 0.06);
    ck_assert(json_is_null(json_object_get(r0, "jitter_buffer_ms")));
    ck_assert_int_eq(json_integer_value(json_object_get(r0, "stamp_ok")), 449);
    json_decref(j);

    /* Before the engine exists: state and counters only. */
    c.state = HC_EDGE_SESS_CONNECTING;
    c.participant[0] = 0;
    n = hc_edge_stats_json(NULL, &c, 0.5, 1, buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    j = json_loads(buf, 0, &je);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_false(json_object_get(j, "media")));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "recv")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j, "state")), "connecting");
    json_decref(j);

    /* Every buffer too small says so and never overruns it. */
    fill_stats(st, &c);
    n = hc_edge_stats_json(st, &c, 1, 1, buf, sizeof buf);
    for (int cap = 1; cap <= n; cap++) {
        char *small = malloc((size_t)cap);
        ck_assert_int_eq(hc_edge_stats_json(st, &c, 1, 1, small, (size_t)cap), -HC_ENOSPC);
        free(small);
    }
    free(st);
}
END_TEST

START_TEST(live_line)
{
    hc_edge_stats_t *st = malloc(sizeof *st);
    hc_edge_session_counters_t c;
    fill_stats(st, &c);
    char line[2048];
    int n = hc_edge_stats_line(st, &c, 12.0, line, sizeof line);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_ptr_nonnull(strstr(line, "joined p7"));
    ck_assert_ptr_nonnull(strstr(line, "est 1.23M (budget 2.00M) rtt 42ms"));
    ck_assert_ptr_nonnull(strstr(line, "up cam 640x360@25 850k/900k"));
    ck_assert_ptr_nonnull(strstr(line, "up mic stopped"));
    ck_assert_ptr_nonnull(strstr(line, "video layers 2/2"));
    ck_assert_ptr_nonnull(strstr(line, "up cam-l1 320x180@25 160k/150k"));
    ck_assert_ptr_nonnull(strstr(line, "down main-video(No.1 \"Middle\" \\ 中学) 320x180 410k"));
    ck_assert_ptr_nonnull(strstr(line, "loss 3.1%>0.0% ontime 450 late 2 delay 85ms"));
    /* Truncated, never overrun. */
    char small[20];
    hc_edge_stats_line(st, &c, 12.0, small, sizeof small);
    ck_assert_uint_lt(strlen(small), sizeof small);
    /* No engine yet. */
    c.state = HC_EDGE_SESS_WAIT;
    c.participant[0] = 0;
    hc_edge_stats_line(NULL, &c, 3.0, line, sizeof line);
    ck_assert_str_eq(line, "[   3.0s] waiting");
    free(st);
}
END_TEST

static int fake_create(hc_edge_media_t **o, const hc_edge_media_cfg_t *c, char *e, size_t n)
{
    (void)o, (void)c, (void)e, (void)n;
    return -HC_EINVAL;
}

START_TEST(session_new_checks)
{
    hc_edge_session_t *s = NULL;
    hc_edge_session_opts_t o;
    char err[256];
    hc_edge_session_opts_default(&o);
    ck_assert_int_eq(o.backoff_min_ms, 500);
    ck_assert_int_eq(o.backoff_max_ms, 10000);
    ck_assert_int_eq(o.command_fd, -1);
    ck_assert_int_eq(hc_edge_session_new(&s, &o, err, sizeof err), -HC_EINVAL);
    hc_edge_config_t *cfg = malloc(sizeof *cfg);
    hc_edge_config_default(cfg);
    hc_edge_media_ops_t ops = {.create = fake_create};
    o.cfg = cfg;
    o.media = &ops;
    /* An engine without every entry point. */
    ck_assert_int_eq(hc_edge_session_new(&s, &o, err, sizeof err), -HC_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(hc_edge_sess_state_name(HC_EDGE_SESS_JOINED), "joined");
    free(cfg);
}
END_TEST

static Suite *edge_session_suite(void)
{
    Suite *s = suite_create("edge_session");
    TCase *tc = tcase_create("pieces");
    tcase_add_test(tc, backoff_doubles_to_cap_with_jitter);
    tcase_add_test(tc, url_host);
    tcase_add_test(tc, leg_from_joined);
    tcase_add_test(tc, join_from_config);
    tcase_add_test(tc, join_with_simulcast_layers);
    tcase_add_test(tc, stats_json_parses_back);
    tcase_add_test(tc, live_line);
    tcase_add_test(tc, session_new_checks);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(edge_session_suite)
