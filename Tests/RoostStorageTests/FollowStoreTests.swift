import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Follows {
        @Test func followAndUnfollowAreIdempotentAndMoveCounters() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let a = try await store.makeUser("a_user", ids: ids)
                let b = try await store.makeUser("b_user", ids: ids)

                #expect(try await store.follow(followerID: a.id, followeeID: b.id, id: ids.next(), now: t0) == true)
                #expect(try await store.follow(followerID: a.id, followeeID: b.id, id: ids.next(), now: t0 + 1) == false)
                var ua = try await store.requireUser(a.id)
                var ub = try await store.requireUser(b.id)
                #expect(ua.followingCount == 1)
                #expect(ua.followersCount == 0)
                #expect(ub.followersCount == 1)
                #expect(ub.followingCount == 0)
                #expect(try await store.allFollowers(of: b.id).map(\.user.id) == [a.id])

                #expect(try await store.unfollow(followerID: a.id, followeeID: b.id) == true)
                #expect(try await store.unfollow(followerID: a.id, followeeID: b.id) == false)
                #expect(try await store.unfollow(followerID: b.id, followeeID: a.id) == false)
                ua = try await store.requireUser(a.id)
                ub = try await store.requireUser(b.id)
                #expect(ua.followingCount == 0)
                #expect(ub.followersCount == 0)
                #expect(try await store.allFollowers(of: b.id).isEmpty)
                #expect(try await store.allFollowing(of: a.id).isEmpty)

                // Follow again after an unfollow.
                #expect(try await store.follow(followerID: a.id, followeeID: b.id, id: ids.next(), now: t0 + 2) == true)
                #expect(try await store.requireUser(b.id).followersCount == 1)
                #expect(try await store.requireUser(a.id).followingCount == 1)
            }
        }

        @Test func aNewFollowStoresItsNotificationOnceAcrossRefollows() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let fan = try await store.makeUser("fan", ids: ids)
                let star = try await store.makeUser("star", ids: ids)
                func follow(at time: Date) async throws -> FollowChange {
                    let notification = NotificationRecord(id: ids.next(), recipientID: star.id, kind: .follow, actorID: fan.id, createdAt: time)
                    return try await store.follow(
                        followerID: fan.id, followeeID: star.id, id: ids.next(), now: time, backfill: 20, notification: notification)
                }

                let first = try await follow(at: t0)
                #expect(first.isNew)
                #expect(first.notification?.kind == .follow)
                #expect(try await store.notifications(recipientID: star.id, before: nil, limit: 10).map(\.id) == [first.notification?.id])
                // Already following: nothing is written.
                #expect(try await follow(at: t0 + 1) == FollowChange(isNew: false))
                // Follow, unfollow, follow: the follow is new, its notification was stored the first time.
                #expect(try await store.unfollow(followerID: fan.id, followeeID: star.id))
                #expect(try await follow(at: t0 + 2) == FollowChange(isNew: true))
                #expect(try await store.notifications(recipientID: star.id, before: nil, limit: 10).count == 1)
                #expect(try await store.requireUser(star.id).followersCount == 1)
            }
        }

        @Test func relationshipsInBothDirections() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let viewer = try await store.makeUser("viewer", ids: ids)
                let followed = try await store.makeUser("followed", ids: ids)
                let fan = try await store.makeUser("fan", ids: ids)
                let mutual = try await store.makeUser("mutual", ids: ids)
                let stranger = try await store.makeUser("stranger", ids: ids)

                _ = try await store.follow(followerID: viewer.id, followeeID: followed.id, id: ids.next(), now: t0)
                _ = try await store.follow(followerID: fan.id, followeeID: viewer.id, id: ids.next(), now: t0)
                _ = try await store.follow(followerID: viewer.id, followeeID: mutual.id, id: ids.next(), now: t0)
                _ = try await store.follow(followerID: mutual.id, followeeID: viewer.id, id: ids.next(), now: t0)
                // Follows between others do not leak into the viewer's relationships.
                _ = try await store.follow(followerID: fan.id, followeeID: stranger.id, id: ids.next(), now: t0)
                _ = try await store.follow(followerID: stranger.id, followeeID: followed.id, id: ids.next(), now: t0)

                let unknown = ids.next()
                let relations = try await store.relationships(
                    viewerID: viewer.id, otherIDs: [followed.id, fan.id, mutual.id, stranger.id, unknown])
                #expect(relations[followed.id] == Relationship(following: true, followedBy: false))
                #expect(relations[fan.id] == Relationship(following: false, followedBy: true))
                #expect(relations[mutual.id] == Relationship(following: true, followedBy: true))
                #expect((relations[stranger.id] ?? Relationship(following: false, followedBy: false)) == Relationship(following: false, followedBy: false))
                #expect((relations[unknown] ?? Relationship(following: false, followedBy: false)) == Relationship(following: false, followedBy: false))
                #expect(try await store.relationships(viewerID: viewer.id, otherIDs: []).isEmpty)

                let seenByFan = try await store.relationships(viewerID: fan.id, otherIDs: [viewer.id, stranger.id, followed.id])
                #expect(seenByFan[viewer.id] == Relationship(following: true, followedBy: false))
                #expect(seenByFan[stranger.id] == Relationship(following: true, followedBy: false))
                #expect((seenByFan[followed.id] ?? Relationship(following: false, followedBy: false)) == Relationship(following: false, followedBy: false))
            }
        }

        @Test func followersNewestFirstWithKeysetPaging() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let target = try await store.makeUser("target", ids: ids)
                var fans: [User] = []
                var followIDs: [ID] = []
                for index in 0..<5 {
                    let fan = try await store.makeUser("fan\(index)", ids: ids)
                    let followID = ids.next()
                    #expect(try await store.follow(followerID: fan.id, followeeID: target.id, id: followID, now: t0 + Double(index)))
                    fans.append(fan)
                    followIDs.append(followID)
                }
                // Someone following somebody else is not listed.
                _ = try await store.follow(followerID: fans[0].id, followeeID: fans[1].id, id: ids.next(), now: t0)

                let page1 = try await store.followers(of: target.id, before: nil, limit: 2)
                #expect(page1.map(\.user.id) == [fans[4].id, fans[3].id])
                #expect(page1.map(\.position) == [followIDs[4], followIDs[3]])
                let page2 = try await store.followers(of: target.id, before: try #require(page1.last).position, limit: 2)
                #expect(page2.map(\.user.id) == [fans[2].id, fans[1].id])
                #expect(page2.map(\.position) == [followIDs[2], followIDs[1]])
                let page3 = try await store.followers(of: target.id, before: try #require(page2.last).position, limit: 2)
                #expect(page3.map(\.user.id) == [fans[0].id])
                let page4 = try await store.followers(of: target.id, before: try #require(page3.last).position, limit: 2)
                #expect(page4.isEmpty)

                // Listed users carry their current counters.
                let all = try await store.followers(of: target.id, before: nil, limit: 50)
                #expect(all.count == 5)
                #expect(all.first(where: { $0.user.id == fans[0].id })?.user.followingCount == 2)
                #expect(all.first(where: { $0.user.id == fans[1].id })?.user.followersCount == 1)

                // Re-following moves a follower to the top.
                #expect(try await store.unfollow(followerID: fans[1].id, followeeID: target.id))
                let refollowID = ids.next()
                #expect(try await store.follow(followerID: fans[1].id, followeeID: target.id, id: refollowID, now: t0 + 10))
                let top = try await store.followers(of: target.id, before: nil, limit: 1)
                #expect(top.map(\.user.id) == [fans[1].id])
                #expect(top.map(\.position) == [refollowID])
                #expect(try await store.allFollowers(of: target.id).map(\.user.id) == [fans[1].id, fans[4].id, fans[3].id, fans[2].id, fans[0].id])
            }
        }

        @Test func followingNewestFirstWithKeysetPaging() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let reader = try await store.makeUser("reader", ids: ids)
                var authors: [User] = []
                var followIDs: [ID] = []
                for index in 0..<5 {
                    let author = try await store.makeUser("author\(index)", ids: ids)
                    let followID = ids.next()
                    #expect(try await store.follow(followerID: reader.id, followeeID: author.id, id: followID, now: t0 + Double(index)))
                    authors.append(author)
                    followIDs.append(followID)
                }
                _ = try await store.follow(followerID: authors[2].id, followeeID: reader.id, id: ids.next(), now: t0)

                let page1 = try await store.following(of: reader.id, before: nil, limit: 3)
                #expect(page1.map(\.user.id) == [authors[4].id, authors[3].id, authors[2].id])
                #expect(page1.map(\.position) == [followIDs[4], followIDs[3], followIDs[2]])
                let page2 = try await store.following(of: reader.id, before: try #require(page1.last).position, limit: 3)
                #expect(page2.map(\.user.id) == [authors[1].id, authors[0].id])
                #expect(page2.map(\.position) == [followIDs[1], followIDs[0]])
                #expect(try await store.following(of: reader.id, before: followIDs[0], limit: 3).isEmpty)
                #expect(try await store.following(of: authors[2].id, before: nil, limit: 10).map(\.user.id) == [reader.id])
                #expect(try await store.following(of: authors[0].id, before: nil, limit: 10).isEmpty)
                #expect(try await store.requireUser(reader.id).followingCount == 5)
            }
        }
    }
}
