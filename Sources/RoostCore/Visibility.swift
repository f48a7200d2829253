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
        case .followers: return context.followsAuthor
        case .organization: return context.isOrganizationMember
        }
    }

    /// Whether the rule needs the follow relation for this post (saves a query for public posts).
    public static func needsFollowCheck(_ post: Post, viewer: Viewer?) -> Bool {
        post.visibility == .followers && viewer != nil && viewer?.userID != post.authorID
    }
}
