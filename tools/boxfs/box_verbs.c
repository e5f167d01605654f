/*
 * box_verbs.c — `boxfs box`: Plan B's boxes from the shell, over op. See
 * boxfs(1).
 *
 * Each verb opens one op handle (boxfs/op.h), does its requests and exits:
 * 0 on success, 1 when the server (or the transport, after retrying)
 * refused, with "boxfs box VERB: BOX: TEXT" on stderr, 2 for bad usage.
 */
#include "cli.h"

#include <boxfs/op.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct box_verb {
	const char *name;
	const char *synopsis;
	const char *help;
	const char *opts; /* getopt letters */
	int min_args, max_args;
	int (*run)(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv);
};

/* Options a verb parsed. */
static struct {
	bool long_form;
	const char *kind;
	const char *mode;
	const char *bits;
	const char *size;
	const char *owner;
} o;

static void box_usage(FILE *out);

/* "boxfs box VERB: BOX: TEXT", TEXT being the server's when it sent one. */
static int fail(struct boxfs_op *op, const struct box_verb *v, const char *box, int r)
{
	const char *text = boxfs_op_error(op);
	char verb[32];
	snprintf(verb, sizeof verb, "box %s", v->name);
	warnx_(verb, "%s: %s", box, *text ? text : strerror(-r));
	return 1;
}

/* ---- permissions ---- */

/*
 * One rwx triple of a Unix mode as op permission bits, as boxfs servers
 * read them (docs/protocols/op.md): read is PGet (PSel for a directory),
 * write is PPut and PDel (PMk, PLnk and PDel for a directory); execute
 * goes with read on a directory and means nothing on a file.
 */
static uint32_t perm_of(unsigned rwx, bool dir)
{
	uint32_t p = 0;
	if (rwx & 4)
		p |= dir ? OP_PSEL : OP_PGET;
	if (rwx & 2)
		p |= dir ? OP_PMK | OP_PLNK | OP_PDEL : OP_PPUT | OP_PDEL;
	return p;
}

/* -m MODE: the owner's triple gives operm, the others' wperm. */
static int parse_mode(const char *s, bool dir, uint32_t *operm, uint32_t *wperm)
{
	char *end;
	errno = 0;
	unsigned long m = strtoul(s, &end, 8);
	if (end == s || *end || errno || m > 0777)
		return -EINVAL;
	*operm = perm_of((m >> 6) & 7, dir);
	*wperm = perm_of(m & 7, dir);
	return 0;
}

static int parse_u32(const char *s, const char **end, uint32_t *out)
{
	char *e;
	errno = 0;
	unsigned long v = strtoul(s, &e, 0);
	if (e == s || errno || v > 0x1ff)
		return -EINVAL;
	*out = (uint32_t)v;
	*end = e;
	return 0;
}

/* -b OPERM,WPERM: the raw bits, as C numbers (0x23, 043, 35). */
static int parse_bits(const char *s, uint32_t *operm, uint32_t *wperm)
{
	const char *end;
	if (parse_u32(s, &end, operm) < 0 || *end != ',' || parse_u32(end + 1, &end, wperm) < 0 ||
	    *end)
		return -EINVAL;
	return 0;
}

/* ---- the verbs ---- */

static int v_kind(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	struct op_stat st;
	int r = boxfs_op_kind(op, argv[0], &st);
	if (r < 0)
		return fail(op, v, argv[0], r);
	const char *owner = *st.owner ? st.owner : "-";
	const char *putter = *st.putter ? st.putter : "-";
	if (!o.long_form) {
		printf("%s %s %s %" PRIu32 " %" PRIu64 " %#" PRIx32 " %#" PRIx32 " %" PRIu64
		       " %" PRIu64 "\n",
		       st.kind, owner, putter, st.vers, st.size, st.operm, st.wperm, st.ptime,
		       st.gtime);
	} else {
		printf("kind %s\nowner %s\nputter %s\nvers %" PRIu32 "\nsize %" PRIu64
		       "\noperm %#" PRIx32 "\nwperm %#" PRIx32 "\nptime %" PRIu64 "\ngtime %" PRIu64
		       "\n",
		       st.kind, owner, putter, st.vers, st.size, st.operm, st.wperm, st.ptime,
		       st.gtime);
	}
	return 0;
}

static int v_make(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	struct op_stat st = { .kind = o.kind ? o.kind : "file" };
	bool dir = strcmp(st.kind, "dir") == 0;
	if (o.mode && o.bits) {
		warnx_("box make", "-m and -b both give the permissions");
		return 2;
	}
	if (o.mode && parse_mode(o.mode, dir, &st.operm, &st.wperm) < 0) {
		warnx_("box make", "bad mode: %s (octal, like 0644)", o.mode);
		return 2;
	}
	if (o.bits && parse_bits(o.bits, &st.operm, &st.wperm) < 0) {
		warnx_("box make", "bad permission bits: %s (OPERM,WPERM)", o.bits);
		return 2;
	}
	unsigned long long size = 0;
	if (o.size && parse_size(o.size, &size) < 0) {
		warnx_("box make", "bad size: %s", o.size);
		return 2;
	}
	st.size = size;
	int r = boxfs_op_make(op, argv[0], &st);
	return r < 0 ? fail(op, v, argv[0], r) : 0;
}

static int v_rm(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	int st = 0;
	for (int i = 0; i < argc; i++) {
		int r = boxfs_op_delete(op, argv[i]);
		if (r < 0)
			st = fail(op, v, argv[i], r);
	}
	return st;
}

static int v_sel(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	char **names;
	size_t n;
	int r = boxfs_op_selectors(op, argv[0], &names, &n);
	if (r < 0)
		return fail(op, v, argv[0], r);
	for (size_t i = 0; i < n; i++)
		puts(names[i]);
	free(names);
	return 0;
}

static int v_get(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	void *data;
	size_t len;
	int r = boxfs_op_get(op, argv[0], &data, &len);
	if (r < 0)
		return fail(op, v, argv[0], r);
	FILE *out = stdout;
	if (argc > 1 && strcmp(argv[1], "-") != 0 && !(out = fopen(argv[1], "w"))) {
		warnx_("box get", "%s: %s", argv[1], strerror(errno));
		free(data);
		return 1;
	}
	bool ok = (len == 0 || fwrite(data, 1, len, out) == len) && fflush(out) == 0;
	int e = errno;
	if (out != stdout && fclose(out) != 0 && ok) {
		ok = false;
		e = errno;
	}
	free(data);
	if (!ok) {
		warnx_("box get", "%s: %s", argc > 1 ? argv[1] : "standard output", strerror(e));
		return 1;
	}
	return 0;
}

/* Reads all of f into a malloc'd buffer. */
static int slurp(FILE *f, char **data, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	while (b) {
		n += fread(b + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *nb = realloc(b, cap * 2);
		if (!nb) {
			free(b);
			b = NULL;
			break;
		}
		b = nb;
		cap *= 2;
	}
	if (!b)
		return -ENOMEM;
	if (ferror(f)) {
		free(b);
		return -EIO;
	}
	*data = b;
	*len = n;
	return 0;
}

static int v_put(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	FILE *in = stdin;
	const char *from = argc > 1 ? argv[1] : "standard input";
	if (argc > 1 && strcmp(argv[1], "-") != 0 && !(in = fopen(argv[1], "r"))) {
		warnx_("box put", "%s: %s", argv[1], strerror(errno));
		return 1;
	}
	char *data;
	size_t len;
	int r = slurp(in, &data, &len);
	if (in != stdin)
		fclose(in);
	if (r < 0) {
		warnx_("box put", "%s: %s", from, strerror(-r));
		return 1;
	}
	r = boxfs_op_put(op, argv[0], data, len);
	free(data);
	return r < 0 ? fail(op, v, argv[0], r) : 0;
}

static int v_copy(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	uint64_t copied = 0;
	int r = boxfs_op_copy(op, argv[0], argv[1], argv[2], &copied);
	if (r < 0)
		return fail(op, v, argv[0], r);
	printf("%" PRIu64 "\n", copied);
	return 0;
}

static int v_chinfo(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	struct op_stat st = { .vers = OP_KEEP32,
			      .ptime = OP_KEEP64,
			      .gtime = OP_KEEP64,
			      .size = OP_KEEP64,
			      .operm = OP_KEEP32,
			      .wperm = OP_KEEP32,
			      .owner = o.owner };
	if (o.mode && o.bits) {
		warnx_("box chinfo", "-m and -b both give the permissions");
		return 2;
	}
	if (o.bits && parse_bits(o.bits, &st.operm, &st.wperm) < 0) {
		warnx_("box chinfo", "bad permission bits: %s (OPERM,WPERM)", o.bits);
		return 2;
	}
	if (o.mode) {
		/* The mode's meaning depends on whether the box is a directory. */
		struct op_stat now;
		int r = boxfs_op_kind(op, argv[0], &now);
		if (r < 0)
			return fail(op, v, argv[0], r);
		if (parse_mode(o.mode, strcmp(now.kind, "dir") == 0, &st.operm, &st.wperm) < 0) {
			warnx_("box chinfo", "bad mode: %s (octal, like 0644)", o.mode);
			return 2;
		}
	}
	if (!o.mode && !o.bits && !o.owner) {
		warnx_("box chinfo", "nothing to change (-o, -b or -m)");
		return 2;
	}
	int r = boxfs_op_chinfo(op, argv[0], &st);
	return r < 0 ? fail(op, v, argv[0], r) : 0;
}

static int v_link(struct boxfs_op *op, const struct box_verb *v, int argc, char **argv)
{
	(void)argc;
	int r = boxfs_op_link(op, argv[0], argv[1]);
	return r < 0 ? fail(op, v, argv[0], r) : 0;
}

static const struct box_verb verbs[] = {
	{ "kind", "[-l] BOX",
	  "print BOX's Stat on one line (kind owner putter vers size operm\n"
	  "wperm ptime gtime), or with -l one \"field value\" per line",
	  "l", 1, 1, v_kind },
	{ "make", "[-k KIND] [-m MODE | -b OPERM,WPERM] [-s SIZE] BOX",
	  "make BOX of KIND (file, dir, mem ...; default file) with permissions\n"
	  "from an octal MODE (0644) or raw op bits; SIZE: a mem box's segment",
	  "k:m:b:s:", 1, 1, v_make },
	{ "rm", "BOX...", "delete boxes", "", 1, -1, v_rm },
	{ "sel", "BOX", "print the selectors in BOX, one per line", "", 1, 1, v_sel },
	{ "get", "BOX [FILE]", "write BOX's data to FILE (default standard output)", "", 1, 2,
	  v_get },
	{ "put", "BOX [FILE]", "replace BOX's data with FILE (default standard input)", "", 1, 2,
	  v_put },
	{ "copy", "DBOX SADDR SBOX",
	  "have the server copy box SBOX of the server at SADDR into DBOX; prints\n"
	  "the bytes copied",
	  "", 3, 3, v_copy },
	{ "chinfo", "[-o OWNER] [-m MODE | -b OPERM,WPERM] BOX",
	  "change BOX's owner or permissions", "o:m:b:", 1, 1, v_chinfo },
	{ "link", "BOX TARGET", "make BOX a second name of TARGET", "", 2, 2, v_link },
};

enum { NVERBS = sizeof verbs / sizeof verbs[0] };

static void box_usage(FILE *out)
{
	fprintf(out, "usage: boxfs box [-a ADDR] [-r MS] VERB [ARGS]\n"
		     "\n"
		     "Plan B's boxes of a boxfs server, over op. ADDR defaults to\n"
		     "$BOXFS_BOX_ADDRESS, else the default socket ($XDG_RUNTIME_DIR/boxfs/op).\n"
		     "A request that fails on the transport is sent again on a new\n"
		     "connection for MS milliseconds (default 10000).\n"
		     "\n");
	for (unsigned i = 0; i < NVERBS; i++)
		fprintf(out, "  %s %s\n", verbs[i].name, verbs[i].synopsis);
	fprintf(out, "\n`boxfs box VERB --help` tells more. Exit status: 0 done, 1 an operation\n"
		     "failed, 2 bad usage.\n");
}

static void verb_usage(FILE *out, const struct box_verb *v)
{
	fprintf(out, "usage: boxfs box [-a ADDR] %s %s\n\n", v->name, v->synopsis);
	const char *h = v->help;
	while (*h) {
		const char *nl = strchr(h, '\n');
		int n = nl ? (int)(nl - h) : (int)strlen(h);
		fprintf(out, "  %.*s\n", n, h);
		h += n + (nl ? 1 : 0);
	}
}

int cmd_box(int argc, char **argv)
{
	static const struct option longopts[] = { { "help", no_argument, NULL, 'h' }, { 0 } };
	const char *addr = getenv("BOXFS_BOX_ADDRESS");
	unsigned long retry_ms = 0;
	int ch;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "+a:r:h", longopts, NULL)) != -1) {
		char *end;
		switch (ch) {
		case 'a':
			addr = optarg;
			break;
		case 'r':
			errno = 0;
			retry_ms = strtoul(optarg, &end, 10);
			if (end == optarg || *end || errno || retry_ms == 0 ||
			    retry_ms > 86400000) {
				warnx_("box", "bad retry time: %s", optarg);
				return 2;
			}
			break;
		case 'h':
			box_usage(stdout);
			return 0;
		default:
			box_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		box_usage(stderr);
		return 2;
	}
	const struct box_verb *v = NULL;
	for (unsigned i = 0; i < NVERBS; i++)
		if (strcmp(argv[optind], verbs[i].name) == 0)
			v = &verbs[i];
	if (!v) {
		warnx_("box", "unknown verb %s (see boxfs box --help)", argv[optind]);
		return 2;
	}
	argc -= optind;
	argv += optind;
	char letters[32];
	snprintf(letters, sizeof letters, "+%sh", v->opts);
	optind = 0;
	while ((ch = getopt_long(argc, argv, letters, longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			o.long_form = true;
			break;
		case 'k':
			o.kind = optarg;
			break;
		case 'm':
			o.mode = optarg;
			break;
		case 'b':
			o.bits = optarg;
			break;
		case 's':
			o.size = optarg;
			break;
		case 'o':
			o.owner = optarg;
			break;
		case 'h':
			verb_usage(stdout, v);
			return 0;
		default:
			verb_usage(stderr, v);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < v->min_args || (v->max_args >= 0 && argc > v->max_args)) {
		verb_usage(stderr, v);
		return 2;
	}
	char defaddr[600];
	if (!addr || !*addr) {
		if (default_address(defaddr, sizeof defaddr, "op", false) < 0) {
			warnx_("box", "no server address");
			return 2;
		}
		addr = defaddr;
	}
	struct boxfs_op_opts opts = { .retry_ms = (unsigned)retry_ms };
	struct boxfs_op *op = boxfs_op_open(addr, &opts);
	if (!op) {
		warnx_("box", "%s: %s", addr, strerror(errno));
		return errno == EINVAL || errno == ENAMETOOLONG ? 2 : 1;
	}
	int st = v->run(op, v, argc, argv);
	boxfs_op_close(op);
	return st;
}
