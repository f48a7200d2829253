import Foundation
import NIOCore
import RoostCore
import Synchronization

/// Writes a connection's frames to its socket when told there are some (a WebSocket's NIO
/// handler). SSE connections have none: their response task waits on the outbox (`pump`).
protocol StreamWriter: Sendable {
    /// Frames were queued into an empty outbox.
    func framesQueued()
    /// The connection closed for `reason`; a graceful close queued its last frames first.
    func connectionClosed(_ reason: StreamConnection.CloseReason)
    /// Time for a keep-alive ping (and to notice that the last one was never answered).
    func ping()
}

/// One open stream (a WebSocket or an SSE response) of one authenticated session.
///
/// The dispatcher never writes to the socket: it queues frames in the connection's bounded
/// outbox and moves on. The connection's writer drains the outbox at the client's pace: a
/// WebSocket's NIO handler on its event loop (no task per connection), an SSE response's task
/// (`pump`). A client that lets the outbox fill up is dropped — its queue is discarded and its
/// socket cut — so a slow or dead client costs the others nothing and the server a bounded
/// amount of memory.
final class StreamConnection: Sendable {
    enum Transport: String, Sendable {
        case webSocket = "websocket"
        case sse
    }

    /// Why a stream ended (the SSE `closed` event and the WebSocket close reason carry it).
    enum CloseReason: String, Sendable {
        /// The client went away (closed the socket, or a write to it failed).
        case clientClosed = "client_closed"
        /// The client fell `outboundBufferSize` frames behind.
        case tooSlow = "too_slow"
        case tokenExpired = "token_expired"
        /// The login was ended (logout, refresh-token reuse).
        case sessionEnded = "session_ended"
        case serverShutdown = "server_shutdown"

        /// The client is still there and gets the frames queued before the close.
        var isGraceful: Bool {
            switch self {
            case .tokenExpired, .sessionEnded, .serverShutdown: true
            case .clientClosed, .tooSlow: false
            }
        }
    }

    /// What happened to a frame handed to `enqueue`.
    enum Delivery {
        case queued
        /// The connection was already closing; the frame was ignored.
        case closed
        /// The outbox was full: the connection is now closed as too slow.
        case overflowed
    }

    private struct State {
        var closeReason: CloseReason?
        var closeWaiter: CheckedContinuation<CloseReason, Never>?
        var subscriptions: Set<ID> = []
        /// When the access token stops being valid; the stream closes then.
        var expiresAt: Date
    }

    let id: UInt64
    let session: Session
    let transport: Transport
    let outbox: BoundedQueue<ByteBuffer>
    /// The WebSocket's writer; nil for SSE.
    let writer: (any StreamWriter)?
    private let state: Mutex<State>

    init(id: UInt64, session: Session, expiresAt: Date, transport: Transport, outboxCapacity: Int, writer: (any StreamWriter)?) {
        self.id = id
        self.session = session
        self.transport = transport
        self.outbox = BoundedQueue(capacity: outboxCapacity)
        self.writer = writer
        self.state = Mutex(State(expiresAt: expiresAt))
    }

    var viewer: Viewer { session.viewer }
    var userID: ID { session.viewer.userID }
    var expiresAt: Date { state.withLock { $0.expiresAt } }
    var closeReason: CloseReason? { state.withLock { $0.closeReason } }
    var subscriptions: Set<ID> { state.withLock { $0.subscriptions } }

    // MARK: Sending

    /// Queues a frame without waiting.
    func enqueue(_ frame: StreamFrame) -> Delivery {
        switch outbox.push(frame.bytes(for: transport)) {
        case .queued:
            return .queued
        case .queuedFirst:
            writer?.framesQueued()
            return .queued
        case .refused:
            // Full, or finished because the connection is closing: only the first is news.
            return close(.tooSlow) ? .overflowed : .closed
        }
    }

    // MARK: Closing

    /// Closes the stream for `reason`; the first call wins. A graceful close first queues
    /// `finalFrame` (if there is room), so a healthy client learns why.
    /// - Returns: whether this call closed it.
    @discardableResult
    func close(_ reason: CloseReason, finalFrame: StreamFrame? = nil) -> Bool {
        let (first, waiter) = state.withLock { state -> (Bool, CheckedContinuation<CloseReason, Never>?) in
            guard state.closeReason == nil else { return (false, nil) }
            state.closeReason = reason
            defer { state.closeWaiter = nil }
            return (true, state.closeWaiter)
        }
        guard first else { return false }
        if reason.isGraceful, let finalFrame { outbox.push(finalFrame.bytes(for: transport)) }
        outbox.finish()
        writer?.connectionClosed(reason)
        waiter?.resume(returning: reason)
        return true
    }

    /// Waits until the stream is closed and returns why. A cancelled waiter closes it as shutdown.
    func closed() async -> CloseReason {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<CloseReason, Never>) in
                let reason = state.withLock { state -> CloseReason? in
                    if let reason = state.closeReason { return reason }
                    state.closeWaiter = continuation
                    return nil
                }
                if let reason { continuation.resume(returning: reason) }
            }
        } onCancel: {
            close(.serverShutdown)
        }
    }

    // MARK: Writing

    /// Asks the writer to ping the client (WebSocket keep-alive).
    func ping() {
        writer?.ping()
    }

    /// Writes queued frames with `write` until the stream closes, then returns why it closed (the
    /// writer of an SSE response).
    ///
    /// A write that fails means the client is gone. After a graceful close the frames already
    /// queued (the final one included) get `gracePeriod` to go out; otherwise, and then, the
    /// writer is cancelled even in the middle of a write that a stalled client never lets finish.
    func pump(gracePeriod: Duration, write: @escaping @Sendable (ByteBuffer) async throws -> Void) async -> CloseReason {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    while true {
                        let batch = await self.outbox.next()
                        if batch.isEmpty { return }
                        for frame in batch { try await write(frame) }
                    }
                } catch {
                    self.close(.clientClosed)
                }
            }
            let reason = await closed()
            if reason.isGraceful {
                group.addTask { try? await Task.sleep(for: gracePeriod) }
                _ = await group.next()
            }
            group.cancelAll()
            return reason
        }
    }

    // MARK: Subscriptions and session

    /// Adds subscriptions up to `limit` in all; returns the ids that are now subscribed (new or not).
    func subscribe(_ postIDs: [ID], limit: Int) -> [ID] {
        state.withLock { state in
            postIDs.filter { id in
                if state.subscriptions.contains(id) { return true }
                guard state.subscriptions.count < limit else { return false }
                state.subscriptions.insert(id)
                return true
            }
        }
    }

    /// Removes subscriptions; returns the ids that were subscribed.
    func unsubscribe(_ postIDs: [ID]) -> [ID] {
        state.withLock { state in postIDs.filter { state.subscriptions.remove($0) != nil } }
    }

    /// A fresh token for the same login extends the stream.
    func extend(until expiresAt: Date) {
        state.withLock { $0.expiresAt = max($0.expiresAt, expiresAt) }
    }
}
