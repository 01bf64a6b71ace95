/* probe.c - a scripted participant; see probe.h. */
#include "tools/hc-probe/probe.h"

#include "edge/sigclient.h"
#include "proto/b64.h"
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "proto/seq.h"
#include "relay/core/clock.h"
#include "tools/hc-probe/codec.h"
#include "tools/hc-probe/synth.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRACKS   48
#define FRAME_CAP    (1024 * 1024)
#define DELAY_BUCKET 100  /* us */
#define DELAY_N      5000 /* 0.5 s in 100 us buckets, plus one overflow bucket */
#define SIG_TIMEOUT  10000

typedef struct ptrack {
    bool active; /* still in the relay's receive list */
    hc_ep_track_t *t;
    hc_sig_stream_info_t info;
    hc_probe_t *p;
    bool video;
    bool have_last;
    uint16_t last_seq;
    uint64_t seq_jumps, skipped;
    hc_h264_depack_t dp;
    uint8_t *frame_buf;
    hc_h264_dec_t *hdec;
    hc_opus_dec_t *odec;
    uint64_t frames, complete, keyframes, decoded, decode_errors;
    int64_t last_frame_no;
    uint32_t delay[DELAY_N + 1];
    uint64_t delay_n;
    double delay_max_ms;
    uint64_t bytes_win, bytes_prev; /* for the live bitrate */
    double kbps;
    hc_ep_track_stats_t final; /* kept after the track is gone */
} ptrack_t;

typedef struct sigpost {
    hc_loop_msg_t m;
    hc_probe_t *p;
    hc_sig_msg_t *msg;
} sigpost_t;

struct hc_probe {
    hc_probe_cfg_t cfg;
    char *url, *token, *ca_file, *session, *site, *name, *via;
    FILE *log;
    hc_loop_t *loop;
    hc_sigclient_t *sig;
    hc_endpoint_t *ep;
    hc_sig_joined_t *joined;
    char participant[HC_SIG_ID_MAX + 1];
    hc_ep_stream_t *sv, *sa;
    hc_timer_t vtimer, atimer, script_timer, live_timer;
    hc_synth_video_t synth;
    hc_h264_enc_t *henc;
    hc_opus_enc_t *oenc;
    uint8_t *vbuf;
    uint32_t vframe, apkt;
    uint64_t t0_us, t0_wall;
    uint32_t ts_base_v, ts_base_a;
    bool key_wanted;
    ptrack_t tracks[MAX_TRACKS];
    size_t ntracks;
    hc_probe_pub_result_t pub;
    hc_probe_sig_result_t sigr;
    char hand[HC_SIG_ID_MAX + 1]; /* first raised hand seen (host) */
    uint64_t granted_us;
    bool granted, revoked;
    bool done;
    _Atomic bool closing; /* our own close: not worth a message */
};

static void plog(hc_probe_t *p, const char *fmt, ...)
{
    if (!p->cfg.verbose) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(p->log, "probe %s: t=%.3f ", p->name, (hc_now_us() - p->t0_us) / 1e6);
    vfprintf(p->log, fmt, ap);
    fputc('\n', p->log);
    va_end(ap);
}

void hc_probe_cfg_default(hc_probe_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->subscribe = true;
    cfg->video_bps = 1500000;
    cfg->audio_bps = 32000;
    cfg->fps = 30;
    cfg->width = 640;
    cfg->height = 360;
    cfg->mtu = 1200;
    cfg->reorder_ms = 300;
    cfg->grant_after_ms = -1;
    cfg->revoke_after_ms = -1;
    cfg->audio_level = 30;
}

/* ---- helpers ---- */

int hc_probe_url_host(const char *url, char *host, size_t cap)
{
    const char *s = strstr(url, "://");
    if (!s) return -HC_EINVAL;
    s += 3;
    const char *e;
    if (*s == '[') {
        s++;
        e = strchr(s, ']');
    } else {
        e = s + strcspn(s, ":/");
    }
    if (!e || e == s || (size_t)(e - s) >= cap) return -HC_EINVAL;
    memcpy(host, s, (size_t)(e - s));
    host[e - s] = 0;
    return 0;
}

static int resolve(const char *host, unsigned port, hc_addr_t *out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_DGRAM;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res) return -HC_EINVAL;
    int rc = hc_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return rc;
}

int hc_probe_media_addr(const char *url, const hc_sig_joined_t *j, const char *via, hc_addr_t *out)
{
    if (via && *via) {
        if (hc_addr_parse(via, out) == 0) return 0;
        char h[256];
        const char *c = strrchr(via, ':');
        if (!c || (size_t)(c - via) >= sizeof h) return -HC_EINVAL;
        memcpy(h, via, (size_t)(c - via));
        h[c - via] = 0;
        return resolve(h, (unsigned)atoi(c + 1), out);
    }
    char host[256];
    if (j->media.host[0]) {
        snprintf(host, sizeof host, "%s", j->media.host);
        /* host may carry ":port" (schema kind host); the port field rules */
        char *c = strrchr(host, ':');
        if (c && !strchr(host, ']') && strchr(host, ':') == c) *c = 0;
        if (host[0] == '[') {
            memmove(host, host + 1, strlen(host));
            char *b = strchr(host, ']');
            if (b) *b = 0;
        }
    } else if (hc_probe_url_host(url, host, sizeof host) < 0) {
        return -HC_EINVAL;
    }
    return resolve(host, j->media.port, out);
}

int hc_probe_endpoint_keys(const hc_sig_joined_t *j, hc_endpoint_cfg_t *cfg)
{
    cfg->suite = j->media.suite == HC_SIG_SUITE_AES_CM ? HC_SRTP_AES_CM_128_HMAC_SHA1_80
                                                       : HC_SRTP_AEAD_AES_128_GCM;
    size_t kl = hc_srtp_key_len(cfg->suite);
    uint8_t k[64];
    int n = hc_b64_decode(j->media.key_up, strlen(j->media.key_up), k, sizeof k);
    if (n != (int)kl) return -HC_EMALFORMED;
    memcpy(cfg->key_up, k, kl);
    n = hc_b64_decode(j->media.key_down, strlen(j->media.key_down), k, sizeof k);
    if (n != (int)kl) return -HC_EMALFORMED;
    memcpy(cfg->key_down, k, kl);
    cfg->rtcp_ssrc = j->media.rtcp_ssrc;
    return 0;
}

/* ---- receiving ---- */

static void delay_add(ptrack_t *pt, int64_t us)
{
    if (us < 0) us = 0;
    size_t b = (size_t)(us / DELAY_BUCKET);
    if (b > DELAY_N) b = DELAY_N;
    pt->delay[b]++;
    pt->delay_n++;
    if (us / 1000.0 > pt->delay_max_ms) pt->delay_max_ms = us / 1000.0;
}

static double delay_pct(const ptrack_t *pt, double q)
{
    if (!pt->delay_n) return 0;
    uint64_t want = (uint64_t)(q * (double)pt->delay_n);
    if (want >= pt->delay_n) want = pt->delay_n - 1;
    uint64_t acc = 0;
    for (size_t i = 0; i <= DELAY_N; i++) {
        acc += pt->delay[i];
        if (acc > want) return (i + 0.5) * DELAY_BUCKET / 1000.0;
    }
    return DELAY_N * DELAY_BUCKET / 1000.0;
}

static void on_frame(ptrack_t *pt, const hc_h264_frame_t *f)
{
    hc_probe_t *p = pt->p;
    pt->frames++;
    if (f->complete) pt->complete++;
    if (f->keyframe) pt->keyframes++;
    if (pt->hdec) {
        int w, h;
        int64_t no;
        int rc = hc_h264_dec_au(pt->hdec, f->data, f->len, &w, &h, &no);
        if (rc > 0) {
            pt->decoded++;
            pt->last_frame_no = no;
        } else if (rc < 0) {
            pt->decode_errors++;
        }
    } else if (f->len > 4) {
        /* synthetic: the slice after the start code carries its number */
        const uint8_t *d = f->data;
        for (size_t i = 0; i + 10 <= f->len; i++) {
            if (d[i] == 0 && d[i + 1] == 0 && d[i + 2] == 0 && d[i + 3] == 1 &&
                ((d[i + 4] & 0x1f) == HC_H264_NAL_IDR || (d[i + 4] & 0x1f) == HC_H264_NAL_SLICE) &&
                d[i + 5] == 0x88) {
                pt->last_frame_no = hc_rd32(d + i + 6);
                break;
            }
        }
    }
    (void)p;
}

static void on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    hc_probe_t *p = ud;
    ptrack_t *pt = hc_ep_track_owner(t);
    (void)p;
    if (pt->have_last && rx->seq != (uint16_t)(pt->last_seq + 1)) pt->seq_jumps++;
    pt->skipped += rx->skipped;
    pt->have_last = true;
    pt->last_seq = rx->seq;
    pt->bytes_win += rx->len;
    if (rx->capture_wall_us) delay_add(pt, (int64_t)rx->rx_wall_us - (int64_t)rx->capture_wall_us);
    if (pt->video) {
        hc_h264_frame_t f;
        int rc =
            hc_h264_depack_push(&pt->dp, rx->seq, rx->ts, rx->marker, rx->payload, rx->len, &f);
        if (rc == 1) on_frame(pt, &f);
        while (hc_h264_depack_pop(&pt->dp, &f) == 1) on_frame(pt, &f);
        if (hc_h264_depack_need_keyframe(&pt->dp))
            hc_endpoint_request_keyframe(p->ep, t, rx->rx_us);
    } else if (pt->odec && rx->len) {
        int rc = hc_opus_dec_packet(pt->odec, rx->payload, rx->len);
        if (rc > 0)
            pt->decoded++;
        else if (rc < 0)
            pt->decode_errors++;
    } else if (rx->len) {
        pt->decoded++; /* audio without a decoder: packets that could play */
    }
}

static ptrack_t *track_for(hc_probe_t *p, uint32_t ssrc)
{
    for (size_t i = 0; i < p->ntracks; i++)
        if (p->tracks[i].active && p->tracks[i].info.ssrc == ssrc) return &p->tracks[i];
    return NULL;
}

static void track_drop(hc_probe_t *p, ptrack_t *pt)
{
    if (pt->t) {
        hc_ep_track_stats(pt->t, &pt->final);
        hc_endpoint_track_remove(p->ep, pt->t);
        pt->t = NULL;
    }
    pt->active = false;
}

static void tracks_update(hc_probe_t *p, const hc_sig_stream_info_t *list, size_t n)
{
    for (size_t i = 0; i < p->ntracks; i++) {
        ptrack_t *pt = &p->tracks[i];
        if (!pt->active) continue;
        bool keep = false;
        for (size_t k = 0; k < n; k++) keep |= list[k].ssrc == pt->info.ssrc;
        if (!keep) track_drop(p, pt);
    }
    for (size_t k = 0; k < n; k++) {
        const hc_sig_stream_info_t *si = &list[k];
        if (si->kind != HC_SIG_MEDIA_AUDIO && si->kind != HC_SIG_MEDIA_VIDEO) continue;
        ptrack_t *pt = track_for(p, si->ssrc);
        if (pt) {
            pt->info = *si; /* the participant it carries may have changed */
            continue;
        }
        if (p->ntracks >= MAX_TRACKS) break;
        pt = &p->tracks[p->ntracks];
        memset(pt, 0, sizeof *pt);
        pt->info = *si;
        pt->p = p;
        pt->video = si->kind == HC_SIG_MEDIA_VIDEO;
        pt->last_frame_no = -1;
        hc_ep_track_cfg_t tc = {.ssrc = si->ssrc,
                                .rtx_ssrc = si->has_rtx_ssrc ? si->rtx_ssrc : 0,
                                .clock_rate = pt->video ? 90000 : 48000,
                                .window = pt->video ? 2048 : 256,
                                .reorder_ms = p->cfg.reorder_ms,
                                .nack = si->has_rtx_ssrc,
                                .owner = pt};
        if (hc_endpoint_track_add(p->ep, &tc, &pt->t) < 0) continue;
        if (pt->video) {
            pt->frame_buf = malloc(FRAME_CAP);
            if (!pt->frame_buf) {
                hc_endpoint_track_remove(p->ep, pt->t);
                continue;
            }
            hc_h264_depack_init(&pt->dp, pt->frame_buf, FRAME_CAP);
            if (p->cfg.decode) (void)hc_h264_dec_new(&pt->hdec);
        } else if (p->cfg.decode) {
            (void)hc_opus_dec_new(&pt->odec);
        }
        pt->active = true;
        p->ntracks++;
        plog(p, "track %s ssrc=%u kind=%s from=%s", si->mid, si->ssrc,
             pt->video ? "video" : "audio", si->participant[0] ? si->participant : "-");
    }
}

/* ---- publishing ---- */

static void send_video_frame(hc_probe_t *p, uint64_t now)
{
    hc_ep_send_opts_t o = {.capture_wall_us = hc_wall_us()};
    uint32_t ts = p->ts_base_v + (uint32_t)((uint64_t)p->vframe * 90000u / p->cfg.fps);
    bool key = p->key_wanted;
    p->key_wanted = false;
    if (p->henc) {
        const uint8_t *au;
        size_t len;
        bool is_key;
        int rc = hc_h264_enc_frame(p->henc, p->vframe, key, &au, &len, &is_key);
        p->vframe++;
        if (rc <= 0) return;
        hc_h264_pack_t pk;
        if (hc_h264_pack_init(&pk, au, len, p->cfg.mtu) < 0) return;
        uint8_t pl[2048];
        bool marker;
        int n;
        while ((n = hc_h264_pack_next(&pk, pl, sizeof pl, &marker)) > 0) {
            if (hc_endpoint_send(p->ep, p->sv, pl, (size_t)n, ts, marker, &o, now) >= 0)
                p->pub.video_packets++;
        }
        p->pub.video_frames++;
        if (is_key) p->pub.keyframes++;
    } else {
        if (key) p->synth.force_key = true;
        hc_synth_pkt_t pk[HC_SYNTH_MAX_PKTS];
        bool is_key;
        int n = hc_synth_video_frame(&p->synth, p->vbuf, FRAME_CAP, pk, &is_key);
        p->vframe++;
        for (int i = 0; i < n; i++)
            if (hc_endpoint_send(p->ep, p->sv, p->vbuf + pk[i].off, pk[i].len, ts, pk[i].marker, &o,
                                 now) >= 0)
                p->pub.video_packets++;
        p->pub.video_frames++;
        if (is_key) p->pub.keyframes++;
    }
}

static void on_vtimer(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_probe_t *p = ud;
    uint64_t now = hc_loop_now_us(loop);
    send_video_frame(p, now);
    hc_timer_start(loop, t, p->t0_us + (uint64_t)p->vframe * 1000000u / p->cfg.fps, on_vtimer, p);
}

static void on_atimer(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_probe_t *p = ud;
    uint64_t now = hc_loop_now_us(loop);
    hc_ep_send_opts_t o = {.capture_wall_us = hc_wall_us(),
                           .has_audio_level = true,
                           .voice = p->cfg.audio_level < 127,
                           .audio_level = p->cfg.audio_level};
    uint32_t ts = p->ts_base_a + p->apkt * 960u;
    p->apkt++;
    uint8_t buf[1500];
    const uint8_t *pkt = buf;
    int n;
    if (p->oenc)
        n = hc_opus_enc_frame(p->oenc, &pkt);
    else
        n = hc_synth_audio_packet(p->apkt, p->cfg.audio_bps / 8 / 50, buf, sizeof buf);
    if (n > 0 && hc_endpoint_send(p->ep, p->sa, pkt, (size_t)n, ts, false, &o, now) >= 0)
        p->pub.audio_packets++;
    hc_timer_start(loop, t, p->t0_us + (uint64_t)p->apkt * 20000u, on_atimer, p);
}

static void on_keyframe(void *ud, hc_ep_stream_t *s, bool fir)
{
    hc_probe_t *p = ud;
    (void)fir;
    p->pub.plis++;
    if (s == p->sv) p->key_wanted = true;
}

/* ---- signaling ---- */

static void send_req(hc_probe_t *p, hc_sig_msg_t *m)
{
    /* every request type we send here has its id as first member */
    uint32_t id = hc_sigclient_next_id(p->sig);
    switch (m->type) {
    case HC_SIG_RAISE_HAND: m->raise_hand.id = id; break;
    case HC_SIG_GRANT_FLOOR: m->grant_floor.id = id; break;
    case HC_SIG_REVOKE_FLOOR: m->revoke_floor.id = id; break;
    case HC_SIG_LEAVE: m->leave.id = id; break;
    default: break;
    }
    (void)hc_sigclient_send(p->sig, m);
}

int hc_probe_raise_hand(hc_probe_t *p)
{
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_RAISE_HAND);
    send_req(p, &m);
    return 0;
}

int hc_probe_grant_floor(hc_probe_t *p, const char *participant)
{
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_GRANT_FLOOR);
    snprintf(m.grant_floor.participant, sizeof m.grant_floor.participant, "%s", participant);
    send_req(p, &m);
    plog(p, "grant_floor %s", participant);
    return 0;
}

int hc_probe_revoke_floor(hc_probe_t *p)
{
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_REVOKE_FLOOR);
    send_req(p, &m);
    plog(p, "revoke_floor");
    return 0;
}

static void on_script(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_probe_t *p = ud;
    uint64_t now = hc_loop_now_us(loop);
    if (p->hand[0] && !p->granted && p->cfg.grant_after_ms >= 0 &&
        now >= p->t0_us + (uint64_t)p->cfg.grant_after_ms * 1000u) {
        hc_probe_grant_floor(p, p->hand);
        p->granted = true;
        p->granted_us = now;
    }
    if (p->granted && !p->revoked && p->cfg.revoke_after_ms >= 0 &&
        now >= p->granted_us + (uint64_t)p->cfg.revoke_after_ms * 1000u) {
        hc_probe_revoke_floor(p);
        p->revoked = true;
    }
    hc_timer_start(loop, t, now + 50000, on_script, p);
}

static void handle_sig(hc_probe_t *p, hc_sig_msg_t *m)
{
    switch (m->type) {
    case HC_SIG_TRACKS:
        p->sigr.tracks_events++;
        tracks_update(p, m->tracks.receive, m->tracks.n_receive);
        plog(p, "tracks (%zu)", m->tracks.n_receive);
        break;
    case HC_SIG_FLOOR:
        p->sigr.floor_events++;
        snprintf(p->sigr.floor, sizeof p->sigr.floor, "%s", m->floor.participant);
        plog(p, "floor -> %s", m->floor.participant[0] ? m->floor.participant : "nobody");
        break;
    case HC_SIG_HAND:
        p->sigr.hand_events++;
        plog(p, "hand %s %s", m->hand.participant, m->hand.raised ? "raised" : "lowered");
        if (m->hand.raised && !p->hand[0] && strcmp(m->hand.participant, p->participant))
            snprintf(p->hand, sizeof p->hand, "%s", m->hand.participant);
        break;
    case HC_SIG_ERROR:
        p->sigr.errors++;
        plog(p, "error %s: %s", hc_errname(m->error.code), m->error.reason);
        break;
    case HC_SIG_ALARM:
        p->sigr.alarms++;
        plog(p, "alarm %s", hc_sig_alarm_kind_name(m->alarm.kind));
        break;
    case HC_SIG_KICKED:
        p->sigr.kicked = true;
        p->done = true;
        plog(p, "kicked: %s", m->kicked.reason);
        break;
    case HC_SIG_SESSION_CLOSED:
        p->sigr.closed = true;
        p->done = true;
        plog(p, "session closed: %s", m->session_closed.reason);
        break;
    case HC_SIG_PARTICIPANT_JOINED:
        plog(p, "participant_joined %s", m->participant_joined.participant.participant);
        break;
    case HC_SIG_PARTICIPANT_LEFT:
        plog(p, "participant_left %s", m->participant_left.participant);
        break;
    default: break;
    }
}

static void on_post(hc_loop_t *loop, hc_loop_msg_t *lm)
{
    (void)loop;
    sigpost_t *sp = (sigpost_t *)lm;
    if (sp->p) handle_sig(sp->p, sp->msg);
    hc_sigclient_msg_free(&sp->msg);
    free(sp);
}

/* Signaling thread: hand the message to the loop thread. */
static void on_sig_message(void *ud, hc_sig_msg_t *msg)
{
    hc_probe_t *p = ud;
    sigpost_t *sp = malloc(sizeof *sp);
    if (!sp) {
        hc_sigclient_msg_free(&msg);
        return;
    }
    sp->p = p;
    sp->msg = msg;
    hc_loop_msg_init(&sp->m, on_post, sp);
    hc_loop_post(p->loop, &sp->m);
}

static void on_sig_state(void *ud, hc_sigclient_state_t st, int code, const char *reason)
{
    hc_probe_t *p = ud;
    if (st == HC_SIGCLIENT_CLOSED && p->ep && !p->closing) {
        p->done = true;
        fprintf(p->log, "probe %s: signaling closed (%s: %s)\n", p->name, hc_errname(code), reason);
    }
}

static void on_live(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_probe_t *p = ud;
    for (size_t i = 0; i < p->ntracks; i++) {
        ptrack_t *pt = &p->tracks[i];
        pt->kbps = (double)(pt->bytes_win - pt->bytes_prev) * 8 / 1000.0;
        pt->bytes_prev = pt->bytes_win;
    }
    hc_timer_start(loop, t, t->due_us + 1000000u, on_live, p);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int setup_join(hc_probe_t *p, char *err, size_t errcap)
{
    hc_sig_msg_t req, rep;
    int rc;
    if (p->cfg.create) {
        hc_sig_msg_init(&req, HC_SIG_CREATE);
        req.create.kind = hc_sig_kind_from_name(p->cfg.create);
        if (req.create.kind == HC_SIG_KIND_NONE) {
            snprintf(err, errcap, "unknown session kind %s", p->cfg.create);
            return -HC_EINVAL;
        }
        if (p->session) {
            snprintf(req.create.session, sizeof req.create.session, "%s", p->session);
        }
        if (p->cfg.max_sites) {
            req.create.max_sites = p->cfg.max_sites;
            req.create.has_max_sites = true;
        }
        if (p->cfg.last_n) {
            req.create.last_n = p->cfg.last_n;
            req.create.has_last_n = true;
        }
        rc = hc_sigclient_call(p->sig, &req, &rep, SIG_TIMEOUT);
        if (rc < 0 && rc != -HC_EEXIST) {
            snprintf(err, errcap, "create: %s: %s", hc_errname(rc),
                     rep.type == HC_SIG_ERROR ? rep.error.reason : hc_strerror(rc));
            hc_sig_msg_fini(&rep);
            return rc;
        }
        if (rc == 0 && !p->session) p->session = strdup(rep.created.session);
        hc_sig_msg_fini(&rep);
    }
    if (!p->session) {
        hc_sig_welcome_t w;
        if (hc_sigclient_welcome(p->sig, &w) == 0 && w.session[0]) p->session = strdup(w.session);
    }
    if (!p->session) {
        snprintf(err, errcap, "no session given and the token names none");
        return -HC_EINVAL;
    }
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "%s", p->session);
    snprintf(req.join.site, sizeof req.join.site, "%s", p->site);
    if (p->cfg.pub_video) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "v0");
        s->kind = HC_SIG_MEDIA_VIDEO;
        s->tag = HC_SIG_TAG_MAIN;
        s->codec = HC_SIG_CODEC_H264;
        s->max_kbps = p->cfg.video_bps / 1000 ? p->cfg.video_bps / 1000 : 1;
        s->has_max_kbps = true;
        s->width = p->cfg.width;
        s->has_width = true;
        s->height = p->cfg.height;
        s->has_height = true;
        s->fps = p->cfg.fps;
        s->has_fps = true;
    }
    if (p->cfg.pub_audio) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "a0");
        s->kind = HC_SIG_MEDIA_AUDIO;
        s->tag = HC_SIG_TAG_AUDIO;
        s->codec = HC_SIG_CODEC_OPUS;
        s->max_kbps = p->cfg.audio_bps / 1000 ? p->cfg.audio_bps / 1000 : 1;
        s->has_max_kbps = true;
    }
    req.join.subscribe = p->cfg.subscribe;
    req.join.has_subscribe = true;
    if (p->cfg.suite && !strcmp(p->cfg.suite, "aes-cm")) {
        req.join.suite = HC_SIG_SUITE_AES_CM;
        req.join.has_suite = true;
    }
    rc = hc_sigclient_call(p->sig, &req, &rep, SIG_TIMEOUT);
    if (rc < 0) {
        snprintf(err, errcap, "join: %s: %s", hc_errname(rc),
                 rep.type == HC_SIG_ERROR ? rep.error.reason : hc_strerror(rc));
        hc_sig_msg_fini(&rep);
        return rc;
    }
    p->joined = malloc(sizeof *p->joined);
    if (!p->joined) {
        hc_sig_msg_fini(&rep);
        return -HC_ENOMEM;
    }
    *p->joined = rep.joined;
    hc_sig_msg_fini(&rep);
    snprintf(p->participant, sizeof p->participant, "%s", p->joined->participant);
    snprintf(p->sigr.floor, sizeof p->sigr.floor, "%s", p->joined->floor);
    return 0;
}

static int setup_media(hc_probe_t *p, char *err, size_t errcap)
{
    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    int rc = hc_probe_endpoint_keys(p->joined, &ec);
    if (rc < 0) {
        snprintf(err, errcap, "joined: bad SRTP key");
        return rc;
    }
    if ((rc = hc_probe_media_addr(p->url, p->joined, p->via, &ec.remote)) < 0) {
        snprintf(err, errcap, "cannot resolve the media address");
        return rc;
    }
    snprintf(ec.cname, sizeof ec.cname, "%s", p->name);
    ec.ev.ud = p;
    ec.ev.rtp = on_rtp;
    ec.ev.keyframe = on_keyframe;
    ec.max_tracks = MAX_TRACKS;
    if ((rc = hc_endpoint_new(&p->ep, &ec)) < 0) {
        snprintf(err, errcap, "media endpoint: %s", hc_strerror(rc));
        return rc;
    }
    uint32_t seed = (uint32_t)hc_wall_us() ^ (uint32_t)(uintptr_t)p;
    size_t si = 0;
    if (p->cfg.pub_video && si < p->joined->n_streams) {
        const hc_sig_stream_info_t *s = &p->joined->streams[si++];
        hc_ep_stream_cfg_t c = {.ssrc = s->ssrc,
                                .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                .pt = HC_EP_PT_H264,
                                .rtx_pt = HC_EP_PT_H264_RTX,
                                .clock_rate = 90000,
                                .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                                .history = 1024,
                                .first_seq = (uint16_t)seed};
        if ((rc = hc_endpoint_stream_add(p->ep, &c, &p->sv)) < 0) return rc;
    }
    if (p->cfg.pub_audio && si < p->joined->n_streams) {
        const hc_sig_stream_info_t *s = &p->joined->streams[si++];
        hc_ep_stream_cfg_t c = {.ssrc = s->ssrc,
                                .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                .pt = HC_EP_PT_OPUS,
                                .rtx_pt = HC_EP_PT_OPUS_RTX,
                                .clock_rate = 48000,
                                .ext =
                                    HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC | HC_EP_EXT_AUDIO_LEVEL,
                                .history = 128,
                                .first_seq = (uint16_t)(seed >> 16)};
        if ((rc = hc_endpoint_stream_add(p->ep, &c, &p->sa)) < 0) return rc;
    }
    p->ts_base_v = seed * 2654435761u;
    p->ts_base_a = seed * 40503u;
    if (p->sv) {
        p->vbuf = malloc(FRAME_CAP);
        if (!p->vbuf) return -HC_ENOMEM;
        hc_synth_video_init(&p->synth, p->cfg.video_bps, p->cfg.fps, p->cfg.mtu, p->cfg.fps * 2);
        if (p->cfg.media == HC_PROBE_H264 &&
            (rc = hc_h264_enc_new(&p->henc, (int)p->cfg.width, (int)p->cfg.height, (int)p->cfg.fps,
                                  (int)p->cfg.video_bps, (int)p->cfg.fps * 2, err, errcap)) < 0)
            return rc;
        p->key_wanted = true;
    }
    if (p->sa && p->cfg.media == HC_PROBE_H264 &&
        (rc = hc_opus_enc_new(&p->oenc, (int)p->cfg.audio_bps, err, errcap)) < 0)
        return rc;
    tracks_update(p, p->joined->receive, p->joined->n_receive);
    return 0;
}

int hc_probe_new(hc_probe_t **out, const hc_probe_cfg_t *cfg, hc_loop_t *loop, char *err,
                 size_t errcap)
{
    *out = NULL;
    if (!cfg->url || !cfg->token || !loop) {
        snprintf(err, errcap, "url and token are required");
        return -HC_EINVAL;
    }
    hc_probe_t *p = calloc(1, sizeof *p);
    if (!p) return -HC_ENOMEM;
    p->cfg = *cfg;
    p->url = dup_or_null(cfg->url);
    p->token = dup_or_null(cfg->token);
    p->ca_file = dup_or_null(cfg->ca_file);
    p->session = dup_or_null(cfg->session);
    p->site = strdup(cfg->site ? cfg->site : "hc-probe");
    p->name = strdup(cfg->name ? cfg->name : p->site);
    p->via = dup_or_null(cfg->media_via);
    p->log = cfg->log ? cfg->log : stderr;
    p->loop = loop;
    if (!p->cfg.fps) p->cfg.fps = 30;
    if (!p->cfg.mtu) p->cfg.mtu = 1200;
    p->t0_us = hc_now_us();
    p->t0_wall = hc_wall_us();

    hc_sigclient_cfg_t sc;
    hc_sigclient_cfg_default(&sc);
    sc.url = p->url;
    sc.token = p->token;
    sc.client = "hc-probe/0.1.0";
    sc.ca_file = p->ca_file;
    sc.insecure = !p->ca_file;
    sc.on_message = on_sig_message;
    sc.on_state = on_sig_state;
    sc.ud = p;
    int rc = hc_sigclient_connect(&p->sig, &sc, err, errcap);
    if (rc < 0) goto fail;
    if ((rc = setup_join(p, err, errcap)) < 0) goto fail;
    if ((rc = setup_media(p, err, errcap)) < 0) goto fail;

    uint64_t now = hc_loop_now_us(loop);
    if (now < p->t0_us) now = p->t0_us;
    p->t0_us = now;
    if ((rc = hc_endpoint_attach(p->ep, loop)) < 0) goto fail;
    hc_endpoint_start(p->ep, now);
    if (p->sv) hc_timer_start(loop, &p->vtimer, now, on_vtimer, p);
    if (p->sa) hc_timer_start(loop, &p->atimer, now, on_atimer, p);
    hc_timer_start(loop, &p->script_timer, now + 50000, on_script, p);
    hc_timer_start(loop, &p->live_timer, now + 1000000, on_live, p);
    plog(p, "joined %s as %s (%zu streams, %zu tracks)", p->session, p->participant,
         p->joined->n_streams, p->joined->n_receive);
    if (p->cfg.raise_hand) hc_probe_raise_hand(p);
    *out = p;
    return 0;
fail:
    hc_probe_destroy(&p);
    return rc;
}

void hc_probe_destroy(hc_probe_t **pp)
{
    if (!pp || !*pp) return;
    hc_probe_t *p = *pp;
    hc_timer_stop(&p->vtimer);
    hc_timer_stop(&p->atimer);
    hc_timer_stop(&p->script_timer);
    hc_timer_stop(&p->live_timer);
    p->closing = true;
    if (p->sig && p->joined && hc_sigclient_state(p->sig) == HC_SIGCLIENT_READY) {
        hc_sig_msg_t m, rep;
        hc_sig_msg_init(&m, HC_SIG_LEAVE);
        (void)hc_sigclient_call(p->sig, &m, &rep, 2000);
        hc_sig_msg_fini(&rep);
    }
    hc_sigclient_destroy(&p->sig);
    /* messages the signaling thread posted before it stopped: run them
     * now, while the probe is still whole */
    if (p->loop) (void)hc_loop_run_once(p->loop, 0);
    for (size_t i = 0; i < p->ntracks; i++) {
        ptrack_t *pt = &p->tracks[i];
        if (pt->t) hc_endpoint_track_remove(p->ep, pt->t);
        hc_h264_dec_destroy(&pt->hdec);
        hc_opus_dec_destroy(&pt->odec);
        free(pt->frame_buf);
    }
    hc_endpoint_destroy(&p->ep);
    hc_h264_enc_destroy(&p->henc);
    hc_opus_enc_destroy(&p->oenc);
    free(p->vbuf);
    free(p->joined);
    free(p->url);
    free(p->token);
    free(p->ca_file);
    free(p->session);
    free(p->site);
    free(p->name);
    free(p->via);
    free(p);
    *pp = NULL;
}

bool hc_probe_done(const hc_probe_t *p)
{
    return p->done;
}

hc_endpoint_t *hc_probe_endpoint(hc_probe_t *p)
{
    return p->ep;
}

const char *hc_probe_participant(const hc_probe_t *p)
{
    return p->participant;
}

/* ---- results ---- */

size_t hc_probe_track_count(const hc_probe_t *p)
{
    return p->ntracks;
}

void hc_probe_track_result(hc_probe_t *p, size_t i, hc_probe_track_result_t *r)
{
    memset(r, 0, sizeof *r);
    if (i >= p->ntracks) return;
    ptrack_t *pt = &p->tracks[i];
    hc_ep_track_stats_t s = pt->final;
    if (pt->t) hc_ep_track_stats(pt->t, &s);
    snprintf(r->mid, sizeof r->mid, "%s", pt->info.mid);
    snprintf(r->from, sizeof r->from, "%s", pt->info.participant);
    r->video = pt->video;
    r->ssrc = pt->info.ssrc;
    r->packets = s.packets;
    r->expected = s.expected;
    r->missing = s.missing;
    r->recovered = s.recovered;
    r->rtx = s.rtx;
    r->lost = s.lost;
    r->duplicates = s.duplicates;
    r->delivered = s.delivered;
    r->plis = s.plis_sent;
    r->seq_jumps = pt->seq_jumps;
    r->skipped = pt->skipped;
    r->frames = pt->frames;
    r->frames_complete = pt->complete;
    r->keyframes = pt->keyframes;
    r->decoded = pt->decoded;
    r->decode_errors = pt->decode_errors;
    r->last_frame_no = pt->last_frame_no;
    r->delay_p50_ms = delay_pct(pt, 0.50);
    r->delay_p95_ms = delay_pct(pt, 0.95);
    r->delay_max_ms = pt->delay_max_ms;
    r->delay_samples = pt->delay_n;
    r->kbps = pt->kbps;
}

void hc_probe_pub_result(hc_probe_t *p, hc_probe_pub_result_t *out)
{
    *out = p->pub;
    hc_ep_stream_stats_t s;
    out->rtx_sent = out->nacks_rx = 0;
    hc_ep_stream_t *ss[2] = {p->sv, p->sa};
    for (int i = 0; i < 2; i++) {
        if (!ss[i]) continue;
        hc_ep_stream_stats(ss[i], &s);
        out->rtx_sent += s.rtx_sent;
        out->nacks_rx += s.nacks_rx;
    }
    hc_endpoint_stats_t es;
    if (p->ep) {
        hc_endpoint_stats(p->ep, &es);
        out->rtt_ms = es.rtt_ms;
    }
}

void hc_probe_sig_result(hc_probe_t *p, hc_probe_sig_result_t *out)
{
    *out = p->sigr;
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

void hc_probe_print(hc_probe_t *p, FILE *out)
{
    if (p->sv || p->sa) {
        hc_probe_pub_result_t r;
        hc_probe_pub_result(p, &r);
        fprintf(out,
                "probe %s (%s) publish: video_frames=%" PRIu64 " video_packets=%" PRIu64
                " keyframes=%" PRIu64 " audio_packets=%" PRIu64 " plis=%" PRIu64 " nacks=%" PRIu64
                " rtx=%" PRIu64 " rtt_ms=%.1f\n",
                p->name, p->participant, r.video_frames, r.video_packets, r.keyframes,
                r.audio_packets, r.plis, r.nacks_rx, r.rtx_sent, r.rtt_ms);
    }
    for (size_t i = 0; i < p->ntracks; i++) {
        hc_probe_track_result_t r;
        hc_probe_track_result(p, i, &r);
        fprintf(out,
                "probe %s track %s (%s from %s): packets=%" PRIu64 " expected=%" PRIu64
                " loss_before=%.2f%% loss_after=%.2f%% recovered=%" PRIu64 " rtx=%" PRIu64
                " seq_jumps=%" PRIu64,
                p->name, r.mid, r.video ? "video" : "audio", r.from[0] ? r.from : "-", r.packets,
                r.expected, pct(r.missing, r.expected), pct(r.lost, r.expected), r.recovered, r.rtx,
                r.seq_jumps);
        if (r.video)
            fprintf(out, " frames=%" PRIu64 " complete=%" PRIu64 " keyframes=%" PRIu64, r.frames,
                    r.frames_complete, r.keyframes);
        fprintf(out, " decoded=%" PRIu64 " delay_ms p50=%.1f p95=%.1f max=%.1f\n", r.decoded,
                r.delay_p50_ms, r.delay_p95_ms, r.delay_max_ms);
    }
}

void hc_probe_print_live(hc_probe_t *p, FILE *out, double t_s)
{
    double kbps = 0;
    uint64_t exp = 0, miss = 0, lost = 0, frames = 0;
    double d50 = 0;
    uint64_t best = 0;
    for (size_t i = 0; i < p->ntracks; i++) {
        hc_probe_track_result_t r;
        hc_probe_track_result(p, i, &r);
        if (!p->tracks[i].active) continue;
        kbps += r.kbps;
        exp += r.expected;
        miss += r.missing;
        lost += r.lost;
        if (r.video) {
            frames += p->cfg.decode ? r.decoded : r.frames_complete;
            if (r.packets > best) { /* the delay of the busiest video track */
                best = r.packets;
                d50 = r.delay_p50_ms;
            }
        }
    }
    fprintf(out,
            "%6.1fs %-18s %7.0f kbit/s  loss before %5.2f%% after %5.2f%%  frames %6" PRIu64
            "  delay p50 %6.1f ms\n",
            t_s, p->name, kbps, pct(miss, exp), pct(lost, exp), frames, d50);
}

void hc_probe_print_json(hc_probe_t *p, FILE *out)
{
    fprintf(out, "{\"probe\":\"%s\",\"participant\":\"%s\",\"session\":\"%s\"", p->name,
            p->participant, p->session ? p->session : "");
    if (p->sv || p->sa) {
        hc_probe_pub_result_t r;
        hc_probe_pub_result(p, &r);
        fprintf(out,
                ",\"publish\":{\"video_frames\":%" PRIu64 ",\"video_packets\":%" PRIu64
                ",\"keyframes\":%" PRIu64 ",\"audio_packets\":%" PRIu64 ",\"plis\":%" PRIu64
                ",\"nacks\":%" PRIu64 ",\"rtx\":%" PRIu64 ",\"rtt_ms\":%.2f}",
                r.video_frames, r.video_packets, r.keyframes, r.audio_packets, r.plis, r.nacks_rx,
                r.rtx_sent, r.rtt_ms);
    }
    fprintf(out, ",\"tracks\":[");
    for (size_t i = 0; i < p->ntracks; i++) {
        hc_probe_track_result_t r;
        hc_probe_track_result(p, i, &r);
        fprintf(out,
                "%s{\"mid\":\"%s\",\"kind\":\"%s\",\"from\":\"%s\",\"ssrc\":%u,\"packets\":%" PRIu64
                ",\"expected\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"recovered\":%" PRIu64
                ",\"rtx\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"seq_jumps\":%" PRIu64
                ",\"skipped\":%" PRIu64 ",\"frames\":%" PRIu64 ",\"frames_complete\":%" PRIu64
                ",\"keyframes\":%" PRIu64 ",\"decoded\":%" PRIu64 ",\"decode_errors\":%" PRIu64
                ",\"last_frame_no\":%" PRId64
                ",\"delay_p50_ms\":%.2f,\"delay_p95_ms\":%.2f,\"delay_max_ms\":%.2f}",
                i ? "," : "", r.mid, r.video ? "video" : "audio", r.from, r.ssrc, r.packets,
                r.expected, r.missing, r.recovered, r.rtx, r.lost, r.seq_jumps, r.skipped, r.frames,
                r.frames_complete, r.keyframes, r.decoded, r.decode_errors, r.last_frame_no,
                r.delay_p50_ms, r.delay_p95_ms, r.delay_max_ms);
    }
    fprintf(out,
            "],\"floor_events\":%" PRIu64 ",\"floor\":\"%s\",\"errors\":%" PRIu64
            ",\"alarms\":%" PRIu64 ",\"kicked\":%s,\"closed\":%s}",
            p->sigr.floor_events, p->sigr.floor, p->sigr.errors, p->sigr.alarms,
            p->sigr.kicked ? "true" : "false", p->sigr.closed ? "true" : "false");
}
