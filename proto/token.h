/*
 * token.h - signaling access tokens: JWT (RFC 7519) signed with HS256
 * (JWS, RFC 7515; HMAC-SHA-256 per RFC 7518 §3.2), so that any standard JWT
 * library holding the shared key can mint them.
 *
 * Claims (JSON names as in the struct): "role" (one of the signaling roles,
 * required), "session" (the one session the token admits; absent = any
 * session, allowed for role admin only), "site" (display name), "sub",
 * "jti", and the NumericDates "iat", "nbf", "exp" (RFC 7519 §4.1; exp is
 * required). Other claims are ignored (RFC 7519 §4); duplicate claim names
 * are rejected.
 *
 * Ownership: callers supply every buffer; the key is only read.
 * Threading: pure functions (jansson and OpenSSL are used reentrantly).
 */
#ifndef HC_PROTO_TOKEN_H
#define HC_PROTO_TOKEN_H

#include "proto/sig.h"

#include <stddef.h>
#include <stdint.h>

#define HC_TOKEN_MAX     4096 /* longer tokens are rejected (HC_ETOKEN) */
#define HC_TOKEN_KEY_MIN 32   /* RFC 7518 §3.2: key at least the hash size */

typedef struct hc_token_claims {
    hc_sig_role_t role;
    char session[HC_SIG_ID_MAX + 1]; /* identifier; empty = any (admin only) */
    char site[HC_SIG_NAME_MAX + 1];  /* display name, UTF-8; empty = none */
    char sub[HC_SIG_NAME_MAX + 1];   /* subject, UTF-8; empty = none */
    int64_t iat;                     /* issued at, seconds; 0 = absent */
    int64_t nbf;                     /* not before, seconds; 0 = absent */
    int64_t exp;                     /* expiry, seconds; required (> 0) */
    char jti[33];                    /* token id, identifier; empty = none */
} hc_token_claims_t;

/*
 * Mint a token for c with key (keylen >= HC_TOKEN_KEY_MIN). The header is
 * exactly {"alg":"HS256","typ":"JWT"}; segments are base64url without
 * padding (RFC 7515 §2). Writes a NUL-terminated token into out and returns
 * its length, -HC_ENOSPC if cap is too small, -HC_EINVAL for bad arguments
 * or claims that hc_token_verify() would refuse (unknown role, exp <= 0,
 * nbf > exp, bad characters, no session for a non-admin role).
 */
int hc_token_mint(const hc_token_claims_t *c, const uint8_t *key, size_t keylen, char *out,
                  size_t cap);

/*
 * Verify tok (len bytes, no NUL needed) at time now_s, allowing leeway_s
 * seconds of clock difference on exp and nbf. Returns 0 and fills *out, or:
 *   -HC_EINVAL     NULL arguments, key shorter than HC_TOKEN_KEY_MIN,
 *                  negative leeway;
 *   -HC_ETOKEN     longer than HC_TOKEN_MAX, not three segments, bad
 *                  base64url or JSON, alg other than HS256 (including
 *                  "none"), a "crit" header, missing or unknown role,
 *                  missing exp, malformed claims, non-admin without session;
 *   -HC_ESIGNATURE signature does not match (compared in constant time);
 *   -HC_EEXPIRED   now_s >= exp + leeway_s;
 *   -HC_ENOTYET    now_s + leeway_s < nbf.
 * On failure *out is zeroed.
 */
int hc_token_verify(const char *tok, size_t len, const uint8_t *key, size_t keylen, int64_t now_s,
                    int64_t leeway_s, hc_token_claims_t *out);

#endif
