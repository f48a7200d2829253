import Foundation
import Hummingbird
import Logging
import NIOCore
import RoostCore
import RoostServer
import RoostStorage
import ServiceLifecycle
import Synchronization

/// The fixed body `/bench/ceiling` answers with; set once a real home page has been measured.
final class CeilingBody: Sendable {
    private let buffer = Mutex(ByteBuffer())

    var size: Int { buffer.withLock { $0.readableBytes } }

    /// A JSON object of exactly `size` bytes (padding in a string field).
    func set(size: Int) {
        let head = #"{"items":[],"next_cursor":null,"has_more":false,"pad":""#
        let tail = #""}"#
        let pad = max(0, size - head.utf8.count - tail.utf8.count)
        let text = head + String(repeating: "x", count: pad) + tail
        buffer.withLock { $0 = ByteBuffer(string: text) }
    }

    func response() -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: buffer.withLock { $0 }))
    }
}

/// The Roost server running in this process on 127.0.0.1 and a free port: the real router
/// (`buildRouter`) plus one route, `GET /bench/ceiling`, behind the same middleware, and the
/// same background services `buildApplication` attaches (fan-out workers, maintenance).
struct BenchServer {
    let services: AppServices
    let port: Int
    let ceiling: CeilingBody
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var baseURL: String { "http://127.0.0.1:\(port)" }

    static func start(services: AppServices, logger: Logger) async throws -> BenchServer {
        let ceiling = CeilingBody()
        let router = buildRouter(services: services)
        router.get("bench/ceiling") { _, _ in ceiling.response() }
        // The background services of the real application (FanOutWorker, MaintenanceService
        // are internal to RoostServer; buildApplication exposes them through `services`).
        let background = buildApplication(services: services, logger: logger).services
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "roost"),
            services: background,
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let task = Task {
            // A server that fails to start ends the stream, so the wait below ends too.
            defer { continuation.finish() }
            try await group.run()
        }
        var port = 0
        for await value in ports {
            port = value
            break
        }
        guard port > 0 else {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw BenchError("the in-process server did not start")
        }
        return BenchServer(services: services, port: port, ceiling: ceiling, group: group, task: task)
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
