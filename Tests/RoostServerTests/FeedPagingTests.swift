import Foundation
import Testing

@testable import RoostServer

/// Keyset pagination of chronological lists, limits and signed cursors.
@Suite(.timeLimit(.minutes(3)))
struct FeedPagingTests {
    @Test("paging /feeds/recent while posts are being created returns every earlier post exactly once, newest first")
    func recentPagingUnderWrites() async throws {
        try await TestApp.run { api in
            // 30 public posts from 6 authors (5 each, below any per-user rate limit), created concurrently.
            let authors = try await api.registerMany(6, prefix: "author")
            let writers = try await api.registerMany(3, prefix: "writer")
            let created = try await concurrently(authors.count) { index in
                var ids: [String] = []
                for n in 0..<5 {
                    let post = try await api.createPost(authors[index], text: "post \(n) by author\(index)")
                    ids.append(try #require(post["id"]?.string))
                }
                return ids
            }
            let existing = created.flatMap { $0 }
            #expect(Set(existing).count == 30)
            let hidden = try await api.createPost(writers[0], text: "for followers", extra: ["visibility": "followers"])
            let hiddenID = try #require(hidden["id"]?.string)

            // Writers keep posting while a reader pages through with limit=7.
            let written = Locked<[String]>([])
            let (pages, newIDs) = try await withThrowingTaskGroup(of: [[JSON]].self) { group in
                group.addTask {
                    for round in 0..<4 {
                        for writer in writers {
                            let post = try await api.createPost(writer, text: "during paging \(round)")
                            if let id = post["id"]?.string { written.withLock { $0.append(id) } }
                        }
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    return []
                }
                group.addTask {
                    var pages: [[JSON]] = []
                    var cursor: String?
                    for _ in 0..<40 {
                        let uri = "/feeds/recent?limit=7" + (cursor.map { "&cursor=\($0)" } ?? "")
                        let reply = try await api.get(uri)
                        guard reply.code == 200, let items = reply.body["items"]?.array, let hasMore = reply.body["has_more"]?.bool,
                            let next = reply.body["next_cursor"]
                        else { throw TestFailure("GET \(uri): \(reply)") }
                        #expect(items.count <= 7)
                        #expect(hasMore == !next.isNull, "next_cursor must be null exactly when has_more is false: \(reply)")
                        if hasMore { #expect(!items.isEmpty, "a page with has_more must not be empty") }
                        pages.append(items)
                        guard hasMore, let nextCursor = next.string else { break }
                        cursor = nextCursor
                        try await Task.sleep(for: .milliseconds(1))
                    }
                    return pages
                }
                var pages: [[JSON]] = []
                for try await result in group where !result.isEmpty { pages = result }
                return (pages, written.value)
            }
            #expect(newIDs.count == 12)

            let seen = pages.flatMap { $0 }.compactMap { $0["id"]?.string }
            #expect(seen.count == Set(seen).count, "a post was shown twice: \(seen)")
            let numeric = seen.compactMap { UInt64($0) }
            #expect(numeric.count == seen.count, "ids are decimal strings")
            #expect(zip(numeric, numeric.dropFirst()).allSatisfy { $0 > $1 }, "not strictly newest first: \(seen)")
            for id in existing {
                #expect(seen.filter { $0 == id }.count == 1, "post \(id), created before paging, was not shown exactly once")
            }
            #expect(!seen.contains(hiddenID), "a followers-only post appeared in /feeds/recent")
            #expect(pages.flatMap { $0 }.allSatisfy { $0["visibility"]?.string == "public" })
            #expect(Set(seen).isSubset(of: Set(existing + newIDs)))

            // After the writers are done, a fresh walk sees everything public exactly once.
            let everything = try await api.allPages("/feeds/recent", limit: 7).compactMap { $0["id"]?.string }
            #expect(everything.count == 42)
            #expect(Set(everything) == Set(existing + newIDs))
            #expect(everything.compactMap { UInt64($0) } == everything.compactMap { UInt64($0) }.sorted(by: >))
        }
    }

    @Test("limits and cursors are validated: limit 1...50, signed cursors bound to their list and viewer")
    func limitAndCursorValidation() async throws {
        try await TestApp.run { api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            for n in 0..<5 { try await api.createPost(alice, text: "alice \(n)", extra: ["tags": ["news"]]) }
            for n in 0..<3 { try await api.createPost(bob, text: "bob \(n)") }

            for bad in ["0", "51", "abc", "-1", "1.5", "", "99999999999999999999999"] {
                expectError(try await api.get("/feeds/recent?limit=\(bad)"), 400, "validation_failed", field: "limit", "limit=\(bad):")
            }
            expectError(try await api.get("/users/alice/posts?limit=0"), 400, "validation_failed", field: "limit")
            expectError(try await api.get("/users/alice/followers?limit=51"), 400, "validation_failed", field: "limit")
            let one = try await api.get("/feeds/recent?limit=1")
            #expect(one.code == 200)
            #expect(one.body["items"]?.array?.count == 1)
            #expect(one.body["has_more"] == true)
            let fifty = try await api.get("/feeds/recent?limit=50")
            #expect(fifty.code == 200)
            #expect(fifty.body["items"]?.array?.count == 8)
            #expect(fifty.body["has_more"] == false)
            #expect(fifty.body["next_cursor"] == .null)
            let byDefault = try await api.get("/feeds/recent")
            #expect(byDefault.body["items"]?.array?.count == 8, "default limit is 20")

            // A real cursor works...
            let first = try await api.get("/feeds/recent?limit=3")
            let cursor = try #require(first.body["next_cursor"]?.string)
            let second = try await api.get("/feeds/recent?limit=3&cursor=\(cursor)")
            #expect(second.code == 200, "\(second)")
            let firstIDs = first.body["items"]?.array?.compactMap { numericID($0["id"]) } ?? []
            let secondIDs = second.body["items"]?.array?.compactMap { numericID($0["id"]) } ?? []
            #expect(secondIDs.count == 3)
            #expect((firstIDs.min() ?? 0) > (secondIDs.max() ?? .max))

            // ...a tampered one does not.
            var characters = Array(cursor)
            let middle = characters.count / 2
            characters[middle] = characters[middle] == "A" ? "B" : "A"
            expectError(try await api.get("/feeds/recent?limit=3&cursor=\(String(characters))"), 400, "invalid_cursor", "tampered:")
            expectError(try await api.get("/feeds/recent?limit=3&cursor=\(cursor)AAAA"), 400, "invalid_cursor", "extended:")
            expectError(try await api.get("/feeds/recent?limit=3&cursor=\(cursor.dropLast(4))"), 400, "invalid_cursor", "truncated:")
            expectError(try await api.get("/feeds/recent?cursor=not-a-cursor"), 400, "invalid_cursor")
            expectError(try await api.get("/feeds/recent?cursor=%00%01"), 400, "invalid_cursor")
            expectError(try await api.get("/feeds/recent?cursor=\(String(repeating: "A", count: 2000))"), 400, "invalid_cursor")

            // A cursor from another list, or with other filters, or of another viewer.
            expectError(try await api.get("/users/\(alice.id)/posts?limit=3&cursor=\(cursor)"), 400, "invalid_cursor", "recent → user posts:")
            expectError(try await api.get("/feeds/recent?limit=3&tags=news&cursor=\(cursor)"), 400, "invalid_cursor", "other filter:")
            let alicePosts = try await api.get("/users/\(alice.id)/posts?limit=2")
            let aliceCursor = try #require(alicePosts.body["next_cursor"]?.string)
            #expect(try await api.get("/users/\(alice.id)/posts?limit=2&cursor=\(aliceCursor)").code == 200)
            expectError(try await api.get("/users/\(bob.id)/posts?limit=2&cursor=\(aliceCursor)"), 400, "invalid_cursor", "other author:")
            expectError(try await api.get("/feeds/recent?limit=2&cursor=\(aliceCursor)"), 400, "invalid_cursor", "user posts → recent:")
            expectError(
                try await api.get("/users/\(alice.id)/posts?limit=2&cursor=\(aliceCursor)", token: bob.access), 400, "invalid_cursor",
                "anonymous cursor presented by a viewer:")

            // Filters.
            let tagged = try await api.allPages("/feeds/recent?tags=NEWS", limit: 2)
            #expect(tagged.count == 5)
            #expect(tagged.allSatisfy { $0["author"]?["id"]?.string == alice.id })
            expectError(try await api.get("/feeds/recent?tags=bad-tag!"), 400, "validation_failed")
        }
    }
}
