/*
 * ladder.h - encoder settings from a target bitrate, and the split of a
 * site's bitrate across its streams by session profile.
 *
 * hc-edge's congestion controller produces a target send rate several
 * times a second. hc_ladder_allocate() splits it across the streams of the
 * session (audio first, then video by the profile's priorities, under the
 * site budget the relay sent in a `budget` message, proto/SIGNALING.md),
 * and one hc_ladder_t per video stream turns its share into a resolution,
 * a frame rate and an encoder bitrate. The bitrate follows the target at
 * once (x264 changes rate without a keyframe); resolution and frame rate
 * change only with hysteresis, because every change costs a keyframe and a
 * visible jump:
 * - down when the rate has stayed below the current rung's minimum for
 *   down_hold (1 s), or at once when it falls below sharp_pct (70 %) of it;
 *   straight to the best rung the rate can hold (several at once);
 * - up only after the rate has stayed at least up_margin_pct (15 %) above
 *   the next rung's minimum for up_hold (2 s), and then straight to the
 *   best rung the rate has stayed above for the last 1 s (a cellular link
 *   that comes back from 0.6 to 2.5 Mbit/s gets 720p in one step, not
 *   after a rung per hold);
 * - a step up that is followed by a step down within 5 s doubles the up
 *   hold (up to 32 s); each 60 s without a step down halves it again. A
 *   rate that oscillates around a threshold therefore cannot make the
 *   encoder flap. A rate that has stayed at twice the next rung's entry
 *   for 2 s is no oscillation around it: it steps up without waiting out
 *   a backed-off hold (a link back from an outage is not kept small).
 *
 * Rungs are resolutions (width, height, minimum and maximum bitrate at
 * 30 fps) combined with frame rates; a rung's bitrates scale linearly with
 * its frame rate (bits per frame, and so per-frame detail, stay the same).
 * The mode orders the combinations:
 * - RES_FIRST (class: the teacher's video): lower the resolution first
 *   and the frame rate last, 720p30 540p30 360p30 180p30 180p15 180p10 180p5;
 * - FPS_FIRST (consult: the diagnostic video): keep the top resolution and
 *   lower the frame rate, 720p30 720p15 720p10 720p5, then below floor_bps
 *   send full-resolution stills every few seconds, delivered reliably;
 * - BALANCED (conference): each step takes whichever of "one resolution
 *   down" and "one frame rate down" keeps more bitrate.
 * Below the last video rung a ladder holds it (HOLD), switches to stills
 * (STILLS) or stops the stream (OFF: the face camera, conference video).
 *
 * Profiles of hc_ladder_allocate():
 * - class: audio floor, then the main (teacher) video to its floor, audio
 *   to its wanted rate, main video to its wanted rate; other video after.
 * - consult: audio floor first; then the diagnostic video, to its floor
 *   and on to its wanted (undegraded) rate; only then the face camera,
 *   which is dropped (0) rather than letting the diagnostic video degrade.
 * - conference: audio first (floor and wanted rate), then all video shares
 *   equally what is left; a video that cannot get its floor is dropped.
 * After that, what remains raises streams towards their maximum in the
 * same priority order. Audio and diagnostic video are never dropped: when
 * even their floors do not fit they share what there is.
 *
 * Ownership: plain values, no pointers kept. Nothing allocates.
 * Threading: a ladder belongs to one stream and one thread;
 * hc_ladder_allocate() is a pure function.
 */
#ifndef HC_PROTO_LADDER_H
#define HC_PROTO_LADDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_LADDER_MAX_RES   6
#define HC_LADDER_MAX_FPS   6
#define HC_LADDER_MAX_STEPS (HC_LADDER_MAX_RES * HC_LADDER_MAX_FPS + 1)

typedef enum hc_ladder_mode {
    HC_LADDER_RES_FIRST = 0,
    HC_LADDER_FPS_FIRST,
    HC_LADDER_BALANCED,
} hc_ladder_mode_t;

typedef enum hc_ladder_floor {
    HC_LADDER_HOLD = 0, /* stay on the last rung */
    HC_LADDER_STILLS,   /* full-resolution stills */
    HC_LADDER_OFF,      /* stop sending the stream */
} hc_ladder_floor_t;

typedef struct hc_ladder_res {
    uint16_t width, height;
    uint32_t min_bps, max_bps; /* at 30 fps */
} hc_ladder_res_t;

typedef struct hc_ladder_cfg {
    hc_ladder_mode_t mode;
    hc_ladder_res_t res[HC_LADDER_MAX_RES]; /* best first */
    unsigned nres;
    uint8_t fps[HC_LADDER_MAX_FPS]; /* highest first, each 1..60 */
    unsigned nfps;
    hc_ladder_floor_t floor;
    uint32_t floor_bps;          /* below this STILLS/OFF (0: the last rung's minimum) */
    uint32_t down_hold_us;       /* 1 s */
    uint32_t up_hold_us;         /* 2 s */
    uint32_t up_hold_max_us;     /* 32 s */
    uint32_t up_margin_pct;      /* 15 */
    uint32_t sharp_pct;          /* 70 */
    uint32_t still_bits_per_kpx; /* size of one still: 400 bits per 1000 pixels */
} hc_ladder_cfg_t;

/* One rung, as built from the configuration. */
typedef struct hc_ladder_step {
    uint16_t width, height;
    uint8_t fps; /* 0 for stills and off */
    bool stills, off;
    uint32_t min_bps, max_bps; /* this rung's range */
    uint32_t leave_bps;        /* below this the ladder steps down */
    uint32_t enter_bps;        /* from the rung below, step up at this rate */
} hc_ladder_step_t;

typedef struct hc_ladder {
    hc_ladder_cfg_t cfg;
    hc_ladder_step_t step[HC_LADDER_MAX_STEPS];
    unsigned nsteps, cur;
    bool started, below, above, backoff_armed;
    uint64_t below_since, above_since, last_up, calm_since;
    uint64_t surplus_since;                  /* target >= 2x the next rung's entry since (0: not) */
    uint64_t fit_since[HC_LADDER_MAX_STEPS]; /* target >= step's entry since (0: not) */
    double still_bps;                        /* stills: the target smoothed over STILL_SMOOTH_US */
    uint64_t still_us;                       /* its last update */
    uint32_t up_hold_us;                     /* current, after back-off */
    unsigned changes;                        /* rung changes so far */
} hc_ladder_t;

typedef struct hc_ladder_out {
    uint16_t width, height;
    uint8_t fps;          /* 0 for stills and off */
    uint32_t bitrate_bps; /* encoder target; 0 when off; for stills the target's
                           * 3 s average (each still swings the estimate) */
    unsigned step;        /* rung index, 0 = best */
    bool stills;          /* send a still every still_interval_ms, reliably */
    uint32_t still_interval_ms;
    bool off;     /* do not send this stream */
    bool changed; /* the rung differs from the previous call's */
} hc_ladder_out_t;

/* Defaults for a mode: the 720p/540p/360p/180p ladder (min/max at 30 fps
 * 1200/2500, 700/1500, 350/800, 120/300 kbit/s; for FPS_FIRST only 720p),
 * frame rates 30/15/10/5, floor HOLD for RES_FIRST, STILLS at 150 kbit/s
 * for FPS_FIRST, OFF for BALANCED, and the holds and margins above. */
void hc_ladder_cfg_default(hc_ladder_cfg_t *cfg, hc_ladder_mode_t mode);

/* Build the rungs. Returns 0 or -HC_EINVAL (no rungs, too many, a zero
 * size or rate, min > max, resolutions or frame rates not in falling
 * order). */
int hc_ladder_init(hc_ladder_t *l, const hc_ladder_cfg_t *cfg);

/* Feed the current target rate. The first call picks the best rung the
 * rate can hold; later calls apply the hysteresis above. Returns 0 or
 * -HC_EINVAL. */
int hc_ladder_update(hc_ladder_t *l, uint32_t target_bps, uint64_t now_us, hc_ladder_out_t *out);

typedef enum hc_profile {
    HC_PROFILE_CLASS = 0,
    HC_PROFILE_CONSULT,
    HC_PROFILE_CONFERENCE,
} hc_profile_t;

typedef enum hc_stream_role {
    HC_ROLE_AUDIO = 0,
    HC_ROLE_MAIN, /* teacher camera, conference camera */
    HC_ROLE_DIAG, /* diagnostic video (endoscope, ultrasound, ...) */
    HC_ROLE_FACE, /* face camera of a consult, a raised hand in class */
} hc_stream_role_t;

typedef struct hc_alloc_stream {
    hc_stream_role_t role;
    uint32_t floor_bps; /* least that is useful (audio: 24 kbit/s Opus) */
    uint32_t want_bps;  /* full quality (audio: 32 kbit/s; video: top rung's minimum) */
    uint32_t max_bps;   /* more is wasted */
    bool active;        /* being sent now: a stopped stream that may be
                         * dropped needs 125 % of its floor to start again */
} hc_alloc_stream_t;

/* Split min(total_bps, budget_bps) (budget 0: no cap) across n streams
 * into out_bps[] (0 = do not send). Returns the number of streams given a
 * rate, or -HC_EINVAL (NULL, n > 64, floor > want > max out of order, an
 * unknown profile or role). */
int hc_ladder_allocate(hc_profile_t profile, uint32_t total_bps, uint32_t budget_bps,
                       const hc_alloc_stream_t *streams, size_t n, uint32_t *out_bps);

#endif
