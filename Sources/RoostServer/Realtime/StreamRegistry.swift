import Foundation
import Metrics
import NIOCore
import RoostCore
import Synchronization

/// This node's open streams, indexed the ways the dispatcher asks: by account (whose home feed
/// does a post enter), by subscribed post (who is showing it), by login (which streams end with
/// it). One lock guards the indexes; nothing under it waits for I/O.
///
/// An account is *listening* while it has an open stream, and for `replayWindow` after its last
/// SSE stream closed: events it would have received meanwhile still go to its replay ring, so a
/// client that reconnects with `Last-Event-ID` misses nothing within the window.
final class StreamRegistry: Sendable {
    private struct Listener {
        var viewer: Viewer
        var connections: [StreamConnection] = []
        var replay: ReplayRing?
        /// When the last connection closed (the replay ring is kept for `replayWindow` after).
        var idleSince: ContinuousClock.Instant?
    }

    private struct State {
        var connections: [UInt64: StreamConnection] = [:]
        var listeners: [ID: Listener] = [:]
        var subscribers: [ID: [UInt64: StreamConnection]] = [:]
        var nextID: UInt64 = 0
        var webSockets = 0
        var sse = 0
    }

    private let state = Mutex(State())
    let configuration: RealtimeConfiguration
    private let webSocketGauge = Gauge(label: RoostMetrics.streamConnections, dimensions: [("transport", "websocket")])
    private let sseGauge = Gauge(label: RoostMetrics.streamConnections, dimensions: [("transport", "sse")])

    init(configuration: RealtimeConfiguration) {
        self.configuration = configuration
    }

    // MARK: Connections

    /// Opens a connection for `session`: checks the limits, subscribes it to `postIDs` (already
    /// checked for visibility) and, for SSE, queues the events after `lastEventID` that the
    /// account's replay ring still holds, in the same step that makes it receive new ones, so the
    /// replay and the live events neither overlap nor leave a gap.
    func open(
        session: Session, expiresAt: Date, transport: StreamConnection.Transport, writer: (any StreamWriter)?, postIDs: [ID] = [],
        lastEventID: ID? = nil
    ) throws(RoostError) -> StreamConnection {
        let now = ContinuousClock.now
        let since = now - configuration.replayWindow
        let userID = session.viewer.userID
        let connection = try state.withLock { state throws(RoostError) -> StreamConnection in
            try Self.checkRoom(for: userID, in: state, configuration)
            var listener = state.listeners[userID] ?? Listener(viewer: session.viewer)
            state.nextID += 1
            let connection = StreamConnection(
                id: state.nextID, session: session, expiresAt: expiresAt, transport: transport,
                outboxCapacity: configuration.outboundBufferSize, writer: writer)
            listener.viewer = session.viewer
            listener.idleSince = nil
            listener.connections.append(connection)
            if transport == .sse {
                if listener.replay == nil { listener.replay = ReplayRing(capacity: configuration.replayCapacity) }
                if let lastEventID, let replay = listener.replay {
                    for frame in replay.frames(after: lastEventID, since: since) { connection.outbox.push(frame) }
                }
            }
            state.listeners[userID] = listener
            state.connections[connection.id] = connection
            for postID in connection.subscribe(postIDs, limit: configuration.maxSubscriptionsPerConnection) {
                state.subscribers[postID, default: [:]][connection.id] = connection
            }
            if transport == .webSocket { state.webSockets += 1 } else { state.sse += 1 }
            return connection
        }
        updateGauges()
        return connection
    }

    /// Throws what `open` would for want of room: 503 when the node is full, 429 when the
    /// account has all the streams it may have.
    func checkRoom(for userID: ID) throws(RoostError) {
        try state.withLock { state throws(RoostError) in try Self.checkRoom(for: userID, in: state, configuration) }
    }

    private static func checkRoom(for userID: ID, in state: State, _ configuration: RealtimeConfiguration) throws(RoostError) {
        guard state.connections.count < configuration.maxConnections else {
            throw .unavailable("this server has no room for another stream; retry shortly")
        }
        guard (state.listeners[userID]?.connections.count ?? 0) < configuration.maxConnectionsPerUser else {
            throw .rateLimited(retryAfter: 5)
        }
    }

    /// Forgets a closed connection (idempotent).
    func remove(_ connection: StreamConnection) {
        let removed = state.withLock { state -> Bool in
            guard state.connections.removeValue(forKey: connection.id) != nil else { return false }
            for postID in connection.subscriptions { Self.dropSubscriber(connection, of: postID, &state) }
            let userID = connection.userID
            if var listener = state.listeners[userID] {
                listener.connections.removeAll { $0 === connection }
                if !listener.connections.isEmpty || listener.replay != nil {
                    if listener.connections.isEmpty { listener.idleSince = ContinuousClock.now }
                    state.listeners[userID] = listener
                } else {
                    state.listeners[userID] = nil
                }
            }
            if connection.transport == .webSocket { state.webSockets -= 1 } else { state.sse -= 1 }
            return true
        }
        if removed { updateGauges() }
    }

    private func updateGauges() {
        let (webSockets, sse) = state.withLock { ($0.webSockets, $0.sse) }
        webSocketGauge.record(webSockets)
        sseGauge.record(sse)
    }

    var connectionCount: Int { state.withLock { $0.connections.count } }
    var allConnections: [StreamConnection] { state.withLock { Array($0.connections.values) } }

    /// The streams opened with tokens of one login.
    func connections(familyID: String) -> [StreamConnection] {
        state.withLock { state in state.connections.values.filter { $0.session.familyID == familyID } }
    }

    // MARK: Subscriptions

    /// Subscribes the connection to posts (already checked for visibility); returns the ids now subscribed.
    func subscribe(_ connection: StreamConnection, to postIDs: [ID]) -> [ID] {
        state.withLock { state in
            guard state.connections[connection.id] != nil else { return [] }
            let accepted = connection.subscribe(postIDs, limit: configuration.maxSubscriptionsPerConnection)
            for postID in accepted { state.subscribers[postID, default: [:]][connection.id] = connection }
            return accepted
        }
    }

    func unsubscribe(_ connection: StreamConnection, from postIDs: [ID]) -> [ID] {
        state.withLock { state in
            let removed = connection.unsubscribe(postIDs)
            for postID in removed { Self.dropSubscriber(connection, of: postID, &state) }
            return removed
        }
    }

    func subscribers(of postID: ID) -> [StreamConnection] {
        state.withLock { state in state.subscribers[postID].map { Array($0.values) } ?? [] }
    }

    /// Forgets every subscription to a deleted post.
    func removeSubscriptions(to postID: ID) {
        state.withLock { state in
            guard let connections = state.subscribers.removeValue(forKey: postID) else { return }
            for connection in connections.values { _ = connection.unsubscribe([postID]) }
        }
    }

    private static func dropSubscriber(_ connection: StreamConnection, of postID: ID, _ state: inout State) {
        state.subscribers[postID]?[connection.id] = nil
        if state.subscribers[postID]?.isEmpty == true { state.subscribers[postID] = nil }
    }

    // MARK: Audiences

    /// How many accounts are listening.
    var listenerCount: Int { state.withLock { $0.listeners.count } }

    /// Every listening account.
    var listenerIDs: [ID] { state.withLock { Array($0.listeners.keys) } }

    /// The viewers behind those of `userIDs` that are listening.
    func listeningViewers(among userIDs: some Sequence<ID>) -> [Viewer] {
        state.withLock { state in userIDs.compactMap { state.listeners[$0]?.viewer } }
    }

    // MARK: Delivery

    /// Queues `frame` on every stream of the given accounts and in their replay rings.
    /// - Returns: the connections this closed as too slow.
    func deliver(_ frame: StreamFrame, toUsers userIDs: [ID]) -> [StreamConnection] {
        let now = ContinuousClock.now
        return state.withLock { state in
            var dropped: [StreamConnection] = []
            for userID in userIDs {
                guard let connections = state.listeners[userID]?.connections else { continue }
                // Mutated in place through the dictionary, so the ring is never copied.
                if let id = frame.id { state.listeners[userID]?.replay?.append(id: id, at: now, frame: frame.sse) }
                for connection in connections where connection.enqueue(frame) == .overflowed {
                    dropped.append(connection)
                }
            }
            return dropped
        }
    }

    /// Queues `frame` on the given streams only (no replay: counts are state, not history).
    /// - Returns: the connections this closed as too slow.
    func deliver(_ frame: StreamFrame, toConnections connections: [StreamConnection]) -> [StreamConnection] {
        connections.filter { $0.enqueue(frame) == .overflowed }
    }

    // MARK: Housekeeping

    /// Finds streams whose token has expired and forgets replay rings past their window.
    func sweep(now: Date) -> [StreamConnection] {
        let cutoff = ContinuousClock.now - configuration.replayWindow
        return state.withLock { state in
            let expired = state.listeners.compactMap { id, listener in
                listener.idleSince.map { $0 <= cutoff } == true ? id : nil
            }
            for id in expired { state.listeners[id] = nil }
            return state.connections.values.filter { $0.expiresAt <= now }
        }
    }
}
