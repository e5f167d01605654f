/*
 * dial.h — Plan 9 dial strings to sockets, for servers and clients alike.
 *
 *	unix!/path/to/socket	a Unix stream socket at a path
 *	unix!@name		a Linux abstract Unix socket
 *	tcp!host!port		TCP, IPv4 or IPv6 ("[::1]" or "::1" both work)
 *	tls!host!port		TCP carrying TLS 1.3 (base/tls.h); the client checks
 *				the server's certificate against host
 *	fd!R!W			an inherited pair of descriptors (R may equal W)
 *
 * A bare path (containing '/') is read as unix!path; "host:port" is not
 * accepted, to keep one syntax.
 */
#ifndef BOXFS_BASE_DIAL_H
#define BOXFS_BASE_DIAL_H

#include <stdbool.h>
#include <sys/socket.h>

enum bx_net { BX_NET_UNIX, BX_NET_TCP, BX_NET_TLS, BX_NET_FD };

struct bx_addr {
	enum bx_net net;
	struct sockaddr_storage sa; /* UNIX, TCP and TLS */
	socklen_t salen;
	char host[256]; /* TCP and TLS: the host as written, without brackets */
	int rfd, wfd;	/* FD */
};

/* Parses a dial string. 0, or -EINVAL (bad syntax), -ENAMETOOLONG, or a
 * getaddrinfo failure as -EHOSTUNREACH / -ENOENT. */
int bx_addr_parse(struct bx_addr *a, const char *dial);

/*
 * A connected, close-on-exec stream socket for a (not for BX_NET_FD), or
 * -errno. For tls! it is one end of a socketpair whose other end a pump
 * thread joins to the TLS session, handshaken already; bx_tls_dial tells
 * the errors.
 */
int bx_dial(const char *dial);

/* bx_dial with a socket type: SOCK_SEQPACKET works for unix! addresses only
 * (-EPROTOTYPE for others). */
int bx_dial_type(const char *dial, int type);

/*
 * A listening close-on-exec socket for a dial string, or -errno. A Unix
 * socket that exists but has nobody listening is replaced; one that is in
 * use, or a path that is not a socket, answers -EADDRINUSE. TCP listeners
 * set SO_REUSEADDR. A tls! listener is a plain TCP one: the server runs
 * TLS on what it accepts.
 */
int bx_announce(const char *dial);

/* bx_announce with a socket type: SOCK_SEQPACKET for unix! addresses only
 * (-EINVAL for others). */
int bx_announce_type(const char *dial, int type);

/* Formats the address a listening socket is bound to as a dial string
 * (port 0 becomes the real port), tcp! for TCP. Answers 0 or -errno. */
int bx_sock_dialstr(int fd, char *buf, size_t cap);

#endif
