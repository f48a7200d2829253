import Foundation
import Logging

/// Opens the store a database URL names: `postgres://…` for PostgreSQL, anything else (or nothing)
/// for the embedded SQLite file in the data directory.
public enum StoreFactory {
    /// - Parameters:
    ///   - databaseURL: `postgres://user:pass@host:port/db`, `sqlite:///path/file.sqlite`, or nil for
    ///     `<dataDirectory>/roost.sqlite`.
    ///   - dataDirectory: created if missing.
    ///   - postgresSchema: a schema to use instead of `public` (tests run each case in its own).
    public static func open(
        databaseURL: String?, dataDirectory: String, postgresSchema: String? = nil, logger: Logger = Logger(label: "roost.storage")
    ) async throws -> any RoostStore {
        if let databaseURL, databaseURL.hasPrefix("postgres://") || databaseURL.hasPrefix("postgresql://") {
            return try await PostgresStore(url: databaseURL, schema: postgresSchema, logger: logger)
        }
        var path = (dataDirectory as NSString).appendingPathComponent("roost.sqlite")
        if let databaseURL, databaseURL.hasPrefix("sqlite://") {
            path = String(databaseURL.dropFirst("sqlite://".count))
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return try SQLiteStore(path: path)
    }
}
