/*
 * media_int.h - what edge/media.c (the engine, its loop and API) and
 * edge/media_pub.c (published streams: capture callbacks and encoder
 * threads) share. Not part of the engine's API.
 *
 * Threads and what they own:
 *   session thread  the hc_edge_media_* calls; changes that touch the
 *                   endpoint run on the loop through media_call() and wait.
 *   media loop      endpoint, sender (pacer, estimator), receivers' jitter
 *                   buffers; media_run() after every loop iteration.
 *   encoder thread  one per video stream: venc (and vdec for an H.264
 *                   source being transcoded), reads pub->tgt under pub->mu,
 *                   posts frames to the loop (media_post_frame()).
 *   capture threads GStreamer's: video frames go to the encoder's mailbox
 *                   (the newest replaces one not yet taken: the live edge);
 *                   audio is Opus-encoded right there and posted.
 *   decoder threads one per received track (receiver.h), pushing to the
 *                   playback streams.
 *   record writer   the local recording's (record.h): encoder and capture
 *                   threads hand it what they encoded; it asks for
 *                   keyframes through pub->rec_key.
 */
#ifndef HC_EDGE_MEDIA_INT_H
#define HC_EDGE_MEDIA_INT_H

#include "edge/aenc.h"
#include "edge/capture.h"
#include "edge/media.h"
#include "edge/playback.h"
#include "edge/receiver.h"
#include "edge/record.h"
#include "edge/sender.h"
#include "edge/vdec.h"
#include "edge/still.h"
#include "edge/venc.h"
#include "relay/core/endpoint.h"
#include "relay/core/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MEDIA_MAX_PUB  8
#define MEDIA_MAX_RECV 24

typedef enum { PASS_OFF = 0, PASS_ON, PASS_WAIT_KEY } pass_mode_t;

typedef struct media_pub {
    hc_edge_media_t *m;
    int idx; /* sender index, publish order */
    char mid[33];
    char *pipeline;
    hc_edge_kind_t kind;
    hc_stream_role_t role;
    int width, height, fps; /* top rung */
    uint32_t max_kbps;
    bool stamp; /* the synthetic test source: stamp frame numbers */
    uint32_t ssrc, rtx_ssrc, fec_ssrc;
    hc_capture_t *cap;
    /* simulcast: a lower layer's number and its top; the top's lower
     * layers, fed the top's captured pictures (under the top's mu) */
    int layer;
    struct media_pub *top;
    struct media_pub *lower[3];
    int nlower;
    /* loop thread */
    hc_ep_stream_t *eps;
    uint16_t next_seq;
    uint8_t fec_k_applied;
    /* tail probe: a keyframe's last packet, resent at tail_due_us unless
     * the stream sends something after it (media.c) */
    bool tail_armed;
    uint16_t tail_seq;
    uint64_t tail_due_us;
    hc_sender_stream_stats_t prev_st; /* for interval rates */
    /* shared with the encoder / capture thread (mu) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hc_sender_target_t tgt;
    bool stop;
    /* video mailbox: one pending frame */
    bool full;
    hc_cap_frame_t pend; /* planes point into pend_buf */
    uint8_t *pend_buf;
    size_t pend_cap;
    uint8_t *work_buf;
    size_t work_cap;
    pthread_t th;
    bool th_running;
    /* encoder thread only */
    hc_venc_t *venc;
    hc_still_t still;       /* stills mode's encoder (edge/still.h) */
    uint64_t next_still_us; /* no still before this capture time */
    hc_vdec_t *vdec;
    uint32_t key_gen_seen;
    uint64_t last_enc_pts, last_still_us, base_pts;
    bool have_base, have_enc;
    pass_mode_t pass;
    double src_bps;
    uint64_t last_src_pts;
    /* audio: capture thread only */
    hc_aenc_t *aenc;
    /* local recording: the stream's index there (-1: none), and a
     * keyframe it asked for (any thread sets, the encoder takes) */
    int rec_idx;
    atomic_bool rec_key;
    /* counters (atomic: several threads) */
    atomic_uint_fast64_t dropped_busy, dropped_link, encoded, enc_errors;
} media_pub_t;

typedef struct media_recv {
    hc_edge_media_t *m;
    hc_edge_recv_cfg_t cfg;
    char mid[33], label[65];
    hc_ep_track_t *t;
    hc_receiver_t *r;
    hc_pb_stream_t *pbs;
    bool used;
    /* for interval figures */
    hc_ep_track_stats_t prev_ts;
    hc_receiver_stats_t prev_rs;
} media_recv_t;

struct hc_edge_media {
    hc_edge_media_cfg_t cfg;
    char video_sink[512], audio_sink[512];
    hc_loop_t *loop;
    pthread_t loop_th;
    bool loop_running;
    hc_loop_hook_t hook;
    hc_timer_t timer;
    hc_endpoint_t *ep;
    hc_sender_t *sender;
    hc_playback_t *pb;
    media_pub_t *pub[MEDIA_MAX_PUB];
    int npub;
    media_recv_t recv[MEDIA_MAX_RECV];
    bool started;
    atomic_bool paused;
    atomic_bool outage; /* the uplink was up and has gone quiet */
    /* local recording (record.h), NULL when off; rec_pub maps its stream
     * indexes to our streams (rec_mu) */
    hc_record_t *rec;
    pthread_mutex_t rec_mu;
    media_pub_t *rec_pub[HC_RECORD_MAX_STREAMS];
    uint64_t last_rtt_us, last_stats_us;
    uint32_t rtt_us; /* last RTT from the relay's reports (loop thread) */
    /* call plumbing */
    pthread_mutex_t call_mu;
    pthread_cond_t call_cv;
};

/* media.c */
void media_post(hc_edge_media_t *m, hc_loop_msg_t *msg);

/* A frame or packet from an encoder to the loop (allocated by the poster,
 * freed by the loop). */
typedef struct media_frame {
    hc_loop_msg_t msg;
    media_pub_t *p;
    bool video, keyframe;
    uint32_t ts;
    uint8_t pt, level;
    bool voice;
    uint64_t wall_us;
    size_t len;
    uint8_t data[];
} media_frame_t;

void media_post_frame(media_pub_t *p, bool video, const uint8_t *data, size_t len, uint32_t ts,
                      bool keyframe, uint8_t pt, uint8_t level, bool voice, uint64_t wall_us);

/* media_pub.c */
int media_pub_new(hc_edge_media_t *m, const hc_edge_pub_cfg_t *cfg, media_pub_t **out, char *err,
                  size_t errcap);
int media_pub_start(media_pub_t *p, char *err, size_t errcap);
/* Stop capture and the encoder thread: nothing is posted afterwards. */
void media_pub_stop(media_pub_t *p);
void media_pub_destroy(media_pub_t **p);
/* Loop thread: publish the sender's current target to the encoder. */
void media_pub_set_target(media_pub_t *p, const hc_sender_target_t *t);

#endif
