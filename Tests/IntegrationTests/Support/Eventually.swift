import Foundation
import Glibc

/// Thrown when a polled condition did not hold before its deadline.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` every `interval` until it returns true; throws `TimedOut` after `timeout`.
/// An error thrown by `condition` counts as "not yet" (e.g. a connection refused while a worker restarts) and is
/// reported if time runs out.
func eventually(
    timeout: Duration = .seconds(10), pollingEvery interval: Duration = .milliseconds(20),
    _ what: @autoclosure () -> String = "condition",
    _ condition: () throws -> Bool
) throws {
    _ = try eventuallyValue(timeout: timeout, pollingEvery: interval, what()) { try condition() ? true : nil }
}

/// Polls `produce` every `interval` until it returns a value; throws `TimedOut` after `timeout`.
func eventuallyValue<Value>(
    timeout: Duration = .seconds(10), pollingEvery interval: Duration = .milliseconds(20),
    _ what: @autoclosure () -> String = "value",
    _ produce: () throws -> Value?
) throws -> Value {
    let deadline = ContinuousClock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if let value = try produce() { return value }
            lastError = nil
        } catch {
            lastError = error
        }
        guard ContinuousClock.now < deadline else {
            throw TimedOut(
                description: "not within \(timeout): \(what())" + (lastError.map { "\nlast error: \($0)" } ?? ""))
        }
        let (seconds, attoseconds) = interval.components
        usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}
