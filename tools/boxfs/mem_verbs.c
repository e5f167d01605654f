/*
 * mem_verbs.c — `boxfs mem`: a memfile server from the shell. See boxfs(1).
 *
 * A memfile lives while a connection names it, and a lock while its
 * connection lasts; so the verbs that change things hold their connection
 * for as long as it matters: `hold` keeps a memfile alive, `lock` keeps the
 * lock while a command runs, and `session` runs a whole conversation read
 * from standard input.
 */
#include "cli.h"

#include <boxfs/memfile.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void mem_usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs mem [-a ADDR] VERB [ARGS]\n"
		"\n"
		"Memfiles of a boxfs server, over smdish. ADDR defaults to $BOXFS_MEM_ADDRESS,\n"
		"else the default socket ($XDG_RUNTIME_DIR/boxfs/mem).\n"
		"\n"
		"  list                      memfiles: segment size, whether locked, name\n"
		"  cat [--try] NAME          print the segment, read under the lock\n"
		"  write [--try] NAME        replace the segment with standard input (the\n"
		"                            rest is zero-filled); the segment must exist\n"
		"  hold NAME [SIZE]          keep NAME alive (with a SIZE-byte segment) until\n"
		"                            interrupted\n"
		"  lock [--try] NAME [CMD...] hold NAME's lock while CMD runs (its exit status\n"
		"                            is lock's), or until interrupted\n"
		"  session                   requests from standard input, one per line:\n"
		"                            open NAME, close FD, mmap FD SIZE [shared],\n"
		"                            munmap MAPFD, lock FD, trylock FD, unlock FD,\n"
		"                            peek MAPFD OFF LEN, poke MAPFD OFF TEXT, list,\n"
		"                            sleep SECONDS; each answers \"ok [N]\" or\n"
		"                            \"error NAME: text\"\n"
		"\n"
		"--try fails at once (status 1) when another client holds the lock.\n");
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Waits until SIGINT or SIGTERM. */
static void wait_interrupt(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!interrupted)
		pause();
}

static int print_entry(void *ctx, const char *name, uint32_t seg_size, bool locked)
{
	(void)ctx;
	printf("%10u %-6s %s\n", seg_size, locked ? "locked" : "-", name);
	return 0;
}

struct find {
	const char *name;
	uint32_t size;
	bool found;
};

static int find_entry(void *ctx, const char *name, uint32_t seg_size, bool locked)
{
	(void)locked;
	struct find *f = ctx;
	if (strcmp(name, f->name) != 0)
		return 0;
	f->size = seg_size;
	f->found = true;
	return 1;
}

/* Opens name and maps its segment (of the size the server lists); *seg is
 * NULL for a pure lock. Answers fd or -errno. */
static int open_mapped(struct boxfs_mem *m, const char *name, void **seg, size_t *size)
{
	int fd = boxfs_mem_open(m, name);
	if (fd < 0)
		return fd;
	struct find f = { .name = name };
	int r = boxfs_mem_list(m, find_entry, &f);
	*seg = NULL;
	*size = f.size;
	if (r < 0)
		return r;
	if (f.size && !(*seg = boxfs_mem_mmap(m, fd, f.size, 0, NULL)))
		return -errno;
	return fd;
}

static int lock_or_say(struct boxfs_mem *m, int fd, bool try, const char *verb, const char *name)
{
	int r = boxfs_mem_lock(m, fd, try ? BOXFS_MEM_TRY : 0);
	if (r == -EAGAIN)
		warnx_(verb, "%s is locked by another client", name);
	else if (r < 0)
		warnx_(verb, "lock %s: %s", name, strerror(-r));
	return r;
}

static int v_cat(struct boxfs_mem *m, const char *name, bool try)
{
	void *seg;
	size_t size;
	int fd = open_mapped(m, name, &seg, &size);
	if (fd < 0) {
		warnx_("mem cat", "%s: %s", name, strerror(-fd));
		return 1;
	}
	if (lock_or_say(m, fd, try, "mem cat", name) < 0)
		return 1;
	bool ok = size == 0 || fwrite(seg, 1, size, stdout) == size;
	boxfs_mem_unlock(m, fd);
	if (fflush(stdout) != 0 || !ok) {
		warnx_("mem cat", "writing: %s", strerror(errno));
		return 1;
	}
	return 0;
}

static int v_write(struct boxfs_mem *m, const char *name, bool try)
{
	void *seg;
	size_t size;
	int fd = open_mapped(m, name, &seg, &size);
	if (fd < 0) {
		warnx_("mem write", "%s: %s", name, strerror(-fd));
		return 1;
	}
	if (!seg) {
		warnx_("mem write", "%s has no segment", name);
		return 1;
	}
	char *in = malloc(size + 1);
	size_t n = in ? fread(in, 1, size + 1, stdin) : 0;
	if (!in || ferror(stdin) || n > size) {
		warnx_("mem write",
		       in && n > size ? "input larger than the segment (%zu bytes)"
				      : "reading standard input (%zu)",
		       size);
		free(in);
		return 1;
	}
	int r = lock_or_say(m, fd, try, "mem write", name);
	if (r == 0) {
		memcpy(seg, in, n);
		memset((char *)seg + n, 0, size - n);
		r = boxfs_mem_unlock(m, fd);
		if (r < 0)
			warnx_("mem write", "unlock %s: %s", name, strerror(-r));
	}
	free(in);
	return r < 0 ? 1 : 0;
}

static int v_hold(struct boxfs_mem *m, const char *name, const char *size_arg)
{
	unsigned long long size = 0;
	if (size_arg && (parse_size(size_arg, &size) < 0 || size == 0 || size > UINT32_MAX)) {
		warnx_("mem hold", "bad size: %s", size_arg);
		return 2;
	}
	int fd = boxfs_mem_open(m, name);
	if (fd < 0 || (size && !boxfs_mem_mmap(m, fd, size, 0, NULL))) {
		warnx_("mem hold", "%s: %s", name, strerror(fd < 0 ? -fd : errno));
		return 1;
	}
	printf("holding %s\n", name);
	fflush(stdout);
	wait_interrupt();
	return 0;
}

static int v_lock(struct boxfs_mem *m, const char *name, bool try, char **cmd)
{
	int fd = boxfs_mem_open(m, name);
	if (fd < 0) {
		warnx_("mem lock", "%s: %s", name, strerror(-fd));
		return 1;
	}
	if (lock_or_say(m, fd, try, "mem lock", name) < 0)
		return 1;
	if (!cmd[0]) {
		printf("locked %s\n", name);
		fflush(stdout);
		wait_interrupt();
		return 0;
	}
	pid_t pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		warnx_("mem lock", "%s: %s", cmd[0], strerror(errno));
		_exit(127);
	}
	int st = 0;
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	boxfs_mem_unlock(m, fd);
	if (pid < 0)
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- session ---- */

struct mapping {
	int mapfd;
	unsigned char *p;
	size_t size;
};

struct session {
	struct boxfs_mem *m;
	struct mapping maps[64];
	unsigned nmaps;
	bool failed;
};

static void answer(struct session *s, int r)
{
	if (r >= 0) {
		printf("ok %d\n", r);
		return;
	}
	const char *name = strerrorname_np(-r);
	printf("error %s: %s\n", name ? name : "?", strerror(-r));
	s->failed = true;
}

static struct mapping *mapping(struct session *s, int mapfd)
{
	for (unsigned i = 0; i < s->nmaps; i++)
		if (s->maps[i].mapfd == mapfd)
			return &s->maps[i];
	return NULL;
}

/* One request line. */
static void request(struct session *s, char *line)
{
	char *words[4] = { 0 };
	int n = 0;
	/* The fourth word is the rest of the line (poke's TEXT). */
	for (char *w = strtok(line, " \t\n"); w && n < 4; w = strtok(NULL, n == 3 ? "\n" : " \t\n"))
		words[n++] = w;
	if (n == 0 || words[0][0] == '#')
		return;
	const char *op = words[0];
	int a = n > 1 ? atoi(words[1]) : -1;
	if (strcmp(op, "open") == 0 && n == 2) {
		answer(s, boxfs_mem_open(s->m, words[1]));
	} else if (strcmp(op, "close") == 0 && n == 2) {
		answer(s, boxfs_mem_close(s->m, a));
	} else if (strcmp(op, "lock") == 0 && n == 2) {
		answer(s, boxfs_mem_lock(s->m, a, 0));
	} else if (strcmp(op, "trylock") == 0 && n == 2) {
		answer(s, boxfs_mem_lock(s->m, a, BOXFS_MEM_TRY));
	} else if (strcmp(op, "unlock") == 0 && n == 2) {
		answer(s, boxfs_mem_unlock(s->m, a));
	} else if (strcmp(op, "mmap") == 0 && (n == 3 || n == 4)) {
		bool shared = n == 4 && strcmp(words[3], "shared") == 0;
		unsigned long long size;
		if (parse_size(words[2], &size) < 0 || s->nmaps == 64 || (n == 4 && !shared)) {
			answer(s, -EINVAL);
			return;
		}
		int mapfd;
		void *p = boxfs_mem_mmap(s->m, a, size, shared ? BOXFS_MEM_SHARED : 0, &mapfd);
		if (!p) {
			answer(s, -errno);
			return;
		}
		s->maps[s->nmaps++] = (struct mapping){ mapfd, p, size };
		answer(s, mapfd);
	} else if (strcmp(op, "munmap") == 0 && n == 2) {
		int r = boxfs_mem_munmap(s->m, a);
		struct mapping *mp = mapping(s, a);
		if (r == 0 && mp)
			*mp = s->maps[--s->nmaps];
		answer(s, r);
	} else if ((strcmp(op, "peek") == 0 && n == 4) || (strcmp(op, "poke") == 0 && n == 4)) {
		struct mapping *mp = mapping(s, a);
		unsigned long long off = strtoull(words[2], NULL, 10);
		unsigned long long len =
			op[1] == 'e' ? strtoull(words[3], NULL, 10) : strlen(words[3]);
		if (!mp || off > mp->size || len > mp->size - off) {
			answer(s, mp ? -EINVAL : -EBADF);
			return;
		}
		if (op[1] == 'o') {
			memcpy(mp->p + off, words[3], len);
			answer(s, (int)len);
			return;
		}
		printf("ok ");
		fwrite(mp->p + off, 1, len, stdout);
		putchar('\n');
	} else if (strcmp(op, "list") == 0 && n == 1) {
		int r = boxfs_mem_list(s->m, print_entry, NULL);
		answer(s, r);
	} else if (strcmp(op, "sleep") == 0 && n == 2) {
		double secs = atof(words[1]);
		struct timespec t = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
		nanosleep(&t, NULL);
		answer(s, 0);
	} else {
		printf("error EINVAL: not a request: %s\n", op);
		s->failed = true;
	}
}

static int v_session(struct boxfs_mem *m)
{
	struct session s = { .m = m };
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		request(&s, line);
		fflush(stdout);
	}
	free(line);
	return s.failed ? 1 : 0;
}

/* ---- the verb ---- */

int cmd_mem(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' },
						  { "try", no_argument, NULL, 't' },
						  { 0 } };
	const char *addr = getenv("BOXFS_MEM_ADDRESS");
	bool try = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "+a:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'h':
			mem_usage(stdout);
			return 0;
		default:
			mem_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		mem_usage(stderr);
		return 2;
	}
	const char *verb = argv[optind];
	argc -= optind + 1;
	argv += optind + 1;
	optind = 0;
	/* The verbs' own options: --try. */
	if (argc > 0 && strcmp(argv[0], "--try") == 0) {
		try = true;
		argc--, argv++;
	}
	if (argc > 0 && strcmp(argv[0], "--") == 0)
		argc--, argv++;
	bool named = strcmp(verb, "cat") == 0 || strcmp(verb, "write") == 0 ||
		     strcmp(verb, "hold") == 0 || strcmp(verb, "lock") == 0;
	bool known = named || strcmp(verb, "list") == 0 || strcmp(verb, "session") == 0;
	if (!known) {
		warnx_("mem", "unknown verb %s (see boxfs mem --help)", verb);
		return 2;
	}
	if ((named && argc < 1) || (!named && argc > 0) ||
	    ((strcmp(verb, "cat") == 0 || strcmp(verb, "write") == 0) && argc != 1) ||
	    (strcmp(verb, "hold") == 0 && argc > 2) || (try && strcmp(verb, "hold") == 0)) {
		mem_usage(stderr);
		return 2;
	}
	char defaddr[600];
	if (!addr || !*addr) {
		if (default_address(defaddr, sizeof defaddr, "mem", false) < 0) {
			warnx_("mem", "no server address");
			return 2;
		}
		addr = defaddr;
	}
	struct boxfs_mem *m = boxfs_mem_connect(addr);
	if (!m) {
		warnx_("mem", "cannot connect to %s: %s", addr, strerror(errno));
		return 1;
	}
	int st;
	if (strcmp(verb, "list") == 0) {
		int r = boxfs_mem_list(m, print_entry, NULL);
		if (r < 0)
			warnx_("mem list", "%s", strerror(-r));
		st = r < 0 ? 1 : 0;
	} else if (strcmp(verb, "cat") == 0) {
		st = v_cat(m, argv[0], try);
	} else if (strcmp(verb, "write") == 0) {
		st = v_write(m, argv[0], try);
	} else if (strcmp(verb, "hold") == 0) {
		st = v_hold(m, argv[0], argc > 1 ? argv[1] : NULL);
	} else if (strcmp(verb, "lock") == 0) {
		if (argc > 1 && strcmp(argv[1], "--") == 0)
			argv[1] = argv[0], argv++, argc--;
		st = v_lock(m, argv[0], try, argv + 1);
	} else {
		st = v_session(m);
	}
	boxfs_mem_disconnect(m);
	return st;
}
