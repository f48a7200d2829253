import Foundation
import RoostCore
import Synchronization
import Testing

@testable import RoostServer

/// Aged first pages that nothing changed are renewed without a render (`ChangeLog`,
/// `HomePageCache`), and what did change still shows.
@Suite(.timeLimit(.minutes(2)))
struct CacheRenewalTests {
    @Test("an aged page whose posts and authors did not change is renewed; a change, even during its render, makes it render")
    func unchangedAgedPageIsRenewed() async throws {
        // Expiry 0.75–1 s after storing, served (aged) until at least 1.75 s: looked up at 1.2 s,
        // with room for a loaded machine's late wake-ups.
        let ttl = Duration.seconds(1)
        let settle = Duration.milliseconds(500)
        let cache = HomePageCache(ttl: ttl, maxBytes: 1 << 20, reusesSources: true, settle: settle)
        let changes = try #require(cache.changes)
        try await Task.sleep(for: settle + .milliseconds(20))  // the log knows nothing from before it existed
        let key = HomePageCache.Key(viewer: 7, limit: 20, filter: "")
        func store(_ bytes: [UInt8]) {
            cache.store(
                key, bytes: bytes, version: cache.version(viewer: 7),
                source: .init(postIDs: [42, 43], flags: [:], nextCursor: nil, computedAt: .now, authorIDs: [9]))
        }
        func aged() async throws { try await Task.sleep(for: .milliseconds(1_200)) }

        store([1])
        try await aged()
        #expect(cache.lookup(key).isHit([1]), "nothing changed: renewed, no render")
        changes.changed(post: 99)
        changes.changed(user: 8)
        try await aged()
        #expect(cache.lookup(key).isHit([1]), "other posts' and users' changes leave it")

        changes.changed(user: 9)
        try await aged()
        #expect(cache.lookup(key).isStale([1]), "its author changed: the first reader renders it again")
        // A render that began right after a change may have read caches still holding what it
        // changed: it is rendered again at the next expiry, not renewed.
        changes.changed(user: 9)
        store([2])
        try await aged()
        #expect(cache.lookup(key).isStale([2]), "rendered within `settle` of the change")
        store([3])
        try await aged()
        #expect(cache.lookup(key).isHit([3]), "rendered after the change settled: renewed")

        changes.changed(post: 43)
        try await aged()
        #expect(cache.lookup(key).isStale([3]), "one of its posts changed")
    }

    @Test("pages are not renewed past the reuse limit, nor after every cache was dropped")
    func renewalBounds() async throws {
        let cache = HomePageCache(ttl: .seconds(1), maxBytes: 1 << 20, reusesSources: true, settle: .zero)
        let changes = try #require(cache.changes)
        let key = HomePageCache.Key(viewer: 7, limit: 20, filter: "")
        func store(computedAt: ContinuousClock.Instant) {
            cache.store(
                key, bytes: [1], version: cache.version(viewer: 7),
                source: .init(postIDs: [42], flags: [:], nextCursor: nil, computedAt: computedAt, authorIDs: [9]))
        }
        store(computedAt: .now - cache.reuseLimit)
        try await Task.sleep(for: .milliseconds(1_200))
        if case .stale(_, let source) = cache.lookup(key) {
            #expect(source == nil, "computed longer ago than the reuse limit: read from the store again")
        } else {
            Issue.record("expected a refresh")
        }
        try await Task.sleep(for: .milliseconds(10))
        store(computedAt: .now)
        changes.changedEverything()
        try await Task.sleep(for: .milliseconds(1_200))
        #expect(cache.lookup(key).isStale([1]), "anything may have changed")
    }

    @Test("the change log forgets what is older than its horizon and then answers changed")
    func changeLogHorizon() async throws {
        let log = ChangeLog(horizon: .milliseconds(300), pruneLimit: 4)
        try await Task.sleep(for: .milliseconds(10))
        let start = ContinuousClock.now
        #expect(log.unchanged(posts: [1], users: [2], since: start))
        for id: ID in 1...3 { log.changed(post: id) }
        #expect(!log.unchanged(posts: [1], users: [], since: start))
        #expect(log.unchanged(posts: [4], users: [2], since: start))
        try await Task.sleep(for: .milliseconds(400))
        let later = ContinuousClock.now
        for id: ID in 10...13 { log.changed(user: id) }  // the fourth entry prunes the first three
        #expect(!log.unchanged(posts: [4], users: [], since: start), "before the horizon nothing is known")
        #expect(log.unchanged(posts: [1, 2, 3], users: [], since: later))
        #expect(!log.unchanged(posts: [], users: [12], since: later))
    }

    @Test("a value invalidated while it loads is not cached: the load may have read it before the change")
    func invalidationDuringLoad() async throws {
        let cache = TTLCache<Int, Int>(name: "test", ttl: .seconds(60), capacity: 10)
        let loads = LoadCount()
        let load: @Sendable ([Int]) async throws -> [Int: Int] = { keys in
            let n = loads.next()
            try await Task.sleep(for: .milliseconds(200))
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, n) })
        }
        async let first = cache.values(for: [1], load: load)
        try await Task.sleep(for: .milliseconds(50))
        cache.invalidate(1)
        #expect(try await first[1] == 1, "the reader that started the load gets its result")
        #expect(try await cache.values(for: [1], load: load)[1] == 2, "the next reader loads again")
        #expect(try await cache.values(for: [1], load: load)[1] == 2, "and that load is cached")
    }
}

private final class LoadCount: Sendable {
    private let count = Mutex(0)

    func next() -> Int {
        count.withLock {
            $0 += 1
            return $0
        }
    }
}

/// Through HTTP: likes and renames are logged as changes, and a rename reaches a cached page.
extension FeedEngineTests {
    @Test("a like is logged as a change of its post, so pages holding it render again")
    func likeIsLogged() async throws {
        try await TestApp.run { api in
            let author = try await api.register("likedauthor")
            let reader = try await api.register("likedreader")
            let id = try await Self.followAndPost(api, reader: reader, author: author, text: "like me")
            let changes = try #require(api.services.feeds.homePages.changes)
            let postID = try #require(UInt64(id))
            let before = ContinuousClock.now
            #expect(changes.unchanged(posts: [postID], users: [], since: before))
            _ = try await api.put("/posts/\(id)/like", token: reader.access)
            #expect(!changes.unchanged(posts: [postID], users: [], since: before))
        }
    }

    @Test("an author's new display name shows in a reader's cached first page within its staleness bound")
    func renamedAuthorShowsInCachedPage() async throws {
        try await TestApp.run { api in
            let author = try await api.register("renamed", displayName: "Old Name")
            let reader = try await api.register("renamereader")
            _ = try await Self.followAndPost(api, reader: reader, author: author, text: "who wrote this")
            #expect(try await Self.firstHomeItem(api, reader)?["author"]?["display_name"]?.string == "Old Name")
            let changes = try #require(api.services.feeds.homePages.changes)
            let authorID = try #require(UInt64(author.id))
            let before = ContinuousClock.now
            #expect(changes.unchanged(posts: [], users: [authorID], since: before))
            #expect(try await api.patch("/me", token: author.access, json: ["display_name": "New Name"]).code == 200)
            // Logged: pages showing the author are rendered again, not renewed.
            #expect(!changes.unchanged(posts: [], users: [authorID], since: before))
            let configuration = api.services.configuration
            let within = configuration.homePageTTL * 2 + configuration.cacheTTL * 2 + .seconds(2)
            let seen = try await Self.poll(within: within, until: "New Name") {
                try await Self.firstHomeItem(api, reader)?["author"]?["display_name"]?.string ?? ""
            }
            #expect(seen == "New Name")
        }
    }
}
