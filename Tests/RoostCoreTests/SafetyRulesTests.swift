import Foundation
import Testing

@testable import RoostCore

/// The pure safety rules: visibility with organizations, the moderation pipeline, rate-limit
/// arithmetic and search-query parsing.
@Suite struct SafetyRulesTests {
    let now = Date(timeIntervalSince1970: 1_760_000_000)

    // MARK: Visibility

    @Test func organizationPostsAreForMembersOnly() {
        let post = Post(id: 1, authorID: 10, text: "t", visibility: .organization, organizationID: 7, createdAt: now, updatedAt: now)
        let member = Viewer(userID: 11)
        let moderator = Viewer(userID: 12, isModerator: true)
        #expect(PostVisibilityRule.filter([post], viewer: member, followedAuthors: [], organizations: [7]).count == 1)
        #expect(PostVisibilityRule.filter([post], viewer: member, followedAuthors: [10], organizations: [8]).isEmpty)
        #expect(PostVisibilityRule.filter([post], viewer: moderator, followedAuthors: [], organizations: []).isEmpty)
        #expect(PostVisibilityRule.filter([post], viewer: nil, followedAuthors: [], organizations: [7]).isEmpty)
        #expect(PostVisibilityRule.filter([post], viewer: Viewer(userID: 10), followedAuthors: [], organizations: []).count == 1)
        #expect(PostVisibilityRule.needsOrganizationCheck(post, viewer: member))
        #expect(!PostVisibilityRule.needsOrganizationCheck(post, viewer: Viewer(userID: 10)))
        #expect(!PostVisibilityRule.needsOrganizationCheck(post, viewer: nil))

        var held = post
        held.moderationStatus = .pending
        #expect(PostVisibilityRule.filter([held], viewer: member, followedAuthors: [], organizations: [7]).isEmpty)
        #expect(PostVisibilityRule.filter([held], viewer: Viewer(userID: 10), followedAuthors: [], organizations: []).count == 1)
    }

    @Test func administrationFlowsDownMembershipUp() throws {
        // A department (3) under a university (2) under a group (1).
        #expect(OrganizationRules.isAdmin(ancestry: [3, 2, 1], roles: [1: .admin]))
        #expect(!OrganizationRules.isAdmin(ancestry: [3, 2, 1], roles: [2: .member, 3: .member]))
        #expect(!OrganizationRules.isAdmin(ancestry: [1], roles: [3: .admin]))
        #expect(throws: RoostError.self) { try OrganizationRules.validateNew(kind: .department, parentAncestry: [], hasParent: false) }
        try OrganizationRules.validateNew(kind: .department, parentAncestry: [2, 1], hasParent: true)
        try OrganizationRules.validateNew(kind: .university, parentAncestry: [], hasParent: false)
        let deep = Array(1...ID(OrganizationRules.maxDepth))
        #expect(throws: RoostError.self) { try OrganizationRules.validateNew(kind: .department, parentAncestry: deep, hasParent: true) }
    }

    // MARK: Moderation pipeline

    func verdict(_ text: String, title: String? = nil, age: TimeInterval = 30 * 24 * 3600, recent: [String] = [], policy: ModerationPolicy = .init())
        -> ModerationVerdict
    {
        ModerationPipeline.evaluate(
            ModerationSubject(text: text, title: title, authorCreatedAt: now.addingTimeInterval(-age), now: now, recentTexts: recent),
            policy: policy)
    }

    @Test func ordinaryPostsPassEvenFromNewAccounts() {
        #expect(verdict("Lovely light at the campus lake this morning").status == .approved)
        #expect(verdict("First post! Hello everyone, glad to be here.", age: 60).status == .approved)
        #expect(verdict("NASA and the ESA launch today").status == .approved, "a few capitals are not shouting")
        #expect(verdict("see https://example.com/paper for details").status == .approved, "one link from an established account")
        #expect(verdict("hello", recent: ["hello", "hello", "Hello"]).status == .approved, "short posts repeat naturally")
    }

    @Test func duplicateNormalizationMatchesItsDefinition() {
        let texts = [
            "  Hello\r\n   World\t", "Buy NOW at https://Example.com", "a\u{0B}b\u{0C}c\u{1C}d", "", "   ", "X",
            "ÄBC  Déf", "tab\tand\u{00A0}nbsp", "ünïcode  and ASCII", "MiXeD 123 !?",
        ]
        for text in texts {
            #expect(TextAnalysis.normalized(text) == TextAnalysis.normalizedUnicode(text), "\(text.debugDescription)")
        }
        #expect(TextAnalysis.normalized("  Same\n\nTEXT ") == "same text")
    }

    @Test func eachCheckObjects() {
        var policy = ModerationPolicy()
        policy.bannedTerms = ["buy followers", "scamcoin"]
        let banned = verdict("Cheap way to BUY-Followers today", policy: policy)
        #expect(banned.status == .removed && banned.findings.map(\.check) == [.bannedTerm])
        #expect(verdict("Get #ScamCoin now", policy: policy).status == .removed, "tags and punctuation do not hide a term")
        #expect(verdict("buyers follow us", policy: policy).status == .approved, "terms match whole words")

        let links = (1...3).map { "https://spam\($0).example.com" }.joined(separator: " ")
        #expect(verdict("look \(links)").findings.map(\.check) == [.linkSpam])
        #expect(verdict("look \(links)").status == .pending)
        let many = (1...8).map { "http://s\($0).example" }.joined(separator: " ")
        #expect(verdict(many).status == .removed)
        #expect(verdict("https://x.example/a and again https://x.example/a").findings.map(\.check) == [.repeatedLink])

        let shouting = verdict("THIS IS THE BEST OFFER YOU WILL EVER SEE")
        #expect(shouting.status == .pending && shouting.findings.map(\.check) == [.shouting])

        let copy = "Join my channel for daily giveaways and prizes"
        #expect(verdict(copy, recent: [copy.uppercased()]).status == .pending, "case does not make a post different")
        #expect(verdict(copy, recent: [copy, copy, "  \(copy)  "]).status == .removed)

        let newcomer = verdict("check this out https://example.com", age: 3600)
        #expect(newcomer.status == .pending && newcomer.findings.map(\.check) == [.newAccountLinks])
        #expect(newcomer.reason?.contains("new_account_links") == true)
    }

    @Test func theMostSevereFindingWins() {
        var policy = ModerationPolicy()
        policy.bannedTerms = ["forbidden"]
        let both = verdict("THIS IS FORBIDDEN AND VERY LOUD TEXT", policy: policy)
        #expect(both.status == .removed)
        #expect(Set(both.findings.map(\.check)) == [.bannedTerm, .shouting])
        #expect(ModerationPipeline.isStricter(.removed, than: .pending))
        #expect(!ModerationPipeline.isStricter(.approved, than: .pending))
        #expect(ModerationPolicy.parseBannedTerms("# comment\n\nspam words\n  Scam \n") == ["spam words", "Scam"])
    }

    // MARK: Rate limits

    @Test func fixedWindowsCountRefuseAndReset() {
        let rule = RateLimitRule(limit: 2, window: 60)
        var window: RateWindow?
        var decisions: [RateLimitDecision] = []
        for offset in [0.0, 10, 20] {
            let (next, decision) = RateLimitMath.hit(window, rule: rule, now: now.addingTimeInterval(offset))
            window = next
            decisions.append(decision)
        }
        #expect(decisions.map(\.allowed) == [true, true, false])
        #expect(decisions.map(\.remaining) == [1, 0, 0])
        #expect(decisions[2].resetAfter == 40, "seconds until the window that began at the first hit ends")
        #expect(RateLimitMath.peek(window, rule: rule, now: now.addingTimeInterval(59)).allowed == false)
        let (_, fresh) = RateLimitMath.hit(window, rule: rule, now: now.addingTimeInterval(60))
        #expect(fresh.allowed && fresh.remaining == 1 && fresh.resetAfter == 60)
        let (_, zero) = RateLimitMath.hit(nil, rule: RateLimitRule(limit: 0, window: 5), now: now)
        #expect(!zero.allowed && zero.resetAfter == 5)
    }

    @Test func policiesAreConfigurable() throws {
        var policy = RateLimitPolicy()
        #expect(policy[.posts] == RateLimitRule(limit: 10, window: 3600))
        #expect(policy[.comments] == RateLimitRule(limit: 50, window: 3600))
        #expect(policy[.likes] == RateLimitRule(limit: 1000, window: 3600))
        #expect(policy[.follows] == RateLimitRule(limit: 400, window: 86400))
        try policy.apply(override: "posts=20/60")
        #expect(policy[.posts] == RateLimitRule(limit: 20, window: 60))
        for bad in ["posts", "posts=", "nope=1/2", "posts=1/0", "posts=-1/5", "posts=a/b"] {
            #expect(throws: RoostError.self, "\(bad)") { try policy.apply(override: bad) }
        }
    }

    // MARK: Search queries

    @Test func searchQueriesKeepOnlyWords() throws {
        #expect(try SearchQuery(parsing: "Swift  #server_side!").terms == ["swift", "server", "side"])
        #expect(try SearchQuery(parsing: "\"*) OR NEAR( -- ';").terms == ["or", "near"])
        #expect(try SearchQuery(parsing: "?!…").isEmpty)
        #expect(try SearchQuery(parsing: "Café crème").terms == ["café", "crème"])
        #expect(try SearchQuery(parsing: "a").prefixLast == false)
        #expect(try SearchQuery(parsing: "one two three four five six seven eight nine ten").terms.count == SearchQuery.maxTerms)
        #expect(throws: RoostError.self) { try SearchQuery(parsing: nil) }
        #expect(throws: RoostError.self) { try SearchQuery(parsing: "   ") }
        #expect(throws: RoostError.self) { try SearchQuery(parsing: String(repeating: "x", count: 201)) }
    }
}
