/*
 * sigserver_http.c - plain HTTP on the signaling port: GET /metrics in the
 * Prometheus text exposition format 0.0.4 and GET /healthz; everything
 * else is 404 (405 for other methods).
 *
 * The body is built completely before the headers go out (so
 * Content-Length is exact), then written in pieces as the socket takes
 * them.
 */
#include "relay/sigserver_int.h"

#include "relay/log.h"

#include <stdlib.h>
#include <string.h>

#define HTTP_CHUNK 16384

static int respond(struct lws *wsi, sig_pss_t *pss, unsigned status, const char *ctype, char *body,
                   size_t len)
{
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    free(pss->body);
    pss->body = body;
    pss->body_len = len;
    pss->body_off = 0;
    if (lws_add_http_common_headers(wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    lws_callback_on_writable(wsi);
    return 0;
}

static int respond_text(struct lws *wsi, sig_pss_t *pss, unsigned status, const char *text)
{
    char *b = strdup(text);
    if (!b) return -1;
    return respond(wsi, pss, status, "text/plain; charset=utf-8", b, strlen(b));
}

void sig_metrics_write(hc_sigserver_t *s, FILE *f)
{
    hc_sigserver_counters_t k;
    hc_sigserver_counters(s, &k);
    fprintf(f,
            "# HELP hc_relay_signaling_connections Open signaling WebSocket connections.\n"
            "# TYPE hc_relay_signaling_connections gauge\n"
            "hc_relay_signaling_connections %u\n",
            k.websockets);
    fprintf(f,
            "# HELP hc_relay_signaling_authenticated Signaling connections past hello.\n"
            "# TYPE hc_relay_signaling_authenticated gauge\n"
            "hc_relay_signaling_authenticated %u\n",
            k.authenticated);
    fprintf(f,
            "# HELP hc_relay_signaling_messages_total Signaling frames received and sent.\n"
            "# TYPE hc_relay_signaling_messages_total counter\n"
            "hc_relay_signaling_messages_total{dir=\"rx\"} %llu\n"
            "hc_relay_signaling_messages_total{dir=\"tx\"} %llu\n",
            (unsigned long long)k.rx_msgs, (unsigned long long)k.tx_msgs);
    fprintf(f, "# HELP hc_relay_signaling_rejects_total Signaling connections and frames "
               "refused, by cause.\n"
               "# TYPE hc_relay_signaling_rejects_total counter\n");
    for (int i = 0; i < HC_SIGSERVER_REJ_COUNT; i++)
        fprintf(f, "hc_relay_signaling_rejects_total{cause=\"%s\"} %llu\n",
                hc_sigserver_reject_name((hc_sigserver_reject_t)i),
                (unsigned long long)k.rejects[i]);
}

int sig_http_request(hc_sigserver_t *s, struct lws *wsi, sig_pss_t *pss, const char *path)
{
    pthread_mutex_lock(&s->mu);
    s->cnt.http_requests++;
    pthread_mutex_unlock(&s->mu);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
        return respond_text(wsi, pss, 405, "method not allowed\n");
    if (!strcmp(path, "/healthz")) {
        if (atomic_load(&s->draining)) return respond_text(wsi, pss, 503, "draining\n");
        return respond_text(wsi, pss, 200, "ok\n");
    }
    if (!strcmp(path, "/metrics")) {
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        if (!f) return respond_text(wsi, pss, 500, "out of memory\n");
        sig_metrics_write(s, f);
        if (s->h.metrics && sig_gate_enter(s)) {
            s->h.metrics(s->h.ud, f);
            sig_gate_leave(s);
        }
        if (fclose(f) != 0) {
            free(body);
            return respond_text(wsi, pss, 500, "out of memory\n");
        }
        return respond(wsi, pss, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
    }
    return respond_text(wsi, pss, 404, "not found\n");
}

int sig_http_writeable(hc_sigserver_t *s, struct lws *wsi, sig_pss_t *pss)
{
    (void)s;
    if (!pss->body) return 0;
    size_t left = pss->body_len - pss->body_off;
    size_t n = left > HTTP_CHUNK ? HTTP_CHUNK : left;
    unsigned char *buf = malloc(LWS_PRE + (n ? n : 1));
    if (!buf) return -1;
    memcpy(buf + LWS_PRE, pss->body + pss->body_off, n);
    bool last = n == left;
    int w = lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    free(buf);
    if (w < 0) return -1;
    pss->body_off += n;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }
    free(pss->body);
    pss->body = NULL;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
