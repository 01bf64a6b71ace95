/*
 * floor.h - the class floor: who holds it and whose hands are raised.
 *
 * In a class session one participant at a time may "have the floor": a
 * teacher grants it to a site that raised its hand, and that site's audio
 * and video then go to everyone (proto/SIGNALING.md, "Class: a remote
 * classroom asks a question"). This module is only the state machine; the
 * session layer checks roles, switches the router's floor tracks and sends
 * the `hand` and `floor` events the results call for.
 *
 * Participants are numbered by the session layer (nonzero uint32_t; 0 means
 * nobody). Raised hands are kept in the order they were raised, in storage
 * the caller provides, so the state is bounded by the session's size.
 *
 * Ownership: the caller owns the hc_floor_t and the hands storage.
 * Threading: none; the session's worker thread owns it.
 */
#ifndef HC_RELAY_FLOOR_H
#define HC_RELAY_FLOOR_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_floor {
    uint32_t holder;  /* 0 = nobody */
    uint32_t *hands;  /* raised hands, oldest first */
    uint32_t n_hands; /* entries in use */
    uint32_t cap;     /* entries of storage */
} hc_floor_t;

/* What a change did, as bits of the value grant/revoke/remove return. */
#define HC_FLOOR_MOVED   0x1 /* the holder changed: send `floor` */
#define HC_FLOOR_LOWERED 0x2 /* the participant's hand went down: send `hand` */

/* Start empty, with room for cap raised hands in storage. */
void hc_floor_init(hc_floor_t *f, uint32_t *storage, uint32_t cap);

/* Raise p's hand: 1 when it went up, 0 when it was already up, -HC_EFULL
 * when the list is full, -HC_EINVAL for p == 0. */
int hc_floor_raise(hc_floor_t *f, uint32_t p);

/* Lower p's hand: 1 when it went down, 0 when it was not raised. */
int hc_floor_lower(hc_floor_t *f, uint32_t p);

bool hc_floor_hand(const hc_floor_t *f, uint32_t p);

static inline uint32_t hc_floor_holder(const hc_floor_t *f)
{
    return f->holder;
}

/* Give the floor to p (replacing any holder; *prev gets the old holder).
 * A granted hand is lowered: it has been answered. Returns the HC_FLOOR_*
 * bits (0 when p already held it), or -HC_EINVAL for p == 0. */
int hc_floor_grant(hc_floor_t *f, uint32_t p, uint32_t *prev);

/* Take the floor back. expect != 0 must be the holder (a guard against
 * revoking someone granted a moment ago). Returns HC_FLOOR_MOVED, or
 * -HC_ENOTFOUND when nobody holds it or expect is not the holder. */
int hc_floor_revoke(hc_floor_t *f, uint32_t expect, uint32_t *prev);

/* p left: frees the floor if p held it and drops p's hand. Returns the
 * HC_FLOOR_* bits of what changed. */
int hc_floor_remove(hc_floor_t *f, uint32_t p);

#endif
