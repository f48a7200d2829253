import Foundation
import RoostCore
import Testing

@testable import RoostStorage

extension RoostStoreConformance {
    @Suite struct Lifecycle {
        @Test func migrateTwiceKeepsDataAndPingAnswers() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                try await store.ping()
                let user = try await store.makeUser("before_remigrate", ids: ids)
                try await store.migrate()
                try await store.ping()
                #expect(try await store.user(id: user.id) == user)
            }
        }
    }

    @Suite struct Users {
        @Test func createAndLookUp() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let id = ids.next()
                let created = try await store.createUser(
                    NewUser(
                        id: id, username: "Alice_1", email: "Alice@Example.com", displayName: "Alice Liddell", passwordHash: "h1",
                        createdAt: t0))
                #expect(created.id == id)
                #expect(created.username == "Alice_1")
                #expect(created.email == "Alice@Example.com")
                #expect(created.displayName == "Alice Liddell")
                #expect(created.bio == "")
                #expect(created.avatarURL == nil)
                #expect(created.verified == false)
                #expect(created.isModerator == false)
                #expect(created.followersCount == 0)
                #expect(created.followingCount == 0)
                #expect(created.postsCount == 0)
                #expect(created.createdAt == t0)

                #expect(try await store.user(id: id) == created)
                #expect(try await store.user(username: "Alice_1") == created)
                #expect(try await store.user(username: "alice_1") == created)
                #expect(try await store.user(username: "ALICE_1") == created)
                #expect(try await store.user(username: "alice") == nil)
                #expect(try await store.user(id: ids.next()) == nil)

                let bob = try await store.makeUser("bob", ids: ids)
                let unknown = ids.next()
                let found = try await store.users(ids: [id, bob.id, unknown])
                #expect(found.count == 2)
                #expect(found[id] == created)
                #expect(found[bob.id] == bob)
                #expect(found[unknown] == nil)
                #expect(try await store.users(ids: []).isEmpty)
                #expect(try await store.users(ids: [bob.id, bob.id]) == [bob.id: bob])
            }
        }

        @Test func usernameAndEmailConflictsAreCaseInsensitive() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.createUser(
                    NewUser(id: ids.next(), username: "Alice", email: "alice@example.com", displayName: "A", passwordHash: "h", createdAt: t0))

                let taken = ids.next()
                let usernameError = await #expect(throws: RoostError.self) {
                    try await store.createUser(
                        NewUser(id: taken, username: "ALICE", email: "other@example.com", displayName: "B", passwordHash: "h", createdAt: t0))
                }
                #expect(usernameError?.code == "conflict")
                #expect(usernameError?.field == "username")

                let emailError = await #expect(throws: RoostError.self) {
                    try await store.createUser(
                        NewUser(id: taken, username: "carol", email: "ALICE@EXAMPLE.COM", displayName: "C", passwordHash: "h", createdAt: t0))
                }
                #expect(emailError?.code == "conflict")
                #expect(emailError?.field == "email")

                // Nothing of the refused accounts was stored.
                #expect(try await store.user(id: taken) == nil)
                #expect(try await store.user(username: "carol") == nil)
                #expect(try await store.credentials(login: "other@example.com") == nil)
                #expect(try await store.user(username: "alice") == alice)

                // Free names still work afterwards.
                let carol = try await store.createUser(
                    NewUser(id: taken, username: "carol", email: "carol@example.com", displayName: "C", passwordHash: "h", createdAt: t0))
                #expect(try await store.user(username: "CAROL") == carol)
            }
        }

        @Test func credentialsByUsernameOrEmail() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let alice = try await store.createUser(
                    NewUser(
                        id: ids.next(), username: "Alice", email: "Alice@Example.com", displayName: "A", passwordHash: "hash-a",
                        createdAt: t0))
                let imported = try await store.makeUser("imported", ids: ids, passwordHash: nil)

                let byName = try #require(try await store.credentials(login: "aLiCe"))
                #expect(byName.user == alice)
                #expect(byName.passwordHash == "hash-a")

                let byEmail = try #require(try await store.credentials(login: "alice@EXAMPLE.com"))
                #expect(byEmail.user == alice)
                #expect(byEmail.passwordHash == "hash-a")

                let noPassword = try #require(try await store.credentials(login: "imported@example.com"))
                #expect(noPassword.user == imported)
                #expect(noPassword.passwordHash == nil)

                #expect(try await store.credentials(login: "nobody") == nil)
                #expect(try await store.credentials(login: "alice@example") == nil)
                #expect(try await store.credentials(login: "") == nil)
            }
        }

        @Test func updateProfilePatchesOnlyGivenFieldsAndClearsAvatar() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("patchme", ids: ids)
                let bystander = try await store.makeUser("bystander", ids: ids)

                let first = try #require(
                    try await store.updateProfile(
                        userID: user.id,
                        patch: ProfilePatch(displayName: "New Name", bio: "Hello there", avatarURL: "https://img.example.com/a.png")))
                var expected = user
                expected.displayName = "New Name"
                expected.bio = "Hello there"
                expected.avatarURL = "https://img.example.com/a.png"
                #expect(first == expected)
                #expect(try await store.user(id: user.id) == expected)

                let second = try await store.updateProfile(userID: user.id, patch: ProfilePatch(bio: "Second bio"))
                expected.bio = "Second bio"
                #expect(second == expected)

                let unchanged = try await store.updateProfile(userID: user.id, patch: ProfilePatch())
                #expect(unchanged == expected)

                let cleared = try await store.updateProfile(userID: user.id, patch: ProfilePatch(avatarURL: .some(nil)))
                expected.avatarURL = nil
                #expect(cleared == expected)
                #expect(try await store.user(id: user.id) == expected)

                // An empty bio is a value, not "unchanged".
                let emptyBio = try await store.updateProfile(userID: user.id, patch: ProfilePatch(bio: ""))
                expected.bio = ""
                #expect(emptyBio == expected)

                #expect(try await store.updateProfile(userID: ids.next(), patch: ProfilePatch(displayName: "Ghost")) == nil)
                #expect(try await store.user(id: bystander.id) == bystander)
            }
        }

        @Test func setModeratorAndPasswordHash() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("mod", ids: ids, passwordHash: "old")
                let other = try await store.makeUser("other", ids: ids, passwordHash: nil)

                try await store.setModerator(userID: user.id, true)
                #expect(try await store.user(id: user.id)?.isModerator == true)
                #expect(try await store.credentials(login: "mod")?.user.isModerator == true)
                #expect(try await store.user(id: other.id)?.isModerator == false)
                try await store.setModerator(userID: user.id, false)
                #expect(try await store.user(id: user.id)?.isModerator == false)

                try await store.setPasswordHash(userID: user.id, hash: "new")
                #expect(try await store.credentials(login: "mod")?.passwordHash == "new")
                #expect(try await store.credentials(login: "other")?.passwordHash == nil)
                try await store.setPasswordHash(userID: other.id, hash: "first")
                #expect(try await store.credentials(login: "other@example.com")?.passwordHash == "first")
                #expect(try await store.credentials(login: "mod")?.passwordHash == "new")
            }
        }
    }

    @Suite struct RefreshTokens {
        static func record(_ hash: String, family: String, user: ID, expires: Date = t0 + 86_400) -> RefreshTokenRecord {
            RefreshTokenRecord(tokenHash: hash, familyID: family, userID: user, expiresAt: expires)
        }

        @Test func rotationThenReuseRevokesTheFamily() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("tok", ids: ids)
                let family = "fam-" + TestStore.randomHex(bytes: 8)
                try await store.insertRefreshToken(Self.record("h1", family: family, user: user.id))

                #expect(
                    try await store.rotateRefreshToken(hash: "h1", replacement: Self.record("h2", family: family, user: user.id), now: t0 + 60)
                        == .rotated(userID: user.id, familyID: family))
                #expect(try await store.isRefreshFamilyRevoked(familyID: family) == false)
                #expect(
                    try await store.rotateRefreshToken(hash: "h2", replacement: Self.record("h3", family: family, user: user.id), now: t0 + 120)
                        == .rotated(userID: user.id, familyID: family))
                #expect(try await store.isRefreshFamilyRevoked(familyID: family) == false)

                // h1 was used: presenting it again is reuse, and kills the family.
                #expect(
                    try await store.rotateRefreshToken(hash: "h1", replacement: Self.record("x1", family: family, user: user.id), now: t0 + 180)
                        == .reused)
                #expect(try await store.isRefreshFamilyRevoked(familyID: family) == true)
                // The live replacement dies with the family, and the replacement offered with the reused token was not issued.
                #expect(
                    try await store.rotateRefreshToken(hash: "h3", replacement: Self.record("h4", family: family, user: user.id), now: t0 + 240)
                        == .invalid)
                #expect(
                    try await store.rotateRefreshToken(hash: "x1", replacement: Self.record("x2", family: family, user: user.id), now: t0 + 240)
                        == .invalid)
                let again = try await store.rotateRefreshToken(
                    hash: "h2", replacement: Self.record("x3", family: family, user: user.id), now: t0 + 300)
                if case .rotated = again { Issue.record("a used token of a revoked family rotated again") }
                #expect(
                    try await store.rotateRefreshToken(hash: "nope", replacement: Self.record("x4", family: family, user: user.id), now: t0)
                        == .invalid)
            }
        }

        @Test func reuseOfTheFirstRotatedTokenInvalidatesItsReplacement() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("tok", ids: ids)
                try await store.insertRefreshToken(Self.record("a", family: "F", user: user.id))
                #expect(
                    try await store.rotateRefreshToken(hash: "a", replacement: Self.record("b", family: "F", user: user.id), now: t0)
                        == .rotated(userID: user.id, familyID: "F"))
                #expect(
                    try await store.rotateRefreshToken(hash: "a", replacement: Self.record("c", family: "F", user: user.id), now: t0 + 1)
                        == .reused)
                #expect(
                    try await store.rotateRefreshToken(hash: "b", replacement: Self.record("d", family: "F", user: user.id), now: t0 + 2)
                        == .invalid)
                #expect(try await store.isRefreshFamilyRevoked(familyID: "F"))
            }
        }

        @Test func expiredTokenIsInvalidAndIssuesNothing() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("tok", ids: ids)
                try await store.insertRefreshToken(Self.record("old", family: "E", user: user.id, expires: t0 + 3600))
                try await store.insertRefreshToken(Self.record("fresh", family: "G", user: user.id, expires: t0 + 3600))

                #expect(
                    try await store.rotateRefreshToken(hash: "old", replacement: Self.record("old2", family: "E", user: user.id), now: t0 + 3601)
                        == .invalid)
                #expect(
                    try await store.rotateRefreshToken(hash: "old2", replacement: Self.record("old3", family: "E", user: user.id), now: t0 + 3602)
                        == .invalid)
                // Not yet expired: fine.
                #expect(
                    try await store.rotateRefreshToken(hash: "fresh", replacement: Self.record("fresh2", family: "G", user: user.id), now: t0 + 3599)
                        == .rotated(userID: user.id, familyID: "G"))
            }
        }

        @Test func revokeFamily() async throws {
            try await TestStore.with { store in
                let ids = IDGenerator()
                let user = try await store.makeUser("tok", ids: ids)
                try await store.insertRefreshToken(Self.record("a1", family: "A", user: user.id))
                try await store.insertRefreshToken(Self.record("b1", family: "B", user: user.id))
                #expect(
                    try await store.rotateRefreshToken(hash: "a1", replacement: Self.record("a2", family: "A", user: user.id), now: t0)
                        == .rotated(userID: user.id, familyID: "A"))

                #expect(try await store.isRefreshFamilyRevoked(familyID: "A") == false)
                try await store.revokeRefreshFamily(familyID: "A", now: t0 + 10)
                #expect(try await store.isRefreshFamilyRevoked(familyID: "A") == true)
                #expect(try await store.isRefreshFamilyRevoked(familyID: "B") == false)
                #expect(try await store.isRefreshFamilyRevoked(familyID: "unknown") == false)

                // The replacement issued by the rotation belongs to family A and is revoked with it.
                #expect(
                    try await store.rotateRefreshToken(hash: "a2", replacement: Self.record("a3", family: "A", user: user.id), now: t0 + 20)
                        == .invalid)
                #expect(
                    try await store.rotateRefreshToken(hash: "b1", replacement: Self.record("b2", family: "B", user: user.id), now: t0 + 20)
                        == .rotated(userID: user.id, familyID: "B"))
                // Revoking twice is harmless.
                try await store.revokeRefreshFamily(familyID: "A", now: t0 + 30)
                #expect(try await store.isRefreshFamilyRevoked(familyID: "A") == true)
            }
        }
    }
}
