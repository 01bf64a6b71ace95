#include "proto/bytes.h"
#include "proto/err.h"
#include "relay/core/steer.h"
#include "relay/core/udp.h"
#include "tests/common/testutil.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

START_TEST(make_ssrc_lands_on_worker)
{
    static const uint32_t randoms[] = {
        0, 1, 2, 7, 0x7fffffffu, 0x80000000u, 0xfffffff0u, 0xfffffffeu, 0xffffffffu};
    uint64_t seed = 3;
    for (unsigned n = 1; n <= 17; n++) {
        for (unsigned w = 0; w < n; w++) {
            for (size_t k = 0; k < sizeof(randoms) / sizeof(randoms[0]) + 200; k++) {
                uint32_t r = k < sizeof(randoms) / sizeof(randoms[0])
                                 ? randoms[k]
                                 : (uint32_t)hc_test_rand(&seed);
                uint32_t ssrc = hc_steer_make_ssrc(r, w, n);
                ck_assert_uint_ne(ssrc, 0);
                ck_assert_uint_eq(hc_steer_worker(ssrc, n), w);
                ck_assert_uint_eq(ssrc % n, w);
                /* Close to the random input: keeps its entropy. */
                uint32_t dist = ssrc > r ? ssrc - r : r - ssrc;
                ck_assert_uint_le(dist, 2 * n);
            }
        }
    }
    /* Odd worker counts are fine too. */
    ck_assert_uint_eq(hc_steer_make_ssrc(0xffffffffu, 999, 1000) % 1000, 999);
    ck_assert_uint_eq(hc_steer_worker(12345, 0), 0);
}
END_TEST

static size_t rtp_packet(uint8_t *b, uint32_t ssrc, size_t len)
{
    memset(b, 0, len);
    b[0] = 0x80;
    b[1] = 96; /* PT 96, M=0 */
    hc_wr16(b + 2, 1);
    hc_wr32(b + 4, 0xdeadbeef); /* timestamp: must not be used */
    hc_wr32(b + 8, ssrc);
    return len;
}

static size_t rtcp_packet(uint8_t *b, uint8_t pt, uint32_t sender, size_t len)
{
    memset(b, 0, len);
    b[0] = 0x81;
    b[1] = pt;
    hc_wr16(b + 2, (uint16_t)(len / 4 - 1));
    hc_wr32(b + 4, sender);
    hc_wr32(b + 8, 0x01020304); /* media SSRC of feedback: must not be used */
    return len;
}

START_TEST(classify_rules)
{
    uint8_t b[64];
    for (unsigned n = 1; n <= 8; n++) {
        ck_assert_uint_eq(hc_steer_classify(b, rtp_packet(b, 1000, 12), n), 1000 % n);
        /* RTP with the marker bit set: PT 96 | 0x80 = 224, above the RTCP range. */
        rtp_packet(b, 1001, 20);
        b[1] = 0x80 | 96;
        ck_assert_uint_eq(hc_steer_classify(b, 20, n), 1001 % n);
        /* Every RTCP type 192..223 uses the sender SSRC at offset 4. */
        for (unsigned pt = 192; pt <= 223; pt++)
            ck_assert_uint_eq(hc_steer_classify(b, rtcp_packet(b, (uint8_t)pt, 77777, 28), n),
                              77777 % n);
        /* Just outside the range: RTP rules. */
        rtcp_packet(b, 191, 77777, 28);
        ck_assert_uint_eq(hc_steer_classify(b, 28, n), 0x01020304u % n);
        rtcp_packet(b, 224, 77777, 28);
        ck_assert_uint_eq(hc_steer_classify(b, 28, n), 0x01020304u % n);
        /* Short datagrams: worker 0. */
        for (size_t len = 0; len < 12; len++) {
            rtcp_packet(b, 200, 1, 12);
            ck_assert_uint_eq(hc_steer_classify(b, len, n), 0);
        }
    }
    ck_assert_uint_eq(hc_steer_classify(NULL, 100, 4), 0);
    ck_assert_uint_eq(hc_steer_classify(b, 64, 0), 0);
}
END_TEST

START_TEST(attach_rejects_bad_args)
{
    ck_assert_int_eq(hc_steer_attach(-1, 4), -HC_EINVAL);
    ck_assert_int_eq(hc_steer_attach(0, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_steer_attach(0, HC_STEER_MAX + 1), -HC_EINVAL);
    int fds[2];
    hc_addr_t a;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &a), 0);
    ck_assert_int_eq(hc_steer_open(&a, 0, fds), -HC_EINVAL);
    ck_assert_int_eq(hc_steer_open(NULL, 2, fds), -HC_EINVAL);
}
END_TEST

/* ---- the kernel program on 4 reuseport sockets ---- */

enum { W = 4 };

typedef struct group {
    int fd[W];
    hc_addr_t port;
    int tx;
} group_t;

static void group_open(group_t *g, const char *bind_text)
{
    hc_addr_t a;
    ck_assert_int_eq(hc_addr_parse(bind_text, &a), 0);
    int rc = hc_steer_open(&a, W, g->fd);
    ck_assert_msg(rc == 0, "hc_steer_open: %s (%s)", hc_strerror(rc), strerror(errno));
    ck_assert_int_eq(hc_udp_local(g->fd[0], &g->port), 0);
    for (int i = 1; i < W; i++) {
        hc_addr_t b;
        ck_assert_int_eq(hc_udp_local(g->fd[i], &b), 0);
        ck_assert(hc_addr_eq(&b, &g->port)); /* one port for all */
    }
    hc_addr_t any;
    ck_assert_int_eq(
        hc_addr_parse(hc_addr_family(&a) == AF_INET6 ? "[::1]:0" : "127.0.0.1:0", &any), 0);
    ck_assert_int_eq(hc_udp_open(&any, 0, &g->tx), 0);
}

static void group_close(group_t *g)
{
    for (int i = 0; i < W; i++) close(g->fd[i]);
    close(g->tx);
}

/* Send one datagram and return the index of the socket it arrived on,
 * checking that no other socket got anything. */
static int deliver(group_t *g, const uint8_t *b, size_t len)
{
    ck_assert_int_eq(sendto(g->tx, b, len, 0, hc_addr_sa(&g->port), g->port.len), (ssize_t)len);
    struct pollfd p[W];
    for (int i = 0; i < W; i++) p[i] = (struct pollfd){.fd = g->fd[i], .events = POLLIN};
    ck_assert_int_eq(poll(p, W, 5000), 1);
    int where = -1;
    for (int i = 0; i < W; i++) {
        if (!(p[i].revents & POLLIN)) continue;
        uint8_t r[128];
        ck_assert_int_eq(recv(g->fd[i], r, sizeof(r), 0), (ssize_t)len);
        ck_assert(len == 0 || memcmp(r, b, len) == 0);
        where = i;
    }
    return where;
}

static void steer_checks(const char *bind_text)
{
    group_t g;
    group_open(&g, bind_text);
    uint8_t b[64];
    uint64_t seed = 11;
    for (int round = 0; round < 8; round++) {
        for (unsigned w = 0; w < W; w++) {
            uint32_t ssrc = hc_steer_make_ssrc((uint32_t)hc_test_rand(&seed), w, W);
            size_t len = rtp_packet(b, ssrc, 12 + (size_t)round * 4);
            ck_assert_int_eq(deliver(&g, b, len), (int)w);
            uint8_t pt = (uint8_t)(192 + (round * 5 + w) % 32); /* SR, RR, RTPFB, PSFB, ... */
            len = rtcp_packet(b, pt, ssrc, 12 + (size_t)round * 4);
            ck_assert_int_eq(deliver(&g, b, len), (int)w);
        }
    }
    /* Short datagrams (even empty ones) go to socket 0, whatever they hold. */
    for (size_t len = 0; len < 12; len++) {
        memset(b, 0xff, sizeof(b));
        b[1] = 200;
        ck_assert_int_eq(deliver(&g, b, len), 0);
    }
    /* Random bytes: the kernel agrees with hc_steer_classify(). */
    for (int i = 0; i < 200; i++) {
        size_t len = (size_t)(hc_test_rand(&seed) % 48);
        for (size_t k = 0; k < len; k++) b[k] = (uint8_t)hc_test_rand(&seed);
        if (i % 3 == 0 && len > 1) b[1] = (uint8_t)(192 + i % 32);
        ck_assert_int_eq(deliver(&g, b, len), (int)hc_steer_classify(b, len, W));
    }
    group_close(&g);
}

START_TEST(kernel_steers_ipv4)
{
    steer_checks("127.0.0.1:0");
}
END_TEST

START_TEST(kernel_steers_ipv6)
{
    hc_addr_t a;
    int fd;
    ck_assert_int_eq(hc_addr_parse("[::1]:0", &a), 0);
    if (hc_udp_open(&a, 0, &fd) < 0) {
        fprintf(stderr, "kernel_steers_ipv6: skipped, no IPv6 loopback (%s)\n", strerror(errno));
        return;
    }
    close(fd);
    steer_checks("[::1]:0");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_steer");
    TCase *tc = tcase_create("steer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, make_ssrc_lands_on_worker);
    tcase_add_test(tc, classify_rules);
    tcase_add_test(tc, attach_rejects_bad_args);
    tcase_add_test(tc, kernel_steers_ipv4);
    tcase_add_test(tc, kernel_steers_ipv6);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
