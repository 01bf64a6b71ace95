/*
 * sigtest.c - helpers of the signaling integration tests (sigtest.h),
 * built into the `hcinteg` library that every integration test links.
 */
#include "tests/integration/sigtest.h"

#include "proto/err.h"
#include "relay/metrics.h"
#include "relay/sessions.h"
#include "relay/worker.h"

#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void sigtest_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void sigtest_cfg(hc_sigserver_cfg_t *cfg)
{
    hc_sigserver_cfg_default(cfg);
    snprintf(cfg->bind, sizeof cfg->bind, "127.0.0.1");
    cfg->port = 0;
    cfg->tls = false;
    cfg->secret_len = strlen(SIGTEST_SECRET);
    memcpy(cfg->secret, SIGTEST_SECRET, cfg->secret_len);
    cfg->drain_ms = 1000;
}

/* ---- test handlers ---- */

void canned_sessions(hc_sig_msg_t *r, uint32_t id)
{
    hc_sig_msg_init(r, HC_SIG_SESSIONS);
    r->sessions.id = id;
    r->sessions.total = 2;
    r->sessions.offset = 0;
    r->sessions.n_items = 2;
    hc_sig_session_info_t *a = &r->sessions.items[0], *b = &r->sessions.items[1];
    snprintf(a->session, sizeof a->session, "math-101");
    a->kind = HC_SIG_KIND_CLASS;
    snprintf(a->title, sizeof a->title, "Algebra");
    a->created_ms = 1700000000000;
    a->participants = 12;
    a->publishers = 1;
    a->in_kbps = 1500;
    a->out_kbps = 16500;
    snprintf(b->session, sizeof b->session, "consult-7");
    b->kind = HC_SIG_KIND_CONSULT;
    b->created_ms = 1700000100000;
    b->participants = 2;
    b->publishers = 2;
    b->in_kbps = 2100;
    b->out_kbps = 2100;
}

static void canned_participants(hc_sig_msg_t *r, uint32_t id, const char *session)
{
    hc_sig_msg_init(r, HC_SIG_PARTICIPANTS);
    r->participants.id = id;
    snprintf(r->participants.session, sizeof r->participants.session, "%s", session);
    r->participants.total = 2;
    r->participants.n_items = 2;
    hc_sig_participant_info_t *p = &r->participants.items[0];
    snprintf(p->participant, sizeof p->participant, "p1");
    snprintf(p->site, sizeof p->site, "City School");
    p->role = HC_SIG_ROLE_TEACHER;
    p->joined_ms = 1700000000000;
    snprintf(p->addr, sizeof p->addr, "10.0.0.5:40000");
    p->n_legs = 2;
    hc_sig_leg_t *l = &p->legs[0];
    l->ssrc = 1111;
    l->dir = HC_SIG_LEG_IN;
    l->kind = HC_SIG_MEDIA_VIDEO;
    l->tag = HC_SIG_TAG_MAIN;
    l->kbps = 1400;
    l->loss = 0.012;
    l->rtt_ms = 48;
    l->jitter_ms = 3;
    l->nacks = 7;
    l->plis = 1;
    l = &p->legs[1];
    l->ssrc = 1113;
    l->dir = HC_SIG_LEG_IN;
    l->kind = HC_SIG_MEDIA_AUDIO;
    l->tag = HC_SIG_TAG_AUDIO;
    l->kbps = 40;
    p = &r->participants.items[1];
    snprintf(p->participant, sizeof p->participant, "p7");
    snprintf(p->site, sizeof p->site, "Dongxiang No.2");
    p->role = HC_SIG_ROLE_SITE;
    p->joined_ms = 1700000005000;
    p->hand = true;
    p->n_legs = 1;
    l = &p->legs[0];
    l->ssrc = 2222;
    l->dir = HC_SIG_LEG_OUT;
    l->kind = HC_SIG_MEDIA_VIDEO;
    l->tag = HC_SIG_TAG_MAIN;
    l->kbps = 900;
    l->loss = 0.05;
    l->rtt_ms = 120;
    l->jitter_ms = 9;
    l->nacks = 30;
    l->plis = 2;
}

static void send_error(sigtest_state_t *st, uint64_t conn, uint32_t id, int code, const char *why)
{
    hc_sig_msg_t *r = malloc(sizeof *r);
    hc_sig_error_init(r, id, code, why);
    hc_sigserver_send(st->srv, conn, r);
    hc_sig_msg_fini(r);
    free(r);
}

static void h_message(void *ud, uint64_t conn, const hc_token_claims_t *who, hc_sig_msg_t *msg)
{
    sigtest_state_t *st = ud;
    pthread_mutex_lock(&st->mu);
    st->messages++;
    st->last_type = msg->type;
    st->last_conn = conn;
    st->last_who = *who;
    bool ok = st->reply_ok, canned = st->canned_admin;
    pthread_mutex_unlock(&st->mu);

    uint32_t id = hc_sig_request_id(msg);
    hc_sig_msg_t *r = malloc(sizeof *r);
    bool send = false;
    if (canned) {
        switch (msg->type) {
        case HC_SIG_LIST_SESSIONS:
            canned_sessions(r, id);
            send = true;
            break;
        case HC_SIG_LIST_PARTICIPANTS:
            if (strcmp(msg->list_participants.session, "math-101")) {
                send_error(st, conn, id, HC_ENOTFOUND, "no session");
                break;
            }
            canned_participants(r, id, msg->list_participants.session);
            send = true;
            break;
        case HC_SIG_KICK:
            pthread_mutex_lock(&st->mu);
            snprintf(st->kicked, sizeof st->kicked, "%s", msg->kick.participant);
            pthread_mutex_unlock(&st->mu);
            hc_sig_msg_init(r, HC_SIG_OK);
            r->ok.id = id;
            send = true;
            break;
        case HC_SIG_CLOSE_SESSION:
            if (strcmp(msg->close_session.session, "math-101")) {
                send_error(st, conn, id, HC_ENOTFOUND, "no session nope");
                break;
            }
            pthread_mutex_lock(&st->mu);
            snprintf(st->closed_session, sizeof st->closed_session, "%s",
                     msg->close_session.session);
            pthread_mutex_unlock(&st->mu);
            hc_sig_msg_init(r, HC_SIG_OK);
            r->ok.id = id;
            send = true;
            break;
        case HC_SIG_SET_BUDGET:
            pthread_mutex_lock(&st->mu);
            snprintf(st->budget_site, sizeof st->budget_site, "%s", msg->set_budget.site);
            st->budget_kbps = msg->set_budget.kbps;
            pthread_mutex_unlock(&st->mu);
            hc_sig_msg_init(r, HC_SIG_OK);
            r->ok.id = id;
            send = true;
            break;
        default: break;
        }
    } else if (ok && id) {
        hc_sig_msg_init(r, HC_SIG_OK);
        r->ok.id = id;
        send = true;
    }
    if (send) hc_sigserver_send(st->srv, conn, r);
    if (send) hc_sig_msg_fini(r);
    free(r);
    hc_sig_msg_fini(msg);
    free(msg);
}

static void h_close(void *ud, uint64_t conn)
{
    sigtest_state_t *st = ud;
    (void)conn;
    pthread_mutex_lock(&st->mu);
    st->closes++;
    pthread_mutex_unlock(&st->mu);
}

static void h_hello(void *ud, uint64_t conn, const hc_token_claims_t *who, hc_sig_welcome_t *w)
{
    sigtest_state_t *st = ud;
    (void)conn;
    (void)who;
    pthread_mutex_lock(&st->mu);
    st->hellos++;
    pthread_mutex_unlock(&st->mu);
    w->has_resume = true;
    w->resume = false;
}

static void h_stats(void *ud, hc_sig_stats_reply_t *out)
{
    (void)ud;
    out->sessions = 3;
    out->participants = 64;
    out->legs = 140;
    out->in_kbps = 5200;
    out->out_kbps = 96000;
}

static void h_metrics(void *ud, FILE *f)
{
    (void)ud;
    /* The relay's own families, from made-up worker snapshots. */
    hc_worker_snapshot_t per[2];
    memset(per, 0, sizeof per);
    per[0].router.rx_packets = 1000;
    per[1].router.drop_auth = 3;
    per[1].busy_ratio = 0.25;
    hc_sessions_counters_t sc;
    memset(&sc, 0, sizeof sc);
    sc.sessions = 1;
    sc.participants = 4;
    hc_metrics_write(f, per, 2, &sc);
    fprintf(f, "# HELP hc_test_extra A family from the handler.\n"
               "# TYPE hc_test_extra gauge\n"
               "hc_test_extra 42\n");
}

hc_sigserver_t *sigtest_start(const hc_sigserver_cfg_t *cfg, sigtest_state_t *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    hc_sigserver_handlers_t h = {
        .ud = st,
        .on_message = h_message,
        .on_close = h_close,
        .on_hello = h_hello,
        .stats = h_stats,
        .metrics = h_metrics,
    };
    char err[256];
    hc_sigserver_t *s = NULL;
    int rc = hc_sigserver_start(&s, cfg, &h, err, sizeof err);
    ck_assert_msg(rc == 0, "start: %d %s", rc, err);
    ck_assert_uint_gt(hc_sigserver_port(s), 0);
    st->srv = s;
    return s;
}

void sigtest_stop(hc_sigserver_t **s, sigtest_state_t *st)
{
    hc_sigserver_stop(s);
    ck_assert_ptr_null(*s);
    pthread_mutex_destroy(&st->mu);
}

const char *sigtest_token(hc_sig_role_t role, const char *session, const char *site, int64_t ttl_s,
                          const char *key)
{
    static char tok[HC_TOKEN_MAX + 1];
    hc_token_claims_t c;
    memset(&c, 0, sizeof c);
    c.role = role;
    if (session) snprintf(c.session, sizeof c.session, "%s", session);
    if (site) snprintf(c.site, sizeof c.site, "%s", site);
    int64_t now = (int64_t)time(NULL);
    c.iat = now - (ttl_s < 0 ? 7200 : 0);
    c.exp = now + ttl_s;
    if (!key) key = SIGTEST_SECRET;
    int n = hc_token_mint(&c, (const uint8_t *)key, strlen(key), tok, sizeof tok);
    ck_assert_int_gt(n, 0);
    return tok;
}

int sigtest_connect(hc_sigclient_t **c, uint16_t port, bool tls, const char *ca, const char *token)
{
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u/", tls ? "wss" : "ws", (unsigned)port);
    hc_sigclient_cfg_t cfg;
    hc_sigclient_cfg_default(&cfg);
    cfg.url = url;
    cfg.token = token;
    cfg.client = "sigtest/1";
    cfg.ca_file = ca;
    cfg.insecure = tls && !ca;
    cfg.connect_timeout_ms = 5000;
    char err[256];
    int rc = hc_sigclient_connect(c, &cfg, err, sizeof err);
    return rc;
}

int sigtest_tcp(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int sigtest_http_get(uint16_t port, const char *path, int *status, char **headers, char **body)
{
    int fd = sigtest_tcp(port);
    if (fd < 0) return -1;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", path,
                     (unsigned)port);
    if (write_all(fd, req, (size_t)n)) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0) break;
        len += (size_t)r;
        buf[len] = 0;
        /* lws may keep the connection open: stop once Content-Length is in. */
        char *he = strstr(buf, "\r\n\r\n");
        if (he) {
            char *cl = strcasestr(buf, "content-length:");
            if (cl && cl < he) {
                size_t want = (size_t)strtoul(cl + 15, NULL, 10);
                if (len >= (size_t)(he + 4 - buf) + want) break;
            }
        }
    }
    close(fd);
    buf[len] = 0;
    char *he = strstr(buf, "\r\n\r\n");
    if (!he || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
        free(buf);
        return -1;
    }
    *he = 0;
    if (headers) *headers = strdup(buf);
    if (body) *body = strdup(he + 4);
    free(buf);
    return 0;
}

int sigtest_ws_handshake(int fd, uint16_t port)
{
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Protocol: hillcast-sig\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     (unsigned)port);
    if (write_all(fd, req, (size_t)n)) return -1;
    char buf[2048];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        ssize_t r = read(fd, buf + len, 1);
        if (r <= 0) return -1;
        len++;
        buf[len] = 0;
        if (len >= 4 && !memcmp(buf + len - 4, "\r\n\r\n", 4)) break;
    }
    return strncmp(buf, "HTTP/1.1 101", 12) ? -1 : 0;
}

int sigtest_ws_send(int fd, const char *text, size_t len)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = 0x81; /* FIN, text (RFC 6455 5.2) */
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(hdr + h, mask, 4);
    h += 4;
    uint8_t *p = malloc(h + len);
    memcpy(p, hdr, h);
    for (size_t i = 0; i < len; i++) p[h + i] = (uint8_t)text[i] ^ mask[i % 4];
    int rc = write_all(fd, p, h + len);
    free(p);
    return rc;
}

bool sigtest_wait_counter(hc_sigserver_t *s,
                          bool (*cond)(const hc_sigserver_counters_t *k, void *ud), void *ud,
                          int ms)
{
    for (int t = 0; t <= ms; t += 10) {
        hc_sigserver_counters_t k;
        hc_sigserver_counters(s, &k);
        if (cond(&k, ud)) return true;
        sigtest_sleep_ms(10);
    }
    return false;
}
