/*
 * bench.h - hc-bench's subcommands. Each benchmark is one entry of
 * hc_bench_cmds[] (main.c): a name, a one-line summary, and a run function
 * taking the arguments after the name. `fanout` is the relay benchmark of
 * the relay issue; `adapt`, `loss` and `encode` are the edge benchmarks
 * (edgerig.h has what they share).
 *
 * Threading: each subcommand owns the process while it runs.
 */
#ifndef HC_BENCH_BENCH_H
#define HC_BENCH_BENCH_H

typedef struct hc_bench_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} hc_bench_cmd_t;

int hc_bench_fanout(int argc, char **argv);
int hc_bench_adapt(int argc, char **argv);
int hc_bench_loss(int argc, char **argv);
int hc_bench_encode(int argc, char **argv);

/* A loopback port of socktype (SOCK_STREAM, SOCK_DGRAM) the kernel hands
 * out and takes back, for a child process to bind; 0 on failure. */
unsigned short hc_bench_free_port(int socktype);

#endif
