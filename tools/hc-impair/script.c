#include "tools/hc-impair/script.h"

#include "proto/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096

/* Next word of s starting at *pos; returns its length (0 at the end). */
static size_t word(const char *s, size_t *pos, const char **w)
{
    size_t p = *pos;
    while (s[p] == ' ' || s[p] == '\t') p++;
    *w = s + p;
    size_t b = p;
    while (s[p] && s[p] != ' ' && s[p] != '\t') p++;
    *pos = p;
    return p - b;
}

static int is_word(const char *w, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(w, lit, n) == 0;
}

int hc_imp_script_parse_line(const char *line, hc_imp_step_t *out, char *err, size_t errlen)
{
    if (!line || !out) return -HC_EINVAL;
    char buf[LINE_MAX_LEN];
    size_t len = strcspn(line, "#\r\n");
    if (len >= sizeof buf) {
        snprintf(err, errlen, "line longer than %d characters", LINE_MAX_LEN - 1);
        return -HC_ECONFIG;
    }
    memcpy(buf, line, len);
    buf[len] = 0;
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    const char *w;
    size_t n = word(buf, &pos, &w);
    if (n == 0) return 0;
    if (!is_word(w, n, "at")) {
        snprintf(err, errlen, "expected 'at <time> ...', got '%.*s'", (int)n, w);
        return -HC_ECONFIG;
    }
    n = word(buf, &pos, &w);
    if (n == 0) {
        snprintf(err, errlen, "missing time after 'at'");
        return -HC_ECONFIG;
    }
    if (hc_imp_parse_time(w, n, &out->at_us) < 0) {
        snprintf(err, errlen, "bad time '%.*s' (use a number with s, ms or us, e.g. 20s)", (int)n,
                 w);
        return -HC_ECONFIG;
    }
    n = word(buf, &pos, &w);
    if (n == 0) {
        snprintf(err, errlen, "missing action after the time (up, down, both, rebind or end)");
        return -HC_ECONFIG;
    }
    if (is_word(w, n, "rebind") || is_word(w, n, "end")) {
        out->kind = is_word(w, n, "end") ? HC_IMP_STEP_END : HC_IMP_STEP_REBIND;
        const char *what = w;
        size_t wn = n;
        n = word(buf, &pos, &w);
        if (n) {
            snprintf(err, errlen, "'%.*s' takes no arguments, got '%.*s'", (int)wn, what, (int)n,
                     w);
            return -HC_ECONFIG;
        }
        return 1;
    }
    if (is_word(w, n, "up"))
        out->dirs = HC_IMP_DIR_UP;
    else if (is_word(w, n, "down"))
        out->dirs = HC_IMP_DIR_DOWN;
    else if (is_word(w, n, "both"))
        out->dirs = HC_IMP_DIR_BOTH;
    else {
        snprintf(err, errlen, "unknown action '%.*s' (use up, down, both, rebind or end)", (int)n,
                 w);
        return -HC_ECONFIG;
    }
    out->kind = HC_IMP_STEP_SPEC;
    size_t rest = pos;
    n = word(buf, &pos, &w);
    if (n == 0) {
        snprintf(err, errlen, "missing spec after the direction (e.g. rate=600kbit)");
        return -HC_ECONFIG;
    }
    if (is_word(w, n, "outage")) {
        n = word(buf, &pos, &w);
        if (n == 0) {
            snprintf(err, errlen, "'outage' needs a duration, e.g. outage 3s");
            return -HC_ECONFIG;
        }
        if (hc_imp_parse_time(w, n, &out->spec.outage_us) < 0 || out->spec.outage_us == 0) {
            snprintf(err, errlen, "bad outage duration '%.*s' (use e.g. 3s or 500ms)", (int)n, w);
            return -HC_ECONFIG;
        }
        const char *extra;
        size_t en = word(buf, &pos, &extra);
        if (en) {
            snprintf(err, errlen, "unexpected '%.*s' after the outage duration", (int)en, extra);
            return -HC_ECONFIG;
        }
        out->spec.set = HC_IMP_SET_OUTAGE;
        out->spec.scale = 1.0;
        return 1;
    }
    int rc = hc_imp_spec_parse(&out->spec, buf + rest, err, errlen);
    return rc < 0 ? rc : 1;
}

void hc_imp_script_init(hc_imp_script_t *s)
{
    memset(s, 0, sizeof *s);
}

void hc_imp_script_fini(hc_imp_script_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) hc_imp_spec_fini(&s->steps[i].spec);
    free(s->steps);
    memset(s, 0, sizeof *s);
}

int hc_imp_script_add(hc_imp_script_t *s, const hc_imp_step_t *step)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        hc_imp_step_t *ns = realloc(s->steps, ncap * sizeof *ns);
        if (!ns) return -HC_ENOMEM;
        s->steps = ns;
        s->cap = ncap;
    }
    s->steps[s->n++] = *step;
    return 0;
}

int hc_imp_script_add_line(hc_imp_script_t *s, const char *line, const char *where, int lineno,
                           char *err, size_t errlen)
{
    hc_imp_step_t st;
    char why[512];
    int rc = hc_imp_script_parse_line(line, &st, why, sizeof why);
    if (rc < 0) {
        if (lineno > 0)
            snprintf(err, errlen, "%s:%d: %s", where, lineno, why);
        else
            snprintf(err, errlen, "%s: %s", where, why);
        return rc;
    }
    if (rc == 0) return 0;
    st.line = lineno;
    if (hc_imp_script_add(s, &st) < 0) {
        hc_imp_spec_fini(&st.spec);
        snprintf(err, errlen, "%s: out of memory", where);
        return -HC_ENOMEM;
    }
    return 0;
}

int hc_imp_script_load(hc_imp_script_t *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open script '%s': %s", path, strerror(errno));
        return -HC_EIO;
    }
    char line[LINE_MAX_LEN + 2];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d characters", path, lineno,
                     LINE_MAX_LEN - 1);
            rc = -HC_ECONFIG;
            break;
        }
        rc = hc_imp_script_add_line(s, line, path, lineno, err, errlen);
        if (rc < 0) break;
    }
    fclose(f);
    return rc;
}

void hc_imp_script_sort(hc_imp_script_t *s)
{
    /* insertion sort: stable, and scripts are short */
    for (size_t i = 1; i < s->n; i++) {
        hc_imp_step_t t = s->steps[i];
        size_t j = i;
        while (j > 0 && s->steps[j - 1].at_us > t.at_us) {
            s->steps[j] = s->steps[j - 1];
            j--;
        }
        s->steps[j] = t;
    }
}
