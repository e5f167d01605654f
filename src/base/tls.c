/*
 * tls.c — TLS 1.3 with OpenSSL: the client and server contexts, and the
 * pump that joins a TLS session to a socketpair (see tls.h). bx_dial calls
 * bx_tls_dial for tls! addresses; the server core makes one bx_tls_server
 * and hands it each connection accepted on a tls! listener.
 *
 * A pump is one detached thread with all signals blocked, owning the SSL
 * object, the TCP socket ("net") and its end of the socketpair ("loc"),
 * both non-blocking. It first runs the handshake, then loops: it moves what
 * it can each way (at most one TLS record's worth is held per direction),
 * and when nothing moves it polls for exactly what the stalled operations
 * wait for — SSL_read and SSL_write may each want the socket readable or
 * writable — so it never spins. When either side reaches its end or fails,
 * it delivers what it holds (LINGER_MS at most), sends close_notify, closes
 * everything and ends.
 */
#include "base/tls.h"

#include <boxfs/tls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HANDSHAKE_MS 10000 /* a handshake that takes longer is abandoned */
#define LINGER_MS    5000  /* after one side ended, to deliver what is held */
#define PUMP_BUF     16384 /* one TLS record's worth of plaintext each way */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void tls_init(void)
{
	/* No clean-up at exit: a pump may still be ending while the process
	 * exits, and must not find OpenSSL torn down under it. */
	OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS |
				 OPENSSL_INIT_LOAD_CRYPTO_STRINGS,
			 NULL);
}

/* ---- errors ---- */

/* Formats OpenSSL's oldest queued error (the cause; later ones say where it
 * surfaced) into buf, or fallback when there is none; clears the queue. */
static const char *ssl_reason(char *buf, size_t cap, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	const char *lib = e ? ERR_lib_error_string(e) : NULL;
	if (r && lib)
		snprintf(buf, cap, "%s (%s)", r, lib);
	else
		snprintf(buf, cap, "%s", r ? r : fallback);
	ERR_clear_error();
	return buf;
}

/*
 * OpenSSL refused file (a "certificate", "key" or "CA file"): says why in
 * why — the system's reason when it cannot be read, else OpenSSL's — and
 * answers the matching -errno.
 */
static int file_error(const char *what, const char *file, char *why, size_t cap)
{
	char reason[256];
	int err = EINVAL;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		snprintf(reason, sizeof reason, "%s", strerror(err));
		ERR_clear_error();
	} else {
		close(fd);
		ssl_reason(reason, sizeof reason, "not usable");
	}
	snprintf(why, cap, "%s %s: %s", what, file, reason);
	return -err;
}

/* ---- contexts ---- */

/* Loads a certificate chain and its key (both or neither). 0 or -errno. */
static int load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *why, size_t cap)
{
	if (!cert && !key)
		return 0;
	if (!cert || !key) {
		snprintf(why, cap, "%s %s has no %s", cert ? "certificate" : "key",
			 cert ? cert : key, cert ? "key" : "certificate");
		return -EINVAL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
		return file_error("certificate", cert, why, cap);
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return file_error("key", key, why, cap);
	if (SSL_CTX_check_private_key(ctx) != 1) {
		char reason[256];
		snprintf(why, cap, "key %s does not match certificate %s: %s", key, cert,
			 ssl_reason(reason, sizeof reason, "mismatch"));
		return -EINVAL;
	}
	return 0;
}

/* Loads the CAs that verify the peer; a server also names them to clients. */
static int load_ca(SSL_CTX *ctx, bool server, const char *ca, char *why, size_t cap)
{
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		return file_error("CA file", ca, why, cap);
	if (server) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		ERR_clear_error();
	}
	return 0;
}

/*
 * A TLS 1.3 context. A client verifies the server's certificate against ca,
 * else the system's default CAs; a server with ca requires a client
 * certificate signed by them. NULL with *err (and why) on failure.
 */
static SSL_CTX *ctx_new(bool server, const char *cert, const char *key, const char *ca, char *why,
			size_t cap, int *err)
{
	char scratch[8];
	if (!why || cap == 0)
		why = scratch, cap = sizeof scratch;
	pthread_once(&init_once, tls_init);
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		snprintf(why, cap, "cannot make a TLS context");
		*err = -ENOMEM;
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	int r = SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 ? 0 : -EPROTONOSUPPORT;
	if (r == 0)
		r = load_pair(ctx, cert, key, why, cap);
	if (r == 0 && ca)
		r = load_ca(ctx, server, ca, why, cap);
	if (r == 0 && !ca && !server && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		char reason[256];
		snprintf(why, cap, "the system's CAs: %s",
			 ssl_reason(reason, sizeof reason, "not found"));
		r = -EINVAL;
	}
	if (r < 0) {
		SSL_CTX_free(ctx);
		*err = r;
		return NULL;
	}
	if (server) {
		/* No resumption: every connection is a whole handshake. */
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		if (ca)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
					   NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

int boxfs_tls_check(const char *cert_file, const char *key_file, const char *ca_file, char *why,
		    size_t cap)
{
	int err = 0;
	SSL_CTX *ctx = ctx_new(true, cert_file, key_file, ca_file, why, cap, &err);
	SSL_CTX_free(ctx);
	return ctx ? 0 : err;
}

/* The client configuration: set by boxfs_tls_client_config, else made from
 * the environment at the first dial. Dials hold their own references. */
static pthread_mutex_t client_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *client_ctx;

int boxfs_tls_client_config(const char *ca_file, const char *cert_file, const char *key_file)
{
	int err = 0;
	SSL_CTX *ctx = ctx_new(false, cert_file, key_file, ca_file, NULL, 0, &err);
	if (!ctx)
		return err;
	pthread_mutex_lock(&client_mu);
	SSL_CTX *old = client_ctx;
	client_ctx = ctx;
	pthread_mutex_unlock(&client_mu);
	SSL_CTX_free(old);
	return 0;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* A reference to the client context, or NULL with *err. */
static SSL_CTX *client_ctx_get(int *err)
{
	pthread_mutex_lock(&client_mu);
	if (!client_ctx)
		client_ctx = ctx_new(false, env("BOXFS_TLS_CERT"), env("BOXFS_TLS_KEY"),
				     env("BOXFS_TLS_CA"), NULL, 0, err);
	SSL_CTX *ctx = client_ctx;
	if (ctx)
		SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&client_mu);
	return ctx;
}

int bx_tls_client_ready(void)
{
	int err = 0;
	SSL_CTX *ctx = client_ctx_get(&err);
	SSL_CTX_free(ctx);
	return ctx ? 0 : err;
}

/* ---- the pump ---- */

/* A client's bx_tls_dial, waiting for the handshake's outcome. */
struct dial_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
};

struct bx_tls_server {
	SSL_CTX *ctx;
	FILE *log; /* failed handshakes, when set */
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when pumps drops to 0 */
	unsigned pumps;	   /* running, under mu */
};

struct pump {
	SSL *ssl;
	int net, loc;
	struct bx_tls_server *ts; /* a server's pump is counted there; NULL on clients */
	struct dial_wait *wait;	  /* a client's dialer, until the handshake ends */
	char peer[64];		  /* the client's address, for the log */
	size_t uplen, upoff;	  /* up: from loc, for the session */
	size_t downlen, downoff;  /* down: from the session, for loc */
	uint8_t up[PUMP_BUF];
	uint8_t down[PUMP_BUF];
};

static struct timespec deadline(int ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

/* Milliseconds left until t, 0 when it passed. */
static int ms_left(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(t->tv_sec - now.tv_sec) * 1000 +
		       (t->tv_nsec - now.tv_nsec + 999999) / 1000000;
	return ms <= 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Why the handshake failed, as -errno (see bx_tls_dial) and in why. */
static int handshake_error(struct pump *p, int r, char *why, size_t cap)
{
	int e = SSL_get_error(p->ssl, r);
	long v = SSL_get_verify_result(p->ssl);
	if (v != X509_V_OK) {
		ERR_clear_error();
		snprintf(why, cap, "%s certificate: %s", p->ts ? "client" : "server",
			 X509_verify_cert_error_string(v));
		return -EKEYREJECTED;
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		int err = errno && errno != EAGAIN ? errno : ECONNRESET;
		snprintf(why, cap, "%s", strerror(err));
		return -err;
	}
	if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(why, cap, "closed by the peer");
		return -ECONNRESET;
	}
	ssl_reason(why, cap, "protocol error");
	return -EPROTO;
}

/* Runs the handshake on the non-blocking socket within HANDSHAKE_MS; gives up
 * when loc hangs up (nobody wants the session). 0 or -errno, said in why. */
static int handshake(struct pump *p, char *why, size_t cap)
{
	struct timespec end = deadline(HANDSHAKE_MS);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		int r = SSL_do_handshake(p->ssl);
		if (r == 1)
			return 0;
		struct pollfd fds[2] = { { .fd = p->net }, { .fd = p->loc } };
		switch (SSL_get_error(p->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			fds[0].events = POLLIN;
			break;
		case SSL_ERROR_WANT_WRITE:
			fds[0].events = POLLOUT;
			break;
		default:
			return handshake_error(p, r, why, cap);
		}
		int ms = ms_left(&end);
		int n = ms > 0 ? poll(fds, 2, ms) : 0;
		if (n < 0 && errno != EINTR) {
			int err = errno;
			snprintf(why, cap, "poll: %s", strerror(err));
			return -err;
		}
		if (n == 0) {
			snprintf(why, cap, "no handshake within %d s", HANDSHAKE_MS / 1000);
			return -ETIMEDOUT;
		}
		if (n > 0 && fds[1].revents) {
			snprintf(why, cap, "abandoned");
			return -ECONNABORTED;
		}
	}
}

/* Moves bytes both ways until either side ends (see the top of the file). */
static void pump_run(struct pump *p)
{
	bool net_end = false, loc_end = false;	 /* nothing more is read from that side */
	bool net_dead = false, loc_dead = false; /* nor written to it */
	bool lingering = false;
	struct timespec end;
	for (;;) {
		short netev = 0, locev = 0;
		bool moved = false;

		if (!net_end && !loc_end && p->downlen == 0) {
			ERR_clear_error();
			int n = SSL_read(p->ssl, p->down, sizeof p->down);
			if (n > 0) {
				p->downlen = (size_t)n;
				p->downoff = 0;
				moved = true;
			} else {
				switch (SSL_get_error(p->ssl, n)) {
				case SSL_ERROR_WANT_READ:
					netev |= POLLIN;
					break;
				case SSL_ERROR_WANT_WRITE:
					netev |= POLLOUT;
					break;
				case SSL_ERROR_ZERO_RETURN: /* close_notify */
					net_end = moved = true;
					break;
				default:
					net_end = net_dead = moved = true;
					break;
				}
			}
		}
		if (p->downoff < p->downlen && !loc_dead) {
			ssize_t n = send(p->loc, p->down + p->downoff, p->downlen - p->downoff,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				p->downoff += (size_t)n;
				moved = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				locev |= POLLOUT;
			} else {
				loc_end = loc_dead = moved = true;
			}
		}
		if (p->downoff == p->downlen || loc_dead)
			p->downlen = p->downoff = 0;

		if (!loc_end && !net_end && p->uplen == 0) {
			ssize_t n = recv(p->loc, p->up, sizeof p->up, MSG_DONTWAIT);
			if (n > 0) {
				p->uplen = (size_t)n;
				p->upoff = 0;
				moved = true;
			} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				locev |= POLLIN;
			} else {
				loc_end = moved = true;
			}
		}
		if (p->upoff < p->uplen && !net_dead) {
			ERR_clear_error();
			int n = SSL_write(p->ssl, p->up + p->upoff, (int)(p->uplen - p->upoff));
			if (n > 0) {
				p->upoff += (size_t)n;
				moved = true;
			} else {
				switch (SSL_get_error(p->ssl, n)) {
				case SSL_ERROR_WANT_WRITE:
					netev |= POLLOUT;
					break;
				case SSL_ERROR_WANT_READ:
					netev |= POLLIN;
					break;
				default:
					net_end = net_dead = moved = true;
					break;
				}
			}
		}
		if (p->upoff == p->uplen || net_dead)
			p->uplen = p->upoff = 0;

		if ((net_end || loc_end) && p->uplen == 0 && p->downlen == 0)
			break;
		if (moved)
			continue;
		if ((net_end || loc_end) && !lingering) {
			end = deadline(LINGER_MS);
			lingering = true;
		}
		int ms = lingering ? ms_left(&end) : -1;
		if (ms == 0 || (!netev && !locev))
			break;
		/* Only what an operation waits for: a hang-up on a descriptor
		 * nobody waits on would wake the poll again and again. */
		struct pollfd fds[2] = { { .fd = netev ? p->net : -1, .events = netev },
					 { .fd = locev ? p->loc : -1, .events = locev } };
		int n = poll(fds, 2, ms);
		if (n < 0 && errno != EINTR)
			break;
	}
	if (!net_dead) {
		ERR_clear_error();
		SSL_shutdown(p->ssl); /* close_notify, if the socket takes it now */
	}
	ERR_clear_error();
}

/* Frees p and everything it holds; a server's pump is counted out last. */
static void pump_free(struct pump *p)
{
	struct bx_tls_server *ts = p->ts;
	SSL_free(p->ssl);
	close(p->net);
	close(p->loc);
	free(p);
	if (ts) {
		pthread_mutex_lock(&ts->mu);
		if (--ts->pumps == 0)
			pthread_cond_broadcast(&ts->cv);
		pthread_mutex_unlock(&ts->mu);
	}
}

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	char why[256];
	int r = handshake(p, why, sizeof why);
	if (p->wait) {
		struct dial_wait *w = p->wait;
		p->wait = NULL;
		pthread_mutex_lock(&w->mu);
		w->done = true;
		w->err = r;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	if (r == 0)
		pump_run(p);
	else if (p->ts && p->ts->log)
		fprintf(p->ts->log, "boxfs: TLS handshake with %s failed: %s\n", p->peer, why);
	pump_free(p);
	return NULL;
}

/*
 * A pump for ssl between net and loc, which it owns from then on. NULL when
 * out of memory (and nothing is taken).
 */
static struct pump *pump_new(SSL *ssl, int net, int loc, struct bx_tls_server *ts)
{
	struct pump *p = malloc(sizeof *p);
	if (!p)
		return NULL;
	*p = (struct pump){ .ssl = ssl, .net = net, .loc = loc, .ts = ts };
	fcntl(net, F_SETFL, fcntl(net, F_GETFL) | O_NONBLOCK);
	fcntl(loc, F_SETFL, fcntl(loc, F_GETFL) | O_NONBLOCK);
	if (ts)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	return p;
}

/* Starts p's thread, detached, with every signal blocked. 0 or -errno. */
static int pump_start(struct pump *p)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int r = pthread_create(&t, &attr, pump_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -r;
}

/* ---- clients ---- */

/* Makes ssl check the server's certificate against host, a name or an IP. */
static int set_host(SSL *ssl, const char *host)
{
	struct in6_addr ip;
	if (inet_pton(AF_INET, host, &ip) == 1 || inet_pton(AF_INET6, host, &ip) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -EINVAL;
	if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
		return -EINVAL;
	return 0;
}

int bx_tls_dial(int fd, const char *host)
{
	int err = 0;
	SSL_CTX *ctx = client_ctx_get(&err);
	if (!ctx) {
		close(fd);
		return err;
	}
	SSL *ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the session holds its own reference */
	int sp[2] = { -1, -1 };
	err = -ENOMEM;
	if (!ssl || (err = set_host(ssl, host)) < 0 || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		err = -errno;
		goto fail;
	}
	struct pump *p = pump_new(ssl, fd, sp[0], NULL);
	if (!p) {
		err = -ENOMEM;
		goto fail;
	}
	struct dial_wait w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	p->wait = &w;
	err = pump_start(p);
	if (err < 0) {
		free(p);
		goto fail;
	}
	/* p is the pump's now; it tells the handshake's outcome, then forgets w. */
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (w.err < 0) {
		close(sp[1]);
		return w.err;
	}
	return sp[1];

fail:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	if (sp[0] >= 0) {
		close(sp[0]);
		close(sp[1]);
	}
	return err;
}

/* ---- servers ---- */

struct bx_tls_server *bx_tls_server_new(const char *cert, const char *key, const char *ca,
					FILE *log, char *why, size_t cap)
{
	if (!cert || !key) {
		if (cap)
			snprintf(why, cap, "TLS needs a certificate and its key");
		errno = ENOKEY;
		return NULL;
	}
	int err = 0;
	SSL_CTX *ctx = ctx_new(true, cert, key, ca, why, cap, &err);
	if (!ctx) {
		errno = -err;
		return NULL;
	}
	struct bx_tls_server *ts = calloc(1, sizeof *ts);
	if (!ts) {
		SSL_CTX_free(ctx);
		errno = ENOMEM;
		return NULL;
	}
	ts->ctx = ctx;
	ts->log = log;
	pthread_mutex_init(&ts->mu, NULL);
	pthread_cond_init(&ts->cv, NULL);
	return ts;
}

/* The peer's address as host:port, for the log. */
static void peer_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, cap, "an unknown peer");
	else
		snprintf(buf, cap, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
}

int bx_tls_serve(struct bx_tls_server *ts, int net, int loc)
{
	SSL *ssl = SSL_new(ts->ctx);
	struct pump *p = NULL;
	if (!ssl || SSL_set_fd(ssl, net) != 1 || !(p = pump_new(ssl, net, loc, ts))) {
		ERR_clear_error();
		SSL_free(ssl);
		close(net);
		close(loc);
		return -ENOMEM;
	}
	if (ts->log)
		peer_name(net, p->peer, sizeof p->peer);
	pthread_mutex_lock(&ts->mu);
	ts->pumps++;
	pthread_mutex_unlock(&ts->mu);
	int r = pump_start(p);
	if (r < 0)
		pump_free(p);
	return r;
}

void bx_tls_server_free(struct bx_tls_server *ts)
{
	if (!ts)
		return;
	pthread_mutex_lock(&ts->mu);
	while (ts->pumps)
		pthread_cond_wait(&ts->cv, &ts->mu);
	pthread_mutex_unlock(&ts->mu);
	SSL_CTX_free(ts->ctx);
	pthread_cond_destroy(&ts->cv);
	pthread_mutex_destroy(&ts->mu);
	free(ts);
}
