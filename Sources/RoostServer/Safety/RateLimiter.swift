import Foundation
import RoostCore
import Synchronization

/// Counts actions per key (`posts:<user id>`, `anonymous:<address>`) in fixed windows
/// (`RateLimitMath`), in this node's memory.
///
/// Per node by design: the counters are on the request path of every write and anonymous read, and
/// an in-memory check costs nothing next to a database round trip. With several nodes behind a
/// load balancer each node enforces the limits on the requests it sees, so a client spread evenly
/// over N nodes gets up to N times the limit; sticky routing (by token or address) restores the
/// exact limits, and a shared counter in PostgreSQL (`INSERT … ON CONFLICT DO UPDATE SET count =
/// count + 1 RETURNING`) is the upgrade should that ever matter more than the extra round trip.
///
/// Memory is bounded: finished windows are swept once a shard has grown past `sweepThreshold`
/// keys, and a shard still over `maximumKeysPerShard` afterwards drops its oldest windows.
final class RateLimiter: Sendable {
    private struct Entry {
        var window: RateWindow
        /// The rule's window length, so a sweep knows when this entry is finished.
        var length: TimeInterval
    }

    private struct Shard {
        var windows: [String: Entry] = [:]
        var sweepAt: Int
    }

    /// A lock is not copyable, so the shards live in boxes.
    private final class Box: Sendable {
        let shard: Mutex<Shard>
        init(_ shard: Shard) { self.shard = Mutex(shard) }
    }

    private let shards: [Box]
    private let clock: any RoostClock
    private let sweepThreshold: Int
    private let maximumKeysPerShard: Int

    init(clock: any RoostClock, shards count: Int = 16, sweepThreshold: Int = 4_096, maximumKeysPerShard: Int = 65_536) {
        self.clock = clock
        self.sweepThreshold = sweepThreshold
        self.maximumKeysPerShard = maximumKeysPerShard
        self.shards = (0..<max(1, count)).map { _ in Box(Shard(sweepAt: sweepThreshold)) }
    }

    private func shard(for key: String) -> Box {
        // Hash values are per process, which is all an in-memory shard index needs.
        shards[Int(UInt(bitPattern: key.hashValue) % UInt(shards.count))]
    }

    /// Counts one action under `key` if `rule` leaves room, and says what the headers should say.
    func hit(_ key: String, rule: RateLimitRule) -> RateLimitDecision {
        let now = clock.now()
        return shard(for: key).shard.withLock { shard in
            let (window, decision) = RateLimitMath.hit(shard.windows[key]?.window, rule: rule, now: now)
            shard.windows[key] = Entry(window: window, length: rule.window)
            if shard.windows.count > shard.sweepAt { sweep(&shard, now: now) }
            return decision
        }
    }

    /// What an action under `key` would get now, without counting it.
    func peek(_ key: String, rule: RateLimitRule) -> RateLimitDecision {
        let now = clock.now()
        return shard(for: key).shard.withLock { RateLimitMath.peek($0.windows[key]?.window, rule: rule, now: now) }
    }

    /// Forgets `key` (a successful login clears the account's failures).
    func reset(_ key: String) {
        _ = shard(for: key).shard.withLock { $0.windows.removeValue(forKey: key) }
    }

    /// Drops finished windows; if the shard is still too large, its oldest windows (which lets
    /// those clients start afresh: the bound protects memory, not the limits).
    private func sweep(_ shard: inout Shard, now: Date) {
        shard.windows = shard.windows.filter { now.timeIntervalSince($0.value.window.start) < $0.value.length }
        if shard.windows.count > maximumKeysPerShard {
            let keep = shard.windows.sorted { $0.value.window.start > $1.value.window.start }.prefix(maximumKeysPerShard / 2)
            shard.windows = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        // Sweep again only after the shard has grown by as much again: amortized O(1) per hit.
        shard.sweepAt = max(sweepThreshold, shard.windows.count * 2)
    }
}
