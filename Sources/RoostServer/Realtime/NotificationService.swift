import Foundation
import Logging
import Metrics
import RoostCore
import RoostStorage

/// Turns committed changes into stored notifications, off the request path: it drains the event
/// bus's notification queue in batches, so a burst of likes costs one transaction rather than one
/// per like, and publishes each stored notification to the recipient's streams.
///
/// A follow's notification is the exception: it is written in the follow's own transaction
/// (`UsersController.follow`), and the bus does not queue follows here.
///
/// Who is notified is `NotificationRules`'; whether they may see the post is the renderer's
/// (`PostVisibilityRule`), exactly as for a feed. A batch that fails is retried with the same ids
/// (the store's dedupe keys make that harmless) and dropped, counted, after a few attempts.
struct NotificationService {
    let services: AppServices
    let logger: Logger
    var maxAttempts = 4

    private let failures = Counter(label: RoostMetrics.notificationFailures)

    init(services: AppServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    /// Runs until the queue is finished (graceful shutdown: what is queued is still written) or
    /// the task is cancelled.
    func run() async {
        let queue = services.events.notificationQueue
        while true {
            var batch = await queue.next()
            if batch.isEmpty { return }
            // Gather what follows the first change for a moment: one transaction per window.
            let window = services.configuration.realtime.notificationBatchWindow
            if window > .zero, !queue.isFinished {
                try? await Task.sleep(for: window)
                batch += queue.drain()
            }
            // Large bursts are written in slices so one transaction stays short.
            for start in stride(from: 0, to: batch.count, by: 500) {
                await processWithRetry(Array(batch[start..<min(start + 500, batch.count)]))
            }
        }
    }

    private func processWithRetry(_ events: [DomainEvent]) async {
        var attempt = 1
        // Ids are assigned once, so a retry after a commit whose answer was lost stores nothing twice.
        var records: [NotificationRecord]?
        while true {
            do {
                if records == nil { records = try await notifications(for: events) }
                try await store(records ?? [], deletions: events)
                return
            } catch {
                if attempt >= maxAttempts || Task.isCancelled {
                    failures.increment(by: Int64(events.count))
                    logger.warning(
                        "notifications dropped after failures",
                        metadata: ["roost.events": "\(events.count)", "error": "\(String(reflecting: type(of: error)))"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(100 << attempt))
                attempt += 1
            }
        }
    }

    /// The notifications a batch of changes causes, for recipients who may see the post.
    func notifications(for events: [DomainEvent]) async throws -> [NotificationRecord] {
        let store = services.store
        // Look-ups the events do not carry: authors of comments replied to, mentioned accounts.
        var parentAuthors: [ID: ID] = [:]
        for case .commented(let comment, _) in events {
            if let parentID = comment.parentID, parentAuthors[parentID] == nil, let parent = try await store.comment(id: parentID) {
                parentAuthors[parentID] = parent.authorID
            }
        }
        let mentions = events.map(NotificationRules.mentionedUsernames(in:))
        let names = Array(Set(mentions.joined()))
        var accounts: [String: ID] = [:]
        for user in try await store.users(usernames: names) { accounts[user.username.lowercased()] = user.id }

        var drafts: [NotificationRules.Draft] = []
        for (event, mentioned) in zip(events, mentions) {
            var parentAuthor: ID?
            if case .commented(let comment, _) = event, let parentID = comment.parentID { parentAuthor = parentAuthors[parentID] }
            let direct = NotificationRules.drafts(for: event, parentCommentAuthorID: parentAuthor)
            drafts += direct
            drafts += NotificationRules.mentionDrafts(
                for: event, mentionedUserIDs: mentioned.compactMap { accounts[$0] }, alreadyNotified: direct)
        }
        guard !drafts.isEmpty else { return [] }

        // The one visibility rule, with each recipient as the viewer.
        let recipients = try await services.feeds.users(Array(Set(drafts.map(\.recipientID))))
        var allowed: [NotificationRules.Draft] = []
        for draft in drafts {
            guard let recipient = recipients[draft.recipientID] else { continue }
            if let post = draft.post {
                let viewer = Viewer(userID: recipient.id, isModerator: recipient.isModerator)
                guard try await !services.renderer.visible([post], to: viewer).isEmpty else { continue }
            }
            allowed.append(draft)
        }
        let now = services.clock.now()
        return allowed.map { NotificationRecord($0, id: services.ids.next(now: now), createdAt: now) }
    }

    private func store(_ records: [NotificationRecord], deletions events: [DomainEvent]) async throws {
        Self.announce(try await services.store.insertNotifications(records), services: services)
        for case .postDeleted(let postID, _) in events {
            try await services.store.deleteNotifications(postID: postID)
        }
    }

    /// Counts stored notifications and sends each to its recipient's streams.
    static func announce(_ stored: [NotificationRecord], services: AppServices) {
        for record in stored {
            Counter(label: RoostMetrics.notificationsCreated, dimensions: [("type", record.kind.rawValue)]).increment()
            services.events.publishToStreams(.notification(record))
        }
    }
}
