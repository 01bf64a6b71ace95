#include "tools/hc-impair/spec.h"

#include "proto/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest word (key=value) we accept; trace paths are the long ones. */
#define WORD_MAX 1024

/* Limits that catch typos (delay=40s meant as 40ms still passes; 40000s not). */
#define MAX_TIME_US (3600ull * 1000000ull)

/* Split "12.5ms" into 12.5 and "ms". The number must be finite and >= 0. */
static int number_unit(const char *s, size_t len, double *v, const char **unit, size_t *ulen)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp) return -HC_ECONFIG;
    memcpy(tmp, s, len);
    tmp[len] = 0;
    if (!(tmp[0] >= '0' && tmp[0] <= '9') && tmp[0] != '.') return -HC_ECONFIG;
    char *end;
    double d = strtod(tmp, &end);
    if (end == tmp || !isfinite(d) || d < 0) return -HC_ECONFIG;
    /* strtod accepts hex and exponents; allow only plain decimals */
    for (const char *p = tmp; p < end; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.')) return -HC_ECONFIG;
    *v = d;
    *unit = s + (end - tmp);
    *ulen = len - (size_t)(end - tmp);
    return 0;
}

static int unit_is(const char *u, size_t ulen, const char *name)
{
    return strlen(name) == ulen && strncasecmp(u, name, ulen) == 0;
}

int hc_imp_parse_time(const char *s, size_t len, uint64_t *us)
{
    double v;
    const char *u;
    size_t ul;
    if (number_unit(s, len, &v, &u, &ul) < 0) return -HC_ECONFIG;
    double mult;
    if (unit_is(u, ul, "us"))
        mult = 1;
    else if (unit_is(u, ul, "ms"))
        mult = 1e3;
    else if (unit_is(u, ul, "s"))
        mult = 1e6;
    else
        return -HC_ECONFIG;
    double r = v * mult;
    if (r > (double)MAX_TIME_US) return -HC_ECONFIG;
    *us = (uint64_t)llround(r);
    return 0;
}

int hc_imp_parse_rate(const char *s, size_t len, uint64_t *bps)
{
    double v;
    const char *u;
    size_t ul;
    if (number_unit(s, len, &v, &u, &ul) < 0) return -HC_ECONFIG;
    double mult;
    if (unit_is(u, ul, "bit") || unit_is(u, ul, "bps"))
        mult = 1;
    else if (unit_is(u, ul, "kbit") || unit_is(u, ul, "kbps"))
        mult = 1e3;
    else if (unit_is(u, ul, "mbit") || unit_is(u, ul, "mbps"))
        mult = 1e6;
    else if (unit_is(u, ul, "gbit") || unit_is(u, ul, "gbps"))
        mult = 1e9;
    else
        return -HC_ECONFIG;
    double r = v * mult;
    if (r < 1 || r > 1e12) return -HC_ECONFIG;
    *bps = (uint64_t)llround(r);
    return 0;
}

static int parse_bytes(const char *s, size_t len, uint64_t *bytes)
{
    double v;
    const char *u;
    size_t ul;
    if (number_unit(s, len, &v, &u, &ul) < 0) return -HC_ECONFIG;
    double mult;
    if (unit_is(u, ul, "b"))
        mult = 1;
    else if (unit_is(u, ul, "kb"))
        mult = 1e3;
    else if (unit_is(u, ul, "mb"))
        mult = 1e6;
    else if (unit_is(u, ul, "kib"))
        mult = 1024;
    else if (unit_is(u, ul, "mib"))
        mult = 1048576;
    else
        return -HC_ECONFIG;
    double r = v * mult;
    if (r < 1 || r > 1e10) return -HC_ECONFIG;
    *bytes = (uint64_t)llround(r);
    return 0;
}

/* "3%" -> 0.03. With allow_fraction, "0.03" too. */
static int parse_prob(const char *s, size_t len, bool allow_fraction, double *p)
{
    double v;
    const char *u;
    size_t ul;
    if (number_unit(s, len, &v, &u, &ul) < 0) return -HC_ECONFIG;
    if (ul == 1 && u[0] == '%')
        v /= 100.0;
    else if (!(ul == 0 && allow_fraction))
        return -HC_ECONFIG;
    if (v > 1.0) return -HC_ECONFIG;
    *p = v;
    return 0;
}

static int parse_uint(const char *s, size_t len, uint32_t max, uint32_t *out)
{
    if (len == 0 || len > 10) return -HC_ECONFIG;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -HC_ECONFIG;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > max) return -HC_ECONFIG;
    *out = (uint32_t)v;
    return 0;
}

static int parse_ge(const char *s, size_t len, hc_imp_spec_t *o)
{
    double v[4] = {0, 0, 1, 0}; /* p, r, k=1, h=0 */
    size_t n = 0, pos = 0;
    for (;;) {
        size_t end = pos;
        while (end < len && s[end] != ',') end++;
        if (n == 4 || parse_prob(s + pos, end - pos, true, &v[n]) < 0) return -HC_ECONFIG;
        n++;
        if (end == len) break;
        pos = end + 1;
    }
    if (n != 2 && n != 4) return -HC_ECONFIG;
    if (v[1] <= 0) return -HC_ECONFIG; /* r = 0 would stay in bad for ever */
    o->ge_on = true;
    o->ge_p = v[0];
    o->ge_r = v[1];
    o->ge_k = v[2];
    o->ge_h = v[3];
    return 0;
}

static bool is_off(const char *v, size_t len)
{
    return unit_is(v, len, "off");
}

int hc_imp_spec_parse(hc_imp_spec_t *out, const char *text, char *err, size_t errlen)
{
    if (!out || !text) return -HC_EINVAL;
    hc_imp_spec_t o;
    memset(&o, 0, sizeof o);
    o.scale = 1.0;
    int rc = 0;
    const char *p = text;
    char word[WORD_MAX];
    const char *what = NULL; /* expected form, for the message */
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        size_t wl = (size_t)(p - w);
        if (wl >= sizeof word) {
            snprintf(err, errlen, "word '%.40s...' too long", w);
            rc = -HC_ECONFIG;
            goto fail;
        }
        memcpy(word, w, wl);
        word[wl] = 0;
        char *eq = strchr(word, '=');
        if (!eq || eq == word || !eq[1]) {
            snprintf(err, errlen, "'%s' is not key=value", word);
            rc = -HC_ECONFIG;
            goto fail;
        }
        size_t kl = (size_t)(eq - word);
        const char *v = eq + 1;
        size_t vl = wl - kl - 1;
        uint32_t bit = 0;
        int r = -HC_ECONFIG;
#define KEY(name) (kl == strlen(name) && strncmp(word, name, kl) == 0)
        if (KEY("delay")) {
            bit = HC_IMP_SET_DELAY, what = "a time like 40ms";
            r = hc_imp_parse_time(v, vl, &o.delay_us);
        } else if (KEY("jitter")) {
            bit = HC_IMP_SET_JITTER, what = "a time like 5ms";
            r = hc_imp_parse_time(v, vl, &o.jitter_us);
        } else if (KEY("jitter_dist")) {
            bit = HC_IMP_SET_JITTER_DIST, what = "uniform or normal";
            if (unit_is(v, vl, "uniform"))
                o.jitter_normal = false, r = 0;
            else if (unit_is(v, vl, "normal"))
                o.jitter_normal = true, r = 0;
        } else if (KEY("loss")) {
            bit = HC_IMP_SET_LOSS, what = "a percentage like 3%";
            r = parse_prob(v, vl, false, &o.loss);
        } else if (KEY("ge")) {
            bit = HC_IMP_SET_GE, what = "p,r or p,r,k,h with probabilities, r > 0, or off";
            if (is_off(v, vl))
                o.ge_on = false, r = 0;
            else
                r = parse_ge(v, vl, &o);
        } else if (KEY("dup")) {
            bit = HC_IMP_SET_DUP, what = "a percentage like 1%";
            r = parse_prob(v, vl, false, &o.dup);
        } else if (KEY("reorder")) {
            bit = HC_IMP_SET_REORDER, what = "a percentage like 2%";
            r = parse_prob(v, vl, false, &o.reorder);
        } else if (KEY("reorder_gap")) {
            bit = HC_IMP_SET_REORDER_GAP, what = "a packet count 0..1000";
            r = parse_uint(v, vl, 1000, &o.reorder_gap);
        } else if (KEY("reorder_delay")) {
            bit = HC_IMP_SET_REORDER_DELAY, what = "a time like 30ms";
            r = hc_imp_parse_time(v, vl, &o.reorder_delay_us);
        } else if (KEY("rate")) {
            bit = HC_IMP_SET_RATE, what = "a rate like 1000kbit or 2.5mbit, or off";
            if (is_off(v, vl))
                o.rate_bps = 0, r = 0;
            else
                r = hc_imp_parse_rate(v, vl, &o.rate_bps);
        } else if (KEY("queue")) {
            bit = HC_IMP_SET_QUEUE, what = "bytes like 64kB or a time like 200ms";
            o.queue_bytes = o.queue_us = 0;
            r = parse_bytes(v, vl, &o.queue_bytes);
            if (r < 0) {
                r = hc_imp_parse_time(v, vl, &o.queue_us);
                if (r == 0 && o.queue_us == 0) r = -HC_ECONFIG;
            }
        } else if (KEY("scale")) {
            bit = HC_IMP_SET_SCALE, what = "a factor like 0.25 (0 < F <= 1000)";
            const char *u;
            size_t ul;
            if (number_unit(v, vl, &o.scale, &u, &ul) == 0 && ul == 0 && o.scale > 0 &&
                o.scale <= 1000)
                r = 0;
        } else if (KEY("outage")) {
            bit = HC_IMP_SET_OUTAGE, what = "a time like 3s";
            r = hc_imp_parse_time(v, vl, &o.outage_us);
        } else if (KEY("trace")) {
            bit = HC_IMP_SET_TRACE;
            if (o.set & bit) {
                snprintf(err, errlen, "key 'trace' given twice");
                rc = -HC_ECONFIG;
                goto fail;
            }
            if (is_off(v, vl)) {
                r = 0;
            } else {
                char terr[256];
                r = hc_mmtrace_load(&o.trace_owned, v, terr, sizeof terr);
                if (r < 0) {
                    snprintf(err, errlen, "%s", terr);
                    rc = r == -HC_EMALFORMED ? -HC_ECONFIG : r;
                    goto fail;
                }
                o.trace = o.trace_owned;
            }
        } else {
            snprintf(err, errlen,
                     "unknown key '%.*s' (known: delay jitter jitter_dist loss ge dup reorder "
                     "reorder_gap reorder_delay rate queue trace scale outage)",
                     (int)kl, word);
            rc = -HC_ECONFIG;
            goto fail;
        }
#undef KEY
        if (o.set & bit) {
            snprintf(err, errlen, "key '%.*s' given twice", (int)kl, word);
            rc = -HC_ECONFIG;
            goto fail;
        }
        if (r < 0) {
            snprintf(err, errlen, "bad value in '%s': expected %s", word, what);
            rc = -HC_ECONFIG;
            goto fail;
        }
        o.set |= bit;
    }
    if ((o.set & HC_IMP_SET_RATE) && (o.set & HC_IMP_SET_TRACE) && o.rate_bps && o.trace) {
        snprintf(err, errlen, "rate and trace cannot both be on: a trace sets the rate");
        rc = -HC_ECONFIG;
        goto fail;
    }
    if (o.set == 0) {
        snprintf(err, errlen, "empty spec");
        rc = -HC_ECONFIG;
        goto fail;
    }
    *out = o;
    return 0;
fail:
    hc_imp_spec_fini(&o);
    return rc;
}

void hc_imp_spec_fini(hc_imp_spec_t *s)
{
    if (!s) return;
    hc_mmtrace_destroy(&s->trace_owned);
    s->trace = NULL;
}
