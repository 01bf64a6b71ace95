/*
 * test_edge_media.c - two hc-edge media engines (edge/media.h) through a
 * real hc-relay, each behind its own hc-impair with 5 % loss in both
 * directions: a teacher publishing the synthetic test source (320x180,
 * frame numbers stamped into the picture) and a sine, and a classroom
 * receiving headless. What a user would notice: the pictures keep
 * arriving and decoding, in order, with the right frame numbers, while
 * the links lose packets; the sound plays.
 * And simulcast: a teacher sending its picture as two layers from one
 * capture (320x180 and 160x90, each its own encoder and SSRC): the relay
 * receives both, a classroom decodes what it is sent.
 */
#include "tests/integration/test_edge_fixture.h"

#include "edge/capture.h"

#include <errno.h>
#include <poll.h>

static void join_ex(const rf_relay_t *r, party_t *p, const char *role, const char *site,
                    const char *create, bool publish, bool layer1)
{
    memset(p, 0, sizeof *p);
    ck_assert_int_eq(rf_connect(r, rf_token(role, "lesson", site), &p->sig), 0);
    if (create) rf_create(p->sig, create, "lesson");
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "lesson");
    snprintf(req.join.site, sizeof req.join.site, "%s", site);
    if (publish) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "v0");
        s->kind = HC_SIG_MEDIA_VIDEO;
        s->tag = HC_SIG_TAG_MAIN;
        s->codec = HC_SIG_CODEC_H264;
        if (layer1) {
            s->has_layer = true; /* v0 is layer 0 of the group */
            s = &req.join.publish[req.join.n_publish++];
            snprintf(s->mid, sizeof s->mid, "v0-l1");
            s->kind = HC_SIG_MEDIA_VIDEO;
            s->tag = HC_SIG_TAG_MAIN;
            s->codec = HC_SIG_CODEC_H264;
            s->layer = 1;
            s->has_layer = true;
            s->width = 160, s->has_width = true;
            s->height = 90, s->has_height = true;
        }
        s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "a0");
        s->kind = HC_SIG_MEDIA_AUDIO;
        s->tag = HC_SIG_TAG_AUDIO;
        s->codec = HC_SIG_CODEC_OPUS;
    }
    req.join.subscribe = !publish;
    req.join.has_subscribe = true;
    rf_call_ok(p->sig, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_JOINED);
    p->joined = rep.joined;
    hc_sig_msg_fini(&rep);
}

static void join(const rf_relay_t *r, party_t *p, const char *role, const char *site,
                 const char *create, bool publish)
{
    join_ex(r, p, role, site, create, publish, false);
}

static const hc_edge_recv_stats_t *find_recv(const hc_edge_stats_t *s, const char *mid)
{
    for (size_t i = 0; i < s->n_recv; i++)
        if (!strcmp(s->recv[i].mid, mid)) return &s->recv[i];
    return NULL;
}

START_TEST(two_engines_through_loss)
{
    rf_relay_t relay;
    rf_relay_start(&relay);
    party_t teacher, site;
    join(&relay, &teacher, "teacher", "city-school", "class", true);
    join(&relay, &site, "site", "village-school", NULL, false);
    rf_impair_t it = {0}, is = {0};
    const char *spec = getenv("HC_TEST_IMPAIR") ? getenv("HC_TEST_IMPAIR") : "loss=5%";
    const char *args[] = {"--both", spec, "--seed", "7", NULL};
    rf_impair_start(&it, (uint16_t)teacher.joined.media.port, args, NULL);
    rf_impair_start(&is, (uint16_t)site.joined.media.port, args, NULL);

    /* the teacher: test source 320x180 with stamped frame numbers, a sine */
    rf_party_media_new(&teacher, it.port, HC_PROFILE_CLASS, 300, 1500);
    char pipe_v[1024], pipe_a[1024], err[256];
    ck_assert_int_eq(
        hc_capture_preset("test", "320x180@30", pipe_v, sizeof pipe_v, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_preset("audiotest", NULL, pipe_a, sizeof pipe_a, err, sizeof err),
                     0);
    ck_assert_uint_eq(teacher.joined.n_streams, 2);
    const hc_sig_stream_info_t *sv = &teacher.joined.streams[0], *sa = &teacher.joined.streams[1];
    hc_edge_pub_cfg_t pv = {.mid = "v0",
                            .kind = HC_EDGE_VIDEO,
                            .role = HC_ROLE_MAIN,
                            .pipeline = pipe_v,
                            .ssrc = sv->ssrc,
                            .rtx_ssrc = sv->has_rtx_ssrc ? sv->rtx_ssrc : 0,
                            .fec_ssrc = sv->has_fec_ssrc ? sv->fec_ssrc : 0,
                            .width = 320,
                            .height = 180,
                            .fps = 30};
    hc_edge_pub_cfg_t pa = {.mid = "a0",
                            .kind = HC_EDGE_AUDIO,
                            .role = HC_ROLE_AUDIO,
                            .pipeline = pipe_a,
                            .ssrc = sa->ssrc,
                            .rtx_ssrc = sa->has_rtx_ssrc ? sa->rtx_ssrc : 0};
    int rc = hc_edge_media_publish(teacher.media, &pv, err, sizeof err);
    ck_assert_msg(rc == 0, "publish video: %s", err);
    rc = hc_edge_media_publish(teacher.media, &pa, err, sizeof err);
    ck_assert_msg(rc == 0, "publish audio: %s", err);
    ck_assert_int_eq(hc_edge_media_start(teacher.media), 0);

    /* the classroom, headless */
    rf_party_media_new(&site, is.port, HC_PROFILE_CLASS, 300, 1500);
    if (getenv("HC_TEST_VERBOSE"))
        fprintf(stderr, "site joined with %zu tracks\n", (size_t)site.joined.n_receive);
    rf_party_apply_tracks(&site, site.joined.receive, site.joined.n_receive);
    for (size_t i = 0; getenv("HC_TEST_VERBOSE") && i < site.nrecv; i++)
        fprintf(stderr, "track %s ssrc %08x rtx %08x fec %08x kind %d from %s\n", site.recv[i].mid,
                site.recv[i].ssrc, site.recv[i].rtx_ssrc, site.recv[i].fec_ssrc,
                (int)site.recv[i].kind, site.recv[i].participant);
    ck_assert_int_eq(hc_edge_media_start(site.media), 0);

    hc_edge_stats_t st, tst;
    uint64_t ok_at[16] = {0};
    const int seconds = 14;
    for (int s = 0; s < seconds; s++) {
        for (int k = 0; k < 10; k++) {
            rf_party_events(&teacher);
            rf_party_events(&site);
            rf_sleep_ms(100);
        }
        hc_edge_media_stats(site.media, &st);
        hc_edge_media_stats(teacher.media, &tst);
        const hc_edge_recv_stats_t *v = find_recv(&st, "main-video");
        const hc_edge_pub_stats_t *pp = tst.n_pub ? &tst.pub[0] : NULL;
        fprintf(stderr,
                "t=%2ds teacher: est %u kbit/s target %u sent %u %dx%d rtt %.0f ms loss %.3f | "
                "site: %dx%d %u kbit/s loss %.3f/%.3f on time %llu late %llu lost %llu "
                "stamps %llu bad %llu delay %.0f ms jb %.0f ms\n",
                s + 1, tst.estimate_bps / 1000, pp ? pp->target_bps / 1000 : 0,
                pp ? pp->sent_bps / 1000 : 0, pp ? pp->width : 0, pp ? pp->height : 0, tst.rtt_ms,
                tst.uplink_loss, v ? v->width : 0, v ? v->height : 0, v ? v->bitrate_bps / 1000 : 0,
                v ? v->loss_before : 0, v ? v->loss_after : 0,
                v ? (unsigned long long)v->frames_on_time : 0,
                v ? (unsigned long long)v->frames_late : 0,
                v ? (unsigned long long)v->frames_lost : 0, v ? (unsigned long long)v->stamp_ok : 0,
                v ? (unsigned long long)v->stamp_bad : 0, v ? v->delay_ms : 0,
                v ? v->jitter_buffer_ms : 0);
        ok_at[s] = v ? v->stamp_ok : 0;
    }
    const hc_edge_recv_stats_t *v = find_recv(&st, "main-video");
    ck_assert_ptr_nonnull(v);
    /* Pictures arrive, decode, carry the teacher's frame numbers in order. */
    ck_assert_int_eq(v->width, 320);
    ck_assert_int_eq(v->height, 180);
    ck_assert_uint_eq(v->stamp_bad, 0);
    ck_assert_msg(ok_at[seconds - 1] > 200, "%llu stamped pictures in %d s",
                  (unsigned long long)ok_at[seconds - 1], seconds);
    /* ... and keep doing so: every one of the last 5 seconds shows new ones. */
    for (int s = seconds - 5; s < seconds; s++)
        ck_assert_msg(ok_at[s] > ok_at[s - 1] + 10, "second %d: %llu -> %llu", s + 1,
                      (unsigned long long)ok_at[s - 1], (unsigned long long)ok_at[s]);
    ck_assert_uint_gt(v->frames_on_time, 10 * (v->frames_lost + 1));
    /* The loss was real and repair hid most of it. */
    ck_assert_uint_gt(tst.pub[0].nacks + tst.pub[0].fec_packets, 0);
    ck_assert_uint_ge(tst.pub[0].keyframes, 1);
    /* the sound */
    const hc_edge_recv_stats_t *a = find_recv(&st, "main-audio");
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_gt(a->bitrate_bps, 10000);
    ck_assert_uint_gt(a->frames_on_time, 100);

    /* The teacher's signaling drops and comes back: sending pauses (capture
     * goes on), and resumes at once with a keyframe. */
    uint64_t keys0 = tst.pub[0].keyframes;
    hc_edge_media_pause(teacher.media, true);
    for (int k = 0; k < 15; k++) {
        rf_party_events(&teacher);
        rf_party_events(&site);
        rf_sleep_ms(100);
    }
    hc_edge_media_stats(site.media, &st);
    uint64_t paused_ok = find_recv(&st, "main-video")->stamp_ok;
    hc_edge_media_pause(teacher.media, false);
    for (int k = 0; k < 20; k++) {
        rf_party_events(&teacher);
        rf_party_events(&site);
        rf_sleep_ms(100);
        if (getenv("HC_TEST_VERBOSE")) {
            hc_edge_media_stats(site.media, &st);
            hc_edge_media_stats(teacher.media, &tst);
            v = find_recv(&st, "main-video");
            fprintf(stderr,
                    "resume +%d00 ms: sent %llu frames, target %u; site stamps %llu on time "
                    "%llu late %llu lost %llu jb %.0f ms\n",
                    k + 1, (unsigned long long)tst.pub[0].frames, tst.pub[0].target_bps,
                    (unsigned long long)v->stamp_ok, (unsigned long long)v->frames_on_time,
                    (unsigned long long)v->frames_late, (unsigned long long)v->frames_lost,
                    v->jitter_buffer_ms);
        }
    }
    hc_edge_media_stats(site.media, &st);
    hc_edge_media_stats(teacher.media, &tst);
    v = find_recv(&st, "main-video");
    fprintf(stderr, "after the pause: %llu -> %llu stamped pictures, keyframes %llu -> %llu\n",
            (unsigned long long)paused_ok, (unsigned long long)v->stamp_ok,
            (unsigned long long)keys0, (unsigned long long)tst.pub[0].keyframes);
    ck_assert_uint_gt(v->stamp_ok, paused_ok + 20);
    ck_assert_uint_gt(tst.pub[0].keyframes, keys0);
    ck_assert_uint_eq(v->stamp_bad, 0);

    hc_edge_media_destroy(&site.media);
    hc_edge_media_destroy(&teacher.media);
    ck_assert_ptr_null(site.media);
    hc_sigclient_destroy(&teacher.sig);
    hc_sigclient_destroy(&site.sig);
    rf_impair_stop(&it);
    rf_impair_stop(&is);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

/* The relay's view of a participant's incoming stream with this SSRC
 * (admin list_participants): its bit rate in kbit/s, -1 when absent. */
static int relay_in_kbps(const rf_relay_t *relay, const char *participant, uint32_t ssrc)
{
    hc_sigclient_t *adm;
    ck_assert_int_eq(rf_connect(relay, rf_token("admin", NULL, "ops"), &adm), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_LIST_PARTICIPANTS);
    snprintf(req.list_participants.session, sizeof req.list_participants.session, "lesson");
    rf_call_ok(adm, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_PARTICIPANTS);
    int kbps = -1;
    for (size_t i = 0; i < rep.participants.n_items; i++) {
        const hc_sig_participant_info_t *pi = &rep.participants.items[i];
        if (strcmp(pi->participant, participant) != 0) continue;
        for (size_t k = 0; k < pi->n_legs; k++)
            if (pi->legs[k].dir == HC_SIG_LEG_IN && pi->legs[k].ssrc == ssrc)
                kbps = (int)pi->legs[k].kbps;
    }
    hc_sig_msg_fini(&rep);
    hc_sigclient_destroy(&adm);
    return kbps;
}

START_TEST(simulcast_layers_from_one_capture)
{
    rf_relay_t relay;
    rf_relay_start(&relay);
    party_t teacher, site;
    join_ex(&relay, &teacher, "teacher", "city-school", "class", true, true);
    join(&relay, &site, "site", "village-school", NULL, false);
    ck_assert_uint_eq(teacher.joined.n_streams, 3);
    const hc_sig_stream_info_t *sv = NULL, *sl = NULL, *sa = NULL;
    for (size_t i = 0; i < teacher.joined.n_streams; i++) {
        const hc_sig_stream_info_t *si = &teacher.joined.streams[i];
        if (!strcmp(si->mid, "v0")) sv = si;
        if (!strcmp(si->mid, "v0-l1")) sl = si;
        if (!strcmp(si->mid, "a0")) sa = si;
    }
    ck_assert(sv && sl && sa);
    ck_assert_uint_ne(sv->ssrc, sl->ssrc);

    rf_party_media_new(&teacher, (uint16_t)teacher.joined.media.port, HC_PROFILE_CLASS, 300, 1500);
    char pipe_v[1024], pipe_a[1024], err[256];
    ck_assert_int_eq(
        hc_capture_preset("test", "320x180@30", pipe_v, sizeof pipe_v, err, sizeof err), 0);
    ck_assert_int_eq(hc_capture_preset("audiotest", NULL, pipe_a, sizeof pipe_a, err, sizeof err),
                     0);
    hc_edge_pub_cfg_t pv = {.mid = "v0",
                            .kind = HC_EDGE_VIDEO,
                            .role = HC_ROLE_MAIN,
                            .pipeline = pipe_v,
                            .ssrc = sv->ssrc,
                            .rtx_ssrc = sv->has_rtx_ssrc ? sv->rtx_ssrc : 0,
                            .fec_ssrc = sv->has_fec_ssrc ? sv->fec_ssrc : 0,
                            .width = 320,
                            .height = 180,
                            .fps = 30};
    /* the lower layer: no pipeline, the same capture */
    hc_edge_pub_cfg_t pl = {.mid = "v0-l1",
                            .kind = HC_EDGE_VIDEO,
                            .role = HC_ROLE_MAIN,
                            .ssrc = sl->ssrc,
                            .rtx_ssrc = sl->has_rtx_ssrc ? sl->rtx_ssrc : 0,
                            .fec_ssrc = sl->has_fec_ssrc ? sl->fec_ssrc : 0,
                            .max_kbps = 80,
                            .layer = 1,
                            .layer_of = "v0"};
    hc_edge_pub_cfg_t pa = {.mid = "a0",
                            .kind = HC_EDGE_AUDIO,
                            .role = HC_ROLE_AUDIO,
                            .pipeline = pipe_a,
                            .ssrc = sa->ssrc};
    /* a layer of a stream not published is refused */
    hc_edge_pub_cfg_t bad = pl;
    bad.layer_of = "v9";
    ck_assert_int_eq(hc_edge_media_publish(teacher.media, &bad, err, sizeof err), -HC_ENOTFOUND);
    int rc = hc_edge_media_publish(teacher.media, &pv, err, sizeof err);
    ck_assert_msg(rc == 0, "publish video: %s", err);
    rc = hc_edge_media_publish(teacher.media, &pl, err, sizeof err);
    ck_assert_msg(rc == 0, "publish layer: %s", err);
    rc = hc_edge_media_publish(teacher.media, &pa, err, sizeof err);
    ck_assert_msg(rc == 0, "publish audio: %s", err);
    ck_assert_int_eq(hc_edge_media_start(teacher.media), 0);

    rf_party_media_new(&site, (uint16_t)site.joined.media.port, HC_PROFILE_CLASS, 300, 1500);
    rf_party_apply_tracks(&site, site.joined.receive, site.joined.n_receive);
    ck_assert_int_eq(hc_edge_media_start(site.media), 0);

    hc_edge_stats_t st, tst;
    for (int s = 0; s < 6; s++) {
        for (int k = 0; k < 10; k++) {
            rf_party_events(&teacher);
            rf_party_events(&site);
            rf_sleep_ms(100);
        }
        hc_edge_media_stats(teacher.media, &tst);
        hc_edge_media_stats(site.media, &st);
        const hc_edge_recv_stats_t *v = find_recv(&st, "main-video");
        fprintf(stderr,
                "simulcast t=%ds: est %u kbit/s | v0 %dx%d %u/%u kbit/s %llu frames | v0-l1 "
                "%dx%d %u/%u kbit/s %llu frames | site %dx%d stamps %llu\n",
                s + 1, tst.estimate_bps / 1000, tst.pub[0].width, tst.pub[0].height,
                tst.pub[0].sent_bps / 1000, tst.pub[0].target_bps / 1000,
                (unsigned long long)tst.pub[0].frames, tst.pub[1].width, tst.pub[1].height,
                tst.pub[1].sent_bps / 1000, tst.pub[1].target_bps / 1000,
                (unsigned long long)tst.pub[1].frames, v ? v->width : 0, v ? v->height : 0,
                v ? (unsigned long long)v->stamp_ok : 0);
    }
    /* the teacher sends both layers, each at its size, from one capture */
    ck_assert_uint_eq(tst.n_pub, 3);
    ck_assert_str_eq(tst.pub[0].mid, "v0");
    ck_assert_int_eq(tst.pub[0].layer, 0);
    ck_assert_int_eq(tst.pub[0].width, 320);
    ck_assert(!tst.pub[0].stopped);
    ck_assert_uint_gt(tst.pub[0].frames, 60);
    ck_assert_str_eq(tst.pub[1].mid, "v0-l1");
    ck_assert_int_eq(tst.pub[1].layer, 1);
    ck_assert_int_eq(tst.pub[1].width, 160);
    ck_assert_int_eq(tst.pub[1].height, 90);
    ck_assert(!tst.pub[1].stopped);
    ck_assert_uint_gt(tst.pub[1].frames, 60);
    ck_assert_uint_ge(tst.pub[1].keyframes, 1);
    ck_assert_uint_le(tst.pub[1].target_bps, 80000);
    ck_assert_uint_gt(tst.pub[1].sent_bps, 10000);
    /* the relay receives both */
    int k0 = relay_in_kbps(&relay, teacher.joined.participant, sv->ssrc);
    int k1 = relay_in_kbps(&relay, teacher.joined.participant, sl->ssrc);
    fprintf(stderr, "relay in: v0 %d kbit/s, v0-l1 %d kbit/s\n", k0, k1);
    ck_assert_int_gt(k0, 20);
    ck_assert_int_gt(k1, 10);
    ck_assert_int_le(k1, 120);
    /* the classroom decodes the layer it is sent (the top on a good link
     * or the lower one), stamps in order */
    const hc_edge_recv_stats_t *v = find_recv(&st, "main-video");
    ck_assert_ptr_nonnull(v);
    ck_assert((v->width == 320 && v->height == 180) || (v->width == 160 && v->height == 90));
    ck_assert_uint_gt(v->stamp_ok, 60);
    ck_assert_uint_eq(v->stamp_bad, 0);

    hc_edge_media_destroy(&site.media);
    hc_edge_media_destroy(&teacher.media);
    hc_sigclient_destroy(&teacher.sig);
    hc_sigclient_destroy(&site.sig);
    ck_assert_int_eq(rf_relay_stop(&relay), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("edge_media");
    TCase *tc = tcase_create("relay");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, two_engines_through_loss);
    tcase_add_test(tc, simulcast_layers_from_one_capture);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
