import Foundation
import RoostCore

/// A durable fan-out job: push (or purge) one post to (from) the timelines of its author's followers.
/// Jobs live in the database, so they survive restarts and are shared by every node.
public struct FanOutJob: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Insert the post into followers' timelines.
        case push
        /// Remove the (deleted or hidden) post from followers' timelines.
        case purge
    }

    public var id: ID
    public var kind: Kind
    public var postID: ID
    public var authorID: ID
    /// Followers with ids ≤ position are done; a retried job resumes after it.
    public var position: ID
    public var attempts: Int
    public var createdAt: Date

    public init(id: ID, kind: Kind, postID: ID, authorID: ID, position: ID, attempts: Int, createdAt: Date) {
        self.id = id
        self.kind = kind
        self.postID = postID
        self.authorID = authorID
        self.position = position
        self.attempts = attempts
        self.createdAt = createdAt
    }
}

/// What one fan-out batch did.
public struct FanOutProgress: Sendable, Equatable {
    /// Timeline rows written or removed.
    public var entries: Int
    /// The jobs have no followers left and were deleted.
    public var finished: Bool
    /// Where the jobs stand now (followers ≤ position are done).
    public var position: ID
    /// Jobs deleted because their post is gone (the rest of the group goes on).
    public var dropped: [ID]
    /// The users whose timelines this batch may have changed (for caches of their pages): at least
    /// every one it changed; a backend may include followers it skipped (inactive ones).
    public var users: [ID]

    public init(entries: Int, finished: Bool, position: ID, dropped: [ID] = [], users: [ID] = []) {
        self.entries = entries
        self.finished = finished
        self.position = position
        self.dropped = dropped
        self.users = users
    }
}

/// What `FeedStore.homeSlice` read: the timeline's state, the floor it used, the candidates.
public struct HomeSlice: Sendable, Equatable {
    public var state: TimelineState
    /// Below this id the slice has nothing: the read continues with the pull query.
    public var floor: ID
    public var ids: [ID]
    /// The viewer's flags for every id of `ids` (false ones included), when the store read them
    /// in the same call; nil when it did not.
    public var flags: [ID: ViewerPostFlags]?

    public init(state: TimelineState, floor: ID, ids: [ID], flags: [ID: ViewerPostFlags]? = nil) {
        self.state = state
        self.floor = floor
        self.ids = ids
        self.flags = flags
    }
}

extension FeedStore {
    public func awaitIdleWriter() async {}
    public func awaitQuietWriter(_ quiet: Duration, atMost: Duration) async {}
    public var prefersOneFanOutWorker: Bool { false }
    public var batchesPushAcrossAuthors: Bool { false }
    public var isSingleProcess: Bool { false }
}

/// A ranked list frozen when a scroll starts, so later pages of the same scroll never repeat a
/// post however scores move meanwhile. Stored in the database so any node can serve the next page.
public struct RankedSnapshot: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var postID: ID
        public var breakdown: ScoreBreakdown

        public init(postID: ID, breakdown: ScoreBreakdown) {
            self.postID = postID
            self.breakdown = breakdown
        }
    }

    public var id: ID
    /// The list and viewer it belongs to; a snapshot is only served to the same scope.
    public var scope: String
    public var createdAt: Date
    public var entries: [Entry]
    /// When the ranked candidates were only the newest part of a longer feed: the id after which
    /// the feed continues chronologically once the ranked entries are shown.
    public var continueAfter: ID?

    public init(id: ID, scope: String, createdAt: Date, entries: [Entry], continueAfter: ID? = nil) {
        self.id = id
        self.scope = scope
        self.createdAt = createdAt
        self.entries = entries
        self.continueAfter = continueAfter
    }
}

/// Storage of the feed engine: materialized home timelines, the fan-out job queue, ranked
/// snapshots and the pull queries that complete timelines at read time.
public protocol FeedStore: Sendable {
    // MARK: Timelines

    /// Floor and activity of a user's materialized timeline.
    func timelineState(userID: ID) async throws -> TimelineState
    /// Materialized post ids, newest first, `floor ≤ id < before`.
    func timelineEntries(userID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID]
    /// Pull-only (celebrity) posts of accounts `userID` follows, newest first, `floor ≤ id < before`.
    /// Read fresh on every home read, so a celebrity's post is in every follower's next read.
    func pullOnlyPostIDs(followerID: ID, before: ID?, floor: ID, limit: Int) async throws -> [ID]
    /// The storage part of a home page in one call: the timeline's state (unless `known`) and the
    /// newest materialized and pull-only candidates with `max(floor, horizon) ≤ id < before`,
    /// merged newest first. On PostgreSQL one round trip instead of three.
    func homeSlice(userID: ID, before: ID?, horizon: ID, limit: Int, known: TimelineState?) async throws -> HomeSlice
    /// Whether a post is served by read-time merge (its author was a celebrity when posting).
    func isPullOnly(postID: ID) async throws -> Bool
    /// The pull query: posts of everyone `userID` follows and of `userID`, newest first, `id < before`.
    func pullHomePostIDs(userID: ID, before: ID?, limit: Int) async throws -> [ID]
    /// Rebuilds a timeline from storage (the newest `policy.timelineCap` pushable posts), sets its
    /// floor and marks it maintained until `activeUntil`. Used when an inactive user returns.
    func rebuildTimeline(userID: ID, activeUntil: Date, policy: FanOutPolicy) async throws
    /// Extends the period during which fan-out maintains this timeline.
    func touchTimeline(userID: ID, activeUntil: Date) async throws
    /// Keeps the newest `policy.timelineCap` entries of each given timeline, raising its floor.
    func trimTimelines(userIDs: [ID], policy: FanOutPolicy) async throws -> Int
    /// Users whose timelines fan-out currently maintains, in id order after `after`.
    func activeTimelineUsers(after: ID, limit: Int, now: Date) async throws -> [ID]
    /// Removes entries older than `horizon` from every timeline (retention). Reads use the same
    /// horizon as a floor, so the removed range is served by the pull query.
    func expireTimelineEntries(olderThan horizon: ID) async throws -> Int

    // MARK: Fan-out queue

    /// Leases up to `limit` due jobs, oldest first, for `lease` seconds.
    func claimFanOutJobs(now: Date, lease: TimeInterval, limit: Int) async throws -> [FanOutJob]
    /// Handles the next `followers` followers after the position of `jobs` (one kind, author and
    /// position: see `FanOutBatching.groups`; push jobs of several authors where
    /// `batchesPushAcrossAuthors`) in one transaction, every post of the group per follower, and
    /// records the new position (or deletes the finished jobs). Push jobs whose post is gone are
    /// deleted. Writing is idempotent, so a batch repeated after a crash neither
    /// duplicates nor loses entries.
    func runFanOutBatch(_ jobs: [FanOutJob], followers: Int, now: Date) async throws -> FanOutProgress
    /// Writes the posts of push `jobs` into the timelines of those of `readers` who follow their
    /// author and whose timeline is maintained, ahead of the follower-ordered batches: someone
    /// reading now sees a large fan-out's post without waiting for the batches to reach them. The
    /// batches skip entries that exist, so nothing is written twice; posts deleted meanwhile are
    /// skipped. Returns the entries written and the timelines they went to.
    func pushToReaders(_ jobs: [FanOutJob], readers: [ID], now: Date) async throws -> (entries: Int, users: [ID])
    /// Returns when no request write waits for the writer (bounded), so a fan-out batch does
    /// not queue ahead of them; immediate where writers do not queue (PostgreSQL).
    func awaitIdleWriter() async
    /// Returns once request writes have paused for `quiet`, or after `atMost`: a fan-out worker
    /// woken by the first post of a burst then leases the whole burst at once. Immediate where
    /// writers do not queue (PostgreSQL).
    func awaitQuietWriter(_ quiet: Duration, atMost: Duration) async
    /// One fan-out worker is enough (and a second only queues batches): one writer (SQLite).
    var prefersOneFanOutWorker: Bool { get }
    /// `runFanOutBatch` takes push jobs of different authors together, in follower order, so a
    /// timeline page is written once for the posts of every author its owner follows (SQLite; on
    /// PostgreSQL, measured with many small authors posting at once, it cost more than it saved).
    var batchesPushAcrossAuthors: Bool { get }
    /// Every write to the data passes through this process (SQLite), so this node's cache
    /// invalidations see every change; false where other nodes write too (PostgreSQL).
    var isSingleProcess: Bool { get }
    /// Makes a failed job due again at `retryAt`.
    func releaseFanOutJob(id: ID, retryAt: Date) async throws
    /// Jobs waiting or running, and when the oldest was created.
    func fanOutQueueStatus() async throws -> (depth: Int, oldest: Date?)

    // MARK: Ranking

    func saveSnapshot(_ snapshot: RankedSnapshot) async throws
    func snapshot(id: ID) async throws -> RankedSnapshot?
    func deleteSnapshots(createdBefore: Date) async throws
    /// Public approved posts with `id ≥ since` that have any engagement, most engaged first.
    func trendingCandidates(since: ID, limit: Int) async throws -> [Post]
    /// The viewer's likes and comments per author since `since` (personalized ranking).
    func interactionCounts(userID: ID, authorIDs: [ID], since: Date) async throws -> [ID: Int]

    // MARK: Bulk import

    /// Inserts users, follows and posts as given (ids kept), skipping rows that exist; then
    /// recomputes counters. Imported timelines are left to be rebuilt on first read.
    func importUsers(_ users: [NewUser]) async throws -> Int
    func importFollows(_ follows: [(follower: ID, followee: ID, id: ID, createdAt: Date)]) async throws -> Int
    func importPosts(_ posts: [Post], policy: FanOutPolicy) async throws -> Int
    /// Before importing about `expectedRows` rows into `table`: if that pays (a large import into
    /// a table holding no more rows than that), drops the table's secondary indexes (for posts also
    /// the search index upkeep) so the imports insert into the primary key alone, until
    /// `finishBulkLoad`. Returns whether it did. Imports stay idempotent either way, and the next
    /// `migrate()` completes a bulk load a crash interrupted. Faster when rows arrive in primary-key
    /// order (follows by follower, then followee).
    func beginBulkLoad(_ table: BulkLoadTable, expectedRows: Int) async throws -> Bool
    /// Rebuilds what `beginBulkLoad` dropped (sorted index builds, one full-text rebuild); a no-op
    /// when nothing is missing. Call it even after a failed import.
    func finishBulkLoad(_ table: BulkLoadTable) async throws
    /// Recomputes followers/following/posts counters from the rows (after an import), and marks
    /// accounts that are celebrities under `policy` as having pull-served posts.
    func recountCounters(policy: FanOutPolicy) async throws
}
