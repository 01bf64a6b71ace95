/*
 * test_edge_fixture.h - an hc-edge media engine (edge/media.h) taking part
 * in a session of the relay fixture (test_relay_fixture.h), for the edge's
 * integration tests: a party's signaling connection and join reply, its
 * media engine built from the reply's transport, the receive set from the
 * reply and later `tracks` events, and the signaling it must keep up
 * (pings, so the relay does not close a silent connection).
 */
#ifndef HC_TESTS_EDGE_FIXTURE_H
#define HC_TESTS_EDGE_FIXTURE_H

#include "tests/integration/test_relay_fixture.h"

#include "edge/media.h"

typedef struct party {
    hc_sigclient_t *sig;
    hc_sig_joined_t joined;
    hc_edge_media_t *media;
    hc_sig_stream_info_t recv[24];
    size_t nrecv;
    uint64_t last_ping_us;
} party_t;

/* p's media engine, its leg toward the relay through via_port (an
 * hc-impair in front of the relay, or the relay's own port), headless. */
static inline void rf_party_media_new(party_t *p, uint16_t via_port, hc_profile_t profile,
                                      uint32_t start_kbps, uint32_t max_kbps)
{
    hc_edge_media_cfg_t c;
    hc_edge_media_cfg_default(&c);
    const hc_sig_transport_t *t = &p->joined.media;
    c.leg.suite = t->suite == HC_SIG_SUITE_AES_CM ? HC_SRTP_AES_CM_128_HMAC_SHA1_80
                                                  : HC_SRTP_AEAD_AES_128_GCM;
    size_t kl = hc_srtp_key_len(c.leg.suite);
    ck_assert_int_eq(hc_b64_decode(t->key_up, strlen(t->key_up), c.leg.key_up, sizeof c.leg.key_up),
                     (int)kl);
    ck_assert_int_eq(
        hc_b64_decode(t->key_down, strlen(t->key_down), c.leg.key_down, sizeof c.leg.key_down),
        (int)kl);
    c.leg.rtcp_ssrc = t->rtcp_ssrc;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", via_port);
    ck_assert_int_eq(hc_addr_parse(addr, &c.leg.relay), 0);
    c.profile = profile;
    c.start_kbps = start_kbps;
    c.max_kbps = max_kbps;
    c.video_sink = "headless";
    c.audio_sink = "headless";
    char err[256];
    int rc = hc_edge_media_new(&p->media, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "media: %s", err);
}

/* The receive set from joined.receive and later `tracks` events. */
static inline void rf_party_apply_tracks(party_t *p, const hc_sig_stream_info_t *list, size_t n)
{
    hc_edge_recv_cfg_t r[24];
    p->nrecv = n < 24 ? n : 24;
    for (size_t i = 0; i < p->nrecv; i++) {
        p->recv[i] = list[i];
        const hc_sig_stream_info_t *s = &p->recv[i];
        r[i] = (hc_edge_recv_cfg_t){.mid = s->mid,
                                    .label = s->participant,
                                    .kind = s->kind == HC_SIG_MEDIA_VIDEO ? HC_EDGE_VIDEO
                                                                          : HC_EDGE_AUDIO,
                                    .ssrc = s->ssrc,
                                    .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                    .fec_ssrc = s->has_fec_ssrc ? s->fec_ssrc : 0};
    }
    ck_assert_int_eq(hc_edge_media_receive(p->media, r, p->nrecv), 0);
}

/* A ping every 2 s, and `tracks` events applied (HC_TEST_VERBOSE=1 prints
 * every event). */
static inline void rf_party_events(party_t *p)
{
    uint64_t now = hc_now_us();
    if (now > p->last_ping_us + 2000000) {
        hc_sig_msg_t ping;
        hc_sig_msg_init(&ping, HC_SIG_PING);
        ping.ping.id = hc_sigclient_next_id(p->sig);
        ck_assert_int_eq(hc_sigclient_send(p->sig, &ping), 0);
        p->last_ping_us = now;
    }
    hc_sig_msg_t m;
    while (hc_sigclient_recv(p->sig, &m, 0) == 0) {
        if (getenv("HC_TEST_VERBOSE")) fprintf(stderr, "event %s\n", hc_sig_type_name(m.type));
        if (m.type == HC_SIG_TRACKS && p->media)
            rf_party_apply_tracks(p, m.tracks.receive, m.tracks.n_receive);
        hc_sig_msg_fini(&m);
    }
}

#endif
