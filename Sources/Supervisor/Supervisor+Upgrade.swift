import CSystemd
import CLinux
import Glibc
import LivefeedProtocol

/// `livefeed upgrade PID` (SIGUSR2): the supervisor replaces itself (a new binary at the same path, or the same
/// one) without closing a connection. It stops accepting (the listen backlog holds what arrives meanwhile), has every
/// worker move its live connections back (as a reload with handover does) and holds them instead of placing them,
/// parks admitted connections that wait for a worker, waits for the workers to exit, and then re-executes itself
/// with the listeners, the held connections and their states passed as systemd would pass sockets (`LISTEN_FDS`,
/// `LISTEN_FDNAMES`: `http`/`metrics` listeners, `live` connections whose states are in the `livefeed-state`
/// file, and `pending-http`/`pending-metrics` connections whose request head the new process reads again). The new
/// process starts its workers and gives each connection to one of them; clients see no close. If the exec fails,
/// the held live connections are closed with 1012 (they resume by cursor) and a new generation of workers starts.
extension Supervisor {
    /// Where the held connections go once the workers are gone.
    enum Successor: Equatable {
        /// `livefeed upgrade` (SIGUSR2): this process re-executes itself and passes them over the exec.
        case exec
        /// `systemctl restart` (SIGTERM queued by `livefeed stop` with the store's size): into systemd's file
        /// descriptor store, for the next process systemd starts; at most `capacity` descriptors.
        case fdStore(capacity: Int)

        var name: String {
            switch self {
            case .exec: "exec"
            case .fdStore: "fdstore"
            }
        }
    }

    struct Upgrade {
        var startedAt: UInt64
        /// Exec by then even if a worker is still draining (its socket closes with the exec and it exits).
        var deadline: UInt64
        var successor: Successor
        var carried: [(fd: FileDescriptor, state: LiveHandover)] = []
        var parked: [QueuedHandoff] = []
    }

    /// Starts an upgrade; false (and an `upgrade_refused` record) when one cannot start now.
    @discardableResult
    func beginUpgrade(successor: Successor = .exec) -> Bool {
        guard !stopping, reload == nil, upgrade == nil, announcedReady else {
            journal.emit(.warning, .upgradeRefused, ["successor": .string(successor.name), "reason": .string(
                stopping ? "stopping" : reload != nil ? "a reload is under way" : upgrade != nil
                    ? "an upgrade is under way" : "still starting")])
            return false
        }
        let now = clock.nowMilliseconds
        upgrade = Upgrade(
            startedAt: now,
            deadline: now + config.drainMilliseconds + UInt64(Record.handoverGraceMilliseconds) + 2000,
            successor: successor)
        journal.emit(.info, .upgradeStarted, [
            "connections": .int(Int64(handed.count)), "successor": .string(successor.name),
        ])
        if successor == .exec {
            notifier.send([.reloading(monotonicMicroseconds: clock.nowNanoseconds / 1000), .status("upgrading")])
        } else {
            // systemd's stop timeout must cover the workers' moves and the store: to the deadline and 5 s more.
            notifier.send([.stopping, .status("restarting: keeping connections in the file descriptor store"),
                           .extendTimeout(microseconds: (upgrade!.deadline - now + 5000) * 1000)])
        }
        for l in listeners { epoll.remove(l.listener.fd) }
        stopHelpers()
        signalHelpers(SIGTERM)
        // Retiring a worker redistributes what waits for its socket, which `dispatchHandoff` now parks here.
        for slot in workers.all where slot.hasProcess {
            retire(slot, retryAfterMilliseconds: config.reloadRetryAfterMilliseconds, now: now, handover: true)
        }
        return true
    }

    /// `systemctl restart` (see `StopCommand`): keep every connection in systemd's store for the next process;
    /// when that cannot start (a reload under way, still starting), the stop it also is.
    func beginRestart(capacity: Int) {
        guard notifier.isEnabled, beginUpgrade(successor: .fdStore(capacity: capacity)) else {
            return beginStop(signal: SIGTERM)
        }
    }

    /// A live connection a worker gave back during an upgrade: held for the next process.
    func carry(_ fd: FileDescriptor, _ state: LiveHandover) {
        upgrade?.carried.append((fd, state))
    }

    /// An admitted connection that would go to a worker during an upgrade: held for the next process, which reads
    /// its request head again (it was only peeked at).
    func park(_ h: QueuedHandoff) {
        upgrade?.parked.append(h)
    }

    /// Called every loop turn: once every worker and helper is gone, or at the deadline, exec.
    func checkUpgrade(now: UInt64) {
        guard let u = upgrade else { return }
        let workersGone = workers.all.allSatisfy { !$0.hasProcess } && helpersGone
        guard workersGone || now >= u.deadline else { return }
        switch u.successor {
        case .exec: execUpgrade(u)
        case .fdStore(let capacity): storeForRestart(u, capacity: capacity)
        }
    }

    /// The held live connections' states, in a memfd the next process reads (`CarriedState`).
    private func stateFile(_ carried: [(fd: FileDescriptor, state: LiveHandover)]) -> Int32? {
        let bytes = CarriedState.encode(carried.map { (CarriedState.identity(of: $0.fd.rawValue), $0.state) })
        let stateFD = lf_memfd("livefeed-state")
        guard stateFD >= 0 else { return nil }
        guard bytes.withUnsafeBytes({ Glibc.write(stateFD, $0.baseAddress, $0.count) }) == bytes.count else {
            close(stateFD)
            return nil
        }
        lseek(stateFD, 0, SEEK_SET)
        return stateFD
    }

    /// Heads not finished yet, and admitted ones that waited for a worker: read again by the next process.
    private func pendingToPass(_ u: Upgrade) -> [(fd: Int32, name: String)] {
        let roles = pending.values.map { ($0.fd.rawValue, $0.role) } + u.parked.map { ($0.connection.fd.rawValue, $0.connection.role) }
        return roles.map { ($0.0, $0.1 == .metrics ? "pending-metrics" : "pending-http") }
    }

    private func execUpgrade(_ u: Upgrade) {
        var passed: [(fd: Int32, name: String)] = listeners.map {
            ($0.listener.fd.rawValue, $0.role == .metrics ? "metrics" : "http")
        }
        guard let stateFD = stateFile(u.carried) else {
            // Without their states the connections cannot go on elsewhere: better a reconnect than a bare close.
            return upgradeFailed(u, stateFD: -1, "the state file: \(String(cString: strerror(errno)))")
        }
        passed.append((stateFD, "livefeed-state"))
        passed += u.carried.map { ($0.fd.rawValue, "live") }
        let pendingPassed = pendingToPass(u)
        passed += pendingPassed
        journal.emit(
            .info, .upgradeExec,
            [
                "path": .string(config.executablePath), "live": .int(Int64(u.carried.count)),
                "pending": .int(Int64(pendingPassed.count)), "waited_ms": .int(Int64(clock.nowMilliseconds - u.startedAt)),
            ])
        let arguments = [config.executablePath] + config.arguments
        var environment = config.environment.filter { !$0.key.hasPrefix("LISTEN_") }.map { "\($0.key)=\($0.value)" }
        environment += [
            "LISTEN_PID=\(getpid())", "LISTEN_FDS=\(passed.count)",
            "LISTEN_FDNAMES=\(passed.map(\.name).joined(separator: ":"))",
        ]
        // Checked first: past this point a failure leaves descriptors rearranged, and the process can only exit.
        guard access(config.executablePath, X_OK) == 0 else {
            return upgradeFailed(u, stateFD: stateFD, String(cString: strerror(errno)))
        }
        let error = Exec.replace(
            path: config.executablePath, arguments: arguments, environment: environment, fds: passed.map(\.fd))
        journal.emit(.error, .upgradeFailed, ["error": .string("exec: \(String(cString: strerror(error)))")])
        exit(1)  // systemd restarts the service; clients resume by cursor
    }

    /// `systemctl restart`: the held connections, their states and the pending heads go to systemd's file
    /// descriptor store (sd_pid_notify_with_fds(3), `FDSTORE=1` with `FDNAME=`), then a barrier makes sure systemd
    /// has them all before this process exits. Listeners the socket units hold stay there; ones this process bound
    /// go to the store too (`http`, `metrics`), so the next process listens on them without a gap. What does not
    /// fit the store's size is closed as a stop closes it. If systemd does not take them, this is a stop.
    private func storeForRestart(_ u: Upgrade, capacity: Int) {
        var u = u
        let ownListeners: [(fd: Int32, name: String)] =
            socketActivated ? [] : listeners.map { ($0.listener.fd.rawValue, $0.role == .metrics ? "metrics" : "http") }
        var room = max(0, capacity - 1 - ownListeners.count)
        if u.carried.count > room {
            for c in u.carried[room...] {
                closeMove(QueuedMove(fd: c.fd, state: c.state, from: -1), reason: "fd_store_full")
            }
            u.carried.removeSubrange(room...)
        }
        room -= u.carried.count
        // Heads beyond the room are not passed: they close with this process (their clients retry).
        let pendingPassed = Array(pendingToPass(u).prefix(room))
        guard let stateFD = stateFile(u.carried) else {
            return restartStoreFailed(u, names: [], "the state file: \(String(cString: strerror(errno)))")
        }
        var groups: [(name: String, fds: [Int32])] = [("livefeed-state", [stateFD]), ("live", u.carried.map { $0.fd.rawValue })]
        groups.append(("pending-http", pendingPassed.filter { $0.name == "pending-http" }.map(\.fd)))
        groups.append(("pending-metrics", pendingPassed.filter { $0.name == "pending-metrics" }.map(\.fd)))
        for name in ["http", "metrics"] { groups.append((name, ownListeners.filter { $0.name == name }.map(\.fd))) }
        var stored: [String] = []
        for group in groups where !group.fds.isEmpty {
            stored.append(group.name)
            // SCM_RIGHTS carries at most 253 descriptors a message (SCM_MAX_FD).
            var start = 0
            while start < group.fds.count {
                let chunk = Array(group.fds[start..<min(group.fds.count, start + 253)])
                let r = chunk.withUnsafeBufferPointer {
                    sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(group.name)", $0.baseAddress, UInt32($0.count))
                }
                guard r > 0 else {
                    close(stateFD)
                    return restartStoreFailed(
                        u, names: stored, r == 0 ? "no NOTIFY_SOCKET" : "FDSTORE: \(String(cString: strerror(-r)))")
                }
                start += chunk.count
            }
        }
        let barrier = sd_notify_barrier(0, 5_000_000)
        guard barrier > 0 else {
            close(stateFD)
            return restartStoreFailed(u, names: stored, "BARRIER: \(String(cString: strerror(-barrier)))")
        }
        journal.emit(
            .info, .restartStored,
            [
                "live": .int(Int64(u.carried.count)), "pending": .int(Int64(pendingPassed.count)),
                "capacity": .int(Int64(capacity)), "waited_ms": .int(Int64(clock.nowMilliseconds - u.startedAt)),
            ])
        exit(0)
    }

    /// systemd did not take the connections: whatever reached the store leaves it again, and this is the stop it
    /// also is (held live connections get 1012 and resume by cursor once the next process serves).
    private func restartStoreFailed(_ u: Upgrade, names: [String], _ why: String) {
        journal.emit(.error, .upgradeFailed, ["error": .string(why), "successor": .string(u.successor.name)])
        for name in names { _ = sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)") }
        upgrade = nil
        for c in u.carried { closeMove(QueuedMove(fd: c.fd, state: c.state, from: -1), reason: "stopping") }
        for h in u.parked { refuseHandoff(h) }
        beginStop(signal: SIGTERM)
    }

    /// The new binary cannot run: the held live connections are closed with 1012 (they resume by cursor), parked
    /// ones refused 503, and a new generation of workers starts; the door opens again.
    private func upgradeFailed(_ u: Upgrade, stateFD: Int32, _ why: String) {
        journal.emit(.error, .upgradeFailed, ["error": .string(why), "path": .string(config.executablePath)])
        if stateFD >= 0 { close(stateFD) }
        upgrade = nil
        for c in u.carried {
            closeMove(QueuedMove(fd: c.fd, state: c.state, from: -1), reason: "upgrade_failed")
        }
        for h in u.parked { refuseHandoff(h) }
        _ = addListeners(now: clock.nowMilliseconds)
        notifier.send([.ready, .status("upgrade failed, workers restarting; " + statusLine(now: clock.nowMilliseconds))])
        beginReload()
    }
}

extension Supervisor {
    /// After an upgrade, once the new workers serve: connections whose head is to be read again arrive as if just
    /// accepted; live ones are counted against the caps again and given to workers with their states (recorded as
    /// `connection_moved` from worker -1, the previous process). One the caps no longer admit (they were lowered
    /// across the upgrade) is closed with 1012 and resumes by cursor.
    func restoreCarried() {
        let r = restoring
        restoring = .init()
        guard !r.isEmpty else { return }
        for (fd, role) in r.pending {
            guard let socket = listeners.first(where: { $0.role == role }) ?? listeners.first else {
                fd.close()
                continue
            }
            try? fd.setNonBlocking()
            // The previous process's peeks moved this socket's peek offset past the bytes it saw: back to the start
            // (or off, where this process peeks without offsets), so the head is read again whole.
            try? fd.setOption(level: SOL_SOCKET, name: SO_PEEK_OFF, value: socket.peeksFromOffset ? 0 : -1)
            arrive(fd, Listener.peerAddress(of: fd), socket)
        }
        let now = clock.nowMilliseconds
        for (fd, state) in r.live {
            let peer = Listener.peerAddress(of: fd)
            let key = ClientKey.of(peer)
            guard let first = workers.ready.first, caps.arrive(client: key) == nil else {
                closeMove(QueuedMove(fd: fd, state: state, from: -1), reason: "restore_failed", counted: false)
                continue
            }
            guard caps.admit(view: state.view) == nil else {
                caps.leave(client: key)
                closeMove(QueuedMove(fd: fd, state: state, from: -1), reason: "restore_failed", counted: false)
                continue
            }
            var restored = state
            restored.connectionID = door.newID()
            restored.client = peer?.description ?? state.client
            handed[restored.connectionID] = Handed(
                view: state.view, worker: first, client: restored.client, clientKey: key, handedAt: now,
                channel: affinityChannel(state.view, state.path))
            dispatchMove(QueuedMove(fd: fd, state: restored, from: -1), excluding: nil)
        }
        journal.emit(.info, .upgradeRestored, ["live": .int(Int64(r.live.count)), "pending": .int(Int64(r.pending.count))])
    }
}

/// execve(2) with `fds` moved to 3, 4, ... (without close-on-exec), as sd_listen_fds(3) expects them.
enum Exec {
    /// Returns only on failure, with errno.
    static func replace(path: String, arguments: [String], environment: [String], fds: [Int32]) -> Int32 {
        // Each goes to 3 + its index. One that is still to be placed but sits where the current one goes moves
        // out of the way first (above the range); each original closes once placed. So the process never holds
        // more than about n + 1 descriptors: 10,000 connections must not need the descriptor limit twice over.
        var fds = fds
        var index: [Int32: Int] = [:]
        for (i, fd) in fds.enumerated() { index[fd] = i }
        for i in fds.indices {
            let target = Int32(3 + i)
            let fd = fds[i]
            if fd == target {
                guard fcntl(target, F_SETFD, 0) == 0 else { return errno }  // keep it across the exec
                continue
            }
            if let j = index[target], j > i {
                let moved = fcntl(target, F_DUPFD_CLOEXEC, Int32(3 + fds.count))
                guard moved >= 0 else { return errno }
                fds[j] = moved
                index[moved] = j
                index[target] = nil
            }
            // dup2 replaces whatever else is there (it goes with the exec anyway) and clears close-on-exec.
            guard dup2(fd, target) >= 0 else { return errno }
            close(fd)
            index[fd] = nil
            index[target] = i
        }
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        execve(path, &argv, &envp)
        return errno
    }
}
