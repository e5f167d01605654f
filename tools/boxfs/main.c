/*
 * main.c — the boxfs command: `boxfs serve` runs a server, the other verbs
 * are clients of one. See boxfs(1).
 */
#include "cli.h"

#include <boxfs/common.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out, "usage: boxfs VERB [OPTIONS] [ARGS]\n"
		     "\n"
		     "Serving:\n"
		     "  serve       serve a RAM tree (and more) over 9P\n"
		     "  run [--ns FILE] -- PROGRAM ARGS...   run a program with served paths\n"
		     "\n"
		     "Client verbs (server address from -a ADDR, $BOXFS_ADDRESS, or the default "
		     "socket):\n"
		     "  ls [-l] [PATH...]     list directories\n"
		     "  stat PATH...          show attributes\n"
		     "  cat PATH...           print files\n"
		     "  write PATH            replace a file with standard input\n"
		     "  append PATH           append standard input to a file\n"
		     "  xwrite PATH DATA...   write DATA (joined by spaces) to a file\n"
		     "  create PATH...        create empty files\n"
		     "  mkdir [-p] PATH...    make directories\n"
		     "  rm [-r] PATH...       remove files (and directories with -r)\n"
		     "  mv OLD NEW            rename\n"
		     "  ln [-s] TARGET NAME   make a hard (or symbolic) link\n"
		     "  mount [ADDR] DIR      mount the server on DIR through FUSE\n"
		     "  umount DIR            unmount it\n"
		     "\n"
		     "Memfiles (address from -a ADDR, $BOXFS_MEM_ADDRESS, or the default "
		     "socket):\n"
		     "  mem list|cat|write|hold|lock|session ...\n"
		     "\n"
		     "Resea's interfaces (address from -a ADDR, $BOXFS_IDL_ADDRESS, or the "
		     "default socket):\n"
		     "  idl list|call|watch ...\n"
		     "\n"
		     "Plan B's boxes over op (address from -a ADDR, $BOXFS_BOX_ADDRESS, or the "
		     "default socket):\n"
		     "  box kind|make|rm|sel|get|put|copy|chinfo|link ...\n"
		     "\n"
		     "`boxfs VERB --help` tells more; see boxfs(1).\n");
}

void warnx_(const char *verb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "boxfs %s: ", verb);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int default_address(char *buf, size_t cap, const char *name, bool create)
{
	const char *run = getenv("XDG_RUNTIME_DIR");
	char dir[512];
	if (run && *run)
		snprintf(dir, sizeof dir, "%s/boxfs", run);
	else
		snprintf(dir, sizeof dir, "/tmp/boxfs-%u", (unsigned)getuid());
	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	int n = snprintf(buf, cap, "unix!%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10, end++;
		break;
	case 'm':
	case 'M':
		shift = 20, end++;
		break;
	case 'g':
	case 'G':
		shift = 30, end++;
		break;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end || (shift && v > (~0ull >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

int main(int argc, char **argv)
{
	/* `boxfs -a ADDR VERB ...` is `boxfs VERB -a ADDR ...` */
	if (argc > 3 && strcmp(argv[1], "-a") == 0) {
		setenv(strcmp(argv[3], "mem") == 0   ? "BOXFS_MEM_ADDRESS"
		       : strcmp(argv[3], "idl") == 0 ? "BOXFS_IDL_ADDRESS"
		       : strcmp(argv[3], "box") == 0 ? "BOXFS_BOX_ADDRESS"
						     : "BOXFS_ADDRESS",
		       argv[2], 1);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
		printf("boxfs %d.%d.%d\n", BOXFS_VERSION_MAJOR, BOXFS_VERSION_MINOR,
		       BOXFS_VERSION_PATCH);
		return 0;
	}
	if (strcmp(verb, "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(verb, "mount") == 0)
		return cmd_mount(argc - 1, argv + 1);
	if (strcmp(verb, "umount") == 0)
		return cmd_umount(argc - 1, argv + 1);
	if (strcmp(verb, "mem") == 0)
		return cmd_mem(argc - 1, argv + 1);
	if (strcmp(verb, "idl") == 0)
		return cmd_idl(argc - 1, argv + 1);
	if (strcmp(verb, "box") == 0)
		return cmd_box(argc - 1, argv + 1);
	if (strcmp(verb, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	return cmd_client(argc - 1, argv + 1);
}
