import ArgumentParser
import Foundation
import Logging
import RoostCore
import RoostServer
import RoostStorage

@main
struct Roost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roost",
        abstract: "A social news-feed server.",
        subcommands: [Serve.self, Migrate.self, Import.self, UserCommand.self, Bench.self])
}

/// Flags shared by every command that opens the database. Each has an environment equivalent;
/// a flag wins over the environment.
struct ServerOptions: ParsableArguments {
    @Option(help: "Address to listen on (ROOST_HOST).") var host: String?
    @Option(help: "Port to listen on (ROOST_PORT).") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Directory for the SQLite file and generated secrets (ROOST_DATA_DIR).")
    var dataDir: String?
    @Option(help: "postgres://user:pass@host:port/db to run on PostgreSQL; default embedded SQLite (ROOST_DATABASE_URL).")
    var database: String?
    @Option(name: .customLong("jwt-secret"), help: "Secret for tokens and cursors; generated into the data dir if unset (ROOST_JWT_SECRET).")
    var jwtSecret: String?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical (ROOST_LOG_LEVEL).")
    var logLevel: String?
    @Option(name: .customLong("bcrypt-cost"), help: "bcrypt cost factor, 4-31 (ROOST_BCRYPT_COST).")
    var bcryptCost: UInt8?
    @Option(name: .customLong("rate-limits"), help: "on (default) or off: off disables every rate limit, for benchmarks and load tests (ROOST_RATE_LIMITS).")
    var rateLimits: String?
    @Option(
        name: .customLong("rate-limit"),
        help: "Override one limit, NAME=COUNT/SECONDS, e.g. posts=20/3600; repeatable (ROOST_RATE_LIMIT, comma-separated).")
    var rateLimitOverrides: [String] = []
    @Option(name: .customLong("banned-terms"), help: "File of banned words or phrases, one per line, # comments (ROOST_BANNED_TERMS).")
    var bannedTerms: String?
    @Option(
        name: .customLong("home-page-ttl"),
        help: "Milliseconds a first home page is served from memory; bounds how late another node's changes show; 0 disables (ROOST_HOME_PAGE_TTL, default 1000).")
    var homePageTTL: Int?
    @Flag(
        name: .customLong("trust-forwarded-for"),
        help: "Behind a proxy: take the client address from the last X-Forwarded-For entry (ROOST_TRUST_FORWARDED_FOR=1).")
    var trustForwardedFor = false

    func configuration() throws -> RoostConfiguration {
        let env = ProcessInfo.processInfo.environment
        var configuration = RoostConfiguration()
        configuration.host = host ?? env["ROOST_HOST"] ?? configuration.host
        if let port = port ?? env["ROOST_PORT"].flatMap({ Int($0) }) { configuration.port = port }
        configuration.dataDirectory = dataDir ?? env["ROOST_DATA_DIR"] ?? configuration.dataDirectory
        configuration.databaseURL = database ?? env["ROOST_DATABASE_URL"]
        if let level = (logLevel ?? env["ROOST_LOG_LEVEL"]) {
            guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level \(level)") }
            configuration.logLevel = parsed
        }
        if let cost = bcryptCost ?? env["ROOST_BCRYPT_COST"].flatMap({ UInt8($0) }) {
            guard (4...31).contains(cost) else { throw ValidationError("bcrypt cost must be 4-31") }
            configuration.bcryptCost = cost
        }
        if let ttl = homePageTTL ?? env["ROOST_HOME_PAGE_TTL"].flatMap({ Int($0) }) {
            guard (0...60_000).contains(ttl) else { throw ValidationError("--home-page-ttl must be 0-60000 milliseconds") }
            configuration.homePageTTL = .milliseconds(ttl)
        }
        try applySafety(to: &configuration, env: env)
        configuration.jwtSecret =
            try jwtSecret ?? env["ROOST_JWT_SECRET"] ?? RoostConfiguration.loadOrCreateSecret(dataDirectory: configuration.dataDirectory)
        guard configuration.jwtSecret.utf8.count >= 16 else { throw ValidationError("the JWT secret must be at least 16 bytes") }
        return configuration
    }

    /// Rate limits and moderation settings.
    private func applySafety(to configuration: inout RoostConfiguration, env: [String: String]) throws {
        if let switch_ = (rateLimits ?? env["ROOST_RATE_LIMITS"])?.lowercased() {
            guard ["on", "off"].contains(switch_) else { throw ValidationError("--rate-limits must be on or off") }
            configuration.rateLimits.enabled = switch_ == "on"
        }
        let overrides =
            rateLimitOverrides.isEmpty
            ? (env["ROOST_RATE_LIMIT"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } : rateLimitOverrides
        for override in overrides where !override.isEmpty {
            do {
                try configuration.rateLimits.apply(override: override)
            } catch {
                throw ValidationError("--rate-limit \(override): \(error.message)")
            }
        }
        if trustForwardedFor || ["1", "true", "on"].contains(env["ROOST_TRUST_FORWARDED_FOR"]?.lowercased() ?? "") {
            configuration.rateLimits.trustForwardedFor = true
        }
        if let path = bannedTerms ?? env["ROOST_BANNED_TERMS"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the banned-terms file \(path)")
            }
            configuration.moderation.bannedTerms = ModerationPolicy.parseBannedTerms(text)
        }
    }

    func logger(_ configuration: RoostConfiguration) -> Logger {
        var logger = Logger(label: "roost")
        logger.logLevel = configuration.logLevel
        return logger
    }

    func openStore(_ configuration: RoostConfiguration) async throws -> any RoostStore {
        let store = try await StoreFactory.open(
            databaseURL: configuration.databaseURL, dataDirectory: configuration.dataDirectory, logger: logger(configuration))
        try await store.migrate()
        return store
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the HTTP server.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.configuration()
        try await runServer(configuration: configuration, logger: options.logger(configuration))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema, then exit.")
    @OptionGroup var options: ServerOptions

    func run() async throws {
        let configuration = try options.configuration()
        let store = try await options.openStore(configuration)
        try await store.shutdown()
        print("database is up to date")
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Operator actions on accounts.",
        subcommands: [Token.self, GrantModerator.self, RevokeModerator.self])

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print an access token for USERNAME (operators, load tests).")
        @OptionGroup var options: ServerOptions
        @Argument var username: String

        func run() async throws {
            let configuration = try options.configuration()
            let store = try await options.openStore(configuration)
            let services = await AppServices(configuration: configuration, store: store)
            let token = try? await services.operatorToken(username: username)
            try await store.shutdown()
            guard let token else { throw ValidationError("no user named \(username)") }
            print(token)
        }
    }

    struct GrantModerator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "grant-moderator", abstract: "Make USERNAME a moderator.")
        @OptionGroup var options: ServerOptions
        @Argument var username: String

        func run() async throws {
            try await setModerator(options: options, username: username, true)
        }
    }

    struct RevokeModerator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke-moderator", abstract: "Take the moderator role from USERNAME.")
        @OptionGroup var options: ServerOptions
        @Argument var username: String

        func run() async throws {
            try await setModerator(options: options, username: username, false)
        }
    }
}

private func setModerator(options: ServerOptions, username: String, _ value: Bool) async throws {
    let configuration = try options.configuration()
    let store = try await options.openStore(configuration)
    guard let user = try await store.user(username: username) else {
        try await store.shutdown()
        throw ValidationError("no user named \(username)")
    }
    try await store.setModerator(userID: user.id, value)
    try await store.shutdown()
    print(value ? "\(user.username) is now a moderator" : "\(user.username) is no longer a moderator")
}
