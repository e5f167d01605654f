/*
 * cred.c — the credential policy shared by the doors (docs/architecture.md).
 */
#include "core/cred_impl.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool bx_cred_lookup(const char *name, uid_t *uid)
{
	char *end;
	unsigned long num = strtoul(name, &end, 10);
	if (*name && !*end && num < 0xffffffffu) {
		*uid = (uid_t)num;
		return true;
	}
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(name, &pw, buf, sizeof buf, &res) == 0 && res) {
		*uid = res->pw_uid;
		return true;
	}
	return false;
}

uid_t bx_cred_uid(const struct bx_conn *c, const char *name, bool *named_other)
{
	uid_t uid = 65534, want;
	bool known = *name && bx_cred_lookup(name, &want);
	if (c->has_peer && c->peer.uid != 0)
		uid = c->peer.uid;
	else if (!c->local && !c->srv->opts.trust_uname)
		uid = 65534;
	else if (known)
		uid = want;
	else if (c->has_peer)
		uid = c->peer.uid;
	if (named_other)
		*named_other = *name && (!known || want != uid);
	return uid;
}

void bx_cred_fill(const struct bx_conn *c, uid_t uid, struct bx_user *u)
{
	memset(u, 0, sizeof *u);
	u->cred.uid = uid;
	u->cred.gid = uid;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) {
		int ng = 64;
		gid_t groups[64];
		u->cred.gid = res->pw_gid;
		if (getgrouplist(res->pw_name, res->pw_gid, groups, &ng) >= 0) {
			for (int i = 0; i < ng; i++)
				u->groups[i] = groups[i];
			u->cred.ngroups = (uint32_t)ng;
		}
	} else if (c->has_peer && c->peer.uid == uid) {
		u->cred.gid = c->peer.gid;
	}
	u->cred.groups = u->groups;
}

void bx_cred_name(uid_t uid, char *buf, size_t cap)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
		snprintf(buf, cap, "%s", res->pw_name);
	else
		snprintf(buf, cap, "%u", (unsigned)uid);
}
