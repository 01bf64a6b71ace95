/*
 * proxy.h - the UDP side of hc-impair: sockets, client table, event loop.
 *
 * Datagrams from a client to the listen socket go to the target from an
 * upstream socket of that client ("up"); datagrams the target sends back to
 * that upstream socket go to the client from the listen socket ("down"),
 * like a NAT with one mapping per client address. The table is bounded
 * (max_clients) and a client idle in both directions for idle_us is
 * forgotten. A rebind step gives every client a fresh upstream socket (new
 * source port), as when a carrier NAT changes a modem's public address.
 *
 * Loop: one thread, epoll on the sockets, a signalfd (SIGINT/SIGTERM stop,
 * SIGUSR1 prints a report) and a timerfd armed with microsecond resolution on
 * CLOCK_MONOTONIC for the next departure or step. Datagrams are read with
 * recvmmsg straight into pool slots and sent with sendmmsg. Slots are 2048
 * bytes: larger datagrams (up to 65535) are counted as "oversize" drops. When
 * the pool is empty, datagrams are read into a scratch buffer and counted as
 * "nobuf" drops. Nothing is allocated per packet and nothing is logged per
 * packet.
 *
 * Ownership: hc_imp_run() borrows the config (and the traces in its steps)
 * for the duration of the run. Threading: call from one thread; it blocks
 * SIGINT, SIGTERM and SIGUSR1 in the calling thread.
 */
#ifndef HC_IMPAIR_PROXY_H
#define HC_IMPAIR_PROXY_H

#include "tools/hc-impair/script.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define HC_IMP_SLOT_SIZE 2048

typedef struct hc_imp_config {
    struct sockaddr_storage listen;
    socklen_t listen_len;
    struct sockaddr_storage target;
    socklen_t target_len;
    bool print_port;
    hc_imp_script_t initial; /* --up/--down/--both, applied at start in order */
    hc_imp_script_t steps;   /* --script and --step, sorted by time */
    uint64_t seed;
    uint64_t duration_us; /* 0 = until a signal or an end step */
    const char *report_path;
    uint32_t max_clients;
    uint64_t idle_us;
    uint32_t slots;
} hc_imp_config_t;

/* Run until the duration, an end step or SIGINT/SIGTERM. Returns the process
 * exit status: 0, or 1 when the sockets could not be set up (message on
 * stderr). */
int hc_imp_run(const hc_imp_config_t *cfg);

#endif
