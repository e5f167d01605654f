/*
 * client_verbs.c — the client verbs of the boxfs command, in the spirit of
 * libixp's ixpc and Plan 9's 9p(1): ls, stat, cat, write, append, create,
 * mkdir, rm, mv, ln, xwrite. Each dials the server, does its work through
 * the client library and exits like the standard tool it resembles: 0 on
 * success, 1 when an operation failed (after a message naming the path),
 * 2 for bad usage.
 */
#include "cli.h"

#include <boxfs/client.h>
#include <boxfs/tls.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct verb {
	const char *name;
	const char *args;  /* for usage */
	const char *flags; /* getopt letters beyond the common ones */
	const char *help;
	int (*run)(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag);
	int min_args;
};

/* ---- ls and stat ---- */

static char type_char(mode_t m)
{
	return S_ISDIR(m)    ? 'd'
	       : S_ISLNK(m)  ? 'l'
	       : S_ISCHR(m)  ? 'c'
	       : S_ISBLK(m)  ? 'b'
	       : S_ISFIFO(m) ? 'p'
	       : S_ISSOCK(m) ? 's'
			     : '-';
}

static void mode_string(mode_t m, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";
	out[0] = type_char(m);
	for (int i = 0; i < 9; i++)
		out[1 + i] = m & (1u << (8 - i)) ? rwx[i] : '-';
	if (m & S_ISUID)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (m & S_ISGID)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (m & S_ISVTX)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = '\0';
}

static void print_long(struct boxfs_client *c, const char *path, const char *name,
		       const struct stat *st)
{
	char mode[11], when[32], user[32], group[32];
	mode_string(st->st_mode, mode);
	struct tm tm;
	localtime_r(&st->st_mtime, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
	struct passwd *pw = getpwuid(st->st_uid);
	struct group *gr = getgrgid(st->st_gid);
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "");
	if (!pw)
		snprintf(user, sizeof user, "%u", (unsigned)st->st_uid);
	snprintf(group, sizeof group, "%s", gr ? gr->gr_name : "");
	if (!gr)
		snprintf(group, sizeof group, "%u", (unsigned)st->st_gid);
	printf("%s %3lu %-8s %-8s %10lld %s %s", mode, (unsigned long)st->st_nlink, user, group,
	       (long long)st->st_size, when, name);
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = boxfs_readlink(c, path, target, sizeof target);
		if (n >= 0)
			printf(" -> %.*s", (int)n, target);
	}
	putchar('\n');
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
	size_t n = strlen(dir);
	snprintf(out, cap, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ls_one(struct boxfs_client *c, const char *verb, const char *path, bool lflag,
		  bool header)
{
	struct stat st;
	int r = boxfs_lstat(c, path, &st);
	if (r < 0) {
		warnx_(verb, "%s: %s", path, strerror(-r));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (lflag)
			print_long(c, path, path, &st);
		else
			printf("%s\n", path);
		return 0;
	}
	struct boxfs_dir *d = boxfs_opendir(c, path);
	if (!d) {
		warnx_(verb, "%s: %s", path, strerror(errno));
		return 1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct boxfs_dirent de;
	int status = 0;
	while ((r = boxfs_readdir(d, &de)) == 1) {
		if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **more = realloc(names, cap * sizeof *names);
			if (!more) {
				r = -ENOMEM;
				break;
			}
			names = more;
		}
		if (!(names[n] = strdup(de.name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r < 0) {
		warnx_(verb, "%s: %s", path, strerror(-r));
		status = 1;
	}
	boxfs_closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	if (header)
		printf("%s:\n", path);
	for (size_t i = 0; i < n; i++) {
		if (lflag) {
			char full[4096];
			join(full, sizeof full, path, names[i]);
			if (boxfs_lstat(c, full, &st) == 0)
				print_long(c, full, names[i], &st);
		} else {
			printf("%s\n", names[i]);
		}
		free(names[i]);
	}
	free(names);
	return status;
}

static int v_ls(struct boxfs_client *c, const char *verb, int argc, char **argv, bool lflag)
{
	if (argc == 0)
		return ls_one(c, verb, "/", lflag, false);
	int status = 0;
	for (int i = 0; i < argc; i++) {
		if (i)
			putchar('\n');
		status |= ls_one(c, verb, argv[i], lflag, argc > 1);
	}
	return status;
}

static int v_stat(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)flag;
	int status = 0;
	for (int i = 0; i < argc; i++) {
		struct stat st;
		int r = boxfs_lstat(c, argv[i], &st);
		if (r < 0) {
			warnx_(verb, "%s: %s", argv[i], strerror(-r));
			status = 1;
			continue;
		}
		char mode[11];
		mode_string(st.st_mode, mode);
		printf("%s: %s mode %04o size %lld ino %llu nlink %lu uid %u gid %u "
		       "mtime %lld.%09ld\n",
		       argv[i], mode, (unsigned)(st.st_mode & 07777), (long long)st.st_size,
		       (unsigned long long)st.st_ino, (unsigned long)st.st_nlink,
		       (unsigned)st.st_uid, (unsigned)st.st_gid, (long long)st.st_mtim.tv_sec,
		       st.st_mtim.tv_nsec);
	}
	return status;
}

/* ---- reading and writing ---- */

static int v_cat(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)flag;
	int status = 0;
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	if (!buf) {
		warnx_(verb, "%s", strerror(ENOMEM));
		return 1;
	}
	for (int i = 0; i < argc; i++) {
		struct boxfs_file *f = boxfs_open(c, argv[i], O_RDONLY, 0);
		if (!f) {
			warnx_(verb, "%s: %s", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		ssize_t n;
		while ((n = boxfs_read(f, buf, cap)) > 0)
			if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
				n = -EIO;
				break;
			}
		if (n < 0) {
			warnx_(verb, "%s: %s", argv[i], strerror((int)-n));
			status = 1;
		}
		boxfs_close(f);
	}
	free(buf);
	return status;
}

/* Writes all of buf to f; 0 or -errno. */
static int write_all(struct boxfs_file *f, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = boxfs_write(f, buf, n);
		if (w < 0)
			return (int)w;
		if (w == 0)
			return -EIO;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int copy_stdin(struct boxfs_client *c, const char *verb, const char *path, int flags)
{
	struct boxfs_file *f = boxfs_open(c, path, O_WRONLY | O_CREAT | flags, 0644);
	if (!f) {
		warnx_(verb, "%s: %s", path, strerror(errno));
		return 1;
	}
	static char buf[1 << 16];
	ssize_t n;
	int r = 0;
	while (r == 0 && (n = read(0, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		r = write_all(f, buf, (size_t)n);
	}
	int cr = boxfs_close(f);
	if (r == 0)
		r = cr;
	if (r < 0) {
		warnx_(verb, "%s: %s", path, strerror(-r));
		return 1;
	}
	return 0;
}

static int v_write(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)argc, (void)flag;
	return copy_stdin(c, verb, argv[0], O_TRUNC);
}

static int v_append(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)argc, (void)flag;
	return copy_stdin(c, verb, argv[0], O_APPEND);
}

static int v_xwrite(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)flag;
	struct boxfs_file *f = boxfs_open(c, argv[0], O_WRONLY | O_TRUNC, 0);
	if (!f) {
		warnx_(verb, "%s: %s", argv[0], strerror(errno));
		return 1;
	}
	size_t len = 0;
	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *data = malloc(len + 1);
	int r = data ? 0 : -ENOMEM;
	if (data) {
		data[0] = '\0';
		for (int i = 1; i < argc; i++) {
			strcat(data, argv[i]);
			strcat(data, i + 1 < argc ? " " : "");
		}
		r = write_all(f, data, strlen(data));
	}
	free(data);
	int cr = boxfs_close(f);
	if (r == 0)
		r = cr;
	if (r < 0) {
		warnx_(verb, "%s: %s", argv[0], strerror(-r));
		return 1;
	}
	return 0;
}

/* ---- the namespace ---- */

static int v_create(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)flag;
	int status = 0;
	for (int i = 0; i < argc; i++) {
		struct boxfs_file *f = boxfs_open(c, argv[i], O_WRONLY | O_CREAT, 0644);
		if (!f) {
			warnx_(verb, "%s: %s", argv[i], strerror(errno));
			status = 1;
			continue;
		}
		boxfs_close(f);
	}
	return status;
}

static int mkdir_p(struct boxfs_client *c, const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int r = boxfs_mkdir(c, buf, 0755);
		*p = '/';
		if (r < 0 && r != -EEXIST)
			return r;
	}
	int r = boxfs_mkdir(c, buf, 0755);
	return r == -EEXIST ? 0 : r;
}

static int v_mkdir(struct boxfs_client *c, const char *verb, int argc, char **argv, bool pflag)
{
	int status = 0;
	for (int i = 0; i < argc; i++) {
		int r = pflag ? mkdir_p(c, argv[i]) : boxfs_mkdir(c, argv[i], 0755);
		if (r < 0) {
			warnx_(verb, "%s: %s", argv[i], strerror(-r));
			status = 1;
		}
	}
	return status;
}

static int rm_tree(struct boxfs_client *c, const char *path)
{
	struct stat st;
	int r = boxfs_lstat(c, path, &st);
	if (r < 0 || !S_ISDIR(st.st_mode))
		return r < 0 ? r : boxfs_unlink(c, path);
	struct boxfs_dir *d = boxfs_opendir(c, path);
	if (!d)
		return -errno;
	/* Collect first: removing while listing would disturb the listing. */
	char **names = NULL;
	size_t n = 0;
	struct boxfs_dirent de;
	while ((r = boxfs_readdir(d, &de)) == 1) {
		if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
			continue;
		char **more = realloc(names, (n + 1) * sizeof *names);
		if (!more || !(more[n] = strdup(de.name))) {
			names = more ? more : names;
			r = -ENOMEM;
			break;
		}
		names = more;
		n++;
	}
	boxfs_closedir(d);
	for (size_t i = 0; i < n; i++) {
		char full[4096];
		join(full, sizeof full, path, names[i]);
		int rr = rm_tree(c, full);
		if (rr < 0 && r >= 0)
			r = rr;
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : boxfs_rmdir(c, path);
}

static int v_rm(struct boxfs_client *c, const char *verb, int argc, char **argv, bool rflag)
{
	int status = 0;
	for (int i = 0; i < argc; i++) {
		struct stat st;
		int r = boxfs_lstat(c, argv[i], &st);
		if (r == 0)
			r = rflag		  ? rm_tree(c, argv[i])
			    : S_ISDIR(st.st_mode) ? -EISDIR
						  : boxfs_unlink(c, argv[i]);
		if (r < 0) {
			warnx_(verb, "%s: %s", argv[i], strerror(-r));
			status = 1;
		}
	}
	return status;
}

static int v_mv(struct boxfs_client *c, const char *verb, int argc, char **argv, bool flag)
{
	(void)argc, (void)flag;
	int r = boxfs_rename(c, argv[0], argv[1]);
	if (r < 0) {
		warnx_(verb, "%s -> %s: %s", argv[0], argv[1], strerror(-r));
		return 1;
	}
	return 0;
}

static int v_ln(struct boxfs_client *c, const char *verb, int argc, char **argv, bool sflag)
{
	(void)argc;
	int r = sflag ? boxfs_symlink(c, argv[0], argv[1]) : boxfs_link(c, argv[0], argv[1]);
	if (r < 0) {
		warnx_(verb, "%s -> %s: %s", argv[1], argv[0], strerror(-r));
		return 1;
	}
	return 0;
}

static const struct verb verbs[] = {
	{ "ls", "[-l] [PATH...]", "l", "list directories (the root by default)", v_ls, 0 },
	{ "stat", "PATH...", "", "print the attributes of each path", v_stat, 1 },
	{ "cat", "PATH...", "", "print files", v_cat, 1 },
	{ "write", "PATH", "", "replace PATH's content with standard input", v_write, 1 },
	{ "append", "PATH", "", "append standard input to PATH", v_append, 1 },
	{ "xwrite", "PATH DATA...", "", "write DATA (words joined by spaces) to PATH", v_xwrite,
	  2 },
	{ "create", "PATH...", "", "create empty files (existing ones are left alone)", v_create,
	  1 },
	{ "mkdir", "[-p] PATH...", "p", "make directories (-p: with parents, no error if there)",
	  v_mkdir, 1 },
	{ "rm", "[-r] PATH...", "r", "remove files (-r: and directories, recursively)", v_rm, 1 },
	{ "mv", "OLD NEW", "", "rename OLD to NEW", v_mv, 2 },
	{ "ln", "[-s] TARGET NAME", "s", "make NAME a hard link to TARGET (-s: a symbolic link)",
	  v_ln, 2 },
};

static void verb_usage(FILE *out, const struct verb *v)
{
	fprintf(out,
		"usage: boxfs %s [-a ADDR] [-D DIALECT] [-A ANAME] %s\n"
		"\n"
		"%s.\n"
		"\n"
		"  -a ADDR     server address (default $BOXFS_ADDRESS, else the default socket)\n"
		"  -D DIALECT  9P2000.L (default), 9P2000.u or 9P2000\n"
		"  -A ANAME    attach to ANAME (a path in the server's namespace)\n"
		"  -h, --help  this text\n",
		v->name, v->args, v->help);
}

/* Checks the files the BOXFS_TLS_* variables name, saying what is wrong. */
static int tls_env_check(const char *verb)
{
	const char *v[3];
	const char *names[3] = { "BOXFS_TLS_CERT", "BOXFS_TLS_KEY", "BOXFS_TLS_CA" };
	for (int i = 0; i < 3; i++) {
		const char *e = getenv(names[i]);
		v[i] = e && *e ? e : NULL;
	}
	char why[512];
	int r = boxfs_tls_check(v[0], v[1], v[2], why, sizeof why);
	if (r < 0)
		warnx_(verb, "%s", why);
	return r;
}

int cmd_client(int argc, char **argv)
{
	const struct verb *v = NULL;
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strcmp(argv[0], verbs[i].name) == 0)
			v = &verbs[i];
	if (!v) {
		warnx_(argv[0], "unknown verb (see boxfs --help)");
		return 2;
	}
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	char optstr[32];
	snprintf(optstr, sizeof optstr, "+a:D:A:h%s", v->flags);
	const char *addr = getenv("BOXFS_ADDRESS");
	struct boxfs_opts o = { 0 };
	bool flag = false;
	int ch;
	while ((ch = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'D':
			o.version = optarg;
			break;
		case 'A':
			o.aname = optarg;
			break;
		case 'h':
			verb_usage(stdout, v);
			return 0;
		case '?':
			verb_usage(stderr, v);
			return 2;
		default:
			flag = true; /* the verb's own letter */
			break;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < v->min_args || ((v->run == v_write || v->run == v_append) && argc != 1) ||
	    ((v->run == v_mv || v->run == v_ln) && argc != 2)) {
		verb_usage(stderr, v);
		return 2;
	}
	char defaddr[600];
	if (!addr || !*addr) {
		if (default_address(defaddr, sizeof defaddr, "9p", false) < 0) {
			warnx_(v->name, "no server address");
			return 2;
		}
		addr = defaddr;
	}
	if (strncmp(addr, "tls!", 4) == 0 && tls_env_check(v->name) < 0)
		return 1;
	struct boxfs_client *c = boxfs_connect(addr, &o);
	if (!c) {
		int e = errno;
		warnx_(v->name, "cannot connect to %s: %s%s", addr, strerror(e),
		       e == EKEYREJECTED && strncmp(addr, "tls!", 4) == 0
			       ? " (its certificate did not verify; see BOXFS_TLS_CA)"
			       : "");
		return 1;
	}
	int status = v->run(c, v->name, argc, argv, flag);
	if (fflush(stdout) != 0)
		status = 1;
	boxfs_disconnect(c);
	return status;
}
