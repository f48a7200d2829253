import Foundation
import GRDB
import RoostCore
import Synchronization

/// The embedded default: one SQLite file in WAL mode through GRDB. GRDB's pool gives one writer
/// and concurrent readers; because every write runs on the single writer, counter updates and
/// check-then-insert sequences inside one `write` are race-free.
///
/// Durability: WAL with `synchronous=NORMAL` keeps every committed transaction across a crash of
/// the process (kill -9); only a power loss can drop the last few commits.
public final class SQLiteStore: RoostStore {
    let pool: DatabasePool
    /// Read-only connections for `quickRead` alone. They must not be shared with `pool`'s async
    /// reads: those hold a reader until their continuation resumes on the cooperative pool, so
    /// threads blocked in a synchronous read waiting for one of them would deadlock.
    private let quickPool: DatabasePool
    /// See `SQLiteCheckpointer`.
    let checkpointer: SQLiteCheckpointer
    /// Request writes (posts, follows, likes…) waiting for or holding the one writer. Fan-out
    /// batches start only when there are none, so such a write waits for at most the batch
    /// already running instead of a queue of them; checkpoints wait for them to pause.
    let requestWrites = RequestWriteActivity()
    /// The WAL size (pages) at which a commit checkpoints by itself: only if the checkpointer
    /// falls behind (it copies at least every `CheckpointPolicy.maxDeferral`, ~12,000 pages of
    /// follows on two cores).
    static let autocheckpointBackstop = 50_000
    /// Applies queued search-index changes in the background (see `indexSearchQueue`); started by `migrate`.
    let searchIndexer = Mutex<Task<Void, Never>?>(nil)

    /// - Parameters:
    ///   - path: the database file; created if missing.
    ///   - readers: concurrent read connections (default 8).
    public init(path: String, readers: Int = 8) throws {
        var configuration = Configuration()
        configuration.busyMode = Self.busyWait(timeout: 10)
        configuration.maximumReaderCount = readers
        configuration.foreignKeysEnabled = false
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.autocheckpointBackstop)")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        var quickConfiguration = configuration
        quickConfiguration.readonly = true
        // These block a cooperative thread while they run: never wait long for a lock (a WAL reader
        // normally never waits at all).
        quickConfiguration.busyMode = Self.busyWait(timeout: 1)
        quickConfiguration.label = "quick"
        quickPool = try DatabasePool(path: path, configuration: quickConfiguration)
        checkpointer = try SQLiteCheckpointer(path: path, policy: CheckpointPolicy(), activity: requestWrites)
    }

    /// A busy handler for lock waits measured in microseconds. SQLite's own busy timeout sleeps
    /// 1 ms, then 2, 5, 10…: a write that met the checkpointer's brief hold of the write lock
    /// waited a millisecond or more (the tail of follows). This polls every 50 µs for the first
    /// 2 ms (or `timeout`, if shorter), then every millisecond, up to `timeout` seconds.
    static func busyWait(timeout: TimeInterval) -> Database.BusyMode {
        // A RESTART checkpoint holds writers back while it polls: 40 polls took 4.2 ms (a sleep of
        // 50 µs lasts about 100), against the millisecond it was given.
        let fastTries = min(40, max(1, Int(timeout / 0.0001)))
        return .callback { tries in
            if tries < fastTries {
                usleep(50)
                return true
            }
            guard 0.002 + Double(tries - fastTries) * 0.001 < timeout else { return false }
            usleep(1_000)
            return true
        }
    }

    deinit {
        checkpointer.cancel()
        searchIndexer.withLock { $0?.cancel() }
    }

    public func migrate() async throws {
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")
            let applied = Set(try Int.fetchAll(db, sql: "SELECT version FROM schema_migrations"))
            for migration in SQLiteSchema.migrations where !applied.contains(migration.version) {
                try db.execute(sql: migration.sql)
                try db.execute(
                    sql: "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    arguments: [migration.version, Date().millis])
            }
        }
        try await repairBulkLoad()
        startSearchIndexer()
    }

    /// A short read on the caller's thread. Point reads of hot rows take microseconds from the page
    /// cache, less than the two thread hand-offs of GRDB's async `read` (a profile of the home feed
    /// spent ~30% of its CPU scheduling those). Only for index lookups bounded by a page size.
    func quickRead<T>(_ body: (Database) throws -> T) throws -> T {
        try quickPool.read(body)
    }

    /// `pool.write` for the request path, counted in `requestWrites`.
    func write<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        requestWrites.begin()
        defer { requestWrites.end() }
        return try await pool.write(updates)
    }

    /// A request write waits for (or holds) the writer: a running fan-out batch ends at its next chunk.
    var requestWriteWaiting: Bool { requestWrites.pending > 0 }

    public func awaitIdleWriter() async {
        let deadline = ContinuousClock.now + .milliseconds(50)
        while requestWriteWaiting, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .microseconds(200))
        }
    }

    public func awaitQuietWriter(_ quiet: Duration, atMost: Duration) async {
        let deadline = ContinuousClock.now + atMost
        while case let idle = requestWrites.quiet, idle < quiet, !Task.isCancelled {
            let now = ContinuousClock.now
            guard now < deadline else { return }
            try? await Task.sleep(for: min(quiet - idle, deadline - now))
        }
    }

    public var prefersOneFanOutWorker: Bool { true }
    public var batchesPushAcrossAuthors: Bool { true }
    public var isSingleProcess: Bool { true }

    public func ping() async throws {
        _ = try await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func shutdown() async throws {
        checkpointer.cancel()
        // The indexer reads and writes through the pools: it must be done before they close.
        let indexer = searchIndexer.withLock { $0 }
        indexer?.cancel()
        await indexer?.value
        try quickPool.close()
        try pool.close()
    }

    // MARK: Users

    static let userColumns =
        "id, username, email, display_name, bio, avatar_url, verified, is_moderator, followers_count, following_count, posts_count, created_at"

    static func user(_ row: Row) -> User {
        User(
            id: row.id("id"), username: row["username"], email: row["email"], displayName: row["display_name"],
            bio: row["bio"], avatarURL: row["avatar_url"], verified: row["verified"], isModerator: row["is_moderator"],
            followersCount: row["followers_count"], followingCount: row["following_count"], postsCount: row["posts_count"],
            createdAt: Date(millis: row["created_at"]))
    }

    public func createUser(_ new: NewUser) async throws -> User {
        try await write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE username_lower = ?", arguments: [new.username.lowercased()]) != nil {
                throw RoostError.conflict(field: "username", message: "username is taken")
            }
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE email_lower = ?", arguments: [new.email.lowercased()]) != nil {
                throw RoostError.conflict(field: "email", message: "email is already registered")
            }
            try db.execute(
                sql: """
                    INSERT INTO users (id, username, username_lower, email, email_lower, display_name, password_hash, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Int64(new.id), new.username, new.username.lowercased(), new.email, new.email.lowercased(), new.displayName,
                    new.passwordHash, new.createdAt.millis,
                ])
            return User(id: new.id, username: new.username, email: new.email, displayName: new.displayName, createdAt: new.createdAt.roundedToMillis)
        }
    }

    public func user(id: ID) async throws -> User? {
        try quickRead { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT \(Self.userColumns) FROM users WHERE id = ?"), arguments: [Int64(id)]).map(Self.user)
        }
    }

    public func user(username: String) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.userColumns) FROM users WHERE username_lower = ?", arguments: [username.lowercased()])
                .map(Self.user)
        }
    }

    public func users(ids: [ID]) async throws -> [ID: User] {
        guard !ids.isEmpty else { return [:] }
        return try quickRead { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Self.userColumns) FROM users WHERE id IN (\(Self.placeholders(ids.count)))"),
                arguments: StatementArguments(ids.map { Int64($0) }))
            return Dictionary(rows.map { (ID($0["id"] as Int64), Self.user($0)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func credentials(login: String) async throws -> Credentials? {
        let key = login.lowercased()
        return try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT \(Self.userColumns), password_hash FROM users WHERE username_lower = ? OR email_lower = ?
                    ORDER BY username_lower = ? DESC LIMIT 1
                    """,
                arguments: [key, key, key]
            ).map { Credentials(user: Self.user($0), passwordHash: $0["password_hash"]) }
        }
    }

    public func updateProfile(userID: ID, patch: ProfilePatch) async throws -> User? {
        try await write { db in
            if let displayName = patch.displayName {
                try db.execute(sql: "UPDATE users SET display_name = ? WHERE id = ?", arguments: [displayName, Int64(userID)])
            }
            if let bio = patch.bio {
                try db.execute(sql: "UPDATE users SET bio = ? WHERE id = ?", arguments: [bio, Int64(userID)])
            }
            if let avatar = patch.avatarURL {
                try db.execute(sql: "UPDATE users SET avatar_url = ? WHERE id = ?", arguments: [avatar, Int64(userID)])
            }
            return try Row.fetchOne(db, sql: "SELECT \(Self.userColumns) FROM users WHERE id = ?", arguments: [Int64(userID)]).map(Self.user)
        }
    }

    public func setPasswordHash(userID: ID, hash: String) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE users SET password_hash = ? WHERE id = ?", arguments: [hash, Int64(userID)])
        }
    }

    public func setModerator(userID: ID, _ isModerator: Bool) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE users SET is_moderator = ? WHERE id = ?", arguments: [isModerator, Int64(userID)])
        }
    }

    // MARK: Refresh tokens

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        try await write { db in try Self.insert(record, db) }
    }

    static func insert(_ record: RefreshTokenRecord, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) VALUES (?, ?, ?, ?)",
            arguments: [record.tokenHash, record.familyID, Int64(record.userID), record.expiresAt.millis])
    }

    public func rotateRefreshToken(hash: String, replacement: RefreshTokenRecord, now: Date) async throws -> RefreshRotation {
        try await write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?",
                    arguments: [hash])
            else { return .invalid }
            let family: String = row["family_id"]
            if (row["revoked_at"] as Int64?) != nil { return .invalid }
            if (row["used_at"] as Int64?) != nil {
                try db.execute(
                    sql: "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                    arguments: [now.millis, family])
                return .reused
            }
            if (row["expires_at"] as Int64) <= now.millis { return .invalid }
            try db.execute(sql: "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", arguments: [now.millis, hash])
            var next = replacement
            next.familyID = family
            try Self.insert(next, db)
            return .rotated(userID: row.id("user_id"), familyID: family)
        }
    }

    public func revokeRefreshFamily(familyID: String, now: Date) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                arguments: [now.millis, familyID])
        }
    }

    public func isRefreshFamilyRevoked(familyID: String) async throws -> Bool {
        // On the caller's thread: authentication asks this of every session every few seconds.
        try quickRead { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT 1 FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NOT NULL LIMIT 1"),
                arguments: [familyID]
            ) != nil
        }
    }

    // MARK: Follows

    public func follow(followerID: ID, followeeID: ID, id: ID, now: Date, backfill: Int, notification: NotificationRecord?) async throws
        -> FollowChange
    {
        // Cached statements: a follow holds the one writer, so its statements are prepared once
        // per connection rather than on every follow.
        try await write { db in
            try db.cachedStatement(sql: "INSERT INTO follows (follower_id, followee_id, id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING")
                .execute(arguments: [Int64(followerID), Int64(followeeID), Int64(id), now.millis])
            guard db.changesCount > 0 else { return FollowChange(isNew: false) }
            try db.cachedStatement(sql: "UPDATE users SET following_count = following_count + 1 WHERE id = ?").execute(arguments: [Int64(followerID)])
            try db.cachedStatement(sql: "UPDATE users SET followers_count = followers_count + 1 WHERE id = ?").execute(arguments: [Int64(followeeID)])
            if backfill > 0 {
                // Only above the follower's floor: below it, reads pull from everyone followed anyway.
                try db.cachedStatement(
                    sql: """
                        INSERT OR IGNORE INTO timeline_entries (user_id, post_id, author_id)
                        SELECT ?, id, author_id FROM posts
                        WHERE author_id = ? AND pull_only = 0 AND id >= COALESCE((SELECT floor FROM timelines WHERE user_id = ?), 0)
                        ORDER BY id DESC LIMIT ?
                        """
                ).execute(arguments: [Int64(followerID), Int64(followeeID), Int64(followerID), backfill])
            }
            return FollowChange(isNew: true, notification: try notification.flatMap { try Self.insert($0, db) })
        }
    }

    public func unfollow(followerID: ID, followeeID: ID) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM follows WHERE follower_id = ? AND followee_id = ?", arguments: [Int64(followerID), Int64(followeeID)])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "UPDATE users SET following_count = following_count - 1 WHERE id = ?", arguments: [Int64(followerID)])
            try db.execute(sql: "UPDATE users SET followers_count = followers_count - 1 WHERE id = ?", arguments: [Int64(followeeID)])
            try db.execute(
                sql: "DELETE FROM timeline_entries WHERE user_id = ? AND author_id = ?", arguments: [Int64(followerID), Int64(followeeID)])
            return true
        }
    }

    public func relationships(viewerID: ID, otherIDs: [ID]) async throws -> [ID: Relationship] {
        guard !otherIDs.isEmpty else { return [:] }
        return try quickRead { db in
            let list = Self.placeholders(otherIDs.count)
            let ids = otherIDs.map { Int64($0) }
            let following = Set(
                try Int64.fetchAll(
                    db.cachedStatement(sql: "SELECT followee_id FROM follows WHERE follower_id = ? AND followee_id IN (\(list))"),
                    arguments: StatementArguments([Int64(viewerID)] + ids)))
            let followedBy = Set(
                try Int64.fetchAll(
                    db.cachedStatement(sql: "SELECT follower_id FROM follows WHERE followee_id = ? AND follower_id IN (\(list))"),
                    arguments: StatementArguments([Int64(viewerID)] + ids)))
            var result: [ID: Relationship] = [:]
            for id in otherIDs {
                result[id] = Relationship(following: following.contains(Int64(id)), followedBy: followedBy.contains(Int64(id)))
            }
            return result
        }
    }

    public func followers(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser] {
        try await listUsers(
            sql: """
                SELECT f.id AS position, \(Self.prefixed("u", Self.userColumns)) FROM follows f JOIN users u ON u.id = f.follower_id
                WHERE f.followee_id = ? AND f.id < ? ORDER BY f.id DESC LIMIT ?
                """, userID: userID, before: before, limit: limit)
    }

    public func following(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser] {
        try await listUsers(
            sql: """
                SELECT f.id AS position, \(Self.prefixed("u", Self.userColumns)) FROM follows f JOIN users u ON u.id = f.followee_id
                WHERE f.follower_id = ? AND f.id < ? ORDER BY f.id DESC LIMIT ?
                """, userID: userID, before: before, limit: limit)
    }

    private func listUsers(sql: String, userID: ID, before: ID?, limit: Int) async throws -> [ListedUser] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: [Int64(userID), before.map { Int64($0) } ?? Int64.max, limit])
                .map { ListedUser(position: $0.id("position"), user: Self.user($0)) }
        }
    }

    // MARK: Posts

    static let postColumns = """
        id, author_id, text, title, description, tags, media, asset_type, visibility, organization_id, inspired_by_post_id, \
        like_count, comment_count, share_count, view_count, is_featured, moderation_status, created_at, updated_at
        """

    static func post(_ row: Row) -> Post {
        Post(
            id: row.id("id"), authorID: row.id("author_id"), text: row["text"], title: row["title"], description: row["description"],
            tags: StoredJSON.tags(row["tags"]), media: StoredJSON.media(row["media"]), assetType: row["asset_type"],
            visibility: PostVisibility(rawValue: row["visibility"]) ?? .public,
            organizationID: (row["organization_id"] as Int64?).map { ID($0) },
            inspiredByPostID: (row["inspired_by_post_id"] as Int64?).map { ID($0) },
            likeCount: row["like_count"], commentCount: row["comment_count"], shareCount: row["share_count"],
            viewCount: row["view_count"], isFeatured: row["is_featured"],
            moderationStatus: ModerationStatus(rawValue: row["moderation_status"]) ?? .pending,
            createdAt: Date(millis: row["created_at"]), updatedAt: Date(millis: row["updated_at"]))
    }

    /// Claims an idempotency key inside the caller's transaction. Returns the earlier creation when
    /// the key was used in the last 24 hours; forgets an older use.
    static func claim(_ key: IdempotencyKey, now: Date, _ db: Database) throws -> (id: ID, response: StoredResponse?)? {
        let arguments: StatementArguments = [Int64(key.userID), key.scope, key.key]
        if let row = try Row.fetchOne(
            db, sql: "SELECT resource_id, status, body, created_at FROM idempotency_keys WHERE user_id = ? AND scope = ? AND key = ?",
            arguments: arguments)
        {
            if (row["created_at"] as Int64) > now.addingTimeInterval(-IdempotencyKey.lifetime).millis {
                let status: Int? = row["status"]
                let body: Data? = row["body"]
                return (row.id("resource_id"), status.flatMap { s in body.map { StoredResponse(status: s, body: Array($0)) } })
            }
            try db.execute(sql: "DELETE FROM idempotency_keys WHERE user_id = ? AND scope = ? AND key = ?", arguments: arguments)
        }
        return nil
    }

    static func remember(_ key: IdempotencyKey, resourceID: ID, now: Date, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO idempotency_keys (user_id, scope, key, resource_id, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [Int64(key.userID), key.scope, key.key, Int64(resourceID), now.millis])
    }

    public func createPost(_ post: Post, idempotency: IdempotencyKey?, now: Date, policy: FanOutPolicy) async throws -> Creation<Post> {
        try await write { db in
            if let idempotency {
                if let earlier = try Self.claim(idempotency, now: now, db) { return .replay(id: earlier.id, response: earlier.response) }
                try Self.remember(idempotency, resourceID: post.id, now: now, db)
            }
            let followers = try Int.fetchOne(db, sql: "SELECT followers_count FROM users WHERE id = ?", arguments: [Int64(post.authorID)]) ?? 0
            let pullOnly = policy.isCelebrity(followers: followers)
            try db.execute(
                sql: """
                    INSERT INTO posts (id, author_id, text, title, description, tags, media, asset_type, visibility, organization_id,
                      inspired_by_post_id, is_featured, moderation_status, created_at, updated_at, pull_only)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    Int64(post.id), Int64(post.authorID), post.text, post.title, post.description, StoredJSON.encode(post.tags),
                    StoredJSON.encode(post.media), post.assetType, post.visibility.rawValue, post.organizationID.map { Int64($0) },
                    post.inspiredByPostID.map { Int64($0) }, post.isFeatured, post.moderationStatus.rawValue,
                    post.createdAt.millis, post.updatedAt.millis, pullOnly,
                ])
            try Self.writeTags(postID: post.id, tags: post.tags, db)
            try db.execute(sql: "UPDATE users SET posts_count = posts_count + 1 WHERE id = ?", arguments: [Int64(post.authorID)])
            try Self.enqueueFanOut(post, followers: followers, pullOnly: pullOnly, now: now, db)
            return .created(post.roundedToMillis)
        }
    }

    static func writeTags(postID: ID, tags: [String], _ db: Database) throws {
        try db.execute(sql: "DELETE FROM post_tags WHERE post_id = ?", arguments: [Int64(postID)])
        for tag in tags {
            try db.execute(sql: "INSERT INTO post_tags (tag, post_id) VALUES (?, ?) ON CONFLICT DO NOTHING", arguments: [tag, Int64(postID)])
        }
    }

    public func saveIdempotentResponse(_ key: IdempotencyKey, response: StoredResponse) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE idempotency_keys SET status = ?, body = ? WHERE user_id = ? AND scope = ? AND key = ? AND status IS NULL",
                arguments: [response.status, Data(response.body), Int64(key.userID), key.scope, key.key])
        }
    }

    public func post(id: ID) async throws -> Post? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.postColumns) FROM posts WHERE id = ?", arguments: [Int64(id)]).map(Self.post)
        }
    }

    public func posts(ids: [ID]) async throws -> [ID: Post] {
        guard !ids.isEmpty else { return [:] }
        return try quickRead { db in
            let rows = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Self.postColumns) FROM posts WHERE id IN (\(Self.placeholders(ids.count)))"),
                arguments: StatementArguments(ids.map { Int64($0) }))
            return Dictionary(rows.map { (ID($0["id"] as Int64), Self.post($0)) }, uniquingKeysWith: { a, _ in a })
        }
    }

    public func updatePost(id: ID, patch: PostPatch, now: Date) async throws -> Post? {
        try await write { db in
            let key = Int64(id)
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM posts WHERE id = ?", arguments: [key]) != nil else { return nil }
            if let text = patch.text { try db.execute(sql: "UPDATE posts SET text = ? WHERE id = ?", arguments: [text, key]) }
            if let title = patch.title { try db.execute(sql: "UPDATE posts SET title = ? WHERE id = ?", arguments: [title, key]) }
            if let description = patch.description {
                try db.execute(sql: "UPDATE posts SET description = ? WHERE id = ?", arguments: [description, key])
            }
            if let tags = patch.tags {
                try db.execute(sql: "UPDATE posts SET tags = ? WHERE id = ?", arguments: [StoredJSON.encode(tags), key])
                try Self.writeTags(postID: id, tags: tags, db)
            }
            try db.execute(sql: "UPDATE posts SET updated_at = ? WHERE id = ?", arguments: [now.millis, key])
            return try Row.fetchOne(db, sql: "SELECT \(Self.postColumns) FROM posts WHERE id = ?", arguments: [key]).map(Self.post)
        }
    }

    public func deletePost(id: ID) async throws -> Bool {
        try await write { db in
            let key = Int64(id)
            guard let row = try Row.fetchOne(db, sql: "SELECT author_id, pull_only FROM posts WHERE id = ?", arguments: [key]) else {
                return false
            }
            let author: Int64 = row["author_id"]
            if !(row["pull_only"] as Bool) {
                try Self.enqueueJob(kind: .purge, postID: id, authorID: ID(author), now: Date(), db)
            }
            try db.execute(sql: "DELETE FROM timeline_entries WHERE user_id = ? AND post_id = ?", arguments: [author, key])
            for table in ["likes", "shares", "post_views", "comments", "post_tags"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE post_id = ?", arguments: [key])
            }
            try db.execute(sql: "DELETE FROM posts WHERE id = ?", arguments: [key])
            try db.execute(sql: "UPDATE users SET posts_count = posts_count - 1 WHERE id = ?", arguments: [author])
            return true
        }
    }

    public func postsByAuthor(_ authorID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        let (clause, extra) = Self.filterClause(filter)
        return try quickRead { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT \(Self.postColumns) FROM posts WHERE author_id = ? AND id < ?\(clause) ORDER BY id DESC LIMIT ?"),
                arguments: StatementArguments([Int64(authorID), before.map { Int64($0) } ?? Int64.max]) + StatementArguments(extra) + [Int64(limit)]
            ).map(Self.post)
        }
    }

    public func recentPostTexts(authorID: ID, limit: Int) async throws -> [(text: String, createdAt: Date)] {
        try quickRead { db in
            try Row.fetchAll(
                db.cachedStatement(sql: "SELECT text, created_at FROM posts WHERE author_id = ? ORDER BY id DESC LIMIT ?"),
                arguments: [Int64(authorID), limit]
            ).map { ($0["text"], Date(millis: $0["created_at"])) }
        }
    }

    public func recentPublicPosts(before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        let (clause, extra) = Self.filterClause(filter)
        return try quickRead { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT \(Self.postColumns) FROM posts
                        WHERE visibility = 'public' AND moderation_status = 'approved' AND id < ?\(clause) ORDER BY id DESC LIMIT ?
                        """),
                arguments: StatementArguments([before.map { Int64($0) } ?? Int64.max]) + StatementArguments(extra) + [Int64(limit)]
            ).map(Self.post)
        }
    }

    /// `AND ...` conditions for a feed filter, with their arguments in order.
    static func filterClause(_ filter: FeedFilter) -> (String, [String]) {
        var clause = ""
        var arguments: [String] = []
        if let assetType = filter.assetType {
            clause += " AND asset_type = ?"
            arguments.append(assetType)
        }
        for tag in filter.tags {
            clause += " AND id IN (SELECT post_id FROM post_tags WHERE tag = ?)"
            arguments.append(tag)
        }
        return (clause, arguments)
    }

    // MARK: Engagement

    public func like(userID: ID, postID: ID, now: Date) async throws -> EngagementResult {
        try await engage(
            insert: "INSERT INTO likes (post_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            arguments: [Int64(postID), Int64(userID), now.millis], counter: "like_count", delta: 1, postID: postID)
    }

    public func unlike(userID: ID, postID: ID) async throws -> EngagementResult {
        try await engage(
            insert: "DELETE FROM likes WHERE post_id = ? AND user_id = ?",
            arguments: [Int64(postID), Int64(userID)], counter: "like_count", delta: -1, postID: postID)
    }

    public func share(userID: ID, postID: ID, now: Date) async throws -> EngagementResult {
        try await engage(
            insert: "INSERT INTO shares (post_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            arguments: [Int64(postID), Int64(userID), now.millis], counter: "share_count", delta: 1, postID: postID)
    }

    /// Applies an idempotent engagement row change and moves the post's counter only if the row changed.
    private func engage(insert: String, arguments: StatementArguments, counter: String, delta: Int, postID: ID) async throws
        -> EngagementResult
    {
        try await write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM posts WHERE id = ?", arguments: [Int64(postID)]) != nil else {
                throw RoostError.notFound
            }
            try db.execute(sql: insert, arguments: arguments)
            let changed = db.changesCount > 0
            if changed {
                try db.execute(sql: "UPDATE posts SET \(counter) = \(counter) + ? WHERE id = ?", arguments: [delta, Int64(postID)])
            }
            let count = try Int.fetchOne(db, sql: "SELECT \(counter) FROM posts WHERE id = ?", arguments: [Int64(postID)]) ?? 0
            return EngagementResult(changed: changed, count: count)
        }
    }

    public func recordView(postID: ID, viewerKey: String, now: Date, window: TimeInterval) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO post_views (post_id, viewer_key, viewed_at) VALUES (?, ?, ?)
                    ON CONFLICT (post_id, viewer_key) DO UPDATE SET viewed_at = excluded.viewed_at WHERE post_views.viewed_at <= ?
                    """,
                arguments: [Int64(postID), viewerKey, now.millis, now.addingTimeInterval(-window).millis])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "UPDATE posts SET view_count = view_count + 1 WHERE id = ?", arguments: [Int64(postID)])
            return true
        }
    }

    public func viewerFlags(userID: ID, postIDs: [ID]) async throws -> [ID: ViewerPostFlags] {
        guard !postIDs.isEmpty else { return [:] }
        return try quickRead { db in try Self.viewerFlags(userID: userID, postIDs: postIDs, db).filter { $0.value != ViewerPostFlags() } }
    }

    /// Flags for every id of `postIDs`, false ones included.
    static func viewerFlags(userID: ID, postIDs: [ID], _ db: Database) throws -> [ID: ViewerPostFlags] {
        var flags = Dictionary(postIDs.map { ($0, ViewerPostFlags()) }, uniquingKeysWith: { a, _ in a })
        guard !postIDs.isEmpty else { return flags }
        let list = placeholders(postIDs.count)
        let arguments = StatementArguments([Int64(userID)] + postIDs.map { Int64($0) })
        for id in try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT post_id FROM likes WHERE user_id = ? AND post_id IN (\(list))"), arguments: arguments)
        {
            flags[ID(id)]?.liked = true
        }
        for id in try Int64.fetchAll(
            db.cachedStatement(sql: "SELECT post_id FROM shares WHERE user_id = ? AND post_id IN (\(list))"), arguments: arguments)
        {
            flags[ID(id)]?.shared = true
        }
        return flags
    }

    // MARK: Comments

    static let commentColumns = "id, post_id, parent_id, author_id, text, like_count, created_at"

    static func comment(_ row: Row) -> Comment {
        Comment(
            id: row.id("id"), postID: row.id("post_id"), parentID: (row["parent_id"] as Int64?).map { ID($0) },
            authorID: row.id("author_id"), text: row["text"], likeCount: row["like_count"], createdAt: Date(millis: row["created_at"]))
    }

    public func createComment(_ comment: Comment, idempotency: IdempotencyKey?, now: Date) async throws -> Creation<Comment> {
        try await write { db in
            if let idempotency {
                if let earlier = try Self.claim(idempotency, now: now, db) { return .replay(id: earlier.id, response: earlier.response) }
                try Self.remember(idempotency, resourceID: comment.id, now: now, db)
            }
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM posts WHERE id = ?", arguments: [Int64(comment.postID)]) != nil else {
                throw RoostError.notFound
            }
            if let parent = comment.parentID {
                guard
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM comments WHERE id = ? AND post_id = ?", arguments: [Int64(parent), Int64(comment.postID)])
                        != nil
                else { throw RoostError.validation(field: "parent_id", message: "parent_id is not a comment on this post") }
            }
            try db.execute(
                sql: "INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    Int64(comment.id), Int64(comment.postID), comment.parentID.map { Int64($0) }, Int64(comment.authorID), comment.text,
                    comment.createdAt.millis,
                ])
            try db.execute(sql: "UPDATE posts SET comment_count = comment_count + 1 WHERE id = ?", arguments: [Int64(comment.postID)])
            var stored = comment
            stored.createdAt = comment.createdAt.roundedToMillis
            return .created(stored)
        }
    }

    public func comment(id: ID) async throws -> Comment? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.commentColumns) FROM comments WHERE id = ?", arguments: [Int64(id)]).map(Self.comment)
        }
    }

    public func comments(postID: ID, after: ID?, limit: Int) async throws -> [Comment] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT \(Self.commentColumns) FROM comments WHERE post_id = ? AND id > ? ORDER BY id LIMIT ?",
                arguments: [Int64(postID), after.map { Int64($0) } ?? 0, limit]
            ).map(Self.comment)
        }
    }

    public func deleteComment(id: ID) async throws -> Bool {
        try await write { db in
            guard let postID = try Int64.fetchOne(db, sql: "SELECT post_id FROM comments WHERE id = ?", arguments: [Int64(id)]) else {
                return false
            }
            // The comment and every reply below it.
            try db.execute(
                sql: """
                    WITH RECURSIVE doomed(id) AS (
                      SELECT ? UNION ALL SELECT c.id FROM comments c JOIN doomed d ON c.parent_id = d.id
                    )
                    DELETE FROM comments WHERE id IN (SELECT id FROM doomed)
                    """, arguments: [Int64(id)])
            try db.execute(
                sql: "UPDATE posts SET comment_count = MAX(comment_count - ?, 0) WHERE id = ?", arguments: [db.changesCount, postID])
            return true
        }
    }

    // MARK: Helpers

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    static func prefixed(_ alias: String, _ columns: String) -> String {
        columns.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: ", ")
    }
}

extension Row {
    /// Reads a stored (signed) id column as a Roost id.
    func id(_ column: String) -> ID {
        ID(UInt64(bitPattern: self[column] as Int64))
    }
}
