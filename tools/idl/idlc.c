/*
 * idlc.c — the IDL compiler: reads interface definitions in Resea's language
 * (docs/idl.md) and writes the C that boxfs builds from them.
 *
 *	boxfs-idlc [-H OUT.h] [-C OUT.c] [-l] FILE.idl
 *
 * -H writes the header (message ids, field structs, descriptors, client
 * stubs, the server dispatch table); -C the descriptor tables and the
 * dispatch function; -l lists every message with its ids. With neither,
 * the file is only checked. A bad file gets "FILE:LINE: error: ..." on
 * stderr and exit status 1.
 *
 * Message ids follow Resea's generator: one counter from 1 over the whole
 * input (includes expanded where they stand), one id for each message's
 * arguments and, for an rpc, the next one for its reply. MSG_OOL is or-ed
 * in when a direction carries a str or bytes field, MSG_STR when it is a str.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MSG_OOL = 1 << 29, MSG_STR = 1 << 30, MAX_FIXED = 256, MAX_FIELDS = 32, MAX_DEPTH = 16 };

/* ---- the model ---- */

enum kind { K_INT, K_UINT, K_BOOL, K_STR, K_BYTES };

struct type {
	char name[256];
	char ns[256]; /* where it was declared ("" for built-ins and globals) */
	enum kind kind;
	unsigned size;	/* bytes of one element; 0 for str/bytes */
	unsigned count; /* array length, 1 for a scalar */
	bool builtin;
};

struct field {
	char name[256];
	const struct type *type; /* resolved element type */
	unsigned count;		 /* array length (the alias's times the field's) */
};

struct dir {
	struct field f[MAX_FIELDS];
	unsigned n;
	int ool;	/* index of the str/bytes field, -1 */
	unsigned fixed; /* bytes of the fixed part */
};

struct msg {
	char ns[256], name[256];
	char *doc;
	bool rpc, async;
	int32_t id, reply_id;
	struct dir args, rets;
	const char *file;
	int line;
};

struct konst {
	char ns[256], name[256];
	char value[256];
	char *doc;
};

static struct type *types;
static size_t ntypes, captypes;
static struct msg *msgs;
static size_t nmsgs, capmsgs;
static struct konst *konsts;
static size_t nkonsts, capkonsts;
static int32_t counter = 1;

static void *grow(void *v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return v;
	*cap = *cap ? 2 * *cap : 32;
	v = realloc(v, *cap * size);
	if (!v) {
		fprintf(stderr, "boxfs-idlc: out of memory\n");
		exit(2);
	}
	return v;
}

static const struct {
	const char *name;
	enum kind kind;
	unsigned size;
} builtins[] = {
	{ "str", K_STR, 0 },	  { "bytes", K_BYTES, 0 }, { "char", K_UINT, 1 },
	{ "bool", K_BOOL, 1 },	  { "int", K_INT, 4 },	   { "uint", K_UINT, 4 },
	{ "int8", K_INT, 1 },	  { "int16", K_INT, 2 },   { "int32", K_INT, 4 },
	{ "int64", K_INT, 8 },	  { "uint8", K_UINT, 1 },  { "uint16", K_UINT, 2 },
	{ "uint32", K_UINT, 4 },  { "uint64", K_UINT, 8 }, { "size", K_UINT, 8 },
	{ "offset", K_UINT, 8 },  { "vaddr", K_UINT, 8 },  { "paddr", K_UINT, 8 },
	{ "uintptr", K_UINT, 8 }, { "intmax", K_INT, 8 },  { "uintmax", K_UINT, 8 },
	{ "task", K_INT, 4 },	  { "handle", K_INT, 4 },  { "error", K_INT, 4 },
};

/* ---- input and errors ---- */

struct src {
	const char *file;
	char *text;
	size_t pos, len;
	int line;
	struct src *up;
};

static void fail(const struct src *s, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s:%d: error: ", s->file, line);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			char *b = realloc(buf, 2 * cap + 1);
			if (!b)
				free(buf);
			buf = b;
			cap *= 2;
		}
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = 0;
	*len = n;
	return buf;
}

/* ---- lexer ---- */

enum tok { T_EOF, T_IDENT, T_NUM, T_STRING, T_ARROW, T_PUNCT };

struct token {
	enum tok t;
	char s[256];
	int line;
};

static char *pending_doc; /* /// lines since the last declaration */

static void doc_add(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	size_t old = pending_doc ? strlen(pending_doc) : 0;
	char *d = realloc(pending_doc, old + n + 2);
	if (!d)
		exit(2);
	if (old)
		d[old++] = ' ';
	memcpy(d + old, p, n);
	d[old + n] = 0;
	pending_doc = d;
}

static char *doc_take(void)
{
	char *d = pending_doc;
	pending_doc = NULL;
	return d;
}

static struct token next(struct src *s)
{
	struct token k = { .t = T_EOF };
	for (;;) {
		while (s->pos < s->len && isspace((unsigned char)s->text[s->pos]))
			if (s->text[s->pos++] == '\n')
				s->line++;
		if (s->pos + 1 < s->len && s->text[s->pos] == '/' && s->text[s->pos + 1] == '/') {
			size_t b = s->pos;
			while (s->pos < s->len && s->text[s->pos] != '\n')
				s->pos++;
			if (s->pos - b >= 3 && s->text[b + 2] == '/')
				doc_add(s->text + b + 3, s->pos - b - 3);
			continue;
		}
		if (s->pos + 1 < s->len && s->text[s->pos] == '/' && s->text[s->pos + 1] == '*') {
			int start = s->line;
			s->pos += 2;
			while (s->pos + 1 < s->len &&
			       !(s->text[s->pos] == '*' && s->text[s->pos + 1] == '/'))
				if (s->text[s->pos++] == '\n')
					s->line++;
			if (s->pos + 1 >= s->len)
				fail(s, start, "unterminated comment");
			s->pos += 2;
			continue;
		}
		break;
	}
	k.line = s->line;
	if (s->pos >= s->len)
		return k;
	char c = s->text[s->pos];
	if (isalpha((unsigned char)c) || c == '_') {
		size_t n = 0;
		while (s->pos < s->len &&
		       (isalnum((unsigned char)s->text[s->pos]) || s->text[s->pos] == '_')) {
			if (n + 1 >= sizeof k.s)
				fail(s, k.line, "name too long");
			k.s[n++] = s->text[s->pos++];
		}
		k.t = T_IDENT;
		return k;
	}
	if (isdigit((unsigned char)c) ||
	    (c == '-' && s->pos + 1 < s->len && isdigit((unsigned char)s->text[s->pos + 1]))) {
		size_t n = 0;
		k.s[n++] = s->text[s->pos++];
		while (s->pos < s->len && (isalnum((unsigned char)s->text[s->pos]))) {
			if (n + 1 >= sizeof k.s)
				fail(s, k.line, "number too long");
			k.s[n++] = s->text[s->pos++];
		}
		char *end;
		errno = 0;
		strtoll(k.s, &end, 0);
		if (*end || errno)
			fail(s, k.line, "bad number '%s'", k.s);
		k.t = T_NUM;
		return k;
	}
	if (c == '"') {
		size_t n = 0;
		s->pos++;
		while (s->pos < s->len && s->text[s->pos] != '"' && s->text[s->pos] != '\n') {
			if (n + 1 >= sizeof k.s)
				fail(s, k.line, "string too long");
			k.s[n++] = s->text[s->pos++];
		}
		if (s->pos >= s->len || s->text[s->pos] != '"')
			fail(s, k.line, "unterminated string");
		s->pos++;
		k.t = T_STRING;
		return k;
	}
	if (c == '-' && s->pos + 1 < s->len && s->text[s->pos + 1] == '>') {
		s->pos += 2;
		strcpy(k.s, "->");
		k.t = T_ARROW;
		return k;
	}
	if (strchr("{}()[];:,=", c)) {
		k.s[0] = c;
		s->pos++;
		k.t = T_PUNCT;
		return k;
	}
	fail(s, k.line, "unexpected character '%c'", isprint((unsigned char)c) ? c : '?');
	return k;
}

static const char *tokname(const struct token *k)
{
	return k->t == T_EOF ? "end of file" : k->s;
}

static void expect(struct src *s, const char *p)
{
	struct token k = next(s);
	if (strcmp(k.s, p) != 0 || k.t == T_STRING)
		fail(s, k.line, "expected '%s', found '%s'", p, tokname(&k));
}

static struct token ident(struct src *s, const char *what)
{
	struct token k = next(s);
	if (k.t != T_IDENT)
		fail(s, k.line, "expected %s, found '%s'", what, tokname(&k));
	return k;
}

/* ---- types ---- */

static const struct type *find_type(const char *ns, const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i].name, name) == 0 && strcmp(types[i].ns, ns) == 0)
			return &types[i];
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i].name, name) == 0 && !types[i].ns[0])
			return &types[i];
	return NULL;
}

static void add_type(struct src *s, int line, const char *ns, const char *name,
		     const struct type *of, unsigned count)
{
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i].name, name) == 0 &&
		    (strcmp(types[i].ns, ns) == 0 || types[i].builtin))
			fail(s, line, "type '%s' is already defined", name);
	types = grow(types, &captypes, ntypes, sizeof *types);
	struct type *t = &types[ntypes++];
	*t = *of;
	snprintf(t->name, sizeof t->name, "%s", name);
	snprintf(t->ns, sizeof t->ns, "%s", ns);
	t->count = of->count * count;
	t->builtin = false;
}

/* TYPE or TYPE[N]: the element type and the count in *count. */
static const struct type *parse_type(struct src *s, const char *ns, unsigned *count,
				     struct token *after)
{
	struct token k = ident(s, "a type");
	const struct type *t = find_type(ns, k.s);
	if (!t)
		fail(s, k.line, "unknown type '%s'", k.s);
	*count = 1;
	*after = next(s);
	if (after->t == T_PUNCT && after->s[0] == '[') {
		struct token n = next(s);
		long long v = n.t == T_NUM ? strtoll(n.s, NULL, 0) : 0;
		if (n.t != T_NUM || v < 1 || v > MAX_FIXED)
			fail(s, n.line, "an array length must be a number from 1 to %d", MAX_FIXED);
		if (t->kind == K_STR || t->kind == K_BYTES)
			fail(s, n.line, "'%s' cannot be an array element", t->name);
		*count = (unsigned)v;
		expect(s, "]");
		*after = next(s);
	}
	return t;
}

/* Fields up to ')'; the '(' is read. */
static void parse_fields(struct src *s, const char *ns, struct dir *d, const char *what)
{
	d->ool = -1;
	struct token k = next(s);
	if (k.t == T_PUNCT && k.s[0] == ')')
		return;
	for (;;) {
		if (k.t != T_IDENT)
			fail(s, k.line, "expected a field name, found '%s'", tokname(&k));
		if (d->n == MAX_FIELDS)
			fail(s, k.line, "more than %d fields", MAX_FIELDS);
		for (unsigned i = 0; i < d->n; i++)
			if (strcmp(d->f[i].name, k.s) == 0)
				fail(s, k.line, "field '%s' appears twice", k.s);
		struct field *f = &d->f[d->n];
		snprintf(f->name, sizeof f->name, "%s", k.s);
		expect(s, ":");
		unsigned count;
		struct token after;
		f->type = parse_type(s, ns, &count, &after);
		f->count = f->type->count * count;
		if (f->type->kind == K_STR || f->type->kind == K_BYTES) {
			if (d->ool >= 0)
				fail(s, k.line,
				     "'%s' is the second str/bytes field of the %s (at most one "
				     "per direction)",
				     f->name, what);
			d->ool = (int)d->n;
		} else {
			d->fixed += f->type->size * f->count;
			if (d->fixed > MAX_FIXED)
				fail(s, k.line, "the fixed fields of the %s exceed %d bytes", what,
				     MAX_FIXED);
		}
		d->n++;
		if (after.t == T_PUNCT && after.s[0] == ')')
			return;
		if (!(after.t == T_PUNCT && after.s[0] == ','))
			fail(s, after.line, "expected ',' or ')', found '%s'", tokname(&after));
		k = next(s);
		if (k.t == T_PUNCT && k.s[0] == ')')
			return;
	}
}

static int32_t dir_bits(const struct dir *d)
{
	if (d->ool < 0)
		return 0;
	return MSG_OOL | (d->f[d->ool].type->kind == K_STR ? MSG_STR : 0);
}

static void parse_msg(struct src *s, const char *ns, bool rpc, bool async, char *doc)
{
	struct token k = ident(s, "a message name");
	for (size_t i = 0; i < nmsgs; i++)
		if (strcmp(msgs[i].name, k.s) == 0 && strcmp(msgs[i].ns, ns) == 0)
			fail(s, k.line, "message '%s%s%s' is already defined (at %s:%d)", ns,
			     *ns ? "." : "", k.s, msgs[i].file, msgs[i].line);
	msgs = grow(msgs, &capmsgs, nmsgs, sizeof *msgs);
	struct msg *m = &msgs[nmsgs];
	memset(m, 0, sizeof *m);
	snprintf(m->ns, sizeof m->ns, "%s", ns);
	snprintf(m->name, sizeof m->name, "%s", k.s);
	m->doc = doc;
	m->rpc = rpc;
	m->async = async;
	m->file = s->file;
	m->line = k.line;
	m->rets.ool = -1;
	expect(s, "(");
	parse_fields(s, ns, &m->args, rpc ? "arguments" : "message");
	if (rpc) {
		struct token a = next(s);
		if (a.t != T_ARROW)
			fail(s, a.line, "expected '->' after the arguments of rpc '%s', found '%s'",
			     m->name, tokname(&a));
		expect(s, "(");
		parse_fields(s, ns, &m->rets, "reply");
	}
	expect(s, ";");
	m->id = counter++ | dir_bits(&m->args);
	if (rpc)
		m->reply_id = counter++ | dir_bits(&m->rets);
	nmsgs++;
}

static void parse_file(const char *path, struct src *up, int line);

static void parse_items(struct src *s, const char *ns, bool in_ns)
{
	for (;;) {
		struct token k = next(s);
		if (k.t == T_EOF) {
			if (in_ns)
				fail(s, k.line, "namespace '%s' is not closed", ns);
			free(doc_take());
			return;
		}
		if (in_ns && k.t == T_PUNCT && k.s[0] == '}') {
			free(doc_take());
			return;
		}
		if (k.t != T_IDENT)
			fail(s, k.line, "expected a declaration, found '%s'", tokname(&k));
		char *doc = doc_take();
		bool async = false;
		if (strcmp(k.s, "async") == 0) {
			async = true;
			k = ident(s, "'rpc' or 'oneway' after 'async'");
		}
		if (strcmp(k.s, "rpc") == 0 || strcmp(k.s, "oneway") == 0) {
			parse_msg(s, ns, k.s[0] == 'r', async, doc);
			continue;
		}
		if (async)
			fail(s, k.line, "expected 'rpc' or 'oneway' after 'async', found '%s'",
			     k.s);
		if (strcmp(k.s, "namespace") == 0) {
			free(doc);
			if (in_ns)
				fail(s, k.line, "namespaces do not nest");
			struct token n = ident(s, "a namespace name");
			expect(s, "{");
			parse_items(s, n.s, true);
		} else if (strcmp(k.s, "type") == 0) {
			free(doc);
			struct token n = ident(s, "a type name");
			expect(s, "=");
			unsigned count;
			struct token after;
			const struct type *t = parse_type(s, ns, &count, &after);
			if (!(after.t == T_PUNCT && after.s[0] == ';'))
				fail(s, after.line, "expected ';', found '%s'", tokname(&after));
			add_type(s, n.line, ns, n.s, t, count);
		} else if (strcmp(k.s, "const") == 0) {
			struct token n = ident(s, "a constant name");
			expect(s, ":");
			unsigned count;
			struct token after;
			const struct type *t = parse_type(s, ns, &count, &after);
			if (t->kind == K_STR || t->kind == K_BYTES || count != 1 || t->count != 1)
				fail(s, n.line, "constant '%s' must have a scalar type", n.s);
			if (!(after.t == T_PUNCT && after.s[0] == '='))
				fail(s, after.line, "expected '=', found '%s'", tokname(&after));
			struct token v = next(s);
			if (v.t != T_NUM)
				fail(s, v.line, "constant '%s' wants a number", n.s);
			expect(s, ";");
			konsts = grow(konsts, &capkonsts, nkonsts, sizeof *konsts);
			struct konst *c = &konsts[nkonsts++];
			snprintf(c->ns, sizeof c->ns, "%s", ns);
			snprintf(c->name, sizeof c->name, "%s", n.s);
			snprintf(c->value, sizeof c->value, "%s", v.s);
			c->doc = doc;
		} else if (strcmp(k.s, "enum") == 0) {
			free(doc);
			struct token n = ident(s, "an enum name");
			static const struct type e = { .kind = K_INT, .size = 4, .count = 1 };
			add_type(s, n.line, ns, n.s, &e, 1);
			expect(s, "{");
			for (;;) {
				struct token m = next(s);
				if (m.t == T_PUNCT && m.s[0] == '}')
					break;
				if (m.t != T_IDENT)
					fail(s, m.line, "expected an enum member, found '%s'",
					     tokname(&m));
				expect(s, "=");
				struct token v = next(s);
				if (v.t != T_NUM)
					fail(s, v.line, "enum member '%s' wants a number", m.s);
				konsts = grow(konsts, &capkonsts, nkonsts, sizeof *konsts);
				struct konst *c = &konsts[nkonsts++];
				snprintf(c->ns, sizeof c->ns, "%s", ns);
				snprintf(c->name, sizeof c->name, "%.120s_%.120s", n.s, m.s);
				snprintf(c->value, sizeof c->value, "%s", v.s);
				c->doc = NULL;
				struct token sep = next(s);
				if (sep.t == T_PUNCT && sep.s[0] == '}')
					break;
				if (!(sep.t == T_PUNCT && sep.s[0] == ','))
					fail(s, sep.line, "expected ',' or '}', found '%s'",
					     tokname(&sep));
			}
			size_t save = s->pos;
			int sline = s->line;
			struct token semi = next(s);
			if (!(semi.t == T_PUNCT && semi.s[0] == ';')) {
				s->pos = save; /* the ';' after an enum is optional */
				s->line = sline;
			}
		} else if (strcmp(k.s, "include") == 0) {
			free(doc);
			struct token p = next(s);
			if (p.t != T_STRING)
				fail(s, p.line, "include wants a \"path\"");
			expect(s, ";");
			char path[4096];
			const char *slash = strrchr(s->file, '/');
			if (p.s[0] == '/' || !slash)
				snprintf(path, sizeof path, "%s", p.s);
			else
				snprintf(path, sizeof path, "%.*s/%s", (int)(slash - s->file),
					 s->file, p.s);
			if (strpbrk(p.s, "*?[")) {
				glob_t g;
				int r = glob(path, 0, NULL, &g);
				if (r == 0)
					for (size_t i = 0; i < g.gl_pathc; i++)
						parse_file(g.gl_pathv[i], s, p.line);
				globfree(&g);
			} else {
				parse_file(path, s, p.line);
			}
		} else {
			fail(s, k.line, "unknown declaration '%s'", k.s);
		}
	}
}

static void parse_file(const char *path, struct src *up, int line)
{
	int depth = 0;
	for (struct src *u = up; u; u = u->up)
		if (++depth > MAX_DEPTH || strcmp(u->file, path) == 0)
			fail(up, line, "include of '%s' loops", path);
	struct src s = { .file = strdup(path), .line = 1, .up = up };
	s.text = slurp(path, &s.len);
	if (!s.text) {
		if (up)
			fail(up, line, "cannot read '%s': %s", path, strerror(errno));
		fprintf(stderr, "boxfs-idlc: cannot read %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (strlen(s.text) != s.len)
		fail(&s, 1, "the file holds a NUL byte");
	parse_items(&s, "", false);
	free(s.text);
}

/* ---- output ---- */

static void upper(FILE *o, const char *s)
{
	for (; *s; s++)
		fputc(toupper((unsigned char)*s), o);
}

/* "ns_name" or "name" */
static void cname(FILE *o, const struct msg *m)
{
	if (m->ns[0])
		fprintf(o, "%s_", m->ns);
	fputs(m->name, o);
}

static void uname(FILE *o, const struct msg *m)
{
	if (m->ns[0]) {
		upper(o, m->ns);
		fputc('_', o);
	}
	upper(o, m->name);
}

static const char *ctype(const struct type *t)
{
	static const char *const ints[] = {
		[1] = "int8_t", [2] = "int16_t", [4] = "int32_t", [8] = "int64_t"
	};
	static const char *const uints[] = {
		[1] = "uint8_t", [2] = "uint16_t", [4] = "uint32_t", [8] = "uint64_t"
	};
	switch (t->kind) {
	case K_INT:
		return ints[t->size];
	case K_UINT:
		return uints[t->size];
	case K_BOOL:
		return "bool";
	default:
		return "struct boxfs_idl_buf";
	}
}

static void comment(FILE *o, const char *doc, const char *indent)
{
	if (!doc)
		return;
	fprintf(o, "%s/* ", indent);
	for (const char *p = doc; *p; p++) {
		if (p[0] == '*' && p[1] == '/')
			fputs("* /", o), p++;
		else
			fputc(*p, o);
	}
	fputs(" */\n", o);
}

static void emit_struct(FILE *o, const struct msg *m, const struct dir *d, bool reply)
{
	fputs("struct ", o);
	cname(o, m);
	fprintf(o, "%s_fields {\n", reply ? "_reply" : "");
	for (unsigned i = 0; i < d->n; i++) {
		const struct field *f = &d->f[i];
		fprintf(o, "\t%s %s", ctype(f->type), f->name);
		if (f->count > 1)
			fprintf(o, "[%u]", f->count);
		fputs(";\n", o);
	}
	if (!d->n)
		fputs("\tchar unused_;\n", o);
	fputs("};\n", o);
}

static void emit_header(FILE *o, const char *in)
{
	fprintf(o, "/* Generated by boxfs-idlc from %s: do not edit. */\n", in);
	fputs("#ifndef BOXFS_IDL_GEN_H\n#define BOXFS_IDL_GEN_H\n\n#include <boxfs/idl.h>\n\n", o);
	fputs("#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", o);
	fprintf(o, "#define IDL_NMSGS %zu\n\n", nmsgs);
	for (size_t i = 0; i < nkonsts; i++) {
		comment(o, konsts[i].doc, "");
		fputs("#define ", o);
		if (konsts[i].ns[0]) {
			upper(o, konsts[i].ns);
			fputc('_', o);
		}
		upper(o, konsts[i].name);
		fprintf(o, " (%s)\n", konsts[i].value);
	}
	fputc('\n', o);
	for (size_t i = 0; i < nmsgs; i++) {
		const struct msg *m = &msgs[i];
		comment(o, m->doc, "");
		fputs("#define ", o);
		uname(o, m);
		fprintf(o, "_MSG %d\n", m->id);
		if (m->rpc) {
			fputs("#define ", o);
			uname(o, m);
			fprintf(o, "_REPLY_MSG %d\n", m->reply_id);
		}
		fputs("#define IDL_", o);
		uname(o, m);
		fprintf(o, " (&boxfs_idl_msgs[%zu])\n", i);
		emit_struct(o, m, &m->args, false);
		if (m->rpc)
			emit_struct(o, m, &m->rets, true);
		/* The stub and the typed codec. */
		if (m->rpc) {
			fputs("static inline int idl_call_", o);
			cname(o, m);
			fputs("(struct boxfs_idl *cl, const struct ", o);
			cname(o, m);
			fputs("_fields *in, struct ", o);
			cname(o, m);
			fputs("_reply_fields *out)\n{\n\treturn boxfs_idl_call(cl, IDL_", o);
			uname(o, m);
			fputs(", in, out);\n}\n", o);
		} else {
			fputs("static inline int idl_send_", o);
			cname(o, m);
			fputs("(struct boxfs_idl *cl, const struct ", o);
			cname(o, m);
			fputs("_fields *in)\n{\n\treturn boxfs_idl_send(cl, IDL_", o);
			uname(o, m);
			fputs(", in);\n}\n", o);
		}
		for (int r = 0; r <= (int)m->rpc; r++) {
			const char *sfx = r ? "_reply" : "";
			fputs("static inline int idl_decode_", o);
			cname(o, m);
			fprintf(o, "%s(struct ", sfx);
			cname(o, m);
			fprintf(o, "%s_fields *f, const void *body, size_t len)\n{\n", sfx);
			fputs("\treturn boxfs_idl_unpack(&IDL_", o);
			uname(o, m);
			fprintf(o, "->%s, f, body, len);\n}\n", r ? "rets" : "args");
			fputs("static inline size_t idl_encode_", o);
			cname(o, m);
			fprintf(o, "%s(const struct ", sfx);
			cname(o, m);
			fprintf(o, "%s_fields *f, void *body)\n{\n", sfx);
			fputs("\treturn boxfs_idl_pack(&IDL_", o);
			uname(o, m);
			fprintf(o, "->%s, f, body);\n}\n", r ? "rets" : "args");
		}
		fputc('\n', o);
	}
	fputs("/*\n * The server dispatch table: one handler per request (an rpc's arguments\n"
	      " * or a oneway), called by idl_dispatch with the decoded fields; a NULL\n"
	      " * handler is answered NOT_ACCEPTABLE. A handler answers 0 when it replied\n"
	      " * (or will), or a Resea error code (< 0) to be sent as the reply.\n */\n",
	      o);
	fputs("struct idl_server_ops {\n", o);
	for (size_t i = 0; i < nmsgs; i++) {
		fputs("\tint (*", o);
		cname(o, &msgs[i]);
		fputs(")(void *ctx, int32_t src, const struct ", o);
		cname(o, &msgs[i]);
		fputs("_fields *m);\n", o);
	}
	fputs("};\n\n", o);
	fputs("/* Decodes the body of a request of type and calls its handler. Answers the\n"
	      " * handler's answer, NOT_ACCEPTABLE for a type that is no request (or has\n"
	      " * no handler), INVALID_ARG for a body that does not match its type. */\n",
	      o);
	fputs("int idl_dispatch(const struct idl_server_ops *ops, void *ctx, int32_t type, int32_t "
	      "src,\n\t\t const void *body, size_t len);\n\n",
	      o);
	fputs("#ifdef __cplusplus\n}\n#endif\n#endif\n", o);
}

static void emit_fields(FILE *o, const struct msg *m, const struct dir *d, bool reply)
{
	if (!d->n)
		return;
	fputs("static const struct boxfs_idl_field f_", o);
	cname(o, m);
	fprintf(o, "%s[] = {\n", reply ? "_reply" : "");
	for (unsigned i = 0; i < d->n; i++) {
		const struct field *f = &d->f[i];
		static const char *const kinds[] = { "BOXFS_IDL_INT", "BOXFS_IDL_UINT",
						     "BOXFS_IDL_BOOL", "BOXFS_IDL_STR",
						     "BOXFS_IDL_BYTES" };
		fprintf(o, "\t{ \"%s\", \"%s\", %s, %u, %u, offsetof(struct ", f->name,
			f->type->name, kinds[f->type->kind], f->type->size, f->count);
		cname(o, m);
		fprintf(o, "%s_fields, %s) },\n", reply ? "_reply" : "", f->name);
	}
	fputs("};\n", o);
}

static void emit_dir(FILE *o, const struct msg *m, const struct dir *d, bool reply)
{
	if (reply && !m->rpc) {
		fputs("\t\t{ NULL, 0, 0, -1, 0 },\n", o);
		return;
	}
	fputs("\t\t{ ", o);
	if (d->n) {
		fputs("f_", o);
		cname(o, m);
		fprintf(o, "%s", reply ? "_reply" : "");
	} else {
		fputs("NULL", o);
	}
	fprintf(o, ", %u, %u, %d, sizeof(struct ", d->n, d->fixed, d->ool);
	cname(o, m);
	fprintf(o, "%s_fields) },\n", reply ? "_reply" : "");
}

static void emit_c(FILE *o, const char *in)
{
	fprintf(o, "/* Generated by boxfs-idlc from %s: do not edit. */\n", in);
	fputs("#include \"idl_gen.h\"\n\n#include <stddef.h>\n\n", o);
	for (size_t i = 0; i < nmsgs; i++) {
		emit_fields(o, &msgs[i], &msgs[i].args, false);
		if (msgs[i].rpc)
			emit_fields(o, &msgs[i], &msgs[i].rets, true);
	}
	fputs("\nconst struct boxfs_idl_msg boxfs_idl_msgs[IDL_NMSGS + 1] = {\n", o);
	for (size_t i = 0; i < nmsgs; i++) {
		const struct msg *m = &msgs[i];
		fprintf(o, "\t{ \"%s%s%s\", %d, %d, %s, %s,\n", m->ns, m->ns[0] ? "." : "", m->name,
			m->id, m->rpc ? m->reply_id : 0, m->rpc ? "true" : "false",
			m->async ? "true" : "false");
		emit_dir(o, m, &m->args, false);
		emit_dir(o, m, &m->rets, true);
		fputs("\t\t\"", o);
		for (const char *p = m->doc ? m->doc : ""; *p; p++)
			fprintf(o, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
		fputs("\" },\n", o);
	}
	fputs("\t{ NULL },\n};\n\n", o);
	fputs("int idl_dispatch(const struct idl_server_ops *ops, void *ctx, int32_t type, int32_t "
	      "src,\n\t\t const void *body, size_t len)\n{\n\tswitch (type) {\n",
	      o);
	for (size_t i = 0; i < nmsgs; i++) {
		const struct msg *m = &msgs[i];
		fputs("\tcase ", o);
		uname(o, m);
		fputs("_MSG: {\n\t\tstruct ", o);
		cname(o, m);
		fputs("_fields f;\n\t\tif (!ops->", o);
		cname(o, m);
		fputs(")\n\t\t\treturn BOXFS_IDL_NOT_ACCEPTABLE;\n\t\tif (idl_decode_", o);
		cname(o, m);
		fputs("(&f, body, len) < 0)\n\t\t\treturn BOXFS_IDL_INVALID_ARG;\n\t\treturn ops->",
		      o);
		cname(o, m);
		fputs("(ctx, src, &f);\n\t}\n", o);
	}
	fputs("\t}\n\treturn BOXFS_IDL_NOT_ACCEPTABLE;\n}\n", o);
}

static void list(FILE *o)
{
	for (size_t i = 0; i < nmsgs; i++) {
		const struct msg *m = &msgs[i];
		fprintf(o, "%s%s%s %s %d", m->ns, m->ns[0] ? "." : "", m->name,
			m->rpc	   ? "rpc"
			: m->async ? "async-oneway"
				   : "oneway",
			m->id);
		if (m->rpc)
			fprintf(o, " %d", m->reply_id);
		fputc('\n', o);
	}
}

static FILE *out_open(const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "boxfs-idlc: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void out_close(FILE *f, const char *path)
{
	if (ferror(f) || fclose(f) != 0) {
		fprintf(stderr, "boxfs-idlc: cannot write %s\n", path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *hpath = NULL, *cpath = NULL, *in = NULL;
	bool do_list = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-H") == 0 && i + 1 < argc)
			hpath = argv[++i];
		else if (strcmp(argv[i], "-C") == 0 && i + 1 < argc)
			cpath = argv[++i];
		else if (strcmp(argv[i], "-l") == 0)
			do_list = true;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: boxfs-idlc [-H OUT.h] [-C OUT.c] [-l] FILE.idl\n");
			return 0;
		} else if (argv[i][0] != '-' && !in)
			in = argv[i];
		else {
			fprintf(stderr, "usage: boxfs-idlc [-H OUT.h] [-C OUT.c] [-l] FILE.idl\n");
			return 2;
		}
	}
	if (!in) {
		fprintf(stderr, "usage: boxfs-idlc [-H OUT.h] [-C OUT.c] [-l] FILE.idl\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
		types = grow(types, &captypes, ntypes, sizeof *types);
		struct type *t = &types[ntypes++];
		memset(t, 0, sizeof *t);
		snprintf(t->name, sizeof t->name, "%s", builtins[i].name);
		t->kind = builtins[i].kind;
		t->size = builtins[i].size;
		t->count = 1;
		t->builtin = true;
	}
	parse_file(in, NULL, 0);
	const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
	if (hpath) {
		FILE *o = out_open(hpath);
		emit_header(o, base);
		out_close(o, hpath);
	}
	if (cpath) {
		FILE *o = out_open(cpath);
		emit_c(o, base);
		out_close(o, cpath);
	}
	if (do_list)
		list(stdout);
	return 0;
}
