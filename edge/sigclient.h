/*
 * sigclient.h - the client side of Hillcast signaling: a libwebsockets
 * client that speaks the JSON messages of proto/sig.h to hc-relay over
 * ws:// or wss:// (RFC 6455; TLS through the OpenSSL build of lws).
 *
 * Used by hc-edge, hc-ctl, hc-probe, hc-bench and the integration tests.
 * proto/SIGNALING.md describes the protocol; this module adds no wire
 * format of its own. Every frame is one text frame holding one message,
 * serialized with hc_sig_write() and parsed with hc_sig_parse().
 *
 * Delivery. Each incoming message goes to exactly one place, in this order:
 *   1. a reply whose id matches an outstanding hc_sigclient_call() goes to
 *      that caller;
 *   2. with cfg.token set, the `welcome` (or the id-less `error`) that
 *      answers the automatic `hello` is consumed by the client itself;
 *   3. cfg.on_message, when set (called on the client's thread);
 *   4. otherwise a bounded queue read with hc_sigclient_recv(). When the
 *      queue is full the oldest message is dropped and counted.
 * Frames from the relay that do not parse are counted and dropped.
 *
 * Connection. hc_sigclient_new() starts the service thread and begins to
 * connect; it does not wait. hc_sigclient_wait() waits for the state
 * HC_SIGCLIENT_READY: the WebSocket is open and, when cfg.token is set, the
 * automatic `hello` got its `welcome`. hc_sigclient_connect() is new+wait
 * for tools that want one blocking call. With cfg.reconnect_ms > 0 the
 * client reconnects after a drop (doubling the delay up to 30 s, reset by
 * a successful hello) and sends `hello` again; otherwise a closed client
 * stays closed (state HC_SIGCLIENT_CLOSED) until destroyed.
 *
 * TLS: wss:// verifies the relay's certificate against cfg.ca_file (a PEM
 * file, e.g. the relay's self-signed certificate, which pins it) or the
 * system store when ca_file is NULL; cfg.insecure accepts any certificate
 * and host name (tests, first setup). The WebSocket subprotocol offered is
 * HC_SIGCLIENT_PROTOCOL. Each client has its own lws context; a ws://
 * client does no TLS setup at all, a wss:// one loads its CA store (about
 * 700 KB for the system store). Known libwebsockets 4.1 defect: when two
 * TLS-initialized lws contexts (wss clients, or a TLS server) live in one
 * process at once, one client SSL_CTX is never freed (its ex_data index is
 * global) - harmless for one client per process, worth knowing for tools
 * that open many wss clients (use ws:// on loopback).
 *
 * Ownership: hc_sigclient_new()/connect() allocate the client;
 * hc_sigclient_destroy() closes, joins the thread and frees it (and every
 * queued message). Messages handed to cfg.on_message are heap-allocated
 * and owned by the callee, who releases them with hc_sigclient_msg_free().
 * Messages passed to send/call stay the caller's.
 *
 * Threading: send, send_raw, call, recv, wait, state, close, counters and
 * next_id may be called from any thread, concurrently. on_message and
 * on_state run on the client's service thread and must not block on the
 * client (no hc_sigclient_call, recv or wait inside them; send is fine).
 * hc_sigclient_destroy() must not be called from a callback.
 * The first hc_sigclient_new() in a process sets libwebsockets' process-wide
 * log level to errors and warnings (its notices would repeat per client).
 */
#ifndef HC_EDGE_SIGCLIENT_H
#define HC_EDGE_SIGCLIENT_H

#include "proto/sig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The WebSocket subprotocol hc-relay serves signaling on. */
#define HC_SIGCLIENT_PROTOCOL "hillcast-sig"

typedef struct hc_sigclient hc_sigclient_t;

typedef enum hc_sigclient_state {
    HC_SIGCLIENT_CONNECTING = 1, /* TCP/TLS/WebSocket handshake (or waiting to reconnect) */
    HC_SIGCLIENT_OPEN,           /* WebSocket open, automatic hello sent, no welcome yet */
    HC_SIGCLIENT_READY,          /* open and (with a token) welcomed */
    HC_SIGCLIENT_CLOSED,         /* closed and not reconnecting (or destroyed) */
} hc_sigclient_state_t;

typedef struct hc_sigclient_cfg {
    const char *url;     /* ws://host[:port][/path] or wss://...; IPv6 as [::1] */
    const char *ca_file; /* wss: PEM file of trusted CAs / the pinned cert; NULL = system */
    bool insecure;       /* wss: accept any certificate and host name */
    /* When set, the client sends {"type":"hello","token":token,"client":client}
     * as soon as the WebSocket opens (also after every reconnect) and is
     * READY on `welcome`. An `error` reply to hello closes the client
     * (hc_sigclient_wait returns that error's code). NULL: no automatic hello;
     * READY as soon as the WebSocket is open. */
    const char *token;
    const char *client;          /* hello.client, e.g. "hc-ctl/0.1.0"; NULL = omit */
    uint32_t connect_timeout_ms; /* per attempt, TCP+TLS+WS+hello (default 10000) */
    uint32_t reconnect_ms;       /* first reconnect delay; 0 = never reconnect (default) */
    size_t queue_max;            /* messages kept for hc_sigclient_recv (default 1024) */
    size_t out_max_bytes;        /* pending output limit; send fails beyond (default 1 MiB) */
    /* Every delivered message (see "Delivery"); the callee owns msg. */
    void (*on_message)(void *ud, hc_sig_msg_t *msg);
    /* State changes. code: 0, or on CLOSED/CONNECTING-after-drop the cause as
     * -HC_E* (-HC_ECLOSED for an orderly close, -HC_EIO for a network or TLS
     * failure, -HC_ETIMEOUT, or the negated code of the relay's hello error);
     * reason: text, never NULL. */
    void (*on_state)(void *ud, hc_sigclient_state_t st, int code, const char *reason);
    void *ud;
} hc_sigclient_cfg_t;

typedef struct hc_sigclient_counters {
    uint64_t rx_msgs, tx_msgs;      /* frames parsed / written */
    uint64_t rx_bad;                /* frames from the relay that did not parse */
    uint64_t queue_dropped;         /* dropped because the recv queue was full */
    uint64_t connects, disconnects; /* WebSocket opens and drops */
} hc_sigclient_counters_t;

/* Fill cfg with the defaults above (url NULL, no token, no callbacks). */
void hc_sigclient_cfg_default(hc_sigclient_cfg_t *cfg);

/* Start a client: copies cfg (strings included), starts the service thread
 * and begins connecting. Returns 0, or -HC_EINVAL (bad URL, with a message
 * in err), -HC_ENOMEM, -HC_EIO (lws context or TLS setup failed). */
int hc_sigclient_new(hc_sigclient_t **out, const hc_sigclient_cfg_t *cfg, char *err, size_t errcap);

/* Wait until READY. Returns 0; -HC_ETIMEOUT; or, when the client closed
 * (and is not reconnecting), the negative cause: -HC_EIO, -HC_ECLOSED, or
 * the relay's hello error such as -HC_EEXPIRED. timeout_ms < 0 waits forever. */
int hc_sigclient_wait(hc_sigclient_t *c, int timeout_ms);

/* new + wait(cfg->connect_timeout_ms); on failure the client is destroyed,
 * *out is NULL and err says why (e.g. "EEXPIRED: token expired"). */
int hc_sigclient_connect(hc_sigclient_t **out, const hc_sigclient_cfg_t *cfg, char *err,
                         size_t errcap);

/* Close (if open), stop reconnecting, join the thread, free everything;
 * sets *c to NULL. Safe with NULL or *c == NULL. */
void hc_sigclient_destroy(hc_sigclient_t **c);

/* Ask for an orderly close with a WebSocket close frame (1000, reason) and
 * stop reconnecting. Returns at once; the state goes to CLOSED. */
void hc_sigclient_close(hc_sigclient_t *c, const char *reason);

hc_sigclient_state_t hc_sigclient_state(hc_sigclient_t *c);

/* The `welcome` of the current connection. 0, or -HC_ENOTFOUND before the
 * first welcome (or without cfg.token). */
int hc_sigclient_welcome(hc_sigclient_t *c, hc_sig_welcome_t *out);

/* How the last connection ended: the WebSocket close code the relay sent
 * (e.g. 1009 for a frame too big, 1008 policy), 0 when no close frame was
 * received (network drop) or still open, and its reason text. */
int hc_sigclient_close_status(hc_sigclient_t *c, char *reason, size_t cap);

/* A fresh request id (1..2^31-1, counting up, never 0). */
uint32_t hc_sigclient_next_id(hc_sigclient_t *c);

/* Serialize msg and queue it for sending. Returns 0, -HC_ESCHEMA (msg does
 * not validate), -HC_ECLOSED (not open), -HC_EFULL (pending output over
 * cfg.out_max_bytes), -HC_ENOMEM. A queued message is lost if the
 * connection drops before it is written. */
int hc_sigclient_send(hc_sigclient_t *c, const hc_sig_msg_t *msg);

/* Queue len bytes as one text frame without checking them (tests and
 * tools that need to send what the schema forbids). Same returns as send. */
int hc_sigclient_send_raw(hc_sigclient_t *c, const char *text, size_t len);

/* Request/reply: set req's id to a fresh one (when req's type has an id),
 * send it and wait for the reply carrying that id. Returns 0 with the
 * positive reply in *reply; when the relay answered `error`, returns its
 * code negated (e.g. -HC_EPERM) with the error message in *reply;
 * -HC_ETIMEOUT (a late reply is then dropped), -HC_ECLOSED, or a send
 * error. *reply is initialized in every case: call hc_sig_msg_fini() on it.
 * req is modified only in its id. timeout_ms < 0 waits forever. */
int hc_sigclient_call(hc_sigclient_t *c, hc_sig_msg_t *req, hc_sig_msg_t *reply, int timeout_ms);

/* Next queued message (only used without cfg.on_message). Returns 0 with
 * *msg filled (hc_sig_msg_fini() it), -HC_ETIMEOUT, or -HC_ECLOSED when the
 * client is closed (not reconnecting) and the queue is empty. */
int hc_sigclient_recv(hc_sigclient_t *c, hc_sig_msg_t *msg, int timeout_ms);

/* Release a message given to cfg.on_message (fini + free); sets *m NULL. */
void hc_sigclient_msg_free(hc_sig_msg_t **m);

void hc_sigclient_counters(hc_sigclient_t *c, hc_sigclient_counters_t *out);

#endif
