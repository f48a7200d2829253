import Foundation
import Logging
import RoostCore
import RoostStorage
import Testing

@testable import RoostServer

/// The hybrid fan-out rules, through HTTP and the real fan-out worker, on either backend.
@Suite(.timeLimit(.minutes(3)))
struct FeedEngineTests {
    /// Runs queued fan-out jobs until the queue is empty, as the background worker would.
    static func drainFanOut(_ api: API) async throws {
        let worker = FanOutWorker(engine: api.services.feeds, logger: Logger(label: "test"))
        var rounds = 0
        while try await worker.runOneJob() {
            rounds += 1
            if rounds > 1_000 { throw TestFailure("fan-out did not drain") }
        }
    }

    static func homeIDs(_ api: API, _ account: Account, algorithm: String = "chronological", limit: Int = 50) async throws -> [String] {
        try await api.allPages("/feeds/home?algorithm=\(algorithm)", token: account.access, limit: limit).compactMap { $0["id"]?.string }
    }

    /// The first item of `account`'s home feed (limit 5, so from the first-page cache).
    static func firstHomeItem(_ api: API, _ account: Account) async throws -> JSON? {
        try await api.get("/feeds/home?limit=5", token: account.access).body["items"]?.array?.first
    }

    /// `reader` follows `author` (their timeline active), then `author` posts `text`, fanned out.
    static func followAndPost(_ api: API, reader: Account, author: Account, text: String) async throws -> String {
        _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
        _ = try await homeIDs(api, reader)
        let id = try #require(try await api.createPost(author, text: text)["id"]?.string)
        try await drainFanOut(api)
        return id
    }

    /// Reads every 100 ms until `read` gives `expected` or `within` has passed; the last value.
    static func poll<T: Equatable>(within: Duration, until expected: T, _ read: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + within
        var seen = try await read()
        while seen != expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            seen = try await read()
        }
        return seen
    }

    @Test("a follower sees a new post after fan-out; the author at once; a non-follower never")
    func followerSeesPost() async throws {
        try await TestApp.run { api in
            let author = try await api.register("writer")
            let reader = try await api.register("reader")
            let stranger = try await api.register("stranger")
            _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
            // Readers' first home read activates their timelines (fan-out maintains only active ones).
            #expect(try await Self.homeIDs(api, reader).isEmpty)
            #expect(try await Self.homeIDs(api, stranger).isEmpty)

            let post = try await api.createPost(author, text: "fresh")
            let id = try #require(post["id"]?.string)
            #expect(try await Self.homeIDs(api, author) == [id], "the author's own post is in their timeline at once")
            try await Self.drainFanOut(api)
            #expect(try await Self.homeIDs(api, reader) == [id])
            #expect(try await Self.homeIDs(api, stranger).isEmpty)
            let status = try await api.services.store.fanOutQueueStatus()
            #expect(status.depth == 0)

            // Feed pages are spliced from cached JSON: the viewer's flags and fresh counts still show.
            _ = try await api.put("/posts/\(id)/like", token: reader.access)
            let page = try await api.get("/feeds/home", token: reader.access)
            #expect(page.body["items"]?[0]?["viewer"] == ["liked": true, "shared": false])
            #expect(page.body["items"]?[0]?["like_count"]?.int == 1)
            #expect(page.body["items"]?[0]?["author"]?["username"]?.string == "writer")
            let seenByAuthor = try await api.get("/feeds/home", token: author.access)
            #expect(seenByAuthor.body["items"]?[0]?["viewer"] == ["liked": false, "shared": false])
            #expect(seenByAuthor.body["has_more"] == false && seenByAuthor.body["next_cursor"] == .null)
        }
    }

    @Test("a celebrity's post is not fanned out, yet every follower's next read has it")
    func celebrityMerge() async throws {
        try await TestApp.run(configure: { $0.fanOut.celebrityThreshold = 3 }) { api in
            let star = try await api.register("star")
            let fans = try await api.registerMany(4, prefix: "fan")
            for fan in fans {
                _ = try await api.put("/users/\(star.id)/follow", token: fan.access)
                _ = try await Self.homeIDs(api, fan)
            }
            let post = try await api.createPost(star, text: "to the many")
            let id = try #require(post["id"]?.string)
            #expect(try await api.services.store.fanOutQueueStatus().depth == 0, "no job for a celebrity post")
            for fan in fans {
                #expect(try await Self.homeIDs(api, fan) == [id], "pulled at read time, no fan-out needed")
            }
            // Ordinary and celebrity posts interleave in id order.
            let friend = try await api.register("friend")
            _ = try await api.put("/users/\(friend.id)/follow", token: fans[0].access)
            let ordinary = try #require(try await api.createPost(friend, text: "me too")["id"]?.string)
            let later = try #require(try await api.createPost(star, text: "again")["id"]?.string)
            try await Self.drainFanOut(api)
            #expect(try await Self.homeIDs(api, fans[0]) == [later, ordinary, id])
        }
    }

    /// PostgreSQL finds pull-only posts from the smaller side: the accounts a viewer follows, or the
    /// accounts with pull-only posts. Both sides must give the same feed.
    @Test("pulled posts reach viewers who follow fewer accounts than there are celebrities, and more")
    func celebrityMergeBothSides() async throws {
        try await TestApp.run(configure: { $0.fanOut.celebrityThreshold = 2 }) { api in
            let stars = try await api.registerMany(2, prefix: "star")
            let fans = try await api.registerMany(2, prefix: "fan")
            let friend = try await api.register("friend")
            let few = try await api.register("few")
            for star in stars {
                for fan in fans { _ = try await api.put("/users/\(star.id)/follow", token: fan.access) }
            }
            // `few` follows one account of the two with pull-only posts; fans[0] follows three.
            _ = try await api.put("/users/\(stars[0].id)/follow", token: few.access)
            _ = try await api.put("/users/\(friend.id)/follow", token: fans[0].access)
            let first = try #require(try await api.createPost(stars[0], text: "one")["id"]?.string)
            let second = try #require(try await api.createPost(stars[1], text: "two")["id"]?.string)
            let ordinary = try #require(try await api.createPost(friend, text: "three")["id"]?.string)
            try await Self.drainFanOut(api)
            #expect(try await Self.homeIDs(api, few) == [first])
            #expect(try await Self.homeIDs(api, fans[0]) == [ordinary, second, first])
            #expect(try await Self.homeIDs(api, fans[1]) == [second, first])
        }
    }

    @Test("an inactive user's rebuilt timeline equals the pull query")
    func inactiveRebuild() async throws {
        try await TestApp.run(configure: { $0.fanOut.timelineCap = 10 }) { api in
            let reader = try await api.register("returning")
            let authors = try await api.registerMany(3, prefix: "source")
            for author in authors { _ = try await api.put("/users/\(author.id)/follow", token: reader.access) }
            // The reader never read: fan-out skips them entirely.
            for round in 0..<5 {
                for author in authors { try await api.createPost(author, text: "post \(round)") }
            }
            try await Self.drainFanOut(api)
            let readerID = try #require(UInt64(reader.id))
            #expect(try await api.services.store.timelineEntries(userID: readerID, before: nil, floor: 0, limit: 100).isEmpty)
            let pulled = try await api.services.store.pullHomePostIDs(userID: readerID, before: nil, limit: 100).map(String.init)
            #expect(pulled.count == 15)
            // First read: rebuilt (capped at 10 entries) and the cursor continues past the cap by pull.
            #expect(try await Self.homeIDs(api, reader, limit: 4) == pulled)
            let entries = try await api.services.store.timelineEntries(userID: readerID, before: nil, floor: 0, limit: 100)
            #expect(entries.map(String.init) == Array(pulled.prefix(10)))
        }
    }

    @Test("timelines past the cap page seamlessly into storage")
    func capAndFloor() async throws {
        try await TestApp.run(configure: { $0.fanOut.timelineCap = 5 }) { api in
            let reader = try await api.register("scroller")
            let author = try await api.register("prolific")
            _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
            _ = try await Self.homeIDs(api, reader)
            var ids: [String] = []
            for index in 0..<12 { ids.append(try #require(try await api.createPost(author, text: "n\(index)")["id"]?.string)) }
            try await Self.drainFanOut(api)
            let removed = try await MaintenanceService(engine: api.services.feeds, logger: Logger(label: "test")).trimActiveTimelines()
            #expect(removed > 0)
            #expect(try await Self.homeIDs(api, reader, limit: 3) == ids.reversed())
        }
    }

    @Test("unfollow and delete purge; follow backfills")
    func purgeAndBackfill() async throws {
        try await TestApp.run { api in
            let reader = try await api.register("purger")
            let author = try await api.register("purged")
            var ids: [String] = []
            for index in 0..<3 { ids.append(try #require(try await api.createPost(author, text: "old \(index)")["id"]?.string)) }
            _ = try await Self.homeIDs(api, reader)
            _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
            #expect(try await Self.homeIDs(api, reader) == ids.reversed(), "follow backfills recent posts")

            let fresh = try #require(try await api.createPost(author, text: "fresh")["id"]?.string)
            try await Self.drainFanOut(api)
            #expect(try await Self.homeIDs(api, reader).first == fresh)
            #expect(try await api.delete("/posts/\(fresh)", token: author.access).code == 204)
            #expect(try await Self.homeIDs(api, reader) == ids.reversed(), "a deleted post leaves at once")
            try await Self.drainFanOut(api)
            let readerID = try #require(UInt64(reader.id))
            let entries = try await api.services.store.timelineEntries(userID: readerID, before: nil, floor: 0, limit: 100)
            #expect(!entries.map(String.init).contains(fresh), "the purge job removed the entry")

            _ = try await api.delete("/users/\(author.id)/follow", token: reader.access)
            #expect(try await Self.homeIDs(api, reader).isEmpty, "unfollow removes the author's posts")
        }
    }

    @Test("a cached first page never hides a change: the viewer's like, an edit, a deletion, a new post")
    func cachedFirstPageFollowsChanges() async throws {
        try await TestApp.run { api in
            let author = try await api.register("cachedauthor")
            let reader = try await api.register("cachedreader")
            let id = try await Self.followAndPost(api, reader: reader, author: author, text: "first text")
            func firstItem() async throws -> JSON? { try await Self.firstHomeItem(api, reader) }
            #expect(try await firstItem()?["id"]?.string == id)
            #expect(try await firstItem()?["viewer"]?["liked"]?.bool == false, "served twice: the second from the cache")
            _ = try await api.put("/posts/\(id)/like", token: reader.access)
            #expect(try await firstItem()?["viewer"]?["liked"]?.bool == true)
            #expect(try await api.patch("/posts/\(id)", token: author.access, json: ["text": "second text"]).code == 200)
            #expect(try await firstItem()?["text"]?.string == "second text")
            let next = try #require(try await api.createPost(author, text: "newer")["id"]?.string)
            try await Self.drainFanOut(api)
            #expect(try await firstItem()?["id"]?.string == next)
            #expect(try await api.delete("/posts/\(next)", token: author.access).code == 204)
            #expect(try await firstItem()?["id"]?.string == id)
        }
    }

    @Test("an aged-out first page is served while one reader refreshes it; an invalidated one is never served")
    func agedOutPageIsRefreshedOnce() async throws {
        let cache = HomePageCache(ttl: .seconds(2), maxBytes: 1 << 20, reusesSources: true)
        let key = HomePageCache.Key(viewer: 7, limit: 20, filter: "")
        cache.store(key, bytes: [1], version: cache.version(viewer: 7), source: .init(postIDs: [42], flags: [:], nextCursor: nil, computedAt: .now))
        #expect(cache.lookup(key).isHit([1]))
        // Past the TTL (at most 2 s), within the grace (at least 1.5 + 2 s after storing).
        try await Task.sleep(for: .milliseconds(2_100))
        let aged = cache.lookup(key)
        #expect(aged.isStale([1]), "the first reader after expiry refreshes")
        if case .stale(_, let source) = aged { #expect(source?.postIDs == [42], "from what the page was rendered from") }
        #expect(cache.lookup(key).isHit([1]), "meanwhile the viewer's other requests get the aged page")
        cache.store(key, bytes: [2], version: cache.version(viewer: 7))
        #expect(cache.lookup(key).isHit([2]))
        cache.invalidate(viewers: [7])
        #expect(cache.lookup(key).bytes == nil)
        #expect(cache.lookup(key).bytes == nil, "an invalidated page is never served, not even while it is recomputed")
        // A page computed before an invalidation is not stored.
        let before = cache.version(viewer: 7)
        cache.invalidate(viewers: [7])
        cache.store(key, bytes: [3], version: before)
        #expect(cache.lookup(key).bytes == nil)
    }

    @Test("invalidations track only viewers who read: a fan-out's inactive followers add nothing")
    func invalidationsTrackOnlyReaders() {
        let cache = HomePageCache(ttl: .seconds(60), maxBytes: 1 << 20, reusesSources: true)
        cache.invalidate(viewers: Array(1...10_000))
        #expect(cache.trackedViewers == 0)
        let key = HomePageCache.Key(viewer: 5, limit: 20, filter: "")
        let before = cache.version(viewer: 5)
        cache.invalidate(viewers: Array(1...10_000))
        cache.store(key, bytes: [1], version: before)
        #expect(cache.lookup(key).bytes == nil, "computed before the invalidation: not stored")
        cache.store(key, bytes: [2], version: cache.version(viewer: 5))
        #expect(cache.lookup(key).isHit([2]))
        cache.invalidate(viewers: [4, 6])
        #expect(cache.lookup(key).isHit([2]), "other viewers' invalidations leave the page")
        cache.invalidate(viewers: [5])
        #expect(cache.lookup(key).bytes == nil)
        #expect(cache.trackedViewers == 1)
    }

    @Test("another user's like shows in a reader's cached first page within its staleness bound")
    func agedPageRefreshShowsNewCounts() async throws {
        try await TestApp.run { api in
            let author = try await api.register("counted")
            let reader = try await api.register("countreader")
            let fan = try await api.register("countfan")
            let id = try await Self.followAndPost(api, reader: reader, author: author, text: "count me")
            #expect(try await Self.firstHomeItem(api, reader)?["like_count"]?.int == 0)
            // Someone else's like changes no cached page; the reader sees it once the page aged
            // (homePageTTL) and was refreshed, with the post cache's TTL on top.
            _ = try await api.put("/posts/\(id)/like", token: fan.access)
            let configuration = api.services.configuration
            let seen = try await Self.poll(within: configuration.homePageTTL * 2 + configuration.cacheTTL + .seconds(2), until: 1) {
                try await Self.firstHomeItem(api, reader)?["like_count"]?.int
            }
            #expect(seen == 1)
        }
    }

    @Test("queued fan-out survives a restart: a new node on the same database finishes it")
    func restartFinishesQueuedJobs() async throws {
        try await TestApp.run { api in
            let author = try await api.register("durable")
            let reader = try await api.register("patient")
            _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
            _ = try await Self.homeIDs(api, reader)
            let id = try #require(try await api.createPost(author, text: "queued")["id"]?.string)
            #expect(try await api.services.store.fanOutQueueStatus().depth == 1)
            // A fresh set of services (a restarted node) on the same store drains the queue.
            let restarted = await AppServices(configuration: api.services.configuration, store: api.services.store)
            let worker = FanOutWorker(engine: restarted.feeds, logger: Logger(label: "test"))
            #expect(try await worker.runOneJob())
            #expect(try await api.services.store.fanOutQueueStatus().depth == 0)
            // The entries are there at once; this node's cached first page (made before the other
            // node's fan-out, which it cannot see) is at most two `homePageTTL`s stale, or on a
            // single-process store (SQLite, whose one node here shares it with a second) at most
            // `reuseLimit` after it was computed, plus a TTL.
            let readerID = try #require(UInt64(reader.id))
            #expect(try await api.services.store.timelineEntries(userID: readerID, before: nil, floor: 0, limit: 10).map(String.init) == [id])
            let within = api.services.feeds.homePages.reuseLimit + api.services.configuration.homePageTTL * 2 + .seconds(2)
            #expect(try await Self.poll(within: within, until: [id]) { try await Self.homeIDs(api, reader) } == [id])
        }
    }

    @Test("no duplicates across pages of any algorithm while posts and likes arrive")
    func rankedPagingIsStable() async throws {
        try await TestApp.run { api in
            let reader = try await api.register("ranker")
            let authors = try await api.registerMany(4, prefix: "ranked")
            for author in authors { _ = try await api.put("/users/\(author.id)/follow", token: reader.access) }
            _ = try await Self.homeIDs(api, reader)
            var created: [String] = []
            for round in 0..<8 {
                for author in authors { created.append(try #require(try await api.createPost(author, text: "r\(round)")["id"]?.string)) }
            }
            try await Self.drainFanOut(api)
            for algorithm in ["chronological", "engagement", "personalized", "mixed"] {
                var seen: [String] = []
                var cursor: String?
                var page = 0
                repeat {
                    var uri = "/feeds/home?algorithm=\(algorithm)&limit=5"
                    if let cursor { uri += "&cursor=\(cursor)" }
                    let reply = try await api.get(uri, token: reader.access)
                    #expect(reply.code == 200, "\(reply)")
                    let items = reply.body["items"]?.array ?? []
                    seen += items.compactMap { $0["id"]?.string }
                    if algorithm != "chronological", let first = items.first {
                        #expect(first["score"]?.number != nil, "ranked posts carry a score")
                        #expect(first["reasons"]?["recency"]?.number != nil && first["reasons"]?["engagement"]?.number != nil)
                    }
                    // Meanwhile: likes move scores and new posts arrive.
                    let target = created[(page * 7) % created.count]
                    _ = try await api.put("/posts/\(target)/like", token: authors[page % authors.count].access)
                    try await api.createPost(authors[page % authors.count], text: "during \(algorithm) \(page)")
                    try await Self.drainFanOut(api)
                    cursor = reply.body["next_cursor"]?.string
                    page += 1
                } while cursor != nil && page < 40
                #expect(Set(seen).count == seen.count, "\(algorithm): a post appeared twice")
                #expect(Set(created).isSubset(of: Set(seen)), "\(algorithm): every post existing at the start was shown")
            }
        }
    }

    @Test("trending ranks engaged public posts with scores and reasons")
    func trending() async throws {
        try await TestApp.run { api in
            let author = try await api.register("trendy")
            let fans = try await api.registerMany(3, prefix: "liker")
            let quiet = try #require(try await api.createPost(author, text: "quiet")["id"]?.string)
            let hot = try #require(try await api.createPost(author, text: "hot")["id"]?.string)
            let warm = try #require(try await api.createPost(author, text: "warm")["id"]?.string)
            for fan in fans { _ = try await api.put("/posts/\(hot)/like", token: fan.access) }
            _ = try await api.put("/posts/\(warm)/like", token: fans[0].access)
            let hidden = try #require(
                try await api.createPost(author, text: "followers only", extra: ["visibility": "followers"])["id"]?.string)
            _ = try await api.put("/posts/\(hidden)/like", token: author.access)
            try await api.services.feeds.refreshTrending(window: "24h")
            let reply = try await api.get("/feeds/trending?window=24h")
            #expect(reply.code == 200, "\(reply)")
            let items = reply.body["items"]?.array ?? []
            #expect(items.compactMap { $0["id"]?.string } == [hot, warm], "quiet has no engagement; followers-only is not public")
            #expect((items.first?["score"]?.number ?? 0) > (items.last?["score"]?.number ?? 0))
            #expect(!items.contains { $0["id"]?.string == quiet })
            expectError(try await api.get("/feeds/trending?window=1y"), 400, "validation_failed", field: "window")
            expectError(try await api.get("/feeds/home?algorithm=random", token: author.access), 400, "validation_failed", field: "algorithm")
            expectError(try await api.get("/feeds/home"), 401, "unauthorized")
        }
    }
}

extension JSON {
    /// Any JSON number (scores may print as integers).
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}

extension HomePageCache.Lookup {
    func isHit(_ expected: [UInt8]) -> Bool {
        if case .hit(let bytes) = self { bytes == expected } else { false }
    }

    func isStale(_ expected: [UInt8]) -> Bool {
        if case .stale(let bytes, _) = self { bytes == expected } else { false }
    }

    /// The bytes this lookup may serve.
    var bytes: [UInt8]? {
        switch self {
        case .hit(let bytes), .stale(let bytes, _): bytes
        case .miss: nil
        }
    }
}
