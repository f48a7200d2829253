import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// `/notifications`: the viewer's notifications, newest first, and marking them read.
struct NotificationsController {
    let services: AppServices

    struct ReadRequest: Decodable {
        var upToID: BodyID

        enum CodingKeys: String, CodingKey { case upToID = "up_to_id" }
    }

    struct UnreadCount: Encodable {
        var unreadCount: Int

        enum CodingKeys: String, CodingKey { case unreadCount = "unread_count" }
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("notifications", use: list)
        group.post("notifications/read", use: markRead)
        group.get("notifications/unread_count", use: unreadCount)
    }

    /// Newest first. A notification about a post the viewer may no longer see (or that is gone) is
    /// skipped, like the post itself would be.
    @Sendable func list(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "notifications")
        let page = try await KeysetPaging.collect(
            limit: query.limit, after: query.afterID, id: { (notification: NotificationRecord) in notification.id },
            fetch: { before, count in try await services.store.notifications(recipientID: viewer.userID, before: before, limit: count) },
            keep: { batch in try await visible(batch, to: viewer) })
        let next = page.next.flatMap { query.cursor(after: $0, codec: services.cursors) }
        return try JSONBody.response(PageBody(items: try await Self.bodies(page.items, services: services), nextCursor: next))
    }

    /// `{up_to_id}` → 204: every notification of the viewer with an id up to it is read. Ids are
    /// time-ordered, so the newest id a client has shown marks everything it has shown.
    @Sendable func markRead(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let body = try await JSONBody.decode(ReadRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        try await services.store.markNotificationsRead(recipientID: viewer.userID, upTo: body.upToID.value)
        return Response(status: .noContent)
    }

    @Sendable func unreadCount(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        return try JSONBody.response(UnreadCount(unreadCount: try await services.store.unreadNotificationCount(recipientID: viewer.userID)))
    }

    /// The notifications whose post (if any) the viewer may see.
    private func visible(_ notifications: [NotificationRecord], to viewer: Viewer) async throws -> [NotificationRecord] {
        let postIDs = Array(Set(notifications.compactMap(\.postID)))
        guard !postIDs.isEmpty else { return notifications }
        let posts = try await services.feeds.posts(postIDs)
        let visible = Set(try await services.renderer.visible(Array(posts.values), to: viewer).map(\.id))
        return notifications.filter { $0.postID.map(visible.contains) ?? true }
    }

    /// Response bodies with their actors, in one store round trip for the page.
    static func bodies(_ notifications: [NotificationRecord], services: AppServices) async throws -> [NotificationBody] {
        let actors = try await services.feeds.users(Array(Set(notifications.map(\.actorID))))
        return notifications.map { NotificationBody(notification: $0, actor: actors[$0.actorID].map { AuthorBody(user: $0) } ?? .missing($0.actorID)) }
    }
}

/// `{id, type, actor, post_id, comment_id, created_at, read}`; `post_id` and `comment_id` are
/// null when the notification is not about one.
struct NotificationBody: Encodable, Sendable {
    var notification: NotificationRecord
    var actor: AuthorBody

    enum CodingKeys: String, CodingKey {
        case id, type, actor, read
        case postID = "post_id", commentID = "comment_id", createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(notification.id), forKey: .id)
        try c.encode(notification.kind.rawValue, forKey: .type)
        try c.encode(actor, forKey: .actor)
        try c.encode(notification.postID.map { String($0) }, forKey: .postID)
        try c.encode(notification.commentID.map { String($0) }, forKey: .commentID)
        try c.encode(Timestamp.format(notification.createdAt), forKey: .createdAt)
        try c.encode(notification.read, forKey: .read)
    }
}
