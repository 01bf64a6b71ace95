/*
 * fuzz_token - JWT verification with a fixed key.
 *
 * Input starting with 'S' is "<header JSON>\n<payload JSON>" that the harness
 * encodes and signs, so the fuzzer reaches header and claim handling past
 * the MAC; any other input is verified as a token as is. Accepted tokens
 * must re-mint from their claims and verify back to the same claims.
 */
#include "proto/b64.h"
#include "proto/err.h"
#include "proto/token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t KEY[] = "fuzz-key-0123456789abcdef0123456789";
#define KEYLEN (sizeof KEY - 1)
#define NOW    1700001000

static char tok[2 * HC_TOKEN_MAX];

/* Build a signed token from header and payload JSON; 0 when it does not fit. */
static size_t sign(const uint8_t *h, size_t hl, const uint8_t *p, size_t pl)
{
    if (HC_B64URL_ENCLEN(hl) + HC_B64URL_ENCLEN(pl) + 64 > sizeof tok) return 0;
    int n = hc_b64url_encode(h, hl, tok, sizeof tok);
    if (n < 0) abort();
    size_t pos = (size_t)n;
    tok[pos++] = '.';
    n = hc_b64url_encode(p, pl, tok + pos, sizeof tok - pos);
    if (n < 0) abort();
    pos += (size_t)n;
    uint8_t mac[32];
    unsigned int ml = 0;
    if (!HMAC(EVP_sha256(), KEY, (int)KEYLEN, (const uint8_t *)tok, pos, mac, &ml)) abort();
    tok[pos++] = '.';
    n = hc_b64url_encode(mac, ml, tok + pos, sizeof tok - pos);
    if (n < 0) abort();
    return pos + (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    size_t len = size;
    if (size > 0 && data[0] == 'S') {
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        if (!nl) return 0;
        len = sign(data + 1, (size_t)(nl - data - 1), nl + 1, size - (size_t)(nl + 1 - data));
        if (!len) return 0;
        t = tok;
    }
    hc_token_claims_t c, back;
    int rc = hc_token_verify(t, len, KEY, KEYLEN, NOW, 30, &c);
    if (rc == 0) {
        char again[HC_TOKEN_MAX + 1];
        int n = hc_token_mint(&c, KEY, KEYLEN, again, sizeof again);
        if (n <= 0) abort();
        if (hc_token_verify(again, (size_t)n, KEY, KEYLEN, NOW, 30, &back) != 0) abort();
        if (memcmp(&c, &back, sizeof c) != 0) abort();
    } else if (rc != -HC_ETOKEN && rc != -HC_ESIGNATURE && rc != -HC_EEXPIRED &&
               rc != -HC_ENOTYET) {
        abort();
    }
    return 0;
}
