import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RoostCore
import RoostStorage
import Synchronization
import Testing

@testable import RoostServer

/// Builds a Roost application on a fresh, migrated store and runs a test against it over HTTP.
///
/// `ROOST_TEST_DATABASE_URL` starting with `postgres://` selects PostgreSQL (a fresh schema per
/// application); anything else, or nothing, a fresh SQLite file in a fresh temporary directory.
/// The same tests run unchanged on both.
enum TestApp {
    static let databaseURL: String? = ProcessInfo.processInfo.environment["ROOST_TEST_DATABASE_URL"]

    static var isPostgres: Bool {
        guard let databaseURL else { return false }
        return databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://")
    }

    static let directoryPrefix = "roost-http-test-"

    /// Bounds how many applications (each with its own store and connections) run at once.
    static let gate = AsyncGate(limit: isPostgres ? 3 : 8)

    /// Runs `body` against a fresh application and always disposes of its store.
    ///
    /// Every response body the test sees is recorded; afterwards none of them may contain a
    /// bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
    static func run(
        clock: any RoostClock = SystemClock(),
        setup: TestingSetup = .router,
        configure: @Sendable (inout RoostConfiguration) -> Void = { _ in },
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: @Sendable (API) async throws -> Void
    ) async throws {
        await gate.acquire()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(directoryPrefix + UUID().uuidString).path
        let store: any RoostStore
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if isPostgres, let databaseURL {
                store = try await StoreFactory.open(
                    databaseURL: databaseURL, dataDirectory: directory, postgresSchema: "h_" + randomHex(bytes: 8))
            } else {
                store = try await StoreFactory.open(databaseURL: nil, dataDirectory: directory)
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            await gate.release()
            throw error
        }
        let log = BodyLog()
        do {
            try await store.migrate()
            let configuration = Self.configuration(directory: directory, configure: configure)
            let services = await AppServices(configuration: configuration, store: store, clock: clock)
            // The real application (WebSocket upgrade, realtime service); fan-out is driven by hand.
            let app = buildApplication(services: services, logger: logger, feedWorkers: false)
            try await app.test(setup) { client in
                try await body(API(client: client, log: log, services: services))
            }
        } catch {
            await dispose(store, directory: directory)
            throw error
        }
        await dispose(store, directory: directory)
        for leak in log.bodies(containingAnyOf: ["$2a$", "$2b$", "$2y$"]) {
            Issue.record("a response body contains a bcrypt hash: \(leak.prefix(300))", sourceLocation: sourceLocation)
        }
    }

    static var logger: Logger {
        var logger = Logger(label: "roost.http-test")
        logger.logLevel = .error
        return logger
    }

    static func configuration(directory: String, configure: (inout RoostConfiguration) -> Void) -> RoostConfiguration {
        var configuration = RoostConfiguration()
        configuration.jwtSecret = "test-secret-" + randomHex(bytes: 24)
        configuration.bcryptCost = 4
        configuration.dataDirectory = directory
        configuration.port = 0
        configuration.rateLimits.enabled = false  // on by default; RateLimitTests turn them on
        configure(&configuration)
        return configuration
    }

    /// Runs `body` against two live nodes (each its own store, services and port) on one fresh
    /// PostgreSQL schema, as two Roost processes on one database would run. PostgreSQL only.
    static func runTwoNodes(
        configure: @Sendable (inout RoostConfiguration) -> Void = { _ in }, _ body: @Sendable (API, API) async throws -> Void
    ) async throws {
        guard isPostgres, let databaseURL else { throw TestFailure("several nodes share a PostgreSQL database") }
        await gate.acquire()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(directoryPrefix + UUID().uuidString).path
        let schema = "h_" + randomHex(bytes: 8)
        var stores: [any RoostStore] = []
        let log = BodyLog()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for _ in 0..<2 {
                stores.append(try await StoreFactory.open(databaseURL: databaseURL, dataDirectory: directory, postgresSchema: schema))
            }
            try await stores[0].migrate()
            try await stores[1].migrate()
            let configuration = Self.configuration(directory: directory, configure: configure)
            let first = await AppServices(configuration: configuration, store: stores[0])
            let second = await AppServices(configuration: configuration, store: stores[1])
            try await first.leaseNodeNumber()
            try await second.leaseNodeNumber()
            let appA = buildApplication(services: first, logger: logger, feedWorkers: false)
            let appB = buildApplication(services: second, logger: logger, feedWorkers: false)
            try await appA.test(.live) { clientA in
                try await appB.test(.live) { clientB in
                    try await body(API(client: clientA, log: log, services: first), API(client: clientB, log: log, services: second))
                }
            }
        } catch {
            for store in stores { try? await store.shutdown() }
            try? FileManager.default.removeItem(atPath: directory)
            await gate.release()
            throw error
        }
        for store in stores { try? await store.shutdown() }
        try? FileManager.default.removeItem(atPath: directory)
        await gate.release()
    }

    private static func dispose(_ store: any RoostStore, directory: String) async {
        do {
            try await store.shutdown()
        } catch {
            Issue.record("store.shutdown() threw: \(error)")
        }
        try? FileManager.default.removeItem(atPath: directory)
        await gate.release()
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}

/// A clock that runs `offset` seconds away from the wall clock (negative: in the past).
struct OffsetClock: RoostClock {
    var offset: TimeInterval
    func now() -> Date { Date().addingTimeInterval(offset) }
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

/// Every response body of one test, for leak scans.
final class BodyLog: Sendable {
    private let storage = Mutex<[[UInt8]]>([])

    func append(_ body: [UInt8]) {
        storage.withLock { $0.append(body) }
    }

    var count: Int { storage.withLock { $0.count } }

    /// The bodies (as text) that contain any of `needles`.
    func bodies(containingAnyOf needles: [String]) -> [String] {
        storage.withLock { bodies in
            bodies.map { String(decoding: $0, as: UTF8.self) }.filter { text in needles.contains { text.contains($0) } }
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - JSON

/// A JSON value, Sendable, for building request bodies and reading responses.
enum JSON: Sendable, Hashable, Codable, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral,
    ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(stringLiteral value: String) { self = .string(value) }
    init(stringInterpolation: DefaultStringInterpolation) { self = .string(String(stringInterpolation: stringInterpolation)) }
    init(integerLiteral value: Int64) { self = .int(value) }
    init(floatLiteral value: Double) { self = .double(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(nilLiteral: ()) { self = .null }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let value = try? c.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? c.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? c.decode(Double.self) {
            self = .double(value)
        } else if let value = try? c.decode(String.self) {
            self = .string(value)
        } else if let value = try? c.decode([JSON].self) {
            self = .array(value)
        } else {
            self = .object(try c.decode([String: JSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let value): try c.encode(value)
        case .int(let value): try c.encode(value)
        case .double(let value): try c.encode(value)
        case .string(let value): try c.encode(value)
        case .array(let value): try c.encode(value)
        case .object(let value): try c.encode(value)
        }
    }

    static func parse(_ bytes: [UInt8]) -> JSON? {
        try? JSONDecoder().decode(JSON.self, from: Data(bytes))
    }

    var encoded: [UInt8] {
        // Encoding a JSON value cannot fail (no non-finite doubles are ever built here).
        Array((try? JSONEncoder().encode(self)) ?? Data("null".utf8))
    }

    subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    subscript(index: Int) -> JSON? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    func has(_ key: String) -> Bool {
        if case .object(let object) = self { return object[key] != nil }
        return false
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var int: Int? {
        switch self {
        case .int(let value): return Int(value)
        case .double(let value) where value == value.rounded(): return Int(value)
        default: return nil
        }
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var array: [JSON]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var object: [String: JSON]? {
        if case .object(let value) = self { return value }
        return nil
    }

    var isNull: Bool { self == .null }

    /// `self` with `key` set (objects only).
    func with(_ key: String, _ value: JSON?) -> JSON {
        guard case .object(var object) = self else { return self }
        object[key] = value
        return .object(object)
    }
}

// MARK: - HTTP client

/// One HTTP response as a test sees it.
struct Reply: Sendable, CustomStringConvertible {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let bytes: [UInt8]
    /// The body parsed as JSON; nil when it is empty or not JSON.
    let json: JSON?

    init(_ response: TestResponse) {
        status = response.status
        headers = response.headers
        bytes = Array(buffer: response.body)
        json = bytes.isEmpty ? nil : JSON.parse(bytes)
    }

    var code: Int { status.code }
    var text: String { String(decoding: bytes, as: UTF8.self) }
    /// Shorthand for `json ?? .null`, so `reply.body["user"]?["id"]` reads naturally.
    var body: JSON { json ?? .null }
    var errorCode: String? { body["error"]?["code"]?.string }
    var errorField: String? { body["error"]?["field"]?.string }

    var description: String { "\(status.code) \(text.prefix(500))" }

    /// Whether the body is the contract's error shape: `{"error": {"code": string, "message": string, "field"?: string}}`.
    var hasErrorShape: Bool {
        guard let error = json?["error"]?.object, json?.object?.count == 1,
            let code = error["code"]?.string, !code.isEmpty, error["message"]?.string != nil
        else { return false }
        if let field = error["field"], field.string == nil, !field.isNull { return false }
        return code.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || $0 == "_" }
    }
}

/// The application under test, as an HTTP client.
struct API: Sendable {
    let client: any TestClientProtocol
    let log: BodyLog
    let services: AppServices

    static let base = "/api/v1"

    /// Sends a request. `path` is relative to `/api/v1` unless `root` is set.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: JSON? = nil, raw: [UInt8]? = nil,
        headers: HTTPFields = [:], root: Bool = false
    ) async throws -> Reply {
        var headers = headers
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let raw {
            body = ByteBuffer(bytes: raw)
        } else if let json {
            body = ByteBuffer(bytes: json.encoded)
        }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: root ? path : Self.base + path, method: method, headers: headers, body: body)
        let reply = Reply(response)
        log.append(reply.bytes)
        return reply
    }

    func get(_ path: String, token: String? = nil, root: Bool = false) async throws -> Reply {
        try await send(.get, path, token: token, root: root)
    }

    func post(_ path: String, token: String? = nil, json: JSON? = nil, headers: HTTPFields = [:]) async throws -> Reply {
        try await send(.post, path, token: token, json: json, headers: headers)
    }

    func put(_ path: String, token: String? = nil, json: JSON? = nil) async throws -> Reply {
        try await send(.put, path, token: token, json: json)
    }

    func patch(_ path: String, token: String? = nil, json: JSON? = nil) async throws -> Reply {
        try await send(.patch, path, token: token, json: json)
    }

    func delete(_ path: String, token: String? = nil) async throws -> Reply {
        try await send(.delete, path, token: token)
    }
}

/// A registered account with its current tokens.
struct Account: Sendable {
    var id: String
    var username: String
    var email: String
    var password: String
    var access: String
    var refresh: String
}

extension API {
    static let defaultPassword = "correct-horse-battery"

    /// Registers `username` (email `<lowercased>@example.com`) and returns its tokens.
    func register(_ username: String, password: String = API.defaultPassword, displayName: String? = nil) async throws -> Account {
        let email = "\(username.lowercased())@example.com"
        var body: JSON = ["username": .string(username), "email": .string(email), "password": .string(password)]
        if let displayName { body = body.with("display_name", .string(displayName)) }
        let reply = try await post("/auth/register", json: body)
        guard reply.code == 201, let id = reply.body["user"]?["id"]?.string, let access = reply.body["access_token"]?.string,
            let refresh = reply.body["refresh_token"]?.string
        else { throw TestFailure("register \(username) failed: \(reply)") }
        return Account(id: id, username: username, email: email, password: password, access: access, refresh: refresh)
    }

    /// Registers `count` accounts concurrently, `<prefix><index>`, in index order.
    func registerMany(_ count: Int, prefix: String) async throws -> [Account] {
        try await concurrently(count) { index in try await register("\(prefix)\(index)") }
    }

    /// Creates a post and returns its JSON; throws unless the answer is 201.
    @discardableResult
    func createPost(_ author: Account, text: String = "hello", extra: [String: JSON] = [:], headers: HTTPFields = [:]) async throws -> JSON {
        var body: JSON = ["text": .string(text)]
        for (key, value) in extra { body = body.with(key, value) }
        let reply = try await post("/posts", token: author.access, json: body, headers: headers)
        guard reply.code == 201, reply.body["id"]?.string != nil else { throw TestFailure("create post failed: \(reply)") }
        return reply.body
    }

    /// A user's profile as seen by `viewer` (anonymous when nil).
    func user(_ ref: String, viewer: Account? = nil) async throws -> JSON {
        let reply = try await get("/users/\(ref)", token: viewer?.access)
        guard reply.code == 200 else { throw TestFailure("GET /users/\(ref) failed: \(reply)") }
        return reply.body
    }

    /// Walks a paginated list to its end, checking the page shape on every page.
    func allPages(
        _ path: String, token: String? = nil, limit: Int = 50, maxPages: Int = 100, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [JSON] {
        var items: [JSON] = []
        var cursor: String?
        for _ in 0..<maxPages {
            let separator = path.contains("?") ? "&" : "?"
            var uri = "\(path)\(separator)limit=\(limit)"
            if let cursor { uri += "&cursor=\(cursor)" }
            let reply = try await get(uri, token: token)
            guard reply.code == 200, let page = reply.body["items"]?.array, let hasMore = reply.body["has_more"]?.bool,
                let next = reply.body["next_cursor"]
            else { throw TestFailure("GET \(uri) failed: \(reply)") }
            #expect(page.count <= limit, "page larger than limit", sourceLocation: sourceLocation)
            #expect(hasMore == !next.isNull, "next_cursor must be null exactly when has_more is false", sourceLocation: sourceLocation)
            items += page
            guard hasMore, let nextCursor = next.string else { return items }
            cursor = nextCursor
        }
        throw TestFailure("\(path) did not end within \(maxPages) pages")
    }
}

// MARK: - Assertions and helpers

/// Expects `reply` to be the contract's error with `status` and `code` (and `field`, when given).
func expectError(
    _ reply: Reply, _ status: Int, _ code: String, field: String? = nil, _ comment: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reply.code == status, "\(comment) expected \(status) \(code), got \(reply)", sourceLocation: sourceLocation)
    #expect(reply.errorCode == code, "\(comment) expected code \(code), got \(reply)", sourceLocation: sourceLocation)
    #expect(reply.hasErrorShape, "\(comment) not the error shape: \(reply)", sourceLocation: sourceLocation)
    if let field {
        #expect(reply.errorField == field, "\(comment) expected field \(field), got \(reply)", sourceLocation: sourceLocation)
    }
}

/// Runs `body(0..<count)` concurrently and returns the results in index order.
func concurrently<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        for index in 0..<count {
            group.addTask { (index, try await body(index)) }
        }
        var results = [T?](repeating: nil, count: count)
        for try await (index, value) in group { results[index] = value }
        return results.map { $0! }
    }
}

/// Ids compared as numbers (the contract's ordering).
func numericID(_ value: JSON?) -> UInt64? {
    value?.string.flatMap { UInt64($0) }
}

/// `2026-11-21T10:00:00.000Z`
func isContractTimestamp(_ value: JSON?) -> Bool {
    guard let text = value?.string else { return false }
    return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
}

/// A small deterministic PRNG (SplitMix64) for the fuzz cases.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A value shared between concurrent tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: @Sendable (inout Value) -> Result) -> Result {
        mutex.withLock { value in body(&value) }
    }

    var value: Value { withLock { $0 } }
}

extension API {
    /// Reads an integer field of `path` until it reaches at least `target` or `timeout` passes, and
    /// returns the last value read. For counters the server may serve from a short-lived cache
    /// (a stale value is never larger than the fresh one).
    func settledCount(_ path: String, _ key: String, atLeast target: Int, timeout: Duration = .seconds(6)) async throws -> Int? {
        let deadline = ContinuousClock.now + timeout
        var value: Int?
        while true {
            value = try await get(path).body[key]?.int
            if let value, value >= target { return value }
            if ContinuousClock.now >= deadline { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
