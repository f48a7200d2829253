import RoostCore
import Synchronization

/// Who read their home feed on this node lately. A large fan-out writes their timelines first
/// (`FeedStore.pushToReaders`): someone scrolling right now sees a new post without waiting for
/// the follower-ordered batches to reach them; everyone else finds it there by their next read.
final class RecentReaders: Sendable {
    private let seen = Mutex<[ID: ContinuousClock.Instant]>([:])
    /// How long after a read someone counts as reading.
    let window: Duration
    /// Readers remembered; beyond it the oldest are forgotten.
    let capacity: Int

    init(window: Duration = .seconds(60), capacity: Int = 20_000) {
        self.window = window
        self.capacity = max(1, capacity)
    }

    func record(_ viewer: ID) {
        let now = ContinuousClock.now
        seen.withLock { seen in
            seen[viewer] = now
            if seen.count > capacity {
                seen = Dictionary(uniqueKeysWithValues: newest(seen, limit: capacity / 2, now: now).map { ($0.key, $0.value) })
            }
        }
    }

    /// Readers seen within `window`, most recent first, at most `limit`.
    func current(limit: Int) -> [ID] {
        guard limit > 0 else { return [] }
        let now = ContinuousClock.now
        return seen.withLock { newest($0, limit: limit, now: now).map(\.key) }
    }

    private func newest(_ seen: [ID: ContinuousClock.Instant], limit: Int, now: ContinuousClock.Instant) -> ArraySlice<(key: ID, value: ContinuousClock.Instant)> {
        seen.filter { now - $0.value < window }.sorted { $0.value > $1.value }.prefix(limit)
    }
}
