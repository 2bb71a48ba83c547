/// What an epoll event in the supervisor's set is about, packed into epoll's 64-bit user data: the kind in the top
/// byte, an index or id below it. Decoding is total: a value no encoder produced decodes to nil and is ignored.
enum EpollToken: Equatable {
    case signals
    /// Listener `index` of the supervisor's list.
    case listener(Int)
    /// A worker slot's control socket, by the slot's serial number.
    case worker(UInt64)
    /// A connection waiting at the door for its head, by connection id.
    case pending(UInt64)
    case demoWriter
    /// A worker slot's standard error pipe, by the slot's serial number.
    case workerStderr(UInt64)

    private static let kindShift: UInt64 = 56
    /// The largest index or id a token carries.
    static let maxPayload: UInt64 = (1 << kindShift) - 1

    private enum Kind: UInt64 {
        case signals = 1
        case listener
        case worker
        case pending
        case demoWriter
        case workerStderr
    }

    var rawValue: UInt64 {
        let (kind, payload): (Kind, UInt64)
        switch self {
        case .signals: (kind, payload) = (.signals, 0)
        case .listener(let index): (kind, payload) = (.listener, UInt64(index))
        case .worker(let serial): (kind, payload) = (.worker, serial)
        case .pending(let id): (kind, payload) = (.pending, id)
        case .demoWriter: (kind, payload) = (.demoWriter, 0)
        case .workerStderr(let serial): (kind, payload) = (.workerStderr, serial)
        }
        precondition(payload <= Self.maxPayload, "epoll token payload out of range")
        return kind.rawValue << Self.kindShift | payload
    }

    init?(rawValue: UInt64) {
        let payload = rawValue & Self.maxPayload
        switch Kind(rawValue: rawValue >> Self.kindShift) {
        case .signals?: self = .signals
        case .listener?:
            guard payload <= UInt64(Int.max) else { return nil }
            self = .listener(Int(payload))
        case .worker?: self = .worker(payload)
        case .pending?: self = .pending(payload)
        case .demoWriter?: self = .demoWriter
        case .workerStderr?: self = .workerStderr(payload)
        case nil: return nil
        }
    }
}
