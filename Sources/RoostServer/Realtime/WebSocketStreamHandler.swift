import Foundation
import NIOCore
import NIOWebSocket

/// Serves one upgraded stream on its channel's event loop: writes the connection's queued frames
/// while the socket takes them, answers pings, assembles client messages, and closes the stream
/// the way its reason calls for. All state is confined to the event loop.
final class WebSocketStreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// How other threads reach the handler: through the event loop only.
    struct Reference: @unchecked Sendable {
        // Only dereferenced on the channel's event loop (`WebSocketStreamWriter` hops there).
        weak var handler: WebSocketStreamHandler?
    }

    let connection: StreamConnection
    let maxMessageBytes: Int
    let closeGracePeriod: Duration
    let onMessage: @Sendable (String, StreamConnection) async -> Void

    private var context: ChannelHandlerContext?
    /// A text message arriving in fragments.
    private var partial: ByteBuffer?
    private var partialIsText = false
    private var awaitingPong = false
    /// The close frame is written: nothing else may follow it.
    private var closing = false

    init(
        connection: StreamConnection, maxMessageBytes: Int, closeGracePeriod: Duration,
        onMessage: @escaping @Sendable (String, StreamConnection) async -> Void
    ) {
        self.connection = connection
        self.maxMessageBytes = maxMessageBytes
        self.closeGracePeriod = closeGracePeriod
        self.onMessage = onMessage
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        (connection.writer as? WebSocketStreamWriter)?.attach(Reference(handler: self))
        if let reason = connection.closeReason {
            closeStream(reason)
        } else {
            writeQueued()
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Writing

    /// Writes what the outbox holds while the socket takes it; the rest waits for writability.
    func writeQueued() {
        guard let context, !closing, context.channel.isWritable else { return }
        let frames = connection.outbox.drain()
        guard !frames.isEmpty else { return }
        for frame in frames { write(frame, context) }
        context.flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writeQueued() }
        context.fireChannelWritabilityChanged()
    }

    /// A text message, in fragments when it is larger than a frame.
    private func write(_ message: ByteBuffer, _ context: ChannelHandlerContext) {
        var rest = message
        var opcode = WebSocketOpcode.text
        while rest.readableBytes > WebSocketStreaming.maxFrameSize {
            // `readSlice` cannot fail: at least `maxFrameSize` bytes are readable.
            let slice = rest.readSlice(length: WebSocketStreaming.maxFrameSize)!
            context.write(wrapOutboundOut(WebSocketFrame(fin: false, opcode: opcode, data: slice)), promise: nil)
            opcode = .continuation
        }
        context.write(wrapOutboundOut(WebSocketFrame(fin: true, opcode: opcode, data: rest)), promise: nil)
    }

    /// A ping; a client that did not answer the previous one is gone.
    func sendPing() {
        guard let context, !closing else { return }
        if awaitingPong {
            connection.close(.clientClosed)
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: context.channel.allocator.buffer(capacity: 0))), promise: nil)
    }

    // MARK: Closing

    /// Ends the stream: a client that is gone or too slow is cut off at once; otherwise the frames
    /// still queued (the reason among them) go out, then a close frame, then the socket closes.
    func closeStream(_ reason: StreamConnection.CloseReason) {
        guard let context, !closing else { return }
        closing = true
        guard reason.isGraceful else {
            context.close(promise: nil)
            return
        }
        for frame in connection.outbox.drain() { write(frame, context) }
        let code: WebSocketErrorCode = reason == .serverShutdown ? .goingAway : WebSocketStreaming.unauthorizedCode
        var data = context.channel.allocator.buffer(capacity: 2 + reason.rawValue.utf8.count)
        data.write(webSocketErrorCode: code)
        data.writeString(reason.rawValue)
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: closed)
        // Wait a moment for the client's close frame; never longer than the grace period.
        let channel = context.channel
        let cut = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(closeGracePeriod / .nanoseconds(1)))) { channel.close(promise: nil) }
        closed.futureResult.whenFailure { _ in
            cut.cancel()
            channel.close(promise: nil)
        }
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .connectionClose:
            if closing {
                context.close(promise: nil)
            } else {
                // The client is leaving: answer with its code, then close.
                closing = true
                connection.close(.clientClosed)
                var payload = frame.unmaskedData
                let code = payload.readWebSocketErrorCode() ?? .normalClosure
                var data = context.channel.allocator.buffer(capacity: 2)
                data.write(webSocketErrorCode: code)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: data))).whenComplete { _ in
                    channel.close(promise: nil)
                }
            }
        case .ping:
            guard !closing else { return }
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .pong:
            awaitingPong = false
        case .text, .binary:
            partial = nil
            partialIsText = frame.opcode == .text
            receive(frame, context)
        case .continuation:
            guard partial != nil else { return protocolError(context) }
            receive(frame, context)
        default:
            protocolError(context)
        }
    }

    private func receive(_ frame: WebSocketFrame, _ context: ChannelHandlerContext) {
        var data = frame.unmaskedData
        if var buffer = partial {
            buffer.writeBuffer(&data)
            partial = buffer
        } else {
            partial = data
        }
        guard (partial?.readableBytes ?? 0) <= maxMessageBytes else {
            partial = nil
            let code = context.channel.allocator.buffer(integer: UInt16(1009))  // message too big
            closing = true
            connection.close(.clientClosed)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: code))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        guard frame.fin, let message = partial else { return }
        partial = nil
        guard partialIsText else {
            _ = connection.enqueue(.message(json: StreamEventJSON.error(code: "validation_failed", message: "messages must be JSON text")))
            return
        }
        let text = String(buffer: message)
        let connection = connection
        let onMessage = onMessage
        Task { await onMessage(text, connection) }
    }

    private func protocolError(_ context: ChannelHandlerContext) {
        closing = true
        connection.close(.clientClosed)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.close(.clientClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.close(.clientClosed)
        context.close(promise: nil)
    }
}
