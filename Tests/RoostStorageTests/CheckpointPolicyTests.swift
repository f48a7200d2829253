import Testing

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
}
