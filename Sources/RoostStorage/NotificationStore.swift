import Foundation
import RoostCore

/// Storage of notifications (follow, like, comment, share, mention). Implemented by
/// `SQLiteStore+Notifications.swift` and `PostgresStore+Notifications.swift`.
public protocol NotificationStore: Sendable {}

extension SQLiteSchema {
    /// Version 3: notifications.
    static let notifications = Migration(version: 3, sql: "SELECT 1;")
}

extension PostgresSchema {
    /// Version 3: notifications.
    static let notifications = Migration(version: 3, statements: ["SELECT 1"])
}
