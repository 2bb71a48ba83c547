import LivefeedProtocol

/// Server-rendered HTML pages. Every text that came from the database or the request goes through `escape`.
/// Live pages load htmx, its `ws` extension and `livefeed.js` (our glue), and hold a hidden `#live` element
/// whose `ws-connect` opens the page's live view; `data-poll` names the `/fragments/...` endpoint the glue polls
/// when live is unavailable. Without the htmx files the pages still render and say that live updates are off.
enum Pages {
    static func escape(_ s: String) -> String { Fragments.escape(s) }

    /// How a page stays current: its live view, the fragment it polls instead, and where it stands.
    struct Live {
        /// `/live/...` path of the page's view (without query).
        var socket: String
        /// `/fragments/...` path answering the same updates for polling.
        var poll: String
        /// Whether the poll takes `after_id` (message streams) or answers the whole snapshot (counts).
        var pollsAfterCursor = false
        /// The highest message id the page reflects.
        var cursor: Int64
        var epoch: String
    }

    enum Section: String {
        case dashboard, channels, users, none
    }

    static func layout(
        title: String, section: Section, body: String, live: Live?, assets: StaticAssets, notLiveReason: String? = nil
    ) -> String {
        let canGoLive = live != nil && assets.live
        var head = ""
        if canGoLive {
            for name in StaticAssets.liveScripts { head += "<script src=\"\(assets.url(name))\" defer></script>" }
        }
        let label: String
        if canGoLive {
            label = "Connecting…"
        } else if live != nil {
            label = "Live updates off"
        } else {
            label = notLiveReason ?? "Not live"
        }
        func nav(_ s: Section, _ href: String, _ text: String) -> String {
            "<a href=\"\(href)\"\(s == section ? " aria-current=\"page\"" : "")>\(text)</a>"
        }
        var notice = ""
        if live != nil && !assets.live {
            notice =
                "<div class=\"notice\" id=\"live-off\" role=\"note\"><b>Live updates are off.</b> This server "
                + "cannot find its page scripts (htmx), so this page will not change by itself: reload it to see "
                + "new messages. <span class=\"muted\">Operators: run <code>scripts/setup</code>.</span></div>"
        }
        var liveElement = ""
        if let live, canGoLive {
            let query = "format=html&amp;after_id=\(live.cursor)&amp;epoch=\(escape(live.epoch))"
            liveElement =
                "<div id=\"live\" hidden hx-ext=\"ws\" ws-connect=\"\(live.socket)?\(query)\""
                + " data-poll=\"\(live.poll)\"\(live.pollsAfterCursor ? " data-poll-after" : "")"
                + " data-cursor=\"\(live.cursor)\" data-epoch=\"\(escape(live.epoch))\"></div>"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · livefeed</title>
            <link rel="icon" href="\(icon)">
            <style>\(style)</style>\(head)</head>
            <body hx-ext="livefeed"><header class="top"><div class="bar">
            <a class="brand" href="/">\(logo)<span>livefeed</span></a>
            <nav>\(nav(.dashboard, "/", "Dashboard"))\(nav(.channels, "/channels", "Channels"))\(nav(.users, "/users", "Users"))</nav>
            <span id="live-status" data-state="idle" role="status" aria-live="polite"><i class="dot"></i><span class="label">\(escape(label))</span></span>
            </div></header>\(notice)
            <main>\(body)</main>
            <footer>livefeed · pages update by themselves while the dot is green; when it is blue they check every few seconds.</footer>
            <div id="live-event" hidden></div>\(liveElement)
            </body></html>
            """
    }

    /// "1 message", "2 messages": a live count and its noun, which the page script keeps in agreement.
    static func counted(_ kind: Fragments.CountKind, id: Int64, count: Int64, cursor: Int64) -> String {
        Fragments.pageCount(kind, id: id, count: count, cursor: cursor)
            + " <span class=\"noun\" data-one=\"message\" data-many=\"messages\">\(count == 1 ? "message" : "messages")</span>"
    }

    /// Shown by the page script when a count arrives for a row this list does not have.
    static func grewNotice(_ text: String) -> String {
        "<p id=\"list-grew\" class=\"grew\" hidden>\(escape(text)) <a href=\"\">Reload to see them</a></p>"
    }

    static let logo = """
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><circle cx="6" cy="18" r="2.6" fill="currentColor"></circle>\
        <path d="M4 10.5a9.5 9.5 0 0 1 9.5 9.5M4 4a16 16 0 0 1 16 16" fill="none" stroke="currentColor" stroke-width="2.6" \
        stroke-linecap="round"></path></svg>
        """

    /// A favicon that needs no request: the logo in the accent colour.
    static let icon =
        "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Ccircle cx='6' cy='18' "
        + "r='3' fill='%234f46e5'/%3E%3Cpath d='M4 10.5a9.5 9.5 0 0 1 9.5 9.5M4 4a16 16 0 0 1 16 16' fill='none' "
        + "stroke='%234f46e5' stroke-width='3' stroke-linecap='round'/%3E%3C/svg%3E"

    static func errorPage(status: Int, message: String, assets: StaticAssets = StaticAssets()) -> String {
        let body =
            "<div class=\"page-head\"><h1>\(status) \(escape(HTTPResponse.reasonPhrase(status)))</h1>"
            + "<p class=\"sub\">\(escape(message))</p></div><p><a class=\"button\" href=\"/\">Back to the dashboard</a></p>"
        return layout(title: "\(status)", section: .none, body: body, live: nil, assets: assets)
    }

    // MARK: pages

    struct Dashboard {
        var totals: Totals
        var activity: (counts: [Int64], complete: Bool)
        var topChannels: [ChannelRow]
        var topUsers: [UserRow]
        var recent: [ChatMessage]
        var epoch: String
    }

    static func dashboard(_ d: Dashboard, assets: StaticAssets) -> String {
        let cursor = d.totals.lastMessageID
        var body =
            "<div class=\"page-head\"><h1>Dashboard</h1><p class=\"sub\">What is happening across the archive, "
            + "as it happens.</p></div>"
        body += Fragments.totals(
            messages: d.totals.messages, channels: d.totals.channels, users: d.totals.users, cursor: cursor, live: false
        )
        body +=
            "<section class=\"card\"><h2>Messages per minute</h2>"
            + Fragments.activity(counts: d.activity.counts, complete: d.activity.complete, cursor: cursor, oob: false) + "</section>"
        body +=
            "<div class=\"columns\"><section class=\"card\"><h2>Most active channels</h2>"
            + Fragments.topChannels(d.topChannels, cursor: cursor, oob: false) + "</section>"
        body +=
            "<section class=\"card\"><h2>Most active people</h2>" + Fragments.topUsers(d.topUsers, cursor: cursor, oob: false)
            + "</section></div>"
        body +=
            "<section class=\"card\"><h2>Latest messages</h2>"
            + Fragments.recent(id: "recent", d.recent, showChannel: true, cursor: cursor, oob: false) + "</section>"
        // Every part is pushed by the dashboard's live view (or polled from its fragment) as one set.
        let live = Live(socket: "/live/dashboard", poll: "/fragments/dashboard", cursor: cursor, epoch: d.epoch)
        return layout(title: "Dashboard", section: .dashboard, body: body, live: live, assets: assets)
    }

    /// One page of a list by name (`MessageStore.listLimit` at a time): how many of how many it shows, and links to
    /// the first page and the next when there are more.
    struct ListPage {
        var after: String?
        var hasMore: Bool
        var total: Int64
    }

    /// "12 channels", or "1,000 of 1,500 channels" with the way on when the list does not fit one page.
    private static func listHead(_ shown: Int, _ one: String, _ many: String, _ page: ListPage?) -> String {
        guard let page, page.hasMore || page.after != nil else { return "\(shown) \(shown == 1 ? one : many)" }
        return "\(shown) of \(page.total) \(many), by name"
    }

    private static func listLinks(_ path: String, lastName: String?, _ page: ListPage?) -> String {
        guard let page, page.hasMore || page.after != nil else { return "" }
        var links = "<p class=\"list-pages\">"
        if page.after != nil { links += "<a class=\"button\" href=\"\(path)\">First page</a> " }
        if page.hasMore, let lastName {
            links += "<a class=\"button\" href=\"\(path)?after=\(queryEscape(lastName))\" data-next>Next page</a>"
        }
        return links + "</p>"
    }

    /// A query value: every byte but the unreserved ones (RFC 3986 §2.3) percent-encoded.
    static func queryEscape(_ value: String) -> String {
        var out = ""
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }

    static func channels(
        _ channels: [ChannelRow], page: ListPage? = nil, cursor: Int64, epoch: String, assets: StaticAssets
    ) -> String {
        var s =
            "<div class=\"page-head\"><h1>Channels</h1><p class=\"sub\">"
            + listHead(channels.count, "channel", "channels", page) + " · message counts update live</p></div>"
            + grewNotice("New channels have been created since this page loaded.")
        if channels.isEmpty {
            s += "<p class=\"card empty\">No channels yet. Post a message to create one.</p>"
        } else {
            s +=
                "<div class=\"card flush\"><table class=\"list\"><thead><tr><th>Channel</th><th class=\"n\">Messages</th>"
                + "</tr></thead><tbody>"
            for ch in channels {
                s +=
                    "<tr><td><a class=\"channel\" href=\"/channels/\(ch.id)\">#\(escape(ch.name))</a></td>"
                    + "<td class=\"n\">\(Fragments.pageCount(.channel, id: ch.id, count: ch.messageCount, cursor: cursor))</td></tr>"
            }
            s += "</tbody></table></div>"
        }
        s += listLinks("/channels", lastName: channels.last?.name, page)
        let live = Live(socket: "/live/channels", poll: "/fragments/channels", cursor: cursor, epoch: epoch)
        return layout(title: "Channels", section: .channels, body: s, live: live, assets: assets)
    }

    static func users(
        _ users: [UserRow], page: ListPage? = nil, cursor: Int64, epoch: String, assets: StaticAssets
    ) -> String {
        var s =
            "<div class=\"page-head\"><h1>People</h1><p class=\"sub\">"
            + listHead(users.count, "person", "people", page) + " · message counts update live</p></div>"
            + grewNotice("New people have written since this page loaded.")
        if users.isEmpty {
            s += "<p class=\"card empty\">Nobody has written yet.</p>"
        } else {
            s +=
                "<div class=\"card flush\"><table class=\"list\"><thead><tr><th>Name</th><th class=\"n\">Messages</th>"
                + "</tr></thead><tbody>"
            for u in users {
                s +=
                    "<tr><td><a class=\"person\" href=\"/users/\(u.id)\">"
                    + Fragments.avatar(userID: u.id, name: u.name, href: false) + "\(escape(u.name))</a></td>"
                    + "<td class=\"n\">\(Fragments.pageCount(.user, id: u.id, count: u.messageCount, cursor: cursor))</td></tr>"
            }
            s += "</tbody></table></div>"
        }
        s += listLinks("/users", lastName: users.last?.name, page)
        let live = Live(socket: "/live/users", poll: "/fragments/users", cursor: cursor, epoch: epoch)
        return layout(title: "People", section: .users, body: s, live: live, assets: assets)
    }

    static func user(
        _ u: UserRow, recent: [ChatMessage], channels: [(channel: ChannelRow, count: Int64)], cursor: Int64,
        epoch: String, assets: StaticAssets
    ) -> String {
        var s =
            "<div class=\"profile\">" + Fragments.avatar(userID: u.id, name: u.name, href: false, large: true)
            + "<div><h1>\(escape(u.name))</h1><p class=\"sub\">"
            + counted(.user, id: u.id, count: u.messageCount, cursor: cursor) + "</p></div></div>"
        s +=
            "<div class=\"columns wide-left\"><section class=\"card\"><h2>Latest messages</h2>"
            + Fragments.recent(id: "user-messages", recent, showChannel: true, cursor: cursor, oob: false)
            + "</section>"
        s +=
            "<section class=\"card\"><h2>Writes most in</h2>" + Fragments.userChannels(channels, cursor: cursor, oob: false)
            + "</section></div>"
        s +=
            "<div hidden hx-get=\"/fragments/users/\(u.id)/messages\" hx-trigger=\"livefeed:refresh\" hx-swap=\"none\""
            + " data-refresh-after=\"#user-count-\(u.id)\"></div>"
        let live = Live(socket: "/live/users/\(u.id)", poll: "/fragments/users/\(u.id)", cursor: cursor, epoch: epoch)
        return layout(title: u.name, section: .users, body: s, live: live, assets: assets)
    }

    /// A channel's messages, newest last. Without `before` it shows the newest and appends live ones; with
    /// `before` it is a fixed page of history (for readers without scripts), not live.
    static func channel(
        _ ch: ChannelRow, messages: [ChatMessage], hasOlder: Bool, cursor: Int64, epoch: String, before: Int64?,
        assets: StaticAssets
    ) -> String {
        var s =
            "<div class=\"page-head\"><h1>#\(escape(ch.name))</h1><p class=\"sub\">"
            + counted(.channel, id: ch.id, count: ch.messageCount, cursor: cursor)
        if before != nil { s += " · <a href=\"/channels/\(ch.id)\">jump to the latest</a>" }
        s += "</p></div><div class=\"card stream\">"
        s += Fragments.olderLink(channel: ch.id, before: messages.first?.id, hasOlder: hasOlder, oob: false)
        s += "<ol class=\"messages\" id=\"messages\" data-cursor=\"\(cursor)\">"
        s += messages.map { Fragments.messageItem($0) }.joined()
        s += "</ol>"
        if messages.isEmpty { s += "<p class=\"empty\" id=\"no-messages\">No messages here yet.</p>" }
        s += "</div><a id=\"latest\" href=\"#latest\" class=\"jump\" hidden>New messages below ↓</a>"
        guard before == nil else {
            return layout(
                title: "#" + ch.name, section: .channels, body: s, live: nil, assets: assets,
                notLiveReason: "Older messages")
        }
        let live = Live(
            socket: "/live/channels/\(ch.id)", poll: "/fragments/channels/\(ch.id)/messages",
            pollsAfterCursor: true, cursor: cursor, epoch: epoch)
        return layout(title: "#" + ch.name, section: .channels, body: s, live: live, assets: assets)
    }
}
