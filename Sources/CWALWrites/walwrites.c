// SQLite writes each WAL frame as two writes (the 24-byte frame header, then the page), all appended in order, and
// syncs once at the commit: a ten-page commit is twenty pwrite calls, each paying the file system's per-call cost
// (the inode lock, the time stamps). This VFS wraps the default one and, for WAL files only, keeps appended bytes in
// a buffer and writes them in one call before anything that could need them on disk or visible to another
// connection:
//   - on the WAL file: a sync, a read, a truncate, a size query, a file control, a close, a write elsewhere than the
//     buffer's end, a full buffer;
//   - on its database file: a shared-memory barrier or lock. SQLite publishes new frames to other connections (in
//     the wal-index, through the database's shared memory) only behind a barrier, so with any `synchronous` setting
//     nothing can read frames that are still in the buffer.
// Durability is SQLite's: the frames reach the file before the sync that makes the commit durable, in their order,
// and a failed write stays pending and fails that sync.
// A WAL whose database file is not found among this VFS's open files is written through, unbuffered.
#include "CWALWrites.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The default VFS takes at most 0x1ffff bytes per write (it masks the amount: 256 KiB came back as "database or disk
// is full"); 64 KiB holds a commit of 15 frames of 4 KiB.
enum { BUFFER_CAPACITY = 64 * 1024 };

typedef struct WALFile WALFile;
struct WALFile {
    sqlite3_file base;
    sqlite3_file *real;       // the default VFS's file, allocated right after this struct
    const char *name;         // as SQLite passed it to xOpen (a database file's name identifies its WAL's owner)
    int isWAL;
    // A WAL file's pending bytes: [start, start + length) of the file.
    unsigned char *buffer;
    sqlite3_int64 start;
    int length;
    int pendingWrites;
    int64_t writes, frameWrites; // what reached the file: write calls, and the writes SQLite asked for they carried
    int failFlushes;          // tests: this many flushes fail as a full disk would
    int buffering;            // 0: write through (no database file found for this WAL)
    WALFile *wal;             // a database file's open WAL, flushed at its shared-memory barriers and locks
    WALFile *database;        // a WAL's database file
    WALFile *nextDatabase;    // the list of open database files
};

static sqlite3_vfs vfs;
static sqlite3_vfs *realVFS;
static pthread_mutex_t listLock = PTHREAD_MUTEX_INITIALIZER;
static WALFile *databases;

// Writes the pending bytes. On an error they stay pending, so that the next flush (the commit's sync) writes them
// again or reports the error: SQLite then fails the commit before it publishes the frames.
static int flush(WALFile *f) {
    if (f->length == 0) return SQLITE_OK;
    int rc = f->failFlushes > 0 ? (f->failFlushes--, SQLITE_FULL)
                                : f->real->pMethods->xWrite(f->real, f->buffer, f->length, f->start);
    if (rc != SQLITE_OK) return rc;
    f->length = 0;
    f->writes += 1;
    f->frameWrites += f->pendingWrites;
    f->pendingWrites = 0;
    return SQLITE_OK;
}

#define REAL(file) (((WALFile *)(file))->real)
#define FLUSHED(file)                                         \
    do {                                                      \
        int rc_ = flush((WALFile *)(file));                   \
        if (rc_ != SQLITE_OK) return rc_;                     \
    } while (0)

static int walClose(sqlite3_file *file) {
    WALFile *f = (WALFile *)file;
    int rc = flush(f);
    pthread_mutex_lock(&listLock);
    if (f->isWAL) {
        if (f->database) f->database->wal = NULL;
    } else {
        for (WALFile **p = &databases; *p; p = &(*p)->nextDatabase) {
            if (*p == f) { *p = f->nextDatabase; break; }
        }
        if (f->wal) {
            // Its WAL outlives it (SQLite closes the WAL first; this is for any other order): written through.
            int flushed = flush(f->wal);
            if (rc == SQLITE_OK) rc = flushed;
            f->wal->database = NULL;
            f->wal->buffering = 0;
        }
    }
    pthread_mutex_unlock(&listLock);
    free(f->buffer);
    int closed = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    return rc != SQLITE_OK ? rc : closed;
}

static int walRead(sqlite3_file *file, void *out, int amount, sqlite3_int64 offset) {
    FLUSHED(file);
    return REAL(file)->pMethods->xRead(REAL(file), out, amount, offset);
}

static int walWrite(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset) {
    WALFile *f = (WALFile *)file;
    if (!f->buffering) {
        FLUSHED(f);
        return f->real->pMethods->xWrite(f->real, data, amount, offset);
    }
    if (f->length > 0 && (offset != f->start + f->length || f->length + amount > BUFFER_CAPACITY)) FLUSHED(f);
    if (amount > BUFFER_CAPACITY) return f->real->pMethods->xWrite(f->real, data, amount, offset);
    if (!f->buffer && !(f->buffer = malloc(BUFFER_CAPACITY))) return SQLITE_IOERR_NOMEM;
    if (f->length == 0) f->start = offset;
    memcpy(f->buffer + f->length, data, (size_t)amount);
    f->length += amount;
    f->pendingWrites += 1;
    return SQLITE_OK;
}

static int walTruncate(sqlite3_file *file, sqlite3_int64 size) {
    FLUSHED(file);
    return REAL(file)->pMethods->xTruncate(REAL(file), size);
}

static int walSync(sqlite3_file *file, int flags) {
    FLUSHED(file);
    return REAL(file)->pMethods->xSync(REAL(file), flags);
}

static int walFileSize(sqlite3_file *file, sqlite3_int64 *size) {
    FLUSHED(file);
    return REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int walLock(sqlite3_file *file, int level) { return REAL(file)->pMethods->xLock(REAL(file), level); }
static int walUnlock(sqlite3_file *file, int level) { return REAL(file)->pMethods->xUnlock(REAL(file), level); }
static int walCheckReservedLock(sqlite3_file *file, int *out) {
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int walFileControl(sqlite3_file *file, int op, void *arg) {
    FLUSHED(file);
    return REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int walSectorSize(sqlite3_file *file) { return REAL(file)->pMethods->xSectorSize(REAL(file)); }
static int walDeviceCharacteristics(sqlite3_file *file) {
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

// A database file's WAL, flushed before the wal-index can tell anyone of its frames.
static int flushWAL(sqlite3_file *file) {
    WALFile *wal = ((WALFile *)file)->wal;
    return wal ? flush(wal) : SQLITE_OK;
}

static int walShmMap(sqlite3_file *file, int page, int size, int extend, void volatile **out) {
    return REAL(file)->pMethods->xShmMap(REAL(file), page, size, extend, out);
}

static int walShmLock(sqlite3_file *file, int offset, int n, int flags) {
    int rc = flushWAL(file);
    if (rc != SQLITE_OK) return rc;
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void walShmBarrier(sqlite3_file *file) {
    // A commit that syncs has written everything at its sync, so this flush has nothing to do; one that does not
    // (synchronous below FULL; the worker's connections are FULL) publishes its frames right after this barrier,
    // which cannot fail. If their write failed here, stopping the process is the only way not to tell other
    // connections of frames that are not in the file: the commit is then simply not made.
    if (flushWAL(file) != SQLITE_OK) {
        fputs("livefeed-wal: a WAL write failed at a commit without a sync; stopping before it is published\n", stderr);
        abort();
    }
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int walShmUnmap(sqlite3_file *file, int deleteFlag) {
    return REAL(file)->pMethods->xShmUnmap(REAL(file), deleteFlag);
}

static int walFetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **out) {
    FLUSHED(file);
    return REAL(file)->pMethods->xFetch(REAL(file), offset, amount, out);
}

static int walUnfetch(sqlite3_file *file, sqlite3_int64 offset, void *page) {
    return REAL(file)->pMethods->xUnfetch(REAL(file), offset, page);
}

static const sqlite3_io_methods methods = {
    3, walClose, walRead, walWrite, walTruncate, walSync, walFileSize, walLock, walUnlock, walCheckReservedLock,
    walFileControl, walSectorSize, walDeviceCharacteristics, walShmMap, walShmLock, walShmBarrier, walShmUnmap,
    walFetch, walUnfetch,
};

static int vfsOpen(sqlite3_vfs *self, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags) {
    (void)self;
    WALFile *f = (WALFile *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = realVFS->xOpen(realVFS, name, f->real, flags, outFlags);
    if (rc != SQLITE_OK || !f->real->pMethods) {
        // SQLite calls xClose only when pMethods is set: leave it unset so that nothing of ours runs.
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    // Wrapping methods of another version would call what the real file does not have.
    if (f->real->pMethods->iVersion < 3) {
        f->real->pMethods->xClose(f->real);
        return SQLITE_CANTOPEN;
    }
    f->base.pMethods = &methods;
    f->name = name;
    pthread_mutex_lock(&listLock);
    if (flags & SQLITE_OPEN_MAIN_DB) {
        f->nextDatabase = databases;
        databases = f;
    } else if ((flags & SQLITE_OPEN_WAL) && name) {
        f->isWAL = 1;
        const char *owner = sqlite3_filename_database(name);
        for (WALFile *d = databases; d; d = d->nextDatabase) {
            if (d->name == owner && !d->wal) {
                d->wal = f;
                f->database = d;
                f->buffering = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&listLock);
    return SQLITE_OK;
}

static int vfsDelete(sqlite3_vfs *self, const char *name, int syncDir) {
    (void)self;
    return realVFS->xDelete(realVFS, name, syncDir);
}
static int vfsAccess(sqlite3_vfs *self, const char *name, int flags, int *out) {
    (void)self;
    return realVFS->xAccess(realVFS, name, flags, out);
}
static int vfsFullPathname(sqlite3_vfs *self, const char *name, int n, char *out) {
    (void)self;
    return realVFS->xFullPathname(realVFS, name, n, out);
}
static void *vfsDlOpen(sqlite3_vfs *self, const char *name) { (void)self; return realVFS->xDlOpen(realVFS, name); }
static void vfsDlError(sqlite3_vfs *self, int n, char *out) { (void)self; realVFS->xDlError(realVFS, n, out); }
static void (*vfsDlSym(sqlite3_vfs *self, void *handle, const char *symbol))(void) {
    (void)self;
    return realVFS->xDlSym(realVFS, handle, symbol);
}
static void vfsDlClose(sqlite3_vfs *self, void *handle) { (void)self; realVFS->xDlClose(realVFS, handle); }
static int vfsRandomness(sqlite3_vfs *self, int n, char *out) {
    (void)self;
    return realVFS->xRandomness(realVFS, n, out);
}
static int vfsSleep(sqlite3_vfs *self, int microseconds) { (void)self; return realVFS->xSleep(realVFS, microseconds); }
static int vfsCurrentTime(sqlite3_vfs *self, double *out) { (void)self; return realVFS->xCurrentTime(realVFS, out); }
static int vfsGetLastError(sqlite3_vfs *self, int n, char *out) {
    (void)self;
    return realVFS->xGetLastError(realVFS, n, out);
}
static int vfsCurrentTimeInt64(sqlite3_vfs *self, sqlite3_int64 *out) {
    (void)self;
    return realVFS->xCurrentTimeInt64(realVFS, out);
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int registered = SQLITE_ERROR;

static void registerOnce(void) {
    if (sqlite3_initialize() != SQLITE_OK) return;
    realVFS = sqlite3_vfs_find(NULL);
    if (!realVFS || realVFS->iVersion < 2 || !realVFS->xCurrentTimeInt64) return;
    vfs.iVersion = 2;
    vfs.szOsFile = (int)sizeof(WALFile) + realVFS->szOsFile;
    vfs.mxPathname = realVFS->mxPathname;
    vfs.zName = LIVEFEED_WAL_VFS_NAME;
    vfs.xOpen = vfsOpen;
    vfs.xDelete = vfsDelete;
    vfs.xAccess = vfsAccess;
    vfs.xFullPathname = vfsFullPathname;
    vfs.xDlOpen = vfsDlOpen;
    vfs.xDlError = vfsDlError;
    vfs.xDlSym = vfsDlSym;
    vfs.xDlClose = vfsDlClose;
    vfs.xRandomness = vfsRandomness;
    vfs.xSleep = vfsSleep;
    vfs.xCurrentTime = vfsCurrentTime;
    vfs.xGetLastError = vfsGetLastError;
    vfs.xCurrentTimeInt64 = vfsCurrentTimeInt64;
    registered = sqlite3_vfs_register(&vfs, 0);
}

int livefeed_wal_vfs_register(void) {
    pthread_once(&once, registerOnce);
    return registered;
}

// A connection's open WAL file, when it is this VFS's.
static WALFile *walOf(sqlite3 *db) {
    sqlite3_file *file = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &file) != SQLITE_OK || !file) return NULL;
    if (file->pMethods != &methods || !((WALFile *)file)->isWAL) return NULL;
    return (WALFile *)file;
}

int livefeed_wal_vfs_counts(sqlite3 *db, int64_t *writes, int64_t *frameWrites) {
    WALFile *f = walOf(db);
    if (!f) return 0;
    *writes = f->writes;
    *frameWrites = f->frameWrites;
    return 1;
}

int livefeed_wal_vfs_fail_flushes(sqlite3 *db, int count) {
    WALFile *f = walOf(db);
    if (!f) return 0;
    f->failFlushes = count;
    return 1;
}
