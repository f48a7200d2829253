import Metrics
import RoostCore

/// How realtime events reach the streams of every Roost node.
///
/// The in-process `LocalEventTransport` hands events straight to this node's dispatcher; with
/// several nodes on one PostgreSQL, `PeerEventTransport` also sends them to the other nodes
/// (`PeerLink`, `NOTIFY` drained off the request path), whose `PeerService` puts them in their
/// own local queue. Nothing above this protocol changes for that: notifications are stored once,
/// on the node where the change happened, and every node decides delivery for its own connections.
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

/// Several nodes: this node's events go to its own streams at once and to the other nodes'
/// through `PeerLink`; theirs arrive in `local` by way of `PeerService`.
final class PeerEventTransport: EventTransport {
    let local: LocalEventTransport
    let peers: PeerLink

    init(local: LocalEventTransport, peers: PeerLink) {
        self.local = local
        self.peers = peers
    }

    func publish(_ event: RealtimeEvent) {
        local.publish(event)
        peers.send(.event(event))
    }

    func next() async -> [RealtimeEvent] {
        await local.next()
    }
}
