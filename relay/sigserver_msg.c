/*
 * sigserver_msg.c - what a signaling frame means at the connection level:
 * the rate limit, parsing (proto/sig.h), hello and its token
 * (proto/token.h), direction and role checks, the requests answered here
 * (ping, mint_token, stats), hand-off of the rest to the session layer,
 * and the hello and idle deadlines.
 *
 * Every refusal is counted (hc_sigserver_counters) and answered with an
 * `error` carrying the request id when the frame had one
 * (hc_sig_request_id() works after a failed parse) - proto/SIGNALING.md,
 * "Error codes".
 */
#include "relay/sigserver_int.h"

#include "proto/err.h"
#include "relay/log.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static hc_sig_msg_t *msg_new(hc_sig_type_t t)
{
    hc_sig_msg_t *m = malloc(sizeof *m);
    if (m) hc_sig_msg_init(m, t);
    return m;
}

static void msg_free(hc_sig_msg_t *m)
{
    if (!m) return;
    hc_sig_msg_fini(m);
    free(m);
}

static void on_hello(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m)
{
    hc_token_claims_t claims;
    const char *tok = m->hello.token;
    int rc = hc_token_verify(tok, strlen(tok), s->cfg.secret, s->cfg.secret_len,
                             (int64_t)time(NULL), s->cfg.token_leeway_s, &claims);
    if (rc < 0) {
        char why[96];
        snprintf(why, sizeof why, "token refused: %s", hc_strerror(rc));
        sig_reject(s, HC_SIGSERVER_REJ_TOKEN, c->peer);
        sig_reply_error(s, c, 0, rc, why);
        sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "hello refused");
        return;
    }
    c->hello_done = true;
    c->claims = claims;
    pthread_mutex_lock(&s->mu);
    s->cnt.hellos++;
    s->cnt.authenticated++;
    pthread_mutex_unlock(&s->mu);

    hc_sig_msg_t *w = msg_new(HC_SIG_WELCOME);
    if (!w) return;
    w->welcome.role = claims.role;
    snprintf(w->welcome.session, sizeof w->welcome.session, "%s", claims.session);
    snprintf(w->welcome.site, sizeof w->welcome.site, "%s", claims.site);
    snprintf(w->welcome.server, sizeof w->welcome.server, "%s", s->cfg.server_name);
    w->welcome.keepalive_ms = s->cfg.keepalive_ms;
    if (s->h.on_hello && sig_gate_enter(s)) {
        s->h.on_hello(s->h.ud, c->id, &c->claims, &w->welcome);
        sig_gate_leave(s);
    }
    sig_reply(s, c, w);
    msg_free(w);
    char q[200];
    hc_log_debug("signaling hello", "conn=%llu peer=%s role=%s session=%s site=%s",
                 (unsigned long long)c->id, c->peer, hc_sig_role_name(claims.role),
                 claims.session[0] ? claims.session : "-",
                 hc_log_q(q, sizeof q, claims.site[0] ? claims.site : "-"));
}

static void on_ping(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m)
{
    hc_sig_msg_t *r = msg_new(HC_SIG_PONG);
    if (!r) return;
    r->pong.id = m->ping.id;
    r->pong.time_ms = wall_ms();
    sig_reply(s, c, r);
    msg_free(r);
}

static void on_mint(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m)
{
    const hc_sig_mint_token_t *q = &m->mint_token;
    if (q->role != HC_SIG_ROLE_ADMIN && !q->session[0]) {
        char why[96];
        snprintf(why, sizeof why, "a %s token needs a session", hc_sig_role_name(q->role));
        sig_reply_error(s, c, q->id, HC_EINVAL, why);
        return;
    }
    hc_token_claims_t t;
    memset(&t, 0, sizeof t);
    t.role = q->role;
    snprintf(t.session, sizeof t.session, "%s", q->session);
    snprintf(t.site, sizeof t.site, "%s", q->site);
    snprintf(t.sub, sizeof t.sub, "%s", q->sub);
    t.iat = (int64_t)time(NULL);
    t.exp = t.iat + (int64_t)q->ttl_s;
    uint8_t rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) == 1) {
        for (int i = 0; i < 8; i++) snprintf(t.jti + 2 * i, 3, "%02x", rnd[i]);
    }
    hc_sig_msg_t *r = msg_new(HC_SIG_TOKEN);
    if (!r) return;
    int n =
        hc_token_mint(&t, s->cfg.secret, s->cfg.secret_len, r->token.token, sizeof r->token.token);
    if (n < 0) {
        sig_reply_error(s, c, q->id, n, "cannot mint this token");
    } else {
        r->token.id = q->id;
        r->token.expires_ms = t.exp * 1000;
        sig_reply(s, c, r);
        char qs[200];
        hc_log_info("token minted", "by=%s role=%s session=%s site=%s ttl_s=%u jti=%s", c->peer,
                    hc_sig_role_name(t.role), t.session[0] ? t.session : "-",
                    hc_log_q(qs, sizeof qs, t.site[0] ? t.site : "-"), q->ttl_s,
                    t.jti[0] ? t.jti : "-");
    }
    msg_free(r);
}

static void on_stats(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m)
{
    hc_sig_msg_t *r = msg_new(HC_SIG_STATS_REPLY);
    if (!r) return;
    if (s->h.stats && sig_gate_enter(s)) {
        s->h.stats(s->h.ud, &r->stats_reply);
        sig_gate_leave(s);
    }
    r->stats_reply.id = m->stats.id;
    int64_t up = (int64_t)time(NULL) - s->start_wall_s;
    r->stats_reply.uptime_s = up > 0 ? up : 0;
    sig_reply(s, c, r);
    msg_free(r);
}

/* Too many refusals in a row: the client is broken or hostile. */
static void bad_frame(hc_sigserver_t *s, sig_conn_t *c)
{
    if (++c->bad_in_row >= s->cfg.max_bad_frames && s->cfg.max_bad_frames) {
        sig_reject(s, HC_SIGSERVER_REJ_BAD_CLOSE, c->peer);
        sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many invalid frames");
    }
}

void sig_on_frame(hc_sigserver_t *s, sig_conn_t *c, const char *text, size_t len)
{
    pthread_mutex_lock(&s->mu);
    bool closing = c->close_req;
    pthread_mutex_unlock(&s->mu);
    if (closing || atomic_load(&s->draining)) return;

    hc_sig_msg_t *m = malloc(sizeof *m);
    if (!m) return;
    char err[HC_SIG_REASON_MAX + 1];
    int rc = hc_sig_parse(text, len, m, err, sizeof err);
    uint32_t id = hc_sig_request_id(m);

    /* A frame over the rate costs a bounded parse (to echo its id) and an
     * error reply, never a handler call. */
    if (!hc_rate_take(&c->bucket, sig_now_us())) {
        if (rc == 0) hc_sig_msg_fini(m);
        free(m);
        sig_reject(s, HC_SIGSERVER_REJ_RATE, c->peer);
        /* A second's worth of refused frames in a row is a flood, not a
         * burst: stop answering and close. */
        uint32_t limit = s->cfg.max_msgs_per_s > 10 ? s->cfg.max_msgs_per_s : 10;
        if (++c->rate_in_row > limit) {
            sig_reject(s, HC_SIGSERVER_REJ_RATE_CLOSE, c->peer);
            sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "rate limit");
        } else {
            sig_reply_error(s, c, id, HC_EAGAIN, "rate limit");
        }
        return;
    }
    c->rate_in_row = 0;

    if (rc < 0) {
        free(m);
        sig_reject(s, HC_SIGSERVER_REJ_BAD_FRAME, c->peer);
        sig_reply_error(s, c, id, rc, err);
        if (!c->hello_done) {
            sig_reject(s, HC_SIGSERVER_REJ_NO_HELLO, c->peer);
            sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "hello expected");
        } else {
            bad_frame(s, c);
        }
        return;
    }
    c->bad_in_row = 0;

    if (!c->hello_done) {
        if (m->type == HC_SIG_HELLO) {
            on_hello(s, c, m);
        } else {
            sig_reject(s, HC_SIGSERVER_REJ_NO_HELLO, c->peer);
            sig_reply_error(s, c, id, HC_EPERM, "hello first");
            sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "hello expected");
        }
        msg_free(m);
        return;
    }

    const char *tname = hc_sig_type_name(m->type);
    if (m->type == HC_SIG_HELLO) {
        sig_reject(s, HC_SIGSERVER_REJ_PERM, c->peer);
        sig_reply_error(s, c, id, HC_EPERM, "hello already done");
        bad_frame(s, c);
        msg_free(m);
        return;
    }
    if (!(hc_sig_type_dir(m->type) & HC_SIG_C2S)) {
        char why[128];
        snprintf(why, sizeof why, "%s is sent by the relay only", tname);
        sig_reject(s, HC_SIGSERVER_REJ_PERM, c->peer);
        sig_reply_error(s, c, id, HC_EPERM, why);
        bad_frame(s, c);
        msg_free(m);
        return;
    }
    if (!hc_sig_role_may_send(c->claims.role, m->type)) {
        char why[128];
        snprintf(why, sizeof why, "role %s may not send %s", hc_sig_role_name(c->claims.role),
                 tname);
        sig_reject(s, HC_SIGSERVER_REJ_PERM, c->peer);
        sig_reply_error(s, c, id, HC_EPERM, why);
        bad_frame(s, c);
        msg_free(m);
        return;
    }

    switch (m->type) {
    case HC_SIG_PING: on_ping(s, c, m); break;
    case HC_SIG_MINT_TOKEN: on_mint(s, c, m); break;
    case HC_SIG_STATS: on_stats(s, c, m); break;
    case HC_SIG_ERROR:
        /* A client's error report (e.g. about an event it could not use)
         * has no one to go to; answering it could loop. */
        hc_log_debug("client error", "conn=%llu code=%s", (unsigned long long)c->id,
                     hc_errname(m->error.code));
        break;
    default:
        if (s->h.on_message && sig_gate_enter(s)) {
            s->h.on_message(s->h.ud, c->id, &c->claims, m);
            sig_gate_leave(s);
            return; /* the handler owns m */
        }
        sig_reply_error(s, c, id, HC_EUNSUPPORTED, "no session layer");
        break;
    }
    msg_free(m);
}

void sig_check_deadlines(hc_sigserver_t *s, sig_conn_t *c, uint64_t now_us)
{
    pthread_mutex_lock(&s->mu);
    bool closing = c->close_req;
    pthread_mutex_unlock(&s->mu);
    if (closing) return;
    if (!c->hello_done) {
        if (s->cfg.hello_timeout_ms &&
            now_us - c->opened_us >= (uint64_t)s->cfg.hello_timeout_ms * 1000u) {
            sig_reject(s, HC_SIGSERVER_REJ_HELLO_TIMEOUT, c->peer);
            sig_reply_error(s, c, 0, HC_ETIMEOUT, "no hello in time");
            sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "hello timeout");
        }
        return;
    }
    /* SIGNALING.md, welcome: silent for 3 x keepalive_ms -> closed. */
    if (now_us - c->last_rx_us >= 3ull * s->cfg.keepalive_ms * 1000u) {
        sig_reject(s, HC_SIGSERVER_REJ_IDLE, c->peer);
        sig_close(s, c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "idle timeout");
    }
}
