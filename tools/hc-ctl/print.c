/*
 * print.c - hc-ctl's output: aligned plain-text tables for people, JSON
 * (the schema's own field names, via hc_sig_write) for scripts.
 */
#include "tools/hc-ctl/ctl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* "3h05m", "42s": how long ago t_ms was. */
static void age(char *buf, size_t cap, int64_t now_ms, int64_t t_ms)
{
    int64_t s = (now_ms - t_ms) / 1000;
    if (s < 0) s = 0;
    if (s < 60)
        snprintf(buf, cap, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
    else
        snprintf(buf, cap, "%lldd%02lldh", (long long)(s / 86400), (long long)(s / 3600 % 24));
}

void print_sessions(FILE *f, const ctl_sessions_t *s, int64_t now_ms)
{
    if (!s->n) {
        fprintf(f, "no sessions\n");
        return;
    }
    fprintf(f, "%-24s %-10s %-24s %6s %5s %9s %9s %8s\n", "SESSION", "KIND", "TITLE", "PARTS",
            "PUBS", "IN_KBPS", "OUT_KBPS", "AGE");
    for (size_t i = 0; i < s->n; i++) {
        const hc_sig_session_info_t *r = &s->items[i];
        char a[32];
        age(a, sizeof a, now_ms, r->created_ms);
        fprintf(f, "%-24s %-10s %-24s %6u %5u %9u %9u %8s\n", r->session, hc_sig_kind_name(r->kind),
                r->title[0] ? r->title : "-", r->participants, r->publishers, r->in_kbps,
                r->out_kbps, a);
    }
    if (s->total > s->n) fprintf(f, "(%u more not shown)\n", s->total - (uint32_t)s->n);
}

void print_participants(FILE *f, const ctl_participants_t *p, int64_t now_ms)
{
    fprintf(f, "session %s: %u participant%s\n", p->session, p->total, p->total == 1 ? "" : "s");
    if (!p->n) return;
    fprintf(f, "%-16s %-20s %-9s %-4s %-22s %8s\n", "PARTICIPANT", "SITE", "ROLE", "HAND", "ADDR",
            "JOINED");
    for (size_t i = 0; i < p->n; i++) {
        const hc_sig_participant_info_t *r = &p->items[i];
        char a[32];
        age(a, sizeof a, now_ms, r->joined_ms);
        fprintf(f, "%-16s %-20s %-9s %-4s %-22s %8s\n", r->participant, r->site,
                hc_sig_role_name(r->role), r->hand ? "up" : "-", r->addr[0] ? r->addr : "-", a);
        if (!r->n_legs) continue;
        fprintf(f, "    %-10s %-3s %-5s %-10s %7s %6s %6s %7s %6s %5s %5s %9s\n", "SSRC", "DIR",
                "KIND", "TAG", "KBPS", "LOSS%", "RTT", "JITTER", "NACKS", "PLIS", "LAYER",
                "DOWNLINK");
        for (size_t k = 0; k < r->n_legs; k++) {
            const hc_sig_leg_t *l = &r->legs[k];
            char lay[8] = "-", est[16] = "-";
            if (l->has_layer) snprintf(lay, sizeof lay, "%u", l->layer);
            if (l->has_estimate_kbps) snprintf(est, sizeof est, "%ukb/s", l->estimate_kbps);
            fprintf(f, "    %-10u %-3s %-5s %-10s %7u %6.1f %4ums %5ums %6u %5u %5s %9s\n", l->ssrc,
                    hc_sig_legdir_name(l->dir), hc_sig_media_name(l->kind), hc_sig_tag_name(l->tag),
                    l->kbps, l->loss * 100.0, l->rtt_ms, l->jitter_ms, l->nacks, l->plis, lay, est);
        }
    }
    if (p->total > p->n) fprintf(f, "(%u more not shown)\n", p->total - (uint32_t)p->n);
}

void print_stats(FILE *f, const hc_sig_stats_reply_t *s)
{
    fprintf(f,
            "sessions      %u\n"
            "participants  %u\n"
            "legs          %u\n"
            "in_kbps       %u\n"
            "out_kbps      %u\n"
            "uptime_s      %lld\n",
            s->sessions, s->participants, s->legs, s->in_kbps, s->out_kbps, (long long)s->uptime_s);
}

void print_msg_json(FILE *f, const hc_sig_msg_t *m)
{
    size_t cap = hc_sig_max_len(m->type) + 1;
    char *buf = malloc(cap);
    if (buf && hc_sig_write(m, buf, cap) >= 0) fprintf(f, "%s\n", buf);
    free(buf);
}

/* The items of a page message as a JSON array (written by hc_sig_write, so
 * the field names and forms are the schema's). */
static json_t *items_of(const hc_sig_msg_t *m)
{
    size_t cap = hc_sig_max_len(m->type) + 1;
    char *buf = malloc(cap);
    json_t *items = NULL;
    if (buf && hc_sig_write(m, buf, cap) >= 0) {
        json_t *o = json_loads(buf, 0, NULL);
        if (o) {
            items = json_incref(json_object_get(o, "items"));
            json_decref(o);
        }
    }
    free(buf);
    return items ? items : json_array();
}

void print_sessions_json(FILE *f, const ctl_sessions_t *s)
{
    json_t *all = json_array();
    hc_sig_msg_t *m = malloc(sizeof *m);
    for (size_t i = 0; m && i < s->n; i += HC_SIG_PAGE_MAX) {
        hc_sig_msg_init(m, HC_SIG_SESSIONS);
        m->sessions.id = 1;
        size_t k = s->n - i < HC_SIG_PAGE_MAX ? s->n - i : HC_SIG_PAGE_MAX;
        m->sessions.total = (uint32_t)(i + k);
        m->sessions.offset = (uint32_t)i;
        m->sessions.n_items = k;
        memcpy(m->sessions.items, s->items + i, k * sizeof *s->items);
        json_t *page = items_of(m);
        json_array_extend(all, page);
        json_decref(page);
    }
    free(m);
    json_t *o = json_pack("{s:I,s:o}", "total", (json_int_t)s->total, "items", all);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text) fprintf(f, "%s\n", text);
    free(text);
    json_decref(o);
}

void print_participants_json(FILE *f, const ctl_participants_t *p)
{
    json_t *all = json_array();
    hc_sig_msg_t *m = malloc(sizeof *m);
    for (size_t i = 0; m && i < p->n; i += HC_SIG_PPAGE_MAX) {
        hc_sig_msg_init(m, HC_SIG_PARTICIPANTS);
        m->participants.id = 1;
        snprintf(m->participants.session, sizeof m->participants.session, "%s", p->session);
        size_t k = p->n - i < HC_SIG_PPAGE_MAX ? p->n - i : HC_SIG_PPAGE_MAX;
        m->participants.total = (uint32_t)(i + k);
        m->participants.offset = (uint32_t)i;
        m->participants.n_items = k;
        memcpy(m->participants.items, p->items + i, k * sizeof *p->items);
        json_t *page = items_of(m);
        json_array_extend(all, page);
        json_decref(page);
    }
    free(m);
    json_t *o = json_pack("{s:s,s:I,s:o}", "session", p->session, "total", (json_int_t)p->total,
                          "items", all);
    char *text = json_dumps(o, JSON_COMPACT);
    if (text) fprintf(f, "%s\n", text);
    free(text);
    json_decref(o);
}
