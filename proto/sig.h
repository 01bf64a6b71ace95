/*
 * sig.h - the signaling message schema: every message type and every field.
 *
 * Signaling runs over a WebSocket between hc-relay and its clients (hc-edge
 * boxes, the admin console hc-ctl, later a web page). Every frame is one JSON
 * object (RFC 8259) whose "type" names one of the messages below. This header
 * is the only definition of that format; proto/SIGNALING.md documents it for
 * people and must be kept in step with the tables here.
 *
 * One X-macro table per message (HC_SIG_F_<name>) lists its fields, one line
 * each, and generates the C struct (here), the validation table, the parser
 * and the writer (sig.c). Field lines read
 *
 *     X(T, name, kind, presence, min, max, aux, default)
 *
 *   kind      ID      identifier, [A-Za-z0-9._-], min..max bytes
 *             TEXT    UTF-8 text without control characters, min..max bytes
 *             HOST    host name, address or address:port, [A-Za-z0-9.:[]_-]
 *             B64     base64 (RFC 4648 §4) whose decoded size is min..max bytes
 *             NULLID  identifier or JSON null (null = empty string in C)
 *             U32     unsigned integer, min..max
 *             U32Z    unsigned integer, 0 or min..max (0 means "unlimited")
 *             I64     signed integer, min..max
 *             F64     number, min..max
 *             BOOL    true/false
 *             ENUM    one of the names of enumeration `aux`
 *             ERRCODE hc_errname() of an hc_err_t code, e.g. "EPERM"
 *             OBJ     any JSON object, at most max bytes as compact JSON
 *             ARR     array of min..max items of struct `aux`
 *             STRUCT  nested object of struct `aux`
 *   presence  REQ or OPT. Optional numbers, booleans and enums get a
 *             `bool has_<name>`; optional strings are absent when empty and
 *             optional OBJ fields when NULL. ARR, STRUCT and NULLID fields are
 *             always required (an ARR may have min 0 items).
 *   default   value an absent optional number/bool/enum reads as.
 *
 * Strict: parse rejects unknown fields (also in nested objects), missing
 * required fields, wrong JSON types, nulls outside NULLID, out-of-range
 * values, over-long strings and frames over HC_SIG_MAX_TEXT bytes. The writer
 * runs the same validation, so it never emits what the parser would reject;
 * hc_sig_max_len() bounds its output and every message's bound is at most
 * HC_SIG_MAX_TEXT (a unit test checks this), which is why list replies are
 * paginated with caps below.
 *
 * Ownership: hc_sig_parse() stores a reference to each OBJ field (the
 * control body) in the message; hc_sig_msg_fini() drops it. When you fill a
 * message to write, setting an OBJ field hands your reference to the message.
 * Everything else is copied into the fixed arrays of the structs, which are
 * large (sizeof(hc_sig_msg_t) is about 21 KiB): keep them off small stacks.
 * jansson allocates while parsing and for OBJ fields; this module adds no
 * allocation of its own.
 *
 * Threading: no shared state; messages are not synchronized. The writer reads
 * the locale's decimal point (localeconv) to emit '.', so programs must not
 * change LC_NUMERIC while another thread writes.
 */
#ifndef HC_PROTO_SIG_H
#define HC_PROTO_SIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Frames larger than this are rejected before parsing (the relay enforces it
 * on the WebSocket too). */
#define HC_SIG_MAX_TEXT 65536

#define HC_SIG_REQ_ID_MAX  2147483647 /* request ids are 1..2^31-1 */
#define HC_SIG_ID_MAX      64         /* session and participant ids */
#define HC_SIG_MID_MAX     32         /* stream ids ("mid") */
#define HC_SIG_NAME_MAX    64         /* site display names, bytes of UTF-8 */
#define HC_SIG_TITLE_MAX   128        /* session titles */
#define HC_SIG_REASON_MAX  256        /* reasons and details */
#define HC_SIG_SOFT_MAX    64         /* software/version strings */
#define HC_SIG_HOST_MAX    253        /* host names (RFC 1035 §2.3.4) */
#define HC_SIG_ADDR_MAX    64         /* address:port as seen by the relay */
#define HC_SIG_TOKEN_MAX   4096       /* JWT text, same bound as token.h */
#define HC_SIG_BODY_MAX    4096       /* control body, compact JSON */
#define HC_SIG_KEY_MIN     16         /* SRTP master key+salt, decoded bytes */
#define HC_SIG_KEY_MAX     64
#define HC_SIG_STREAMS_MAX 8        /* streams one participant publishes */
#define HC_SIG_PEERS_MAX   16       /* participants listed in "joined" */
#define HC_SIG_TRACKS_MAX  24       /* streams the relay sends one client */
#define HC_SIG_PAGE_MAX    64       /* items per "sessions" page */
#define HC_SIG_PPAGE_MAX   24       /* items per "participants" page */
#define HC_SIG_LEGS_MAX    8        /* legs per participant in "participants" */
#define HC_SIG_TTL_MAX     31536000 /* token lifetime, one year in seconds */

/* ---- Enumerations: X(P, NAME, "wire name"). Value 0 is HC_SIG_<P>_NONE,
 * which is never valid on the wire, so a zeroed field is caught. ---- */

#define HC_SIG_ENUM_role(X, P)                                                                     \
    X(P, ADMIN, "admin")                                                                           \
    X(P, TEACHER, "teacher")                                                                       \
    X(P, CLINICIAN, "clinician")                                                                   \
    X(P, SITE, "site")                                                                             \
    X(P, VIEWER, "viewer")
#define HC_SIG_ENUM_kind(X, P)                                                                     \
    X(P, CLASS, "class")                                                                           \
    X(P, CONSULT, "consult")                                                                       \
    X(P, CONFERENCE, "conference")
#define HC_SIG_ENUM_media(X, P)                                                                    \
    X(P, AUDIO, "audio")                                                                           \
    X(P, VIDEO, "video")                                                                           \
    X(P, DATA, "data")
#define HC_SIG_ENUM_tag(X, P)                                                                      \
    X(P, MAIN, "main")                                                                             \
    X(P, AUDIO, "audio")                                                                           \
    X(P, DIAGNOSTIC, "diagnostic")                                                                 \
    X(P, FACE, "face")                                                                             \
    X(P, SCREEN, "screen")                                                                         \
    X(P, CONTROL, "control")
#define HC_SIG_ENUM_codec(X, P)                                                                    \
    X(P, OPUS, "opus")                                                                             \
    X(P, H264, "h264")                                                                             \
    X(P, JSON, "json")
/* gcm = AEAD_AES_128_GCM (RFC 7714), aes-cm = AES_CM_128_HMAC_SHA1_80 (RFC 3711) */
#define HC_SIG_ENUM_suite(X, P)                                                                    \
    X(P, GCM, "gcm")                                                                               \
    X(P, AES_CM, "aes-cm")
#define HC_SIG_ENUM_legdir(X, P)                                                                   \
    X(P, IN, "in")                                                                                 \
    X(P, OUT, "out")
#define HC_SIG_ENUM_alarm_kind(X, P)                                                               \
    X(P, CONTROL_LOST, "control_lost")                                                             \
    X(P, CONTROL_RESTORED, "control_restored")                                                     \
    X(P, LINK_DOWN, "link_down")                                                                   \
    X(P, LINK_UP, "link_up")                                                                       \
    X(P, BUDGET, "budget")
#define HC_SIG_ENUM_gone(X, P)                                                                     \
    X(P, LEFT, "left")                                                                             \
    X(P, KICKED, "kicked")                                                                         \
    X(P, TIMEOUT, "timeout")                                                                       \
    X(P, CLOSED, "closed")

/* X(tag, PREFIX): enumeration hc_sig_<tag>_t with values HC_SIG_<PREFIX>_<NAME>. */
#define HC_SIG_ENUMS(X)                                                                            \
    X(role, ROLE)                                                                                  \
    X(kind, KIND)                                                                                  \
    X(media, MEDIA)                                                                                \
    X(tag, TAG)                                                                                    \
    X(codec, CODEC)                                                                                \
    X(suite, SUITE)                                                                                \
    X(legdir, LEG)                                                                                 \
    X(alarm_kind, ALARM)                                                                           \
    X(gone, GONE)

/* ---- Nested item structs (listed before the messages that use them). ---- */

/* A stream the client wants to publish (join.publish[]). */
#define HC_SIG_F_stream_pub(X, T)                                                                  \
    X(T, mid, ID, REQ, 1, HC_SIG_MID_MAX, _, 0)                                                    \
    X(T, kind, ENUM, REQ, 0, 0, media, 0)                                                          \
    X(T, tag, ENUM, REQ, 0, 0, tag, 0)                                                             \
    X(T, codec, ENUM, REQ, 0, 0, codec, 0)                                                         \
    X(T, max_kbps, U32, OPT, 1, 100000, _, 0)                                                      \
    X(T, width, U32, OPT, 16, 7680, _, 0)                                                          \
    X(T, height, U32, OPT, 16, 4320, _, 0)                                                         \
    X(T, fps, U32, OPT, 1, 120, _, 0)                                                              \
    X(T, layer, U32, OPT, 0, 3, _, 0)

/* A stream as the relay knows it: mid and the SSRCs the relay assigned. */
#define HC_SIG_F_stream_info(X, T)                                                                 \
    X(T, mid, ID, REQ, 1, HC_SIG_MID_MAX, _, 0)                                                    \
    X(T, ssrc, U32, REQ, 0, UINT32_MAX, _, 0)                                                      \
    X(T, rtx_ssrc, U32, OPT, 0, UINT32_MAX, _, 0)                                                  \
    X(T, fec_ssrc, U32, OPT, 0, UINT32_MAX, _, 0)                                                  \
    X(T, kind, ENUM, REQ, 0, 0, media, 0)                                                          \
    X(T, tag, ENUM, REQ, 0, 0, tag, 0)                                                             \
    X(T, codec, ENUM, REQ, 0, 0, codec, 0)                                                         \
    X(T, participant, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, layer, U32, OPT, 0, 3, _, 0)

/* Where and how to send media (joined.media). Keys are SRTP master key
 * followed by master salt: 16+12 bytes for gcm, 16+14 for aes-cm. */
#define HC_SIG_F_transport(X, T)                                                                   \
    X(T, port, U32, REQ, 1, 65535, _, 0)                                                           \
    X(T, host, HOST, OPT, 1, HC_SIG_HOST_MAX, _, 0)                                                \
    X(T, suite, ENUM, REQ, 0, 0, suite, 0)                                                         \
    X(T, key_up, B64, REQ, HC_SIG_KEY_MIN, HC_SIG_KEY_MAX, _, 0)                                   \
    X(T, key_down, B64, REQ, HC_SIG_KEY_MIN, HC_SIG_KEY_MAX, _, 0)                                 \
    X(T, rtcp_ssrc, U32, REQ, 0, UINT32_MAX, _, 0)

/* Another participant of the session. */
#define HC_SIG_F_peer(X, T)                                                                        \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, site, TEXT, REQ, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, role, ENUM, REQ, 0, 0, role, 0)                                                           \
    X(T, streams, ARR, REQ, 0, HC_SIG_STREAMS_MAX, stream_info, 0)                                 \
    X(T, hand, BOOL, REQ, 0, 1, _, 0)

/* One row of the admin "sessions" page. */
#define HC_SIG_F_session_info(X, T)                                                                \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, kind, ENUM, REQ, 0, 0, kind, 0)                                                           \
    X(T, title, TEXT, OPT, 1, HC_SIG_TITLE_MAX, _, 0)                                              \
    X(T, created_ms, I64, REQ, 0, INT64_MAX, _, 0)                                                 \
    X(T, participants, U32, REQ, 0, UINT32_MAX, _, 0)                                              \
    X(T, publishers, U32, REQ, 0, UINT32_MAX, _, 0)                                                \
    X(T, in_kbps, U32, REQ, 0, UINT32_MAX, _, 0)                                                   \
    X(T, out_kbps, U32, REQ, 0, UINT32_MAX, _, 0)

/* Statistics of one media leg (one SSRC, one direction) at the relay.
 * rtt_ms and jitter_ms are whole milliseconds: enough for a console and it
 * keeps a full "participants" page under HC_SIG_MAX_TEXT. */
#define HC_SIG_F_leg(X, T)                                                                         \
    X(T, ssrc, U32, REQ, 0, UINT32_MAX, _, 0)                                                      \
    X(T, dir, ENUM, REQ, 0, 0, legdir, 0)                                                          \
    X(T, kind, ENUM, REQ, 0, 0, media, 0)                                                          \
    X(T, tag, ENUM, REQ, 0, 0, tag, 0)                                                             \
    X(T, kbps, U32, REQ, 0, UINT32_MAX, _, 0)                                                      \
    X(T, loss, F64, REQ, 0, 1, _, 0)                                                               \
    X(T, rtt_ms, U32, REQ, 0, 600000, _, 0)                                                        \
    X(T, jitter_ms, U32, REQ, 0, 600000, _, 0)                                                     \
    X(T, nacks, U32, REQ, 0, UINT32_MAX, _, 0)                                                     \
    X(T, plis, U32, REQ, 0, UINT32_MAX, _, 0)                                                      \
    X(T, layer, U32, OPT, 0, 3, _, 0)                                                              \
    X(T, estimate_kbps, U32, OPT, 0, UINT32_MAX, _, 0)

/* One row of the admin "participants" page. */
#define HC_SIG_F_participant_info(X, T)                                                            \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, site, TEXT, REQ, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, role, ENUM, REQ, 0, 0, role, 0)                                                           \
    X(T, joined_ms, I64, REQ, 0, INT64_MAX, _, 0)                                                  \
    X(T, addr, HOST, OPT, 1, HC_SIG_ADDR_MAX, _, 0)                                                \
    X(T, hand, BOOL, REQ, 0, 1, _, 0)                                                              \
    X(T, legs, ARR, REQ, 0, HC_SIG_LEGS_MAX, leg, 0)

#define HC_SIG_ITEMS(X)                                                                            \
    X(stream_pub)                                                                                  \
    X(stream_info)                                                                                 \
    X(transport)                                                                                   \
    X(peer)                                                                                        \
    X(session_info)                                                                                \
    X(leg)                                                                                         \
    X(participant_info)

/* ---- Messages ---- */

/* Request id: chosen by the client, echoed in the reply (and in "error"). */
#define HC_SIG__ID(X, T) X(T, id, U32, REQ, 1, HC_SIG_REQ_ID_MAX, _, 0)

/* Connection */
#define HC_SIG_F_hello(X, T)                                                                       \
    X(T, token, ID, REQ, 1, HC_SIG_TOKEN_MAX, _, 0)                                                \
    X(T, client, TEXT, OPT, 1, HC_SIG_SOFT_MAX, _, 0)
#define HC_SIG_F_welcome(X, T)                                                                     \
    X(T, role, ENUM, REQ, 0, 0, role, 0)                                                           \
    X(T, session, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, site, TEXT, OPT, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, server, TEXT, REQ, 1, HC_SIG_SOFT_MAX, _, 0)                                              \
    X(T, keepalive_ms, U32, REQ, 100, 600000, _, 0)                                                \
    X(T, resume, BOOL, OPT, 0, 1, _, 0)
#define HC_SIG_F_ping(X, T) HC_SIG__ID(X, T)
#define HC_SIG_F_pong(X, T) HC_SIG__ID(X, T) X(T, time_ms, I64, REQ, 0, INT64_MAX, _, 0)
#define HC_SIG_F_error(X, T)                                                                       \
    X(T, id, U32, OPT, 1, HC_SIG_REQ_ID_MAX, _, 0)                                                 \
    X(T, code, ERRCODE, REQ, 0, 0, _, 0)                                                           \
    X(T, reason, TEXT, REQ, 1, HC_SIG_REASON_MAX, _, 0)

/* Sessions */
#define HC_SIG_F_create(X, T)                                                                      \
    HC_SIG__ID(X, T)                                                                               \
    X(T, kind, ENUM, REQ, 0, 0, kind, 0)                                                           \
    X(T, session, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, title, TEXT, OPT, 1, HC_SIG_TITLE_MAX, _, 0)                                              \
    X(T, max_sites, U32, OPT, 1, 1000, _, 0)                                                       \
    X(T, last_n, U32, OPT, 1, 16, _, 0)                                                            \
    X(T, control_deadline_ms, U32, OPT, 50, 10000, _, 300)
#define HC_SIG_F_created(X, T)                                                                     \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, kind, ENUM, REQ, 0, 0, kind, 0)
#define HC_SIG_F_join(X, T)                                                                        \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, site, TEXT, REQ, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, publish, ARR, REQ, 0, HC_SIG_STREAMS_MAX, stream_pub, 0)                                  \
    X(T, subscribe, BOOL, OPT, 0, 1, _, 1)                                                         \
    X(T, suite, ENUM, OPT, 0, 0, suite, HC_SIG_SUITE_GCM)
/* participants lists at most HC_SIG_PEERS_MAX others; participants_total
 * counts them all and the relay sends the rest as participant_joined events
 * right after "joined". */
#define HC_SIG_F_joined(X, T)                                                                      \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, kind, ENUM, REQ, 0, 0, kind, 0)                                                           \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, media, STRUCT, REQ, 0, 0, transport, 0)                                                   \
    X(T, streams, ARR, REQ, 0, HC_SIG_STREAMS_MAX, stream_info, 0)                                 \
    X(T, receive, ARR, REQ, 0, HC_SIG_TRACKS_MAX, stream_info, 0)                                  \
    X(T, floor, NULLID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                               \
    X(T, participants, ARR, REQ, 0, HC_SIG_PEERS_MAX, peer, 0)                                     \
    X(T, participants_total, U32, REQ, 0, UINT32_MAX, _, 0)
#define HC_SIG_F_leave(X, T) HC_SIG__ID(X, T)
#define HC_SIG_F_left(X, T)  HC_SIG__ID(X, T)
#define HC_SIG_F_participant_joined(X, T)                                                          \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, participant, STRUCT, REQ, 0, 0, peer, 0)
#define HC_SIG_F_participant_left(X, T)                                                            \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, reason, ENUM, REQ, 0, 0, gone, 0)

/* Class floor */
#define HC_SIG_F_raise_hand(X, T) HC_SIG__ID(X, T)
#define HC_SIG_F_lower_hand(X, T) HC_SIG__ID(X, T)
#define HC_SIG_F_ok(X, T)         HC_SIG__ID(X, T)
#define HC_SIG_F_hand(X, T)                                                                        \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, raised, BOOL, REQ, 0, 1, _, 0)
#define HC_SIG_F_grant_floor(X, T)                                                                 \
    HC_SIG__ID(X, T) X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)
#define HC_SIG_F_revoke_floor(X, T)                                                                \
    HC_SIG__ID(X, T) X(T, participant, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)
#define HC_SIG_F_floor(X, T)                                                                       \
    X(T, participant, NULLID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                         \
    X(T, by, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)

/* Consult control channel */
#define HC_SIG_F_control(X, T)                                                                     \
    X(T, seq, U32, REQ, 0, UINT32_MAX, _, 0)                                                       \
    X(T, to, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                      \
    X(T, from, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                    \
    X(T, body, OBJ, REQ, 0, HC_SIG_BODY_MAX, _, 0)
#define HC_SIG_F_control_ack(X, T)                                                                 \
    X(T, seq, U32, REQ, 0, UINT32_MAX, _, 0)                                                       \
    X(T, to, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                      \
    X(T, from, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)
#define HC_SIG_F_control_rtt(X, T)                                                                 \
    X(T, seq, U32, REQ, 0, UINT32_MAX, _, 0)                                                       \
    X(T, rtt_ms, F64, REQ, 0, 600000, _, 0)
#define HC_SIG_F_alarm(X, T)                                                                       \
    X(T, kind, ENUM, REQ, 0, 0, alarm_kind, 0)                                                     \
    X(T, participant, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, since_ms, I64, OPT, 0, INT64_MAX, _, 0)                                                   \
    X(T, detail, TEXT, OPT, 1, HC_SIG_REASON_MAX, _, 0)

/* Session lifecycle events */
#define HC_SIG_F_session_closed(X, T)                                                              \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, reason, TEXT, REQ, 1, HC_SIG_REASON_MAX, _, 0)
/* The set of streams the relay sends this client changed (a publisher came
 * or went, a conference speaker slot changed source). */
#define HC_SIG_F_tracks(X, T)                                                                      \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, receive, ARR, REQ, 0, HC_SIG_TRACKS_MAX, stream_info, 0)
#define HC_SIG_F_kicked(X, T) X(T, reason, TEXT, REQ, 1, HC_SIG_REASON_MAX, _, 0)
#define HC_SIG_F_budget(X, T) X(T, kbps, U32Z, REQ, 64, 100000, _, 0)

/* Admin */
#define HC_SIG_F_list_sessions(X, T)                                                               \
    HC_SIG__ID(X, T)                                                                               \
    X(T, offset, U32, OPT, 0, UINT32_MAX, _, 0)                                                    \
    X(T, limit, U32, OPT, 1, HC_SIG_PAGE_MAX, _, HC_SIG_PAGE_MAX)
#define HC_SIG_F_sessions(X, T)                                                                    \
    HC_SIG__ID(X, T)                                                                               \
    X(T, total, U32, REQ, 0, UINT32_MAX, _, 0)                                                     \
    X(T, offset, U32, REQ, 0, UINT32_MAX, _, 0)                                                    \
    X(T, items, ARR, REQ, 0, HC_SIG_PAGE_MAX, session_info, 0)
#define HC_SIG_F_list_participants(X, T)                                                           \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, offset, U32, OPT, 0, UINT32_MAX, _, 0)                                                    \
    X(T, limit, U32, OPT, 1, HC_SIG_PPAGE_MAX, _, HC_SIG_PPAGE_MAX)
#define HC_SIG_F_participants(X, T)                                                                \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, total, U32, REQ, 0, UINT32_MAX, _, 0)                                                     \
    X(T, offset, U32, REQ, 0, UINT32_MAX, _, 0)                                                    \
    X(T, items, ARR, REQ, 0, HC_SIG_PPAGE_MAX, participant_info, 0)
#define HC_SIG_F_kick(X, T)                                                                        \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, participant, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                             \
    X(T, reason, TEXT, OPT, 1, HC_SIG_REASON_MAX, _, 0)
#define HC_SIG_F_close_session(X, T)                                                               \
    HC_SIG__ID(X, T)                                                                               \
    X(T, session, ID, REQ, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, reason, TEXT, OPT, 1, HC_SIG_REASON_MAX, _, 0)
#define HC_SIG_F_mint_token(X, T)                                                                  \
    HC_SIG__ID(X, T)                                                                               \
    X(T, role, ENUM, REQ, 0, 0, role, 0)                                                           \
    X(T, session, ID, OPT, 1, HC_SIG_ID_MAX, _, 0)                                                 \
    X(T, site, TEXT, OPT, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, sub, TEXT, OPT, 1, HC_SIG_NAME_MAX, _, 0)                                                 \
    X(T, ttl_s, U32, REQ, 1, HC_SIG_TTL_MAX, _, 0)
#define HC_SIG_F_token(X, T)                                                                       \
    HC_SIG__ID(X, T)                                                                               \
    X(T, token, ID, REQ, 1, HC_SIG_TOKEN_MAX, _, 0)                                                \
    X(T, expires_ms, I64, REQ, 0, INT64_MAX, _, 0)
#define HC_SIG_F_set_budget(X, T)                                                                  \
    HC_SIG__ID(X, T)                                                                               \
    X(T, site, TEXT, REQ, 1, HC_SIG_NAME_MAX, _, 0)                                                \
    X(T, kbps, U32Z, REQ, 64, 100000, _, 0)
#define HC_SIG_F_stats(X, T) HC_SIG__ID(X, T)
#define HC_SIG_F_stats_reply(X, T)                                                                 \
    HC_SIG__ID(X, T)                                                                               \
    X(T, sessions, U32, REQ, 0, UINT32_MAX, _, 0)                                                  \
    X(T, participants, U32, REQ, 0, UINT32_MAX, _, 0)                                              \
    X(T, legs, U32, REQ, 0, UINT32_MAX, _, 0)                                                      \
    X(T, in_kbps, U32, REQ, 0, UINT32_MAX, _, 0)                                                   \
    X(T, out_kbps, U32, REQ, 0, UINT32_MAX, _, 0)                                                  \
    X(T, uptime_s, I64, REQ, 0, INT64_MAX, _, 0)

/* Roles as bits, for the "who may send" column below. */
#define HC_SIG_R(role) (1u << HC_SIG_ROLE_##role)
#define HC_SIG_R_ANY                                                                               \
    (HC_SIG_R(ADMIN) | HC_SIG_R(TEACHER) | HC_SIG_R(CLINICIAN) | HC_SIG_R(SITE) | HC_SIG_R(VIEWER))
#define HC_SIG_R_HOST  (HC_SIG_R(ADMIN) | HC_SIG_R(TEACHER) | HC_SIG_R(CLINICIAN))
#define HC_SIG_R_RELAY 0u /* sent by the relay only */

/*
 * X(NAME, name, direction, roles that may send it). Append new types at the
 * end (subscribe_streams, layers, ... later) so numbers stay stable.
 */
#define HC_SIG_MESSAGES(X)                                                                         \
    X(HELLO, hello, C2S, HC_SIG_R_ANY)                                                             \
    X(WELCOME, welcome, S2C, HC_SIG_R_RELAY)                                                       \
    X(PING, ping, C2S, HC_SIG_R_ANY)                                                               \
    X(PONG, pong, S2C, HC_SIG_R_RELAY)                                                             \
    X(ERROR, error, BOTH, HC_SIG_R_ANY)                                                            \
    X(CREATE, create, C2S, HC_SIG_R_HOST)                                                          \
    X(CREATED, created, S2C, HC_SIG_R_RELAY)                                                       \
    X(JOIN, join, C2S, HC_SIG_R_ANY)                                                               \
    X(JOINED, joined, S2C, HC_SIG_R_RELAY)                                                         \
    X(LEAVE, leave, C2S, HC_SIG_R_ANY)                                                             \
    X(LEFT, left, S2C, HC_SIG_R_RELAY)                                                             \
    X(PARTICIPANT_JOINED, participant_joined, S2C, HC_SIG_R_RELAY)                                 \
    X(PARTICIPANT_LEFT, participant_left, S2C, HC_SIG_R_RELAY)                                     \
    X(RAISE_HAND, raise_hand, C2S, HC_SIG_R(SITE) | HC_SIG_R(VIEWER))                              \
    X(LOWER_HAND, lower_hand, C2S, HC_SIG_R(SITE) | HC_SIG_R(VIEWER))                              \
    X(OK, ok, S2C, HC_SIG_R_RELAY)                                                                 \
    X(HAND, hand, S2C, HC_SIG_R_RELAY)                                                             \
    X(GRANT_FLOOR, grant_floor, C2S, HC_SIG_R_HOST)                                                \
    X(REVOKE_FLOOR, revoke_floor, C2S, HC_SIG_R_HOST | HC_SIG_R(SITE))                             \
    X(FLOOR, floor, S2C, HC_SIG_R_RELAY)                                                           \
    X(CONTROL, control, BOTH, HC_SIG_R(CLINICIAN) | HC_SIG_R(SITE))                                \
    X(CONTROL_ACK, control_ack, BOTH, HC_SIG_R(CLINICIAN) | HC_SIG_R(SITE))                        \
    X(CONTROL_RTT, control_rtt, S2C, HC_SIG_R_RELAY)                                               \
    X(ALARM, alarm, S2C, HC_SIG_R_RELAY)                                                           \
    X(SESSION_CLOSED, session_closed, S2C, HC_SIG_R_RELAY)                                         \
    X(KICKED, kicked, S2C, HC_SIG_R_RELAY)                                                         \
    X(BUDGET, budget, S2C, HC_SIG_R_RELAY)                                                         \
    X(LIST_SESSIONS, list_sessions, C2S, HC_SIG_R(ADMIN))                                          \
    X(SESSIONS, sessions, S2C, HC_SIG_R_RELAY)                                                     \
    X(LIST_PARTICIPANTS, list_participants, C2S, HC_SIG_R(ADMIN))                                  \
    X(PARTICIPANTS, participants, S2C, HC_SIG_R_RELAY)                                             \
    X(KICK, kick, C2S, HC_SIG_R(ADMIN))                                                            \
    X(CLOSE_SESSION, close_session, C2S, HC_SIG_R(ADMIN))                                          \
    X(MINT_TOKEN, mint_token, C2S, HC_SIG_R(ADMIN))                                                \
    X(TOKEN, token, S2C, HC_SIG_R_RELAY)                                                           \
    X(SET_BUDGET, set_budget, C2S, HC_SIG_R(ADMIN))                                                \
    X(STATS, stats, C2S, HC_SIG_R(ADMIN))                                                          \
    X(STATS_REPLY, stats_reply, S2C, HC_SIG_R_RELAY)                                               \
    X(TRACKS, tracks, S2C, HC_SIG_R_RELAY)

/* ---- Generated types (implementation detail: HC_SIG__ names) ---- */

#define HC_SIG__EVAL(P, N, s) HC_SIG_##P##_##N,
// clang-format off
#define HC_SIG__ETYPE(tag, P)                                                                      \
    typedef enum hc_sig_##tag {                                                                    \
        HC_SIG_##P##_NONE = 0,                                                                     \
        HC_SIG_ENUM_##tag(HC_SIG__EVAL, P)                                                         \
        HC_SIG_##P##_COUNT                                                                         \
    } hc_sig_##tag##_t;
// clang-format on
HC_SIG_ENUMS(HC_SIG__ETYPE)

#define HC_SIG__H_REQ(n)
#define HC_SIG__H_OPT(n)               bool has_##n;
#define HC_SIG__D_ID(n, p, max, a)     char n[(max) + 1];
#define HC_SIG__D_TEXT(n, p, max, a)   char n[(max) + 1];
#define HC_SIG__D_HOST(n, p, max, a)   char n[(max) + 1];
#define HC_SIG__D_NULLID(n, p, max, a) char n[(max) + 1];
#define HC_SIG__D_B64(n, p, max, a)    char n[(((max) + 2) / 3) * 4 + 1];
#define HC_SIG__D_U32(n, p, max, a)                                                                \
    uint32_t n;                                                                                    \
    HC_SIG__H_##p(n)
#define HC_SIG__D_U32Z(n, p, max, a)                                                               \
    uint32_t n;                                                                                    \
    HC_SIG__H_##p(n)
#define HC_SIG__D_I64(n, p, max, a)                                                                \
    int64_t n;                                                                                     \
    HC_SIG__H_##p(n)
#define HC_SIG__D_F64(n, p, max, a)                                                                \
    double n;                                                                                      \
    HC_SIG__H_##p(n)
#define HC_SIG__D_BOOL(n, p, max, a)                                                               \
    bool n;                                                                                        \
    HC_SIG__H_##p(n)
#define HC_SIG__D_ENUM(n, p, max, a)                                                               \
    hc_sig_##a##_t n;                                                                              \
    HC_SIG__H_##p(n)
#define HC_SIG__D_ERRCODE(n, p, max, a) int n; /* positive hc_err_t */
#define HC_SIG__D_OBJ(n, p, max, a)     json_t *n;
#define HC_SIG__D_ARR(n, p, max, a)                                                                \
    hc_sig_##a##_t n[max];                                                                         \
    size_t n_##n;
#define HC_SIG__D_STRUCT(n, p, max, a)                hc_sig_##a##_t n;
#define HC_SIG__DECL(T, n, kind, p, min, max, a, def) HC_SIG__D_##kind(n, p, max, a)
#define HC_SIG__STRUCT(tag)                                                                        \
    typedef struct hc_sig_##tag {                                                                  \
        HC_SIG_F_##tag(HC_SIG__DECL, _)                                                            \
    } hc_sig_##tag##_t;
#define HC_SIG__MSTRUCT(NAME, tag, dir, roles) HC_SIG__STRUCT(tag)

HC_SIG_ITEMS(HC_SIG__STRUCT)
HC_SIG_MESSAGES(HC_SIG__MSTRUCT)

#define HC_SIG__TVAL(NAME, tag, dir, roles) HC_SIG_##NAME,
typedef enum hc_sig_type {
    HC_SIG_NONE = 0,
    HC_SIG_MESSAGES(HC_SIG__TVAL) HC_SIG_TYPE_COUNT
} hc_sig_type_t;

/* Who sends a message type. The relay rejects HC_SIG_S2C types from clients. */
typedef enum hc_sig_dir { HC_SIG_C2S = 1, HC_SIG_S2C = 2, HC_SIG_BOTH = 3 } hc_sig_dir_t;

#define HC_SIG__UMEMBER(NAME, tag, dir, roles) hc_sig_##tag##_t tag;
/* A parsed or to-be-written message: `type` selects the union member of the
 * same name, e.g. m.type == HC_SIG_JOIN -> m.join.publish[0].mid. */
typedef struct hc_sig_msg {
    hc_sig_type_t type;
    union {
        HC_SIG_MESSAGES(HC_SIG__UMEMBER)
    };
} hc_sig_msg_t;

/* ---- API ---- */

/*
 * Parse one frame (len bytes, no NUL needed). Returns 0 and fills *out, or
 *   -HC_ERANGE  frame longer than HC_SIG_MAX_TEXT (checked before parsing),
 *   -HC_EJSON   not JSON (jansson's message, line and column in err),
 *   -HC_ESCHEMA valid JSON that breaks the schema; err names the field path,
 *               e.g. `join.publish[1].kind: expected one of "audio", "video",
 *               "data"`,
 *   -HC_EINVAL  NULL text or out.
 * err (may be NULL) receives a NUL-terminated reason, truncated to errcap.
 * On success call hc_sig_msg_fini(out) when done. On failure nothing needs
 * releasing; out->type is the message type when it was recognized and its
 * request id is kept when readable, so hc_sig_request_id(out) can be echoed
 * in the error reply.
 */
int hc_sig_parse(const char *text, size_t len, hc_sig_msg_t *out, char *err, size_t errcap);

/*
 * Validate m as hc_sig_parse() would (same err texts). Returns 0,
 * -HC_ESCHEMA, or -HC_EINVAL for a NULL m or unknown type.
 */
int hc_sig_validate(const hc_sig_msg_t *m, char *err, size_t errcap);

/*
 * Write m as compact JSON into buf: "type" first, then the fields in table
 * order; optional fields only when present. Returns bytes written (buf is
 * NUL-terminated, the NUL not counted), -HC_ESCHEMA when m does not validate,
 * -HC_ENOSPC when cap is too small (cap must exceed the length by one),
 * -HC_EINVAL for NULL arguments or unknown type.
 */
int hc_sig_write(const hc_sig_msg_t *m, char *buf, size_t cap);

/* Upper bound of what hc_sig_write() produces for a type (NUL excluded);
 * at most HC_SIG_MAX_TEXT for every type. 0 for an unknown type. */
size_t hc_sig_max_len(hc_sig_type_t t);

/* Zero *m, set its type and the defaults of optional fields (reported as
 * absent). Returns 0 or -HC_EINVAL. */
int hc_sig_msg_init(hc_sig_msg_t *m, hc_sig_type_t t);

/* Drop the message's JSON references (OBJ fields) and zero it. NULL is ok. */
void hc_sig_msg_fini(hc_sig_msg_t *m);

/* Init *m as an "error" reply: code is an hc_err_t (either sign, not OK),
 * id the request id to echo (0 = none), reason a text (NULL or empty uses
 * hc_strerror(code)); control characters become spaces and the text is cut
 * at a character boundary to HC_SIG_REASON_MAX bytes. Returns 0 or -HC_EINVAL. */
int hc_sig_error_init(hc_sig_msg_t *m, uint32_t id, int code, const char *reason);

/* The request id of m (its "id" field), or 0 when the type has none or it
 * is absent. */
uint32_t hc_sig_request_id(const hc_sig_msg_t *m);

/* "type" names: hc_sig_type_name() returns NULL for unknown types;
 * hc_sig_type_from_name() returns HC_SIG_NONE for unknown names. */
const char *hc_sig_type_name(hc_sig_type_t t);
hc_sig_type_t hc_sig_type_from_name(const char *name);
hc_sig_dir_t hc_sig_type_dir(hc_sig_type_t t);

/* Whether a client holding role may send type t (false for relay-only types,
 * unknown types and unknown roles). */
bool hc_sig_role_may_send(hc_sig_role_t role, hc_sig_type_t t);

/* Whether s (len bytes) is a schema identifier ([A-Za-z0-9._-]) or schema
 * text (well-formed UTF-8 without control characters); lengths unchecked. */
bool hc_sig_id_valid(const char *s, size_t len);
bool hc_sig_text_valid(const char *s, size_t len);

/* Per enumeration: hc_sig_<tag>_name(v) -> wire name or NULL;
 * hc_sig_<tag>_from_name(s) -> value or HC_SIG_<P>_NONE. */
#define HC_SIG__EFUNCS(tag, P)                                                                     \
    const char *hc_sig_##tag##_name(hc_sig_##tag##_t v);                                           \
    hc_sig_##tag##_t hc_sig_##tag##_from_name(const char *s);
HC_SIG_ENUMS(HC_SIG__EFUNCS)

/* ---- Schema introspection (for tools and documentation) ---- */

typedef enum hc_sig_ftype {
    HC_SIG_FT_ID,
    HC_SIG_FT_TEXT,
    HC_SIG_FT_HOST,
    HC_SIG_FT_B64,
    HC_SIG_FT_NULLID,
    HC_SIG_FT_U32,
    HC_SIG_FT_U32Z,
    HC_SIG_FT_I64,
    HC_SIG_FT_F64,
    HC_SIG_FT_BOOL,
    HC_SIG_FT_ENUM,
    HC_SIG_FT_ERRCODE,
    HC_SIG_FT_OBJ,
    HC_SIG_FT_ARR,
    HC_SIG_FT_STRUCT,
} hc_sig_ftype_t;

typedef struct hc_sig_schema hc_sig_schema_t;

typedef struct hc_sig_field {
    const char *name;
    hc_sig_ftype_t ftype;
    bool required;
    bool has_flag;               /* optional scalar with a has_<name> member */
    size_t off;                  /* offset of the value in its struct */
    size_t has_off;              /* offset of has_<name> when has_flag */
    size_t size;                 /* sizeof the member (char arrays: capacity) */
    int64_t min, max;            /* lengths, counts or integer range */
    double fmin, fmax;           /* F64 range */
    double def;                  /* default of an optional scalar */
    const char *const *names;    /* ENUM: wire names, [0] unused */
    size_t n_names;              /* ENUM: HC_SIG_<P>_COUNT */
    const hc_sig_schema_t *item; /* ARR, STRUCT */
    size_t count_off;            /* ARR: offset of n_<name> */
} hc_sig_field_t;

struct hc_sig_schema {
    const char *name; /* message type or item name */
    const hc_sig_field_t *fields;
    size_t n_fields;
    size_t size; /* sizeof the struct */
};

/* Schema of a message type, or NULL for an unknown type. Static; never free. */
const hc_sig_schema_t *hc_sig_schema(hc_sig_type_t t);

#endif
