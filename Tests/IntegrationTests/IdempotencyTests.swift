import Foundation
import Glibc
import Testing

/// Exactly-once ingest: a POST with an `Idempotency-Key` can be retried after any failure and is stored once.
struct IdempotencyTests {
    static func post(_ server: ServerProcess, key: String?, _ body: String) throws -> HTTPResponse {
        let connection = try HTTPConnection(port: server.port)
        defer { connection.close() }
        var headers = [("Content-Type", "application/json")]
        if let key { headers.append(("Idempotency-Key", key)) }
        return try connection.request("POST", "/api/messages", headers: headers, body: Array(body.utf8), closeAfter: true)
    }

    /// A key must be one key: empty, too long, not visible ASCII, or two of them (which a retry might send in the
    /// other order) is refused and nothing is written.
    @Test func malformedOrRepeatedKeysAreRefusedAndWriteNothing() throws {
        try withLivefeed(workers: 1) { server in
            let body = Array(#"{"channel":"general","user":"alice","text":"once"}"#.utf8)
            for keys in [[""], [String(repeating: "k", count: 256)], ["caf\u{e9}"], ["one", "two"], ["same", "same"]] {
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                let headers = [("Content-Type", "application/json")] + keys.map { ("Idempotency-Key", $0) }
                let response = try connection.request("POST", "/api/messages", headers: headers, body: body, closeAfter: true)
                #expect(response.status == 400, "\(keys.map { $0.prefix(8) }): \(response)")
                #expect(try response.jsonObject().object("error")?.string("code") == "invalid_idempotency_key")
            }
            #expect(try LivefeedAPI(server).metrics().int("messages") == 0)
        }
    }

    @Test func aRepeatedKeyAnswersTheFirstIdsWithoutWriting() throws {
        try withLivefeed { server in
            let body = #"[{"channel":"general","user":"alice","text":"one"},{"channel":"general","user":"bob","text":"two"}]"#
            let first = try Self.post(server, key: "order-17", body)
            #expect(first.status == 201, "\(first)")
            let ids = try first.jsonObject()["ids"] as? [Int]
            // The same messages spelled differently (spacing, key order) are the same request.
            let respelled = #"[ {"text":"one", "user":"alice","channel":"general"}, {"user":"bob","channel":"general","text":"two"} ]"#
            for retry in [body, respelled] {
                let again = try Self.post(server, key: "order-17", retry)
                #expect(again.status == 200, "\(again)")
                #expect(again.header("Idempotent-Replayed") == "true")
                let answer = try again.jsonObject()
                #expect(answer["ids"] as? [Int] == ids)
                #expect(answer["replayed"] as? Bool == true)
            }
            let other = try Self.post(server, key: "order-17", #"{"channel":"general","user":"alice","text":"three"}"#)
            #expect(other.status == 422, "\(other)")
            #expect(try other.jsonObject().object("error")?.string("code") == "idempotency_key_reused")
            #expect(try LivefeedAPI(server).metrics().int("messages") == 2)

            for bad in ["", String(repeating: "k", count: 256), "has space", "é"] {
                let response = try Self.post(server, key: bad, body)
                #expect(response.status == 400, "key \(bad.debugDescription): \(response)")
            }
            let unkeyed = try Self.post(server, key: nil, body)
            #expect(unkeyed.status == 201, "without a key a request is new each time")
            #expect(try LivefeedAPI(server).metrics().int("messages") == 4)
        }
    }

    /// A writer that retries every failure while workers are killed under it stores every message exactly once.
    @Test func aWriterRetryingThroughWorkerKillsStoresEveryMessageOnce() throws {
        try withLivefeed(workers: 2) { server in
            server.isExpectedErrorRecord = { ($0.string("event") ?? "").hasPrefix("worker_") }
            let count = 400
            let supervisor = server.pid
            let killer = BackgroundWork<Int>("killer") { shouldStop in
                var kills = 0
                let deadline = ContinuousClock.now + .seconds(60)
                while !shouldStop() && kills < 12 && ContinuousClock.now < deadline {
                    usleep(40_000)
                    guard let victim = Self.workerPIDs(of: supervisor).randomElement() else { continue }
                    kill(victim, SIGKILL)
                    kills += 1
                }
                return kills
            }
            defer { killer.stop() }
            var failures = 0
            let deadline = ContinuousClock.now + .seconds(90)
            for i in 0..<count {
                let body = #"{"channel":"chaos","user":"writer","text":"message \#(i)"}"#
                while true {
                    precondition(ContinuousClock.now < deadline, "the writer made no progress for 90 s")
                    if let response = try? Self.post(server, key: "chaos-\(i)", body), response.status == 201
                        || response.status == 200
                    {
                        break
                    }
                    failures += 1
                    usleep(20_000)
                }
            }
            killer.stop()
            let kills = try killer.join(timeout: .seconds(10))
            let sqlite = SQLiteWriter(databasePath: server.databasePath)
            let rows = try sqlite.execute(
                "SELECT text, count(*) FROM messages WHERE text LIKE 'message %' GROUP BY text HAVING count(*) != 1;")
            #expect(rows.isEmpty, "stored other than once: \(rows)")
            let stored = try sqlite.execute("SELECT count(*) FROM messages WHERE text LIKE 'message %';")
            #expect(stored == "\(count)\n")
            #expect(kills > 0)
            print("idempotent writer: \(count) messages, \(kills) worker kills, \(failures) failed attempts retried")
        }
    }

    /// The serving workers of `supervisor`, from /proc (the supervisor's children running livefeed-worker serve).
    static func workerPIDs(of supervisor: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let stat = ProcFile.readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == supervisor else { return false }
            let cmdline = ProcFile.read("/proc/\(pid)/cmdline") ?? []
            return cmdline.split(separator: 0).dropFirst().first.map { String(decoding: $0, as: UTF8.self) } == "serve"
        }
    }
}
