import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// Organizations (universities, companies, departments under a parent), their members and their
/// feeds. Who administers and who belongs follows `OrganizationRules`: admins of an organization
/// or of any ancestor manage its members; members of an organization or of any descendant see its
/// organization-only posts.
struct OrganizationsController {
    let services: AppServices

    struct CreateRequest: Decodable {
        var name: String
        var kind: OrganizationKind
        var parentID: BodyID?

        enum CodingKeys: String, CodingKey {
            case name, kind
            case parentID = "parent_id"
        }
    }

    struct MemberRequest: Decodable {
        var role: OrganizationRole
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.post("organizations", use: create)
        group.get("organizations/:id", use: show)
        group.get("organizations/:id/members", use: members)
        group.put("organizations/:id/members/:user", use: setMember)
        group.delete("organizations/:id/members/:user", use: removeMember)
        group.get("organizations/:id/feed", use: feed)
        group.get("me/organizations", use: mine)
    }

    var store: any RoostStore { services.store }

    // MARK: Access

    private func organization(_ context: RoostRequestContext) async throws -> Organization {
        guard let organization = try await store.organization(id: try context.pathID()) else { throw RoostError.notFound }
        return organization
    }

    /// Admin of the organization or of one of its ancestors.
    private func isAdmin(_ userID: ID, of organizationID: ID) async throws -> Bool {
        let ancestry = try await store.organizationAncestry(id: organizationID)
        return OrganizationRules.isAdmin(ancestry: ancestry, roles: try await store.roles(userID: userID, organizationIDs: ancestry))
    }

    private func relation(_ viewer: Viewer?, to organization: Organization) async throws -> OrganizationBody.ViewerRelation? {
        guard let viewer else { return nil }
        let ancestry = try await store.organizationAncestry(id: organization.id)
        async let roles = store.roles(userID: viewer.userID, organizationIDs: ancestry)
        async let effective = store.organizationIDs(memberID: viewer.userID)
        let (direct, memberOf) = try await (roles, effective)
        return OrganizationBody.ViewerRelation(
            role: direct[organization.id], isMember: OrganizationRules.isMember(of: organization.id, effective: memberOf),
            isAdmin: OrganizationRules.isAdmin(ancestry: ancestry, roles: direct))
    }

    // MARK: Organizations

    /// `POST /organizations`: the creator becomes its admin. A sub-organization (`parent_id`)
    /// may only be created by an admin of the parent.
    @Sendable func create(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let body = try await JSONBody.decode(CreateRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let name = try Validation.text(body.name, field: "name", range: OrganizationRules.nameRange)
        var parentAncestry: [ID] = []
        if let parentID = body.parentID?.value {
            parentAncestry = try await store.organizationAncestry(id: parentID)
            guard !parentAncestry.isEmpty else {
                throw RoostError.validation(field: "parent_id", message: "parent_id is not an organization")
            }
            let roles = try await store.roles(userID: viewer.userID, organizationIDs: parentAncestry)
            guard OrganizationRules.isAdmin(ancestry: parentAncestry, roles: roles) else {
                throw RoostError.forbidden("only an admin of the parent organization can add to it")
            }
        }
        try OrganizationRules.validateNew(kind: body.kind, parentAncestry: parentAncestry, hasParent: body.parentID != nil)
        let now = services.clock.now()
        let created = try await store.createOrganization(
            Organization(id: services.ids.next(now: now), name: name, kind: body.kind, parentID: body.parentID?.value, createdByID: viewer.userID, createdAt: now),
            membershipID: services.ids.next(now: now))
        services.feeds.invalidate(memberships: viewer.userID)
        let relation = OrganizationBody.ViewerRelation(role: .admin, isMember: true, isAdmin: true)
        return try JSONBody.response(OrganizationBody(organization: created, viewer: relation), status: .created)
    }

    @Sendable func show(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let organization = try await organization(context)
        return try JSONBody.response(OrganizationBody(organization: organization, viewer: try await relation(context.viewer, to: organization)))
    }

    // MARK: Members

    /// `GET /organizations/{id}/members`: direct members, newest first.
    @Sendable func members(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let organization = try await organization(context)
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "org_members:\(organization.id)")
        var rows = try await store.members(organizationID: organization.id, before: query.afterID, limit: query.limit + 1)
        let more = rows.count > query.limit
        rows = Array(rows.prefix(query.limit))
        var relationships: [ID: Relationship] = [:]
        if let viewer = context.viewer {
            relationships = try await store.relationships(viewerID: viewer.userID, otherIDs: rows.map(\.user.id))
        }
        let items = rows.map { MemberBody(membership: $0.membership, user: UserBody(user: $0.user, relationship: relationships[$0.user.id])) }
        let next = more ? query.cursor(after: rows.last?.membership.id, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: items, nextCursor: next))
    }

    /// `PUT /organizations/{id}/members/{user_id}` (org admin): adds the user or changes their role.
    @Sendable func setMember(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let organization = try await organization(context)
        guard try await isAdmin(viewer.userID, of: organization.id) else {
            throw RoostError.forbidden("only an admin of the organization can manage its members")
        }
        let user = try await services.user(ref: context.parameters.get("user"))
        let body = try await JSONBody.decode(MemberRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let now = services.clock.now()
        let (membership, _) = try await store.setMembership(
            Membership(organizationID: organization.id, userID: user.id, role: body.role, id: services.ids.next(now: now), createdAt: now))
        services.feeds.invalidate(memberships: user.id)
        return try JSONBody.response(MemberBody(membership: membership, user: UserBody(user: user, relationship: nil)))
    }

    /// `DELETE /organizations/{id}/members/{user_id}`: an admin removes a member, or a member
    /// leaves. Idempotent; the last admin cannot go (409).
    @Sendable func removeMember(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let organization = try await organization(context)
        let user = try await services.user(ref: context.parameters.get("user"))
        if user.id != viewer.userID {
            guard try await isAdmin(viewer.userID, of: organization.id) else {
                throw RoostError.forbidden("only an admin of the organization can remove its members")
            }
        }
        _ = try await store.removeMembership(organizationID: organization.id, userID: user.id)
        services.feeds.invalidate(memberships: user.id)
        return Response(status: .noContent)
    }

    /// `GET /me/organizations`: the organizations the viewer belongs to directly, newest first.
    @Sendable func mine(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let query = try ListQuery(request, context: context, codec: services.cursors, scope: "my_orgs")
        let all = try await store.memberships(userID: viewer.userID).filter { entry in query.afterID.map { entry.membership.id < $0 } ?? true }
        let rows = Array(all.prefix(query.limit))
        let items = rows.map {
            MyOrganizationBody(
                organization: OrganizationBody(
                    organization: $0.organization,
                    viewer: .init(role: $0.membership.role, isMember: true, isAdmin: $0.membership.role == .admin)),
                membership: $0.membership)
        }
        let next = all.count > query.limit ? query.cursor(after: rows.last?.membership.id, codec: services.cursors) : nil
        return try JSONBody.response(PageBody(items: items, nextCursor: next))
    }

    // MARK: Feed

    /// `GET /organizations/{id}/feed` (members only): the posts attached to the organization that
    /// the viewer may see, newest first, with the feed filters.
    @Sendable func feed(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        let organization = try await organization(context)
        let memberOf = try await store.organizationIDs(memberID: viewer.userID)
        guard OrganizationRules.isMember(of: organization.id, effective: memberOf) else {
            throw RoostError.forbidden("only members can read an organization's feed")
        }
        let filter = try request.feedFilter()
        let query = try ListQuery(
            request, context: context, codec: services.cursors, scope: "org_feed:\(organization.id)|\(filter.scopeKey)")
        let page = try await KeysetPaging.collect(
            limit: query.limit, after: query.afterID, id: \.id,
            fetch: { before, count in
                try await store.organizationPosts(organizationID: organization.id, before: before, limit: count, filter: filter)
            },
            keep: { batch in try await services.renderer.visible(batch, to: viewer) })
        return try await services.renderer.page(page.items, viewer: viewer, nextCursor: query.cursor(after: page.next, codec: services.cursors))
    }
}
