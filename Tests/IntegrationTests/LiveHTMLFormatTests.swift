import Foundation
import Testing

/// `format=html`: frames for htmx's `ws` extension. Each frame is parsed as HTML; its top-level elements must carry
/// an id, `hx-swap-oob` and the cursor in `data-cursor`, and cursors never go backwards on a connection.
struct LiveHTMLFormatTests {
    @Test func messageFrameIsAnOutOfBandAppendToTheMessagesList() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let backlog = try api.postBatch(count: 2, prefix: "backlog")
            let channelID = try api.channelID(named: "general")
            let stream = try HTMLLiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(backlog[0])&format=html")
            defer { stream.close() }

            let replayed = try stream.next("the replayed message \(backlog[1])") { $0.id == "messages" }
            try expectMessageFrame(replayed, id: backlog[1], text: "backlog 2")

            let id = try api.post(text: "plain words")
            let frame = try stream.next("the live message \(id)") {
                $0.id == "messages" && $0.element.attribute("data-cursor") == "\(id)"
            }
            try expectMessageFrame(frame, id: id, text: "plain words")
        }
    }

    @Test func countFramesAreOutOfBandSpansWithTheCountAndCursor() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            try api.post(channel: "general", user: "alice", text: "one")
            try api.post(channel: "random", user: "bob", text: "two")
            let generalID = try api.channelID(named: "general")
            let randomID = try api.channelID(named: "random")
            let aliceID = try api.userID(named: "alice")
            let bobID = try api.userID(named: "bob")
            let channel = try HTMLLiveStream.open(
                port: server.port, path: "/live/channels/\(generalID)?after_id=0&format=html")
            defer { channel.close() }
            let channels = try HTMLLiveStream.open(port: server.port, path: "/live/channels?format=html")
            defer { channels.close() }
            let users = try HTMLLiveStream.open(port: server.port, path: "/live/users?format=html")
            defer { users.close() }
            let metrics = try HTMLLiveStream.open(port: server.port, path: "/live/metrics?format=html")
            defer { metrics.close() }

            // On connect: the channel's own count after its replay, every channel's and every user's count.
            try expectCountFrame(
                try channel.next("channel-count-\(generalID)") { $0.id == "channel-count-\(generalID)" }, count: 1)
            try expectCountFrame(
                try channels.next("channel-count-\(generalID)") { $0.id == "channel-count-\(generalID)" }, count: 1)
            try expectCountFrame(
                try channels.next("channel-count-\(randomID)") { $0.id == "channel-count-\(randomID)" }, count: 1)
            try expectCountFrame(try users.next("user-count-\(aliceID)") { $0.id == "user-count-\(aliceID)" }, count: 1)
            try expectCountFrame(try users.next("user-count-\(bobID)") { $0.id == "user-count-\(bobID)" }, count: 1)
            let totals = try metrics.next("#totals") { $0.id == "totals" }
            #expect(totals.element.attribute("hx-swap-oob") == "true", "\(totals.html)")
            #expect(totalsValue(totals.element, "total-messages") == "2", "\(totals.html)")

            // After a post to general: every view moves, with the new cursor.
            let id = try api.post(channel: "general", user: "bob", text: "three")
            let channelCount = try channel.next("channel-count-\(generalID) = 2") {
                $0.id == "channel-count-\(generalID)" && $0.element.textContent == "2"
            }
            try expectCountFrame(channelCount, count: 2)
            #expect(channelCount.cursor == id, "\(channelCount.html)")
            let listCount = try channels.next("channel-count-\(generalID) = 2") {
                $0.id == "channel-count-\(generalID)" && $0.element.textContent == "2"
            }
            #expect(listCount.cursor == id, "\(listCount.html)")
            let userCount = try users.next("user-count-\(bobID) = 2") {
                $0.id == "user-count-\(bobID)" && $0.element.textContent == "2"
            }
            #expect(userCount.cursor == id, "\(userCount.html)")
            let newTotals = try metrics.next("#totals with 3 messages") {
                $0.id == "totals" && totalsValue($0.element, "total-messages") == "3"
            }
            #expect(newTotals.cursor == id, "\(newTotals.html)")
        }
    }

    @Test func scriptInMessageTextArrivesEscapedAsText() throws {
        try withLivefeed { server in
            let api = LivefeedAPI(server)
            let first = try api.post(text: "first")
            let channelID = try api.channelID(named: "general")
            let stream = try HTMLLiveStream.open(
                port: server.port, path: "/live/channels/\(channelID)?after_id=\(first)&format=html")
            defer { stream.close() }

            let hostile = #"<script>alert("x")</script> & <img src=x onerror='y'> "quoted""#
            let id = try api.post(user: "<b>mallory</b>", text: hostile)
            let frame = try stream.next("the message \(id)") { $0.id == "messages" }
            #expect(!frame.html.lowercased().contains("<script"), "\(frame.html)")
            #expect(!frame.html.lowercased().contains("<img"), "\(frame.html)")
            let names = Set(frame.element.allElements.map(\.name))
            #expect(names.isDisjoint(with: ["script", "img", "b"]), "elements \(names) in \(frame.html)")
            try expectMessageFrame(frame, id: id, text: hostile)
            let item = try #require(frame.element.elements.first)
            #expect(item.textContent.contains("<b>mallory</b>"), "\(frame.html)")
        }
    }
}

/// One `format=html` frame: its text and its single top-level element.
struct HTMLFrame {
    var html: String
    var element: HTMLElement
    var id: String? { element.attribute("id") }
    var cursor: Int? { element.attribute("data-cursor").flatMap { Int($0) } }
}

/// A `format=html` live connection. Checks every frame: it parses, its top-level elements carry an id,
/// `hx-swap-oob` and an integer `data-cursor`, and cursors never go backwards. Frames holding more than one
/// top-level element are split, one `HTMLFrame` per element.
final class HTMLLiveStream {
    let client: WebSocketClient
    let path: String
    private(set) var frames: [HTMLFrame] = []
    private var lastCursor: Int?

    init(client: WebSocketClient, path: String) {
        self.client = client
        self.path = path
    }

    static func open(port: UInt16, path: String) throws -> HTMLLiveStream {
        HTMLLiveStream(client: try WebSocketClient.connect(port: port, path: path), path: path)
    }

    /// Reads frames until an element satisfies `predicate` and returns it.
    func next(
        _ description: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        where predicate: (HTMLFrame) -> Bool
    ) throws -> HTMLFrame {
        let deadline = ContinuousClock.now + timeout
        var scanned = frames.count
        while true {
            while scanned < frames.count {
                scanned += 1
                if predicate(frames[scanned - 1]) { return frames[scanned - 1] }
            }
            do {
                try readFrame(deadline: deadline, sourceLocation: sourceLocation)
            } catch {
                throw TimedOut(
                    description: "\(path): no element \(description): \(error); frames:\n"
                        + frames.map(\.html).joined(separator: "\n"))
            }
        }
    }

    private func readFrame(deadline: ContinuousClock.Instant, sourceLocation: SourceLocation) throws {
        let message = try client.readMessage(timeout: deadline - .now)
        let html = String(decoding: message.payload, as: UTF8.self)
        #expect(
            message.opcode == .text, "\(path): html frame in a \(message.opcode) frame", sourceLocation: sourceLocation)
        let elements: [HTMLElement]
        do {
            elements = try HTMLFragment.topLevelElements(html)
        } catch {
            Issue.record(
                "\(path): frame is not a well-formed fragment (\(error)): \(html)", sourceLocation: sourceLocation)
            return
        }
        #expect(!elements.isEmpty, "\(path): empty frame", sourceLocation: sourceLocation)
        for element in elements {
            let frame = HTMLFrame(html: html, element: element)
            // A status element (a control event for the page's script) is the one frame without a cursor.
            if element.attribute("data-type") != "status" {
                #expect(
                    frame.id?.isEmpty == false, "\(path): top-level element without id: \(html)",
                    sourceLocation: sourceLocation)
                #expect(
                    element.attribute("hx-swap-oob")?.isEmpty == false, "\(path): no hx-swap-oob: \(html)",
                    sourceLocation: sourceLocation)
                if let cursor = frame.cursor {
                    if let lastCursor, cursor < lastCursor {
                        Issue.record(
                            "\(path): cursor went back from \(lastCursor) to \(cursor): \(html)",
                            sourceLocation: sourceLocation)
                    }
                    lastCursor = max(cursor, lastCursor ?? cursor)
                } else {
                    Issue.record("\(path): no integer data-cursor: \(html)", sourceLocation: sourceLocation)
                }
            }
            frames.append(frame)
        }
    }

    func close() { client.close() }
}

/// Checks a message frame: `<ol id="messages" hx-swap-oob="beforeend" data-cursor="ID">` holding exactly
/// `<li id="msg-ID">` whose `.text` is `text`.
private func expectMessageFrame(
    _ frame: HTMLFrame, id: Int, text: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let ol = frame.element
    #expect(ol.name == "ol", "\(frame.html)", sourceLocation: sourceLocation)
    #expect(ol.attribute("id") == "messages", "\(frame.html)", sourceLocation: sourceLocation)
    #expect(ol.attribute("hx-swap-oob") == "beforeend", "\(frame.html)", sourceLocation: sourceLocation)
    #expect(ol.attribute("data-cursor") == "\(id)", "\(frame.html)", sourceLocation: sourceLocation)
    let items = ol.elements
    #expect(items.map(\.name) == ["li"], "\(frame.html)", sourceLocation: sourceLocation)
    let item = try #require(items.first, sourceLocation: sourceLocation)
    #expect(item.attribute("id") == "msg-\(id)", "\(frame.html)", sourceLocation: sourceLocation)
    let textElement = item.allElements.first { $0.attribute("class") == "text" }
    #expect(textElement?.textContent == text, "\(frame.html)", sourceLocation: sourceLocation)
}

/// Checks a count frame: `<span id="…-count-ID" hx-swap-oob="true" data-cursor="N">COUNT</span>`.
private func expectCountFrame(_ frame: HTMLFrame, count: Int, sourceLocation: SourceLocation = #_sourceLocation) throws
{
    #expect(frame.element.name == "span", "\(frame.html)", sourceLocation: sourceLocation)
    #expect(frame.element.attribute("hx-swap-oob") == "true", "\(frame.html)", sourceLocation: sourceLocation)
    #expect(frame.cursor != nil, "\(frame.html)", sourceLocation: sourceLocation)
    #expect(frame.element.elements.isEmpty, "\(frame.html)", sourceLocation: sourceLocation)
    #expect(frame.element.textContent == "\(count)", "\(frame.html)", sourceLocation: sourceLocation)
}

/// The text of the element with id `id` inside a totals fragment.
private func totalsValue(_ element: HTMLElement, _ id: String) -> String? {
    element.allElements.first { $0.attribute("id") == id }?.textContent
}
