import Foundation
import Logging
import RoostCore

/// Everything a Roost node can be told, filled from flags and environment by the `roost` command
/// and built directly by tests.
public struct RoostConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Holds the SQLite file and the generated JWT secret.
    public var dataDirectory: String = "./roost-data"
    /// `postgres://…` for PostgreSQL; nil for embedded SQLite in `dataDirectory`.
    public var databaseURL: String?
    /// Signs access tokens and cursors. Generated and kept in the data directory when not given.
    public var jwtSecret: String = ""
    public var logLevel: Logger.Level = .info
    /// Access tokens live at most 15 minutes (the contract).
    public var accessTokenLifetime: TimeInterval = 15 * 60
    public var refreshTokenLifetime: TimeInterval = 30 * 24 * 3600
    /// bcrypt cost; tests lower it to keep registration fast.
    public var bcryptCost: UInt8 = 11
    /// Largest accepted request body.
    public var maxBodyBytes: Int = 256 * 1024
    /// A repeated view by the same viewer within this window is not counted again.
    public var viewWindow: TimeInterval = 30 * 60
    /// Hybrid fan-out: celebrity threshold, timeline cap, inactivity, backfill, batch size, retention.
    public var fanOut = FanOutPolicy()
    /// Weights of the ranking formulas.
    public var ranking = RankingWeights()
    /// How stale cached posts and authors may be (counts on other nodes lag at most this much).
    public var cacheTTL: Duration = .seconds(2)
    /// How long a first home page is served from memory (see `HomePageCache`); 0 turns it off.
    public var homePageTTL: Duration = .seconds(1)
    /// Memory for cached first home pages.
    public var homePageBytes = 64 << 20
    /// Concurrent fan-out workers on this node.
    public var fanOutWorkers = 2
    /// How often maintenance runs (score snapshots, trimming, retention, queue metrics).
    public var maintenanceInterval: Duration = .seconds(30)
    /// Candidates ranked for the first page of a ranked home feed.
    public var rankedCandidates = 300
    /// Streams and notifications: buffers, limits, heartbeats, replay.
    public var realtime = RealtimeConfiguration()
    /// Rate limits per user and per client address; `enabled = false` (`--rate-limits off`) for
    /// benchmarks and load tests.
    public var rateLimits = RateLimitPolicy()
    /// Thresholds of the automatic moderation of new posts (banned terms, links, shouting, …).
    public var moderation = ModerationPolicy()
    /// Matches a search ranks and pages through (the best ones the viewer may see).
    public var searchCandidates = 500

    public init() {}

    /// Reads the JWT secret from `<dataDirectory>/jwt-secret`, creating it with 256 random bits
    /// the first time, so the embedded default needs no set-up and keeps tokens valid across restarts.
    public static func loadOrCreateSecret(dataDirectory: String) throws -> String {
        let path = (dataDirectory as NSString).appendingPathComponent("jwt-secret")
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing.count >= 32 {
            return existing.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        _ = FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600])
        return secret
    }
}
