/* still.c - stills under a byte budget; see still.h. */
#include "edge/still.h"

#include "proto/err.h"

#include <math.h>
#include <string.h>

void hc_still_init(hc_still_t *s)
{
    memset(s, 0, sizeof *s);
    s->qp = HC_STILL_QP0;
}

void hc_still_fini(hc_still_t *s)
{
    hc_venc_destroy(&s->enc);
}

static int clamp_qp(int qp)
{
    return qp < HC_STILL_QP_MIN ? HC_STILL_QP_MIN : qp > HC_STILL_QP_MAX ? HC_STILL_QP_MAX : qp;
}

int hc_still_next_qp(int qp, size_t bytes, size_t budget)
{
    if (!budget || !bytes) return clamp_qp(qp);
    double r = (double)bytes / (double)budget;
    if (r > 1.15) return clamp_qp(qp + (int)ceil(6.0 * log2(r)));
    if (r < 0.5) {
        int d = (int)floor(6.0 * log2(1.0 / r) / 2.0);
        return clamp_qp(qp - (d < 1 ? 1 : d));
    }
    return clamp_qp(qp);
}

/* An encoder at the size and quantizer asked for (reopened on a change). */
static int ensure_enc(hc_still_t *s, int width, int height)
{
    if (s->enc && s->width == width && s->height == height && s->enc_qp == s->qp) return 0;
    hc_venc_destroy(&s->enc);
    hc_venc_cfg_t c;
    hc_venc_cfg_default(&c, width, height, 1, 100000);
    c.qp = s->qp;
    c.threads = width * height >= 1280 * 720 ? 2 : 1;
    int rc = hc_venc_new(&s->enc, &c, NULL, 0);
    if (rc < 0) return rc;
    s->width = width;
    s->height = height;
    s->enc_qp = s->qp;
    return 0;
}

int hc_still_encode(hc_still_t *s, const hc_venc_pic_t *pic, int width, int height, size_t budget,
                    hc_venc_hook_fn hook, void *ud, hc_venc_out_t *out)
{
    for (int t = 0; t < HC_STILL_TRIES; t++) {
        int rc = ensure_enc(s, width, height);
        if (rc < 0) return rc;
        hc_venc_request_keyframe(s->enc);
        rc = hc_venc_encode(s->enc, pic, hook, ud, out);
        if (rc < 0) return rc;
        if (rc == 0) return -HC_ECODEC; /* zerolatency: a picture in, an AU out */
        s->encodes++;
        int next = hc_still_next_qp(s->qp, out->len, budget);
        bool over = next > s->qp;
        s->qp = next;
        if (!over || t + 1 == HC_STILL_TRIES) break;
        if (s->enc_qp == HC_STILL_QP_MAX) break; /* as small as it gets */
    }
    if (budget && out->len > budget + budget * 15 / 100) s->over_budget++;
    s->stills++;
    return 1;
}
