import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// Reports from users, and the moderators' tools: the queue, decisions on posts, comments and
/// accounts, and the audit trail of every decision.
///
/// The moderator role is checked against the store on every request (not the token's claim), so a
/// role taken away from the CLI ends at once. The queue shows held and reported posts whatever
/// their audience: reviewing them is the one path that needs to see past the visibility rule.
struct ModerationController {
    let services: AppServices

    struct ReportRequest: Decodable {
        var postID: BodyID?
        var commentID: BodyID?
        var userID: BodyID?
        var reason: String

        enum CodingKeys: String, CodingKey {
            case reason
            case postID = "post_id", commentID = "comment_id", userID = "user_id"
        }
    }

    struct DecisionRequest: Decodable {
        var action: ModerationAction
        var reason: String?
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.post("reports", use: report)
        group.get("moderation/queue", use: queue)
        group.post("moderation/posts/:id", use: decidePost)
        group.post("moderation/comments/:id", use: decideComment)
        group.post("moderation/users/:ref", use: decideUser)
        group.get("moderation/decisions", use: decisions)
    }

    var store: any RoostStore { services.store }

    /// The viewer as a moderator, or 403.
    private func requireModerator(_ context: RoostRequestContext) async throws -> Viewer {
        let viewer = try context.requireViewer()
        guard try await store.user(id: viewer.userID)?.isModerator == true else {
            throw RoostError.forbidden("only moderators can do this")
        }
        return Viewer(userID: viewer.userID, isModerator: true)
    }

    private func decisionRequest(_ request: Request, _ context: RoostRequestContext, allowed: [ModerationAction]) async throws
        -> (ModerationAction, String?)
    {
        let body = try await JSONBody.decode(DecisionRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        guard allowed.contains(body.action) else {
            throw RoostError.validation(field: "action", message: "action must be \(allowed.map(\.rawValue).joined(separator: " or "))")
        }
        return (body.action, try Validation.optionalText(body.reason, field: "reason", max: Validation.reportReasonMax))
    }

    // MARK: Reports

    /// `POST /reports`: exactly one of `post_id`, `comment_id`, `user_id`, and a reason. A post or
    /// comment must be one the reporter can see (otherwise 404, as everywhere). Reporting the same
    /// target again while the first report is open returns that report.
    @Sendable func report(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let body = try await JSONBody.decode(ReportRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let given = [body.postID, body.commentID, body.userID].compactMap { $0 }
        guard given.count == 1 else {
            throw RoostError.validation(field: nil, message: "give exactly one of post_id, comment_id and user_id")
        }
        let reason = try Validation.text(body.reason, field: "reason", range: 1...Validation.reportReasonMax)
        let target: ModerationTarget
        if let postID = body.postID?.value {
            target = .post(try await services.renderer.visiblePost(postID, to: viewer).id)
        } else if let commentID = body.commentID?.value {
            guard let comment = try await store.comment(id: commentID) else { throw RoostError.notFound }
            _ = try await services.renderer.visiblePost(comment.postID, to: viewer)
            target = .comment(comment.id)
        } else {
            guard let userID = body.userID?.value, let user = try await store.user(id: userID) else { throw RoostError.notFound }
            target = .user(user.id)
        }
        let now = services.clock.now()
        let filing = try await store.fileReport(
            Report(id: services.ids.next(now: now), reporterID: viewer.userID, target: target, reason: reason, createdAt: now))
        try await services.moderation.reportFiled(filing)
        return try JSONBody.response(ReportBody(report: filing.report), status: .created)
    }

    // MARK: Queue

    /// `GET /moderation/queue`: held posts and reported targets, oldest first.
    @Sendable func queue(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let moderator = try await requireModerator(context)
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "moderation_queue")
        var entries = try await store.moderationQueue(after: query.afterID, limit: query.limit + 1)
        let more = entries.count > query.limit
        entries = Array(entries.prefix(query.limit))

        var postIDs: [ID] = []
        var commentIDs: [ID] = []
        var userIDs: [ID] = []
        for entry in entries {
            switch entry.target {
            case .post(let id): postIDs.append(id)
            case .comment(let id): commentIDs.append(id)
            case .user(let id): userIDs.append(id)
            }
        }
        let posts = try await store.posts(ids: postIDs)
        var comments: [ID: Comment] = [:]
        for id in commentIDs { comments[id] = try await store.comment(id: id) }
        let reports = try await store.openReports(targets: entries.map(\.target), perTarget: 5)
        let people = try await services.feeds.users(Array(Set(userIDs + reports.map(\.reporterID))))
        let postBodies = Dictionary(
            try await services.renderer.bodies(postIDs.compactMap { posts[$0] }, viewer: moderator).map { ($0.post.id, $0) },
            uniquingKeysWith: { a, _ in a })
        let commentBodies = Dictionary(
            try await services.renderer.commentBodies(Array(comments.values)).map { ($0.comment.id, $0) }, uniquingKeysWith: { a, _ in a })
        var items: [QueueItemBody] = []
        for entry in entries {
            var item = QueueItemBody(
                entry: entry,
                reports: reports.filter { $0.target == entry.target }.map {
                    ReportBody(report: $0, reporter: people[$0.reporterID].map { AuthorBody(user: $0) } ?? .missing($0.reporterID))
                })
            switch entry.target {
            case .post(let id):
                item.post = postBodies[id]
                if posts[id]?.moderationStatus == .pending {
                    item.heldReason = try await store.moderationDecisions(target: entry.target, before: nil, limit: 1).first?.reason
                }
            case .comment(let id): item.comment = commentBodies[id]
            case .user(let id): item.user = people[id].map { UserBody(user: $0, relationship: nil) }
            }
            items.append(item)
        }
        let next = more ? query.cursor(after: entries.last?.position, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: items, nextCursor: next))
    }

    // MARK: Decisions

    /// `POST /moderation/posts/{id}` `{action: approve|remove, reason?}`: takes effect in every
    /// feed, search and stream at once; the post's open reports are resolved.
    @Sendable func decidePost(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let moderator = try await requireModerator(context)
        let postID = try context.pathID()
        let (action, reason) = try await decisionRequest(request, context, allowed: [.approve, .remove])
        guard let result = try await services.moderation.decide(postID: postID, action: action, moderatorID: moderator.userID, reason: reason)
        else { throw RoostError.notFound }
        let author = try await services.feeds.users([moderator.userID])[moderator.userID].map { AuthorBody(user: $0) }
        return try JSONBody.response(
            PostDecisionBody(
                post: try await services.renderer.body(result.post, viewer: moderator),
                decision: DecisionBody(decision: result.decision, moderator: author)))
    }

    /// `POST /moderation/comments/{id}` `{action: remove|dismiss, reason?}`: `remove` deletes the
    /// comment (and its replies); either way its open reports leave the queue.
    @Sendable func decideComment(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let moderator = try await requireModerator(context)
        let commentID = try context.pathID()
        let (action, reason) = try await decisionRequest(request, context, allowed: [.remove, .dismiss])
        let comment = try await store.comment(id: commentID)
        let reported = try await store.openReports(targets: [.comment(commentID)], perTarget: 1)
        guard comment != nil || !reported.isEmpty else { throw RoostError.notFound }
        if action == .remove, let comment {
            _ = try await store.deleteComment(id: comment.id)
            services.feeds.invalidate(post: comment.postID)
        }
        return try await record(.comment(commentID), action: action, reason: reason, moderator: moderator)
    }

    /// `POST /moderation/users/{id}` `{action: dismiss, reason?}`: closes the account's reports.
    @Sendable func decideUser(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let moderator = try await requireModerator(context)
        let user = try await services.user(ref: context.parameters.get("ref"))
        let (action, reason) = try await decisionRequest(request, context, allowed: [.dismiss])
        return try await record(.user(user.id), action: action, reason: reason, moderator: moderator)
    }

    private func record(_ target: ModerationTarget, action: ModerationAction, reason: String?, moderator: Viewer) async throws -> Response {
        let now = services.clock.now()
        let decision = ModerationDecision(
            id: services.ids.next(now: now), target: target, moderatorID: moderator.userID, action: action, reason: reason, createdAt: now)
        try await store.recordDecision(decision)
        let author = try await services.feeds.users([moderator.userID])[moderator.userID].map { AuthorBody(user: $0) }
        var stored = decision
        stored.createdAt = now.roundedToMillis
        return try JSONBody.response(DecisionBody(decision: stored, moderator: author))
    }

    /// `GET /moderation/decisions?kind=post&target_id=…`: the audit trail, newest first.
    @Sendable func decisions(_ request: Request, context: RoostRequestContext) async throws -> Response {
        _ = try await requireModerator(context)
        let parameters = request.uri.queryParameters
        var target: ModerationTarget?
        if let kind = parameters.get("kind") ?? parameters.get("target_id").map({ _ in "post" }) {
            guard let raw = parameters.get("target_id"), let id = Validation.id(raw) else {
                throw RoostError.validation(field: "target_id", message: "target_id must be an id")
            }
            guard let parsed = ModerationTarget(kind: kind, id: id) else {
                throw RoostError.validation(field: "kind", message: "kind must be post, comment or user")
            }
            target = parsed
        }
        let scope = "moderation_decisions|\(target.map { "\($0.kind):\($0.id)" } ?? "all")"
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: scope)
        var rows = try await store.moderationDecisions(target: target, before: query.afterID, limit: query.limit + 1)
        let more = rows.count > query.limit
        rows = Array(rows.prefix(query.limit))
        let moderators = try await services.feeds.users(Array(Set(rows.compactMap(\.moderatorID))))
        let items = rows.map { decision in
            DecisionBody(decision: decision, moderator: decision.moderatorID.flatMap { moderators[$0] }.map { AuthorBody(user: $0) })
        }
        let next = more ? query.cursor(after: rows.last?.id, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: items, nextCursor: next))
    }
}
