import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import RoostCore

/// Hummingbird's HTTP/1.1 child channel with the WebSocket upgrade of the streaming endpoint.
///
/// Unlike hummingbird-websocket's upgrade channel, an upgraded connection is handed to a NIO
/// handler (`WebSocketStreamHandler`) and its task ends: an idle stream then costs its socket and
/// a few small objects, not a suspended task tree (about 25 KiB of async frames per connection in
/// hummingbird-websocket 2.8). A handshake the streaming endpoint declines gets the contract's
/// error response (a client without a valid token a 401 with the error body), not a bare 400.
struct StreamingServerChannel: ServerChildChannel, HTTPChannelHandler {
    enum UpgradeResult: Sendable {
        case webSocket
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// A declined handshake: the request was consumed by the upgrade attempt, so it is
        /// answered here rather than by the router.
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, RoostError)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let streaming: WebSocketStreaming
    let maxInboundFrameSize: Int

    init(responder: @escaping HTTPChannelHandler.Responder, streaming: WebSocketStreaming) {
        self.responder = responder
        self.streaming = streaming
        self.maxInboundFrameSize = streaming.services.configuration.realtime.maxInboundMessageBytes
    }

    /// The builder to hand `Application(router:server:…)`.
    static func builder(streaming: WebSocketStreaming) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in StreamingServerChannel(responder: responder, streaming: streaming) }
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // The stream decided on while the upgrade is negotiated, picked up once it is done.
            let pending = NIOLockedValueBox<Result<StreamConnection, RoostError>?>(nil)
            let streaming = streaming
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: maxInboundFrameSize,
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeFutureWithTask {
                        let decision = await streaming.open(head, channel: channel)
                        pending.withLockedValue { $0 = decision }
                        guard case .success = decision else { return nil }
                        return HTTPHeaders()
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .success(let connection) = pending.withLockedValue({ $0 }) else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        try channel.pipeline.syncOperations.addHandler(streaming.handler(for: connection, channel: channel))
                        return .webSocket
                    }
                })
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if case .failure(let error) = pending.withLockedValue({ $0 }) { return .refused(http, error) }
                        return .http(http)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false  // NIOAsyncChannel pipelines HTTP
            configuration.enableErrorHandling = false  // Hummingbird handles errors
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validates
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let error):
                try await refuse(http, error)
            case .webSocket:
                // The NIO handler serves the stream from here on; this task is done.
                break
            }
        } catch {
            logger.debug("connection set-up failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            try? await value.channel.close()
        }
    }

    /// The contract's error response to a declined handshake, then the connection closes.
    private func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ error: RoostError) async throws {
        var fields = ["code": error.code, "message": error.message]
        if let field = error.field { fields["field"] = field }
        let body = ByteBuffer(bytes: (try? JSONEncoder().encode(["error": fields])) ?? Data())
        var headers = ErrorMiddleware.response(for: error).headers
        headers[.connection] = "close"
        headers[.cacheControl] = "no-store"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.contentLength] = String(body.readableBytes)
        let head = HTTPResponse(status: HTTPResponse.Status(code: error.status), headerFields: headers)
        try await http.executeThenClose { _, outbound in
            try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
        }
    }
}
