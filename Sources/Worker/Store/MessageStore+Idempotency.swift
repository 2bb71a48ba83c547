import LivefeedProtocol

/// What storing a keyed request came to.
struct IngestResult: Equatable {
    /// The ids of the request's messages: new ones, or those stored the first time the key was seen.
    var ids: [Int64]
    /// True when the request's key was seen before (within its window) and nothing was written.
    var replayed: Bool
    /// Import lines whose own key was seen before: skipped, their earlier ids in `ids`.
    var skipped: Int
}

/// Exactly-once ingest: an idempotency key is stored with its messages in the same transaction, so a writer that
/// lost the answer (a reset, a killed worker) can retry and learn the ids instead of writing twice. A key costs one
/// primary-key lookup; keys older than `IdempotencyKey.windowMilliseconds` are ignored and pruned a few at a time.
extension MessageStore {
    /// Stores `batch` in one write transaction. With `requestKey`, a key seen before answers its first ids (or
    /// throws `keyReused` when it was for other messages). Messages with their own `key` (import lines) are each
    /// checked the same way and skipped when already stored.
    func ingest(_ batch: [NewMessage], requestKey: String?, now: Int64) throws -> IngestResult {
        let keyed = requestKey != nil || batch.contains { $0.key != nil }
        guard keyed else { return IngestResult(ids: try insert(batch), replayed: false, skipped: 0) }
        do {
            return try ingestKeyed(batch, requestKey: requestKey, now: now)
        } catch {
            // What the transaction pruned may be rolled back with it: look again next time.
            keysExpireNoSoonerThan = .min
            throw error
        }
    }

    /// Commits the connection's group (`SQLiteDatabase.endGroup`); a group lost at its commit takes what it pruned
    /// with it, so the next ingest looks again.
    func endGroup() throws {
        do {
            try db.endGroup()
        } catch {
            keysExpireNoSoonerThan = .min
            throw error
        }
    }

    /// Keys deleted per prune: a bounded step inside a writer's transaction, however many have expired.
    static let keysPrunedPerStep: Int64 = 64

    private func ingestKeyed(_ batch: [NewMessage], requestKey: String?, now: Int64) throws -> IngestResult {
        try db.transaction {
            let cutoff = now.saturatingAdd(-IdempotencyKey.windowMilliseconds)
            if now >= keysExpireNoSoonerThan { try pruneExpiredKeys(before: cutoff, now: now) }
            if let requestKey {
                let fingerprint = IdempotencyKey.fingerprint(batch)
                if let earlier = try remembered(requestKey, since: cutoff) {
                    guard earlier.fingerprint == fingerprint else { throw IngestError.keyReused(requestKey) }
                    return IngestResult(ids: earlier.ids, replayed: true, skipped: 0)
                }
                let ids = try insertRows(batch)
                try remember(requestKey, fingerprint: fingerprint, ids: ids, now: now)
                return IngestResult(ids: ids, replayed: false, skipped: 0)
            }
            var result = IngestResult(ids: [], replayed: false, skipped: 0)
            for m in batch {
                guard let key = m.key else {
                    result.ids += try insertRows([m])
                    continue
                }
                let fingerprint = IdempotencyKey.fingerprint([m])
                if let earlier = try remembered(key, since: cutoff) {
                    guard earlier.fingerprint == fingerprint else { throw IngestError.keyReused(key) }
                    result.ids += earlier.ids
                    result.skipped += 1
                    continue
                }
                let ids = try insertRows([m])
                try remember(key, fingerprint: fingerprint, ids: ids, now: now)
                result.ids += ids
            }
            return result
        }
    }

    /// Deletes up to `keysPrunedPerStep` keys created before `cutoff`, then notes when the oldest key left expires,
    /// so that the ingests until then skip this (the delete builds a temporary b-tree for its `IN` list: 5 % of an
    /// ingesting worker's CPU when it ran on every request). Keys written meanwhile by others expire no sooner than
    /// ours (they carry their writer's clock); one dated earlier by a clock set back is pruned at the next look, and
    /// is never answered meanwhile: lookups ignore keys older than the window.
    private func pruneExpiredKeys(before cutoff: Int64, now: Int64) throws {
        try db.cached(
            """
            DELETE FROM ingest_keys WHERE key IN
                (SELECT key FROM ingest_keys WHERE created_ms < ?1 ORDER BY created_ms LIMIT ?2)
            """
        ).bind([.int(cutoff), .int(Self.keysPrunedPerStep)]).run()
        if db.changes >= Self.keysPrunedPerStep {
            keysExpireNoSoonerThan = now  // more may have expired: the next ingest goes on
            return
        }
        let oldest = try db.cached("SELECT min(created_ms) FROM ingest_keys").bind([]).rows {
            $0.isNull(0) ? nil : $0.int(0)
        }.first ?? nil
        // No key at all, or the oldest dated after now (another program's row, a clock set back since): none of
        // ours expires before a key written from now on could, so the next look is at most a window away.
        keysExpireNoSoonerThan = min(oldest ?? now, now).saturatingAdd(IdempotencyKey.windowMilliseconds)
    }

    private func remembered(_ key: String, since cutoff: Int64) throws -> (fingerprint: String, ids: [Int64])? {
        try db.cached("SELECT fingerprint, ids FROM ingest_keys WHERE key = ?1 AND created_ms >= ?2")
            .bind([.text(key), .int(cutoff)])
            .rows { ($0.text(0), $0.text(1).split(separator: ",").compactMap { Int64($0) }) }
            .first
    }

    private func remember(_ key: String, fingerprint: String, ids: [Int64], now: Int64) throws {
        // REPLACE: an expired row of the same key may not be pruned yet.
        try db.cached("INSERT OR REPLACE INTO ingest_keys(key, fingerprint, ids, created_ms) VALUES (?1, ?2, ?3, ?4)")
            .bind([.text(key), .text(fingerprint), .text(ids.map(String.init).joined(separator: ",")), .int(now)])
            .run()
    }
}
