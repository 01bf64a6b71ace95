/*
 * speakers.h - active speaker selection for conference sessions.
 *
 * A command conference has up to 200 sites, each publishing audio (and
 * maybe video); no site can take 200 streams, so every participant
 * receives the K loudest audio streams and the video of the N most recently
 * dominant speakers ("last N"). The levels come from the RFC 6464
 * client-to-mixer audio level header extension (0 = loudest, 127 =
 * silence, in -dBov), which the router smooths per instream
 * (hc_instream_audio_level); the session layer feeds a sample per
 * participant every ~200 ms and asks for the slots.
 *
 * Hysteresis, so slots never flap between two sites talking equally loud:
 *   - an empty slot is filled at once by the loudest active participant;
 *   - an occupied audio slot changes hands only when a challenger has been
 *     louder than the weakest holder by `margin` (level units, i.e. dB)
 *     continuously for `lead_us` (about 1 s), and a holder keeps a slot it
 *     just took for at least lead_us; equal voices never displace each
 *     other;
 *   - the dominant speaker changes by the same rule; a new dominant speaker
 *     with video takes a free video slot or the one whose holder was
 *     dominant longest ago; holders are never reshuffled between slots, so
 *     a receiver's tracks keep their meaning;
 *   - a pinned participant (the conference floor) always holds audio slot 0
 *     and, with video, video slot 0.
 * A participant is "active" when its sample says voice (or, without the
 * V flag, when its level is below `silence`).
 *
 * Participants are numbered by the caller (nonzero uint32_t).
 * Time is a parameter (microseconds, any monotonic clock).
 * Ownership: hc_speakers_new() allocates for max_parts participants; no
 * allocation afterwards. Threading: none; the session's worker owns it.
 */
#ifndef HC_RELAY_SPEAKERS_H
#define HC_RELAY_SPEAKERS_H

#include <stdbool.h>
#include <stdint.h>

#define HC_SPEAKERS_MAX_SLOTS 16

typedef struct hc_speakers hc_speakers_t;

typedef struct hc_speakers_cfg {
    uint32_t max_parts; /* participants tracked */
    uint32_t audio_k;   /* audio slots, 1..HC_SPEAKERS_MAX_SLOTS (3) */
    uint32_t video_n;   /* video slots, 0..HC_SPEAKERS_MAX_SLOTS (4) */
    uint64_t lead_us;   /* how long a challenger must lead (1 s) */
    uint8_t margin;     /* by how many level units (dB) it must lead (6) */
    uint8_t silence;    /* levels >= this are silence when no V flag is known (100) */
} hc_speakers_cfg_t;

/* Fills the defaults quoted above (max_parts 200). */
void hc_speakers_cfg_default(hc_speakers_cfg_t *cfg);

/* Bits of hc_speakers_tick()'s result. */
#define HC_SPEAKERS_AUDIO    0x1 /* an audio slot changed holder */
#define HC_SPEAKERS_VIDEO    0x2 /* a video slot changed holder */
#define HC_SPEAKERS_DOMINANT 0x4 /* the dominant speaker changed */

/* 0, -HC_EINVAL (bad cfg) or -HC_ENOMEM. */
int hc_speakers_new(hc_speakers_t **out, const hc_speakers_cfg_t *cfg);
void hc_speakers_destroy(hc_speakers_t **s);

/* Track participant id (nonzero), whether it publishes audio and video.
 * 0, -HC_EEXIST, -HC_EFULL, -HC_EINVAL. */
int hc_speakers_add(hc_speakers_t *s, uint32_t id, bool audio, bool video);
/* Forget id; its slots become empty (filled at the next tick). Returns the
 * HC_SPEAKERS_* bits of slots it vacated. */
int hc_speakers_remove(hc_speakers_t *s, uint32_t id);

/* A level sample of id: level 0..127 (RFC 6464: -dBov, 0 loudest) and
 * whether voice was flagged. -HC_ENOTFOUND for an unknown id. */
int hc_speakers_level(hc_speakers_t *s, uint32_t id, uint8_t level, bool voice);

/* Pin id into slot 0 (0: unpin). -HC_ENOTFOUND for an unknown id. Takes
 * effect at the next tick. */
int hc_speakers_pin(hc_speakers_t *s, uint32_t id);

/* Re-evaluate the slots at now_us with the latest samples. Returns the
 * HC_SPEAKERS_* bits of what changed. */
int hc_speakers_tick(hc_speakers_t *s, uint64_t now_us);

/* Slot holders (0 = empty), valid until the next call that changes them. */
const uint32_t *hc_speakers_audio(const hc_speakers_t *s, uint32_t *n);
const uint32_t *hc_speakers_video(const hc_speakers_t *s, uint32_t *n);
uint32_t hc_speakers_dominant(const hc_speakers_t *s);

#endif
