import Foundation
import RoostCore
import RoostStorage

/// Applies the visibility rule to posts and hydrates them (author, counts, viewer flags) for a
/// response, in a constant number of store calls per page.
struct PostRenderer: Sendable {
    let store: any RoostStore
    /// Posts and authors come through the feed engine's caches.
    let feeds: FeedEngine

    /// The posts of `posts` the viewer may see, in order. Looks up follows only for followers-only posts.
    func visible(_ posts: [Post], to viewer: Viewer?) async throws -> [Post] {
        let needFollow = Set(posts.filter { PostVisibilityRule.needsFollowCheck($0, viewer: viewer) }.map(\.authorID))
        var follows: [ID: Relationship] = [:]
        if let viewer, !needFollow.isEmpty {
            follows = try await store.relationships(viewerID: viewer.userID, otherIDs: Array(needFollow))
        }
        return posts.filter { post in
            PostVisibilityRule.canSee(
                post,
                .init(viewer: viewer, followsAuthor: follows[post.authorID]?.following ?? false, isOrganizationMember: false))
        }
    }

    /// One post the viewer may see, or `notFound` — a hidden post looks exactly like a missing one.
    func visiblePost(_ id: ID, to viewer: Viewer?) async throws -> Post {
        guard let post = try await feeds.posts([id])[id], try await !visible([post], to: viewer).isEmpty else {
            throw RoostError.notFound
        }
        return post
    }

    /// Hydrated bodies; ranked feeds pass each post's score breakdown.
    func bodies(_ posts: [Post], viewer: Viewer?, scores: [ID: ScoreBreakdown] = [:]) async throws -> [PostBody] {
        guard !posts.isEmpty else { return [] }
        async let authors = feeds.users(Array(Set(posts.map(\.authorID))))
        async let flags: [ID: ViewerPostFlags] =
            if let viewer { store.viewerFlags(userID: viewer.userID, postIDs: posts.map(\.id)) } else { [:] }
        let (authorMap, flagMap) = try await (authors, flags)
        return posts.map { post in
            let breakdown = scores[post.id]
            return PostBody(
                post: post, author: authorMap[post.authorID].map { AuthorBody(user: $0) } ?? .missing(post.authorID),
                flags: flagMap[post.id] ?? ViewerPostFlags(), score: breakdown?.score,
                reasons: breakdown.map {
                    ScoreReasons(recency: $0.recency, engagement: $0.engagement, affinity: $0.affinity, organization: $0.organization)
                })
        }
    }

    func body(_ post: Post, viewer: Viewer?) async throws -> PostBody {
        // A single-element array always yields a single body.
        try await bodies([post], viewer: viewer)[0]
    }

    func commentBodies(_ comments: [Comment]) async throws -> [CommentBody] {
        let authors = try await feeds.users(Array(Set(comments.map(\.authorID))))
        return comments.map { CommentBody(comment: $0, author: authors[$0.authorID].map { AuthorBody(user: $0) } ?? .missing($0.authorID)) }
    }
}
