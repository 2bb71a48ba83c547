import Foundation
import Glibc

/// A systemd-journald of the test's own, as ../shared/TESTING.md describes: started by `unshare --mount
/// --propagation private` in a new mount namespace where /run/systemd, /run/log, /var/log/journal and
/// /etc/systemd are bind mounts of folders in its temp directory (volatile storage, no kmsg, no forwarding), so it
/// touches nothing of the host. A program runs against it inside that namespace (`enter`), where
/// /run/systemd/journal/socket is this journald's; `entries` reads the journal back from outside with
/// `journalctl -D`. `stop` ends it and removes the directory; teardown must call it.
final class StandaloneJournald {
    /// The journald's pid (unshare and sh exec in place), the namespace's anchor.
    let pid: pid_t
    let directory: String
    var journalDirectory: String { "\(directory)/run-log/journal" }
    private var stopped = false

    private init(pid: pid_t, directory: String) {
        self.pid = pid
        self.directory = directory
    }

    static func start(timeout: Duration = .seconds(10)) throws -> StandaloneJournald {
        try SystemdTools.require(SystemdTools.journaldMissing, for: "a standalone journald")
        let (unshare, journald) = (SystemdTools.unshare!, SystemdTools.journald!)
        let directory = try Subprocess.makeTemporaryDirectory(prefix: "livefeed-journald-")
        let mounts = [
            ("run-systemd", "/run/systemd"), ("run-log", "/run/log"), ("var-log-journal", "/var/log/journal"),
            ("etc-systemd", "/etc/systemd"),
        ]
        do {
            for (folder, _) in mounts {
                try FileManager.default.createDirectory(
                    atPath: "\(directory)/\(folder)", withIntermediateDirectories: true)
            }
            let config = """
                [Journal]
                Storage=volatile
                ReadKMsg=no
                ForwardToSyslog=no
                ForwardToKMsg=no
                ForwardToConsole=no
                ForwardToWall=no
                Audit=no
                RateLimitBurst=0

                """
            try config.write(toFile: "\(directory)/etc-systemd/journald.conf", atomically: true, encoding: .utf8)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        // Runtime folders missing on this host are created (empty, on tmpfs); /var/log/journal is covered only if
        // it exists, since creating it would make the host's own journald persistent.
        let script =
            mounts.map { folder, target in
                let bind = "mount --bind '\(directory)/\(folder)' '\(target)'"
                return target.hasPrefix("/run/")
                    ? "mkdir -p '\(target)' && \(bind)" : "{ [ ! -d '\(target)' ] || \(bind); }"
            }.joined(separator: " && ") + " && exec '\(journald)'"
        let pid = try Subprocess.spawn(
            executable: unshare, arguments: ["--mount", "--propagation", "private", "--", "/bin/sh", "-c", script],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], stdoutPath: "\(directory)/journald.out",
            stderrPath: "\(directory)/journald.out", newProcessGroup: true)
        let journal = StandaloneJournald(pid: pid, directory: directory)
        do {
            // The socket appears in the bind-mounted folder, visible from here too, once journald listens.
            try eventually(timeout: timeout, "journald's socket; its output:\n\(journal.output())") {
                if let status = Subprocess.exitStatusIfEnded(pid) {
                    throw SubprocessError(description: "journald ended (\(status)): \(journal.output())")
                }
                return FileManager.default.fileExists(atPath: "\(directory)/run-systemd/journal/socket")
            }
        } catch {
            journal.stop()
            throw error
        }
        return journal
    }

    /// The command prefix that runs a program in this journald's mount namespace (nsenter execs it in place).
    var enter: [String] { [SystemdTools.nsenter!, "-t", String(pid), "-m", "--"] }

    /// `journalctl -D … -o json MATCHES…`: the entries matching every `FIELD=value`, oldest first.
    func entries(_ matches: [String]) throws -> [[String: Any]] {
        let result = try Subprocess.run(
            SystemdTools.journalctl!, ["-D", journalDirectory, "-o", "json", "--no-pager"] + matches,
            timeout: .seconds(20))
        // journalctl exits 1 with "-- No entries --" on some versions when nothing matches.
        guard result.status == .exited(0) || result.stdout.isEmpty else {
            throw SubprocessError(description: "journalctl \(matches) ended \(result.status): \(result.stderr)")
        }
        return result.stdout.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    /// Polls until the entries matching `matches` satisfy `condition`; returns them.
    @discardableResult
    func waitForEntries(
        _ matches: [String], _ what: String, timeout: Duration = .seconds(15),
        until condition: ([[String: Any]]) -> Bool = { !$0.isEmpty }
    ) throws -> [[String: Any]] {
        try eventuallyValue(timeout: timeout, pollingEvery: .milliseconds(100), "journal entries: \(what)") {
            let found = try entries(matches)
            return condition(found) ? found : nil
        }
    }

    func output() -> String { (try? String(contentsOfFile: "\(directory)/journald.out", encoding: .utf8)) ?? "" }

    /// SIGTERM (SIGKILL after 5 s), then removes the directory. The namespace ends with its last process.
    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGTERM)
        if Subprocess.waitForExit(pid, timeout: .seconds(5)) == nil {
            kill(pid, SIGKILL)
            _ = Subprocess.waitForExit(pid, timeout: .seconds(5))
        }
        if ProcessInfo.processInfo.environment["LIVEFEED_KEEP_TMP"] == "1" {
            print("journald directory kept: \(directory)")
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    deinit { stop() }
}
