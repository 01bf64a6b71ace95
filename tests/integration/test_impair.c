/*
 * Integration test of hc-impair: the real binary, started as a subprocess,
 * with real UDP sockets on loopback. Checks that it does what it is asked
 * (loss, delay, rate, outage, rebind, trace replay) and that its JSON report
 * tells the truth about it.
 */
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 32

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A nonblocking UDP socket on 127.0.0.1 with a free port. */
static int udp_socket(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(fd, 0);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    *port = ntohs(a.sin_port);
    return fd;
}

typedef struct impair {
    pid_t pid;
    int out; /* child's stdout */
    uint16_t port;
    uint64_t t_ready; /* when it printed its port: its clock started just before */
    char report[256];
} impair_t;

static void impair_path(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/hc-impair", hc_test_bin_dir());
}

/* Start hc-impair towards target_port with extra arguments (NULL-terminated). */
static void impair_start(impair_t *m, uint16_t target_port, const char *const *extra)
{
    static int serial;
    char bin[4096], target[64];
    impair_path(bin, sizeof bin);
    snprintf(target, sizeof target, "127.0.0.1:%u", target_port);
    snprintf(m->report, sizeof m->report, "/tmp/hc-impair-test-%d-%d.json", (int)getpid(),
             serial++);
    unlink(m->report);
    const char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--target";
    argv[n++] = target;
    argv[n++] = "--print-port";
    argv[n++] = "--report";
    argv[n++] = m->report;
    for (int i = 0; extra && extra[i]; i++) {
        ck_assert_int_lt(n, MAX_ARGS - 1);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    m->pid = fork();
    ck_assert_int_ge(m->pid, 0);
    if (m->pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    m->out = pfd[0];
    /* first line of stdout: the port */
    char line[32];
    size_t len = 0;
    uint64_t deadline = mono_us() + 10000000;
    while (len < sizeof line - 1) {
        struct pollfd p = {.fd = m->out, .events = POLLIN};
        int left = (int)((deadline - mono_us()) / 1000);
        ck_assert_msg(left > 0 && poll(&p, 1, left) == 1, "hc-impair did not print its port");
        ssize_t r = read(m->out, line + len, 1);
        ck_assert_msg(r == 1, "hc-impair exited before printing its port");
        if (line[len] == '\n') break;
        len++;
    }
    line[len] = 0;
    m->t_ready = mono_us();
    m->port = (uint16_t)atoi(line);
    ck_assert_msg(m->port > 0, "bad port line '%s'", line);
}

/* Read one line of the child's stdout (the JSON report) within 5 s. */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    uint64_t deadline = mono_us() + 5000000;
    while (len + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = (int)((deadline - mono_us()) / 1000);
        if (left <= 0 || poll(&p, 1, left) != 1) return -1;
        if (read(fd, buf + len, 1) != 1) return -1;
        if (buf[len] == '\n') break;
        len++;
    }
    buf[len] = 0;
    return (int)len;
}

/* SIGTERM, wait, and load the report it wrote. */
static json_t *impair_stop(impair_t *m)
{
    kill(m->pid, SIGTERM);
    int st = 0;
    ck_assert_int_eq(waitpid(m->pid, &st, 0), m->pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "hc-impair exit status %d", st);
    char line[8192];
    ck_assert_int_gt(read_line(m->out, line, sizeof line), 0);
    ck_assert_msg(strncmp(line, "{\"impair\":", 10) == 0, "last stdout line '%s'", line);
    close(m->out);
    json_error_t je;
    json_t *r = json_load_file(m->report, 0, &je);
    ck_assert_msg(r != NULL, "report %s: %s", m->report, je.text);
    unlink(m->report);
    json_t *line_json = json_loads(line, 0, &je);
    ck_assert_msg(line_json != NULL, "stdout JSON: %s", je.text);
    ck_assert(json_equal(r, line_json));
    json_decref(line_json);
    return r;
}

static long long rep(json_t *r, const char *dir, const char *k1, const char *k2)
{
    json_t *v = json_object_get(json_object_get(json_object_get(r, "impair"), dir), k1);
    if (k2) v = json_object_get(v, k2);
    ck_assert_msg(json_is_number(v), "report lacks %s.%s%s%s", dir, k1, k2 ? "." : "",
                  k2 ? k2 : "");
    return (long long)json_number_value(v);
}

static double rep_f(json_t *r, const char *dir, const char *k1, const char *k2)
{
    json_t *v = json_object_get(json_object_get(json_object_get(r, "impair"), dir), k1);
    if (k2) v = json_object_get(v, k2);
    ck_assert(json_is_number(v));
    return json_number_value(v);
}

/* One packet's fate. */
typedef struct rec {
    int got, echoed;
    uint64_t sent, recv, echo;
    uint16_t src_port;
} rec_t;

typedef struct flow {
    int cfd, tfd; /* client and target sockets */
    uint16_t impair_port;
    uint32_t n, len;
    uint64_t gap_us, drain_us;
    int echo; /* the target echoes every packet */
    rec_t *r;
    uint64_t t_start;
} flow_t;

static void flow_init(flow_t *f, uint32_t n, uint64_t gap_us, uint32_t len)
{
    memset(f, 0, sizeof *f);
    uint16_t p;
    f->cfd = udp_socket(&p);
    f->tfd = udp_socket(&p);
    f->n = n;
    f->gap_us = gap_us;
    f->len = len;
    f->drain_us = 500000;
    f->r = calloc(n, sizeof *f->r);
    ck_assert_ptr_nonnull(f->r);
}

static uint16_t target_port(const flow_t *f)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    getsockname(f->tfd, (struct sockaddr *)&a, &al);
    return ntohs(a.sin_port);
}

static void flow_fini(flow_t *f)
{
    close(f->cfd);
    close(f->tfd);
    free(f->r);
}

/* Send n packets, gap_us apart, receive at the target (and echoes at the
 * client) until drain_us after the last one. One thread, ppoll. */
static void flow_run(flow_t *f)
{
    uint8_t buf[2048];
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(f->impair_port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint32_t next = 0;
    uint64_t end = 0;
    f->t_start = mono_us();
    memset(buf, 0xa5, sizeof buf);
    for (;;) {
        uint64_t now = mono_us();
        while (next < f->n && now >= f->t_start + next * f->gap_us) {
            memcpy(buf, &next, 4);
            ssize_t s = sendto(f->cfd, buf, f->len, 0, (struct sockaddr *)&dst, sizeof dst);
            ck_assert_int_eq(s, (ssize_t)f->len);
            f->r[next++].sent = now;
        }
        if (next == f->n && !end) end = now + f->drain_us;
        if (end && now >= end) break;
        uint64_t wake = next < f->n ? f->t_start + next * f->gap_us : end;
        uint64_t wait = wake > now ? wake - now : 0;
        struct timespec ts = {.tv_sec = (time_t)(wait / 1000000),
                              .tv_nsec = (long)(wait % 1000000) * 1000};
        struct pollfd p[2] = {{.fd = f->tfd, .events = POLLIN}, {.fd = f->cfd, .events = POLLIN}};
        ppoll(p, 2, &ts, NULL);
        for (;;) {
            struct sockaddr_in src;
            socklen_t sl = sizeof src;
            ssize_t r =
                recvfrom(f->tfd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&src, &sl);
            if (r < 4) break;
            uint32_t seq;
            memcpy(&seq, buf, 4);
            if (seq >= f->n || f->r[seq].got) continue;
            f->r[seq].got = 1;
            f->r[seq].recv = mono_us();
            f->r[seq].src_port = ntohs(src.sin_port);
            if (f->echo) sendto(f->tfd, buf, (size_t)r, 0, (struct sockaddr *)&src, sl);
        }
        for (;;) {
            ssize_t r = recv(f->cfd, buf, sizeof buf, MSG_DONTWAIT);
            if (r < 4) break;
            uint32_t seq;
            memcpy(&seq, buf, 4);
            if (seq >= f->n || f->r[seq].echoed) continue;
            f->r[seq].echoed = 1;
            f->r[seq].echo = mono_us();
        }
    }
}

static uint32_t received(const flow_t *f)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < f->n; i++) n += (uint32_t)f->r[i].got;
    return n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median one-way delay in us of the packets that arrived. */
static double median_delay(const flow_t *f)
{
    uint64_t *d = calloc(f->n, sizeof *d);
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (f->r[i].got) d[k++] = f->r[i].recv - f->r[i].sent;
    ck_assert_uint_gt(k, 0);
    qsort(d, k, sizeof *d, cmp_u64);
    double m = (double)d[k / 2];
    free(d);
    return m;
}

/* Run hc-impair with args; returns exit status, stderr in err. */
static int run_capture(const char *const *args, char *err, size_t cap)
{
    char bin[4096];
    impair_path(bin, sizeof bin);
    const char *argv[MAX_ARGS];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args[i]; i++) argv[n++] = args[i];
    argv[n] = NULL;
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 2);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(pfd[0], err + len, cap - 1 - len)) > 0) len += (size_t)r;
    err[len] = 0;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_usage(const char *const *args, const char *needle)
{
    char err[4096];
    int rc = run_capture(args, err, sizeof err);
    ck_assert_msg(rc == 2, "exit %d for '%s' (stderr: %s)", rc, args[0], err);
    ck_assert_msg(strstr(err, needle) != NULL, "stderr '%s' does not mention '%s'", err, needle);
}

START_TEST(bad_flags_exit_2)
{
    expect_usage((const char *[]){"--bogus-flag", NULL}, "--bogus-flag");
    expect_usage((const char *[]){"--target", "127.0.0.1:9", NULL}, "--listen");
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "localhost", NULL},
                 "localhost");
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--up",
                                  "delay=abc", NULL},
                 "delay=abc");
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--both",
                                  "speed=1mbit", NULL},
                 "speed");
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--step",
                                  "at 1s sideways rate=1mbit", NULL},
                 "sideways");
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--seed",
                                  "x1", NULL},
                 "--seed");
    expect_usage(
        (const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--up", NULL},
        "--up");
    /* a script error names the file and the line */
    char path[] = "/tmp/hc-impair-script-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "at 1s up delay=10ms\nat 2s up rate=quick\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    char where[128];
    snprintf(where, sizeof where, "%s:2:", path);
    expect_usage((const char *[]){"--listen", "127.0.0.1:0", "--target", "127.0.0.1:9", "--script",
                                  path, NULL},
                 where);
    unlink(path);
    char err[4096];
    ck_assert_int_eq(run_capture((const char *[]){"--help", NULL}, err, sizeof err), 0);
}
END_TEST

START_TEST(loss_rate_and_honest_report)
{
    flow_t f;
    flow_init(&f, 2000, 500, 200);
    impair_t m;
    impair_start(&m, target_port(&f), (const char *[]){"--up", "loss=20%", "--seed", "5", NULL});
    f.impair_port = m.port;
    flow_run(&f);
    /* SIGUSR1 prints a report line without stopping */
    kill(m.pid, SIGUSR1);
    char line[8192];
    ck_assert_int_gt(read_line(m.out, line, sizeof line), 0);
    ck_assert_ptr_nonnull(strstr(line, "\"up\":{\"pkts_in\":2000,"));
    json_t *r = impair_stop(&m);
    uint32_t got = received(&f);
    double loss = 1.0 - got / 2000.0;
    ck_assert_msg(fabs(loss - 0.20) < 0.035, "loss %.3f", loss);
    ck_assert_int_eq(rep(r, "up", "pkts_in", NULL), 2000);
    ck_assert_int_eq(rep(r, "up", "bytes_in", NULL), 2000 * 200);
    ck_assert_int_eq(rep(r, "up", "pkts_out", NULL), got);
    ck_assert_int_eq(rep(r, "up", "dropped", "loss") + got, 2000);
    ck_assert_int_eq(rep(r, "up", "dropped_total", NULL), rep(r, "up", "dropped", "loss"));
    ck_assert_int_eq(rep(r, "up", "inflight", NULL), 0);
    ck_assert_int_eq(rep(r, "down", "pkts_in", NULL), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "impair"), "seed")), 5);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

START_TEST(delay_median)
{
    /* base: the same path with no impairment */
    flow_t f;
    flow_init(&f, 60, 5000, 100);
    f.drain_us = 200000;
    impair_t m;
    impair_start(&m, target_port(&f), NULL);
    f.impair_port = m.port;
    flow_run(&f);
    json_decref(impair_stop(&m));
    ck_assert_uint_eq(received(&f), 60);
    double base = median_delay(&f);
    flow_fini(&f);

    flow_init(&f, 150, 10000, 100);
    impair_start(&m, target_port(&f), (const char *[]){"--up", "delay=30ms", NULL});
    f.impair_port = m.port;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    ck_assert_uint_eq(received(&f), 150);
    double med = median_delay(&f);
    ck_assert_msg(fabs(med - (30000 + base)) <= 3000, "median %.0f us, base %.0f us", med, base);
    /* nothing arrives early */
    for (uint32_t i = 0; i < f.n; i++) ck_assert_uint_ge(f.r[i].recv - f.r[i].sent, 29900);
    ck_assert_int_eq(rep(r, "up", "pkts_out", NULL), 150);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

START_TEST(rate_limit_1mbit)
{
    /* offer 2 Mbit/s (1000 B every 4 ms) for 3 s into a 1 Mbit/s link */
    flow_t f;
    flow_init(&f, 750, 4000, 1000);
    f.drain_us = 100000;
    impair_t m;
    impair_start(&m, target_port(&f), (const char *[]){"--up", "rate=1mbit", NULL});
    f.impair_port = m.port;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    /* delivered rate over [0.5 s, 3.0 s] of the run, by arrival time */
    uint64_t a = f.t_start + 500000, b = f.t_start + 3000000, bytes = 0;
    for (uint32_t i = 0; i < f.n; i++)
        if (f.r[i].got && f.r[i].recv >= a && f.r[i].recv < b) bytes += f.len;
    double kbit = (double)bytes * 8 / 2.5 / 1000;
    ck_assert_msg(fabs(kbit - 1000) <= 100, "delivered %.0f kbit/s", kbit);
    ck_assert_int_gt(rep(r, "up", "dropped", "queue"), 0);
    ck_assert_int_eq(rep(r, "up", "pkts_out", NULL), received(&f));
    /* the queue delay is the default 300 ms limit at 1 Mbit/s, give or take a packet */
    double p95 = rep_f(r, "up", "qdelay_ms", "p95");
    ck_assert_msg(p95 > 250 && p95 < 320, "queue delay p95 %.1f ms", p95);
    ck_assert_int_eq(rep(r, "up", "dropped", "queue") + rep(r, "up", "pkts_out", NULL) +
                         rep(r, "up", "inflight", NULL),
                     750);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

START_TEST(outage_step)
{
    flow_t f;
    flow_init(&f, 300, 10000, 100);
    f.drain_us = 200000;
    impair_t m;
    impair_start(&m, target_port(&f), (const char *[]){"--step", "at 1s up outage 1s", NULL});
    f.impair_port = m.port;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    uint32_t lost = 0;
    for (uint32_t i = 0; i < f.n; i++) {
        int64_t at =
            (int64_t)f.r[i].sent - (int64_t)m.t_ready; /* on the emulator's clock, roughly */
        if (f.r[i].got) {
            ck_assert_msg(at < 1000000 || at >= 1950000, "packet sent at %lld ms crossed",
                          (long long)at / 1000);
        } else {
            lost++;
            ck_assert_msg(at >= 900000 && at < 2100000, "packet sent at %lld ms lost",
                          (long long)at / 1000);
        }
    }
    ck_assert_msg(lost >= 90 && lost <= 110, "lost %u", lost);
    ck_assert_int_eq(rep(r, "up", "dropped", "outage"), lost);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

START_TEST(rebind_changes_source_port)
{
    flow_t f;
    flow_init(&f, 100, 20000, 100);
    f.echo = 1;
    f.drain_us = 300000;
    impair_t m;
    impair_start(&m, target_port(&f), (const char *[]){"--step", "at 1s rebind", NULL});
    f.impair_port = m.port;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    ck_assert_uint_eq(received(&f), 100);
    uint16_t first = f.r[0].src_port, second = 0;
    uint32_t after_echoes = 0, after = 0;
    for (uint32_t i = 0; i < f.n; i++) {
        int64_t at = (int64_t)f.r[i].sent - (int64_t)m.t_ready;
        if (f.r[i].src_port != first) {
            if (!second) second = f.r[i].src_port;
            ck_assert_uint_eq(f.r[i].src_port, second); /* exactly two addresses */
            ck_assert_msg(at > 900000, "new port already at %lld ms", (long long)at / 1000);
        } else {
            ck_assert_msg(at < 1100000, "old port still at %lld ms", (long long)at / 1000);
        }
        if (at > 1100000) {
            after++;
            after_echoes += (uint32_t)f.r[i].echoed;
        }
    }
    ck_assert_msg(second != 0 && second != first, "the target never saw a new source port");
    /* the target answers the new address and the replies reach the client */
    ck_assert_uint_gt(after, 30);
    ck_assert_uint_eq(after_echoes, after);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "impair"), "rebinds")),
                     1);
    ck_assert_int_eq(rep(r, "down", "pkts_out", NULL), 100);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

/* Opportunities of a Mahimahi trace with a time in [from_ms, to_ms). */
static long count_trace(const char *path, long from_ms, long to_ms)
{
    FILE *fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    long n = 0, t;
    while (fscanf(fp, "%ld", &t) == 1) n += t >= from_ms && t < to_ms;
    fclose(fp);
    return n;
}

START_TEST(trace_replay_att)
{
    const char *dir = hc_test_traces_dir();
    char path[4096];
    if (dir) snprintf(path, sizeof path, "%s/att-lte-driving-2016.up", dir);
    if (!dir || access(path, R_OK) != 0) {
        printf("integration_impair: traces absent, trace replay skipped\n");
        return;
    }
    char spec[4200];
    snprintf(spec, sizeof spec, "trace=%s scale=0.25", path);
    /* offer 8 Mbit/s for 4 s: the first seconds of this trace peak at about
     * 14 Mbit/s (3.5 Mbit/s at scale 0.25), so the queue never runs dry and
     * every opportunity is used */
    flow_t f;
    flow_init(&f, 4000, 1000, 1000);
    f.drain_us = 100000;
    impair_t m;
    impair_start(&m, target_port(&f), (const char *[]){"--up", spec, NULL});
    f.impair_port = m.port;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    /* window [0.5 s, 3.5 s] of the emulator's clock, which started with t_ready */
    uint64_t a = m.t_ready + 500000, b = m.t_ready + 3500000, bytes = 0;
    for (uint32_t i = 0; i < f.n; i++)
        if (f.r[i].got && f.r[i].recv >= a && f.r[i].recv < b) bytes += f.len;
    double want = (double)count_trace(path, 500, 3500) * 1500 * 0.25;
    printf("integration_impair: trace window delivered %llu B, trace allows %.0f B\n",
           (unsigned long long)bytes, want);
    ck_assert_msg(fabs((double)bytes - want) <= 0.10 * want + 2000, "delivered %llu want %.0f",
                  (unsigned long long)bytes, want);
    ck_assert_int_eq(rep(r, "up", "pkts_out", NULL), received(&f));
    ck_assert_int_gt(rep(r, "up", "dropped", "queue"), 0);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

START_TEST(oversize_datagrams_counted)
{
    /* datagrams over the 2048-byte slots, up to the largest UDP payload, are
     * counted and dropped; the emulator keeps working */
    flow_t f;
    flow_init(&f, 1, 1000, 100);
    impair_t m;
    impair_start(&m, target_port(&f), NULL);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(m.port)};
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static uint8_t big[65507];
    memset(big, 0xff, sizeof big); /* seq 0xffffffff: ignored by the receiver */
    size_t sizes[] = {2049, 9000, 65507};
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(sendto(f.cfd, big, sizes[i], 0, (struct sockaddr *)&dst, sizeof dst),
                         (ssize_t)sizes[i]);
    ck_assert_int_eq(sendto(f.cfd, big, 2048, 0, (struct sockaddr *)&dst, sizeof dst), 2048);
    f.impair_port = m.port;
    f.drain_us = 200000;
    flow_run(&f);
    json_t *r = impair_stop(&m);
    ck_assert_uint_eq(received(&f), 1);
    ck_assert_int_eq(rep(r, "up", "pkts_in", NULL), 5);
    ck_assert_int_eq(rep(r, "up", "bytes_in", NULL), 2049 + 9000 + 65507 + 2048 + 100);
    ck_assert_int_eq(rep(r, "up", "dropped", "oversize"), 3);
    ck_assert_int_eq(rep(r, "up", "pkts_out", NULL), 2);
    json_decref(r);
    flow_fini(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("impair");
    TCase *tc = tcase_create("loopback");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_flags_exit_2);
    tcase_add_test(tc, loss_rate_and_honest_report);
    tcase_add_test(tc, delay_median);
    tcase_add_test(tc, rate_limit_1mbit);
    tcase_add_test(tc, outage_step);
    tcase_add_test(tc, rebind_changes_source_port);
    tcase_add_test(tc, trace_replay_att);
    tcase_add_test(tc, oversize_datagrams_counted);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
