/*
 * nofuse.c — `boxfs mount` and `boxfs umount` in a build without libfuse3
 * (meson option fuse, or no fuse3 development files).
 */
#include "../boxfs/cli.h"

#include <stdio.h>

int cmd_mount(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	warnx_("mount", "this boxfs was built without FUSE (install libfuse3-dev and rebuild)");
	return 1;
}

int cmd_umount(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	warnx_("umount", "this boxfs was built without FUSE (install libfuse3-dev and rebuild)");
	return 1;
}
