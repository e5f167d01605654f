/*
 * boxfs/memfs.h — the memfile server: named locks with optional shared
 * memory segments, served to smdish clients (docs/protocols/smdish.md) and
 * shown in the 9P namespace as a flat directory of files.
 *
 * A memfile exists while a descriptor, a mapping, a pending fork record or a
 * 9P reference names it. Through 9P a memfile reads as its segment and its
 * size is the segment's; writes change the segment in place (never its size);
 * a 9P2000.L lock of any range takes the memfile's whole lock, the one smdish
 * clients contend for. Names are created only by smdish `open`.
 */
#ifndef BOXFS_MEMFS_H
#define BOXFS_MEMFS_H

#include <boxfs/fs.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_memfs_opts {
	uint32_t max_segment; /* bytes of one segment: 64 MiB */
	unsigned max_files;   /* memfiles alive at once: 65536 */
};

/* A new, empty memfile server (opts may be NULL); NULL with errno set on
 * failure. Mount it (the default server mounts it at /mem) to serve smdish. */
BOXFS_API struct boxfs_fs *boxfs_memfs_new(const struct boxfs_memfs_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
