import Glibc
import LivefeedProtocol

/// One worker process slot of one generation. Owns the supervisor's end of the worker's control socket while
/// the worker runs. `state` is what the process is doing; `want` is what the supervisor wants; the loop closes
/// the gap. A slot is restarted in place (same index, generation and epoll token) until its generation retires.
final class WorkerSlot {
    enum State: String {
        case stopped, starting, running, stopping
    }

    enum Want {
        case up, down
    }

    let index: Int
    let generation: Int
    /// The epoll token of this slot's control socket.
    let token: EpollToken
    /// The serial number in `token`, which names this slot's other descriptors' tokens too.
    var serial: UInt64 {
        if case .worker(let serial) = token { serial } else { 0 }
    }
    var state: State = .stopped
    var want: Want = .up
    var pid: pid_t = 0
    var control: FileDescriptor?
    /// The read end of the worker's standard error, and the line it has not finished yet.
    var stderr: FileDescriptor?
    var stderrPartial: [UInt8] = []
    /// The last line it wrote (for worker_exited), and how many lines were logged in the current 10 s window.
    var stderrLastLine = ""
    var stderrWindowStart: UInt64 = 0
    var stderrLinesInWindow = 0
    var startedAt: UInt64 = 0
    var nextStartAt: UInt64 = 0
    var consecutiveFailures = 0
    /// Set after `WorkerTable.crashLoopFailures` quick exits in a row; cleared once the worker stays up.
    var crashLooping = false
    var lastExit: ChildProcess.Exit?
    /// When the supervisor last heard anything from this process (any record counts).
    var lastHeardAt: UInt64 = 0
    /// The worker's latest gauges, and the cumulative drop count already added to the metrics.
    var gauges: WorkerGauges?
    var recordsDroppedCounted: Int64 = 0
    /// For a draining worker: when it gets SIGKILL, and the drain command while it has not been sent yet.
    var drainDeadline: UInt64 = 0
    var drainCommand: Record?
    /// SIGKILL was sent to the current process (misbehaviour, silence or drain deadline).
    var killSent = false
    /// Connections handed to this worker and not yet reported closed.
    private(set) var connections: Set<UInt64> = []
    /// Of those, the live subscribers of each channel (`--channel-affinity`).
    private(set) var channelSubscribers = ChannelCounts()

    /// Admitted connections waiting for room in this worker's control socket.
    var handoffs = HandoffQueue<Supervisor.QueuedHandoff>(bound: Supervisor.maxQueuedHandoffsPerWorker) { $0.channel }
    /// Live connections moving here from a draining worker, waiting for room in the control socket.
    var moves = HandoffQueue<Supervisor.QueuedMove>(bound: Supervisor.maxQueuedMovesPerWorker) { $0.channel }
    /// EPOLLOUT is asked for on `control`: something waits for room in it (`Supervisor.wantWritable`).
    var controlWritable = false
    /// Handoffs were queued this loop turn and go out together at its end (`Supervisor.flushHandoffs`).
    var flushDue = false

    init(index: Int, generation: Int, token: EpollToken) {
        self.index = index
        self.generation = generation
        self.token = token
    }

    /// A process exists for this slot (it may be exiting).
    var hasProcess: Bool { state != .stopped }

    /// Counts a connection this worker now holds; `channel` when it subscribes to one.
    func hold(_ id: UInt64, channel: Int64?) {
        if connections.insert(id).inserted { channelSubscribers.add(channel) }
    }

    /// Stops counting a connection (closed, or moving away); what it did not hold is left alone.
    func letGo(_ id: UInt64, channel: Int64?) {
        if connections.remove(id) != nil { channelSubscribers.remove(channel) }
    }

    /// Subscribers of `channel` this worker holds or that wait for its control socket (handoffs and moves).
    func placed(channel: Int64) -> Int {
        channelSubscribers[channel] + handoffs.waiting(channel: channel) + moves.waiting(channel: channel)
    }

    /// Connections this worker holds or that wait for its control socket.
    var placedConnections: Int { connections.count + handoffs.count + moves.count }

    /// Channel subscribers this worker holds or that wait for its control socket, over every channel.
    var placedSubscribers: Int {
        channelSubscribers.total + handoffs.waitingForChannels + moves.waitingForChannels
    }

    /// The process is gone: nothing it held counts any more (each was released first).
    func forgetConnections() {
        connections = []
        channelSubscribers = ChannelCounts()
    }
}

/// The worker slots by generation: `current` takes new connections, `incoming` is the next generation starting
/// during a reload, `retiring` holds older generations draining until they exit.
struct WorkerTable {
    static let crashLoopFailures = 5
    /// A worker up this long is no longer failing quickly.
    static let stableAfterMilliseconds: UInt64 = 10_000

    private(set) var generation = 0
    private(set) var current: [WorkerSlot] = []
    private(set) var incoming: [WorkerSlot] = []
    private(set) var retiring: [WorkerSlot] = []
    /// Running current workers: the handoff candidates. Rebuilt on every state change, which is rare.
    private(set) var ready: [WorkerSlot] = []
    private var bySerial: [UInt64: WorkerSlot] = [:]
    private var nextSerial: UInt64 = 0
    /// SplitMix64 state for `pick`: the system generator costs a getrandom(2) per draw, two per connection.
    private var pickState = UInt64(bitPattern: Int64(time(nil))) ^ UInt64(getpid())

    /// Connections a worker can hold: its descriptor limit (inherited from the supervisor) less a reserve for its
    /// own files. Channel affinity stops filling a worker here, so a big channel spills to the others rather than
    /// reach a worker whose table is full (the kernel would drop the descriptor in flight and the client with it).
    var descriptorRoom = Int.max
    /// Descriptors a worker keeps for itself: epoll, signalfd, control socket, the database, its WAL and shared
    /// memory on two connections (the checkpointer's), static files being served, with a margin.
    static let workerDescriptorReserve: UInt64 = 64

    init(count: Int) { current = makeGeneration(count: count) }

    /// Whether `slot` can take one more connection within its `descriptorRoom`.
    func hasRoom(_ slot: WorkerSlot) -> Bool { slot.placedConnections < descriptorRoom }

    /// `descriptorRoom` for a descriptor limit (0: unknown, no bound).
    static func descriptorRoom(limit: UInt64) -> Int {
        limit == 0 ? .max : Int(clamping: limit - min(limit, workerDescriptorReserve))
    }

    var all: [WorkerSlot] { current + incoming + retiring }
    var runningCount: Int { current.filter { $0.state == .running }.count }

    func slot(serial: UInt64) -> WorkerSlot? { bySerial[serial] }
    func slot(pid: pid_t) -> WorkerSlot? { all.first { $0.pid == pid && $0.hasProcess } }

    /// Creates the next generation as `incoming`; `current` keeps serving until `promoteIncoming`.
    mutating func beginGeneration(count: Int) -> [WorkerSlot] {
        incoming = makeGeneration(count: count)
        return incoming
    }

    /// The incoming generation becomes current; returns the previous current generation, now retiring.
    mutating func promoteIncoming() -> [WorkerSlot] {
        let old = current
        current = incoming
        incoming = []
        retiring += old
        refreshReady()
        return old
    }

    /// Gives up on the incoming generation; returns it, now retiring.
    mutating func abandonIncoming() -> [WorkerSlot] {
        let abandoned = incoming
        incoming = []
        retiring += abandoned
        return abandoned
    }

    /// Forgets a retiring slot whose process is gone.
    mutating func forget(_ slot: WorkerSlot) {
        retiring.removeAll { $0 === slot }
        if case .worker(let serial) = slot.token { bySerial[serial] = nil }
    }

    mutating func refreshReady() {
        ready = current.filter { $0.state == .running && $0.want == .up }
    }

    /// Power of two choices: of two random ready workers, the one holding fewer connections. Constant work per
    /// connection whatever the pool size, and close to least-loaded balance. Should both draws be one worker at its
    /// `descriptorRoom`, the first ready worker with room instead (a walk only then).
    mutating func pick() -> WorkerSlot? {
        switch ready.count {
        case 0: return nil
        case 1: return ready[0]
        default:
            let r = nextRandom()
            let n = UInt64(ready.count)
            let a = ready[Int((r & 0xFFFF_FFFF) % n)]
            let b = ready[Int((r >> 32) % n)]
            let choice = a.connections.count <= b.connections.count ? a : b
            return hasRoom(choice) ? choice : ready.first(where: hasRoom) ?? choice
        }
    }

    /// Channel affinity: a subscriber of `channel` goes where the channel's subscribers are (held, or waiting for
    /// the worker's control socket, so a burst of joins stays together), so one worker fans
    /// each of its messages out (one encode, one tick, instead of one per worker) until that worker holds `bound`
    /// of them; then to a worker holding fewer than `bound` (the fullest such first), and once every holder has
    /// `bound`, to the worker holding the fewest, so a big channel spreads evenly over every worker. A worker at its
    /// `descriptorRoom` is not filled further. A channel no worker holds goes where `pick()` sends any connection.
    mutating func pick(channel: Int64?, bound: Int) -> WorkerSlot? {
        guard let channel, bound > 0, ready.count > 1 else { return pick() }
        var filling: (slot: WorkerSlot, count: Int)?
        var fewest: (slot: WorkerSlot, count: Int)?
        var held = false
        for slot in ready {
            let n = slot.placed(channel: channel)
            held = held || n > 0
            if n > 0 && n < bound && n > filling?.count ?? 0 && hasRoom(slot) {
                filling = (slot, n)
            }
            if let f = fewest, n > f.count || (n == f.count && slot.connections.count >= f.slot.connections.count) {
                continue
            }
            fewest = (slot, n)
        }
        if let filling { return filling.slot }
        return held ? fewest?.slot : pick()
    }

    /// How many more connections other than channel subscribers the publishers' worker may hold than the worker
    /// holding the fewest: past that, publishers are placed by load, so a flood of `POST /api/messages` connections
    /// (from many addresses; `--max-per-client` bounds each) cannot pile onto the worker that fans out.
    static let maxPublisherSkew = 64

    /// A publisher (a connection whose first request is `POST /api/messages`) goes where the channel subscribers
    /// are: to the worker that holds the most of them (of those, the one with fewer connections), so the worker that
    /// fans a message out is the one that stored it and ticks at once, rather than learning of it at its next look
    /// at the database while a third process competes for the cores. Where no worker holds any, or that worker
    /// already holds `maxPublisherSkew` more other connections than another or is at its `descriptorRoom`, as
    /// `pick()`.
    mutating func pickForPublisher() -> WorkerSlot? {
        guard ready.count > 1 else { return pick() }
        func others(_ slot: WorkerSlot) -> Int { slot.connections.count - slot.channelSubscribers.total }
        var best: WorkerSlot?
        var fewestOthers = Int.max
        for slot in ready {
            fewestOthers = min(fewestOthers, others(slot))
            guard let b = best else {
                best = slot
                continue
            }
            let (n, m) = (slot.placedSubscribers, b.placedSubscribers)
            if n > m || (n == m && slot.connections.count < b.connections.count) { best = slot }
        }
        guard let best, best.placedSubscribers > 0, others(best) - fewestOthers < Self.maxPublisherSkew, hasRoom(best)
        else {
            return pick()
        }
        return best
    }

    /// SplitMix64 (Steele, Lea, Flood 2014): statistically fine for choosing workers, no system call.
    private mutating func nextRandom() -> UInt64 {
        pickState &+= 0x9E37_79B9_7F4A_7C15
        var z = pickState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Restart delay after `failures` quick exits in a row: 100 ms doubling, capped at 30 s.
    static func backoffMilliseconds(failures: Int) -> UInt64 {
        guard failures > 0 else { return 0 }
        return min(30_000, 100 << UInt64(min(failures - 1, 20)))
    }

    private mutating func makeGeneration(count: Int) -> [WorkerSlot] {
        generation += 1
        return (0..<count).map { index in
            nextSerial += 1
            let slot = WorkerSlot(index: index, generation: generation, token: .worker(nextSerial))
            bySerial[nextSerial] = slot
            return slot
        }
    }
}
