#include "proto/b64.h"
#include "proto/err.h"
#include "proto/sig.h"
#include "tests/common/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One valid example per message type, in the writer's canonical form
 * (compact, "type" first, fields in table order), so write(parse(x)) == x.
 */
static const char *const examples[] = {
    "{\"type\":\"hello\",\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2l0ZSJ9."
    "c2ln\",\"client\":\"hc-edge/0.1.0\"}",
    "{\"type\":\"welcome\",\"role\":\"site\",\"session\":\"math-101\",\"site\":\"Dongxiang No.2\","
    "\"server\":\"hc-relay/0.1.0\",\"keepalive_ms\":15000,\"resume\":false}",
    "{\"type\":\"ping\",\"id\":7}",
    "{\"type\":\"pong\",\"id\":7,\"time_ms\":1700000000123}",
    "{\"type\":\"error\",\"id\":7,\"code\":\"EPERM\",\"reason\":\"role site may not send "
    "grant_floor\"}",
    "{\"type\":\"create\",\"id\":1,\"kind\":\"consult\",\"session\":\"consult-42\",\"title\":"
    "\"Capsule gastroscopy, Dr. Wang\",\"max_sites\":2,\"control_deadline_ms\":300}",
    "{\"type\":\"created\",\"id\":1,\"session\":\"consult-42\",\"kind\":\"consult\"}",
    "{\"type\":\"join\",\"id\":2,\"session\":\"math-101\",\"site\":\"Dongxiang No.2\",\"publish\":"
    "[{\"mid\":\"a0\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\",\"max_kbps\":32},"
    "{\"mid\":\"v0\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"max_kbps\":1200,"
    "\"width\":1280,\"height\":720,\"fps\":25},{\"mid\":\"v0-l1\",\"kind\":\"video\",\"tag\":"
    "\"main\",\"codec\":\"h264\",\"max_kbps\":300,\"width\":640,\"height\":360,\"fps\":25,"
    "\"layer\":1}],\"subscribe\":true,\"suite\":\"gcm\"}",
    "{\"type\":\"joined\",\"id\":2,\"session\":\"math-101\",\"kind\":\"class\",\"participant\":"
    "\"p7\",\"media\":{\"port\":40000,\"host\":\"relay.example.org\",\"suite\":\"gcm\","
    "\"key_up\":\"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHA==\",\"key_down\":"
    "\"ZWZnaGlqa2xtbm9wcXJzdHV2d3h5ent8fX5/"
    "gA==\",\"rtcp_ssrc\":287454019},\"streams\":[{\"mid\":\"a0\",\"ssrc\":"
    "287454020,\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"},{\"mid\":\"v0\",\"ssrc\":"
    "287454021,\"rtx_ssrc\":287454022,\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\"}],"
    "\"receive\":[{\"mid\":\"main-video\",\"ssrc\":287454031,\"rtx_ssrc\":287454032,\"kind\":"
    "\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"participant\":\"p1\"}],"
    "\"floor\":null,\"participants\":[{\"participant\":\"p1\",\"site\":\"No.1 Middle School\","
    "\"role\":\"teacher\",\"streams\":[{\"mid\":\"v0\",\"ssrc\":1001,\"kind\":\"video\",\"tag\":"
    "\"main\",\"codec\":\"h264\"}],\"hand\":false}],\"participants_total\":1}",
    "{\"type\":\"leave\",\"id\":9}",
    "{\"type\":\"left\",\"id\":9}",
    "{\"type\":\"participant_joined\",\"session\":\"math-101\",\"participant\":{\"participant\":"
    "\"p8\",\"site\":\"Hongqi Village School\",\"role\":\"site\",\"streams\":[],\"hand\":false}}",
    "{\"type\":\"participant_left\",\"session\":\"math-101\",\"participant\":\"p8\",\"reason\":"
    "\"timeout\"}",
    "{\"type\":\"raise_hand\",\"id\":10}",
    "{\"type\":\"lower_hand\",\"id\":11}",
    "{\"type\":\"ok\",\"id\":10}",
    "{\"type\":\"hand\",\"participant\":\"p7\",\"raised\":true}",
    "{\"type\":\"grant_floor\",\"id\":12,\"participant\":\"p7\"}",
    "{\"type\":\"revoke_floor\",\"id\":13,\"participant\":\"p7\"}",
    "{\"type\":\"floor\",\"participant\":\"p7\",\"by\":\"p1\"}",
    "{\"type\":\"control\",\"seq\":41,\"to\":\"p2\",\"body\":{\"cmd\":\"move\",\"axis\":\"x\","
    "\"mm\":1.5}}",
    "{\"type\":\"control_ack\",\"seq\":41,\"from\":\"p2\"}",
    "{\"type\":\"control_rtt\",\"seq\":41,\"rtt_ms\":86.5}",
    "{\"type\":\"alarm\",\"kind\":\"control_lost\",\"participant\":\"p2\",\"since_ms\":"
    "1700000000456,\"detail\":\"no ack for 300 ms\"}",
    "{\"type\":\"session_closed\",\"session\":\"math-101\",\"reason\":\"closed by admin\"}",
    "{\"type\":\"kicked\",\"reason\":\"duplicate login\"}",
    "{\"type\":\"budget\",\"kbps\":800}",
    "{\"type\":\"list_sessions\",\"id\":20,\"offset\":0,\"limit\":20}",
    "{\"type\":\"sessions\",\"id\":20,\"total\":1,\"offset\":0,\"items\":[{\"session\":"
    "\"math-101\",\"kind\":\"class\",\"title\":\"Grade 5 mathematics\",\"created_ms\":"
    "1700000000000,\"participants\":31,\"publishers\":2,\"in_kbps\":2100,\"out_kbps\":38000}]}",
    "{\"type\":\"list_participants\",\"id\":21,\"session\":\"math-101\",\"limit\":10}",
    "{\"type\":\"participants\",\"id\":21,\"session\":\"math-101\",\"total\":1,\"offset\":0,"
    "\"items\":[{\"participant\":\"p7\",\"site\":\"Dongxiang No.2\",\"role\":\"site\","
    "\"joined_ms\":1700000001000,\"addr\":\"203.0.113.7:50312\",\"hand\":false,\"legs\":[{"
    "\"ssrc\":287454021,\"dir\":\"in\",\"kind\":\"video\",\"tag\":\"main\",\"kbps\":1150,"
    "\"loss\":0.02,\"rtt_ms\":84,\"jitter_ms\":6,\"nacks\":17,\"plis\":1}]}]}",
    "{\"type\":\"kick\",\"id\":22,\"session\":\"math-101\",\"participant\":\"p7\",\"reason\":"
    "\"disruptive\"}",
    "{\"type\":\"close_session\",\"id\":23,\"session\":\"math-101\",\"reason\":\"lesson over\"}",
    "{\"type\":\"mint_token\",\"id\":24,\"role\":\"site\",\"session\":\"math-101\",\"site\":"
    "\"Dongxiang No.2\",\"ttl_s\":86400}",
    "{\"type\":\"token\",\"id\":24,\"token\":\"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJyb2xlIjoic2l0ZSJ9.c2ln\",\"expires_ms\":1700086400000}",
    "{\"type\":\"set_budget\",\"id\":25,\"site\":\"Dongxiang No.2\",\"kbps\":0}",
    "{\"type\":\"stats\",\"id\":26}",
    "{\"type\":\"stats_reply\",\"id\":26,\"sessions\":3,\"participants\":64,\"legs\":140,"
    "\"in_kbps\":5200,\"out_kbps\":96000,\"uptime_s\":86400}",
    "{\"type\":\"tracks\",\"session\":\"town-meeting\",\"receive\":[{\"mid\":\"speaker0-video\","
    "\"ssrc\":5001,\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"participant\":"
    "\"p42\"}]}",
};
#define N_EXAMPLES (sizeof examples / sizeof examples[0])

static char err[512];

/* Parse from an exactly-sized heap copy so ASan sees any over-read. */
static int parse(const char *s, size_t len, hc_sig_msg_t *m)
{
    char *h = malloc(len ? len : 1);
    memcpy(h, s, len);
    int rc = hc_sig_parse(h, len, m, err, sizeof err);
    free(h);
    return rc;
}

static int parse_s(const char *s, hc_sig_msg_t *m)
{
    return parse(s, strlen(s), m);
}

static hc_sig_msg_t *new_msg(void)
{
    hc_sig_msg_t *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void free_msg(hc_sig_msg_t *m)
{
    hc_sig_msg_fini(m);
    free(m);
}

/* Expect -HC_ESCHEMA with err exactly "<path>: <what...>" containing what. */
static void expect_schema(const char *text, const char *path, const char *what)
{
    hc_sig_msg_t *m = new_msg();
    int rc = parse_s(text, m);
    ck_assert_msg(rc == -HC_ESCHEMA, "rc %d for %s (err %s)", rc, text, err);
    size_t pl = strlen(path);
    ck_assert_msg(strncmp(err, path, pl) == 0 && err[pl] == ':' && strstr(err + pl, what),
                  "err \"%s\", wanted \"%s: ...%s...\" for %s", err, path, what, text);
    free_msg(m);
}

START_TEST(examples_cover_every_type)
{
    for (int t = 1; t < HC_SIG_TYPE_COUNT; t++) {
        char want[64];
        snprintf(want, sizeof want, "{\"type\":\"%s\",", hc_sig_type_name((hc_sig_type_t)t));
        bool found = false;
        for (size_t i = 0; i < N_EXAMPLES; i++)
            if (!strncmp(examples[i], want, strlen(want))) found = true;
        ck_assert_msg(found, "no example for %s", hc_sig_type_name((hc_sig_type_t)t));
    }
}
END_TEST

START_TEST(examples_parse_and_write_back)
{
    hc_sig_msg_t *m = new_msg(), *m2 = new_msg();
    static char out[HC_SIG_MAX_TEXT + 1];
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        int rc = parse_s(examples[i], m);
        ck_assert_msg(rc == 0, "example %zu: %s", i, err);
        int n = hc_sig_write(m, out, sizeof out);
        ck_assert_msg(n == (int)strlen(examples[i]), "%zu: %d\n%s\n%s", i, n, out, examples[i]);
        ck_assert_str_eq(out, examples[i]);
        ck_assert_int_le((size_t)n, hc_sig_max_len(m->type));
        /* parse(write(m)) == m, field by field (bodies compared as JSON). */
        ck_assert_int_eq(parse(out, (size_t)n, m2), 0);
        if (m->type == HC_SIG_CONTROL) {
            ck_assert(json_equal(m->control.body, m2->control.body));
            json_decref(m2->control.body);
            m2->control.body = m->control.body;
        }
        ck_assert(memcmp(m, m2, sizeof *m) == 0);
        if (m->type == HC_SIG_CONTROL) m2->control.body = NULL;
        hc_sig_msg_fini(m);
        hc_sig_msg_fini(m2);
    }
    free_msg(m);
    free_msg(m2);
}
END_TEST

START_TEST(parsed_values)
{
    hc_sig_msg_t *m = new_msg();
    ck_assert_int_eq(parse_s(examples[7], m), 0);
    ck_assert_int_eq(m->type, HC_SIG_JOIN);
    ck_assert_int_eq(m->join.id, 2);
    ck_assert_str_eq(m->join.session, "math-101");
    ck_assert_str_eq(m->join.publish[1].mid, "v0");
    ck_assert_int_eq(m->join.publish[1].kind, HC_SIG_MEDIA_VIDEO);
    ck_assert_int_eq(m->join.publish[1].tag, HC_SIG_TAG_MAIN);
    ck_assert(m->join.publish[1].has_width && m->join.publish[1].width == 1280);
    ck_assert(!m->join.publish[0].has_width);
    ck_assert_int_eq(m->join.n_publish, 3);
    ck_assert(!m->join.publish[1].has_layer && m->join.publish[1].layer == 0);
    ck_assert(m->join.publish[2].has_layer && m->join.publish[2].layer == 1);
    ck_assert_str_eq(m->join.publish[2].mid, "v0-l1");
    ck_assert_int_eq(m->join.suite, HC_SIG_SUITE_GCM);
    hc_sig_msg_fini(m);

    /* Defaults of absent optional fields read back, reported as absent. */
    ck_assert_int_eq(parse_s("{\"type\":\"join\",\"id\":3,\"session\":\"s\",\"site\":\"x\","
                             "\"publish\":[]}",
                             m),
                     0);
    ck_assert(!m->join.has_subscribe && m->join.subscribe);
    ck_assert(!m->join.has_suite && m->join.suite == HC_SIG_SUITE_GCM);
    hc_sig_msg_fini(m);
    ck_assert_int_eq(parse_s("{\"type\":\"create\",\"id\":3,\"kind\":\"consult\"}", m), 0);
    ck_assert(!m->create.has_control_deadline_ms && m->create.control_deadline_ms == 300);
    ck_assert_str_eq(m->create.session, "");
    hc_sig_msg_fini(m);
    ck_assert_int_eq(parse_s("{\"type\":\"list_participants\",\"id\":3,\"session\":\"s\"}", m), 0);
    ck_assert_int_eq(m->list_participants.limit, HC_SIG_PPAGE_MAX);
    ck_assert_int_eq(m->list_participants.offset, 0);
    hc_sig_msg_fini(m);

    /* floor: JSON null is the empty string; a participant id otherwise. */
    ck_assert_int_eq(parse_s("{\"type\":\"floor\",\"participant\":null}", m), 0);
    ck_assert_str_eq(m->floor.participant, "");
    hc_sig_msg_fini(m);

    /* Whitespace, member order and escapes are free on input. */
    ck_assert_int_eq(parse_s(" {\n \"id\" : 5 ,\t\"type\":\"ping\"}\r\n", m), 0);
    ck_assert_int_eq(m->ping.id, 5);
    hc_sig_msg_fini(m);
    ck_assert_int_eq(parse_s("{\"type\":\"kicked\",\"reason\":\"\\u4e0a\\u8bfe \\\"x\\\"\"}", m),
                     0);
    ck_assert_str_eq(m->kicked.reason, "\xe4\xb8\x8a\xe8\xaf\xbe \"x\"");
    static char out[512];
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out,
                     "{\"type\":\"kicked\",\"reason\":\"\xe4\xb8\x8a\xe8\xaf\xbe \\\"x\\\"\"}");
    hc_sig_msg_fini(m);

    /* F64 accepts integers; the writer keeps numbers short but exact. */
    ck_assert_int_eq(parse_s("{\"type\":\"control_rtt\",\"seq\":1,\"rtt_ms\":86}", m), 0);
    ck_assert(m->control_rtt.rtt_ms == 86.0);
    m->control_rtt.rtt_ms = 0.1 + 0.2;
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out, "{\"type\":\"control_rtt\",\"seq\":1,\"rtt_ms\":0.30000000000000004}");
    m->control_rtt.rtt_ms = -0.0;
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out, "{\"type\":\"control_rtt\",\"seq\":1,\"rtt_ms\":0}");
    free_msg(m);
}
END_TEST

/* ---- generic mutations over every example, driven by the schema ---- */

typedef enum { MUT_MISSING, MUT_WRONG, MUT_NULL, MUT_RANGE, MUT_LONG, MUT_CHARS, MUT_ENUM } mut_t;

static char *dump(json_t *root)
{
    static char buf[HC_SIG_MAX_TEXT + 1];
    size_t n = json_dumpb(root, buf, sizeof buf - 1, JSON_COMPACT);
    ck_assert(n > 0 && n < sizeof buf);
    buf[n] = '\0';
    return buf;
}

/* Set obj[name] = v (stolen), run the check, put the old value back. */
static void with_value(json_t *root, json_t *obj, const char *name, json_t *v, const char *path,
                       const char *what)
{
    json_t *saved = json_object_get(obj, name);
    json_incref(saved);
    json_object_set_new(obj, name, v);
    expect_schema(dump(root), path, what);
    if (saved)
        json_object_set_new(obj, name, saved);
    else
        json_object_del(obj, name);
}

static json_t *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, ch, n);
    s[n] = '\0';
    json_t *j = json_stringn(s, n);
    free(s);
    return j;
}

static void mutate(json_t *root, json_t *obj, const hc_sig_field_t *f, const char *path, mut_t mut)
{
    bool str = f->ftype == HC_SIG_FT_ID || f->ftype == HC_SIG_FT_TEXT ||
               f->ftype == HC_SIG_FT_HOST || f->ftype == HC_SIG_FT_B64 ||
               f->ftype == HC_SIG_FT_NULLID;
    bool num = f->ftype == HC_SIG_FT_U32 || f->ftype == HC_SIG_FT_U32Z ||
               f->ftype == HC_SIG_FT_I64 || f->ftype == HC_SIG_FT_F64;
    switch (mut) {
    case MUT_MISSING: {
        if (!f->required) return;
        json_t *saved = json_object_get(obj, f->name);
        ck_assert_ptr_nonnull(saved);
        json_incref(saved);
        json_object_del(obj, f->name);
        expect_schema(dump(root), path, "required");
        json_object_set_new(obj, f->name, saved);
        return;
    }
    case MUT_WRONG: {
        json_t *v;
        if (str || f->ftype == HC_SIG_FT_BOOL || f->ftype == HC_SIG_FT_ENUM ||
            f->ftype == HC_SIG_FT_ERRCODE)
            v = json_integer(1);
        else if (num)
            v = json_string("1");
        else if (f->ftype == HC_SIG_FT_ARR)
            v = json_object();
        else
            v = json_array();
        with_value(root, obj, f->name, v, path, "expected");
        if (f->ftype != HC_SIG_FT_BOOL)
            with_value(root, obj, f->name, json_true(), path, "expected");
        if (f->ftype == HC_SIG_FT_U32 || f->ftype == HC_SIG_FT_I64 || f->ftype == HC_SIG_FT_U32Z)
            with_value(root, obj, f->name, json_real(1.0), path, "expected integer");
        return;
    }
    case MUT_NULL:
        if (f->ftype != HC_SIG_FT_NULLID)
            with_value(root, obj, f->name, json_null(), path, "null not allowed");
        return;
    case MUT_RANGE:
        if (f->ftype == HC_SIG_FT_F64) {
            with_value(root, obj, f->name, json_real(f->fmin - 0.5), path, "out of range");
            with_value(root, obj, f->name, json_real(f->fmax + 0.5), path, "out of range");
        } else if (num) {
            with_value(root, obj, f->name, json_integer(f->min - 1), path, "out of range");
            if (f->max < INT64_MAX)
                with_value(root, obj, f->name, json_integer(f->max + 1), path, "out of range");
        }
        return;
    case MUT_LONG:
        if (f->ftype == HC_SIG_FT_B64)
            with_value(root, obj, f->name, repeat('A', (size_t)HC_B64_ENCLEN(f->max) + 4), path,
                       "longer than");
        else if (str)
            with_value(root, obj, f->name, repeat('a', (size_t)f->max + 1), path, "longer than");
        if (str) with_value(root, obj, f->name, json_string(""), path, "empty");
        return;
    case MUT_CHARS:
        switch (f->ftype) {
        case HC_SIG_FT_ID:
        case HC_SIG_FT_NULLID:
            with_value(root, obj, f->name, json_string("a b"), path, "only A-Z");
            with_value(root, obj, f->name, json_string("a/b"), path, "only A-Z");
            with_value(root, obj, f->name, json_string("\xc3\xa9"), path, "only A-Z");
            break;
        case HC_SIG_FT_HOST:
            with_value(root, obj, f->name, json_string("a b"), path, "only A-Z");
            break;
        case HC_SIG_FT_TEXT:
            with_value(root, obj, f->name, json_string("a\x01"), path, "control character");
            with_value(root, obj, f->name, json_string("a\n"), path, "control character");
            with_value(root, obj, f->name, json_string("a\x7f"), path, "control character");
            with_value(root, obj, f->name, json_string("a\xc2\x85"), path, "control character");
            break;
        case HC_SIG_FT_B64:
            with_value(root, obj, f->name, json_string("!!!!"), path, "base64");
            with_value(root, obj, f->name, json_string("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB=="),
                       path, "base64"); /* non-zero pad bits */
            with_value(root, obj, f->name, json_string("AQID"), path, "decodes to 3 bytes");
            break;
        default: break;
        }
        return;
    case MUT_ENUM:
        if (f->ftype == HC_SIG_FT_ENUM) {
            with_value(root, obj, f->name, json_string("bogus"), path, "expected one of \"");
            with_value(root, obj, f->name, json_string(""), path, "expected one of \"");
            /* Names are case-sensitive. */
            char up[32];
            snprintf(up, sizeof up, "%s", f->names[1]);
            for (char *p = up; *p; p++)
                if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
            with_value(root, obj, f->name, json_string(up), path, "expected one of \"");
        }
        if (f->ftype == HC_SIG_FT_ERRCODE)
            with_value(root, obj, f->name, json_string("ENOPE"), path, "unknown error code");
        return;
    }
}

static void walk(json_t *root, json_t *obj, const hc_sig_schema_t *s, const char *path, mut_t mut)
{
    /* Unknown members are refused at every level. */
    if (mut == MUT_WRONG) {
        char p[256];
        snprintf(p, sizeof p, "%s.zz_extra", path);
        with_value(root, obj, "zz_extra", json_integer(1), p, "unknown field");
    }
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        char p[256];
        snprintf(p, sizeof p, "%s.%s", path, f->name);
        mutate(root, obj, f, p, mut);
        json_t *v = json_object_get(obj, f->name);
        if (!v) continue;
        if (f->ftype == HC_SIG_FT_ARR) {
            for (size_t k = 0; k < json_array_size(v); k++) {
                char pk[300];
                snprintf(pk, sizeof pk, "%s[%zu]", p, k);
                walk(root, json_array_get(v, k), f->item, pk, mut);
            }
        } else if (f->ftype == HC_SIG_FT_STRUCT) {
            walk(root, v, f->item, p, mut);
        }
    }
}

static void mutate_all(mut_t mut)
{
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        json_t *root = json_loads(examples[i], 0, NULL);
        ck_assert_ptr_nonnull(root);
        const char *name = json_string_value(json_object_get(root, "type"));
        hc_sig_type_t t = hc_sig_type_from_name(name);
        walk(root, root, hc_sig_schema(t), name, mut);
        json_decref(root);
    }
}

START_TEST(missing_required)
{
    mutate_all(MUT_MISSING);
}
END_TEST
START_TEST(wrong_types_and_unknown_fields)
{
    mutate_all(MUT_WRONG);
}
END_TEST
START_TEST(nulls)
{
    mutate_all(MUT_NULL);
}
END_TEST
START_TEST(out_of_range)
{
    mutate_all(MUT_RANGE);
}
END_TEST
START_TEST(too_long_and_empty)
{
    mutate_all(MUT_LONG);
}
END_TEST
START_TEST(bad_characters)
{
    mutate_all(MUT_CHARS);
}
END_TEST
START_TEST(bad_enums)
{
    mutate_all(MUT_ENUM);
}
END_TEST

START_TEST(error_texts)
{
    /* The exact text from the design brief. */
    hc_sig_msg_t *m = new_msg();
    ck_assert_int_eq(parse_s("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\","
                             "\"publish\":[{\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\","
                             "\"codec\":\"opus\"},{\"mid\":\"b\",\"kind\":\"screen\"}]}",
                             m),
                     -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.publish[1].kind: expected one of \"audio\", \"video\", \"data\"");
    /* The request id survives the failure so the error reply can echo it. */
    ck_assert_int_eq(m->type, HC_SIG_JOIN);
    ck_assert_int_eq(hc_sig_request_id(m), 4);
    hc_sig_msg_fini(m);

    expect_schema("{\"type\":\"ping\"}", "ping.id", "required");
    ck_assert_str_eq(err, "ping.id: required");
    expect_schema("{\"type\":\"ping\",\"id\":0}", "ping.id", "0 out of range 1..2147483647");
    expect_schema("{\"type\":\"budget\",\"kbps\":63}", "budget.kbps",
                  "63 out of range 0 or 64..100000");
    expect_schema("{\"id\":1}", "type", "required");
    expect_schema("{\"type\":5}", "type", "expected string");
    expect_schema("{\"type\":\"PING\",\"id\":1}", "type", "unknown message type \"PING\"");
    expect_schema("{\"type\":\"bad\\\"\\n\",\"id\":1}", "type", "unknown message type \"bad??\"");
    expect_schema("[1,2]", "message", "expected a JSON object");
    expect_schema("{\"type\":\"ping\",\"id\":1,\"a\\u0001\\\"b\":1}", "ping.a??b", "unknown field");
    ck_assert_int_eq(parse_s("{\"type\":\"ping\",\"id\":0}", m), -HC_ESCHEMA);
    ck_assert_int_eq(hc_sig_request_id(m), 0); /* an invalid id is not echoed */
    ck_assert_int_eq(m->type, HC_SIG_PING);
    free_msg(m);

    /* errcap is respected, including 0 and NULL. */
    char small[8];
    hc_sig_msg_t *m2 = new_msg();
    ck_assert_int_eq(hc_sig_parse("{\"type\":\"ping\"}", 15, m2, small, sizeof small), -HC_ESCHEMA);
    ck_assert_str_eq(small, "ping.id");
    ck_assert_int_eq(hc_sig_parse("{\"type\":\"ping\"}", 15, m2, NULL, 0), -HC_ESCHEMA);
    ck_assert_int_eq(hc_sig_parse("{\"type\":\"ping\"}", 15, m2, small, 0), -HC_ESCHEMA);
    free_msg(m2);
}
END_TEST

START_TEST(cross_field_rules)
{
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"h264\"}]}",
                  "join.publish[0].codec", "\"h264\" does not go with kind \"audio\"");
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"video\",\"tag\":\"control\",\"codec\":\"h264\"}]}",
                  "join.publish[0].tag", "does not go with kind \"video\"");
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\",\"fps\":"
                  "30}]}",
                  "join.publish[0].fps", "only for kind \"video\"");
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\",\"layer\":"
                  "1}]}",
                  "join.publish[0].layer", "for kind \"video\" only");
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"video\",\"tag\":\"main\",\"codec\":\"h264\",\"layer\":"
                  "4}]}",
                  "join.publish[0].layer", "");
    expect_schema("{\"type\":\"join\",\"id\":4,\"session\":\"s\",\"site\":\"x\",\"publish\":[{"
                  "\"mid\":\"a\",\"kind\":\"data\",\"tag\":\"control\",\"codec\":\"json\"},{"
                  "\"mid\":\"a\",\"kind\":\"audio\",\"tag\":\"audio\",\"codec\":\"opus\"}]}",
                  "join.publish[1].mid", "duplicate of publish[0].mid");
    expect_schema("{\"type\":\"create\",\"id\":1,\"kind\":\"class\",\"last_n\":4}", "create.last_n",
                  "only for kind \"conference\"");
    expect_schema("{\"type\":\"create\",\"id\":1,\"kind\":\"class\",\"control_deadline_ms\":300}",
                  "create.control_deadline_ms", "only for kind \"consult\"");
    expect_schema("{\"type\":\"mint_token\",\"id\":1,\"role\":\"teacher\",\"ttl_s\":60}",
                  "mint_token.session", "required unless role is \"admin\"");
    expect_schema("{\"type\":\"sessions\",\"id\":1,\"total\":0,\"offset\":0,\"items\":[{"
                  "\"session\":\"s\",\"kind\":\"class\",\"created_ms\":1,\"participants\":1,"
                  "\"publishers\":1,\"in_kbps\":1,\"out_kbps\":1}]}",
                  "sessions.total", "less than offset + items");
    expect_schema("{\"type\":\"participants\",\"id\":1,\"session\":\"s\",\"total\":4294967295,"
                  "\"offset\":4294967295,\"items\":[{\"participant\":\"p\",\"site\":\"x\","
                  "\"role\":\"site\",\"joined_ms\":1,\"hand\":false,\"legs\":[{\"ssrc\":1,\"dir\":"
                  "\"out\",\"kind\":\"data\",\"tag\":\"main\",\"kbps\":1,\"loss\":0,\"rtt_ms\":1,"
                  "\"jitter_ms\":1,\"nacks\":1,\"plis\":1}]}]}",
                  "participants.items[0].legs[0].tag", "does not go with kind \"data\"");
    /* aes-cm keys are 30 bytes, gcm keys 28. */
    char text[1024];
    snprintf(text, sizeof text, "%s", examples[8]);
    char *suite = strstr(text, "\"suite\":\"gcm\"");
    ck_assert_ptr_nonnull(suite);
    memcpy(suite, "\"suite\":\"xxx\"", 13);
    char fixed[1100];
    snprintf(fixed, sizeof fixed, "%.*s\"suite\":\"aes-cm\"%s", (int)(suite - text), text,
             suite + 13);
    expect_schema(fixed, "joined.media.key_up", "28 bytes, suite \"aes-cm\" needs 30");
    char *jp = strstr(fixed, "\"participants_total\":1");
    ck_assert_ptr_nonnull(jp);
    hc_sig_msg_t *m = new_msg();
    ck_assert_int_eq(parse_s(examples[8], m), 0);
    m->joined.participants_total = 0;
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "joined.participants_total: less than the 1 participants listed");
    free_msg(m);
}
END_TEST

START_TEST(invalid_json)
{
    static const char *const bad[] = {
        "",
        "{",
        "{\"type\":\"ping\",\"id\":1",
        "{\"type\":\"ping\",\"id\":1} x",
        "{\"type\":\"ping\",\"id\":1}{}",
        "{\"type\":\"ping\",\"id\":1,}",
        "{'type':'ping','id':1}",
        "{\"type\":\"ping\",\"id\":01}",
        "{\"type\":\"ping\",\"id\":1,\"id\":2}",          /* duplicate member */
        "{\"type\":\"ping\",\"type\":\"ping\",\"id\":1}", /* duplicate type */
        "{\"type\":\"kicked\",\"reason\":\"a\\u0000b\"}", /* NUL in a string */
        "{\"type\":\"kicked\",\"reason\":\"\xff\"}",      /* not UTF-8 */
        "{\"type\":\"kicked\",\"reason\":\"\xc0\xaf\"}",  /* overlong */
        "{\"type\":\"kicked\",\"reason\":\"\\ud800\"}",   /* lone surrogate */
        "{\"type\":\"ping\",\"id\":99999999999999999999999}",
        "42",
        "\"ping\"",
        "null",
    };
    hc_sig_msg_t *m = new_msg();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse_s(bad[i], m);
        ck_assert_msg(rc == -HC_EJSON, "%s -> %d (%s)", bad[i], rc, err);
        ck_assert_msg(!strncmp(err, "json: ", 6), "%s", err);
        ck_assert_int_eq(m->type, HC_SIG_NONE);
    }
    /* NUL bytes inside the frame are not JSON either. */
    ck_assert_int_eq(parse("{\"type\":\"ping\",\"id\":1}\0", 23, m), -HC_EJSON);
    ck_assert_int_eq(hc_sig_parse(NULL, 0, m, err, sizeof err), -HC_EJSON);
    ck_assert_int_eq(hc_sig_parse(NULL, 5, m, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_parse("{}", 2, NULL, err, sizeof err), -HC_EINVAL);
    free_msg(m);
}
END_TEST

START_TEST(oversize)
{
    /* Exactly HC_SIG_MAX_TEXT bytes (padded with JSON whitespace) is fine;
     * one more is refused before any parsing. */
    size_t n = HC_SIG_MAX_TEXT;
    char *t = malloc(n + 1);
    memset(t, ' ', n + 1);
    memcpy(t, "{\"type\":\"ping\",\"id\":1}", 22);
    hc_sig_msg_t *m = new_msg();
    ck_assert_int_eq(parse(t, n, m), 0);
    hc_sig_msg_fini(m);
    ck_assert_int_eq(parse(t, n + 1, m), -HC_ERANGE);
    ck_assert_str_eq(err, "frame: 65537 bytes, at most 65536");
    free(t);

    /* Arrays longer than their cap. */
    char big[4096];
    size_t o = (size_t)snprintf(big, sizeof big,
                                "{\"type\":\"join\",\"id\":1,\"session\":\"s\",\"site\":\"x\","
                                "\"publish\":[");
    for (int i = 0; i <= HC_SIG_STREAMS_MAX; i++)
        o += (size_t)snprintf(big + o, sizeof big - o,
                              "%s{\"mid\":\"m%d\",\"kind\":\"audio\",\"tag\":\"audio\","
                              "\"codec\":\"opus\"}",
                              i ? "," : "", i);
    snprintf(big + o, sizeof big - o, "]}");
    expect_schema(big, "join.publish", "more than 8 items");

    /* The control body is limited as compact JSON, not as sent. */
    char *body = malloc(HC_SIG_BODY_MAX + 200);
    for (int extra = 0; extra <= 1; extra++) {
        size_t sl = HC_SIG_BODY_MAX - 8 + (size_t)extra; /* {"k":"..."} */
        char *s = malloc(sl + 1);
        memset(s, 'x', sl);
        s[sl] = '\0';
        snprintf(body, HC_SIG_BODY_MAX + 200,
                 "{\"type\":\"control\",\"seq\":1,\"body\":{ \"k\" : \"%s\" }}", s);
        free(s);
        if (!extra) {
            ck_assert_int_eq(parse_s(body, m), 0);
            hc_sig_msg_fini(m);
        } else {
            expect_schema(body, "control.body", "4097 bytes as compact JSON, at most 4096");
        }
    }
    free(body);
    expect_schema("{\"type\":\"control\",\"seq\":1,\"body\":[1]}", "control.body",
                  "expected object");
    free_msg(m);
}
END_TEST

START_TEST(every_truncation)
{
    hc_sig_msg_t *m = new_msg();
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        size_t n = strlen(examples[i]);
        for (size_t k = 0; k < n; k++) {
            int rc = parse(examples[i], k, m);
            ck_assert_msg(rc == -HC_EJSON, "example %zu cut at %zu -> %d", i, k, rc);
        }
    }
    free_msg(m);
}
END_TEST

/* ---- messages at their limits: fill every field with its longest value ---- */

static size_t longest_name(const hc_sig_field_t *f)
{
    size_t best = 1;
    for (size_t i = 1; i < f->n_names; i++)
        if (strlen(f->names[i]) > strlen(f->names[best])) best = i;
    return best;
}

static void fill(const hc_sig_schema_t *s, char *obj, unsigned salt)
{
    for (size_t i = 0; i < s->n_fields; i++) {
        const hc_sig_field_t *f = &s->fields[i];
        char *p = obj + f->off;
        if (f->has_flag) *(bool *)(obj + f->has_off) = true;
        switch (f->ftype) {
        case HC_SIG_FT_ID:
        case HC_SIG_FT_NULLID:
            memset(p, 'z', (size_t)f->max);
            p[f->max] = '\0';
            p[f->max - 1] = (char)('a' + salt % 26);
            break;
        case HC_SIG_FT_HOST:
            memset(p, '9', (size_t)f->max);
            p[f->max] = '\0';
            break;
        case HC_SIG_FT_TEXT: /* every byte needs escaping */
            memset(p, '"', (size_t)f->max);
            p[f->max] = '\0';
            break;
        case HC_SIG_FT_B64: {
            uint8_t key[30];
            memset(key, 0x5a, sizeof key);
            ck_assert_int_gt(hc_b64_encode(key, sizeof key, p, f->size), 0);
            break;
        }
        case HC_SIG_FT_U32:
        case HC_SIG_FT_U32Z: *(uint32_t *)p = (uint32_t)f->max; break;
        case HC_SIG_FT_I64: *(int64_t *)p = f->max; break;
        case HC_SIG_FT_F64:
            *(double *)p = f->fmin + (f->fmax - f->fmin) * 0.7123456789012345;
            break;
        case HC_SIG_FT_BOOL: *(bool *)p = false; break;
        case HC_SIG_FT_ENUM: {
            int v = (int)longest_name(f);
            memcpy(p, &v, sizeof v);
            break;
        }
        case HC_SIG_FT_ERRCODE: {
            int best = 1;
            for (int c = 1; c < HC_ERR_COUNT; c++)
                if (strlen(hc_errname(c)) > strlen(hc_errname(best))) best = c;
            *(int *)p = best;
            break;
        }
        case HC_SIG_FT_OBJ: {
            json_t *b = json_object();
            json_object_set_new(b, "k", repeat('x', (size_t)f->max - 8));
            *(json_t **)p = b;
            break;
        }
        case HC_SIG_FT_ARR:
            *(size_t *)(obj + f->count_off) = (size_t)f->max;
            for (int64_t k = 0; k < f->max; k++) fill(f->item, p + k * f->item->size, (unsigned)k);
            break;
        case HC_SIG_FT_STRUCT: fill(f->item, p, 0); break;
        }
    }
    /* Rules across fields, met with the longest values that obey them. */
    if (!strcmp(s->name, "stream_pub") || !strcmp(s->name, "stream_info")) {
        hc_sig_stream_info_t *x = (void *)obj; /* kind, tag, codec */
        if (!strcmp(s->name, "stream_pub")) {
            hc_sig_stream_pub_t *y = (void *)obj;
            y->kind = HC_SIG_MEDIA_VIDEO, y->tag = HC_SIG_TAG_DIAGNOSTIC,
            y->codec = HC_SIG_CODEC_H264;
        } else {
            x->kind = HC_SIG_MEDIA_VIDEO, x->tag = HC_SIG_TAG_DIAGNOSTIC,
            x->codec = HC_SIG_CODEC_H264;
        }
    } else if (!strcmp(s->name, "leg")) {
        hc_sig_leg_t *x = (void *)obj;
        x->kind = HC_SIG_MEDIA_VIDEO, x->tag = HC_SIG_TAG_DIAGNOSTIC;
    } else if (!strcmp(s->name, "create")) {
        hc_sig_create_t *x = (void *)obj;
        x->has_control_deadline_ms = false, x->control_deadline_ms = 300;
    } else if (!strcmp(s->name, "sessions")) {
        hc_sig_sessions_t *x = (void *)obj;
        x->offset = x->total - (uint32_t)x->n_items;
    } else if (!strcmp(s->name, "participants")) {
        hc_sig_participants_t *x = (void *)obj;
        x->offset = x->total - (uint32_t)x->n_items;
    }
}

START_TEST(every_type_at_its_limits)
{
    hc_sig_msg_t *m = new_msg(), *m2 = new_msg();
    static char out[HC_SIG_MAX_TEXT + 1], out2[HC_SIG_MAX_TEXT + 1];
    for (int t = 1; t < HC_SIG_TYPE_COUNT; t++) {
        ck_assert_int_eq(hc_sig_msg_init(m, (hc_sig_type_t)t), 0);
        fill(hc_sig_schema((hc_sig_type_t)t), (char *)&m->hello, 0);
        ck_assert_msg(hc_sig_validate(m, err, sizeof err) == 0, "%s", err);
        int n = hc_sig_write(m, out, sizeof out);
        ck_assert_msg(n > 0, "%s: %d", hc_sig_type_name((hc_sig_type_t)t), n);
        size_t bound = hc_sig_max_len((hc_sig_type_t)t);
        ck_assert_int_le((size_t)n, bound);
        ck_assert_int_le(bound, HC_SIG_MAX_TEXT);
        ck_assert_msg(parse(out, (size_t)n, m2) == 0, "%s", err);
        ck_assert_int_eq(hc_sig_write(m2, out2, sizeof out2), n);
        ck_assert(memcmp(out, out2, (size_t)n) == 0);
        if (t == HC_SIG_CONTROL) { /* compare the rest, bodies as JSON */
            ck_assert(json_equal(m->control.body, m2->control.body));
            json_decref(m2->control.body);
            m2->control.body = m->control.body;
        }
        ck_assert(memcmp(m, m2, sizeof *m) == 0);
        if (t == HC_SIG_CONTROL) m2->control.body = NULL;
        hc_sig_msg_fini(m);
        hc_sig_msg_fini(m2);
    }
    ck_assert_int_eq(hc_sig_max_len(HC_SIG_NONE), 0);
    ck_assert_int_eq(hc_sig_max_len(HC_SIG_TYPE_COUNT), 0);
    free_msg(m);
    free_msg(m2);
}
END_TEST

START_TEST(write_capacity)
{
    hc_sig_msg_t *m = new_msg();
    for (size_t i = 0; i < N_EXAMPLES; i++) {
        ck_assert_int_eq(parse_s(examples[i], m), 0);
        size_t n = strlen(examples[i]);
        for (size_t cap = 0; cap <= n; cap++) {
            char *b = malloc(cap ? cap : 1);
            ck_assert_int_eq(hc_sig_write(m, b, cap), -HC_ENOSPC);
            if (cap) ck_assert_int_eq(b[0], '\0');
            free(b);
        }
        char *b = malloc(n + 1);
        ck_assert_int_eq(hc_sig_write(m, b, n + 1), (int)n);
        ck_assert_str_eq(b, examples[i]);
        free(b);
        hc_sig_msg_fini(m);
    }
    free_msg(m);
}
END_TEST

START_TEST(write_validates)
{
    hc_sig_msg_t *m = new_msg();
    char out[1024];
    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_JOIN), 0);
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.id: 0 out of range 1..2147483647");
    m->join.id = 1;
    strcpy(m->join.session, "math-101");
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.site: required");
    strcpy(m->join.site, "Room\t3");
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.site: control character not allowed");
    strcpy(m->join.site, "Room 3");
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out, "{\"type\":\"join\",\"id\":1,\"session\":\"math-101\",\"site\":\"Room "
                          "3\",\"publish\":[]}");
    /* Items start zeroed: their enums are NONE and get caught. */
    m->join.n_publish = 1;
    strcpy(m->join.publish[0].mid, "a0");
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.publish[0].kind: expected one of \"audio\", \"video\", \"data\"");
    m->join.publish[0].kind = HC_SIG_MEDIA_AUDIO;
    m->join.publish[0].tag = HC_SIG_TAG_AUDIO;
    m->join.publish[0].codec = HC_SIG_CODEC_OPUS;
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    m->join.n_publish = HC_SIG_STREAMS_MAX + 1;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    m->join.n_publish = 1;
    memset(m->join.session, 'a', sizeof m->join.session); /* no NUL inside */
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.session: not NUL-terminated within 65 bytes");
    strcpy(m->join.session, "bad id");
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    strcpy(m->join.session, "ok");
    strcpy(m->join.site, "\xe4\xb8");
    ck_assert_int_eq(hc_sig_validate(m, err, sizeof err), -HC_ESCHEMA);
    ck_assert_str_eq(err, "join.site: invalid UTF-8");
    strcpy(m->join.site, "\xed\xa0\x80"); /* UTF-16 surrogate */
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    strcpy(m->join.site, "\xf4\x90\x80\x80"); /* above U+10FFFF */
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    strcpy(m->join.site, "\xf0\x9f\x8f\xab"); /* U+1F3EB school */
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    m->join.has_suite = true;
    m->join.suite = (hc_sig_suite_t)7;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    hc_sig_msg_fini(m);

    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_CONTROL_RTT), 0);
    m->control_rtt.rtt_ms = NAN;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    m->control_rtt.rtt_ms = INFINITY;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    m->control_rtt.rtt_ms = 600000;
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    hc_sig_msg_fini(m);

    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_CONTROL), 0);
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA); /* body required */
    m->control.body = json_array();
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);
    json_decref(m->control.body);
    m->control.body = json_pack("{s:[i,i], s:s}", "xy", 3, -4, "note", "\x01");
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(
        out, "{\"type\":\"control\",\"seq\":0,\"body\":{\"xy\":[3,-4],\"note\":\"\\u0001\"}}");
    hc_sig_msg_fini(m); /* drops the body reference (LSan checks) */

    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_ERROR), 0);
    strcpy(m->error.reason, "x");
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA); /* code 0 */
    m->error.code = HC_ERR_COUNT;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_ESCHEMA);

    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_NONE), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_msg_init(m, HC_SIG_TYPE_COUNT), -HC_EINVAL);
    m->type = HC_SIG_TYPE_COUNT;
    ck_assert_int_eq(hc_sig_write(m, out, sizeof out), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_validate(NULL, err, sizeof err), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_write(NULL, out, sizeof out), -HC_EINVAL);
    hc_sig_msg_fini(NULL);
    free(m);
}
END_TEST

START_TEST(error_reply)
{
    hc_sig_msg_t *m = new_msg();
    char out[1024];
    ck_assert_int_eq(hc_sig_error_init(m, 7, -HC_EPERM, "role site may not send grant_floor"), 0);
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out, examples[4]);
    ck_assert_int_eq(hc_sig_request_id(m), 7);

    ck_assert_int_eq(hc_sig_error_init(m, 0, HC_ETOKEN, NULL), 0);
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);
    ck_assert_str_eq(out,
                     "{\"type\":\"error\",\"code\":\"ETOKEN\",\"reason\":\"malformed token\"}");
    ck_assert_int_eq(hc_sig_request_id(m), 0);

    /* Parse errors make good reasons: control characters become spaces,
     * stray bytes '?', and long texts are cut on a character boundary. */
    ck_assert_int_eq(hc_sig_error_init(m, 3, HC_ESCHEMA,
                                       "a\nb\x80"
                                       "c"),
                     0);
    ck_assert_str_eq(m->error.reason, "a b?c");
    char long_reason[400];
    memset(long_reason, 'x', 255);
    strcpy(long_reason + 255, "\xe4\xb8\x8a tail");
    ck_assert_int_eq(hc_sig_error_init(m, 3, HC_ESCHEMA, long_reason), 0);
    ck_assert_int_eq(strlen(m->error.reason), 255);
    ck_assert_int_gt(hc_sig_write(m, out, sizeof out), 0);

    ck_assert_int_eq(hc_sig_error_init(m, 1, 0, "x"), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_error_init(m, 1, HC_ERR_COUNT, "x"), -HC_EINVAL);
    ck_assert_int_eq(hc_sig_error_init(NULL, 1, HC_EPERM, "x"), -HC_EINVAL);

    /* Every code has a wire name that parses back. */
    for (int c = 1; c < HC_ERR_COUNT; c++) {
        ck_assert_int_eq(hc_sig_error_init(m, 1, c, NULL), 0);
        int n = hc_sig_write(m, out, sizeof out);
        ck_assert_int_gt(n, 0);
        hc_sig_msg_t *back = new_msg();
        ck_assert_int_eq(parse(out, (size_t)n, back), 0);
        ck_assert_int_eq(back->error.code, c);
        free_msg(back);
    }
    free_msg(m);
}
END_TEST

START_TEST(names_directions_roles)
{
    for (int t = 1; t < HC_SIG_TYPE_COUNT; t++) {
        const char *name = hc_sig_type_name((hc_sig_type_t)t);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(hc_sig_type_from_name(name), t);
        ck_assert_ptr_nonnull(hc_sig_schema((hc_sig_type_t)t));
        hc_sig_dir_t d = hc_sig_type_dir((hc_sig_type_t)t);
        ck_assert(d == HC_SIG_C2S || d == HC_SIG_S2C || d == HC_SIG_BOTH);
        /* Clients may send exactly the types that are not relay-only. */
        bool any = false;
        for (int r = 1; r < HC_SIG_ROLE_COUNT; r++)
            any |= hc_sig_role_may_send((hc_sig_role_t)r, (hc_sig_type_t)t);
        ck_assert_int_eq(any, d != HC_SIG_S2C);
    }
    ck_assert_ptr_null(hc_sig_type_name(HC_SIG_NONE));
    ck_assert_ptr_null(hc_sig_type_name(HC_SIG_TYPE_COUNT));
    ck_assert_ptr_null(hc_sig_schema(HC_SIG_NONE));
    ck_assert_int_eq(hc_sig_type_from_name("Ping"), HC_SIG_NONE);
    ck_assert_int_eq(hc_sig_type_from_name(NULL), HC_SIG_NONE);
    ck_assert_int_eq(hc_sig_type_dir(HC_SIG_JOINED), HC_SIG_S2C);
    ck_assert_int_eq(hc_sig_type_dir(HC_SIG_CONTROL), HC_SIG_BOTH);

    ck_assert(hc_sig_role_may_send(HC_SIG_ROLE_TEACHER, HC_SIG_CREATE));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_SITE, HC_SIG_CREATE));
    ck_assert(hc_sig_role_may_send(HC_SIG_ROLE_SITE, HC_SIG_RAISE_HAND));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_TEACHER, HC_SIG_RAISE_HAND));
    ck_assert(hc_sig_role_may_send(HC_SIG_ROLE_CLINICIAN, HC_SIG_CONTROL));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_VIEWER, HC_SIG_CONTROL));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_TEACHER, HC_SIG_MINT_TOKEN));
    ck_assert(hc_sig_role_may_send(HC_SIG_ROLE_ADMIN, HC_SIG_MINT_TOKEN));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_ADMIN, HC_SIG_JOINED));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_NONE, HC_SIG_PING));
    ck_assert(!hc_sig_role_may_send(HC_SIG_ROLE_COUNT, HC_SIG_PING));

    ck_assert_str_eq(hc_sig_role_name(HC_SIG_ROLE_CLINICIAN), "clinician");
    ck_assert_int_eq(hc_sig_role_from_name("viewer"), HC_SIG_ROLE_VIEWER);
    ck_assert_int_eq(hc_sig_role_from_name("root"), HC_SIG_ROLE_NONE);
    ck_assert_ptr_null(hc_sig_role_name(HC_SIG_ROLE_NONE));
    ck_assert_str_eq(hc_sig_suite_name(HC_SIG_SUITE_AES_CM), "aes-cm");
    ck_assert_int_eq(hc_sig_alarm_kind_from_name("link_down"), HC_SIG_ALARM_LINK_DOWN);
    ck_assert_str_eq(hc_sig_gone_name(HC_SIG_GONE_KICKED), "kicked");

    /* Every enumeration: names round-trip, NONE and COUNT have none. */
#define ENUM_ROUND_TRIP(tag, P)                                                                    \
    for (int v = 1; v < HC_SIG_##P##_COUNT; v++)                                                   \
        ck_assert_int_eq(hc_sig_##tag##_from_name(hc_sig_##tag##_name((hc_sig_##tag##_t)v)), v);   \
    ck_assert_ptr_null(hc_sig_##tag##_name(HC_SIG_##P##_NONE));                                    \
    ck_assert_ptr_null(hc_sig_##tag##_name(HC_SIG_##P##_COUNT));                                   \
    ck_assert_int_eq(hc_sig_##tag##_from_name("nope"), HC_SIG_##P##_NONE);                         \
    ck_assert_int_eq(hc_sig_##tag##_from_name(NULL), HC_SIG_##P##_NONE);
    HC_SIG_ENUMS(ENUM_ROUND_TRIP)

    ck_assert(hc_sig_id_valid("a.B_9-z", 7));
    ck_assert(!hc_sig_id_valid("a:b", 3));
    ck_assert(hc_sig_text_valid("\xe4\xb8\x8a \"x\"", 7));
    ck_assert(!hc_sig_text_valid("a\x1f", 2));
}
END_TEST

/* Every ```json block in proto/SIGNALING.md must parse, and together they
 * must show every message type: the document cannot drift from the code. */
START_TEST(doc_examples_parse)
{
    char path[1024];
    const char *self = __FILE__;
    const char *tail = strstr(self, "tests/unit/test_sig.c");
    ck_assert_ptr_nonnull(tail);
    snprintf(path, sizeof path, "%.*sproto/SIGNALING.md", (int)(tail - self), self);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';

    bool seen[HC_SIG_TYPE_COUNT] = {false};
    int blocks = 0;
    hc_sig_msg_t *m = new_msg();
    for (char *p = strstr(doc, "```json\n"); p; p = strstr(p, "```json\n")) {
        p += 8;
        char *end = strstr(p, "```");
        ck_assert_ptr_nonnull(end);
        int rc = parse(p, (size_t)(end - p), m);
        ck_assert_msg(rc == 0, "doc example %d: %s\n%.*s", blocks, err, (int)(end - p), p);
        seen[m->type] = true;
        hc_sig_msg_fini(m);
        blocks++;
        p = end + 3;
    }
    free_msg(m);
    for (int t = 1; t < HC_SIG_TYPE_COUNT; t++)
        ck_assert_msg(seen[t], "SIGNALING.md has no example of %s",
                      hc_sig_type_name((hc_sig_type_t)t));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sig");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, examples_cover_every_type);
    tcase_add_test(tc, examples_parse_and_write_back);
    tcase_add_test(tc, parsed_values);
    tcase_add_test(tc, missing_required);
    tcase_add_test(tc, wrong_types_and_unknown_fields);
    tcase_add_test(tc, nulls);
    tcase_add_test(tc, out_of_range);
    tcase_add_test(tc, too_long_and_empty);
    tcase_add_test(tc, bad_characters);
    tcase_add_test(tc, bad_enums);
    tcase_add_test(tc, error_texts);
    tcase_add_test(tc, cross_field_rules);
    tcase_add_test(tc, invalid_json);
    tcase_add_test(tc, oversize);
    tcase_add_test(tc, every_truncation);
    tcase_add_test(tc, every_type_at_its_limits);
    tcase_add_test(tc, write_capacity);
    tcase_add_test(tc, write_validates);
    tcase_add_test(tc, error_reply);
    tcase_add_test(tc, names_directions_roles);
    tcase_add_test(tc, doc_examples_parse);
    suite_add_tcase(s, tc);
    return s;
}

HC_TEST_MAIN(suite)
