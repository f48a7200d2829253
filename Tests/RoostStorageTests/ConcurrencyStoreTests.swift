import Foundation
import RoostCore
import Testing

@testable import RoostStorage

/// Counters must stay exact when many requests hit the same rows at once: each change and its
/// counter update are one transaction, and idempotent operations change things exactly once.
extension RoostStoreConformance {
    @Suite struct Concurrency {
        @Test func twoHundredConcurrentLikesFromDistinctUsers() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let users = try await store.makeUsers(200, prefix: "liker", ids: ids)
                #expect(users.count == 200)

                let results = try await withThrowingTaskGroup(of: EngagementResult.self) { group in
                    for user in users {
                        group.addTask { try await store.like(userID: user.id, postID: post.id, now: t0) }
                    }
                    var results: [EngagementResult] = []
                    for try await result in group { results.append(result) }
                    return results
                }
                #expect(results.count == 200)
                #expect(results.allSatisfy { $0.changed })
                #expect(results.allSatisfy { (1...200).contains($0.count) })
                #expect(results.map(\.count).max() == 200)
                #expect(try await store.requirePost(post.id).likeCount == 200)

                // Each user liked exactly once.
                let liked = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for user in users {
                        group.addTask { try await store.viewerFlags(userID: user.id, postIDs: [post.id])[post.id]?.liked == true }
                    }
                    var count = 0
                    for try await flag in group where flag { count += 1 }
                    return count
                }
                #expect(liked == 200)

                // Everyone liking again at once changes nothing.
                let repeats = try await withThrowingTaskGroup(of: EngagementResult.self) { group in
                    for user in users {
                        group.addTask { try await store.like(userID: user.id, postID: post.id, now: t0 + 1) }
                    }
                    var results: [EngagementResult] = []
                    for try await result in group { results.append(result) }
                    return results
                }
                #expect(repeats.count == 200)
                #expect(repeats.allSatisfy { !$0.changed && $0.count == 200 })
                #expect(try await store.requirePost(post.id).likeCount == 200)
            }
        }

        @Test func likeAndUnlikeStormsEndInAKnownState() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let users = try await store.makeUsers(100, prefix: "u", ids: ids)

                // Phase 1: every user runs its own sequence of likes and unlikes; users run concurrently.
                // User i does 3 + i % 4 operations alternating like/unlike, starting with like for even i.
                func finalIsLike(_ index: Int) -> Bool {
                    let operations = 3 + index % 4
                    return (operations - 1 + index) % 2 == 0
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (index, user) in users.enumerated() {
                        group.addTask {
                            for step in 0..<(3 + index % 4) {
                                if (step + index) % 2 == 0 {
                                    _ = try await store.like(userID: user.id, postID: post.id, now: t0)
                                } else {
                                    _ = try await store.unlike(userID: user.id, postID: post.id)
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let expectedAfterPhase1 = users.indices.filter(finalIsLike).count
                #expect(try await store.requirePost(post.id).likeCount == expectedAfterPhase1)
                let phase1Flags = try await Self.likedSet(store, users: users, postID: post.id)
                #expect(phase1Flags == Set(users.indices.filter(finalIsLike).map { users[$0].id }))

                // Phase 2: the same pair races with itself: even users send 5 likes at once, odd users 5 unlikes.
                let changes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for (index, user) in users.enumerated() {
                        for _ in 0..<5 {
                            group.addTask {
                                let result =
                                    index % 2 == 0
                                    ? try await store.like(userID: user.id, postID: post.id, now: t0 + 1)
                                    : try await store.unlike(userID: user.id, postID: post.id)
                                return (index, result.changed)
                            }
                        }
                    }
                    var changes = [Int](repeating: 0, count: users.count)
                    for try await (index, changed) in group where changed { changes[index] += 1 }
                    return changes
                }
                for index in users.indices {
                    let wasLiked = finalIsLike(index)
                    let wantsLiked = index % 2 == 0
                    #expect(changes[index] == (wasLiked == wantsLiked ? 0 : 1), "user \(index)")
                }
                #expect(try await store.requirePost(post.id).likeCount == 50)
                #expect(try await Self.likedSet(store, users: users, postID: post.id) == Set(users.indices.filter { $0 % 2 == 0 }.map { users[$0].id }))
            }
        }

        @Test func concurrentSharesCountOncePerUser() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let post = try await store.makePost(by: author.id, ids: ids)
                let users = try await store.makeUsers(50, prefix: "sharer", ids: ids)
                let changed = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for user in users {
                        for _ in 0..<3 {
                            group.addTask { try await store.share(userID: user.id, postID: post.id, now: t0).changed }
                        }
                    }
                    var count = 0
                    for try await flag in group where flag { count += 1 }
                    return count
                }
                #expect(changed == 50)
                #expect(try await store.requirePost(post.id).shareCount == 50)
            }
        }

        @Test func followAndUnfollowStormsKeepCountersEqualToRows() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let target = try await store.makeUser("target", ids: ids)
                let users = try await store.makeUsers(100, prefix: "fan", ids: ids)

                // Phase 1: all 100 follow the target at once, each sending the same follow 3 times concurrently.
                let newFollows = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                    for (index, user) in users.enumerated() {
                        for _ in 0..<3 {
                            group.addTask {
                                (index, try await store.follow(followerID: user.id, followeeID: target.id, id: ids.next(), now: t0))
                            }
                        }
                    }
                    var counts = [Int](repeating: 0, count: users.count)
                    for try await (index, isNew) in group where isNew { counts[index] += 1 }
                    return counts
                }
                #expect(newFollows == [Int](repeating: 1, count: users.count))
                var targetNow = try await store.requireUser(target.id)
                #expect(targetNow.followersCount == 100)
                #expect(try await store.allFollowers(of: target.id).count == 100)
                #expect(Set(try await store.allFollowers(of: target.id).map(\.user.id)) == Set(users.map(\.id)))
                for user in try await store.users(ids: users.map(\.id)).values {
                    #expect(user.followingCount == 1, "\(user.username)")
                }

                // Phase 2, at once: the target follows everyone back while the first half unfollow it
                // (each unfollow sent twice). Both directions touch the same two counter rows.
                let unfollowers = Array(users.prefix(50))
                let stayers = Array(users.suffix(50))
                let outcome = try await withThrowingTaskGroup(of: (String, Int, Bool).self) { group in
                    for (index, user) in users.enumerated() {
                        group.addTask {
                            ("follow", index, try await store.follow(followerID: target.id, followeeID: user.id, id: ids.next(), now: t0 + 1))
                        }
                    }
                    for (index, user) in unfollowers.enumerated() {
                        for _ in 0..<2 {
                            group.addTask { ("unfollow", index, try await store.unfollow(followerID: user.id, followeeID: target.id)) }
                        }
                    }
                    var followBacks = 0
                    var removed = [Int](repeating: 0, count: unfollowers.count)
                    for try await (kind, index, changed) in group where changed {
                        if kind == "follow" { followBacks += 1 } else { removed[index] += 1 }
                    }
                    return (followBacks, removed)
                }
                #expect(outcome.0 == 100)
                #expect(outcome.1 == [Int](repeating: 1, count: unfollowers.count))

                targetNow = try await store.requireUser(target.id)
                let followerRows = try await store.allFollowers(of: target.id)
                let followingRows = try await store.allFollowing(of: target.id)
                #expect(targetNow.followersCount == 50)
                #expect(followerRows.count == 50)
                #expect(Set(followerRows.map(\.user.id)) == Set(stayers.map(\.id)))
                #expect(targetNow.followingCount == 100)
                #expect(followingRows.count == 100)

                let current = try await store.users(ids: users.map(\.id))
                for user in unfollowers {
                    #expect(current[user.id]?.followingCount == 0, "\(user.username)")
                    #expect(current[user.id]?.followersCount == 1, "\(user.username)")
                }
                for user in stayers {
                    #expect(current[user.id]?.followingCount == 1, "\(user.username)")
                    #expect(current[user.id]?.followersCount == 1, "\(user.username)")
                }
                let relations = try await store.relationships(viewerID: target.id, otherIDs: users.map(\.id))
                #expect(users.allSatisfy { relations[$0.id]?.following == true })
                #expect(unfollowers.allSatisfy { relations[$0.id]?.followedBy != true })
                #expect(stayers.allSatisfy { relations[$0.id]?.followedBy == true })
            }
        }

        @Test func concurrentCreatePostWithOneIdempotencyKeyCreatesOnce() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let key = IdempotencyKey(userID: author.id, scope: "posts", key: "double-click")
                let attempts = (0..<20).map { _ in Post(id: ids.next(), authorID: author.id, text: "once", createdAt: t0, updatedAt: t0) }

                let results = try await withThrowingTaskGroup(of: Creation<Post>.self) { group in
                    for post in attempts {
                        group.addTask { try await store.createPost(post, idempotency: key, now: t0) }
                    }
                    var results: [Creation<Post>] = []
                    for try await result in group { results.append(result) }
                    return results
                }
                let created = results.compactMap(\.createdItem)
                #expect(results.count == 20)
                #expect(created.count == 1)
                let winner = try #require(created.first)
                let replays = results.compactMap(\.replayedID)
                #expect(replays.count == 19)
                #expect(replays.allSatisfy { $0 == winner.id })
                #expect(try await store.requireUser(author.id).postsCount == 1)
                #expect(try await store.posts(ids: attempts.map(\.id)).keys.sorted() == [winner.id])
                #expect(try await store.recentPublicPosts(before: nil, limit: 50, filter: FeedFilter()).map(\.id) == [winner.id])
            }
        }

        @Test func concurrentCreateUserWithOneUsernameCreatesOnce() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let names = ["Racer", "racer", "RACER", "rAcEr", "racer", "Racer", "RaCeR", "racER", "RACEr", "racer"]
                let outcomes = try await withThrowingTaskGroup(of: Result<User, RoostError>.self) { group in
                    for (index, name) in names.enumerated() {
                        group.addTask {
                            do {
                                return .success(
                                    try await store.createUser(
                                        NewUser(
                                            id: ids.next(), username: name, email: "racer\(index)@example.com", displayName: name,
                                            passwordHash: "h", createdAt: t0)))
                            } catch let error as RoostError {
                                return .failure(error)
                            }
                        }
                    }
                    var outcomes: [Result<User, RoostError>] = []
                    for try await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
                let winners = outcomes.compactMap { try? $0.get() }
                let errors = outcomes.compactMap { outcome -> RoostError? in
                    if case .failure(let error) = outcome { return error }
                    return nil
                }
                #expect(winners.count == 1)
                #expect(errors.count == names.count - 1)
                #expect(errors.allSatisfy { $0.code == "conflict" && $0.field == "username" })
                #expect(try await store.user(username: "racer") == winners.first)
            }
        }

        @Test func concurrentPostsCommentsAndDeletesKeepCountsExact() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("author", ids: ids)
                let commenters = try await store.makeUsers(10, prefix: "c", ids: ids)

                let posts = try await withThrowingTaskGroup(of: Post.self) { group in
                    for index in 0..<40 {
                        group.addTask { try await store.makePost(by: author.id, ids: ids, text: "post \(index)") }
                    }
                    var posts: [Post] = []
                    for try await post in group { posts.append(post) }
                    return posts.sorted { $0.id < $1.id }
                }
                #expect(try await store.requireUser(author.id).postsCount == 40)

                let target = posts[0]
                let root = try await store.makeComment(on: target.id, by: author.id, ids: ids)
                let comments = try await withThrowingTaskGroup(of: Comment.self) { group in
                    for index in 0..<60 {
                        let commenter = commenters[index % commenters.count]
                        group.addTask {
                            try await store.makeComment(
                                on: target.id, by: commenter.id, parent: index % 2 == 0 ? root.id : nil, text: "c\(index)", ids: ids)
                        }
                    }
                    var comments: [Comment] = []
                    for try await comment in group { comments.append(comment) }
                    return comments
                }
                #expect(try await store.requirePost(target.id).commentCount == 61)
                #expect(try await store.comments(postID: target.id, after: nil, limit: 100).count == 61)

                // Deleting the root (with its 30 replies) while top-level comments are deleted, each delete sent twice.
                let topLevel = comments.filter { $0.parentID == nil }.prefix(10)
                let deleted = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for comment in [root] + topLevel {
                        for _ in 0..<2 {
                            group.addTask { try await store.deleteComment(id: comment.id) }
                        }
                    }
                    var count = 0
                    for try await removed in group where removed { count += 1 }
                    return count
                }
                #expect(deleted == 11)
                #expect(try await store.requirePost(target.id).commentCount == 20)
                #expect(try await store.comments(postID: target.id, after: nil, limit: 100).count == 20)

                // Half the posts deleted at once, each delete sent twice.
                let doomed = posts.suffix(20)
                let removed = try await withThrowingTaskGroup(of: Bool.self) { group in
                    for post in doomed {
                        for _ in 0..<2 {
                            group.addTask { try await store.deletePost(id: post.id) }
                        }
                    }
                    var count = 0
                    for try await flag in group where flag { count += 1 }
                    return count
                }
                #expect(removed == 20)
                #expect(try await store.requireUser(author.id).postsCount == 20)
                #expect(try await store.postsByAuthor(author.id, before: nil, limit: 50, filter: FeedFilter()).count == 20)
            }
        }

        private static func likedSet(_ store: any RoostStore, users: [User], postID: ID) async throws -> Set<ID> {
            var liked = Set<ID>()
            for user in users {
                if try await store.viewerFlags(userID: user.id, postIDs: [postID])[postID]?.liked == true { liked.insert(user.id) }
            }
            return liked
        }
    }
}
