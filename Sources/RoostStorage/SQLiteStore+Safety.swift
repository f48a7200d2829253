import Foundation
import GRDB
import RoostCore

// Organizations, moderation and search on SQLite. Every write runs on GRDB's single writer, so the
// check-then-write sequences below (the last-admin rule, report de-duplication) cannot race.
extension SQLiteStore {
    // MARK: Organizations

    static let organizationColumns = "id, name, kind, parent_id, created_by, member_count, created_at"

    static func organization(_ row: Row) -> Organization {
        Organization(
            id: row.id("id"), name: row["name"], kind: OrganizationKind(rawValue: row["kind"]) ?? .company,
            parentID: (row["parent_id"] as Int64?).map { ID($0) }, createdByID: row.id("created_by"),
            memberCount: row["member_count"], createdAt: Date(millis: row["created_at"]))
    }

    /// A membership's columns from alias `m`, named for `membership(_:prefix: "m_")`.
    static let prefixedMembershipColumns =
        "m.organization_id AS m_organization_id, m.user_id AS m_user_id, m.role AS m_role, m.id AS m_id, m.created_at AS m_created_at"

    static func membership(_ row: Row, prefix: String = "") -> Membership {
        Membership(
            organizationID: row.id(prefix + "organization_id"), userID: row.id(prefix + "user_id"),
            role: OrganizationRole(rawValue: row[prefix + "role"]) ?? .member, id: row.id(prefix + "id"),
            createdAt: Date(millis: row[prefix + "created_at"]))
    }

    public func createOrganization(_ organization: Organization, membershipID: ID) async throws -> Organization {
        try await write { db in
            try db.execute(
                sql: """
                    INSERT INTO organizations (id, name, kind, parent_id, created_by, member_count, created_at)
                    VALUES (?, ?, ?, ?, ?, 1, ?)
                    """,
                arguments: [
                    Int64(organization.id), organization.name, organization.kind.rawValue, organization.parentID.map { Int64($0) },
                    Int64(organization.createdByID), organization.createdAt.millis,
                ])
            try db.execute(
                sql: "INSERT INTO organization_members (organization_id, user_id, role, id, created_at) VALUES (?, ?, 'admin', ?, ?)",
                arguments: [Int64(organization.id), Int64(organization.createdByID), Int64(membershipID), organization.createdAt.millis])
            var stored = organization
            stored.memberCount = 1
            stored.createdAt = organization.createdAt.roundedToMillis
            return stored
        }
    }

    public func organization(id: ID) async throws -> Organization? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.organizationColumns) FROM organizations WHERE id = ?", arguments: [Int64(id)])
                .map(Self.organization)
        }
    }

    public func organizationAncestry(id: ID) async throws -> [ID] {
        try await pool.read { db in
            try Int64.fetchAll(
                db,
                sql: """
                    WITH RECURSIVE chain(id, parent_id, depth) AS (
                      SELECT id, parent_id, 0 FROM organizations WHERE id = ?
                      UNION ALL
                      SELECT o.id, o.parent_id, c.depth + 1 FROM organizations o JOIN chain c ON o.id = c.parent_id WHERE c.depth < ?
                    )
                    SELECT id FROM chain ORDER BY depth
                    """, arguments: [Int64(id), OrganizationRules.maxDepth]
            ).map { ID($0) }
        }
    }

    public func roles(userID: ID, organizationIDs: [ID]) async throws -> [ID: OrganizationRole] {
        guard !organizationIDs.isEmpty else { return [:] }
        return try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT organization_id, role FROM organization_members
                    WHERE user_id = ? AND organization_id IN (\(Self.placeholders(organizationIDs.count)))
                    """,
                arguments: StatementArguments([Int64(userID)] + organizationIDs.map { Int64($0) }))
            var roles: [ID: OrganizationRole] = [:]
            for row in rows { roles[row.id("organization_id")] = OrganizationRole(rawValue: row["role"]) ?? .member }
            return roles
        }
    }

    public func organizationIDs(memberID: ID) async throws -> [ID] {
        try quickRead { db in
            try Int64.fetchAll(
                db.cachedStatement(
                sql: """
                    WITH RECURSIVE mine(id, depth) AS (
                      SELECT organization_id, 0 FROM organization_members WHERE user_id = ?
                      UNION
                      SELECT o.parent_id, m.depth + 1 FROM organizations o JOIN mine m ON o.id = m.id
                      WHERE o.parent_id IS NOT NULL AND m.depth < ?
                    )
                    SELECT DISTINCT id FROM mine
                    """), arguments: [Int64(memberID), OrganizationRules.maxDepth]
            ).map { ID($0) }
        }
    }

    public func memberships(userID: ID) async throws -> [(organization: Organization, membership: Membership)] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.prefixed("o", Self.organizationColumns)),
                      \(Self.prefixedMembershipColumns)
                    FROM organization_members m JOIN organizations o ON o.id = m.organization_id
                    WHERE m.user_id = ? ORDER BY m.id DESC
                    """, arguments: [Int64(userID)]
            ).map { (Self.organization($0), Self.membership($0, prefix: "m_")) }
        }
    }

    public func setMembership(_ membership: Membership) async throws -> (membership: Membership, isNew: Bool) {
        try await write { db in
            let organization = Int64(membership.organizationID)
            let user = Int64(membership.userID)
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM organizations WHERE id = ?", arguments: [organization]) != nil else {
                throw RoostError.notFound
            }
            if let row = try Row.fetchOne(
                db, sql: "SELECT organization_id, user_id, role, id, created_at FROM organization_members WHERE organization_id = ? AND user_id = ?",
                arguments: [organization, user])
            {
                var existing = Self.membership(row)
                if existing.role == .admin, membership.role != .admin {
                    try Self.requireAnotherAdmin(organization: organization, user: user, db)
                }
                try db.execute(
                    sql: "UPDATE organization_members SET role = ? WHERE organization_id = ? AND user_id = ?",
                    arguments: [membership.role.rawValue, organization, user])
                existing.role = membership.role
                return (existing, false)
            }
            try db.execute(
                sql: "INSERT INTO organization_members (organization_id, user_id, role, id, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [organization, user, membership.role.rawValue, Int64(membership.id), membership.createdAt.millis])
            try db.execute(sql: "UPDATE organizations SET member_count = member_count + 1 WHERE id = ?", arguments: [organization])
            var stored = membership
            stored.createdAt = membership.createdAt.roundedToMillis
            return (stored, true)
        }
    }

    public func removeMembership(organizationID: ID, userID: ID) async throws -> Bool {
        try await write { db in
            let organization = Int64(organizationID)
            let user = Int64(userID)
            guard
                let role = try String.fetchOne(
                    db, sql: "SELECT role FROM organization_members WHERE organization_id = ? AND user_id = ?", arguments: [organization, user])
            else { return false }
            if role == OrganizationRole.admin.rawValue {
                try Self.requireAnotherAdmin(organization: organization, user: user, db)
            }
            try db.execute(
                sql: "DELETE FROM organization_members WHERE organization_id = ? AND user_id = ?", arguments: [organization, user])
            try db.execute(sql: "UPDATE organizations SET member_count = member_count - 1 WHERE id = ?", arguments: [organization])
            return true
        }
    }

    /// An organization always keeps a direct admin.
    private static func requireAnotherAdmin(organization: Int64, user: Int64, _ db: Database) throws {
        let others =
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM organization_members WHERE organization_id = ? AND role = 'admin' AND user_id <> ?",
                arguments: [organization, user]) ?? 0
        if others == 0 {
            throw RoostError.conflict(field: "role", message: "an organization must keep at least one admin")
        }
    }

    public func members(organizationID: ID, before: ID?, limit: Int) async throws -> [ListedMember] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.prefixed("u", Self.userColumns)),
                      \(Self.prefixedMembershipColumns)
                    FROM organization_members m JOIN users u ON u.id = m.user_id
                    WHERE m.organization_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?
                    """, arguments: [Int64(organizationID), Self.upper(before), limit]
            ).map { ListedMember(membership: Self.membership($0, prefix: "m_"), user: Self.user($0)) }
        }
    }

    public func organizationMemberIDs(organizationID: ID, among userIDs: [ID]) async throws -> [ID] {
        guard !userIDs.isEmpty else { return [] }
        return try await pool.read { db in
            var found: [ID] = []
            // Chunks stay far below SQLite's bound-parameter limit.
            for start in stride(from: 0, to: userIDs.count, by: 500) {
                let chunk = userIDs[start..<min(start + 500, userIDs.count)].map { Int64($0) }
                found += try Int64.fetchAll(
                    db,
                    sql: """
                        WITH RECURSIVE tree(id, depth) AS (
                          SELECT ?, 0
                          UNION ALL
                          SELECT o.id, t.depth + 1 FROM organizations o JOIN tree t ON o.parent_id = t.id WHERE t.depth < ?
                        )
                        SELECT DISTINCT user_id FROM organization_members
                        WHERE organization_id IN (SELECT id FROM tree) AND user_id IN (\(Self.placeholders(chunk.count)))
                        """,
                    arguments: StatementArguments([Int64(organizationID), Int64(OrganizationRules.maxDepth)] + chunk)
                ).map { ID($0) }
            }
            return found
        }
    }

    public func organizationPostIDs(organizationIDs: [ID], before: ID?, limit: Int) async throws -> [ID] {
        guard !organizationIDs.isEmpty, limit > 0 else { return [] }
        // One index range per organization (`posts_organization`), merged: the cost follows the
        // page size, not the size of the organizations.
        let parts = Array(repeating: "SELECT id FROM (SELECT id FROM posts WHERE organization_id = ? AND id < ? ORDER BY id DESC LIMIT ?)", count: organizationIDs.count)
        let arguments = organizationIDs.flatMap { [Int64($0), Self.upper(before), Int64(limit)] }
        return try await pool.read { db in
            try Int64.fetchAll(
                db, sql: parts.joined(separator: " UNION ALL ") + " ORDER BY id DESC LIMIT ?",
                arguments: StatementArguments(arguments + [Int64(limit)])
            ).map { ID($0) }
        }
    }

    public func organizationPosts(organizationID: ID, before: ID?, limit: Int, filter: FeedFilter) async throws -> [Post] {
        let (clause, extra) = Self.filterClause(filter)
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT \(Self.postColumns) FROM posts WHERE organization_id = ? AND id < ?\(clause) ORDER BY id DESC LIMIT ?",
                arguments: StatementArguments([Int64(organizationID), Self.upper(before)]) + StatementArguments(extra) + [Int64(limit)]
            ).map(Self.post)
        }
    }

    // MARK: Moderation

    static let reportColumns = "id, reporter_id, target_kind, target_id, reason, status, created_at"

    static func report(_ row: Row) -> Report {
        Report(
            id: row.id("id"), reporterID: row.id("reporter_id"),
            target: ModerationTarget(kind: row["target_kind"], id: row.id("target_id")) ?? .post(row.id("target_id")),
            reason: row["reason"], status: ReportStatus(rawValue: row["status"]) ?? .open, createdAt: Date(millis: row["created_at"]))
    }

    static let decisionColumns = "id, target_kind, target_id, moderator_id, action, reason, previous_status, new_status, created_at"

    static func decision(_ row: Row) -> ModerationDecision {
        ModerationDecision(
            id: row.id("id"), target: ModerationTarget(kind: row["target_kind"], id: row.id("target_id")) ?? .post(row.id("target_id")),
            moderatorID: (row["moderator_id"] as Int64?).map { ID($0) }, action: ModerationAction(rawValue: row["action"]) ?? .hold,
            reason: row["reason"], previousStatus: (row["previous_status"] as String?).flatMap(ModerationStatus.init(rawValue:)),
            newStatus: (row["new_status"] as String?).flatMap(ModerationStatus.init(rawValue:)), createdAt: Date(millis: row["created_at"]))
    }

    public func fileReport(_ report: Report) async throws -> ReportFiling {
        try await write { db in
            let kind = report.target.kind
            let target = Int64(report.target.id)
            try db.execute(
                sql: """
                    INSERT INTO reports (id, reporter_id, target_kind, target_id, reason, status, created_at)
                    VALUES (?, ?, ?, ?, ?, 'open', ?) ON CONFLICT DO NOTHING
                    """,
                arguments: [Int64(report.id), Int64(report.reporterID), kind, target, report.reason, report.createdAt.millis])
            let isNew = db.changesCount > 0
            let stored = try Row.fetchOne(
                db,
                sql: "SELECT \(Self.reportColumns) FROM reports WHERE reporter_id = ? AND target_kind = ? AND target_id = ? AND status = 'open'",
                arguments: [Int64(report.reporterID), kind, target]
            ).map(Self.report)
            let open =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM reports WHERE target_kind = ? AND target_id = ? AND status = 'open'",
                    arguments: [kind, target]) ?? 0
            var result = report
            result.createdAt = report.createdAt.roundedToMillis
            return ReportFiling(report: stored ?? result, isNew: isNew, openReports: open)
        }
    }

    public func moderatePost(_ decision: ModerationDecision) async throws -> (post: Post, decision: ModerationDecision)? {
        try await write { db in
            let key = Int64(decision.target.id)
            guard case .post = decision.target,
                let previous = try String.fetchOne(db, sql: "SELECT moderation_status FROM posts WHERE id = ?", arguments: [key])
                    .flatMap(ModerationStatus.init(rawValue:))
            else { return nil }
            var recorded = decision
            recorded.previousStatus = previous
            recorded.newStatus = decision.action.postStatus ?? previous
            recorded.createdAt = decision.createdAt.roundedToMillis
            if let status = decision.action.postStatus, status != previous {
                try db.execute(sql: "UPDATE posts SET moderation_status = ? WHERE id = ?", arguments: [status.rawValue, key])
            }
            try Self.insert(recorded, db)
            guard let post = try Row.fetchOne(db, sql: "SELECT \(Self.postColumns) FROM posts WHERE id = ?", arguments: [key]).map(Self.post)
            else { return nil }
            return (post, recorded)
        }
    }

    public func recordDecision(_ decision: ModerationDecision) async throws -> Int {
        try await write { db in try Self.insert(decision, db) }
    }

    /// Inserts the decision and closes the target's open reports as its action says; returns how many it closed.
    @discardableResult
    private static func insert(_ decision: ModerationDecision, _ db: Database) throws -> Int {
        try db.execute(
            sql: """
                INSERT INTO moderation_decisions (id, target_kind, target_id, moderator_id, action, reason, previous_status, new_status, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                Int64(decision.id), decision.target.kind, Int64(decision.target.id), decision.moderatorID.map { Int64($0) },
                decision.action.rawValue, decision.reason, decision.previousStatus?.rawValue, decision.newStatus?.rawValue,
                decision.createdAt.millis,
            ])
        guard let closing = decision.action.closesReports else { return 0 }
        try db.execute(
            sql: "UPDATE reports SET status = ?, closed_by_decision = ? WHERE target_kind = ? AND target_id = ? AND status = 'open'",
            arguments: [closing.rawValue, Int64(decision.id), decision.target.kind, Int64(decision.target.id)])
        return db.changesCount
    }

    public func moderationQueue(after: ID?, limit: Int) async throws -> [ModerationQueueEntry] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kind, target_id, MIN(position) AS position, SUM(reports) AS reports FROM (
                      SELECT 'post' AS kind, id AS target_id, id AS position, 0 AS reports FROM posts WHERE moderation_status = 'pending'
                      UNION ALL
                      SELECT target_kind, target_id, MIN(id), COUNT(*) FROM reports WHERE status = 'open' GROUP BY target_kind, target_id
                    )
                    GROUP BY kind, target_id HAVING MIN(position) > ? ORDER BY position LIMIT ?
                    """, arguments: [after.map { Int64($0) } ?? 0, limit]
            ).compactMap { row in
                ModerationTarget(kind: row["kind"], id: row.id("target_id")).map {
                    ModerationQueueEntry(position: row.id("position"), target: $0, openReports: row["reports"])
                }
            }
        }
    }

    public func openReports(targets: [ModerationTarget], perTarget: Int) async throws -> [Report] {
        guard !targets.isEmpty else { return [] }
        let pairs = Array(repeating: "(target_kind = ? AND target_id = ?)", count: targets.count).joined(separator: " OR ")
        let pairArguments = targets.map { (kind: $0.kind, id: Int64($0.id)) }
        return try await pool.read { db in
            var arguments = StatementArguments()
            for pair in pairArguments { arguments += [pair.kind, pair.id] }
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.reportColumns) FROM (
                      SELECT \(Self.reportColumns), ROW_NUMBER() OVER (PARTITION BY target_kind, target_id ORDER BY id DESC) AS n
                      FROM reports WHERE status = 'open' AND (\(pairs))
                    ) WHERE n <= ? ORDER BY id DESC
                    """, arguments: arguments + [perTarget]
            ).map(Self.report)
        }
    }

    public func moderationDecisions(target: ModerationTarget?, before: ID?, limit: Int) async throws -> [ModerationDecision] {
        try await pool.read { db in
            if let target {
                return try Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.decisionColumns) FROM moderation_decisions
                        WHERE target_kind = ? AND target_id = ? AND id < ? ORDER BY id DESC LIMIT ?
                        """, arguments: [target.kind, Int64(target.id), Self.upper(before), limit]
                ).map(Self.decision)
            }
            return try Row.fetchAll(
                db, sql: "SELECT \(Self.decisionColumns) FROM moderation_decisions WHERE id < ? ORDER BY id DESC LIMIT ?",
                arguments: [Self.upper(before), limit]
            ).map(Self.decision)
        }
    }

    // MARK: Search

    /// The FTS5 form of a search: each word a quoted string (words hold only letters and digits,
    /// so nothing in them is syntax), all required, the last also as a prefix.
    static func matchExpression(_ query: SearchQuery) -> String {
        var parts = query.terms.map { "\"\($0)\"" }
        if query.prefixLast, let last = parts.popLast() { parts.append(last + "*") }
        return parts.joined(separator: " AND ")
    }

    public func searchPosts(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit] {
        // Read-your-writes: what the indexer has not applied yet is applied first.
        if !query.isEmpty, limit > 0 { try await indexPendingSearch(inBackground: false) }
        // bm25 weights by column: title, text, description, tags.
        return try await search(
            sql: """
                SELECT rowid AS id, bm25(posts_fts, 4.0, 1.0, 0.5, 2.0) AS rank FROM posts_fts WHERE posts_fts MATCH ?
                ORDER BY rank, rowid DESC LIMIT ? OFFSET ?
                """, query: query, offset: offset, limit: limit)
    }

    public func searchUsers(_ query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit] {
        try await search(
            sql: """
                SELECT rowid AS id, bm25(users_fts, 2.0, 1.0) AS rank FROM users_fts WHERE users_fts MATCH ?
                ORDER BY rank, rowid DESC LIMIT ? OFFSET ?
                """, query: query, offset: offset, limit: limit)
    }

    private func search(sql: String, query: SearchQuery, offset: Int, limit: Int) async throws -> [SearchHit] {
        guard !query.isEmpty, limit > 0 else { return [] }
        let expression = Self.matchExpression(query)
        do {
            return try await pool.read { db in
                // bm25 is lower for better matches; hits report higher-is-better.
                try Row.fetchAll(db, sql: sql, arguments: [expression, limit, max(0, offset)])
                    .map { SearchHit(id: $0.id("id"), score: -($0["rank"] as Double)) }
            }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
            // A word the tokenizer reads differently from `TextAnalysis` can still make FTS5 refuse
            // the expression; a query nobody can parse finds nothing rather than failing.
            return []
        }
    }
}
