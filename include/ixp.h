/*
 * ixp.h — libixp's API (version 135) on boxfs.
 *
 * A program written for libixp 0.6 builds against this header unchanged and
 * links with -lboxfs-ixp (pkg-config libixp). Its Ixp9Srv is served by
 * boxfs's 9P door, so clients may speak 9P2000, 9P2000.u or 9P2000.L with an
 * msize up to 1 MiB; its IxpClient negotiates the largest msize the server
 * allows. docs/ixp.md lists what is identical to libixp, what is better and
 * what differs.
 *
 * Conventions are libixp's, not boxfs's: functions answer 0, -1 or NULL on
 * failure and leave a message in ixp_errbuf(); ixp_close and ixp_remove
 * answer 1 on success. Every Ixp9Srv callback and every callback given to
 * ixp_listen or ixp_settimer runs on the thread inside ixp_serverloop.
 *
 * This header is self-contained: it includes no boxfs header.
 */
#ifndef IXP_H
#define IXP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/select.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IXP_API		    135
#define _IXP_ASSERT_VERSION ixp_version_135_required

#ifndef IXP_NEEDAPI
#define IXP_NEEDAPI IXP_API
#endif
#ifndef IXP_MAXAPI
#define IXP_MAXAPI IXP_API
#endif
#if IXP_API < IXP_NEEDAPI
#error This program needs a newer libixp API than boxfs offers.
#endif
#if IXP_NEEDAPI <= 89
#error boxfs does not offer the old struct Fcall of libixp (IXP_NEEDAPI 89 and below).
#endif

/* The older names, for programs written against APIs before 127. */
#if IXP_NEEDAPI < 127
#undef uchar
#undef ushort
#undef ulong
#undef vlong
#undef uvlong
#define uchar  _ixpuchar
#define ushort _ixpushort
#define ulong  _ixpulong
#define vlong  _ixpvlong
#define uvlong _ixpuvlong
typedef unsigned char uchar;
typedef uint16_t ushort;
typedef uint32_t ulong;
typedef uint64_t uvlong;
typedef int64_t vlong;
#define respond	    ixp_respond
#define serve_9pcon ixp_serve9conn
#endif

/* Placed in a function, makes the object fail to link against another API. */
#define IXP_ASSERT_VERSION                                                                         \
	do                                                                                         \
		_IXP_ASSERT_VERSION = 0;                                                           \
	while (0)
extern int _IXP_ASSERT_VERSION;

/* libixp's short name for unsigned int, kept out of the way of other typedefs. */
#undef uint
#define uint _ixpuint
typedef unsigned int uint;

#define IXP_VERSION "9P2000"
#define IXP_NOTAG   ((uint16_t)~0)
#define IXP_NOFID   (~0U)

enum {
	IXP_MAX_VERSION = 32,
	IXP_MAX_MSG = 8192, /* libixp's msize; boxfs goes beyond it (see docs/ixp.md) */
	IXP_MAX_ERROR = 128,
	IXP_MAX_CACHE = 32,
	IXP_MAX_FLEN = 128,
	IXP_MAX_ULEN = 32,
	IXP_MAX_WELEM = 16,
};

/* 9P2000 message types. */
enum IxpFType {
	P9_TVersion = 100,
	P9_RVersion,
	P9_TAuth = 102,
	P9_RAuth,
	P9_TAttach = 104,
	P9_RAttach,
	P9_TError = 106, /* illegal */
	P9_RError,
	P9_TFlush = 108,
	P9_RFlush,
	P9_TWalk = 110,
	P9_RWalk,
	P9_TOpen = 112,
	P9_ROpen,
	P9_TCreate = 114,
	P9_RCreate,
	P9_TRead = 116,
	P9_RRead,
	P9_TWrite = 118,
	P9_RWrite,
	P9_TClunk = 120,
	P9_RClunk,
	P9_TRemove = 122,
	P9_RRemove,
	P9_TStat = 124,
	P9_RStat,
	P9_TWStat = 126,
	P9_RWStat,
};

/* Open modes (Topen, Tcreate, ixp_open). */
enum IxpOMode {
	P9_OREAD = 0,
	P9_OWRITE = 1,
	P9_ORDWR = 2,
	P9_OEXEC = 3,
	P9_OTRUNC = 16,
	P9_OCEXEC = 32,
	P9_ORCLOSE = 64,
	P9_ODIRECT = 128,
	P9_ONONBLOCK = 256,
	P9_OEXCL = 0x1000,
	P9_OLOCK = 0x2000,
	P9_OAPPEND = 0x4000,
};

/* Bits of IxpQid.type. */
enum IxpQType {
	P9_QTDIR = 0x80,
	P9_QTAPPEND = 0x40,
	P9_QTEXCL = 0x20,
	P9_QTMOUNT = 0x10,
	P9_QTAUTH = 0x08,
	P9_QTTMP = 0x04,
	P9_QTSYMLINK = 0x02,
	P9_QTFILE = 0x00,
};

/* Bits of IxpStat.mode (and Tcreate's perm). */
enum IxpDMode {
	P9_DMEXEC = 0x1,
	P9_DMWRITE = 0x2,
	P9_DMREAD = 0x4,
};
#define P9_DMDIR       0x80000000
#define P9_DMAPPEND    0x40000000
#define P9_DMEXCL      0x20000000
#define P9_DMMOUNT     0x10000000
#define P9_DMAUTH      0x08000000
#define P9_DMTMP       0x04000000
#define P9_DMSYMLINK   0x02000000 /* 9P2000.u */
#define P9_DMDEVICE    0x00800000 /* 9P2000.u */
#define P9_DMNAMEDPIPE 0x00200000 /* 9P2000.u */
#define P9_DMSOCKET    0x00100000 /* 9P2000.u */
#define P9_DMSETUID    0x00080000 /* 9P2000.u */
#define P9_DMSETGID    0x00040000 /* 9P2000.u */

/* The unprefixed names, for programs that ask for them. */
#ifdef IXP_NO_P9_
#define TVersion    P9_TVersion
#define RVersion    P9_RVersion
#define TAuth	    P9_TAuth
#define RAuth	    P9_RAuth
#define TAttach	    P9_TAttach
#define RAttach	    P9_RAttach
#define TError	    P9_TError
#define RError	    P9_RError
#define TFlush	    P9_TFlush
#define RFlush	    P9_RFlush
#define TWalk	    P9_TWalk
#define RWalk	    P9_RWalk
#define TOpen	    P9_TOpen
#define ROpen	    P9_ROpen
#define TCreate	    P9_TCreate
#define RCreate	    P9_RCreate
#define TRead	    P9_TRead
#define RRead	    P9_RRead
#define TWrite	    P9_TWrite
#define RWrite	    P9_RWrite
#define TClunk	    P9_TClunk
#define RClunk	    P9_RClunk
#define TRemove	    P9_TRemove
#define RRemove	    P9_RRemove
#define TStat	    P9_TStat
#define RStat	    P9_RStat
#define TWStat	    P9_TWStat
#define RWStat	    P9_RWStat
#define OREAD	    P9_OREAD
#define OWRITE	    P9_OWRITE
#define ORDWR	    P9_ORDWR
#define OEXEC	    P9_OEXEC
#define OTRUNC	    P9_OTRUNC
#define OCEXEC	    P9_OCEXEC
#define ORCLOSE	    P9_ORCLOSE
#define ODIRECT	    P9_ODIRECT
#define ONONBLOCK   P9_ONONBLOCK
#define OEXCL	    P9_OEXCL
#define OLOCK	    P9_OLOCK
#define OAPPEND	    P9_OAPPEND
#define QTDIR	    P9_QTDIR
#define QTAPPEND    P9_QTAPPEND
#define QTEXCL	    P9_QTEXCL
#define QTMOUNT	    P9_QTMOUNT
#define QTAUTH	    P9_QTAUTH
#define QTTMP	    P9_QTTMP
#define QTSYMLINK   P9_QTSYMLINK
#define QTFILE	    P9_QTFILE
#define DMDIR	    P9_DMDIR
#define DMAPPEND    P9_DMAPPEND
#define DMEXCL	    P9_DMEXCL
#define DMMOUNT	    P9_DMMOUNT
#define DMAUTH	    P9_DMAUTH
#define DMTMP	    P9_DMTMP
#define DMSYMLINK   P9_DMSYMLINK
#define DMDEVICE    P9_DMDEVICE
#define DMNAMEDPIPE P9_DMNAMEDPIPE
#define DMSOCKET    P9_DMSOCKET
#define DMSETUID    P9_DMSETUID
#define DMSETGID    P9_DMSETGID
#endif

typedef struct IxpMap IxpMap;
typedef struct Ixp9Conn Ixp9Conn;
typedef struct Ixp9Req Ixp9Req;
typedef struct Ixp9Srv Ixp9Srv;
typedef struct IxpCFid IxpCFid;
typedef struct IxpClient IxpClient;
typedef struct IxpConn IxpConn;
typedef struct IxpFid IxpFid;
typedef struct IxpMsg IxpMsg;
typedef struct IxpQid IxpQid;
typedef struct IxpRpc IxpRpc;
typedef struct IxpServer IxpServer;
typedef struct IxpStat IxpStat;
typedef struct IxpTimer IxpTimer;
typedef struct IxpMutex IxpMutex;
typedef struct IxpRWLock IxpRWLock;
typedef struct IxpRendez IxpRendez;
typedef struct IxpThread IxpThread;

enum {
	IXP_ERRMAX = IXP_MAX_ERROR,
};

/* Locks as the threading hooks (IxpThread) implement them. */
struct IxpMutex {
	void *aux;
};

struct IxpRendez {
	IxpMutex *mutex;
	void *aux;
};

struct IxpRWLock {
	void *aux;
};

/*
 * A buffer being packed or unpacked by the ixp_p* functions: the bytes are
 * data[0..size), pos is where the next field goes, end the message's end.
 * Packing or unpacking past end moves pos past end without touching memory;
 * pos > end afterwards means the message did not fit or was short.
 */
enum IxpMsgMode {
	MsgPack,
	MsgUnpack,
};
struct IxpMsg {
	char *data;
	char *pos;
	char *end;
	uint size;
	uint mode; /* MsgPack or MsgUnpack */
};

struct IxpQid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
	/* Private members */
	uint8_t dir_type;
};

/* A 9P2000 stat record; strings are malloc'd when unpacked. */
struct IxpStat {
	uint16_t type;
	uint32_t dev;
	IxpQid qid;
	uint32_t mode;
	uint32_t atime;
	uint32_t mtime;
	uint64_t length;
	char *name;
	char *uid;
	char *gid;
	char *muid;
};

typedef struct IxpFHdr IxpFHdr;
typedef struct IxpFError IxpFError;
typedef struct IxpFROpen IxpFRAttach;
typedef struct IxpFRAuth IxpFRAuth;
typedef struct IxpFROpen IxpFRCreate;
typedef struct IxpFROpen IxpFROpen;
typedef struct IxpFIO IxpFRRead;
typedef struct IxpFRStat IxpFRStat;
typedef struct IxpFVersion IxpFRVersion;
typedef struct IxpFRWalk IxpFRWalk;
typedef struct IxpFAttach IxpFTAttach;
typedef struct IxpFAttach IxpFTAuth;
typedef struct IxpFTCreate IxpFTCreate;
typedef struct IxpFTFlush IxpFTFlush;
typedef struct IxpFTCreate IxpFTOpen;
typedef struct IxpFIO IxpFTRead;
typedef struct IxpFVersion IxpFTVersion;
typedef struct IxpFTWalk IxpFTWalk;
typedef struct IxpFIO IxpFTWrite;
typedef struct IxpFTWStat IxpFTWStat;
typedef struct IxpFAttach IxpFAttach;
typedef struct IxpFIO IxpFIO;
typedef struct IxpFVersion IxpFVersion;

/* What every message starts with; fid is meaningful where the type has one. */
struct IxpFHdr {
	uint8_t type;
	uint16_t tag;
	uint32_t fid;
};
struct IxpFVersion {
	IxpFHdr hdr;
	uint32_t msize;
	char *version;
};
struct IxpFTFlush {
	IxpFHdr hdr;
	uint16_t oldtag;
};
struct IxpFError {
	IxpFHdr hdr;
	char *ename;
};
struct IxpFROpen {
	IxpFHdr hdr;
	IxpQid qid; /* also Rattach's */
	uint32_t iounit;
};
struct IxpFRAuth {
	IxpFHdr hdr;
	IxpQid aqid;
};
struct IxpFAttach {
	IxpFHdr hdr;
	uint32_t afid;
	char *uname;
	char *aname;
};
struct IxpFTCreate {
	IxpFHdr hdr;
	uint32_t perm;
	char *name;
	uint8_t mode; /* also Topen's */
};
struct IxpFTWalk {
	IxpFHdr hdr;
	uint32_t newfid;
	uint16_t nwname;
	char *wname[IXP_MAX_WELEM];
};
struct IxpFRWalk {
	IxpFHdr hdr;
	uint16_t nwqid;
	IxpQid wqid[IXP_MAX_WELEM];
};
struct IxpFIO {
	IxpFHdr hdr;
	uint64_t offset; /* Tread, Twrite */
	uint32_t count;	 /* Tread, Twrite, Rread, Rwrite */
	char *data;	 /* Twrite, Rread */
};
struct IxpFRStat {
	IxpFHdr hdr;
	uint16_t nstat;
	uint8_t *stat; /* one packed stat record of nstat bytes */
};
struct IxpFTWStat {
	IxpFHdr hdr;
	IxpStat stat;
};

/*
 * One 9P message: hdr.type says which member holds it. Messages of the same
 * shape share a structure (Tread, Rread, Twrite and Rwrite are all IxpFIO,
 * also reachable as io).
 */
typedef union IxpFcall IxpFcall;
union IxpFcall {
	IxpFHdr hdr;
	IxpFVersion version;
	IxpFVersion tversion;
	IxpFVersion rversion;
	IxpFTFlush tflush;
	IxpFROpen ropen;
	IxpFROpen rcreate;
	IxpFROpen rattach;
	IxpFError error;
	IxpFRAuth rauth;
	IxpFAttach tattach;
	IxpFAttach tauth;
	IxpFTCreate tcreate;
	IxpFTCreate topen;
	IxpFTWalk twalk;
	IxpFRWalk rwalk;
	IxpFTWStat twstat;
	IxpFRStat rstat;
	IxpFIO twrite;
	IxpFIO rwrite;
	IxpFIO tread;
	IxpFIO rread;
	IxpFIO io;
};

#ifdef IXP_P9_STRUCTS
typedef IxpFcall Fcall;
typedef IxpFid Fid;
typedef IxpQid Qid;
typedef IxpStat Stat;
#endif

/*
 * A descriptor ixp_serverloop watches: read(c) runs when fd is readable,
 * close(c) when the connection is hung up (then fd is closed).
 */
struct IxpConn {
	IxpServer *srv;
	void *aux; /* the program's */
	int fd;
	void (*read)(IxpConn *);
	void (*close)(IxpConn *);
	char closed; /* set once the connection is being hung up */

	/* Private members */
	IxpConn *next;
};

/*
 * A select loop over connections and timers. A zeroed IxpServer is ready
 * to use. preselect, when set, runs before every wait; running is set by
 * ixp_serverloop and the loop returns once it is cleared.
 */
struct IxpServer {
	IxpConn *conn;
	IxpMutex lk;
	IxpTimer *timer;
	void (*preselect)(IxpServer *);
	void *aux; /* the program's */
	int running;
	int maxfd;
	fd_set rd;
};

/* A connection to a 9P server (ixp_mount). fd, msize and lastfid are public. */
struct IxpClient {
	int fd;
	uint msize;
	uint lastfid;

	/* Private members */
	void *priv;
};

/* A fid of an IxpClient: a walked file, open once ixp_open/ixp_create made it. */
struct IxpCFid {
	uint32_t fid;
	IxpQid qid;
	uint8_t mode;
	uint open;
	uint iounit;
	uint64_t offset; /* where ixp_read and ixp_write go next */
	IxpClient *client;

	/* Private members */
	IxpCFid *next;
	IxpMutex iolock;
};

/*
 * A server-side fid: created by the library on Tattach and Twalk (newfid),
 * freed after Tclunk or Tremove (or the client's hang-up) through
 * Ixp9Srv.freefid. aux is the program's; qid is set by the program on attach
 * and by the library from the answers to walk, open and create.
 */
struct IxpFid {
	char *uid;	   /* the attaching user */
	void *aux;	   /* the program's */
	uint32_t fid;	   /* its number */
	IxpQid qid;	   /* the file it stands for */
	signed char omode; /* the open mode, -1 until opened */
	uint iounit;	   /* the largest read or write on it */

	/* Private members */
	Ixp9Conn *conn;
	IxpMap *map;
};

/*
 * One request to an Ixp9Srv callback. The callback (or anything later, on
 * the serverloop's thread) answers it exactly once with ixp_respond, after
 * filling ofcall; the library frees it then. oldreq is set for Tflush: the
 * request being flushed.
 */
struct Ixp9Req {
	Ixp9Srv *srv;
	IxpFid *fid;	/* the fid of ifcall.hdr.fid */
	IxpFid *newfid; /* Twalk's newfid */
	Ixp9Req *oldreq;
	IxpFcall ifcall; /* the request */
	IxpFcall ofcall; /* the answer, filled by the callback */
	void *aux;	 /* the program's */

	/* Private members */
	Ixp9Conn *conn;
};

/*
 * A file server: one callback per 9P request it answers (attach is
 * required; a missing one answers "function not implemented", a missing
 * clunk succeeds). freefid runs when a fid goes away.
 */
struct Ixp9Srv {
	void *aux;
	void (*attach)(Ixp9Req *);
	void (*clunk)(Ixp9Req *);
	void (*create)(Ixp9Req *);
	void (*flush)(Ixp9Req *);
	void (*open)(Ixp9Req *);
	void (*read)(Ixp9Req *);
	void (*remove)(Ixp9Req *);
	void (*stat)(Ixp9Req *);
	void (*walk)(Ixp9Req *);
	void (*write)(Ixp9Req *);
	void (*wstat)(Ixp9Req *);
	void (*freefid)(IxpFid *);
};

/*
 * Threading hooks: locks, rendezvous, the per-thread error buffer and the
 * I/O calls the library makes. ixp_thread starts as a single-threaded set;
 * ixp_pthread_init installs one built on POSIX threads.
 */
struct IxpThread {
	int (*initrwlock)(IxpRWLock *);
	void (*rlock)(IxpRWLock *);
	int (*canrlock)(IxpRWLock *);
	void (*runlock)(IxpRWLock *);
	void (*wlock)(IxpRWLock *);
	int (*canwlock)(IxpRWLock *);
	void (*wunlock)(IxpRWLock *);
	void (*rwdestroy)(IxpRWLock *);
	int (*initmutex)(IxpMutex *);
	void (*lock)(IxpMutex *);
	int (*canlock)(IxpMutex *);
	void (*unlock)(IxpMutex *);
	void (*mdestroy)(IxpMutex *);
	int (*initrendez)(IxpRendez *);
	void (*sleep)(IxpRendez *);
	int (*wake)(IxpRendez *);
	int (*wakeall)(IxpRendez *);
	void (*rdestroy)(IxpRendez *);
	char *(*errbuf)(void);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
};

extern IxpThread *ixp_thread;
/* Formatting used by ixp_werrstr, ixp_smprint and ixp_print (printf's by default). */
extern int (*ixp_vsnprint)(char *buf, int nbuf, const char *fmt, va_list);
extern char *(*ixp_vsmprint)(const char *fmt, va_list);
/* When set, called with every request a server receives and every answer it sends. */
extern void (*ixp_printfcall)(IxpFcall *);

/* Installs POSIX-thread hooks; 0 on success. The others are not offered (-1). */
int ixp_pthread_init(void);
int ixp_taskinit(void);
int ixp_rubyinit(void);

/* ---- client ---- */

/* Connects to address (unix!path, tcp!host!port), to an fd already connected
 * (which the client then owns), or to name in ixp_namespace(); NULL on error. */
IxpClient *ixp_mount(const char *address);
IxpClient *ixp_mountfd(int fd);
IxpClient *ixp_nsmount(const char *name);
/* Closes the connection and frees the client (close its fids first). */
void ixp_unmount(IxpClient *);

/* Walks to path and opens it with mode (P9_OREAD...), or creates it with perm. */
IxpCFid *ixp_open(IxpClient *, const char *path, uint8_t mode);
IxpCFid *ixp_create(IxpClient *, const char *path, uint perm, uint8_t mode);
/* Clunks and frees fid: 1, or 0 on error (the fid is freed either way). */
int ixp_close(IxpCFid *);
/* Removes path: 1, or 0 on error. */
int ixp_remove(IxpClient *, const char *path);

/* Reads up to count bytes, in iounit-sized requests, stopping at the first
 * short one: the count read, 0 at end of file, -1 on error. ixp_read uses and
 * advances fid->offset; ixp_pread does not touch it. */
long ixp_read(IxpCFid *, void *, long);
long ixp_pread(IxpCFid *, void *, long, int64_t);
/* Writes count bytes: the count written (less means failure), -1 on error. */
long ixp_write(IxpCFid *, const void *, long);
long ixp_pwrite(IxpCFid *, const void *, long, int64_t);
/* Formats as printf and writes the result: the count written, -1 on error. */
int ixp_print(IxpCFid *, const char *, ...) __attribute__((format(printf, 2, 3)));
int ixp_vprint(IxpCFid *, const char *, va_list);
/* The file's stat, malloc'd (free with ixp_freestat, then free); NULL on error. */
IxpStat *ixp_stat(IxpClient *, const char *path);
IxpStat *ixp_fstat(IxpCFid *);

/* ---- messages ---- */

/* Pack (MsgPack) or unpack (MsgUnpack) one field at msg->pos and advance it.
 * Unpacked strings and data are malloc'd. */
void ixp_pu8(IxpMsg *, uint8_t *);
void ixp_pu16(IxpMsg *, uint16_t *);
void ixp_pu32(IxpMsg *, uint32_t *);
void ixp_pu64(IxpMsg *, uint64_t *);
void ixp_pdata(IxpMsg *, char **, uint);
void ixp_pstring(IxpMsg *, char **);
void ixp_pstrings(IxpMsg *, uint16_t *, char **, uint max);
void ixp_pqid(IxpMsg *, IxpQid *);
void ixp_pqids(IxpMsg *, uint16_t *, IxpQid *, uint max);
void ixp_pstat(IxpMsg *, IxpStat *);
/* A whole message's type, tag and body (without the size field). */
void ixp_pfcall(IxpMsg *, IxpFcall *);

/* An IxpMsg over len bytes at data. */
IxpMsg ixp_message(char *data, uint len, uint mode);
/* The packed size of a stat record, its size field included. */
uint16_t ixp_sizeof_stat(IxpStat *);
/* Free what unpacking allocated in the members (not the struct itself). */
void ixp_freestat(IxpStat *);
void ixp_freefcall(IxpFcall *);
/* Whole messages, size field included: the size, or 0 on failure. */
uint ixp_msg2fcall(IxpMsg *, IxpFcall *);
uint ixp_fcall2msg(IxpMsg *, IxpFcall *);
/* Write msg->data..msg->end, or read one whole message into msg (at most
 * msg->size bytes): the byte count, or 0 on error. */
uint ixp_sendmsg(int, IxpMsg *);
uint ixp_recvmsg(int, IxpMsg *);

/* ---- errors ---- */

/* The calling thread's error text: the last ixp_werrstr, or errno's text when
 * a system call failed since. */
char *ixp_errbuf(void);
/* Swaps buf (of nbuf bytes) with the error text. */
void ixp_errstr(char *buf, int nbuf);
/* Copies the error text into buf. */
void ixp_rerrstr(char *buf, int nbuf);
/* Sets the error text. */
void ixp_werrstr(const char *, ...) __attribute__((format(printf, 1, 2)));

/* ---- servers ---- */

/* Answers req: with ofcall, or an Rerror carrying err when err is not NULL. */
void ixp_respond(Ixp9Req *, const char *err);
/* A read callback for ixp_listen: accepts a client on c->fd and serves the
 * Ixp9Srv in c->aux to it. */
void ixp_serve9conn(IxpConn *);
/* Serves the Ixp9Srv on a connected descriptor, which the server then owns. */
void ixp_serve9conn_fd(IxpServer *, int fd, Ixp9Srv *);

/* Watches fd in s: read and close are called as IxpConn says. NULL on error. */
IxpConn *ixp_listen(IxpServer *, int fd, void *aux, void (*read)(IxpConn *),
		    void (*close)(IxpConn *));
/* Closes c: calls its close callback (or shuts fd down), closes fd, frees c. */
void ixp_hangup(IxpConn *);
/* Runs timers and connections until s->running is cleared: 0, or 1 when
 * select fails. */
int ixp_serverloop(IxpServer *);
/* Hangs up every connection of s (and stops serving 9P on them). */
void ixp_server_close(IxpServer *);

/* Connects to, or listens on, a dial string: unix!path or tcp!host!port
 * (tcp!*!port listens everywhere). A descriptor, or -1 with ixp_errbuf set. */
int ixp_dial(const char *);
int ixp_announce(const char *);

/* Milliseconds since the Epoch. */
uint64_t ixp_msec(void);
/* Calls fn(id, aux) once, msec milliseconds from now, from ixp_serverloop:
 * the timer's id (never 0), or -1. */
long ixp_settimer(IxpServer *, long msec, void (*fn)(long, void *), void *aux);
/* Cancels a timer: 1 when it had not fired yet, else 0. */
int ixp_unsettimer(IxpServer *, long id);

/* ---- utilities ---- */

/* malloc and friends that exit the program when memory runs out. */
void *ixp_emalloc(uint);
void *ixp_emallocz(uint);
void *ixp_erealloc(void *, uint);
char *ixp_estrdup(const char *);
/* Prints "libixp: fatal: " and the message (with errno's text after a
 * trailing ':') to stderr and exits with status 1. */
void ixp_eprint(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The canonical namespace directory: $NAMESPACE, else /tmp/ns.$USER.$DISPLAY
 * (created, private to the user); NULL with ixp_errbuf set. Not freed. */
char *ixp_namespace(void);
/* A malloc'd printf; NULL on error. */
char *ixp_smprint(const char *, ...) __attribute__((format(printf, 1, 2)));
/* strlcat(3): the length the result wanted. */
uint ixp_strlcat(char *, const char *, uint);
/* Splits str in place at runs of delim into at most len fields: the count. */
uint ixp_tokenize(char **res, uint len, char *str, char delim);
/* Cleans a path as Plan 9's cleanname (removes //, ., and name/..). */
void ixp_cleanname(char *);

#ifdef __cplusplus
}
#endif
#endif
