#include "tools/hc-impair/proxy.h"

#include "proto/err.h"
#include "tools/hc-impair/link.h"
#include "tools/hc-impair/pool.h"
#include "tools/hc-impair/report.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define BATCH         32 /* datagrams per recvmmsg / sendmmsg */
#define READ_ROUNDS   8  /* batches read per wakeup per socket, for fairness */
#define SOCK_BUF      (4 << 20)
#define IDLE_CHECK_US 1000000ull
#define REPORT_MAX    8192

enum { EV_LISTEN, EV_UP, EV_TIMER, EV_SIGNAL };
enum { UP = 0, DOWN = 1 };

typedef struct client {
    bool used;
    uint16_t gen;
    int fd;
    struct sockaddr_storage addr;
    socklen_t alen;
    uint64_t last_us;
} client_t;

typedef struct proxy {
    const hc_imp_config_t *cfg;
    int ep, lfd, tfd, sfd;
    client_t *cl;
    uint32_t ncl_used;
    uint32_t last_hit;
    hc_imp_pool_t *pool;
    hc_imp_link_t *link[2];
    struct timespec t0;
    uint64_t armed;
    bool armed_valid;
    uint64_t next_idle;
    size_t next_step;
    uint32_t rebinds;
    bool stop;
    uint8_t *scratch;
} proxy_t;

static uint64_t now_us(const proxy_t *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t s = (int64_t)ts.tv_sec - (int64_t)p->t0.tv_sec;
    int64_t ns = (int64_t)ts.tv_nsec - (int64_t)p->t0.tv_nsec;
    int64_t us = s * 1000000 + ns / 1000;
    return us < 0 ? 0 : (uint64_t)us;
}

static uint64_t ev_data(int kind, uint32_t idx)
{
    return (uint64_t)kind << 32 | idx;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0 &&
               x->sin6_scope_id == y->sin6_scope_id;
    }
    return false;
}

static void sock_bufs(int fd)
{
    int v = SOCK_BUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

/* A connected upstream socket towards the target, registered with epoll. */
static int upstream_socket(proxy_t *p, uint32_t idx)
{
    int fd = socket(p->cfg->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sock_bufs(fd);
    if (connect(fd, (const struct sockaddr *)&p->cfg->target, p->cfg->target_len) < 0) {
        close(fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ev_data(EV_UP, idx)};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void client_drop(proxy_t *p, uint32_t i)
{
    client_t *c = &p->cl[i];
    epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->used = false;
    c->gen++;
    p->ncl_used--;
}

static uint32_t tag_of(const proxy_t *p, uint32_t i)
{
    return (uint32_t)p->cl[i].gen << 16 | i;
}

/* Client of a tag, or NULL when it expired since. */
static client_t *client_of_tag(proxy_t *p, uint32_t tag)
{
    uint32_t i = tag & 0xffff;
    if (i >= p->cfg->max_clients) return NULL;
    client_t *c = &p->cl[i];
    return c->used && c->gen == (tag >> 16) ? c : NULL;
}

/* Index of the client with this address, creating it; -1 when the table is
 * full or no socket could be made. */
static int64_t client_find(proxy_t *p, const struct sockaddr_storage *a, socklen_t alen,
                           uint64_t now)
{
    uint32_t n = p->cfg->max_clients;
    if (p->cl[p->last_hit].used && same_addr(&p->cl[p->last_hit].addr, a)) return p->last_hit;
    int64_t free_i = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (p->cl[i].used) {
            if (same_addr(&p->cl[i].addr, a)) return p->last_hit = i;
        } else if (free_i < 0) {
            free_i = i;
        }
    }
    if (free_i < 0) return -1;
    int fd = upstream_socket(p, (uint32_t)free_i);
    if (fd < 0) return -1;
    client_t *c = &p->cl[free_i];
    c->used = true;
    c->fd = fd;
    c->addr = *a;
    c->alen = alen;
    c->last_us = now;
    p->ncl_used++;
    return p->last_hit = (uint32_t)free_i;
}

static void count_in_drop(proxy_t *p, int dir, uint32_t len, hc_imp_drop_t why)
{
    hc_imp_stats_t *st = hc_imp_link_stats(p->link[dir]);
    st->pkts_in++;
    st->bytes_in += len;
    st->drop[why]++;
}

/* Read datagrams: up from the listen socket, down from client cidx's upstream socket. */
static void read_socket(proxy_t *p, int fd, int dir, uint32_t cidx)
{
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage names[BATCH];
    uint32_t slots[BATCH];
    for (int round = 0; round < READ_ROUNDS; round++) {
        uint32_t want = hc_imp_pool_free_count(p->pool);
        if (want > BATCH) want = BATCH;
        if (want == 0) {
            /* out of slots: still drain the socket, and say so */
            ssize_t r = recv(fd, p->scratch, 65536, MSG_DONTWAIT | MSG_TRUNC);
            if (r < 0) return;
            count_in_drop(p, dir, (uint32_t)r, HC_IMP_DROP_NOBUF);
            continue;
        }
        for (uint32_t i = 0; i < want; i++) {
            slots[i] = (uint32_t)hc_imp_pool_get(p->pool);
            iov[i].iov_base = hc_imp_pool_data(p->pool, slots[i]);
            iov[i].iov_len = HC_IMP_SLOT_SIZE;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if (dir == UP) {
                msgs[i].msg_hdr.msg_name = &names[i];
                msgs[i].msg_hdr.msg_namelen = sizeof names[i];
            }
        }
        int n = recvmmsg(fd, msgs, want, MSG_DONTWAIT | MSG_TRUNC, NULL);
        uint64_t now = now_us(p);
        int got = n < 0 ? 0 : n;
        for (int i = 0; i < got; i++) {
            uint32_t len = msgs[i].msg_len;
            if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > HC_IMP_SLOT_SIZE) {
                count_in_drop(p, dir, len, HC_IMP_DROP_OVERSIZE);
                hc_imp_pool_put(p->pool, slots[i]);
                continue;
            }
            uint32_t ci = cidx;
            if (dir == UP) {
                int64_t f = client_find(p, &names[i], msgs[i].msg_hdr.msg_namelen, now);
                if (f < 0) {
                    count_in_drop(p, dir, len, HC_IMP_DROP_NOROUTE);
                    hc_imp_pool_put(p->pool, slots[i]);
                    continue;
                }
                ci = (uint32_t)f;
            }
            p->cl[ci].last_us = now;
            hc_imp_pool_set_tag(p->pool, slots[i], tag_of(p, ci));
            hc_imp_link_submit(p->link[dir], now, slots[i], len);
        }
        for (uint32_t i = (uint32_t)got; i < want; i++) hc_imp_pool_put(p->pool, slots[i]);
        if (n < (int)want) return; /* drained (or an error such as ECONNREFUSED) */
    }
}

static void unsend(proxy_t *p, int dir, uint32_t len, hc_imp_drop_t why)
{
    hc_imp_stats_t *st = hc_imp_link_stats(p->link[dir]);
    st->pkts_out--;
    st->bytes_out -= len;
    st->drop[why]++;
}

/* sendmmsg msgs[0..n) on fd; failures are counted, slots put back. */
static void send_run(proxy_t *p, int dir, int fd, struct mmsghdr *msgs, const hc_imp_pkt_t *pk,
                     int n)
{
    int i = 0;
    while (i < n) {
        int r = sendmmsg(fd, msgs + i, (unsigned)(n - i), MSG_DONTWAIT);
        if (r <= 0) {
            unsend(p, dir, pk[i].len, HC_IMP_DROP_SEND);
            i++;
        } else {
            i += r;
        }
    }
    for (int k = 0; k < n; k++) hc_imp_pool_put(p->pool, pk[k].slot);
}

static void flush_dir(proxy_t *p, int dir, uint64_t now)
{
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    hc_imp_pkt_t pk[BATCH];
    int fds[BATCH];
    for (;;) {
        int n = 0;
        while (n < BATCH && hc_imp_link_poll(p->link[dir], now, &pk[n])) {
            client_t *c = client_of_tag(p, hc_imp_pool_tag(p->pool, pk[n].slot));
            if (!c) {
                unsend(p, dir, pk[n].len, HC_IMP_DROP_NOROUTE);
                hc_imp_pool_put(p->pool, pk[n].slot);
                continue;
            }
            iov[n].iov_base = hc_imp_pool_data(p->pool, pk[n].slot);
            iov[n].iov_len = pk[n].len;
            memset(&msgs[n], 0, sizeof msgs[n]);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            if (dir == DOWN) {
                msgs[n].msg_hdr.msg_name = &c->addr;
                msgs[n].msg_hdr.msg_namelen = c->alen;
                fds[n] = p->lfd;
            } else {
                fds[n] = c->fd;
            }
            n++;
        }
        if (n == 0) return;
        /* runs of the same socket go out in one sendmmsg */
        int s = 0;
        for (int i = 1; i <= n; i++) {
            if (i == n || fds[i] != fds[s]) {
                send_run(p, dir, fds[s], msgs + s, pk + s, i - s);
                s = i;
            }
        }
        if (n < BATCH) return;
    }
}

static void rebind(proxy_t *p)
{
    for (uint32_t i = 0; i < p->cfg->max_clients; i++) {
        client_t *c = &p->cl[i];
        if (!c->used) continue;
        /* make the new socket before closing the old: its port must differ */
        int fd = upstream_socket(p, i);
        if (fd < 0) {
            fprintf(stderr, "hc-impair: rebind: cannot create a socket: %s\n", strerror(errno));
            continue;
        }
        epoll_ctl(p->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = fd;
    }
    p->rebinds++;
}

static void make_report(proxy_t *p, hc_imp_report_t *r)
{
    r->elapsed_s = (double)now_us(p) / 1e6;
    r->seed = p->cfg->seed;
    r->clients = p->ncl_used;
    r->rebinds = p->rebinds;
    for (int d = 0; d < 2; d++) {
        r->dir[d] = hc_imp_link_stats(p->link[d]);
        r->inflight[d] = hc_imp_link_inflight(p->link[d]);
    }
}

static void report(proxy_t *p)
{
    hc_imp_report_t r;
    make_report(p, &r);
    char json[REPORT_MAX];
    int n = hc_imp_report_json(&r, json, sizeof json);
    hc_imp_report_text(&r, stderr);
    if (n < 0) return;
    printf("%s\n", json);
    fflush(stdout);
    const char *path = p->cfg->report_path;
    if (!path) return;
    /* write then rename: a reader never sees half a report */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", json) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "hc-impair: cannot write report '%s': %s\n", path, strerror(errno));
        return;
    }
}

static void run_steps(proxy_t *p, uint64_t now)
{
    const hc_imp_script_t *s = &p->cfg->steps;
    while (p->next_step < s->n && s->steps[p->next_step].at_us <= now) {
        const hc_imp_step_t *st = &s->steps[p->next_step++];
        switch (st->kind) {
        case HC_IMP_STEP_SPEC:
            if (st->dirs & HC_IMP_DIR_UP) hc_imp_link_apply(p->link[UP], &st->spec, now);
            if (st->dirs & HC_IMP_DIR_DOWN) hc_imp_link_apply(p->link[DOWN], &st->spec, now);
            break;
        case HC_IMP_STEP_REBIND: rebind(p); break;
        case HC_IMP_STEP_END: p->stop = true; break;
        }
    }
}

static void expire_idle(proxy_t *p, uint64_t now)
{
    if (now < p->next_idle) return;
    p->next_idle = now + IDLE_CHECK_US;
    for (uint32_t i = 0; i < p->cfg->max_clients; i++)
        if (p->cl[i].used && now > p->cl[i].last_us && now - p->cl[i].last_us > p->cfg->idle_us)
            client_drop(p, i);
}

static void arm_timer(proxy_t *p)
{
    uint64_t t = hc_imp_link_next(p->link[UP]);
    uint64_t d = hc_imp_link_next(p->link[DOWN]);
    if (d < t) t = d;
    const hc_imp_script_t *s = &p->cfg->steps;
    if (p->next_step < s->n && s->steps[p->next_step].at_us < t) t = s->steps[p->next_step].at_us;
    if (p->cfg->duration_us && p->cfg->duration_us < t) t = p->cfg->duration_us;
    if (p->ncl_used && p->next_idle < t) t = p->next_idle;
    if (p->armed_valid && t == p->armed) return;
    p->armed = t;
    p->armed_valid = true;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (t != UINT64_MAX) {
        uint64_t ns = (uint64_t)p->t0.tv_nsec + (t % 1000000) * 1000;
        its.it_value.tv_sec = p->t0.tv_sec + (time_t)(t / 1000000) + (time_t)(ns / 1000000000);
        its.it_value.tv_nsec = (long)(ns % 1000000000);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    }
    timerfd_settime(p->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int setup(proxy_t *p, const hc_imp_config_t *cfg)
{
    p->cfg = cfg;
    p->ep = p->lfd = p->tfd = p->sfd = -1;
    clock_gettime(CLOCK_MONOTONIC, &p->t0);
    p->next_idle = IDLE_CHECK_US;
    p->cl = calloc(cfg->max_clients, sizeof *p->cl);
    p->scratch = malloc(65536);
    if (!p->cl || !p->scratch || hc_imp_pool_new(&p->pool, cfg->slots, HC_IMP_SLOT_SIZE) < 0) {
        fprintf(stderr, "hc-impair: out of memory (%u slots of %d bytes)\n", cfg->slots,
                HC_IMP_SLOT_SIZE);
        return -1;
    }
    /* each ring can hold every slot twice over (duplicates share a slot) */
    for (int d = 0; d < 2; d++) {
        uint64_t seed = cfg->seed * 2 + (uint64_t)d;
        if (hc_imp_link_new(&p->link[d], (size_t)cfg->slots * 2, seed, p->pool, 0) < 0) {
            fprintf(stderr, "hc-impair: out of memory for the links\n");
            return -1;
        }
    }
    for (size_t i = 0; i < cfg->initial.n; i++) {
        const hc_imp_step_t *st = &cfg->initial.steps[i];
        if (st->dirs & HC_IMP_DIR_UP) hc_imp_link_apply(p->link[UP], &st->spec, 0);
        if (st->dirs & HC_IMP_DIR_DOWN) hc_imp_link_apply(p->link[DOWN], &st->spec, 0);
    }
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    p->lfd = socket(cfg->listen.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->ep < 0 || p->lfd < 0) {
        fprintf(stderr, "hc-impair: socket: %s\n", strerror(errno));
        return -1;
    }
    sock_bufs(p->lfd);
    if (bind(p->lfd, (const struct sockaddr *)&cfg->listen, cfg->listen_len) < 0) {
        fprintf(stderr, "hc-impair: cannot bind the --listen address: %s\n", strerror(errno));
        return -1;
    }
    /* a reader that went away (e.g. `| head -1` for the port) must not kill us */
    signal(SIGPIPE, SIG_IGN);
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    p->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->sfd < 0 || p->tfd < 0) {
        fprintf(stderr, "hc-impair: signalfd/timerfd: %s\n", strerror(errno));
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ev_data(EV_LISTEN, 0);
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->lfd, &ev);
    ev.data.u64 = ev_data(EV_TIMER, 0);
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->tfd, &ev);
    ev.data.u64 = ev_data(EV_SIGNAL, 0);
    epoll_ctl(p->ep, EPOLL_CTL_ADD, p->sfd, &ev);
    if (cfg->print_port) {
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        getsockname(p->lfd, (struct sockaddr *)&a, &al);
        unsigned port = a.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&a)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&a)->sin_port);
        printf("%u\n", port);
        fflush(stdout);
    }
    return 0;
}

static void teardown(proxy_t *p)
{
    if (p->cl) {
        for (uint32_t i = 0; i < p->cfg->max_clients; i++)
            if (p->cl[i].used) close(p->cl[i].fd);
    }
    for (int d = 0; d < 2; d++) hc_imp_link_destroy(&p->link[d]);
    hc_imp_pool_destroy(&p->pool);
    free(p->cl);
    free(p->scratch);
    if (p->lfd >= 0) close(p->lfd);
    if (p->tfd >= 0) close(p->tfd);
    if (p->sfd >= 0) close(p->sfd);
    if (p->ep >= 0) close(p->ep);
}

int hc_imp_run(const hc_imp_config_t *cfg)
{
    proxy_t p;
    memset(&p, 0, sizeof p);
    if (setup(&p, cfg) < 0) {
        teardown(&p);
        return 1;
    }
    while (!p.stop) {
        uint64_t now = now_us(&p);
        run_steps(&p, now);
        flush_dir(&p, UP, now);
        flush_dir(&p, DOWN, now);
        expire_idle(&p, now);
        if (cfg->duration_us && now >= cfg->duration_us) break;
        if (p.stop) break;
        arm_timer(&p);
        struct epoll_event evs[16];
        int n = epoll_wait(p.ep, evs, 16, -1);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "hc-impair: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
            uint32_t idx = (uint32_t)evs[i].data.u64;
            if (kind == EV_LISTEN) {
                read_socket(&p, p.lfd, UP, 0);
            } else if (kind == EV_UP) {
                if (idx < cfg->max_clients && p.cl[idx].used)
                    read_socket(&p, p.cl[idx].fd, DOWN, idx);
            } else if (kind == EV_TIMER) {
                uint64_t exp;
                (void)!read(p.tfd, &exp, sizeof exp);
                p.armed_valid = false; /* re-arm even if the next time is the same */
            } else if (kind == EV_SIGNAL) {
                struct signalfd_siginfo si;
                while (read(p.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (si.ssi_signo == SIGUSR1)
                        report(&p);
                    else
                        p.stop = true;
                }
            }
        }
    }
    report(&p);
    teardown(&p);
    return 0;
}
