/* router.c - the relay data plane: tables, life cycle, input dispatch,
 * control plane and statistics; see router.h and router_int.h. */
#include "relay/core/router_int.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/rtpext.h"
#include "relay/core/clock.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void hc_router_cfg_default(hc_router_cfg_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->max_legs = 1024;
    cfg->max_instreams = 1024;
    cfg->max_tracks = 4096;
    cfg->history_video = 1024;
    cfg->history_audio = 128;
    cfg->report_ms = 1000;
    cfg->leg_timeout_ms = 5000;
    cfg->pli_min_ms = 300;
    cfg->nack_max_retries = 5;
    cfg->rtx_max_age_ms = 1000;
    cfg->seed = 0x9e3779b9u; /* callers pass a random one */
    cfg->fec_nack_hold_ms = 0;
}

/* ---- small shared helpers ---- */

uint32_t rt_rand(hc_router_t *r)
{
    /* xorshift64*: offsets and report phases only need to differ, not to
     * be secret. */
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

uint64_t rt_now(const hc_router_t *r)
{
    return hc_loop_now_us(r->loop);
}

uint64_t rt_us_to_ntp(uint64_t us)
{
    return ((us / 1000000u) << 32) + (((us % 1000000u) << 32) / 1000000u);
}

uint64_t rt_ntp(const hc_router_t *r, uint64_t now_us)
{
    return hc_rtpext_ntp_from_unix_us((uint64_t)((int64_t)now_us + r->wall_off_us));
}

void rt_rate_add(rt_rate_t *rate, uint64_t bytes, uint64_t now_us)
{
    if (rate->start_us == 0) rate->start_us = now_us;
    uint64_t el = now_us - rate->start_us;
    if (el >= RT_BITRATE_WINDOW) {
        rate->bps = (uint32_t)(rate->bytes * 8u * 1000000u / el);
        rate->bytes = 0;
        rate->start_us = now_us;
    }
    rate->bytes += bytes;
}

uint32_t rt_rate_now(const rt_rate_t *rate, uint64_t now_us)
{
    /* A stream that stopped shows 0, not its last rate. */
    if (rate->start_us && now_us - rate->start_us >= 2 * RT_BITRATE_WINDOW) return 0;
    return rate->bps;
}

uint8_t *rt_tx_slot(hc_router_t *r)
{
    if (r->tx.n >= HC_UDP_TX_BATCH) hc_router_flush(r);
    return r->slots + (size_t)r->tx.n * HC_PKT_CAP;
}

bool rt_tx_queue(hc_router_t *r, hc_leg_t *leg, uint8_t *slot, uint32_t len)
{
    int rc = hc_udp_tx_add(&r->tx, slot, len, &leg->addr);
    if (rc < 0) {
        if (rc == -HC_EFULL)
            r->c.drop_nobuf++;
        else
            r->c.drop_send++;
        return false;
    }
    leg->tx_packets++;
    leg->tx_bytes += len;
    r->c.tx_packets++;
    r->c.tx_bytes += len;
    if (r->tx.n >= HC_UDP_TX_BATCH) hc_router_flush(r);
    return true;
}

void rt_tx_rtcp(hc_router_t *r, hc_leg_t *leg, uint8_t *slot, size_t len)
{
    int n = hc_srtp_protect_rtcp(&leg->tx, slot, len, HC_PKT_CAP);
    if (n < 0) {
        r->c.drop_send++;
        return;
    }
    rt_tx_queue(r, leg, slot, (uint32_t)n);
}

void hc_router_flush(hc_router_t *r)
{
    if (!r || r->tx.n == 0) return;
    uint32_t n = r->tx.n;
    int sent = hc_udp_tx_flush(r->fd, &r->tx);
    if (sent < 0) sent = 0;
    if ((uint32_t)sent < n) r->c.drop_send += n - (uint32_t)sent;
}

static void flush_hook(hc_loop_t *loop, void *ud)
{
    (void)loop;
    hc_router_flush(ud);
}

hc_track_t *rt_track_of(hc_router_t *r, hc_leg_t *leg, uint32_t ssrc)
{
    uint32_t v;
    if (!hc_ssrcmap_get(&r->map, RT_TRACK_KEY(leg->idx, ssrc), &v)) return NULL;
    return &r->trk[RT_MAP_IDX(v)];
}

hc_instream_t *rt_instream_of(hc_router_t *r, uint32_t ssrc)
{
    uint32_t v;
    if (!hc_ssrcmap_get(&r->map, ssrc, &v) || RT_MAP_KIND(v) != RT_MAP_IN) return NULL;
    return &r->ins[RT_MAP_IDX(v)];
}

/* ---- life cycle ---- */

static uint32_t *free_stack(uint32_t n)
{
    uint32_t *s = malloc((size_t)n * sizeof(*s));
    if (!s) return NULL;
    /* Lowest index on top, so tables fill from the front. */
    for (uint32_t i = 0; i < n; i++) s[i] = n - 1 - i;
    return s;
}

int hc_router_new(hc_router_t **out, const hc_router_cfg_t *cfg, hc_loop_t *loop, int fd,
                  hc_pool_t *pool, const hc_router_events_t *ev)
{
    if (!out || !cfg || !loop) return -HC_EINVAL;
    *out = NULL;
    if (cfg->max_legs == 0 || cfg->max_instreams == 0 || cfg->max_tracks == 0 ||
        cfg->max_legs > (1u << 24) || cfg->max_instreams > (1u << 24) ||
        cfg->max_tracks > (1u << 24) || cfg->history_video == 0 || cfg->history_audio == 0 ||
        (cfg->history_video & (cfg->history_video - 1)) ||
        (cfg->history_audio & (cfg->history_audio - 1)) || cfg->history_video > 65536 ||
        cfg->history_audio > 65536 || cfg->report_ms == 0 || cfg->leg_timeout_ms == 0 ||
        (cfg->bwe_history && ((cfg->bwe_history & (cfg->bwe_history - 1)) ||
                              cfg->bwe_history < 256 || cfg->bwe_history > 65536)))
        return -HC_EINVAL;
    hc_router_t *r = calloc(1, sizeof(*r));
    if (!r) return -HC_ENOMEM;
    r->cfg = *cfg;
    r->loop = loop;
    r->fd = fd;
    r->pool = pool;
    if (ev) r->ev = *ev;
    r->rng = ((uint64_t)cfg->seed << 32 | 0x5bd1e995u) ^ (uint64_t)(uintptr_t)r;
    if (!r->rng) r->rng = 1;
    r->legs = calloc(cfg->max_legs, sizeof(*r->legs));
    r->ins = calloc(cfg->max_instreams, sizeof(*r->ins));
    r->trk = calloc(cfg->max_tracks, sizeof(*r->trk));
    r->free_legs = free_stack(cfg->max_legs);
    r->free_ins = free_stack(cfg->max_instreams);
    r->free_trk = free_stack(cfg->max_tracks);
    r->slots = aligned_alloc(64, (size_t)HC_UDP_TX_BATCH * HC_PKT_CAP);
    r->fbpkts = calloc(RT_BWE_FB_MAX, sizeof(*r->fbpkts));
    /* legs' RTCP SSRCs, instreams' media, RTX and FEC SSRCs, tracks */
    uint32_t entries = cfg->max_legs + 3 * cfg->max_instreams + cfg->max_tracks;
    if (!r->legs || !r->ins || !r->trk || !r->free_legs || !r->free_ins || !r->free_trk ||
        !r->slots || !r->fbpkts || hc_ssrcmap_init(&r->map, entries, cfg->seed) < 0) {
        hc_router_destroy(&r);
        return -HC_ENOMEM;
    }
    r->nfree_legs = cfg->max_legs;
    r->nfree_ins = cfg->max_instreams;
    r->nfree_trk = cfg->max_tracks;
    hc_udp_tx_init(&r->tx);
    r->wall_off_us = (int64_t)hc_wall_us() - (int64_t)hc_loop_now_us(loop);
    /* The worker flushes once per iteration too; a second hook makes the
     * router self-sufficient (reports queued by timers go out in the same
     * iteration) and costs one comparison. */
    hc_loop_hook_add(loop, &r->hook, flush_hook, r);
    *out = r;
    return 0;
}

void hc_router_destroy(hc_router_t **rp)
{
    if (!rp || !*rp) return;
    hc_router_t *r = *rp;
    if (r->legs) {
        for (uint32_t i = 0; i < r->cfg.max_legs; i++)
            if (r->legs[i].used) hc_router_leg_remove(r, &r->legs[i]);
    }
    if (r->slots && r->tx.n) hc_router_flush(r);
    hc_loop_hook_remove(&r->hook);
    hc_ssrcmap_fini(&r->map);
    free(r->legs);
    free(r->ins);
    free(r->trk);
    free(r->free_legs);
    free(r->free_ins);
    free(r->free_trk);
    free(r->slots);
    free(r->fbpkts);
    free(r);
    *rp = NULL;
}

/* ---- input ---- */

static void active_timer_fn(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    hc_leg_t *leg = ud;
    hc_router_t *r = leg->r;
    uint64_t now = hc_loop_now_us(loop);
    uint64_t quiet_at = leg->last_rx_us + r->cfg.leg_timeout_ms * 1000ull;
    if (now < quiet_at) {
        hc_timer_start(loop, t, quiet_at, active_timer_fn, leg);
        return;
    }
    if (leg->active) {
        leg->active = false;
        if (r->ev.leg_active) r->ev.leg_active(r->ev.ud, leg, false);
    }
}

/* Called for every packet that authenticated, and only for those. */
static void learn_addr(hc_router_t *r, hc_leg_t *leg, const hc_addr_t *from, uint64_t now)
{
    leg->rx_packets++;
    leg->last_rx_us = now;
    if (!leg->has_addr) {
        leg->addr = *from;
        leg->has_addr = true;
        if (r->ev.leg_addr) r->ev.leg_addr(r->ev.ud, leg, NULL, &leg->addr);
    } else if (!hc_addr_eq(&leg->addr, from)) {
        /* NAT rebinding or handover: follow, but only now that the packet
         * authenticated (a forged source address gets nothing). */
        hc_addr_t old = leg->addr;
        leg->addr = *from;
        leg->rebinds++;
        r->c.rebinds++;
        if (r->ev.leg_addr) r->ev.leg_addr(r->ev.ud, leg, &old, &leg->addr);
    }
    if (!leg->active) {
        /* While active the timer re-arms itself from last_rx_us, so the
         * packet path touches it only on this transition. */
        leg->active = true;
        hc_timer_start(r->loop, &leg->active_timer, now + r->cfg.leg_timeout_ms * 1000ull,
                       active_timer_fn, leg);
        if (r->ev.leg_active) r->ev.leg_active(r->ev.ud, leg, true);
    }
}

void hc_router_input(hc_router_t *r, hc_pkt_t *pkt)
{
    uint8_t *data = pkt->data;
    size_t len = pkt->len;
    uint64_t now = rt_now(r);
    r->c.rx_packets++;
    r->c.rx_bytes += len;
    /* RFC 3550 5.1 / 6.4: 12 bytes hold an RTP fixed header or an RTCP
     * header with its sender SSRC; anything shorter or not version 2 is
     * not ours. */
    if (len < HC_RTP_FIXED_LEN || (data[0] >> 6) != 2) {
        r->c.drop_malformed++;
        goto out;
    }
    bool rtcp = hc_rtcp_is_rtcp(data, len); /* RFC 5761 section 4 */
    uint32_t ssrc = rtcp ? hc_rd32(data + 4) : hc_rd32(data + 8);
    if (!rtcp && len > RT_MAX_RTP + 16) {
        r->c.drop_malformed++;
        goto out;
    }
    uint32_t v;
    if (!hc_ssrcmap_get(&r->map, ssrc, &v) || RT_MAP_KIND(v) == RT_MAP_TRACK) {
        r->c.drop_unknown++;
        goto out;
    }
    hc_leg_t *leg;
    hc_instream_t *s = NULL;
    if (RT_MAP_KIND(v) == RT_MAP_LEG) {
        leg = &r->legs[RT_MAP_IDX(v)];
    } else {
        s = &r->ins[RT_MAP_IDX(v)];
        leg = s->leg;
    }
    if (!rtcp && !s) {
        /* RTP on a leg's RTCP SSRC: nothing we route. */
        r->c.drop_unknown++;
        goto out;
    }
    int n =
        rtcp ? hc_srtp_unprotect_rtcp(&leg->rx, data, len) : hc_srtp_unprotect(&leg->rx, data, len);
    if (n < 0) {
        if (n == -HC_EREPLAY) {
            r->c.drop_replay++;
            leg->replay++;
        } else {
            r->c.drop_auth++;
            leg->auth_fail++;
        }
        goto out;
    }
    leg->rx_bytes += len;
    learn_addr(r, leg, &pkt->peer, now);
    if (rtcp)
        rt_rtcp_input(r, leg, data, (size_t)n, now);
    else if (RT_MAP_KIND(v) != RT_MAP_RTX)
        rt_rtp_input(r, s, RT_VIA_MEDIA, data, (size_t)n, now);
    else if (v & RT_MAP_FEC_FLAG)
        rt_fec_input(r, s, data, (size_t)n, now);
    else
        rt_rtp_input(r, s, RT_VIA_RTX, data, (size_t)n, now);
out:
    hc_pool_put(r->pool, pkt);
}

/* ---- control plane: legs ---- */

void *hc_leg_owner(const hc_leg_t *leg)
{
    return leg->owner;
}

bool hc_leg_addr(const hc_leg_t *leg, hc_addr_t *out)
{
    if (!leg->has_addr) return false;
    if (out) *out = leg->addr;
    return true;
}

int hc_router_leg_add(hc_router_t *r, const hc_leg_cfg_t *cfg, hc_leg_t **out)
{
    if (!r || !cfg || !out) return -HC_EINVAL;
    size_t klen = hc_srtp_key_len(cfg->suite);
    if (klen == 0) return -HC_EINVAL;
    if (r->nfree_legs == 0) return -HC_EFULL;
    if (hc_ssrcmap_get(&r->map, cfg->rtcp_ssrc, NULL)) return -HC_EEXIST;
    uint32_t idx = r->free_legs[r->nfree_legs - 1];
    hc_leg_t *leg = &r->legs[idx];
    memset(leg, 0, sizeof(*leg));
    leg->r = r;
    leg->idx = idx;
    int rc = hc_srtp_init(&leg->rx, cfg->suite, cfg->key_up, klen, HC_SRTP_RECV);
    if (rc == 0) rc = hc_srtp_init(&leg->tx, cfg->suite, cfg->key_down, klen, HC_SRTP_SEND);
    if (rc == 0) rc = hc_ssrcmap_put(&r->map, cfg->rtcp_ssrc, RT_MAP_VAL(RT_MAP_LEG, idx));
    if (rc < 0) {
        hc_srtp_fini(&leg->rx);
        hc_srtp_fini(&leg->tx);
        memset(leg, 0, sizeof(*leg));
        return rc;
    }
    r->nfree_legs--;
    leg->used = true;
    leg->rtcp_ssrc = cfg->rtcp_ssrc;
    leg->relay_ssrc = cfg->relay_ssrc;
    leg->owner = cfg->owner;
    leg->twcc_seq = (uint16_t)rt_rand(r);
    if (cfg->addr && cfg->addr->len) {
        leg->addr = *cfg->addr;
        leg->has_addr = true;
    }
    /* The first report at a random phase of the interval, so legs added
     * together do not report together ever after. */
    uint64_t now = rt_now(r);
    uint64_t period = r->cfg.report_ms * 1000ull;
    hc_timer_start(r->loop, &leg->report_timer, now + 1000 + rt_rand(r) % period,
                   rt_report_timer_fn, leg);
    r->c.legs++;
    *out = leg;
    return 0;
}

void hc_router_leg_remove(hc_router_t *r, hc_leg_t *leg)
{
    assert(r && leg && leg->used && leg->r == r);
    while (leg->tracks) hc_router_track_remove(r, leg->tracks);
    while (leg->instreams) hc_router_instream_remove(r, leg->instreams);
    hc_timer_stop(&leg->report_timer);
    hc_timer_stop(&leg->active_timer);
    if (leg->twcc) {
        hc_timer_stop(&leg->twcc->timer);
        free(leg->twcc);
    }
    rt_leg_bwe_free(leg);
    hc_ssrcmap_del(&r->map, leg->rtcp_ssrc);
    hc_srtp_fini(&leg->rx);
    hc_srtp_fini(&leg->tx);
    uint32_t idx = leg->idx;
    memset(leg, 0, sizeof(*leg));
    r->free_legs[r->nfree_legs++] = idx;
    r->c.legs--;
}

/* ---- control plane: instreams ---- */

void *hc_instream_owner(const hc_instream_t *s)
{
    return s->owner;
}

int hc_router_instream_add(hc_router_t *r, hc_leg_t *leg, const hc_instream_cfg_t *cfg,
                           hc_instream_t **out)
{
    if (!r || !leg || !cfg || !out || !leg->used) return -HC_EINVAL;
    if ((cfg->kind != HC_MEDIA_AUDIO && cfg->kind != HC_MEDIA_VIDEO) || cfg->clock_rate == 0 ||
        cfg->pt > 127 || cfg->rtx_pt > 127 || cfg->ssrc == cfg->rtx_ssrc ||
        (cfg->fec_ssrc && (cfg->fec_ssrc == cfg->ssrc || cfg->fec_ssrc == cfg->rtx_ssrc)))
        return -HC_EINVAL;
    if (r->nfree_ins == 0) return -HC_EFULL;
    if (hc_ssrcmap_get(&r->map, cfg->ssrc, NULL) ||
        (cfg->rtx_ssrc && hc_ssrcmap_get(&r->map, cfg->rtx_ssrc, NULL)) ||
        (cfg->fec_ssrc && hc_ssrcmap_get(&r->map, cfg->fec_ssrc, NULL)))
        return -HC_EEXIST;
    uint32_t idx = r->free_ins[r->nfree_ins - 1];
    hc_instream_t *s = &r->ins[idx];
    memset(s, 0, sizeof(*s));
    bool video = cfg->kind == HC_MEDIA_VIDEO;
    uint32_t hn = video ? r->cfg.history_video : r->cfg.history_audio;
    uint32_t ncap = hn / 4;
    if (ncap < 16) ncap = 16;
    if (ncap > 512) ncap = 512;
    int rc =
        hc_history_init(&s->hist, hn, hn * ((video ? RT_AVG_VIDEO_PKT : RT_AVG_AUDIO_PKT) + 4));
    s->nack_mem = calloc(ncap, sizeof(*s->nack_mem));
    if (rc == 0 && !s->nack_mem) rc = -HC_ENOMEM;
    s->ssrc = cfg->ssrc;
    if (rc == 0 && cfg->fec_ssrc) rc = rt_fec_in_init(s);
    if (rc == 0 && !leg->twcc) {
        leg->twcc = calloc(1, sizeof(*leg->twcc));
        if (!leg->twcc)
            rc = -HC_ENOMEM;
        else
            hc_twccfb_init(&leg->twcc->fb, leg->twcc->arr, RT_TWCC_WINDOW);
    }
    if (rc == 0) rc = hc_ssrcmap_put(&r->map, cfg->ssrc, RT_MAP_VAL(RT_MAP_IN, idx));
    if (rc == 0 && cfg->rtx_ssrc) {
        rc = hc_ssrcmap_put(&r->map, cfg->rtx_ssrc, RT_MAP_VAL(RT_MAP_RTX, idx));
        if (rc < 0) hc_ssrcmap_del(&r->map, cfg->ssrc);
    }
    if (rc == 0 && cfg->fec_ssrc) {
        rc = hc_ssrcmap_put(&r->map, cfg->fec_ssrc, RT_MAP_VAL(RT_MAP_RTX, idx) | RT_MAP_FEC_FLAG);
        if (rc < 0) {
            hc_ssrcmap_del(&r->map, cfg->ssrc);
            if (cfg->rtx_ssrc) hc_ssrcmap_del(&r->map, cfg->rtx_ssrc);
        }
    }
    if (rc < 0) {
        hc_history_fini(&s->hist);
        free(s->nack_mem);
        free(s->fec);
        memset(s, 0, sizeof(*s));
        return rc;
    }
    r->nfree_ins--;
    s->used = true;
    s->idx = idx;
    s->leg = leg;
    s->kind = cfg->kind;
    s->ssrc = cfg->ssrc;
    s->rtx_ssrc = cfg->rtx_ssrc;
    s->fec_ssrc = cfg->fec_ssrc;
    s->pt = cfg->pt;
    s->rtx_pt = cfg->rtx_pt;
    s->clock_rate = cfg->clock_rate;
    s->owner = cfg->owner;
    hc_rxstats_init(&s->rx, cfg->clock_rate);
    hc_seq_unwrap_init(&s->uw);
    /* nack_max_retries 0: losses are still tracked (recovered counts), never
     * asked for. */
    hc_nackgen_init(&s->nack, s->nack_mem, ncap,
                    r->cfg.nack_max_retries ? r->cfg.nack_max_retries : 1,
                    r->cfg.rtx_max_age_ms * 1000ull);
    s->next_in_leg = leg->instreams;
    leg->instreams = s;
    r->c.instreams++;
    *out = s;
    return 0;
}

void hc_router_instream_remove(hc_router_t *r, hc_instream_t *s)
{
    assert(r && s && s->used);
    rt_layers_instream_gone(r, s);
    while (s->tracks) hc_router_track_set_source(r, s->tracks, NULL);
    hc_leg_t *leg = s->leg;
    for (hc_instream_t **pp = &leg->instreams; *pp; pp = &(*pp)->next_in_leg) {
        if (*pp == s) {
            *pp = s->next_in_leg;
            break;
        }
    }
    if (leg->twcc && leg->twcc->media_ssrc == s->ssrc)
        leg->twcc->media_ssrc = leg->instreams ? leg->instreams->ssrc : 0;
    hc_timer_stop(&s->nack_timer);
    hc_timer_stop(&s->kf_timer);
    hc_ssrcmap_del(&r->map, s->ssrc);
    if (s->rtx_ssrc) hc_ssrcmap_del(&r->map, s->rtx_ssrc);
    if (s->fec_ssrc) hc_ssrcmap_del(&r->map, s->fec_ssrc);
    hc_history_fini(&s->hist);
    free(s->nack_mem);
    free(s->fec);
    uint32_t idx = s->idx;
    memset(s, 0, sizeof(*s));
    r->free_ins[r->nfree_ins++] = idx;
    r->c.instreams--;
}

void hc_router_request_keyframe(hc_router_t *r, hc_instream_t *s)
{
    assert(r && s && s->used);
    rt_keyframe_request(r, s, false, rt_now(r));
}

uint8_t hc_instream_audio_level(const hc_instream_t *s, uint64_t now_us, bool *voice)
{
    bool v = false;
    uint8_t level = 127;
    if (s->have_level && now_us - s->level_us < RT_LEVEL_STALE_US) {
        level = (uint8_t)((s->level_q4 + 8) / 16);
        v = s->voice_us && now_us - s->voice_us < RT_VOICE_WINDOW_US;
    }
    if (voice) *voice = v;
    return level;
}

/* ---- control plane: tracks ---- */

static bool fec_policy_ok(const hc_fec_policy_t *p)
{
    if (p->budget_ms > 60000) return false;
    switch (p->mode) {
    case HC_FEC_AUTO:
    case HC_FEC_OFF: return true;
    case HC_FEC_FIXED: return p->k >= 1 && p->k <= HC_FEC_MAX_GROUP;
    }
    return false;
}

void *hc_track_owner(const hc_track_t *t)
{
    return t->owner;
}

hc_instream_t *hc_track_source(const hc_track_t *t)
{
    return t->src;
}

int hc_router_track_add(hc_router_t *r, hc_leg_t *subscriber, const hc_track_cfg_t *cfg,
                        hc_track_t **out)
{
    if (!r || !subscriber || !cfg || !out || !subscriber->used) return -HC_EINVAL;
    if ((cfg->kind != HC_MEDIA_AUDIO && cfg->kind != HC_MEDIA_VIDEO) || cfg->clock_rate == 0 ||
        cfg->pt > 127 || cfg->rtx_pt > 127 || (cfg->rtx_ssrc && cfg->rtx_ssrc == cfg->ssrc) ||
        cfg->fec_pt > 127 ||
        (cfg->fec_ssrc && (cfg->fec_ssrc == cfg->ssrc || cfg->fec_ssrc == cfg->rtx_ssrc)))
        return -HC_EINVAL;
    if (cfg->fec_ssrc && !fec_policy_ok(&cfg->fec)) return -HC_EINVAL;
    if (r->nfree_trk == 0) return -HC_EFULL;
    uint32_t idx = r->free_trk[r->nfree_trk - 1];
    hc_track_t *t = &r->trk[idx];
    memset(t, 0, sizeof(*t));
    if (cfg->fec_ssrc && rt_fec_out_init(t) < 0) return -HC_ENOMEM;
    int rc = hc_ssrcmap_put(&r->map, RT_TRACK_KEY(subscriber->idx, cfg->ssrc),
                            RT_MAP_VAL(RT_MAP_TRACK, idx));
    if (rc < 0) {
        free(t->fec);
        t->fec = NULL;
        return rc;
    }
    r->nfree_trk--;
    t->used = true;
    t->idx = idx;
    t->leg = subscriber;
    t->kind = cfg->kind;
    t->ssrc = cfg->ssrc;
    t->rtx_ssrc = cfg->rtx_ssrc;
    t->pt = cfg->pt;
    t->rtx_pt = cfg->rtx_pt;
    t->clock_rate = cfg->clock_rate;
    t->owner = cfg->owner;
    t->rtx_seq = (uint16_t)rt_rand(r);
    if (cfg->fec_ssrc) {
        t->fec->ssrc = cfg->fec_ssrc;
        t->fec->pt = cfg->fec_pt ? cfg->fec_pt : RT_FEC_PT;
        t->fec->seq = (uint16_t)rt_rand(r);
        rt_fec_set_policy(t, &cfg->fec);
    }
    t->next_in_leg = subscriber->tracks;
    subscriber->tracks = t;
    r->c.tracks++;
    *out = t;
    return 0;
}

void hc_router_track_remove(hc_router_t *r, hc_track_t *t)
{
    assert(r && t && t->used);
    rt_layers_free(r, t);
    rt_track_unlink(t);
    hc_leg_t *leg = t->leg;
    for (hc_track_t **pp = &leg->tracks; *pp; pp = &(*pp)->next_in_leg) {
        if (*pp == t) {
            *pp = t->next_in_leg;
            break;
        }
    }
    hc_ssrcmap_del(&r->map, RT_TRACK_KEY(leg->idx, t->ssrc));
    free(t->fec);
    uint32_t idx = t->idx;
    memset(t, 0, sizeof(*t));
    r->free_trk[r->nfree_trk++] = idx;
    r->c.tracks--;
}

int hc_router_track_set_fec(hc_router_t *r, hc_track_t *t, const hc_fec_policy_t *p)
{
    if (!r || !t || !t->used || !p || !t->fec || !fec_policy_ok(p)) return -HC_EINVAL;
    rt_fec_set_policy(t, p);
    return 0;
}

int hc_router_track_set_source(hc_router_t *r, hc_track_t *t, hc_instream_t *src)
{
    if (!r || !t || !t->used) return -HC_EINVAL;
    if (src && (!src->used || src->kind != t->kind)) return -HC_EINVAL;
    rt_layers_free(r, t);
    if (src == t->src) return 0;
    rt_track_unlink(t);
    t->epoch = false;
    t->wait_kf = false;
    t->switching = false;
    if (!src) return 0;
    rt_track_link(t, src);
    t->switching = true;
    if (t->kind == HC_MEDIA_VIDEO) {
        /* A decoder cannot continue a different encoder's stream: hold the
         * track until the new source's next keyframe, and ask for one. */
        t->wait_kf = true;
        rt_keyframe_request(r, src, false, rt_now(r));
    }
    return 0;
}

/* ---- statistics ---- */

void hc_leg_stats(const hc_leg_t *leg, hc_leg_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->rx_packets = leg->rx_packets;
    out->rx_bytes = leg->rx_bytes;
    out->tx_packets = leg->tx_packets;
    out->tx_bytes = leg->tx_bytes;
    out->auth_fail = leg->auth_fail;
    out->replay = leg->replay;
    out->rebinds = leg->rebinds;
    out->last_rx_us = leg->last_rx_us;
    out->active = leg->active;
    if (leg->bwe) {
        hc_bwe_state_t st;
        hc_bwe_state(leg->bwe->bwe, &st);
        out->estimate_bps = st.target_bps;
        out->acked_bps = st.acked_bps;
        out->qdelay_ms = st.qdelay_us / 1000u;
        out->est_loss = st.loss;
        out->probes = st.probes;
    }
}

void hc_instream_stats(const hc_instream_t *s, hc_instream_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->packets = s->packets;
    out->bytes = s->bytes;
    hc_rxstats_report_t rep;
    if (hc_rxstats_peek(&s->rx, &rep) == 0) {
        out->lost = rep.cumulative_lost > 0 ? (uint64_t)rep.cumulative_lost : 0;
        out->jitter_ms = (double)rep.jitter * 1000.0 / s->clock_rate;
    }
    out->loss = s->loss;
    out->nacks_sent = s->nacks_sent;
    out->recovered = s->recovered;
    out->plis_sent = s->plis_sent;
    out->firs_sent = s->firs_sent;
    out->keyframes = s->keyframes;
    out->bitrate_bps = rt_rate_now(&s->rate, rt_now(s->leg->r));
    out->rtt_ms = s->leg->rtt_us / 1000.0;
    out->fec_rx = s->fec_rx;
    out->recovered_fec = s->recovered_fec;
    out->fec_dropped = s->fec_bad + (s->fec ? s->fec->dec.fec_dropped : 0);
}

void hc_track_stats(const hc_track_t *t, hc_track_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    out->packets = t->packets;
    out->bytes = t->bytes;
    out->nacks_received = t->nacks_received;
    out->rtx_sent = t->rtx_sent;
    out->rtx_missed = t->rtx_missed;
    out->plis_received = t->plis_received;
    out->firs_received = t->firs_received;
    out->switches = t->switches;
    out->dropped_wait_keyframe = t->dropped_wait_kf;
    out->loss = t->loss;
    out->jitter_ms = t->jitter_ms;
    out->rtt_ms = t->rtt_ms;
    out->bitrate_bps = rt_rate_now(&t->rate, rt_now(t->leg->r));
    out->remb_bps = t->remb_bps;
    if (t->fec) {
        out->fec_k = t->fec->k;
        out->fec_sent = t->fec->sent;
        out->fec_bytes = t->fec->bytes;
        out->fec_loss = t->fec->loss;
    }
    out->layer = -1;
    out->layer_pending = -1;
    if (t->lay) {
        out->layer = t->lay->cur;
        out->layer_pending = t->lay->pend;
        out->layers = t->lay->n;
        out->layer_ups = t->lay->ups;
        out->layer_downs = t->lay->downs;
        out->layer_failed_ups = t->lay->failed_ups;
    }
    if (t->leg->bwe) out->leg_estimate_bps = hc_bwe_target_bps(t->leg->bwe->bwe);
}

void hc_router_counters(const hc_router_t *r, hc_router_counters_t *out)
{
    *out = r->c;
}
