#include "proto/err.h"
#include "relay/core/addr.h"
#include "relay/core/pool.h"
#include "relay/core/udp.h"
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- addr ---- */

START_TEST(addr_parse_format_v4)
{
    hc_addr_t a;
    char buf[HC_ADDR_STRLEN];
    ck_assert_int_eq(hc_addr_parse("192.0.2.7:5004", &a), 0);
    ck_assert_int_eq(hc_addr_family(&a), AF_INET);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(hc_addr_port(&a), 5004);
    ck_assert_uint_eq(ntohl(a.u.in4.sin_addr.s_addr), 0xc0000207u);
    ck_assert_int_eq(hc_addr_format(&a, buf, sizeof(buf)), 14);
    ck_assert_str_eq(buf, "192.0.2.7:5004");
    ck_assert_int_eq(hc_addr_parse("0.0.0.0:0", &a), 0);
    ck_assert_int_eq(hc_addr_parse("255.255.255.255:65535", &a), 0);
    ck_assert_uint_eq(hc_addr_port(&a), 65535);
    hc_addr_set_port(&a, 9);
    ck_assert_int_eq(hc_addr_format(&a, buf, sizeof(buf)), 17);
    ck_assert_str_eq(buf, "255.255.255.255:9");
}
END_TEST

START_TEST(addr_parse_format_v6)
{
    hc_addr_t a;
    char buf[HC_ADDR_STRLEN];
    ck_assert_int_eq(hc_addr_parse("[2001:db8::1]:443", &a), 0);
    ck_assert_int_eq(hc_addr_family(&a), AF_INET6);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
    ck_assert_uint_eq(hc_addr_port(&a), 443);
    ck_assert_uint_eq(a.u.in6.sin6_addr.s6_addr[0], 0x20);
    ck_assert_uint_eq(a.u.in6.sin6_addr.s6_addr[15], 0x01);
    ck_assert_int_eq(hc_addr_format(&a, buf, sizeof(buf)), (int)strlen("[2001:db8::1]:443"));
    ck_assert_str_eq(buf, "[2001:db8::1]:443");
    ck_assert_int_eq(hc_addr_parse("[::]:0", &a), 0);
    ck_assert_int_eq(hc_addr_format(&a, buf, sizeof(buf)), 6);
    ck_assert_str_eq(buf, "[::]:0");
    ck_assert_int_eq(hc_addr_parse("[fe80::1%7]:5000", &a), 0);
    ck_assert_uint_eq(a.u.in6.sin6_scope_id, 7);
    ck_assert_int_ge(hc_addr_format(&a, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "[fe80::1%7]:5000");
    ck_assert_int_eq(hc_addr_parse("[::ffff:192.0.2.1]:1", &a), 0);
    ck_assert_int_ge(hc_addr_format(&a, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "[::ffff:192.0.2.1]:1");
}
END_TEST

START_TEST(addr_parse_rejects)
{
    static const char *bad[] = {
        "",
        "1.2.3.4",
        "1.2.3.4:",
        ":5000",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "1.2.3.4:5x",
        "1.2.3:5",
        "1.2.3.4.5:5",
        "host.example:80",
        "::1:5000",
        "[::1]",
        "[::1]5000",
        "[::1]:",
        "[]:5",
        "[1.2.3.4]:5",
        "[::1%]:5",
        "[::g]:5",
        "1.2.3.4:123456",
        " 1.2.3.4:5",
        "[fe80::1%nosuchif0]:5",
    };
    hc_addr_t a;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hc_addr_parse(bad[i], &a) == -HC_EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(hc_addr_parse(NULL, &a), -HC_EINVAL);
    ck_assert_int_eq(hc_addr_parse("1.2.3.4:5", NULL), -HC_EINVAL);
}
END_TEST

START_TEST(addr_format_nospc)
{
    hc_addr_t a, unset;
    char buf[64];
    memset(&unset, 0, sizeof(unset));
    ck_assert_int_eq(hc_addr_parse("10.0.0.1:80", &a), 0);
    /* "10.0.0.1:80" is 11 chars: needs 12 with the NUL. */
    ck_assert_int_eq(hc_addr_format(&a, buf, 11), -HC_ENOSPC);
    ck_assert_int_eq(hc_addr_format(&a, buf, 12), 11);
    ck_assert_int_eq(hc_addr_format(&a, buf, 0), -HC_ENOSPC);
    ck_assert_int_eq(hc_addr_format(&unset, buf, sizeof(buf)), -HC_EINVAL);
    ck_assert_int_eq(hc_addr_family(&unset), AF_UNSPEC);
    ck_assert_uint_eq(hc_addr_port(&unset), 0);
}
END_TEST

START_TEST(addr_eq_hash)
{
    hc_addr_t a, b, c, d, e;
    ck_assert_int_eq(hc_addr_parse("192.0.2.1:5000", &a), 0);
    ck_assert_int_eq(hc_addr_parse("192.0.2.1:5000", &b), 0);
    ck_assert_int_eq(hc_addr_parse("192.0.2.1:5001", &c), 0);
    ck_assert_int_eq(hc_addr_parse("[::ffff:192.0.2.1]:5000", &d), 0);
    ck_assert_int_eq(hc_addr_parse("192.0.2.2:5000", &e), 0);
    /* Padding differences must not matter. */
    memset(a.u.in4.sin_zero, 0x55, sizeof(a.u.in4.sin_zero));
    ck_assert(hc_addr_eq(&a, &b));
    ck_assert_uint_eq(hc_addr_hash(&a, 1), hc_addr_hash(&b, 1));
    ck_assert(!hc_addr_eq(&a, &c));
    ck_assert(!hc_addr_eq(&a, &d)); /* different family */
    ck_assert(!hc_addr_eq(&a, &e));
    ck_assert_uint_ne(hc_addr_hash(&a, 1), hc_addr_hash(&c, 1));
    ck_assert_uint_ne(hc_addr_hash(&a, 1), hc_addr_hash(&e, 1));
    ck_assert_uint_ne(hc_addr_hash(&a, 1), hc_addr_hash(&a, 2)); /* seeded */

    /* Nearby ports spread over buckets. */
    int buckets[64] = {0};
    for (unsigned p = 0; p < 6400; p++) {
        hc_addr_set_port(&a, (uint16_t)(10000 + p));
        buckets[hc_addr_hash(&a, 0x1234) % 64]++;
    }
    for (int i = 0; i < 64; i++) ck_assert_int_gt(buckets[i], 40);

    struct sockaddr_in sin = a.u.in4;
    hc_addr_t f;
    ck_assert_int_eq(hc_addr_from_sockaddr(&f, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert(hc_addr_eq(&f, &a));
    ck_assert_int_eq(hc_addr_from_sockaddr(&f, (struct sockaddr *)&sin, 4), -HC_EINVAL);
}
END_TEST

/* ---- sockets ---- */

static int open_v4(hc_addr_t *bound)
{
    hc_addr_t a;
    int fd = -1;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &a), 0);
    ck_assert_int_eq(hc_udp_open(&a, 0, &fd), 0);
    ck_assert_int_eq(hc_udp_local(fd, bound), 0);
    ck_assert_uint_ne(hc_addr_port(bound), 0);
    return fd;
}

static void wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 5000), 1);
}

/* Receive until `want` packets are collected (or 5 s without progress). */
static int recv_n(int fd, hc_udp_rx_t *rx, hc_pool_t *pool, hc_pkt_t **out, int want, uint64_t now)
{
    int got = 0;
    while (got < want) {
        int n = hc_udp_recv_batch(fd, rx, pool, out + got, want - got, now);
        ck_assert_int_ge(n, 0);
        if (n == 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (poll(&p, 1, 5000) != 1) break;
        }
        got += n;
    }
    return got;
}

START_TEST(open_sets_nonblocking_and_buffers)
{
    hc_addr_t a;
    int fd = open_v4(&a);
    int rcv = 0;
    socklen_t len = sizeof(rcv);
    ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len), 0);
    ck_assert_int_ge(rcv, 256 * 1024); /* well above the usual 208 KiB default */
    char c;
    errno = 0;
    ck_assert_int_eq(recv(fd, &c, 1, 0), -1); /* nonblocking: no wait */
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    close(fd);
}
END_TEST

START_TEST(open_errors)
{
    hc_addr_t a, unset;
    int fd = open_v4(&a), fd2 = -1;
    memset(&unset, 0, sizeof(unset));
    ck_assert_int_eq(hc_udp_open(&unset, 0, &fd2), -HC_EINVAL);
    ck_assert_int_eq(hc_udp_open(&a, 0, NULL), -HC_EINVAL);
    errno = 0;
    ck_assert_int_eq(hc_udp_open(&a, 0, &fd2), -HC_EIO); /* port taken */
    ck_assert_int_eq(errno, EADDRINUSE);
    ck_assert_int_eq(fd2, -1);
    close(fd);
}
END_TEST

START_TEST(recv_batch_of_100_in_order)
{
    hc_addr_t ra, sa;
    int rfd = open_v4(&ra), sfd = open_v4(&sa);
    hc_pool_t pool;
    ck_assert_int_eq(hc_pool_init(&pool, 256), 0);
    hc_udp_rx_t *rx = malloc(sizeof(*rx));
    hc_udp_rx_init(rx);

    uint8_t buf[1500];
    for (int i = 0; i < 100; i++) {
        size_t len = 12 + (size_t)i * 13;
        memset(buf, i, len);
        buf[0] = (uint8_t)i;
        ck_assert_int_eq(sendto(sfd, buf, len, 0, hc_addr_sa(&ra), ra.len), (ssize_t)len);
    }
    hc_pkt_t *out[100];
    ck_assert_int_eq(recv_n(rfd, rx, &pool, out, 100, 4242), 100);
    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(out[i]->len, 12 + (uint32_t)i * 13);
        ck_assert_uint_eq(out[i]->data[0], (uint8_t)i);
        ck_assert_uint_eq(out[i]->data[out[i]->len - 1], (uint8_t)i);
        ck_assert(hc_addr_eq(&out[i]->peer, &sa));
        ck_assert_uint_eq(out[i]->rx_us, 4242);
    }
    ck_assert_uint_eq(rx->packets, 100);
    ck_assert_uint_eq(rx->truncated, 0);
    ck_assert_uint_ge(rx->syscalls, 2);                                 /* at most 64 per call */
    ck_assert_int_eq(hc_udp_recv_batch(rfd, rx, &pool, out, 64, 0), 0); /* drained */
    for (int i = 0; i < 100; i++) hc_pool_put(&pool, out[i]);
    hc_udp_rx_fini(rx, &pool);
    ck_assert_uint_eq(pool.in_use, 0);
    free(rx);
    hc_pool_fini(&pool);
    close(rfd);
    close(sfd);
}
END_TEST

START_TEST(tx_batch_of_200_to_two_destinations)
{
    hc_addr_t a, b, s;
    int afd = open_v4(&a), bfd = open_v4(&b), sfd = open_v4(&s);
    hc_udp_tx_t *tx = malloc(sizeof(*tx));
    hc_udp_tx_init(tx);
    static uint8_t data[200][64];
    int sent = 0;
    for (int i = 0; i < 200; i++) {
        memset(data[i], 0, sizeof(data[i]));
        data[i][0] = (uint8_t)i;
        const hc_addr_t *to = (i & 1) ? &b : &a;
        int rc = hc_udp_tx_add(tx, data[i], 20 + (uint32_t)(i % 40), to);
        if (rc == -HC_EFULL) {
            ck_assert_uint_eq(tx->n, HC_UDP_TX_BATCH);
            sent += hc_udp_tx_flush(sfd, tx);
            ck_assert_uint_eq(tx->n, 0);
            rc = hc_udp_tx_add(tx, data[i], 20 + (uint32_t)(i % 40), to);
        }
        ck_assert_int_eq(rc, 0);
    }
    sent += hc_udp_tx_flush(sfd, tx);
    ck_assert_int_eq(sent, 200);
    ck_assert_uint_eq(tx->sent, 200);
    ck_assert_uint_eq(tx->dropped, 0);
    ck_assert_uint_ge(tx->syscalls, 2);
    ck_assert_uint_le(tx->syscalls, 4);
    ck_assert_int_eq(hc_udp_tx_flush(sfd, tx), 0); /* empty flush */

    hc_pool_t pool;
    ck_assert_int_eq(hc_pool_init(&pool, 256), 0);
    hc_udp_rx_t *rx = malloc(sizeof(*rx));
    hc_pkt_t *out[100];
    for (int d = 0; d < 2; d++) {
        hc_udp_rx_init(rx);
        ck_assert_int_eq(recv_n(d ? bfd : afd, rx, &pool, out, 100, 1), 100);
        for (int k = 0; k < 100; k++) {
            int i = 2 * k + d;
            ck_assert_uint_eq(out[k]->data[0], (uint8_t)i);
            ck_assert_uint_eq(out[k]->len, 20 + (uint32_t)(i % 40));
            ck_assert(hc_addr_eq(&out[k]->peer, &s));
            hc_pool_put(&pool, out[k]);
        }
        hc_udp_rx_fini(rx, &pool);
    }
    ck_assert_uint_eq(pool.in_use, 0);
    free(rx);
    free(tx);
    hc_pool_fini(&pool);
    close(afd);
    close(bfd);
    close(sfd);
}
END_TEST

START_TEST(tx_bad_destination_skipped)
{
    hc_addr_t a, s, v6;
    int afd = open_v4(&a), sfd = open_v4(&s);
    ck_assert_int_eq(hc_addr_parse("[::1]:9", &v6), 0);
    hc_udp_tx_t *tx = malloc(sizeof(*tx));
    hc_udp_tx_init(tx);
    uint8_t x[3] = {'x', 'y', 'z'};
    ck_assert_int_eq(hc_udp_tx_add(tx, &x[0], 1, &a), 0);
    ck_assert_int_eq(hc_udp_tx_add(tx, &x[1], 1, &v6), 0); /* v6 from a v4 socket */
    ck_assert_int_eq(hc_udp_tx_add(tx, &x[2], 1, &a), 0);
    ck_assert_int_eq(hc_udp_tx_flush(sfd, tx), 2);
    ck_assert_uint_eq(tx->errors, 1);
    ck_assert_uint_eq(tx->dropped, 1);
    ck_assert_uint_eq(tx->full, 0);

    hc_addr_t unset;
    memset(&unset, 0, sizeof(unset));
    ck_assert_int_eq(hc_udp_tx_add(tx, x, 1, &unset), -HC_EINVAL);
    ck_assert_int_eq(hc_udp_tx_add(tx, NULL, 1, &a), -HC_EINVAL);

    char c[2];
    wait_readable(afd);
    ck_assert_int_eq(recv(afd, &c[0], 1, 0), 1);
    wait_readable(afd);
    ck_assert_int_eq(recv(afd, &c[1], 1, 0), 1);
    ck_assert_int_eq(c[0], 'x');
    ck_assert_int_eq(c[1], 'z');
    free(tx);
    close(afd);
    close(sfd);
}
END_TEST

START_TEST(tx_full_queue_drops_without_blocking)
{
    /* Loopback UDP never pushes back (the receiver drops silently), so a
     * datagram AF_UNIX peer that never reads stands in for a full socket:
     * its queue fills and sendmmsg fails with EAGAIN. The flush must drop
     * the rest of the batch, count it, and return without blocking. */
    int rfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(rfd, 0);
    ck_assert_int_ge(sfd, 0);
    struct sockaddr_un un;
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    int nlen = snprintf(un.sun_path + 1, 16, "hcq%d", (int)getpid()); /* abstract name */
    socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)nlen);
    ck_assert_int_eq(bind(rfd, (struct sockaddr *)&un, ulen), 0);
    hc_addr_t to;
    memset(&to, 0, sizeof(to));
    ck_assert_uint_le(ulen, sizeof(to.u));
    memcpy(&to.u, &un, ulen);
    to.len = ulen;

    hc_udp_tx_t *tx = malloc(sizeof(*tx));
    hc_udp_tx_init(tx);
    static uint8_t big[1400];
    uint64_t total = 0;
    for (int round = 0; round < 40; round++) {
        while (hc_udp_tx_add(tx, big, sizeof(big), &to) == 0) total++;
        hc_udp_tx_flush(sfd, tx);
        ck_assert_uint_eq(tx->n, 0);
    }
    ck_assert_uint_gt(tx->sent, 0);
    ck_assert_uint_gt(tx->full, 0);
    ck_assert_uint_eq(tx->errors, 0);
    ck_assert_uint_eq(tx->sent + tx->dropped, total);
    ck_assert_uint_eq(tx->dropped, tx->full);
    /* A full queue costs one failing call per flush, not one per datagram. */
    ck_assert_uint_le(tx->syscalls, 40 * 3);
    free(tx);
    close(rfd);
    close(sfd);
}
END_TEST

START_TEST(oversize_datagram_dropped_and_counted)
{
    hc_addr_t ra, sa;
    int rfd = open_v4(&ra), sfd = open_v4(&sa);
    hc_pool_t pool;
    ck_assert_int_eq(hc_pool_init(&pool, 16), 0);
    hc_udp_rx_t *rx = malloc(sizeof(*rx));
    hc_udp_rx_init(rx);
    static uint8_t big[HC_PKT_CAP + 952];
    memset(big, 0xee, sizeof(big));
    uint8_t small[100];
    memset(small, 0x11, sizeof(small));
    ck_assert_int_eq(sendto(sfd, small, 50, 0, hc_addr_sa(&ra), ra.len), 50);
    ck_assert_int_eq(sendto(sfd, big, sizeof(big), 0, hc_addr_sa(&ra), ra.len),
                     (ssize_t)sizeof(big));
    ck_assert_int_eq(sendto(sfd, big, HC_PKT_CAP + 1, 0, hc_addr_sa(&ra), ra.len), HC_PKT_CAP + 1);
    ck_assert_int_eq(sendto(sfd, big, HC_PKT_CAP, 0, hc_addr_sa(&ra), ra.len), HC_PKT_CAP);
    ck_assert_int_eq(sendto(sfd, small, 60, 0, hc_addr_sa(&ra), ra.len), 60);

    hc_pkt_t *out[8];
    int got = 0;
    for (int tries = 0; tries < 100 && rx->packets + rx->truncated < 5; tries++) {
        wait_readable(rfd);
        int n = hc_udp_recv_batch(rfd, rx, &pool, out + got, 8 - got, 0);
        ck_assert_int_ge(n, 0);
        got += n;
    }
    ck_assert_int_eq(got, 3);
    ck_assert_uint_eq(rx->truncated, 2);
    ck_assert_uint_eq(out[0]->len, 50);
    ck_assert_uint_eq(out[1]->len, HC_PKT_CAP); /* exactly full still fits */
    ck_assert_uint_eq(out[1]->data[HC_PKT_CAP - 1], 0xee);
    ck_assert_uint_eq(out[2]->len, 60);
    for (int i = 0; i < got; i++) hc_pool_put(&pool, out[i]);
    hc_udp_rx_fini(rx, &pool);
    ck_assert_uint_eq(pool.in_use, 0); /* the truncated ones' buffers came back */
    free(rx);
    hc_pool_fini(&pool);
    close(rfd);
    close(sfd);
}
END_TEST

START_TEST(pool_empty_drains_and_counts)
{
    hc_addr_t ra, sa;
    int rfd = open_v4(&ra), sfd = open_v4(&sa);
    hc_pool_t pool;
    ck_assert_int_eq(hc_pool_init(&pool, 4), 0);
    hc_udp_rx_t *rx = malloc(sizeof(*rx));
    hc_udp_rx_init(rx);
    uint8_t b[32] = {0};
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(sendto(sfd, b, sizeof(b), 0, hc_addr_sa(&ra), ra.len), 32);
    hc_pkt_t *out[64];
    wait_readable(rfd);
    int n = hc_udp_recv_batch(rfd, rx, &pool, out, 64, 0);
    ck_assert_int_eq(n, 4); /* the whole pool */
    ck_assert_uint_eq(hc_pool_avail(&pool), 0);
    /* Pool empty: the rest is read and dropped, so the fd goes quiet. */
    ck_assert_int_eq(hc_udp_recv_batch(rfd, rx, &pool, out + 4, 60, 0), 0);
    ck_assert_uint_eq(rx->nobuf, 6);
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 0), 0);
    ck_assert_uint_ge(pool.exhausted, 1);
    for (int i = 0; i < 4; i++) hc_pool_put(&pool, out[i]);
    /* With buffers back, receiving works again. */
    ck_assert_int_eq(sendto(sfd, b, 7, 0, hc_addr_sa(&ra), ra.len), 7);
    wait_readable(rfd);
    ck_assert_int_eq(hc_udp_recv_batch(rfd, rx, &pool, out, 64, 0), 1);
    ck_assert_uint_eq(out[0]->len, 7);
    hc_pool_put(&pool, out[0]);
    hc_udp_rx_fini(rx, &pool);
    ck_assert_uint_eq(pool.in_use, 0);
    ck_assert_int_eq(hc_udp_recv_batch(rfd, rx, &pool, out, 0, 0), 0);
    ck_assert_int_eq(hc_udp_recv_batch(rfd, rx, &pool, out, -1, 0), -HC_EINVAL);
    free(rx);
    hc_pool_fini(&pool);
    close(rfd);
    close(sfd);
}
END_TEST

START_TEST(ipv6_loopback)
{
    hc_addr_t any6, ra, sa;
    int rfd = -1, sfd = -1;
    ck_assert_int_eq(hc_addr_parse("[::1]:0", &any6), 0);
    if (hc_udp_open(&any6, HC_UDP_V6ONLY, &rfd) < 0) {
        fprintf(stderr, "ipv6_loopback: skipped, no IPv6 loopback (%s)\n", strerror(errno));
        return;
    }
    ck_assert_int_eq(hc_udp_open(&any6, HC_UDP_V6ONLY, &sfd), 0);
    ck_assert_int_eq(hc_udp_local(rfd, &ra), 0);
    ck_assert_int_eq(hc_udp_local(sfd, &sa), 0);
    ck_assert_int_eq(hc_addr_family(&ra), AF_INET6);

    hc_udp_tx_t *tx = malloc(sizeof(*tx));
    hc_udp_tx_init(tx);
    static uint8_t data[10][100];
    for (int i = 0; i < 10; i++) {
        memset(data[i], i, sizeof(data[i]));
        ck_assert_int_eq(hc_udp_tx_add(tx, data[i], 10 + (uint32_t)i, &ra), 0);
    }
    ck_assert_int_eq(hc_udp_tx_flush(sfd, tx), 10);

    hc_pool_t pool;
    ck_assert_int_eq(hc_pool_init(&pool, 16), 0);
    hc_udp_rx_t *rx = malloc(sizeof(*rx));
    hc_udp_rx_init(rx);
    hc_pkt_t *out[10];
    ck_assert_int_eq(recv_n(rfd, rx, &pool, out, 10, 5), 10);
    char text[HC_ADDR_STRLEN];
    ck_assert_int_gt(hc_addr_format(&out[0]->peer, text, sizeof(text)), 0);
    ck_assert_msg(strncmp(text, "[::1]:", 6) == 0, "peer %s", text);
    for (int i = 0; i < 10; i++) {
        ck_assert_uint_eq(out[i]->len, 10 + (uint32_t)i);
        ck_assert_uint_eq(out[i]->peer.len, sizeof(struct sockaddr_in6));
        ck_assert(hc_addr_eq(&out[i]->peer, &sa));
        hc_pool_put(&pool, out[i]);
    }
    hc_udp_rx_fini(rx, &pool);
    free(rx);
    free(tx);
    hc_pool_fini(&pool);
    close(rfd);
    close(sfd);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_udp");
    TCase *tc = tcase_create("addr");
    tcase_add_test(tc, addr_parse_format_v4);
    tcase_add_test(tc, addr_parse_format_v6);
    tcase_add_test(tc, addr_parse_rejects);
    tcase_add_test(tc, addr_format_nospc);
    tcase_add_test(tc, addr_eq_hash);
    suite_add_tcase(s, tc);

    tc = tcase_create("udp");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, open_sets_nonblocking_and_buffers);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, recv_batch_of_100_in_order);
    tcase_add_test(tc, tx_batch_of_200_to_two_destinations);
    tcase_add_test(tc, tx_bad_destination_skipped);
    tcase_add_test(tc, tx_full_queue_drops_without_blocking);
    tcase_add_test(tc, oversize_datagram_dropped_and_counted);
    tcase_add_test(tc, pool_empty_drains_and_counts);
    tcase_add_test(tc, ipv6_loopback);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
