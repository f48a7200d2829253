import Foundation
import HummingbirdTesting
import Logging
import RoostCore
import RoostStorage
import Testing

@testable import RoostServer

/// Realtime streams with real clients against a live server: WebSocket (HummingbirdWSClient) and
/// Server-Sent Events (AsyncHTTPClient), on either backend.
@Suite(.timeLimit(.minutes(2)))
struct RealtimeTests {
    /// Short timings so heartbeats, expiry and replay windows fit in a test.
    static func fast(_ configuration: inout RoostConfiguration) {
        configuration.realtime.sweepInterval = .milliseconds(50)
        configuration.realtime.revocationCheckInterval = .milliseconds(200)
    }

    static func port(_ api: API) throws -> Int {
        guard let port = api.client.port else { throw TestFailure("live test servers listen on a port") }
        return port
    }

    @Test("a follower gets post.created within a second on WebSocket and SSE; the author too; a non-follower never")
    func followerGetsPost() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("streamer")
            let follower = try await api.register("watcher")
            let stranger = try await api.register("passerby")
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            let webSocket = try await WebSocketTestClient.connect(port: port, token: follower.access)
            let sse = try await SSETestClient.connect(port: port, token: follower.access)
            #expect(sse.status == 200)
            let own = try await WebSocketTestClient.connect(port: port, token: author.access)
            let outsider = try await WebSocketTestClient.connect(port: port, token: stranger.access)
            let outsiderSSE = try await SSETestClient.connect(port: port, token: stranger.access)

            let start = ContinuousClock.now
            let id = try #require(try await api.createPost(author, text: "hello, streams")["id"]?.string)
            let event = try await webSocket.inbox.waitForPost(id, timeout: .seconds(1))
            try await sse.inbox.waitForPost(id, timeout: .seconds(1))
            #expect(ContinuousClock.now - start < .seconds(1))
            try await own.inbox.waitForPost(id, timeout: .seconds(1))
            #expect(event["post"]?["author"]?["username"]?.string == "streamer")
            #expect(event["post"]?["text"]?.string == "hello, streams")
            #expect(event["post"]?["viewer"] == ["liked": false, "shared": false])
            #expect(isContractTimestamp(event["post"]?["created_at"]))

            // Followers-only: the follower and the author, nobody else.
            let hidden = try #require(
                try await api.createPost(author, text: "for my followers", extra: ["visibility": "followers"])["id"]?.string)
            try await webSocket.inbox.waitForPost(hidden)
            try await sse.inbox.waitForPost(hidden)
            try await own.inbox.waitForPost(hidden)
            try await outsider.inbox.expectNone("post.created for a non-follower") { $0["event"] == "post.created" }
            #expect(outsiderSSE.inbox.events("post.created").isEmpty)
            #expect(sse.ids.count == sse.inbox.messages.count, "every SSE event carries an id")

            await webSocket.close()
            await sse.close()
            await own.close()
            await outsider.close()
            await outsiderSSE.close()
        }
    }

    @Test("a celebrity's post, merged at read time rather than fanned out, still reaches followers' streams")
    func celebrityPost() async throws {
        try await TestApp.run(setup: .live, configure: { Self.fast(&$0); $0.fanOut.celebrityThreshold = 2 }) { api in
            let port = try Self.port(api)
            let star = try await api.register("celebrity")
            let fans = try await api.registerMany(3, prefix: "fan")
            for fan in fans { _ = try await api.put("/users/\(star.id)/follow", token: fan.access) }
            let streams = try await concurrently(fans.count) { index in
                try await WebSocketTestClient.connect(port: port, token: fans[index].access)
            }
            let id = try #require(try await api.createPost(star, text: "to everyone at once")["id"]?.string)
            #expect(try await api.services.store.fanOutQueueStatus().depth == 0, "pull-only: no fan-out job")
            for stream in streams { try await stream.inbox.waitForPost(id, timeout: .seconds(1)) }
            for stream in streams { await stream.close() }
        }
    }

    @Test("an organization post reaches nobody outside the organization, followers included")
    func organizationPost() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("staffer")
            let follower = try await api.register("outsider")
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            let stream = try await WebSocketTestClient.connect(port: port, token: follower.access)
            let own = try await WebSocketTestClient.connect(port: port, token: author.access)
            // Published as the posts controller would after the commit; the follower is no member.
            let now = Date()
            let post = Post(
                id: api.services.ids.next(), authorID: try #require(UInt64(author.id)), text: "members only",
                visibility: .organization, organizationID: api.services.ids.next(), createdAt: now, updatedAt: now)
            api.services.events.publish(.postCreated(post))
            try await own.inbox.waitForPost(String(post.id))
            try await stream.inbox.expectNone("organization post for a non-member") { $0["event"] == "post.created" }
            await stream.close()
            await own.close()
        }
    }

    @Test("a deleted post yields post.deleted to followers and to streams showing it")
    func deletedPost() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("deleter")
            let follower = try await api.register("follows")
            let reader = try await api.register("reads")
            _ = try await api.put("/users/\(author.id)/follow", token: follower.access)
            let id = try #require(try await api.createPost(author, text: "soon gone")["id"]?.string)
            let webSocket = try await WebSocketTestClient.connect(port: port, token: follower.access)
            let sse = try await SSETestClient.connect(port: port, token: reader.access, query: "post_ids=\(id)")
            #expect(try await api.delete("/posts/\(id)", token: author.access).code == 204)
            try await webSocket.inbox.waitFor("post.deleted") { $0["event"] == "post.deleted" && $0["post_id"]?.string == id }
            try await sse.inbox.waitFor("post.deleted") { $0["event"] == "post.deleted" && $0["post_id"]?.string == id }
            await webSocket.close()
            await sse.close()
        }
    }

    @Test("a like yields post.counts to a subscribed viewer and a notification to the author")
    func likeCountsAndNotification() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("liked_author")
            let viewer = try await api.register("looker")
            let liker = try await api.register("liker")
            let id = try #require(try await api.createPost(author, text: "like me")["id"]?.string)
            let other = try #require(try await api.createPost(author, text: "not shown")["id"]?.string)

            let watching = try await WebSocketTestClient.connect(port: port, token: viewer.access)
            #expect(try await watching.subscribe([id]) == [id])
            let watchingSSE = try await SSETestClient.connect(port: port, token: viewer.access, query: "post_ids=\(id)")
            let authorStream = try await WebSocketTestClient.connect(port: port, token: author.access)
            let authorSSE = try await SSETestClient.connect(port: port, token: author.access)

            _ = try await api.put("/posts/\(id)/like", token: liker.access)
            let counts = try await watching.inbox.waitFor("post.counts") { $0["event"] == "post.counts" && $0["post_id"]?.string == id }
            #expect(counts["like_count"]?.int == 1 && counts["comment_count"]?.int == 0 && counts["share_count"]?.int == 0)
            try await watchingSSE.inbox.waitFor("post.counts on SSE") { $0["event"] == "post.counts" && $0["like_count"]?.int == 1 }

            let notification = try await authorStream.inbox.waitFor("like notification") { $0["event"] == "notification" }
            #expect(notification["notification"]?["type"]?.string == "like")
            #expect(notification["notification"]?["actor"]?["username"]?.string == "liker")
            #expect(notification["notification"]?["post_id"]?.string == id)
            #expect(notification["notification"]?["read"]?.bool == false)
            try await authorSSE.inbox.waitFor("like notification on SSE") { $0["event"] == "notification" }

            // Counts only for the posts a stream shows; unsubscribing stops them.
            _ = try await api.put("/posts/\(other)/like", token: liker.access)
            _ = try await api.post("/posts/\(id)/comments", token: liker.access, json: ["text": "nice post"])
            try await watching.inbox.waitFor("comment counts") { $0["event"] == "post.counts" && $0["comment_count"]?.int == 1 }
            try await send(watching, ["type": "unsubscribe", "post_ids": [.string(id)]])
            try await watching.inbox.waitFor("unsubscribed") { $0["event"] == "unsubscribed" }
            _ = try await api.post("/posts/\(id)/share", token: liker.access)
            try await watching.inbox.expectNone("counts after unsubscribing or for other posts") {
                $0["event"] == "post.counts" && ($0["post_id"]?.string == other || $0["share_count"]?.int == 1)
            }
            for client in [watching, authorStream] { await client.close() }
            for client in [watchingSSE, authorSSE] { await client.close() }
        }
    }

    private func send(_ client: WebSocketTestClient, _ json: JSON) async throws {
        try await client.send(json)
    }

    @Test("subscriptions and stream requests only cover posts the viewer may see")
    func subscriptionsAreVisibilityChecked() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("private_author")
            let stranger = try await api.register("snoop")
            let fan = try await api.register("liker_fan")
            _ = try await api.put("/users/\(author.id)/follow", token: fan.access)
            let hidden = try #require(
                try await api.createPost(author, text: "followers only", extra: ["visibility": "followers"])["id"]?.string)
            let stream = try await WebSocketTestClient.connect(port: port, token: stranger.access)
            #expect(try await stream.subscribe([hidden, "123", "999999999999"]).isEmpty)
            let sse = try await SSETestClient.connect(port: port, token: stranger.access, query: "post_ids=\(hidden)")
            _ = try await api.put("/posts/\(hidden)/like", token: fan.access)
            try await stream.inbox.expectNone("counts of a post the viewer cannot see") { $0["event"] == "post.counts" }
            #expect(sse.inbox.events("post.counts").isEmpty)

            try await stream.send(["type": "dance"])
            let error = try await stream.inbox.waitFor("error") { $0["event"] == "error" }
            #expect(error["error"]?["code"]?.string == "validation_failed")
            try await stream.send(["type": "subscribe", "post_ids": "nope"])
            try await stream.inbox.waitFor("second error") { _ in stream.inbox.events("error").count == 2 }
            let bad = try await SSETestClient.connect(port: port, token: stranger.access, query: "post_ids=12,abc")
            #expect(bad.status == 400)
            await stream.close()
            await sse.close()
            await bad.close()
        }
    }

    @Test("follows, comments and shares notify over the stream too")
    func notificationsOverStream() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("popular")
            let fan = try await api.register("admirer")
            let stream = try await WebSocketTestClient.connect(port: port, token: author.access)
            _ = try await api.put("/users/\(author.id)/follow", token: fan.access)
            let follow = try await stream.inbox.waitFor("follow notification") { $0["notification"]?["type"] == "follow" }
            #expect(follow["notification"]?["actor"]?["id"]?.string == fan.id)
            #expect(follow["notification"]?["post_id"] == .null)
            let id = try #require(try await api.createPost(author, text: "say something")["id"]?.string)
            _ = try await api.post("/posts/\(id)/comments", token: fan.access, json: ["text": "something, @popular"])
            let comment = try await stream.inbox.waitFor("comment notification") { $0["notification"]?["type"] == "comment" }
            #expect(comment["notification"]?["comment_id"]?.string != nil)
            _ = try await api.post("/posts/\(id)/share", token: fan.access)
            try await stream.inbox.waitFor("share notification") { $0["notification"]?["type"] == "share" }
            // The author was mentioned in a comment on their own post: one notification, not two.
            try await stream.inbox.expectNone("mention besides the comment") { $0["notification"]?["type"] == "mention" }
            await stream.close()
        }
    }

    @Test("logging out (a revoked token) ends the session's streams; other sessions stay")
    func logoutEndsStreams() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let user = try await api.register("leaver")
            let login = try await api.post("/auth/login", json: ["login": "leaver", "password": .string(API.defaultPassword)])
            let otherSession = try #require(login.body["access_token"]?.string)
            let webSocket = try await WebSocketTestClient.connect(port: port, token: user.access)
            let sse = try await SSETestClient.connect(port: port, token: user.access)
            let other = try await WebSocketTestClient.connect(port: port, token: otherSession)

            #expect(try await api.post("/auth/logout", token: user.access).code == 204)
            try await webSocket.inbox.waitUntilEnded(timeout: .seconds(10))
            #expect(webSocket.closeCode == 4401)
            try await sse.inbox.waitUntilEnded(timeout: .seconds(10))
            #expect(sse.inbox.events("closed").first?["reason"]?.string == "session_ended")
            #expect(!other.inbox.ended, "another login's stream stays open")

            // The revoked token cannot open a stream again.
            #expect(try await StalledWebSocket.handshakeStatus(port: port, query: "access_token=\(user.access)") == 401)
            let refusedSSE = try await SSETestClient.connect(port: port, token: user.access)
            #expect(refusedSSE.status == 401)
            await other.close()
            await refusedSSE.close()
            await sse.close()
        }
    }

    @Test("a revocation this node did not see (refresh-token reuse) ends the stream at the next check")
    func reuseRevocationEndsStreams() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let user = try await api.register("reuser")
            let stream = try await WebSocketTestClient.connect(port: port, token: user.access)
            #expect(try await api.post("/auth/refresh", json: ["refresh_token": .string(user.refresh)]).code == 200)
            #expect(try await api.post("/auth/refresh", json: ["refresh_token": .string(user.refresh)]).code == 401)
            try await stream.inbox.waitUntilEnded(timeout: .seconds(10))
            #expect(stream.closeCode == 4401)
        }
    }

    @Test("an expired access token ends the stream; a fresh token of the same login extends it")
    func expiryEndsStreams() async throws {
        try await TestApp.run(setup: .live, configure: { Self.fast(&$0); $0.accessTokenLifetime = 2 }) { api in
            let port = try Self.port(api)
            let user = try await api.register("expiring")
            let webSocket = try await WebSocketTestClient.connect(port: port, token: user.access)
            let sse = try await SSETestClient.connect(port: port, token: user.access)
            let extended = try await WebSocketTestClient.connect(port: port, token: user.access)
            // A second later (token expiry has one-second resolution), refresh the same login and
            // hand the new token to one stream.
            try await Task.sleep(for: .milliseconds(1100))
            let refreshed = try await api.post("/auth/refresh", json: ["refresh_token": .string(user.refresh)])
            let fresh = try #require(refreshed.body["access_token"]?.string)
            let renewed = try await WebSocketTestClient.connect(port: port, token: fresh)
            try await renewed.send(["type": "authenticate", "access_token": .string(fresh)])
            try await extended.send(["type": "authenticate", "access_token": .string(fresh)])
            try await extended.inbox.waitFor("authenticated") { $0["event"] == "authenticated" }

            try await webSocket.inbox.waitUntilEnded(timeout: .seconds(4))
            #expect(webSocket.closeCode == 4401)
            try await sse.inbox.waitUntilEnded(timeout: .seconds(4))
            #expect(sse.inbox.events("closed").first?["reason"]?.string == "token_expired")
            #expect(!extended.inbox.ended, "extended by a fresh token of the same login")
            await extended.close()
            await renewed.close()
            await sse.close()
        }
    }

    @Test("streams need a token; the WebSocket path needs an upgrade")
    func authentication() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let user = try await api.register("knocker")
            // A handshake that is refused is answered as HTTP by the routes: the contract's 401.
            #expect(try await StalledWebSocket.handshakeStatus(port: port, query: "") == 401)
            #expect(try await StalledWebSocket.handshakeStatus(port: port, query: "access_token=not-a-token") == 401)
            #expect(try await StalledWebSocket.handshakeStatus(port: port, query: "access_token=\(user.access)&post_ids=x") == 400)
            await #expect(throws: (any Error).self) { _ = try await WebSocketTestClient.connect(port: port, token: nil) }
            let sse = try await SSETestClient.connect(port: port, token: nil)
            #expect(sse.status == 401)
            await sse.close()
            expectError(try await api.get("/streaming"), 401, "unauthorized")
            expectError(try await api.get("/streaming", token: user.access), 400, "validation_failed")
            expectError(try await api.get("/streaming/sse?access_token=forged"), 401, "unauthorized")
        }
    }

    @Test("heartbeats keep idle streams alive: a WebSocket message and an SSE comment")
    func heartbeats() async throws {
        try await TestApp.run(setup: .live, configure: { Self.fast(&$0); $0.realtime.heartbeatInterval = .milliseconds(200) }) { api in
            let port = try Self.port(api)
            let user = try await api.register("idler")
            let webSocket = try await WebSocketTestClient.connect(port: port, token: user.access)
            let sse = try await SSETestClient.connect(port: port, token: user.access)
            try await webSocket.inbox.waitFor("heartbeat", timeout: .seconds(2)) { $0["event"] == "heartbeat" }
            let deadline = ContinuousClock.now + .seconds(2)
            while !sse.comments.contains("heartbeat"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(sse.comments.contains("heartbeat"))
            #expect(sse.comments.first == "connected")
            await webSocket.close()
            await sse.close()
        }
    }

    @Test("WebSocket pings: a client that answers stays, one that never answers is disconnected")
    func pings() async throws {
        try await TestApp.run(setup: .live, configure: { Self.fast(&$0); $0.realtime.webSocketPingInterval = .milliseconds(150) }) { api in
            let port = try Self.port(api)
            let user = try await api.register("pinged")
            let healthy = try await WebSocketTestClient.connect(port: port, token: user.access)
            let silent = try await StalledWebSocket.connect(port: port, token: user.access, receiveBuffer: 65_536)
            #expect(await silent.drainUntilClosed(timeout: .seconds(3)), "no pong: disconnected")
            silent.close()
            try await Task.sleep(for: .milliseconds(300))
            #expect(!healthy.inbox.ended, "a client that answers pings stays")
            await healthy.close()
        }
    }

    @Test("SSE replays what a reconnecting client missed after Last-Event-ID, then continues live")
    func lastEventIDReplay() async throws {
        try await TestApp.run(setup: .live, configure: Self.fast) { api in
            let port = try Self.port(api)
            let author = try await api.register("replayed")
            let reader = try await api.register("reconnector")
            _ = try await api.put("/users/\(author.id)/follow", token: reader.access)
            let first = try await SSETestClient.connect(port: port, token: reader.access)
            let seen = try #require(try await api.createPost(author, text: "seen live")["id"]?.string)
            try await first.inbox.waitForPost(seen)
            let lastID = try #require(first.ids.last)
            await first.close()

            let missed = [
                try #require(try await api.createPost(author, text: "missed one")["id"]?.string),
                try #require(try await api.createPost(author, text: "missed two")["id"]?.string),
            ]
            let second = try await SSETestClient.connect(port: port, token: reader.access, lastEventID: lastID)
            for id in missed { try await second.inbox.waitForPost(id) }
            let live = try #require(try await api.createPost(author, text: "live again")["id"]?.string)
            try await second.inbox.waitForPost(live)
            let order = second.inbox.events("post.created").compactMap { $0["post"]?["id"]?.string }
            #expect(order == missed + [live], "replayed in order, nothing seen before, nothing twice")
            #expect(second.ids.allSatisfy { UInt64($0)! > UInt64(lastID)! })
            await second.close()
        }
    }

    @Test("one client that stops reading is dropped while the others keep receiving on time")
    func slowClientIsDropped() async throws {
        try await TestApp.run(setup: .live, configure: {
            Self.fast(&$0)
            $0.realtime.webSocketSendBufferBytes = 16 * 1024
        }) { api in
            let port = try Self.port(api)
            let author = try await api.register("firehose")
            let readers = try await api.registerMany(3, prefix: "drinker")
            for reader in readers { _ = try await api.put("/users/\(author.id)/follow", token: reader.access) }
            let droppedBefore = try await Self.metric(api, #"roost_stream_dropped_clients_total{transport="websocket"}"#)
            let stalled = try await StalledWebSocket.connect(port: port, token: readers[0].access)
            let healthy = [
                try await WebSocketTestClient.connect(port: port, token: readers[1].access),
                try await WebSocketTestClient.connect(port: port, token: readers[2].access),
            ]
            let sse = try await SSETestClient.connect(port: port, token: readers[1].access)
            let firstID = try #require(try await api.createPost(author, text: "the first")["id"]?.string)
            let template = try await api.services.store.requirePost(try #require(UInt64(firstID)))

            // A flood of large posts, published as the posts controller publishes them, at a pace
            // healthy clients keep up with: the stalled one falls behind and is cut off.
            let sent = Locked<[String: ContinuousClock.Instant]>([:])
            // The default outbound buffer (256 frames) plus what the socket holds is well under this.
            let count = 1_000
            for index in 0..<count {
                var post = template
                post.id = api.services.ids.next()
                post.text = String(repeating: "flood \(index) ", count: 300)
                let key = String(post.id)
                sent.withLock { $0[key] = ContinuousClock.now }
                api.services.events.publish(.postCreated(post))
                if index % 10 == 9 { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(await stalled.drainUntilClosed(timeout: .seconds(10)), "the server cut the stalled client")
            stalled.close()
            let expected = Set(sent.value.keys)
            for client in healthy {
                let deadline = ContinuousClock.now + .seconds(5)
                var received: [JSON] = []
                while ContinuousClock.now < deadline {
                    received = client.inbox.events("post.created").filter { expected.contains($0["post"]?["id"]?.string ?? "") }
                    if received.count == count { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(received.count == count, "a healthy client got every event")
                #expect(!client.inbox.ended)
                // On time: each within a second of its publication, however far the stalled one fell behind.
                let sentAt = sent.value
                let lateness = client.inbox.timedMessages.compactMap { message, arrival -> Duration? in
                    guard message["event"] == "post.created", let id = message["post"]?["id"]?.string, let sent = sentAt[id] else { return nil }
                    return arrival - sent
                }
                #expect(lateness.count == count && (lateness.max() ?? .zero) < .seconds(1), "latest: \(lateness.max() ?? .zero)")
            }
            try await sse.inbox.waitFor("the last flood event on SSE", timeout: .seconds(5)) { _ in
                sse.inbox.events("post.created").count >= count
            }
            let droppedAfter = try await Self.metric(api, #"roost_stream_dropped_clients_total{transport="websocket"}"#)
            #expect(droppedAfter >= droppedBefore + 1, "the drop is counted on /metrics")
            for client in healthy { await client.close() }
            await sse.close()
        }
    }

    @Test("/metrics reports open stream connections; closed streams are forgotten (SSE at the next heartbeat)")
    func connectionMetrics() async throws {
        try await TestApp.run(setup: .live, configure: { Self.fast(&$0); $0.realtime.heartbeatInterval = .milliseconds(200) }) { api in
            let port = try Self.port(api)
            let user = try await api.register("counted")
            let stream = try await WebSocketTestClient.connect(port: port, token: user.access)
            let sse = try await SSETestClient.connect(port: port, token: user.access)
            let text = try await api.get("/metrics", root: true).text
            #expect(text.contains(#"roost_stream_connections{transport="websocket"}"#))
            #expect(text.contains(#"roost_stream_connections{transport="sse"}"#))
            #expect(api.services.streams.connectionCount == 2)
            await stream.close()
            await sse.close()
            let deadline = ContinuousClock.now + .seconds(3)
            while api.services.streams.connectionCount > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(api.services.streams.connectionCount == 0, "closed streams are forgotten")
        }
    }

    /// The value of one metric line on `/metrics` (0 when absent).
    static func metric(_ api: API, _ name: String) async throws -> Double {
        let text = try await api.get("/metrics", root: true).text
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1)) ?? 0
        }
        return 0
    }
}

extension RoostStore {
    func requirePost(_ id: ID) async throws -> Post {
        guard let post = try await post(id: id) else { throw TestFailure("post \(id) is missing") }
        return post
    }
}
