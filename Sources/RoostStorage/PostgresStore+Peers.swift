import Logging
import PostgresNIO

extension PostgresStore {
    public var peerChannel: (any PeerChannel)? {
        PostgresPeerChannel(client: client, channel: notifyChannel, logger: logger)
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
