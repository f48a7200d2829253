import Crypto
import Foundation
import HummingbirdBcrypt
import JWTKit
import NIOPosix
import RoostCore
import RoostStorage
import Synchronization

/// The claims of a Roost access token (HS256). `fam` ties the token to its login's refresh-token
/// family so logout can end the session's streams.
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var fam: String
    var mod: Bool

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
    }
}

/// An authenticated session as the HTTP layer sees it.
public struct Session: Sendable, Equatable {
    public var viewer: Viewer
    public var familyID: String
}

/// A fresh access/refresh pair.
struct TokenPair: Sendable {
    var accessToken: String
    var refreshToken: String
    var expiresIn: Int
}

/// Issues and checks tokens and passwords. Password hashing runs on NIO's thread pool because
/// bcrypt is deliberately slow and must not stall the event loops.
public struct TokenService: Sendable {
    let keys: JWTKeyCollection
    let store: any RoostStore
    /// Whether a login's refresh family was revoked (logout, reuse). Access tokens are checked
    /// against it, so logging out ends the session everywhere within the cache's few seconds.
    let revokedFamilies = TTLCache<String, Bool>(name: "sessions", ttl: .seconds(5), capacity: 100_000)
    /// Access tokens whose signature and claims were checked (see `VerifiedTokens`).
    let verifiedTokens = VerifiedTokens(capacity: 100_000)
    let configuration: RoostConfiguration
    let clock: any RoostClock

    init(configuration: RoostConfiguration, store: any RoostStore, clock: any RoostClock) async {
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: configuration.jwtSecret), digestAlgorithm: .sha256)
        self.store = store
        self.configuration = configuration
        self.clock = clock
    }

    // MARK: Passwords

    func hashPassword(_ password: String) async throws -> String {
        let cost = configuration.bcryptCost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// A hash for logins of unknown accounts, so a wrong username costs as much time as a wrong password.
    static let dummyHash = Bcrypt.hash("roost-dummy-password", cost: 4)

    func verifyPassword(_ password: String, hash: String?) async throws -> Bool {
        let target = hash ?? Self.dummyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: target) }
        return matches && hash != nil
    }

    // MARK: Tokens

    /// Signs an access token for `user` in `familyID`.
    func accessToken(for user: User, familyID: String) async throws -> String {
        let now = clock.now()
        let claims = AccessClaims(
            sub: SubjectClaim(value: String(user.id)),
            exp: ExpirationClaim(value: now.addingTimeInterval(configuration.accessTokenLifetime)),
            iat: IssuedAtClaim(value: now), fam: familyID, mod: user.isModerator)
        return try await keys.sign(claims)
    }

    /// Starts a new login: a new refresh-token family.
    func issue(for user: User) async throws -> TokenPair {
        try await issue(for: user, familyID: Self.randomToken(bytes: 16))
    }

    private func issue(for user: User, familyID: String) async throws -> TokenPair {
        let refresh = Self.randomToken(bytes: 32)
        try await store.insertRefreshToken(record(refresh, familyID: familyID, userID: user.id))
        return TokenPair(
            accessToken: try await accessToken(for: user, familyID: familyID), refreshToken: refresh,
            expiresIn: Int(configuration.accessTokenLifetime))
    }

    private func record(_ token: String, familyID: String, userID: ID) -> RefreshTokenRecord {
        RefreshTokenRecord(
            tokenHash: Self.digest(token), familyID: familyID, userID: userID,
            expiresAt: clock.now().addingTimeInterval(configuration.refreshTokenLifetime))
    }

    /// Rotates a refresh token; a reused token revokes its family and fails.
    func refresh(_ token: String) async throws -> (User, TokenPair) {
        let next = Self.randomToken(bytes: 32)
        let placeholder = record(next, familyID: "", userID: 0)
        let outcome = try await store.rotateRefreshToken(hash: Self.digest(token), replacement: placeholder, now: clock.now())
        guard case .rotated(let userID, let family) = outcome, let user = try await store.user(id: userID) else {
            throw RoostError.unauthorized("refresh token is invalid, expired or already used")
        }
        let access = try await accessToken(for: user, familyID: family)
        return (user, TokenPair(accessToken: access, refreshToken: next, expiresIn: Int(configuration.accessTokenLifetime)))
    }

    /// Checks a bearer token. Throws `unauthorized` for anything but a valid, unexpired token.
    func session(fromBearer token: String) async throws -> Session {
        guard token.utf8.count < 4096, let claims = await verifiedClaims(token), let userID = Validation.id(claims.sub.value) else {
            throw RoostError.unauthorized("access token is invalid or expired")
        }
        let family = claims.fam
        let revoked = try await revokedFamilies.values(for: [family]) { [store] keys in
            [keys[0]: try await store.isRefreshFamilyRevoked(familyID: keys[0])]
        }[family] ?? false
        guard !revoked else { throw RoostError.unauthorized("session has ended") }
        return Session(viewer: Viewer(userID: userID, isModerator: claims.mod), familyID: family)
    }

    private func verifiedClaims(_ token: String) async -> AccessClaims? {
        if let claims = verifiedTokens.claims(token, now: Date()) { return claims }
        guard let claims = try? await keys.verify(token, as: AccessClaims.self) else { return nil }
        verifiedTokens.store(token, claims)
        return claims
    }

    /// Ends a login: its refresh tokens stop working and so do its access tokens.
    func revoke(familyID: String) async throws {
        try await store.revokeRefreshFamily(familyID: familyID, now: clock.now())
        revokedFamilies.invalidate(familyID)
    }

    // MARK: Helpers

    static func randomToken(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let raw = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(raw).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Refresh tokens are stored only as SHA-256 digests: a database leak does not leak sessions.
    static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Access tokens already verified (signature and claims), so a client's later requests skip the
/// HMAC and the JSON decoding of its token (a few percent of a home read's CPU in profiles). An
/// entry counts only until the token's own expiry (as JWTKit checks it, against the system time);
/// revocation is still checked on every request. Holds at most `capacity` tokens and starts over
/// when full. Only tokens that verified are stored, so a client cannot fill it with forgeries.
final class VerifiedTokens: Sendable {
    private let entries = Mutex<[String: AccessClaims]>([:])
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    func claims(_ token: String, now: Date) -> AccessClaims? {
        guard let claims = entries.withLock({ $0[token] }), claims.exp.value > now else { return nil }
        return claims
    }

    func store(_ token: String, _ claims: AccessClaims) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[token] = claims
        }
    }
}
