import Glibc
import LivefeedProtocol

/// The writer side of the bench: one keep-alive HTTP connection POSTing arrays of messages to /api/messages,
/// up to `maxInFlight` requests in flight (HTTP/1.1 pipelining: the answers come back in request order, so ids
/// stay in sequence order; 1 by default, each request waiting for the answer before it). Owns its socket.
/// Message `n` has the text `lfb:<n>:<send time ns>`, stamped when its POST is written, so a subscriber's receipt
/// time minus that stamp is post-to-receipt latency: it includes the HTTP request, the insert and commit, and
/// fan-out, so it bounds commit-to-receipt from above. A server that says when it committed (the answer's
/// `Livefeed-Commit-Clock`, CLOCK_MONOTONIC ns: livefeed with `--commit-clock`, the limit server) is measured from
/// there too (`committed`).
///
/// A connection the server closes (a worker draining on a reload closes keep-alive connections between
/// requests, or answers with `Connection: close`) is opened again; livefeed's POSTs carry an Idempotency-Key, so
/// one that was in flight is sent again and stored once.
final class IngestClient {
    private(set) var fd: FileDescriptor
    private let server: SocketAddress
    private let channelID: Int64
    private let host: String
    /// Called with the new socket after a reconnect, for the caller's epoll set.
    var reconnected: ((FileDescriptor) -> Void)?
    /// Called for each successful answer: the sequence numbers of the messages it carried (first, count) and
    /// the server's commit time (CLOCK_MONOTONIC ns) when the answer says it (`Livefeed-Commit-Clock`), else nil.
    var committed: ((Int, Int, UInt64?) -> Void)?
    private(set) var reconnects = 0
    private(set) var connected = false
    /// Requests written (or being written) and not yet answered, oldest first, with their bytes for a resend.
    private var pending: [(first: Int, count: Int, started: UInt64, bytes: [UInt8])] = []
    private var out: [UInt8] = []
    private var outSent = 0
    private var reader = HTTPResponseReader()
    let maxInFlight: Int
    /// True while a request waits for its answer.
    var outstanding: Bool { !pending.isEmpty }
    /// True when another request may go out now.
    var canPost: Bool { pending.count < maxInFlight && !failed }

    /// Messages written so far; the next one gets this sequence number.
    private(set) var sent = 0
    /// Message ids from the 201 answers, in sequence order.
    private(set) var ids: [Int64] = []
    private(set) var posts = 0
    private(set) var largestPost = 0
    /// The most requests that were in flight at once (`--pipeline`).
    private(set) var peakInFlight = 0
    /// Every answered POST's round trip: quantiles, mean and maximum (a one-request-at-a-time publisher keeps
    /// 1,000/s only while they stay under 1 ms).
    private(set) var roundTrips = LatencyHistogram()
    private(set) var failures: [String: Int] = [:]
    private(set) var failed = false

    /// Set for a server other than livefeed: where each message is POSTed, one per request, as a body the
    /// subscribers receive verbatim (an envelope shaped like livefeed's, so the same scan reads it).
    private let publishPath: String?

    init(server: SocketAddress, channelID: Int64, publishPath: String? = nil, maxInFlight: Int = 1) throws(BenchError) {
        self.maxInFlight = max(1, maxInFlight)
        self.channelID = channelID
        self.publishPath = publishPath
        self.server = server
        host = server.description
        do {
            (fd, connected) = try Self.open(server)
        } catch {
            throw .setup("ingest connection: \(error)")
        }
    }

    private static func open(_ server: SocketAddress) throws -> (FileDescriptor, Bool) {
        switch try ClientSocket.connect(to: server, from: nil) {
        case .connected(let f): (f, true)
        case .inProgress(let f): (f, false)
        }
    }

    /// A new connection after the server closed the last one; the requests in flight, if any, go again in order.
    private func reconnect() {
        fd.close()
        do {
            (fd, connected) = try Self.open(server)
        } catch {
            return fail("reconnect: \(error)")
        }
        reconnects += 1
        reader = HTTPResponseReader()
        out = pending.flatMap(\.bytes)  // what was answered is not sent again
        outSent = 0
        reconnected?(fd)
        flush()
    }

    private var closed = false

    /// Closes the socket; the figures stay readable.
    func close() {
        guard !closed else { return }
        closed = true
        fd.close()
    }

    /// Writes one POST carrying `count` messages (1 ... 1000) stamped with `now`.
    func post(count: Int, now: UInt64) {
        precondition(canPost && count > 0 && count <= 1000)
        var body: [UInt8] = []
        var path = "/api/messages"
        if let publishPath {
            precondition(count == 1, "a foreign server takes one message per request")
            path = publishPath
            // The id is the bench's own (sequence + 1); the padding brings the frame to ~150 bytes.
            let item =
                #"{"type":"message","cursor":\#(sent + 1),"data":{"id":\#(sent + 1),"#
                + #""text":"\#(EnvelopeScan.textPrefix)\#(sent):\#(now)","pad":"\#(Self.padding)"}}"#
            body.append(contentsOf: item.utf8)
        } else {
            body.reserveCapacity(count * 64 + 2)
            body.append(UInt8(ascii: "["))
            for i in 0..<count {
                if i > 0 { body.append(UInt8(ascii: ",")) }
                let item =
                    #"{"channel":\#(channelID),"user":"bench","text":"\#(EnvelopeScan.textPrefix)\#(sent + i):\#(now)"}"#
                body.append(contentsOf: item.utf8)
            }
            body.append(UInt8(ascii: "]"))
        }
        // The key makes a POST sent again after a reconnect stored once (livefeed; others get one message each).
        let key = publishPath == nil ? "Idempotency-Key: lfb-\(sent)-\(now)\r\n" : ""
        let head =
            "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\n\(key)"
            + "Content-Length: \(body.count)\r\n\r\n"
        let bytes = Array(head.utf8) + body
        if outSent == out.count {
            out.removeAll(keepingCapacity: true)
            outSent = 0
        }
        out += bytes
        pending.append((sent, count, now, bytes))
        peakInFlight = max(peakInFlight, pending.count)
        sent += count
        posts += 1
        largestPost = max(largestPost, count)
        flush()
    }

    /// True while bytes of the requests are still unwritten (the caller then waits for EPOLLOUT).
    var wantsWrite: Bool { !connected || outSent < out.count }

    func onWritable() {
        if !connected {
            let err = ClientSocket.pendingError(fd)
            guard err == 0 else { return fail("connect: \(String(cString: strerror(err)))") }
            connected = true
        }
        flush()
    }

    private func flush() {
        guard connected else { return }
        // Bounded: each pass writes something or stops.
        for _ in 0..<64 where outSent < out.count {
            let outcome: IOResult<Int>
            do {
                outcome = try out[outSent...].withUnsafeBytes { raw throws(SystemError) in try fd.write(raw) }
            } catch {
                // The server closed: the read side sees it and reconnects.
                if let e = error as? SystemError, e.errno == EPIPE || e.errno == ECONNRESET { return }
                return fail("send: \(error)")
            }
            guard case .done(let n) = outcome, n > 0 else { return }
            outSent += n
        }
    }

    /// Reads answers; returns true when a POST completed (successfully or not).
    func onReadable(scratch: UnsafeMutableRawBufferPointer, now: UInt64) -> Bool {
        let outcome: IOResult<Int>
        do {
            outcome = try fd.read(into: scratch)
        } catch {
            // A reset is a close too (a keep-alive closed by the server just as a request went out).
            guard error.errno == ECONNRESET else {
                fail("read: \(error)")
                return true
            }
            outcome = .done(0)
        }
        guard case .done(let n) = outcome else { return false }
        if n == 0 {
            // Closed: open another at once. Requests in flight go again (livefeed's carry a key, so each is
            // stored once); another server's cannot be retried safely.
            guard !outstanding || publishPath == nil, reconnects < 100 else {
                fail("server closed the ingest connection")
                return true
            }
            reconnect()
            return false
        }
        reader.feed(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
        var completed = false
        // Pipelined answers arrive in request order; one read may hold several.
        while !failed, let request = pending.first {
            let response: HTTPResponseReader.Response
            do {
                guard let r = try reader.next() else { break }
                response = r
            } catch {
                fail("\(error)")
                return true
            }
            pending.removeFirst()
            completed = true
            answered(response, first: request.first, count: request.count, rtt: now - request.started)
        }
        return completed
    }

    private func answered(_ response: HTTPResponseReader.Response, first: Int, count: Int, rtt: UInt64) {
        roundTrips.record(rtt)
        if publishPath != nil {
            guard (200..<300).contains(response.status) else {
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                return fail("POST answered \(response.status): \(text)")
            }
            let known = ids.count
            ids += (0..<count).map { Int64(known + $0 + 1) }
            committed?(first, count, Self.commitClock(response))
            return
        }
        // 200 is the stored answer to a POST sent again with its key after a reconnect: stored once, same ids.
        guard response.status == 201 || (response.status == 200 && reconnects > 0) else {
            let text = String(decoding: response.body.prefix(200), as: UTF8.self)
            return fail("POST answered \(response.status): \(text)")
        }
        let newIDs = Self.ids(in: response.body)
        if newIDs.count != count {
            failures["201 with \(newIDs.count) ids for \(count) messages", default: 0] += 1
        }
        ids += newIDs
        // A replay (200) stored nothing now: no commit to measure from.
        committed?(first, count, response.status == 201 ? Self.commitClock(response) : nil)
    }

    /// The answer's `Livefeed-Commit-Clock` (CLOCK_MONOTONIC ns), if it has a plausible one.
    static func commitClock(_ response: HTTPResponseReader.Response) -> UInt64? {
        guard let raw = response.header("Livefeed-Commit-Clock"), let v = UInt64(raw), v > 0 else { return nil }
        return v
    }

    private static let padding = String(repeating: "x", count: 48)

    private func fail(_ why: String) {
        failures[why, default: 0] += 1
        failed = true
        pending.removeAll()
    }

    /// The integers of `"ids":[…]` in a 201 body.
    static func ids(in body: [UInt8]) -> [Int64] {
        body.withUnsafeBytes { p in
            guard let start = EnvelopeScan.find(Array(#""ids":["#.utf8), in: p, from: 0) else { return [] }
            var result: [Int64] = []
            var i = start + 7
            while i < p.count && p[i] != UInt8(ascii: "]") {
                if let (v, next) = EnvelopeScan.integer(p, at: i) {
                    result.append(v)
                    i = next
                } else {
                    i += 1
                }
            }
            return result
        }
    }
}
