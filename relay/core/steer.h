/*
 * steer.h - spread one UDP port over N worker sockets by SSRC.
 *
 * hc-relay listens on a single media port, but each worker thread owns
 * its own sessions and its own socket. The workers' sockets join one
 * SO_REUSEPORT group and a classic BPF program attached to the group
 * (SO_ATTACH_REUSEPORT_CBPF) picks the socket for every datagram from its
 * SSRC, so a packet lands on the worker that owns its stream without any
 * cross-thread hand-off:
 *   - shorter than 12 bytes (not RTP; too short for SRTCP) -> socket 0;
 *   - second byte 192..223: RTCP (RFC 5761 section 4, packet types
 *     FIR..RTPFB/PSFB range) -> sender SSRC, the word at offset 4
 *     (RFC 3550 section 6.4; in the clear under SRTCP, RFC 3711 section 3.4);
 *   - otherwise RTP -> SSRC, the word at offset 8 (RFC 3550 section 5.1;
 *     in the clear under SRTP);
 *   - socket index = SSRC % N.
 * The relay picks every SSRC that travels towards it (publishers' stream
 * SSRCs and the RTCP sender SSRC of each leg) with hc_steer_make_ssrc(), so
 * that SSRC % N is the worker that owns the session. Other traffic on the
 * port (e.g. STUN) lands on whichever worker its bytes select; the owner
 * must pass it on if it cares.
 *
 * Kernel semantics (net/core/sock_reuseport.c): the program sees the UDP
 * payload (offsets start after the UDP header) and returns an index into
 * the group's sockets in the order they joined it, i.e. the order of their
 * bind() calls; an index past the group falls back to the kernel's hash;
 * a load past the end of the datagram ends the program with 0. The program
 * is attached once, to any one socket of the group. Closing a member moves
 * the last member into its place, so steering is only right while the whole
 * group stays open: on shutdown close them all.
 *
 * Ownership: hc_steer_open() returns n fds the caller closes.
 * Threading: all functions are thread-safe (no shared state).
 */
#ifndef HC_CORE_STEER_H
#define HC_CORE_STEER_H

#include "relay/core/addr.h"

#include <stddef.h>
#include <stdint.h>

#define HC_STEER_MAX 1024u /* most workers one group steers to */

/* The worker index a datagram goes to (the same answer as the BPF program). */
unsigned hc_steer_classify(const uint8_t *buf, size_t len, unsigned n);

/* Worker that owns ssrc among n. */
static inline unsigned hc_steer_worker(uint32_t ssrc, unsigned n)
{
    return n ? ssrc % n : 0;
}

/* A nonzero SSRC close to `random` with ssrc % n == worker (worker < n). */
uint32_t hc_steer_make_ssrc(uint32_t random, unsigned worker, unsigned n);

/* Attach the steering program for n sockets to fd, a member of a
 * SO_REUSEPORT group. Returns 0, -HC_EINVAL, or -HC_EIO (errno kept). */
int hc_steer_attach(int fd, unsigned n);

/* Open n sockets (hc_udp_open with HC_UDP_REUSEPORT) on *bind, in order, so
 * fds[i] is worker i's, and attach the program. Port 0 picks a free port
 * first (a port nobody else's group uses). Returns 0, -HC_EINVAL, or
 * -HC_EIO (errno kept; nothing left open). */
int hc_steer_open(const hc_addr_t *bind, unsigned n, int *fds);

#endif
