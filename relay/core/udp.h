/*
 * udp.h - nonblocking UDP sockets with batched receive and send.
 *
 * All media of a relay worker arrive on one UDP socket (RTP and RTCP muxed
 * per RFC 5761, SRTP per RFC 3711/7714) and leave through it. The hot path
 * moves packets in batches: one recvmmsg() fills up to HC_UDP_BATCH pool
 * packets, one sendmmsg() per loop iteration (from the loop's after-batch
 * hook) sends everything queued with hc_udp_tx_add(). Neither ever blocks
 * or allocates; overload shows up as counted drops, never as a stall.
 * Datagrams go to different destinations, so UDP GSO is deliberately not
 * used.
 *
 * Ownership: hc_udp_open() returns an fd the caller closes. hc_udp_rx_t and
 * hc_udp_tx_t are caller-owned (embed them in the worker). A receive batch
 * keeps up to HC_UDP_BATCH pool packets parked in its slots between calls
 * (so an idle socket costs no pool traffic); hc_udp_rx_fini() returns them.
 * Packets handed out by hc_udp_recv_batch() belong to the caller, who puts
 * them back into the pool. A send batch stores pointers to the caller's
 * bytes: they must stay valid until the next hc_udp_tx_flush(); the
 * destination address is copied.
 * Threading: one thread per socket and batch (the worker's).
 */
#ifndef HC_CORE_UDP_H
#define HC_CORE_UDP_H

#include "relay/core/addr.h"
#include "relay/core/pool.h"

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* hc_udp_open() flags */
#define HC_UDP_REUSEPORT 0x1 /* join a SO_REUSEPORT group (see steer.h) */
#define HC_UDP_V6ONLY    0x2 /* IPv6 socket refuses IPv4-mapped peers */

/* Socket buffer size asked for (the kernel doubles and may clamp it). */
#define HC_UDP_SOCKBUF (8 * 1024 * 1024)

/* Open a nonblocking, close-on-exec UDP socket bound to *bind (port 0 picks
 * one), with large receive and send buffers (SO_RCVBUFFORCE/SO_SNDBUFFORCE
 * when the process may, else up to the system maximum). Returns 0 and sets
 * *fd, -HC_EINVAL, or -HC_EIO with errno telling why (bind failed, ...). */
int hc_udp_open(const hc_addr_t *bind, int flags, int *fd);

/* The address fd is bound to (to learn a picked port): 0 or -HC_EIO. */
int hc_udp_local(int fd, hc_addr_t *out);

/* ---- receive ---- */

#define HC_UDP_BATCH 64

typedef struct hc_udp_rx {
    struct mmsghdr msg[HC_UDP_BATCH]; /* private */
    struct iovec iov[HC_UDP_BATCH];   /* private */
    hc_pkt_t *slot[HC_UDP_BATCH];     /* private: parked pool packets */
    uint8_t scratch[HC_PKT_CAP];      /* private: sink when the pool is empty */
    uint64_t packets;                 /* datagrams handed out */
    uint64_t bytes;                   /* their payload bytes */
    uint64_t truncated;               /* larger than HC_PKT_CAP: dropped */
    uint64_t nobuf;                   /* read and dropped because the pool was empty */
    uint64_t syscalls;                /* recvmmsg calls */
    uint64_t errors;                  /* recvmmsg failures other than EAGAIN/EINTR */
} hc_udp_rx_t;

void hc_udp_rx_init(hc_udp_rx_t *rx);
/* Return the parked packets to pool (the pool they came from). */
void hc_udp_rx_fini(hc_udp_rx_t *rx, hc_pool_t *pool);

/* Receive up to max (<= HC_UDP_BATCH is used) datagrams with one recvmmsg
 * (MSG_DONTWAIT) into packets from pool; out[0..n-1] get them in arrival
 * order with len, peer and rx_us = now_us set. Returns n >= 0 (0 when
 * nothing is waiting), or -HC_EIO (errno kept). Oversize datagrams
 * (MSG_TRUNC) are dropped and counted. When the pool is empty the waiting
 * datagrams are read into scratch space and dropped (counted in nobuf), so
 * a level-triggered loop does not spin on them. */
int hc_udp_recv_batch(int fd, hc_udp_rx_t *rx, hc_pool_t *pool, hc_pkt_t **out, int max,
                      uint64_t now_us);

/* ---- send ---- */

#define HC_UDP_TX_BATCH 128

typedef struct hc_udp_tx {
    struct mmsghdr msg[HC_UDP_TX_BATCH]; /* private */
    struct iovec iov[HC_UDP_TX_BATCH];   /* private */
    hc_addr_t to[HC_UDP_TX_BATCH];       /* private */
    uint32_t n;                          /* queued datagrams */
    uint64_t sent;                       /* datagrams the kernel accepted */
    uint64_t dropped;                    /* datagrams not sent (all causes) */
    uint64_t full;                       /* of those: EAGAIN/ENOBUFS (socket or queue full) */
    uint64_t errors;                     /* of those: other per-datagram errors */
    uint64_t syscalls;                   /* sendmmsg calls */
} hc_udp_tx_t;

void hc_udp_tx_init(hc_udp_tx_t *tx);

/* Queue len bytes at buf for *to. Returns 0, -HC_EFULL when the batch holds
 * HC_UDP_TX_BATCH datagrams (flush first), or -HC_EINVAL. */
int hc_udp_tx_add(hc_udp_tx_t *tx, const uint8_t *buf, uint32_t len, const hc_addr_t *to);

/* Send everything queued with sendmmsg (MSG_DONTWAIT), calling again after
 * partial sends. A datagram the kernel refuses (bad address, too big, ...)
 * is counted and skipped; when the socket or device queue is full
 * (EAGAIN/ENOBUFS) the rest of the batch is dropped and counted, never
 * waited for. The batch is empty afterwards. Returns datagrams sent. */
int hc_udp_tx_flush(int fd, hc_udp_tx_t *tx);

#endif
