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

    /// Queues `element` unless the queue is full or finished; never waits.
    /// - Returns: whether it was queued.
    @discardableResult
    func push(_ element: Element) -> Bool {
        let (queued, waiter) = state.withLock { state -> (Bool, CheckedContinuation<[Element], Never>?) in
            guard !state.finished, state.items.count < capacity else { return (false, nil) }
            guard let waiter = state.waiter else {
                state.items.append(element)
                return (true, nil)
            }
            state.waiter = nil
            return (true, waiter)
        }
        waiter?.resume(returning: [element])
        return queued
    }

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
