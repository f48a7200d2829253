import Foundation
import RoostCore

/// Storage of organizations and memberships, moderation (reports, decisions, audit trail) and
/// search. Implemented by `SQLiteStore+Safety.swift` and `PostgresStore+Safety.swift`.
public protocol SafetyStore: Sendable {}

extension SQLiteSchema {
    /// Version 4: organizations, moderation, search.
    static let safety = Migration(version: 4, sql: "SELECT 1;")
}

extension PostgresSchema {
    /// Version 4: organizations, moderation, search.
    static let safety = Migration(version: 4, statements: ["SELECT 1"])
}
