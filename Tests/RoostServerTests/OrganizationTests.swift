import Foundation
import Logging
import RoostCore
import RoostStorage
import Testing

@testable import RoostServer

extension API {
    /// Creates an organization as `account` and returns its id; throws unless 201.
    func createOrganization(_ account: Account, name: String, kind: String = "university", parent: String? = nil) async throws -> String {
        var body: JSON = ["name": .string(name), "kind": .string(kind)]
        if let parent { body = body.with("parent_id", .string(parent)) }
        let reply = try await post("/organizations", token: account.access, json: body)
        guard reply.code == 201, let id = reply.body["id"]?.string else { throw TestFailure("create organization failed: \(reply)") }
        return id
    }

    /// `admin` adds `member` to the organization; throws unless 200.
    func addMember(_ organization: String, _ member: Account, by admin: Account, role: String = "member") async throws {
        let reply = try await put("/organizations/\(organization)/members/\(member.id)", token: admin.access, json: ["role": .string(role)])
        guard reply.code == 200 else { throw TestFailure("add member failed: \(reply)") }
    }

    /// The ids of every page of a post list as `account` (anonymous when nil) sees it.
    func ids(_ path: String, _ account: Account?) async throws -> [String] {
        try await allPages(path, token: account?.access).compactMap { $0["id"]?.string }
    }

    /// Every home feed algorithm's ids for `account`.
    func homeIDsByAlgorithm(_ account: Account) async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for algorithm in FeedAlgorithm.allCases.map(\.rawValue) {
            result[algorithm] = try await ids("/feeds/home?algorithm=\(algorithm)", account)
        }
        return result
    }
}

/// Organizations, memberships, and the privacy of organization and followers-only posts through
/// every path a post can be seen, on either backend.
@Suite(.timeLimit(.minutes(3)))
struct OrganizationTests {
    @Test("organizations nest; admins (of the organization or an ancestor) manage members; the last admin stays")
    func membership() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            let carol = try await api.register("carol")
            let dave = try await api.register("dave")

            let created = try await api.post("/organizations", token: alice.access, json: ["name": "  Campus University ", "kind": "university"])
            #expect(created.code == 201, "\(created)")
            #expect(created.body["name"] == "Campus University" && created.body["kind"] == "university")
            #expect(created.body["parent_id"] == .null && created.body["member_count"] == 1)
            #expect(created.body["viewer"] == ["role": "admin", "is_member": true, "is_admin": true])
            #expect(isContractTimestamp(created.body["created_at"]))
            let university = try #require(created.body["id"]?.string)

            expectError(try await api.post("/organizations", json: ["name": "x", "kind": "company"]), 401, "unauthorized")
            expectError(
                try await api.post("/organizations", token: alice.access, json: ["name": "x", "kind": "club"]), 400, "validation_failed",
                field: "kind")
            expectError(
                try await api.post("/organizations", token: alice.access, json: ["name": " ", "kind": "company"]), 400, "validation_failed",
                field: "name")
            expectError(
                try await api.post("/organizations", token: alice.access, json: ["name": "Physics", "kind": "department"]), 400,
                "validation_failed", field: "parent_id")
            expectError(
                try await api.post("/organizations", token: alice.access, json: ["name": "P", "kind": "department", "parent_id": "42"]), 400,
                "validation_failed", field: "parent_id")
            expectError(
                try await api.post(
                    "/organizations", token: bob.access, json: ["name": "Rogue", "kind": "department", "parent_id": .string(university)]), 403,
                "forbidden", "only the parent's admins add departments")
            let department = try await api.createOrganization(alice, name: "Physics", kind: "department", parent: university)
            #expect(try await api.get("/organizations/\(department)").body["parent_id"]?.string == university)

            // Reading: anonymous without `viewer`; 404 for unknown and malformed ids.
            let anonymous = try await api.get("/organizations/\(university)")
            #expect(anonymous.code == 200 && !anonymous.body.has("viewer"))
            #expect(try await api.get("/organizations/\(university)", token: bob.access).body["viewer"]?["is_member"] == false)
            expectError(try await api.get("/organizations/123456789"), 404, "not_found")
            expectError(try await api.get("/organizations/abc"), 404, "not_found")

            // Members: only admins add them; roles are validated.
            expectError(
                try await api.put("/organizations/\(university)/members/\(carol.id)", token: bob.access, json: ["role": "member"]), 403,
                "forbidden")
            expectError(
                try await api.put("/organizations/\(university)/members/\(bob.id)", token: alice.access, json: ["role": "owner"]), 400,
                "validation_failed", field: "role")
            expectError(
                try await api.put("/organizations/\(university)/members/987654321", token: alice.access, json: ["role": "member"]), 404,
                "not_found")
            let added = try await api.put("/organizations/\(university)/members/\(bob.id)", token: alice.access, json: ["role": "member"])
            #expect(added.code == 200 && added.body["role"] == "member" && added.body["user"]?["username"] == "bob", "\(added)")
            #expect(added.body["organization_id"]?.string == university && isContractTimestamp(added.body["joined_at"]))
            try await api.addMember(university, dave, by: alice, role: "admin")
            #expect(try await api.get("/organizations/\(university)").body["member_count"] == 3)

            // An admin of the university administers its department without being a member of it.
            try await api.addMember(department, carol, by: dave)
            let seenByDave = try await api.get("/organizations/\(department)", token: dave.access).body["viewer"]
            #expect(seenByDave == ["role": .null, "is_member": false, "is_admin": true])
            // A department member belongs to the university too (sees its posts), not as a direct member.
            let seenByCarol = try await api.get("/organizations/\(university)", token: carol.access).body["viewer"]
            #expect(seenByCarol == ["role": .null, "is_member": true, "is_admin": false])

            // The member list pages newest first.
            let members = try await api.allPages("/organizations/\(university)/members", limit: 1)
            #expect(members.compactMap { $0["user"]?["username"]?.string } == ["dave", "bob", "alice"])
            #expect(members.compactMap { $0["role"]?.string } == ["admin", "member", "admin"])

            // Leaving, removing, and the last admin.
            expectError(try await api.delete("/organizations/\(university)/members/\(dave.id)", token: bob.access), 403, "forbidden")
            #expect(try await api.delete("/organizations/\(university)/members/\(bob.id)", token: bob.access).code == 204, "members may leave")
            #expect(try await api.delete("/organizations/\(university)/members/\(bob.id)", token: alice.access).code == 204, "idempotent")
            #expect(try await api.delete("/organizations/\(university)/members/\(dave.id)", token: alice.access).code == 204)
            expectError(
                try await api.delete("/organizations/\(university)/members/\(alice.id)", token: alice.access), 409, "conflict",
                "the last admin cannot leave")
            expectError(
                try await api.put("/organizations/\(university)/members/\(alice.id)", token: alice.access, json: ["role": "member"]), 409,
                "conflict", "nor step down")
            #expect(try await api.get("/organizations/\(university)").body["member_count"] == 1)

            let mine = try await api.allPages("/me/organizations", token: alice.access)
            #expect(mine.compactMap { $0["organization"]?["name"]?.string } == ["Physics", "Campus University"])
            #expect(mine.allSatisfy { $0["role"] == "admin" })
            expectError(try await api.get("/me/organizations"), 401, "unauthorized")
        }
    }

    @Test("a private organization post is visible to its members and to no one else, through every path")
    func organizationPostPrivacy() async throws {
        try await TestApp.run { api in
            let author = try await api.register("insider")
            let member = try await api.register("colleague")
            let follower = try await api.register("fan")
            let stranger = try await api.register("stranger")
            let moderator = try await api.grantModerator(try await api.register("watchman"))
            let organization = try await api.createOrganization(author, name: "Acme", kind: "company")
            try await api.addMember(organization, member, by: author)
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            for account in [author, member, follower, stranger] { _ = try await api.ids("/feeds/home", account) }

            // Only members may post to the organization.
            expectError(
                try await api.post(
                    "/posts", token: follower.access,
                    json: ["text": "sneaky", "visibility": "organization", "organization_id": .string(organization)]), 403, "forbidden")
            expectError(
                try await api.post("/posts", token: author.access, json: ["text": "t", "visibility": "organization", "organization_id": "99999"]),
                403, "forbidden")
            let post = try await api.createPost(
                author, text: "Quarterly roadmap for @fan and the team",
                extra: ["visibility": "organization", "organization_id": .string(organization), "tags": ["internal"]])
            let id = try #require(post["id"]?.string)
            #expect(post["organization_id"]?.string == organization && post["visibility"] == "organization")
            let public_ = try #require(try await api.createPost(author, text: "Public roadmap news")["id"]?.string)
            try await FeedEngineTests.drainFanOut(api)

            let insiders: [Account] = [author, member]
            let outsiders: [Account?] = [follower, stranger, moderator, nil]

            // Single fetch: a hidden post is a 404 exactly like a missing one.
            for account in insiders { #expect(try await api.get("/posts/\(id)", token: account.access).code == 200) }
            for account in outsiders {
                expectError(try await api.get("/posts/\(id)", token: account?.access), 404, "not_found", "\(account?.username ?? "anonymous")")
            }

            // Home feed, every algorithm: the member gets it by organization (they follow nobody).
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(member) { #expect(ids == [id], "member, \(algorithm)") }
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(author) {
                // Ranked orders may differ (mixed lifts the organization post): the same two posts.
                #expect(ids.count == 2 && Set(ids) == [public_, id], "author, \(algorithm)")
            }
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(follower) { #expect(ids == [public_], "follower, \(algorithm)") }
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(stranger) { #expect(ids.isEmpty, "stranger, \(algorithm)") }

            // The organization feed: members only.
            #expect(try await api.ids("/organizations/\(organization)/feed", member) == [id])
            #expect(try await api.ids("/organizations/\(organization)/feed?tags=internal", author) == [id])
            expectError(try await api.get("/organizations/\(organization)/feed", token: follower.access), 403, "forbidden")
            expectError(try await api.get("/organizations/\(organization)/feed"), 401, "unauthorized")

            // The author's posts, the public feeds.
            #expect(try await api.ids("/users/insider/posts", member) == [public_, id])
            for account in outsiders { #expect(try await api.ids("/users/insider/posts", account) == [public_]) }
            for account in [member, follower, nil] { #expect(try await api.ids("/feeds/recent", account) == [public_]) }
            _ = try await api.put("/posts/\(id)/like", token: member.access)
            _ = try await api.put("/posts/\(public_)/like", token: member.access)
            try await api.services.feeds.refreshTrending(window: "24h")
            for account in [member, follower, nil] { #expect(try await api.ids("/feeds/trending", account) == [public_]) }

            // Search.
            for account in insiders { #expect(try await api.ids("/search?q=quarterly+roadmap", account) == [id]) }
            for account in outsiders { #expect(try await api.ids("/search?q=quarterly+roadmap", account).isEmpty) }
            #expect(Set(try await api.ids("/search?q=roadmap", member)) == [id, public_])
            #expect(try await api.ids("/search?q=roadmap", follower) == [public_])

            // Comments, engagement and reports: outsiders cannot reach the post at all.
            let comment = try await api.post("/posts/\(id)/comments", token: member.access, json: ["text": "On it"])
            #expect(comment.code == 201)
            #expect(try await api.allPages("/posts/\(id)/comments", token: author.access).count == 1)
            for account in outsiders {
                let token = account?.access
                expectError(try await api.get("/posts/\(id)/comments", token: token), 404, "not_found")
                expectError(try await api.post("/posts/\(id)/comments", token: token, json: ["text": "hi"]), account == nil ? 401 : 404,
                    account == nil ? "unauthorized" : "not_found")
                expectError(try await api.put("/posts/\(id)/like", token: token), account == nil ? 401 : 404, account == nil ? "unauthorized" : "not_found")
                expectError(try await api.post("/posts/\(id)/view", token: token), 404, "not_found")
                if let token {
                    expectError(try await api.post("/posts/\(id)/share", token: token), 404, "not_found")
                    expectError(try await api.post("/reports", token: token, json: ["post_id": .string(id), "reason": "x"]), 404, "not_found")
                }
            }
            let commentID = try #require(comment.body["id"]?.string)
            expectError(
                try await api.post("/reports", token: stranger.access, json: ["comment_id": .string(commentID), "reason": "x"]), 404, "not_found")

            // Leaving the organization ends access at once.
            #expect(try await api.delete("/organizations/\(organization)/members/\(member.id)", token: member.access).code == 204)
            expectError(try await api.get("/posts/\(id)", token: member.access), 404, "not_found")
            #expect(try await api.ids("/feeds/home", member).isEmpty)
            #expect(try await api.ids("/search?q=quarterly", member).isEmpty)
            expectError(try await api.get("/organizations/\(organization)/feed", token: member.access), 403, "forbidden")
        }
    }

    @Test("a followers-only post is visible to the author's followers and to no one else, through every path")
    func followersPostPrivacy() async throws {
        try await TestApp.run { api in
            let author = try await api.register("writer")
            let follower = try await api.register("reader")
            let stranger = try await api.register("passerby")
            let post = try await api.createPost(author, text: "Draft chapter for followers", extra: ["visibility": "followers", "tags": ["draft"]])
            let id = try #require(post["id"]?.string)
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            try await FeedEngineTests.drainFanOut(api)

            #expect(try await api.get("/posts/\(id)", token: follower.access).code == 200)
            for account in [stranger, nil] { expectError(try await api.get("/posts/\(id)", token: account?.access), 404, "not_found") }
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(follower) { #expect(ids == [id], "follower, \(algorithm)") }
            for (algorithm, ids) in try await api.homeIDsByAlgorithm(stranger) { #expect(ids.isEmpty, "stranger, \(algorithm)") }
            #expect(try await api.ids("/users/writer/posts", follower) == [id])
            for account in [stranger, nil] { #expect(try await api.ids("/users/writer/posts", account).isEmpty) }
            for account in [follower, stranger, nil] { #expect(try await api.ids("/feeds/recent", account).isEmpty) }
            #expect(try await api.ids("/search?q=chapter", follower) == [id])
            #expect(try await api.ids("/search?q=draft", author) == [id])
            for account in [stranger, nil] { #expect(try await api.ids("/search?q=chapter", account).isEmpty) }
            #expect(try await api.post("/posts/\(id)/comments", token: follower.access, json: ["text": "great"]).code == 201)
            expectError(try await api.get("/posts/\(id)/comments", token: stranger.access), 404, "not_found")
            expectError(try await api.post("/posts/\(id)/comments", token: stranger.access, json: ["text": "hi"]), 404, "not_found")
            expectError(try await api.put("/posts/\(id)/like", token: stranger.access), 404, "not_found")

            // Unfollowing ends access at once.
            _ = try await api.delete("/users/\(author.id)/follow", token: follower.access)
            expectError(try await api.get("/posts/\(id)", token: follower.access), 404, "not_found")
            #expect(try await api.ids("/search?q=chapter", follower).isEmpty)
        }
    }

    @Test("department members see university posts; university members do not see department posts; mixed ranks organization posts up")
    func hierarchyAndRanking() async throws {
        try await TestApp.run { api in
            let dean = try await api.register("dean")
            let student = try await api.register("student")
            let staff = try await api.register("staff")
            let university = try await api.createOrganization(dean, name: "U")
            let department = try await api.createOrganization(dean, name: "D", kind: "department", parent: university)
            try await api.addMember(department, student, by: dean)
            try await api.addMember(university, staff, by: dean)
            let wide = try #require(
                try await api.createPost(
                    dean, text: "University-wide", extra: ["visibility": "organization", "organization_id": .string(university)])["id"]?.string)
            let narrow = try #require(
                try await api.createPost(
                    dean, text: "Department only", extra: ["visibility": "organization", "organization_id": .string(department)])["id"]?.string)
            // A department member may post to the university.
            let fromStudent = try #require(
                try await api.createPost(
                    student, text: "Hello university", extra: ["visibility": "organization", "organization_id": .string(university)])["id"]?.string)

            #expect(try await api.ids("/feeds/home", student) == [fromStudent, narrow, wide])
            #expect(try await api.ids("/feeds/home", staff) == [fromStudent, wide])
            expectError(try await api.get("/posts/\(narrow)", token: staff.access), 404, "not_found")
            #expect(try await api.ids("/organizations/\(university)/feed", student) == [fromStudent, wide])
            expectError(try await api.get("/organizations/\(department)/feed", token: staff.access), 403, "forbidden")

            // Mixed ranking: the organization part of a member's score, explained in `reasons`.
            let stranger = try await api.register("other")
            let followed = try await api.register("friend")
            _ = try await api.put("/users/\(followed.id)/follow", token: staff.access)
            let outside = try #require(try await api.createPost(followed, text: "not organizational")["id"]?.string)
            _ = stranger
            try await FeedEngineTests.drainFanOut(api)
            let mixed = try await api.get("/feeds/home?algorithm=mixed", token: staff.access).body["items"]?.array ?? []
            let organization = Dictionary(
                mixed.compactMap { item in item["id"]?.string.map { ($0, item["reasons"]?["organization"]?.number ?? -1) } },
                uniquingKeysWith: { a, _ in a })
            #expect(organization[wide] == 5 && organization[fromStudent] == 5 && organization[outside] == 0, "\(organization)")
            #expect(mixed.first?["id"]?.string != outside, "organization relevance lifts the newer-but-unrelated post below")
        }
    }
}
