/// Incremental, bounded parser for one HTTP/1.1 request head (RFC 9112 §2–§5).
///
/// Feed the bytes of a stream in order, in chunks of any size. Each byte is looked at once, so the total cost is
/// linear in the bytes fed, and only the head itself is kept (at most `Limits.maxBytes`). Limits are enforced as
/// bytes arrive, before the head is complete.
///
/// States: collecting (`feed` returns `.needMore`), complete (`feed` returned `.complete`; call `reset()` before
/// feeding again, feeding first is a programming error and traps) and failed (`feed` threw; later feeds throw the
/// same error until `reset()`).
///
/// Line endings must be CRLF: a bare LF or bare CR is refused (`.invalidLineEnding`) rather than accepted
/// leniently as RFC 9112 §2.2 permits, since a proxy in front of us that splits lines differently is how request
/// smuggling starts. Up to `maxLeadingEmptyLines` CRLFs before the request-line are skipped (RFC 9112 §2.2).
package struct RequestHeadParser {
    package struct Limits: Sendable {
        /// The whole head including the leading empty lines and the final CRLFCRLF → `.headTooLarge`.
        package var maxBytes: Int
        /// Field lines → `.tooManyHeaders`.
        package var maxHeaderCount: Int
        /// The request-target → `.uriTooLong`.
        package var maxTargetBytes: Int
        /// Query pairs → `.invalidTarget`.
        package var maxQueryPairs: Int

        package init(
            maxBytes: Int = 8192, maxHeaderCount: Int = 64, maxTargetBytes: Int = 4096,
            maxQueryPairs: Int = 64
        ) {
            self.maxBytes = maxBytes
            self.maxHeaderCount = maxHeaderCount
            self.maxTargetBytes = maxTargetBytes
            self.maxQueryPairs = maxQueryPairs
        }
    }

    package enum Progress: Sendable {
        case needMore
        /// `used` counts the bytes of the chunk just fed that belong to the head; the rest is body or the next
        /// pipelined request.
        case complete(HTTPRequestHead, used: Int)
    }

    /// Empty lines skipped before a request-line; more is a malformed request-line.
    package static let maxLeadingEmptyLines = 8

    private enum State {
        case beforeRequestLine, leadingEmptyLineCR
        case method, target, version, requestLineCR
        case fieldLineStart, fieldName, fieldValue, fieldLineCR, finalCR
        case complete
        case failed(HTTPHeadError)
    }

    /// Offsets into `buffer` of one field line's name and trimmed value.
    private struct FieldRange {
        var name: Range<Int>
        var value: Range<Int>
    }

    private let limits: Limits
    private var state = State.beforeRequestLine
    /// Every byte of the head consumed so far; offsets below index into it.
    private var buffer: [UInt8] = []
    private var leadingEmptyLines = 0
    private var methodStart = 0
    private var targetStart = 0
    private var targetEnd = 0
    /// The version bytes packed big-endian, at most eight ("HTTP/1.1").
    private var versionBytes: UInt64 = 0
    private var versionLength = 0
    private var versionMinor = 1
    private var fields: [FieldRange] = []
    private var nameStart = 0
    private var nameEnd = 0
    private var valueStart = 0
    private var valueEnd = 0

    package init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Feed the NEXT bytes of the stream (incremental; the parser keeps what it needs). `used` = how many bytes
    /// of THIS chunk belong to the head (the rest is body/pipelined data). After .complete, the parser must be
    /// reset() before reuse.
    package mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) -> Progress {
        switch state {
        case .complete: preconditionFailure("RequestHeadParser.feed after .complete without reset()")
        case .failed(let error): throw error
        default: break
        }
        do {
            let used = try scan(bytes)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[..<(used ?? bytes.count)]))
            guard let used else { return .needMore }
            let head = try makeHead()
            state = .complete
            return .complete(head, used: used)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    package mutating func feed(_ bytes: ArraySlice<UInt8>) throws(HTTPHeadError) -> Progress {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(HTTPHeadError) in try feed(raw) } }
        return try result.get()
    }

    /// Forgets everything fed so far, ready for the next request on the connection.
    package mutating func reset() {
        state = .beforeRequestLine
        buffer.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        leadingEmptyLines = 0
        versionBytes = 0
        versionLength = 0
    }

    /// Runs the state machine over `bytes`; returns how many of them end the head, or nil if all were consumed
    /// without reaching its end.
    private mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) -> Int? {
        var index = 0
        while index < bytes.count {
            let position = buffer.count + index
            guard position < limits.maxBytes else { throw .headTooLarge }
            let byte = bytes[index]
            index += 1
            if try step(byte, at: position) { return index }
        }
        return nil
    }

    /// Consumes the byte at stream offset `position`; true when it ends the head.
    private mutating func step(_ byte: UInt8, at position: Int) throws(HTTPHeadError) -> Bool {
        switch state {
        case .beforeRequestLine:
            if byte == HTTPSyntax.cr {
                state = .leadingEmptyLineCR
            } else if byte == HTTPSyntax.lf {
                throw .invalidLineEnding
            } else if HTTPSyntax.isTokenByte(byte) {
                methodStart = position
                state = .method
            } else {
                throw .malformedRequestLine
            }

        case .leadingEmptyLineCR:
            guard byte == HTTPSyntax.lf else { throw .invalidLineEnding }
            leadingEmptyLines += 1
            guard leadingEmptyLines <= Self.maxLeadingEmptyLines else { throw .malformedRequestLine }
            state = .beforeRequestLine

        case .method:
            if byte == HTTPSyntax.space {
                targetStart = position + 1
                state = .target
            } else if !HTTPSyntax.isTokenByte(byte) {
                throw .malformedRequestLine
            }

        case .target:
            if HTTPSyntax.isTargetByte(byte) {
                guard position - targetStart < limits.maxTargetBytes else { throw .uriTooLong }
            } else if byte == HTTPSyntax.space {
                guard position > targetStart else { throw .malformedRequestLine }
                targetEnd = position
                state = .version
            } else if byte == HTTPSyntax.cr || byte == HTTPSyntax.lf || byte == HTTPSyntax.tab {
                throw .malformedRequestLine
            } else {
                throw .invalidTarget
            }

        case .version:
            if byte == HTTPSyntax.cr {
                state = .requestLineCR
            } else if byte == HTTPSyntax.lf {
                throw .invalidLineEnding
            } else {
                guard versionLength < 8 else { throw .malformedRequestLine }
                versionBytes = versionBytes << 8 | UInt64(byte)
                versionLength += 1
            }

        case .requestLineCR:
            guard byte == HTTPSyntax.lf else { throw .invalidLineEnding }
            versionMinor = try parseVersion()
            state = .fieldLineStart

        case .fieldLineStart:
            if HTTPSyntax.isTokenByte(byte) {
                guard fields.count < limits.maxHeaderCount else { throw .tooManyHeaders }
                nameStart = position
                state = .fieldName
            } else if byte == HTTPSyntax.cr {
                state = .finalCR
            } else if byte == HTTPSyntax.lf {
                throw .invalidLineEnding
            } else {
                // Includes a line starting with SP or HT: obs-fold, refused per RFC 9112 §5.2.
                throw .malformedHeader
            }

        case .fieldName:
            if byte == HTTPSyntax.colon {
                nameEnd = position
                valueStart = position + 1
                valueEnd = position + 1
                state = .fieldValue
            } else if !HTTPSyntax.isTokenByte(byte) {
                // Includes whitespace before the colon (RFC 9112 §5.1) and a line without a colon.
                throw byte == HTTPSyntax.lf ? .invalidLineEnding : .malformedHeader
            }

        case .fieldValue:
            if byte == HTTPSyntax.space || byte == HTTPSyntax.tab {
                if valueStart == position { valueStart += 1 }
            } else if HTTPSyntax.isFieldValueByte(byte) {
                valueEnd = position + 1
            } else if byte == HTTPSyntax.cr {
                state = .fieldLineCR
            } else if byte == HTTPSyntax.lf {
                throw .invalidLineEnding
            } else {
                throw .malformedHeader
            }

        case .fieldLineCR:
            guard byte == HTTPSyntax.lf else { throw .invalidLineEnding }
            fields.append(FieldRange(name: nameStart..<nameEnd, value: valueStart..<max(valueStart, valueEnd)))
            state = .fieldLineStart

        case .finalCR:
            guard byte == HTTPSyntax.lf else { throw .invalidLineEnding }
            return true

        case .complete, .failed:
            preconditionFailure("RequestHeadParser.step in a final state")
        }
        return false
    }

    /// "HTTP/" DIGIT "." DIGIT (case-sensitive, RFC 9112 §2.3); only 1.0 and 1.1 are served.
    private func parseVersion() throws(HTTPHeadError) -> Int {
        let prefix: UInt64 = 0x4854_5450_2F00_2E00  // "HTTP/" ? "." ?
        let mask: UInt64 = 0xFFFF_FFFF_FF00_FF00
        let major = UInt8(truncatingIfNeeded: versionBytes >> 16)
        let minor = UInt8(truncatingIfNeeded: versionBytes)
        let digits = UInt8(ascii: "0")...UInt8(ascii: "9")
        guard versionLength == 8, versionBytes & mask == prefix, digits.contains(major), digits.contains(minor)
        else { throw .malformedRequestLine }
        guard major == UInt8(ascii: "1"), minor <= UInt8(ascii: "1") else { throw .unsupportedVersion }
        return Int(minor - UInt8(ascii: "0"))
    }

    private func makeHead() throws(HTTPHeadError) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count)
        for field in fields {
            headers.add(
                String(decoding: buffer[field.name], as: UTF8.self),
                HTTPSyntax.decodeFieldValue(buffer[field.value])
            )
        }
        return try HTTPRequestHead(
            method: String(decoding: buffer[methodStart..<(targetStart - 1)], as: UTF8.self),
            target: String(decoding: buffer[targetStart..<targetEnd], as: UTF8.self),
            versionMinor: versionMinor,
            headers: headers,
            maxQueryPairs: limits.maxQueryPairs
        )
    }
}
