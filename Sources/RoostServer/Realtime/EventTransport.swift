import Metrics
import RoostCore

/// How realtime events reach the streams of every Roost node.
///
/// This is the one seam for running several nodes on one PostgreSQL: the in-process
/// `LocalEventTransport` hands events straight to this node's dispatcher; a PostgreSQL
/// implementation would `NOTIFY` each event on a channel (postgres-nio supports `LISTEN`) from a
/// queue drained off the request path, and yield what it hears from every node, its own
/// included. Events are small (a post, ids and counts, one notification), and a post whose text
/// would not fit a `NOTIFY` payload can travel as its id and be read back by the receiver.
/// Nothing above this protocol changes for that: notifications are stored once, on the node
/// where the change happened, and every node decides delivery for its own connections.
public protocol EventTransport: Sendable {
    /// Hands `event` to every node's streams. Never waits: it runs on request paths.
    func publish(_ event: RealtimeEvent)
    /// The next events for this node's streams (from every node), in publish order per node; `[]`
    /// when the transport is finished or the waiting task was cancelled. One consumer.
    func next() async -> [RealtimeEvent]
}

/// The single-node transport: a bounded in-memory queue to this node's dispatcher.
public final class LocalEventTransport: EventTransport {
    private let queue: BoundedQueue<RealtimeEvent>
    private let dropped = Counter(label: RoostMetrics.eventsDropped, dimensions: [("queue", "dispatch")])

    /// - Parameter capacity: events waiting for the dispatcher; beyond it events are dropped and counted.
    public init(capacity: Int = 50_000) {
        queue = BoundedQueue(capacity: capacity)
    }

    public func publish(_ event: RealtimeEvent) {
        if queue.push(event) == .refused { dropped.increment() }
    }

    public func next() async -> [RealtimeEvent] {
        await queue.next()
    }
}
