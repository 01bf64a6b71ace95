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
#include <stdint.h>

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

#endif
