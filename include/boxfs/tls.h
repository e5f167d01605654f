/*
 * boxfs/tls.h — TLS 1.3 as a transport for every door, server and client.
 *
 * The dial string tls!host!port is TCP carrying TLS 1.3 (no older version):
 *
 *	boxfs_connect("tls!files.example.org!5640", NULL);   // a client
 *	opts.tls_cert = "cert.pem", opts.tls_key = "key.pem";  // a server
 *	boxfs_server_listen(srv, "9p", "tls!*!5640");
 *
 * A client checks the server's certificate against the host of the dial
 * string (a name, or an IP address the certificate must list). Its
 * configuration is the process's: boxfs_tls_client_config, or, when that was
 * never called, the environment variables BOXFS_TLS_CA, BOXFS_TLS_CERT and
 * BOXFS_TLS_KEY, read at the first TLS dial. A server's certificate and key,
 * and the CAs whose client certificates it requires, are in
 * boxfs_server_opts (boxfs/server.h).
 *
 * Built without OpenSSL, these functions and tls! addresses answer
 * -EPROTONOSUPPORT.
 */
#ifndef BOXFS_TLS_H
#define BOXFS_TLS_H

#include <boxfs/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sets how this process dials tls! addresses, from PEM files: the CAs that
 * sign servers' certificates (NULL: the system's default ones), and a client
 * certificate chain and its key for servers that require one (both NULL, or
 * both set). Dials already made keep their settings. Answers 0 or -errno: a
 * file's errno when it cannot be read, -EINVAL when OpenSSL refuses a file
 * or the key does not match the certificate (boxfs_tls_check says why).
 */
BOXFS_API int boxfs_tls_client_config(const char *ca_file, const char *cert_file,
				      const char *key_file);

/*
 * Loads the files as a server or client would and says what is wrong with
 * them: a certificate chain and its key (both may be NULL), and a CA file
 * (may be NULL). Answers 0 or -errno as boxfs_tls_client_config does; on
 * failure why holds a message naming the file and the reason (cap may be 0).
 */
BOXFS_API int boxfs_tls_check(const char *cert_file, const char *key_file, const char *ca_file,
			      char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
