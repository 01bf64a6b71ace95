/*
 * Integration test of conference speaker selection through a real
 * hc-relay: sites publish audio with RFC 6464 levels and video; a listener
 * receives the video of the dominant speaker on speaker0-video (last_n 1),
 * and when
 * another site becomes the loud one the slot switches to it (a `tracks`
 * event names the new participant) without a sequence jump.
 */
#include "tests/integration/test_relay_fixture.h"

static rf_relay_t relay;

START_TEST(active_speaker_switch)
{
    rf_relay_start(&relay);
    rf_party_t *host = calloc(1, sizeof *host), *a = calloc(1, sizeof *a),
               *b = calloc(1, sizeof *b), *l = calloc(1, sizeof *l);
    /* one video slot (last_n 1): the dominant speaker's */
    hc_sigclient_t *c;
    ck_assert_int_eq(rf_connect(&relay, rf_token("teacher", "town-1", "city"), &c), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_CREATE);
    req.create.kind = HC_SIG_KIND_CONFERENCE;
    snprintf(req.create.session, sizeof req.create.session, "town-1");
    req.create.last_n = 1;
    req.create.has_last_n = true;
    rf_call_ok(c, &req, &rep);
    hc_sig_msg_fini(&rep);
    hc_sigclient_destroy(&c);
    rf_join_opts_t ho = {.role = "teacher", .session = "town-1", .site = "city", .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, host, &ho), 0);
    rf_join_opts_t so = {.role = "site",
                         .session = "town-1",
                         .site = "county-a",
                         .video = true,
                         .audio = true,
                         .subscribe = true,
                         .level = 10,
                         .vbytes = 1500};
    ck_assert_int_eq(rf_join(&relay, a, &so), 0);
    so.site = "county-b";
    so.level = 127; /* silent */
    ck_assert_int_eq(rf_join(&relay, b, &so), 0);
    rf_join_opts_t lo = {
        .role = "site", .session = "town-1", .site = "listener", .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, l, &lo), 0);
    ck_assert_ptr_nonnull(rf_trk(l, "speaker0-video"));
    ck_assert_ptr_nonnull(rf_trk(l, "speaker0-audio"));
    rf_party_t *all[4] = {host, a, b, l};
    rf_publish(a, true);
    rf_publish(b, true);
    rf_pump(all, 4, 2000);
    rf_trk_t *v0 = rf_trk(l, "speaker0-video");
    ck_assert_str_eq(v0->from, a->joined.participant);
    ck_assert_uint_gt(v0->n, 30);
    uint64_t n_a = v0->n;

    /* b starts talking, a falls silent */
    a->level = 127;
    b->level = 10;
    uint32_t ev0 = l->ev_tracks;
    rf_pump(all, 4, 3000);
    ck_assert_uint_gt(l->ev_tracks, ev0);
    ck_assert_str_eq(v0->from, b->joined.participant);
    ck_assert_uint_gt(v0->n, n_a + 30);
    hc_ep_track_stats_t st;
    hc_ep_track_stats(v0->t, &st);
    ck_assert_uint_eq(v0->jumps, 0);
    ck_assert_uint_eq(st.missing, 0);
    /* b's audio holds one of the audio slots (holders keep their slots) */
    bool b_heard = false;
    for (size_t i = 0; i < l->ntrk; i++)
        if (!strncmp(l->trk[i].mid, "speaker", 7) && !l->trk[i].video &&
            !strcmp(l->trk[i].from, b->joined.participant) && l->trk[i].n > 20)
            b_heard = true;
    ck_assert(b_heard);
    ck_assert_ptr_null(rf_trk(l, "speaker1-video"));

    rf_party_t *ps[4] = {host, a, b, l};
    for (int i = 0; i < 4; i++) {
        rf_leave(ps[i]);
        free(ps[i]);
    }
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_conference");
    TCase *tc = tcase_create("conference");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, active_speaker_switch);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
