/*
 * testlib.c — see testlib.h.
 */
#include "testlib.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[4096];
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		rm_tree(sub);
	}
	if (d)
		closedir(d);
	return rmdir(path);
}

struct boxfs_server *serve_root(struct boxfs_fs *root, const char *addr,
				const struct boxfs_server_opts *opts)
{
	struct boxfs_server *s = boxfs_server_new(opts);
	if (!s || !root) {
		boxfs_fs_free(root);
		boxfs_server_free(s);
		return NULL;
	}
	if (boxfs_server_mount(s, "/", root) < 0 || boxfs_server_listen(s, "9p", addr) < 0 ||
	    boxfs_server_start(s) < 0) {
		boxfs_server_free(s);
		return NULL;
	}
	return s;
}
