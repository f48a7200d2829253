import Foundation

/// One line of the results table.
struct ResultRow: Sendable {
    var measure: String
    var connections: String = "—"
    var requests: String = "—"
    var rate: String = "—"
    var p50: String = "—"
    var p99: String = "—"
    var target: String = "—"
    var result: String = "—"

    init(
        _ measure: String, connections: String = "—", requests: String = "—", rate: String = "—", p50: String = "—", p99: String = "—",
        target: String = "—", result: String = "—"
    ) {
        self.measure = measure
        self.connections = connections
        self.requests = requests
        self.rate = rate
        self.p50 = p50
        self.p99 = p99
        self.target = target
        self.result = result
    }

    /// A row from timed requests: count (and errors), req/s, p50, p99.
    init(_ measure: String, _ latencies: Latencies, target: String = "—", result: String = "—", showRate: Bool = true) {
        self.measure = measure
        connections = "\(latencies.concurrency)"
        requests = grouped(latencies.count) + (latencies.errors > 0 ? " (\(grouped(latencies.errors)) errors)" : "")
        rate = showRate ? grouped(Int(latencies.perSecond.rounded())) + " req/s" : "—"
        p50 = millis(latencies.p50)
        p99 = millis(latencies.p99)
        self.target = target
        self.result = result
    }
}

func millis(_ value: Double?) -> String {
    guard let value else { return "—" }
    if value >= 1000 { return String(format: "%.2f s", value / 1000) }
    if value >= 100 { return String(format: "%.0f ms", value) }
    if value >= 10 { return String(format: "%.1f ms", value) }
    return String(format: "%.2f ms", value)
}

func verdict(_ ok: Bool) -> String { ok ? "pass" : "**miss**" }

/// Everything the report prints.
struct BenchResults {
    var command = ""
    var backend = ""
    var shape: BenchShape?
    var load: LoadReport?
    var rows: [ResultRow] = []
    var notes: [String] = []
    /// Facts about the data set and the run (key, value), printed above the table.
    var facts: [(String, String)] = []
    var memoryAfterLoad: (rss: Double, peak: Double)?
    /// 1-minute load average when the bench started and ended (other work on the machine skews results).
    var loadAverage: (start: Double?, end: Double?) = (nil, nil)
    var memoryAfterBench: (rss: Double, peak: Double)?

    func markdown() -> String {
        var out: [String] = []
        let date = ISO8601DateFormatter().string(from: Date())
        out.append("## roost bench — \(backend), \(date)")
        out.append("")
        out.append("```sh")
        out.append(command)
        out.append("```")
        out.append("")
        #if DEBUG
            let build = "debug build (numbers are not representative; use `swift build -c release`)"
        #else
            let build = "release build"
        #endif
        out.append(
            "- Machine: `uname -m` \(machine()), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                + "\(String(format: "%.1f", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824)) GiB RAM, \(build); "
                + "server and load generator share this one process and its cores"
                + (loadAverage.start.map { String(format: "; load average %.1f at start", $0) } ?? "")
                + (loadAverage.end.map { String(format: ", %.1f at end", $0) } ?? "") + ".")
        if let shape, let load {
            let follows = load.tables.first { $0.name == "follows" }?.rows ?? 0
            out.append(
                "- Data set (seed \(shape.seed)): \(grouped(shape.users)) users, \(grouped(follows)) follows "
                    + "(mean \(String(format: "%.1f", Double(follows) / Double(max(1, shape.users)))) per user), "
                    + "\(grouped(shape.posts)) posts over \(shape.days) days; celebrity threshold \(grouped(shape.celebrityThreshold)) followers."
            )
            let tables = load.tables.map { "\($0.name) \(String(format: "%.1f", $0.seconds)) s (\(grouped(Int($0.rowsPerSecond))) rows/s)" }
            out.append(
                "- Load: \(String(format: "%.1f", load.totalSeconds)) s in all — " + tables.joined(separator: ", ")
                    + ", counters \(String(format: "%.1f", load.recountSeconds)) s.")
        }
        for (key, value) in facts { out.append("- \(key): \(value)") }
        out.append("")
        out.append("| Measure | Conns | Requests | Rate | p50 | p99 | Target | Result |")
        out.append("|---|---:|---:|---:|---:|---:|---|---|")
        for row in rows {
            out.append(
                "| \(row.measure) | \(row.connections) | \(row.requests) | \(row.rate) | \(row.p50) | \(row.p99) | \(row.target) | \(row.result) |"
            )
        }
        if let load, let shape {
            let rows = load.tables.reduce(0) { $0 + $1.rows }
            let full = shape.users == 100_000 && shape.posts == 1_000_000
            out.append(
                "| Dataset load (\(grouped(rows)) rows) | — | — | \(grouped(Int(Double(rows) / max(load.totalSeconds, 1e-9)))) rows/s | — | — | "
                    + "< 2 min\(full ? "" : " (for 100k users / 1M posts)") | "
                    + String(format: "%.1f s ", load.totalSeconds) + (full ? verdict(load.totalSeconds < 120) : "") + " |")
        }
        if let memory = memoryAfterBench {
            let afterLoad = memoryAfterLoad.map { String(format: "; %.0f MiB after load", $0.rss) } ?? ""
            out.append(
                "| Process RSS (VmRSS) after the bench | — | — | — | — | — | report | "
                    + String(format: "%.0f MiB (peak VmHWM %.0f MiB", memory.rss, memory.peak) + afterLoad + ") |")
        }
        if !notes.isEmpty {
            out.append("")
            for note in notes { out.append("- \(note)") }
        }
        return out.joined(separator: "\n")
    }
}

func machine() -> String {
    var name = utsname()
    uname(&name)
    return withUnsafeBytes(of: &name.machine) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}
