extension HTTPRequestHead {
    /// How the body of a request is delimited (RFC 9112 §6.1–6.3), refusing every ambiguous combination since
    /// a proxy in front of us might resolve it differently (request smuggling).
    static func framing(
        _ headers: HTTPHeaders,
        versionMinor: Int
    ) throws(HTTPHeadError) -> (contentLength: Int?, isChunked: Bool) {
        let lengths = headers.values("Content-Length")
        let encodings = headers.values("Transfer-Encoding")

        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw .contentLengthWithTransferEncoding }
            // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
            guard versionMinor >= 1 else { throw .invalidTransferEncoding }
            let codings = encodings.flatMap(HTTPSyntax.listElements)
            guard let last = codings.last, HTTPSyntax.equalsIgnoringCase(last, "chunked") else {
                throw .invalidTransferEncoding
            }
            let earlier = codings.dropLast()
            // RFC 9112 §6.1: chunked must not be applied more than once.
            if earlier.contains(where: { HTTPSyntax.equalsIgnoringCase($0, "chunked") }) {
                throw .invalidTransferEncoding
            }
            // RFC 9112 §6.1 suggests 501 for a transfer coding the server does not implement.
            guard earlier.isEmpty else { throw .unsupportedTransferCoding }
            return (nil, true)
        }

        var length: Int?
        for value in lengths {
            // RFC 9110 §8.6 lets a recipient accept a list of identical values, such as "5, 5".
            for element in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let parsed = parseDigits(HTTPSyntax.trimmingWhitespace(element)) else {
                    throw .invalidContentLength
                }
                if let length, length != parsed { throw .conflictingContentLength }
                length = parsed
            }
        }
        return (length, false)
    }

    /// 1*DIGIT as a non-negative `Int`, `nil` on anything else or overflow.
    private static func parseDigits(_ text: Substring) -> Int? {
        guard !text.isEmpty else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
