/*
 * mnt.h — `boxfs mount -f` in a child process, for tests: mounted on a fresh
 * temporary directory, waited for until the directory is the mount, and
 * unmounted (`boxfs umount`, then a lazy detach if that fails) by
 * mnt_stop. The bridge gets SIGTERM when the test dies (PR_SET_PDEATHSIG),
 * which unmounts too, so a failing or killed test leaves no mount behind.
 */
#ifndef BOXFS_TESTS_MNT_H
#define BOXFS_TESTS_MNT_H

#include <stdbool.h>
#include <sys/types.h>

struct mnt {
	pid_t pid;
	char dir[64];
	const char *exe;
};

/* True when FUSE can be used here (/dev/fuse opens, fusermount3 exists). */
bool mnt_available(const char **why);

/* Mounts addr with `exe mount -f ARGS... addr DIR` (args NULL-terminated):
 * 0, or -1 with a "# " line saying why. */
int mnt_start(struct mnt *m, const char *exe, const char *addr, ...);

/* Unmounts, reaps the bridge and removes the directory: true when the
 * bridge exited with 0. */
bool mnt_stop(struct mnt *m);

#endif
