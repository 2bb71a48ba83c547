import Foundation
import Testing

/// A tick's fan-out to more subscribers than one loop turn serves (`ChannelFeed.fanOutBudget`, 256) goes on over
/// several turns, with the publisher answered in between and the next tick waiting for it: every subscriber still
/// gets every message once and in order, and so does one that joins while fan-outs are under way.
struct FanOutTests {
    /// One worker with room for them, a channel, and `count` JSON subscribers live on it from its first message:
    /// `body` gets the API, the subscribers (closed afterwards, with any it adds) and the channel's live path.
    private func withSubscribers(
        _ count: Int, _ body: (ServerProcess, LivefeedAPI, inout [LiveStream], String) throws -> Void
    ) throws {
        let caps = ["--max-per-client", "2000", "--max-live", "2000", "--max-connections", "2000"]
        try withLivefeed(workers: 1, arguments: caps) { server in
            let api = LivefeedAPI(server)
            let first = try api.post(channel: "general", text: "creates the channel")
            let channel = try api.channelID(named: "general")
            let path = "/live/channels/\(channel)?after_id=\(first)"
            var streams: [LiveStream] = []
            defer { streams.forEach { $0.close() } }
            for _ in 0..<count { streams.append(try LiveStream.open(port: server.port, path: path)) }
            try body(server, api, &streams, path)
        }
    }

    @Test func aFanOutSpreadOverLoopTurnsDeliversEveryMessageOnceAndInOrder() throws {
        try withSubscribers(700) { server, api, streams, path in
            // One message per request, as fast as the answers come: several land while a fan-out is under way.
            var ids: [Int] = []
            for i in 0..<40 {
                ids.append(try api.post(channel: "general", text: "fan-out \(i)"))
                if i == 20 { streams.append(try LiveStream.open(port: server.port, path: path)) }
            }
            for s in streams { try s.expectMessages(ids, timeout: .seconds(60)) }
        }
    }

    /// A tick's frames are built once per format, when the fan-out first meets a subscriber of that format: here
    /// the first batch (`fanOutBudget`) is all JSON and the one HTML subscriber sits in the next, so its frames are
    /// built there, mid-fan-out; it must get every message like the rest.
    @Test func aFormatFirstNeededInALaterBatchIsBuiltThere() throws {
        try withSubscribers(270) { server, api, streams, path in
            let html = try HTMLLiveStream.open(port: server.port, path: path + "&format=html")
            defer { html.close() }
            var ids: [Int] = []
            for i in 0..<10 { ids.append(try api.post(channel: "general", text: "both formats \(i)")) }
            for id in ids {
                _ = try html.next("message \(id)") {
                    $0.id == "messages" && $0.element.attribute("data-cursor") == "\(id)"
                }
            }
            for s in streams { try s.expectMessages(ids, timeout: .seconds(60)) }
        }
    }
}
