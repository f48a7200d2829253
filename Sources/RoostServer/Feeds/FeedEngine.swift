import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage
import Synchronization

/// Builds home, ranked and trending feeds from the materialized timelines, the pull queries and
/// the caches. HTTP controllers ask it for pages; it never touches HTTP.
public final class FeedEngine: Sendable {
    let store: any RoostStore
    let configuration: RoostConfiguration
    let clock: any RoostClock
    let ids: IDGenerator
    let posts: TTLCache<ID, Post>
    let users: TTLCache<ID, User>
    /// Each post's encoded JSON without the per-viewer parts (see `PostRenderer.page`).
    let postJSON: TTLCache<ID, [UInt8]>
    /// The organizations each reader belongs to, for the organization part of home feeds.
    let memberships: TTLCache<ID, [ID]>
    /// First pages of chronological home feeds as response bytes.
    let homePages: HomePageCache
    /// The newest trending snapshot id per window, refreshed by maintenance.
    let trendingSnapshots = Mutex<[String: ID]>([:])
    private let rebuilds = Counter(label: RoostMetrics.timelineRebuilds)
    /// Wakes this node's fan-out workers when a post is created here.
    let fanOutWakeUp = WakeUp()
    /// Home readers of this node, whose timelines a large fan-out writes first.
    let recentReaders = RecentReaders()
    /// The other nodes on this database, told of every invalidation here (PostgreSQL).
    let peers: PeerLink?

    init(store: any RoostStore, configuration: RoostConfiguration, clock: any RoostClock, ids: IDGenerator, peers: PeerLink? = nil) {
        self.store = store
        self.peers = peers
        self.configuration = configuration
        self.clock = clock
        self.ids = ids
        self.posts = TTLCache(name: "posts", ttl: configuration.cacheTTL, capacity: 200_000)
        self.users = TTLCache(name: "users", ttl: configuration.cacheTTL * 3, capacity: 100_000)
        self.postJSON = TTLCache(name: "post_json", ttl: configuration.cacheTTL, capacity: 200_000)
        self.memberships = TTLCache(name: "memberships", ttl: configuration.cacheTTL * 3, capacity: 100_000)
        // A post or author loaded while it changed lives a post cache TTL, its JSON as long again.
        self.homePages = HomePageCache(
            ttl: configuration.homePageTTL, maxBytes: configuration.homePageBytes, reusesSources: store.isSingleProcess,
            peers: peers, settle: configuration.cacheTTL * 2)
    }

    var policy: FanOutPolicy { configuration.fanOut }

    // MARK: Hydration through the caches

    func posts(_ ids: [ID]) async throws -> [ID: Post] {
        try await posts.values(for: ids) { [store] missing in try await store.posts(ids: missing) }
    }

    func users(_ ids: [ID]) async throws -> [ID: User] {
        try await users.values(for: ids) { [store] missing in try await store.users(ids: missing) }
    }

    /// Forget what every node cached about a post whose counters changed.
    func invalidate(post id: ID) {
        forgetHere(post: id)
        peers?.send(.post(id))
    }

    private func forgetHere(post id: ID) {
        posts.invalidate(id)
        postJSON.invalidate(id)
        homePages.changes?.changed(post: id)
    }

    private func forgetHere(user id: ID) {
        users.invalidate(id)
        homePages.changes?.changed(user: id)
    }

    /// A post's content, visibility or existence changed: it may sit in any cached home page.
    func invalidate(changedPost id: ID) {
        invalidate(post: id)
        homePages.invalidateAll()
    }

    /// Forget what every node cached about a user: their profile, and their first home page (they
    /// posted, followed, unfollowed, or their flags changed).
    func invalidate(user id: ID) {
        forgetHere(user: id)
        peers?.send(.user(id))
        homePages.invalidate(viewers: [id])
    }

    /// Applies another node's invalidations to this node's caches.
    func apply(_ envelope: PeerEnvelope) {
        if envelope.everything == true {
            forgetEverything()
            return
        }
        if envelope.allHomePages == true { homePages.invalidateAllHere() }
        if let viewers = envelope.homePages { homePages.invalidateHere(viewers: viewers) }
        for id in envelope.posts ?? [] { forgetHere(post: id) }
        for id in envelope.users ?? [] { forgetHere(user: id) }
        for id in envelope.memberships ?? [] { memberships.invalidate(id) }
    }

    /// Drops everything this node cached that another node's change could make stale: what a
    /// node does when it may have missed their messages.
    func forgetEverything() {
        homePages.invalidateAllHere()
        homePages.changes?.changedEverything()
        posts.removeAll()
        postJSON.removeAll()
        users.removeAll()
        memberships.removeAll()
    }

    // MARK: Home timeline (chronological candidates)

    /// Entries past retention are removed by maintenance: below this horizon, reads pull.
    var retentionHorizon: ID { IDGenerator.lowerBound(for: clock.now().addingTimeInterval(-policy.retention)) }

    /// Makes sure fan-out maintains the viewer's timeline: a returning (inactive) user gets it
    /// rebuilt by pull before the read, so the first page is never empty or partial.
    /// Returns the timeline's state as the read should use it.
    private func ensureTimeline(userID: ID, state: TimelineState) async throws -> TimelineState {
        let now = clock.now()
        let activeUntil = now.addingTimeInterval(policy.inactiveAfter)
        if state.activeUntil <= now {
            try await store.rebuildTimeline(userID: userID, activeUntil: activeUntil, policy: policy)
            rebuilds.increment()
            return try await store.timelineState(userID: userID)
        } else if state.activeUntil < activeUntil.addingTimeInterval(-24 * 3600) {
            // Extend at most once a day per reader, off the read path: the read must not wait for
            // the writer, and a lost extension only means one rebuild later.
            let store = self.store
            Task { try? await store.touchTimeline(userID: userID, activeUntil: activeUntil) }
        }
        return state
    }

    /// Newest-first post ids of the viewer's home feed strictly older than `before`, and the
    /// timeline state they were read with (read together with the first slice unless `known`).
    func homeCandidates(userID: ID, before: ID?, limit: Int, known: TimelineState?) async throws
        -> (ids: [ID], state: TimelineState, flags: [ID: ViewerPostFlags]?)
    {
        let slice = try await store.homeSlice(userID: userID, before: before, horizon: retentionHorizon, limit: limit, known: known)
        var ids = slice.ids
        if ids.count < limit, slice.floor > 0 {
            // Past the materialized front: the same cursor continues with the pull query.
            let pullBefore = min(before ?? ID.max, slice.floor)
            ids += try await store.pullHomePostIDs(userID: userID, before: pullBefore, limit: limit - ids.count)
        }
        return (try await mergingOrganizationPosts(ids, userID: userID, before: before, limit: limit), slice.state, slice.flags)
    }

    /// Candidates of one home read: the first call reads the timeline state with its slice (and,
    /// on a first page, rebuilds an inactive timeline first); later rounds reuse that state.
    /// - Parameter flags: collects the viewer's flags the store read along with the candidates.
    private func homeSource(userID: ID, firstPage: Bool, flags: HomeReadState? = nil)
        -> @Sendable (ID?, Int) async throws -> [ID]
    {
        let known = HomeReadState()
        return { [self] before, count in
            var state = known.state.withLock { $0 }
            var result = try await homeCandidates(userID: userID, before: before, limit: count, known: state)
            if state == nil {
                state = result.state
                if firstPage {
                    let ensured = try await ensureTimeline(userID: userID, state: result.state)
                    if ensured != result.state {
                        result = try await homeCandidates(userID: userID, before: before, limit: count, known: ensured)
                        state = ensured
                    }
                }
                known.state.withLock { $0 = state }
            }
            if let flags, let read = result.flags { flags.flags.withLock { $0.merge(read) { a, _ in a } } }
            return result.ids
        }
    }

    /// One chronological page of the home feed: candidates, hydrated through the cache, filtered by
    /// the visibility rule and the feed filter, with a keyset position to continue after.
    /// Also returns the viewer's flags the store read with the candidates (for `PostRenderer.page`).
    func homePage(viewer: Viewer, after: ID?, limit: Int, filter: FeedFilter, renderer: PostRenderer) async throws
        -> (page: KeysetPaging.Result<Post>, flags: [ID: ViewerPostFlags])
    {
        let flags = HomeReadState()
        let page = try await KeysetPaging.collect(
            limit: limit, after: after, candidateID: { $0 }, itemID: { $0.id },
            fetch: homeSource(userID: viewer.userID, firstPage: after == nil, flags: flags),
            keep: { batch in
                let found = try await posts(batch)
                let candidates = batch.compactMap { found[$0] }.filter(filter.matches)
                return try await renderer.visible(candidates, to: viewer)
            })
        return (page, flags.flags.withLock { $0 })
    }

    // MARK: Ranked feeds

    /// Scores the newest home candidates for `algorithm`, freezes the order in a snapshot and
    /// returns it. Later pages of the same scroll read the snapshot.
    func rankHome(viewer: Viewer, algorithm: FeedAlgorithm, filter: FeedFilter, scope: String, renderer: PostRenderer) async throws
        -> RankedSnapshot
    {
        let page = try await KeysetPaging.collect(
            limit: configuration.rankedCandidates, after: nil, maxRounds: 4, candidateID: { $0 }, itemID: { $0.id },
            fetch: homeSource(userID: viewer.userID, firstPage: true),
            keep: { batch in
                let found = try await posts(batch)
                return try await renderer.visible(batch.compactMap { found[$0] }.filter(filter.matches), to: viewer)
            })
        let now = clock.now()
        var affinity: [ID: Int] = [:]
        if algorithm == .personalized {
            let authors = Array(Set(page.items.map(\.authorID)))
            affinity = try await store.interactionCounts(userID: viewer.userID, authorIDs: authors, since: now.addingTimeInterval(-30 * 24 * 3600))
        }
        let organizations = Set(try await organizationIDs(of: viewer.userID))
        let entries = page.items.map { post in
            RankedSnapshot.Entry(
                postID: post.id,
                breakdown: Ranking.breakdown(
                    post, algorithm: algorithm, now: now, affinity: Ranking.affinity(interactions: affinity[post.authorID] ?? 0),
                    organizationRelevance: Self.organizationRelevance(post, organizations), weights: configuration.ranking))
        }.sorted { ($0.breakdown.score, $0.postID) > ($1.breakdown.score, $1.postID) }
        // The snapshot ends where the candidates ended; older posts follow chronologically.
        let snapshot = RankedSnapshot(id: ids.next(now: now), scope: scope, createdAt: now, entries: entries, continueAfter: page.next)
        try await store.saveSnapshot(snapshot)
        return snapshot
    }

    // MARK: Trending

    static let trendingWindows: [String: TimeInterval] = ["24h": 24 * 3600, "7d": 7 * 24 * 3600]

    /// Computes and stores the trending order of public posts in a window (maintenance runs this
    /// on a schedule; the first request after start-up runs it on demand).
    @discardableResult
    func refreshTrending(window: String) async throws -> RankedSnapshot {
        let now = clock.now()
        let span = Self.trendingWindows[window] ?? 24 * 3600
        let candidates = try await store.trendingCandidates(since: IDGenerator.lowerBound(for: now.addingTimeInterval(-span)), limit: 5_000)
        let entries = candidates.map { post in
            let score = Ranking.trending(post, now: now, weights: configuration.ranking)
            return RankedSnapshot.Entry(
                postID: post.id,
                breakdown: ScoreBreakdown(score: score, recency: 0, engagement: score))
        }.sorted { ($0.breakdown.score, $0.postID) > ($1.breakdown.score, $1.postID) }
        let snapshot = RankedSnapshot(id: ids.next(now: now), scope: "trending:\(window)", createdAt: now, entries: entries)
        try await store.saveSnapshot(snapshot)
        trendingSnapshots.withLock { $0[window] = snapshot.id }
        return snapshot
    }

    func currentTrending(window: String) async throws -> RankedSnapshot {
        if let id = trendingSnapshots.withLock({ $0[window] }), let snapshot = try await store.snapshot(id: id) {
            return snapshot
        }
        return try await refreshTrending(window: window)
    }
}

/// What the candidate rounds of one home read share: the timeline state the first round read,
/// and the viewer flags the store returned with the candidates.
final class HomeReadState: Sendable {
    let state = Mutex<TimelineState?>(nil)
    let flags = Mutex<[ID: ViewerPostFlags]>([:])
}

/// Lets idle workers sleep until a signal or a timeout. A generation counter closes the gap
/// between "found no job" and "went to sleep": a signal in between wakes the sleeper at once.
final class WakeUp: Sendable {
    private struct State {
        var generation = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var generation: Int { state.withLock { $0.generation } }

    func notifyAll() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns on the next signal after `seen`, or after `timeout`.
    func wait(since seen: Int, timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: Int? = state.withLock { state in
                guard state.generation == seen else { return nil }
                state.nextWaiter += 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id else { return continuation.resume() }
            Task {
                try? await Task.sleep(for: timeout)
                self.state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
            }
        }
    }
}
