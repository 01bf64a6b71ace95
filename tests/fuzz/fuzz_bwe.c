/*
 * fuzz_bwe.c - libFuzzer harness for the bandwidth estimator (proto/bwe.h)
 * fed arbitrary feedback.
 *
 * The input is a script of operations, one opcode byte each (low 3 bits)
 * followed by its arguments:
 *   0 send 1..32 packets (size and gap bytes each; bit 7: probe)
 *   1 raw transport-wide FCI of the next byte's length, parsed with
 *     hc_twcc_parse() and fed as received now
 *   2 feedback built for the last 1..64 packets sent (received bits and
 *     arrival deltas from the input), written with hc_twcc_write(), parsed
 *     back - which must give the same packets - and fed
 *   3 time passes (bit 7: a long jump), then tick
 *   4 RTT, 5 RR loss, 6 probe request, 7 state
 * After every operation the target must lie within [min, max] and the
 * state must hold finite numbers; a probe must name a rate within them.
 *
 * First, the same bytes go through the Mahimahi trace parser of the
 * simulated link (linksim.h), the one text parser among these modules:
 * what parses is printed back and must parse to the same times.
 */
#include "proto/bwe.h"
#include "proto/err.h"
#include "proto/linksim.h"
#include "proto/twcc.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BPS 50000
#define MAX_BPS 4000000

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd_t;

static uint8_t byte(rd_t *r)
{
    return r->i < r->n ? r->p[r->i++] : 0;
}

static void check(const hc_bwe_t *b)
{
    uint32_t t = hc_bwe_target_bps(b);
    if (t < MIN_BPS || t > MAX_BPS) abort();
    hc_bwe_state_t st;
    hc_bwe_state(b, &st);
    if (st.target_bps != t) abort();
    if (!isfinite(st.trend_ms) || !isfinite(st.threshold_ms) || !isfinite(st.loss)) abort();
    if (st.loss < 0 || st.loss > 1) abort();
    if (st.threshold_ms < 6 || st.threshold_ms > 600) abort();
}

static void synth_feedback(hc_bwe_t *b, rd_t *r, uint16_t next_seq, uint64_t now, uint8_t *fbc)
{
    hc_twcc_pkt_t in[64], out[64];
    size_t n = 1 + byte(r) % 64;
    uint16_t base = (uint16_t)(next_seq - n);
    int64_t t = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = byte(r);
        in[i].seq = (uint16_t)(base + i);
        in[i].received = (v & 1) != 0;
        t += (int64_t)(v >> 1) * 250 * ((v & 0x80) ? 8 : 1);
        in[i].arrival_us = in[i].received ? t : 0;
        any |= in[i].received;
    }
    int32_t ref = (int32_t)(byte(r) | (byte(r) << 8) | ((byte(r) & 0x7f) << 16));
    if (byte(r) & 1) ref = -ref;
    hc_twcc_fb_t hdr = {.base_seq = base, .ref_time = ref, .fb_count = (*fbc)++};
    uint8_t buf[1024];
    size_t covered = 0;
    int w = hc_twcc_write(buf, sizeof buf, &hdr, in, n, &covered);
    if (w < 0) {
        /* Only a first delta out of range may fail here. */
        if (w != -HC_ERANGE || !any) abort();
        return;
    }
    hc_twcc_fb_t h2;
    size_t m = 0;
    int rc = hc_twcc_parse(buf, (size_t)w, &h2, out, 64, &m);
    if (rc != w || m != covered || h2.base_seq != base || h2.ref_time != ref) abort();
    for (size_t i = 0; i < m; i++) {
        if (out[i].seq != in[i].seq || out[i].received != in[i].received) abort();
        if (in[i].received && out[i].arrival_us != in[i].arrival_us) abort();
    }
    if (hc_bwe_on_feedback(b, &h2, out, m, now) < 0) abort();
}

static void trace_roundtrip(const uint8_t *data, size_t size)
{
    uint32_t ms[64], again[64];
    size_t n = 0, m = 0;
    if (hc_linksim_trace_parse((const char *)data, size, ms, 64, &n) != 0) return;
    if (n == 0 || n > 64 || ms[n - 1] == 0) abort();
    char text[64 * 11 + 1];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && ms[i] < ms[i - 1]) abort();
        len += (size_t)snprintf(text + len, sizeof text - len, "%u\n", ms[i]);
    }
    if (hc_linksim_trace_parse(text, len, again, 64, &m) != 0 || m != n) abort();
    if (memcmp(ms, again, n * sizeof ms[0]) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    trace_roundtrip(data, size);

    hc_bwe_cfg_t c = {.min_bps = MIN_BPS, .max_bps = MAX_BPS, .start_bps = 300000, .history = 256};
    hc_bwe_t *b = NULL;
    if (hc_bwe_new(&b, &c, 0) != 0) abort();
    rd_t r = {.p = data, .n = size};
    uint64_t now = 0;
    uint16_t seq = 0;
    uint8_t fbc = 0;
    while (r.i < r.n) {
        uint8_t op = byte(&r);
        switch (op & 7) {
        case 0: {
            int k = 1 + ((op >> 3) & 31);
            for (int j = 0; j < k; j++) {
                size_t sz = 40 + (size_t)byte(&r) * 5;
                now += (uint64_t)byte(&r) * 100;
                hc_bwe_on_sent(b, seq++, sz, now, (op & 0x80) != 0);
            }
            break;
        }
        case 1: {
            size_t len = byte(&r);
            if (len > r.n - r.i) len = r.n - r.i;
            hc_twcc_fb_t hdr;
            hc_twcc_pkt_t pk[512];
            size_t n = 0;
            if (hc_twcc_parse(r.p + r.i, len, &hdr, pk, 512, &n) >= 0) {
                if (n > 512) abort();
                if (hc_bwe_on_feedback(b, &hdr, pk, n, now) < 0) abort();
            }
            r.i += len;
            break;
        }
        case 2: synth_feedback(b, &r, seq, now, &fbc); break;
        case 3:
            now += (uint64_t)byte(&r) * ((op & 0x80) ? 100000 : 1000);
            hc_bwe_tick(b, now);
            break;
        case 4: hc_bwe_on_rtt(b, (uint32_t)byte(&r) * 2000); break;
        case 5: hc_bwe_on_rr_loss(b, byte(&r), byte(&r), now); break;
        case 6: {
            uint32_t rate = 0;
            if (hc_bwe_probe_wanted(b, now, &rate) && (rate == 0 || rate > MAX_BPS)) abort();
            break;
        }
        default: break;
        }
        check(b);
    }
    hc_bwe_destroy(&b);
    if (b) abort();
    return 0;
}
