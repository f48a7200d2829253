import Foundation
import Metrics
import Synchronization

/// A small in-memory cache for hot reads (posts, authors) with a time-to-live, a size bound and
/// single-flight loading: when an entry is missing or expired, concurrent readers of the same
/// keys share one load instead of stampeding the database.
///
/// Values are at most `ttl` stale, which is how long a like count on another node may lag.
/// Writers on this node call `invalidate` so their own changes show at once.
final class TTLCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value?
        var expires: ContinuousClock.Instant
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var inflight: [Key: Task<[Key: Value], any Error>] = [:]
    }

    private let state = Mutex(State())
    private let ttl: Duration
    private let capacity: Int
    private let hits: Counter
    private let misses: Counter

    init(name: String, ttl: Duration, capacity: Int) {
        self.ttl = ttl
        self.capacity = capacity
        self.hits = Counter(label: RoostMetrics.cacheHits, dimensions: [("cache", name)])
        self.misses = Counter(label: RoostMetrics.cacheMisses, dimensions: [("cache", name)])
    }

    /// Values for `keys` (missing keys are absent from the result), loading the misses with `load`.
    /// `load` returns what exists; keys it does not return are cached as absent for the TTL.
    func values(for keys: [Key], load: @escaping @Sendable ([Key]) async throws -> [Key: Value]) async throws -> [Key: Value] {
        let now = ContinuousClock.now
        var result: [Key: Value] = [:]
        var waits: Set<Task<[Key: Value], any Error>> = []
        var task: Task<[Key: Value], any Error>?
        var missCount = 0
        state.withLock { state in
            var missing: [Key] = []
            for key in keys {
                if let entry = state.entries[key], entry.expires > now {
                    if let value = entry.value { result[key] = value }
                } else if let running = state.inflight[key] {
                    waits.insert(running)
                    missCount += 1
                } else {
                    missing.append(key)
                }
            }
            if !missing.isEmpty {
                let loader = Task { try await load(missing) }
                for key in missing { state.inflight[key] = loader }
                task = loader
                waits.insert(loader)
                missCount += missing.count
                // Keep the map bounded: drop expired entries first, then anything, when full.
                if state.entries.count + missing.count > capacity {
                    state.entries = state.entries.filter { $0.value.expires > now }
                    if state.entries.count + missing.count > capacity { state.entries.removeAll(keepingCapacity: true) }
                }
            }
        }
        hits.increment(by: Int64(keys.count - missCount))
        misses.increment(by: Int64(missCount))
        if let task {
            let missingKeys = keys.filter { result[$0] == nil }
            do {
                let loaded = try await task.value
                let expires = ContinuousClock.now + ttl
                state.withLock { state in
                    for key in missingKeys where state.inflight[key] == task {
                        state.inflight[key] = nil
                        state.entries[key] = Entry(value: loaded[key], expires: expires)
                    }
                }
            } catch {
                state.withLock { state in
                    for key in missingKeys where state.inflight[key] == task { state.inflight[key] = nil }
                }
                throw error
            }
        }
        for wait in waits {
            for (key, value) in try await wait.value where keys.contains(key) { result[key] = value }
        }
        return result
    }

    /// Drops the value, and a load of it already under way is not stored: it may have read the
    /// value from before the change.
    func invalidate(_ key: Key) {
        state.withLock { state in
            state.entries[key] = nil
            state.inflight[key] = nil
        }
    }

    func removeAll() {
        state.withLock { state in
            state.entries.removeAll()
            state.inflight.removeAll()
        }
    }
}
