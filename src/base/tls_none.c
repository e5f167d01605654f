/*
 * tls_none.c — tls.h in a build without OpenSSL: no TLS, said as
 * -EPROTONOSUPPORT.
 */
#include "base/tls.h"

#include <boxfs/tls.h>

#include <errno.h>
#include <unistd.h>

static const char no_tls[] = "this boxfs was built without TLS (OpenSSL)";

int bx_tls_client_ready(void)
{
	return -EPROTONOSUPPORT;
}

int bx_tls_dial(int fd, const char *host)
{
	(void)host;
	close(fd);
	return -EPROTONOSUPPORT;
}

struct bx_tls_server *bx_tls_server_new(const char *cert, const char *key, const char *ca,
					FILE *log, char *why, size_t cap)
{
	(void)cert, (void)key, (void)ca, (void)log;
	if (cap)
		snprintf(why, cap, "%s", no_tls);
	errno = EPROTONOSUPPORT;
	return NULL;
}

int bx_tls_serve(struct bx_tls_server *ts, int net, int loc)
{
	(void)ts;
	close(net);
	close(loc);
	return -EPROTONOSUPPORT;
}

void bx_tls_server_free(struct bx_tls_server *ts)
{
	(void)ts;
}

int boxfs_tls_client_config(const char *ca_file, const char *cert_file, const char *key_file)
{
	(void)ca_file, (void)cert_file, (void)key_file;
	return -EPROTONOSUPPORT;
}

int boxfs_tls_check(const char *cert_file, const char *key_file, const char *ca_file, char *why,
		    size_t cap)
{
	(void)cert_file, (void)key_file, (void)ca_file;
	if (cap)
		snprintf(why, cap, "%s", no_tls);
	return -EPROTONOSUPPORT;
}
