import Foundation
import RoostCore

/// A request's `Idempotency-Key`, scoped to one user and one kind of request
/// (`"posts"`, `"comments:<post id>"`): the same key on another endpoint is another key.
public struct IdempotencyKey: Sendable, Hashable {
    public var userID: ID
    public var scope: String
    public var key: String
    /// Keys older than this are forgotten and may be reused.
    public static let lifetime: TimeInterval = 24 * 3600

    public init(userID: ID, scope: String, key: String) {
        self.userID = userID
        self.scope = scope
        self.key = key
    }
}

/// The outcome of an idempotent create.
public enum Creation<Item: Sendable>: Sendable {
    /// The item is new.
    case created(Item)
    /// A request with the same key created `id` before; `response` is its first answer when it was recorded.
    case replay(id: ID, response: StoredResponse?)
}

/// A count after an idempotent engagement change (`PUT /like`, `POST /share`).
public struct EngagementResult: Sendable, Equatable {
    /// Whether this call changed anything (false for a repeated like).
    public var changed: Bool
    public var count: Int

    public init(changed: Bool, count: Int) {
        self.changed = changed
        self.count = count
    }
}

/// What `follow` changed.
public struct FollowChange: Sendable, Equatable {
    /// False when the follow already existed: nothing was written.
    public var isNew: Bool
    /// The notification as stored, if it was (a re-follow's was stored the first time).
    public var notification: NotificationRecord?

    public init(isNew: Bool, notification: NotificationRecord? = nil) {
        self.isNew = isNew
        self.notification = notification
    }
}

/// A user in a list, with the keyset position it was listed at.
public struct ListedUser: Sendable {
    public var position: ID
    public var user: User

    public init(position: ID, user: User) {
        self.position = position
        self.user = user
    }
}

/// Everything Roost keeps, behind one protocol so SQLite and PostgreSQL are interchangeable and
/// pass one conformance suite (`RoostStoreConformance`).
///
/// Implementations keep counters exact under concurrency (each change and its counter update in
/// one transaction), make acknowledged writes durable before returning, and report a broken
/// unique constraint as `RoostError.conflict` rather than a driver error.
public protocol RoostStore: FeedStore, NotificationStore, SafetyStore {
    /// Creates tables or brings them up to the newest version. Safe to call on every start.
    func migrate() async throws
    /// Throws unless the database answers (`/ready`).
    func ping() async throws
    /// Closes connections.
    func shutdown() async throws
    /// Messages to and from the other nodes on this database; nil where this process is the only
    /// one (SQLite). See `PeerChannel`.
    var peerChannel: (any PeerChannel)? { get }
    /// Leases an id node number (0..<1024) to `holder` until `now + lease`, unique among the nodes
    /// on this database: the number `holder` already has (a renewal), else a free or expired one.
    /// nil where this process is the only node (SQLite) or no number is free.
    func leaseNodeNumber(holder: String, now: Date, lease: TimeInterval) async throws -> UInt16?
    /// Gives `holder`'s number back (a node shutting down).
    func releaseNodeNumber(holder: String) async throws

    // MARK: Users

    /// Throws `.conflict(field: "username" | "email")` when either is taken, case-insensitively.
    func createUser(_ user: NewUser) async throws -> User
    func user(id: ID) async throws -> User?
    /// Case-insensitive.
    func user(username: String) async throws -> User?
    func users(ids: [ID]) async throws -> [ID: User]
    /// Looks up by username or email, case-insensitively.
    func credentials(login: String) async throws -> Credentials?
    /// Returns nil for an unknown user.
    func updateProfile(userID: ID, patch: ProfilePatch) async throws -> User?
    func setPasswordHash(userID: ID, hash: String) async throws
    func setModerator(userID: ID, _ isModerator: Bool) async throws

    // MARK: Refresh tokens

    func insertRefreshToken(_ record: RefreshTokenRecord) async throws
    /// Atomically marks the presented token used and stores its replacement, or — when the token
    /// was used before — revokes the whole family.
    func rotateRefreshToken(hash: String, replacement: RefreshTokenRecord, now: Date) async throws -> RefreshRotation
    func revokeRefreshFamily(familyID: String, now: Date) async throws
    func isRefreshFamilyRevoked(familyID: String) async throws -> Bool

    // MARK: Follows

    /// Counters change only when the follow is new, and then in the same transaction the
    /// followee's newest `backfill` pushable posts enter the follower's timeline and
    /// `notification` is stored (unless its dedupe key already was): one commit for the whole
    /// follow, where a separate notification batch held the one SQLite writer that follows wait for.
    func follow(followerID: ID, followeeID: ID, id: ID, now: Date, backfill: Int, notification: NotificationRecord?) async throws
        -> FollowChange
    /// Returns true when a follow was removed; the followee's posts leave the follower's timeline.
    func unfollow(followerID: ID, followeeID: ID) async throws -> Bool
    func relationships(viewerID: ID, otherIDs: [ID]) async throws -> [ID: Relationship]
    /// Newest follows first; `before` is the position of the last item already shown.
    func followers(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser]
    func following(of userID: ID, before: ID?, limit: Int) async throws -> [ListedUser]

    // MARK: Posts

    /// Inserts the post and bumps the author's `posts_count`, or replays an earlier create with the same key.
    /// In the same transaction the post enters the author's own timeline and, unless the author is
    /// a celebrity under `policy` (then the post is pull-only), a fan-out job is queued.
    func createPost(_ post: Post, idempotency: IdempotencyKey?, now: Date, policy: FanOutPolicy) async throws -> Creation<Post>
    /// Records the first response to an idempotent create so its retries get the same body.
    func saveIdempotentResponse(_ key: IdempotencyKey, response: StoredResponse) async throws
    func post(id: ID) async throws -> Post?
    func posts(ids: [ID]) async throws -> [ID: Post]
    func updatePost(id: ID, patch: PostPatch, now: Date) async throws -> Post?
    /// Removes the post with its likes, shares, views and comments, and queues a purge of its
    /// timeline entries (reads skip them already). Returns false if it did not exist.
    func deletePost(id: ID) async throws -> Bool
    /// One author's posts, newest first, `id < before`, any visibility and moderation status;
    /// the caller applies `PostVisibilityRule`.
    func postsByAuthor(_ authorID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post]
    /// The texts and creation times of one author's newest posts (the duplicate check of
    /// moderation): no other column is read or decoded.
    func recentPostTexts(authorID: ID, limit: Int) async throws -> [(text: String, createdAt: Date)]
    /// Public, approved posts of everyone, newest first, `id < before`.
    func recentPublicPosts(before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post]

    // MARK: Engagement

    func like(userID: ID, postID: ID, now: Date) async throws -> EngagementResult
    func unlike(userID: ID, postID: ID) async throws -> EngagementResult
    func share(userID: ID, postID: ID, now: Date) async throws -> EngagementResult
    /// Counts a view unless the same viewer was counted for this post within `window`.
    func recordView(postID: ID, viewerKey: String, now: Date, window: TimeInterval) async throws -> Bool
    func viewerFlags(userID: ID, postIDs: [ID]) async throws -> [ID: ViewerPostFlags]

    // MARK: Comments

    /// Inserts the comment and bumps the post's `comment_count`, or replays an earlier create.
    func createComment(_ comment: Comment, idempotency: IdempotencyKey?, now: Date) async throws -> Creation<Comment>
    func comment(id: ID) async throws -> Comment?
    /// Oldest first, `id > after`.
    func comments(postID: ID, after: ID?, limit: Int) async throws -> [Comment]
    /// Deletes the comment and its replies; returns false if it did not exist.
    func deleteComment(id: ID) async throws -> Bool
}

extension RoostStore {
    /// `follow` with the default backfill of `FanOutPolicy` and no notification; true when the follow is new.
    public func follow(followerID: ID, followeeID: ID, id: ID, now: Date) async throws -> Bool {
        try await follow(
            followerID: followerID, followeeID: followeeID, id: id, now: now, backfill: FanOutPolicy().backfillCount, notification: nil
        ).isNew
    }

    /// `createPost` under the default `FanOutPolicy`.
    public func createPost(_ post: Post, idempotency: IdempotencyKey?, now: Date) async throws -> Creation<Post> {
        try await createPost(post, idempotency: idempotency, now: now, policy: FanOutPolicy())
    }
}
