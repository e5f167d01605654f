/*
 * taskfs.c — the task table, mounted at /task.
 *
 * A task is an id (from 1, never reused while the instance lives) with a
 * state: allocated (task.alloc, no program), running (task.launch: `/bin/sh
 * -c CMDLINE` in a process group of its own, stdio on /dev/null), ended, or
 * a client (an idl connection, ended when it hangs up). An ended launched
 * task stays known until task.free; a client's id goes with it.
 *
 * Each launched task has a reaper thread blocked in waitpid for its pid
 * alone; when the program ends it records the status, tells the watchers
 * (each told once, then dropped) and wakes readers of /task/N/wait.
 *
 * Files: /task/N/status (one line: "running PID CMDLINE", "exited CODE",
 * "killed SIGNAL", "allocated", "client"), /task/N/ctl (write "kill" or
 * "kill SIGNAL": signals the process group), /task/N/wait (a read waits until
 * the task has ended, cancellably, then reads as status). Reads may be tried
 * on the reading thread (BOXFS_FS_TRY_INLINE): a wait that would block
 * answers BOXFS_EWOULDWAIT there and blocks on a worker instead.
 */
#include "fs/svc/svc_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum state { T_ALLOC, T_RUNNING, T_ENDED, T_CLIENT };
enum { K_ROOT = 1, K_DIR, K_STATUS, K_CTL, K_WAIT };

struct watcher {
	struct watcher *next;
	void *owner;
	task_exit_fn fn;
};

struct task {
	struct task *next;
	int32_t id;
	enum state state;
	pid_t pid;
	int wstatus;
	char *cmd;
	uint32_t uid;
	struct watcher *watchers;
	pthread_t reaper;
	bool has_reaper;
	struct timespec born;
	struct taskfs *t;
};

struct taskfs {
	pthread_mutex_t mu;
	pthread_cond_t ended; /* broadcast when any task ends */
	struct task *tasks;
	int32_t next_id;
	struct timespec born;
};

static const struct boxfs_fs_ops task_ops;

bool taskfs_is(const struct boxfs_fs *fs)
{
	return fs->ops == &task_ops;
}

struct taskfs *taskfs_of(struct boxfs_fs *fs)
{
	return fs->aux;
}

static struct task *find(struct taskfs *t, int64_t id)
{
	for (struct task *k = t->tasks; k; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static struct task *task_new(struct taskfs *t, enum state st, uint32_t uid)
{
	if (t->next_id == INT32_MAX)
		return NULL;
	struct task *k = calloc(1, sizeof *k);
	if (!k)
		return NULL;
	k->id = ++t->next_id;
	k->state = st;
	k->uid = uid;
	k->t = t;
	clock_gettime(CLOCK_REALTIME, &k->born);
	k->next = t->tasks;
	t->tasks = k;
	return k;
}

static void unlink_task(struct taskfs *t, struct task *k)
{
	for (struct task **pp = &t->tasks; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			return;
		}
	}
}

/* Tells and drops every watcher of k. Under mu. */
static void notify(struct task *k)
{
	while (k->watchers) {
		struct watcher *w = k->watchers;
		k->watchers = w->next;
		w->fn(w->owner, k->id);
		free(w);
	}
}

static void *reap(void *arg)
{
	struct task *k = arg;
	struct taskfs *t = k->t;
	int ws = 0;
	while (waitpid(k->pid, &ws, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&t->mu);
	k->wstatus = ws;
	k->state = T_ENDED;
	notify(k);
	pthread_cond_broadcast(&t->ended);
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int taskfs_launch(struct taskfs *t, const char *cmdline, uint32_t uid, int32_t *id)
{
	if (!*cmdline)
		return -EINVAL;
	char *cmd = strdup(cmdline);
	if (!cmd)
		return -ENOMEM;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	char *argv[] = { "sh", "-c", cmd, NULL };
	pthread_mutex_lock(&t->mu);
	int r = -ENOMEM;
	struct task *k = task_new(t, T_RUNNING, uid);
	if (k) {
		pid_t pid;
		int e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ);
		if (e) {
			r = -e;
		} else {
			k->pid = pid;
			k->cmd = cmd;
			cmd = NULL;
			if ((e = pthread_create(&k->reaper, NULL, reap, k)) != 0) {
				/* no reaper: end it now rather than leave a zombie unwatched */
				kill(-pid, SIGKILL);
				while (waitpid(pid, &k->wstatus, 0) < 0 && errno == EINTR)
					;
				k->state = T_ENDED;
			} else {
				k->has_reaper = true;
			}
			*id = k->id;
			r = 0;
		}
		if (r < 0) {
			unlink_task(t, k);
			free(k);
		}
	}
	pthread_mutex_unlock(&t->mu);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(cmd);
	return r;
}

int taskfs_alloc(struct taskfs *t, bool client, uint32_t uid, int32_t *id)
{
	pthread_mutex_lock(&t->mu);
	struct task *k = task_new(t, client ? T_CLIENT : T_ALLOC, uid);
	if (k)
		*id = k->id;
	pthread_mutex_unlock(&t->mu);
	return k ? 0 : -ENOMEM;
}

static void task_free(struct task *k)
{
	while (k->watchers) {
		struct watcher *w = k->watchers;
		k->watchers = w->next;
		free(w);
	}
	free(k->cmd);
	free(k);
}

int taskfs_free(struct taskfs *t, int32_t id, uint32_t uid)
{
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, id);
	int r = 0;
	if (!k)
		r = -ESRCH;
	else if (k->state == T_RUNNING)
		r = -EBUSY;
	else if (k->state == T_CLIENT || (uid != 0 && uid != k->uid))
		r = -EPERM;
	else
		unlink_task(t, k);
	pthread_mutex_unlock(&t->mu);
	if (r == 0) {
		if (k->has_reaper)
			pthread_join(k->reaper, NULL); /* it has set the state: it is returning */
		task_free(k);
	}
	return r;
}

void taskfs_client_gone(struct taskfs *t, int32_t id)
{
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, id);
	if (k && k->state == T_CLIENT) {
		k->state = T_ENDED;
		notify(k);
		pthread_cond_broadcast(&t->ended);
		unlink_task(t, k);
		task_free(k);
	}
	pthread_mutex_unlock(&t->mu);
}

int taskfs_watch(struct taskfs *t, int32_t id, void *owner, task_exit_fn fn)
{
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, id);
	int r = 0;
	if (!k) {
		r = -ESRCH;
	} else if (k->state == T_ENDED) {
		fn(owner, id);
	} else {
		struct watcher *w = calloc(1, sizeof *w);
		if (!w) {
			r = -ENOMEM;
		} else {
			w->owner = owner;
			w->fn = fn;
			w->next = k->watchers;
			k->watchers = w;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

int taskfs_unwatch(struct taskfs *t, int32_t id, void *owner)
{
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, id);
	int r = k ? 0 : -ESRCH;
	for (struct watcher **pp = k ? &k->watchers : NULL; pp && *pp;) {
		struct watcher *w = *pp;
		if (w->owner == owner) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

void taskfs_unwatch_all(struct taskfs *t, void *owner)
{
	pthread_mutex_lock(&t->mu);
	for (struct task *k = t->tasks; k; k = k->next) {
		for (struct watcher **pp = &k->watchers; *pp;) {
			struct watcher *w = *pp;
			if (w->owner == owner) {
				*pp = w->next;
				free(w);
			} else {
				pp = &w->next;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
}

/* ---- the file tree ---- */

/* The status line of k. Under mu. */
static int status_of(const struct task *k, char *buf, size_t cap)
{
	switch (k->state) {
	case T_ALLOC:
		return snprintf(buf, cap, "allocated\n");
	case T_CLIENT:
		return snprintf(buf, cap, "client\n");
	case T_RUNNING:
		return snprintf(buf, cap, "running %d %s\n", (int)k->pid, k->cmd);
	case T_ENDED:
		if (!k->pid)
			return snprintf(buf, cap, "exited 0\n");
		if (WIFSIGNALED(k->wstatus))
			return snprintf(buf, cap, "killed %d\n", WTERMSIG(k->wstatus));
		return snprintf(buf, cap, "exited %d\n", WEXITSTATUS(k->wstatus));
	}
	return 0;
}

static uint64_t ino_of(unsigned kind, int64_t id)
{
	return (uint64_t)id << 3 | kind;
}

static void attr_of(const struct taskfs *t, const struct task *k, unsigned kind,
		    struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = ino_of(kind, k ? k->id : 0);
	a->version = k ? 1 + (uint64_t)k->state : 1;
	a->nlink = 1;
	a->uid = a->gid = k ? k->uid : 0;
	switch (kind) {
	case K_ROOT:
	case K_DIR:
		a->mode = S_IFDIR | 0555;
		a->nlink = 2;
		break;
	case K_CTL:
		a->mode = S_IFREG | 0200;
		break;
	default:
		a->mode = S_IFREG | 0444;
	}
	a->atime = a->mtime = a->ctime = a->btime = k ? k->born : t->born;
	a->blksize = 4096;
}

static int make(struct taskfs *t, unsigned kind, int64_t id, void **node, struct boxfs_attr *attr)
{
	struct task *k = kind == K_ROOT ? NULL : find(t, id);
	if (kind != K_ROOT && !k)
		return -ENOENT;
	struct svc_node *n = svc_node_new(kind, id, NULL);
	if (!n)
		return -ENOMEM;
	attr_of(t, k, kind, attr);
	*node = n;
	return 0;
}

static int task_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	return make(aux, K_ROOT, 0, node, attr);
}

static int task_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		       struct boxfs_attr *attr)
{
	(void)c;
	struct taskfs *t = aux;
	struct svc_node *d = dir;
	int r = -ENOENT;
	pthread_mutex_lock(&t->mu);
	if (d->kind == K_ROOT && strcmp(name, "..") == 0) {
		r = make(t, K_ROOT, 0, node, attr);
	} else if (d->kind == K_ROOT) {
		char *end;
		long v = strtol(name, &end, 10);
		if (*name >= '1' && *name <= '9' && !*end && v > 0 && v <= INT32_MAX)
			r = make(t, K_DIR, v, node, attr);
	} else if (d->kind == K_DIR) {
		if (strcmp(name, "..") == 0)
			r = make(t, K_ROOT, 0, node, attr);
		else if (strcmp(name, "status") == 0)
			r = make(t, K_STATUS, d->id, node, attr);
		else if (strcmp(name, "ctl") == 0)
			r = make(t, K_CTL, d->id, node, attr);
		else if (strcmp(name, "wait") == 0)
			r = make(t, K_WAIT, d->id, node, attr);
	} else {
		r = -ENOTDIR;
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

static void task_forget(void *aux, void *node)
{
	(void)aux;
	free(node);
}

static int task_getattr(void *aux, struct boxfs_call *c, void *node, void *fh,
			struct boxfs_attr *attr)
{
	(void)c, (void)fh;
	struct taskfs *t = aux;
	struct svc_node *n = node;
	int r = 0;
	pthread_mutex_lock(&t->mu);
	struct task *k = n->kind == K_ROOT ? NULL : find(t, n->id);
	if (n->kind != K_ROOT && !k)
		r = -ENOENT;
	else
		attr_of(t, k, n->kind, attr);
	pthread_mutex_unlock(&t->mu);
	return r;
}

static int task_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)aux, (void)c, (void)fh;
	struct svc_node *n = node;
	bool wr = (flags & O_ACCMODE) != O_RDONLY;
	if (n->kind == K_ROOT || n->kind == K_DIR)
		return wr ? -EISDIR : 0;
	if (n->kind == K_CTL)
		return (flags & O_ACCMODE) == O_WRONLY ? 0 : -EACCES;
	return wr ? -EACCES : 0;
}

static ssize_t task_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			 size_t count, uint64_t off)
{
	(void)fh;
	struct taskfs *t = aux;
	struct svc_node *n = node;
	if (n->kind != K_STATUS && n->kind != K_WAIT)
		return n->kind == K_CTL ? -EACCES : -EISDIR;
	char line[600];
	ssize_t r = 0;
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, n->id);
	while (r == 0 && n->kind == K_WAIT && k && k->state != T_ENDED) {
		r = boxfs_call_wait(c, &t->ended, &t->mu);
		k = find(t, n->id);
	}
	if (r == 0 && !k)
		r = n->kind == K_WAIT ? 0 : -ENOENT; /* a client's id went as it ended */
	else if (r == 0) {
		int len = status_of(k, line, sizeof line);
		if (len < 0)
			len = 0;
		if ((size_t)len >= sizeof line)
			len = sizeof line - 1;
		if (off < (uint64_t)len) {
			size_t m = (size_t)len - off < count ? (size_t)len - off : count;
			memcpy(buf, line + off, m);
			r = (ssize_t)m;
		}
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

static ssize_t task_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			  size_t count, uint64_t off)
{
	(void)fh, (void)off;
	struct taskfs *t = aux;
	struct svc_node *n = node;
	if (n->kind != K_CTL)
		return -EACCES;
	char cmd[64];
	if (count >= sizeof cmd)
		return -EINVAL;
	memcpy(cmd, buf, count);
	cmd[count] = 0;
	if (count && cmd[count - 1] == '\n')
		cmd[count - 1] = 0;
	int sig = SIGTERM;
	if (strncmp(cmd, "kill", 4) != 0 || (cmd[4] && cmd[4] != ' '))
		return -EINVAL;
	if (cmd[4]) {
		char *end;
		long v = strtol(cmd + 5, &end, 10);
		if (*end || v <= 0 || v >= 65)
			return -EINVAL;
		sig = (int)v;
	}
	ssize_t r = (ssize_t)count;
	pthread_mutex_lock(&t->mu);
	struct task *k = find(t, n->id);
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	if (!k)
		r = -ENOENT;
	else if (cr->uid != 0 && cr->uid != k->uid)
		r = -EPERM;
	else if (k->state != T_RUNNING)
		r = -ESRCH;
	else if (kill(-k->pid, sig) < 0)
		r = -errno;
	pthread_mutex_unlock(&t->mu);
	return r;
}

static int task_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
			boxfs_fill_fn fill, void *ctx)
{
	(void)c, (void)fh;
	struct taskfs *t = aux;
	struct svc_node *d = dir;
	if (d->kind == K_DIR) {
		static const char *const names[] = { "status", "ctl", "wait" };
		for (uint64_t i = cookie; i < 3; i++)
			if (fill(ctx, names[i], ino_of(K_STATUS + (unsigned)i, d->id), DT_REG,
				 i + 1) != 0)
				break;
		return 0;
	}
	if (d->kind != K_ROOT)
		return -ENOTDIR;
	pthread_mutex_lock(&t->mu);
	/* newest first, ids falling: the cookie is the last id given */
	for (struct task *k = t->tasks; k; k = k->next) {
		if (cookie && (uint64_t)k->id >= cookie)
			continue;
		char name[16];
		snprintf(name, sizeof name, "%d", (int)k->id);
		if (fill(ctx, name, ino_of(K_DIR, k->id), DT_DIR, (uint64_t)k->id) != 0)
			break;
	}
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static void task_destroy(void *aux)
{
	struct taskfs *t = aux;
	pthread_mutex_lock(&t->mu);
	for (struct task *k = t->tasks; k; k = k->next)
		if (k->state == T_RUNNING)
			kill(-k->pid, SIGKILL);
	pthread_mutex_unlock(&t->mu);
	while (t->tasks) {
		struct task *k = t->tasks;
		if (k->has_reaper)
			pthread_join(k->reaper, NULL);
		t->tasks = k->next;
		task_free(k);
	}
	pthread_cond_destroy(&t->ended);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static const struct boxfs_fs_ops task_ops = {
	.root = task_root,
	.lookup = task_lookup,
	.forget = task_forget,
	.getattr = task_getattr,
	.open = task_open,
	.read = task_read,
	.write = task_write,
	.readdir = task_readdir,
	.destroy = task_destroy,
};

struct boxfs_fs *boxfs_taskfs_new(void)
{
	struct taskfs *t = calloc(1, sizeof *t);
	struct boxfs_fs *fs = calloc(1, sizeof *fs);
	if (!t || !fs) {
		free(t);
		free(fs);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->ended, NULL);
	clock_gettime(CLOCK_REALTIME, &t->born);
	*fs = (struct boxfs_fs){
		.ops = &task_ops, .aux = t, .flags = BOXFS_FS_TRY_INLINE, .name = "task"
	};
	return fs;
}
