import Foundation
import Glibc
import Testing

/// `--channel-affinity N`: the supervisor gives a channel's live subscribers to one worker until it holds N of
/// them, then to another; a reload's moves follow the same rule. Read from the supervisor's own records of which
/// worker opened (or took over) each connection.
struct ChannelPlacementTests {
    /// The worker index the supervisor logged `event` under for the connection from `clientPort`.
    static func worker(_ server: ServerProcess, _ event: String, clientPort: UInt16) throws -> Int {
        let line = try server.waitForLog("\(event) for client port \(clientPort)") {
            $0.string("event") == event && $0.string("client")?.hasSuffix(":\(clientPort)") == true
        }
        return try #require(line.int("worker"), "\(line.jsonText)")
    }

    /// The worker index of every `event` record the supervisor has logged so far.
    static func workers(_ server: ServerProcess, _ event: String) -> [Int] {
        server.logLines().filter { $0.string("event") == event }.compactMap { $0.int("worker") }
    }

    /// How many of `placed` each worker has, smallest first.
    static func perWorker(_ placed: [Int]) -> [Int] {
        Dictionary(grouping: placed, by: { $0 }).mapValues(\.count).values.sorted()
    }

    /// Posts the first message to `general` (creating it) and waits for both workers: a subscriber's path to the
    /// channel from that message on.
    static func generalPath(_ server: ServerProcess, _ api: LivefeedAPI) throws -> String {
        let first = try api.post(text: "creates general")
        let general = try api.channelID(named: "general")
        _ = try server.waitForWorkers(2)
        return "/live/channels/\(general)?after_id=\(first)"
    }

    @Test func aChannelsSubscribersShareAWorkerUpToTheBoundAndMoveThatWay() throws {
        try withLivefeed(workers: 2, arguments: ["--channel-affinity", "3"]) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "creates general")
            _ = try api.post(channel: "random", text: "creates random")
            let general = try api.channelID(named: "general")
            let random = try api.channelID(named: "random")
            _ = try server.waitForWorkers(2)

            func open(_ channel: Int) throws -> (LiveStream, Int) {
                let s = try LiveStream.open(port: server.port, path: "/live/channels/\(channel)?after_id=\(first)")
                return (s, try Self.worker(server, "connection_opened", clientPort: s.client.localPort))
            }
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            var placed: [Int] = []
            for _ in 0..<4 {
                let (s, w) = try open(general)
                streams.append(s)
                placed.append(w)
            }
            // Three together (the bound), the fourth on the other worker.
            #expect(placed[0] == placed[1] && placed[1] == placed[2], "placed on \(placed)")
            #expect(placed[3] != placed[0], "placed on \(placed)")
            let home = placed[0]

            // Both workers fan out to their share: every subscriber gets the message once.
            let live = try api.post(text: "to all four")
            for s in streams { try s.expectMessages([live]) }

            // One leaves the home: it is below the bound again, and fuller than the other, so the next goes there.
            let leaving = streams.removeFirst()
            let leavingPort = leaving.client.localPort
            leaving.close()
            _ = try server.waitForConnectionClosed(clientPort: leavingPort)
            let (fifth, fifthWorker) = try open(general)
            streams.append(fifth)
            #expect(fifthWorker == home)

            // Another channel is placed on its own account.
            let (other, _) = try open(random)
            streams.append(other)
            // Operators see it: general on both workers, random on one; the status page says how big the largest is.
            let scrape = try server.scrapeMetrics()
            #expect(scrape.sum("livefeed_worker_channels") == 3)
            #expect(scrape.count("livefeed_worker_channels", ["worker": String(home)]) >= 1)
            let status = try server.http.get("/status")
            #expect(status.text.contains("(largest 3)"), "\(status.text)")

            // A reload moves them to the new workers by the same rule: general's four split three and one.
            server.send(SIGHUP)
            var moved: [String: [Int]] = [:]
            for s in streams {
                let port = s.client.localPort
                let w = try Self.worker(server, "connection_moved", clientPort: port)
                moved[s === other ? "random" : "general", default: []].append(w)
            }
            let generalMoved = try #require(moved["general"])
            let counts = Self.perWorker(generalMoved)
            #expect(counts == [1, 3], "general moved to workers \(generalMoved)")
            // Still served, each by its new worker.
            let after = try api.post(text: "after the reload")
            let afterRandom = try api.post(channel: "random", text: "after the reload")
            for s in streams {
                let id = s === other ? afterRandom : after
                _ = try s.next("message \(id) after the reload") { LiveStream.messageID($0) == id }
            }
        }
    }

    /// A connection whose first request is `POST /api/messages` goes to the worker holding the channel subscribers,
    /// which stores each message and fans it out itself. (Placed by load, as before, each landed there with a
    /// chance of one in four: five in a row by chance is one in a thousand.)
    @Test func aPublisherGoesToTheWorkerHoldingTheChannelsSubscribers() throws {
        try withLivefeed(workers: 2) { server in
            let api = LivefeedAPI(server)
            let path = try Self.generalPath(server, api)
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            var placed: [Int] = []
            for _ in 0..<3 {
                let s = try LiveStream.open(port: server.port, path: path)
                streams.append(s)
                placed.append(try Self.worker(server, "connection_opened", clientPort: s.client.localPort))
            }
            #expect(Set(placed).count == 1, "subscribers placed on \(placed)")
            let home = placed[0]
            for i in 0..<5 {
                let publisher = try HTTPConnection(port: server.port)
                defer { publisher.close() }
                let body = #"{"channel":"general","user":"alice","text":"from publisher \#(i)"}"#
                let response = try publisher.post("/api/messages", body: Array(body.utf8), closeAfter: true)
                #expect(response.status == 201, "\(response.text)")
                // An HTTP connection's worker is in its close record (`connection_opened` is for live upgrades).
                #expect(try Self.worker(server, "connection_closed", clientPort: publisher.localPort) == home)
                let ids = try response.jsonObject()["ids"] as? [Any] ?? []
                let id = try #require(ids.first.flatMap(jsonInt), "\(response.text)")
                for s in streams { try s.expectMessages([id]) }
            }
        }
    }

    /// A channel bigger than one worker's descriptor table spills to the other worker before that table is full:
    /// with 240 descriptors (workers inherit them) a worker has room for 176 connections, so of 235 subscribers
    /// (fewer than the default bound of 10,000) 176 share a worker and the rest go to the other, and every one is
    /// live and served. Without the room, all went to one worker, whose table ran out near the end: the kernel
    /// dropped the descriptors in flight and those clients were reset during their handshake.
    @Test func aChannelSpillsBeforeItsWorkersDescriptorsRunOut() throws {
        let launch = ServerProcess.Launch(wrapper: ["/usr/bin/prlimit", "--nofile=240:240", "--"])
        let arguments = ["--max-per-client", "1000", "--max-live", "1000"]
        try withLivefeed(workers: 2, arguments: arguments, launch: launch) { server in
            let api = LivefeedAPI(server)
            let path = try Self.generalPath(server, api)
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            for _ in 0..<235 { streams.append(try LiveStream.open(port: server.port, path: path)) }
            let live = try api.post(text: "to all of them")
            for s in streams { try s.expectMessages([live]) }
            let counts = Self.perWorker(Self.workers(server, "connection_opened"))
            #expect(counts == [59, 176], "live connections opened per worker: \(counts)")
            #expect(!server.logLines().contains { $0.string("event") == "handoff_without_descriptor" })
        }
    }

    /// A reload shares a big channel's handover between the new workers: its moves keep a channel together only up
    /// to `maxMoveAffinity` (1,000) per worker, whatever `--channel-affinity` says, because one worker adopting a
    /// whole big channel while fanning out took several times as long. 1,100 subscribers on one worker before
    /// the reload (the bound is 2,000) are 1,000 and 100 after it, every one still served.
    @Test func aReloadSharesABigChannelsMovesBetweenTheNewWorkers() throws {
        let arguments = ["--channel-affinity", "2000", "--max-per-client", "2000", "--max-live", "2000"]
        try withLivefeed(workers: 2, arguments: arguments) { server in
            let api = LivefeedAPI(server)
            let path = try Self.generalPath(server, api)
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            for _ in 0..<1100 { streams.append(try LiveStream.open(port: server.port, path: path)) }
            var opened: [Int] = []
            try eventually("1,100 connection_opened records") {
                opened = Self.workers(server, "connection_opened")
                return opened.count >= 1100
            }
            #expect(Set(opened).count == 1, "opened on workers \(Set(opened))")
            server.send(SIGHUP)
            var moved: [Int] = []
            try eventually(timeout: .seconds(30), "1,100 connection_moved records") {
                moved = Self.workers(server, "connection_moved")
                return moved.count >= 1100
            }
            let counts = Self.perWorker(moved)
            #expect(counts == [100, 1000], "moved per worker: \(counts)")
            let after = try api.post(text: "after the reload")
            for s in streams { try s.expectMessages([after]) }
        }
    }

    /// A burst of joins waits for the channel's worker even when its control socket is full (the worker is stopped
    /// with SIGSTOP while the burst arrives, its socket shrunk as in `HandoffQueueTests`), up to
    /// `maxWaitingForChannel`; past that the rest go to the other worker rather than wait for their head deadline.
    @Test func aBurstWaitsForTheChannelsWorkerUpToABound() throws {
        let environment = ["LIVEFEED_CONTROL_SNDBUF": "8192"]
        try withLivefeed(workers: 2, arguments: ["--max-per-client", "1000"], environment: environment) { server in
            let api = LivefeedAPI(server)
            _ = try api.post(text: "creates general")
            let general = try api.channelID(named: "general")
            let pids = try server.waitForWorkers(2)
            let first = try LiveStream.open(port: server.port, path: "/live/channels/\(general)")
            defer { first.close() }
            let home = try Self.worker(server, "connection_opened", clientPort: first.client.localPort)
            let homePID = try #require(pids[home])
            kill(homePID, SIGSTOP)
            var stopped = true
            defer { if stopped { kill(homePID, SIGCONT) } }

            func burst(_ n: Int) throws -> [HTTPConnection] {
                try (0..<n).map { _ in
                    let c = try HTTPConnection(port: server.port)
                    try c.send("GET", "/live/channels/\(general)", closeAfter: true)
                    return c
                }
            }
            // Where the burst went: held by the stopped home worker, waiting in its queue, or served and closed
            // already, which only the other worker can have done.
            func placed() throws -> (home: Int, queued: Int, servedElsewhere: Int, pending: Int) {
                let scrape = try server.scrapeMetrics()
                return (
                    scrape.count("livefeed_worker_connections", ["worker": String(home)]),
                    scrape.count("livefeed_handoffs_queued"),
                    Int(scrape.sum("livefeed_connections_closed_total", matching: ["view": "channel"]))
                        + scrape.count("livefeed_worker_connections", ["worker": String(1 - home)]),
                    scrape.count("livefeed_pending_connections"))
            }
            // 200 fit in the home's socket and queue: none goes elsewhere.
            var connections = try burst(200)
            defer { connections.forEach { $0.close() } }
            var last = (home: 0, queued: 0, servedElsewhere: 0, pending: 0)
            try eventually(timeout: .seconds(8), "the first burst placed; last \(last)") {
                last = try placed()
                return last.pending == 0 && last.home + last.queued + last.servedElsewhere == 201
            }
            #expect(last.servedElsewhere == 0 && last.queued > 0, "\(last)")
            // 300 more: the queue stops taking them at its bound, and the rest go to the other worker.
            connections += try burst(300)
            try eventually(timeout: .seconds(8), "the second burst placed; last \(last)") {
                last = try placed()
                return last.pending == 0 && last.home + last.queued + last.servedElsewhere == 501
            }
            #expect(last.servedElsewhere > 0 && last.queued <= 256, "\(last)")
            kill(homePID, SIGCONT)
            stopped = false
            // Every one of them is answered (a plain GET on a live path is refused by the worker that holds it).
            for c in connections { _ = try c.readResponse(timeout: .seconds(20)) }
        }
    }
}
