/*
 * libFuzzer harness for proto/srtp.
 *
 * Arbitrary bytes are unprotected as SRTP and as SRTCP under a fixed key,
 * for both suites: that must never crash (and practically never succeed).
 * Then the input, when it is a well-formed RTP/RTCP packet, is protected
 * by a sender and unprotected by a receiver of the same key: the result
 * must be the input again (unless the sequence number was already used,
 * which both sides refuse alike).
 * Seeds in tests/corpus/srtp are packets protected with this key
 * (key[i] = i), so mutations start from valid authentication tags.
 */
#include "proto/err.h"
#include "proto/srtp.h"

#include <stdlib.h>
#include <string.h>

#define MAXPKT 2048

typedef struct pair {
    hc_srtp_t tx, rx, fuzz_rx;
} pair_t;

static pair_t g_pairs[2];
static int g_ready;
static unsigned g_runs;

/* (Re)create the contexts. libsrtp adds a stream per new SSRC and finds
 * streams by walking a list, so the contexts are renewed every few
 * thousand inputs to keep memory and speed flat. */
static void setup(void)
{
    if (g_ready)
        for (int i = 0; i < 2; i++) {
            hc_srtp_fini(&g_pairs[i].tx);
            hc_srtp_fini(&g_pairs[i].rx);
            hc_srtp_fini(&g_pairs[i].fuzz_rx);
        }
    static const hc_srtp_suite_t suites[2] = {HC_SRTP_AEAD_AES_128_GCM,
                                              HC_SRTP_AES_CM_128_HMAC_SHA1_80};
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    for (size_t i = 0; i < sizeof key; i++) key[i] = (uint8_t)i;
    for (int i = 0; i < 2; i++) {
        size_t kl = hc_srtp_key_len(suites[i]);
        if (hc_srtp_init(&g_pairs[i].tx, suites[i], key, kl, HC_SRTP_SEND) != 0 ||
            hc_srtp_init(&g_pairs[i].rx, suites[i], key, kl, HC_SRTP_RECV) != 0 ||
            hc_srtp_init(&g_pairs[i].fuzz_rx, suites[i], key, kl, HC_SRTP_RECV) != 0)
            abort();
    }
    g_ready = 1;
}

static void round_trip(pair_t *p, const uint8_t *data, size_t size, int rtcp)
{
    static _Alignas(16) uint8_t buf[MAXPKT + HC_SRTP_MAX_TRAILER];
    memcpy(buf, data, size);
    int n = rtcp ? hc_srtp_protect_rtcp(&p->tx, buf, size, sizeof buf)
                 : hc_srtp_protect(&p->tx, buf, size, sizeof buf);
    if (n < 0) return;
    if ((size_t)n <= size) abort();
    int u = rtcp ? hc_srtp_unprotect_rtcp(&p->rx, buf, (size_t)n)
                 : hc_srtp_unprotect(&p->rx, buf, (size_t)n);
    if (u == -HC_EREPLAY) return;
    if (u != (int)size || memcmp(buf, data, size) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_ready || ++g_runs % 4096 == 0) setup();
    if (size > MAXPKT) return 0;
    for (int i = 0; i < 2; i++) {
        /* Exactly sized heap copies, so ASan sees any over-read. */
        uint8_t *b = malloc(size ? size : 1);
        if (!b) abort();
        memcpy(b, data, size);
        int r = hc_srtp_unprotect(&g_pairs[i].fuzz_rx, b, size);
        if (r > (int)size) abort();
        memcpy(b, data, size);
        r = hc_srtp_unprotect_rtcp(&g_pairs[i].fuzz_rx, b, size);
        if (r > (int)size) abort();
        free(b);
        round_trip(&g_pairs[i], data, size, 0);
        round_trip(&g_pairs[i], data, size, 1);
    }
    return 0;
}
