/*
 * events.c — an event file fed by a timer, served from the program's own
 * poll loop: no thread is made, by the program or by boxfs. Each reader of
 * /event gets a line per tick; a read waits (without a thread) until the
 * next one.
 *
 *	./events unix!/tmp/ev.sock &
 *	boxfs -a unix!/tmp/ev.sock cat /event
 */
#include <boxfs/server.h>
#include <boxfs/synth.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: events address\n");
		return 2;
	}
	struct boxfs_server_opts opts = { .no_threads = true, .trust_uname = true };
	struct boxfs_server *srv = boxfs_server_new(&opts);
	struct boxfs_synth *tree = boxfs_synth_new(0);
	struct boxfs_synth_node *ev = tree ? boxfs_synth_events(tree, "/event", 0444, 0) : NULL;
	if (!srv || !ev)
		return 1;
	int r = boxfs_server_mount(srv, "/", boxfs_synth_fs(tree));
	if (r == 0)
		r = boxfs_server_listen(srv, "9p", argv[1]);
	if (r < 0) {
		fprintf(stderr, "events: %s\n", strerror(-r));
		return 1;
	}
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct itimerspec every = { { 0, 100000000 }, { 0, 100000000 } }; /* 100 ms */
	timerfd_settime(tfd, 0, &every, NULL);
	unsigned long tick = 0;
	for (;;) {
		struct pollfd p[2] = { { .fd = boxfs_server_fd(srv), .events = POLLIN },
				       { .fd = tfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[0].revents & POLLIN)
			boxfs_server_dispatch(srv);
		uint64_t n;
		if ((p[1].revents & POLLIN) && read(tfd, &n, sizeof n) == sizeof n) {
			char line[64];
			int len = snprintf(line, sizeof line, "tick %lu\n", ++tick);
			boxfs_synth_post(ev, line, (size_t)len);
		}
	}
}
