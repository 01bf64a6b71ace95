/*
 * libFuzzer harness for proto/jbuf.
 *
 * The input is a script run against one jitter buffer. Byte 0 picks the
 * configuration (bit 0 video, bit 1 NACK, bits 2-3 the slot count 16, 64,
 * 256 or 1024, bits 4-5 the maximum delay); then 8-byte records, op in the
 * low 3 bits of the first byte:
 *   0 insert: seq relative (int8 in b1) or absolute (bit 3 set: b1 b2),
 *     timestamp step int16 (b3 b4) * 30, marker/keyframe in b5, time
 *     advance b6 * 250 us
 *   1 pop everything due after advancing b1 b2 * 100 us, with the packet
 *     capacity b3 (0: all slots; -HC_ENOSPC must leave the frame in place)
 *   2 NACKs, at most b1 % 65, after advancing b2 * 1 ms
 *   3 RTT = b1 b2 b3 us
 *   4 jump to hc_jbuf_next_event_us() and pop what is due
 *   5 hc_jbuf_flush()
 *   6 set the clock to b1..b4 * 16 us (may go backwards)
 *   7 statistics
 * After every step hc_jbuf_check() must pass, and every stored packet must
 * come back exactly once, in sequence order within a frame; at the end a
 * flush and drain must give every held packet back.
 */
#include "proto/err.h"
#include "proto/jbuf.h"
#include "proto/seq.h"

#include <stdlib.h>
#include <string.h>

#define MAXREC 4096

static hc_jbuf_slot_t g_slots[1024];
static hc_jbuf_pkt_t g_out[1024];
static uint8_t g_owned[MAXREC + 1];
static size_t g_held;

static void take_back(const hc_jbuf_frame_t *f, size_t cap)
{
    if (f->npkts > cap) abort();
    if (f->status == HC_JBUF_FRAME_CONCEAL && f->npkts != 0) abort();
    if ((f->status == HC_JBUF_FRAME_OK || f->status == HC_JBUF_FRAME_DEPENDENT) && f->npkts == 0)
        abort();
    for (size_t k = 0; k < f->npkts; k++) {
        uintptr_t r = g_out[k].ref;
        if (r == 0 || r > MAXREC || !g_owned[r]) abort();
        g_owned[r] = 0;
        g_held--;
        if (k && hc_seq_diff(g_out[k - 1].seq, g_out[k].seq) <= 0) abort();
    }
}

static void drain(hc_jbuf_t *j, uint64_t now, size_t nslots, size_t cap)
{
    hc_jbuf_frame_t f;
    int r;
    for (size_t guard = 0; guard <= 2 * nslots + 2; guard++) {
        r = hc_jbuf_pop_frame(j, now, &f, g_out, cap);
        if (r == -HC_ENOSPC) {
            if (cap >= nslots) abort(); /* nslots always fits */
            cap = nslots;
            continue;
        }
        if (r < 0) abort();
        if (r == 0) return;
        take_back(&f, cap);
    }
    abort(); /* more frames than slots can hold */
}

static void check(const hc_jbuf_t *j)
{
    hc_jbuf_stats_t st;
    if (hc_jbuf_check(j) != 0) abort();
    hc_jbuf_stats(j, &st);
    if (st.packets_held != g_held) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const size_t slot_counts[] = {16, 64, 256, 1024};
    static const uint32_t max_delays[] = {300000, 400000, 60000, 2000000};
    hc_jbuf_cfg_t cfg;
    hc_jbuf_t j;
    uint16_t nacks[64];
    hc_jbuf_cfg_default(&cfg, data[0] & 1);
    cfg.nack = (data[0] >> 1) & 1;
    cfg.max_delay_us = max_delays[(data[0] >> 4) & 3];
    size_t ns = slot_counts[(data[0] >> 2) & 3];
    if (hc_jbuf_init(&j, &cfg, g_slots, ns) != 0) abort();
    memset(g_owned, 0, sizeof(g_owned));
    g_held = 0;
    uint64_t now = 1000000;
    uint16_t seq = 0;
    uint32_t ts = 0;
    uintptr_t next_ref = 1;
    data++;
    size--;
    for (size_t n = 0; n + 8 <= size && next_ref <= MAXREC; n += 8) {
        const uint8_t *b = data + n;
        switch (b[0] & 7) {
        case 0: {
            if (b[0] & 8)
                seq = (uint16_t)(b[1] << 8 | b[2]);
            else
                seq = (uint16_t)(seq + 1 + (int8_t)b[1]);
            ts += (uint32_t)((int32_t)(int16_t)(b[3] << 8 | b[4]) * 30);
            now += (uint64_t)b[6] * 250;
            hc_jbuf_pkt_t p = {seq, ts, b[5] & 1, (b[5] >> 1) & 1, next_ref};
            int r = hc_jbuf_insert(&j, &p, now);
            if (r < 0 || r > HC_JBUF_DISCARDED) abort();
            if (r == HC_JBUF_STORED) {
                g_owned[next_ref] = 1;
                g_held++;
            }
            next_ref++;
            break;
        }
        case 1:
            now += (uint64_t)(b[1] << 8 | b[2]) * 100;
            drain(&j, now, ns, b[3] ? b[3] : ns);
            break;
        case 2: {
            now += (uint64_t)b[2] * 1000;
            size_t max = b[1] % 65;
            int r = hc_jbuf_nacks(&j, now, nacks, max);
            if (r < 0 || (size_t)r > max) abort();
            break;
        }
        case 3: hc_jbuf_on_rtt(&j, (uint32_t)(b[1] << 16 | b[2] << 8 | b[3])); break;
        case 4: {
            uint64_t ev = hc_jbuf_next_event_us(&j);
            if (ev != UINT64_MAX && ev > now && ev - now < 100000000) now = ev;
            drain(&j, now, ns, ns);
            break;
        }
        case 5: hc_jbuf_flush(&j); break;
        case 6:
            now = ((uint64_t)b[1] << 24 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 8 | b[4]) * 16;
            break;
        default: {
            hc_jbuf_stats_t st;
            hc_jbuf_stats(&j, &st);
            if (st.delay_us < cfg.min_delay_us || st.delay_us > cfg.max_delay_us) abort();
            break;
        }
        }
        check(&j);
    }
    /* Everything comes back. */
    hc_jbuf_flush(&j);
    drain(&j, now, ns, ns);
    check(&j);
    if (g_held != 0) abort();
    return 0;
}
