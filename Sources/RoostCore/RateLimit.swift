import Foundation

/// At most `limit` actions per `window` seconds.
public struct RateLimitRule: Sendable, Equatable {
    public var limit: Int
    public var window: TimeInterval

    public init(limit: Int, window: TimeInterval) {
        self.limit = limit
        self.window = window
    }

    /// Reads `COUNT/SECONDS`, e.g. `10/3600`.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let limit = Int(parts[0]), let window = TimeInterval(parts[1]), limit >= 0, window > 0, window.isFinite
        else { return nil }
        self.init(limit: limit, window: window)
    }
}

/// What a rate limit guards; each has its own rule and counts per user or per client address.
public enum RateLimitCategory: String, Sendable, CaseIterable, Hashable {
    /// `POST /posts`, per user.
    case posts
    /// `POST /posts/{id}/comments`, per user.
    case comments
    /// `PUT` and `DELETE /posts/{id}/like`, per user.
    case likes
    /// `PUT` and `DELETE /users/{id}/follow`, per user.
    case follows
    /// `POST /reports`, per user.
    case reports
    /// `POST /auth/register`, per client address.
    case registrations
    /// Every other request without a valid token, per client address.
    case anonymous
    /// Failed logins per account (against password guessing on one account).
    case loginAccount = "login_account"
    /// Failed logins per client address (against one client guessing across accounts).
    case loginAddress = "login_address"
}

/// The rules in force (configuration). `enabled = false` turns every limit off, for benchmarks
/// and load tests.
public struct RateLimitPolicy: Sendable, Equatable {
    public var enabled = true
    /// Whether the client address is the last entry of `X-Forwarded-For` (the one the proxy in front
    /// of Roost added) instead of the TCP peer. Only behind a proxy that sets the header: otherwise any
    /// client could pick its own address.
    public var trustForwardedFor = false
    public var rules: [RateLimitCategory: RateLimitRule] = [
        .posts: RateLimitRule(limit: 10, window: 3600),
        .comments: RateLimitRule(limit: 50, window: 3600),
        .likes: RateLimitRule(limit: 1000, window: 3600),
        .follows: RateLimitRule(limit: 400, window: 24 * 3600),
        .reports: RateLimitRule(limit: 30, window: 3600),
        .registrations: RateLimitRule(limit: 100, window: 3600),
        .anonymous: RateLimitRule(limit: 300, window: 60),
        .loginAccount: RateLimitRule(limit: 10, window: 15 * 60),
        .loginAddress: RateLimitRule(limit: 50, window: 15 * 60),
    ]

    public init() {}

    public subscript(category: RateLimitCategory) -> RateLimitRule? {
        get { rules[category] }
        set { rules[category] = newValue }
    }

    /// Applies `NAME=COUNT/SECONDS` (e.g. `posts=20/3600`), the form of `--rate-limit`.
    public mutating func apply(override text: String) throws(RoostError) {
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let category = RateLimitCategory(rawValue: parts[0].trimmingCharacters(in: .whitespaces)),
            let rule = RateLimitRule(parsing: parts[1].trimmingCharacters(in: .whitespaces))
        else {
            let names = RateLimitCategory.allCases.map(\.rawValue).joined(separator: ", ")
            throw .validation(field: "rate_limit", message: "expected NAME=COUNT/SECONDS with NAME one of \(names)")
        }
        rules[category] = rule
    }
}

/// One key's current window: fixed windows that start at the key's first action, so clients do
/// not all reset at the same instant.
public struct RateWindow: Sendable, Equatable {
    public var start: Date
    public var count: Int

    public init(start: Date, count: Int) {
        self.start = start
        self.count = count
    }
}

/// The answer to one action, and what the `X-RateLimit-*` headers say.
public struct RateLimitDecision: Sendable, Equatable {
    public var allowed: Bool
    public var limit: Int
    public var remaining: Int
    /// Whole seconds until the window resets (at least 1): `X-RateLimit-Reset`, and `Retry-After` when refused.
    public var resetAfter: Int

    public init(allowed: Bool, limit: Int, remaining: Int, resetAfter: Int) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetAfter = resetAfter
    }
}

/// The arithmetic of fixed-window rate limiting, pure so it can be tested with any clock.
public enum RateLimitMath {
    /// The window in force at `now`: the stored one, or a fresh one when it has ended.
    public static func current(_ window: RateWindow?, rule: RateLimitRule, now: Date) -> RateWindow {
        guard let window, now < window.start.addingTimeInterval(rule.window), now >= window.start else {
            return RateWindow(start: now, count: 0)
        }
        return window
    }

    /// Counts one action if the window has room. Returns the window to store and the decision.
    public static func hit(_ window: RateWindow?, rule: RateLimitRule, now: Date) -> (RateWindow, RateLimitDecision) {
        var window = current(window, rule: rule, now: now)
        let allowed = window.count < rule.limit
        if allowed { window.count += 1 }
        return (window, decision(window, rule: rule, now: now, allowed: allowed))
    }

    /// The decision an action would get now, without counting it.
    public static func peek(_ window: RateWindow?, rule: RateLimitRule, now: Date) -> RateLimitDecision {
        let window = current(window, rule: rule, now: now)
        return decision(window, rule: rule, now: now, allowed: window.count < rule.limit)
    }

    static func decision(_ window: RateWindow, rule: RateLimitRule, now: Date, allowed: Bool) -> RateLimitDecision {
        let reset = window.start.addingTimeInterval(rule.window).timeIntervalSince(now)
        return RateLimitDecision(
            allowed: allowed, limit: rule.limit, remaining: max(0, rule.limit - window.count),
            resetAfter: max(1, Int(reset.rounded(.up))))
    }

    /// Whether a stored window can be forgotten (it has ended).
    public static func isExpired(_ window: RateWindow, rule: RateLimitRule, now: Date) -> Bool {
        now >= window.start.addingTimeInterval(rule.window)
    }
}
