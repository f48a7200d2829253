import Foundation

/// Messages among the Roost nodes sharing one database: how one node's cache invalidations and
/// stream events reach the others (PostgreSQL `LISTEN`/`NOTIFY`). Best effort and unordered
/// across nodes, in order from any one node; a node that was not listening misses what was sent
/// meanwhile, so a listener starts by forgetting what it cached (`listen`'s `ready`).
public protocol PeerChannel: Sendable {
    /// The largest payload, in UTF-8 bytes, `send` accepts.
    var maximumPayload: Int { get }
    /// Sends each payload, in order, to every node listening (this one included).
    func send(_ payloads: [String]) async throws
    /// Listens until the task is cancelled (then returns) or the connection fails (then throws):
    /// calls `ready` once listening, then `receive` with each payload as it arrives.
    func listen(ready: @Sendable () async -> Void, receive: @Sendable (String) async -> Void) async throws
}

extension RoostStore {
    public var peerChannel: (any PeerChannel)? { nil }
    public func leaseNodeNumber(holder: String, now: Date, lease: TimeInterval) async throws -> UInt16? { nil }
    public func releaseNodeNumber(holder: String) async throws {}
}
