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
    let ceiling: CeilingBody
    let running: InProcessServer

    var port: Int { running.port }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// - Parameter feedWorkers: run fan-out and maintenance too (a second node measured only for
    ///   what it hears from the first runs without).
    static func start(services: AppServices, logger: Logger, feedWorkers: Bool = true) async throws -> BenchServer {
        let ceiling = CeilingBody()
        let router = buildRouter(services: services)
        router.get("bench/ceiling") { _, _ in ceiling.response() }
        let running = try await InProcessServer.start(logger: logger) { onServerRunning in
            buildApplication(services: services, logger: logger, router: router, feedWorkers: feedWorkers, onServerRunning: onServerRunning)
        }
        return BenchServer(services: services, ceiling: ceiling, running: running)
    }

    func stop() async { await running.stop() }
}

/// An application run by a `ServiceGroup` in this process on a port the OS picked; shared by the
/// feed and realtime benches.
struct InProcessServer: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// - Parameter makeApp: builds the application, wiring the given callback as `onServerRunning`.
    static func start<App: Service>(
        logger: Logger, makeApp: (@escaping @Sendable (any Channel) async -> Void) -> App
    ) async throws -> InProcessServer {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = makeApp { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        }
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
        return InProcessServer(port: port, group: group, task: task)
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
