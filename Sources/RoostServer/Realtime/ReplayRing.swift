import NIOCore
import RoostCore

/// The newest events one account was sent over SSE, for a client that reconnects with
/// `Last-Event-ID`. Bounded by count here and by age when read; the frames are the shared
/// encoded events, so a ring holds references, not copies.
struct ReplayRing {
    struct Entry {
        var id: ID
        var at: ContinuousClock.Instant
        var frame: ByteBuffer
    }

    private var entries: [Entry] = []
    /// Index of the oldest entry once the ring is full.
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    mutating func append(id: ID, at: ContinuousClock.Instant, frame: ByteBuffer) {
        let entry = Entry(id: id, at: at, frame: frame)
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[head] = entry
            head = (head + 1) % capacity
        }
    }

    /// Frames of events after `lastID` that are not older than `since`, oldest first.
    func frames(after lastID: ID, since: ContinuousClock.Instant) -> [ByteBuffer] {
        (0..<entries.count).lazy.map { entries[(head + $0) % entries.count] }
            .filter { $0.id > lastID && $0.at >= since }
            .map(\.frame)
    }
}
