/*
 * Integration test of loss repair and address changes through a real
 * hc-relay, with hc-impair dropping packets on a leg:
 *   - relay -> subscriber loss: the subscriber NACKs, the relay answers
 *     from its history with RFC 4588 RTX, the subscriber restores them;
 *   - publisher -> relay loss: the relay NACKs the publisher, whose RTX
 *     fills the gap before (or just after) the fan-out, so subscribers
 *     end up with everything;
 *   - a subscriber whose address changes (hc-impair moves its upstream
 *     port: a NAT rebinding; or the client moves to a new socket) keeps its
 *     leg: media follows it once a packet from the new address
 *     authenticates.
 */
#include "tests/integration/test_relay_fixture.h"

static rf_relay_t relay;

static rf_party_t *teacher(const char *session, const char *via)
{
    rf_party_t *t = calloc(1, sizeof *t);
    rf_join_opts_t o = {.role = "teacher",
                        .session = session,
                        .site = "teacher",
                        .create = via ? NULL : "class",
                        .video = true,
                        .audio = true,
                        .subscribe = false,
                        .via = via};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    return t;
}

START_TEST(downstream_loss_is_repaired_and_rebinding_keeps_the_leg)
{
    rf_relay_start(&relay);
    rf_party_t *t = teacher("rep-1", NULL);
    rf_impair_t m = {0};
    /* 10 % loss toward the subscriber (media and RTX alike); at 3 s every
     * client of the emulator moves to a new upstream port */
    const char *args[] = {"--seed", "7", "--down", "loss=10%", "--step", "at 3s rebind", NULL};
    rf_impair_start(&m, (uint16_t)t->joined.media.port, args, NULL);
    char via[64];
    snprintf(via, sizeof via, "127.0.0.1:%u", m.port);
    rf_party_t *s = calloc(1, sizeof *s);
    rf_join_opts_t so = {
        .role = "site", .session = "rep-1", .site = "far village", .subscribe = true, .via = via};
    ck_assert_int_eq(rf_join(&relay, s, &so), 0);
    rf_party_t *all[2] = {t, s};
    rf_pump(all, 2, 300);
    rf_publish(t, true);
    rf_pump(all, 2, 2500);
    rf_trk_t *v = rf_trk(s, "main-video");
    hc_ep_track_stats_t st;
    hc_ep_track_stats(v->t, &st);
    uint64_t before_rebind = v->n;
    ck_assert_uint_gt(st.missing, 3); /* the emulator did drop (~15 expected) */
    ck_assert_uint_gt(st.rtx, 3);     /* NACKed packets came back as RTX */
    ck_assert_uint_le(st.lost * 5, st.missing);
    rf_pump(all, 2, 3000); /* the rebinding happens at 3 s of the emulator's clock */
    rf_publish(t, false);
    rf_pump(all, 2, 1000);
    hc_ep_track_stats(v->t, &st);
    /* media kept flowing after the address change */
    ck_assert_uint_gt(v->n, before_rebind + 60);
    /* every packet was received or given up, bar a lost tail that no later
     * packet revealed (the publisher stopped) */
    ck_assert_uint_ge(v->n + st.lost + 3, t->v_sent);
    ck_assert_uint_le(st.lost * 20, t->v_sent); /* at most 5 % left after repair */
    rf_impair_stop(&m);
    rf_leave(s);
    rf_leave(t);
    free(s);
    free(t);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

START_TEST(upstream_loss_is_repaired_and_a_new_socket_keeps_the_leg)
{
    rf_relay_start(&relay);
    /* the session first, with a direct connection that does not publish */
    rf_party_t *host = calloc(1, sizeof *host);
    rf_join_opts_t ho = {.role = "teacher",
                         .session = "rep-2",
                         .site = "host",
                         .create = "class",
                         .subscribe = false};
    ck_assert_int_eq(rf_join(&relay, host, &ho), 0);
    rf_impair_t m = {0};
    const char *args[] = {"--seed", "7", "--up", "loss=5%", NULL};
    rf_impair_start(&m, (uint16_t)host->joined.media.port, args, NULL);
    char via[64];
    snprintf(via, sizeof via, "127.0.0.1:%u", m.port);
    rf_party_t *t = calloc(1, sizeof *t);
    rf_join_opts_t o = {.role = "teacher",
                        .session = "rep-2",
                        .site = "lossy teacher",
                        .video = true,
                        .audio = true,
                        .subscribe = false,
                        .via = via};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    rf_party_t *s = calloc(1, sizeof *s);
    rf_join_opts_t so = {.role = "site", .session = "rep-2", .site = "watcher", .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, s, &so), 0);
    /* the second teacher's streams are the tutor tracks */
    rf_party_t *all[3] = {host, t, s};
    rf_pump(all, 3, 300);
    rf_publish(t, true);
    rf_pump(all, 3, 2500);
    rf_trk_t *v = rf_trk(s, "tutor-video");
    ck_assert_ptr_nonnull(v);
    hc_ep_stream_stats_t ps;
    hc_ep_stream_stats(t->sv, &ps);
    ck_assert_uint_gt(ps.nacks_rx, 3); /* the relay asked the publisher */
    ck_assert_uint_gt(ps.rtx_sent, 3);

    /* the subscriber moves to a new socket (new port): the relay follows */
    hc_addr_t old, now_addr;
    hc_endpoint_local(s->ep, &old);
    ck_assert_int_eq(hc_endpoint_rebind(s->ep, hc_now_us()), 0);
    hc_endpoint_local(s->ep, &now_addr);
    ck_assert(!hc_addr_eq(&old, &now_addr));
    uint64_t n0 = v->n;
    rf_pump(all, 3, 1500);
    rf_publish(t, false);
    rf_pump(all, 3, 1200);
    ck_assert_uint_gt(v->n, n0 + 60);
    hc_ep_track_stats_t st;
    hc_ep_track_stats(v->t, &st);
    /* what the publisher lost was restored upstream: the subscriber saw the
     * gaps at most briefly and ends with (nearly) everything */
    ck_assert_uint_ge(v->n + 3, t->v_sent - st.lost);
    ck_assert_uint_le(st.lost * 50, t->v_sent);
    rf_impair_stop(&m);
    rf_leave(s);
    rf_leave(t);
    rf_leave(host);
    free(s);
    free(t);
    free(host);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_repair");
    TCase *tc = tcase_create("repair");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, downstream_loss_is_repaired_and_rebinding_keeps_the_leg);
    tcase_add_test(tc, upstream_loss_is_repaired_and_a_new_socket_keeps_the_leg);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
