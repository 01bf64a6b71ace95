/*
 * hc-bench - Hillcast benchmarks: `hc-bench <subcommand> [options]`.
 * See bench.h for how subcommands plug in; `hc-bench <name> --help` for
 * each one's options.
 */
#include "tools/hc-bench/bench.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const hc_bench_cmd_t cmds[] = {
    {"fanout", "one publisher fanned out to N SRTP subscribers: hc-relay vs a minimal forwarder",
     hc_bench_fanout},
    {"adapt", "edge uplink adaptation: capacity steps and cellular traces through hc-impair",
     hc_bench_adapt},
    {"loss", "frames on time under random and burst loss: repair on, off, and SRT", hc_bench_loss},
    {"encode", "edge encode path CPU per frame against the ffmpeg program", hc_bench_encode},
};

static int usage(FILE *out)
{
    fprintf(out, "usage: hc-bench <subcommand> [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\n'hc-bench <subcommand> --help' lists its options.\n");
    return out == stdout ? 0 : 2;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) return usage(stdout);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "hc-bench: unknown subcommand %s\n", argv[1]);
    return usage(stderr);
}
