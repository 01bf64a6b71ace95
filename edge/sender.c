/* sender.c - packetize, pace, estimate, allocate; see sender.h. */
#include "edge/sender.h"

#include "proto/err.h"
#include "proto/h264.h"
#include "proto/rtcp.h"
#include "proto/twcc.h"

#include <stdlib.h>
#include <string.h>

#define FB_MAX          16384   /* packets of one transport-wide feedback we take */
#define LINK_TIMEOUT_US 2000000 /* no RTCP for this long: the uplink is down */
#define AUDIO_PPS       50      /* 20 ms Opus */
#define KEY_MIN_US      500000  /* at most one keyframe request per stream per this */
#define PAD_MAX_PKTS    8       /* packets one padding slot of the pacer may take */
#define PAD_MIN_BYTES   100     /* below this a padding slot is not worth another packet */

typedef struct spkt {
    uint8_t data[HC_SENDER_MAX_PAYLOAD];
    uint16_t len;
    int8_t stream;
    uint8_t pt;
    bool marker, has_level, voice, key;
    uint8_t level;
    uint32_t ts;
    uint64_t wall;
    uint32_t next_free;
} spkt_t;

typedef struct sstream {
    hc_sender_stream_cfg_t cfg;
    hc_ladder_t ladder;
    hc_ladder_out_t lout;
    hc_alloc_stream_t alloc;
    hc_sender_target_t tgt;
    hc_sender_stream_stats_t st;
    bool have_rr;
    uint32_t rr_highest;
    uint64_t last_key_us;
    bool key_armed;
    int nlower; /* simulcast: lower layers of this stream */
} sstream_t;

struct hc_sender {
    hc_sender_cfg_t cfg;
    hc_bwe_t *bwe;
    hc_bwe_cfg_t bwe_cfg;
    hc_pacer_t *pacer;
    spkt_t *pool;
    size_t npool;
    uint32_t free_head; /* index + 1, 0 = empty */
    size_t nfree;
    sstream_t st[HC_SENDER_MAX_STREAMS];
    int n;
    hc_repair_t repair;
    hc_repair_out_t rep;
    uint64_t now, next_tick;
    uint64_t last_rtcp_us;
    bool have_rtcp, link_up, was_up;
    uint32_t rtt_us;
    double rr_loss, rr_jitter_ms;
    uint32_t last_alloc_bps;
    bool flushing;
    uint64_t feedbacks, rtcp, padding_sent, padding_refused, probes;
    hc_twcc_pkt_t *fb;
};

void hc_sender_cfg_default(hc_sender_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->profile = HC_PROFILE_CLASS;
    cfg->min_bps = 100000;
    cfg->start_bps = 600000;
    cfg->max_bps = 4000000;
    cfg->playout_budget_ms = 300;
    cfg->repair = true;
}

/* ---- packet pool ---- */

static spkt_t *pkt_get(hc_sender_t *s)
{
    if (!s->free_head) return NULL;
    spkt_t *p = &s->pool[s->free_head - 1];
    s->free_head = p->next_free;
    s->nfree--;
    return p;
}

static void pkt_put(hc_sender_t *s, spkt_t *p)
{
    p->next_free = s->free_head;
    s->free_head = (uint32_t)(p - s->pool) + 1;
    s->nfree++;
}

static void want_key(hc_sender_t *s, sstream_t *ss, bool force)
{
    if (!ss->cfg.video) return;
    if (!force && ss->key_armed && s->now < ss->last_key_us + KEY_MIN_US) return;
    ss->tgt.keyframe_gen++;
    ss->last_key_us = s->now;
    ss->key_armed = true;
}

static void on_drop(void *ctx, const hc_pacer_pkt_t *pk)
{
    hc_sender_t *s = ctx;
    if (!pk->ref) return;
    spkt_t *p = &s->pool[pk->ref - 1];
    if (!s->flushing && p->stream >= 0 && p->stream < s->n) {
        sstream_t *ss = &s->st[p->stream];
        ss->st.dropped_pacer++;
        /* The receiver cannot decode past a hole the pacer made. */
        want_key(s, ss, false);
    }
    pkt_put(s, p);
}

static int make_pacer(hc_sender_t *s)
{
    hc_pacer_cfg_t pc = {0};
    pc.capacity = s->npool;
    pc.on_drop = on_drop;
    pc.ctx = s;
    return hc_pacer_new(&s->pacer, &pc);
}

static int make_bwe(hc_sender_t *s, uint32_t start_bps, uint64_t now_us)
{
    hc_bwe_cfg_t c = s->bwe_cfg;
    if (start_bps) {
        if (start_bps < c.min_bps) start_bps = c.min_bps;
        if (start_bps > c.max_bps) start_bps = c.max_bps;
        c.start_bps = start_bps;
    }
    return hc_bwe_new(&s->bwe, &c, now_us);
}

int hc_sender_new(hc_sender_t **out, const hc_sender_cfg_t *cfg, uint64_t now_us)
{
    if (!out || !cfg || !cfg->io.send) return -HC_EINVAL;
    *out = NULL;
    hc_sender_t *s = calloc(1, sizeof *s);
    if (!s) return -HC_ENOMEM;
    s->cfg = *cfg;
    if (!s->cfg.playout_budget_ms) s->cfg.playout_budget_ms = 300;
    s->npool = cfg->pool ? cfg->pool : 2048;
    s->pool = calloc(s->npool, sizeof *s->pool);
    s->fb = calloc(FB_MAX, sizeof *s->fb);
    if (!s->pool || !s->fb) goto nomem;
    for (size_t i = s->npool; i-- > 0;) pkt_put(s, &s->pool[i]);
    hc_bwe_cfg_default(&s->bwe_cfg);
    if (cfg->min_bps) s->bwe_cfg.min_bps = cfg->min_bps;
    if (cfg->max_bps) s->bwe_cfg.max_bps = cfg->max_bps;
    if (cfg->start_bps) s->bwe_cfg.start_bps = cfg->start_bps;
    int rc = make_bwe(s, 0, now_us);
    if (rc < 0) {
        free(s->pool);
        free(s->fb);
        free(s);
        return rc;
    }
    if (make_pacer(s) < 0) goto nomem;
    hc_repair_init(&s->repair);
    s->now = now_us;
    s->next_tick = now_us;
    *out = s;
    return 0;
nomem:
    hc_bwe_destroy(&s->bwe);
    free(s->pool);
    free(s->fb);
    free(s);
    return -HC_ENOMEM;
}

void hc_sender_destroy(hc_sender_t **ps)
{
    if (!ps || !*ps) return;
    hc_sender_t *s = *ps;
    s->flushing = true;
    hc_pacer_destroy(&s->pacer);
    hc_bwe_destroy(&s->bwe);
    free(s->pool);
    free(s->fb);
    free(s);
    *ps = NULL;
}

/* ---- ladders ---- */

void hc_sender_ladder_cfg(hc_profile_t profile, hc_stream_role_t role, int width, int height,
                          int fps, hc_ladder_cfg_t *out)
{
    hc_ladder_mode_t mode = HC_LADDER_BALANCED;
    if (role == HC_ROLE_DIAG)
        mode = HC_LADDER_FPS_FIRST;
    else if (role == HC_ROLE_MAIN && profile == HC_PROFILE_CLASS)
        mode = HC_LADDER_RES_FIRST;
    hc_ladder_cfg_t def;
    hc_ladder_cfg_default(&def, HC_LADDER_RES_FIRST);
    hc_ladder_cfg_default(out, mode);
    if (fps <= 0) fps = 30;
    if (fps > 60) fps = 60;
    uint64_t px = (uint64_t)width * (uint64_t)height;
    if (mode == HC_LADDER_FPS_FIRST) {
        /* The diagnostic picture keeps its resolution; rates from 720p's,
         * scaled by pixels. */
        double r = (double)px / (1280.0 * 720.0);
        out->nres = 1;
        out->res[0] = (hc_ladder_res_t){(uint16_t)width, (uint16_t)height, (uint32_t)(1200000 * r),
                                        (uint32_t)(2500000 * r)};
        if (out->res[0].min_bps < 60000) out->res[0].min_bps = 60000;
        if (out->res[0].max_bps < 2 * out->res[0].min_bps)
            out->res[0].max_bps = 2 * out->res[0].min_bps;
        if (px < 1280u * 720u) out->floor_bps = 0;
    } else {
        out->nres = 0;
        for (unsigned i = 0; i < def.nres; i++)
            if (def.res[i].width <= width && def.res[i].height <= height)
                out->res[out->nres++] = def.res[i];
        if (!out->nres) {
            /* Smaller than every default rung: one rung at its own size. */
            double r = (double)px / (320.0 * 180.0);
            uint32_t mn = (uint32_t)(120000 * r), mx = (uint32_t)(300000 * r);
            if (mn < 30000) mn = 30000;
            if (mx < 2 * mn) mx = 2 * mn;
            out->res[0] = (hc_ladder_res_t){(uint16_t)width, (uint16_t)height, mn, mx};
            out->nres = 1;
        }
    }
    static const uint8_t lower[] = {30, 15, 10, 5};
    out->nfps = 0;
    out->fps[out->nfps++] = (uint8_t)fps;
    for (size_t i = 0; i < sizeof lower && out->nfps < HC_LADDER_MAX_FPS; i++)
        if (lower[i] < fps) out->fps[out->nfps++] = lower[i];
}

static void alloc_params(sstream_t *ss)
{
    hc_alloc_stream_t *a = &ss->alloc;
    a->role = ss->cfg.role;
    if (!ss->cfg.video) {
        a->floor_bps = 24000;
        a->want_bps = 32000;
        a->max_bps = ss->cfg.max_bps && ss->cfg.max_bps >= 32000 ? ss->cfg.max_bps : 64000;
        return;
    }
    const hc_ladder_t *l = &ss->ladder;
    uint32_t floor = 0;
    for (unsigned i = 0; i < l->nsteps; i++)
        if (!l->step[i].stills && !l->step[i].off) floor = l->step[i].min_bps;
    if (l->cfg.floor != HC_LADDER_HOLD && l->cfg.floor_bps && l->cfg.floor_bps < floor)
        floor = l->cfg.floor_bps;
    a->floor_bps = floor;
    a->want_bps = l->step[0].min_bps;
    a->max_bps = l->step[0].max_bps;
    if (ss->cfg.max_bps && ss->cfg.max_bps < a->max_bps) a->max_bps = ss->cfg.max_bps;
    if (a->max_bps < a->want_bps) a->want_bps = a->max_bps;
    if (a->want_bps < a->floor_bps) a->floor_bps = a->want_bps;
}

/* ---- simulcast ---- */

/* The top layer of a simulcast group keeps only its rungs larger than its
 * layer 1 (below, the lower layer already carries that picture) and at
 * 15 fps or more, and stops below the last of them (OFF): what it would
 * send there is what the lower layers send. */
static int trim_top(hc_sender_t *s, sstream_t *top, int lower_w, int lower_h)
{
    hc_ladder_cfg_t lc;
    hc_sender_ladder_cfg(s->cfg.profile, top->cfg.role, top->cfg.width, top->cfg.height,
                         top->cfg.fps, &lc);
    unsigned n = 0;
    for (unsigned i = 0; i < lc.nres; i++)
        if (lc.res[i].width > lower_w && lc.res[i].height > lower_h) lc.res[n++] = lc.res[i];
    lc.nres = n ? n : 1;
    unsigned nf = 1;
    for (unsigned i = 1; i < lc.nfps; i++)
        if (lc.fps[i] >= 15) lc.fps[nf++] = lc.fps[i];
    lc.nfps = nf;
    lc.floor = HC_LADDER_OFF;
    lc.floor_bps = 0;
    /* The lower layers' rates come off the estimate first, so its short
     * dips land whole on the top's share: the top steps down only after
     * down_hold (its rate follows the estimate meanwhile), never at once. */
    lc.sharp_pct = 0;
    hc_ladder_t l;
    if (hc_ladder_init(&l, &lc) < 0) return -HC_EINVAL;
    top->ladder = l;
    alloc_params(top);
    return 0;
}

/* Lower layers first: audio's floor is kept for the audio, then each layer,
 * the lowest first, takes its fixed rate. A layer sending keeps going down
 * to half its rate; a stopped one starts again only at its full rate. The
 * rest is returned. */
static double allocate_layers(hc_sender_t *s, double avail, uint32_t *share)
{
    double pool = avail;
    for (int i = 0; i < s->n; i++)
        if (!s->st[i].cfg.video) pool -= s->st[i].alloc.floor_bps;
    if (pool < 0) pool = 0;
    double rest = avail;
    for (int layer = 3; layer >= 1; layer--) {
        for (int i = 0; i < s->n; i++) {
            sstream_t *ss = &s->st[i];
            if (ss->cfg.layer != layer) continue;
            double want = ss->cfg.max_bps;
            double keep = ss->tgt.off ? want * 3 / 4 : want / 2;
            double give = pool >= want ? want : (pool >= keep ? pool : 0);
            share[i] = (uint32_t)give;
            pool -= give;
            rest -= give;
        }
    }
    return rest < 0 ? 0 : rest;
}

/* ---- allocation ---- */

static uint32_t capped_target(const hc_sender_t *s)
{
    uint32_t t = hc_bwe_target_bps(s->bwe);
    if (s->cfg.budget_bps && t > s->cfg.budget_bps) t = s->cfg.budget_bps;
    return t;
}

static void update_repair(hc_sender_t *s, uint32_t target)
{
    hc_bwe_state_t bs;
    hc_bwe_state(s->bwe, &bs);
    hc_repair_in_t in = {0};
    in.loss = bs.feedbacks ? bs.loss : s->rr_loss;
    if (s->rr_loss > in.loss && !bs.feedbacks) in.loss = s->rr_loss;
    if (in.loss < 0 || in.loss != in.loss) in.loss = 0;
    if (in.loss > 1) in.loss = 1;
    in.burst_len = 1;
    in.rtt_us = s->rtt_us ? s->rtt_us : (bs.rtt_us ? bs.rtt_us : 100000);
    in.jitter_us = (uint32_t)(s->rr_jitter_ms * 1000.0);
    in.budget_us = s->cfg.playout_budget_ms * 1000u;
    in.rate_bps = target;
    /* The relay's listeners' downlinks are out of sight here: audio always
     * carries RED and Opus FEC (repair.h, audio_floor). */
    in.audio_floor = true;
    hc_repair_out_t o;
    if (hc_repair_update(&s->repair, &in, s->now, &o) == 0) s->rep = o;
    if (!s->cfg.repair) {
        memset(&s->rep, 0, sizeof s->rep);
        s->rep.nack = false;
    }
}

/* A video stream's ladder is at its stills rung (as of its last update). */
static bool sends_stills(const hc_sender_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->st[i].cfg.video && s->st[i].lout.stills) return true;
    return false;
}

static void allocate(hc_sender_t *s)
{
    uint32_t target = capped_target(s);
    s->last_alloc_bps = target;
    hc_pacer_set_rate(s->pacer, target);
    update_repair(s, target);
    int naudio = 0;
    for (int i = 0; i < s->n; i++)
        if (!s->st[i].cfg.video) naudio++;
    /* Packet overhead is on the wire but not in the encoders' rates. */
    double avail = target * 0.94 - naudio * (double)AUDIO_PPS * HC_SENDER_OVERHEAD * 8;
    if (avail < 0) avail = 0;
    hc_alloc_stream_t a[HC_SENDER_MAX_STREAMS];
    uint32_t share[HC_SENDER_MAX_STREAMS] = {0}, sh[HC_SENDER_MAX_STREAMS] = {0};
    int map[HC_SENDER_MAX_STREAMS], na = 0;
    /* Simulcast's lower layers first; the profile splits the rest among
     * the other streams (without layers: all of it, as always). */
    avail = allocate_layers(s, avail, share);
    for (int i = 0; i < s->n; i++) {
        if (s->st[i].cfg.layer) continue;
        a[na] = s->st[i].alloc;
        if (!s->st[i].cfg.video) { /* RED's copies come on top of the Opus rate */
            double f = 1.0 + 0.9 * s->rep.red_level;
            a[na].floor_bps = (uint32_t)(a[na].floor_bps * f);
            a[na].want_bps = (uint32_t)(a[na].want_bps * f);
            a[na].max_bps = (uint32_t)(a[na].max_bps * f);
        }
        map[na++] = i;
    }
    if (na && hc_ladder_allocate(s->cfg.profile, (uint32_t)avail, 0, a, (size_t)na, sh) < 0)
        for (int k = 0; k < na; k++) sh[k] = a[k].floor_bps;
    for (int k = 0; k < na; k++) share[map[k]] = sh[k];
    uint64_t q = hc_pacer_queue_delay_us(s->pacer, s->now);
    /* A growing queue means the encoders produce more than the pacer may
     * send: lower them before the estimator sees the delay. */
    double qf = q <= 100000 ? 1.0 : 1.0 - (double)(q - 100000) / 400000.0;
    if (qf < 0.5) qf = 0.5;
    /* A still waits in the queue by design (bulk pacing, see below). */
    if (sends_stills(s)) qf = 1.0;
    for (int i = 0; i < s->n; i++) {
        sstream_t *ss = &s->st[i];
        hc_sender_target_t *t = &ss->tgt;
        ss->st.share_bps = share[i];
        if (!ss->cfg.video) {
            /* RED repeats up to two older frames in every packet. */
            double b = share[i] / (1.0 + 0.9 * s->rep.red_level);
            if (b < 16000) b = 16000;
            if (b > ss->alloc.max_bps) b = ss->alloc.max_bps;
            t->bitrate_bps = (uint32_t)b / 1000u * 1000u;
            t->red_level = s->rep.red_level;
            t->opus_fec = s->rep.opus_fec;
            t->opus_loss_pct = s->rep.opus_loss_pct;
            continue;
        }
        if (ss->cfg.layer) {
            /* A lower layer: its one size and rate, or off. */
            bool off = share[i] == 0;
            if (off != t->off) {
                t->rung_gen++;
                if (off) {
                    ss->st.stops++;
                } else {
                    ss->st.resumes++;
                    want_key(s, ss, true);
                }
            }
            ss->alloc.active = !off;
            double b = share[i];
            t->fec_k = s->rep.fec ? s->rep.fec_k : 0;
            if (t->fec_k) b = b * t->fec_k / (t->fec_k + 1.0);
            b *= qf;
            t->bitrate_bps = off ? 0 : (uint32_t)b;
            t->width = ss->cfg.width;
            t->height = ss->cfg.height;
            t->fps = ss->cfg.fps > 0 ? ss->cfg.fps : 30;
            t->stills = false;
            t->still_interval_ms = 0;
            t->off = off;
            t->intra_refresh = s->rep.intra_refresh;
            continue;
        }
        hc_ladder_out_t o;
        if (hc_ladder_update(&ss->ladder, share[i], s->now, &o) < 0) continue;
        if (o.changed || o.width != ss->lout.width || o.fps != ss->lout.fps ||
            o.stills != ss->lout.stills || o.off != ss->lout.off)
            t->rung_gen++;
        if (o.off && !ss->lout.off) ss->st.stops++;
        if (!o.off && ss->lout.off) {
            ss->st.resumes++;
            /* A simulcast top layer starting again: receivers switched to
             * it need a picture they can decode from. */
            if (ss->nlower) want_key(s, ss, true);
        }
        ss->lout = o;
        ss->alloc.active = !o.off;
        double b = o.bitrate_bps;
        t->fec_k = s->rep.fec ? s->rep.fec_k : 0;
        if (t->fec_k) b = b * t->fec_k / (t->fec_k + 1.0);
        b *= qf;
        t->bitrate_bps = o.off ? 0 : (uint32_t)b;
        t->width = o.width;
        t->height = o.height;
        t->fps = o.fps;
        t->stills = o.stills;
        t->still_interval_ms = o.still_interval_ms;
        t->off = o.off;
        t->intra_refresh = s->rep.intra_refresh;
    }
    /* Stills are paced under the estimate and kept until they are sent. */
    bool bulk = sends_stills(s);
    hc_pacer_set_bulk(s->pacer, bulk);
    hc_bwe_set_bursty(s->bwe, bulk);
}

int hc_sender_add(hc_sender_t *s, const hc_sender_stream_cfg_t *cfg)
{
    if (!s || !cfg) return -HC_EINVAL;
    if (s->n >= HC_SENDER_MAX_STREAMS) return -HC_EFULL;
    sstream_t *ss = &s->st[s->n];
    sstream_t *top = NULL;
    if (cfg->layer) {
        if (cfg->layer < 0 || cfg->layer > 3 || !cfg->video || !cfg->max_bps || cfg->top < 0 ||
            cfg->top >= s->n)
            return -HC_EINVAL;
        top = &s->st[cfg->top];
        if (!top->cfg.video || top->cfg.layer || cfg->width >= top->cfg.width ||
            cfg->height >= top->cfg.height)
            return -HC_EINVAL;
    }
    memset(ss, 0, sizeof *ss);
    ss->cfg = *cfg;
    if (!cfg->layer) ss->cfg.top = 0;
    if (cfg->video) {
        if (cfg->width < 16 || cfg->height < 16) return -HC_EINVAL;
        hc_ladder_cfg_t lc;
        hc_sender_ladder_cfg(s->cfg.profile, cfg->role, cfg->width, cfg->height, cfg->fps, &lc);
        if (hc_ladder_init(&ss->ladder, &lc) < 0) return -HC_EINVAL;
    }
    alloc_params(ss);
    ss->alloc.active = true;
    if (top) {
        /* The top's rungs end above its largest lower layer. */
        int lw = 0, lh = 0;
        for (int i = 0; i < s->n; i++)
            if (s->st[i].cfg.layer && s->st[i].cfg.top == cfg->top && s->st[i].cfg.width > lw)
                lw = s->st[i].cfg.width, lh = s->st[i].cfg.height;
        if (cfg->width > lw) lw = cfg->width, lh = cfg->height;
        if (trim_top(s, top, lw, lh) < 0) return -HC_EINVAL;
        top->nlower++;
    }
    s->n++;
    allocate(s);
    return s->n - 1;
}

void hc_sender_set_ssrc(hc_sender_t *s, int idx, uint32_t ssrc)
{
    if (idx >= 0 && idx < s->n) {
        s->st[idx].cfg.ssrc = ssrc;
        s->st[idx].have_rr = false;
    }
}

/* ---- queueing ---- */

static int queue(hc_sender_t *s, spkt_t *p, hc_pacer_kind_t kind)
{
    hc_pacer_pkt_t pk = {.ref = (uint64_t)(p - s->pool) + 1,
                         .bytes = (uint32_t)p->len + HC_SENDER_OVERHEAD,
                         .kind = (uint8_t)kind};
    int rc = hc_pacer_push(s->pacer, &pk, s->now);
    if (rc < 0) pkt_put(s, p);
    return rc;
}

int hc_sender_video(hc_sender_t *s, int idx, const uint8_t *au, size_t len, uint32_t ts,
                    bool keyframe, uint64_t capture_wall_us, uint64_t now_us)
{
    if (!s || idx < 0 || idx >= s->n || !s->st[idx].cfg.video || !au) return -HC_EINVAL;
    if (now_us > s->now) s->now = now_us;
    sstream_t *ss = &s->st[idx];
    hc_h264_pack_t pk;
    int rc = hc_h264_pack_init(&pk, au, len, HC_SENDER_VIDEO_MTU);
    if (rc < 0) return rc;
    /* Take every buffer first, so a frame is queued whole or not at all. */
    spkt_t *first = NULL, *last = NULL;
    int n = 0;
    for (;;) {
        spkt_t *p = pkt_get(s);
        if (!p) {
            while (first) {
                spkt_t *nx = first == last ? NULL : &s->pool[first->next_free];
                pkt_put(s, first);
                first = nx;
            }
            ss->st.dropped_full++;
            want_key(s, ss, true);
            return -HC_EFULL;
        }
        bool marker = false;
        rc = hc_h264_pack_next(&pk, p->data, sizeof p->data, &marker);
        if (rc <= 0) {
            pkt_put(s, p);
            break;
        }
        p->len = (uint16_t)rc;
        p->stream = (int8_t)idx;
        p->pt = ss->cfg.pt;
        p->marker = marker;
        p->key = keyframe;
        p->has_level = false;
        p->ts = ts;
        p->wall = capture_wall_us;
        /* chain through next_free while the frame is being built */
        if (last) last->next_free = (uint32_t)(p - s->pool);
        if (!first) first = p;
        last = p;
        n++;
    }
    ss->st.frames++;
    if (keyframe) {
        ss->st.keyframes++;
        ss->key_armed = false;
    }
    for (spkt_t *p = first; p;) {
        spkt_t *nx = p == last ? NULL : &s->pool[p->next_free];
        ss->st.packets++;
        ss->st.bytes += p->len;
        if (queue(s, p, HC_PACER_VIDEO) < 0) {
            ss->st.dropped_full++;
            want_key(s, ss, false);
        }
        p = nx;
    }
    return n;
}

int hc_sender_audio(hc_sender_t *s, int idx, const uint8_t *payload, size_t len, uint32_t ts,
                    uint8_t pt, uint8_t level, bool voice, uint64_t capture_wall_us,
                    uint64_t now_us)
{
    if (!s || idx < 0 || idx >= s->n || s->st[idx].cfg.video || !payload || !len ||
        len > HC_SENDER_MAX_PAYLOAD)
        return -HC_EINVAL;
    if (now_us > s->now) s->now = now_us;
    sstream_t *ss = &s->st[idx];
    spkt_t *p = pkt_get(s);
    if (!p) {
        ss->st.dropped_full++;
        return -HC_EFULL;
    }
    memcpy(p->data, payload, len);
    p->len = (uint16_t)len;
    p->stream = (int8_t)idx;
    p->pt = pt;
    p->marker = false;
    p->key = false;
    p->has_level = true;
    p->level = level;
    p->voice = voice;
    p->ts = ts;
    p->wall = capture_wall_us;
    ss->st.frames++;
    ss->st.packets++;
    ss->st.bytes += len;
    int rc = queue(s, p, HC_PACER_AUDIO);
    if (rc < 0) ss->st.dropped_full++;
    return rc < 0 ? rc : 1;
}

/* ---- feedback ---- */

static sstream_t *stream_by_ssrc(hc_sender_t *s, uint32_t ssrc)
{
    for (int i = 0; i < s->n; i++)
        if (s->st[i].cfg.ssrc == ssrc) return &s->st[i];
    return NULL;
}

static void on_block(hc_sender_t *s, const hc_rtcp_rb_t *rb)
{
    sstream_t *ss = stream_by_ssrc(s, rb->ssrc);
    if (!ss) return;
    double frac = rb->fraction_lost / 256.0;
    s->rr_loss = s->rr_loss * 0.7 + frac * 0.3;
    double clock = ss->cfg.video ? 90000.0 : 48000.0;
    double jit = rb->jitter * 1000.0 / clock;
    if (ss->cfg.video || s->rr_jitter_ms == 0) s->rr_jitter_ms = s->rr_jitter_ms * 0.7 + jit * 0.3;
    uint32_t packets = 0;
    if (ss->have_rr && rb->ext_highest_seq - ss->rr_highest < 0x80000000u)
        packets = rb->ext_highest_seq - ss->rr_highest;
    ss->rr_highest = rb->ext_highest_seq;
    ss->have_rr = true;
    hc_bwe_on_rr_loss(s->bwe, rb->fraction_lost, packets, s->now);
}

void hc_sender_on_rtcp(hc_sender_t *s, const uint8_t *rtcp, size_t len, uint64_t now_us)
{
    if (!s || !rtcp) return;
    if (now_us > s->now) s->now = now_us;
    s->rtcp++;
    s->last_rtcp_us = s->now;
    s->have_rtcp = true;
    hc_rtcp_iter_t it;
    hc_rtcp_pkt_t pk;
    hc_rtcp_iter_init(&it, rtcp, len);
    while (hc_rtcp_next(&it, &pk) == 1) {
        if (pk.kind == HC_RTCP_KIND_TWCC) {
            hc_twcc_fb_t hdr;
            size_t n = 0;
            if (hc_twcc_parse(pk.u.fb.fci, pk.u.fb.fci_len, &hdr, s->fb, FB_MAX, &n) >= 0) {
                hc_bwe_on_feedback(s->bwe, &hdr, s->fb, n, s->now);
                s->feedbacks++;
            }
        } else if (pk.kind == HC_RTCP_KIND_SR || pk.kind == HC_RTCP_KIND_RR) {
            for (size_t i = 0; i < pk.u.report.rb_count; i++) {
                hc_rtcp_rb_t rb;
                if (hc_rtcp_report_block(&pk, i, &rb) == 0) on_block(s, &rb);
            }
        }
    }
    /* The encoders follow a falling estimate at once, not at the tick. */
    uint32_t t = capped_target(s);
    if (t < s->last_alloc_bps * 9 / 10) allocate(s);
}

void hc_sender_note_sent(hc_sender_t *s, uint16_t twcc, uint32_t wire, bool probe, uint64_t now_us)
{
    if (!s) return;
    if (now_us > s->now) s->now = now_us;
    hc_bwe_on_sent(s->bwe, twcc, wire, s->now, probe);
}

void hc_sender_set_rtt(hc_sender_t *s, uint32_t rtt_us)
{
    if (!rtt_us) return;
    s->rtt_us = rtt_us;
    hc_bwe_on_rtt(s->bwe, rtt_us);
}

void hc_sender_set_budget(hc_sender_t *s, uint32_t bps)
{
    s->cfg.budget_bps = bps;
    allocate(s);
}

/* ---- running ---- */

static void tick(hc_sender_t *s)
{
    hc_bwe_tick(s->bwe, s->now);
    bool up = s->have_rtcp && s->now < s->last_rtcp_us + LINK_TIMEOUT_US;
    if (up && !s->link_up && s->was_up) {
        /* The link came back: every receiver needs a fresh picture. */
        for (int i = 0; i < s->n; i++) want_key(s, &s->st[i], true);
    }
    if (up) s->was_up = true;
    s->link_up = up;
    uint32_t rate;
    if (hc_bwe_probe_wanted(s->bwe, s->now, &rate) && !hc_pacer_probing(s->pacer)) {
        uint32_t bytes = (uint32_t)((uint64_t)rate * HC_BWE_PROBE_US / 8000000u);
        if (bytes < 1200u * HC_BWE_PROBE_MIN_PKTS) bytes = 1200u * HC_BWE_PROBE_MIN_PKTS;
        if (hc_pacer_probe(s->pacer, rate, bytes, HC_BWE_PROBE_MIN_PKTS, s->now) == 0) s->probes++;
    }
    allocate(s);
}

static void send_one(hc_sender_t *s, const hc_pacer_pkt_t *pk)
{
    hc_sender_out_t o;
    memset(&o, 0, sizeof o);
    o.probe = pk->probe;
    int32_t twcc = -1;
    uint32_t wire = 0;
    if (pk->kind == HC_PACER_PADDING || !pk->ref) {
        /* A padding slot of the pacer: the io may send less than asked (an
         * RFC 3550 padding-only packet holds at most 255 octets), so it is
         * asked again for the rest, and the probe cluster gets the bytes
         * its rate was planned with. */
        o.stream = -1;
        o.padding = true;
        uint32_t left = pk->bytes;
        for (int k = 0; k < PAD_MAX_PKTS && left >= PAD_MIN_BYTES; k++) {
            o.len = left;
            twcc = -1;
            wire = 0;
            if (s->cfg.io.send(s->cfg.io.ud, &o, s->now, &twcc, &wire) < 0) {
                if (k == 0) s->padding_refused++;
                return;
            }
            s->padding_sent++;
            if (!wire) wire = left;
            if (twcc >= 0) hc_bwe_on_sent(s->bwe, (uint16_t)twcc, wire, s->now, pk->probe);
            if (wire >= left) break;
            left -= wire;
        }
        return;
    }
    spkt_t *p = &s->pool[pk->ref - 1];
    o.stream = p->stream;
    o.payload = p->data;
    o.len = p->len;
    o.ts = p->ts;
    o.marker = p->marker;
    o.keyframe = p->key;
    o.pt = p->pt;
    o.capture_wall_us = p->wall;
    o.has_level = p->has_level;
    o.voice = p->voice;
    o.level = p->level;
    int rc = s->cfg.io.send(s->cfg.io.ud, &o, s->now, &twcc, &wire);
    if (rc == 0) {
        sstream_t *ss = &s->st[p->stream];
        ss->st.sent_packets++;
        if (!wire) wire = (uint32_t)p->len + HC_SENDER_OVERHEAD;
        ss->st.sent_bytes += wire;
        if (twcc >= 0) hc_bwe_on_sent(s->bwe, (uint16_t)twcc, wire, s->now, pk->probe);
    }
    pkt_put(s, p);
}

uint64_t hc_sender_poll(hc_sender_t *s, uint64_t now_us)
{
    if (now_us > s->now) s->now = now_us;
    if (s->now >= s->next_tick) {
        tick(s);
        s->next_tick = s->now + HC_SENDER_TICK_US;
    }
    uint64_t wait = UINT64_MAX;
    hc_pacer_pkt_t pk;
    for (int guard = 0; guard < 4096; guard++) {
        int rc = hc_pacer_next(s->pacer, s->now, &pk, &wait);
        if (rc != 1) break;
        send_one(s, &pk);
    }
    uint64_t next = s->next_tick;
    if (wait != UINT64_MAX && s->now + wait < next) next = s->now + wait;
    return next;
}

void hc_sender_flush(hc_sender_t *s, bool reset_bwe, uint64_t now_us)
{
    if (now_us > s->now) s->now = now_us;
    uint32_t target = hc_bwe_target_bps(s->bwe);
    s->flushing = true;
    hc_pacer_destroy(&s->pacer);
    s->flushing = false;
    (void)make_pacer(s);
    if (reset_bwe) {
        hc_bwe_t *old = s->bwe;
        s->bwe = NULL;
        if (make_bwe(s, target, s->now) < 0)
            s->bwe = old;
        else
            hc_bwe_destroy(&old);
    }
    for (int i = 0; i < s->n; i++) want_key(s, &s->st[i], true);
    allocate(s);
}

void hc_sender_target(const hc_sender_t *s, int idx, hc_sender_target_t *out)
{
    if (idx < 0 || idx >= s->n) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->st[idx].tgt;
}

void hc_sender_want_keyframe(hc_sender_t *s, int idx)
{
    /* Every still is a keyframe already; asking for more would only send
     * the next one before the link has carried the last. */
    if (idx >= 0 && idx < s->n && !s->st[idx].lout.stills) want_key(s, &s->st[idx], true);
}

void hc_sender_stats(const hc_sender_t *s, hc_sender_stats_t *out, uint64_t now_us)
{
    memset(out, 0, sizeof *out);
    hc_bwe_state(s->bwe, &out->bwe);
    out->target_bps = capped_target(s);
    out->queue_us = hc_pacer_queue_delay_us(s->pacer, now_us > s->now ? now_us : s->now);
    out->rr_loss = s->rr_loss;
    out->rr_jitter_ms = s->rr_jitter_ms;
    out->rtt_us = s->rtt_us;
    out->link_up = s->have_rtcp && now_us < s->last_rtcp_us + LINK_TIMEOUT_US;
    out->feedbacks = s->feedbacks;
    out->rtcp = s->rtcp;
    out->padding_sent = s->padding_sent;
    out->padding_refused = s->padding_refused;
    out->probes = s->probes;
    out->repair = s->rep;
}

void hc_sender_stream_stats(const hc_sender_t *s, int idx, hc_sender_stream_stats_t *out)
{
    if (idx < 0 || idx >= s->n) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = s->st[idx].st;
}
