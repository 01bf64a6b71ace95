/*
 * stamp.c - the frame-number stamp of Hillcast's test source (playback.h:
 * hc_playback_stamp_write / hc_playback_stamp_read).
 *
 * Layout: 48 square-ish blocks in two rows of 24 at the top-left of the
 * luma plane. Block edges sit at k * width / 48 (k = 0..24 across, 0..2
 * down), so the side is width/48 and the stamp keeps its place relative to
 * the picture when a frame is scaled (the relay's ladder and our own
 * downscale read it at any size); below 192 pixels of width the side stays
 * at 4 pixels (edges at 4k). Blocks 0..31 carry the frame number, most
 * significant bit first, blocks 32..47 a CRC-16/CCITT-FALSE of its four
 * big-endian bytes, so a picture without a stamp (or one the encoder
 * smeared) reads as "no stamp" instead of a wrong number. A one is video
 * white (235), a zero video black (16); the reader averages the inner half
 * of each block, away from the ringing H.264 leaves at block edges.
 *
 * Pure functions: no allocation, thread-safe.
 */
#include "edge/playback.h"

#define STAMP_COLS      24
#define STAMP_ROWS      2
#define STAMP_BITS      (STAMP_COLS * STAMP_ROWS)
#define STAMP_BLACK     16
#define STAMP_WHITE     235
#define STAMP_THRESHOLD ((STAMP_BLACK + STAMP_WHITE) / 2)

/* Edge k of the block grid, in pixels, for a picture `width` wide. */
static int edge_at(int width, int k)
{
    return width >= 48 * 4 ? (int)((long)k * width / 48) : 4 * k;
}

static bool fits(int width, int height)
{
    return width > 0 && height > 0 && edge_at(width, STAMP_COLS) <= width &&
           edge_at(width, STAMP_ROWS) <= height;
}

static uint16_t crc16(uint32_t n)
{
    uint16_t crc = 0xffff;
    for (int i = 3; i >= 0; i--) {
        crc ^= (uint16_t)(((n >> (8 * i)) & 0xff) << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

static bool bit_of(uint32_t n, uint16_t crc, int i)
{
    return i < 32 ? (n >> (31 - i)) & 1 : (crc >> (47 - i)) & 1;
}

void hc_playback_stamp_write(uint8_t *y, int stride, int width, int height, uint32_t n)
{
    if (!y || stride < width || !fits(width, height)) return;
    uint16_t crc = crc16(n);
    for (int i = 0; i < STAMP_BITS; i++) {
        int c = i % STAMP_COLS, r = i / STAMP_COLS;
        int x0 = edge_at(width, c), x1 = edge_at(width, c + 1);
        int y0 = edge_at(width, r), y1 = edge_at(width, r + 1);
        uint8_t v = bit_of(n, crc, i) ? STAMP_WHITE : STAMP_BLACK;
        for (int yy = y0; yy < y1; yy++) {
            uint8_t *row = y + (size_t)yy * (size_t)stride;
            for (int xx = x0; xx < x1; xx++) row[xx] = v;
        }
    }
}

bool hc_playback_stamp_read(const uint8_t *y, int stride, int width, int height, uint32_t *n)
{
    if (!y || !n || stride < width || !fits(width, height)) return false;
    uint32_t v = 0;
    uint16_t crc = 0;
    for (int i = 0; i < STAMP_BITS; i++) {
        int c = i % STAMP_COLS, r = i / STAMP_COLS;
        int x0 = edge_at(width, c), x1 = edge_at(width, c + 1);
        int y0 = edge_at(width, r), y1 = edge_at(width, r + 1);
        /* the inner half of the block: at least one pixel */
        int mx = (x1 - x0) / 4, my = (y1 - y0) / 4;
        x0 += mx;
        x1 -= mx;
        y0 += my;
        y1 -= my;
        unsigned sum = 0, cnt = 0;
        for (int yy = y0; yy < y1; yy++) {
            const uint8_t *row = y + (size_t)yy * (size_t)stride;
            for (int xx = x0; xx < x1; xx++) sum += row[xx];
            cnt += (unsigned)(x1 - x0);
        }
        bool one = cnt && sum > STAMP_THRESHOLD * cnt;
        if (i < 32)
            v = v << 1 | (one ? 1u : 0u);
        else
            crc = (uint16_t)(crc << 1 | (one ? 1u : 0u));
    }
    if (crc != crc16(v)) return false;
    *n = v;
    return true;
}
