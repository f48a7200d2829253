import Foundation
import Hummingbird
import Metrics
import RoostCore
import RoostStorage

/// `GET /search?q=…&type=posts|users`: full-text search through the store's index (FTS5 on
/// SQLite, `tsvector` on PostgreSQL), best match first.
///
/// Posts pass the visibility rule like every other list: a post the viewer may not see is not
/// found. Relevance depends on the whole index, so a later page could shift as posts arrive; the
/// first page therefore freezes the visible ranking of the best `searchCandidates` matches in a
/// snapshot (as ranked feeds do) and the cursor pages through it, never showing a result twice.
/// A result list that fits on one page needs no snapshot.
struct SearchController {
    let services: AppServices

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("search", use: search)
    }

    @Sendable func search(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        guard let kind = SearchKind(rawValue: parameters.get("type") ?? SearchKind.posts.rawValue) else {
            throw RoostError.validation(field: "type", message: "type must be posts or users")
        }
        let search = try SearchQuery(parsing: parameters.get("q"))
        let query = try ListQuery(
            request, context: context, codec: services.cursors, scope: "search:\(kind.rawValue)|q=\(search.normalized)")
        Counter(label: RoostMetrics.searchQueries, dimensions: [("type", kind.rawValue)]).increment()

        // The ranked ids of this page, the whole ranking when it fits one page, and where to go on.
        var ids: [ID]
        var next: CursorCodec.Position?
        if let position = query.position {
            guard position.values.count == 2, position.values[1] >= 0,
                let snapshot = try await services.store.snapshot(id: ID(max(0, position.values[0]))), snapshot.scope == query.scope
            else { throw RoostError.invalidCursor }
            let offset = min(Int(position.values[1]), snapshot.entries.count)
            ids = snapshot.entries[offset...].prefix(query.limit).map(\.postID)
            if offset + ids.count < snapshot.entries.count {
                next = .init(values: [position.values[0], Int64(offset + ids.count)])
            }
        } else {
            let ranked = try await ranking(kind, search, viewer: context.viewer)
            ids = Array(ranked.prefix(query.limit).map(\.id))
            if ranked.count > query.limit {
                let now = services.clock.now()
                let snapshot = RankedSnapshot(
                    id: services.ids.next(now: now), scope: query.scope, createdAt: now,
                    // Snapshot entries name posts, or users for a user search.
                    entries: ranked.map { .init(postID: $0.id, breakdown: ScoreBreakdown(score: $0.score)) })
                try await services.store.saveSnapshot(snapshot)
                next = .init(values: [Int64(snapshot.id), Int64(ids.count)])
            }
        }
        let cursor = next.map { services.cursors.encode($0, scope: query.scope) }

        switch kind {
        case .posts:
            // Checked again on every page: a post hidden or removed since the first page drops out.
            let found = try await services.feeds.posts(ids)
            let posts = try await services.renderer.visible(ids.compactMap { found[$0] }, to: context.viewer)
            return try await services.renderer.page(posts, viewer: context.viewer, nextCursor: cursor)
        case .users:
            let found = try await services.store.users(ids: ids)
            let users = ids.compactMap { found[$0] }
            var relationships: [ID: Relationship] = [:]
            if let viewer = context.viewer {
                relationships = try await services.store.relationships(viewerID: viewer.userID, otherIDs: users.map(\.id))
            }
            return try JSONBody.response(
                PageBody(items: users.map { UserBody(user: $0, relationship: relationships[$0.id]) }, nextCursor: cursor))
        }
    }

    /// The best matches the viewer may see, best first, at most `searchCandidates`.
    private func ranking(_ kind: SearchKind, _ search: SearchQuery, viewer: Viewer?) async throws -> [SearchHit] {
        let limit = services.configuration.searchCandidates
        switch kind {
        case .users:
            return try await services.store.searchUsers(search, offset: 0, limit: limit)
        case .posts:
            // Hidden posts are skipped, so read on (boundedly) until enough visible ones are found.
            var kept: [SearchHit] = []
            var offset = 0
            for _ in 0..<4 {
                let hits = try await services.store.searchPosts(search, offset: offset, limit: limit)
                offset += hits.count
                let found = try await services.feeds.posts(hits.map(\.id))
                let visible = Set(try await services.renderer.visible(hits.compactMap { found[$0.id] }, to: viewer).map(\.id))
                kept += hits.filter { visible.contains($0.id) }
                if hits.count < limit || kept.count >= limit { break }
            }
            return Array(kept.prefix(limit))
        }
    }
}
