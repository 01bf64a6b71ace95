/*
 * session_stats.c - what hc-edge prints about its session every second
 * (session.h): the stats JSON object of --stats-json and the human live
 * line. Pure formatting of a snapshot; the session takes the snapshots.
 */
#include "edge/session.h"

#include "proto/err.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t cap, len;
    bool over;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    if (b->over) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->over = true;
        b->len = b->cap ? b->cap - 1 : 0;
        return;
    }
    b->len += (size_t)n;
}

/* A JSON string (RFC 8259 section 7): quotes, backslash and control
 * characters escaped, UTF-8 passed through. */
static void sb_jstr(sbuf_t *b, const char *s)
{
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p && !b->over; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

static void sb_num(sbuf_t *b, const char *key, double v, int prec)
{
    if (isfinite(v))
        sb_printf(b, ",\"%s\":%.*f", key, prec, v);
    else
        sb_printf(b, ",\"%s\":null", key);
}

int hc_edge_stats_json(const hc_edge_stats_t *st, const hc_edge_session_counters_t *c, double t_s,
                       uint64_t wall_ms, char *buf, size_t cap)
{
    if (!buf || !cap || !c) return -HC_EINVAL;
    sbuf_t b = {buf, cap, 0, false};
    sb_printf(&b, "{\"t\":%.3f,\"wall_ms\":%" PRIu64 ",\"state\":", t_s, wall_ms);
    sb_jstr(&b, hc_edge_sess_state_name(c->state));
    sb_printf(&b, ",\"participant\":");
    sb_jstr(&b, c->participant);
    sb_printf(&b,
              ",\"connects\":%" PRIu64 ",\"disconnects\":%" PRIu64 ",\"joins\":%" PRIu64
              ",\"rekeys\":%" PRIu64 ",\"media\":%s",
              c->connects, c->disconnects, c->joins, c->rekeys, st ? "true" : "false");
    if (st) {
        sb_printf(&b, ",\"link_up\":%s,\"estimate_kbps\":%u,\"budget_kbps\":%u",
                  st->link_up ? "true" : "false", st->estimate_bps / 1000, st->budget_bps / 1000);
        sb_num(&b, "rtt_ms", st->rtt_ms, 1);
        sb_num(&b, "uplink_loss", st->uplink_loss, 4);
    }
    sb_printf(&b, ",\"pub\":[");
    for (size_t i = 0; st && i < st->n_pub && i < 8; i++) {
        const hc_edge_pub_stats_t *p = &st->pub[i];
        sb_printf(&b, "%s{\"mid\":", i ? "," : "");
        sb_jstr(&b, p->mid);
        sb_printf(&b,
                  ",\"width\":%d,\"height\":%d,\"fps\":%d,\"target_kbps\":%u,\"sent_kbps\":%u,"
                  "\"stills\":%s,\"stopped\":%s,\"frames\":%" PRIu64 ",\"keyframes\":%" PRIu64
                  ",\"plis\":%" PRIu64 ",\"nacks\":%" PRIu64 ",\"rtx\":%" PRIu64
                  ",\"fec_packets\":%" PRIu64 ",\"layer\":%d,\"stops\":%" PRIu64 "}",
                  p->width, p->height, p->fps, p->target_bps / 1000, p->sent_bps / 1000,
                  p->stills ? "true" : "false", p->stopped ? "true" : "false", p->frames,
                  p->keyframes, p->plis, p->nacks, p->rtx, p->fec_packets, p->layer, p->stops);
    }
    sb_printf(&b, "],\"recv\":[");
    for (size_t i = 0; st && i < st->n_recv && i < 24; i++) {
        const hc_edge_recv_stats_t *r = &st->recv[i];
        sb_printf(&b, "%s{\"mid\":", i ? "," : "");
        sb_jstr(&b, r->mid);
        sb_printf(&b, ",\"label\":");
        sb_jstr(&b, r->label);
        sb_printf(&b, ",\"width\":%d,\"height\":%d,\"kbps\":%u", r->width, r->height,
                  r->bitrate_bps / 1000);
        sb_num(&b, "loss_before", r->loss_before, 4);
        sb_num(&b, "loss_after", r->loss_after, 4);
        sb_printf(
            &b,
            ",\"frames_on_time\":%" PRIu64 ",\"frames_late\":%" PRIu64 ",\"frames_lost\":%" PRIu64
            ",\"freezes\":%" PRIu64 ",\"audio_concealed\":%" PRIu64,
            r->frames_on_time, r->frames_late, r->frames_lost, r->freezes, r->audio_concealed);
        sb_num(&b, "delay_ms", r->delay_ms, 1);
        sb_num(&b, "jitter_buffer_ms", r->jitter_buffer_ms, 1);
        sb_printf(&b, ",\"stamp_ok\":%" PRIu64 ",\"stamp_bad\":%" PRIu64 "}", r->stamp_ok,
                  r->stamp_bad);
    }
    sb_printf(&b, "]}");
    return b.over ? -HC_ENOSPC : (int)b.len;
}

static void fmt_rate(char *out, size_t cap, uint32_t bps)
{
    if (bps >= 1000000)
        snprintf(out, cap, "%.2fM", bps / 1e6);
    else
        snprintf(out, cap, "%uk", bps / 1000);
}

int hc_edge_stats_line(const hc_edge_stats_t *st, const hc_edge_session_counters_t *c, double t_s,
                       char *buf, size_t cap)
{
    if (!buf || !cap || !c) return -HC_EINVAL;
    sbuf_t b = {buf, cap, 0, false};
    sb_printf(&b, "[%6.1fs] %s", t_s, hc_edge_sess_state_name(c->state));
    if (c->participant[0]) sb_printf(&b, " %s", c->participant);
    if (!st) return (int)b.len;
    char r1[16], r2[16];
    fmt_rate(r1, sizeof r1, st->estimate_bps);
    sb_printf(&b, " | est %s", r1);
    if (st->budget_bps) {
        fmt_rate(r2, sizeof r2, st->budget_bps);
        sb_printf(&b, " (budget %s)", r2);
    }
    if (isfinite(st->rtt_ms)) sb_printf(&b, " rtt %.0fms", st->rtt_ms);
    if (!st->link_up) sb_printf(&b, " LINK DOWN");
    /* Simulcast layers: one entry each (their mids end in -l1, -l2), and
     * the count of those sending after the estimate. */
    int layers = 0, sending = 0;
    for (size_t i = 0; i < st->n_pub && i < 8; i++)
        if (st->pub[i].layer) layers++;
    for (size_t i = 0; layers && i < st->n_pub && i < 8; i++)
        if (st->pub[i].width && !st->pub[i].stopped) sending++;
    if (layers) sb_printf(&b, " video layers %d/%d", sending, layers + 1);
    for (size_t i = 0; i < st->n_pub && i < 8; i++) {
        const hc_edge_pub_stats_t *p = &st->pub[i];
        fmt_rate(r1, sizeof r1, p->sent_bps);
        fmt_rate(r2, sizeof r2, p->target_bps);
        sb_printf(&b, " | up %s ", p->mid);
        if (p->stopped)
            sb_printf(&b, "stopped");
        else if (p->width)
            sb_printf(&b, "%dx%d@%d%s %s/%s", p->width, p->height, p->fps,
                      p->stills ? " stills" : "", r1, r2);
        else
            sb_printf(&b, "%s/%s", r1, r2);
    }
    for (size_t i = 0; i < st->n_recv && i < 24; i++) {
        const hc_edge_recv_stats_t *r = &st->recv[i];
        fmt_rate(r1, sizeof r1, r->bitrate_bps);
        sb_printf(&b, " | down %s", r->mid);
        if (r->label[0]) sb_printf(&b, "(%s)", r->label);
        if (r->width) sb_printf(&b, " %dx%d", r->width, r->height);
        sb_printf(&b, " %s loss %.1f%%>%.1f%% ontime %" PRIu64, r1,
                  isfinite(r->loss_before) ? r->loss_before * 100 : 0.0,
                  isfinite(r->loss_after) ? r->loss_after * 100 : 0.0, r->frames_on_time);
        if (r->frames_late) sb_printf(&b, " late %" PRIu64, r->frames_late);
        if (isfinite(r->delay_ms) && r->delay_ms > 0) sb_printf(&b, " delay %.0fms", r->delay_ms);
    }
    return (int)b.len;
}
