import Foundation
import LivefeedProtocol

/// `/static/NAME`: the page scripts, with an ETag, and cached for good when asked for by their versioned URL.
extension WorkerServer {
    func serveStatic(_ c: Connection, _ head: HTTPRequestHead, name: String) {
        let headOnly = head.method == "HEAD"
        guard let asset = assets[name] else {
            let message = assets.live ? "no such file" : "no such file (live page scripts are not installed)"
            respond(
                c, status: 404, contentType: "text/plain; charset=utf-8", body: Array(message.utf8),
                keepAlive: head.keepAlive, headOnly: headOnly)
            return
        }
        // A versioned URL names these exact bytes, so it never needs revalidating; a bare one does.
        let cache =
            head.queryValue("v") == asset.version
            ? "public, max-age=31536000, immutable" : "public, max-age=0, must-revalidate"
        if let tags = head.headers["If-None-Match"],
            tags.split(separator: ",").contains(where: {
                $0.trimmingCharacters(in: .whitespaces) == asset.etag || $0 == "*"
            })
        {
            respond(
                c, status: 304, contentType: asset.contentType, body: [], keepAlive: head.keepAlive,
                headOnly: true, extraHeaders: [("ETag", asset.etag)], cacheControl: cache)
            return
        }
        respond(
            c, status: 200, contentType: asset.contentType, body: asset.body, keepAlive: head.keepAlive,
            headOnly: headOnly, extraHeaders: [("ETag", asset.etag)], cacheControl: cache)
    }
}
