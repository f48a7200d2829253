import Foundation
import HummingbirdTesting
import RoostCore
import Testing

@testable import RoostServer

/// The safety rules on the realtime paths — streams and notifications — with real clients against a
/// live server, on either backend.
@Suite(.timeLimit(.minutes(3)))
struct SafetyRealtimeTests {
    @Test("streams: an organization post reaches members, members of its sub-organizations too, never a non-member who follows the author or asks for its counts")
    func organizationStreams() async throws {
        try await TestApp.run(setup: .live, configure: RealtimeTests.fast) { api in
            let port = try RealtimeTests.port(api)
            let author = try await api.register("announcer")
            let member = try await api.register("teammate")
            let outsider = try await api.register("fanclub")
            let colleague = try await api.register("colleague")
            let organization = try await api.createOrganization(author, name: "Team", kind: "company")
            try await api.addMember(organization, member, by: author)
            // A member of a department of the organization, following nobody.
            let department = try await api.createOrganization(author, name: "Unit", kind: "department", parent: organization)
            try await api.addMember(department, colleague, by: author)
            for account in [member, outsider] { _ = try await api.put("/users/\(author.id)/follow", token: account.access) }
            let memberStream = try await WebSocketTestClient.connect(port: port, token: member.access)
            let outsiderStream = try await WebSocketTestClient.connect(port: port, token: outsider.access)
            let outsiderSSE = try await SSETestClient.connect(port: port, token: outsider.access)
            let colleagueStream = try await SSETestClient.connect(port: port, token: colleague.access)

            let teamPost = try #require(
                try await api.createPost(
                    author, text: "team only", extra: ["visibility": "organization", "organization_id": .string(organization)])["id"]?.string)
            try await memberStream.inbox.waitForPost(teamPost)
            try await colleagueStream.inbox.waitForPost(teamPost)
            try await outsiderStream.inbox.expectNone("an organization post for a non-member") { $0["event"] == "post.created" }
            #expect(outsiderSSE.inbox.events("post.created").isEmpty)

            // Subscribing to a post's counts requires seeing it.
            let counts = try await SSETestClient.connect(port: port, token: outsider.access, query: "post_ids=\(teamPost)")
            _ = try await api.put("/posts/\(teamPost)/like", token: member.access)
            try await Task.sleep(for: .milliseconds(300))
            #expect(counts.inbox.events("post.counts").isEmpty)

            for stream in [memberStream, outsiderStream] { await stream.close() }
            await outsiderSSE.close()
            await colleagueStream.close()
            await counts.close()
        }
    }

    @Test("notifications about an organization post reach only those who can see it")
    func organizationNotifications() async throws {
        try await TestApp.run { api in
            let author = try await api.register("insider")
            let member = try await api.register("colleague")
            let follower = try await api.register("fan")
            let organization = try await api.createOrganization(author, name: "Acme", kind: "company")
            try await api.addMember(organization, member, by: author)
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            let id = try #require(
                try await api.createPost(
                    author, text: "Quarterly roadmap for @fan and @colleague",
                    extra: ["visibility": "organization", "organization_id": .string(organization)])["id"]?.string)
            _ = try await api.put("/posts/\(id)/like", token: member.access)
            #expect(try await api.post("/posts/\(id)/comments", token: member.access, json: ["text": "On it"]).code == 201)

            // Notifications: the author hears of the member's like and comment; the mentioned
            // outsider hears nothing about a post they cannot see.
            let deadline = ContinuousClock.now + .seconds(5)
            var authorNotes: [JSON] = []
            while ContinuousClock.now < deadline {
                authorNotes = try await api.allPages("/notifications", token: author.access)
                if Set(authorNotes.compactMap { $0["type"]?.string }).isSuperset(of: ["like", "comment"]) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let types = Set(authorNotes.compactMap { $0["type"]?.string })
            #expect(types.isSuperset(of: ["like", "comment"]), "\(authorNotes)")
            try await Task.sleep(for: .milliseconds(300))
            let outsiderNotes = try await api.allPages("/notifications", token: follower.access)
            #expect(!outsiderNotes.contains { $0["post_id"]?.string == id }, "\(outsiderNotes)")
            let memberNotes = try await api.allPages("/notifications", token: member.access)
            #expect(memberNotes.contains { $0["type"] == "mention" && $0["post_id"]?.string == id }, "\(memberNotes)")
        }
    }

    @Test("removal reaches streams as post.deleted; approval of a held post as post.created")
    func moderationStreams() async throws {
        try await TestApp.run(setup: .live, configure: { ModerationTests.configure(&$0); RealtimeTests.fast(&$0) }) { api in
            let port = try RealtimeTests.port(api)
            let author = try await api.register("streamed")
            let follower = try await api.register("listener")
            let moderator = try await api.grantModerator(try await api.register("referee"))
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            let stream = try await WebSocketTestClient.connect(port: port, token: follower.access)

            let shouting = try #require(try await api.createPost(author, text: "THIS IS A VERY LOUD ANNOUNCEMENT")["id"]?.string)
            try await stream.inbox.expectNone("a held post") { $0["event"] == "post.created" }
            _ = try await api.post("/moderation/posts/\(shouting)", token: moderator.access, json: ["action": "approve"])
            try await stream.inbox.waitForPost(shouting)

            _ = try await api.post("/moderation/posts/\(shouting)", token: moderator.access, json: ["action": "remove"])
            try await stream.inbox.waitFor("post.deleted") { $0["event"] == "post.deleted" && $0["post_id"]?.string == shouting }
            await stream.close()
        }
    }
}
