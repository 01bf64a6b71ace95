/*
 * clock.h - the only two clock reads of relay/core.
 *
 * Everything else in relay/core (and all of proto/) takes time as a
 * parameter in microseconds, so tests can drive it with simulated time.
 * hc_now_us() is monotonic (never jumps with NTP or the operator), for
 * timers, RTT and rate measurement; hc_wall_us() is the calendar clock, for
 * RTCP NTP timestamps (RFC 3550 section 4), logs and recordings only.
 *
 * Threading: both are thread-safe and cheap (vDSO, no syscall).
 */
#ifndef HC_CORE_CLOCK_H
#define HC_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC (arbitrary origin, never goes back). */
static inline uint64_t hc_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Microseconds since the Unix epoch on CLOCK_REALTIME (may jump). */
static inline uint64_t hc_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
