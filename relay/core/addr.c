/* addr.c - numeric IPv4/IPv6 socket addresses; see addr.h. */
#include "relay/core/addr.h"

#include "proto/err.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Port text: 1-5 decimal digits, value <= 65535, nothing after. */
static int parse_port(const char *s, uint16_t *port)
{
    unsigned v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 5) return -HC_EINVAL;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > 65535) return -HC_EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int hc_addr_parse(const char *text, hc_addr_t *out)
{
    char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    const char *port_text;
    uint16_t port;

    if (!text || !out) return -HC_EINVAL;
    memset(out, 0, sizeof(*out));

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':') return -HC_EINVAL;
        size_t hlen = (size_t)(close - text - 1);
        if (hlen == 0 || hlen >= sizeof(host)) return -HC_EINVAL;
        memcpy(host, text + 1, hlen);
        host[hlen] = '\0';
        port_text = close + 2;
        if (parse_port(port_text, &port) < 0) return -HC_EINVAL;

        uint32_t scope = 0;
        char *pct = strchr(host, '%');
        if (pct) {
            *pct++ = '\0';
            if (!*pct) return -HC_EINVAL;
            char *end;
            unsigned long idx = strtoul(pct, &end, 10);
            if (*end == '\0' && idx <= UINT32_MAX && pct[0] >= '0' && pct[0] <= '9')
                scope = (uint32_t)idx;
            else if (!(scope = if_nametoindex(pct)))
                return -HC_EINVAL;
        }
        if (inet_pton(AF_INET6, host, &out->u.in6.sin6_addr) != 1) return -HC_EINVAL;
        out->u.in6.sin6_family = AF_INET6;
        out->u.in6.sin6_port = htons(port);
        out->u.in6.sin6_scope_id = scope;
        out->len = sizeof(struct sockaddr_in6);
        return 0;
    }

    const char *colon = strrchr(text, ':');
    if (!colon) return -HC_EINVAL;
    size_t hlen = (size_t)(colon - text);
    if (hlen == 0 || hlen >= sizeof(host)) return -HC_EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (parse_port(colon + 1, &port) < 0) return -HC_EINVAL;
    /* inet_pton(AF_INET) accepts only dotted quads, so a bare v6 address
     * with a trailing ":port" (ambiguous) is rejected here. */
    if (inet_pton(AF_INET, host, &out->u.in4.sin_addr) != 1) return -HC_EINVAL;
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons(port);
    out->len = sizeof(struct sockaddr_in);
    return 0;
}

int hc_addr_format(const hc_addr_t *a, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (!a || !buf) return -HC_EINVAL;
    switch (hc_addr_family(a)) {
    case AF_INET:
        if (!inet_ntop(AF_INET, &a->u.in4.sin_addr, host, sizeof(host))) return -HC_EINVAL;
        n = snprintf(buf, cap, "%s:%u", host, (unsigned)ntohs(a->u.in4.sin_port));
        break;
    case AF_INET6:
        if (!inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof(host))) return -HC_EINVAL;
        if (a->u.in6.sin6_scope_id)
            n = snprintf(buf, cap, "[%s%%%u]:%u", host, (unsigned)a->u.in6.sin6_scope_id,
                         (unsigned)ntohs(a->u.in6.sin6_port));
        else
            n = snprintf(buf, cap, "[%s]:%u", host, (unsigned)ntohs(a->u.in6.sin6_port));
        break;
    default: return -HC_EINVAL;
    }
    if (n < 0) return -HC_EINVAL;
    if ((size_t)n >= cap) {
        if (cap) buf[0] = '\0';
        return -HC_ENOSPC;
    }
    return n;
}

int hc_addr_from_sockaddr(hc_addr_t *out, const struct sockaddr *sa, socklen_t len)
{
    if (!out || !sa) return -HC_EINVAL;
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memcpy(&out->u.in4, sa, sizeof(struct sockaddr_in));
        out->len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(&out->u.in6, sa, sizeof(struct sockaddr_in6));
        out->len = sizeof(struct sockaddr_in6);
        return 0;
    }
    return -HC_EINVAL;
}

bool hc_addr_eq(const hc_addr_t *a, const hc_addr_t *b)
{
    int fa = hc_addr_family(a);
    if (fa != hc_addr_family(b)) return false;
    switch (fa) {
    case AF_INET:
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    case AF_INET6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0;
    default: return true;
    }
}

/* 32-bit multiply-xorshift mixing (the murmur3 finalizer) per word: cheap
 * enough for a per-packet lookup and spreads nearby addresses and ports. */
static inline uint32_t mix(uint32_t h, uint32_t w)
{
    h ^= w * 0xcc9e2d51u;
    h = (h << 15) | (h >> 17);
    h *= 0x1b873593u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

uint32_t hc_addr_hash(const hc_addr_t *a, uint32_t seed)
{
    uint32_t h = seed ^ 0x9e3779b9u;
    uint32_t w;
    switch (hc_addr_family(a)) {
    case AF_INET:
        memcpy(&w, &a->u.in4.sin_addr, 4);
        h = mix(h, w);
        h = mix(h, (uint32_t)a->u.in4.sin_port << 8 | 4u);
        break;
    case AF_INET6:
        for (int i = 0; i < 4; i++) {
            memcpy(&w, (const uint8_t *)&a->u.in6.sin6_addr + 4 * i, 4);
            h = mix(h, w);
        }
        h = mix(h, a->u.in6.sin6_scope_id);
        h = mix(h, (uint32_t)a->u.in6.sin6_port << 8 | 6u);
        break;
    default: break;
    }
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

uint16_t hc_addr_port(const hc_addr_t *a)
{
    switch (hc_addr_family(a)) {
    case AF_INET: return ntohs(a->u.in4.sin_port);
    case AF_INET6: return ntohs(a->u.in6.sin6_port);
    default: return 0;
    }
}

void hc_addr_set_port(hc_addr_t *a, uint16_t port)
{
    switch (hc_addr_family(a)) {
    case AF_INET: a->u.in4.sin_port = htons(port); break;
    case AF_INET6: a->u.in6.sin6_port = htons(port); break;
    default: break;
    }
}
