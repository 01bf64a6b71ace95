/*
 * sigtest.h - helpers shared by the signaling integration tests
 * (test_sigserver.c, test_ctl.c): an in-process hc-relay signaling server
 * with test handlers, tokens, raw HTTP, and plain sockets.
 *
 * sigtest.c is built into the `hcinteg` library (with hcrelay), which every
 * integration test links.
 */
#ifndef HC_TESTS_SIGTEST_H
#define HC_TESTS_SIGTEST_H

#include "edge/sigclient.h"
#include "proto/sig.h"
#include "proto/token.h"
#include "proto/err.h"
#include "relay/config.h"
#include "relay/sigserver.h"
#include "tests/common/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <poll.h>
#include <libwebsockets.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGTEST_SECRET "0123456789abcdef0123456789abcdef-test-secret"

/* What the test handlers saw, and canned answers for admin requests. */
typedef struct sigtest_state {
    pthread_mutex_t mu;
    hc_sigserver_t *srv;
    uint32_t messages, closes, hellos;
    hc_sig_type_t last_type;
    uint64_t last_conn;
    hc_token_claims_t last_who;
    bool reply_ok;     /* answer every request with ok {id} */
    bool canned_admin; /* answer list_sessions etc. with fixed data */
    char kicked[HC_SIG_ID_MAX + 1];
    char closed_session[HC_SIG_ID_MAX + 1];
    char budget_site[HC_SIG_NAME_MAX + 1];
    uint32_t budget_kbps;
} sigtest_state_t;

/* Server config for loopback tests: 127.0.0.1, port 0, tls off, the test
 * secret. */
void sigtest_cfg(hc_sigserver_cfg_t *cfg);
/* Start a server with the test handlers bound to st (zeroed here). */
hc_sigserver_t *sigtest_start(const hc_sigserver_cfg_t *cfg, sigtest_state_t *st);
void sigtest_stop(hc_sigserver_t **s, sigtest_state_t *st);

/* A token for role/session/site valid for ttl_s seconds from now (negative:
 * expired), signed with key (NULL: the test secret). Static buffer. */
const char *sigtest_token(hc_sig_role_t role, const char *session, const char *site, int64_t ttl_s,
                          const char *key);

/* Connect a sigclient to the server; token may be NULL. */
int sigtest_connect(hc_sigclient_t **c, uint16_t port, bool tls, const char *ca, const char *token);

/* GET path over plain HTTP on 127.0.0.1:port; body (malloc'd, NUL
 * terminated) and status. 0 or -1. */
int sigtest_http_get(uint16_t port, const char *path, int *status, char **headers, char **body);

/* A plain TCP connection to 127.0.0.1:port, or -1. */
int sigtest_tcp(uint16_t port);
/* WebSocket upgrade on fd (plain), subprotocol hillcast-sig: 0 or -1. */
int sigtest_ws_handshake(int fd, uint16_t port);
/* Send one masked text frame: 0 or -1. */
int sigtest_ws_send(int fd, const char *text, size_t len);

/* Wait up to ms for cond() on the server counters to hold. */
bool sigtest_wait_counter(hc_sigserver_t *s,
                          bool (*cond)(const hc_sigserver_counters_t *k, void *ud), void *ud,
                          int ms);

void sigtest_sleep_ms(int ms);

/* A canned admin "sessions" reply, as the test handlers send. */
void canned_sessions(hc_sig_msg_t *r, uint32_t id);

#endif
