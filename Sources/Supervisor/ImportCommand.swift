import Foundation
import Glibc
import LivefeedProtocol

/// `livefeed import [--db PATH] [--create] FILE.jsonl|-`: the worker binary does the SQLite work, so this checks the
/// arguments, finds the database the server would use, and runs `livefeed-worker import` in its place.
enum ImportCommand {
    static let usage = """
        usage: livefeed import [--db PATH] [--create] FILE.jsonl   (FILE - reads standard input)

        Stores one JSON message per line ({"channel", "user", "text", optional "sent_at", optional "key"}) in the
        database the server uses (--db, else $STATE_DIRECTORY/livefeed.db, else state/livefeed.db), in batches of
        500. A line's "key" (1-255 visible ASCII characters) makes it idempotent: a line whose key was stored in the
        last 24 hours is skipped, so an import can be re-run safely. Lines without a key are stored again on a
        re-run. Bad lines are reported by number and skipped; the exit status is 1 when there were any.
          --db PATH   the database (the server's --db)
          --create    create the database when it does not exist (without it, a missing database is an error)
          --help      this text

        """

    /// Never returns: execs the worker, or exits with the reason.
    static func run(_ arguments: [String], environment: [String: String]) -> Never {
        var database = ""
        var create = false
        var files: [String] = []
        var it = arguments.makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--help", "-h":
                FileHandle.standardOutput.write(Data(usage.utf8))
                exit(0)
            case "--db":
                guard let value = it.next() else { fail("--db needs a path") }
                database = value
            case "--create": create = true
            case "-": files.append(arg)
            default:
                if arg.hasPrefix("-") { fail("unknown option \(arg)") }
                files.append(arg)
            }
        }
        guard files.count == 1 else { fail(files.isEmpty ? "name a FILE.jsonl, or - for standard input" : "one file at a time") }
        let base: SupervisorConfig
        do {
            base = try SupervisorConfig.parse(database.isEmpty ? [] : ["--db", database], environment: environment)
        } catch {
            fail("\(error)")
        }
        let argv = [base.workerPath, "import", "--db", base.databasePath] + (create ? ["--create"] : []) + [files[0]]
        let cArgs = argv.map { strdup($0) } + [nil]
        execv(base.workerPath, cArgs)
        fail("cannot run \(base.workerPath): \(String(cString: strerror(errno)))", status: 1)
    }

    private static func fail(_ message: String, status: Int32 = 2) -> Never {
        FileHandle.standardError.write(Data("livefeed import: \(message) (livefeed import --help)\n".utf8))
        exit(status)
    }
}
