/*
 * util.c — libixp's errors, formatting, allocation, namespace, clock and
 * string helpers.
 *
 * Errors follow Plan 9's errstr, as libixp does: ixp_werrstr writes the
 * calling thread's error buffer (ixp_thread->errbuf) and sets errno to a
 * private marker; ixp_errbuf answers the buffer, replaced by errno's text
 * when a system call has failed since (errno no longer the marker).
 */
#include "ixp_impl.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

enum { ERR_MARK = 0x19283745 }; /* errno after ixp_werrstr: "look in the buffer" */

int _IXP_ASSERT_VERSION;

__attribute__((format(printf, 3, 0))) static int default_vsnprint(char *buf, int n, const char *fmt,
								  va_list ap)
{
	return vsnprintf(buf, n < 0 ? 0 : (size_t)n, fmt, ap);
}

__attribute__((format(printf, 1, 0))) static char *default_vsmprint(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int (*ixp_vsnprint)(char *, int, const char *, va_list) = default_vsnprint;
char *(*ixp_vsmprint)(const char *, va_list) = default_vsmprint;

char *ixp_errbuf(void)
{
	char *b = ixp_thread->errbuf();
	int e = errno;
	if (e == EINTR)
		snprintf(b, IXP_ERRMAX, "interrupted");
	else if (e != ERR_MARK && e != 0)
		snprintf(b, IXP_ERRMAX, "%s", strerror(e));
	errno = e;
	return b;
}

void ixp_seterr(const char *s)
{
	snprintf(ixp_thread->errbuf(), IXP_ERRMAX, "%s", s);
	errno = ERR_MARK;
}

void ixp_werrstr(const char *fmt, ...)
{
	char tmp[IXP_ERRMAX];
	va_list ap;
	va_start(ap, fmt);
	ixp_vsnprint(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	ixp_seterr(tmp);
}

void ixp_rerrstr(char *buf, int n)
{
	if (n > 0)
		snprintf(buf, (size_t)n, "%s", ixp_errbuf());
}

void ixp_errstr(char *buf, int n)
{
	char tmp[IXP_ERRMAX];
	snprintf(tmp, sizeof tmp, "%s", n > 0 ? buf : "");
	ixp_rerrstr(buf, n);
	ixp_seterr(tmp);
}

static void outofmem(const char *what, uint size)
{
	fprintf(stderr, "libixp: fatal: could not %s %u bytes\n", what, size);
	exit(1);
}

void *ixp_emalloc(uint size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		outofmem("malloc", size);
	return p;
}

void *ixp_emallocz(uint size)
{
	void *p = calloc(1, size ? size : 1);
	if (!p)
		outofmem("malloc", size);
	return p;
}

void *ixp_erealloc(void *p, uint size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		outofmem("realloc", size);
	return q;
}

char *ixp_estrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		outofmem("strdup", (uint)strlen(s));
	return d;
}

void ixp_eprint(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	fputs("libixp: fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	size_t n = strlen(fmt);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s\n", strerror(e));
	else if (!n || fmt[n - 1] != '\n')
		fputc('\n', stderr);
	exit(1);
}

char *ixp_smprint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = ixp_vsmprint(fmt, ap);
	va_end(ap);
	if (!s)
		ixp_seterr("no memory");
	return s;
}

uint64_t ixp_msec(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

uint ixp_tokenize(char **res, uint len, char *str, char delim)
{
	uint n = 0;
	char *s = str;
	while (n < len && *s) {
		while (*s == delim)
			*s++ = '\0';
		if (!*s)
			break;
		res[n++] = s;
		while (*s && *s != delim)
			s++;
	}
	return n;
}

uint ixp_strlcat(char *dst, const char *src, uint size)
{
	size_t dl = strnlen(dst, size), sl = strlen(src);
	if (dl == size)
		return (uint)(size + sl);
	size_t room = size - dl - 1, k = sl < room ? sl : room;
	memcpy(dst + dl, src, k);
	dst[dl + k] = '\0';
	return (uint)(dl + sl);
}

void ixp_cleanname(char *path)
{
	if (!path || !*path)
		return;
	bool rooted = path[0] == '/';
	char *elems[4096 / 2 + 1];
	size_t n = 0;
	char *copy = ixp_estrdup(path);
	for (char *save = NULL, *e = strtok_r(copy, "/", &save); e;
	     e = strtok_r(NULL, "/", &save)) {
		if (strcmp(e, ".") == 0)
			continue;
		if (strcmp(e, "..") == 0) {
			if (n > 0 && strcmp(elems[n - 1], "..") != 0)
				n--;
			else if (!rooted)
				elems[n++] = e;
			continue;
		}
		if (n < sizeof elems / sizeof *elems)
			elems[n++] = e;
	}
	char *p = path;
	if (rooted)
		*p++ = '/';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(elems[i]);
		memmove(p, elems[i], l); /* never longer than what it replaces */
		p += l;
		if (i + 1 < n)
			*p++ = '/';
	}
	if (p == path)
		*p++ = '.';
	*p = '\0';
	free(copy);
}

/* The user's name for the namespace directory. */
static const char *user_name(void)
{
	static char name[256];
	if (!name[0]) {
		struct passwd pw, *res = NULL;
		char buf[1024];
		if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res)
			snprintf(name, sizeof name, "%s", res->pw_name);
		else
			snprintf(name, sizeof name, "none");
	}
	return name;
}

/* Makes every directory of path (mode for the ones made); 0 or -1. */
static int mkdirs(char *path, mode_t mode)
{
	for (char *p = path + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		int r = mkdir(path, mode);
		int e = errno;
		*p = c;
		if (r < 0 && e != EEXIST) {
			ixp_werrstr("cannot create '%s': %s", path, strerror(e));
			return -1;
		}
		if (c == '\0')
			return 0;
	}
}

static char *namespace_of_display(void)
{
	const char *disp = getenv("DISPLAY");
	if (!disp || !disp[0]) {
		ixp_seterr("$DISPLAY is unset");
		return NULL;
	}
	char *d = ixp_estrdup(disp);
	size_t n = strlen(d);
	if (n > 2 && strcmp(d + n - 2, ".0") == 0)
		d[n - 2] = '\0';
	char *path = ixp_smprint("/tmp/ns.%s.%s", user_name(), d);
	free(d);
	if (!path)
		return NULL;
	struct stat st;
	if (mkdirs(path, 0700) < 0) {
		/* error set */
	} else if (stat(path, &st) < 0) {
		ixp_werrstr("cannot stat namespace '%s': %s", path, strerror(errno));
	} else if (st.st_uid != getuid()) {
		ixp_werrstr("namespace '%s' exists but is not owned by you", path);
	} else if ((st.st_mode & 077) && chmod(path, st.st_mode & ~077 & 07777) < 0) {
		ixp_werrstr("namespace '%s' has wrong permissions: %s", path, strerror(errno));
	} else {
		return path;
	}
	free(path);
	return NULL;
}

char *ixp_namespace(void)
{
	static char *ns;
	if (!ns) {
		const char *env = getenv("NAMESPACE");
		ns = env && env[0] ? ixp_estrdup(env) : namespace_of_display();
	}
	return ns;
}
