import Glibc
import LivefeedProtocol

/// Sample channels, users and history for a new user's first run, and a writer that keeps adding messages
/// so the pages are visibly live. The writer is a separate process, like any other program writing the file.
enum DemoData {
    static let channels = ["general", "random", "engineering", "design", "support", "announcements"]
    static let users = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "radia", "alan", "frances"]
    static let phrases = [
        "shipping the new build now", "anyone seen the latency graph?", "lunch?", "the deploy went green",
        "reviewing the WebSocket patch", "coffee machine is fixed", "who owns the on-call this week?",
        "benchmarks look better after the writev change", "I'll write the release notes",
        "can we move standup to 10:15?", "the cursor resumed exactly where it left off", "nice work, everyone",
        "filed an issue for the flaky test", "pairing on the supervisor after lunch", "docs updated",
    ]

    static func randomMessage(_ rng: inout some RandomNumberGenerator) -> NewMessage {
        NewMessage(
            channel: .name(channels.randomElement(using: &rng)!), user: .name(users.randomElement(using: &rng)!),
            text: phrases.randomElement(using: &rng)!, sentAt: nil)
    }

    /// Seeds history once: only into an empty database.
    static func seed(_ store: MessageStore, history: Int = 200) throws {
        guard try store.totals().messages == 0 else { return }
        var rng = SystemRandomNumberGenerator()
        let start = Timestamp.nowUnixMilliseconds() - Int64(history) * 45_000
        let batch = (0..<history).map { i in
            var m = randomMessage(&rng)
            m.sentAt = Timestamp.format(unixMilliseconds: start + Int64(i) * 45_000)
            return m
        }
        _ = try store.insert(batch)
    }

    /// Inserts one message every `intervalMilliseconds` until the control descriptor reads end of file.
    static func runWriter(store: MessageStore, control: FileDescriptor, intervalMilliseconds: Int32) throws {
        var rng = SystemRandomNumberGenerator()
        var pfd = pollfd(fd: control.rawValue, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = Glibc.poll(&pfd, 1, intervalMilliseconds)
            if rc > 0 { return }  // the supervisor closed its end (or is gone): stop writing
            do {
                _ = try store.insert([randomMessage(&rng)])
            } catch let e as SQLiteError where e.isBusy {
                continue
            }
        }
    }
}
