/*
 * b64.c - strict base64 and base64url (RFC 4648 §4, §5).
 */
#include "proto/b64.h"

#include "proto/err.h"

#include <stdbool.h>

#define B64_LEN_LIMIT ((size_t)1 << 30)

static const char std_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int encode(const uint8_t *in, size_t len, char *out, size_t cap, const char *alpha, bool pad)
{
    if ((!in && len) || !out || len > B64_LEN_LIMIT) return -HC_EINVAL;
    size_t need = pad ? HC_B64_ENCLEN(len) : HC_B64URL_ENCLEN(len);
    if (cap < need + 1) return -HC_ENOSPC;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = alpha[(v >> 18) & 63];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    size_t rest = len - i;
    if (rest) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (rest == 2) v |= (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[(v >> 18) & 63];
        out[o++] = alpha[(v >> 12) & 63];
        if (rest == 2) out[o++] = alpha[(v >> 6) & 63];
        if (pad) {
            if (rest == 1) out[o++] = '=';
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return (int)o;
}

int hc_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return encode(in, len, out, cap, std_alpha, true);
}

int hc_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    return encode(in, len, out, cap, url_alpha, false);
}

/* Value of one character in the chosen alphabet, or -1. */
static int sextet(char c, bool url)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

static int decode(const char *in, size_t len, uint8_t *out, size_t cap, bool url)
{
    if ((!in && len) || (!out && cap) || len > B64_LEN_LIMIT) return -HC_EINVAL;
    size_t data = len;
    if (!url) {
        /* RFC 4648 §4: the encoding is always a multiple of 4 characters,
         * with at most two '=' at the very end. */
        if (len % 4) return -HC_EMALFORMED;
        if (data && in[data - 1] == '=') data--;
        if (data && in[data - 1] == '=') data--;
        size_t pads = len - data;
        if (pads && data % 4 + pads != 4) return -HC_EMALFORMED;
    }
    /* A single leftover character carries only 6 bits: never a whole byte. */
    if (data % 4 == 1) return -HC_EMALFORMED;
    size_t need = HC_B64_DECLEN(data);
    if (need > cap) return -HC_ENOSPC;

    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < data; i++) {
        int v = sextet(in[i], url);
        if (v < 0) return -HC_EMALFORMED;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* RFC 4648 §3.5: the pad bits of the last character must be zero,
     * otherwise two encodings would decode to the same bytes. */
    if (acc != 0) return -HC_EMALFORMED;
    return (int)o;
}

int hc_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    return decode(in, len, out, cap, false);
}

int hc_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    return decode(in, len, out, cap, true);
}
