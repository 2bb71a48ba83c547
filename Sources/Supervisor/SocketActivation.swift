import CSystemd
import Glibc
import LivefeedProtocol

/// What a listening socket serves.
enum ListenerRole: String {
    /// Pages, API and live streams, and the supervisor's endpoints unless a metrics socket takes them.
    case http
    /// Only the supervisor's endpoints: /metrics, /healthz and /status.
    case metrics
}

/// A listening socket the supervisor accepts on, and what it serves there.
struct ListeningSocket {
    let listener: Listener
    let role: ListenerRole
    let address: SocketAddress?
    /// Set on the listener once, so every accepted socket inherits it (Linux copies a listener's socket options
    /// to the sockets it accepts): TCP_NODELAY for the worker's whole frames, SO_PEEK_OFF for the door's peeks.
    /// Two setsockopt(2) calls per connection saved.
    private(set) var noDelay = false
    private(set) var peeksFromOffset = false

    /// Sets the options accepted sockets should start with; what the kernel refuses stays off.
    ///
    /// `deferAcceptSeconds` > 0 sets TCP_DEFER_ACCEPT (tcp(7)): the kernel hands a connection to accept(2) only
    /// once its first bytes have arrived, or, for a client that stays silent, when the period ends (Linux then
    /// resends its SYN-ACK and accepts on the client's answer). Without it most connections are accepted before
    /// their head is there (measured: 79 % of 10,000 handshakes), and each costs an epoll_ctl pair, a wakeup and
    /// an empty peek. 0 clears an option a socket unit's `DeferAcceptSec=` may have set.
    mutating func setAcceptedDefaults(peekFromOffset: Bool, deferAcceptSeconds: Int = 0) {
        let fd = listener.fd
        noDelay = (try? fd.setOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1)) != nil
        // Peeks then return only what arrived since the last one (Linux 6.9 and later for TCP).
        peeksFromOffset = peekFromOffset && (try? fd.setOption(level: SOL_SOCKET, name: SO_PEEK_OFF, value: 0)) != nil
        let seconds = Int32(clamping: deferAcceptSeconds)
        // Refused only on exotic kernels; connections are then accepted at once, which is also correct.
        try? fd.setOption(level: Int32(IPPROTO_TCP), name: TCP_DEFER_ACCEPT, value: seconds)
    }
}

/// Listening sockets passed by the service manager (sd_listen_fds(3)): `LISTEN_FDS` descriptors from 3 up,
/// named by `LISTEN_FDNAMES` (`FileDescriptorName=` in the socket unit). A socket named `http` serves
/// everything, one named `metrics` only the supervisor's endpoints; when no socket carries either name (a socket
/// unit without `FileDescriptorName=`), every socket is `http`. Each must be a listening TCP socket.
enum SocketActivation {
    static let maxSockets = 8

    enum Failure: Error, Equatable, CustomStringConvertible {
        case unreadable(errno: Int32)
        case tooMany(Int)
        case unknownName(fd: Int32, name: String)
        case noHTTPSocket(names: [String])
        case notAListeningTCPSocket(fd: Int32, name: String)
        case setupFailed(fd: Int32, String)

        var description: String {
            switch self {
            case .unreadable(let errno):
                "LISTEN_FDS/LISTEN_FDNAMES could not be read: \(String(cString: strerror(errno)))"
            case .tooMany(let n): "systemd passed \(n) sockets; livefeed takes at most \(maxSockets)"
            case .unknownName(let fd, let name):
                "socket \(fd) is named '\(name)'; livefeed takes sockets named http and metrics "
                    + "(FileDescriptorName= in the socket unit)"
            case .noHTTPSocket(let names):
                "systemd passed only sockets named \(names.joined(separator: ", ")); one must be named http"
            case .notAListeningTCPSocket(let fd, let name):
                "socket \(fd) ('\(name)') is not a listening TCP socket (ListenStream= with Accept=no)"
            case .setupFailed(let fd, let why): "socket \(fd): \(why)"
            }
        }
    }

    /// The role of each passed socket, from its name.
    static func roles(for names: [String]) throws(Failure) -> [ListenerRole] {
        guard names.count <= maxSockets else { throw .tooMany(names.count) }
        // None at all: every descriptor passed was a carried connection or state (a restart while the socket unit
        // is stopped). That once passed as "no names, so all serve everything" and trapped at the supervisor's
        // precondition; it is the same failure as no http socket.
        guard !names.isEmpty else { throw .noHTTPSocket(names: names) }
        let known = names.map { ListenerRole(rawValue: $0) }
        if known.allSatisfy({ $0 == nil }) { return names.map { _ in .http } }
        var roles: [ListenerRole] = []
        for (i, role) in known.enumerated() {
            guard let role else { throw .unknownName(fd: SD_LISTEN_FDS_START + Int32(i), name: names[i]) }
            roles.append(role)
        }
        guard roles.contains(.http) else { throw .noHTTPSocket(names: names) }
        return roles
    }

    /// What a previous supervisor process passed on beside its listeners (`livefeed upgrade`): live connections
    /// with their states (names `live`, states in `livefeed-state`), and connections whose request head is to be
    /// read again (`pending-http`, `pending-metrics`).
    struct Carried {
        var live: [(fd: FileDescriptor, state: LiveHandover)] = []
        var pending: [(fd: FileDescriptor, role: ListenerRole)] = []
        var isEmpty: Bool { live.isEmpty && pending.isEmpty }
    }

    static let carriedNames: Set<String> = ["live", "livefeed-state", "pending-http", "pending-metrics"]

    /// Splits off what an upgrade or a restart passed on: the descriptors named in `carriedNames`, adopted here
    /// (close-on-exec); the states are read from `livefeed-state` and matched to the `live` descriptors by socket
    /// identity (systemd's store gives them back in an order of its own, and drops one whose client hung up). A
    /// live descriptor without a state, or every one when the state file does not decode, is closed rather than
    /// guessed at; the client resumes by cursor.
    static func takeCarried(
        names: [String], descriptor: (Int) -> Int32 = { SD_LISTEN_FDS_START + Int32($0) }
    ) -> Carried {
        var carried = Carried()
        var liveFDs: [FileDescriptor] = []
        var states: [(identity: UInt64, state: LiveHandover)]?
        for (i, name) in names.enumerated() where carriedNames.contains(name) {
            let fd = FileDescriptor(owning: descriptor(i))
            try? fd.setCloseOnExec()
            switch name {
            case "live": liveFDs.append(fd)
            case "pending-http": carried.pending.append((fd, .http))
            case "pending-metrics": carried.pending.append((fd, .metrics))
            default:
                states = readStates(fd)
                fd.close()
            }
        }
        var byIdentity: [UInt64: LiveHandover] = [:]
        for s in states ?? [] { byIdentity[s.identity] = s.state }
        for fd in liveFDs {
            guard let state = byIdentity[CarriedState.identity(of: fd.rawValue)] else {
                fd.close()
                continue
            }
            carried.live.append((fd, state))
        }
        return carried
    }

    private static func readStates(_ fd: FileDescriptor) -> [(identity: UInt64, state: LiveHandover)]? {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            bytes += chunk[0..<n]
            guard bytes.count <= 64 << 20 else { return nil }
        }
        return CarriedState.decode(bytes)
    }

    /// Takes the sockets systemd passed, or returns nil when it passed none (`LISTEN_PID` must be this process).
    /// The variables are removed from the environment either way, so workers never see them. The descriptors
    /// become non-blocking and close-on-exec. Descriptors an upgrade passed on go to `carried`.
    static func take(carried: inout Carried) throws(Failure) -> [ListeningSocket]? {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(1, &names)
        var fdNames: [String] = []
        if let names {
            for i in 0..<Int(max(count, 0)) {
                fdNames.append(names[i].map { String(cString: $0) } ?? "unknown")
            }
            var i = 0
            while let name = names[i] {
                free(name)
                i += 1
            }
            free(names)
        }
        guard count >= 0 else { throw .unreadable(errno: -count) }
        guard count > 0 else { return nil }
        carried = takeCarried(names: fdNames)
        // What came from systemd's file descriptor store (a restart) leaves it now: systemd's copy of a connection
        // would keep it open after this process closes it. Harmless when they came over an exec.
        for name in Set(fdNames).intersection(carriedNames).sorted() {
            _ = sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)")
        }
        let listenerIndexes = fdNames.indices.filter { !carriedNames.contains(fdNames[$0]) }
        let roles = try roles(for: listenerIndexes.map { fdNames[$0] })
        var sockets: [ListeningSocket] = []
        for (role, i) in zip(roles, listenerIndexes) {
            let raw = SD_LISTEN_FDS_START + Int32(i)
            guard sd_is_socket_inet(raw, AF_UNSPEC, Int32(SOCK_STREAM.rawValue), 1, 0) > 0 else {
                throw .notAListeningTCPSocket(fd: raw, name: fdNames[i])
            }
            let fd = FileDescriptor(owning: raw)
            do {
                // systemd passes blocking descriptors without FD_CLOEXEC: a blocking accept would stall the loop,
                // and workers must not inherit the listener.
                try fd.setNonBlocking()
                try fd.setCloseOnExec()
            } catch {
                throw .setupFailed(fd: raw, "\(error)")
            }
            let listener = Listener(adopting: fd)
            sockets.append(ListeningSocket(listener: listener, role: role, address: listener.localAddress()))
        }
        return sockets
    }
}

/// The `livefeed-state` file an upgrade or a restart leaves for the next process: "LFS1", a little-endian UInt32
/// count, that many UInt64 socket identities (`identity(of:)`), then the `liveMoved` records in the same order.
enum CarriedState {
    static let magic: [UInt8] = Array("LFS1".utf8)

    /// A socket's inode number: the same in every process that holds the socket, unique among open sockets.
    static func identity(of fd: Int32) -> UInt64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    static func encode(_ entries: [(identity: UInt64, state: LiveHandover)]) -> [UInt8] {
        var bytes = magic
        withUnsafeBytes(of: UInt32(entries.count).littleEndian) { bytes += $0 }
        for e in entries { withUnsafeBytes(of: e.identity.littleEndian) { bytes += $0 } }
        for e in entries { bytes += RecordCodec.encode(.liveMoved(e.state)) }
        return bytes
    }

    /// nil when anything does not add up: the wrong magic, a short file, a record that is not a live state, a
    /// count that differs.
    static func decode(_ bytes: [UInt8]) -> [(identity: UInt64, state: LiveHandover)]? {
        guard bytes.count >= 8, Array(bytes[0..<4]) == magic else { return nil }
        func u64(at i: Int, width: Int) -> UInt64 {
            var v: UInt64 = 0
            for k in 0..<width { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            return v
        }
        let count = Int(u64(at: 4, width: 4))
        let recordsStart = 8 + count * 8
        guard count <= 1 << 22, bytes.count >= recordsStart else { return nil }
        let identities = (0..<count).map { u64(at: 8 + $0 * 8, width: 8) }
        guard let records = try? RecordCodec.records(in: bytes[recordsStart...]), records.count == count else { return nil }
        var out: [(identity: UInt64, state: LiveHandover)] = []
        for (identity, record) in zip(identities, records) {
            guard case .liveMoved(let state) = record else { return nil }
            out.append((identity, state))
        }
        return out
    }
}
