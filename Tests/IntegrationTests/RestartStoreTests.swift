import Foundation
import Glibc
import Testing

/// `systemctl restart` without systemd: the test's NOTIFY_SOCKET plays systemd's file descriptor store. SIGTERM
/// queued with a number (what `livefeed stop` sends for a restart job) makes the supervisor give every live
/// connection, its own listener and the state file to the store, wait for the barrier, and exit 0; its clients
/// see nothing while the store holds their sockets. The real systemd (restart, new process, restore) is
/// scripts/systemd-walkthrough's.
struct RestartStoreTests {
    @Test func aQueuedSIGTERMPutsEveryLiveConnectionIntoTheStoreAndExits() throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        try withLivefeed(workers: 2, environment: ["NOTIFY_SOCKET": notify.path]) { server in
            try Self.store(server, notify, clients: 6, capacity: 1000)
        }
    }

    /// The store takes fewer than there are: the listener and the state file first, then as many live connections
    /// as fit; the rest are closed with 1012 and resume by cursor, as a stop closes them.
    @Test func whatDoesNotFitTheStoreIsClosedWith1012() throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        try withLivefeed(workers: 1, environment: ["NOTIFY_SOCKET": notify.path]) { server in
            try Self.store(server, notify, clients: 5, capacity: 4)
        }
    }

    private static func store(_ server: ServerProcess, _ notify: NotifySocket, clients: Int, capacity: Int32) throws {
        let api = LivefeedAPI(server)
        let first = try api.post(text: "creates the channel")
        let channel = try api.channelID(named: "general")
        let epoch = try #require(try api.metrics().string("epoch"))
        let streams = try (0..<clients).map { _ in
            try LiveStream.open(
                port: server.port, path: "/live/channels/\(channel)?after_id=\(first)", expectedEpoch: epoch)
        }
        defer { streams.forEach { $0.close() } }
        let posted = [try api.post(text: "before the restart")]
        for stream in streams { try stream.expectMessages(posted) }
        try notify.wait(for: "READY=1") { $0.has("READY", "1") }

        #expect(sigqueue(server.pid, SIGTERM, sigval(sival_int: capacity)) == 0)
        try notify.wait(for: "BARRIER=1", timeout: .seconds(30)) { $0.has("BARRIER", "1") }
        #expect(server.stop() == .exited(0))

        var stored: [String: [Int32]] = [:]
        for message in notify.received where message.has("FDSTORE", "1") {
            stored[message.value("FDNAME") ?? "", default: []] += message.fds
        }
        let room = min(clients, Int(capacity) - 2)
        #expect(stored["live"]?.count == room, "\(stored.mapValues(\.count))")
        #expect(stored["http"]?.count == 1, "the listener it bound itself")
        let state = try #require(stored["livefeed-state"]?.first)
        var head = [UInt8](repeating: 0, count: 8)
        #expect(pread(state, &head, 8, 0) == 8)
        #expect(Array(head[0..<4]) == Array("LFS1".utf8) && Int(head[4]) == room, "\(head)")
        // The stored sockets are the server ends of this server's live connections.
        for fd in stored["live"] ?? [] {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            #expect(named == 0 && UInt16(bigEndian: address.sin_port) == server.port)
        }
        let record = try #require(server.logLines().last { $0.string("event") == "restart_stored" })
        #expect(record.int("live") == room && record.int("capacity") == Int(capacity), "\(record.jsonText)")

        // Held by the store, `room` clients hear nothing; the rest got the 1012 of a stop.
        var held: [LiveStream] = []
        var closed1012 = 0
        for stream in streams {
            do {
                // A count the worker sent before it gave the connection back may still be unread; nothing else.
                while true {
                    let envelope = try stream.nextEnvelope(timeout: .milliseconds(400))
                    if envelope.string("type") != "channel_count" { Issue.record("a stored client received \(envelope)") }
                }
            } catch let ended as WebSocketEnded {
                if case .closeFrame(let code, _) = ended.ending, code == 1012 { closed1012 += 1 }
                else { Issue.record("a client ended with \(ended.ending)") }
            } catch SocketError.timedOut {
                held.append(stream)
            }
        }
        #expect(held.count == room && closed1012 == clients - room, "held \(held.count), closed with 1012 \(closed1012)")
        // The store let go (a stop would flush it): the clients' connections end.
        notify.closeDescriptors()
        for stream in held { #expect(try stream.awaitEnding() == .endOfStream) }
    }
}
