import Glibc
import LivefeedProtocol

/// Sends records to the supervisor over the control socket without ever blocking the worker: when the socket
/// is full, records wait in a bounded queue, and what does not fit is counted as dropped.
final class Reporter {
    let socket: FileDescriptor
    private var pending: [[UInt8]] = []
    private var pendingHead = 0
    private let maxPending: Int
    private(set) var droppedRecords = 0
    /// Set when the supervisor's end is gone; the worker then exits.
    private(set) var peerGone = false

    init(socket: FileDescriptor, maxPending: Int = 4096) {
        self.socket = socket
        self.maxPending = maxPending
    }

    var hasPending: Bool { pendingHead < pending.count }

    func send(_ record: Record) {
        let bytes = RecordCodec.encode(record)
        if hasPending {
            enqueue(bytes)
            return
        }
        if !trySend(bytes) { enqueue(bytes) }
    }

    func log(_ level: LogLevel, _ event: String, _ fields: [String: RecordValue] = [:]) {
        send(.log(level: level, event: event, fields: fields))
    }

    /// Called when the socket is writable again.
    func flush() {
        while pendingHead < pending.count {
            if !trySend(pending[pendingHead]) { return }
            pendingHead += 1
        }
        pending.removeAll()
        pendingHead = 0
    }

    private func enqueue(_ bytes: [UInt8]) {
        if pending.count - pendingHead >= maxPending {
            droppedRecords += 1
            return
        }
        pending.append(bytes)
    }

    private func trySend(_ bytes: [UInt8]) -> Bool {
        do {
            switch try FDPassing.send(on: socket, bytes, descriptor: nil) {
            case .done: return true
            case .wouldBlock: return false
            }
        } catch {
            peerGone = true
            return true  // nothing more can be delivered; do not queue
        }
    }
}
