import Hummingbird
import NIOCore
import RoostCore

/// Per-request state: the authenticated session (if any) and the peer address for anonymous rate keys.
public struct RoostRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthenticationMiddleware` when a valid bearer token came with the request.
    public var session: Session?
    public var remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    public var viewer: Viewer? { session?.viewer }

    /// The viewer of an (auth) endpoint; 401 when the request is anonymous.
    public func requireViewer() throws(RoostError) -> Viewer {
        guard let viewer = session?.viewer else { throw .unauthorized("authentication required") }
        return viewer
    }
}
