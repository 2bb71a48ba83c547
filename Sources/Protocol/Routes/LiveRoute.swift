import Glibc

/// The view a connection serves: the classification the supervisor makes from the request head, and the
/// `view` label in metrics, logs and caps. Wire spellings are the raw values.
package enum ConnectionView: String, CaseIterable, Sendable {
    case http
    case metrics
    case dashboard
    case channels
    case channel
    case users
    case user
    case echo

    /// Live views are WebSocket streams that count against a per-view cap.
    package var isLive: Bool { self != .http }
}

/// The live views, by the path that opens them. This is the one table of `/live/...` paths: the supervisor reads
/// it to count a connection against its view's cap before handing it over, the worker to serve it, so the two
/// cannot disagree. Adding a live view adds a case here (and its `ConnectionView`), a feed in the worker, and the
/// page that shows it.
package enum LiveRoute: Hashable, Sendable {
    case metrics
    case dashboard
    case channels
    case channel(Int64)
    case users
    case user(Int64)
    /// Echoes every message back; only served with `--enable-echo` (conformance testing).
    case echo

    /// The route a request path (without its query) names, or nil when it names no live view. Read from the path's
    /// bytes without allocating: the supervisor classifies every connection with it.
    package init?(path: some StringProtocol) {
        var text = String(path)
        guard let route = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = route
    }

    private static func parse(_ b: UnsafeBufferPointer<UInt8>) -> LiveRoute? {
        // Up to three non-empty segments between slashes: "live", the view, an id.
        var segments: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
        var count = 0
        var i = 0
        let slash = UInt8(ascii: "/")
        while i < b.count {
            while i < b.count && b[i] == slash { i += 1 }
            if i == b.count { break }
            let start = i
            while i < b.count && b[i] != slash { i += 1 }
            switch count {
            case 0: segments.0 = start..<i
            case 1: segments.1 = start..<i
            case 2: segments.2 = start..<i
            default: return nil
            }
            count += 1
        }
        func equals(_ r: Range<Int>, _ word: StaticString) -> Bool {
            r.count == word.utf8CodeUnitCount
                && memcmp(b.baseAddress! + r.lowerBound, word.utf8Start, r.count) == 0
        }
        guard count >= 2, equals(segments.0, "live") else { return nil }
        let name = segments.1
        if count == 2 {
            if equals(name, "metrics") { return .metrics }
            if equals(name, "dashboard") { return .dashboard }
            if equals(name, "channels") { return .channels }
            if equals(name, "users") { return .users }
            if equals(name, "echo") { return .echo }
            return nil
        }
        guard let id = PathID.parse(UnsafeBufferPointer(rebasing: b[segments.2])) else { return nil }
        if equals(name, "channels") { return .channel(id) }
        if equals(name, "users") { return .user(id) }
        return nil
    }

    package var view: ConnectionView {
        switch self {
        case .metrics: .metrics
        case .dashboard: .dashboard
        case .channels: .channels
        case .channel: .channel
        case .users: .users
        case .user: .user
        case .echo: .echo
        }
    }

    /// The canonical path of this view.
    package var path: String {
        switch self {
        case .metrics: "/live/metrics"
        case .dashboard: "/live/dashboard"
        case .channels: "/live/channels"
        case .channel(let id): "/live/channels/\(id)"
        case .users: "/live/users"
        case .user(let id): "/live/users/\(id)"
        case .echo: "/live/echo"
        }
    }
}

/// An id in a path or query: a positive decimal integer (digits only: no sign, no spaces), at most Int64.max.
package enum PathID {
    package static func parse(_ text: some StringProtocol) -> Int64? {
        var copy = String(text)
        return copy.withUTF8 { parse($0) }
    }

    package static func parse(_ digits: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !digits.isEmpty, digits.count <= 64 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value > 0 ? value : nil
    }
}
