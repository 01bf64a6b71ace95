/*
 * sessions.c - the session registry, message dispatch, threading, join and
 * leave (see session_int.h for the design; the media wiring every session
 * kind shares is in session_media.c).
 *
 * Resume (documented here because welcome.resume depends on it): when a
 * participant's connection drops it is kept for leave_grace_ms with its leg
 * still forwarding. A `join` to the same session from a connection whose
 * token has the same role and subject (`sub`) and whose site name matches
 * resumes it: same participant id, same hand and floor, same SSRCs for
 * the streams it publishes again under the same mid and for the tracks it
 * receives, but fresh SRTP keys and a new leg (a restarted edge must not
 * reuse a key with sequence numbers it already used: RFC 7714 section 8
 * nonce reuse, and the relay's replay window would drop its packets).
 */
#include "relay/session_int.h"

#include "proto/b64.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "relay/core/steer.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* configuration and life cycle                                        */

void hc_sessions_cfg_default(hc_sessions_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->keepalive_ms = 15000;
    cfg->max_sessions = 256;
    cfg->max_participants = 200;
    cfg->control_deadline_ms = 300;
    cfg->conference_last_n = 4;
    cfg->conference_audio_k = 3;
    cfg->leave_grace_ms = 30000;
    cfg->default_suite = HC_SRTP_AEAD_AES_128_GCM;
}

int hc_sessions_new(hc_sessions_t **out, const hc_sessions_cfg_t *cfg)
{
    if (!out || !cfg || cfg->max_sessions == 0 || cfg->max_participants == 0 ||
        cfg->max_participants > 1000 || cfg->conference_audio_k == 0 ||
        cfg->conference_audio_k > HC_SPEAKERS_MAX_SLOTS ||
        cfg->conference_last_n > HC_SPEAKERS_MAX_SLOTS || hc_srtp_key_len(cfg->default_suite) == 0)
        return -HC_EINVAL;
    *out = NULL;
    hc_sessions_t *ss = calloc(1, sizeof(*ss));
    if (!ss) return -HC_ENOMEM;
    ss->cfg = *cfg;
    ss->cfg.media_host[sizeof(ss->cfg.media_host) - 1] = 0;
    ss->budgets = calloc(HC_SESS_BUDGETS_MAX, sizeof(*ss->budgets));
    if (!ss->budgets) {
        free(ss);
        return -HC_ENOMEM;
    }
    pthread_mutex_init(&ss->mu, NULL);
    pthread_cond_init(&ss->cv, NULL);
    *out = ss;
    return 0;
}

void hc_sessions_set_sender(hc_sessions_t *ss, const hc_sessions_sender_t *snd)
{
    pthread_mutex_lock(&ss->mu);
    if (snd)
        ss->sender = *snd;
    else
        memset(&ss->sender, 0, sizeof(ss->sender));
    pthread_mutex_unlock(&ss->mu);
}

void hc_sessions_attach(hc_sessions_t *ss, hc_workers_t *ws, hc_sigserver_t *sig)
{
    pthread_mutex_lock(&ss->mu);
    ss->ws = ws;
    ss->sig = sig;
    free(ss->worker_parts);
    ss->worker_parts = (ws && ws->n) ? calloc(ws->n, sizeof(uint32_t)) : NULL;
    pthread_mutex_unlock(&ss->mu);
}

static void close_job(hc_sess_job_t *j)
{
    hc_sess_close(j->se, j->text[0] ? j->text : "closed");
}

void hc_sessions_destroy(hc_sessions_t **sp)
{
    if (!sp || !*sp) return;
    hc_sessions_t *ss = *sp;
    *sp = NULL;
    pthread_mutex_lock(&ss->mu);
    ss->closing = true;
    uint32_t n = 0;
    hc_sess_t **all = ss->n_sessions ? calloc(ss->n_sessions, sizeof(*all)) : NULL;
    for (hc_sess_t *se = ss->sessions; se && all; se = se->reg_next) {
        hc_sess_ref(se);
        all[n++] = se;
    }
    pthread_mutex_unlock(&ss->mu);
    for (uint32_t i = 0; i < n; i++)
        hc_sess_post(ss, all[i], close_job, 0, NULL, NULL, "relay shutting down");
    free(all);

    /* Every session is freed on its worker after its last job; wait for
     * that (bounded: a wedged worker must not hang the shutdown, and then
     * the registry is leaked rather than freed under a running job). */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&ss->mu);
    while (ss->live > 0)
        if (pthread_cond_timedwait(&ss->cv, &ss->mu, &until) != 0) break;
    bool leak = ss->live > 0;
    pthread_mutex_unlock(&ss->mu);
    if (leak) return;

    for (size_t b = 0; b < HC_SESS_CONN_BUCKETS; b++) {
        while (ss->conns[b]) {
            hc_conn_ent_t *e = ss->conns[b];
            ss->conns[b] = e->next;
            free(e);
        }
    }
    while (ss->resumes) {
        hc_resume_ent_t *e = ss->resumes;
        ss->resumes = e->next;
        free(e);
    }
    free(ss->budgets);
    free(ss->worker_parts);
    pthread_cond_destroy(&ss->cv);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

void hc_sessions_counters(hc_sessions_t *ss, hc_sessions_counters_t *out)
{
    pthread_mutex_lock(&ss->mu);
    *out = ss->ctr;
    out->sessions = ss->n_sessions;
    out->participants = out->legs = out->in_kbps = out->out_kbps = 0;
    for (hc_sess_t *se = ss->sessions; se; se = se->reg_next) {
        out->participants += se->reg_parts;
        out->legs += se->reg_parts;
        out->in_kbps += se->reg_in_kbps;
        out->out_kbps += se->reg_out_kbps;
    }
    pthread_mutex_unlock(&ss->mu);
}

/* ------------------------------------------------------------------ */
/* sessions: allocation and references                                 */

static void sess_free(hc_sess_t *se)
{
    hc_sessions_t *ss = se->ss;
    hc_ctlchan_destroy(&se->ctl);
    hc_speakers_destroy(&se->spk);
    free(se->hands);
    free(se);
    /* Last touch of ss: hc_sessions_destroy may free it right after. */
    pthread_mutex_lock(&ss->mu);
    ss->live--;
    pthread_cond_broadcast(&ss->cv);
    pthread_mutex_unlock(&ss->mu);
}

void hc_sess_ref(hc_sess_t *se)
{
    atomic_fetch_add(&se->refs, 1);
}

void hc_sess_unref(hc_sess_t *se)
{
    if (se && atomic_fetch_sub(&se->refs, 1) == 1) sess_free(se);
}

hc_router_t *hc_sess_router(hc_sess_t *se)
{
    return hc_worker_router(se->w);
}

uint64_t hc_sess_now_us(hc_sess_t *se)
{
    return hc_loop_now_us(hc_worker_loop(se->w));
}

int64_t hc_sess_wall_ms(void)
{
    return (int64_t)(hc_wall_us() / 1000u);
}

/* ------------------------------------------------------------------ */
/* sending                                                             */

void hc_sess_send(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *m)
{
    if (conn == 0 || !m) return;
    /* The sink is set before traffic starts, so reading it unlocked is a
     * read of a value that no longer changes. */
    if (ss->sender.send)
        ss->sender.send(ss->sender.ud, conn, m);
    else if (ss->sig)
        hc_sigserver_send(ss->sig, conn, m);
}

void hc_sess_close_conn(hc_sessions_t *ss, uint64_t conn, const char *reason)
{
    if (conn == 0) return;
    if (ss->sender.send) {
        if (ss->sender.close) ss->sender.close(ss->sender.ud, conn, reason);
    } else if (ss->sig) {
        hc_sigserver_close(ss->sig, conn, reason);
    }
}

hc_sig_msg_t *hc_sess_msg(hc_sig_type_t t)
{
    hc_sig_msg_t *m = malloc(sizeof(*m));
    if (m && hc_sig_msg_init(m, t) < 0) {
        free(m);
        m = NULL;
    }
    return m;
}

void hc_sess_msg_free(hc_sig_msg_t *m)
{
    if (!m) return;
    hc_sig_msg_fini(m);
    free(m);
}

void hc_sess_error(hc_sessions_t *ss, uint64_t conn, uint32_t id, int code, const char *fmt, ...)
{
    char reason[HC_SIG_REASON_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    hc_sig_msg_t *m = malloc(sizeof(*m));
    if (!m) return;
    if (hc_sig_error_init(m, id, code, reason) == 0) hc_sess_send(ss, conn, m);
    hc_sess_msg_free(m);
}

void hc_sess_ok(hc_sessions_t *ss, uint64_t conn, uint32_t id)
{
    if (conn == 0 || id == 0) return;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_OK);
    if (!m) return;
    m->ok.id = id;
    hc_sess_send(ss, conn, m);
    hc_sess_msg_free(m);
}

void hc_sess_broadcast(hc_sess_t *se, const hc_sig_msg_t *m, const hc_part_t *except)
{
    for (hc_part_t *p = se->head; p; p = p->next)
        if (p != except) hc_sess_send(se->ss, p->conn, m);
}

/* ------------------------------------------------------------------ */
/* registry                                                            */

static size_t conn_bucket(uint64_t conn)
{
    conn *= 0x9e3779b97f4a7c15ull;
    return (size_t)(conn >> 54) % HC_SESS_CONN_BUCKETS;
}

static hc_conn_ent_t *conn_find(hc_sessions_t *ss, uint64_t conn)
{
    for (hc_conn_ent_t *e = ss->conns[conn_bucket(conn)]; e; e = e->next)
        if (e->conn == conn) return e;
    return NULL;
}

static hc_sess_t *sess_find(hc_sessions_t *ss, const char *id)
{
    for (hc_sess_t *se = ss->sessions; se; se = se->reg_next)
        if (strcmp(se->id, id) == 0) return se;
    return NULL;
}

/* Unlink e from its bucket (ss->mu held) and free it. */
static void conn_unlink(hc_sessions_t *ss, hc_conn_ent_t *e)
{
    hc_conn_ent_t **pp = &ss->conns[conn_bucket(e->conn)];
    while (*pp && *pp != e) pp = &(*pp)->next;
    if (*pp) *pp = e->next;
    free(e);
}

void hc_reg_conn_set(hc_sessions_t *ss, uint64_t conn, hc_sess_t *se, uint32_t part,
                     const char *site)
{
    if (conn == 0) return;
    pthread_mutex_lock(&ss->mu);
    /* No entry: an on_close raced the join and took it; the close job
     * that follows finds the participant by its conn. */
    hc_conn_ent_t *e = conn_find(ss, conn);
    if (e && e->se == se) {
        e->part = part;
        snprintf(e->site, sizeof(e->site), "%s", site);
    }
    pthread_mutex_unlock(&ss->mu);
}

void hc_reg_conn_drop(hc_sessions_t *ss, uint64_t conn, hc_sess_t *se)
{
    if (conn == 0) return;
    pthread_mutex_lock(&ss->mu);
    hc_conn_ent_t *e = conn_find(ss, conn);
    if (e && e->se == se) conn_unlink(ss, e);
    pthread_mutex_unlock(&ss->mu);
}

static void resume_add(hc_sessions_t *ss, hc_sess_t *se, const hc_part_t *p)
{
    hc_resume_ent_t *e = calloc(1, sizeof(*e));
    if (!e) return; /* only welcome.resume is less helpful */
    e->se = se;
    e->part = p->num;
    e->role = p->role;
    snprintf(e->sub, sizeof(e->sub), "%s", p->sub);
    snprintf(e->site, sizeof(e->site), "%s", p->site);
    pthread_mutex_lock(&ss->mu);
    e->next = ss->resumes;
    ss->resumes = e;
    pthread_mutex_unlock(&ss->mu);
}

static void resume_drop(hc_sessions_t *ss, hc_sess_t *se, uint32_t part)
{
    pthread_mutex_lock(&ss->mu);
    for (hc_resume_ent_t **pp = &ss->resumes; *pp;) {
        hc_resume_ent_t *e = *pp;
        if (e->se == se && (part == 0 || e->part == part)) {
            *pp = e->next;
            free(e);
        } else {
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&ss->mu);
}

bool hc_sessions_resumable(hc_sessions_t *ss, const hc_token_claims_t *who)
{
    if (!ss || !who || !who->session[0]) return false;
    bool found = false;
    pthread_mutex_lock(&ss->mu);
    for (hc_resume_ent_t *e = ss->resumes; e && !found; e = e->next)
        found = e->role == who->role && strcmp(e->se->id, who->session) == 0 &&
                strcmp(e->sub, who->sub) == 0 && (!who->site[0] || strcmp(e->site, who->site) == 0);
    pthread_mutex_unlock(&ss->mu);
    return found;
}

void hc_reg_counts(hc_sess_t *se)
{
    uint32_t parts = 0, pubs = 0;
    for (hc_part_t *p = se->head; p; p = p->next) {
        parts++;
        if (p->n_pubs) pubs++;
    }
    hc_sessions_t *ss = se->ss;
    pthread_mutex_lock(&ss->mu);
    if (ss->worker_parts && ss->ws && se->widx < ss->ws->n)
        ss->worker_parts[se->widx] += parts - se->reg_parts;
    se->reg_parts = parts;
    se->reg_pubs = pubs;
    pthread_mutex_unlock(&ss->mu);
}

void hc_reg_count(hc_sessions_t *ss, uint64_t *field, uint64_t add)
{
    pthread_mutex_lock(&ss->mu);
    *field += add;
    pthread_mutex_unlock(&ss->mu);
}

bool hc_reg_budget(hc_sessions_t *ss, const char *site, uint32_t *kbps)
{
    bool found = false;
    pthread_mutex_lock(&ss->mu);
    for (uint32_t i = 0; i < ss->n_budgets && !found; i++) {
        if (strcmp(ss->budgets[i].site, site) == 0) {
            *kbps = ss->budgets[i].kbps;
            found = true;
        }
    }
    pthread_mutex_unlock(&ss->mu);
    return found;
}

/* ------------------------------------------------------------------ */
/* jobs                                                                */

static void run_job(hc_worker_t *w, void *ud)
{
    (void)w;
    hc_sess_job_t *j = ud;
    j->fn(j);
    hc_sess_msg_free(j->msg);
    hc_sess_unref(j->se);
    free(j);
}

int hc_sess_post(hc_sessions_t *ss, hc_sess_t *se, hc_sess_job_fn fn, uint64_t conn,
                 const hc_token_claims_t *who, hc_sig_msg_t *msg, const char *text)
{
    hc_sess_job_t *j = calloc(1, sizeof(*j));
    int rc = -HC_ENOMEM;
    if (j) {
        j->ss = ss;
        j->se = se;
        j->fn = fn;
        j->conn = conn;
        j->msg = msg;
        if (who) j->who = *who;
        if (text) snprintf(j->text, sizeof(j->text), "%s", text);
        rc = hc_worker_post(se->w, run_job, j);
        if (rc == 0) return 0;
    }
    if (msg) hc_sess_error(ss, conn, hc_sig_request_id(msg), rc, "relay busy, try again");
    hc_sess_msg_free(msg);
    hc_sess_unref(se);
    free(j);
    return rc;
}

/* ------------------------------------------------------------------ */
/* participants                                                        */

hc_part_t *hc_sess_find_num(hc_sess_t *se, uint32_t num)
{
    if (num == 0) return NULL;
    for (hc_part_t *p = se->head; p; p = p->next)
        if (p->num == num) return p;
    return NULL;
}

hc_part_t *hc_sess_find_id(hc_sess_t *se, const char *id)
{
    for (hc_part_t *p = se->head; p; p = p->next)
        if (strcmp(p->id, id) == 0) return p;
    return NULL;
}

hc_part_t *hc_sess_find_conn(hc_sess_t *se, uint64_t conn)
{
    if (conn == 0) return NULL;
    for (hc_part_t *p = se->head; p; p = p->next)
        if (p->conn == conn) return p;
    return NULL;
}

hc_spub_t *hc_part_pub(hc_part_t *p, hc_sig_media_t kind, hc_sig_tag_t tag)
{
    if (!p) return NULL;
    for (uint32_t i = 0; i < p->n_pubs; i++)
        if (p->pubs[i].kind == kind && (tag == HC_SIG_TAG_NONE || p->pubs[i].tag == tag))
            return &p->pubs[i];
    return NULL;
}

/* A tag is layered when any video stream of it gives `layer`; the others
 * of that tag are then layer 0 (SIGNALING.md: the default). */
static bool part_tag_layered(const hc_part_t *p, hc_sig_tag_t tag)
{
    for (uint32_t i = 0; i < p->n_pubs; i++)
        if (p->pubs[i].kind == HC_SIG_MEDIA_VIDEO && p->pubs[i].tag == tag && p->pubs[i].has_layer)
            return true;
    return false;
}

uint32_t hc_part_group(hc_part_t *p, const hc_spub_t *s, hc_spub_t **out, uint32_t cap)
{
    uint32_t n = 0;
    if (s->kind != HC_SIG_MEDIA_VIDEO || !part_tag_layered(p, s->tag)) {
        out[n++] = (hc_spub_t *)s;
        return n;
    }
    for (uint32_t i = 0; i < p->n_pubs && n < cap; i++) {
        hc_spub_t *q = &p->pubs[i];
        if (q->kind != s->kind || q->tag != s->tag) continue;
        /* insertion by layer: at most HC_SIG_STREAMS_MAX entries */
        uint32_t k = n++;
        while (k > 0 && out[k - 1]->layer > q->layer) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = q;
    }
    return n;
}

bool hc_part_pub_dup(const hc_part_t *p, const hc_spub_t *s)
{
    for (const hc_spub_t *q = p->pubs; q < s; q++)
        if (q->kind == s->kind && q->tag == s->tag) return true;
    return false;
}

bool hc_sess_pub_sibling(const hc_sig_join_t *j, size_t i)
{
    const hc_sig_stream_pub_t *s = &j->publish[i];
    if (s->kind != HC_SIG_MEDIA_VIDEO) return false;
    bool layered = false, earlier = false;
    for (size_t k = 0; k < j->n_publish; k++) {
        const hc_sig_stream_pub_t *o = &j->publish[k];
        if (o->kind != s->kind || o->tag != s->tag) continue;
        layered |= o->has_layer;
        if (k < i) earlier = true;
    }
    return layered && earlier;
}

bool hc_part_is_host(const hc_part_t *p)
{
    return p->role == HC_SIG_ROLE_TEACHER || p->role == HC_SIG_ROLE_CLINICIAN ||
           p->role == HC_SIG_ROLE_ADMIN;
}

static void part_link(hc_sess_t *se, hc_part_t *p)
{
    p->prev = se->tail;
    p->next = NULL;
    if (se->tail)
        se->tail->next = p;
    else
        se->head = p;
    se->tail = p;
    se->n_parts++;
}

static void part_unlink(hc_sess_t *se, hc_part_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        se->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        se->tail = p->prev;
    p->prev = p->next = NULL;
    se->n_parts--;
}

/* ------------------------------------------------------------------ */
/* random numbers                                                      */

uint32_t hc_sess_rand32(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
        /* Only SSRCs come from here (keys fail the join instead); an
         * SSRC needs to be unlikely to collide, not secret. */
        static _Atomic uint32_t fallback = 0x2545f491u;
        r = atomic_fetch_add(&fallback, 0x9e3779b9u) ^ (uint32_t)hc_now_us();
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* removing participants and sessions                                  */

static void part_free(hc_part_t *p)
{
    hc_timer_stop(&p->grace);
    free(p);
}

void hc_sess_part_remove(hc_sess_t *se, hc_part_t *p, hc_sig_gone_t reason)
{
    hc_sessions_t *ss = se->ss;
    uint64_t conn = p->conn;
    hc_timer_stop(&p->grace);
    part_unlink(se, p);
    hc_reg_conn_drop(ss, conn, se);
    resume_drop(ss, se, p->num);
    hc_reg_counts(se);
    if (reason == HC_SIG_GONE_LEFT || reason == HC_SIG_GONE_TIMEOUT)
        hc_reg_count(ss, &ss->ctr.left, 1);
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_PARTICIPANT_LEFT);
    if (m) {
        snprintf(m->participant_left.session, sizeof(m->participant_left.session), "%s", se->id);
        snprintf(m->participant_left.participant, sizeof(m->participant_left.participant), "%s",
                 p->id);
        m->participant_left.reason = reason;
        hc_sess_broadcast(se, m, NULL);
        hc_sess_msg_free(m);
    }
    se->ops->leave(se, p);
    hc_sess_media_down(se, p);
    hc_sess_sync(se);
    hc_sess_flush_tracks(se, NULL);
    part_free(p);
}

void hc_sess_close(hc_sess_t *se, const char *reason)
{
    if (se->closed) return;
    hc_sessions_t *ss = se->ss;
    se->closed = true;
    hc_timer_stop(&se->tick);
    hc_timer_stop(&se->ctl_timer);
    hc_sig_msg_t *m = reason ? hc_sess_msg(HC_SIG_SESSION_CLOSED) : NULL;
    if (m) {
        snprintf(m->session_closed.session, sizeof(m->session_closed.session), "%s", se->id);
        snprintf(m->session_closed.reason, sizeof(m->session_closed.reason), "%s", reason);
        hc_sess_broadcast(se, m, NULL);
        hc_sess_msg_free(m);
    }
    while (se->head) {
        hc_part_t *p = se->head;
        part_unlink(se, p);
        hc_sess_media_down(se, p);
        part_free(p);
    }
    se->teacher[0] = se->teacher[1] = NULL;
    memset(se->party, 0, sizeof(se->party));

    pthread_mutex_lock(&ss->mu);
    for (hc_sess_t **pp = &ss->sessions; *pp; pp = &(*pp)->reg_next) {
        if (*pp == se) {
            *pp = se->reg_next;
            ss->n_sessions--;
            break;
        }
    }
    for (size_t b = 0; b < HC_SESS_CONN_BUCKETS; b++) {
        for (hc_conn_ent_t **pp = &ss->conns[b]; *pp;) {
            hc_conn_ent_t *e = *pp;
            if (e->se == se) {
                *pp = e->next;
                free(e);
            } else {
                pp = &e->next;
            }
        }
    }
    if (ss->worker_parts && ss->ws && se->widx < ss->ws->n)
        ss->worker_parts[se->widx] -= se->reg_parts;
    se->reg_parts = se->reg_pubs = se->reg_in_kbps = se->reg_out_kbps = 0;
    pthread_mutex_unlock(&ss->mu);
    resume_drop(ss, se, 0);
    hc_sess_unref(se); /* the registry's reference */
}

/* ------------------------------------------------------------------ */
/* timers                                                              */

static uint32_t tick_ms(const hc_sess_t *se)
{
    return se->kind == HC_SIG_KIND_CONFERENCE ? HC_SESS_TICK_MS : HC_SESS_STATS_MS;
}

static void tick_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_sess_t *se = ud;
    if (se->closed) return;
    uint64_t now = hc_loop_now_us(loop);
    uint32_t period = tick_ms(se);
    se->ticks++;
    if (se->n_parts) {
        se->empty_since_us = 0;
    } else if (!se->empty_since_us) {
        se->empty_since_us = now;
    } else if (now - se->empty_since_us >= (uint64_t)HC_SESS_EMPTY_CLOSE_MS * 1000u) {
        /* Abandoned: without this, sessions nobody closes would fill
         * max_sessions for good. May free se: touch nothing after. */
        hc_sess_close(se, "no participants for 10 minutes");
        return;
    }
    if (se->kind == HC_SIG_KIND_CONFERENCE) hc_sess_conf_tick(se, now);
    if ((se->ticks * period) % HC_SESS_STATS_MS == 0) hc_sess_stats_tick(se);
    uint64_t due = t->due_us + (uint64_t)period * 1000u;
    if (due <= now) due = now + (uint64_t)period * 1000u; /* fell behind: no burst */
    hc_timer_start(loop, t, due, tick_cb, se);
}

static void start_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    if (se->closed || se->started) return;
    se->started = true;
    hc_loop_t *loop = hc_worker_loop(se->w);
    hc_timer_start(loop, &se->tick, hc_loop_now_us(loop) + (uint64_t)tick_ms(se) * 1000u, tick_cb,
                   se);
}

static void grace_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)loop;
    (void)t;
    hc_part_t *p = ud;
    hc_sess_t *se = p->se;
    if (se->closed || p->conn) return;
    hc_sess_part_remove(se, p, HC_SIG_GONE_TIMEOUT);
}

/* ------------------------------------------------------------------ */
/* router events (worker thread)                                       */

static void ev_leg_addr(void *ud, hc_leg_t *leg, const hc_addr_t *old, const hc_addr_t *now)
{
    (void)ud;
    (void)old;
    hc_part_t *p = hc_leg_owner(leg);
    if (!p || !now) return;
    char buf[HC_ADDR_STRLEN];
    if (hc_addr_format(now, buf, sizeof(buf)) < 0) return;
    /* The admin schema's host kind has no '%': drop an IPv6 zone. */
    char *pct = strchr(buf, '%');
    if (pct) {
        char *end = strchr(pct, ']');
        if (end)
            memmove(pct, end, strlen(end) + 1);
        else
            *pct = 0;
    }
    size_t len = strlen(buf);
    if (len < sizeof(p->addr)) memcpy(p->addr, buf, len + 1);
}

static void ev_leg_active(void *ud, hc_leg_t *leg, bool active)
{
    (void)ud;
    hc_part_t *p = hc_leg_owner(leg);
    if (!p || p->se->closed || p->link_down == !active) return;
    p->link_down = !active;
    hc_sess_t *se = p->se;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_ALARM);
    if (!m) return;
    m->alarm.kind = active ? HC_SIG_ALARM_LINK_UP : HC_SIG_ALARM_LINK_DOWN;
    snprintf(m->alarm.participant, sizeof(m->alarm.participant), "%s", p->id);
    snprintf(m->alarm.detail, sizeof(m->alarm.detail), "%s media from %s",
             active ? "receiving" : "no", p->site);
    /* The hosts (teacher, clinician, admin) run the session; sites are
     * not bothered with each other's links. */
    for (hc_part_t *q = se->head; q; q = q->next)
        if (hc_part_is_host(q)) hc_sess_send(se->ss, q->conn, m);
    hc_sess_msg_free(m);
}

static void ev_track_switched(void *ud, hc_track_t *track, hc_instream_t *src)
{
    /* `tracks` is sent when the session switches a source, not when the
     * first packet of the new source goes out. */
    (void)ud;
    (void)track;
    (void)src;
}

void hc_sessions_router_events(hc_sessions_t *ss, hc_router_events_t *out)
{
    memset(out, 0, sizeof(*out));
    out->ud = ss;
    out->leg_addr = ev_leg_addr;
    out->leg_active = ev_leg_active;
    out->track_switched = ev_track_switched;
}

/* ------------------------------------------------------------------ */
/* join (worker)                                                       */

static hc_srtp_suite_t suite_of(const hc_sessions_t *ss, const hc_sig_join_t *jn)
{
    if (!jn->has_suite) return ss->cfg.default_suite;
    return jn->suite == HC_SIG_SUITE_AES_CM ? HC_SRTP_AES_CM_128_HMAC_SHA1_80
                                            : HC_SRTP_AEAD_AES_128_GCM;
}

static hc_sig_suite_t sig_suite(hc_srtp_suite_t s)
{
    return s == HC_SRTP_AES_CM_128_HMAC_SHA1_80 ? HC_SIG_SUITE_AES_CM : HC_SIG_SUITE_GCM;
}

/* The agreement rules of join.publish that every kind shares
 * (proto/SIGNALING.md, join). */
static int check_common(const hc_sig_join_t *jn, char *reason, size_t cap)
{
    for (size_t i = 0; i < jn->n_publish; i++) {
        const hc_sig_stream_pub_t *s = &jn->publish[i];
        for (size_t k = 0; k < i; k++) {
            if (strcmp(jn->publish[k].mid, s->mid) == 0) {
                snprintf(reason, cap, "join.publish[%zu].mid: \"%s\" used twice", i, s->mid);
                return -HC_ESCHEMA;
            }
        }
        bool ok;
        switch (s->kind) {
        case HC_SIG_MEDIA_AUDIO:
            ok = s->tag == HC_SIG_TAG_AUDIO && s->codec == HC_SIG_CODEC_OPUS;
            break;
        case HC_SIG_MEDIA_VIDEO:
            ok = (s->tag == HC_SIG_TAG_MAIN || s->tag == HC_SIG_TAG_DIAGNOSTIC ||
                  s->tag == HC_SIG_TAG_FACE || s->tag == HC_SIG_TAG_SCREEN) &&
                 s->codec == HC_SIG_CODEC_H264;
            break;
        case HC_SIG_MEDIA_DATA:
            ok = s->tag == HC_SIG_TAG_CONTROL && s->codec == HC_SIG_CODEC_JSON;
            break;
        default: ok = false;
        }
        if (!ok) {
            snprintf(reason, cap, "join.publish[%zu]: kind %s does not go with tag %s and codec %s",
                     i, hc_sig_media_name(s->kind), hc_sig_tag_name(s->tag),
                     hc_sig_codec_name(s->codec));
            return -HC_ESCHEMA;
        }
        if (s->kind == HC_SIG_MEDIA_DATA) {
            snprintf(reason, cap,
                     "join.publish[%zu]: data streams are not relayed; control goes over "
                     "signaling",
                     i);
            return -HC_EUNSUPPORTED;
        }
        if (s->has_layer && s->layer && s->kind != HC_SIG_MEDIA_VIDEO) {
            snprintf(reason, cap, "join.publish[%zu].layer: only video has simulcast layers", i);
            return -HC_ESCHEMA;
        }
        for (size_t k = 0; hc_sess_pub_sibling(jn, i) && k < i; k++) {
            const hc_sig_stream_pub_t *o = &jn->publish[k];
            uint32_t ol = o->has_layer ? o->layer : 0, sl = s->has_layer ? s->layer : 0;
            if (o->kind == s->kind && o->tag == s->tag && ol == sl) {
                snprintf(reason, cap, "join.publish[%zu]: layer %u of tag %s given twice", i,
                         (unsigned)sl, hc_sig_tag_name(s->tag));
                return -HC_ESCHEMA;
            }
        }
        if (s->kind == HC_SIG_MEDIA_AUDIO && (s->has_width || s->has_height || s->has_fps)) {
            snprintf(reason, cap, "join.publish[%zu]: width, height and fps are for video", i);
            return -HC_ESCHEMA;
        }
    }
    return 0;
}

static void copy_pubs(hc_part_t *p, const hc_sig_join_t *jn)
{
    p->n_pubs = 0;
    for (size_t i = 0; i < jn->n_publish && i < HC_SIG_STREAMS_MAX; i++) {
        hc_spub_t *s = &p->pubs[p->n_pubs++];
        memset(s, 0, sizeof(*s));
        snprintf(s->mid, sizeof(s->mid), "%s", jn->publish[i].mid);
        s->kind = jn->publish[i].kind;
        s->tag = jn->publish[i].tag;
        s->codec = jn->publish[i].codec;
        s->has_layer = jn->publish[i].has_layer;
        s->layer = jn->publish[i].has_layer ? jn->publish[i].layer : 0;
    }
}

static void send_joined(hc_sess_t *se, hc_part_t *p, uint32_t req_id)
{
    hc_sessions_t *ss = se->ss;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_JOINED);
    if (!m) return;
    hc_sig_joined_t *o = &m->joined;
    o->id = req_id;
    snprintf(o->session, sizeof(o->session), "%s", se->id);
    o->kind = se->kind;
    snprintf(o->participant, sizeof(o->participant), "%s", p->id);
    o->media.port = ss->ws ? ss->ws->port : 0;
    if (ss->cfg.media_host[0])
        snprintf(o->media.host, sizeof(o->media.host), "%s", ss->cfg.media_host);
    o->media.suite = sig_suite(p->suite);
    size_t klen = hc_srtp_key_len(p->suite);
    hc_b64_encode(p->key_up, klen, o->media.key_up, sizeof(o->media.key_up));
    hc_b64_encode(p->key_down, klen, o->media.key_down, sizeof(o->media.key_down));
    o->media.rtcp_ssrc = p->rtcp_ssrc;
    for (uint32_t i = 0; i < p->n_pubs; i++)
        hc_sess_stream_info_of_pub(&p->pubs[i], &o->streams[o->n_streams++]);
    hc_sess_receive_list(p, o->receive, &o->n_receive);
    hc_part_t *holder = se->hands ? hc_sess_find_num(se, hc_floor_holder(&se->floor)) : NULL;
    if (holder) snprintf(o->floor, sizeof(o->floor), "%s", holder->id);
    uint32_t total = 0;
    hc_part_t *rest = NULL; /* first one that did not fit */
    for (hc_part_t *q = se->head; q; q = q->next) {
        if (q == p) continue;
        total++;
        if (o->n_participants < HC_SIG_PEERS_MAX)
            hc_sess_peer(q, &o->participants[o->n_participants++]);
        else if (!rest)
            rest = q;
    }
    o->participants_total = total;
    hc_sess_send(ss, p->conn, m);
    hc_sess_msg_free(m);
    if (!rest) return;
    /* The rest as participant_joined right after (SIGNALING.md, joined). */
    m = hc_sess_msg(HC_SIG_PARTICIPANT_JOINED);
    if (!m) return;
    snprintf(m->participant_joined.session, sizeof(m->participant_joined.session), "%s", se->id);
    for (hc_part_t *q = rest; q; q = q->next) {
        if (q == p) continue;
        hc_sess_peer(q, &m->participant_joined.participant);
        hc_sess_send(ss, p->conn, m);
    }
    hc_sess_msg_free(m);
}

static void send_budget(hc_sess_t *se, hc_part_t *p)
{
    uint32_t kbps;
    if (!hc_reg_budget(se->ss, p->site, &kbps)) return;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_BUDGET);
    if (!m) return;
    m->budget.kbps = kbps;
    hc_sess_send(se->ss, p->conn, m);
    hc_sess_msg_free(m);
}

static hc_part_t *find_resumable(hc_sess_t *se, const hc_token_claims_t *who, const char *site)
{
    for (hc_part_t *p = se->head; p; p = p->next)
        if (!p->conn && p->role == who->role && strcmp(p->sub, who->sub) == 0 &&
            strcmp(p->site, site) == 0)
            return p;
    return NULL;
}

static void resume(hc_sess_job_t *j, hc_part_t *p, const char *site)
{
    hc_sess_t *se = j->se;
    hc_sessions_t *ss = j->ss;
    const hc_sig_join_t *jn = &j->msg->join;
    char reason[HC_SIG_REASON_MAX + 1];
    hc_timer_stop(&p->grace);
    resume_drop(ss, se, p->num);
    hc_sess_media_down(se, p);
    /* Streams published again under the same mid keep their SSRCs. */
    hc_spub_t old[HC_SIG_STREAMS_MAX];
    uint32_t n_old = p->n_pubs;
    memcpy(old, p->pubs, sizeof(old));
    copy_pubs(p, jn);
    for (uint32_t i = 0; i < p->n_pubs; i++) {
        for (uint32_t k = 0; k < n_old; k++) {
            if (strcmp(old[k].mid, p->pubs[i].mid) == 0 && old[k].kind == p->pubs[i].kind) {
                p->pubs[i].ssrc = old[k].ssrc;
                p->pubs[i].rtx_ssrc = old[k].rtx_ssrc;
                p->pubs[i].fec_ssrc = old[k].fec_ssrc;
            }
        }
    }
    p->conn = j->conn;
    p->suite = suite_of(ss, jn);
    p->subscribe = jn->has_subscribe ? jn->subscribe : true;
    p->link_down = false;
    if (se->ctl && p->party >= 0) hc_ctlchan_reset_party(se->ctl, (uint32_t)p->party);
    int rc = hc_sess_media_up(se, p, reason, sizeof(reason));
    if (rc < 0) {
        p->conn = 0;
        hc_reg_conn_drop(ss, j->conn, se);
        hc_sess_error(ss, j->conn, jn->id, rc, "%s", reason);
        hc_sess_part_remove(se, p, HC_SIG_GONE_TIMEOUT);
        return;
    }
    hc_sess_sync(se);
    hc_reg_conn_set(ss, j->conn, se, p->num, site);
    hc_reg_counts(se);
    hc_reg_count(ss, &ss->ctr.joined, 1);
    send_joined(se, p, jn->id);
    send_budget(se, p);
    hc_sess_flush_tracks(se, p);
}

static void join_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_sessions_t *ss = j->ss;
    const hc_sig_join_t *jn = &j->msg->join;
    char reason[HC_SIG_REASON_MAX + 1] = "";
    int rc;
    /* The token's site claim, when it has one, is the site's name: a token
     * minted for one school cannot speak as another. */
    const char *site = j->who.site[0] ? j->who.site : jn->site;

    if (se->closed) {
        hc_reg_conn_drop(ss, j->conn, se); /* before the reply: the client may retry at once */
        hc_sess_error(ss, j->conn, jn->id, HC_ENOTFOUND, "session %s is closed", se->id);
        return;
    }
    if (hc_sess_find_conn(se, j->conn)) {
        hc_sess_error(ss, j->conn, jn->id, HC_EEXIST, "this connection already joined %s", se->id);
        return;
    }
    if ((rc = check_common(jn, reason, sizeof(reason))) < 0 ||
        (rc = se->ops->check_publish(se, j->who.role, jn, reason, sizeof(reason))) < 0) {
        hc_reg_conn_drop(ss, j->conn, se);
        hc_sess_error(ss, j->conn, jn->id, rc, "%s", reason);
        return;
    }
    hc_part_t *p = find_resumable(se, &j->who, site);
    if (p) {
        resume(j, p, site);
        return;
    }
    if (se->n_parts >= se->max_parts) {
        hc_reg_conn_drop(ss, j->conn, se);
        hc_sess_error(ss, j->conn, jn->id, HC_EFULL, "session %s is full (%u participants)", se->id,
                      se->max_parts);
        return;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        hc_reg_conn_drop(ss, j->conn, se);
        hc_sess_error(ss, j->conn, jn->id, HC_ENOMEM, "out of memory");
        return;
    }
    p->se = se;
    p->num = ++se->next_num;
    snprintf(p->id, sizeof(p->id), "p%u", p->num);
    p->role = j->who.role;
    snprintf(p->site, sizeof(p->site), "%s", site);
    snprintf(p->sub, sizeof(p->sub), "%s", j->who.sub);
    p->conn = j->conn;
    p->joined_ms = hc_sess_wall_ms();
    p->subscribe = jn->has_subscribe ? jn->subscribe : true;
    p->party = -1;
    p->suite = suite_of(ss, jn);
    copy_pubs(p, jn);
    rc = se->ops->admit(se, p, reason, sizeof(reason));
    if (rc == 0) {
        part_link(se, p);
        rc = hc_sess_media_up(se, p, reason, sizeof(reason));
        if (rc < 0) {
            part_unlink(se, p);
            se->ops->leave(se, p);
        }
    }
    if (rc < 0) {
        hc_reg_conn_drop(ss, j->conn, se);
        hc_sess_error(ss, j->conn, jn->id, rc, "%s", reason);
        free(p);
        return;
    }
    hc_sess_sync(se);
    /* The registry first: a client that lists sessions right after its
     * `joined` sees itself counted. */
    hc_reg_conn_set(ss, j->conn, se, p->num, site);
    hc_reg_counts(se);
    hc_reg_count(ss, &ss->ctr.joined, 1);
    send_joined(se, p, jn->id);
    send_budget(se, p);
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_PARTICIPANT_JOINED);
    if (m) {
        snprintf(m->participant_joined.session, sizeof(m->participant_joined.session), "%s",
                 se->id);
        hc_sess_peer(p, &m->participant_joined.participant);
        hc_sess_broadcast(se, m, p);
        hc_sess_msg_free(m);
    }
    hc_sess_flush_tracks(se, p);
}

static void leave_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    uint32_t id = hc_sig_request_id(j->msg);
    hc_part_t *p = se->closed ? NULL : hc_sess_find_conn(se, j->conn);
    if (!p) {
        hc_sess_error(j->ss, j->conn, id, HC_ENOTFOUND, "not joined");
        return;
    }
    hc_sess_part_remove(se, p, HC_SIG_GONE_LEFT);
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_LEFT);
    if (m) {
        m->left.id = id;
        hc_sess_send(j->ss, j->conn, m);
        hc_sess_msg_free(m);
    }
}

static void conn_closed_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_part_t *p = se->closed ? NULL : hc_sess_find_conn(se, j->conn);
    if (!p) return;
    p->conn = 0;
    if (j->ss->cfg.leave_grace_ms == 0) {
        hc_sess_part_remove(se, p, HC_SIG_GONE_TIMEOUT);
        return;
    }
    resume_add(j->ss, se, p);
    hc_loop_t *loop = hc_worker_loop(se->w);
    hc_timer_start(loop, &p->grace,
                   hc_loop_now_us(loop) + (uint64_t)j->ss->cfg.leave_grace_ms * 1000u, grace_cb, p);
}

/* ------------------------------------------------------------------ */
/* create (signaling thread)                                           */

static const hc_sess_kind_ops_t *ops_of(hc_sig_kind_t k)
{
    switch (k) {
    case HC_SIG_KIND_CLASS: return &hc_sess_class_ops;
    case HC_SIG_KIND_CONSULT: return &hc_sess_consult_ops;
    case HC_SIG_KIND_CONFERENCE: return &hc_sess_conf_ops;
    default: return NULL;
    }
}

static uint32_t max_of_kind(const hc_sessions_t *ss, hc_sig_kind_t k)
{
    uint32_t lim = ss->cfg.max_participants;
    if (k == HC_SIG_KIND_CONSULT && lim > HC_SESS_CONSULT_MAX) lim = HC_SESS_CONSULT_MAX;
    if (k == HC_SIG_KIND_CONFERENCE && lim > 200) lim = 200;
    return lim;
}

/* Build a session from a create request (no registry yet). */
static int sess_alloc(hc_sessions_t *ss, const hc_sig_create_t *c, const char *sid, hc_sess_t **out,
                      char *reason, size_t cap)
{
    uint32_t lim = max_of_kind(ss, c->kind);
    uint32_t max = lim;
    if (c->has_max_sites) {
        if (c->max_sites > lim) {
            snprintf(reason, cap, "create.max_sites: %u is above this relay's limit of %u for a %s",
                     c->max_sites, lim, hc_sig_kind_name(c->kind));
            return -HC_ERANGE;
        }
        if (c->kind == HC_SIG_KIND_CONSULT && c->max_sites < 2) {
            snprintf(reason, cap, "create.max_sites: a consult has 2 to %u parties", lim);
            return -HC_ERANGE;
        }
        max = c->max_sites;
    }
    hc_sess_t *se = calloc(1, sizeof(*se));
    if (!se) return -HC_ENOMEM;
    se->ss = ss;
    atomic_init(&se->refs, 1);
    snprintf(se->id, sizeof(se->id), "%s", sid);
    if (c->title[0]) snprintf(se->title, sizeof(se->title), "%s", c->title);
    se->kind = c->kind;
    se->ops = ops_of(c->kind);
    se->created_ms = hc_sess_wall_ms();
    se->max_parts = max;
    se->deadline_ms =
        c->has_control_deadline_ms ? c->control_deadline_ms : ss->cfg.control_deadline_ms;
    se->audio_k = ss->cfg.conference_audio_k;
    se->last_n = c->has_last_n ? c->last_n : ss->cfg.conference_last_n;
    if (se->last_n > HC_SPEAKERS_MAX_SLOTS) se->last_n = HC_SPEAKERS_MAX_SLOTS;
    if (se->audio_k + se->last_n > HC_SIG_TRACKS_MAX) se->last_n = HC_SIG_TRACKS_MAX - se->audio_k;
    int rc = 0;
    if (c->kind == HC_SIG_KIND_CLASS || c->kind == HC_SIG_KIND_CONFERENCE) {
        se->hands = calloc(max, sizeof(uint32_t));
        if (!se->hands) rc = -HC_ENOMEM;
        hc_floor_init(&se->floor, se->hands, max);
    }
    if (rc == 0 && c->kind == HC_SIG_KIND_CONSULT) {
        hc_ctlchan_cfg_t cc = {
            .parties = HC_SESS_CONSULT_MAX,
            .max_pending = HC_SESS_CTL_PENDING,
            .deadline_us = (uint64_t)(se->deadline_ms ? se->deadline_ms : 300) * 1000u,
        };
        rc = hc_ctlchan_new(&se->ctl, &cc);
    }
    if (rc == 0 && c->kind == HC_SIG_KIND_CONFERENCE) {
        hc_speakers_cfg_t sc;
        hc_speakers_cfg_default(&sc);
        sc.max_parts = max;
        sc.audio_k = se->audio_k;
        sc.video_n = se->last_n;
        rc = hc_speakers_new(&se->spk, &sc);
    }
    if (rc < 0) {
        hc_ctlchan_destroy(&se->ctl);
        free(se->hands);
        free(se);
        snprintf(reason, cap, "out of memory");
        return rc;
    }
    *out = se;
    return 0;
}

static void on_create(hc_sessions_t *ss, uint64_t conn, const hc_token_claims_t *who,
                      const hc_sig_msg_t *msg)
{
    const hc_sig_create_t *c = &msg->create;
    char sid[HC_SIG_ID_MAX + 1];
    char reason[HC_SIG_REASON_MAX + 1];
    if (!ops_of(c->kind)) {
        hc_sess_error(ss, conn, c->id, HC_ESCHEMA, "create.kind: unknown");
        return;
    }
    if (who->role != HC_SIG_ROLE_ADMIN) {
        /* A host token creates exactly its own session. */
        if (!who->session[0] || (c->session[0] && strcmp(c->session, who->session) != 0)) {
            hc_sess_error(ss, conn, c->id, HC_EPERM, "this token may only create session %s",
                          who->session[0] ? who->session : "(none)");
            return;
        }
        snprintf(sid, sizeof(sid), "%s", who->session);
    } else if (c->session[0]) {
        snprintf(sid, sizeof(sid), "%s", c->session);
    } else {
        snprintf(sid, sizeof(sid), "s%08x", hc_sess_rand32());
    }
    hc_sess_t *se = NULL;
    int rc = sess_alloc(ss, c, sid, &se, reason, sizeof(reason));
    if (rc < 0) {
        hc_sess_error(ss, conn, c->id, rc, "%s", reason);
        return;
    }
    pthread_mutex_lock(&ss->mu);
    if (ss->closing)
        rc = -HC_EAGAIN;
    else if (!ss->ws || ss->ws->n == 0 || !ss->worker_parts)
        rc = -HC_EINTERNAL;
    else if (sess_find(ss, sid))
        rc = -HC_EEXIST;
    else if (ss->n_sessions >= ss->cfg.max_sessions)
        rc = -HC_EFULL;
    if (rc == 0) {
        /* The worker carrying the fewest participants takes it. */
        unsigned best = 0;
        for (unsigned i = 1; i < ss->ws->n; i++)
            if (ss->worker_parts[i] < ss->worker_parts[best]) best = i;
        se->widx = best;
        se->w = ss->ws->w[best];
        hc_sess_t **pp = &ss->sessions;
        while (*pp) pp = &(*pp)->reg_next; /* creation order, for stable pages */
        *pp = se;
        ss->n_sessions++;
        ss->live++;
        ss->ctr.created++;
        hc_sess_ref(se); /* for the start job */
    }
    pthread_mutex_unlock(&ss->mu);
    if (rc < 0) {
        switch (rc) {
        case -HC_EAGAIN: hc_sess_error(ss, conn, c->id, rc, "relay is shutting down"); break;
        case -HC_EEXIST: hc_sess_error(ss, conn, c->id, rc, "session %s exists", sid); break;
        case -HC_EFULL:
            hc_sess_error(ss, conn, c->id, rc, "relay at its limit of %u sessions",
                          ss->cfg.max_sessions);
            break;
        default: hc_sess_error(ss, conn, c->id, rc, "relay not started");
        }
        /* Not registered: free without touching the live count. */
        hc_ctlchan_destroy(&se->ctl);
        hc_speakers_destroy(&se->spk);
        free(se->hands);
        free(se);
        return;
    }
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_CREATED);
    if (m) {
        m->created.id = c->id;
        snprintf(m->created.session, sizeof(m->created.session), "%s", sid);
        m->created.kind = c->kind;
        hc_sess_send(ss, conn, m);
        hc_sess_msg_free(m);
    }
    hc_sess_post(ss, se, start_job, 0, NULL, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* dispatch (signaling thread)                                         */

static void on_join(hc_sessions_t *ss, uint64_t conn, const hc_token_claims_t *who,
                    hc_sig_msg_t *msg)
{
    const hc_sig_join_t *jn = &msg->join;
    int code = 0;
    char reason[HC_SIG_REASON_MAX + 1];
    hc_sess_t *se = NULL;
    if (who->role != HC_SIG_ROLE_ADMIN && strcmp(jn->session, who->session) != 0) {
        code = HC_EPERM;
        snprintf(reason, sizeof(reason), "this token is for session %s", who->session);
    } else if (who->role == HC_SIG_ROLE_VIEWER && jn->n_publish > 0) {
        code = HC_EPERM;
        snprintf(reason, sizeof(reason), "viewers may not publish");
    } else {
        pthread_mutex_lock(&ss->mu);
        se = ss->closing ? NULL : sess_find(ss, jn->session);
        if (ss->closing) {
            code = HC_EAGAIN;
            snprintf(reason, sizeof(reason), "relay is shutting down");
        } else if (!se) {
            code = HC_ENOTFOUND;
            snprintf(reason, sizeof(reason), "no session %s", jn->session);
        } else if (conn_find(ss, conn)) {
            code = HC_EEXIST;
            snprintf(reason, sizeof(reason), "this connection already joined a session");
        } else {
            hc_conn_ent_t *e = calloc(1, sizeof(*e));
            if (!e) {
                code = HC_ENOMEM;
                snprintf(reason, sizeof(reason), "out of memory");
            } else {
                e->conn = conn;
                e->se = se;
                snprintf(e->site, sizeof(e->site), "%s", who->site[0] ? who->site : jn->site);
                size_t b = conn_bucket(conn);
                e->next = ss->conns[b];
                ss->conns[b] = e;
                hc_sess_ref(se);
            }
        }
        pthread_mutex_unlock(&ss->mu);
    }
    if (code) {
        hc_sess_error(ss, conn, jn->id, code, "%s", reason);
        hc_sess_msg_free(msg);
        return;
    }
    if (hc_sess_post(ss, se, join_job, conn, who, msg, NULL) < 0) hc_reg_conn_drop(ss, conn, se);
}

/* Messages that name no session: the connection's session. */
static void on_by_conn(hc_sessions_t *ss, uint64_t conn, const hc_token_claims_t *who,
                       hc_sig_msg_t *msg, hc_sess_job_fn fn)
{
    pthread_mutex_lock(&ss->mu);
    hc_conn_ent_t *e = conn_find(ss, conn);
    hc_sess_t *se = e ? e->se : NULL;
    if (se) hc_sess_ref(se);
    pthread_mutex_unlock(&ss->mu);
    if (!se) {
        uint32_t id = hc_sig_request_id(msg);
        if (msg->type == HC_SIG_CONTROL || msg->type == HC_SIG_CONTROL_ACK)
            hc_sess_error(ss, conn, 0, HC_ENOTFOUND, "%s seq %u: not joined",
                          hc_sig_type_name(msg->type),
                          msg->type == HC_SIG_CONTROL ? msg->control.seq : msg->control_ack.seq);
        else
            hc_sess_error(ss, conn, id, HC_ENOTFOUND, "not joined");
        hc_sess_msg_free(msg);
        return;
    }
    hc_sess_post(ss, se, fn, conn, who, msg, NULL);
}

/* Admin messages that name a session. */
static void on_by_session(hc_sessions_t *ss, uint64_t conn, const hc_token_claims_t *who,
                          hc_sig_msg_t *msg, const char *sid, hc_sess_job_fn fn)
{
    pthread_mutex_lock(&ss->mu);
    hc_sess_t *se = sess_find(ss, sid);
    if (se) hc_sess_ref(se);
    pthread_mutex_unlock(&ss->mu);
    if (!se) {
        hc_sess_error(ss, conn, hc_sig_request_id(msg), HC_ENOTFOUND, "no session %s", sid);
        hc_sess_msg_free(msg);
        return;
    }
    hc_sess_post(ss, se, fn, conn, who, msg, NULL);
}

void hc_sessions_on_message(hc_sessions_t *ss, uint64_t conn, const hc_token_claims_t *who,
                            hc_sig_msg_t *msg)
{
    if (!msg) return;
    if (!ss || !who) {
        hc_sess_msg_free(msg);
        return;
    }
    uint32_t id = hc_sig_request_id(msg);
    /* The server checks these already; checked again so the session layer
     * never acts on what a role may not ask. */
    if (hc_sig_type_dir(msg->type) == HC_SIG_S2C || !hc_sig_role_may_send(who->role, msg->type)) {
        hc_sess_error(ss, conn, id, HC_EPERM, "role %s may not send %s",
                      hc_sig_role_name(who->role) ? hc_sig_role_name(who->role) : "?",
                      hc_sig_type_name(msg->type) ? hc_sig_type_name(msg->type) : "?");
        hc_sess_msg_free(msg);
        return;
    }
    switch (msg->type) {
    case HC_SIG_CREATE:
        on_create(ss, conn, who, msg);
        hc_sess_msg_free(msg);
        return;
    case HC_SIG_JOIN: on_join(ss, conn, who, msg); return;
    case HC_SIG_LEAVE: on_by_conn(ss, conn, who, msg, leave_job); return;
    case HC_SIG_RAISE_HAND:
    case HC_SIG_LOWER_HAND: on_by_conn(ss, conn, who, msg, hc_sess_hand_job); return;
    case HC_SIG_GRANT_FLOOR:
    case HC_SIG_REVOKE_FLOOR: on_by_conn(ss, conn, who, msg, hc_sess_floor_job); return;
    case HC_SIG_CONTROL: on_by_conn(ss, conn, who, msg, hc_sess_control_job); return;
    case HC_SIG_CONTROL_ACK: on_by_conn(ss, conn, who, msg, hc_sess_control_ack_job); return;
    case HC_SIG_LIST_SESSIONS:
        hc_sess_admin_list_sessions(ss, conn, msg);
        hc_sess_msg_free(msg);
        return;
    case HC_SIG_SET_BUDGET:
        hc_sess_admin_set_budget(ss, conn, msg);
        hc_sess_msg_free(msg);
        return;
    case HC_SIG_LIST_PARTICIPANTS:
        on_by_session(ss, conn, who, msg, msg->list_participants.session, hc_sess_participants_job);
        return;
    case HC_SIG_KICK:
        on_by_session(ss, conn, who, msg, msg->kick.session, hc_sess_kick_job);
        return;
    case HC_SIG_CLOSE_SESSION:
        on_by_session(ss, conn, who, msg, msg->close_session.session, hc_sess_close_job);
        return;
    case HC_SIG_ERROR:
        /* A client telling us it could not handle an event: nothing to do
         * here (the server logs it). */
        hc_sess_msg_free(msg);
        return;
    default:
        hc_sess_error(ss, conn, id, HC_EUNSUPPORTED, "%s is not handled by the session layer",
                      hc_sig_type_name(msg->type) ? hc_sig_type_name(msg->type) : "?");
        hc_sess_msg_free(msg);
        return;
    }
}

void hc_sessions_on_close(hc_sessions_t *ss, uint64_t conn)
{
    if (!ss) return;
    pthread_mutex_lock(&ss->mu);
    hc_conn_ent_t *e = conn_find(ss, conn);
    hc_sess_t *se = e ? e->se : NULL;
    if (e) {
        hc_sess_ref(se);
        conn_unlink(ss, e);
    }
    pthread_mutex_unlock(&ss->mu);
    if (se) hc_sess_post(ss, se, conn_closed_job, conn, NULL, NULL, NULL);
}
