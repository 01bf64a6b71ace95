/*
 * Interop of proto/srtp with an independent libsrtp session that this test
 * configures itself with libsrtp's own API, the way a third-party peer
 * would: a policy for one specific SSRC (not ssrc_any), its own window.
 * Packets go both ways, RTP and RTCP, both suites; tampered packets must be
 * refused by both sides.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/srtp.h"
#include "tests/common/testutil.h"

#include <srtp2/srtp.h>
#include <string.h>

#define SSRC 0x1b2c3d4eu

static const hc_srtp_suite_t SUITES[] = {HC_SRTP_AEAD_AES_128_GCM, HC_SRTP_AES_CM_128_HMAC_SHA1_80};

static void key_for(hc_srtp_suite_t suite, uint8_t *key, size_t *kl)
{
    *kl = hc_srtp_key_len(suite);
    for (size_t i = 0; i < *kl; i++) key[i] = (uint8_t)(0xa5 ^ (i * 13));
}

/* The peer's session: one specific SSRC; such a stream serves either
 * direction, unlike our ssrc_any contexts. */
static srtp_t peer_session(hc_srtp_suite_t suite, uint8_t *key)
{
    srtp_policy_t p;
    memset(&p, 0, sizeof p);
    if (suite == HC_SRTP_AEAD_AES_128_GCM) {
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
    } else {
        srtp_crypto_policy_set_rtp_default(&p.rtp); /* AES_CM_128_HMAC_SHA1_80 */
        srtp_crypto_policy_set_rtcp_default(&p.rtcp);
    }
    p.ssrc.type = ssrc_specific;
    p.ssrc.value = SSRC;
    p.key = key;
    p.window_size = 128;
    p.next = NULL;
    srtp_t s = NULL;
    ck_assert_int_eq(srtp_create(&s, &p), srtp_err_status_ok);
    return s;
}

/* The peer starts libsrtp itself, before our contexts exist, as another
 * component of the process would; libsrtp accepts one srtp_init(). */
static void peer_init(void)
{
    static int done;
    if (!done) ck_assert_int_eq(srtp_init(), srtp_err_status_ok);
    done = 1;
}

static size_t make_rtp(uint8_t *b, uint16_t seq, size_t plen)
{
    b[0] = 0x80 | 0x10 | 2; /* X, two CSRCs */
    b[1] = 111;
    hc_wr16(b + 2, seq);
    hc_wr32(b + 4, 48000u * seq);
    hc_wr32(b + 8, SSRC);
    hc_wr32(b + 12, 0xc5c5c5c5);
    hc_wr32(b + 16, 0xd6d6d6d6);
    hc_wr16(b + 20, 0xBEDE);
    hc_wr16(b + 22, 1);
    b[24] = 0x10; /* id 1, len 1 */
    b[25] = 0x7f;
    b[26] = 0;
    b[27] = 0;
    for (size_t i = 0; i < plen; i++) b[28 + i] = (uint8_t)(seq + i * 7);
    return 28 + plen;
}

static size_t make_rtcp(uint8_t *b, uint8_t v)
{
    memset(b, 0, 32);
    b[0] = 0x81; /* RR with one report block */
    b[1] = 201;
    hc_wr16(b + 2, 7);
    hc_wr32(b + 4, SSRC);
    hc_wr32(b + 8, 0x01020304);
    b[12] = v;
    return 32;
}

START_TEST(ours_to_libsrtp)
{
    hc_srtp_suite_t suite = SUITES[_i];
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    size_t kl;
    key_for(suite, key, &kl);
    peer_init();
    hc_srtp_t tx;
    ck_assert_int_eq(hc_srtp_init(&tx, suite, key, kl, HC_SRTP_SEND), 0);
    srtp_t peer = peer_session(suite, key);

    for (uint16_t seq = 100; seq < 140; seq++) {
        _Alignas(16) uint8_t buf[1600], plain[1600], bad[1600];
        size_t n = make_rtp(plain, seq, 50 + 29u * (seq % 40));
        memcpy(buf, plain, n);
        int p = hc_srtp_protect(&tx, buf, n, sizeof buf);
        ck_assert_int_gt(p, 0);
        /* A tampered copy first: refused, and no state change. */
        memcpy(bad, buf, (size_t)p);
        bad[(size_t)p / 2] ^= 0x04;
        int bl = p;
        ck_assert_int_eq(srtp_unprotect(peer, bad, &bl), srtp_err_status_auth_fail);
        int len = p;
        ck_assert_int_eq(srtp_unprotect(peer, buf, &len), srtp_err_status_ok);
        ck_assert_int_eq(len, (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    for (uint8_t v = 0; v < 5; v++) {
        _Alignas(16) uint8_t buf[256], plain[256];
        size_t n = make_rtcp(plain, v);
        memcpy(buf, plain, n);
        int p = hc_srtp_protect_rtcp(&tx, buf, n, sizeof buf);
        ck_assert_int_gt(p, 0);
        int len = p;
        ck_assert_int_eq(srtp_unprotect_rtcp(peer, buf, &len), srtp_err_status_ok);
        ck_assert_int_eq(len, (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    srtp_dealloc(peer);
    hc_srtp_fini(&tx);
}
END_TEST

START_TEST(libsrtp_to_ours)
{
    hc_srtp_suite_t suite = SUITES[_i];
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    size_t kl;
    key_for(suite, key, &kl);
    peer_init();
    hc_srtp_t rx;
    ck_assert_int_eq(hc_srtp_init(&rx, suite, key, kl, HC_SRTP_RECV), 0);
    srtp_t peer = peer_session(suite, key);

    for (uint16_t seq = 65500; seq != 40; seq++) { /* across the ROC wrap */
        _Alignas(16) uint8_t buf[1600], plain[1600], bad[1600];
        size_t n = make_rtp(plain, seq, 1 + (seq % 1200));
        memcpy(buf, plain, n);
        int len = (int)n;
        ck_assert_int_eq(srtp_protect(peer, buf, &len), srtp_err_status_ok);
        memcpy(bad, buf, (size_t)len);
        bad[len - 1] ^= 0x80; /* last tag bit */
        ck_assert_int_eq(hc_srtp_unprotect(&rx, bad, (size_t)len), -HC_EAUTH);
        ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)len), (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    for (uint8_t v = 0; v < 5; v++) {
        _Alignas(16) uint8_t buf[256], plain[256], bad[256];
        size_t n = make_rtcp(plain, v);
        memcpy(buf, plain, n);
        int len = (int)n;
        ck_assert_int_eq(srtp_protect_rtcp(peer, buf, &len), srtp_err_status_ok);
        memcpy(bad, buf, (size_t)len);
        bad[10] ^= 0x01;
        ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, bad, (size_t)len), -HC_EAUTH);
        ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, buf, (size_t)len), (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    srtp_dealloc(peer);
    hc_srtp_fini(&rx);
}
END_TEST

/* A peer keyed with the other suite's key material fails authentication. */
START_TEST(suite_mismatch_refused)
{
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    size_t kl;
    key_for(HC_SRTP_AES_CM_128_HMAC_SHA1_80, key, &kl);
    peer_init();
    hc_srtp_t rx;
    ck_assert_int_eq(hc_srtp_init(&rx, HC_SRTP_AEAD_AES_128_GCM, key, 28, HC_SRTP_RECV), 0);
    srtp_t peer = peer_session(HC_SRTP_AES_CM_128_HMAC_SHA1_80, key);
    _Alignas(16) uint8_t buf[512];
    size_t n = make_rtp(buf, 9, 100);
    int len = (int)n;
    ck_assert_int_eq(srtp_protect(peer, buf, &len), srtp_err_status_ok);
    ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)len), -HC_EAUTH);
    srtp_dealloc(peer);
    hc_srtp_fini(&rx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("srtp_libsrtp");
    TCase *tc = tcase_create("interop");
    tcase_add_loop_test(tc, ours_to_libsrtp, 0, 2);
    tcase_add_loop_test(tc, libsrtp_to_ours, 0, 2);
    tcase_add_test(tc, suite_mismatch_refused);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
