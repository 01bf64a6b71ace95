/*
 * record.h - hc-edge's local recording of what it sends: the encoded
 * H.264 access units and Opus packets of every published stream, muxed
 * into MPEG-TS (ISO/IEC 13818-1) with libavformat, so that the lesson or
 * consult survives an uplink that was down, and a crash or a power cut
 * loses at most the last second.
 *
 * Files: <dir>/<name>-<UTC start, YYYYmmddTHHMMSSZ>-<nnn>.ts, a new one
 * every file_s seconds (at a keyframe of the first video stream, which is
 * asked for through want_keyframe), when a stream is added, and when a
 * recording starts; nnn counts the files of this recording. A file is
 * created with its first part (a crash before leaves none). Each file
 * starts with PAT/PMT and every video stream with a keyframe, so every
 * file plays on its own (ffmpeg, VLC). Timestamps continue across the
 * files of a recording (90 kHz, from the capture times given here).
 *
 * Parts and flushing: what the muxer writes is collected in memory and
 * goes to the file in one write() per part, a part being at most part_ms
 * of media (and at most part_ms of wall time: a stream that went quiet is
 * still flushed). Each part ends with the muxer flushed (av_write_frame
 * with NULL, every PES finished) and, with sync HC_RECORD_SYNC_PART,
 * fdatasync(): a killed process loses only the part being collected (what
 * was written is in the page cache), and a power cut loses at most that
 * part too, at the price of one synchronous write a second on the writer
 * thread, never on the media path. HC_RECORD_SYNC_NONE leaves it to the
 * kernel (a power cut may then lose the last ~30 s of writeback). A file
 * cut short therefore ends at a part boundary, on whole 188-byte TS
 * packets, and demuxes and decodes to its last complete part.
 *
 * Ownership: hc_record_new() allocates and starts the writer thread;
 * packets are copied into a bounded queue (queue_bytes; a packet that does
 * not fit is dropped and counted, and its video stream waits for the next
 * keyframe). hc_record_destroy() writes what is queued, closes the file
 * and joins the thread.
 * Threading: hc_record_add_stream(), _video(), _audio() and _stats() may
 * be called from any thread (a mutex); want_keyframe is called from
 * inside _video() on the caller's thread, or from the writer thread.
 */
#ifndef HC_EDGE_RECORD_H
#define HC_EDGE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_RECORD_MAX_STREAMS 8

typedef struct hc_record hc_record_t;

typedef enum hc_record_sync {
    HC_RECORD_SYNC_PART = 0, /* fdatasync() after every part (default) */
    HC_RECORD_SYNC_NONE,     /* write() only: survives a crash, not a power cut */
} hc_record_sync_t;

typedef struct hc_record_cfg {
    const char *dir;  /* a writable directory (created when only its last level is missing) */
    const char *name; /* the session, in file names (other than [A-Za-z0-9._-] -> '_') */
    uint32_t part_ms; /* part length, 100..1000 (1000) */
    uint32_t file_s;  /* a new file after this long (600; 0: one file) */
    hc_record_sync_t sync;
    size_t queue_bytes; /* bound of the writer's queue (8 MiB) */
    /* A video stream should send a keyframe soon (new file, dropped
     * packet). May be NULL. */
    void (*want_keyframe)(void *ud, int stream);
    void *ud;
} hc_record_cfg_t;

typedef struct hc_record_stats {
    uint64_t files;   /* created */
    uint64_t parts;   /* flushed */
    uint64_t packets; /* written to the muxer */
    uint64_t bytes;   /* written to files */
    uint64_t dropped; /* queue full, or video before its keyframe */
    uint64_t errors;  /* muxer or file errors (the file is closed, a new one opens) */
    char file[512];   /* the file being written, "" when none */
} hc_record_stats_t;

void hc_record_cfg_default(hc_record_cfg_t *cfg);

/* 0, -HC_EINVAL (no dir, bad part_ms), -HC_EIO (dir not writable or not
 * creatable, with err), -HC_ENOMEM. No file is created before the first
 * part. */
int hc_record_new(hc_record_t **out, const hc_record_cfg_t *cfg, char *err, size_t errcap);
/* Write what is queued, close the file, stop. NULL is fine. */
void hc_record_destroy(hc_record_t **r);

/* A stream: its index (>= 0), or -HC_EFULL / -HC_EINVAL. Added while a
 * file is open, it starts the next file. */
int hc_record_add_stream(hc_record_t *r, bool video);

/* One Annex-B access unit of video stream `stream` captured at pts_us
 * (a monotonic clock shared by all streams, e.g. hc_now_us()). 0, or
 * -HC_EFULL (queue full: dropped), -HC_EINVAL. */
int hc_record_video(hc_record_t *r, int stream, const uint8_t *au, size_t len, bool keyframe,
                    uint64_t pts_us);
/* One Opus packet (RFC 6716; 48 kHz mono, as edge/aenc.h makes them). */
int hc_record_audio(hc_record_t *r, int stream, const uint8_t *opus, size_t len, uint64_t pts_us);

void hc_record_stats(hc_record_t *r, hc_record_stats_t *out);

#endif
