/*
 * script.h - timed steps for hc-impair (--script FILE, --step LINE).
 *
 * One step per line, times from the start of the run:
 *   at <time> <up|down|both> <spec...>      change a direction (spec.h)
 *   at <time> <up|down|both> outage <dur>   link down for <dur>
 *   at <time> rebind                        new upstream socket per client
 *   at <time> end                           exit
 * <time> is a number with s, ms or us (at 20s, at 1500ms, at 2.5s).
 * '#' starts a comment; blank lines are ignored. Steps with the same time run
 * in the order written. Errors say the line number and what was wrong.
 *
 * Ownership: a script owns its steps and every trace their specs loaded;
 * hc_imp_script_fini() frees them. Threading: none.
 */
#ifndef HC_IMPAIR_SCRIPT_H
#define HC_IMPAIR_SCRIPT_H

#include "tools/hc-impair/spec.h"

#include <stddef.h>
#include <stdint.h>

typedef enum hc_imp_step_kind {
    HC_IMP_STEP_SPEC,
    HC_IMP_STEP_REBIND,
    HC_IMP_STEP_END,
} hc_imp_step_kind_t;

enum { HC_IMP_DIR_UP = 1, HC_IMP_DIR_DOWN = 2, HC_IMP_DIR_BOTH = 3 };

typedef struct hc_imp_step {
    uint64_t at_us;
    hc_imp_step_kind_t kind;
    unsigned dirs; /* HC_IMP_DIR_* for HC_IMP_STEP_SPEC */
    hc_imp_spec_t spec;
    int line; /* line number in its file, or 0 */
} hc_imp_step_t;

typedef struct hc_imp_script {
    hc_imp_step_t *steps; /* sorted by at_us (stable) after hc_imp_script_sort() */
    size_t n, cap;
} hc_imp_script_t;

/* Parse one line. Returns 1 with *out filled, 0 for a blank or comment line,
 * or a negative code (-HC_ECONFIG, -HC_EIO for an unreadable trace) with the
 * reason in err (without the line number: the caller knows it). */
int hc_imp_script_parse_line(const char *line, hc_imp_step_t *out, char *err, size_t errlen);

void hc_imp_script_init(hc_imp_script_t *s);
void hc_imp_script_fini(hc_imp_script_t *s);
/* Append a parsed step (takes ownership of its spec). 0 or -HC_ENOMEM. */
int hc_imp_script_add(hc_imp_script_t *s, const hc_imp_step_t *step);
/* Parse line `lineno` of `where` and append it; errors read "where:N: ...". */
int hc_imp_script_add_line(hc_imp_script_t *s, const char *line, const char *where, int lineno,
                           char *err, size_t errlen);
/* Read a whole file; stops at the first bad line. */
int hc_imp_script_load(hc_imp_script_t *s, const char *path, char *err, size_t errlen);
/* Order steps by time, keeping the written order for equal times. */
void hc_imp_script_sort(hc_imp_script_t *s);

#endif
