import Hummingbird
import RoostCore

/// The parts of a list request every list shares: `?limit=`, `?cursor=` (verified against the
/// list's scope) and the feed filters.
struct ListQuery: Sendable {
    var limit: Int
    var position: CursorCodec.Position?
    /// The list's scope including the viewer: encode every next cursor with this.
    let scope: String

    /// - Parameter scope: the list (endpoint, its subject and filters); the viewer is added here,
    ///   so every cursor is bound to the viewer it was issued to.
    init(_ request: Request, context: RoostRequestContext, codec: CursorCodec, scope: String) throws {
        let query = request.uri.queryParameters
        self.limit = try PageLimit.parse(query.get("limit"))
        self.scope = "\(scope)|viewer=\(context.viewer?.userID ?? 0)"
        if let cursor = query.get("cursor"), !cursor.isEmpty {
            self.position = try codec.decode(cursor, scope: self.scope)
        }
    }

    /// The last id shown, for chronological lists.
    var afterID: ID? {
        guard let value = position?.values.first, value >= 0 else { return nil }
        return ID(value)
    }

    func cursor(after id: ID?, codec: CursorCodec) -> String? {
        id.map { codec.encode(.init(values: [Int64($0)]), scope: scope) }
    }
}

extension Request {
    /// `?tags=a,b&asset_type=x`, validated like post fields.
    func feedFilter() throws -> FeedFilter {
        let query = uri.queryParameters
        var tags: [String] = []
        if let raw = query.get("tags"), !raw.isEmpty {
            tags = try Validation.tags(raw.split(separator: ",", omittingEmptySubsequences: true).map(String.init))
        }
        return FeedFilter(tags: tags, assetType: try Validation.assetType(query.get("asset_type")))
    }
}

extension FeedFilter {
    /// Part of a cursor scope: a cursor from a differently filtered list is rejected.
    var scopeKey: String { "t=\(tags.joined(separator: ","))|a=\(assetType ?? "")" }
}

extension RoostRequestContext {
    /// A numeric id path parameter; malformed ids are 404 like unknown ones (the contract).
    func pathID(_ name: String = "id") throws -> ID {
        guard let raw = parameters.get(name), let id = Validation.id(raw) else { throw RoostError.notFound }
        return id
    }
}
