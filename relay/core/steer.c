/* steer.c - SSRC steering over a SO_REUSEPORT group; see steer.h. */
#include "relay/core/steer.h"

#include "proto/bytes.h"
#include "proto/err.h"
#include "relay/core/udp.h"

#include <errno.h>
#include <linux/filter.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

unsigned hc_steer_classify(const uint8_t *buf, size_t len, unsigned n)
{
    if (n == 0 || !buf || len < 12) return 0;
    uint8_t pt = buf[1];
    uint32_t ssrc = (pt >= 192 && pt <= 223) ? hc_rd32(buf + 4) : hc_rd32(buf + 8);
    return ssrc % n;
}

uint32_t hc_steer_make_ssrc(uint32_t random, unsigned worker, unsigned n)
{
    if (n == 0) return random ? random : 1;
    worker %= n;
    uint32_t base = random - random % n;
    if (base > UINT32_MAX - worker) base -= n; /* stay below 2^32 */
    uint32_t ssrc = base + worker;
    /* SSRC 0 is legal but some stacks treat it as "unset". */
    if (ssrc == 0) ssrc = n;
    return ssrc;
}

int hc_steer_attach(int fd, unsigned n)
{
    if (fd < 0 || n == 0 || n > HC_STEER_MAX) return -HC_EINVAL;
    /* Mirrors hc_steer_classify(); offsets are within the UDP payload. */
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 12, 0, 8), /* short: ret 0 */
        /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 192, 0, 3), /* <192: RTP */
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 223, 2, 0), /* >223: RTP */
        /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),          /* RTCP sender SSRC */
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
        /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8), /* RTP SSRC */
        /* 8 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        /* 9 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* 10 */ BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
        return -HC_EIO;
    return 0;
}

int hc_steer_open(const hc_addr_t *bind_addr, unsigned n, int *fds)
{
    if (!bind_addr || !fds || n == 0 || n > HC_STEER_MAX) return -HC_EINVAL;
    hc_addr_t addr = *bind_addr;
    int rc;

    if (hc_addr_port(&addr) == 0) {
        /* The kernel's port-0 search would happily put us in an existing
         * reuseport group of the same user; take a port alone first. */
        int probe;
        hc_addr_t got;
        if ((rc = hc_udp_open(&addr, 0, &probe)) < 0) return rc;
        rc = hc_udp_local(probe, &got);
        int e = errno;
        close(probe);
        errno = e;
        if (rc < 0) return rc;
        hc_addr_set_port(&addr, hc_addr_port(&got));
    }

    unsigned i;
    for (i = 0; i < n; i++) {
        if ((rc = hc_udp_open(&addr, HC_UDP_REUSEPORT, &fds[i])) < 0) goto fail;
    }
    if ((rc = hc_steer_attach(fds[0], n)) < 0) goto fail;
    return 0;
fail:;
    int e = errno;
    while (i-- > 0) {
        close(fds[i]);
        fds[i] = -1;
    }
    errno = e;
    return rc;
}
