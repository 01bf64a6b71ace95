/*
 * fuzz_red.c - libFuzzer harness for the RED payload (RFC 2198 section 3).
 *
 * Parse; write the blocks back, which must give the input bytes exactly; parse that again and
 * compare. Each block is also parsed as an Opus packet (what RED carries here), checking that
 * the frames stay inside the block.
 */
#include "proto/opus.h"
#include "proto/red.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 64

static void check_opus(const hc_red_block_t *b)
{
    hc_opus_packet_t p;
    int rc = hc_opus_packet_parse(b->data, b->len, &p);
    if (rc < 0) return;
    if ((size_t)rc != b->len || p.frame_count == 0 || p.frame_count > HC_OPUS_MAX_FRAMES) abort();
    if (p.samples > HC_OPUS_MAX_SAMPLES || p.samples != p.frame_count * p.toc.frame_samples)
        abort();
    for (unsigned i = 0; i < p.frame_count; i++) {
        if (p.frame[i] < b->data || p.frame[i] + p.frame_len[i] > b->data + b->len) abort();
        if (p.frame_len[i] > HC_OPUS_MAX_FRAME_BYTES) abort();
    }
    if (hc_opus_packet_samples(b->data, b->len) != (int)p.samples) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hc_red_block_t blk[MAX_BLOCKS], again[MAX_BLOCKS];
    size_t n = 0, m = 0;
    int rc = hc_red_parse(data, size, blk, MAX_BLOCKS, &n);
    if (rc < 0) return 0;
    if ((size_t)rc != size || n == 0 || !blk[n - 1].primary) abort();
    for (size_t i = 0; i < n; i++) check_opus(&blk[i]);

    uint8_t *out = malloc(size);
    if (!out) return 0;
    int w = hc_red_write(blk, n - 1, &blk[n - 1], out, size);
    if (w != (int)size || memcmp(out, data, size) != 0) abort();
    if (hc_red_write(blk, n - 1, &blk[n - 1], out, size - 1) >= 0) abort();

    rc = hc_red_parse(out, size, again, MAX_BLOCKS, &m);
    if (rc != (int)size || m != n) abort();
    for (size_t i = 0; i < n; i++) {
        if (again[i].pt != blk[i].pt || again[i].ts_offset != blk[i].ts_offset ||
            again[i].len != blk[i].len || again[i].primary != blk[i].primary ||
            again[i].data - out != blk[i].data - data)
            abort();
    }
    free(out);
    return 0;
}
