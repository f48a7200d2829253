import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    /// Organizations, moderation and search: the `SafetyStore` part of the conformance suite.
    @Suite struct Safety {
        // MARK: Organizations

        @Test func organizationTreeMembershipAndAncestry() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let founder = try await store.makeUser("founder", ids: ids)
                let student = try await store.makeUser("student", ids: ids)
                let outsider = try await store.makeUser("outsider", ids: ids)
                let university = try await store.createOrganization(
                    Organization(id: ids.next(), name: "Uni", kind: .university, createdByID: founder.id, createdAt: t0), membershipID: ids.next())
                #expect(university.memberCount == 1)
                let department = try await store.createOrganization(
                    Organization(
                        id: ids.next(), name: "Physics", kind: .department, parentID: university.id, createdByID: founder.id, createdAt: t0),
                    membershipID: ids.next())
                #expect(try await store.organization(id: department.id) == department)
                #expect(try await store.organization(id: ids.next()) == nil)
                #expect(try await store.organizationAncestry(id: department.id) == [department.id, university.id])
                #expect(try await store.organizationAncestry(id: ids.next()).isEmpty)

                let (membership, isNew) = try await store.setMembership(
                    Membership(organizationID: department.id, userID: student.id, role: .member, id: ids.next(), createdAt: t0))
                #expect(isNew && membership.role == .member)
                // Members of a department belong to its university too; not the other way round.
                #expect(Set(try await store.organizationIDs(memberID: student.id)) == [department.id, university.id])
                #expect(Set(try await store.organizationIDs(memberID: founder.id)) == [department.id, university.id])
                #expect(try await store.organizationIDs(memberID: outsider.id).isEmpty)
                let everyone = [founder.id, student.id, outsider.id]
                #expect(Set(try await store.organizationMemberIDs(organizationID: university.id, among: everyone)) == [founder.id, student.id])
                #expect(try await store.organizationMemberIDs(organizationID: department.id, among: [outsider.id]).isEmpty)
                #expect(try await store.roles(userID: founder.id, organizationIDs: [university.id, department.id]) == [
                    university.id: .admin, department.id: .admin,
                ])
                #expect(try await store.organization(id: department.id)?.memberCount == 2)

                // Changing a role keeps the membership; the list pages newest first.
                let (promoted, again) = try await store.setMembership(
                    Membership(organizationID: department.id, userID: student.id, role: .admin, id: ids.next(), createdAt: t0 + 9))
                #expect(!again && promoted.id == membership.id && promoted.role == .admin)
                let page = try await store.members(organizationID: department.id, before: nil, limit: 1)
                #expect(page.map(\.user.id) == [student.id] && page.first?.membership.role == .admin)
                let rest = try await store.members(organizationID: department.id, before: page.last?.membership.id, limit: 10)
                #expect(rest.map(\.user.id) == [founder.id])
                let mine = try await store.memberships(userID: founder.id)
                #expect(mine.map(\.organization.id) == [department.id, university.id])
                #expect(mine.allSatisfy { $0.membership.role == .admin })

                await #expect(throws: RoostError.notFound) {
                    _ = try await store.setMembership(
                        Membership(organizationID: ids.next(), userID: student.id, role: .member, id: ids.next(), createdAt: t0))
                }
            }
        }

        @Test func theLastAdminCannotLeaveOrBeDemoted() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let admin = try await store.makeUser("admin", ids: ids)
                let member = try await store.makeUser("member", ids: ids)
                let org = try await store.createOrganization(
                    Organization(id: ids.next(), name: "Co", kind: .company, createdByID: admin.id, createdAt: t0), membershipID: ids.next())
                _ = try await store.setMembership(
                    Membership(organizationID: org.id, userID: member.id, role: .member, id: ids.next(), createdAt: t0))
                await #expect(throws: RoostError.self) {
                    _ = try await store.setMembership(
                        Membership(organizationID: org.id, userID: admin.id, role: .member, id: ids.next(), createdAt: t0))
                }
                await #expect(throws: RoostError.self) { _ = try await store.removeMembership(organizationID: org.id, userID: admin.id) }
                #expect(try await store.removeMembership(organizationID: org.id, userID: member.id))
                #expect(try await !store.removeMembership(organizationID: org.id, userID: member.id))
                #expect(try await store.organization(id: org.id)?.memberCount == 1)

                // Two admins demoting each other at once: one wins, the organization keeps an admin.
                _ = try await store.setMembership(
                    Membership(organizationID: org.id, userID: member.id, role: .admin, id: ids.next(), createdAt: t0))
                async let first: Bool = Self.succeeds {
                    _ = try await store.setMembership(
                        Membership(organizationID: org.id, userID: admin.id, role: .member, id: ids.next(), createdAt: t0))
                }
                async let second: Bool = Self.succeeds {
                    _ = try await store.setMembership(
                        Membership(organizationID: org.id, userID: member.id, role: .member, id: ids.next(), createdAt: t0))
                }
                let outcomes = await [first, second]
                #expect(outcomes.filter { $0 }.count == 1)
                let roles = try await store.roles(userID: admin.id, organizationIDs: [org.id]).values.map { $0 }
                    + store.roles(userID: member.id, organizationIDs: [org.id]).values.map { $0 }
                #expect(roles.filter { $0 == .admin }.count == 1)
            }
        }

        static func succeeds(_ body: () async throws -> Void) async -> Bool {
            do {
                try await body()
                return true
            } catch {
                return false
            }
        }

        @Test func organizationPostsMergeNewestFirst() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let a = try await store.createOrganization(
                    Organization(id: ids.next(), name: "A", kind: .company, createdByID: author.id, createdAt: t0), membershipID: ids.next())
                let b = try await store.createOrganization(
                    Organization(id: ids.next(), name: "B", kind: .company, createdByID: author.id, createdAt: t0), membershipID: ids.next())
                var expected: [ID] = []
                for index in 0..<6 {
                    let post = Post(
                        id: ids.next(), authorID: author.id, text: "p\(index)", tags: index == 2 ? ["pick"] : [],
                        visibility: index % 3 == 0 ? .public : .organization, organizationID: index % 2 == 0 ? a.id : b.id,
                        createdAt: t0, updatedAt: t0)
                    _ = try await store.createPost(post, idempotency: nil, now: t0)
                    expected.append(post.id)
                }
                _ = try await store.makePost(by: author.id, ids: ids, text: "no organization")
                let newest = Array(expected.reversed())
                #expect(try await store.organizationPostIDs(organizationIDs: [a.id, b.id], before: nil, limit: 4) == Array(newest.prefix(4)))
                #expect(try await store.organizationPostIDs(organizationIDs: [a.id, b.id], before: newest[3], limit: 10) == Array(newest.dropFirst(4)))
                #expect(try await store.organizationPostIDs(organizationIDs: [], before: nil, limit: 10).isEmpty)
                let onlyA = try await store.organizationPosts(organizationID: a.id, before: nil, limit: 10, filter: FeedFilter())
                #expect(onlyA.map(\.id) == newest.filter { expected.firstIndex(of: $0)! % 2 == 0 })
                let tagged = try await store.organizationPosts(organizationID: a.id, before: nil, limit: 10, filter: FeedFilter(tags: ["pick"]))
                #expect(tagged.map(\.id) == [expected[2]])
            }
        }

        // MARK: Moderation

        @Test func reportsDeduplicateQueueAndResolve() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let reporters = try await store.makeUsers(3, prefix: "reporter", ids: ids)
                let moderator = try await store.makeUser("moderator", ids: ids)
                let held = try await store.makePost(by: author.id, ids: ids, text: "held", status: .pending)
                let reported = try await store.makePost(by: author.id, ids: ids, text: "reported")
                let comment = try await store.makeComment(on: reported.id, by: author.id, ids: ids)

                let first = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[0].id, target: .post(reported.id), reason: "spam", createdAt: t0))
                #expect(first.isNew && first.openReports == 1 && first.report.status == .open)
                let repeated = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[0].id, target: .post(reported.id), reason: "again", createdAt: t0))
                #expect(!repeated.isNew && repeated.report.id == first.report.id && repeated.report.reason == "spam")
                let second = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[1].id, target: .post(reported.id), reason: "rude", createdAt: t0))
                #expect(second.openReports == 2)
                _ = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[2].id, target: .comment(comment.id), reason: "insult", createdAt: t0))
                _ = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[2].id, target: .user(author.id), reason: "bot", createdAt: t0))

                let queue = try await store.moderationQueue(after: nil, limit: 10)
                #expect(queue.map(\.target) == [.post(held.id), .post(reported.id), .comment(comment.id), .user(author.id)])
                #expect(queue.map(\.openReports) == [0, 2, 1, 1])
                let paged = try await store.moderationQueue(after: queue[1].position, limit: 10)
                #expect(paged.map(\.target) == [.comment(comment.id), .user(author.id)])

                let reports = try await store.openReports(targets: [.post(reported.id), .comment(comment.id)], perTarget: 1)
                #expect(reports.map(\.reporterID) == [reporters[2].id, reporters[1].id])

                // A moderator's decision changes the status, is audited and closes the reports.
                let decided = try #require(
                    try await store.moderatePost(
                        ModerationDecision(
                            id: ids.next(), target: .post(reported.id), moderatorID: moderator.id, action: .remove, reason: "spam",
                            createdAt: t0 + 1)))
                #expect(decided.post.moderationStatus == .removed)
                #expect(decided.decision.previousStatus == .approved && decided.decision.newStatus == .removed)
                #expect(try await store.requirePost(reported.id).moderationStatus == .removed)
                let approved = try #require(
                    try await store.moderatePost(
                        ModerationDecision(
                            id: ids.next(), target: .post(held.id), moderatorID: moderator.id, action: .approve, reason: nil, createdAt: t0 + 2)))
                #expect(approved.post.moderationStatus == .approved && approved.decision.previousStatus == .pending)
                #expect(
                    try await store.moderatePost(
                        ModerationDecision(id: ids.next(), target: .post(ids.next()), moderatorID: nil, action: .hold, reason: nil, createdAt: t0))
                        == nil)
                let closed = try await store.recordDecision(
                    ModerationDecision(
                        id: ids.next(), target: .comment(comment.id), moderatorID: moderator.id, action: .dismiss, reason: "fine", createdAt: t0 + 3))
                #expect(closed == 1)
                #expect(try await store.moderationQueue(after: nil, limit: 10).map(\.target) == [.user(author.id)])

                // A hold leaves reports open; a new report after a resolution opens a new one.
                let again = try await store.fileReport(
                    Report(id: ids.next(), reporterID: reporters[0].id, target: .post(reported.id), reason: "still", createdAt: t0 + 4))
                #expect(again.isNew && again.openReports == 1)

                let trail = try await store.moderationDecisions(target: .post(reported.id), before: nil, limit: 10)
                #expect(trail.count == 1 && trail[0].moderatorID == moderator.id && trail[0].reason == "spam" && trail[0].action == .remove)
                let all = try await store.moderationDecisions(target: nil, before: nil, limit: 2)
                #expect(all.count == 2 && all[0].target == .comment(comment.id))
                let older = try await store.moderationDecisions(target: nil, before: all[1].id, limit: 10)
                #expect(older.map(\.target) == [.post(reported.id)])
            }
        }

        // MARK: Search

        @Test func searchFindsPostsAndUsersByWordsTagsAndPrefixes() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice_smith", ids: ids)
                _ = try await store.updateProfile(userID: alice.id, patch: ProfilePatch(displayName: "Alice Wonder"))
                let bob = try await store.makeUser("bob", ids: ids)
                let swift = Post(
                    id: ids.next(), authorID: alice.id, text: "Building servers in Swift is fun", title: "Server notes",
                    tags: ["swift", "server_side"], createdAt: t0, updatedAt: t0)
                _ = try await store.createPost(swift, idempotency: nil, now: t0)
                let rust = try await store.makePost(by: bob.id, ids: ids, text: "Rust and Swift compared", tags: ["rust"])
                let other = try await store.makePost(by: bob.id, ids: ids, text: "Nothing relevant here")

                func posts(_ raw: String) async throws -> [ID] {
                    try await store.searchPosts(try SearchQuery(parsing: raw), offset: 0, limit: 10).map(\.id)
                }
                #expect(Set(try await posts("swift")) == [swift.id, rust.id])
                #expect(try await posts("SWIFT server") == [swift.id])
                #expect(try await posts("#server_side") == [swift.id], "a tag is found by its words")
                #expect(try await posts("rust") == [rust.id])
                #expect(try await posts("relev") == [other.id], "the last word matches as a prefix")
                #expect(try await posts("notes").first == swift.id, "titles are searched")
                #expect(try await posts("absent words").isEmpty)
                #expect(try await posts("\"*) OR NEAR(( -- ';").isEmpty, "query syntax is never interpreted")
                #expect(try await store.searchPosts(SearchQuery(terms: []), offset: 0, limit: 10).isEmpty)

                // Ranked: the title match first; offsets page through the same order.
                let ranked = try await store.searchPosts(try SearchQuery(parsing: "swift"), offset: 0, limit: 10)
                #expect(ranked.first?.id == swift.id && ranked[0].score >= ranked[1].score)
                #expect(try await store.searchPosts(try SearchQuery(parsing: "swift"), offset: 1, limit: 10).map(\.id) == [ranked[1].id])

                // Edits and deletions reach the index.
                _ = try await store.updatePost(id: other.id, patch: PostPatch(text: "Now about kotlin"), now: t0)
                #expect(try await posts("relevant").isEmpty)
                #expect(try await posts("kotlin") == [other.id])
                #expect(try await store.deletePost(id: rust.id))
                #expect(try await posts("rust").isEmpty)

                func users(_ raw: String) async throws -> [ID] {
                    try await store.searchUsers(try SearchQuery(parsing: raw), offset: 0, limit: 10).map(\.id)
                }
                #expect(try await users("alice") == [alice.id])
                #expect(try await users("wonder") == [alice.id], "display names are searched")
                #expect(try await users("smi") == [alice.id], "username parts match as prefixes")
                #expect(try await users("bob") == [bob.id])
                #expect(try await users("carol").isEmpty)
            }
        }

        /// SQLite indexes posts from a queue: changes applied in the background, in order, exactly
        /// once (FTS5's integrity check fails if a removal does not match what was indexed).
        @Test func queuedSearchChangesReachTheIndexInOrder() async throws {
            try await TestStore.with { store in
                guard let sqlite = store as? SQLiteStore else { return }
                let ids = IDGenerator()
                let author = try await store.makeUser("queue_author", ids: ids)
                let kept = try await store.makePost(by: author.id, ids: ids, text: "first draft")
                _ = try await store.updatePost(id: kept.id, patch: PostPatch(text: "second draft"), now: t0)
                _ = try await store.updatePost(id: kept.id, patch: PostPatch(text: "final version", tags: ["edited"]), now: t0)
                let gone = try await store.makePost(by: author.id, ids: ids, text: "short lived")
                _ = try await store.updatePost(id: gone.id, patch: PostPatch(text: "short lived edit"), now: t0)
                #expect(try await store.deletePost(id: gone.id))
                // No search meanwhile: the background indexer empties the queue by itself.
                let deadline = ContinuousClock.now + .seconds(10)
                while try sqlite.searchQueuePending(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                #expect(try sqlite.searchQueuePending() == false)
                try await sqlite.checkSearchIndex()
                func posts(_ raw: String) async throws -> [ID] {
                    try await store.searchPosts(try SearchQuery(parsing: raw), offset: 0, limit: 10).map(\.id)
                }
                #expect(try await posts("final") == [kept.id])
                #expect(try await posts("edited") == [kept.id])
                #expect(try await posts("draft").isEmpty)
                #expect(try await posts("short").isEmpty)
            }
        }

        @Test func importedRowsAreSearchable() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let userID = ids.next()
                _ = try await store.importUsers([
                    NewUser(id: userID, username: "imported", email: "i@example.com", displayName: "Zebra Keeper", passwordHash: nil, createdAt: t0)
                ])
                _ = try await store.importPosts(
                    [Post(id: ids.next(), authorID: userID, text: "giraffes everywhere", createdAt: t0, updatedAt: t0)], policy: FanOutPolicy())
                #expect(try await store.searchUsers(try SearchQuery(parsing: "zebra"), offset: 0, limit: 5).map(\.id) == [userID])
                #expect(try await store.searchPosts(try SearchQuery(parsing: "giraffes"), offset: 0, limit: 5).count == 1)
            }
        }
    }
}
