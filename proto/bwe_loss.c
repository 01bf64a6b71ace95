/*
 * bwe_loss.c - loss-based bound of the estimator (see bwe.h; GCC §6).
 *
 * Why two regimes: on a cellular uplink most loss is the radio's, not a
 * full queue's. Cutting the rate for it does not reduce it, it only lowers
 * quality, and the repair layer (NACK/RTX, FEC) covers up to about 10-15 %.
 * So loss counts as congestion only when the delay signals agree (the
 * caller decides: most lost packets went missing while the queue was
 * long); then GCC's rule applies as written: below 2 % the bound grows,
 * 2-10 % it holds, above 10 % it is cut by (1 - 0.5 x loss) at most once
 * per RTT + 300 ms, compounding while the loss lasts.
 *
 * Random loss is answered relative to the delay-based estimate instead of
 * compounding, because it does not fall when the rate does and repeated
 * cuts would walk the rate down to the floor: below 10 % nothing, 10-15 %
 * hold at the delay-based estimate (no growth of the bound beyond it),
 * above 15 % the delay-based estimate x (1 - 0.5 x loss), which leaves the
 * repair layer room inside the capacity.
 */
#include "proto/bwe.h"

#include <math.h>

#define GROWTH_PER_S      1.08   /* like GCC's increase, 8 %/s */
#define DECREASE_EXTRA_US 300000 /* decreases at most every RTT + 300 ms */

void hc_bwe_loss_init(hc_bwe_loss_t *l, double max_bps)
{
    l->bound_bps = max_bps;
    l->last_decrease_us = 0;
    l->last_update_us = 0;
    l->have_update = false;
    l->congestive = false;
}

double hc_bwe_loss_update(hc_bwe_loss_t *l, double loss, bool congestive, double target_bps,
                          double delay_bps, double max_bps, uint32_t rtt_us, uint64_t now_us)
{
    double dt = 0;
    if (l->have_update && now_us > l->last_update_us)
        dt = (double)(now_us - l->last_update_us) / 1e6;
    if (dt > 1.0) dt = 1.0;
    l->last_update_us = now_us;
    l->have_update = true;
    l->congestive = congestive;

    if (!congestive) {
        if (loss < HC_BWE_LOSS_RAND_LOW) {
            /* Grow back from at least the target, 8 %/s, to no limit. */
            if (l->bound_bps < max_bps) {
                double base = l->bound_bps > target_bps ? l->bound_bps : target_bps;
                l->bound_bps = base * pow(GROWTH_PER_S, dt);
            }
        } else if (loss <= HC_BWE_LOSS_RAND_HIGH) {
            l->bound_bps = delay_bps;
        } else {
            l->bound_bps = delay_bps * (1.0 - 0.5 * loss);
        }
    } else if (loss < HC_BWE_LOSS_CONG_LOW) {
        if (l->bound_bps < max_bps) {
            double base = l->bound_bps > target_bps ? l->bound_bps : target_bps;
            l->bound_bps = base * pow(GROWTH_PER_S, dt);
        }
    } else if (loss <= HC_BWE_LOSS_CONG_HIGH) {
        if (l->bound_bps > target_bps) l->bound_bps = target_bps; /* hold */
    } else if (!l->last_decrease_us ||
               now_us - l->last_decrease_us >= (uint64_t)rtt_us + DECREASE_EXTRA_US) {
        double base = l->bound_bps < target_bps ? l->bound_bps : target_bps;
        l->bound_bps = base * (1.0 - 0.5 * loss);
        l->last_decrease_us = now_us ? now_us : 1;
    }
    if (l->bound_bps > max_bps) l->bound_bps = max_bps;
    if (l->bound_bps < 0) l->bound_bps = 0;
    return l->bound_bps;
}
