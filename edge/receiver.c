/* receiver.c - jitter buffer, depacketizer and decoder thread of one
 * received track; see receiver.h. */
#include "edge/receiver.h"

#include "edge/vdec.h"
#include "proto/err.h"
#include "proto/h264.h"
#include "proto/red.h"
#include "relay/core/clock.h"

#include <opus.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STORE_PAYLOAD 1500
#define QUEUE_LEN     32
#define DELAY_SAMPLES 512
#define MAX_AU        (1u << 20)
#define AUDIO_RING    32   /* recent audio packets held, by sequence number */
#define PCM_MAX       5760 /* 120 ms at 48 kHz: the longest Opus packet */

typedef struct rpkt {
    uint8_t data[STORE_PAYLOAD];
    uint16_t len;
    uint64_t wall;
    uint32_t next_free;
} rpkt_t;

/* WORK_FEC: a lost audio frame, rebuilt from the in-band FEC of the next
 * packet (data). */
typedef enum { WORK_VIDEO, WORK_AUDIO, WORK_CONCEAL, WORK_FEC } work_kind_t;

/* An audio packet the jitter buffer holds (its store entry stays put
 * until the buffer hands it back). */
typedef struct aheld {
    uint16_t seq;
    bool valid;
    uint32_t ref;
} aheld_t;

typedef struct work {
    work_kind_t kind;
    uint8_t *data; /* malloc'd: an AU or an Opus packet */
    size_t len;
    uint64_t pts_us;
    uint64_t capture_wall_us;
} work_t;

struct hc_receiver {
    hc_receiver_cfg_t cfg;
    hc_jbuf_t jb;
    hc_jbuf_slot_t *slots;
    size_t nslots;
    hc_jbuf_pkt_t *out;
    rpkt_t *store;
    size_t nstore;
    uint32_t free_head;
    /* video */
    uint64_t shown_capture_us; /* capture time of the newest picture shown (decoder thread) */
    hc_h264_depack_t dp;
    uint8_t *aubuf;
    bool have_next, seen_key;
    uint16_t next_seq;
    /* audio: packets held in the jitter buffer, for in-band FEC */
    aheld_t aheld[AUDIO_RING];
    /* decoder side */
    hc_vdec_t *vdec;
    OpusDecoder *adec;
    int16_t pcm[PCM_MAX];
    int frame_samples; /* of the last decoded packet: what a lost frame lasts */
    bool have_audio;
    /* queue to the decoder thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    bool running, stop;
    work_t q[QUEUE_LEN];
    unsigned qh, qt;
    /* PLI */
    uint32_t rtt_us;
    uint64_t last_pli_us;
    bool decoder_wants_key;
    /* stats (mu) */
    hc_receiver_stats_t st;
    double delay[DELAY_SAMPLES];
    unsigned ndelay;
};

void hc_receiver_cfg_default(hc_receiver_cfg_t *cfg, bool video)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->video = video;
    cfg->min_delay_ms = 40;
    cfg->max_delay_ms = 300;
    cfg->nack = true;
    cfg->thread = true;
    cfg->opus_pt = 111;
    cfg->red_pt = HC_RECEIVER_PT_RED;
}

/* ---- packet store ---- */

static rpkt_t *store_get(hc_receiver_t *r)
{
    if (!r->free_head) return NULL;
    rpkt_t *p = &r->store[r->free_head - 1];
    r->free_head = p->next_free;
    return p;
}

static void store_put(hc_receiver_t *r, uintptr_t ref)
{
    rpkt_t *p = &r->store[ref];
    p->next_free = r->free_head;
    r->free_head = (uint32_t)ref + 1;
}

/* ---- decoding (decoder thread, or inline) ---- */

static void add_delay(hc_receiver_t *r, uint64_t capture_wall_us)
{
    if (!capture_wall_us) return;
    uint64_t now = hc_wall_us();
    double d = now > capture_wall_us ? (double)(now - capture_wall_us) / 1000.0 : 0.0;
    pthread_mutex_lock(&r->mu);
    r->delay[r->ndelay++ % DELAY_SAMPLES] = d;
    pthread_mutex_unlock(&r->mu);
}

static void decode_video(hc_receiver_t *r, const work_t *w)
{
    hc_vdec_pic_t pic;
    int rc = hc_vdec_decode(r->vdec, w->data, w->len, &pic);
    pthread_mutex_lock(&r->mu);
    if (rc < 0) {
        r->st.decode_errors++;
        r->decoder_wants_key = true;
    } else if (rc == 1) {
        r->st.decoded++;
        r->st.width = pic.width;
        r->st.height = pic.height;
    }
    pthread_mutex_unlock(&r->mu);
    if (rc == 1 && w->capture_wall_us && w->capture_wall_us <= r->shown_capture_us &&
        w->capture_wall_us + 1000000 > r->shown_capture_us) {
        /* After a layer switch the new layer's keyframe may be a picture
         * the old layer already showed, or an older one: the decoder needs
         * it, the screen must not go back in time. (More than a second
         * back is the sender's clock being set: shown, and followed.) */
        pthread_mutex_lock(&r->mu);
        r->st.stale_skipped++;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    if (rc == 1) {
        if (w->capture_wall_us) r->shown_capture_us = w->capture_wall_us;
        add_delay(r, w->capture_wall_us);
        if (r->cfg.sink.video)
            r->cfg.sink.video(r->cfg.sink.ud, pic.plane, pic.stride, pic.width, pic.height,
                              w->pts_us);
    }
}

/* Whether an Opus packet carries LBRR (in-band FEC) data for the frame
 * before it. RFC 6716 4.2.3-4.2.4: a SILK or hybrid frame (TOC config
 * below 16) begins with the VAD flags of its 20 ms SILK frames and then
 * the LBRR flag, each a range-coded bit of probability 1/2, i.e. plain
 * leading bits of the first frame's first byte (mono). */
static bool opus_has_lbrr(const uint8_t *pkt, size_t len)
{
    if (len < 2 || (pkt[0] >> 3) >= 16) return false;
    const unsigned char *frames[48];
    opus_int16 size[48];
    if (opus_packet_parse(pkt, (opus_int32)len, NULL, frames, size, NULL) <= 0 || size[0] == 0)
        return false;
    int spf = opus_packet_get_samples_per_frame(pkt, 48000);
    int nb = spf > 960 ? spf / 960 : 1;
    return (frames[0][0] >> (7 - nb)) & 1;
}

static void decode_audio(hc_receiver_t *r, const work_t *w)
{
    /* Nothing to conceal before the first frame: the decoder has no state
     * to extend. */
    if (w->kind != WORK_AUDIO && !r->have_audio) return;
    int n;
    bool fec = false, plc = false;
    if (w->kind == WORK_AUDIO) {
        n = opus_decode(r->adec, w->data, (opus_int32)w->len, r->pcm, PCM_MAX, 0);
        if (n > 0) {
            r->have_audio = true;
            r->frame_samples = n;
        }
    } else {
        n = -1;
        if (w->kind == WORK_FEC) {
            /* RFC 6716 2.1.7: the next packet carries a lower-rate copy of
             * the lost frame (LBRR) when the sender coded it; asking for
             * exactly the lost frame's duration decodes that copy (or PLC
             * when there is none). */
            n = opus_decode(r->adec, w->data, (opus_int32)w->len, r->pcm, r->frame_samples, 1);
            fec = n > 0 && opus_has_lbrr(w->data, w->len);
            plc = n > 0 && !fec;
        }
        if (n <= 0) {
            n = opus_decode(r->adec, NULL, 0, r->pcm, r->frame_samples, 0);
            plc = n > 0;
        }
    }
    if (n > 0 && r->cfg.sink.audio) r->cfg.sink.audio(r->cfg.sink.ud, r->pcm, n, w->pts_us);
    pthread_mutex_lock(&r->mu);
    if (n < 0)
        r->st.decode_errors++;
    else if (n > 0)
        r->st.decoded++;
    if (fec) r->st.fec_recovered++;
    if (plc) r->st.concealed++;
    pthread_mutex_unlock(&r->mu);
    if (w->kind == WORK_AUDIO && n > 0) add_delay(r, w->capture_wall_us);
}

static void run_work(hc_receiver_t *r, work_t *w)
{
    if (w->kind == WORK_VIDEO)
        decode_video(r, w);
    else
        decode_audio(r, w);
    free(w->data);
    w->data = NULL;
}

static void *decoder_main(void *arg)
{
    hc_receiver_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && r->qh == r->qt) pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop) break;
        work_t w = r->q[r->qh++ % QUEUE_LEN];
        pthread_mutex_unlock(&r->mu);
        run_work(r, &w);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Hand a frame to the decoder; data is taken (freed here on failure). */
static void submit(hc_receiver_t *r, work_kind_t kind, uint8_t *data, size_t len, uint64_t pts,
                   uint64_t wall)
{
    work_t w = {.kind = kind, .data = data, .len = len, .pts_us = pts, .capture_wall_us = wall};
    if (!r->running) {
        pthread_mutex_lock(&r->mu);
        r->st.frames_out++;
        pthread_mutex_unlock(&r->mu);
        run_work(r, &w);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->st.frames_out++;
    if (r->qt - r->qh >= QUEUE_LEN) {
        /* The decoder fell behind: keep the live edge. A dropped picture
         * breaks the references, so the next keyframe is needed. */
        work_t *old = &r->q[r->qh++ % QUEUE_LEN];
        if (old->kind == WORK_VIDEO) r->decoder_wants_key = true;
        free(old->data);
        old->data = NULL;
        r->st.queue_drops++;
    }
    r->q[r->qt++ % QUEUE_LEN] = w;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- life cycle ---- */

static int open_audio(hc_receiver_t *r)
{
    int err = 0;
    r->adec = opus_decoder_create(48000, 1, &err);
    r->frame_samples = 960;
    return r->adec && err == OPUS_OK ? 0 : -HC_ECODEC;
}

int hc_receiver_new(hc_receiver_t **out, const hc_receiver_cfg_t *cfg)
{
    if (!out || !cfg || cfg->max_delay_ms < cfg->min_delay_ms || !cfg->max_delay_ms)
        return -HC_EINVAL;
    *out = NULL;
    hc_receiver_t *r = calloc(1, sizeof *r);
    if (!r) return -HC_ENOMEM;
    r->cfg = *cfg;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->nslots = cfg->video ? 2048 : 128;
    r->nstore = r->nslots + 64;
    r->slots = calloc(r->nslots, sizeof *r->slots);
    r->out = calloc(r->nslots, sizeof *r->out);
    r->store = calloc(r->nstore, sizeof *r->store);
    int rc = -HC_ENOMEM;
    if (!r->slots || !r->out || !r->store) goto fail;
    for (size_t i = r->nstore; i-- > 0;) store_put(r, i);
    hc_jbuf_cfg_t jc;
    hc_jbuf_cfg_default(&jc, cfg->video);
    jc.nack = cfg->nack;
    jc.min_delay_us = cfg->min_delay_ms * 1000u;
    jc.max_delay_us = cfg->max_delay_ms * 1000u;
    rc = hc_jbuf_init(&r->jb, &jc, r->slots, r->nslots);
    if (rc < 0) goto fail;
    if (cfg->video) {
        r->aubuf = malloc(MAX_AU);
        if (!r->aubuf) {
            rc = -HC_ENOMEM;
            goto fail;
        }
        hc_h264_depack_init(&r->dp, r->aubuf, MAX_AU);
        rc = hc_vdec_new(&r->vdec);
    } else {
        rc = open_audio(r);
    }
    if (rc < 0) goto fail;
    r->rtt_us = 100000;
    if (cfg->thread) {
        if (pthread_create(&r->th, NULL, decoder_main, r) != 0) {
            rc = -HC_ENOMEM;
            goto fail;
        }
        r->running = true;
    }
    *out = r;
    return 0;
fail:
    hc_receiver_destroy(&r);
    return rc;
}

void hc_receiver_destroy(hc_receiver_t **pr)
{
    if (!pr || !*pr) return;
    hc_receiver_t *r = *pr;
    if (r->running) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    while (r->qh != r->qt) free(r->q[r->qh++ % QUEUE_LEN].data);
    hc_vdec_destroy(&r->vdec);
    if (r->adec) opus_decoder_destroy(r->adec);
    free(r->aubuf);
    free(r->slots);
    free(r->out);
    free(r->store);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    *pr = NULL;
}

/* ---- receiving ---- */

/* RFC 6184: the first packet of an IDR access unit as every Hillcast
 * sender makes it: the SPS first, alone or in a STAP-A (x264 repeats its
 * parameter sets before each IDR; the RTSP passthrough has h264parse
 * insert them). An IDR slice start is not enough: when the packet with
 * the SPS/PPS is lost, the keyframe after a resolution change would be
 * decoded with the old sizes; without this mark the frame waits for its
 * first packet like any other. */
static bool starts_keyframe(const uint8_t *p, size_t len)
{
    return (hc_h264_rtp_flags(p, len) & HC_H264_AU_SPS) != 0;
}

static int insert(hc_receiver_t *r, uint16_t seq, uint32_t ts, bool marker, const uint8_t *payload,
                  size_t len, uint64_t wall, uint64_t now_us)
{
    if (len > STORE_PAYLOAD) return -HC_ERANGE;
    rpkt_t *p = store_get(r);
    if (!p) return -HC_EFULL;
    memcpy(p->data, payload, len);
    p->len = (uint16_t)len;
    p->wall = wall;
    uintptr_t ref = (uintptr_t)(p - r->store);
    hc_jbuf_pkt_t jp = {.seq = seq,
                        .ts = ts,
                        .marker = marker,
                        .keyframe = r->cfg.video && starts_keyframe(payload, len),
                        .ref = ref};
    int rc = hc_jbuf_insert(&r->jb, &jp, now_us);
    if (rc != HC_JBUF_STORED) {
        store_put(r, ref);
    } else if (!r->cfg.video) {
        aheld_t *h = &r->aheld[seq % AUDIO_RING];
        *h = (aheld_t){.seq = seq, .valid = true, .ref = (uint32_t)ref};
    }
    return rc;
}

void hc_receiver_rtp(hc_receiver_t *r, const hc_ep_rx_t *rx, uint64_t now_us)
{
    pthread_mutex_lock(&r->mu);
    r->st.packets++;
    r->st.bytes += rx->len;
    if (rx->recovered) r->st.recovered++;
    pthread_mutex_unlock(&r->mu);
    if (!r->cfg.video && r->cfg.red_pt && rx->pt == r->cfg.red_pt) {
        hc_red_block_t b[4];
        size_t n = 0;
        if (hc_red_parse(rx->payload, rx->len, b, 4, &n) < 0 || n == 0) return;
        /* RFC 2198: the redundant blocks are the stream's previous packets,
         * oldest first; our sender repeats consecutive ones, so block i of
         * n-1 redundant ones had sequence number seq - (n - 1 - i). */
        for (size_t i = 0; i + 1 < n; i++) {
            if (!b[i].len) continue;
            uint16_t seq = (uint16_t)(rx->seq - (n - 1 - i));
            int rc = insert(r, seq, rx->ts - b[i].ts_offset, false, b[i].data, b[i].len, 0, now_us);
            if (rc == HC_JBUF_STORED) {
                pthread_mutex_lock(&r->mu);
                r->st.red_recovered++;
                pthread_mutex_unlock(&r->mu);
            }
        }
        if (b[n - 1].len)
            (void)insert(r, rx->seq, rx->ts, rx->marker, b[n - 1].data, b[n - 1].len,
                         rx->capture_wall_us, now_us);
        return;
    }
    (void)insert(r, rx->seq, rx->ts, rx->marker, rx->payload, rx->len, rx->capture_wall_us, now_us);
}

static void release_video(hc_receiver_t *r, const hc_jbuf_frame_t *f)
{
    if (!r->have_next || f->first_seq != r->next_seq) hc_h264_depack_reset(&r->dp);
    hc_h264_frame_t au;
    bool have = false;
    uint64_t wall = 0;
    for (size_t i = 0; i < f->npkts; i++) {
        const rpkt_t *p = &r->store[r->out[i].ref];
        if (!wall && p->wall) wall = p->wall;
        int rc = hc_h264_depack_push(&r->dp, r->out[i].seq, r->out[i].ts, r->out[i].marker, p->data,
                                     p->len, &au);
        if (rc == 1) have = true;
        /* A second AU finished by the same push cannot belong to one
         * jitter-buffer frame; drop it. */
        hc_h264_frame_t extra;
        while (hc_h264_depack_pop(&r->dp, &extra) == 1) {
        }
    }
    if (!have && hc_h264_depack_flush(&r->dp, &au) == 1) have = true;
    r->have_next = true;
    r->next_seq = (uint16_t)(f->first_seq + f->npkts);
    if (!have) return;
    if (!au.complete) {
        pthread_mutex_lock(&r->mu);
        r->st.incomplete++;
        r->decoder_wants_key = true;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    /* Joining mid-stream: nothing decodes before the first keyframe. */
    if (!r->seen_key && !au.keyframe) {
        pthread_mutex_lock(&r->mu);
        r->decoder_wants_key = true;
        pthread_mutex_unlock(&r->mu);
        return;
    }
    r->seen_key = true;
    uint8_t *copy = malloc(au.len);
    if (!copy) return;
    memcpy(copy, au.data, au.len);
    submit(r, WORK_VIDEO, copy, au.len, f->playout_us, wall);
}

static void release_audio(hc_receiver_t *r, const hc_jbuf_frame_t *f)
{
    if (f->status == HC_JBUF_FRAME_CONCEAL) {
        /* The packet after the lost one may be here already: its in-band
         * FEC can rebuild this frame. */
        uint16_t next = (uint16_t)(f->first_seq + 1);
        const aheld_t *h = &r->aheld[next % AUDIO_RING];
        if (h->valid && h->seq == next) {
            const rpkt_t *p = &r->store[h->ref];
            uint8_t *copy = p->len ? malloc(p->len) : NULL;
            if (copy) {
                memcpy(copy, p->data, p->len);
                submit(r, WORK_FEC, copy, p->len, f->playout_us, 0);
                return;
            }
        }
        submit(r, WORK_CONCEAL, NULL, 0, f->playout_us, 0);
        return;
    }
    if (f->npkts < 1) return;
    const rpkt_t *p = &r->store[r->out[0].ref];
    uint8_t *copy = malloc(p->len ? p->len : 1);
    if (!copy) return;
    memcpy(copy, p->data, p->len);
    submit(r, WORK_AUDIO, copy, p->len, f->playout_us, p->wall);
}

uint64_t hc_receiver_poll(hc_receiver_t *r, uint64_t now_us)
{
    uint16_t nk[64];
    int k;
    /* Deadline-aware NACKs: the jitter buffer knows when a retransmission
     * can no longer make its frame's playout time (see receiver.h). */
    while ((k = hc_jbuf_nacks(&r->jb, now_us, nk, 64)) > 0) {
        if (r->cfg.on_nack) r->cfg.on_nack(r->cfg.nack_ud, nk, (size_t)k, now_us);
        if (k < 64) break;
    }
    hc_jbuf_frame_t f;
    int rc;
    while ((rc = hc_jbuf_pop_frame(&r->jb, now_us, &f, r->out, r->nslots)) == 1) {
        if (f.status == HC_JBUF_FRAME_OK && r->cfg.video) {
            /* A frame complete after its playout time (its last packet
             * came by a late retransmission) is shown now: at its own time
             * the sink would drop it as late. */
            if (f.playout_us < now_us) f.playout_us = now_us;
            release_video(r, &f);
        } else if ((f.status == HC_JBUF_FRAME_OK || f.status == HC_JBUF_FRAME_CONCEAL) &&
                   !r->cfg.video)
            release_audio(r, &f);
        for (size_t i = 0; i < f.npkts; i++) {
            if (!r->cfg.video) {
                aheld_t *h = &r->aheld[r->out[i].seq % AUDIO_RING];
                if (h->valid && h->seq == r->out[i].seq) h->valid = false;
            }
            store_put(r, r->out[i].ref);
        }
    }
    return hc_jbuf_next_event_us(&r->jb);
}

bool hc_receiver_want_pli(hc_receiver_t *r, uint64_t now_us)
{
    if (!r->cfg.video) return false;
    pthread_mutex_lock(&r->mu);
    bool dec = r->decoder_wants_key;
    pthread_mutex_unlock(&r->mu);
    if (!dec && !hc_jbuf_need_keyframe(&r->jb)) return false;
    uint64_t gap = r->rtt_us > 200000 ? r->rtt_us : 200000;
    if (r->last_pli_us && now_us < r->last_pli_us + gap) return false;
    r->last_pli_us = now_us;
    pthread_mutex_lock(&r->mu);
    r->decoder_wants_key = false;
    r->st.plis++;
    pthread_mutex_unlock(&r->mu);
    return true;
}

void hc_receiver_on_rtt(hc_receiver_t *r, uint32_t rtt_us)
{
    if (!rtt_us) return;
    r->rtt_us = rtt_us;
    hc_jbuf_on_rtt(&r->jb, rtt_us);
}

void hc_receiver_flush(hc_receiver_t *r)
{
    pthread_mutex_lock(&r->mu);
    while (r->qh != r->qt) {
        work_t *w = &r->q[r->qh++ % QUEUE_LEN];
        free(w->data);
        w->data = NULL;
    }
    pthread_mutex_unlock(&r->mu);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void hc_receiver_stats(hc_receiver_t *r, hc_receiver_stats_t *out)
{
    double d[DELAY_SAMPLES];
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    hc_jbuf_stats(&r->jb, &out->jb);
    unsigned n = r->ndelay < DELAY_SAMPLES ? r->ndelay : DELAY_SAMPLES;
    unsigned start = r->ndelay - n;
    for (unsigned i = 0; i < n; i++) d[i] = r->delay[(start + i) % DELAY_SAMPLES];
    r->ndelay = 0;
    pthread_mutex_unlock(&r->mu);
    out->delay_samples = n;
    out->delay_p50_ms = 0;
    if (n) {
        qsort(d, n, sizeof d[0], cmp_double);
        out->delay_p50_ms = d[n / 2];
    }
}
