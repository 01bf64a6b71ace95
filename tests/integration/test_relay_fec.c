/*
 * Integration test of hop-by-hop FlexFEC (RFC 8627) through a real
 * hc-relay: a publisher endpoint behind one hc-impair (10 % loss toward
 * the relay, 100 ms each way), a subscriber endpoint behind another (10 %
 * loss from the relay, 100 ms each way): a round trip longer than the
 * subscriber's deadline, where retransmission (two copies at this loss,
 * proto/repair.h) cannot help and FEC must. The same scenario runs twice
 * with the same emulator seeds:
 *   - NACK alone: the publisher sends no FEC, the subscriber ignores the
 *     relay's repair stream;
 *   - FEC + NACK: the publisher protects its video (one repair packet per
 *     5, hc_endpoint_stream_fec), the relay recovers from it, and protects
 *     the subscriber's track on its own once that subscriber's receiver
 *     reports show the loss; the subscriber recovers from that.
 * The subscriber plays in sequence order with a 150 ms deadline for a
 * missing packet (reorder_ms), so what repair does not bring in time
 * counts as lost. Residual loss after repair must be lower with FEC.
 */
#include "tests/integration/test_relay_fixture.h"

#include "proto/fec.h"

static rf_relay_t relay;

typedef struct result {
    uint64_t sent;      /* video packets the publisher sent */
    uint64_t delivered; /* in sequence order, in time */
    uint64_t missing;   /* found missing at the subscriber (before its repair) */
    uint64_t lost;      /* given up: not repaired within the deadline */
    uint64_t fec_rx, fec_recovered, rtx;
    uint64_t pub_fec_sent, pub_nacks_rx;
} result_t;

#define DEADLINE_MS 150

static void run(bool fec, result_t *res)
{
    char session[32];
    snprintf(session, sizeof session, "fec-%d", fec);
    rf_relay_start(&relay);

    /* The teacher creates the class and joins directly, then moves its
     * media behind its emulator (hc_endpoint_set_remote). */
    rf_party_t *t = calloc(1, sizeof *t);
    rf_join_opts_t o = {.role = "teacher",
                        .session = session,
                        .site = "city school",
                        .create = "class",
                        .video = true,
                        .subscribe = false};
    ck_assert_int_eq(rf_join(&relay, t, &o), 0);
    const hc_sig_stream_info_t *vs = &t->joined.streams[0];
    ck_assert_int_eq(vs->kind, HC_SIG_MEDIA_VIDEO);
    ck_assert(vs->has_fec_ssrc); /* the relay assigned a FEC stream */
    ck_assert_uint_ne(vs->fec_ssrc, vs->ssrc);
    ck_assert_uint_ne(vs->fec_ssrc, vs->rtx_ssrc);
    /* The same stream again, now with its FEC SSRC. */
    hc_endpoint_stream_remove(t->ep, t->sv);
    hc_ep_stream_cfg_t sc = {.ssrc = vs->ssrc,
                             .rtx_ssrc = vs->rtx_ssrc,
                             .pt = HC_EP_PT_H264,
                             .rtx_pt = HC_EP_PT_H264_RTX,
                             .clock_rate = 90000,
                             .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                             .history = 1024,
                             .first_seq = 60000,
                             .fec_ssrc = vs->fec_ssrc};
    ck_assert_int_eq(hc_endpoint_stream_add(t->ep, &sc, &t->sv), 0);
    if (fec) ck_assert_int_eq(hc_endpoint_stream_fec(t->sv, 5), 0);

    uint16_t media = (uint16_t)t->joined.media.port;
    rf_impair_t up = {0}, down = {0};
    const char *up_args[] = {"--seed", "7", "--down", "delay=100ms", "--up", "loss=10% delay=100ms",
                             NULL};
    const char *down_args[] = {"--seed", "11",          "--down", "loss=10% delay=100ms",
                               "--up",   "delay=100ms", NULL};
    rf_impair_start(&up, media, up_args, NULL);
    rf_impair_start(&down, media, down_args, NULL);
    hc_addr_t via;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", up.port);
    ck_assert_int_eq(hc_addr_parse(addr, &via), 0);
    hc_endpoint_set_remote(t->ep, &via);
    hc_endpoint_set_rtt(t->ep, 80000);

    rf_party_t *s = calloc(1, sizeof *s);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", down.port);
    rf_join_opts_t so = {.role = "site",
                         .session = session,
                         .site = "mountain school",
                         .subscribe = true,
                         .via = addr};
    ck_assert_int_eq(rf_join(&relay, s, &so), 0);
    rf_trk_t *v = rf_trk(s, "main-video");
    ck_assert_ptr_nonnull(v);
    const hc_sig_stream_info_t *rs = NULL;
    for (size_t i = 0; i < s->joined.n_receive; i++)
        if (s->joined.receive[i].ssrc == v->ssrc) rs = &s->joined.receive[i];
    ck_assert_ptr_nonnull(rs);
    ck_assert(rs->has_fec_ssrc); /* the relay's own FEC stream toward us */
    /* The track again: in sequence order with a deadline, with FEC
     * recovery in the FEC run only. */
    hc_endpoint_track_remove(s->ep, v->t);
    hc_ep_track_cfg_t tc = {.ssrc = rs->ssrc,
                            .rtx_ssrc = rs->rtx_ssrc,
                            .clock_rate = 90000,
                            .window = 1024,
                            .reorder_ms = DEADLINE_MS,
                            .nack = true,
                            .owner = v,
                            .fec_ssrc = fec ? rs->fec_ssrc : 0};
    ck_assert_int_eq(hc_endpoint_track_add(s->ep, &tc, &v->t), 0);
    hc_endpoint_set_rtt(s->ep, 80000);

    rf_party_t *all[2] = {t, s};
    rf_pump(all, 2, 500);
    rf_publish(t, true);
    /* Counted from 2 s on, when the relay has had the subscriber's first
     * receiver reports (FEC toward it is off before) and RTTs are known. */
    rf_pump(all, 2, 2000);
    hc_ep_track_stats_t st0, st;
    hc_ep_track_stats(v->t, &st0);
    hc_ep_stream_stats_t ps0, ps;
    hc_ep_stream_stats(t->sv, &ps0);
    uint64_t sent0 = t->v_sent, n0 = v->n;
    rf_pump(all, 2, 8000);
    rf_publish(t, false);
    rf_pump(all, 2, 1500);

    hc_ep_track_stats(v->t, &st);
    hc_ep_stream_stats(t->sv, &ps);
    memset(res, 0, sizeof *res);
    res->sent = t->v_sent - sent0;
    res->delivered = v->n - n0;
    res->missing = st.missing - st0.missing;
    res->lost = st.lost - st0.lost;
    res->fec_rx = st.fec_rx - st0.fec_rx;
    res->fec_recovered = st.fec_recovered - st0.fec_recovered;
    res->rtx = st.rtx - st0.rtx;
    res->pub_fec_sent = ps.fec_sent - ps0.fec_sent;
    res->pub_nacks_rx = ps.nacks_rx - ps0.nacks_rx;
    fprintf(stderr,
            "%s: sent %llu delivered %llu missing %llu lost %llu (%.2f %%) fec_rx %llu "
            "fec_recovered %llu rtx %llu | publisher fec_sent %llu nacks_rx %llu\n",
            fec ? "FEC+NACK " : "NACK only", (unsigned long long)res->sent,
            (unsigned long long)res->delivered, (unsigned long long)res->missing,
            (unsigned long long)res->lost, 100.0 * (double)res->lost / (double)res->sent,
            (unsigned long long)res->fec_rx, (unsigned long long)res->fec_recovered,
            (unsigned long long)res->rtx, (unsigned long long)res->pub_fec_sent,
            (unsigned long long)res->pub_nacks_rx);
    /* In sequence order: every jump is packets given up right before. */
    ck_assert_uint_le(v->jumps, v->skipped);
    ck_assert_uint_eq(v->skipped, st.lost);
    rf_impair_stop(&up);
    rf_impair_stop(&down);
    rf_leave(s);
    rf_leave(t);
    free(s);
    free(t);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}

START_TEST(fec_lowers_residual_loss)
{
    result_t nack, fec;
    run(false, &nack);
    run(true, &fec);
    /* Both runs did their job: 8 s of 30 fps video with 3-4 packets a
     * frame counted, both hops losing about 10 %. */
    ck_assert_uint_gt(nack.sent, 700);
    ck_assert_uint_gt(fec.sent, 700);
    ck_assert_uint_gt(nack.missing, nack.sent / 20);
    ck_assert_uint_eq(nack.fec_rx, 0);
    ck_assert_uint_eq(nack.pub_fec_sent, 0);
    /* FEC ran on both hops: the publisher sent repair packets; the relay
     * turned on its own toward the subscriber from the reported loss, and
     * the subscriber rebuilt packets from it. */
    ck_assert_uint_ge(fec.pub_fec_sent, fec.sent / 5 - 2);
    ck_assert_uint_gt(fec.fec_rx, fec.sent / 20);
    ck_assert_uint_gt(fec.fec_recovered, fec.missing / 8); /* typically a third */
    /* The relay rebuilt uplink losses itself, many before it noticed them
     * (the last of a group comes back with its repair packet): fewer NACKs
     * reach the publisher although they go out at once. */
    ck_assert_uint_lt(fec.pub_nacks_rx, nack.pub_nacks_rx);
    /* What matters: less is lost after repair, within the deadline. */
    ck_assert_uint_lt(fec.lost, nack.lost);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_fec");
    TCase *tc = tcase_create("fec");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fec_lowers_residual_loss);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
