import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a test stream client has received.
final class StreamInbox: Sendable {
    struct State {
        var messages: [JSON] = []
        /// When each message arrived (same order as `messages`).
        var arrivals: [ContinuousClock.Instant] = []
        /// SSE comment lines (`: heartbeat`).
        var comments: [String] = []
        /// SSE event ids, in order.
        var ids: [String] = []
        var ended = false
        var closeCode: UInt16?
    }

    let state = Mutex(State())

    var messages: [JSON] { state.withLock { $0.messages } }

    /// Every message with its arrival time.
    var timedMessages: [(JSON, ContinuousClock.Instant)] { state.withLock { Array(zip($0.messages, $0.arrivals)) } }
    var ended: Bool { state.withLock { $0.ended } }

    func events(_ name: String) -> [JSON] {
        messages.filter { $0["event"]?.string == name }
    }

    /// Waits until a message satisfies `predicate` (checked against everything received so far).
    @discardableResult
    func waitFor(
        _ description: String, timeout: Duration = .seconds(2), sourceLocation: SourceLocation = #_sourceLocation,
        _ predicate: (JSON) -> Bool
    ) async throws -> JSON {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let found = messages.first(where: predicate) { return found }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no \(description) within \(timeout); received \(messages.map { $0.encodedText.prefix(200) })")
    }

    /// Waits for the `post.created` event of a post.
    @discardableResult
    func waitForPost(_ id: String, timeout: Duration = .seconds(2)) async throws -> JSON {
        try await waitFor("post.created for \(id)", timeout: timeout) { $0["event"] == "post.created" && $0["post"]?["id"]?.string == id }
    }

    /// Waits until the stream ends (or fails after `timeout`).
    func waitUntilEnded(timeout: Duration = .seconds(5)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !ended {
            if ContinuousClock.now >= deadline { throw TestFailure("the stream did not end within \(timeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Gives events in flight a moment, then checks none satisfies `predicate`.
    func expectNone(
        _ description: String, settle: Duration = .milliseconds(300), sourceLocation: SourceLocation = #_sourceLocation,
        _ predicate: (JSON) -> Bool
    ) async throws {
        try await Task.sleep(for: settle)
        let found = messages.filter(predicate)
        #expect(found.isEmpty, "unexpected \(description): \(found.map(\.encodedText))", sourceLocation: sourceLocation)
    }
}

extension JSON {
    var encodedText: String { String(decoding: encoded, as: UTF8.self) }
}

// MARK: - WebSocket

/// A real WebSocket client (HummingbirdWSClient) on `/api/v1/streaming`.
final class WebSocketTestClient: Sendable {
    let inbox = StreamInbox()
    private let outbound = Mutex<WebSocketOutboundWriter?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Connects and returns once the upgrade is done (the server has registered the stream).
    static func connect(port: Int, token: String?, query: String = "", timeout: Duration = .seconds(5)) async throws -> WebSocketTestClient {
        let client = WebSocketTestClient()
        var url = "ws://127.0.0.1:\(port)/api/v1/streaming"
        var parameters: [String] = []
        if let token { parameters.append("access_token=\(token)") }
        if !query.isEmpty { parameters.append(query) }
        if !parameters.isEmpty { url += "?" + parameters.joined(separator: "&") }
        var logger = Logger(label: "ws-test-client")
        logger.logLevel = .critical
        let (connected, continuation) = AsyncStream<Bool>.makeStream()
        let inbox = client.inbox
        let task = Task {
            do {
                let close = try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger
                ) { inbound, outbound, _ in
                    client.outbound.withLock { $0 = outbound }
                    continuation.yield(true)
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message, let json = JSON.parse(Array(text.utf8)) {
                            let now = ContinuousClock.now
                            inbox.state.withLock {
                                $0.messages.append(json)
                                $0.arrivals.append(now)
                            }
                        }
                    }
                }
                inbox.state.withLock { $0.closeCode = close.map { UInt16(webSocketErrorCode: $0.closeCode) } }
            } catch {
                // Refused or broken: `ended` tells the test.
            }
            inbox.state.withLock { $0.ended = true }
            continuation.finish()
        }
        client.task.withLock { $0 = task }
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            continuation.finish()
        }
        var ok = false
        for await value in connected {
            ok = value
            break
        }
        deadline.cancel()
        guard ok else { throw TestFailure("WebSocket did not connect to \(url)") }
        return client
    }

    var closeCode: UInt16? { inbox.state.withLock { $0.closeCode } }

    func send(_ json: JSON) async throws {
        guard let outbound = outbound.withLock({ $0 }) else { throw TestFailure("not connected") }
        try await outbound.write(.text(json.encodedText))
    }

    /// Sends a subscription and waits for its acknowledgement.
    @discardableResult
    func subscribe(_ postIDs: [String]) async throws -> [String] {
        let before = inbox.events("subscribed").count
        try await send(["type": "subscribe", "post_ids": .array(postIDs.map { .string($0) })])
        let deadline = ContinuousClock.now + .seconds(2)
        while ContinuousClock.now < deadline {
            let acks = inbox.events("subscribed")
            if acks.count > before { return acks[before]["post_ids"]?.array?.compactMap(\.string) ?? [] }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no subscription acknowledgement")
    }

    func close() async {
        if let outbound = outbound.withLock({ $0 }) {
            try? await outbound.close(.normalClosure, reason: nil)
        }
        let task = task.withLock { $0 }
        task?.cancel()
        await task?.value
    }
}

extension UInt16 {
    init(webSocketErrorCode code: WebSocketErrorCode) {
        var buffer = ByteBuffer()
        buffer.write(webSocketErrorCode: code)
        self = buffer.readInteger(as: UInt16.self) ?? 0
    }
}

// MARK: - Server-Sent Events

/// A real SSE client (AsyncHTTPClient, streaming body) on `/api/v1/streaming/sse`.
final class SSETestClient: Sendable {
    let inbox: StreamInbox
    let status: Int
    private let task: Task<Void, Never>
    private let http: HTTPClient

    private init(inbox: StreamInbox, status: Int, task: Task<Void, Never>, http: HTTPClient) {
        self.inbox = inbox
        self.status = status
        self.task = task
        self.http = http
    }

    /// Opens the stream and returns once the response head arrived (the stream is registered).
    static func connect(port: Int, token: String?, query: String = "", lastEventID: String? = nil) async throws -> SSETestClient {
        var url = "http://127.0.0.1:\(port)/api/v1/streaming/sse"
        if !query.isEmpty { url += "?" + query }
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(120))
        } catch {
            try? await http.shutdown()
            throw error
        }
        let inbox = StreamInbox()
        let task = Task {
            var pending = ""
            do {
                for try await buffer in response.body {
                    pending += String(buffer: buffer)
                    while let range = pending.range(of: "\n\n") {
                        let block = String(pending[..<range.lowerBound])
                        pending = String(pending[range.upperBound...])
                        Self.parse(block, into: inbox)
                    }
                }
            } catch {
                // Cut by the server, or cancelled.
            }
            inbox.state.withLock { $0.ended = true }
        }
        return SSETestClient(inbox: inbox, status: Int(response.status.code), task: task, http: http)
    }

    /// SSE event ids received, in order.
    var ids: [String] { inbox.state.withLock { $0.ids } }
    var comments: [String] { inbox.state.withLock { $0.comments } }

    private static func parse(_ block: String, into inbox: StreamInbox) {
        var data: [String] = []
        var id: String?
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(":") {
                let comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
                inbox.state.withLock { $0.comments.append(comment) }
            } else if line.hasPrefix("data:") {
                data.append(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
            } else if line.hasPrefix("id:") {
                id = line.dropFirst(3).trimmingCharacters(in: .whitespaces)
            }
        }
        guard !data.isEmpty, let json = JSON.parse(Array(data.joined(separator: "\n").utf8)) else { return }
        inbox.state.withLock { state in
            state.messages.append(json)
            state.arrivals.append(ContinuousClock.now)
            if let id { state.ids.append(id) }
        }
    }

    func close() async {
        task.cancel()
        await task.value
        try? await http.shutdown()
    }

    /// A test that failed before `close()` must report its failure, not crash the test process:
    /// AsyncHTTPClient traps when a client is released without `shutdown()`.
    deinit {
        task.cancel()
        Task { [http] in try? await http.shutdown() }
    }
}

// MARK: - A client that stops reading

/// A WebSocket client on a raw socket with a tiny receive buffer: it completes the handshake and
/// then never reads again, like a client on a stalled network.
final class StalledWebSocket: Sendable {
    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    static func connect(port: Int, token: String, receiveBuffer: Int32 = 2048) async throws -> StalledWebSocket {
        let (fd, status) = try await handshake(port: port, query: "access_token=\(token)", receiveBuffer: receiveBuffer)
        guard status == 101 else {
            _ = Glibc.close(fd)
            throw TestFailure("handshake refused with \(status)")
        }
        return StalledWebSocket(descriptor: fd)
    }

    /// The HTTP status a WebSocket handshake on `/api/v1/streaming?<query>` gets.
    static func handshakeStatus(port: Int, query: String) async throws -> Int {
        let (fd, status) = try await handshake(port: port, query: query, receiveBuffer: 65_536)
        _ = Glibc.close(fd)
        return status
    }

    /// `blockingHandshake` on a dispatch thread. Called straight from a test's task, its blocking
    /// `recv` held one of the cooperative threads (two on a 2-core machine) that the server in the
    /// same process needs to answer; with two such tests at once nothing answered until the 10 s
    /// receive timeout, and other tests' streams stalled with them.
    private static func handshake(port: Int, query: String, receiveBuffer: Int32) async throws -> (Int32, Int) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingHandshake(port: port, query: query, receiveBuffer: receiveBuffer) })
            }
        }
    }

    /// Sends a handshake and reads the response head (byte by byte, so nothing after it is consumed).
    private static func blockingHandshake(port: Int, query: String, receiveBuffer: Int32) throws -> (Int32, Int) {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var size = receiveBuffer
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        // A test never hangs on a server that does not answer.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            _ = Glibc.close(fd)
            throw TestFailure("connect() failed")
        }
        let request =
            "GET /api/v1/streaming?\(query) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            _ = Glibc.close(fd)
            throw TestFailure("send() failed")
        }
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.ends(with: Array("\r\n\r\n".utf8)) {
            guard recv(fd, &byte, 1, 0) == 1 else {
                _ = Glibc.close(fd)
                throw TestFailure("no handshake response")
            }
            head.append(byte)
        }
        let statusLine = String(decoding: head, as: UTF8.self).split(separator: " ")
        return (fd, statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0)
    }

    /// Reads whatever is buffered until the server has closed the connection, or `timeout`.
    /// - Returns: whether the server closed it.
    func drainUntilClosed(timeout: Duration) async -> Bool {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }
            if count < 0, errno != EAGAIN, errno != EWOULDBLOCK { return true }
            if count < 0 { try? await Task.sleep(for: .milliseconds(10)) }
        }
        return false
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}

extension Array where Element: Equatable {
    fileprivate func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
