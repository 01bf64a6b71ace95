/*
 * metrics.h - hc-relay's media and session metric families for GET
 * /metrics, in the Prometheus text exposition format 0.0.4 (every family
 * with its HELP and TYPE lines). The signaling server writes its own
 * families (hc_relay_signaling_*) and calls the relay's metrics handler,
 * which writes these from the worker snapshots (relay/worker.h) and the
 * session counters (relay/sessions.h).
 *
 * Families: hc_relay_packets_total{dir}, hc_relay_bytes_total{dir},
 * hc_relay_drops_total{cause}, hc_relay_srtp_auth_failures_total,
 * hc_relay_rebinds_total, hc_relay_nacks_total{dir}, hc_relay_plis_total{dir},
 * hc_relay_firs_total, hc_relay_rtx_total, hc_relay_loop_busy_ratio{worker},
 * hc_relay_pool_in_use{worker}, hc_relay_pool_exhausted_total,
 * hc_relay_legs, hc_relay_streams, hc_relay_tracks, and from the session
 * layer hc_relay_sessions, hc_relay_participants,
 * hc_relay_session_events_total{event}, hc_relay_kbps{dir}.
 *
 * Ownership: reads the caller's structs. Threading: pure; any thread.
 */
#ifndef HC_RELAY_METRICS_H
#define HC_RELAY_METRICS_H

#include "relay/sessions.h"
#include "relay/worker.h"

#include <stdio.h>

/* per[0..n-1]: each worker's snapshot; sc: session counters or NULL. */
void hc_metrics_write(FILE *f, const hc_worker_snapshot_t *per, unsigned n,
                      const hc_sessions_counters_t *sc);

#endif
