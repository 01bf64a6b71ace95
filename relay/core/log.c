/*
 * log.c - key=value log lines (log.h).
 */
#include "relay/core/log.h"

#include "proto/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048

static atomic_int g_level = HC_LOG_INFO;
static atomic_int g_fd = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void hc_log_set_level(hc_log_level_t level)
{
    if (level >= HC_LOG_DEBUG && level <= HC_LOG_ERROR) atomic_store(&g_level, (int)level);
}

hc_log_level_t hc_log_get_level(void)
{
    return (hc_log_level_t)atomic_load(&g_level);
}

int hc_log_level_parse(const char *name, hc_log_level_t *out)
{
    for (int i = 0; name && i < 4; i++) {
        if (!strcmp(name, level_names[i])) {
            *out = (hc_log_level_t)i;
            return 0;
        }
    }
    return -HC_EINVAL;
}

const char *hc_log_level_name(hc_log_level_t level)
{
    return level >= HC_LOG_DEBUG && level <= HC_LOG_ERROR ? level_names[level] : "?";
}

void hc_log_set_fd(int fd)
{
    atomic_store(&g_fd, fd);
}

static bool plain_token(const char *s)
{
    if (!*s) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f) return false;
    return true;
}

const char *hc_log_q(char *buf, size_t cap, const char *s)
{
    if (!cap) return buf;
    if (!s) s = "";
    if (plain_token(s)) {
        snprintf(buf, cap, "%s", s);
        return buf;
    }
    size_t o = 0;
    /* Leave room for the closing quote and the NUL. */
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 2 < cap) buf[o++] = (c);                                                           \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 2 < cap; p++) {
        switch (*p) {
        case '"':
            PUT('\\');
            PUT('"');
            break;
        case '\\':
            PUT('\\');
            PUT('\\');
            break;
        case '\n':
            PUT('\\');
            PUT('n');
            break;
        case '\t':
            PUT('\\');
            PUT('t');
            break;
        case '\r':
            PUT('\\');
            PUT('r');
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                if (o + 6 < cap) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", *p);
            } else {
                PUT((char)*p); /* UTF-8 passes through */
            }
        }
    }
#undef PUT
    buf[o++] = '"';
    buf[o] = 0;
    return buf;
}

static void vlog(hc_log_level_t level, const char *msg, const char *suffix, const char *kvfmt,
                 va_list ap)
{
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char q[512];
    int n = snprintf(line, sizeof line,
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, level_names[level]);
    /* msg is always quoted, so lines read the same whatever it holds. */
    hc_log_q(q, sizeof q, msg ? msg : "");
    if (q[0] != '"')
        n += snprintf(line + n, sizeof line - (size_t)n, "\"%s\"", q);
    else
        n += snprintf(line + n, sizeof line - (size_t)n, "%s", q);
    if (kvfmt && *kvfmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        n += vsnprintf(line + n, sizeof line - (size_t)n, kvfmt, ap);
    }
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    if (suffix && (size_t)n < sizeof line - 2)
        n += snprintf(line + n, sizeof line - (size_t)n, "%s", suffix);
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    /* Control characters a caller's value smuggled in would split the line. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[n++] = '\n';
    int fd = atomic_load(&g_fd);
    ssize_t w = write(fd >= 0 ? fd : STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void hc_log(hc_log_level_t level, const char *msg, const char *kvfmt, ...)
{
    if ((int)level < atomic_load(&g_level) || level > HC_LOG_ERROR) return;
    va_list ap;
    va_start(ap, kvfmt);
    vlog(level, msg, NULL, kvfmt, ap);
    va_end(ap);
}

bool hc_log_rl(hc_log_limit_t *l, hc_log_level_t level, const char *msg, const char *kvfmt, ...)
{
    if ((int)level < atomic_load(&g_level) || level > HC_LOG_ERROR) return false;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    uint64_t suppressed = 0;
    pthread_mutex_lock(&l->mu);
    if (!l->window_start_us || now - l->window_start_us >= (uint64_t)l->window_ms * 1000u) {
        l->window_start_us = now;
        l->in_window = 0;
    }
    bool ok = l->in_window < l->burst;
    if (ok) {
        l->in_window++;
        suppressed = l->suppressed;
        l->suppressed = 0;
    } else {
        l->suppressed++;
    }
    pthread_mutex_unlock(&l->mu);
    if (!ok) return false;
    char suffix[48] = "";
    if (suppressed)
        snprintf(suffix, sizeof suffix, " suppressed=%llu", (unsigned long long)suppressed);
    va_list ap;
    va_start(ap, kvfmt);
    vlog(level, msg, suppressed ? suffix : NULL, kvfmt, ap);
    va_end(ap);
    return true;
}
