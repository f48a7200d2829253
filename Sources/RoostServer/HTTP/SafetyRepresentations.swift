import Foundation
import RoostCore

// The JSON shapes of organizations, reports and moderation. As elsewhere, optional fields are
// written as `null` rather than left out.

struct OrganizationBody: Encodable, Sendable {
    /// How the viewer relates to an organization (absent for anonymous requests).
    struct ViewerRelation: Encodable, Sendable {
        /// The viewer's direct role, or null.
        var role: OrganizationRole?
        /// Member directly or through a sub-organization: sees the organization's posts.
        var isMember: Bool
        /// Admin directly or of an ancestor: manages members.
        var isAdmin: Bool

        enum CodingKeys: String, CodingKey {
            case role
            case isMember = "is_member", isAdmin = "is_admin"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            try c.encode(isMember, forKey: .isMember)
            try c.encode(isAdmin, forKey: .isAdmin)
        }
    }

    var organization: Organization
    var viewer: ViewerRelation?

    enum CodingKeys: String, CodingKey {
        case id, name, kind, viewer
        case parentID = "parent_id", memberCount = "member_count", createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(organization.id), forKey: .id)
        try c.encode(organization.name, forKey: .name)
        try c.encode(organization.kind, forKey: .kind)
        try c.encode(organization.parentID.map { String($0) }, forKey: .parentID)
        try c.encode(organization.memberCount, forKey: .memberCount)
        try c.encode(Timestamp.format(organization.createdAt), forKey: .createdAt)
        if let viewer { try c.encode(viewer, forKey: .viewer) }
    }
}

/// A member in `GET /organizations/{id}/members` and the answer to `PUT …/members/{user_id}`.
struct MemberBody: Encodable, Sendable {
    var membership: Membership
    var user: UserBody

    enum CodingKeys: String, CodingKey {
        case user, role
        case organizationID = "organization_id", joinedAt = "joined_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(membership.organizationID), forKey: .organizationID)
        try c.encode(user, forKey: .user)
        try c.encode(membership.role, forKey: .role)
        try c.encode(Timestamp.format(membership.createdAt), forKey: .joinedAt)
    }
}

/// An organization the viewer belongs to, with their role (`GET /me/organizations`).
struct MyOrganizationBody: Encodable, Sendable {
    var organization: OrganizationBody
    var membership: Membership

    enum CodingKeys: String, CodingKey {
        case organization, role
        case joinedAt = "joined_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(organization, forKey: .organization)
        try c.encode(membership.role, forKey: .role)
        try c.encode(Timestamp.format(membership.createdAt), forKey: .joinedAt)
    }
}

struct ReportBody: Encodable, Sendable {
    var report: Report
    /// Shown to moderators; the reporter's own answer leaves it out.
    var reporter: AuthorBody?

    enum CodingKeys: String, CodingKey {
        case id, reason, status, reporter
        case postID = "post_id", commentID = "comment_id", userID = "user_id", createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(report.id), forKey: .id)
        var post: String?
        var comment: String?
        var user: String?
        switch report.target {
        case .post(let id): post = String(id)
        case .comment(let id): comment = String(id)
        case .user(let id): user = String(id)
        }
        try c.encode(post, forKey: .postID)
        try c.encode(comment, forKey: .commentID)
        try c.encode(user, forKey: .userID)
        try c.encode(report.reason, forKey: .reason)
        try c.encode(report.status, forKey: .status)
        try c.encode(Timestamp.format(report.createdAt), forKey: .createdAt)
        if let reporter { try c.encode(reporter, forKey: .reporter) }
    }
}

/// One entry of the audit trail.
struct DecisionBody: Encodable, Sendable {
    var decision: ModerationDecision
    /// The moderator; null for automatic decisions.
    var moderator: AuthorBody?

    enum CodingKeys: String, CodingKey {
        case id, kind, action, reason, moderator, automatic
        case targetID = "target_id", previousStatus = "previous_status", newStatus = "new_status", createdAt = "created_at"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(decision.id), forKey: .id)
        try c.encode(decision.target.kind, forKey: .kind)
        try c.encode(String(decision.target.id), forKey: .targetID)
        try c.encode(decision.action, forKey: .action)
        try c.encode(decision.reason, forKey: .reason)
        try c.encode(decision.moderatorID == nil, forKey: .automatic)
        try c.encode(moderator, forKey: .moderator)
        try c.encode(decision.previousStatus, forKey: .previousStatus)
        try c.encode(decision.newStatus, forKey: .newStatus)
        try c.encode(Timestamp.format(decision.createdAt), forKey: .createdAt)
    }
}

/// One entry of `GET /moderation/queue`: the target (null when it no longer exists), why it is
/// there, and its newest open reports.
struct QueueItemBody: Encodable, Sendable {
    var entry: ModerationQueueEntry
    var post: PostBody?
    var comment: CommentBody?
    var user: UserBody?
    /// The automatic verdict that held a post, if any.
    var heldReason: String?
    var reports: [ReportBody]

    enum CodingKeys: String, CodingKey {
        case id, kind, post, comment, user, reports
        case targetID = "target_id", heldReason = "held_reason", openReports = "open_reports"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(String(entry.position), forKey: .id)
        try c.encode(entry.target.kind, forKey: .kind)
        try c.encode(String(entry.target.id), forKey: .targetID)
        try c.encode(post, forKey: .post)
        try c.encode(comment, forKey: .comment)
        try c.encode(user, forKey: .user)
        try c.encode(heldReason, forKey: .heldReason)
        try c.encode(entry.openReports, forKey: .openReports)
        try c.encode(reports, forKey: .reports)
    }
}

/// `POST /moderation/posts/{id}`: the post as it is now and the decision recorded.
struct PostDecisionBody: Encodable, Sendable {
    var post: PostBody
    var decision: DecisionBody
}
