import LivefeedProtocol

/// The dashboard's refreshable parts and a user's recent activity. Each is a top-level element with an id; with
/// `oob` it carries `hx-swap-oob="true"` so `/fragments/dashboard` and `/fragments/users/{id}/messages` replace
/// the page's copies in place.
extension Fragments {
    private static func oobAttribute(_ oob: Bool) -> String { oob ? " hx-swap-oob=\"true\"" : "" }

    /// Messages per minute as an inline SVG bar chart, oldest minute first; the last bar is the current minute.
    static func activity(counts: [Int64], complete: Bool, cursor: Int64, oob: Bool) -> String {
        let peak = counts.max() ?? 0
        let scale = niceCeiling(peak)
        let total = counts.saturatingSum()
        let n = counts.count
        let barWidth = 10
        let width = n * barWidth
        let height = 100
        var bars = ""
        for (i, value) in counts.enumerated() {
            // Counts come from the database: a bar stays inside the chart whatever they say.
            let h = value <= 0 ? 0 : min(Double(height), max(1.5, Double(value) / Double(scale) * Double(height)))
            let y = Double(height) - h
            let minutesAgo = n - 1 - i
            let label = minutesAgo == 0 ? "this minute" : minutesAgo == 1 ? "1 minute ago" : "\(minutesAgo) minutes ago"
            let cls = minutesAgo == 0 ? "bar now" : "bar"
            bars +=
                "<rect class=\"\(cls)\" x=\"\(i * barWidth + 1)\" y=\"\(format(y))\" width=\"\(barWidth - 2)\""
                + " height=\"\(format(h))\" rx=\"1.5\"><title>\(label): \(value) message\(value == 1 ? "" : "s")</title></rect>"
        }
        let grid =
            "<line class=\"grid\" x1=\"0\" x2=\"\(width)\" y1=\"0.5\" y2=\"0.5\"></line>"
            + "<line class=\"grid\" x1=\"0\" x2=\"\(width)\" y1=\"50\" y2=\"50\"></line>"
            + "<line class=\"axis\" x1=\"0\" x2=\"\(width)\" y1=\"99.5\" y2=\"99.5\"></line>"
        let current = counts.last ?? 0
        let note =
            complete ? "" : " <span class=\"muted\">(from the newest \(MessageStore.activityScanLimit) messages)</span>"
        return "<figure id=\"activity\" class=\"chart\"\(oobAttribute(oob)) data-cursor=\"\(cursor)\">"
            + "<figcaption><span><b>\(total)</b> messages in the last \(n) minutes\(note)</span>"
            + "<span class=\"muted\"><b>\(current)</b> this minute · peak \(peak)/min</span></figcaption>"
            + "<div class=\"plot\"><span class=\"ymax\">\(scale)</span><span class=\"ymid\">\(scale / 2)</span>"
            + "<svg viewBox=\"0 0 \(width) \(height)\" preserveAspectRatio=\"none\" role=\"img\""
            + " aria-label=\"Messages per minute over the last \(n) minutes: \(total) in all, \(current) this minute\">"
            + grid + bars + "</svg></div>"
            + "<div class=\"xaxis\"><span>\(n) min ago</span><span>now</span></div></figure>"
    }

    /// The smallest of 1, 2, 4, 6, 8 × 10ⁿ (at least 4) at or above `value`: round numbers with a whole half;
    /// `Int64.max` when no such number fits.
    static func niceCeiling(_ value: Int64) -> Int64 {
        var magnitude: Int64 = 1
        while true {
            for step: Int64 in [1, 2, 4, 6, 8] where step.saturatingMultiply(magnitude) >= max(value, 4) {
                return step.saturatingMultiply(magnitude)
            }
            guard magnitude <= Int64.max / 10 else { return .max }
            magnitude *= 10
        }
    }

    private static func format(_ v: Double) -> String {
        let tenths = Int64(clamping: (v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// A ranking with a bar per row, relative to the first (largest) count.
    static func ranking(
        id: String, rows: [(href: String, label: String, lead: String, count: Int64)], empty: String, cursor: Int64,
        oob: Bool
    ) -> String {
        guard let top = rows.first?.count, top > 0 else {
            return "<ol id=\"\(id)\" class=\"ranking\"\(oobAttribute(oob)) data-cursor=\"\(cursor)\">"
                + "<li class=\"empty\">\(escape(empty))</li></ol>"
        }
        var s = "<ol id=\"\(id)\" class=\"ranking\"\(oobAttribute(oob)) data-cursor=\"\(cursor)\">"
        for row in rows {
            // A count written by another program may be negative or beyond the first: the bar stays 2–100 %.
            let share = min(100, max(2, Int64(clamping: Double(row.count) / Double(top) * 100)))
            s +=
                "<li style=\"--share:\(share)%\">\(row.lead)<a href=\"\(row.href)\">\(escape(row.label))</a>"
                + "<span class=\"n\">\(row.count)</span></li>"
        }
        return s + "</ol>"
    }

    static func topChannels(_ channels: [ChannelRow], cursor: Int64, oob: Bool) -> String {
        ranking(
            id: "top-channels", rows: channels.map { ("/channels/\($0.id)", "#" + $0.name, "", $0.messageCount) },
            empty: "No channels yet", cursor: cursor, oob: oob)
    }

    static func topUsers(_ users: [UserRow], cursor: Int64, oob: Bool) -> String {
        ranking(
            id: "top-users",
            rows: users.map {
                ("/users/\($0.id)", $0.name, avatar(userID: $0.id, name: $0.name, href: false), $0.messageCount)
            },
            empty: "No users yet", cursor: cursor, oob: oob)
    }

    /// Newest first: the dashboard's and a profile's "latest messages".
    static func recent(id: String, _ messages: [ChatMessage], showChannel: Bool, cursor: Int64, oob: Bool) -> String {
        guard !messages.isEmpty else {
            return "<ol id=\"\(id)\" class=\"messages\"\(oobAttribute(oob)) data-cursor=\"\(cursor)\">"
                + "<li class=\"empty\">No messages yet</li></ol>"
        }
        return "<ol id=\"\(id)\" class=\"messages\"\(oobAttribute(oob)) data-cursor=\"\(cursor)\">"
            + messages.map { messageItem($0, showChannel: showChannel, anchor: false) }.joined() + "</ol>"
    }

    /// The channels a user wrote in most recently, with how many of their messages each holds.
    static func userChannels(_ rows: [(channel: ChannelRow, count: Int64)], cursor: Int64, oob: Bool) -> String {
        ranking(
            id: "user-channels", rows: rows.map { ("/channels/\($0.channel.id)", "#" + $0.channel.name, "", $0.count) },
            empty: "Nothing yet", cursor: cursor, oob: oob)
    }
}
