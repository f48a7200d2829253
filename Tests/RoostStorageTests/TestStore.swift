import Foundation
import RoostCore
import Synchronization
import Testing

@testable import RoostStorage

/// The conformance suite every `RoostStore` must pass. The same tests run against SQLite (default)
/// and PostgreSQL (`ROOST_TEST_DATABASE_URL=postgres://…`); each test opens its own fresh store.
@Suite struct RoostStoreConformance {}

/// Swift Testing has a `Comment` type too; in these tests `Comment` is Roost's.
typealias Comment = RoostCore.Comment

/// A fixed, whole-second instant: stored timestamps (milliseconds) read back exactly.
let t0 = Date(timeIntervalSince1970: 1_760_000_000)

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// Opens the store under test.
///
/// `ROOST_TEST_DATABASE_URL` starting with `postgres://` selects PostgreSQL, with a fresh schema
/// per store; anything else (or nothing) a fresh SQLite file in a fresh temporary directory.
enum TestStore {
    static let databaseURL: String? = ProcessInfo.processInfo.environment["ROOST_TEST_DATABASE_URL"]

    static var isPostgres: Bool {
        guard let databaseURL else { return false }
        return databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://")
    }

    static let directoryPrefix = "roost-store-test-"
    /// The temporary directory of each open SQLite store, removed by `dispose(_:)`.
    static let directories = Mutex<[ObjectIdentifier: String]>([:])

    /// Bounds how many stores are open at once. Swift Testing runs tests in parallel; each
    /// PostgreSQL store holds its own connections, and a server allows only so many.
    static let gate = AsyncGate(limit: isPostgres ? 3 : 32)

    /// A migrated, empty store. Pair with `dispose(_:)`, or use `with(_:)` which does both.
    static func make() async throws -> any RoostStore {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent(directoryPrefix + UUID().uuidString).path
        let store: any RoostStore
        if isPostgres, let databaseURL {
            store = try await StoreFactory.open(
                databaseURL: databaseURL, dataDirectory: directory, postgresSchema: "t_" + randomHex(bytes: 8))
        } else {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            store = try await StoreFactory.open(databaseURL: nil, dataDirectory: directory)
            directories.withLock { $0[ObjectIdentifier(store as AnyObject)] = directory }
        }
        do {
            try await store.migrate()
        } catch {
            await dispose(store)
            throw error
        }
        return store
    }

    /// Shuts the store down and, for SQLite, removes its temporary directory.
    static func dispose(_ store: any RoostStore) async {
        do {
            try await store.shutdown()
        } catch {
            Issue.record("shutdown() threw: \(error)")
        }
        if let directory = directories.withLock({ $0.removeValue(forKey: ObjectIdentifier(store as AnyObject)) }) {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Runs `body` with a fresh store and always cleans it up.
    static func with(_ body: (any RoostStore) async throws -> Void) async throws {
        await gate.acquire()
        let store: any RoostStore
        do {
            store = try await make()
        } catch {
            await gate.release()
            throw error
        }
        do {
            try await body(store)
        } catch {
            await dispose(store)
            await gate.release()
            throw error
        }
        await dispose(store)
        await gate.release()
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}

/// A counting semaphore for async code.
actor AsyncGate {
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        available = limit
    }

    func acquire() async {
        if available > 0 {
            available -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            available += 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

// MARK: - Fixtures

extension Creation {
    var createdItem: Item? {
        if case .created(let item) = self { return item }
        return nil
    }

    var replayedID: ID? {
        if case .replay(let id, _) = self { return id }
        return nil
    }

    var replayedResponse: StoredResponse? {
        if case .replay(_, let response) = self { return response }
        return nil
    }
}

extension RoostStore {
    func makeUser(_ username: String, ids: IDGenerator, passwordHash: String? = "hash") async throws -> User {
        try await createUser(
            NewUser(
                id: ids.next(), username: username, email: "\(username.lowercased())@example.com", displayName: "User \(username)",
                passwordHash: passwordHash, createdAt: t0))
    }

    /// `count` users created concurrently, returned in index order.
    func makeUsers(_ count: Int, prefix: String, ids: IDGenerator) async throws -> [User] {
        try await withThrowingTaskGroup(of: (Int, User).self) { group in
            for index in 0..<count {
                group.addTask { (index, try await self.makeUser("\(prefix)\(index)", ids: ids)) }
            }
            var users = [User?](repeating: nil, count: count)
            for try await (index, user) in group { users[index] = user }
            return users.compactMap { $0 }
        }
    }

    func makePost(
        by authorID: ID, ids: IDGenerator, text: String = "hello", tags: [String] = [], assetType: String? = nil,
        visibility: PostVisibility = .public, status: ModerationStatus = .approved, at date: Date = t0
    ) async throws -> Post {
        let post = Post(
            id: ids.next(), authorID: authorID, text: text, tags: tags, assetType: assetType, visibility: visibility,
            organizationID: visibility == .organization ? 4242 : nil, moderationStatus: status, createdAt: date, updatedAt: date)
        guard let created = try await createPost(post, idempotency: nil, now: date).createdItem else {
            throw FixtureError(description: "createPost without an idempotency key did not create")
        }
        return created
    }

    func makeComment(on postID: ID, by authorID: ID, parent: ID? = nil, text: String = "nice", ids: IDGenerator, at date: Date = t0)
        async throws -> Comment
    {
        let comment = Comment(id: ids.next(), postID: postID, parentID: parent, authorID: authorID, text: text, createdAt: date)
        guard let created = try await createComment(comment, idempotency: nil, now: date).createdItem else {
            throw FixtureError(description: "createComment without an idempotency key did not create")
        }
        return created
    }

    /// Every follower of `userID`, walking the keyset pages.
    func allFollowers(of userID: ID, pageSize: Int = 50) async throws -> [ListedUser] {
        var result: [ListedUser] = []
        var before: ID? = nil
        while true {
            let page = try await followers(of: userID, before: before, limit: pageSize)
            result += page
            guard page.count == pageSize, let last = page.last else { return result }
            before = last.position
        }
    }

    func allFollowing(of userID: ID, pageSize: Int = 50) async throws -> [ListedUser] {
        var result: [ListedUser] = []
        var before: ID? = nil
        while true {
            let page = try await following(of: userID, before: before, limit: pageSize)
            result += page
            guard page.count == pageSize, let last = page.last else { return result }
            before = last.position
        }
    }

    func requireUser(_ id: ID) async throws -> User {
        guard let user = try await user(id: id) else { throw FixtureError(description: "user \(id) is missing") }
        return user
    }

    func requirePost(_ id: ID) async throws -> Post {
        guard let post = try await post(id: id) else { throw FixtureError(description: "post \(id) is missing") }
        return post
    }
}
