/*
 * socket.c — ixp_dial and ixp_announce: libixp's dial strings
 * (unix!path, tcp!host!port; tcp!*!port listens on every address) to
 * connected or listening sockets. Descriptors are close-on-exec.
 */
#include "ixp_impl.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof sa->sun_path) {
		ixp_seterr(n ? "socket path too long" : "empty socket path");
		return -1;
	}
	memcpy(sa->sun_path, path, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

static int dial_unix(char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (unix_addr(path, &sa, &len) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int announce_unix(char *path)
{
	struct sockaddr_un sa;
	socklen_t len;
	if (unix_addr(path, &sa, &len) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || chmod(path, S_IRWXU) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Splits "host!port" in place and resolves it. NULL with the error set. */
static struct addrinfo *resolve(char *host, bool passive)
{
	char *port = strchr(host, '!');
	if (!port) {
		ixp_seterr("no port provided");
		return NULL;
	}
	*port++ = '\0';
	if (!*port || strchr(port, '!')) {
		ixp_seterr("invalid port number");
		return NULL;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	if (passive) {
		hints.ai_flags = AI_PASSIVE;
		if (strcmp(host, "*") == 0)
			host = NULL;
	}
	struct addrinfo *res = NULL;
	int e = getaddrinfo(host, port, &hints, &res);
	if (e != 0) {
		ixp_werrstr("getaddrinfo: %s", gai_strerror(e));
		return NULL;
	}
	return res;
}

static int tcp(char *host, bool announce)
{
	struct addrinfo *res = resolve(host, announce);
	if (!res)
		return -1;
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (announce) {
			int yes = 1;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
			    listen(fd, SOMAXCONN) == 0)
				break;
		} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		ixp_werrstr("%s: %s", announce ? "bind" : "connect", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0 && announce)
		signal(SIGPIPE, SIG_IGN);
	return fd;
}

static int dial_tcp(char *a)
{
	return tcp(a, false);
}

static int announce_tcp(char *a)
{
	return tcp(a, true);
}

struct addrtab {
	const char *type;
	int (*fn)(char *);
};

static int lookup(const char *address, const struct addrtab *tab)
{
	if (!address) {
		ixp_seterr("no address");
		return -1;
	}
	char *type = ixp_estrdup(address);
	char *rest = strchr(type, '!');
	int fd = -1;
	if (!rest) {
		ixp_seterr("no address type defined");
	} else {
		*rest++ = '\0';
		for (; tab->type; tab++)
			if (strcmp(tab->type, type) == 0)
				break;
		if (!tab->type)
			ixp_seterr("unsupported address type");
		else
			fd = tab->fn(rest);
	}
	free(type);
	return fd;
}

static const struct addrtab dial_tab[] = {
	{ "tcp", dial_tcp },
	{ "unix", dial_unix },
	{ NULL, NULL },
};

static const struct addrtab announce_tab[] = {
	{ "tcp", announce_tcp },
	{ "unix", announce_unix },
	{ NULL, NULL },
};

int ixp_dial(const char *address)
{
	return lookup(address, dial_tab);
}

int ixp_announce(const char *address)
{
	return lookup(address, announce_tab);
}
