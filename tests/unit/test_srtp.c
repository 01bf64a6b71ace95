/*
 * Unit tests of proto/srtp: round trips for both suites, authentication and
 * replay failures, buffer checks, every truncated length, and known-answer
 * tests. libsrtp applies the RFC 3711 section 4.3 key derivation to the
 * master key, while the RFC 7714 section 16 vectors start from session keys;
 * so the known answers go through a small reference built on OpenSSL that
 * is itself checked against RFC 3711 B.2/B.3 and RFC 7714 16.1.1 first.
 */
#include "proto/bytes.h"
#include "proto/err.h"
#include "proto/srtp.h"
#include "tests/common/testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static const hc_srtp_suite_t SUITES[] = {HC_SRTP_AEAD_AES_128_GCM, HC_SRTP_AES_CM_128_HMAC_SHA1_80};
#define NSUITES 2

static size_t tag_of(hc_srtp_suite_t s)
{
    return s == HC_SRTP_AEAD_AES_128_GCM ? 16 : 10;
}

static void fill_key(uint8_t *key, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) key[i] = (uint8_t)(seed + 7 * i);
}

/* RTP packet with cc CSRCs, an RFC 8285 one-byte extension block of
 * ext_words words (none if 0) and plen payload bytes. */
static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc, unsigned cc, unsigned ext_words,
                       size_t plen)
{
    size_t n = 0;
    b[0] = (uint8_t)(0x80 | (ext_words ? 0x10 : 0) | cc);
    b[1] = 0x80 | 96; /* marker + dynamic PT */
    hc_wr16(b + 2, seq);
    hc_wr32(b + 4, 90000u + seq * 3000u);
    hc_wr32(b + 8, ssrc);
    n = 12;
    for (unsigned i = 0; i < cc; i++, n += 4) hc_wr32(b + n, 0x11110000u + i);
    if (ext_words) {
        hc_wr16(b + n, 0xBEDE);
        hc_wr16(b + n + 2, (uint16_t)ext_words);
        n += 4;
        for (unsigned i = 0; i < ext_words * 4; i++) b[n++] = (uint8_t)(0x10 + i);
    }
    for (size_t i = 0; i < plen; i++) b[n++] = (uint8_t)(i * 31 + seq);
    return n;
}

/* Compound RTCP: SR (RFC 3550 6.4.1, no report blocks) + SDES CNAME. */
static size_t make_rtcp(uint8_t *b, uint32_t ssrc)
{
    memset(b, 0, 48);
    b[0] = 0x80;
    b[1] = 200;
    hc_wr16(b + 2, 6);
    hc_wr32(b + 4, ssrc);
    hc_wr32(b + 8, 0xe8a1b2c3);
    hc_wr32(b + 12, 0x40000000);
    hc_wr32(b + 16, 123456);
    hc_wr32(b + 20, 42);
    hc_wr32(b + 24, 42 * 1000);
    /* SDES: one chunk, CNAME "edge-1", end, pad to 4 */
    b[28] = 0x81;
    b[29] = 202;
    hc_wr16(b + 30, 4);
    hc_wr32(b + 32, ssrc);
    b[36] = 1;
    b[37] = 6;
    memcpy(b + 38, "edge-1", 6);
    /* b[44..47] = 0: END item and padding */
    return 48;
}

static void ctx_pair(hc_srtp_suite_t suite, hc_srtp_t *tx, hc_srtp_t *rx)
{
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    size_t kl = hc_srtp_key_len(suite);
    fill_key(key, kl, 3);
    ck_assert_int_eq(hc_srtp_init(tx, suite, key, kl, HC_SRTP_SEND), 0);
    ck_assert_int_eq(hc_srtp_init(rx, suite, key, kl, HC_SRTP_RECV), 0);
}

/* Protect one RTP packet with sequence seq into out; returns its length. */
static int protect_seq(hc_srtp_t *tx, uint8_t *out, size_t cap, uint16_t seq)
{
    size_t n = make_rtp(out, seq, 0x5501a0b2, 0, 0, 100);
    return hc_srtp_protect(tx, out, n, cap);
}

START_TEST(suite_names_and_keys)
{
    hc_srtp_suite_t s;
    ck_assert_uint_eq(hc_srtp_key_len(HC_SRTP_AEAD_AES_128_GCM), 28);
    ck_assert_uint_eq(hc_srtp_key_len(HC_SRTP_AES_CM_128_HMAC_SHA1_80), 30);
    ck_assert_uint_eq(hc_srtp_key_len((hc_srtp_suite_t)7), 0);
    for (int i = 0; i < NSUITES; i++) {
        const char *name = hc_srtp_suite_name(SUITES[i]);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(hc_srtp_suite_from_name(name, &s), 0);
        ck_assert_int_eq(s, SUITES[i]);
    }
    ck_assert_str_eq(hc_srtp_suite_name(HC_SRTP_AEAD_AES_128_GCM), "gcm");
    ck_assert_str_eq(hc_srtp_suite_name(HC_SRTP_AES_CM_128_HMAC_SHA1_80), "aes-cm");
    ck_assert_ptr_null(hc_srtp_suite_name((hc_srtp_suite_t)7));
    ck_assert_int_eq(hc_srtp_suite_from_name("GCM", &s), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_suite_from_name("", &s), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_suite_from_name(NULL, &s), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_suite_from_name("gcm", NULL), -HC_EINVAL);
}
END_TEST

START_TEST(init_rejects_bad_arguments)
{
    uint8_t key[HC_SRTP_MAX_KEY_LEN] = {0};
    hc_srtp_t s;
    ck_assert_int_eq(hc_srtp_init(&s, HC_SRTP_AEAD_AES_128_GCM, key, 30, HC_SRTP_SEND), -HC_EINVAL);
    ck_assert_ptr_null(s.session);
    ck_assert_int_eq(hc_srtp_init(&s, HC_SRTP_AES_CM_128_HMAC_SHA1_80, key, 28, HC_SRTP_SEND),
                     -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_init(&s, (hc_srtp_suite_t)9, key, 28, HC_SRTP_SEND), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_init(&s, HC_SRTP_AEAD_AES_128_GCM, NULL, 28, HC_SRTP_SEND),
                     -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_init(&s, HC_SRTP_AEAD_AES_128_GCM, key, 28, (hc_srtp_dir_t)5),
                     -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_init(NULL, HC_SRTP_AEAD_AES_128_GCM, key, 28, HC_SRTP_SEND),
                     -HC_EINVAL);
    hc_srtp_fini(&s); /* harmless after a failed init */
    hc_srtp_fini(NULL);
    ck_assert_int_eq(hc_srtp_init(&s, HC_SRTP_AEAD_AES_128_GCM, key, 28, HC_SRTP_SEND), 0);
    hc_srtp_fini(&s);
    ck_assert_ptr_null(s.session);
    hc_srtp_fini(&s); /* twice is fine */
}
END_TEST

START_TEST(rtp_round_trip)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t buf[1600], plain[1600];
    static const struct {
        unsigned cc, ext;
        size_t plen;
    } shapes[] = {{0, 0, 0}, {0, 0, 1}, {2, 0, 160}, {0, 3, 1200}, {15, 2, 37}, {1, 1, 1300}};
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t n = make_rtp(plain, (uint16_t)(1000 + i), 0x1234 + i % 2, shapes[i].cc,
                            shapes[i].ext, shapes[i].plen);
        size_t hl = n - shapes[i].plen;
        memcpy(buf, plain, n);
        int p = hc_srtp_protect(&tx, buf, n, sizeof buf);
        ck_assert_int_eq(p, (int)(n + tag_of(suite)));
        /* The header, CSRCs and extension stay in clear (RFC 3711 3.1). */
        ck_assert_mem_eq(buf, plain, hl);
        if (shapes[i].plen >= 8) ck_assert(memcmp(buf + hl, plain + hl, shapes[i].plen) != 0);
        int u = hc_srtp_unprotect(&rx, buf, (size_t)p);
        ck_assert_int_eq(u, (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

START_TEST(rtcp_round_trip)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t buf[256], plain[256];
    for (int k = 0; k < 3; k++) {
        size_t n = make_rtcp(plain, 0xa0b0c0d0);
        plain[20] = (uint8_t)k; /* vary the packet count */
        memcpy(buf, plain, n);
        int p = hc_srtp_protect_rtcp(&tx, buf, n, sizeof buf);
        /* SRTCP adds the E flag + index word and the tag (RFC 3711 3.4). */
        ck_assert_int_eq(p, (int)(n + 4 + tag_of(suite)));
        ck_assert_mem_eq(buf, plain, 8);
        ck_assert(memcmp(buf + 8, plain + 8, n - 8) != 0);
        int u = hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p);
        ck_assert_int_eq(u, (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

START_TEST(wrong_key_fails_auth)
{
    hc_srtp_suite_t suite = SUITES[_i];
    size_t kl = hc_srtp_key_len(suite);
    uint8_t key[HC_SRTP_MAX_KEY_LEN];
    hc_srtp_t tx, rx;
    fill_key(key, kl, 1);
    ck_assert_int_eq(hc_srtp_init(&tx, suite, key, kl, HC_SRTP_SEND), 0);
    key[kl - 1] ^= 1; /* differ only in the last salt bit */
    ck_assert_int_eq(hc_srtp_init(&rx, suite, key, kl, HC_SRTP_RECV), 0);
    _Alignas(16) uint8_t buf[512];
    int p = protect_seq(&tx, buf, sizeof buf, 7);
    ck_assert_int_gt(p, 0);
    ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)p), -HC_EAUTH);
    size_t n = make_rtcp(buf, 99);
    p = hc_srtp_protect_rtcp(&tx, buf, n, sizeof buf);
    ck_assert_int_gt(p, 0);
    ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p), -HC_EAUTH);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* Every single-bit change of an SRTP packet must be rejected; changes past
 * the header must be rejected by authentication itself. */
START_TEST(any_bit_flip_fails)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t orig[256], buf[256];
    size_t n = make_rtp(orig, 4242, 0x77, 1, 1, 24);
    size_t hl = n - 24;
    int p = hc_srtp_protect(&tx, orig, n, sizeof orig);
    ck_assert_int_gt(p, 0);
    for (size_t bit = 0; bit < (size_t)p * 8; bit++) {
        memcpy(buf, orig, (size_t)p);
        buf[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        int rc = hc_srtp_unprotect(&rx, buf, (size_t)p);
        ck_assert_msg(rc < 0, "bit %zu accepted", bit);
        if (bit / 8 >= hl) ck_assert_int_eq(rc, -HC_EAUTH);
    }
    /* Rejected packets leave no trace: the original still passes. */
    memcpy(buf, orig, (size_t)p);
    ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)p), (int)n);

    /* Same for SRTCP, whose E flag and index are authenticated too. */
    n = make_rtcp(orig, 0x99);
    p = hc_srtp_protect_rtcp(&tx, orig, n, sizeof orig);
    ck_assert_int_gt(p, 0);
    for (size_t bit = 0; bit < (size_t)p * 8; bit++) {
        memcpy(buf, orig, (size_t)p);
        buf[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        int rc = hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p);
        ck_assert_msg(rc < 0, "rtcp bit %zu accepted", bit);
        if (bit >= 2) ck_assert_msg(rc == -HC_EAUTH, "rtcp bit %zu gave %d", bit, rc);
    }
    memcpy(buf, orig, (size_t)p);
    ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p), (int)n);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

START_TEST(replay_rejected)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t pkt[512], buf[512];
    int p = protect_seq(&tx, pkt, sizeof pkt, 10);
    ck_assert_int_gt(p, 0);
    memcpy(buf, pkt, (size_t)p);
    ck_assert_int_gt(hc_srtp_unprotect(&rx, buf, (size_t)p), 0);
    memcpy(buf, pkt, (size_t)p);
    ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)p), -HC_EREPLAY);

    /* The sender refuses to protect a sequence number twice. */
    ck_assert_int_eq(protect_seq(&tx, buf, sizeof buf, 10), -HC_EREPLAY);

    size_t n = make_rtcp(pkt, 0x31);
    p = hc_srtp_protect_rtcp(&tx, pkt, n, sizeof pkt);
    ck_assert_int_gt(p, 0);
    memcpy(buf, pkt, (size_t)p);
    ck_assert_int_gt(hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p), 0);
    memcpy(buf, pkt, (size_t)p);
    ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, buf, (size_t)p), -HC_EREPLAY);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* The window is HC_SRTP_REPLAY_WINDOW: 1000 behind the newest is still
 * accepted (libsrtp's default of 128 would refuse it), beyond is refused. */
START_TEST(replay_window)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    static const uint16_t seqs[] = {1, 5, 100, 1100, 2000};
    _Alignas(16) uint8_t pkts[5][512];
    int lens[5];
    for (int i = 0; i < 5; i++) {
        lens[i] = protect_seq(&tx, pkts[i], sizeof pkts[i], seqs[i]);
        ck_assert_int_gt(lens[i], 0);
    }
    ck_assert_int_gt(hc_srtp_unprotect(&rx, pkts[0], (size_t)lens[0]), 0); /* 1 */
    ck_assert_int_gt(hc_srtp_unprotect(&rx, pkts[3], (size_t)lens[3]), 0); /* 1100 */
    ck_assert_int_gt(hc_srtp_unprotect(&rx, pkts[2], (size_t)lens[2]), 0); /* 100: 1000 late */
    ck_assert_int_gt(hc_srtp_unprotect(&rx, pkts[4], (size_t)lens[4]), 0); /* 2000 */
    /* 5 is now 1995 behind the newest: older than the window. */
    ck_assert_int_eq(hc_srtp_unprotect(&rx, pkts[1], (size_t)lens[1]), -HC_EREPLAY);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

START_TEST(capacity_and_direction)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t buf[512];
    size_t n = make_rtp(buf, 1, 2, 0, 0, 50);
    ck_assert_int_eq(hc_srtp_protect(&tx, buf, n, n + HC_SRTP_MAX_TRAILER - 1), -HC_ENOSPC);
    ck_assert_int_eq(hc_srtp_protect(&tx, buf, n, n - 1), -HC_ENOSPC);
    ck_assert_int_eq(hc_srtp_protect(&rx, buf, n, sizeof buf), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_unprotect(&tx, buf, n), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_protect(&tx, buf + 1, n, sizeof buf - 1), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_protect(&tx, NULL, n, sizeof buf), -HC_EINVAL);
    int p = hc_srtp_protect(&tx, buf, n, n + HC_SRTP_MAX_TRAILER);
    ck_assert_int_gt(p, 0);
    ck_assert_int_eq(hc_srtp_unprotect(&rx, buf + 4, (size_t)p - 4) < 0, 1);

    n = make_rtcp(buf, 5);
    ck_assert_int_eq(hc_srtp_protect_rtcp(&tx, buf, n, n + HC_SRTP_MAX_TRAILER - 1), -HC_ENOSPC);
    ck_assert_int_eq(hc_srtp_protect_rtcp(&rx, buf, n, sizeof buf), -HC_EINVAL);
    ck_assert_int_eq(hc_srtp_unprotect_rtcp(&tx, buf, n), -HC_EINVAL);
    buf[0] = 0x40; /* version 1 */
    ck_assert_int_eq(hc_srtp_protect_rtcp(&tx, buf, n, sizeof buf), -HC_EVERSION);
    ck_assert_int_eq(hc_srtp_protect_rtcp(&tx, buf, 7, sizeof buf), -HC_ETRUNC);

    hc_srtp_t zero;
    memset(&zero, 0, sizeof zero);
    ck_assert_int_eq(hc_srtp_protect(&zero, buf, n, sizeof buf), -HC_EINVAL);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* Plain RTP whose header is cut short is refused before libsrtp sees it. */
START_TEST(protect_truncated_header)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t plain[256];
    size_t n = make_rtp(plain, 77, 3, 3, 2, 10);
    size_t hl = n - 10;
    for (size_t len = 0; len < hl; len++) {
        uint8_t *b = malloc(len + HC_SRTP_MAX_TRAILER);
        ck_assert_ptr_nonnull(b);
        memcpy(b, plain, len);
        int rc = hc_srtp_protect(&tx, b, len, len + HC_SRTP_MAX_TRAILER);
        ck_assert_msg(rc == -HC_ETRUNC, "len %zu gave %d", len, rc);
        free(b);
    }
    plain[0] = 0x40;
    ck_assert_int_eq(hc_srtp_protect(&tx, plain, n, sizeof plain), -HC_EVERSION);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* Every prefix of a protected packet fails without reading past its end
 * (exactly sized heap copies, so ASan sees any over-read). */
START_TEST(unprotect_truncated)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t pkt[256], rtcp[256];
    size_t n = make_rtp(pkt, 500, 0x42, 2, 1, 40);
    int p = hc_srtp_protect(&tx, pkt, n, sizeof pkt);
    ck_assert_int_gt(p, 0);
    size_t rn = make_rtcp(rtcp, 0x42);
    int rp = hc_srtp_protect_rtcp(&tx, rtcp, rn, sizeof rtcp);
    ck_assert_int_gt(rp, 0);
    for (size_t len = 0; len < (size_t)p; len++) {
        uint8_t *b = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(b);
        memcpy(b, pkt, len);
        int rc = hc_srtp_unprotect(&rx, b, len);
        ck_assert_msg(rc < 0, "rtp len %zu accepted", len);
        free(b);
    }
    for (size_t len = 0; len < (size_t)rp; len++) {
        uint8_t *b = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(b);
        memcpy(b, rtcp, len);
        int rc = hc_srtp_unprotect_rtcp(&rx, b, len);
        ck_assert_msg(rc < 0, "rtcp len %zu accepted", len);
        free(b);
    }
    /* Both whole packets still pass afterwards. */
    ck_assert_int_eq(hc_srtp_unprotect(&rx, pkt, (size_t)p), (int)n);
    ck_assert_int_eq(hc_srtp_unprotect_rtcp(&rx, rtcp, (size_t)rp), (int)rn);
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* ---- Reference transforms (OpenSSL) for the known-answer tests ---- */

static void aes_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                    size_t n)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0;
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv), 1);
    ck_assert_int_eq(EVP_EncryptUpdate(c, out, &ol, in, (int)n), 1);
    ck_assert_int_eq(EVP_EncryptFinal_ex(c, out + ol, &fl), 1);
    EVP_CIPHER_CTX_free(c);
}

/* RFC 3711 4.3.3 AES-CM PRF with key_derivation_rate 0: x = label at octet
 * 7 of the 112-bit salt; a 96-bit (RFC 7714) salt is padded with zeros. */
static void ref_kdf(const uint8_t mkey[16], const uint8_t *msalt, size_t saltlen, uint8_t label,
                    uint8_t *out, size_t n)
{
    uint8_t iv[16] = {0}, zeros[32] = {0};
    memcpy(iv, msalt, saltlen);
    iv[7] ^= label;
    aes_ctr(mkey, iv, zeros, out, n);
}

/* RFC 3711 4.1.1 + 4.2: AES-CM encryption and HMAC-SHA1-80 over the packet
 * and the ROC, with session keys given. */
static size_t ref_cm_session(const uint8_t ke[16], const uint8_t ks[14], const uint8_t ka[20],
                             const uint8_t *pkt, size_t len, size_t hl, uint32_t roc, uint8_t *out)
{
    uint8_t iv[16] = {0}, mac[EVP_MAX_MD_SIZE], authin[1600];
    unsigned maclen = 0;
    uint64_t index = ((uint64_t)roc << 16) | hc_rd16(pkt + 2);
    memcpy(iv, ks, 14);
    for (int i = 0; i < 4; i++) iv[4 + i] ^= pkt[8 + i];
    for (int i = 0; i < 6; i++) iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
    memcpy(out, pkt, hl);
    aes_ctr(ke, iv, pkt + hl, out + hl, len - hl);
    memcpy(authin, out, len);
    hc_wr32(authin + len, roc);
    ck_assert_ptr_nonnull(HMAC(EVP_sha1(), ka, 20, authin, len + 4, mac, &maclen));
    memcpy(out + len, mac, 10);
    return len + 10;
}

/* RFC 7714 8.1: IV = salt XOR (00 00 | SSRC | ROC | SEQ), AAD = header. */
static size_t ref_gcm_session(const uint8_t ke[16], const uint8_t ks[12], const uint8_t *pkt,
                              size_t len, size_t hl, uint32_t roc, uint8_t *out)
{
    uint8_t iv[12] = {0};
    memcpy(iv + 2, pkt + 8, 4);
    hc_wr32(iv + 6, roc);
    memcpy(iv + 10, pkt + 2, 2);
    for (int i = 0; i < 12; i++) iv[i] ^= ks[i];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0;
    ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, NULL, NULL), 1);
    ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
    ck_assert_int_eq(EVP_EncryptInit_ex(c, NULL, NULL, ke, iv), 1);
    ck_assert_int_eq(EVP_EncryptUpdate(c, NULL, &ol, pkt, (int)hl), 1);
    memcpy(out, pkt, hl);
    ck_assert_int_eq(EVP_EncryptUpdate(c, out + hl, &ol, pkt + hl, (int)(len - hl)), 1);
    ck_assert_int_eq(EVP_EncryptFinal_ex(c, out + hl + ol, &ol), 1);
    ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + len), 1);
    EVP_CIPHER_CTX_free(c);
    return len + 16;
}

/* The reference itself against the RFCs' own numbers. */
START_TEST(reference_matches_rfc_vectors)
{
    uint8_t mk[16], ms[14], exp[64], got[64], zeros[48] = {0};
    /* RFC 3711 B.3 key derivation. */
    hc_test_hex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, sizeof mk);
    hc_test_hex("0EC675AD498AFEEBB6960B3AABE6", ms, sizeof ms);
    ref_kdf(mk, ms, 14, 0, got, 16);
    hc_test_hex("C61E7A93744F39EE10734AFE3FF7A087", exp, sizeof exp);
    ck_assert_mem_eq(got, exp, 16);
    ref_kdf(mk, ms, 14, 2, got, 14);
    hc_test_hex("30CBBC08863D8C85D49DB34A9AE1", exp, sizeof exp);
    ck_assert_mem_eq(got, exp, 14);
    ref_kdf(mk, ms, 14, 1, got, 20);
    hc_test_hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", exp, sizeof exp);
    ck_assert_mem_eq(got, exp, 20);

    /* RFC 3711 B.2 AES-CM keystream. */
    uint8_t key[16], iv[16];
    hc_test_hex("2B7E151628AED2A6ABF7158809CF4F3C", key, sizeof key);
    hc_test_hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000", iv, sizeof iv);
    aes_ctr(key, iv, zeros, got, 48);
    hc_test_hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB"
                "41E95B3BB0A2E8DD477901E4FCA894C0",
                exp, sizeof exp);
    ck_assert_mem_eq(got, exp, 48);

    /* RFC 7714 16.1.1 AEAD_AES_128_GCM SRTP encryption (session keys). */
    uint8_t ke[16], ks[12], pkt[64], want[96], out[96];
    hc_test_hex("000102030405060708090a0b0c0d0e0f", ke, sizeof ke);
    hc_test_hex("517569642070726f2071756f", ks, sizeof ks);
    int n = hc_test_hex("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973"
                        "20646976 69736120 696e2070 61727465 73207472 6573",
                        pkt, sizeof pkt);
    int wn = hc_test_hex("8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca"
                         "be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833"
                         "899d7f27 beb16a91 52cf765e e4390cce",
                         want, sizeof want);
    ck_assert_int_eq(n, 50);
    ck_assert_uint_eq(ref_gcm_session(ke, ks, pkt, (size_t)n, 12, 0, out), (size_t)wn);
    ck_assert_mem_eq(out, want, (size_t)wn);
}
END_TEST

/* hc_srtp_protect from a master key gives what the reference derives, for
 * the RFC 3711 B.3 master key/salt (AES-CM) and the same key with a 96-bit
 * salt (GCM), on packets with and without CSRCs and an extension. */
START_TEST(known_answer_protect)
{
    hc_srtp_suite_t suite = SUITES[_i];
    uint8_t master[HC_SRTP_MAX_KEY_LEN];
    hc_test_hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6", master,
                sizeof master);
    size_t saltlen = suite == HC_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    uint8_t ke[16], ks[14], ka[20];
    ref_kdf(master, master + 16, saltlen, 0, ke, 16);
    ref_kdf(master, master + 16, saltlen, 2, ks, saltlen);
    ref_kdf(master, master + 16, saltlen, 1, ka, 20);

    hc_srtp_t tx, rx;
    ck_assert_int_eq(hc_srtp_init(&tx, suite, master, 16 + saltlen, HC_SRTP_SEND), 0);
    ck_assert_int_eq(hc_srtp_init(&rx, suite, master, 16 + saltlen, HC_SRTP_RECV), 0);
    for (unsigned shape = 0; shape < 2; shape++) {
        _Alignas(16) uint8_t plain[512], buf[512], want[512];
        size_t n = make_rtp(plain, (uint16_t)(0x1234 + shape), 0xcafebabe, shape * 2, shape,
                            16 + 100 * shape);
        size_t hl = n - (16 + 100 * shape);
        size_t wn = suite == HC_SRTP_AEAD_AES_128_GCM
                        ? ref_gcm_session(ke, ks, plain, n, hl, 0, want)
                        : ref_cm_session(ke, ks, ka, plain, n, hl, 0, want);
        memcpy(buf, plain, n);
        int p = hc_srtp_protect(&tx, buf, n, sizeof buf);
        ck_assert_int_eq(p, (int)wn);
        ck_assert_mem_eq(buf, want, wn);
        ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)p), (int)n);
        ck_assert_mem_eq(buf, plain, n);
    }
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

/* Many SSRCs through one context each (relay: audio, video, RTX, FEC). */
START_TEST(many_ssrcs_one_context)
{
    hc_srtp_suite_t suite = SUITES[_i];
    hc_srtp_t tx, rx;
    ctx_pair(suite, &tx, &rx);
    _Alignas(16) uint8_t buf[512], plain[512];
    for (uint32_t ssrc = 1; ssrc <= 8; ssrc++) {
        for (uint16_t seq = 65530; seq != 6; seq++) { /* across the wrap */
            size_t n = make_rtp(plain, seq, ssrc, 0, 0, 30);
            memcpy(buf, plain, n);
            int p = hc_srtp_protect(&tx, buf, n, sizeof buf);
            ck_assert_int_gt(p, 0);
            ck_assert_int_eq(hc_srtp_unprotect(&rx, buf, (size_t)p), (int)n);
            ck_assert_mem_eq(buf, plain, n);
        }
    }
    hc_srtp_fini(&tx);
    hc_srtp_fini(&rx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("srtp");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, suite_names_and_keys);
    tcase_add_test(tc, init_rejects_bad_arguments);
    tcase_add_loop_test(tc, rtp_round_trip, 0, NSUITES);
    tcase_add_loop_test(tc, rtcp_round_trip, 0, NSUITES);
    tcase_add_loop_test(tc, wrong_key_fails_auth, 0, NSUITES);
    tcase_add_loop_test(tc, any_bit_flip_fails, 0, NSUITES);
    tcase_add_loop_test(tc, replay_rejected, 0, NSUITES);
    tcase_add_loop_test(tc, replay_window, 0, NSUITES);
    tcase_add_loop_test(tc, capacity_and_direction, 0, NSUITES);
    tcase_add_loop_test(tc, protect_truncated_header, 0, NSUITES);
    tcase_add_loop_test(tc, unprotect_truncated, 0, NSUITES);
    tcase_add_test(tc, reference_matches_rfc_vectors);
    tcase_add_loop_test(tc, known_answer_protect, 0, NSUITES);
    tcase_add_loop_test(tc, many_ssrcs_one_context, 0, NSUITES);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
