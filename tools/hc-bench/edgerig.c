/* edgerig.c - programs, traces, hc-impair children and engine participants
 * for the edge benchmarks; see edgerig.h. */
#include "tools/hc-bench/edgerig.h"

#include "edge/capture.h"
#include "proto/b64.h"
#include "proto/err.h"
#include "relay/core/clock.h"
#include "tools/hc-probe/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef HC_BENCH_SOURCE_DIR
#define HC_BENCH_SOURCE_DIR "."
#endif

/* Under LeakSanitizer (the sanitizer build): GLib's constructor keeps a
 * block LSan cannot see a pointer to, and the test source's overlays
 * render text with pango, whose fontconfig caches live until exit by
 * design (tests/integration/test_edge_media.c does the same). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:_dl_init\nleak:libfontconfig.so\nleak:libpango\n";
}
/* Full stacks at malloc, so GLib's constructor block shows _dl_init. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "fast_unwind_on_malloc=0";
}

/* ---- small things ---- */

void er_bin_path(const char *name, char *out, size_t cap)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        snprintf(out, cap, "%s", name);
        return;
    }
    self[n] = 0;
    char *sl = strrchr(self, '/');
    if (sl) *sl = 0;
    snprintf(out, cap, "%s/%s", self, name);
}

const char *er_traces_dir(void)
{
    static char path[4096];
    struct stat st;
    const char *env = getenv("HC_TRACES_DIR");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared/traces", HC_BENCH_SOURCE_DIR);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return path;
}

double er_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

void er_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void er_progress(const char *bench, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hc-bench %s: ", bench);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- hc-impair ---- */

/* Read one line (without the newline) into line, waiting up to timeout_ms.
 * 0, -HC_ETIMEOUT, -HC_EIO (closed). */
static int read_line(er_impair_t *m, char *line, size_t cap, int timeout_ms)
{
    uint64_t end = hc_now_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        char *nl = memchr(m->buf, '\n', m->len);
        if (nl) {
            size_t n = (size_t)(nl - m->buf);
            size_t c = n < cap - 1 ? n : cap - 1;
            memcpy(line, m->buf, c);
            line[c] = 0;
            memmove(m->buf, nl + 1, m->len - n - 1);
            m->len -= n + 1;
            return 0;
        }
        if (m->len == sizeof m->buf) m->len = 0; /* a line longer than any report: drop */
        uint64_t now = hc_now_us();
        if (now >= end) return -HC_ETIMEOUT;
        struct pollfd p = {.fd = m->out, .events = POLLIN};
        int rc = poll(&p, 1, (int)((end - now) / 1000u) + 1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) continue;
        ssize_t r = read(m->out, m->buf + m->len, sizeof m->buf - m->len);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -HC_EIO;
        m->len += (size_t)r;
    }
}

int er_impair_start(er_impair_t *m, uint16_t target_port, const char *const *args, char *err,
                    size_t errcap)
{
    memset(m, 0, sizeof *m);
    m->pid = -1;
    m->out = -1;
    char bin[4096], target[64];
    er_bin_path("hc-impair", bin, sizeof bin);
    if (access(bin, X_OK) != 0) {
        snprintf(err, errcap, "no hc-impair at %s", bin);
        return -HC_EIO;
    }
    snprintf(target, sizeof target, "127.0.0.1:%u", target_port);
    const char *argv[64];
    int n = 0;
    argv[n++] = bin;
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--target";
    argv[n++] = target;
    argv[n++] = "--print-port";
    /* enough packet slots for a 300 ms queue at several Mbit/s and a
     * 50 ms delay line in each direction */
    argv[n++] = "--slots";
    argv[n++] = "16384";
    for (size_t i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;
    int pfd[2];
    if (pipe(pfd) < 0) return -HC_EIO;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -HC_EIO;
    }
    if (pid == 0) {
        dup2(pfd[1], 1);
        /* its human report repeats on every SIGUSR1: not for our terminal */
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 2);
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    m->pid = pid;
    m->out = pfd[0];
    char line[64];
    int rc = read_line(m, line, sizeof line, 10000);
    if (rc < 0 || atoi(line) <= 0 || atoi(line) > 65535) {
        snprintf(err, errcap, "hc-impair did not start (bad arguments?)");
        er_impair_stop(m, NULL);
        return rc < 0 ? rc : -HC_EIO;
    }
    m->port = (uint16_t)atoi(line);
    return 0;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static void parse_dir(json_t *d, er_imp_dir_t *o)
{
    memset(o, 0, sizeof *o);
    if (!json_is_object(d)) return;
    o->pkts_in = num(d, "pkts_in");
    o->bytes_in = num(d, "bytes_in");
    o->pkts_out = num(d, "pkts_out");
    o->bytes_out = num(d, "bytes_out");
    o->dropped = num(d, "dropped_total");
    json_t *q = json_object_get(d, "qdelay_ms");
    if (json_is_object(q)) {
        o->qdelay_n = num(q, "n");
        o->qdelay_p50_ms = num(q, "p50");
        o->qdelay_p95_ms = num(q, "p95");
        o->qdelay_max_ms = num(q, "max");
    }
}

int er_imp_parse(const char *text, er_imp_snap_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *root = json_loads(text, 0, NULL);
    json_t *imp = root ? json_object_get(root, "impair") : NULL;
    if (!json_is_object(imp)) {
        json_decref(root);
        return -HC_EMALFORMED;
    }
    out->elapsed_s = num(imp, "elapsed_s");
    parse_dir(json_object_get(imp, "up"), &out->up);
    parse_dir(json_object_get(imp, "down"), &out->down);
    json_decref(root);
    return 0;
}

int er_impair_snap(er_impair_t *m, er_imp_snap_t *out)
{
    if (m->pid <= 0) return -HC_EIO;
    if (kill(m->pid, SIGUSR1) < 0) return -HC_EIO;
    char line[4096];
    for (;;) {
        int rc = read_line(m, line, sizeof line, 2000);
        if (rc < 0) return rc;
        if (er_imp_parse(line, out) == 0) return 0;
    }
}

int er_impair_stop(er_impair_t *m, er_imp_snap_t *last)
{
    int ret = 0;
    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        if (last) {
            /* the final report is the last line it prints */
            char line[4096];
            bool got = false;
            er_imp_snap_t s;
            while (read_line(m, line, sizeof line, 3000) == 0)
                if (er_imp_parse(line, &s) == 0) {
                    *last = s;
                    got = true;
                }
            if (!got) ret = -HC_EIO;
        }
        int st;
        for (int i = 0; i < 60 && waitpid(m->pid, &st, WNOHANG) != m->pid; i++) {
            if (i == 40) kill(m->pid, SIGKILL);
            er_sleep_ms(50);
        }
        m->pid = -1;
    }
    if (m->out >= 0) close(m->out);
    m->out = -1;
    return ret;
}

/* ---- a participant ---- */

static int call(er_party_t *p, hc_sig_msg_t *req, hc_sig_msg_t *rep, const char *what, char *err,
                size_t errcap)
{
    int rc = hc_sigclient_call(p->sig, req, rep, 10000);
    if (rc < 0)
        snprintf(err, errcap, "%s: %s %.200s", what, hc_errname(rc),
                 rep->type == HC_SIG_ERROR ? rep->error.reason : "");
    return rc;
}

int er_party_join(er_party_t *p, const fo_relay_t *r, const char *role, const char *session,
                  const char *site, bool create, bool publish, char *err, size_t errcap)
{
    memset(p, 0, sizeof *p);
    char tok[4200];
    if (fo_relay_token(r, role, session, site, tok, sizeof tok) < 0) {
        snprintf(err, errcap, "cannot mint a token");
        return -HC_EINTERNAL;
    }
    hc_sigclient_cfg_t c;
    hc_sigclient_cfg_default(&c);
    c.url = r->url;
    c.token = tok;
    c.client = "hc-bench/0.1.0";
    int rc = hc_sigclient_connect(&p->sig, &c, err, errcap);
    if (rc < 0) return rc;
    hc_sig_msg_t req, rep;
    if (create) {
        hc_sig_msg_init(&req, HC_SIG_CREATE);
        req.create.kind = HC_SIG_KIND_CLASS;
        snprintf(req.create.session, sizeof req.create.session, "%s", session);
        rc = call(p, &req, &rep, "create", err, errcap);
        hc_sig_msg_fini(&rep);
        if (rc < 0) return rc;
    }
    hc_sig_msg_init(&req, HC_SIG_JOIN);
    snprintf(req.join.session, sizeof req.join.session, "%s", session);
    snprintf(req.join.site, sizeof req.join.site, "%s", site);
    if (publish) {
        hc_sig_stream_pub_t *s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "v0");
        s->kind = HC_SIG_MEDIA_VIDEO;
        s->tag = HC_SIG_TAG_MAIN;
        s->codec = HC_SIG_CODEC_H264;
        s = &req.join.publish[req.join.n_publish++];
        snprintf(s->mid, sizeof s->mid, "a0");
        s->kind = HC_SIG_MEDIA_AUDIO;
        s->tag = HC_SIG_TAG_AUDIO;
        s->codec = HC_SIG_CODEC_OPUS;
    }
    req.join.subscribe = !publish;
    req.join.has_subscribe = true;
    rc = call(p, &req, &rep, "join", err, errcap);
    if (rc == 0 && rep.type != HC_SIG_JOINED) {
        snprintf(err, errcap, "join: answered %s", hc_sig_type_name(rep.type));
        rc = -HC_EUNSUPPORTED;
    }
    if (rc == 0) p->joined = rep.joined;
    hc_sig_msg_fini(&rep);
    if (rc == 0 && publish && p->joined.n_streams < 2) {
        snprintf(err, errcap, "joined with %zu streams", (size_t)p->joined.n_streams);
        rc = -HC_EUNSUPPORTED;
    }
    p->last_ping_us = hc_now_us();
    return rc;
}

int er_party_media(er_party_t *p, const fo_relay_t *r, uint16_t via_port,
                   const hc_edge_media_cfg_t *base, char *err, size_t errcap)
{
    hc_edge_media_cfg_t c = *base;
    hc_endpoint_cfg_t ec;
    hc_endpoint_cfg_default(&ec);
    if (hc_probe_endpoint_keys(&p->joined, &ec) < 0) {
        snprintf(err, errcap, "joined: bad keys");
        return -HC_EMALFORMED;
    }
    c.leg.suite = ec.suite;
    memcpy(c.leg.key_up, ec.key_up, sizeof c.leg.key_up);
    memcpy(c.leg.key_down, ec.key_down, sizeof c.leg.key_down);
    c.leg.rtcp_ssrc = ec.rtcp_ssrc;
    char via[64] = "";
    if (via_port) snprintf(via, sizeof via, "127.0.0.1:%u", via_port);
    if (hc_probe_media_addr(r->url, &p->joined, via_port ? via : NULL, &c.leg.relay) < 0) {
        snprintf(err, errcap, "joined: bad media address");
        return -HC_EINVAL;
    }
    p->repair = c.repair;
    return hc_edge_media_new(&p->media, &c, err, errcap);
}

int er_party_publish_test(er_party_t *p, int w, int h, int fps, bool audio, uint32_t max_kbps,
                          char *err, size_t errcap)
{
    char mode[32], pv[2048], pa[1024];
    snprintf(mode, sizeof mode, "%dx%d@%d", w, h, fps);
    int rc = hc_capture_preset("test", mode, pv, sizeof pv, err, errcap);
    if (rc < 0) return rc;
    const hc_sig_stream_info_t *sv = &p->joined.streams[0], *sa = &p->joined.streams[1];
    if (sv->kind != HC_SIG_MEDIA_VIDEO) {
        const hc_sig_stream_info_t *t = sv;
        sv = sa;
        sa = t;
    }
    hc_edge_pub_cfg_t v = {.mid = "v0",
                           .kind = HC_EDGE_VIDEO,
                           .role = HC_ROLE_MAIN,
                           .pipeline = pv,
                           .ssrc = sv->ssrc,
                           .rtx_ssrc = sv->has_rtx_ssrc ? sv->rtx_ssrc : 0,
                           .fec_ssrc = sv->has_fec_ssrc ? sv->fec_ssrc : 0,
                           .max_kbps = max_kbps,
                           .width = w,
                           .height = h,
                           .fps = fps};
    if ((rc = hc_edge_media_publish(p->media, &v, err, errcap)) < 0) return rc;
    if (!audio) return 0;
    if ((rc = hc_capture_preset("audiotest", NULL, pa, sizeof pa, err, errcap)) < 0) return rc;
    hc_edge_pub_cfg_t a = {.mid = "a0",
                           .kind = HC_EDGE_AUDIO,
                           .role = HC_ROLE_AUDIO,
                           .pipeline = pa,
                           .ssrc = sa->ssrc,
                           .rtx_ssrc = sa->has_rtx_ssrc ? sa->rtx_ssrc : 0};
    return hc_edge_media_publish(p->media, &a, err, errcap);
}

static int apply_tracks(er_party_t *p, const hc_sig_stream_info_t *list, size_t n)
{
    hc_edge_recv_cfg_t r[24];
    p->nrecv = n < 24 ? n : 24;
    for (size_t i = 0; i < p->nrecv; i++) {
        p->recv[i] = list[i];
        const hc_sig_stream_info_t *s = &p->recv[i];
        r[i] = (hc_edge_recv_cfg_t){.mid = s->mid,
                                    .label = s->participant,
                                    .kind = s->kind == HC_SIG_MEDIA_VIDEO ? HC_EDGE_VIDEO
                                                                          : HC_EDGE_AUDIO,
                                    .ssrc = s->ssrc,
                                    .rtx_ssrc = s->has_rtx_ssrc ? s->rtx_ssrc : 0,
                                    .fec_ssrc = s->has_fec_ssrc ? s->fec_ssrc : 0};
    }
    return hc_edge_media_receive(p->media, r, p->nrecv);
}

int er_party_receive_joined(er_party_t *p)
{
    return apply_tracks(p, p->joined.receive, p->joined.n_receive);
}

void er_party_pump(er_party_t *p)
{
    if (!p->sig) return;
    uint64_t now = hc_now_us();
    if (now > p->last_ping_us + 5000000) {
        hc_sig_msg_t ping;
        hc_sig_msg_init(&ping, HC_SIG_PING);
        ping.ping.id = (uint32_t)(now / 1000000u % 1000u) + 1u;
        (void)hc_sigclient_send(p->sig, &ping);
        p->last_ping_us = now;
    }
    hc_sig_msg_t m;
    while (hc_sigclient_recv(p->sig, &m, 0) == 0) {
        if (m.type == HC_SIG_TRACKS && p->media)
            (void)apply_tracks(p, m.tracks.receive, m.tracks.n_receive);
        hc_sig_msg_fini(&m);
    }
}

void er_party_fini(er_party_t *p)
{
    hc_edge_media_destroy(&p->media);
    hc_sigclient_destroy(&p->sig);
}

const hc_edge_recv_stats_t *er_recv_of(const er_party_t *p, const hc_edge_stats_t *s,
                                       hc_edge_kind_t kind)
{
    hc_sig_media_t want = kind == HC_EDGE_VIDEO ? HC_SIG_MEDIA_VIDEO : HC_SIG_MEDIA_AUDIO;
    for (size_t i = 0; i < s->n_recv; i++)
        for (size_t k = 0; k < p->nrecv; k++)
            if (p->recv[k].kind == want && !strcmp(p->recv[k].mid, s->recv[i].mid))
                return &s->recv[i];
    return NULL;
}

const hc_edge_pub_stats_t *er_pub_of(const hc_edge_stats_t *s, const char *mid)
{
    for (size_t i = 0; i < s->n_pub; i++)
        if (!strcmp(s->pub[i].mid, mid)) return &s->pub[i];
    return NULL;
}
