import Hummingbird
import Logging

/// Logs each request's method and path, never its query string: `?access_token=` carries a
/// bearer token (streams, and any endpoint), and Hummingbird's `LogRequestsMiddleware` logs the
/// whole URI. Headers are not logged either (`Authorization`).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = RoostRequestContext
    let level: Logger.Level

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        context.logger.log(
            level: level, "Request",
            metadata: ["hb.request.path": .string(request.uri.path), "hb.request.method": .string(request.method.rawValue)])
        return try await next(request, context)
    }
}
