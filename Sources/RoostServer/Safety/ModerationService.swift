import Foundation
import Metrics
import RoostCore
import RoostStorage

/// Gives every new or edited post its moderation status (the pure `ModerationPipeline` fed with
/// what the store knows about the author), and applies decisions so that they take effect
/// everywhere at once: the read path hides what the visibility rule hides, this node's caches
/// forget the post, and streams hear that it left (or, once approved, entered) the feeds.
struct ModerationService: Sendable {
    let store: any RoostStore
    let clock: any RoostClock
    let ids: IDGenerator
    let policy: ModerationPolicy
    let feeds: FeedEngine
    let events: EventBus

    /// The verdict for a post about to be created by `authorID`.
    func verdict(forNew draft: Post) async throws -> ModerationVerdict {
        let now = clock.now()
        // Sequential: both are point reads (on SQLite on this thread); child tasks cost more.
        let author = try await store.user(id: draft.authorID)
        // The author's newest posts cover the duplicate window unless they post more than this
        // often, which the posting rate limit does not allow.
        let recent = try await store.recentPostTexts(authorID: draft.authorID, limit: 50)
        let since = now.addingTimeInterval(-policy.duplicateWindow)
        let subject = ModerationSubject(
            text: draft.text, title: draft.title, description: draft.description, tags: draft.tags,
            authorCreatedAt: author?.createdAt ?? now, now: now,
            recentTexts: recent.filter { $0.createdAt >= since }.map(\.text))
        return ModerationPipeline.evaluate(subject, policy: policy)
    }

    /// The verdict for a post as it reads after an edit (no duplicate check: it is the same post).
    func verdict(forEdited post: Post) async throws -> ModerationVerdict {
        let now = clock.now()
        let author = try await store.user(id: post.authorID)
        let subject = ModerationSubject(
            text: post.text, title: post.title, description: post.description, tags: post.tags,
            authorCreatedAt: author?.createdAt ?? now, now: now)
        return ModerationPipeline.evaluate(subject, policy: policy)
    }

    /// Audits the automatic verdict a new post was created with (approved posts need no record).
    func recordAutomatic(_ post: Post, verdict: ModerationVerdict) async throws {
        Counter(label: RoostMetrics.moderationVerdicts, dimensions: [("status", verdict.status.rawValue)]).increment()
        guard verdict.status != .approved else { return }
        try await store.recordDecision(
            ModerationDecision(
                id: ids.next(now: clock.now()), target: .post(post.id), moderatorID: nil,
                action: verdict.status == .removed ? .remove : .hold, reason: verdict.reason, previousStatus: nil,
                newStatus: verdict.status, createdAt: clock.now()))
    }

    /// Re-moderates an edited post. Edits only ever tighten a status automatically (a held post
    /// is not approved by editing it). Returns the post as it stands afterwards.
    func afterEdit(_ post: Post) async throws -> Post {
        let verdict = try await verdict(forEdited: post)
        let action: ModerationAction = verdict.status == .removed ? .remove : .hold
        guard ModerationPipeline.isStricter(verdict.status, than: post.moderationStatus),
            let decided = try await decide(postID: post.id, action: action, moderatorID: nil, reason: verdict.reason.map { "edited: \($0)" })
        else { return post }
        return decided.post
    }

    /// Applies a decision about a post (a moderator's, or an automatic hold) everywhere.
    /// nil when the post does not exist.
    func decide(postID: ID, action: ModerationAction, moderatorID: ID?, reason: String?) async throws
        -> (post: Post, decision: ModerationDecision)?
    {
        let now = clock.now()
        let decision = ModerationDecision(
            id: ids.next(now: now), target: .post(postID), moderatorID: moderatorID, action: action, reason: reason, createdAt: now)
        guard let result = try await store.moderatePost(decision) else { return nil }
        let post = result.post
        feeds.invalidate(changedPost: post.id)
        if result.decision.previousStatus != result.decision.newStatus {
            if post.moderationStatus == .approved {
                // Held posts were never announced; approval is when they enter the feeds.
                events.publish(.postCreated(post))
            } else {
                events.publish(.postDeleted(postID: post.id, authorID: post.authorID))
            }
        }
        Counter(
            label: RoostMetrics.moderationDecisions, dimensions: [("action", action.rawValue), ("by", moderatorID == nil ? "auto" : "moderator")]
        ).increment()
        return result
    }

    /// Audits a moderator's deletion of someone else's post or comment (`DELETE /posts/{id}`,
    /// `DELETE /comments/{id}`) and closes its reports.
    func recordDeletion(_ target: ModerationTarget, moderatorID: ID) async throws {
        let now = clock.now()
        try await store.recordDecision(
            ModerationDecision(id: ids.next(now: now), target: target, moderatorID: moderatorID, action: .remove, reason: "deleted", createdAt: now))
    }

    /// Holds a post for review once enough distinct users have reported it.
    func reportFiled(_ filing: ReportFiling) async throws {
        Counter(label: RoostMetrics.reportsFiled, dimensions: [("kind", filing.report.target.kind)]).increment()
        guard filing.isNew, case .post(let postID) = filing.report.target, filing.openReports >= policy.reportsToHold,
            try await store.post(id: postID)?.moderationStatus == .approved
        else { return }
        _ = try await decide(postID: postID, action: .hold, moderatorID: nil, reason: "reported by \(filing.openReports) users")
    }
}
