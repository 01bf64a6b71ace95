/*
 * log.h - the programs' log lines (hc-relay, hc-edge, tools): one key=value
 * line per event on stderr,
 *
 *     ts=2024-05-01T08:30:00.123Z level=info msg="relay started" workers=2 port=5004
 *
 * so journald, grep and log shippers (logfmt) read them alike. Levels
 * debug < info < warn < error; lines below the configured level cost one
 * comparison. hc_log_rl() rate-limits a repeated warning (a burst per
 * window, then one summary with the count suppressed) for conditions that
 * can repeat quickly, such as a flood of refused connections.
 *
 * Never used in the packet path (DESIGN.md): workers count drops and the
 * counters reach /metrics; only rare control-plane events are logged.
 * It lives in relay/core so both programs share one logger (hc-edge may
 * include relay/core but nothing else of relay/); relay/log.h adds the
 * libwebsockets bridge for hc-relay. proto/ never logs.
 *
 * Ownership: nothing is allocated; strings are copied into the line.
 * Threading: every function may be called from any thread; a line is
 * written with one write so lines from threads never interleave.
 */
#ifndef HC_CORE_LOG_H
#define HC_CORE_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum hc_log_level {
    HC_LOG_DEBUG = 0,
    HC_LOG_INFO,
    HC_LOG_WARN,
    HC_LOG_ERROR,
} hc_log_level_t;

void hc_log_set_level(hc_log_level_t level);
hc_log_level_t hc_log_get_level(void);
/* "debug", "info", "warn", "error" -> 0 and *out, or -HC_EINVAL. */
int hc_log_level_parse(const char *name, hc_log_level_t *out);
const char *hc_log_level_name(hc_log_level_t level);

/* Send lines to fd instead of stderr (tests); -1 restores stderr. */
void hc_log_set_fd(int fd);

/* Log msg (quoted and escaped here) followed by the caller's key=value
 * text made from kvfmt (printf format; may be NULL). Values that can hold
 * spaces or quotes should go through hc_log_q(). */
void hc_log(hc_log_level_t level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

#define hc_log_debug(...) hc_log(HC_LOG_DEBUG, __VA_ARGS__)
#define hc_log_info(...)  hc_log(HC_LOG_INFO, __VA_ARGS__)
#define hc_log_warn(...)  hc_log(HC_LOG_WARN, __VA_ARGS__)
#define hc_log_error(...) hc_log(HC_LOG_ERROR, __VA_ARGS__)

/* s as a logfmt value: bare when it is a plain token, otherwise in double
 * quotes with \" \\ \n \t escaped and control bytes as \xNN. Writes into buf
 * (truncating) and returns buf. */
const char *hc_log_q(char *buf, size_t cap, const char *s);

/* A rate limiter for one kind of repeated line: at most `burst` lines per
 * `window_ms`; the first line after a window with suppressed lines carries
 * suppressed=N. Initialize with HC_LOG_LIMIT(burst, window_ms). */
typedef struct hc_log_limit {
    pthread_mutex_t mu;
    uint32_t burst, window_ms;
    uint64_t window_start_us;
    uint32_t in_window;
    uint64_t suppressed;
} hc_log_limit_t;

#define HC_LOG_LIMIT(burst_, window_ms_)                                                           \
    {                                                                                              \
        .mu = PTHREAD_MUTEX_INITIALIZER, .burst = (burst_), .window_ms = (window_ms_)              \
    }

/* hc_log() through limiter l. Returns true when the line was written. */
bool hc_log_rl(hc_log_limit_t *l, hc_log_level_t level, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
