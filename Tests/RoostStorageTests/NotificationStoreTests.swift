import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Notifications {
        static func record(
            _ ids: IDGenerator, to recipient: ID, _ kind: NotificationKind, by actor: ID, post: ID? = nil, comment: ID? = nil, at date: Date = t0
        ) -> NotificationRecord {
            NotificationRecord(id: ids.next(), recipientID: recipient, kind: kind, actorID: actor, postID: post, commentID: comment, createdAt: date)
        }

        @Test func insertListNewestFirstAndPage() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice", ids: ids)
                let bob = try await store.makeUser("bob", ids: ids)
                let post = try await store.makePost(by: alice.id, ids: ids)
                let comment = try await store.makeComment(on: post.id, by: bob.id, ids: ids)
                let batch = [
                    Self.record(ids, to: alice.id, .follow, by: bob.id),
                    Self.record(ids, to: alice.id, .like, by: bob.id, post: post.id),
                    Self.record(ids, to: alice.id, .comment, by: bob.id, post: post.id, comment: comment.id, at: t0 + 0.0015),
                    Self.record(ids, to: bob.id, .mention, by: alice.id, post: post.id),
                ]
                let stored = try await store.insertNotifications(batch)
                #expect(stored.count == 4)
                #expect(stored[2].createdAt == Date(millis: (t0 + 0.0015).millis), "timestamps read back at millisecond precision")

                let list = try await store.notifications(recipientID: alice.id, before: nil, limit: 10)
                #expect(list.map(\.id) == batch.prefix(3).map(\.id).reversed())
                #expect(list.first?.commentID == comment.id && list.first?.postID == post.id && list.first?.kind == .comment)
                #expect(list.last?.postID == nil && list.last?.read == false)
                #expect(list.first == stored[2])
                let firstPage = try await store.notifications(recipientID: alice.id, before: nil, limit: 2)
                let secondPage = try await store.notifications(recipientID: alice.id, before: firstPage.last?.id, limit: 2)
                #expect((firstPage + secondPage).map(\.id) == list.map(\.id))
                #expect(try await store.notifications(recipientID: bob.id, before: nil, limit: 10).map(\.kind) == [.mention])
                #expect(try await store.insertNotifications([]).isEmpty)
            }
        }

        @Test func dedupeKeysStoreEachNotificationOnce() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice", ids: ids)
                let bob = try await store.makeUser("bob", ids: ids)
                let post = try await store.makePost(by: alice.id, ids: ids)
                let like = Self.record(ids, to: alice.id, .like, by: bob.id, post: post.id)
                #expect(try await store.insertNotifications([like]).count == 1)
                // Like again later (after an unlike): another id, same key.
                let again = Self.record(ids, to: alice.id, .like, by: bob.id, post: post.id)
                let follow = Self.record(ids, to: alice.id, .follow, by: bob.id)
                let followTwice = Self.record(ids, to: alice.id, .follow, by: bob.id)
                let stored = try await store.insertNotifications([again, follow, followTwice])
                #expect(stored.map(\.id) == [follow.id], "a repeated key is skipped, within a batch as against the table")
                // A retried batch (same ids) stores nothing twice.
                #expect(try await store.insertNotifications([like, follow]).isEmpty)
                #expect(try await store.notifications(recipientID: alice.id, before: nil, limit: 10).count == 2)
            }
        }

        @Test func markReadUpToAnIdAndCountUnread() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice", ids: ids)
                let fans = try await store.makeUsers(5, prefix: "fan", ids: ids)
                let records = fans.map { Self.record(ids, to: alice.id, .follow, by: $0.id) }
                let other = Self.record(ids, to: fans[0].id, .follow, by: alice.id)
                _ = try await store.insertNotifications(records + [other])
                #expect(try await store.unreadNotificationCount(recipientID: alice.id) == 5)
                #expect(try await store.markNotificationsRead(recipientID: alice.id, upTo: records[2].id) == 3)
                #expect(try await store.markNotificationsRead(recipientID: alice.id, upTo: records[2].id) == 0)
                #expect(try await store.unreadNotificationCount(recipientID: alice.id) == 2)
                let list = try await store.notifications(recipientID: alice.id, before: nil, limit: 10)
                #expect(list.map(\.read) == [false, false, true, true, true])
                // Only the recipient's own: a huge id marks nothing of anyone else's.
                #expect(try await store.markNotificationsRead(recipientID: fans[1].id, upTo: ID(Int64.max)) == 0)
                #expect(try await store.unreadNotificationCount(recipientID: fans[0].id) == 1)
                #expect(try await store.markNotificationsRead(recipientID: alice.id, upTo: ID(Int64.max)) == 2)
                #expect(try await store.unreadNotificationCount(recipientID: alice.id) == 0)
            }
        }

        @Test func notificationsAboutGoneContentAreLeftOut() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.makeUser("alice", ids: ids)
                let bob = try await store.makeUser("bob", ids: ids)
                let kept = try await store.makePost(by: alice.id, ids: ids)
                let doomed = try await store.makePost(by: alice.id, ids: ids)
                let comment = try await store.makeComment(on: kept.id, by: bob.id, ids: ids)
                _ = try await store.insertNotifications([
                    Self.record(ids, to: alice.id, .like, by: bob.id, post: kept.id),
                    Self.record(ids, to: alice.id, .like, by: bob.id, post: doomed.id),
                    Self.record(ids, to: alice.id, .comment, by: bob.id, post: kept.id, comment: comment.id),
                ])
                #expect(try await store.unreadNotificationCount(recipientID: alice.id) == 3)
                _ = try await store.deletePost(id: doomed.id)
                _ = try await store.deleteComment(id: comment.id)
                let list = try await store.notifications(recipientID: alice.id, before: nil, limit: 10)
                #expect(list.map(\.postID) == [kept.id], "the deleted post's and the deleted comment's are hidden")
                #expect(try await store.unreadNotificationCount(recipientID: alice.id) == 1)
                try await store.deleteNotifications(postID: doomed.id)
                try await store.deleteNotifications(postID: kept.id)
                #expect(try await store.notifications(recipientID: alice.id, before: nil, limit: 10).isEmpty)
            }
        }

        @Test func realtimeLookups() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("Author", ids: ids)
                let users = try await store.makeUsers(6, prefix: "u", ids: ids)
                for user in users.prefix(4) { _ = try await store.follow(followerID: user.id, followeeID: author.id, id: ids.next(), now: t0) }
                let candidates = [users[1].id, users[3].id, users[4].id, ids.next()]
                #expect(Set(try await store.followerIDs(of: author.id, among: candidates)) == [users[1].id, users[3].id])
                #expect(try await store.followerIDs(of: author.id, among: []).isEmpty)
                let all = users.prefix(4).map(\.id).sorted()
                let firstPage = try await store.followerIDs(of: author.id, after: 0, limit: 3)
                #expect(firstPage == Array(all.prefix(3)))
                #expect(try await store.followerIDs(of: author.id, after: firstPage[2], limit: 3) == [all[3]])

                let found = try await store.users(usernames: ["author", "U2", "nobody", "u2"])
                #expect(Set(found.map(\.username)) == ["Author", "u2"])
                #expect(try await store.users(usernames: []).isEmpty)

                let live = RefreshTokenRecord(tokenHash: "h1", familyID: "fam-live", userID: author.id, expiresAt: t0 + 3600)
                let ended = RefreshTokenRecord(tokenHash: "h2", familyID: "fam-ended", userID: author.id, expiresAt: t0 + 3600)
                try await store.insertRefreshToken(live)
                try await store.insertRefreshToken(ended)
                try await store.revokeRefreshFamily(familyID: "fam-ended", now: t0)
                #expect(try await store.revokedRefreshFamilies(among: ["fam-live", "fam-ended", "fam-unknown", "fam-ended"]) == ["fam-ended"])
                #expect(try await store.revokedRefreshFamilies(among: []).isEmpty)
            }
        }
    }
}
