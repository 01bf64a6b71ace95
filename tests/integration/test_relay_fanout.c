/*
 * Integration test of hc-relay's fan-out: a real relay process on
 * loopback, a teacher publishing synthetic video and audio, and classroom
 * sites receiving. Every subscriber receives every packet, in order, with
 * valid SRTP (the endpoint authenticates each one); a subscriber with the
 * wrong key gets nothing it can use, a wrong token gets no session at all;
 * and the real hc-probe, with libx264 on one side and libavcodec decoding
 * on the other, sees decodable pictures through the relay.
 */
#include "tests/integration/test_relay_fixture.h"

static rf_relay_t relay;

START_TEST(every_subscriber_gets_every_packet)
{
    rf_relay_start(&relay);
    rf_party_t *t = calloc(1, sizeof *t), *s[4];
    rf_join_opts_t o = {.role = "teacher",
                        .session = "math-101",
                        .site = "No.1 Middle School",
                        .create = "class",
                        .video = true,
                        .audio = true,
                        .subscribe = false,
                        .level = 40};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    for (int i = 0; i < 4; i++) {
        s[i] = calloc(1, sizeof *s[i]);
        char site[32];
        snprintf(site, sizeof site, "village-%d", i);
        rf_join_opts_t so = {.role = "site",
                             .session = "math-101",
                             .site = site,
                             .subscribe = true,
                             .corrupt_down = i == 3};
        ck_assert_int_eq(rf_join(&relay, s[i], &so), 0);
        ck_assert_ptr_nonnull(rf_trk(s[i], "main-video"));
        ck_assert_ptr_nonnull(rf_trk(s[i], "main-audio"));
        ck_assert_str_eq(rf_trk(s[i], "main-video")->from, t->joined.participant);
    }
    rf_party_t *all[5] = {t, s[0], s[1], s[2], s[3]};
    rf_pump(all, 5, 400); /* keepalives: the relay learns every address */
    rf_publish(t, true);
    rf_pump(all, 5, 3000);
    rf_publish(t, false);
    rf_pump(all, 5, 600);
    ck_assert_uint_gt(t->v_sent, 250);
    ck_assert_uint_gt(t->a_sent, 140);
    for (int i = 0; i < 3; i++) {
        rf_trk_t *v = rf_trk(s[i], "main-video"), *a = rf_trk(s[i], "main-audio");
        ck_assert_uint_eq(v->n, t->v_sent);
        ck_assert_uint_eq(v->jumps, 0);
        ck_assert_uint_eq(v->frame_jumps, 0);
        ck_assert_int_eq(v->last_frame, (int64_t)t->vframe - 1);
        ck_assert_uint_eq(v->capture_seen, v->n);
        ck_assert_uint_eq(v->rtx, 0);
        ck_assert_uint_eq(a->n, t->a_sent);
        ck_assert_uint_eq(a->jumps, 0);
        hc_endpoint_stats_t es;
        hc_endpoint_stats(s[i]->ep, &es);
        ck_assert_uint_eq(es.drop_auth, 0);
        ck_assert_uint_eq(es.drop_replay, 0);
        ck_assert_uint_ge(es.rtcp_rx, 1); /* the relay's SRs/RRs authenticate too */
    }
    /* the one with a wrong key_down: packets arrive, none authenticates */
    ck_assert_uint_eq(rf_trk(s[3], "main-video")->n, 0);
    ck_assert_uint_eq(rf_trk(s[3], "main-audio")->n, 0);
    hc_endpoint_stats_t es;
    hc_endpoint_stats(s[3]->ep, &es);
    ck_assert_uint_gt(es.drop_auth, 100);
    /* the publisher heard reports about its streams */
    hc_endpoint_stats(t->ep, &es);
    ck_assert_uint_ge(es.rtcp_rx, 1);
    for (int i = 0; i < 4; i++) {
        rf_leave(s[i]);
        free(s[i]);
    }
    rf_leave(t);
    free(t);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

START_TEST(wrong_token_gets_nothing)
{
    rf_relay_start(&relay);
    hc_sigclient_t *c = NULL;
    /* signed with another key */
    ck_assert_int_eq(
        rf_connect(&relay,
                   rf_token_key("site", "math-101", "x", "another-secret-0123456789abcdef0"), &c),
        -HC_ESIGNATURE);
    ck_assert_ptr_null(c);
    /* a valid token for another session cannot join this one */
    rf_party_t *t = calloc(1, sizeof *t);
    rf_join_opts_t o = {.role = "teacher",
                        .session = "math-101",
                        .site = "teacher",
                        .create = "class",
                        .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    ck_assert_int_eq(rf_connect(&relay, rf_token("site", "art-7", "y"), &c), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "math-101");
    snprintf(req.join.site, sizeof req.join.site, "y");
    ck_assert_int_eq(hc_sigclient_call(c, &req, &rep, 5000), -HC_EPERM);
    hc_sig_msg_fini(&rep);
    hc_sigclient_destroy(&c);
    rf_leave(t);
    free(t);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

START_TEST(hc_probe_h264_through_relay)
{
    rf_relay_start(&relay);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-probe", hc_test_bin_dir());
    if (access(bin, X_OK) != 0) {
        rf_relay_stop(&relay);
        ck_abort_msg("%s is not built", bin);
    }
    char tok_t[4200], tok_s[4200], out_t[256], out_s[256];
    snprintf(tok_t, sizeof tok_t, "%s", rf_token("teacher", "bio-3", "city teacher"));
    snprintf(tok_s, sizeof tok_s, "%s", rf_token("site", "bio-3", "hill school"));
    snprintf(out_t, sizeof out_t, "%s/probe-teacher.txt", relay.dir);
    snprintf(out_s, sizeof out_s, "%s/probe-site.txt", relay.dir);
    char *targv[] = {
        bin,         "--url", relay.url,    "--token",      tok_t,       "--create",    "class",
        "--session", "bio-3", "--site",     "city teacher", "--publish", "video,audio", "--h264",
        "--bitrate", "800k",  "--duration", "7s",           NULL};
    pid_t pt = rf_spawn(targv, out_t);
    rf_sleep_ms(1500); /* the teacher creates the session */
    char *sargv[] = {bin,           "--url",
                     relay.url,     "--token",
                     tok_s,         "--session",
                     "bio-3",       "--site",
                     "hill school", "--subscribe",
                     "--h264",      "--duration",
                     "4s",          "--expect-frames",
                     "60",          "--expect-loss-after",
                     "0",           "--expect-no-jumps",
                     "--json",      NULL};
    pid_t ps = rf_spawn(sargv, out_s);
    int cs = rf_wait_exit(ps, out_s);
    int ct = rf_wait_exit(pt, out_t);
    ck_assert_int_eq(cs, 0);
    ck_assert_int_eq(ct, 0);
    /* the decoded pictures showed frame numbers */
    FILE *f = fopen(out_s, "r");
    char line[8192];
    bool json = false;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "{\"probe\"", 8)) json = strstr(line, "\"decoded\":") != NULL;
    if (f) fclose(f);
    ck_assert(json);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_fanout");
    TCase *tc = tcase_create("fanout");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_subscriber_gets_every_packet);
    tcase_add_test(tc, wrong_token_gets_nothing);
    tcase_add_test(tc, hc_probe_h264_through_relay);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
