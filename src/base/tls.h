/*
 * tls.h — TLS 1.3 as a transport, terminated by a pump.
 *
 * A TLS session never reaches the rest of boxfs: a pump thread sits between
 * the TCP socket that carries it and one end of a socketpair, and the other
 * end is what a client library reads and writes (bx_dial hands it out for
 * tls!host!port) or what the server serves as an ordinary connection. So
 * every door and every client library gets TLS without knowing it.
 *
 * A pump does the handshake (10 s at most), then moves bytes both ways until
 * either side closes or fails; it then closes both, and ends. The pump alone
 * touches the SSL object, with every signal blocked, so a write to a peer
 * that is gone raises no SIGPIPE in the application.
 *
 * Built without OpenSSL, everything here answers -EPROTONOSUPPORT.
 */
#ifndef BOXFS_BASE_TLS_H
#define BOXFS_BASE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Loads the client configuration, if no dial did yet: 0, or -errno as
 * boxfs_tls_client_config answers it (-EPROTONOSUPPORT without TLS). */
int bx_tls_client_ready(void);

/*
 * Runs the client handshake on fd, a connected TCP socket, checking the
 * server's certificate against host (a name or an IP address) with the
 * process's client configuration (boxfs_tls_client_config, else the
 * BOXFS_TLS_* environment variables). Consumes fd. Answers the plaintext
 * end of the session, or -errno: -EKEYREJECTED when the server's certificate
 * does not verify, -ETIMEDOUT, -ECONNRESET when the server hung up, -EPROTO
 * for any other handshake failure; a configuration error as
 * boxfs_tls_client_config tells it.
 */
int bx_tls_dial(int fd, const char *host);

/* A server's TLS context and its running pumps. */
struct bx_tls_server;

/*
 * A server context from PEM files: a certificate chain, its private key and,
 * when ca is set, the CAs whose client certificates are required. NULL and
 * errno: ENOKEY without cert or key, EPROTONOSUPPORT without OpenSSL, a
 * file's errno when it cannot be read, EINVAL when OpenSSL refuses one; why
 * (when cap > 0) then names the file and OpenSSL's reason. Failed handshakes
 * are reported on log when it is set.
 */
struct bx_tls_server *bx_tls_server_new(const char *cert, const char *key, const char *ca,
					FILE *log, char *why, size_t cap);

/*
 * Serves TLS on net, an accepted TCP socket, with loc the plaintext end of
 * the session: a pump does the handshake and moves the bytes. Consumes both
 * descriptors, closing them on failure. Answers 0 or -errno.
 */
int bx_tls_serve(struct bx_tls_server *ts, int net, int loc);

/* Waits until every pump of ts has ended (the plaintext ends of their
 * sessions must be closed, or closing), then frees ts. NULL is a no-op. */
void bx_tls_server_free(struct bx_tls_server *ts);

#endif
