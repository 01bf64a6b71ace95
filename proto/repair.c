/*
 * repair.c - loss-repair policy (see repair.h for the reasoning).
 */
#include "proto/repair.h"
#include "proto/err.h"

#include <string.h>

#define DETECT_US            43000 /* reorder wait + one frame interval */
#define MAX_ROUNDS           3
#define RESIDUAL_TARGET      1e-4 /* per packet, after all rounds */
#define FEC_MIN_LOSS         0.005
#define RELAX_LOSS           1.5 /* judge "weaker" with this much more loss */
#define RELAX_LOSS_K         1.25
#define HOLD_US              10000000ull
#define HOLD_K_US            5000000ull
#define IR_ON_BPS            600000u
#define IR_OFF_BPS           750000u
#define OPUS_MAX_LOSS        30
#define AUDIO_FLOOR_PCT      10      /* Opus loss hint with audio_floor */
#define AUDIO_FLOOR_RED2_BPS 800000u /* audio_floor: RED 2 from this send rate (~+60 kbit/s) */

enum { D_FEC, D_K, D_RED, D_OFEC, D_IR };

unsigned hc_repair_rounds(uint32_t rtt_us, uint32_t jitter_us, uint32_t budget_us)
{
    int64_t avail = (int64_t)budget_us - 3 * (int64_t)jitter_us - DETECT_US;
    int64_t per = (int64_t)rtt_us + rtt_us / 8;
    if (per < 1000) per = 1000;
    if (avail <= 0) return 0;
    int64_t n = avail / per;
    return n > MAX_ROUNDS ? MAX_ROUNDS : (unsigned)n;
}

unsigned hc_repair_rtx_copies(double loss)
{
    return loss >= HC_REPAIR_RTX_DUP_LOSS ? 2 : 1; /* NaN: 1 */
}

void hc_repair_init(hc_repair_t *r)
{
    if (r) memset(r, 0, sizeof(*r));
}

static bool fec_needed(double p, unsigned rounds)
{
    if (p < FEC_MIN_LOSS) return false;
    double res = p;
    for (unsigned i = 0; i < rounds; i++) res *= p;
    return res > RESIDUAL_TARGET;
}

static uint8_t k_for(double p)
{
    return p >= 0.15 ? 4 : p >= 0.08 ? 5 : p >= 0.05 ? 7 : p >= 0.025 ? 10 : 15;
}

static uint8_t red_for(double p, double burst)
{
    if (p >= 0.10 || (p >= 0.03 && burst >= 2.0)) return 2;
    return p >= 0.02 ? 1 : 0;
}

/* True once a weaker choice has been wanted continuously for hold. */
static bool relax(hc_repair_t *r, int d, bool weaker, uint64_t now, uint64_t hold)
{
    if (!weaker) {
        r->weak[d] = false;
        return false;
    }
    if (!r->weak[d]) {
        r->weak[d] = true;
        r->weak_since[d] = now;
    }
    if (now < r->weak_since[d] || now - r->weak_since[d] < hold) return false;
    r->weak[d] = false;
    return true;
}

int hc_repair_update(hc_repair_t *r, const hc_repair_in_t *in, uint64_t now, hc_repair_out_t *out)
{
    if (!r || !in || !out) return -HC_EINVAL;
    if (!(in->loss >= 0.0 && in->loss <= 1.0) || !(in->burst_len >= 0.0) || in->budget_us == 0)
        return -HC_EINVAL;
    double p = in->loss, pr = p * RELAX_LOSS, pk = p * RELAX_LOSS_K;
    double b = in->burst_len < 1.0 ? 1.0 : in->burst_len;
    unsigned rounds = hc_repair_rounds(in->rtt_us, in->jitter_us, in->budget_us);
    hc_repair_out_t *c = &r->cur;

    bool fec = fec_needed(p, rounds);
    uint8_t k = k_for(p);
    uint8_t red = red_for(p, b);
    bool ofec = p >= 0.01;
    bool ir = in->rate_bps < IR_ON_BPS;
    if (!r->started) {
        r->started = true;
        c->fec = fec;
        c->fec_k = fec ? k : 0;
        c->red_level = red;
        c->opus_fec = ofec;
        c->intra_refresh = ir;
    } else {
        /* Stronger at once; weaker once relax() has seen it long enough.
         * relax() runs every time so a stronger need resets its timer. */
        bool off = relax(r, D_FEC, c->fec && !fec && !fec_needed(pr, rounds), now, HOLD_US);
        if (fec)
            c->fec = true;
        else if (off)
            c->fec = false;
        bool k_up = relax(r, D_K, c->fec && c->fec_k && k_for(pk) > c->fec_k, now, HOLD_K_US);
        if (!c->fec)
            c->fec_k = 0;
        else if (c->fec_k == 0 || k < c->fec_k)
            c->fec_k = k;
        else if (k_up)
            c->fec_k = k_for(pk);
        uint8_t red_r = red_for(pr, b);
        bool red_down = relax(r, D_RED, red <= c->red_level && red_r < c->red_level, now, HOLD_US);
        if (red > c->red_level)
            c->red_level = red;
        else if (red_down)
            c->red_level = red_r;
        bool ofec_off = relax(r, D_OFEC, c->opus_fec && pr < 0.01, now, HOLD_US);
        if (ofec)
            c->opus_fec = true;
        else if (ofec_off)
            c->opus_fec = false;
        bool ir_off = relax(r, D_IR, c->intra_refresh && in->rate_bps > IR_OFF_BPS, now, HOLD_US);
        if (ir)
            c->intra_refresh = true;
        else if (ir_off)
            c->intra_refresh = false;
    }
    c->nack = true;
    c->rounds = (uint8_t)rounds;
    c->fec_overhead_pct = c->fec_k ? (uint8_t)((100 + c->fec_k - 1) / c->fec_k) : 0;
    /* Rounded up, with a little slack so that 7 % is not 7.000000001. */
    double x = p * 100.0 - 1e-6;
    unsigned pct = x > 0 ? (unsigned)x : 0;
    if (x > 0 && pct < x) pct++;
    c->opus_loss_pct = (uint8_t)(pct > OPUS_MAX_LOSS ? OPUS_MAX_LOSS : pct);
    *out = *c;
    if (in->audio_floor) { /* applied to the output only: the hysteresis state stays measured */
        uint8_t floor = in->rate_bps >= AUDIO_FLOOR_RED2_BPS ? 2 : 1;
        if (out->red_level < floor) out->red_level = floor;
        out->opus_fec = true;
        if (out->opus_loss_pct < AUDIO_FLOOR_PCT) out->opus_loss_pct = AUDIO_FLOOR_PCT;
    }
    return 0;
}
