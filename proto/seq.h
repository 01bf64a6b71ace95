/*
 * seq.h - RTP sequence number and timestamp arithmetic.
 *
 * RTP sequence numbers are 16 bits and timestamps 32 bits; both wrap
 * (RFC 3550 §5.1) and packets arrive reordered. Everything that compares
 * them (jitter buffers, NACK lists, receiver statistics, history lookups)
 * goes through these helpers so wrap-around is handled in one place.
 * The comparison follows serial number arithmetic as used by RFC 3550
 * Appendix A.1: a value is "newer" when it is less than half the space ahead.
 *
 * The unwrappers extend 16/32-bit values to 64 bits: the first value maps to
 * itself, later values map to the 64-bit number nearest to the highest value
 * seen so far, so a late packet from before a wrap maps below it (it may be
 * negative when the stream started near zero).
 *
 * Ownership: no pointers are kept. Threading: pure functions; an unwrapper is
 * state of one stream and must not be shared between threads without a lock.
 */
#ifndef HC_PROTO_SEQ_H
#define HC_PROTO_SEQ_H

#include <stdbool.h>
#include <stdint.h>

/* Signed distance from a to b, i.e. b - a modulo 2^16 mapped into
 * [-32768, 32767]. Positive when b is newer than a. A distance of exactly
 * half the space is reported as -32768 (ambiguous either way). */
int16_t hc_seq_diff(uint16_t a, uint16_t b);

/* True when a is older than b (hc_seq_diff(a, b) > 0). For two values exactly
 * 32768 apart neither is older than the other. */
bool hc_seq_lt(uint16_t a, uint16_t b);

/* Signed distance from a to b for 32-bit RTP timestamps, in
 * [-2^31, 2^31 - 1]; positive when b is later than a. */
int32_t hc_ts_diff(uint32_t a, uint32_t b);

/* True when timestamp a is earlier than b (hc_ts_diff(a, b) > 0). */
bool hc_ts_lt(uint32_t a, uint32_t b);

/* Unwrapper for 16-bit sequence numbers. Zero-initialised state is valid;
 * hc_seq_unwrap_init() does the same explicitly. */
typedef struct hc_seq_unwrap {
    int64_t highest; /* highest unwrapped value returned so far */
    bool started;
} hc_seq_unwrap_t;

void hc_seq_unwrap_init(hc_seq_unwrap_t *u);

/* Extended value of seq. Values more than 32767 behind the highest seen are
 * taken as having wrapped forwards (there is no way to tell them apart). */
int64_t hc_seq_unwrap(hc_seq_unwrap_t *u, uint16_t seq);

/* Unwrapper for 32-bit RTP timestamps; same rules with a 2^32 period. */
typedef struct hc_ts_unwrap {
    int64_t highest;
    bool started;
} hc_ts_unwrap_t;

void hc_ts_unwrap_init(hc_ts_unwrap_t *u);
int64_t hc_ts_unwrap(hc_ts_unwrap_t *u, uint32_t ts);

#endif
