/*
 * boxfs/synth.h — synthetic file trees: an application's state and controls
 * offered as files (a /ctl to write commands to, an /event to read, a
 * directory per client), built and changed at run time from any thread.
 *
 *	static int show(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out)
 *	{
 *		return boxfs_synth_printf(out, "%d\n", *(int *)boxfs_synth_ud(x));
 *	}
 *	static const struct boxfs_synth_file value_ops = { .snapshot = show };
 *
 *	struct boxfs_synth *t = boxfs_synth_new(0);
 *	boxfs_synth_file(t, "/value", 0444, &value_ops, &counter);
 *	boxfs_server_mount(srv, "/", boxfs_synth_fs(t));
 *
 * Nodes. A tree holds directories, files whose callbacks produce what is read
 * and consume what is written, event files, and directories whose entries
 * the application generates on demand. Nodes made at a path are entered in
 * the tree; the functions answer the node (NULL with errno: ENOENT when the
 * parent is missing, EEXIST, ENOTDIR, EINVAL for a bad path, ENOMEM). A node
 * belongs to the tree: the application's pointer stays valid until it calls
 * boxfs_synth_remove on it (or on a directory above it), and must not be
 * used after.
 *
 * Callbacks get a context (boxfs_synth_ctx) giving the node's user data and
 * the caller's credentials. They run on the server's loop thread (or on the
 * application's, see boxfs_server_opts.no_threads), never under a lock of
 * the tree, so they may change the tree or post events; unless the tree was
 * made with BOXFS_SYNTH_BLOCKING they must not block. Waiting is for event
 * files, which wait without a thread.
 *
 * Permissions: each node has a mode, an owner and a group (at first those
 * of the process that made the tree); opens, walks and lookups are checked
 * against the caller's credentials, and uid 0 may do everything.
 *
 * Returns: 0 or -errno for status, NULL plus errno for pointers.
 */
#ifndef BOXFS_SYNTH_H
#define BOXFS_SYNTH_H

#include <boxfs/common.h>
#include <boxfs/fs.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_synth;	  /* a tree */
struct boxfs_synth_node;  /* one node of it */
struct boxfs_synth_ctx;	  /* the context of one callback */
struct boxfs_synth_buf;	  /* what a snapshot callback fills */
struct boxfs_synth_names; /* what a directory's list callback fills */

/* Tree flags. */
enum {
	/* The callbacks may block (take a long time, wait for a lock): they
	 * run on the server's worker threads, never on its loop. */
	BOXFS_SYNTH_BLOCKING = 1 << 0,
};

/*
 * A ctl file's command: a line written to the file, split at blanks into
 * words, runs the command named by its first word with argv[0] that word
 * (at most 32 words; argv[argc] is NULL). fn answers 0 or -errno, and may
 * explain with boxfs_synth_error.
 */
struct boxfs_synth_cmd {
	const char *name;
	int (*fn)(struct boxfs_synth_ctx *x, int argc, char **argv);
};

/*
 * What a file does: fill only what it needs. Reading is one of
 *   snapshot  called at each open for reading: the file's whole content,
 *             from which that open's reads are served, so each reader sees
 *             one consistent text;
 *   read      called for each read, with its offset and count (a stream);
 * and writing one or more of
 *   write     called for each write, answering the count taken or -errno;
 *   cmds      a control file: a table ended by { NULL, NULL }; each line
 *             written runs a command, and the first error stops the write
 *             and is the writer's error (an unknown command is EINVAL);
 *   commit    called when an open for writing is closed, with everything
 *             written to it (at its offsets); its answer reaches no one,
 *             since closing a file cannot fail in 9P.
 * An open for reading a file without snapshot or read, or for writing one
 * without write, cmds or commit, is refused (EACCES). destroy, when set,
 * receives the node's user data once the node is gone: removed, and no open
 * file or callback uses it any more.
 */
struct boxfs_synth_file {
	int (*snapshot)(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out);
	ssize_t (*read)(struct boxfs_synth_ctx *x, void *buf, size_t count, uint64_t off);
	ssize_t (*write)(struct boxfs_synth_ctx *x, const void *buf, size_t count, uint64_t off);
	const struct boxfs_synth_cmd *cmds;
	int (*commit)(struct boxfs_synth_ctx *x, const void *data, size_t len);
	void (*destroy)(void *ud);
};

/*
 * A directory whose entries the application makes up: list names them
 * (boxfs_synth_add, when the directory is opened for reading), and lookup
 * makes the node for one name, new for each lookup, with
 * boxfs_synth_new_file or boxfs_synth_new_dir (*node; 0), or answers -ENOENT
 * (or another -errno). The nodes it makes are not entered in the tree and
 * go when no one uses them any more.
 */
struct boxfs_synth_dir {
	int (*list)(struct boxfs_synth_ctx *x, struct boxfs_synth_names *out);
	int (*lookup)(struct boxfs_synth_ctx *x, const char *name, struct boxfs_synth_node **node);
	void (*destroy)(void *ud);
};

/* A new, empty tree (a root directory, mode 0555); NULL+errno. */
BOXFS_API struct boxfs_synth *boxfs_synth_new(unsigned flags);

/*
 * The backend serving t, for boxfs_server_mount (once), which then owns the
 * tree: it is freed with the server. A tree never mounted is freed with
 * boxfs_fs_free(boxfs_synth_fs(t)).
 */
BOXFS_API struct boxfs_fs *boxfs_synth_fs(struct boxfs_synth *t);

/* The root directory. */
BOXFS_API struct boxfs_synth_node *boxfs_synth_root(struct boxfs_synth *t);

/* Makes a directory at path ("/a/b": /a must exist). */
BOXFS_API struct boxfs_synth_node *boxfs_synth_mkdir(struct boxfs_synth *t, const char *path,
						     uint32_t mode);

/* Makes a file at path doing what ops says (ops must outlive the node). */
BOXFS_API struct boxfs_synth_node *boxfs_synth_file(struct boxfs_synth *t, const char *path,
						    uint32_t mode,
						    const struct boxfs_synth_file *ops, void *ud);

/*
 * Makes an event file at path. Each open for reading has its own queue,
 * which boxfs_synth_post feeds from then on; a read answers what is queued,
 * whole events first (an event longer than the read is split), and when
 * nothing is, waits — without a thread — until a post, a flush or a
 * hang-up. At most max_queued bytes (0: 64 KiB) wait per open: beyond that
 * the oldest events are dropped, so a reader that stops reading costs a
 * bounded amount of memory and never stops the others.
 */
BOXFS_API struct boxfs_synth_node *boxfs_synth_events(struct boxfs_synth *t, const char *path,
						      uint32_t mode, size_t max_queued);

/* Appends len bytes, as one event, to the queue of every open of the event
 * file n. Any thread. 0, -ENOMEM, or -EINVAL when n is no event file. */
BOXFS_API int boxfs_synth_post(struct boxfs_synth_node *n, const void *data, size_t len);

/* Makes a generated directory at path (ops must outlive the node). */
BOXFS_API struct boxfs_synth_node *boxfs_synth_gendir(struct boxfs_synth *t, const char *path,
						      uint32_t mode,
						      const struct boxfs_synth_dir *ops, void *ud);

/* Nodes for a generated directory's lookup, not entered in the tree. */
BOXFS_API struct boxfs_synth_node *boxfs_synth_new_file(struct boxfs_synth *t, uint32_t mode,
							const struct boxfs_synth_file *ops,
							void *ud);
BOXFS_API struct boxfs_synth_node *boxfs_synth_new_dir(struct boxfs_synth *t, uint32_t mode,
						       const struct boxfs_synth_dir *ops, void *ud);

/*
 * Removes n (and everything below it) from the tree. Files open on it keep
 * their open handles but answer ENOENT to reads and writes (an event file's
 * reads answer end of file, waiting ones included); no callback of n starts
 * after this returns, though one running on another thread may finish. The
 * node's destroy runs once the last user is gone. 0, or -EBUSY for the root.
 */
BOXFS_API int boxfs_synth_remove(struct boxfs_synth_node *n);

/* Changes a node's permission bits (mode & 07777), owner and group. */
BOXFS_API void boxfs_synth_chmod(struct boxfs_synth_node *n, uint32_t mode);
BOXFS_API void boxfs_synth_chown(struct boxfs_synth_node *n, uint32_t uid, uint32_t gid);

/* The node at path, or NULL+errno (ENOENT); generated entries are not
 * found this way. */
BOXFS_API struct boxfs_synth_node *boxfs_synth_find(struct boxfs_synth *t, const char *path);

/* The user data a node was made with. */
BOXFS_API void *boxfs_synth_node_ud(const struct boxfs_synth_node *n);

/* ---- inside callbacks ---- */

/* The user data of the node the callback is for. */
BOXFS_API void *boxfs_synth_ud(const struct boxfs_synth_ctx *x);

/* The node the callback is for. */
BOXFS_API struct boxfs_synth_node *boxfs_synth_node(const struct boxfs_synth_ctx *x);

/* Who is asking (uid 0 with no groups for commit, which runs at close). */
BOXFS_API const struct boxfs_cred *boxfs_synth_cred(const struct boxfs_synth_ctx *x);

/*
 * Explains an error: answers err (a negative errno) and sets the message
 * the writer or reader receives where the protocol carries one (9P2000's
 * Rerror; 9P2000.L carries err alone):
 *	return boxfs_synth_error(x, -EINVAL, "bad number '%s'", argv[1]);
 */
BOXFS_API int boxfs_synth_error(struct boxfs_synth_ctx *x, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Appends to a snapshot: 0 or -ENOMEM. */
BOXFS_API int boxfs_synth_append(struct boxfs_synth_buf *b, const void *data, size_t len);
BOXFS_API int boxfs_synth_printf(struct boxfs_synth_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Adds a name to a directory listing: 0, -EINVAL for a name that cannot be
 * one ("", ".", "..", with '/', above 255 bytes), -ENOMEM. */
BOXFS_API int boxfs_synth_add(struct boxfs_synth_names *l, const char *name);

#ifdef __cplusplus
}
#endif
#endif
