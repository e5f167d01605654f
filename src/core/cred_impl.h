/*
 * cred_impl.h — who a request acts as: a user named on the wire, under the
 * server's policy for the connection it came on.
 */
#ifndef BOXFS_CORE_CRED_IMPL_H
#define BOXFS_CORE_CRED_IMPL_H

#include "core/server_impl.h"

/* Credentials with room for their supplementary groups. */
struct bx_user {
	struct boxfs_cred cred;
	uint32_t groups[64];
};

/*
 * The uid a connection's request naming `name` (a user name, a decimal uid,
 * or "" for "whoever I am") acts as. The policy, for every door: a local
 * peer other than root is who the kernel says it is, whatever it names; a
 * remote peer is nobody (65534) unless the server trusts names
 * (opts.trust_uname); otherwise the name is looked up, and "" or an unknown
 * name is the peer itself (local) or nobody. *named_other tells that the
 * name given was not honoured (a non-empty name naming someone else), for
 * doors that refuse rather than ignore.
 */
uid_t bx_cred_uid(const struct bx_conn *c, const char *name, bool *named_other);

/* The uid of a user name or a decimal uid, from the password database;
 * false when there is none. */
bool bx_cred_lookup(const char *name, uid_t *uid);

/* Fills u for uid: its primary group and supplementary groups from the
 * password database, else the peer's gid (local) or the uid itself. */
void bx_cred_fill(const struct bx_conn *c, uid_t uid, struct bx_user *u);

/* The name of uid from the password database, else its decimal form. */
void bx_cred_name(uid_t uid, char *buf, size_t cap);

#endif
