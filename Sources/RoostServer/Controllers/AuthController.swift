import Foundation
import Hummingbird
import RoostCore
import RoostStorage

/// `/auth/*`: register, login, refresh-token rotation and logout.
struct AuthController {
    let services: AppServices

    struct RegisterRequest: Decodable {
        var username: String
        var email: String
        var password: String
        var displayName: String?

        enum CodingKeys: String, CodingKey {
            case username, email, password
            case displayName = "display_name"
        }
    }

    struct LoginRequest: Decodable {
        var login: String
        var password: String
    }

    struct RefreshRequest: Decodable {
        var refreshToken: String

        enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }
    }

    func addRoutes(to group: RouterGroup<RoostRequestContext>) {
        group.post("auth/register", use: register)
        group.post("auth/login", use: login)
        group.post("auth/refresh", use: refresh)
        group.post("auth/logout", use: logout)
    }

    @Sendable func register(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(RegisterRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        let username = try Validation.username(body.username)
        let email = try Validation.email(body.email)
        let password = try Validation.password(body.password)
        let displayName =
            try Validation.optionalText(body.displayName, field: "display_name", max: Validation.displayNameMax) ?? username
        let hash = try await services.tokens.hashPassword(password)
        let user = try await services.store.createUser(
            NewUser(
                id: services.ids.next(), username: username, email: email, displayName: displayName, passwordHash: hash,
                createdAt: services.clock.now()))
        let tokens = try await services.tokens.issue(for: user)
        return try JSONBody.response(authBody(user, tokens), status: .created)
    }

    @Sendable func login(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(LoginRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        // A login that could not be a username or an email is simply unknown (no store round trip).
        let plausible = body.login.utf8.count <= 254 && !body.login.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        let credentials = plausible ? try await services.store.credentials(login: body.login) : nil
        // Password guessing: refused before the password is even checked once an account or a
        // client address has used up its failures.
        let account = LoginThrottle.account(login: body.login, userID: credentials?.user.id)
        try services.loginThrottle.check(account: account, address: context.remoteAddress)
        guard try await services.tokens.verifyPassword(body.password, hash: credentials?.passwordHash), let user = credentials?.user else {
            services.loginThrottle.recordFailure(account: account, address: context.remoteAddress)
            throw RoostError.unauthorized("wrong login or password")
        }
        services.loginThrottle.recordSuccess(account: account)
        return try JSONBody.response(authBody(user, try await services.tokens.issue(for: user)))
    }

    @Sendable func refresh(_ request: Request, context: RoostRequestContext) async throws -> Response {
        let body = try await JSONBody.decode(RefreshRequest.self, from: request, context: context, limit: services.configuration.maxBodyBytes)
        guard body.refreshToken.utf8.count <= 256 else { throw RoostError.unauthorized("refresh token is invalid") }
        let (user, tokens) = try await services.tokens.refresh(body.refreshToken)
        return try JSONBody.response(authBody(user, tokens))
    }

    @Sendable func logout(_ request: Request, context: RoostRequestContext) async throws -> Response {
        _ = try context.requireViewer()
        // The session is known from the access token; the whole refresh family ends with it.
        if let family = context.session?.familyID {
            try await services.tokens.revoke(familyID: family)
            services.events.sessionEnded(familyID: family)
        }
        return Response(status: .noContent)
    }

    private func authBody(_ user: User, _ tokens: TokenPair) -> AuthBody {
        AuthBody(
            user: UserBody(user: user, relationship: nil, includeEmail: true), accessToken: tokens.accessToken,
            refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn)
    }
}
