import Foundation
import HTTPTypes
import Testing

@testable import RoostServer

let idempotencyKey = HTTPField.Name("Idempotency-Key")!

func keyed(_ key: String) -> HTTPFields {
    [idempotencyKey: key]
}

/// `Idempotency-Key` on creates, and comments.
@Suite(.timeLimit(.minutes(3)))
struct IdempotencyAndCommentTests {
    @Test("Idempotency-Key on POST /posts replays the first response and creates one post, even when retries race")
    func idempotentPosts() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")

            let first = try await api.post("/posts", token: alice.access, json: ["text": "once"], headers: keyed("key-1"))
            #expect(first.code == 201, "\(first)")
            let retry = try await api.post("/posts", token: alice.access, json: ["text": "once"], headers: keyed("key-1"))
            #expect(retry.code == 201, "\(retry)")
            #expect(retry.bytes == first.bytes, "a retry must return the first body byte for byte")
            // Even with another body, the key decides: nothing new is created.
            let changedBody = try await api.post("/posts", token: alice.access, json: ["text": "twice?"], headers: keyed("key-1"))
            #expect(changedBody.code == 201)
            #expect(changedBody.bytes == first.bytes)
            #expect(try await api.user("alice")["posts_count"]?.int == 1)
            #expect(try await api.get("/users/alice/posts").body["items"]?.array?.count == 1)

            // Another key is another post; the same key of another user is that user's own key.
            let second = try await api.post("/posts", token: alice.access, json: ["text": "second"], headers: keyed("key-2"))
            #expect(second.code == 201)
            #expect(second.body["id"] != first.body["id"])
            let bobsFirst = try await api.post("/posts", token: bob.access, json: ["text": "bob once"], headers: keyed("key-1"))
            #expect(bobsFirst.code == 201)
            #expect(bobsFirst.body["author"]?["id"]?.string == bob.id)
            #expect(bobsFirst.body["id"] != first.body["id"])
            #expect(try await api.user("alice")["posts_count"]?.int == 2)

            // Ten racing requests with one key: one post, one body.
            let racing = try await concurrently(10) { _ in
                try await api.post("/posts", token: bob.access, json: ["text": "racing"], headers: keyed("race-key"))
            }
            #expect(racing.allSatisfy { $0.code == 201 }, "\(racing.map(\.code))")
            let racingIDs = Set(racing.compactMap { $0.body["id"]?.string })
            #expect(racingIDs.count == 1, "racing retries created \(racingIDs.count) posts")
            // The same body; compared as JSON because a retry that races the first request may be rendered anew.
            #expect(Set(racing.compactMap(\.json)).count == 1, "racing retries must all get the first body: \(Set(racing.map(\.text)))")
            #expect(try await api.user("bob")["posts_count"]?.int == 2)
            #expect(try await api.get("/users/bob/posts").body["items"]?.array?.count == 2)

            // Key rules.
            expectError(
                try await api.post("/posts", token: bob.access, json: ["text": "long key"], headers: keyed(String(repeating: "k", count: 256))),
                400, "validation_failed")
            // A failed create does not burn the key.
            let invalid = try await api.post("/posts", token: bob.access, json: ["text": ""], headers: keyed("fix-me"))
            expectError(invalid, 400, "validation_failed", field: "text")
            let fixed = try await api.post("/posts", token: bob.access, json: ["text": "fixed"], headers: keyed("fix-me"))
            #expect(fixed.code == 201, "\(fixed)")
            #expect(fixed.body["text"]?.string == "fixed")
        }
    }

    @Test("Idempotency-Key on POST /posts/{id}/comments replays the first response and creates one comment")
    func idempotentComments() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            let postID = try #require(try await api.createPost(alice, text: "discuss")["id"]?.string)
            let otherPostID = try #require(try await api.createPost(alice, text: "elsewhere")["id"]?.string)

            let first = try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "first!"], headers: keyed("c-1"))
            #expect(first.code == 201, "\(first)")
            let retry = try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "first!"], headers: keyed("c-1"))
            #expect(retry.code == 201)
            #expect(retry.bytes == first.bytes)
            #expect(try await api.get("/posts/\(postID)").body["comment_count"]?.int == 1)

            // The same key on another post is another key.
            let elsewhere = try await api.post("/posts/\(otherPostID)/comments", token: bob.access, json: ["text": "first!"], headers: keyed("c-1"))
            #expect(elsewhere.code == 201)
            #expect(elsewhere.body["post_id"]?.string == otherPostID)
            #expect(elsewhere.body["id"] != first.body["id"])

            let racing = try await concurrently(10) { _ in
                try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "racing"], headers: keyed("c-race"))
            }
            #expect(racing.allSatisfy { $0.code == 201 }, "\(racing.map(\.code))")
            #expect(Set(racing.compactMap { $0.body["id"]?.string }).count == 1)
            #expect(Set(racing.compactMap(\.json)).count == 1, "racing retries must all get the first body: \(Set(racing.map(\.text)))")
            #expect(try await api.get("/posts/\(postID)").body["comment_count"]?.int == 2)
            #expect(try await api.get("/posts/\(postID)/comments").body["items"]?.array?.count == 2)
            #expect(try await api.get("/posts/\(otherPostID)").body["comment_count"]?.int == 1)
        }
    }

    @Test("comments: replies, oldest first, paging, delete by author only, comment_count")
    func commentThreads() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            let carol = try await api.register("carol")
            let postID = try #require(try await api.createPost(alice, text: "thread")["id"]?.string)

            let top = try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "  top level  "])
            #expect(top.code == 201, "\(top)")
            #expect(top.body["text"]?.string == "top level")
            #expect(top.body["post_id"]?.string == postID)
            #expect(top.body["parent_id"] == .null)
            #expect(top.body["author"]?["id"]?.string == bob.id)
            #expect(top.body["author"]?.has("email") == false)
            #expect(top.body["like_count"]?.int == 0)
            #expect(isContractTimestamp(top.body["created_at"]))
            let topID = try #require(top.body["id"]?.string)

            let reply = try await api.post("/posts/\(postID)/comments", token: carol.access, json: ["text": "a reply", "parent_id": .string(topID)])
            #expect(reply.code == 201, "\(reply)")
            #expect(reply.body["parent_id"]?.string == topID)
            let replyID = try #require(reply.body["id"]?.string)
            let nested = try await api.post("/posts/\(postID)/comments", token: alice.access, json: ["text": "nested", "parent_id": .string(replyID)])
            #expect(nested.code == 201)
            let own = try await api.post("/posts/\(postID)/comments", token: alice.access, json: ["text": "author speaks"])
            #expect(own.code == 201)
            let ownID = try #require(own.body["id"]?.string)
            let carolsOwn = try await api.post("/posts/\(postID)/comments", token: carol.access, json: ["text": "carol again"])
            #expect(carolsOwn.code == 201)

            // Bad comments.
            expectError(try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "   "]), 400, "validation_failed", field: "text")
            expectError(
                try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": .string(String(repeating: "c", count: 5001))]),
                400, "validation_failed", field: "text")
            expectError(try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["parent_id": .string(topID)]), 400, "validation_failed", field: "text")
            let orphan = try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "orphan", "parent_id": "123456789"])
            #expect(orphan.code == 400 || orphan.code == 404, "a reply to a missing comment: \(orphan)")
            #expect(orphan.hasErrorShape)
            expectError(
                try await api.post("/posts/\(postID)/comments", token: bob.access, json: ["text": "x", "parent_id": "not-an-id"]), 400,
                "validation_failed", field: "parent_id")
            expectError(try await api.post("/posts/\(postID)/comments", json: ["text": "anonymous"]), 401, "unauthorized")
            expectError(try await api.post("/posts/123456789/comments", token: bob.access, json: ["text": "nowhere"]), 404, "not_found")
            expectError(try await api.get("/posts/123456789/comments"), 404, "not_found")

            // Oldest first, paged.
            let all = try await api.allPages("/posts/\(postID)/comments", limit: 2)
            let ids = all.compactMap { numericID($0["id"]) }
            #expect(ids.count == 5)
            #expect(ids == ids.sorted(), "comments are listed oldest first")
            #expect(Set(ids).count == ids.count)
            #expect(all.first?["id"]?.string == topID)
            #expect(try await api.get("/posts/\(postID)").body["comment_count"]?.int == 5)

            // Only the author deletes.
            expectError(try await api.delete("/comments/\(topID)", token: carol.access), 403, "forbidden")
            expectError(try await api.delete("/comments/\(topID)", token: alice.access), 403, "forbidden", "the post's author is not the comment's author:")
            expectError(try await api.delete("/comments/\(topID)"), 401, "unauthorized")
            let deleteOwn = try await api.delete("/comments/\(ownID)", token: alice.access)
            #expect(deleteOwn.code == 204, "\(deleteOwn)")
            let deleteTop = try await api.delete("/comments/\(topID)", token: bob.access)
            #expect(deleteTop.code == 204, "\(deleteTop)")
            expectError(try await api.delete("/comments/\(topID)", token: bob.access), 404, "not_found")
            expectError(try await api.delete("/comments/abc", token: bob.access), 404, "not_found")
            expectError(try await api.delete("/comments/99999999999999999999999", token: bob.access), 404, "not_found")

            let remaining = try await api.allPages("/posts/\(postID)/comments", limit: 50)
            let remainingIDs = remaining.compactMap { $0["id"]?.string }
            #expect(!remainingIDs.contains(topID))
            #expect(!remainingIDs.contains(ownID))
            #expect(remainingIDs.contains(carolsOwn.body["id"]?.string ?? "?"))
            #expect(
                try await api.get("/posts/\(postID)").body["comment_count"]?.int == remaining.count,
                "comment_count must match the comments that remain (\(remainingIDs))")
        }
    }
}
