import Glibc
import LivefeedProtocol

/// A worker's standard error: workers report through their control socket, so anything on stderr is a failure
/// the worker could not put in a record (the dynamic loader's "error while loading shared libraries", a Swift
/// runtime trap, a usage error). Each line is logged at error level as `worker_stderr`, at most
/// `maxStderrLinesPerWindow` per worker every 10 s (the rest are counted), and the last line goes into
/// `worker_exited`. The pipe is read as it fills, so a chatty worker never blocks on it.
extension Supervisor {
    static let maxStderrLineBytes = 1024
    static let maxStderrLinesPerWindow = 20

    func watchStderr(of slot: WorkerSlot, _ reader: FileDescriptor) {
        do {
            try reader.setNonBlocking()
            try epoll.add(reader, events: [.readable], token: EpollToken.workerStderr(slot.serial).rawValue)
        } catch {
            reader.close()
            return
        }
        slot.stderr = reader
        slot.stderrPartial = []
        slot.stderrLastLine = ""
        slot.stderrLinesInWindow = 0
    }

    /// Reads what waits (at most 64 KiB per wakeup) and logs complete lines.
    func readStderr(of slot: WorkerSlot) {
        guard let reader = slot.stderr else { return }
        for _ in 0..<16 {
            let outcome: IOResult<Int>
            do {
                outcome = try stderrBuffer.withUnsafeMutableBytes { raw throws(SystemError) in try reader.read(into: raw) }
            } catch {
                return
            }
            guard case .done(let n) = outcome else { return }
            if n == 0 {
                epoll.remove(reader)
                return
            }
            for byte in stderrBuffer[0..<n] {
                if byte == 0x0A {
                    stderrLine(slot)
                } else if slot.stderrPartial.count < Self.maxStderrLineBytes {
                    slot.stderrPartial.append(byte)
                }
            }
        }
    }

    /// Reads what is left and closes the pipe; returns the worker's last line.
    func closeStderr(of slot: WorkerSlot) -> String {
        guard let reader = slot.stderr else { return "" }
        readStderr(of: slot)
        if !slot.stderrPartial.isEmpty { stderrLine(slot) }
        epoll.remove(reader)
        reader.close()
        slot.stderr = nil
        return slot.stderrLastLine
    }

    private func stderrLine(_ slot: WorkerSlot) {
        let line = String(decoding: slot.stderrPartial, as: UTF8.self)
        slot.stderrPartial.removeAll(keepingCapacity: true)
        guard !line.isEmpty else { return }
        slot.stderrLastLine = line
        let now = clock.nowMilliseconds
        if now - slot.stderrWindowStart >= 10_000 {
            if slot.stderrLinesInWindow > Self.maxStderrLinesPerWindow {
                var fields = workerFields(slot)
                fields["lines_not_logged"] = .int(Int64(slot.stderrLinesInWindow - Self.maxStderrLinesPerWindow))
                journal.emit(.error, .workerStderr, fields)
            }
            slot.stderrWindowStart = now
            slot.stderrLinesInWindow = 0
        }
        slot.stderrLinesInWindow += 1
        guard slot.stderrLinesInWindow <= Self.maxStderrLinesPerWindow else { return }
        var fields = workerFields(slot)
        fields["stderr"] = .string(line)
        journal.emit(.error, .workerStderr, fields)
    }
}
