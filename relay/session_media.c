/*
 * session_media.c - the media wiring every session kind shares: SSRCs
 * (steered to the session's worker), SRTP keys, a participant's leg, the
 * instreams of what it publishes and the tracks of what it receives, and
 * hc_sess_sync(), which matches tracks and sources to the kind's wishes
 * (see session_int.h).
 */
#include "relay/session_int.h"

#include "proto/b64.h"
#include "proto/err.h"
#include "relay/core/steer.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* media: SSRCs, keys, legs, instreams, tracks                         */

/* Every SSRC the relay hands out steers to the session's worker. */
static uint32_t new_ssrc(hc_sess_t *se)
{
    unsigned n = se->ss->ws ? se->ss->ws->n : 1;
    return hc_steer_make_ssrc(hc_sess_rand32(), se->widx, n ? n : 1);
}

static bool is_video(hc_sig_media_t k)
{
    return k == HC_SIG_MEDIA_VIDEO;
}

static hc_media_kind_t media_kind(hc_sig_media_t k)
{
    return is_video(k) ? HC_MEDIA_VIDEO : HC_MEDIA_AUDIO;
}

/* The SSRCs of a stream the relay assigns, where unset or clashing: the
 * media SSRC, and for video its RFC 4588 RTX and FlexFEC SSRCs (audio
 * repairs with RED, so it has neither). */
static void fresh_ssrcs(hc_sess_t *se, bool video, uint32_t *ssrc, uint32_t *rtx, uint32_t *fec)
{
    if (!*ssrc) *ssrc = new_ssrc(se);
    if (video && (!*rtx || *rtx == *ssrc)) *rtx = new_ssrc(se);
    if (video && (!*fec || *fec == *ssrc || *fec == *rtx)) *fec = new_ssrc(se);
    if (!video) *rtx = *fec = 0;
}

/* Up to this many fresh SSRCs when the router reports a collision. */
#define SSRC_TRIES 8

static int leg_up(hc_sess_t *se, hc_part_t *p)
{
    hc_router_t *r = hc_sess_router(se);
    int rc = -HC_EEXIST;
    for (int i = 0; i < SSRC_TRIES && rc == -HC_EEXIST; i++) {
        if (!p->rtcp_ssrc) p->rtcp_ssrc = new_ssrc(se);
        if (!p->relay_ssrc || p->relay_ssrc == p->rtcp_ssrc) p->relay_ssrc = new_ssrc(se);
        hc_leg_cfg_t lc = {
            .suite = p->suite,
            .rtcp_ssrc = p->rtcp_ssrc,
            .relay_ssrc = p->relay_ssrc,
            .addr = NULL,
            .owner = p,
        };
        memcpy(lc.key_up, p->key_up, sizeof(lc.key_up));
        memcpy(lc.key_down, p->key_down, sizeof(lc.key_down));
        rc = hc_router_leg_add(r, &lc, &p->leg);
        if (rc == -HC_EEXIST) p->rtcp_ssrc = p->relay_ssrc = 0;
    }
    return rc;
}

static int instream_up(hc_sess_t *se, hc_part_t *p, hc_spub_t *s)
{
    hc_router_t *r = hc_sess_router(se);
    bool video = is_video(s->kind);
    int rc = -HC_EEXIST;
    for (int i = 0; i < SSRC_TRIES && rc == -HC_EEXIST; i++) {
        /* FlexFEC is hop by hop: the publisher may protect its video on
         * fec_ssrc, the instream recovers from it (router.h). */
        fresh_ssrcs(se, video, &s->ssrc, &s->rtx_ssrc, &s->fec_ssrc);
        hc_instream_cfg_t ic = {
            .kind = media_kind(s->kind),
            .ssrc = s->ssrc,
            .rtx_ssrc = s->rtx_ssrc,
            .pt = video ? HC_SESS_PT_H264 : HC_SESS_PT_OPUS,
            .rtx_pt = video ? HC_SESS_PT_H264_RTX : HC_SESS_PT_OPUS_RTX,
            .clock_rate = video ? 90000 : 48000,
            .owner = p,
            .fec_ssrc = s->fec_ssrc,
        };
        rc = hc_router_instream_add(r, p->leg, &ic, &s->in);
        if (rc == -HC_EEXIST) s->ssrc = s->rtx_ssrc = s->fec_ssrc = 0;
    }
    return rc;
}

static int track_up(hc_sess_t *se, hc_part_t *p, hc_strack_t *t)
{
    hc_router_t *r = hc_sess_router(se);
    bool video = is_video(t->kind);
    int rc = -HC_EEXIST;
    for (int i = 0; i < SSRC_TRIES && rc == -HC_EEXIST; i++) {
        /* fec_ssrc: the track's own FlexFEC stream, sent when this
         * subscriber's reports call for it (HC_FEC_AUTO). */
        fresh_ssrcs(se, video, &t->ssrc, &t->rtx_ssrc, &t->fec_ssrc);
        hc_track_cfg_t tc = {
            .kind = media_kind(t->kind),
            .ssrc = t->ssrc,
            .rtx_ssrc = t->rtx_ssrc,
            .pt = video ? HC_SESS_PT_H264 : HC_SESS_PT_OPUS,
            .rtx_pt = video ? HC_SESS_PT_H264_RTX : HC_SESS_PT_OPUS_RTX,
            .clock_rate = video ? 90000 : 48000,
            .owner = p,
            .fec_ssrc = t->fec_ssrc,
            .fec_pt = HC_SESS_PT_FLEXFEC,
        };
        rc = hc_router_track_add(r, p->leg, &tc, &t->t);
        if (rc == -HC_EEXIST) t->ssrc = t->rtx_ssrc = t->fec_ssrc = 0;
    }
    if (rc < 0) t->t = NULL;
    return rc;
}

/* Fresh keys, the leg and its instreams. On failure nothing is left in the
 * router. */
int hc_sess_media_up(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap)
{
    size_t klen = hc_srtp_key_len(p->suite);
    if (klen == 0 || RAND_bytes(p->key_up, (int)klen) != 1 ||
        RAND_bytes(p->key_down, (int)klen) != 1) {
        snprintf(reason, cap, "no random keys");
        return -HC_EINTERNAL;
    }
    int rc = leg_up(se, p);
    if (rc < 0) {
        snprintf(reason, cap, "relay cannot add a media leg: %s", hc_strerror(rc));
        p->leg = NULL;
        return rc == -HC_EFULL ? rc : -HC_EINTERNAL;
    }
    for (uint32_t i = 0; i < p->n_pubs; i++) {
        rc = instream_up(se, p, &p->pubs[i]);
        if (rc < 0) {
            snprintf(reason, cap, "relay cannot add stream %s: %s", p->pubs[i].mid,
                     hc_strerror(rc));
            hc_router_leg_remove(hc_sess_router(se), p->leg);
            p->leg = NULL;
            for (uint32_t k = 0; k < p->n_pubs; k++) p->pubs[k].in = NULL;
            return rc == -HC_EFULL ? rc : -HC_EINTERNAL;
        }
    }
    return 0;
}

/* Remove the leg (and with it the instreams and tracks); the track entries
 * stay so a rebuild keeps their SSRCs. */
void hc_sess_media_down(hc_sess_t *se, hc_part_t *p)
{
    if (p->leg) hc_router_leg_remove(hc_sess_router(se), p->leg);
    p->leg = NULL;
    for (uint32_t i = 0; i < p->n_pubs; i++) p->pubs[i].in = NULL;
    for (uint32_t i = 0; i < p->n_tracks; i++) {
        p->tracks[i].t = NULL;
        p->tracks[i].src = 0;
    }
}

static void sync_part(hc_sess_t *se, hc_part_t *p)
{
    hc_router_t *r = hc_sess_router(se);
    hc_slot_want_t want[HC_SIG_TRACKS_MAX];
    uint32_t nw = p->subscribe ? se->ops->wanted(se, p, want, HC_SIG_TRACKS_MAX) : 0;
    for (uint32_t i = 0; i < p->n_tracks; i++) p->tracks[i].wanted = false;
    for (uint32_t w = 0; w < nw; w++) {
        hc_strack_t *t = NULL;
        for (uint32_t i = 0; i < p->n_tracks && !t; i++)
            if (p->tracks[i].slot == want[w].slot && p->tracks[i].kind == want[w].kind)
                t = &p->tracks[i];
        if (!t) {
            if (p->n_tracks >= HC_SIG_TRACKS_MAX) continue;
            t = &p->tracks[p->n_tracks++];
            memset(t, 0, sizeof(*t));
            t->slot = want[w].slot;
            t->kind = want[w].kind;
            p->tracks_dirty = true;
        }
        t->tag = want[w].tag;
        t->codec = want[w].codec;
        if (strcmp(t->mid, want[w].mid) != 0) {
            snprintf(t->mid, sizeof(t->mid), "%s", want[w].mid);
            p->tracks_dirty = true;
        }
        t->wanted = true;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < p->n_tracks; i++) {
        hc_strack_t *t = &p->tracks[i];
        if (!t->wanted) {
            if (t->t) hc_router_track_remove(r, t->t);
            p->tracks_dirty = true;
            continue;
        }
        if (k != i) p->tracks[k] = *t;
        k++;
    }
    p->n_tracks = k;
    for (uint32_t i = 0; i < p->n_tracks; i++) {
        hc_strack_t *t = &p->tracks[i];
        if (!t->t && p->leg && track_up(se, p, t) < 0) {
            /* Router at its track limit: the client is not told of a
             * track that would carry nothing; a later sync retries. */
            continue;
        }
        hc_part_t *owner = NULL;
        hc_spub_t *s = se->ops->source(se, p, t->slot, t->kind, &owner);
        hc_instream_t *in = s ? s->in : NULL;
        hc_spub_t *grp[HC_SIG_STREAMS_MAX];
        uint32_t ng = s && owner ? hc_part_group(owner, s, grp, HC_SIG_STREAMS_MAX) : 0;
        if (ng >= 2 && t->t) {
            /* A simulcast group: the router picks the layer per receiver
             * (idempotent when the group did not change). */
            hc_instream_t *lay[4];
            uint32_t nl = 0;
            for (uint32_t g = 0; g < ng && nl < 4; g++)
                if (grp[g]->in) lay[nl++] = grp[g]->in;
            if (hc_router_track_set_layers(r, t->t, lay, nl) < 0 && hc_track_source(t->t) != in)
                hc_router_track_set_source(r, t->t, in);
        } else if (t->t && hc_track_source(t->t) != in) {
            hc_router_track_set_source(r, t->t, in);
        }
        t->src = (s && owner) ? owner->num : 0;
        if (t->src) memcpy(t->src_id, owner->id, sizeof(t->src_id));
        if (t->src != t->said) p->tracks_dirty = true;
    }
}

void hc_sess_sync(hc_sess_t *se)
{
    se->c_floor = se->hands ? hc_sess_find_num(se, hc_floor_holder(&se->floor)) : NULL;
    if (se->spk) {
        uint32_t n;
        const uint32_t *a = hc_speakers_audio(se->spk, &n);
        for (uint32_t i = 0; i < n && i < HC_SPEAKERS_MAX_SLOTS; i++)
            se->c_audio[i] = hc_sess_find_num(se, a[i]);
        const uint32_t *v = hc_speakers_video(se->spk, &n);
        for (uint32_t i = 0; i < n && i < HC_SPEAKERS_MAX_SLOTS; i++)
            se->c_video[i] = hc_sess_find_num(se, v[i]);
    }
    for (hc_part_t *p = se->head; p; p = p->next)
        if (p->leg) sync_part(se, p);
}

static void stream_info_of_track(hc_sess_t *se, const hc_strack_t *t, hc_sig_stream_info_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->mid, sizeof(o->mid), "%s", t->mid);
    o->ssrc = t->ssrc;
    o->has_rtx_ssrc = t->rtx_ssrc != 0;
    o->rtx_ssrc = t->rtx_ssrc;
    o->has_fec_ssrc = t->fec_ssrc != 0;
    o->fec_ssrc = t->fec_ssrc;
    o->kind = t->kind;
    o->tag = t->tag;
    o->codec = t->codec;
    (void)se;
    if (t->src) snprintf(o->participant, sizeof(o->participant), "%s", t->src_id);
}

void hc_sess_receive_list(hc_part_t *p, hc_sig_stream_info_t *out, size_t *n)
{
    size_t k = 0;
    for (uint32_t i = 0; i < p->n_tracks && k < HC_SIG_TRACKS_MAX; i++) {
        hc_strack_t *t = &p->tracks[i];
        if (!t->t) continue;
        stream_info_of_track(p->se, t, &out[k++]);
        t->said = t->src;
    }
    *n = k;
    p->tracks_dirty = false;
}

void hc_sess_flush_tracks(hc_sess_t *se, const hc_part_t *except)
{
    hc_sig_msg_t *m = NULL;
    for (hc_part_t *p = se->head; p; p = p->next) {
        if (!p->tracks_dirty || p == except) continue;
        if (!p->conn) continue; /* told in `joined` when it resumes */
        if (!m && !(m = hc_sess_msg(HC_SIG_TRACKS))) return;
        snprintf(m->tracks.session, sizeof(m->tracks.session), "%s", se->id);
        hc_sess_receive_list(p, m->tracks.receive, &m->tracks.n_receive);
        hc_sess_send(se->ss, p->conn, m);
    }
    hc_sess_msg_free(m);
}

void hc_sess_stream_info_of_pub(const hc_spub_t *s, hc_sig_stream_info_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->mid, sizeof(o->mid), "%s", s->mid);
    o->ssrc = s->ssrc;
    o->has_rtx_ssrc = s->rtx_ssrc != 0;
    o->rtx_ssrc = s->rtx_ssrc;
    o->has_fec_ssrc = s->fec_ssrc != 0;
    o->fec_ssrc = s->fec_ssrc;
    o->kind = s->kind;
    o->tag = s->tag;
    o->codec = s->codec;
    o->has_layer = s->has_layer;
    o->layer = s->layer;
}

void hc_sess_peer(const hc_part_t *p, hc_sig_peer_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->participant, sizeof(out->participant), "%s", p->id);
    snprintf(out->site, sizeof(out->site), "%s", p->site);
    out->role = p->role;
    for (uint32_t i = 0; i < p->n_pubs && i < HC_SIG_STREAMS_MAX; i++)
        hc_sess_stream_info_of_pub(&p->pubs[i], &out->streams[out->n_streams++]);
    out->hand = p->hand;
}
