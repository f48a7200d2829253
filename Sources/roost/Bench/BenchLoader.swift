import Foundation
import RoostCore
import RoostStorage

/// A progress bar on stderr, redrawn in place with carriage returns (at most 10 times a second).
struct ProgressBar {
    let label: String
    var total: Int
    let started = ContinuousClock.now
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var lastDone = -1
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    mutating func update(_ done: Int, force: Bool = false) {
        let now = ContinuousClock.now
        // Redraw in place 10 times a second on a terminal; otherwise a new line every 10 seconds.
        guard force || now - lastDraw >= (isTerminal ? .milliseconds(100) : .seconds(10)) else { return }
        guard isTerminal || done != lastDone else { return }
        lastDraw = now
        lastDone = done
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let seconds = max(0.001, (now - started).seconds)
        let line = String(
            format: "%@ [%@] %3d%% %@/%@ %@ rows/s", label.padding(toLength: 8, withPad: " ", startingAt: 0), bar,
            Int(fraction * 100), grouped(done), grouped(total), grouped(Int(Double(done) / seconds)))
        writeStderr(isTerminal ? "\r" + line : line + "\n")
    }

    mutating func finish(_ done: Int) {
        update(done, force: true)
        if isTerminal { writeStderr("\n") }
    }
}

func writeStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// 1234567 → "1,234,567".
func grouped(_ value: Int) -> String {
    let digits = String(abs(value))
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return value < 0 ? "-" + out : out
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }

    var nanoseconds: UInt64 {
        let (s, atto) = components
        return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }
}

/// What loading the data set took.
struct LoadReport: Sendable {
    struct Table: Sendable {
        var name: String
        var rows: Int
        var seconds: Double
        var rowsPerSecond: Double { rows > 0 ? Double(rows) / max(seconds, 1e-9) : 0 }
    }

    var tables: [Table] = []
    var recountSeconds = 0.0
    var totalSeconds = 0.0
    /// Followers per user index, as generated (the store's counters agree after the recount).
    var followers: [Int32] = []
    /// Posts per user index.
    var posts: [Int32] = []
}

/// Generates the data set batch by batch and writes it through the bulk import API. The next
/// batch is generated while the store writes the current one.
struct BenchLoader {
    let graph: SyntheticGraph
    let store: any RoostStore
    let policy: FanOutPolicy

    static let userBatch = 20_000
    /// Follows are written ~200,000 at a time (2,000 followers at 100 follows each) in primary-key
    /// order (follower, followee): in bulk-load mode the primary key is the only B-tree, so every
    /// batch appends to it (followers are generated in id order).
    static let followBatchUsers = 2_000
    static let postBatch = 20_000
    /// Batches written at once. PostgreSQL runs each on its own connection and backend, so two
    /// use both cores of a small machine (one backend is CPU-bound on the inserts); SQLite
    /// serializes the writes but prepares the next batch (its JSON) while one is written.
    static let followWriters = 2
    static let postWriters = 2

    func load() async throws -> LoadReport {
        var report = LoadReport()
        let clock = ContinuousClock()
        let started = clock.now
        let shape = graph.shape
        report.followers = Array(repeating: 0, count: shape.users)
        report.posts = Array(repeating: 0, count: shape.users)

        // Users.
        do {
            var bar = ProgressBar(label: "users", total: shape.users)
            let t0 = clock.now
            let graph = self.graph
            let store = self.store
            try await pipelined(count: shape.users, step: Self.userBatch, generate: { graph.users($0) }) { rows in
                _ = try await store.importUsers(rows)
            } progress: {
                bar.update($0)
            }
            bar.finish(shape.users)
            report.tables.append(.init(name: "users", rows: shape.users, seconds: (clock.now - t0).seconds))
        }

        // Follows: the total is only known once generated; the bar estimates it from the mean.
        do {
            let estimate = Int((graph.ordinaryFollowsMean + graph.celebrityFractions.reduce(0, +)) * Double(shape.users))
            var bar = ProgressBar(label: "follows", total: estimate)
            let t0 = clock.now
            let bulk = try await store.beginBulkLoad(.follows, expectedRows: estimate)
            var written = 0
            var followers = report.followers
            let graph = self.graph
            let base = graph.userBaseMillis
            let store = self.store
            try await pipelined(
                count: shape.users, step: Self.followBatchUsers, writers: Self.followWriters,
                generate: { range in
                    graph.follows(range).sorted { ($0.follower, $0.followee) < ($1.follower, $1.followee) }
                },
                observe: { rows in
                    for row in rows { followers[Int((row.followee >> 22) - base)] += 1 }
                    written += rows.count
                }
            ) { rows in
                _ = try await store.importFollows(rows)
            } progress: {
                bar.update($0)
            }
            report.followers = followers
            bar.total = written
            bar.finish(written)
            try await finishBulkLoad(.follows, bulk: bulk)
            report.tables.append(.init(name: "follows", rows: written, seconds: (clock.now - t0).seconds))
        }

        // Posts.
        do {
            var bar = ProgressBar(label: "posts", total: shape.posts)
            let t0 = clock.now
            let bulk = try await store.beginBulkLoad(.posts, expectedRows: shape.posts)
            var posts = report.posts
            let graph = self.graph
            let base = graph.userBaseMillis
            let policy = self.policy
            let store = self.store
            try await pipelined(
                count: shape.posts, step: Self.postBatch, writers: Self.postWriters, generate: { graph.posts($0) },
                observe: { rows in
                    for row in rows { posts[Int((row.authorID >> 22) - base)] += 1 }
                }
            ) { rows in
                _ = try await store.importPosts(rows, policy: policy)
            } progress: {
                bar.update($0)
            }
            report.posts = posts
            bar.finish(shape.posts)
            try await finishBulkLoad(.posts, bulk: bulk)
            report.tables.append(.init(name: "posts", rows: shape.posts, seconds: (clock.now - t0).seconds))
        }

        writeStderr("recounting counters…")
        let t0 = clock.now
        try await store.recountCounters(policy: policy)
        report.recountSeconds = (clock.now - t0).seconds
        writeStderr(String(format: " %.1f s\n", report.recountSeconds))
        report.totalSeconds = (clock.now - started).seconds
        return report
    }

    /// Rebuilds the indexes a bulk load deferred (timed as part of the table's load).
    private func finishBulkLoad(_ table: BulkLoadTable, bulk: Bool) async throws {
        guard bulk else { return }
        writeStderr("\(table.rawValue): building indexes…")
        let t0 = ContinuousClock.now
        try await store.finishBulkLoad(table)
        writeStderr(String(format: " %.1f s\n", (ContinuousClock.now - t0).seconds))
    }

    /// Walks 0..<count in steps, generating batch k+1 in a task while batch k is written, with up
    /// to `writers` batches being written at once. `observe` sees each batch, in order, before it
    /// is written; `progress` gets the rows written so far.
    private func pipelined<Row: Sendable>(
        count: Int, step: Int, writers: Int = 1, generate: @escaping @Sendable (Range<Int>) -> [Row],
        observe: ([Row]) -> Void = { _ in }, write: @escaping @Sendable ([Row]) async throws -> Void, progress: (Int) -> Void
    ) async throws {
        guard count > 0 else { return }
        try await withThrowingTaskGroup(of: Int.self) { group in
            var start = 0
            var pending = Task { generate(0..<min(step, count)) }
            var inFlight = 0
            var done = 0
            while start < count {
                let rows = await pending.value
                let next = start + step
                if next < count {
                    let range = next..<min(next + step, count)
                    pending = Task { generate(range) }
                }
                observe(rows)
                if inFlight == writers, let written = try await group.next() {
                    inFlight -= 1
                    done += written
                    progress(done)
                }
                group.addTask {
                    try await write(rows)
                    return rows.count
                }
                inFlight += 1
                start = next
            }
            while let written = try await group.next() {
                done += written
                progress(done)
            }
        }
    }
}
