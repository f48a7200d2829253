import Foundation
import RoostCore
import Testing

@testable import RoostServer

/// `GET /notifications`, `POST /notifications/read` and who is notified of what, on either backend.
/// Notifications are written asynchronously after the change commits, so tests wait for them.
@Suite(.timeLimit(.minutes(2)))
struct NotificationTests {
    /// The account's notifications (all pages) once there are at least `count`, newest first.
    static func notifications(
        _ api: API, _ account: Account, atLeast count: Int, timeout: Duration = .seconds(5), sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [JSON] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let items = try await api.allPages("/notifications", token: account.access, sourceLocation: sourceLocation)
            if items.count >= count || ContinuousClock.now >= deadline { return items }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    /// Waits until the notification writer has nothing queued, then a moment for its transaction.
    static func settle(_ api: API) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while api.services.events.notificationQueue.count > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))
    }

    @Test("follow, like, comment, share and mention notify; nobody is notified of their own actions")
    func everyKind() async throws {
        try await TestApp.run { api in
            let author = try await api.register("noted")
            let actor = try await api.register("doer")
            let friend = try await api.register("friend_of")
            _ = try await api.put("/users/\(author.id)/follow", token: actor.access)
            let post = try #require(try await api.createPost(author, text: "hello @friend_of and @noted")["id"]?.string)
            _ = try await api.put("/posts/\(post)/like", token: actor.access)
            let comment = try await api.post("/posts/\(post)/comments", token: actor.access, json: ["text": "well said"])
            let commentID = try #require(comment.body["id"]?.string)
            _ = try await api.post("/posts/\(post)/share", token: actor.access)
            // Own actions: none of these notify the author.
            _ = try await api.put("/posts/\(post)/like", token: author.access)
            _ = try await api.post("/posts/\(post)/comments", token: author.access, json: ["text": "thanks, me"])
            _ = try await api.post("/posts/\(post)/share", token: author.access)

            let items = try await Self.notifications(api, author, atLeast: 4)
            try await Self.settle(api)
            let settled = try await api.allPages("/notifications", token: author.access)
            #expect(settled.count == 4, "\(settled.map(\.encodedText))")
            #expect(items.compactMap { $0["type"]?.string } == ["share", "comment", "like", "follow"])
            for item in items {
                #expect(item["actor"]?["id"]?.string == actor.id)
                #expect(item["actor"]?["username"]?.string == "doer")
                #expect(item["actor"]?["display_name"] != nil && item["actor"]?.has("avatar_url") == true)
                #expect(item["actor"]?.has("email") == false)
                #expect(item["read"]?.bool == false)
                #expect(isContractTimestamp(item["created_at"]))
                #expect(numericID(item["id"]) != nil)
                #expect(item.has("post_id") && item.has("comment_id"))
            }
            #expect(items[0]["post_id"]?.string == post)
            #expect(items[1]["comment_id"]?.string == commentID)
            #expect(items[3]["post_id"] == .null && items[3]["comment_id"] == .null)

            let mentions = try await Self.notifications(api, friend, atLeast: 1)
            #expect(mentions.count == 1)
            #expect(mentions.first?["type"]?.string == "mention")
            #expect(mentions.first?["actor"]?["username"]?.string == "noted")
            #expect(mentions.first?["post_id"]?.string == post)
            #expect(try await api.allPages("/notifications", token: actor.access).isEmpty)
        }
    }

    @Test("like, unlike, like notifies once; follow, unfollow, follow too")
    func noSpam() async throws {
        try await TestApp.run { api in
            let author = try await api.register("spammed")
            let fickle = try await api.register("fickle")
            let post = try #require(try await api.createPost(author, text: "steady")["id"]?.string)
            for _ in 0..<3 {
                _ = try await api.put("/posts/\(post)/like", token: fickle.access)
                _ = try await api.delete("/posts/\(post)/like", token: fickle.access)
                _ = try await api.put("/users/\(author.id)/follow", token: fickle.access)
                _ = try await api.delete("/users/\(author.id)/follow", token: fickle.access)
            }
            _ = try await Self.notifications(api, author, atLeast: 2)
            try await Self.settle(api)
            let items = try await api.allPages("/notifications", token: author.access)
            #expect(items.compactMap { $0["type"]?.string }.sorted() == ["follow", "like"])
        }
    }

    @Test("a follow's notification commits with the follow: listed and counted as soon as the follow answers")
    func followNotificationCommitsWithTheFollow() async throws {
        try await TestApp.run { api in
            let star = try await api.register("instant_star")
            let fan = try await api.register("instant_fan")
            #expect(try await api.put("/users/\(star.id)/follow", token: fan.access).body["following"]?.bool == true)
            // No waiting: the notification was in the follow's transaction.
            let items = try await api.allPages("/notifications", token: star.access)
            #expect(items.compactMap { $0["type"]?.string } == ["follow"])
            #expect(items.first?["actor"]?["id"]?.string == fan.id)
            #expect(try await api.get("/notifications/unread_count", token: star.access).body["unread_count"]?.int == 1)
            #expect(api.services.events.notificationQueue.count == 0, "follows are not queued for the notification writer")
        }
    }

    @Test("mentions reach existing accounts that may see the post; replies notify the parent comment's author")
    func mentionsAndReplies() async throws {
        try await TestApp.run { api in
            let author = try await api.register("mentioner")
            let follower = try await api.register("insider")
            let outsider = try await api.register("outsider")
            let replier = try await api.register("replier")
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            // Followers-only: the outsider is named but may not see it; unknown names, e-mail
            // addresses and the author are ignored.
            let hidden = try #require(
                try await api.createPost(
                    author, text: "@insider @OUTSIDER @nobody_here mail@insider.example @mentioner",
                    extra: ["visibility": "followers"])["id"]?.string)
            let mention = try await Self.notifications(api, follower, atLeast: 1)
            #expect(mention.map { $0["post_id"]?.string } == [hidden])

            // In a comment: a mention with the comment's id. A reply notifies the comment replied to.
            let open = try #require(try await api.createPost(author, text: "open thread")["id"]?.string)
            let first = try #require(
                try await api.post("/posts/\(open)/comments", token: follower.access, json: ["text": "first, cc @outsider"]).body["id"]?.string)
            let reply = try #require(
                try await api.post("/posts/\(open)/comments", token: replier.access, json: ["text": "a reply", "parent_id": .string(first)])
                    .body["id"]?.string)
            let outsiders = try await Self.notifications(api, outsider, atLeast: 1)
            #expect(outsiders.count == 1)
            #expect(outsiders.first?["type"]?.string == "mention" && outsiders.first?["comment_id"]?.string == first)
            let replies = try await Self.notifications(api, follower, atLeast: 2)
            #expect(replies.first?["type"]?.string == "comment" && replies.first?["comment_id"]?.string == reply)
            #expect(replies.first?["actor"]?["username"]?.string == "replier")
            try await Self.settle(api)
            let authorItems = try await api.allPages("/notifications", token: author.access)
            #expect(authorItems.compactMap { $0["type"]?.string } == ["comment", "comment", "follow"], "two comments on the author's post")
            #expect(try await api.allPages("/notifications", token: outsider.access).count == 1)
        }
    }

    @Test("pages with cursors, marks read up to an id, counts unread; validated like every list")
    func pagingAndRead() async throws {
        try await TestApp.run { api in
            let star = try await api.register("followed_lots")
            let fans = try await api.registerMany(23, prefix: "fanboy")
            for fan in fans { _ = try await api.put("/users/\(star.id)/follow", token: fan.access) }
            let all = try await Self.notifications(api, star, atLeast: 23)
            #expect(all.count == 23)
            let ids = all.compactMap { numericID($0["id"]) }
            #expect(ids == ids.sorted(by: >), "newest first")
            #expect(Set(ids).count == ids.count)

            let page = try await api.get("/notifications?limit=10", token: star.access)
            #expect(page.body["items"]?.array?.count == 10 && page.body["has_more"] == true)
            let cursor = try #require(page.body["next_cursor"]?.string)
            let next = try await api.get("/notifications?limit=10&cursor=\(cursor)", token: star.access)
            #expect(next.body["items"]?[0]?["id"] == all[10]["id"])
            expectError(try await api.get("/notifications?cursor=\(cursor)x", token: star.access), 400, "invalid_cursor")
            let fan = fans[0]
            expectError(try await api.get("/notifications?cursor=\(cursor)", token: fan.access), 400, "invalid_cursor", "another viewer's cursor")
            expectError(try await api.get("/notifications?limit=0", token: star.access), 400, "validation_failed", field: "limit")
            expectError(try await api.get("/notifications"), 401, "unauthorized")

            #expect(try await api.get("/notifications/unread_count", token: star.access).body["unread_count"]?.int == 23)
            let upTo = try #require(all[9]["id"]?.string)
            let read = try await api.post("/notifications/read", token: star.access, json: ["up_to_id": .string(upTo)])
            #expect(read.code == 204 && read.bytes.isEmpty)
            let after = try await api.allPages("/notifications", token: star.access)
            #expect(after.prefix(9).allSatisfy { $0["read"]?.bool == false })
            #expect(after.dropFirst(9).allSatisfy { $0["read"]?.bool == true })
            #expect(try await api.get("/notifications/unread_count", token: star.access).body["unread_count"]?.int == 9)
            // Idempotent, and only the caller's own notifications.
            #expect(try await api.post("/notifications/read", token: star.access, json: ["up_to_id": .string(upTo)]).code == 204)
            #expect(try await api.post("/notifications/read", token: fan.access, json: ["up_to_id": "99999999999999999"]).code == 204)
            #expect(try await api.get("/notifications/unread_count", token: star.access).body["unread_count"]?.int == 9)

            expectError(try await api.post("/notifications/read", token: star.access, json: [:]), 400, "validation_failed", field: "up_to_id")
            expectError(
                try await api.post("/notifications/read", token: star.access, json: ["up_to_id": "abc"]), 400, "validation_failed",
                field: "up_to_id")
            expectError(try await api.post("/notifications/read", json: ["up_to_id": .string(upTo)]), 401, "unauthorized")
        }
    }

    @Test("notifications about a deleted post go with it; one the recipient may no longer see is hidden")
    func deletionAndVisibility() async throws {
        try await TestApp.run { api in
            let author = try await api.register("eraser")
            let fan = try await api.register("ex_fan")
            _ = try await api.put("/users/\(author.id)/follow", token: fan.access)
            let gone = try #require(try await api.createPost(author, text: "ephemeral")["id"]?.string)
            _ = try await api.put("/posts/\(gone)/like", token: fan.access)
            let hidden = try #require(
                try await api.createPost(author, text: "dear @ex_fan", extra: ["visibility": "followers"])["id"]?.string)
            _ = try await Self.notifications(api, author, atLeast: 2)
            #expect(try await Self.notifications(api, fan, atLeast: 1).first?["post_id"]?.string == hidden)

            #expect(try await api.delete("/posts/\(gone)", token: author.access).code == 204)
            let remaining = try await api.allPages("/notifications", token: author.access)
            #expect(remaining.compactMap { $0["type"]?.string } == ["follow"], "the like of the deleted post is gone")
            #expect(try await api.get("/notifications/unread_count", token: author.access).body["unread_count"]?.int == 1)

            _ = try await api.delete("/users/\(author.id)/follow", token: fan.access)
            #expect(try await api.allPages("/notifications", token: fan.access).isEmpty, "the post is no longer visible to them")
        }
    }
}
