import CLinux
import CSystemd
import Glibc

/// `livefeed stop PID`: the unit's `ExecStop=+…` (run as root, outside the sandbox). systemd 252 sends the same
/// SIGTERM for `systemctl stop` and for `systemctl restart`, and a supervisor cannot ask which it is: with
/// `DynamicUser=` it cannot reach dbus-daemon (systemd issue #22737). This command can: it asks systemd over the
/// system bus what job the supervisor's unit is running. For a restart (`restart`, `try-restart`) of a unit with a
/// file descriptor store (`FileDescriptorStoreMax=`), it sends SIGTERM with sigqueue(3) carrying the store's size:
/// the supervisor then keeps every connection in the store for the next process (`Supervisor+Upgrade.swift`).
/// Anything else, or a question it cannot answer, gets a plain SIGTERM: today's graceful stop (1012, resume by
/// cursor). It then waits for the process to exit, as ExecStop= commands should (systemd bounds the wait with
/// TimeoutStopSec=). Without a PID (systemd leaves $MAINPID out once the main process is gone) there is nothing to
/// stop.
enum StopCommand {
    static func run(_ arguments: [String]) -> Never {
        guard arguments.count <= 1 else { usage() }
        guard let raw = arguments.first else { exit(0) }
        guard let pid = pid_t(raw), pid > 0 else { usage() }
        refuseHelperPID(pid, "stop")
        let plan = plan(for: pid)
        say("livefeed stop \(pid): \(plan.reason)")
        let sent: Int32
        if let capacity = plan.keepConnections {
            sent = sigqueue(pid, SIGTERM, sigval(sival_int: capacity))
        } else {
            sent = kill(pid, SIGTERM)
        }
        guard sent == 0 else {
            if errno == ESRCH { exit(0) }
            say("livefeed stop: cannot signal \(pid): \(String(cString: strerror(errno)))")
            exit(1)
        }
        waitForExit(pid)
        exit(0)
    }

    private static func usage() -> Never {
        say("usage: livefeed stop [PID] (the supervisor's, $MAINPID in the unit's ExecStop=+)")
        exit(2)
    }

    private static func say(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }

    /// A restart keeps the connections (carrying the store's size) when systemd says so; otherwise a stop.
    static func plan(for pid: pid_t) -> (keepConnections: Int32?, reason: String) {
        plan(SystemdJob.query(mainPID: pid))
    }

    static func plan(_ answer: Result<SystemdJob.Job, SystemdJob.Failure>) -> (keepConnections: Int32?, reason: String) {
        switch answer {
        case .failure(let why): return (nil, "a stop (\(why))")
        case .success(let job):
            guard job.type == "restart" || job.type == "try-restart" else {
                return (nil, "a stop (the unit's job is \(job.type.isEmpty ? "none" : job.type))")
            }
            guard job.fdStoreMax > 0 else {
                return (nil, "a stop: the unit restarts but has no FileDescriptorStoreMax=, so connections cannot be kept")
            }
            return (Int32(min(job.fdStoreMax, UInt32(Int32.max))),
                    "a restart: connections go to the file descriptor store (\(job.fdStoreMax) at most)")
        }
    }

    /// Until `pid` is gone: a pidfd where the kernel has them, else a poll of kill(pid, 0).
    private static func waitForExit(_ pid: pid_t) {
        let fd = lf_pidfd_open(pid)
        if fd >= 0 {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, -1) < 0 && errno == EINTR {}
            close(fd)
            return
        }
        while kill(pid, 0) == 0 || errno == EPERM { usleep(10_000) }
    }
}

/// The job systemd runs on the unit of a process, read over the system bus with sd-bus (non-variadic calls only).
enum SystemdJob {
    struct Job {
        /// "restart", "stop", …; empty when the unit has no job.
        var type: String
        var fdStoreMax: UInt32
    }

    enum Failure: Error, CustomStringConvertible {
        case bus(String)
        var description: String { switch self { case .bus(let s): s } }
    }

    static func query(mainPID pid: pid_t) -> Result<Job, Failure> {
        var bus: OpaquePointer?
        var r = sd_bus_open_system(&bus)
        guard r >= 0, let bus else { return .failure(.bus("no system bus: \(String(cString: strerror(-r)))")) }
        defer { sd_bus_flush_close_unref(bus) }
        // Every call below, not only the first, waits at most 2 s (sd-bus's default is 25 s, past TimeoutStopSec=).
        _ = sd_bus_set_method_call_timeout(bus, 2_000_000)
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        func failed(_ what: String, _ r: Int32) -> Failure {
            let message = error.message.map { String(cString: $0) } ?? String(cString: strerror(-r))
            return .bus("\(what): \(message)")
        }
        let destination = "org.freedesktop.systemd1"

        // GetUnitByPID(u) -> o
        var call: OpaquePointer?
        r = sd_bus_message_new_method_call(
            bus, &call, destination, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "GetUnitByPID")
        guard r >= 0, let call else { return .failure(failed("GetUnitByPID", r)) }
        defer { sd_bus_message_unref(call) }
        var pid32 = UInt32(pid)
        r = sd_bus_message_append_basic(call, CChar(UInt8(ascii: "u")), &pid32)
        guard r >= 0 else { return .failure(failed("GetUnitByPID", r)) }
        var reply: OpaquePointer?
        r = sd_bus_call(bus, call, 0, &error, &reply)
        guard r >= 0, let reply else { return .failure(failed("GetUnitByPID(\(pid))", r)) }
        defer { sd_bus_message_unref(reply) }
        var unitPathPointer: UnsafePointer<CChar>?
        r = sd_bus_message_read_basic(reply, CChar(UInt8(ascii: "o")), &unitPathPointer)
        guard r > 0, let unitPathPointer else { return .failure(failed("GetUnitByPID reply", r)) }
        let unitPath = String(cString: unitPathPointer)

        // Unit.Job -> (uo): 0 and "/" when no job runs.
        var jobReply: OpaquePointer?
        r = sd_bus_get_property(
            bus, destination, unitPath, "org.freedesktop.systemd1.Unit", "Job", &error, &jobReply, "(uo)")
        guard r >= 0, let jobReply else { return .failure(failed("Unit.Job", r)) }
        defer { sd_bus_message_unref(jobReply) }
        r = sd_bus_message_enter_container(jobReply, CChar(UInt8(ascii: "r")), "uo")
        guard r > 0 else { return .failure(failed("Unit.Job reply", r)) }
        var jobID: UInt32 = 0
        var jobPathPointer: UnsafePointer<CChar>?
        r = sd_bus_message_read_basic(jobReply, CChar(UInt8(ascii: "u")), &jobID)
        guard r > 0 else { return .failure(failed("Unit.Job id", r)) }
        r = sd_bus_message_read_basic(jobReply, CChar(UInt8(ascii: "o")), &jobPathPointer)
        guard r > 0, let jobPathPointer else { return .failure(failed("Unit.Job path", r)) }
        let jobPath = String(cString: jobPathPointer)

        var type = ""
        if jobID != 0 {
            var text: UnsafeMutablePointer<CChar>?
            r = sd_bus_get_property_string(
                bus, destination, jobPath, "org.freedesktop.systemd1.Job", "JobType", &error, &text)
            guard r >= 0, let text else { return .failure(failed("Job.JobType", r)) }
            type = String(cString: text)
            free(text)
        }
        var fdStoreMax: UInt32 = 0
        r = sd_bus_get_property_trivial(
            bus, destination, unitPath, "org.freedesktop.systemd1.Service", "FileDescriptorStoreMax", &error,
            CChar(UInt8(ascii: "u")), &fdStoreMax)
        guard r >= 0 else { return .failure(failed("Service.FileDescriptorStoreMax", r)) }
        return .success(Job(type: type, fdStoreMax: fdStoreMax))
    }
}
