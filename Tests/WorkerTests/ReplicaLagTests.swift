import LivefeedProtocol
import Testing

@testable import Worker

/// A follower's lag from its replica's stamps, which another program may have written: never a trap, never out of
/// a gauge's range.
@Suite struct ReplicaLagTests {
    @Test func theLaterStampCountsAndHostileStampsAreBounded() {
        let now: Int64 = 1_800_000_000_000
        #expect(Worker.replicaLag(now: now, heartbeat: now - 900, newestSentAt: now - 40) == 40)
        #expect(Worker.replicaLag(now: now, heartbeat: now - 900, newestSentAt: nil) == 900)
        #expect(Worker.replicaLag(now: now, heartbeat: now + 5000, newestSentAt: nil) == 0, "a stamp from the future")
        #expect(Worker.replicaLag(now: now, heartbeat: .min, newestSentAt: nil) == WorkerGauges.plausibleMaximum)
        #expect(Worker.replicaLag(now: now, heartbeat: .min, newestSentAt: .min) == WorkerGauges.plausibleMaximum)
        #expect(Worker.replicaLag(now: now, heartbeat: .max, newestSentAt: .min) == 0)
    }
}
