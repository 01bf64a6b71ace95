#include "proto/err.h"
#include "proto/ladder.h"
#include "tests/common/testutil.h"

#include <stdio.h>
#include <string.h>

#define S 1000000ull /* one second in us */

static hc_ladder_t mk(hc_ladder_mode_t mode)
{
    hc_ladder_t l;
    hc_ladder_cfg_t c;
    hc_ladder_cfg_default(&c, mode);
    ck_assert_int_eq(hc_ladder_init(&l, &c), 0);
    return l;
}

static hc_ladder_out_t upd(hc_ladder_t *l, uint32_t bps, uint64_t t)
{
    hc_ladder_out_t o;
    ck_assert_int_eq(hc_ladder_update(l, bps, t, &o), 0);
    return o;
}

/* Feed a constant rate every 200 ms over [t0, t1). */
static hc_ladder_out_t hold(hc_ladder_t *l, uint32_t bps, uint64_t t0, uint64_t t1)
{
    hc_ladder_out_t o = upd(l, bps, t0);
    for (uint64_t t = t0 + 200000; t < t1; t += 200000) o = upd(l, bps, t);
    return o;
}

START_TEST(args)
{
    hc_ladder_t l;
    hc_ladder_cfg_t c;
    hc_ladder_out_t o;
    hc_ladder_cfg_default(&c, HC_LADDER_RES_FIRST);
    ck_assert_int_eq(hc_ladder_init(NULL, &c), -HC_EINVAL);
    ck_assert_int_eq(hc_ladder_init(&l, NULL), -HC_EINVAL);
    c.nres = 0;
    ck_assert_int_eq(hc_ladder_init(&l, &c), -HC_EINVAL);
    hc_ladder_cfg_default(&c, HC_LADDER_RES_FIRST);
    c.res[1] = c.res[0]; /* not falling */
    ck_assert_int_eq(hc_ladder_init(&l, &c), -HC_EINVAL);
    hc_ladder_cfg_default(&c, HC_LADDER_RES_FIRST);
    c.fps[1] = 30;
    ck_assert_int_eq(hc_ladder_init(&l, &c), -HC_EINVAL);
    hc_ladder_cfg_default(&c, HC_LADDER_RES_FIRST);
    c.res[2].min_bps = c.res[2].max_bps + 1;
    ck_assert_int_eq(hc_ladder_init(&l, &c), -HC_EINVAL);
    hc_ladder_cfg_default(&c, HC_LADDER_RES_FIRST);
    c.nfps = HC_LADDER_MAX_FPS + 1;
    ck_assert_int_eq(hc_ladder_init(&l, &c), -HC_EINVAL);
    ck_assert_int_eq(hc_ladder_update(NULL, 1, 0, &o), -HC_EINVAL);
    l = mk(HC_LADDER_RES_FIRST);
    ck_assert_int_eq(hc_ladder_update(&l, 1, 0, NULL), -HC_EINVAL);
}
END_TEST

static void expect_steps(const hc_ladder_t *l, const char *const *want, unsigned n)
{
    ck_assert_uint_eq(l->nsteps, n);
    for (unsigned i = 0; i < n; i++) {
        char buf[32];
        const hc_ladder_step_t *s = &l->step[i];
        if (s->stills)
            snprintf(buf, sizeof(buf), "stills%u", (unsigned)s->height);
        else if (s->off)
            snprintf(buf, sizeof(buf), "off");
        else
            snprintf(buf, sizeof(buf), "%up%u", (unsigned)s->height, (unsigned)s->fps);
        ck_assert_str_eq(buf, want[i]);
    }
}

START_TEST(rungs_by_mode)
{
    static const char *const cls[] = {"720p30", "540p30", "360p30", "180p30",
                                      "180p15", "180p10", "180p5"};
    static const char *const diag[] = {"720p30", "720p15", "720p10", "720p5", "stills720"};
    static const char *const conf[] = {"720p30", "540p30", "360p30", "360p15",
                                       "360p10", "360p5",  "180p5",  "off"};
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    expect_steps(&l, cls, 7);
    /* bitrates scale with the frame rate */
    ck_assert_uint_eq(l.step[0].min_bps, 1200000);
    ck_assert_uint_eq(l.step[0].enter_bps, 1380000);
    ck_assert_uint_eq(l.step[4].min_bps, 60000);
    ck_assert_uint_eq(l.step[6].leave_bps, 0); /* HOLD: never below the last rung */
    l = mk(HC_LADDER_FPS_FIRST);
    expect_steps(&l, diag, 5);
    ck_assert_uint_eq(l.step[3].min_bps, 200000);
    ck_assert_uint_eq(l.step[3].leave_bps, 150000); /* the stills floor */
    l = mk(HC_LADDER_BALANCED);
    expect_steps(&l, conf, 8);
}
END_TEST

START_TEST(start_where_the_rate_fits)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    hc_ladder_out_t o = upd(&l, 800000, 0);
    ck_assert(o.changed);
    ck_assert_uint_eq(o.height, 540);
    ck_assert_uint_eq(o.fps, 30);
    ck_assert_uint_eq(o.bitrate_bps, 800000);
    o = upd(&l, 800000, 200000);
    ck_assert(!o.changed);
    /* the encoder target follows the rate at once, capped at the rung's max */
    o = upd(&l, 1300000, 400000);
    ck_assert_uint_eq(o.bitrate_bps, 1300000);
    o = upd(&l, 1600000, 600000);
    ck_assert_uint_eq(o.height, 540);
    ck_assert_uint_eq(o.bitrate_bps, 1500000);
}
END_TEST

START_TEST(step_down_after_hold)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    ck_assert_uint_eq(upd(&l, 2000000, 0).height, 720);
    /* 1.1 Mbit/s is below 720p's 1.2 minimum but not sharply: 1 s hold */
    hc_ladder_out_t o = hold(&l, 1100000, S, 2 * S);
    ck_assert_uint_eq(o.height, 720);
    ck_assert_uint_eq(o.bitrate_bps, 1100000);
    o = upd(&l, 1100000, 2 * S);
    ck_assert(o.changed);
    ck_assert_uint_eq(o.height, 540);
    /* a dip shorter than the hold does nothing */
    hold(&l, 650000, 3 * S, 3 * S + 800000);
    o = hold(&l, 900000, 3 * S + 800000, 5 * S);
    ck_assert_uint_eq(o.height, 540);
    ck_assert_uint_eq(l.changes, 1);
}
END_TEST

START_TEST(step_down_sharp)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    ck_assert_uint_eq(upd(&l, 2000000, 0).height, 720);
    /* the link halves and more: at once, several rungs in one step */
    hc_ladder_out_t o = upd(&l, 300000, 200000);
    ck_assert(o.changed);
    ck_assert_uint_eq(o.height, 180);
    ck_assert_uint_eq(o.fps, 30);
    o = upd(&l, 30000, 400000);
    ck_assert_uint_eq(o.height, 180);
    ck_assert_uint_eq(o.fps, 5); /* the frame rate goes last */
    /* HOLD: nothing below the last rung */
    o = upd(&l, 1000, 600000);
    ck_assert_uint_eq(o.fps, 5);
    ck_assert(!o.off);
}
END_TEST

START_TEST(step_up_after_hold)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    ck_assert_uint_eq(upd(&l, 400000, 0).height, 360);
    /* 540p needs 700k * 1.15 = 805k held for 2 s; 800k is not enough */
    hc_ladder_out_t o = hold(&l, 800000, 200000, 20 * S);
    ck_assert_uint_eq(o.height, 360);
    ck_assert_uint_eq(o.bitrate_bps, 800000); /* 360p's maximum */
    /* plenty of rate, held 2 s: straight to 720p, not a rung per hold */
    o = hold(&l, 3000000, 20 * S, 22 * S - 1);
    ck_assert_uint_eq(o.height, 360);
    o = upd(&l, 3000000, 22 * S);
    ck_assert_uint_eq(o.height, 720);
    ck_assert_uint_eq(o.bitrate_bps, 2500000);
    ck_assert_uint_eq(l.changes, 1);

    /* the lowest rate of the hold decides: a dip to 1 Mbit/s within it
     * enters 540p (805k) but not 720p (1380k) */
    l = mk(HC_LADDER_RES_FIRST);
    upd(&l, 400000, 0);
    hold(&l, 3000000, 200000, 1 * S);
    upd(&l, 1000000, 1 * S + 200000);
    o = hold(&l, 3000000, 1 * S + 400000, 2 * S + 400000);
    ck_assert_uint_eq(o.height, 540);
    /* and from there on to 720p after another hold */
    o = hold(&l, 3000000, 2 * S + 400000, 4 * S + 600000);
    ck_assert_uint_eq(o.height, 720);
}
END_TEST

/* A rate wobbling around a threshold never makes the encoder flap. */
START_TEST(no_flapping)
{
    /* 5 % around 540p's minimum, 1 s period: never 1 s below, never 15 % above */
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    ck_assert_uint_eq(upd(&l, 800000, 0).height, 540);
    for (uint64_t t = 200000; t < 120 * S; t += 200000)
        upd(&l, (t / 500000) % 2 ? 665000 : 735000, t);
    ck_assert_uint_eq(l.changes, 0);

    /* slow swing of +-10 % around it (4 s period): goes down once, stays */
    l = mk(HC_LADDER_RES_FIRST);
    upd(&l, 800000, 0);
    for (uint64_t t = 200000; t < 120 * S; t += 200000)
        upd(&l, (t / 2000000) % 2 ? 630000 : 770000, t);
    ck_assert_uint_eq(l.changes, 1);

    /* a deep swing (0.5 .. 1.5 Mbit/s, 10 s period) around 720p/540p:
     * follows it at first, then the up hold backs off */
    l = mk(HC_LADDER_RES_FIRST);
    upd(&l, 1500000, 0);
    unsigned early = 0;
    for (uint64_t t = 200000; t < 300 * S; t += 200000) {
        upd(&l, (t / 5000000) % 2 ? 500000 : 1500000, t);
        if (t == 60 * S) early = l.changes;
    }
    ck_assert_uint_le(l.changes, early + 12);
    ck_assert_uint_le(l.changes, 30);
}
END_TEST

START_TEST(backoff_resets)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    upd(&l, 800000, 0);                 /* 540p */
    hold(&l, 1500000, 200000, 2400000); /* up to 720p at 2.2 s */
    ck_assert_uint_eq(l.step[l.cur].height, 720);
    upd(&l, 700000, 3 * S); /* sharp fall right after: back-off */
    ck_assert_uint_eq(l.up_hold_us, 4000000);
    hc_ladder_out_t o = hold(&l, 1500000, 3 * S + 200000, 7 * S);
    ck_assert_uint_eq(o.height, 540); /* 2 s is not enough now */
    o = hold(&l, 1500000, 7 * S, 8 * S);
    ck_assert_uint_eq(o.height, 720); /* 4 s is */
    /* a minute without a step down halves the hold again */
    hold(&l, 2000000, 8 * S, 74 * S);
    ck_assert_uint_eq(l.up_hold_us, 2000000);
}
END_TEST

/* A backed-off hold keeps a picture from flapping at a threshold, not a
 * link that came back with plenty of room from staying small. */
START_TEST(surplus_skips_backoff)
{
    hc_ladder_t l = mk(HC_LADDER_RES_FIRST);
    upd(&l, 150000, 0); /* 180p30 */
    ck_assert_uint_eq(l.step[l.cur].height, 180);
    /* flap twice at 360p's entry (402k): the hold backs off to 8 s */
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = (uint64_t)i * 20 * S + 200000;
        hold(&l, 420000, t0, t0 + l.up_hold_us + 400000);
        ck_assert_uint_eq(l.step[l.cur].height, 360);
        upd(&l, 150000, t0 + l.up_hold_us + 600000);
        ck_assert_uint_eq(l.step[l.cur].height, 180);
    }
    ck_assert_uint_eq(l.up_hold_us, 8000000);
    /* 450k is no clear surplus over 402k: the 8 s hold applies */
    hc_ladder_out_t o = hold(&l, 450000, 50 * S, 57 * S);
    ck_assert_uint_eq(o.height, 180);
    o = hold(&l, 450000, 57 * S, 58 * S + 200000);
    ck_assert_uint_eq(o.height, 360);
    upd(&l, 150000, 59 * S); /* the third failed step: 16 s */
    ck_assert_uint_eq(l.up_hold_us, 16000000);
    /* the link comes back at 3 Mbit/s: twice 360p's entry for 2 s, and
     * 720p's entry too: straight to 720p after 2 s, not 16 */
    o = hold(&l, 3000000, 60 * S, 62 * S - 1);
    ck_assert_uint_eq(o.height, 180);
    o = upd(&l, 3000000, 62 * S);
    ck_assert_uint_eq(o.height, 720);
    /* a step down forgets how long the better rungs fitted */
    upd(&l, 150000, 63 * S);
    ck_assert_uint_eq(l.step[l.cur].height, 180);
    o = hold(&l, 3000000, 63 * S + 200000, 65 * S);
    ck_assert_uint_eq(o.height, 180);
}
END_TEST

/* consult, diagnostic video: resolution stays, frame rate goes, then stills */
START_TEST(diagnostic_stills)
{
    hc_ladder_t l = mk(HC_LADDER_FPS_FIRST);
    hc_ladder_out_t o = upd(&l, 1500000, 0);
    ck_assert_uint_eq(o.height, 720);
    ck_assert_uint_eq(o.fps, 30);
    o = hold(&l, 500000, 200000, 2 * S);
    ck_assert_uint_eq(o.height, 720);
    ck_assert_uint_eq(o.fps, 10);
    o = hold(&l, 170000, 2 * S, 4 * S);
    ck_assert_uint_eq(o.height, 720); /* between the floor and 5 fps' minimum */
    ck_assert_uint_eq(o.fps, 5);
    ck_assert(!o.stills);
    o = hold(&l, 100000, 4 * S, 6 * S);
    ck_assert(o.stills);
    ck_assert_uint_eq(o.width, 1280);
    ck_assert_uint_eq(o.height, 720);
    ck_assert_uint_eq(o.fps, 0);
    ck_assert_uint_eq(o.bitrate_bps, 100000);
    /* 1280 * 720 * 0.4 bit = 368640 bits at 80 % of 100 kbit/s: 4.6 s */
    ck_assert_uint_eq(o.still_interval_ms, 4608);
    /* stills go by the target's 3 s average: a dip moves them a little */
    o = upd(&l, 10000, 6 * S + 200000);
    ck_assert_uint_eq(o.bitrate_bps, 88000); /* 100k - 90k * 0.4 s / 3 s */
    ck_assert_uint_eq(o.still_interval_ms, 5236);
    /* a lasting fall: the interval grows to its 10 s bound */
    o = hold(&l, 10000, 6 * S + 400000, 20 * S);
    ck_assert_uint_lt(o.bitrate_bps, 12000);
    ck_assert_uint_eq(o.still_interval_ms, 10000);
    /* back to video only when that average stays above 150 * 1.15 kbit/s
     * for the up hold (4 s, after the earlier step up failed), not on
     * each swing of the instantaneous target */
    o = hold(&l, 160000, 20 * S, 30 * S);
    ck_assert(o.stills);
    for (uint64_t t = 30 * S; t < 40 * S; t += 200000)
        o = upd(&l, (t / 1000000) % 2 ? 40000 : 260000, t); /* averages 150k */
    ck_assert(o.stills);
    o = hold(&l, 180000, 40 * S, 42 * S);
    ck_assert(o.stills); /* the average is still climbing to 172.5k */
    o = hold(&l, 180000, 42 * S, 60 * S);
    ck_assert(!o.stills);
    ck_assert_uint_eq(o.fps, 5);
}
END_TEST

START_TEST(conference_off)
{
    hc_ladder_t l = mk(HC_LADDER_BALANCED);
    hc_ladder_out_t o = upd(&l, 10000, 0);
    ck_assert(o.off);
    ck_assert_uint_eq(o.bitrate_bps, 0);
    o = hold(&l, 30000, 200000, 10 * S);
    ck_assert(!o.off);
    ck_assert_uint_eq(o.height, 180);
    ck_assert_uint_eq(o.fps, 5);
}
END_TEST

static const hc_alloc_stream_t AUDIO = {HC_ROLE_AUDIO, 24000, 32000, 64000, true};
static const hc_alloc_stream_t DIAG = {HC_ROLE_DIAG, 150000, 1200000, 2500000, true};
static const hc_alloc_stream_t FACE = {HC_ROLE_FACE, 120000, 350000, 800000, true};
static const hc_alloc_stream_t MAIN = {HC_ROLE_MAIN, 20000, 1200000, 2500000, true};

START_TEST(allocate_args)
{
    hc_alloc_stream_t s[2] = {AUDIO, MAIN};
    uint32_t out[2];
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 1, 0, NULL, 2, out), -HC_EINVAL);
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 1, 0, s, 2, NULL), -HC_EINVAL);
    ck_assert_int_eq(hc_ladder_allocate((hc_profile_t)7, 1, 0, s, 2, out), -HC_EINVAL);
    s[1].want_bps = s[1].max_bps + 1;
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 1, 0, s, 2, out), -HC_EINVAL);
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 1, 0, NULL, 0, NULL), 0);
}
END_TEST

START_TEST(allocate_class)
{
    hc_alloc_stream_t s[2] = {AUDIO, MAIN};
    uint32_t out[2];
    /* plenty: both to their maximum */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 5000000, 0, s, 2, out), 2);
    ck_assert_uint_eq(out[0], 64000);
    ck_assert_uint_eq(out[1], 2500000);
    /* 1 Mbit/s: audio wanted rate, video the rest */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 1000000, 0, s, 2, out), 2);
    ck_assert_uint_eq(out[0], 32000);
    ck_assert_uint_eq(out[1], 968000);
    /* 40 kbit/s: audio floor first, the teacher's video keeps its floor */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 40000, 0, s, 2, out), 2);
    ck_assert_uint_eq(out[0], 24000);
    ck_assert_uint_eq(out[1], 16000);
    /* 20 kbit/s: all to audio; the teacher's video is never dropped but
     * has nothing left */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 20000, 0, s, 2, out), 1);
    ck_assert_uint_eq(out[0], 20000);
    ck_assert_uint_eq(out[1], 0);
}
END_TEST

START_TEST(allocate_consult)
{
    hc_alloc_stream_t s[3] = {FACE, DIAG, AUDIO};
    uint32_t out[3];
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, 4000000, 0, s, 3, out), 3);
    ck_assert_uint_eq(out[2], 64000);
    ck_assert_uint_eq(out[1], 2500000);
    ck_assert_uint_eq(out[0], 800000);
    /* audio floor + diagnostic undegraded + face floor: all three */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, 24000 + 1200000 + 120000, 0, s, 3, out),
                     3);
    ck_assert_uint_eq(out[1], 1200000);
    ck_assert_uint_eq(out[0], 120000);
    ck_assert_uint_eq(out[2], 24000);
    /* a little less: the face camera goes before the diagnostic degrades */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, 24000 + 1200000 + 100000, 0, s, 3, out),
                     2);
    ck_assert_uint_eq(out[0], 0);
    /* the face's share goes to audio and then the diagnostic video */
    ck_assert_uint_eq(out[2], 64000);
    ck_assert_uint_eq(out[1], 1260000);
    /* thin link: audio floor, diagnostic the rest (its ladder sends stills) */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, 100000, 0, s, 3, out), 2);
    ck_assert_uint_eq(out[2], 24000);
    ck_assert_uint_eq(out[1], 76000);
    ck_assert_uint_eq(out[0], 0);
    /* below the audio floor: audio only */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, 20000, 0, s, 3, out), 1);
    ck_assert_uint_eq(out[2], 20000);
    ck_assert_uint_eq(out[1], 0);
}
END_TEST

START_TEST(allocate_face_hysteresis)
{
    hc_alloc_stream_t s[3] = {FACE, DIAG, AUDIO};
    uint32_t out[3];
    uint32_t total = 24000 + 1200000 + 130000; /* face floor fits, 125 % of it not */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, total, 0, s, 3, out), 3);
    ck_assert_uint_eq(out[0], 122000); /* floor, and what audio leaves of its wanted rate */
    s[0].active = false;               /* it was stopped: does not restart on this */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, total, 0, s, 3, out), 2);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONSULT, total + 20000, 0, s, 3, out), 3);
    ck_assert_uint_eq(out[0], 142000);
}
END_TEST

START_TEST(allocate_conference)
{
    hc_alloc_stream_t s[4] = {MAIN, MAIN, AUDIO, MAIN};
    uint32_t out[4];
    s[0].floor_bps = s[1].floor_bps = s[3].floor_bps = 100000;
    /* audio first, then equal shares */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONFERENCE, 932000, 0, s, 4, out), 4);
    ck_assert_uint_eq(out[2], 32000);
    ck_assert_uint_eq(out[0], 300000);
    ck_assert_uint_eq(out[1], 300000);
    ck_assert_uint_eq(out[3], 300000);
    /* 250 kbit/s: two videos fit their floor, the third is dropped */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CONFERENCE, 250000, 0, s, 4, out), 3);
    ck_assert_uint_eq(out[2], 32000);
    ck_assert_uint_eq(out[0], 109000);
    ck_assert_uint_eq(out[1], 109000);
    ck_assert_uint_eq(out[3], 0);
}
END_TEST

START_TEST(allocate_budget_cap)
{
    hc_alloc_stream_t s[2] = {AUDIO, MAIN};
    uint32_t out[2];
    /* the relay's budget message caps the site at 800 kbit/s */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 3000000, 800000, s, 2, out), 2);
    ck_assert_uint_eq(out[0] + out[1], 800000);
    ck_assert_uint_eq(out[0], 32000);
    /* a budget above the estimate changes nothing; 0 means no cap */
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 500000, 800000, s, 2, out), 2);
    ck_assert_uint_eq(out[0] + out[1], 500000);
    ck_assert_int_eq(hc_ladder_allocate(HC_PROFILE_CLASS, 500000, 0, s, 2, out), 2);
    ck_assert_uint_eq(out[0] + out[1], 500000);
}
END_TEST

/* The pieces together: a consult on a link that thins out. */
START_TEST(consult_degradation_order)
{
    hc_alloc_stream_t s[3] = {AUDIO, DIAG, FACE};
    hc_ladder_t diag = mk(HC_LADDER_FPS_FIRST);
    hc_ladder_cfg_t fc;
    hc_ladder_cfg_default(&fc, HC_LADDER_BALANCED);
    hc_ladder_t face;
    ck_assert_int_eq(hc_ladder_init(&face, &fc), 0);
    uint32_t out[3];
    bool face_off_seen = false, stills_seen = false;
    for (uint64_t t = 0; t < 60 * S; t += 200000) {
        uint32_t total = (uint32_t)(3000000 - (uint64_t)2950000 * t / (60 * S));
        hc_ladder_allocate(HC_PROFILE_CONSULT, total, 0, s, 3, out);
        hc_ladder_out_t d = upd(&diag, out[1], t);
        hc_ladder_out_t f = upd(&face, out[2], t);
        s[2].active = !f.off;
        ck_assert_uint_ge(out[0], total >= 24000 ? 24000 : total); /* audio keeps its floor */
        if (!face_off_seen && f.off) {
            face_off_seen = true;
            /* the face camera stops while the diagnostic video is still at 720p */
            ck_assert_uint_eq(d.height, 720);
            ck_assert(!d.stills);
        }
        if (d.stills) {
            stills_seen = true;
            ck_assert(f.off);
        }
        if (!d.stills && !d.off) ck_assert_uint_eq(d.height, 720); /* resolution kept */
    }
    ck_assert(face_off_seen);
    ck_assert(stills_seen);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ladder");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, args);
    tcase_add_test(tc, rungs_by_mode);
    tcase_add_test(tc, start_where_the_rate_fits);
    tcase_add_test(tc, step_down_after_hold);
    tcase_add_test(tc, step_down_sharp);
    tcase_add_test(tc, step_up_after_hold);
    tcase_add_test(tc, no_flapping);
    tcase_add_test(tc, backoff_resets);
    tcase_add_test(tc, surplus_skips_backoff);
    tcase_add_test(tc, diagnostic_stills);
    tcase_add_test(tc, conference_off);
    tcase_add_test(tc, allocate_args);
    tcase_add_test(tc, allocate_class);
    tcase_add_test(tc, allocate_consult);
    tcase_add_test(tc, allocate_face_hysteresis);
    tcase_add_test(tc, allocate_conference);
    tcase_add_test(tc, allocate_budget_cap);
    tcase_add_test(tc, consult_degradation_order);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
