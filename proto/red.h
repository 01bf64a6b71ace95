/*
 * red.h - RTP payload for redundant audio data, RED (RFC 2198 section 3).
 *
 * What it is for: on lossy uplinks the edge repeats the previous one or two Opus packets
 * inside each RTP packet, so a single loss costs no audio. A RED payload is a list of block
 * headers followed by the block data: each redundant block has a 4-byte header (F=1, block
 * PT, 14-bit timestamp offset, 10-bit length), the last (primary) block a 1-byte header
 * (F=0, block PT) and takes the rest of the payload.
 *
 * Ownership: hc_red_parse() fills blocks whose `data` borrows from the parsed buffer.
 * hc_red_write() copies the block data into the caller's buffer. Nothing allocates.
 * Threading: pure functions.
 */
#ifndef HC_PROTO_RED_H
#define HC_PROTO_RED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_RED_MAX_TS_OFFSET 0x3fffu /* 14 bits */
#define HC_RED_MAX_BLOCK_LEN 0x3ffu  /* 10 bits; the primary block has no length field */
#define HC_RED_MAX_PT        0x7fu

typedef struct hc_red_block {
    uint8_t pt;         /* block payload type, 0..127 */
    uint16_t ts_offset; /* how far this block's timestamp lies before the RTP header's;
                           0 for the primary block */
    const uint8_t *data;
    size_t len;
    bool primary;
} hc_red_block_t;

/* Write n redundant blocks (oldest first, as they will be parsed) and the primary block.
 * The primary's ts_offset and primary flag are ignored. Returns bytes written, -HC_ERANGE
 * when a PT exceeds 127, a redundant ts_offset exceeds 14 bits or a redundant length 10 bits,
 * -HC_ENOSPC when cap is too small, -HC_EINVAL for bad arguments (primary is required). */
int hc_red_write(const hc_red_block_t *redundant, size_t n, const hc_red_block_t *primary,
                 uint8_t *buf, size_t cap);

/* Split a RED payload into blocks in wire order; the last one has primary=true and
 * ts_offset=0. *n receives the number of blocks. Returns len on success, -HC_ETRUNC when
 * the headers or the data they announce run past len, -HC_ENOSPC when there are more than
 * max blocks, -HC_EINVAL for bad arguments. Block data borrows from buf. */
int hc_red_parse(const uint8_t *buf, size_t len, hc_red_block_t *out, size_t max, size_t *n);

#endif
