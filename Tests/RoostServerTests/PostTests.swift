import Foundation
import Testing

@testable import RoostServer

/// Post validation, editing, deletion, ids in paths and followers-only visibility.
@Suite(.timeLimit(.minutes(3)))
struct PostTests {
    @Test("POST /posts validates every field per the contract")
    func createValidation() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            func create(_ body: JSON) async throws -> Reply { try await api.post("/posts", token: alice.access, json: body) }

            // text
            expectError(try await create(["text": ""]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": " \n\t "]), 400, "validation_failed", field: "text", "whitespace only:")
            expectError(try await create([:]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": nil]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": 5]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": .string(String(repeating: "a", count: 5001))]), 400, "validation_failed", field: "text")
            let family = "👨‍👩‍👧"  // one grapheme, five scalars
            expectError(try await create(["text": .string(String(repeating: family, count: 5001))]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": .string(String(repeating: "e\u{301}", count: 5001))]), 400, "validation_failed", field: "text")
            expectError(try await create(["text": "nul \u{0} inside"]), 400, "validation_failed", field: "text")

            // tags
            let eleven: JSON = .array((0..<11).map { .string("t\($0)") })
            expectError(try await create(["text": "t", "tags": eleven]), 400, "validation_failed", field: "tags")
            for bad: JSON in ["bad-tag", "", "with space", "ünïcode", .string(String(repeating: "t", count: 51)), "#hash"] {
                expectError(try await create(["text": "t", "tags": [bad]]), 400, "validation_failed", field: "tags", "tag \(bad):")
            }
            expectError(try await create(["text": "t", "tags": "notalist"]), 400, "validation_failed", field: "tags")
            expectError(try await create(["text": "t", "tags": [1, 2]]), 400, "validation_failed", field: "tags")

            // media
            let image: JSON = ["url": "https://img.example.com/1.png", "type": "image"]
            expectError(try await create(["text": "t", "media": [image, image, image, image, image]]), 400, "validation_failed", field: "media")
            for url: JSON in ["ftp://example.com/a.png", "javascript:alert(1)", "data:image/png;base64,AAAA", "not a url", "", "https://"] {
                expectError(
                    try await create(["text": "t", "media": [["url": url, "type": "image"]]]), 400, "validation_failed", field: "media", "url \(url):")
            }
            expectError(
                try await create(["text": "t", "media": [["url": "https://example.com/a.mp3", "type": "audio"]]]), 400, "validation_failed",
                field: "media")
            expectError(try await create(["text": "t", "media": [["type": "image"]]]), 400, "validation_failed", field: "media")

            // other fields
            expectError(try await create(["text": "t", "visibility": "secret"]), 400, "validation_failed", field: "visibility")
            expectError(try await create(["text": "t", "title": .string(String(repeating: "T", count: 301))]), 400, "validation_failed", field: "title")
            expectError(try await create(["text": "t", "asset_type": "bad type!"]), 400, "validation_failed", field: "asset_type")
            expectError(try await create(["text": "t", "visibility": "organization"]), 400, "validation_failed", field: "organization_id")
            expectError(try await create(["text": "t", "visibility": "organization", "organization_id": "123456"]), 403, "forbidden")
            let unknownInspiration = try await create(["text": "t", "inspired_by_post_id": "123456"])
            #expect(unknownInspiration.code == 400 || unknownInspiration.code == 404, "inspired by a missing post: \(unknownInspiration)")
            #expect(unknownInspiration.hasErrorShape)

            #expect(try await api.user("alice")["posts_count"]?.int == 0, "rejected posts must not be counted")
            #expect(try await api.get("/feeds/recent").body["items"]?.array?.isEmpty == true)

            // Accepted edge cases, each by its own author (posts are rate-limited per user).
            let writers = try await api.registerMany(6, prefix: "writer")
            let trimmed = try await api.createPost(writers[0], text: "\n  hi there \t ")
            #expect(trimmed["text"]?.string == "hi there")
            let families = try await api.createPost(writers[1], text: String(repeating: family, count: 5000))
            #expect(families["text"]?.string == String(repeating: family, count: 5000), "5000 graphemes are allowed, whatever their byte size")
            let combining = try await api.createPost(writers[2], text: String(repeating: "e\u{301}", count: 5000))
            #expect(combining["text"]?.string?.count == 5000)
            let full = try await api.createPost(
                writers[3], text: "full",
                extra: [
                    "title": "  A title  ", "description": "desc", "tags": .array((0..<10).map { .string("Tag_\($0)") }),
                    "media": [image, image, ["url": "http://v.example.com/v.mp4", "type": "video"], image], "asset_type": "Article",
                ])
            #expect(full["title"]?.string == "A title")
            #expect(full["tags"] == .array((0..<10).map { .string("tag_\($0)") }), "tags are stored lower-case")
            #expect(full["media"]?.array?.count == 4)
            #expect(full["media"]?[2] == ["url": "http://v.example.com/v.mp4", "type": "video"])
            let html = try await api.createPost(writers[4], text: "<script>alert('x')</script> & <b>bold</b>")
            #expect(html["text"]?.string == "<script>alert('x')</script> & <b>bold</b>", "text is stored as written")
            let inspiredBy = try #require(trimmed["id"]?.string)
            let inspired = try await api.createPost(writers[5], text: "inspired", extra: ["inspired_by_post_id": .string(inspiredBy)])
            #expect(inspired["inspired_by_post_id"]?.string == inspiredBy)
            // Read back through GET.
            let fetched = try await api.get("/posts/\(full["id"]?.string ?? "?")")
            #expect(fetched.body["tags"] == full["tags"])
            #expect(fetched.body["title"]?.string == "A title")
        }
    }

    @Test("PATCH and DELETE /posts/{id}: author only, validated; malformed ids are 404")
    func editAndDelete() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            let post = try await api.createPost(alice, text: "original", extra: ["title": "Title", "tags": ["one"]])
            let postID = try #require(post["id"]?.string)

            expectError(try await api.patch("/posts/\(postID)", token: bob.access, json: ["text": "hijacked"]), 403, "forbidden")
            expectError(try await api.patch("/posts/\(postID)", json: ["text": "anonymous"]), 401, "unauthorized")
            expectError(try await api.patch("/posts/\(postID)", token: alice.access, json: ["text": "  "]), 400, "validation_failed", field: "text")
            expectError(try await api.patch("/posts/\(postID)", token: alice.access, json: ["text": nil]), 400, "validation_failed", field: "text")
            expectError(
                try await api.patch("/posts/\(postID)", token: alice.access, json: ["tags": .array((0..<11).map { .string("t\($0)") })]), 400,
                "validation_failed", field: "tags")
            expectError(try await api.patch("/posts/\(postID)", token: alice.access, json: ["tags": ["b@d"]]), 400, "validation_failed", field: "tags")
            #expect(try await api.get("/posts/\(postID)").body["text"]?.string == "original", "rejected edits change nothing")

            let edited = try await api.patch("/posts/\(postID)", token: alice.access, json: ["text": "  edited  ", "tags": ["New", "TAGS"], "title": nil])
            #expect(edited.code == 200, "\(edited)")
            #expect(edited.body["text"]?.string == "edited")
            #expect(edited.body["tags"] == ["new", "tags"])
            #expect(edited.body["title"] == .null)
            #expect(edited.body["id"]?.string == postID)
            let reread = try await api.get("/posts/\(postID)")
            #expect(reread.body["text"]?.string == "edited")
            #expect(reread.body["tags"] == ["new", "tags"])
            let filtered = try await api.get("/feeds/recent?tags=new")
            #expect(filtered.body["items"]?.array?.compactMap { $0["id"]?.string } == [postID], "the tag filter sees edited tags")
            #expect(try await api.get("/feeds/recent?tags=one").body["items"]?.array?.isEmpty == true)

            expectError(try await api.delete("/posts/\(postID)", token: bob.access), 403, "forbidden")
            expectError(try await api.delete("/posts/\(postID)"), 401, "unauthorized")
            let deleted = try await api.delete("/posts/\(postID)", token: alice.access)
            #expect(deleted.code == 204, "\(deleted)")
            expectError(try await api.get("/posts/\(postID)"), 404, "not_found")
            expectError(try await api.get("/posts/\(postID)", token: alice.access), 404, "not_found")
            expectError(try await api.delete("/posts/\(postID)", token: alice.access), 404, "not_found")
            expectError(try await api.patch("/posts/\(postID)", token: alice.access, json: ["text": "ghost"]), 404, "not_found")
            expectError(try await api.put("/posts/\(postID)/like", token: bob.access), 404, "not_found")
            expectError(try await api.get("/posts/\(postID)/comments"), 404, "not_found")
            #expect(try await api.user("alice")["posts_count"]?.int == 0)
            #expect(try await api.get("/feeds/recent").body["items"]?.array?.isEmpty == true)
            #expect(try await api.get("/users/alice/posts").body["items"]?.array?.isEmpty == true)

            for bad in ["abc", "99999999999999999999999", "18446744073709551616", "-1", "1.0", "0x10", "%20", "12abc", "0"] {
                expectError(try await api.get("/posts/\(bad)"), 404, "not_found", "GET /posts/\(bad):")
                expectError(try await api.patch("/posts/\(bad)", token: alice.access, json: ["text": "x"]), 404, "not_found", "PATCH /posts/\(bad):")
                expectError(try await api.delete("/posts/\(bad)", token: alice.access), 404, "not_found", "DELETE /posts/\(bad):")
            }
            expectError(try await api.get("/users/99999999999999999999999"), 404, "not_found")
            expectError(try await api.get("/users/99999999999999999999999/posts"), 404, "not_found")
        }
    }

    @Test("followers-only posts are visible to followers and the author, and a 404 for everyone else")
    func followersOnlyVisibility() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")  // follows alice
            let carol = try await api.register("carol")  // does not
            #expect(try await api.put("/users/alice/follow", token: bob.access).code == 200)

            let publicPost = try await api.createPost(alice, text: "for everyone")
            let secret = try await api.createPost(alice, text: "for followers", extra: ["visibility": "followers"])
            #expect(secret["visibility"]?.string == "followers")
            let publicID = try #require(publicPost["id"]?.string)
            let secretID = try #require(secret["id"]?.string)

            #expect(try await api.get("/posts/\(secretID)", token: alice.access).code == 200, "the author sees it")
            let bobSees = try await api.get("/posts/\(secretID)", token: bob.access)
            #expect(bobSees.code == 200, "a follower sees it: \(bobSees)")
            #expect(bobSees.body["text"]?.string == "for followers")
            let carolSees = try await api.get("/posts/\(secretID)", token: carol.access)
            let anonymousSees = try await api.get("/posts/\(secretID)")
            let missing = try await api.get("/posts/123456789", token: carol.access)
            expectError(carolSees, 404, "not_found")
            expectError(anonymousSees, 404, "not_found")
            #expect(carolSees.json == missing.json, "a hidden post must look exactly like a missing one")

            // Nothing else leaks it either.
            expectError(try await api.put("/posts/\(secretID)/like", token: carol.access), 404, "not_found")
            expectError(try await api.post("/posts/\(secretID)/share", token: carol.access), 404, "not_found")
            expectError(try await api.post("/posts/\(secretID)/view", token: carol.access), 404, "not_found")
            expectError(try await api.post("/posts/\(secretID)/view"), 404, "not_found")
            expectError(try await api.post("/posts/\(secretID)/comments", token: carol.access, json: ["text": "hi"]), 404, "not_found")
            expectError(try await api.get("/posts/\(secretID)/comments", token: carol.access), 404, "not_found")
            expectError(try await api.patch("/posts/\(secretID)", token: carol.access, json: ["text": "x"]), 404, "not_found")
            expectError(try await api.delete("/posts/\(secretID)", token: carol.access), 404, "not_found")
            #expect(try await api.put("/posts/\(secretID)/like", token: bob.access).body == ["liked": true, "like_count": 1])
            let comment = try await api.post("/posts/\(secretID)/comments", token: bob.access, json: ["text": "psst"])
            #expect(comment.code == 201)
            if let commentID = comment.body["id"]?.string {
                expectError(try await api.delete("/comments/\(commentID)", token: carol.access), 404, "not_found", "a comment on a hidden post:")
            }

            func listed(_ viewer: Account?) async throws -> [String] {
                try await api.allPages("/users/alice/posts", token: viewer?.access, limit: 1).compactMap { $0["id"]?.string }
            }
            #expect(try await listed(alice) == [secretID, publicID])
            #expect(try await listed(bob) == [secretID, publicID])
            #expect(try await listed(carol) == [publicID])
            #expect(try await listed(nil) == [publicID])

            for viewer in [alice, bob, carol] {
                let recent = try await api.allPages("/feeds/recent", token: viewer.access, limit: 50).compactMap { $0["id"]?.string }
                #expect(recent == [publicID], "followers-only posts never appear in /feeds/recent")
            }
            #expect(try await api.allPages("/feeds/recent", limit: 50).compactMap { $0["id"]?.string } == [publicID])

            // After unfollowing, bob loses access.
            #expect(try await api.delete("/users/alice/follow", token: bob.access).code == 200)
            expectError(try await api.get("/posts/\(secretID)", token: bob.access), 404, "not_found")
            #expect(try await listed(bob) == [publicID])
            #expect(try await api.get("/posts/\(secretID)", token: alice.access).body["like_count"]?.int == 1)
        }
    }
}
