/*
 * srtp.c - libsrtp 2 session per direction; see srtp.h.
 */
#include "proto/srtp.h"

#include "proto/bytes.h"
#include "proto/err.h"

#include <limits.h>
#include <pthread.h>
#include <srtp2/srtp.h>
#include <string.h>

_Static_assert(HC_SRTP_MAX_TRAILER >= SRTP_MAX_TRAILER_LEN + 4,
               "room for libsrtp's documented trailer and the SRTCP index");
_Static_assert(HC_SRTP_MAX_KEY_LEN >= SRTP_AES_ICM_128_KEY_LEN_WSALT &&
                   HC_SRTP_MAX_KEY_LEN >= SRTP_AES_GCM_128_KEY_LEN_WSALT,
               "key buffer fits every suite");

#define RTP_FIXED_LEN   12
#define RTCP_FIXED_LEN  8
#define SRTCP_INDEX_LEN 4 /* E flag + 31-bit SRTCP index, RFC 3711 section 3.4 */

/* The one process-global of proto/: libsrtp's own init, done once.
 * Its result is deliberately ignored: libsrtp 2 refuses a second
 * srtp_init() (the debug module is already registered), which is what
 * happens when another component of the process started libsrtp first.
 * A library that really failed to start makes srtp_create() fail below. */
static pthread_once_t g_srtp_once = PTHREAD_ONCE_INIT;

static void srtp_init_once(void)
{
    (void)srtp_init();
}

size_t hc_srtp_key_len(hc_srtp_suite_t suite)
{
    switch (suite) {
    case HC_SRTP_AEAD_AES_128_GCM: return SRTP_AES_GCM_128_KEY_LEN_WSALT;
    case HC_SRTP_AES_CM_128_HMAC_SHA1_80: return SRTP_AES_ICM_128_KEY_LEN_WSALT;
    }
    return 0;
}

const char *hc_srtp_suite_name(hc_srtp_suite_t suite)
{
    switch (suite) {
    case HC_SRTP_AEAD_AES_128_GCM: return "gcm";
    case HC_SRTP_AES_CM_128_HMAC_SHA1_80: return "aes-cm";
    }
    return NULL;
}

int hc_srtp_suite_from_name(const char *name, hc_srtp_suite_t *out)
{
    if (!name || !out) return -HC_EINVAL;
    if (strcmp(name, "gcm") == 0) {
        *out = HC_SRTP_AEAD_AES_128_GCM;
        return 0;
    }
    if (strcmp(name, "aes-cm") == 0) {
        *out = HC_SRTP_AES_CM_128_HMAC_SHA1_80;
        return 0;
    }
    return -HC_EINVAL;
}

/* Authentication tag length of a suite: 16 for AEAD_AES_128_GCM (RFC 7714),
 * 10 for HMAC-SHA1-80 (RFC 3711 section 5.2). Same for SRTP and SRTCP. */
static size_t tag_len(hc_srtp_suite_t suite)
{
    return suite == HC_SRTP_AEAD_AES_128_GCM ? 16 : 10;
}

static int map_err(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok: return 0;
    case srtp_err_status_auth_fail: return -HC_EAUTH;
    /* An SRTCP packet whose E flag claims "not encrypted" while the policy
     * encrypts (RFC 3711 3.4): a downgrade, i.e. a forged packet. */
    case srtp_err_status_cant_check: return -HC_EAUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old: return -HC_EREPLAY;
    case srtp_err_status_bad_param: return -HC_EINVAL;
    case srtp_err_status_alloc_fail: return -HC_ENOMEM;
    default: return -HC_ESRTP;
    }
}

int hc_srtp_init(hc_srtp_t *s, hc_srtp_suite_t suite, const uint8_t *key, size_t keylen,
                 hc_srtp_dir_t dir)
{
    if (!s) return -HC_EINVAL;
    s->session = NULL;
    size_t need = hc_srtp_key_len(suite);
    if (need == 0 || !key || keylen != need) return -HC_EINVAL;
    if (dir != HC_SRTP_SEND && dir != HC_SRTP_RECV) return -HC_EINVAL;

    if (pthread_once(&g_srtp_once, srtp_init_once) != 0) return -HC_ESRTP;

    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    if (suite == HC_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
    } else {
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    }
    policy.ssrc.type = dir == HC_SRTP_SEND ? ssrc_any_outbound : ssrc_any_inbound;
    policy.window_size = HC_SRTP_REPLAY_WINDOW;
    /* Never let a sender reuse an index: with GCM that reuses the nonce. */
    policy.allow_repeat_tx = 0;

    /* libsrtp wants a mutable key; it derives the session keys inside
     * srtp_create() and keeps no pointer to this copy. */
    uint8_t keybuf[HC_SRTP_MAX_KEY_LEN];
    memcpy(keybuf, key, keylen);
    policy.key = keybuf;

    srtp_t session = NULL;
    srtp_err_status_t st = srtp_create(&session, &policy);
    explicit_bzero(keybuf, sizeof keybuf);
    if (st != srtp_err_status_ok) {
        if (session) srtp_dealloc(session);
        return st == srtp_err_status_alloc_fail ? -HC_ENOMEM : -HC_ESRTP;
    }
    s->session = session;
    s->suite = suite;
    s->dir = dir;
    return 0;
}

void hc_srtp_fini(hc_srtp_t *s)
{
    if (!s || !s->session) return;
    srtp_dealloc(s->session);
    s->session = NULL;
}

/* Length of the RTP header including CSRCs and the extension
 * (RFC 3550 section 5.1 and 5.3.1), or a negative error. */
static int rtp_header_len(const uint8_t *buf, size_t len)
{
    if (len < RTP_FIXED_LEN) return -HC_ETRUNC;
    if ((buf[0] >> 6) != 2) return -HC_EVERSION;
    size_t hl = RTP_FIXED_LEN + 4u * (buf[0] & 0x0f);
    if (buf[0] & 0x10) {
        if (len < hl + 4) return -HC_ETRUNC;
        hl += 4 + 4u * hc_rd16(buf + hl + 2);
    }
    if (len < hl) return -HC_ETRUNC;
    return (int)hl;
}

static int rtcp_check(const uint8_t *buf, size_t len)
{
    if (len < RTCP_FIXED_LEN) return -HC_ETRUNC;
    if ((buf[0] >> 6) != 2) return -HC_EVERSION;
    return 0;
}

/* Common argument checks; libsrtp takes the length as an int. */
static int check_args(const hc_srtp_t *s, const uint8_t *buf, size_t len, hc_srtp_dir_t want)
{
    if (!s || !s->session || !buf || s->dir != want) return -HC_EINVAL;
    if (((uintptr_t)buf & 3u) != 0) return -HC_EINVAL;
    if (len > (size_t)INT_MAX - HC_SRTP_MAX_TRAILER) return -HC_EINVAL;
    return 0;
}

int hc_srtp_protect(hc_srtp_t *s, uint8_t *buf, size_t len, size_t cap)
{
    int rc = check_args(s, buf, len, HC_SRTP_SEND);
    if (rc < 0) return rc;
    if (cap < len || cap - len < HC_SRTP_MAX_TRAILER) return -HC_ENOSPC;
    rc = rtp_header_len(buf, len);
    if (rc < 0) return rc;
    int n = (int)len;
    rc = map_err(srtp_protect(s->session, buf, &n));
    if (rc < 0) return rc;
    return n;
}

int hc_srtp_unprotect(hc_srtp_t *s, uint8_t *buf, size_t len)
{
    int rc = check_args(s, buf, len, HC_SRTP_RECV);
    if (rc < 0) return rc;
    rc = rtp_header_len(buf, len);
    if (rc < 0) return rc;
    if (len - (size_t)rc < tag_len(s->suite)) return -HC_ETRUNC;
    int n = (int)len;
    rc = map_err(srtp_unprotect(s->session, buf, &n));
    if (rc < 0) return rc;
    return n;
}

int hc_srtp_protect_rtcp(hc_srtp_t *s, uint8_t *buf, size_t len, size_t cap)
{
    int rc = check_args(s, buf, len, HC_SRTP_SEND);
    if (rc < 0) return rc;
    if (cap < len || cap - len < HC_SRTP_MAX_TRAILER) return -HC_ENOSPC;
    rc = rtcp_check(buf, len);
    if (rc < 0) return rc;
    int n = (int)len;
    rc = map_err(srtp_protect_rtcp(s->session, buf, &n));
    if (rc < 0) return rc;
    return n;
}

int hc_srtp_unprotect_rtcp(hc_srtp_t *s, uint8_t *buf, size_t len)
{
    int rc = check_args(s, buf, len, HC_SRTP_RECV);
    if (rc < 0) return rc;
    rc = rtcp_check(buf, len);
    if (rc < 0) return rc;
    if (len < RTCP_FIXED_LEN + SRTCP_INDEX_LEN + tag_len(s->suite)) return -HC_ETRUNC;
    int n = (int)len;
    rc = map_err(srtp_unprotect_rtcp(s->session, buf, &n));
    if (rc < 0) return rc;
    return n;
}
