import Foundation
import GRDB
import RoostCore

// The feed engine on SQLite: materialized timelines, the fan-out queue, ranked snapshots, import.
extension SQLiteStore {
    // MARK: Fan-out queue (writes inside other transactions)

    /// Queues the push of a new post, unless nobody would receive it or the author is a celebrity
    /// (then the post is marked pull-only and merged at read time instead). The author's own
    /// timeline gets the post right away, in the creating transaction.
    static func enqueueFanOut(_ post: Post, followers: Int, pullOnly: Bool, now: Date, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR IGNORE INTO timeline_entries (user_id, post_id, author_id) VALUES (?, ?, ?)",
            arguments: [Int64(post.authorID), Int64(post.id), Int64(post.authorID)])
        if pullOnly {
            try db.execute(sql: "UPDATE users SET has_pull_posts = 1 WHERE id = ? AND has_pull_posts = 0", arguments: [Int64(post.authorID)])
        } else if followers > 0 {
            try enqueueJob(kind: .push, postID: post.id, authorID: post.authorID, now: now, db)
        }
    }

    static func enqueueJob(kind: FanOutJob.Kind, postID: ID, authorID: ID, now: Date, _ db: Database) throws {
        // Due at once (available_at 0); created_at measures queue lag.
        try db.execute(
            sql: "INSERT INTO fanout_jobs (kind, post_id, author_id, available_at, created_at) VALUES (?, ?, ?, 0, ?)",
            arguments: [kind.rawValue, Int64(postID), Int64(authorID), now.millis])
    }

    // MARK: Timelines

    public func timelineState(userID: ID) async throws -> TimelineState {
        try quickRead { db in try Self.timelineState(userID: userID, db) }
    }

    static func timelineState(userID: ID, _ db: Database) throws -> TimelineState {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT floor, active_until FROM timelines WHERE user_id = ?"), arguments: [Int64(userID)])
        else { return TimelineState(floor: 0, activeUntil: Date(millis: 0)) }
        return TimelineState(floor: row.id("floor"), activeUntil: Date(millis: row["active_until"]))
    }

    public func timelineEntries(userID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID] {
        try quickRead { db in try Self.timelineEntries(userID: userID, before: before, floor: floor, limit: limit, db) }
    }

    static func timelineEntries(userID: ID, before: ID?, floor: ID, limit: Int, _ db: Database) throws -> [ID] {
        try Int64.fetchAll(
            db.cachedStatement(
                sql: "SELECT post_id FROM timeline_entries WHERE user_id = ? AND post_id < ? AND post_id >= ? ORDER BY post_id DESC LIMIT ?"),
            arguments: [Int64(userID), Self.upper(before), Int64(floor), limit]
        ).map { ID($0) }
    }

    /// Runs on every home read: one seek per followed account into the small partial index of
    /// pull-only posts. (Without INDEXED BY the planner may pick `posts_author` — whichever index
    /// was created last — and read every recent post of every followed account instead.)
    public func pullOnlyPostIDs(followerID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID] {
        try quickRead { db in try Self.pullOnlyPostIDs(followerID: followerID, before: before, floor: floor, limit: limit, db) }
    }

    static func pullOnlyPostIDs(followerID: ID, before: ID?, floor: ID, limit: Int, _ db: Database) throws -> [ID] {
        try Int64.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT p.id FROM follows f JOIN posts p INDEXED BY posts_pull_only ON p.author_id = f.followee_id
                    WHERE f.follower_id = ? AND p.pull_only = 1 AND p.id < ? AND p.id >= ? ORDER BY p.id DESC LIMIT ?
                    """),
            arguments: [Int64(followerID), Self.upper(before), Int64(floor), limit]
        ).map { ID($0) }
    }

    /// Everything in one read transaction on the caller's thread: each `quickRead` costs a
    /// reader checkout and a BEGIN/COMMIT, which cost more than these index seeks.
    public func homeSlice(userID: ID, before: ID?, horizon: ID, limit: Int, known: TimelineState?) async throws -> HomeSlice {
        try quickRead { db in
            let state = try known ?? Self.timelineState(userID: userID, db)
            let floor = max(state.floor, horizon)
            guard before.map({ $0 > floor }) ?? true else { return HomeSlice(state: state, floor: floor, ids: [], flags: [:]) }
            let entries = try Self.timelineEntries(userID: userID, before: before, floor: floor, limit: limit, db)
            let pulled = try Self.pullOnlyPostIDs(followerID: userID, before: before, floor: floor, limit: limit, db)
            let ids = HomeFeedMerge.mergeDescending([entries, pulled], limit: limit)
            return HomeSlice(state: state, floor: floor, ids: ids, flags: try Self.viewerFlags(userID: userID, postIDs: ids, db))
        }
    }

    public func isPullOnly(postID: ID) async throws -> Bool {
        try quickRead { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT pull_only FROM posts WHERE id = ?"), arguments: [Int64(postID)]) ?? false
        }
    }

    public func pullHomePostIDs(userID: ID, before: ID?, limit: Int) async throws -> [ID] {
        try await pool.read { db in
            try Self.pullHome(userID: userID, before: before, limit: limit, pushableOnly: false, db).map(\.post)
        }
    }

    /// The pull query, driven by the follow list so it reads each followed author's newest posts
    /// through `posts_author` instead of scanning all posts.
    static func pullHome(userID: ID, before: ID?, limit: Int, pushableOnly: Bool, _ db: Database) throws -> [(post: ID, author: ID)] {
        let pushable = pushableOnly ? " AND p.pull_only = 0" : ""
        return try Row.fetchAll(
            db,
            sql: """
                SELECT p.id, p.author_id FROM follows f JOIN posts p ON p.author_id = f.followee_id
                WHERE f.follower_id = ? AND p.id < ?\(pushable)
                UNION ALL
                SELECT p.id, p.author_id FROM posts p WHERE p.author_id = ? AND p.id < ?\(pushable)
                ORDER BY 1 DESC LIMIT ?
                """,
            arguments: [Int64(userID), upper(before), Int64(userID), upper(before), limit]
        ).map { ($0.id("id"), $0.id("author_id")) }
    }

    public func rebuildTimeline(userID: ID, activeUntil: Date, policy: FanOutPolicy) async throws {
        try await write { db in
            let key = Int64(userID)
            // Active first, so fan-out jobs running from now on include this user; the pull below
            // then covers every post committed before it.
            try Self.setActiveUntil(activeUntil, userID: key, db)
            try db.execute(sql: "DELETE FROM timeline_entries WHERE user_id = ?", arguments: [key])
            let rows = try Self.pullHome(userID: userID, before: nil, limit: policy.timelineCap, pushableOnly: true, db)
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO timeline_entries (user_id, post_id, author_id) VALUES (?, ?, ?)")
            for row in rows {
                try insert.execute(arguments: [key, Int64(row.post), Int64(row.author)])
            }
            // A full timeline is complete only down to its oldest entry; a shorter one holds everything.
            let floor = rows.count >= policy.timelineCap ? rows.last.map { Int64($0.post) } ?? 0 : 0
            try db.execute(sql: "UPDATE timelines SET floor = ? WHERE user_id = ?", arguments: [floor, key])
        }
    }

    public func touchTimeline(userID: ID, activeUntil: Date) async throws {
        try await pool.write { db in try Self.setActiveUntil(activeUntil, userID: Int64(userID), db) }
    }

    private static func setActiveUntil(_ activeUntil: Date, userID: Int64, _ db: Database) throws {
        try db.cachedStatement(
            sql: "INSERT INTO timelines (user_id, active_until, floor) VALUES (?, ?, 0) ON CONFLICT (user_id) DO UPDATE SET active_until = excluded.active_until"
        ).execute(arguments: [userID, activeUntil.millis])
    }

    public func trimTimelines(userIDs: [ID], policy: FanOutPolicy) async throws -> Int {
        guard !userIDs.isEmpty else { return 0 }
        return try await pool.write { db in
            var removed = 0
            for userID in userIDs {
                let key = Int64(userID)
                guard
                    let cut = try Int64.fetchOne(
                        db, sql: "SELECT post_id FROM timeline_entries WHERE user_id = ? ORDER BY post_id DESC LIMIT 1 OFFSET ?",
                        arguments: [key, policy.timelineCap - 1])
                else { continue }
                try db.execute(sql: "DELETE FROM timeline_entries WHERE user_id = ? AND post_id < ?", arguments: [key, cut])
                removed += db.changesCount
                try db.execute(sql: "UPDATE timelines SET floor = MAX(floor, ?) WHERE user_id = ?", arguments: [cut, key])
            }
            return removed
        }
    }

    public func expireTimelineEntries(olderThan horizon: ID) async throws -> Int {
        try await pool.write { db in
            // Reads treat the retention horizon as a floor themselves, so no user row changes here.
            try db.execute(sql: "DELETE FROM timeline_entries WHERE post_id < ?", arguments: [Int64(horizon)])
            return db.changesCount
        }
    }

    /// Users whose timelines fan-out currently maintains (maintenance trims them), in id order.
    public func activeTimelineUsers(after: ID, limit: Int, now: Date) async throws -> [ID] {
        try await pool.read { db in
            try Int64.fetchAll(
                db, sql: "SELECT user_id FROM timelines WHERE user_id > ? AND active_until > ? ORDER BY user_id LIMIT ?",
                arguments: [Int64(after), now.millis, limit]
            ).map { ID($0) }
        }
    }

    // MARK: Fan-out queue

    static func job(_ row: Row) -> FanOutJob {
        FanOutJob(
            id: row.id("id"), kind: FanOutJob.Kind(rawValue: row["kind"]) ?? .push, postID: row.id("post_id"),
            authorID: row.id("author_id"), position: row.id("position"), attempts: row["attempts"],
            createdAt: Date(millis: row["created_at"]))
    }

    public func claimFanOutJobs(now: Date, lease: TimeInterval, limit: Int) async throws -> [FanOutJob] {
        try await pool.write { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        UPDATE fanout_jobs SET locked_until = ?, attempts = attempts + 1
                        WHERE id IN (SELECT id FROM fanout_jobs WHERE available_at <= ? AND locked_until <= ? ORDER BY id LIMIT ?)
                        RETURNING id, kind, post_id, author_id, position, attempts, created_at
                        """), arguments: [now.addingTimeInterval(lease).millis, now.millis, now.millis, limit]
            ).map(Self.job).sorted { $0.id < $1.id }
        }
    }

    public func runFanOutBatch(_ jobs: [FanOutJob], followers: Int, now: Date) async throws -> FanOutProgress {
        guard let first = jobs.first else { return FanOutProgress(entries: 0, finished: true, position: 0) }
        let followers = max(1, followers)
        return try await pool.write { db in
            let author = Int64(first.authorID)
            var position = Int64(first.position)
            var live = jobs
            var dropped: [ID] = []
            if first.kind == .push {
                // Deleted before they were delivered: nothing to push.
                let existing = Set(
                    try Int64.fetchAll(
                        db.cachedStatement(sql: "SELECT id FROM posts WHERE id IN (\(Self.placeholders(jobs.count)))"),
                        arguments: StatementArguments(jobs.map { Int64($0.postID) })))
                dropped = jobs.filter { !existing.contains(Int64($0.postID)) }.map(\.id)
                live = jobs.filter { existing.contains(Int64($0.postID)) }
                for id in dropped { try db.execute(sql: "DELETE FROM fanout_jobs WHERE id = ?", arguments: [Int64(id)]) }
                guard !live.isEmpty else { return FanOutProgress(entries: 0, finished: true, position: first.position, dropped: dropped) }
            }
            let posts = live.map { Int64($0.postID) }
            // Push jobs may come from several authors: each (post, author) pair meets the author's followers.
            let authors = first.kind == .push ? Array(Set(live.map { Int64($0.authorID) })).sorted() : [author]
            /// One chunk, followers in (from, end]: the rows written or removed and the timelines touched.
            let runChunk: (_ from: Int64, _ end: Int64) throws -> (entries: Int, users: [Int64])
            switch first.kind {
            case .push:
                let pairs = live.flatMap { [Int64($0.postID), Int64($0.authorID)] }
                // Follower-major order: each follower's timeline page takes every post of the group at once.
                let insert = try db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO timeline_entries (user_id, post_id, author_id)
                        SELECT f.follower_id, j.column1, j.column2
                        FROM (VALUES \(Array(repeating: "(?, ?)", count: live.count).joined(separator: ","))) j
                        JOIN follows f ON f.followee_id = j.column2 JOIN timelines t ON t.user_id = f.follower_id
                        WHERE f.follower_id > ? AND f.follower_id <= ? AND t.active_until > ? AND t.floor <= j.column1
                        ORDER BY f.follower_id, j.column1
                        """)
                // The timelines the chunk may change, for the page caches: every follower in the
                // chunk, from the follows index alone. A RETURNING row per entry cost a third of
                // the insert; reading each follower's user row again to leave out inactive ones
                // took 13 ms per 15,000 followers, the index alone 0.6 ms (`sqlite3`, default
                // bench graph), and the page cache skips viewers without pages anyway
                // (`HomePageCache.invalidateHere`).
                let touched = try db.cachedStatement(
                    sql: """
                        SELECT follower_id FROM follows
                        WHERE followee_id IN (\(Self.placeholders(authors.count))) AND follower_id > ? AND follower_id <= ?
                        """)
                runChunk = { from, end in
                    try insert.execute(arguments: StatementArguments(pairs + [from, end, now.millis]))
                    let entries = db.changesCount
                    return (entries, try Int64.fetchAll(touched, arguments: StatementArguments(authors + [from, end])))
                }
            case .purge:
                let delete = try db.cachedStatement(
                    sql: """
                        DELETE FROM timeline_entries WHERE post_id IN (\(Self.placeholders(posts.count))) AND user_id IN (
                          SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? AND follower_id <= ?)
                        RETURNING user_id
                        """)
                runChunk = { from, end in
                    let removed = try Int64.fetchAll(delete, arguments: StatementArguments(posts + [author, from, end]))
                    return (removed.count, removed)
                }
            }
            let nextChunkEnd = try db.cachedStatement(
                sql: "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id > ? ORDER BY follower_id LIMIT 1 OFFSET ?")
            // Chunks of about 256 timeline rows; between chunks the batch ends early when a request
            // write is waiting, so a post or a follow waits for one chunk, not a whole batch. A
            // chunk ends where the first author runs out of `chunk` followers, so no author brings
            // more than `chunk` followers to it.
            let chunk = max(16, 256 / posts.count)
            var done = 0
            var entries = 0
            var users: [Int64] = []
            var upper: Int64?
            repeat {
                let step = min(chunk, followers - done)
                upper = try authors.compactMap { try Int64.fetchOne(nextChunkEnd, arguments: [$0, position, step - 1]) }.min()
                let result = try runChunk(position, upper ?? Int64.max)
                entries += result.entries
                users += result.users
                done += step
                if let upper { position = upper }
            } while upper != nil && done < followers && !requestWriteWaiting
            let changed = Array(Set(users.map { ID($0) }))
            let ids = StatementArguments(live.map { Int64($0.id) })
            if upper != nil {
                try db.execute(
                    sql: "UPDATE fanout_jobs SET position = ? WHERE id IN (\(Self.placeholders(live.count)))", arguments: [position] + ids)
                return FanOutProgress(entries: entries, finished: false, position: ID(position), dropped: dropped, users: changed)
            }
            try db.execute(sql: "DELETE FROM fanout_jobs WHERE id IN (\(Self.placeholders(live.count)))", arguments: ids)
            return FanOutProgress(entries: entries, finished: true, position: ID(position), dropped: dropped, users: changed)
        }
    }

    public func pushToReaders(_ jobs: [FanOutJob], readers: [ID], now: Date) async throws -> (entries: Int, users: [ID]) {
        let posts = jobs.filter { $0.kind == .push }.map { Int64($0.postID) }
        guard !posts.isEmpty, !readers.isEmpty else { return (0, []) }
        return try await pool.write { db in
            // Joined from the posts, so a post deleted meanwhile is not written. CROSS JOIN keeps
            // that order: given 81 posts and 25 readers, SQLite's planner started from the readers
            // instead and read every post of every account they follow (112 ms against 1.7 ms on
            // the bench database; 37 ms of a fan-out burst's 1.1 s in the server).
            let users = try Int64.fetchAll(
                db,
                sql: """
                    INSERT OR IGNORE INTO timeline_entries (user_id, post_id, author_id)
                    SELECT f.follower_id, p.id, p.author_id
                    FROM posts p CROSS JOIN follows f ON f.followee_id = p.author_id CROSS JOIN timelines t ON t.user_id = f.follower_id
                    WHERE p.id IN (\(Self.placeholders(posts.count))) AND f.follower_id IN (\(Self.placeholders(readers.count)))
                      AND t.active_until > ? AND t.floor <= p.id
                    RETURNING user_id
                    """,
                arguments: StatementArguments(posts + readers.map { Int64($0) } + [now.millis]))
            return (users.count, Array(Set(users)).map { ID($0) })
        }
    }

    public func releaseFanOutJob(id: ID, retryAt: Date) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE fanout_jobs SET available_at = ?, locked_until = 0 WHERE id = ?", arguments: [retryAt.millis, Int64(id)])
        }
    }

    public func fanOutQueueStatus() async throws -> (depth: Int, oldest: Date?) {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM fanout_jobs")
            return (row?["depth"] ?? 0, (row?["oldest"] as Int64?).map { Date(millis: $0) })
        }
    }

    // MARK: Ranking

    public func saveSnapshot(_ snapshot: RankedSnapshot) async throws {
        try await write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO ranked_snapshots (id, scope, created_at, entries) VALUES (?, ?, ?, ?)",
                arguments: [Int64(snapshot.id), snapshot.scope, snapshot.createdAt.millis, SnapshotCoding.encode(snapshot)])
        }
    }

    public func snapshot(id: ID) async throws -> RankedSnapshot? {
        try quickRead { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT id, scope, created_at, entries FROM ranked_snapshots WHERE id = ?"), arguments: [Int64(id)])
                .map {
                    SnapshotCoding.decode(
                        id: $0.id("id"), scope: $0["scope"], createdAt: Date(millis: $0["created_at"]), bytes: Array($0["entries"] as Data))
                }
        }
    }

    public func deleteSnapshots(createdBefore: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM ranked_snapshots WHERE created_at < ?", arguments: [createdBefore.millis])
        }
    }

    /// The predicate is word for word the one of the partial index `posts_engaged`.
    static let trendingCandidatesSQL = """
        SELECT \(postColumns) FROM posts
        WHERE visibility = 'public' AND moderation_status = 'approved' AND id >= ?
          AND (like_count > 0 OR comment_count > 0 OR view_count > 0)
        ORDER BY like_count + 2 * comment_count + view_count / 10 DESC, id DESC LIMIT ?
        """

    public func trendingCandidates(since: ID, limit: Int) async throws -> [Post] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: Self.trendingCandidatesSQL, arguments: [Int64(since), limit]).map(Self.post)
        }
    }

    public func interactionCounts(userID: ID, authorIDs: [ID], since: Date) async throws -> [ID: Int] {
        guard !authorIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            let list = Self.placeholders(authorIDs.count)
            let authors = StatementArguments(authorIDs.map { Int64($0) })
            var counts: [ID: Int] = [:]
            for sql in [
                "SELECT p.author_id, COUNT(*) FROM likes l JOIN posts p ON p.id = l.post_id WHERE l.user_id = ? AND l.created_at >= ? AND p.author_id IN (\(list)) GROUP BY p.author_id",
                "SELECT p.author_id, COUNT(*) FROM comments c JOIN posts p ON p.id = c.post_id WHERE c.author_id = ? AND c.created_at >= ? AND p.author_id IN (\(list)) GROUP BY p.author_id",
            ] {
                for row in try Row.fetchAll(db, sql: sql, arguments: [Int64(userID), since.millis] + authors) {
                    counts[ID(row[0] as Int64), default: 0] += row[1] as Int
                }
            }
            return counts
        }
    }

    // MARK: Bulk import

    public func importUsers(_ users: [NewUser]) async throws -> Int {
        try await pool.write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO users (id, username, username_lower, email, email_lower, display_name, password_hash, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            var inserted = 0
            for user in users {
                try insert.execute(arguments: [
                    Int64(user.id), user.username, user.username.lowercased(), user.email, user.email.lowercased(), user.displayName,
                    user.passwordHash, user.createdAt.millis,
                ])
                inserted += db.changesCount
            }
            return inserted
        }
    }

    public func importFollows(_ follows: [(follower: ID, followee: ID, id: ID, createdAt: Date)]) async throws -> Int {
        // The whole batch goes in as one JSON array of [follower, followee, id, created_at] rows,
        // expanded by json_each in one statement: binding 4 values per row through GRDB cost ~3×
        // more than SQLite's own insert (see `BulkRows`). Built here, outside the writer.
        var rows = BulkRows(capacity: follows.count, columns: 4)
        for follow in follows where follow.follower != follow.followee {
            rows.add([Int64(follow.follower), Int64(follow.followee), Int64(follow.id), follow.createdAt.millis])
        }
        let json = rows.json
        return try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO follows (follower_id, followee_id, id, created_at)
                    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)
                    """, arguments: [json])
            return db.changesCount
        }
    }

    public func importPosts(_ posts: [Post], policy: FanOutPolicy) async throws -> Int {
        try await pool.write { db in
            let insert = try db.cachedStatement(
                sql: """
                    INSERT OR IGNORE INTO posts (id, author_id, text, title, description, tags, media, asset_type, visibility,
                      moderation_status, created_at, updated_at, pull_only)
                    VALUES (?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, 0)
                    """)
            var inserted = 0
            for post in posts {
                try insert.execute(arguments: [
                    Int64(post.id), Int64(post.authorID), post.text, post.title, post.description, StoredJSON.encode(post.tags),
                    post.assetType, post.visibility.rawValue, post.moderationStatus.rawValue, post.createdAt.millis, post.updatedAt.millis,
                ])
                if db.changesCount > 0 {
                    inserted += 1
                    // A post just inserted has no tags to replace (deletion removes a post's tags),
                    // so only inserts, through one cached statement.
                    for tag in Set(post.tags) {
                        try db.cachedStatement(sql: "INSERT INTO post_tags (tag, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
                            .execute(arguments: [tag, Int64(post.id)])
                    }
                }
            }
            return inserted
        }
    }

    public func recountCounters(policy: FanOutPolicy) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE users SET
                      followers_count = (SELECT COUNT(*) FROM follows WHERE followee_id = users.id),
                      following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = users.id),
                      posts_count = (SELECT COUNT(*) FROM posts WHERE author_id = users.id);
                    """)
            // Imported posts of accounts that are celebrities now are served by pull, like new ones.
            try db.execute(sql: "UPDATE users SET has_pull_posts = 1 WHERE followers_count >= ?", arguments: [policy.celebrityThreshold])
        }
    }

    static func upper(_ before: ID?) -> Int64 { before.map { Int64($0) } ?? Int64.max }
}

