/*
 * dial.c — Plan 9 dial strings: parsing, dialing and announcing.
 */
#include "base/dial.h"

#include "base/tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int parse_unix(struct bx_addr *a, const char *path)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
	size_t n = strlen(path);
	if (n == 0 || (path[0] == '@' && n == 1))
		return -EINVAL;
	if (n >= sizeof un->sun_path)
		return -ENAMETOOLONG;
	memset(un, 0, sizeof *un);
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (path[0] == '@') {
		un->sun_path[0] = '\0'; /* abstract: no NUL terminator counted */
		a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		a->salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	a->net = BX_NET_UNIX;
	return 0;
}

static int parse_tcp(struct bx_addr *a, const char *rest)
{
	const char *bang = strrchr(rest, '!');
	if (!bang || bang == rest || !bang[1])
		return -EINVAL;
	char host[256];
	size_t hn = (size_t)(bang - rest);
	if (hn >= sizeof host)
		return -ENAMETOOLONG;
	memcpy(host, rest, hn);
	host[hn] = '\0';
	char *h = host;
	if (h[0] == '[' && hn > 2 && h[hn - 1] == ']') {
		h[hn - 1] = '\0';
		h++;
	}
	snprintf(a->host, sizeof a->host, "%s", h);
	char *end;
	long port = strtol(bang + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return -EINVAL;
	if (strcmp(h, "*") == 0)
		h = "0.0.0.0";
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res;
	char ps[8];
	snprintf(ps, sizeof ps, "%ld", port);
	int r = getaddrinfo(h, ps, &hints, &res);
	if (r == EAI_ADDRFAMILY || r == EAI_NONAME)
		hints.ai_flags = AI_NUMERICSERV, r = getaddrinfo(h, ps, &hints, &res);
	if (r != 0)
		return r == EAI_NONAME ? -ENOENT : -EHOSTUNREACH;
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->salen = res->ai_addrlen;
	freeaddrinfo(res);
	a->net = BX_NET_TCP;
	return 0;
}

static int parse_fd(struct bx_addr *a, const char *rest)
{
	char *end;
	long r = strtol(rest, &end, 10);
	long w = r;
	if (*end == '!')
		w = strtol(end + 1, &end, 10);
	if (*end || end == rest || r < 0 || w < 0 || r > 1 << 20 || w > 1 << 20)
		return -EINVAL;
	a->net = BX_NET_FD;
	a->rfd = (int)r;
	a->wfd = (int)w;
	return 0;
}

int bx_addr_parse(struct bx_addr *a, const char *dial)
{
	memset(a, 0, sizeof *a);
	a->rfd = a->wfd = -1;
	if (strncmp(dial, "unix!", 5) == 0)
		return parse_unix(a, dial + 5);
	if (strncmp(dial, "tcp!", 4) == 0)
		return parse_tcp(a, dial + 4);
	if (strncmp(dial, "tls!", 4) == 0) {
		int r = parse_tcp(a, dial + 4);
		if (r == 0)
			a->net = BX_NET_TLS;
		return r;
	}
	if (strncmp(dial, "fd!", 3) == 0)
		return parse_fd(a, dial + 3);
	if (strchr(dial, '/') && !strchr(dial, '!'))
		return parse_unix(a, dial);
	return -EINVAL;
}

static int new_socket(const struct bx_addr *a, int type)
{
	int fd = socket(a->sa.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (a->net == BX_NET_TCP || a->net == BX_NET_TLS) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return fd;
}

int bx_dial(const char *dial)
{
	return bx_dial_type(dial, SOCK_STREAM);
}

int bx_dial_type(const char *dial, int type)
{
	struct bx_addr a;
	int r = bx_addr_parse(&a, dial);
	if (r < 0)
		return r;
	if (a.net == BX_NET_FD)
		return -EINVAL;
	if (a.net == BX_NET_TLS && (r = bx_tls_client_ready()) < 0)
		return r;
	if (type != SOCK_STREAM && a.net != BX_NET_UNIX)
		return -EPROTOTYPE;
	int fd = new_socket(&a, type);
	if (fd < 0)
		return fd;
	while (connect(fd, (struct sockaddr *)&a.sa, a.salen) < 0) {
		if (errno == EINTR)
			continue;
		r = -errno;
		close(fd);
		return r;
	}
	return a.net == BX_NET_TLS ? bx_tls_dial(fd, a.host) : fd;
}

/* True when someone accepts connections on the Unix socket path. */
static bool unix_in_use(const struct bx_addr *a, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool used = connect(fd, (const struct sockaddr *)&a->sa, a->salen) == 0;
	close(fd);
	return used;
}

int bx_announce(const char *dial)
{
	return bx_announce_type(dial, SOCK_STREAM);
}

int bx_announce_type(const char *dial, int type)
{
	struct bx_addr a;
	int r = bx_addr_parse(&a, dial);
	if (r < 0)
		return r;
	if (a.net == BX_NET_FD || (type != SOCK_STREAM && a.net != BX_NET_UNIX))
		return -EINVAL;
	int fd = new_socket(&a, type);
	if (fd < 0)
		return fd;
	if (a.net == BX_NET_TCP || a.net == BX_NET_TLS) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (a.sa.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	r = bind(fd, (struct sockaddr *)&a.sa, a.salen);
	if (r < 0 && errno == EADDRINUSE && a.net == BX_NET_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&a.sa;
		struct stat st;
		/* only a stale socket is replaced; any other file stays */
		if (un->sun_path[0] && lstat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    !unix_in_use(&a, type)) {
			unlink(un->sun_path);
			r = bind(fd, (struct sockaddr *)&a.sa, a.salen);
		}
	}
	if (r < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int bx_sock_dialstr(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	int n;
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;
		size_t pn = len - offsetof(struct sockaddr_un, sun_path);
		if (pn > 0 && un->sun_path[0] == '\0')
			n = snprintf(buf, cap, "unix!@%.*s", (int)(pn - 1), un->sun_path + 1);
		else
			n = snprintf(buf, cap, "unix!%s", un->sun_path);
	} else {
		char host[NI_MAXHOST], serv[NI_MAXSERV];
		if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
				NI_NUMERICHOST | NI_NUMERICSERV) != 0)
			return -EINVAL;
		n = snprintf(buf, cap, strchr(host, ':') ? "tcp![%s]!%s" : "tcp!%s!%s", host, serv);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}
