/*
 * sigserver.h - hc-relay's WebSocket signaling and admin server, and its
 * plain HTTP endpoints (GET /metrics, GET /healthz), on one TCP port with
 * libwebsockets.
 *
 * TLS by default: the configured certificate and key, or, when none is
 * configured, a self-signed one generated at first start (OpenSSL, EC P-256,
 * written next to the config's state directory and reused afterwards). Plain
 * ws/http only when the config says so (loopback tests).
 *
 * Per connection: frames over HC_SIG_MAX_TEXT are refused; each frame is
 * parsed with proto/sig.h; the first must be `hello` with a valid token
 * (proto/token.h) or the connection gets an `error` and is closed; the
 * message's direction and the token's role are checked (hc_sig_type_dir,
 * hc_sig_role_may_send); `ping`, `mint_token` and `stats` are answered here;
 * everything else goes to the session layer (hc_sessions_on_message). Abuse
 * limits: connections per source address, messages per second per
 * connection (token bucket), pending output bytes per connection, and a
 * hello deadline; each breach is counted and answered with a clear error.
 *
 * Every connection has a 64-bit id that is never reused, so a stale id held
 * by another thread is harmless: sending to it is a no-op.
 *
 * Threading: the server runs its own thread (the lws service loop).
 * hc_sigserver_send(), hc_sigserver_close() and hc_sigserver_counters() may
 * be called from any thread; they queue work and wake the service loop.
 */
#ifndef HC_RELAY_SIGSERVER_H
#define HC_RELAY_SIGSERVER_H

#include "proto/sig.h"
#include "proto/token.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hc_sigserver hc_sigserver_t;

/* Serialize msg (hc_sig_write) and queue it for connection conn. The caller
 * keeps msg. 0, or -HC_ENOTFOUND (connection gone), -HC_EFULL (its output
 * queue is over the limit: the connection is then closed as too slow). */
int hc_sigserver_send(hc_sigserver_t *s, uint64_t conn, const hc_sig_msg_t *msg);

/* Close conn after sending what is queued; reason goes in the close frame. */
void hc_sigserver_close(hc_sigserver_t *s, uint64_t conn, const char *reason);

/* The address of a connection's peer as text ("1.2.3.4:5678"), for the admin
 * view. 0 or -HC_ENOTFOUND. */
int hc_sigserver_peer(hc_sigserver_t *s, uint64_t conn, char *buf, size_t cap);

/* ---- start/stop, handlers and counters (added by server) ---- */

#define HC_SIGSERVER_PATH_MAX 1024

typedef struct hc_sigserver_cfg {
    char bind[64];                         /* listen address, e.g. "0.0.0.0", "::", "127.0.0.1" */
    uint16_t port;                         /* 0 picks a free port (see hc_sigserver_port) */
    bool tls;                              /* false: plain ws/http (loopback tests and demos) */
    char cert[HC_SIGSERVER_PATH_MAX];      /* PEM certificate; empty: self-signed in state_dir */
    char key[HC_SIGSERVER_PATH_MAX];       /* PEM private key (with cert) */
    char state_dir[HC_SIGSERVER_PATH_MAX]; /* where the self-signed pair lives */
    char cert_host[254];                   /* CN of a generated certificate; empty: gethostname() */
    uint8_t secret[256];                   /* token key (HS256), secret_len >= HC_TOKEN_KEY_MIN */
    size_t secret_len;
    int64_t token_leeway_s;    /* clock skew allowed on exp/nbf */
    uint32_t keepalive_ms;     /* told in welcome; idle close after 3x without a frame */
    uint32_t hello_timeout_ms; /* close a connection that has not said hello by then */
    uint32_t max_conns;        /* total connections (HTTP included) */
    uint32_t max_conns_per_ip; /* per source address */
    uint32_t max_msgs_per_s;   /* token bucket per connection; burst is twice this */
    uint32_t max_bad_frames;   /* consecutive invalid frames before close */
    uint32_t max_pending_kib;  /* queued output per connection before "too slow" */
    uint32_t drain_ms;         /* hc_sigserver_stop: time to flush and close */
    char server_name[HC_SIG_SOFT_MAX + 1]; /* welcome.server, e.g. "hc-relay/0.1.0" */
} hc_sigserver_cfg_t;

/* Defaults: bind 0.0.0.0, port 8443, tls on, keepalive 15000 ms, hello
 * 5000 ms, 4096 connections, 16 per address, 50 messages/s, 5 bad frames,
 * 1024 KiB pending, drain 2000 ms, server "hc-relay/<project version>". */
void hc_sigserver_cfg_default(hc_sigserver_cfg_t *cfg);

/* Called on the server thread. None is called after hc_sigserver_drain()
 * returned (nor during stop). Any may be NULL. */
typedef struct hc_sigserver_handlers {
    void *ud;
    /* An authenticated, direction- and role-checked message that is not
     * connection-level. Takes ownership of msg (heap; the callee finis and
     * frees it, e.g. hc_sessions_on_message). The callee replies (or sends
     * an `error` with the request id) with hc_sigserver_send(). */
    void (*on_message)(void *ud, uint64_t conn, const hc_token_claims_t *who, hc_sig_msg_t *msg);
    /* A connection that had said hello closed (for any reason). */
    void (*on_close)(void *ud, uint64_t conn);
    /* A hello was accepted; the handler may adjust the welcome (resume). */
    void (*on_hello)(void *ud, uint64_t conn, const hc_token_claims_t *who,
                     hc_sig_welcome_t *welcome);
    /* Fill the totals of a stats_reply (id and uptime_s are set here). */
    void (*stats)(void *ud, hc_sig_stats_reply_t *out);
    /* Append more Prometheus text (with HELP/TYPE lines) to /metrics. */
    void (*metrics)(void *ud, FILE *out);
} hc_sigserver_handlers_t;

/* Start the server thread listening on cfg->bind:cfg->port. With tls and no
 * cert configured, generates (or reuses) a self-signed pair in
 * cfg->state_dir. 0, or -HC_EINVAL / -HC_ECONFIG / -HC_EIO with a message
 * in err. */
int hc_sigserver_start(hc_sigserver_t **out, const hc_sigserver_cfg_t *cfg,
                       const hc_sigserver_handlers_t *h, char *err, size_t errcap);

/* The TCP port actually listened on. */
uint16_t hc_sigserver_port(const hc_sigserver_t *s);

/* The certificate file in use (configured or generated), "" without TLS. */
const char *hc_sigserver_cert_path(const hc_sigserver_t *s);

/* Begin shutting down: refuse new connections and frames, and call no
 * handler any more (waits for one in progress). Connections stay open so
 * the session layer can still send its last messages. Any thread. */
void hc_sigserver_drain(hc_sigserver_t *s);

/* Drain (if not yet), flush what is queued and close every connection
 * (1001 going away), waiting at most cfg.drain_ms, then stop the thread
 * and free everything; *s = NULL. Safe on NULL. Not from the server thread. */
void hc_sigserver_stop(hc_sigserver_t **s);

/* Refusals by cause (hc_relay_signaling_rejects_total{cause=...}). */
#define HC_SIGSERVER_REJECTS(X)                                                                    \
    X(PER_IP, "per_ip")               /* connection refused: per-address limit */                  \
    X(TOTAL, "total")                 /* connection refused: total limit */                        \
    X(DRAINING, "draining")           /* connection refused: shutting down */                      \
    X(TOO_BIG, "too_big")             /* frame over HC_SIG_MAX_TEXT (close 1009) */                \
    X(BINARY, "binary")               /* binary frame (close 1003) */                              \
    X(BAD_FRAME, "bad_frame")         /* invalid JSON or schema (error reply) */                   \
    X(BAD_CLOSE, "bad_close")         /* closed after max_bad_frames in a row */                   \
    X(NO_HELLO, "no_hello")           /* a frame other than hello first */                         \
    X(TOKEN, "token")                 /* hello token refused */                                    \
    X(HELLO_TIMEOUT, "hello_timeout") /* no hello in time */                                       \
    X(PERM, "perm")                   /* direction or role not allowed (EPERM) */                  \
    X(RATE, "rate")                   /* over max_msgs_per_s (EAGAIN reply) */                     \
    X(RATE_CLOSE, "rate_close")       /* closed for a sustained flood */                           \
    X(SLOW, "slow")                   /* pending output over the limit (closed) */                 \
    X(IDLE, "idle")                   /* silent for 3 x keepalive (closed) */

#define HC_SIGSERVER__RJ(N, s) HC_SIGSERVER_REJ_##N,
typedef enum hc_sigserver_reject {
    HC_SIGSERVER_REJECTS(HC_SIGSERVER__RJ) HC_SIGSERVER_REJ_COUNT
} hc_sigserver_reject_t;
#undef HC_SIGSERVER__RJ

/* Metric label of a cause ("per_ip", ...), NULL when out of range. */
const char *hc_sigserver_reject_name(hc_sigserver_reject_t r);

typedef struct hc_sigserver_counters {
    uint32_t connections;   /* open TCP connections (HTTP and WebSocket) */
    uint32_t websockets;    /* open WebSocket connections */
    uint32_t authenticated; /* of those, past hello */
    uint64_t accepted, hellos, rx_msgs, tx_msgs, http_requests;
    uint64_t rejects[HC_SIGSERVER_REJ_COUNT];
} hc_sigserver_counters_t;

/* Any thread. */
void hc_sigserver_counters(hc_sigserver_t *s, hc_sigserver_counters_t *out);

#endif
