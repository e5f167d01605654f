/*
 * mount.c — `boxfs mount` and `boxfs umount`: a 9P server as a Linux
 * directory through FUSE (bridge.c answers the kernel's requests).
 *
 * `boxfs mount` connects first, so a bad address is said on the terminal,
 * then mounts; without -f it forks before connecting (a TLS connection's
 * pump thread must live in the process that serves), and the parent returns
 * only when the child has the directory mounted, with the child's status.
 * SIGINT, SIGTERM and SIGHUP end the loop and unmount.
 */
#include "bridge.h"

#include "../boxfs/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void mount_usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs mount [OPTIONS] [ADDR] DIR\n"
		"\n"
		"Mounts the 9P server at ADDR (else -a ADDR, $BOXFS_ADDRESS, or the default\n"
		"socket) on the directory DIR through FUSE, speaking 9P2000.L (9P2000.u or\n"
		"9P2000 with older servers). Returns once DIR is usable; the bridge runs on\n"
		"in the background until `boxfs umount DIR`.\n"
		"\n"
		"  -a, --address ADDR      the server (unix!PATH, tcp!HOST!PORT, tls!HOST!PORT)\n"
		"      --aname NAME        the tree to attach (default \"\")\n"
		"      --uname NAME        the user to attach as (default: yours)\n"
		"  -r, --ro                read-only\n"
		"  -f, --foreground        stay in the foreground (^C unmounts)\n"
		"      --cache MODE        none, attr (default) or full; see boxfs(1)\n"
		"      --attr-timeout S    seconds the kernel trusts attributes\n"
		"      --entry-timeout S   seconds the kernel trusts names\n"
		"      --msize SIZE        largest 9P message (default 1M+24)\n"
		"      --dialect VERSION   9P2000.L (default), 9P2000.u or 9P2000\n"
		"      --threads N         most FUSE worker threads (default 16)\n"
		"  -o OPTIONS              more FUSE mount options (allow_other, ...)\n"
		"  -d, --debug             print every FUSE request (implies -f)\n"
		"  -h, --help              this text\n");
}

static void umount_usage(FILE *out)
{
	fprintf(out, "usage: boxfs umount [-z] DIR\n"
		     "\n"
		     "Unmounts a directory `boxfs mount` mounted; the bridge then exits.\n"
		     "  -z, --lazy   detach now, finish when the directory is no longer busy\n");
}

struct mount_opts {
	const char *addr, *dir;
	struct boxfs_opts bo;
	enum bridge_cache cache;
	double attr_timeout, entry_timeout; /* < 0: the cache mode's default */
	bool ro, fg, debug;
	unsigned threads;
	const char *fuse_opts;
};

static int parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end || errno || v < 0 || v > 86400.0 * 365)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parses argv into *m: 0, or the exit status to return. */
static int parse_mount(int argc, char **argv, struct mount_opts *m, char *defaddr, size_t cap)
{
	enum { O_ANAME = 256, O_UNAME, O_CACHE, O_ATTR, O_ENTRY, O_MSIZE, O_DIALECT, O_THREADS };
	static const struct option lopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "aname", required_argument, NULL, O_ANAME },
		{ "uname", required_argument, NULL, O_UNAME },
		{ "ro", no_argument, NULL, 'r' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "cache", required_argument, NULL, O_CACHE },
		{ "attr-timeout", required_argument, NULL, O_ATTR },
		{ "entry-timeout", required_argument, NULL, O_ENTRY },
		{ "msize", required_argument, NULL, O_MSIZE },
		{ "dialect", required_argument, NULL, O_DIALECT },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*m = (struct mount_opts){
		.cache = CACHE_ATTR, .attr_timeout = -1, .entry_timeout = -1, .threads = 16
	};
	const char *flag_addr = NULL;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+a:rfo:dh", lopts, NULL)) != -1) {
		unsigned long long v;
		switch (o) {
		case 'a':
			flag_addr = optarg;
			break;
		case O_ANAME:
			m->bo.aname = optarg;
			break;
		case O_UNAME:
			m->bo.uname = optarg;
			break;
		case 'r':
			m->ro = true;
			break;
		case 'f':
			m->fg = true;
			break;
		case 'd':
			m->debug = m->fg = true;
			break;
		case 'o':
			m->fuse_opts = optarg;
			break;
		case O_CACHE:
			if (strcmp(optarg, "none") == 0) {
				m->cache = CACHE_NONE;
			} else if (strcmp(optarg, "attr") == 0) {
				m->cache = CACHE_ATTR;
			} else if (strcmp(optarg, "full") == 0) {
				m->cache = CACHE_FULL;
			} else {
				warnx_("mount", "--cache: '%s' is not none, attr or full", optarg);
				return 2;
			}
			break;
		case O_ATTR:
		case O_ENTRY:
			if (parse_seconds(optarg,
					  o == O_ATTR ? &m->attr_timeout : &m->entry_timeout) < 0) {
				warnx_("mount", "%s: '%s' is not a number of seconds",
				       o == O_ATTR ? "--attr-timeout" : "--entry-timeout", optarg);
				return 2;
			}
			break;
		case O_MSIZE:
			if (parse_size(optarg, &v) < 0 || v < P9_MIN_MSIZE || v > (64u << 20)) {
				warnx_("mount", "--msize: '%s' is not a size from 4K to 64M",
				       optarg);
				return 2;
			}
			m->bo.msize = (uint32_t)v;
			break;
		case O_DIALECT:
			if (strcmp(optarg, "9P2000.L") && strcmp(optarg, "9P2000.u") &&
			    strcmp(optarg, "9P2000")) {
				warnx_("mount",
				       "--dialect: '%s' is not 9P2000.L, 9P2000.u or 9P2000",
				       optarg);
				return 2;
			}
			m->bo.version = optarg;
			break;
		case O_THREADS:
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 1024) {
				warnx_("mount", "--threads: '%s' is not from 1 to 1024", optarg);
				return 2;
			}
			m->threads = (unsigned)v;
			break;
		case 'h':
			mount_usage(stdout);
			return -1;
		default:
			mount_usage(stderr);
			return 2;
		}
	}
	int npos = argc - optind;
	if (npos < 1 || npos > 2 || (npos == 2 && flag_addr)) {
		if (npos == 2 && flag_addr)
			warnx_("mount", "give the address either with -a or as an argument");
		mount_usage(stderr);
		return 2;
	}
	m->dir = argv[argc - 1];
	if (npos == 2)
		m->addr = argv[optind];
	else if (flag_addr)
		m->addr = flag_addr;
	else if (getenv("BOXFS_ADDRESS") && *getenv("BOXFS_ADDRESS"))
		m->addr = getenv("BOXFS_ADDRESS");
	else if (default_address(defaddr, cap, "9p", false) == 0)
		m->addr = defaddr;
	else {
		warnx_("mount", "no address: give ADDR or set $BOXFS_ADDRESS");
		return 2;
	}
	double at = m->cache == CACHE_NONE ? 0 : m->cache == CACHE_ATTR ? 1 : 60;
	if (m->attr_timeout < 0)
		m->attr_timeout = at;
	if (m->entry_timeout < 0)
		m->entry_timeout = at;
	return 0;
}

/* The daemon's end of the pipe its parent waits on: one status byte. */
static int ready_fd = -1;

static void tell_parent(unsigned char status)
{
	if (ready_fd < 0)
		return;
	ssize_t r = write(ready_fd, &status, 1);
	(void)r;
	close(ready_fd);
	ready_fd = -1;
}

/* Forks; the parent waits for the child's status byte and returns it as the
 * exit status (-1 in the child, which carries on). */
static int background(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		warnx_("mount", "pipe: %s", strerror(errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		warnx_("mount", "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		ready_fd = p[1];
		setsid();
		return -1;
	}
	close(p[1]);
	unsigned char st = 1;
	ssize_t r;
	while ((r = read(p[0], &st, 1)) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (r != 1) { /* the child died before it was ready */
		int ws;
		waitpid(pid, &ws, 0);
		return 1;
	}
	return st;
}

/* Sends stdio to /dev/null once the mount is up. */
static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	if (chdir("/") < 0) {
		/* stays where it was */
	}
}

int cmd_mount(int argc, char **argv)
{
	struct mount_opts m;
	char defaddr[600];
	int rc = parse_mount(argc, argv, &m, defaddr, sizeof defaddr);
	if (rc)
		return rc < 0 ? 0 : rc;

	struct stat st;
	if (stat(m.dir, &st) < 0) {
		warnx_("mount", "%s: %s", m.dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		warnx_("mount", "%s: not a directory", m.dir);
		return 1;
	}
	if (access("/dev/fuse", R_OK | W_OK) < 0) {
		warnx_("mount", "/dev/fuse: %s (is the fuse module loaded?)", strerror(errno));
		return 1;
	}
	char *dir = realpath(m.dir, NULL);
	if (!dir) {
		warnx_("mount", "%s: %s", m.dir, strerror(errno));
		return 1;
	}

	if (!m.fg) {
		int st2 = background();
		if (st2 >= 0) {
			free(dir);
			return st2;
		}
	}

	int status = 1;
	struct boxfs_client *c = boxfs_connect(m.addr, &m.bo);
	if (!c) {
		warnx_("mount", "%s: %s", m.addr, strerror(errno));
		free(dir);
		tell_parent(1);
		return 1;
	}
	struct bridge b = { .cache = m.cache,
			    .attr_timeout = m.attr_timeout,
			    .entry_timeout = m.entry_timeout,
			    .ro = m.ro,
			    .uid = getuid(),
			    .gid = getgid() };
	rc = bridge_init(&b, c);
	if (rc < 0) {
		warnx_("mount", "%s: the root: %s", m.addr, strerror(-rc));
		boxfs_disconnect(c);
		free(dir);
		tell_parent(1);
		return 1;
	}

	char fsname[400], opts[1024];
	snprintf(fsname, sizeof fsname, "%s", m.addr);
	for (char *p = fsname; *p; p++)
		if (*p == ',' || *p == '\\')
			*p = '_'; /* would end or escape the option */
	snprintf(opts, sizeof opts, "fsname=boxfs:%s,subtype=boxfs,default_permissions%s%s%s",
		 fsname, m.ro ? ",ro" : "", m.fuse_opts ? "," : "", m.fuse_opts ? m.fuse_opts : "");
	char *fargv[] = { "boxfs", "-o", opts, m.debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(m.debug ? 4 : 3, fargv);
	struct fuse_session *se = fuse_session_new(&args, &bridge_ops, sizeof bridge_ops, &b);
	if (!se) {
		warnx_("mount", "cannot start a FUSE session (options: %s)", opts);
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		warnx_("mount", "cannot set signal handlers");
		goto out_session;
	}
	if (fuse_session_mount(se, dir) != 0) {
		warnx_("mount", "%s: mount failed", dir);
		goto out_signals;
	}
	tell_parent(0);
	if (!m.fg)
		detach_stdio();

	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, m.threads);
		fuse_loop_cfg_set_idle_threads(cfg, m.threads < 4 ? m.threads : 4);
		fuse_loop_cfg_set_clone_fd(cfg, 0);
	}
	rc = cfg ? fuse_session_loop_mt(se, cfg) : fuse_session_loop(se);
	fuse_loop_cfg_destroy(cfg);
	status = rc < 0 ? 1 : 0; /* a signal or an unmount ends it: both fine */
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	tell_parent(1);
	bridge_fini(&b);
	boxfs_disconnect(c);
	free(dir);
	return status;
}

int cmd_umount(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "lazy", no_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool lazy = false;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "+zh", lopts, NULL)) != -1) {
		switch (o) {
		case 'z':
			lazy = true;
			break;
		case 'h':
			umount_usage(stdout);
			return 0;
		default:
			umount_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		umount_usage(stderr);
		return 2;
	}
	const char *dir = argv[optind];
	if (geteuid() == 0) {
		if (umount2(dir, lazy ? MNT_DETACH : 0) == 0)
			return 0;
		int e = errno;
		if (e == EINVAL)
			warnx_("umount", "%s: not a mount point", dir);
		else
			warnx_("umount", "%s: %s", dir, strerror(e));
		return 1;
	}
	/* an unprivileged user unmounts through the setuid helper */
	pid_t pid = fork();
	if (pid < 0) {
		warnx_("umount", "fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--", dir, (char *)NULL);
		warnx_("umount", "fusermount3: %s", strerror(errno));
		_exit(127);
	}
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : 1;
}
