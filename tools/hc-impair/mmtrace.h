/*
 * mmtrace.h - Mahimahi packet-delivery traces for hc-impair.
 *
 * Format (as recorded by Saturator and replayed by Mahimahi's mm-link): one
 * decimal integer per line, a time in milliseconds from the start of the
 * trace at which one 1500-byte packet may cross the link. A time repeated on
 * several lines gives several opportunities in that millisecond. Times never
 * decrease. Replay loops: after the last line, the schedule starts again
 * shifted by the last line's time (the period), exactly as mm-link does, so
 * the last time must be greater than zero. Blank lines are ignored.
 *
 * Ownership: hc_mmtrace_load()/hc_mmtrace_parse() allocate (init time, never
 * per packet); hc_mmtrace_destroy() frees and sets the pointer to NULL.
 * Links borrow a trace; it must outlive every link that replays it.
 * Threading: a loaded trace is immutable and may be shared.
 */
#ifndef HC_IMPAIR_MMTRACE_H
#define HC_IMPAIR_MMTRACE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hc_mmtrace {
    uint32_t *ms;       /* opportunity times in ms, non-decreasing */
    size_t n;           /* number of opportunities per period */
    uint64_t period_ms; /* the last time: loop length */
} hc_mmtrace_t;

/* Parse trace text. On error returns -HC_EMALFORMED (or -HC_ENOMEM) and
 * writes "line N: ..." into err. */
int hc_mmtrace_parse(hc_mmtrace_t **out, const char *text, size_t len, char *err, size_t errlen);
/* Read and parse a file; errors name the file and line. -HC_EIO if unreadable. */
int hc_mmtrace_load(hc_mmtrace_t **out, const char *path, char *err, size_t errlen);
void hc_mmtrace_destroy(hc_mmtrace_t **t);

/* Mean capacity in bit/s when each opportunity carries 1500 * scale bytes. */
double hc_mmtrace_mean_bps(const hc_mmtrace_t *t, double scale);

/* Opportunities with a time in [from_ms, to_ms) counting loops: what a
 * saturated link replaying the trace from time 0 can deliver in that window. */
uint64_t hc_mmtrace_count(const hc_mmtrace_t *t, uint64_t from_ms, uint64_t to_ms);

#endif
