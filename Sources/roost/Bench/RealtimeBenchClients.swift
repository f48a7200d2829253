import ArgumentParser
import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The client side of `roost bench realtime`, run as a child process: connects the WebSocket
/// clients, reports `CONNECTED <n> <failed> <seconds>`, waits for `GO` on stdin, posts at the
/// planned rate, and reports `RESULT <json>`; then waits for `STOP`.
struct RealtimeBenchClients: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients", abstract: "(internal) The client process of `roost bench realtime`.", shouldDisplay: false)

    @Option(help: "The plan file the parent wrote.") var plan: String

    func run() async throws {
        RealtimeBenchSupport.raiseFileLimit()
        let plan = try JSONDecoder().decode(RealtimeBenchPlan.self, from: Data(contentsOf: URL(fileURLWithPath: self.plan)))
        let deliveries = DeliveryLog()
        let stdin = StdinLines()
        let logger = {
            var logger = Logger(label: "roost.bench.clients")
            logger.logLevel = .critical
            return logger
        }()
        let counters = ClientCounters()
        let gate = ConnectGate(limit: plan.connectConcurrency)
        let started = ContinuousClock.now

        try await withThrowingTaskGroup(of: Void.self) { group in
            for token in plan.clientTokens {
                group.addTask {
                    await Self.runClient(port: plan.port, token: token, gate: gate, counters: counters, deliveries: deliveries, logger: logger)
                }
            }
            while counters.connected.load(ordering: .relaxed) + counters.failed.load(ordering: .relaxed) < plan.clientTokens.count {
                try await Task.sleep(for: .milliseconds(50))
            }
            let connectSeconds = (ContinuousClock.now - started).benchSeconds
            Self.emit(
                "CONNECTED \(counters.connected.load(ordering: .relaxed)) \(counters.failed.load(ordering: .relaxed)) "
                    + String(format: "%.2f", connectSeconds))
            guard await stdin.next() == "GO" else { return }
            var result = try await Self.post(plan, deliveries: deliveries)
            result.clientsClosed = counters.closed.load(ordering: .relaxed)
            Self.emit("RESULT " + String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
            _ = await stdin.next()
            group.cancelAll()
        }
    }

    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    // MARK: Clients

    private static func runClient(
        port: Int, token: String, gate: ConnectGate, counters: ClientCounters, deliveries: DeliveryLog, logger: Logger
    ) async {
        await gate.acquire()
        let released = Atomic<Bool>(false)
        let release: @Sendable () -> Void = {
            if !released.exchange(true, ordering: .relaxed) { gate.release() }
        }
        do {
            try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/api/v1/streaming?access_token=\(token)", configuration: .init(maxFrameSize: 1 << 16),
                logger: logger
            ) { inbound, _, _ in
                counters.connected.add(1, ordering: .relaxed)
                release()
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message else { continue }
                    let now = ContinuousClock.now
                    if let id = postID(inCreatedEvent: text) { deliveries.record(id, at: now) }
                }
            }
        } catch {
            if !released.load(ordering: .relaxed) { counters.failed.add(1, ordering: .relaxed) }
        }
        release()
        counters.closed.add(1, ordering: .relaxed)
    }

    /// The post id of a `post.created` event without decoding the JSON: the largest `"id":"…"` in
    /// it (the post's own id is newer than its author's, the only other `"id"`).
    static func postID(inCreatedEvent text: String) -> UInt64? {
        let prefix = #"{"event":"post.created""#
        guard text.hasPrefix(prefix) else { return nil }
        let bytes = Array(text.utf8)
        let key = Array(#""id":""#.utf8)
        var best: UInt64?
        var index = 0
        while index + key.count < bytes.count {
            if bytes[index] == key[0], Array(bytes[index..<(index + key.count)]) == key {
                var value: UInt64 = 0
                var cursor = index + key.count
                while cursor < bytes.count, (48...57).contains(bytes[cursor]) {
                    value = value &* 10 &+ UInt64(bytes[cursor] - 48)
                    cursor += 1
                }
                best = max(best ?? 0, value)
                index = cursor
            } else {
                index += 1
            }
        }
        return best
    }

    // MARK: Posting

    private struct Created: Decodable { let id: String }

    private static func post(_ plan: RealtimeBenchPlan, deliveries: DeliveryLog) async throws -> RealtimeBenchResult {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let posts = PostLog()
        let total = plan.rate * (plan.warmup + plan.duration)
        let measuredFrom = plan.rate * plan.warmup
        let start = ContinuousClock.now + .milliseconds(100)
        let interval = Duration.seconds(1) / plan.rate
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<total {
                try? await Task.sleep(until: start + interval * index, clock: .continuous)
                let token = plan.authorTokens[index % plan.authorTokens.count]
                group.addTask {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(plan.port)/api/v1/posts")
                    request.method = .POST
                    request.headers.add(name: "Authorization", value: "Bearer \(token)")
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: #"{"text":"realtime bench post \#(index)"}"#))
                    let sent = ContinuousClock.now
                    do {
                        let response = try await http.execute(request, timeout: .seconds(30))
                        let body = try await response.body.collect(upTo: 1 << 20)
                        let acked = ContinuousClock.now
                        guard response.status == .created, let id = UInt64(try JSONDecoder().decode(Created.self, from: Data(body.readableBytesView)).id) else {
                            posts.fail()
                            return
                        }
                        posts.record(id, sent: sent, acked: acked, measured: index >= measuredFrom)
                    } catch {
                        posts.fail()
                    }
                }
            }
        }
        let postingSeconds = (ContinuousClock.now - start).benchSeconds
        try? await http.shutdown()

        // Let deliveries settle: stop once nothing arrived for a second (at most 10 s).
        var last = deliveries.count
        for _ in 0..<10 {
            try? await Task.sleep(for: .seconds(1))
            let now = deliveries.count
            if now == last { break }
            last = now
        }

        let sentPosts = posts.snapshot
        var ackToEvent: [Double] = []
        var sendToEvent: [Double] = []
        var measuredDeliveries = 0
        for (id, at) in deliveries.snapshot {
            guard let post = sentPosts.posts[id], post.measured else { continue }
            measuredDeliveries += 1
            ackToEvent.append((at - post.acked).benchSeconds * 1000)
            sendToEvent.append((at - post.sent).benchSeconds * 1000)
        }
        let postLatencies = sentPosts.posts.values.filter(\.measured).map { ($0.acked - $0.sent).benchSeconds * 1000 }
        let measuredPosts = sentPosts.posts.values.filter(\.measured).count
        var result = RealtimeBenchResult()
        result.postsSent = total
        result.postsAccepted = sentPosts.posts.count
        result.postErrors = sentPosts.errors
        result.postsMeasured = measuredPosts
        result.deliveriesExpected = measuredPosts * plan.followersPerPost
        result.deliveriesReceived = measuredDeliveries
        (result.ackToEventP50, result.ackToEventP99, result.ackToEventMax) = percentiles(ackToEvent)
        (result.sendToEventP50, result.sendToEventP99, result.sendToEventMax) = percentiles(sendToEvent)
        (result.postLatencyP50, result.postLatencyP99, _) = percentiles(postLatencies)
        result.postsPerSecond = Double(sentPosts.posts.count) / max(postingSeconds, 1e-9)
        result.eventsPerSecond = Double(measuredDeliveries) / Double(max(plan.duration, 1))
        return result
    }

    /// p50, p99 and max of `values` (exact: all values sorted).
    static func percentiles(_ values: [Double]) -> (Double, Double, Double) {
        guard !values.isEmpty else { return (0, 0, 0) }
        let sorted = values.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return (at(0.5), at(0.99), sorted[sorted.count - 1])
    }
}

// MARK: - Shared state of the client process

private final class ClientCounters: Sendable {
    let connected = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let closed = Atomic<Int>(0)
}

/// Every `post.created` a client received: the post and when.
private final class DeliveryLog: Sendable {
    private let entries = Mutex<[(UInt64, ContinuousClock.Instant)]>([])

    func record(_ id: UInt64, at instant: ContinuousClock.Instant) {
        entries.withLock { $0.append((id, instant)) }
    }

    var count: Int { entries.withLock { $0.count } }
    var snapshot: [(UInt64, ContinuousClock.Instant)] { entries.withLock { $0 } }
}

/// Every post the authors created: when it was sent and answered.
private final class PostLog: Sendable {
    struct Entry: Sendable {
        var sent: ContinuousClock.Instant
        var acked: ContinuousClock.Instant
        var measured: Bool
    }

    struct State: Sendable {
        var posts: [UInt64: Entry] = [:]
        var errors = 0
    }

    private let state = Mutex(State())

    func record(_ id: UInt64, sent: ContinuousClock.Instant, acked: ContinuousClock.Instant, measured: Bool) {
        state.withLock { $0.posts[id] = Entry(sent: sent, acked: acked, measured: measured) }
    }

    func fail() {
        state.withLock { $0.errors += 1 }
    }

    var snapshot: State { state.withLock { $0 } }
}

/// Bounds the WebSocket handshakes in flight.
private final class ConnectGate: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(limit: Int) {
        state = Mutex(State(available: max(1, limit)))
    }

    func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}

/// Lines from stdin, read on a plain thread (reading blocks).
private final class StdinLines: Sendable {
    private let lines: AsyncStream<String>

    init() {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        lines = stream
        let thread = Thread {
            while let line = readLine() { continuation.yield(line.trimmingCharacters(in: .whitespaces)) }
            continuation.finish()
        }
        thread.start()
    }

    func next() async -> String? {
        for await line in lines { return line }
        return nil
    }
}
