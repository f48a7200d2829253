import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// Applies the visibility rule to posts and hydrates them (author, counts, viewer flags) for a
/// response, in a constant number of store calls per page.
struct PostRenderer: Sendable {
    let store: any RoostStore
    /// Posts and authors come through the feed engine's caches.
    let feeds: FeedEngine

    /// The posts of `posts` the viewer may see, in order. Looks up follows only for followers-only
    /// posts and the viewer's organizations only for organization posts, always fresh from the
    /// store: leaving an organization or unfollowing takes effect on the next read.
    func visible(_ posts: [Post], to viewer: Viewer?) async throws -> [Post] {
        var followed: Set<ID> = []
        var organizations: Set<ID> = []
        if let viewer {
            let needFollow = Set(posts.filter { PostVisibilityRule.needsFollowCheck($0, viewer: viewer) }.map(\.authorID))
            let needOrganizations = posts.contains { PostVisibilityRule.needsOrganizationCheck($0, viewer: viewer) }
            // The common page (public posts only) asks the store nothing and starts no task.
            switch (needFollow.isEmpty, needOrganizations) {
            case (true, false):
                break
            case (false, false):
                followed = try await followedAuthors(viewer, among: needFollow)
            case (true, true):
                organizations = Set(try await store.organizationIDs(memberID: viewer.userID))
            case (false, true):
                async let follows = followedAuthors(viewer, among: needFollow)
                async let memberships = store.organizationIDs(memberID: viewer.userID)
                (followed, organizations) = (try await follows, Set(try await memberships))
            }
        }
        return PostVisibilityRule.filter(posts, viewer: viewer, followedAuthors: followed, organizations: organizations)
    }

    private func followedAuthors(_ viewer: Viewer, among authors: Set<ID>) async throws -> Set<ID> {
        Set(try await store.relationships(viewerID: viewer.userID, otherIDs: Array(authors)).filter { $0.value.following }.keys)
    }

    /// One post the viewer may see, or `notFound` — a hidden post looks exactly like a missing one.
    func visiblePost(_ id: ID, to viewer: Viewer?) async throws -> Post {
        guard let post = try await feeds.posts([id])[id], try await !visible([post], to: viewer).isEmpty else {
            throw RoostError.notFound
        }
        return post
    }

    /// Hydrated bodies; ranked feeds pass each post's score breakdown.
    /// - Parameter knownFlags: the viewer's flags when the caller knows them (a post it just
    ///   created has none), so the store is not asked.
    func bodies(_ posts: [Post], viewer: Viewer?, scores: [ID: ScoreBreakdown] = [:], knownFlags: [ID: ViewerPostFlags]? = nil)
        async throws -> [PostBody]
    {
        guard !posts.isEmpty else { return [] }
        let authorMap: [ID: User]
        let flagMap: [ID: ViewerPostFlags]
        if let viewer, knownFlags == nil {
            async let authors = feeds.users(Array(Set(posts.map(\.authorID))))
            async let flags = store.viewerFlags(userID: viewer.userID, postIDs: posts.map(\.id))
            (authorMap, flagMap) = try await (authors, flags)
        } else {
            // Nothing to overlap: a child task would cost more than it saves.
            (authorMap, flagMap) = (try await feeds.users(Array(Set(posts.map(\.authorID)))), knownFlags ?? [:])
        }
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

    /// A page of posts as the response bytes. Each post's JSON (everything but the per-viewer
    /// parts) is encoded once and cached; a page is those fragments spliced with the viewer's
    /// flags and scores. Re-encoding every post on every feed read was the hot path's main cost.
    /// - Parameter knownFlags: the viewer's flags already read (false ones included); only posts
    ///   missing from it are looked up.
    func page(
        _ posts: [Post], viewer: Viewer?, scores: [ID: ScoreBreakdown] = [:], knownFlags: [ID: ViewerPostFlags] = [:],
        nextCursor: String?
    ) async throws -> Response {
        JSONBody.response(
            bytes: try await pageBytes(posts, viewer: viewer, scores: scores, knownFlags: knownFlags, nextCursor: nextCursor), status: .ok)
    }

    /// The body `page` answers with.
    func pageBytes(
        _ posts: [Post], viewer: Viewer?, scores: [ID: ScoreBreakdown] = [:], knownFlags: [ID: ViewerPostFlags] = [:],
        nextCursor: String?
    ) async throws -> [UInt8] {
        var fragments: [ID: [UInt8]] = [:]
        var flagMap: [ID: ViewerPostFlags] = [:]
        if !posts.isEmpty {
            let byID = Dictionary(posts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            // Sequential on purpose: both are usually answered without a suspension (cache hits,
            // SQLite reads on this thread), and a child task costs more than it overlaps.
            if let viewer {
                flagMap = knownFlags
                let missing = posts.map(\.id).filter { knownFlags[$0] == nil }
                if !missing.isEmpty { flagMap.merge(try await store.viewerFlags(userID: viewer.userID, postIDs: missing)) { a, _ in a } }
            }
            fragments = try await feeds.postJSON.values(for: posts.map(\.id)) { [feeds] missing in
                let authors = try await feeds.users(Array(Set(missing.compactMap { byID[$0]?.authorID })))
                var encoded: [ID: [UInt8]] = [:]
                let encoder = JSONEncoder()
                for id in missing {
                    guard let post = byID[id] else { continue }
                    let author = authors[post.authorID].map { AuthorBody(user: $0) } ?? .missing(post.authorID)
                    var bytes = Array(try encoder.encode(PostBody(post: post, author: author, flags: nil)))
                    bytes.removeLast()  // the closing brace: viewer parts are appended per request
                    encoded[id] = bytes
                }
                return encoded
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(fragments.values.reduce(64) { $0 + $1.count + 40 })
        out += Array(#"{"items":["#.utf8)
        var first = true
        for post in posts {
            guard let fragment = fragments[post.id] else { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out += fragment
            let flags = flagMap[post.id] ?? ViewerPostFlags()
            out += Self.viewerParts[(flags.liked ? 1 : 0) + (flags.shared ? 2 : 0)]
            if let b = scores[post.id] {
                out += Array(
                    #","score":\#(Self.number(b.score)),"reasons":{"recency":\#(Self.number(b.recency)),"engagement":\#(Self.number(b.engagement)),"affinity":\#(Self.number(b.affinity)),"organization":\#(Self.number(b.organization))}"#
                        .utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        // Cursors are base64url: nothing in them needs escaping.
        let cursor = nextCursor.map { "\"\($0)\"" } ?? "null"
        out += Array(#"],"next_cursor":\#(cursor),"has_more":\#(nextCursor != nil)}"#.utf8)
        return out
    }

    /// The `viewer` member for each combination of flags (index: liked + 2 × shared), encoded
    /// once rather than interpolated for every post of every page.
    static let viewerParts: [[UInt8]] = [(false, false), (true, false), (false, true), (true, true)].map { liked, shared in
        Array(#","viewer":{"liked":\#(liked),"shared":\#(shared)}"#.utf8)
    }

    /// A JSON number; scores are finite by construction, but never emit NaN or infinity.
    static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "0"
    }

    func body(_ post: Post, viewer: Viewer?, knownFlags: ViewerPostFlags? = nil) async throws -> PostBody {
        // A single-element array always yields a single body.
        try await bodies([post], viewer: viewer, knownFlags: knownFlags.map { [post.id: $0] })[0]
    }

    func commentBodies(_ comments: [Comment]) async throws -> [CommentBody] {
        let authors = try await feeds.users(Array(Set(comments.map(\.authorID))))
        return comments.map { CommentBody(comment: $0, author: authors[$0.authorID].map { AuthorBody(user: $0) } ?? .missing($0.authorID)) }
    }
}
