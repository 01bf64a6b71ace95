/*
 * session_consult.c - consult sessions: 2-8 parties (a specialist, the
 * remote clinic, maybe a second specialist), each stream tagged audio,
 * diagnostic or face, everyone receiving everyone else's streams, and the
 * control channel (proto/SIGNALING.md, "Consult: control channel with
 * deadline").
 *
 * Tracks of a consult receiver: for every other party and every stream it
 * publishes, one track "<participant>-<tag>" (at most 7 x 3 = 21, below the
 * 24 a receive list may hold). A party publishes at most one stream per
 * tag, so (participant, tag) names a slot.
 *
 * Control: the relay stamps `from`, forwards to `to` (or every other
 * party), and keeps per delivery the forward time (relay/ctlchan.h): the
 * ack is forwarded to the sender with a `control_rtt` right after; a
 * receiver whose oldest unacknowledged delivery passes the session's
 * control_deadline_ms raises `alarm` control_lost to every party, once,
 * and control_restored when it catches up.
 */
#include "relay/session_int.h"

#include "proto/err.h"

#include <stdio.h>
#include <string.h>

static int consult_check_publish(hc_sess_t *se, hc_sig_role_t role, const hc_sig_join_t *j,
                                 char *reason, size_t cap)
{
    (void)se;
    (void)role;
    for (size_t i = 0; i < j->n_publish; i++) {
        hc_sig_tag_t t = j->publish[i].tag;
        if (t != HC_SIG_TAG_AUDIO && t != HC_SIG_TAG_DIAGNOSTIC && t != HC_SIG_TAG_FACE) {
            snprintf(reason, cap,
                     "join.publish[%zu]: consult streams are tagged audio, "
                     "diagnostic or face",
                     i);
            return -HC_EUNSUPPORTED;
        }
        for (size_t k = 0; k < i && !hc_sess_pub_sibling(j, i); k++) {
            if (j->publish[k].tag == t) {
                snprintf(reason, cap, "join.publish[%zu]: one %s stream per party", i,
                         hc_sig_tag_name(t));
                return -HC_EUNSUPPORTED;
            }
        }
    }
    return 0;
}

static int consult_admit(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap)
{
    for (int i = 0; i < HC_SESS_CONSULT_MAX; i++) {
        if (!se->party[i]) {
            se->party[i] = p;
            p->party = i;
            hc_ctlchan_reset_party(se->ctl, (uint32_t)i);
            return 0;
        }
    }
    snprintf(reason, cap, "consult %s has %d parties already", se->id, HC_SESS_CONSULT_MAX);
    return -HC_EFULL;
}

static void send_alarm(hc_sess_t *se, const hc_ctlchan_event_t *ev, uint64_t now_us)
{
    hc_part_t *q = se->party[ev->party];
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_ALARM);
    if (!q || !m) {
        hc_sess_msg_free(m);
        return;
    }
    snprintf(m->alarm.participant, sizeof(m->alarm.participant), "%s", q->id);
    if (ev->kind == HC_CTLCHAN_LOST) {
        m->alarm.kind = HC_SIG_ALARM_CONTROL_LOST;
        uint64_t age_ms = now_us > ev->since_us ? (now_us - ev->since_us) / 1000u : 0;
        int64_t since = hc_sess_wall_ms() - (int64_t)age_ms;
        m->alarm.has_since_ms = true;
        m->alarm.since_ms = since > 0 ? since : 0;
        snprintf(m->alarm.detail, sizeof(m->alarm.detail), "no control_ack from %s for %llu ms",
                 q->site, (unsigned long long)age_ms);
        hc_reg_count(se->ss, &se->ss->ctr.control_alarms, 1);
    } else {
        m->alarm.kind = HC_SIG_ALARM_CONTROL_RESTORED;
        snprintf(m->alarm.detail, sizeof(m->alarm.detail), "control_ack from %s again", q->site);
    }
    /* Both sides must see it at once: in a consult that is everyone. */
    hc_sess_broadcast(se, m, NULL);
    hc_sess_msg_free(m);
}

static void ctl_poll(hc_sess_t *se, uint64_t now)
{
    hc_ctlchan_event_t ev[HC_SESS_CONSULT_MAX];
    size_t n = hc_ctlchan_poll(se->ctl, now, ev, HC_SESS_CONSULT_MAX);
    for (size_t i = 0; i < n; i++) send_alarm(se, &ev[i], now);
}

static void ctl_timer_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)t;
    hc_sess_t *se = ud;
    if (se->closed) return;
    ctl_poll(se, hc_loop_now_us(loop));
    hc_sess_ctl_arm(se);
}

void hc_sess_ctl_arm(hc_sess_t *se)
{
    if (se->closed || !se->ctl) return;
    uint64_t due = hc_ctlchan_next_due(se->ctl);
    if (due == UINT64_MAX) {
        hc_timer_stop(&se->ctl_timer);
        return;
    }
    hc_timer_start(hc_worker_loop(se->w), &se->ctl_timer, due, ctl_timer_cb, se);
}

static void consult_leave(hc_sess_t *se, hc_part_t *p)
{
    if (p->party < 0) return;
    se->party[p->party] = NULL;
    hc_ctlchan_reset_party(se->ctl, (uint32_t)p->party);
    p->party = -1;
    /* Parties waiting on the one that left may be lost no more. */
    ctl_poll(se, hc_sess_now_us(se));
    hc_sess_ctl_arm(se);
}

static uint32_t consult_wanted(hc_sess_t *se, hc_part_t *r, hc_slot_want_t *out, uint32_t cap)
{
    uint32_t n = 0;
    for (hc_part_t *q = se->head; q; q = q->next) {
        if (q == r) continue;
        for (uint32_t i = 0; i < q->n_pubs && n < cap; i++) {
            const hc_spub_t *s = &q->pubs[i];
            if (hc_part_pub_dup(q, s)) continue; /* one track per simulcast group */
            hc_slot_want_t *w = &out[n++];
            w->slot = (q->num << 8) | (uint32_t)s->tag;
            w->kind = s->kind;
            w->tag = s->tag;
            w->codec = s->codec;
            snprintf(w->mid, sizeof(w->mid), "%s-%s", q->id, hc_sig_tag_name(s->tag));
        }
    }
    return n;
}

static hc_spub_t *consult_source(hc_sess_t *se, hc_part_t *r, uint32_t slot, hc_sig_media_t kind,
                                 hc_part_t **owner)
{
    hc_part_t *q = hc_sess_find_num(se, slot >> 8);
    if (!q || q == r) return NULL;
    hc_spub_t *s = hc_part_pub(q, kind, (hc_sig_tag_t)(slot & 0xffu));
    if (s) *owner = q;
    return s;
}

const hc_sess_kind_ops_t hc_sess_consult_ops = {
    .check_publish = consult_check_publish,
    .admit = consult_admit,
    .leave = consult_leave,
    .wanted = consult_wanted,
    .source = consult_source,
};

/* ---- control channel ---- */

/* The joined sender of a control frame, or NULL after an error reply.
 * Control frames are events: errors carry no request id. */
static hc_part_t *ctl_sender(hc_sess_job_t *j, uint32_t seq, const char *from)
{
    hc_sess_t *se = j->se;
    const char *type = hc_sig_type_name(j->msg->type);
    hc_part_t *p = se->closed ? NULL : hc_sess_find_conn(se, j->conn);
    if (!p) {
        hc_sess_error(j->ss, j->conn, 0, HC_ENOTFOUND, "%s seq %u: not joined", type, seq);
        return NULL;
    }
    if (se->kind != HC_SIG_KIND_CONSULT || p->party < 0) {
        hc_sess_error(j->ss, j->conn, 0, HC_EUNSUPPORTED, "%s seq %u: control is for consults",
                      type, seq);
        return NULL;
    }
    if (from[0]) {
        hc_sess_error(j->ss, j->conn, 0, HC_EPERM, "%s seq %u: from is set by the relay", type,
                      seq);
        return NULL;
    }
    return p;
}

void hc_sess_control_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_sig_control_t *m = &j->msg->control;
    hc_part_t *p = ctl_sender(j, m->seq, m->from);
    if (!p) return;
    hc_part_t *to[HC_SESS_CONSULT_MAX];
    uint32_t party[HC_SESS_CONSULT_MAX];
    size_t n = 0;
    if (m->to[0]) {
        hc_part_t *q = hc_sess_find_id(se, m->to);
        if (!q || q->party < 0) {
            hc_sess_error(j->ss, j->conn, 0, HC_ENOTFOUND, "control seq %u: no participant %s",
                          m->seq, m->to);
            return;
        }
        if (q == p) {
            hc_sess_error(j->ss, j->conn, 0, HC_EINVAL, "control seq %u: to yourself", m->seq);
            return;
        }
        to[n++] = q;
    } else {
        for (hc_part_t *q = se->head; q && n < HC_SESS_CONSULT_MAX; q = q->next)
            if (q != p && q->party >= 0) to[n++] = q;
        if (n == 0) {
            hc_sess_error(j->ss, j->conn, 0, HC_ENOTFOUND, "control seq %u: nobody to receive it",
                          m->seq);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) party[i] = (uint32_t)to[i]->party;
    int rc = hc_ctlchan_send(se->ctl, (uint32_t)p->party, m->seq, party, n, hc_sess_now_us(se));
    if (rc == -HC_EFULL) {
        hc_sess_error(j->ss, j->conn, 0, rc,
                      "control seq %u: %u messages wait for an ack already; not forwarded", m->seq,
                      hc_ctlchan_pending(se->ctl, (uint32_t)p->party));
        return;
    }
    if (rc < 0) {
        hc_sess_error(j->ss, j->conn, 0, HC_EINVAL,
                      "control seq %u: not after your previous seq (replayed or out of order)",
                      m->seq);
        return;
    }
    /* Forward the frame itself: `from` stamped, `to` removed. */
    m->to[0] = 0;
    snprintf(m->from, sizeof(m->from), "%s", p->id);
    for (size_t i = 0; i < n; i++) hc_sess_send(j->ss, to[i]->conn, j->msg);
    hc_reg_count(j->ss, &j->ss->ctr.control_msgs, 1);
    hc_sess_ctl_arm(se);
}

void hc_sess_control_ack_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_sig_control_ack_t *m = &j->msg->control_ack;
    hc_part_t *p = ctl_sender(j, m->seq, m->from);
    if (!p) return;
    hc_part_t *q = NULL;
    if (m->to[0]) {
        q = hc_sess_find_id(se, m->to);
    } else {
        /* Absent `to`: the other party of a two-party consult. */
        for (hc_part_t *o = se->head; o; o = o->next) {
            if (o == p || o->party < 0) continue;
            if (q) {
                hc_sess_error(j->ss, j->conn, 0, HC_EINVAL,
                              "control_ack seq %u: name the sender in `to`", m->seq);
                return;
            }
            q = o;
        }
    }
    if (!q || q->party < 0) {
        hc_sess_error(j->ss, j->conn, 0, HC_ENOTFOUND, "control_ack seq %u: no participant %s",
                      m->seq, m->to[0] ? m->to : "to acknowledge");
        return;
    }
    uint64_t now = hc_sess_now_us(se), rtt_us = 0;
    hc_ctlchan_event_t ev;
    int rc =
        hc_ctlchan_ack(se->ctl, (uint32_t)p->party, (uint32_t)q->party, m->seq, now, &rtt_us, &ev);
    if (rc < 0) {
        hc_sess_error(j->ss, j->conn, 0, HC_ENOTFOUND,
                      "control_ack seq %u: no control from %s awaits your ack", m->seq, q->id);
        return;
    }
    m->to[0] = 0;
    snprintf(m->from, sizeof(m->from), "%s", p->id);
    hc_sess_send(j->ss, q->conn, j->msg);
    hc_sig_msg_t *r = hc_sess_msg(HC_SIG_CONTROL_RTT);
    if (r) {
        r->control_rtt.seq = m->seq;
        double ms = (double)rtt_us / 1000.0;
        r->control_rtt.rtt_ms = ms > 600000.0 ? 600000.0 : ms;
        hc_sess_send(j->ss, q->conn, r);
        hc_sess_msg_free(r);
    }
    if (ev.kind != HC_CTLCHAN_NONE) send_alarm(se, &ev, now);
    hc_sess_ctl_arm(se);
}
