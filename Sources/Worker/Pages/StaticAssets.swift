import Foundation
import LivefeedProtocol

/// The files served under `/static/`: our page script (committed in `static/`) and htmx with its `ws` extension
/// (fetched by `scripts/setup` from a pinned registry package into `vendor/htmx/`, never committed). Read once when
/// a worker starts; a restart or reload picks up new files. Without the htmx files pages still render, and say
/// that live updates are off.
struct StaticAssets {
    struct Asset {
        var contentType: String
        var body: [UInt8]
        /// A short hash of the body: the `?v=` of versioned URLs and the ETag.
        var version: String
        var etag: String { "\"\(version)\"" }
    }

    /// The names pages load, in load order: htmx, its ws extension (which needs htmx), then our glue.
    static let liveScripts = ["htmx.min.js", "ws.js", "livefeed.js"]

    private(set) var files: [String: Asset] = [:]
    /// Files that were looked for and not found, for the worker's start-up log.
    private(set) var missing: [String] = []

    /// True when every script the live pages need is here.
    var live: Bool { Self.liveScripts.allSatisfy { files[$0] != nil } }

    subscript(name: String) -> Asset? { files[name] }

    /// A URL that changes whenever the file does, so browsers may cache it for good.
    func url(_ name: String) -> String {
        guard let asset = files[name] else { return "/static/\(name)" }
        return "/static/\(name)?v=\(asset.version)"
    }

    /// Loads `livefeed.js` from `staticDirectory` and `htmx.min.js`, `ws.js` from `htmxDirectory`. A nil directory
    /// is looked for upwards from the worker's executable (`static/` and `vendor/htmx/` at the checkout's root).
    static func load(staticDirectory: String?, htmxDirectory: String?) -> StaticAssets {
        var assets = StaticAssets()
        let root = checkoutRoot()
        let ours = staticDirectory ?? root.map { $0 + "/static" }
        let vendor = htmxDirectory ?? root.map { $0 + "/vendor/htmx" }
        assets.add("livefeed.js", from: ours)
        assets.add("htmx.min.js", from: vendor)
        assets.add("ws.js", from: vendor)
        return assets
    }

    private mutating func add(_ name: String, from directory: String?) {
        guard let directory, let body = Self.readFile(directory + "/" + name) else {
            missing.append(directory.map { $0 + "/" + name } ?? name)
            return
        }
        let digest = SHA1.digest(body)
        let version = digest.prefix(8).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        files[name] = Asset(contentType: Self.contentType(name), body: body, version: version)
    }

    static func contentType(_ name: String) -> String {
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        return "application/octet-stream"
    }

    /// The nearest folder above the executable that holds `static/livefeed.js`: the checkout the binaries were
    /// built in (`.build/<triple>/<config>/` sits three levels below it).
    static func checkoutRoot() -> String? {
        var path = ChildProcess.executableDirectory()
        for _ in 0..<5 {
            if FileManager.default.isReadableFile(atPath: path + "/static/livefeed.js") { return path }
            path = (path as NSString).deletingLastPathComponent
            if path == "/" || path.isEmpty || path == "." { return nil }
        }
        return nil
    }

    /// Reads a small file whole; nil when it is missing, unreadable or larger than 4 MiB.
    static func readFile(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4 << 20 else { return nil }
        return [UInt8](data)
    }
}
