import CLinux
import Glibc

/// A signalfd for a set of signals, which are blocked for the process so they arrive only here.
/// Owns its descriptor. No logic runs in signal handlers: the event loop reads signals like any input.
package struct SignalFD: ~Copyable {
    package let fd: FileDescriptor

    package init(signals: [Int32]) throws(SystemError) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        _ = try checked("sigprocmask") { sigprocmask(SIG_BLOCK, &mask, nil) }
        fd = FileDescriptor(owning: try checked("signalfd") { lf_signalfd(&mask) })
    }

    deinit { fd.close() }

    /// One signal as it arrived: its number, and the value it carried when it was sent with sigqueue(3)
    /// (`si_code` SI_QUEUE) by the user `senderUID`.
    package struct Received: Equatable {
        package var signal: Int32
        package var queuedValue: Int32?
        package var senderUID: UInt32
    }

    /// Reads every pending signal number; empty when none is waiting.
    package func drain() throws(SystemError) -> [Int32] { try drainReceived().map(\.signal) }

    /// Reads every pending signal with what it carried; empty when none is waiting.
    package func drainReceived() throws(SystemError) -> [Received] {
        var result: [Received] = []
        var info = signalfd_siginfo()
        let size = MemoryLayout<signalfd_siginfo>.size
        while true {
            let outcome = try withUnsafeMutableBytes(of: &info) { buffer throws(SystemError) in
                try fd.read(into: buffer)
            }
            guard case .done(let n) = outcome, n == size else { return result }
            result.append(Received(
                signal: Int32(info.ssi_signo), queuedValue: info.ssi_code == SI_QUEUE ? info.ssi_int : nil,
                senderUID: info.ssi_uid))
        }
    }
}

/// Process-wide signal dispositions that must hold before anything else runs.
package enum SignalSetup {
    /// A write to a closed socket must be an EPIPE, not a death.
    package static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    /// Blocks signals for the calling thread before any other thread exists, so every thread inherits the
    /// mask and the signals reach only a signalfd.
    package static func block(_ signals: [Int32]) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        sigprocmask(SIG_BLOCK, &mask, nil)
    }
}
