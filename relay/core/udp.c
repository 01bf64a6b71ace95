/* udp.c - UDP sockets, recvmmsg/sendmmsg batches; see udp.h. */
#include "relay/core/udp.h"

#include "proto/err.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Ask for `size`; when the system maximum (net.core.*mem_max) clamps it,
 * retry with the privileged *FORCE variant, which ignores that maximum. */
static void set_buf(int fd, int opt, int force_opt, int size)
{
    int got = 0;
    socklen_t len = sizeof(got);
    if (setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size)) == 0 &&
        getsockopt(fd, SOL_SOCKET, opt, &got, &len) == 0 && got >= size)
        return; /* the kernel reports double what was set */
    (void)setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size));
}

int hc_udp_open(const hc_addr_t *bind_addr, int flags, int *fd_out)
{
    if (!bind_addr || !fd_out) return -HC_EINVAL;
    int family = hc_addr_family(bind_addr);
    if (family != AF_INET && family != AF_INET6) return -HC_EINVAL;

    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -HC_EIO;
    int one = 1;
    if (flags & HC_UDP_REUSEPORT) {
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) goto fail;
    }
    if (family == AF_INET6) {
        int v6only = (flags & HC_UDP_V6ONLY) ? 1 : 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0) goto fail;
    }
    set_buf(fd, SO_RCVBUF, SO_RCVBUFFORCE, HC_UDP_SOCKBUF);
    set_buf(fd, SO_SNDBUF, SO_SNDBUFFORCE, HC_UDP_SOCKBUF);
    if (bind(fd, hc_addr_sa(bind_addr), bind_addr->len) < 0) goto fail;
    *fd_out = fd;
    return 0;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -HC_EIO;
}

int hc_udp_local(int fd, hc_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (!out) return -HC_EINVAL;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -HC_EIO;
    if (hc_addr_from_sockaddr(out, (struct sockaddr *)&ss, len) < 0) {
        errno = EAFNOSUPPORT;
        return -HC_EIO;
    }
    return 0;
}

/* ---- receive ---- */

void hc_udp_rx_init(hc_udp_rx_t *rx)
{
    memset(rx, 0, sizeof(*rx));
}

void hc_udp_rx_fini(hc_udp_rx_t *rx, hc_pool_t *pool)
{
    for (int i = 0; i < HC_UDP_BATCH; i++) {
        hc_pool_put(pool, rx->slot[i]);
        rx->slot[i] = NULL;
    }
}

/* Pool empty: read what is waiting into one scratch buffer and count it
 * dropped. Returns 0 or -HC_EIO. */
static int drain_nobuf(int fd, hc_udp_rx_t *rx)
{
    for (int i = 0; i < HC_UDP_BATCH; i++) {
        rx->iov[i].iov_base = rx->scratch; /* shared: contents never read */
        rx->iov[i].iov_len = sizeof(rx->scratch);
        memset(&rx->msg[i].msg_hdr, 0, sizeof(rx->msg[i].msg_hdr));
        rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->msg[i].msg_hdr.msg_iovlen = 1;
    }
    rx->syscalls++;
    int n = recvmmsg(fd, rx->msg, HC_UDP_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        rx->errors++;
        return -HC_EIO;
    }
    rx->nobuf += (uint64_t)n;
    return 0;
}

int hc_udp_recv_batch(int fd, hc_udp_rx_t *rx, hc_pool_t *pool, hc_pkt_t **out, int max,
                      uint64_t now_us)
{
    if (!rx || !pool || !out || max < 0) return -HC_EINVAL;
    int want = max < HC_UDP_BATCH ? max : HC_UDP_BATCH;
    if (want == 0) return 0;

    /* Slots stay filled between calls; top up the prefix we will use. */
    int ready = 0;
    for (; ready < want; ready++) {
        if (!rx->slot[ready] && !(rx->slot[ready] = hc_pool_get(pool))) break;
    }
    if (ready == 0) {
        int r = drain_nobuf(fd, rx);
        return r < 0 ? r : 0;
    }

    for (int i = 0; i < ready; i++) {
        hc_pkt_t *p = rx->slot[i];
        struct msghdr *h = &rx->msg[i].msg_hdr;
        rx->iov[i].iov_base = p->data;
        rx->iov[i].iov_len = p->cap;
        /* The kernel writes the source address straight into the packet. */
        h->msg_name = &p->peer.u;
        h->msg_namelen = sizeof(p->peer.u);
        h->msg_iov = &rx->iov[i];
        h->msg_iovlen = 1;
        h->msg_control = NULL;
        h->msg_controllen = 0;
        h->msg_flags = 0;
    }

    rx->syscalls++;
    int n = recvmmsg(fd, rx->msg, (unsigned)ready, MSG_DONTWAIT, NULL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
        rx->errors++;
        return -HC_EIO;
    }

    int got = 0;
    for (int i = 0; i < n; i++) {
        hc_pkt_t *p = rx->slot[i];
        const struct msghdr *h = &rx->msg[i].msg_hdr;
        if (h->msg_flags & MSG_TRUNC) {
            /* Longer than any packet we relay: not ours, or an attack. */
            rx->truncated++;
            continue; /* the packet stays parked in its slot */
        }
        rx->slot[i] = NULL;
        p->len = rx->msg[i].msg_len;
        p->peer.len = h->msg_namelen <= sizeof(p->peer.u) ? h->msg_namelen : 0;
        p->rx_us = now_us;
        rx->bytes += p->len;
        out[got++] = p;
    }
    rx->packets += (uint64_t)got;
    return got;
}

/* ---- send ---- */

void hc_udp_tx_init(hc_udp_tx_t *tx)
{
    memset(tx, 0, sizeof(*tx));
}

int hc_udp_tx_add(hc_udp_tx_t *tx, const uint8_t *buf, uint32_t len, const hc_addr_t *to)
{
    if (!tx || (!buf && len) || !to || !to->len) return -HC_EINVAL;
    if (tx->n >= HC_UDP_TX_BATCH) return -HC_EFULL;
    uint32_t i = tx->n++;
    tx->to[i] = *to;
    tx->iov[i].iov_base = (void *)buf;
    tx->iov[i].iov_len = len;
    struct msghdr *h = &tx->msg[i].msg_hdr;
    h->msg_name = &tx->to[i].u;
    h->msg_namelen = tx->to[i].len;
    h->msg_iov = &tx->iov[i];
    h->msg_iovlen = 1;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    h->msg_flags = 0;
    return 0;
}

int hc_udp_tx_flush(int fd, hc_udp_tx_t *tx)
{
    uint32_t off = 0, n = tx->n;
    int sent = 0;
    while (off < n) {
        tx->syscalls++;
        int r = sendmmsg(fd, tx->msg + off, n - off, MSG_DONTWAIT);
        if (r > 0) {
            off += (uint32_t)r;
            sent += r;
            continue;
        }
        if (r == 0) break; /* not expected; do not spin */
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
            /* Full: waiting would stall every session of the worker, and
             * media that late is useless; drop the rest. */
            tx->full += n - off;
            tx->dropped += n - off;
            off = n;
            break;
        }
        /* sendmmsg reports an error only for the first datagram of the
         * call: this one is bad (address, size, route); skip it. */
        tx->errors++;
        tx->dropped++;
        off++;
    }
    tx->sent += (uint64_t)sent;
    tx->n = 0;
    return sent;
}
