/*
 * log.c - libwebsockets' log lines into hc-relay's log (log.h); the
 * logger is relay/core/log.c.
 */
#include "relay/log.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

static void lws_emit(int level, const char *line)
{
    char q[600];
    char text[512];
    snprintf(text, sizeof text, "%s", line);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) text[--n] = 0;
    hc_log(level & LLL_ERR ? HC_LOG_ERROR : HC_LOG_WARN, "lws", "text=%s",
           hc_log_q(q, sizeof q, text));
}

void hc_log_lws_bridge(void)
{
    int lv = LLL_ERR;
    if (hc_log_get_level() <= HC_LOG_WARN) lv |= LLL_WARN;
    lws_set_log_level(lv, lws_emit);
}
