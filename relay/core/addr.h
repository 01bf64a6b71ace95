/*
 * addr.h - a UDP peer address (IPv4 or IPv6 plus port) as one small value.
 *
 * hc_addr_t is what the packet runtime stores per packet (hc_pkt_t.peer),
 * per leg and in peer tables, and what recvmmsg()/sendmmsg() read and write
 * directly through hc_addr_sa(). It is a union of sockaddr_in and
 * sockaddr_in6 (not the whole 128-byte sockaddr_storage: UDP peers are only
 * ever those two, and 32 bytes instead of 132 keep the per-packet header
 * of pool.h near one cache line), plus the socklen that goes with it.
 *
 * Text form: "1.2.3.4:5000" and "[2001:db8::1]:5000" (a scope may follow
 * a link-local v6 address: "[fe80::1%eth0]:5000"). Hosts are numeric only:
 * relay/core never resolves names (that would block a worker).
 *
 * Ownership: plain values, copy freely; nothing to free.
 * Threading: all functions are pure (no shared state).
 */
#ifndef HC_CORE_ADDR_H
#define HC_CORE_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct hc_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len; /* 0 = unset; else sizeof(in4) or sizeof(in6) */
} hc_addr_t;

/* Longest text hc_addr_format() writes, with the NUL ("[v6%scope]:65535"). */
#define HC_ADDR_STRLEN (INET6_ADDRSTRLEN + 16 + 9)

/* Parse "host:port" or "[v6]:port" (numeric host, port 0..65535).
 * Returns 0, or -HC_EINVAL when the text is not such an address. */
int hc_addr_parse(const char *text, hc_addr_t *out);

/* Write the text form with a NUL into buf; returns its length without the
 * NUL, -HC_ENOSPC when cap is too small, -HC_EINVAL for an unset address. */
int hc_addr_format(const hc_addr_t *a, char *buf, size_t cap);

/* Copy a kernel sockaddr in (AF_INET or AF_INET6 only): 0 or -HC_EINVAL. */
int hc_addr_from_sockaddr(hc_addr_t *out, const struct sockaddr *sa, socklen_t len);

/* Same family, address, port (and v6 scope). Unset addresses are equal. */
bool hc_addr_eq(const hc_addr_t *a, const hc_addr_t *b);

/* Hash of what hc_addr_eq() compares. seed: per-table random value so a
 * remote sender cannot aim many addresses at one bucket. Not cryptographic. */
uint32_t hc_addr_hash(const hc_addr_t *a, uint32_t seed);

/* AF_INET, AF_INET6, or AF_UNSPEC for an unset address. */
static inline int hc_addr_family(const hc_addr_t *a)
{
    return a->len ? a->u.sa.sa_family : AF_UNSPEC;
}

/* Port in host order (0 for an unset address). */
uint16_t hc_addr_port(const hc_addr_t *a);
void hc_addr_set_port(hc_addr_t *a, uint16_t port);

/* The sockaddr view for system calls. */
static inline const struct sockaddr *hc_addr_sa(const hc_addr_t *a)
{
    return &a->u.sa;
}

#endif
