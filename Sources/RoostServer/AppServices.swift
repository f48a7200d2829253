import Foundation
import Logging
import RoostCore
import RoostStorage

/// What the controllers share: the store and the small services built on it. Built once per node.
public struct AppServices: Sendable {
    public let configuration: RoostConfiguration
    public let store: any RoostStore
    public let clock: any RoostClock
    public let ids: IDGenerator
    let tokens: TokenService
    let cursors: CursorCodec
    let renderer: PostRenderer
    public let feeds: FeedEngine
    /// Committed changes for streams and notifications.
    public let events: EventBus
    /// This node's open realtime streams.
    let streams: StreamRegistry
    /// Moderation of new and edited posts, and decisions that take effect everywhere.
    let moderation: ModerationService
    /// This node's rate-limit counters (see `RateLimiter` for the multi-node story).
    let rateLimiter: RateLimiter
    /// The other nodes on this database (PostgreSQL); nil where this node is the only one.
    let peers: PeerLink?
    /// This node's streams' queue, where `PeerService` puts the events of other nodes.
    let localEvents: LocalEventTransport
    /// Who holds this node's id node number in the database (`leaseNodeNumber`).
    let nodeHolder = UUID().uuidString
    /// How long a node number stays leased without renewal (`NodeLeaseService` renews it every
    /// quarter of that): a crashed node's number comes free after it.
    static let nodeLease: TimeInterval = 60

    public init(configuration: RoostConfiguration, store: any RoostStore, clock: any RoostClock = SystemClock()) async {
        // Bootstrap swift-metrics before any service creates its counters: a metric made earlier
        // would be bound to the no-op handler and never reach /metrics.
        _ = RoostMetrics.registry
        self.configuration = configuration
        self.store = store
        self.clock = clock
        self.ids = IDGenerator()
        self.tokens = await TokenService(configuration: configuration, store: store, clock: clock)
        self.cursors = CursorCodec(secret: Array(configuration.jwtSecret.utf8))
        let peers = store.peerChannel.map { PeerLink(channel: $0) }
        self.peers = peers
        self.feeds = FeedEngine(store: store, configuration: configuration, clock: clock, ids: ids, peers: peers)
        self.renderer = PostRenderer(store: store, feeds: feeds)
        let localEvents = LocalEventTransport(capacity: configuration.realtime.dispatchQueueSize)
        self.localEvents = localEvents
        let transport: any EventTransport
        if let peers {
            transport = PeerEventTransport(local: localEvents, peers: peers)
        } else {
            transport = localEvents
        }
        self.events = EventBus(
            transport: transport,
            notificationQueueSize: configuration.realtime.notificationQueueSize)
        self.streams = StreamRegistry(configuration: configuration.realtime)
        self.moderation = ModerationService(
            store: store, clock: clock, ids: ids, policy: configuration.moderation, feeds: feeds, events: events)
        self.rateLimiter = RateLimiter(clock: clock)
    }

    /// Leases this node's id node number from the database, so no two nodes on one PostgreSQL
    /// make the same id; where this node is the only one (SQLite) the random number stays. Called
    /// before serving; `NodeLeaseService` renews it. Returns the number in use.
    @discardableResult
    public func leaseNodeNumber() async throws -> UInt16 {
        if let number = try await store.leaseNodeNumber(holder: nodeHolder, now: clock.now(), lease: Self.nodeLease) {
            ids.node = number
        }
        return ids.node
    }

    /// Failed-login limits per account and per client address.
    var loginThrottle: LoginThrottle { LoginThrottle(limiter: rateLimiter, policy: configuration.rateLimits) }

    /// A user by numeric id or by username (an all-digit username is tried after the id); 404 otherwise.
    func user(ref: String?) async throws -> User {
        guard let ref, !ref.isEmpty else { throw RoostError.notFound }
        if let id = Validation.id(ref), let user = try await store.user(id: id) { return user }
        guard (try? Validation.username(ref)) == ref, let user = try await store.user(username: ref) else { throw RoostError.notFound }
        return user
    }

    /// Prints an access token for an operator (`roost user token NAME`).
    public func operatorToken(username: String) async throws -> String {
        guard let user = try await store.user(username: username) else { throw RoostError.notFound }
        return try await tokens.issue(for: user).accessToken
    }
}
