import Foundation
import Glibc

/// The systemd programs the systemd tests run, and whether this machine can run them. On a developer machine
/// without them the tests skip with the reason; in CI (`CI=true`) they run anyway and fail loudly, because CI must
/// prove what they check.
enum SystemdTools {
    static let socketActivate = Subprocess.findExecutable(named: "systemd-socket-activate")
    static let journalctl = Subprocess.findExecutable(named: "journalctl")
    static let unshare = Subprocess.findExecutable(named: "unshare")
    static let nsenter = Subprocess.findExecutable(named: "nsenter")
    static let journald = ["/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"].first {
        (path: String) in access(path, X_OK) == 0
    }

    static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// What is missing to run a program under systemd-socket-activate.
    static var socketActivationMissing: [String] { socketActivate == nil ? ["systemd-socket-activate"] : [] }

    /// What is missing to run a standalone journald in a private mount namespace (root, util-linux, systemd).
    static let journaldMissing: [String] = {
        var missing: [String] = []
        if geteuid() != 0 { missing.append("root") }
        if unshare == nil { missing.append("unshare") }
        if nsenter == nil { missing.append("nsenter") }
        if journald == nil { missing.append("systemd-journald") }
        if journalctl == nil { missing.append("journalctl") }
        if missing.isEmpty, let unshare,
            (try? Subprocess.run(unshare, ["--mount", "--propagation", "private", "true"], timeout: .seconds(10)))?
                .status != .exited(0)
        {
            missing.append("permission to create a mount namespace")
        }
        return missing
    }()

    /// Test traits: run where the tools are, or in CI (where missing ones fail the test).
    static var canTrySocketActivation: Bool { isCI || socketActivationMissing.isEmpty }
    static var canTryJournald: Bool { isCI || journaldMissing.isEmpty }

    /// Throws, naming what is missing; the first call in each systemd test.
    static func require(_ missing: [String], for what: String) throws {
        guard missing.isEmpty else {
            throw SubprocessError(description: "\(what) needs \(missing.joined(separator: ", ")), missing here")
        }
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago: for programs that must be told a port
    /// (systemd-socket-activate), where the kernel cannot pick one. Binding it may still race another process;
    /// callers retry.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError.system(call: "socket", errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 ? getsockname(fd, sa, &length) : -1
            }
        }
        guard rc == 0 else { throw SocketError.system(call: "bind", errno: errno) }
        return UInt16(bigEndian: address.sin_port)
    }
}
