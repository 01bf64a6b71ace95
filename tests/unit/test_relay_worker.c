/*
 * Unit tests of relay/worker.h (with the real router, loop and sockets on
 * loopback): start/stop, the shared media port, posts that run on the
 * worker's thread (and still run when the workers stop first), steering of
 * datagrams by SSRC, snapshots with drop counters, and the metrics text
 * built from them (relay/metrics.h).
 */
#include "relay/metrics.h"
#include "relay/worker.h"

#include "proto/err.h"
#include "relay/core/steer.h"
#include "relay/core/udp.h"
#include "tests/common/testutil.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void cfg_init(hc_workers_cfg_t *cfg, unsigned n)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->count = n;
    ck_assert_int_eq(hc_addr_parse("127.0.0.1:0", &cfg->bind), 0);
    cfg->pool_packets = 256;
    hc_router_cfg_default(&cfg->router);
    cfg->router.max_legs = 16;
    cfg->router.max_instreams = 16;
    cfg->router.max_tracks = 64;
}

START_TEST(start_stop)
{
    hc_workers_t ws;
    hc_workers_cfg_t cfg;
    cfg_init(&cfg, 3);
    char err[256];
    int rc = hc_workers_start(&ws, &cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(ws.n, 3);
    ck_assert_uint_gt(ws.port, 0);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_uint_eq(hc_worker_index(ws.w[i]), i);
        ck_assert_ptr_nonnull(hc_worker_loop(ws.w[i]));
        ck_assert_ptr_nonnull(hc_worker_router(ws.w[i]));
    }
    hc_workers_stop(&ws);
    ck_assert_ptr_null(ws.w);
    hc_workers_stop(&ws); /* again: no-op */
    hc_workers_t zero;
    memset(&zero, 0, sizeof zero);
    hc_workers_stop(&zero);
    /* bad arguments */
    cfg_init(&cfg, 0);
    ck_assert_int_eq(hc_workers_start(&ws, &cfg, err, sizeof err), -HC_EINVAL);
}
END_TEST

typedef struct probe {
    atomic_int ran;
    pthread_t thread[8];
    unsigned index[8];
} probe_t;

static void on_post(hc_worker_t *w, void *ud)
{
    probe_t *p = ud;
    int i = atomic_fetch_add(&p->ran, 1);
    if (i < 8) {
        p->thread[i] = pthread_self();
        p->index[i] = hc_worker_index(w);
    }
}

START_TEST(posts_run_on_the_worker)
{
    hc_workers_t ws;
    hc_workers_cfg_t cfg;
    cfg_init(&cfg, 2);
    ck_assert_int_eq(hc_workers_start(&ws, &cfg, NULL, 0), 0);
    probe_t p = {0};
    ck_assert_int_eq(hc_worker_post(ws.w[1], on_post, &p), 0);
    for (int t = 0; t < 200 && atomic_load(&p.ran) == 0; t++) usleep(5000);
    ck_assert_int_eq(atomic_load(&p.ran), 1);
    ck_assert_uint_eq(p.index[0], 1);
    ck_assert(!pthread_equal(p.thread[0], pthread_self()));
    /* many posts, then stop at once: every one still runs */
    probe_t q = {0};
    for (int i = 0; i < 1000; i++) ck_assert_int_eq(hc_worker_post(ws.w[i % 2], on_post, &q), 0);
    hc_workers_stop(&ws);
    ck_assert_int_eq(atomic_load(&q.ran), 1000);
}
END_TEST

static bool snapshot_shows(hc_workers_t *ws, uint64_t want)
{
    for (int t = 0; t < 300; t++) {
        hc_worker_snapshot_t s;
        hc_workers_snapshot(ws, &s);
        if (s.router.drop_unknown + s.router.drop_malformed >= want) return true;
        usleep(10000);
    }
    return false;
}

START_TEST(datagrams_counted_and_steered)
{
    hc_workers_t ws;
    hc_workers_cfg_t cfg;
    cfg_init(&cfg, 2);
    ck_assert_int_eq(hc_workers_start(&ws, &cfg, NULL, 0), 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(ws.port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* RTP for SSRCs owned by worker 1, and junk: unknown/malformed drops */
    int sent = 0;
    for (uint32_t k = 0; k < 50; k++) {
        uint32_t ssrc = hc_steer_make_ssrc(0x1000 + k * 977, 1, 2);
        uint8_t rtp[40] = {0x80, 96, 0, (uint8_t)k};
        rtp[8] = (uint8_t)(ssrc >> 24);
        rtp[9] = (uint8_t)(ssrc >> 16);
        rtp[10] = (uint8_t)(ssrc >> 8);
        rtp[11] = (uint8_t)ssrc;
        ck_assert_int_eq(sendto(fd, rtp, sizeof rtp, 0, (struct sockaddr *)&to, sizeof to),
                         (ssize_t)sizeof rtp);
        sent++;
    }
    uint8_t junk[3] = {1, 2, 3};
    for (int k = 0; k < 10; k++, sent++)
        sendto(fd, junk, sizeof junk, 0, (struct sockaddr *)&to, sizeof to);
    close(fd);
    ck_assert(snapshot_shows(&ws, (uint64_t)sent));
    hc_worker_snapshot_t w0, w1;
    hc_worker_snapshot(ws.w[0], &w0);
    hc_worker_snapshot(ws.w[1], &w1);
    /* the RTP went to worker 1; the 3-byte junk to worker 0 (steer.h) */
    ck_assert_uint_eq(w1.router.drop_unknown + w1.router.drop_malformed, 50);
    ck_assert_uint_eq(w0.router.drop_unknown + w0.router.drop_malformed, 10);
    /* nothing held but the receive batch's parked buffers (udp.h) */
    ck_assert_uint_le(w0.pool_in_use, HC_UDP_BATCH);
    ck_assert(w0.busy_ratio >= 0.0 && w0.busy_ratio <= 1.0);

    /* the metrics text from these snapshots */
    hc_worker_snapshot_t per[2] = {w0, w1};
    hc_sessions_counters_t sc;
    memset(&sc, 0, sizeof sc);
    sc.sessions = 2;
    sc.participants = 7;
    sc.joined = 9;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hc_metrics_write(f, per, 2, &sc);
    fclose(f);
    const char *families[] = {
        "hc_relay_packets_total",
        "hc_relay_bytes_total",
        "hc_relay_drops_total",
        "hc_relay_srtp_auth_failures_total",
        "hc_relay_sessions",
        "hc_relay_participants",
        "hc_relay_legs",
        "hc_relay_nacks_total",
        "hc_relay_plis_total",
        "hc_relay_rtx_total",
        "hc_relay_loop_busy_ratio",
        "hc_relay_pool_exhausted_total",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s ", families[i]);
        ck_assert_msg(strstr(text, want) != NULL, "no family %s", families[i]);
        snprintf(want, sizeof want, "# HELP %s ", families[i]);
        ck_assert_msg(strstr(text, want) != NULL, "no help for %s", families[i]);
    }
    char want[128];
    snprintf(want, sizeof want, "hc_relay_drops_total{cause=\"unknown_ssrc\"} %llu\n",
             (unsigned long long)(w0.router.drop_unknown + w1.router.drop_unknown));
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_nonnull(strstr(text, "hc_relay_loop_busy_ratio{worker=\"1\"} "));
    ck_assert_ptr_nonnull(strstr(text, "\nhc_relay_sessions 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nhc_relay_participants 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "hc_relay_session_events_total{event=\"joined\"} 9\n"));
    free(text);
    /* without session counters */
    f = open_memstream(&text, &len);
    hc_metrics_write(f, per, 2, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\nhc_relay_sessions 0\n"));
    ck_assert_ptr_null(strstr(text, "hc_relay_session_events_total"));
    free(text);
    hc_workers_stop(&ws);
}
END_TEST

START_TEST(port_in_use)
{
    hc_workers_t a, b;
    hc_workers_cfg_t cfg;
    cfg_init(&cfg, 1);
    ck_assert_int_eq(hc_workers_start(&a, &cfg, NULL, 0), 0);
    char text[64];
    snprintf(text, sizeof text, "127.0.0.1:%u", (unsigned)a.port);
    ck_assert_int_eq(hc_addr_parse(text, &cfg.bind), 0);
    char err[256];
    /* another reuseport group cannot take the port of a running relay */
    int rc = hc_workers_start(&b, &cfg, err, sizeof err);
    if (rc == 0) {
        hc_workers_stop(&b);
    } else {
        ck_assert_ptr_nonnull(strstr(err, "cannot open the media port 127.0.0.1:"));
    }
    hc_workers_stop(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("relay_worker");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, start_stop);
    tcase_add_test(tc, posts_run_on_the_worker);
    tcase_add_test(tc, datagrams_counted_and_steered);
    tcase_add_test(tc, port_in_use);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
