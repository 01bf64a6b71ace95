/*
 * cfgval.c - configuration value checks and error collection (cfgval.h).
 */
#include "proto/cfgval.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void hc_cfg_err(hc_cfg_errs_t *e, const char *fmt, ...)
{
    e->count++;
    if (!e->buf || e->len + 1 >= e->cap) return;
    if (e->len) e->buf[e->len++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->len, e->cap - e->len, fmt, ap);
    va_end(ap);
    if (n > 0) e->len = e->len + (size_t)n < e->cap ? e->len + (size_t)n : e->cap - 1;
    e->buf[e->len] = 0;
}

const char *hc_cfg_shown(const char *v, char *buf, size_t cap)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)v;
    for (; *p && o + 5 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", *p);
        else
            buf[o++] = (char)*p;
    }
    if (*p && o >= 3) memcpy(buf + o - 3, "...", 3);
    buf[o] = 0;
    return buf;
}

bool hc_cfg_u32(const char *v, uint32_t *out)
{
    if (!*v || strlen(v) > 10) return false;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (x > UINT32_MAX) return false;
    *out = (uint32_t)x;
    return true;
}

bool hc_cfg_bool(const char *v, bool *out)
{
    static const char *const t[] = {"on", "true", "yes", "1"};
    static const char *const f[] = {"off", "false", "no", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(v, t[i])) return *out = true, true;
        if (!strcmp(v, f[i])) return *out = false, true;
    }
    return false;
}

bool hc_cfg_printable(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return false;
    return true;
}

bool hc_cfg_path(const char *dir, const char *v, char *out, size_t cap)
{
    int n;
    if (v[0] == '/' || !v[0] || !dir[0] || !strcmp(dir, "."))
        n = snprintf(out, cap, "%s", v);
    else
        n = snprintf(out, cap, "%s/%s", dir, v);
    return n >= 0 && (size_t)n < cap;
}
