import Foundation
import LivefeedProtocol
import Testing

@testable import Worker

/// Expired idempotency keys are pruned a bounded step at a time inside the ingest's transaction, and only looked
/// for when the oldest key the store knows of may have expired (`MessageStore.pruneExpiredKeys`).
@Suite struct KeyPruneTests {
    static let window = IdempotencyKey.windowMilliseconds
    static let t0: Int64 = 1_800_000_000_000

    /// A fresh livefeed database with one channel and one user; `other` is a second connection, as another program.
    private static func withStore(_ body: (MessageStore, SQLiteDatabase) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "livefeed-keys-\(UUID().uuidString).db"
        defer { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } }
        let setup = try SQLiteDatabase(path: path)
        try Schema.prepare(setup)
        try setup.execute("INSERT INTO channels(name) VALUES ('general'); INSERT INTO users(name) VALUES ('ada')")
        try body(try MessageStore(path: path), try SQLiteDatabase(path: path))
    }

    private static func post(_ store: MessageStore, _ key: String, _ text: String = "hello", at now: Int64) throws
        -> IngestResult
    {
        try store.ingest([NewMessage(channel: .id(1), user: .id(1), text: text, sentAt: nil)], requestKey: key, now: now)
    }

    /// Keys written by another program, dated `createdMs`.
    private static func addKeys(_ other: SQLiteDatabase, _ names: [String], createdMs: Int64) throws {
        try other.transaction {
            for name in names {
                try other.prepare("INSERT INTO ingest_keys(key, fingerprint, ids, created_ms) VALUES (?1, 'f', '1', ?2)")
                    .bind([.text(name), .int(createdMs)]).run()
            }
        }
    }

    private static func keys(_ other: SQLiteDatabase) throws -> Set<String> {
        Set(try other.prepare("SELECT key FROM ingest_keys").rows { $0.text(0) })
    }

    @Test func expiredKeysGoABoundedStepPerIngestUntilNoneIsLeft() throws {
        try Self.withStore { store, other in
            try Self.addKeys(other, (0..<100).map { "old-\($0)" }, createdMs: Self.t0 - Self.window - 1)
            try Self.addKeys(other, ["young"], createdMs: Self.t0 - Self.window + 1)
            _ = try Self.post(store, "a", at: Self.t0)
            #expect(try Self.keys(other).count == 101 - Int(MessageStore.keysPrunedPerStep) + 1)
            _ = try Self.post(store, "b", at: Self.t0)
            #expect(try Self.keys(other) == ["young", "a", "b"])
            // An expired key is ignored, not answered: its reuse stores the message anew.
            try Self.addKeys(other, ["stale"], createdMs: Self.t0 - Self.window - 5)
            let again = try Self.post(store, "stale", at: Self.t0)
            #expect(!again.replayed)
        }
    }

    @Test func theIngestLooksOnlyWhenTheOldestKnownKeyMayHaveExpired() throws {
        try Self.withStore { store, other in
            _ = try Self.post(store, "first", at: Self.t0)  // looks: nothing expired; "first" expires at t0 + window
            // A key dated long before, by a writer whose clock was set back: left until the next look.
            try Self.addKeys(other, ["backdated"], createdMs: Self.t0 - 3 * Self.window)
            _ = try Self.post(store, "second", at: Self.t0 + 1)
            #expect(try Self.keys(other) == ["first", "second", "backdated"], "no look before t0 + window")
            _ = try Self.post(store, "third", at: Self.t0 + Self.window)
            // The look at t0 + window prunes the backdated key; "first" is answered until the window has passed it.
            #expect(try Self.keys(other) == ["first", "second", "third"])
        }
    }

    @Test func aKeyDatedInTheFutureDoesNotPutTheNextLookOffBeyondAWindow() throws {
        try Self.withStore { store, other in
            try Self.addKeys(other, ["future"], createdMs: Self.t0 + 10 * Self.window)
            _ = try Self.post(store, "first", at: Self.t0)  // looks: the oldest key is dated ten windows ahead
            _ = try Self.post(store, "second", at: Self.t0 + Self.window + 1)
            #expect(try Self.keys(other) == ["future", "second"], "first expired and was pruned at this look")
        }
    }

    @Test func aPruneUndoneWithItsFailedIngestIsLookedForAgain() throws {
        try Self.withStore { store, other in
            _ = try Self.post(store, "k", "first text", at: Self.t0)
            try Self.addKeys(other, ["old-1", "old-2"], createdMs: Self.t0 - Self.window - 1)
            store.keysExpireNoSoonerThan = .min  // as if they had been there at the first look
            #expect(throws: IngestError.self) { try Self.post(store, "k", "other text", at: Self.t0 + 1) }
            #expect(try Self.keys(other) == ["k", "old-1", "old-2"], "the failed ingest's prune is rolled back")
            _ = try Self.post(store, "next", at: Self.t0 + 2)
            #expect(try Self.keys(other) == ["k", "next"])
        }
    }
}
