/// The one rule for who may see a post. Every path that shows a post (single fetch, each feed and
/// algorithm, comments, search, notifications, streams) asks this and nothing else, and a post the
/// viewer may not see is treated exactly like a missing one.
public enum PostVisibilityRule {
    /// What the rule needs to know about the viewer's relation to the post's author and organization.
    public struct Context: Sendable {
        public var viewer: Viewer?
        /// The viewer follows the post's author.
        public var followsAuthor: Bool
        /// The viewer is a member of the post's organization.
        public var isOrganizationMember: Bool

        public init(viewer: Viewer?, followsAuthor: Bool = false, isOrganizationMember: Bool = false) {
            self.viewer = viewer
            self.followsAuthor = followsAuthor
            self.isOrganizationMember = isOrganizationMember
        }
    }

    public static func canSee(_ post: Post, _ context: Context) -> Bool {
        let isAuthor = context.viewer?.userID == post.authorID
        let isModerator = context.viewer?.isModerator ?? false
        switch post.moderationStatus {
        case .approved: break
        case .pending: if !(isAuthor || isModerator) { return false }
        case .removed: if !isModerator { return false }
        }
        if isAuthor { return true }
        switch post.visibility {
        case .public: return true
        case .followers: return context.viewer != nil && context.followsAuthor
        case .organization: return context.viewer != nil && context.isOrganizationMember
        }
    }

    /// Whether the rule needs the follow relation for this post (saves a query for public posts).
    public static func needsFollowCheck(_ post: Post, viewer: Viewer?) -> Bool {
        post.visibility == .followers && viewer != nil && viewer?.userID != post.authorID
    }

    /// Whether the rule needs the viewer's organizations for this post.
    public static func needsOrganizationCheck(_ post: Post, viewer: Viewer?) -> Bool {
        post.visibility == .organization && viewer != nil && viewer?.userID != post.authorID
    }

    /// The rule over a batch, given what the viewer relates to: the authors they follow and the
    /// organizations they effectively belong to (a sub-organization's members belong to its
    /// ancestors too; see `OrganizationRules`). Order is kept.
    public static func filter(_ posts: [Post], viewer: Viewer?, followedAuthors: Set<ID>, organizations: Set<ID>) -> [Post] {
        posts.filter { post in
            canSee(
                post,
                Context(
                    viewer: viewer, followsAuthor: followedAuthors.contains(post.authorID),
                    isOrganizationMember: post.organizationID.map { organizations.contains($0) } ?? false))
        }
    }
}
