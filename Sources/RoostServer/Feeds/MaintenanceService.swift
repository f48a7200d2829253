import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage
import ServiceLifecycle

/// Scheduled upkeep of the feed engine. Every `maintenanceInterval`: trending snapshots for each
/// window (the materialized scores) and the fan-out queue gauges; every 20th round also trimming
/// of maintained timelines to the cap and retention of old timeline entries and snapshots. Each task is idempotent, so several nodes running it is harmless.
struct MaintenanceService: Service {
    let engine: FeedEngine
    let logger: Logger

    private let depth = Gauge(label: RoostMetrics.fanOutQueueDepth)
    private let lag = Gauge(label: RoostMetrics.fanOutQueueLag)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var round = 0
            while !Task.isCancelled {
                // Trimming and retention walk many rows; they run every 20th round.
                await runOnce(includeSlowTasks: round % 20 == 0)
                round += 1
                // Cancelled at shutdown: the loop ends, and the service returns rather than
                // throwing (a thrown CancellationError made `roost serve` exit 1 on SIGTERM).
                try? await Task.sleep(for: engine.configuration.maintenanceInterval)
            }
        }
    }

    /// One round of every task; failures are logged and retried next round.
    func runOnce(includeSlowTasks: Bool = true) async {
        await task("queue") { try await updateQueueGauges() }
        await task("trending") {
            for window in FeedEngine.trendingWindows.keys.sorted() { try await engine.refreshTrending(window: window) }
            return 0
        }
        guard includeSlowTasks else { return }
        await task("trim") { try await trimActiveTimelines() }
        await task("retention") {
            let now = engine.clock.now()
            try await engine.store.deleteSnapshots(createdBefore: now.addingTimeInterval(-24 * 3600))
            let horizon = IDGenerator.lowerBound(for: now.addingTimeInterval(-engine.policy.retention))
            return try await engine.store.expireTimelineEntries(olderThan: horizon)
        }
    }

    private func task(_ name: String, _ body: () async throws -> Int) async {
        do {
            let removed = try await body()
            Counter(label: RoostMetrics.maintenanceRuns, dimensions: [("task", name)]).increment()
            if removed > 0 { Counter(label: RoostMetrics.maintenanceRemoved, dimensions: [("task", name)]).increment(by: Int64(removed)) }
        } catch {
            logger.warning("maintenance task failed", metadata: ["roost.task": "\(name)", "error": "\(String(reflecting: type(of: error)))"])
        }
    }

    @discardableResult
    func updateQueueGauges() async throws -> Int {
        let status = try await engine.store.fanOutQueueStatus()
        depth.record(status.depth)
        lag.record(status.oldest.map { max(0, engine.clock.now().timeIntervalSince($0)) } ?? 0)
        return 0
    }

    /// Trims every maintained timeline to the cap, in pages of users.
    func trimActiveTimelines() async throws -> Int {
        var after: ID = 0
        var removed = 0
        while true {
            let users = try await engine.store.activeTimelineUsers(after: after, limit: 500, now: engine.clock.now())
            guard let last = users.last else { break }
            removed += try await engine.store.trimTimelines(userIDs: users, policy: engine.policy)
            after = last
        }
        return removed
    }
}
