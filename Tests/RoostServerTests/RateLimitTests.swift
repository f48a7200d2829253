import Foundation
import HTTPTypes
import RoostCore
import Testing

@testable import RoostServer

/// Rate limits per user, per client address and on logins: 429 with `Retry-After` and the
/// `X-RateLimit-*` headers, and windows that reset (shown with a clock the test moves).
@Suite(.timeLimit(.minutes(3)))
struct RateLimitTests {
    static let limitHeader = HTTPField.Name("X-RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("X-RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("X-RateLimit-Reset")!

    /// Limits on, and small enough to exhaust quickly.
    static func small(_ configuration: inout RoostConfiguration) {
        configuration.rateLimits.enabled = true
        configuration.rateLimits[.posts] = RateLimitRule(limit: 3, window: 3600)
        configuration.rateLimits[.comments] = RateLimitRule(limit: 3, window: 3600)
        configuration.rateLimits[.likes] = RateLimitRule(limit: 3, window: 3600)
        configuration.rateLimits[.follows] = RateLimitRule(limit: 3, window: 24 * 3600)
        configuration.rateLimits[.reports] = RateLimitRule(limit: 2, window: 3600)
        configuration.rateLimits[.anonymous] = RateLimitRule(limit: 5, window: 60)
        configuration.rateLimits[.registrations] = RateLimitRule(limit: 50, window: 3600)
        configuration.rateLimits[.loginAccount] = RateLimitRule(limit: 3, window: 900)
        configuration.rateLimits[.loginAddress] = RateLimitRule(limit: 5, window: 900)
    }

    /// Sends `request` `limit` times expecting success with counting-down headers, then once more
    /// expecting 429; returns the refusal.
    static func exhaust(
        _ name: String, limit: Int, window: Int, sourceLocation: SourceLocation = #_sourceLocation, _ request: (Int) async throws -> Reply
    ) async throws -> Reply {
        for attempt in 0..<limit {
            let reply = try await request(attempt)
            #expect((200..<300).contains(reply.code), "\(name) #\(attempt): \(reply)", sourceLocation: sourceLocation)
            #expect(reply.headers[limitHeader] == String(limit), "\(name)", sourceLocation: sourceLocation)
            #expect(reply.headers[remainingHeader] == String(limit - attempt - 1), "\(name)", sourceLocation: sourceLocation)
            let reset = Int(reply.headers[resetHeader] ?? "") ?? -1
            #expect((1...window).contains(reset), "\(name) reset \(reset)", sourceLocation: sourceLocation)
        }
        let refused = try await request(limit)
        expectError(refused, 429, "rate_limited", name, sourceLocation: sourceLocation)
        let retryAfter = Int(refused.headers[.retryAfter] ?? "") ?? -1
        #expect((1...window).contains(retryAfter), "\(name) Retry-After \(retryAfter)", sourceLocation: sourceLocation)
        #expect(refused.headers[remainingHeader] == "0", "\(name)", sourceLocation: sourceLocation)
        #expect(refused.headers[resetHeader] == String(retryAfter), "\(name)", sourceLocation: sourceLocation)
        return refused
    }

    @Test("posting, commenting, liking, following and reporting are limited per user, answer 429 with Retry-After, and reset")
    func perUserActions() async throws {
        let clock = ManualClock()
        try await TestApp.run(clock: clock, configure: Self.small) { api in
            let actor = try await api.register("busy")
            let other = try await api.register("calm")
            let targets = try await api.registerMany(5, prefix: "target")
            let post = try #require(try await api.createPost(other, text: "a post to act on")["id"]?.string)

            _ = try await Self.exhaust("posts", limit: 3, window: 3600) { index in
                try await api.post("/posts", token: actor.access, json: ["text": .string("post \(index)")])
            }
            // Every attempt counts, including a refused one's retry and an invalid body.
            expectError(try await api.post("/posts", token: actor.access, json: ["text": ""]), 429, "rate_limited")
            #expect(try await api.post("/posts", token: other.access, json: ["text": "unaffected"]).code == 201, "limits are per user")
            _ = try await Self.exhaust("comments", limit: 3, window: 3600) { index in
                try await api.post("/posts/\(post)/comments", token: actor.access, json: ["text": .string("comment \(index)")])
            }
            _ = try await Self.exhaust("likes", limit: 3, window: 3600) { index in
                index % 2 == 0 ? try await api.put("/posts/\(post)/like", token: actor.access) : try await api.delete("/posts/\(post)/like", token: actor.access)
            }
            _ = try await Self.exhaust("follows", limit: 3, window: 24 * 3600) { index in
                try await api.put("/users/\(targets[index].id)/follow", token: actor.access)
            }
            _ = try await Self.exhaust("reports", limit: 2, window: 3600) { index in
                try await api.post("/reports", token: actor.access, json: ["user_id": .string(targets[index].id), "reason": "spam"])
            }
            // Reads are not limited for signed-in users.
            for _ in 0..<10 { #expect(try await api.get("/feeds/recent", token: actor.access).code == 200) }

            // An hour later the hourly windows have reset; the daily follow window has not.
            clock.advance(by: 3600)
            #expect(try await api.post("/posts", token: actor.access, json: ["text": "back again"]).code == 201)
            #expect(try await api.post("/posts/\(post)/comments", token: actor.access, json: ["text": "again"]).code == 201)
            #expect(try await api.put("/posts/\(post)/like", token: actor.access).code == 200)
            #expect(try await api.post("/reports", token: actor.access, json: ["post_id": .string(post), "reason": "again"]).code == 201)
            let follow = try await api.put("/users/\(targets[4].id)/follow", token: actor.access)
            expectError(follow, 429, "rate_limited")
            let retryAfter = try #require(Int(follow.headers[.retryAfter] ?? ""))
            #expect(retryAfter == 23 * 3600, "the day's window began at the first follow")
            clock.advance(by: TimeInterval(retryAfter))
            #expect(try await api.put("/users/\(targets[4].id)/follow", token: actor.access).code == 200)
        }
    }

    @Test("anonymous requests and sign-ups are limited per client address")
    func perAddress() async throws {
        let clock = ManualClock()
        try await TestApp.run(clock: clock, configure: { Self.small(&$0); $0.rateLimits[.registrations] = RateLimitRule(limit: 1, window: 3600) }) { api in
            let reader = try await api.register("reader")
            _ = try await Self.exhaust("anonymous reads", limit: 5, window: 60) { index in
                try await api.get(index % 2 == 0 ? "/feeds/recent" : "/users/reader")
            }
            expectError(try await api.get("/posts/1"), 429, "rate_limited", "refused before the route runs")
            #expect(try await api.get("/feeds/recent", token: reader.access).code == 200, "a signed-in reader is not an anonymous one")
            #expect(try await api.get("/health", root: true).code == 200, "health checks are never limited")
            clock.advance(by: 60)
            #expect(try await api.get("/feeds/recent").code == 200, "the minute's window has reset")

            expectError(
                try await api.post(
                    "/auth/register", json: ["username": "third", "email": "third@example.com", "password": "password-123"]), 429,
                "rate_limited", "one sign-up an hour in this test, and that was `reader`")
            clock.advance(by: 3600)
            _ = try await api.register("later")
        }
    }

    /// Anonymous reads as a client behind a proxy at `address`; the status codes.
    static func reads(_ api: API, from address: String, count: Int) async throws -> [Int] {
        var codes: [Int] = []
        for _ in 0..<count {
            codes.append(try await api.send(.get, "/feeds/recent", headers: [RateLimitMiddleware.forwardedFor: "203.0.113.9, \(address)"]).code)
        }
        return codes
    }

    @Test("behind a trusted proxy the client address is the last X-Forwarded-For entry; otherwise the header is ignored")
    func forwardedFor() async throws {
        try await TestApp.run(configure: { Self.small(&$0); $0.rateLimits.trustForwardedFor = true }) { api in
            let first = try await Self.reads(api, from: "198.51.100.1", count: 6)
            #expect(first == [200, 200, 200, 200, 200, 429])
            let second = try await Self.reads(api, from: "198.51.100.2", count: 5)
            #expect(second.allSatisfy { $0 == 200 }, "another client, its own budget")
            let unusable = try await Self.reads(api, from: "not an address", count: 1)
            #expect(unusable == [200], "unusable: the TCP peer counts")
        }
        try await TestApp.run(configure: Self.small) { api in
            let first = try await Self.reads(api, from: "198.51.100.1", count: 3)
            #expect(first.allSatisfy { $0 == 200 })
            let second = try await Self.reads(api, from: "198.51.100.2", count: 3)
            #expect(second == [200, 200, 429], "untrusted: one shared address")
        }
    }

    @Test("failed logins are limited per account (username and email alike) and per address, then reset")
    func logins() async throws {
        let clock = ManualClock()
        // Logins are anonymous requests too: room for them, so only the login limits speak here.
        try await TestApp.run(clock: clock, configure: { Self.small(&$0); $0.rateLimits[.anonymous] = RateLimitRule(limit: 100, window: 60) }) {
            api in
            let alice = try await api.register("alice")
            let bob = try await api.register("bob")
            let carol = try await api.register("carol")
            func login(_ login: String, _ password: String) async throws -> Reply {
                try await api.post("/auth/login", json: ["login": .string(login), "password": .string(password)])
            }
            for _ in 0..<3 { expectError(try await login("alice", "wrong-password"), 401, "unauthorized") }
            // The account is locked for the window, even for the right password, by username or email.
            let locked = try await login("alice", alice.password)
            expectError(locked, 429, "rate_limited")
            #expect((1...900).contains(Int(locked.headers[.retryAfter] ?? "") ?? 0))
            expectError(try await login("ALICE@example.com", alice.password), 429, "rate_limited")
            #expect(try await login("bob", bob.password).code == 200, "other accounts are unaffected")

            // The address has two failures left: then every account is refused from here.
            expectError(try await login("bob", "nope-nope"), 401, "unauthorized")
            expectError(try await login("nobody_at_all", "nope-nope"), 401, "unauthorized", "unknown logins count too")
            expectError(try await login("carol", carol.password), 429, "rate_limited")

            clock.advance(by: 900)
            #expect(try await login("alice", alice.password).code == 200)
            #expect(try await login("carol", carol.password).code == 200)
            // A success clears the account's failures (not the address's).
            for _ in 0..<2 { expectError(try await login("alice", "wrong-again"), 401, "unauthorized") }
            #expect(try await login("alice", alice.password).code == 200)
            for _ in 0..<2 { expectError(try await login("alice", "wrong-again"), 401, "unauthorized") }
            #expect(try await login("alice", alice.password).code == 200)
        }
    }

    @Test("with rate limits off nothing is limited and no headers are sent")
    func off() async throws {
        try await TestApp.run(configure: { Self.small(&$0); $0.rateLimits.enabled = false }) { api in
            let writer = try await api.register("prolific")
            for index in 0..<6 {
                let reply = try await api.post("/posts", token: writer.access, json: ["text": .string("post \(index)")])
                #expect(reply.code == 201 && reply.headers[Self.limitHeader] == nil)
            }
            for _ in 0..<8 { #expect(try await api.get("/feeds/recent").code == 200) }
            for _ in 0..<5 { expectError(try await api.post("/auth/login", json: ["login": "prolific", "password": "wrong-wrong"]), 401, "unauthorized") }
            #expect(try await api.post("/auth/login", json: ["login": "prolific", "password": .string(writer.password)]).code == 200)
        }
    }
}
