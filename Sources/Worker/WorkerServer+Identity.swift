import LivefeedProtocol

/// Noticing that the database is no longer the one this worker served: another file under the same path (its
/// epoch differs), or the same file gone back in time (a restored backup keeps its epoch, but its id sequence is
/// lower than ids already served). Either way, every live client's cursor may name messages this database does
/// not have, so they are all told `epoch_changed` (4001) and reload.
///
/// This is the single-host rule. A follower of a replicated primary (scale-out) is legitimately behind and must
/// hold clients instead; that case does not pass through here.
extension WorkerServer {
    /// Runs when the database changed (data_version moved), before new rows are fanned out.
    func checkIdentity() throws {
        let stored = try store.storedEpoch() ?? store.epoch
        let newest = try store.newestAssignedID()
        if stored != store.epoch {
            adopt(epoch: stored)
        } else if newest < highWater {
            let previous = store.epoch
            let (epoch, renewed) = try store.renewEpoch(replacing: previous)
            if renewed {
                reporter.log(.warning, .databaseWentBackwards, [
                    "served_id": .int(highWater), "newest_id": .int(newest), "epoch": .string(epoch),
                    "previous_epoch": .string(previous),
                ])
            }
            adopt(epoch: epoch)
        }
        highWater = newest
    }

    /// Whether `after` is beyond every id this database ever assigned: a cursor from another copy of the data
    /// (answered 409 `cursor_ahead` by the API, `status` `cursor_ahead` and close 4002 by live views).
    func isAhead(_ after: Int64) throws -> Bool { after > (try store.newestAssignedID()) }

    static let cursorAheadMessage = "after_id is beyond the newest message of this database: reload"

    private func adopt(epoch: String) {
        store.epoch = epoch
        lastSeen = (try? store.maxMessageID()) ?? lastSeen
        for c in Array(connections.values) where c.target != nil && c.target != .echo {
            closeLive(c, code: .epochChanged, state: "epoch_changed",
                reason: "the database was replaced or restored; reload", retryAfterMilliseconds: nil)
        }
    }
}
