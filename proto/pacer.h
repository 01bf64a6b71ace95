/*
 * pacer.h - leaky-bucket packet pacer for the sending side.
 *
 * An encoder hands over a whole frame at once; sent back to back, its
 * packets would hit a thin uplink as a burst that fills the modem's queue
 * and reads to the bandwidth estimator as congestion. The pacer queues
 * packets and releases them at a pacing rate a little above the target
 * (factor x target, 2.5 as libwebrtc's pacer), with a small burst budget so
 * a frame is spread over a few milliseconds instead of leaving in one go.
 *
 * Priorities (strict, highest first): audio, retransmission, video,
 * padding. Audio is not held by the budget (a 20 ms Opus packet is small
 * and late audio is worse than a tiny burst; libwebrtc does the same) but
 * its bytes count against the budget so video waits for it.
 *
 * Probing: hc_pacer_probe() runs one probe cluster for the bandwidth
 * estimator (see hc_bwe_probe_wanted()): for its duration the pacing rate
 * is the probe rate, queued packets go first and padding fills the rest;
 * every packet released while the cluster runs is marked probe (pass the
 * flag to hc_bwe_on_sent()). Padding comes out as a packet of kind
 * HC_PACER_PADDING with ref 0: the caller builds it (RTP padding, or a
 * retransmission of a recent packet, which is useful redundancy).
 *
 * Queue bound: video older than max_queue_us is dropped, oldest first, and
 * counted (the encoder must then send a keyframe or refresh); a push into a
 * full queue drops the oldest video packet to make room, or fails when
 * there is no video to drop (padding never displaces anything). Audio and
 * retransmissions are never dropped.
 * The caller learns about dropped packets through on_drop (to free their
 * buffers). hc_pacer_queue_delay_us() lets the encoder lower its rate when
 * the queue grows.
 *
 * Ownership: hc_pacer_new() allocates the queues once; packets are plain
 * values carrying the caller's opaque ref, nothing is allocated per packet.
 * Threading: one thread per pacer.
 */
#ifndef HC_PROTO_PACER_H
#define HC_PROTO_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hc_pacer_kind {
    HC_PACER_AUDIO,
    HC_PACER_RTX,
    HC_PACER_VIDEO,
    HC_PACER_PADDING,
    HC_PACER_KINDS
} hc_pacer_kind_t;

typedef struct hc_pacer_pkt {
    uint64_t ref;        /* caller's handle (slot, pointer); 0 for generated padding */
    uint32_t bytes;      /* size on the wire */
    uint8_t kind;        /* hc_pacer_kind_t */
    bool probe;          /* set on output: part of a probe cluster */
    uint64_t enqueue_us; /* set by hc_pacer_push() */
} hc_pacer_pkt_t;

typedef struct hc_pacer_cfg {
    size_t capacity;       /* packets queued at most (all kinds); 0: 4096 */
    double factor;         /* pacing rate = factor x target; 0: 2.5 */
    uint64_t burst_us;     /* burst budget as time at the pacing rate; 0: 5 ms */
    uint64_t max_queue_us; /* video older than this is dropped; 0: 500 ms */
    uint32_t padding_max;  /* largest padding packet; 0: 1200 bytes */
    uint32_t padding_min;  /* smallest padding packet; 0: 200 bytes */
    void (*on_drop)(void *ctx, const hc_pacer_pkt_t *pkt);
    void *ctx;
} hc_pacer_cfg_t;

typedef struct hc_pacer_stats {
    uint64_t sent_pkts[HC_PACER_KINDS];
    uint64_t sent_bytes[HC_PACER_KINDS];
    uint64_t dropped_video_pkts, dropped_video_bytes;
    uint64_t refused; /* pushes refused with -HC_EFULL */
    uint64_t probe_clusters;
} hc_pacer_stats_t;

typedef struct hc_pacer hc_pacer_t;

/* cfg NULL: defaults. Returns 0, -HC_EINVAL (factor < 1, capacity above
 * 2^20, padding_min > padding_max) or -HC_ENOMEM. */
int hc_pacer_new(hc_pacer_t **out, const hc_pacer_cfg_t *cfg);
/* Frees the pacer and sets *p to NULL. Packets still queued are handed to
 * on_drop first (not counted as drops). */
void hc_pacer_destroy(hc_pacer_t **p);

/* Target bitrate from the estimator; pacing rate = factor x target_bps.
 * Until the first call the pacer sends without pacing. */
void hc_pacer_set_rate(hc_pacer_t *p, uint32_t target_bps);

/* Bulk mode, for frames that are big, rare and wanted whole rather than
 * soon (a consult's stills, proto/ladder.h): paced under the target
 * (HC_PACER_BULK_FACTOR; a still sent above the link's capacity would
 * only queue at the modem, read as congestion to the estimator and cut
 * the rate the next still gets), and video kept up to
 * HC_PACER_BULK_QUEUE_US instead of max_queue_us. */
#define HC_PACER_BULK_FACTOR   0.8
#define HC_PACER_BULK_QUEUE_US 5000000u
void hc_pacer_set_bulk(hc_pacer_t *p, bool on);
uint32_t hc_pacer_pacing_bps(const hc_pacer_t *p);

/* Queue a packet (kind AUDIO, RTX, VIDEO or PADDING; bytes > 0). Returns 0,
 * -HC_EINVAL, or -HC_EFULL (queue full and no video to drop; the caller
 * still owns the packet). */
int hc_pacer_push(hc_pacer_t *p, const hc_pacer_pkt_t *pkt, uint64_t now_us);

/* Start a probe cluster: send at rate_bps until at least bytes and
 * min_packets have gone, padding when nothing is queued. Replaces a
 * cluster in progress. Returns 0 or -HC_EINVAL (rate or bytes 0). */
int hc_pacer_probe(hc_pacer_t *p, uint32_t rate_bps, uint32_t bytes, uint32_t min_packets,
                   uint64_t now_us);
bool hc_pacer_probing(const hc_pacer_t *p);

/* The packet due at now_us: returns 1 with *out filled (remove it from the
 * queue and send it), or 0 with *wait_us the time until one is due
 * (UINT64_MAX when the queue is empty and no probe runs). Drops stale video
 * first. wait_us may be NULL. Returns -HC_EINVAL for NULL p or out. */
int hc_pacer_next(hc_pacer_t *p, uint64_t now_us, hc_pacer_pkt_t *out, uint64_t *wait_us);

/* Age of the oldest queued packet (0 when empty). */
uint64_t hc_pacer_queue_delay_us(const hc_pacer_t *p, uint64_t now_us);
/* Time to send everything queued at the current pacing rate. */
uint64_t hc_pacer_drain_us(const hc_pacer_t *p);
uint64_t hc_pacer_queue_bytes(const hc_pacer_t *p);
size_t hc_pacer_queue_len(const hc_pacer_t *p);

void hc_pacer_stats(const hc_pacer_t *p, hc_pacer_stats_t *out);

#endif
