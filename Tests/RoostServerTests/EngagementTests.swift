import Foundation
import HTTPTypes
import Testing

@testable import RoostServer

/// Likes, shares, views and follows, alone and under concurrency.
@Suite(.timeLimit(.minutes(3)))
struct EngagementTests {
    @Test("likes are idempotent and exact under 200 concurrent likers; shares once; views once per viewer")
    func likesSharesViews() async throws {
        try await TestApp.run { api in
            let author = try await api.register("author")
            let fan = try await api.register("fan")
            let post = try await api.createPost(author, text: "like me")
            let postID = try #require(post["id"]?.string)

            // Idempotent like / unlike, with the caller's change already counted.
            let like = try await api.put("/posts/\(postID)/like", token: fan.access)
            #expect(like.code == 200, "\(like)")
            #expect(like.body == ["liked": true, "like_count": 1])
            #expect(try await api.put("/posts/\(postID)/like", token: fan.access).body == ["liked": true, "like_count": 1])
            #expect(try await api.get("/posts/\(postID)", token: fan.access).body["viewer"]?["liked"] == true)
            #expect(try await api.get("/posts/\(postID)", token: author.access).body["viewer"]?["liked"] == false)
            #expect(try await api.get("/posts/\(postID)").body["like_count"]?.int == 1)
            let unlike = try await api.delete("/posts/\(postID)/like", token: fan.access)
            #expect(unlike.code == 200, "\(unlike)")
            #expect(unlike.body == ["liked": false, "like_count": 0])
            #expect(try await api.delete("/posts/\(postID)/like", token: fan.access).body == ["liked": false, "like_count": 0])
            #expect(try await api.get("/posts/\(postID)", token: fan.access).body["viewer"]?["liked"] == false)
            expectError(try await api.put("/posts/\(postID)/like"), 401, "unauthorized")
            expectError(try await api.put("/posts/123456789/like", token: fan.access), 404, "not_found")
            expectError(try await api.put("/posts/nope/like", token: fan.access), 404, "not_found")

            // 200 different users like concurrently: the count is exactly 200.
            let likers = try await api.registerMany(200, prefix: "liker")
            let likes = try await concurrently(likers.count) { index in
                try await api.put("/posts/\(postID)/like", token: likers[index].access)
            }
            #expect(likes.allSatisfy { $0.code == 200 }, "\(likes.filter { $0.code != 200 }.prefix(3))")
            let counts = likes.compactMap { $0.body["like_count"]?.int }
            #expect(counts.count == 200)
            #expect(counts.allSatisfy { (1...200).contains($0) }, "each answer counts its own like: \(counts.filter { !(1...200).contains($0) })")
            #expect(counts.max() == 200)
            let afterStorm = try await api.get("/posts/\(postID)")
            #expect(afterStorm.body["like_count"]?.int == 200)

            // Half of them unlike while the other half like again (no-ops): exactly 100 remain.
            let mixed = try await concurrently(likers.count) { index in
                index.isMultiple(of: 2)
                    ? try await api.delete("/posts/\(postID)/like", token: likers[index].access)
                    : try await api.put("/posts/\(postID)/like", token: likers[index].access)
            }
            #expect(mixed.allSatisfy { $0.code == 200 })
            #expect(try await api.get("/posts/\(postID)").body["like_count"]?.int == 100)

            // Shares: once per user.
            let share = try await api.post("/posts/\(postID)/share", token: fan.access)
            #expect(share.code == 200, "\(share)")
            #expect(share.body == ["shared": true, "share_count": 1])
            #expect(try await api.post("/posts/\(postID)/share", token: fan.access).body == ["shared": true, "share_count": 1])
            let concurrentShares = try await concurrently(10) { index in
                try await api.post("/posts/\(postID)/share", token: likers[index].access)
            }
            #expect(concurrentShares.allSatisfy { $0.code == 200 })
            #expect(try await api.get("/posts/\(postID)", token: fan.access).body["share_count"]?.int == 11)
            #expect(try await api.get("/posts/\(postID)", token: fan.access).body["viewer"]?["shared"] == true)
            #expect(try await api.get("/posts/\(postID)", token: author.access).body["viewer"]?["shared"] == false)
            expectError(try await api.post("/posts/\(postID)/share"), 401, "unauthorized")

            // Views: 204, at most once per viewer.
            let view = try await api.post("/posts/\(postID)/view", token: fan.access)
            #expect(view.code == 204, "\(view)")
            #expect(view.bytes.isEmpty)
            #expect(try await api.post("/posts/\(postID)/view", token: fan.access).code == 204)
            let concurrentViews = try await concurrently(5) { _ in try await api.post("/posts/\(postID)/view", token: author.access) }
            #expect(concurrentViews.allSatisfy { $0.code == 204 })
            // View counts may be served from a short-lived cache: wait for them to settle, then they must be exact.
            #expect(try await api.settledCount("/posts/\(postID)", "view_count", atLeast: 2) == 2, "two viewers, counted once each")
            #expect(try await api.post("/posts/\(postID)/view").code == 204, "views work anonymously")
            #expect(try await api.post("/posts/\(postID)/view").code == 204)
            let afterAnonymous = try await api.settledCount("/posts/\(postID)", "view_count", atLeast: 3, timeout: .seconds(3)) ?? 0
            #expect(afterAnonymous >= 2 && afterAnonymous <= 3, "an anonymous viewer counts at most once: \(afterAnonymous)")
            expectError(try await api.post("/posts/99999/view"), 404, "not_found")
        }
    }

    @Test("follow/unfollow storm keeps followers_count and following_count exact")
    func followStorm() async throws {
        try await TestApp.run { api in
            let target = try await api.register("target")
            let fans = try await api.registerMany(50, prefix: "fan")
            // Fan i ends up following unless i is a multiple of 3.
            let endsFollowing: @Sendable (Int) -> Bool = { !$0.isMultiple(of: 3) }
            let expectedFollowers = Set(fans.indices.filter(endsFollowing).map { fans[$0].id })
            let followedBack = 0..<10

            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, fan) in fans.enumerated() {
                    group.addTask {
                        for (method, following) in [(HTTPRequest.Method.put, true), (.delete, false), (.put, true)] {
                            let reply = try await api.send(method, "/users/\(target.id)/follow", token: fan.access)
                            #expect(reply.code == 200, "\(reply)")
                            #expect(reply.body == ["following": .bool(following)])
                        }
                        if index % 5 == 1 {
                            // The same pair, many times at once.
                            let repeats = try await concurrently(4) { _ in
                                try await api.put("/users/\(target.username)/follow", token: fan.access)
                            }
                            #expect(repeats.allSatisfy { $0.code == 200 && $0.body == ["following": true] })
                        }
                        if !endsFollowing(index) {
                            let unfollows = try await concurrently(2) { _ in
                                try await api.delete("/users/\(target.id)/follow", token: fan.access)
                            }
                            #expect(unfollows.allSatisfy { $0.code == 200 && $0.body == ["following": false] })
                        }
                    }
                }
                // Meanwhile the target follows ten of them back, twice each.
                for index in followedBack {
                    for _ in 0..<2 {
                        group.addTask {
                            let reply = try await api.put("/users/\(fans[index].id)/follow", token: target.access)
                            #expect(reply.code == 200, "\(reply)")
                        }
                    }
                }
                try await group.waitForAll()
            }

            let profile = try await api.user(target.id)
            #expect(profile["followers_count"]?.int == expectedFollowers.count)
            #expect(profile["following_count"]?.int == followedBack.count)

            let fanProfiles = try await concurrently(fans.count) { index in try await api.user(fans[index].id) }
            for (index, fanProfile) in fanProfiles.enumerated() {
                #expect(fanProfile["following_count"]?.int == (endsFollowing(index) ? 1 : 0), "fan\(index): \(fanProfile)")
                #expect(fanProfile["followers_count"]?.int == (followedBack.contains(index) ? 1 : 0), "fan\(index): \(fanProfile)")
            }

            // The lists agree with the counters, page by page, without repeats.
            let followers = try await api.allPages("/users/\(target.id)/followers", limit: 7)
            let followerIDs = followers.compactMap { $0["id"]?.string }
            #expect(followerIDs.count == Set(followerIDs).count, "a follower is listed twice")
            #expect(Set(followerIDs) == expectedFollowers)
            let following = try await api.allPages("/users/target/following", limit: 3)
            #expect(Set(following.compactMap { $0["id"]?.string }) == Set(followedBack.map { fans[$0].id }))
            #expect(following.count == followedBack.count)

            // Relationships as seen by a fan who follows and is followed back.
            #expect(try await api.user("target", viewer: fans[1])["viewer"] == ["following": true, "followed_by": true])
            #expect(try await api.user("target", viewer: fans[3])["viewer"] == ["following": false, "followed_by": true])
            #expect(try await api.user("target", viewer: fans[20])["viewer"] == ["following": true, "followed_by": false])

            // Self-follow and unknown users.
            expectError(try await api.put("/users/\(target.id)/follow", token: target.access), 400, "validation_failed")
            expectError(try await api.put("/users/TARGET/follow", token: target.access), 400, "validation_failed")
            expectError(try await api.put("/users/123456789012/follow", token: target.access), 404, "not_found")
            expectError(try await api.put("/users/no_such_user/follow", token: target.access), 404, "not_found")
            expectError(try await api.delete("/users/no_such_user/follow", token: target.access), 404, "not_found")
            expectError(try await api.get("/users/no_such_user/followers"), 404, "not_found")
            expectError(try await api.put("/users/\(fans[0].id)/follow"), 401, "unauthorized")
            let unchanged = try await api.user(target.id)
            #expect(unchanged["following_count"]?.int == followedBack.count)
            #expect(unchanged["followers_count"]?.int == expectedFollowers.count)
        }
    }
}
