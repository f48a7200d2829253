import ArgumentParser
import CSV
import Foundation
import RoostCore
import RoostServer
import RoostStorage

/// `roost import`: bulk-loads an existing community from CSV (header row required).
///
/// users `id,username,created_at`; follows `follower_id,followee_id`; posts `id,author_id,created_at,text`.
/// Ids are kept; timestamps are RFC 3339; imported users have no password (they cannot log in until
/// an operator or a reset sets one) and get `<username>@imported.invalid` as a placeholder email.
/// Rows that exist already are skipped, so an interrupted import can simply be run again.
///
/// Timelines are not written here: imported accounts count as inactive readers, so each one's home
/// timeline is built by pull on its first read, exactly as fan-out treats a returning user.
struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bulk-import users, follows and posts from CSV files.")
    @OptionGroup var options: ServerOptions
    @Option(help: "users.csv: id,username,created_at") var users: String?
    @Option(help: "follows.csv: follower_id,followee_id") var follows: String?
    @Option(help: "posts.csv: id,author_id,created_at,text") var posts: String?
    @Option(name: .customLong("batch-size"), help: "Rows per transaction.") var batchSize = 20_000

    func run() async throws {
        let configuration = try options.configuration()
        let store = try await options.openStore(configuration)
        do {
            if let users { try await importUsers(users, into: store) }
            if let follows {
                try await bulkLoading(.follows, from: follows, bytesPerRow: Self.followBytesPerRow, into: store) {
                    try await importFollows(follows, into: store)
                }
            }
            if let posts {
                try await bulkLoading(.posts, from: posts, bytesPerRow: Self.postBytesPerRow, into: store) {
                    try await importPosts(posts, into: store, policy: configuration.fanOut)
                }
            }
            try await store.recountCounters(policy: configuration.fanOut)
            try await store.shutdown()
        } catch {
            try? await store.shutdown()
            throw error
        }
    }

    /// Typical CSV bytes per row (two 19-digit ids; ids, a timestamp and a short text), to guess
    /// a file's row count for `beginBulkLoad` without reading it twice.
    static let followBytesPerRow = 40
    static let postBytesPerRow = 120

    /// Runs `body` in bulk-load mode when the store finds it pays for a file this size, and always
    /// rebuilds what was deferred, also after a failure (a crash is repaired by the next `migrate()`).
    private func bulkLoading(
        _ table: BulkLoadTable, from path: String, bytesPerRow: Int, into store: any RoostStore, _ body: () async throws -> Void
    ) async throws {
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
        let bulk = try await store.beginBulkLoad(table, expectedRows: size / bytesPerRow)
        do {
            try await body()
        } catch {
            if bulk { try? await store.finishBulkLoad(table) }
            throw error
        }
        if bulk {
            FileHandle.standardError.write(Data("\(table.rawValue): building indexes…\n".utf8))
            try await store.finishBulkLoad(table)
        }
    }

    private func importUsers(_ path: String, into store: any RoostStore) async throws {
        var batch: [NewUser] = []
        try await forEachRow(path, columns: ["id", "username", "created_at"], label: "users") { row, line in
            guard let id = Validation.id(row[0]) else { throw ImportError.bad(path, line, "id") }
            let username = try Self.validated(path, line, "username") { try Validation.username(row[1]) }
            guard let created = Timestamp.parse(row[2]) else { throw ImportError.bad(path, line, "created_at") }
            batch.append(
                NewUser(
                    id: id, username: username, email: "\(username.lowercased())@imported.invalid", displayName: username,
                    passwordHash: nil, createdAt: created))
            if batch.count >= batchSize { _ = try await store.importUsers(batch); batch.removeAll(keepingCapacity: true) }
        }
        _ = try await store.importUsers(batch)
    }

    private func importFollows(_ path: String, into store: any RoostStore) async throws {
        var batch: [(follower: ID, followee: ID, id: ID, createdAt: Date)] = []
        let ids = IDGenerator()
        try await forEachRow(path, columns: ["follower_id", "followee_id"], label: "follows") { row, line in
            guard let follower = Validation.id(row[0]) else { throw ImportError.bad(path, line, "follower_id") }
            guard let followee = Validation.id(row[1]) else { throw ImportError.bad(path, line, "followee_id") }
            let now = Date()
            batch.append((follower, followee, ids.next(now: now), now))
            if batch.count >= batchSize { try await Self.write(&batch, to: store) }
        }
        try await Self.write(&batch, to: store)
    }

    /// Writes a batch of follows in primary-key order, which keeps the inserts into the follows
    /// B-tree local (appending, if the file is sorted by follower).
    private static func write(_ batch: inout [(follower: ID, followee: ID, id: ID, createdAt: Date)], to store: any RoostStore) async throws {
        batch.sort { ($0.follower, $0.followee) < ($1.follower, $1.followee) }
        _ = try await store.importFollows(batch)
        batch.removeAll(keepingCapacity: true)
    }

    private func importPosts(_ path: String, into store: any RoostStore, policy: FanOutPolicy) async throws {
        var batch: [Post] = []
        try await forEachRow(path, columns: ["id", "author_id", "created_at", "text"], label: "posts") { row, line in
            guard let id = Validation.id(row[0]) else { throw ImportError.bad(path, line, "id") }
            guard let author = Validation.id(row[1]) else { throw ImportError.bad(path, line, "author_id") }
            guard let created = Timestamp.parse(row[2]) else { throw ImportError.bad(path, line, "created_at") }
            let text = try Self.validated(path, line, "text") { try Validation.text(row[3], field: "text", range: Validation.textRange) }
            batch.append(Post(id: id, authorID: author, text: text, createdAt: created, updatedAt: created))
            if batch.count >= batchSize { _ = try await store.importPosts(batch, policy: policy); batch.removeAll(keepingCapacity: true) }
        }
        _ = try await store.importPosts(batch, policy: policy)
    }

    private static func validated<T>(_ path: String, _ line: Int, _ field: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw ImportError.bad(path, line, field) }
    }

    /// Streams a CSV file row by row (RFC 4180 quoting through CSV.swift), checking the header and
    /// drawing a progress bar from the bytes read.
    private func forEachRow(
        _ path: String, columns: [String], label: String, _ body: ([String], Int) async throws -> Void
    ) async throws {
        guard let stream = InputStream(fileAtPath: path) else { throw ImportError.unreadable(path) }
        let size = ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
        let reader = try CSVReader(stream: stream, hasHeaderRow: true)
        guard let header = reader.headerRow?.map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }),
            Array(header.prefix(columns.count)) == columns
        else { throw ImportError.header(path, columns) }
        let progress = CSVProgress(label: label, total: max(size, 1))
        var line = 1
        var approximateBytes = 0
        while let row = reader.next() {
            line += 1
            guard row.count >= columns.count else { throw ImportError.bad(path, line, "row") }
            approximateBytes += row.reduce(columns.count) { $0 + $1.utf8.count }
            try await body(row, line)
            if line % 10_000 == 0 { progress.update(approximateBytes, rows: line - 1) }
        }
        // On Linux, Foundation's file InputStream reports bytes available at end of file, so CSV.swift
        // ends every file with a `cannotReadFile` after the last row; only other errors are real.
        if let error = reader.error, (error as? CSVError).map({ if case .cannotReadFile = $0 { false } else { true } }) ?? true {
            throw ImportError.parse(path, "\(error)")
        }
        progress.finish(rows: line - 1)
    }
}

enum ImportError: Error, CustomStringConvertible {
    case unreadable(String)
    case header(String, [String])
    case bad(String, Int, String)
    case parse(String, String)

    var description: String {
        switch self {
        case .unreadable(let path): "cannot read \(path)"
        case .header(let path, let columns): "\(path): the header row must start with \(columns.joined(separator: ","))"
        case .bad(let path, let line, let field): "\(path):\(line): invalid \(field)"
        case .parse(let path, let message): "\(path): \(message)"
        }
    }
}

/// A one-line progress bar on standard error.
final class CSVProgress: @unchecked Sendable {
    private let label: String
    private let total: Int
    private let started = Date()

    init(label: String, total: Int) {
        self.label = label
        self.total = total
    }

    func update(_ done: Int, rows: Int) {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = Double(rows) / max(Date().timeIntervalSince(started), 0.001)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(fraction * 100))% \(rows) rows \(Int(rate)) rows/s".utf8))
    }

    func finish(rows: Int) {
        update(total, rows: rows)
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data("\n\(label): \(rows) rows in \(String(format: "%.1f", seconds)) s\n".utf8))
    }
}
