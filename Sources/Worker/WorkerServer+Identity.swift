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

    private func adopt(epoch: String) {
        store.epoch = epoch
        lastSeen = (try? store.maxMessageID()) ?? lastSeen
        for c in Array(connections.values) where c.target != nil && c.target != .echo {
            closeLive(c, code: .epochChanged, state: "epoch_changed",
                reason: "the database was replaced or restored; reload", retryAfterMilliseconds: nil)
        }
    }
}
