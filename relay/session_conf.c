/*
 * session_conf.c - conference sessions: up to 200 sites, each may publish
 * audio (and video); every receiver gets the K loudest audio streams and
 * the video of the last N dominant speakers (relay/speakers.h), chosen
 * every HC_SESS_TICK_MS from the RFC 6464 levels the router measures.
 *
 * Tracks of a conference receiver: speaker<i>-audio for i < K and
 * speaker<i>-video for i < N. They exist from the join on; a slot change
 * is a source switch (the router keeps each track continuous) and a
 * `tracks` event naming the new participant. A receiver's own stream in a
 * slot is not sent back to it: that track pauses while it holds the slot.
 * The floor, when a host grants it, pins the holder into slot 0.
 */
#include "relay/session_int.h"

#include "proto/err.h"

#include <stdio.h>
#include <string.h>

#define SLOT_AUDIO 0x100u
#define SLOT_VIDEO 0x200u

static int conf_check_publish(hc_sess_t *se, hc_sig_role_t role, const hc_sig_join_t *j,
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
                snprintf(reason, cap, "join.publish[%zu]: a conference carries tag main video only",
                         i);
                return -HC_EUNSUPPORTED;
            }
        }
    }
    if (audio > 1 || video > 1) {
        snprintf(reason, cap,
                 "join.publish: a conference site publishes one audio and one "
                 "video stream at most");
        return -HC_EUNSUPPORTED;
    }
    return 0;
}

static int conf_admit(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap)
{
    int rc = hc_speakers_add(se->spk, p->num, hc_part_pub(p, HC_SIG_MEDIA_AUDIO, 0) != NULL,
                             hc_part_pub(p, HC_SIG_MEDIA_VIDEO, 0) != NULL);
    if (rc < 0) {
        snprintf(reason, cap, "conference %s is full", se->id);
        return rc;
    }
    /* A free video slot shows the newcomer at once. */
    hc_speakers_tick(se->spk, hc_sess_now_us(se));
    return 0;
}

static void conf_leave(hc_sess_t *se, hc_part_t *p)
{
    hc_speakers_remove(se->spk, p->num);
    hc_sess_floor_gone(se, p, hc_floor_remove(&se->floor, p->num));
    /* Fill the freed slots now rather than at the next tick. */
    hc_speakers_tick(se->spk, hc_sess_now_us(se));
}

static uint32_t conf_wanted(hc_sess_t *se, hc_part_t *r, hc_slot_want_t *out, uint32_t cap)
{
    (void)r;
    uint32_t n = 0;
    for (uint32_t i = 0; i < se->audio_k && n < cap; i++) {
        hc_slot_want_t *w = &out[n++];
        w->slot = SLOT_AUDIO | i;
        w->kind = HC_SIG_MEDIA_AUDIO;
        w->tag = HC_SIG_TAG_AUDIO;
        w->codec = HC_SIG_CODEC_OPUS;
        snprintf(w->mid, sizeof(w->mid), "speaker%u-audio", i);
    }
    for (uint32_t i = 0; i < se->last_n && n < cap; i++) {
        hc_slot_want_t *w = &out[n++];
        w->slot = SLOT_VIDEO | i;
        w->kind = HC_SIG_MEDIA_VIDEO;
        w->tag = HC_SIG_TAG_MAIN;
        w->codec = HC_SIG_CODEC_H264;
        snprintf(w->mid, sizeof(w->mid), "speaker%u-video", i);
    }
    return n;
}

static hc_spub_t *conf_source(hc_sess_t *se, hc_part_t *r, uint32_t slot, hc_sig_media_t kind,
                              hc_part_t **owner)
{
    uint32_t i = slot & 0xffu;
    if (i >= HC_SPEAKERS_MAX_SLOTS) return NULL;
    /* Holders as resolved at the start of this sync. */
    hc_part_t *q = (slot & SLOT_VIDEO) ? se->c_video[i] : se->c_audio[i];
    if (!q || q == r) return NULL;
    hc_spub_t *s = hc_part_pub(q, kind, HC_SIG_TAG_NONE);
    if (s) *owner = q;
    return s;
}

const hc_sess_kind_ops_t hc_sess_conf_ops = {
    .check_publish = conf_check_publish,
    .admit = conf_admit,
    .leave = conf_leave,
    .wanted = conf_wanted,
    .source = conf_source,
};

void hc_sess_conf_tick(hc_sess_t *se, uint64_t now_us)
{
    for (hc_part_t *p = se->head; p; p = p->next) {
        hc_spub_t *a = hc_part_pub(p, HC_SIG_MEDIA_AUDIO, HC_SIG_TAG_NONE);
        if (!a || !a->in) continue;
        bool voice = false;
        uint8_t level = hc_instream_audio_level(a->in, now_us, &voice);
        hc_speakers_level(se->spk, p->num, level, voice);
    }
    int bits = hc_speakers_tick(se->spk, now_us);
    if (bits & (HC_SPEAKERS_AUDIO | HC_SPEAKERS_VIDEO)) {
        hc_sess_sync(se);
        hc_sess_flush_tracks(se, NULL);
    }
}
