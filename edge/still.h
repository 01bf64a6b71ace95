/*
 * still.h - a consult's stills: one full-resolution picture as an H.264
 * IDR access unit no bigger than a byte budget.
 *
 * Below the diagnostic video's floor the clinic sends a still every few
 * seconds (proto/ladder.h STILLS). A still must fit the link: the ladder
 * gives the rate and the interval, and the still gets 80 % of what the
 * interval carries (the rest for its retransmissions). Rate control does
 * not size a lone picture well (x264's first frame after an open overshoots
 * its VBV by 2x and more), so stills use a constant-quantizer encoder
 * (edge/venc.h, cfg.qp) and steer the quantizer by the sizes it gets: a
 * still more than 15 % over budget is encoded again, coarser by the
 * quantizer steps its excess needs (6 per doubling, H.264's scale), up to
 * HC_STILL_TRIES times; one under half its budget makes the next still
 * finer by half the steps its room allows. A still over budget at the
 * coarsest quantizer goes anyway: the caller spaces stills by their real
 * size.
 *
 * Ownership: hc_still_t is caller storage; the encoder inside is opened on
 * the first still and when the size or quantizer changes; hc_still_fini()
 * frees it. The access unit returned stays valid until the next call.
 * Threading: one thread (the stream's encoder thread).
 */
#ifndef HC_EDGE_STILL_H
#define HC_EDGE_STILL_H

#include "edge/venc.h"

#include <stddef.h>

#define HC_STILL_TRIES  3
#define HC_STILL_QP_MIN 12
#define HC_STILL_QP_MAX 51
#define HC_STILL_QP0    30 /* the first still's quantizer */

typedef struct hc_still {
    hc_venc_t *enc;
    int width, height, qp, enc_qp;
    /* counters */
    uint64_t stills, encodes, over_budget; /* over_budget: sent over it after the tries */
} hc_still_t;

void hc_still_init(hc_still_t *s);
void hc_still_fini(hc_still_t *s);

/* The quantizer after a still of `bytes` made at qp against `budget`:
 * coarser when more than 15 % over, finer when under half, else qp. */
int hc_still_next_qp(int qp, size_t bytes, size_t budget);

/* Encode pic scaled to width x height as an IDR of at most budget bytes
 * (see above). hook as in hc_venc_encode(), run on every try. Returns 1
 * with *out filled, or -HC_E* from the encoder. */
int hc_still_encode(hc_still_t *s, const hc_venc_pic_t *pic, int width, int height, size_t budget,
                    hc_venc_hook_fn hook, void *ud, hc_venc_out_t *out);

#endif
