/*
 * opus.h - Opus packet framing: TOC byte and frame layout (RFC 6716 3.1-3.4), as carried in
 * RTP (RFC 7587).
 *
 * What it is for: the sender advances the RTP timestamp by the samples in each packet
 * (RFC 7587 4.1: the RTP clock is always 48 kHz whatever the coded bandwidth), and the
 * receiver and relay check that a payload is a well-formed Opus packet before it reaches the
 * decoder, the recorder or the RED encoder. Nothing here decodes audio.
 *
 * Validation follows RFC 6716 3.4 rules R1-R7 for packets that are not self-delimiting.
 *
 * Ownership: hc_opus_packet_parse() fills frame pointers that borrow from the caller's
 * packet. Nothing allocates. Threading: pure functions.
 */
#ifndef HC_PROTO_OPUS_H
#define HC_PROTO_OPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hc_opus_mode {
    HC_OPUS_MODE_SILK = 0, /* configs 0..11 */
    HC_OPUS_MODE_HYBRID,   /* configs 12..15 */
    HC_OPUS_MODE_CELT,     /* configs 16..31 */
} hc_opus_mode_t;

typedef enum hc_opus_bandwidth {
    HC_OPUS_BW_NB = 0, /* narrowband, 4 kHz */
    HC_OPUS_BW_MB,     /* medium-band, 6 kHz */
    HC_OPUS_BW_WB,     /* wideband, 8 kHz */
    HC_OPUS_BW_SWB,    /* super-wideband, 12 kHz */
    HC_OPUS_BW_FB,     /* fullband, 20 kHz */
} hc_opus_bandwidth_t;

/* The TOC byte (RFC 6716 3.1, Table 2). */
typedef struct hc_opus_toc {
    uint8_t config; /* 0..31 */
    hc_opus_mode_t mode;
    hc_opus_bandwidth_t bandwidth;
    uint32_t frame_samples; /* per frame at 48 kHz: 120, 240, 480, 960, 1920, 2880 */
    bool stereo;
    uint8_t code; /* frame count code c, 0..3 (3.2) */
} hc_opus_toc_t;

/* Most frames in one packet: 120 ms of 2.5 ms frames (3.2.5). */
#define HC_OPUS_MAX_FRAMES 48
/* Most samples per packet at 48 kHz: 120 ms (R5). */
#define HC_OPUS_MAX_SAMPLES 5760
/* Largest frame (R2). */
#define HC_OPUS_MAX_FRAME_BYTES 1275

typedef struct hc_opus_packet {
    hc_opus_toc_t toc;
    uint8_t frame_count; /* 1..48 */
    bool vbr;            /* code 2, or code 3 with the v bit */
    bool padded;         /* code 3 with the p bit */
    size_t padding;      /* trailing padding bytes (not counting the padding length bytes) */
    uint32_t samples;    /* frame_count * frame_samples, at 48 kHz */
    const uint8_t *frame[HC_OPUS_MAX_FRAMES]; /* borrowed; a 0-length frame is DTX/lost */
    uint16_t frame_len[HC_OPUS_MAX_FRAMES];
} hc_opus_packet_t;

/* Decode a TOC byte; every value is valid. */
void hc_opus_toc_parse(uint8_t toc, hc_opus_toc_t *out);

/* Parse and validate a whole Opus packet (R1-R7). Returns len on success, -HC_ETRUNC when it
 * is shorter than its own fields say (including an empty packet), -HC_EMALFORMED for other
 * violations (odd code 1 length, zero frame count, more than 120 ms, frame over 1275 bytes,
 * CBR sizes that do not divide), -HC_EINVAL for bad arguments. */
int hc_opus_packet_parse(const uint8_t *buf, size_t len, hc_opus_packet_t *out);

/* Samples per channel at 48 kHz in a valid packet (what the RTP timestamp advances by,
 * RFC 7587 4.1), or a negative -HC_E* code as hc_opus_packet_parse() gives. */
int hc_opus_packet_samples(const uint8_t *buf, size_t len);

#endif
