import CLinux
import Glibc
import LivefeedProtocol
import Testing

@testable import Supervisor

/// The state file a restart or an upgrade leaves for the next process: states matched to sockets by identity,
/// never by order (systemd's file descriptor store hands them back in an order of its own).
@Suite struct CarriedStateTests {
    static func state(_ id: UInt64, cursor: Int64) -> LiveHandover {
        LiveHandover(
            connectionID: id, view: .channel, path: "/live/channels/\(id)", format: id % 2 == 0 ? "json" : "html",
            cursor: cursor, epoch: "e-\(id)", silentMilliseconds: 5, pingAgeMilliseconds: -1, ageMilliseconds: 1000,
            framesSent: 3, bytesSent: 300, framesDropped: 0, client: "127.0.0.\(id):4000")
    }

    @Test func roundTripsIdentitiesAndStatesInOrder() throws {
        let entries = (1...50).map { (identity: UInt64(1000 + $0 * 7), state: Self.state(UInt64($0), cursor: Int64($0) * 10)) }
        let decoded = try #require(CarriedState.decode(CarriedState.encode(entries)))
        #expect(decoded.map(\.identity) == entries.map(\.identity))
        #expect(decoded.map(\.state) == entries.map(\.state))
        #expect(CarriedState.decode(CarriedState.encode([]))?.isEmpty == true)
    }

    @Test func refusesWhatDoesNotAddUp() {
        let bytes = CarriedState.encode([(7, Self.state(1, cursor: 1)), (8, Self.state(2, cursor: 2))])
        #expect(CarriedState.decode([]) == nil)
        #expect(CarriedState.decode(Array("LFS0".utf8) + bytes.dropFirst(4)) == nil, "wrong magic")
        for cut in [5, 8, 16, 23, bytes.count - 1] {
            #expect(CarriedState.decode(Array(bytes.prefix(cut))) == nil, "cut at \(cut)")
        }
        var moreCounted = bytes
        moreCounted[4] = 3  // says three, holds two
        #expect(CarriedState.decode(moreCounted) == nil)
        var huge = bytes
        huge[7] = 0x7f  // a count no file of this size can hold
        #expect(CarriedState.decode(huge) == nil)
        // Another record where a live state belongs.
        let foreign = Array(bytes.prefix(24)) + RecordCodec.encode(.workerReady(pid: 1)) + RecordCodec.encode(.workerReady(pid: 2))
        #expect(CarriedState.decode(foreign) == nil)
    }

    /// Sockets passed in another order than their states, one state whose socket is gone (its client hung up while
    /// the store held it) and one socket without a state: each socket gets its own state, the stray socket is closed.
    @Test func takeCarriedMatchesStatesToSocketsByIdentity() throws {
        var pairs: [[Int32]] = []
        for _ in 0..<4 {
            var sv: [Int32] = [0, 0]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
            pairs.append(sv)
        }
        defer { for p in pairs { close(p[1]) } }
        let sockets = pairs.map { $0[0] }
        // States for sockets 0, 1, 2 and a vanished one; socket 3 has none.
        var entries = (0..<3).map { (identity: CarriedState.identity(of: sockets[$0]), state: Self.state(UInt64($0 + 1), cursor: Int64($0) * 100)) }
        entries.insert((identity: 999_999_999, state: Self.state(77, cursor: 7)), at: 1)
        let bytes = CarriedState.encode(entries)
        let stateFD = try #require(Optional(lf_memfd("livefeed-state")).flatMap { $0 >= 0 ? $0 : nil })
        #expect(bytes.withUnsafeBytes { write(stateFD, $0.baseAddress, $0.count) } == bytes.count)
        lseek(stateFD, 0, SEEK_SET)
        var stateFile = stat()
        #expect(fstat(stateFD, &stateFile) == 0)

        // In the order systemd might pass them: live sockets reversed, the state file in between.
        let order: [(fd: Int32, name: String)] =
            [(sockets[3], "live"), (sockets[2], "live"), (stateFD, "livefeed-state"), (sockets[1], "live"), (sockets[0], "live")]
        let expected = Dictionary(uniqueKeysWithValues: (0..<3).map { (CarriedState.identity(of: sockets[$0]), Int64($0) * 100) })
        let carried = SocketActivation.takeCarried(names: order.map(\.name), descriptor: { order[$0].fd })
        #expect(carried.live.count == 3)
        for l in carried.live {
            #expect(expected[CarriedState.identity(of: l.fd.rawValue)] == l.state.cursor)
            l.fd.close()
        }
        // Closed, asked of the objects rather than the descriptor numbers: tests run in parallel in this process, and
        // another may already have been given the same number for a file of its own. The socket's peer sees its
        // end of file; the number no longer names the state file (closed, or another file now).
        var byte: UInt8 = 0
        #expect(recv(pairs[3][1], &byte, 1, Int32(MSG_DONTWAIT)) == 0, "the socket without a state is closed")
        var now = stat()
        #expect(
            fstat(stateFD, &now) != 0 || now.st_dev != stateFile.st_dev || now.st_ino != stateFile.st_ino,
            "the state file is closed once read")
    }
}

/// `livefeed stop`: what systemd's answer means for the connections.
@Suite struct StopPlanTests {
    @Test func onlyARestartOfAUnitWithAStoreKeepsConnections() {
        func plan(_ type: String, _ max: UInt32) -> Int32? {
            StopCommand.plan(.success(SystemdJob.Job(type: type, fdStoreMax: max))).keepConnections
        }
        #expect(plan("restart", 65536) == 65536)
        #expect(plan("try-restart", 100) == 100)
        #expect(plan("restart", 0) == nil, "no store: a stop")
        #expect(plan("stop", 65536) == nil)
        #expect(plan("", 65536) == nil, "no job (systemctl kill, a plain kill)")
        #expect(plan("reload", 65536) == nil)
        #expect(plan("restart", UInt32.max) == Int32.max, "the store's size is clamped to what sigqueue carries")
        let unreachable = StopCommand.plan(.failure(.bus("no system bus: No such file or directory")))
        #expect(unreachable.keepConnections == nil && unreachable.reason.contains("no system bus"))
    }
}
