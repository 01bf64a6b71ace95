/*
 * srtpath.h - the SRT comparison of `hc-bench loss`: the same synthetic
 * test source carried the way a user would do it without Hillcast.
 *
 *   test source (capture.h "test") -> edge/venc (libx264, same settings
 *   as the edge, fixed rate) -> MPEG-TS (libavformat, 7 TS packets per
 *   datagram) -> UDP -> srt-live-transmit (listener, latency=L)
 *   -> hc-impair (the same impairment as the Hillcast subscriber's
 *   downlink: its "down" direction, since the receiving side calls out)
 *   -> srt-live-transmit (caller, latency=L) -> UDP -> a receiver thread
 *   here: MPEG-TS demux (libavformat) -> H.264 decode (edge/vdec) -> the
 *   frame number stamped into the picture (hc_playback_stamp_read).
 *
 * Per frame number it records the capture time (hc_now_us() clock, the
 * same process) and, for frames that arrive intact and decodable, the
 * arrival time. A frame is intact when its PES came without a continuity
 * error (libavformat flags AV_PKT_FLAG_CORRUPT), decoded, and every frame
 * since the last keyframe did too (a P frame after a lost one shows
 * damage until the next keyframe - the rule hc-edge's jitter buffer
 * applies to its own frames). On time: intact and arrived no later than
 * budget after its fastest-path arrival (capture + the smallest
 * capture-to-arrival time of the run), the jitter buffer's own rule.
 *
 * Ownership: sp_start() allocates and starts two srt-live-transmit
 * processes, an hc-impair, a capture pipeline and two threads; sp_stop()
 * ends and frees all of it. Threading: the caller's thread only; the
 * record tables are read after the receiver thread has been joined or
 * under the path's lock.
 */
#ifndef HC_BENCH_SRTPATH_H
#define HC_BENCH_SRTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sp_path sp_path_t;

typedef struct sp_cfg {
    int width, height, fps;
    uint32_t bitrate_bps;
    uint32_t latency_ms;            /* SRT latency (both sides) */
    uint32_t keyint_ms;             /* keyframe period: SRT has no PLI */
    const char *const *impair_args; /* hc-impair arguments (NULL-terminated) */
} sp_cfg_t;

/* Everything up and the source sending. 0 or -HC_E* with a message. */
int sp_start(sp_path_t **out, const sp_cfg_t *cfg, char *err, size_t errcap);

/* hc_now_us() at which the path's hc-impair started its clock. */
uint64_t sp_impair_start_us(const sp_path_t *p);

typedef struct sp_window {
    uint64_t sent;       /* frames captured in the window and handed to SRT */
    uint64_t intact;     /* ... that arrived intact, at any time */
    uint64_t on_time;    /* ... intact and within the budget */
    double delay_p50_ms; /* capture to arrival of the intact ones */
} sp_window_t;

/* Frames captured in [t0_us, t1_us) (hc_now_us() clock). Call after the
 * frames have had time to arrive (latency + a little). */
void sp_window(sp_path_t *p, uint64_t t0_us, uint64_t t1_us, uint32_t budget_ms, sp_window_t *out);

typedef struct sp_stats {
    uint64_t frames_sent, datagrams_out, datagrams_in, packets, corrupt, decoded, stamps_bad;
    double sent_kbps;
} sp_stats_t;
void sp_stats(sp_path_t *p, sp_stats_t *out);

void sp_stop(sp_path_t **p);

#endif
