import Foundation
import HTTPTypes
import Testing

@testable import RoostServer

/// Accounts, profiles, the follow graph's basic flow, tokens and the error contract.
@Suite(.timeLimit(.minutes(3)))
struct AccountTests {
    @Test("register, login, post, follow, profile, /me and PATCH /me")
    func accountAndFollowFlow() async throws {
        try await TestApp.run { api in
            // Register: 201 with the documented shape; email shown to the account itself.
            let registered = try await api.post(
                "/auth/register",
                json: ["username": "Alice", "email": "Alice@Example.com", "password": "alice-password", "display_name": "Alice A"])
            #expect(registered.code == 201, "\(registered)")
            let me = registered.body["user"]
            #expect(me?["username"]?.string == "Alice")
            #expect(me?["display_name"]?.string == "Alice A")
            #expect(me?["email"]?.string?.lowercased() == "alice@example.com")
            #expect(me?["followers_count"]?.int == 0)
            #expect(me?["following_count"]?.int == 0)
            #expect(me?["posts_count"]?.int == 0)
            #expect(me?["verified"]?.bool == false)
            #expect(isContractTimestamp(me?["created_at"]))
            #expect(numericID(me?["id"]) != nil, "ids are decimal strings")
            #expect(registered.body["access_token"]?.string?.isEmpty == false)
            #expect(registered.body["refresh_token"]?.string?.isEmpty == false)
            let expiresIn = registered.body["expires_in"]?.int ?? -1
            #expect(expiresIn > 0 && expiresIn <= 900, "access tokens live at most 15 minutes")
            let aliceID = try #require(me?["id"]?.string)

            // display_name defaults to the username.
            let bob = try await api.register("bob")
            #expect(try await api.user("bob")["display_name"]?.string == "bob")

            // Login by username (any case) and by email (any case); wrong credentials give no hint.
            let byName = try await api.post("/auth/login", json: ["login": "alice", "password": "alice-password"])
            #expect(byName.code == 200, "\(byName)")
            #expect(byName.body["user"]?["id"]?.string == aliceID)
            let byEmail = try await api.post("/auth/login", json: ["login": "ALICE@example.COM", "password": "alice-password"])
            #expect(byEmail.code == 200, "\(byEmail)")
            #expect(byEmail.body["user"]?["id"]?.string == aliceID)
            #expect(byEmail.body["user"]?["email"]?.string != nil)
            let alice = Account(
                id: aliceID, username: "Alice", email: "alice@example.com", password: "alice-password",
                access: try #require(byEmail.body["access_token"]?.string), refresh: try #require(byEmail.body["refresh_token"]?.string))
            let wrongPassword = try await api.post("/auth/login", json: ["login": "alice", "password": "not-her-password"])
            expectError(wrongPassword, 401, "unauthorized")
            let unknownUser = try await api.post("/auth/login", json: ["login": "nobody_at_all", "password": "alice-password"])
            expectError(unknownUser, 401, "unauthorized")
            #expect(
                wrongPassword.body["error"]?["message"] == unknownUser.body["error"]?["message"],
                "a failed login must not say which part was wrong")

            // Alice posts; text is trimmed, tags lower-cased.
            let post = try await api.createPost(alice, text: "  hello world  ", extra: ["tags": ["Swift", "news"]])
            let postID = try #require(post["id"]?.string)
            #expect(post["text"]?.string == "hello world")
            #expect(post["tags"] == ["swift", "news"])
            #expect(post["author"]?["id"]?.string == aliceID)
            #expect(post["author"]?["username"]?.string == "Alice")
            #expect(post["author"]?.has("email") == false)
            #expect(post["visibility"]?.string == "public")
            #expect(post["like_count"]?.int == 0)
            #expect(post["comment_count"]?.int == 0)
            #expect(post["viewer"] == ["liked": false, "shared": false])
            #expect(isContractTimestamp(post["created_at"]))
            #expect(isContractTimestamp(post["updated_at"]))
            let anonymousPost = try await api.get("/posts/\(postID)")
            #expect(anonymousPost.code == 200)
            #expect(anonymousPost.body["id"]?.string == postID)

            // Bob follows Alice (by id, then again by username: idempotent).
            let follow = try await api.put("/users/\(aliceID)/follow", token: bob.access)
            #expect(follow.code == 200, "\(follow)")
            #expect(follow.body == ["following": true])
            let again = try await api.put("/users/alice/follow", token: bob.access)
            #expect(again.code == 200, "\(again)")
            #expect(again.body == ["following": true])

            // Bob sees Alice's post in her list.
            let alicePosts = try await api.get("/users/\(aliceID)/posts", token: bob.access)
            #expect(alicePosts.code == 200, "\(alicePosts)")
            #expect(alicePosts.body["items"]?.array?.compactMap { $0["id"]?.string } == [postID])
            #expect(alicePosts.body["has_more"] == false)
            #expect(alicePosts.body["next_cursor"] == .null)

            // Lists and counters.
            let followers = try await api.get("/users/alice/followers")
            #expect(followers.code == 200, "\(followers)")
            let followerItems = followers.body["items"]?.array ?? []
            #expect(followerItems.compactMap { $0["id"]?.string } == [bob.id])
            #expect(followerItems.first?.has("viewer") == false, "anonymous lists carry no viewer object")
            #expect(followerItems.first?.has("email") == false)
            let followersSeenByAlice = try await api.get("/users/alice/followers", token: alice.access)
            #expect(followersSeenByAlice.body["items"]?[0]?["viewer"] == ["following": false, "followed_by": true])
            let following = try await api.get("/users/bob/following")
            #expect(following.body["items"]?.array?.compactMap { $0["id"]?.string } == [aliceID])
            #expect(try await api.get("/users/bob/followers").body["items"]?.array?.isEmpty == true)

            let aliceAnonymous = try await api.user("alice")
            #expect(aliceAnonymous["id"]?.string == aliceID)
            #expect(aliceAnonymous["followers_count"]?.int == 1)
            #expect(aliceAnonymous["following_count"]?.int == 0)
            #expect(aliceAnonymous["posts_count"]?.int == 1)
            #expect(!aliceAnonymous.has("email"), "email is shown only on /me")
            #expect(!aliceAnonymous.has("viewer"), "viewer is absent for anonymous requests")
            let aliceSeenByBob = try await api.user(aliceID, viewer: bob)
            #expect(!aliceSeenByBob.has("email"))
            #expect(aliceSeenByBob["viewer"] == ["following": true, "followed_by": false])
            let bobSeenByAlice = try await api.user("BOB", viewer: alice)
            #expect(bobSeenByAlice["viewer"] == ["following": false, "followed_by": true])
            #expect(bobSeenByAlice["following_count"]?.int == 1)
            #expect(bobSeenByAlice["followers_count"]?.int == 0)

            // /me shows the email; anonymous /me is a 401.
            let meReply = try await api.get("/me", token: alice.access)
            #expect(meReply.code == 200, "\(meReply)")
            #expect(meReply.body["id"]?.string == aliceID)
            #expect(meReply.body["email"]?.string?.lowercased() == "alice@example.com")
            #expect(meReply.body["followers_count"]?.int == 1)
            expectError(try await api.get("/me"), 401, "unauthorized")

            // PATCH /me: trimmed, validated, reflected on the public profile.
            let patched = try await api.patch(
                "/me", token: alice.access,
                json: ["display_name": "  Alice Cooper  ", "bio": "Hello 👋", "avatar_url": "https://cdn.example.com/a.png"])
            #expect(patched.code == 200, "\(patched)")
            #expect(patched.body["display_name"]?.string == "Alice Cooper")
            #expect(patched.body["bio"]?.string == "Hello 👋")
            #expect(patched.body["avatar_url"]?.string == "https://cdn.example.com/a.png")
            #expect(patched.body["email"]?.string != nil)
            let publicAfterPatch = try await api.user("alice")
            #expect(publicAfterPatch["display_name"]?.string == "Alice Cooper")
            #expect(publicAfterPatch["bio"]?.string == "Hello 👋")
            #expect(publicAfterPatch["avatar_url"]?.string == "https://cdn.example.com/a.png")
            let postAfterPatch = try await api.get("/posts/\(postID)")
            #expect(postAfterPatch.body["author"]?["display_name"]?.string == "Alice Cooper")

            expectError(try await api.patch("/me", token: alice.access, json: ["avatar_url": "javascript:alert(1)"]), 400, "validation_failed", field: "avatar_url")
            expectError(try await api.patch("/me", token: alice.access, json: ["avatar_url": "ftp://example.com/a.png"]), 400, "validation_failed", field: "avatar_url")
            expectError(try await api.patch("/me", token: alice.access, json: ["display_name": "   "]), 400, "validation_failed", field: "display_name")
            expectError(
                try await api.patch("/me", token: alice.access, json: ["display_name": .string(String(repeating: "x", count: 51))]), 400,
                "validation_failed", field: "display_name")
            expectError(
                try await api.patch("/me", token: alice.access, json: ["bio": .string(String(repeating: "b", count: 501))]), 400,
                "validation_failed", field: "bio")
            expectError(try await api.patch("/me", token: alice.access, json: ["display_name": 42]), 400, "validation_failed", field: "display_name")
            expectError(try await api.patch("/me", json: ["bio": "anonymous"]), 401, "unauthorized")
            let unchanged = try await api.patch("/me", token: alice.access, json: [:])
            #expect(unchanged.code == 200)
            #expect(unchanged.body["display_name"]?.string == "Alice Cooper", "failed or empty patches change nothing")
            let cleared = try await api.patch("/me", token: alice.access, json: ["bio": nil, "avatar_url": nil])
            #expect(cleared.code == 200, "\(cleared)")
            #expect(cleared.body["bio"]?.string ?? "" == "")
            #expect(cleared.body["avatar_url"] == .null)

            // Unfollow: idempotent, counters back, the public post stays visible.
            let unfollow = try await api.delete("/users/\(aliceID)/follow", token: bob.access)
            #expect(unfollow.code == 200, "\(unfollow)")
            #expect(unfollow.body == ["following": false])
            let unfollowAgain = try await api.delete("/users/alice/follow", token: bob.access)
            #expect(unfollowAgain.body == ["following": false])
            #expect(try await api.user("alice")["followers_count"]?.int == 0)
            #expect(try await api.user("bob")["following_count"]?.int == 0)
            #expect(try await api.user("alice", viewer: bob)["viewer"] == ["following": false, "followed_by": false])
            #expect(try await api.get("/users/alice/posts", token: bob.access).body["items"]?.array?.count == 1)
        }
    }

    @Test("refresh tokens rotate; reuse revokes the family; logout ends the session")
    func refreshRotation() async throws {
        try await TestApp.run { api in
            let rita = try await api.register("rita")

            let first = try await api.post("/auth/refresh", json: ["refresh_token": .string(rita.refresh)])
            #expect(first.code == 200, "\(first)")
            #expect(first.body["user"]?["id"]?.string == rita.id)
            let newAccess = try #require(first.body["access_token"]?.string)
            let newRefresh = try #require(first.body["refresh_token"]?.string)
            #expect(newRefresh != rita.refresh)
            #expect((first.body["expires_in"]?.int ?? 0) > 0)
            #expect(try await api.get("/me", token: newAccess).code == 200)

            // The old token is spent; presenting it again kills the whole family.
            expectError(try await api.post("/auth/refresh", json: ["refresh_token": .string(rita.refresh)]), 401, "unauthorized")
            expectError(
                try await api.post("/auth/refresh", json: ["refresh_token": .string(newRefresh)]), 401, "unauthorized",
                "the replacement of a reused token must be revoked with its family:")

            // Another login is another family and survives.
            let sessionA = try await api.post("/auth/login", json: ["login": "rita", "password": .string(rita.password)])
            let sessionB = try await api.post("/auth/login", json: ["login": "rita", "password": .string(rita.password)])
            let refreshA = try #require(sessionA.body["refresh_token"]?.string)
            let refreshB = try #require(sessionB.body["refresh_token"]?.string)
            let rotatedA = try await api.post("/auth/refresh", json: ["refresh_token": .string(refreshA)])
            #expect(rotatedA.code == 200)
            expectError(try await api.post("/auth/refresh", json: ["refresh_token": .string(refreshA)]), 401, "unauthorized")
            if let nextA = rotatedA.body["refresh_token"]?.string {
                expectError(try await api.post("/auth/refresh", json: ["refresh_token": .string(nextA)]), 401, "unauthorized")
            }
            let rotatedB = try await api.post("/auth/refresh", json: ["refresh_token": .string(refreshB)])
            #expect(rotatedB.code == 200, "revoking one family must not touch another: \(rotatedB)")

            // Racing presentations of one token: at most one wins, and the reuse revokes the family.
            let racing = try await api.post("/auth/login", json: ["login": "rita", "password": .string(rita.password)])
            let racingToken = try #require(racing.body["refresh_token"]?.string)
            let results = try await concurrently(6) { _ in
                try await api.post("/auth/refresh", json: ["refresh_token": .string(racingToken)])
            }
            let winners = results.filter { $0.code == 200 }
            #expect(winners.count == 1, "exactly one concurrent rotation may succeed: \(results.map(\.code))")
            #expect(results.allSatisfy { $0.code == 200 || $0.code == 401 }, "\(results.map(\.code))")
            if let winnerRefresh = winners.first?.body["refresh_token"]?.string {
                expectError(
                    try await api.post("/auth/refresh", json: ["refresh_token": .string(winnerRefresh)]), 401, "unauthorized",
                    "a reused token revokes its family, including the winner's replacement:")
            }

            // Logout: 204, then the session's refresh token is dead.
            let session = try await api.post("/auth/login", json: ["login": "rita@example.com", "password": .string(rita.password)])
            let sessionAccess = try #require(session.body["access_token"]?.string)
            let sessionRefresh = try #require(session.body["refresh_token"]?.string)
            let logout = try await api.post("/auth/logout", token: sessionAccess)
            #expect(logout.code == 204, "\(logout)")
            #expect(logout.bytes.isEmpty)
            expectError(try await api.post("/auth/refresh", json: ["refresh_token": .string(sessionRefresh)]), 401, "unauthorized")
            expectError(try await api.post("/auth/logout"), 401, "unauthorized")

            // Garbage.
            expectError(try await api.post("/auth/refresh", json: ["refresh_token": "not-a-token"]), 401, "unauthorized")
            expectError(
                try await api.post("/auth/refresh", json: ["refresh_token": .string(String(repeating: "A", count: 300))]), 401, "unauthorized")
            expectError(try await api.post("/auth/refresh", json: [:]), 400, "validation_failed", field: "refresh_token")
            expectError(try await api.post("/auth/refresh", json: ["refresh_token": 12]), 400, "validation_failed", field: "refresh_token")
        }
    }

    @Test("unknown routes, bad bearer tokens, duplicates and input errors answer with the error contract")
    func errorContract() async throws {
        try await TestApp.run { api in
            // Unknown routes.
            expectError(try await api.get("/no/such/route"), 404, "not_found")
            expectError(try await api.get("/definitely-not-here", root: true), 404, "not_found")
            expectError(try await api.delete("/users"), 404, "not_found")

            let health = try await api.get("/health", root: true)
            #expect(health.code == 200)
            #expect(health.body["status"]?.string == "ok")
            #expect(try await api.get("/ready", root: true).code == 200)
            #expect(health.headers[.xContentTypeOptions] == "nosniff")

            // Bearer tokens.
            let dana = try await api.register("dana")
            #expect(try await api.get("/me", token: dana.access).code == 200)
            expectError(try await api.get("/me"), 401, "unauthorized")
            expectError(try await api.get("/me", token: "garbage"), 401, "unauthorized")
            expectError(try await api.get("/me", token: ""), 401, "unauthorized")
            var segments = dana.access.split(separator: ".").map(String.init)
            #expect(segments.count == 3, "access tokens are JWTs")
            if segments.count == 3 {
                var signature = Array(segments[2])
                let middle = signature.count / 2
                signature[middle] = signature[middle] == "A" ? "B" : "A"
                segments[2] = String(signature)
                expectError(try await api.get("/me", token: segments.joined(separator: ".")), 401, "unauthorized", "tampered signature:")
            }
            expectError(
                try await api.send(.get, "/me", headers: [.authorization: "Basic ZGFuYTpwYXNzd29yZA=="]), 401, "unauthorized")
            expectError(try await api.post("/posts", json: ["text": "anonymous"]), 401, "unauthorized")
            expectError(try await api.put("/users/dana/follow"), 401, "unauthorized")
            expectError(try await api.post("/auth/logout", token: "x.y.z"), 401, "unauthorized")

            // Duplicates, case-insensitively.
            let duplicateName = try await api.post(
                "/auth/register", json: ["username": "DANA", "email": "other@example.com", "password": "password-123"])
            expectError(duplicateName, 409, "conflict", field: "username")
            let duplicateEmail = try await api.post(
                "/auth/register", json: ["username": "dana2", "email": "DANA@EXAMPLE.COM", "password": "password-123"])
            expectError(duplicateEmail, 409, "conflict", field: "email")

            // Racing registrations of one name: exactly one wins.
            let racing = try await concurrently(8) { index in
                try await api.post(
                    "/auth/register",
                    json: ["username": index.isMultiple(of: 2) ? "racer" : "RACER", "email": "racer\(index)@example.com", "password": "password-123"])
            }
            #expect(racing.filter { $0.code == 201 }.count == 1, "\(racing.map(\.code))")
            for reply in racing where reply.code != 201 { expectError(reply, 409, "conflict", field: "username") }

            // Registration input rules.
            func register(_ body: JSON) async throws -> Reply { try await api.post("/auth/register", json: body) }
            expectError(try await register(["username": "ab", "email": "ab@example.com", "password": "password-123"]), 400, "validation_failed", field: "username")
            expectError(
                try await register(["username": .string(String(repeating: "a", count: 31)), "email": "long@example.com", "password": "password-123"]),
                400, "validation_failed", field: "username")
            expectError(try await register(["username": "bad name", "email": "bad@example.com", "password": "password-123"]), 400, "validation_failed", field: "username")
            expectError(try await register(["username": "bad-name", "email": "bad@example.com", "password": "password-123"]), 400, "validation_failed", field: "username")
            expectError(try await register(["username": "émile", "email": "emile@example.com", "password": "password-123"]), 400, "validation_failed", field: "username")
            expectError(try await register(["username": "eve", "email": "not-an-email", "password": "password-123"]), 400, "validation_failed", field: "email")
            expectError(try await register(["username": "eve", "email": "eve@example.com", "password": "short"]), 400, "validation_failed", field: "password")
            expectError(try await register(["username": "eve", "email": "eve@example.com"]), 400, "validation_failed", field: "password")
            expectError(try await register(["username": 7, "email": "eve@example.com", "password": "password-123"]), 400, "validation_failed", field: "username")
            expectError(try await api.send(.post, "/auth/register", raw: Array("{\"username\": ".utf8)), 400, "malformed_json")
            expectError(try await api.send(.post, "/auth/register", raw: Array("[1,2,3]".utf8)), 400, "malformed_json")
            expectError(try await api.send(.post, "/auth/register", raw: []), 400, "malformed_json")
            #expect(try await register(["username": "eve_3", "email": "eve@example.com", "password": "password-123", "unknown": [1, 2]]).code == 201,
                "unknown JSON fields are ignored")
        }
    }

    @Test("an expired access token is a 401")
    func expiredAccessToken() async throws {
        // The server's clock runs 20 minutes behind: tokens it issues expired 5 minutes ago.
        try await TestApp.run(clock: OffsetClock(offset: -20 * 60)) { api in
            let old = try await api.register("oldtimer")
            expectError(try await api.get("/me", token: old.access), 401, "unauthorized")
            expectError(try await api.post("/posts", token: old.access, json: ["text": "late"]), 401, "unauthorized")
        }
    }

    @Test("a token that worked stops working when it expires (verified tokens are remembered only until then)")
    func acceptedTokenExpires() async throws {
        try await TestApp.run(configure: { $0.accessTokenLifetime = 1 }) { api in
            let user = try await api.register("brief")
            #expect(try await api.get("/me", token: user.access).code == 200)
            let forged = String(user.access.dropLast(2)) + (user.access.hasSuffix("AA") ? "BB" : "AA")
            expectError(try await api.get("/me", token: forged), 401, "unauthorized")
            #expect(try await api.get("/me", token: user.access).code == 200)
            try await Task.sleep(for: .milliseconds(1_200))
            expectError(try await api.get("/me", token: user.access), 401, "unauthorized")
        }
    }

    @Test("password hashes and passwords never appear in any response body")
    func noPasswordLeaks() async throws {
        let password = "Sup3r-Secret-Passw0rd!"
        try await TestApp.run { api in
            let owner = try await api.register("owner", password: password, displayName: "Owner")
            let other = try await api.register("other", password: password)
            _ = try await api.post("/auth/login", json: ["login": "owner", "password": .string(password)])
            _ = try await api.post("/auth/login", json: ["login": "owner", "password": "wrong-password!"])
            _ = try await api.post("/auth/login", json: ["login": "nobody_here", "password": .string(password)])
            _ = try await api.post("/auth/refresh", json: ["refresh_token": .string(owner.refresh)])
            _ = try await api.post("/auth/register", json: ["username": "owner", "email": "x@example.com", "password": .string(password)])
            _ = try await api.post("/auth/register", json: ["username": "shorty", "email": "s@example.com", "password": "short"])
            _ = try await api.get("/me", token: owner.access)
            _ = try await api.patch("/me", token: owner.access, json: ["bio": "bio", "password": "attempted-change"])
            _ = try await api.get("/users/owner")
            _ = try await api.get("/users/owner", token: other.access)
            _ = try await api.get("/users/\(owner.id)", token: owner.access)
            _ = try await api.put("/users/owner/follow", token: other.access)
            _ = try await api.get("/users/owner/followers")
            _ = try await api.get("/users/other/following", token: owner.access)
            let post = try await api.createPost(owner, text: "post")
            let postID = try #require(post["id"]?.string)
            _ = try await api.put("/posts/\(postID)/like", token: other.access)
            _ = try await api.post("/posts/\(postID)/comments", token: other.access, json: ["text": "comment"])
            _ = try await api.get("/posts/\(postID)/comments")
            _ = try await api.get("/posts/\(postID)", token: other.access)
            _ = try await api.get("/feeds/recent")
            _ = try await api.get("/users/owner/posts", token: other.access)
            _ = try await api.post("/auth/logout", token: owner.access)

            #expect(api.log.count >= 20)
            let leaks = api.log.bodies(containingAnyOf: ["$2a$", "$2b$", "$2y$", password, "password_hash"])
            #expect(leaks.isEmpty, "response bodies leak a password or its hash: \(leaks.map { $0.prefix(200) })")
        }
    }
}
