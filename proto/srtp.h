/*
 * srtp.h - one direction of an SRTP/SRTCP session, wrapping libsrtp 2.
 *
 * Every media leg of Hillcast (edge -> relay, relay -> each subscriber) is
 * SRTP (RFC 3711). The default suite is AEAD_AES_128_GCM (RFC 7714): it is
 * both the cheaper one per packet and the one browsers will use with
 * DTLS-SRTP later. AES_CM_128_HMAC_SHA1_80 (RFC 3711 section 5, RFC 4568
 * section 6.2.1) stays for peers that only speak the mandatory suite.
 *
 * One hc_srtp_t protects OR unprotects, never both: the relay holds one
 * sending context per subscriber and one receiving context per publisher.
 * A context accepts any SSRC (libsrtp ssrc_any_outbound/ssrc_any_inbound),
 * so audio, video, RTX and FEC streams of a leg share it; libsrtp keeps a
 * small per-SSRC stream inside, created on the first packet of that SSRC
 * (for a receiver only after the packet authenticated, so unauthenticated
 * traffic never allocates).
 *
 * Replay protection (RFC 3711 section 3.3.2) is on with a window of
 * HC_SRTP_REPLAY_WINDOW packets instead of the minimum of 64: after a NACK
 * storm a video sender retransmits bursts of old packets, and on a cellular
 * link a key frame of 100+ packets can arrive reordered behind them; a
 * 64-packet window would reject those late but genuine packets.
 * A sending context refuses to protect the same sequence number of an SSRC
 * twice (-HC_EREPLAY): with AES-GCM, two different payloads under one index
 * reuse the nonce. Retransmit by RTX (RFC 4588, new SSRC and sequence) or by
 * resending the bytes protected the first time.
 *
 * Packets are processed in place in caller buffers. The buffer must start
 * on a 4-byte boundary (libsrtp 2 reads the header as 32-bit words) and,
 * for protect, have room for HC_SRTP_MAX_TRAILER bytes after the packet:
 * libsrtp 2 documents that it may write that much (tag, MKI, SRTCP index),
 * even though with our suites and no MKI it writes at most 20.
 *
 * libsrtp needs srtp_init() once per process: hc_srtp_init() does it through
 * pthread_once, the single process-global of proto/. If another component
 * of the process initialised libsrtp first, that is fine (libsrtp refuses
 * the second srtp_init(), which is ignored). Nothing here ever calls
 * srtp_shutdown(); libsrtp's global state lives until exit.
 *
 * Memory: with Debian 12's libsrtp2 (NSS crypto backend) a context takes
 * about 19 KB of heap for GCM and 30 KB for AES-CM, plus about 400 bytes
 * per SSRC seen; another reason GCM is the default.
 *
 * Ownership: hc_srtp_t is caller storage; hc_srtp_init() allocates libsrtp's
 * session on the heap and hc_srtp_fini() frees it. The key is copied, so the
 * caller may wipe its copy right after init.
 * Threading: a context is not thread-safe; use one from one thread at a
 * time. Different contexts may be used from different threads.
 */
#ifndef HC_PROTO_SRTP_H
#define HC_PROTO_SRTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum hc_srtp_suite {
    HC_SRTP_AEAD_AES_128_GCM = 0,       /* RFC 7714: 16-byte key + 12-byte salt */
    HC_SRTP_AES_CM_128_HMAC_SHA1_80 = 1 /* RFC 3711: 16-byte key + 14-byte salt */
} hc_srtp_suite_t;

typedef enum hc_srtp_dir {
    HC_SRTP_SEND = 0, /* protect / protect_rtcp only */
    HC_SRTP_RECV = 1  /* unprotect / unprotect_rtcp only */
} hc_srtp_dir_t;

/* Largest master key + salt of any suite (AES-CM: 30 bytes). */
#define HC_SRTP_MAX_KEY_LEN 30

/* Room protect needs after the packet: libsrtp 2's SRTP_MAX_TRAILER_LEN
 * (16-byte tag + 128-byte MKI) plus the 4-byte SRTCP index. */
#define HC_SRTP_MAX_TRAILER 148

/* Replay window of receiving contexts, in packets (see the top of file). */
#define HC_SRTP_REPLAY_WINDOW 1024

struct srtp_ctx_t_; /* libsrtp's session */

typedef struct hc_srtp {
    struct srtp_ctx_t_ *session; /* NULL when not initialised */
    hc_srtp_suite_t suite;
    hc_srtp_dir_t dir;
} hc_srtp_t;

/* Master key + salt length of a suite; 0 for an unknown suite. */
size_t hc_srtp_key_len(hc_srtp_suite_t suite);

/* Config/signaling name of a suite: "gcm" or "aes-cm"; NULL if unknown. */
const char *hc_srtp_suite_name(hc_srtp_suite_t suite);

/* Suite from its name (exact, lower case). 0, or -HC_EINVAL. */
int hc_srtp_suite_from_name(const char *name, hc_srtp_suite_t *out);

/*
 * Create a context. key is master key followed by master salt,
 * hc_srtp_key_len(suite) bytes. Returns 0, -HC_EINVAL (bad suite, key
 * length or direction), -HC_ENOMEM, or -HC_ESRTP (libsrtp failed to start).
 * On failure s->session is NULL and hc_srtp_fini() is harmless.
 */
int hc_srtp_init(hc_srtp_t *s, hc_srtp_suite_t suite, const uint8_t *key, size_t keylen,
                 hc_srtp_dir_t dir);

/* Free the context; safe on a zeroed or already finished context. */
void hc_srtp_fini(hc_srtp_t *s);

/*
 * Protect the RTP packet buf[0..len) in place. cap is the size of buf and
 * must be at least len + HC_SRTP_MAX_TRAILER. Returns the SRTP length, or
 * -HC_EINVAL (wrong direction, misaligned buf, length beyond int),
 * -HC_ENOSPC, -HC_ETRUNC/-HC_EVERSION (not a whole RTP packet),
 * -HC_EREPLAY (sequence number already protected or too old), -HC_ESRTP.
 */
int hc_srtp_protect(hc_srtp_t *s, uint8_t *buf, size_t len, size_t cap);

/*
 * Verify and decrypt the SRTP packet buf[0..len) in place. Returns the RTP
 * length, or -HC_EAUTH, -HC_EREPLAY (duplicate or older than the window),
 * -HC_ETRUNC/-HC_EVERSION (too short for its header and tag, not version 2),
 * -HC_EINVAL (wrong direction, misaligned buf), -HC_ESRTP.
 * On failure the buffer content is unspecified.
 */
int hc_srtp_unprotect(hc_srtp_t *s, uint8_t *buf, size_t len);

/* The same for one compound RTCP packet (SRTCP, RFC 3711 section 3.4). */
int hc_srtp_protect_rtcp(hc_srtp_t *s, uint8_t *buf, size_t len, size_t cap);
int hc_srtp_unprotect_rtcp(hc_srtp_t *s, uint8_t *buf, size_t len);

#endif
