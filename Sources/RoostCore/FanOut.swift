import Foundation

/// How new posts reach home timelines (hybrid fan-out), in one value so operators tune it in
/// configuration and tests shrink it.
///
/// - Posts of ordinary accounts are pushed ("fanned out") into the materialized timelines of
///   their followers by durable jobs, off the request path.
/// - Posts of celebrities (at least `celebrityThreshold` followers when they post) are not pushed;
///   they are pulled and merged at read time, so a celebrity post costs its author no more than any other.
/// - Timelines of followers who have not read their home feed for `inactiveAfter` are not
///   maintained; they are rebuilt from storage (pull) on the next read.
/// - A timeline keeps at most `timelineCap` entries. Below its oldest entry (the *floor*) the same
///   cursor continues with a pull query, so a feed never ends early.
public struct FanOutPolicy: Sendable, Equatable {
    public var celebrityThreshold = 10_000
    public var timelineCap = 800
    public var inactiveAfter: TimeInterval = 14 * 24 * 3600
    /// Recent posts of a newly followed account copied into the follower's timeline.
    public var backfillCount = 20
    /// Followers in the first fan-out transaction of a job group; later ones adapt to `batchTime`.
    public var batchSize = 200
    /// The duration a fan-out transaction aims at: longer ones write each timeline page once for
    /// more entries, shorter ones show entries sooner. (On SQLite a request write does not wait for
    /// the whole batch: the batch ends at its next chunk, see `SQLiteStore.runFanOutBatch`.)
    public var batchTime: Duration = .milliseconds(25)
    /// Where one worker fans out for a single writer (SQLite), a worker woken by a new post waits
    /// until request writes have paused for `gatherQuiet` (at most `gatherWindow`) and leases
    /// again, so a burst of posts shares one sweep over its followers' timeline pages instead of
    /// starting a second sweep behind the first. Costs a lone post `gatherQuiet` of lag.
    public var gatherQuiet: Duration = .milliseconds(5)
    public var gatherWindow: Duration = .milliseconds(100)
    /// Jobs a worker leases at once; push jobs among them share their batches (those of one
    /// author, or of all authors where the store batches across authors).
    public var jobsPerClaim = 256
    /// A long fan-out (a few batches and still going), and posts queued behind it, go first to the
    /// followers among the node's recent home readers, so whoever is reading sees them at once,
    /// however long the follower-ordered batches take (`FanOutWorker`). This bounds each such pass:
    /// readers × posts probed (0 turns it off).
    public var readersFirstProbes = 2_048
    /// Timeline entries older than this are removed by maintenance (reads then pull).
    public var retention: TimeInterval = 90 * 24 * 3600

    public init() {}

    public func isCelebrity(followers: Int) -> Bool { followers >= celebrityThreshold }
}

/// How fan-out jobs share work. Posts of one author go to the same followers, so a batch that
/// pushes several of them writes each follower's timeline page once for all of them: the page
/// write (not the row) is what a timeline insert costs, so a burst of posts fans out several
/// times faster than the same posts one by one.
public enum FanOutBatching {
    /// Groups leased jobs that can share batches: same kind, author and position, oldest first.
    public static func groups<Job>(_ jobs: [Job], key: (Job) -> (kind: String, author: ID, position: ID)) -> [[Job]] {
        var order: [String] = []
        var groups: [String: [Job]] = [:]
        for job in jobs {
            let k = key(job)
            let name = "\(k.kind):\(k.author):\(k.position)"
            if groups[name] == nil { order.append(name) }
            groups[name, default: []].append(job)
        }
        return order.compactMap { groups[$0] }
    }

    /// Followers for the next batch: scaled so the batch takes about `target`, given the last
    /// batch's size and duration; never below 16 or above 20,000.
    public static func nextFollowers(last: Int, took: Duration, target: Duration) -> Int {
        let took = max(took, .microseconds(100))
        let scale = min(4, max(0.25, target / took))
        return min(20_000, max(16, Int(Double(last) * scale)))
    }
}

/// The parts of a home timeline a read merges (see `HomeFeedMerge`).
public struct TimelineState: Sendable, Equatable {
    /// Entries with post id ≥ floor are complete (everything pushable is there); below it, pull.
    public var floor: ID
    /// Until when fan-out keeps this timeline up to date; a read after this rebuilds it.
    public var activeUntil: Date

    public init(floor: ID, activeUntil: Date) {
        self.floor = floor
        self.activeUntil = activeUntil
    }
}

/// Merges the sources of a chronological home feed into one newest-first id sequence.
///
/// Above the floor: materialized entries plus pull-only (celebrity) posts of followed accounts.
/// Below the floor: one pull query over everyone followed. The two ranges do not overlap, so the
/// result is strictly ordered and free of duplicates by construction.
public enum HomeFeedMerge {
    /// Newest-first union of sorted-descending id lists, without duplicates, at most `limit`.
    public static func mergeDescending(_ lists: [[ID]], limit: Int) -> [ID] {
        var merged = Array(Set(lists.joined())).sorted(by: >)
        if merged.count > limit { merged.removeLast(merged.count - limit) }
        return merged
    }
}
