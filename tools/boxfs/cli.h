/*
 * cli.h — shared pieces of the boxfs command: verbs, usage, defaults.
 */
#ifndef BOXFS_TOOLS_CLI_H
#define BOXFS_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* A verb's entry point: argv[0] is the verb's name. Returns the exit status. */
int cmd_serve(int argc, char **argv);
int cmd_client(int argc, char **argv);

int cmd_mem(int argc, char **argv);
int cmd_idl(int argc, char **argv);
int cmd_box(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* tools/fuse: the FUSE bridge (a stub that says so when built without FUSE) */
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);

/* A default Unix socket, name "9p" or "mem": $XDG_RUNTIME_DIR/boxfs/NAME,
 * else /tmp/boxfs-UID/NAME. With create, makes its directory (mode 0700). */
int default_address(char *buf, size_t cap, const char *name, bool create);

/* Prints "boxfs VERB: message" to stderr, printf-style. */
void warnx_(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a size with an optional K/M/G suffix (powers of 1024). */
int parse_size(const char *s, unsigned long long *out);

#endif
