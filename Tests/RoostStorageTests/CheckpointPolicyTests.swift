import Foundation
import GRDB
import Testing
import Synchronization

@testable import RoostStorage

/// When SQLite's WAL is copied back: in a pause of the request writes, at the latest after `maxDeferral`.
struct CheckpointPolicyTests {
    @Test("a checkpoint waits for a quiet writer, never longer than maxDeferral, never sooner than interval")
    func waitsForQuietWriter() {
        let policy = CheckpointPolicy()
        #expect(!policy.isDue(sinceLast: .milliseconds(50), quiet: .seconds(1)))
        #expect(policy.isDue(sinceLast: .milliseconds(100), quiet: .milliseconds(20)))
        #expect(!policy.isDue(sinceLast: .milliseconds(400), quiet: .milliseconds(5)))
        #expect(policy.isDue(sinceLast: .milliseconds(500), quiet: .zero))
    }

    @Test("the WAL restarts past restartFrames if nothing was written during the copy, past forceRestartFrames always")
    func restartsWAL() {
        let policy = CheckpointPolicy()
        #expect(!policy.restartsWAL(frames: policy.restartFrames, added: 0, writing: false))
        #expect(policy.restartsWAL(frames: policy.restartFrames + 1, added: 0, writing: false))
        #expect(!policy.restartsWAL(frames: policy.restartFrames + 1, added: 1, writing: false))
        #expect(!policy.restartsWAL(frames: policy.restartFrames + 1, added: 0, writing: true))
        #expect(!policy.restartsWAL(frames: policy.forceRestartFrames, added: 300, writing: true))
        #expect(policy.restartsWAL(frames: policy.forceRestartFrames + 1, added: 300, writing: true))
        #expect(policy.forceRestartFrames < SQLiteStore.autocheckpointBackstop)
    }

    @Test("request writes: quiet is zero while one is pending and counts from the end of the last")
    func requestWriteActivity() async throws {
        let activity = RequestWriteActivity()
        activity.begin()
        activity.begin()
        activity.end()
        #expect(activity.pending == 1)
        try await Task.sleep(for: .milliseconds(30))
        #expect(activity.quiet == .zero)
        activity.end()
        #expect(activity.pending == 0)
        #expect(activity.quiet < .milliseconds(25))
        try await Task.sleep(for: .milliseconds(30))
        #expect(activity.quiet >= .milliseconds(30))
    }

    @Test("a fan-out worker's gathering wait ends once request writes pause, and never after atMost")
    func awaitsQuietWriter() async throws {
        try await SQLiteMigrationTests.withMigratedStore { store in
            let clock = ContinuousClock()
            // Quiet already: far sooner than atMost.
            var took = await clock.measure { await store.awaitQuietWriter(.milliseconds(20), atMost: .seconds(10)) }
            #expect(took < .seconds(2))
            // A request write holds the writer for 100 ms: the wait lasts until 20 ms after it ends.
            let start = clock.now
            store.requestWrites.begin()
            let waiting = Task { await store.awaitQuietWriter(.milliseconds(20), atMost: .seconds(10)) }
            try await Task.sleep(for: .milliseconds(100))
            store.requestWrites.end()
            await waiting.value
            took = clock.now - start
            #expect(took >= .milliseconds(120))
            #expect(took < .seconds(5))
            // Writes that never pause: it gives up after atMost.
            store.requestWrites.begin()
            took = await clock.measure { await store.awaitQuietWriter(.milliseconds(20), atMost: .milliseconds(150)) }
            store.requestWrites.end()
            #expect(took >= .milliseconds(150))
            #expect(took < .seconds(5))
        }
    }

    @Test("the checkpointer copies the WAL into the database file by itself, from a thread at low priority")
    func checkpointsAtLowPriority() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("roost-checkpoint-test-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/roost.sqlite"
        let store = try SQLiteStore(path: path)
        try await store.migrate()
        func size() throws -> Int { (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        let before = try size()
        // 1 MiB in the WAL, far below the writer's own automatic checkpoint (`autocheckpointBackstop`).
        try await store.write { db in
            try db.execute(sql: "CREATE TABLE ballast (b BLOB)")
            for _ in 0..<256 { try db.execute(sql: "INSERT INTO ballast VALUES (zeroblob(4096))") }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while try size() < before + 1_048_576, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try size() >= before + 1_048_576, "the WAL was copied into the database file")
        #if os(Linux)
        let nice = try #require(store.checkpointer.nice.withLock { $0 }, "the thread has started")
        #expect(nice >= SQLiteCheckpointer.niceness)
        #endif
        try await store.shutdown()
    }
}
