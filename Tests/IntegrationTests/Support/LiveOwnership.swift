import Glibc

extension ServerProcess {
    /// The worker process holding the server side of `stream`, among `workers` (waits up to 5 s for exactly one).
    func worker(holding stream: LiveStream, among workers: [Int: pid_t]) throws -> pid_t {
        try eventuallyValue(timeout: .seconds(5), "a worker holding the live connection") { () -> pid_t? in
            let holders = ProcessOwnership.holdersOfServerSide(
                serverPort: port, clientPort: stream.client.localPort, among: Array(workers.values))
            return holders.count == 1 ? holders[0] : nil
        }
    }
}
