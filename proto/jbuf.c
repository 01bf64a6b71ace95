/*
 * jbuf.c - receive-side jitter buffer (see jbuf.h).
 *
 * Sequence numbers are extended to int64 ("ext") with an offset that a
 * resync can change; slot i holds the state of the one ext in the window
 * [head, head + nslots) with ext & mask == i. Invariant: every ext in
 * [head, highest] has its slot, PRESENT or MISSING. Below head a slot
 * remembers (until reused) whether its packet had arrived, which tells
 * duplicates from late packets.
 */
#include "proto/jbuf.h"
#include "proto/err.h"
#include "proto/seq.h"

#include <string.h>

enum { S_EMPTY = 0, S_PRESENT, S_MISSING, S_REL_PRESENT, S_REL_MISSING, S_REL_LATE };
/* F_DEFER: a missing packet of a frame that may be held (alone_hold_us):
 * not asked for yet, looked at again at nack_us (the frame's playout). */
enum { F_MARKER = 1, F_KEY = 2, F_GAVEUP = 4, F_DEFER = 8 };

/* RFC 3550 A.1 uses 3000 forward and 100 behind; behind, a NACKed
 * retransmission can legitimately be a few hundred packets old, so the
 * "far" test is symmetric and old packets within it are simply late. */
#define MAX_DROPOUT    3000
#define FAR_RUN_RESYNC 2 /* A.1: two in sequence mean a restart */
#define OLD_RUN_RESYNC 8 /* eight in sequence behind the buffer, nothing newer */
#define START_REORDER  64
#define EXT_START      ((int64_t)1 << 32)
#define TIME_MAX       ((int64_t)1 << 62)
#define BASE_WINDOW_US 5000000 /* transit minimum kept over 5-10 s */
#define HIST_BIN_US    5000
#define HIST_TAU_US    3000000.0
#define HIST_QUANTILE  0.97
#define REBASE_MIN_US  1000000
/* Residual loss per packet the retransmission rounds aim for: a lost
 * frame also costs the P frames after it until a keyframe comes (~12 at
 * 30 fps and 100 ms RTT), so 1e-4 (a 5-packet frame lost 0.05 % of the
 * time, ~0.6 % of frames not shown) and not the 0.2 % that only keeps
 * frames complete. proto/repair.h reasons the same way for FEC. */
#define RESIDUAL_TARGET 0.0001
#define MAX_ROUNDS      3

static int64_t clamp_time(uint64_t t)
{
    return t > (uint64_t)TIME_MAX ? TIME_MAX : (int64_t)t;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static hc_jbuf_slot_t *at(const hc_jbuf_t *j, int64_t ext)
{
    return &j->slot[(uint64_t)ext & j->mask];
}

static uint16_t seq16(const hc_jbuf_t *j, int64_t ext)
{
    return (uint16_t)(uint64_t)(ext - j->off);
}

static int64_t nslots(const hc_jbuf_t *j)
{
    return (int64_t)j->mask + 1;
}

/* RTP ticks since the origin in microseconds, clamped far beyond any
 * real value so garbage timestamps cannot overflow. */
static int64_t ts_us(const hc_jbuf_t *j, int64_t ts)
{
    const int64_t lim = (int64_t)1 << 40;
    int64_t r = ts - j->ts_origin;
    int64_t c = j->cfg.clock_rate;
    if (r > lim) r = lim;
    if (r < -lim) r = -lim;
    return r / c * 1000000 + r % c * 1000000 / c;
}

static int64_t base(const hc_jbuf_t *j)
{
    return min64(j->base_cur, j->base_prev);
}

static int64_t render_us(const hc_jbuf_t *j, int64_t ts)
{
    return ts_us(j, ts) + base(j);
}

static int64_t playout(const hc_jbuf_t *j, int64_t ts)
{
    return render_us(j, ts) + j->delay_us;
}

static int64_t retry_interval(const hc_jbuf_t *j)
{
    return max64(j->rtt_us + j->rtt_us / 8, 1000);
}

/* Rounds of retransmission needed so that loss^(rounds+1) <= 1e-4:
 * 1 below 1 % loss, 2 up to ~4.6 %, else 3. */
static int64_t retx_rounds(uint32_t loss_q16)
{
    double p = loss_q16 / 65536.0;
    double r = p * p;
    int64_t n = 1;
    while (r > RESIDUAL_TARGET && n < MAX_ROUNDS) {
        r *= p;
        n++;
    }
    return n;
}

static void update_delay(hc_jbuf_t *j, int64_t now)
{
    int64_t room = 0;
    if (j->cfg.nack)
        room =
            j->cfg.reorder_wait_us + j->frame_int_us + retx_rounds(j->loss_q16) * retry_interval(j);
    int64_t t = j->jitter_us + room;
    t = max64(t, j->cfg.min_delay_us);
    t = min64(t, j->cfg.max_delay_us);
    j->target_us = t;
    /* Rise at once; also follow freely while nothing has been played. */
    if (t >= j->delay_us || !j->released_any) {
        j->delay_us = t;
        j->last_delay_us = now;
        return;
    }
    /* Shrink by at most 1/16 of the elapsed time: frames come out at most
     * ~6 % faster than real time while the delay drains. */
    int64_t el = now - j->last_delay_us;
    if (el <= 0) return;
    int64_t dec = el / 16;
    j->delay_us = max64(t, j->delay_us - dec);
    j->last_delay_us += dec * 16;
}

/* Delay histogram with exponential forgetting in time (tau = 3 s): a rise
 * shows in the 97th percentile within ~0.1 s, a fall after ~10 s. */
static void hist_add(hc_jbuf_t *j, int64_t now, int64_t d)
{
    double a = 1.0;
    if (j->hist_total > 0) {
        int64_t dt = now - j->hist_us;
        a = dt > 0 ? (double)dt / HIST_TAU_US : 0.0;
        if (a < 1.0 / 1024) a = 1.0 / 1024;
        if (a > 0.5) a = 0.5;
    }
    int64_t bin = d < 0 ? 0 : d / HIST_BIN_US;
    if (bin >= HC_JBUF_HIST_BINS) bin = HC_JBUF_HIST_BINS - 1;
    double sum = 0;
    for (int i = 0; i < HC_JBUF_HIST_BINS; i++) {
        j->hist[i] *= 1.0 - a;
        if (j->hist[i] < 1e-12) j->hist[i] = 0;
        if (i == bin) j->hist[i] += a;
        sum += j->hist[i];
    }
    j->hist_total = sum;
    j->hist_us = now;
    double want = sum * HIST_QUANTILE, cum = 0;
    int i = 0;
    for (; i < HC_JBUF_HIST_BINS - 1; i++) {
        cum += j->hist[i];
        if (cum >= want) break;
    }
    j->jitter_us = (int64_t)(i + 1) * HIST_BIN_US;
}

void hc_jbuf_cfg_default(hc_jbuf_cfg_t *cfg, bool video)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->clock_rate = video ? 90000 : 48000;
    cfg->video = video;
    cfg->nack = video;
    cfg->min_delay_us = 40000;
    cfg->max_delay_us = 400000;
    cfg->reorder_wait_us = 10000;
    cfg->initial_rtt_us = 100000;
    cfg->freeze_us = 200000;
    cfg->max_nacks = 10;
    cfg->alone_hold_us = video ? 4000000 : 0;
}

int hc_jbuf_init(hc_jbuf_t *j, const hc_jbuf_cfg_t *cfg, hc_jbuf_slot_t *slots, size_t n)
{
    if (!j || !cfg || !slots) return -HC_EINVAL;
    if (n < HC_JBUF_MIN_SLOTS || n > HC_JBUF_MAX_SLOTS || (n & (n - 1)) != 0) return -HC_EINVAL;
    if (cfg->clock_rate < 1000 || cfg->min_delay_us > cfg->max_delay_us ||
        cfg->max_delay_us > 10000000 || cfg->reorder_wait_us > 1000000 ||
        cfg->alone_hold_us > 30000000)
        return -HC_EINVAL;
    memset(j, 0, sizeof(*j));
    memset(slots, 0, n * sizeof(*slots));
    j->cfg = *cfg;
    if (j->cfg.max_nacks > 255) j->cfg.max_nacks = 255;
    if (j->cfg.initial_rtt_us == 0) j->cfg.initial_rtt_us = 100000;
    j->slot = slots;
    j->mask = n - 1;
    j->waiting_key = cfg->video;
    j->rtt_us = j->cfg.initial_rtt_us;
    j->frame_int_us = cfg->video ? 33333 : 20000;
    j->delay_us = 0;
    update_delay(j, 0);
    return 0;
}

static void mark_missing(hc_jbuf_t *j, int64_t ext, int64_t now)
{
    hc_jbuf_slot_t *s = at(j, ext);
    memset(s, 0, sizeof(*s));
    s->ext = ext;
    s->seq = seq16(j, ext);
    s->state = S_MISSING;
    s->time_us = now;
}

static void start(hc_jbuf_t *j, uint16_t seq)
{
    j->started = true;
    j->off = EXT_START - seq;
    j->head = EXT_START;
    j->highest = EXT_START - 1;
    j->flush_to = 0;
    j->boundary_known = false;
}

/* Follow a sender restart: everything held is released at once, the new
 * numbering continues the extended space right after the old one with
 * first_seq at highest + 1 (packets of the run before the current one are
 * then gaps and get NACKed), and the timing starts again. */
static void resync(hc_jbuf_t *j, uint16_t first_seq)
{
    j->flush_to = j->highest + 1;
    j->off = j->highest + 1 - first_seq;
    j->ts_valid = false;
    j->base_valid = false;
    j->waiting_key = j->cfg.video;
    j->last_rel_open = false;
    j->last_rel_valid = false;
    j->bad_valid = false;
    j->old_run = 0;
    j->st.resyncs++;
}

/* Length of the current run of rejected packets in sequence. */
static uint32_t reject_run(hc_jbuf_t *j, uint16_t seq)
{
    if (j->bad_valid && seq == j->bad_next)
        j->old_run++;
    else
        j->old_run = 1;
    j->bad_valid = true;
    j->bad_next = (uint16_t)(seq + 1);
    return j->old_run;
}

static int late(hc_jbuf_t *j, int64_t ext)
{
    hc_jbuf_slot_t *s = at(j, ext);
    if (s->ext == ext && (s->state == S_REL_PRESENT || s->state == S_REL_LATE)) {
        j->st.duplicates++;
        return HC_JBUF_DUPLICATE;
    }
    j->st.packets_late++;
    if (s->ext == ext && s->state == S_REL_MISSING) {
        s->state = S_REL_LATE;
        if (!j->cfg.video) {
            j->st.frames_late++; /* a concealed audio frame turned up */
        } else {
            for (int i = 0; i < HC_JBUF_LOST_RECS; i++) {
                hc_jbuf_lostrec_t *r = &j->lost[i];
                if (r->missing && ext >= r->start && ext < r->end) {
                    if (--r->missing == 0) j->st.frames_late++;
                    break;
                }
            }
        }
    }
    return HC_JBUF_LATE;
}

static void update_base(hc_jbuf_t *j, int64_t now, int64_t x)
{
    if (now - j->base_win_us >= BASE_WINDOW_US) {
        j->base_prev = j->base_cur;
        j->base_cur = x;
        j->base_win_us = now;
    } else if (x < j->base_cur) {
        j->base_cur = x;
    }
}

int hc_jbuf_insert(hc_jbuf_t *j, const hc_jbuf_pkt_t *p, uint64_t now_us)
{
    if (!j || !p || !j->slot) return -HC_EINVAL;
    int64_t now = clamp_time(now_us);
    j->st.packets++;
    if (!j->started) start(j, p->seq);

    int64_t ext = j->highest + hc_seq_diff(seq16(j, j->highest), p->seq);
    int64_t d = ext - j->highest;
    if (d > MAX_DROPOUT || d < -MAX_DROPOUT) {
        uint32_t run = reject_run(j, p->seq);
        if (run < FAR_RUN_RESYNC) {
            j->st.packets_discarded++;
            return HC_JBUF_DISCARDED;
        }
        resync(j, (uint16_t)(p->seq - (run - 1)));
        ext = j->highest + run;
    } else if (ext < j->head) {
        if (!j->released_any && ext >= j->flush_to && j->head - ext <= START_REORDER &&
            j->highest - ext < nslots(j)) {
            /* The first packets came reordered: start earlier. */
            for (int64_t s = ext; s < j->head; s++) mark_missing(j, s, now);
            j->head = ext;
        } else {
            uint32_t run = reject_run(j, p->seq);
            if (run < OLD_RUN_RESYNC) return late(j, ext);
            resync(j, (uint16_t)(p->seq - (run - 1)));
            ext = j->highest + run;
        }
    }
    if (ext >= j->head + nslots(j)) {
        /* No room: give the oldest frames back early (next pops) until half
         * the ring is free, and drop this one; it is a gap afterwards and
         * can still be NACKed. */
        j->flush_to = max64(j->flush_to, ext - nslots(j) / 2 + 1);
        j->st.packets_discarded++;
        return HC_JBUF_DISCARDED;
    }

    if (!j->ts_valid) {
        /* A new numbering (start or resync): its extended timestamps start
         * 16 * 2^32 above the old ones, so no frame can join packets of
         * both. */
        j->ts_valid = true;
        j->ts_hi = j->ts_hi - (int64_t)(uint32_t)(uint64_t)j->ts_hi + ((int64_t)16 << 32) + p->ts;
        j->ts_origin = j->ts_hi;
    }
    int64_t ts = j->ts_hi + hc_ts_diff((uint32_t)(uint64_t)j->ts_hi, p->ts);

    /* The tail of a frame released as LOST without a known end: late. */
    if (j->cfg.video && ext == j->head && j->last_rel_open && ts == j->last_rel_ts &&
        (ext > j->highest || at(j, ext)->state == S_MISSING)) {
        hc_jbuf_slot_t *s = at(j, ext);
        memset(s, 0, sizeof(*s));
        s->ext = ext;
        s->seq = p->seq;
        s->state = S_REL_LATE;
        if (ext > j->highest) j->highest = ext;
        j->head = ext + 1;
        j->boundary_known = p->marker;
        j->last_rel_open = !p->marker;
        j->bad_valid = false;
        j->st.packets_late++;
        return HC_JBUF_LATE;
    }

    int64_t x = now - ts_us(j, ts);
    int64_t rebase = max64(REBASE_MIN_US, 2 * (int64_t)j->cfg.max_delay_us);
    if (!j->base_valid) {
        j->base_valid = true;
        j->base_cur = j->base_prev = x;
        j->base_win_us = now;
    } else if (ext > j->highest && ts != j->ts_hi &&
               (x - base(j) > rebase || base(j) - x > rebase)) {
        /* Timestamps jumped (or the path's delay grew beyond any use):
         * map them afresh and give back what was timed the old way. Judged
         * on a frame's first packet only: the rest of a big frame on a
         * thin link (a still) comes later by its own size, not by a jump. */
        j->ts_origin = ts;
        j->base_cur = j->base_prev = now;
        j->base_win_us = now;
        if (ext > j->head) j->flush_to = max64(j->flush_to, ext);
    } else {
        update_base(j, now, x);
    }

    hc_jbuf_slot_t *s = at(j, ext);
    if (ext > j->highest) {
        for (int64_t q = j->highest + 1; q < ext; q++) mark_missing(j, q, now);
        j->highest = ext;
        j->ts_hi = ts;
        memset(s, 0, sizeof(*s));
    } else {
        if (s->state == S_PRESENT) {
            j->st.duplicates++;
            return HC_JBUF_DUPLICATE;
        }
        if (s->nacks > 0) j->st.packets_recovered++;
    }
    s->ext = ext;
    s->seq = p->seq;
    s->ts = ts;
    s->time_us = now;
    s->ref = p->ref;
    s->state = S_PRESENT;
    s->flags = (uint8_t)((p->marker ? F_MARKER : 0) | (p->keyframe ? F_KEY : 0));
    j->held++;
    j->bad_valid = false;
    j->old_run = 0;
    return HC_JBUF_STORED;
}

void hc_jbuf_on_rtt(hc_jbuf_t *j, uint32_t rtt_us)
{
    if (!j) return;
    int64_t r = rtt_us;
    j->rtt_us = r < 1000 ? 1000 : r > 5000000 ? 5000000 : r;
    update_delay(j, j->last_delay_us);
}

bool hc_jbuf_need_keyframe(const hc_jbuf_t *j)
{
    return j && j->cfg.video && j->keyframe_needed;
}

void hc_jbuf_flush(hc_jbuf_t *j)
{
    if (j && j->started) j->flush_to = max64(j->flush_to, j->highest + 1);
}

/* First PRESENT ext in [from, to], or to + 1. */
static int64_t first_present(const hc_jbuf_t *j, int64_t from, int64_t to)
{
    int64_t s = from;
    while (s <= to && at(j, s)->state != S_PRESENT) s++;
    return s;
}

typedef struct span {
    int64_t s0, end; /* first present packet; end of the frame (exclusive) */
    bool end_known, holes;
} span_t;

/* The video frame starting with the present packet s0: up to its marker,
 * up to the next timestamp, or up to limit (exclusive). */
static span_t video_span(const hc_jbuf_t *j, int64_t s0, int64_t limit)
{
    span_t sp = {s0, limit, false, false};
    int64_t ts = at(j, s0)->ts, last = s0;
    for (int64_t s = s0; s < limit; s++) {
        const hc_jbuf_slot_t *q = at(j, s);
        if (q->state != S_PRESENT) {
            sp.holes = true;
            continue;
        }
        if (q->ts != ts) {
            /* The frame ends here. Its last packet present had no marker,
             * so at least one packet of it follows: a single missing
             * packet before the new timestamp is that one, and the next
             * frame starts exactly here. Two or more could be split
             * either way. */
            sp.end = s;
            sp.end_known = s - last <= 2;
            return sp;
        }
        last = s;
        if (q->flags & F_MARKER) {
            sp.end = s + 1;
            sp.end_known = true;
            return sp;
        }
    }
    return sp;
}

static void record_lost(hc_jbuf_t *j, int64_t start, int64_t end)
{
    uint32_t miss = 0;
    for (int64_t s = start; s < end; s++)
        if (at(j, s)->state == S_MISSING) miss++;
    if (!miss) return;
    hc_jbuf_lostrec_t *r = &j->lost[j->lost_next];
    j->lost_next = (j->lost_next + 1) % HC_JBUF_LOST_RECS;
    r->start = start;
    r->end = end;
    r->missing = miss;
}

static size_t count_present(const hc_jbuf_t *j, int64_t start, int64_t end)
{
    size_t n = 0;
    for (int64_t s = start; s < end; s++)
        if (at(j, s)->state == S_PRESENT) n++;
    return n;
}

/* Hand [head, end) back: packets to pkts, slots become history. Fills the
 * frame's packet count and completion time; returns the frame's delay
 * sample (-1 when every packet was a retransmission). */
static int64_t release(hc_jbuf_t *j, int64_t end, int64_t ts, hc_jbuf_frame_t *f,
                       hc_jbuf_pkt_t *pkts, bool count_loss)
{
    size_t k = 0;
    int64_t done = 0, d = -1, r = render_us(j, ts);
    f->first_seq = seq16(j, j->head);
    for (int64_t s = j->head; s < end; s++) {
        hc_jbuf_slot_t *q = at(j, s);
        /* Loss before repair, judged when the packet's turn has come: a
         * packet reordered within the wait is not lost, a NACKed one is. */
        if (count_loss) {
            bool lost = q->state != S_PRESENT || q->nacks > 0;
            j->loss_q16 = j->loss_q16 - (j->loss_q16 >> 8) + (lost ? 256 : 0);
        }
        if (q->state == S_PRESENT) {
            hc_jbuf_pkt_t *o = &pkts[k++];
            if (k == 1) f->first_seq = (uint16_t)(q->seq - (uint16_t)(s - j->head));
            o->seq = q->seq;
            o->ts = (uint32_t)(uint64_t)q->ts;
            o->marker = (q->flags & F_MARKER) != 0;
            o->keyframe = (q->flags & F_KEY) != 0;
            o->ref = q->ref;
            done = max64(done, q->time_us);
            if (q->nacks == 0) d = max64(d, max64(q->time_us - r, 0));
            q->state = S_REL_PRESENT;
            j->held--;
        } else {
            q->state = S_REL_MISSING;
        }
    }
    j->head = end;
    j->released_any = true;
    f->npkts = k;
    f->complete_us = (uint64_t)done;
    f->ts = (uint32_t)(uint64_t)ts;
    return d;
}

static void note_interval(hc_jbuf_t *j, int64_t ts)
{
    if (j->last_rel_valid) {
        int64_t dt = ts_us(j, ts) - ts_us(j, j->last_rel_ts);
        if (dt > 0 && dt <= 200000) j->frame_int_us += (dt - j->frame_int_us) / 8;
    }
    j->last_rel_ts = ts;
    j->last_rel_valid = true;
}

static void account_ok(hc_jbuf_t *j, int64_t now, int64_t play, hc_jbuf_frame_t *f)
{
    f->late = (int64_t)f->complete_us > play;
    if (f->late)
        j->st.frames_late++;
    else
        j->st.frames_on_time++;
    if (j->cfg.video) {
        if (j->have_render && now - j->last_render_us > (int64_t)j->cfg.freeze_us) {
            j->st.freezes++;
            j->st.freeze_total_us += (uint64_t)(now - j->last_render_us);
        }
        j->have_render = true;
        j->last_render_us = now;
    }
}

static bool gave_up_pending(const hc_jbuf_t *j)
{
    for (int64_t s = j->head; s <= j->highest; s++) {
        const hc_jbuf_slot_t *q = at(j, s);
        if (q->state == S_MISSING && (q->flags & F_GAVEUP)) return true;
    }
    return false;
}

/* Everything below flush_to goes back at once. Returns 1 for a frame, 0
 * when the flush is over, -HC_ENOSPC. */
static int pop_flush(hc_jbuf_t *j, hc_jbuf_frame_t *f, hc_jbuf_pkt_t *pkts, size_t cap)
{
    int64_t lim = min64(j->flush_to - 1, j->highest);
    int64_t s0 = first_present(j, j->head, lim);
    if (s0 <= lim) {
        int64_t ts = at(j, s0)->ts, end;
        if (j->cfg.video) {
            end = video_span(j, s0, lim + 1).end;
        } else {
            end = s0 + 1;
            while (end <= lim && at(j, end)->state == S_PRESENT && at(j, end)->ts == ts) end++;
        }
        if (count_present(j, j->head, end) > cap) return -HC_ENOSPC;
        memset(f, 0, sizeof(*f));
        f->status = HC_JBUF_FRAME_FLUSHED;
        f->keyframe = (at(j, s0)->flags & F_KEY) != 0;
        f->playout_us = (uint64_t)max64(playout(j, ts), 0);
        release(j, end, ts, f, pkts, false);
        j->st.frames_flushed++;
        if (j->cfg.video) j->waiting_key = j->keyframe_needed = true;
        j->last_rel_open = false;
        return 1;
    }
    for (int64_t s = j->head; s <= lim; s++) at(j, s)->state = S_REL_MISSING;
    if (j->cfg.video && lim >= j->head) j->waiting_key = j->keyframe_needed = true;
    j->head = j->flush_to;
    if (j->highest < j->head - 1) j->highest = j->head - 1;
    j->boundary_known = false;
    j->last_rel_open = false;
    return 0;
}

/* No packet of a frame later than ts has arrived (see alone_hold_us). */
static bool alone(const hc_jbuf_t *j, int64_t ts)
{
    const hc_jbuf_slot_t *h = at(j, j->highest);
    return h->state == S_PRESENT && h->ts == ts;
}

typedef struct vhead {
    int64_t s0, ts, play, due; /* first present packet; due: play, or later when held */
    span_t sp;
    bool key, complete, first;
} vhead_t;

/* The video frame at the head of the buffer, or false when none is. */
static bool video_head(const hc_jbuf_t *j, vhead_t *v)
{
    v->s0 = first_present(j, j->head, j->highest);
    if (v->s0 > j->highest) return false;
    const hc_jbuf_slot_t *a = at(j, v->s0);
    v->ts = a->ts;
    v->key = (a->flags & F_KEY) != 0;
    v->sp = video_span(j, v->s0, j->highest + 1);
    bool start_known = (v->s0 == j->head && j->boundary_known) || v->key;
    v->complete = start_known && v->sp.end_known && !v->sp.holes;
    /* The very first frame of a stream joined mid-way: whole as far as
     * we can tell, but undecodable without a keyframe. */
    v->first =
        !v->complete && !j->released_any && v->s0 == j->head && v->sp.end_known && !v->sp.holes;
    v->play = v->due = playout(j, v->ts);
    if (!v->complete && !v->first && alone(j, v->ts)) v->due += j->cfg.alone_hold_us;
    return true;
}

static int pop_video(hc_jbuf_t *j, int64_t now, hc_jbuf_frame_t *f, hc_jbuf_pkt_t *pkts, size_t cap)
{
    vhead_t v;
    if (!video_head(j, &v) || now < v.due) return 0;
    int64_t s0 = v.s0, ts = v.ts, play = v.play;
    bool key = v.key, complete = v.complete, first = v.first;
    span_t sp = v.sp;
    if (count_present(j, j->head, sp.end) > cap) return -HC_ENOSPC;

    memset(f, 0, sizeof(*f));
    f->keyframe = key;
    f->playout_us = (uint64_t)max64(play, 0);
    if (complete && s0 > j->head && j->boundary_known) {
        /* A whole frame went missing before this keyframe. */
        j->st.frames_lost++;
        record_lost(j, j->head, s0);
    }
    if (!complete && !first) record_lost(j, j->head, sp.end);
    int64_t d = release(j, sp.end, ts, f, pkts, true);
    if (d >= 0) hist_add(j, now, d);
    update_delay(j, now);

    if (complete && (key || !j->waiting_key)) {
        f->status = HC_JBUF_FRAME_OK;
        if (key) j->waiting_key = false;
        account_ok(j, now, play, f);
        note_interval(j, ts);
        if (j->keyframe_needed && (key || !gave_up_pending(j))) j->keyframe_needed = false;
    } else if (complete || first) {
        f->status = HC_JBUF_FRAME_DEPENDENT;
        j->st.frames_dependent++;
        j->keyframe_needed = true;
        note_interval(j, ts);
    } else {
        f->status = HC_JBUF_FRAME_LOST;
        j->st.frames_lost++;
        j->waiting_key = true;
        j->keyframe_needed = true;
        j->last_rel_ts = ts;
        j->last_rel_valid = true;
    }
    j->boundary_known = sp.end_known;
    j->last_rel_open = !sp.end_known;
    return 1;
}

static int pop_audio(hc_jbuf_t *j, int64_t now, hc_jbuf_frame_t *f, hc_jbuf_pkt_t *pkts, size_t cap)
{
    if (j->head > j->highest) return 0;
    const hc_jbuf_slot_t *h = at(j, j->head);
    if (h->state == S_PRESENT) {
        int64_t ts = h->ts, end = j->head + 1;
        while (end <= j->highest && at(j, end)->state == S_PRESENT && at(j, end)->ts == ts) end++;
        int64_t play = playout(j, ts);
        if (now < play) return 0;
        if ((size_t)(end - j->head) > cap) return -HC_ENOSPC;
        memset(f, 0, sizeof(*f));
        f->status = HC_JBUF_FRAME_OK;
        f->playout_us = (uint64_t)max64(play, 0);
        int64_t d = release(j, end, ts, f, pkts, true);
        if (d >= 0) hist_add(j, now, d);
        update_delay(j, now);
        account_ok(j, now, play, f);
        note_interval(j, ts);
        return 1;
    }
    int64_t s0 = first_present(j, j->head + 1, j->highest);
    if (s0 > j->highest) return 0;
    int64_t ts0 = at(j, s0)->ts;
    /* Spread the missing packets evenly between the last frame played and
     * the next one present. */
    int64_t est =
        j->last_rel_valid ? j->last_rel_ts + (ts0 - j->last_rel_ts) / (s0 - j->head + 1) : ts0;
    int64_t play = playout(j, est);
    if (now < play) return 0;
    memset(f, 0, sizeof(*f));
    f->status = HC_JBUF_FRAME_CONCEAL;
    f->playout_us = (uint64_t)max64(play, 0);
    release(j, j->head + 1, est, f, pkts, true);
    update_delay(j, now);
    j->st.frames_concealed++;
    j->last_rel_ts = est;
    j->last_rel_valid = true;
    return 1;
}

int hc_jbuf_pop_frame(hc_jbuf_t *j, uint64_t now_us, hc_jbuf_frame_t *f, hc_jbuf_pkt_t *pkts,
                      size_t cap)
{
    if (!j || !f || (!pkts && cap)) return -HC_EINVAL;
    if (!j->started) return 0;
    int64_t now = clamp_time(now_us);
    update_delay(j, now);
    if (j->flush_to > j->head) {
        int r = pop_flush(j, f, pkts, cap);
        if (r != 0) return r;
    }
    return j->cfg.video ? pop_video(j, now, f, pkts, cap) : pop_audio(j, now, f, pkts, cap);
}

/* When a missing packet is next looked at for a NACK. */
static int64_t nack_due(const hc_jbuf_t *j, const hc_jbuf_slot_t *q, int64_t iv)
{
    if (q->flags & F_DEFER) return q->nack_us;
    return q->nacks ? q->nack_us + iv : q->time_us + j->cfg.reorder_wait_us;
}

int hc_jbuf_nacks(hc_jbuf_t *j, uint64_t now_us, uint16_t *out, size_t max)
{
    if (!j || (!out && max)) return -HC_EINVAL;
    if (!j->started || !j->cfg.nack) return 0;
    int64_t now = clamp_time(now_us);
    int64_t iv = retry_interval(j);
    int64_t np = -1; /* next present packet at or after the current one */
    size_t n = 0;
    for (int64_t s = max64(j->head, j->flush_to); s <= j->highest; s++) {
        hc_jbuf_slot_t *q = at(j, s);
        if (q->state != S_MISSING || (q->flags & F_GAVEUP)) continue;
        if (now < nack_due(j, q, iv)) continue;
        q->flags &= (uint8_t)~F_DEFER;
        if (np < s) np = first_present(j, s + 1, j->highest);
        if (np > j->highest) break;
        /* The packet belongs to the frame of the next present packet or
         * to an earlier one: that frame's playout time bounds its use
         * (or the end of its hold, once it is held: nothing newer behind
         * it at its playout time). */
        int64_t nts = at(j, np)->ts;
        int64_t play = playout(j, nts), deadline = play;
        bool may_hold = j->cfg.video && j->cfg.alone_hold_us && alone(j, nts);
        if (may_hold && now >= play) deadline += j->cfg.alone_hold_us;
        if (q->nacks < j->cfg.max_nacks && now + j->rtt_us > deadline && may_hold && now < play) {
            /* Too late for its playout time, but the frame may be held
             * past it: decide then. */
            q->flags |= F_DEFER;
            q->nack_us = play;
            continue;
        }
        if (q->nacks >= j->cfg.max_nacks || now + j->rtt_us > deadline) {
            q->flags |= F_GAVEUP;
            j->st.nacks_given_up++;
            /* Certain to be lost unless a request already in flight can
             * still make it: worth a PLI now rather than at the deadline. */
            if (j->cfg.video && (q->nacks == 0 || q->nack_us + j->rtt_us > deadline))
                j->keyframe_needed = true;
            continue;
        }
        if (n >= max) break;
        out[n++] = seq16(j, s);
        q->nacks++;
        q->nack_us = now;
        j->st.nacks_sent++;
    }
    return (int)n;
}

uint64_t hc_jbuf_next_event_us(const hc_jbuf_t *j)
{
    if (!j || !j->started) return UINT64_MAX;
    if (j->flush_to > j->head) return 0;
    int64_t ev = INT64_MAX;
    vhead_t v;
    if (j->cfg.video) {
        if (j->head <= j->highest && video_head(j, &v)) ev = v.due;
    } else if (j->head <= j->highest) {
        int64_t s0 = first_present(j, j->head, j->highest);
        if (s0 <= j->highest) {
            int64_t ts = at(j, s0)->ts;
            if (s0 > j->head && j->last_rel_valid)
                ts = j->last_rel_ts + (ts - j->last_rel_ts) / (s0 - j->head + 1);
            ev = playout(j, ts);
        }
    }
    if (j->cfg.nack) {
        int64_t iv = retry_interval(j);
        for (int64_t s = j->head; s <= j->highest; s++) {
            const hc_jbuf_slot_t *q = at(j, s);
            if (q->state != S_MISSING || (q->flags & F_GAVEUP)) continue;
            ev = min64(ev, nack_due(j, q, iv));
        }
    }
    if (ev == INT64_MAX) return UINT64_MAX;
    return ev < 0 ? 0 : (uint64_t)ev;
}

void hc_jbuf_stats(const hc_jbuf_t *j, hc_jbuf_stats_t *out)
{
    if (!j || !out) return;
    *out = j->st;
    out->delay_us = (uint32_t)j->delay_us;
    out->target_delay_us = (uint32_t)j->target_us;
    out->jitter_us = (uint32_t)j->jitter_us;
    out->rtt_us = (uint32_t)j->rtt_us;
    out->loss_ppm = (uint32_t)((uint64_t)j->loss_q16 * 1000000 / 65536);
    out->packets_held = j->held;
}

int hc_jbuf_check(const hc_jbuf_t *j)
{
    if (!j) return -HC_EINVAL;
    if (j->delay_us < j->cfg.min_delay_us || j->delay_us > j->cfg.max_delay_us)
        return -HC_EINTERNAL;
    if (j->target_us < j->cfg.min_delay_us || j->target_us > j->cfg.max_delay_us)
        return -HC_EINTERNAL;
    if (!j->started) return j->held == 0 ? 0 : -HC_EINTERNAL;
    if (j->highest < j->head - 1 || j->highest - j->head + 1 > nslots(j)) return -HC_EINTERNAL;
    uint32_t present = 0;
    for (int64_t s = j->head; s <= j->highest; s++) {
        const hc_jbuf_slot_t *q = at(j, s);
        if (q->ext != s) return -HC_EINTERNAL;
        if (q->state == S_PRESENT)
            present++;
        else if (q->state != S_MISSING)
            return -HC_EINTERNAL;
    }
    if (present != j->held) return -HC_EINTERNAL;
    if (j->highest >= j->head && at(j, j->highest)->state != S_PRESENT && j->flush_to <= j->head)
        return -HC_EINTERNAL;
    return 0;
}
