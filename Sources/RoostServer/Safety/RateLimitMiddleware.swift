import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import RoostCore

/// Applies the rate limits of `RateLimitPolicy` to the routes they guard: per user for posting,
/// commenting, liking, following and reporting; per client address for sign-ups and for every
/// request made without a token. Guarded responses carry `X-RateLimit-Limit`,
/// `X-RateLimit-Remaining` and `X-RateLimit-Reset`; a refused one is `429 rate_limited` with
/// `Retry-After`. Every attempt counts, whatever its outcome.
///
/// Runs after `AuthenticationMiddleware` (it needs the session) and, like all route middleware,
/// after routing, so it reads the matched route from `context.endpointPath`.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = RoostRequestContext
    let limiter: RateLimiter
    let policy: RateLimitPolicy

    // Valid header field names, so the initializers cannot fail.
    static let limitHeader = HTTPField.Name("X-RateLimit-Limit")!
    static let remainingHeader = HTTPField.Name("X-RateLimit-Remaining")!
    static let resetHeader = HTTPField.Name("X-RateLimit-Reset")!

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if policy.trustForwardedFor, let forwarded = request.headers[Self.forwardedFor].flatMap(Self.lastAddress) {
            // Downstream (login limits, anonymous view counting) sees the same client address.
            context.remoteAddress = forwarded
        }
        guard policy.enabled,
            let (category, key) = Self.classify(method: request.method, endpoint: context.endpointPath, context: context),
            let rule = policy[category]
        else { return try await next(request, context) }
        let decision = limiter.hit(key, rule: rule)
        guard decision.allowed else {
            Counter(label: RoostMetrics.rateLimited, dimensions: [("category", category.rawValue)]).increment()
            var refused = ErrorMiddleware.response(for: .rateLimited(retryAfter: decision.resetAfter))
            Self.annotate(&refused, decision)
            return refused
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as RoostError {
            // Errors are answered here rather than by `ErrorMiddleware` so they keep the headers.
            response = ErrorMiddleware.response(for: error)
        }
        Self.annotate(&response, decision)
        return response
    }

    /// The last address of an `X-Forwarded-For` list, if it looks like an IP address.
    static func lastAddress(_ header: String) -> String? {
        guard let last = header.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), (1...64).contains(last.utf8.count),
            last.unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." })
        else { return nil }
        return last
    }

    static func annotate(_ response: inout Response, _ decision: RateLimitDecision) {
        response.headers[limitHeader] = String(decision.limit)
        response.headers[remainingHeader] = String(decision.remaining)
        response.headers[resetHeader] = String(decision.resetAfter)
    }

    /// The limit a request falls under and the key it counts against, or nil when none applies.
    static func classify(method: HTTPRequest.Method, endpoint: String?, context: Context) -> (RateLimitCategory, String)? {
        let address = "a:\(context.remoteAddress ?? "unknown")"
        if method == .post, endpoint == "/api/v1/auth/register" {
            return (.registrations, "\(RateLimitCategory.registrations.rawValue):\(address)")
        }
        guard let viewer = context.viewer else {
            return (.anonymous, "\(RateLimitCategory.anonymous.rawValue):\(address)")
        }
        let category: RateLimitCategory
        switch (method, endpoint) {
        case (.post, "/api/v1/posts"): category = .posts
        case (.post, "/api/v1/posts/{id}/comments"): category = .comments
        case (.put, "/api/v1/posts/{id}/like"), (.delete, "/api/v1/posts/{id}/like"): category = .likes
        case (.put, "/api/v1/users/{ref}/follow"), (.delete, "/api/v1/users/{ref}/follow"): category = .follows
        case (.post, "/api/v1/reports"): category = .reports
        default: return nil
        }
        return (category, "\(category.rawValue):u:\(viewer.userID)")
    }
}

/// Limits failed logins per account and per client address against password guessing. Checked
/// after the account is looked up but before the (slow) password verification, so a refused
/// attempt costs no bcrypt round.
struct LoginThrottle: Sendable {
    let limiter: RateLimiter
    let policy: RateLimitPolicy

    /// The account a login attempt counts against: the account found (so its username and its
    /// email share one budget), or the login as typed when none was found — refused the same way,
    /// so the limit says nothing about which logins exist.
    static func account(login: String, userID: ID?) -> String {
        userID.map { "id:\($0)" } ?? "login:\(login.lowercased())"
    }

    private func keys(account: String, address: String?) -> [(RateLimitCategory, String)] {
        [
            (.loginAccount, "\(RateLimitCategory.loginAccount.rawValue):\(account)"),
            (.loginAddress, "\(RateLimitCategory.loginAddress.rawValue):\(address ?? "unknown")"),
        ]
    }

    /// Throws `rate_limited` while either the account or the address has used up its failures.
    func check(account: String, address: String?) throws(RoostError) {
        guard policy.enabled else { return }
        var retryAfter = 0
        for (category, key) in keys(account: account, address: address) {
            guard let rule = policy[category] else { continue }
            let decision = limiter.peek(key, rule: rule)
            if !decision.allowed { retryAfter = max(retryAfter, decision.resetAfter) }
        }
        if retryAfter > 0 {
            Counter(label: RoostMetrics.rateLimited, dimensions: [("category", "login")]).increment()
            throw .rateLimited(retryAfter: retryAfter)
        }
    }

    func recordFailure(account: String, address: String?) {
        guard policy.enabled else { return }
        for (category, key) in keys(account: account, address: address) {
            if let rule = policy[category] { _ = limiter.hit(key, rule: rule) }
        }
    }

    /// The account's failures are forgotten after a successful login; the address's are not, so a
    /// client cannot launder guesses at other accounts through logins to its own.
    func recordSuccess(account: String) {
        limiter.reset("\(RateLimitCategory.loginAccount.rawValue):\(account)")
    }
}
