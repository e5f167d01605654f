/*
 * serve.c — `boxfs serve`: a RAM tree served over 9P until SIGINT/SIGTERM.
 */
#include "cli.h"

#include <boxfs/hostfs.h>
#include <boxfs/memfs.h>
#include <boxfs/svcfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/tls.h>

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
		"Serves a RAM file tree, or host directories, over 9P (9P2000, 9P2000.u and\n"
		"9P2000.L) until interrupted, with memfiles at /mem, also served over smdish.\n"
		"With no --listen it listens on the default Unix sockets ($XDG_RUNTIME_DIR/\n"
		"boxfs/9p, boxfs/mem for smdish, boxfs/idl for the idl door, boxfs/op for\n"
		"Plan B's boxes) and prints their addresses. Resea's services are mounted\n"
		"at /srv, /task and /dev.\n"
		"\n"
		"  -e, --export [NAME=]DIR   serve DIR: as the root, or with NAME as /NAME\n"
		"                            beside the RAM tree (aname NAME); repeatable\n"
		"      --ro                  exports are read-only\n"
		"      --squash UID:GID      exports act as UID:GID for every client\n"
		"      --allow-special       exports list and create device nodes, FIFOs and\n"
		"                            sockets (never opened either way)\n"
		"  -l, --listen [DOOR=]ADDR  listen on ADDR (repeatable); DOOR is 9p (the\n"
		"                            default), smdish, idl, rio or op\n"
		"      --forward PATH=ADDR   rio: pass OPENs below PATH, with their channel,\n"
		"                            to the rio server at ADDR (repeatable)\n"
		"                            ADDR: unix!/path, unix!@name, tcp!host!port,\n"
		"                            tls!host!port (TLS 1.3 over TCP), fd!R!W\n"
		"      --tls-cert FILE       the certificate chain tls! listeners present (PEM)\n"
		"      --tls-key FILE        its private key (PEM)\n"
		"      --tls-ca FILE         require client certificates signed by these CAs\n"
		"  -d, --debug               print every message in and out on stderr\n"
		"      --max-bytes SIZE      cap the RAM tree's data (K, M, G suffixes)\n"
		"      --msize SIZE          largest 9P message offered (default 1M+24)\n"
		"      --max-conns N         connections at once (default 1024)\n"
		"      --max-requests N      outstanding requests per connection (default 256)\n"
		"      --max-fids N          fids per connection (default 65536)\n"
		"      --workers N           threads for blocking backends (default 16)\n"
		"      --poll-us N           after bulk data and TCP requests, poll N µs\n"
		"                            before sleeping\n"
		"                            (default 50; 0: never)\n"
		"      --no-trust-uname      on TCP, act as nobody instead of the attach name\n"
		"      --max-segment SIZE    largest memfile segment (default 64M)\n"
		"      --token-ttl SECONDS   an unclaimed smdish fork token expires (default 60)\n"
		"      --blk NAME=FILE       a disk image: /dev/blk/NAME and the idl blk service\n"
		"                            (repeatable; blk.* serves the first)\n"
		"  -h, --help                this text\n");
}

/*
 * The namespace: an unnamed export is the root; otherwise the RAM tree is,
 * with each NAME=DIR export mounted at /NAME. Answers 0 or -errno (said).
 */
static int mount_all(struct boxfs_server *srv, const struct boxfs_ramfs_opts *ro,
		     struct boxfs_hostfs_opts *ho, const struct boxfs_memfs_opts *mo,
		     const char *const *exports, unsigned n)
{
	const char *root_dir = NULL;
	for (unsigned i = 0; i < n; i++) {
		if (!strchr(exports[i], '=')) {
			if (root_dir) {
				warnx_("serve", "only one --export may be unnamed");
				return -EINVAL;
			}
			root_dir = exports[i];
		}
	}
	if (root_dir && n > 1) {
		warnx_("serve", "an unnamed --export is the whole tree: name the others too");
		return -EINVAL;
	}
	struct boxfs_fs *root;
	if (root_dir) {
		ho->root = root_dir;
		root = boxfs_hostfs_new(ho);
		if (!root) {
			warnx_("serve", "cannot export %s: %s", root_dir, strerror(errno));
			return -errno;
		}
	} else {
		root = boxfs_ramfs_new(ro);
	}
	int r = boxfs_server_mount(srv, "/", root);
	if (r < 0) {
		warnx_("serve", "mounting the root: %s", strerror(-r));
		return r;
	}
	/* Memfiles beside the RAM tree; never a directory made in a host export. */
	struct boxfs_fs *mem = root_dir ? NULL : boxfs_memfs_new(mo);
	if (!root_dir && (!mem || (r = boxfs_server_mount(srv, "/mem", mem)) < 0)) {
		warnx_("serve", "mounting the memfiles at /mem: %s", strerror(mem ? -r : errno));
		return mem ? r : -errno;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *eq = strchr(exports[i], '=');
		if (!eq)
			continue;
		char path[300];
		int len = snprintf(path, sizeof path, "/%.*s", (int)(eq - exports[i]), exports[i]);
		if (len <= 1 || (size_t)len >= sizeof path || strchr(path + 1, '/')) {
			warnx_("serve", "bad export name in %s", exports[i]);
			return -EINVAL;
		}
		ho->root = eq + 1;
		struct boxfs_fs *fs = boxfs_hostfs_new(ho);
		if (!fs) {
			warnx_("serve", "cannot export %s: %s", eq + 1, strerror(errno));
			return -errno;
		}
		if ((r = boxfs_server_mount(srv, path, fs)) < 0) {
			warnx_("serve", "mounting %s at %s: %s", eq + 1, path, strerror(-r));
			return r;
		}
	}
	return 0;
}

/*
 * Resea's services beside the RAM tree: the registry at /srv, tasks at
 * /task, devices at /dev (never directories made in a host export root).
 */
static int mount_services(struct boxfs_server *srv, const struct boxfs_devfs_opts *dop,
			  const char *const *exports, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!strchr(exports[i], '='))
			return 0;
	struct {
		const char *path;
		struct boxfs_fs *fs;
	} m[] = { { "/srv", boxfs_srvfs_new() },
		  { "/task", boxfs_taskfs_new() },
		  { "/dev", boxfs_devfs_new(dop) } };
	int r = 0;
	for (unsigned i = 0; i < 3; i++) {
		if (!m[i].fs && r == 0) {
			r = -errno;
			warnx_("serve", "%s: %s", m[i].path, strerror(errno));
		} else if (r == 0 && (r = boxfs_server_mount(srv, m[i].path, m[i].fs)) < 0) {
			warnx_("serve", "mounting %s: %s", m[i].path, strerror(-r));
		} else if (r < 0) {
			boxfs_fs_free(m[i].fs);
		}
	}
	return r;
}

/* The address of a [DOOR=]ADDR argument, *door set to its door. */
static const char *split_door(const char *arg, const char **door, char *dname, size_t cap)
{
	const char *eq = strchr(arg, '=');
	*door = "9p";
	if (eq && (size_t)(eq - arg) < cap && !memchr(arg, '!', (size_t)(eq - arg))) {
		memcpy(dname, arg, (size_t)(eq - arg));
		dname[eq - arg] = '\0';
		*door = dname;
		return eq + 1;
	}
	return arg;
}

/*
 * The TLS options against the listeners: a tls! listener needs a
 * certificate and key, and those files must load. Answers the exit status
 * when they do not, else 0.
 */
static int check_tls(const struct boxfs_server_opts *so, const char *const *listen, unsigned n)
{
	const char *missing = NULL;
	if (so->tls_cert && !so->tls_key)
		missing = "--tls-cert needs --tls-key";
	else if (so->tls_key && !so->tls_cert)
		missing = "--tls-key needs --tls-cert";
	else if (so->tls_ca && !so->tls_cert)
		missing = "--tls-ca needs --tls-cert and --tls-key";
	if (missing) {
		warnx_("serve", "%s", missing);
		return 2;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *door;
		char dname[16];
		const char *addr = split_door(listen[i], &door, dname, sizeof dname);
		if (strncmp(addr, "tls!", 4) == 0 && !so->tls_cert) {
			warnx_("serve", "%s needs --tls-cert and --tls-key", addr);
			return 2;
		}
	}
	char why[512];
	if (so->tls_cert &&
	    boxfs_tls_check(so->tls_cert, so->tls_key, so->tls_ca, why, sizeof why) < 0) {
		warnx_("serve", "%s", why);
		return 1;
	}
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	enum { OPT_TLS_CERT = 256, OPT_TLS_KEY, OPT_TLS_CA, OPT_BLK, OPT_FORWARD };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "debug", no_argument, NULL, 'd' },
		{ "max-bytes", required_argument, NULL, 'B' },
		{ "msize", required_argument, NULL, 'm' },
		{ "max-conns", required_argument, NULL, 'C' },
		{ "max-requests", required_argument, NULL, 'R' },
		{ "max-fids", required_argument, NULL, 'F' },
		{ "workers", required_argument, NULL, 'W' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "no-trust-uname", no_argument, NULL, 'T' },
		{ "max-segment", required_argument, NULL, 'G' },
		{ "token-ttl", required_argument, NULL, 'K' },
		{ "export", required_argument, NULL, 'e' },
		{ "ro", no_argument, NULL, 'o' },
		{ "squash", required_argument, NULL, 'S' },
		{ "allow-special", no_argument, NULL, 'X' },
		{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "blk", required_argument, NULL, OPT_BLK },
		{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
		{ "forward", required_argument, NULL, OPT_FORWARD },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct boxfs_server_opts so = { .trust_uname = true };
	struct boxfs_ramfs_opts ro = { 0 };
	struct boxfs_memfs_opts mo = { 0 };
	struct boxfs_devfs_blk blk[16];
	struct boxfs_devfs_opts dop = { .blk = blk };
	const char *listen[32], *exports[32], *forwards[32];
	unsigned nforwards = 0;
	unsigned nlisten = 0, nexports = 0;
	struct boxfs_hostfs_opts ho = { 0 };
	int c;
	unsigned long long v;
	while ((c = getopt_long(argc, argv, "l:de:h", longopts, NULL)) != -1) {
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
		case 'F':
		case 'W':
		case 'P':
		case 'G':
			if (parse_size(optarg, &v) < 0 || (c != 'B' && v > 0xffffffffull) ||
			    (c == 'P' && v > 1000000) || (c == 'G' && v == 0)) {
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
			else if (c == 'P')
				so.poll_us = v ? (int)v : -1;
			else if (c == 'F')
				so.max_fids = (unsigned)v;
			else if (c == 'G')
				mo.max_segment = (uint32_t)v;
			else
				so.workers = (unsigned)v;
			break;
		case 'T':
			so.trust_uname = false;
			break;
		case 'K': {
			char *end;
			double secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs >= 0.001 && secs <= 86400)) {
				warnx_("serve",
				       "--token-ttl wants seconds (0.001 to 86400), not %s",
				       optarg);
				return 2;
			}
			so.token_ttl_ms = (unsigned)(secs * 1000 + 0.5);
			break;
		}
		case 'e':
			if (nexports == 32) {
				warnx_("serve", "too many --export options");
				return 2;
			}
			exports[nexports++] = optarg;
			break;
		case 'o':
			ho.readonly = true;
			break;
		case 'X':
			ho.allow_special = true;
			break;
		case 'S': {
			unsigned uid, gid;
			char extra;
			if (sscanf(optarg, "%u:%u%c", &uid, &gid, &extra) != 2) {
				warnx_("serve", "--squash wants UID:GID, not %s", optarg);
				return 2;
			}
			ho.squash = true;
			ho.squash_uid = uid;
			ho.squash_gid = gid;
			break;
		}
		case OPT_BLK: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg || !eq[1] || dop.nblk == 16) {
				warnx_("serve", "--blk wants NAME=FILE (at most 16), not %s",
				       optarg);
				return 2;
			}
			*eq = 0;
			blk[dop.nblk] = (struct boxfs_devfs_blk){ optarg, eq + 1 };
			dop.nblk++;
			break;
		}
		case OPT_TLS_CERT:
			so.tls_cert = optarg;
			break;
		case OPT_TLS_KEY:
			so.tls_key = optarg;
			break;
		case OPT_TLS_CA:
			so.tls_ca = optarg;
			break;
		case OPT_FORWARD:
			if (nforwards == 32 || !strchr(optarg, '=')) {
				warnx_("serve", "--forward takes PATH=ADDR (at most 32)");
				return 2;
			}
			forwards[nforwards++] = optarg;
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
	int st = check_tls(&so, listen, nlisten);
	if (st)
		return st;

	char defaddr[600], defmem[600];
	bool defaults = nlisten == 0;
	if (defaults) {
		int r = default_address(defaddr, sizeof defaddr, "9p", true);
		if (r == 0)
			r = default_address(defmem, sizeof defmem, "mem", true);
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
	int r = mount_all(srv, &ro, &ho, &mo, exports, nexports);
	if (r == 0)
		r = mount_services(srv, &dop, exports, nexports);
	for (unsigned i = 0; r == 0 && i < nforwards; i++) {
		char path[4096];
		const char *eq = strchr(forwards[i], '=');
		snprintf(path, sizeof path, "%.*s", (int)(eq - forwards[i]), forwards[i]);
		if ((r = boxfs_server_forward(srv, path, eq + 1)) < 0)
			warnx_("serve", "--forward %s: %s", forwards[i], strerror(-r));
	}
	if (r < 0) {
		boxfs_server_free(srv);
		return 1;
	}
	for (unsigned i = 0; i < nlisten; i++) {
		const char *door;
		char dname[16];
		const char *addr = split_door(listen[i], &door, dname, sizeof dname);
		r = boxfs_server_listen(srv, door, addr);
		if (r < 0) {
			if (r == -EINVAL && strncmp(addr, "tls!", 4) != 0)
				warnx_("serve",
				       "cannot listen on %s: not a known door and dial string",
				       listen[i]);
			else if (r == -ENOENT && strcmp(door, "smdish") == 0)
				warnx_("serve", "cannot serve smdish: memfiles are mounted at /mem "
						"only when the root is the RAM tree");
			else
				warnx_("serve", "cannot listen on %s: %s", addr, strerror(-r));
			boxfs_server_free(srv);
			return 1;
		}
	}
	/* By default memfiles are served too, where there are memfiles. */
	if (defaults && (r = boxfs_server_listen(srv, "smdish", defmem)) < 0 && r != -ENOENT) {
		warnx_("serve", "cannot listen on %s: %s", defmem, strerror(-r));
		boxfs_server_free(srv);
		return 1;
	}
	/* And Resea's services over the idl door, and boxes over op. */
	static const char *const more[] = { "idl", "op" };
	for (size_t i = 0; defaults && i < sizeof more / sizeof *more; i++) {
		char def[600];
		if (default_address(def, sizeof def, more[i], true) == 0 &&
		    (r = boxfs_server_listen(srv, more[i], def)) < 0) {
			warnx_("serve", "cannot listen on %s: %s", def, strerror(-r));
			boxfs_server_free(srv);
			return 1;
		}
	}
	for (unsigned i = 0; boxfs_server_address(srv, i); i++)
		printf("boxfs: serving %s on %s\n", boxfs_server_door(srv, i),
		       boxfs_server_address(srv, i));
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
