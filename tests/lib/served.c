/*
 * served.c — `boxfs serve` as a child process of a test (served.h).
 *
 * A test killed from outside (a timeout, ^C) takes its server and the
 * server's directory with it: served_start installs handlers for SIGTERM,
 * SIGINT and SIGHUP and an atexit hook that stop the servers still running.
 */
#include "served.h"
#include "testlib.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct served *running[4]; /* for the handlers */

/* Reads "boxfs: serving DOOR on ADDR" lines until want addresses came. */
static int read_addresses(struct served *s, int fd, unsigned want)
{
	char buf[2048];
	size_t len = 0;
	time_t end = time(NULL) + 20;
	while (s->n < want) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (time(NULL) > end || poll(&p, 1, 1000) < 0)
			return -1;
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r <= 0)
			return -1;
		len += (size_t)r;
		buf[len] = '\0';
		char *nl;
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			char door[16], addr[200];
			if (s->n < SERVED_MAX &&
			    sscanf(buf, "boxfs: serving %15s on %199s", door, addr) == 2) {
				snprintf(s->door[s->n], sizeof s->door[0], "%s", door);
				snprintf(s->addr[s->n], sizeof s->addr[0], "%s", addr);
				s->n++;
			}
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len == sizeof buf - 1)
			return -1;
	}
	return 0;
}

static void on_signal(int sig)
{
	for (unsigned i = 0; i < 4; i++) {
		struct served *s = running[i];
		if (s && s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			rm_tree(s->dir);
		}
	}
	_exit(128 + sig);
}

static void at_exit(void)
{
	for (unsigned i = 0; i < 4; i++)
		if (running[i])
			served_stop(running[i]);
}

/* Enters s among the servers the handlers stop. */
static void track(struct served *s)
{
	static bool installed;
	if (!installed) {
		installed = true;
		atexit(at_exit);
		struct sigaction sa = { .sa_handler = on_signal };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
	}
	for (unsigned i = 0; i < 4; i++)
		if (!running[i] || running[i] == s) {
			running[i] = s;
			return;
		}
}

int served_start(struct served *s, const char *exe, unsigned want, ...)
{
	memset(s, 0, sizeof *s);
	track(s);
	s->pid = -1;
	snprintf(s->dir, sizeof s->dir, "/tmp/boxfs-test-XXXXXX");
	if (!mkdtemp(s->dir)) {
		fprintf(stderr, "# mkdtemp: %m\n");
		return -1;
	}
	char *argv[32];
	unsigned argc = 0;
	argv[argc++] = (char *)exe;
	argv[argc++] = "serve";
	va_list ap;
	va_start(ap, want);
	const char *a;
	while ((a = va_arg(ap, const char *)) && argc < 31) {
		const char *at = strstr(a, "{dir}");
		if (at) {
			char *x;
			if (asprintf(&x, "%.*s%s%s", (int)(at - a), a, s->dir, at + 5) < 0)
				x = NULL;
			argv[argc++] = x;
		} else {
			argv[argc++] = strdup(a);
		}
	}
	va_end(ap);
	argv[argc] = NULL;
	int out[2];
	if (pipe(out) < 0)
		return -1;
	pid_t parent = getpid();
	s->pid = fork();
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execv(exe, argv);
		_exit(127);
	}
	for (unsigned i = 2; i < argc; i++)
		free(argv[i]);
	close(out[1]);
	int r = s->pid < 0 ? -1 : read_addresses(s, out[0], want);
	close(out[0]);
	if (r < 0) {
		fprintf(stderr, "# boxfs serve named %u of %u addresses\n", s->n, want);
		served_stop(s);
		return -1;
	}
	return 0;
}

const char *served_addr(const struct served *s, const char *door, const char *prefix)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->door[i], door) == 0 &&
		    strncmp(s->addr[i], prefix, strlen(prefix)) == 0)
			return s->addr[i];
	return NULL;
}

bool served_stop(struct served *s)
{
	int status = -1;
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		pid_t r = 0;
		for (int i = 0; i < 1000 && r == 0; i++) { /* 10 s, then SIGKILL */
			r = waitpid(s->pid, &status, WNOHANG);
			if (r == 0)
				usleep(10000);
		}
		if (r == 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			status = -1;
		}
		s->pid = -1;
	}
	if (s->dir[0])
		rm_tree(s->dir);
	s->dir[0] = '\0';
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
