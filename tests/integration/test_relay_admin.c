/*
 * Integration test of hc-relay's admin side and TLS: an admin lists
 * sessions and participants (with live leg statistics) and kicks a
 * participant, who gets `kicked` while the others get `participant_left`;
 * hc-ctl does the same from the command line when it is built; and the
 * signaling works over TLS with the certificate the relay generates at
 * first start, media included.
 */
#include "tests/integration/test_relay_fixture.h"

static rf_relay_t relay;

static int run_ctl(char *const argv[], char *out, size_t cap)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(pfd[0], out + len, cap - 1 - len)) > 0) len += (size_t)r;
    out[len] = 0;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

START_TEST(admin_lists_and_kicks)
{
    rf_relay_start(&relay);
    rf_party_t *t = calloc(1, sizeof *t), *s1 = calloc(1, sizeof *s1), *s2 = calloc(1, sizeof *s2);
    rf_join_opts_t o = {.role = "teacher",
                        .session = "hist-9",
                        .site = "teacher",
                        .create = "class",
                        .video = true,
                        .audio = true,
                        .subscribe = false};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    rf_join_opts_t so = {.role = "site", .session = "hist-9", .site = "site-1", .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, s1, &so), 0);
    so.site = "site-2";
    ck_assert_int_eq(rf_join(&relay, s2, &so), 0);
    rf_party_t *all[3] = {t, s1, s2};
    rf_pump(all, 3, 200);
    rf_publish(t, true);
    rf_pump(all, 3, 1500);

    hc_sigclient_t *adm;
    ck_assert_int_eq(rf_connect(&relay, rf_token("admin", NULL, "ops"), &adm), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_LIST_SESSIONS);
    rf_call_ok(adm, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_SESSIONS);
    ck_assert_uint_eq(rep.sessions.total, 1);
    ck_assert_str_eq(rep.sessions.items[0].session, "hist-9");
    ck_assert_uint_eq(rep.sessions.items[0].participants, 3);
    hc_sig_msg_fini(&rep);

    hc_sig_msg_init(&req, HC_SIG_LIST_PARTICIPANTS);
    snprintf(req.list_participants.session, sizeof req.list_participants.session, "hist-9");
    rf_call_ok(adm, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_PARTICIPANTS);
    ck_assert_uint_eq(rep.participants.total, 3);
    bool teacher_legs = false;
    for (size_t i = 0; i < rep.participants.n_items; i++) {
        const hc_sig_participant_info_t *pi = &rep.participants.items[i];
        if (!strcmp(pi->participant, t->joined.participant)) {
            for (size_t k = 0; k < pi->n_legs; k++)
                if (pi->legs[k].dir == HC_SIG_LEG_IN && pi->legs[k].kind == HC_SIG_MEDIA_VIDEO &&
                    pi->legs[k].kbps > 0)
                    teacher_legs = true;
        }
    }
    ck_assert_msg(teacher_legs, "no live incoming video leg for the teacher");
    hc_sig_msg_fini(&rep);

    /* a site may not use the admin API */
    hc_sig_msg_init(&req, HC_SIG_LIST_SESSIONS);
    ck_assert_int_eq(hc_sigclient_call(s1->sig, &req, &rep, 5000), -HC_EPERM);
    hc_sig_msg_fini(&rep);

    hc_sig_msg_init(&req, HC_SIG_KICK);
    snprintf(req.kick.session, sizeof req.kick.session, "hist-9");
    snprintf(req.kick.participant, sizeof req.kick.participant, "%s", s1->joined.participant);
    rf_call_ok(adm, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_OK);
    hc_sig_msg_fini(&rep);
    uint64_t n_before = rf_trk(s1, "main-video")->n;
    rf_pump(all, 3, 800);
    ck_assert(s1->kicked);
    ck_assert_uint_ge(s2->ev_left, 1);
    /* the kicked site's media stopped */
    ck_assert_uint_le(rf_trk(s1, "main-video")->n, n_before + 40);
    ck_assert_uint_gt(rf_trk(s2, "main-video")->n, 60);

    /* hc-ctl, when built, does the same from the command line */
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-ctl", hc_test_bin_dir());
    if (access(bin, X_OK) == 0) {
        char tok[4200], out[16384];
        snprintf(tok, sizeof tok, "%s", rf_token("admin", NULL, "ops"));
        char *a1[] = {bin, "--url", relay.url, "--token", tok, "sessions", NULL};
        ck_assert_int_eq(run_ctl(a1, out, sizeof out), 0);
        ck_assert_ptr_nonnull(strstr(out, "hist-9"));
        char *a2[] = {bin, "--url", relay.url, "--token",
                      tok, "kick",  "hist-9",  s2->joined.participant,
                      NULL};
        ck_assert_int_eq(run_ctl(a2, out, sizeof out), 0);
        rf_pump(all, 3, 500);
        ck_assert(s2->kicked);
    }
    hc_sigclient_destroy(&adm);
    rf_leave(t);
    rf_leave(s1);
    rf_leave(s2);
    free(t);
    free(s1);
    free(s2);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

/* Over TLS, with the real hc-probe on both sides: one TLS client per
 * process, as in real use (libwebsockets 4.1 leaks an SSL_CTX when two
 * TLS client contexts share a process, which the ASan build would report). */
START_TEST(tls_signaling_and_media)
{
    rf_relay_start_ex(&relay, true, NULL, NULL);
    ck_assert(!strncmp(relay.url, "wss://", 6));
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-probe", hc_test_bin_dir());
    ck_assert_msg(access(bin, X_OK) == 0, "%s is not built", bin);
    char tok_t[4200], tok_s[4200], out_t[256], out_s[256];
    snprintf(tok_t, sizeof tok_t, "%s", rf_token("teacher", "sec-1", "teacher"));
    snprintf(tok_s, sizeof tok_s, "%s", rf_token("site", "sec-1", "site"));
    snprintf(out_t, sizeof out_t, "%s/probe-teacher.txt", relay.dir);
    snprintf(out_s, sizeof out_s, "%s/probe-site.txt", relay.dir);
    char *targv[] = {bin,        "--url",      relay.url,     "--token",     tok_t,
                     "--create", "class",      "--session",   "sec-1",       "--site",
                     "teacher",  "--publish",  "video,audio", "--synthetic", "--bitrate",
                     "500k",     "--duration", "5s",          NULL};
    pid_t pt = rf_spawn(targv, out_t);
    rf_sleep_ms(1500);
    char *sargv[] = {bin,
                     "--url",
                     relay.url,
                     "--token",
                     tok_s,
                     "--session",
                     "sec-1",
                     "--site",
                     "site",
                     "--subscribe",
                     "--duration",
                     "2500ms",
                     "--expect-packets",
                     "100",
                     "--expect-frames",
                     "40",
                     "--expect-no-jumps",
                     NULL};
    pid_t ps = rf_spawn(sargv, out_s);
    ck_assert_int_eq(rf_wait_exit(ps, out_s), 0);
    ck_assert_int_eq(rf_wait_exit(pt, out_t), 0);
    /* a plain ws:// client gets nowhere on the TLS port */
    rf_relay_t plain = relay;
    snprintf(plain.url, sizeof plain.url, "ws://127.0.0.1:%u", relay.port);
    hc_sigclient_t *c = NULL;
    ck_assert_int_lt(rf_connect(&plain, rf_token("site", "sec-1", "x"), &c), 0);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_admin");
    TCase *tc = tcase_create("admin");
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, admin_lists_and_kicks);
    tcase_add_test(tc, tls_signaling_and_media);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
