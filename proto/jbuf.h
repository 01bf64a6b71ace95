/*
 * jbuf.h - receive-side jitter buffer for one RTP stream (video or audio).
 *
 * hc-edge puts every received media packet of a stream in here and takes
 * whole frames out at their playout time. The buffer orders packets by
 * sequence number, tells the caller which missing packets to NACK and
 * when, groups packets into frames, decides when a frame is due, and keeps
 * the statistics the console shows (frames on time, late, lost, freezes,
 * current delay, NACKs, recovered packets).
 *
 * Standards:
 * - RFC 3550 §5.1: 16-bit sequence numbers and 32-bit timestamps wrap;
 *   they are extended to 64 bits here. A.1's idea of a sender restart is
 *   kept: two packets in sequence far away from the expected numbering (or
 *   eight in sequence behind the buffer) start the numbering again.
 * - RFC 4585 §6.2.1: the caller turns the sequence numbers returned by
 *   hc_jbuf_nacks() into Generic NACK FCIs; RFC 4588 retransmissions are
 *   inserted with their original sequence number.
 * - RFC 5104 §3.5.1 / RFC 4585 §6.3.1: hc_jbuf_need_keyframe() says when a
 *   PLI is worth sending (a frame could not be completed).
 * - RFC 6184 §5.1: the marker bit ends a video access unit; frames are
 *   the packets sharing one RTP timestamp.
 *
 * Timing model. Time is a parameter (microseconds, any monotonic epoch).
 * A frame's render time is its RTP timestamp mapped to local time through
 * the smallest transit (arrival - timestamp) seen in the last 5-10 s, i.e.
 * the arrival time the frame would have had on the fastest path; its
 * playout time is render time + the current delay. The target delay is
 * the 97th percentile of how much later than that the frames really
 * completed (a histogram that forgets with a 3 s time constant), plus, when
 * NACK is on, room for the retransmission rounds the measured loss needs
 * so that loss^(rounds+1) <= 1e-4 (one round below 1 % loss, two up to
 * ~4.6 %, three above; a lost frame also costs the P frames after it): a reorder wait, one frame
 * interval to notice a lost last packet, and RTT * 9/8 per round. Loss is judged when a packet's
 * turn to play comes: one that was NACKed or never came counts, one merely reordered within the
 * wait does not. It is clamped to [min_delay, max_delay]. The delay rises at once and falls by at
 * most 1/16 of the elapsed time, so playback speeds up by at most 6 % while it shrinks.
 *
 * Frames. Video: a frame is complete when its packets are contiguous from
 * the end of the previous frame (or from a packet the caller marked as
 * the start of a keyframe) to a marker bit (or to the next timestamp, for
 * senders that forget the marker). A frame not complete at its playout
 * time is released as LOST; from then on every frame is DEPENDENT (all P
 * frames are assumed to reference their predecessor) until a keyframe is
 * released, and hc_jbuf_need_keyframe() is true. An incomplete frame with
 * nothing newer behind it (no packet of a later frame has arrived) is not
 * given up at its playout time but held up to alone_hold_us longer, its
 * missing packets still NACKed: pieces of it would show nothing, and on a
 * thin link a big frame with nothing after it (a consult's stills, one
 * every few seconds) takes longer than the playout delay to arrive and
 * be repaired; it is shown when whole, late. A packet of a later frame
 * ends the hold. Audio: every packet is a
 * frame; a missing packet is released at its interpolated playout time as
 * CONCEAL, for the decoder's loss concealment.
 *
 * NACK timing: a gap becomes a NACK after the reorder wait, then again
 * every RTT * 9/8 (RTT from hc_jbuf_on_rtt()), and no more once the
 * retransmission could not arrive before the playout time of the frame the
 * packet belongs to, or after max_nacks requests.
 *
 * Ownership: the caller owns the slot array given at init (one slot per
 * sequence number the buffer can span; 48 bytes each) and the packets:
 * `ref` is the caller's handle (a pool index or a pointer). A packet that
 * hc_jbuf_insert() stored comes back exactly once, in a frame from
 * hc_jbuf_pop_frame() (of any status: the caller frees what it does not
 * decode). Any other insert result leaves the packet with the caller.
 * hc_jbuf_flush() hands everything back through hc_jbuf_pop_frame().
 * Nothing allocates.
 * Threading: one buffer per stream, used by one thread at a time.
 */
#ifndef HC_PROTO_JBUF_H
#define HC_PROTO_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_JBUF_MIN_SLOTS 16
#define HC_JBUF_MAX_SLOTS 32768
#define HC_JBUF_HIST_BINS 128 /* delay histogram: 5 ms bins, 0..640 ms */
#define HC_JBUF_LOST_RECS 8   /* recent lost frames tracked for "late" */

typedef struct hc_jbuf_cfg {
    uint32_t clock_rate;      /* RTP clock in Hz, >= 1000 (90000 video, 48000 Opus) */
    bool video;               /* multi-packet frames and keyframes; false: audio */
    bool nack;                /* the caller NACKs: leave room for retransmissions */
    uint32_t min_delay_us;    /* lower clamp of the playout delay (40 ms) */
    uint32_t max_delay_us;    /* upper clamp (400 ms; the classroom budget is 300 ms) */
    uint32_t reorder_wait_us; /* a gap younger than this may be reordering (10 ms) */
    uint32_t initial_rtt_us;  /* RTT until hc_jbuf_on_rtt() is called (100 ms) */
    uint32_t freeze_us;       /* longer than this without a video frame is a freeze (200 ms) */
    uint32_t max_nacks;       /* requests per missing packet (10) */
    uint32_t alone_hold_us;   /* video: an incomplete frame with nothing newer behind it
                               * waits this long past its playout time (4 s; 0: never) */
} hc_jbuf_cfg_t;

/* One packet going in or coming out. */
typedef struct hc_jbuf_pkt {
    uint16_t seq;  /* RTP sequence number (the original one for RTX) */
    uint32_t ts;   /* RTP timestamp */
    bool marker;   /* RTP marker bit: last packet of a video frame */
    bool keyframe; /* first packet of a frame that decodes on its own (IDR
                    * with its parameter sets, or a recovery point) */
    uintptr_t ref; /* the caller's handle for the payload */
} hc_jbuf_pkt_t;

/* Results of hc_jbuf_insert(). Only STORED keeps the packet. */
typedef enum hc_jbuf_ins {
    HC_JBUF_STORED = 0, /* kept; comes back from hc_jbuf_pop_frame() */
    HC_JBUF_DUPLICATE,  /* already held or already released */
    HC_JBUF_LATE,       /* its frame has been released already */
    HC_JBUF_DISCARDED,  /* far outside the numbering, or the buffer is full */
} hc_jbuf_ins_t;

typedef enum hc_jbuf_status {
    HC_JBUF_FRAME_OK = 0,    /* decode and render */
    HC_JBUF_FRAME_LOST,      /* video, incomplete at its playout time: do not decode */
    HC_JBUF_FRAME_DEPENDENT, /* video, complete but references a lost frame */
    HC_JBUF_FRAME_CONCEAL,   /* audio packet missing: conceal one frame; no packets */
    HC_JBUF_FRAME_FLUSHED,   /* given back early (resync, overflow, hc_jbuf_flush) */
} hc_jbuf_status_t;

typedef struct hc_jbuf_frame {
    hc_jbuf_status_t status;
    uint32_t ts;          /* RTP timestamp (interpolated for CONCEAL) */
    uint16_t first_seq;   /* sequence number where the frame's range starts */
    bool keyframe;        /* its first packet carried the keyframe flag */
    bool late;            /* OK frame completed after its playout time */
    uint64_t playout_us;  /* when it was due */
    uint64_t complete_us; /* arrival of its last packet (0 for CONCEAL) */
    size_t npkts;         /* packets written to the caller's array, in order */
} hc_jbuf_frame_t;

typedef struct hc_jbuf_stats {
    uint64_t packets;           /* insert calls with a packet */
    uint64_t duplicates;        /* HC_JBUF_DUPLICATE */
    uint64_t packets_late;      /* HC_JBUF_LATE */
    uint64_t packets_discarded; /* HC_JBUF_DISCARDED */
    uint64_t packets_recovered; /* arrived in time after having been NACKed */
    uint64_t nacks_sent;        /* sequence numbers returned by hc_jbuf_nacks() */
    uint64_t nacks_given_up;    /* missing packets no longer worth requesting */
    uint64_t frames_on_time;    /* OK, complete by their playout time */
    uint64_t frames_late;       /* completed after their playout time: OK frames
                                 * released late, and LOST/CONCEAL ones whose
                                 * missing packets all arrived afterwards */
    uint64_t frames_lost;       /* LOST (and wholly missing video frames seen as gaps) */
    uint64_t frames_dependent;  /* DEPENDENT */
    uint64_t frames_concealed;  /* CONCEAL */
    uint64_t frames_flushed;    /* FLUSHED */
    uint64_t freezes;           /* gaps of more than freeze_us between OK video frames */
    uint64_t freeze_total_us;   /* summed length of those gaps */
    uint64_t resyncs;           /* sender restarts followed */
    uint32_t delay_us;          /* current playout delay */
    uint32_t target_delay_us;   /* where the delay is heading */
    uint32_t jitter_us;         /* delay percentile part of the target */
    uint32_t rtt_us;
    uint32_t loss_ppm;     /* loss before repair, EWMA over ~256 packets */
    uint32_t packets_held; /* stored and not yet released */
} hc_jbuf_stats_t;

/* One sequence number's worth of state. Caller storage; fields are private. */
typedef struct hc_jbuf_slot {
    int64_t ext;     /* extended sequence number this slot describes */
    int64_t ts;      /* extended RTP timestamp */
    int64_t time_us; /* arrival (present) or detection of the gap (missing) */
    int64_t nack_us; /* last NACK sent */
    uintptr_t ref;
    uint16_t seq; /* as received (the numbering may have changed since) */
    uint8_t state;
    uint8_t flags;
    uint8_t nacks;
} hc_jbuf_slot_t;

typedef struct hc_jbuf_lostrec {
    int64_t start, end; /* extended sequence range [start, end) */
    uint32_t missing;   /* packets of it still not seen; 0 = unused */
} hc_jbuf_lostrec_t;

/* The buffer. Fields are private; read them through the functions. */
typedef struct hc_jbuf {
    hc_jbuf_cfg_t cfg;
    hc_jbuf_slot_t *slot;
    uint64_t mask;
    bool started, released_any, boundary_known, waiting_key, keyframe_needed;
    bool last_rel_open, last_rel_valid, have_render, base_valid, bad_valid, ts_valid;
    int64_t head;     /* next extended sequence number to release */
    int64_t highest;  /* highest extended sequence number seen */
    int64_t flush_to; /* everything below is released at once */
    int64_t off;      /* extended = 16-bit + off (mod 2^16) */
    int64_t ts_hi;    /* extended timestamp of the newest packet */
    int64_t ts_origin;
    int64_t last_rel_ts;
    uint16_t bad_next; /* next sequence number of a run of rejected packets */
    uint32_t old_run;  /* length of that run */
    int64_t base_cur, base_prev, base_win_us; /* windowed minimum transit */
    int64_t last_render_us;
    int64_t last_delay_us; /* time of the last delay update */
    int64_t delay_us, target_us, jitter_us, frame_int_us, rtt_us;
    int64_t hist_us; /* time of the last histogram sample */
    uint32_t loss_q16;
    uint32_t held; /* packets stored and not yet released */
    double hist[HC_JBUF_HIST_BINS];
    double hist_total;
    hc_jbuf_lostrec_t lost[HC_JBUF_LOST_RECS];
    unsigned lost_next;
    hc_jbuf_stats_t st;
} hc_jbuf_t;

/* Defaults for a video (90 kHz, NACK on) or an audio (48 kHz, NACK off)
 * stream; the values in the comments of hc_jbuf_cfg_t. */
void hc_jbuf_cfg_default(hc_jbuf_cfg_t *cfg, bool video);

/* Start an empty buffer over nslots slots (a power of two in
 * [HC_JBUF_MIN_SLOTS, HC_JBUF_MAX_SLOTS]; size it for the packets of
 * max_delay plus a keyframe, e.g. 1024 for video, 64 for audio). The
 * buffer keeps cfg by value and slots by pointer. Returns 0 or -HC_EINVAL. */
int hc_jbuf_init(hc_jbuf_t *j, const hc_jbuf_cfg_t *cfg, hc_jbuf_slot_t *slots, size_t nslots);

/* Insert a received packet that arrived at now_us. Returns an
 * hc_jbuf_ins_t (>= 0) or -HC_EINVAL. After a DISCARDED for a full
 * buffer, hc_jbuf_pop_frame() gives back the oldest frames at once. */
int hc_jbuf_insert(hc_jbuf_t *j, const hc_jbuf_pkt_t *pkt, uint64_t now_us);

/* Sequence numbers to NACK now, oldest first, at most max. Marks them as
 * requested. Returns the count (0 when NACK is off) or -HC_EINVAL. */
int hc_jbuf_nacks(hc_jbuf_t *j, uint64_t now_us, uint16_t *out, size_t max);

/* Release the next frame that is due at now_us: fills *f and writes its
 * packets to pkts. Returns 1 when a frame was released (call again: more
 * may be due), 0 when none is due, -HC_ENOSPC when cap is smaller than the
 * frame's packet count (nothing is released; cap = nslots always fits), or
 * -HC_EINVAL. */
int hc_jbuf_pop_frame(hc_jbuf_t *j, uint64_t now_us, hc_jbuf_frame_t *f, hc_jbuf_pkt_t *pkts,
                      size_t cap);

/* When hc_jbuf_pop_frame() or hc_jbuf_nacks() next has something to do:
 * an absolute time, 0 for "now", UINT64_MAX for "only after the next
 * insert". */
uint64_t hc_jbuf_next_event_us(const hc_jbuf_t *j);

/* A new round-trip estimate (e.g. from RTCP RR/XR or transport feedback). */
void hc_jbuf_on_rtt(hc_jbuf_t *j, uint32_t rtt_us);

/* True while the video decoder needs a keyframe: a frame was lost or is
 * certain to be, and no keyframe has been released since. The caller sends
 * a PLI, at most one per RTT. */
bool hc_jbuf_need_keyframe(const hc_jbuf_t *j);

/* Give every held packet back: the following hc_jbuf_pop_frame() calls
 * release all frames at once as FLUSHED. For teardown or a seek. */
void hc_jbuf_flush(hc_jbuf_t *j);

/* Copy the statistics. */
void hc_jbuf_stats(const hc_jbuf_t *j, hc_jbuf_stats_t *out);

/* Check the internal invariants (for tests and fuzzing; O(nslots)).
 * Returns 0, or -HC_EINTERNAL when broken, -HC_EINVAL for NULL. */
int hc_jbuf_check(const hc_jbuf_t *j);

#endif
