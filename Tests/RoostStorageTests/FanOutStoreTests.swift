import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct FanOut {
        /// Runs `jobs` in batches of 4 followers, as the worker resumes them, until they finish
        /// (at most 100 batches): the entries written and the batches run.
        static func runToEnd(_ jobs: [FanOutJob], store: any RoostStore) async throws -> (entries: Int, batches: Int) {
            var jobs = jobs
            var entries = 0
            var batches = 0
            while batches <= 100 {
                let progress = try await store.runFanOutBatch(jobs, followers: 4, now: t0)
                entries += progress.entries
                batches += 1
                if progress.finished { break }
                for index in jobs.indices { jobs[index].position = progress.position }
            }
            return (entries, batches)
        }

        /// Jobs leased together are batched as the worker batches them (several authors at once
        /// where the store supports it), in small steps so follower ranges of the authors
        /// interleave: every follower gets exactly the posts of the authors they follow.
        @Test func batchesDeliverEachPostToItsAuthorsFollowersOnly() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let a = try await store.makeUser("fan_a", ids: ids)
                let b = try await store.makeUser("fan_b", ids: ids)
                let followers = try await store.makeUsers(30, prefix: "fan_f", ids: ids)
                let active = t0.addingTimeInterval(3600)
                var expected: [ID: Set<ID>] = [:]
                for (i, follower) in followers.enumerated() {
                    if i % 2 == 0 { _ = try await store.follow(followerID: follower.id, followeeID: a.id, id: ids.next(), now: t0) }
                    if i % 3 == 0 { _ = try await store.follow(followerID: follower.id, followeeID: b.id, id: ids.next(), now: t0) }
                    try await store.touchTimeline(userID: follower.id, activeUntil: active)
                    expected[follower.id] = []
                }
                let a1 = try await store.makePost(by: a.id, ids: ids, text: "a one")
                let b1 = try await store.makePost(by: b.id, ids: ids, text: "b one")
                let a2 = try await store.makePost(by: a.id, ids: ids, text: "a two")
                for (i, follower) in followers.enumerated() {
                    if i % 2 == 0 { expected[follower.id]?.formUnion([a1.id, a2.id]) }
                    if i % 3 == 0 { expected[follower.id]?.insert(b1.id) }
                }

                let jobs = try await store.claimFanOutJobs(now: t0, lease: 60, limit: 64)
                #expect(jobs.count == 3)
                let across = store.batchesPushAcrossAuthors
                let groups = FanOutBatching.groups(jobs) { (kind: $0.kind.rawValue, author: across ? 0 : $0.authorID, position: $0.position) }
                #expect(groups.count == (across ? 1 : 2))
                var entries = 0
                for group in groups {
                    let run = try await Self.runToEnd(group, store: store)
                    entries += run.entries
                    #expect(run.batches > 1, "several batches per group")
                }
                #expect(try await store.fanOutQueueStatus().depth == 0)
                #expect(entries == expected.values.map(\.count).reduce(0, +))
                for follower in followers {
                    let timeline = try await store.timelineEntries(userID: follower.id, before: nil, floor: 0, limit: 10)
                    #expect(Set(timeline) == expected[follower.id] ?? [], "follower \(follower.username)")
                }
            }
        }

        /// The readers-first pass writes a post only to the given readers who follow its author and
        /// whose timeline is maintained; the batches then fill in the rest without writing anything twice.
        @Test func readersFirstReachesOnlyFollowingMaintainedReaders() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let author = try await store.makeUser("rf_author", ids: ids)
                let followers = try await store.makeUsers(12, prefix: "rf_f", ids: ids)
                let stranger = try await store.makeUser("rf_stranger", ids: ids)
                let active = t0.addingTimeInterval(3600)
                for (i, follower) in followers.enumerated() {
                    _ = try await store.follow(followerID: follower.id, followeeID: author.id, id: ids.next(), now: t0)
                    // The last follower has not read lately: fan-out does not maintain their timeline.
                    if i < followers.count - 1 { try await store.touchTimeline(userID: follower.id, activeUntil: active) }
                }
                try await store.touchTimeline(userID: stranger.id, activeUntil: active)
                let post = try await store.makePost(by: author.id, ids: ids, text: "readers first")
                let jobs = try await store.claimFanOutJobs(now: t0, lease: 60, limit: 8)
                #expect(jobs.count == 1)

                let reading = [followers[3], followers[7], followers[11], stranger]
                let pushed = try await store.pushToReaders(jobs, readers: reading.map(\.id), now: t0)
                #expect(pushed.entries == 2)
                #expect(Set(pushed.users) == [followers[3].id, followers[7].id])
                for follower in followers {
                    let timeline = try await store.timelineEntries(userID: follower.id, before: nil, floor: 0, limit: 10)
                    #expect(timeline == ([followers[3].id, followers[7].id].contains(follower.id) ? [post.id] : []), "\(follower.username)")
                }
                #expect(try await store.timelineEntries(userID: stranger.id, before: nil, floor: 0, limit: 10).isEmpty)

                let entries = try await Self.runToEnd(jobs, store: store).entries
                #expect(entries == followers.count - 1 - 2, "the batches skip what the readers-first pass wrote")
                for follower in followers.dropLast() {
                    #expect(try await store.timelineEntries(userID: follower.id, before: nil, floor: 0, limit: 10) == [post.id])
                }
                #expect(try await store.timelineEntries(userID: followers[11].id, before: nil, floor: 0, limit: 10).isEmpty)
                // A post deleted before the pass is not written.
                let gone = try await store.makePost(by: author.id, ids: ids, text: "deleted before the pass")
                let goneJobs = try await store.claimFanOutJobs(now: t0, lease: 60, limit: 8)
                #expect(goneJobs.map(\.postID) == [gone.id])
                #expect(try await store.deletePost(id: gone.id))
                #expect(try await store.pushToReaders(goneJobs, readers: [followers[0].id], now: t0).entries == 0)
                #expect(try await store.timelineEntries(userID: followers[0].id, before: nil, floor: 0, limit: 10) == [post.id])
            }
        }
    }
}
