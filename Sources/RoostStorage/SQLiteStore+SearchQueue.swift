import Foundation
import GRDB
import Synchronization

// Post search on SQLite: FTS5, indexed from a queue instead of inside each post write.
//
// Why: an FTS5 index written one post per transaction gains a segment per post and merges them
// as it goes; every few dozen posts one of those merges held the single writer for 10–30 ms
// (the post-creation p99 tail in BENCHMARKS.md). Now the post's transaction only appends its
// change to `search_queue` (same file, so durable with the post), and a background indexer
// applies queued changes in batches of hundreds: one segment per batch, merges a hundred times
// rarer. Searches apply what is queued before they query, so a search still sees every
// acknowledged write.

extension SQLiteSchema {
    /// The triggers that queue changes of indexed post fields; the bulk load drops and restores
    /// them (see `BulkLoad`).
    static let postsSearchTriggerNames = ["posts_search_insert", "posts_search_delete", "posts_search_update"]
    static let postsSearchTriggers = """
        CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN
          INSERT INTO search_queue (post_id, has_old, new_title, new_text, new_description, new_tags, has_new)
          VALUES (new.id, 0, new.title, new.text, new.description, new.tags, 1);
        END;
        CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN
          INSERT INTO search_queue (post_id, old_title, old_text, old_description, old_tags, has_old, has_new)
          VALUES (old.id, old.title, old.text, old.description, old.tags, 1, 0);
        END;
        CREATE TRIGGER posts_search_update AFTER UPDATE OF title, text, description, tags ON posts BEGIN
          INSERT INTO search_queue (post_id, old_title, old_text, old_description, old_tags, has_old,
            new_title, new_text, new_description, new_tags, has_new)
          VALUES (old.id, old.title, old.text, old.description, old.tags, 1, new.title, new.text, new.description, new.tags, 1);
        END;
        """

    /// Version 5: the search queue. Each row is one change exactly as the index must see it:
    /// `posts_fts` takes its content from `posts`, and removing a row from it needs the values
    /// that were indexed, so a queued update or delete carries the old values with it.
    static let searchQueue = Migration(
        version: 5,
        sql: """
            \(postsFTSTriggerNamesV4.map { "DROP TRIGGER IF EXISTS \($0);" }.joined(separator: "\n"))
            CREATE TABLE search_queue (
              seq INTEGER PRIMARY KEY,
              post_id INTEGER NOT NULL,
              has_old INTEGER NOT NULL,
              old_title TEXT, old_text TEXT, old_description TEXT, old_tags TEXT,
              has_new INTEGER NOT NULL,
              new_title TEXT, new_text TEXT, new_description TEXT, new_tags TEXT
            );
            \(postsSearchTriggers)
            INSERT INTO posts_fts (posts_fts) VALUES ('optimize');
            """)
}

extension SQLiteStore {
    /// Changes applied per indexing transaction.
    static let searchBatch = 500

    /// Applies up to `limit` queued changes to `posts_fts`, in order, and removes them from the
    /// queue in the same transaction (so each is applied exactly once). Returns how many.
    static func indexSearchQueue(limit: Int, _ db: Database) throws -> Int {
        let rows = try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM search_queue ORDER BY seq LIMIT ?"), arguments: [limit])
        guard let last = rows.last else { return 0 }
        let remove = try db.cachedStatement(
            sql: "INSERT INTO posts_fts (posts_fts, rowid, title, text, description, tags) VALUES ('delete', ?, ?, ?, ?, ?)")
        let add = try db.cachedStatement(sql: "INSERT INTO posts_fts (rowid, title, text, description, tags) VALUES (?, ?, ?, ?, ?)")
        for row in rows {
            let post: Int64 = row["post_id"]
            if row["has_old"] as Bool {
                try remove.execute(arguments: [post, row["old_title"], row["old_text"], row["old_description"], row["old_tags"]])
            }
            if row["has_new"] as Bool {
                try add.execute(arguments: [post, row["new_title"], row["new_text"], row["new_description"], row["new_tags"]])
            }
        }
        try db.execute(sql: "DELETE FROM search_queue WHERE seq <= ?", arguments: [last["seq"] as Int64])
        return rows.count
    }

    /// Whether changes wait in the search queue (a read of one index entry).
    func searchQueuePending() throws -> Bool {
        try quickRead { db in try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM search_queue)")) ?? false }
    }

    /// Applies every queued change. `inBackground`: as the indexer, yielding the writer to
    /// request writes between batches; otherwise as part of a request (a search catching up).
    func indexPendingSearch(inBackground: Bool) async throws {
        while try searchQueuePending() {
            let applied: Int
            if inBackground {
                await awaitIdleWriter()
                applied = try await pool.write { db in try Self.indexSearchQueue(limit: Self.searchBatch, db) }
            } else {
                applied = try await write { db in try Self.indexSearchQueue(limit: Self.searchBatch, db) }
            }
            if applied < Self.searchBatch { return }
        }
    }

    /// The background indexer: every `interval`, applies what the queue holds.
    func startSearchIndexer(interval: Duration = .milliseconds(200)) {
        searchIndexer.withLock { task in
            guard task == nil else { return }
            task = Task.detached(priority: .utility) { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self else { return }
                    try? await self.indexPendingSearch(inBackground: true)
                }
            }
        }
    }

    /// FTS5's own check that `posts_fts` matches the posts (throws if not); for tests.
    func checkSearchIndex() async throws {
        try await pool.write { db in try db.execute(sql: "INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)") }
    }
}
