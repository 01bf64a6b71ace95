/*
 * Integration test of the relay's per-subscriber simulcast layer choice
 * (relay/core/router_layers.c, hc_router_track_set_layers): a real hc-relay
 * on loopback, a teacher publishing one video source as two simulcast
 * layers of tag main (join.publish `layer` 0 and 1, SIGNALING.md
 * "Simulcast") plus audio, and two classroom sites subscribing:
 *   A  straight to the relay;
 *   B  behind hc-impair whose downlink (relay -> B) is a 400 kbit/s
 *      bottleneck with a bounded drop-tail queue.
 * Each subscriber's endpoint sends transport-wide CC feedback for the
 * numbers the relay writes on its leg; the relay estimates each downlink
 * from it and forwards, per subscriber, the highest layer that fits.
 *
 * The video is synthetic H.264-shaped RTP, enough for the router (which
 * only needs keyframe detection and sizes): a keyframe is STAP-A(SPS, PPS,
 * SEI) + FU-A IDR fragments, other frames FU-A non-IDR fragments, paced
 * over 2/3 of the frame interval, with a keyframe every 4 s and on every
 * PLI. Layer 0 stands for 640x360 at ~1.2 Mbit/s, layer 1 for 320x180 at
 * ~250 kbit/s, 30 fps each. Every packet's payload ends in a marker that
 * the relay forwards untouched: which layer, keyframe or not, the
 * publisher's packet index within its layer and the frame number. So a
 * subscriber tells the layers apart although it sees one SSRC, and checks
 * that every hole in its sequence numbers is a packet the publisher sent
 * (a packet lost on the way), never a hole the relay's renumbering made.
 *
 * What a user would notice, asserted:
 *   - B ends on the low layer: what B plays in the last 5 s is only the
 *     320x180 layer, with < 2 % lost after repair (NACK/RTX, FlexFEC) in a
 *     600 ms playout deadline;
 *   - A ends on the high layer with about no loss;
 *   - each subscriber sees one video SSRC with continuous sequence
 *     numbers: in-layer holes are real lost packets, a layer switch starts
 *     with the new layer's keyframe and leaves no hole of its own.
 * The numbers go to stderr. No wall-clock assertion: counts have generous
 * margins for a loaded 2-core machine and the sanitizer build.
 */
#include "tests/integration/test_relay_fixture.h"

#include <inttypes.h>
#include <poll.h>

static rf_relay_t relay;

/* The teacher's participant id: its video group must reach a subscriber
 * as one receive entry (the class's floor slots are other entries). */
static char lt_teacher[HC_SIG_ID_MAX + 1];
static uint64_t lt_t0; /* publishing began (hc_now_us) */
#define LT_MAX_SW 16
#define LT_SECS   32

#define LT_SESSION  "layers-1"
#define LT_RUN_MS   22000 /* publishing time */
#define LT_TAIL_MS  5000  /* the last part, where the outcome is judged */
#define LT_DRAIN_MS 1500  /* after publishing: late repairs, in-order release */
#define LT_DEADLINE 600   /* subscribers' playout deadline for a missing packet, ms */
#define LT_FRAME_US 33333u
#define LT_GOP      120  /* frames between periodic keyframes */
#define LT_FRAG     1000 /* video payload bytes per packet (before the marker) */
#define LT_MARK_LEN 12
#define LT_MARK_0   0x68 /* 'h' */
#define LT_MARK_1   0x6c /* 'l' */
#define LT_F_KEY    0x1  /* the packet belongs to a keyframe */
#define LT_F_START  0x2  /* the first packet of its frame */
#define LT_NLAYERS  2
#define LT_MAX_WHY  8

/* ---- the publisher ---- */

typedef struct lt_layer {
    hc_ep_stream_t *s;
    uint32_t pbytes, kbytes; /* body bytes of a P frame, of a keyframe */
    uint32_t frame;          /* next frame number */
    uint32_t index;          /* next packet index in this layer */
    bool key_wanted;
    /* the frame being paced out */
    bool busy, key;
    uint64_t fstart;
    uint32_t fno, npk, sent, body, done;
    uint64_t pkts, keyframes, plis;
} lt_layer_t;

typedef struct lt_pub {
    hc_sigclient_t *sig;
    hc_sig_joined_t joined;
    hc_endpoint_t *ep;
    lt_layer_t lay[LT_NLAYERS];
    hc_ep_stream_t *sa;
    bool on;
    uint64_t t0;
    uint32_t apkt;
    uint64_t last_ping;
} lt_pub_t;

/* ---- a subscriber ---- */

typedef struct lt_sub {
    char name[32];
    hc_sigclient_t *sig;
    hc_sig_joined_t joined;
    hc_endpoint_t *ep;
    hc_ep_track_t *vt, *at;
    uint32_t vssrc;
    uint32_t video_entries; /* most video entries one receive list carried */
    /* per delivered video packet, in sequence order */
    bool have_last;
    uint16_t last_seq;
    int last_layer;
    uint32_t last_index;
    uint64_t n, n_layer[LT_NLAYERS];
    bool tail;
    uint64_t tail_layer[LT_NLAYERS];
    uint64_t unmarked;       /* video payload without the marker */
    uint64_t order_err;      /* seq != previous + 1 + packets given up in between */
    uint64_t phantom;        /* in-layer hole that is not a packet the publisher sent */
    uint64_t switches;       /* layer changes seen */
    uint64_t bad_switch;     /* a change not starting with a keyframe, or with a hole */
    uint64_t switch_skipped; /* packets given up right at switches */
    bool first_bad;          /* the track started with something other than a keyframe */
    char why[LT_MAX_WHY][96];
    unsigned nwhy;
    uint64_t audio;
    uint64_t last_ping;
    uint32_t sw_ms[16]; /* when layer switches arrived (ms after publishing began) */
    uint8_t sw_to[16];
    unsigned nsw;
    uint16_t lat_max[LT_SECS]; /* per second of the run: most ms a packet took */
} lt_sub_t;

static void lt_note(lt_sub_t *s, const char *fmt, unsigned a, unsigned b, unsigned c, unsigned d)
{
    if (s->nwhy < LT_MAX_WHY) snprintf(s->why[s->nwhy++], sizeof s->why[0], fmt, a, b, c, d);
}

static void lt_on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    lt_sub_t *s = ud;
    if (t == s->at) {
        s->audio++;
        return;
    }
    if (t != s->vt) return;
    const uint8_t *m = rx->len >= LT_MARK_LEN ? rx->payload + rx->len - LT_MARK_LEN : NULL;
    if (!m || m[0] != LT_MARK_0 || m[1] != LT_MARK_1 || m[2] >= LT_NLAYERS) {
        s->unmarked++;
        return;
    }
    int layer = m[2];
    uint8_t flags = m[3];
    /* Publisher to subscriber, one host, one wall clock: the relay's path
     * plus any queue (B's bottleneck) plus this process's own stalls. */
    if (rx->capture_wall_us && rx->rx_wall_us > rx->capture_wall_us && !rx->recovered) {
        uint64_t lat = rx->rx_wall_us - rx->capture_wall_us;
        uint64_t sec = (rx->rx_us - lt_t0) / 1000000u;
        if (sec < LT_SECS && lat / 1000u > s->lat_max[sec])
            s->lat_max[sec] = (uint16_t)(lat / 1000u);
    }
    uint32_t index = hc_rd32(m + 4);
    if (!s->have_last) {
        if (!(flags & LT_F_KEY)) s->first_bad = true;
    } else {
        uint16_t dseq = (uint16_t)(rx->seq - s->last_seq);
        if (dseq != 1u + rx->skipped) {
            s->order_err++;
            lt_note(s, "order: seq +%u with %u given up (layer %u index %u)", dseq, rx->skipped,
                    (unsigned)layer, index);
        }
        if (layer == s->last_layer) {
            /* Same layer: the relay forwards the layer's packets in order,
             * so the sequence step is the publisher's index step; a larger
             * step is a hole the relay made, a smaller one a duplicate or a
             * packet from somewhere else. */
            if ((uint32_t)dseq != index - s->last_index) {
                s->phantom++;
                lt_note(s, "hole: seq +%u, index +%u (layer %u at index %u)", dseq,
                        index - s->last_index, (unsigned)layer, index);
            }
        } else {
            s->switches++;
            s->switch_skipped += rx->skipped;
            if (s->nsw < LT_MAX_SW) {
                s->sw_ms[s->nsw] = (uint32_t)((rx->rx_us - lt_t0) / 1000u);
                s->sw_to[s->nsw++] = (uint8_t)layer;
            }
            /* The new layer starts with its keyframe, right after the
             * last packet of the old one (what was given up in between
             * can only be the old layer's tail or the keyframe's head). */
            if (!(flags & LT_F_KEY) || rx->skipped > 32) {
                s->bad_switch++;
                lt_note(s, "switch %u->%u: key %u, %u given up", (unsigned)s->last_layer,
                        (unsigned)layer, flags & LT_F_KEY, rx->skipped);
            }
        }
    }
    s->have_last = true;
    s->last_seq = rx->seq;
    s->last_layer = layer;
    s->last_index = index;
    s->n++;
    s->n_layer[layer]++;
    if (s->tail) s->tail_layer[layer]++;
}

static void lt_on_key(void *ud, hc_ep_stream_t *st, bool fir)
{
    (void)fir;
    lt_pub_t *p = ud;
    for (int i = 0; i < LT_NLAYERS; i++) {
        if (p->lay[i].s == st) {
            p->lay[i].key_wanted = true;
            p->lay[i].plis++;
        }
    }
}

/* ---- signaling and endpoints (the fixture's rf_join, with a publish list
 * of our own and our callbacks) ---- */

static void lt_join(hc_sigclient_t **sig, hc_sig_joined_t *joined, const char *role,
                    const char *site, bool create, const hc_sig_stream_pub_t *pubs, size_t npub,
                    bool subscribe)
{
    ck_assert_int_eq(rf_connect(&relay, rf_token(role, LT_SESSION, site), sig), 0);
    if (create) rf_create(*sig, "class", LT_SESSION);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "%s", LT_SESSION);
    snprintf(req.join.site, sizeof req.join.site, "%s", site);
    for (size_t i = 0; i < npub; i++) req.join.publish[req.join.n_publish++] = pubs[i];
    req.join.subscribe = subscribe;
    req.join.has_subscribe = true;
    rf_call_ok(*sig, &req, &rep);
    ck_assert_int_eq(rep.type, HC_SIG_JOINED);
    *joined = rep.joined;
    hc_sig_msg_fini(&rep);
}

static hc_endpoint_t *lt_endpoint(const hc_sig_joined_t *j, const char *via, const char *cname,
                                  const hc_endpoint_events_t *ev)
{
    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    bool cm = j->media.suite == HC_SIG_SUITE_AES_CM;
    ec.suite = cm ? HC_SRTP_AES_CM_128_HMAC_SHA1_80 : HC_SRTP_AEAD_AES_128_GCM;
    size_t kl = hc_srtp_key_len(ec.suite);
    uint8_t k[64];
    ck_assert_int_eq(hc_b64_decode(j->media.key_up, strlen(j->media.key_up), k, sizeof k), (int)kl);
    memcpy(ec.key_up, k, kl);
    ck_assert_int_eq(hc_b64_decode(j->media.key_down, strlen(j->media.key_down), k, sizeof k),
                     (int)kl);
    memcpy(ec.key_down, k, kl);
    ec.rtcp_ssrc = j->media.rtcp_ssrc;
    char addr[96];
    if (via)
        snprintf(addr, sizeof addr, "%s", via);
    else
        snprintf(addr, sizeof addr, "127.0.0.1:%u", j->media.port);
    ck_assert_int_eq(hc_addr_parse(addr, &ec.remote), 0);
    hc_addr_parse("127.0.0.1:0", &ec.bind);
    snprintf(ec.cname, sizeof ec.cname, "%s", cname);
    ec.ev = *ev;
    ec.pool_packets = 1024;
    hc_endpoint_t *ep = NULL;
    ck_assert_int_eq(hc_endpoint_new(&ep, &ec), 0);
    return ep;
}

static const hc_sig_stream_info_t *lt_stream(const hc_sig_joined_t *j, const char *mid)
{
    for (size_t i = 0; i < j->n_streams; i++)
        if (!strcmp(j->streams[i].mid, mid)) return &j->streams[i];
    return NULL;
}

static void lt_pub_join(lt_pub_t *p)
{
    memset(p, 0, sizeof *p);
    hc_sig_stream_pub_t pubs[3];
    memset(pubs, 0, sizeof pubs);
    const char *mids[LT_NLAYERS] = {"v0", "v0-l1"};
    static const uint32_t w[LT_NLAYERS] = {640, 320}, h[LT_NLAYERS] = {360, 180};
    for (int i = 0; i < LT_NLAYERS; i++) {
        snprintf(pubs[i].mid, sizeof pubs[i].mid, "%s", mids[i]);
        pubs[i].kind = HC_SIG_MEDIA_VIDEO;
        pubs[i].tag = HC_SIG_TAG_MAIN;
        pubs[i].codec = HC_SIG_CODEC_H264;
        pubs[i].has_width = pubs[i].has_height = pubs[i].has_fps = true;
        pubs[i].width = w[i];
        pubs[i].height = h[i];
        pubs[i].fps = 30;
        pubs[i].has_layer = true;
        pubs[i].layer = (uint32_t)i;
    }
    snprintf(pubs[2].mid, sizeof pubs[2].mid, "a0");
    pubs[2].kind = HC_SIG_MEDIA_AUDIO;
    pubs[2].tag = HC_SIG_TAG_AUDIO;
    pubs[2].codec = HC_SIG_CODEC_OPUS;
    lt_join(&p->sig, &p->joined, "teacher", "city school", true, pubs, 3, false);
    snprintf(lt_teacher, sizeof lt_teacher, "%s", p->joined.participant);

    hc_endpoint_events_t ev = {.ud = p, .keyframe = lt_on_key};
    p->ep = lt_endpoint(&p->joined, NULL, "teacher", &ev);
    /* ~1.2 Mbit/s and ~250 kbit/s of payload at 30 fps; keyframes 2.5 x. */
    static const uint32_t pbytes[LT_NLAYERS] = {4800, 950}, kbytes[LT_NLAYERS] = {12000, 2400};
    for (int i = 0; i < LT_NLAYERS; i++) {
        const hc_sig_stream_info_t *si = lt_stream(&p->joined, mids[i]);
        ck_assert_ptr_nonnull(si);
        ck_assert_int_eq(si->kind, HC_SIG_MEDIA_VIDEO);
        hc_ep_stream_cfg_t c = {.ssrc = si->ssrc,
                                .rtx_ssrc = si->has_rtx_ssrc ? si->rtx_ssrc : 0,
                                .pt = HC_EP_PT_H264,
                                .rtx_pt = HC_EP_PT_H264_RTX,
                                .clock_rate = 90000,
                                /* transport-wide numbers as hc-edge sends them */
                                .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC,
                                .history = 1024,
                                .first_seq = (uint16_t)(60000 + 3000 * i)};
        ck_assert_int_eq(hc_endpoint_stream_add(p->ep, &c, &p->lay[i].s), 0);
        p->lay[i].pbytes = pbytes[i];
        p->lay[i].kbytes = kbytes[i];
    }
    const hc_sig_stream_info_t *sa = lt_stream(&p->joined, "a0");
    ck_assert_ptr_nonnull(sa);
    hc_ep_stream_cfg_t c = {.ssrc = sa->ssrc,
                            .rtx_ssrc = sa->has_rtx_ssrc ? sa->rtx_ssrc : 0,
                            .pt = HC_EP_PT_OPUS,
                            .rtx_pt = HC_EP_PT_OPUS_RTX,
                            .clock_rate = 48000,
                            .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_TWCC | HC_EP_EXT_AUDIO_LEVEL,
                            .history = 128,
                            .first_seq = 100};
    ck_assert_int_eq(hc_endpoint_stream_add(p->ep, &c, &p->sa), 0);
    hc_endpoint_start(p->ep, hc_now_us());
}

static void lt_sub_tracks(lt_sub_t *s, const hc_sig_stream_info_t *list, size_t n)
{
    uint32_t nv = 0;
    for (size_t i = 0; i < n; i++) {
        const hc_sig_stream_info_t *si = &list[i];
        bool video = si->kind == HC_SIG_MEDIA_VIDEO;
        if (getenv("HC_TEST_VERBOSE"))
            fprintf(stderr, "%s: receive %s ssrc %08x kind %d layer %u from %s\n", s->name, si->mid,
                    si->ssrc, si->kind, si->layer, si->participant);
        if (video && !strcmp(si->participant, lt_teacher)) nv++;
        if (hc_endpoint_track_find(s->ep, si->ssrc)) continue;
        hc_ep_track_cfg_t tc = {.ssrc = si->ssrc,
                                .rtx_ssrc = si->has_rtx_ssrc ? si->rtx_ssrc : 0,
                                .clock_rate = video ? 90000 : 48000,
                                .window = video ? 1024 : 256,
                                .reorder_ms = LT_DEADLINE,
                                .nack = si->has_rtx_ssrc,
                                .owner = s,
                                .fec_ssrc = si->has_fec_ssrc ? si->fec_ssrc : 0};
        hc_ep_track_t *t;
        ck_assert_int_eq(hc_endpoint_track_add(s->ep, &tc, &t), 0);
        if (!strcmp(si->mid, "main-video")) {
            ck_assert_ptr_null(s->vt);
            s->vt = t;
            s->vssrc = si->ssrc;
        } else if (!strcmp(si->mid, "main-audio")) {
            s->at = t;
        }
    }
    if (nv > s->video_entries) s->video_entries = nv;
}

static void lt_sub_join(lt_sub_t *s, const char *site, const char *via)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", site);
    lt_join(&s->sig, &s->joined, "site", site, false, NULL, 0, true);
    hc_endpoint_events_t ev = {.ud = s, .rtp = lt_on_rtp};
    s->ep = lt_endpoint(&s->joined, via, site, &ev);
    lt_sub_tracks(s, s->joined.receive, s->joined.n_receive);
    hc_endpoint_start(s->ep, hc_now_us());
}

static void lt_sub_events(lt_sub_t *s)
{
    rf_keepalive(s->sig, &s->last_ping, hc_now_us());
    hc_sig_msg_t m;
    while (hc_sigclient_recv(s->sig, &m, 0) == 0) {
        if (m.type == HC_SIG_TRACKS) lt_sub_tracks(s, m.tracks.receive, m.tracks.n_receive);
        hc_sig_msg_fini(&m);
    }
}

/* ---- the synthetic video ---- */

static void lt_mark(uint8_t *m, int layer, bool key, bool start, uint32_t index, uint32_t frame)
{
    m[0] = LT_MARK_0;
    m[1] = LT_MARK_1;
    m[2] = (uint8_t)layer;
    m[3] = (uint8_t)((key ? LT_F_KEY : 0) | (start ? LT_F_START : 0));
    hc_wr32(m + 4, index);
    hc_wr32(m + 8, frame);
}

/* Packet k of layer i's current frame. */
static void lt_send_video_pkt(lt_pub_t *p, int i, uint64_t now)
{
    lt_layer_t *L = &p->lay[i];
    uint8_t b[LT_FRAG + 64];
    size_t len;
    bool last = L->sent + 1 == L->npk;
    if (L->key && L->sent == 0) {
        /* STAP-A (RFC 6184 5.7.1): SPS, PPS, and an SEI whose last bytes
         * are the marker, so the marker ends this payload too. */
        static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1e, 0xda, 0x00, 0x04};
        static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
        size_t o = 0;
        b[o++] = 0x78;
        hc_wr16(b + o, sizeof sps);
        memcpy(b + o + 2, sps, sizeof sps);
        o += 2 + sizeof sps;
        hc_wr16(b + o, sizeof pps);
        memcpy(b + o + 2, pps, sizeof pps);
        o += 2 + sizeof pps;
        hc_wr16(b + o, 1 + LT_MARK_LEN);
        b[o + 2] = 0x06;
        lt_mark(b + o + 3, i, true, true, L->index, L->fno);
        len = o + 3 + LT_MARK_LEN;
    } else {
        uint32_t chunk = L->body - L->done < LT_FRAG ? L->body - L->done : LT_FRAG;
        bool first = L->done == 0, end = L->done + chunk == L->body;
        b[0] = 0x7c; /* FU-A, NRI 3 */
        b[1] = (uint8_t)((first ? 0x80 : 0) | (end ? 0x40 : 0) | (L->key ? 5 : 1));
        memset(b + 2, (int)(L->fno & 0xff), chunk);
        lt_mark(b + 2 + chunk, i, L->key, first && !L->key, L->index, L->fno);
        len = 2 + chunk + LT_MARK_LEN;
        L->done += chunk;
    }
    hc_ep_send_opts_t o = {0};
    ck_assert_int_ge(hc_endpoint_send(p->ep, L->s, b, len, L->fno * 3000u, last, &o, now), 0);
    L->index++;
    L->sent++;
    L->pkts++;
    if (last) L->busy = false;
}

static void lt_pub_step(lt_pub_t *p, uint64_t now)
{
    if (!p->on) return;
    for (int i = 0; i < LT_NLAYERS; i++) {
        lt_layer_t *L = &p->lay[i];
        uint64_t due = p->t0 + (uint64_t)L->frame * LT_FRAME_US;
        if (!L->busy && now >= due) {
            L->key = L->key_wanted || L->frame % LT_GOP == 0;
            L->key_wanted = false;
            L->busy = true;
            L->fstart = now;
            L->fno = L->frame++;
            L->body = L->key ? L->kbytes : L->pbytes;
            L->npk = (L->body + LT_FRAG - 1) / LT_FRAG + (L->key ? 1 : 0);
            L->sent = L->done = 0;
            if (L->key) L->keyframes++;
        }
        /* Paced: the frame's packets spread over 2/3 of the interval. */
        while (L->busy && now >= L->fstart + (uint64_t)L->sent * (LT_FRAME_US * 2 / 3) / L->npk)
            lt_send_video_pkt(p, i, now);
    }
    if (now >= p->t0 + (uint64_t)p->apkt * 20000u) {
        uint8_t a[80];
        a[0] = 0xf8;
        memset(a + 1, (int)p->apkt, sizeof a - 1);
        hc_ep_send_opts_t o = {.has_audio_level = true, .voice = true, .audio_level = 30};
        ck_assert_int_ge(
            hc_endpoint_send(p->ep, p->sa, a, sizeof a, p->apkt * 960u, false, &o, now), 0);
        p->apkt++;
    }
}

static void lt_pub_on(lt_pub_t *p, bool on)
{
    if (on && !p->on) {
        p->t0 = lt_t0 = hc_now_us();
        p->apkt = 0;
        for (int i = 0; i < LT_NLAYERS; i++) {
            p->lay[i].frame = 0;
            p->lay[i].busy = false;
            p->lay[i].key_wanted = true;
        }
    }
    p->on = on;
}

/* Drive everything for ms milliseconds. The loop waits in poll() on the
 * endpoints' sockets (at most 1 ms, the publisher's pacing step), so a
 * subscriber reads a packet when it arrives: the arrival times its
 * transport-wide feedback reports are the network's, not this loop's. */
static void lt_pump(lt_pub_t *p, lt_sub_t **subs, size_t n, int ms)
{
    uint64_t end = hc_now_us() + (uint64_t)ms * 1000u;
    struct pollfd fds[4];
    ck_assert_uint_le(n + 1, 4);
    fds[0].fd = hc_endpoint_fd(p->ep);
    for (size_t i = 0; i < n; i++) fds[i + 1].fd = hc_endpoint_fd(subs[i]->ep);
    for (size_t i = 0; i <= n; i++) fds[i].events = POLLIN;
    uint64_t next_sig = 0;
    while (hc_now_us() < end) {
        uint64_t now = hc_now_us();
        lt_pub_step(p, now);
        hc_endpoint_recv(p->ep, now);
        hc_endpoint_poll(p->ep, now);
        for (size_t i = 0; i < n; i++) {
            now = hc_now_us();
            hc_endpoint_recv(subs[i]->ep, now);
            hc_endpoint_poll(subs[i]->ep, now);
        }
        if (now >= next_sig) {
            /* signaling: keepalive, tracks events (every 20 ms is plenty) */
            rf_keepalive(p->sig, &p->last_ping, now);
            hc_sig_msg_t m;
            while (hc_sigclient_recv(p->sig, &m, 0) == 0) hc_sig_msg_fini(&m);
            for (size_t i = 0; i < n; i++) lt_sub_events(subs[i]);
            next_sig = now + 20000;
        }
        (void)poll(fds, (nfds_t)(n + 1), 1);
    }
}

/* ---- the test ---- */

typedef struct lt_result {
    hc_ep_track_stats_t v0, v1; /* video at the tail's start, at the end */
    double tail_loss;
} lt_result_t;

static void lt_report(const lt_sub_t *s, const lt_result_t *r)
{
    hc_endpoint_stats_t es;
    hc_endpoint_stats(s->ep, &es);
    int last = s->have_last ? s->last_layer : -1;
    uint64_t texp = r->v1.expected - r->v0.expected, tlost = r->v1.lost - r->v0.lost;
    fprintf(stderr,
            "%s: ends on layer %d (%s); video packets %" PRIu64 " (high %" PRIu64 ", low %" PRIu64
            "), last %d s: high %" PRIu64 " low %" PRIu64 ", expected %" PRIu64 " lost %" PRIu64
            " (%.2f %%); whole run: missing %" PRIu64 " recovered %" PRIu64 " (rtx %" PRIu64
            ", fec %" PRIu64 ") lost %" PRIu64 " late %" PRIu64 " dup %" PRIu64
            "; layer switches %" PRIu64 " (given up at them %" PRIu64 "), order errors %" PRIu64
            ", relay-made holes %" PRIu64 ", bad switches %" PRIu64 ", unmarked %" PRIu64
            "; audio %" PRIu64 "; twcc: %" PRIu64 " numbered packets, %" PRIu64
            " feedbacks; drop_unknown %" PRIu64 "; video SSRCs listed %u\n",
            s->name, last,
            last == 0   ? "640x360"
            : last == 1 ? "320x180"
                        : "none",
            s->n, s->n_layer[0], s->n_layer[1], LT_TAIL_MS / 1000, s->tail_layer[0],
            s->tail_layer[1], texp, tlost, 100.0 * r->tail_loss, r->v1.missing, r->v1.recovered,
            r->v1.rtx, r->v1.fec_recovered, r->v1.lost, r->v1.late, r->v1.duplicates, s->switches,
            s->switch_skipped, s->order_err, s->phantom, s->bad_switch, s->unmarked, s->audio,
            es.twcc_rx, es.twcc_fbs, es.drop_unknown, s->video_entries);
    fprintf(stderr,
            "  %s endpoint: rx %" PRIu64 " datagrams, rtcp %" PRIu64 ", drops: malformed %" PRIu64
            " auth %" PRIu64 " replay %" PRIu64 " nobuf %" PRIu64 "\n",
            s->name, es.rx_datagrams, es.rtcp_rx, es.drop_malformed, es.drop_auth, es.drop_replay,
            es.drop_nobuf);
    fprintf(stderr, "  %s layer switches:", s->name);
    for (unsigned i = 0; i < s->nsw; i++)
        fprintf(stderr, " %.1f s -> %u", s->sw_ms[i] / 1000.0, s->sw_to[i]);
    fprintf(stderr, "%s\n  %s most ms from publisher per second:", s->nsw ? "" : " none", s->name);
    for (unsigned i = 0; i < LT_SECS && i * 1000 < LT_RUN_MS; i++)
        fprintf(stderr, " %u", s->lat_max[i]);
    fprintf(stderr, "\n");
    for (unsigned i = 0; i < s->nwhy; i++) fprintf(stderr, "  %s: %s\n", s->name, s->why[i]);
}

/* The checks every subscriber must pass whatever its link. */
static void lt_check_continuity(const lt_sub_t *s)
{
    ck_assert_ptr_nonnull(s->vt);
    ck_assert_uint_eq(s->video_entries, 1); /* one track for the group */
    ck_assert_uint_gt(s->n, 500);
    ck_assert_uint_eq(s->unmarked, 0);
    ck_assert(!s->first_bad);
    ck_assert_uint_eq(s->order_err, 0);
    ck_assert_uint_eq(s->phantom, 0);
    ck_assert_uint_eq(s->bad_switch, 0);
    ck_assert_uint_gt(s->audio, 500);
}

START_TEST(layer_per_subscriber_downlink)
{
    rf_relay_start(&relay);
    lt_pub_t *p = calloc(1, sizeof *p);
    lt_sub_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    lt_pub_join(p);
    uint16_t media = (uint16_t)p->joined.media.port;

    /* B's downlink: 400 kbit/s with a 200 ms drop-tail queue, 20 ms each
     * way; the uplink (feedback, NACKs, reports) only delayed. */
    rf_impair_t im = {0};
    char log[300];
    snprintf(log, sizeof log, "%s/impair.log", relay.dir);
    const char *args[] = {"--seed", "5",          "--down", "rate=400kbit queue=200ms delay=20ms",
                          "--up",   "delay=20ms", NULL};
    rf_impair_start(&im, media, args, log);
    char via[64];
    snprintf(via, sizeof via, "127.0.0.1:%u", im.port);
    lt_sub_join(a, "A valley school", NULL);
    lt_sub_join(b, "B mountain school", via);
    ck_assert_ptr_nonnull(a->vt);
    ck_assert_ptr_nonnull(b->vt);
    ck_assert_uint_eq(a->video_entries, 1);
    ck_assert_uint_eq(b->video_entries, 1);

    lt_sub_t *subs[2] = {a, b};
    lt_pump(p, subs, 2, 500);
    lt_pub_on(p, true);
    lt_pump(p, subs, 2, LT_RUN_MS - LT_TAIL_MS);
    lt_result_t ra, rb;
    hc_ep_track_stats(a->vt, &ra.v0);
    hc_ep_track_stats(b->vt, &rb.v0);
    a->tail = b->tail = true;
    lt_pump(p, subs, 2, LT_TAIL_MS);
    lt_pub_on(p, false);
    lt_pump(p, subs, 2, LT_DRAIN_MS);
    hc_ep_track_stats(a->vt, &ra.v1);
    hc_ep_track_stats(b->vt, &rb.v1);
    rf_impair_stop(&im);

    for (int i = 0; i < 2; i++) {
        lt_sub_t *s = subs[i];
        lt_result_t *r = i ? &rb : &ra;
        uint64_t texp = r->v1.expected - r->v0.expected;
        r->tail_loss = texp ? (double)(r->v1.lost - r->v0.lost) / (double)texp : 1.0;
        lt_report(s, r);
    }
    for (int i = 0; i < LT_NLAYERS; i++) {
        hc_ep_stream_stats_t st;
        hc_ep_stream_stats(p->lay[i].s, &st);
        fprintf(stderr,
                "publisher layer %d: packets %" PRIu64 " keyframes %" PRIu64 " PLIs %" PRIu64
                " (endpoint: plis %" PRIu64 " firs %" PRIu64 " nacks %" PRIu64 ")\n",
                i, p->lay[i].pkts, p->lay[i].keyframes, p->lay[i].plis, st.plis_rx, st.firs_rx,
                st.nacks_rx);
    }

    /* Everything stopped before judging, so a failure leaves no process. */
    hc_sigclient_destroy(&a->sig);
    hc_endpoint_destroy(&a->ep);
    hc_sigclient_destroy(&b->sig);
    hc_endpoint_destroy(&b->ep);
    hc_sigclient_destroy(&p->sig);
    hc_endpoint_destroy(&p->ep);
    int relay_status = rf_relay_stop(&relay);

    /* One SSRC, continuous sequence numbers, keyframe-started switches. */
    lt_check_continuity(a);
    lt_check_continuity(b);

    /* B: only the low layer in the last 5 s (the relay's downlink estimate
     * keeps it there), at least ~100 frames of it, and < 2 % lost after
     * repair. */
    ck_assert_int_eq(b->last_layer, 1);
    ck_assert_uint_eq(b->tail_layer[0], 0);
    ck_assert_uint_gt(b->tail_layer[1], 100);
    ck_assert_uint_gt(rb.v1.expected - rb.v0.expected, 100);
    ck_assert_double_lt(rb.tail_loss, 0.02);

    /* A: the high layer at the end (most of the last 5 s, with room for a
     * step down and back), and about nothing lost. */
    ck_assert_int_eq(a->last_layer, 0);
    ck_assert_uint_gt(a->tail_layer[0], 4 * a->tail_layer[1]);
    ck_assert_uint_gt(a->tail_layer[0], 400);
    ck_assert_double_lt(ra.tail_loss, 0.005);

    ck_assert_int_eq(relay_status, 0);
    free(a);
    free(b);
    free(p);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_layers");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, layer_per_subscriber_downlink);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
