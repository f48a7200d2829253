import Foundation
import RoostCore
import RoostStorage
import Testing

@testable import RoostServer

/// Several nodes on one PostgreSQL: what one node changes reaches the others' streams and caches
/// through `LISTEN`/`NOTIFY` (`PeerLink`). On SQLite there is one node and no link.
@Suite(.timeLimit(.minutes(2)))
struct PeerTests {
    /// A channel that keeps what is sent, for the payload format alone.
    struct RecordingChannel: PeerChannel {
        var maximumPayload: Int
        func send(_ payloads: [String]) async throws {}
        func listen(ready: @Sendable () async -> Void, receive: @Sendable (String) async -> Void) async throws {}
    }

    @Test("payloads stay under the channel's limit, keep events in order and lose no invalidation")
    func payloadsFit() throws {
        let link = PeerLink(channel: RecordingChannel(maximumPayload: 1_000))
        let record = NotificationRecord(id: 9, recipientID: 2, kind: .follow, actorID: 3, createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        var batch: [PeerMessage] = [.event(.postDeleted(postID: 1, authorID: 2))]
        batch += (0..<300).map { PeerMessage.homePages([UInt64.max - ID($0), ID($0)]) }
        batch += [.event(.notification(record)), .post(7), .user(8), .memberships(9), .event(.sessionEnded(familyID: "family"))]
        let payloads = link.payloads(batch)
        #expect(payloads.count > 1)
        #expect(payloads.allSatisfy { $0.utf8.count <= 1_000 })
        let envelopes = try payloads.map { try #require(PeerLink.decode($0)) }
        #expect(Set(envelopes.map(\.sequence)).count == envelopes.count, "every payload is distinct")
        #expect(envelopes.allSatisfy { $0.node == link.node })
        #expect(
            envelopes.flatMap { $0.events ?? [] }
                == [.postDeleted(postID: 1, authorID: 2), .notification(record), .sessionEnded("family")])
        let viewers = envelopes.flatMap { $0.homePages ?? [] }
        #expect(viewers.count == 600 && Set(viewers) == Set((0..<300).flatMap { [UInt64.max - ID($0), ID($0)] }))
        #expect(envelopes.flatMap { $0.posts ?? [] } == [7])
        #expect(envelopes.flatMap { $0.users ?? [] } == [8])
        #expect(envelopes.flatMap { $0.memberships ?? [] } == [9])

        // Everything invalidated: the viewers' own messages are not needed.
        let all = try link.payloads([.homePages([1, 2]), .allHomePages]).map { try #require(PeerLink.decode($0)) }
        #expect(all.count == 1 && all[0].allHomePages == true && all[0].homePages == nil)
        #expect(try link.payloads([], everything: true).map { try #require(PeerLink.decode($0)).everything } == [true])
    }

    /// Waits until both nodes listen: what is sent before a node listens reaches only its caches' reset.
    static func listening(_ nodes: API...) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while !nodes.allSatisfy({ $0.services.peers?.isListening == true }) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the nodes did not start listening") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("SQLite has one node: no peer link")
    func sqliteHasNoPeers() async throws {
        guard !TestApp.isPostgres else { return }
        try await TestApp.run { api in #expect(api.services.peers == nil) }
    }

    @Test("a post, a notification and a logout on one node reach streams on the other; the logout ends its tokens there at once")
    func streamsAcrossNodes() async throws {
        guard TestApp.isPostgres else { return }
        // The sweep is quick; the check of ended logins is left at 30 s, so only the event can close a stream.
        try await TestApp.runTwoNodes(configure: { $0.realtime.sweepInterval = .milliseconds(50) }) { first, second in
            try await Self.listening(first, second)
            let port = try RealtimeTests.port(second)
            let author = try await first.register("node_author")
            let follower = try await first.register("node_follower")
            let authorStream = try await WebSocketTestClient.connect(port: port, token: author.access)
            let followerStream = try await WebSocketTestClient.connect(port: port, token: follower.access)

            _ = try await first.put("/users/\(author.id)/follow", token: follower.access)
            let notification = try await authorStream.inbox.waitFor("follow notification from the other node") {
                $0["event"] == "notification"
            }
            #expect(notification["notification"]?["type"]?.string == "follow")
            #expect(notification["notification"]?["actor"]?["username"]?.string == "node_follower")

            let id = try #require(try await first.createPost(author, text: "written on the first node")["id"]?.string)
            let event = try await followerStream.inbox.waitForPost(id)
            #expect(event["post"]?["text"]?.string == "written on the first node")
            try await authorStream.inbox.waitForPost(id)

            #expect(try await first.post("/auth/logout", token: follower.access).code == 204)
            try await followerStream.inbox.waitUntilEnded(timeout: .seconds(2))
            // The second node checked this token when the stream opened, and would remember it as
            // valid for seconds; the ended login reached its cache too.
            expectError(try await second.get("/users/me", token: follower.access), 401, "unauthorized")
            await authorStream.close()
            await followerStream.close()
        }
    }

    @Test("each node leases its own id node number, and its ids carry it")
    func nodeNumbers() async throws {
        guard TestApp.isPostgres else { return }
        try await TestApp.runTwoNodes { first, second in
            #expect(first.services.ids.node != second.services.ids.node)
            let author = try await first.register("numbered")
            for node in [first, second] {
                let id = try #require(numericID(try await node.createPost(author)["id"]))
                #expect(IDGenerator.node(of: id) == node.services.ids.node)
            }
        }
    }

    @Test("a change on one node invalidates the other node's cached home page and post at once")
    func cachesAcrossNodes() async throws {
        guard TestApp.isPostgres else { return }
        // Caches that would otherwise hold for a minute.
        try await TestApp.runTwoNodes(configure: { $0.homePageTTL = .seconds(60); $0.cacheTTL = .seconds(60) }) { first, second in
            try await Self.listening(first, second)
            let author = try await first.register("cache_author")
            let reader = try await first.register("cache_reader")
            let liker = try await first.register("cache_liker")
            _ = try await first.put("/users/\(author.id)/follow", token: reader.access)
            let old = try #require(try await first.createPost(author, text: "old")["id"]?.string)
            try await FeedEngineTests.drainFanOut(first)
            // Computed on the second node, then served from its cache.
            #expect(try await FeedEngineTests.firstHomeItem(second, reader)?["id"]?.string == old)
            #expect(try await FeedEngineTests.firstHomeItem(second, reader)?["id"]?.string == old)
            #expect(try await second.get("/posts/\(old)", token: reader.access).body["like_count"]?.int == 0)

            // A new post fanned out by the first node; a like counted there.
            let new = try #require(try await first.createPost(author, text: "new")["id"]?.string)
            try await FeedEngineTests.drainFanOut(first)
            _ = try await first.put("/posts/\(old)/like", token: liker.access)

            let deadline = ContinuousClock.now + .seconds(2)
            var top: String?
            var likes: Int?
            while ContinuousClock.now < deadline {
                top = try await FeedEngineTests.firstHomeItem(second, reader)?["id"]?.string
                likes = try await second.get("/posts/\(old)", token: reader.access).body["like_count"]?.int
                if top == new, likes == 1 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(top == new, "the second node's cached first page was not invalidated")
            #expect(likes == 1, "the second node's cached post was not invalidated")
        }
    }
}
