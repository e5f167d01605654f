/*
 * ctl.c — a counter driven by control commands: write "inc", "dec" or
 * "set N" lines to /ctl, read the value from /value. The server runs on a
 * thread of the library's own while main waits.
 *
 *	./ctl unix!/tmp/ctl.sock &
 *	boxfs -a unix!/tmp/ctl.sock write /ctl 'set 41'
 *	boxfs -a unix!/tmp/ctl.sock write /ctl inc
 *	boxfs -a unix!/tmp/ctl.sock cat /value        # 42
 */
#include <boxfs/server.h>
#include <boxfs/synth.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long counter;

static int show(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out)
{
	(void)x;
	return boxfs_synth_printf(out, "%ld\n", atomic_load(&counter));
}

static int add(struct boxfs_synth_ctx *x, int argc, char **argv)
{
	if (argc != 1)
		return boxfs_synth_error(x, -EINVAL, "%s takes no argument", argv[0]);
	atomic_fetch_add(&counter, strcmp(argv[0], "inc") == 0 ? 1 : -1);
	return 0;
}

static int set(struct boxfs_synth_ctx *x, int argc, char **argv)
{
	char *end;
	long v = argc == 2 ? strtol(argv[1], &end, 0) : 0;
	if (argc != 2 || *end)
		return boxfs_synth_error(x, -EINVAL, "usage: set number");
	atomic_store(&counter, v);
	return 0;
}

static const struct boxfs_synth_cmd cmds[] = {
	{ "inc", add }, { "dec", add }, { "set", set }, { NULL, NULL }
};
static const struct boxfs_synth_file ctl_ops = { .cmds = cmds };
static const struct boxfs_synth_file value_ops = { .snapshot = show };

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ctl address\n");
		return 2;
	}
	struct boxfs_server *srv = boxfs_server_new(NULL);
	struct boxfs_synth *tree = boxfs_synth_new(0);
	if (!srv || !tree || !boxfs_synth_file(tree, "/ctl", 0222, &ctl_ops, NULL) ||
	    !boxfs_synth_file(tree, "/value", 0444, &value_ops, NULL))
		return 1;
	int r = boxfs_server_mount(srv, "/", boxfs_synth_fs(tree));
	if (r == 0)
		r = boxfs_server_listen(srv, "9p", argv[1]);
	if (r == 0)
		r = boxfs_server_start(srv); /* a thread of the library's */
	if (r < 0) {
		fprintf(stderr, "ctl: %s\n", strerror(-r));
		return 1;
	}
	for (;;)
		pause(); /* the application's own work would go here */
}
