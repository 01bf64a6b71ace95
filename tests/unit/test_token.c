#include "proto/b64.h"
#include "proto/err.h"
#include "proto/token.h"
#include "tests/common/testutil.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t KEY[] = "hillcast-unit-test-key-0123456789abcdef";
#define KEYLEN (sizeof KEY - 1)

/* Computed independently with python3's hmac, hashlib and base64 modules:
 * header {"alg":"HS256","typ":"JWT"}, compact payload in our claim order. */
static const char PY_TOKEN[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJyb2xlIjoidGVhY2hlciIsInNlc3Npb24iOiJtYXRoLTEwMSIsInNpdGUiOiLkuJzkuaHkuozkuK0iLCJzdWIiOiJs"
    "aS53ZWkiLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJqdGkiOiI0Zjlj"
    "MmEifQ.CZGp9XcUNxqt20xzzYCy1OsEjKnbtWYF09JivmkeHd0";

/* Same tool, formatted as JSON libraries usually do it: spaces, header
 * members in the other order, \u escapes, extra registered claims. */
static const char PY_LOOSE[] =
    "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJIUzI1NiJ9."
    "eyJpc3MiOiAib3BzIiwgImF1ZCI6ICJoaWxsY2FzdCIsICJleHAiOiAxNzAwMDAzNjAwLCAicm9sZSI6ICJzaXRlIiwg"
    "InNlc3Npb24iOiAibWF0aC0xMDEiLCAic2l0ZSI6ICJcdTRlMWNcdTRlNjFcdTRlOGNcdTRlMmQifQ."
    "HL_yFUkDSBL6FhLfFzGZC5Xv_Xgx9m2re9G7sVgwX-M";

#define SITE_UTF8 "\xe4\xb8\x9c\xe4\xb9\xa1\xe4\xba\x8c\xe4\xb8\xad"
#define NOW       1700001000

static hc_token_claims_t teacher(void)
{
    hc_token_claims_t c;
    memset(&c, 0, sizeof c);
    c.role = HC_SIG_ROLE_TEACHER;
    strcpy(c.session, "math-101");
    strcpy(c.site, SITE_UTF8);
    strcpy(c.sub, "li.wei");
    c.iat = 1700000000;
    c.nbf = 1700000000;
    c.exp = 1700003600;
    strcpy(c.jti, "4f9c2a");
    return c;
}

/* Verify from an exactly-sized heap copy so ASan sees any over-read. */
static int verify(const char *tok, size_t len, const uint8_t *key, size_t keylen, int64_t now,
                  int64_t leeway, hc_token_claims_t *out)
{
    char *h = malloc(len ? len : 1);
    memcpy(h, tok, len);
    int rc = hc_token_verify(h, len, key, keylen, now, leeway, out);
    free(h);
    return rc;
}

static int verify_s(const char *tok, hc_token_claims_t *out)
{
    return verify(tok, strlen(tok), KEY, KEYLEN, NOW, 0, out);
}

/* Build a token from raw header and payload JSON, signed with KEY, the way
 * another implementation might (used to probe claim and header handling). */
static void sign_raw(const char *hdr, const char *payload, char *out, size_t cap)
{
    int n = hc_b64url_encode((const uint8_t *)hdr, strlen(hdr), out, cap);
    ck_assert_int_gt(n, 0);
    size_t pos = (size_t)n;
    out[pos++] = '.';
    n = hc_b64url_encode((const uint8_t *)payload, strlen(payload), out + pos, cap - pos);
    ck_assert_int_gt(n, 0);
    pos += (size_t)n;
    uint8_t mac[32];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const uint8_t *)out, pos, mac, &ml);
    out[pos++] = '.';
    ck_assert_int_gt(hc_b64url_encode(mac, ml, out + pos, cap - pos), 0);
}

static const char HDR[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

START_TEST(mint_matches_python)
{
    hc_token_claims_t c = teacher();
    char tok[HC_TOKEN_MAX + 1];
    int n = hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok);
    ck_assert_int_eq(n, (int)strlen(PY_TOKEN));
    ck_assert_str_eq(tok, PY_TOKEN);
}
END_TEST

START_TEST(verify_python_tokens)
{
    hc_token_claims_t c;
    ck_assert_int_eq(verify_s(PY_TOKEN, &c), 0);
    ck_assert_int_eq(c.role, HC_SIG_ROLE_TEACHER);
    ck_assert_str_eq(c.session, "math-101");
    ck_assert_str_eq(c.site, SITE_UTF8);
    ck_assert_str_eq(c.sub, "li.wei");
    ck_assert_str_eq(c.jti, "4f9c2a");
    ck_assert_int_eq(c.iat, 1700000000);
    ck_assert_int_eq(c.nbf, 1700000000);
    ck_assert_int_eq(c.exp, 1700003600);

    ck_assert_int_eq(verify_s(PY_LOOSE, &c), 0);
    ck_assert_int_eq(c.role, HC_SIG_ROLE_SITE);
    ck_assert_str_eq(c.session, "math-101");
    ck_assert_str_eq(c.site, SITE_UTF8);
    ck_assert_str_eq(c.sub, "");
    ck_assert_int_eq(c.iat, 0);
    ck_assert_int_eq(c.nbf, 0);
}
END_TEST

/* RFC 7515 Appendix A.1: an HS256 JWS with the key given there as a JWK.
 * The MAC checks out, so verify gets as far as the claims, which lack our
 * "role" (HC_ETOKEN, not HC_ESIGNATURE); any other key fails the MAC. */
START_TEST(rfc7515_a1)
{
    static const char jws[] =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
        "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    static const char k64[] = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4"
                              "hcgUuTwjAzZr1Z9CAow";
    uint8_t key[64];
    ck_assert_int_eq(hc_b64url_decode(k64, strlen(k64), key, sizeof key), 64);
    hc_token_claims_t c;
    ck_assert_int_eq(verify(jws, strlen(jws), key, 64, 1300819000, 0, &c), -HC_ETOKEN);
    key[0] ^= 1;
    ck_assert_int_eq(verify(jws, strlen(jws), key, 64, 1300819000, 0, &c), -HC_ESIGNATURE);
}
END_TEST

START_TEST(mint_verify_every_role)
{
    for (int r = 1; r < HC_SIG_ROLE_COUNT; r++) {
        hc_token_claims_t c, back;
        memset(&c, 0, sizeof c);
        c.role = (hc_sig_role_t)r;
        if (r != HC_SIG_ROLE_ADMIN) strcpy(c.session, "consult-7");
        strcpy(c.site, "Clinic \"North\" \\ 3");
        c.exp = NOW + 60;
        char tok[HC_TOKEN_MAX + 1];
        int n = hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok);
        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(verify(tok, (size_t)n, KEY, KEYLEN, NOW, 0, &back), 0);
        ck_assert(memcmp(&c, &back, sizeof c) == 0);
    }
}
END_TEST

START_TEST(time_claims)
{
    hc_token_claims_t c = teacher(), out;
    char tok[HC_TOKEN_MAX + 1];
    ck_assert_int_gt(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), 0);
    size_t n = strlen(tok);
    /* RFC 7519 §4.1.4: not accepted on or after exp. */
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.exp - 1, 0, &out), 0);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.exp, 0, &out), -HC_EEXPIRED);
    ck_assert_int_eq(out.role, HC_SIG_ROLE_NONE); /* zeroed on failure */
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.exp + 29, 30, &out), 0);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.exp + 30, 30, &out), -HC_EEXPIRED);
    /* §4.1.5: not accepted before nbf. */
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.nbf, 0, &out), 0);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.nbf - 1, 0, &out), -HC_ENOTYET);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.nbf - 30, 30, &out), 0);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, c.nbf - 31, 30, &out), -HC_ENOTYET);
    /* Extreme clocks and leeways do not overflow into acceptance. */
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, INT64_MAX - 1, INT64_MAX, &out), 0);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, INT64_MAX, 0, &out), -HC_EEXPIRED);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, INT64_MIN, 0, &out), -HC_ENOTYET);
    ck_assert_int_eq(verify(tok, n, KEY, KEYLEN, NOW, -1, &out), -HC_EINVAL);

    /* Non-integer NumericDates round to the safe side. */
    char raw[1024];
    sign_raw(HDR, "{\"role\":\"admin\",\"exp\":1700001000.9,\"nbf\":1700000999.1}", raw,
             sizeof raw);
    ck_assert_int_eq(verify(raw, strlen(raw), KEY, KEYLEN, 1700000999, 0, &out), -HC_ENOTYET);
    ck_assert_int_eq(verify(raw, strlen(raw), KEY, KEYLEN, 1700001000, 0, &out), -HC_EEXPIRED);
    sign_raw(HDR, "{\"role\":\"admin\",\"exp\":1700001001.5,\"nbf\":1700000999.1}", raw,
             sizeof raw);
    ck_assert_int_eq(verify(raw, strlen(raw), KEY, KEYLEN, 1700001000, 0, &out), 0);
    ck_assert_int_eq(out.exp, 1700001001);
    ck_assert_int_eq(out.nbf, 1700001000);
}
END_TEST

START_TEST(tampering)
{
    char tok[HC_TOKEN_MAX + 1], bad[HC_TOKEN_MAX + 1];
    hc_token_claims_t c = teacher(), out;
    ck_assert_int_gt(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), 0);
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');

    /* Payload swapped for one claiming admin, old signature kept. */
    char p[256];
    ck_assert_int_gt(hc_b64url_encode((const uint8_t *)"{\"role\":\"admin\",\"exp\":1800000000}",
                                      33, p, sizeof p),
                     0);
    snprintf(bad, sizeof bad, "%.*s.%s%s", (int)(d1 - tok), tok, p, d2);
    ck_assert_int_eq(verify_s(bad, &out), -HC_ESIGNATURE);

    /* One payload character changed (still valid base64url). */
    strcpy(bad, tok);
    bad[d1 - tok + 5] = bad[d1 - tok + 5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify_s(bad, &out), -HC_ESIGNATURE);

    /* First signature character changed. */
    strcpy(bad, tok);
    bad[d2 - tok + 1] = bad[d2 - tok + 1] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify_s(bad, &out), -HC_ESIGNATURE);

    /* Header with an extra member, signature of the original. */
    char h[128];
    ck_assert_int_gt(
        hc_b64url_encode((const uint8_t *)"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"a\"}", 37,
                         h, sizeof h),
        0);
    snprintf(bad, sizeof bad, "%s%s", h, d1);
    ck_assert_int_eq(verify_s(bad, &out), -HC_ESIGNATURE);

    /* Wrong key, same length and shorter than allowed. */
    uint8_t other[KEYLEN];
    memcpy(other, KEY, KEYLEN);
    other[KEYLEN - 1] ^= 0x20;
    ck_assert_int_eq(verify(tok, strlen(tok), other, KEYLEN, NOW, 0, &out), -HC_ESIGNATURE);
    ck_assert_int_eq(verify(tok, strlen(tok), KEY, 31, NOW, 0, &out), -HC_EINVAL);
    ck_assert_int_eq(hc_token_mint(&c, KEY, 31, bad, sizeof bad), -HC_EINVAL);
}
END_TEST

START_TEST(headers)
{
    static const char *const bad_hdr[] = {
        "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"HS384\",\"typ\":\"JWT\"}",
        "{\"alg\":\"RS256\",\"typ\":\"JWT\"}",
        "{\"alg\":\"hs256\",\"typ\":\"JWT\"}",
        "{\"typ\":\"JWT\"}",
        "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
        "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
        "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
        "[\"HS256\"]",
        "not json",
    };
    static const char payload[] = "{\"role\":\"admin\",\"exp\":1800000000}";
    char tok[1024];
    hc_token_claims_t out;
    for (size_t i = 0; i < sizeof bad_hdr / sizeof bad_hdr[0]; i++) {
        sign_raw(bad_hdr[i], payload, tok, sizeof tok);
        ck_assert_msg(verify_s(tok, &out) == -HC_ETOKEN, "accepted header %s", bad_hdr[i]);
    }
    sign_raw("{\"alg\":\"HS256\",\"typ\":\"jwt\",\"kid\":\"k1\"}", payload, tok, sizeof tok);
    ck_assert_int_eq(verify_s(tok, &out), 0);
    sign_raw("{\"alg\":\"HS256\"}", payload, tok, sizeof tok);
    ck_assert_int_eq(verify_s(tok, &out), 0);

    /* alg "none" with the empty signature RFC 7519 §6.1 shows. */
    char h[64], p[128];
    hc_b64url_encode((const uint8_t *)"{\"alg\":\"none\"}", 14, h, sizeof h);
    hc_b64url_encode((const uint8_t *)payload, strlen(payload), p, sizeof p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    ck_assert_int_eq(verify_s(tok, &out), -HC_ETOKEN);
}
END_TEST

START_TEST(claims)
{
    static const char *const bad[] = {
        "{\"exp\":1800000000}",                                          /* no role */
        "{\"role\":\"janitor\",\"exp\":1800000000}",                     /* unknown role */
        "{\"role\":\"ADMIN\",\"exp\":1800000000}",                       /* case matters */
        "{\"role\":1,\"exp\":1800000000}",                               /* not a string */
        "{\"role\":\"admin\"}",                                          /* no exp */
        "{\"role\":\"admin\",\"exp\":\"1800000000\"}",                   /* exp a string */
        "{\"role\":\"admin\",\"exp\":0}",                                /* exp not positive */
        "{\"role\":\"teacher\",\"exp\":1800000000}",                     /* no session */
        "{\"role\":\"site\",\"session\":\"a b\",\"exp\":1800000000}",    /* bad id */
        "{\"role\":\"site\",\"session\":\"\",\"exp\":1800000000}",       /* empty id */
        "{\"role\":\"admin\",\"site\":\"a\\u0001\",\"exp\":1800000000}", /* control */
        "{\"role\":\"admin\",\"jti\":\"x/y\",\"exp\":1800000000}",       /* bad jti */
        "{\"role\":\"admin\",\"role\":\"admin\",\"exp\":1800000000}",    /* duplicate */
        "{\"role\":\"admin\",\"exp\":1800000000,\"nbf\":1900000000}",    /* nbf > exp */
        "{\"role\":\"admin\",\"exp\":1800000000,\"iat\":-5}",            /* iat negative */
        "{\"role\":\"admin\",\"exp\":1e300}",                            /* out of range */
        "[\"role\",\"admin\"]",
        "\"admin\"",
        "{\"role\":\"admin\",\"exp\":1800000000",
    };
    char tok[2048];
    hc_token_claims_t out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sign_raw(HDR, bad[i], tok, sizeof tok);
        ck_assert_msg(verify_s(tok, &out) == -HC_ETOKEN, "accepted claims %s", bad[i]);
    }
    /* Unknown claims are ignored (RFC 7519 §4); over-long strings are not. */
    sign_raw(HDR, "{\"role\":\"admin\",\"exp\":1800000000,\"aud\":[\"x\"],\"x\":{\"y\":1}}", tok,
             sizeof tok);
    ck_assert_int_eq(verify_s(tok, &out), 0);
    char p[256];
    snprintf(p, sizeof p, "{\"role\":\"site\",\"session\":\"%065d\",\"exp\":1800000000}", 1);
    sign_raw(HDR, p, tok, sizeof tok);
    ck_assert_int_eq(verify_s(tok, &out), -HC_ETOKEN);
    snprintf(p, sizeof p, "{\"role\":\"site\",\"session\":\"%064d\",\"exp\":1800000000}", 1);
    sign_raw(HDR, p, tok, sizeof tok);
    ck_assert_int_eq(verify_s(tok, &out), 0);
    ck_assert_int_eq(strlen(out.session), 64);
}
END_TEST

START_TEST(structure)
{
    static const char *const bad[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        ".eyJ9.AAAA",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..AAAA",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9=.e30.AAAA",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.AAAA",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.AAAA AAAA",
    };
    hc_token_claims_t out;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(verify_s(bad[i], &out) == -HC_ETOKEN, "accepted %s", bad[i]);
    /* A valid token with a trailing newline or space is not a token. */
    char tok[HC_TOKEN_MAX + 2];
    snprintf(tok, sizeof tok, "%s\n", PY_TOKEN);
    ck_assert_int_eq(verify_s(tok, &out), -HC_ETOKEN);
    /* Oversize tokens are refused before any decoding. */
    char *big = malloc(HC_TOKEN_MAX + 1);
    memset(big, 'A', HC_TOKEN_MAX + 1);
    memcpy(big, PY_TOKEN, strlen(PY_TOKEN));
    ck_assert_int_eq(verify(big, HC_TOKEN_MAX + 1, KEY, KEYLEN, NOW, 0, &out), -HC_ETOKEN);
    free(big);
    ck_assert_int_eq(hc_token_verify(NULL, 5, KEY, KEYLEN, NOW, 0, &out), -HC_EINVAL);
    ck_assert_int_eq(hc_token_verify(PY_TOKEN, 5, NULL, KEYLEN, NOW, 0, &out), -HC_EINVAL);
    ck_assert_int_eq(hc_token_verify(PY_TOKEN, 5, KEY, KEYLEN, NOW, 0, NULL), -HC_EINVAL);
}
END_TEST

START_TEST(every_truncation)
{
    hc_token_claims_t out;
    size_t n = strlen(PY_TOKEN);
    for (size_t k = 0; k < n; k++) {
        int rc = verify(PY_TOKEN, k, KEY, KEYLEN, NOW, 0, &out);
        ck_assert_msg(rc == -HC_ETOKEN || rc == -HC_ESIGNATURE, "len %zu -> %d", k, rc);
    }
    ck_assert_int_eq(verify(PY_TOKEN, n, KEY, KEYLEN, NOW, 0, &out), 0);
}
END_TEST

START_TEST(mint_rejects)
{
    char tok[HC_TOKEN_MAX + 1];
    hc_token_claims_t c = teacher();
    c.role = HC_SIG_ROLE_NONE;
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    c.role = HC_SIG_ROLE_COUNT;
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    c.session[0] = '\0';
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c.role = HC_SIG_ROLE_ADMIN; /* admin may leave the session open */
    ck_assert_int_gt(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), 0);
    c = teacher();
    c.exp = 0;
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    c.nbf = c.exp + 1;
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    strcpy(c.session, "math 101");
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    strcpy(c.site, "tab\there");
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    strcpy(c.sub, "\xff");
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    c = teacher();
    memset(c.jti, 'j', sizeof c.jti); /* not terminated */
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);
    ck_assert_int_eq(hc_token_mint(NULL, KEY, KEYLEN, tok, sizeof tok), -HC_EINVAL);

    /* Every capacity short of length + NUL is refused, and says so. */
    c = teacher();
    size_t need = strlen(PY_TOKEN) + 1;
    for (size_t cap = 0; cap < need; cap++) {
        char *b = malloc(cap ? cap : 1);
        ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, b, cap), -HC_ENOSPC);
        free(b);
    }
    char *b = malloc(need);
    ck_assert_int_eq(hc_token_mint(&c, KEY, KEYLEN, b, need), (int)need - 1);
    ck_assert_str_eq(b, PY_TOKEN);
    free(b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("token");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mint_matches_python);
    tcase_add_test(tc, verify_python_tokens);
    tcase_add_test(tc, rfc7515_a1);
    tcase_add_test(tc, mint_verify_every_role);
    tcase_add_test(tc, time_claims);
    tcase_add_test(tc, tampering);
    tcase_add_test(tc, headers);
    tcase_add_test(tc, claims);
    tcase_add_test(tc, structure);
    tcase_add_test(tc, every_truncation);
    tcase_add_test(tc, mint_rejects);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
