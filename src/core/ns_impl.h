/*
 * ns_impl.h — the namespace: backend instances mounted at paths, and the
 * nodes (vnodes) doors hold while a client refers to them.
 *
 * A vnode is one reference to one backend node, plus the mount it lives in
 * and its identity. Doors hold vnodes (a 9P fid holds one); walking from a
 * vnode answers a new vnode, crossing into mounted instances and back out
 * through "..", so that every door sees one tree. Vnodes are reference
 * counted and may be used from any thread.
 *
 * Backend calls go through the bx_fs_* wrappers below, which answer the
 * contract's defaults for operations a backend left out and serialize calls
 * into BOXFS_FS_SERIAL instances.
 */
#ifndef BOXFS_CORE_NS_IMPL_H
#define BOXFS_CORE_NS_IMPL_H

#include <boxfs/fs.h>

#include <pthread.h>
#include <stdatomic.h>

struct bx_mount {
	struct boxfs_fs *fs; /* owned */
	char *path;	     /* where it is mounted, "/" for the root */
	uint16_t id;	     /* index in the namespace; the top bits of qid paths */
	struct bx_mount *parent;
	uint64_t covered_ino; /* the directory it covers in parent */
	struct bx_vnode *root;
	pthread_mutex_t serial; /* taken around calls into BOXFS_FS_SERIAL instances */
};

struct bx_vnode {
	atomic_uint ref;
	struct bx_mount *mnt;
	void *node; /* one backend reference, given back when ref drops to 0 */
	uint64_t ino;
	uint32_t mode; /* S_IFMT bits at the time of lookup (a node never changes type) */
};

struct bx_ns;

/* An empty namespace; bx_ns_mount("/", ...) must come first. NULL on ENOMEM. */
struct bx_ns *bx_ns_new(void);

/* Frees the namespace and every mounted instance (vnodes must all be put). */
void bx_ns_free(struct bx_ns *ns);

/*
 * Mounts fs at path (taking ownership of fs, also on failure). The directory
 * is created in the instance that holds it when missing. Answers 0 or -errno.
 */
int bx_ns_mount(struct bx_ns *ns, const char *path, struct boxfs_fs *fs);

/* The namespace root, with a new reference. */
struct bx_vnode *bx_ns_root(struct bx_ns *ns);

/*
 * Walks one name from dir: "." stays, ".." climbs (staying at the namespace
 * root), any other name is looked up and crosses into an instance mounted
 * there.
 * Answers 0 with *out holding a new reference, or -errno.
 */
int bx_ns_walk(struct bx_ns *ns, struct boxfs_call *c, struct bx_vnode *dir, const char *name,
	       struct bx_vnode **out, struct boxfs_attr *attr);

/* Walks a '/'-separated path from the root (for anames and tools). */
int bx_ns_walk_path(struct bx_ns *ns, struct boxfs_call *c, const char *path,
		    struct bx_vnode **out);

/* A vnode for a node a backend just answered (create, mkdir ...): takes over
 * that node's reference. NULL on ENOMEM (the node is then forgotten). */
struct bx_vnode *bx_vnode_new(struct bx_mount *m, void *node, const struct boxfs_attr *attr);

static inline struct bx_vnode *bx_vnode_get(struct bx_vnode *v)
{
	atomic_fetch_add_explicit(&v->ref, 1, memory_order_relaxed);
	return v;
}

/* Drops a reference and sets *v to NULL. */
void bx_vnode_put(struct bx_vnode **v);

/* The mounted vnode that covers (m, ino), if a mount sits there; with a new
 * reference. Used to present mount points in directory listings. */
struct bx_vnode *bx_ns_covering(struct bx_ns *ns, struct bx_mount *m, uint64_t ino);

/* A 64-bit identity unique in the whole namespace for (mount, ino). */
uint64_t bx_ns_qid_path(struct bx_ns *ns, const struct bx_mount *m, uint64_t ino);

/* The backend calls, with the contract's defaults. */
int bx_fs_getattr(struct boxfs_call *c, struct bx_vnode *v, void *fh, struct boxfs_attr *a);
int bx_fs_setattr(struct boxfs_call *c, struct bx_vnode *v, void *fh,
		  const struct boxfs_setattr *sa, struct boxfs_attr *a);
int bx_fs_open(struct boxfs_call *c, struct bx_vnode *v, int flags, void **fh);
int bx_fs_create(struct boxfs_call *c, struct bx_vnode *dir, const char *name, int flags,
		 uint32_t mode, struct bx_vnode **out, struct boxfs_attr *a, void **fh);
ssize_t bx_fs_read(struct boxfs_call *c, struct bx_vnode *v, void *fh, void *buf, size_t n,
		   uint64_t off);
/* -EOPNOTSUPP when the backend has no read_direct. */
ssize_t bx_fs_read_direct(struct boxfs_call *c, struct bx_vnode *v, void *fh, size_t n,
			  uint64_t off, boxfs_give_fn give, void *ctx);
ssize_t bx_fs_write(struct boxfs_call *c, struct bx_vnode *v, void *fh, const void *buf, size_t n,
		    uint64_t off);
int bx_fs_readdir(struct boxfs_call *c, struct bx_vnode *v, void *fh, uint64_t cookie,
		  boxfs_fill_fn fill, void *ctx);
int bx_fs_mkdir(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		struct bx_vnode **out, struct boxfs_attr *a);
int bx_fs_symlink(struct boxfs_call *c, struct bx_vnode *dir, const char *name, const char *target,
		  struct bx_vnode **out, struct boxfs_attr *a);
int bx_fs_mknod(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		uint64_t rdev, struct bx_vnode **out, struct boxfs_attr *a);
int bx_fs_link(struct boxfs_call *c, struct bx_vnode *v, struct bx_vnode *dir, const char *name);
int bx_fs_unlink(struct boxfs_call *c, struct bx_vnode *dir, const char *name, int flags);
int bx_fs_rename(struct boxfs_call *c, struct bx_vnode *odir, const char *oname,
		 struct bx_vnode *ndir, const char *nname, unsigned flags);
ssize_t bx_fs_readlink(struct boxfs_call *c, struct bx_vnode *v, char *buf, size_t cap);
int bx_fs_fsync(struct boxfs_call *c, struct bx_vnode *v, void *fh, bool datasync);
int bx_fs_statfs(struct boxfs_call *c, struct bx_vnode *v, struct boxfs_statfs *st);
/* A real descriptor for the open file fh (the caller's), or -EOPNOTSUPP. */
int bx_fs_export_fd(struct boxfs_call *c, struct bx_vnode *v, void *fh, int flags);
ssize_t bx_fs_getxattr(struct boxfs_call *c, struct bx_vnode *v, const char *name, void *buf,
		       size_t cap);
int bx_fs_setxattr(struct boxfs_call *c, struct bx_vnode *v, const char *name, const void *val,
		   size_t size, int flags);
ssize_t bx_fs_listxattr(struct boxfs_call *c, struct bx_vnode *v, char *buf, size_t cap);
int bx_fs_removexattr(struct boxfs_call *c, struct bx_vnode *v, const char *name);
int bx_fs_lock(struct boxfs_call *c, struct bx_vnode *v, void *fh, int cmd, struct boxfs_lock *lk);
void bx_fs_release(struct bx_vnode *v, void *fh);

/* Tells every instance that the session behind owner has ended. */
void bx_ns_owner_gone(struct bx_ns *ns, const void *owner);

/* The first mount (in mount order) whose instance match accepts, or NULL. */
struct bx_mount *bx_ns_find(struct bx_ns *ns, bool (*match)(const struct boxfs_fs *fs));

/* True when every mounted instance has one of the BOXFS_FS_* flags given. */
bool bx_ns_all_flags(struct bx_ns *ns, unsigned any_of);

#endif
