/*
 * sig.c - parser, validator and writer driven by the tables in sig.h.
 *
 * The X-macro tables expand here into one hc_sig_field_t array per struct;
 * parse, validate, write, init, fini and the length bound all walk those
 * arrays, so a field exists in exactly one place. Rules that tie fields
 * together (codec must match kind, key size must match suite, ...) are in
 * check_cross().
 */
#include "proto/sig.h"

#include "proto/b64.h"
#include "proto/err.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum fields are read and written as int through the tables. */
#define ENUM_SIZE_CHECK(tag, P)                                                                    \
    _Static_assert(sizeof(hc_sig_##tag##_t) == sizeof(int), "enum " #tag " is not int-sized");
HC_SIG_ENUMS(ENUM_SIZE_CHECK)

/* ---- enumerations ---- */

#define ENAME(P, N, s) [HC_SIG_##P##_##N] = s,
#define ENAMES(tag, P)                                                                             \
    static const char *const names_##tag[HC_SIG_##P##_COUNT] = {HC_SIG_ENUM_##tag(ENAME, P)};
HC_SIG_ENUMS(ENAMES)

#define EFUNCS(tag, P)                                                                             \
    const char *hc_sig_##tag##_name(hc_sig_##tag##_t v)                                            \
    {                                                                                              \
        return (unsigned)v > 0 && (unsigned)v < HC_SIG_##P##_COUNT ? names_##tag[v] : NULL;        \
    }                                                                                              \
    hc_sig_##tag##_t hc_sig_##tag##_from_name(const char *s)                                       \
    {                                                                                              \
        if (s)                                                                                     \
            for (int i = 1; i < HC_SIG_##P##_COUNT; i++)                                           \
                if (!strcmp(s, names_##tag[i])) return (hc_sig_##tag##_t)i;                        \
        return HC_SIG_##P##_NONE;                                                                  \
    }
HC_SIG_ENUMS(EFUNCS)

/* ---- schema tables ---- */

#define REQ_REQ true
#define REQ_OPT false
#define HAS_REQ(T, n)
#define HAS_OPT(T, n) .has_flag = true, .has_off = offsetof(T, has_##n),
#define XF_ID(T, n, p, a)
#define XF_TEXT(T, n, p, a)
#define XF_HOST(T, n, p, a)
#define XF_B64(T, n, p, a)
#define XF_NULLID(T, n, p, a)
#define XF_ERRCODE(T, n, p, a)
#define XF_OBJ(T, n, p, a)
#define XF_U32(T, n, p, a)  HAS_##p(T, n)
#define XF_U32Z(T, n, p, a) HAS_##p(T, n)
#define XF_I64(T, n, p, a)  HAS_##p(T, n)
#define XF_F64(T, n, p, a)  HAS_##p(T, n)
#define XF_BOOL(T, n, p, a) HAS_##p(T, n)
#define XF_ENUM(T, n, p, a)                                                                        \
    .names = names_##a, .n_names = sizeof(names_##a) / sizeof(names_##a[0]), HAS_##p(T, n)
#define XF_ARR(T, n, p, a)    .item = &schema_##a, .count_off = offsetof(T, n_##n),
#define XF_STRUCT(T, n, p, a) .item = &schema_##a,

#define FIELD(T, n, kind, p, mn, mx, a, d)                                                         \
    {.name = #n,                                                                                   \
     .ftype = HC_SIG_FT_##kind,                                                                    \
     .required = REQ_##p,                                                                          \
     .off = offsetof(T, n),                                                                        \
     .size = sizeof(((T *)0)->n),                                                                  \
     .min = (int64_t)(mn),                                                                         \
     .max = (int64_t)(mx),                                                                         \
     .fmin = (double)(mn),                                                                         \
     .fmax = (double)(mx),                                                                         \
     .def = (double)(d),                                                                           \
     XF_##kind(T, n, p, a)},

#define SCHEMA(tag)                                                                                \
    static const hc_sig_field_t fields_##tag[] = {HC_SIG_F_##tag(FIELD, hc_sig_##tag##_t)};        \
    static const hc_sig_schema_t schema_##tag = {#tag, fields_##tag,                               \
                                                 sizeof(fields_##tag) / sizeof(fields_##tag[0]),   \
                                                 sizeof(hc_sig_##tag##_t)};
#define MSCHEMA(NAME, tag, dir, roles) SCHEMA(tag)

HC_SIG_ITEMS(SCHEMA)
HC_SIG_MESSAGES(MSCHEMA)

static const struct {
    const char *name;
    hc_sig_dir_t dir;
    unsigned roles;
    const hc_sig_schema_t *schema;
} types[HC_SIG_TYPE_COUNT] = {
#define TYPE(NAME, tag, dir, roles) [HC_SIG_##NAME] = {#tag, HC_SIG_##dir, roles, &schema_##tag},
    HC_SIG_MESSAGES(TYPE)
#undef TYPE
};

static bool type_ok(hc_sig_type_t t)
{
    return (unsigned)t > 0 && (unsigned)t < HC_SIG_TYPE_COUNT;
}

/* All union members start at the same address. */
static char *body(hc_sig_msg_t *m)
{
    return (char *)m + offsetof(hc_sig_msg_t, hello);
}
static const char *cbody(const hc_sig_msg_t *m)
{
    return (const char *)m + offsetof(hc_sig_msg_t, hello);
}

const char *hc_sig_type_name(hc_sig_type_t t)
{
    return type_ok(t) ? types[t].name : NULL;
}

hc_sig_type_t hc_sig_type_from_name(const char *name)
{
    if (name)
        for (int t = 1; t < HC_SIG_TYPE_COUNT; t++)
            if (!strcmp(name, types[t].name)) return (hc_sig_type_t)t;
    return HC_SIG_NONE;
}

hc_sig_dir_t hc_sig_type_dir(hc_sig_type_t t)
{
    return type_ok(t) ? types[t].dir : 0;
}

bool hc_sig_role_may_send(hc_sig_role_t role, hc_sig_type_t t)
{
    if (!type_ok(t) || (unsigned)role == 0 || (unsigned)role >= HC_SIG_ROLE_COUNT) return false;
    return (types[t].roles >> role) & 1u;
}

const hc_sig_schema_t *hc_sig_schema(hc_sig_type_t t)
{
    return type_ok(t) ? types[t].schema : NULL;
}

/* ---- error context: err text and the path of the field being looked at ---- */

typedef struct ctx {
    char *err;
    size_t errcap;
    char path[192];
    size_t plen;
} ctx_t;

static void ctx_init(ctx_t *c, char *err, size_t errcap, const char *root)
{
    c->err = errcap ? err : NULL;
    c->errcap = errcap;
    if (c->err) c->err[0] = '\0';
    snprintf(c->path, sizeof c->path, "%s", root);
    c->plen = strlen(c->path);
}

__attribute__((format(printf, 2, 3))) static size_t push(ctx_t *c, const char *fmt, ...)
{
    size_t old = c->plen;
    if (old < sizeof c->path - 1) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->path + old, sizeof c->path - old, fmt, ap);
        va_end(ap);
        c->plen = strlen(c->path);
    }
    return old;
}

static void pop(ctx_t *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

__attribute__((format(printf, 3, 4))) static int fail_code(ctx_t *c, int code, const char *fmt, ...)
{
    if (c->err) {
        int n = snprintf(c->err, c->errcap, "%s: ", c->path);
        if (n >= 0 && (size_t)n < c->errcap) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}
#define fail(c, ...) fail_code((c), -HC_ESCHEMA, __VA_ARGS__)

/* Copy at most 32 bytes of untrusted text for an error message, keeping
 * printable ASCII only so err stays one clean line. */
static const char *clean(const char *s, size_t len, char out[40])
{
    size_t n = 0;
    for (; n < len && n < 32; n++) {
        unsigned char ch = (unsigned char)s[n];
        out[n] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    if (n < len) out[n++] = '~';
    out[n] = '\0';
    return out;
}

/* ---- scalar checks shared by parse and validate ---- */

static bool id_char(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

static bool host_char(unsigned char ch)
{
    return id_char(ch) || ch == ':' || ch == '[' || ch == ']';
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80) return 1;
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf)
        k = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        k = 3;
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        k = 4;
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return k;
}

/* C0, DEL and C1 (U+0080..U+009F, encoded C2 80..C2 9F) control characters. */
static bool is_control(const unsigned char *s, size_t k)
{
    return (k == 1 && (s[0] < 0x20 || s[0] == 0x7f)) || (k == 2 && s[0] == 0xc2 && s[1] < 0xa0);
}

bool hc_sig_id_valid(const char *s, size_t len)
{
    if (!s && len) return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char((unsigned char)s[i])) return false;
    return true;
}

bool hc_sig_text_valid(const char *s, size_t len)
{
    if (!s && len) return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t k = utf8_len(u + i, len - i);
        if (!k || is_control(u + i, k)) return false;
        i += k;
    }
    return true;
}

static int check_str(ctx_t *c, const hc_sig_field_t *f, const char *s, size_t len)
{
    if (f->ftype == HC_SIG_FT_B64) {
        uint8_t tmp[HC_SIG_KEY_MAX];
        if (len == 0) return fail(c, "empty");
        if (len > (size_t)HC_B64_ENCLEN(f->max))
            return fail(c, "longer than %zu characters", (size_t)HC_B64_ENCLEN(f->max));
        int n = hc_b64_decode(s, len, tmp, sizeof tmp);
        if (n < 0) return fail(c, "not canonical base64 (RFC 4648 section 4)");
        if (n < f->min || n > f->max)
            return fail(c, "decodes to %d bytes, expected %" PRId64 "..%" PRId64, n, f->min,
                        f->max);
        return 0;
    }
    if (len > (size_t)f->max) return fail(c, "longer than %" PRId64 " bytes", f->max);
    if (len < (size_t)f->min)
        return len ? fail(c, "shorter than %" PRId64 " bytes", f->min) : fail(c, "empty");
    const unsigned char *u = (const unsigned char *)s;
    switch (f->ftype) {
    case HC_SIG_FT_ID:
    case HC_SIG_FT_NULLID:
        for (size_t i = 0; i < len; i++)
            if (!id_char(u[i])) return fail(c, "only A-Z a-z 0-9 . _ - allowed");
        return 0;
    case HC_SIG_FT_HOST:
        for (size_t i = 0; i < len; i++)
            if (!host_char(u[i])) return fail(c, "only A-Z a-z 0-9 . _ - : [ ] allowed");
        return 0;
    case HC_SIG_FT_TEXT:
        for (size_t i = 0; i < len;) {
            size_t k = utf8_len(u + i, len - i);
            if (!k) return fail(c, "invalid UTF-8");
            if (is_control(u + i, k)) return fail(c, "control character not allowed");
            i += k;
        }
        return 0;
    default: return fail(c, "not a string field");
    }
}

static int check_int(ctx_t *c, const hc_sig_field_t *f, int64_t v)
{
    if (f->ftype == HC_SIG_FT_U32Z && v == 0) return 0;
    if (v >= f->min && v <= f->max) return 0;
    if (f->ftype == HC_SIG_FT_U32Z)
        return fail(c, "%" PRId64 " out of range 0 or %" PRId64 "..%" PRId64, v, f->min, f->max);
    return fail(c, "%" PRId64 " out of range %" PRId64 "..%" PRId64, v, f->min, f->max);
}

static int check_f64(ctx_t *c, const hc_sig_field_t *f, double v)
{
    if (isfinite(v) && v >= f->fmin && v <= f->fmax) return 0;
    return fail(c, "%g out of range %g..%g", v, f->fmin, f->fmax);
}

/* Size of a JSON value as compact text (what the writer emits). */
static size_t json_compact_len(const json_t *j)
{
    char dummy[1];
    return json_dumpb(j, dummy, 0, JSON_COMPACT);
}

static int check_obj(ctx_t *c, const hc_sig_field_t *f, const json_t *j)
{
    if (!json_is_object(j)) return fail(c, "expected object");
    size_t n = json_compact_len(j);
    if (n == 0 || n > (size_t)f->max)
        return fail(c, "%zu bytes as compact JSON, at most %" PRId64, n, f->max);
    return 0;
}

static int enum_fail(ctx_t *c, const hc_sig_field_t *f)
{
    char list[160];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 1; i < f->n_names && o < sizeof list; i++) {
        int n = snprintf(list + o, sizeof list - o, "%s\"%s\"", i > 1 ? ", " : "", f->names[i]);
        if (n < 0) break;
        o += (size_t)n;
    }
    return fail(c, "expected one of %s", list);
}

static int get_enum(const char *obj, const hc_sig_field_t *f)
{
    int v;
    memcpy(&v, obj + f->off, sizeof v);
    return v;
}

static void set_enum(char *obj, const hc_sig_field_t *f, int v)
{
    memcpy(obj + f->off, &v, sizeof v);
}

static bool has(const char *obj, const hc_sig_field_t *f)
{
    return !f->has_flag || *(const bool *)(obj + f->has_off);
}

static void set_has(char *obj, const hc_sig_field_t *f)
{
    if (f->has_flag) *(bool *)(obj + f->has_off) = true;
}

static const hc_sig_field_t *find_field(const hc_sig_schema_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (!strcmp(s->fields[i].name, name)) return &s->fields[i];
    return NULL;
}

/* ---- defaults and release ---- */

static void set_defaults(const hc_sig_schema_t *s, char *obj)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        char *p = obj + f->off;
        switch (f->ftype) {
        case HC_SIG_FT_U32:
        case HC_SIG_FT_U32Z:
            if (f->has_flag) *(uint32_t *)p = (uint32_t)f->def;
            break;
        case HC_SIG_FT_I64:
            if (f->has_flag) *(int64_t *)p = (int64_t)f->def;
            break;
        case HC_SIG_FT_F64:
            if (f->has_flag) *(double *)p = f->def;
            break;
        case HC_SIG_FT_BOOL:
            if (f->has_flag) *(bool *)p = f->def != 0;
            break;
        case HC_SIG_FT_ENUM:
            if (f->has_flag) set_enum(obj, f, (int)f->def);
            break;
        case HC_SIG_FT_STRUCT: set_defaults(f->item, p); break;
        default: break;
        }
    }
}

static void release(const hc_sig_schema_t *s, char *obj)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        char *p = obj + f->off;
        if (f->ftype == HC_SIG_FT_OBJ) {
            json_t **j = (json_t **)p;
            json_decref(*j);
            *j = NULL;
        } else if (f->ftype == HC_SIG_FT_STRUCT) {
            release(f->item, p);
        } else if (f->ftype == HC_SIG_FT_ARR) {
            size_t n = *(size_t *)(obj + f->count_off);
            if (n > (size_t)f->max) n = (size_t)f->max;
            for (size_t k = 0; k < n; k++) release(f->item, p + k * f->item->size);
        }
    }
}

int hc_sig_msg_init(hc_sig_msg_t *m, hc_sig_type_t t)
{
    if (!m || !type_ok(t)) return -HC_EINVAL;
    memset(m, 0, sizeof *m);
    m->type = t;
    set_defaults(types[t].schema, body(m));
    return 0;
}

void hc_sig_msg_fini(hc_sig_msg_t *m)
{
    if (!m) return;
    if (type_ok(m->type)) release(types[m->type].schema, body(m));
    memset(m, 0, sizeof *m);
}

/* ---- rules across fields ---- */

/* Which codec and tags go with a media kind. */
static bool codec_fits(hc_sig_media_t k, hc_sig_codec_t codec)
{
    return (k == HC_SIG_MEDIA_AUDIO && codec == HC_SIG_CODEC_OPUS) ||
           (k == HC_SIG_MEDIA_VIDEO && codec == HC_SIG_CODEC_H264) ||
           (k == HC_SIG_MEDIA_DATA && codec == HC_SIG_CODEC_JSON);
}

static bool tag_fits(hc_sig_media_t k, hc_sig_tag_t tag)
{
    switch (k) {
    case HC_SIG_MEDIA_AUDIO: return tag == HC_SIG_TAG_AUDIO;
    case HC_SIG_MEDIA_DATA: return tag == HC_SIG_TAG_CONTROL;
    case HC_SIG_MEDIA_VIDEO:
        return tag == HC_SIG_TAG_MAIN || tag == HC_SIG_TAG_DIAGNOSTIC || tag == HC_SIG_TAG_FACE ||
               tag == HC_SIG_TAG_SCREEN;
    default: return false;
    }
}

static int media_fits(ctx_t *c, hc_sig_media_t k, hc_sig_tag_t tag, const hc_sig_codec_t *codec)
{
    if (!tag_fits(k, tag)) {
        push(c, ".tag");
        return fail(c, "\"%s\" does not go with kind \"%s\"", hc_sig_tag_name(tag),
                    hc_sig_media_name(k));
    }
    if (codec && !codec_fits(k, *codec)) {
        push(c, ".codec");
        return fail(c, "\"%s\" does not go with kind \"%s\"", hc_sig_codec_name(*codec),
                    hc_sig_media_name(k));
    }
    return 0;
}

static int key_fits(ctx_t *c, const char *name, const char *b64, hc_sig_suite_t suite)
{
    /* Master key + salt: 16 + 12 for AEAD_AES_128_GCM (RFC 7714 §12),
     * 16 + 14 for AES_CM_128_HMAC_SHA1_80 (RFC 3711 §8.2). */
    int want = suite == HC_SIG_SUITE_GCM ? 28 : 30;
    uint8_t tmp[HC_SIG_KEY_MAX];
    int n = hc_b64_decode(b64, strlen(b64), tmp, sizeof tmp);
    if (n == want) return 0;
    push(c, ".%s", name);
    return fail(c, "%d bytes, suite \"%s\" needs %d", n, hc_sig_suite_name(suite), want);
}

static int check_cross(ctx_t *c, const hc_sig_schema_t *s, const char *obj)
{
    if (s == &schema_stream_pub) {
        const hc_sig_stream_pub_t *p = (const void *)obj;
        int rc = media_fits(c, p->kind, p->tag, &p->codec);
        if (rc) return rc;
        if (p->kind != HC_SIG_MEDIA_VIDEO && (p->has_width || p->has_height || p->has_fps)) {
            push(c, p->has_width ? ".width" : p->has_height ? ".height" : ".fps");
            return fail(c, "only for kind \"video\"");
        }
        if (p->kind != HC_SIG_MEDIA_VIDEO && p->has_layer && p->layer != 0) {
            push(c, ".layer");
            return fail(c, "simulcast layers are for kind \"video\" only");
        }
    } else if (s == &schema_stream_info) {
        const hc_sig_stream_info_t *p = (const void *)obj;
        return media_fits(c, p->kind, p->tag, &p->codec);
    } else if (s == &schema_leg) {
        const hc_sig_leg_t *p = (const void *)obj;
        return media_fits(c, p->kind, p->tag, NULL);
    } else if (s == &schema_transport) {
        const hc_sig_transport_t *p = (const void *)obj;
        int rc = key_fits(c, "key_up", p->key_up, p->suite);
        return rc ? rc : key_fits(c, "key_down", p->key_down, p->suite);
    } else if (s == &schema_create) {
        const hc_sig_create_t *p = (const void *)obj;
        if (p->has_last_n && p->kind != HC_SIG_KIND_CONFERENCE) {
            push(c, ".last_n");
            return fail(c, "only for kind \"conference\"");
        }
        if (p->has_control_deadline_ms && p->kind != HC_SIG_KIND_CONSULT) {
            push(c, ".control_deadline_ms");
            return fail(c, "only for kind \"consult\"");
        }
    } else if (s == &schema_join) {
        const hc_sig_join_t *p = (const void *)obj;
        for (size_t i = 0; i < p->n_publish; i++)
            for (size_t k = 0; k < i; k++)
                if (!strcmp(p->publish[i].mid, p->publish[k].mid)) {
                    push(c, ".publish[%zu].mid", i);
                    return fail(c, "duplicate of publish[%zu].mid", k);
                }
    } else if (s == &schema_joined) {
        const hc_sig_joined_t *p = (const void *)obj;
        if (p->participants_total < p->n_participants) {
            push(c, ".participants_total");
            return fail(c, "less than the %zu participants listed", p->n_participants);
        }
    } else if (s == &schema_sessions || s == &schema_participants) {
        uint32_t total, offset;
        size_t n;
        if (s == &schema_sessions) {
            const hc_sig_sessions_t *p = (const void *)obj;
            total = p->total, offset = p->offset, n = p->n_items;
        } else {
            const hc_sig_participants_t *p = (const void *)obj;
            total = p->total, offset = p->offset, n = p->n_items;
        }
        if ((uint64_t)offset + n > total) {
            push(c, ".total");
            return fail(c, "%" PRIu32 " is less than offset + items", total);
        }
    } else if (s == &schema_mint_token) {
        const hc_sig_mint_token_t *p = (const void *)obj;
        /* Only admin tokens may leave the session open ("any session"). */
        if (p->role != HC_SIG_ROLE_ADMIN && !p->session[0]) {
            push(c, ".session");
            return fail(c, "required unless role is \"admin\"");
        }
    }
    return 0;
}

/* ---- parse ---- */

static int parse_obj(ctx_t *c, const hc_sig_schema_t *s, json_t *o, char *obj, bool top);

static int parse_value(ctx_t *c, const hc_sig_field_t *f, json_t *v, char *obj)
{
    char *p = obj + f->off;
    int rc;
    switch (f->ftype) {
    case HC_SIG_FT_NULLID:
        if (json_is_null(v)) {
            p[0] = '\0';
            return 0;
        }
        if (!json_is_string(v)) return fail(c, "expected string or null");
        /* fall through */
    case HC_SIG_FT_ID:
    case HC_SIG_FT_TEXT:
    case HC_SIG_FT_HOST:
    case HC_SIG_FT_B64: {
        if (!json_is_string(v)) return fail(c, "expected string");
        size_t len = json_string_length(v);
        if ((rc = check_str(c, f, json_string_value(v), len))) return rc;
        if (len >= f->size) return fail(c, "too long"); /* the checks above imply not */
        memcpy(p, json_string_value(v), len);
        p[len] = '\0';
        return 0;
    }
    case HC_SIG_FT_U32:
    case HC_SIG_FT_U32Z:
    case HC_SIG_FT_I64: {
        if (!json_is_integer(v)) return fail(c, "expected integer");
        int64_t iv = (int64_t)json_integer_value(v);
        if ((rc = check_int(c, f, iv))) return rc;
        if (f->ftype == HC_SIG_FT_I64)
            *(int64_t *)p = iv;
        else
            *(uint32_t *)p = (uint32_t)iv;
        set_has(obj, f);
        return 0;
    }
    case HC_SIG_FT_F64: {
        if (!json_is_number(v)) return fail(c, "expected number");
        double d = json_number_value(v);
        if ((rc = check_f64(c, f, d))) return rc;
        *(double *)p = d;
        set_has(obj, f);
        return 0;
    }
    case HC_SIG_FT_BOOL:
        if (!json_is_boolean(v)) return fail(c, "expected true or false");
        *(bool *)p = json_is_true(v);
        set_has(obj, f);
        return 0;
    case HC_SIG_FT_ENUM: {
        if (!json_is_string(v)) return enum_fail(c, f);
        const char *sv = json_string_value(v);
        for (size_t i = 1; i < f->n_names; i++)
            if (!strcmp(sv, f->names[i])) {
                set_enum(obj, f, (int)i);
                set_has(obj, f);
                return 0;
            }
        return enum_fail(c, f);
    }
    case HC_SIG_FT_ERRCODE: {
        if (!json_is_string(v)) return fail(c, "expected an error name such as \"EPERM\"");
        const char *sv = json_string_value(v);
        for (int code = 1; code < HC_ERR_COUNT; code++)
            if (!strcmp(sv, hc_errname(code))) {
                *(int *)p = code;
                return 0;
            }
        char tmp[40];
        return fail(c, "unknown error code \"%s\"", clean(sv, json_string_length(v), tmp));
    }
    case HC_SIG_FT_OBJ:
        if ((rc = check_obj(c, f, v))) return rc;
        *(json_t **)p = json_incref(v);
        return 0;
    case HC_SIG_FT_ARR: {
        if (!json_is_array(v)) return fail(c, "expected array");
        size_t n = json_array_size(v);
        if (n > (size_t)f->max) return fail(c, "more than %" PRId64 " items", f->max);
        if (n < (size_t)f->min) return fail(c, "fewer than %" PRId64 " items", f->min);
        size_t *count = (size_t *)(obj + f->count_off);
        for (size_t i = 0; i < n; i++) {
            size_t old = push(c, "[%zu]", i);
            json_t *it = json_array_get(v, i);
            if (!json_is_object(it)) return fail(c, "expected object");
            char *ip = p + i * f->item->size;
            *count = i + 1; /* so a failure releases what this item holds */
            set_defaults(f->item, ip);
            if ((rc = parse_obj(c, f->item, it, ip, false))) return rc;
            pop(c, old);
        }
        return 0;
    }
    case HC_SIG_FT_STRUCT:
        if (!json_is_object(v)) return fail(c, "expected object");
        return parse_obj(c, f->item, v, p, false);
    }
    return fail(c, "unknown field type");
}

static int parse_obj(ctx_t *c, const hc_sig_schema_t *s, json_t *o, char *obj, bool top)
{
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        if (top && !strcmp(key, "type")) continue;
        if (!find_field(s, key)) {
            char tmp[40];
            push(c, ".%s", clean(key, strlen(key), tmp));
            return fail(c, "unknown field");
        }
    }
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        size_t old = push(c, ".%s", f->name);
        json_t *v = json_object_get(o, f->name);
        int rc;
        if (!v) {
            if (f->required) return fail(c, "required");
        } else if (json_is_null(v) && f->ftype != HC_SIG_FT_NULLID) {
            return fail(c, "null not allowed");
        } else if ((rc = parse_value(c, f, v, obj))) {
            return rc;
        }
        pop(c, old);
    }
    return check_cross(c, s, obj);
}

/* The "id" of a request even when the rest fails, so the error can echo it. */
static void peek_id(json_t *root, hc_sig_msg_t *out)
{
    const hc_sig_field_t *f = find_field(types[out->type].schema, "id");
    json_t *v = json_object_get(root, "id");
    if (!f || !json_is_integer(v)) return;
    json_int_t id = json_integer_value(v);
    if (id < f->min || id > f->max) return;
    *(uint32_t *)(body(out) + f->off) = (uint32_t)id;
    set_has(body(out), f);
}

int hc_sig_parse(const char *text, size_t len, hc_sig_msg_t *out, char *err, size_t errcap)
{
    ctx_t c;
    ctx_init(&c, err, errcap, "frame");
    if (!out) return fail_code(&c, -HC_EINVAL, "no output message");
    memset(out, 0, sizeof *out);
    if (!text && len) return fail_code(&c, -HC_EINVAL, "no text");
    if (len > HC_SIG_MAX_TEXT)
        return fail_code(&c, -HC_ERANGE, "%zu bytes, at most %d", len, HC_SIG_MAX_TEXT);

    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        ctx_init(&c, err, errcap, "json");
        return fail_code(&c, -HC_EJSON, "%s at line %d column %d", jerr.text, jerr.line,
                         jerr.column);
    }
    int rc;
    if (!json_is_object(root)) {
        ctx_init(&c, err, errcap, "message");
        rc = fail(&c, "expected a JSON object");
        goto done;
    }
    json_t *jt = json_object_get(root, "type");
    ctx_init(&c, err, errcap, "type");
    if (!jt) {
        rc = fail(&c, "required");
        goto done;
    }
    if (!json_is_string(jt)) {
        rc = fail(&c, "expected string");
        goto done;
    }
    hc_sig_type_t t = hc_sig_type_from_name(json_string_value(jt));
    if (t == HC_SIG_NONE) {
        char tmp[40];
        rc = fail(&c, "unknown message type \"%s\"",
                  clean(json_string_value(jt), json_string_length(jt), tmp));
        goto done;
    }
    hc_sig_msg_init(out, t);
    ctx_init(&c, err, errcap, types[t].name);
    rc = parse_obj(&c, types[t].schema, root, body(out), true);
    if (rc) {
        hc_sig_msg_fini(out);
        hc_sig_msg_init(out, t);
        peek_id(root, out);
    }
done:
    json_decref(root);
    return rc;
}

/* ---- validate ---- */

static int validate_obj(ctx_t *c, const hc_sig_schema_t *s, const char *obj);

static int validate_value(ctx_t *c, const hc_sig_field_t *f, const char *obj)
{
    const char *p = obj + f->off;
    switch (f->ftype) {
    case HC_SIG_FT_ID:
    case HC_SIG_FT_TEXT:
    case HC_SIG_FT_HOST:
    case HC_SIG_FT_B64:
    case HC_SIG_FT_NULLID: {
        const char *nul = memchr(p, '\0', f->size);
        if (!nul) return fail(c, "not NUL-terminated within %zu bytes", f->size);
        size_t len = (size_t)(nul - p);
        if (len == 0) {
            if (f->ftype == HC_SIG_FT_NULLID || !f->required) return 0;
            return fail(c, "required");
        }
        return check_str(c, f, p, len);
    }
    case HC_SIG_FT_U32:
    case HC_SIG_FT_U32Z: return has(obj, f) ? check_int(c, f, *(const uint32_t *)p) : 0;
    case HC_SIG_FT_I64: return has(obj, f) ? check_int(c, f, *(const int64_t *)p) : 0;
    case HC_SIG_FT_F64: return has(obj, f) ? check_f64(c, f, *(const double *)p) : 0;
    case HC_SIG_FT_BOOL: return 0;
    case HC_SIG_FT_ENUM: {
        if (!has(obj, f)) return 0;
        int v = get_enum(obj, f);
        if (v <= 0 || (size_t)v >= f->n_names) return enum_fail(c, f);
        return 0;
    }
    case HC_SIG_FT_ERRCODE: {
        int v = *(const int *)p;
        if (v <= 0 || v >= HC_ERR_COUNT) return fail(c, "invalid error code %d", v);
        return 0;
    }
    case HC_SIG_FT_OBJ: {
        const json_t *j = *(json_t *const *)p;
        if (!j) return f->required ? fail(c, "required") : 0;
        return check_obj(c, f, j);
    }
    case HC_SIG_FT_ARR: {
        size_t n = *(const size_t *)(obj + f->count_off);
        if (n > (size_t)f->max) return fail(c, "more than %" PRId64 " items", f->max);
        if (n < (size_t)f->min) return fail(c, "fewer than %" PRId64 " items", f->min);
        for (size_t i = 0; i < n; i++) {
            size_t old = push(c, "[%zu]", i);
            int rc = validate_obj(c, f->item, p + i * f->item->size);
            if (rc) return rc;
            pop(c, old);
        }
        return 0;
    }
    case HC_SIG_FT_STRUCT: return validate_obj(c, f->item, p);
    }
    return fail(c, "unknown field type");
}

static int validate_obj(ctx_t *c, const hc_sig_schema_t *s, const char *obj)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        size_t old = push(c, ".%s", s->fields[i].name);
        int rc = validate_value(c, &s->fields[i], obj);
        if (rc) return rc;
        pop(c, old);
    }
    return check_cross(c, s, obj);
}

int hc_sig_validate(const hc_sig_msg_t *m, char *err, size_t errcap)
{
    ctx_t c;
    ctx_init(&c, err, errcap, "message");
    if (!m || !type_ok(m->type)) return fail_code(&c, -HC_EINVAL, "unknown message type");
    ctx_init(&c, err, errcap, types[m->type].name);
    return validate_obj(&c, types[m->type].schema, cbody(m));
}

/* ---- write ---- */

typedef struct wbuf {
    char *buf;
    size_t cap, len;
    bool bad;
} wbuf_t;

/* Appends while it fits and keeps counting after, so the caller learns the
 * full length (for the HC_SIG_MAX_TEXT check) even when cap is short. */
static void put(wbuf_t *w, const char *s, size_t n)
{
    if (w->len <= w->cap && n <= w->cap - w->len) memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void puts_(wbuf_t *w, const char *s)
{
    put(w, s, strlen(s));
}

/* RFC 8259 §7: quote, backslash and control characters must be escaped. */
static void put_str(wbuf_t *w, const char *s, size_t n)
{
    put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '"' && ch != '\\' && ch >= 0x20) continue;
        put(w, s + run, i - run);
        run = i + 1;
        char esc[8];
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof esc, "\\%c", ch);
        else
            snprintf(esc, sizeof esc, "\\u%04x", ch);
        puts_(w, esc);
    }
    put(w, s + run, n - run);
    put(w, "\"", 1);
}

/*
 * Shortest of %.15g..%.17g that reads back as the same double, so values
 * like 0.05 stay short yet nothing is lost. printf and strtod follow the
 * locale's decimal point; JSON needs '.'.
 */
static void put_f64(wbuf_t *w, double v)
{
    char tmp[40];
    if (v == 0) {
        puts_(w, "0"); /* also for -0.0, so a re-read writes the same */
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    const char *dp = localeconv()->decimal_point;
    if (dp && strcmp(dp, ".") != 0 && dp[0]) {
        char *at = strstr(tmp, dp);
        if (at) {
            size_t dl = strlen(dp);
            *at = '.';
            memmove(at + 1, at + dl, strlen(at + dl) + 1);
        }
    }
    puts_(w, tmp);
}

static bool present(const hc_sig_field_t *f, const char *obj)
{
    const char *p = obj + f->off;
    if (f->required) return true;
    switch (f->ftype) {
    case HC_SIG_FT_ID:
    case HC_SIG_FT_TEXT:
    case HC_SIG_FT_HOST:
    case HC_SIG_FT_B64: return p[0] != '\0';
    case HC_SIG_FT_OBJ: return *(json_t *const *)p != NULL;
    default: return has(obj, f);
    }
}

static void write_obj(wbuf_t *w, const hc_sig_schema_t *s, const char *obj, const char *type);

static void write_value(wbuf_t *w, const hc_sig_field_t *f, const char *obj)
{
    const char *p = obj + f->off;
    char tmp[32];
    switch (f->ftype) {
    case HC_SIG_FT_NULLID:
        if (!p[0]) {
            puts_(w, "null");
            break;
        }
        /* fall through */
    case HC_SIG_FT_ID:
    case HC_SIG_FT_TEXT:
    case HC_SIG_FT_HOST:
    case HC_SIG_FT_B64: put_str(w, p, strlen(p)); break;
    case HC_SIG_FT_U32:
    case HC_SIG_FT_U32Z:
        snprintf(tmp, sizeof tmp, "%" PRIu32, *(const uint32_t *)p);
        puts_(w, tmp);
        break;
    case HC_SIG_FT_I64:
        snprintf(tmp, sizeof tmp, "%" PRId64, *(const int64_t *)p);
        puts_(w, tmp);
        break;
    case HC_SIG_FT_F64: put_f64(w, *(const double *)p); break;
    case HC_SIG_FT_BOOL: puts_(w, *(const bool *)p ? "true" : "false"); break;
    case HC_SIG_FT_ENUM: {
        const char *name = f->names[get_enum(obj, f)];
        put_str(w, name, strlen(name));
        break;
    }
    case HC_SIG_FT_ERRCODE: {
        const char *name = hc_errname(*(const int *)p);
        put_str(w, name, strlen(name));
        break;
    }
    case HC_SIG_FT_OBJ: {
        const json_t *j = *(json_t *const *)p;
        char dummy[1];
        bool room = w->len < w->cap;
        size_t n =
            json_dumpb(j, room ? w->buf + w->len : dummy, room ? w->cap - w->len : 0, JSON_COMPACT);
        if (n == 0) w->bad = true;
        w->len += n;
        break;
    }
    case HC_SIG_FT_ARR: {
        size_t n = *(const size_t *)(obj + f->count_off);
        put(w, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) put(w, ",", 1);
            write_obj(w, f->item, p + i * f->item->size, NULL);
        }
        put(w, "]", 1);
        break;
    }
    case HC_SIG_FT_STRUCT: write_obj(w, f->item, p, NULL); break;
    }
}

static void write_obj(wbuf_t *w, const hc_sig_schema_t *s, const char *obj, const char *type)
{
    bool first = true;
    put(w, "{", 1);
    if (type) {
        puts_(w, "\"type\":");
        put_str(w, type, strlen(type));
        first = false;
    }
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        if (!present(f, obj)) continue;
        if (!first) put(w, ",", 1);
        first = false;
        put_str(w, f->name, strlen(f->name));
        put(w, ":", 1);
        write_value(w, f, obj);
    }
    put(w, "}", 1);
}

int hc_sig_write(const hc_sig_msg_t *m, char *buf, size_t cap)
{
    if (!m || !buf || !type_ok(m->type)) return -HC_EINVAL;
    if (cap) buf[0] = '\0';
    int rc = hc_sig_validate(m, NULL, 0);
    if (rc) return rc;
    wbuf_t w = {buf, cap, 0, false};
    write_obj(&w, types[m->type].schema, cbody(m), types[m->type].name);
    if (w.bad)
        rc = -HC_EINTERNAL;
    else if (w.len > HC_SIG_MAX_TEXT)
        rc = -HC_ERANGE; /* bounded by the tables; see max_len */
    else if (w.len >= cap)
        rc = -HC_ENOSPC;
    if (rc) {
        if (cap) buf[0] = '\0';
        return rc;
    }
    buf[w.len] = '\0';
    return (int)w.len;
}

/* ---- output bound ---- */

static size_t digits(uint64_t v)
{
    size_t d = 1;
    while (v >= 10) v /= 10, d++;
    return d;
}

static size_t obj_max(const hc_sig_schema_t *s, const char *type);

static size_t value_max(const hc_sig_field_t *f)
{
    switch (f->ftype) {
    case HC_SIG_FT_ID:
    case HC_SIG_FT_HOST: return (size_t)f->max + 2;
    case HC_SIG_FT_NULLID: return (size_t)f->max + 2 > 4 ? (size_t)f->max + 2 : 4;
    case HC_SIG_FT_TEXT: return 2 * (size_t)f->max + 2; /* every byte a '"' or '\\' */
    case HC_SIG_FT_B64: return (size_t)HC_B64_ENCLEN(f->max) + 2;
    case HC_SIG_FT_U32:
    case HC_SIG_FT_U32Z:
    case HC_SIG_FT_I64: {
        uint64_t lo = f->min < 0 ? (uint64_t)0 - (uint64_t)f->min : (uint64_t)f->min;
        uint64_t hi = f->max < 0 ? (uint64_t)0 - (uint64_t)f->max : (uint64_t)f->max;
        return digits(lo > hi ? lo : hi) + (f->min < 0);
    }
    case HC_SIG_FT_F64: return 24; /* e.g. -2.2250738585072014e-308 */
    case HC_SIG_FT_BOOL: return 5;
    case HC_SIG_FT_ENUM: {
        size_t m = 0;
        for (size_t i = 1; i < f->n_names; i++)
            if (strlen(f->names[i]) > m) m = strlen(f->names[i]);
        return m + 2;
    }
    case HC_SIG_FT_ERRCODE: {
        size_t m = 0;
        for (int code = 1; code < HC_ERR_COUNT; code++)
            if (strlen(hc_errname(code)) > m) m = strlen(hc_errname(code));
        return m + 2;
    }
    case HC_SIG_FT_OBJ: return (size_t)f->max;
    case HC_SIG_FT_ARR: {
        size_t n = (size_t)f->max;
        return 2 + n * obj_max(f->item, NULL) + (n ? n - 1 : 0);
    }
    case HC_SIG_FT_STRUCT: return obj_max(f->item, NULL);
    }
    return 0;
}

static size_t obj_max(const hc_sig_schema_t *s, const char *type)
{
    size_t n = 2, members = s->n_fields;
    if (type) n += strlen("\"type\":") + strlen(type) + 2, members++;
    for (size_t i = 0; i < s->n_fields; i++)
        n += strlen(s->fields[i].name) + 3 + value_max(&s->fields[i]);
    return n + (members ? members - 1 : 0);
}

size_t hc_sig_max_len(hc_sig_type_t t)
{
    return type_ok(t) ? obj_max(types[t].schema, types[t].name) : 0;
}

/* ---- helpers ---- */

uint32_t hc_sig_request_id(const hc_sig_msg_t *m)
{
    if (!m || !type_ok(m->type)) return 0;
    const hc_sig_field_t *f = find_field(types[m->type].schema, "id");
    if (!f || !has(cbody(m), f)) return 0;
    return *(const uint32_t *)(cbody(m) + f->off);
}

int hc_sig_error_init(hc_sig_msg_t *m, uint32_t id, int code, const char *reason)
{
    if (!m) return -HC_EINVAL;
    if (code < 0) code = -code;
    if (code <= 0 || code >= HC_ERR_COUNT) return -HC_EINVAL;
    hc_sig_msg_init(m, HC_SIG_ERROR);
    hc_sig_error_t *e = &m->error;
    if (id >= 1 && id <= HC_SIG_REQ_ID_MAX) {
        e->id = id;
        e->has_id = true;
    }
    e->code = code;
    const char *src = reason && reason[0] ? reason : hc_strerror(code);
    const unsigned char *u = (const unsigned char *)src;
    size_t n = strlen(src), o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(u + i, n - i);
        if (!k) { /* stray byte: keep a visible mark, stay valid UTF-8 */
            if (o + 1 > HC_SIG_REASON_MAX) break;
            e->reason[o++] = '?';
            i++;
            continue;
        }
        if (o + k > HC_SIG_REASON_MAX) break;
        if (is_control(u + i, k))
            e->reason[o++] = ' ';
        else
            memcpy(e->reason + o, u + i, k), o += k;
        i += k;
    }
    e->reason[o] = '\0';
    return 0;
}
