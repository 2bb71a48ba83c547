import Glibc
import LivefeedProtocol

/// `livefeed-worker import --db PATH [--create] FILE.jsonl|-`, what `livefeed import` runs: says which database it
/// writes, at the start and in its last line, and never creates one unless asked.
extension Importer {
    static func command(_ arguments: [String]) -> Never {
        var path: String?
        var create = false
        var file: String?
        var it = arguments.makeIterator()
        while let arg = it.next() {
            switch arg {
            case "--db": path = it.next()
            case "--create": create = true
            default:
                guard file == nil else { fail("one file at a time", status: 2) }
                file = arg
            }
        }
        guard let path, let file else { fail("usage: livefeed import [--db PATH] [--create] FILE.jsonl|-", status: 2) }
        if access(path, F_OK) != 0 {
            guard create else {
                fail("no database at \(path): start the server first (it creates one), or pass --create", status: 2)
            }
        }
        let fd: FileDescriptor
        if file == "-" {
            fd = FileDescriptor(owning: 0)
        } else {
            let raw = open(file, O_RDONLY | O_CLOEXEC)
            guard raw >= 0 else { fail("cannot open \(file): \(String(cString: strerror(errno)))", status: 2) }
            fd = FileDescriptor(owning: raw)
        }
        do {
            try Schema.prepare(try SQLiteDatabase(path: path))
            let database = realpath(path, nil).map { p in
                defer { free(p) }
                return String(cString: p)
            } ?? path
            let importer = Importer(store: try MessageStore(path: path), database: database)
            importer.say("writing to \(database)")
            let summary = try importer.run(reading: fd, name: file)
            exit(summary.bad == 0 ? 0 : 1)
        } catch {
            fail("\(error)", status: 1)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        say(message)
        exit(status)
    }

    func say(_ text: String) { Self.say(text) }

    static func say(_ text: String) {
        var bytes = Array("livefeed import: \(text)\n".utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
