import Foundation
import GRDB
import PostgresNIO
import RoostCore

/// A table whose index upkeep a large import can defer (`RoostStore.beginBulkLoad`).
public enum BulkLoadTable: String, Sendable, CaseIterable {
    case follows
    case posts
}

/// Bulk-load mode: a large import into an (almost) empty table runs ~2-5× faster when it inserts
/// into the primary key alone and builds the secondary indexes afterwards (CREATE INDEX sorts once;
/// incremental inserts in an order other than the index's dirty pages all over the tree in every
/// batch) and rebuilds the search index in one statement instead of per row.
///
/// Crash safety needs no marker table: what a bulk load removes is itself the marker. `migrate()`
/// calls `repairBulkLoad`, which recreates any missing deferred index (CREATE INDEX IF NOT EXISTS
/// from the same definitions the schema uses) and, if the search upkeep of `posts` is missing
/// (SQLite: its FTS triggers; PostgreSQL: its trigger disabled), restores it and rebuilds the
/// search index from the posts.
enum BulkLoad {
    /// One secondary index, defined once for both schemas and for the bulk load.
    struct Index: Sendable {
        let name: String
        /// `table (columns)`, as after `ON` in CREATE INDEX (same syntax on both backends).
        let target: String

        /// The schema's statement (kept exactly as the released migrations wrote it).
        var create: String { "CREATE INDEX \(name) ON \(target)" }
        var createIfMissing: String { "CREATE INDEX IF NOT EXISTS \(name) ON \(target)" }
        var drop: String { "DROP INDEX IF EXISTS \(name)" }
    }

    static let followsFollowee = Index(name: "follows_followee", target: "follows (followee_id, id)")
    static let followsFollower = Index(name: "follows_follower", target: "follows (follower_id, id)")
    /// Fan-out walks an author's followers in follower order through this one (migration 2).
    static let followsFanout = Index(name: "follows_fanout", target: "follows (followee_id, follower_id)")
    static let postsAuthor = Index(name: "posts_author", target: "posts (author_id, id)")
    /// PostgreSQL's full-text index (migration 4).
    static let postSearchDocument = Index(name: "post_search_document", target: "post_search USING GIN (document)")

    /// The secondary B-tree indexes a bulk load of `table` drops. Must list only indexes the
    /// current schema has: `repairBulkLoad` recreates whatever is listed here.
    static func deferredIndexes(_ table: BulkLoadTable) -> [Index] {
        switch table {
        case .follows: [followsFollowee, followsFollower, followsFanout]
        case .posts: [postsAuthor]
        }
    }

    /// Below this many rows an import keeps the indexes: rebuilding them would cost more.
    static let minimumRows = 50_000

    /// Whether deferring pays: the import is large and at least as large as what the table holds
    /// (rebuilding sorts old and new rows; incremental upkeep touches only the new ones).
    static func pays(existingRows: Int, expectedRows: Int) -> Bool {
        expectedRows >= minimumRows && existingRows <= expectedRows
    }
}

// MARK: - SQLite

extension SQLiteStore {
    public func beginBulkLoad(_ table: BulkLoadTable, expectedRows: Int) async throws -> Bool {
        try await pool.write { db in
            // Counts at most expectedRows + 1 rows, so a huge table is not scanned to say "no".
            let existing =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM (SELECT 1 FROM \(table.rawValue) LIMIT ?)", arguments: [expectedRows + 1]) ?? 0
            guard BulkLoad.pays(existingRows: existing, expectedRows: expectedRows) else { return false }
            for index in BulkLoad.deferredIndexes(table) { try db.execute(sql: index.drop) }
            if table == .posts {
                for trigger in SQLiteSchema.postsSearchTriggerNames { try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)") }
            }
            return true
        }
    }

    public func finishBulkLoad(_ table: BulkLoadTable) async throws {
        // One index per transaction keeps each WAL commit bounded; an interruption between them
        // leaves the rest to `repairBulkLoad`, which is idempotent.
        let missing = Set(try await missingBulkLoadStructures())
        let built = BulkLoad.deferredIndexes(table).filter { missing.contains($0.name) }
        for index in built {
            try await pool.write { db in
                // Lets CREATE INDEX sort with helper threads (~20% faster on 2 cores); reset after,
                // so ordinary queries keep running on one thread.
                try db.execute(sql: "PRAGMA threads = \(min(4, ProcessInfo.processInfo.activeProcessorCount))")
                defer { try? db.execute(sql: "PRAGMA threads = 0") }
                try db.execute(sql: index.createIfMissing)
            }
        }
        // Only right after building (a restart that finds the indexes skips it: it saves writes
        // later, nothing depends on it).
        if !built.isEmpty && table == .follows {
            try await loosenFollows()
        }
        if table == .posts {
            try await pool.write { db in try Self.restorePostSearch(db) }
        }
    }

    /// One placeholder per this many follows, and placeholders per transaction (see `loosenFollows`).
    static let loosenSpacing = 128
    static let loosenChunk = 4_000

    /// Leaves room in the leaves of the follows B-trees that CREATE INDEX just packed full.
    ///
    /// CREATE INDEX fills every leaf page to the brim, so after a bulk load the first insert into
    /// any leaf splits it and rebalances its neighbours: a follow wrote ~25 pages on the bench
    /// graph, which the checkpointer then copies, and the follow tail tracked that copying. A
    /// table grown by inserts keeps its leaves ~85% full instead (PostgreSQL's CREATE INDEX leaves
    /// 10% by default); SQLite has no fill factor to ask for. So this inserts one placeholder
    /// follow per `loosenSpacing` rows and deletes it again in the same transaction. Each pairs
    /// the follower and follow id of one sampled follow with the followee of another, so the
    /// placeholders fall all over the key order of every index (by follower, by followee, by
    /// follow id). Each splits the packed leaves around it; the delete leaves the room. Only pairs
    /// that were not follows become placeholders (the insert reports a conflict otherwise), so
    /// the delete removes nothing else. It rewrites most leaves once: seconds for 10 M follows.
    func loosenFollows() async throws {
        // Samples: the first follow at or after spread (follower, followee) points of the key
        // space, found by seeks rather than a scan of the whole table. On the writer's connection:
        // a reader's would keep the pages it read cached (+200 MiB RSS on the bench graph).
        let samples = try await pool.writeWithoutTransaction { db -> [(follower: Int64, followee: Int64, id: Int64)] in
            // The indexes just built are still in the WAL. Copy them out first: every page read
            // below would otherwise be looked up in a WAL of hundreds of MB. Busy when the
            // store's checkpointer is copying already: then it is doing this, fine.
            _ = try? db.checkpoint(.passive)
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM follows") ?? 0
            let users = try Int64.fetchAll(db, sql: "SELECT id FROM users ORDER BY id")
            let wanted = count / Self.loosenSpacing
            guard wanted > 1, !users.isEmpty else { return [] }
            let seek = try db.makeStatement(
                sql: "SELECT follower_id, followee_id, id FROM follows WHERE (follower_id, followee_id) >= (?, ?) LIMIT 1")
            var samples: [(follower: Int64, followee: Int64, id: Int64)] = []
            samples.reserveCapacity(wanted)
            for k in 0..<wanted {
                let follower = users[k * users.count / wanted]
                let followee = users[(k &* 40_503 &+ 17) % users.count]
                if let row = try Row.fetchOne(seek, arguments: [follower, followee]) { samples.append((row[0], row[1], row[2])) }
            }
            return samples
        }
        guard samples.count > 1 else { return }
        for start in stride(from: 0, to: samples.count, by: Self.loosenChunk) {
            try await pool.writeWithoutTransaction { db in
                try db.inTransaction {
                    try Self.placeAndRemove(samples, start..<min(start + Self.loosenChunk, samples.count), db)
                    return .commit
                }
                // Keeps the WAL to one chunk's pages (passive: never waits; busy as above).
                _ = try? db.checkpoint(.passive)
            }
        }
    }

    /// One chunk of `loosenFollows`: inserts the placeholders of `range`, then deletes them.
    private static func placeAndRemove(
        _ samples: [(follower: Int64, followee: Int64, id: Int64)], _ range: Range<Int>, _ db: Database
    ) throws {
        let insert = try db.cachedStatement(
            sql: "INSERT INTO follows (follower_id, followee_id, id, created_at) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING")
        let delete = try db.cachedStatement(sql: "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?")
        var placed: [(follower: Int64, followee: Int64)] = []
        for index in range {
            // A followee from far along the sample: another follower's, spread as the
            // data's followees are (celebrities' long ranges get their share).
            let followee = samples[(index + 997) % samples.count].followee
            try insert.execute(arguments: [samples[index].follower, followee, samples[index].id])
            if db.changesCount > 0 { placed.append((samples[index].follower, followee)) }
        }
        for pair in placed { try delete.execute(arguments: [pair.follower, pair.followee]) }
    }

    /// Completes an interrupted bulk load (see `BulkLoad`); cheap when there is none.
    func repairBulkLoad() async throws {
        for table in BulkLoadTable.allCases { try await finishBulkLoad(table) }
    }

    /// What a bulk load deferred that is not back (empty when every index and trigger is in
    /// place); for tests and diagnostics.
    func missingBulkLoadStructures() async throws -> [String] {
        try await pool.read { db in
            let present = try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")
            let expected = BulkLoadTable.allCases.flatMap(BulkLoad.deferredIndexes).map(\.name) + SQLiteSchema.postsSearchTriggerNames
            return expected.filter { !present.contains($0) }
        }
    }

    /// Ids of the accounts whose posts are served by pull (`has_pull_posts`); for tests.
    func pullPostAuthors() async throws -> Set<ID> {
        try await pool.read { db in
            Set(try Int64.fetchAll(db, sql: "SELECT id FROM users WHERE has_pull_posts = 1").map { ID($0) })
        }
    }

    /// Puts back the search triggers of `posts` and, if they were missing, rebuilds `posts_fts` from
    /// the posts, in the same transaction (so either both happen or the triggers stay missing and
    /// the next repair tries again).
    static func restorePostSearch(_ db: Database) throws {
        // Before migration 5 there is no search index to restore.
        guard try db.tableExists("search_queue") else { return }
        let present = try String.fetchSet(
            db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'posts'")
        guard !SQLiteSchema.postsSearchTriggerNames.allSatisfy(present.contains) else { return }
        for trigger in SQLiteSchema.postsSearchTriggerNames { try db.execute(sql: "DROP TRIGGER IF EXISTS \(trigger)") }
        try db.execute(sql: SQLiteSchema.postsSearchTriggers)
        // The rebuild covers every post as it is now, so changes queued before it must not be
        // replayed on top; `optimize` merges the rebuild's segments into one now, in the load,
        // rather than in the first merges after it (half a second of writer time per million posts).
        try db.execute(sql: "DELETE FROM search_queue")
        try db.execute(sql: "INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")
        try db.execute(sql: "INSERT INTO posts_fts (posts_fts) VALUES ('optimize')")
    }
}

// MARK: - PostgreSQL

extension PostgresStore {
    /// The trigger that keeps `post_search` current (migration 4).
    static let postSearchTrigger = "posts_search_sync"

    public func beginBulkLoad(_ table: BulkLoadTable, expectedRows: Int) async throws -> Bool {
        try await transaction { connection in
            let existing =
                try await rows(
                    PostgresQuery(
                        unsafeSQL: "SELECT count(*)::bigint FROM (SELECT 1 FROM \(table.rawValue) LIMIT \(expectedRows + 1)) AS t"),
                    on: connection
                ).first?.decode(Int64.self) ?? 0
            guard BulkLoad.pays(existingRows: Int(existing), expectedRows: expectedRows) else { return false }
            for index in BulkLoad.deferredIndexes(table) {
                try await rows(PostgresQuery(unsafeSQL: index.drop), on: connection)
            }
            if table == .posts {
                try await rows(PostgresQuery(unsafeSQL: "ALTER TABLE posts DISABLE TRIGGER \(Self.postSearchTrigger)"), on: connection)
                try await rows(PostgresQuery(unsafeSQL: BulkLoad.postSearchDocument.drop), on: connection)
            }
            return true
        }
    }

    public func finishBulkLoad(_ table: BulkLoadTable) async throws {
        for index in BulkLoad.deferredIndexes(table) {
            try await transaction { connection in
                // Sorts in memory rather than in temporary files; the default is 64 MB.
                try await rows("SET LOCAL maintenance_work_mem = '512MB'", on: connection)
                try await rows(PostgresQuery(unsafeSQL: index.createIfMissing), on: connection)
            }
        }
        if table == .posts {
            try await restorePostSearch()
        }
        // Fresh statistics, so the planner does not plan for the empty table it last sampled.
        try await rows(PostgresQuery(unsafeSQL: "ANALYZE \(table.rawValue)"))
    }

    /// Completes an interrupted bulk load (see `BulkLoad`); cheap when there is none.
    func repairBulkLoad() async throws {
        // Looked up first: CREATE INDEX IF NOT EXISTS would still wait for a lock on the table.
        let missing = Set(try await missingBulkLoadStructures())
        for index in BulkLoadTable.allCases.flatMap(BulkLoad.deferredIndexes) where missing.contains(index.name) {
            try await rows(PostgresQuery(unsafeSQL: index.createIfMissing))
        }
        try await restorePostSearch()
    }

    /// What a bulk load deferred that is not back (empty when every index is in place and the
    /// search trigger enabled); for tests and diagnostics.
    func missingBulkLoadStructures() async throws -> [String] {
        var missing: [String] = []
        for index in BulkLoadTable.allCases.flatMap(BulkLoad.deferredIndexes) + [BulkLoad.postSearchDocument] {
            let absent = try await rows(PostgresQuery(unsafeSQL: "SELECT to_regclass('\(index.name)') IS NULL")).first?.decode(Bool.self)
            if absent != false { missing.append(index.name) }
        }
        if try await postSearchTriggerState() != "O" { missing.append(Self.postSearchTrigger) }
        return missing
    }

    /// Ids of the accounts whose posts are served by pull (`has_pull_posts`); for tests.
    func pullPostAuthors() async throws -> Set<ID> {
        Set(try await rows("SELECT id FROM users WHERE has_pull_posts").map { try $0.decode(Int64.self).roostID })
    }

    /// `pg_trigger.tgenabled` of the search trigger of `posts`: "O" enabled, "D" disabled, nil
    /// before migration 4.
    private func postSearchTriggerState(on connection: PostgresConnection? = nil) async throws -> String? {
        let query = PostgresQuery(
            unsafeSQL:
                "SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = to_regclass('posts') AND tgname = '\(Self.postSearchTrigger)'")
        let found = if let connection { try await rows(query, on: connection) } else { try await rows(query) }
        return try found.first?.decode(String.self)
    }

    /// If the search trigger of `posts` is disabled (a bulk load), rebuilds `post_search` from the
    /// posts, recreates its GIN index and enables the trigger, all in one transaction.
    private func restorePostSearch() async throws {
        try await transaction { connection in
            guard try await postSearchTriggerState(on: connection) == "D" else { return }
            try await rows("SET LOCAL maintenance_work_mem = '512MB'", on: connection)
            try await rows(PostgresQuery(unsafeSQL: BulkLoad.postSearchDocument.drop), on: connection)
            try await rows("TRUNCATE post_search", on: connection)
            try await rows(
                "INSERT INTO post_search (post_id, document) SELECT id, roost_post_document(title, text, description, tags) FROM posts",
                on: connection)
            try await rows(PostgresQuery(unsafeSQL: BulkLoad.postSearchDocument.create), on: connection)
            try await rows(PostgresQuery(unsafeSQL: "ALTER TABLE posts ENABLE TRIGGER \(Self.postSearchTrigger)"), on: connection)
        }
    }
}

/// Rows of integers as one JSON array of arrays (`[[1,2],[3,4]]`), for inserting a whole batch
/// with `json_each` in a single SQLite statement. Digits are written by hand into a byte buffer:
/// ids have 19 digits, too long for Swift's inline small strings, so `String(value)` would
/// allocate once per value.
struct BulkRows {
    private var bytes: [UInt8] = [UInt8(ascii: "[")]
    private var isEmpty = true

    init(capacity: Int, columns: Int) {
        bytes.reserveCapacity(2 + capacity * (columns * 21 + 3))
    }

    mutating func add(_ values: [Int64]) {
        if !isEmpty { bytes.append(UInt8(ascii: ",")) }
        isEmpty = false
        bytes.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            append(value)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    var json: String {
        String(decoding: bytes + [UInt8(ascii: "]")], as: UTF8.self)
    }

    private mutating func append(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var count = 1
        var rest = magnitude / 10
        while rest > 0 {
            count += 1
            rest /= 10
        }
        // Digits are written backwards into the space just appended.
        var index = bytes.count + count
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
        repeat {
            index -= 1
            bytes[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
    }
}
