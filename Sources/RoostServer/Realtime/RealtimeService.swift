import Foundation
import Logging
import RoostCore
import RoostStorage
import ServiceLifecycle

/// The realtime side of a node as one lifecycle service: the stream dispatcher, the notification
/// writer and the housekeeping of open streams (heartbeats, WebSocket pings, token expiry, ended
/// logins, replay windows) — one timer for all connections rather than one per connection.
///
/// On graceful shutdown every stream is told why and closed, and the notifications already
/// queued are still written before the service returns.
struct RealtimeService: Service {
    let services: AppServices
    let logger: Logger

    var configuration: RealtimeConfiguration { services.configuration.realtime }

    func run() async throws {
        async let notifications: Void = NotificationService(services: services, logger: logger).run()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await StreamDispatcher(services: services, logger: logger).run() }
            group.addTask { await housekeeping() }
            try? await gracefulShutdown()
            for connection in services.streams.allConnections {
                connection.close(.serverShutdown, finalFrame: .message(json: StreamEventJSON.closed(.serverShutdown)))
            }
            group.cancelAll()
        }
        services.events.notificationQueue.finish()
        await notifications
    }

    // MARK: Housekeeping

    private func housekeeping() async {
        let clock = ContinuousClock()
        var lastHeartbeat = clock.now
        var lastPing = clock.now
        var lastRevocationCheck = clock.now
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.sweepInterval)
            } catch {
                return
            }
            closeExpired()
            if clock.now - lastHeartbeat >= configuration.heartbeatInterval {
                lastHeartbeat = clock.now
                sendHeartbeats()
            }
            if clock.now - lastPing >= configuration.webSocketPingInterval {
                lastPing = clock.now
                for connection in services.streams.allConnections { connection.ping() }
            }
            if clock.now - lastRevocationCheck >= configuration.revocationCheckInterval {
                lastRevocationCheck = clock.now
                await closeEndedSessions()
            }
        }
    }

    /// Streams whose access token has expired close, telling the client why.
    func closeExpired() {
        for connection in services.streams.sweep(now: services.clock.now()) {
            connection.close(.tokenExpired, finalFrame: .message(json: StreamEventJSON.closed(.tokenExpired)))
        }
    }

    /// A heartbeat on every stream; like any frame, it drops a client that stopped reading.
    func sendHeartbeats() {
        for connection in services.streams.allConnections {
            _ = connection.enqueue(.heartbeat)
        }
    }

    /// Logins revoked where this node did not see it (refresh-token reuse, another node's logout
    /// before a multi-node transport exists) end their streams here too.
    func closeEndedSessions() async {
        let connections = services.streams.allConnections
        guard !connections.isEmpty else { return }
        do {
            let revoked = try await services.store.revokedRefreshFamilies(among: connections.map(\.session.familyID))
            for connection in connections where revoked.contains(connection.session.familyID) {
                connection.close(.sessionEnded, finalFrame: .message(json: StreamEventJSON.closed(.sessionEnded)))
            }
        } catch {
            logger.warning("could not check streams against ended logins", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        }
    }
}
