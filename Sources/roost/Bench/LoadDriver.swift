import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP answer: status and the whole body.
struct Reply: Sendable {
    var status: Int
    var body: ByteBuffer

    var ok: Bool { (200..<300).contains(status) }
    var text: String { String(buffer: body) }

    /// Whether the body holds the JSON string `"value"` (a post id in a page, say).
    func contains(quoted value: String) -> Bool { text.contains("\"\(value)\"") }
}

/// Talks to the in-process server over real HTTP/1.1 with keep-alive connections.
struct HTTPDriver: Sendable {
    let client: HTTPClient
    let baseURL: String

    /// A client whose pool keeps up to `connections` connections to the one host.
    static func makeClient(connections: Int) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, connections))
        configuration.httpVersion = .http1Only
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func send(_ method: HTTPMethod, _ path: String, token: String? = nil, json: String? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Reply(status: Int(response.status.code), body: body)
    }

    func get(_ path: String, token: String? = nil) async throws -> Reply { try await send(.GET, path, token: token) }
}

/// Latencies of one measured phase (nanoseconds), with errors, bytes and wall time.
struct Latencies: Sendable {
    var nanos: [UInt64] = []
    var errors = 0
    var bytes = 0
    var elapsed = 0.0
    var concurrency = 1

    var count: Int { nanos.count }
    var perSecond: Double { elapsed > 0 ? Double(count) / elapsed : 0 }

    mutating func merge(_ other: Latencies) {
        nanos += other.nanos
        errors += other.errors
        bytes += other.bytes
    }

    /// Nearest-rank percentile in milliseconds (nil without samples).
    func percentile(_ p: Double) -> Double? {
        guard !nanos.isEmpty else { return nil }
        let sorted = nanos.sorted()
        let rank = max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return Double(sorted[rank]) / 1e6
    }

    var p50: Double? { percentile(50) }
    var p99: Double? { percentile(99) }
    var maxMillis: Double? { nanos.max().map { Double($0) / 1e6 } }
    var meanBytes: Int { count > 0 ? bytes / count : 0 }
}

/// What one timed operation reports back to the load loop.
enum Outcome: Sendable {
    case ok(bytes: Int)
    case failed
    /// Nothing to do any more for this worker (its list ran out); not counted.
    case exhausted
}

/// A shared request budget across the workers of one phase.
final class Budget: Sendable {
    private let taken = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func take() -> Bool { taken.add(1, ordering: .relaxed).newValue <= limit }
}

enum LoadLoop {
    /// Runs `concurrency` client loops for `duration` (and at most `maxRequests` requests in all),
    /// each calling `operation(worker, iteration)` back to back and timing every call.
    static func run(
        concurrency: Int, duration: Duration, maxRequests: Int = .max,
        _ operation: @escaping @Sendable (_ worker: Int, _ iteration: Int) async -> Outcome
    ) async -> Latencies {
        let clock = ContinuousClock()
        let budget = Budget(limit: maxRequests)
        let started = clock.now
        let deadline = started + duration
        var total = await withTaskGroup(of: Latencies.self) { group in
            for worker in 0..<max(1, concurrency) {
                group.addTask {
                    var mine = Latencies()
                    mine.nanos.reserveCapacity(4096)
                    var iteration = 0
                    while clock.now < deadline, budget.take() {
                        let t0 = clock.now
                        let outcome = await operation(worker, iteration)
                        let spent = (clock.now - t0).nanoseconds
                        iteration += 1
                        switch outcome {
                        case .ok(let bytes):
                            mine.nanos.append(spent)
                            mine.bytes += bytes
                        case .failed:
                            mine.errors += 1
                        case .exhausted:
                            return mine
                        }
                    }
                    return mine
                }
            }
            var all = Latencies()
            for await part in group { all.merge(part) }
            return all
        }
        total.elapsed = (clock.now - started).seconds
        total.concurrency = max(1, concurrency)
        return total
    }

    /// Maps `items` with at most `width` operations in flight, keeping the order.
    static func map<T: Sendable, U: Sendable>(
        _ items: [T], width: Int, _ transform: @escaping @Sendable (T) async throws -> U
    ) async throws -> [U] {
        try await withThrowingTaskGroup(of: (Int, U).self) { group in
            var results = [U?](repeating: nil, count: items.count)
            var next = 0
            for _ in 0..<min(max(1, width), items.count) {
                let index = next
                group.addTask { (index, try await transform(items[index])) }
                next += 1
            }
            while let (index, value) = try await group.next() {
                results[index] = value
                if next < items.count {
                    let index = next
                    group.addTask { (index, try await transform(items[index])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// Sum of the samples of one metric in a Prometheus text exposition.
func prometheusValue(_ exposition: String, name: String) -> Double {
    var total = 0.0
    for line in exposition.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
        let rest = line.dropFirst(name.count)
        guard let first = rest.first, first == " " || first == "{" else { continue }
        if let value = rest.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
    }
    return total
}

/// Resident memory of this process from /proc/self/status: (VmRSS, VmHWM) in MiB.
func processMemory() -> (rss: Double, peak: Double)? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    func field(_ name: String) -> Double? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
        return line.split(separator: " ").compactMap { Double($0) }.first.map { $0 / 1024 }
    }
    guard let rss = field("VmRSS") else { return nil }
    return (rss, field("VmHWM") ?? rss)
}

/// Hands out 0, 1, 2, … up to `limit` to concurrent workers (a shared work list).
final class Ticket: Sendable {
    private let value = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func next() -> Int? {
        let taken = value.add(1, ordering: .relaxed).oldValue
        return taken < limit ? taken : nil
    }
}

/// Values gathered by concurrent workers.
final class Collector<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
