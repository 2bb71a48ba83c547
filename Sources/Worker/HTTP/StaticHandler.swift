import Foundation
import LivefeedProtocol

/// `/static/NAME`: the page scripts, with an ETag, and cached for good when asked for by their versioned URL.
struct StaticHandler {
    let assets: StaticAssets

    func answer(_ name: String, _ head: HTTPRequestHead) -> Reply {
        let headOnly = head.method == "HEAD"
        guard let asset = assets[name] else {
            let message = assets.live ? "no such file" : "no such file (live page scripts are not installed)"
            return Reply(
                status: 404, contentType: "text/plain; charset=utf-8", body: Array(message.utf8), headOnly: headOnly,
                keepAlive: head.keepAlive)
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
            return Reply(
                status: 304, contentType: asset.contentType, body: [], headers: [("ETag", asset.etag)],
                cacheControl: cache, headOnly: true, keepAlive: head.keepAlive)
        }
        return Reply(
            status: 200, contentType: asset.contentType, body: asset.body, headers: [("ETag", asset.etag)],
            cacheControl: cache, headOnly: headOnly, keepAlive: head.keepAlive)
    }
}
