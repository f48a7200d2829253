import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOWebSocket
import RoostCore
import RoostStorage

/// `GET /api/v1/streaming` upgraded to a WebSocket.
///
/// The token (`Authorization: Bearer` or `?access_token=`) is checked before the upgrade and the
/// connection is registered then, so no event published after the client sees `101` is missed.
/// A handshake that cannot be upgraded (no or a bad token, bad `post_ids`, no room) is answered
/// with the contract's error instead of `101` (401, 400, 503 or 429, JSON body).
///
/// An open stream is served by a NIO handler on the connection's event loop
/// (`WebSocketStreamHandler`): no task waits per idle connection, which is what keeps one at a
/// few KiB.
///
/// Client messages: `{"type": "subscribe" | "unsubscribe", "post_ids": [...]}` (answered with
/// `{"event": "subscribed" | "unsubscribed", "post_ids": [...]}`, listing the ids the viewer may
/// see), and `{"type": "authenticate", "access_token": "…"}`, which extends the stream with a
/// fresh token of the same login (answered with `{"event": "authenticated", "expires_at": …}`).
struct WebSocketStreaming: Sendable {
    let services: AppServices

    static let path = "/api/v1/streaming"
    /// Close code for a stream ended for authentication (4000-4999 are private use).
    static let unauthorizedCode = WebSocketErrorCode.unknown(4401)
    /// Outbound messages larger than this go out in fragments (the common client default).
    static let maxFrameSize = 1 << 14

    /// Decides an upgrade request: the stream to serve (already registered), or why not.
    func open(_ head: HTTPRequestHead, channel: any Channel) async -> Result<StreamConnection, RoostError> {
        guard let target = URLComponents(string: head.uri), target.path == Self.path || target.path == Self.path + "/" else {
            return .failure(.notFound)
        }
        let query = target.queryItems ?? []
        var token: String?
        if let header = head.headers.first(name: "authorization") {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                return .failure(.unauthorized("authorization must be a bearer token"))
            }
            token = String(header.dropFirst(7))
        } else {
            token = query.first { $0.name == "access_token" }?.value
        }
        guard let token else { return .failure(.unauthorized("authentication required")) }
        do {
            let (session, expiresAt) = try await services.tokens.streamSession(bearer: token)
            let postIDs = try await StreamAuthorization.visiblePostIDs(
                try StreamAuthorization.postIDs(query.first { $0.name == "post_ids" }?.value), viewer: session.viewer, services: services)
            let writer = WebSocketStreamWriter(eventLoop: channel.eventLoop)
            let connection = try services.streams.open(
                session: session, expiresAt: expiresAt, transport: .webSocket, writer: writer, postIDs: postIDs)
            // Whatever happens to the socket (even before the upgrade completes), the registry forgets it.
            let registry = services.streams
            channel.closeFuture.whenComplete { _ in
                connection.close(.clientClosed)
                registry.remove(connection)
                StreamMetrics.closed(connection, reason: connection.closeReason ?? .clientClosed)
            }
            return .success(connection)
        } catch let error as RoostError {
            return .failure(error)
        } catch {
            return .failure(.unavailable("the stream could not be opened; retry shortly"))
        }
    }

    /// The handler serving an upgraded stream.
    func handler(for connection: StreamConnection, channel: any Channel) -> WebSocketStreamHandler {
        if let size = services.configuration.realtime.webSocketSendBufferBytes {
            try? channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size))
        }
        let services = services
        return WebSocketStreamHandler(
            connection: connection, maxMessageBytes: services.configuration.realtime.maxInboundMessageBytes,
            closeGracePeriod: services.configuration.realtime.closeGracePeriod
        ) { text, connection in
            await WebSocketStreaming(services: services).handle(text, connection: connection)
        }
    }

    // MARK: Client messages

    private struct ClientMessage: Decodable {
        var type: String
        var postIDs: [BodyID]?
        var accessToken: String?

        enum CodingKeys: String, CodingKey {
            case type
            case postIDs = "post_ids", accessToken = "access_token"
        }
    }

    /// Handles one text message from a client; errors are answered on the stream, which stays open.
    func handle(_ text: String, connection: StreamConnection) async {
        do {
            try await handleMessage(text, connection: connection)
        } catch let error as RoostError {
            reply(connection, StreamEventJSON.error(code: error.code, message: error.message))
        } catch {
            reply(connection, StreamEventJSON.error(code: "unavailable", message: "the message could not be handled; retry"))
        }
    }

    private func handleMessage(_ text: String, connection: StreamConnection) async throws {
        let message: ClientMessage
        do {
            message = try JSONDecoder().decode(ClientMessage.self, from: Data(text.utf8))
        } catch let error as DecodingError {
            throw JSONBody.map(error)
        }
        switch message.type {
        case "subscribe":
            let wanted = try await StreamAuthorization.visiblePostIDs(
                (message.postIDs ?? []).map(\.value), viewer: connection.viewer, services: services)
            reply(connection, StreamEventJSON.subscriptionChanged("subscribed", postIDs: services.streams.subscribe(connection, to: wanted)))
        case "unsubscribe":
            let removed = services.streams.unsubscribe(connection, from: (message.postIDs ?? []).map(\.value))
            reply(connection, StreamEventJSON.subscriptionChanged("unsubscribed", postIDs: removed))
        case "authenticate":
            guard let token = message.accessToken else {
                throw RoostError.validation(field: "access_token", message: "access_token is required")
            }
            let (session, expiresAt) = try await services.tokens.streamSession(bearer: token)
            guard session.familyID == connection.session.familyID else {
                throw RoostError.validation(field: "access_token", message: "the token belongs to another login")
            }
            connection.extend(until: expiresAt)
            reply(connection, Array(#"{"event":"authenticated","expires_at":"\#(Timestamp.format(expiresAt))"}"#.utf8))
        default:
            throw RoostError.validation(field: "type", message: "type must be subscribe, unsubscribe or authenticate")
        }
    }

    private func reply(_ connection: StreamConnection, _ json: [UInt8]) {
        _ = connection.enqueue(.message(json: json))
    }
}

/// Wakes a WebSocket's handler on its event loop. The handler is attached once the upgrade has
/// replaced the HTTP handlers; anything queued before is written then.
final class WebSocketStreamWriter: StreamWriter {
    let eventLoop: any EventLoop
    private let handler = NIOLockedValueBox<WebSocketStreamHandler.Reference?>(nil)

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func attach(_ reference: WebSocketStreamHandler.Reference) {
        handler.withLockedValue { $0 = reference }
    }

    private func onHandler(_ body: @escaping @Sendable (WebSocketStreamHandler) -> Void) {
        guard let reference = handler.withLockedValue({ $0 }) else { return }
        eventLoop.execute { reference.handler.map(body) }
    }

    func framesQueued() { onHandler { $0.writeQueued() } }
    func connectionClosed(_ reason: StreamConnection.CloseReason) { onHandler { $0.closeStream(reason) } }
    func ping() { onHandler { $0.sendPing() } }
}

/// The stream metrics recorded when a stream ends.
enum StreamMetrics {
    static func closed(_ connection: StreamConnection, reason: StreamConnection.CloseReason) {
        let transport = connection.transport.rawValue
        Counter(label: RoostMetrics.streamDisconnects, dimensions: [("transport", transport), ("reason", reason.rawValue)]).increment()
        if reason == .tooSlow {
            Counter(label: RoostMetrics.streamDroppedClients, dimensions: [("transport", transport)]).increment()
        }
    }
}
