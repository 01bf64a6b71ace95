/*
 * ctlchan.h - bookkeeping of the consult control channel: ordered,
 * acknowledged messages between the parties of a consult, the round-trip
 * time of each, and the deadline alarm.
 *
 * A specialist steers a remote device (say a magnetically guided capsule
 * endoscope) by `control` messages that the relay forwards over the
 * signaling connections; the device side answers each with `control_ack`
 * (proto/SIGNALING.md, "Consult: control channel with deadline"). Loss of
 * control must be noticed at once, so the relay measures per message the
 * time from forwarding to the ack, and raises an alarm when an ack is
 * overdue by the session's deadline (default 300 ms).
 *
 * Rules kept here:
 *   - seq counts per sender in RFC 1982 serial arithmetic (32 bits): a
 *     message must come after the sender's previous one (gaps allowed, for
 *     a message the relay refused); a replayed or older seq is refused.
 *   - at most max_pending unacknowledged deliveries per sender (a message
 *     to k receivers is k deliveries); beyond that the sender gets EFULL,
 *     so a silent receiver bounds the state instead of growing it.
 *   - a receiver is "lost" when its oldest unacknowledged delivery is
 *     older than the deadline: one LOST event, and no more until it is
 *     "restored", which happens once no delivery to it is overdue any
 *     more (its acks caught up, or the waiting senders left). No flapping:
 *     each transition is reported exactly once.
 * The session layer maps participants to party numbers 0..parties-1,
 * forwards the frames and turns the events into `alarm` frames.
 *
 * Time is a parameter (microseconds on any monotonic clock).
 * Ownership: hc_ctlchan_new() allocates all state up front (parties x
 * max_pending deliveries); nothing allocates afterwards.
 * Threading: none; one session's worker thread owns it.
 */
#ifndef HC_RELAY_CTLCHAN_H
#define HC_RELAY_CTLCHAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct hc_ctlchan hc_ctlchan_t;

typedef struct hc_ctlchan_cfg {
    uint32_t parties;     /* party numbers are 0..parties-1 (a consult: 8) */
    uint32_t max_pending; /* unacknowledged deliveries per sender (256) */
    uint64_t deadline_us; /* ack overdue after this (300 ms) */
} hc_ctlchan_cfg_t;

typedef enum hc_ctlchan_ev_kind {
    HC_CTLCHAN_NONE = 0,
    HC_CTLCHAN_LOST = 1,     /* party stopped acknowledging */
    HC_CTLCHAN_RESTORED = 2, /* nothing overdue any more */
} hc_ctlchan_ev_kind_t;

typedef struct hc_ctlchan_event {
    hc_ctlchan_ev_kind_t kind;
    uint32_t party;    /* the silent receiver */
    uint64_t since_us; /* LOST: when its oldest unacknowledged delivery went out */
} hc_ctlchan_event_t;

/* 0, -HC_EINVAL (zero parties, pending or deadline) or -HC_ENOMEM. */
int hc_ctlchan_new(hc_ctlchan_t **out, const hc_ctlchan_cfg_t *cfg);
void hc_ctlchan_destroy(hc_ctlchan_t **c);

/* Whether `from` may send seq to n_to receivers now: 0, -HC_EINVAL (seq not
 * after the sender's last, or a bad party), -HC_EFULL (backlog). */
int hc_ctlchan_check(const hc_ctlchan_t *c, uint32_t from, uint32_t seq, size_t n_to);

/* Record that `from`'s message seq was forwarded to each of to[0..n_to-1]
 * at now_us (same checks as hc_ctlchan_check; nothing is recorded when it
 * fails). */
int hc_ctlchan_send(hc_ctlchan_t *c, uint32_t from, uint32_t seq, const uint32_t *to, size_t n_to,
                    uint64_t now_us);

/* `acker` acknowledged `sender`'s seq at now_us. Returns 0 and the round
 * trip in *rtt_us, and in *ev a RESTORED event when this ack ended acker's
 * lost state (kind NONE otherwise); -HC_ENOTFOUND when no such delivery is
 * pending (a duplicate or a made-up ack); -HC_EINVAL for a bad party. */
int hc_ctlchan_ack(hc_ctlchan_t *c, uint32_t acker, uint32_t sender, uint32_t seq, uint64_t now_us,
                   uint64_t *rtt_us, hc_ctlchan_event_t *ev);

/* Deadline check at now_us: writes up to cap LOST/RESTORED events and
 * returns how many (events that did not fit are reported by the next poll). */
size_t hc_ctlchan_poll(hc_ctlchan_t *c, uint64_t now_us, hc_ctlchan_event_t *out, size_t cap);

/* When poll should run next: the earliest time a pending delivery becomes
 * overdue, or UINT64_MAX when nothing is pending. */
uint64_t hc_ctlchan_next_due(const hc_ctlchan_t *c);

/* Party p left (or its number is reused): drop its deliveries both ways,
 * its sequence state and its lost state (no event for p itself; other
 * receivers it was waiting on may become RESTORED at the next poll). */
void hc_ctlchan_reset_party(hc_ctlchan_t *c, uint32_t p);

/* Unacknowledged deliveries from `from` (for tests and the admin view). */
uint32_t hc_ctlchan_pending(const hc_ctlchan_t *c, uint32_t from);

#endif
