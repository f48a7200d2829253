import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage

/// Delivers realtime events to this node's streams: for each event it works out which of the
/// connected viewers get it, applies the visibility rule to each of them exactly as a feed would,
/// encodes the event once and queues it on their connections. It never waits for a socket.
///
/// - `post.created` goes to the author and to connected followers of the author (whether the
///   post was fanned out or is a celebrity's, merged at read time: either way it enters their
///   home feed), and to connected members of the post's organization.
/// - `post.deleted` goes to the same audience and to every stream subscribed to the post.
/// - `post.counts` goes to the streams subscribed to the post.
/// - `notification` goes to the recipient's streams.
///
/// Events are taken in batches; the look-ups of a batch run concurrently and deliveries happen
/// in the order the events were published.
struct StreamDispatcher {
    let services: AppServices
    let logger: Logger

    private let latency = Metrics.Timer(label: RoostMetrics.streamDispatch)

    init(services: AppServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    var registry: StreamRegistry { services.streams }

    /// Runs until the transport is finished or the task is cancelled.
    func run() async {
        while true {
            let batch = await services.events.transport.next()
            if batch.isEmpty { return }
            await dispatch(batch)
        }
    }

    /// Who gets one event, and what.
    private enum Plan {
        case toUsers(StreamFrame, [ID], alsoConnections: [StreamConnection])
        case toConnections(StreamFrame, [StreamConnection])
        case endSession(String)
        case nothing
    }

    func dispatch(_ events: [RealtimeEvent]) async {
        let start = ContinuousClock.now
        let plans = await withTaskGroup(of: (Int, Plan).self) { group in
            for (index, event) in events.enumerated() {
                group.addTask {
                    do {
                        return (index, try await plan(event))
                    } catch {
                        logger.warning("stream event not delivered", metadata: ["error": "\(String(reflecting: type(of: error)))"])
                        return (index, .nothing)
                    }
                }
            }
            var plans = [Plan](repeating: .nothing, count: events.count)
            for await (index, plan) in group { plans[index] = plan }
            return plans
        }
        for plan in plans { apply(plan) }
        latency.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
    }

    private func apply(_ plan: Plan) {
        var dropped: [StreamConnection] = []
        switch plan {
        case .toUsers(let frame, let users, let connections):
            dropped = registry.deliver(frame, toUsers: users) + registry.deliver(frame, toConnections: connections)
        case .toConnections(let frame, let connections):
            dropped = registry.deliver(frame, toConnections: connections)
        case .endSession(let familyID):
            for connection in registry.connections(familyID: familyID) {
                connection.close(.sessionEnded, finalFrame: .message(json: StreamEventJSON.closed(.sessionEnded)))
            }
        case .nothing:
            break
        }
        // Counted by `StreamMetrics` when their handlers end.
        for connection in dropped {
            logger.debug("dropped a stream that fell behind", metadata: ["roost.user_id": "\(connection.userID)"])
        }
    }

    // MARK: Planning

    private func plan(_ event: RealtimeEvent) async throws -> Plan {
        switch event {
        case .postCreated(let post):
            guard registry.listenerCount > 0 else { return .nothing }
            var recipients: [ID] = []
            for viewer in registry.listeningViewers(among: try await homeAudience(of: post)) {
                // The one visibility rule, with each recipient as the viewer, as their feed would.
                if try await !services.renderer.visible([post], to: viewer).isEmpty { recipients.append(viewer.userID) }
            }
            guard !recipients.isEmpty, let body = try await services.renderer.bodies([post], viewer: nil).first else { return .nothing }
            var shown = body
            shown.flags = ViewerPostFlags()
            return .toUsers(frame(try StreamEventJSON.postCreated(shown)), recipients, alsoConnections: [])

        case .postDeleted(let postID, let authorID):
            // The post is gone and the event says nothing about it but its id: it goes to whoever
            // could have it in a feed or on screen.
            let users = Set(try await followersListening(authorID: authorID) + [authorID])
            let subscribers = registry.subscribers(of: postID).filter { !users.contains($0.userID) }
            registry.removeSubscriptions(to: postID)
            return .toUsers(frame(StreamEventJSON.postDeleted(postID)), Array(users), alsoConnections: subscribers)

        case .postCounts(let postID, let likes, let comments, let shares):
            let subscribers = registry.subscribers(of: postID)
            guard !subscribers.isEmpty, let post = try await services.feeds.posts([postID])[postID] else { return .nothing }
            var allowed: [StreamConnection] = []
            var decided: [ID: Bool] = [:]
            for connection in subscribers {
                if decided[connection.userID] == nil {
                    decided[connection.userID] = try await !services.renderer.visible([post], to: connection.viewer).isEmpty
                }
                if decided[connection.userID] == true { allowed.append(connection) }
            }
            let json = StreamEventJSON.postCounts(postID: postID, likes: likes, comments: comments, shares: shares)
            return .toConnections(frame(json), allowed)

        case .notification(let notification):
            guard !registry.listeningViewers(among: [notification.recipientID]).isEmpty else { return .nothing }
            let body = try await NotificationsController.bodies([notification], services: services)[0]
            return .toUsers(frame(try StreamEventJSON.notification(body)), [notification.recipientID], alsoConnections: [])

        case .sessionEnded(let familyID):
            return .endSession(familyID)
        }
    }

    /// An event frame with a fresh id (time-ordered and unique across nodes, so a `Last-Event-ID`
    /// from another node still orders correctly).
    private func frame(_ json: [UInt8]) -> StreamFrame {
        .event(id: services.ids.next(), json: json)
    }

    /// The listening accounts a post could enter the home feed of: its author, the author's
    /// followers, the members of its organization. The caller applies the visibility rule.
    private func homeAudience(of post: Post) async throws -> [ID] {
        var audience = try await followersListening(authorID: post.authorID)
        audience.append(post.authorID)
        if let organizationID = post.organizationID {
            audience += try await organizationMembersListening(organizationID: organizationID)
        }
        var seen = Set<ID>()
        return audience.filter { seen.insert($0).inserted }
    }

    /// The author's followers who are listening here. Two ways to find them, whichever reads
    /// fewer rows: page through the author's followers keeping the listening ones, or ask which
    /// listening accounts follow the author (a celebrity with a million followers and a node with
    /// five thousand streams).
    private func followersListening(authorID: ID) async throws -> [ID] {
        let listening = registry.listenerCount
        guard listening > 0 else { return [] }
        let followers = try await services.feeds.users([authorID])[authorID]?.followersCount ?? 0
        if followers > listening {
            return try await services.store.followerIDs(of: authorID, among: registry.listenerIDs)
        }
        var found: [ID] = []
        var after: ID = 0
        let page = 5_000
        while true {
            let ids = try await services.store.followerIDs(of: authorID, after: after, limit: page)
            found += registry.listeningViewers(among: ids).map(\.userID)
            guard ids.count == page, let last = ids.last else { return found }
            after = last
        }
    }

    /// The listening members of the post's organization (directly or through a sub-organization):
    /// organization posts join their members' home feeds whether or not they follow the author.
    private func organizationMembersListening(organizationID: ID) async throws -> [ID] {
        let listeners = registry.listenerIDs
        var members: [ID] = []
        for start in stride(from: 0, to: listeners.count, by: 1_000) {
            let chunk = Array(listeners[start..<min(start + 1_000, listeners.count)])
            members += try await services.store.organizationMemberIDs(organizationID: organizationID, among: chunk)
        }
        return members
    }
}
