/* Throwaway libFuzzer harness: endpoint receive path with a FlexFEC track.
 * Records [op][len16][bytes]: op&3: 0 media, 1 RTX, 2 FEC (op&4: CSRC set to
 * the media SSRC), 3 RTCP; op>>5 advance time (and poll). First byte: mode
 * bits (reorder, hold). Memory safety and counter sanity only. */
#include "proto/bytes.h"
#include "proto/fec.h"
#include "proto/srtp.h"
#include "relay/core/endpoint.h"
#include "relay/core/pool.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)
enum { V = 0x5001, VRTX = 0x5002, VFEC = 0x5003 };
static const uint8_t KEY[28] = {3, 1, 4, 1, 5, 9, 2, 6};
static uint64_t delivered;
static void on_rtp(void *ud, hc_ep_track_t *t, const hc_ep_rx_t *rx)
{
    (void)ud;
    (void)t;
    CHECK(rx->len < 2048);
    if (rx->len) {
        volatile uint8_t x = rx->payload[0];
        x ^= rx->payload[rx->len - 1];
        (void)x;
    }
    if (rx->fec) CHECK(rx->recovered);
    delivered++;
}
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    hc_endpoint_cfg_t c;
    hc_endpoint_cfg_default(&c);
    memcpy(c.key_up, KEY, 28);
    memcpy(c.key_down, KEY, 28);
    c.rtcp_ssrc = 77;
    hc_addr_parse("127.0.0.1:9", &c.remote);
    hc_addr_parse("127.0.0.1:0", &c.bind);
    c.ev.rtp = on_rtp;
    c.fec_nack_hold_ms = (data[0] & 2) ? 50 : 0;
    c.pool_packets = 256;
    hc_endpoint_t *ep;
    int rc0 = hc_endpoint_new(&ep, &c);
    if (rc0) {
        fprintf(stderr, "new rc %d\n", rc0);
    }
    CHECK(rc0 == 0);
    hc_ep_track_cfg_t tc = {.ssrc = V,
                            .rtx_ssrc = VRTX,
                            .fec_ssrc = VFEC,
                            .clock_rate = 90000,
                            .window = 64,
                            .reorder_ms = (data[0] & 1) ? 100 : 0,
                            .nack = true,
                            .fec_window = (data[0] & 4) ? 16 : 0};
    hc_ep_track_t *t;
    CHECK(hc_endpoint_track_add(ep, &tc, &t) == 0);
    hc_srtp_t tx;
    CHECK(hc_srtp_init(&tx, HC_SRTP_AEAD_AES_128_GCM, KEY, 28, HC_SRTP_SEND) == 0);
    uint64_t now = 1000000;
    hc_endpoint_start(ep, now);
    delivered = 0;
    size_t off = 1;
    while (off + 3 <= size) {
        uint8_t op = data[off];
        size_t len = ((size_t)data[off + 1] << 8) | data[off + 2];
        off += 3;
        if (len > size - off) len = size - off;
        if (len > 1400) len = 1400;
        if (op >> 5) {
            now += (uint64_t)(op >> 5) * 7000u;
            hc_endpoint_poll(ep, now);
        }
        uint32_t buf[600];
        uint8_t *b = (uint8_t *)buf;
        size_t n = len < 16 ? 16 : len;
        memset(b, 0, n);
        memcpy(b, data + off, len);
        off += len;
        int kind = op & 3;
        b[0] = (uint8_t)(0x80 | (b[0] & 0x3f));
        if (kind == 3) {
            if (b[1] < 192 || b[1] > 223) b[1] = 201;
            hc_wr32(b + 4, 1234);
        } else {
            if (b[1] >= 192 && b[1] <= 223) b[1] &= 0x7f;
            hc_wr32(b + 8, kind == 0 ? V : kind == 1 ? VRTX : VFEC);
            if (kind == 2 && (op & 4)) {
                b[0] = (uint8_t)((b[0] & 0xf0) | 1);
                hc_wr32(b + 12, V);
            }
        }
        int pn = kind == 3 ? hc_srtp_protect_rtcp(&tx, b, n, sizeof buf)
                           : hc_srtp_protect(&tx, b, n, sizeof buf);
        if (pn < 0) pn = (int)n;
        hc_endpoint_input(ep, b, (size_t)pn, NULL, now);
        hc_ep_track_stats_t st;
        hc_ep_track_stats(t, &st);
        CHECK(st.fec_recovered <= st.recovered);
        CHECK(st.delivered == delivered);
    }
    hc_endpoint_poll(ep, now + 5000000);
    hc_srtp_fini(&tx);
    hc_endpoint_destroy(&ep);
    return 0;
}
