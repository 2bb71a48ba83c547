import LivefeedProtocol

/// HTML fragments shared by the pages, the `format=html` live frames and the `/fragments/...` polling endpoints,
/// so a page, its live updates and its polling fallback render the same element ids. Live and polling fragments
/// are top-level elements with an id, `hx-swap-oob` and the cursor in `data-cursor`; appended items are wrapped
/// in their list element because htmx appends the children of an out-of-band `beforeend` fragment.
enum Fragments {
    static func escape(_ s: String) -> String { HTMLEscape.escape(s) }

    /// A person's round badge: their initial on a colour derived from their id, so it is stable across pages.
    static func avatar(userID: Int64, name: String, href: Bool = true, large: Bool = false) -> String {
        let initial = escape(name.first.map { String($0).uppercased() } ?? "?")
        let hue = (userID &* 47) % 360
        let cls = large ? "avatar large" : "avatar"
        if href {
            return "<a class=\"\(cls)\" href=\"/users/\(userID)\" style=\"--hue:\(hue)\" aria-hidden=\"true\" "
                + "tabindex=\"-1\">\(initial)</a>"
        }
        return "<span class=\"\(cls)\" style=\"--hue:\(hue)\" aria-hidden=\"true\">\(initial)</span>"
    }

    /// `2026-11-26T14:03:05.120Z` as `2026-11-26 14:03` (UTC); the page script shows it in the reader's time zone.
    static func shortTime(_ sentAt: String) -> String {
        let chars = Array(sentAt)
        guard chars.count >= 16, chars[10] == "T" else { return sentAt }
        return String(chars[0..<10]) + " " + String(chars[11..<16])
    }

    /// One message. On its channel's page it is `#msg-<id>` with its cursor; in summary lists elsewhere
    /// (`anchor: false`) it only names the message, since an id may appear once per page.
    static func messageItem(_ m: ChatMessage, showChannel: Bool = false, anchor: Bool = true) -> String {
        let channel =
            showChannel
            ? "<a class=\"in\" href=\"/channels/\(m.channelID)\">#\(escape(m.channelName))</a>" : ""
        let open = anchor ? "<li id=\"msg-\(m.id)\" data-cursor=\"\(m.id)\">" : "<li data-message=\"\(m.id)\">"
        return open + avatar(userID: m.userID, name: m.userName)
            + "<div class=\"meta\"><a class=\"who\" href=\"/users/\(m.userID)\">\(escape(m.userName))</a>\(channel)"
            + "<time class=\"when\" datetime=\"\(escape(m.sentAt))\" title=\"\(escape(m.sentAt))\">"
            + "\(escape(shortTime(m.sentAt)))</time></div><p class=\"text\">\(escape(m.text))"
            + (m.textTruncated ? "<span class=\"truncated\"> … (cut: the stored text is longer)</span>" : "") + "</p></li>"
    }

    /// New messages for a channel page: appended to `#messages`.
    static func messages(_ items: some Sequence<ChatMessage>, cursor: Int64) -> String {
        var s = "<ol id=\"messages\" hx-swap-oob=\"beforeend\" data-cursor=\"\(cursor)\">"
        for m in items { s += messageItem(m) }
        return s + "</ol>"
    }

    /// Older messages for a channel page: prepended to `#messages`, with the link to the page before them. They
    /// carry no `data-cursor`: the cursor only ever moves forward, and these are behind it.
    static func history(_ items: [ChatMessage], channel: Int64, hasOlder: Bool) -> String {
        var s = "<ol id=\"messages\" hx-swap-oob=\"afterbegin\">"
        for m in items { s += messageItem(m) }
        s += "</ol>"
        return s + olderLink(channel: channel, before: items.first?.id, hasOlder: hasOlder, oob: true)
    }

    /// The top of a channel's message list: a link to the page of messages before `before`, or the start.
    static func olderLink(channel: Int64, before: Int64?, hasOlder: Bool, oob: Bool) -> String {
        let attrs = oob ? " hx-swap-oob=\"true\"" : ""
        guard hasOlder, let before else {
            return "<div id=\"history\" class=\"history start\"\(attrs)>This is the beginning of the channel.</div>"
        }
        return
            "<div id=\"history\" class=\"history\"\(attrs)><a class=\"button\" href=\"/channels/\(channel)?before_id=\(before)\""
            + " hx-get=\"/fragments/channels/\(channel)/history?before_id=\(before)\" hx-swap=\"none\""
            + " data-history>Load older messages</a></div>"
    }

    enum CountKind: String {
        case channel, user
    }

    /// A live count. With a cursor it is an out-of-band replacement (live frame or poll); without, the page's own.
    static func count(_ kind: CountKind, id: Int64, count: Int64, cursor: Int64?) -> String {
        let live = cursor.map { " hx-swap-oob=\"true\" data-cursor=\"\($0)\"" } ?? ""
        return "<span id=\"\(kind.rawValue)-count-\(id)\" class=\"count\"\(live)>\(count)</span>"
    }

    /// A count as the page renders it: same id, with the cursor it reflects, not swapped.
    static func pageCount(_ kind: CountKind, id: Int64, count: Int64, cursor: Int64) -> String {
        "<span id=\"\(kind.rawValue)-count-\(id)\" class=\"count\" data-cursor=\"\(cursor)\">\(count)</span>"
    }

    static func totals(messages: Int64, channels: Int64, users: Int64, cursor: Int64, live: Bool) -> String {
        let oob = live ? " hx-swap-oob=\"true\"" : ""
        return "<div id=\"totals\" class=\"totals\"\(oob) data-cursor=\"\(cursor)\">"
            + "<div class=\"stat\"><span class=\"label\">Messages</span><b id=\"total-messages\">\(messages)</b></div>"
            + "<div class=\"stat\"><span class=\"label\">Channels</span><b id=\"total-channels\">\(channels)</b></div>"
            + "<div class=\"stat\"><span class=\"label\">Users</span><b id=\"total-users\">\(users)</b></div></div>"
    }

    /// A control event for the page's script (status changes such as slow_consumer or too_far_behind).
    static func status(state: String, reason: String, retryAfterMilliseconds: Int?, cursor: Int64) -> String {
        let retry = retryAfterMilliseconds.map { " data-retry-after-ms=\"\($0)\"" } ?? ""
        return "<div id=\"live-event\" hx-swap-oob=\"true\" data-type=\"status\" data-state=\"\(escape(state))\""
            + " data-cursor=\"\(cursor)\""
            + " data-reason=\"\(escape(reason))\"\(retry) hidden></div>"
    }
}
