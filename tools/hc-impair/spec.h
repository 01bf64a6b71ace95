/*
 * spec.h - the impairment spec language of hc-impair.
 *
 * A spec is a list of key=value words, e.g.
 *   "delay=40ms jitter=5ms loss=3% rate=1000kbit queue=100ms"
 * Only the keys given change a link; the others keep their current value.
 *
 *   delay=T            fixed one-way propagation delay (default 0)
 *   jitter=T           extra random delay in [0, T] per packet (default 0)
 *   jitter_dist=D      uniform (default) | normal: mean T/2, sd T/6, clipped
 *                      to [0, T]. Jitter never reorders: a packet never
 *                      leaves before the one ahead of it, like a real link.
 *   loss=P%            Bernoulli loss
 *   ge=p,r[,k,h]       Gilbert-Elliott burst loss: p = P(good->bad),
 *                      r = P(bad->good) per packet; loss is 1-k in good
 *                      (default k=1) and 1-h in bad (default h=0). ge=off.
 *   dup=P%             send P % of packets twice
 *   reorder=P%         hold P % of packets back until reorder_gap later
 *                      packets have left (default 3) or reorder_delay has
 *                      passed (default 100 ms), whichever comes first;
 *                      reorder_gap=0 means by time only.
 *   rate=R             bottleneck rate: bit, kbit, mbit, gbit (powers of
 *                      1000), e.g. 1000kbit, 2.5mbit; rate=off (default)
 *   queue=Q            drop-tail limit of the rate queue in bytes (B, kB,
 *                      MB = powers of 1000; KiB, MiB) or in time at the
 *                      current rate (us, ms, s). Default 300ms.
 *   trace=FILE         Mahimahi trace instead of rate (trace=off); with
 *                      scale=F each opportunity is worth 1500*F bytes
 *                      (default 1). A queue limit in time uses the trace's
 *                      mean rate times the scale.
 *   outage=T           link down for T from the moment the spec applies
 * Times: us, ms, s (decimals allowed: 1.5s). Percentages need '%'; ge's
 * probabilities are fractions (0.05) or percentages (5%).
 *
 * Ownership: a parsed spec that names a trace owns the loaded trace; free it
 * with hc_imp_spec_fini(). Links borrow spec->trace, so keep the spec alive
 * as long as any link may replay it. Threading: none.
 */
#ifndef HC_IMPAIR_SPEC_H
#define HC_IMPAIR_SPEC_H

#include "tools/hc-impair/mmtrace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HC_IMP_SET_DELAY = 1u << 0,
    HC_IMP_SET_JITTER = 1u << 1,
    HC_IMP_SET_JITTER_DIST = 1u << 2,
    HC_IMP_SET_LOSS = 1u << 3,
    HC_IMP_SET_GE = 1u << 4,
    HC_IMP_SET_DUP = 1u << 5,
    HC_IMP_SET_REORDER = 1u << 6,
    HC_IMP_SET_REORDER_GAP = 1u << 7,
    HC_IMP_SET_REORDER_DELAY = 1u << 8,
    HC_IMP_SET_RATE = 1u << 9,
    HC_IMP_SET_QUEUE = 1u << 10,
    HC_IMP_SET_TRACE = 1u << 11,
    HC_IMP_SET_SCALE = 1u << 12,
    HC_IMP_SET_OUTAGE = 1u << 13,
};

typedef struct hc_imp_spec {
    uint32_t set; /* HC_IMP_SET_* of the keys present */
    uint64_t delay_us;
    uint64_t jitter_us;
    bool jitter_normal;
    double loss;
    bool ge_on;
    double ge_p, ge_r, ge_k, ge_h;
    double dup;
    double reorder;
    uint32_t reorder_gap;
    uint64_t reorder_delay_us;
    uint64_t rate_bps;    /* 0 = unlimited */
    uint64_t queue_bytes; /* one of queue_bytes / queue_us is non-zero */
    uint64_t queue_us;
    const hc_mmtrace_t *trace; /* NULL = trace=off */
    hc_mmtrace_t *trace_owned;
    double scale;
    uint64_t outage_us;
} hc_imp_spec_t;

/* Parse a spec. Returns 0, or -HC_ECONFIG (bad key/value) / -HC_EIO (trace
 * unreadable) with a message naming the word in err. On error nothing needs
 * freeing. */
int hc_imp_spec_parse(hc_imp_spec_t *out, const char *text, char *err, size_t errlen);
void hc_imp_spec_fini(hc_imp_spec_t *s);

/* Value parsers shared with the script and the command line; 0 or -HC_ECONFIG. */
int hc_imp_parse_time(const char *s, size_t len, uint64_t *us);
int hc_imp_parse_rate(const char *s, size_t len, uint64_t *bps);

#endif
