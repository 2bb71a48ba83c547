/// What an epoll event belongs to. Connection ids come from the supervisor, which counts up from 1; the two
/// highest values are reserved for the worker's own descriptors.
enum WorkerToken: Equatable {
    case control
    case signals
    case connection(UInt64)

    init(raw: UInt64) {
        switch raw {
        case .max: self = .control
        case .max - 1: self = .signals
        default: self = .connection(raw)
        }
    }

    var raw: UInt64 {
        switch self {
        case .control: .max
        case .signals: .max - 1
        case .connection(let id): id
        }
    }
}
