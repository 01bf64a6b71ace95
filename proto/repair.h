/*
 * repair.h - loss-repair policy: from measured loss, burstiness, RTT,
 * jitter, playout budget and send rate to the repair tools the encoder and
 * the sender apply (NACK/RTX, FlexFEC group size, audio RED level, Opus
 * in-band FEC, intra refresh).
 *
 * Tools (DESIGN.md "Loss repair"): NACK/RTX (RFC 4585 §6.2.1, RFC 4588) is
 * always on: it costs only what is lost, and stills and keyframes need it
 * whatever the deadline. FlexFEC (RFC 8627, 1-D row protection: one repair
 * packet per k source packets, proto/fec.h) is added when retransmission
 * alone cannot make the playout deadline. Audio uses RED (RFC 2198, 0-2
 * older frames repeated in each packet) and Opus in-band FEC (RFC 6716
 * §2.1.7 LBRR, told the expected loss via OPUS_SET_PACKET_LOSS_PERC) rather
 * than retransmission.
 *
 * The reasoning, with numbers:
 * - Retransmission rounds that fit the budget:
 *     rounds = (budget - 3 * jitter - 43 ms) / (RTT * 9/8), at most 3
 *   (43 ms = 10 ms reorder wait + one 30 fps frame interval to notice a
 *   lost last packet; 9/8 RTT is the jitter buffer's retry interval;
 *   3 x jitter its delay margin). With a 300 ms budget and 10 ms jitter:
 *   RTT 50 ms -> 3 rounds, 100 ms -> 2, 150 ms -> 1, 250 ms -> 0. RTT plus
 *   the jitter margin above ~budget/2 leaves at most one round: the rule
 *   of thumb "retransmission alone cannot make it reliably".
 * - A packet still missing after all rounds (probability loss^(rounds+1)
 *   for random loss) loses its frame, and every following P frame until
 *   the keyframe asked for by PLI arrives: about RTT + playout delay, ~12
 *   frames at 30 fps. At ~5 packets per frame a residual of 1e-4 per
 *   packet costs ~0.6 % of frames. So FEC goes on when loss >= 0.5 % and
 *   loss^(rounds+1) > 1e-4: above 10 % loss with 3 rounds, 4.6 % with 2,
 *   1 % with 1, 0.5 % with none. (At 10 % loss and 2 rounds NACK alone
 *   leaves 1e-3: ~99.5 % of frames complete in time but only ~94 %
 *   decodable, as the jitter buffer's simulation shows.)
 * - FlexFEC group size k from loss: >= 15 % -> 4, >= 8 % -> 5, >= 5 % -> 7,
 *   >= 2.5 % -> 10, else 15 (k = 10 at 3 %: one group in ~24 has two
 *   losses; the rest repair without a round trip). Overhead 1/k. Row FEC
 *   repairs one loss per group, so bursts mostly fall to NACK; burstiness
 *   raises the audio protection instead.
 * - RED: 2 redundant frames at >= 10 % loss or at >= 3 % with mean bursts
 *   of 2+ packets (two 20 ms frames bridge a 40 ms burst), 1 at >= 2 %.
 *   Opus in-band FEC on at >= 1 % loss; the expected loss told to Opus is
 *   the measured loss rounded up, at most 30 %.
 * - Intra refresh instead of periodic keyframes below 600 kbit/s: a 720p
 *   keyframe is 5-10x a P frame and on a thin link it queues for hundreds
 *   of ms and is the packet burst most likely to be lost.
 * - With audio_floor (see hc_repair_in_t) RED is at least 1 (2 from a
 *   send rate of 800 kbit/s, where the second copy costs under 8 %) and
 *   Opus FEC is on with a loss hint of at least 10 %: at 10 % random loss
 *   that leaves ~1 % of frames to conceal instead of 10 %, and RED 2
 *   bridges the two-packet bursts of a cellular downlink.
 * Hysteresis: anything that protects more applies at once; protecting
 * less needs the weaker choice to hold for 10 s (5 s for k) when judged
 * with 1.5x the measured loss (1.25x for k), and intra refresh goes off
 * only above 750 kbit/s for 10 s.
 *
 * Ownership: plain values. Threading: one policy per sending stream (or
 * per link), one thread.
 */
#ifndef HC_PROTO_REPAIR_H
#define HC_PROTO_REPAIR_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hc_repair_in {
    double loss;        /* fraction of packets lost before repair, 0..1 (e.g.
                         * RTCP RR fraction lost / 256, smoothed) */
    double burst_len;   /* mean loss burst length in packets; 1 (or 0) = random */
    uint32_t rtt_us;    /* round-trip time */
    uint32_t jitter_us; /* interarrival jitter (RFC 3550 A.8), in us */
    uint32_t budget_us; /* playout budget (the receivers' maximum delay), > 0 */
    uint32_t rate_bps;  /* current send-rate estimate */
    /* The listeners' downlinks are out of this sender's sight (a publisher
     * behind a relay, whose hop-by-hop FEC covers video only): audio gets
     * a floor of protection whatever `loss` says - RED level 1 (2 from
     * 800 kbit/s) and Opus in-band FEC told to expect at least 10 % loss -
     * because a classroom's lossy downlink must not break the voice. About
     * +30 kbit/s per RED level and a little of the Opus rate for LBRR. */
    bool audio_floor;
} hc_repair_in_t;

typedef struct hc_repair_out {
    bool nack;                /* NACK/RTX: always true */
    uint8_t rounds;           /* retransmission rounds that fit the budget */
    bool fec;                 /* FlexFEC on */
    uint8_t fec_k;            /* source packets per repair packet; 0 when off */
    uint8_t fec_overhead_pct; /* ceil(100 / k): subtract from the media rate */
    uint8_t red_level;        /* redundant Opus frames per packet, 0..2 */
    bool opus_fec;            /* Opus in-band FEC (LBRR) */
    uint8_t opus_loss_pct;    /* OPUS_SET_PACKET_LOSS_PERC */
    bool intra_refresh;       /* periodic intra refresh instead of keyframes */
} hc_repair_out_t;

typedef struct hc_repair {
    hc_repair_out_t cur;
    bool started;
    bool weak[5]; /* a weaker choice is pending, per decision */
    uint64_t weak_since[5];
} hc_repair_t;

/* Retransmission rounds that fit (the formula above); budget_us > 0. */
unsigned hc_repair_rounds(uint32_t rtt_us, uint32_t jitter_us, uint32_t budget_us);

/* Copies of one retransmission (answering a NACK): 2 when the path the
 * retransmission takes loses HC_REPAIR_RTX_DUP_LOSS or more (the
 * receiver's last report), else 1. Random loss takes a retransmission as
 * often as the original; two copies make a round's residual loss^2. At
 * 10 % loss and the two rounds a 300 ms budget leaves at 100 ms RTT, a
 * packet is lost for good 0.1^3 = 0.1 % of the time with one copy (a lost
 * frame every ~2 s at 5 packets a frame, each costing the ~20 frames
 * until a keyframe) and 0.1 * 0.01^2 = 1e-5 with two, for about
 * loss x the stream's rate more retransmitted bytes. The copies go back
 * to back: a burst may take both, random loss not. */
#define HC_REPAIR_RTX_DUP_LOSS 0.05
unsigned hc_repair_rtx_copies(double loss);

void hc_repair_init(hc_repair_t *r);

/* Decide from the current measurements. The first call decides without
 * hysteresis. Returns 0, or -HC_EINVAL (NULL, loss outside [0, 1] or NaN,
 * negative burst length, zero budget). */
int hc_repair_update(hc_repair_t *r, const hc_repair_in_t *in, uint64_t now_us,
                     hc_repair_out_t *out);

#endif
