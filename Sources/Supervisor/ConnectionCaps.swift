import LivefeedProtocol

/// Slot accounting at the door: connections held by workers in total and per live view, and connections per
/// client address, counting those still waiting at the door for their request head (so a slowloris client
/// cannot hold more than its share either).
///
/// A pure value: the supervisor calls `arrive` once per accepted connection, `admit` once per handoff, and
/// exactly one of `leave` (never handed over) or `release` (handed over, now gone) when it ends. Each returns
/// false instead of going below zero, which would mean a slot was released twice; the caller logs that.
struct ConnectionCaps {
    /// Configured caps. Live views default to `live`; `perView` overrides single views.
    struct Limits: Equatable, Sendable {
        var global = 4096
        var live = 1024
        var perView: [ConnectionView: Int] = [:]
        var perClient = 64

        /// The cap for `view`; plain HTTP has only the global one.
        func limit(for view: ConnectionView) -> Int? { view.isLive ? perView[view] ?? live : nil }
    }

    /// Why a connection was refused; raw values are the `reason` in metrics and logs.
    enum Refusal: String, Sendable {
        case global = "global_cap"
        case view = "view_cap"
        case client = "client_cap"

        var status: Int { self == .client ? 429 : 503 }
    }

    let limits: Limits
    /// Connections handed to workers.
    private(set) var total = 0
    private(set) var byView: [ConnectionView: Int] = [:]
    /// Connections per client address, waiting at the door or handed over.
    private(set) var byClient: [String: Int] = [:]

    init(limits: Limits) { self.limits = limits }

    /// A connection from `client` arrived. Counted unless the address already holds its cap (peers without an
    /// address are counted but never capped: they are not one client).
    mutating func arrive(client: String) -> Refusal? {
        let held = byClient[client, default: 0]
        guard held < limits.perClient || client == ClientKey.unknown else { return .client }
        byClient[client] = held + 1
        return nil
    }

    /// An arrived connection is about to be handed over for `view`: takes a global and a view slot.
    mutating func admit(view: ConnectionView) -> Refusal? {
        guard total < limits.global else { return .global }
        if let cap = limits.limit(for: view), byView[view, default: 0] >= cap { return .view }
        total += 1
        byView[view, default: 0] += 1
        return nil
    }

    /// An arrived connection ended without being handed over (or its handoff failed after `admit`: then
    /// `release` it instead).
    @discardableResult
    mutating func leave(client: String) -> Bool {
        guard let held = byClient[client], held > 0 else { return false }
        byClient[client] = held > 1 ? held - 1 : nil
        return true
    }

    /// A handed-over connection ended: frees its global, view and client slots.
    @discardableResult
    mutating func release(view: ConnectionView, client: String) -> Bool {
        guard total > 0, let inView = byView[view], inView > 0 else { return false }
        total -= 1
        byView[view] = inView - 1
        return leave(client: client)
    }

    /// The most connections any one address holds.
    var busiestClient: Int { byClient.values.max() ?? 0 }
}
