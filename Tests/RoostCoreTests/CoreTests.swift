import Foundation
import Testing

@testable import RoostCore

@Suite struct CursorTests {
    let codec = CursorCodec(secret: Array("a test secret of enough length".utf8))

    @Test func roundTrips() throws {
        let position = CursorCodec.Position(values: [42, -7, Int64.max], doubles: [3.25, -0.5])
        let cursor = codec.encode(position, scope: "recent")
        #expect(try codec.decode(cursor, scope: "recent") == position)
    }

    @Test func rejectsAnotherScope() {
        let cursor = codec.encode(.init(values: [1]), scope: "user_posts:1|v=2")
        #expect(throws: RoostError.invalidCursor) { try codec.decode(cursor, scope: "user_posts:1|v=3") }
    }

    @Test func rejectsTampering() {
        let cursor = codec.encode(.init(values: [123_456]), scope: "recent")
        var bytes = Array(cursor.utf8)
        bytes[5] = bytes[5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: bytes, as: UTF8.self)
        #expect(throws: RoostError.invalidCursor) { try codec.decode(tampered, scope: "recent") }
        #expect(throws: RoostError.invalidCursor) { try codec.decode("not a cursor!", scope: "recent") }
        #expect(throws: RoostError.invalidCursor) { try codec.decode("", scope: "recent") }
    }

    @Test func anotherSecretCannotForge() {
        let other = CursorCodec(secret: Array("another secret entirely, also long".utf8))
        let cursor = other.encode(.init(values: [1]), scope: "recent")
        #expect(throws: RoostError.invalidCursor) { try codec.decode(cursor, scope: "recent") }
    }
}

@Suite struct ValidationTests {
    @Test func textCountsGraphemesAndTrims() throws {
        #expect(try Validation.text("  hi  ", field: "text", range: 1...5) == "hi")
        let family = "👨‍👩‍👧‍👦"  // one grapheme, many scalars
        #expect(try Validation.text(String(repeating: family, count: 5000), field: "text", range: 1...5000).count == 5000)
        #expect(throws: RoostError.self) { try Validation.text(String(repeating: "a", count: 5001), field: "text", range: 1...5000) }
        #expect(throws: RoostError.self) { try Validation.text("   ", field: "text", range: 1...5000) }
        #expect(throws: RoostError.self) { try Validation.text("a\u{0}b", field: "text", range: 1...5000) }
    }

    @Test func usernames() throws {
        #expect(try Validation.username("alice_01") == "alice_01")
        for bad in ["ab", String(repeating: "a", count: 31), "al ice", "ålice", "alice!"] {
            #expect(throws: RoostError.self) { try Validation.username(bad) }
        }
    }

    @Test func tagsAreLowercasedAndBounded() throws {
        #expect(try Validation.tags(["Swift", "swift", "Server_2"]) == ["swift", "server_2"])
        #expect(throws: RoostError.self) { try Validation.tags((0..<11).map { "t\($0)" }) }
        #expect(throws: RoostError.self) { try Validation.tags(["no-dash"]) }
        #expect(throws: RoostError.self) { try Validation.tags([""]) }
    }

    @Test func urlsMustBeHTTP() throws {
        #expect(try Validation.url("https://example.com/a.png", field: "url") == "https://example.com/a.png")
        for bad in ["javascript:alert(1)", "ftp://x.y/z", "not a url", "https://"] {
            #expect(throws: RoostError.self) { try Validation.url(bad, field: "url") }
        }
    }

    @Test func ids() {
        #expect(Validation.id("123") == 123)
        #expect(Validation.id("9223372036854775807") == 9_223_372_036_854_775_807)
        #expect(Validation.id("9223372036854775808") == nil)
        #expect(Validation.id("-1") == nil)
        #expect(Validation.id("1e3") == nil)
        #expect(Validation.id("") == nil)
    }

    @Test func limits() throws {
        #expect(try PageLimit.parse(nil) == 20)
        #expect(try PageLimit.parse("50") == 50)
        for bad in ["0", "51", "-1", "abc", ""] {
            #expect(throws: RoostError.self) { try PageLimit.parse(bad) }
        }
    }
}

@Suite struct IDAndTimeTests {
    @Test func idsIncreaseAndCarryTheirTime() {
        let generator = IDGenerator(node: 3)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var last: ID = 0
        for _ in 0..<10_000 {
            let id = generator.next(now: now)
            #expect(id > last)
            last = id
        }
        #expect(abs(IDGenerator.date(of: last).timeIntervalSince(now)) < 5)
        #expect(last < UInt64(Int64.max))
    }

    @Test func timestampsAreRFC3339WithMillis() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_795_255_200.123)) == "2026-11-21T10:00:00.123Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
        let date = Date(timeIntervalSince1970: 1_795_255_200.5)
        #expect(Timestamp.parse(Timestamp.format(date)) == date)
    }
}

@Suite struct VisibilityTests {
    let author = Viewer(userID: 1)
    let other = Viewer(userID: 2)
    let moderator = Viewer(userID: 3, isModerator: true)

    func post(_ visibility: PostVisibility, _ status: ModerationStatus = .approved) -> Post {
        Post(id: 10, authorID: 1, text: "x", visibility: visibility, moderationStatus: status, createdAt: Date(), updatedAt: Date())
    }

    @Test func followersOnly() {
        let p = post(.followers)
        #expect(PostVisibilityRule.canSee(p, .init(viewer: author)))
        #expect(PostVisibilityRule.canSee(p, .init(viewer: other, followsAuthor: true)))
        #expect(!PostVisibilityRule.canSee(p, .init(viewer: other)))
        #expect(!PostVisibilityRule.canSee(p, .init(viewer: nil)))
    }

    @Test func organizationOnly() {
        let p = post(.organization)
        #expect(PostVisibilityRule.canSee(p, .init(viewer: other, isOrganizationMember: true)))
        #expect(!PostVisibilityRule.canSee(p, .init(viewer: other, followsAuthor: true)))
    }

    @Test func moderation() {
        #expect(PostVisibilityRule.canSee(post(.public, .pending), .init(viewer: author)))
        #expect(PostVisibilityRule.canSee(post(.public, .pending), .init(viewer: moderator)))
        #expect(!PostVisibilityRule.canSee(post(.public, .pending), .init(viewer: other)))
        #expect(!PostVisibilityRule.canSee(post(.public, .removed), .init(viewer: author)))
        #expect(PostVisibilityRule.canSee(post(.public, .removed), .init(viewer: moderator)))
    }
}

@Suite struct KeysetPagingTests {
    /// A list of ids 100...1 where multiples of 3 are hidden: paging must show each visible id once.
    @Test func pagesOverHiddenItemsWithoutGapsOrRepeats() async throws {
        let all = Array((1...100).reversed()).map { ID($0) }
        var seen: [ID] = []
        var after: ID?
        repeat {
            let page = try await KeysetPaging.collect(
                limit: 7, after: after, id: { $0 },
                fetch: { before, count in Array(all.filter { before == nil || $0 < before! }.prefix(count)) },
                keep: { $0.filter { $0 % 3 != 0 } })
            seen += page.items
            after = page.next
        } while after != nil
        #expect(seen == all.filter { $0 % 3 != 0 })
    }
}
