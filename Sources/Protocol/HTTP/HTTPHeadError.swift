/// Why a request head was refused. Each case maps to the status the connection answers with before closing.
package enum HTTPHeadError: Error, Equatable, Sendable {
    /// The request-line is not `method SP request-target SP HTTP-version CRLF`.
    case malformedRequestLine
    /// A field line is not `field-name ":" OWS field-value OWS`, starts with whitespace (obs-fold), has whitespace
    /// before the colon, or holds a control character.
    case malformedHeader
    /// A CR not followed by LF, or an LF without CR (RFC 9112 §2.2).
    case invalidLineEnding
    /// The request-target is not origin-, absolute- or asterisk-form, or percent-decodes to something invalid.
    case invalidTarget
    /// Not HTTP/1.0 or HTTP/1.1.
    case unsupportedVersion
    /// The head, including its final CRLFCRLF, is longer than `Limits.maxBytes`.
    case headTooLarge
    /// More field lines than `Limits.maxHeaderCount`.
    case tooManyHeaders
    /// The request-target is longer than `Limits.maxTargetBytes`.
    case uriTooLong
    /// No Host in an HTTP/1.1 request, more than one Host, or a Host that is not `uri-host [":" port]`
    /// (RFC 9112 §3.2).
    case invalidHost
    /// A Content-Length that is not 1*DIGIT, or does not fit in an `Int`.
    case invalidContentLength
    /// Content-Length values that disagree.
    case conflictingContentLength
    /// Both Content-Length and Transfer-Encoding: the framing a proxy and we pick could differ (RFC 9112 §6.1).
    case contentLengthWithTransferEncoding
    /// Transfer-Encoding whose final coding is not chunked, chunked applied twice, an empty list, or
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1, §6.3).
    case invalidTransferEncoding
    /// A transfer coding other than chunked, which this server cannot decode.
    case unsupportedTransferCoding

    /// The error code of the refusal's body, the same at the door and in a worker.
    package var code: String {
        switch self {
        case .headTooLarge, .tooManyHeaders: "head_too_large"
        case .uriTooLong: "uri_too_long"
        case .malformedRequestLine, .malformedHeader, .invalidLineEnding, .invalidTarget, .invalidHost,
            .invalidContentLength, .conflictingContentLength, .contentLengthWithTransferEncoding,
            .invalidTransferEncoding, .unsupportedTransferCoding, .unsupportedVersion: "bad_request"
        }
    }

    /// The refusal's message, for people: the same at the door and in a worker (a worker once sent the case's name,
    /// `malformedRequestLine`, where the door said "Bad Request").
    package var message: String {
        switch self {
        case .malformedRequestLine: "the request line is not METHOD TARGET HTTP/1.x"
        case .malformedHeader: "a header line is malformed (no colon, space before it, a fold, or a control character)"
        case .invalidLineEnding: "lines must end with CRLF"
        case .invalidTarget: "the request target is not a valid path"
        case .unsupportedVersion: "only HTTP/1.0 and HTTP/1.1 are served"
        case .headTooLarge: "the request head is too large"
        case .tooManyHeaders: "the request has too many header lines"
        case .uriTooLong: "the request target is too long"
        case .invalidHost: "Host is missing, repeated or malformed"
        case .invalidContentLength: "Content-Length is not a whole number"
        case .conflictingContentLength: "Content-Length values disagree"
        case .contentLengthWithTransferEncoding: "Content-Length and Transfer-Encoding together"
        case .invalidTransferEncoding: "Transfer-Encoding must end with chunked, once, in HTTP/1.1"
        case .unsupportedTransferCoding: "only the chunked transfer coding is understood"
        }
    }

    /// The response status for this refusal.
    package var status: Int {
        switch self {
        case .malformedRequestLine, .malformedHeader, .invalidLineEnding, .invalidTarget, .invalidHost,
            .invalidContentLength, .conflictingContentLength, .contentLengthWithTransferEncoding,
            .invalidTransferEncoding:
            400
        case .uriTooLong: 414
        case .headTooLarge, .tooManyHeaders: 431
        case .unsupportedTransferCoding: 501
        case .unsupportedVersion: 505
        }
    }
}
