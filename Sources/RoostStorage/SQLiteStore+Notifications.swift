import Foundation
import GRDB
import RoostCore

// Notifications and the realtime look-ups on SQLite.
extension SQLiteStore {
    static let notificationColumns = "n.id, n.recipient_id, n.kind, n.actor_id, n.post_id, n.comment_id, n.created_at, n.read"

    /// Notifications about a post or comment that is gone are not shown (nor counted).
    static let notificationExists = """
        (n.post_id IS NULL OR EXISTS (SELECT 1 FROM posts p WHERE p.id = n.post_id)) \
        AND (n.comment_id IS NULL OR EXISTS (SELECT 1 FROM comments c WHERE c.id = n.comment_id))
        """

    static func notification(_ row: Row) -> NotificationRecord {
        NotificationRecord(
            id: row.id("id"), recipientID: row.id("recipient_id"), kind: NotificationKind(rawValue: row["kind"]) ?? .follow,
            actorID: row.id("actor_id"), postID: (row["post_id"] as Int64?).map { ID($0) },
            commentID: (row["comment_id"] as Int64?).map { ID($0) }, createdAt: Date(millis: row["created_at"]), read: row["read"])
    }

    // MARK: Notifications

    public func insertNotifications(_ notifications: [NotificationRecord]) async throws -> [NotificationRecord] {
        guard !notifications.isEmpty else { return [] }
        return try await write { db in try notifications.compactMap { try Self.insert($0, db) } }
    }

    /// Stores `notification` unless its dedupe key already is; returns it as stored, or nil.
    static func insert(_ notification: NotificationRecord, _ db: Database) throws -> NotificationRecord? {
        // Prepared once per connection: notifications are written while holding the one writer
        // that follows and posts wait for.
        try db.cachedStatement(
            sql: """
                INSERT INTO notifications (id, recipient_id, kind, actor_id, post_id, comment_id, created_at, read, dedupe_key)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """
        ).execute(
            arguments: [
                Int64(notification.id), Int64(notification.recipientID), notification.kind.rawValue, Int64(notification.actorID),
                notification.postID.map { Int64($0) }, notification.commentID.map { Int64($0) }, notification.createdAt.millis,
                notification.read, notification.dedupeKey,
            ])
        guard db.changesCount > 0 else { return nil }
        var copy = notification
        copy.createdAt = notification.createdAt.roundedToMillis
        return copy
    }

    public func notifications(recipientID: ID, before: ID?, limit: Int) async throws -> [NotificationRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.notificationColumns) FROM notifications n
                    WHERE n.recipient_id = ? AND n.id < ? AND \(Self.notificationExists)
                    ORDER BY n.id DESC LIMIT ?
                    """,
                arguments: [Int64(recipientID), Self.upper(before), limit]
            ).map(Self.notification)
        }
    }

    public func markNotificationsRead(recipientID: ID, upTo: ID) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "UPDATE notifications SET read = 1 WHERE recipient_id = ? AND id <= ? AND read = 0",
                arguments: [Int64(recipientID), Int64(clamping: upTo)])
            return db.changesCount
        }
    }

    public func unreadNotificationCount(recipientID: ID) async throws -> Int {
        try await pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM notifications n WHERE n.recipient_id = ? AND n.read = 0 AND \(Self.notificationExists)",
                arguments: [Int64(recipientID)]) ?? 0
        }
    }

    public func deleteNotifications(postID: ID) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM notifications WHERE post_id = ?", arguments: [Int64(postID)])
        }
    }

    // MARK: Realtime look-ups

    public func followerIDs(of authorID: ID, among candidates: [ID]) async throws -> [ID] {
        guard !candidates.isEmpty else { return [] }
        return try await pool.read { db in
            var found: [ID] = []
            // Chunks stay far below SQLite's bound-parameter limit.
            for start in stride(from: 0, to: candidates.count, by: 900) {
                let chunk = candidates[start..<min(start + 900, candidates.count)]
                found += try Int64.fetchAll(
                    db,
                    sql: "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id IN (\(Self.placeholders(chunk.count)))",
                    arguments: StatementArguments([Int64(authorID)] + chunk.map { Int64(clamping: $0) })
                ).map { ID($0) }
            }
            return found
        }
    }

    public func followerIDs(of authorID: ID, after: ID, limit: Int) async throws -> [ID] {
        try await pool.read { db in
            try Int64.fetchAll(
                db, sql: "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? ORDER BY follower_id LIMIT ?",
                arguments: [Int64(authorID), Int64(clamping: after), limit]
            ).map { ID($0) }
        }
    }

    public func users(usernames: [String]) async throws -> [User] {
        guard !usernames.isEmpty else { return [] }
        let keys = Array(Set(usernames.map { $0.lowercased() }))
        return try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.userColumns) FROM users WHERE username_lower IN (\(Self.placeholders(keys.count)))",
                arguments: StatementArguments(keys)
            ).map(Self.user)
        }
    }

    public func revokedRefreshFamilies(among familyIDs: [String]) async throws -> Set<String> {
        guard !familyIDs.isEmpty else { return [] }
        let families = Array(Set(familyIDs))
        return try await pool.read { db in
            var revoked = Set<String>()
            for start in stride(from: 0, to: families.count, by: 900) {
                let chunk = Array(families[start..<min(start + 900, families.count)])
                revoked.formUnion(
                    try String.fetchAll(
                        db,
                        sql: """
                            SELECT DISTINCT family_id FROM refresh_tokens
                            WHERE revoked_at IS NOT NULL AND family_id IN (\(Self.placeholders(chunk.count)))
                            """,
                        arguments: StatementArguments(chunk)))
            }
            return revoked
        }
    }
}
