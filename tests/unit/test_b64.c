#include "proto/b64.h"
#include "proto/err.h"
#include "tests/common/testutil.h"

#include <stdlib.h>
#include <string.h>

/* RFC 4648 §10 test vectors. */
static const struct {
    const char *in, *std, *url;
} vec[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

/* Decode from an exactly-sized heap copy so ASan sees any over-read. */
static int dec(int url, const char *s, size_t len, uint8_t *out, size_t cap)
{
    char *h = malloc(len ? len : 1);
    memcpy(h, s, len);
    int rc = url ? hc_b64url_decode(h, len, out, cap) : hc_b64_decode(h, len, out, cap);
    free(h);
    return rc;
}

START_TEST(rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char out[32];
        uint8_t bin[32];
        size_t n = strlen(vec[i].in);
        ck_assert_int_eq(hc_b64_encode((const uint8_t *)vec[i].in, n, out, sizeof out),
                         (int)strlen(vec[i].std));
        ck_assert_str_eq(out, vec[i].std);
        ck_assert_int_eq(hc_b64url_encode((const uint8_t *)vec[i].in, n, out, sizeof out),
                         (int)strlen(vec[i].url));
        ck_assert_str_eq(out, vec[i].url);
        ck_assert_int_eq(dec(0, vec[i].std, strlen(vec[i].std), bin, sizeof bin), (int)n);
        ck_assert(memcmp(bin, vec[i].in, n) == 0);
        ck_assert_int_eq(dec(1, vec[i].url, strlen(vec[i].url), bin, sizeof bin), (int)n);
        ck_assert(memcmp(bin, vec[i].in, n) == 0);
        ck_assert_int_eq(HC_B64_ENCLEN(n), strlen(vec[i].std));
        ck_assert_int_eq(HC_B64URL_ENCLEN(n), strlen(vec[i].url));
    }
}
END_TEST

START_TEST(alphabets_differ)
{
    /* 0xfb 0xff uses the two characters where §4 and §5 differ. */
    const uint8_t in[] = {0xfb, 0xff};
    char out[8];
    uint8_t bin[4];
    ck_assert_int_eq(hc_b64_encode(in, 2, out, sizeof out), 4);
    ck_assert_str_eq(out, "+/8=");
    ck_assert_int_eq(hc_b64url_encode(in, 2, out, sizeof out), 3);
    ck_assert_str_eq(out, "-_8");
    ck_assert_int_eq(dec(0, "-_8=", 4, bin, sizeof bin), -HC_EMALFORMED);
    ck_assert_int_eq(dec(1, "+/8", 3, bin, sizeof bin), -HC_EMALFORMED);
    ck_assert_int_eq(dec(1, "-_8", 3, bin, sizeof bin), 2);
    ck_assert_int_eq(bin[0], 0xfb);
    ck_assert_int_eq(bin[1], 0xff);
}
END_TEST

START_TEST(strict_rejects)
{
    static const char *bad_std[] = {
        "Zg",       /* padding missing */
        "Zg=",      /* length not a multiple of 4 */
        "Zh==",     /* non-zero trailing bits (RFC 4648 §3.5) */
        "Zm9=",     /* same, one pad */
        "Z===",     /* three pads */
        "====",     /* only pads */
        "Zg==Zg==", /* pad inside */
        "Zm 9v",    /* whitespace */
        "Zm9v\n",   /* newline */
        "Zm9*",     /* not in the alphabet */
        "Zm=v",     /* pad in the middle of a quantum */
    };
    static const char *bad_url[] = {
        "Zg==", /* padding not used in base64url here */
        "Z",    /* one leftover character is never a byte */
        "Zh",   /* non-zero trailing bits */
        "Zm9",  /* same */
        "Zm9+", /* standard alphabet */
        "Zm9/", "Zm 9",
    };
    uint8_t bin[16];
    for (size_t i = 0; i < sizeof bad_std / sizeof bad_std[0]; i++)
        ck_assert_msg(dec(0, bad_std[i], strlen(bad_std[i]), bin, sizeof bin) == -HC_EMALFORMED,
                      "accepted %s", bad_std[i]);
    for (size_t i = 0; i < sizeof bad_url / sizeof bad_url[0]; i++)
        ck_assert_msg(dec(1, bad_url[i], strlen(bad_url[i]), bin, sizeof bin) == -HC_EMALFORMED,
                      "accepted %s", bad_url[i]);
    /* An embedded NUL is just another bad character. */
    ck_assert_int_eq(dec(0, "Zm\0v", 4, bin, sizeof bin), -HC_EMALFORMED);
}
END_TEST

START_TEST(capacity_and_args)
{
    const uint8_t in[] = "foobar";
    char out[16];
    uint8_t bin[16];
    /* Encoding needs room for the NUL as well. */
    ck_assert_int_eq(hc_b64_encode(in, 6, out, 8), -HC_ENOSPC);
    ck_assert_int_eq(hc_b64_encode(in, 6, out, 9), 8);
    ck_assert_int_eq(hc_b64url_encode(in, 4, out, 6), -HC_ENOSPC);
    ck_assert_int_eq(hc_b64url_encode(in, 4, out, 7), 6);
    ck_assert_int_eq(hc_b64_decode("Zm9vYmFy", 8, bin, 5), -HC_ENOSPC);
    ck_assert_int_eq(hc_b64_decode("Zm9vYmFy", 8, bin, 6), 6);
    ck_assert_int_eq(hc_b64url_decode("Zm9vYmE", 7, bin, 4), -HC_ENOSPC);
    ck_assert_int_eq(hc_b64url_decode("Zm9vYmE", 7, bin, 5), 5);
    ck_assert_int_eq(hc_b64_encode(NULL, 1, out, sizeof out), -HC_EINVAL);
    ck_assert_int_eq(hc_b64_encode(in, 1, NULL, 0), -HC_EINVAL);
    ck_assert_int_eq(hc_b64_decode(NULL, 4, bin, sizeof bin), -HC_EINVAL);
    ck_assert_int_eq(hc_b64_encode(NULL, 0, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(hc_b64_decode(NULL, 0, bin, sizeof bin), 0);
}
END_TEST

START_TEST(round_trip_random)
{
    uint64_t st = 0x5eed;
    for (size_t len = 0; len <= 100; len++) {
        uint8_t in[100], bin[100];
        char out[140];
        for (size_t i = 0; i < len; i++) in[i] = (uint8_t)hc_test_rand(&st);
        for (int url = 0; url <= 1; url++) {
            int n = url ? hc_b64url_encode(in, len, out, sizeof out)
                        : hc_b64_encode(in, len, out, sizeof out);
            ck_assert_int_eq(n, url ? (int)HC_B64URL_ENCLEN(len) : (int)HC_B64_ENCLEN(len));
            ck_assert_int_le(HC_B64_DECLEN((size_t)n), len + 2);
            ck_assert_int_eq(dec(url, out, (size_t)n, bin, len), (int)len);
            ck_assert(len == 0 || memcmp(in, bin, len) == 0);
        }
    }
}
END_TEST

START_TEST(every_truncation)
{
    const uint8_t in[] = {0x00, 0x10, 0x83, 0x10, 0x51, 0x87, 0x20, 0x92, 0x8b, 0x30, 0xd3};
    char std[32], url[32];
    int ns = hc_b64_encode(in, sizeof in, std, sizeof std);
    int nu = hc_b64url_encode(in, sizeof in, url, sizeof url);
    uint8_t bin[16];
    for (int k = 0; k < ns; k++) {
        int rc = dec(0, std, (size_t)k, bin, sizeof bin);
        /* Padded base64 is only ever whole quanta: a cut inside one fails,
         * a cut between quanta is a valid shorter encoding. */
        if (k % 4)
            ck_assert_int_eq(rc, -HC_EMALFORMED);
        else
            ck_assert_int_eq(rc, k / 4 * 3);
    }
    for (int k = 0; k < nu; k++) {
        int rc = dec(1, url, (size_t)k, bin, sizeof bin);
        if (k % 4 == 1)
            ck_assert_int_eq(rc, -HC_EMALFORMED);
        else
            ck_assert(rc == -HC_EMALFORMED || rc == (int)HC_B64_DECLEN((size_t)k));
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, rfc4648_vectors);
    tcase_add_test(tc, alphabets_differ);
    tcase_add_test(tc, strict_rejects);
    tcase_add_test(tc, capacity_and_args);
    tcase_add_test(tc, round_trip_random);
    tcase_add_test(tc, every_truncation);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
