import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// Chronological lists of posts: `/feeds/recent` and `/users/{id}/posts`. Both page by keyset on
/// the time-ordered post id, so new posts arriving while a client scrolls never shift a page.
struct FeedsController {
    let services: AppServices

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("feeds/recent", use: recent)
        group.get("users/:ref/posts", use: userPosts)
    }

    @Sendable func recent(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let filter = try request.feedFilter()
        let query = try ListQuery(request, codec: services.cursors, scope: "recent|\(filter.scopeKey)")
        // Every public approved post is visible to everyone, so no filtering pass is needed.
        let rows = try await services.store.recentPublicPosts(before: query.afterID, limit: query.limit + 1, filter: filter)
        let items = Array(rows.prefix(query.limit))
        let next = rows.count > query.limit ? query.cursor(after: items.last?.id, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: try await services.renderer.bodies(items, viewer: context.viewer), nextCursor: next))
    }

    @Sendable func userPosts(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let author = try await services.user(ref: context.parameters.get("ref"))
        let filter = try request.feedFilter()
        let viewer = context.viewer
        let query = try ListQuery(
            request, codec: services.cursors, scope: "user_posts:\(author.id)|v=\(viewer?.userID ?? 0)|\(filter.scopeKey)")
        let page = try await KeysetPaging.collect(
            limit: query.limit, after: query.afterID, id: \.id,
            fetch: { before, count in try await services.store.postsByAuthor(author.id, before: before, limit: count, filter: filter) },
            keep: { batch in try await services.renderer.visible(batch, to: viewer) })
        return try JSONBody.response(
            PageBody(
                items: try await services.renderer.bodies(page.items, viewer: viewer),
                nextCursor: query.cursor(after: page.next, codec: services.cursors)))
    }
}
