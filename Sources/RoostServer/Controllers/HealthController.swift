import Foundation
import Hummingbird
import Metrics
import Prometheus
import RoostCore
import RoostStorage

/// `/health` (the process is up), `/ready` (the database answers) and `/metrics` (Prometheus text).
struct HealthController {
    let services: AppServices
    let metrics: PrometheusCollectorRegistry

    func addRoutes(to router: Router<RoostRequestContext>) {
        router.get("health") { _, _ in
            try JSONBody.response(["status": "ok"])
        }
        router.get("ready") { _, _ in
            do {
                try await services.store.ping()
            } catch {
                throw RoostError.unavailable("database is not reachable")
            }
            return try JSONBody.response(["status": "ready"])
        }
        router.get("metrics") { _, _ in
            var buffer: [UInt8] = []
            metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}
