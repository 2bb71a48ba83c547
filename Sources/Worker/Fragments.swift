import LivefeedProtocol

/// HTML fragments shared by the pages, the `format=html` live frames and the `/fragments/...` polling endpoints,
/// so a page, its live updates and its polling fallback render the same element ids. Live and polling fragments
/// are top-level elements with an id, `hx-swap-oob` and the cursor in `data-cursor`; appended items are wrapped
/// in their list element because htmx appends the children of an out-of-band `beforeend` fragment.
enum Fragments {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    static func messageItem(_ m: ChatMessage, showChannel: Bool = false) -> String {
        let channel = showChannel ? " in <a href=\"/channels/\(m.channelID)\">#\(escape(m.channelName))</a>" : ""
        return "<li id=\"msg-\(m.id)\" data-cursor=\"\(m.id)\"><a class=\"who\" href=\"/users/\(m.userID)\">"
            + "\(escape(m.userName))</a><span class=\"text\">\(escape(m.text))</span>"
            + "<time class=\"when\" datetime=\"\(escape(m.sentAt))\">\(escape(m.sentAt))</time>\(channel)</li>"
    }

    /// New messages for a channel page: appended to `#messages`.
    static func messages(_ items: some Sequence<ChatMessage>, cursor: Int64) -> String {
        var s = "<ol id=\"messages\" hx-swap-oob=\"beforeend\" data-cursor=\"\(cursor)\">"
        for m in items { s += messageItem(m) }
        return s + "</ol>"
    }

    enum CountKind: String {
        case channel, user
    }

    static func count(_ kind: CountKind, id: Int64, count: Int64, cursor: Int64?) -> String {
        let live = cursor.map { " hx-swap-oob=\"true\" data-cursor=\"\($0)\"" } ?? ""
        return "<span id=\"\(kind.rawValue)-count-\(id)\"\(live)>\(count)</span>"
    }

    static func totals(messages: Int64, channels: Int64, users: Int64, cursor: Int64, live: Bool) -> String {
        let oob = live ? " hx-swap-oob=\"true\"" : ""
        return "<div id=\"totals\" class=\"totals\"\(oob) data-cursor=\"\(cursor)\">"
            + "<div>Messages<b id=\"total-messages\">\(messages)</b></div>"
            + "<div>Channels<b id=\"total-channels\">\(channels)</b></div>"
            + "<div>Users<b id=\"total-users\">\(users)</b></div></div>"
    }

    /// A control event for the page's script (status changes such as slow_consumer or too_far_behind).
    static func status(state: String, reason: String, retryAfterMilliseconds: Int?) -> String {
        let retry = retryAfterMilliseconds.map { " data-retry-after-ms=\"\($0)\"" } ?? ""
        return "<div id=\"live-event\" hx-swap-oob=\"true\" data-type=\"status\" data-state=\"\(escape(state))\""
            + " data-reason=\"\(escape(reason))\"\(retry) hidden></div>"
    }
}
