/*
 * metrics.c - media and session metric families (metrics.h).
 */
#include "relay/metrics.h"

#include <inttypes.h>

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void hc_metrics_write(FILE *f, const hc_worker_snapshot_t *per, unsigned n,
                      const hc_sessions_counters_t *sc)
{
    hc_router_counters_t t = {0};
    uint64_t pool_exhausted = 0, rx_truncated = 0, rx_nobuf = 0;
    for (unsigned i = 0; i < n; i++) {
        const hc_router_counters_t *r = &per[i].router;
        t.rx_packets += r->rx_packets;
        t.rx_bytes += r->rx_bytes;
        t.tx_packets += r->tx_packets;
        t.tx_bytes += r->tx_bytes;
        t.drop_malformed += r->drop_malformed;
        t.drop_unknown += r->drop_unknown;
        t.drop_auth += r->drop_auth;
        t.drop_replay += r->drop_replay;
        t.drop_nobuf += r->drop_nobuf;
        t.drop_send += r->drop_send;
        t.drop_noaddr += r->drop_noaddr;
        t.nacks_rx += r->nacks_rx;
        t.nacks_tx += r->nacks_tx;
        t.rtx_tx += r->rtx_tx;
        t.fec_rx += r->fec_rx;
        t.fec_tx += r->fec_tx;
        t.fec_recovered += r->fec_recovered;
        t.plis_rx += r->plis_rx;
        t.plis_tx += r->plis_tx;
        t.firs_rx += r->firs_rx;
        t.rebinds += r->rebinds;
        t.legs += r->legs;
        t.instreams += r->instreams;
        t.tracks += r->tracks;
        pool_exhausted += per[i].pool_exhausted;
        rx_truncated += per[i].rx_truncated;
        rx_nobuf += per[i].rx_nobuf;
    }

    family(f, "hc_relay_packets_total", "counter", "Media datagrams received and sent.");
    fprintf(f, "hc_relay_packets_total{dir=\"rx\"} %" PRIu64 "\n", t.rx_packets);
    fprintf(f, "hc_relay_packets_total{dir=\"tx\"} %" PRIu64 "\n", t.tx_packets);
    family(f, "hc_relay_bytes_total", "counter", "Media bytes received and sent (UDP payload).");
    fprintf(f, "hc_relay_bytes_total{dir=\"rx\"} %" PRIu64 "\n", t.rx_bytes);
    fprintf(f, "hc_relay_bytes_total{dir=\"tx\"} %" PRIu64 "\n", t.tx_bytes);

    family(f, "hc_relay_drops_total", "counter", "Media datagrams dropped, by cause.");
    const struct {
        const char *cause;
        uint64_t v;
    } drops[] = {
        {"malformed", t.drop_malformed},  /* too short, bad version, bad RTCP */
        {"unknown_ssrc", t.drop_unknown}, /* no stream or leg for the SSRC */
        {"auth", t.drop_auth},            /* SRTP/SRTCP authentication failed */
        {"replay", t.drop_replay},        /* SRTP replay */
        {"no_send_slot", t.drop_nobuf},   /* send batch or buffers exhausted */
        {"send", t.drop_send},            /* the kernel refused the send */
        {"no_address", t.drop_noaddr},    /* subscriber address not learned yet */
        {"truncated", rx_truncated},      /* datagram larger than a pool buffer */
        {"pool_empty", rx_nobuf},         /* no pool buffer to receive into */
    };
    for (size_t i = 0; i < sizeof drops / sizeof drops[0]; i++)
        fprintf(f, "hc_relay_drops_total{cause=\"%s\"} %" PRIu64 "\n", drops[i].cause, drops[i].v);

    family(f, "hc_relay_srtp_auth_failures_total", "counter",
           "SRTP and SRTCP packets that failed authentication.");
    fprintf(f, "hc_relay_srtp_auth_failures_total %" PRIu64 "\n", t.drop_auth);
    family(f, "hc_relay_rebinds_total", "counter",
           "Legs whose address changed after authentication (NAT rebinding, handover).");
    fprintf(f, "hc_relay_rebinds_total %" PRIu64 "\n", t.rebinds);

    family(f, "hc_relay_nacks_total", "counter",
           "RTCP NACK requests received from subscribers and sent to publishers.");
    fprintf(f, "hc_relay_nacks_total{dir=\"rx\"} %" PRIu64 "\n", t.nacks_rx);
    fprintf(f, "hc_relay_nacks_total{dir=\"tx\"} %" PRIu64 "\n", t.nacks_tx);
    family(f, "hc_relay_plis_total", "counter",
           "RTCP PLI keyframe requests received from subscribers and sent to publishers.");
    fprintf(f, "hc_relay_plis_total{dir=\"rx\"} %" PRIu64 "\n", t.plis_rx);
    fprintf(f, "hc_relay_plis_total{dir=\"tx\"} %" PRIu64 "\n", t.plis_tx);
    family(f, "hc_relay_firs_total", "counter", "RTCP FIR requests received from subscribers.");
    fprintf(f, "hc_relay_firs_total %" PRIu64 "\n", t.firs_rx);
    family(f, "hc_relay_rtx_total", "counter", "RFC 4588 retransmissions sent.");
    fprintf(f, "hc_relay_rtx_total %" PRIu64 "\n", t.rtx_tx);
    family(f, "hc_relay_fec_packets_total", "counter",
           "FlexFEC (RFC 8627) repair packets received from publishers and sent to subscribers.");
    fprintf(f, "hc_relay_fec_packets_total{dir=\"rx\"} %" PRIu64 "\n", t.fec_rx);
    fprintf(f, "hc_relay_fec_packets_total{dir=\"tx\"} %" PRIu64 "\n", t.fec_tx);
    family(f, "hc_relay_fec_recovered_total", "counter",
           "Publisher packets lost on the uplink and rebuilt from FEC.");
    fprintf(f, "hc_relay_fec_recovered_total %" PRIu64 "\n", t.fec_recovered);

    family(f, "hc_relay_loop_busy_ratio", "gauge",
           "Share of the last second a worker's event loop spent working.");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "hc_relay_loop_busy_ratio{worker=\"%u\"} %.4f\n", i, per[i].busy_ratio);
    family(f, "hc_relay_pool_in_use", "gauge", "Packet buffers in use per worker.");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "hc_relay_pool_in_use{worker=\"%u\"} %u\n", i, per[i].pool_in_use);
    family(f, "hc_relay_pool_exhausted_total", "counter",
           "Times a worker found its packet pool empty.");
    fprintf(f, "hc_relay_pool_exhausted_total %" PRIu64 "\n", pool_exhausted);

    family(f, "hc_relay_legs", "gauge", "Media legs (participant transports).");
    fprintf(f, "hc_relay_legs %u\n", sc ? sc->legs : t.legs);
    family(f, "hc_relay_streams", "gauge", "Input streams (published SSRCs).");
    fprintf(f, "hc_relay_streams %u\n", t.instreams);
    family(f, "hc_relay_tracks", "gauge", "Output tracks (one stream toward one subscriber).");
    fprintf(f, "hc_relay_tracks %u\n", t.tracks);

    family(f, "hc_relay_sessions", "gauge", "Open sessions.");
    fprintf(f, "hc_relay_sessions %u\n", sc ? sc->sessions : 0);
    family(f, "hc_relay_participants", "gauge", "Participants in all sessions.");
    fprintf(f, "hc_relay_participants %u\n", sc ? sc->participants : 0);
    if (!sc) return;
    family(f, "hc_relay_session_events_total", "counter", "Session layer events, by kind.");
    const struct {
        const char *ev;
        uint64_t v;
    } evs[] = {
        {"created", sc->created},
        {"joined", sc->joined},
        {"left", sc->left},
        {"kicked", sc->kicked},
        {"control_msg", sc->control_msgs},
        {"control_alarm", sc->control_alarms},
        {"floor_change", sc->floor_changes},
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        fprintf(f, "hc_relay_session_events_total{event=\"%s\"} %" PRIu64 "\n", evs[i].ev,
                evs[i].v);
    family(f, "hc_relay_kbps", "gauge", "Aggregate media rate of all sessions, kbit/s.");
    fprintf(f, "hc_relay_kbps{dir=\"in\"} %u\n", sc->in_kbps);
    fprintf(f, "hc_relay_kbps{dir=\"out\"} %u\n", sc->out_kbps);
}
