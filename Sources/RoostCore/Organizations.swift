import Foundation

// MARK: - Organizations

/// A university, a company, or a department under another organization.
public enum OrganizationKind: String, Sendable, Codable, CaseIterable {
    case university
    case company
    case department
}

public enum OrganizationRole: String, Sendable, Codable, CaseIterable {
    case admin
    case member
}

public struct Organization: Sendable, Equatable {
    public var id: ID
    public var name: String
    public var kind: OrganizationKind
    /// The organization this one belongs to (a department's university); nil for a top-level one.
    public var parentID: ID?
    public var createdByID: ID
    /// Direct members (members of sub-organizations are not counted here).
    public var memberCount: Int
    public var createdAt: Date

    public init(
        id: ID, name: String, kind: OrganizationKind, parentID: ID? = nil, createdByID: ID, memberCount: Int = 0, createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.parentID = parentID
        self.createdByID = createdByID
        self.memberCount = memberCount
        self.createdAt = createdAt
    }
}

/// One user's direct membership of one organization.
public struct Membership: Sendable, Equatable {
    public var organizationID: ID
    public var userID: ID
    public var role: OrganizationRole
    /// Time-ordered; the keyset position of the member in the organization's member list.
    public var id: ID
    public var createdAt: Date

    public init(organizationID: ID, userID: ID, role: OrganizationRole, id: ID, createdAt: Date) {
        self.organizationID = organizationID
        self.userID = userID
        self.role = role
        self.id = id
        self.createdAt = createdAt
    }
}

/// The rules of organization membership and administration, kept pure so every path agrees.
///
/// Organizations form a tree (a department under a university). Membership flows *up*: a member
/// of a department is a member of its university (they see university-only posts), but not the
/// other way round (a university member does not see a department's private posts). Administration
/// flows *down*: an admin of a university administers its departments.
public enum OrganizationRules {
    /// How deep the tree may grow; bounds every walk up the ancestry.
    public static let maxDepth = 8
    public static let nameRange = 1...100

    /// - Parameters:
    ///   - ancestry: the organization itself first, then its parent, grandparent, …
    ///   - roles: the user's direct roles, by organization.
    public static func isAdmin(ancestry: [ID], roles: [ID: OrganizationRole]) -> Bool {
        ancestry.contains { roles[$0] == .admin }
    }

    /// Whether `organizationID` is among the organizations a user effectively belongs to
    /// (`effective` as returned by `SafetyStore.organizationIDs(memberID:)`).
    public static func isMember(of organizationID: ID, effective: some Collection<ID>) -> Bool {
        effective.contains(organizationID)
    }

    /// A department needs a parent; the tree must not grow deeper than `maxDepth`.
    /// - Parameter parentAncestry: the parent's ancestry (parent first), empty without a parent.
    public static func validateNew(kind: OrganizationKind, parentAncestry: [ID], hasParent: Bool) throws(RoostError) {
        if kind == .department && !hasParent {
            throw .validation(field: "parent_id", message: "a department needs parent_id")
        }
        if parentAncestry.count >= maxDepth {
            throw .validation(field: "parent_id", message: "organizations nest at most \(maxDepth) levels deep")
        }
    }
}
