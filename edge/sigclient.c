/*
 * sigclient.c - libwebsockets client for Hillcast signaling (sigclient.h).
 *
 * One lws context and one service thread per client. Everything lws does
 * happens on that thread; other threads touch only the shared part under
 * `mu` (output queue, receive queue, waiters, state) and wake the service
 * loop with lws_cancel_service(), which lws turns into
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED on the service thread.
 */
#include "edge/sigclient.h"

#include "proto/err.h"

#include <errno.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MAX_MS 30000u

/* One queued outgoing frame, with the LWS_PRE bytes lws_write() wants in
 * front of the payload. */
typedef struct frame {
    struct frame *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
} frame_t;

typedef struct qmsg {
    struct qmsg *next;
    hc_sig_msg_t *msg;
} qmsg_t;

/* An outstanding hc_sigclient_call(). */
typedef struct waiter {
    struct waiter *next;
    uint32_t id;
    bool done;
    hc_sig_msg_t *reply; /* the caller's */
} waiter_t;

struct hc_sigclient {
    /* configuration (copied strings) */
    char *url_copy, *ca_file, *token, *client_name;
    const char *prot, *address, *path_in_url;
    char path[1024];
    char host_hdr[300];
    int port;
    bool tls, insecure;
    uint32_t connect_timeout_ms, reconnect_ms;
    size_t queue_max, out_max;
    void (*on_message)(void *ud, hc_sig_msg_t *msg);
    void (*on_state)(void *ud, hc_sigclient_state_t st, int code, const char *reason);
    void *ud;

    /* service thread only */
    struct lws_context *ctx;
    struct lws *wsi;
    pthread_t thread;
    bool thread_started;
    lws_sorted_usec_list_t sul_connect, sul_timeout;
    uint32_t backoff_ms;
    bool exit_loop;
    char *rx; /* reassembly of a frame that came in pieces, else NULL */
    size_t rx_len, rx_cap;
    bool rx_discard; /* current frame too big: drop until its end */
    bool hello_failed;
    bool attempt_over; /* connection_over() ran for the current attempt */
    int fail_code;
    char fail_reason[HC_SIG_REASON_MAX + 32];

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hc_sigclient_state_t state;
    int close_cause; /* why CLOSED (negative), 0 while not closed */
    char close_why[HC_SIG_REASON_MAX + 32];
    int ws_close_code; /* close frame of the last connection */
    char ws_close_reason[128];
    bool stop;       /* destroy or close requested */
    bool force_exit; /* destroy: leave the service loop now */
    bool close_req;  /* send a close frame now */
    char close_req_reason[124];
    frame_t *out_head, *out_tail;
    size_t out_bytes;
    qmsg_t *q_head, *q_tail;
    size_t q_len;
    waiter_t *waiters;
    bool have_welcome;
    hc_sig_welcome_t welcome;
    uint32_t next_id;
    hc_sigclient_counters_t cnt;
};

static void set_err(char *err, size_t cap, const char *fmt, const char *a)
{
    if (err && cap) snprintf(err, cap, fmt, a ? a : "");
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void frames_free(frame_t *f)
{
    while (f) {
        frame_t *n = f->next;
        free(f);
        f = n;
    }
}

/* Under mu. */
static void set_state_locked(hc_sigclient_t *c, hc_sigclient_state_t st)
{
    c->state = st;
    pthread_cond_broadcast(&c->cv);
}

/* Service thread, mu not held: change state and tell the user. */
static void change_state(hc_sigclient_t *c, hc_sigclient_state_t st, int code, const char *why)
{
    pthread_mutex_lock(&c->mu);
    bool changed = c->state != st;
    if (st == HC_SIGCLIENT_CLOSED) {
        c->close_cause = code ? code : -HC_ECLOSED;
        snprintf(c->close_why, sizeof c->close_why, "%s", why ? why : "");
    }
    set_state_locked(c, st);
    pthread_mutex_unlock(&c->mu);
    if (changed && c->on_state) c->on_state(c->ud, st, code, why ? why : "");
}

/* ---- connecting ---- */

static void connect_now(lws_sorted_usec_list_t *sul);
static void connection_over(hc_sigclient_t *c, int code, const char *why);
static void rx_reset(hc_sigclient_t *c);

static void schedule_connect(hc_sigclient_t *c, uint32_t delay_ms)
{
    lws_sul_schedule(c->ctx, 0, &c->sul_connect, connect_now, (lws_usec_t)delay_ms * 1000);
}

static void attempt_timeout(lws_sorted_usec_list_t *sul)
{
    hc_sigclient_t *c = lws_container_of(sul, hc_sigclient_t, sul_timeout);
    if (c->wsi) {
        c->fail_code = -HC_ETIMEOUT;
        snprintf(c->fail_reason, sizeof c->fail_reason, "connect timeout");
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
}

static void connect_now(lws_sorted_usec_list_t *sul)
{
    hc_sigclient_t *c = lws_container_of(sul, hc_sigclient_t, sul_connect);
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);
    if (stop || c->wsi) return;

    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = c->ctx;
    i.address = c->address;
    i.port = c->port;
    i.path = c->path;
    i.host = c->host_hdr;
    i.origin = c->host_hdr;
    i.protocol = HC_SIGCLIENT_PROTOCOL;
    i.userdata = c;
    i.pwsi = &c->wsi;
    if (c->tls) {
        i.ssl_connection = LCCSCF_USE_SSL;
        if (c->insecure)
            i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    c->fail_code = 0;
    c->fail_reason[0] = 0;
    c->attempt_over = false;
    change_state(c, HC_SIGCLIENT_CONNECTING, 0, "connecting");
    lws_sul_schedule(c->ctx, 0, &c->sul_timeout, attempt_timeout,
                     (lws_usec_t)c->connect_timeout_ms * 1000);
    if (!lws_client_connect_via_info(&i)) {
        /* The CONNECTION_ERROR callback may or may not have run; make sure
         * the failure is handled once. */
        c->wsi = NULL;
        if (!c->attempt_over) {
            if (!c->fail_code) {
                c->fail_code = -HC_EIO;
                snprintf(c->fail_reason, sizeof c->fail_reason, "cannot connect to %s:%d",
                         c->address, c->port);
            }
            connection_over(c, c->fail_code, c->fail_reason);
        }
    }
}

/* The connection ended (or never came up): reconnect or close for good. */
static void connection_over(hc_sigclient_t *c, int code, const char *why)
{
    c->attempt_over = true;
    c->wsi = NULL;
    lws_sul_cancel(&c->sul_timeout);
    rx_reset(c);
    c->rx_discard = false;

    pthread_mutex_lock(&c->mu);
    frames_free(c->out_head);
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
    c->have_welcome = false;
    bool stop = c->stop;
    pthread_mutex_unlock(&c->mu);

    if (c->fail_code) {
        code = c->fail_code;
        why = c->fail_reason;
    }
    if (stop || c->hello_failed || c->reconnect_ms == 0) {
        change_state(c, HC_SIGCLIENT_CLOSED, code, why);
        if (stop) c->exit_loop = true;
        return;
    }
    change_state(c, HC_SIGCLIENT_CONNECTING, code, why);
    uint32_t d = c->backoff_ms ? c->backoff_ms : c->reconnect_ms;
    c->backoff_ms = d * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : d * 2;
    schedule_connect(c, d);
}

/* ---- sending ---- */

static int queue_frame(hc_sigclient_t *c, const char *text, size_t len, bool front)
{
    frame_t *f = malloc(sizeof *f + LWS_PRE + len);
    if (!f) return -HC_ENOMEM;
    f->next = NULL;
    f->len = len;
    memcpy(f->buf + LWS_PRE, text, len);

    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->state != HC_SIGCLIENT_OPEN && c->state != HC_SIGCLIENT_READY)
        rc = -HC_ECLOSED;
    else if (!front && c->out_bytes + len > c->out_max)
        rc = -HC_EFULL;
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        free(f);
        return rc;
    }
    if (front) {
        f->next = c->out_head;
        c->out_head = f;
        if (!c->out_tail) c->out_tail = f;
    } else {
        if (c->out_tail)
            c->out_tail->next = f;
        else
            c->out_head = f;
        c->out_tail = f;
    }
    c->out_bytes += len;
    pthread_mutex_unlock(&c->mu);
    lws_cancel_service(c->ctx);
    return 0;
}

static int write_one(hc_sigclient_t *c, struct lws *wsi)
{
    pthread_mutex_lock(&c->mu);
    if (c->close_req) {
        size_t n = strlen(c->close_req_reason);
        pthread_mutex_unlock(&c->mu);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)c->close_req_reason, n);
        if (!c->fail_code) {
            c->fail_code = -HC_ECLOSED;
            snprintf(c->fail_reason, sizeof c->fail_reason, "closed by client");
        }
        return -1;
    }
    frame_t *f = c->out_head;
    if (f) {
        c->out_head = f->next;
        if (!c->out_head) c->out_tail = NULL;
        c->out_bytes -= f->len;
        c->cnt.tx_msgs++;
    }
    bool more = c->out_head != NULL;
    pthread_mutex_unlock(&c->mu);
    if (!f) return 0;
    int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
    free(f);
    if (n < 0) return -1;
    if (more) lws_callback_on_writable(wsi);
    return 0;
}

/* ---- receiving ---- */

static void deliver(hc_sigclient_t *c, hc_sig_msg_t *m)
{
    uint32_t id = hc_sig_request_id(m);
    pthread_mutex_lock(&c->mu);
    c->cnt.rx_msgs++;
    if (id) {
        for (waiter_t *w = c->waiters; w; w = w->next) {
            if (w->id == id && !w->done) {
                *w->reply = *m; /* moves the OBJ references too */
                free(m);
                w->done = true;
                pthread_cond_broadcast(&c->cv);
                pthread_mutex_unlock(&c->mu);
                return;
            }
        }
    }
    if (c->token && c->state == HC_SIGCLIENT_OPEN &&
        (m->type == HC_SIG_WELCOME || (m->type == HC_SIG_ERROR && id == 0))) {
        if (m->type == HC_SIG_WELCOME) {
            c->welcome = m->welcome;
            c->have_welcome = true;
            set_state_locked(c, HC_SIGCLIENT_READY);
            pthread_mutex_unlock(&c->mu);
            c->backoff_ms = 0;
            if (c->on_state) c->on_state(c->ud, HC_SIGCLIENT_READY, 0, "welcome");
        } else {
            c->hello_failed = true;
            c->fail_code = -m->error.code;
            snprintf(c->fail_reason, sizeof c->fail_reason, "%s: %s", hc_errname(m->error.code),
                     m->error.reason);
            c->close_req = true;
            snprintf(c->close_req_reason, sizeof c->close_req_reason, "hello refused");
            pthread_mutex_unlock(&c->mu);
            if (c->wsi) lws_callback_on_writable(c->wsi);
        }
        hc_sig_msg_fini(m);
        free(m);
        return;
    }
    if (c->on_message) {
        pthread_mutex_unlock(&c->mu);
        c->on_message(c->ud, m);
        return;
    }
    qmsg_t *q = malloc(sizeof *q);
    if (!q) {
        c->cnt.queue_dropped++;
        pthread_mutex_unlock(&c->mu);
        hc_sig_msg_fini(m);
        free(m);
        return;
    }
    q->next = NULL;
    q->msg = m;
    if (c->q_tail)
        c->q_tail->next = q;
    else
        c->q_head = q;
    c->q_tail = q;
    c->q_len++;
    qmsg_t *old = NULL;
    if (c->q_len > c->queue_max) {
        old = c->q_head;
        c->q_head = old->next;
        c->q_len--;
        c->cnt.queue_dropped++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (old) {
        hc_sig_msg_fini(old->msg);
        free(old->msg);
        free(old);
    }
}

static void rx_bad(hc_sigclient_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->cnt.rx_bad++;
    pthread_mutex_unlock(&c->mu);
}

static void rx_reset(hc_sigclient_t *c)
{
    free(c->rx);
    c->rx = NULL;
    c->rx_len = c->rx_cap = 0;
}

static void parse_deliver(hc_sigclient_t *c, const char *text, size_t len)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m || hc_sig_parse(text, len, m, NULL, 0) < 0) {
        free(m);
        rx_bad(c);
        return;
    }
    deliver(c, m);
}

static void receive(hc_sigclient_t *c, struct lws *wsi, const char *in, size_t len)
{
    if (lws_is_first_fragment(wsi)) {
        rx_reset(c);
        c->rx_discard = lws_frame_is_binary(wsi);
    }
    size_t remaining = lws_remaining_packet_payload(wsi);
    bool whole = lws_is_final_fragment(wsi) && !remaining;
    if (!c->rx_discard && c->rx_len + len + remaining > HC_SIG_MAX_TEXT) c->rx_discard = true;
    if (c->rx_discard) {
        if (whole) {
            rx_bad(c);
            rx_reset(c);
            c->rx_discard = false;
        }
        return;
    }
    if (whole && c->rx_len == 0) {
        /* A frame in one piece: parse it where lws has it. */
        parse_deliver(c, in, len);
        return;
    }
    size_t need = c->rx_len + len + remaining;
    if (need > c->rx_cap) {
        char *p = realloc(c->rx, need);
        if (!p) {
            c->rx_discard = true;
            return;
        }
        c->rx = p;
        c->rx_cap = need;
    }
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!whole) return;
    parse_deliver(c, c->rx, c->rx_len);
    rx_reset(c);
}

static int send_hello(hc_sigclient_t *c)
{
    hc_sig_msg_t *m = calloc(1, sizeof *m);
    char *buf = malloc(HC_SIG_TOKEN_MAX + 512);
    int rc = -HC_ENOMEM;
    if (m && buf) {
        hc_sig_msg_init(m, HC_SIG_HELLO);
        snprintf(m->hello.token, sizeof m->hello.token, "%s", c->token);
        if (c->client_name) snprintf(m->hello.client, sizeof m->hello.client, "%s", c->client_name);
        rc = hc_sig_write(m, buf, HC_SIG_TOKEN_MAX + 512);
        if (rc >= 0) rc = queue_frame(c, buf, (size_t)rc, true);
    }
    free(m);
    free(buf);
    return rc;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    hc_sigclient_t *c = lws_context_user(lws_get_context(wsi));
    (void)user;
    if (!c) return 0;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (!c->fail_code) {
            c->fail_code = -HC_EIO;
            snprintf(c->fail_reason, sizeof c->fail_reason, "%s",
                     in ? (const char *)in : "connection failed");
        }
        if (wsi == c->wsi || c->wsi == NULL) connection_over(c, -HC_EIO, c->fail_reason);
        break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->wsi = wsi;
        pthread_mutex_lock(&c->mu);
        c->ws_close_code = 0;
        c->ws_close_reason[0] = 0;
        c->cnt.connects++;
        set_state_locked(c, c->token ? HC_SIGCLIENT_OPEN : HC_SIGCLIENT_READY);
        pthread_mutex_unlock(&c->mu);
        if (c->token) {
            if (send_hello(c) < 0) return -1;
            if (c->on_state) c->on_state(c->ud, HC_SIGCLIENT_OPEN, 0, "open");
        } else {
            lws_sul_cancel(&c->sul_timeout);
            c->backoff_ms = 0;
            if (c->on_state) c->on_state(c->ud, HC_SIGCLIENT_READY, 0, "open");
        }
        lws_callback_on_writable(wsi);
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
        receive(c, wsi, in, len);
        pthread_mutex_lock(&c->mu);
        if (c->state == HC_SIGCLIENT_READY) lws_sul_cancel(&c->sul_timeout);
        pthread_mutex_unlock(&c->mu);
        break;

    case LWS_CALLBACK_CLIENT_WRITEABLE: return write_one(c, wsi);

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
        const unsigned char *p = in;
        pthread_mutex_lock(&c->mu);
        if (len >= 2) {
            c->ws_close_code = (p[0] << 8) | p[1];
            size_t n =
                len - 2 < sizeof c->ws_close_reason - 1 ? len - 2 : sizeof c->ws_close_reason - 1;
            memcpy(c->ws_close_reason, p + 2, n);
            c->ws_close_reason[n] = 0;
        } else {
            c->ws_close_code = 1005; /* RFC 6455 7.4.1: no status code present */
        }
        pthread_mutex_unlock(&c->mu);
        break;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
        if (wsi == c->wsi) {
            pthread_mutex_lock(&c->mu);
            c->cnt.disconnects++;
            int code = c->ws_close_code;
            char why[200];
            if (code)
                snprintf(why, sizeof why, "closed by relay (%d %s)", code, c->ws_close_reason);
            else
                snprintf(why, sizeof why, "connection lost");
            pthread_mutex_unlock(&c->mu);
            connection_over(c, code ? -HC_ECLOSED : -HC_EIO, why);
        }
        break;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stop, want = c->out_head != NULL || c->close_req;
        bool connecting = c->state == HC_SIGCLIENT_CONNECTING;
        if (c->force_exit) c->exit_loop = true;
        pthread_mutex_unlock(&c->mu);
        if (c->wsi && stop && connecting)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        else if (c->wsi && want)
            lws_callback_on_writable(c->wsi);
        if (stop && !c->wsi) {
            lws_sul_cancel(&c->sul_connect);
            pthread_mutex_lock(&c->mu);
            bool closed = c->state == HC_SIGCLIENT_CLOSED;
            pthread_mutex_unlock(&c->mu);
            if (!closed) change_state(c, HC_SIGCLIENT_CLOSED, -HC_ECLOSED, "closed by client");
            c->exit_loop = true;
        }
        break;
    }

    default: break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {HC_SIGCLIENT_PROTOCOL, callback, 0, HC_SIG_MAX_TEXT, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void *service_main(void *arg)
{
    hc_sigclient_t *c = arg;
    schedule_connect(c, 0);
    while (!c->exit_loop)
        if (lws_service(c->ctx, 0) < 0) break;
    return NULL;
}

/* ---- public API ---- */

void hc_sigclient_cfg_default(hc_sigclient_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 10000;
    cfg->queue_max = 1024;
    cfg->out_max_bytes = 1u << 20;
}

static void client_free(hc_sigclient_t *c)
{
    if (c->ctx) lws_context_destroy(c->ctx);
    frames_free(c->out_head);
    for (qmsg_t *q = c->q_head; q;) {
        qmsg_t *n = q->next;
        hc_sig_msg_fini(q->msg);
        free(q->msg);
        free(q);
        q = n;
    }
    free(c->rx);
    free(c->url_copy);
    free(c->ca_file);
    free(c->token);
    free(c->client_name);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* libwebsockets logs notices (its version banner, ...) to stderr by default,
 * once per context: a probe or bench with hundreds of clients would print
 * hundreds of lines. Clients keep errors and warnings. */
static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;
static void lws_log_quiet(void)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
}

int hc_sigclient_new(hc_sigclient_t **out, const hc_sigclient_cfg_t *cfg, char *err, size_t errcap)
{
    pthread_once(&lws_log_once, lws_log_quiet);
    if (!out || !cfg || !cfg->url) {
        set_err(err, errcap, "%s", "no URL");
        return -HC_EINVAL;
    }
    *out = NULL;
    hc_sigclient_t *c = calloc(1, sizeof *c);
    if (!c) return -HC_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    c->url_copy = dupstr(cfg->url);
    c->ca_file = dupstr(cfg->ca_file);
    c->token = dupstr(cfg->token);
    c->client_name = dupstr(cfg->client);
    if (!c->url_copy || (cfg->ca_file && !c->ca_file) || (cfg->token && !c->token) ||
        (cfg->client && !c->client_name)) {
        client_free(c);
        return -HC_ENOMEM;
    }
    if (c->token && strlen(c->token) > HC_SIG_TOKEN_MAX) {
        set_err(err, errcap, "%s", "token too long");
        client_free(c);
        return -HC_EINVAL;
    }
    if (lws_parse_uri(c->url_copy, &c->prot, &c->address, &c->port, &c->path_in_url) ||
        !c->address[0]) {
        set_err(err, errcap, "bad URL %s", cfg->url);
        client_free(c);
        return -HC_EINVAL;
    }
    if (!strcmp(c->prot, "wss") || !strcmp(c->prot, "https"))
        c->tls = true;
    else if (strcmp(c->prot, "ws") && strcmp(c->prot, "http")) {
        set_err(err, errcap, "URL scheme must be ws:// or wss://: %s", cfg->url);
        client_free(c);
        return -HC_EINVAL;
    }
    snprintf(c->path, sizeof c->path, "/%s", c->path_in_url);
    if (strchr(c->address, ':'))
        snprintf(c->host_hdr, sizeof c->host_hdr, "[%s]:%d", c->address, c->port);
    else
        snprintf(c->host_hdr, sizeof c->host_hdr, "%s:%d", c->address, c->port);
    c->insecure = cfg->insecure;
    c->connect_timeout_ms = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
    c->reconnect_ms = cfg->reconnect_ms;
    c->queue_max = cfg->queue_max ? cfg->queue_max : 1024;
    c->out_max = cfg->out_max_bytes ? cfg->out_max_bytes : (1u << 20);
    c->on_message = cfg->on_message;
    c->on_state = cfg->on_state;
    c->ud = cfg->ud;
    c->state = HC_SIGCLIENT_CONNECTING;

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = c;
    /* ws:// clients do no TLS initialization at all: it would load the CA
     * store (about 700 KB for the system one) into every client, and lws
     * 4.1 never frees a client SSL_CTX when another TLS-initialized lws
     * context exists in the process (its ex_data index is global). */
    if (c->tls) {
        info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = c->ca_file;
    }
    info.timeout_secs = (c->connect_timeout_ms + 999) / 1000;
    info.connect_timeout_secs = info.timeout_secs;
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        set_err(err, errcap, "%s", "cannot create the websocket context (TLS setup or CA file?)");
        client_free(c);
        return -HC_EIO;
    }
    if (pthread_create(&c->thread, NULL, service_main, c)) {
        set_err(err, errcap, "%s", "cannot start the client thread");
        client_free(c);
        return -HC_ENOMEM;
    }
    c->thread_started = true;
    *out = c;
    return 0;
}

static void deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Wait on cv until the deadline (timeout_ms < 0: forever). false on timeout. */
static bool cv_wait(hc_sigclient_t *c, const struct timespec *ts, int timeout_ms)
{
    if (timeout_ms < 0) {
        pthread_cond_wait(&c->cv, &c->mu);
        return true;
    }
    return pthread_cond_timedwait(&c->cv, &c->mu, ts) != ETIMEDOUT;
}

int hc_sigclient_wait(hc_sigclient_t *c, int timeout_ms)
{
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    for (;;) {
        if (c->state == HC_SIGCLIENT_READY) break;
        if (c->state == HC_SIGCLIENT_CLOSED) {
            rc = c->close_cause ? c->close_cause : -HC_ECLOSED;
            break;
        }
        if (!cv_wait(c, &ts, timeout_ms)) {
            if (c->state == HC_SIGCLIENT_READY) break;
            rc = -HC_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int hc_sigclient_connect(hc_sigclient_t **out, const hc_sigclient_cfg_t *cfg, char *err,
                         size_t errcap)
{
    int rc = hc_sigclient_new(out, cfg, err, errcap);
    if (rc < 0) return rc;
    uint32_t t = cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 10000;
    rc = hc_sigclient_wait(*out, (int)t + 500);
    if (rc < 0) {
        if (err && errcap) {
            pthread_mutex_lock(&(*out)->mu);
            if (rc == -HC_ETIMEOUT)
                snprintf(err, errcap, "ETIMEOUT: no answer from %s", cfg->url);
            else if ((*out)->close_why[0])
                snprintf(err, errcap, "%s", (*out)->close_why);
            else
                snprintf(err, errcap, "%s: %s", hc_errname(rc), hc_strerror(rc));
            pthread_mutex_unlock(&(*out)->mu);
        }
        hc_sigclient_destroy(out);
    }
    return rc;
}

void hc_sigclient_close(hc_sigclient_t *c, const char *reason)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    c->close_req = true;
    snprintf(c->close_req_reason, sizeof c->close_req_reason, "%s", reason ? reason : "bye");
    pthread_mutex_unlock(&c->mu);
    lws_cancel_service(c->ctx);
}

void hc_sigclient_destroy(hc_sigclient_t **cp)
{
    if (!cp || !*cp) return;
    hc_sigclient_t *c = *cp;
    *cp = NULL;
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        bool closing = c->close_req;
        c->stop = true;
        if (!closing) {
            c->close_req = true;
            snprintf(c->close_req_reason, sizeof c->close_req_reason, "bye");
        }
        pthread_mutex_unlock(&c->mu);
        lws_cancel_service(c->ctx);
        /* Give the close handshake a moment; the service loop exits when
         * the connection is gone or this deadline passes. */
        struct timespec ts;
        deadline(&ts, 2000);
        pthread_mutex_lock(&c->mu);
        while (c->state != HC_SIGCLIENT_CLOSED)
            if (!cv_wait(c, &ts, 2000)) break;
        pthread_mutex_unlock(&c->mu);
        /* Ends the loop even when the close did not complete. */
        pthread_mutex_lock(&c->mu);
        c->force_exit = true;
        pthread_mutex_unlock(&c->mu);
        lws_cancel_service(c->ctx);
        pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
    /* Wake callers still blocked in call/recv/wait before freeing: there
     * must be none (documented), but fail them loudly rather than hang. */
    client_free(c);
}

hc_sigclient_state_t hc_sigclient_state(hc_sigclient_t *c)
{
    pthread_mutex_lock(&c->mu);
    hc_sigclient_state_t s = c->state;
    pthread_mutex_unlock(&c->mu);
    return s;
}

int hc_sigclient_welcome(hc_sigclient_t *c, hc_sig_welcome_t *out)
{
    pthread_mutex_lock(&c->mu);
    int rc = c->have_welcome ? 0 : -HC_ENOTFOUND;
    if (!rc) *out = c->welcome;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int hc_sigclient_close_status(hc_sigclient_t *c, char *reason, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    int code = c->ws_close_code;
    if (reason && cap) snprintf(reason, cap, "%s", c->ws_close_reason);
    pthread_mutex_unlock(&c->mu);
    return code;
}

uint32_t hc_sigclient_next_id(hc_sigclient_t *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->next_id == 0 || c->next_id >= HC_SIG_REQ_ID_MAX) c->next_id = 0;
    uint32_t id = ++c->next_id;
    pthread_mutex_unlock(&c->mu);
    return id;
}

int hc_sigclient_send(hc_sigclient_t *c, const hc_sig_msg_t *msg)
{
    size_t cap = hc_sig_max_len(msg->type) + 1;
    if (cap < 2) return -HC_EINVAL;
    char *buf = malloc(cap);
    if (!buf) return -HC_ENOMEM;
    int n = hc_sig_write(msg, buf, cap);
    int rc = n < 0 ? n : queue_frame(c, buf, (size_t)n, false);
    free(buf);
    return rc;
}

int hc_sigclient_send_raw(hc_sigclient_t *c, const char *text, size_t len)
{
    return queue_frame(c, text, len, false);
}

/* The request id lives in a different member per type; the schema knows
 * where. */
static bool set_request_id(hc_sig_msg_t *m, uint32_t id)
{
    const hc_sig_schema_t *s = hc_sig_schema(m->type);
    if (!s) return false;
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        if (!strcmp(f->name, "id") && f->ftype == HC_SIG_FT_U32) {
            /* Offsets are relative to the union member, which starts at
             * the union: every member of hc_sig_msg_t's union begins there. */
            unsigned char *base = (unsigned char *)&m->hello;
            memcpy(base + f->off, &id, sizeof id);
            if (f->has_flag) {
                bool t = true;
                memcpy(base + f->has_off, &t, sizeof t);
            }
            return true;
        }
    }
    return false;
}

int hc_sigclient_call(hc_sigclient_t *c, hc_sig_msg_t *req, hc_sig_msg_t *reply, int timeout_ms)
{
    memset(reply, 0, sizeof *reply);
    uint32_t id = hc_sigclient_next_id(c);
    if (!set_request_id(req, id)) return -HC_EINVAL;
    waiter_t w = {.id = id, .reply = reply};
    pthread_mutex_lock(&c->mu);
    w.next = c->waiters;
    c->waiters = &w;
    pthread_mutex_unlock(&c->mu);

    int rc = hc_sigclient_send(c, req);
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->mu);
    while (rc == 0 && !w.done) {
        if (c->state == HC_SIGCLIENT_CLOSED ||
            (c->state == HC_SIGCLIENT_CONNECTING && c->reconnect_ms == 0)) {
            rc = -HC_ECLOSED;
            break;
        }
        if (!cv_wait(c, &ts, timeout_ms) && !w.done) rc = -HC_ETIMEOUT;
    }
    for (waiter_t **p = &c->waiters; *p; p = &(*p)->next) {
        if (*p == &w) {
            *p = w.next;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0 && w.done && reply->type == HC_SIG_ERROR)
        rc = -(reply->error.code ? reply->error.code : HC_EINTERNAL);
    if (!w.done) memset(reply, 0, sizeof *reply);
    return rc;
}

int hc_sigclient_recv(hc_sigclient_t *c, hc_sig_msg_t *msg, int timeout_ms)
{
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    while (!c->q_head) {
        if (c->state == HC_SIGCLIENT_CLOSED) {
            rc = -HC_ECLOSED;
            break;
        }
        if (timeout_ms == 0 || !cv_wait(c, &ts, timeout_ms)) {
            if (c->q_head) break;
            rc = -HC_ETIMEOUT;
            break;
        }
    }
    qmsg_t *q = NULL;
    if (c->q_head) {
        rc = 0;
        q = c->q_head;
        c->q_head = q->next;
        if (!c->q_head) c->q_tail = NULL;
        c->q_len--;
    }
    pthread_mutex_unlock(&c->mu);
    if (q) {
        *msg = *q->msg;
        free(q->msg);
        free(q);
    }
    return rc;
}

void hc_sigclient_msg_free(hc_sig_msg_t **m)
{
    if (!m || !*m) return;
    hc_sig_msg_fini(*m);
    free(*m);
    *m = NULL;
}

void hc_sigclient_counters(hc_sigclient_t *c, hc_sigclient_counters_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->cnt;
    pthread_mutex_unlock(&c->mu);
}
