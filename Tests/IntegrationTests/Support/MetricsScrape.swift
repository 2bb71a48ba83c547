import Foundation
import Testing

/// One scrape of `/metrics`, parsed from the Prometheus text exposition format (version 0.0.4), with the format
/// itself checked: every sample belongs to a family announced by `# HELP` and `# TYPE` lines before it, names carry
/// the `livefeed_` prefix, and values are numbers.
struct MetricsScrape {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    let text: String
    private(set) var samples: [Sample] = []
    private(set) var types: [String: String] = [:]
    /// Format problems found while parsing; empty for a well-formed scrape.
    private(set) var problems: [String] = []

    init(text: String) {
        self.text = text
        var helped: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if line.hasPrefix("# HELP ") {
                let parts = line.split(separator: " ", maxSplits: 3)
                if parts.count >= 4 { helped.insert(String(parts[2])) } else { problems.append("bad HELP: \(line)") }
                continue
            }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                else {
                    problems.append("bad TYPE: \(line)")
                    continue
                }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let sample = Self.parseSample(String(line)) else {
                problems.append("unparsable sample: \(line)")
                continue
            }
            if !sample.name.hasPrefix("livefeed_") { problems.append("name without livefeed_ prefix: \(line)") }
            if types[sample.name] == nil || !helped.contains(sample.name) {
                problems.append("sample before its HELP and TYPE: \(line)")
            }
            samples.append(sample)
        }
    }

    /// The sample named `name` whose labels are exactly `labels`; nil when absent.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// Like `value`, with an absent sample read as 0 (counters appear once they count something).
    func count(_ name: String, _ labels: [String: String] = [:]) -> Int { Int(value(name, labels) ?? 0) }

    /// Sum over every sample named `name` whose labels include `matching`.
    func sum(_ name: String, matching: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && matching.allSatisfy { s.labels[$0.key] == $0.value } }
            .reduce(0) { $0 + $1.value }
    }

    private static func parseSample(_ line: String) -> Sample? {
        var labels: [String: String] = [:]
        let name: String
        let rest: Substring
        if let brace = line.firstIndex(of: "{") {
            name = String(line[..<brace])
            guard let close = line.lastIndex(of: "}") else { return nil }
            var body = line[line.index(after: brace)..<close]
            while !body.isEmpty {
                guard let eq = body.firstIndex(of: "="), body[body.index(after: eq)...].first == "\"" else {
                    return nil
                }
                let key = String(body[..<eq])
                var value = ""
                var i = body.index(eq, offsetBy: 2)
                var closed = false
                while i < body.endIndex {
                    let ch = body[i]
                    if ch == "\\" {
                        i = body.index(after: i)
                        guard i < body.endIndex else { return nil }
                        value.append(body[i] == "n" ? "\n" : body[i])
                    } else if ch == "\"" {
                        closed = true
                        break
                    } else {
                        value.append(ch)
                    }
                    i = body.index(after: i)
                }
                guard closed else { return nil }
                labels[key] = value
                body = body[body.index(after: i)...]
                if body.first == "," { body = body.dropFirst() }
            }
            rest = line[line.index(after: close)...]
        } else {
            guard let space = line.firstIndex(of: " ") else { return nil }
            name = String(line[..<space])
            rest = line[space...]
        }
        guard let value = Double(rest.trimmingCharacters(in: .whitespaces)) else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }
}

extension ServerProcess {
    /// GETs /metrics (from `sourceAddress` when given), checks its content type and format, and parses it.
    func scrapeMetrics(from sourceAddress: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> MetricsScrape
    {
        let connection = try HTTPConnection(port: port, from: sourceAddress)
        defer { connection.close() }
        let response = try connection.get("/metrics", closeAfter: true)
        guard response.status == 200 else { throw UnexpectedResponse(request: "GET /metrics", response: response) }
        #expect(
            response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true,
            "Content-Type \(response.header("Content-Type") ?? "none")", sourceLocation: sourceLocation)
        let scrape = MetricsScrape(text: String(decoding: response.body, as: UTF8.self))
        #expect(scrape.problems.isEmpty, "\(scrape.problems.prefix(10))", sourceLocation: sourceLocation)
        return scrape
    }

    /// Waits until every connection gauge is back at zero: nothing held by workers (per view, per worker, retiring),
    /// nothing waiting at the door, no client address holding a slot. Returns the final scrape.
    @discardableResult
    func waitForGaugesAtZero(from sourceAddress: String? = nil, timeout: Duration = .seconds(15)) throws
        -> MetricsScrape
    {
        var last: MetricsScrape?
        return try eventuallyValue(timeout: timeout, "every connection gauge at 0; last scrape:\n\(last?.text ?? "")") {
            let scrape = try scrapeMetrics(from: sourceAddress)
            last = scrape
            let zero =
                scrape.sum("livefeed_connections") == 0 && scrape.value("livefeed_connections_open") == 0
                && scrape.value("livefeed_pending_connections") == 0 && scrape.value("livefeed_client_addresses") == 0
                && scrape.sum("livefeed_worker_connections") == 0
                && scrape.value("livefeed_retiring_worker_connections") == 0
                && scrape.value("livefeed_slot_accounting_errors_total") == 0
            return zero ? scrape : nil
        }
    }
}

/// Checks a refusal by the supervisor: the status, a Retry-After of whole seconds when `retryAfter` is expected,
/// and the body: a JSON error with `code` for /api and /live, an HTML page otherwise.
func expectRefusal(
    _ response: HTTPResponse, status: Int, code: String, json: Bool, retryAfter: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, "\(response)", sourceLocation: sourceLocation)
    if retryAfter {
        #expect(
            response.header("Retry-After").flatMap { Int($0) }.map { $0 > 0 } == true,
            "Retry-After in \(response)", sourceLocation: sourceLocation)
    }
    if json {
        #expect(response.hasContentType("application/json"), "\(response)", sourceLocation: sourceLocation)
        let error = (try? response.jsonObject())?.object("error")
        #expect(error?.string("code") == code, "\(response)", sourceLocation: sourceLocation)
        #expect(error?.string("message")?.isEmpty == false, "\(response)", sourceLocation: sourceLocation)
    } else {
        #expect(response.hasContentType("text/html"), "\(response)", sourceLocation: sourceLocation)
        #expect(response.text.contains("<h1>\(status)"), "\(response)", sourceLocation: sourceLocation)
    }
    #expect(response.body.count < 1024, "a short body: \(response.body.count) bytes", sourceLocation: sourceLocation)
}

/// Upgrades `path` and expects a refusal (not a 101); returns the response.
func refusedUpgrade(port: UInt16, path: String, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> HTTPResponse
{
    switch try WebSocketClient.handshake(port: port, path: path) {
    case .upgraded(let client):
        client.close()
        throw SocketError.protocolViolation("\(path) was upgraded; expected a refusal")
    case .refused(let response):
        return response
    }
}
