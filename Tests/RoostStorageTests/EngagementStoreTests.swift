import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Engagement {
        @Test func likeAndUnlikeAreIdempotentWithExactCounts() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let u1 = try await store.makeUser("u1", ids: ids)
                let u2 = try await store.makeUser("u2", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let other = try await store.makePost(by: author.id, ids: ids)

                #expect(try await store.like(userID: u1.id, postID: post.id, now: t0) == EngagementResult(changed: true, count: 1))
                #expect(try await store.like(userID: u1.id, postID: post.id, now: t0 + 1) == EngagementResult(changed: false, count: 1))
                #expect(try await store.like(userID: u2.id, postID: post.id, now: t0 + 2) == EngagementResult(changed: true, count: 2))
                #expect(try await store.requirePost(post.id).likeCount == 2)
                #expect(try await store.requirePost(other.id).likeCount == 0)

                #expect(try await store.unlike(userID: u1.id, postID: post.id) == EngagementResult(changed: true, count: 1))
                #expect(try await store.unlike(userID: u1.id, postID: post.id) == EngagementResult(changed: false, count: 1))
                // Unliking a post one never liked changes nothing.
                #expect(try await store.unlike(userID: u1.id, postID: other.id) == EngagementResult(changed: false, count: 0))
                #expect(try await store.requirePost(post.id).likeCount == 1)
                #expect(try await store.requirePost(other.id).likeCount == 0)

                #expect(try await store.like(userID: u1.id, postID: post.id, now: t0 + 3) == EngagementResult(changed: true, count: 2))
                #expect(try await store.unlike(userID: u2.id, postID: post.id) == EngagementResult(changed: true, count: 1))
                #expect(try await store.unlike(userID: u1.id, postID: post.id) == EngagementResult(changed: true, count: 0))
                #expect(try await store.requirePost(post.id).likeCount == 0)
            }
        }

        @Test func shareCountsOncePerUser() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let u1 = try await store.makeUser("u1", ids: ids)
                let u2 = try await store.makeUser("u2", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)

                #expect(try await store.share(userID: u1.id, postID: post.id, now: t0) == EngagementResult(changed: true, count: 1))
                #expect(try await store.share(userID: u1.id, postID: post.id, now: t0 + 1) == EngagementResult(changed: false, count: 1))
                #expect(try await store.share(userID: u2.id, postID: post.id, now: t0 + 2) == EngagementResult(changed: true, count: 2))
                let stored = try await store.requirePost(post.id)
                #expect(stored.shareCount == 2)
                #expect(stored.likeCount == 0)
            }
        }

        @Test func engagingWithMissingPostIsNotFound() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("u1", ids: ids)
                let missing = ids.next()
                await #expect(throws: RoostError.notFound) { try await store.like(userID: user.id, postID: missing, now: t0) }
                await #expect(throws: RoostError.notFound) { try await store.share(userID: user.id, postID: missing, now: t0) }
                #expect((try await store.viewerFlags(userID: user.id, postIDs: [missing])[missing] ?? ViewerPostFlags()) == ViewerPostFlags())
                // Nothing was left behind that a later post with that id could inherit.
                let post = Post(id: missing, authorID: user.id, text: "late", createdAt: t0, updatedAt: t0)
                _ = try await store.createPost(post, idempotency: nil, now: t0)
                let stored = try await store.requirePost(missing)
                #expect(stored.likeCount == 0)
                #expect(stored.shareCount == 0)
                #expect((try await store.viewerFlags(userID: user.id, postIDs: [missing])[missing] ?? ViewerPostFlags()) == ViewerPostFlags())
            }
        }

        @Test func viewerFlagsPerUserAndPost() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let viewer = try await store.makeUser("viewer", ids: ids)
                let other = try await store.makeUser("other", ids: ids)
                let liked = try await store.makePost(by: author.id, ids: ids)
                let shared = try await store.makePost(by: author.id, ids: ids)
                let both = try await store.makePost(by: author.id, ids: ids)
                let neither = try await store.makePost(by: author.id, ids: ids)
                let unliked = try await store.makePost(by: author.id, ids: ids)

                _ = try await store.like(userID: viewer.id, postID: liked.id, now: t0)
                _ = try await store.share(userID: viewer.id, postID: shared.id, now: t0)
                _ = try await store.like(userID: viewer.id, postID: both.id, now: t0)
                _ = try await store.share(userID: viewer.id, postID: both.id, now: t0)
                _ = try await store.like(userID: viewer.id, postID: unliked.id, now: t0)
                _ = try await store.unlike(userID: viewer.id, postID: unliked.id)
                _ = try await store.like(userID: other.id, postID: neither.id, now: t0)
                _ = try await store.share(userID: other.id, postID: neither.id, now: t0)

                let flags = try await store.viewerFlags(userID: viewer.id, postIDs: [liked.id, shared.id, both.id, neither.id, unliked.id])
                #expect(flags[liked.id] == ViewerPostFlags(liked: true, shared: false))
                #expect(flags[shared.id] == ViewerPostFlags(liked: false, shared: true))
                #expect(flags[both.id] == ViewerPostFlags(liked: true, shared: true))
                #expect((flags[neither.id] ?? ViewerPostFlags()) == ViewerPostFlags())
                #expect((flags[unliked.id] ?? ViewerPostFlags()) == ViewerPostFlags())

                let otherFlags = try await store.viewerFlags(userID: other.id, postIDs: [liked.id, neither.id])
                #expect((otherFlags[liked.id] ?? ViewerPostFlags()) == ViewerPostFlags())
                #expect(otherFlags[neither.id] == ViewerPostFlags(liked: true, shared: true))
                #expect(try await store.viewerFlags(userID: viewer.id, postIDs: []).isEmpty)
            }
        }

        @Test func recordViewCountsOncePerWindow() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let other = try await store.makePost(by: author.id, ids: ids)
                let window: TimeInterval = 3600

                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0, window: window) == true)
                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0 + 10, window: window) == false)
                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0 + 1800, window: window) == false)
                #expect(try await store.recordView(postID: post.id, viewerKey: "ip:10.0.0.1", now: t0 + 20, window: window) == true)
                #expect(try await store.recordView(postID: other.id, viewerKey: "u:1", now: t0 + 30, window: window) == true)
                #expect(try await store.requirePost(post.id).viewCount == 2)

                // The window runs from the counted view: uncounted views in between do not extend it.
                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0 + window + 1, window: window) == true)
                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0 + window + 2, window: window) == false)
                #expect(try await store.requirePost(post.id).viewCount == 3)
                #expect(try await store.recordView(postID: post.id, viewerKey: "u:1", now: t0 + 2 * window + 10, window: window) == true)
                #expect(try await store.requirePost(post.id).viewCount == 4)
                #expect(try await store.requirePost(other.id).viewCount == 1)
            }
        }
    }

    @Suite struct Comments {
        @Test func createRepliesAndListOldestFirst() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let commenter = try await store.makeUser("commenter", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let otherPost = try await store.makePost(by: author.id, ids: ids)

                let first = Comment(id: ids.next(), postID: post.id, parentID: nil, authorID: commenter.id, text: "first ✨", createdAt: t0 + 1)
                #expect(try await store.createComment(first, idempotency: nil, now: t0 + 1).createdItem == first)
                #expect(try await store.comment(id: first.id) == first)
                #expect(try await store.requirePost(post.id).commentCount == 1)

                let reply = Comment(id: ids.next(), postID: post.id, parentID: first.id, authorID: author.id, text: "a reply", createdAt: t0 + 2)
                #expect(try await store.createComment(reply, idempotency: nil, now: t0 + 2).createdItem == reply)
                #expect(try await store.comment(id: reply.id)?.parentID == first.id)
                let third = try await store.makeComment(on: post.id, by: author.id, text: "third", ids: ids, at: t0 + 3)
                let elsewhere = try await store.makeComment(on: otherPost.id, by: author.id, ids: ids)
                let fourth = try await store.makeComment(on: post.id, by: commenter.id, parent: reply.id, text: "nested", ids: ids, at: t0 + 4)
                #expect(try await store.requirePost(post.id).commentCount == 4)
                #expect(try await store.requirePost(otherPost.id).commentCount == 1)

                #expect(try await store.comments(postID: post.id, after: nil, limit: 50) == [first, reply, third, fourth])
                let page1 = try await store.comments(postID: post.id, after: nil, limit: 3)
                #expect(page1 == [first, reply, third])
                let page2 = try await store.comments(postID: post.id, after: try #require(page1.last).id, limit: 3)
                #expect(page2 == [fourth])
                #expect(try await store.comments(postID: post.id, after: fourth.id, limit: 3).isEmpty)
                #expect(try await store.comments(postID: otherPost.id, after: nil, limit: 50) == [elsewhere])
                #expect(try await store.comment(id: ids.next()) == nil)
            }
        }

        @Test func badParentIsValidationErrorAndMissingPostNotFound() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let otherPost = try await store.makePost(by: author.id, ids: ids)
                let foreign = try await store.makeComment(on: otherPost.id, by: author.id, ids: ids)

                let orphan = Comment(id: ids.next(), postID: post.id, parentID: ids.next(), authorID: author.id, text: "?", createdAt: t0)
                let unknownParent = await #expect(throws: RoostError.self) {
                    try await store.createComment(orphan, idempotency: nil, now: t0)
                }
                #expect(unknownParent?.code == "validation_failed")
                #expect(unknownParent?.field == "parent_id")

                let crossPost = Comment(id: ids.next(), postID: post.id, parentID: foreign.id, authorID: author.id, text: "?", createdAt: t0)
                let wrongPost = await #expect(throws: RoostError.self) {
                    try await store.createComment(crossPost, idempotency: nil, now: t0)
                }
                #expect(wrongPost?.code == "validation_failed")
                #expect(wrongPost?.field == "parent_id")

                let missingPost = ids.next()
                let onMissing = Comment(id: ids.next(), postID: missingPost, parentID: nil, authorID: author.id, text: "?", createdAt: t0)
                await #expect(throws: RoostError.notFound) { try await store.createComment(onMissing, idempotency: nil, now: t0) }

                #expect(try await store.comment(id: orphan.id) == nil)
                #expect(try await store.comment(id: crossPost.id) == nil)
                #expect(try await store.comment(id: onMissing.id) == nil)
                #expect(try await store.requirePost(post.id).commentCount == 0)
                #expect(try await store.requirePost(otherPost.id).commentCount == 1)
                #expect(try await store.comments(postID: post.id, after: nil, limit: 50).isEmpty)
            }
        }

        @Test func deleteRemovesRepliesAndFixesCount() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let root = try await store.makeComment(on: post.id, by: author.id, ids: ids)
                let reply = try await store.makeComment(on: post.id, by: author.id, parent: root.id, ids: ids)
                let nested = try await store.makeComment(on: post.id, by: author.id, parent: reply.id, ids: ids)
                let sibling = try await store.makeComment(on: post.id, by: author.id, parent: root.id, ids: ids)
                let standalone = try await store.makeComment(on: post.id, by: author.id, ids: ids)
                let standaloneReply = try await store.makeComment(on: post.id, by: author.id, parent: standalone.id, ids: ids)
                #expect(try await store.requirePost(post.id).commentCount == 6)

                #expect(try await store.deleteComment(id: root.id) == true)
                for gone in [root, reply, nested, sibling] {
                    #expect(try await store.comment(id: gone.id) == nil)
                }
                #expect(try await store.comments(postID: post.id, after: nil, limit: 50) == [standalone, standaloneReply])
                #expect(try await store.requirePost(post.id).commentCount == 2)
                #expect(try await store.deleteComment(id: root.id) == false)
                #expect(try await store.deleteComment(id: nested.id) == false)
                #expect(try await store.requirePost(post.id).commentCount == 2)

                // Deleting a leaf reply removes just that one.
                #expect(try await store.deleteComment(id: standaloneReply.id) == true)
                #expect(try await store.comments(postID: post.id, after: nil, limit: 50) == [standalone])
                #expect(try await store.requirePost(post.id).commentCount == 1)
            }
        }
    }
}
