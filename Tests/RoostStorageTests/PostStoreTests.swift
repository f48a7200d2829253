import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Posts {
        @Test func createBumpsPostsCountAndReadsBackEveryField() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let original = try await store.makePost(by: author.id, ids: ids)
                let post = Post(
                    id: ids.next(), authorID: author.id, text: "Hello, \"world\" ✨ — it's 'quoted'\nsecond line", title: "A title",
                    description: "A description", tags: ["swift", "server_side"],
                    media: [
                        Media(url: "https://cdn.example.com/a.png", type: .image),
                        Media(url: "https://cdn.example.com/b.mp4?x=1&y=2", type: .video),
                    ],
                    assetType: "3d-model", visibility: .followers, organizationID: nil, inspiredByPostID: original.id,
                    isFeatured: true, moderationStatus: .pending, createdAt: t0 + 5, updatedAt: t0 + 6)
                let creation = try await store.createPost(post, idempotency: nil, now: t0 + 5)
                #expect(creation.createdItem == post)
                #expect(try await store.post(id: post.id) == post)
                #expect(try await store.requireUser(author.id).postsCount == 2)

                let orgPost = Post(
                    id: ids.next(), authorID: author.id, text: "org only", visibility: .organization, organizationID: 77,
                    createdAt: t0, updatedAt: t0)
                #expect(try await store.createPost(orgPost, idempotency: nil, now: t0).createdItem == orgPost)
                #expect(try await store.post(id: orgPost.id) == orgPost)
                #expect(try await store.requireUser(author.id).postsCount == 3)

                let unknown = ids.next()
                let found = try await store.posts(ids: [original.id, post.id, orgPost.id, unknown])
                #expect(found.count == 3)
                #expect(found[original.id] == original)
                #expect(found[post.id] == post)
                #expect(found[orgPost.id] == orgPost)
                #expect(found[unknown] == nil)
                #expect(try await store.posts(ids: []).isEmpty)
                #expect(try await store.post(id: unknown) == nil)
                #expect(original.likeCount == 0 && original.commentCount == 0 && original.shareCount == 0 && original.viewCount == 0)
            }
        }

        @Test func updatePatchesOnlyGivenFields() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let liker = try await store.makeUser("liker", ids: ids)
                let post = Post(
                    id: ids.next(), authorID: author.id, text: "old text", title: "Old title", description: "Old description",
                    tags: ["alpha", "beta"], media: [Media(url: "https://cdn.example.com/a.png", type: .image)], assetType: "photo",
                    createdAt: t0, updatedAt: t0)
                _ = try await store.createPost(post, idempotency: nil, now: t0)
                _ = try await store.like(userID: liker.id, postID: post.id, now: t0)

                let first = try await store.updatePost(
                    id: post.id, patch: PostPatch(text: "new text", title: .some(nil), tags: ["gamma"]), now: t0 + 60)
                var expected = post
                expected.text = "new text"
                expected.title = nil
                expected.tags = ["gamma"]
                expected.likeCount = 1
                expected.updatedAt = t0 + 60
                #expect(first == expected)
                #expect(try await store.post(id: post.id) == expected)

                // The tag index follows the new tags.
                #expect(try await store.postsByAuthor(author.id, before: nil, limit: 10, filter: FeedFilter(tags: ["alpha"])).isEmpty)
                #expect(try await store.recentPublicPosts(before: nil, limit: 10, filter: FeedFilter(tags: ["beta"])).isEmpty)
                #expect(
                    try await store.postsByAuthor(author.id, before: nil, limit: 10, filter: FeedFilter(tags: ["gamma"])).map(\.id)
                        == [post.id])
                #expect(
                    try await store.recentPublicPosts(before: nil, limit: 10, filter: FeedFilter(tags: ["gamma"])).map(\.id) == [post.id])

                let second = try await store.updatePost(
                    id: post.id, patch: PostPatch(title: "New title", description: .some("New description")), now: t0 + 120)
                expected.title = "New title"
                expected.description = "New description"
                expected.updatedAt = t0 + 120
                #expect(second == expected)

                let third = try await store.updatePost(id: post.id, patch: PostPatch(description: .some(nil), tags: []), now: t0 + 180)
                expected.description = nil
                expected.tags = []
                expected.updatedAt = t0 + 180
                #expect(third == expected)
                #expect(try await store.post(id: post.id) == expected)
                #expect(try await store.recentPublicPosts(before: nil, limit: 10, filter: FeedFilter(tags: ["gamma"])).isEmpty)

                #expect(try await store.updatePost(id: ids.next(), patch: PostPatch(text: "ghost"), now: t0) == nil)
                #expect(try await store.requireUser(author.id).postsCount == 1)
            }
        }

        @Test func deleteRemovesEngagementAndComments() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let u1 = try await store.makeUser("u1", ids: ids)
                let u2 = try await store.makeUser("u2", ids: ids)
                let doomed = try await store.makePost(by: author.id, ids: ids, tags: ["doomed"])
                let kept = try await store.makePost(by: author.id, ids: ids)

                _ = try await store.like(userID: u1.id, postID: doomed.id, now: t0)
                _ = try await store.like(userID: u2.id, postID: doomed.id, now: t0)
                _ = try await store.share(userID: u1.id, postID: doomed.id, now: t0)
                _ = try await store.recordView(postID: doomed.id, viewerKey: "u:1", now: t0, window: 3600)
                let comment = try await store.makeComment(on: doomed.id, by: u1.id, ids: ids)
                let reply = try await store.makeComment(on: doomed.id, by: u2.id, parent: comment.id, ids: ids)
                _ = try await store.like(userID: u1.id, postID: kept.id, now: t0)
                let keptComment = try await store.makeComment(on: kept.id, by: u2.id, ids: ids)
                #expect(try await store.requireUser(author.id).postsCount == 2)

                #expect(try await store.deletePost(id: doomed.id) == true)
                #expect(try await store.post(id: doomed.id) == nil)
                #expect(try await store.comment(id: comment.id) == nil)
                #expect(try await store.comment(id: reply.id) == nil)
                #expect(try await store.comments(postID: doomed.id, after: nil, limit: 50).isEmpty)
                let flags = try await store.viewerFlags(userID: u1.id, postIDs: [doomed.id, kept.id])
                #expect((flags[doomed.id] ?? ViewerPostFlags()) == ViewerPostFlags())
                #expect(flags[kept.id] == ViewerPostFlags(liked: true, shared: false))
                #expect(try await store.requireUser(author.id).postsCount == 1)
                #expect(try await store.posts(ids: [doomed.id, kept.id]).keys.sorted() == [kept.id])
                #expect(try await store.recentPublicPosts(before: nil, limit: 10, filter: FeedFilter()).map(\.id) == [kept.id])
                #expect(try await store.recentPublicPosts(before: nil, limit: 10, filter: FeedFilter(tags: ["doomed"])).isEmpty)
                #expect(try await store.postsByAuthor(author.id, before: nil, limit: 10, filter: FeedFilter()).map(\.id) == [kept.id])

                // The other post is untouched.
                let keptNow = try await store.requirePost(kept.id)
                #expect(keptNow.likeCount == 1)
                #expect(keptNow.commentCount == 1)
                #expect(try await store.comment(id: keptComment.id) == keptComment)

                #expect(try await store.deletePost(id: doomed.id) == false)
                #expect(try await store.requireUser(author.id).postsCount == 1)
                await #expect(throws: RoostError.notFound) { try await store.like(userID: u1.id, postID: doomed.id, now: t0) }
            }
        }

        /// Creation order: a0, b0, a1, a2, b1, a3, a4, a5 (ids increase in that order).
        struct Timeline {
            var a: [Post] = []
            var b: [Post] = []
            var authorA: User
            var authorB: User

            static func make(_ store: any RoostStore, _ ids: IDGenerator) async throws -> Timeline {
                var timeline = Timeline(
                    authorA: try await store.makeUser("author_a", ids: ids), authorB: try await store.makeUser("author_b", ids: ids))
                let a = timeline.authorA.id
                let b = timeline.authorB.id
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a0 public"))
                timeline.b.append(try await store.makePost(by: b, ids: ids, text: "b0 public"))
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a1 followers", visibility: .followers))
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a2 organization", visibility: .organization))
                timeline.b.append(try await store.makePost(by: b, ids: ids, text: "b1 public"))
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a3 pending", status: .pending))
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a4 removed", status: .removed))
                timeline.a.append(try await store.makePost(by: a, ids: ids, text: "a5 public"))
                return timeline
            }
        }

        @Test func postsByAuthorNewestFirstWithKeysetPagingAndAnyVisibility() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let timeline = try await Timeline.make(store, ids)
                let a = timeline.a
                let authorA = timeline.authorA.id

                let all = try await store.postsByAuthor(authorA, before: nil, limit: 50, filter: FeedFilter())
                #expect(all.map(\.id) == a.reversed().map(\.id))
                #expect(all.first == a[5])

                let page1 = try await store.postsByAuthor(authorA, before: nil, limit: 4, filter: FeedFilter())
                #expect(page1.map(\.id) == [a[5].id, a[4].id, a[3].id, a[2].id])
                let page2 = try await store.postsByAuthor(authorA, before: try #require(page1.last).id, limit: 4, filter: FeedFilter())
                #expect(page2.map(\.id) == [a[1].id, a[0].id])
                #expect(try await store.postsByAuthor(authorA, before: a[0].id, limit: 4, filter: FeedFilter()).isEmpty)
                // `before` need not be one of the author's posts.
                #expect(
                    try await store.postsByAuthor(authorA, before: timeline.b[1].id, limit: 50, filter: FeedFilter()).map(\.id)
                        == [a[2].id, a[1].id, a[0].id])

                #expect(
                    try await store.postsByAuthor(timeline.authorB.id, before: nil, limit: 50, filter: FeedFilter()).map(\.id)
                        == [timeline.b[1].id, timeline.b[0].id])
                #expect(try await store.postsByAuthor(ids.next(), before: nil, limit: 50, filter: FeedFilter()).isEmpty)
            }
        }

        @Test func recentPublicPostsOnlyPublicApprovedNewestFirstWithKeysetPaging() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let timeline = try await Timeline.make(store, ids)
                let a = timeline.a
                let b = timeline.b
                let expected = [a[5].id, b[1].id, b[0].id, a[0].id]

                let all = try await store.recentPublicPosts(before: nil, limit: 50, filter: FeedFilter())
                #expect(all.map(\.id) == expected)
                #expect(all.allSatisfy { $0.visibility == .public && $0.moderationStatus == .approved })

                let page1 = try await store.recentPublicPosts(before: nil, limit: 3, filter: FeedFilter())
                #expect(page1.map(\.id) == Array(expected.prefix(3)))
                let page2 = try await store.recentPublicPosts(before: try #require(page1.last).id, limit: 3, filter: FeedFilter())
                #expect(page2.map(\.id) == [a[0].id])
                #expect(try await store.recentPublicPosts(before: a[0].id, limit: 3, filter: FeedFilter()).isEmpty)
                // `before` an excluded post's id still pages by id.
                #expect(try await store.recentPublicPosts(before: a[3].id, limit: 50, filter: FeedFilter()).map(\.id) == [b[1].id, b[0].id, a[0].id])
            }
        }

        @Test func tagAndAssetTypeFilters() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids).id
                let p1 = try await store.makePost(by: author, ids: ids, tags: ["swift"], assetType: "photo")
                let p2 = try await store.makePost(by: author, ids: ids, tags: ["swift", "server"], assetType: "video")
                let p3 = try await store.makePost(by: author, ids: ids, tags: ["server"])
                let p4 = try await store.makePost(by: author, ids: ids, tags: ["swift", "server", "db"], assetType: "photo")
                let p5 = try await store.makePost(by: author, ids: ids, assetType: "photo")
                let p6 = try await store.makePost(by: author, ids: ids, tags: ["swift", "server"], assetType: "photo", visibility: .followers)
                let p7 = try await store.makePost(by: author, ids: ids, tags: ["swift", "server"], assetType: "photo", status: .pending)

                func recent(_ filter: FeedFilter, before: ID? = nil, limit: Int = 50) async throws -> [ID] {
                    try await store.recentPublicPosts(before: before, limit: limit, filter: filter).map(\.id)
                }
                func byAuthor(_ filter: FeedFilter, before: ID? = nil, limit: Int = 50) async throws -> [ID] {
                    try await store.postsByAuthor(author, before: before, limit: limit, filter: filter).map(\.id)
                }

                #expect(try await recent(FeedFilter(tags: ["swift", "server"])) == [p4.id, p2.id])
                #expect(try await recent(FeedFilter(tags: ["server", "swift"])) == [p4.id, p2.id])
                #expect(try await recent(FeedFilter(tags: ["swift"])) == [p4.id, p2.id, p1.id])
                #expect(try await recent(FeedFilter(tags: ["server"])) == [p4.id, p3.id, p2.id])
                #expect(try await recent(FeedFilter(tags: ["swift", "server", "db"])) == [p4.id])
                #expect(try await recent(FeedFilter(tags: ["nope"])).isEmpty)
                #expect(try await recent(FeedFilter(tags: ["swift", "nope"])).isEmpty)
                #expect(try await recent(FeedFilter(assetType: "photo")) == [p5.id, p4.id, p1.id])
                #expect(try await recent(FeedFilter(assetType: "video")) == [p2.id])
                #expect(try await recent(FeedFilter(assetType: "audio")).isEmpty)
                #expect(try await recent(FeedFilter(tags: ["swift"], assetType: "photo")) == [p4.id, p1.id])
                #expect(try await recent(FeedFilter(tags: ["server"], assetType: "video")) == [p2.id])

                // Paging within a filter.
                #expect(try await recent(FeedFilter(tags: ["swift"]), limit: 2) == [p4.id, p2.id])
                #expect(try await recent(FeedFilter(tags: ["swift"]), before: p2.id, limit: 2) == [p1.id])
                #expect(try await recent(FeedFilter(assetType: "photo"), before: p5.id, limit: 1) == [p4.id])

                // The author's list applies the same filters but keeps every visibility and status.
                #expect(try await byAuthor(FeedFilter(tags: ["swift", "server"])) == [p7.id, p6.id, p4.id, p2.id])
                #expect(try await byAuthor(FeedFilter(assetType: "photo")) == [p7.id, p6.id, p5.id, p4.id, p1.id])
                #expect(try await byAuthor(FeedFilter(tags: ["db"], assetType: "photo")) == [p4.id])
                #expect(try await byAuthor(FeedFilter(tags: ["swift"]), before: p6.id, limit: 2) == [p4.id, p2.id])
                #expect(try await byAuthor(FeedFilter()).count == 7)
            }
        }
    }
}
