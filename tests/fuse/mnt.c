/*
 * mnt.c — a FUSE mount by `boxfs mount -f` as a child of a test (mnt.h).
 */
#include "mnt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct mnt *live[4];

static void at_exit(void)
{
	for (unsigned i = 0; i < 4; i++)
		if (live[i] && live[i]->pid > 0)
			mnt_stop(live[i]);
}

static void track(struct mnt *m, bool on)
{
	static bool installed;
	if (!installed) {
		installed = true;
		atexit(at_exit);
	}
	for (unsigned i = 0; i < 4; i++) {
		if (on && !live[i]) {
			live[i] = m;
			return;
		}
		if (!on && live[i] == m)
			live[i] = NULL;
	}
}

bool mnt_available(const char **why)
{
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*why = "/dev/fuse cannot be opened";
		return false;
	}
	close(fd);
	if (system("command -v fusermount3 >/dev/null 2>&1") != 0) {
		*why = "fusermount3 is not installed";
		return false;
	}
	return true;
}

static bool is_mounted(const char *dir)
{
	struct stat a, b;
	char parent[80];
	snprintf(parent, sizeof parent, "%s/..", dir);
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

int mnt_start(struct mnt *m, const char *exe, const char *addr, ...)
{
	memset(m, 0, sizeof *m);
	m->exe = exe;
	m->pid = -1;
	snprintf(m->dir, sizeof m->dir, "/tmp/boxfs-mnt-XXXXXX");
	if (!mkdtemp(m->dir)) {
		fprintf(stderr, "# mkdtemp: %m\n");
		return -1;
	}
	char *argv[32];
	unsigned argc = 0;
	argv[argc++] = (char *)exe;
	argv[argc++] = "mount";
	argv[argc++] = "-f";
	va_list ap;
	va_start(ap, addr);
	const char *a;
	while ((a = va_arg(ap, const char *)) && argc < 28)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc++] = (char *)addr;
	argv[argc++] = m->dir;
	argv[argc] = NULL;
	pid_t parent = getpid();
	m->pid = fork();
	if (m->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the bridge unmounts on SIGTERM */
		if (getppid() != parent)
			_exit(1);
		execv(exe, argv);
		_exit(127);
	}
	if (m->pid < 0) {
		rmdir(m->dir);
		return -1;
	}
	track(m, true);
	for (int i = 0; i < 1000; i++) { /* 10 s */
		if (is_mounted(m->dir))
			return 0;
		int st;
		if (waitpid(m->pid, &st, WNOHANG) == m->pid) {
			fprintf(stderr, "# boxfs mount exited with status %d\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			m->pid = -1;
			mnt_stop(m);
			return -1;
		}
		usleep(10000);
	}
	fprintf(stderr, "# %s was not mounted within 10 s\n", m->dir);
	mnt_stop(m);
	return -1;
}

bool mnt_stop(struct mnt *m)
{
	int status = -1;
	if (m->dir[0] && is_mounted(m->dir)) {
		pid_t p = fork();
		if (p == 0) {
			int fd = open("/dev/null", O_WRONLY);
			dup2(fd, 2);
			execl(m->exe, m->exe, "umount", m->dir, (char *)NULL);
			_exit(127);
		}
		int st = -1;
		if (p > 0)
			waitpid(p, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "# boxfs umount %s failed: detaching\n", m->dir);
			umount2(m->dir, MNT_DETACH);
		}
	}
	if (m->pid > 0) {
		pid_t r = 0;
		for (int i = 0; i < 1000 && r == 0; i++) { /* 10 s, then SIGTERM, SIGKILL */
			r = waitpid(m->pid, &status, WNOHANG);
			if (r == 0)
				usleep(10000);
			if (r == 0 && i == 500)
				kill(m->pid, SIGTERM);
		}
		if (r == 0) {
			kill(m->pid, SIGKILL);
			waitpid(m->pid, NULL, 0);
			status = -1;
		}
		m->pid = -1;
	}
	if (m->dir[0]) {
		if (is_mounted(m->dir))
			umount2(m->dir, MNT_DETACH);
		rmdir(m->dir);
		m->dir[0] = '\0';
	}
	track(m, false);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
