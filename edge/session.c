/*
 * session.c - hc-edge's signaling session (session.h).
 *
 * One thread (run's) owns everything: the current signaling client, the
 * state machine, the media engine, the stats. The signaling client's
 * service thread only queues the messages it delivers (and acknowledges
 * `control` at once) and wakes run's poll through an eventfd; so do
 * hc_edge_session_stop() and hc_edge_session_command(). Each connection
 * attempt is a fresh hcsigclient without automatic reconnect, so the
 * backoff, the create/join sequence and the media rekey after a drop are
 * all decided here, and messages of a client already given up (its
 * generation number is old) are dropped unread.
 */
#include "edge/session.h"

#include "edge/sigclient.h"
#include "proto/b64.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "relay/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#define CMD_QUEUE_MAX    64
#define CMD_LINE_MAX     (HC_SIG_BODY_MAX + 128)
#define PEERS_MAX        4096
#define LEAVE_WAIT_MS    1000
#define JSON_LINE_MAX    65536
#define CLOSE_CONFIRM_MS 3000

typedef struct qitem {
    struct qitem *next;
    uint32_t gen;
    hc_sig_msg_t *msg;
    bool acked; /* a `control` acknowledged on the client's thread */
} qitem_t;

typedef struct cmd {
    struct cmd *next;
    char line[];
} cmd_t;

/* What the client's callbacks need: the session and which connection. */
typedef struct conn_ctx {
    hc_edge_session_t *s;
    uint32_t gen;
    _Atomic(hc_sigclient_t *) sc;
} conn_ctx_t;

typedef struct peer {
    char id[HC_SIG_ID_MAX + 1];
    char site[HC_SIG_NAME_MAX + 1];
} peer_t;

struct hc_edge_session {
    hc_edge_session_opts_t o;
    const hc_edge_config_t *cfg;
    const hc_edge_media_ops_t *ops;
    int wake_fd;
    atomic_bool stop;

    pthread_mutex_t mu; /* queues, counters, closed_* */
    qitem_t *qhead, *qtail;
    cmd_t *chead, *ctail;
    size_t clen;
    hc_edge_session_counters_t c;

    /* the current connection */
    uint32_t gen;
    hc_sigclient_t *sc;
    conn_ctx_t *ctx;
    bool ready_seen; /* READY handled for this connection */
    bool resumed;
    uint32_t keepalive_ms, ping_ms;
    uint32_t create_id, join_id, leave_id;
    bool left;
    uint64_t last_rx_us, ping_sent_us;
    /* session_closed seen at this time: the relay may be going away (it
     * closes every session when it stops) or the host ended the session;
     * the connection dropping within CLOSE_CONFIRM_MS tells which. */
    uint64_t closed_at_us;

    /* timers (hc_now_us clock; 0 = off) */
    uint64_t t0, next_connect_us, next_join_us, next_ping_us, next_stats_us, end_us;
    uint32_t backoff_ms;
    uint64_t rng;

    /* media */
    hc_edge_media_t *m;
    bool paused;
    hc_edge_leg_t leg;
    uint32_t ssrc[HC_EDGE_PUB_MAX], rtx[HC_EDGE_PUB_MAX], fec[HC_EDGE_PUB_MAX];
    char rmid[HC_SIG_TRACKS_MAX][HC_SIG_MID_MAX + 1];
    char rlabel[HC_SIG_TRACKS_MAX][HC_SIG_NAME_MAX + 1];
    hc_edge_recv_cfg_t rcfg[HC_SIG_TRACKS_MAX];
    size_t nrecv;
    hc_sig_stream_info_t rinfo[HC_SIG_TRACKS_MAX]; /* the last set, to relabel */
    hc_edge_stats_t *stats;
    bool have_stats;

    peer_t *peers;
    size_t npeers, peers_cap;
    uint32_t ctl_seq;
    bool hand_sent;

    FILE *json;
    char *jsonbuf; /* JSON_LINE_MAX */
    int cmd_fd;
    bool cmd_eof;
    char cmdbuf[CMD_LINE_MAX];
    size_t cmdlen;
    int result;
};

/* ------------------------------------------------------------------ */
/* small pieces                                                        */

void hc_edge_session_opts_default(hc_edge_session_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->command_fd = -1;
    o->backoff_min_ms = 500;
    o->backoff_max_ms = 10000;
    o->join_retry_ms = 1000;
}

const char *hc_edge_sess_state_name(hc_edge_sess_state_t st)
{
    switch (st) {
    case HC_EDGE_SESS_WAIT: return "waiting";
    case HC_EDGE_SESS_CONNECTING: return "connecting";
    case HC_EDGE_SESS_JOINING: return "joining";
    case HC_EDGE_SESS_JOINED: return "joined";
    case HC_EDGE_SESS_DONE: return "done";
    }
    return "?";
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t hc_edge_backoff_next(uint32_t cur_ms, uint32_t min_ms, uint32_t max_ms, uint64_t *rng,
                              uint32_t *jittered)
{
    if (min_ms == 0) min_ms = 1;
    if (max_ms < min_ms) max_ms = min_ms;
    uint64_t next = cur_ms ? (uint64_t)cur_ms * 2 : min_ms;
    if (next < min_ms) next = min_ms;
    if (next > max_ms) next = max_ms;
    /* +-25 %: boxes that lost the relay together do not all knock at the
     * same instant when it comes back. */
    uint64_t r = rng_next(rng) % 1001; /* 0..1000 */
    uint64_t j = next * (750 + r / 2) / 1000;
    if (jittered) *jittered = (uint32_t)(j ? j : 1);
    return (uint32_t)next;
}

int hc_edge_url_host(const char *url, char *host, size_t cap)
{
    const char *h;
    if (!url || !cap) return -HC_EINVAL;
    if (!strncmp(url, "ws://", 5))
        h = url + 5;
    else if (!strncmp(url, "wss://", 6))
        h = url + 6;
    else
        return -HC_EINVAL;
    const char *e;
    if (*h == '[') {
        h++;
        e = strchr(h, ']');
        if (!e) return -HC_EINVAL;
    } else {
        e = h + strcspn(h, ":/?#");
    }
    size_t n = (size_t)(e - h);
    if (n == 0 || n >= cap) return -HC_EINVAL;
    memcpy(host, h, n);
    host[n] = 0;
    return 0;
}

static int resolve_host(const char *host, uint16_t port, hc_addr_t *out)
{
    char text[300];
    /* Numeric first: no resolver round trip, and relay/core's own parser. */
    if (strchr(host, ':'))
        snprintf(text, sizeof text, "[%s]:%u", host, port);
    else
        snprintf(text, sizeof text, "%s:%u", host, port);
    if (hc_addr_parse(text, out) == 0) return 0;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return -HC_EINVAL;
    int rc = hc_addr_from_sockaddr(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc < 0) return rc;
    hc_addr_set_port(out, port);
    return 0;
}

int hc_edge_leg_from_joined(const hc_sig_transport_t *t, const char *url, const char *via,
                            hc_edge_leg_t *out, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) err = dummy, errcap = sizeof dummy;
    if (!t || !out) return -HC_EINVAL;
    memset(out, 0, sizeof *out);
    if (t->suite == HC_SIG_SUITE_GCM)
        out->suite = HC_SRTP_AEAD_AES_128_GCM;
    else if (t->suite == HC_SIG_SUITE_AES_CM)
        out->suite = HC_SRTP_AES_CM_128_HMAC_SHA1_80;
    else {
        snprintf(err, errcap, "joined.media.suite: unknown");
        return -HC_EMALFORMED;
    }
    size_t kl = hc_srtp_key_len(out->suite);
    uint8_t k[HC_SIG_KEY_MAX];
    int n = hc_b64_decode(t->key_up, strlen(t->key_up), k, sizeof k);
    if (n != (int)kl) {
        snprintf(err, errcap, "joined.media.key_up: %d bytes, %s needs %zu", n,
                 hc_sig_suite_name(t->suite), kl);
        return -HC_EMALFORMED;
    }
    memcpy(out->key_up, k, kl);
    n = hc_b64_decode(t->key_down, strlen(t->key_down), k, sizeof k);
    if (n != (int)kl) {
        snprintf(err, errcap, "joined.media.key_down: %d bytes, %s needs %zu", n,
                 hc_sig_suite_name(t->suite), kl);
        return -HC_EMALFORMED;
    }
    memcpy(out->key_down, k, kl);
    out->rtcp_ssrc = t->rtcp_ssrc;
    if (via && via[0]) {
        if (hc_addr_parse(via, &out->relay) < 0) {
            snprintf(err, errcap, "media_via %s: not a numeric address:port", via);
            return -HC_EINVAL;
        }
        return 0;
    }
    char host[HC_SIG_HOST_MAX + 1];
    if (t->host[0]) {
        /* host may carry a port of its own ("host:port" per the schema's
         * HOST kind); the transport's port is the one to use. */
        snprintf(host, sizeof host, "%s", t->host);
        if (host[0] == '[') {
            char *e = strchr(host, ']');
            if (e) *e = 0;
            memmove(host, host + 1, strlen(host));
        } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
            *strchr(host, ':') = 0;
        }
    } else if (hc_edge_url_host(url, host, sizeof host) < 0) {
        snprintf(err, errcap, "no media host: joined.media.host absent and URL %s has none",
                 url ? url : "(none)");
        return -HC_EINVAL;
    }
    if (resolve_host(host, (uint16_t)t->port, &out->relay) < 0) {
        snprintf(err, errcap, "media host %s: cannot resolve", host);
        return -HC_EINVAL;
    }
    return 0;
}

/* The streams this box publishes, in join.publish order: each published
 * source, then its simulcast layers (config.h). src_of[k]: the source of
 * stream k. Returns the count (at most cap). */
static size_t pub_streams(const hc_edge_config_t *cfg, hc_edge_layer_t *out, size_t *src_of,
                          size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_pub && n < cap; i++) {
        const hc_edge_source_t *src = &cfg->source[cfg->pub[i]];
        size_t k = hc_edge_config_layers(src, out + n, cap - n);
        for (size_t j = 0; j < k; j++) src_of[n + j] = cfg->pub[i];
        n += k;
    }
    return n;
}

void hc_edge_join_fill(const hc_edge_config_t *cfg, hc_sig_msg_t *m)
{
    hc_sig_msg_init(m, HC_SIG_JOIN);
    snprintf(m->join.session, sizeof m->join.session, "%s", cfg->session);
    snprintf(m->join.site, sizeof m->join.site, "%s", cfg->site);
    hc_edge_layer_t ls[HC_SIG_STREAMS_MAX];
    size_t of[HC_SIG_STREAMS_MAX];
    size_t n = pub_streams(cfg, ls, of, HC_SIG_STREAMS_MAX);
    for (size_t i = 0; i < n; i++) {
        const hc_edge_source_t *src = &cfg->source[of[i]];
        const hc_edge_layer_t *l = &ls[i];
        hc_sig_stream_pub_t *p = &m->join.publish[m->join.n_publish++];
        snprintf(p->mid, sizeof p->mid, "%.*s", HC_SIG_MID_MAX, l->mid);
        bool audio = src->kind == HC_EDGE_AUDIO;
        p->kind = audio ? HC_SIG_MEDIA_AUDIO : HC_SIG_MEDIA_VIDEO;
        p->tag = src->tag;
        p->codec = audio ? HC_SIG_CODEC_OPUS : HC_SIG_CODEC_H264;
        if (l->max_kbps) p->max_kbps = l->max_kbps, p->has_max_kbps = true;
        if (!audio && l->width) {
            p->width = l->width, p->has_width = true;
            p->height = l->height, p->has_height = true;
        }
        if (!audio && l->fps) p->fps = l->fps, p->has_fps = true;
        /* Simulcast (proto/SIGNALING.md, stream_pub): lower layers of the
         * same tag; layer 0 is the source itself, said explicitly so the
         * group is plain to the relay. */
        if (l->layer || src->simulcast > 1) p->layer = l->layer, p->has_layer = true;
    }
    m->join.subscribe = cfg->subscribe;
    m->join.has_subscribe = true;
}

/* ------------------------------------------------------------------ */
/* cross-thread plumbing                                               */

static void wake(hc_edge_session_t *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof one);
    (void)w;
}

static void on_message(void *ud, hc_sig_msg_t *msg)
{
    conn_ctx_t *ctx = ud;
    hc_edge_session_t *s = ctx->s;
    qitem_t *q = calloc(1, sizeof *q);
    if (!q) {
        hc_sigclient_msg_free(&msg);
        return;
    }
    q->gen = ctx->gen;
    q->msg = msg;
    /* Acknowledge control at once, here: the relay measures the round trip
     * from forwarding the control to our ack, and the deadline alarm
     * should not include our main loop's latency. */
    hc_sigclient_t *sc = atomic_load(&ctx->sc);
    if (msg->type == HC_SIG_CONTROL && sc) {
        hc_sig_msg_t a;
        hc_sig_msg_init(&a, HC_SIG_CONTROL_ACK);
        a.control_ack.seq = msg->control.seq;
        snprintf(a.control_ack.to, sizeof a.control_ack.to, "%s", msg->control.from);
        q->acked = hc_sigclient_send(sc, &a) == 0;
    }
    pthread_mutex_lock(&s->mu);
    if (q->acked) s->c.control_acks_tx++;
    if (s->qtail)
        s->qtail->next = q;
    else
        s->qhead = q;
    s->qtail = q;
    pthread_mutex_unlock(&s->mu);
    wake(s);
}

static void on_state(void *ud, hc_sigclient_state_t st, int code, const char *reason)
{
    (void)st;
    (void)code;
    (void)reason;
    conn_ctx_t *ctx = ud;
    wake(ctx->s);
}

static qitem_t *queue_pop(hc_edge_session_t *s)
{
    pthread_mutex_lock(&s->mu);
    qitem_t *q = s->qhead;
    if (q) {
        s->qhead = q->next;
        if (!s->qhead) s->qtail = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return q;
}

static void qitem_free(qitem_t *q)
{
    if (!q) return;
    hc_sigclient_msg_free(&q->msg);
    free(q);
}

void hc_edge_session_stop(hc_edge_session_t *s)
{
    if (!s) return;
    atomic_store(&s->stop, true);
    wake(s);
}

int hc_edge_session_command(hc_edge_session_t *s, const char *line)
{
    size_t n = strlen(line);
    cmd_t *c = malloc(sizeof *c + n + 1);
    if (!c) return -HC_ENOMEM;
    c->next = NULL;
    memcpy(c->line, line, n + 1);
    pthread_mutex_lock(&s->mu);
    if (s->clen >= CMD_QUEUE_MAX) {
        pthread_mutex_unlock(&s->mu);
        free(c);
        return -HC_EFULL;
    }
    if (s->ctail)
        s->ctail->next = c;
    else
        s->chead = c;
    s->ctail = c;
    s->clen++;
    pthread_mutex_unlock(&s->mu);
    wake(s);
    return 0;
}

void hc_edge_session_counters(hc_edge_session_t *s, hc_edge_session_counters_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->c;
    pthread_mutex_unlock(&s->mu);
}

/* Counters are written on run's thread (and control_acks_tx on the
 * client's); readers take the lock. */
#define CNT(s, expr)                                                                               \
    do {                                                                                           \
        pthread_mutex_lock(&(s)->mu);                                                              \
        expr;                                                                                      \
        pthread_mutex_unlock(&(s)->mu);                                                            \
    } while (0)

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

int hc_edge_session_new(hc_edge_session_t **out, const hc_edge_session_opts_t *o, char *err,
                        size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) err = dummy, errcap = sizeof dummy;
    *out = NULL;
    if (!o || !o->cfg || !o->media || !o->media->create || !o->media->destroy ||
        !o->media->publish || !o->media->receive || !o->media->start || !o->media->set_budget ||
        !o->media->rekey || !o->media->pause || !o->media->stats) {
        snprintf(err, errcap, "session: config and every media engine entry point are needed");
        return -HC_EINVAL;
    }
    if (!o->cfg->relay[0] || !o->cfg->token[0] || !o->cfg->session[0] || !o->cfg->site[0]) {
        snprintf(err, errcap, "session: relay, token, session and site are needed");
        return -HC_EINVAL;
    }
    hc_edge_session_t *s = calloc(1, sizeof *s);
    if (!s) return -HC_ENOMEM;
    s->o = *o;
    s->o.stats_json = NULL; /* not kept: the file is opened here */
    if (!s->o.backoff_min_ms) s->o.backoff_min_ms = 500;
    if (s->o.backoff_max_ms < s->o.backoff_min_ms) s->o.backoff_max_ms = s->o.backoff_min_ms;
    if (!s->o.join_retry_ms) s->o.join_retry_ms = 1000;
    s->cfg = o->cfg;
    s->ops = o->media;
    s->cmd_fd = o->command_fd;
    pthread_mutex_init(&s->mu, NULL);
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s->stats = calloc(1, sizeof *s->stats);
    s->jsonbuf = malloc(JSON_LINE_MAX);
    if (s->wake_fd < 0 || !s->stats || !s->jsonbuf) {
        snprintf(err, errcap, "session: %s", strerror(errno));
        hc_edge_session_destroy(&s);
        return -HC_ENOMEM;
    }
    if (o->stats_json && o->stats_json[0]) {
        s->json = fopen(o->stats_json, "w");
        if (!s->json) {
            snprintf(err, errcap, "%s: %s", o->stats_json, strerror(errno));
            hc_edge_session_destroy(&s);
            return -HC_EIO;
        }
    }
    if (s->cmd_fd >= 0) fcntl(s->cmd_fd, F_SETFL, fcntl(s->cmd_fd, F_GETFL) | O_NONBLOCK);
    if (getrandom(&s->rng, sizeof s->rng, 0) != (ssize_t)sizeof s->rng)
        s->rng = hc_wall_us() ^ ((uint64_t)getpid() << 32);
    if (!s->rng) s->rng = 1;
    s->c.state = HC_EDGE_SESS_WAIT;
    s->result = 0;
    *out = s;
    return 0;
}

static void conn_drop_client(hc_edge_session_t *s)
{
    if (s->sc) {
        hc_sigclient_destroy(&s->sc);
        free(s->ctx);
        s->ctx = NULL;
    }
    s->gen++; /* anything still queued from it is stale now */
    s->ready_seen = false;
}

void hc_edge_session_destroy(hc_edge_session_t **sp)
{
    if (!sp || !*sp) return;
    hc_edge_session_t *s = *sp;
    conn_drop_client(s);
    if (s->m) s->ops->destroy(&s->m);
    qitem_t *q;
    while ((q = queue_pop(s))) qitem_free(q);
    for (cmd_t *c = s->chead, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    if (s->json) fclose(s->json);
    if (s->wake_fd >= 0) close(s->wake_fd);
    free(s->stats);
    free(s->jsonbuf);
    free(s->peers);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *sp = NULL;
}

/* ------------------------------------------------------------------ */
/* connection and joining                                              */

static void set_state(hc_edge_session_t *s, hc_edge_sess_state_t st)
{
    CNT(s, s->c.state = st);
}

static void schedule_reconnect(hc_edge_session_t *s, uint64_t now)
{
    uint32_t delay;
    s->backoff_ms = hc_edge_backoff_next(s->backoff_ms, s->o.backoff_min_ms, s->o.backoff_max_ms,
                                         &s->rng, &delay);
    s->next_connect_us = now + (uint64_t)delay * 1000u;
    s->next_join_us = 0;
    s->next_ping_us = 0;
    set_state(s, HC_EDGE_SESS_WAIT);
    hc_log_info("reconnecting", "in_ms=%u", delay);
}

static void connect_now(hc_edge_session_t *s, uint64_t now)
{
    conn_drop_client(s);
    s->next_connect_us = 0;
    conn_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        schedule_reconnect(s, now);
        return;
    }
    ctx->s = s;
    ctx->gen = s->gen;
    hc_sigclient_cfg_t c;
    hc_sigclient_cfg_default(&c);
    c.url = s->cfg->relay;
    c.ca_file = s->cfg->ca_file[0] ? s->cfg->ca_file : NULL;
    c.insecure = s->cfg->insecure;
    c.token = s->cfg->token;
    c.client = "hc-edge/" HC_EDGE_VERSION;
    c.reconnect_ms = 0; /* the backoff is ours */
    c.on_message = on_message;
    c.on_state = on_state;
    c.ud = ctx;
    char err[256] = "";
    int rc = hc_sigclient_new(&s->sc, &c, err, sizeof err);
    if (rc < 0) {
        free(ctx);
        hc_log_warn("signaling client", "error=%s reason=\"%s\"", hc_errname(rc), err);
        schedule_reconnect(s, now);
        return;
    }
    s->ctx = ctx;
    atomic_store(&ctx->sc, s->sc);
    s->create_id = s->join_id = s->leave_id = 0;
    s->resumed = false;
    s->last_rx_us = now;
    set_state(s, HC_EDGE_SESS_CONNECTING);
}

static int send_msg(hc_edge_session_t *s, hc_sig_msg_t *m)
{
    if (!s->sc) return -HC_ECLOSED;
    int rc = hc_sigclient_send(s->sc, m);
    if (rc < 0)
        hc_log_warn("send failed", "type=%s error=%s", hc_sig_type_name(m->type), hc_errname(rc));
    return rc;
}

static void send_create_or_join(hc_edge_session_t *s)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m) return;
    s->next_join_us = 0;
    if (s->cfg->create != HC_SIG_KIND_NONE && !s->resumed) {
        hc_sig_msg_init(m, HC_SIG_CREATE);
        m->create.id = s->create_id = hc_sigclient_next_id(s->sc);
        m->create.kind = s->cfg->create;
        snprintf(m->create.session, sizeof m->create.session, "%s", s->cfg->session);
        if (s->cfg->title[0])
            snprintf(m->create.title, sizeof m->create.title, "%s", s->cfg->title);
    } else {
        hc_edge_join_fill(s->cfg, m);
        m->join.id = s->join_id = hc_sigclient_next_id(s->sc);
    }
    send_msg(s, m);
    hc_sig_msg_fini(m);
    free(m);
    set_state(s, HC_EDGE_SESS_JOINING);
}

static void send_join(hc_edge_session_t *s)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m) return;
    hc_edge_join_fill(s->cfg, m);
    m->join.id = s->join_id = hc_sigclient_next_id(s->sc);
    send_msg(s, m);
    hc_sig_msg_fini(m);
    free(m);
}

static void on_ready(hc_edge_session_t *s, uint64_t now)
{
    hc_sig_welcome_t w;
    memset(&w, 0, sizeof w);
    hc_sigclient_welcome(s->sc, &w);
    s->resumed = w.has_resume && w.resume;
    s->keepalive_ms = w.keepalive_ms ? w.keepalive_ms : 15000;
    /* Ping well inside the relay's keepalive (it closes a connection silent
     * for 3x keepalive) and often enough that a dead uplink, which TCP
     * would take minutes to notice, is found within seconds. */
    s->ping_ms = s->keepalive_ms / 3;
    if (s->ping_ms < 500) s->ping_ms = 500;
    if (s->ping_ms > 5000) s->ping_ms = 5000;
    s->next_ping_us = now + (uint64_t)s->ping_ms * 1000u;
    s->ping_sent_us = 0;
    s->last_rx_us = now;
    CNT(s, {
        s->c.connects++;
        if (s->resumed) s->c.resumed++;
    });
    char q[160];
    hc_log_info("signaling up", "relay=%s role=%s resume=%s keepalive_ms=%u",
                hc_log_q(q, sizeof q, s->cfg->relay), hc_sig_role_name(w.role),
                s->resumed ? "true" : "false", s->keepalive_ms);
    send_create_or_join(s);
}

/* The connection is gone (or given up): pause media, keep everything else,
 * come back later. */
static void on_drop(hc_edge_session_t *s, uint64_t now, int code, const char *why)
{
    bool was_joined = s->c.state == HC_EDGE_SESS_JOINED;
    if (s->closed_at_us) {
        hc_log_info("the relay went away after closing the session: rejoining", NULL);
        s->closed_at_us = 0;
    }
    conn_drop_client(s);
    CNT(s, {
        s->c.disconnects++;
        s->c.participant[0] = 0;
    });
    if (s->m && !s->paused) {
        s->ops->pause(s->m, true);
        s->paused = true;
    }
    char q[300];
    hc_log_warn("signaling lost", "error=%s reason=%s joined=%s", hc_errname(code),
                hc_log_q(q, sizeof q, why), was_joined ? "true" : "false");
    schedule_reconnect(s, now);
}

static bool fatal_hello(int code)
{
    return code == -HC_ETOKEN || code == -HC_ESIGNATURE || code == -HC_EEXPIRED ||
           code == -HC_ENOTYET || code == -HC_EPERM;
}

static void finish(hc_edge_session_t *s, int result)
{
    s->result = result;
    atomic_store(&s->stop, true);
}

/* ------------------------------------------------------------------ */
/* peers and tracks                                                    */

static peer_t *peer_find(hc_edge_session_t *s, const char *id)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (!strcmp(s->peers[i].id, id)) return &s->peers[i];
    return NULL;
}

static void peer_set(hc_edge_session_t *s, const char *id, const char *site)
{
    peer_t *p = peer_find(s, id);
    if (!p) {
        if (s->npeers == s->peers_cap) {
            size_t cap = s->peers_cap ? s->peers_cap * 2 : 32;
            if (cap > PEERS_MAX) return;
            peer_t *np = realloc(s->peers, cap * sizeof *np);
            if (!np) return;
            s->peers = np;
            s->peers_cap = cap;
        }
        p = &s->peers[s->npeers++];
        snprintf(p->id, sizeof p->id, "%s", id);
    }
    snprintf(p->site, sizeof p->site, "%s", site);
}

static void peer_del(hc_edge_session_t *s, const char *id)
{
    peer_t *p = peer_find(s, id);
    if (p) *p = s->peers[--s->npeers];
}

static const char *peer_name(hc_edge_session_t *s, const char *id)
{
    peer_t *p = id && id[0] ? peer_find(s, id) : NULL;
    return p ? p->site : (id ? id : "");
}

/* Hand the engine the set of streams the relay sends us. */
static void apply_tracks(hc_edge_session_t *s, const hc_sig_stream_info_t *list, size_t n)
{
    if (n > HC_SIG_TRACKS_MAX) n = HC_SIG_TRACKS_MAX;
    if (list != s->rinfo) memcpy(s->rinfo, list, n * sizeof *list);
    s->nrecv = n;
    for (size_t i = 0; i < n; i++) {
        const hc_sig_stream_info_t *si = &s->rinfo[i];
        snprintf(s->rmid[i], sizeof s->rmid[i], "%s", si->mid);
        snprintf(s->rlabel[i], sizeof s->rlabel[i], "%s", peer_name(s, si->participant));
        hc_edge_recv_cfg_t *r = &s->rcfg[i];
        memset(r, 0, sizeof *r);
        r->mid = s->rmid[i];
        r->label = s->rlabel[i];
        r->kind = si->kind == HC_SIG_MEDIA_AUDIO ? HC_EDGE_AUDIO : HC_EDGE_VIDEO;
        r->ssrc = si->ssrc;
        r->rtx_ssrc = si->has_rtx_ssrc ? si->rtx_ssrc : 0;
        r->fec_ssrc = si->has_fec_ssrc ? si->fec_ssrc : 0;
    }
    if (s->m) {
        int rc = s->ops->receive(s->m, s->rcfg, n);
        if (rc < 0) hc_log_warn("receive set refused", "error=%s tracks=%zu", hc_errname(rc), n);
    }
}

/* ------------------------------------------------------------------ */
/* joined                                                              */

static hc_profile_t profile_of(hc_sig_kind_t k)
{
    switch (k) {
    case HC_SIG_KIND_CONSULT: return HC_PROFILE_CONSULT;
    case HC_SIG_KIND_CONFERENCE: return HC_PROFILE_CONFERENCE;
    default: return HC_PROFILE_CLASS;
    }
}

static int start_media(hc_edge_session_t *s, const hc_sig_joined_t *j)
{
    const hc_edge_config_t *cfg = s->cfg;
    hc_edge_media_cfg_t mc;
    /* Every field is set here; the session calls the engine only through
     * ops, so it links without it (tests drive it with a fake). */
    memset(&mc, 0, sizeof mc);
    mc.leg = s->leg;
    mc.profile = profile_of(j->kind);
    mc.min_kbps = cfg->min_kbps;
    mc.start_kbps = cfg->start_kbps;
    mc.max_kbps = cfg->max_kbps;
    mc.budget_kbps = 0;
    mc.playout_budget_ms = cfg->playout_budget_ms;
    mc.jitter_min_ms = cfg->jitter_min_ms;
    mc.jitter_max_ms = cfg->jitter_max_ms;
    mc.repair = cfg->repair;
    mc.video_sink = cfg->video_sink;
    mc.audio_sink = cfg->audio_sink;
    mc.record_dir = cfg->record_dir[0] ? cfg->record_dir : NULL;
    mc.record_name = cfg->session; /* files named after the session */
    char err[512] = "";
    int rc = s->ops->create(&s->m, &mc, err, sizeof err);
    if (rc < 0) {
        char q[600];
        hc_log_error("media engine failed", "error=%s reason=%s", hc_errname(rc),
                     hc_log_q(q, sizeof q, err));
        return rc;
    }
    hc_edge_layer_t ls[HC_EDGE_PUB_MAX];
    size_t of[HC_EDGE_PUB_MAX];
    size_t n = pub_streams(cfg, ls, of, HC_EDGE_PUB_MAX);
    for (size_t i = 0; i < n; i++) {
        const hc_edge_source_t *src = &cfg->source[of[i]];
        const hc_edge_layer_t *l = &ls[i];
        hc_edge_pub_cfg_t p;
        memset(&p, 0, sizeof p);
        p.mid = l->mid;
        p.kind = src->kind;
        p.role = hc_edge_config_stream_role(src->tag);
        /* A simulcast layer has no capture of its own: its top's. */
        p.pipeline = l->layer ? NULL : src->pipeline;
        p.layer = (int)l->layer;
        p.layer_of = l->layer ? src->mid : NULL;
        p.ssrc = s->ssrc[i];
        p.rtx_ssrc = s->rtx[i];
        p.fec_ssrc = s->fec[i];
        p.max_kbps = l->max_kbps;
        p.width = (int)l->width;
        p.height = (int)l->height;
        p.fps = (int)l->fps;
        err[0] = 0;
        rc = s->ops->publish(s->m, &p, err, sizeof err);
        if (rc < 0) {
            char q[600];
            hc_log_error("cannot publish", "mid=%s error=%s reason=%s", l->mid, hc_errname(rc),
                         hc_log_q(q, sizeof q, err));
            return rc;
        }
    }
    apply_tracks(s, j->receive, j->n_receive);
    rc = s->ops->start(s->m);
    if (rc < 0) {
        hc_log_error("media engine did not start", "error=%s", hc_errname(rc));
        return rc;
    }
    s->paused = false;
    return 0;
}

static void on_joined(hc_edge_session_t *s, const hc_sig_joined_t *j, uint64_t now)
{
    (void)now;
    const hc_edge_config_t *cfg = s->cfg;
    hc_edge_leg_t leg;
    char err[256] = "";
    int rc = hc_edge_leg_from_joined(&j->media, cfg->relay, cfg->media_via, &leg, err, sizeof err);
    if (rc < 0) {
        hc_log_error("bad joined reply", "error=%s reason=\"%s\"", hc_errname(rc), err);
        on_drop(s, now, rc, err);
        return;
    }
    uint32_t ssrc[HC_EDGE_PUB_MAX] = {0}, rtx[HC_EDGE_PUB_MAX] = {0}, fec[HC_EDGE_PUB_MAX] = {0};
    /* Every stream we published, simulcast layers too, by mid. */
    hc_edge_layer_t ls[HC_EDGE_PUB_MAX];
    size_t of[HC_EDGE_PUB_MAX];
    size_t npub = pub_streams(cfg, ls, of, HC_EDGE_PUB_MAX);
    for (size_t i = 0; i < npub; i++) {
        const char *mid = ls[i].mid;
        const hc_sig_stream_info_t *si = NULL;
        for (size_t k = 0; k < j->n_streams; k++)
            if (!strcmp(j->streams[k].mid, mid)) si = &j->streams[k];
        if (!si) {
            hc_log_error("joined without our stream", "mid=%s", mid);
            finish(s, -HC_EMALFORMED);
            return;
        }
        ssrc[i] = si->ssrc;
        rtx[i] = si->has_rtx_ssrc ? si->rtx_ssrc : 0;
        fec[i] = si->has_fec_ssrc ? si->fec_ssrc : 0;
    }
    /* A relay that restarted numbers participants afresh. */
    if (!s->resumed) s->npeers = 0;
    for (size_t i = 0; i < j->n_participants; i++)
        peer_set(s, j->participants[i].participant, j->participants[i].site);
    peer_set(s, j->participant, cfg->site); /* our own hand and floor events */

    bool changed = memcmp(&leg, &s->leg, sizeof leg) != 0 ||
                   memcmp(ssrc, s->ssrc, sizeof ssrc) != 0 || memcmp(rtx, s->rtx, sizeof rtx) ||
                   memcmp(fec, s->fec, sizeof fec);
    s->leg = leg;
    memcpy(s->ssrc, ssrc, sizeof ssrc);
    memcpy(s->rtx, rtx, sizeof rtx);
    memcpy(s->fec, fec, sizeof fec);
    CNT(s, {
        s->c.joins++;
        snprintf(s->c.participant, sizeof s->c.participant, "%s", j->participant);
        snprintf(s->c.floor, sizeof s->c.floor, "%s", j->floor);
    });
    char maddr[HC_ADDR_STRLEN] = "";
    hc_addr_format(&leg.relay, maddr, sizeof maddr);
    hc_log_info("joined",
                "session=%s kind=%s participant=%s media=%s streams=%zu receive=%zu "
                "participants=%u floor=%s",
                j->session, hc_sig_kind_name(j->kind), j->participant, maddr, j->n_streams,
                j->n_receive, j->participants_total, j->floor[0] ? j->floor : "none");

    if (!s->m) {
        rc = start_media(s, j);
        if (rc < 0) {
            finish(s, rc);
            return;
        }
    } else {
        if (changed) {
            rc = s->ops->rekey(s->m, &leg, ssrc, rtx, fec, npub);
            if (rc < 0) {
                hc_log_error("media rekey failed", "error=%s", hc_errname(rc));
                finish(s, rc);
                return;
            }
            CNT(s, s->c.rekeys++);
            hc_log_info("media rekeyed", "participant=%s", j->participant);
        }
        /* A relay that restarted forgot the site's budget; it sends the
         * current one right after joined. */
        if (!s->resumed && s->c.budget_kbps) {
            s->ops->set_budget(s->m, 0);
            CNT(s, s->c.budget_kbps = 0);
        }
        apply_tracks(s, j->receive, j->n_receive);
        if (s->paused) {
            s->ops->pause(s->m, false);
            s->paused = false;
        }
    }
    s->backoff_ms = 0; /* a full success resets the doubling */
    set_state(s, HC_EDGE_SESS_JOINED);
    s->hand_sent = false;
    if (s->o.raise_hand && j->kind != HC_SIG_KIND_CONSULT) {
        hc_sig_msg_t m;
        hc_sig_msg_init(&m, HC_SIG_RAISE_HAND);
        m.raise_hand.id = hc_sigclient_next_id(s->sc);
        if (send_msg(s, &m) == 0) {
            s->hand_sent = true;
            hc_log_info("hand raised", "participant=%s", s->c.participant);
        }
    }
}

/* ------------------------------------------------------------------ */
/* incoming messages                                                   */

static void on_error_reply(hc_edge_session_t *s, const hc_sig_error_t *e, uint64_t now)
{
    int code = -e->code;
    uint32_t id = e->has_id ? e->id : 0;
    char q[400];
    if (id && id == s->create_id) {
        s->create_id = 0;
        if (code == -HC_EEXIST) {
            /* It exists already (we created it before a drop, or another
             * host box did): join it. */
            send_join(s);
            return;
        }
        hc_log_warn("create refused", "session=%s error=%s reason=%s", s->cfg->session,
                    hc_errname(code), hc_log_q(q, sizeof q, e->reason));
        if (code == -HC_EPERM) {
            finish(s, code);
            return;
        }
        s->next_join_us = now + (uint64_t)s->o.join_retry_ms * 1000u;
        CNT(s, s->c.join_retries++);
        return;
    }
    if (id && id == s->join_id) {
        s->join_id = 0;
        if (code == -HC_ENOTFOUND || code == -HC_EFULL || code == -HC_EAGAIN) {
            /* The session is not there yet (its host has not created it
             * again after a relay restart) or is full: try again. */
            hc_log_info("join refused, retrying", "session=%s error=%s reason=%s in_ms=%u",
                        s->cfg->session, hc_errname(code), hc_log_q(q, sizeof q, e->reason),
                        s->o.join_retry_ms);
            s->next_join_us = now + (uint64_t)s->o.join_retry_ms * 1000u;
            CNT(s, s->c.join_retries++);
            return;
        }
        hc_log_error("join refused", "session=%s error=%s reason=%s", s->cfg->session,
                     hc_errname(code), hc_log_q(q, sizeof q, e->reason));
        finish(s, code);
        return;
    }
    if (id && id == s->leave_id) {
        s->left = true;
        return;
    }
    hc_log_warn("relay error", "id=%u error=%s reason=%s", id, hc_errname(code),
                hc_log_q(q, sizeof q, e->reason));
}

static void handle_msg(hc_edge_session_t *s, qitem_t *qi, uint64_t now)
{
    hc_sig_msg_t *m = qi->msg;
    char q1[200], q2[200];
    s->last_rx_us = now;
    switch (m->type) {
    case HC_SIG_PONG:
        CNT(s, s->c.pongs++);
        s->ping_sent_us = 0;
        break;
    case HC_SIG_CREATED:
        if (m->created.id == s->create_id) {
            s->create_id = 0;
            hc_log_info("session created", "session=%s kind=%s", m->created.session,
                        hc_sig_kind_name(m->created.kind));
            send_join(s);
        }
        break;
    case HC_SIG_JOINED:
        if (m->joined.id == s->join_id) {
            s->join_id = 0;
            on_joined(s, &m->joined, now);
        }
        break;
    case HC_SIG_ERROR: on_error_reply(s, &m->error, now); break;
    case HC_SIG_LEFT:
        if (m->left.id == s->leave_id) s->left = true;
        break;
    case HC_SIG_OK: break;
    case HC_SIG_TRACKS:
        CNT(s, s->c.tracks++);
        hc_log_info("tracks", "receive=%zu", m->tracks.n_receive);
        apply_tracks(s, m->tracks.receive, m->tracks.n_receive);
        break;
    case HC_SIG_BUDGET:
        CNT(s, {
            s->c.budgets++;
            s->c.budget_kbps = m->budget.kbps;
        });
        hc_log_info("budget", "kbps=%u", m->budget.kbps);
        if (s->m) s->ops->set_budget(s->m, m->budget.kbps);
        break;
    case HC_SIG_FLOOR:
        CNT(s, {
            s->c.floors++;
            snprintf(s->c.floor, sizeof s->c.floor, "%s", m->floor.participant);
        });
        hc_log_info("floor", "participant=%s site=%s by=%s mine=%s",
                    m->floor.participant[0] ? m->floor.participant : "none",
                    hc_log_q(q1, sizeof q1, peer_name(s, m->floor.participant)),
                    m->floor.by[0] ? m->floor.by : "relay",
                    !strcmp(m->floor.participant, s->c.participant) ? "true" : "false");
        break;
    case HC_SIG_HAND:
        CNT(s, s->c.hands++);
        hc_log_info("hand", "participant=%s site=%s raised=%s", m->hand.participant,
                    hc_log_q(q1, sizeof q1, peer_name(s, m->hand.participant)),
                    m->hand.raised ? "true" : "false");
        break;
    case HC_SIG_PARTICIPANT_JOINED:
        CNT(s, s->c.peers_joined++);
        peer_set(s, m->participant_joined.participant.participant,
                 m->participant_joined.participant.site);
        hc_log_info("participant joined", "participant=%s site=%s role=%s",
                    m->participant_joined.participant.participant,
                    hc_log_q(q1, sizeof q1, m->participant_joined.participant.site),
                    hc_sig_role_name(m->participant_joined.participant.role));
        /* Labels of tracks that already carry it. */
        for (size_t i = 0; i < s->nrecv; i++) {
            if (!strcmp(s->rinfo[i].participant, m->participant_joined.participant.participant)) {
                apply_tracks(s, s->rinfo, s->nrecv);
                break;
            }
        }
        break;
    case HC_SIG_PARTICIPANT_LEFT:
        CNT(s, s->c.peers_left++);
        hc_log_info("participant left", "participant=%s site=%s reason=%s",
                    m->participant_left.participant,
                    hc_log_q(q1, sizeof q1, peer_name(s, m->participant_left.participant)),
                    hc_sig_gone_name(m->participant_left.reason));
        peer_del(s, m->participant_left.participant);
        break;
    case HC_SIG_CONTROL: {
        CNT(s, s->c.controls_rx++);
        if (!qi->acked) {
            hc_sig_msg_t a;
            hc_sig_msg_init(&a, HC_SIG_CONTROL_ACK);
            a.control_ack.seq = m->control.seq;
            snprintf(a.control_ack.to, sizeof a.control_ack.to, "%s", m->control.from);
            if (send_msg(s, &a) == 0) CNT(s, s->c.control_acks_tx++);
        }
        char *body = m->control.body ? json_dumps(m->control.body, JSON_COMPACT) : NULL;
        hc_log_info("control", "from=%s seq=%u body=%s acked=true", m->control.from, m->control.seq,
                    hc_log_q(q2, sizeof q2, body ? body : "{}"));
        free(body);
        break;
    }
    case HC_SIG_CONTROL_ACK:
        CNT(s, s->c.control_acks_rx++);
        hc_log_info("control ack", "from=%s seq=%u", m->control_ack.from, m->control_ack.seq);
        break;
    case HC_SIG_CONTROL_RTT:
        CNT(s, {
            s->c.control_rtts++;
            s->c.last_control_rtt_ms = m->control_rtt.rtt_ms;
        });
        hc_log_info("control rtt", "seq=%u rtt_ms=%.1f", m->control_rtt.seq, m->control_rtt.rtt_ms);
        break;
    case HC_SIG_ALARM:
        CNT(s, s->c.alarms++);
        hc_log(
            (m->alarm.kind == HC_SIG_ALARM_CONTROL_LOST || m->alarm.kind == HC_SIG_ALARM_LINK_DOWN)
                ? HC_LOG_WARN
                : HC_LOG_INFO,
            "alarm", "kind=%s participant=%s since_ms=%" PRId64 " detail=%s",
            hc_sig_alarm_kind_name(m->alarm.kind),
            m->alarm.participant[0] ? m->alarm.participant : "-", m->alarm.since_ms,
            hc_log_q(q1, sizeof q1, m->alarm.detail));
        break;
    case HC_SIG_SESSION_CLOSED:
        /* A relay that stops closes every session, then the connection
         * (1001 going away): that is a restart to ride out, not the end of
         * the lesson. Wait a moment to see which it is; media pauses. */
        set_state(s, HC_EDGE_SESS_JOINING); /* nothing to leave */
        CNT(s, s->c.participant[0] = 0);
        s->closed_at_us = now;
        s->join_id = s->create_id = 0;
        s->next_join_us = 0;
        if (s->m && !s->paused) {
            s->ops->pause(s->m, true);
            s->paused = true;
        }
        hc_log_warn("session closed", "session=%s reason=%s", m->session_closed.session,
                    hc_log_q(q1, sizeof q1, m->session_closed.reason));
        break;
    case HC_SIG_KICKED:
        set_state(s, HC_EDGE_SESS_DONE);
        hc_log_error("kicked", "reason=%s", hc_log_q(q1, sizeof q1, m->kicked.reason));
        finish(s, -HC_EPERM);
        break;
    default: hc_log_debug("unhandled message", "type=%s", hc_sig_type_name(m->type)); break;
    }
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

static void cmd_help(hc_edge_session_t *s)
{
    if (!s->o.live) return;
    fprintf(s->o.live, "commands: hand | lower | grant PARTICIPANT | revoke [PARTICIPANT] | "
                       "control [to=ID] {JSON} | stats | quit | help\n");
    fflush(s->o.live);
}

static void print_live(hc_edge_session_t *s, uint64_t now);

static void run_command(hc_edge_session_t *s, char *line, uint64_t now)
{
    while (*line == ' ' || *line == '\t') line++;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t')) line[--n] = 0;
    if (!*line) return;
    char *arg = line + strcspn(line, " \t");
    if (*arg) *arg++ = 0;
    while (*arg == ' ' || *arg == '\t') arg++;
    char q[300];

    if (!strcmp(line, "quit") || !strcmp(line, "exit")) {
        finish(s, 0);
        return;
    }
    if (!strcmp(line, "help")) {
        cmd_help(s);
        return;
    }
    if (!strcmp(line, "stats")) {
        print_live(s, now);
        return;
    }
    if (!s->sc || s->c.state != HC_EDGE_SESS_JOINED) {
        hc_log_warn("command needs the session joined", "command=%s", hc_log_q(q, sizeof q, line));
        return;
    }
    hc_sig_msg_t m;
    if (!strcmp(line, "hand") || !strcmp(line, "raise")) {
        hc_sig_msg_init(&m, HC_SIG_RAISE_HAND);
        m.raise_hand.id = hc_sigclient_next_id(s->sc);
    } else if (!strcmp(line, "lower")) {
        hc_sig_msg_init(&m, HC_SIG_LOWER_HAND);
        m.lower_hand.id = hc_sigclient_next_id(s->sc);
    } else if (!strcmp(line, "grant")) {
        hc_sig_msg_init(&m, HC_SIG_GRANT_FLOOR);
        m.grant_floor.id = hc_sigclient_next_id(s->sc);
        snprintf(m.grant_floor.participant, sizeof m.grant_floor.participant, "%s", arg);
    } else if (!strcmp(line, "revoke")) {
        hc_sig_msg_init(&m, HC_SIG_REVOKE_FLOOR);
        m.revoke_floor.id = hc_sigclient_next_id(s->sc);
        snprintf(m.revoke_floor.participant, sizeof m.revoke_floor.participant, "%s", arg);
    } else if (!strcmp(line, "control") || !strcmp(line, "ctl")) {
        hc_sig_msg_init(&m, HC_SIG_CONTROL);
        if (!strncmp(arg, "to=", 3)) {
            char *e = arg + 3 + strcspn(arg + 3, " \t");
            snprintf(m.control.to, sizeof m.control.to, "%.*s", (int)(e - arg - 3), arg + 3);
            arg = e;
            while (*arg == ' ' || *arg == '\t') arg++;
        }
        json_error_t je;
        json_t *body = json_loads(arg, JSON_REJECT_DUPLICATES, &je);
        if (!body || !json_is_object(body)) {
            json_decref(body);
            hc_log_warn("control needs a JSON object", "text=%s", hc_log_q(q, sizeof q, arg));
            return;
        }
        m.control.body = body; /* the message owns it now */
        m.control.seq = ++s->ctl_seq;
    } else {
        hc_log_warn("unknown command", "command=%s", hc_log_q(q, sizeof q, line));
        cmd_help(s);
        return;
    }
    char err[256];
    if (hc_sig_validate(&m, err, sizeof err) < 0) {
        hc_log_warn("command refused", "reason=%s", hc_log_q(q, sizeof q, err));
    } else if (send_msg(s, &m) == 0) {
        if (m.type == HC_SIG_CONTROL) CNT(s, s->c.controls_tx++);
        hc_log_info("sent", "type=%s", hc_sig_type_name(m.type));
    }
    hc_sig_msg_fini(&m);
}

static void read_commands(hc_edge_session_t *s, uint64_t now)
{
    for (;;) {
        if (s->cmdlen >= sizeof s->cmdbuf - 1) s->cmdlen = 0; /* an over-long line: drop it */
        ssize_t n = read(s->cmd_fd, s->cmdbuf + s->cmdlen, sizeof s->cmdbuf - 1 - s->cmdlen);
        if (n == 0) {
            s->cmd_eof = true;
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) s->cmd_eof = true;
            return;
        }
        s->cmdlen += (size_t)n;
        char *nl;
        while ((nl = memchr(s->cmdbuf, '\n', s->cmdlen))) {
            *nl = 0;
            run_command(s, s->cmdbuf, now);
            size_t used = (size_t)(nl + 1 - s->cmdbuf);
            memmove(s->cmdbuf, nl + 1, s->cmdlen - used);
            s->cmdlen -= used;
        }
    }
}

/* ------------------------------------------------------------------ */
/* stats                                                               */

static void take_stats(hc_edge_session_t *s)
{
    if (!s->m) return;
    memset(s->stats, 0, sizeof *s->stats);
    s->ops->stats(s->m, s->stats);
    s->have_stats = true;
}

static void print_live(hc_edge_session_t *s, uint64_t now)
{
    if (!s->o.live) return;
    hc_edge_session_counters_t c;
    hc_edge_session_counters(s, &c);
    char line[2048];
    hc_edge_stats_line(s->have_stats ? s->stats : NULL, &c, (double)(now - s->t0) / 1e6, line,
                       sizeof line);
    fprintf(s->o.live, "%s\n", line);
    fflush(s->o.live);
}

static void stats_tick(hc_edge_session_t *s, uint64_t now)
{
    take_stats(s);
    print_live(s, now);
    if (s->json) {
        hc_edge_session_counters_t c;
        hc_edge_session_counters(s, &c);
        int n = hc_edge_stats_json(s->m ? s->stats : NULL, &c, (double)(now - s->t0) / 1e6,
                                   hc_wall_us() / 1000u, s->jsonbuf, JSON_LINE_MAX);
        if (n > 0) {
            fprintf(s->json, "%s\n", s->jsonbuf);
            fflush(s->json);
        }
    }
}

static void print_summary(hc_edge_session_t *s, uint64_t now)
{
    FILE *f = s->o.live;
    if (!f) return;
    hc_edge_session_counters_t c;
    hc_edge_session_counters(s, &c);
    fprintf(f,
            "hc-edge summary: %.1f s in session %s as %s; joined %" PRIu64 " time(s), %" PRIu64
            " rekey(s), %" PRIu64 " disconnect(s)\n",
            (double)(now - s->t0) / 1e6, s->cfg->session, s->cfg->site, c.joins, c.rekeys,
            c.disconnects);
    if (c.controls_tx || c.controls_rx)
        fprintf(f,
                "  control: %" PRIu64 " sent, %" PRIu64 " acked by the far side, %" PRIu64
                " received and acknowledged; last rtt %.1f ms\n",
                c.controls_tx, c.control_acks_rx, c.controls_rx, c.last_control_rtt_ms);
    if (!s->have_stats) {
        fflush(f);
        return;
    }
    const hc_edge_stats_t *st = s->stats;
    for (size_t i = 0; i < st->n_pub && i < 8; i++) {
        const hc_edge_pub_stats_t *p = &st->pub[i];
        char rung[48] = "";
        if (p->width)
            snprintf(rung, sizeof rung, ", last rung %dx%d@%d", p->width, p->height, p->fps);
        fprintf(f,
                "  sent %s: %" PRIu64 " frames (%" PRIu64 " keyframes)%s%s, target %u kbit/s; "
                "%" PRIu64 " PLIs, %" PRIu64 " NACKs, %" PRIu64 " retransmitted, %" PRIu64
                " FEC packets\n",
                p->mid, p->frames, p->keyframes, rung, p->stopped ? ", stopped" : "",
                p->target_bps / 1000, p->plis, p->nacks, p->rtx, p->fec_packets);
    }
    for (size_t i = 0; i < st->n_recv && i < 24; i++) {
        const hc_edge_recv_stats_t *r = &st->recv[i];
        fprintf(f,
                "  received %s%s%s%s: %" PRIu64 " frames on time, %" PRIu64 " late, %" PRIu64
                " lost, %" PRIu64 " freezes, %" PRIu64 " concealed; stamps %" PRIu64
                " ok / %" PRIu64 " bad\n",
                r->mid, r->label[0] ? " (" : "", r->label, r->label[0] ? ")" : "",
                r->frames_on_time, r->frames_late, r->frames_lost, r->freezes, r->audio_concealed,
                r->stamp_ok, r->stamp_bad);
    }
    fflush(f);
}

/* ------------------------------------------------------------------ */
/* the loop                                                            */

static uint64_t min_due(uint64_t a, uint64_t b)
{
    if (!a) return b;
    if (!b) return a;
    return a < b ? a : b;
}

static void check_connection(hc_edge_session_t *s, uint64_t now)
{
    if (!s->sc) return;
    hc_sigclient_state_t st = hc_sigclient_state(s->sc);
    if (st == HC_SIGCLIENT_READY && !s->ready_seen) {
        s->ready_seen = true;
        on_ready(s, now);
        return;
    }
    if (st == HC_SIGCLIENT_CLOSED) {
        char reason[200] = "";
        int code = hc_sigclient_wait(s->sc, 0);
        if (code == 0 || code == -HC_ETIMEOUT) code = -HC_ECLOSED;
        hc_sigclient_close_status(s->sc, reason, sizeof reason);
        if (fatal_hello(code)) {
            hc_log_error("relay refused our token", "error=%s reason=\"%s\"", hc_errname(code),
                         reason);
            conn_drop_client(s);
            finish(s, code);
            return;
        }
        on_drop(s, now, code, reason[0] ? reason : hc_strerror(code));
    }
}

static void timers(hc_edge_session_t *s, uint64_t now)
{
    if (s->closed_at_us && now - s->closed_at_us >= CLOSE_CONFIRM_MS * 1000ull) {
        /* The connection stayed up: the session's host (or an admin)
         * ended it. */
        hc_log_info("session ended by its host", NULL);
        finish(s, 0);
        return;
    }
    if (s->next_connect_us && now >= s->next_connect_us) connect_now(s, now);
    if (s->next_join_us && now >= s->next_join_us && s->sc && s->ready_seen) send_create_or_join(s);
    if (s->sc && s->ready_seen) {
        /* A pong (or anything) overdue: the uplink is gone even if TCP has
         * not noticed; start over rather than wait minutes. */
        uint64_t deadline = (uint64_t)(s->ping_ms * 2 < 2000 ? 2000 : s->ping_ms * 2) * 1000u;
        if (s->ping_sent_us && now - s->ping_sent_us > deadline && s->last_rx_us < now - deadline) {
            on_drop(s, now, -HC_ETIMEOUT, "no pong from the relay");
            return;
        }
        if (s->next_ping_us && now >= s->next_ping_us) {
            hc_sig_msg_t m;
            hc_sig_msg_init(&m, HC_SIG_PING);
            m.ping.id = hc_sigclient_next_id(s->sc);
            if (send_msg(s, &m) == 0) {
                CNT(s, s->c.pings++);
                if (!s->ping_sent_us) s->ping_sent_us = now;
            }
            s->next_ping_us = now + (uint64_t)s->ping_ms * 1000u;
        }
    }
    if (now >= s->next_stats_us) {
        stats_tick(s, now);
        s->next_stats_us += 1000000u;
        if (s->next_stats_us <= now) s->next_stats_us = now + 1000000u;
    }
}

static void drain_queues(hc_edge_session_t *s, uint64_t now)
{
    qitem_t *q;
    while (!atomic_load(&s->stop) && (q = queue_pop(s))) {
        if (q->gen == s->gen && s->sc) handle_msg(s, q, now);
        qitem_free(q);
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        cmd_t *c = s->chead;
        if (c) {
            s->chead = c->next;
            if (!s->chead) s->ctail = NULL;
            s->clen--;
        }
        pthread_mutex_unlock(&s->mu);
        if (!c) break;
        run_command(s, c->line, now);
        free(c);
    }
}

static void wait_events(hc_edge_session_t *s, uint64_t now, uint64_t due)
{
    struct pollfd pf[2] = {{.fd = s->wake_fd, .events = POLLIN}, {.fd = -1}};
    int n = 1;
    if (s->cmd_fd >= 0 && !s->cmd_eof) {
        pf[1].fd = s->cmd_fd;
        pf[1].events = POLLIN;
        n = 2;
    }
    int timeout = 1000;
    if (due) timeout = due <= now ? 0 : (int)((due - now + 999) / 1000);
    if (timeout > 1000) timeout = 1000;
    if (poll(pf, (nfds_t)n, timeout) > 0) {
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            ssize_t r = read(s->wake_fd, &v, sizeof v);
            (void)r;
        }
        if (n == 2 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) read_commands(s, hc_now_us());
    }
}

/* Leave politely so the relay frees our slot now rather than after its
 * grace period; the answer is waited for a moment only. */
static void leave(hc_edge_session_t *s)
{
    if (!s->sc || s->c.state != HC_EDGE_SESS_JOINED ||
        hc_sigclient_state(s->sc) != HC_SIGCLIENT_READY)
        return;
    hc_sig_msg_t m;
    hc_sig_msg_init(&m, HC_SIG_LEAVE);
    m.leave.id = s->leave_id = hc_sigclient_next_id(s->sc);
    if (send_msg(s, &m) < 0) return;
    s->left = false;
    uint64_t end = hc_now_us() + LEAVE_WAIT_MS * 1000u;
    while (!s->left && hc_now_us() < end) {
        qitem_t *q;
        while ((q = queue_pop(s))) {
            if (q->gen == s->gen) {
                if (q->msg->type == HC_SIG_LEFT && q->msg->left.id == s->leave_id) s->left = true;
                if (q->msg->type == HC_SIG_ERROR && q->msg->error.has_id &&
                    q->msg->error.id == s->leave_id)
                    s->left = true;
            }
            qitem_free(q);
        }
        if (s->left || hc_sigclient_state(s->sc) == HC_SIGCLIENT_CLOSED) break;
        struct pollfd pf = {.fd = s->wake_fd, .events = POLLIN};
        if (poll(&pf, 1, 50) > 0) {
            uint64_t v;
            ssize_t r = read(s->wake_fd, &v, sizeof v);
            (void)r;
        }
    }
    hc_log_info("left the session", "acknowledged=%s", s->left ? "true" : "false");
}

int hc_edge_session_run(hc_edge_session_t *s)
{
    uint64_t now = hc_now_us();
    s->t0 = now;
    s->next_stats_us = now + 1000000u;
    s->end_us = s->o.duration_us ? now + s->o.duration_us : 0;
    char q[200];
    hc_log_info("hc-edge session", "relay=%s session=%s site=%s role=%s publish=%zu", s->cfg->relay,
                s->cfg->session, hc_log_q(q, sizeof q, s->cfg->site),
                hc_sig_role_name(s->cfg->role), s->cfg->n_pub);
    connect_now(s, now);
    while (!atomic_load(&s->stop)) {
        now = hc_now_us();
        if (s->end_us && now >= s->end_us) break;
        check_connection(s, now);
        drain_queues(s, now);
        if (atomic_load(&s->stop)) break;
        check_connection(s, hc_now_us());
        timers(s, hc_now_us());
        if (atomic_load(&s->stop)) break;
        now = hc_now_us();
        uint64_t due = min_due(s->next_connect_us, s->next_join_us);
        due = min_due(due, s->next_ping_us);
        due = min_due(due, s->next_stats_us);
        due = min_due(due, s->end_us);
        if (s->closed_at_us) due = min_due(due, s->closed_at_us + CLOSE_CONFIRM_MS * 1000ull);
        wait_events(s, now, due);
    }
    now = hc_now_us();
    leave(s);
    take_stats(s);
    print_summary(s, now);
    conn_drop_client(s);
    if (s->m) s->ops->destroy(&s->m);
    set_state(s, HC_EDGE_SESS_DONE);
    return s->result;
}
