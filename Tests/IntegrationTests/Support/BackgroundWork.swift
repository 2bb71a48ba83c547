import Foundation

/// Work running on its own thread while a test drives clients on the test's thread, e.g. a writer ingesting
/// messages while a client reconnects.
///
/// The body gets a `shouldStop` check and must return soon after it turns true; `stop()` asks for that and
/// `join` waits, bounded, for the result. Pair them with `defer { work.stopAndWait() }` so no thread outlives its
/// test even when the test fails early.
final class BackgroundWork<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Value, any Error>?
    private var stopRequested = false

    init(_ name: String, _ body: @escaping @Sendable (_ shouldStop: @Sendable () -> Bool) throws -> Value) {
        let thread = Thread { [self] in
            let outcome = Result { try body { self.isStopRequested } }
            condition.lock()
            result = outcome
            condition.broadcast()
            condition.unlock()
        }
        thread.name = name
        thread.start()
    }

    private var isStopRequested: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopRequested
    }

    func stop() {
        condition.lock()
        stopRequested = true
        condition.unlock()
    }

    /// True once the body has returned or thrown.
    var isFinished: Bool {
        condition.lock()
        defer { condition.unlock() }
        return result != nil
    }

    /// Waits for the body and returns its value or rethrows its error; throws `TimedOut` after `timeout`.
    func join(timeout: Duration = .seconds(30)) throws -> Value {
        let deadline = Date().addingTimeInterval(
            Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while result == nil {
            if !condition.wait(until: deadline) && result == nil {
                throw TimedOut(description: "background work did not finish within \(timeout)")
            }
        }
        return try result!.get()
    }

    /// Asks the body to stop and waits for it (bounded), ignoring its result.
    func stopAndWait(timeout: Duration = .seconds(30)) {
        stop()
        _ = try? join(timeout: timeout)
    }
}

/// A value shared between a test's thread and its background work, guarded by a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withValue<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withValue { $0 } }
}
