/*
 * log.h - hc-relay's log lines. The logger itself (key=value lines, levels,
 * quoting, rate limits) is relay/core/log.h, shared with hc-edge; this
 * header adds what only the relay needs: libwebsockets' own log lines
 * routed into it.
 *
 * Threading: as relay/core/log.h; call hc_log_lws_bridge() at start-up.
 */
#ifndef HC_RELAY_LOG_H
#define HC_RELAY_LOG_H

#include "relay/core/log.h"

/* Route libwebsockets' own log lines into this log (its errors and
 * warnings as warn/error lines with msg="lws"), at the current level. */
void hc_log_lws_bridge(void);

#endif
