import Foundation
import Metrics
import RoostCore
import Synchronization

/// First pages of chronological home feeds, as the response bytes, per viewer, limit and filter.
///
/// The first page is most of a feed's reads (every app open and pull-to-refresh), and between two
/// reads of one viewer it usually has not changed. A cached page is served only while nothing
/// that could change it happened on this node since it was made:
/// - per viewer (`invalidate(viewers:)`): fan-out or purge wrote to their timeline, they posted,
///   followed or unfollowed, liked, unliked or shared (their flags), their organizations changed;
/// - for everyone (`invalidateAll()`): a post was edited, deleted or moderated, or a post that is
///   merged at read time (celebrity, organization) was created.
/// Both also reach the other nodes on the database (`PeerLink`), so their changes invalidate this
/// node's pages as soon as their notifications arrive. Counters and author profiles in a cached
/// page are at most two `ttl`s stale (see below), on top of the post cache's own TTL (default 1 s,
/// so 2 s; 0 turns the cache off).
///
/// A page computed while an invalidation happened is not stored: it carries the version it was
/// computed at, and `store` drops it when that version is no longer current.
///
/// No stampede and no wait when a page only aged out (stale-while-revalidate): the first reader
/// after expiry gets the aged bytes and recomputes the page in the background; until it is stored
/// (at most one more `ttl`) the viewer's other requests get the aged bytes too. An invalidated
/// page is never served: after the viewer's own change or a fan-out to them, the read waits for
/// the new page. Where this node sees every write (SQLite), an aged page that nothing
/// invalidated has the same posts, so the refresh renders its `Source` again with current
/// counters and profiles instead of reading the timeline, up to `reuseLimit` after it was computed;
/// and when `changes` shows that none of its posts and authors changed since that render, the
/// render would give the same bytes, so the page is renewed in place without one.
final class HomePageCache: Sendable {
    struct Key: Hashable, Sendable {
        var viewer: ID
        var limit: Int
        var filter: String
    }

    /// The state a page was computed against.
    struct Version: Equatable, Sendable {
        fileprivate var global: UInt64
        fileprivate var viewer: UInt64
    }

    /// What a page was rendered from: its posts in order, the viewer's flags for them and its next
    /// cursor. While nothing invalidated the page these are still its content; only counters and
    /// author profiles may have aged.
    struct Source: Sendable {
        var postIDs: [ID]
        var flags: [ID: ViewerPostFlags]
        var nextCursor: String?
        /// When the page was last computed from the store (re-rendering keeps it).
        var computedAt: ContinuousClock.Instant
        /// When its last render began: what it shows of its posts and authors is as of then.
        var renderedAt: ContinuousClock.Instant
        /// The authors of `postIDs`, whose profiles the page shows.
        var authorIDs: [ID]

        init(
            postIDs: [ID], flags: [ID: ViewerPostFlags], nextCursor: String?, computedAt: ContinuousClock.Instant,
            renderedAt: ContinuousClock.Instant? = nil, authorIDs: [ID] = []
        ) {
            self.postIDs = postIDs
            self.flags = flags
            self.nextCursor = nextCursor
            self.computedAt = computedAt
            self.renderedAt = renderedAt ?? computedAt
            self.authorIDs = authorIDs
        }
    }

    private struct Entry {
        var bytes: [UInt8]
        var expires: ContinuousClock.Instant
        var version: Version
        var source: Source?
        /// A reader took on recomputing the aged page; until `expires + ttl` it is served meanwhile.
        var refreshing = false
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var global: UInt64 = 0
        var viewers: [ID: UInt64] = [:]

        func version(_ viewer: ID) -> Version { Version(global: global, viewer: viewers[viewer] ?? 0) }

        mutating func reset() {
            global &+= 1
            entries.removeAll()
            viewers.removeAll()
            bytes = 0
        }
    }

    private let state = Mutex(State())
    private let ttl: Duration
    /// Whether aged pages are refreshed from their `Source`: only where this node sees every
    /// write (`FeedStore.isSingleProcess`) or hears every node's invalidations (`peers`
    /// listening); elsewhere sources are not kept.
    private let reusesSources: Bool
    /// Where this node's invalidations go to reach the other nodes' caches (PostgreSQL).
    private let peers: PeerLink?
    /// How long after a page was computed its source may still be re-rendered: the bound on how
    /// late a change this node's invalidations do not see shows (another process writing the
    /// SQLite file, a second in-process node in tests).
    let reuseLimit: Duration
    private let maxBytes: Int
    /// Readers whose versions are tracked before the map is reset (as `invalidateAll`).
    private let maxTrackedViewers = 200_000
    private let hits = Counter(label: RoostMetrics.cacheHits, dimensions: [("cache", "home_pages")])
    private let misses = Counter(label: RoostMetrics.cacheMisses, dimensions: [("cache", "home_pages")])
    private let refreshes = Counter(label: RoostMetrics.cacheRefreshes, dimensions: [("cache", "home_pages")])
    private let renewals = Counter(label: RoostMetrics.cacheRenewals, dimensions: [("cache", "home_pages")])
    /// When posts and users changed (`FeedEngine` records them); nil: aged pages are always
    /// rendered again.
    let changes: ChangeLog?
    /// How long after a change the caches a render reads from may still hold what it changed
    /// (a post or author loaded while it happened lives one post cache TTL): a page rendered
    /// sooner after a change than this is rendered again, not renewed.
    private let settle: Duration

    /// - Parameter settle: renew aged pages their changes allow (see `settle`); nil: never.
    init(ttl: Duration, maxBytes: Int, reusesSources: Bool, peers: PeerLink? = nil, settle: Duration? = nil) {
        self.ttl = ttl
        self.reusesSources = reusesSources
        self.peers = peers
        let reuseLimit = ttl * 5
        self.reuseLimit = reuseLimit
        self.settle = settle ?? .zero
        // A renewal asks about changes since a render at most `reuseLimit` old, less `settle`.
        self.changes = settle.map { ChangeLog(horizon: reuseLimit + $0 + .seconds(1)) }
        self.maxBytes = maxBytes
    }

    var isEnabled: Bool { ttl > .zero }

    /// The version a page about to be computed for `viewer` is stored with; from now on the
    /// viewer's invalidations are tracked (see `invalidateHere(viewers:)`).
    func version(viewer: ID) -> Version {
        guard isEnabled else { return Version(global: 0, viewer: 0) }
        return state.withLock { state in
            if state.viewers[viewer] == nil {
                if state.viewers.count >= maxTrackedViewers { state.reset() }
                state.viewers[viewer] = 0
            }
            return state.version(viewer)
        }
    }

    /// What the cache holds for one first page.
    enum Lookup {
        /// The page, current.
        case hit([UInt8])
        /// The page aged out and this caller is the one to recompute and `store` it (the viewer's
        /// other requests meanwhile get `hit` with these bytes): serve them and refresh, by
        /// rendering `source` again when there is one, else from the store.
        case stale([UInt8], Source?)
        /// Nothing servable: compute the page.
        case miss
    }

    func lookup(_ key: Key) -> Lookup {
        guard isEnabled else { return .miss }
        let now = ContinuousClock.now
        var renewed = false
        let found: Lookup = state.withLock { state in
            guard let entry = state.entries[key] else { return .miss }
            guard entry.version == state.version(key.viewer), now < entry.expires + ttl else {
                state.entries[key] = nil
                state.bytes -= entry.bytes.count
                return .miss
            }
            if entry.expires > now || entry.refreshing { return .hit(entry.bytes) }
            let source = entry.source.flatMap { now - $0.computedAt < reuseLimit ? $0 : nil }
            if let source, let changes,
                changes.unchanged(posts: source.postIDs, users: source.authorIDs, since: source.renderedAt - settle)
            {
                state.entries[key]?.expires = Self.expiry(now, ttl: ttl)
                renewed = true
                return .hit(entry.bytes)
            }
            state.entries[key]?.refreshing = true
            return .stale(entry.bytes, source)
        }
        if renewed { renewals.increment() }
        switch found {
        case .hit: hits.increment()
        case .stale: hits.increment(); refreshes.increment()
        case .miss: misses.increment()
        }
        return found
    }

    func store(_ key: Key, bytes: [UInt8], version: Version, source: Source? = nil) {
        guard isEnabled, bytes.count <= maxBytes / 16 else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            guard state.version(key.viewer) == version else { return }
            if state.bytes + bytes.count > maxBytes {
                state.entries = state.entries.filter { $0.value.expires > now }
                state.bytes = state.entries.values.reduce(0) { $0 + $1.bytes.count }
                if state.bytes + bytes.count > maxBytes {
                    state.entries.removeAll()
                    state.bytes = 0
                }
            }
            if let old = state.entries[key] { state.bytes -= old.bytes.count }
            state.entries[key] = Entry(
                bytes: bytes, expires: Self.expiry(now, ttl: ttl), version: version,
                source: reusesSources || peers?.isListening == true ? source : nil)
            state.bytes += bytes.count
        }
    }

    /// Expiry spread over the last quarter of the TTL: pages made together (a wave of app opens, a
    /// restart) would otherwise all be recomputed in the same instant.
    private static func expiry(_ now: ContinuousClock.Instant, ttl: Duration) -> ContinuousClock.Instant {
        now + ttl * Double.random(in: 0.75...1)
    }

    /// These viewers' pages changed, here and on the other nodes.
    func invalidate(viewers: [ID]) {
        guard !viewers.isEmpty else { return }
        invalidateHere(viewers: viewers)
        peers?.send(.homePages(viewers))
    }

    /// Any page may have changed, here and on the other nodes.
    func invalidateAll() {
        invalidateAllHere()
        peers?.send(.allHomePages)
    }

    /// Viewers whose invalidations are tracked now.
    var trackedViewers: Int { state.withLock { $0.viewers.count } }

    /// `invalidate(viewers:)` on this node only (what another node told it).
    ///
    /// Only viewers who asked for a `version` since the last reset can hold a page or be computing
    /// one, so the others are skipped: callers may pass more viewers than changed (SQLite's
    /// fan-out passes every follower it swept, active or not, rather than read each user row
    /// twice), and the map grows with readers, not with followers.
    func invalidateHere(viewers: [ID]) {
        guard isEnabled else { return }
        state.withLock { state in
            for viewer in viewers {
                if let current = state.viewers[viewer] { state.viewers[viewer] = current &+ 1 }
            }
        }
    }

    func invalidateAllHere() {
        guard isEnabled else { return }
        state.withLock { $0.reset() }
    }
}
