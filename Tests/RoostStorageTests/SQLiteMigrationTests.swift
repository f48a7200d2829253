import Foundation
import GRDB
import RoostCore
import Testing

@testable import RoostStorage

/// Migrations of an existing SQLite file (the conformance suite starts every store empty).
@Suite struct SQLiteMigrationTests {
    @Test("version 6 moves each user's timeline state from `users` to `timelines`")
    func timelinesMigration() async throws {
        try await Self.withMigratedStore { store in
            let ids = IDGenerator()
            let reader = try await store.makeUser("mig_reader", ids: ids)
            let idle = try await store.makeUser("mig_idle", ids: ids)
            let activeUntil = Date(millis: Date().millis + 3_600_000)
            // A file as version 5 left it: the state in the users row, no `timelines` table.
            try await store.write { db in
                try db.execute(sql: "DROP TABLE timelines")
                try db.execute(sql: "DELETE FROM schema_migrations WHERE version = 6")
                try db.execute(
                    sql: "UPDATE users SET home_active_until = ?, timeline_floor = 42 WHERE id = ?",
                    arguments: [activeUntil.millis, Int64(reader.id)])
            }
            try await store.migrate()
            #expect(try await store.timelineState(userID: reader.id) == TimelineState(floor: 42, activeUntil: activeUntil))
            let idleState = try await store.timelineState(userID: idle.id)
            #expect(idleState.floor == 0 && idleState.activeUntil <= Date(), "no row: floor 0, inactive")
            #expect(try await store.activeTimelineUsers(after: 0, limit: 10, now: Date()) == [reader.id])
            // A touch makes a user without a row active; a second migrate changes nothing.
            try await store.touchTimeline(userID: idle.id, activeUntil: activeUntil)
            try await store.migrate()
            #expect(try await store.activeTimelineUsers(after: 0, limit: 10, now: Date()) == [reader.id, idle.id].sorted())
        }
    }

    /// A fully migrated store in a fresh file, removed afterwards.
    static func withMigratedStore(_ body: (SQLiteStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("roost-migration-test-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: directory + "/roost.sqlite")
        try await store.migrate()
        do {
            try await body(store)
        } catch {
            try? await store.shutdown()
            throw error
        }
        try await store.shutdown()
    }
}

extension SQLiteMigrationTests {
    @Test("the trending refresh reads only engaged posts (version 7's `posts_engaged`)")
    func trendingUsesEngagedIndex() async throws {
        try await Self.withMigratedStore { store in
            let plan = try await store.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + SQLiteStore.trendingCandidatesSQL, arguments: [0, 10])
                    .map { $0["detail"] as String }.joined(separator: "\n")
            }
            // Without the index SQLite walks `posts_public`: every public post of the window.
            #expect(plan.contains("posts_engaged"), "\(plan)")
        }
    }
}
