/*
 * sessions.h - hc-relay's session layer: class, consult and conference
 * sessions, their participants, the class floor, the consult control
 * channel, conference active speakers, and the admin operations on them.
 *
 * The signaling server hands every authenticated client message that is not
 * connection-level (hello/ping/mint_token/stats) to hc_sessions_on_message().
 * A session lives on one worker (chosen at create, round-robin by load); the
 * session layer runs the session's logic on that worker's thread (posting
 * there with hc_worker_post) so a session's state, its legs, instreams and
 * tracks have one owner. Replies and events go back through
 * hc_sigserver_send() (thread-safe).
 *
 * SSRCs: every SSRC the relay hands out (publish streams, RTX, each
 * participant's RTCP sender SSRC, relay-side RTCP SSRCs and track SSRCs) is
 * made with hc_steer_make_ssrc() for the session's worker, so the kernel
 * steers every datagram of the session to that worker before decryption.
 * SRTP keys are fresh per leg (OpenSSL RAND_bytes) and travel only in the
 * `joined` reply over the TLS signaling channel.
 *
 * Scenarios:
 *   class       1-2 teachers (role teacher) publish; sites subscribe to the
 *               teachers' audio+video; a site raises a hand; a teacher grants
 *               the floor and the site's audio+video go to everyone on the
 *               "floor" tracks (and the site keeps receiving the teachers);
 *               revoke takes it back. One floor at a time.
 *   consult     2-8 parties; streams tagged audio/diagnostic/face; everyone
 *               receives everyone else's streams; the control channel relays
 *               ordered `control` messages and their `control_ack`s, reports
 *               `control_rtt` to the sender per message and raises `alarm`
 *               control_lost to both sides when an ack is overdue by the
 *               session's control_deadline_ms (control_restored after).
 *   conference  up to 200 sites, each may publish audio (and video);
 *               every participant receives the K loudest audio streams
 *               (K = 3) and the video of the last_n most recently active
 *               speakers, chosen from the RFC 6464 audio levels with
 *               hysteresis; slot changes are announced with `tracks`.
 *
 * Admin: list_sessions, list_participants (with per-leg live stats), kick,
 * close_session, set_budget (stored per site, sent as `budget` to that
 * site's connections).
 *
 * Threading: hc_sessions_on_message/on_close are called on the signaling
 * thread; router events arrive on worker threads; the counters read is
 * thread-safe.
 */
#ifndef HC_RELAY_SESSIONS_H
#define HC_RELAY_SESSIONS_H

#include "proto/sig.h"
#include "proto/token.h"
#include "relay/core/router.h"
#include "relay/sigserver.h"
#include "relay/worker.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_sessions hc_sessions_t;

typedef struct hc_sessions_cfg {
    char media_host[254];  /* joined.media.host; empty: omit (client uses ws host) */
    uint32_t keepalive_ms; /* told to clients in welcome (sigserver) and used for timeouts */
    uint32_t max_sessions;
    uint32_t max_participants;    /* per session, upper bound of max_sites */
    uint32_t control_deadline_ms; /* consult default (300) */
    uint32_t conference_last_n;   /* default video slots (4) */
    uint32_t conference_audio_k;  /* loudest audio streams forwarded (3) */
    uint32_t leave_grace_ms; /* keep a participant whose connection dropped this long (30000) */
    hc_srtp_suite_t default_suite; /* gcm */
} hc_sessions_cfg_t;

void hc_sessions_cfg_default(hc_sessions_cfg_t *cfg);

/* Two-step start because of the cycle: the workers need the router events
 * (hc_sessions_router_events) before they start, the sessions need the
 * started workers and the server. */
int hc_sessions_new(hc_sessions_t **out, const hc_sessions_cfg_t *cfg);
void hc_sessions_router_events(hc_sessions_t *s, hc_router_events_t *out);
void hc_sessions_attach(hc_sessions_t *s, hc_workers_t *ws, hc_sigserver_t *sig);
/* Close every session (participants get session_closed), then free. Call
 * before stopping workers and server. */
void hc_sessions_destroy(hc_sessions_t **s);

/* A message from connection conn whose hello carried claims `who`. Takes
 * ownership of msg (heap-allocated by the caller; the callee finis and
 * frees it). Replies (or an `error` with the request id) go to conn. */
void hc_sessions_on_message(hc_sessions_t *s, uint64_t conn, const hc_token_claims_t *who,
                            hc_sig_msg_t *msg);
/* The connection closed (client left, network died, or kicked). The
 * participant stays for leave_grace_ms so a reconnecting edge (hello with
 * the same token, then join) resumes its place; then it is removed. */
void hc_sessions_on_close(hc_sessions_t *s, uint64_t conn);

/* added by sessions: where replies and events go. By default every message
 * goes to hc_sigserver_send()/hc_sigserver_close() of the attached server;
 * unit tests plug a sink here instead, so they run without a server. Call
 * before the first message. send returns 0 or -HC_E* like
 * hc_sigserver_send(); close may be NULL. */
typedef struct hc_sessions_sender {
    void *ud;
    int (*send)(void *ud, uint64_t conn, const hc_sig_msg_t *msg);
    void (*close)(void *ud, uint64_t conn, const char *reason);
} hc_sessions_sender_t;
void hc_sessions_set_sender(hc_sessions_t *s, const hc_sessions_sender_t *snd);

/* added by sessions: whether a connection whose hello carried `who` would
 * resume a participant kept after its connection dropped (a participant of
 * who->session with the same role, token subject and, when the token names
 * one, site, still within leave_grace_ms), for welcome.resume. Any thread. */
bool hc_sessions_resumable(hc_sessions_t *s, const hc_token_claims_t *who);

typedef struct hc_sessions_counters {
    uint32_t sessions, participants, legs;
    uint64_t created, joined, left, kicked, control_msgs, control_alarms, floor_changes;
    uint32_t in_kbps, out_kbps;
} hc_sessions_counters_t;
void hc_sessions_counters(hc_sessions_t *s, hc_sessions_counters_t *out);

#endif
