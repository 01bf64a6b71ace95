/* record.c - local MPEG-TS recording in flushed parts; see record.h. */
#include "edge/record.h"

#include "proto/err.h"
#include "relay/core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <opus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define IOBUF_SIZE     32768
#define PART_INIT      (256u * 1024u)
#define ROTATE_WAIT_US 5000000 /* a new file waits this long at most for its keyframe */
#define TS_HZ          90000

typedef struct item {
    struct item *next;
    int stream;
    bool key;
    uint64_t pts_us;
    size_t len;
    uint8_t data[];
} item_t;

struct hc_record {
    hc_record_cfg_t cfg;
    char dir[400], name[65];
    pthread_t th;
    bool th_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* shared (mu) */
    bool stop;
    item_t *head, *tail;
    size_t qbytes;
    int nstreams;
    bool video[HC_RECORD_MAX_STREAMS];
    bool need_key[HC_RECORD_MAX_STREAMS]; /* a packet was dropped: wait for a keyframe */
    uint32_t streams_gen;                 /* grows with every stream added */
    hc_record_stats_t st;
    /* writer thread */
    AVFormatContext *oc;
    AVPacket *pkt;
    int fd;
    uint32_t file_gen;
    int file_streams;
    bool file_video[HC_RECORD_MAX_STREAMS];
    bool keyed[HC_RECORD_MAX_STREAMS];
    bool asked[HC_RECORD_MAX_STREAMS];
    int64_t last_dts[HC_RECORD_MAX_STREAMS];
    bool have_t0;
    uint64_t t0;
    uint64_t file_start_us;
    bool rotate;
    uint64_t rotate_since_us;
    unsigned nfiles;
    uint64_t file_packets; /* written to the current file's muxer */
    char stamp[32];        /* UTC start of the current file */
    char path[512];
    /* the part being collected: muxer output not yet written */
    uint8_t *part;
    size_t part_len, part_cap;
    bool part_open;     /* packets went to the muxer since the last flush */
    int64_t part_start; /* their first dts (90 kHz) */
    uint64_t part_wall; /* and when that was (hc_now_us()) */
    bool write_failed;
};

void hc_record_cfg_default(hc_record_cfg_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->part_ms = 1000;
    cfg->file_s = 600;
    cfg->sync = HC_RECORD_SYNC_PART;
    cfg->queue_bytes = 8u << 20;
}

/* ---- the file (writer thread) ---- */

/* The muxer's output collects in memory until the part ends. */
static int io_write(void *opaque, uint8_t *buf, int size)
{
    hc_record_t *r = opaque;
    if (size <= 0) return 0;
    if (r->part_len + (size_t)size > r->part_cap) {
        size_t cap = r->part_cap ? r->part_cap : PART_INIT;
        while (cap < r->part_len + (size_t)size) cap *= 2;
        uint8_t *p = realloc(r->part, cap);
        if (!p) {
            r->write_failed = true;
            return AVERROR(ENOMEM);
        }
        r->part = p;
        r->part_cap = cap;
    }
    memcpy(r->part + r->part_len, buf, (size_t)size);
    r->part_len += (size_t)size;
    return size;
}

static void count(hc_record_t *r, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&r->mu);
    *field += n;
    pthread_mutex_unlock(&r->mu);
}

/* The file is created with its first part: a crash before that leaves no
 * empty file behind. */
static int create_file(hc_record_t *r)
{
    for (int tries = 0; tries < 100; tries++) {
        snprintf(r->path, sizeof r->path, "%s/%s-%s-%03u.ts", r->dir, r->name, r->stamp, r->nfiles);
        r->fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (r->fd >= 0) break;
        if (errno != EEXIST) return -HC_EIO;
        r->nfiles++;
    }
    if (r->fd < 0) return -HC_EIO;
    pthread_mutex_lock(&r->mu);
    r->st.files++;
    snprintf(r->st.file, sizeof r->st.file, "%s", r->path);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

/* Write the collected part to the file in one go and, by the policy, make
 * it durable. */
static int write_part(hc_record_t *r)
{
    if (!r->part_len) return 0;
    if (r->fd < 0 && create_file(r) < 0) return -HC_EIO;
    size_t off = 0;
    while (off < r->part_len) {
        ssize_t n = write(r->fd, r->part + off, r->part_len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -HC_EIO;
        off += (size_t)n;
    }
    if (r->cfg.sync == HC_RECORD_SYNC_PART && fdatasync(r->fd) < 0) return -HC_EIO;
    count(r, &r->st.bytes, r->part_len);
    r->part_len = 0;
    return 0;
}

static void close_file(hc_record_t *r, bool trailer);

/* End the part: every PES the muxer holds goes out (ISO/IEC 13818-1
 * 2.4.3.6: a PES packet ends only where the next one begins, so the muxer
 * must be told), then everything to the file. */
static void flush_part(hc_record_t *r)
{
    if (!r->oc) return;
    if (r->part_open) {
        (void)av_write_frame(r->oc, NULL);
        avio_flush(r->oc->pb);
    }
    if (r->write_failed || write_part(r) < 0) {
        count(r, &r->st.errors, 1);
        close_file(r, false);
        return;
    }
    if (r->part_open) count(r, &r->st.parts, 1);
    r->part_open = false;
}

static void close_file(hc_record_t *r, bool trailer)
{
    /* A file that got no packet is not created at all. */
    if (r->oc && trailer && !r->write_failed && (r->fd >= 0 || r->file_packets)) {
        flush_part(r); /* closes the file itself when it fails */
        if (r->oc) {
            (void)av_write_trailer(r->oc);
            avio_flush(r->oc->pb);
            if (r->write_failed || write_part(r) < 0) count(r, &r->st.errors, 1);
        }
    }
    if (r->oc) {
        AVIOContext *pb = r->oc->pb;
        r->oc->pb = NULL;
        if (pb) av_freep(&pb->buffer);
        avio_context_free(&pb);
        avformat_free_context(r->oc);
        r->oc = NULL;
    }
    if (r->fd >= 0) {
        if (r->cfg.sync == HC_RECORD_SYNC_PART) (void)fdatasync(r->fd);
        close(r->fd);
        r->fd = -1;
    }
    r->part_len = 0;
    r->part_open = false;
    r->write_failed = false;
    pthread_mutex_lock(&r->mu);
    r->st.file[0] = '\0';
    pthread_mutex_unlock(&r->mu);
}

static void want_key(hc_record_t *r, int stream)
{
    if (r->cfg.want_keyframe) r->cfg.want_keyframe(r->cfg.ud, stream);
}

static int open_file(hc_record_t *r, int nstreams, const bool *video, uint32_t gen, uint64_t pts)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->stamp, sizeof r->stamp, "%Y%m%dT%H%M%SZ", &tm);
    r->nfiles++;
    r->fd = -1; /* created with the first part (create_file) */
    int rc = -HC_ENOMEM;
    uint8_t *iobuf = NULL;
    if (avformat_alloc_output_context2(&r->oc, NULL, "mpegts", NULL) < 0 || !r->oc) goto fail;
    for (int i = 0; i < nstreams; i++) {
        AVStream *st = avformat_new_stream(r->oc, NULL);
        if (!st) goto fail;
        st->time_base = (AVRational){1, TS_HZ};
        AVCodecParameters *par = st->codecpar;
        if (video[i]) {
            /* Annex-B with SPS/PPS in band (RFC 6184's packetizer input):
             * no extradata, dimensions from the SPS. */
            par->codec_type = AVMEDIA_TYPE_VIDEO;
            par->codec_id = AV_CODEC_ID_H264;
        } else {
            par->codec_type = AVMEDIA_TYPE_AUDIO;
            par->codec_id = AV_CODEC_ID_OPUS;
            par->sample_rate = 48000;
            av_channel_layout_default(&par->ch_layout, 1);
        }
        r->file_video[i] = video[i];
        r->keyed[i] = !video[i];
        r->asked[i] = false;
        r->last_dts[i] = -1;
    }
    r->part_len = 0;
    iobuf = av_malloc(IOBUF_SIZE);
    if (!iobuf) goto fail;
    r->oc->pb = avio_alloc_context(iobuf, IOBUF_SIZE, 1, r, NULL, io_write, NULL);
    if (!r->oc->pb) goto fail;
    iobuf = NULL;
    r->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    AVDictionary *opts = NULL;
    /* Output reaches the file only at part ends anyway. */
    av_dict_set(&opts, "flush_packets", "0", 0);
    rc = avformat_write_header(r->oc, &opts) < 0 ? -HC_ECODEC : 0;
    av_dict_free(&opts);
    if (rc < 0) goto fail;
    r->file_gen = gen;
    r->file_streams = nstreams;
    r->file_start_us = pts;
    r->file_packets = 0;
    r->rotate = false;
    r->part_open = false; /* what the header wrote goes out with the first part */
    return 0;
fail:
    av_free(iobuf);
    r->write_failed = true; /* nothing of it is worth a trailer */
    close_file(r, false);
    return rc;
}

/* 48 kHz samples of an Opus packet, for its duration. */
static int64_t opus_duration(const uint8_t *p, size_t len)
{
    int n = opus_packet_get_nb_samples(p, (opus_int32)len, 48000);
    return n > 0 ? (int64_t)n * TS_HZ / 48000 : 0;
}

static void write_item(hc_record_t *r, const item_t *it, int nstreams, const bool *video,
                       uint32_t gen)
{
    int s = it->stream;
    /* A new file: streams were added, or the current one is old enough
     * and the first video stream gives a keyframe to start the next. */
    if (r->oc && gen != r->file_gen) close_file(r, true);
    if (r->oc && r->cfg.file_s &&
        it->pts_us >= r->file_start_us + (uint64_t)r->cfg.file_s * 1000000u) {
        if (!r->rotate) {
            r->rotate = true;
            r->rotate_since_us = it->pts_us;
            for (int i = 0; i < r->file_streams; i++)
                if (r->file_video[i]) want_key(r, i);
        }
        int first_video = -1;
        for (int i = 0; i < r->file_streams && first_video < 0; i++)
            if (r->file_video[i]) first_video = i;
        if (first_video < 0 || (s == first_video && it->key) ||
            it->pts_us >= r->rotate_since_us + ROTATE_WAIT_US)
            close_file(r, true);
    }
    if (!r->oc && open_file(r, nstreams, video, gen, it->pts_us) < 0) {
        count(r, &r->st.errors, 1);
        return;
    }
    if (s >= r->file_streams) return;
    if (!r->keyed[s]) {
        if (!it->key) {
            count(r, &r->st.dropped, 1);
            if (!r->asked[s]) want_key(r, s);
            r->asked[s] = true;
            return;
        }
        r->keyed[s] = true;
    }
    if (!r->have_t0) {
        r->t0 = it->pts_us;
        r->have_t0 = true;
    }
    int64_t dts = it->pts_us > r->t0 ? (int64_t)((it->pts_us - r->t0) * 9u / 100u) : 0;
    if (dts <= r->last_dts[s]) dts = r->last_dts[s] + 1;
    /* The part ends before a packet 1 s of media after its first. */
    if (r->part_open && dts - r->part_start >= (int64_t)r->cfg.part_ms * 90) {
        flush_part(r);
        if (!r->oc) return;
    }
    AVPacket *pkt = r->pkt;
    pkt->data = (uint8_t *)it->data;
    pkt->size = (int)it->len;
    pkt->stream_index = s;
    pkt->pts = pkt->dts = dts; /* no B-frames (venc.h) */
    pkt->duration = r->file_video[s] ? 0 : opus_duration(it->data, it->len);
    pkt->flags = it->key || !r->file_video[s] ? AV_PKT_FLAG_KEY : 0;
    int rc = av_write_frame(r->oc, pkt);
    av_packet_unref(pkt);
    if (rc < 0 || r->write_failed) {
        count(r, &r->st.errors, 1);
        close_file(r, false);
        return;
    }
    r->last_dts[s] = dts;
    r->file_packets++;
    count(r, &r->st.packets, 1);
    if (!r->part_open) {
        r->part_open = true;
        r->part_start = dts;
        r->part_wall = hc_now_us();
    }
}

static void *writer_main(void *arg)
{
    hc_record_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (!r->head) {
            if (r->stop) break;
            if (r->part_open) {
                /* A part also ends after part_ms of wall time: media that
                 * stopped (a paused sender) is flushed all the same. */
                uint64_t due = r->part_wall + (uint64_t)r->cfg.part_ms * 1000u;
                uint64_t now = hc_now_us();
                if (now >= due) {
                    pthread_mutex_unlock(&r->mu);
                    flush_part(r);
                    pthread_mutex_lock(&r->mu);
                    continue;
                }
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (due - now) * 1000u;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            } else {
                pthread_cond_wait(&r->cv, &r->mu);
            }
            continue;
        }
        item_t *it = r->head;
        r->head = it->next;
        if (!r->head) r->tail = NULL;
        r->qbytes -= it->len;
        int n = r->nstreams;
        bool video[HC_RECORD_MAX_STREAMS];
        memcpy(video, r->video, sizeof video);
        uint32_t gen = r->streams_gen;
        pthread_mutex_unlock(&r->mu);
        write_item(r, it, n, video, gen);
        free(it);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    close_file(r, true);
    return NULL;
}

/* ---- API ---- */

int hc_record_new(hc_record_t **out, const hc_record_cfg_t *cfg, char *err, size_t errcap)
{
    if (!out || !cfg) return -HC_EINVAL;
    *out = NULL;
    if (!cfg->dir || !cfg->dir[0] || cfg->part_ms < 100 || cfg->part_ms > 1000) return -HC_EINVAL;
    if (strlen(cfg->dir) >= 400) return -HC_EINVAL;
    /* The last level may be missing (a fresh box); its parents may not. */
    if (mkdir(cfg->dir, 0755) < 0 && errno != EEXIST) {
        if (err && errcap)
            snprintf(err, errcap, "recording directory %s: %s", cfg->dir, strerror(errno));
        return -HC_EIO;
    }
    if (access(cfg->dir, W_OK | X_OK) != 0) {
        if (err && errcap)
            snprintf(err, errcap, "recording directory %s: %s", cfg->dir, strerror(errno));
        return -HC_EIO;
    }
    hc_record_t *r = calloc(1, sizeof *r);
    if (!r) return -HC_ENOMEM;
    r->cfg = *cfg;
    if (!r->cfg.queue_bytes) r->cfg.queue_bytes = 8u << 20;
    snprintf(r->dir, sizeof r->dir, "%s", cfg->dir);
    const char *nm = cfg->name && cfg->name[0] ? cfg->name : "hc-edge";
    size_t k = 0;
    for (; nm[k] && k < sizeof r->name - 1; k++) {
        char c = nm[k];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        r->name[k] = ok && !(k == 0 && c == '.') ? c : '_';
    }
    r->name[k] = '\0';
    r->fd = -1;
    r->cfg.dir = r->dir;
    r->cfg.name = r->name;
    r->pkt = av_packet_alloc();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (!r->pkt || pthread_create(&r->th, NULL, writer_main, r) != 0) {
        av_packet_free(&r->pkt);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
        return -HC_ENOMEM;
    }
    r->th_running = true;
    *out = r;
    return 0;
}

void hc_record_destroy(hc_record_t **pr)
{
    if (!pr || !*pr) return;
    hc_record_t *r = *pr;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->th_running) pthread_join(r->th, NULL);
    while (r->head) {
        item_t *it = r->head;
        r->head = it->next;
        free(it);
    }
    close_file(r, false);
    av_packet_free(&r->pkt);
    free(r->part);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    *pr = NULL;
}

int hc_record_add_stream(hc_record_t *r, bool video)
{
    if (!r) return -HC_EINVAL;
    pthread_mutex_lock(&r->mu);
    int idx = r->nstreams;
    if (idx >= HC_RECORD_MAX_STREAMS) {
        pthread_mutex_unlock(&r->mu);
        return -HC_EFULL;
    }
    r->video[idx] = video;
    r->need_key[idx] = video;
    r->nstreams++;
    r->streams_gen++;
    pthread_mutex_unlock(&r->mu);
    return idx;
}

static int enqueue(hc_record_t *r, int stream, bool video, const uint8_t *data, size_t len,
                   bool key, uint64_t pts_us)
{
    if (!r || !data || !len || len > (64u << 20)) return -HC_EINVAL;
    item_t *it = malloc(sizeof *it + len);
    if (!it) return -HC_ENOMEM;
    it->next = NULL;
    it->stream = stream;
    it->key = key;
    it->pts_us = pts_us;
    it->len = len;
    memcpy(it->data, data, len);
    bool ask = false;
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    if (stream < 0 || stream >= r->nstreams || r->video[stream] != video || r->stop) {
        rc = -HC_EINVAL;
    } else if (video && r->need_key[stream] && !key) {
        /* What follows a hole does not decode: wait for the keyframe. */
        r->st.dropped++;
    } else if (r->qbytes + len > r->cfg.queue_bytes) {
        r->st.dropped++;
        if (video) {
            r->need_key[stream] = true;
            ask = true;
        }
        rc = -HC_EFULL;
    } else {
        if (video) r->need_key[stream] = false;
        if (r->tail)
            r->tail->next = it;
        else
            r->head = it;
        r->tail = it;
        r->qbytes += len;
        it = NULL;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    free(it);
    if (ask) want_key(r, stream);
    return rc;
}

int hc_record_video(hc_record_t *r, int stream, const uint8_t *au, size_t len, bool keyframe,
                    uint64_t pts_us)
{
    return enqueue(r, stream, true, au, len, keyframe, pts_us);
}

int hc_record_audio(hc_record_t *r, int stream, const uint8_t *opus, size_t len, uint64_t pts_us)
{
    return enqueue(r, stream, false, opus, len, true, pts_us);
}

void hc_record_stats(hc_record_t *r, hc_record_stats_t *out)
{
    if (!r || !out) return;
    pthread_mutex_lock(&r->mu);
    *out = r->st;
    pthread_mutex_unlock(&r->mu);
}
