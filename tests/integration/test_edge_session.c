/*
 * Integration tests of hc-edge's session (edge/session.h) against a real
 * hc-relay on loopback (generated config, TLS off).
 *
 * Signaling, in process: sessions run on their own threads with a fake
 * media engine that records what the session asks of it, so these tests
 * hold without the real engine:
 *   - a teacher creates a class and a site joins: the engine is created
 *     once with the relay's leg and the SSRCs it assigned, the site
 *     receives the teacher's tracks, an admin's budget reaches the site;
 *     the relay is killed and restarted on the same ports: both boxes pause
 *     media, reconnect with backoff, the teacher creates the class again,
 *     both join again and the engine gets the new leg (rekey) and is
 *     unpaused, never recreated;
 *   - a consult: the specialist's control messages reach the clinic, which
 *     acknowledges each at once; the specialist sees the acks and the
 *     relay's round-trip measure;
 *   - a class: a site raises its hand, the teacher grants it the floor;
 *   - a token signed with another key ends the session with ESIGNATURE.
 *
 * Media, with hc-edge processes on the real engine (GStreamer test source
 * at 320x180, libx264, headless playback):
 *   - the site's stats JSON shows frames decoding; the relay is restarted:
 *     both boxes rejoin and frames flow again;
 *   - hc-impair between the site and the relay cuts the site's media for
 *     30 s (signaling stays up): the session survives (no rejoin) and live
 *     video is back within 2 s of the end of the outage, measured on the
 *     stats JSON's wall-clock stamps (see media_outage_30s for the
 *     tolerance).
 */
#include "tests/integration/test_relay_fixture.h"

#include "edge/config.h"
#include "edge/session.h"
#include "relay/core/log.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

#define SESSION_WAIT_MS 20000

/* ---- a relay on fixed ports, so it can be restarted where it was ---- */

typedef struct relay {
    pid_t pid;
    char dir[128];
    char url[128];
    uint16_t sig_port, media_port;
    int starts;
} relay_t;

static void relay_launch(relay_t *r)
{
    char bin[512], ini[256], logp[256];
    snprintf(bin, sizeof bin, "%s/hc-relay", hc_test_bin_dir());
    snprintf(ini, sizeof ini, "%s/relay.ini", r->dir);
    snprintf(logp, sizeof logp, "%s/relay.log", r->dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int lf = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (lf >= 0) {
            dup2(lf, 1);
            dup2(lf, 2);
        }
        execl(bin, bin, "-c", ini, (char *)NULL);
        _exit(127);
    }
    r->pid = pid;
    r->starts++;
    for (int i = 0; i < 400; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->pid = 0;
            rf_relay_t fr = {0};
            snprintf(fr.dir, sizeof fr.dir, "%s", r->dir);
            rf_relay_dump_log(&fr);
            ck_abort_msg("hc-relay exited at start (status %d)", st);
        }
        if (rf_tcp_open(r->sig_port)) return;
        rf_sleep_ms(25);
    }
    ck_abort_msg("hc-relay did not open its signaling port");
}

static void relay_start(relay_t *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/hc-edge-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    char path[256];
    snprintf(path, sizeof path, "%s/token.key", r->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, RF_SECRET, strlen(RF_SECRET)), (int)strlen(RF_SECRET));
    close(fd);
    r->sig_port = rf_free_port(SOCK_STREAM);
    r->media_port = rf_free_port(SOCK_DGRAM);
    snprintf(path, sizeof path, "%s/relay.ini", r->dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[relay]\nworkers = 1\nstate_dir = %s\n"
            "[media]\nbind = 127.0.0.1\nport = %u\n"
            "[signaling]\nbind = 127.0.0.1\nport = %u\ntls = false\nkeepalive_ms = 3000\n"
            "drain_ms = 200\n"
            "[auth]\nsecret_file = token.key\n"
            "[session]\nleave_grace_ms = 3000\n"
            "[router]\nreport_ms = 500\n"
            "[log]\nlevel = info\n",
            r->dir, r->media_port, r->sig_port);
    fclose(f);
    snprintf(r->url, sizeof r->url, "ws://127.0.0.1:%u", r->sig_port);
    relay_launch(r);
}

/* Stop with sig (SIGKILL: a crash; SIGTERM: an orderly restart). */
static void relay_kill(relay_t *r, int sig)
{
    if (r->pid <= 0) return;
    kill(r->pid, sig);
    int st;
    for (int i = 0; i < 400; i++) {
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->pid = 0;
            return;
        }
        rf_sleep_ms(25);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &st, 0);
    r->pid = 0;
}

static void relay_cleanup(relay_t *r)
{
    relay_kill(r, SIGTERM);
    if (r->dir[0] && !getenv("HC_TEST_KEEP")) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", r->dir);
    }
}

/* ---- a fake media engine that records the session's calls ---- */

typedef struct fake {
    pthread_mutex_t mu;
    int creates, destroys, publishes, receives, starts, rekeys, pauses, unpauses, budgets;
    bool paused, started;
    hc_edge_media_cfg_t cfg;
    hc_edge_leg_t leg;
    uint32_t ssrc[8];
    size_t npub;
    /* what each publish call asked (simulcast layers) */
    char mid[8][33], layer_of[8][33];
    int layer[8], width[8];
    uint32_t max_kbps[8];
    bool has_pipeline[8];
    uint32_t recv_ssrc[24];
    char recv_label[24][65];
    size_t nrecv;
    uint32_t budget;
} fake_t;

struct hc_edge_media {
    fake_t *f;
};

/* Each session runs on its own thread; its fake is found from there. */
static _Thread_local fake_t *tl_fake;

static int fk_create(hc_edge_media_t **out, const hc_edge_media_cfg_t *cfg, char *err, size_t n)
{
    (void)err, (void)n;
    fake_t *f = tl_fake;
    ck_assert_ptr_nonnull(f);
    hc_edge_media_t *m = calloc(1, sizeof *m);
    m->f = f;
    pthread_mutex_lock(&f->mu);
    f->creates++;
    f->cfg = *cfg;
    f->leg = cfg->leg;
    pthread_mutex_unlock(&f->mu);
    *out = m;
    return 0;
}

static void fk_destroy(hc_edge_media_t **m)
{
    if (!*m) return;
    pthread_mutex_lock(&(*m)->f->mu);
    (*m)->f->destroys++;
    pthread_mutex_unlock(&(*m)->f->mu);
    free(*m);
    *m = NULL;
}

static int fk_publish(hc_edge_media_t *m, const hc_edge_pub_cfg_t *p, char *err, size_t n)
{
    (void)err, (void)n;
    pthread_mutex_lock(&m->f->mu);
    m->f->publishes++;
    if (m->f->npub < 8) {
        size_t i = m->f->npub;
        snprintf(m->f->mid[i], sizeof m->f->mid[i], "%s", p->mid);
        snprintf(m->f->layer_of[i], sizeof m->f->layer_of[i], "%s", p->layer_of ? p->layer_of : "");
        m->f->layer[i] = p->layer;
        m->f->width[i] = p->width;
        m->f->max_kbps[i] = p->max_kbps;
        m->f->has_pipeline[i] = p->pipeline && p->pipeline[0];
        m->f->ssrc[m->f->npub++] = p->ssrc;
    }
    pthread_mutex_unlock(&m->f->mu);
    return 0;
}

static int fk_receive(hc_edge_media_t *m, const hc_edge_recv_cfg_t *r, size_t n)
{
    pthread_mutex_lock(&m->f->mu);
    m->f->receives++;
    m->f->nrecv = n;
    for (size_t i = 0; i < n && i < 24; i++) {
        m->f->recv_ssrc[i] = r[i].ssrc;
        snprintf(m->f->recv_label[i], sizeof m->f->recv_label[i], "%s", r[i].label);
    }
    pthread_mutex_unlock(&m->f->mu);
    return 0;
}

static int fk_start(hc_edge_media_t *m)
{
    pthread_mutex_lock(&m->f->mu);
    m->f->starts++;
    m->f->started = true;
    pthread_mutex_unlock(&m->f->mu);
    return 0;
}

static void fk_budget(hc_edge_media_t *m, uint32_t kbps)
{
    pthread_mutex_lock(&m->f->mu);
    m->f->budgets++;
    m->f->budget = kbps;
    pthread_mutex_unlock(&m->f->mu);
}

static int fk_rekey(hc_edge_media_t *m, const hc_edge_leg_t *leg, const uint32_t *ssrcs,
                    const uint32_t *rtx, const uint32_t *fec, size_t n)
{
    (void)rtx, (void)fec;
    pthread_mutex_lock(&m->f->mu);
    m->f->rekeys++;
    m->f->leg = *leg;
    m->f->npub = n;
    for (size_t i = 0; i < n && i < 8; i++) m->f->ssrc[i] = ssrcs[i];
    pthread_mutex_unlock(&m->f->mu);
    return 0;
}

static void fk_pause(hc_edge_media_t *m, bool paused)
{
    pthread_mutex_lock(&m->f->mu);
    if (paused)
        m->f->pauses++;
    else
        m->f->unpauses++;
    m->f->paused = paused;
    pthread_mutex_unlock(&m->f->mu);
}

static void fk_stats(hc_edge_media_t *m, hc_edge_stats_t *out)
{
    (void)m;
    memset(out, 0, sizeof *out);
    out->link_up = true;
}

static const hc_edge_media_ops_t fake_engine = {
    .create = fk_create,
    .destroy = fk_destroy,
    .publish = fk_publish,
    .receive = fk_receive,
    .start = fk_start,
    .set_budget = fk_budget,
    .rekey = fk_rekey,
    .pause = fk_pause,
    .stats = fk_stats,
};

static fake_t fake_snap(fake_t *f)
{
    pthread_mutex_lock(&f->mu);
    fake_t c = *f;
    pthread_mutex_unlock(&f->mu);
    return c;
}

/* ---- in-process boxes ---- */

typedef struct box {
    hc_edge_config_t *cfg;
    hc_edge_session_t *s;
    fake_t fake;
    pthread_t th;
    int result;
    bool running;
} box_t;

static void *box_main(void *ud)
{
    box_t *b = ud;
    tl_fake = &b->fake;
    b->result = hc_edge_session_run(b->s);
    return NULL;
}

/* Start a box: role, create kind ("" none), site name, extra INI text. */
static box_t *box_start(const relay_t *r, const char *session, const char *role, const char *create,
                        const char *site, const char *extra, bool raise_hand, const char *token)
{
    box_t *b = calloc(1, sizeof *b);
    pthread_mutex_init(&b->fake.mu, NULL);
    b->cfg = malloc(sizeof *b->cfg);
    hc_edge_config_default(b->cfg);
    char text[8192], err[4096];
    snprintf(text, sizeof text,
             "[edge]\nrelay = %s\ntoken = %s\nsite = %s\nsession = %s\nrole = %s\ncreate = %s\n"
             "%s",
             r->url, token ? token : rf_token(role, session, site), site, session, role, create,
             extra ? extra : "");
    int rc =
        hc_edge_config_load_data(b->cfg, text, strlen(text), "box.ini", ".", NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    rc = hc_edge_config_finish(b->cfg, err, sizeof err);
    ck_assert_msg(rc == 0, "%s", err);
    hc_edge_session_opts_t o;
    hc_edge_session_opts_default(&o);
    o.cfg = b->cfg;
    o.media = &fake_engine;
    o.raise_hand = raise_hand;
    ck_assert_int_eq(hc_edge_session_new(&b->s, &o, err, sizeof err), 0);
    ck_assert_int_eq(pthread_create(&b->th, NULL, box_main, b), 0);
    b->running = true;
    return b;
}

static int box_stop(box_t *b)
{
    if (b->running) {
        hc_edge_session_stop(b->s);
        pthread_join(b->th, NULL);
        b->running = false;
    }
    int rc = b->result;
    hc_edge_session_destroy(&b->s);
    free(b->cfg);
    pthread_mutex_destroy(&b->fake.mu);
    free(b);
    return rc;
}

static hc_edge_session_counters_t box_c(box_t *b)
{
    hc_edge_session_counters_t c;
    hc_edge_session_counters(b->s, &c);
    return c;
}

/* Wait until cond (an expression over box state) holds. */
#define WAIT_FOR(cond, ms, ...)                                                                    \
    do {                                                                                           \
        uint64_t end_ = hc_now_us() + (uint64_t)(ms)*1000u;                                        \
        while (!(cond) && hc_now_us() < end_) rf_sleep_ms(20);                                     \
        ck_assert_msg((cond), __VA_ARGS__);                                                        \
    } while (0)

#define SOURCES                                                                                    \
    "[source.cam]\npreset = test\nwidth = 320\nheight = 180\nfps = 15\n"                           \
    "[source.mic]\npreset = audiotest\n"

START_TEST(join_budget_and_relay_restart)
{
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    box_t *t = box_start(&r, "edge-class", "teacher", "class", "Teacher", SOURCES, false, NULL);
    box_t *s = box_start(&r, "edge-class", "site", "", "Site A", SOURCES, false, NULL);

    WAIT_FOR(box_c(t).state == HC_EDGE_SESS_JOINED && box_c(s).state == HC_EDGE_SESS_JOINED,
             SESSION_WAIT_MS, "both boxes join (teacher %s, site %s)",
             hc_edge_sess_state_name(box_c(t).state), hc_edge_sess_state_name(box_c(s).state));
    fake_t ft = fake_snap(&t->fake), fs = fake_snap(&s->fake);
    ck_assert_int_eq(ft.creates, 1);
    ck_assert_int_eq(ft.publishes, 2);
    ck_assert_int_eq(ft.starts, 1);
    ck_assert_uint_ne(ft.ssrc[0], 0);
    ck_assert_uint_ne(ft.ssrc[0], ft.ssrc[1]);
    ck_assert_uint_eq(hc_addr_port(&ft.leg.relay), r.media_port);
    ck_assert_int_eq(ft.cfg.profile, HC_PROFILE_CLASS);
    ck_assert_uint_eq(ft.cfg.start_kbps, 800);
    ck_assert_int_eq(fs.creates, 1);
    ck_assert_int_eq(fs.publishes, 2);
    /* The site receives the teacher's audio and video, labelled with the
     * teacher's site name. */
    WAIT_FOR(fake_snap(&s->fake).nrecv >= 2, SESSION_WAIT_MS, "site receives the teacher");
    fs = fake_snap(&s->fake);
    ck_assert_str_eq(fs.recv_label[0], "Teacher");

    /* An admin caps the site's uplink: the engine hears of it. */
    hc_sigclient_t *admin = NULL;
    rf_relay_t fr = {0};
    snprintf(fr.url, sizeof fr.url, "%s", r.url);
    ck_assert_int_eq(rf_connect(&fr, rf_token("admin", NULL, NULL), &admin), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_SET_BUDGET);
    snprintf(req.set_budget.site, sizeof req.set_budget.site, "Site A");
    req.set_budget.kbps = 500;
    rf_call_ok(admin, &req, &rep);
    hc_sig_msg_fini(&rep);
    hc_sigclient_destroy(&admin);
    WAIT_FOR(fake_snap(&s->fake).budget == 500, 5000, "budget reaches the site's engine");
    ck_assert_uint_eq(box_c(s).budget_kbps, 500);

    /* The relay crashes. */
    hc_edge_leg_t old_leg = fake_snap(&t->fake).leg;
    relay_kill(&r, SIGKILL);
    WAIT_FOR(fake_snap(&t->fake).paused && fake_snap(&s->fake).paused, 10000,
             "media paused when signaling drops");
    ck_assert_uint_ge(box_c(t).disconnects, 1);
    ck_assert_int_ne(box_c(s).state, HC_EDGE_SESS_JOINED);
    rf_sleep_ms(1500); /* a few failed reconnects: the backoff grows */
    uint64_t t_back = hc_now_us();
    relay_launch(&r);

    WAIT_FOR(box_c(t).joins >= 2 && box_c(s).joins >= 2 && !fake_snap(&t->fake).paused &&
                 !fake_snap(&s->fake).paused,
             SESSION_WAIT_MS, "both boxes rejoin after the relay restarts (joins %d/%d)",
             (int)box_c(t).joins, (int)box_c(s).joins);
    double back_s = (double)(hc_now_us() - t_back) / 1e6;
    fprintf(stderr, "edge_session: both boxes rejoined %.2f s after the relay came back\n", back_s);
    ft = fake_snap(&t->fake);
    fs = fake_snap(&s->fake);
    /* Same engine, new leg: never recreated. */
    ck_assert_int_eq(ft.creates, 1);
    ck_assert_int_eq(fs.creates, 1);
    ck_assert_int_eq(ft.rekeys, 1);
    ck_assert_int_eq(fs.rekeys, 1);
    ck_assert_int_eq(box_c(t).rekeys, 1);
    ck_assert(memcmp(ft.leg.key_up, old_leg.key_up, sizeof old_leg.key_up) != 0);
    ck_assert_uint_eq(hc_addr_port(&ft.leg.relay), r.media_port);
    ck_assert_uint_eq(ft.npub, 2);
    ck_assert_uint_ne(ft.ssrc[0], 0);
    /* The relay forgot the budget; the site's cap is lifted. */
    ck_assert_uint_eq(fs.budget, 0);
    WAIT_FOR(fake_snap(&s->fake).nrecv >= 2, SESSION_WAIT_MS, "site receives the teacher again");

    /* An orderly stop (an upgrade): the relay closes every session, then
     * the connections. That is a restart too, not the end of the class. */
    relay_kill(&r, SIGTERM);
    WAIT_FOR(fake_snap(&t->fake).paused && fake_snap(&s->fake).paused, 10000,
             "media paused when the relay stops");
    relay_launch(&r);
    WAIT_FOR(box_c(t).joins >= 3 && box_c(s).joins >= 3 && !fake_snap(&t->fake).paused &&
                 !fake_snap(&s->fake).paused,
             SESSION_WAIT_MS, "both boxes rejoin after an orderly restart (joins %d/%d)",
             (int)box_c(t).joins, (int)box_c(s).joins);
    ck_assert_int_eq(fake_snap(&t->fake).creates, 1);
    ck_assert_int_eq(fake_snap(&t->fake).rekeys, 2);

    ck_assert_int_eq(box_stop(s), 0);
    ck_assert_int_eq(box_stop(t), 0);
    relay_cleanup(&r);
}
END_TEST

/* A teacher box whose camera sends two simulcast layers: the join
 * publishes both (the relay assigns each its SSRC), the engine is given the
 * lower layer as a layer of the camera, and a rejoin after a relay restart
 * hands the engine every stream's new SSRC, layers included, in order. */
START_TEST(simulcast_publish_and_rejoin)
{
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    box_t *t = box_start(&r, "edge-simul", "teacher", "class", "Teacher",
                         "[source.cam]\npreset = test\nwidth = 640\nheight = 360\nfps = 30\n"
                         "simulcast = 2\n[source.mic]\npreset = audiotest\n",
                         false, NULL);
    WAIT_FOR(box_c(t).state == HC_EDGE_SESS_JOINED, SESSION_WAIT_MS, "the teacher joins (%s)",
             hc_edge_sess_state_name(box_c(t).state));
    fake_t f = fake_snap(&t->fake);
    ck_assert_int_eq(f.publishes, 3);
    ck_assert_str_eq(f.mid[0], "cam");
    ck_assert_int_eq(f.layer[0], 0);
    ck_assert_str_eq(f.mid[1], "cam-l1");
    ck_assert_int_eq(f.layer[1], 1);
    ck_assert_str_eq(f.layer_of[1], "cam");
    ck_assert(!f.has_pipeline[1]);
    ck_assert_int_eq(f.width[1], 320);
    ck_assert_uint_gt(f.max_kbps[1], 0);
    ck_assert_uint_le(f.max_kbps[1], 300);
    ck_assert_str_eq(f.mid[2], "mic");
    ck_assert_uint_ne(f.ssrc[0], 0);
    ck_assert_uint_ne(f.ssrc[1], 0);
    ck_assert_uint_ne(f.ssrc[0], f.ssrc[1]);
    ck_assert_uint_ne(f.ssrc[1], f.ssrc[2]);

    relay_kill(&r, SIGKILL);
    WAIT_FOR(fake_snap(&t->fake).paused, 10000, "media paused when signaling drops");
    relay_launch(&r);
    WAIT_FOR(box_c(t).joins >= 2 && !fake_snap(&t->fake).paused, SESSION_WAIT_MS,
             "the teacher rejoins after the relay restarts");
    f = fake_snap(&t->fake);
    ck_assert_int_eq(f.creates, 1);
    ck_assert_int_eq(f.rekeys, 1);
    ck_assert_uint_eq(f.npub, 3);
    ck_assert_uint_ne(f.ssrc[0], 0);
    ck_assert_uint_ne(f.ssrc[1], 0);
    ck_assert_uint_ne(f.ssrc[0], f.ssrc[1]);
    ck_assert_uint_ne(f.ssrc[1], f.ssrc[2]);
    ck_assert_int_eq(box_stop(t), 0);
    relay_cleanup(&r);
}
END_TEST

START_TEST(consult_control_channel)
{
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    box_t *sp = box_start(&r, "edge-consult", "clinician", "consult", "City Hospital",
                          "[source.face]\npreset = test\ntag = face\n[source.mic]\n"
                          "preset = audiotest\n",
                          false, NULL);
    WAIT_FOR(box_c(sp).state == HC_EDGE_SESS_JOINED, SESSION_WAIT_MS, "specialist joins");
    box_t *cl = box_start(&r, "edge-consult", "site", "", "Township Clinic",
                          "[source.scope]\npreset = test\ntag = diagnostic\n"
                          "[source.face]\npreset = test\ntag = face\n[source.mic]\n"
                          "preset = audiotest\n",
                          false, NULL);
    WAIT_FOR(box_c(cl).state == HC_EDGE_SESS_JOINED, SESSION_WAIT_MS, "clinic joins");
    ck_assert_int_eq(fake_snap(&cl->fake).cfg.profile, HC_PROFILE_CONSULT);
    ck_assert_uint_eq(fake_snap(&cl->fake).npub, 3);

    for (int i = 0; i < 5; i++) {
        char line[128];
        snprintf(line, sizeof line, "control {\"cmd\":\"move\",\"axis\":\"x\",\"mm\":%d}", i);
        ck_assert_int_eq(hc_edge_session_command(sp->s, line), 0);
    }
    WAIT_FOR(
        box_c(cl).controls_rx == 5 && box_c(sp).control_acks_rx == 5 && box_c(sp).control_rtts == 5,
        10000, "controls delivered and acknowledged (rx %d, acks %d, rtts %d)",
        (int)box_c(cl).controls_rx, (int)box_c(sp).control_acks_rx, (int)box_c(sp).control_rtts);
    ck_assert_uint_eq(box_c(sp).controls_tx, 5);
    ck_assert_uint_eq(box_c(cl).control_acks_tx, 5);
    /* Acknowledged at once: on loopback the relay's measure is small. */
    ck_assert_double_lt(box_c(sp).last_control_rtt_ms, 150.0);
    /* Not JSON: refused locally, nothing sent. */
    ck_assert_int_eq(hc_edge_session_command(sp->s, "control {oops"), 0);
    rf_sleep_ms(300);
    ck_assert_uint_eq(box_c(sp).controls_tx, 5);
    /* No alarm: every control was acknowledged within the deadline. */
    ck_assert_uint_eq(box_c(sp).alarms, 0);

    ck_assert_int_eq(box_stop(cl), 0);
    ck_assert_int_eq(box_stop(sp), 0);
    relay_cleanup(&r);
}
END_TEST

START_TEST(class_hand_and_floor)
{
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    box_t *t = box_start(&r, "edge-floor", "teacher", "class", "Teacher", SOURCES, false, NULL);
    WAIT_FOR(box_c(t).state == HC_EDGE_SESS_JOINED, SESSION_WAIT_MS, "teacher joins");
    box_t *s = box_start(&r, "edge-floor", "site", "", "Site B", SOURCES, true, NULL);
    WAIT_FOR(box_c(s).state == HC_EDGE_SESS_JOINED, SESSION_WAIT_MS, "site joins");
    WAIT_FOR(box_c(t).hands >= 1, 5000, "the teacher sees the raised hand");
    char line[128];
    snprintf(line, sizeof line, "grant %s", box_c(s).participant);
    ck_assert_int_eq(hc_edge_session_command(t->s, line), 0);
    WAIT_FOR(!strcmp(box_c(s).floor, box_c(s).participant) &&
                 !strcmp(box_c(t).floor, box_c(s).participant),
             5000, "the site holds the floor (site sees \"%s\")", box_c(s).floor);
    /* The site hands it back. */
    ck_assert_int_eq(hc_edge_session_command(s->s, "revoke"), 0);
    WAIT_FOR(box_c(t).floor[0] == 0 && box_c(t).floors >= 2, 5000, "floor back to nobody");

    /* An admin ends the class: both boxes end their session (after making
     * sure the relay is not merely going away) without rejoining. */
    hc_sigclient_t *admin = NULL;
    rf_relay_t fr = {0};
    snprintf(fr.url, sizeof fr.url, "%s", r.url);
    ck_assert_int_eq(rf_connect(&fr, rf_token("admin", NULL, NULL), &admin), 0);
    hc_sig_msg_t req, rep;
    hc_sig_msg_init(&req, HC_SIG_CLOSE_SESSION);
    snprintf(req.close_session.session, sizeof req.close_session.session, "edge-floor");
    rf_call_ok(admin, &req, &rep);
    hc_sig_msg_fini(&rep);
    hc_sigclient_destroy(&admin);
    WAIT_FOR(box_c(t).state == HC_EDGE_SESS_DONE && box_c(s).state == HC_EDGE_SESS_DONE, 8000,
             "both sessions end");
    ck_assert_uint_eq(box_c(t).joins, 1);
    ck_assert_uint_eq(box_c(t).disconnects, 0);
    ck_assert_int_eq(box_stop(s), 0);
    ck_assert_int_eq(box_stop(t), 0);
    relay_cleanup(&r);
}
END_TEST

START_TEST(bad_token_ends_session)
{
    hc_log_set_level(HC_LOG_ERROR);
    relay_t r;
    relay_start(&r);
    box_t *b = box_start(
        &r, "edge-bad", "site", "", "Site C", "", false,
        rf_token_key("site", "edge-bad", "Site C", "another-key-0123456789abcdef0123456789"));
    WAIT_FOR(box_c(b).state == HC_EDGE_SESS_DONE, 10000, "the session gives up");
    ck_assert_int_eq(box_stop(b), -HC_ESIGNATURE);
    relay_cleanup(&r);
}
END_TEST

/* ---- hc-edge processes on the real engine ---- */

typedef struct edge_proc {
    pid_t pid;
    char ini[256], json[256], out[256];
} edge_proc_t;

static void need_program(const char *name)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/%s", hc_test_bin_dir(), name);
    if (access(bin, X_OK) != 0)
        ck_abort_msg("%s is not built (for hc-edge: the media engine, edge/media.c, is part of "
                     "it)",
                     bin);
}

static void edge_start(edge_proc_t *e, const relay_t *r, const char *name, const char *role,
                       const char *create, const char *network, const char *extra)
{
    snprintf(e->ini, sizeof e->ini, "%s/%s.ini", r->dir, name);
    snprintf(e->json, sizeof e->json, "%s/%s.json", r->dir, name);
    snprintf(e->out, sizeof e->out, "%s/%s.out", r->dir, name);
    FILE *f = fopen(e->ini, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "[edge]\nrelay = %s\ntoken = %s\nsite = %s\nsession = edge-media\nrole = %s\n"
            "create = %s\n[playback]\nvideo_sink = headless\naudio_sink = headless\n"
            "[network]\nstart_kbps = 300\nmax_kbps = 800\n%s%s",
            r->url, rf_token(role, "edge-media", name), name, role, create, network ? network : "",
            extra ? extra : "");
    fclose(f);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/hc-edge", hc_test_bin_dir());
    char *argv[] = {bin,          "-c",   e->ini, "--stats-json", e->json, "--no-stdin",
                    "--duration", "300s", NULL};
    e->pid = rf_spawn(argv, e->out);
}

static int edge_stop(edge_proc_t *e)
{
    if (e->pid <= 0) return -1;
    kill(e->pid, SIGTERM);
    int code = rf_wait_exit(e->pid, e->out);
    e->pid = 0;
    return code;
}

static void edge_dump(const edge_proc_t *e)
{
    char line[2048];
    FILE *f = fopen(e->out, "r");
    fprintf(stderr, "---- %s ----\n", e->out);
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (n++ < 400) fputs(line, stderr);
    if (f) fclose(f);
}

/* One line of the stats JSON, reduced to what the tests look at. */
typedef struct sline {
    uint64_t wall_ms;
    uint64_t joins, disconnects;
    bool joined;
    uint64_t vframes; /* received video frames shown (on time + late) */
    uint64_t stamps;  /* of them, with a good test-source stamp */
    int height;
} sline_t;

/* Read every complete line of a stats file; returns the count. */
static size_t read_stats(const char *path, sline_t *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    char *line = malloc(65536);
    while (n < cap && fgets(line, 65536, f)) {
        if (!strchr(line, '\n')) break; /* being written */
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        ck_assert_msg(j != NULL, "stats line is not JSON: %s (%s)", je.text, line);
        sline_t *s = &out[n++];
        memset(s, 0, sizeof *s);
        s->wall_ms = (uint64_t)json_integer_value(json_object_get(j, "wall_ms"));
        s->joins = (uint64_t)json_integer_value(json_object_get(j, "joins"));
        s->disconnects = (uint64_t)json_integer_value(json_object_get(j, "disconnects"));
        s->joined = !strcmp(json_string_value(json_object_get(j, "state")), "joined");
        json_t *recv = json_object_get(j, "recv");
        for (size_t i = 0; i < json_array_size(recv); i++) {
            json_t *r = json_array_get(recv, i);
            int h = (int)json_integer_value(json_object_get(r, "height"));
            uint64_t st = (uint64_t)json_integer_value(json_object_get(r, "stamp_ok"));
            /* Video tracks: a picture height, or stamps read from pictures. */
            if (h <= 0 && st == 0) continue;
            s->vframes += (uint64_t)json_integer_value(json_object_get(r, "frames_on_time")) +
                          (uint64_t)json_integer_value(json_object_get(r, "frames_late"));
            s->stamps += st;
            if (h > s->height) s->height = h;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return n;
}

#define MAX_LINES 1024

/* Wait until the last line's video frames reach min_frames; returns it. */
static sline_t wait_frames(const edge_proc_t *e, uint64_t min_frames, uint64_t min_joins, int ms,
                           const char *what)
{
    static sline_t lines[MAX_LINES];
    uint64_t end = hc_now_us() + (uint64_t)ms * 1000u;
    sline_t last = {0};
    while (hc_now_us() < end) {
        size_t n = read_stats(e->json, lines, MAX_LINES);
        if (n) {
            last = lines[n - 1];
            if (last.vframes >= min_frames && last.joins >= min_joins && last.joined) return last;
        }
        int st;
        if (waitpid(e->pid, &st, WNOHANG) == e->pid) {
            edge_dump(e);
            ck_abort_msg("%s: hc-edge exited", what);
        }
        rf_sleep_ms(200);
    }
    edge_dump(e);
    ck_abort_msg("%s: %" PRIu64 " video frames (want %" PRIu64 "), joins %" PRIu64, what,
                 last.vframes, min_frames, last.joins);
    return last;
}

START_TEST(media_flows_and_survives_relay_restart)
{
    need_program("hc-edge");
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    edge_proc_t t = {0}, s = {0};
    edge_start(&t, &r, "teacher", "teacher", "class", NULL,
               "[source.cam]\npreset = test\nwidth = 320\nheight = 180\nfps = 15\n"
               "[source.mic]\npreset = audiotest\n");
    edge_start(&s, &r, "site", "site", "", NULL, NULL);

    sline_t a = wait_frames(&s, 30, 1, 30000, "frames decode at the site");
    ck_assert_int_eq(a.height, 180);
    ck_assert_uint_gt(a.stamps, 0);

    /* An orderly relay restart (an upgrade). */
    relay_kill(&r, SIGTERM);
    rf_sleep_ms(1000);
    uint64_t t_back = hc_wall_us() / 1000u;
    relay_launch(&r);
    sline_t b = wait_frames(&s, a.vframes + 30, 2, 30000, "frames resume after the restart");
    ck_assert_uint_ge(b.joins, 2);
    ck_assert_uint_gt(b.stamps, a.stamps);
    /* How long the pictures stopped, for the record (the reconnect backoff
     * decides most of it; not asserted). */
    static sline_t lines[MAX_LINES];
    size_t n = read_stats(s.json, lines, MAX_LINES);
    for (size_t i = 1; i < n; i++) {
        if (lines[i].wall_ms > t_back && lines[i].joins >= 2 &&
            lines[i].vframes > lines[i - 1].vframes) {
            fprintf(stderr, "edge_session: frames again %.1f s after the relay came back\n",
                    (double)(lines[i].wall_ms - t_back) / 1e3);
            break;
        }
    }

    ck_assert_int_eq(edge_stop(&s), 0);
    ck_assert_int_eq(edge_stop(&t), 0);
    /* The summary names what was received. */
    FILE *f = fopen(s.out, "r");
    char line[2048];
    bool summary = false;
    while (f && fgets(line, sizeof line, f)) summary |= strstr(line, "hc-edge summary") != NULL;
    if (f) fclose(f);
    ck_assert(summary);
    relay_cleanup(&r);
}
END_TEST

/*
 * A 30 s media outage between the site and the relay (hc-impair drops
 * both directions; signaling goes straight to the relay and stays up).
 *
 * Timing: hc-impair counts its script from its own start, which lies
 * between t_spawn (taken before fork) and t_ready (its port line read), so
 * the outage ends in [t_spawn + 40 s, t_ready + 40 s]. "Back within 2 s"
 * is checked on the stats JSON's wall-clock stamps: the first stats line
 * written at or after t_ready + 40 s + 2 s (at most one stats period, 1 s,
 * later) must show more video frames than the last line written before
 * t_spawn + 40 s, and frames must keep coming in the lines after it. The
 * tolerance is thus the impair's start-up time (t_ready - t_spawn, printed)
 * plus the 1 s granularity of the stats lines; nothing depends on how fast
 * this machine encodes.
 */
START_TEST(media_outage_30s)
{
    need_program("hc-edge");
    need_program("hc-impair");
    hc_log_set_level(HC_LOG_WARN);
    relay_t r;
    relay_start(&r);
    edge_proc_t t = {0}, s = {0};
    edge_start(&t, &r, "teacher", "teacher", "class", NULL,
               "[source.cam]\npreset = test\nwidth = 320\nheight = 180\nfps = 15\n");

    /* The site's media goes through the link emulator; the script cuts it
     * 12 s after the emulator starts, for 30 s. */
    char bin[512], tgt[64], portf[256];
    snprintf(bin, sizeof bin, "%s/hc-impair", hc_test_bin_dir());
    snprintf(tgt, sizeof tgt, "127.0.0.1:%u", r.media_port);
    snprintf(portf, sizeof portf, "%s/impair.out", r.dir);
    char *iargv[] = {bin,          "--listen",     "127.0.0.1:0", "--target",
                     tgt,          "--print-port", "--step",      "at 12s both outage 30s",
                     "--duration", "120",          NULL};
    uint64_t t_spawn = hc_wall_us() / 1000u;
    pid_t imp = rf_spawn(iargv, portf);
    unsigned port = 0;
    for (int i = 0; i < 500 && !port; i++) {
        FILE *f = fopen(portf, "r");
        if (f) {
            if (fscanf(f, "%u", &port) != 1) port = 0;
            fclose(f);
        }
        if (!port) rf_sleep_ms(10);
    }
    uint64_t t_ready = hc_wall_us() / 1000u;
    ck_assert_uint_gt(port, 0);
    fprintf(stderr, "edge_session: hc-impair ready after %" PRIu64 " ms\n", t_ready - t_spawn);
    char via[96];
    snprintf(via, sizeof via, "media_via = 127.0.0.1:%u\n", port);
    edge_start(&s, &r, "site", "site", "", via, NULL);

    uint64_t out_lo = t_spawn + 12000, end_lo = t_spawn + 42000, end_hi = t_ready + 42000;
    /* Frames before the outage. */
    sline_t a = wait_frames(&s, 20, 1, 12000, "frames decode before the outage");
    ck_assert_uint_lt(a.wall_ms, out_lo);

    /* Through the outage and 6 s past its end. */
    while (hc_wall_us() / 1000u < end_hi + 6000) {
        int st;
        ck_assert_msg(waitpid(s.pid, &st, WNOHANG) != s.pid, "the site's hc-edge exited");
        rf_sleep_ms(250);
    }
    static sline_t lines[MAX_LINES];
    size_t n = read_stats(s.json, lines, MAX_LINES);
    ck_assert_uint_gt(n, 30);
    /* During the outage (from 2 s after its start to its end) nothing new
     * arrives: the emulator did cut the link. */
    const sline_t *mid_a = NULL, *mid_b = NULL, *before_end = NULL, *after = NULL;
    size_t after_i = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mid_a && lines[i].wall_ms >= t_ready + 14000) mid_a = &lines[i];
        if (lines[i].wall_ms < end_lo) mid_b = &lines[i], before_end = &lines[i];
        if (!after && lines[i].wall_ms >= end_hi + 2000) after = &lines[i], after_i = i;
    }
    ck_assert_ptr_nonnull(mid_a);
    ck_assert_ptr_nonnull(after);
    ck_assert_msg(mid_b->vframes == mid_a->vframes,
                  "frames arrived during the outage (%" PRIu64 " -> %" PRIu64 ")", mid_a->vframes,
                  mid_b->vframes);
    fprintf(stderr,
            "edge_session: outage end in [%" PRIu64 ", %" PRIu64 "] ms; first line after +2 s at "
            "+%" PRId64 " ms: %" PRIu64 " -> %" PRIu64 " frames\n",
            end_lo, end_hi, (int64_t)(after->wall_ms - end_hi), before_end->vframes,
            after->vframes);
    for (size_t i = 0; i < n; i++)
        if (lines[i].wall_ms >= end_lo - 1000 && lines[i].wall_ms <= end_hi + 4000)
            fprintf(stderr, "  +%6" PRId64 " ms: %" PRIu64 " frames\n",
                    (int64_t)lines[i].wall_ms - (int64_t)end_lo, lines[i].vframes);
    ck_assert_msg(after->vframes > before_end->vframes,
                  "no live video within 2 s of the outage's end");
    /* ... and it keeps flowing. */
    ck_assert_uint_gt(n, after_i + 2);
    ck_assert_uint_gt(lines[after_i + 2].vframes, after->vframes);
    /* The session survived: no reconnect, no rejoin. */
    ck_assert_uint_eq(lines[n - 1].joins, 1);
    ck_assert_uint_eq(lines[n - 1].disconnects, 0);
    ck_assert(lines[n - 1].joined);

    ck_assert_int_eq(edge_stop(&s), 0);
    ck_assert_int_eq(edge_stop(&t), 0);
    kill(imp, SIGTERM);
    waitpid(imp, NULL, 0);
    relay_cleanup(&r);
}
END_TEST

static Suite *edge_session_suite(void)
{
    Suite *s = suite_create("edge_session");
    TCase *tc = tcase_create("signaling");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, join_budget_and_relay_restart);
    tcase_add_test(tc, simulcast_publish_and_rejoin);
    tcase_add_test(tc, consult_control_channel);
    tcase_add_test(tc, class_hand_and_floor);
    tcase_add_test(tc, bad_token_ends_session);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("media");
    tcase_set_timeout(tm, 300);
    tcase_add_test(tm, media_flows_and_survives_relay_restart);
    tcase_add_test(tm, media_outage_30s);
    suite_add_tcase(s, tm);
    return s;
}

HC_TEST_MAIN(edge_session_suite)
