/*
 * session_class.c - class sessions (one or two teachers teach, remote
 * classrooms watch, raise hands and get the floor), and the hand and floor
 * requests that conference sessions share.
 *
 * Tracks of a class receiver, by slot:
 *   main-audio/main-video    the lecturer (the first teacher to join), for
 *                            everyone but the lecturer;
 *   tutor-audio/tutor-video  the second teacher (dual-teacher model: the
 *                            tutor in the remote room), for everyone but the
 *                            tutor, while there is one;
 *   floor-audio/floor-video  the floor holder's streams, for everyone but
 *                            the holder (empty while nobody holds it).
 * The floor pair exists from the start, so a grant is only a source switch
 * on tracks every receiver already has: the router rewrites SSRC,
 * sequence numbers and timestamps, and the receiver sees one continuous
 * stream (no gap it would take for loss).
 */
#include "relay/session_int.h"

#include "proto/err.h"

#include <stdio.h>
#include <string.h>

enum { SLOT_MAIN = 1, SLOT_TUTOR = 2, SLOT_FLOOR = 3 };

static int class_check_publish(hc_sess_t *se, hc_sig_role_t role, const hc_sig_join_t *j,
                               char *reason, size_t cap)
{
    (void)se;
    (void)role;
    unsigned audio = 0, video = 0;
    for (size_t i = 0; i < j->n_publish; i++) {
        const hc_sig_stream_pub_t *s = &j->publish[i];
        if (s->kind == HC_SIG_MEDIA_AUDIO) audio++;
        if (s->kind == HC_SIG_MEDIA_VIDEO) {
            if (!hc_sess_pub_sibling(j, i)) video++; /* a simulcast group is one */
            if (s->tag != HC_SIG_TAG_MAIN) {
                snprintf(reason, cap, "join.publish[%zu]: a class carries tag main video only", i);
                return -HC_EUNSUPPORTED;
            }
        }
    }
    if (audio > 1 || video > 1) {
        snprintf(reason, cap,
                 "join.publish: a class participant publishes one audio and one "
                 "video stream at most");
        return -HC_EUNSUPPORTED;
    }
    return 0;
}

static int class_admit(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap)
{
    if (p->role != HC_SIG_ROLE_TEACHER) return 0;
    for (int i = 0; i < 2; i++) {
        if (!se->teacher[i]) {
            se->teacher[i] = p;
            p->teacher = (uint32_t)i + 1;
            return 0;
        }
    }
    snprintf(reason, cap, "class %s has two teachers already", se->id);
    return -HC_EFULL;
}

static void class_leave(hc_sess_t *se, hc_part_t *p)
{
    if (p->teacher) se->teacher[p->teacher - 1] = NULL;
    p->teacher = 0;
    hc_sess_floor_gone(se, p, hc_floor_remove(&se->floor, p->num));
}

static void want(hc_slot_want_t *out, uint32_t *n, uint32_t cap, uint32_t slot, hc_sig_media_t kind,
                 const char *prefix)
{
    if (*n >= cap) return;
    hc_slot_want_t *w = &out[(*n)++];
    w->slot = slot;
    w->kind = kind;
    bool video = kind == HC_SIG_MEDIA_VIDEO;
    w->tag = video ? HC_SIG_TAG_MAIN : HC_SIG_TAG_AUDIO;
    w->codec = video ? HC_SIG_CODEC_H264 : HC_SIG_CODEC_OPUS;
    snprintf(w->mid, sizeof(w->mid), "%s-%s", prefix, video ? "video" : "audio");
}

static uint32_t class_wanted(hc_sess_t *se, hc_part_t *r, hc_slot_want_t *out, uint32_t cap)
{
    uint32_t n = 0;
    if (r->teacher != 1) {
        want(out, &n, cap, SLOT_MAIN, HC_SIG_MEDIA_AUDIO, "main");
        want(out, &n, cap, SLOT_MAIN, HC_SIG_MEDIA_VIDEO, "main");
    }
    if (se->teacher[1] && r->teacher != 2) {
        want(out, &n, cap, SLOT_TUTOR, HC_SIG_MEDIA_AUDIO, "tutor");
        want(out, &n, cap, SLOT_TUTOR, HC_SIG_MEDIA_VIDEO, "tutor");
    }
    want(out, &n, cap, SLOT_FLOOR, HC_SIG_MEDIA_AUDIO, "floor");
    want(out, &n, cap, SLOT_FLOOR, HC_SIG_MEDIA_VIDEO, "floor");
    return n;
}

static hc_spub_t *class_source(hc_sess_t *se, hc_part_t *r, uint32_t slot, hc_sig_media_t kind,
                               hc_part_t **owner)
{
    hc_part_t *q = NULL;
    switch (slot) {
    case SLOT_MAIN: q = se->teacher[0]; break;
    case SLOT_TUTOR: q = se->teacher[1]; break;
    case SLOT_FLOOR: q = se->c_floor; break;
    }
    if (!q || q == r) return NULL;
    hc_spub_t *s = hc_part_pub(q, kind, HC_SIG_TAG_NONE);
    if (s) *owner = q;
    return s;
}

const hc_sess_kind_ops_t hc_sess_class_ops = {
    .check_publish = class_check_publish,
    .admit = class_admit,
    .leave = class_leave,
    .wanted = class_wanted,
    .source = class_source,
};

/* ---- hands and floor (class and conference) ---- */

static void send_hand(hc_sess_t *se, const hc_part_t *p, bool raised)
{
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_HAND);
    if (!m) return;
    snprintf(m->hand.participant, sizeof(m->hand.participant), "%s", p->id);
    m->hand.raised = raised;
    hc_sess_broadcast(se, m, NULL);
    hc_sess_msg_free(m);
}

/* After the floor moved: tell everyone, pin the conference speaker, and
 * (unless the caller syncs anyway) switch the tracks. */
static void floor_moved(hc_sess_t *se, const hc_part_t *by, bool sync)
{
    hc_sessions_t *ss = se->ss;
    hc_reg_count(ss, &ss->ctr.floor_changes, 1);
    hc_part_t *holder = hc_sess_find_num(se, hc_floor_holder(&se->floor));
    hc_sig_msg_t *m = hc_sess_msg(HC_SIG_FLOOR);
    if (m) {
        if (holder) snprintf(m->floor.participant, sizeof(m->floor.participant), "%s", holder->id);
        if (by) snprintf(m->floor.by, sizeof(m->floor.by), "%s", by->id);
        hc_sess_broadcast(se, m, NULL);
        hc_sess_msg_free(m);
    }
    if (se->spk) {
        hc_speakers_pin(se->spk, holder ? holder->num : 0);
        hc_speakers_tick(se->spk, hc_sess_now_us(se));
    }
    if (sync) {
        hc_sess_sync(se);
        hc_sess_flush_tracks(se, NULL);
    }
}

void hc_sess_floor_gone(hc_sess_t *se, hc_part_t *p, int bits)
{
    (void)p; /* gone: participant_left says enough about its hand */
    if (bits & HC_FLOOR_MOVED) floor_moved(se, NULL, false);
}

void hc_sess_hand_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    uint32_t id = hc_sig_request_id(j->msg);
    bool raise = j->msg->type == HC_SIG_RAISE_HAND;
    hc_part_t *p = se->closed ? NULL : hc_sess_find_conn(se, j->conn);
    if (!p) {
        hc_sess_error(j->ss, j->conn, id, HC_ENOTFOUND, "not joined");
        return;
    }
    if (!se->hands) {
        hc_sess_error(j->ss, j->conn, id, HC_EUNSUPPORTED, "no hands in a %s",
                      hc_sig_kind_name(se->kind));
        return;
    }
    int rc = raise ? hc_floor_raise(&se->floor, p->num) : hc_floor_lower(&se->floor, p->num);
    if (rc < 0) {
        hc_sess_error(j->ss, j->conn, id, rc, "too many raised hands");
        return;
    }
    hc_sess_ok(j->ss, j->conn, id);
    if (rc == 1) {
        p->hand = raise;
        send_hand(se, p, raise);
    }
}

void hc_sess_floor_job(hc_sess_job_t *j)
{
    hc_sess_t *se = j->se;
    hc_sessions_t *ss = j->ss;
    uint32_t id = hc_sig_request_id(j->msg);
    hc_part_t *p = se->closed ? NULL : hc_sess_find_conn(se, j->conn);
    if (!p) {
        hc_sess_error(ss, j->conn, id, HC_ENOTFOUND, "not joined");
        return;
    }
    if (!se->hands) {
        hc_sess_error(ss, j->conn, id, HC_EUNSUPPORTED, "no floor in a %s",
                      hc_sig_kind_name(se->kind));
        return;
    }
    hc_part_t *target = NULL;
    int bits;
    uint32_t prev = 0;
    if (j->msg->type == HC_SIG_GRANT_FLOOR) {
        const char *who = j->msg->grant_floor.participant;
        target = hc_sess_find_id(se, who);
        if (!target) {
            hc_sess_error(ss, j->conn, id, HC_ENOTFOUND, "no participant %s", who);
            return;
        }
        if (target->teacher) {
            hc_sess_error(ss, j->conn, id, HC_EINVAL,
                          "%s is a teacher, whom everyone hears already", who);
            return;
        }
        bits = hc_floor_grant(&se->floor, target->num, &prev);
    } else {
        uint32_t holder = hc_floor_holder(&se->floor);
        const char *who = j->msg->revoke_floor.participant;
        if (p->role == HC_SIG_ROLE_SITE && holder != p->num) {
            hc_sess_error(ss, j->conn, id, HC_EPERM, "a site may only hand back its own floor");
            return;
        }
        uint32_t expect = 0;
        if (who[0]) {
            hc_part_t *q = hc_sess_find_id(se, who);
            if (!q || q->num != holder) {
                hc_sess_error(ss, j->conn, id, HC_ENOTFOUND, "%s does not hold the floor", who);
                return;
            }
            expect = q->num;
        }
        bits = hc_floor_revoke(&se->floor, expect, &prev);
        if (bits < 0) {
            hc_sess_error(ss, j->conn, id, bits, "nobody holds the floor");
            return;
        }
    }
    hc_sess_ok(ss, j->conn, id);
    if ((bits & HC_FLOOR_LOWERED) && target) {
        target->hand = false;
        send_hand(se, target, false);
    }
    if (bits & HC_FLOOR_MOVED) floor_moved(se, p, true);
}
