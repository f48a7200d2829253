import Foundation
import RoostCore

/// Storage of notifications (follow, like, comment, share, mention) and the few look-ups realtime
/// streams need. Implemented by `SQLiteStore+Notifications.swift` and
/// `PostgresStore+Notifications.swift`.
///
/// Nothing here decides who may see a post: callers apply `PostVisibilityRule` to what comes back.
public protocol NotificationStore: Sendable {
    // MARK: Notifications

    /// Stores notifications in one transaction, skipping every one whose `dedupeKey` is already
    /// stored (or repeated within the batch), so a like after an unlike notifies nobody again and
    /// a retried batch stores nothing twice.
    /// - Returns: the notifications that were stored, in the order given.
    func insertNotifications(_ notifications: [NotificationRecord]) async throws -> [NotificationRecord]
    /// The recipient's notifications, newest first, `id < before`. Notifications about a post or
    /// comment that no longer exists are left out.
    func notifications(recipientID: ID, before: ID?, limit: Int) async throws -> [NotificationRecord]
    /// Marks the recipient's notifications with `id ≤ upTo` read; returns how many changed.
    @discardableResult
    func markNotificationsRead(recipientID: ID, upTo: ID) async throws -> Int
    /// Unread notifications the list would show (about posts and comments that still exist).
    func unreadNotificationCount(recipientID: ID) async throws -> Int
    /// Forgets the notifications about a deleted post.
    func deleteNotifications(postID: ID) async throws

    // MARK: Realtime look-ups

    /// Those of `candidates` who follow `authorID` (a stream's audience among connected users).
    func followerIDs(of authorID: ID, among candidates: [ID]) async throws -> [ID]
    /// The followers of `authorID` with ids above `after`, in id order, at most `limit`.
    func followerIDs(of authorID: ID, after: ID, limit: Int) async throws -> [ID]
    /// Accounts by username, case-insensitively (`@mentions`); unknown names are left out.
    func users(usernames: [String]) async throws -> [User]
    /// The revoked ones among `familyIDs` (streams opened with an ended login close).
    func revokedRefreshFamilies(among familyIDs: [String]) async throws -> Set<String>
}

extension SQLiteSchema {
    /// Version 3: notifications. `dedupe_key` is unique: at most one notification per key, ever.
    static let notifications = Migration(
        version: 3,
        sql: """
            CREATE TABLE notifications (
              id INTEGER PRIMARY KEY,
              recipient_id INTEGER NOT NULL,
              kind TEXT NOT NULL,
              actor_id INTEGER NOT NULL,
              post_id INTEGER,
              comment_id INTEGER,
              created_at INTEGER NOT NULL,
              read INTEGER NOT NULL DEFAULT 0,
              dedupe_key TEXT NOT NULL UNIQUE
            );
            CREATE INDEX notifications_recipient ON notifications (recipient_id, id);
            CREATE INDEX notifications_unread ON notifications (recipient_id, id) WHERE read = 0;
            CREATE INDEX notifications_post ON notifications (post_id) WHERE post_id IS NOT NULL;
            """)
}

extension PostgresSchema {
    /// Version 3: notifications. `dedupe_key` is unique: at most one notification per key, ever.
    static let notifications = Migration(
        version: 3,
        statements: [
            """
            CREATE TABLE notifications (
              id BIGINT PRIMARY KEY,
              recipient_id BIGINT NOT NULL,
              kind TEXT NOT NULL,
              actor_id BIGINT NOT NULL,
              post_id BIGINT,
              comment_id BIGINT,
              created_at BIGINT NOT NULL,
              read BOOLEAN NOT NULL DEFAULT FALSE,
              dedupe_key TEXT NOT NULL,
              CONSTRAINT notifications_dedupe_key UNIQUE (dedupe_key)
            )
            """,
            "CREATE INDEX notifications_recipient ON notifications (recipient_id, id)",
            // Queries say `NOT read` to match this predicate.
            "CREATE INDEX notifications_unread ON notifications (recipient_id, id) WHERE NOT read",
            "CREATE INDEX notifications_post ON notifications (post_id) WHERE post_id IS NOT NULL",
        ])
}
