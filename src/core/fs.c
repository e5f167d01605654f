/*
 * fs.c — backend instances: the parts of the contract every backend shares.
 */
#include <boxfs/fs.h>

#include <stdlib.h>

void boxfs_fs_free(struct boxfs_fs *fs)
{
	if (!fs)
		return;
	if (fs->ops->destroy)
		fs->ops->destroy(fs->aux);
	free(fs);
}
