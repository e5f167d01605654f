/*
 * ixp_srvutil.h — libixp's helpers for synthetic file servers (wmii's way):
 * a tree of IxpFileId records walked through a lookup function, directory
 * reads, control files, and event files whose readers wait for data
 * (IxpPending).
 *
 * Include <ixp.h> first, and define the type IxpFileIdU before including
 * this header: the union of pointers a program keeps in each IxpFileId
 * (libixp's convention). Every function runs on the serverloop's thread.
 */
#ifndef IXP_SRVUTIL_H
#define IXP_SRVUTIL_H

#include <ixp.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct IxpDirtab IxpDirtab;
typedef struct IxpFileId IxpFileId;
typedef struct IxpPendingLink IxpPendingLink;
typedef struct IxpPending IxpPending;
typedef struct IxpQueue IxpQueue;
typedef struct IxpRequestLink IxpRequestLink;

/*
 * Finds the child name of parent (a chain of IxpFileIds from a file up to the
 * root, through next), as a new reference, or NULL. With name NULL, answers
 * the whole directory: a "." entry followed, through next, by every child.
 */
typedef IxpFileId *(*IxpLookupFn)(IxpFileId *, char *);

struct IxpPendingLink {
	/* Private members */
	IxpPendingLink *next;
	IxpPendingLink *prev;
	IxpFid *fid;
	IxpQueue *queue;
	IxpPending *pending;
};

struct IxpRequestLink {
	/* Private members */
	IxpRequestLink *next;
	IxpRequestLink *prev;
	Ixp9Req *req;
};

/* An event source: the fids reading it and the reads waiting. Zero it to start. */
struct IxpPending {
	/* Private members */
	IxpRequestLink req;
	IxpPendingLink fids;
};

/* A file's static description. */
struct IxpDirtab {
	char *name;
	uint8_t qtype;
	uint type;
	uint perm;
	uint flags;
};

/* One file as a fid sees it: next leads to its parent, up to the root. */
struct IxpFileId {
	IxpFileId *next;
	IxpFileIdU p;
	bool pending; /* p is an IxpPendingLink (ixp_pending_pushfid) */
	uint id;
	uint index;
	IxpDirtab tab;
	uint nref;
	char volatil; /* p must still match for the file to be valid */
};

enum {
	FLHide = 1,
};

/* A new IxpFileId holding one reference. */
IxpFileId *ixp_srv_getfile(void);
/* Drops one reference; the last frees the record and its tab.name. */
void ixp_srv_freefile(IxpFileId *);
/* A copy of the first record (with its own tab.name) holding a reference to
 * every record after it. */
IxpFileId *ixp_srv_clonefiles(IxpFileId *);

/* Answers a read of buf (len bytes) at the request's offset: sets ofcall. */
void ixp_srv_readbuf(Ixp9Req *, char *buf, uint len);
/* Answers a write into *buf (growing it when max is 0, else at most max
 * bytes); keeps *len and a NUL after the data. */
void ixp_srv_writebuf(Ixp9Req *, char **buf, uint *len, uint max);
/* Makes the write's data a C string without its trailing newline. */
void ixp_srv_data2cstring(Ixp9Req *);
/* Runs fn(file's p, line) for every line written to a control file; the last
 * error fn answered, or NULL. */
char *ixp_srv_writectl(Ixp9Req *, char *(*fn)(void *, IxpMsg *));
/* Answers a directory read with the stat records of lookup(dir, NULL)'s
 * children, which dostat fills. */
void ixp_srv_readdir(Ixp9Req *, IxpLookupFn, void (*dostat)(IxpStat *, IxpFileId *));
/* True while every record of the chain can still be found by lookup. */
bool ixp_srv_verifyfile(IxpFileId *, IxpLookupFn);
/* Answers a Twalk by lookup from the fid's IxpFileId chain; the new chain
 * goes in newfid->aux (or replaces fid->aux). */
void ixp_srv_walkandclone(Ixp9Req *, IxpLookupFn);

/* Event files. pushfid registers an opened fid (its aux an IxpFileId) as a
 * reader; write queues data for every reader and answers waiting reads;
 * respond answers a read at once when data is queued, else keeps it waiting;
 * flush forgets a waiting read being flushed (call it from Ixp9Srv.flush);
 * clunk answers the fid's waiting reads "interrupted", drops the reader and
 * answers the clunk: true when no reader is left. */
void ixp_pending_write(IxpPending *, const char *, long);
int ixp_pending_print(IxpPending *, const char *, ...) __attribute__((format(printf, 2, 3)));
int ixp_pending_vprint(IxpPending *, const char *, va_list);
void ixp_pending_pushfid(IxpPending *, IxpFid *);
void ixp_pending_respond(Ixp9Req *);
void ixp_pending_flush(Ixp9Req *);
bool ixp_pending_clunk(Ixp9Req *);

#ifdef __cplusplus
}
#endif
#endif
