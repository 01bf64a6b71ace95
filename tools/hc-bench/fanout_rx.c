/* fanout_rx.c - hc-bench fanout's N cheap subscribers; see fanout.h. */
#include "tools/hc-bench/fanout.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/rtcp.h"
#include "proto/rtp.h"
#include "proto/rtpext.h"
#include "relay/core/clock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RX_BATCH 32
#define RX_BUF   2048

int fo_rx_open(fo_rx_t *rx, int n, int n_read, hc_srtp_suite_t suite)
{
    memset(rx, 0, sizeof *rx);
    rx->subs = calloc((size_t)n, sizeof *rx->subs);
    rx->hist = calloc(FO_DELAY_N + 1, sizeof *rx->hist);
    if (!rx->subs || !rx->hist) return -HC_ENOMEM;
    rx->n = n;
    rx->n_read = n_read < n ? n_read : n;
    rx->suite = suite;
    rx->epfd = -1;
    for (int i = 0; i < n; i++) rx->subs[i].fd = -1;
    for (int i = 0; i < n; i++) {
        fo_sub_t *s = &rx->subs[i];
        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) return -HC_EIO;
        /* enough for a burst of a few frames; the bench must not hold
         * gigabytes of socket buffers for 1000 subscribers */
        int sz = i < rx->n_read ? 1 << 20 : 1;
        setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        hc_addr_t b;
        hc_addr_parse("127.0.0.1:0", &b);
        if (bind(s->fd, hc_addr_sa(&b), b.len) < 0) return -HC_EIO;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(s->fd, (struct sockaddr *)&ss, &sl);
        hc_addr_from_sockaddr(&s->addr, (struct sockaddr *)&ss, sl);
        s->until_sample = (uint32_t)(i % FO_SAMPLE_EV);
    }
    return 0;
}

static void take_snap(fo_rx_t *rx, fo_snap_t *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < rx->n_read; i++) {
        fo_sub_t *sub = &rx->subs[i];
        s->rcvd += sub->rcvd;
        for (int k = 0; k < FO_MAX_SSRC; k++)
            if (sub->st[k].started)
                s->expected += (uint64_t)(sub->st[k].highest - sub->st[k].first + 1);
    }
    s->sample_ok = rx->sample_ok;
    s->sample_bad = rx->sample_bad;
}

static void keepalive(fo_rx_t *rx)
{
    uint8_t buf[256] __attribute__((aligned(8)));
    for (int i = 0; i < rx->n; i++) {
        fo_sub_t *s = &rx->subs[i];
        size_t off = 0;
        if (hc_rtcp_append(&off, hc_rtcp_write_rr(buf, sizeof buf, s->rtcp_ssrc, NULL, 0)) < 0 ||
            hc_rtcp_append(&off, hc_rtcp_write_sdes_cname(buf + off, sizeof buf - off, s->rtcp_ssrc,
                                                          "hc-bench", 8)) < 0)
            continue;
        int n = hc_srtp_protect_rtcp(&s->tx, buf, off, sizeof buf);
        if (n > 0)
            (void)sendto(s->fd, buf, (size_t)n, MSG_DONTWAIT, hc_addr_sa(&rx->remote),
                         rx->remote.len);
    }
}

static void on_packet(fo_rx_t *rx, fo_sub_t *s, uint8_t *p, size_t len, uint64_t wall_us,
                      bool measuring)
{
    if (len < 12 || (p[0] >> 6) != 2) return;
    if (hc_rtcp_is_rtcp(p, len)) {
        rx->rtcp_rx++;
        return;
    }
    s->rcvd++;
    uint32_t ssrc = hc_rd32(p + 8);
    uint16_t seq = hc_rd16(p + 2);
    fo_ssrc_t *st = NULL;
    for (int k = 0; k < FO_MAX_SSRC; k++) {
        if (s->st[k].started && s->st[k].ssrc == ssrc) {
            st = &s->st[k];
            break;
        }
        if (!s->st[k].started) {
            st = &s->st[k];
            st->started = true;
            st->ssrc = ssrc;
            hc_seq_unwrap_init(&st->u);
            st->first = st->highest = hc_seq_unwrap(&st->u, seq);
            break;
        }
    }
    if (st) {
        int64_t e = hc_seq_unwrap(&st->u, seq);
        if (e > st->highest) st->highest = e;
    }
    /* the header extension is in the clear under SRTP */
    if (measuring) {
        hc_rtp_hdr_t h;
        const uint8_t *d;
        size_t dl;
        hc_rtpext_capture_time_t ct;
        if (hc_rtp_parse(p, len, &h) >= 0 &&
            hc_rtpext_find(&h, HC_EXT_CAPTURE_TIME, &d, &dl) == 1 &&
            hc_rtpext_capture_time_parse(d, dl, &ct) > 0) {
            int64_t us = (int64_t)wall_us - (int64_t)hc_rtpext_ntp_to_unix_us(ct.ntp);
            if (us < 0) us = 0;
            size_t b = (size_t)(us / FO_DELAY_US);
            if (b > FO_DELAY_N) b = FO_DELAY_N;
            rx->hist[b]++;
            rx->hist_n++;
        }
    }
    if (s->until_sample-- == 0) {
        s->until_sample = FO_SAMPLE_EV - 1;
        if (hc_srtp_unprotect(&s->rx, p, len) > 0)
            rx->sample_ok++;
        else
            rx->sample_bad++;
    }
}

static void *rx_main(void *arg)
{
    fo_rx_t *rx = arg;
    struct mmsghdr msg[RX_BATCH];
    struct iovec iov[RX_BATCH];
    uint8_t(*bufs)[RX_BUF] = aligned_alloc(64, (size_t)RX_BATCH * RX_BUF);
    struct epoll_event ev[256];
    int seen_phase = FO_WARM;
    uint64_t next_ka = 0;
    for (;;) {
        int ph = atomic_load(&rx->phase);
        if (ph != seen_phase) {
            if (ph == FO_MEASURE) take_snap(rx, &rx->s0);
            if (ph == FO_DONE) take_snap(rx, &rx->s1);
            seen_phase = ph;
            atomic_store(&rx->ack, ph);
            if (ph == FO_DONE) break;
        }
        uint64_t now = hc_now_us();
        if (rx->keepalive && now >= next_ka) {
            keepalive(rx);
            next_ka = now + 1000000;
        }
        int ne = epoll_wait(rx->epfd, ev, 256, 50);
        for (int e = 0; e < ne; e++) {
            fo_sub_t *s = &rx->subs[ev[e].data.u32];
            for (;;) {
                for (int k = 0; k < RX_BATCH; k++) {
                    iov[k].iov_base = bufs[k];
                    iov[k].iov_len = RX_BUF;
                    memset(&msg[k].msg_hdr, 0, sizeof msg[k].msg_hdr);
                    msg[k].msg_hdr.msg_iov = &iov[k];
                    msg[k].msg_hdr.msg_iovlen = 1;
                }
                int n = recvmmsg(s->fd, msg, RX_BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0) break;
                uint64_t wall = hc_wall_us();
                for (int k = 0; k < n; k++)
                    on_packet(rx, s, bufs[k], msg[k].msg_len, wall, seen_phase == FO_MEASURE);
                if (n < RX_BATCH) break;
            }
        }
    }
    free(bufs);
    return NULL;
}

int fo_rx_start(fo_rx_t *rx, bool keepalive_on)
{
    rx->keepalive = keepalive_on;
    rx->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (rx->epfd < 0) return -HC_EIO;
    size_t kl = hc_srtp_key_len(rx->suite);
    for (int i = 0; i < rx->n; i++) {
        fo_sub_t *s = &rx->subs[i];
        if (hc_srtp_init(&s->rx, rx->suite, s->key_down, kl, HC_SRTP_RECV) < 0) return -HC_ESRTP;
        if (keepalive_on && hc_srtp_init(&s->tx, rx->suite, s->key_up, kl, HC_SRTP_SEND) < 0)
            return -HC_ESRTP;
        if (i >= rx->n_read) continue;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(rx->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) return -HC_EIO;
    }
    atomic_store(&rx->phase, FO_WARM);
    atomic_store(&rx->ack, FO_WARM);
    if (pthread_create(&rx->th, NULL, rx_main, rx)) return -HC_EIO;
    rx->running = true;
    return 0;
}

void fo_rx_phase(fo_rx_t *rx, fo_phase_t p)
{
    if (!rx->running) return;
    atomic_store(&rx->phase, p);
    while (atomic_load(&rx->ack) != (int)p) usleep(1000);
}

void fo_rx_stop(fo_rx_t *rx)
{
    if (rx->running) {
        if (atomic_load(&rx->phase) != FO_DONE) fo_rx_phase(rx, FO_DONE);
        pthread_join(rx->th, NULL);
        rx->running = false;
    }
    for (int i = 0; rx->subs && i < rx->n; i++) {
        fo_sub_t *s = &rx->subs[i];
        hc_sigclient_destroy(&s->sig);
        if (s->fd >= 0) close(s->fd);
        hc_srtp_fini(&s->rx);
        hc_srtp_fini(&s->tx);
    }
    if (rx->epfd >= 0) close(rx->epfd);
    free(rx->subs);
    free(rx->hist);
    rx->subs = NULL;
    rx->hist = NULL;
}

double fo_rx_delay_ms(const fo_rx_t *rx, double q)
{
    if (!rx->hist_n) return -1;
    uint64_t want = (uint64_t)(q * (double)rx->hist_n);
    if (want >= rx->hist_n) want = rx->hist_n - 1;
    uint64_t acc = 0;
    for (size_t i = 0; i <= FO_DELAY_N; i++) {
        acc += rx->hist[i];
        if (acc > want) return (i + 0.5) * FO_DELAY_US / 1000.0;
    }
    return FO_DELAY_N * FO_DELAY_US / 1000.0;
}
