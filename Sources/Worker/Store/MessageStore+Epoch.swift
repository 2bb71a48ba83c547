import LivefeedProtocol

/// The database's identity over time. `meta.epoch` names a database; a restored backup or a copied file keeps the
/// epoch of the original, so a worker also watches the id sequence: AUTOINCREMENT never hands out an id twice, so
/// the sequence only goes backwards when the file itself went back in time.
extension MessageStore {
    /// The highest id this database ever assigned: the AUTOINCREMENT sequence, or a larger id written explicitly.
    /// Unlike `max(id)` it does not fall when the newest messages are deleted.
    func newestAssignedID() throws -> Int64 {
        try selectNewestAssigned.bind([]).rows { $0.int(0) }.first ?? 0
    }

    /// `meta.epoch` as stored now.
    func storedEpoch() throws -> String? {
        try selectEpoch.bind([]).rows { $0.text(0) }.first
    }

    /// Gives the database a new epoch unless someone already did: the update only applies while the epoch is still
    /// `old`, so of several workers that notice at once exactly one writes. Returns the epoch now stored and
    /// whether this call wrote it.
    func renewEpoch(replacing old: String) throws -> (epoch: String, renewed: Bool) {
        try db.transaction {
            let fresh = Schema.randomHex(bytes: 8)
            try db.prepare("UPDATE meta SET value = ?1 WHERE key = 'epoch' AND value = ?2")
                .bind([.text(fresh), .text(old)]).run()
            let renewed = db.changes > 0
            return (renewed ? fresh : (try storedEpoch() ?? old), renewed)
        }
    }

    /// Whether `after` is beyond every id this database ever assigned: a cursor from another copy of the data
    /// (answered 409 `cursor_ahead` by the API, `status` `cursor_ahead` and close 4002 by live views).
    /// On a follower nothing is ahead: the primary assigned that id, and the replica will have it (the client is
    /// held until it does, never told to start over).
    func isAhead(_ after: Int64) throws -> Bool {
        guard !readOnly else { return false }
        return after > (try newestAssignedID())
    }

    // MARK: heartbeat (scale-out)

    /// A primary's heartbeat: `meta.heartbeat` set to now (Unix milliseconds) when it is 0.9 s old. Of several
    /// workers about one writes each second (the update applies only while the value is old). A follower's lag
    /// is now less the heartbeat its replica holds.
    func beatIfDue(nowUnixMilliseconds now: Int64) throws {
        try db.prepare(
            """
            INSERT INTO meta(key, value) VALUES ('heartbeat', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value
            WHERE CAST(meta.value AS INTEGER) <= CAST(excluded.value AS INTEGER) - 900
            """
        ).bind([.text(String(now))]).run()
    }

    /// The heartbeat this database holds, in Unix milliseconds; nil when there is none (a standalone primary).
    func heartbeat() throws -> Int64? {
        try db.prepare("SELECT value FROM meta WHERE key = 'heartbeat'").rows { Int64($0.text(0)) }.first ?? nil
    }

    /// When the newest message was stored (its `sent_at`, Unix milliseconds); nil without messages.
    func newestSentAt() throws -> Int64? {
        try db.prepare("SELECT sent_at FROM messages ORDER BY id DESC LIMIT 1").rows { Timestamp.parse($0.text(0)) }
            .first ?? nil
    }

    static let cursorAheadMessage = "after_id is beyond the newest message of this database: reload"
}
