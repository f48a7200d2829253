import Foundation
import PostgresNIO
import RoostCore

// Notifications and the realtime look-ups on PostgreSQL.
extension PostgresStore {
    static let notificationColumns = "n.id, n.recipient_id, n.kind, n.actor_id, n.post_id, n.comment_id, n.created_at, n.read"

    /// Notifications about a post or comment that is gone are not shown (nor counted).
    static let notificationExists = """
        (n.post_id IS NULL OR EXISTS (SELECT 1 FROM posts p WHERE p.id = n.post_id)) \
        AND (n.comment_id IS NULL OR EXISTS (SELECT 1 FROM comments c WHERE c.id = n.comment_id))
        """

    static func notification(_ row: PostgresRow) throws -> NotificationRecord {
        let (id, recipient, kind, actor, post, comment, createdAt, read) =
            try row.decode((Int64, Int64, String, Int64, Int64?, Int64?, Int64, Bool).self)
        return NotificationRecord(
            id: id.notificationID, recipientID: recipient.notificationID, kind: NotificationKind(rawValue: kind) ?? .follow,
            actorID: actor.notificationID, postID: post?.notificationID, commentID: comment?.notificationID,
            createdAt: Date(millis: createdAt), read: read)
    }

    // MARK: Notifications

    public func insertNotifications(_ notifications: [NotificationRecord]) async throws -> [NotificationRecord] {
        try await insertNotifications(notifications, on: nil)
    }

    /// Stores each notification whose dedupe key is not stored yet, on `connection` (inside its
    /// transaction) or on any pooled connection; returns those stored.
    func insertNotifications(_ notifications: [NotificationRecord], on connection: PostgresConnection?) async throws -> [NotificationRecord] {
        // The first of each key wins, within the batch as against the table.
        var keys = Set<String>()
        let batch = notifications.filter { keys.insert($0.dedupeKey).inserted }
        guard !batch.isEmpty else { return [] }
        // One statement for the whole batch: the columns travel as arrays (0 stands for "no post"
        // or "no comment": ids are never 0).
        let query: PostgresQuery = """
            INSERT INTO notifications (id, recipient_id, kind, actor_id, post_id, comment_id, created_at, read, dedupe_key)
            SELECT id, recipient, kind, actor, NULLIF(post, 0), NULLIF(comment, 0), created, FALSE, key
            FROM unnest(\(batch.map(\.id.storedBits)), \(batch.map(\.recipientID.storedBits)), \(batch.map(\.kind.rawValue)),
              \(batch.map(\.actorID.storedBits)), \(batch.map { $0.postID?.storedBits ?? 0 }), \(batch.map { $0.commentID?.storedBits ?? 0 }),
              \(batch.map(\.createdAt.millis)), \(batch.map(\.dedupeKey)))
              AS t(id, recipient, kind, actor, post, comment, created, key)
            ON CONFLICT DO NOTHING
            RETURNING id
            """
        let rows: [PostgresRow]
        if let connection { rows = try await self.rows(query, on: connection) } else { rows = try await self.rows(query) }
        let inserted = Set(try rows.map { try $0.decode(Int64.self) })
        return batch.filter { inserted.contains($0.id.storedBits) }.map { notification in
            var copy = notification
            copy.createdAt = notification.createdAt.roundedToMillis
            copy.read = false
            return copy
        }
    }

    public func notifications(recipientID: ID, before: ID?, limit: Int) async throws -> [NotificationRecord] {
        try await rows(
            """
            SELECT \(unescaped: Self.notificationColumns) FROM notifications n
            WHERE n.recipient_id = \(recipientID.storedBits) AND n.id < \(Self.upper(before)) AND \(unescaped: Self.notificationExists)
            ORDER BY n.id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map(Self.notification)
    }

    public func markNotificationsRead(recipientID: ID, upTo: ID) async throws -> Int {
        try await rows(
            """
            UPDATE notifications SET read = TRUE
            WHERE recipient_id = \(recipientID.storedBits) AND id <= \(Int64(clamping: upTo)) AND NOT read
            RETURNING 1
            """
        ).count
    }

    public func unreadNotificationCount(recipientID: ID) async throws -> Int {
        try await rows(
            """
            SELECT count(*) FROM notifications n
            WHERE n.recipient_id = \(recipientID.storedBits) AND NOT n.read AND \(unescaped: Self.notificationExists)
            """
        ).first.map { try $0.decode(Int.self) } ?? 0
    }

    public func deleteNotifications(postID: ID) async throws {
        try await rows("DELETE FROM notifications WHERE post_id = \(postID.storedBits)")
    }

    // MARK: Realtime look-ups

    public func followerIDs(of authorID: ID, among candidates: [ID]) async throws -> [ID] {
        guard !candidates.isEmpty else { return [] }
        return try await rows(
            """
            SELECT follower_id FROM follows
            WHERE followee_id = \(authorID.storedBits) AND follower_id = ANY(\(candidates.map { Int64(clamping: $0) }))
            """
        ).map { try $0.decode(Int64.self).notificationID }
    }

    public func followerIDs(of authorID: ID, after: ID, limit: Int) async throws -> [ID] {
        try await rows(
            """
            SELECT follower_id FROM follows WHERE followee_id = \(authorID.storedBits) AND follower_id > \(Int64(clamping: after))
            ORDER BY follower_id LIMIT \(Self.limitValue(limit))
            """
        ).map { try $0.decode(Int64.self).notificationID }
    }

    public func users(usernames: [String]) async throws -> [User] {
        guard !usernames.isEmpty else { return [] }
        let keys = Array(Set(usernames.map { $0.lowercased() }))
        return try await rows("SELECT \(unescaped: Self.userColumns) FROM users WHERE username_lower = ANY(\(keys))").map(Self.user)
    }

    public func revokedRefreshFamilies(among familyIDs: [String]) async throws -> Set<String> {
        guard !familyIDs.isEmpty else { return [] }
        let rows = try await rows(
            "SELECT DISTINCT family_id FROM refresh_tokens WHERE revoked_at IS NOT NULL AND family_id = ANY(\(Array(Set(familyIDs))))")
        return Set(try rows.map { try $0.decode(String.self) })
    }
}

extension UInt64 {
    /// A Roost id as stored: its bit pattern in a signed BIGINT.
    fileprivate var storedBits: Int64 { Int64(bitPattern: self) }
}

extension Int64 {
    fileprivate var notificationID: ID { ID(bitPattern: self) }
}
