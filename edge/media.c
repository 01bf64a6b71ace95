/* media.c - hc-edge's media engine: the loop, the endpoint glue, receive
 * tracks and the API of media.h (published streams: media_pub.c). */
#include "edge/media_int.h"

#include "proto/err.h"
#include "proto/rtp.h"
#include "relay/core/clock.h"

#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MAX_US   20000 /* the loop looks at everything at least this often */
#define STATS_RTT_US 200000

void hc_edge_media_cfg_default(hc_edge_media_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->leg.suite = HC_SRTP_AEAD_AES_128_GCM;
    cfg->profile = HC_PROFILE_CLASS;
    cfg->min_kbps = 100;
    cfg->start_kbps = 600;
    cfg->max_kbps = 4000;
    cfg->playout_budget_ms = 300;
    cfg->jitter_min_ms = 40;
    cfg->jitter_max_ms = 300;
    cfg->repair = true;
    cfg->video_sink = "headless";
    cfg->audio_sink = "headless";
}

/* ---- running things on the loop ---- */

typedef struct media_call {
    hc_loop_msg_t msg;
    hc_edge_media_t *m;
    void (*fn)(hc_edge_media_t *m, void *arg);
    void *arg;
    bool done;
} media_call_t;

static void call_fn(hc_loop_t *loop, hc_loop_msg_t *msg)
{
    (void)loop;
    media_call_t *c = msg->ud;
    c->fn(c->m, c->arg);
    pthread_mutex_lock(&c->m->call_mu);
    c->done = true;
    pthread_cond_broadcast(&c->m->call_cv);
    pthread_mutex_unlock(&c->m->call_mu);
}

/* Run fn on the loop's thread and wait (directly when the loop does not run). */
static void media_call(hc_edge_media_t *m, void (*fn)(hc_edge_media_t *, void *), void *arg)
{
    if (!m->loop_running) {
        fn(m, arg);
        return;
    }
    media_call_t c = {.m = m, .fn = fn, .arg = arg};
    hc_loop_msg_init(&c.msg, call_fn, &c);
    hc_loop_post(m->loop, &c.msg);
    pthread_mutex_lock(&m->call_mu);
    while (!c.done) pthread_cond_wait(&m->call_cv, &m->call_mu);
    pthread_mutex_unlock(&m->call_mu);
}

void media_post(hc_edge_media_t *m, hc_loop_msg_t *msg)
{
    hc_loop_post(m->loop, msg);
}

static void frame_fn(hc_loop_t *loop, hc_loop_msg_t *msg)
{
    media_frame_t *f = msg->ud;
    media_pub_t *p = f->p;
    hc_edge_media_t *m = p->m;
    uint64_t now = loop ? hc_loop_now_us(loop) : hc_now_us();
    if (!atomic_load(&m->paused) && m->sender) {
        if (f->video)
            (void)hc_sender_video(m->sender, p->idx, f->data, f->len, f->ts, f->keyframe,
                                  f->wall_us, now);
        else
            (void)hc_sender_audio(m->sender, p->idx, f->data, f->len, f->ts, f->pt, f->level,
                                  f->voice, f->wall_us, now);
    }
    free(f);
}

void media_post_frame(media_pub_t *p, bool video, const uint8_t *data, size_t len, uint32_t ts,
                      bool keyframe, uint8_t pt, uint8_t level, bool voice, uint64_t wall_us)
{
    hc_edge_media_t *m = p->m;
    if (!m->loop_running) return;
    media_frame_t *f = malloc(sizeof *f + len);
    if (!f) return;
    f->p = p;
    f->video = video;
    f->keyframe = keyframe;
    f->ts = ts;
    f->pt = pt;
    f->level = level;
    f->voice = voice;
    f->wall_us = wall_us;
    f->len = len;
    memcpy(f->data, data, len);
    hc_loop_msg_init(&f->msg, frame_fn, f);
    hc_loop_post(m->loop, &f->msg);
}

/* ---- the sender's output through the endpoint (loop thread) ---- */

/* Probe padding goes on a video stream's RTX SSRC (the endpoint repeats
 * recent packets or sends RFC 3550 padding); the first video stream that
 * has one and is sending. */
static int io_padding(hc_edge_media_t *m, const hc_sender_out_t *o, uint64_t now, int32_t *twcc,
                      uint32_t *wire)
{
    hc_ep_send_opts_t so = {.twcc_out = twcc, .wire_out = wire};
    for (int i = 0; i < m->npub; i++) {
        media_pub_t *p = m->pub[i];
        if (p->kind != HC_EDGE_VIDEO || !p->eps || !p->rtx_ssrc || !m->cfg.repair) continue;
        int rc = hc_endpoint_send_padding(m->ep, p->eps, o->len, &so, now);
        return rc < 0 ? rc : 0;
    }
    return -HC_EUNSUPPORTED;
}

/* A keyframe's last packet with nothing sent after it: its loss shows
 * at the receiver only when the next frame comes, seconds later for a
 * consult's stills. Resend it once, unasked, 1.5 RTTs later (at least
 * TAIL_PROBE_MIN_US) unless the stream has sent a packet since; a lost
 * tail then shows as a gap and the rest is NACKed. At 30 fps the next
 * frame always comes first and nothing is resent. */
#define TAIL_PROBE_MIN_US 50000u
static void arm_tail_probe(hc_edge_media_t *m, media_pub_t *p, const hc_sender_out_t *o,
                           uint16_t seq, uint64_t now)
{
    p->tail_armed =
        p->kind == HC_EDGE_VIDEO && o->marker && o->keyframe && p->rtx_ssrc && m->cfg.repair;
    if (!p->tail_armed) return;
    uint64_t wait = (uint64_t)m->rtt_us * 3 / 2;
    p->tail_seq = seq;
    p->tail_due_us = now + (wait > TAIL_PROBE_MIN_US ? wait : TAIL_PROBE_MIN_US);
}

/* Fire the tail probes that are due; the earliest one still waiting. */
static uint64_t run_tail_probes(hc_edge_media_t *m, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < m->npub; i++) {
        media_pub_t *p = m->pub[i];
        if (!p->tail_armed || !p->eps) continue;
        if (now < p->tail_due_us) {
            if (p->tail_due_us < next) next = p->tail_due_us;
            continue;
        }
        p->tail_armed = false;
        (void)hc_endpoint_resend(m->ep, p->eps, p->tail_seq, now);
    }
    return next;
}

static int io_send(void *ud, const hc_sender_out_t *o, uint64_t now, int32_t *twcc, uint32_t *wire)
{
    hc_edge_media_t *m = ud;
    if (!m->ep) return -HC_EINVAL;
    if (o->padding) return io_padding(m, o, now, twcc, wire);
    if (o->stream < 0 || o->stream >= m->npub) return -HC_EINVAL;
    media_pub_t *p = m->pub[o->stream];
    if (!p->eps) return -HC_EINVAL;
    /* The endpoint says which transport-wide number the packet took and
     * what it weighs on the wire. */
    hc_ep_send_opts_t so = {.capture_wall_us = o->capture_wall_us,
                            .has_audio_level = o->has_level,
                            .voice = o->voice,
                            .audio_level = o->level,
                            .twcc_out = twcc,
                            .wire_out = wire};
    int rc;
    uint8_t pt = p->kind == HC_EDGE_VIDEO ? HC_EP_PT_H264 : HC_EP_PT_OPUS;
    if (o->pt == pt) {
        rc = hc_endpoint_send(m->ep, p->eps, o->payload, o->len, o->ts, o->marker, &so, now);
    } else {
        /* Another payload type on the stream (RED, RFC 2198): a whole packet
         * with the stream's next sequence number. */
        uint8_t pkt[HC_SENDER_MAX_PAYLOAD + 16];
        hc_rtp_hdr_t h;
        memset(&h, 0, sizeof h);
        h.pt = o->pt;
        h.marker = o->marker;
        h.seq = p->next_seq;
        h.ts = o->ts;
        h.ssrc = p->ssrc;
        int n = hc_rtp_write(&h, o->payload, o->len, pkt, sizeof pkt);
        rc = n < 0 ? n : hc_endpoint_send_rtp(m->ep, p->eps, pkt, (size_t)n, &so, now);
    }
    if (rc < 0) return rc;
    p->next_seq = (uint16_t)(rc + 1);
    arm_tail_probe(m, p, o, (uint16_t)rc, now);
    return 0;
}

/* ---- endpoint events (loop thread) ---- */

static void ev_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    (void)ud;
    media_recv_t *r = hc_ep_track_owner(t);
    if (r && r->r) hc_receiver_rtp(r->r, rx, rx->rx_us);
}

static void ev_keyframe(void *ud, hc_ep_stream_t *s, bool fir)
{
    (void)fir;
    hc_edge_media_t *m = ud;
    media_pub_t *p = hc_ep_stream_owner(s);
    if (p && m->sender) hc_sender_want_keyframe(m->sender, p->idx);
}

static void ev_rtcp(void *ud, const uint8_t *rtcp, size_t len)
{
    hc_edge_media_t *m = ud;
    if (m->sender) hc_sender_on_rtcp(m->sender, rtcp, len, hc_loop_now_us(m->loop));
}

/* An RTX the endpoint sent on its own, answering a NACK: the estimator
 * counts it (FlexFEC carries no transport-wide number). */
static void ev_sent(void *ud, hc_ep_stream_t *s, const hc_ep_sent_t *info)
{
    (void)s;
    hc_edge_media_t *m = ud;
    if (m->sender && info->twcc >= 0)
        hc_sender_note_sent(m->sender, (uint16_t)info->twcc, info->wire, false,
                            hc_loop_now_us(m->loop));
}

/* ---- the endpoint ---- */

static int add_stream(hc_edge_media_t *m, media_pub_t *p)
{
    bool video = p->kind == HC_EDGE_VIDEO;
    uint16_t first = (uint16_t)(hc_now_us() * 2654435761u >> 7);
    hc_ep_stream_cfg_t c = {.ssrc = p->ssrc,
                            /* Audio repairs with RED and Opus FEC, not RTX
                             * (repair.h); and an RTX of a RED packet would come
                             * back with the Opus payload type. */
                            .rtx_ssrc = video && m->cfg.repair ? p->rtx_ssrc : 0,
                            .pt = video ? HC_EP_PT_H264 : HC_EP_PT_OPUS,
                            .rtx_pt = video ? HC_EP_PT_H264_RTX : HC_EP_PT_OPUS_RTX,
                            .clock_rate = video ? 90000 : 48000,
                            .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC |
                                   (video ? 0 : HC_EP_EXT_AUDIO_LEVEL),
                            .history = video ? 1024 : 64,
                            .first_seq = first,
                            .owner = p,
                            .fec_ssrc = video && m->cfg.repair ? p->fec_ssrc : 0};
    p->next_seq = first;
    p->fec_k_applied = 0;
    return hc_endpoint_stream_add(m->ep, &c, &p->eps);
}

static int add_track(hc_edge_media_t *m, media_recv_t *r)
{
    bool video = r->cfg.kind == HC_EDGE_VIDEO;
    hc_ep_track_cfg_t c = {.ssrc = r->cfg.ssrc,
                           .rtx_ssrc = m->cfg.repair ? r->cfg.rtx_ssrc : 0,
                           .clock_rate = video ? 90000 : 48000,
                           .window = video ? 1024 : 256,
                           .reorder_ms = 0,
                           .nack = video && m->cfg.repair && r->cfg.rtx_ssrc,
                           .owner = r,
                           .fec_ssrc = video && m->cfg.repair ? r->cfg.fec_ssrc : 0,
                           /* the receiver's jitter buffer times the NACKs */
                           .nack_by_caller = true};
    return hc_endpoint_track_add(m->ep, &c, &r->t);
}

static int make_endpoint(hc_edge_media_t *m, const hc_edge_leg_t *leg)
{
    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    c.suite = leg->suite;
    memcpy(c.key_up, leg->key_up, sizeof c.key_up);
    memcpy(c.key_down, leg->key_down, sizeof c.key_down);
    c.rtcp_ssrc = leg->rtcp_ssrc;
    c.remote = leg->relay;
    /* Retransmissions later than the playout budget are of no use. */
    c.nack_max_age_ms = m->cfg.playout_budget_ms ? m->cfg.playout_budget_ms : 300;
    c.rtx_max_age_ms = 2000; /* stills at a thin rate take a while */
    c.max_streams = MEDIA_MAX_PUB;
    c.max_tracks = MEDIA_MAX_RECV;
    c.pool_packets = 1024;
    snprintf(c.cname, sizeof c.cname, "hc-edge");
    c.ev.ud = m;
    c.ev.rtp = ev_rtp;
    c.ev.keyframe = ev_keyframe;
    c.ev.rtcp = ev_rtcp;
    c.ev.sent = ev_sent;
    return hc_endpoint_new(&m->ep, &c);
}

/* ---- the loop's work ---- */

static void timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)loop;
    (void)t;
    (void)ud; /* the after-batch hook does the work */
}

static void media_run(hc_loop_t *loop, void *ud)
{
    hc_edge_media_t *m = ud;
    uint64_t now = hc_loop_now_us(loop);
    if (!m->ep || !m->sender) return;
    if (now >= m->last_rtt_us + STATS_RTT_US) {
        m->last_rtt_us = now;
        hc_endpoint_stats_t es;
        hc_endpoint_stats(m->ep, &es);
        uint32_t rtt = (uint32_t)(es.rtt_ms * 1000.0);
        m->rtt_us = rtt;
        hc_sender_set_rtt(m->sender, rtt);
        for (int i = 0; i < MEDIA_MAX_RECV; i++)
            if (m->recv[i].used) hc_receiver_on_rtt(m->recv[i].r, rtt);
    }
    uint64_t next = hc_sender_poll(m->sender, now);
    uint64_t tail = run_tail_probes(m, now);
    if (tail < next) next = tail;
    hc_sender_stats_t ss;
    hc_sender_stats(m->sender, &ss, now);
    atomic_store(&m->outage, !ss.link_up && ss.rtcp > 0);
    /* Retransmissions within half the estimate: a burst of NACKs after a
     * capacity drop must not keep the uplink over the new capacity. */
    if (m->cfg.repair)
        hc_endpoint_set_rtx_rate(m->ep, ss.target_bps / 2 > 64000 ? ss.target_bps / 2 : 64000);
    for (int i = 0; i < m->npub; i++) {
        media_pub_t *p = m->pub[i];
        hc_sender_target_t t;
        hc_sender_target(m->sender, p->idx, &t);
        if (p->eps && p->fec_ssrc && m->cfg.repair && t.fec_k != p->fec_k_applied) {
            if (hc_endpoint_stream_fec(p->eps, t.fec_k) == 0) p->fec_k_applied = t.fec_k;
        }
        media_pub_set_target(p, &t);
    }
    for (int i = 0; i < MEDIA_MAX_RECV; i++) {
        media_recv_t *r = &m->recv[i];
        if (!r->used) continue;
        uint64_t n = hc_receiver_poll(r->r, now);
        if (n < next) next = n;
        if (hc_receiver_want_pli(r->r, now)) hc_endpoint_request_keyframe(m->ep, r->t, now);
    }
    if (next <= now) next = now + 1000;
    if (next > now + RUN_MAX_US) next = now + RUN_MAX_US;
    hc_timer_start(loop, &m->timer, next, timer_fn, m);
}

static void *loop_main(void *arg)
{
    hc_edge_media_t *m = arg;
    hc_loop_run(m->loop);
    return NULL;
}

/* ---- local recording ---- */

/* The recorder wants a keyframe of its stream (any thread): the stream's
 * encoder takes the flag with its next picture. */
static void rec_want_key(void *ud, int stream)
{
    hc_edge_media_t *m = ud;
    if (stream < 0 || stream >= HC_RECORD_MAX_STREAMS) return;
    pthread_mutex_lock(&m->rec_mu);
    media_pub_t *p = m->rec_pub[stream];
    if (p) atomic_store(&p->rec_key, true);
    pthread_mutex_unlock(&m->rec_mu);
}

static void rec_add(hc_edge_media_t *m, media_pub_t *p)
{
    p->rec_idx = -1;
    /* The recording keeps the best picture: a simulcast top, not its layers. */
    if (!m->rec || p->layer) return;
    int idx = hc_record_add_stream(m->rec, p->kind == HC_EDGE_VIDEO);
    if (idx < 0) return;
    pthread_mutex_lock(&m->rec_mu);
    m->rec_pub[idx] = p;
    pthread_mutex_unlock(&m->rec_mu);
    p->rec_idx = idx;
}

/* ---- API ---- */

int hc_edge_media_new(hc_edge_media_t **out, const hc_edge_media_cfg_t *cfg, char *err,
                      size_t errcap)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (err && errcap) err[0] = '\0';
    hc_edge_media_t *m = calloc(1, sizeof *m);
    if (!m) return -HC_ENOMEM;
    m->cfg = *cfg;
    if (!m->cfg.playout_budget_ms) m->cfg.playout_budget_ms = 300;
    if (!m->cfg.jitter_max_ms || m->cfg.jitter_max_ms > m->cfg.playout_budget_ms)
        m->cfg.jitter_max_ms = m->cfg.playout_budget_ms;
    if (m->cfg.jitter_min_ms > m->cfg.jitter_max_ms) m->cfg.jitter_min_ms = m->cfg.jitter_max_ms;
    snprintf(m->video_sink, sizeof m->video_sink, "%s",
             cfg->video_sink ? cfg->video_sink : "headless");
    snprintf(m->audio_sink, sizeof m->audio_sink, "%s",
             cfg->audio_sink ? cfg->audio_sink : "headless");
    m->cfg.video_sink = m->video_sink;
    m->cfg.audio_sink = m->audio_sink;
    pthread_mutex_init(&m->call_mu, NULL);
    pthread_mutex_init(&m->rec_mu, NULL);
    pthread_cond_init(&m->call_cv, NULL);
    atomic_init(&m->paused, false);
    atomic_init(&m->outage, false);
    av_log_set_level(AV_LOG_ERROR);
    int rc = hc_loop_new(&m->loop);
    if (rc < 0) {
        if (err && errcap) snprintf(err, errcap, "media loop: %s", hc_strerror(rc));
        goto fail;
    }
    rc = make_endpoint(m, &cfg->leg);
    if (rc < 0) {
        if (err && errcap) snprintf(err, errcap, "media endpoint: %s", hc_strerror(rc));
        goto fail;
    }
    hc_sender_cfg_t sc;
    hc_sender_cfg_default(&sc);
    sc.profile = cfg->profile;
    if (cfg->min_kbps) sc.min_bps = cfg->min_kbps * 1000u;
    if (cfg->max_kbps) sc.max_bps = cfg->max_kbps * 1000u;
    if (cfg->start_kbps) sc.start_bps = cfg->start_kbps * 1000u;
    if (sc.min_bps > sc.max_bps) sc.min_bps = sc.max_bps;
    if (sc.start_bps < sc.min_bps) sc.start_bps = sc.min_bps;
    if (sc.start_bps > sc.max_bps) sc.start_bps = sc.max_bps;
    sc.budget_bps = cfg->budget_kbps * 1000u;
    sc.playout_budget_ms = m->cfg.playout_budget_ms;
    sc.repair = cfg->repair;
    sc.io.send = io_send;
    sc.io.ud = m;
    rc = hc_sender_new(&m->sender, &sc, hc_now_us());
    if (rc < 0) {
        if (err && errcap) snprintf(err, errcap, "sender: %s", hc_strerror(rc));
        goto fail;
    }
    rc = hc_playback_new(&m->pb, m->video_sink, m->audio_sink, err, errcap);
    if (rc < 0) goto fail;
    if (cfg->record_dir && cfg->record_dir[0]) {
        hc_record_cfg_t rc_cfg;
        hc_record_cfg_default(&rc_cfg);
        rc_cfg.dir = cfg->record_dir;
        rc_cfg.name = cfg->record_name;
        rc_cfg.want_keyframe = rec_want_key;
        rc_cfg.ud = m;
        rc = hc_record_new(&m->rec, &rc_cfg, err, errcap);
        if (rc < 0) goto fail;
    }
    m->cfg.record_dir = NULL; /* the caller's strings are not kept */
    m->cfg.record_name = NULL;
    *out = m;
    return 0;
fail:
    hc_edge_media_destroy(&m);
    return rc;
}

static void recv_stop(hc_edge_media_t *m, media_recv_t *r)
{
    if (!r->used) return;
    if (r->t && m->ep) hc_endpoint_track_remove(m->ep, r->t);
    r->t = NULL;
    hc_receiver_destroy(&r->r);
    if (r->pbs) hc_playback_remove(m->pb, r->pbs);
    r->pbs = NULL;
    r->used = false;
}

void hc_edge_media_destroy(hc_edge_media_t **pm)
{
    if (!pm || !*pm) return;
    hc_edge_media_t *m = *pm;
    /* Sources and encoders first: nothing is posted after this. */
    for (int i = 0; i < m->npub; i++) media_pub_stop(m->pub[i]);
    if (m->loop_running) {
        hc_loop_stop(m->loop);
        pthread_join(m->loop_th, NULL);
        m->loop_running = false;
    }
    if (m->ep) hc_endpoint_detach(m->ep);
    hc_loop_hook_remove(&m->hook);
    hc_timer_stop(&m->timer);
    hc_loop_destroy(&m->loop); /* runs (and frees) frames still posted */
    /* The recording ends with what the encoders made; its writer may ask
     * our streams for keyframes until it stops. */
    hc_record_destroy(&m->rec);
    for (int i = 0; i < m->npub; i++) media_pub_destroy(&m->pub[i]);
    for (int i = 0; i < MEDIA_MAX_RECV; i++) recv_stop(m, &m->recv[i]);
    hc_sender_destroy(&m->sender);
    hc_endpoint_destroy(&m->ep);
    hc_playback_destroy(&m->pb);
    pthread_mutex_destroy(&m->call_mu);
    pthread_cond_destroy(&m->call_cv);
    pthread_mutex_destroy(&m->rec_mu);
    free(m);
    *pm = NULL;
}

typedef struct pub_call {
    const hc_edge_pub_cfg_t *cfg;
    media_pub_t *p;
    int rc;
} pub_call_t;

static void publish_fn(hc_edge_media_t *m, void *arg)
{
    pub_call_t *c = arg;
    media_pub_t *p = c->p;
    hc_sender_stream_cfg_t sc = {.video = p->kind == HC_EDGE_VIDEO,
                                 .role = p->role,
                                 .ssrc = p->ssrc,
                                 .pt = sc.video ? HC_EP_PT_H264 : HC_EP_PT_OPUS,
                                 .width = p->width,
                                 .height = p->height,
                                 .fps = p->fps,
                                 .max_bps = p->max_kbps * 1000u,
                                 .layer = p->layer,
                                 .top = p->top ? p->top->idx : 0};
    int idx = hc_sender_add(m->sender, &sc);
    if (idx < 0) {
        c->rc = idx;
        return;
    }
    p->idx = idx;
    c->rc = add_stream(m, p);
    if (c->rc < 0) return;
    hc_sender_target_t t;
    hc_sender_target(m->sender, idx, &t);
    media_pub_set_target(p, &t);
    m->pub[m->npub++] = p;
}

int hc_edge_media_publish(hc_edge_media_t *m, const hc_edge_pub_cfg_t *cfg, char *err,
                          size_t errcap)
{
    if (!m || !cfg || (cfg->kind != HC_EDGE_AUDIO && cfg->kind != HC_EDGE_VIDEO)) return -HC_EINVAL;
    if (err && errcap) err[0] = '\0';
    if (m->npub >= MEDIA_MAX_PUB) {
        if (err && errcap) snprintf(err, errcap, "too many published streams");
        return -HC_EFULL;
    }
    media_pub_t *p, *top = NULL;
    hc_edge_pub_cfg_t lc;
    if (cfg->layer) {
        /* A simulcast layer: the top's pictures, at its size and rate. */
        for (int i = 0; i < m->npub && cfg->layer_of; i++)
            if (!strcmp(m->pub[i]->mid, cfg->layer_of) && m->pub[i]->kind == HC_EDGE_VIDEO &&
                !m->pub[i]->layer)
                top = m->pub[i];
        if (!top || cfg->kind != HC_EDGE_VIDEO || cfg->layer < 0 || cfg->layer > 3 ||
            top->nlower >= 3) {
            if (err && errcap)
                snprintf(err, errcap, "%s: layer %d of \"%s\": no such video stream published",
                         cfg->mid ? cfg->mid : "", cfg->layer, cfg->layer_of ? cfg->layer_of : "");
            return -HC_ENOTFOUND;
        }
        lc = *cfg;
        lc.pipeline = NULL;
        lc.role = top->role;
        if (lc.width <= 0 || lc.height <= 0) {
            lc.width = (top->width >> cfg->layer) & ~1;
            lc.height = (top->height >> cfg->layer) & ~1;
        }
        if (lc.fps <= 0) lc.fps = top->fps;
        if (!lc.max_kbps) lc.max_kbps = cfg->layer == 1 ? 300 : 120;
        cfg = &lc;
    }
    int rc = media_pub_new(m, cfg, &p, err, errcap);
    if (rc < 0) return rc;
    if (top) {
        p->layer = cfg->layer;
        p->top = top;
        p->stamp = top->stamp;
    }
    pub_call_t c = {.cfg = cfg, .p = p};
    media_call(m, publish_fn, &c);
    if (c.rc < 0) {
        if (err && errcap) snprintf(err, errcap, "%s: %s", p->mid, hc_strerror(c.rc));
        media_pub_destroy(&p);
        return c.rc;
    }
    if (top) {
        pthread_mutex_lock(&top->mu);
        top->lower[top->nlower++] = p;
        pthread_mutex_unlock(&top->mu);
    }
    rec_add(m, p);
    if (m->started) {
        rc = media_pub_start(p, err, errcap);
        if (rc < 0) return rc;
    }
    return 0;
}

typedef struct recv_call {
    const hc_edge_recv_cfg_t *r;
    size_t n;
    int rc;
} recv_call_t;

/* The receivers' decoder threads push straight into playback. */
static void sink_video(void *ud, const uint8_t *const plane[3], const int stride[3], int w, int h,
                       uint64_t pts_us)
{
    (void)hc_playback_video(ud, plane, stride, w, h, pts_us);
}

static void sink_audio(void *ud, const int16_t *pcm, int samples, uint64_t pts_us)
{
    (void)hc_playback_audio(ud, pcm, samples, pts_us);
}

/* The jitter buffer's NACKs (loop thread, inside hc_receiver_poll()). */
static void recv_nack(void *ud, const uint16_t *seqs, size_t n, uint64_t now_us)
{
    media_recv_t *r = ud;
    if (r->t && r->m->ep) (void)hc_endpoint_send_nack(r->m->ep, r->t, seqs, n, now_us);
}

static int recv_start(hc_edge_media_t *m, media_recv_t *r, const hc_edge_recv_cfg_t *cfg)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->cfg = *cfg;
    snprintf(r->mid, sizeof r->mid, "%s", cfg->mid ? cfg->mid : "");
    snprintf(r->label, sizeof r->label, "%s", cfg->label ? cfg->label : "");
    r->cfg.mid = r->mid;
    r->cfg.label = r->label;
    bool video = cfg->kind == HC_EDGE_VIDEO;
    int rc = video ? hc_playback_add_video(m->pb, r->label, &r->pbs)
                   : hc_playback_add_audio(m->pb, r->label, 1, &r->pbs);
    if (rc < 0) return rc;
    hc_receiver_cfg_t rc_cfg;
    hc_receiver_cfg_default(&rc_cfg, video);
    rc_cfg.min_delay_ms = m->cfg.jitter_min_ms;
    rc_cfg.max_delay_ms = m->cfg.jitter_max_ms;
    rc_cfg.nack = video && m->cfg.repair && cfg->rtx_ssrc;
    rc_cfg.sink.ud = r->pbs;
    rc_cfg.sink.video = sink_video;
    rc_cfg.sink.audio = sink_audio;
    rc_cfg.on_nack = recv_nack;
    rc_cfg.nack_ud = r;
    rc = hc_receiver_new(&r->r, &rc_cfg);
    if (rc < 0) {
        hc_playback_remove(m->pb, r->pbs);
        r->pbs = NULL;
        return rc;
    }
    r->used = true;
    rc = add_track(m, r);
    if (rc < 0) {
        recv_stop(m, r);
        return rc;
    }
    return 0;
}

static void receive_fn(hc_edge_media_t *m, void *arg)
{
    recv_call_t *c = arg;
    /* Tracks no longer in the set stop. */
    for (int i = 0; i < MEDIA_MAX_RECV; i++) {
        media_recv_t *r = &m->recv[i];
        if (!r->used) continue;
        bool keep = false;
        for (size_t k = 0; k < c->n; k++)
            if (c->r[k].ssrc == r->cfg.ssrc) keep = true;
        if (!keep) recv_stop(m, r);
    }
    /* New ones start; known ones keep their state (labels follow). */
    for (size_t k = 0; k < c->n; k++) {
        media_recv_t *r = NULL, *free_slot = NULL;
        for (int i = 0; i < MEDIA_MAX_RECV; i++) {
            if (m->recv[i].used && m->recv[i].cfg.ssrc == c->r[k].ssrc) r = &m->recv[i];
            if (!m->recv[i].used && !free_slot) free_slot = &m->recv[i];
        }
        if (r) {
            snprintf(r->label, sizeof r->label, "%s", c->r[k].label ? c->r[k].label : "");
            continue;
        }
        if (!free_slot) {
            c->rc = -HC_EFULL;
            continue;
        }
        int rc = recv_start(m, free_slot, &c->r[k]);
        if (rc < 0) c->rc = rc;
    }
}

int hc_edge_media_receive(hc_edge_media_t *m, const hc_edge_recv_cfg_t *r, size_t n)
{
    if (!m || (!r && n)) return -HC_EINVAL;
    recv_call_t c = {.r = r, .n = n};
    media_call(m, receive_fn, &c);
    return c.rc;
}

int hc_edge_media_start(hc_edge_media_t *m)
{
    if (!m) return -HC_EINVAL;
    if (m->started) return 0;
    uint64_t now = hc_now_us();
    /* The hook before the endpoint's flush hook, so what it sends leaves in
     * the same iteration. */
    hc_loop_hook_add(m->loop, &m->hook, media_run, m);
    int rc = hc_endpoint_attach(m->ep, m->loop);
    if (rc < 0) return rc;
    hc_endpoint_start(m->ep, now);
    hc_timer_start(m->loop, &m->timer, now + 1000, timer_fn, m);
    if (pthread_create(&m->loop_th, NULL, loop_main, m) != 0) return -HC_ENOMEM;
    m->loop_running = true;
    m->started = true;
    for (int i = 0; i < m->npub; i++) {
        rc = media_pub_start(m->pub[i], NULL, 0);
        if (rc < 0) return rc;
    }
    return 0;
}

static void budget_fn(hc_edge_media_t *m, void *arg)
{
    hc_sender_set_budget(m->sender, *(uint32_t *)arg);
}

void hc_edge_media_set_budget(hc_edge_media_t *m, uint32_t kbps)
{
    if (!m) return;
    uint32_t bps = kbps * 1000u;
    m->cfg.budget_kbps = kbps;
    media_call(m, budget_fn, &bps);
}

typedef struct rekey_call {
    const hc_edge_leg_t *leg;
    const uint32_t *ssrcs, *rtx, *fec;
    size_t n;
    int rc;
} rekey_call_t;

static void rekey_fn(hc_edge_media_t *m, void *arg)
{
    rekey_call_t *c = arg;
    hc_endpoint_t *old = m->ep;
    m->ep = NULL;
    int rc = make_endpoint(m, c->leg);
    if (rc < 0) {
        m->ep = old;
        c->rc = rc;
        return;
    }
    if (old) {
        hc_endpoint_detach(old);
        hc_endpoint_destroy(&old);
    }
    m->cfg.leg = *c->leg;
    for (int i = 0; i < m->npub; i++) {
        media_pub_t *p = m->pub[i];
        if ((size_t)i < c->n) {
            p->ssrc = c->ssrcs[i];
            p->rtx_ssrc = c->rtx ? c->rtx[i] : 0;
            p->fec_ssrc = c->fec ? c->fec[i] : 0;
        }
        p->eps = NULL;
        if (add_stream(m, p) < 0) c->rc = -HC_EINVAL;
        hc_sender_set_ssrc(m->sender, p->idx, p->ssrc);
    }
    for (int i = 0; i < MEDIA_MAX_RECV; i++) {
        media_recv_t *r = &m->recv[i];
        if (!r->used) continue;
        r->t = NULL;
        if (add_track(m, r) < 0) recv_stop(m, r);
    }
    /* A new leg numbers transport-wide from 0 again: the estimator starts
     * over at its current rate; the next pictures are keyframes. */
    uint64_t now = m->loop_running ? hc_loop_now_us(m->loop) : hc_now_us();
    hc_sender_flush(m->sender, true, now);
    if (m->started) {
        if (hc_endpoint_attach(m->ep, m->loop) < 0) c->rc = -HC_EIO;
        hc_endpoint_start(m->ep, now);
    }
}

int hc_edge_media_rekey(hc_edge_media_t *m, const hc_edge_leg_t *leg, const uint32_t *ssrcs,
                        const uint32_t *rtx_ssrcs, const uint32_t *fec_ssrcs, size_t n)
{
    if (!m || !leg || (n && !ssrcs)) return -HC_EINVAL;
    rekey_call_t c = {.leg = leg, .ssrcs = ssrcs, .rtx = rtx_ssrcs, .fec = fec_ssrcs, .n = n};
    media_call(m, rekey_fn, &c);
    return c.rc;
}

static void pause_fn(hc_edge_media_t *m, void *arg)
{
    (void)arg;
    uint64_t now = m->loop_running ? hc_loop_now_us(m->loop) : hc_now_us();
    /* Paused or resumed: what was queued is stale either way, and the
     * pictures after a resume start with keyframes. */
    hc_sender_flush(m->sender, false, now);
}

void hc_edge_media_pause(hc_edge_media_t *m, bool paused)
{
    if (!m) return;
    if (atomic_exchange(&m->paused, paused) == paused) return;
    media_call(m, pause_fn, &paused);
}

/* ---- statistics (on the loop) ---- */

typedef struct stats_call {
    hc_edge_stats_t *out;
} stats_call_t;

static void stats_fn(hc_edge_media_t *m, void *arg)
{
    hc_edge_stats_t *o = ((stats_call_t *)arg)->out;
    memset(o, 0, sizeof *o);
    uint64_t now = m->loop_running ? hc_loop_now_us(m->loop) : hc_now_us();
    double dt = m->last_stats_us && now > m->last_stats_us ? (now - m->last_stats_us) / 1e6 : 0;
    m->last_stats_us = now;
    hc_sender_stats_t ss;
    hc_sender_stats(m->sender, &ss, now);
    o->estimate_bps = ss.target_bps;
    o->budget_bps = m->cfg.budget_kbps * 1000u;
    o->uplink_loss = ss.bwe.feedbacks ? ss.bwe.loss : ss.rr_loss;
    o->link_up = ss.link_up;
    hc_endpoint_stats_t es;
    hc_endpoint_stats(m->ep, &es);
    o->rtt_ms = es.rtt_ms;
    for (int i = 0; i < m->npub && o->n_pub < 8; i++) {
        media_pub_t *p = m->pub[i];
        hc_edge_pub_stats_t *ps = &o->pub[o->n_pub++];
        snprintf(ps->mid, sizeof ps->mid, "%s", p->mid);
        hc_sender_target_t t;
        hc_sender_target(m->sender, p->idx, &t);
        hc_sender_stream_stats_t st;
        hc_sender_stream_stats(m->sender, p->idx, &st);
        ps->target_bps = t.bitrate_bps;
        if (dt > 0) ps->sent_bps = (uint32_t)((st.sent_bytes - p->prev_st.sent_bytes) * 8 / dt);
        p->prev_st = st;
        ps->width = p->kind == HC_EDGE_VIDEO ? t.width : 0;
        ps->height = p->kind == HC_EDGE_VIDEO ? t.height : 0;
        ps->fps = p->kind == HC_EDGE_VIDEO ? t.fps : 50;
        ps->stills = t.stills;
        ps->stopped = t.off;
        ps->layer = p->layer;
        ps->stops = st.stops;
        ps->frames = st.frames;
        ps->keyframes = st.keyframes;
        if (p->eps) {
            hc_ep_stream_stats_t e;
            hc_ep_stream_stats(p->eps, &e);
            ps->plis = e.plis_rx + e.firs_rx;
            ps->nacks = e.nacks_rx;
            ps->rtx = e.rtx_sent;
            ps->fec_packets = e.fec_sent;
        }
    }
    for (int i = 0; i < MEDIA_MAX_RECV && o->n_recv < 24; i++) {
        media_recv_t *r = &m->recv[i];
        if (!r->used) continue;
        hc_edge_recv_stats_t *rs = &o->recv[o->n_recv++];
        snprintf(rs->mid, sizeof rs->mid, "%s", r->mid);
        snprintf(rs->label, sizeof rs->label, "%s", r->label);
        hc_receiver_stats_t st;
        hc_receiver_stats(r->r, &st);
        hc_ep_track_stats_t ts;
        hc_ep_track_stats(r->t, &ts);
        rs->width = st.width;
        rs->height = st.height;
        if (dt > 0) rs->bitrate_bps = (uint32_t)((ts.bytes - r->prev_ts.bytes) * 8 / dt);
        uint64_t exp = ts.expected - r->prev_ts.expected;
        if (exp > 0 && ts.expected >= r->prev_ts.expected) {
            rs->loss_before = (double)(ts.missing - r->prev_ts.missing) / (double)exp;
            rs->loss_after = (double)(ts.lost - r->prev_ts.lost) / (double)exp;
            if (rs->loss_before < 0) rs->loss_before = 0;
            if (rs->loss_after < 0) rs->loss_after = 0;
        }
        r->prev_ts = ts;
        r->prev_rs = st;
        rs->frames_on_time = st.jb.frames_on_time;
        rs->frames_late = st.jb.frames_late;
        rs->frames_lost = st.jb.frames_lost;
        rs->freezes = st.jb.freezes;
        rs->audio_concealed = st.concealed;
        rs->delay_ms = st.delay_p50_ms;
        rs->jitter_buffer_ms = st.jb.delay_us / 1000.0;
        hc_pb_stats_t pbs;
        hc_pb_stats(r->pbs, &pbs);
        rs->stamp_ok = pbs.stamp_ok;
        rs->stamp_bad = pbs.stamp_backwards;
    }
}

void hc_edge_media_stats(hc_edge_media_t *m, hc_edge_stats_t *out)
{
    if (!m || !out) return;
    stats_call_t c = {.out = out};
    media_call(m, stats_fn, &c);
}
