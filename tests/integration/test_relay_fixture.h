/*
 * test_relay_fixture.h - what the relay integration tests
 * (tests/integration/test_relay_*.c) share: a real hc-relay process on
 * loopback with a generated config (TLS off unless asked), tokens signed
 * with its key, and in-process participants, each an hcsigclient
 * connection plus a media endpoint (relay/core/endpoint.h) that publishes
 * synthetic H.264-shaped video and Opus-shaped audio and records, per
 * track, every packet it receives.
 *
 * Header-only (static functions): each test_*.c is its own executable, and
 * the tests link only hcsigclient, hccore, hcproto and the test utilities.
 * Everything runs on the test's thread: rf_pump() drives every
 * participant's endpoint and publisher for a while, in 1 ms steps.
 */
#ifndef HC_TESTS_RELAY_FIXTURE_H
#define HC_TESTS_RELAY_FIXTURE_H

#include "tests/common/testutil.h"

#include "edge/sigclient.h"
#include "proto/b64.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/sig.h"
#include "proto/token.h"
#include "relay/core/clock.h"
#include "relay/core/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Each test uses part of the fixture. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define RF_SECRET     "integration-test-secret-0123456789abcdef"
#define RF_MAX_TRACKS 24
#define RF_MAX_SEQ    8192

/* ---- the relay process ---- */

typedef struct rf_relay {
    pid_t pid;
    char dir[128];
    char url[128];
    uint16_t port;
    bool tls;
} rf_relay_t;

static uint16_t rf_free_port(int type)
{
    int fd = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static bool rf_tcp_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void rf_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Print the relay's log (for a failing test). */
static void rf_relay_dump_log(const rf_relay_t *r)
{
    char p[256], line[1024];
    snprintf(p, sizeof p, "%s/relay.log", r->dir);
    FILE *f = fopen(p, "r");
    if (!f) return;
    fprintf(stderr, "---- hc-relay log (%s) ----\n", p);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
    fclose(f);
}

/* Start hc-relay; extra is appended to the generated INI (more groups). */
static void rf_relay_start_ex(rf_relay_t *r, bool tls, const char *session_extra,
                              const char *router_extra)
{
    memset(r, 0, sizeof *r);
    r->tls = tls;
    snprintf(r->dir, sizeof r->dir, "/tmp/hc-relay-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    char path[256];
    snprintf(path, sizeof path, "%s/token.key", r->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, RF_SECRET, strlen(RF_SECRET)), (int)strlen(RF_SECRET));
    close(fd);
    r->port = rf_free_port(SOCK_STREAM);
    snprintf(path, sizeof path, "%s/relay.ini", r->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[relay]\nworkers = 2\nstate_dir = %s\n"
            "[media]\nbind = 127.0.0.1\nport = 0\n"
            "[signaling]\nbind = 127.0.0.1\nport = %u\ntls = %s\nkeepalive_ms = 5000\n"
            "[auth]\nsecret_file = token.key\n"
            "[session]\nleave_grace_ms = 1000\n%s"
            "[router]\nreport_ms = 500\n%s"
            "[log]\nlevel = info\n",
            r->dir, r->port, tls ? "true" : "false", session_extra ? session_extra : "",
            router_extra ? router_extra : "");
    fclose(f);
    snprintf(r->url, sizeof r->url, "%s://127.0.0.1:%u", tls ? "wss" : "ws", r->port);
    char bin[512], logp[256];
    snprintf(bin, sizeof bin, "%s/hc-relay", hc_test_bin_dir());
    snprintf(logp, sizeof logp, "%s/relay.log", r->dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int lf = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (lf >= 0) {
            dup2(lf, 1);
            dup2(lf, 2);
        }
        execl(bin, bin, "-c", path, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    for (int i = 0; i < 400; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            rf_relay_dump_log(r);
            ck_abort_msg("hc-relay exited at start (status %d)", st);
        }
        if (rf_tcp_open(r->port)) return;
        rf_sleep_ms(25);
    }
    rf_relay_dump_log(r);
    ck_abort_msg("hc-relay did not open its signaling port");
}

static void rf_relay_start(rf_relay_t *r)
{
    rf_relay_start_ex(r, false, NULL, NULL);
}

/* SIGTERM and wait; returns the exit status (or -1). */
static int rf_relay_stop(rf_relay_t *r)
{
    int status = -1;
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        for (int i = 0; i < 200; i++) {
            if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
                r->pid = 0;
                break;
            }
            rf_sleep_ms(25);
        }
        if (r->pid > 0) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &status, 0);
            r->pid = 0;
            rf_relay_dump_log(r);
            ck_abort_msg("hc-relay did not stop on SIGTERM within 5 s");
        }
    }
    if (r->dir[0] && !getenv("HC_TEST_KEEP")) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", r->dir);
    }
    return status;
}

/* A token for role/session/site signed with key (NULL: the relay's). */
static const char *rf_token_key(const char *role, const char *session, const char *site,
                                const char *key)
{
    static char buf[8][4200];
    static int k;
    char *out = buf[k++ % 8];
    hc_token_claims_t c;
    memset(&c, 0, sizeof c);
    c.role = hc_sig_role_from_name(role);
    if (session) snprintf(c.session, sizeof c.session, "%s", session);
    if (site) snprintf(c.site, sizeof c.site, "%s", site);
    c.exp = (int64_t)time(NULL) + 3600;
    const char *kk = key ? key : RF_SECRET;
    ck_assert_int_gt(hc_token_mint(&c, (const uint8_t *)kk, strlen(kk), out, 4200), 0);
    return out;
}

static const char *rf_token(const char *role, const char *session, const char *site)
{
    return rf_token_key(role, session, site, NULL);
}

static int rf_connect(const rf_relay_t *r, const char *token, hc_sigclient_t **out)
{
    hc_sigclient_cfg_t c;
    hc_sigclient_cfg_default(&c);
    c.url = r->url;
    c.token = token;
    c.client = "hc-relay-test/0.1.0";
    c.insecure = true;
    char err[256];
    int rc = hc_sigclient_connect(out, &c, err, sizeof err);
    if (rc < 0) fprintf(stderr, "connect: %s\n", err);
    return rc;
}

/* Request/reply that must succeed. */
static void rf_call_ok(hc_sigclient_t *c, hc_sig_msg_t *req, hc_sig_msg_t *rep)
{
    int rc = hc_sigclient_call(c, req, rep, 10000);
    if (rc < 0)
        ck_abort_msg("%s -> %s: %s", hc_sig_type_name(req->type), hc_errname(rc),
                     rep->type == HC_SIG_ERROR ? rep->error.reason : "");
}

static void rf_create(hc_sigclient_t *c, const char *kind, const char *session)
{
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_CREATE);
    req.create.kind = hc_sig_kind_from_name(kind);
    snprintf(req.create.session, sizeof req.create.session, "%s", session);
    rf_call_ok(c, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_CREATED);
    hc_sig_msg_fini(&rep);
}

/* ---- participants ---- */

typedef struct rf_trk {
    uint32_t ssrc;
    char mid[33];
    char from[65];
    bool video;
    hc_ep_track_t *t;
    uint64_t n;     /* packets delivered */
    uint64_t jumps; /* delivered sequence number != previous + 1 */
    bool have_last;
    uint16_t last_seq;
    uint32_t last_ts;
    uint64_t rtx, recovered, skipped;
    int64_t last_frame;   /* synthetic frame number of the last FU-A start */
    uint64_t frame_jumps; /* a frame number that did not follow the previous */
    uint64_t capture_seen;
} rf_trk_t;

typedef struct rf_party {
    char name[64];
    hc_sigclient_t *sig;
    hc_sig_joined_t joined;
    hc_endpoint_t *ep;
    hc_ep_stream_t *sv, *sa;
    rf_trk_t trk[RF_MAX_TRACKS];
    size_t ntrk;
    /* publishing */
    bool publishing;
    uint64_t t0;
    uint32_t vframe, apkt;
    bool key_wanted;
    uint64_t v_sent, a_sent, keyframes_sent, plis;
    uint8_t level;   /* RFC 6464 level sent */
    uint32_t vbytes; /* video payload bytes per frame */
    /* signaling events seen (rf_events) */
    uint32_t ev_tracks, ev_floor, ev_hand, ev_lost, ev_restored, ev_control, ev_ack, ev_rtt;
    uint32_t ev_left, ev_joined;
    char floor[65], alarm_who[65], ctl_from[65];
    uint32_t ctl_last, ctl_out_of_order;
    double last_rtt_ms;
    bool auto_ack, kicked, closed;
    uint64_t last_ping; /* rf_keepalive() */
} rf_party_t;

/* The relay closes a signaling connection silent for 3 x keepalive_ms
 * (5 s in the fixture's relay): a ping every 2 s, as clients do. A
 * connection the relay closed (a kicked party) just fails to send. */
static void rf_keepalive(hc_sigclient_t *c, uint64_t *last, uint64_t now)
{
    if (now < *last + 2000000) return;
    hc_sig_msg_t ping;
    hc_sig_msg_init(&ping, HC_SIG_PING);
    ping.ping.id = hc_sigclient_next_id(c);
    (void)hc_sigclient_send(c, &ping);
    *last = now;
}

static void rf_on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    (void)ud;
    rf_trk_t *k = hc_ep_track_owner(t);
    if (k->have_last && rx->seq != (uint16_t)(k->last_seq + 1)) k->jumps++;
    k->have_last = true;
    k->last_seq = rx->seq;
    k->last_ts = rx->ts;
    k->n++;
    k->skipped += rx->skipped;
    if (rx->rtx) k->rtx++;
    if (rx->recovered) k->recovered++;
    if (rx->capture_wall_us) k->capture_seen++;
    if (k->video && rx->len >= 7 && (rx->payload[0] & 0x1f) == 28 && (rx->payload[1] & 0x80) &&
        rx->payload[2] == 0x88) {
        int64_t f = hc_rd32(rx->payload + 3);
        if (k->last_frame >= 0 && f != k->last_frame + 1) k->frame_jumps++;
        k->last_frame = f;
    }
}

static void rf_on_key(void *ud, hc_ep_stream_t *s, bool fir)
{
    (void)fir;
    rf_party_t *p = ud;
    p->plis++;
    if (s == p->sv) p->key_wanted = true;
}

static rf_trk_t *rf_trk(rf_party_t *p, const char *mid)
{
    for (size_t i = 0; i < p->ntrk; i++)
        if (!strcmp(p->trk[i].mid, mid)) return &p->trk[i];
    return NULL;
}

/* Add tracks for streams not known yet; update `from` of known ones. */
static void rf_tracks(rf_party_t *p, const hc_sig_stream_info_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const hc_sig_stream_info_t *si = &list[i];
        rf_trk_t *k = NULL;
        for (size_t j = 0; j < p->ntrk; j++)
            if (p->trk[j].ssrc == si->ssrc) k = &p->trk[j];
        if (k) {
            snprintf(k->from, sizeof k->from, "%s", si->participant);
            continue;
        }
        ck_assert_uint_lt(p->ntrk, RF_MAX_TRACKS);
        k = &p->trk[p->ntrk++];
        memset(k, 0, sizeof *k);
        k->ssrc = si->ssrc;
        k->video = si->kind == HC_SIG_MEDIA_VIDEO;
        k->last_frame = -1;
        snprintf(k->mid, sizeof k->mid, "%s", si->mid);
        snprintf(k->from, sizeof k->from, "%s", si->participant);
        hc_ep_track_cfg_t tc = {.ssrc = si->ssrc,
                                .rtx_ssrc = si->has_rtx_ssrc ? si->rtx_ssrc : 0,
                                .clock_rate = k->video ? 90000 : 48000,
                                .window = 1024,
                                .nack = si->has_rtx_ssrc,
                                .owner = k};
        ck_assert_int_eq(hc_endpoint_track_add(p->ep, &tc, &k->t), 0);
    }
}

typedef struct rf_join_opts {
    const char *role, *session, *site;
    const char *create; /* kind, or NULL */
    bool video, audio, subscribe;
    const char *via;   /* media address override "127.0.0.1:port" */
    bool corrupt_down; /* use a wrong key_down: nothing should authenticate */
    uint8_t level;     /* audio level sent (default 127 silence when 0 given? no: as is) */
    uint32_t vbytes;   /* video bytes per frame, default 3000 */
} rf_join_opts_t;

static int rf_join(const rf_relay_t *r, rf_party_t *p, const rf_join_opts_t *o)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", o->site);
    int rc = rf_connect(r, rf_token(o->role, o->session, o->site), &p->sig);
    if (rc < 0) return rc;
    if (o->create) rf_create(p->sig, o->create, o->session);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "%s", o->session);
    snprintf(req.join.site, sizeof req.join.site, "%s", o->site);
    if (o->video) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "v0");
        s->kind = HC_SIG_MEDIA_VIDEO;
        s->tag = HC_SIG_TAG_MAIN;
        s->codec = HC_SIG_CODEC_H264;
    }
    if (o->audio) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "a0");
        s->kind = HC_SIG_MEDIA_AUDIO;
        s->tag = HC_SIG_TAG_AUDIO;
        s->codec = HC_SIG_CODEC_OPUS;
    }
    req.join.subscribe = o->subscribe;
    req.join.has_subscribe = true;
    rc = hc_sigclient_call(p->sig, &req, &rep, 10000);
    if (rc < 0) {
        fprintf(stderr, "join %s: %s %s\n", o->site, hc_errname(rc),
                rep.type == HC_SIG_ERROR ? rep.error.reason : "");
        hc_sig_msg_fini(&rep);
        return rc;
    }
    p->joined = rep.joined;
    hc_sig_msg_fini(&rep);

    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    size_t kl = hc_srtp_key_len(p->joined.media.suite == HC_SIG_SUITE_AES_CM
                                    ? HC_SRTP_AES_CM_128_HMAC_SHA1_80
                                    : HC_SRTP_AEAD_AES_128_GCM);
    ec.suite = p->joined.media.suite == HC_SIG_SUITE_AES_CM ? HC_SRTP_AES_CM_128_HMAC_SHA1_80
                                                            : HC_SRTP_AEAD_AES_128_GCM;
    uint8_t k[64];
    ck_assert_int_eq(
        hc_b64_decode(p->joined.media.key_up, strlen(p->joined.media.key_up), k, sizeof k),
        (int)kl);
    memcpy(ec.key_up, k, kl);
    ck_assert_int_eq(
        hc_b64_decode(p->joined.media.key_down, strlen(p->joined.media.key_down), k, sizeof k),
        (int)kl);
    memcpy(ec.key_down, k, kl);
    if (o->corrupt_down) ec.key_down[3] ^= 0x55;
    ec.rtcp_ssrc = p->joined.media.rtcp_ssrc;
    char addr[96];
    if (o->via)
        snprintf(addr, sizeof addr, "%s", o->via);
    else
        snprintf(addr, sizeof addr, "127.0.0.1:%u", p->joined.media.port);
    ck_assert_int_eq(hc_addr_parse(addr, &ec.remote), 0);
    hc_addr_parse("127.0.0.1:0", &ec.bind);
    snprintf(ec.cname, sizeof ec.cname, "%s", o->site);
    ec.ev.ud = p;
    ec.ev.rtp = rf_on_rtp;
    ec.ev.keyframe = rf_on_key;
    ec.max_tracks = RF_MAX_TRACKS;
    ck_assert_int_eq(hc_endpoint_new(&p->ep, &ec), 0);
    size_t si = 0;
    if (o->video) {
        const hc_sig_stream_info_t *s = &p->joined.streams[si++];
        hc_ep_stream_cfg_t c = {.ssrc = s->ssrc,
                                .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                .pt = HC_EP_PT_H264,
                                .rtx_pt = HC_EP_PT_H264_RTX,
                                .clock_rate = 90000,
                                .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                                .history = 1024,
                                .first_seq = 60000};
        ck_assert_int_eq(hc_endpoint_stream_add(p->ep, &c, &p->sv), 0);
    }
    if (o->audio) {
        const hc_sig_stream_info_t *s = &p->joined.streams[si++];
        hc_ep_stream_cfg_t c = {.ssrc = s->ssrc,
                                .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                .pt = HC_EP_PT_OPUS,
                                .rtx_pt = HC_EP_PT_OPUS_RTX,
                                .clock_rate = 48000,
                                .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_AUDIO_LEVEL,
                                .history = 128,
                                .first_seq = 100};
        ck_assert_int_eq(hc_endpoint_stream_add(p->ep, &c, &p->sa), 0);
    }
    p->level = o->level;
    p->vbytes = o->vbytes ? o->vbytes : 3000;
    rf_tracks(p, p->joined.receive, p->joined.n_receive);
    hc_endpoint_start(p->ep, hc_now_us());
    return 0;
}

static void rf_leave(rf_party_t *p)
{
    hc_sigclient_destroy(&p->sig);
    hc_endpoint_destroy(&p->ep);
}

static void rf_publish(rf_party_t *p, bool on)
{
    if (on && !p->publishing) {
        p->t0 = hc_now_us();
        p->vframe = p->apkt = 0;
        p->key_wanted = true;
    }
    p->publishing = on;
}

/* One synthetic frame: a keyframe is STAP-A(SPS, PPS) + FU-A IDR, other
 * frames FU-A non-IDR; the first FU-A carries 0x88 and the frame number
 * (tools/hc-probe/synth.h makes the same shape). */
static void rf_send_frame(rf_party_t *p, uint64_t now)
{
    bool key = p->key_wanted || p->vframe % 60 == 0;
    p->key_wanted = false;
    uint32_t ts = p->vframe * 3000u;
    hc_ep_send_opts_t o = {0};
    uint8_t b[1300];
    if (key) {
        static const uint8_t stap[] = {0x78, 0x00, 0x05, 0x67, 0x42, 0xc0, 0x1e,
                                       0xda, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80};
        ck_assert_int_ge(hc_endpoint_send(p->ep, p->sv, stap, sizeof stap, ts, false, &o, now), 0);
        p->v_sent++;
        p->keyframes_sent++;
    }
    uint32_t body = p->vbytes, done = 0, frag = 1000;
    uint8_t type = key ? 5 : 1;
    while (done < body) {
        uint32_t chunk = body - done < frag ? body - done : frag;
        b[0] = 0x7c;
        b[1] = (uint8_t)((done == 0 ? 0x80 : 0) | (done + chunk == body ? 0x40 : 0) | type);
        memset(b + 2, (int)(p->vframe & 0xff), chunk);
        if (done == 0) {
            b[2] = 0x88;
            hc_wr32(b + 3, p->vframe);
        }
        ck_assert_int_ge(
            hc_endpoint_send(p->ep, p->sv, b, 2 + chunk, ts, done + chunk == body, &o, now), 0);
        p->v_sent++;
        done += chunk;
    }
    p->vframe++;
}

static void rf_step(rf_party_t *p, uint64_t now)
{
    if (p->publishing) {
        if (p->sv && now >= p->t0 + (uint64_t)p->vframe * 33333u) rf_send_frame(p, now);
        if (p->sa && now >= p->t0 + (uint64_t)p->apkt * 20000u) {
            uint8_t a[80];
            a[0] = 0xf8;
            memset(a + 1, (int)p->apkt, sizeof a - 1);
            hc_ep_send_opts_t o = {
                .has_audio_level = true, .voice = p->level < 127, .audio_level = p->level};
            ck_assert_int_ge(
                hc_endpoint_send(p->ep, p->sa, a, sizeof a, p->apkt * 960u, false, &o, now), 0);
            p->apkt++;
            p->a_sent++;
        }
    }
    hc_endpoint_recv(p->ep, now);
    hc_endpoint_poll(p->ep, now);
}

/* Handle the signaling events queued for a party: tracks changes become
 * endpoint tracks, the rest is counted for the tests to look at. With
 * auto_ack, every `control` is acknowledged at once. */
static void rf_events(rf_party_t *p)
{
    hc_sig_msg_t m;
    while (hc_sigclient_recv(p->sig, &m, 0) == 0) {
        switch (m.type) {
        case HC_SIG_TRACKS:
            p->ev_tracks++;
            rf_tracks(p, m.tracks.receive, m.tracks.n_receive);
            break;
        case HC_SIG_FLOOR:
            p->ev_floor++;
            snprintf(p->floor, sizeof p->floor, "%s", m.floor.participant);
            break;
        case HC_SIG_HAND: p->ev_hand++; break;
        case HC_SIG_ALARM:
            if (m.alarm.kind == HC_SIG_ALARM_CONTROL_LOST) p->ev_lost++;
            if (m.alarm.kind == HC_SIG_ALARM_CONTROL_RESTORED) p->ev_restored++;
            snprintf(p->alarm_who, sizeof p->alarm_who, "%s", m.alarm.participant);
            break;
        case HC_SIG_CONTROL:
            if (p->ev_control && m.control.seq != p->ctl_last + 1) p->ctl_out_of_order++;
            p->ctl_last = m.control.seq;
            p->ev_control++;
            snprintf(p->ctl_from, sizeof p->ctl_from, "%s", m.control.from);
            if (p->auto_ack) {
                hc_sig_msg_t a;
                hc_sig_msg_init(&a, HC_SIG_CONTROL_ACK);
                a.control_ack.seq = m.control.seq;
                snprintf(a.control_ack.to, sizeof a.control_ack.to, "%s", m.control.from);
                ck_assert_int_eq(hc_sigclient_send(p->sig, &a), 0);
            }
            break;
        case HC_SIG_CONTROL_ACK: p->ev_ack++; break;
        case HC_SIG_CONTROL_RTT:
            p->ev_rtt++;
            p->last_rtt_ms = m.control_rtt.rtt_ms;
            break;
        case HC_SIG_KICKED: p->kicked = true; break;
        case HC_SIG_SESSION_CLOSED: p->closed = true; break;
        case HC_SIG_PARTICIPANT_LEFT: p->ev_left++; break;
        case HC_SIG_PARTICIPANT_JOINED: p->ev_joined++; break;
        default: break;
        }
        hc_sig_msg_fini(&m);
    }
}

/* Drive every party for ms milliseconds. */
static void rf_pump(rf_party_t **ps, size_t n, int ms)
{
    uint64_t end = hc_now_us() + (uint64_t)ms * 1000u;
    while (hc_now_us() < end) {
        uint64_t now = hc_now_us();
        for (size_t i = 0; i < n; i++) {
            if (!ps[i]->ep) continue;
            rf_step(ps[i], now);
            if (ps[i]->sig) {
                rf_keepalive(ps[i]->sig, &ps[i]->last_ping, now);
                rf_events(ps[i]);
            }
        }
        rf_sleep_ms(1);
    }
}

/* Run bin with argv, stdout+stderr to out_path; returns the pid. */
static pid_t rf_spawn(char *const argv[], const char *out_path)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static int rf_wait_exit(pid_t pid, const char *out_path)
{
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0) {
        char line[1024];
        FILE *f = fopen(out_path, "r");
        fprintf(stderr, "---- %s (exit %d) ----\n", out_path, code);
        while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
        if (f) fclose(f);
    }
    return code;
}

/* ---- hc-impair in front of a media port ---- */

typedef struct rf_impair {
    pid_t pid;
    uint16_t port;  /* where to send instead of the target */
    uint64_t t0_us; /* when it started: its --step times count from here */
    char log[300];  /* its stderr (the report at exit); empty: discarded */
} rf_impair_t;

/* hc-impair --listen 127.0.0.1:0 --target 127.0.0.1:target --print-port
 * followed by args (NULL-terminated: --seed N, --up SPEC, --step LINE...).
 * log: where its stderr goes (rf_impair_stop() shows it), or NULL. */
static void rf_impair_start(rf_impair_t *m, uint16_t target, const char *const *args,
                            const char *log)
{
    char bin[512], tgt[64];
    snprintf(bin, sizeof bin, "%s/hc-impair", hc_test_bin_dir());
    snprintf(tgt, sizeof tgt, "127.0.0.1:%u", target);
    snprintf(m->log, sizeof m->log, "%s", log ? log : "");
    const char *argv[32] = {bin, "--listen", "127.0.0.1:0", "--target", tgt, "--print-port"};
    size_t n = 6;
    for (size_t i = 0; args && args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    m->t0_us = hc_now_us();
    m->pid = fork();
    ck_assert_int_ge(m->pid, 0);
    if (m->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        int fd = open(m->log[0] ? m->log : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) dup2(fd, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    char line[32] = {0};
    size_t len = 0;
    while (len < sizeof line - 1) {
        struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
        ck_assert_msg(poll(&pf, 1, 10000) == 1, "hc-impair did not print its port");
        ck_assert_msg(read(pfd[0], line + len, 1) == 1, "hc-impair exited early");
        if (line[len] == '\n') break;
        len++;
    }
    line[len] = 0;
    close(pfd[0]);
    m->port = (uint16_t)atoi(line);
    ck_assert_uint_gt(m->port, 0);
}

/* Stop it; with a log, show its report. */
static void rf_impair_stop(rf_impair_t *m)
{
    if (m->pid <= 0) return;
    kill(m->pid, SIGTERM);
    waitpid(m->pid, NULL, 0);
    m->pid = 0;
    if (!m->log[0]) return;
    FILE *f = fopen(m->log, "r");
    char line[512];
    fprintf(stderr, "---- hc-impair (%s) ----\n", m->log);
    while (f && fgets(line, sizeof line, f)) fputs(line, stderr);
    if (f) fclose(f);
}

#endif
