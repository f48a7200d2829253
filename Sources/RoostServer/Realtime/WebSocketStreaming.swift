import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import NIOWebSocket
import RoostCore
import RoostStorage
import ServiceLifecycle

/// `GET /api/v1/streaming` upgraded to a WebSocket.
///
/// The token (`Authorization: Bearer` or `?access_token=`) is checked before the upgrade and the
/// connection is registered then, so no event published after the client sees `101` is missed.
/// A refused stream is still upgraded and then closed with an `error` message and close code
/// 4401 (unauthorized) or 1013 (no room): browsers cannot read the status of a failed handshake,
/// but they can read a close code.
///
/// Client messages: `{"type": "subscribe" | "unsubscribe", "post_ids": [...]}` (answered with
/// `{"event": "subscribed" | "unsubscribed", "post_ids": [...]}`, listing the ids the viewer may
/// see), and `{"type": "authenticate", "access_token": "…"}`, which extends the stream with a
/// fresh token of the same login (answered with `{"event": "authenticated"}`).
struct WebSocketStreaming: Sendable {
    let services: AppServices

    static let path = "/api/v1/streaming"
    /// Close code for a stream refused or ended for authentication (4000-4999 are private use).
    static let unauthorizedCode = WebSocketErrorCode.unknown(4401)
    static let tryAgainLaterCode = WebSocketErrorCode.unknown(1013)
    /// Frames larger than this are sent in fragments (the common client default).
    static let maxFrameSize = 1 << 14

    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    /// The server configuration: pings every `webSocketPingInterval` (a client that misses a pong
    /// is disconnected), and a short close handshake.
    var serverConfiguration: HTTP1WebSocketUpgradeChannel.Configuration {
        .init(
            ws: .init(
                maxFrameSize: Self.maxFrameSize, autoPing: .enabled(timePeriod: services.configuration.realtime.webSocketPingInterval),
                closeTimeout: .seconds(5)))
    }

    /// Decides an upgrade request: only the streaming path is upgraded.
    func shouldUpgrade(_ head: HTTPRequest, channel: any Channel, logger: Logger) async -> ShouldUpgradeResult<Handler> {
        guard let target = URLComponents(string: head.path ?? "/"), target.path == Self.path || target.path == Self.path + "/" else {
            return .dontUpgrade
        }
        let query = target.queryItems ?? []
        var token: String?
        if let header = head.headerFields[.authorization] {
            if header.count > 7, header.prefix(7).lowercased() == "bearer " { token = String(header.dropFirst(7)) }
        } else {
            token = query.first { $0.name == "access_token" }?.value
        }
        let connection: StreamConnection
        do {
            guard let token else { throw RoostError.unauthorized("authentication required") }
            let (session, expiresAt) = try await services.tokens.streamSession(bearer: token)
            let postIDs = try await StreamAuthorization.visiblePostIDs(
                try StreamAuthorization.postIDs(query.first { $0.name == "post_ids" }?.value), viewer: session.viewer, services: services)
            connection = try services.streams.open(
                session: session, expiresAt: expiresAt, transport: .webSocket, channel: channel, postIDs: postIDs)
        } catch {
            let refusal = error as? RoostError ?? .unavailable("the stream could not be opened; retry shortly")
            return .upgrade([:]) { _, outbound, _ in try await Self.refuse(refusal, outbound: outbound) }
        }
        if let size = services.configuration.realtime.webSocketSendBufferBytes {
            try? await channel.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(size)).get()
        }
        // Whatever happens to the socket (even before the handler runs), the registry forgets it.
        let registry = services.streams
        channel.closeFuture.whenComplete { _ in
            connection.close(.clientClosed)
            registry.remove(connection)
        }
        return .upgrade([:]) { inbound, outbound, context in
            await run(connection, inbound: inbound, outbound: outbound, logger: context.logger)
        }
    }

    private static func refuse(_ error: RoostError, outbound: WebSocketOutboundWriter) async throws {
        let json = StreamEventJSON.error(code: error.code, message: error.message)
        try await write(ByteBuffer(bytes: json), to: outbound)
        let code = error.status == 401 ? unauthorizedCode : tryAgainLaterCode
        try await outbound.close(code, reason: error.code)
    }

    // MARK: The open stream

    private func run(_ connection: StreamConnection, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async {
        let realtime = services.configuration.realtime
        let reason = await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await readMessages(connection, inbound: inbound, maxSize: realtime.maxInboundMessageBytes)
                    connection.close(.clientClosed)
                }
                let reason = await connection.pump(gracePeriod: realtime.closeGracePeriod) { frame in
                    try await Self.write(frame, to: outbound)
                }
                group.cancelAll()
                return reason
            }
        } onGracefulShutdown: {
            connection.close(.serverShutdown)
        }
        services.streams.remove(connection)
        StreamMetrics.closed(connection, reason: reason)
        // Never wait long on a client that is going away: cut the socket if the close handshake stalls.
        if let channel = connection.channel {
            channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        }
        switch reason {
        case .tokenExpired, .sessionEnded:
            try? await outbound.close(Self.unauthorizedCode, reason: reason.rawValue)
        case .serverShutdown:
            try? await outbound.close(.goingAway, reason: reason.rawValue)
        case .clientClosed, .tooSlow:
            break
        }
    }

    /// A text message, in fragments when it is larger than a frame.
    static func write(_ message: ByteBuffer, to outbound: WebSocketOutboundWriter) async throws {
        var rest = message
        var opcode = WebSocketOpcode.text
        while rest.readableBytes > maxFrameSize {
            // `readSlice` cannot fail: at least `maxFrameSize` bytes are readable.
            let slice = rest.readSlice(length: maxFrameSize)!
            try await outbound.write(.custom(WebSocketFrame(fin: false, opcode: opcode, data: slice)))
            opcode = .continuation
        }
        try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: opcode, data: rest)))
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

    private func readMessages(_ connection: StreamConnection, inbound: WebSocketInboundStream, maxSize: Int) async {
        do {
            for try await message in inbound.messages(maxSize: maxSize) {
                guard case .text(let text) = message else {
                    reply(connection, StreamEventJSON.error(code: "validation_failed", message: "messages must be JSON text"))
                    continue
                }
                do {
                    try await handle(text, connection: connection)
                } catch let error as RoostError {
                    reply(connection, StreamEventJSON.error(code: error.code, message: error.message))
                } catch {
                    reply(connection, StreamEventJSON.error(code: "unavailable", message: "the message could not be handled; retry"))
                }
            }
        } catch {
            // The client broke the protocol or went away: the stream ends either way.
        }
    }

    private func handle(_ text: String, connection: StreamConnection) async throws {
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
