import Foundation
import Hummingbird
import Logging
import RoostCore
import RoostStorage

/// Chronological lists of posts: `/feeds/recent` and `/users/{id}/posts`. Both page by keyset on
/// the time-ordered post id, so new posts arriving while a client scrolls never shift a page.
struct FeedsController {
    let services: AppServices

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("feeds/home", use: home)
        group.get("feeds/trending", use: trending)
        group.get("feeds/recent", use: recent)
        group.get("users/:ref/posts", use: userPosts)
    }

    var feeds: FeedEngine { services.feeds }

    // MARK: Home

    /// `GET /feeds/home?algorithm=…`. Chronological pages key on the post id. Ranked pages read a
    /// snapshot frozen at the first page (cursor: snapshot id and offset), then continue
    /// chronologically below the ranked candidates, so no post shows twice in one scroll.
    @Sendable func home(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let filter = try request.feedFilter()
        let rawAlgorithm = request.uri.queryParameters.get("algorithm") ?? FeedAlgorithm.chronological.rawValue
        guard let algorithm = FeedAlgorithm(rawValue: rawAlgorithm) else {
            throw RoostError.validation(field: "algorithm", message: "algorithm must be chronological, engagement, personalized or mixed")
        }
        let scope = "home:\(algorithm.rawValue)|v=\(viewer.userID)|\(filter.scopeKey)"
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: scope)
        feeds.recentReaders.record(viewer.userID)
        if algorithm == .chronological {
            let services = self.services
            /// The page's bytes from `source`'s posts, stored as the viewer's first page when `key` is set.
            @Sendable func render(_ posts: [Post], _ source: HomePageCache.Source, version: HomePageCache.Version, storingAs key: HomePageCache.Key?)
                async throws -> [UInt8]
            {
                let bytes = try await services.renderer.pageBytes(posts, viewer: viewer, knownFlags: source.flags, nextCursor: source.nextCursor)
                if let key { services.feeds.homePages.store(key, bytes: bytes, version: version, source: source) }
                return bytes
            }
            /// The page read from the store.
            @Sendable func compute(storingAs key: HomePageCache.Key?) async throws -> [UInt8] {
                let version = services.feeds.homePages.version(viewer: viewer.userID)
                let computedAt = ContinuousClock.now
                let (page, flags) = try await services.feeds.homePage(
                    viewer: viewer, after: query.afterID, limit: query.limit, filter: filter, renderer: services.renderer)
                let source = HomePageCache.Source(
                    postIDs: page.items.map(\.id), flags: flags, nextCursor: query.cursor(after: page.next, codec: services.cursors),
                    computedAt: computedAt, authorIDs: page.items.map(\.authorID))
                return try await render(page.items, source, version: version, storingAs: key)
            }
            /// An aged page whose content nothing changed, rendered again with today's counters
            /// and profiles: the timeline, the visibility and the flags need not be read again.
            @Sendable func rerender(_ source: HomePageCache.Source, storingAs key: HomePageCache.Key) async throws {
                let version = services.feeds.homePages.version(viewer: viewer.userID)
                var source = source
                source.renderedAt = ContinuousClock.now
                let found = try await services.feeds.posts(source.postIDs)
                let posts = source.postIDs.compactMap { found[$0] }
                source.authorIDs = posts.map(\.authorID)
                _ = try await render(posts, source, version: version, storingAs: key)
            }
            guard query.position == nil else { return JSONBody.response(bytes: try await compute(storingAs: nil), status: .ok) }
            // First pages come from memory while nothing changed them (`HomePageCache`).
            let key = HomePageCache.Key(viewer: viewer.userID, limit: query.limit, filter: filter.scopeKey)
            switch feeds.homePages.lookup(key) {
            case .hit(let bytes):
                return JSONBody.response(bytes: bytes, status: .ok)
            case .stale(let bytes, let source):
                let logger = context.logger
                Task {
                    do {
                        if let source { try await rerender(source, storingAs: key) } else { _ = try await compute(storingAs: key) }
                    } catch {
                        logger.warning("home page refresh failed", metadata: ["error": "\(error)"])
                    }
                }
                return JSONBody.response(bytes: bytes, status: .ok)
            case .miss:
                return JSONBody.response(bytes: try await compute(storingAs: key), status: .ok)
            }
        }
        let values = query.position?.values ?? []
        let (snapshotID, offset, chronologicalAfter) = (values.count == 3) ? (values[0], Int(values[1]), values[2]) : (0, 0, 0)
        if query.position != nil, values.count != 3 || offset < 0 { throw RoostError.invalidCursor }

        if query.position == nil || snapshotID != 0 {
            let snapshot: RankedSnapshot
            if query.position == nil {
                snapshot = try await feeds.rankHome(viewer: viewer, algorithm: algorithm, filter: filter, scope: scope, renderer: services.renderer)
            } else {
                // An expired snapshot cannot be resumed faithfully: the client starts a new scroll.
                guard let stored = try await services.store.snapshot(id: ID(snapshotID)), stored.scope == scope else {
                    throw RoostError.invalidCursor
                }
                snapshot = stored
            }
            let slice = Array(snapshot.entries.dropFirst(offset).prefix(query.limit))
            let found = try await feeds.posts(slice.map(\.postID))
            let items = try await services.renderer.visible(slice.compactMap { found[$0.postID] }, to: viewer)
            let nextOffset = offset + slice.count
            var next: CursorCodec.Position?
            if nextOffset < snapshot.entries.count {
                next = .init(values: [Int64(snapshot.id), Int64(nextOffset), 0])
            } else if let continuation = snapshot.continueAfter {
                next = .init(values: [0, 0, Int64(continuation)])
            }
            let scores = Dictionary(slice.map { ($0.postID, $0.breakdown) }, uniquingKeysWith: { a, _ in a })
            return try await services.renderer.page(
                items, viewer: viewer, scores: scores, nextCursor: next.map { services.cursors.encode($0, scope: query.scope) })
        }
        // Past the ranked candidates: older posts, newest first, still with their scores shown.
        guard chronologicalAfter > 0 else { throw RoostError.invalidCursor }
        let (page, flags) = try await feeds.homePage(
            viewer: viewer, after: ID(chronologicalAfter), limit: query.limit, filter: filter, renderer: services.renderer)
        let now = services.clock.now()
        let organizations = Set(try await feeds.organizationIDs(of: viewer.userID))
        let scores = Dictionary(
            page.items.map { post in
                let organization = FeedEngine.organizationRelevance(post, organizations)
                return (post.id, Ranking.breakdown(
                    post, algorithm: algorithm, now: now, organizationRelevance: organization, weights: services.configuration.ranking))
            },
            uniquingKeysWith: { a, _ in a })
        return try await services.renderer.page(
            page.items, viewer: viewer, scores: scores, knownFlags: flags,
            nextCursor: page.next.map { services.cursors.encode(.init(values: [0, 0, Int64($0)]), scope: query.scope) })
    }

    // MARK: Trending

    /// `GET /feeds/trending?window=24h|7d`: public posts in the order of the newest trending
    /// snapshot (scores materialized by maintenance); the cursor pins the snapshot.
    @Sendable func trending(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let window = request.uri.queryParameters.get("window") ?? "24h"
        guard FeedEngine.trendingWindows[window] != nil else {
            throw RoostError.validation(field: "window", message: "window must be 24h or 7d")
        }
        let filter = try request.feedFilter()
        let viewer = context.viewer
        let scope = "trending:\(window)|v=\(viewer?.userID ?? 0)|\(filter.scopeKey)"
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: scope)
        let snapshot: RankedSnapshot
        var offset = 0
        if let position = query.position {
            guard position.values.count == 2, position.values[1] >= 0,
                let stored = try await services.store.snapshot(id: ID(max(0, position.values[0]))), stored.scope == "trending:\(window)"
            else { throw RoostError.invalidCursor }
            snapshot = stored
            offset = min(Int(position.values[1]), stored.entries.count)
        } else {
            snapshot = try await feeds.currentTrending(window: window)
        }
        // Scan forward until a page of posts that still exist, match and are visible; bounded.
        var items: [Post] = []
        var index = offset
        let scanLimit = offset + query.limit * 10 + 100
        while items.count < query.limit, index < snapshot.entries.count, index < scanLimit {
            let batch = Array(snapshot.entries[index..<min(snapshot.entries.count, index + query.limit * 2)])
            let found = try await feeds.posts(batch.map(\.postID))
            for (position, entry) in batch.enumerated() {
                guard let post = found[entry.postID], post.visibility == .public, filter.matches(post),
                    try await !services.renderer.visible([post], to: viewer).isEmpty
                else { continue }
                items.append(post)
                if items.count == query.limit {
                    index += position + 1
                    break
                }
            }
            if items.count < query.limit { index += batch.count }
        }
        let scores = Dictionary(snapshot.entries[offset..<index].map { ($0.postID, $0.breakdown) }, uniquingKeysWith: { a, _ in a })
        let next = index < snapshot.entries.count ? services.cursors.encode(.init(values: [Int64(snapshot.id), Int64(index)]), scope: query.scope) : nil
        return try await services.renderer.page(items, viewer: viewer, scores: scores, nextCursor: next)
    }

    @Sendable func recent(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let filter = try request.feedFilter()
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "recent|\(filter.scopeKey)")
        // Every public approved post is visible to everyone, so no filtering pass is needed.
        let rows = try await services.store.recentPublicPosts(before: query.afterID, limit: query.limit + 1, filter: filter)
        let items = Array(rows.prefix(query.limit))
        let next = rows.count > query.limit ? query.cursor(after: items.last?.id, codec: services.cursors) : nil
        return try await services.renderer.page(items, viewer: context.viewer, nextCursor: next)
    }

    @Sendable func userPosts(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let author = try await services.user(ref: context.parameters.get("ref"))
        let filter = try request.feedFilter()
        let viewer = context.viewer
        let query = try ListQuery(
            request, context: context, codec: services.cursors, scope: "user_posts:\(author.id)|v=\(viewer?.userID ?? 0)|\(filter.scopeKey)")
        let page = try await KeysetPaging.collect(
            limit: query.limit, after: query.afterID, id: \.id,
            fetch: { before, count in try await services.store.postsByAuthor(author.id, before: before, limit: count, filter: filter) },
            keep: { batch in try await services.renderer.visible(batch, to: viewer) })
        return try await services.renderer.page(page.items, viewer: viewer, nextCursor: query.cursor(after: page.next, codec: services.cursors))
    }
}
