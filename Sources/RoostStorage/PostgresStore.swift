import Foundation
import Logging
import PostgresNIO
import RoostCore
import Synchronization

/// The shared-database backend: several Roost nodes can run against one PostgreSQL.
///
/// Unlike SQLite, writers here run concurrently, so every write method is one transaction whose
/// row changes decide what happens next: `INSERT … ON CONFLICT DO NOTHING RETURNING` and
/// `DELETE … RETURNING` tell whether this call changed anything, and only then does it move a
/// counter with `x = x + n`. Counters therefore stay exact however many requests race.
///
/// Deadlock avoidance rests on one lock order: the post row first (`FOR KEY SHARE` when only adding
/// engagement or pushing it to timelines, `FOR NO KEY UPDATE` when changing its comment tree, the
/// `DELETE` itself when removing it), then user rows in ascending id order, then timeline entries
/// and other child rows. Should the server still report a deadlock or a serialization failure,
/// the whole transaction is retried.
///
/// Transactions run at READ COMMITTED whatever the server default, because several methods rely
/// on each statement seeing what racers committed meanwhile (an idempotency key claimed by
/// another request, a refresh token rotated a moment ago).
public final class PostgresStore: RoostStore {
    let client: PostgresClient
    /// Runs the pool for the life of the store; cancelling it closes every connection.
    private let runTask: Task<Void, Never>
    let logger: Logger
    /// `HomeSliceStatement`'s count of accounts with pull-only posts, read again at most every
    /// 30 s: a stale count only makes a read take the costlier of two equivalent branches.
    private let pullAuthors = Mutex<(count: Int64, readAt: ContinuousClock.Instant)?>(nil)
    /// The `NOTIFY` channel of the nodes sharing these tables (one per schema).
    let notifyChannel: String

    /// Connections per node; PostgreSQL's default `max_connections` of 100 leaves room for a few nodes.
    static let maximumConnections = 20
    /// Retries of a transaction the server aborted as a deadlock victim or a serialization failure.
    static let maximumAttempts = 4
    /// First key of the advisory locks Roost takes, so they cannot collide with another application's.
    static let migrationLockClass: Int32 = 0x526F_6F73
    static let refreshFamilyLockClass: Int32 = 0x526F_6F74

    /// - Parameters:
    ///   - url: `postgres://user:password@host:port/database?sslmode=disable|require|verify-ca|verify-full`.
    ///   - schema: a schema (`[a-z0-9_]`) to keep every table in instead of the default search path;
    ///     created if missing. Tests give each case its own.
    public init(url: String, schema: String?, logger: Logger) async throws {
        var configuration = try Self.configuration(url: url)
        configuration.options.maximumConnections = Self.maximumConnections
        if let schema {
            guard Self.isValidSchemaName(schema) else {
                throw RoostError.validation(field: "postgres_schema", message: "schema name must be 1-63 characters of [a-z0-9_]")
            }
            // A startup parameter rather than a `SET` after connecting: the pool opens and replaces
            // connections on its own, and each one must land in the schema from its first query.
            configuration.options.additionalStartupParameters = [("search_path", "\"\(schema)\"")]
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.notifyChannel = String("roost_\(schema ?? "nodes")".prefix(63))
        self.logger = logger
        self.runTask = Self.startRunning(client)
        if let schema {
            do {
                try await createSchema(schema)
            } catch {
                runTask.cancel()
                await runTask.value
                throw error
            }
        }
    }

    deinit {
        // A store dropped without `shutdown()` must not keep its pool (and sockets) alive forever.
        runTask.cancel()
    }

    /// Starts `client.run()` synchronously where the runtime allows, so the first query does not
    /// race the pool's start-up (postgres-nio logs a warning when a lease arrives before `run()`).
    private static func startRunning(_ client: PostgresClient) -> Task<Void, Never> {
        if #available(macOS 26, iOS 26, tvOS 26, watchOS 26, visionOS 26, *) {
            return Task.immediate { await client.run() }
        }
        return Task { await client.run() }
    }

    /// The name is spliced into `CREATE SCHEMA` (identifiers cannot be bound), so only characters
    /// that need no quoting pass; 63 bytes is PostgreSQL's identifier limit.
    static func isValidSchemaName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 63
            && name.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "_")
            }
    }

    private func createSchema(_ schema: String) async throws {
        do {
            // Identifiers cannot be bound; the name was checked against [a-z0-9_] above.
            try await rows(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""))
        } catch let error as PSQLError where [SQLState.uniqueViolation, SQLState.duplicateSchema].contains(Self.sqlState(error)) {
            // `IF NOT EXISTS` is not atomic: a node starting at the same moment created it first.
        }
    }

    /// Reads a libpq-style URL. Only the parts Roost needs are supported; anything unreadable is an
    /// error at start-up rather than a silent fallback to another server.
    static func configuration(url: String) throws -> PostgresClient.Configuration {
        func invalid(_ reason: String) -> RoostError {
            // Never echo the URL: it may carry a password.
            RoostError.validation(field: "database_url", message: "invalid PostgreSQL URL: \(reason)")
        }
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else { throw invalid("expected postgres://user:password@host:port/database") }
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        let port = components.port ?? 5432
        let username = components.user.flatMap { $0.isEmpty ? nil : $0 } ?? "postgres"
        var database: String? = components.path
        if database?.hasPrefix("/") == true { database?.removeFirst() }
        if database?.isEmpty == true { database = nil }

        var sslmode = "disable"
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            sslmode = item.value ?? ""
        }
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable", "allow", "prefer":
            tls = .disable
        case "require":
            // libpq's `require` encrypts without checking the certificate; managed databases often
            // present ones no local CA vouches for. Use verify-full to authenticate the server.
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = .none
            tls = .require(tlsConfiguration)
        case "verify-ca":
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            tlsConfiguration.certificateVerification = .noHostnameVerification
            tls = .require(tlsConfiguration)
        case "verify-full":
            tls = .require(.makeClientConfiguration())
        default:
            throw invalid("unsupported sslmode \"\(sslmode)\"")
        }
        return PostgresClient.Configuration(
            host: host, port: port, username: username, password: components.password, database: database, tls: tls)
    }

    // MARK: Plumbing

    enum SQLState {
        static let uniqueViolation = "23505"
        static let duplicateSchema = "42P06"
        static let serializationFailure = "40001"
        static let deadlockDetected = "40P01"
    }

    static func sqlState(_ error: PSQLError) -> String? {
        error.serverInfo?[.sqlState]
    }

    /// Runs one statement on any pooled connection and reads all its rows, which also hands the
    /// connection back to the pool.
    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await client.query(query, logger: logger).collect()
    }

    /// Runs one statement inside a transaction; rows are read to the end so the next statement on
    /// the connection does not queue behind an unfinished result.
    @discardableResult
    func rows(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).collect()
    }

    /// One READ COMMITTED transaction on one pooled connection, retried from the start when the
    /// server aborts it as a deadlock victim or serialization failure (the body must therefore be
    /// safe to run again, which every body here is: it only talks to the database).
    ///
    /// Hand-rolled instead of `PostgresClient.withTransaction` so a `RoostError` thrown by the body
    /// reaches the caller as itself rather than wrapped in `PostgresTransactionError`.
    func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await client.withConnection { connection in
                    try await rows("BEGIN ISOLATION LEVEL READ COMMITTED", on: connection)
                    do {
                        let value = try await body(connection)
                        try await rows("COMMIT", on: connection)
                        return value
                    } catch {
                        await rollback(connection)
                        throw error
                    }
                }
            } catch let error as PSQLError
                where attempt < Self.maximumAttempts
                && [SQLState.deadlockDetected, SQLState.serializationFailure].contains(Self.sqlState(error))
            {
                logger.debug("retrying PostgreSQL transaction", metadata: ["sqlstate": "\(Self.sqlState(error) ?? "")", "attempt": "\(attempt)"])
                attempt += 1
            }
        }
    }

    private func rollback(_ connection: PostgresConnection) async {
        do {
            try await rows("ROLLBACK", on: connection)
        } catch {
            // A connection whose transaction state is unknown must not be leased again.
            logger.warning("ROLLBACK failed; closing the connection", metadata: ["error": "\(String(reflecting: error))"])
            try? await connection.close()
        }
    }

    /// Keyset upper bound: nil means "from the newest"; an id beyond the signed range (never
    /// issued) bounds nothing.
    static func upper(_ before: ID?) -> Int64 {
        before.map { Int64(clamping: $0) } ?? Int64.max
    }

    /// `LIMIT NULL` is PostgreSQL's "no limit", matching SQLite's reading of a negative limit.
    static func limitValue(_ limit: Int) -> Int64? {
        limit < 0 ? nil : Int64(limit)
    }

    public func migrate() async throws {
        let applied = try await transaction { connection -> [Int] in
            // Nodes starting together queue here; each later one finds the versions applied. Keyed
            // by schema so test cases in separate schemas do not wait for each other.
            try await rows(
                "SELECT pg_advisory_xact_lock(\(Self.migrationLockClass), hashtext(coalesce(current_schema(), '')))", on: connection)
            try await rows(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", on: connection)
            var present = Set<Int>()
            for row in try await rows("SELECT version FROM schema_migrations", on: connection) {
                present.insert(try row.decode(Int.self))
            }
            var applied: [Int] = []
            for migration in PostgresSchema.migrations where !present.contains(migration.version) {
                for statement in migration.statements {
                    // Fixed DDL from `PostgresSchema`, no user input.
                    try await rows(PostgresQuery(unsafeSQL: statement), on: connection)
                }
                try await rows(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (\(Int32(migration.version)), \(Date().millis))",
                    on: connection)
                applied.append(migration.version)
            }
            return applied
        }
        // Logged after the commit: a transaction that is rolled back and retried applied nothing.
        for version in applied {
            logger.info("applied PostgreSQL migration", metadata: ["version": "\(version)"])
        }
        try await repairBulkLoad()
    }

    public func ping() async throws {
        try await rows("SELECT 1")
    }

    public func shutdown() async throws {
        runTask.cancel()
        await runTask.value
    }

    // MARK: Users

    static let userColumns =
        "id, username, email, display_name, bio, avatar_url, verified, is_moderator, followers_count, following_count, posts_count, created_at"

    private typealias UserColumns = (Int64, String, String, String, String, String?, Bool, Bool, Int, Int, Int, Int64)
    /// Where a query's own columns start when it selects `userColumns` first.
    private static let userColumnCount = 12

    /// Decoding is positional, so queries that need more than a user put their extra columns after
    /// `userColumns`, never before.
    static func user(_ row: PostgresRow) throws -> User {
        let (id, username, email, displayName, bio, avatarURL, verified, isModerator, followers, following, posts, createdAt) =
            try row.decode(UserColumns.self)
        return User(
            id: id.roostID, username: username, email: email, displayName: displayName, bio: bio, avatarURL: avatarURL,
            verified: verified, isModerator: isModerator, followersCount: followers, followingCount: following, postsCount: posts,
            createdAt: Date(millis: createdAt))
    }

    public func createUser(_ new: NewUser) async throws -> User {
        do {
            // No look-before-insert: the unique constraints are the only check that holds under
            // concurrent sign-ups, so their violation is the answer.
            try await rows(
                """
                INSERT INTO users (id, username, username_lower, email, email_lower, display_name, password_hash, created_at)
                VALUES (\(new.id.pgBits), \(new.username), \(new.username.lowercased()), \(new.email), \(new.email.lowercased()),
                  \(new.displayName), \(new.passwordHash), \(new.createdAt.millis))
                """)
        } catch let error as PSQLError where Self.sqlState(error) == SQLState.uniqueViolation {
            switch error.serverInfo?[.constraintName] {
            case PostgresSchema.usernameConstraint: throw RoostError.conflict(field: "username", message: "username is taken")
            case PostgresSchema.emailConstraint: throw RoostError.conflict(field: "email", message: "email is already registered")
            default: throw error
            }
        }
        return User(
            id: new.id, username: new.username, email: new.email, displayName: new.displayName, createdAt: new.createdAt.roundedToMillis)
    }

    public func user(id: ID) async throws -> User? {
        try await rows("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id.pgBits)").first.map(Self.user)
    }

    public func user(username: String) async throws -> User? {
        try await rows("SELECT \(unescaped: Self.userColumns) FROM users WHERE username_lower = \(username.lowercased())")
            .first.map(Self.user)
    }

    public func users(ids: [ID]) async throws -> [ID: User] {
        guard !ids.isEmpty else { return [:] }
        let users = try await rows("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = ANY(\(ids.map(\.pgBits)))").map(Self.user)
        return Dictionary(users.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func credentials(login: String) async throws -> Credentials? {
        let key = login.lowercased()
        // Should one account's username equal another's email, the username wins, deterministically.
        guard
            let row = try await rows(
                """
                SELECT \(unescaped: Self.userColumns), password_hash FROM users
                WHERE username_lower = \(key) OR email_lower = \(key) ORDER BY username_lower = \(key) DESC LIMIT 1
                """
            ).first
        else { return nil }
        let passwordHash = try row.makeRandomAccess()[Self.userColumnCount].decode(String?.self)
        return Credentials(user: try Self.user(row), passwordHash: passwordHash)
    }

    public func updateProfile(userID: ID, patch: ProfilePatch) async throws -> User? {
        // One statement, so the returned row is exactly what this update left behind.
        try await rows(
            """
            UPDATE users SET
              display_name = CASE WHEN \(patch.displayName != nil) THEN \(patch.displayName) ELSE display_name END,
              bio = CASE WHEN \(patch.bio != nil) THEN \(patch.bio) ELSE bio END,
              avatar_url = CASE WHEN \(patch.avatarURL != nil) THEN \(patch.avatarURL ?? nil) ELSE avatar_url END
            WHERE id = \(userID.pgBits)
            RETURNING \(unescaped: Self.userColumns)
            """
        ).first.map(Self.user)
    }

    public func setPasswordHash(userID: ID, hash: String) async throws {
        try await rows("UPDATE users SET password_hash = \(hash) WHERE id = \(userID.pgBits)")
    }

    public func setModerator(userID: ID, _ isModerator: Bool) async throws {
        try await rows("UPDATE users SET is_moderator = \(isModerator) WHERE id = \(userID.pgBits)")
    }

    // MARK: Refresh tokens

    public func insertRefreshToken(_ record: RefreshTokenRecord) async throws {
        try await rows(insertQuery(record))
    }

    private func insertQuery(_ record: RefreshTokenRecord) -> PostgresQuery {
        """
        INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
        VALUES (\(record.tokenHash), \(record.familyID), \(record.userID.pgBits), \(record.expiresAt.millis))
        """
    }

    /// Serializes everything that changes one token family. Row locks alone are not enough: a
    /// revocation's `UPDATE` cannot see the replacement a concurrent rotation is inserting, and
    /// that replacement would outlive the logout.
    private func lockFamily(_ familyID: String, on connection: PostgresConnection) async throws {
        try await rows("SELECT pg_advisory_xact_lock(\(Self.refreshFamilyLockClass), hashtext(\(familyID)))", on: connection)
    }

    public func rotateRefreshToken(hash: String, replacement: RefreshTokenRecord, now: Date) async throws -> RefreshRotation {
        try await transaction { connection -> RefreshRotation in
            // A token's family never changes, so reading it unlocked is safe; the family lock comes
            // before the row lock, in the same order `revokeRefreshFamily` takes them.
            guard let familyRow = try await rows("SELECT family_id FROM refresh_tokens WHERE token_hash = \(hash)", on: connection).first
            else { return .invalid }
            let family = try familyRow.decode(String.self)
            try await lockFamily(family, on: connection)
            guard
                let row = try await rows(
                    "SELECT user_id, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = \(hash) FOR UPDATE",
                    on: connection
                ).first
            else { return .invalid }
            let (userID, expiresAt, usedAt, revokedAt) = try row.decode((Int64, Int64, Int64?, Int64?).self)
            if revokedAt != nil { return .invalid }
            if usedAt != nil {
                try await rows(
                    "UPDATE refresh_tokens SET revoked_at = \(now.millis) WHERE family_id = \(family) AND revoked_at IS NULL",
                    on: connection)
                return .reused
            }
            if expiresAt <= now.millis { return .invalid }
            try await rows("UPDATE refresh_tokens SET used_at = \(now.millis) WHERE token_hash = \(hash)", on: connection)
            var next = replacement
            next.familyID = family
            try await rows(insertQuery(next), on: connection)
            return .rotated(userID: userID.roostID, familyID: family)
        }
    }

    public func revokeRefreshFamily(familyID: String, now: Date) async throws {
        try await transaction { connection in
            try await lockFamily(familyID, on: connection)
            try await rows(
                "UPDATE refresh_tokens SET revoked_at = \(now.millis) WHERE family_id = \(familyID) AND revoked_at IS NULL",
                on: connection)
        }
    }

    public func isRefreshFamilyRevoked(familyID: String) async throws -> Bool {
        !(try await rows("SELECT 1 FROM refresh_tokens WHERE family_id = \(familyID) AND revoked_at IS NOT NULL LIMIT 1").isEmpty)
    }

    // MARK: Follows

    public func follow(followerID: ID, followeeID: ID, id: ID, now: Date, backfill: Int, notification: NotificationRecord?) async throws
        -> FollowChange
    {
        try await transaction { connection in
            let follower = followerID.pgBits
            let followee = followeeID.pgBits
            let inserted = try await rows(
                """
                INSERT INTO follows (follower_id, followee_id, id, created_at)
                VALUES (\(follower), \(followee), \(id.pgBits), \(now.millis))
                ON CONFLICT DO NOTHING RETURNING 1
                """, on: connection)
            guard !inserted.isEmpty else { return FollowChange(isNew: false) }
            // The followee's row lock taken here is also taken by `createPost` and by push batches of
            // the followee's posts, so the backfill below runs after any of those that raced it and
            // sees their posts, or they run after this commit and see the follow.
            try await moveFollowCounters(followerID: followerID, followeeID: followeeID, by: 1, on: connection)
            if backfill > 0 {
                // Only above the follower's floor: below it, reads pull from everyone followed anyway.
                try await rows(
                    """
                    INSERT INTO timeline_entries (user_id, post_id, author_id)
                    SELECT \(follower), id, author_id FROM posts
                    WHERE author_id = \(followee) AND NOT pull_only AND id >= (SELECT timeline_floor FROM users WHERE id = \(follower))
                    ORDER BY id DESC LIMIT \(Int64(backfill))
                    ON CONFLICT DO NOTHING
                    """, on: connection)
            }
            let stored = try await insertNotifications(notification.map { [$0] } ?? [], on: connection)
            return FollowChange(isNew: true, notification: stored.first)
        }
    }

    public func unfollow(followerID: ID, followeeID: ID) async throws -> Bool {
        try await transaction { connection in
            // Waits for running fan-out batches of either user (they hold KEY SHARE on their
            // author), so the timeline cleanup below sees their entries; id order avoids deadlocks.
            try await rows(
                "SELECT 1 FROM users WHERE id IN (\(followerID.pgBits), \(followeeID.pgBits)) ORDER BY id FOR UPDATE", on: connection)
            let deleted = try await rows(
                "DELETE FROM follows WHERE follower_id = \(followerID.pgBits) AND followee_id = \(followeeID.pgBits) RETURNING 1",
                on: connection)
            guard !deleted.isEmpty else { return false }
            try await moveFollowCounters(followerID: followerID, followeeID: followeeID, by: -1, on: connection)
            try await rows(
                "DELETE FROM timeline_entries WHERE user_id = \(followerID.pgBits) AND author_id = \(followeeID.pgBits)", on: connection)
            return true
        }
    }

    /// Updates the two users in id order, so A following B while B follows A cannot deadlock.
    private func moveFollowCounters(followerID: ID, followeeID: ID, by delta: Int, on connection: PostgresConnection) async throws {
        let updates = [(followerID.pgBits, "following_count"), (followeeID.pgBits, "followers_count")].sorted { $0.0 < $1.0 }
        for (id, counter) in updates {
            try await rows("UPDATE users SET \(unescaped: counter) = \(unescaped: counter) + \(delta) WHERE id = \(id)", on: connection)
        }
    }

    public func relationships(viewerID: ID, otherIDs: [ID]) async throws -> [ID: Relationship] {
        guard !otherIDs.isEmpty else { return [:] }
        let viewer = viewerID.pgBits
        let others = otherIDs.map(\.pgBits)
        var following = Set<Int64>()
        for row in try await rows("SELECT followee_id FROM follows WHERE follower_id = \(viewer) AND followee_id = ANY(\(others))") {
            following.insert(try row.decode(Int64.self))
        }
        var followedBy = Set<Int64>()
        for row in try await rows("SELECT follower_id FROM follows WHERE followee_id = \(viewer) AND follower_id = ANY(\(others))") {
            followedBy.insert(try row.decode(Int64.self))
        }
        var result: [ID: Relationship] = [:]
        for id in otherIDs {
            result[id] = Relationship(following: following.contains(id.pgBits), followedBy: followedBy.contains(id.pgBits))
        }
        return result
    }

    /// Qualified, because `follows` has an `id` and a `created_at` of its own.
    private static let joinedUserColumns = userColumns.split(separator: ",")
        .map { "u.\($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: ", ")

    public func followers(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser] {
        try await listUsers(
            """
            SELECT \(unescaped: Self.joinedUserColumns), f.id FROM follows f JOIN users u ON u.id = f.follower_id
            WHERE f.followee_id = \(userID.pgBits) AND f.id < \(Self.upper(before)) ORDER BY f.id DESC LIMIT \(Self.limitValue(limit))
            """)
    }

    public func following(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser] {
        try await listUsers(
            """
            SELECT \(unescaped: Self.joinedUserColumns), f.id FROM follows f JOIN users u ON u.id = f.followee_id
            WHERE f.follower_id = \(userID.pgBits) AND f.id < \(Self.upper(before)) ORDER BY f.id DESC LIMIT \(Self.limitValue(limit))
            """)
    }

    /// The follow's id (the keyset position) comes after the user columns so `user(_:)` can read them.
    private func listUsers(_ query: PostgresQuery) async throws -> [ListedUser] {
        try await rows(query).map { row in
            let position = try row.makeRandomAccess()[Self.userColumnCount].decode(Int64.self)
            return ListedUser(position: position.roostID, user: try Self.user(row))
        }
    }

    // MARK: Posts

    static let postColumns = """
        id, author_id, text, title, description, tags, media, asset_type, visibility, organization_id, inspired_by_post_id, \
        like_count, comment_count, share_count, view_count, is_featured, moderation_status, created_at, updated_at
        """

    private typealias PostColumns = (
        Int64, Int64, String, String?, String?, String, String, String?, String, Int64?, Int64?,
        Int, Int, Int, Int, Bool, String, Int64, Int64
    )

    static func post(_ row: PostgresRow) throws -> Post {
        let (
            id, authorID, text, title, description, tags, media, assetType, visibility, organizationID, inspiredBy,
            likes, comments, shares, views, isFeatured, moderation, createdAt, updatedAt
        ) = try row.decode(PostColumns.self)
        return Post(
            id: id.roostID, authorID: authorID.roostID, text: text, title: title, description: description,
            tags: StoredJSON.tags(tags), media: StoredJSON.media(media), assetType: assetType,
            visibility: PostVisibility(rawValue: visibility) ?? .public, organizationID: organizationID?.roostID,
            inspiredByPostID: inspiredBy?.roostID, likeCount: likes, commentCount: comments, shareCount: shares, viewCount: views,
            isFeatured: isFeatured, moderationStatus: ModerationStatus(rawValue: moderation) ?? .pending,
            createdAt: Date(millis: createdAt), updatedAt: Date(millis: updatedAt))
    }

    /// Claims an idempotency key inside the caller's transaction, or returns the earlier creation
    /// when the key was used within `IdempotencyKey.lifetime`.
    ///
    /// The insert comes first: a racer holding the same key makes it wait until that racer commits
    /// (then this one replays its result) or rolls back (then this one claims the key). A use older
    /// than the lifetime is deleted and the key claimed afresh.
    private func claim(_ key: IdempotencyKey, resourceID: ID, now: Date, on connection: PostgresConnection) async throws
        -> (id: ID, response: StoredResponse?)?
    {
        let user = key.userID.pgBits
        let cutoff = now.addingTimeInterval(-IdempotencyKey.lifetime).millis
        // Each pass ends in a claim or a replay unless the row vanishes between the two statements
        // (another request expiring it), so a few passes are plenty.
        for _ in 0..<3 {
            let claimed = try await rows(
                """
                INSERT INTO idempotency_keys (user_id, scope, key, resource_id, created_at)
                VALUES (\(user), \(key.scope), \(key.key), \(resourceID.pgBits), \(now.millis))
                ON CONFLICT DO NOTHING RETURNING 1
                """, on: connection)
            if !claimed.isEmpty { return nil }
            guard
                let row = try await rows(
                    """
                    SELECT resource_id, status, body, created_at FROM idempotency_keys
                    WHERE user_id = \(user) AND scope = \(key.scope) AND key = \(key.key) FOR UPDATE
                    """, on: connection
                ).first
            else { continue }
            let (resource, status, body, createdAt) = try row.decode((Int64, Int32?, Data?, Int64).self)
            if createdAt > cutoff {
                let response = status.flatMap { status in body.map { StoredResponse(status: Int(status), body: Array($0)) } }
                return (resource.roostID, response)
            }
            try await rows(
                "DELETE FROM idempotency_keys WHERE user_id = \(user) AND scope = \(key.scope) AND key = \(key.key)", on: connection)
        }
        throw RoostError.conflict(field: nil, message: "a request with this Idempotency-Key is in progress; retry")
    }

    public func createPost(_ post: Post, idempotency: IdempotencyKey?, now: Date, policy: FanOutPolicy) async throws -> Creation<Post> {
        try await transaction { connection in
            if let idempotency, let earlier = try await claim(idempotency, resourceID: post.id, now: now, on: connection) {
                return .replay(id: earlier.id, response: earlier.response)
            }
            let author = post.authorID.pgBits
            // Counting the post first takes the author's row lock before the follower count is read,
            // so a follow racing this post is wholly before it (and the push job sees the follower)
            // or wholly after it (and its backfill sees the post).
            let followers =
                try await rows("UPDATE users SET posts_count = posts_count + 1 WHERE id = \(author) RETURNING followers_count", on: connection)
                .first.map { try $0.decode(Int.self) } ?? 0
            let pullOnly = policy.isCelebrity(followers: followers)
            try await rows(
                """
                INSERT INTO posts (id, author_id, text, title, description, tags, media, asset_type, visibility, organization_id,
                  inspired_by_post_id, is_featured, moderation_status, created_at, updated_at, pull_only)
                VALUES (\(post.id.pgBits), \(author), \(post.text), \(post.title), \(post.description),
                  \(StoredJSON.encode(post.tags)), \(StoredJSON.encode(post.media)), \(post.assetType), \(post.visibility.rawValue),
                  \(post.organizationID?.pgBits), \(post.inspiredByPostID?.pgBits), \(post.isFeatured), \(post.moderationStatus.rawValue),
                  \(post.createdAt.millis), \(post.updatedAt.millis), \(pullOnly))
                """, on: connection)
            try await insertTags(postID: post.id, tags: post.tags, on: connection)
            try await enqueueFanOut(post, followers: followers, pullOnly: pullOnly, now: now, on: connection)
            return .created(post.roundedToMillis)
        }
    }

    private func insertTags(postID: ID, tags: [String], on connection: PostgresConnection) async throws {
        guard !tags.isEmpty else { return }
        try await rows(
            """
            INSERT INTO post_tags (tag, post_id) SELECT DISTINCT tag, \(postID.pgBits) FROM unnest(\(tags)) AS t(tag)
            ON CONFLICT DO NOTHING
            """, on: connection)
    }

    public func saveIdempotentResponse(_ key: IdempotencyKey, response: StoredResponse) async throws {
        try await rows(
            """
            UPDATE idempotency_keys SET status = \(Int32(clamping: response.status)), body = \(Data(response.body))
            WHERE user_id = \(key.userID.pgBits) AND scope = \(key.scope) AND key = \(key.key) AND status IS NULL
            """)
    }

    public func post(id: ID) async throws -> Post? {
        try await rows("SELECT \(unescaped: Self.postColumns) FROM posts WHERE id = \(id.pgBits)").first.map(Self.post)
    }

    public func posts(ids: [ID]) async throws -> [ID: Post] {
        guard !ids.isEmpty else { return [:] }
        let posts = try await rows("SELECT \(unescaped: Self.postColumns) FROM posts WHERE id = ANY(\(ids.map(\.pgBits)))").map(Self.post)
        return Dictionary(posts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func updatePost(id: ID, patch: PostPatch, now: Date) async throws -> Post? {
        try await transaction { connection in
            // The UPDATE takes the post's row lock before the tag rows are touched (see the type's lock order).
            guard
                let row = try await rows(
                    """
                    UPDATE posts SET
                      text = CASE WHEN \(patch.text != nil) THEN \(patch.text) ELSE text END,
                      title = CASE WHEN \(patch.title != nil) THEN \(patch.title ?? nil) ELSE title END,
                      description = CASE WHEN \(patch.description != nil) THEN \(patch.description ?? nil) ELSE description END,
                      tags = CASE WHEN \(patch.tags != nil) THEN \(patch.tags.map { StoredJSON.encode($0) }) ELSE tags END,
                      updated_at = \(now.millis)
                    WHERE id = \(id.pgBits)
                    RETURNING \(unescaped: Self.postColumns)
                    """, on: connection
                ).first
            else { return nil }
            if let tags = patch.tags {
                try await rows("DELETE FROM post_tags WHERE post_id = \(id.pgBits)", on: connection)
                try await insertTags(postID: id, tags: tags, on: connection)
            }
            return try Self.post(row)
        }
    }

    public func deletePost(id: ID) async throws -> Bool {
        try await transaction { connection in
            let key = id.pgBits
            // Deleting the post row first locks it, so engagement, comments and push batches racing
            // this delete either finish before it (and their rows are removed below or by the purge
            // job) or find no post.
            guard let row = try await rows("DELETE FROM posts WHERE id = \(key) RETURNING author_id, pull_only", on: connection).first
            else { return false }
            let (author, pullOnly) = try row.decode((Int64, Bool).self)
            try await rows("UPDATE users SET posts_count = posts_count - 1 WHERE id = \(author)", on: connection)
            if !pullOnly {
                try await enqueueJob(kind: .purge, postID: id, authorID: author.roostID, now: Date(), on: connection)
            }
            try await rows("DELETE FROM timeline_entries WHERE user_id = \(author) AND post_id = \(key)", on: connection)
            for table in ["likes", "shares", "post_views", "comments", "post_tags"] {
                try await rows("DELETE FROM \(unescaped: table) WHERE post_id = \(key)", on: connection)
            }
            return true
        }
    }

    public func postsByAuthor(_ authorID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        var query: PostgresQuery =
            "SELECT \(unescaped: Self.postColumns) FROM posts WHERE author_id = \(authorID.pgBits) AND id < \(Self.upper(before))"
        Self.appendFilter(filter, to: &query)
        Self.appendNewestFirst(limit: limit, to: &query)
        return try await rows(query).map(Self.post)
    }

    public func recentPostTexts(authorID: ID, limit: Int) async throws -> [(text: String, createdAt: Date)] {
        try await rows(
            "SELECT text, created_at FROM posts WHERE author_id = \(authorID.pgBits) ORDER BY id DESC LIMIT \(Int64(limit))"
        ).map { row in
            let (text, created) = try row.decode((String, Int64).self)
            return (text, Date(millis: created))
        }
    }

    public func recentPublicPosts(before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        // The visibility and status stay literals so the planner can use the partial index `posts_public`.
        var query: PostgresQuery = """
            SELECT \(unescaped: Self.postColumns) FROM posts
            WHERE visibility = 'public' AND moderation_status = 'approved' AND id < \(Self.upper(before))
            """
        Self.appendFilter(filter, to: &query)
        Self.appendNewestFirst(limit: limit, to: &query)
        return try await rows(query).map(Self.post)
    }

    /// Appends `AND …` conditions for a feed filter; values are bound, only placeholders are spliced.
    static func appendFilter(_ filter: FeedFilter, to query: inout PostgresQuery) {
        if let assetType = filter.assetType {
            query.binds.append(assetType)
            query.sql += " AND asset_type = $\(query.binds.count)"
        }
        for tag in filter.tags {
            query.binds.append(tag)
            query.sql += " AND id IN (SELECT post_id FROM post_tags WHERE tag = $\(query.binds.count))"
        }
    }

    static func appendNewestFirst(limit: Int, to query: inout PostgresQuery) {
        query.binds.append(limitValue(limit))
        query.sql += " ORDER BY id DESC LIMIT $\(query.binds.count)"
    }

    // MARK: Engagement

    public func like(userID: ID, postID: ID, now: Date) async throws -> EngagementResult {
        try await engage(
            """
            INSERT INTO likes (post_id, user_id, created_at) VALUES (\(postID.pgBits), \(userID.pgBits), \(now.millis))
            ON CONFLICT DO NOTHING RETURNING 1
            """, counter: "like_count", delta: 1, postID: postID)
    }

    public func unlike(userID: ID, postID: ID) async throws -> EngagementResult {
        try await engage(
            "DELETE FROM likes WHERE post_id = \(postID.pgBits) AND user_id = \(userID.pgBits) RETURNING 1",
            counter: "like_count", delta: -1, postID: postID)
    }

    public func share(userID: ID, postID: ID, now: Date) async throws -> EngagementResult {
        try await engage(
            """
            INSERT INTO shares (post_id, user_id, created_at) VALUES (\(postID.pgBits), \(userID.pgBits), \(now.millis))
            ON CONFLICT DO NOTHING RETURNING 1
            """, counter: "share_count", delta: 1, postID: postID)
    }

    /// Applies an engagement row change (a statement returning a row only when it changed
    /// something) and moves the post's counter only then.
    ///
    /// `FOR KEY SHARE` keeps the post from being deleted underneath without serializing likers
    /// against each other before the counter update, where they queue anyway.
    private func engage(_ change: PostgresQuery, counter: String, delta: Int, postID: ID) async throws -> EngagementResult {
        try await transaction { connection in
            let key = postID.pgBits
            guard !(try await rows("SELECT 1 FROM posts WHERE id = \(key) FOR KEY SHARE", on: connection)).isEmpty else {
                throw RoostError.notFound
            }
            let changed = !(try await rows(change, on: connection)).isEmpty
            let countRow: PostgresRow?
            if changed {
                countRow = try await rows(
                    "UPDATE posts SET \(unescaped: counter) = \(unescaped: counter) + \(delta) WHERE id = \(key) RETURNING \(unescaped: counter)",
                    on: connection
                ).first
            } else {
                countRow = try await rows("SELECT \(unescaped: counter) FROM posts WHERE id = \(key)", on: connection).first
            }
            return EngagementResult(changed: changed, count: try countRow.map { try $0.decode(Int.self) } ?? 0)
        }
    }

    public func recordView(postID: ID, viewerKey: String, now: Date, window: TimeInterval) async throws -> Bool {
        try await transaction { connection in
            let key = postID.pgBits
            // Lock order only: a view of a missing post is still recorded and reported, as on SQLite.
            try await rows("SELECT 1 FROM posts WHERE id = \(key) FOR KEY SHARE", on: connection)
            let counted = try await rows(
                """
                INSERT INTO post_views (post_id, viewer_key, viewed_at) VALUES (\(key), \(viewerKey), \(now.millis))
                ON CONFLICT (post_id, viewer_key) DO UPDATE SET viewed_at = EXCLUDED.viewed_at
                WHERE post_views.viewed_at <= \(now.addingTimeInterval(-window).millis)
                RETURNING 1
                """, on: connection)
            guard !counted.isEmpty else { return false }
            try await rows("UPDATE posts SET view_count = view_count + 1 WHERE id = \(key)", on: connection)
            return true
        }
    }

    public func viewerFlags(userID: ID, postIDs: [ID]) async throws -> [ID: ViewerPostFlags] {
        guard !postIDs.isEmpty else { return [:] }
        let user = userID.pgBits
        let posts = postIDs.map(\.pgBits)
        var flags: [ID: ViewerPostFlags] = [:]
        for row in try await rows("SELECT post_id FROM likes WHERE user_id = \(user) AND post_id = ANY(\(posts))") {
            flags[try row.decode(Int64.self).roostID, default: ViewerPostFlags()].liked = true
        }
        for row in try await rows("SELECT post_id FROM shares WHERE user_id = \(user) AND post_id = ANY(\(posts))") {
            flags[try row.decode(Int64.self).roostID, default: ViewerPostFlags()].shared = true
        }
        return flags
    }

    // MARK: Comments

    static let commentColumns = "id, post_id, parent_id, author_id, text, like_count, created_at"

    static func comment(_ row: PostgresRow) throws -> Comment {
        let (id, postID, parentID, authorID, text, likeCount, createdAt) = try row.decode((Int64, Int64, Int64?, Int64, String, Int, Int64).self)
        return Comment(
            id: id.roostID, postID: postID.roostID, parentID: parentID?.roostID, authorID: authorID.roostID, text: text,
            likeCount: likeCount, createdAt: Date(millis: createdAt))
    }

    public func createComment(_ comment: Comment, idempotency: IdempotencyKey?, now: Date) async throws -> Creation<Comment> {
        try await transaction { connection in
            if let idempotency, let earlier = try await claim(idempotency, resourceID: comment.id, now: now, on: connection) {
                return .replay(id: earlier.id, response: earlier.response)
            }
            let post = comment.postID.pgBits
            // The same lock `deleteComment` takes: a reply cannot slip under a parent whose subtree
            // is being deleted, and the parent check below sees every committed deletion.
            guard !(try await rows("SELECT 1 FROM posts WHERE id = \(post) FOR NO KEY UPDATE", on: connection)).isEmpty else {
                throw RoostError.notFound
            }
            if let parent = comment.parentID {
                let found = try await rows("SELECT 1 FROM comments WHERE id = \(parent.pgBits) AND post_id = \(post)", on: connection)
                guard !found.isEmpty else {
                    throw RoostError.validation(field: "parent_id", message: "parent_id is not a comment on this post")
                }
            }
            try await rows(
                """
                INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at)
                VALUES (\(comment.id.pgBits), \(post), \(comment.parentID?.pgBits), \(comment.authorID.pgBits), \(comment.text),
                  \(comment.createdAt.millis))
                """, on: connection)
            try await rows("UPDATE posts SET comment_count = comment_count + 1 WHERE id = \(post)", on: connection)
            var stored = comment
            stored.createdAt = comment.createdAt.roundedToMillis
            return .created(stored)
        }
    }

    public func comment(id: ID) async throws -> Comment? {
        try await rows("SELECT \(unescaped: Self.commentColumns) FROM comments WHERE id = \(id.pgBits)").first.map(Self.comment)
    }

    public func comments(postID: ID, after: ID?, limit: Int) async throws -> [Comment] {
        try await rows(
            """
            SELECT \(unescaped: Self.commentColumns) FROM comments
            WHERE post_id = \(postID.pgBits) AND id > \(after.map { Int64(clamping: $0) } ?? 0) ORDER BY id LIMIT \(Self.limitValue(limit))
            """
        ).map(Self.comment)
    }

    public func deleteComment(id: ID) async throws -> Bool {
        try await transaction { connection in
            let key = id.pgBits
            guard let row = try await rows("SELECT post_id FROM comments WHERE id = \(key)", on: connection).first else { return false }
            let postID = try row.decode(Int64.self)
            // Waits out replies being added on this post; the tree read below then includes them.
            try await rows("SELECT 1 FROM posts WHERE id = \(postID) FOR NO KEY UPDATE", on: connection)
            let deleted =
                try await rows(
                    """
                    WITH RECURSIVE doomed(id) AS (
                      SELECT \(key)::BIGINT UNION ALL SELECT c.id FROM comments c JOIN doomed d ON c.parent_id = d.id
                    ), gone AS (
                      DELETE FROM comments WHERE id IN (SELECT id FROM doomed) RETURNING 1
                    )
                    SELECT count(*) FROM gone
                    """, on: connection
                ).first.map { try $0.decode(Int64.self) } ?? 0
            // Zero means a concurrent call deleted it (or its post) after our first look.
            guard deleted > 0 else { return false }
            try await rows(
                "UPDATE posts SET comment_count = GREATEST(comment_count - \(deleted), 0) WHERE id = \(postID)", on: connection)
            return true
        }
    }
}

// MARK: - Feed engine

extension PostgresStore {
    // MARK: Fan-out queue (writes inside other transactions)

    /// Queues the push of a new post, unless nobody would receive it or the author is a celebrity
    /// (then the post is pull-only and merged at read time). The author's own timeline gets the
    /// post in the creating transaction, so the author sees it at once.
    private func enqueueFanOut(_ post: Post, followers: Int, pullOnly: Bool, now: Date, on connection: PostgresConnection) async throws {
        let author = post.authorID.pgBits
        try await rows(
            """
            INSERT INTO timeline_entries (user_id, post_id, author_id) VALUES (\(author), \(post.id.pgBits), \(author))
            ON CONFLICT DO NOTHING
            """, on: connection)
        if pullOnly {
            try await rows("UPDATE users SET has_pull_posts = TRUE WHERE id = \(author) AND NOT has_pull_posts", on: connection)
        } else if followers > 0 {
            try await enqueueJob(kind: .push, postID: post.id, authorID: post.authorID, now: now, on: connection)
        }
    }

    private func enqueueJob(kind: FanOutJob.Kind, postID: ID, authorID: ID, now: Date, on connection: PostgresConnection) async throws {
        // Due at once (available_at 0); created_at measures queue lag.
        try await rows(
            """
            INSERT INTO fanout_jobs (kind, post_id, author_id, available_at, created_at)
            VALUES (\(kind.rawValue), \(postID.pgBits), \(authorID.pgBits), 0, \(now.millis))
            """, on: connection)
    }

    // MARK: Timelines

    public func timelineState(userID: ID) async throws -> TimelineState {
        guard let row = try await rows("SELECT timeline_floor, home_active_until FROM users WHERE id = \(userID.pgBits)").first else {
            return TimelineState(floor: 0, activeUntil: .distantPast)
        }
        let (floor, activeUntil) = try row.decode((Int64, Int64).self)
        return TimelineState(floor: floor.roostID, activeUntil: Date(millis: activeUntil))
    }

    public func timelineEntries(userID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID] {
        try await rows(
            """
            SELECT post_id FROM timeline_entries
            WHERE user_id = \(userID.pgBits) AND post_id < \(Self.upper(before)) AND post_id >= \(floor.pgBits)
            ORDER BY post_id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    /// Probes each followed account, like `HomeSliceStatement` (see `homeSlice` for why).
    public func pullOnlyPostIDs(followerID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID] {
        try await rows(
            """
            SELECT x.id FROM follows f CROSS JOIN LATERAL (
              SELECT p.id FROM posts p WHERE p.author_id = f.followee_id AND p.pull_only AND p.id < \(Self.upper(before)) AND p.id >= \(floor.pgBits)
              ORDER BY p.id DESC LIMIT \(Self.limitValue(limit))) x
            WHERE f.follower_id = \(followerID.pgBits) ORDER BY x.id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    /// See `pullAuthors`.
    private func pullAuthorCount() async throws -> Int64 {
        let now = ContinuousClock.now
        if let cached = pullAuthors.withLock({ $0 }), now - cached.readAt < .seconds(30) { return cached.count }
        let count = try await rows("SELECT count(*) FROM users WHERE has_pull_posts").first.map { try $0.decode(Int64.self) } ?? 0
        pullAuthors.withLock { $0 = (count, now) }
        return count
    }

    /// One round trip of a prepared statement (planned once per connection, not per read: the
    /// plan of this query cost more than running it): the state row, and the newest materialized
    /// and pull-only candidates with the viewer's like/share flags. A `known` state only raises
    /// the floor passed in; the statement still reads the state row (one index probe).
    public func homeSlice(userID: ID, before: ID?, horizon: ID, limit: Int, known: TimelineState?) async throws -> HomeSlice {
        let statement = HomeSliceStatement(
            user: userID.pgBits, upper: Self.upper(before), horizon: max(known?.floor ?? 0, horizon).pgBits, limit: Int64(max(0, limit)),
            pullAuthors: try await pullAuthorCount())
        var state = TimelineState(floor: 0, activeUntil: .distantPast)
        var ids: [ID] = []
        var flags: [ID: ViewerPostFlags] = [:]
        for try await (kind, value, extra) in try await client.execute(statement, logger: logger) {
            if kind == 0 {
                state = TimelineState(floor: value.roostID, activeUntil: Date(millis: extra))
            } else {
                let id = value.roostID
                ids.append(id)
                flags[id] = ViewerPostFlags(liked: kind & 2 != 0, shared: kind & 4 != 0)
            }
        }
        if let known { state = known }
        let floor = max(state.floor, horizon)
        ids = HomeFeedMerge.mergeDescending([ids.filter { $0 >= floor }], limit: limit)
        return HomeSlice(state: state, floor: floor, ids: ids, flags: flags)
    }

    public func isPullOnly(postID: ID) async throws -> Bool {
        try await rows("SELECT pull_only FROM posts WHERE id = \(postID.pgBits)").first.map { try $0.decode(Bool.self) } ?? false
    }

    public func pullHomePostIDs(userID: ID, before: ID?, limit: Int) async throws -> [ID] {
        try await pullHome(userID: userID, before: before, limit: limit, pushableOnly: false, on: nil).map(\.post)
    }

    /// The pull query. Each followed author contributes at most `limit` of their newest posts
    /// through `posts_author` (the LATERAL), so the cost follows the follow list and the page
    /// size, not the number of posts.
    private func pullHome(userID: ID, before: ID?, limit: Int, pushableOnly: Bool, on connection: PostgresConnection?) async throws
        -> [(post: ID, author: ID)]
    {
        let user = userID.pgBits
        let upper = Self.upper(before)
        let limit = Self.limitValue(limit)
        // A fixed fragment, not data.
        let pushable = pushableOnly ? " AND NOT p.pull_only" : ""
        let query: PostgresQuery = """
            SELECT p.id, p.author_id FROM follows f CROSS JOIN LATERAL (
              SELECT p.id, p.author_id FROM posts p
              WHERE p.author_id = f.followee_id AND p.id < \(upper)\(unescaped: pushable) ORDER BY p.id DESC LIMIT \(limit)
            ) p
            WHERE f.follower_id = \(user)
            UNION ALL
            SELECT p.id, p.author_id FROM posts p WHERE p.author_id = \(user) AND p.id < \(upper)\(unescaped: pushable)
            ORDER BY 1 DESC LIMIT \(limit)
            """
        let found: [PostgresRow]
        if let connection {
            found = try await rows(query, on: connection)
        } else {
            found = try await rows(query)
        }
        return try found.map { row in
            let (post, author) = try row.decode((Int64, Int64).self)
            return (post.roostID, author.roostID)
        }
    }

    public func rebuildTimeline(userID: ID, activeUntil: Date, policy: FanOutPolicy) async throws {
        try await transaction { connection in
            let user = userID.pgBits
            // Active first, so push batches committing from now on include this user; the pull
            // below then covers every post committed before it.
            try await rows("UPDATE users SET home_active_until = \(activeUntil.millis) WHERE id = \(user)", on: connection)
            try await rows("DELETE FROM timeline_entries WHERE user_id = \(user)", on: connection)
            let pulled = try await pullHome(userID: userID, before: nil, limit: policy.timelineCap, pushableOnly: true, on: connection)
            if !pulled.isEmpty {
                try await rows(
                    """
                    INSERT INTO timeline_entries (user_id, post_id, author_id)
                    SELECT \(user), post, author FROM unnest(\(pulled.map(\.post.pgBits)), \(pulled.map(\.author.pgBits))) AS t(post, author)
                    ON CONFLICT DO NOTHING
                    """, on: connection)
            }
            // A full timeline is complete only down to its oldest entry; a shorter one holds everything.
            let floor = pulled.count >= policy.timelineCap ? pulled.last?.post.pgBits ?? 0 : 0
            try await rows("UPDATE users SET timeline_floor = \(floor) WHERE id = \(user)", on: connection)
        }
    }

    public func touchTimeline(userID: ID, activeUntil: Date) async throws {
        try await rows("UPDATE users SET home_active_until = \(activeUntil.millis) WHERE id = \(userID.pgBits)")
    }

    public func trimTimelines(userIDs: [ID], policy: FanOutPolicy) async throws -> Int {
        guard !userIDs.isEmpty else { return 0 }
        return try await transaction { connection in
            var removed = 0
            // Ascending ids and the user row before its entries: the lock order of `follow`.
            for user in Set(userIDs.map(\.pgBits)).sorted() {
                guard
                    let cut = try await rows(
                        """
                        SELECT post_id FROM timeline_entries WHERE user_id = \(user)
                        ORDER BY post_id DESC LIMIT 1 OFFSET \(Int64(max(policy.timelineCap - 1, 0)))
                        """, on: connection
                    ).first.map({ try $0.decode(Int64.self) })
                else { continue }
                try await rows("UPDATE users SET timeline_floor = GREATEST(timeline_floor, \(cut)) WHERE id = \(user)", on: connection)
                removed += try await count(
                    "WITH gone AS (DELETE FROM timeline_entries WHERE user_id = \(user) AND post_id < \(cut) RETURNING 1) SELECT count(*) FROM gone",
                    on: connection)
            }
            return removed
        }
    }

    public func expireTimelineEntries(olderThan horizon: ID) async throws -> Int {
        try await transaction { connection in
            let horizon = horizon.pgBits
            // Reads treat the retention horizon as a floor themselves, so no user row changes here.
            return try await count(
                "WITH gone AS (DELETE FROM timeline_entries WHERE post_id < \(horizon) RETURNING 1) SELECT count(*) FROM gone",
                on: connection)
        }
    }

    public func activeTimelineUsers(after: ID, limit: Int, now: Date) async throws -> [ID] {
        try await rows(
            """
            SELECT id FROM users WHERE id > \(Int64(clamping: after)) AND home_active_until > \(now.millis)
            ORDER BY id LIMIT \(Self.limitValue(limit))
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    /// Data-modifying CTEs report how many rows they touched through a trailing `count(*)`.
    func count(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Int {
        try await rows(query, on: connection).first.map { try $0.decode(Int.self) } ?? 0
    }

    // MARK: Fan-out queue

    private static let jobColumns = "id, kind, post_id, author_id, position, attempts, created_at"

    private static func job(_ row: PostgresRow) throws -> FanOutJob {
        let (id, kind, postID, authorID, position, attempts, createdAt) = try row.decode((Int64, String, Int64, Int64, Int64, Int, Int64).self)
        return FanOutJob(
            id: id.roostID, kind: FanOutJob.Kind(rawValue: kind) ?? .push, postID: postID.roostID, authorID: authorID.roostID,
            position: position.roostID, attempts: attempts, createdAt: Date(millis: createdAt))
    }

    public func claimFanOutJobs(now: Date, lease: TimeInterval, limit: Int) async throws -> [FanOutJob] {
        // SKIP LOCKED lets workers on several nodes claim different jobs at once instead of queueing
        // on the oldest; the outer conditions are re-checked on the locked rows, so a job another
        // worker leased meanwhile is never handed out twice.
        try await rows(
            """
            UPDATE fanout_jobs SET locked_until = \(now.addingTimeInterval(lease).millis), attempts = attempts + 1
            WHERE id IN (
              SELECT id FROM fanout_jobs WHERE available_at <= \(now.millis) AND locked_until <= \(now.millis)
              ORDER BY id LIMIT \(Int64(max(1, limit))) FOR UPDATE SKIP LOCKED
            ) AND available_at <= \(now.millis) AND locked_until <= \(now.millis)
            RETURNING \(unescaped: Self.jobColumns)
            """
        ).map(Self.job).sorted { $0.id < $1.id }
    }

    public func pushToReaders(_ jobs: [FanOutJob], readers: [ID], now: Date) async throws -> (entries: Int, users: [ID]) {
        let push = jobs.filter { $0.kind == .push }
        guard !push.isEmpty, !readers.isEmpty else { return (0, []) }
        return try await transaction { connection in
            // The locks of `runFanOutBatch`, in its order: a concurrent delete or unfollow waits
            // for these entries, so its cleanup sees them.
            let posts = push.map(\.postID.pgBits)
            let authors = Array(Set(push.map(\.authorID.pgBits))).sorted()
            try await rows("SELECT id FROM posts WHERE id = ANY(\(posts)) ORDER BY id FOR KEY SHARE", on: connection)
            try await rows("SELECT 1 FROM users WHERE id = ANY(\(authors)) ORDER BY id FOR KEY SHARE", on: connection)
            let inserted = try await rows(
                """
                  WITH added AS (
                    INSERT INTO timeline_entries (user_id, post_id, author_id)
                    SELECT f.follower_id, p.id, p.author_id
                    FROM posts p JOIN follows f ON f.followee_id = p.author_id JOIN users u ON u.id = f.follower_id
                    WHERE p.id = ANY(\(posts)) AND f.follower_id = ANY(\(readers.map(\.pgBits)))
                      AND u.home_active_until > \(now.millis) AND u.timeline_floor <= p.id
                    ORDER BY f.follower_id, p.id
                    ON CONFLICT DO NOTHING RETURNING user_id)
                  SELECT user_id, count(*) FROM added GROUP BY user_id
                """, on: connection)
            let (entries, users) = try Self.entriesPerTimeline(inserted)
            return (entries, users.map(\.roostID))
        }
    }

    /// Rows `(user_id, count)` of timeline entries written: their total and the timelines.
    private static func entriesPerTimeline(_ rows: [PostgresRow]) throws -> (entries: Int, users: [Int64]) {
        var entries = 0
        var users: [Int64] = []
        for row in rows {
            let (user, count) = try row.decode((Int64, Int64).self)
            users.append(user)
            entries += Int(count)
        }
        return (entries, users)
    }

    public func runFanOutBatch(_ jobs: [FanOutJob], followers: Int, now: Date) async throws -> FanOutProgress {
        guard let first = jobs.first else { return FanOutProgress(entries: 0, finished: true, position: 0) }
        return try await transaction { connection in
            let author = first.authorID.pgBits
            let position = first.position.pgBits
            var live = jobs
            var dropped: [ID] = []
            if first.kind == .push {
                // KEY SHARE on the posts makes a concurrent delete wait for this batch, so the purge
                // it queues runs after these entries exist. KEY SHARE on the author makes an
                // unfollow wait too (it locks both users FOR UPDATE), so its timeline cleanup sees
                // the entries written here; unlike SHARE it does not block the author's next post,
                // whose counter update takes only a NO KEY UPDATE lock.
                var existing = Set<Int64>()
                for row in try await rows(
                    "SELECT id FROM posts WHERE id = ANY(\(jobs.map(\.postID.pgBits))) FOR KEY SHARE", on: connection)
                {
                    existing.insert(try row.decode(Int64.self))
                }
                dropped = jobs.filter { !existing.contains($0.postID.pgBits) }.map(\.id)
                live = jobs.filter { existing.contains($0.postID.pgBits) }
                if !dropped.isEmpty {
                    try await rows("DELETE FROM fanout_jobs WHERE id = ANY(\(dropped.map(\.pgBits)))", on: connection)
                }
                guard !live.isEmpty else { return FanOutProgress(entries: 0, finished: true, position: first.position, dropped: dropped) }
                try await rows("SELECT 1 FROM users WHERE id = \(author) FOR KEY SHARE", on: connection)
            }
            let upper = try await rows(
                """
                SELECT follower_id FROM follows WHERE followee_id = \(author) AND follower_id > \(position)
                ORDER BY follower_id LIMIT 1 OFFSET \(Int64(max(followers - 1, 0)))
                """, on: connection
            ).first.map { try $0.decode(Int64.self) }
            let end = upper ?? Int64.max
            let posts = live.map(\.postID.pgBits)
            let users: [Int64]
            let entries: Int
            switch first.kind {
            case .push:
                // Follower-major order: each follower's timeline takes every post of the group at once.
                let inserted = try await rows(
                    """
                      WITH added AS (
                        INSERT INTO timeline_entries (user_id, post_id, author_id)
                        SELECT f.follower_id, p.id, \(author) FROM follows f JOIN users u ON u.id = f.follower_id
                          CROSS JOIN unnest(\(posts)::bigint[]) AS p(id)
                        WHERE f.followee_id = \(author) AND f.follower_id > \(position) AND f.follower_id <= \(end)
                          AND u.home_active_until > \(now.millis) AND u.timeline_floor <= p.id
                        ORDER BY f.follower_id, p.id
                        ON CONFLICT DO NOTHING RETURNING user_id)
                      SELECT user_id, count(*) FROM added GROUP BY user_id
                    """, on: connection)
                // One row per timeline, not per entry: fewer rows on the wire.
                (entries, users) = try Self.entriesPerTimeline(inserted)
            case .purge:
                users = try await rows(
                    """
                      DELETE FROM timeline_entries WHERE post_id = ANY(\(posts)) AND user_id IN (
                        SELECT follower_id FROM follows WHERE followee_id = \(author) AND follower_id > \(position) AND follower_id <= \(end))
                      RETURNING user_id
                    """, on: connection
                ).map { try $0.decode(Int64.self) }
                entries = users.count
            }
            let changed = Array(Set(users.map(\.roostID)))
            let ids = live.map(\.id.pgBits)
            if let upper {
                try await rows("UPDATE fanout_jobs SET position = \(upper) WHERE id = ANY(\(ids))", on: connection)
                return FanOutProgress(entries: entries, finished: false, position: upper.roostID, dropped: dropped, users: changed)
            }
            try await rows("DELETE FROM fanout_jobs WHERE id = ANY(\(ids))", on: connection)
            return FanOutProgress(entries: entries, finished: true, position: first.position, dropped: dropped, users: changed)
        }
    }

    public func releaseFanOutJob(id: ID, retryAt: Date) async throws {
        try await rows("UPDATE fanout_jobs SET available_at = \(retryAt.millis), locked_until = 0 WHERE id = \(id.pgBits)")
    }

    public func fanOutQueueStatus() async throws -> (depth: Int, oldest: Date?) {
        guard let row = try await rows("SELECT count(*), min(created_at) FROM fanout_jobs").first else { return (0, nil) }
        let (depth, oldest) = try row.decode((Int, Int64?).self)
        return (depth, oldest.map { Date(millis: $0) })
    }

    // MARK: Ranking

    public func saveSnapshot(_ snapshot: RankedSnapshot) async throws {
        try await rows(
            """
            INSERT INTO ranked_snapshots (id, scope, created_at, entries)
            VALUES (\(snapshot.id.pgBits), \(snapshot.scope), \(snapshot.createdAt.millis), \(SnapshotCoding.encode(snapshot)))
            ON CONFLICT (id) DO UPDATE SET scope = EXCLUDED.scope, created_at = EXCLUDED.created_at, entries = EXCLUDED.entries
            """)
    }

    public func snapshot(id: ID) async throws -> RankedSnapshot? {
        guard let row = try await rows("SELECT id, scope, created_at, entries FROM ranked_snapshots WHERE id = \(id.pgBits)").first
        else { return nil }
        let (snapshotID, scope, createdAt, entries) = try row.decode((Int64, String, Int64, Data).self)
        return SnapshotCoding.decode(id: snapshotID.roostID, scope: scope, createdAt: Date(millis: createdAt), bytes: Array(entries))
    }

    public func deleteSnapshots(createdBefore: Date) async throws {
        try await rows("DELETE FROM ranked_snapshots WHERE created_at < \(createdBefore.millis)")
    }

    public func trendingCandidates(since: ID, limit: Int) async throws -> [Post] {
        // Ties go to the newer post, as on SQLite, so both backends rank alike; the predicate stays
        // word for word the one of the partial index `posts_engaged`.
        try await rows(
            """
            SELECT \(unescaped: Self.postColumns) FROM posts
            WHERE visibility = 'public' AND moderation_status = 'approved' AND id >= \(since.pgBits)
              AND (like_count > 0 OR comment_count > 0 OR view_count > 0)
            ORDER BY like_count + 2 * comment_count + view_count / 10 DESC, id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map(Self.post)
    }

    public func interactionCounts(userID: ID, authorIDs: [ID], since: Date) async throws -> [ID: Int] {
        guard !authorIDs.isEmpty else { return [:] }
        let user = userID.pgBits
        let authors = authorIDs.map(\.pgBits)
        var counts: [ID: Int] = [:]
        let queries: [PostgresQuery] = [
            """
            SELECT p.author_id, count(*) FROM likes l JOIN posts p ON p.id = l.post_id
            WHERE l.user_id = \(user) AND l.created_at >= \(since.millis) AND p.author_id = ANY(\(authors)) GROUP BY p.author_id
            """,
            """
            SELECT p.author_id, count(*) FROM comments c JOIN posts p ON p.id = c.post_id
            WHERE c.author_id = \(user) AND c.created_at >= \(since.millis) AND p.author_id = ANY(\(authors)) GROUP BY p.author_id
            """,
        ]
        for query in queries {
            for row in try await rows(query) {
                let (author, count) = try row.decode((Int64, Int).self)
                counts[author.roostID, default: 0] += count
            }
        }
        return counts
    }

    // MARK: Bulk import

    /// Rows per multi-row INSERT: well below the protocol's 65,535 bound parameters at 13 columns.
    private static let importChunk = 1000

    public func importUsers(_ users: [NewUser]) async throws -> Int {
        guard !users.isEmpty else { return 0 }
        return try await transaction { connection in
            var inserted = 0
            for start in stride(from: 0, to: users.count, by: Self.importChunk) {
                var insert = BulkInsert(
                    "INSERT INTO users (id, username, username_lower, email, email_lower, display_name, password_hash, created_at)")
                for user in users[start..<min(start + Self.importChunk, users.count)] {
                    let values = [
                        insert.bind(user.id.pgBits), insert.bind(user.username), insert.bind(user.username.lowercased()),
                        insert.bind(user.email), insert.bind(user.email.lowercased()), insert.bind(user.displayName),
                        insert.bind(user.passwordHash), insert.bind(user.createdAt.millis),
                    ]
                    insert.addRow(values)
                }
                // Skips rows clashing on any unique constraint (id, username, email), like SQLite's OR IGNORE.
                inserted += try await rows(insert.finish(" ON CONFLICT DO NOTHING RETURNING 1"), on: connection).count
            }
            return inserted
        }
    }

    public func importFollows(_ follows: [(follower: ID, followee: ID, id: ID, createdAt: Date)]) async throws -> Int {
        let follows = follows.filter { $0.follower != $0.followee }
        guard !follows.isEmpty else { return 0 }
        // Four bound arrays per batch instead of four parameters per row: one statement, one
        // binary array per column, no per-row parse or bind work; the count comes back as one row.
        let followers = follows.map(\.follower.pgBits)
        let followees = follows.map(\.followee.pgBits)
        let ids = follows.map(\.id.pgBits)
        let created = follows.map(\.createdAt.millis)
        return try await transaction { connection in
            let row = try await rows(
                """
                WITH inserted AS (
                  INSERT INTO follows (follower_id, followee_id, id, created_at)
                  SELECT * FROM unnest(\(followers)::bigint[], \(followees)::bigint[], \(ids)::bigint[], \(created)::bigint[])
                  ON CONFLICT DO NOTHING RETURNING 1
                )
                SELECT count(*)::bigint FROM inserted
                """, on: connection
            ).first
            return Int(try row?.decode(Int64.self) ?? 0)
        }
    }

    public func importPosts(_ posts: [Post], policy: FanOutPolicy) async throws -> Int {
        guard !posts.isEmpty else { return 0 }
        // A repeated id keeps the first post, as the first insert wins.
        let byID = Dictionary(posts.map { ($0.id.pgBits, $0) }, uniquingKeysWith: { first, _ in first })
        return try await transaction { connection in
            var insertedIDs: [Int64] = []
            for start in stride(from: 0, to: posts.count, by: Self.importChunk) {
                var insert = BulkInsert(
                    """
                    INSERT INTO posts (id, author_id, text, title, description, tags, media, asset_type, visibility,
                      moderation_status, created_at, updated_at, pull_only)
                    """)
                for post in posts[start..<min(start + Self.importChunk, posts.count)] {
                    let values = [
                        insert.bind(post.id.pgBits), insert.bind(post.authorID.pgBits), insert.bind(post.text), insert.bind(post.title),
                        insert.bind(post.description), insert.bind(StoredJSON.encode(post.tags)), "'[]'", insert.bind(post.assetType),
                        insert.bind(post.visibility.rawValue), insert.bind(post.moderationStatus.rawValue), insert.bind(post.createdAt.millis),
                        insert.bind(post.updatedAt.millis), "FALSE",
                    ]
                    insert.addRow(values)
                }
                for row in try await rows(insert.finish(" ON CONFLICT DO NOTHING RETURNING id"), on: connection) {
                    insertedIDs.append(try row.decode(Int64.self))
                }
            }
            var tagPosts: [Int64] = []
            var tags: [String] = []
            for id in insertedIDs {
                for tag in Set(byID[id]?.tags ?? []) {
                    tagPosts.append(id)
                    tags.append(tag)
                }
            }
            if !insertedIDs.isEmpty {
                try await rows("DELETE FROM post_tags WHERE post_id = ANY(\(insertedIDs))", on: connection)
            }
            if !tags.isEmpty {
                try await rows(
                    """
                    INSERT INTO post_tags (tag, post_id) SELECT tag, post FROM unnest(\(tags), \(tagPosts)) AS t(tag, post)
                    ON CONFLICT DO NOTHING
                    """, on: connection)
            }
            return insertedIDs.count
        }
    }

    public func recountCounters(policy: FanOutPolicy) async throws {
        try await transaction { connection in
            try await rows(
                """
                UPDATE users SET
                  followers_count = (SELECT count(*) FROM follows WHERE followee_id = users.id),
                  following_count = (SELECT count(*) FROM follows WHERE follower_id = users.id),
                  posts_count = (SELECT count(*) FROM posts WHERE author_id = users.id)
                """, on: connection)
            // Imported posts of accounts that are celebrities now are served by pull, like new ones.
            try await rows(
                "UPDATE users SET has_pull_posts = TRUE WHERE followers_count >= \(policy.celebrityThreshold)", on: connection)
        }
    }
}

/// A multi-row `INSERT … VALUES` whose values are all bound: one round trip per chunk of an import
/// instead of one per row. Only placeholders (and fixed literals) enter the SQL text.
private struct BulkInsert {
    private var query: PostgresQuery
    private var rowCount = 0

    init(_ statement: String) {
        query = PostgresQuery(unsafeSQL: statement + " VALUES ")
    }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        query.binds.append(value)
        return "$\(query.binds.count)"
    }

    mutating func addRow(_ values: [String]) {
        query.sql += (rowCount == 0 ? "(" : ", (") + values.joined(separator: ", ") + ")"
        rowCount += 1
    }

    func finish(_ suffix: String) -> PostgresQuery {
        var done = query
        done.sql += suffix
        return done
    }
}

extension UInt64 {
    /// A Roost id as stored: its bit pattern in a signed BIGINT (ids never use the top bit, and an
    /// out-of-range id from a URL simply matches nothing instead of trapping).
    var pgBits: Int64 { Int64(bitPattern: self) }
}

extension Int64 {
    var roostID: ID { ID(bitPattern: self) }
}

/// `PostgresStore.homeSlice` as a prepared statement. Rows: `(0, floor, active_until)` for the
/// state, then `(1 | liked·2 | shared·4, post_id, 0)` per candidate, newest first.
///
/// Pull-only posts are found from whichever side is smaller: each account the viewer follows, or
/// each account with pull-only posts (`pullAuthors`, a handful of celebrities) checked against
/// the viewer's follows. The other branch's condition is false before it runs (a one-time filter),
/// so a read probes min(following, pull authors) accounts; on the default benchmark graph that
/// cut the statement's cost by about a quarter.
struct HomeSliceStatement: PostgresPreparedStatement {
    static let name = "roost_home_slice_v2"
    static let sql = """
        WITH st AS (SELECT timeline_floor, home_active_until, following_count FROM users WHERE id = $1),
        fl AS (SELECT GREATEST($3::bigint, COALESCE((SELECT timeline_floor FROM st), 0)) AS f),
        cand AS (
          (SELECT post_id AS id FROM timeline_entries
           WHERE user_id = $1 AND post_id < $2 AND post_id >= (SELECT f FROM fl) ORDER BY post_id DESC LIMIT $4)
          UNION
          (SELECT x.id FROM follows fo CROSS JOIN LATERAL (
             SELECT p.id FROM posts p WHERE p.author_id = fo.followee_id AND p.pull_only AND p.id < $2 AND p.id >= (SELECT f FROM fl)
             ORDER BY p.id DESC LIMIT $4) x
           WHERE fo.follower_id = $1 AND COALESCE((SELECT following_count FROM st), 0) < $5
           ORDER BY x.id DESC LIMIT $4)
          UNION
          (SELECT x.id FROM users a CROSS JOIN LATERAL (
             SELECT p.id FROM posts p WHERE p.author_id = a.id AND p.pull_only AND p.id < $2 AND p.id >= (SELECT f FROM fl)
             ORDER BY p.id DESC LIMIT $4) x
           WHERE a.has_pull_posts AND COALESCE((SELECT following_count FROM st), 0) >= $5
             AND EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = a.id)
           ORDER BY x.id DESC LIMIT $4)
        ),
        top AS (SELECT id FROM cand ORDER BY id DESC LIMIT $4)
        SELECT 0, timeline_floor, home_active_until FROM st
        UNION ALL
        (SELECT 1 + CASE WHEN EXISTS (SELECT 1 FROM likes l WHERE l.user_id = $1 AND l.post_id = top.id) THEN 2 ELSE 0 END
                  + CASE WHEN EXISTS (SELECT 1 FROM shares s WHERE s.user_id = $1 AND s.post_id = top.id) THEN 4 ELSE 0 END,
                id, 0::bigint
         FROM top ORDER BY id DESC)
        """
    typealias Row = (Int32, Int64, Int64)

    var user: Int64
    var upper: Int64
    var horizon: Int64
    var limit: Int64
    /// How many accounts have pull-only posts (may be stale: it only picks the cheaper branch).
    var pullAuthors: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 5)
        bindings.append(user)
        bindings.append(upper)
        bindings.append(horizon)
        bindings.append(limit)
        bindings.append(pullAuthors)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
}
