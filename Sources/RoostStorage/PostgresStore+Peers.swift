import Foundation
import Logging
import PostgresNIO
import RoostCore

extension PostgresStore {
    public var peerChannel: (any PeerChannel)? {
        PostgresPeerChannel(client: client, channel: notifyChannel, logger: logger)
    }

    public func leaseNodeNumber(holder: String, now: Date, lease: TimeInterval) async throws -> UInt16? {
        let until = now.addingTimeInterval(lease).millis
        if let row = try await rows("UPDATE node_numbers SET expires_at = \(until) WHERE holder = \(holder) RETURNING number").first {
            return UInt16(try row.decode(Int32.self))
        }
        // A random free or expired number. Two nodes may pick the same one at once: the second's
        // conditional update then changes nothing, and it picks again.
        for _ in 0..<8 {
            let claimed = try await rows(
                """
                INSERT INTO node_numbers (number, holder, expires_at)
                SELECT n, \(holder), \(until) FROM generate_series(0, 1023) AS n
                WHERE NOT EXISTS (SELECT 1 FROM node_numbers WHERE number = n AND expires_at > \(now.millis))
                ORDER BY random() LIMIT 1
                ON CONFLICT (number) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                WHERE node_numbers.expires_at <= \(now.millis)
                RETURNING number
                """)
            if let row = claimed.first { return UInt16(try row.decode(Int32.self)) }
            let taken = try await rows("SELECT count(*) FROM node_numbers WHERE expires_at > \(now.millis)").first?.decode(Int64.self) ?? 0
            if taken >= 1024 { return nil }
        }
        return nil
    }

    public func releaseNodeNumber(holder: String) async throws {
        try await rows("DELETE FROM node_numbers WHERE holder = \(holder)")
    }
}

/// `PeerChannel` over PostgreSQL's `LISTEN`/`NOTIFY`: the database every node already shares
/// carries their messages, so running several nodes needs nothing else. A listener holds one
/// pooled connection for as long as it listens.
struct PostgresPeerChannel: PeerChannel {
    let client: PostgresClient
    let channel: String
    let logger: Logger

    /// PostgreSQL refuses payloads of 8,000 bytes or more.
    var maximumPayload: Int { 7_900 }

    func send(_ payloads: [String]) async throws {
        guard !payloads.isEmpty else { return }
        // One statement, so one round trip; notifications of one transaction arrive in order.
        _ = try await client.query(
            "SELECT pg_notify(\(channel), payload) FROM unnest(\(payloads)::text[]) WITH ORDINALITY AS p(payload, n) ORDER BY n",
            logger: logger
        ).collect()
    }

    func listen(ready: @Sendable () async -> Void, receive: @Sendable (String) async -> Void) async throws {
        try await client.withConnection { connection in
            try await connection.listen(on: channel) { notifications in
                await ready()
                for try await notification in notifications {
                    await receive(notification.payload)
                }
            }
        }
    }
}
