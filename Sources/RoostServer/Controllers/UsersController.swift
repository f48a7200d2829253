import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// Profiles and the follow graph: `/users/{id_or_username}`, `/me`, follow/unfollow and the lists.
struct UsersController {
    let services: AppServices

    struct ProfileRequest: Decodable {
        var displayName: Patch<String>
        var bio: Patch<String>
        var avatarURL: Patch<String>

        enum CodingKeys: String, CodingKey {
            case bio
            case displayName = "display_name", avatarURL = "avatar_url"
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            displayName = try c.decodePatch(String.self, forKey: .displayName)
            bio = try c.decodePatch(String.self, forKey: .bio)
            avatarURL = try c.decodePatch(String.self, forKey: .avatarURL)
        }
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("me", use: me)
        group.patch("me", use: updateMe)
        group.get("users/:ref", use: show)
        group.put("users/:ref/follow", use: follow)
        group.delete("users/:ref/follow", use: unfollow)
        group.get("users/:ref/followers", use: followers)
        group.get("users/:ref/following", use: following)
    }

    func resolve(_ context: RoostRequestContext) async throws -> User {
        try await services.user(ref: context.parameters.get("ref"))
    }

    @Sendable func show(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let user = try await resolve(context)
        var relationship: Relationship?
        if let viewer = context.viewer {
            relationship = try await services.store.relationships(viewerID: viewer.userID, otherIDs: [user.id])[user.id]
        }
        return try JSONBody.response(UserBody(user: user, relationship: relationship))
    }

    @Sendable func me(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        guard let user = try await services.store.user(id: viewer.userID) else { throw RoostError.unauthorized("account no longer exists") }
        return try JSONBody.response(UserBody(user: user, relationship: nil, includeEmail: true))
    }

    @Sendable func updateMe(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let body = try await JSONBody.decode(ProfileRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        var patch = ProfilePatch()
        switch body.displayName {
        case .absent: break
        case .null: throw RoostError.validation(field: "display_name", message: "display_name must not be null")
        case .value(let name):
            patch.displayName = try Validation.text(name, field: "display_name", range: 1...Validation.displayNameMax)
        }
        switch body.bio {
        case .absent: break
        case .null: patch.bio = ""
        case .value(let bio): patch.bio = try Validation.optionalText(bio, field: "bio", max: Validation.bioMax) ?? ""
        }
        switch body.avatarURL {
        case .absent: break
        case .null: patch.avatarURL = .some(nil)
        case .value(let url): patch.avatarURL = .some(url.isEmpty ? nil : try Validation.url(url, field: "avatar_url"))
        }
        guard let user = try await services.store.updateProfile(userID: viewer.userID, patch: patch) else {
            throw RoostError.unauthorized("account no longer exists")
        }
        services.feeds.invalidate(user: viewer.userID)
        return try JSONBody.response(UserBody(user: user, relationship: nil, includeEmail: true))
    }

    struct FollowState: Encodable {
        var following: Bool
    }

    @Sendable func follow(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let target = try await resolve(context)
        guard target.id != viewer.userID else {
            throw RoostError.validation(field: nil, message: "you cannot follow yourself")
        }
        let now = services.clock.now()
        let event = DomainEvent.followed(followerID: viewer.userID, followeeID: target.id)
        // Written with the follow (one commit) rather than by NotificationService's next batch.
        let notification = NotificationRules.drafts(for: event).first.map {
            NotificationRecord($0, id: services.ids.next(now: now), createdAt: now)
        }
        let change = try await services.store.follow(
            followerID: viewer.userID, followeeID: target.id, id: services.ids.next(now: now), now: now,
            backfill: services.configuration.fanOut.backfillCount, notification: notification)
        if change.isNew { services.events.publish(event) }
        NotificationService.announce(change.notification.map { [$0] } ?? [], services: services)
        services.feeds.invalidate(user: viewer.userID)
        services.feeds.invalidate(user: target.id)
        return try JSONBody.response(FollowState(following: true))
    }

    @Sendable func unfollow(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let target = try await resolve(context)
        _ = try await services.store.unfollow(followerID: viewer.userID, followeeID: target.id)
        services.feeds.invalidate(user: viewer.userID)
        services.feeds.invalidate(user: target.id)
        return try JSONBody.response(FollowState(following: false))
    }

    @Sendable func followers(_ request: Request, context: RoostRequestContext) async throws -> Response {
        try await list(request, context, kind: "followers") { id, before, limit in
            try await services.store.followers(of: id, before: before, limit: limit)
        }
    }

    @Sendable func following(_ request: Request, context: RoostRequestContext) async throws -> Response {
        try await list(request, context, kind: "following") { id, before, limit in
            try await services.store.following(of: id, before: before, limit: limit)
        }
    }

    private func list(
        _ request: Request, _ context: RoostRequestContext, kind: String,
        fetch: (ID, ID?, Int) async throws -> [ListedUser]
    ) async throws -> Response {
        let user = try await resolve(context)
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "\(kind):\(user.id)")
        var rows = try await fetch(user.id, query.afterID, query.limit + 1)
        let more = rows.count > query.limit
        rows = Array(rows.prefix(query.limit))
        var relationships: [ID: Relationship] = [:]
        if let viewer = context.viewer {
            relationships = try await services.store.relationships(viewerID: viewer.userID, otherIDs: rows.map(\.user.id))
        }
        let items = rows.map { UserBody(user: $0.user, relationship: relationships[$0.user.id]) }
        let next = more ? query.cursor(after: rows.last?.position, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: items, nextCursor: next))
    }
}
