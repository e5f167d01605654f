/*
 * serve.c — `boxfs serve`: a RAM tree served over 9P until SIGINT/SIGTERM.
 */
#include "cli.h"

#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct boxfs_server *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		boxfs_server_stop(running);
}

static void serve_usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs serve [OPTIONS]\n"
		"\n"
		"Serves a RAM file tree over 9P (9P2000, 9P2000.u and 9P2000.L) until\n"
		"interrupted. With no --listen it listens on the default Unix socket and\n"
		"prints its address.\n"
		"\n"
		"  -l, --listen [DOOR=]ADDR  listen on ADDR (repeatable); DOOR is 9p\n"
		"                            ADDR: unix!/path, unix!@name, tcp!host!port, fd!R!W\n"
		"  -d, --debug               print every message in and out on stderr\n"
		"      --max-bytes SIZE      cap the RAM tree's data (K, M, G suffixes)\n"
		"      --msize SIZE          largest 9P message offered (default 1M+24)\n"
		"      --max-conns N         connections at once (default 1024)\n"
		"      --max-requests N      outstanding requests per connection (default 256)\n"
		"      --workers N           threads for blocking backends (default 16)\n"
		"      --no-trust-uname      on TCP, act as nobody instead of the attach name\n"
		"  -h, --help                this text\n");
}

int cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },
		{ "max-bytes", required_argument, NULL, 'B' },
		{ "msize", required_argument, NULL, 'm' },
		{ "max-conns", required_argument, NULL, 'C' },
		{ "max-requests", required_argument, NULL, 'R' },
		{ "workers", required_argument, NULL, 'W' },
		{ "no-trust-uname", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct boxfs_server_opts so = { .trust_uname = true };
	struct boxfs_ramfs_opts ro = { 0 };
	const char *listen[32];
	unsigned nlisten = 0;
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "l:dh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (nlisten == 32) {
				warnx_("serve", "too many --listen options");
				return 2;
			}
			listen[nlisten++] = optarg;
			break;
		case 'd':
			so.debug = stderr;
			break;
		case 'B':
		case 'm':
		case 'C':
		case 'R':
		case 'W':
			if (parse_size(optarg, &v) < 0 || (c != 'B' && v > 0xffffffffull)) {
				warnx_("serve", "bad number: %s", optarg);
				return 2;
			}
			if (c == 'B')
				ro.max_bytes = v;
			else if (c == 'm')
				so.max_msize = (uint32_t)v;
			else if (c == 'C')
				so.max_conns = (unsigned)v;
			else if (c == 'R')
				so.max_requests = (unsigned)v;
			else
				so.workers = (unsigned)v;
			break;
		case 'T':
			so.trust_uname = false;
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			serve_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		serve_usage(stderr);
		return 2;
	}
	if (so.max_msize && so.max_msize < 4096) {
		warnx_("serve", "--msize must be at least 4096");
		return 2;
	}

	char defaddr[600];
	if (nlisten == 0) {
		int r = default_address(defaddr, sizeof defaddr, true);
		if (r < 0) {
			warnx_("serve", "no default socket directory: %s", strerror(-r));
			return 1;
		}
		listen[nlisten++] = defaddr;
	}

	struct boxfs_server *srv = boxfs_server_new(&so);
	if (!srv) {
		warnx_("serve", "%s", strerror(errno));
		return 1;
	}
	int r = boxfs_server_mount(srv, "/", boxfs_ramfs_new(&ro));
	if (r < 0) {
		warnx_("serve", "mounting the RAM tree: %s", strerror(-r));
		boxfs_server_free(srv);
		return 1;
	}
	for (unsigned i = 0; i < nlisten; i++) {
		const char *door = "9p", *addr = listen[i];
		const char *eq = strchr(addr, '=');
		char dname[16];
		if (eq && (size_t)(eq - addr) < sizeof dname &&
		    !memchr(addr, '!', (size_t)(eq - addr))) {
			memcpy(dname, addr, (size_t)(eq - addr));
			dname[eq - addr] = '\0';
			door = dname;
			addr = eq + 1;
		}
		r = boxfs_server_listen(srv, door, addr);
		if (r < 0) {
			warnx_("serve", "cannot listen on %s%s%s: %s", r == -EINVAL ? "" : "", addr,
			       r == -EINVAL ? " (bad address or unknown door)" : "", strerror(-r));
			boxfs_server_free(srv);
			return 1;
		}
	}
	for (unsigned i = 0; boxfs_server_address(srv, i); i++)
		printf("boxfs: serving 9p on %s\n", boxfs_server_address(srv, i));
	fflush(stdout);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	running = srv;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = boxfs_server_run(srv);
	running = NULL;
	boxfs_server_free(srv);
	if (r < 0) {
		warnx_("serve", "%s", strerror(-r));
		return 1;
	}
	return 0;
}
