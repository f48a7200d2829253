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
        let workers = engine.store.prefersOneFanOutWorker ? 1 : max(1, engine.configuration.fanOutWorkers)
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

    /// Leases the due jobs (up to `jobsPerClaim`) and runs them to completion, posts of one author
    /// together; false when the queue had nothing due. With one worker it first gathers a burst
    /// (`FanOutPolicy.gatherQuiet`) and leases again.
    ///
    /// A fan-out running longer than `longFanOut` writes its posts into the timelines of this
    /// node's current readers (`FeedStore.pushToReaders`) before it goes on; with one worker, jobs
    /// that become due while it runs are leased between its batches, their posts given to current
    /// readers too (once the fan-out proves long), and run after it. Whoever is reading sees a post
    /// about `longFanOut` after its fan-out starts, however long the sweep in front of it. (A pass
    /// costs about a microsecond per reader and post, so short fan-outs, most of them, skip it.)
    func runOneJob() async throws -> Bool {
        let store = engine.store
        let policy = engine.policy
        var due = try await claim(policy)
        guard !due.isEmpty else { return false }
        if store.prefersOneFanOutWorker {
            await store.awaitQuietWriter(policy.gatherQuiet, atMost: policy.gatherWindow)
            // A failed second lease only costs the gathering: the jobs in hand still run.
            due += (try? await claim(policy)) ?? []
        }
        let acrossAuthors = store.batchesPushAcrossAuthors
        var headStart = Set<ID>()
        while !due.isEmpty {
            let groups = FanOutBatching.groups(due) {
                (kind: $0.kind.rawValue, author: acrossAuthors && $0.kind == .push ? 0 : $0.authorID, position: $0.position)
            }
            due = []
            for group in groups {
                await run(group, policy: policy) { running, elapsed in
                    // With one worker (SQLite) nobody else would start them before this group ends;
                    // several workers (PostgreSQL) take them themselves.
                    if store.prefersOneFanOutWorker { due += (try? await claim(policy)) ?? [] }
                    // Once this group proves long: its own posts and those waiting behind it. A
                    // short group ends before the pass would pay off (measured: a pass per post of
                    // the sequential post phase held the writer ~2 ms each, half its write time).
                    guard elapsed >= Self.longFanOut else { return }
                    let ahead = (running + due).filter { $0.kind == .push && !headStart.contains($0.id) }
                    headStart.formUnion(ahead.map(\.id))
                    await pushToReaders(ahead, policy: policy)
                }
            }
        }
        return true
    }

    /// How long a fan-out runs before it counts as long. Time, not batches: a batch ends early
    /// whenever a request write waits, so under steady posting even a short fan-out runs many.
    /// A pass costs the writer ~2 ms (1,000 readers): past 20 ms it buys readers more than that.
    static let longFanOut: Duration = .milliseconds(20)

    private func claim(_ policy: FanOutPolicy) async throws -> [FanOutJob] {
        try await engine.store.claimFanOutJobs(now: engine.clock.now(), lease: lease, limit: max(1, policy.jobsPerClaim))
    }

    /// The posts of `jobs` into the timelines of this node's recent home readers who follow their
    /// authors (at most `readersFirstProbes` readers × posts). A failure only costs those readers
    /// the head start: the batches still deliver.
    private func pushToReaders(_ jobs: [FanOutJob], policy: FanOutPolicy) async {
        guard !jobs.isEmpty else { return }
        let readers = engine.recentReaders.current(limit: policy.readersFirstProbes / jobs.count)
        guard !readers.isEmpty else { return }
        do {
            let pushed = try await engine.store.pushToReaders(jobs, readers: readers, now: engine.clock.now())
            entries.increment(by: Int64(pushed.entries))
            engine.homePages.invalidate(viewers: pushed.users)
        } catch {
            logger.warning("fan-out to current readers failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        }
    }

    /// One group of jobs, batch by batch; each batch sized to take about `policy.batchTime`.
    /// `betweenBatches` runs after every unfinished batch, with the jobs still running and the
    /// time since the first batch started.
    private func run(_ group: [FanOutJob], policy: FanOutPolicy, betweenBatches: ([FanOutJob], Duration) async -> Void) async {
        let store = engine.store
        var jobs = group
        var followers = max(16, policy.batchSize / jobs.count)
        // On PostgreSQL a batch also costs round trips, so batches are at least 40 ms there.
        let target = store.prefersOneFanOutWorker ? policy.batchTime : max(policy.batchTime, .milliseconds(40))
        let clock = ContinuousClock()
        let began = clock.now
        do {
            while !jobs.isEmpty {
                await store.awaitIdleWriter()
                let started = clock.now
                let progress = try await store.runFanOutBatch(jobs, followers: followers, now: engine.clock.now())
                entries.increment(by: Int64(progress.entries))
                engine.homePages.invalidate(viewers: progress.users)
                jobs.removeAll { progress.dropped.contains($0.id) }
                if progress.finished { break }
                for index in jobs.indices { jobs[index].position = progress.position }
                await betweenBatches(jobs, clock.now - began)
                followers = FanOutBatching.nextFollowers(last: followers, took: clock.now - started, target: target)
            }
            let now = engine.clock.now()
            for job in group {
                delivery.recordNanoseconds(Int64(max(0, now.timeIntervalSince(job.createdAt)) * 1e9))
            }
        } catch {
            failures.increment(by: Int64(jobs.count))
            logger.warning("fan-out batch failed", metadata: ["roost.post_ids": "\(jobs.map(\.postID))", "roost.attempts": "\(group[0].attempts)"])
            for job in jobs {
                let backoff = min(300, pow(2, Double(job.attempts)))
                try? await store.releaseFanOutJob(id: job.id, retryAt: engine.clock.now().addingTimeInterval(backoff))
            }
        }
    }
}
