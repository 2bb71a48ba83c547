import LivefeedProtocol

/// Server-rendered HTML. Every text that came from the database or the request goes through `escape`.
enum Pages {
    static func escape(_ s: String) -> String { Fragments.escape(s) }

    static let style = """
        body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
        header a{color:#cfe0ff;text-decoration:none}header strong{margin-right:auto}
        main{max-width:56rem;margin:0 auto;padding:1rem}
        table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:.35rem .6rem;border-bottom:1px solid #e3e6ea;text-align:left}
        td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
        ol.messages{list-style:none;padding:0;margin:0;background:#fff}
        ol.messages li{padding:.45rem .7rem;border-bottom:1px solid #eef0f3}
        .who{font-weight:600;margin-right:.4rem}.when{color:#6b7380;font-size:.8rem;margin-left:.4rem}
        .totals{display:flex;gap:1rem;flex-wrap:wrap}.totals div{background:#fff;padding:.6rem 1rem;border-radius:.4rem}
        .totals b{display:block;font-size:1.4rem}
        #live-status{font-size:.8rem;padding:.1rem .5rem;border-radius:1rem;background:#555}
        #live-status[data-state=connected]{background:#1f7a3a}#live-status[data-state=reconnecting]{background:#a86b00}
        #live-status[data-state=fallback]{background:#7a1f1f}
        """

    static func layout(title: String, body: String, live: Bool = false) -> String {
        let status = live ? "<span id=\"live-status\" data-state=\"idle\">idle</span>" : ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · livefeed</title><style>\(style)</style></head>
            <body><header><strong>livefeed</strong><a href="/">Dashboard</a><a href="/channels">Channels</a>
            <a href="/users">Users</a>\(status)</header>
            <main>\(body)</main></body></html>
            """
    }

    static func errorPage(status: Int, message: String) -> String {
        layout(title: "\(status)", body: "<h1>\(status) \(escape(HTTPResponse.reasonPhrase(status)))</h1><p>\(escape(message))</p>")
    }

    static func messageItem(_ m: ChatMessage, showChannel: Bool = false) -> String {
        Fragments.messageItem(m, showChannel: showChannel)
    }

    static func dashboard(totals: Totals, channels: [ChannelRow], recent: [ChatMessage]) -> String {
        var body = "<h1>Dashboard</h1>"
        body += Fragments.totals(
            messages: totals.messages, channels: totals.channels, users: totals.users, cursor: totals.lastMessageID,
            live: false)
        body += "<h2>Most active channels</h2>"
        body += channelTable(Array(channels.sorted { $0.messageCount > $1.messageCount }.prefix(5)))
        body += "<h2>Recent messages</h2><ol class=\"messages\">"
        body += recent.map { messageItem($0, showChannel: true) }.joined()
        body += "</ol>"
        return layout(title: "Dashboard", body: body)
    }

    static func channelTable(_ channels: [ChannelRow]) -> String {
        var s = "<table><thead><tr><th>Channel</th><th class=\"n\">Messages</th></tr></thead><tbody>"
        for ch in channels {
            s += "<tr><td><a href=\"/channels/\(ch.id)\">#\(escape(ch.name))</a></td>"
                + "<td class=\"n\">\(Fragments.count(.channel, id: ch.id, count: ch.messageCount, cursor: nil))</td></tr>"
        }
        return s + "</tbody></table>"
    }

    static func channels(_ channels: [ChannelRow]) -> String {
        layout(title: "Channels", body: "<h1>Channels</h1>" + channelTable(channels))
    }

    static func users(_ users: [UserRow]) -> String {
        var s = "<h1>Users</h1><table><thead><tr><th>User</th><th class=\"n\">Messages</th></tr></thead><tbody>"
        for u in users {
            s += "<tr><td><a href=\"/users/\(u.id)\">\(escape(u.name))</a></td>"
                + "<td class=\"n\">\(Fragments.count(.user, id: u.id, count: u.messageCount, cursor: nil))</td></tr>"
        }
        return layout(title: "Users", body: s + "</tbody></table>")
    }

    static func user(_ u: UserRow, recent: [ChatMessage]) -> String {
        var s = "<h1>\(escape(u.name))</h1><p>\(Fragments.count(.user, id: u.id, count: u.messageCount, cursor: nil)) messages</p>"
        s += "<h2>Recent messages</h2><ol class=\"messages\">" + recent.map { messageItem($0, showChannel: true) }.joined()
        return layout(title: u.name, body: s + "</ol>")
    }

    /// A channel's latest messages, newest last, with a small script that appends live messages from
    /// /live/channels/{id} and resumes by cursor after a drop.
    static func channel(_ ch: ChannelRow, messages: [ChatMessage], cursor: Int64, epoch: String) -> String {
        var s = "<h1>#\(escape(ch.name))</h1><p>\(Fragments.count(.channel, id: ch.id, count: ch.messageCount, cursor: nil)) messages</p>"
        s += "<ol class=\"messages\" id=\"messages\" data-cursor=\"\(cursor)\" data-epoch=\"\(escape(epoch))\">"
        s += messages.map { messageItem($0) }.joined()
        s += "</ol>"
        s += """
            <script>
            (function () {
              var list = document.getElementById('messages'), status = document.getElementById('live-status');
              var cursor = Number(list.dataset.cursor), delay = 1000;
              function state(s) { status.dataset.state = s; status.textContent = s; }
              function text(tag, cls, t) { var e = document.createElement(tag); e.className = cls; e.textContent = t; return e; }
              function connect() {
                var proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
                var ws = new WebSocket(proto + location.host + '/live/channels/\(ch.id)?after_id=' + cursor +
                                       '&epoch=' + encodeURIComponent(list.dataset.epoch));
                ws.onopen = function () { state('connected'); delay = 1000; };
                ws.onmessage = function (ev) {
                  var env = JSON.parse(ev.data);
                  if (env.type === 'message' && env.cursor > cursor && !document.getElementById('msg-' + env.data.id)) {
                    var li = document.createElement('li'); li.id = 'msg-' + env.data.id;
                    li.appendChild(text('span', 'who', env.data.user));
                    li.appendChild(text('span', 'text', env.data.text));
                    li.appendChild(text('span', 'when', env.data.sent_at));
                    list.appendChild(li); cursor = env.cursor;
                  } else if (env.type === 'status' && (env.data.state === 'epoch_changed' || env.data.state === 'too_far_behind')) {
                    location.reload();
                  }
                };
                ws.onclose = function () {
                  state('reconnecting');
                  setTimeout(connect, Math.random() * delay); delay = Math.min(delay * 2, 30000);
                };
              }
              connect();
            })();
            </script>
            """
        return layout(title: "#" + ch.name, body: s, live: true)
    }
}
