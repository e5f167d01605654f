/*
 * errors.c — the 9P edge of boxfs's error currency.
 *
 * Inside boxfs an error is a Linux errno. 9P2000 carries a string: the
 * well-known Plan 9 texts where Plan 9 has one, the C library's text
 * otherwise. 9P2000.u carries the string and the number; 9P2000.L only the
 * number, which on Linux is the errno itself.
 */
#include "p9_impl.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

/* errno -> text; the first row for a text is its meaning when read back. */
static const struct {
	int err;
	const char *text;
} table[] = {
	{ ENOENT, "file does not exist" },
	{ EACCES, "permission denied" },
	{ EPERM, "operation not permitted" },
	{ EEXIST, "file already exists" },
	{ ENOTDIR, "not a directory" },
	{ EISDIR, "is a directory" },
	{ ENOTEMPTY, "directory not empty" },
	{ EBADF, "unknown fid" },
	{ EINVAL, "invalid argument" },
	{ EIO, "i/o error" },
	{ ENOSPC, "no space left on device" },
	{ EROFS, "read-only file system" },
	{ ENAMETOOLONG, "file name too long" },
	{ ENOSYS, "function not implemented" },
	{ EOPNOTSUPP, "operation not supported" },
	{ EPROTO, "protocol botch" },
	{ EMSGSIZE, "message too long" },
	{ ENOMEM, "out of memory" },
	{ EINTR, "interrupted" },
	{ EAGAIN, "resource temporarily unavailable" },
	{ EMFILE, "too many open files" },
	{ EXDEV, "cross-device link" },
	{ ELOOP, "too many levels of symbolic links" },
	{ EFBIG, "file too large" },
	{ ENXIO, "no such device or address" },
	{ ENOTSUP, "operation not supported" },
	/* texts other 9P servers send, read back only */
	{ ENOENT, "file not found" },
	{ ENOENT, "directory entry not found" },
	{ EBADF, "fid unknown or out of range" },
	{ EEXIST, "file exists" },
	{ EACCES, "access denied" },
	{ EISDIR, "file is a directory" },
	{ EINTR, "interrupted!" },
};

enum { TABLE_ROWS = sizeof table / sizeof table[0] };

const char *p9_errstr(int errnum)
{
	for (unsigned i = 0; i < TABLE_ROWS; i++)
		if (table[i].err == errnum)
			return table[i].text;
	const char *s = strerrordesc_np(errnum);
	return s ? s : "unknown error";
}

int p9_errno(struct p9_str ename)
{
	for (unsigned i = 0; i < TABLE_ROWS; i++)
		if (strlen(table[i].text) == ename.len &&
		    memcmp(table[i].text, ename.s, ename.len) == 0)
			return table[i].err;
	for (int e = 1; e < 256; e++) {
		const char *s = strerrordesc_np(e);
		if (s && strlen(s) == ename.len && strncasecmp(s, ename.s, ename.len) == 0)
			return e;
	}
	return EIO;
}

uint32_t p9_lerror(int errnum)
{
	return errnum > 0 && errnum < 4096 ? (uint32_t)errnum : EIO;
}
