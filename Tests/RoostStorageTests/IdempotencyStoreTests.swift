import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Idempotency {
        static func post(_ ids: IDGenerator, author: ID, text: String = "idempotent") -> Post {
            Post(id: ids.next(), authorID: author, text: text, createdAt: t0, updatedAt: t0)
        }

        @Test func sameKeyReplaysTheFirstPostAndCreatesNothing() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "posts", key: "k-1")
                let first = Self.post(ids, author: author.id, text: "first")
                let retry = Self.post(ids, author: author.id, text: "retry")

                #expect(try await store.createPost(first, idempotency: key, now: t0).createdItem == first)
                let replay = try await store.createPost(retry, idempotency: key, now: t0 + 5)
                #expect(replay.createdItem == nil)
                #expect(replay.replayedID == first.id)
                #expect(replay.replayedResponse == nil)

                #expect(try await store.post(id: retry.id) == nil)
                #expect(try await store.post(id: first.id) == first)
                #expect(try await store.requireUser(author.id).postsCount == 1)
                #expect(try await store.recentPublicPosts(before: nil, limit: 50, filter: FeedFilter()).map(\.id) == [first.id])
            }
        }

        @Test func savedResponseIsReplayedAndTheFirstOneWins() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "posts", key: "k-2")
                let first = Self.post(ids, author: author.id)
                _ = try await store.createPost(first, idempotency: key, now: t0)
                let response = StoredResponse(status: 201, body: Array("{\"id\":\"\(first.id)\",\"text\":\"ü ✨\"}".utf8) + [0, 255, 10])
                try await store.saveIdempotentResponse(key, response: response)

                let replay = try await store.createPost(Self.post(ids, author: author.id), idempotency: key, now: t0 + 60)
                #expect(replay.replayedID == first.id)
                #expect(replay.replayedResponse == response)

                // Retries get the first response, not a later one.
                try await store.saveIdempotentResponse(key, response: StoredResponse(status: 500, body: Array("later".utf8)))
                let again = try await store.createPost(Self.post(ids, author: author.id), idempotency: key, now: t0 + 120)
                #expect(again.replayedID == first.id)
                #expect(again.replayedResponse == response)
                #expect(try await store.requireUser(author.id).postsCount == 1)
            }
        }

        @Test func keyIsScopedPerUserAndPerScope() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice", ids: ids)
                let bob = try await store.makeUser("bob", ids: ids)
                let shared = "same-key"

                let a1 = Self.post(ids, author: alice.id)
                #expect(try await store.createPost(a1, idempotency: IdempotencyKey(userID: alice.id, scope: "posts", key: shared), now: t0).createdItem == a1)
                let b1 = Self.post(ids, author: bob.id)
                #expect(try await store.createPost(b1, idempotency: IdempotencyKey(userID: bob.id, scope: "posts", key: shared), now: t0).createdItem == b1)
                let a2 = Self.post(ids, author: alice.id)
                #expect(
                    try await store.createPost(a2, idempotency: IdempotencyKey(userID: alice.id, scope: "posts:other", key: shared), now: t0)
                        .createdItem == a2)
                // A different key of the same user and scope is a different request.
                let a3 = Self.post(ids, author: alice.id)
                #expect(
                    try await store.createPost(a3, idempotency: IdempotencyKey(userID: alice.id, scope: "posts", key: "Same-Key"), now: t0)
                        .createdItem == a3)
                // Comments on a post use their own scope; the same key there creates a comment.
                let comment = Comment(id: ids.next(), postID: a1.id, parentID: nil, authorID: alice.id, text: "c", createdAt: t0)
                #expect(
                    try await store.createComment(
                        comment, idempotency: IdempotencyKey(userID: alice.id, scope: "comments:\(a1.id)", key: shared), now: t0
                    ).createdItem == comment)

                #expect(try await store.requireUser(alice.id).postsCount == 3)
                #expect(try await store.requireUser(bob.id).postsCount == 1)
                // And each still replays within its own scope.
                let retry = try await store.createPost(
                    Self.post(ids, author: bob.id), idempotency: IdempotencyKey(userID: bob.id, scope: "posts", key: shared), now: t0 + 1)
                #expect(retry.replayedID == b1.id)
            }
        }

        @Test func keyIsReusableAfter24Hours() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "posts", key: "daily")
                let first = Self.post(ids, author: author.id)
                _ = try await store.createPost(first, idempotency: key, now: t0)
                try await store.saveIdempotentResponse(key, response: StoredResponse(status: 201, body: [1, 2, 3]))

                let nearlyADay = try await store.createPost(Self.post(ids, author: author.id), idempotency: key, now: t0 + IdempotencyKey.lifetime - 60)
                #expect(nearlyADay.replayedID == first.id)

                let later = t0 + IdempotencyKey.lifetime + 60
                let second = Self.post(ids, author: author.id)
                #expect(try await store.createPost(second, idempotency: key, now: later).createdItem == second)
                #expect(try await store.requireUser(author.id).postsCount == 2)

                // The key now belongs to the second post, without the old response.
                let replay = try await store.createPost(Self.post(ids, author: author.id), idempotency: key, now: later + 10)
                #expect(replay.replayedID == second.id)
                #expect(replay.replayedResponse == nil)
                #expect(try await store.requireUser(author.id).postsCount == 2)
            }
        }

        @Test func commentReplayCreatesNothing() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "comments:\(post.id)", key: "c-1")
                let first = Comment(id: ids.next(), postID: post.id, parentID: nil, authorID: author.id, text: "once", createdAt: t0)
                let retry = Comment(id: ids.next(), postID: post.id, parentID: nil, authorID: author.id, text: "twice", createdAt: t0)

                #expect(try await store.createComment(first, idempotency: key, now: t0).createdItem == first)
                let replay = try await store.createComment(retry, idempotency: key, now: t0 + 1)
                #expect(replay.replayedID == first.id)
                #expect(try await store.comment(id: retry.id) == nil)
                #expect(try await store.requirePost(post.id).commentCount == 1)

                let response = StoredResponse(status: 201, body: Array("{}".utf8))
                try await store.saveIdempotentResponse(key, response: response)
                #expect(try await store.createComment(retry, idempotency: key, now: t0 + 2).replayedResponse == response)
            }
        }

        @Test func failedCreateDoesNotBurnTheKey() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "comments:\(post.id)", key: "bad-parent")
                let bad = Comment(id: ids.next(), postID: post.id, parentID: ids.next(), authorID: author.id, text: "x", createdAt: t0)
                await #expect(throws: RoostError.self) { try await store.createComment(bad, idempotency: key, now: t0) }

                // The refused request left no key behind: a corrected retry with the same key creates.
                let good = Comment(id: ids.next(), postID: post.id, parentID: nil, authorID: author.id, text: "x", createdAt: t0)
                #expect(try await store.createComment(good, idempotency: key, now: t0 + 1).createdItem == good)
                #expect(try await store.requirePost(post.id).commentCount == 1)
            }
        }
    }
}
