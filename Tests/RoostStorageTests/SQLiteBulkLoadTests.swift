import Foundation
import GRDB
import RoostCore
import Testing

@testable import RoostStorage

/// What a bulk load leaves in the SQLite file, beyond the rows (the conformance suite checks those
/// on both backends).
@Suite struct SQLiteBulkLoadTests {
    @Test("a bulk load of follows leaves room in the index leaves CREATE INDEX packed, and only the follows")
    func bulkLoadedFollowIndexesHaveRoom() async throws {
        try await SQLiteMigrationTests.withMigratedStore { store in
            // 600 followers × 100 followees out of 2,000 accounts; follow ids rise with the rows.
            let users = (1...2_000).map { i in
                NewUser(
                    id: ID(i), username: "loose\(i)", email: "loose\(i)@example.com", displayName: "Loose \(i)", passwordHash: nil,
                    createdAt: t0)
            }
            #expect(try await store.importUsers(users) == users.count)
            var follows: [(follower: ID, followee: ID, id: ID, createdAt: Date)] = []
            for follower in 1...600 {
                for k in 0..<100 {
                    let followee = (follower * 7 + k * 13) % 2_000 + 1
                    guard followee != follower else { continue }
                    follows.append((ID(follower), ID(followee), ID(follows.count + 1), t0))
                }
            }
            #expect(try await store.beginBulkLoad(.follows, expectedRows: follows.count))
            var imported = 0
            for start in stride(from: 0, to: follows.count, by: 10_000) {
                imported += try await store.importFollows(Array(follows[start..<min(start + 10_000, follows.count)]))
            }
            try await store.finishBulkLoad(.follows)
            #expect(imported == follows.count)

            let (stored, fills) = try await store.pool.read { db in
                let stored = try Row.fetchAll(db, sql: "SELECT follower_id, followee_id, id FROM follows").map {
                    [$0[0] as Int64, $0[1], $0[2]]
                }
                var fills: [String: Double] = [:]
                for index in BulkLoad.deferredIndexes(.follows) {
                    fills[index.name] = try Double.fetchOne(
                        db,
                        sql: "SELECT SUM(pgsize - unused) * 1.0 / SUM(pgsize) FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
                        arguments: [index.name])
                }
                return (stored, fills)
            }
            // The placeholders are gone and nothing else is: exactly the imported follows remain.
            let expected = Set(follows.map { [Int64($0.follower), Int64($0.followee), Int64($0.id)] })
            let extra = Set(stored).subtracting(expected)
            let missing = expected.subtracting(stored)
            #expect(stored.count == follows.count && extra.isEmpty && missing.isEmpty, "\(extra.count) extra, \(missing.count) missing")
            // CREATE INDEX alone leaves these leaves 99% full (the first insert into each splits it).
            for (name, fill) in fills { #expect(fill < 0.95, "\(name) leaves \(fill) full") }
            #expect(fills.count == 3)
        }
    }
}
