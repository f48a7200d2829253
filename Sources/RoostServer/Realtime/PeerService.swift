import Logging
import RoostCore
import RoostStorage
import ServiceLifecycle

/// Keeps this node in step with the other nodes on its PostgreSQL: sends what `PeerLink` queued,
/// and applies what the others send, their invalidations to this node's caches (before their
/// events, so a client that reacts to an event reads the new state) and their events to this
/// node's streams. An ended login also leaves this node's revocation cache.
struct PeerService: Service {
    let services: AppServices
    let peers: PeerLink
    let logger: Logger

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await peers.runSender(logger: logger) }
            group.addTask {
                await peers.runListener(
                    logger: logger, reset: { [feeds = services.feeds] in feeds.forgetEverything() },
                    receive: { envelope in await apply(envelope) })
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    func apply(_ envelope: PeerEnvelope) async {
        services.feeds.apply(envelope)
        for event in envelope.events ?? [] {
            if let event = await realtimeEvent(event) { services.localEvents.publish(event) }
        }
    }

    /// The event as this node's streams take it: a post is read back (it was committed before its
    /// event was sent; one deleted since has nothing left to announce).
    private func realtimeEvent(_ event: PeerEvent) async -> RealtimeEvent? {
        switch event {
        case .postCreated(let id):
            do {
                return try await services.store.post(id: id).map { .postCreated($0) }
            } catch {
                logger.warning("could not read another node's new post", metadata: ["roost.post_id": "\(id)"])
                return nil
            }
        case .postDeleted(let postID, let authorID): return .postDeleted(postID: postID, authorID: authorID)
        case .postCounts(let postID, let likes, let comments, let shares):
            return .postCounts(postID: postID, likeCount: likes, commentCount: comments, shareCount: shares)
        case .notification(let record): return .notification(record)
        case .sessionEnded(let familyID):
            // Its access tokens stop working here now, not when this node's revocation cache ages.
            services.tokens.revokedFamilies.invalidate(familyID)
            return .sessionEnded(familyID: familyID)
        }
    }
}
