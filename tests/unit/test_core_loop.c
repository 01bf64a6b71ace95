#include "proto/err.h"
#include "relay/core/clock.h"
#include "relay/core/loop.h"
#include "relay/core/timer.h"
#include "tests/common/testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- simulated clock ---- */

static uint64_t fake_clock(void *ud)
{
    return *(uint64_t *)ud;
}

static hc_loop_t *new_fake_loop(uint64_t *now)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    hc_loop_set_clock(loop, fake_clock, now);
    ck_assert_uint_eq(hc_loop_now_us(loop), *now);
    return loop;
}

/* ---- timers in order, simulated time ---- */

typedef struct rec {
    int order[64];
    uint64_t at[64];
    int n;
} rec_t;

typedef struct idx_timer {
    hc_timer_t t;
    int id;
    rec_t *r;
} idx_timer_t;

static void idx_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    idx_timer_t *it = ud;
    (void)t;
    it->r->order[it->r->n] = it->id;
    it->r->at[it->r->n] = hc_loop_now_us(loop);
    it->r->n++;
}

START_TEST(timers_fire_in_order_simulated)
{
    uint64_t now = 5000000123ull; /* not on a millisecond boundary */
    hc_loop_t *loop = new_fake_loop(&now);
    enum { N = 40 };
    idx_timer_t ts[N];
    rec_t r = {0};
    uint64_t due[N];
    memset(ts, 0, sizeof(ts));
    /* Distinct dues, sub-millisecond and across cascade boundaries (256 ms). */
    for (int i = 0; i < N; i++) due[i] = now + 1 + (uint64_t)i * 13777u;
    uint64_t seed = 7;
    int perm[N];
    for (int i = 0; i < N; i++) perm[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(hc_test_rand(&seed) % (uint64_t)(i + 1));
        int x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    for (int k = 0; k < N; k++) {
        int i = perm[k];
        ts[i].id = i;
        ts[i].r = &r;
        hc_timer_start(loop, &ts[i].t, due[i], idx_cb, &ts[i]);
        ck_assert(hc_timer_active(&ts[i].t));
    }
    const uint64_t step = 250;
    uint64_t end = due[N - 1] + 2 * step;
    while (now < end) {
        now += step;
        ck_assert_int_ge(hc_loop_run_once(loop, 0), 0);
        ck_assert_uint_eq(hc_loop_now_us(loop), now);
    }
    ck_assert_int_eq(r.n, N);
    for (int k = 0; k < N; k++) {
        ck_assert_int_eq(r.order[k], k);
        /* Fired in the first iteration at or after its due time. */
        ck_assert_uint_ge(r.at[k], due[k]);
        ck_assert_uint_lt(r.at[k], due[k] + step);
        ck_assert(!hc_timer_active(&ts[k].t));
    }
    hc_loop_destroy(&loop);
    ck_assert_ptr_null(loop);
}
END_TEST

static int count_cb_n;
static void count_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)loop;
    (void)t;
    (void)ud;
    count_cb_n++;
}

START_TEST(timer_never_early_exact_boundary)
{
    uint64_t now = 1000000;
    hc_loop_t *loop = new_fake_loop(&now);
    hc_timer_t t = {0};
    count_cb_n = 0;
    hc_timer_start(loop, &t, 1004500, count_cb, NULL);
    now = 1004499;
    hc_loop_run_once(loop, 0);
    ck_assert_int_eq(count_cb_n, 0);
    ck_assert(hc_timer_active(&t));
    now = 1004500;
    hc_loop_run_once(loop, 0);
    ck_assert_int_eq(count_cb_n, 1);
    ck_assert(!hc_timer_active(&t));
    now = 1010000;
    hc_loop_run_once(loop, 0);
    ck_assert_int_eq(count_cb_n, 1);
    hc_loop_destroy(&loop);
}
END_TEST

START_TEST(past_timer_fires_next_iteration)
{
    uint64_t now = 77777777;
    hc_loop_t *loop = new_fake_loop(&now);
    hc_timer_t a = {0}, b = {0};
    count_cb_n = 0;
    hc_timer_start(loop, &a, now - 5000, count_cb, NULL);
    hc_timer_start(loop, &b, 0, count_cb, NULL);
    /* The clock does not move; both still fire in the next iteration. */
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 2);
    ck_assert_int_eq(count_cb_n, 2);
    hc_loop_destroy(&loop);
}
END_TEST

/* A callback re-arming itself "now" fires once per iteration, not in a loop. */
static void rearm_now_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    int *n = ud;
    (*n)++;
    hc_timer_start(loop, t, hc_loop_now_us(loop), rearm_now_cb, ud);
}

START_TEST(rearm_now_does_not_spin)
{
    uint64_t now = 10000000;
    hc_loop_t *loop = new_fake_loop(&now);
    hc_timer_t t = {0};
    int n = 0;
    hc_timer_start(loop, &t, now, rearm_now_cb, &n);
    for (int i = 1; i <= 5; i++) {
        ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
        ck_assert_int_eq(n, i);
    }
    hc_timer_stop(&t);
    ck_assert(!hc_timer_active(&t));
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(n, 5);
    hc_loop_destroy(&loop);
}
END_TEST

/* Two timers due in the same millisecond, each stopping the other: exactly
 * one fires (the other is stopped while queued in the same pass). */
typedef struct pair {
    hc_timer_t a, b;
    int fired_a, fired_b;
} pair_t;

static void pair_a(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    pair_t *p = ud;
    (void)loop;
    (void)t;
    p->fired_a++;
    hc_timer_stop(&p->b);
}

static void pair_b(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    pair_t *p = ud;
    (void)loop;
    (void)t;
    p->fired_b++;
    hc_timer_stop(&p->a);
}

START_TEST(stop_other_in_same_pass)
{
    for (int variant = 0; variant < 3; variant++) {
        uint64_t now = 3000000;
        hc_loop_t *loop = new_fake_loop(&now);
        pair_t p;
        memset(&p, 0, sizeof(p));
        uint64_t da = now + 2000 + (variant == 1 ? 300 : 0);
        uint64_t db = now + 2000 + (variant == 2 ? 300 : 0);
        hc_timer_start(loop, &p.a, da, pair_a, &p);
        hc_timer_start(loop, &p.b, db, pair_b, &p);
        now += 5000; /* both due in one pass */
        ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
        ck_assert_int_eq(p.fired_a + p.fired_b, 1);
        ck_assert(!hc_timer_active(&p.a));
        ck_assert(!hc_timer_active(&p.b));
        now += 1000000;
        ck_assert_int_eq(hc_loop_run_once(loop, 0), 0);
        ck_assert_int_eq(p.fired_a + p.fired_b, 1);
        hc_loop_destroy(&loop);
    }
}
END_TEST

/* Periodic timer re-arming itself from its own due time (no drift). */
typedef struct periodic {
    hc_timer_t t;
    int n, max;
    uint64_t at[16];
} periodic_t;

static void periodic_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    periodic_t *p = ud;
    p->at[p->n++] = t->due_us;
    ck_assert_uint_ge(hc_loop_now_us(loop), t->due_us);
    if (p->n < p->max) hc_timer_start(loop, t, t->due_us + 20000, periodic_cb, p);
}

START_TEST(periodic_restart_in_callback)
{
    uint64_t now = 42000000;
    hc_loop_t *loop = new_fake_loop(&now);
    periodic_t p;
    memset(&p, 0, sizeof(p));
    p.max = 10;
    uint64_t first = now + 20000;
    hc_timer_start(loop, &p.t, first, periodic_cb, &p);
    for (int i = 0; i < 300; i++) {
        now += 1000;
        hc_loop_run_once(loop, 0);
    }
    ck_assert_int_eq(p.n, 10);
    for (int i = 0; i < 10; i++) ck_assert_uint_eq(p.at[i], first + (uint64_t)i * 20000);
    ck_assert(!hc_timer_active(&p.t));
    hc_loop_destroy(&loop);
}
END_TEST

START_TEST(restart_active_timer_moves_it)
{
    uint64_t now = 1000000;
    hc_loop_t *loop = new_fake_loop(&now);
    hc_timer_t t = {0};
    count_cb_n = 0;
    hc_timer_start(loop, &t, now + 100000, count_cb, NULL);
    hc_timer_start(loop, &t, now + 5000, count_cb, NULL); /* earlier */
    now += 5000;
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
    hc_timer_start(loop, &t, now + 5000, count_cb, NULL);
    hc_timer_start(loop, &t, now + 900000, count_cb, NULL); /* later */
    now += 5000;
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 0);
    now += 895000;
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(count_cb_n, 2);
    hc_timer_stop(&t); /* inactive: no-op */
    hc_timer_stop(&t);
    hc_loop_destroy(&loop);
}
END_TEST

/* A callback may free its own (inactive) timer. */
static void free_self_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)loop;
    (void)ud;
    ck_assert(!hc_timer_active(t));
    free(t);
    count_cb_n++;
}

START_TEST(callback_frees_own_timer)
{
    uint64_t now = 1000000;
    hc_loop_t *loop = new_fake_loop(&now);
    count_cb_n = 0;
    for (int i = 0; i < 20; i++) {
        hc_timer_t *t = calloc(1, sizeof(*t));
        hc_timer_start(loop, t, now + 1000 + (uint64_t)(i % 3) * 100, free_self_cb, NULL);
    }
    now += 2000;
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 20);
    ck_assert_int_eq(count_cb_n, 20);
    hc_loop_destroy(&loop);
}
END_TEST

/* ---- 10,000 timers through the loop ---- */

typedef struct many {
    hc_timer_t *t;
    uint64_t *due;
    uint64_t *fired_at;
    int *fired;
    uint64_t last_fire;
    int out_of_order;
} many_t;

static many_t g_many;

static void many_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    (void)t;
    size_t i = (size_t)(uintptr_t)ud;
    uint64_t now = hc_loop_now_us(loop);
    g_many.fired[i]++;
    g_many.fired_at[i] = now;
    if (now < g_many.last_fire) g_many.out_of_order++;
    g_many.last_fire = now;
}

START_TEST(ten_thousand_timers)
{
    enum { N = 10000 };
    uint64_t now = 9000000000ull;
    hc_loop_t *loop = new_fake_loop(&now);
    uint64_t seed = 12345;
    memset(&g_many, 0, sizeof(g_many));
    g_many.t = calloc(N, sizeof(hc_timer_t));
    g_many.due = calloc(N, sizeof(uint64_t));
    g_many.fired_at = calloc(N, sizeof(uint64_t));
    g_many.fired = calloc(N, sizeof(int));
    const uint64_t start = now;
    uint64_t max_due = 0;
    for (size_t i = 0; i < N; i++) {
        /* Most within 3 s (cascades from levels 1 and 2), some minutes out. */
        uint64_t r = hc_test_rand(&seed);
        uint64_t span = (i % 10 == 0) ? 600000000ull : 3000000ull;
        g_many.due[i] = start + 1 + r % span;
        if (g_many.due[i] > max_due) max_due = g_many.due[i];
        hc_timer_start(loop, &g_many.t[i], g_many.due[i], many_cb, (void *)(uintptr_t)i);
    }
    /* Stop every 7th before it can fire. */
    for (size_t i = 0; i < N; i += 7) hc_timer_stop(&g_many.t[i]);

    while (now <= max_due) {
        /* 100 us steps through the dense part, then jumps of ~1 s. */
        uint64_t step = now - start < 3100000 ? 100 : 1000000 + hc_test_rand(&seed) % 1000;
        now += step;
        ck_assert_int_ge(hc_loop_run_once(loop, 0), 0);
    }
    int fired = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 7 == 0) {
            ck_assert_int_eq(g_many.fired[i], 0);
            continue;
        }
        ck_assert_int_eq(g_many.fired[i], 1);
        ck_assert_uint_ge(g_many.fired_at[i], g_many.due[i]);
        if (g_many.due[i] - start < 3000000)
            ck_assert_uint_lt(g_many.fired_at[i], g_many.due[i] + 100);
        fired++;
    }
    ck_assert_int_eq(g_many.out_of_order, 0);
    hc_loop_stats_t st;
    hc_loop_stats(loop, &st);
    ck_assert_uint_eq(st.timers, (uint64_t)fired);
    hc_loop_destroy(&loop);
    free(g_many.t);
    free(g_many.due);
    free(g_many.fired_at);
    free(g_many.fired);
}
END_TEST

/* ---- the wheel alone: random operations against a reference ---- */

typedef struct ref {
    hc_timer_wheel_t *w;
    int n;
    hc_timer_t *t;
    uint64_t *due;
    int *armed_pass;   /* the last pass started when it was armed */
    int *armed_ready;  /* armed with a due time already reached */
    int *state;        /* 0 idle, 1 armed */
    int pass;          /* passes started */
    uint64_t prev_now; /* wheel time of the previous pass */
    uint64_t seed;
    int errors;
} ref_t;

static ref_t g_ref;

static void ref_arm(size_t i, uint64_t due);

static void ref_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    size_t i = (size_t)(uintptr_t)ud;
    uint64_t now = g_ref.w->now_us;
    (void)loop;
    (void)t;
    if (g_ref.state[i] != 1) g_ref.errors++;
    if (g_ref.armed_ready[i]) {
        /* Already due when armed: exactly the next pass. */
        if (g_ref.pass != g_ref.armed_pass[i] + 1) g_ref.errors++;
    } else {
        if (now < g_ref.due[i]) g_ref.errors++; /* early */
        /* Late: the previous pass (after arming) had already reached it. */
        if (g_ref.pass - 1 > g_ref.armed_pass[i] && g_ref.prev_now >= g_ref.due[i]) g_ref.errors++;
    }
    g_ref.state[i] = 0;
    uint64_t r = hc_test_rand(&g_ref.seed);
    if (r % 10 == 0) ref_arm(i, now + (r >> 8) % 4000); /* re-arm, maybe "now" */
    if (r % 17 == 0) {
        size_t j = (size_t)((r >> 20) % (uint64_t)g_ref.n);
        hc_timer_stop(&g_ref.t[j]);
        g_ref.state[j] = 0;
    }
}

static void ref_arm(size_t i, uint64_t due)
{
    g_ref.due[i] = due;
    g_ref.armed_pass[i] = g_ref.pass;
    g_ref.armed_ready[i] = due <= g_ref.w->now_us;
    g_ref.state[i] = 1;
    hc_timer_wheel_add(g_ref.w, &g_ref.t[i], due, ref_cb, (void *)(uintptr_t)i);
}

START_TEST(wheel_random_against_reference)
{
    enum { N = 3000 };
    memset(&g_ref, 0, sizeof(g_ref));
    g_ref.seed = 99;
    g_ref.n = N;
    g_ref.w = malloc(sizeof(hc_timer_wheel_t));
    g_ref.t = calloc(N, sizeof(hc_timer_t));
    g_ref.due = calloc(N, sizeof(uint64_t));
    g_ref.armed_pass = calloc(N, sizeof(int));
    g_ref.armed_ready = calloc(N, sizeof(int));
    g_ref.state = calloc(N, sizeof(int));
    uint64_t now = 123456789;
    hc_timer_wheel_init(g_ref.w, NULL, now);
    ck_assert_int_eq(hc_timer_wheel_next(g_ref.w), -1);

    for (size_t i = 0; i < N; i++) {
        uint64_t r = hc_test_rand(&g_ref.seed);
        uint64_t span;
        switch (r % 10) {
        case 0: span = 0; break; /* due now */
        case 1:
        case 2:
        case 3: span = 300000; break; /* level 0/1 */
        case 4:
        case 5: span = 20000000; break; /* level 2 */
        case 6:
        case 7: span = 3600000000ull; break;           /* level 3/4 */
        case 8: span = 70ull * 86400 * 1000000; break; /* past the 49-day horizon */
        default: span = 2000; break;
        }
        ref_arm(i, now + (span ? (r >> 8) % span : 0));
    }

    for (int steps = 0; steps < 200000; steps++) {
        /* next() must never overshoot the earliest armed timer. */
        int64_t nx = hc_timer_wheel_next(g_ref.w);
        uint64_t min_due = UINT64_MAX;
        int armed = 0;
        for (size_t i = 0; i < N; i++)
            if (g_ref.state[i]) {
                armed++;
                if (g_ref.due[i] < min_due) min_due = g_ref.due[i];
            }
        if (!armed) {
            ck_assert_int_eq(nx, -1);
            break;
        }
        ck_assert_int_ge(nx, 0);
        if (min_due > now)
            ck_assert_uint_le(now + (uint64_t)nx, min_due);
        else
            ck_assert_int_eq(nx, 0);

        /* Advance: to the reported wakeup, to the earliest due, a small
         * step, or a long jump. */
        uint64_t r = hc_test_rand(&g_ref.seed);
        uint64_t target;
        switch (r % 4) {
        case 0: target = now + (uint64_t)nx; break;
        case 1: target = min_due > now ? min_due : now; break;
        case 2: target = now + 1 + (r >> 8) % 3000; break;
        default: target = now + (r >> 8) % (3ull * 86400 * 1000000); break;
        }
        g_ref.prev_now = now;
        now = target;
        hc_timer_wheel_set_now(g_ref.w, now);
        g_ref.pass++;
        hc_timer_wheel_run(g_ref.w);
        ck_assert_int_eq(g_ref.errors, 0);
    }
    /* Everything armed has fired or been stopped. */
    for (size_t i = 0; i < N; i++) ck_assert_int_eq(g_ref.state[i], 0);
    ck_assert_uint_eq(g_ref.w->armed, 0);
    ck_assert_uint_eq(g_ref.w->ready_n, 0);
    hc_timer_wheel_fini(g_ref.w);
    free(g_ref.w);
    free(g_ref.t);
    free(g_ref.due);
    free(g_ref.armed_pass);
    free(g_ref.armed_ready);
    free(g_ref.state);
}
END_TEST

/* ---- real time: short delays, run until the last one stops the loop ---- */

typedef struct real {
    hc_timer_t t[20];
    uint64_t due[20];
    int order[20];
    int n;
    int early;
} real_t;

static void real_cb(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    real_t *r = ud;
    int i = (int)(t - r->t);
    if (hc_loop_now_us(loop) < r->due[i]) r->early++;
    r->order[r->n++] = i;
    if (r->n == 20) hc_loop_stop(loop);
}

START_TEST(timers_real_short_delays)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    real_t r;
    memset(&r, 0, sizeof(r));
    uint64_t base = hc_now_us();
    for (int k = 0; k < 20; k++) {
        int i = (k * 7) % 20; /* start in a scrambled order */
        r.due[i] = base + 1000 + (uint64_t)i * 1500;
        hc_timer_start(loop, &r.t[i], r.due[i], real_cb, &r);
    }
    ck_assert_int_eq(hc_loop_run(loop), 0);
    ck_assert_int_eq(r.n, 20);
    ck_assert_int_eq(r.early, 0);
    for (int k = 0; k < 20; k++) ck_assert_int_eq(r.order[k], k);
    hc_loop_destroy(&loop);
}
END_TEST

/* ---- posts from 4 threads ---- */

enum { POSTERS = 4, PER_POSTER = 10000 };

typedef struct post_msg {
    hc_loop_msg_t m;
    int thread, seq;
} post_msg_t;

typedef struct post_state {
    hc_loop_t *loop;
    post_msg_t *msgs; /* POSTERS * PER_POSTER */
    atomic_int *count;
    int last_seq[POSTERS];
    int order_errors;
    int total;
} post_state_t;

static post_state_t g_post;

static void post_cb(hc_loop_t *loop, hc_loop_msg_t *m)
{
    post_msg_t *pm = (post_msg_t *)m;
    atomic_fetch_add(&g_post.count[pm->thread * PER_POSTER + pm->seq], 1);
    if (pm->seq <= g_post.last_seq[pm->thread]) g_post.order_errors++;
    g_post.last_seq[pm->thread] = pm->seq;
    if (++g_post.total == POSTERS * PER_POSTER) hc_loop_stop(loop);
}

static void *poster(void *arg)
{
    int th = (int)(intptr_t)arg;
    for (int i = 0; i < PER_POSTER; i++) {
        post_msg_t *pm = &g_post.msgs[th * PER_POSTER + i];
        hc_loop_msg_init(&pm->m, post_cb, NULL);
        pm->thread = th;
        pm->seq = i;
        hc_loop_post(g_post.loop, &pm->m);
        if (i % 1000 == 0) sched_yield();
    }
    return NULL;
}

static void *runner(void *arg)
{
    hc_loop_t *loop = arg;
    intptr_t rc = hc_loop_run(loop);
    return (void *)rc;
}

START_TEST(posts_from_four_threads_exactly_once)
{
    memset(&g_post, 0, sizeof(g_post));
    ck_assert_int_eq(hc_loop_new(&g_post.loop), 0);
    g_post.msgs = calloc(POSTERS * PER_POSTER, sizeof(post_msg_t));
    g_post.count = calloc(POSTERS * PER_POSTER, sizeof(atomic_int));
    for (int i = 0; i < POSTERS; i++) g_post.last_seq[i] = -1;

    pthread_t run_th, th[POSTERS];
    ck_assert_int_eq(pthread_create(&run_th, NULL, runner, g_post.loop), 0);
    for (int i = 0; i < POSTERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, poster, (void *)(intptr_t)i), 0);
    for (int i = 0; i < POSTERS; i++) pthread_join(th[i], NULL);
    void *rc;
    pthread_join(run_th, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, 0);

    for (int i = 0; i < POSTERS * PER_POSTER; i++)
        ck_assert_int_eq(atomic_load(&g_post.count[i]), 1);
    ck_assert_int_eq(g_post.order_errors, 0);
    hc_loop_stats_t st;
    hc_loop_stats(g_post.loop, &st);
    ck_assert_uint_eq(st.posts, POSTERS * PER_POSTER);
    /* One wakeup per batch, not per message (+1 for the stop). */
    ck_assert_uint_le(st.wakeups, POSTERS * PER_POSTER + 1);
    ck_assert_uint_ge(st.wakeups, 1);
    hc_loop_destroy(&g_post.loop);
    free(g_post.msgs);
    free(g_post.count);
}
END_TEST

START_TEST(post_from_own_thread_runs_next_iteration)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    memset(&g_post, 0, sizeof(g_post));
    g_post.count = calloc(PER_POSTER, sizeof(atomic_int));
    post_msg_t pm[3];
    for (int i = 0; i < 3; i++) {
        hc_loop_msg_init(&pm[i].m, post_cb, NULL);
        pm[i].thread = 0;
        pm[i].seq = i;
        g_post.last_seq[0] = -1;
    }
    for (int i = 0; i < 3; i++) hc_loop_post(loop, &pm[i].m);
    ck_assert_int_eq(hc_loop_run_once(loop, 1000000), 3); /* does not sleep */
    ck_assert_int_eq(g_post.order_errors, 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(atomic_load(&g_post.count[i]), 1);
    hc_loop_destroy(&loop);
    free(g_post.count);
}
END_TEST

/* ---- stop ---- */

START_TEST(stop_from_another_thread)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    for (int round = 0; round < 3; round++) {
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, runner, loop), 0);
        usleep(20000); /* let it block in epoll_wait with nothing to do */
        hc_loop_stop(loop);
        void *rc;
        pthread_join(t, &rc);
        ck_assert_int_eq((int)(intptr_t)rc, 0);
    }
    hc_loop_destroy(&loop);
}
END_TEST

START_TEST(stop_before_run_returns_at_once)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    hc_loop_stop(loop);
    ck_assert_int_eq(hc_loop_run(loop), 0);
    hc_loop_destroy(&loop);
    hc_loop_destroy(&loop); /* NULL: no-op */
    hc_loop_destroy(NULL);
}
END_TEST

/* ---- fd watches ---- */

typedef struct sp {
    hc_watch_t w;
    int reads, writes;
    char last;
} sp_t;

static void sp_cb(hc_loop_t *loop, hc_watch_t *w, uint32_t ev)
{
    sp_t *s = w->ud;
    (void)loop;
    if (ev & HC_EV_IN) {
        char c;
        if (read(w->fd, &c, 1) == 1) {
            s->reads++;
            s->last = c;
        }
    }
    if (ev & HC_EV_OUT) s->writes++;
}

START_TEST(fd_watch_socketpair)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    sp_t s;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(hc_loop_watch(loop, &s.w, sv[0], HC_EV_IN, sp_cb, &s), 0);
    ck_assert_int_eq(hc_loop_watch(loop, &s.w, sv[0], HC_EV_IN, sp_cb, &s), -HC_EEXIST);
    ck_assert_int_eq(hc_loop_watch(loop, NULL, sv[0], HC_EV_IN, sp_cb, &s), -HC_EINVAL);

    ck_assert_int_eq(hc_loop_run_once(loop, 0), 0); /* nothing yet */
    ck_assert_int_eq(write(sv[1], "abc", 1), 1);
    ck_assert_int_eq(write(sv[1], "b", 1), 1);
    ck_assert_int_eq(write(sv[1], "c", 1), 1);
    /* Level-triggered: one datagram per callback, fired until drained. */
    ck_assert_int_eq(hc_loop_run_once(loop, 1000000), 1);
    ck_assert_int_eq(s.reads, 1);
    ck_assert_int_eq(s.last, 'a');
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(s.reads, 3);
    ck_assert_int_eq(s.last, 'c');
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 0);

    ck_assert_int_eq(hc_loop_watch_modify(&s.w, HC_EV_OUT), 0);
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 1);
    ck_assert_int_eq(s.writes, 1);
    ck_assert_int_eq(s.reads, 3);

    hc_loop_unwatch(&s.w);
    hc_loop_unwatch(&s.w); /* no-op */
    ck_assert_int_eq(hc_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(s.writes, 1);
    ck_assert_int_eq(hc_loop_watch_modify(&s.w, HC_EV_IN), -HC_EINVAL);

    /* Watch again (the object is reusable). */
    ck_assert_int_eq(hc_loop_watch(loop, &s.w, sv[0], HC_EV_IN, sp_cb, &s), 0);
    ck_assert_int_eq(write(sv[1], "z", 1), 1);
    ck_assert_int_eq(hc_loop_run_once(loop, 1000000), 1);
    ck_assert_int_eq(s.last, 'z');

    hc_loop_stats_t st;
    hc_loop_stats(loop, &st);
    ck_assert_uint_eq(st.fd_events, 5);
    hc_loop_destroy(&loop);
    ck_assert_ptr_null(s.w.loop); /* deactivated by destroy */
    hc_loop_unwatch(&s.w);        /* and therefore safe */
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Two watches ready in one batch; whichever runs first unwatches and frees
 * the other, which must then not run. */
typedef struct duo {
    hc_watch_t *w[2];
    int ran[2];
} duo_t;

static duo_t g_duo;

static void duo_cb(hc_loop_t *loop, hc_watch_t *w, uint32_t ev)
{
    (void)loop;
    (void)ev;
    int me = w == g_duo.w[0] ? 0 : 1;
    g_duo.ran[me]++;
    hc_watch_t *other = g_duo.w[1 - me];
    if (other) {
        hc_loop_unwatch(other);
        memset(other, 0xa5, sizeof(*other));
        free(other);
        g_duo.w[1 - me] = NULL;
    }
}

START_TEST(unwatch_other_in_same_batch)
{
    int a[2], b[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, b), 0);
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    memset(&g_duo, 0, sizeof(g_duo));
    g_duo.w[0] = calloc(1, sizeof(hc_watch_t));
    g_duo.w[1] = calloc(1, sizeof(hc_watch_t));
    ck_assert_int_eq(hc_loop_watch(loop, g_duo.w[0], a[0], HC_EV_IN, duo_cb, NULL), 0);
    ck_assert_int_eq(hc_loop_watch(loop, g_duo.w[1], b[0], HC_EV_IN, duo_cb, NULL), 0);
    ck_assert_int_eq(write(a[1], "x", 1), 1);
    ck_assert_int_eq(write(b[1], "y", 1), 1);
    usleep(1000);
    ck_assert_int_eq(hc_loop_run_once(loop, 1000000), 1);
    ck_assert_int_eq(g_duo.ran[0] + g_duo.ran[1], 1);
    int survivor = g_duo.w[0] ? 0 : 1;
    hc_loop_unwatch(g_duo.w[survivor]);
    free(g_duo.w[survivor]);
    hc_loop_destroy(&loop);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}
END_TEST

/* ---- after-batch hooks ---- */

typedef struct hk {
    hc_loop_hook_t h[3];
    int calls[3];
    int seq[32];
    int n;
    int events_before; /* fd events seen when hook 0 ran */
    int remove_self_at, remove_next_at;
    sp_t *sp;
} hk_t;

static hk_t g_hk;

static void hook_cb(hc_loop_t *loop, void *ud)
{
    int i = (int)(intptr_t)ud;
    (void)loop;
    g_hk.calls[i]++;
    if (g_hk.n < 32) g_hk.seq[g_hk.n++] = i;
    if (i == 0) {
        g_hk.events_before = g_hk.sp->reads;
        if (g_hk.calls[0] == g_hk.remove_next_at) hc_loop_hook_remove(&g_hk.h[1]);
    }
    if (i == 2 && g_hk.calls[2] == g_hk.remove_self_at) hc_loop_hook_remove(&g_hk.h[2]);
}

START_TEST(after_batch_hooks)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    sp_t s;
    memset(&s, 0, sizeof(s));
    memset(&g_hk, 0, sizeof(g_hk));
    g_hk.sp = &s;
    g_hk.remove_next_at = 2; /* hook 0 removes hook 1 in the 2nd iteration */
    g_hk.remove_self_at = 3; /* hook 2 removes itself in its 3rd call */
    ck_assert_int_eq(hc_loop_watch(loop, &s.w, sv[0], HC_EV_IN, sp_cb, &s), 0);
    for (int i = 0; i < 3; i++) hc_loop_hook_add(loop, &g_hk.h[i], hook_cb, (void *)(intptr_t)i);

    ck_assert_int_eq(write(sv[1], "q", 1), 1);
    hc_loop_run_once(loop, 1000000);
    ck_assert_int_eq(g_hk.events_before, 1); /* hooks run after the events */
    hc_loop_run_once(loop, 0);
    hc_loop_run_once(loop, 0);
    hc_loop_run_once(loop, 0);
    /* iteration 1: 0 1 2; iteration 2: 0 (removes 1) 2; 3: 0 2 (2 removes
     * itself); 4: 0 */
    int want[] = {0, 1, 2, 0, 2, 0, 2, 0};
    ck_assert_int_eq(g_hk.n, 8);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(g_hk.seq[i], want[i]);
    hc_loop_hook_remove(&g_hk.h[1]); /* already removed: no-op */
    hc_loop_destroy(&loop);
    ck_assert_ptr_null(g_hk.h[0].loop);
    hc_loop_hook_remove(&g_hk.h[0]); /* deactivated by destroy: no-op */
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* ---- busy accounting with a clock that advances inside callbacks ---- */

typedef struct busy {
    uint64_t now;
} busy_t;

static uint64_t busy_clock(void *ud)
{
    busy_t *b = ud;
    return b->now += 10; /* every read: 10 us later */
}

static void busy_timer(hc_loop_t *loop, hc_timer_t *t, void *ud)
{
    busy_t *b = ud;
    b->now += 1000; /* simulated work */
    hc_timer_start(loop, t, hc_loop_now_us(loop), busy_timer, ud);
}

START_TEST(busy_accounting)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    ck_assert(hc_loop_busy_ratio(loop) == 0.0);
    busy_t b = {.now = 1000000};
    hc_loop_set_clock(loop, busy_clock, &b);
    hc_timer_t t = {0};
    hc_timer_start(loop, &t, 0, busy_timer, &b);
    for (int i = 0; i < 100; i++) hc_loop_run_once(loop, 0);
    hc_loop_stats_t st;
    hc_loop_stats(loop, &st);
    ck_assert_uint_eq(st.iterations, 100);
    ck_assert_uint_eq(st.timers, 100);
    ck_assert_uint_ge(st.busy_us, 99 * 1000);
    ck_assert_uint_ge(st.idle_us, 100 * 10);
    double r = hc_loop_busy_ratio(loop);
    ck_assert(r > 0.9 && r < 1.0);
    hc_loop_destroy(&loop);
    ck_assert(!hc_timer_active(&t)); /* deactivated by destroy */
    hc_timer_stop(&t);               /* safe */
}
END_TEST

/* ---- destroy ---- */

static int destroyed_msgs;
static void free_msg_cb(hc_loop_t *loop, hc_loop_msg_t *m)
{
    ck_assert_ptr_nonnull(loop);
    free(m);
    destroyed_msgs++;
}

START_TEST(destroy_runs_queued_posts)
{
    hc_loop_t *loop = NULL;
    ck_assert_int_eq(hc_loop_new(&loop), 0);
    destroyed_msgs = 0;
    for (int i = 0; i < 5; i++) {
        hc_loop_msg_t *m = malloc(sizeof(*m));
        hc_loop_msg_init(m, free_msg_cb, NULL);
        hc_loop_post(loop, m);
    }
    hc_timer_t t = {0};
    hc_timer_start(loop, &t, hc_loop_now_us(loop) + 1000000, count_cb, NULL);
    hc_loop_destroy(&loop);
    ck_assert_int_eq(destroyed_msgs, 5); /* and ASan sees no leak */
    ck_assert(!hc_timer_active(&t));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("core_loop");
    TCase *tc = tcase_create("timers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, timers_fire_in_order_simulated);
    tcase_add_test(tc, timer_never_early_exact_boundary);
    tcase_add_test(tc, past_timer_fires_next_iteration);
    tcase_add_test(tc, rearm_now_does_not_spin);
    tcase_add_test(tc, stop_other_in_same_pass);
    tcase_add_test(tc, periodic_restart_in_callback);
    tcase_add_test(tc, restart_active_timer_moves_it);
    tcase_add_test(tc, callback_frees_own_timer);
    tcase_add_test(tc, ten_thousand_timers);
    tcase_add_test(tc, wheel_random_against_reference);
    tcase_add_test(tc, timers_real_short_delays);
    suite_add_tcase(s, tc);

    tc = tcase_create("loop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, posts_from_four_threads_exactly_once);
    tcase_add_test(tc, post_from_own_thread_runs_next_iteration);
    tcase_add_test(tc, stop_from_another_thread);
    tcase_add_test(tc, stop_before_run_returns_at_once);
    tcase_add_test(tc, fd_watch_socketpair);
    tcase_add_test(tc, unwatch_other_in_same_batch);
    tcase_add_test(tc, after_batch_hooks);
    tcase_add_test(tc, busy_accounting);
    tcase_add_test(tc, destroy_runs_queued_posts);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
