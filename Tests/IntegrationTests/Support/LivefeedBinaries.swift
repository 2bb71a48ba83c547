import Foundation
import Glibc

/// Finds the directory holding the `livefeed` executable (the supervisor; it finds its worker binary itself).
///
/// `$LIVEFEED_BIN_DIR` wins. Otherwise the search starts at the directory of the running test executable
/// (`/proc/self/exe`, i.e. `.build/<triple>/debug/`, where SwiftPM also puts the package's executables) and walks up
/// until a directory contains an executable `livefeed`.
enum LivefeedBinaries {
    static func directory() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["LIVEFEED_BIN_DIR"], !explicit.isEmpty {
            guard isExecutable("\(explicit)/livefeed") else {
                throw SubprocessError(description: "LIVEFEED_BIN_DIR=\(explicit) holds no executable livefeed")
            }
            return explicit
        }
        let testExecutable = try resolvedSelfExecutable()
        var directory = URL(fileURLWithPath: testExecutable).deletingLastPathComponent()
        while true {
            if isExecutable(directory.appendingPathComponent("livefeed").path) { return directory.path }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        throw SubprocessError(
            description: "no executable livefeed at or above \(testExecutable); build it or set LIVEFEED_BIN_DIR")
    }

    private static func isExecutable(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    private static func resolvedSelfExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { throw SubprocessError(description: "readlink /proc/self/exe: errno \(errno)") }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
