/*
 * ixp_impl.h — what the files of libboxfs-ixp share on libixp's side.
 *
 * The library has two sides that never meet in one file: files that include
 * <ixp.h> (this header) and files that include boxfs's 9P codec, whose names
 * (P9_OREAD, P9_QTDIR, P9_DMDIR ...) libixp also defines. They talk through
 * bridge.h, which includes neither.
 */
#ifndef IXP_IMPL_H
#define IXP_IMPL_H

#include <ixp.h>

#include "bridge.h"

#define IXP_HIDDEN __attribute__((visibility("hidden")))

/* Sets the error text to a copy of s (no formatting). */
IXP_HIDDEN void ixp_seterr(const char *s);

/* Removes a connection from its server's list without closing anything. */
IXP_HIDDEN void ixp_conn_unlink(IxpConn *c);

#endif
