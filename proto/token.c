/*
 * token.c - HS256 JWT mint and verify (RFC 7519, RFC 7515, RFC 7518 §3.2).
 */
#include "proto/token.h"

#include "proto/b64.h"
#include "proto/err.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

/* base64url of {"alg":"HS256","typ":"JWT"}, the only header we mint. */
#define HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define MAC_LEN    32

/* Everything verify insists on, so mint never issues a token it refuses. */
static bool claims_ok(const hc_token_claims_t *c)
{
    if ((unsigned)c->role == 0 || (unsigned)c->role >= HC_SIG_ROLE_COUNT) return false;
    const char *nul;
    if (!(nul = memchr(c->session, '\0', sizeof c->session)) ||
        !hc_sig_id_valid(c->session, (size_t)(nul - c->session)))
        return false;
    if (!(nul = memchr(c->site, '\0', sizeof c->site)) ||
        !hc_sig_text_valid(c->site, (size_t)(nul - c->site)))
        return false;
    if (!(nul = memchr(c->sub, '\0', sizeof c->sub)) ||
        !hc_sig_text_valid(c->sub, (size_t)(nul - c->sub)))
        return false;
    if (!(nul = memchr(c->jti, '\0', sizeof c->jti)) ||
        !hc_sig_id_valid(c->jti, (size_t)(nul - c->jti)))
        return false;
    if (c->role != HC_SIG_ROLE_ADMIN && !c->session[0]) return false;
    if (c->exp <= 0 || c->iat < 0 || c->nbf < 0 || c->nbf > c->exp) return false;
    return true;
}

static int hs256(const uint8_t *key, size_t keylen, const char *data, size_t len,
                 uint8_t mac[MAC_LEN])
{
    unsigned int n = 0;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, mac, &n) ||
        n != MAC_LEN)
        return -HC_EINTERNAL;
    return 0;
}

static int set_str(json_t *o, const char *name, const char *v)
{
    return v[0] ? json_object_set_new(o, name, json_string(v)) : 0;
}

static int set_int(json_t *o, const char *name, int64_t v)
{
    return v ? json_object_set_new(o, name, json_integer((json_int_t)v)) : 0;
}

int hc_token_mint(const hc_token_claims_t *c, const uint8_t *key, size_t keylen, char *out,
                  size_t cap)
{
    if (!c || !key || !out || keylen < HC_TOKEN_KEY_MIN || keylen > INT_MAX) return -HC_EINVAL;
    if (cap) out[0] = '\0';
    if (!claims_ok(c)) return -HC_EINVAL;

    json_t *o = json_object();
    if (!o) return -HC_ENOMEM;
    int bad = json_object_set_new(o, "role", json_string(hc_sig_role_name(c->role)));
    bad |= set_str(o, "session", c->session);
    bad |= set_str(o, "site", c->site);
    bad |= set_str(o, "sub", c->sub);
    bad |= set_int(o, "iat", c->iat);
    bad |= set_int(o, "nbf", c->nbf);
    bad |= json_object_set_new(o, "exp", json_integer((json_int_t)c->exp));
    bad |= set_str(o, "jti", c->jti);
    char payload[1024];
    size_t n = bad ? 0 : json_dumpb(o, payload, sizeof payload, JSON_COMPACT);
    json_decref(o);
    if (n == 0) return -HC_ENOMEM;
    if (n > sizeof payload) return -HC_EINTERNAL; /* claims are bounded well below */

    size_t hlen = strlen(HEADER_B64);
    size_t need = hlen + 1 + HC_B64URL_ENCLEN(n) + 1 + HC_B64URL_ENCLEN(MAC_LEN);
    if (need > HC_TOKEN_MAX) return -HC_EINTERNAL;
    if (cap < need + 1) return -HC_ENOSPC;

    memcpy(out, HEADER_B64, hlen);
    size_t pos = hlen;
    out[pos++] = '.';
    int w = hc_b64url_encode((const uint8_t *)payload, n, out + pos, cap - pos);
    if (w < 0) return w;
    pos += (size_t)w;
    /* RFC 7515 §5.1: the MAC covers ASCII(header "." payload). */
    uint8_t mac[MAC_LEN];
    int rc = hs256(key, keylen, out, pos, mac);
    if (rc) return rc;
    out[pos++] = '.';
    w = hc_b64url_encode(mac, MAC_LEN, out + pos, cap - pos);
    OPENSSL_cleanse(mac, sizeof mac);
    if (w < 0) return w;
    return (int)(pos + (size_t)w);
}

/* RFC 7515 §4.1: alg must be exactly "HS256" (case-sensitive); "typ", when
 * present, is "JWT" compared case-insensitively (RFC 7519 §5.1); a "crit"
 * header names extensions we do not implement, so it is refused (§4.1.11). */
static int check_header(const uint8_t *h, size_t n)
{
    json_t *o = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, NULL);
    int rc = -HC_ETOKEN;
    if (!json_is_object(o)) goto out;
    json_t *alg = json_object_get(o, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0) goto out;
    json_t *typ = json_object_get(o, "typ");
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0)) goto out;
    if (json_object_get(o, "crit")) goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static bool get_str(json_t *o, const char *name, char *dst, size_t cap, bool id)
{
    json_t *v = json_object_get(o, name);
    if (!v) return true;
    if (!json_is_string(v)) return false;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 || len >= cap) return false;
    if (id ? !hc_sig_id_valid(s, len) : !hc_sig_text_valid(s, len)) return false;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/* NumericDate (RFC 7519 §2) may be non-integer: round toward the safe side
 * (earlier exp, later nbf). */
static bool get_date(json_t *o, const char *name, int64_t *dst, bool ceil_it)
{
    json_t *v = json_object_get(o, name);
    if (!v) return true;
    if (json_is_integer(v)) {
        *dst = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_real(v)) return false;
    double d = json_real_value(v);
    if (!isfinite(d) || d < -9.2e18 || d > 9.2e18) return false;
    *dst = (int64_t)(ceil_it ? ceil(d) : floor(d));
    return true;
}

static int parse_claims(const uint8_t *p, size_t n, hc_token_claims_t *c)
{
    json_t *o = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    int rc = -HC_ETOKEN;
    if (!json_is_object(o)) goto out;
    json_t *role = json_object_get(o, "role");
    if (!json_is_string(role)) goto out;
    c->role = hc_sig_role_from_name(json_string_value(role));
    if (!get_str(o, "session", c->session, sizeof c->session, true) ||
        !get_str(o, "site", c->site, sizeof c->site, false) ||
        !get_str(o, "sub", c->sub, sizeof c->sub, false) ||
        !get_str(o, "jti", c->jti, sizeof c->jti, true))
        goto out;
    if (!json_object_get(o, "exp")) goto out;
    if (!get_date(o, "exp", &c->exp, false) || !get_date(o, "nbf", &c->nbf, true) ||
        !get_date(o, "iat", &c->iat, false))
        goto out;
    if (claims_ok(c)) rc = 0;
out:
    json_decref(o);
    return rc;
}

int hc_token_verify(const char *tok, size_t len, const uint8_t *key, size_t keylen, int64_t now_s,
                    int64_t leeway_s, hc_token_claims_t *out)
{
    if (!out) return -HC_EINVAL;
    memset(out, 0, sizeof *out);
    if ((!tok && len) || !key || keylen < HC_TOKEN_KEY_MIN || keylen > INT_MAX || leeway_s < 0)
        return -HC_EINVAL;
    if (len == 0 || len > HC_TOKEN_MAX) return -HC_ETOKEN;

    /* RFC 7515 §7.1 compact form: exactly three dot-separated segments. */
    const char *d1 = memchr(tok, '.', len);
    if (!d1) return -HC_ETOKEN;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
    if (!d2) return -HC_ETOKEN;
    const char *sig = d2 + 1;
    size_t slen = len - (size_t)(sig - tok);
    if (memchr(sig, '.', slen)) return -HC_ETOKEN;
    size_t hlen = (size_t)(d1 - tok), plen = (size_t)(d2 - d1 - 1);
    if (!hlen || !plen || !slen) return -HC_ETOKEN;

    uint8_t seg[HC_B64_DECLEN(HC_TOKEN_MAX)];
    int n = hc_b64url_decode(tok, hlen, seg, sizeof seg);
    if (n < 0) return -HC_ETOKEN;
    int rc = check_header(seg, (size_t)n);
    if (rc) return rc;

    uint8_t want[MAC_LEN], got[MAC_LEN];
    if (hc_b64url_decode(sig, slen, got, sizeof got) != MAC_LEN) return -HC_ETOKEN;
    if ((rc = hs256(key, keylen, tok, (size_t)(d2 - tok), want))) return rc;
    rc = CRYPTO_memcmp(want, got, MAC_LEN) ? -HC_ESIGNATURE : 0;
    OPENSSL_cleanse(want, sizeof want);
    if (rc) return rc;

    /* Claims are only read once the MAC says they are ours. */
    n = hc_b64url_decode(d1 + 1, plen, seg, sizeof seg);
    if (n < 0) return -HC_ETOKEN;
    hc_token_claims_t c;
    memset(&c, 0, sizeof c);
    if ((rc = parse_claims(seg, (size_t)n, &c))) return rc;

    /* RFC 7519 §4.1.4: reject on or after exp; §4.1.5: reject before nbf. */
    int64_t lim;
    if (__builtin_add_overflow(c.exp, leeway_s, &lim)) lim = INT64_MAX;
    if (now_s >= lim) return -HC_EEXPIRED;
    if (c.nbf) {
        int64_t t;
        if (__builtin_add_overflow(now_s, leeway_s, &t)) t = INT64_MAX;
        if (t < c.nbf) return -HC_ENOTYET;
    }
    *out = c;
    return 0;
}
