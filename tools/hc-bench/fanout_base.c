/* fanout_base.c - hc-bench fanout's publisher and minimal forwarder
 * baseline; see fanout.h. */
#include "tools/hc-bench/fanout.h"

#include "proto/err.h"
#include "proto/rtcp.h"
#include "relay/core/clock.h"
#include "relay/core/udp.h"
#include "tools/hc-probe/synth.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- publisher ---- */

static void on_pub_key(void *ud, hc_ep_stream_t *s, bool fir)
{
    (void)s;
    (void)fir;
    fo_pub_t *p = ud;
    p->keyframes++; /* counted; the next frame is made a keyframe below */
}

/* Video leaves paced, as a real sender's pacer does (libwebrtc paces at
 * 2.5 x the target rate): each frame's packets are spread at that rate, and
 * never over more than one frame interval. Sending a frame as one burst
 * would measure the relay's queueing of the burst, not its forwarding. */
#define PACE_FACTOR 2.5

typedef struct pub_q {
    uint8_t *buf; /* the frame being paced */
    hc_synth_pkt_t pk[HC_SYNTH_MAX_PKTS];
    int n, next; /* packets in the frame, next to send */
    uint32_t ts;
    uint64_t start_us, gap_us;
} pub_q_t;

static void pub_send_due(fo_pub_t *p, pub_q_t *q, uint64_t now)
{
    hc_ep_send_opts_t o = {.capture_wall_us = 0};
    bool sent = false;
    while (q->next < q->n && now >= q->start_us + (uint64_t)q->next * q->gap_us) {
        hc_synth_pkt_t *k = &q->pk[q->next++];
        if (hc_endpoint_send(p->ep, p->sv, q->buf + k->off, k->len, q->ts, k->marker, &o, now) >= 0)
            atomic_fetch_add(&p->packets, 1);
        sent = true;
    }
    if (sent) hc_endpoint_flush(p->ep);
}

static void *pub_main(void *arg)
{
    fo_pub_t *p = arg;
    hc_synth_video_t v;
    hc_synth_video_init(&v, p->video_bps, 30, p->mtu, 60);
    pub_q_t q = {.buf = malloc(256 * 1024)};
    uint64_t t0 = hc_now_us(), next_poll = t0;
    uint32_t vf = 0, af = 0;
    uint64_t keys_seen = 0;
    const uint64_t frame_us = 1000000u / 30;
    double pace_bps = PACE_FACTOR * (p->video_bps + p->audio_bps);
    hc_endpoint_start(p->ep, t0);
    while (!atomic_load(&p->stop)) {
        uint64_t now = hc_now_us();
        uint64_t nv = t0 + (uint64_t)vf * frame_us;
        uint64_t na = t0 + (uint64_t)af * 20000u;
        if (now >= nv) {
            pub_send_due(p, &q, UINT64_MAX); /* a late frame's rest goes now */
            uint64_t k = atomic_load(&p->keyframes);
            if (k != keys_seen) {
                v.force_key = true;
                keys_seen = k;
            }
            bool key;
            q.n = hc_synth_video_frame(&v, q.buf, 256 * 1024, q.pk, &key);
            if (q.n < 0) q.n = 0;
            q.next = 0;
            q.ts = hc_synth_video_ts(&v, vf);
            q.start_us = now;
            uint64_t gap = (uint64_t)(p->mtu * 8 / pace_bps * 1e6);
            if (q.n > 1 && gap * (uint64_t)(q.n - 1) > frame_us * 9 / 10)
                gap = frame_us * 9 / 10 / (uint64_t)(q.n - 1);
            q.gap_us = gap;
            vf++;
        }
        pub_send_due(p, &q, now);
        if (now >= na) {
            uint8_t a[400];
            int n = hc_synth_audio_packet(af, p->audio_bps / 8 / 50, a, sizeof a);
            hc_ep_send_opts_t o = {.has_audio_level = true, .voice = true, .audio_level = 30};
            if (n > 0 &&
                hc_endpoint_send(p->ep, p->sa, a, (size_t)n, af * 960u, false, &o, now) >= 0)
                atomic_fetch_add(&p->packets, 1);
            af++;
            hc_endpoint_flush(p->ep);
        }
        if (now >= next_poll) next_poll = now + hc_endpoint_poll(p->ep, now);
        hc_endpoint_recv(p->ep, now);
        now = hc_now_us();
        uint64_t due = nv < na ? nv : na;
        if (q.next < q.n && q.start_us + (uint64_t)q.next * q.gap_us < due)
            due = q.start_us + (uint64_t)q.next * q.gap_us;
        if (next_poll < due) due = next_poll;
        if (due > now) {
            struct pollfd pfd = {.fd = hc_endpoint_fd(p->ep), .events = POLLIN};
            /* sub-millisecond waits: poll's resolution is 1 ms */
            if (due - now < 1000) {
                struct timespec ts = {0, (long)(due - now) * 1000};
                nanosleep(&ts, NULL);
            } else {
                int ms = (int)((due - now) / 1000);
                (void)poll(&pfd, 1, ms > 50 ? 50 : ms);
            }
        }
    }
    free(q.buf);
    return NULL;
}

int fo_pub_start(fo_pub_t *p, const hc_endpoint_cfg_t *cfg, uint32_t v_ssrc, uint32_t v_rtx,
                 uint32_t a_ssrc, uint32_t video_bps, uint32_t audio_bps)
{
    memset(p, 0, sizeof *p);
    p->video_bps = video_bps;
    p->audio_bps = audio_bps;
    p->mtu = 1200;
    hc_endpoint_cfg_t c = *cfg;
    c.ev.ud = p;
    c.ev.keyframe = on_pub_key;
    int rc = hc_endpoint_new(&p->ep, &c);
    if (rc < 0) return rc;
    hc_ep_stream_cfg_t sv = {.ssrc = v_ssrc,
                             .rtx_ssrc = v_rtx,
                             .pt = HC_EP_PT_H264,
                             .rtx_pt = HC_EP_PT_H264_RTX,
                             .clock_rate = 90000,
                             .ext = HC_EP_EXT_CAPTURE_TIME,
                             .history = 512,
                             .first_seq = 1000};
    hc_ep_stream_cfg_t sa = {.ssrc = a_ssrc,
                             .pt = HC_EP_PT_OPUS,
                             .clock_rate = 48000,
                             .ext = HC_EP_EXT_CAPTURE_TIME | HC_EP_EXT_AUDIO_LEVEL,
                             .history = 64,
                             .first_seq = 5000};
    if ((rc = hc_endpoint_stream_add(p->ep, &sv, &p->sv)) < 0 ||
        (rc = hc_endpoint_stream_add(p->ep, &sa, &p->sa)) < 0) {
        hc_endpoint_destroy(&p->ep);
        return rc;
    }
    if (pthread_create(&p->th, NULL, pub_main, p)) {
        hc_endpoint_destroy(&p->ep);
        return -HC_EIO;
    }
    p->running = true;
    return 0;
}

void fo_pub_stop(fo_pub_t *p)
{
    if (p->running) {
        atomic_store(&p->stop, 1);
        pthread_join(p->th, NULL);
        p->running = false;
    }
    hc_endpoint_destroy(&p->ep);
}

/* ---- baseline forwarder ---- */

#define B_IN  64
#define B_OUT 128
#define B_BUF 2048

static double thread_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

typedef struct out_batch {
    struct mmsghdr msg[B_OUT];
    struct iovec iov[B_OUT];
    uint8_t (*buf)[B_BUF];
    int n;
} out_batch_t;

static void out_flush(fo_base_t *b, out_batch_t *o)
{
    int off = 0;
    while (off < o->n) {
        int r = sendmmsg(b->fd, o->msg + off, (unsigned)(o->n - off), MSG_DONTWAIT);
        if (r <= 0) {
            b->dropped += (uint64_t)(o->n - off); /* never wait: count and go on */
            break;
        }
        b->sent += (uint64_t)r;
        off += r;
    }
    o->n = 0;
}

static void *base_main(void *arg)
{
    fo_base_t *b = arg;
    struct mmsghdr im[B_IN];
    struct iovec iiov[B_IN];
    uint8_t(*ib)[B_BUF] = aligned_alloc(64, (size_t)B_IN * B_BUF);
    out_batch_t *o = calloc(1, sizeof *o);
    o->buf = aligned_alloc(64, (size_t)B_OUT * B_BUF);
    int seen = FO_WARM;
    for (;;) {
        int ph = atomic_load(&b->phase);
        if (ph != seen) {
            if (ph == FO_MEASURE) {
                b->sent0 = b->sent;
                b->cpu0 = thread_cpu_s();
            } else if (ph == FO_DONE) {
                b->sent1 = b->sent;
                b->cpu1 = thread_cpu_s();
            }
            seen = ph;
            atomic_store(&b->ack, ph);
            if (ph == FO_DONE) break;
        }
        struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) <= 0) continue;
        for (int k = 0; k < B_IN; k++) {
            iiov[k].iov_base = ib[k];
            iiov[k].iov_len = B_BUF;
            memset(&im[k].msg_hdr, 0, sizeof im[k].msg_hdr);
            im[k].msg_hdr.msg_iov = &iiov[k];
            im[k].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(b->fd, im, B_IN, MSG_DONTWAIT, NULL);
        for (int k = 0; k < n; k++) {
            uint8_t *p = ib[k];
            size_t len = im[k].msg_len;
            if (hc_rtcp_is_rtcp(p, len)) continue; /* the publisher's reports */
            int rl = hc_srtp_unprotect(&b->in, p, len);
            if (rl <= 0) continue;
            b->in_pkts++;
            for (int s = 0; s < b->n; s++) {
                uint8_t *q = o->buf[o->n];
                memcpy(q, p, (size_t)rl);
                int ol = hc_srtp_protect(&b->out[s], q, (size_t)rl, B_BUF);
                if (ol < 0) continue;
                o->iov[o->n].iov_base = q;
                o->iov[o->n].iov_len = (size_t)ol;
                memset(&o->msg[o->n].msg_hdr, 0, sizeof o->msg[o->n].msg_hdr);
                o->msg[o->n].msg_hdr.msg_iov = &o->iov[o->n];
                o->msg[o->n].msg_hdr.msg_iovlen = 1;
                o->msg[o->n].msg_hdr.msg_name = (void *)hc_addr_sa(&b->to[s]);
                o->msg[o->n].msg_hdr.msg_namelen = b->to[s].len;
                if (++o->n == B_OUT) out_flush(b, o);
            }
        }
        out_flush(b, o);
    }
    free(o->buf);
    free(o);
    free(ib);
    return NULL;
}

int fo_base_start(fo_base_t *b, hc_srtp_suite_t suite, const uint8_t *key_in, const fo_sub_t *subs,
                  int n)
{
    memset(b, 0, sizeof *b);
    b->fd = -1;
    size_t kl = hc_srtp_key_len(suite);
    b->out = calloc((size_t)n, sizeof *b->out);
    b->to = calloc((size_t)n, sizeof *b->to);
    if (!b->out || !b->to) return -HC_ENOMEM;
    b->n = n;
    hc_addr_t bind;
    hc_addr_parse("127.0.0.1:0", &bind);
    int rc = hc_udp_open(&bind, 0, &b->fd);
    if (rc < 0) return rc;
    hc_udp_local(b->fd, &b->addr);
    if (hc_srtp_init(&b->in, suite, key_in, kl, HC_SRTP_RECV) < 0) return -HC_ESRTP;
    for (int i = 0; i < n; i++) {
        if (hc_srtp_init(&b->out[i], suite, subs[i].key_down, kl, HC_SRTP_SEND) < 0)
            return -HC_ESRTP;
        b->to[i] = subs[i].addr;
    }
    if (pthread_create(&b->th, NULL, base_main, b)) return -HC_EIO;
    b->running = true;
    return 0;
}

void fo_base_phase(fo_base_t *b, fo_phase_t p)
{
    if (!b->running) return;
    atomic_store(&b->phase, p);
    while (atomic_load(&b->ack) != (int)p) usleep(1000);
}

void fo_base_stop(fo_base_t *b)
{
    if (b->running) {
        if (atomic_load(&b->phase) != FO_DONE) fo_base_phase(b, FO_DONE);
        pthread_join(b->th, NULL);
        b->running = false;
    }
    if (b->fd >= 0) close(b->fd);
    for (int i = 0; b->out && i < b->n; i++) hc_srtp_fini(&b->out[i]);
    hc_srtp_fini(&b->in);
    free(b->out);
    free(b->to);
    b->out = NULL;
    b->to = NULL;
}
