#include "relay/speakers.h"

#include "proto/err.h"

#include <stdlib.h>
#include <string.h>

typedef struct part {
    uint32_t id; /* 0 = free entry */
    bool audio, video;
    uint8_t score;       /* 127 - level while active, 0 when silent */
    uint64_t lead_since; /* leading the weakest audio holder since (0 = not) */
    uint64_t dom_since;  /* leading the dominant speaker since (0 = not) */
    uint64_t last_dom;   /* when it last became dominant (0 = never) */
    uint64_t order;      /* join order, for stable ties */
} part_t;

struct hc_speakers {
    hc_speakers_cfg_t cfg;
    part_t *p;
    uint64_t next_order;
    uint32_t audio[HC_SPEAKERS_MAX_SLOTS];
    uint64_t audio_since[HC_SPEAKERS_MAX_SLOTS]; /* when the holder took the slot */
    uint32_t video[HC_SPEAKERS_MAX_SLOTS];
    uint32_t dominant;
    uint32_t pinned;
};

void hc_speakers_cfg_default(hc_speakers_cfg_t *cfg)
{
    *cfg = (hc_speakers_cfg_t){
        .max_parts = 200,
        .audio_k = 3,
        .video_n = 4,
        .lead_us = 1000000,
        .margin = 6,
        .silence = 100,
    };
}

int hc_speakers_new(hc_speakers_t **out, const hc_speakers_cfg_t *cfg)
{
    if (!out || !cfg || cfg->max_parts == 0 || cfg->audio_k == 0 ||
        cfg->audio_k > HC_SPEAKERS_MAX_SLOTS || cfg->video_n > HC_SPEAKERS_MAX_SLOTS)
        return -HC_EINVAL;
    *out = NULL;
    hc_speakers_t *s = calloc(1, sizeof(*s));
    if (!s) return -HC_ENOMEM;
    s->cfg = *cfg;
    s->p = calloc(cfg->max_parts, sizeof(*s->p));
    if (!s->p) {
        free(s);
        return -HC_ENOMEM;
    }
    *out = s;
    return 0;
}

void hc_speakers_destroy(hc_speakers_t **sp)
{
    if (!sp || !*sp) return;
    free((*sp)->p);
    free(*sp);
    *sp = NULL;
}

static part_t *find(const hc_speakers_t *s, uint32_t id)
{
    if (id == 0) return NULL;
    for (uint32_t i = 0; i < s->cfg.max_parts; i++)
        if (s->p[i].id == id) return &s->p[i];
    return NULL;
}

int hc_speakers_add(hc_speakers_t *s, uint32_t id, bool audio, bool video)
{
    if (!s || id == 0) return -HC_EINVAL;
    if (find(s, id)) return -HC_EEXIST;
    part_t *f = NULL;
    for (uint32_t i = 0; !f && i < s->cfg.max_parts; i++)
        if (s->p[i].id == 0) f = &s->p[i];
    if (!f) return -HC_EFULL;
    *f = (part_t){.id = id, .audio = audio, .video = video, .order = ++s->next_order};
    return 0;
}

static int vacate(uint32_t *slots, uint32_t n, uint32_t id)
{
    int hit = 0;
    for (uint32_t i = 0; i < n; i++)
        if (slots[i] == id) {
            slots[i] = 0;
            hit = 1;
        }
    return hit;
}

int hc_speakers_remove(hc_speakers_t *s, uint32_t id)
{
    part_t *p = find(s, id);
    if (!p) return 0;
    int bits = 0;
    if (vacate(s->audio, s->cfg.audio_k, id)) bits |= HC_SPEAKERS_AUDIO;
    if (vacate(s->video, s->cfg.video_n, id)) bits |= HC_SPEAKERS_VIDEO;
    if (s->dominant == id) {
        s->dominant = 0;
        bits |= HC_SPEAKERS_DOMINANT;
    }
    if (s->pinned == id) s->pinned = 0;
    memset(p, 0, sizeof(*p));
    return bits;
}

int hc_speakers_level(hc_speakers_t *s, uint32_t id, uint8_t level, bool voice)
{
    part_t *p = find(s, id);
    if (!p) return -HC_ENOTFOUND;
    if (level > 127) level = 127;
    /* RFC 6464 section 3: the V flag, when the sender sets it, is the
     * voice activity decision; a level alone is judged against `silence`. */
    bool active = voice || level < s->cfg.silence;
    p->score = active ? (uint8_t)(127 - level) : 0;
    return 0;
}

int hc_speakers_pin(hc_speakers_t *s, uint32_t id)
{
    if (id && !find(s, id)) return -HC_ENOTFOUND;
    s->pinned = id;
    return 0;
}

static bool in_slots(const uint32_t *slots, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (slots[i] == id) return true;
    return false;
}

/* Strictly better candidate: louder, then earlier joined (stable). */
static bool better(const part_t *a, const part_t *b)
{
    if (!b) return true;
    if (a->score != b->score) return a->score > b->score;
    return a->order < b->order;
}

/* Put the pinned participant in slot 0 of slots. Whoever held slot 0 loses
 * it (the fill of empty slots that follows usually gives it the pinned
 * one's old slot). Returns whether anything moved. */
static bool place_pinned(uint32_t *slots, uint32_t n, uint32_t pin)
{
    if (n == 0 || slots[0] == pin) return false;
    for (uint32_t i = 1; i < n; i++)
        if (slots[i] == pin) slots[i] = 0;
    slots[0] = pin;
    return true;
}

static int tick_audio(hc_speakers_t *s, uint64_t now_us)
{
    uint32_t k = s->cfg.audio_k;
    int changed = 0;
    part_t *pin = find(s, s->pinned);
    if (pin && pin->audio && place_pinned(s->audio, k, pin->id)) {
        s->audio_since[0] = now_us;
        changed = 1;
    }

    /* Empty slots take the loudest active participants at once. */
    for (uint32_t slot = 0; slot < k; slot++) {
        if (s->audio[slot]) continue;
        part_t *best = NULL;
        for (uint32_t i = 0; i < s->cfg.max_parts; i++) {
            part_t *p = &s->p[i];
            if (!p->id || !p->audio || p->score == 0 || in_slots(s->audio, k, p->id)) continue;
            if (better(p, best)) best = p;
        }
        if (!best) break;
        s->audio[slot] = best->id;
        s->audio_since[slot] = now_us;
        best->lead_since = 0;
        changed = 1;
    }

    /* A challenger's lead is measured against the weakest holder (never
     * the pinned one). When it has led for lead_us it takes the slot of the
     * weakest holder it beats that has held its slot for lead_us at least,
     * so no slot changes hands more often than once per lead_us. */
    part_t *weak = NULL;
    for (uint32_t slot = 0; slot < k; slot++) {
        part_t *h = find(s, s->audio[slot]);
        if (h && h->id != s->pinned && (!weak || h->score < weak->score)) weak = h;
    }
    part_t *winner = NULL;
    for (uint32_t i = 0; i < s->cfg.max_parts; i++) {
        part_t *p = &s->p[i];
        if (!p->id || !p->audio || in_slots(s->audio, k, p->id)) continue;
        if (!weak || p->score == 0 || (unsigned)p->score < (unsigned)weak->score + s->cfg.margin) {
            p->lead_since = 0;
            continue;
        }
        if (!p->lead_since) p->lead_since = now_us;
        if (now_us - p->lead_since >= s->cfg.lead_us && better(p, winner)) winner = p;
    }
    if (!winner) return changed ? HC_SPEAKERS_AUDIO : 0;
    int target = -1;
    part_t *th = NULL;
    for (uint32_t slot = 0; slot < k; slot++) {
        part_t *h = find(s, s->audio[slot]);
        if (!h || h->id == s->pinned || now_us - s->audio_since[slot] < s->cfg.lead_us) continue;
        if ((unsigned)winner->score < (unsigned)h->score + s->cfg.margin) continue;
        if (!th || h->score < th->score) {
            th = h;
            target = (int)slot;
        }
    }
    if (target >= 0) {
        s->audio[target] = winner->id;
        s->audio_since[target] = now_us;
        winner->lead_since = 0;
        changed = 1;
    }
    return changed ? HC_SPEAKERS_AUDIO : 0;
}

static int take_video_slot(hc_speakers_t *s, part_t *p)
{
    uint32_t n = s->cfg.video_n;
    if (!p->video || n == 0 || in_slots(s->video, n, p->id)) return 0;
    int slot = -1;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (s->video[i] == 0) {
            slot = (int)i;
            break;
        }
        if (s->video[i] == s->pinned) continue;
        part_t *h = find(s, s->video[i]);
        uint64_t t = h ? h->last_dom : 0;
        if (t < oldest) {
            oldest = t;
            slot = (int)i;
        }
    }
    if (slot < 0) return 0;
    s->video[slot] = p->id;
    return HC_SPEAKERS_VIDEO;
}

static int tick_dominant(hc_speakers_t *s, uint64_t now_us)
{
    part_t *dom = find(s, s->dominant);
    part_t *pick = NULL;
    if (!dom) {
        /* Nobody dominant yet (or they left): the loudest active one. */
        for (uint32_t i = 0; i < s->cfg.max_parts; i++) {
            part_t *p = &s->p[i];
            if (p->id && p->audio && p->score > 0 && better(p, pick)) pick = p;
        }
    } else {
        for (uint32_t i = 0; i < s->cfg.max_parts; i++) {
            part_t *p = &s->p[i];
            if (!p->id || p == dom || !p->audio) continue;
            if (p->score == 0 || (unsigned)p->score < (unsigned)dom->score + s->cfg.margin) {
                p->dom_since = 0;
                continue;
            }
            if (!p->dom_since) p->dom_since = now_us;
            if (now_us - p->dom_since >= s->cfg.lead_us && better(p, pick)) pick = p;
        }
    }
    if (!pick) return 0;
    for (uint32_t i = 0; i < s->cfg.max_parts; i++) s->p[i].dom_since = 0;
    s->dominant = pick->id;
    /* +1 so "never dominant" (0) stays older than any real time. */
    pick->last_dom = now_us + 1;
    return HC_SPEAKERS_DOMINANT | take_video_slot(s, pick);
}

static int tick_video(hc_speakers_t *s)
{
    uint32_t n = s->cfg.video_n;
    int changed = 0;
    part_t *pin = find(s, s->pinned);
    if (pin && pin->video && place_pinned(s->video, n, pin->id)) changed = 1;
    /* Free video slots show someone rather than nothing: the most recently
     * dominant first, then in join order. */
    for (uint32_t slot = 0; slot < n; slot++) {
        if (s->video[slot]) continue;
        part_t *best = NULL;
        for (uint32_t i = 0; i < s->cfg.max_parts; i++) {
            part_t *p = &s->p[i];
            if (!p->id || !p->video || in_slots(s->video, n, p->id)) continue;
            if (!best || p->last_dom > best->last_dom ||
                (p->last_dom == best->last_dom && p->order < best->order))
                best = p;
        }
        if (!best) break;
        s->video[slot] = best->id;
        changed = 1;
    }
    return changed ? HC_SPEAKERS_VIDEO : 0;
}

int hc_speakers_tick(hc_speakers_t *s, uint64_t now_us)
{
    int bits = tick_audio(s, now_us);
    bits |= tick_dominant(s, now_us);
    bits |= tick_video(s);
    return bits;
}

const uint32_t *hc_speakers_audio(const hc_speakers_t *s, uint32_t *n)
{
    if (n) *n = s->cfg.audio_k;
    return s->audio;
}

const uint32_t *hc_speakers_video(const hc_speakers_t *s, uint32_t *n)
{
    if (n) *n = s->cfg.video_n;
    return s->video;
}

uint32_t hc_speakers_dominant(const hc_speakers_t *s)
{
    return s->dominant;
}
