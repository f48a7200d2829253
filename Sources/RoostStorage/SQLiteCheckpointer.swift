import Foundation
import GRDB
import Synchronization

/// When the checkpointer copies the WAL back into the database file.
///
/// While a checkpoint copies, request writes that overlap it are now and then delayed by 2–6 ms
/// (measured on the follow benchmark on two cores: CPU and page-cache contention, with or without
/// the checkpoint's fsync; `SQLiteCheckpointer` runs it at nice 10). So a checkpoint waits for a
/// quiet writer (no request write for `quietPeriod`), which bursty request traffic gives it within
/// milliseconds; under sustained writes it runs every `maxDeferral`, copying a page rewritten many
/// times once rather than once per 100 ms.
struct CheckpointPolicy: Sendable {
    /// Least time between two checkpoints.
    var interval: Duration = .milliseconds(100)
    /// Longest a checkpoint waits for a quiet writer.
    var maxDeferral: Duration = .milliseconds(500)
    /// How long no request write may have run for the writer to count as quiet.
    var quietPeriod: Duration = .milliseconds(20)
    /// How often the checkpointer looks.
    var tick: Duration = .milliseconds(25)
    /// WAL size (pages) above which a fully copied WAL is restarted, if nothing was written while
    /// it was copied (see `SQLiteCheckpointer`).
    var restartFrames = 4_000
    /// WAL size (pages) above which it is restarted even under steady writes. The RESTART then
    /// copies and syncs, while it holds writers back, what came in during the second copy
    /// (measured 2–50 ms), so it is kept rare. Below `SQLiteStore.autocheckpointBackstop`, where
    /// each commit would checkpoint by itself.
    var forceRestartFrames = 25_000

    /// Whether to checkpoint now, `sinceLast` after the previous one, request writes having been
    /// quiet for `quiet` (zero while one runs).
    func isDue(sinceLast: Duration, quiet: Duration) -> Bool {
        sinceLast >= maxDeferral || (sinceLast >= interval && quiet >= quietPeriod)
    }

    /// Whether to restart a WAL of `frames` pages, all copied, that had grown by `added` pages
    /// while the copy ran (a second PASSIVE checkpoint's count minus the first's); `writing`: a
    /// request write is waiting for or holding the writer.
    func restartsWAL(frames: Int, added: Int, writing: Bool) -> Bool {
        frames > forceRestartFrames || (frames > restartFrames && added == 0 && !writing)
    }
}

/// Request writes (posts, follows, likes…) waiting for or holding the one writer, and when the
/// last one finished. Fan-out batches yield to them; the checkpointer waits for them to pause.
final class RequestWriteActivity: Sendable {
    private let base = ContinuousClock.now
    private let count = Atomic<Int>(0)
    /// Nanoseconds after `base` at which the last request write finished.
    private let lastFinished = Atomic<Int64>(0)

    private var elapsed: Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - base).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var pending: Int { count.load(ordering: .relaxed) }

    func begin() { count.add(1, ordering: .relaxed) }

    func end() {
        lastFinished.store(elapsed, ordering: .relaxed)
        count.subtract(1, ordering: .relaxed)
    }

    /// How long no request write has run; zero while one is pending.
    var quiet: Duration {
        guard pending == 0 else { return .zero }
        return .nanoseconds(elapsed - lastFinished.load(ordering: .relaxed))
    }
}

/// Checkpoints the WAL from a connection of its own, off the writer. SQLite's automatic
/// checkpoint runs inside whichever commit crosses 1,000 WAL pages — often a post's or a follow's,
/// which then waits for the page copies and an fsync of the database file. Here a PASSIVE
/// checkpoint (blocks neither the writer nor readers) copies and syncs when `CheckpointPolicy`
/// says, and once the WAL passes `restartFrames` a RESTART (with nothing left to copy it only waits
/// for readers to leave the WAL, at most a millisecond) lets the next write start the WAL over:
/// without it, constant reads keep the WAL growing and every read searches a larger index. Under
/// steady writes something is always left to copy, so the WAL then grows to `forceRestartFrames`.
/// The writer's own automatic checkpoint stays as a backstop (`SQLiteStore.autocheckpointBackstop`).
///
/// The copying runs on a thread of its own at nice 10 (`niceness`), so under contention it takes
/// little of the CPU the request path needs. Run as a GRDB async write, it ran on a dispatch worker,
/// which libdispatch runs at nice -2: above the request path's nice 0. Measured on two cores:
/// - 3,000 follows one at a time (20,000-user graph), follows slower than 3 ms: 28 and 20 at nice
///   0, 17 and 17 at nice 10; p99 2.78 / 2.39 → 2.37 / 1.77 ms.
/// - Posts and fan-out (default graph), against the dispatch worker: fan-out 457k → 505k
///   entries/s, one-at-a-time posts p99 10.2 → 9.25 ms, concurrent posts 1,655 → 1,849 req/s.
/// - `SCHED_IDLE` did as well for follows (11 and 17), but a write burst starved it: the WAL grew
///   to 65,000–79,000 frames and fan-out fell to 369k–381k entries/s.
final class SQLiteCheckpointer: Sendable {
    /// How much lower than normal the checkpoint thread's priority is (added to nice 0, at most 19).
    static let niceness: Int32 = 10
    private let stopped = Atomic<Bool>(false)
    /// The thread's nice value once it has started (nil before): what tests check.
    let nice = Mutex<Int32?>(nil)

    init(path: String, policy: CheckpointPolicy, activity: RequestWriteActivity) throws {
        var configuration = Configuration()
        // RESTART holds writers back while it waits for readers: wait a millisecond at most, then
        // give up until the next round.
        configuration.busyMode = SQLiteStore.busyWait(timeout: 0.001)
        configuration.label = "checkpoint"
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        let (seconds, attoseconds) = policy.tick.components
        let tick = Double(seconds) + Double(attoseconds) * 1e-18
        let thread = Thread {
            #if os(Linux)
            // On Linux `PRIO_PROCESS` with 0 names the calling thread. Raising nice is always
            // allowed; the thread starts with its creator's.
            let which = __priority_which_t(PRIO_PROCESS.rawValue)
            _ = setpriority(which, 0, min(19, max(0, getpriority(which, 0)) + Self.niceness))
            self.nice.withLock { $0 = getpriority(which, 0) }
            // Visible in `top -H` and `ps -L` (at most 15 characters).
            try? "roost-ckpt".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            #endif
            var last = ContinuousClock.now
            while !self.stopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: tick)
                let now = ContinuousClock.now
                guard policy.isDue(sinceLast: now - last, quiet: activity.quiet) else { continue }
                last = now
                // Synchronous, so GRDB runs the block here, on this thread and at its priority.
                _ = try? connection.writeWithoutTransaction { db in
                    let (frames, copied) = try db.checkpoint(.passive)
                    guard frames > policy.restartFrames, copied == frames else { return }
                    // What was written during that copy: copied now, outside the writers' lock. When
                    // nothing was, the RESTART has nothing to copy or sync while it holds writers back.
                    let (framesNow, copiedNow) = try db.checkpoint(.passive)
                    let writing = activity.pending > 0
                    if copiedNow == framesNow, policy.restartsWAL(frames: framesNow, added: framesNow - frames, writing: writing) {
                        _ = try db.checkpoint(.restart)
                    }
                }
            }
            try? connection.close()
        }
        thread.start()
    }

    /// Stops checkpointing; the thread closes its connection within a `CheckpointPolicy.tick`.
    func cancel() {
        stopped.store(true, ordering: .relaxed)
    }
}
