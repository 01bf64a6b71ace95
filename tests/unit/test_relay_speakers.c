#include "proto/err.h"
#include "relay/speakers.h"
#include "tests/common/testutil.h"

#include <stdint.h>

#define MS   1000u
#define TICK (200 * MS)

static hc_speakers_t *mk(uint32_t k, uint32_t n)
{
    hc_speakers_cfg_t cfg;
    hc_speakers_cfg_default(&cfg);
    cfg.audio_k = k;
    cfg.video_n = n;
    hc_speakers_t *s = NULL;
    ck_assert_int_eq(hc_speakers_new(&s, &cfg), 0);
    return s;
}

static uint32_t audio_slot(hc_speakers_t *s, uint32_t i)
{
    uint32_t n;
    const uint32_t *a = hc_speakers_audio(s, &n);
    ck_assert_uint_lt(i, n);
    return a[i];
}

static uint32_t video_slot(hc_speakers_t *s, uint32_t i)
{
    uint32_t n;
    const uint32_t *v = hc_speakers_video(s, &n);
    ck_assert_uint_lt(i, n);
    return v[i];
}

START_TEST(cfg_and_membership)
{
    hc_speakers_cfg_t cfg;
    hc_speakers_cfg_default(&cfg);
    ck_assert_uint_eq(cfg.audio_k, 3);
    ck_assert_uint_eq(cfg.video_n, 4);
    ck_assert_uint_eq(cfg.lead_us, 1000 * MS);
    hc_speakers_t *s = NULL;
    cfg.audio_k = 0;
    ck_assert_int_eq(hc_speakers_new(&s, &cfg), -HC_EINVAL);
    cfg.audio_k = 3;
    cfg.max_parts = 2;
    ck_assert_int_eq(hc_speakers_new(&s, &cfg), 0);
    ck_assert_int_eq(hc_speakers_add(s, 0, true, false), -HC_EINVAL);
    ck_assert_int_eq(hc_speakers_add(s, 1, true, false), 0);
    ck_assert_int_eq(hc_speakers_add(s, 1, true, false), -HC_EEXIST);
    ck_assert_int_eq(hc_speakers_add(s, 2, true, false), 0);
    ck_assert_int_eq(hc_speakers_add(s, 3, true, false), -HC_EFULL);
    ck_assert_int_eq(hc_speakers_level(s, 3, 10, true), -HC_ENOTFOUND);
    ck_assert_int_eq(hc_speakers_pin(s, 3), -HC_ENOTFOUND);
    hc_speakers_remove(s, 1);
    ck_assert_int_eq(hc_speakers_add(s, 3, true, false), 0);
    hc_speakers_destroy(&s);
    ck_assert_ptr_null(s);
}
END_TEST

/* Free slots are filled at once by whoever speaks, loudest first; silence
 * fills nothing. */
START_TEST(empty_slots_fill_at_once)
{
    hc_speakers_t *s = mk(2, 0);
    for (uint32_t id = 1; id <= 4; id++) hc_speakers_add(s, id, true, false);
    ck_assert_int_eq(hc_speakers_tick(s, 0), 0);
    ck_assert_uint_eq(audio_slot(s, 0), 0);
    hc_speakers_level(s, 3, 40, true);
    hc_speakers_level(s, 4, 20, true);
    hc_speakers_level(s, 1, 127, false);
    hc_speakers_level(s, 2, 110, false); /* quiet and no voice flag: silent */
    int bits = hc_speakers_tick(s, TICK);
    ck_assert(bits & HC_SPEAKERS_AUDIO);
    ck_assert(bits & HC_SPEAKERS_DOMINANT);
    ck_assert_uint_eq(audio_slot(s, 0), 4);
    ck_assert_uint_eq(audio_slot(s, 1), 3);
    ck_assert_uint_eq(hc_speakers_dominant(s), 4);
    hc_speakers_destroy(&s);
}
END_TEST

/* Two equally loud speakers competing for one slot never flap, however
 * long they talk; nor does one that leads by less than the margin. */
START_TEST(no_flapping_equal_voices)
{
    hc_speakers_t *s = mk(1, 1);
    hc_speakers_add(s, 1, true, true);
    hc_speakers_add(s, 2, true, true);
    uint64_t now = 0;
    hc_speakers_level(s, 1, 30, true);
    hc_speakers_level(s, 2, 30, true);
    hc_speakers_tick(s, now);
    uint32_t holder = audio_slot(s, 0), vholder = video_slot(s, 0);
    uint32_t dom = hc_speakers_dominant(s);
    ck_assert_uint_ne(holder, 0);
    uint64_t state = 7;
    for (int i = 0; i < 600; i++) { /* two minutes of 200 ms ticks */
        now += TICK;
        /* Jitter of a few dB either way, never the margin (6) for long. */
        uint8_t a = (uint8_t)(28 + hc_test_rand(&state) % 5);
        uint8_t b = (uint8_t)(28 + hc_test_rand(&state) % 5);
        hc_speakers_level(s, 1, a, true);
        hc_speakers_level(s, 2, b, true);
        ck_assert_int_eq(hc_speakers_tick(s, now), 0);
        ck_assert_uint_eq(audio_slot(s, 0), holder);
        ck_assert_uint_eq(video_slot(s, 0), vholder);
        ck_assert_uint_eq(hc_speakers_dominant(s), dom);
    }
    hc_speakers_destroy(&s);
}
END_TEST

/* A louder challenger takes the slot only after leading for lead_us
 * without a break. */
START_TEST(lead_for_a_second)
{
    hc_speakers_t *s = mk(1, 0);
    hc_speakers_add(s, 1, true, false);
    hc_speakers_add(s, 2, true, false);
    uint64_t now = 0;
    hc_speakers_level(s, 1, 40, true);
    hc_speakers_tick(s, now);
    ck_assert_uint_eq(audio_slot(s, 0), 1);
    /* Participant 2 is louder by 20 dB, but only in bursts of 0.8 s. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 4; i++) {
            now += TICK;
            hc_speakers_level(s, 2, 20, true);
            hc_speakers_tick(s, now);
            ck_assert_uint_eq(audio_slot(s, 0), 1);
        }
        now += TICK;
        hc_speakers_level(s, 2, 60, true); /* a pause in the sentence */
        hc_speakers_tick(s, now);
        ck_assert_uint_eq(audio_slot(s, 0), 1);
    }
    /* Now a sustained lead: first tick starts the clock, the slot changes
     * once the lead has lasted 1 s. */
    uint64_t start = now + TICK;
    int switched_at = -1;
    for (int i = 0; i < 10 && switched_at < 0; i++) {
        now += TICK;
        hc_speakers_level(s, 2, 20, true);
        int bits = hc_speakers_tick(s, now);
        if (audio_slot(s, 0) == 2) {
            ck_assert(bits & HC_SPEAKERS_AUDIO);
            switched_at = i;
        }
    }
    ck_assert_int_ge(switched_at, 0);
    ck_assert_uint_eq(now - start, 1000 * MS);
    ck_assert_uint_eq(hc_speakers_dominant(s), 2);
    hc_speakers_destroy(&s);
}
END_TEST

/* Last-N video: new dominant speakers take the slot of the one dominant
 * longest ago; holders never move between slots. */
START_TEST(last_n_video)
{
    hc_speakers_t *s = mk(1, 2);
    for (uint32_t id = 1; id <= 4; id++) hc_speakers_add(s, id, true, id != 4);
    uint64_t now = 0;
    hc_speakers_tick(s, now);
    /* Free video slots show someone even before anyone speaks. */
    ck_assert_uint_eq(video_slot(s, 0), 1);
    ck_assert_uint_eq(video_slot(s, 1), 2);
    /* 3 talks: becomes dominant at once (nobody was), replaces the slot of
     * the never-dominant 1 (oldest), 2 stays in slot 1. */
    hc_speakers_level(s, 3, 10, true);
    now += TICK;
    int bits = hc_speakers_tick(s, now);
    ck_assert(bits & HC_SPEAKERS_VIDEO);
    ck_assert_uint_eq(hc_speakers_dominant(s), 3);
    ck_assert_uint_eq(video_slot(s, 0), 3);
    ck_assert_uint_eq(video_slot(s, 1), 2);
    /* 1 becomes dominant (after a sustained lead): takes 2's slot. */
    hc_speakers_level(s, 3, 127, false);
    for (int i = 0; i < 8; i++) {
        now += TICK;
        hc_speakers_level(s, 1, 10, true);
        hc_speakers_tick(s, now);
    }
    ck_assert_uint_eq(hc_speakers_dominant(s), 1);
    ck_assert_uint_eq(video_slot(s, 0), 3);
    ck_assert_uint_eq(video_slot(s, 1), 1);
    /* 4 has no video: dominant, but the video slots stay. */
    hc_speakers_level(s, 1, 127, false);
    for (int i = 0; i < 8; i++) {
        now += TICK;
        hc_speakers_level(s, 4, 10, true);
        hc_speakers_tick(s, now);
    }
    ck_assert_uint_eq(hc_speakers_dominant(s), 4);
    ck_assert_uint_eq(video_slot(s, 0), 3);
    ck_assert_uint_eq(video_slot(s, 1), 1);
    /* A holder leaves: the slot is refilled at the next tick. */
    ck_assert_int_eq(hc_speakers_remove(s, 3), HC_SPEAKERS_VIDEO);
    ck_assert_uint_eq(video_slot(s, 0), 0);
    now += TICK;
    ck_assert(hc_speakers_tick(s, now) & HC_SPEAKERS_VIDEO);
    ck_assert_uint_eq(video_slot(s, 0), 2);
    hc_speakers_destroy(&s);
}
END_TEST

START_TEST(pinned_floor)
{
    hc_speakers_t *s = mk(2, 2);
    for (uint32_t id = 1; id <= 3; id++) hc_speakers_add(s, id, true, true);
    hc_speakers_level(s, 1, 10, true);
    hc_speakers_level(s, 2, 12, true);
    hc_speakers_tick(s, 0);
    ck_assert_uint_eq(audio_slot(s, 0), 1);
    ck_assert_uint_eq(audio_slot(s, 1), 2);
    /* 3 is silent but pinned: it gets slot 0 at once and keeps it. */
    ck_assert_int_eq(hc_speakers_pin(s, 3), 0);
    int bits = hc_speakers_tick(s, TICK);
    ck_assert(bits & HC_SPEAKERS_AUDIO);
    ck_assert_uint_eq(audio_slot(s, 0), 3);
    ck_assert_uint_eq(video_slot(s, 0), 3);
    uint64_t now = TICK;
    for (int i = 0; i < 20; i++) {
        now += TICK;
        hc_speakers_level(s, 1, 0, true);
        hc_speakers_level(s, 2, 0, true);
        hc_speakers_tick(s, now);
        ck_assert_uint_eq(audio_slot(s, 0), 3);
        ck_assert_uint_eq(video_slot(s, 0), 3);
    }
    hc_speakers_pin(s, 0);
    hc_speakers_remove(s, 3);
    now += TICK;
    hc_speakers_tick(s, now);
    ck_assert_uint_ne(audio_slot(s, 0), 0);
    ck_assert_uint_ne(audio_slot(s, 0), audio_slot(s, 1));
    hc_speakers_destroy(&s);
}
END_TEST

/* Random levels, joins and leaves: slots never hold a stranger, never hold
 * anyone twice, audio slots hold audio publishers and video slots video
 * publishers, and an audio holder is displaced only by someone who led it
 * (so never more often than once per lead_us per slot). */
START_TEST(random_invariants)
{
    hc_speakers_cfg_t cfg;
    hc_speakers_cfg_default(&cfg);
    cfg.max_parts = 40;
    hc_speakers_t *s = NULL;
    ck_assert_int_eq(hc_speakers_new(&s, &cfg), 0);
    bool in[41] = {0}, has_v[41] = {0}, has_a[41] = {0};
    uint64_t state = 42, now = 0;
    uint64_t last_change[3] = {0};
    uint32_t prev[3] = {0};
    unsigned displaced = 0;
    for (int step = 0; step < 5000; step++) {
        now += TICK;
        uint32_t id = 1 + (uint32_t)(hc_test_rand(&state) % 40);
        uint64_t r = hc_test_rand(&state) % 100;
        if (!in[id] && r < 30) {
            has_a[id] = hc_test_rand(&state) % 8 != 0;
            has_v[id] = hc_test_rand(&state) % 2;
            ck_assert_int_eq(hc_speakers_add(s, id, has_a[id], has_v[id]), 0);
            in[id] = true;
        } else if (in[id] && r < 33) {
            hc_speakers_remove(s, id);
            in[id] = false;
            for (int k = 0; k < 3; k++)
                if (prev[k] == id) prev[k] = 0; /* a vacated slot refills at once */
        }
        for (uint32_t p = 1; p <= 40; p++) {
            if (!in[p]) continue;
            /* Mostly silence, some talkers with slowly drifting levels. */
            uint8_t lv = (p % 7 == (uint32_t)(step / 50) % 7)
                             ? (uint8_t)(10 + hc_test_rand(&state) % 30)
                             : 127;
            hc_speakers_level(s, p, lv, lv < 100);
        }
        hc_speakers_tick(s, now);
        uint32_t na, nv;
        const uint32_t *a = hc_speakers_audio(s, &na);
        const uint32_t *v = hc_speakers_video(s, &nv);
        for (uint32_t i = 0; i < na; i++) {
            if (!a[i]) continue;
            ck_assert(in[a[i]] && has_a[a[i]]);
            for (uint32_t k = i + 1; k < na; k++) ck_assert_uint_ne(a[i], a[k]);
            if (prev[i] && a[i] != prev[i]) {
                /* Displacing a present holder needs a full lead. */
                ck_assert_uint_ge(now - last_change[i], cfg.lead_us);
                displaced++;
            }
            if (a[i] != prev[i]) last_change[i] = now;
            prev[i] = a[i];
        }
        for (uint32_t i = 0; i < nv; i++) {
            if (!v[i]) continue;
            ck_assert(in[v[i]] && has_v[v[i]]);
            for (uint32_t k = i + 1; k < nv; k++) ck_assert_uint_ne(v[i], v[k]);
        }
        uint32_t d = hc_speakers_dominant(s);
        if (d) ck_assert(in[d]);
    }
    ck_assert_uint_gt(displaced, 50); /* the property was exercised */
    hc_speakers_destroy(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_speakers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cfg_and_membership);
    tcase_add_test(tc, empty_slots_fill_at_once);
    tcase_add_test(tc, no_flapping_equal_voices);
    tcase_add_test(tc, lead_for_a_second);
    tcase_add_test(tc, last_n_video);
    tcase_add_test(tc, pinned_floor);
    tcase_add_test(tc, random_invariants);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
