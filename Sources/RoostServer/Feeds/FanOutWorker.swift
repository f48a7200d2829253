import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage
import ServiceLifecycle

/// Drains the durable fan-out queue: claims a job (a lease, so a crashed node's jobs come back),
/// runs it batch by batch, and retries failures with backoff. Several workers per node, and any
/// number of nodes on one PostgreSQL, share the queue.
struct FanOutWorker: Service {
    let engine: FeedEngine
    let logger: Logger
    /// How long a claimed job stays ours without progress before another worker may take it.
    var lease: TimeInterval = 30
    /// Idle polling interval; a post created on this node wakes the workers at once.
    var pollInterval: Duration = .milliseconds(250)

    private let entries = Counter(label: RoostMetrics.fanOutEntries)
    private let failures = Counter(label: RoostMetrics.fanOutFailures)
    private let delivery = Metrics.Timer(label: RoostMetrics.fanOutDelivery)

    init(engine: FeedEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    func run() async throws {
        let workers = max(1, engine.configuration.fanOutWorkers)
        await withDiscardingTaskGroup { group in
            for _ in 0..<workers {
                group.addTask { await loop() }
            }
            try? await gracefulShutdown()
            group.cancelAll()
            engine.fanOutWakeUp.notifyAll()
        }
    }

    private func loop() async {
        while !Task.isCancelled {
            let seen = engine.fanOutWakeUp.generation
            do {
                if try await runOneJob() { continue }
            } catch {
                if Task.isCancelled { return }
                logger.warning("fan-out poll failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            await engine.fanOutWakeUp.wait(since: seen, timeout: pollInterval)
        }
    }

    /// Runs the next due job to completion; false when the queue had nothing due.
    func runOneJob() async throws -> Bool {
        let store = engine.store
        guard let job = try await store.claimFanOutJob(now: engine.clock.now(), lease: lease) else { return false }
        do {
            var current = job
            while true {
                let progress = try await store.runFanOutBatch(current, now: engine.clock.now(), policy: engine.policy)
                entries.increment(by: Int64(progress.entries))
                if progress.finished { break }
                current.position = progress.position
            }
            delivery.recordNanoseconds(Int64(max(0, engine.clock.now().timeIntervalSince(job.createdAt)) * 1e9))
        } catch {
            failures.increment()
            let backoff = min(300, pow(2, Double(job.attempts)))
            logger.warning("fan-out job failed", metadata: ["roost.post_id": "\(job.postID)", "roost.attempts": "\(job.attempts)"])
            try? await store.releaseFanOutJob(id: job.id, retryAt: engine.clock.now().addingTimeInterval(backoff))
        }
        return true
    }
}
