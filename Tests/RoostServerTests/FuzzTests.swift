import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import RoostServer

/// Hostile request bodies on every endpoint that takes one: every answer is a documented 4xx
/// (with the error shape) or a 2xx — never a 5xx — and the server keeps working afterwards.
@Suite(.timeLimit(.minutes(3)))
struct FuzzTests {
    /// An endpoint with a body, and a body it accepts.
    struct Target: Sendable {
        var name: String
        var method: HTTPRequest.Method
        var path: String
        var token: String?
        var valid: [String: JSON]
        /// Fields holding strings (get the unicode cases).
        var stringFields: [String]
    }

    struct Case: Sendable {
        var label: String
        var body: [UInt8]
        /// An exact status the case must get, when it has one.
        var expected: Int?
    }

    static let allowedStatuses: Set<Int> = [200, 201, 204, 400, 401, 403, 404, 409, 413, 429]

    /// Values of the wrong type, as raw JSON.
    static let wrongTypes: [String] = ["1.5", "true", "null", "[]", "{\"x\":\"y\"}"]

    /// Unicode edge cases, as raw JSON (bytes, so invalid UTF-8 is possible).
    static let unicodeValues: [[UInt8]] = [
        Array(#""\ud800""#.utf8),  // lone high surrogate
        Array(#""x\udc00y""#.utf8),  // lone low surrogate
        Array(#""\ud83d\ude00 pair""#.utf8),  // a valid escaped pair
        Array(#""a\u200db\u200dc""#.utf8),  // zero-width joiners
        Array(#""\u200f\u202eabc\u202c""#.utf8),  // RTL mark and override
        Array(#""nul\u0000nul""#.utf8),  // NUL
        Array("\"🦩🏳️‍🌈👨‍👩‍👧 emoji\"".utf8),
        Array(#""\ufeff\u0301""#.utf8),  // BOM and a lone combining mark
        Array("\"   \"".utf8),
        Array("\"\"".utf8),
        [0x22, 0xC3, 0x28, 0xED, 0xA0, 0x80, 0x22],  // invalid UTF-8 inside a string
        Array(("\"" + String(repeating: "🦩", count: 20_000) + "\"").utf8),  // 80 KB
    ]

    static func json(_ value: JSON) -> [UInt8] { value.encoded }

    /// `valid` with `field` replaced by `raw` (or removed when nil), keys in a stable order.
    static func body(_ valid: [String: JSON], replacing field: String, with raw: [UInt8]?) -> [UInt8] {
        var parts: [[UInt8]] = valid.filter { $0.key != field }.sorted { $0.key < $1.key }.map { key, value in
            json(.string(key)) + [UInt8(ascii: ":")] + json(value)
        }
        if let raw { parts.append(json(.string(field)) + [UInt8(ascii: ":")] + raw) }
        return [UInt8(ascii: "{")] + Array(parts.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "}")]
    }

    static func cases(for target: Target, seed: UInt64) -> [Case] {
        var random = SeededGenerator(seed: seed)
        let validBytes = body(target.valid, replacing: "", with: nil)
        let firstString = target.stringFields.first ?? target.valid.keys.sorted()[0]
        var cases: [Case] = []

        // Structurally broken or surprising bodies.
        let fixed: [(String, [UInt8])] = [
            ("empty", []), ("space", Array(" ".utf8)), ("null", Array("null".utf8)), ("true", Array("true".utf8)),
            ("number", Array("0".utf8)), ("string", Array("\"text\"".utf8)), ("array", Array("[]".utf8)), ("object", Array("{}".utf8)),
            ("open brace", Array("{".utf8)), ("close brace", Array("}".utf8)), ("missing value", Array("{\"a\":}".utf8)),
            ("open array", Array("[1,2".utf8)), ("missing colon", Array("{\"a\" 1}".utf8)), ("single quotes", Array("{'a': 'b'}".utf8)),
            ("10k [", Array(String(repeating: "[", count: 10_000).utf8)),
            ("10k [ ]", Array((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)),
            ("10k {\"a\":", Array(String(repeating: "{\"a\":", count: 10_000).utf8)),
            ("BOM", [0xEF, 0xBB, 0xBF] + validBytes), ("invalid UTF-8", [0xFF, 0xFE, 0x00, 0x7B]),
            ("trailing garbage", validBytes + Array("xyz".utf8)), ("two objects", validBytes + validBytes),
            ("huge number", body(target.valid, replacing: firstString, with: Array("1e400".utf8))),
            ("NUL byte", Array("{\"a\":\u{0}}".utf8)),
        ]
        cases += fixed.map { Case(label: $0.0, body: $0.1, expected: nil) }

        // Over the body limit: 413.
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: 300 * 1024)
        cases.append(Case(label: "300 KB string", body: body(target.valid, replacing: firstString, with: [0x22] + huge + [0x22]), expected: 413))
        cases.append(Case(label: "300 KB junk", body: huge, expected: 413))

        // Wrong types and missing fields.
        for field in target.valid.keys.sorted() {
            for value in wrongTypes + (target.stringFields.contains(field) ? [] : ["\"s\""]) {
                cases.append(Case(label: "\(field)=\(value)", body: body(target.valid, replacing: field, with: Array(value.utf8)), expected: nil))
            }
            cases.append(Case(label: "without \(field)", body: body(target.valid, replacing: field, with: nil), expected: nil))
        }

        // Unicode edge cases in every string field.
        for field in target.stringFields {
            for (index, value) in unicodeValues.enumerated() {
                cases.append(Case(label: "\(field) unicode #\(index)", body: body(target.valid, replacing: field, with: value), expected: nil))
            }
        }

        // Random bytes, random JSON-ish text, and mutations of the valid body.
        for index in 0..<5 {
            let count = Int.random(in: 1...300, using: &random)
            cases.append(Case(label: "random bytes #\(index)", body: (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }, expected: nil))
        }
        let alphabet = Array("{}[]\":,.-+0123456789eEtruefalsnul \\/u".utf8)
        for index in 0..<5 {
            let count = Int.random(in: 1...120, using: &random)
            cases.append(Case(label: "random JSON-ish #\(index)", body: (0..<count).map { _ in alphabet.randomElement(using: &random)! }, expected: nil))
        }
        for index in 0..<8 {
            var bytes = validBytes
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: position)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            cases.append(Case(label: "mutation #\(index)", body: bytes, expected: nil))
        }
        return cases
    }

    @Test("hostile bodies never get a 5xx and always get the error shape")
    func fuzzBodies() async throws {
        try await TestApp.run { api in
            let owner = try await api.register("fuzz_owner")
            let victim = try await api.register("fuzz_victim")
            let post = try await api.createPost(owner, text: "fuzz target")
            let postID = try #require(post["id"]?.string)

            let targets: [Target] = [
                Target(
                    name: "register", method: .post, path: "/auth/register", token: nil,
                    valid: ["username": "fuzz_new", "email": "fuzz_new@example.com", "password": "password-123", "display_name": "Fuzz"],
                    stringFields: ["username", "email", "password", "display_name"]),
                Target(
                    name: "login", method: .post, path: "/auth/login", token: nil,
                    valid: ["login": "fuzz_victim", "password": .string(victim.password)], stringFields: ["login", "password"]),
                Target(
                    name: "refresh", method: .post, path: "/auth/refresh", token: nil, valid: ["refresh_token": .string(victim.refresh)],
                    stringFields: ["refresh_token"]),
                Target(
                    name: "PATCH /me", method: .patch, path: "/me", token: owner.access,
                    valid: ["display_name": "Owner", "bio": "bio", "avatar_url": "https://example.com/a.png"],
                    stringFields: ["display_name", "bio", "avatar_url"]),
                Target(
                    name: "POST /posts", method: .post, path: "/posts", token: victim.access,
                    valid: [
                        "text": "hello", "title": "title", "tags": ["a"], "media": [["url": "https://example.com/i.png", "type": "image"]],
                        "visibility": "public",
                    ], stringFields: ["text", "title"]),
                Target(
                    name: "PATCH /posts/{id}", method: .patch, path: "/posts/\(postID)", token: owner.access,
                    valid: ["text": "edited", "title": "t", "description": "d", "tags": ["b"]], stringFields: ["text", "title", "description"]),
                Target(
                    name: "POST comments", method: .post, path: "/posts/\(postID)/comments", token: victim.access,
                    valid: ["text": "comment", "parent_id": nil], stringFields: ["text"]),
            ]

            let counts = try await concurrently(targets.count) { index in
                let target = targets[index]
                let cases = Self.cases(for: target, seed: 0x5EED_0000 + UInt64(index))
                for item in cases {
                    let reply = try await api.send(target.method, target.path, token: target.token, raw: item.body)
                    Self.check(reply, target: target, item: item)
                }
                return cases.count
            }
            let total = counts.reduce(0, +)
            #expect(total >= 450 && total <= 800, "fuzz cases: \(total)")

            // Still healthy and consistent.
            let health = try await api.get("/health", root: true)
            #expect(health.code == 200)
            #expect(try await api.get("/ready", root: true).code == 200)
            let after = try await api.register("after_fuzz")
            let afterPost = try await api.createPost(after, text: "still working")
            #expect(try await api.get("/posts/\(afterPost["id"]?.string ?? "?")").code == 200)
            let ownerProfile = try await api.user("fuzz_owner")
            #expect(ownerProfile["posts_count"]?.int == 1)
            let victimProfile = try await api.user("fuzz_victim")
            let victimPosts = try await api.allPages("/users/fuzz_victim/posts", limit: 50)
            #expect(victimProfile["posts_count"]?.int == victimPosts.count, "posts_count must match the posts that exist")
            let comments = try await api.allPages("/posts/\(postID)/comments", limit: 50)
            #expect(try await api.get("/posts/\(postID)").body["comment_count"]?.int == comments.count)
        }
    }

    @Test("an oversized body is a 413 on a live server too")
    func oversizedBodyLive() async throws {
        try await TestApp.run(setup: .live) { api in
            let huge = "{\"username\": \"" + String(repeating: "a", count: 300 * 1024) + "\"}"
            let reply = try await api.send(.post, "/auth/register", raw: Array(huge.utf8))
            expectError(reply, 413, "payload_too_large")
            #expect(try await api.get("/health", root: true).code == 200)
        }
    }

    static func check(_ reply: Reply, target: Target, item: Case) {
        let label = "\(target.name) [\(item.label)]"
        if let expected = item.expected {
            // One issue per case: the exact status and code it must get.
            let code = expected == 413 ? "payload_too_large" : nil
            #expect(
                reply.code == expected && (code == nil || reply.errorCode == code) && reply.hasErrorShape,
                "\(label): expected \(expected) \(code ?? ""), got \(reply)")
            return
        }
        #expect(
            allowedStatuses.contains(reply.code), "\(label): \((500..<600).contains(reply.code) ? "server error" : "undocumented status") \(reply)")
        if (400..<600).contains(reply.code) {
            #expect(reply.hasErrorShape, "\(label): not the error shape: \(reply)")
            let message = reply.body["error"]?["message"]?.string ?? ""
            let leaks = ["DecodingError", ".swift", "codingPath", "Swift.", "PSQLError", "SQLite error"].filter { message.contains($0) }
            #expect(leaks.isEmpty, "\(label): error message leaks internals: \(message)")
        } else if reply.code != 204 {
            #expect(reply.json != nil, "\(label): a 2xx body must be JSON: \(reply)")
        }
    }
}
