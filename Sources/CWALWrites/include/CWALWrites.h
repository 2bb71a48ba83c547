// A SQLite VFS that coalesces each transaction's WAL frame writes into one write system call.
#ifndef LIVEFEED_CWALWRITES_H
#define LIVEFEED_CWALWRITES_H

#include <sqlite3.h>
#include <stdint.h>

/// The VFS's name, for sqlite3_open_v2's zVfs.
#define LIVEFEED_WAL_VFS_NAME "livefeed-wal"

/// Registers the VFS (not as the default) over the default VFS; safe to call more than once. SQLITE_OK or an error.
int livefeed_wal_vfs_register(void);

/// The write calls a connection's open WAL file has made through the VFS, and the writes SQLite asked for that they
/// carried (a commit of N pages: one call carrying 2N). 0 when its WAL is not open or not this VFS's.
int livefeed_wal_vfs_counts(sqlite3 *db, int64_t *writes, int64_t *frameWrites);

/// Tests: the next `count` writes of a connection's pending WAL bytes fail as on a full disk. 0 as above.
int livefeed_wal_vfs_fail_flushes(sqlite3 *db, int count);

#endif
