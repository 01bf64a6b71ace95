/*
 * cfgval.h - checking the values of configuration files and command lines,
 * shared by hc-relay's and hc-edge's config loaders (relay/config.c,
 * edge/config.c): numbers and booleans as an admin writes them, paths
 * relative to the file, and an error list that names every bad key and
 * value in one message instead of stopping at the first.
 *
 * Ownership: the caller's buffers; nothing allocates. Threading: none
 * kept; an hc_cfg_errs_t belongs to one load.
 */
#ifndef HC_PROTO_CFGVAL_H
#define HC_PROTO_CFGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Errors collected one per line into buf (may be NULL: only counted). */
typedef struct hc_cfg_errs {
    char *buf;
    size_t cap, len;
    int count;
} hc_cfg_errs_t;

/* Add one error line (truncated silently once buf is full). */
void hc_cfg_err(hc_cfg_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* v made safe for one message line: control bytes as \xNN, cut short with
 * "..." when it does not fit in cap. Returns buf. */
const char *hc_cfg_shown(const char *v, char *buf, size_t cap);

/* Decimal 0..UINT32_MAX, digits only. */
bool hc_cfg_u32(const char *v, uint32_t *out);
/* on/true/yes/1 and off/false/no/0. */
bool hc_cfg_bool(const char *v, bool *out);
/* No control bytes. */
bool hc_cfg_printable(const char *v);
/* v joined to dir unless absolute or empty (dir "" or "." leaves it);
 * false when it does not fit in cap. */
bool hc_cfg_path(const char *dir, const char *v, char *out, size_t cap);

#endif
