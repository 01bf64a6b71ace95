#include "tools/hc-impair/report.h"

#include "proto/err.h"

#include <stdarg.h>

static const char *const drop_names[HC_IMP_DROP_N] = {
    "loss", "burst", "queue", "outage", "nobuf", "oversize", "noroute", "send",
};

const char *hc_imp_drop_name(hc_imp_drop_t d)
{
    return (unsigned)d < HC_IMP_DROP_N ? drop_names[d] : "unknown";
}

/* Bucket of v: exact below 64, then 64 sub-buckets per power of two. */
static size_t bucket_of(uint64_t v)
{
    if (v < HC_IMP_HIST_SUB) return (size_t)v;
    int e = 63 - __builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 6 */
    if (e > HC_IMP_HIST_MAXE) return HC_IMP_HIST_N - 1;
    size_t sub = (size_t)(v >> (e - 6)) - HC_IMP_HIST_SUB;
    return HC_IMP_HIST_SUB + (size_t)(e - 6) * HC_IMP_HIST_SUB + sub;
}

/* Largest value that falls in bucket i. */
static uint64_t bucket_top(size_t i)
{
    if (i < HC_IMP_HIST_SUB) return i;
    size_t e = (i - HC_IMP_HIST_SUB) / HC_IMP_HIST_SUB + 6;
    uint64_t sub = (i - HC_IMP_HIST_SUB) % HC_IMP_HIST_SUB + HC_IMP_HIST_SUB;
    return ((sub + 1) << (e - 6)) - 1;
}

void hc_imp_hist_add(hc_imp_hist_t *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->n++;
    if (v > h->max) h->max = v;
}

uint64_t hc_imp_hist_quantile(const hc_imp_hist_t *h, double q)
{
    if (h->n == 0) return 0;
    if (q <= 0) q = 0;
    if (q > 1) q = 1;
    uint64_t want = (uint64_t)(q * (double)h->n + 0.999999);
    if (want == 0) want = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HC_IMP_HIST_N; i++) {
        seen += h->b[i];
        if (seen >= want) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}

uint64_t hc_imp_stats_dropped(const hc_imp_stats_t *s)
{
    uint64_t n = 0;
    for (int i = 0; i < HC_IMP_DROP_N; i++) n += s->drop[i];
    return n;
}

typedef struct out {
    char *buf;
    size_t cap, len;
    int over;
} out_t;

__attribute__((format(printf, 2, 3))) static void put(out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(o->buf + (room ? o->len : 0), room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        o->over = 1;
    else
        o->len += (size_t)n;
}

static double rate_kbit(const hc_imp_stats_t *s, double elapsed_s)
{
    return elapsed_s > 0 ? (double)s->bytes_out * 8.0 / elapsed_s / 1000.0 : 0.0;
}

static void dir_json(out_t *o, const hc_imp_stats_t *s, uint64_t inflight, double elapsed_s)
{
    put(o,
        "{\"pkts_in\":%llu,\"bytes_in\":%llu,\"pkts_out\":%llu,\"bytes_out\":%llu,"
        "\"dropped\":{",
        (unsigned long long)s->pkts_in, (unsigned long long)s->bytes_in,
        (unsigned long long)s->pkts_out, (unsigned long long)s->bytes_out);
    for (int i = 0; i < HC_IMP_DROP_N; i++)
        put(o, "%s\"%s\":%llu", i ? "," : "", drop_names[i], (unsigned long long)s->drop[i]);
    put(o,
        "},\"dropped_total\":%llu,\"duplicated\":%llu,\"reordered\":%llu,\"inflight\":%llu,"
        "\"qdelay_ms\":{\"n\":%llu,\"p50\":%.3f,\"p95\":%.3f,\"max\":%.3f},"
        "\"rate_kbit\":%.3f}",
        (unsigned long long)hc_imp_stats_dropped(s), (unsigned long long)s->duplicated,
        (unsigned long long)s->reordered, (unsigned long long)inflight,
        (unsigned long long)s->qdelay_us.n, hc_imp_hist_quantile(&s->qdelay_us, 0.50) / 1000.0,
        hc_imp_hist_quantile(&s->qdelay_us, 0.95) / 1000.0, s->qdelay_us.max / 1000.0,
        rate_kbit(s, elapsed_s));
}

int hc_imp_report_json(const hc_imp_report_t *r, char *buf, size_t cap)
{
    if (!r || !buf || !r->dir[0] || !r->dir[1]) return -HC_EINVAL;
    out_t o = {buf, cap, 0, 0};
    put(&o, "{\"impair\":{\"elapsed_s\":%.3f,\"seed\":%llu,\"clients\":%u,\"rebinds\":%u,",
        r->elapsed_s, (unsigned long long)r->seed, r->clients, r->rebinds);
    put(&o, "\"up\":");
    dir_json(&o, r->dir[0], r->inflight[0], r->elapsed_s);
    put(&o, ",\"down\":");
    dir_json(&o, r->dir[1], r->inflight[1], r->elapsed_s);
    put(&o, "}}");
    if (o.over) return -HC_ENOSPC;
    return (int)o.len;
}

void hc_imp_report_text(const hc_imp_report_t *r, FILE *f)
{
    static const char *const names[2] = {"up", "down"};
    fprintf(f, "hc-impair: %.3f s, seed %llu, %u client(s), %u rebind(s)\n", r->elapsed_s,
            (unsigned long long)r->seed, r->clients, r->rebinds);
    for (int d = 0; d < 2; d++) {
        const hc_imp_stats_t *s = r->dir[d];
        fprintf(f,
                "  %-4s in %llu pkt %llu B, out %llu pkt %llu B (%.1f kbit/s), "
                "dup %llu, reordered %llu, inflight %llu\n",
                names[d], (unsigned long long)s->pkts_in, (unsigned long long)s->bytes_in,
                (unsigned long long)s->pkts_out, (unsigned long long)s->bytes_out,
                rate_kbit(s, r->elapsed_s), (unsigned long long)s->duplicated,
                (unsigned long long)s->reordered, (unsigned long long)r->inflight[d]);
        fprintf(f, "       dropped %llu:", (unsigned long long)hc_imp_stats_dropped(s));
        for (int i = 0; i < HC_IMP_DROP_N; i++)
            fprintf(f, " %s %llu", drop_names[i], (unsigned long long)s->drop[i]);
        fprintf(f, "\n       queue delay p50 %.3f ms, p95 %.3f ms, max %.3f ms (%llu samples)\n",
                hc_imp_hist_quantile(&s->qdelay_us, 0.50) / 1000.0,
                hc_imp_hist_quantile(&s->qdelay_us, 0.95) / 1000.0, s->qdelay_us.max / 1000.0,
                (unsigned long long)s->qdelay_us.n);
    }
}
