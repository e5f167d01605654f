/*
 * hello.c — the smallest boxfs file server: one file, /hello, served over
 * 9P at the address given (unix!/tmp/hello.sock, tcp!*!5640 ...).
 *
 *	cc hello.c $(pkg-config --cflags --libs boxfs) -o hello
 *	./hello unix!/tmp/hello.sock &
 *	boxfs -a unix!/tmp/hello.sock cat /hello
 */
#include <boxfs/server.h>
#include <boxfs/synth.h>

#include <stdio.h>
#include <string.h>

static int hello(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out)
{
	(void)x;
	return boxfs_synth_printf(out, "hello, world\n");
}

static const struct boxfs_synth_file hello_ops = { .snapshot = hello };

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hello address\n");
		return 2;
	}
	struct boxfs_server *srv = boxfs_server_new(NULL);
	struct boxfs_synth *tree = boxfs_synth_new(0);
	if (!srv || !tree || !boxfs_synth_file(tree, "/hello", 0444, &hello_ops, NULL))
		return 1;
	int r = boxfs_server_mount(srv, "/", boxfs_synth_fs(tree));
	if (r == 0)
		r = boxfs_server_listen(srv, "9p", argv[1]);
	if (r == 0)
		r = boxfs_server_run(srv); /* until killed */
	if (r < 0)
		fprintf(stderr, "hello: %s\n", strerror(-r));
	boxfs_server_free(srv);
	return r < 0;
}
