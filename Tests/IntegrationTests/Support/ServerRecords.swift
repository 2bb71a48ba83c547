import Foundation

/// Reading what the server says about one client connection: its `connection_closed` records on stderr (matched by
/// the client's port in the `client` field, `127.0.0.1:PORT`) and the supervisor's Prometheus counters.
extension ServerProcess {
    /// The `connection_closed` records of the connection whose client side is `clientPort`.
    func connectionClosedRecords(clientPort: UInt16) -> [[String: Any]] {
        logLines().filter { record in
            record.string("event") == "connection_closed"
                && record.string("client")?.hasSuffix(":\(clientPort)") == true
        }
    }

    /// Waits for the `connection_closed` record of the connection whose client side is `clientPort`.
    @discardableResult
    func waitForConnectionClosed(clientPort: UInt16, timeout: Duration = .seconds(10)) throws -> [String: Any] {
        try waitForLog("connection_closed for client port \(clientPort)", timeout: timeout) { record in
            record.string("event") == "connection_closed"
                && record.string("client")?.hasSuffix(":\(clientPort)") == true
        }
    }

    /// The supervisor's `/metrics` samples, keyed by the sample's name with its labels as written
    /// (`livefeed_connections_closed_total{reason="slow_consumer"}`).
    func prometheusSamples() throws -> [String: Double] {
        let response = try http.get("/metrics")
        guard response.status == 200 else { throw UnexpectedResponse(request: "GET /metrics", response: response) }
        var samples: [String: Double] = [:]
        for line in response.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}
