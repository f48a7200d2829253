import Synchronization

/// A bounded queue between producers that must never wait (request handlers, the dispatcher) and
/// one consumer task that takes everything queued at once, so work naturally batches under load.
///
/// A full queue refuses the element; the producer decides what that means (count and drop an
/// event, disconnect a client that fell behind).
final class BoundedQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<[Element], Never>?
        var finished = false
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { state.withLock { $0.items.count } }

    /// What `push` did.
    enum Push {
        /// Queued behind other elements: the consumer is already due to take it.
        case queued
        /// Queued into an empty queue with no consumer waiting: a consumer that does not wait on
        /// `next()` (a NIO handler) must be told to `drain()`.
        case queuedFirst
        /// Refused: the queue is full or finished.
        case refused
    }

    /// Queues `element` unless the queue is full or finished; never waits.
    @discardableResult
    func push(_ element: Element) -> Push {
        let (result, waiter) = state.withLock { state -> (Push, CheckedContinuation<[Element], Never>?) in
            guard !state.finished, state.items.count < capacity else { return (.refused, nil) }
            guard let waiter = state.waiter else {
                state.items.append(element)
                return (state.items.count == 1 ? .queuedFirst : .queued, nil)
            }
            state.waiter = nil
            return (.queued, waiter)
        }
        waiter?.resume(returning: [element])
        return result
    }

    /// Everything queued, without waiting (empty when nothing is).
    func drain() -> [Element] {
        state.withLock { state in
            defer { state.items = [] }
            return state.items
        }
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// Stops accepting elements. The consumer still receives what is queued, then `[]`.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[Element], Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: [])
    }

    /// Everything queued, in order, waiting while the queue is empty. `[]` means the queue is
    /// finished and drained, or the waiting task was cancelled: the consumer should stop.
    func next() async -> [Element] {
        if let ready = takeReady() { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element], Never>) in
                let immediate = state.withLock { state -> [Element]? in
                    if !state.items.isEmpty {
                        defer { state.items = [] }
                        return state.items
                    }
                    if state.finished || Task.isCancelled { return [] }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<[Element], Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: [])
        }
    }

    private func takeReady() -> [Element]? {
        state.withLock { state in
            if !state.items.isEmpty {
                defer { state.items = [] }
                return state.items
            }
            return state.finished ? [] : nil
        }
    }
}
