import Foundation
import HTTPTypes
import Hummingbird
import RoostCore
import RoostStorage

/// Posts and engagement: create/read/edit/delete, likes, shares, views and comments.
struct PostsController {
    let services: AppServices

    struct CreatePostRequest: Decodable {
        var text: String
        var title: String?
        var description: String?
        var tags: [String]?
        var media: [Media]?
        var assetType: String?
        var visibility: PostVisibility?
        var organizationID: BodyID?
        var inspiredByPostID: BodyID?

        enum CodingKeys: String, CodingKey {
            case text, title, description, tags, media, visibility
            case assetType = "asset_type", organizationID = "organization_id", inspiredByPostID = "inspired_by_post_id"
        }
    }

    struct PatchPostRequest: Decodable {
        var text: Patch<String>
        var title: Patch<String>
        var description: Patch<String>
        var tags: Patch<[String]>

        enum CodingKeys: String, CodingKey { case text, title, description, tags }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            text = try c.decodePatch(String.self, forKey: .text)
            title = try c.decodePatch(String.self, forKey: .title)
            description = try c.decodePatch(String.self, forKey: .description)
            tags = try c.decodePatch([String].self, forKey: .tags)
        }
    }

    struct CreateCommentRequest: Decodable {
        var text: String
        var parentID: BodyID?

        enum CodingKeys: String, CodingKey {
            case text
            case parentID = "parent_id"
        }
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.post("posts", use: create)
        group.get("posts/:id", use: show)
        group.patch("posts/:id", use: update)
        group.delete("posts/:id", use: delete)
        group.put("posts/:id/like", use: like)
        group.delete("posts/:id/like", use: unlike)
        group.post("posts/:id/share", use: share)
        group.post("posts/:id/view", use: view)
        group.post("posts/:id/comments", use: createComment)
        group.get("posts/:id/comments", use: comments)
        group.delete("comments/:id", use: deleteComment)
    }

    // MARK: Posts

    @Sendable func create(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let key = try idempotencyKey(request, viewer: viewer, scope: "posts")
        let body = try await JSONBody.decode(CreatePostRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let visibility = body.visibility ?? .public
        if visibility == .organization, body.organizationID == nil {
            throw RoostError.validation(field: "organization_id", message: "organization posts need organization_id")
        }
        // Any post may be attached to an organization (it then shows in the organization's feed);
        // only its members may do so. An unknown organization is refused the same way.
        if let organizationID = body.organizationID?.value {
            let memberOf = try await services.store.organizationIDs(memberID: viewer.userID)
            guard OrganizationRules.isMember(of: organizationID, effective: memberOf) else {
                throw RoostError.forbidden("you are not a member of that organization")
            }
        }
        if let inspired = body.inspiredByPostID?.value {
            guard (try? await services.renderer.visiblePost(inspired, to: viewer)) != nil else {
                throw RoostError.validation(field: "inspired_by_post_id", message: "inspired_by_post_id is not a post you can see")
            }
        }
        let now = services.clock.now()
        var post = Post(
            id: services.ids.next(now: now), authorID: viewer.userID,
            text: try Validation.text(body.text, field: "text", range: Validation.textRange),
            title: try Validation.optionalText(body.title, field: "title", max: Validation.titleMax),
            description: try Validation.optionalText(body.description, field: "description", max: Validation.descriptionMax),
            tags: try Validation.tags(body.tags), media: try Validation.media(body.media),
            assetType: try Validation.assetType(body.assetType), visibility: visibility,
            organizationID: body.organizationID?.value,
            inspiredByPostID: body.inspiredByPostID?.value, moderationStatus: .approved, createdAt: now, updatedAt: now)
        let verdict = try await services.moderation.verdict(forNew: post)
        post.moderationStatus = verdict.status
        switch try await services.store.createPost(post, idempotency: key, now: now, policy: services.configuration.fanOut) {
        case .created(let stored):
            try await services.moderation.recordAutomatic(stored, verdict: verdict)
            services.feeds.fanOutWakeUp.notifyAll()
            // Posts merged into feeds at read time reach cached pages of others only this way.
            if stored.organizationID != nil {
                services.feeds.homePages.invalidateAll()
            } else if try await services.store.isPullOnly(postID: stored.id) {
                services.feeds.homePages.invalidateAll()
            }
            // A held or removed post enters no stream; approval announces it (`ModerationService`).
            if stored.moderationStatus == .approved { services.events.publish(.postCreated(stored)) }
            services.feeds.invalidate(user: viewer.userID)
            // Nobody has liked or shared a post that did not exist before this request.
            return try await respondOnce(key: key) { try await services.renderer.body(stored, viewer: viewer, knownFlags: ViewerPostFlags()) }
        case .replay(let id, let response):
            return try await replay(response) {
                guard let post = try await services.store.post(id: id) else { throw RoostError.notFound }
                return try await services.renderer.body(post, viewer: viewer)
            }
        }
    }

    @Sendable func show(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let post = try await services.renderer.visiblePost(try context.pathID(), to: context.viewer)
        return try JSONBody.response(try await services.renderer.body(post, viewer: context.viewer))
    }

    @Sendable func update(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        guard post.authorID == viewer.userID else { throw RoostError.forbidden("only the author can edit a post") }
        let body = try await JSONBody.decode(PatchPostRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        var patch = PostPatch()
        switch body.text {
        case .absent: break
        case .null: throw RoostError.validation(field: "text", message: "text must not be null")
        case .value(let text): patch.text = try Validation.text(text, field: "text", range: Validation.textRange)
        }
        if let title = body.title.update {
            patch.title = .some(try Validation.optionalText(title, field: "title", max: Validation.titleMax))
        }
        if let description = body.description.update {
            patch.description = .some(try Validation.optionalText(description, field: "description", max: Validation.descriptionMax))
        }
        if let tags = body.tags.update { patch.tags = try Validation.tags(tags ?? []) }
        guard let updated = try await services.store.updatePost(id: post.id, patch: patch, now: services.clock.now()) else {
            throw RoostError.notFound
        }
        services.feeds.invalidate(changedPost: post.id)
        // An edit goes through the moderation checks again: spam cannot be edited in afterwards.
        let moderated = try await services.moderation.afterEdit(updated)
        return try JSONBody.response(try await services.renderer.body(moderated, viewer: viewer))
    }

    @Sendable func delete(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        guard try await mayModerate(post.authorID, viewer) else { throw RoostError.forbidden("only the author or a moderator can delete a post") }
        _ = try await services.store.deletePost(id: post.id)
        if post.authorID != viewer.userID { try await services.moderation.recordDeletion(.post(post.id), moderatorID: viewer.userID) }
        services.feeds.invalidate(changedPost: post.id)
        services.events.publish(.postDeleted(postID: post.id, authorID: post.authorID))
        services.feeds.invalidate(user: post.authorID)
        services.feeds.fanOutWakeUp.notifyAll()
        return Response(status: .noContent)
    }

    /// Authors act on their own content; moderators (checked against the store, not the token) on anyone's.
    private func mayModerate(_ authorID: ID, _ viewer: Viewer) async throws -> Bool {
        if authorID == viewer.userID { return true }
        return try await services.store.user(id: viewer.userID)?.isModerator ?? false
    }

    // MARK: Engagement

    struct LikeState: Encodable {
        var liked: Bool
        var likeCount: Int
        enum CodingKeys: String, CodingKey {
            case liked
            case likeCount = "like_count"
        }
    }

    struct ShareState: Encodable {
        var shared: Bool
        var shareCount: Int
        enum CodingKeys: String, CodingKey {
            case shared
            case shareCount = "share_count"
        }
    }

    @Sendable func like(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        let result = try await services.store.like(userID: viewer.userID, postID: post.id, now: services.clock.now())
        services.feeds.invalidate(post: post.id)
        services.feeds.homePages.invalidate(viewers: [viewer.userID])  // their flags
        if result.changed {
            services.events.publish(.liked(userID: viewer.userID, post: post))
            publishCounts(post, likes: result.count)
        }
        return try JSONBody.response(LikeState(liked: true, likeCount: result.count))
    }

    @Sendable func unlike(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        let result = try await services.store.unlike(userID: viewer.userID, postID: post.id)
        services.feeds.invalidate(post: post.id)
        services.feeds.homePages.invalidate(viewers: [viewer.userID])  // their flags
        if result.changed { publishCounts(post, likes: result.count) }
        return try JSONBody.response(LikeState(liked: false, likeCount: result.count))
    }

    @Sendable func share(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        let result = try await services.store.share(userID: viewer.userID, postID: post.id, now: services.clock.now())
        services.feeds.invalidate(post: post.id)
        services.feeds.homePages.invalidate(viewers: [viewer.userID])  // their flags
        if result.changed {
            services.events.publish(.shared(userID: viewer.userID, post: post))
            publishCounts(post, shares: result.count)
        }
        return try JSONBody.response(ShareState(shared: true, shareCount: result.count))
    }

    @Sendable func view(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let post = try await services.renderer.visiblePost(try context.pathID(), to: context.viewer)
        let key = context.viewer.map { "u:\($0.userID)" } ?? "ip:\(context.remoteAddress ?? "unknown")"
        if try await services.store.recordView(
            postID: post.id, viewerKey: key, now: services.clock.now(), window: services.configuration.viewWindow)
        {
            services.feeds.invalidate(post: post.id)
        }
        return Response(status: .noContent)
    }

    /// Announces a post's new counts; the parts not given are as the post was last read.
    private func publishCounts(_ post: Post, likes: Int? = nil, comments: Int? = nil, shares: Int? = nil) {
        services.events.publish(
            .postCounts(
                postID: post.id, likeCount: likes ?? post.likeCount, commentCount: comments ?? post.commentCount,
                shareCount: shares ?? post.shareCount))
    }

    // MARK: Comments

    @Sendable func createComment(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let post = try await services.renderer.visiblePost(try context.pathID(), to: viewer)
        let key = try idempotencyKey(request, viewer: viewer, scope: "comments:\(post.id)")
        let body = try await JSONBody.decode(
            CreateCommentRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let now = services.clock.now()
        let comment = Comment(
            id: services.ids.next(now: now), postID: post.id, parentID: body.parentID?.value, authorID: viewer.userID,
            text: try Validation.text(body.text, field: "text", range: Validation.commentRange), createdAt: now)
        switch try await services.store.createComment(comment, idempotency: key, now: now) {
        case .created(let stored):
            services.feeds.invalidate(post: post.id)
            services.events.publish(.commented(stored, post: post))
            publishCounts(post, comments: post.commentCount + 1)
            return try await respondOnce(key: key) { try await services.renderer.commentBodies([stored])[0] }
        case .replay(let id, let response):
            return try await replay(response) {
                guard let comment = try await services.store.comment(id: id) else { throw RoostError.notFound }
                // One comment in, one body out.
                return try await services.renderer.commentBodies([comment])[0]
            }
        }
    }

    @Sendable func comments(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let post = try await services.renderer.visiblePost(try context.pathID(), to: context.viewer)
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "comments:\(post.id)")
        var rows = try await services.store.comments(postID: post.id, after: query.afterID, limit: query.limit + 1)
        let more = rows.count > query.limit
        rows = Array(rows.prefix(query.limit))
        let next = more ? query.cursor(after: rows.last?.id, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: try await services.renderer.commentBodies(rows), nextCursor: next))
    }

    @Sendable func deleteComment(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        guard let comment = try await services.store.comment(id: try context.pathID()) else { throw RoostError.notFound }
        _ = try await services.renderer.visiblePost(comment.postID, to: viewer)
        guard try await mayModerate(comment.authorID, viewer) else {
            throw RoostError.forbidden("only the author or a moderator can delete a comment")
        }
        _ = try await services.store.deleteComment(id: comment.id)
        if comment.authorID != viewer.userID {
            try await services.moderation.recordDeletion(.comment(comment.id), moderatorID: viewer.userID)
        }
        services.feeds.invalidate(post: comment.postID)
        return Response(status: .noContent)
    }

    // MARK: Idempotency

    /// Sorted keys: a retry that has to re-render gets the same bytes as the first answer.
    static var stableEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }

    /// A valid header field name, so the initializer cannot fail.
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!

    private func idempotencyKey(_ request: Request, viewer: Viewer, scope: String) throws -> IdempotencyKey? {
        guard let raw = request.headers[Self.idempotencyHeader] else { return nil }
        guard (1...255).contains(raw.utf8.count) else {
            throw RoostError.validation(field: "Idempotency-Key", message: "Idempotency-Key must be 1-255 characters")
        }
        return IdempotencyKey(userID: viewer.userID, scope: scope, key: raw)
    }

    /// Answers a fresh create with 201 and records the body for the key's retries.
    private func respondOnce(key: IdempotencyKey?, render: () async throws -> some Encodable) async throws -> Response {
        let bytes = Array(try Self.stableEncoder.encode(try await render()))
        if let key {
            try await services.store.saveIdempotentResponse(key, response: StoredResponse(status: 201, body: bytes))
        }
        return JSONBody.response(bytes: bytes, status: .created)
    }

    /// Answers a retry: the recorded first response when there is one, else the resource as it is now.
    private func replay(_ stored: StoredResponse?, render: () async throws -> some Encodable) async throws -> Response {
        if let stored { return JSONBody.response(bytes: stored.body, status: HTTPResponse.Status(code: stored.status)) }
        return JSONBody.response(bytes: Array(try Self.stableEncoder.encode(try await render())), status: .created)
    }
}
