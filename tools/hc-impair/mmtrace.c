#include "tools/hc-impair/mmtrace.h"

#include "proto/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest trace file we read: the published traces are under 1 MB. */
#define HC_MMTRACE_MAX_FILE (64u << 20)

int hc_mmtrace_parse(hc_mmtrace_t **out, const char *text, size_t len, char *err, size_t errlen)
{
    if (!out || (!text && len)) return -HC_EINVAL;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    hc_mmtrace_t *t = calloc(1, sizeof *t);
    uint32_t *ms = calloc(lines, sizeof *ms);
    if (!t || !ms) {
        free(t);
        free(ms);
        snprintf(err, errlen, "out of memory");
        return -HC_ENOMEM;
    }
    size_t n = 0, pos = 0, lineno = 0;
    while (pos < len) {
        lineno++;
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t a = pos, b = end;
        while (a < b && (text[a] == ' ' || text[a] == '\t')) a++;
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\r')) b--;
        pos = end + 1;
        if (a == b) continue;
        uint64_t v = 0;
        for (size_t i = a; i < b; i++) {
            if (text[i] < '0' || text[i] > '9' || v > UINT32_MAX / 10) {
                snprintf(err, errlen, "line %zu: '%.*s' is not a time in milliseconds", lineno,
                         (int)(b - a > 40 ? 40 : b - a), text + a);
                goto bad;
            }
            v = v * 10 + (uint64_t)(text[i] - '0');
        }
        if (v > UINT32_MAX) {
            snprintf(err, errlen, "line %zu: time too large", lineno);
            goto bad;
        }
        if (n > 0 && v < ms[n - 1]) {
            snprintf(err, errlen, "line %zu: time %llu is before the previous line's %u", lineno,
                     (unsigned long long)v, ms[n - 1]);
            goto bad;
        }
        ms[n++] = (uint32_t)v;
    }
    if (n == 0) {
        snprintf(err, errlen, "trace has no delivery opportunities");
        goto bad;
    }
    if (ms[n - 1] == 0) {
        snprintf(err, errlen, "trace must last longer than 0 ms (last time is 0)");
        goto bad;
    }
    t->ms = ms;
    t->n = n;
    t->period_ms = ms[n - 1];
    *out = t;
    return 0;
bad:
    free(ms);
    free(t);
    return -HC_EMALFORMED;
}

int hc_mmtrace_load(hc_mmtrace_t **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path) return -HC_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open trace '%s': %s", path, strerror(errno));
        return -HC_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            size_t ncap = cap ? cap * 2 : 262144;
            if (ncap > HC_MMTRACE_MAX_FILE) {
                snprintf(err, errlen, "trace '%s' is larger than %u bytes", path,
                         HC_MMTRACE_MAX_FILE);
                free(buf);
                fclose(f);
                return -HC_EMALFORMED;
            }
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory reading '%s'", path);
                return -HC_ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        snprintf(err, errlen, "cannot read trace '%s'", path);
        return -HC_EIO;
    }
    char sub[200];
    int rc = hc_mmtrace_parse(out, buf, len, sub, sizeof sub);
    free(buf);
    if (rc < 0) snprintf(err, errlen, "trace '%s': %s", path, sub);
    return rc;
}

void hc_mmtrace_destroy(hc_mmtrace_t **t)
{
    if (!t || !*t) return;
    free((*t)->ms);
    free(*t);
    *t = NULL;
}

double hc_mmtrace_mean_bps(const hc_mmtrace_t *t, double scale)
{
    return (double)t->n * 1500.0 * 8.0 * scale * 1000.0 / (double)t->period_ms;
}

/* Opportunities in [0, x) of the looped schedule. */
static uint64_t count_below(const hc_mmtrace_t *t, uint64_t x)
{
    uint64_t loops = x / t->period_ms;
    uint64_t rem = x % t->period_ms;
    /* The last opportunity of loop k-1 sits exactly at k * period. */
    if (rem == 0 && loops > 0) {
        loops--;
        rem = t->period_ms;
    }
    /* first index with ms >= rem (binary search) */
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ms[mid] < rem)
            lo = mid + 1;
        else
            hi = mid;
    }
    return loops * t->n + lo;
}

uint64_t hc_mmtrace_count(const hc_mmtrace_t *t, uint64_t from_ms, uint64_t to_ms)
{
    if (!t || to_ms <= from_ms) return 0;
    return count_below(t, to_ms) - count_below(t, from_ms);
}
