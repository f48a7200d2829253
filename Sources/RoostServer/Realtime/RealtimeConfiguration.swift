import Foundation

/// Limits and timings of realtime streams and notifications. Defaults suit production; tests
/// shorten the intervals.
public struct RealtimeConfiguration: Sendable {
    /// Frames waiting for one connection. A client that falls this far behind is dropped: one slow
    /// or dead client must never hold up the others or grow the server's memory.
    public var outboundBufferSize = 256
    /// The kernel send buffer of WebSocket stream sockets (`SO_SNDBUF`); nil keeps the system's
    /// auto-tuned default. A small one bounds the memory a stalled client holds in the kernel and
    /// makes it overflow its outbound buffer (and be dropped) sooner.
    public var webSocketSendBufferBytes: Int?
    /// Open streams on this node; further connects are refused with 503.
    public var maxConnections = 50_000
    /// Open streams per account on this node (browser tabs, devices).
    public var maxConnectionsPerUser = 16
    /// Posts one connection may subscribe to for `post.counts`.
    public var maxSubscriptionsPerConnection = 500
    /// How often an idle stream gets a heartbeat (`{"event":"heartbeat"}` on WebSocket, a
    /// `: heartbeat` comment on SSE), which also keeps proxies from timing it out.
    public var heartbeatInterval: Duration = .seconds(25)
    /// WebSocket ping period; a client that has not answered a ping by the next one is disconnected.
    public var webSocketPingInterval: Duration = .seconds(30)
    /// How often open streams are checked against revoked logins in the database (logout on this
    /// node closes its streams at once; this catches revocations the node did not see).
    public var revocationCheckInterval: Duration = .seconds(30)
    /// How often token expiry is checked and replay windows are pruned.
    public var sweepInterval: Duration = .seconds(1)
    /// SSE replay (`Last-Event-ID`): events kept per account for this long after they were sent…
    public var replayWindow: Duration = .seconds(60)
    /// …and at most this many of them.
    public var replayCapacity = 256
    /// Committed changes waiting to become notifications; beyond this, changes are dropped (and
    /// counted) rather than letting the queue grow without bound.
    public var notificationQueueSize = 50_000
    /// How long the notification writer gathers changes after the first one before writing them
    /// in one transaction. A stream of follows or likes then costs one write per window rather
    /// than one per change, each of which took the one SQLite writer right after the request's own
    /// (measured: follows one at a time, p50 0.91 → 0.77 ms). Notifications reach streams this much later.
    public var notificationBatchWindow: Duration = .milliseconds(20)
    /// Events waiting to be dispatched to this node's streams.
    public var dispatchQueueSize = 50_000
    /// Largest message a WebSocket client may send (subscriptions).
    public var maxInboundMessageBytes = 64 * 1024
    /// How long a graceful close (token expired, logout, shutdown) waits for the last frames to
    /// be written before the connection is cut.
    public var closeGracePeriod: Duration = .seconds(2)

    public init() {}
}
