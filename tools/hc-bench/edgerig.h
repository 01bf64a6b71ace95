/*
 * edgerig.h - what the edge benchmarks (`hc-bench adapt`, `loss`,
 * `encode`) share: finding the programs and the traces, hc-impair as a
 * child process whose JSON reports are read on demand (SIGUSR1), and a
 * participant made of a signaling client and an hc-edge media engine
 * (edge/media.h) joined to a real hc-relay (started with relayproc.c's
 * fo_relay_start()).
 *
 * Topology the benchmarks build on loopback:
 *
 *   engine --UDP--> hc-impair --UDP--> hc-relay <--UDP-- hc-impair <-- engine
 *   (publisher)     (its uplink)                 (downlink)   (subscriber)
 *
 * hc-impair's "up" direction is always client -> relay and "down" relay ->
 * client, so a publisher's uplink is impaired with --up and a subscriber's
 * downlink with --down.
 *
 * Ownership: every struct is caller storage; *_start / er_party_join
 * allocate, *_stop / er_party_fini free. Threading: one thread (the
 * benchmark's main thread) drives all of it; the engines run their own
 * threads inside.
 */
#ifndef HC_BENCH_EDGERIG_H
#define HC_BENCH_EDGERIG_H

#include "edge/media.h"
#include "edge/sigclient.h"
#include "tools/hc-bench/fanout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- small things ---- */

/* Path of a program installed next to hc-bench (hc-relay, hc-impair). */
void er_bin_path(const char *name, char *out, size_t cap);
/* The traces folder: HC_TRACES_DIR, else <source>/../shared/traces; NULL
 * when it is absent. */
const char *er_traces_dir(void);
/* utime + stime of this process, all threads, in seconds. */
double er_self_cpu_s(void);
void er_sleep_ms(unsigned ms);
/* A progress line on stderr, prefixed with "hc-bench <bench>: ". */
__attribute__((format(printf, 2, 3))) void er_progress(const char *bench, const char *fmt, ...);

/* ---- hc-impair ---- */

typedef struct er_imp_dir {
    double pkts_in, bytes_in, pkts_out, bytes_out, dropped;
    double qdelay_n, qdelay_p50_ms, qdelay_p95_ms, qdelay_max_ms;
} er_imp_dir_t;

typedef struct er_imp_snap {
    double elapsed_s; /* hc-impair's clock: its script runs on it */
    er_imp_dir_t up, down;
} er_imp_snap_t;

typedef struct er_impair {
    pid_t pid;
    int out; /* its stdout: the port line, then one JSON report per line */
    uint16_t port;
    char buf[16384];
    size_t len;
} er_impair_t;

/* Start hc-impair listening on 127.0.0.1:0 and forwarding to
 * 127.0.0.1:target_port, with extra arguments args (NULL-terminated, e.g.
 * "--up", "rate=1mbit", "--step", "at 20s up rate=2500kbit"). Waits for its
 * port. 0 or -HC_EIO / -HC_ETIMEOUT with a message in err. */
int er_impair_start(er_impair_t *m, uint16_t target_port, const char *const *args, char *err,
                    size_t errcap);
/* Ask for a report (SIGUSR1) and parse it. 0, -HC_ETIMEOUT, -HC_EIO. */
int er_impair_snap(er_impair_t *m, er_imp_snap_t *out);
/* Stop it (SIGTERM); its final report into *last when not NULL. */
int er_impair_stop(er_impair_t *m, er_imp_snap_t *last);
/* One hc-impair JSON report line into a snapshot. 0 or -HC_EMALFORMED. */
int er_imp_parse(const char *json, er_imp_snap_t *out);

/* ---- a participant ---- */

typedef struct er_party {
    hc_sigclient_t *sig;
    hc_sig_joined_t joined;
    hc_edge_media_t *media;
    bool repair; /* the media engine's repair, as created */
    uint64_t last_ping_us;
    hc_sig_stream_info_t recv[24];
    size_t nrecv;
} er_party_t;

/* Connect to the relay with a token for role and join session as site
 * (creating it as a class first when create is set); publish: one H.264
 * video ("v0", main) and one Opus audio ("a0"); otherwise subscribe. */
int er_party_join(er_party_t *p, const fo_relay_t *r, const char *role, const char *session,
                  const char *site, bool create, bool publish, char *err, size_t errcap);
/* Create the media engine from base (keys, SSRCs and the relay's address
 * filled from joined); via_port != 0 sends to 127.0.0.1:via_port (an
 * hc-impair) instead of the relay. */
int er_party_media(er_party_t *p, const fo_relay_t *r, uint16_t via_port,
                   const hc_edge_media_cfg_t *base, char *err, size_t errcap);
/* Publish the synthetic test source (capture.h "test" preset at w x h @ fps,
 * frame numbers stamped) and, with audio, a sine. */
int er_party_publish_test(er_party_t *p, int w, int h, int fps, bool audio, uint32_t max_kbps,
                          char *err, size_t errcap);
/* Receive what joined.receive lists (later `tracks` events through
 * er_party_pump()). */
int er_party_receive_joined(er_party_t *p);
/* Keep signaling alive (a ping every 5 s) and apply `tracks` events. */
void er_party_pump(er_party_t *p);
void er_party_fini(er_party_t *p);

/* The first track of a kind p receives, in p's stats snapshot s, or NULL. */
const hc_edge_recv_stats_t *er_recv_of(const er_party_t *p, const hc_edge_stats_t *s,
                                       hc_edge_kind_t kind);
/* A published stream by mid, or NULL. */
const hc_edge_pub_stats_t *er_pub_of(const hc_edge_stats_t *s, const char *mid);

#endif
