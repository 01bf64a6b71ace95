/*
 * session_admin.c - the admin operations on sessions: list_sessions and
 * set_budget (answered on the signaling thread from the registry),
 * list_participants, kick and close_session (run on the session's worker),
 * and the per-second statistics that keep the registry's view current.
 *
 * list_participants reports per participant at most HC_SIG_LEGS_MAX legs:
 * the streams it publishes first (dir "in"), then the tracks it receives
 * (dir "out") until the eight are used; a consult party receiving 21
 * tracks shows its first ones.
 */
#include "relay/session_int.h"

#include "proto/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hc_sess_admin_list_sessions(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *msg)
{
    const hc_sig_list_sessions_t *q = &msg->list_sessions;
    uint32_t offset = q->has_offset ? q->offset : 0;
    uint32_t limit = q->has_limit ? q->limit : HC_SIG_PAGE_MAX;
    if (limit > HC_SIG_PAGE_MAX) limit = HC_SIG_PAGE_MAX;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_SESSIONS);
    if (!m) {
        hc_sess_error(ss, conn, q->id, HC_ENOMEM, "out of memory");
        return;
    }
    hc_sig_sessions_t *o = &m->sessions;
    o->id = q->id;
    o->offset = offset;
    pthread_mutex_lock(&ss->mu);
    o->total = ss->n_sessions;
    uint32_t i = 0;
    for (hc_sess_t *se = ss->sessions; se && o->n_items < limit; se = se->reg_next, i++) {
        if (i < offset) continue;
        hc_sig_session_info_t *it = &o->items[o->n_items++];
        snprintf(it->session, sizeof(it->session), "%s", se->id);
        it->kind = se->kind;
        if (se->title[0]) snprintf(it->title, sizeof(it->title), "%s", se->title);
        it->created_ms = se->created_ms;
        it->participants = se->reg_parts;
        it->publishers = se->reg_pubs;
        it->in_kbps = se->reg_in_kbps;
        it->out_kbps = se->reg_out_kbps;
    }
    pthread_mutex_unlock(&ss->mu);
    hc_sess_send(ss, conn, m);
    hc_sess_msg_free(m);
}

void hc_sess_admin_set_budget(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *msg)
{
    const hc_sig_set_budget_t *q = &msg->set_budget;
    uint64_t *conns = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    pthread_mutex_lock(&ss->mu);
    hc_budget_ent_t *b = NULL;
    for (uint32_t i = 0; i < ss->n_budgets && !b; i++)
        if (strcmp(ss->budgets[i].site, q->site) == 0) b = &ss->budgets[i];
    if (!b && ss->n_budgets < HC_SESS_BUDGETS_MAX) {
        b = &ss->budgets[ss->n_budgets++];
        snprintf(b->site, sizeof(b->site), "%s", q->site);
    }
    if (!b) {
        rc = -HC_EFULL;
    } else {
        b->kbps = q->kbps;
        for (size_t k = 0; k < HC_SESS_CONN_BUCKETS && rc == 0; k++) {
            for (hc_conn_ent_t *e = ss->conns[k]; e; e = e->next) {
                if (strcmp(e->site, q->site) != 0) continue;
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    uint64_t *nn = realloc(conns, nc * sizeof(*nn));
                    if (!nn) {
                        rc = -HC_ENOMEM;
                        break;
                    }
                    conns = nn;
                    cap = nc;
                }
                conns[n++] = e->conn;
            }
        }
    }
    pthread_mutex_unlock(&ss->mu);
    if (rc < 0) {
        hc_sess_error(ss, conn, q->id, rc, "%s",
                      rc == -HC_EFULL ? "too many sites with a budget" : "out of memory");
        free(conns);
        return;
    }
    hc_sig_msg_t *m = n ? hc_sess_msg(HC_SIG_BUDGET) : NULL;
    if (m) {
        m->budget.kbps = q->kbps;
        for (size_t i = 0; i < n; i++) hc_sess_send(ss, conns[i], m);
        hc_sess_msg_free(m);
    }
    free(conns);
    if (n)
        hc_sess_ok(ss, conn, q->id);
    else
        /* Stored anyway: the site gets it when it joins. */
        hc_sess_error(ss, conn, q->id, HC_ENOTFOUND,
                      "site %s is not connected; its budget applies when it joins", q->site);
}

static uint32_t kbps(uint32_t bps)
{
    return (bps + 500u) / 1000u;
}

static uint32_t whole_ms(double ms)
{
    if (!(ms > 0)) return 0;
    if (ms > 600000.0) return 600000;
    return (uint32_t)(ms + 0.5);
}

static double fraction(double f)
{
    if (!(f > 0)) return 0;
    return f > 1 ? 1 : f;
}

static uint32_t sat32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void fill_info(hc_part_t *p, hc_sig_participant_info_t *it)
{
    memset(it, 0, sizeof(*it));
    snprintf(it->participant, sizeof(it->participant), "%s", p->id);
    snprintf(it->site, sizeof(it->site), "%s", p->site);
    it->role = p->role;
    it->joined_ms = p->joined_ms;
    if (p->addr[0]) snprintf(it->addr, sizeof(it->addr), "%s", p->addr);
    it->hand = p->hand;
    for (uint32_t i = 0; i < p->n_pubs && it->n_legs < HC_SIG_LEGS_MAX; i++) {
        const hc_spub_t *s = &p->pubs[i];
        hc_sig_leg_t *l = &it->legs[it->n_legs++];
        hc_instream_stats_t st = {0};
        if (s->in) hc_instream_stats(s->in, &st);
        l->ssrc = s->ssrc;
        l->dir = HC_SIG_LEG_IN;
        l->kind = s->kind;
        l->tag = s->tag;
        l->kbps = kbps(st.bitrate_bps);
        l->loss = fraction(st.loss);
        l->rtt_ms = whole_ms(st.rtt_ms);
        l->jitter_ms = whole_ms(st.jitter_ms);
        l->nacks = sat32(st.nacks_sent);
        l->plis = sat32(st.plis_sent + st.firs_sent);
    }
    for (uint32_t i = 0; i < p->n_tracks && it->n_legs < HC_SIG_LEGS_MAX; i++) {
        const hc_strack_t *t = &p->tracks[i];
        if (!t->t) continue;
        hc_sig_leg_t *l = &it->legs[it->n_legs++];
        hc_track_stats_t st = {0};
        hc_track_stats(t->t, &st);
        l->ssrc = t->ssrc;
        l->dir = HC_SIG_LEG_OUT;
        l->kind = t->kind;
        l->tag = t->tag;
        l->kbps = kbps(st.bitrate_bps);
        l->loss = fraction(st.loss);
        l->rtt_ms = whole_ms(st.rtt_ms);
        l->jitter_ms = whole_ms(st.jitter_ms);
        l->nacks = sat32(st.nacks_received);
        l->plis = sat32(st.plis_received + st.firs_received);
        if (st.layers > 0 && st.layer >= 0) { /* a simulcast group: what this site gets */
            l->has_layer = true;
            l->layer = (uint32_t)st.layer;
        }
        if (st.leg_estimate_bps) {
            l->has_estimate_kbps = true;
            l->estimate_kbps = kbps(st.leg_estimate_bps);
        }
    }
}

void hc_sess_participants_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    const hc_sig_list_participants_t *q = &j->msg->list_participants;
    if (se->closed) {
        hc_sess_error(j->ss, j->conn, q->id, HC_ENOTFOUND, "no session %s", q->session);
        return;
    }
    uint32_t offset = q->has_offset ? q->offset : 0;
    uint32_t limit = q->has_limit ? q->limit : HC_SIG_PPAGE_MAX;
    if (limit > HC_SIG_PPAGE_MAX) limit = HC_SIG_PPAGE_MAX;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_PARTICIPANTS);
    if (!m) {
        hc_sess_error(j->ss, j->conn, q->id, HC_ENOMEM, "out of memory");
        return;
    }
    hc_sig_participants_t *o = &m->participants;
    o->id = q->id;
    snprintf(o->session, sizeof(o->session), "%s", se->id);
    o->total = se->n_parts;
    o->offset = offset;
    uint32_t i = 0;
    for (hc_part_t *p = se->head; p && o->n_items < limit; p = p->next, i++)
        if (i >= offset) fill_info(p, &o->items[o->n_items++]);
    hc_sess_send(j->ss, j->conn, m);
    hc_sess_msg_free(m);
}

void hc_sess_kick_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_sessions_t *ss = j->ss;
    const hc_sig_kick_t *q = &j->msg->kick;
    hc_part_t *p = se->closed ? NULL : hc_sess_find_id(se, q->participant);
    if (!p) {
        hc_sess_error(ss, j->conn, q->id, HC_ENOTFOUND, "no participant %s in %s", q->participant,
                      q->session);
        return;
    }
    uint64_t conn = p->conn;
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_KICKED);
    if (m) {
        snprintf(m->kicked.reason, sizeof(m->kicked.reason), "%s",
                 q->reason[0] ? q->reason : "removed by an administrator");
        hc_sess_send(ss, conn, m);
        hc_sess_msg_free(m);
    }
    hc_sess_part_remove(se, p, HC_SIG_GONE_KICKED);
    hc_sess_close_conn(ss, conn, "kicked");
    hc_reg_count(ss, &ss->ctr.kicked, 1);
    hc_sess_ok(ss, j->conn, q->id);
}

void hc_sess_close_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    const hc_sig_close_session_t *q = &j->msg->close_session;
    if (se->closed) {
        hc_sess_error(j->ss, j->conn, q->id, HC_ENOTFOUND, "no session %s", q->session);
        return;
    }
    hc_sess_close(se, q->reason[0] ? q->reason : "closed by admin");
    hc_sess_ok(j->ss, j->conn, q->id);
}

void hc_sess_stats_tick(hc_sess_t *se)
{
    uint64_t in = 0, out = 0;
    for (hc_part_t *p = se->head; p; p = p->next) {
        for (uint32_t i = 0; i < p->n_pubs; i++) {
            if (!p->pubs[i].in) continue;
            hc_instream_stats_t st;
            hc_instream_stats(p->pubs[i].in, &st);
            in += st.bitrate_bps;
        }
        for (uint32_t i = 0; i < p->n_tracks; i++) {
            if (!p->tracks[i].t) continue;
            hc_track_stats_t st;
            hc_track_stats(p->tracks[i].t, &st);
            out += st.bitrate_bps;
        }
    }
    hc_sessions_t *ss = se->ss;
    pthread_mutex_lock(&ss->mu);
    se->reg_in_kbps = sat32((in + 500) / 1000);
    se->reg_out_kbps = sat32((out + 500) / 1000);
    pthread_mutex_unlock(&ss->mu);
}
