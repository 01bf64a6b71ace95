/*
 * sigserver.c - the signaling server's connections: lws context and
 * callbacks, the connection table, the cross-thread output queues, limits
 * at accept, and start/drain/stop (sigserver.h).
 *
 * Other threads reach a connection only through its id: hc_sigserver_send()
 * serializes, queues the frame under `mu` and puts the connection on the
 * wake list, then lws_cancel_service() makes lws run
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED on the server thread, which asks for a
 * write on every connection of the wake list. A connection is freed only
 * on the server thread, after it left the id hash under `mu`, so a stale
 * id finds nothing.
 */
#include "relay/sigserver_int.h"

#include "proto/err.h"
#include "relay/config.h"
#include "relay/log.h"
#include "relay/tls.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define CLOSE_GRACE_S 5 /* seconds a closing connection may take to flush */

static hc_log_limit_t g_reject_log = HC_LOG_LIMIT(10, 10000);

static const char *const reject_names[] = {
#define X(N, s) s,
    HC_SIGSERVER_REJECTS(X)
#undef X
};

const char *hc_sigserver_reject_name(hc_sigserver_reject_t r)
{
    return (unsigned)r < HC_SIGSERVER_REJ_COUNT ? reject_names[r] : NULL;
}

uint64_t sig_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void hc_sigserver_cfg_default(hc_sigserver_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->bind, sizeof cfg->bind, "0.0.0.0");
    cfg->port = 8443;
    cfg->tls = true;
    cfg->token_leeway_s = 30;
    cfg->keepalive_ms = 15000;
    cfg->hello_timeout_ms = 5000;
    cfg->max_conns = 4096;
    cfg->max_conns_per_ip = 16;
    cfg->max_msgs_per_s = 50;
    cfg->max_bad_frames = 5;
    cfg->max_pending_kib = 1024;
    cfg->drain_ms = 2000;
    snprintf(cfg->server_name, sizeof cfg->server_name, "hc-relay/%s", HC_RELAY_VERSION);
}

/* ---- handler gate ---- */

bool sig_gate_enter(hc_sigserver_t *s)
{
    pthread_mutex_lock(&s->hmu);
    if (atomic_load(&s->draining)) {
        pthread_mutex_unlock(&s->hmu);
        return false;
    }
    return true;
}

void sig_gate_leave(hc_sigserver_t *s)
{
    pthread_mutex_unlock(&s->hmu);
}

void sig_reject(hc_sigserver_t *s, hc_sigserver_reject_t why, const char *peer)
{
    pthread_mutex_lock(&s->mu);
    s->cnt.rejects[why]++;
    pthread_mutex_unlock(&s->mu);
    char q[96];
    hc_log_rl(&g_reject_log, HC_LOG_WARN, "signaling refused", "cause=%s peer=%s",
              reject_names[why], hc_log_q(q, sizeof q, peer ? peer : "-"));
}

/* ---- connection table ---- */

static uint32_t id_bucket(uint64_t id)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 40) & (SIG_HASH_BUCKETS - 1);
}

/* Under mu. */
static sig_conn_t *conn_find(hc_sigserver_t *s, uint64_t id)
{
    sig_conn_t *c = s->hash[id_bucket(id)];
    while (c && c->id != id) c = c->hnext;
    return c;
}

static void frames_free(sig_frame_t *f)
{
    while (f) {
        sig_frame_t *n = f->next;
        free(f);
        f = n;
    }
}

static sig_conn_t *conn_open(hc_sigserver_t *s, struct lws *wsi)
{
    sig_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->wsi = wsi;
    c->opened_us = c->last_rx_us = sig_now_us();
    hc_rate_init(&c->bucket, s->cfg.max_msgs_per_s, s->cfg.max_msgs_per_s * 2, c->opened_us);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = (int)lws_get_socket_fd(wsi);
    if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        hc_addr_from_sockaddr(&c->addr, (struct sockaddr *)&ss, sl) == 0)
        hc_addr_format(&c->addr, c->peer, sizeof c->peer);
    else
        snprintf(c->peer, sizeof c->peer, "?");

    pthread_mutex_lock(&s->mu);
    c->id = ++s->next_id;
    uint32_t b = id_bucket(c->id);
    c->hnext = s->hash[b];
    s->hash[b] = c;
    s->cnt.websockets++;
    pthread_mutex_unlock(&s->mu);

    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    return c;
}

static void conn_free(hc_sigserver_t *s, sig_conn_t *c)
{
    pthread_mutex_lock(&s->mu);
    sig_conn_t **p = &s->hash[id_bucket(c->id)];
    while (*p && *p != c) p = &(*p)->hnext;
    if (*p) *p = c->hnext;
    if (c->wake_pending) {
        sig_conn_t **w = &s->wake_head;
        while (*w && *w != c) w = &(*w)->wnext;
        if (*w) *w = c->wnext;
    }
    s->cnt.websockets--;
    if (c->hello_done) s->cnt.authenticated--;
    frames_free(c->out_head);
    pthread_mutex_unlock(&s->mu);

    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->rx);
    free(c);
}

/* Under mu: put c on the wake list. */
static void wake_locked(hc_sigserver_t *s, sig_conn_t *c)
{
    if (c->wake_pending) return;
    c->wake_pending = true;
    c->wnext = s->wake_head;
    s->wake_head = c;
}

/* Under mu: append a frame; close as too slow beyond the limit. */
static int queue_locked(hc_sigserver_t *s, sig_conn_t *c, sig_frame_t *f)
{
    if (c->close_req) return -HC_ENOTFOUND;
    if (c->out_bytes + f->len > (size_t)s->cfg.max_pending_kib * 1024u) {
        c->close_req = true;
        c->close_hard = true;
        c->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(c->close_reason, sizeof c->close_reason, "too slow");
        return -HC_EFULL;
    }
    if (c->out_tail)
        c->out_tail->next = f;
    else
        c->out_head = f;
    c->out_tail = f;
    c->out_bytes += f->len;
    s->cnt.tx_msgs++;
    return 0;
}

static sig_frame_t *frame_new(const char *text, size_t len)
{
    sig_frame_t *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f) return NULL;
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);
    return f;
}

int sig_queue_text(hc_sigserver_t *s, sig_conn_t *c, const char *text, size_t len)
{
    sig_frame_t *f = frame_new(text, len);
    if (!f) return -HC_ENOMEM;
    pthread_mutex_lock(&s->mu);
    int rc = queue_locked(s, c, f);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) free(f);
    if (rc == -HC_EFULL) {
        sig_reject(s, HC_SIGSERVER_REJ_SLOW, c->peer);
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else {
        lws_callback_on_writable(c->wsi);
    }
    return rc;
}

static char *write_msg(const hc_sig_msg_t *m, int *len)
{
    size_t cap = hc_sig_max_len(m->type) + 1;
    if (cap < 2) {
        *len = -HC_EINVAL;
        return NULL;
    }
    char *buf = malloc(cap);
    if (!buf) {
        *len = -HC_ENOMEM;
        return NULL;
    }
    *len = hc_sig_write(m, buf, cap);
    if (*len < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

int sig_reply(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m)
{
    int n;
    char *buf = write_msg(m, &n);
    if (!buf) {
        hc_log_error("signaling reply does not validate", "type=%s err=%s",
                     hc_sig_type_name(m->type), hc_errname(n));
        return n;
    }
    int rc = sig_queue_text(s, c, buf, (size_t)n);
    free(buf);
    return rc;
}

void sig_reply_error(hc_sigserver_t *s, sig_conn_t *c, uint32_t id, int code, const char *reason)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m) return;
    if (hc_sig_error_init(m, id, code, reason) == 0) sig_reply(s, c, m);
    hc_sig_msg_fini(m);
    free(m);
}

void sig_close(hc_sigserver_t *s, sig_conn_t *c, uint16_t code, const char *reason)
{
    pthread_mutex_lock(&s->mu);
    if (!c->close_req) {
        c->close_req = true;
        c->close_code = code;
        snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
    }
    pthread_mutex_unlock(&s->mu);
    /* A peer that stops reading must not keep a closing connection: the
     * queue and the close frame get CLOSE_GRACE_S, then lws drops it. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
    lws_callback_on_writable(c->wsi);
}

/* ---- public cross-thread API ---- */

int hc_sigserver_send(hc_sigserver_t *s, uint64_t conn, const hc_sig_msg_t *msg)
{
    int n;
    char *buf = write_msg(msg, &n);
    if (!buf) return n;
    sig_frame_t *f = frame_new(buf, (size_t)n);
    free(buf);
    if (!f) return -HC_ENOMEM;
    char peer[HC_ADDR_STRLEN] = "";
    pthread_mutex_lock(&s->mu);
    sig_conn_t *c = conn_find(s, conn);
    int rc = c ? queue_locked(s, c, f) : -HC_ENOTFOUND;
    if (c && rc != -HC_ENOTFOUND) wake_locked(s, c);
    if (rc == -HC_EFULL) memcpy(peer, c->peer, sizeof peer);
    pthread_mutex_unlock(&s->mu);
    if (rc < 0) free(f);
    if (c) lws_cancel_service(s->ctx);
    if (rc == -HC_EFULL) sig_reject(s, HC_SIGSERVER_REJ_SLOW, peer);
    return rc;
}

void hc_sigserver_close(hc_sigserver_t *s, uint64_t conn, const char *reason)
{
    pthread_mutex_lock(&s->mu);
    sig_conn_t *c = conn_find(s, conn);
    if (c && !c->close_req) {
        c->close_req = true;
        c->close_code = LWS_CLOSE_STATUS_NORMAL;
        snprintf(c->close_reason, sizeof c->close_reason, "%s", reason ? reason : "");
        wake_locked(s, c);
    }
    pthread_mutex_unlock(&s->mu);
    if (c) lws_cancel_service(s->ctx);
}

int hc_sigserver_peer(hc_sigserver_t *s, uint64_t conn, char *buf, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    sig_conn_t *c = conn_find(s, conn);
    if (c && cap) snprintf(buf, cap, "%s", c->peer);
    pthread_mutex_unlock(&s->mu);
    return c ? 0 : -HC_ENOTFOUND;
}

void hc_sigserver_counters(hc_sigserver_t *s, hc_sigserver_counters_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->cnt;
    pthread_mutex_unlock(&s->mu);
}

uint16_t hc_sigserver_port(const hc_sigserver_t *s)
{
    return s->port;
}

const char *hc_sigserver_cert_path(const hc_sigserver_t *s)
{
    return s->cfg.tls ? s->cert_path : "";
}

/* ---- accepted sockets (per-address limit) ---- */

static uint32_t ptr_bucket(const void *p)
{
    return (uint32_t)(((uintptr_t)p * 0x9E3779B97F4A7C15ull) >> 40) & (SIG_HASH_BUCKETS - 1);
}

static bool peer_of_fd(int fd, hc_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
           hc_addr_from_sockaddr(out, (struct sockaddr *)&ss, sl) == 0;
}

/* LWS_CALLBACK_FILTER_NETWORK_CONNECTION: nonzero refuses. */
static int filter_accept(hc_sigserver_t *s, int fd)
{
    hc_addr_t a;
    char peer[HC_ADDR_STRLEN] = "?";
    if (!peer_of_fd(fd, &a)) return 0; /* not an IP peer; lws decides */
    hc_addr_format(&a, peer, sizeof peer);
    if (atomic_load(&s->draining)) {
        sig_reject(s, HC_SIGSERVER_REJ_DRAINING, peer);
        return 1;
    }
    if (s->nsocks >= s->cfg.max_conns) {
        sig_reject(s, HC_SIGSERVER_REJ_TOTAL, peer);
        return 1;
    }
    if (s->cfg.max_conns_per_ip && hc_iptable_count(s->ips, &a) >= s->cfg.max_conns_per_ip) {
        sig_reject(s, HC_SIGSERVER_REJ_PER_IP, peer);
        return 1;
    }
    return 0;
}

/* LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: the accepted wsi exists. */
static void sock_add(hc_sigserver_t *s, struct lws *wsi)
{
    hc_addr_t a;
    int fd = (int)lws_get_socket_fd(wsi);
    if (fd < 0 || !peer_of_fd(fd, &a)) return;
    sig_sock_t *k = malloc(sizeof *k);
    if (!k) return;
    /* The filter already checked the limit; a full table only happens
     * with more distinct addresses than max_conns, which the total limit
     * prevents. Count anyway so remove stays symmetric. */
    if (hc_iptable_add(s->ips, &a, 0) < 0) {
        free(k);
        return;
    }
    k->wsi = wsi;
    k->addr = a;
    uint32_t b = ptr_bucket(wsi);
    k->next = s->socks[b];
    s->socks[b] = k;
    s->nsocks++;
    pthread_mutex_lock(&s->mu);
    s->cnt.connections = s->nsocks;
    s->cnt.accepted++;
    pthread_mutex_unlock(&s->mu);
}

/* LWS_CALLBACK_WSI_DESTROY */
static void sock_remove(hc_sigserver_t *s, struct lws *wsi)
{
    sig_sock_t **p = &s->socks[ptr_bucket(wsi)];
    while (*p && (*p)->wsi != wsi) p = &(*p)->next;
    if (!*p) return;
    sig_sock_t *k = *p;
    *p = k->next;
    hc_iptable_remove(s->ips, &k->addr);
    free(k);
    s->nsocks--;
    pthread_mutex_lock(&s->mu);
    s->cnt.connections = s->nsocks;
    pthread_mutex_unlock(&s->mu);
}

/* ---- receive ---- */

static int on_receive(hc_sigserver_t *s, sig_conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    c->last_rx_us = sig_now_us();
    pthread_mutex_lock(&s->mu);
    bool closing = c->close_req;
    pthread_mutex_unlock(&s->mu);
    if (lws_is_first_fragment(wsi)) {
        c->rx_len = 0;
        c->rx_discard = closing;
        if (!closing && lws_frame_is_binary(wsi)) {
            sig_reject(s, HC_SIGSERVER_REJ_BINARY, c->peer);
            sig_reply_error(s, c, 0, HC_EUNSUPPORTED, "binary frames are not signaling");
            sig_close(s, c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, "binary frame");
            c->rx_discard = true;
        }
    }
    if (c->rx_discard) return 0;
    size_t remaining = lws_remaining_packet_payload(wsi);
    /* Refuse as soon as the frame header says it is too big, before
     * buffering it (RFC 6455 5.2 gives the payload length up front). */
    if (c->rx_len + len + remaining > HC_SIG_MAX_TEXT) {
        sig_reject(s, HC_SIGSERVER_REJ_TOO_BIG, c->peer);
        sig_reply_error(s, c, 0, HC_ERANGE, "frame over 65536 bytes");
        sig_close(s, c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too big");
        c->rx_discard = true;
        return 0;
    }
    bool whole = lws_is_final_fragment(wsi) && !remaining;
    if (whole && c->rx_len == 0) {
        /* The usual case, a frame in one piece: parse it where lws has it,
         * so an idle connection holds no buffer. */
        pthread_mutex_lock(&s->mu);
        s->cnt.rx_msgs++;
        pthread_mutex_unlock(&s->mu);
        sig_on_frame(s, c, in, len);
        return 0;
    }
    /* Pieces: room for what the frame header announced (continuation
     * frames of a fragmented message grow it again, within the limit). */
    size_t need = c->rx_len + len + remaining;
    if (need > c->rx_cap) {
        char *p = realloc(c->rx, need);
        if (!p) return -1;
        c->rx = p;
        c->rx_cap = need;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!whole) return 0;
    pthread_mutex_lock(&s->mu);
    s->cnt.rx_msgs++;
    pthread_mutex_unlock(&s->mu);
    sig_on_frame(s, c, c->rx, c->rx_len);
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
    return 0;
}

/* ---- write ---- */

static int on_writeable(hc_sigserver_t *s, sig_conn_t *c, struct lws *wsi)
{
    pthread_mutex_lock(&s->mu);
    sig_frame_t *f = c->out_head;
    bool close_now = false;
    uint16_t code = 0;
    char reason[sizeof c->close_reason];
    if (f) {
        c->out_head = f->next;
        if (!c->out_head) c->out_tail = NULL;
        c->out_bytes -= f->len;
    } else if (c->close_req) {
        close_now = true;
        code = c->close_code;
        memcpy(reason, c->close_reason, sizeof reason);
    }
    bool more = c->out_head != NULL || c->close_req;
    /* A connection over its limit is closed at once, queue or not. */
    if (c->close_hard) {
        close_now = true;
        code = c->close_code;
        memcpy(reason, c->close_reason, sizeof reason);
    }
    pthread_mutex_unlock(&s->mu);
    if (close_now) {
        free(f);
        lws_close_reason(wsi, code, (unsigned char *)reason, strlen(reason));
        return -1;
    }
    if (!f) return 0;
    int w = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
    free(f);
    if (w < 0) return -1;
    if (more) lws_callback_on_writable(wsi);
    return 0;
}

/* ---- service-thread housekeeping ---- */

static void tick(lws_sorted_usec_list_t *sul)
{
    hc_sigserver_t *s = lws_container_of(sul, hc_sigserver_t, sul_tick);
    uint64_t now = sig_now_us();
    if (s->stop_begun) {
        if (!s->conns || now >= s->stop_deadline_us) s->exit_loop = true;
    } else {
        for (sig_conn_t *c = s->conns, *n; c; c = n) {
            n = c->next;
            sig_check_deadlines(s, c, now);
        }
    }
    lws_sul_schedule(s->ctx, 0, &s->sul_tick, tick, (lws_usec_t)SIG_TICK_MS * 1000);
}

static void on_wakeup(hc_sigserver_t *s)
{
    pthread_mutex_lock(&s->mu);
    sig_conn_t *w = s->wake_head;
    s->wake_head = NULL;
    for (sig_conn_t *c = w; c; c = c->wnext) c->wake_pending = false;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    /* Connections on the list are alive: conn_free unlinks them. The list
     * was detached under mu, and frees happen on this thread only. */
    for (sig_conn_t *c = w, *n; c; c = n) {
        n = c->wnext;
        pthread_mutex_lock(&s->mu);
        bool hard = c->close_hard;
        pthread_mutex_unlock(&s->mu);
        /* A consumer too slow to take its queue will not make the socket
         * writable either: drop it now rather than wait for a write. */
        if (hard) {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        bool closing = c->close_req;
        pthread_mutex_unlock(&s->mu);
        if (closing) lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
        lws_callback_on_writable(c->wsi);
    }
    if (stopping && !s->stop_begun) {
        s->stop_begun = true;
        s->stop_deadline_us = sig_now_us() + (uint64_t)s->cfg.drain_ms * 1000u;
        for (sig_conn_t *c = s->conns; c; c = c->next)
            sig_close(s, c, LWS_CLOSE_STATUS_GOINGAWAY, "relay shutting down");
        if (!s->conns) s->exit_loop = true;
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_vhost *vh = lws_get_vhost(wsi);
    hc_sigserver_t *s = vh ? lws_get_vhost_user(vh) : NULL;
    if (!s) return lws_callback_http_dummy(wsi, reason, user, in, len);
    sig_pss_t *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: return filter_accept(s, (int)(intptr_t)in);
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED: sock_add(s, wsi); break;
    case LWS_CALLBACK_WSI_DESTROY: sock_remove(s, wsi); break;

    case LWS_CALLBACK_ESTABLISHED:
        if (!pss || atomic_load(&s->draining)) return -1;
        pss->conn = conn_open(s, wsi);
        if (!pss->conn) return -1;
        hc_log_debug("signaling connection", "conn=%llu peer=%s", (unsigned long long)pss->conn->id,
                     pss->conn->peer);
        break;
    case LWS_CALLBACK_RECEIVE:
        if (!pss || !pss->conn) return -1;
        return on_receive(s, pss->conn, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss || !pss->conn) return 0;
        return on_writeable(s, pss->conn, wsi);
    case LWS_CALLBACK_CLOSED:
        if (pss && pss->conn) {
            sig_conn_t *c = pss->conn;
            pss->conn = NULL;
            hc_log_debug("signaling closed", "conn=%llu peer=%s", (unsigned long long)c->id,
                         c->peer);
            if (c->hello_done && s->h.on_close && sig_gate_enter(s)) {
                s->h.on_close(s->h.ud, c->id);
                sig_gate_leave(s);
            }
            conn_free(s, c);
            if (s->stop_begun && !s->conns) s->exit_loop = true;
        }
        break;

    case LWS_CALLBACK_HTTP:
        if (!pss) return -1;
        return sig_http_request(s, wsi, pss, in ? (const char *)in : "");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss) return -1;
        return sig_http_writeable(s, wsi, pss);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss) {
            free(pss->body);
            pss->body = NULL;
        }
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: on_wakeup(s); break;

    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    /* rx_buffer_size: frames arrive in pieces of at most this; on_receive
     * reassembles up to HC_SIG_MAX_TEXT. lws allocates it per connection, so
     * it is kept small: every subscriber holds a connection (16 KiB here was
     * a quarter of the relay's memory per subscriber), and the common
     * messages (join, control, acks) fit in one piece. */
    {"hillcast-sig", callback, sizeof(sig_pss_t), 2048, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service_main(void *arg)
{
    hc_sigserver_t *s = arg;
    lws_sul_schedule(s->ctx, 0, &s->sul_tick, tick, (lws_usec_t)SIG_TICK_MS * 1000);
    while (!s->exit_loop)
        if (lws_service(s->ctx, 0) < 0) break;
    lws_sul_cancel(&s->sul_tick);
    return NULL;
}

static bool is_loopback(const char *bind)
{
    return !strncmp(bind, "127.", 4) || !strcmp(bind, "::1") || !strcmp(bind, "localhost");
}

/* Every connection is a file descriptor: make room for max_conns (lws sizes
 * its poll table from the limit), or say that the limit is lower. */
static void raise_fd_limit(uint32_t max_conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_conns + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
        hc_log_warn("open file limit below max_conns: lws accepts fewer connections",
                    "max_conns=%u nofile=%llu", max_conns, (unsigned long long)rl.rlim_cur);
}

static void server_free(hc_sigserver_t *s)
{
    if (s->ctx) lws_context_destroy(s->ctx); /* runs CLOSED/WSI_DESTROY for the rest */
    s->ctx = NULL;
    while (s->conns) conn_free(s, s->conns);
    for (uint32_t i = 0; i < SIG_HASH_BUCKETS; i++) {
        while (s->socks[i]) {
            sig_sock_t *k = s->socks[i];
            s->socks[i] = k->next;
            free(k);
        }
    }
    hc_iptable_destroy(&s->ips);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->hmu);
    free(s);
}

int hc_sigserver_start(hc_sigserver_t **out, const hc_sigserver_cfg_t *cfg,
                       const hc_sigserver_handlers_t *h, char *err, size_t errcap)
{
    char dummy[8];
    if (!err || !errcap) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = 0;
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (cfg->secret_len < HC_TOKEN_KEY_MIN || cfg->secret_len > sizeof cfg->secret) {
        snprintf(err, errcap, "token secret must be %d..%zu bytes", HC_TOKEN_KEY_MIN,
                 sizeof cfg->secret);
        return -HC_ECONFIG;
    }
    if (cfg->keepalive_ms < 100 || cfg->keepalive_ms > 600000) {
        snprintf(err, errcap, "keepalive_ms must be 100..600000");
        return -HC_ECONFIG;
    }
    if (!cfg->max_conns) {
        snprintf(err, errcap, "max_conns must be at least 1");
        return -HC_ECONFIG;
    }
    hc_sigserver_t *s = calloc(1, sizeof *s);
    if (!s) return -HC_ENOMEM;
    s->cfg = *cfg;
    if (h) s->h = *h;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->hmu, NULL);
    s->start_wall_s = (int64_t)time(NULL);
    uint32_t seed = (uint32_t)sig_now_us() ^ (uint32_t)(uintptr_t)s;
    if (hc_iptable_new(&s->ips, cfg->max_conns, seed) < 0) {
        server_free(s);
        return -HC_ENOMEM;
    }

    if (cfg->tls) {
        if (cfg->cert[0] || cfg->key[0]) {
            if (!cfg->cert[0] || !cfg->key[0]) {
                snprintf(err, errcap, "tls needs both cert and key (or neither)");
                server_free(s);
                return -HC_ECONFIG;
            }
            snprintf(s->cert_path, sizeof s->cert_path, "%s", cfg->cert);
            snprintf(s->key_path, sizeof s->key_path, "%s", cfg->key);
        } else {
            bool created = false;
            int rc =
                hc_tls_selfsigned(cfg->state_dir, cfg->cert_host, s->cert_path, sizeof s->cert_path,
                                  s->key_path, sizeof s->key_path, &created, err, errcap);
            if (rc < 0) {
                server_free(s);
                return rc;
            }
            if (created) {
                char q[HC_SIGSERVER_PATH_MAX + 40];
                hc_log_info("generated a self-signed certificate", "cert=%s",
                            hc_log_q(q, sizeof q, s->cert_path));
            }
        }
    } else if (!is_loopback(cfg->bind)) {
        hc_log_warn("signaling without TLS on a non-loopback address: tokens and SRTP keys "
                    "travel in clear",
                    "bind=%s", cfg->bind);
    }

    hc_log_lws_bridge();
    raise_fd_limit(cfg->max_conns);
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof ci);
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (cfg->tls) ci.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;

    ci.port = CONTEXT_PORT_NO_LISTEN;
    ci.user = s;
    /* lws's own timeouts (handshakes, HTTP idle) in seconds. */
    ci.timeout_secs = 10;
    s->ctx = lws_create_context(&ci);
    if (!s->ctx) {
        snprintf(err, errcap, "cannot create the websocket context");
        server_free(s);
        return -HC_EIO;
    }

    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.port = cfg->port ? cfg->port : 0;
    vi.protocols = protocols;
    vi.user = s;
    vi.vhost_name = "hc-relay";
    vi.keepalive_timeout = 5;
    vi.timeout_secs = 10;
    vi.alpn = "http/1.1"; /* one connection, one client: no HTTP/2 multiplexing */
    if (!strcmp(cfg->bind, "0.0.0.0")) {
        vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    } else if (!strcmp(cfg->bind, "::") || !cfg->bind[0]) {
        /* all addresses, dual stack */
    } else {
        vi.iface = s->cfg.bind;
        if (!strchr(cfg->bind, ':')) vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    }
    if (cfg->tls) {
        vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vi.ssl_cert_filepath = s->cert_path;
        vi.ssl_private_key_filepath = s->key_path;
    }
    s->vh = lws_create_vhost(s->ctx, &vi);
    if (!s->vh) {
        snprintf(err, errcap, "cannot listen on %s port %u%s", cfg->bind, (unsigned)cfg->port,
                 cfg->tls ? " (or load the certificate/key)" : "");
        server_free(s);
        return -HC_EIO;
    }
    int port = lws_get_vhost_listen_port(s->vh);
    s->port = port > 0 ? (uint16_t)port : cfg->port;
    if (pthread_create(&s->thread, NULL, service_main, s)) {
        snprintf(err, errcap, "cannot start the signaling thread");
        server_free(s);
        return -HC_ENOMEM;
    }
    s->thread_started = true;
    *out = s;
    return 0;
}

void hc_sigserver_drain(hc_sigserver_t *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->hmu); /* waits for a handler in progress */
    atomic_store(&s->draining, true);
    pthread_mutex_unlock(&s->hmu);
}

void hc_sigserver_stop(hc_sigserver_t **sp)
{
    if (!sp || !*sp) return;
    hc_sigserver_t *s = *sp;
    *sp = NULL;
    hc_sigserver_drain(s);
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_mutex_unlock(&s->mu);
        lws_cancel_service(s->ctx);
        pthread_join(s->thread, NULL);
    }
    server_free(s);
}
