/*
 * ctl.h - hc-ctl, the command-line client of hc-relay's admin API
 * (proto/SIGNALING.md, "Admin"), over edge/sigclient.h.
 *
 * main.c parses the command line and connects; commands.c runs one
 * command; print.c renders replies as tables or JSON. Exit status: 0 ok,
 * 1 the relay refused (code and reason on stderr) or could not be
 * reached, 2 usage.
 *
 * Ownership: everything lives for the one command. Threading: the main
 * thread only (the client has its own service thread).
 */
#ifndef HC_TOOLS_CTL_H
#define HC_TOOLS_CTL_H

#include "edge/sigclient.h"
#include "proto/sig.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifndef HC_VERSION
#define HC_VERSION "0.1.0"
#endif

#define CTL_EXIT_OK    0
#define CTL_EXIT_ERR   1
#define CTL_EXIT_USAGE 2

typedef struct ctl {
    const char *url;
    const char *token;
    const char *ca;
    bool insecure;
    bool json;
    int timeout_ms;
    hc_sigclient_t *c; /* connected on demand by ctl_connect */
    FILE *out, *err;
} ctl_t;

/* Connect and say hello with the token: 0, or CTL_EXIT_ERR after a message. */
int ctl_connect(ctl_t *x);

/* Send req (its id is set) and wait for the reply; on an `error` reply
 * prints "hc-ctl: CODE: reason" and returns CTL_EXIT_ERR. 0 with *rep
 * filled (hc_sig_msg_fini it). */
int ctl_call(ctl_t *x, hc_sig_msg_t *req, hc_sig_msg_t *rep);

/* Commands: argv[0] is the command name. Return an exit status. */
int cmd_sessions(ctl_t *x, int argc, char **argv);
int cmd_participants(ctl_t *x, int argc, char **argv);
int cmd_kick(ctl_t *x, int argc, char **argv);
int cmd_close(ctl_t *x, int argc, char **argv);
int cmd_token(ctl_t *x, int argc, char **argv);
int cmd_budget(ctl_t *x, int argc, char **argv);
int cmd_stats(ctl_t *x, int argc, char **argv);
int cmd_watch(ctl_t *x, int argc, char **argv);

/* Usage text to f. */
void ctl_usage(FILE *f);
/* "hc-ctl: <msg>" to x->err; returns CTL_EXIT_USAGE. */
int ctl_usage_error(ctl_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- print.c ---- */

/* All pages of `sessions` / `participants` merged in one struct. */
typedef struct ctl_sessions {
    uint32_t total;
    size_t n;
    hc_sig_session_info_t *items;
} ctl_sessions_t;

typedef struct ctl_participants {
    char session[HC_SIG_ID_MAX + 1];
    uint32_t total;
    size_t n;
    hc_sig_participant_info_t *items;
} ctl_participants_t;

void print_sessions(FILE *f, const ctl_sessions_t *s, int64_t now_ms);
void print_participants(FILE *f, const ctl_participants_t *p, int64_t now_ms);
void print_stats(FILE *f, const hc_sig_stats_reply_t *s);
void print_sessions_json(FILE *f, const ctl_sessions_t *s);
void print_participants_json(FILE *f, const ctl_participants_t *p);
/* One message as compact JSON and a newline. */
void print_msg_json(FILE *f, const hc_sig_msg_t *m);

#endif
