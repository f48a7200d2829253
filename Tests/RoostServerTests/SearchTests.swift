import Foundation
import RoostCore
import Testing

@testable import RoostServer

/// `GET /search`: full-text over posts (text, title, tags) and users (username, display name),
/// ranked, paginated, visibility-checked, and never a 5xx whatever the query, on either backend.
@Suite(.timeLimit(.minutes(3)))
struct SearchTests {
    @Test("finds posts by words, titles and tags and users by username and display name, best match first")
    func findsPostsAndUsers() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice_lens", displayName: "Alice Photographer")
            let bob = try await api.register("bob_darkroom", displayName: "Bob")
            let titled = try #require(
                try await api.createPost(alice, text: "Notes from the weekend", extra: ["title": "Aperture basics", "tags": ["photography"]])["id"]?
                    .string)
            let tagged = try #require(
                try await api.createPost(bob, text: "Developing film at home", extra: ["tags": ["darkroom", "film_photography"]])["id"]?.string)
            let worded = try #require(try await api.createPost(bob, text: "Why aperture matters for portraits")["id"]?.string)

            #expect(try await api.ids("/search?q=aperture", nil) == [titled, worded], "a title match ranks first")
            #expect(try await api.ids("/search?q=APERTURE%20portraits", nil) == [worded], "all words must match, any case")
            #expect(try await api.ids("/search?q=%23darkroom", nil) == [tagged], "tags, with or without #")
            #expect(try await api.ids("/search?q=film_photography&type=posts", nil) == [tagged])
            #expect(Set(try await api.ids("/search?q=photography", nil)) == [titled, tagged])
            #expect(try await api.ids("/search?q=develop", nil) == [tagged], "the last word matches as a prefix")
            #expect(try await api.ids("/search?q=nothing+like+this", nil).isEmpty)

            let users = try await api.allPages("/search?q=alice&type=users")
            #expect(users.compactMap { $0["username"]?.string } == ["alice_lens"])
            #expect(users.first?["display_name"] == "Alice Photographer" && users.first?["email"] == nil, "users as the contract shows them")
            #expect(try await api.allPages("/search?q=photographer&type=users").compactMap { $0["id"]?.string } == [alice.id])
            #expect(try await api.allPages("/search?q=darkroom&type=users").compactMap { $0["id"]?.string } == [bob.id])
            let seenBy = try await api.allPages("/search?q=bob&type=users", token: alice.access)
            #expect(seenBy.first?["viewer"] == ["following": false, "followed_by": false])

            // Edits and deletions reach the index at once.
            _ = try await api.patch("/posts/\(worded)", token: bob.access, json: ["text": "Why shutter speed matters"])
            #expect(try await api.ids("/search?q=aperture", nil) == [titled])
            #expect(try await api.ids("/search?q=shutter", nil) == [worded])
            _ = try await api.delete("/posts/\(tagged)", token: bob.access)
            #expect(try await api.ids("/search?q=darkroom", nil).isEmpty)
            _ = try await api.patch("/me", token: bob.access, json: ["display_name": "Robert Chemist"])
            #expect(try await api.allPages("/search?q=chemist&type=users").compactMap { $0["id"]?.string } == [bob.id])
        }
    }

    @Test("results page with signed cursors and never repeat while posts arrive; held and hidden posts are not found")
    func pagingAndVisibility() async throws {
        try await TestApp.run(configure: { $0.searchCandidates = 40 }) { api in
            let author = try await api.register("prolific")
            let reader = try await api.register("reader")
            var created: [String] = []
            for index in 0..<25 {
                created.append(try #require(try await api.createPost(author, text: "Sunset photo number \(index)")["id"]?.string))
            }
            let hidden = try #require(
                try await api.createPost(author, text: "Sunset for followers", extra: ["visibility": "followers"])["id"]?.string)
            let held = try #require(try await api.createPost(author, text: "SUNSET SUNSET SUNSET EVERYONE")["id"]?.string)
            #expect(try await api.get("/posts/\(held)", token: author.access).body["moderation_status"] == "pending")

            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let reply = try await api.get("/search?q=sunset&limit=10" + (cursor.map { "&cursor=\($0)" } ?? ""), token: reader.access)
                #expect(reply.code == 200, "\(reply)")
                seen += reply.body["items"]?.array?.compactMap { $0["id"]?.string } ?? []
                cursor = reply.body["next_cursor"]?.string
                #expect(reply.body["has_more"]?.bool == (cursor != nil))
                // New matches arriving mid-scroll do not shift the pages.
                try await api.createPost(author, text: "Another sunset \(pages)")
                pages += 1
            } while cursor != nil && pages < 10
            #expect(pages == 3)
            #expect(Set(seen).count == seen.count, "no result twice")
            #expect(Set(seen) == Set(created), "every visible match once; not the followers-only or held post")
            #expect(!seen.contains(hidden) && !seen.contains(held))

            // Cursors belong to their query and viewer.
            let first = try await api.get("/search?q=sunset&limit=5", token: reader.access)
            let next = try #require(first.body["next_cursor"]?.string)
            expectError(try await api.get("/search?q=photo&limit=5&cursor=\(next)", token: reader.access), 400, "invalid_cursor")
            expectError(try await api.get("/search?q=sunset&limit=5&cursor=\(next)", token: author.access), 400, "invalid_cursor")
            expectError(try await api.get("/search?q=sunset&limit=5&cursor=\(next)&type=users", token: reader.access), 400, "invalid_cursor")
            #expect(try await api.get("/search?q=sunset&limit=5&cursor=\(next)", token: reader.access).code == 200)

            // The author finds their own held and followers-only posts.
            let own = try await api.ids("/search?q=sunset+everyone", author)
            #expect(own == [held])
        }
    }

    @Test("bad or hostile queries are a 400 or an empty result, never a 5xx")
    func hostileQueries() async throws {
        try await TestApp.run { api in
            let author = try await api.register("writer")
            try await api.createPost(author, text: "Searchable text with words")
            expectError(try await api.get("/search"), 400, "validation_failed", field: "q")
            expectError(try await api.get("/search?q="), 400, "validation_failed", field: "q")
            expectError(try await api.get("/search?q=%20%20"), 400, "validation_failed", field: "q")
            expectError(try await api.get("/search?q=" + String(repeating: "a", count: 201)), 400, "validation_failed", field: "q")
            expectError(try await api.get("/search?q=words&type=comments"), 400, "validation_failed", field: "type")
            expectError(try await api.get("/search?q=words&limit=0"), 400, "validation_failed")
            expectError(try await api.get("/search?q=words&cursor=garbage"), 400, "invalid_cursor")

            let hostile = [
                "\"", "\"\"", "*", "words*", "-words", "NOT words", "words OR", "AND", "NEAR(words text)", "words:text", "text:*",
                "(((", ")", "'; DROP TABLE posts; --", "%", "_", "\\", "^words", "{text}", "words & | !", "!words", "<->", "words:*A",
                "👩‍💻 words", "ｗｏｒｄｓ", "çà", "\u{0301}", "\u{200B}", "١٢٣", "日本語のテキスト", "a", "ab", "searchabl", "wrds",
                "seärchable", String(repeating: "x", count: 200), String(repeating: "ab ", count: 60),
            ]
            var generator = SeededGenerator(seed: 0x5EA7C4)
            var queries = hostile
            for _ in 0..<60 {
                let length = Int.random(in: 1...40, using: &generator)
                queries.append(String((0..<length).map { _ in Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &generator))) }))
            }
            for query in queries {
                let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                for type in ["posts", "users"] {
                    let reply = try await api.get("/search?type=\(type)&q=\(encoded)")
                    #expect(reply.code == 200 || reply.code == 400, "\(query.debugDescription): \(reply)")
                    if reply.code == 400 { #expect(reply.hasErrorShape) }
                }
            }
            #expect(try await api.ids("/search?q=words*", nil).count == 1, "operators are just punctuation")
            #expect(try await api.ids("/search?q=searchabl", nil).count == 1, "a word being typed matches as a prefix")
        }
    }
}
