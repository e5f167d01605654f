/*
 * testsrv.h — a libixp-style file server for the tests, written as wmii
 * writes its own (Ixp9Srv callbacks on the ixp_srvutil.h helpers), served
 * by ixp_serverloop on a thread of its own.
 *
 *	/          the root directory (ixp_srv_readdir)
 *	/data      DATA_SIZE bytes of a pattern (pattern_byte), readable and
 *	           writable (ixp_srv_readbuf, ixp_srv_writebuf)
 *	/ctl       write-only, one command a line (ixp_srv_writectl):
 *	           "event TEXT" queues "TEXT\n" on /event (ixp_pending_print),
 *	           "raw TEXT" queues TEXT (ixp_pending_write), "vevent TEXT"
 *	           queues "<TEXT:LEN>" (ixp_pending_vprint), "bad" fails
 *	/event     reads wait for events (IxpPending)
 *	/stats     "flush F clunk C attach A timer T\n": what the server saw
 *	others     files made by create, removable, renamable by wstat
 *
 * Plain C types only, so that a file using boxfs's client library (whose
 * header clashes with ixp.h) can start it too.
 */
#ifndef IXP_TESTSRV_H
#define IXP_TESTSRV_H

#include <stddef.h>

enum { DATA_SIZE = 200 * 1024 };

static inline unsigned char pattern_byte(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

/* Starts the server on both addresses (unix!PATH, tcp!127.0.0.1!0 resolved
 * into tcp_addr, which must hold 64 bytes): 0, or -1. */
int testsrv_start(const char *unix_addr, char *tcp_addr);
/* Hands a connected descriptor to the server's thread, which serves it with
 * ixp_serve9conn_fd (and owns it from then on): 0, or -1. */
int testsrv_serve_fd(int fd);
/* Stops the loop, closes the server and joins its thread. */
void testsrv_stop(void);

#endif
