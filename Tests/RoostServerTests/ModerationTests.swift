import Foundation
import RoostCore
import RoostStorage
import Testing

@testable import RoostServer

extension API {
    /// Makes `account` a moderator, as `roost user grant-moderator NAME` does, and logs in again:
    /// access tokens carry the role for the visibility rule (moderation endpoints check the store).
    func grantModerator(_ account: Account) async throws -> Account {
        guard let user = try await services.store.user(username: account.username) else { throw TestFailure("no \(account.username)") }
        try await services.store.setModerator(userID: user.id, true)
        let login = try await post("/auth/login", json: ["login": .string(account.username), "password": .string(account.password)])
        guard login.code == 200, let access = login.body["access_token"]?.string, let refresh = login.body["refresh_token"]?.string else {
            throw TestFailure("login failed: \(login)")
        }
        var moderator = account
        moderator.access = access
        moderator.refresh = refresh
        return moderator
    }
}

/// A clock tests move by hand (rate-limit windows, account age).
final class ManualClock: RoostClock {
    private let current: Locked<Date>

    init(_ start: Date = Date()) {
        current = Locked(start)
    }

    func now() -> Date { current.value }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

/// Automatic moderation of new posts, reports, the moderators' queue and decisions, and the audit
/// trail, on either backend.
@Suite(.timeLimit(.minutes(3)))
struct ModerationTests {
    static func configure(_ configuration: inout RoostConfiguration) {
        configuration.moderation.bannedTerms = ["scamcoin", "buy followers"]
    }

    static func status(_ post: JSON) -> String? { post["moderation_status"]?.string }

    @Test("spam is held or removed automatically, with an audit trail; ordinary posts, even from new accounts, are approved")
    func automaticModeration() async throws {
        try await TestApp.run(configure: Self.configure) { api in
            let newcomer = try await api.register("newcomer")
            let follower = try await api.register("onlooker")
            let moderator = try await api.grantModerator(try await api.register("mod"))
            _ = try await api.put("/users/\(newcomer.id)/follow", token: follower.access)

            let ordinary = try await api.createPost(newcomer, text: "Hello campus, excited to join the photo club!")
            #expect(Self.status(ordinary) == "approved")
            let banned = try await api.createPost(newcomer, text: "Invest in ScamCoin today")
            #expect(Self.status(banned) == "removed")
            let phrase = try await api.createPost(newcomer, text: "cheap way to BUY-FOLLOWERS fast", extra: ["title": "deal"])
            #expect(Self.status(phrase) == "removed")
            let linky = try await api.createPost(newcomer, text: "my portfolio https://photos.example.com/me")
            #expect(Self.status(linky) == "pending", "a brand-new account posting a link is held")
            let links = try await api.createPost(
                newcomer, text: "deals https://a.example.com https://b.example.com https://c.example.com", extra: ["title": "links"])
            #expect(Self.status(links) == "pending")
            let shouting = try await api.createPost(newcomer, text: "EVERYBODY LOOK AT THIS AMAZING OFFER NOW")
            #expect(Self.status(shouting) == "pending")
            let copy = "Join my channel for daily giveaways and prizes"
            #expect(Self.status(try await api.createPost(newcomer, text: copy)) == "approved")
            #expect(Self.status(try await api.createPost(newcomer, text: copy.uppercased())) == "pending", "a repeat is held")
            _ = try await api.createPost(newcomer, text: copy)
            #expect(Self.status(try await api.createPost(newcomer, text: copy)) == "removed", "a flood of repeats is removed")
            let ids = { (post: JSON) in post["id"]?.string ?? "?" }

            // Held posts: the author and moderators only. Removed posts: moderators only.
            #expect(try await api.get("/posts/\(ids(linky))", token: newcomer.access).code == 200)
            #expect(try await api.get("/posts/\(ids(linky))", token: moderator.access).code == 200)
            expectError(try await api.get("/posts/\(ids(linky))", token: follower.access), 404, "not_found")
            expectError(try await api.get("/posts/\(ids(banned))", token: newcomer.access), 404, "not_found")
            #expect(try await api.get("/posts/\(ids(banned))").code == 404)
            try await FeedEngineTests.drainFanOut(api)
            let visibleToFollower = try await api.ids("/feeds/home", follower)
            #expect(visibleToFollower.count == 2 && visibleToFollower.last == ids(ordinary), "\(visibleToFollower)")
            #expect(try await api.ids("/feeds/recent", nil) == visibleToFollower)
            #expect(try await api.ids("/search?q=scamcoin", follower).isEmpty)
            #expect(try await api.ids("/search?q=portfolio", newcomer) == [ids(linky)], "authors find their held posts")
            #expect(try await api.ids("/search?q=portfolio", follower).isEmpty)

            // The queue holds the held posts with the reason; the audit trail records each verdict.
            let queue = try await api.allPages("/moderation/queue", token: moderator.access)
            let held = queue.compactMap { $0["post"]?["id"]?.string }
            #expect(held.count == 5 && held.contains(ids(linky)) && held.contains(ids(shouting)), "\(queue)")
            let linkyItem = try #require(queue.first { $0["target_id"]?.string == ids(linky) })
            #expect(linkyItem["kind"] == "post" && linkyItem["held_reason"]?.string?.contains("new_account_links") == true)
            #expect(linkyItem["open_reports"] == 0 && linkyItem["reports"] == [])
            let trail = try await api.allPages("/moderation/decisions?kind=post&target_id=\(ids(banned))", token: moderator.access)
            #expect(trail.count == 1)
            #expect(trail.first?["automatic"] == true && trail.first?["moderator"] == .null && trail.first?["action"] == "remove")
            #expect(trail.first?["new_status"] == "removed" && trail.first?["reason"]?.string?.contains("banned_term") == true)
            #expect(try await api.allPages("/moderation/decisions", token: moderator.access).count == 8, "one per held or removed post")
        }
    }

    @Test("a moderator's decision takes effect everywhere at once and is audited; only moderators decide")
    func decisions() async throws {
        let clock = ManualClock()
        try await TestApp.run(clock: clock, configure: Self.configure) { api in
            let author = try await api.register("author")
            let follower = try await api.register("follower")
            let moderator = try await api.grantModerator(try await api.register("moderator"))
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            _ = try await api.ids("/feeds/home", follower)
            clock.advance(by: 2 * 24 * 3600)

            let held = try #require(try await api.createPost(author, text: "Tutorial at https://a.example https://b.example https://c.example")["id"]?.string)
            let fine = try #require(try await api.createPost(author, text: "A perfectly fine post about lenses", extra: ["tags": ["lens"]])["id"]?.string)
            _ = try await api.put("/posts/\(fine)/like", token: follower.access)
            _ = try await api.post("/posts/\(fine)/comments", token: follower.access, json: ["text": "nice"])
            try await FeedEngineTests.drainFanOut(api)
            #expect(try await api.ids("/feeds/home", follower) == [fine])

            // Only moderators (checked against the store, not the token).
            expectError(try await api.get("/moderation/queue", token: author.access), 403, "forbidden")
            expectError(try await api.get("/moderation/queue"), 401, "unauthorized")
            expectError(try await api.post("/moderation/posts/\(held)", token: author.access, json: ["action": "approve"]), 403, "forbidden")
            expectError(try await api.get("/moderation/decisions", token: follower.access), 403, "forbidden")
            expectError(
                try await api.post("/moderation/posts/\(held)", token: moderator.access, json: ["action": "hold"]), 400, "validation_failed",
                field: "action")
            expectError(
                try await api.post("/moderation/posts/999999999", token: moderator.access, json: ["action": "approve"]), 404, "not_found")

            // Approval: the held post enters every feed.
            let approved = try await api.post(
                "/moderation/posts/\(held)", token: moderator.access, json: ["action": "approve", "reason": "links are legit"])
            #expect(approved.code == 200, "\(approved)")
            #expect(approved.body["post"]?["moderation_status"] == "approved")
            #expect(approved.body["decision"]?["previous_status"] == "pending" && approved.body["decision"]?["new_status"] == "approved")
            #expect(approved.body["decision"]?["moderator"]?["username"] == "moderator")
            #expect(try await api.ids("/feeds/home", follower) == [fine, held])
            #expect(try await api.ids("/feeds/recent", nil) == [fine, held])
            #expect(try await api.ids("/search?q=tutorial", nil) == [held])

            // Removal: the post leaves every feed, search and list at once (moderators still see it).
            try await api.services.feeds.refreshTrending(window: "24h")
            #expect(try await api.ids("/feeds/trending", nil) == [fine])
            let removed = try await api.post("/moderation/posts/\(fine)", token: moderator.access, json: ["action": "remove", "reason": "off-topic"])
            #expect(removed.code == 200 && removed.body["post"]?["moderation_status"] == "removed")
            for algorithm in FeedAlgorithm.allCases.map(\.rawValue) {
                #expect(try await api.ids("/feeds/home?algorithm=\(algorithm)", follower) == [held], "\(algorithm)")
            }
            #expect(try await api.ids("/feeds/recent", follower) == [held])
            #expect(try await api.ids("/feeds/trending", follower).isEmpty)
            #expect(try await api.ids("/users/author/posts", author) == [held])
            #expect(try await api.ids("/search?q=lenses", follower).isEmpty)
            #expect(try await api.ids("/search?q=lens", author).isEmpty)
            for account in [author, follower] {
                expectError(try await api.get("/posts/\(fine)", token: account.access), 404, "not_found")
                expectError(try await api.get("/posts/\(fine)/comments", token: account.access), 404, "not_found")
                expectError(try await api.put("/posts/\(fine)/like", token: account.access), 404, "not_found")
            }
            #expect(try await api.get("/posts/\(fine)", token: moderator.access).body["moderation_status"] == "removed")

            // The audit trail says who decided what and why.
            let trail = try await api.allPages("/moderation/decisions", token: moderator.access)
            let mine = trail.filter { $0["automatic"] == false }
            #expect(mine.compactMap { $0["action"]?.string } == ["remove", "approve"])
            #expect(mine.compactMap { $0["reason"]?.string } == ["off-topic", "links are legit"])
            #expect(mine.allSatisfy { $0["moderator"]?["username"] == "moderator" })
            #expect(trail.contains { $0["automatic"] == true && $0["target_id"]?.string == held && $0["action"] == "hold" })

            // Edits pass the checks again: spam edited in afterwards is removed.
            let edited = try await api.patch("/posts/\(held)", token: author.access, json: ["text": "now with scamcoin"])
            #expect(edited.code == 200 && edited.body["moderation_status"] == "removed", "\(edited)")
            #expect(try await api.ids("/feeds/recent", nil).isEmpty)

            // A moderator deleting someone's post is audited too.
            let other = try #require(try await api.createPost(author, text: "Another ordinary post")["id"]?.string)
            #expect(try await api.delete("/posts/\(other)", token: moderator.access).code == 204)
            let deletion = try await api.allPages("/moderation/decisions?kind=post&target_id=\(other)", token: moderator.access)
            #expect(deletion.first?["action"] == "remove" && deletion.first?["reason"] == "deleted")

            // The role is taken away: the next request is refused, whatever the token says.
            try await api.services.store.setModerator(userID: try #require(UInt64(moderator.id)), false)
            expectError(try await api.get("/moderation/queue", token: moderator.access), 403, "forbidden")
        }
    }

    @Test("reports land in the queue, de-duplicated; enough of them hold a post; moderators settle them")
    func reports() async throws {
        let clock = ManualClock()
        try await TestApp.run(clock: clock, configure: Self.configure) { api in
            let author = try await api.register("reported")
            let reporters = try await api.registerMany(3, prefix: "reporter")
            let moderator = try await api.grantModerator(try await api.register("mod"))
            clock.advance(by: 2 * 24 * 3600)
            let post = try #require(try await api.createPost(author, text: "Something people dislike")["id"]?.string)
            let comment = try #require(
                try await api.post("/posts/\(post)/comments", token: author.access, json: ["text": "and a rude comment"]).body["id"]?.string)

            // Validation.
            expectError(try await api.post("/reports", json: ["post_id": .string(post), "reason": "spam"]), 401, "unauthorized")
            expectError(try await api.post("/reports", token: reporters[0].access, json: ["reason": "spam"]), 400, "validation_failed")
            expectError(
                try await api.post(
                    "/reports", token: reporters[0].access, json: ["post_id": .string(post), "user_id": .string(author.id), "reason": "spam"]), 400,
                "validation_failed")
            expectError(
                try await api.post("/reports", token: reporters[0].access, json: ["post_id": .string(post), "reason": "  "]), 400,
                "validation_failed", field: "reason")
            expectError(try await api.post("/reports", token: reporters[0].access, json: ["user_id": "123456789", "reason": "x"]), 404, "not_found")

            let first = try await api.post("/reports", token: reporters[0].access, json: ["post_id": .string(post), "reason": "spam"])
            #expect(first.code == 201, "\(first)")
            #expect(first.body["post_id"]?.string == post && first.body["comment_id"] == .null && first.body["status"] == "open")
            #expect(first.body["reason"] == "spam" && isContractTimestamp(first.body["created_at"]))
            let again = try await api.post("/reports", token: reporters[0].access, json: ["post_id": .string(post), "reason": "again"])
            #expect(again.code == 201 && again.body["id"] == first.body["id"], "one open report per reporter and target")
            _ = try await api.post("/reports", token: reporters[1].access, json: ["post_id": .string(post), "reason": "offensive"])
            _ = try await api.post("/reports", token: reporters[2].access, json: ["comment_id": .string(comment), "reason": "insult"])
            _ = try await api.post("/reports", token: reporters[2].access, json: ["user_id": .string(author.id), "reason": "troll"])

            let queue = try await api.allPages("/moderation/queue", token: moderator.access, limit: 1)
            #expect(queue.compactMap { $0["kind"]?.string } == ["post", "comment", "user"])
            #expect(queue[0]["open_reports"] == 2 && queue[0]["post"]?["id"]?.string == post)
            #expect(queue[0]["reports"]?.array?.compactMap { $0["reporter"]?["username"]?.string } == ["reporter1", "reporter0"])
            #expect(queue[1]["comment"]?["text"] == "and a rude comment" && queue[1]["reports"]?[0]?["reason"] == "insult")
            #expect(queue[2]["user"]?["username"] == "reported")
            #expect(try await api.get("/posts/\(post)").code == 200, "two reports do not hold a post")

            // A third reporter holds it for review.
            _ = try await api.post("/reports", token: reporters[2].access, json: ["post_id": .string(post), "reason": "me too"])
            expectError(try await api.get("/posts/\(post)"), 404, "not_found")
            #expect(try await api.get("/posts/\(post)", token: author.access).body["moderation_status"] == "pending")
            let hold = try await api.allPages("/moderation/decisions?kind=post&target_id=\(post)", token: moderator.access)
            #expect(hold.first?["action"] == "hold" && hold.first?["automatic"] == true && hold.first?["reason"] == "reported by 3 users")

            // Settling: approving resolves the post's reports; comments and accounts are dismissed or removed.
            _ = try await api.post("/moderation/posts/\(post)", token: moderator.access, json: ["action": "approve"])
            #expect(try await api.get("/posts/\(post)").code == 200)
            expectError(
                try await api.post("/moderation/comments/\(comment)", token: moderator.access, json: ["action": "approve"]), 400,
                "validation_failed", field: "action")
            let removedComment = try await api.post(
                "/moderation/comments/\(comment)", token: moderator.access, json: ["action": "remove", "reason": "insulting"])
            #expect(removedComment.code == 200 && removedComment.body["kind"] == "comment" && removedComment.body["action"] == "remove")
            #expect(try await api.allPages("/posts/\(post)/comments").isEmpty)
            let dismissed = try await api.post("/moderation/users/\(author.id)", token: moderator.access, json: ["action": "dismiss"])
            #expect(dismissed.code == 200 && dismissed.body["kind"] == "user")
            #expect(try await api.allPages("/moderation/queue", token: moderator.access).isEmpty)
            expectError(
                try await api.post("/moderation/comments/\(comment)", token: moderator.access, json: ["action": "dismiss"]), 404, "not_found")
        }
    }
}
