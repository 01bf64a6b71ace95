/*
 * session.h - hc-edge's signaling session: the box's life in one Hillcast
 * session, from the first connection to the summary at exit.
 *
 * What it does (proto/SIGNALING.md for the messages):
 *   - connects to the relay with hcsigclient (edge/sigclient.h; the
 *     automatic hello carries the token), creates the session when the
 *     config says so (an existing one is fine), and joins with the publish
 *     list built from the configured sources;
 *   - on `joined`, creates the media engine (edge/media.h: new, publish
 *     each source with the SSRCs the relay assigned, receive, start);
 *     `tracks` replaces the received set, `budget` caps the uplink;
 *   - logs `floor`, `hand`, `participant_*`, `control_rtt` and `alarm`;
 *     raises the hand when asked (opts or the `hand` command); sends
 *     `control` messages from commands (a specialist) and acknowledges
 *     every received `control` at once, on the signaling client's thread,
 *     so the relay's round-trip measure holds no queueing of ours;
 *   - stays up: when the signaling connection drops (relay restarted,
 *     uplink gone, or no pong within keepalive), media is paused with
 *     capture and state kept, and the session reconnects with backoff
 *     (0.5 s doubling to 10 s, +-25 % jitter), says hello with the same
 *     token, creates again when it is the creator (the relay may have
 *     restarted), joins again (retrying while the session does not exist
 *     yet) and hands the engine the new leg and SSRCs
 *     (hc_edge_media_rekey; nothing when the relay resumed the same
 *     participant with the same keys), then unpauses. Media-only outages
 *     (UDP blocked, signaling fine) are the engine's business;
 *   - every second: a live line (per received stream: resolution, bit
 *     rate, loss before/after repair, frames on time, end-to-end delay;
 *     per published stream: rung and target; the estimate) and, when
 *     asked, one JSON object per line into a stats file; a summary at the
 *     end (stop, duration, session closed, kicked). A `session_closed`
 *     followed within 3 s by the connection going away is a relay
 *     stopping (it closes every session first): the box rides it out like
 *     any drop; with the connection still up, the host ended the session.
 *
 * Commands (lines on command_fd, e.g. stdin, or hc_edge_session_command):
 *   hand | lower               raise or lower this site's hand
 *   grant PARTICIPANT          give the floor (teacher, clinician)
 *   revoke [PARTICIPANT]       take it back (a site: hand it back)
 *   control [to=ID] {JSON}     send a control message (consult)
 *   stats                      print the live line now
 *   quit                       end the session (as SIGTERM)
 *   help                       list these
 *
 * The media engine is reached through hc_edge_media_ops_t so the session
 * can be tested against a real relay with a fake engine; hc-edge passes
 * the real one (hc_edge_media_*).
 *
 * Ownership: hc_edge_session_new() allocates and keeps pointers to opts'
 * cfg and media (they must outlive the session) and copies the rest;
 * destroy frees everything the session made (client, engine).
 * Threading: new, run and destroy on one thread (run blocks until the end);
 * hc_edge_session_stop() and hc_edge_session_command() may be called from
 * any thread, stop also from a signal handler; counters from any thread.
 * The engine's functions are all called on run's thread.
 */
#ifndef HC_EDGE_SESSION_H
#define HC_EDGE_SESSION_H

#include "edge/config.h"
#include "edge/media.h"
#include "proto/sig.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct hc_edge_session hc_edge_session_t;

/* The media engine's entry points (edge/media.h). */
typedef struct hc_edge_media_ops {
    int (*create)(hc_edge_media_t **out, const hc_edge_media_cfg_t *cfg, char *err, size_t errcap);
    void (*destroy)(hc_edge_media_t **m);
    int (*publish)(hc_edge_media_t *m, const hc_edge_pub_cfg_t *p, char *err, size_t errcap);
    int (*receive)(hc_edge_media_t *m, const hc_edge_recv_cfg_t *r, size_t n);
    int (*start)(hc_edge_media_t *m);
    void (*set_budget)(hc_edge_media_t *m, uint32_t kbps);
    int (*rekey)(hc_edge_media_t *m, const hc_edge_leg_t *leg, const uint32_t *ssrcs,
                 const uint32_t *rtx_ssrcs, const uint32_t *fec_ssrcs, size_t n);
    void (*pause)(hc_edge_media_t *m, bool paused);
    void (*stats)(hc_edge_media_t *m, hc_edge_stats_t *out);
} hc_edge_media_ops_t;

typedef struct hc_edge_session_opts {
    const hc_edge_config_t *cfg;      /* finished (hc_edge_config_finish) */
    const hc_edge_media_ops_t *media; /* the engine */
    uint64_t duration_us;             /* end after this long; 0 = until stopped */
    const char *stats_json;           /* file for one JSON object per second; NULL = none */
    FILE *live;                       /* live line every second and summary; NULL = none */
    bool raise_hand;                  /* raise the hand after each join */
    int command_fd;                   /* read command lines from it (stdin); -1 = none */
    uint32_t backoff_min_ms;          /* first reconnect delay (500) */
    uint32_t backoff_max_ms;          /* cap of the doubling (10000) */
    uint32_t join_retry_ms;           /* retry a join refused with ENOTFOUND (1000) */
} hc_edge_session_opts_t;

void hc_edge_session_opts_default(hc_edge_session_opts_t *o);

typedef enum hc_edge_sess_state {
    HC_EDGE_SESS_WAIT = 1,   /* waiting to (re)connect */
    HC_EDGE_SESS_CONNECTING, /* WebSocket + hello */
    HC_EDGE_SESS_JOINING,    /* create/join sent, or waiting to retry the join */
    HC_EDGE_SESS_JOINED,     /* in the session, media on */
    HC_EDGE_SESS_DONE,       /* ended */
} hc_edge_sess_state_t;

const char *hc_edge_sess_state_name(hc_edge_sess_state_t st);

/* What happened so far (tests, the summary). */
typedef struct hc_edge_session_counters {
    hc_edge_sess_state_t state;
    char participant[HC_SIG_ID_MAX + 1]; /* current participant id, "" before joined */
    uint64_t connects;                   /* welcomes received */
    uint64_t disconnects;                /* connections lost (or given up as silent) */
    uint64_t joins;                      /* joined replies */
    uint64_t rekeys;                     /* joins that brought a new leg */
    uint64_t join_retries;               /* joins refused with ENOTFOUND/EFULL, retried */
    uint64_t resumed;                    /* welcomes with resume = true */
    uint64_t pings, pongs;
    uint64_t hands, floors, tracks, budgets, alarms, peers_joined, peers_left;
    uint64_t controls_rx, control_acks_tx, controls_tx, control_acks_rx, control_rtts;
    double last_control_rtt_ms;
    uint32_t budget_kbps;
    char floor[HC_SIG_ID_MAX + 1]; /* current floor holder, "" = nobody */
} hc_edge_session_counters_t;

/* 0, -HC_EINVAL (missing cfg/media, bad opts) with a reason in err,
 * -HC_ENOMEM, -HC_EIO (the stats file cannot be opened). */
int hc_edge_session_new(hc_edge_session_t **out, const hc_edge_session_opts_t *o, char *err,
                        size_t errcap);

/*
 * Run until stopped, the duration ends, or the session ends for good.
 * Returns 0 (stopped, duration over, or the session closed by its host),
 * or a negative code for an end the operator must look at: -HC_EPERM
 * (kicked, or the token/role was refused), -HC_EEXPIRED / -HC_ETOKEN /
 * -HC_ESIGNATURE / -HC_ENOTYET (the token), -HC_ECODEC or another engine
 * error (the media engine could not start: err of the engine logged).
 * Before returning it leaves the session (best effort, 1 s) and prints the
 * summary.
 */
int hc_edge_session_run(hc_edge_session_t *s);

/* Ask run to end (async-signal-safe). */
void hc_edge_session_stop(hc_edge_session_t *s);

/* Queue one command line (see above). 0, -HC_EFULL, -HC_ENOMEM. */
int hc_edge_session_command(hc_edge_session_t *s, const char *line);

void hc_edge_session_counters(hc_edge_session_t *s, hc_edge_session_counters_t *out);

void hc_edge_session_destroy(hc_edge_session_t **s);

/* ---- pieces, exposed for tests ---- */

/* Next reconnect delay: cur_ms 0 gives min_ms, else cur doubled, capped at
 * max_ms; *jittered gets it +-25 % from rng (xorshift state, non-zero). */
uint32_t hc_edge_backoff_next(uint32_t cur_ms, uint32_t min_ms, uint32_t max_ms, uint64_t *rng,
                              uint32_t *jittered);

/* The media leg of a joined reply: relay address (transport host, or the
 * signaling URL's host when absent, resolved; or via when set), suite and
 * keys (decoded from base64, checked for the suite's length), rtcp_ssrc.
 * 0 or -HC_EINVAL / -HC_EMALFORMED with a reason in err. */
int hc_edge_leg_from_joined(const hc_sig_transport_t *t, const char *url, const char *via,
                            hc_edge_leg_t *out, char *err, size_t errcap);

/* The host of a ws:// or wss:// URL (brackets of an IPv6 literal removed).
 * 0 or -HC_EINVAL. */
int hc_edge_url_host(const char *url, char *host, size_t cap);

/* Fill a join request from a finished config. */
void hc_edge_join_fill(const hc_edge_config_t *cfg, hc_sig_msg_t *m);

/* One stats JSON object (no newline) for a snapshot taken t_s seconds after
 * start at wall_ms: state, participant, counters and the engine's figures
 * (NULL st: no engine yet). Returns bytes written or -HC_ENOSPC. */
int hc_edge_stats_json(const hc_edge_stats_t *st, const hc_edge_session_counters_t *c, double t_s,
                       uint64_t wall_ms, char *buf, size_t cap);

/* The human live line (no newline). Returns bytes written (truncated to cap). */
int hc_edge_stats_line(const hc_edge_stats_t *st, const hc_edge_session_counters_t *c, double t_s,
                       char *buf, size_t cap);

#endif
