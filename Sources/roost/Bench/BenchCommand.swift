import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import RoostCore
import RoostServer
import RoostStorage

/// `roost bench`: loads a deterministic synthetic social graph, starts the server in this process
/// on 127.0.0.1 and measures it over real HTTP, then prints a markdown report for BENCHMARKS.md.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a synthetic social graph and benchmark the feed engine over HTTP.",
        discussion: """
            Everything runs in this process and talks only to 127.0.0.1. Without --database the data \
            set goes into a fresh SQLite file in a fresh temporary directory, deleted afterwards \
            unless --keep. With --database postgres://… it goes into a fresh schema bench_<hex>, \
            which is never dropped (drop it yourself). The report (markdown) goes to stdout; \
            progress to stderr.
            """,
        subcommands: [RealtimeBench.self])

    @Option(help: "Accounts in the data set.") var users = 100_000
    @Option(name: .customLong("avg-follows"), help: "Mean accounts each user follows.") var avgFollows = 100
    @Option(help: "Posts in the data set.") var posts = 1_000_000
    @Option(help: "Days the posts are spread over (ending now).") var days = 30
    @Option(help: "Accounts with far more followers than anyone else (the first users).") var celebrities = 5
    @Option(help: "Concurrent HTTP connections of the load phases.") var connections = 64
    @Option(help: "Seconds each measured phase runs.") var duration = 10
    @Option(help: "Seed of the data set.") var seed: UInt64 = 42
    @Option(help: "Distinct readers of the home-feed phases, each warmed once (default 1000, at most a quarter of the users).")
    var readers: Int?
    @Option(help: "postgres://user:pass@host:port/db to benchmark PostgreSQL; default a fresh SQLite file.")
    var database: String?
    @Option(name: .customLong("data-dir"), help: "Where the fresh SQLite directory is made (default: the temporary directory).")
    var dataDir: String?
    @Option(
        name: .customLong("home-page-ttl"),
        help: "Milliseconds first home pages are served from memory (the server's default 1000); 0 measures every read uncached.")
    var homePageTTL: Int?
    @Option(
        help: """
            Comma-separated phases to measure, of \(BenchSession.Phase.allCases.map(\.rawValue).joined(separator: ",")) \
            (default all; to repeat one measurement without the others).
            """)
    var phases: String?
    @Flag(help: "Keep the SQLite directory afterwards.") var keep = false
    @Flag(name: .customLong("load-only"), help: "Stop after loading the data set (measures the load alone).") var loadOnly = false

    func selectedPhases() throws -> Set<BenchSession.Phase> {
        guard let phases else { return Set(BenchSession.Phase.allCases) }
        return Set(
            try phases.split(separator: ",").map { name in
                guard let phase = BenchSession.Phase(rawValue: String(name)) else { throw ValidationError("unknown phase \(name)") }
                return phase
            })
    }

    func validate() throws {
        _ = try selectedPhases()
        guard users >= 100 else { throw ValidationError("--users must be at least 100") }
        guard avgFollows >= 1 else { throw ValidationError("--avg-follows must be at least 1") }
        guard posts >= 1 else { throw ValidationError("--posts must be at least 1") }
        guard (1...3650).contains(days) else { throw ValidationError("--days must be 1-3650") }
        guard (0...users / 10).contains(celebrities) else { throw ValidationError("--celebrities must be 0-\(users / 10)") }
        guard (1...1024).contains(connections) else { throw ValidationError("--connections must be 1-1024") }
        guard (1...600).contains(duration) else { throw ValidationError("--duration must be 1-600 seconds") }
        if let readers { guard readers >= 1 else { throw ValidationError("--readers must be at least 1") } }
        if let database, !(database.hasPrefix("postgres://") || database.hasPrefix("postgresql://")) {
            throw ValidationError("--database must be a postgres:// URL (SQLite is the default)")
        }
    }

    func run() async throws {
        // Bootstrap the metrics system before any server object creates a counter.
        _ = RoostMetrics.registry
        var logger = Logger(label: "roost.bench")
        logger.logLevel = .warning

        let shape = BenchShape(
            users: users, avgFollows: avgFollows, posts: posts, days: days, celebrities: celebrities, seed: seed)
        var configuration = RoostConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.bcryptCost = 4
        configuration.logLevel = .warning
        configuration.jwtSecret = randomHex(bytes: 32)
        configuration.fanOut.celebrityThreshold = shape.celebrityThreshold
        configuration.rateLimits.enabled = false  // a load test: many requests per user from one address
        if let homePageTTL { configuration.homePageTTL = .milliseconds(max(0, homePageTTL)) }

        // A fresh database: a new SQLite directory, or a new PostgreSQL schema.
        let suffix = randomHex(bytes: 4)
        var directory: String?
        var schema: String?
        if let database {
            schema = "bench_\(suffix)"
            configuration.databaseURL = database
            configuration.dataDirectory = FileManager.default.temporaryDirectory.path
        } else {
            let parent = dataDir ?? FileManager.default.temporaryDirectory.path
            let path = (parent as NSString).appendingPathComponent("roost-bench-\(suffix)")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            directory = path
            configuration.dataDirectory = path
        }
        let backend = database == nil ? "SQLite" : "PostgreSQL"
        writeStderr("roost bench: \(backend) \(schema.map { "schema \($0)" } ?? "in \(directory ?? "")")\n")

        let loadAtStart = loadAverage()
        let store = try await StoreFactory.open(
            databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, postgresSchema: schema, logger: logger)
        var results = BenchResults()
        do {
            try await store.migrate()
            let graph = SyntheticGraph(shape: shape)
            writeStderr(
                "generating \(grouped(users)) users, ~\(grouped(users * avgFollows)) follows, \(grouped(posts)) posts (seed \(seed))\n")
            let load = try await BenchLoader(graph: graph, store: store, policy: configuration.fanOut).load()
            results.load = load
            results.memoryAfterLoad = processMemory()
            if loadOnly {
                try await store.shutdown()
                cleanUp(directory)
                results.command = commandLine()
                results.backend = backend
                results.shape = shape
                results.memoryAfterBench = results.memoryAfterLoad
                print(results.markdown())
                return
            }

            let services = await AppServices(configuration: configuration, store: store)
            try await services.leaseNodeNumber()
            let server = try await BenchServer.start(services: services, logger: logger)
            let client = HTTPDriver.makeClient(connections: connections)
            // On PostgreSQL, a second node on the same schema for the cross-node row.
            var secondNode: BenchSession.NodeFactory?
            if database != nil {
                secondNode = { @Sendable [configuration, schema, logger] in
                    let store = try await StoreFactory.open(
                        databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, postgresSchema: schema,
                        logger: logger)
                    let services = await AppServices(configuration: configuration, store: store)
                    try await services.leaseNodeNumber()
                    return (try await BenchServer.start(services: services, logger: logger, feedWorkers: false), store)
                }
            }
            let session = BenchSession(
                graph: graph, load: load, services: services, server: server,
                http: HTTPDriver(client: client, baseURL: server.baseURL),
                connections: connections, duration: .seconds(duration), readerCount: readers ?? min(1_000, max(10, users / 4)),
                phases: try selectedPhases(), secondNode: secondNode)
            do {
                try await session.runAll()
            } catch {
                session.notes.append("the run stopped early: \(error)")
                writeStderr("bench failed: \(error)\n")
            }
            results.rows = session.rows
            results.notes = session.notes + session.errorNotes()
            results.facts = session.facts
            results.memoryAfterBench = processMemory()
            try? await client.shutdown()
            await server.stop()
            try await store.shutdown()
        } catch {
            try? await store.shutdown()
            cleanUp(directory)
            throw error
        }
        cleanUp(directory)

        results.loadAverage = (loadAtStart, loadAverage())
        results.command = commandLine()
        results.backend = backend
        results.shape = shape
        if let schema {
            results.notes.append(
                "PostgreSQL data left in schema `\(schema)` (the bench drops nothing): `DROP SCHEMA \(schema) CASCADE` to remove it.")
        } else if keep, let directory {
            results.notes.append("SQLite data kept in `\(directory)`.")
        }
        print(results.markdown())
    }

    private func cleanUp(_ directory: String?) {
        guard let directory, !keep else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The 1-minute load average of the machine (/proc/loadavg), if readable.
func loadAverage() -> Double? {
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.flatMap { Double($0) }
}

func randomHex(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}

/// The command as run, for the report, with any password in a database URL masked.
func commandLine() -> String {
    (["roost"] + CommandLine.arguments.dropFirst()).map { redactingPassword(in: $0) }.map(shellQuoted).joined(separator: " ")
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`; other text unchanged.
func redactingPassword(in word: String) -> String {
    guard let scheme = word.range(of: "://"), let at = word[scheme.upperBound...].firstIndex(of: "@"),
        let colon = word[scheme.upperBound..<at].firstIndex(of: ":")
    else { return word }
    return String(word[..<word.index(after: colon)]) + "***" + String(word[at...])
}

func shellQuoted(_ word: String) -> String {
    let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=@,+%".contains($0) }
    return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
