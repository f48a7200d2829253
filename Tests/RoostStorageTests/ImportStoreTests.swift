import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Import {
        typealias FollowRow = (follower: ID, followee: ID, id: ID, createdAt: Date)

        /// Three users: `a` followed by `b` and `c`, `b` followed by `c`; two posts by `a`.
        struct Fixture {
            var users: [NewUser]
            var follows: [FollowRow]
            var posts: [Post]

            init(ids: IDGenerator) {
                users = (0..<3).map { i in
                    NewUser(
                        id: ids.next(), username: "bulk\(i)", email: "bulk\(i)@example.com", displayName: "Bulk \(i)", passwordHash: nil,
                        createdAt: t0)
                }
                let (a, b, c) = (users[0].id, users[1].id, users[2].id)
                // Not in primary-key order, with a self-follow (skipped) and a duplicate.
                follows = [(c, b, ids.next(), t0), (b, a, ids.next(), t0), (c, a, ids.next(), t0), (a, a, ids.next(), t0), (b, a, ids.next(), t0)]
                posts = [
                    Post(id: ids.next(), authorID: a, text: "okapis at dawn", createdAt: t0, updatedAt: t0),
                    Post(id: ids.next(), authorID: a, text: "more okapis", tags: ["zoo"], createdAt: t0, updatedAt: t0),
                ]
            }
        }

        /// The deferred indexes and search upkeep that are missing (empty when all is in place).
        static func missingStructures(_ store: any RoostStore) async throws -> [String] {
            if let store = store as? SQLiteStore { return try await store.missingBulkLoadStructures() }
            return try await #require(store as? PostgresStore).missingBulkLoadStructures()
        }

        static func pullPostAuthors(_ store: any RoostStore) async throws -> Set<ID> {
            if let store = store as? SQLiteStore { return try await store.pullPostAuthors() }
            return try await #require(store as? PostgresStore).pullPostAuthors()
        }

        /// Everything an import must leave behind: counters, lists through the follows indexes,
        /// tags, search.
        static func expectImported(_ store: any RoostStore, _ fixture: Fixture) async throws {
            let (a, b, c) = (fixture.users[0].id, fixture.users[1].id, fixture.users[2].id)
            #expect(try await missingStructures(store) == [])
            let userA = try #require(try await store.user(id: a))
            #expect((userA.followersCount, userA.followingCount, userA.postsCount) == (2, 0, 2))
            #expect(try await store.user(id: c)?.followingCount == 2)
            #expect(Set(try await store.allFollowers(of: a).map(\.user.id)) == [b, c])
            #expect(try await store.following(of: c, before: nil, limit: 10).count == 2)
            #expect(try await store.postsByAuthor(a, before: nil, limit: 10, filter: FeedFilter()).count == 2)
            #expect(try await store.searchPosts(try SearchQuery(parsing: "okapis"), offset: 0, limit: 10).count == 2)
        }

        @Test func bulkImportIsIdempotentAndLeavesIndexesAndSearchWorking() async throws {
            try await TestStore.with { store in
                let fixture = Fixture(ids: IDGenerator())
                #expect(try await store.importUsers(fixture.users) == 3)
                // A large announced import into empty tables takes the bulk path.
                #expect(try await store.beginBulkLoad(.follows, expectedRows: 1_000_000))
                #expect(try await store.importFollows(fixture.follows) == 3)
                #expect(try await store.importFollows(fixture.follows) == 0)
                try await store.finishBulkLoad(.follows)
                #expect(try await store.beginBulkLoad(.posts, expectedRows: 1_000_000))
                #expect(try await store.importPosts(fixture.posts, policy: FanOutPolicy()) == 2)
                #expect(try await store.importPosts(fixture.posts, policy: FanOutPolicy()) == 0)
                try await store.finishBulkLoad(.posts)
                try await store.recountCounters(policy: FanOutPolicy())
                try await Self.expectImported(store, fixture)

                // Running the whole import again inserts nothing and changes no count; tables that
                // hold more rows than announced keep their indexes.
                #expect(try await store.importUsers(fixture.users) == 0)
                #expect(try await store.beginBulkLoad(.follows, expectedRows: 2) == false)
                #expect(try await store.importFollows(fixture.follows) == 0)
                try await store.finishBulkLoad(.follows)
                #expect(try await store.beginBulkLoad(.posts, expectedRows: 1) == false)
                #expect(try await store.importPosts(fixture.posts, policy: FanOutPolicy()) == 0)
                try await store.finishBulkLoad(.posts)
                try await store.recountCounters(policy: FanOutPolicy())
                try await Self.expectImported(store, fixture)

                // The search triggers are back: a post written normally is found at once.
                _ = try await store.makePost(by: fixture.users[1].id, ids: IDGenerator(), text: "okapis again")
                #expect(try await store.searchPosts(try SearchQuery(parsing: "okapis"), offset: 0, limit: 10).count == 3)
            }
        }

        @Test func migrateCompletesAnInterruptedBulkLoad() async throws {
            try await TestStore.with { store in
                let fixture = Fixture(ids: IDGenerator())
                _ = try await store.importUsers(fixture.users)
                #expect(try await store.beginBulkLoad(.follows, expectedRows: 1_000_000))
                _ = try await store.importFollows(fixture.follows)
                #expect(try await store.beginBulkLoad(.posts, expectedRows: 1_000_000))
                _ = try await store.importPosts(fixture.posts, policy: FanOutPolicy())
                #expect(try await Self.missingStructures(store).isEmpty == false)
                // As after a crash: no finishBulkLoad; the next start migrates.
                try await store.migrate()
                try await store.recountCounters(policy: FanOutPolicy())
                try await Self.expectImported(store, fixture)
            }
        }

        @Test func recountMarksCelebritiesOfTheGivenPolicy() async throws {
            try await TestStore.with { store in
                let fixture = Fixture(ids: IDGenerator())
                _ = try await store.importUsers(fixture.users)
                _ = try await store.importFollows(fixture.follows)
                var policy = FanOutPolicy()
                policy.celebrityThreshold = 2
                try await store.recountCounters(policy: policy)
                #expect(try await Self.pullPostAuthors(store) == [fixture.users[0].id])
            }
        }
    }
}
