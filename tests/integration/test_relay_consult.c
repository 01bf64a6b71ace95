/*
 * Integration test of the consult control channel through a real
 * hc-relay: a clinician steers a remote device side with `control`
 * messages that arrive in order and are acknowledged, the sender gets a
 * `control_rtt` for each, and when the far side stops acknowledging for
 * longer than the session's deadline both parties get `alarm`
 * control_lost, then control_restored once acks flow again.
 */
#include "tests/integration/test_relay_fixture.h"

#include <jansson.h>

static rf_relay_t relay;

static void send_control(rf_party_t *from, const char *to, uint32_t seq)
{
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_CONTROL);
    m.control.seq = seq;
    if (to) snprintf(m.control.to, sizeof m.control.to, "%s", to);
    m.control.body = json_pack("{s:s, s:s, s:f}", "cmd", "move", "axis", "x", "mm", 0.5 * seq);
    ck_assert_int_eq(hc_sigclient_send(from->sig, &m), 0);
    hc_sig_msg_fini(&m);
}

START_TEST(control_ordered_acked_and_alarmed)
{
    rf_relay_start(&relay);
    rf_party_t *doc = calloc(1, sizeof *doc), *clinic = calloc(1, sizeof *clinic);
    rf_join_opts_t o = {.role = "clinician",
                        .session = "consult-42",
                        .site = "city hospital",
                        .create = "consult",
                        .video = false,
                        .audio = true,
                        .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, doc, &o), 0);
    rf_join_opts_t so = {.role = "site",
                         .session = "consult-42",
                         .site = "township clinic",
                         .audio = true,
                         .subscribe = true};
    ck_assert_int_eq(rf_join(&relay, clinic, &so), 0);
    clinic->auto_ack = true;
    rf_party_t *all[2] = {doc, clinic};
    rf_publish(doc, true);
    rf_publish(clinic, true);
    rf_pump(all, 2, 300);

    /* 30 commands, some addressed, some to "the other party" */
    for (uint32_t i = 1; i <= 30; i++) {
        send_control(doc, i % 2 ? clinic->joined.participant : NULL, 1000 + i);
        rf_pump(all, 2, 5);
    }
    rf_pump(all, 2, 500);
    ck_assert_uint_eq(clinic->ev_control, 30);
    ck_assert_uint_eq(clinic->ctl_out_of_order, 0);
    ck_assert_uint_eq(clinic->ctl_last, 1030);
    ck_assert_str_eq(clinic->ctl_from, doc->joined.participant);
    ck_assert_uint_eq(doc->ev_ack, 30);
    ck_assert_uint_eq(doc->ev_rtt, 30);
    ck_assert(doc->last_rtt_ms >= 0 && doc->last_rtt_ms < 300);
    ck_assert_uint_eq(doc->ev_lost, 0);

    /* the clinic side stops acknowledging: both sides hear of it */
    clinic->auto_ack = false;
    send_control(doc, NULL, 2000);
    rf_pump(all, 2, 800); /* default deadline 300 ms */
    ck_assert_uint_ge(doc->ev_lost, 1);
    ck_assert_uint_ge(clinic->ev_lost, 1);
    ck_assert_str_eq(doc->alarm_who, clinic->joined.participant);
    /* acks flow again */
    hc_sig_msg_t a;
    hc_sig_msg_init(&a, HC_SIG_CONTROL_ACK);
    a.control_ack.seq = 2000;
    snprintf(a.control_ack.to, sizeof a.control_ack.to, "%s", doc->joined.participant);
    ck_assert_int_eq(hc_sigclient_send(clinic->sig, &a), 0);
    clinic->auto_ack = true;
    send_control(doc, NULL, 2001);
    rf_pump(all, 2, 500);
    ck_assert_uint_ge(doc->ev_restored, 1);
    ck_assert_uint_ge(clinic->ev_restored, 1);
    /* audio went both ways meanwhile */
    ck_assert_ptr_nonnull(clinic->ntrk ? &clinic->trk[0] : NULL);
    uint64_t got = 0;
    for (size_t i = 0; i < clinic->ntrk; i++) got += clinic->trk[i].n;
    ck_assert_uint_gt(got, 50);

    /* a site may not claim to be someone else */
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_CONTROL);
    m.control.seq = 1;
    snprintf(m.control.from, sizeof m.control.from, "%s", doc->joined.participant);
    m.control.body = json_object();
    ck_assert_int_eq(hc_sigclient_send(clinic->sig, &m), 0);
    hc_sig_msg_fini(&m);
    uint32_t before = doc->ev_control;
    rf_pump(all, 2, 300);
    ck_assert_uint_eq(doc->ev_control, before);

    rf_leave(doc);
    rf_leave(clinic);
    free(doc);
    free(clinic);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_consult");
    TCase *tc = tcase_create("consult");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, control_ordered_acked_and_alarmed);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
