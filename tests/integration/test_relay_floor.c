/*
 * Integration test of the class floor through a real hc-relay: a site
 * raises its hand, the teacher grants it the floor, and the site's audio
 * and video reach everyone on the floor tracks; the floor moves to another
 * site and back, and is revoked, and through all of it the receivers'
 * floor tracks continue without a sequence jump they would take for loss
 * (the relay rewrites SSRC, sequence numbers and timestamps).
 */
#include "tests/integration/test_relay_fixture.h"

static rf_relay_t relay;

static void req_ok(rf_party_t *p, hc_sig_type_t type, const char *participant)
{
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, type);
    if (type == HC_SIG_GRANT_FLOOR)
        snprintf(req.grant_floor.participant, sizeof req.grant_floor.participant, "%s",
                 participant);
    if (type == HC_SIG_REVOKE_FLOOR && participant)
        snprintf(req.revoke_floor.participant, sizeof req.revoke_floor.participant, "%s",
                 participant);
    rf_call_ok(p->sig, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_OK);
    hc_sig_msg_fini(&rep);
}

static void check_continuous(rf_party_t *p, const char *mid)
{
    rf_trk_t *k = rf_trk(p, mid);
    ck_assert_ptr_nonnull(k);
    hc_ep_track_stats_t st;
    hc_ep_track_stats(k->t, &st);
    ck_assert_msg(k->jumps == 0, "%s %s: %llu sequence jumps", p->name, mid,
                  (unsigned long long)k->jumps);
    ck_assert_msg(st.missing == 0, "%s %s: %llu packets missing", p->name, mid,
                  (unsigned long long)st.missing);
}

START_TEST(grant_switch_revoke_without_jumps)
{
    rf_relay_start(&relay);
    rf_party_t *t = calloc(1, sizeof *t), *a = calloc(1, sizeof *a), *c = calloc(1, sizeof *c),
               *b = calloc(1, sizeof *b);
    rf_join_opts_t o = {.role = "teacher",
                        .session = "geo-1",
                        .site = "teacher",
                        .create = "class",
                        .video = true,
                        .audio = true,
                        .subscribe = true,
                        .level = 40};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    rf_join_opts_t so = {.role = "site",
                         .session = "geo-1",
                         .site = "site-a",
                         .video = true,
                         .audio = true,
                         .subscribe = true,
                         .level = 50};
    ck_assert_int_eq(rf_join(&relay, a, &so), 0);
    so.site = "site-c";
    ck_assert_int_eq(rf_join(&relay, c, &so), 0);
    rf_join_opts_t bo = {.role = "site", .session = "geo-1", .site = "site-b", .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, b, &bo), 0);
    ck_assert_ptr_nonnull(rf_trk(b, "floor-video"));
    ck_assert_ptr_nonnull(rf_trk(b, "floor-audio"));
    ck_assert_str_eq(b->joined.floor, "");

    rf_party_t *all[4] = {t, a, c, b};
    rf_pump(all, 4, 300);
    rf_publish(t, true);
    rf_publish(a, true);
    rf_publish(c, true);
    rf_pump(all, 4, 1000);
    ck_assert_uint_eq(rf_trk(b, "floor-video")->n, 0); /* nobody holds the floor */
    ck_assert_uint_gt(rf_trk(b, "main-video")->n, 50);

    /* site a raises its hand; everyone hears of it */
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_RAISE_HAND);
    rf_call_ok(a->sig, &req, &rep);
    hc_sig_msg_fini(&rep);
    rf_pump(all, 4, 200);
    ck_assert_uint_ge(t->ev_hand, 1);
    ck_assert_uint_ge(b->ev_hand, 1);

    /* the teacher grants it the floor */
    req_ok(t, HC_SIG_GRANT_FLOOR, a->joined.participant);
    rf_pump(all, 4, 1500);
    ck_assert_str_eq(b->floor, a->joined.participant);
    ck_assert_str_eq(t->floor, a->joined.participant);
    rf_trk_t *fv = rf_trk(b, "floor-video"), *fa = rf_trk(b, "floor-audio");
    uint64_t v1 = fv->n, a1 = fa->n;
    ck_assert_uint_gt(v1, 20);
    ck_assert_uint_gt(a1, 30);
    ck_assert_str_eq(fv->from, a->joined.participant);
    /* the teacher sees the floor too */
    ck_assert_uint_gt(rf_trk(t, "floor-video")->n, 20);
    check_continuous(b, "floor-video");
    check_continuous(b, "floor-audio");

    /* the floor moves to site c while media flows: same tracks, no jump */
    req_ok(t, HC_SIG_GRANT_FLOOR, c->joined.participant);
    rf_pump(all, 4, 1500);
    ck_assert_str_eq(b->floor, c->joined.participant);
    ck_assert_str_eq(fv->from, c->joined.participant);
    ck_assert_uint_gt(fv->n, v1 + 20);
    ck_assert_uint_gt(fa->n, a1 + 30);
    check_continuous(b, "floor-video");
    check_continuous(b, "floor-audio");
    /* a, no longer holding the floor, receives c on its floor tracks */
    ck_assert_uint_gt(rf_trk(a, "floor-video")->n, 10);

    /* the teacher takes it back: the floor tracks fall silent */
    req_ok(t, HC_SIG_REVOKE_FLOOR, NULL);
    rf_pump(all, 4, 400);
    ck_assert_str_eq(b->floor, "");
    uint64_t v2 = fv->n;
    rf_pump(all, 4, 800);
    ck_assert_uint_eq(fv->n, v2);

    /* and grants a again: the track continues where it stopped */
    req_ok(t, HC_SIG_GRANT_FLOOR, a->joined.participant);
    rf_pump(all, 4, 1200);
    ck_assert_uint_gt(fv->n, v2 + 20);
    check_continuous(b, "floor-video");
    check_continuous(b, "floor-audio");

    /* a site hands the floor back itself; it may not revoke someone else's */
    hc_sig_msg_init(&req, HC_SIG_REVOKE_FLOOR);
    snprintf(req.revoke_floor.participant, sizeof req.revoke_floor.participant, "%s",
             a->joined.participant);
    ck_assert_int_eq(hc_sigclient_call(c->sig, &req, &rep, 5000), -HC_EPERM);
    hc_sig_msg_fini(&rep);
    req_ok(a, HC_SIG_REVOKE_FLOOR, NULL);
    rf_pump(all, 4, 300);
    ck_assert_str_eq(b->floor, "");
    /* the teacher's main tracks never moved */
    check_continuous(b, "main-video");
    check_continuous(b, "main-audio");

    rf_party_t *ps[4] = {t, a, c, b};
    for (int i = 0; i < 4; i++) {
        rf_leave(ps[i]);
        free(ps[i]);
    }
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_floor");
    TCase *tc = tcase_create("floor");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grant_switch_revoke_without_jumps);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
