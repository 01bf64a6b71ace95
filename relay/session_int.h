/*
 * session_int.h - internals of the session layer, shared by sessions.c
 * (registry, dispatch, join/leave, media wiring), session_class.c,
 * session_consult.c, session_conf.c and session_admin.c. Not a public API.
 *
 * Two kinds of state, two owners:
 *   - the registry (hc_sessions_t: sessions by id, connection -> session,
 *     participants waiting to resume, site budgets, counters) is guarded by
 *     ss->mu and read and written from the signaling thread and the
 *     workers;
 *   - a session's own state (hc_sess_t below the "worker" line: its
 *     participants, their legs, instreams and tracks, floor, control
 *     channel, speakers, timers) is touched only on the session's worker
 *     thread, by jobs posted with hc_worker_post() and by timers and router
 *     events of that worker.
 * A session is reference counted: the registry holds one reference and
 * every posted job one more, so a job that arrives after the session was
 * closed still finds valid (closed) memory and answers ENOTFOUND.
 *
 * Media wiring is declarative: each session kind says which tracks a
 * receiver should have (wanted slots) and what feeds each slot
 * (hc_sess_kind_ops_t); hc_sess_sync() creates and removes tracks and
 * switches sources to match, and marks receivers whose receive list
 * changed, to whom hc_sess_flush_tracks() sends `tracks`. Every change
 * (join, leave, floor, speakers, resume) is "update state, then sync".
 */
#ifndef HC_RELAY_SESSION_INT_H
#define HC_RELAY_SESSION_INT_H

#include "relay/ctlchan.h"
#include "relay/floor.h"
#include "relay/sessions.h"
#include "relay/speakers.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HC_SESS_PID_MAX        16  /* "p" + decimal participant number */
#define HC_SESS_CONSULT_MAX    8   /* parties of a consult */
#define HC_SESS_CTL_PENDING    256 /* unacknowledged control deliveries per sender */
#define HC_SESS_TICK_MS        200 /* conference speaker sampling period */
#define HC_SESS_STATS_MS       1000
#define HC_SESS_BUDGETS_MAX    4096 /* sites with a stored budget */
#define HC_SESS_CONN_BUCKETS   1024
#define HC_SESS_EMPTY_CLOSE_MS (10u * 60u * 1000u) /* an empty session closes after this */

/* Payload types every Hillcast program uses (relay/core/endpoint.h). */
#define HC_SESS_PT_OPUS     111
#define HC_SESS_PT_OPUS_RTX 112
#define HC_SESS_PT_H264     96
#define HC_SESS_PT_H264_RTX 97
#define HC_SESS_PT_FLEXFEC  98 /* added by the FEC work */

typedef struct hc_sess hc_sess_t;
typedef struct hc_part hc_part_t;

/* A stream a participant publishes. */
typedef struct hc_spub {
    char mid[HC_SIG_MID_MAX + 1];
    hc_sig_media_t kind;
    hc_sig_tag_t tag;
    hc_sig_codec_t codec;
    uint32_t ssrc, rtx_ssrc;
    uint32_t fec_ssrc; /* video: the publisher's FlexFEC stream (added by the FEC work) */
    hc_instream_t *in;
    /* added by downlink layers: simulcast layer (0 the highest, also when
     * not given); video streams of one participant with the same tag are
     * one group, one source, when any of them gives `layer` */
    bool has_layer;
    uint32_t layer;
} hc_spub_t;

/* A stream the relay sends a participant: a router track in a "slot" whose
 * meaning belongs to the session kind. */
typedef struct hc_strack {
    char mid[HC_SIG_MID_MAX + 1];
    hc_sig_media_t kind;
    hc_sig_tag_t tag;
    hc_sig_codec_t codec;
    uint32_t ssrc, rtx_ssrc;
    uint32_t fec_ssrc; /* video: the relay's FlexFEC stream toward it (added by the FEC work) */
    uint32_t slot;
    hc_track_t *t;                /* NULL while the media is being rebuilt (resume) */
    uint32_t src;                 /* participant number feeding it, 0 = none */
    char src_id[HC_SESS_PID_MAX]; /* its id, for receive lists */
    uint32_t said;                /* participant number the client was last told */
    bool wanted;                  /* scratch for hc_sess_sync */
} hc_strack_t;

struct hc_part {
    hc_sess_t *se;
    hc_part_t *prev, *next; /* session list, join order */
    uint32_t num;           /* 1, 2, ...: participant id "p<num>" */
    char id[HC_SESS_PID_MAX];
    hc_sig_role_t role;
    char site[HC_SIG_NAME_MAX + 1];
    char sub[HC_SIG_NAME_MAX + 1];
    uint64_t conn; /* 0 while disconnected (grace) */
    int64_t joined_ms;
    hc_timer_t grace;
    bool subscribe;
    bool hand;
    bool link_down;
    bool tracks_dirty;
    uint32_t teacher; /* class: 1 lecturer, 2 tutor, 0 not a teacher */
    int party;        /* consult: control channel party, -1 none */
    char addr[HC_SIG_ADDR_MAX + 1];
    /* media */
    hc_srtp_suite_t suite;
    uint8_t key_up[HC_SRTP_MAX_KEY_LEN], key_down[HC_SRTP_MAX_KEY_LEN];
    uint32_t rtcp_ssrc, relay_ssrc;
    hc_leg_t *leg;
    hc_spub_t pubs[HC_SIG_STREAMS_MAX];
    uint32_t n_pubs;
    hc_strack_t tracks[HC_SIG_TRACKS_MAX];
    uint32_t n_tracks;
};

/* A track a session kind wants a receiver to have. */
typedef struct hc_slot_want {
    uint32_t slot;
    hc_sig_media_t kind;
    hc_sig_tag_t tag;
    hc_sig_codec_t codec;
    char mid[HC_SIG_MID_MAX + 1];
} hc_slot_want_t;

typedef struct hc_sess_kind_ops {
    /* Check a join's publish list for this kind (the common kind/tag/codec
     * agreement is checked before). 0 or -HC_E* with reason filled. */
    int (*check_publish)(hc_sess_t *se, hc_sig_role_t role, const hc_sig_join_t *j, char *reason,
                         size_t cap);
    /* Admit the participant (teacher slot, control party, speakers); undone
     * by leave. 0 or -HC_E* with reason. */
    int (*admit)(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap);
    void (*leave)(hc_sess_t *se, hc_part_t *p);
    /* Slots receiver r should have; returns how many (<= cap). */
    uint32_t (*wanted)(hc_sess_t *se, hc_part_t *r, hc_slot_want_t *out, uint32_t cap);
    /* The published stream that feeds r's slot now (and its publisher in
     * *owner), or NULL. */
    hc_spub_t *(*source)(hc_sess_t *se, hc_part_t *r, uint32_t slot, hc_sig_media_t kind,
                         hc_part_t **owner);
} hc_sess_kind_ops_t;

extern const hc_sess_kind_ops_t hc_sess_class_ops;
extern const hc_sess_kind_ops_t hc_sess_consult_ops;
extern const hc_sess_kind_ops_t hc_sess_conf_ops;

struct hc_sess {
    hc_sessions_t *ss;
    atomic_int refs;
    hc_sess_t *reg_next; /* registry list (ss->mu) */
    /* fixed at create */
    char id[HC_SIG_ID_MAX + 1];
    char title[HC_SIG_TITLE_MAX + 1];
    hc_sig_kind_t kind;
    const hc_sess_kind_ops_t *ops;
    int64_t created_ms;
    unsigned widx;
    hc_worker_t *w;
    uint32_t max_parts;
    uint32_t last_n, audio_k;
    uint32_t deadline_ms;
    /* registry view (ss->mu), kept current by the worker */
    uint32_t reg_parts, reg_pubs, reg_in_kbps, reg_out_kbps;
    /* ---- worker ---- */
    bool closed;
    bool started;
    uint32_t next_num;
    hc_part_t *head, *tail;
    uint32_t n_parts;
    hc_timer_t tick;
    uint32_t ticks;
    uint64_t empty_since_us; /* 0 while it has participants */
    /* class and conference: floor and hands */
    hc_floor_t floor;
    uint32_t *hands;
    hc_part_t *teacher[2]; /* class: lecturer, tutor */
    /* consult */
    hc_ctlchan_t *ctl;
    hc_part_t *party[HC_SESS_CONSULT_MAX];
    hc_timer_t ctl_timer;
    /* conference */
    hc_speakers_t *spk;
    /* slot holders resolved once per hc_sess_sync (a lookup by number is
     * a list walk; a sync asks for every receiver's tracks) */
    hc_part_t *c_floor;
    hc_part_t *c_audio[HC_SPEAKERS_MAX_SLOTS];
    hc_part_t *c_video[HC_SPEAKERS_MAX_SLOTS];
};

/* connection -> session, for messages without a session field */
typedef struct hc_conn_ent {
    struct hc_conn_ent *next;
    uint64_t conn;
    hc_sess_t *se;
    uint32_t part; /* 0 until the join went through */
    char site[HC_SIG_NAME_MAX + 1];
} hc_conn_ent_t;

/* a disconnected participant that a reconnect may resume */
typedef struct hc_resume_ent {
    struct hc_resume_ent *next;
    hc_sess_t *se;
    uint32_t part;
    hc_sig_role_t role;
    char sub[HC_SIG_NAME_MAX + 1];
    char site[HC_SIG_NAME_MAX + 1];
} hc_resume_ent_t;

typedef struct hc_budget_ent {
    char site[HC_SIG_NAME_MAX + 1];
    uint32_t kbps;
} hc_budget_ent_t;

struct hc_sessions {
    hc_sessions_cfg_t cfg;
    hc_workers_t *ws;
    hc_sigserver_t *sig;
    hc_sessions_sender_t sender; /* test hook; send == NULL: the sigserver */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool closing;
    hc_sess_t *sessions;
    uint32_t n_sessions;
    uint32_t live; /* allocated sessions, until their last reference */
    uint32_t *worker_parts;
    hc_conn_ent_t *conns[HC_SESS_CONN_BUCKETS];
    hc_resume_ent_t *resumes;
    hc_budget_ent_t *budgets;
    uint32_t n_budgets;
    hc_sessions_counters_t ctr;
};

/* A closure run on a session's worker. */
typedef struct hc_sess_job hc_sess_job_t;
typedef void (*hc_sess_job_fn)(hc_sess_job_t *j);
struct hc_sess_job {
    hc_sessions_t *ss;
    hc_sess_t *se; /* holds a reference */
    hc_sess_job_fn fn;
    uint64_t conn;
    hc_token_claims_t who;
    hc_sig_msg_t *msg; /* owned; fini'd and freed after fn */
    char text[HC_SIG_REASON_MAX + 1];
};

/* ---- sessions.c ---- */
void hc_sess_ref(hc_sess_t *se);
void hc_sess_unref(hc_sess_t *se);
/* Post fn to se's worker; takes ownership of msg (may be NULL) whatever
 * happens. On failure the requester gets an error reply. */
int hc_sess_post(hc_sessions_t *ss, hc_sess_t *se, hc_sess_job_fn fn, uint64_t conn,
                 const hc_token_claims_t *who, hc_sig_msg_t *msg, const char *text);
hc_router_t *hc_sess_router(hc_sess_t *se);
uint64_t hc_sess_now_us(hc_sess_t *se);
int64_t hc_sess_wall_ms(void);

/* Send a message; conn 0 (a disconnected participant) is skipped. */
void hc_sess_send(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *m);
void hc_sess_close_conn(hc_sessions_t *ss, uint64_t conn, const char *reason);
/* Send `error` (id 0 for none) with a printf-style reason. */
void hc_sess_error(hc_sessions_t *ss, uint64_t conn, uint32_t id, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void hc_sess_ok(hc_sessions_t *ss, uint64_t conn, uint32_t id);
/* A zeroed heap message of type t (NULL when out of memory). */
hc_sig_msg_t *hc_sess_msg(hc_sig_type_t t);
void hc_sess_msg_free(hc_sig_msg_t *m);
/* Send m to every connected participant (except `except`, may be NULL). */
void hc_sess_broadcast(hc_sess_t *se, const hc_sig_msg_t *m, const hc_part_t *except);

hc_part_t *hc_sess_find_num(hc_sess_t *se, uint32_t num);
hc_part_t *hc_sess_find_id(hc_sess_t *se, const char *id);
hc_part_t *hc_sess_find_conn(hc_sess_t *se, uint64_t conn);
hc_spub_t *hc_part_pub(hc_part_t *p, hc_sig_media_t kind, hc_sig_tag_t tag); /* tag 0 = any */
/* (added by downlink layers) The simulcast group s belongs to (p's video
 * streams of s's tag when any of them gives `layer`), ordered by layer,
 * highest first, into out[0..cap); 1 (s itself) otherwise. */
uint32_t hc_part_group(hc_part_t *p, const hc_spub_t *s, hc_spub_t **out, uint32_t cap);
/* True when an earlier stream of p already stands for s's group (or, as
 * before layers, for its tag): receivers get one track per group. */
bool hc_part_pub_dup(const hc_part_t *p, const hc_spub_t *s);
/* True when join.publish[i] is a further layer of a simulcast group an
 * earlier entry started (video of the same tag, and some video of that tag
 * gives `layer`; those without are layer 0): the kinds' "one stream per
 * tag" rules count groups. */
bool hc_sess_pub_sibling(const hc_sig_join_t *j, size_t i);
bool hc_part_is_host(const hc_part_t *p);

/* session_media.c: fresh SRTP keys in p, its leg and instreams (on
 * failure nothing is left in the router and reason says why); and their
 * removal (the track entries stay so a rebuild keeps their SSRCs). */
int hc_sess_media_up(hc_sess_t *se, hc_part_t *p, char *reason, size_t cap);
void hc_sess_media_down(hc_sess_t *se, hc_part_t *p);
void hc_sess_stream_info_of_pub(const hc_spub_t *s, hc_sig_stream_info_t *o);
/* A random 32-bit number (OpenSSL's; SSRCs and ids, not keys). */
uint32_t hc_sess_rand32(void);

/* Match tracks and sources to the kind's wishes (see top). */
void hc_sess_sync(hc_sess_t *se);
/* Send `tracks` to every receiver marked dirty (except `except`). */
void hc_sess_flush_tracks(hc_sess_t *se, const hc_part_t *except);
/* Fill a receive list from p's tracks (marks them announced). */
void hc_sess_receive_list(hc_part_t *p, hc_sig_stream_info_t *out, size_t *n);
void hc_sess_peer(const hc_part_t *p, hc_sig_peer_t *out);

/* Remove p: notify others with participant_left (reason), update the
 * floor, tracks and the registry, free p. */
void hc_sess_part_remove(hc_sess_t *se, hc_part_t *p, hc_sig_gone_t reason);
/* Close the session: `session_closed` to everyone (when reason is not
 * NULL), remove every participant, leave the registry. */
void hc_sess_close(hc_sess_t *se, const char *reason);

/* Registry helpers (take ss->mu themselves). */
void hc_reg_conn_set(hc_sessions_t *ss, uint64_t conn, hc_sess_t *se, uint32_t part,
                     const char *site);
void hc_reg_conn_drop(hc_sessions_t *ss, uint64_t conn, hc_sess_t *se);
void hc_reg_counts(hc_sess_t *se);
void hc_reg_count(hc_sessions_t *ss, uint64_t *field, uint64_t add);
bool hc_reg_budget(hc_sessions_t *ss, const char *site, uint32_t *kbps);

/* ---- session_class.c ---- */
void hc_sess_hand_job(hc_sess_job_t *j);                        /* raise_hand, lower_hand */
void hc_sess_floor_job(hc_sess_job_t *j);                       /* grant_floor, revoke_floor */
void hc_sess_floor_gone(hc_sess_t *se, hc_part_t *p, int bits); /* after hc_floor_remove */

/* ---- session_consult.c ---- */
void hc_sess_control_job(hc_sess_job_t *j);     /* control */
void hc_sess_control_ack_job(hc_sess_job_t *j); /* control_ack */
void hc_sess_ctl_arm(hc_sess_t *se);

/* ---- session_conf.c ---- */
void hc_sess_conf_tick(hc_sess_t *se, uint64_t now_us);

/* ---- session_admin.c ---- */
void hc_sess_admin_list_sessions(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *m);
void hc_sess_admin_set_budget(hc_sessions_t *ss, uint64_t conn, const hc_sig_msg_t *m);
void hc_sess_participants_job(hc_sess_job_t *j);
void hc_sess_kick_job(hc_sess_job_t *j);
void hc_sess_close_job(hc_sess_job_t *j);
void hc_sess_stats_tick(hc_sess_t *se);

#endif
