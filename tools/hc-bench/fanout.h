/*
 * fanout.h - the parts of `hc-bench fanout` (fanout.c drives them):
 *
 *   publisher  a thread with an hc_endpoint sending synthetic H.264-shaped
 *              video (~1200-byte packets, 30 fps) and 20 ms Opus-shaped
 *              audio at the configured rate, with the abs-capture-time
 *              extension stamped at send, answering PLIs with keyframes;
 *   receivers  N UDP sockets in one thread (epoll + recvmmsg), standing in
 *              for N subscribers as cheaply as possible: per packet they
 *              read the RTP header and the capture-time extension, which
 *              SRTP leaves in the clear (RFC 3711 section 3.1), count
 *              sequence numbers per SSRC for loss, and decrypt one packet
 *              in 64 to check the SRTP is valid; in relay mode they also
 *              send each subscriber's RTCP keepalive every second so the
 *              relay learns and keeps their addresses;
 *   baseline   a minimal forwarder thread: recvmmsg, SRTP unprotect of the
 *              publisher's packet, then per subscriber copy + libsrtp
 *              protect with that subscriber's key + sendmmsg, nothing else;
 *              its CPU time is getrusage(RUSAGE_THREAD) of that thread;
 *   relay      hc-relay as a subprocess with a generated config (relayproc.c):
 *              CPU from /proc/<pid>/stat, RSS from /proc/<pid>/status.
 *
 * Measurement windows: fo_phase_t moves every thread from warm-up to
 * measuring to done; each thread snapshots its own counters at the
 * transitions, so nothing is read while another thread writes it.
 *
 * Ownership: each struct is caller storage; *_start allocates, *_stop frees.
 * Threading: one thread per part, the main thread only flips phases and
 * reads the snapshots after a part acknowledged the transition.
 */
#ifndef HC_BENCH_FANOUT_H
#define HC_BENCH_FANOUT_H

#include "edge/sigclient.h"
#include "proto/seq.h"
#include "proto/srtp.h"
#include "relay/core/addr.h"
#include "relay/core/endpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum fo_phase { FO_WARM = 0, FO_MEASURE = 1, FO_DONE = 2 } fo_phase_t;

#define FO_DELAY_US  10    /* histogram bucket */
#define FO_DELAY_N   50000 /* 500 ms of buckets, then one overflow bucket */
#define FO_MAX_SSRC  4
#define FO_SAMPLE_EV 64 /* decrypt one packet in this many per subscriber */

typedef struct fo_ssrc {
    uint32_t ssrc;
    bool started;
    hc_seq_unwrap_t u;
    int64_t first, highest;
} fo_ssrc_t;

typedef struct fo_sub {
    int fd;
    hc_addr_t addr;
    uint8_t key_down[HC_SRTP_MAX_KEY_LEN]; /* what its packets are protected with */
    uint8_t key_up[HC_SRTP_MAX_KEY_LEN];   /* relay mode: its RTCP */
    uint32_t rtcp_ssrc;                    /* relay mode */
    hc_srtp_t rx, tx;
    fo_ssrc_t st[FO_MAX_SSRC];
    uint32_t until_sample;
    uint64_t rcvd;
    hc_sigclient_t *sig; /* relay mode: its signaling connection */
} fo_sub_t;

typedef struct fo_snap {
    uint64_t rcvd, expected, sample_ok, sample_bad; /* over the subscribers read */
} fo_snap_t;

typedef struct fo_rx {
    fo_sub_t *subs;
    int n;
    int n_read; /* subscribers 0..n_read-1 are read; the rest are left unread */
    hc_srtp_suite_t suite;
    bool keepalive;   /* send RTCP keepalives (relay mode) */
    hc_addr_t remote; /* where keepalives go: the relay's media address */
    int epfd;
    pthread_t th;
    bool running;
    _Atomic int phase, ack;
    uint64_t sample_ok, sample_bad, rtcp_rx;
    fo_snap_t s0, s1;
    uint32_t *hist; /* FO_DELAY_N + 1 buckets, phase MEASURE only */
    uint64_t hist_n;
} fo_rx_t;

/* Open n sockets on 127.0.0.1 (subs[i].fd/addr); keys are set by the
 * caller before fo_rx_start. Only the first n_read are read (loss, delay
 * and SRTP samples come from them); the others get the smallest receive
 * buffer and are never read, so the kernel drops what the forwarder sent
 * them after it paid for sending it, and the bench's receiving does not
 * compete for the two cores with what it measures. 0 or -HC_EIO. */
int fo_rx_open(fo_rx_t *rx, int n, int n_read, hc_srtp_suite_t suite);
int fo_rx_start(fo_rx_t *rx, bool keepalive);
/* Move to phase p and wait until the thread took its snapshot. */
void fo_rx_phase(fo_rx_t *rx, fo_phase_t p);
void fo_rx_stop(fo_rx_t *rx); /* joins, closes sockets, frees */
/* Percentile q of the delay histogram, in ms. */
double fo_rx_delay_ms(const fo_rx_t *rx, double q);

typedef struct fo_pub {
    hc_endpoint_t *ep;
    hc_ep_stream_t *sv, *sa;
    uint32_t video_bps, audio_bps, mtu;
    pthread_t th;
    bool running;
    _Atomic int stop;
    _Atomic uint64_t packets, keyframes;
} fo_pub_t;

/* cfg: keys, remote and rtcp_ssrc set; v_ssrc/a_ssrc the stream SSRCs. */
int fo_pub_start(fo_pub_t *p, const hc_endpoint_cfg_t *cfg, uint32_t v_ssrc, uint32_t v_rtx,
                 uint32_t a_ssrc, uint32_t video_bps, uint32_t audio_bps);
void fo_pub_stop(fo_pub_t *p);

typedef struct fo_base {
    int fd;
    hc_addr_t addr; /* where the publisher sends */
    hc_srtp_t in;
    hc_srtp_t *out; /* one per subscriber */
    hc_addr_t *to;
    int n;
    pthread_t th;
    bool running;
    _Atomic int phase, ack;
    uint64_t sent, dropped, in_pkts;
    uint64_t sent0, sent1;
    double cpu0, cpu1; /* thread CPU seconds at the transitions */
} fo_base_t;

/* key_in: the publisher's key_up; subs: receivers whose key_down/addr are
 * used. 0 or -HC_E*. */
int fo_base_start(fo_base_t *b, hc_srtp_suite_t suite, const uint8_t *key_in, const fo_sub_t *subs,
                  int n);
void fo_base_phase(fo_base_t *b, fo_phase_t p);
void fo_base_stop(fo_base_t *b);

/* ---- hc-relay as a subprocess (relayproc.c) ---- */

typedef struct fo_relay {
    pid_t pid;
    char dir[256]; /* temporary config directory */
    char url[128];
    uint16_t sig_port;
    uint8_t secret[64];
    size_t secret_len;
    unsigned workers; /* as configured (0 = default) */
} fo_relay_t;

/* Write a config (tls off, loopback, signaling limits raised for n_conns
 * connections from one address) and start bin; waits until signaling
 * answers. 0 or -HC_E* with a message in err. */
int fo_relay_start(fo_relay_t *r, const char *bin, unsigned workers, unsigned n_conns, char *err,
                   size_t errcap);
void fo_relay_stop(fo_relay_t *r);
/* utime + stime of the process in seconds; -1 when unreadable. */
double fo_proc_cpu_s(pid_t pid);
/* VmRSS in KiB; -1 when unreadable. */
long fo_proc_rss_kib(pid_t pid);
/* Threads of the process; -1 when unreadable. */
int fo_proc_threads(pid_t pid);
/* Sum of the /metrics samples whose name (and labels) start with prefix;
 * -1 when the page or the sample is not there. */
double fo_relay_metric(const fo_relay_t *r, const char *prefix);
/* Mint a token for role/session with the relay's secret. */
int fo_relay_token(const fo_relay_t *r, const char *role, const char *session, const char *site,
                   char *out, size_t cap);

#endif
