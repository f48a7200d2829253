import Foundation
import Hummingbird
import Logging
import NIOCore
import RoostCore
import RoostStorage
import ServiceLifecycle

/// Builds the Roost application on an opened, migrated store: HTTP with the WebSocket upgrade of
/// `/api/v1/streaming`, and the background services.
/// - Parameters:
///   - router: the routes to serve; default `buildRouter(services:)` (benchmarks add routes to it).
///   - feedWorkers: run the fan-out workers and maintenance (default); tests drive those by hand.
///   - onServerRunning: called once the server listens (its port, when `configuration.port` is 0).
public func buildApplication(
    services: AppServices, logger: Logger, router: Router<RoostRequestContext>? = nil, feedWorkers: Bool = true,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = services.configuration
    var app = Application(
        router: router ?? buildRouter(services: services),
        server: StreamingServerChannel.builder(streaming: WebSocketStreaming(services: services)),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "roost"),
        onServerRunning: onServerRunning,
        logger: logger)
    app.addServices(RealtimeService(services: services, logger: logger))
    if let peers = services.peers { app.addServices(PeerService(services: services, peers: peers, logger: logger)) }
    if !services.store.isSingleProcess { app.addServices(NodeLeaseService(services: services, logger: logger)) }
    if feedWorkers {
        app.addServices(
            FanOutWorker(engine: services.feeds, logger: logger),
            MaintenanceService(engine: services.feeds, logger: logger))
    }
    return app
}

/// The routes of the contract: health at the root, everything else under `/api/v1`.
public func buildRouter(services: AppServices) -> Router<RoostRequestContext> {
    let router = Router(context: RoostRequestContext.self)
    // Outermost first: metrics see the final status that the error middleware produced.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: RequestLogMiddleware(level: .debug))
    HealthController(services: services, metrics: RoostMetrics.registry).addRoutes(to: router)

    let api = router.group("api/v1").add(middleware: AuthenticationMiddleware(tokens: services.tokens))
        .add(middleware: RateLimitMiddleware(limiter: services.rateLimiter, policy: services.configuration.rateLimits))
    AuthController(services: services).addRoutes(to: api)
    UsersController(services: services).addRoutes(to: api)
    PostsController(services: services).addRoutes(to: api)
    FeedsController(services: services).addRoutes(to: api)
    OrganizationsController(services: services).addRoutes(to: api)
    ModerationController(services: services).addRoutes(to: api)
    SearchController(services: services).addRoutes(to: api)
    NotificationsController(services: services).addRoutes(to: api)
    StreamingController(services: services).addRoutes(to: api)
    return router
}

/// Opens the configured store, migrates it and runs the server until SIGTERM/SIGINT.
public func runServer(configuration: RoostConfiguration, logger: Logger) async throws {
    let store = try await StoreFactory.open(
        databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, logger: logger)
    try await store.migrate()
    let services = await AppServices(configuration: configuration, store: store)
    try await services.leaseNodeNumber()
    let app = buildApplication(services: services, logger: logger)
    logger.info(
        "roost starting",
        metadata: [
            "roost.address": "\(configuration.host):\(configuration.port)",
            "roost.database": "\(configuration.databaseURL == nil ? "sqlite" : "postgres")",
        ])
    do {
        try await app.runService()
    } catch {
        try? await store.shutdown()
        throw error
    }
    try await store.shutdown()
}
