/*
 * idl_verbs.c — `boxfs idl`: any rpc of Resea's interfaces from a shell,
 * through a server's idl door (the client in boxfs/idl.h).
 *
 *	boxfs idl [-a ADDR] list
 *	boxfs idl [-a ADDR] call benchmark.nop value=7
 *	boxfs idl [-a ADDR] watch TASK      wait for task.exited
 */
#include "cli.h"

#include <boxfs/idl.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void idl_usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs idl [-a ADDR] list\n"
		"       boxfs idl [-a ADDR] call NAMESPACE.RPC [FIELD=VALUE...]\n"
		"       boxfs idl [-a ADDR] watch TASK\n"
		"\n"
		"Calls Resea's interfaces through a boxfs server's idl door (address from\n"
		"-a ADDR, $BOXFS_IDL_ADDRESS, or the default socket).\n"
		"  list    every message: name, kind, request and reply ids, fields\n"
		"  call    sends one rpc and prints the reply's fields, one NAME=VALUE a line;\n"
		"          numbers in C syntax, bool as true/false, str/bytes as text\n"
		"  watch   task.watch TASK, then waits for task.exited and prints it\n"
		"Exit status 1 when the server answers an error (printed by its Resea name).\n");
}

static void print_fields(const struct boxfs_idl_fields *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		printf("%s%s: %s", i ? ", " : "", f->v[i].name, f->v[i].type);
		if (f->v[i].count > 1)
			printf("[%u]", f->v[i].count);
	}
}

static int do_list(void)
{
	for (const struct boxfs_idl_msg *m = boxfs_idl_msgs; m->name; m++) {
		printf("%-26s %-6s %10d", m->name, m->rpc ? "rpc" : "oneway", m->id);
		if (m->rpc)
			printf(" %10d", m->reply_id);
		else
			printf(" %10s", "-");
		printf("  (");
		print_fields(&m->args);
		printf(")");
		if (m->rpc) {
			printf(" -> (");
			print_fields(&m->rets);
			printf(")");
		}
		printf("\n");
	}
	return 0;
}

static void put_uint(uint8_t *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1: {
		uint8_t x = (uint8_t)v;
		memcpy(p, &x, 1);
		break;
	}
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
	}
}

static uint64_t get_uint(const uint8_t *p, unsigned size)
{
	uint8_t b;
	uint16_t h;
	uint32_t w;
	uint64_t d;
	switch (size) {
	case 1:
		memcpy(&b, p, 1);
		return b;
	case 2:
		memcpy(&h, p, 2);
		return h;
	case 4:
		memcpy(&w, p, 4);
		return w;
	default:
		memcpy(&d, p, 8);
		return d;
	}
}

/* Sets field f of s from text; 0 or -1 (said). */
static int set_field(const struct boxfs_idl_field *f, uint8_t *s, const char *val)
{
	if (f->kind == BOXFS_IDL_STR || f->kind == BOXFS_IDL_BYTES) {
		struct boxfs_idl_buf b = { val, (uint32_t)strlen(val) };
		memcpy(s + f->off, &b, sizeof b);
		return 0;
	}
	if (f->count > 1) {
		warnx_("idl", "%s: arrays cannot be given from the shell", f->name);
		return -1;
	}
	if (f->kind == BOXFS_IDL_BOOL) {
		bool v;
		if (strcmp(val, "true") == 0 || strcmp(val, "1") == 0)
			v = true;
		else if (strcmp(val, "false") == 0 || strcmp(val, "0") == 0)
			v = false;
		else {
			warnx_("idl", "%s wants true or false, not %s", f->name, val);
			return -1;
		}
		memcpy(s + f->off, &v, 1);
		return 0;
	}
	char *end;
	errno = 0;
	uint64_t v =
		f->kind == BOXFS_IDL_INT ? (uint64_t)strtoll(val, &end, 0) : strtoull(val, &end, 0);
	if (!*val || *end || errno) {
		warnx_("idl", "%s wants a number, not %s", f->name, val);
		return -1;
	}
	put_uint(s + f->off, f->size, v);
	return 0;
}

static void print_text(const struct boxfs_idl_buf *b)
{
	putchar('"');
	for (uint32_t i = 0; i < b->len; i++) {
		unsigned char ch = ((const unsigned char *)b->ptr)[i];
		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			printf("\\n");
		else if (isprint(ch))
			putchar(ch);
		else
			printf("\\x%02x", ch);
	}
	putchar('"');
}

static void print_reply(const struct boxfs_idl_fields *f, const uint8_t *s)
{
	for (unsigned i = 0; i < f->n; i++) {
		const struct boxfs_idl_field *d = &f->v[i];
		printf("%s=", d->name);
		if (d->kind == BOXFS_IDL_STR || d->kind == BOXFS_IDL_BYTES) {
			struct boxfs_idl_buf b;
			memcpy(&b, s + d->off, sizeof b);
			print_text(&b);
		}
		for (unsigned k = 0;
		     d->kind != BOXFS_IDL_STR && d->kind != BOXFS_IDL_BYTES && k < d->count; k++) {
			uint64_t v = get_uint(s + d->off + (size_t)k * d->size, d->size);
			if (k)
				putchar(',');
			if (d->kind == BOXFS_IDL_BOOL)
				printf("%s", v ? "true" : "false");
			else if (d->kind == BOXFS_IDL_INT)
				printf("%lld", (long long)(d->size == 8	  ? (int64_t)v
							   : d->size == 4 ? (int32_t)v
							   : d->size == 2 ? (int16_t)v
									  : (int8_t)v));
			else
				printf("%llu", (unsigned long long)v);
		}
		putchar('\n');
	}
}

static int report(int err)
{
	if (err <= -BOXFS_IDL_ERRNO_BASE)
		warnx_("idl", "%s", strerror(boxfs_idl_errno(err)));
	else
		warnx_("idl", "%s (%d)",
		       boxfs_idl_strerror(err) ? boxfs_idl_strerror(err) : "error", err);
	return 1;
}

static int do_call(struct boxfs_idl *cl, int argc, char **argv)
{
	const struct boxfs_idl_msg *m = boxfs_idl_msg_by_name(argv[0]);
	if (!m || !m->rpc) {
		warnx_("idl", "%s: no such rpc (boxfs idl list)", argv[0]);
		return 2;
	}
	uint8_t *in = calloc(1, m->args.size), *out = calloc(1, m->rets.size);
	int st = 2;
	if (!in || !out)
		goto done;
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const struct boxfs_idl_field *f = NULL;
		for (unsigned k = 0; eq && k < m->args.n; k++)
			if (strlen(m->args.v[k].name) == (size_t)(eq - argv[i]) &&
			    strncmp(m->args.v[k].name, argv[i], (size_t)(eq - argv[i])) == 0)
				f = &m->args.v[k];
		if (!f) {
			warnx_("idl", "%s: no field %s (want FIELD=VALUE)", m->name, argv[i]);
			goto done;
		}
		if (set_field(f, in, eq + 1) < 0)
			goto done;
	}
	int err = boxfs_idl_call(cl, m, in, out);
	if (err < 0) {
		st = report(err);
		goto done;
	}
	print_reply(&m->rets, out);
	int fd = boxfs_idl_take_fd(cl);
	if (fd >= 0) {
		printf("(a descriptor came with the reply)\n");
		close(fd);
	}
	st = 0;
done:
	free(in);
	free(out);
	return st;
}

static int do_watch(struct boxfs_idl *cl, const char *arg)
{
	char *end;
	long t = strtol(arg, &end, 0);
	if (*end || t <= 0 || t > INT32_MAX) {
		warnx_("idl", "bad task id %s", arg);
		return 2;
	}
	struct task_watch_reply_fields r;
	int err = idl_call_task_watch(cl, &(struct task_watch_fields){ .task = (int32_t)t }, &r);
	if (err < 0)
		return report(err);
	struct task_exited_fields ex;
	const struct boxfs_idl_msg *m;
	err = boxfs_idl_recv(cl, &m, &ex, sizeof ex, -1);
	if (err < 0)
		return report(err);
	printf("%s task=%d\n", m->name, (int)ex.task);
	return 0;
}

int cmd_idl(int argc, char **argv)
{
	const char *addr = getenv("BOXFS_IDL_ADDRESS");
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-a") == 0) {
		addr = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		idl_usage(stderr);
		return 2;
	}
	const char *sub = argv[i];
	if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
		idl_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "list") == 0)
		return do_list();
	if (!((strcmp(sub, "call") == 0 && i + 1 < argc) ||
	      (strcmp(sub, "watch") == 0 && i + 2 == argc))) {
		idl_usage(stderr);
		return 2;
	}
	char defaddr[600];
	if (!addr || !*addr) {
		if (default_address(defaddr, sizeof defaddr, "idl", false) < 0) {
			warnx_("idl", "no server address: give -a ADDR");
			return 2;
		}
		addr = defaddr;
	}
	struct boxfs_idl *cl = boxfs_idl_connect(addr);
	if (!cl) {
		warnx_("idl", "%s: %s", addr, strerror(errno));
		return 1;
	}
	int st = strcmp(sub, "call") == 0 ? do_call(cl, argc - i - 1, argv + i + 1)
					  : do_watch(cl, argv[i + 1]);
	boxfs_idl_close(cl);
	return st;
}
