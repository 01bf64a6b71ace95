/*
 * The session layer driven with real workers and routers on loopback, and
 * a fake send sink (hc_sessions_set_sender) in place of the signaling
 * server: every message the layer sends is serialized with hc_sig_write
 * (which validates it against the schema) and queued for the test. Media
 * checks use relay/core/endpoint.h as the client side of the SRTP legs.
 */
#include "proto/b64.h"
#include "proto/err.h"
#include "proto/sig.h"
#include "relay/core/clock.h"
#include "relay/core/endpoint.h"
#include "relay/sessions.h"
#include "relay/worker.h"
#include "tests/common/testutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the send sink ---- */

typedef struct rec {
    struct rec *next;
    uint64_t conn;
    hc_sig_type_t type;
    char *json;
} rec_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static rec_t *g_head;
static unsigned g_invalid;    /* messages hc_sig_write refused */
static uint64_t g_closed[64]; /* connections the layer closed */
static unsigned g_n_closed;

static int sink_send(void *ud, uint64_t conn, const hc_sig_msg_t *m)
{
    (void)ud;
    char *buf = malloc(HC_SIG_MAX_TEXT + 1);
    int n = buf ? hc_sig_write(m, buf, HC_SIG_MAX_TEXT + 1) : -1;
    pthread_mutex_lock(&g_mu);
    if (n < 0) {
        g_invalid++;
        free(buf);
    } else {
        rec_t *r = calloc(1, sizeof(*r));
        r->conn = conn;
        r->type = m->type;
        r->json = buf;
        rec_t **pp = &g_head;
        while (*pp) pp = &(*pp)->next;
        *pp = r;
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static void sink_close(void *ud, uint64_t conn, const char *reason)
{
    (void)ud;
    (void)reason;
    pthread_mutex_lock(&g_mu);
    if (g_n_closed < 64) g_closed[g_n_closed++] = conn;
    pthread_mutex_unlock(&g_mu);
}

static void sink_clear(void)
{
    pthread_mutex_lock(&g_mu);
    while (g_head) {
        rec_t *r = g_head;
        g_head = r->next;
        free(r->json);
        free(r);
    }
    pthread_mutex_unlock(&g_mu);
}

/* The first message of `type` to `conn` within timeout_ms, parsed; NULL when
 * none came. Earlier messages of other types stay queued. */
static hc_sig_msg_t *wait_msg(uint64_t conn, hc_sig_type_t type, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    rec_t *found = NULL;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        for (rec_t **pp = &g_head; *pp; pp = &(*pp)->next) {
            if ((*pp)->conn == conn && (*pp)->type == type) {
                found = *pp;
                *pp = found->next;
                break;
            }
        }
        if (found || pthread_cond_timedwait(&g_cv, &g_mu, &until) != 0) break;
    }
    pthread_mutex_unlock(&g_mu);
    if (!found) return NULL;
    hc_sig_msg_t *m = malloc(sizeof(*m));
    char err[256];
    int rc = hc_sig_parse(found->json, strlen(found->json), m, err, sizeof(err));
    ck_assert_msg(rc == 0, "relay sent unparsable %s: %s", found->json, err);
    free(found->json);
    free(found);
    return m;
}

static hc_sig_msg_t *need_msg(uint64_t conn, hc_sig_type_t type)
{
    hc_sig_msg_t *m = wait_msg(conn, type, 3000);
    ck_assert_msg(m != NULL, "conn %llu: no %s", (unsigned long long)conn, hc_sig_type_name(type));
    return m;
}

static void msg_free(hc_sig_msg_t *m)
{
    if (!m) return;
    hc_sig_msg_fini(m);
    free(m);
}

static unsigned count_msgs(uint64_t conn, hc_sig_type_t type)
{
    unsigned n = 0;
    pthread_mutex_lock(&g_mu);
    for (rec_t *r = g_head; r; r = r->next) n += r->conn == conn && r->type == type;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* An error reply for request id (or an event error with id 0) and its code. */
static void need_error(uint64_t conn, uint32_t id, int code)
{
    hc_sig_msg_t *m = need_msg(conn, HC_SIG_ERROR);
    ck_assert_msg(m->error.code == code, "conn %llu: expected %s, got %s (%s)",
                  (unsigned long long)conn, hc_errname(code), hc_errname(m->error.code),
                  m->error.reason);
    if (id) ck_assert_uint_eq(m->error.id, id);
    msg_free(m);
}

static void need_ok(uint64_t conn, uint32_t id)
{
    hc_sig_msg_t *m = wait_msg(conn, HC_SIG_OK, 3000);
    if (!m) {
        hc_sig_msg_t *e = wait_msg(conn, HC_SIG_ERROR, 10);
        ck_assert_msg(0, "conn %llu: no ok for %u (error: %s)", (unsigned long long)conn, id,
                      e ? e->error.reason : "none");
    }
    ck_assert_uint_eq(m->ok.id, id);
    msg_free(m);
}

/* ---- the relay under test ---- */

static hc_sessions_t *g_ss;
static hc_workers_t g_ws;

static void start_relay(uint32_t grace_ms, uint32_t audio_k, uint32_t last_n)
{
    hc_sessions_cfg_t cfg;
    hc_sessions_cfg_default(&cfg);
    cfg.leave_grace_ms = grace_ms;
    cfg.max_sessions = 4;
    cfg.max_participants = 32;
    cfg.conference_audio_k = audio_k;
    cfg.conference_last_n = last_n;
    ck_assert_int_eq(hc_sessions_new(&g_ss, &cfg), 0);
    hc_sessions_sender_t snd = {.send = sink_send, .close = sink_close};
    hc_sessions_set_sender(g_ss, &snd);
    hc_workers_cfg_t wc;
    memset(&wc, 0, sizeof(wc));
    wc.count = 2;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &wc.bind), 0);
    wc.pool_packets = 512;
    hc_router_cfg_default(&wc.router);
    wc.router.max_legs = 64;
    wc.router.max_instreams = 128;
    wc.router.max_tracks = 512;
    wc.router.history_video = 128;
    wc.router.history_audio = 64;
    wc.router.leg_timeout_ms = 1500;
    hc_sessions_router_events(g_ss, &wc.events);
    char err[256] = "";
    int rc = hc_workers_start(&g_ws, &wc, err, sizeof(err));
    ck_assert_msg(rc == 0, "workers: %s", err);
    hc_sessions_attach(g_ss, &g_ws, NULL);
}

static void stop_relay(void)
{
    hc_sessions_destroy(&g_ss);
    ck_assert_ptr_null(g_ss);
    hc_workers_stop(&g_ws);
    memset(&g_ws, 0, sizeof(g_ws));
    sink_clear();
    pthread_mutex_lock(&g_mu);
    unsigned bad = g_invalid;
    g_invalid = 0;
    g_n_closed = 0;
    pthread_mutex_unlock(&g_mu);
    ck_assert_msg(bad == 0, "%u messages failed hc_sig_write validation", bad);
}

static void setup(void)
{
    start_relay(300, 3, 4);
}

static void teardown(void)
{
    stop_relay();
}

static hc_token_claims_t claims(hc_sig_role_t role, const char *session, const char *site,
                                const char *sub)
{
    hc_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.role = role;
    snprintf(c.session, sizeof(c.session), "%s", session ? session : "");
    snprintf(c.site, sizeof(c.site), "%s", site ? site : "");
    snprintf(c.sub, sizeof(c.sub), "%s", sub ? sub : "");
    c.exp = 4000000000;
    return c;
}

/* Parse JSON (printf-style) as a client frame and hand it to the layer. */
static void say(uint64_t conn, const hc_token_claims_t *who, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hc_sig_msg_t *m = malloc(sizeof(*m));
    char err[256];
    int rc = hc_sig_parse(text, strlen(text), m, err, sizeof(err));
    ck_assert_msg(rc == 0, "test frame %s: %s", text, err);
    hc_sessions_on_message(g_ss, conn, who, m);
}

#define PUB_AV                                                                                     \
    "[{\"mid\":\"a0\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"},"                   \
    "{\"mid\":\"v0\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\"}]"
#define PUB_A "[{\"mid\":\"a0\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"}]"

static hc_sig_msg_t *join(uint64_t conn, const hc_token_claims_t *who, uint32_t id,
                          const char *session, const char *site, const char *publish)
{
    say(conn, who,
        "{\"type\":\"join\",\"id\":%u,\"session\":\"%s\",\"site\":\"%s\",\"publish\":%s}", id,
        session, site, publish);
    hc_sig_msg_t *m = wait_msg(conn, HC_SIG_JOINED, 3000);
    if (!m) {
        hc_sig_msg_t *e = wait_msg(conn, HC_SIG_ERROR, 10);
        ck_assert_msg(0, "join %s: %s", site, e ? e->error.reason : "no reply");
    }
    ck_assert_uint_eq(m->joined.id, id);
    return m;
}

static void create(uint64_t conn, const hc_token_claims_t *who, uint32_t id, const char *kind,
                   const char *session, const char *extra)
{
    say(conn, who, "{\"type\":\"create\",\"id\":%u,\"kind\":\"%s\",\"session\":\"%s\"%s}", id, kind,
        session, extra ? extra : "");
    hc_sig_msg_t *m = need_msg(conn, HC_SIG_CREATED);
    ck_assert_uint_eq(m->created.id, id);
    ck_assert_str_eq(m->created.session, session);
    msg_free(m);
}

static const hc_sig_stream_info_t *recv_mid(const hc_sig_stream_info_t *l, size_t n,
                                            const char *mid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].mid, mid) == 0) return &l[i];
    return NULL;
}

/* ---- media clients ---- */

typedef struct client {
    hc_endpoint_t *ep;
    hc_ep_stream_t *audio, *video;
    hc_ep_stream_t *video2; /* a second video stream (a simulcast layer) */
    uint64_t got[32];       /* packets per receive track, index in the track table below */
    uint32_t ssrc[32];
    unsigned n;
} client_t;

static void on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    client_t *c = ud;
    (void)t;
    for (unsigned i = 0; i < c->n; i++)
        if (c->ssrc[i] == rx->ssrc) c->got[i]++;
}

static void client_track(client_t *c, const hc_sig_stream_info_t *s)
{
    if (hc_endpoint_track_find(c->ep, s->ssrc)) return;
    hc_ep_track_cfg_t tc = {
        .ssrc = s->ssrc,
        .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
        .clock_rate = s->kind == HC_SIG_MEDIA_VIDEO ? 90000 : 48000,
        .window = 256,
    };
    hc_ep_track_t *t = NULL;
    ck_assert_int_eq(hc_endpoint_track_add(c->ep, &tc, &t), 0);
    ck_assert_uint_lt(c->n, 32);
    c->ssrc[c->n++] = s->ssrc;
}

static uint64_t client_got(const client_t *c, uint32_t ssrc)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->ssrc[i] == ssrc) return c->got[i];
    return 0;
}

static void client_open(client_t *c, const hc_sig_joined_t *j)
{
    memset(c, 0, sizeof(*c));
    hc_endpoint_cfg_t cfg;
    hc_endpoint_cfg_default(&cfg);
    cfg.suite = HC_SRTP_AEAD_AES_128_GCM;
    ck_assert_int_eq(
        hc_b64_decode(j->media.key_up, strlen(j->media.key_up), cfg.key_up, sizeof(cfg.key_up)),
        28);
    ck_assert_int_eq(hc_b64_decode(j->media.key_down, strlen(j->media.key_down), cfg.key_down,
                                   sizeof(cfg.key_down)),
                     28);
    cfg.rtcp_ssrc = j->media.rtcp_ssrc;
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%u", j->media.port);
    ck_assert_int_eq(hc_addr_parse(where, &cfg.remote), 0);
    cfg.keepalive_ms = 200;
    cfg.report_ms = 200;
    cfg.ev.ud = c;
    cfg.ev.rtp = on_rtp;
    ck_assert_int_eq(hc_endpoint_new(&c->ep, &cfg), 0);
    for (size_t i = 0; i < j->n_streams; i++) {
        const hc_sig_stream_info_t *s = &j->streams[i];
        bool video = s->kind == HC_SIG_MEDIA_VIDEO;
        hc_ep_stream_cfg_t sc = {
            .ssrc = s->ssrc,
            .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
            .pt = video ? HC_EP_PT_H264 : HC_EP_PT_OPUS,
            .rtx_pt = video ? HC_EP_PT_H264_RTX : HC_EP_PT_OPUS_RTX,
            .clock_rate = video ? 90000 : 48000,
            .ext = video ? 0 : HC_EP_EXT_AUDIO_LEVEL,
            .history = video ? 128 : 0,
            .first_seq = 1000,
        };
        hc_ep_stream_t *st = NULL;
        ck_assert_int_eq(hc_endpoint_stream_add(c->ep, &sc, &st), 0);
        if (video && !c->video)
            c->video = st;
        else if (video)
            c->video2 = st;
        else
            c->audio = st;
    }
    for (size_t i = 0; i < j->n_receive; i++) client_track(c, &j->receive[i]);
    hc_endpoint_start(c->ep, hc_now_us());
}

static void client_close(client_t *c)
{
    hc_endpoint_destroy(&c->ep);
}

/* Run the clients for ms: each sends an audio packet every 20 ms (with
 * level[i], 127 = silence) and a video keyframe every 100 ms when it
 * publishes video and video_on. */
static void run_clients(client_t **cs, unsigned n, const uint8_t *level, bool video_on, int ms)
{
    uint64_t start = hc_now_us(), last_send = 0;
    uint32_t ts = 0;
    unsigned tick = 0;
    while (hc_now_us() - start < (uint64_t)ms * 1000u) {
        uint64_t now = hc_now_us();
        if (now - last_send >= 20000) {
            last_send = now;
            ts += 960;
            tick++;
            for (unsigned i = 0; i < n; i++) {
                client_t *c = cs[i];
                if (c->audio && level && level[i] < 128) {
                    uint8_t pl[40] = {0xfc};
                    hc_ep_send_opts_t o = {
                        .has_audio_level = true, .voice = level[i] < 100, .audio_level = level[i]};
                    ck_assert_int_ge(
                        hc_endpoint_send(c->ep, c->audio, pl, sizeof(pl), ts, false, &o, now), 0);
                }
                if (c->video && video_on && tick % 5 == 0) {
                    uint8_t idr[200] = {0x65, 0x88};
                    ck_assert_int_ge(hc_endpoint_send(c->ep, c->video, idr, sizeof(idr), ts * 2,
                                                      true, NULL, now),
                                     0);
                }
            }
        }
        for (unsigned i = 0; i < n; i++) {
            hc_endpoint_recv(cs[i]->ep, now);
            hc_endpoint_poll(cs[i]->ep, now);
        }
        usleep(2000);
    }
}

/* Run the clients until conn has a message of type (at most max_ms). */
static void run_until(client_t **cs, unsigned n, const uint8_t *level, uint64_t conn,
                      hc_sig_type_t type, int max_ms)
{
    for (int t = 0; t < max_ms && count_msgs(conn, type) == 0; t += 100)
        run_clients(cs, n, level, true, 100);
}

/* ---- tests ---- */

START_TEST(class_floor_flow)
{
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "math-101", "No.1 Middle School", "t1");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "math-101", "Dongxiang No.2", "s2");
    hc_token_claims_t site3 = claims(HC_SIG_ROLE_SITE, "math-101", "Hongqi", "s3");
    create(1, &teacher, 1, "class", "math-101", ",\"title\":\"Grade 5 mathematics\"");

    hc_sig_msg_t *jt = join(1, &teacher, 2, "math-101", "ignored", PUB_AV);
    const hc_sig_joined_t *t = &jt->joined;
    ck_assert_str_eq(t->participant, "p1");
    ck_assert_int_eq(t->kind, HC_SIG_KIND_CLASS);
    ck_assert_uint_eq(t->media.port, g_ws.port);
    ck_assert_int_eq(t->media.suite, HC_SIG_SUITE_GCM);
    ck_assert_str_eq(t->floor, "");
    ck_assert_uint_eq(t->n_streams, 2);
    ck_assert_str_eq(t->streams[0].mid, "a0");
    ck_assert(!t->streams[0].has_rtx_ssrc);
    ck_assert(t->streams[1].has_rtx_ssrc);
    /* Every SSRC steers to the session's worker. */
    unsigned w = t->media.rtcp_ssrc % g_ws.n;
    ck_assert_uint_eq(t->streams[0].ssrc % g_ws.n, w);
    ck_assert_uint_eq(t->streams[1].ssrc % g_ws.n, w);
    ck_assert_uint_eq(t->streams[1].rtx_ssrc % g_ws.n, w);
    /* The lecturer receives only the floor pair. */
    ck_assert_uint_eq(t->n_receive, 2);
    ck_assert_ptr_nonnull(recv_mid(t->receive, t->n_receive, "floor-audio"));
    ck_assert_ptr_nonnull(recv_mid(t->receive, t->n_receive, "floor-video"));

    hc_sig_msg_t *js = join(2, &site, 3, "math-101", "whatever", PUB_AV);
    const hc_sig_joined_t *s = &js->joined;
    ck_assert_str_eq(s->participant, "p2");
    ck_assert_uint_eq(s->n_receive, 4);
    const hc_sig_stream_info_t *mv = recv_mid(s->receive, s->n_receive, "main-video");
    ck_assert_ptr_nonnull(mv);
    ck_assert_str_eq(mv->participant, "p1");
    ck_assert(mv->has_rtx_ssrc);
    ck_assert_uint_eq(mv->ssrc % g_ws.n, w);
    ck_assert_str_eq(recv_mid(s->receive, s->n_receive, "floor-audio")->participant, "");
    ck_assert_uint_eq(s->participants_total, 1);
    ck_assert_str_eq(s->participants[0].participant, "p1");
    ck_assert_int_eq(s->participants[0].role, HC_SIG_ROLE_TEACHER);
    ck_assert_uint_eq(s->participants[0].n_streams, 2);
    /* Keys are fresh per leg. */
    ck_assert_str_ne(s->media.key_up, t->media.key_up);
    ck_assert_str_ne(s->media.key_down, s->media.key_up);
    hc_sig_msg_t *pj = need_msg(1, HC_SIG_PARTICIPANT_JOINED);
    ck_assert_str_eq(pj->participant_joined.participant.participant, "p2");
    /* The token's site claim names the site. */
    ck_assert_str_eq(pj->participant_joined.participant.site, "Dongxiang No.2");
    msg_free(pj);

    /* Media: the teacher's audio reaches the site on main-audio. */
    client_t ct, cs;
    client_open(&ct, t);
    client_open(&cs, s);
    client_t *both[2] = {&ct, &cs};
    uint8_t lv[2] = {30, 30};
    run_clients(both, 2, lv, true, 600);
    const hc_sig_stream_info_t *ma = recv_mid(s->receive, s->n_receive, "main-audio");
    ck_assert_uint_gt(client_got(&cs, ma->ssrc), 5);
    ck_assert_uint_gt(client_got(&cs, mv->ssrc), 1);
    /* Nobody holds the floor: nothing on the floor tracks. */
    const hc_sig_stream_info_t *tfa = recv_mid(t->receive, t->n_receive, "floor-audio");
    ck_assert_uint_eq(client_got(&ct, tfa->ssrc), 0);

    /* Hand, grant: the site's media now reaches the teacher on the floor pair. */
    say(2, &site, "{\"type\":\"raise_hand\",\"id\":10}");
    need_ok(2, 10);
    hc_sig_msg_t *h = need_msg(1, HC_SIG_HAND);
    ck_assert_str_eq(h->hand.participant, "p2");
    ck_assert(h->hand.raised);
    msg_free(h);
    msg_free(need_msg(2, HC_SIG_HAND));
    say(2, &site, "{\"type\":\"grant_floor\",\"id\":11,\"participant\":\"p2\"}");
    need_error(2, 11, HC_EPERM); /* sites may not grant */
    say(1, &teacher, "{\"type\":\"grant_floor\",\"id\":12,\"participant\":\"p9\"}");
    need_error(1, 12, HC_ENOTFOUND);
    say(1, &teacher, "{\"type\":\"grant_floor\",\"id\":13,\"participant\":\"p2\"}");
    need_ok(1, 13);
    for (uint64_t c = 1; c <= 2; c++) {
        hc_sig_msg_t *f = need_msg(c, HC_SIG_FLOOR);
        ck_assert_str_eq(f->floor.participant, "p2");
        ck_assert_str_eq(f->floor.by, "p1");
        msg_free(f);
        h = need_msg(c, HC_SIG_HAND); /* granted: the hand is down */
        ck_assert(!h->hand.raised);
        msg_free(h);
    }
    hc_sig_msg_t *tr = need_msg(1, HC_SIG_TRACKS);
    ck_assert_str_eq(recv_mid(tr->tracks.receive, tr->tracks.n_receive, "floor-video")->participant,
                     "p2");
    msg_free(tr);
    ck_assert_uint_eq(count_msgs(2, HC_SIG_TRACKS), 0); /* the holder's own list is unchanged */
    run_clients(both, 2, lv, true, 700);
    const hc_sig_stream_info_t *tfv = recv_mid(t->receive, t->n_receive, "floor-video");
    uint64_t fa = client_got(&ct, tfa->ssrc), fv = client_got(&ct, tfv->ssrc);
    ck_assert_uint_gt(fa, 5);
    ck_assert_uint_gt(fv, 0);
    /* A continuous stream across the switch: nothing lost on the floor track. */
    hc_ep_track_stats_t ts;
    hc_ep_track_stats(hc_endpoint_track_find(ct.ep, tfa->ssrc), &ts);
    ck_assert_uint_eq(ts.lost, 0);

    /* Another site may not revoke someone else's floor; the holder hands it back. */
    hc_sig_msg_t *j3 = join(3, &site3, 4, "math-101", "x", "[]");
    ck_assert_str_eq(j3->joined.floor, "p2");
    ck_assert_str_eq(recv_mid(j3->joined.receive, j3->joined.n_receive, "floor-audio")->participant,
                     "p2");
    msg_free(j3);
    say(3, &site3, "{\"type\":\"revoke_floor\",\"id\":20}");
    need_error(3, 20, HC_EPERM);
    say(1, &teacher, "{\"type\":\"revoke_floor\",\"id\":21,\"participant\":\"p3\"}");
    need_error(1, 21, HC_ENOTFOUND);
    say(2, &site, "{\"type\":\"revoke_floor\",\"id\":22}");
    need_ok(2, 22);
    hc_sig_msg_t *f = need_msg(3, HC_SIG_FLOOR);
    ck_assert_str_eq(f->floor.participant, "");
    ck_assert_str_eq(f->floor.by, "p2");
    msg_free(f);
    say(1, &teacher, "{\"type\":\"revoke_floor\",\"id\":23}");
    need_error(1, 23, HC_ENOTFOUND);

    /* The teacher leaves: the sites' main tracks lose their source. */
    sink_clear();
    say(1, &teacher, "{\"type\":\"leave\",\"id\":30}");
    hc_sig_msg_t *l = need_msg(1, HC_SIG_LEFT);
    ck_assert_uint_eq(l->left.id, 30);
    msg_free(l);
    l = need_msg(2, HC_SIG_PARTICIPANT_LEFT);
    ck_assert_str_eq(l->participant_left.participant, "p1");
    ck_assert_int_eq(l->participant_left.reason, HC_SIG_GONE_LEFT);
    msg_free(l);
    tr = need_msg(2, HC_SIG_TRACKS);
    ck_assert_str_eq(recv_mid(tr->tracks.receive, tr->tracks.n_receive, "main-audio")->participant,
                     "");
    msg_free(tr);
    say(1, &teacher, "{\"type\":\"leave\",\"id\":31}");
    need_error(1, 31, HC_ENOTFOUND);

    client_close(&ct);
    client_close(&cs);
    msg_free(jt);
    msg_free(js);
}
END_TEST

START_TEST(dual_teacher)
{
    hc_token_claims_t lect = claims(HC_SIG_ROLE_TEACHER, "c2", "City", "t1");
    hc_token_claims_t tut = claims(HC_SIG_ROLE_TEACHER, "c2", "Village", "t2");
    hc_token_claims_t third = claims(HC_SIG_ROLE_TEACHER, "c2", "Other", "t3");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "c2", "S", "s");
    create(1, &lect, 1, "class", "c2", NULL);
    hc_sig_msg_t *j1 = join(1, &lect, 2, "c2", "a", PUB_AV);
    hc_sig_msg_t *js = join(3, &site, 2, "c2", "a", "[]");
    ck_assert_uint_eq(js->joined.n_receive, 4);
    hc_sig_msg_t *j2 = join(2, &tut, 2, "c2", "a", PUB_AV);
    /* The tutor receives the lecturer on main and the floor pair. */
    ck_assert_uint_eq(j2->joined.n_receive, 4);
    ck_assert_str_eq(recv_mid(j2->joined.receive, 4, "main-video")->participant, "p1");
    /* The lecturer and the site get a tutor pair. */
    hc_sig_msg_t *tr = need_msg(1, HC_SIG_TRACKS);
    ck_assert_uint_eq(tr->tracks.n_receive, 4);
    ck_assert_str_eq(recv_mid(tr->tracks.receive, 4, "tutor-audio")->participant, "p3");
    msg_free(tr);
    tr = need_msg(3, HC_SIG_TRACKS);
    ck_assert_uint_eq(tr->tracks.n_receive, 6);
    ck_assert_str_eq(recv_mid(tr->tracks.receive, 6, "main-audio")->participant, "p1");
    ck_assert_str_eq(recv_mid(tr->tracks.receive, 6, "tutor-video")->participant, "p3");
    msg_free(tr);
    say(4, &third, "{\"type\":\"join\",\"id\":5,\"session\":\"c2\",\"site\":\"x\",\"publish\":[]}");
    need_error(4, 5, HC_EFULL);
    /* A teacher cannot be granted the floor. */
    say(1, &lect, "{\"type\":\"grant_floor\",\"id\":6,\"participant\":\"p3\"}");
    need_error(1, 6, HC_EINVAL);
    msg_free(j1);
    msg_free(j2);
    msg_free(js);
}
END_TEST

START_TEST(consult_control)
{
    hc_token_claims_t doc = claims(HC_SIG_ROLE_CLINICIAN, "consult-42", "City Hospital", "dr");
    hc_token_claims_t clinic = claims(HC_SIG_ROLE_SITE, "consult-42", "Township Clinic", "cl");
    create(1, &doc, 1, "consult", "consult-42", ",\"max_sites\":2,\"control_deadline_ms\":100");
    hc_sig_msg_t *jd =
        join(1, &doc, 2, "consult-42", "d",
             "[{\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"},"
             "{\"mid\":\"f\",\"kind\":\"video\",\"tag\":\"face\",\"codec\":\"h264\"}]");
    ck_assert_uint_eq(jd->joined.n_receive, 0);
    hc_sig_msg_t *jc =
        join(2, &clinic, 2, "consult-42", "c",
             "[{\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"},"
             "{\"mid\":\"d\",\"kind\":\"video\",\"tag\":\"diagnostic\",\"codec\":\"h264\"},"
             "{\"mid\":\"f\",\"kind\":\"video\",\"tag\":\"face\",\"codec\":\"h264\"}]");
    ck_assert_uint_eq(jc->joined.n_receive, 2);
    ck_assert_ptr_nonnull(recv_mid(jc->joined.receive, 2, "p1-face"));
    hc_sig_msg_t *tr = need_msg(1, HC_SIG_TRACKS);
    ck_assert_uint_eq(tr->tracks.n_receive, 3);
    const hc_sig_stream_info_t *d = recv_mid(tr->tracks.receive, 3, "p2-diagnostic");
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(d->tag, HC_SIG_TAG_DIAGNOSTIC);
    ck_assert_str_eq(d->participant, "p2");
    msg_free(tr);

    /* Forwarded with `from`, acked, RTT reported. */
    say(1, &doc,
        "{\"type\":\"control\",\"seq\":41,\"to\":\"p2\",\"body\":{\"cmd\":\"move\",\"mm\":1.5}}");
    hc_sig_msg_t *c = need_msg(2, HC_SIG_CONTROL);
    ck_assert_uint_eq(c->control.seq, 41);
    ck_assert_str_eq(c->control.from, "p1");
    ck_assert_str_eq(c->control.to, "");
    ck_assert_str_eq(json_string_value(json_object_get(c->control.body, "cmd")), "move");
    msg_free(c);
    say(2, &clinic, "{\"type\":\"control_ack\",\"seq\":41,\"to\":\"p1\"}");
    hc_sig_msg_t *a = need_msg(1, HC_SIG_CONTROL_ACK);
    ck_assert_uint_eq(a->control_ack.seq, 41);
    ck_assert_str_eq(a->control_ack.from, "p2");
    msg_free(a);
    hc_sig_msg_t *r = need_msg(1, HC_SIG_CONTROL_RTT);
    ck_assert_uint_eq(r->control_rtt.seq, 41);
    ck_assert(r->control_rtt.rtt_ms >= 0 && r->control_rtt.rtt_ms < 3000);
    msg_free(r);
    /* Duplicate ack, replayed seq, `from` from a client. */
    say(2, &clinic, "{\"type\":\"control_ack\",\"seq\":41}");
    need_error(2, 0, HC_ENOTFOUND);
    say(1, &doc, "{\"type\":\"control\",\"seq\":41,\"body\":{}}");
    need_error(1, 0, HC_EINVAL);
    say(1, &doc, "{\"type\":\"control\",\"seq\":42,\"from\":\"p2\",\"body\":{}}");
    need_error(1, 0, HC_EPERM);
    say(1, &doc, "{\"type\":\"control\",\"seq\":42,\"to\":\"p7\",\"body\":{}}");
    need_error(1, 0, HC_ENOTFOUND);

    /* No ack: one alarm to both sides, then restored when the ack comes. */
    say(1, &doc, "{\"type\":\"control\",\"seq\":42,\"body\":{\"cmd\":\"stop\"}}");
    msg_free(need_msg(2, HC_SIG_CONTROL));
    for (uint64_t conn = 1; conn <= 2; conn++) {
        hc_sig_msg_t *al = need_msg(conn, HC_SIG_ALARM);
        ck_assert_int_eq(al->alarm.kind, HC_SIG_ALARM_CONTROL_LOST);
        ck_assert_str_eq(al->alarm.participant, "p2");
        ck_assert(al->alarm.has_since_ms && al->alarm.since_ms > 0);
        msg_free(al);
    }
    usleep(400 * 1000);
    ck_assert_uint_eq(count_msgs(1, HC_SIG_ALARM), 0);
    ck_assert_uint_eq(count_msgs(2, HC_SIG_ALARM), 0);
    say(2, &clinic, "{\"type\":\"control_ack\",\"seq\":42}");
    msg_free(need_msg(1, HC_SIG_CONTROL_ACK));
    for (uint64_t conn = 1; conn <= 2; conn++) {
        hc_sig_msg_t *al = need_msg(conn, HC_SIG_ALARM);
        ck_assert_int_eq(al->alarm.kind, HC_SIG_ALARM_CONTROL_RESTORED);
        msg_free(al);
    }

    /* The backlog is bounded: 256 unacknowledged, the next is EFULL. */
    for (uint32_t seq = 100; seq < 356; seq++)
        say(2, &clinic, "{\"type\":\"control\",\"seq\":%u,\"body\":{}}", seq);
    say(2, &clinic, "{\"type\":\"control\",\"seq\":356,\"body\":{}}");
    need_error(2, 0, HC_EFULL);

    /* Floor and hands are not for consults; a third party does not fit. */
    say(2, &clinic, "{\"type\":\"raise_hand\",\"id\":50}");
    need_error(2, 50, HC_EUNSUPPORTED);
    say(1, &doc, "{\"type\":\"grant_floor\",\"id\":51,\"participant\":\"p2\"}");
    need_error(1, 51, HC_EUNSUPPORTED);
    hc_token_claims_t x = claims(HC_SIG_ROLE_SITE, "consult-42", "X", "x");
    say(3, &x,
        "{\"type\":\"join\",\"id\":52,\"session\":\"consult-42\",\"site\":\"x\",\"publish\":[]}");
    need_error(3, 52, HC_EFULL);
    /* Consult streams carry their tags only. */
    msg_free(jd);
    msg_free(jc);
}
END_TEST

START_TEST(admin_ops)
{
    hc_token_claims_t admin = claims(HC_SIG_ROLE_ADMIN, NULL, NULL, "root");
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "m1", "School", "t");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "m1", "Dongxiang No.2", "s");
    hc_token_claims_t site2 = claims(HC_SIG_ROLE_SITE, "m1", "Hongqi", "s2");
    create(9, &admin, 1, "class", "m1", ",\"title\":\"Lesson\"");
    create(9, &admin, 2, "conference", "town", NULL);
    hc_sig_msg_t *j1 = join(1, &teacher, 1, "m1", "a", PUB_AV);
    hc_sig_msg_t *j2 = join(2, &site, 1, "m1", "a", PUB_A);
    hc_sig_msg_t *j3 = join(3, &site2, 1, "m1", "a", "[]");

    say(9, &admin, "{\"type\":\"list_sessions\",\"id\":3}");
    hc_sig_msg_t *m = need_msg(9, HC_SIG_SESSIONS);
    ck_assert_uint_eq(m->sessions.total, 2);
    ck_assert_uint_eq(m->sessions.n_items, 2);
    ck_assert_str_eq(m->sessions.items[0].session, "m1");
    ck_assert_str_eq(m->sessions.items[0].title, "Lesson");
    ck_assert_uint_eq(m->sessions.items[0].participants, 3);
    ck_assert_uint_eq(m->sessions.items[0].publishers, 2);
    ck_assert_int_eq(m->sessions.items[1].kind, HC_SIG_KIND_CONFERENCE);
    msg_free(m);
    say(9, &admin, "{\"type\":\"list_sessions\",\"id\":4,\"offset\":1,\"limit\":5}");
    m = need_msg(9, HC_SIG_SESSIONS);
    ck_assert_uint_eq(m->sessions.n_items, 1);
    ck_assert_str_eq(m->sessions.items[0].session, "town");
    msg_free(m);

    say(9, &admin, "{\"type\":\"list_participants\",\"id\":5,\"session\":\"m1\",\"limit\":2}");
    m = need_msg(9, HC_SIG_PARTICIPANTS);
    ck_assert_uint_eq(m->participants.total, 3);
    ck_assert_uint_eq(m->participants.n_items, 2);
    const hc_sig_participant_info_t *pi = &m->participants.items[0];
    ck_assert_str_eq(pi->participant, "p1");
    ck_assert_int_eq(pi->role, HC_SIG_ROLE_TEACHER);
    ck_assert_uint_eq(pi->n_legs, 4); /* a0, v0 in; floor pair out */
    ck_assert_int_eq(pi->legs[0].dir, HC_SIG_LEG_IN);
    ck_assert_uint_eq(pi->legs[0].ssrc, j1->joined.streams[0].ssrc);
    ck_assert_int_eq(pi->legs[3].dir, HC_SIG_LEG_OUT);
    ck_assert_str_eq(m->participants.items[1].site, "Dongxiang No.2");
    msg_free(m);
    say(9, &admin, "{\"type\":\"list_participants\",\"id\":6,\"session\":\"nope\"}");
    need_error(9, 6, HC_ENOTFOUND);

    /* Budgets go to the site's connections now, and at the next join. */
    say(9, &admin, "{\"type\":\"set_budget\",\"id\":7,\"site\":\"Dongxiang No.2\",\"kbps\":800}");
    need_ok(9, 7);
    m = need_msg(2, HC_SIG_BUDGET);
    ck_assert_uint_eq(m->budget.kbps, 800);
    msg_free(m);
    ck_assert_uint_eq(count_msgs(3, HC_SIG_BUDGET), 0);
    say(9, &admin, "{\"type\":\"set_budget\",\"id\":8,\"site\":\"Later\",\"kbps\":500}");
    need_error(9, 8, HC_ENOTFOUND);
    hc_token_claims_t later = claims(HC_SIG_ROLE_VIEWER, "m1", "Later", "v");
    msg_free(join(4, &later, 1, "m1", "x", "[]"));
    m = need_msg(4, HC_SIG_BUDGET);
    ck_assert_uint_eq(m->budget.kbps, 500);
    msg_free(m);

    /* Kick: `kicked` to the participant, its connection closed, the others told. */
    say(9, &admin,
        "{\"type\":\"kick\",\"id\":9,\"session\":\"m1\",\"participant\":\"p2\",\"reason\":"
        "\"disruptive\"}");
    need_ok(9, 9);
    m = need_msg(2, HC_SIG_KICKED);
    ck_assert_str_eq(m->kicked.reason, "disruptive");
    msg_free(m);
    m = need_msg(1, HC_SIG_PARTICIPANT_LEFT);
    ck_assert_str_eq(m->participant_left.participant, "p2");
    ck_assert_int_eq(m->participant_left.reason, HC_SIG_GONE_KICKED);
    msg_free(m);
    pthread_mutex_lock(&g_mu);
    ck_assert_uint_eq(g_n_closed, 1);
    ck_assert_uint_eq(g_closed[0], 2);
    pthread_mutex_unlock(&g_mu);
    hc_sessions_on_close(g_ss, 2); /* the server reports the close: nothing more happens */
    say(9, &admin, "{\"type\":\"kick\",\"id\":10,\"session\":\"m1\",\"participant\":\"p2\"}");
    need_error(9, 10, HC_ENOTFOUND);

    hc_sessions_counters_t ctr;
    hc_sessions_counters(g_ss, &ctr);
    ck_assert_uint_eq(ctr.sessions, 2);
    ck_assert_uint_eq(ctr.participants, 3);
    ck_assert_uint_eq(ctr.created, 2);
    ck_assert_uint_eq(ctr.joined, 4);
    ck_assert_uint_eq(ctr.kicked, 1);

    /* Close: everyone gets session_closed; the session is gone. */
    say(9, &admin,
        "{\"type\":\"close_session\",\"id\":11,\"session\":\"m1\",\"reason\":\"lesson over\"}");
    need_ok(9, 11);
    m = need_msg(3, HC_SIG_SESSION_CLOSED);
    ck_assert_str_eq(m->session_closed.session, "m1");
    ck_assert_str_eq(m->session_closed.reason, "lesson over");
    msg_free(m);
    msg_free(need_msg(1, HC_SIG_SESSION_CLOSED));
    say(9, &admin, "{\"type\":\"list_sessions\",\"id\":12}");
    m = need_msg(9, HC_SIG_SESSIONS);
    ck_assert_uint_eq(m->sessions.total, 1);
    msg_free(m);
    say(1, &teacher, "{\"type\":\"raise_hand\",\"id\":13}");
    need_error(1, 13, HC_EPERM); /* teachers may not raise hands (role check) */
    say(3, &site2, "{\"type\":\"raise_hand\",\"id\":14}");
    need_error(3, 14, HC_ENOTFOUND); /* the session is gone */
    /* The same connection may join something else now. */
    hc_sessions_counters(g_ss, &ctr);
    ck_assert_uint_eq(ctr.sessions, 1);
    ck_assert_uint_eq(ctr.participants, 0);
    msg_free(j1);
    msg_free(j2);
    msg_free(j3);
}
END_TEST

START_TEST(resume_and_timeout)
{
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "r1", "School", "t");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "r1", "Remote", "edge-7");
    create(1, &teacher, 1, "class", "r1", NULL);
    msg_free(join(1, &teacher, 1, "r1", "a", PUB_AV));
    hc_sig_msg_t *a = join(2, &site, 1, "r1", "a", PUB_AV);
    msg_free(need_msg(1, HC_SIG_PARTICIPANT_JOINED));
    ck_assert(!hc_sessions_resumable(g_ss, &site));

    /* The connection drops; a reconnect within the grace resumes. */
    hc_sessions_on_close(g_ss, 2);
    for (int i = 0; i < 100 && !hc_sessions_resumable(g_ss, &site); i++) usleep(5000);
    ck_assert(hc_sessions_resumable(g_ss, &site));
    hc_token_claims_t other = claims(HC_SIG_ROLE_SITE, "r1", "Remote", "edge-8");
    ck_assert(!hc_sessions_resumable(g_ss, &other));
    hc_sig_msg_t *b = join(3, &site, 1, "r1", "a", PUB_AV);
    ck_assert_str_eq(b->joined.participant, a->joined.participant);
    ck_assert_str_ne(b->joined.media.key_up, a->joined.media.key_up);
    ck_assert_str_ne(b->joined.media.key_down, a->joined.media.key_down);
    ck_assert_uint_eq(b->joined.media.rtcp_ssrc, a->joined.media.rtcp_ssrc);
    ck_assert_uint_eq(b->joined.streams[1].ssrc, a->joined.streams[1].ssrc);
    ck_assert_uint_eq(b->joined.receive[0].ssrc, a->joined.receive[0].ssrc);
    ck_assert_uint_eq(b->joined.participants_total, 1);
    ck_assert(!hc_sessions_resumable(g_ss, &site));
    usleep(500 * 1000); /* past the grace: nothing happens to a resumed one */
    ck_assert_uint_eq(count_msgs(1, HC_SIG_PARTICIPANT_LEFT), 0);
    ck_assert_uint_eq(count_msgs(1, HC_SIG_PARTICIPANT_JOINED), 0);

    /* Dropped again and not back in time: removed with reason timeout. */
    hc_sessions_on_close(g_ss, 3);
    hc_sig_msg_t *l = need_msg(1, HC_SIG_PARTICIPANT_LEFT);
    ck_assert_int_eq(l->participant_left.reason, HC_SIG_GONE_TIMEOUT);
    msg_free(l);
    ck_assert(!hc_sessions_resumable(g_ss, &site));
    hc_sig_msg_t *c = join(4, &site, 1, "r1", "a", PUB_AV);
    ck_assert_str_ne(c->joined.participant, a->joined.participant);
    msg_free(a);
    msg_free(b);
    msg_free(c);
}
END_TEST

START_TEST(scopes_and_limits)
{
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "lim", "School", "t");
    hc_token_claims_t stranger = claims(HC_SIG_ROLE_SITE, "other", "S", "s");
    hc_token_claims_t viewer = claims(HC_SIG_ROLE_VIEWER, "lim", "V", "v");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "lim", "S", "s");
    hc_token_claims_t admin = claims(HC_SIG_ROLE_ADMIN, NULL, NULL, NULL);
    /* A teacher creates exactly its token's session. */
    say(1, &teacher, "{\"type\":\"create\",\"id\":1,\"kind\":\"class\",\"session\":\"lim2\"}");
    need_error(1, 1, HC_EPERM);
    say(1, &teacher, "{\"type\":\"create\",\"id\":2,\"kind\":\"class\",\"max_sites\":2}");
    hc_sig_msg_t *m = need_msg(1, HC_SIG_CREATED);
    ck_assert_str_eq(m->created.session, "lim");
    msg_free(m);
    say(1, &teacher, "{\"type\":\"create\",\"id\":3,\"kind\":\"class\"}");
    need_error(1, 3, HC_EEXIST);
    say(2, &site, "{\"type\":\"create\",\"id\":4,\"kind\":\"class\"}");
    need_error(2, 4, HC_EPERM);
    say(9, &admin, "{\"type\":\"create\",\"id\":5,\"kind\":\"consult\",\"max_sites\":9}");
    need_error(9, 5, HC_ERANGE);
    say(9, &admin,
        "{\"type\":\"join\",\"id\":6,\"session\":\"nope\",\"site\":\"a\",\"publish\":[]}");
    need_error(9, 6, HC_ENOTFOUND);
    say(2, &stranger,
        "{\"type\":\"join\",\"id\":7,\"session\":\"lim\",\"site\":\"a\",\"publish\":[]}");
    need_error(2, 7, HC_EPERM);
    say(3, &viewer,
        "{\"type\":\"join\",\"id\":8,\"session\":\"lim\",\"site\":\"a\",\"publish\":" PUB_A "}");
    need_error(3, 8, HC_EPERM);
    say(4, &site,
        "{\"type\":\"join\",\"id\":11,\"session\":\"lim\",\"site\":\"a\",\"publish\":"
        "[{\"mid\":\"d\",\"kind\":\"video\",\"tag\":\"diagnostic\",\"codec\":\"h264\"}]}");
    need_error(4, 11, HC_EUNSUPPORTED);
    say(4, &site,
        "{\"type\":\"join\",\"id\":12,\"session\":\"lim\",\"site\":\"a\",\"publish\":"
        "[{\"mid\":\"c\",\"kind\":\"data\",\"tag\":\"control\",\"codec\":\"json\"}]}");
    need_error(4, 12, HC_EUNSUPPORTED);
    /* Joined once per connection; max_sites 2. */
    msg_free(join(4, &site, 13, "lim", "a", PUB_A));
    say(4, &site,
        "{\"type\":\"join\",\"id\":14,\"session\":\"lim\",\"site\":\"a\",\"publish\":[]}");
    need_error(4, 14, HC_EEXIST);
    msg_free(join(5, &viewer, 15, "lim", "a", "[]"));
    say(6, &site,
        "{\"type\":\"join\",\"id\":16,\"session\":\"lim\",\"site\":\"b\",\"publish\":[]}");
    need_error(6, 16, HC_EFULL);
    /* Not joined; control outside a consult; relay-only types. */
    say(7, &site, "{\"type\":\"raise_hand\",\"id\":17}");
    need_error(7, 17, HC_ENOTFOUND);
    say(4, &site, "{\"type\":\"control\",\"seq\":1,\"body\":{}}");
    need_error(4, 0, HC_EUNSUPPORTED);
    say(4, &site, "{\"type\":\"ok\",\"id\":18}");
    need_error(4, 18, HC_EPERM);
    say(5, &viewer, "{\"type\":\"raise_hand\",\"id\":19}");
    need_ok(5, 19);
    say(5, &viewer, "{\"type\":\"raise_hand\",\"id\":20}");
    need_ok(5, 20);
    msg_free(need_msg(4, HC_SIG_HAND));
    ck_assert_uint_eq(count_msgs(4, HC_SIG_HAND), 0); /* raised once: one event */
    /* max_sessions (4). */
    say(9, &admin, "{\"type\":\"create\",\"id\":21,\"kind\":\"class\"}");
    msg_free(need_msg(9, HC_SIG_CREATED));
    say(9, &admin, "{\"type\":\"create\",\"id\":22,\"kind\":\"class\"}");
    msg_free(need_msg(9, HC_SIG_CREATED));
    say(9, &admin, "{\"type\":\"create\",\"id\":23,\"kind\":\"consult\"}");
    msg_free(need_msg(9, HC_SIG_CREATED));
    say(9, &admin, "{\"type\":\"create\",\"id\":24,\"kind\":\"class\"}");
    need_error(9, 24, HC_EFULL);
}
END_TEST

START_TEST(conference_speakers)
{
    hc_token_claims_t admin = claims(HC_SIG_ROLE_ADMIN, NULL, NULL, NULL);
    create(9, &admin, 1, "conference", "town", ",\"last_n\":1");
    hc_token_claims_t s[3];
    hc_sig_msg_t *j[3];
    client_t c[3];
    client_t *cs[3];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "site%d", i + 1);
        s[i] = claims(HC_SIG_ROLE_SITE, "town", name, name);
        j[i] = join((uint64_t)i + 1, &s[i], 1, "town", name, PUB_AV);
        /* K = 1 audio slot (relay config of this test), last_n = 1. */
        ck_assert_uint_eq(j[i]->joined.n_receive, 2);
        ck_assert_ptr_nonnull(recv_mid(j[i]->joined.receive, 2, "speaker0-audio"));
        ck_assert_ptr_nonnull(recv_mid(j[i]->joined.receive, 2, "speaker0-video"));
        client_open(&c[i], &j[i]->joined);
        cs[i] = &c[i];
    }
    /* The free video slot shows the first site at once. */
    ck_assert_str_eq(recv_mid(j[2]->joined.receive, 2, "speaker0-video")->participant, "p1");
    sink_clear();
    /* Site 2 talks: it takes the free audio slot and becomes dominant. */
    uint8_t lv[3] = {127, 20, 127};
    run_until(cs, 3, lv, 3, HC_SIG_TRACKS, 3000);
    hc_sig_msg_t *t = need_msg(3, HC_SIG_TRACKS);
    const hc_sig_stream_info_t *sa = recv_mid(t->tracks.receive, 2, "speaker0-audio");
    ck_assert_str_eq(sa->participant, "p2");
    uint32_t slot_ssrc = sa->ssrc;
    msg_free(t);
    run_clients(cs, 3, lv, true, 300);
    ck_assert_uint_gt(client_got(&c[2], slot_ssrc), 5);
    /* Site 3 louder by far, continuously: displaces site 2 after ~1 s. */
    sink_clear();
    uint8_t lv2[3] = {127, 40, 5};
    run_clients(cs, 3, lv2, true, 700);
    ck_assert_uint_eq(count_msgs(1, HC_SIG_TRACKS), 0); /* not yet: must lead for 1 s */
    run_until(cs, 3, lv2, 1, HC_SIG_TRACKS, 4000);
    t = need_msg(1, HC_SIG_TRACKS);
    ck_assert_str_eq(recv_mid(t->tracks.receive, 2, "speaker0-audio")->participant, "p3");
    msg_free(t);
    /* The floor pins a site into slot 0. */
    hc_token_claims_t host = claims(HC_SIG_ROLE_ADMIN, NULL, "Command", "h");
    msg_free(join(8, &host, 1, "town", "hq", "[]"));
    sink_clear();
    say(8, &host, "{\"type\":\"grant_floor\",\"id\":2,\"participant\":\"p1\"}");
    need_ok(8, 2);
    t = need_msg(8, HC_SIG_TRACKS);
    ck_assert_str_eq(recv_mid(t->tracks.receive, 2, "speaker0-audio")->participant, "p1");
    msg_free(t);
    for (int i = 0; i < 3; i++) {
        client_close(&c[i]);
        msg_free(j[i]);
    }
}
END_TEST

START_TEST(link_alarm)
{
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "l1", "School", "t");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "l1", "Remote", "s");
    create(1, &teacher, 1, "class", "l1", NULL);
    hc_sig_msg_t *jt = join(1, &teacher, 1, "l1", "a", PUB_AV);
    hc_sig_msg_t *js = join(2, &site, 1, "l1", "a", PUB_A);
    client_t cs;
    client_open(&cs, &js->joined);
    client_t *one[1] = {&cs};
    uint8_t lv[1] = {50};
    run_clients(one, 1, lv, false, 1300);
    /* The relay learned the site's address from authenticated packets. */
    say(1, &teacher, "{\"type\":\"list_participants\",\"id\":2,\"session\":\"l1\"}");
    need_error(1, 2, HC_EPERM); /* admin only */
    hc_token_claims_t admin = claims(HC_SIG_ROLE_ADMIN, NULL, NULL, NULL);
    say(9, &admin, "{\"type\":\"list_participants\",\"id\":3,\"session\":\"l1\"}");
    hc_sig_msg_t *lp = need_msg(9, HC_SIG_PARTICIPANTS);
    ck_assert_uint_eq(lp->participants.n_items, 2);
    const hc_sig_participant_info_t *pi = &lp->participants.items[1];
    hc_addr_t local;
    ck_assert_int_eq(hc_endpoint_local(cs.ep, &local), 0);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", hc_addr_port(&local));
    ck_assert_str_eq(pi->addr, want);
    ck_assert_int_eq(pi->legs[0].dir, HC_SIG_LEG_IN);
    ck_assert_uint_gt(pi->legs[0].kbps, 0);
    ck_assert_str_eq(lp->participants.items[0].addr, ""); /* the teacher sent nothing */
    msg_free(lp);
    client_close(&cs);
    /* Silence for leg_timeout_ms (1.5 s): link_down to the host. */
    hc_sig_msg_t *a = wait_msg(1, HC_SIG_ALARM, 4000);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a->alarm.kind, HC_SIG_ALARM_LINK_DOWN);
    ck_assert_str_eq(a->alarm.participant, "p2");
    msg_free(a);
    ck_assert_uint_eq(count_msgs(2, HC_SIG_ALARM), 0); /* sites are not told */
    msg_free(jt);
    msg_free(js);
}
END_TEST

/* More others than `joined` lists: the rest follow as participant_joined. */
START_TEST(many_peers)
{
    hc_token_claims_t admin = claims(HC_SIG_ROLE_ADMIN, NULL, NULL, NULL);
    create(99, &admin, 1, "class", "big", NULL);
    for (uint64_t conn = 1; conn <= 17; conn++) {
        char name[16];
        snprintf(name, sizeof(name), "room%u", (unsigned)conn);
        hc_token_claims_t v = claims(HC_SIG_ROLE_VIEWER, "big", name, name);
        msg_free(join(conn, &v, 1, "big", name, "[]"));
    }
    hc_token_claims_t last = claims(HC_SIG_ROLE_VIEWER, "big", "last", "last");
    hc_sig_msg_t *j = join(18, &last, 1, "big", "last", "[]");
    ck_assert_uint_eq(j->joined.participants_total, 17);
    ck_assert_uint_eq(j->joined.n_participants, 16);
    ck_assert_str_eq(j->joined.participants[0].participant, "p1");
    hc_sig_msg_t *pj = need_msg(18, HC_SIG_PARTICIPANT_JOINED);
    ck_assert_str_eq(pj->participant_joined.participant.participant, "p17");
    msg_free(pj);
    ck_assert_uint_eq(count_msgs(18, HC_SIG_PARTICIPANT_JOINED), 0);
    msg_free(j);
}
END_TEST

static void setup_conf(void)
{
    start_relay(300, 1, 4);
}

/* (added by downlink layers) Two video streams of one tag with `layer`
 * are one simulcast group: one track per receiver, fed by one layer at a
 * time; the publisher's streams echo their layers. */
START_TEST(simulcast_group_is_one_track)
{
    hc_token_claims_t teacher = claims(HC_SIG_ROLE_TEACHER, "sim-1", "Centre", "t1");
    hc_token_claims_t site = claims(HC_SIG_ROLE_SITE, "sim-1", "Hilltop", "s1");
    create(1, &teacher, 1, "class", "sim-1", NULL);
    hc_sig_msg_t *jt =
        join(1, &teacher, 2, "sim-1", "Centre",
             "[{\"mid\":\"a0\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"},"
             "{\"mid\":\"hi\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\","
             "\"layer\":0},"
             "{\"mid\":\"lo\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\","
             "\"layer\":1}]");
    ck_assert_uint_eq(jt->joined.n_streams, 3);
    const hc_sig_stream_info_t *hi = recv_mid(jt->joined.streams, 3, "hi");
    const hc_sig_stream_info_t *lo = recv_mid(jt->joined.streams, 3, "lo");
    ck_assert(hi && lo && hi->has_layer && lo->has_layer);
    ck_assert_uint_eq(hi->layer, 0);
    ck_assert_uint_eq(lo->layer, 1);
    ck_assert_uint_ne(hi->ssrc, lo->ssrc);
    hc_sig_msg_t *js = join(2, &site, 3, "sim-1", "Hilltop", PUB_A);
    const hc_sig_joined_t *j = &js->joined;
    unsigned videos = 0;
    const hc_sig_stream_info_t *track = NULL;
    for (size_t i = 0; i < j->n_receive; i++) {
        if (j->receive[i].kind != HC_SIG_MEDIA_VIDEO || strcmp(j->receive[i].participant, "p1"))
            continue;
        videos++;
        track = &j->receive[i];
    }
    ck_assert_uint_eq(videos, 1);
    ck_assert(!track->has_layer || track->layer == 0);
    uint32_t vssrc = track->ssrc;
    client_t ct, cs;
    client_open(&ct, &jt->joined);
    client_open(&cs, j);
    ck_assert_ptr_nonnull(ct.video2);
    /* Both layers at the same packet rate: a receiver fed by one layer at
     * a time gets about one layer's worth, never both. */
    client_t *all[2] = {&ct, &cs};
    uint64_t start = hc_now_us(), last = 0;
    unsigned sent = 0;
    uint32_t ts = 0;
    while (hc_now_us() - start < 1500000) {
        uint64_t now = hc_now_us();
        if (now - last >= 20000) {
            last = now;
            ts += 1800;
            uint8_t idr[200] = {0x65, 0x88};
            ck_assert_int_ge(
                hc_endpoint_send(ct.ep, ct.video, idr, sizeof(idr), ts, true, NULL, now), 0);
            ck_assert_int_ge(
                hc_endpoint_send(ct.ep, ct.video2, idr, sizeof(idr), ts, true, NULL, now), 0);
            sent++;
        }
        for (int i = 0; i < 2; i++) {
            hc_endpoint_recv(all[i]->ep, now);
            hc_endpoint_poll(all[i]->ep, now);
        }
        usleep(2000);
    }
    uint64_t got = client_got(&cs, vssrc);
    ck_assert_uint_gt(got, sent / 2);
    ck_assert_uint_le(got, sent + 2);
    /* Two streams of one tag with the same layer: refused. */
    hc_token_claims_t t2 = claims(HC_SIG_ROLE_TEACHER, "sim-1", "Centre", "t2");
    say(3, &t2,
        "{\"type\":\"join\",\"id\":4,\"session\":\"sim-1\",\"site\":\"x\",\"publish\":["
        "{\"mid\":\"v0\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"layer\":1},"
        "{\"mid\":\"v1\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"layer\":1}]}");
    need_error(3, 4, HC_ESCHEMA);
    client_close(&ct);
    client_close(&cs);
    msg_free(jt);
    msg_free(js);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_sessions");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, class_floor_flow);
    tcase_add_test(tc, dual_teacher);
    tcase_add_test(tc, consult_control);
    tcase_add_test(tc, admin_ops);
    tcase_add_test(tc, resume_and_timeout);
    tcase_add_test(tc, scopes_and_limits);
    tcase_add_test(tc, link_alarm);
    tcase_add_test(tc, many_peers);
    tcase_add_test(tc, simulcast_group_is_one_track);
    suite_add_tcase(s, tc);
    TCase *tcc = tcase_create("conference");
    tcase_set_timeout(tcc, 60);
    tcase_add_checked_fixture(tcc, setup_conf, teardown);
    tcase_add_test(tcc, conference_speakers);
    suite_add_tcase(s, tcc);
    return s;
}

HC_TEST_MAIN(suite)
