/*
 * sigserver_int.h - internals shared by sigserver.c (connections, lws
 * callbacks, cross-thread queue), sigserver_msg.c (what a frame means:
 * hello, limits, connection-level requests) and sigserver_http.c (/metrics,
 * /healthz). Not an API: only those files include it.
 *
 * Locks: `mu` guards the id hash, every connection's output queue and
 * close request, the wake list and the counters; `hmu` is held around
 * every handler call so hc_sigserver_drain() can wait for one in progress.
 * Everything else of a connection belongs to the server thread.
 */
#ifndef HC_RELAY_SIGSERVER_INT_H
#define HC_RELAY_SIGSERVER_INT_H

#include "relay/ratelimit.h"
#include "relay/sigserver.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>

#define SIG_HASH_BUCKETS 4096u /* connection id hash (power of 2) */
#define SIG_TICK_MS      100u  /* deadline checks */

typedef struct sig_frame {
    struct sig_frame *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE + len */
} sig_frame_t;

typedef struct sig_conn {
    uint64_t id;
    struct lws *wsi;
    struct sig_conn *hnext;       /* id hash chain (mu) */
    struct sig_conn *prev, *next; /* list of all (server thread) */
    struct sig_conn *wnext;       /* wake list (mu) */
    bool wake_pending;            /* on the wake list (mu) */
    /* under mu */
    sig_frame_t *out_head, *out_tail;
    size_t out_bytes;
    bool close_req;
    bool close_hard; /* close without flushing the queue (too slow) */
    uint16_t close_code;
    char close_reason[120];
    char peer[HC_ADDR_STRLEN]; /* fixed at open */
    /* server thread */
    hc_addr_t addr;
    bool hello_done;
    hc_token_claims_t claims;
    uint64_t opened_us, last_rx_us;
    hc_rate_t bucket;
    uint32_t bad_in_row, rate_in_row;
    char *rx; /* reassembly of a frame that came in pieces, else NULL */
    size_t rx_len, rx_cap;
    bool rx_discard;
} sig_conn_t;

/* One accepted TCP connection, for the per-address count. */
typedef struct sig_sock {
    struct lws *wsi;
    hc_addr_t addr;
    struct sig_sock *next;
} sig_sock_t;

/* Per-session data lws allocates (zeroed) for protocol 0, HTTP or WS. */
typedef struct sig_pss {
    sig_conn_t *conn; /* WebSocket */
    char *body;       /* HTTP response body */
    size_t body_len, body_off;
} sig_pss_t;

struct hc_sigserver {
    hc_sigserver_cfg_t cfg;
    hc_sigserver_handlers_t h;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    uint16_t port;
    char cert_path[HC_SIGSERVER_PATH_MAX + 32], key_path[HC_SIGSERVER_PATH_MAX + 32];
    pthread_t thread;
    bool thread_started;
    int64_t start_wall_s;

    /* server thread */
    hc_iptable_t *ips;
    sig_sock_t *socks[SIG_HASH_BUCKETS];
    uint32_t nsocks;
    sig_conn_t *conns; /* list */
    lws_sorted_usec_list_t sul_tick;
    bool exit_loop, stop_begun;
    uint64_t stop_deadline_us;

    /* shared */
    pthread_mutex_t mu;
    sig_conn_t *hash[SIG_HASH_BUCKETS];
    sig_conn_t *wake_head;
    bool stopping;
    uint64_t next_id;
    hc_sigserver_counters_t cnt;

    pthread_mutex_t hmu;
    atomic_bool draining;
};

uint64_t sig_now_us(void);

/* Server thread: queue text for c and ask lws for a write. */
int sig_queue_text(hc_sigserver_t *s, sig_conn_t *c, const char *text, size_t len);
/* Server thread: serialize and queue m for c. */
int sig_reply(hc_sigserver_t *s, sig_conn_t *c, const hc_sig_msg_t *m);
/* Server thread: an error reply (id may be 0). */
void sig_reply_error(hc_sigserver_t *s, sig_conn_t *c, uint32_t id, int code, const char *reason);
/* Server thread: close c after its queued output, with a close frame. */
void sig_close(hc_sigserver_t *s, sig_conn_t *c, uint16_t code, const char *reason);
/* Count a refusal and log it (rate-limited). */
void sig_reject(hc_sigserver_t *s, hc_sigserver_reject_t why, const char *peer);

/* Handler gate: true when handlers may run (then call sig_gate_leave). */
bool sig_gate_enter(hc_sigserver_t *s);
void sig_gate_leave(hc_sigserver_t *s);

/* sigserver_msg.c: a complete text frame from c. */
void sig_on_frame(hc_sigserver_t *s, sig_conn_t *c, const char *text, size_t len);
/* sigserver_msg.c: deadlines (hello, idle), every tick. */
void sig_check_deadlines(hc_sigserver_t *s, sig_conn_t *c, uint64_t now_us);

/* sigserver_http.c: LWS_CALLBACK_HTTP and HTTP_WRITEABLE. Return what
 * the lws callback should return. */
int sig_http_request(hc_sigserver_t *s, struct lws *wsi, sig_pss_t *pss, const char *path);
int sig_http_writeable(hc_sigserver_t *s, struct lws *wsi, sig_pss_t *pss);
/* The server's own metric families. */
void sig_metrics_write(hc_sigserver_t *s, FILE *f);

#endif
