/*
 * ladder.c - encoder rungs with hysteresis and the per-profile bitrate
 * split (see ladder.h).
 */
#include "proto/ladder.h"
#include "proto/err.h"

#include <string.h>

#define BACKOFF_WINDOW_US 5000000ull  /* a step down this soon after a step up */
#define BACKOFF_RESET_US  60000000ull /* calm this long halves the up hold */
#define STILL_SMOOTH_US   3000000.0   /* stills' rate: the target's 3 s average */

void hc_ladder_cfg_default(hc_ladder_cfg_t *cfg, hc_ladder_mode_t mode)
{
    static const hc_ladder_res_t res[] = {
        {1280, 720, 1200000, 2500000},
        {960, 540, 700000, 1500000},
        {640, 360, 350000, 800000},
        {320, 180, 120000, 300000},
    };
    static const uint8_t fps[] = {30, 15, 10, 5};
    if (!cfg) return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->mode = mode;
    cfg->nres = mode == HC_LADDER_FPS_FIRST ? 1 : 4;
    memcpy(cfg->res, res, cfg->nres * sizeof(res[0]));
    cfg->nfps = 4;
    memcpy(cfg->fps, fps, sizeof(fps));
    cfg->floor = mode == HC_LADDER_RES_FIRST   ? HC_LADDER_HOLD
                 : mode == HC_LADDER_FPS_FIRST ? HC_LADDER_STILLS
                                               : HC_LADDER_OFF;
    cfg->floor_bps = mode == HC_LADDER_FPS_FIRST ? 150000 : 0;
    cfg->down_hold_us = 1000000;
    cfg->up_hold_us = 2000000;
    cfg->up_hold_max_us = 32000000;
    cfg->up_margin_pct = 15;
    cfg->sharp_pct = 70;
    cfg->still_bits_per_kpx = 400;
}

static uint32_t scale(uint32_t bps, uint8_t fps)
{
    return (uint32_t)((uint64_t)bps * fps / 30);
}

static void add_step(hc_ladder_t *l, unsigned r, unsigned f)
{
    hc_ladder_step_t *s = &l->step[l->nsteps++];
    const hc_ladder_res_t *res = &l->cfg.res[r];
    memset(s, 0, sizeof(*s));
    s->width = res->width;
    s->height = res->height;
    s->fps = l->cfg.fps[f];
    s->min_bps = scale(res->min_bps, s->fps);
    s->max_bps = scale(res->max_bps, s->fps);
}

static uint32_t with_margin(const hc_ladder_t *l, uint32_t bps)
{
    uint64_t v = (uint64_t)bps * (100 + l->cfg.up_margin_pct) / 100;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int hc_ladder_init(hc_ladder_t *l, const hc_ladder_cfg_t *cfg)
{
    if (!l || !cfg) return -HC_EINVAL;
    if (cfg->nres == 0 || cfg->nres > HC_LADDER_MAX_RES || cfg->nfps == 0 ||
        cfg->nfps > HC_LADDER_MAX_FPS || cfg->mode > HC_LADDER_BALANCED ||
        cfg->floor > HC_LADDER_OFF || cfg->up_margin_pct > 200 || cfg->sharp_pct > 100)
        return -HC_EINVAL;
    for (unsigned i = 0; i < cfg->nres; i++) {
        const hc_ladder_res_t *r = &cfg->res[i];
        if (!r->width || !r->height || !r->min_bps || r->min_bps > r->max_bps) return -HC_EINVAL;
        if (i && (uint32_t)r->width * r->height >=
                     (uint32_t)cfg->res[i - 1].width * cfg->res[i - 1].height)
            return -HC_EINVAL;
    }
    for (unsigned i = 0; i < cfg->nfps; i++) {
        if (cfg->fps[i] == 0 || cfg->fps[i] > 60) return -HC_EINVAL;
        if (i && cfg->fps[i] >= cfg->fps[i - 1]) return -HC_EINVAL;
    }
    memset(l, 0, sizeof(*l));
    l->cfg = *cfg;
    l->up_hold_us = cfg->up_hold_us;
    unsigned nr = cfg->nres, nf = cfg->nfps;
    switch (cfg->mode) {
    case HC_LADDER_RES_FIRST:
        for (unsigned r = 0; r < nr; r++) add_step(l, r, 0);
        for (unsigned f = 1; f < nf; f++) add_step(l, nr - 1, f);
        break;
    case HC_LADDER_FPS_FIRST:
        for (unsigned f = 0; f < nf; f++) add_step(l, 0, f);
        break;
    case HC_LADDER_BALANCED: {
        /* Walk from the best to the least corner, each time taking the
         * neighbour that keeps more bitrate (ties keep the frame rate). */
        unsigned r = 0, f = 0;
        add_step(l, r, f);
        while (r + 1 < nr || f + 1 < nf) {
            uint32_t down_r = r + 1 < nr ? scale(cfg->res[r + 1].min_bps, cfg->fps[f]) : 0;
            uint32_t down_f = f + 1 < nf ? scale(cfg->res[r].min_bps, cfg->fps[f + 1]) : 0;
            if (r + 1 < nr && down_r >= down_f)
                r++;
            else
                f++;
            add_step(l, r, f);
        }
        break;
    }
    }
    for (unsigned i = 0; i < l->nsteps; i++) {
        l->step[i].leave_bps = l->step[i].min_bps;
        l->step[i].enter_bps = with_margin(l, l->step[i].min_bps);
    }
    hc_ladder_step_t *last = &l->step[l->nsteps - 1];
    if (cfg->floor == HC_LADDER_HOLD) {
        last->leave_bps = 0;
    } else {
        if (cfg->floor_bps) {
            last->leave_bps = cfg->floor_bps;
            last->enter_bps = with_margin(l, cfg->floor_bps);
        }
        hc_ladder_step_t *t = &l->step[l->nsteps++];
        memset(t, 0, sizeof(*t));
        if (cfg->floor == HC_LADDER_STILLS) {
            /* Stills keep the full resolution: detail is what matters. */
            t->stills = true;
            t->width = cfg->res[0].width;
            t->height = cfg->res[0].height;
        } else {
            t->off = true;
        }
    }
    return 0;
}

static uint64_t elapsed(uint64_t now, uint64_t since)
{
    return now > since ? now - since : 0;
}

/* Since when the target has stayed at each better rung's entry rate, and
 * at twice the next one's. A timestamp of 0 means "not now"; now is
 * nudged to 1 so that a clock starting at 0 still counts. */
static void track_fit(hc_ladder_t *l, uint32_t target, uint64_t now)
{
    uint64_t t = now ? now : 1;
    for (unsigned k = l->cur; k < l->nsteps; k++) l->fit_since[k] = 0; /* untracked */
    for (unsigned k = 0; k < l->cur; k++) {
        if (target < l->step[k].enter_bps)
            l->fit_since[k] = 0;
        else if (!l->fit_since[k])
            l->fit_since[k] = t;
    }
    if (l->cur == 0 || (uint64_t)target < 2ull * l->step[l->cur - 1].enter_bps)
        l->surplus_since = 0;
    else if (!l->surplus_since)
        l->surplus_since = t;
}

/* The target averaged over STILL_SMOOTH_US while in stills; once per
 * update (a second call at the same time changes nothing). Back in stills
 * after a short spell of video, the average goes on from where it was
 * (weighted by the time away): the dip that ended the spell is one
 * sample, not the new rate. */
static uint32_t still_average(hc_ladder_t *l, uint32_t target, uint64_t now)
{
    if (!l->still_us) {
        l->still_bps = target;
    } else {
        double a = (double)elapsed(now, l->still_us) / STILL_SMOOTH_US;
        l->still_bps += ((double)target - l->still_bps) * (a > 1.0 ? 1.0 : a);
    }
    l->still_us = now ? now : 1;
    return (uint32_t)l->still_bps;
}

/* Best rung from `from` on whose rate the target can hold. */
static unsigned fit_from(const hc_ladder_t *l, unsigned from, uint32_t target)
{
    for (unsigned k = from; k < l->nsteps; k++)
        if (target >= l->step[k].leave_bps) return k;
    return l->nsteps - 1;
}

int hc_ladder_update(hc_ladder_t *l, uint32_t target, uint64_t now, hc_ladder_out_t *out)
{
    if (!l || !out || l->nsteps == 0) return -HC_EINVAL;
    unsigned prev = l->cur;
    bool first = !l->started;
    if (first) {
        l->started = true;
        l->cur = fit_from(l, 0, target);
        l->calm_since = l->last_up = now;
    } else {
        if (l->up_hold_us > l->cfg.up_hold_us && elapsed(now, l->calm_since) >= BACKOFF_RESET_US) {
            l->up_hold_us /= 2;
            if (l->up_hold_us < l->cfg.up_hold_us) l->up_hold_us = l->cfg.up_hold_us;
            l->calm_since = now;
        }
        const hc_ladder_step_t *s = &l->step[l->cur];
        if (target < s->leave_bps) {
            if (!l->below) {
                l->below = true;
                l->below_since = now;
            }
            bool sharp = (uint64_t)target * 100 < (uint64_t)s->leave_bps * l->cfg.sharp_pct;
            if (sharp || elapsed(now, l->below_since) >= l->cfg.down_hold_us) {
                /* A step up that did not hold: wait longer next time. */
                if (l->backoff_armed && elapsed(now, l->last_up) < BACKOFF_WINDOW_US) {
                    uint64_t h = (uint64_t)l->up_hold_us * 2;
                    l->up_hold_us = h > l->cfg.up_hold_max_us ? l->cfg.up_hold_max_us : (uint32_t)h;
                }
                l->backoff_armed = false;
                l->cur = fit_from(l, l->cur + 1, target);
                l->below = l->above = false;
                l->calm_since = now;
            }
        } else {
            l->below = false;
        }
        /* From stills, a step up goes by the stills' average rate (see
         * below): each still swings the instantaneous one. */
        uint32_t up = target;
        if (l->cur == prev && l->step[l->cur].stills) up = still_average(l, target, now);
        track_fit(l, up, now);
        if (l->cur == prev && l->cur > 0 && up >= l->step[l->cur - 1].enter_bps) {
            if (!l->above) {
                l->above = true;
                l->above_since = now;
            }
            bool held = elapsed(now, l->above_since) >= l->up_hold_us;
            bool surplus = l->surplus_since && elapsed(now, l->surplus_since) >= l->cfg.up_hold_us;
            if (held || surplus) {
                /* on to the best rung the rate has held for half the base
                 * hold: the next rung's hold has shown the trend, and a
                 * capacity that doubles is met in one step */
                unsigned k = l->cur - 1;
                while (k > 0 && l->fit_since[k - 1] &&
                       elapsed(now, l->fit_since[k - 1]) >= l->cfg.up_hold_us / 2)
                    k--;
                l->cur = k;
                l->above = false;
                l->last_up = now;
                l->backoff_armed = true;
            }
        } else if (l->cur == prev) {
            l->above = false;
        }
    }
    if (!first && l->cur != prev) l->changes++;

    const hc_ladder_step_t *s = &l->step[l->cur];
    memset(out, 0, sizeof(*out));
    out->width = s->width;
    out->height = s->height;
    out->fps = s->fps;
    out->step = l->cur;
    out->stills = s->stills;
    out->off = s->off;
    out->changed = first || l->cur != prev;
    if (s->off)
        out->bitrate_bps = 0;
    else if (s->stills || target < s->max_bps)
        out->bitrate_bps = target;
    else
        out->bitrate_bps = s->max_bps;
    if (s->stills) {
        /* The target swings with every still the link carries (the
         * estimator sees each as a burst), so stills go by its average:
         * one still's bits at 80 % of that rate (the rest for its
         * retransmissions), every 1 to 10 s. */
        uint32_t avg = still_average(l, target, now);
        out->bitrate_bps = avg;
        uint64_t bits = (uint64_t)s->width * s->height * l->cfg.still_bits_per_kpx / 1000;
        uint64_t ms = avg ? bits * 1250 / avg : 10000;
        out->still_interval_ms = (uint32_t)(ms < 1000 ? 1000 : ms > 10000 ? 10000 : ms);
    }
    return 0;
}

/* ---- allocation ---- */

enum { LV_FLOOR, LV_WANT, LV_MAX };

typedef struct pass {
    uint8_t roles; /* bit per hc_stream_role_t */
    uint8_t level;
} pass_t;

#define RA (1u << HC_ROLE_AUDIO)
#define RM (1u << HC_ROLE_MAIN)
#define RD (1u << HC_ROLE_DIAG)
#define RF (1u << HC_ROLE_FACE)

static const pass_t class_passes[] = {
    {RA, LV_FLOOR},     {RM, LV_FLOOR}, {RA, LV_WANT}, {RM, LV_WANT},     {RD | RF, LV_FLOOR},
    {RD | RF, LV_WANT}, {RA, LV_MAX},   {RM, LV_MAX},  {RD | RF, LV_MAX},
};
static const pass_t consult_passes[] = {
    {RA, LV_FLOOR},     {RD, LV_FLOOR}, {RD, LV_WANT}, {RF | RM, LV_FLOOR}, {RA, LV_WANT},
    {RF | RM, LV_WANT}, {RA, LV_MAX},   {RD, LV_MAX},  {RF | RM, LV_MAX},
};
static const pass_t conference_passes[] = {
    {RA, LV_FLOOR},          {RA, LV_WANT},          {RM | RD | RF, LV_FLOOR},
    {RM | RD | RF, LV_WANT}, {RM | RD | RF, LV_MAX}, {RA, LV_MAX},
};

static bool droppable(hc_profile_t p, hc_stream_role_t r)
{
    if (r == HC_ROLE_FACE) return true;
    if (r == HC_ROLE_MAIN) return p != HC_PROFILE_CLASS;
    return false; /* audio never breaks; the diagnostic video goes to stills */
}

static uint32_t level_of(const hc_alloc_stream_t *s, int lv)
{
    return lv == LV_FLOOR ? s->floor_bps : lv == LV_WANT ? s->want_bps : s->max_bps;
}

static void floor_pass(hc_profile_t p, uint8_t roles, const hc_alloc_stream_t *st, size_t n,
                       uint32_t *out, bool *dropped, uint64_t *rem)
{
    /* Streams that must not stop share what there is, by their floors. */
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if ((roles >> st[i].role & 1) && !droppable(p, st[i].role) && out[i] < st[i].floor_bps)
            sum += st[i].floor_bps - out[i];
    if (sum <= *rem) {
        for (size_t i = 0; i < n; i++)
            if ((roles >> st[i].role & 1) && !droppable(p, st[i].role) &&
                out[i] < st[i].floor_bps) {
                *rem -= st[i].floor_bps - out[i];
                out[i] = st[i].floor_bps;
            }
    } else if (sum) {
        uint64_t avail = *rem;
        for (size_t i = 0; i < n; i++)
            if ((roles >> st[i].role & 1) && !droppable(p, st[i].role) &&
                out[i] < st[i].floor_bps) {
                uint64_t g = avail * (st[i].floor_bps - out[i]) / sum;
                out[i] += (uint32_t)g;
                *rem -= g;
            }
    }
    /* The others in order: all of the floor or nothing. A stopped stream
     * must fit 125 % of it, so it does not start and stop on every wobble. */
    for (size_t i = 0; i < n; i++) {
        if (!(roles >> st[i].role & 1) || !droppable(p, st[i].role) || dropped[i]) continue;
        uint64_t need = st[i].active ? st[i].floor_bps : (uint64_t)st[i].floor_bps * 5 / 4;
        if (*rem >= need && *rem >= st[i].floor_bps) {
            out[i] = st[i].floor_bps;
            *rem -= st[i].floor_bps;
        } else {
            dropped[i] = true;
        }
    }
}

/* Water-fill: equal shares towards each stream's level. */
static void level_pass(uint8_t roles, int lv, const hc_alloc_stream_t *st, size_t n, uint32_t *out,
                       const bool *dropped, uint64_t *rem)
{
    for (size_t round = 0; round <= n && *rem > 0; round++) {
        uint64_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            if ((roles >> st[i].role & 1) && !dropped[i] && out[i] < level_of(&st[i], lv)) cnt++;
        if (!cnt) return;
        uint64_t share = *rem / cnt;
        if (!share) return;
        for (size_t i = 0; i < n; i++) {
            if (!(roles >> st[i].role & 1) || dropped[i]) continue;
            uint32_t lvl = level_of(&st[i], lv);
            if (out[i] >= lvl) continue;
            uint64_t g = lvl - out[i];
            if (g > share) g = share;
            out[i] += (uint32_t)g;
            *rem -= g;
        }
    }
}

int hc_ladder_allocate(hc_profile_t profile, uint32_t total_bps, uint32_t budget_bps,
                       const hc_alloc_stream_t *st, size_t n, uint32_t *out)
{
    if ((!st || !out) && n) return -HC_EINVAL;
    if (n > 64 || profile > HC_PROFILE_CONFERENCE) return -HC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (st[i].role > HC_ROLE_FACE || st[i].floor_bps > st[i].want_bps ||
            st[i].want_bps > st[i].max_bps)
            return -HC_EINVAL;
    const pass_t *ps;
    size_t np;
    switch (profile) {
    case HC_PROFILE_CLASS:
        ps = class_passes;
        np = sizeof(class_passes) / sizeof(class_passes[0]);
        break;
    case HC_PROFILE_CONSULT:
        ps = consult_passes;
        np = sizeof(consult_passes) / sizeof(consult_passes[0]);
        break;
    default:
        ps = conference_passes;
        np = sizeof(conference_passes) / sizeof(conference_passes[0]);
        break;
    }
    bool dropped[64] = {false};
    uint64_t rem = budget_bps && budget_bps < total_bps ? budget_bps : total_bps;
    for (size_t i = 0; i < n; i++) out[i] = 0;
    for (size_t k = 0; k < np; k++) {
        if (ps[k].level == LV_FLOOR)
            floor_pass(profile, ps[k].roles, st, n, out, dropped, &rem);
        else
            level_pass(ps[k].roles, ps[k].level, st, n, out, dropped, &rem);
    }
    int on = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i]) on++;
    return on;
}
