import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import RoostCore
import RoostServer
import RoostStorage
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `roost bench realtime`: many WebSocket clients following authors who post at a steady rate.
///
/// This process loads the accounts, runs the real server (`buildApplication`, with its fan-out
/// workers and realtime service) on 127.0.0.1, and measures the server's memory. The clients and
/// the posting load run in a child process (`roost bench realtime clients`), so the memory the
/// server needs per connection is not mixed with the clients'; both share the machine's cores.
struct RealtimeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime",
        abstract: "Benchmark realtime delivery: WebSocket clients receiving the posts of the authors they follow.",
        discussion: """
            Each client follows --follows-per-client authors, assigned round-robin, so every author has \
            clients × follows-per-client / authors followers, all online: --followers-per-post sets that \
            number (and with it how many authors there are). Authors post over HTTP at --rate posts per \
            second (open loop) for --warmup seconds, then for --duration measured seconds (`roost bench`'s \
            --duration, --database and --data-dir apply). Delivery latency is measured per received post.created event from the \
            moment the author's POST /posts was answered (201), and from the moment it was sent. The \
            report (markdown) goes to stdout, progress to stderr. Raise the open-file limit for thousands \
            of clients (the bench raises its own soft limit to the hard limit).
            """,
        subcommands: [RealtimeBenchClients.self])

    @Option(help: "WebSocket clients (each one account).") var clients = 5_000
    @Option(name: .customLong("follows-per-client"), help: "Authors each client follows.") var followsPerClient = 5
    @Option(name: .customLong("followers-per-post"), help: "Online followers of each author (so of each post).")
    var followersPerPost = 50
    @Option(help: "Posts per second.") var rate = 200
    @Option(help: "Seconds of posting before measuring.") var warmup = 3
    @Option(name: .customLong("connect-concurrency"), help: "WebSocket handshakes in flight at once.") var connectConcurrency = 200
    /// `--duration` (seconds of measured posting), `--database` and `--data-dir` are `roost bench`'s.
    @ParentCommand var bench: Bench

    var duration: Int { bench.duration }
    var database: String? { bench.database }
    var dataDir: String? { bench.dataDir }

    var authors: Int { max(1, clients * followsPerClient / max(1, followersPerPost)) }

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard followsPerClient >= 1, followersPerPost >= 1 else { throw ValidationError("follows and followers must be at least 1") }
        guard followsPerClient <= authors else { throw ValidationError("--follows-per-client exceeds the number of authors") }
        guard (1...10_000).contains(rate) else { throw ValidationError("--rate must be 1-10000") }
        guard (0...60).contains(warmup) else { throw ValidationError("--warmup must be 0-60 seconds") }
    }

    func run() async throws {
        _ = RoostMetrics.registry
        let fileLimit = RealtimeBenchSupport.raiseFileLimit()
        var logger = Logger(label: "roost.bench.realtime")
        logger.logLevel = .warning
        var configuration = RoostConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.bcryptCost = 4
        configuration.logLevel = .warning
        configuration.jwtSecret = RealtimeBenchSupport.randomHex(16)
        configuration.rateLimits.enabled = false
        configuration.fanOut.celebrityThreshold = max(configuration.fanOut.celebrityThreshold, followersPerPost + 1)

        let suffix = RealtimeBenchSupport.randomHex(4)
        var directory: String?
        var schema: String?
        if let database {
            schema = "bench_rt_\(suffix)"
            configuration.databaseURL = database
            configuration.dataDirectory = FileManager.default.temporaryDirectory.path
        } else {
            let path = ((dataDir ?? FileManager.default.temporaryDirectory.path) as NSString).appendingPathComponent("roost-bench-rt-\(suffix)")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            directory = path
            configuration.dataDirectory = path
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        let backend = database == nil ? "SQLite" : "PostgreSQL"
        RealtimeBenchSupport.progress("roost bench realtime: \(backend), \(clients) clients, \(authors) authors, \(rate) posts/s\n")

        let store = try await StoreFactory.open(
            databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, postgresSchema: schema, logger: logger)
        do {
            try await store.migrate()
            let report = try await measure(store: store, configuration: configuration, logger: logger)
            try await store.shutdown()
            var out = report
            out.command = (["roost"] + CommandLine.arguments.dropFirst()).map(RealtimeBenchSupport.shellQuoted).joined(separator: " ")
            out.backend = backend
            out.fileLimit = fileLimit
            if let schema { out.notes.append("PostgreSQL data left in schema `\(schema)`: `DROP SCHEMA \(schema) CASCADE` to remove it.") }
            print(out.markdown())
        } catch {
            try? await store.shutdown()
            throw error
        }
    }

    // MARK: Phases

    private func measure(store: any RoostStore, configuration: RoostConfiguration, logger: Logger) async throws -> RealtimeBenchReport {
        var report = RealtimeBenchReport(
            clients: clients, authors: authors, followsPerClient: followsPerClient, followersPerPost: followersPerPost, rate: rate,
            duration: duration, warmup: warmup)
        report.loadAverageStart = RealtimeBenchSupport.loadAverage()
        // Accounts and follows, straight into the store.
        let ids = IDGenerator()
        let now = Date()
        let authorUsers = (0..<authors).map { index in
            NewUser(id: ids.next(), username: "rt_author_\(index)", email: "rt_author_\(index)@bench.invalid", displayName: "Author \(index)",
                passwordHash: nil, createdAt: now)
        }
        let clientUsers = (0..<clients).map { index in
            NewUser(id: ids.next(), username: "rt_client_\(index)", email: "rt_client_\(index)@bench.invalid", displayName: "Client \(index)",
                passwordHash: nil, createdAt: now)
        }
        _ = try await store.importUsers(authorUsers + clientUsers)
        var follows: [(follower: ID, followee: ID, id: ID, createdAt: Date)] = []
        for (index, client) in clientUsers.enumerated() {
            for step in 0..<followsPerClient {
                follows.append((client.id, authorUsers[(index * followsPerClient + step) % authors].id, ids.next(), now))
            }
        }
        for start in stride(from: 0, to: follows.count, by: 10_000) {
            _ = try await store.importFollows(Array(follows[start..<min(start + 10_000, follows.count)]))
        }
        try await store.recountCounters(policy: FanOutPolicy())
        RealtimeBenchSupport.progress("loaded \(authors + clients) accounts and \(follows.count) follows\n")

        let services = await AppServices(configuration: configuration, store: store)
        var clientTokens: [String] = []
        var authorTokens: [String] = []
        for user in clientUsers { clientTokens.append(try await services.operatorToken(username: user.username)) }
        for user in authorUsers { authorTokens.append(try await services.operatorToken(username: user.username)) }

        let server = try await RealtimeBenchServer.start(services: services, logger: logger)
        defer { Task { await server.stop() } }
        let plan = RealtimeBenchPlan(
            port: server.port, clientTokens: clientTokens, authorTokens: authorTokens, rate: rate, duration: duration, warmup: warmup,
            followersPerPost: followersPerPost, connectConcurrency: connectConcurrency)
        let planPath = FileManager.default.temporaryDirectory.appendingPathComponent("roost-bench-rt-plan-\(RealtimeBenchSupport.randomHex(4)).json").path
        try JSONEncoder().encode(plan).write(to: URL(fileURLWithPath: planPath))
        defer { try? FileManager.default.removeItem(atPath: planPath) }

        try await Task.sleep(for: .seconds(1))
        let idleBefore = RealtimeBenchSupport.residentMiB()
        let child = try RealtimeBenchChild(arguments: ["bench", "realtime", "clients", "--plan", planPath])
        defer { child.terminate() }

        // Idle connections: the server's memory per connection.
        guard let connectedLine = await child.nextLine(prefix: "CONNECTED ") else { throw RealtimeBenchError("the clients did not connect") }
        let connected = Int(connectedLine.split(separator: " ")[1]) ?? 0
        report.connected = connected
        report.connectFailures = Int(connectedLine.split(separator: " ").dropFirst(2).first ?? "") ?? 0
        report.connectSeconds = Double(connectedLine.split(separator: " ").dropFirst(3).first ?? "") ?? 0
        try await Task.sleep(for: .seconds(3))
        let idleAfter = RealtimeBenchSupport.residentMiB()
        report.serverRSSBefore = idleBefore
        report.serverRSSIdle = idleAfter
        report.openStreams = await RealtimeBenchSupport.metric(port: server.port, #"roost_stream_connections{transport="websocket"}"#)
        RealtimeBenchSupport.progress("\(connected) clients connected; server RSS \(Int(idleBefore)) → \(Int(idleAfter)) MiB\n")

        // The posting load.
        let cpuBefore = RealtimeBenchSupport.cpuSeconds()
        let wallBefore = ContinuousClock.now
        child.send("GO")
        guard let resultLine = await child.nextLine(prefix: "RESULT ") else { throw RealtimeBenchError("the clients reported no result") }
        let wall = (ContinuousClock.now - wallBefore).benchSeconds
        report.serverCores = (RealtimeBenchSupport.cpuSeconds() - cpuBefore) / max(wall, 1e-9)
        report.serverRSSPeak = RealtimeBenchSupport.peakMiB()
        report.result = try JSONDecoder().decode(RealtimeBenchResult.self, from: Data(resultLine.dropFirst("RESULT ".count).utf8))
        report.loadAverageEnd = RealtimeBenchSupport.loadAverage()
        report.droppedClients = await RealtimeBenchSupport.metric(port: server.port, #"roost_stream_dropped_clients_total{transport="websocket"}"#)
        report.eventsDropped = await RealtimeBenchSupport.metric(port: server.port, #"roost_events_dropped_total{queue="dispatch"}"#)
        child.send("STOP")
        await child.waitForExit()
        await server.stop()
        return report
    }
}

/// The real application on 127.0.0.1 and a free port, with every background service.
enum RealtimeBenchServer {
    static func start(services: AppServices, logger: Logger) async throws -> InProcessServer {
        try await InProcessServer.start(logger: logger) { onServerRunning in
            buildApplication(services: services, logger: logger, onServerRunning: onServerRunning)
        }
    }
}

/// What the parent hands the client process (a JSON file).
struct RealtimeBenchPlan: Codable, Sendable {
    var port: Int
    var clientTokens: [String]
    var authorTokens: [String]
    var rate: Int
    var duration: Int
    var warmup: Int
    var followersPerPost: Int
    var connectConcurrency: Int
}

/// What the client process measured.
struct RealtimeBenchResult: Codable, Sendable {
    var postsSent = 0
    var postsAccepted = 0
    var postErrors = 0
    var postsMeasured = 0
    var deliveriesExpected = 0
    var deliveriesReceived = 0
    /// Milliseconds from the 201 of POST /posts to the event at a client (negative: the event came first).
    var ackToEventP50 = 0.0
    var ackToEventP99 = 0.0
    var ackToEventMax = 0.0
    /// Milliseconds from sending POST /posts to the event at a client.
    var sendToEventP50 = 0.0
    var sendToEventP99 = 0.0
    var sendToEventMax = 0.0
    var postLatencyP50 = 0.0
    var postLatencyP99 = 0.0
    var postsPerSecond = 0.0
    var eventsPerSecond = 0.0
    var clientsClosed = 0
}

struct RealtimeBenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Report

struct RealtimeBenchReport {
    var command = ""
    var backend = ""
    var fileLimit = 0
    var clients: Int
    var authors: Int
    var followsPerClient: Int
    var followersPerPost: Int
    var rate: Int
    var duration: Int
    var warmup: Int
    var loadAverageStart = ""
    var loadAverageEnd = ""
    var connected = 0
    var connectFailures = 0
    var connectSeconds = 0.0
    var openStreams = 0.0
    var serverRSSBefore = 0.0
    var serverRSSIdle = 0.0
    var serverRSSPeak = 0.0
    var serverCores = 0.0
    var droppedClients = 0.0
    var eventsDropped = 0.0
    var result = RealtimeBenchResult()
    var notes: [String] = []

    var perConnectionKiB: Double { connected > 0 ? (serverRSSIdle - serverRSSBefore) * 1024 / Double(connected) : 0 }

    func markdown() -> String {
        #if DEBUG
        let build = "debug build (not representative; use `swift build -c release`)"
        #else
        let build = "release build"
        #endif
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let memory = Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824
        let r = result
        func ms(_ value: Double) -> String { String(format: value.magnitude >= 100 ? "%.0f ms" : "%.1f ms", value) }
        func pass(_ ok: Bool) -> String { ok ? "pass" : "**miss**" }
        let p99Target = r.ackToEventP99 < 50
        let memoryTarget = perConnectionKiB < 20
        let complete = r.deliveriesExpected > 0 ? Double(r.deliveriesReceived) / Double(r.deliveriesExpected) * 100 : 0
        var out: [String] = []
        out.append("### roost bench realtime — \(backend), \(ISO8601DateFormatter().string(from: Date()))")
        out.append("")
        out.append("```sh")
        out.append(command)
        out.append("```")
        out.append("")
        out.append(
            "- Machine: \(cores) cores, \(String(format: "%.1f", memory)) GiB RAM, \(build); the server (this process) and the clients "
                + "(a child process) share the cores; open-file limit \(fileLimit); load average \(loadAverageStart) at start, "
                + "\(loadAverageEnd) at end.")
        out.append(
            "- Load: \(clients) WebSocket clients, each following \(followsPerClient) "
                + "of \(authors) authors (\(followersPerPost) online followers per author); authors post \(rate)/s over HTTP for "
                + "\(duration) s after a \(warmup) s warm-up; \(r.postsMeasured) measured posts.")
        out.append(
            "- Connected \(connected) clients in \(String(format: "%.1f", connectSeconds)) s (\(connectFailures) failed); "
                + "the server counted \(Int(openStreams)) open WebSocket streams.")
        out.append("")
        out.append("| Measure | Value | Target | Result |")
        out.append("|---|---:|---|---|")
        out.append("| Delivery latency p50, POST answered → event received | \(ms(r.ackToEventP50)) | — | — |")
        out.append("| Delivery latency p99, POST answered → event received | \(ms(r.ackToEventP99)) | < 50 ms | \(pass(p99Target)) |")
        out.append("| Delivery latency max | \(ms(r.ackToEventMax)) | — | — |")
        out.append("| Delivery latency p50 / p99, POST sent → event received | \(ms(r.sendToEventP50)) / \(ms(r.sendToEventP99)) | — | — |")
        out.append("| POST /posts latency p50 / p99 | \(ms(r.postLatencyP50)) / \(ms(r.postLatencyP99)) | — | — |")
        out.append("| Posts accepted | \(r.postsAccepted) (\(String(format: "%.1f", r.postsPerSecond))/s, \(r.postErrors) errors) | \(rate)/s | — |")
        out.append(
            "| Events delivered (measured posts) | \(r.deliveriesReceived) of \(r.deliveriesExpected) (\(String(format: "%.2f", complete)) %), "
                + "\(String(format: "%.0f", r.eventsPerSecond))/s | all | \(pass(r.deliveriesReceived == r.deliveriesExpected)) |")
        out.append("| Clients dropped as too slow / closed | \(Int(droppedClients)) / \(r.clientsClosed) | 0 | \(pass(droppedClients == 0)) |")
        out.append(
            "| Server memory per idle connection (RSS \(String(format: "%.0f", serverRSSBefore)) → \(String(format: "%.0f", serverRSSIdle)) MiB) "
                + "| \(String(format: "%.1f", perConnectionKiB)) KiB | < 20 KiB | \(pass(memoryTarget)) |")
        out.append("| Server CPU during the load | \(String(format: "%.2f", serverCores)) cores | — | — |")
        out.append("| Server peak RSS (VmHWM) | \(String(format: "%.0f", serverRSSPeak)) MiB | — | — |")
        if eventsDropped > 0 { out.append("| Events dropped by a full dispatch queue | \(Int(eventsDropped)) | 0 | **miss** |") }
        out.append("")
        out.append(
            "- Latency is measured in the client process on one monotonic clock: from the moment the author's `POST /posts` "
                + "returned 201 (or was sent) to the moment a follower's client parsed the `post.created` event. The server "
                + "publishes after the commit and before it writes the response, so an event can beat the 201 (negative values).")
        out.append(
            "- Memory per connection is the server process's resident memory (VmRSS) with all clients connected and idle, minus "
                + "the same before the first connection, divided by the connections: it includes NIO channel and WebSocket state, "
                + "the stream registry and the kernel-independent buffers, and malloc's overhead.")
        for note in notes { out.append("- \(note)") }
        return out.joined(separator: "\n")
    }
}

// MARK: - Support

enum RealtimeBenchSupport {
    static func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func randomHex(_ bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@,+%".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Raises the soft open-file limit to the hard one; returns the new soft limit.
    @discardableResult
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }

    private static func status(_ field: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
        else { return 0 }
        return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
    }

    /// The one-minute load average.
    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
    }

    /// Resident memory of this process in MiB.
    static func residentMiB() -> Double { status("VmRSS") }
    static func peakMiB() -> Double { status("VmHWM") }

    /// User plus system CPU time of this process, in seconds.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// One line of the server's `/metrics` (0 when absent).
    static func metric(port: Int, _ name: String) async -> Double {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)),
            let body = try? await response.body.collect(upTo: 16 << 20)
        else { return 0 }
        for line in String(buffer: body).split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1)) ?? 0
        }
        return 0
    }
}

extension Duration {
    var benchSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// The client process, spoken to by lines on stdin and stdout.
final class RealtimeBenchChild: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let lines: AsyncStream<String>

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        let (stream, continuation) = AsyncStream<String>.makeStream()
        lines = stream
        let handle = output.fileHandleForReading
        // A plain thread: reading a pipe blocks.
        let reader = Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            continuation.finish()
        }
        reader.start()
        try process.run()
    }

    /// The next line starting with `prefix` (other lines are passed on to stderr); nil at the end.
    func nextLine(prefix: String) async -> String? {
        for await line in lines {
            if line.hasPrefix(prefix) { return line }
            RealtimeBenchSupport.progress("clients: \(line)\n")
        }
        return nil
    }

    func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    func waitForExit() async {
        for _ in 0..<300 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(100))
        }
        terminate()
    }

    func terminate() {
        if process.isRunning { process.terminate() }
    }
}

