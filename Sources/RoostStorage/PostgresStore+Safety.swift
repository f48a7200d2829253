import Foundation
import PostgresNIO
import RoostCore

// Organizations, moderation and search on PostgreSQL. Writers run concurrently here, so every
// check-then-write runs in one transaction behind a row lock: membership changes lock the
// organization row (two admins demoting each other cannot both succeed and orphan it), moderation
// decisions lock the post row first, as every other writer of a post does (see `PostgresStore`).
extension PostgresStore {
    // MARK: Organizations

    static let organizationColumns = "id, name, kind, parent_id, created_by, member_count, created_at"
    private static let membershipColumns = "organization_id, user_id, role, id, created_at"
    /// `userColumns` hold twelve values; queries that select a user first put their own columns after.
    private static let userColumnCount = 12

    static func organization(_ cells: PostgresRandomAccessRow, from start: Int = 0) throws -> Organization {
        Organization(
            id: try cells[start].decode(Int64.self).roostID, name: try cells[start + 1].decode(String.self),
            kind: OrganizationKind(rawValue: try cells[start + 2].decode(String.self)) ?? .company,
            parentID: try cells[start + 3].decode(Int64?.self)?.roostID, createdByID: try cells[start + 4].decode(Int64.self).roostID,
            memberCount: try cells[start + 5].decode(Int.self), createdAt: Date(millis: try cells[start + 6].decode(Int64.self)))
    }

    static func membership(_ cells: PostgresRandomAccessRow, from start: Int = 0) throws -> Membership {
        Membership(
            organizationID: try cells[start].decode(Int64.self).roostID, userID: try cells[start + 1].decode(Int64.self).roostID,
            role: OrganizationRole(rawValue: try cells[start + 2].decode(String.self)) ?? .member,
            id: try cells[start + 3].decode(Int64.self).roostID, createdAt: Date(millis: try cells[start + 4].decode(Int64.self)))
    }

    private static func qualified(_ alias: String, _ columns: String) -> String {
        columns.split(separator: ",").map { "\(alias).\($0.trimmingCharacters(in: .whitespaces))" }.joined(separator: ", ")
    }

    public func createOrganization(_ organization: Organization, membershipID: ID) async throws -> Organization {
        try await transaction { connection in
            try await rows(
                """
                INSERT INTO organizations (id, name, kind, parent_id, created_by, member_count, created_at)
                VALUES (\(organization.id.pgBits), \(organization.name), \(organization.kind.rawValue), \(organization.parentID?.pgBits),
                  \(organization.createdByID.pgBits), 1, \(organization.createdAt.millis))
                """, on: connection)
            try await rows(
                """
                INSERT INTO organization_members (organization_id, user_id, role, id, created_at)
                VALUES (\(organization.id.pgBits), \(organization.createdByID.pgBits), 'admin', \(membershipID.pgBits),
                  \(organization.createdAt.millis))
                """, on: connection)
            var stored = organization
            stored.memberCount = 1
            stored.createdAt = organization.createdAt.roundedToMillis
            return stored
        }
    }

    public func organization(id: ID) async throws -> Organization? {
        try await rows("SELECT \(unescaped: Self.organizationColumns) FROM organizations WHERE id = \(id.pgBits)")
            .first.map { try Self.organization($0.makeRandomAccess()) }
    }

    public func organizationAncestry(id: ID) async throws -> [ID] {
        try await rows(
            """
            WITH RECURSIVE chain(id, parent_id, depth) AS (
              SELECT id, parent_id, 0 FROM organizations WHERE id = \(id.pgBits)
              UNION ALL
              SELECT o.id, o.parent_id, c.depth + 1 FROM organizations o JOIN chain c ON o.id = c.parent_id
              WHERE c.depth < \(Int32(OrganizationRules.maxDepth))
            )
            SELECT id FROM chain ORDER BY depth
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    public func roles(userID: ID, organizationIDs: [ID]) async throws -> [ID: OrganizationRole] {
        guard !organizationIDs.isEmpty else { return [:] }
        var roles: [ID: OrganizationRole] = [:]
        for row in try await rows(
            """
            SELECT organization_id, role FROM organization_members
            WHERE user_id = \(userID.pgBits) AND organization_id = ANY(\(organizationIDs.map(\.pgBits)))
            """)
        {
            let (organization, role) = try row.decode((Int64, String).self)
            roles[organization.roostID] = OrganizationRole(rawValue: role) ?? .member
        }
        return roles
    }

    public func organizationIDs(memberID: ID) async throws -> [ID] {
        try await rows(
            """
            WITH RECURSIVE mine(id, depth) AS (
              SELECT organization_id, 0 FROM organization_members WHERE user_id = \(memberID.pgBits)
              UNION
              SELECT o.parent_id, m.depth + 1 FROM organizations o JOIN mine m ON o.id = m.id
              WHERE o.parent_id IS NOT NULL AND m.depth < \(Int32(OrganizationRules.maxDepth))
            )
            SELECT DISTINCT id FROM mine
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    public func memberships(userID: ID) async throws -> [(organization: Organization, membership: Membership)] {
        try await rows(
            """
            SELECT \(unescaped: Self.qualified("o", Self.organizationColumns)), \(unescaped: Self.qualified("m", Self.membershipColumns))
            FROM organization_members m JOIN organizations o ON o.id = m.organization_id
            WHERE m.user_id = \(userID.pgBits) ORDER BY m.id DESC
            """
        ).map { row in
            let cells = row.makeRandomAccess()
            return (try Self.organization(cells), try Self.membership(cells, from: 7))
        }
    }

    public func setMembership(_ membership: Membership) async throws -> (membership: Membership, isNew: Bool) {
        try await transaction { connection in
            let organization = membership.organizationID.pgBits
            let user = membership.userID.pgBits
            guard !(try await rows("SELECT 1 FROM organizations WHERE id = \(organization) FOR UPDATE", on: connection)).isEmpty else {
                throw RoostError.notFound
            }
            if let row = try await rows(
                """
                SELECT \(unescaped: Self.membershipColumns) FROM organization_members
                WHERE organization_id = \(organization) AND user_id = \(user)
                """, on: connection
            ).first {
                var existing = try Self.membership(row.makeRandomAccess())
                if existing.role == .admin, membership.role != .admin {
                    try await requireAnotherAdmin(organization: organization, user: user, on: connection)
                }
                try await rows(
                    """
                    UPDATE organization_members SET role = \(membership.role.rawValue)
                    WHERE organization_id = \(organization) AND user_id = \(user)
                    """, on: connection)
                existing.role = membership.role
                return (existing, false)
            }
            try await rows(
                """
                INSERT INTO organization_members (organization_id, user_id, role, id, created_at)
                VALUES (\(organization), \(user), \(membership.role.rawValue), \(membership.id.pgBits), \(membership.createdAt.millis))
                """, on: connection)
            try await rows("UPDATE organizations SET member_count = member_count + 1 WHERE id = \(organization)", on: connection)
            var stored = membership
            stored.createdAt = membership.createdAt.roundedToMillis
            return (stored, true)
        }
    }

    public func removeMembership(organizationID: ID, userID: ID) async throws -> Bool {
        try await transaction { connection in
            let organization = organizationID.pgBits
            let user = userID.pgBits
            guard !(try await rows("SELECT 1 FROM organizations WHERE id = \(organization) FOR UPDATE", on: connection)).isEmpty,
                let row = try await rows(
                    "SELECT role FROM organization_members WHERE organization_id = \(organization) AND user_id = \(user)", on: connection
                ).first
            else { return false }
            if try row.decode(String.self) == OrganizationRole.admin.rawValue {
                try await requireAnotherAdmin(organization: organization, user: user, on: connection)
            }
            try await rows("DELETE FROM organization_members WHERE organization_id = \(organization) AND user_id = \(user)", on: connection)
            try await rows("UPDATE organizations SET member_count = member_count - 1 WHERE id = \(organization)", on: connection)
            return true
        }
    }

    /// An organization always keeps a direct admin. The caller holds the organization's row lock.
    private func requireAnotherAdmin(organization: Int64, user: Int64, on connection: PostgresConnection) async throws {
        let others = try await count(
            """
            SELECT count(*) FROM organization_members WHERE organization_id = \(organization) AND role = 'admin' AND user_id <> \(user)
            """, on: connection)
        if others == 0 {
            throw RoostError.conflict(field: "role", message: "an organization must keep at least one admin")
        }
    }

    public func members(organizationID: ID, before: ID?, limit: Int) async throws -> [ListedMember] {
        try await rows(
            """
            SELECT \(unescaped: Self.qualified("u", Self.userColumns)), \(unescaped: Self.qualified("m", Self.membershipColumns))
            FROM organization_members m JOIN users u ON u.id = m.user_id
            WHERE m.organization_id = \(organizationID.pgBits) AND m.id < \(Self.upper(before))
            ORDER BY m.id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map { row in
            ListedMember(membership: try Self.membership(row.makeRandomAccess(), from: Self.userColumnCount), user: try Self.user(row))
        }
    }

    public func organizationMemberIDs(organizationID: ID, among userIDs: [ID]) async throws -> [ID] {
        guard !userIDs.isEmpty else { return [] }
        return try await rows(
            """
            WITH RECURSIVE tree(id, depth) AS (
              SELECT \(organizationID.pgBits)::BIGINT, 0
              UNION ALL
              SELECT o.id, t.depth + 1 FROM organizations o JOIN tree t ON o.parent_id = t.id WHERE t.depth < \(Int32(OrganizationRules.maxDepth))
            )
            SELECT DISTINCT user_id FROM organization_members
            WHERE organization_id IN (SELECT id FROM tree) AND user_id = ANY(\(userIDs.map(\.pgBits)))
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    public func organizationPostIDs(organizationIDs: [ID], before: ID?, limit: Int) async throws -> [ID] {
        guard !organizationIDs.isEmpty, limit > 0 else { return [] }
        // One index range per organization (`posts_organization`) through the LATERAL, merged: the
        // cost follows the page size, not the size of the organizations.
        return try await rows(
            """
            SELECT p.id FROM unnest(\(organizationIDs.map(\.pgBits))) AS o(id) CROSS JOIN LATERAL (
              SELECT id FROM posts WHERE organization_id = o.id AND id < \(Self.upper(before)) ORDER BY id DESC LIMIT \(Int64(limit))
            ) p
            ORDER BY p.id DESC LIMIT \(Int64(limit))
            """
        ).map { try $0.decode(Int64.self).roostID }
    }

    public func organizationPosts(organizationID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        var query: PostgresQuery = """
            SELECT \(unescaped: Self.postColumns) FROM posts WHERE organization_id = \(organizationID.pgBits) AND id < \(Self.upper(before))
            """
        Self.appendFilter(filter, to: &query)
        Self.appendNewestFirst(limit: limit, to: &query)
        return try await rows(query).map(Self.post)
    }

    // MARK: Moderation

    static let reportColumns = "id, reporter_id, target_kind, target_id, reason, status, created_at"

    static func report(_ row: PostgresRow) throws -> Report {
        let (id, reporter, kind, target, reason, status, createdAt) = try row.decode((Int64, Int64, String, Int64, String, String, Int64).self)
        return Report(
            id: id.roostID, reporterID: reporter.roostID, target: ModerationTarget(kind: kind, id: target.roostID) ?? .post(target.roostID),
            reason: reason, status: ReportStatus(rawValue: status) ?? .open, createdAt: Date(millis: createdAt))
    }

    static let decisionColumns = "id, target_kind, target_id, moderator_id, action, reason, previous_status, new_status, created_at"

    static func decision(_ row: PostgresRow) throws -> ModerationDecision {
        let (id, kind, target, moderator, action, reason, previous, new, createdAt) =
            try row.decode((Int64, String, Int64, Int64?, String, String?, String?, String?, Int64).self)
        return ModerationDecision(
            id: id.roostID, target: ModerationTarget(kind: kind, id: target.roostID) ?? .post(target.roostID),
            moderatorID: moderator?.roostID, action: ModerationAction(rawValue: action) ?? .hold, reason: reason,
            previousStatus: previous.flatMap(ModerationStatus.init(rawValue:)), newStatus: new.flatMap(ModerationStatus.init(rawValue:)),
            createdAt: Date(millis: createdAt))
    }

    public func fileReport(_ report: Report) async throws -> ReportFiling {
        try await transaction { connection in
            let kind = report.target.kind
            let target = report.target.id.pgBits
            let reporter = report.reporterID.pgBits
            // A racing duplicate from the same reporter waits on the unique index, then does nothing.
            let inserted = try await rows(
                """
                INSERT INTO reports (id, reporter_id, target_kind, target_id, reason, status, created_at)
                VALUES (\(report.id.pgBits), \(reporter), \(kind), \(target), \(report.reason), 'open', \(report.createdAt.millis))
                ON CONFLICT DO NOTHING RETURNING 1
                """, on: connection)
            let stored = try await rows(
                """
                SELECT \(unescaped: Self.reportColumns) FROM reports
                WHERE reporter_id = \(reporter) AND target_kind = \(kind) AND target_id = \(target) AND status = 'open'
                """, on: connection
            ).first.map(Self.report)
            let open = try await count(
                "SELECT count(*) FROM reports WHERE target_kind = \(kind) AND target_id = \(target) AND status = 'open'", on: connection)
            var fallback = report
            fallback.createdAt = report.createdAt.roundedToMillis
            return ReportFiling(report: stored ?? fallback, isNew: !inserted.isEmpty, openReports: open)
        }
    }

    public func moderatePost(_ decision: ModerationDecision) async throws -> (post: Post, decision: ModerationDecision)? {
        guard case .post(let postID) = decision.target else { return nil }
        return try await transaction { connection in
            let key = postID.pgBits
            guard
                let current = try await rows("SELECT moderation_status FROM posts WHERE id = \(key) FOR NO KEY UPDATE", on: connection).first,
                let previous = ModerationStatus(rawValue: try current.decode(String.self))
            else { return nil }
            var recorded = decision
            recorded.previousStatus = previous
            recorded.newStatus = decision.action.postStatus ?? previous
            recorded.createdAt = decision.createdAt.roundedToMillis
            let status = (decision.action.postStatus ?? previous).rawValue
            guard
                let row = try await rows(
                    "UPDATE posts SET moderation_status = \(status) WHERE id = \(key) RETURNING \(unescaped: Self.postColumns)", on: connection
                ).first
            else { return nil }
            try await insert(recorded, on: connection)
            return (try Self.post(row), recorded)
        }
    }

    public func recordDecision(_ decision: ModerationDecision) async throws -> Int {
        try await transaction { connection in try await insert(decision, on: connection) }
    }

    /// Inserts the decision and closes the target's open reports as its action says; returns how many it closed.
    @discardableResult
    private func insert(_ decision: ModerationDecision, on connection: PostgresConnection) async throws -> Int {
        try await rows(
            """
            INSERT INTO moderation_decisions (id, target_kind, target_id, moderator_id, action, reason, previous_status, new_status, created_at)
            VALUES (\(decision.id.pgBits), \(decision.target.kind), \(decision.target.id.pgBits), \(decision.moderatorID?.pgBits),
              \(decision.action.rawValue), \(decision.reason), \(decision.previousStatus?.rawValue), \(decision.newStatus?.rawValue),
              \(decision.createdAt.millis))
            """, on: connection)
        guard let closing = decision.action.closesReports else { return 0 }
        return try await count(
            """
            WITH closed AS (
              UPDATE reports SET status = \(closing.rawValue), closed_by_decision = \(decision.id.pgBits)
              WHERE target_kind = \(decision.target.kind) AND target_id = \(decision.target.id.pgBits) AND status = 'open'
              RETURNING 1
            )
            SELECT count(*) FROM closed
            """, on: connection)
    }

    public func moderationQueue(after: ID?, limit: Int) async throws -> [ModerationQueueEntry] {
        try await rows(
            """
            SELECT kind, target_id, MIN(position) AS position, SUM(reports)::BIGINT FROM (
              SELECT 'post'::TEXT AS kind, id AS target_id, id AS position, 0::BIGINT AS reports FROM posts WHERE moderation_status = 'pending'
              UNION ALL
              SELECT target_kind, target_id, MIN(id), count(*) FROM reports WHERE status = 'open' GROUP BY target_kind, target_id
            ) q
            GROUP BY kind, target_id HAVING MIN(position) > \(after.map { Int64(clamping: $0) } ?? 0) ORDER BY 3 LIMIT \(Self.limitValue(limit))
            """
        ).compactMap { row in
            let (kind, target, position, reports) = try row.decode((String, Int64, Int64, Int64).self)
            return ModerationTarget(kind: kind, id: target.roostID).map {
                ModerationQueueEntry(position: position.roostID, target: $0, openReports: Int(reports))
            }
        }
    }

    public func openReports(targets: [ModerationTarget], perTarget: Int) async throws -> [Report] {
        guard !targets.isEmpty else { return [] }
        return try await rows(
            """
            SELECT \(unescaped: Self.reportColumns) FROM (
              SELECT \(unescaped: Self.reportColumns), ROW_NUMBER() OVER (PARTITION BY target_kind, target_id ORDER BY id DESC) AS n
              FROM reports
              WHERE status = 'open' AND (target_kind, target_id) IN (SELECT * FROM unnest(\(targets.map(\.kind)), \(targets.map(\.id.pgBits))))
            ) r WHERE n <= \(Int64(perTarget)) ORDER BY id DESC
            """
        ).map(Self.report)
    }

    public func moderationDecisions(target: ModerationTarget?, before: ID?, limit: Int) async throws -> [ModerationDecision] {
        if let target {
            return try await rows(
                """
                SELECT \(unescaped: Self.decisionColumns) FROM moderation_decisions
                WHERE target_kind = \(target.kind) AND target_id = \(target.id.pgBits) AND id < \(Self.upper(before))
                ORDER BY id DESC LIMIT \(Self.limitValue(limit))
                """
            ).map(Self.decision)
        }
        return try await rows(
            """
            SELECT \(unescaped: Self.decisionColumns) FROM moderation_decisions WHERE id < \(Self.upper(before))
            ORDER BY id DESC LIMIT \(Self.limitValue(limit))
            """
        ).map(Self.decision)
    }

    // MARK: Search

    /// The `to_tsquery` form of a search: the words joined by `&`, the last with `:*` (a prefix).
    /// Words hold only letters and digits, so none of them is tsquery syntax; the string is bound.
    static func tsquery(_ query: SearchQuery) -> String {
        var parts = query.terms
        if query.prefixLast, let last = parts.popLast() { parts.append(last + ":*") }
        return parts.joined(separator: " & ")
    }

    public func searchPosts(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit] {
        guard !query.isEmpty, limit > 0 else { return [] }
        return try await search(
            """
            SELECT s.post_id, ts_rank(s.document, q)::FLOAT8 AS score FROM post_search s, to_tsquery('simple', \(Self.tsquery(query))) q
            WHERE s.document @@ q ORDER BY score DESC, s.post_id DESC LIMIT \(Int64(limit)) OFFSET \(Int64(max(0, offset)))
            """)
    }

    public func searchUsers(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit] {
        guard !query.isEmpty, limit > 0 else { return [] }
        return try await search(
            """
            SELECT s.user_id, ts_rank(s.document, q)::FLOAT8 AS score FROM user_search s, to_tsquery('simple', \(Self.tsquery(query))) q
            WHERE s.document @@ q ORDER BY score DESC, s.user_id DESC LIMIT \(Int64(limit)) OFFSET \(Int64(max(0, offset)))
            """)
    }

    private func search(_ query: PostgresQuery) async throws -> [SearchHit] {
        do {
            return try await rows(query).map { row in
                let (id, score) = try row.decode((Int64, Double).self)
                return SearchHit(id: id.roostID, score: score)
            }
        } catch let error as PSQLError where Self.sqlState(error).map({ $0.hasPrefix("42") || $0.hasPrefix("22") }) ?? false {
            // A query the text-search parser still refuses (syntax or data class) finds nothing
            // rather than failing the request.
            return []
        }
    }
}
