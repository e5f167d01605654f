/*
 * bxside.h — the tests' calls through boxfs's own client library and 9P
 * codec, kept apart from ixp.h (whose P9_* names the codec shares). Each
 * answers 0 when every check passed, else a negative number naming the
 * first check that failed (and prints why on stderr).
 */
#ifndef IXP_BXSIDE_H
#define IXP_BXSIDE_H

#include <stddef.h>
#include <stdint.h>

/* Reads /data through boxfs_pread in dialect version with msize asked: the
 * msize granted must be at least min_msize and one read must move more than
 * 8 KiB of the right bytes. */
int bx_big_read(const char *addr, const char *version, uint32_t msize, uint32_t min_msize);

/* Lists / (boxfs_readdir) into names as "a b c " (up to cap bytes). */
int bx_list(const char *addr, const char *version, char *names, size_t cap);

/* Creates /name, writes 20000 bytes, reads them back, stats the size,
 * renames it to name2, unlinks it: all through the program's callbacks. */
int bx_create_cycle(const char *addr, const char *version, const char *name, const char *name2);

/* Raw 9P2000 on a Unix socket: a Tread of /event stays unanswered until
 * trigger() makes an event, then brings "hello\n"; a second Tread is
 * flushed (Tflush) and the Rflush comes. */
int bx_event_and_flush(const char *path, void (*trigger)(void));

#endif
