import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import NIOCore
import RoostCore
import RoostStorage
import ServiceLifecycle

/// `GET /streaming/sse` (Server-Sent Events), and `GET /streaming` for clients that did not ask
/// for the WebSocket upgrade (`WebSocketStreaming` handles those that did).
struct StreamingController {
    let services: AppServices

    static let lastEventID = HTTPField.Name("Last-Event-ID")!  // a valid field name: cannot fail
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!  // a valid field name: cannot fail

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.get("streaming", use: webSocketRequired)
        group.get("streaming/sse", use: sse)
    }

    /// The WebSocket endpoint reached without an upgrade, or with one the server refused: 401
    /// without a valid token, 400 for bad `post_ids`, 503 / 429 without room for the stream, and
    /// otherwise 400 (no upgrade asked for).
    @Sendable func webSocketRequired(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let viewer = try context.requireViewer()
        _ = try StreamAuthorization.postIDs(request.uri.queryParameters.get("post_ids"))
        try services.streams.checkRoom(for: viewer.userID)
        throw RoostError.validation(
            field: nil, message: "GET /streaming is a WebSocket endpoint (send Upgrade: websocket); Server-Sent Events are at /streaming/sse")
    }

    /// A Server-Sent Events stream: `id:` and `data:` lines per event (the data is the same JSON
    /// as a WebSocket message), `: heartbeat` comments, `?post_ids=` for counts, and replay of
    /// the events after `Last-Event-ID` (header, or `?last_event_id=` for clients that cannot set
    /// headers) within the replay window.
    @Sendable func sse(_ request: Request, context: RoostRequestContext) async throws -> Response {
        guard let session = context.session else { throw RoostError.unauthorized("authentication required") }
        let expiresAt = try await services.tokens.expiry(ofBearerIn: request)
        let query = request.uri.queryParameters
        let postIDs = try await StreamAuthorization.visiblePostIDs(
            try StreamAuthorization.postIDs(query.get("post_ids")), viewer: session.viewer, services: services)
        let lastEventID = (request.headers[Self.lastEventID] ?? query.get("last_event_id")).flatMap { Validation.id($0) }
        let connection = try services.streams.open(
            session: session, expiresAt: expiresAt, transport: .sse, writer: nil, postIDs: postIDs, lastEventID: lastEventID)
        let registry = services.streams
        let grace = services.configuration.realtime.closeGracePeriod
        let body = ResponseBody { writer in
            let box = BodyWriterBox(writer)
            let reason = await withGracefulShutdownHandler {
                do {
                    try await box.write(StreamFrame.sseOpening)
                } catch {
                    connection.close(.clientClosed)
                }
                return await connection.pump(gracePeriod: grace) { frame in try await box.write(frame) }
            } onGracefulShutdown: {
                connection.close(.serverShutdown, finalFrame: .message(json: StreamEventJSON.closed(.serverShutdown)))
            }
            registry.remove(connection)
            StreamMetrics.closed(connection, reason: reason)
            guard reason.isGraceful else {
                // Gone, or too slow to read the rest: cut the connection rather than wait on it.
                throw StreamEnded(reason: reason)
            }
            writer = box.writer
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", Self.accelBuffering: "no"],
            body: body)
    }
}

/// Ends an SSE response without its closing chunk, which closes the connection.
struct StreamEnded: Error {
    var reason: StreamConnection.CloseReason
}

/// Lets the stream's writer task use the response body writer. Only one task touches it at a
/// time: the response closure hands it to `StreamConnection.pump`, which returns only after its
/// writer task has finished, and takes it back afterwards.
private final class BodyWriterBox: @unchecked Sendable {
    var writer: any ResponseBodyWriter

    init(_ writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    func write(_ buffer: ByteBuffer) async throws {
        try await writer.write(buffer)
    }
}

/// What opening a stream checks, for both transports.
enum StreamAuthorization {
    /// `post_ids` of a stream request or subscription: ids, at most the subscription limit.
    static func postIDs(_ raw: String?) throws(RoostError) -> [ID] {
        guard let raw, !raw.isEmpty else { return [] }
        let parts = raw.split(separator: ",", omittingEmptySubsequences: true)
        let ids = parts.compactMap { Validation.id(String($0)) }
        guard ids.count == parts.count else { throw .validation(field: "post_ids", message: "post_ids must be comma-separated post ids") }
        return ids
    }

    /// The posts of `ids` the viewer may see: counts of any other post are not theirs to know.
    static func visiblePostIDs(_ ids: [ID], viewer: Viewer, services: AppServices) async throws -> [ID] {
        guard !ids.isEmpty else { return [] }
        let limit = services.configuration.realtime.maxSubscriptionsPerConnection
        guard ids.count <= limit else {
            throw RoostError.validation(field: "post_ids", message: "at most \(limit) post ids per stream")
        }
        let posts = try await services.feeds.posts(ids)
        let visible = Set(try await services.renderer.visible(ids.compactMap { posts[$0] }, to: viewer).map(\.id))
        var seen = Set<ID>()
        return ids.filter { visible.contains($0) && seen.insert($0).inserted }
    }
}

extension TokenService {
    /// When a stream's access token expires (the stream closes then). The token was verified by
    /// the authentication middleware; this reads its claims again.
    func expiry(ofBearerIn request: Request) async throws -> Date {
        let token: String?
        if let header = request.headers[.authorization], header.count > 7 {
            token = String(header.dropFirst(7))
        } else {
            token = request.uri.queryParameters.get("access_token")
        }
        guard let token else { throw RoostError.unauthorized("authentication required") }
        return try await streamSession(bearer: token).expiresAt
    }

    /// A stream's session and the expiry of its token; `unauthorized` for anything but a valid,
    /// unexpired token of a login that has not ended.
    func streamSession(bearer token: String) async throws -> (session: Session, expiresAt: Date) {
        let session = try await session(fromBearer: token)
        guard let claims = try? await keys.verify(token, as: AccessClaims.self) else {
            throw RoostError.unauthorized("access token is invalid or expired")
        }
        return (session, claims.exp.value)
    }
}
