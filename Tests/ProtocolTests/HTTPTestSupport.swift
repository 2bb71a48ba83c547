import LivefeedProtocol
import Testing

/// What feeding a byte stream to a fresh `RequestHeadParser` came to, independent of how it was chunked.
enum HeadOutcome: Equatable, CustomStringConvertible {
    case needMore
    /// `end` is the offset in the whole stream just past the head.
    case complete(HTTPRequestHead, end: Int)
    case failed(HTTPHeadError)

    var description: String {
        switch self {
        case .needMore: "needMore"
        case .complete(let head, let end): "complete(\(head.method) \(head.target), end: \(end))"
        case .failed(let error): "failed(\(error))"
        }
    }
}

/// Feeds `bytes` to a fresh parser in pieces ending at `cuts` (ascending offsets inside `bytes`).
func feedStream(
    _ bytes: [UInt8],
    cuts: [Int] = [],
    limits: RequestHeadParser.Limits = .init()
) -> HeadOutcome {
    var parser = RequestHeadParser(limits: limits)
    var start = 0
    for end in cuts + [bytes.count] {
        do {
            switch try parser.feed(bytes[start..<end]) {
            case .needMore: start = end
            case .complete(let head, let used):
                #expect(used >= 0 && used <= end - start)
                return .complete(head, end: start + used)
            }
        } catch {
            return .failed(error)
        }
    }
    return .needMore
}

/// Feeds `bytes` one byte at a time.
func feedByteByByte(_ bytes: [UInt8], limits: RequestHeadParser.Limits = .init()) -> HeadOutcome {
    feedStream(bytes, cuts: bytes.isEmpty ? [] : Array(1..<bytes.count), limits: limits)
}

/// Parses a whole head given as text, "\r\n" written out.
func parseHead(_ text: String, limits: RequestHeadParser.Limits = .init()) -> HeadOutcome {
    feedStream(Array(text.utf8), limits: limits)
}

/// The head parsed from `text`, or nil (recorded as an issue) when it did not complete.
func completeHead(_ text: String, limits: RequestHeadParser.Limits = .init()) -> HTTPRequestHead? {
    guard case .complete(let head, _) = parseHead(text, limits: limits) else {
        Issue.record("head did not complete: \(parseHead(text, limits: limits))")
        return nil
    }
    return head
}

/// SplitMix64: a tiny deterministic generator so fuzz runs repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
