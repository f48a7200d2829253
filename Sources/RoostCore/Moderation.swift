import Foundation

// MARK: - Reports, decisions, the queue

/// What a report or a moderation decision is about.
public enum ModerationTarget: Sendable, Hashable {
    case post(ID)
    case comment(ID)
    case user(ID)

    /// Stored in the `target_kind` columns.
    public var kind: String {
        switch self {
        case .post: "post"
        case .comment: "comment"
        case .user: "user"
        }
    }

    public var id: ID {
        switch self {
        case .post(let id), .comment(let id), .user(let id): id
        }
    }

    public init?(kind: String, id: ID) {
        switch kind {
        case "post": self = .post(id)
        case "comment": self = .comment(id)
        case "user": self = .user(id)
        default: return nil
        }
    }
}

public enum ReportStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting in the moderation queue.
    case open
    /// A moderator acted on the target (approved or removed it).
    case resolved
    /// A moderator found nothing to act on.
    case dismissed
}

/// A user's report of a post, comment or account.
public struct Report: Sendable, Equatable {
    public var id: ID
    public var reporterID: ID
    public var target: ModerationTarget
    public var reason: String
    public var status: ReportStatus
    public var createdAt: Date

    public init(id: ID, reporterID: ID, target: ModerationTarget, reason: String, status: ReportStatus = .open, createdAt: Date) {
        self.id = id
        self.reporterID = reporterID
        self.target = target
        self.reason = reason
        self.status = status
        self.createdAt = createdAt
    }
}

public enum ModerationAction: String, Sendable, Codable, CaseIterable {
    /// The post is fine: approved, its reports resolved.
    case approve
    /// The post is removed (or the comment deleted); its reports resolved.
    case remove
    /// The post is held for review (automatic: the pipeline or enough reports).
    case hold
    /// The reports are unfounded; nothing changes but they leave the queue.
    case dismiss
}

/// One entry of the audit trail: who decided what about which target, and why.
public struct ModerationDecision: Sendable, Equatable {
    public var id: ID
    public var target: ModerationTarget
    /// nil when Roost decided on its own (the moderation pipeline, the report threshold).
    public var moderatorID: ID?
    public var action: ModerationAction
    public var reason: String?
    /// A post's status before and after the decision (nil for comments and users).
    public var previousStatus: ModerationStatus?
    public var newStatus: ModerationStatus?
    public var createdAt: Date

    public init(
        id: ID, target: ModerationTarget, moderatorID: ID?, action: ModerationAction, reason: String?,
        previousStatus: ModerationStatus? = nil, newStatus: ModerationStatus? = nil, createdAt: Date
    ) {
        self.id = id
        self.target = target
        self.moderatorID = moderatorID
        self.action = action
        self.reason = reason
        self.previousStatus = previousStatus
        self.newStatus = newStatus
        self.createdAt = createdAt
    }
}

/// Something waiting for a moderator: a held (`pending`) post or a target with open reports.
public struct ModerationQueueEntry: Sendable, Equatable {
    /// Keyset position: the held post's id, or the id of the target's oldest open report, so the
    /// queue is served oldest first.
    public var position: ID
    public var target: ModerationTarget
    public var openReports: Int

    public init(position: ID, target: ModerationTarget, openReports: Int) {
        self.position = position
        self.target = target
        self.openReports = openReports
    }
}

/// What filing a report did.
public struct ReportFiling: Sendable, Equatable {
    /// The report as stored: the new one, or this reporter's earlier open report on the same target.
    public var report: Report
    public var isNew: Bool
    /// Distinct reporters with an open report on the target, this one included.
    public var openReports: Int

    public init(report: Report, isNew: Bool, openReports: Int) {
        self.report = report
        self.isNew = isNew
        self.openReports = openReports
    }
}

// MARK: - The moderation pipeline

/// Thresholds of the automatic checks every new post goes through (configuration).
public struct ModerationPolicy: Sendable, Equatable {
    /// Words or phrases that remove a post, matched case-insensitively on word boundaries.
    public var bannedTerms: [String] = []
    /// Links in one post from which it is held, and from which it is removed.
    public var linksToHold = 3
    public var linksToRemove = 8
    /// The same link repeated this many times in one post holds it.
    public var repeatedLinkToHold = 2
    /// Shouting: at least this many cased letters, and at least this share of them upper-case.
    public var shoutingMinLetters = 12
    public var shoutingUppercaseRatio = 0.8
    /// Identical posts by one author within `duplicateWindow`: this many earlier ones hold the
    /// post, this many remove it.
    public var duplicateWindow: TimeInterval = 24 * 3600
    public var duplicatesToHold = 1
    public var duplicatesToRemove = 3
    /// Short posts (`"hello"`, `"congrats!"`) repeat naturally; only texts at least this long, or
    /// with a link, count as duplicates.
    public var duplicateMinLength = 20
    /// Accounts younger than this posting any link are held (a spam-account pattern); ordinary
    /// posts from new accounts pass.
    public var newAccountAge: TimeInterval = 24 * 3600
    /// Distinct users with an open report on a post that hold it automatically for review.
    public var reportsToHold = 3

    public init() {}

    /// Reads a banned-terms file: one term or phrase per line; blank lines and `#` comments skipped.
    public static func parseBannedTerms(_ text: String) -> [String] {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }
}

/// What the pipeline looks at: the post's text fields, its author's age and recent posts.
public struct ModerationSubject: Sendable {
    public var text: String
    public var title: String?
    public var description: String?
    public var tags: [String]
    public var authorCreatedAt: Date
    public var now: Date
    /// The texts of the author's posts within the policy's duplicate window (empty on an edit).
    public var recentTexts: [String]

    public init(
        text: String, title: String? = nil, description: String? = nil, tags: [String] = [], authorCreatedAt: Date, now: Date,
        recentTexts: [String] = []
    ) {
        self.text = text
        self.title = title
        self.description = description
        self.tags = tags
        self.authorCreatedAt = authorCreatedAt
        self.now = now
        self.recentTexts = recentTexts
    }
}

public enum ModerationCheck: String, Sendable, CaseIterable {
    case bannedTerm = "banned_term"
    case linkSpam = "link_spam"
    case repeatedLink = "repeated_link"
    case duplicate
    case shouting
    case newAccountLinks = "new_account_links"
}

/// One check's objection to a post.
public struct ModerationFinding: Sendable, Equatable {
    public var check: ModerationCheck
    /// `.pending` (hold for review) or `.removed`.
    public var status: ModerationStatus
    public var detail: String

    public init(check: ModerationCheck, status: ModerationStatus, detail: String) {
        self.check = check
        self.status = status
        self.detail = detail
    }
}

public struct ModerationVerdict: Sendable, Equatable {
    public var status: ModerationStatus
    public var findings: [ModerationFinding]

    /// For the audit trail: `"link_spam: 4 links; shouting"`.
    public var reason: String? {
        findings.isEmpty ? nil : findings.map { "\($0.check.rawValue): \($0.detail)" }.joined(separator: "; ")
    }
}

/// The automatic checks every new (and edited) post passes through. Each check is a pure function
/// of the subject and the policy; the verdict is the most severe finding, so a post is `approved`
/// unless some check objects.
public enum ModerationPipeline {
    public typealias Check = @Sendable (ModerationSubject, ModerationPolicy) -> ModerationFinding?

    public static let checks: [Check] = [bannedTerms, links, duplicates, shouting, newAccountLinks]

    public static func evaluate(_ subject: ModerationSubject, policy: ModerationPolicy) -> ModerationVerdict {
        let findings = checks.compactMap { $0(subject, policy) }
        let status: ModerationStatus =
            findings.contains { $0.status == .removed } ? .removed : findings.isEmpty ? .approved : .pending
        return ModerationVerdict(status: status, findings: findings)
    }

    /// Whether `new` is stricter than `old` (edits may only tighten a post's status automatically).
    public static func isStricter(_ new: ModerationStatus, than old: ModerationStatus) -> Bool {
        severity(new) > severity(old)
    }

    static func severity(_ status: ModerationStatus) -> Int {
        switch status {
        case .approved: 0
        case .pending: 1
        case .removed: 2
        }
    }

    // MARK: Checks

    @Sendable static func bannedTerms(_ subject: ModerationSubject, _ policy: ModerationPolicy) -> ModerationFinding? {
        guard !policy.bannedTerms.isEmpty else { return nil }
        let words = TextAnalysis.words(in: subject.allText)
        for term in policy.bannedTerms {
            let needle = TextAnalysis.words(in: term)
            if !needle.isEmpty, TextAnalysis.contains(words, sequence: needle) {
                // The term itself stays out of the audit trail's reason: it is configuration.
                return ModerationFinding(check: .bannedTerm, status: .removed, detail: "contains a banned term")
            }
        }
        return nil
    }

    @Sendable static func links(_ subject: ModerationSubject, _ policy: ModerationPolicy) -> ModerationFinding? {
        let links = TextAnalysis.links(in: subject.allText)
        if links.count >= policy.linksToRemove {
            return ModerationFinding(check: .linkSpam, status: .removed, detail: "\(links.count) links")
        }
        if links.count >= policy.linksToHold {
            return ModerationFinding(check: .linkSpam, status: .pending, detail: "\(links.count) links")
        }
        let repeats = Dictionary(links.map { ($0, 1) }, uniquingKeysWith: +).values.max() ?? 0
        if repeats >= policy.repeatedLinkToHold {
            return ModerationFinding(check: .repeatedLink, status: .pending, detail: "the same link \(repeats) times")
        }
        return nil
    }

    @Sendable static func duplicates(_ subject: ModerationSubject, _ policy: ModerationPolicy) -> ModerationFinding? {
        let normalized = TextAnalysis.normalized(subject.text)
        guard normalized.count >= policy.duplicateMinLength || !TextAnalysis.links(in: normalized).isEmpty else { return nil }
        let count = subject.recentTexts.filter { TextAnalysis.normalized($0) == normalized }.count
        if count >= policy.duplicatesToRemove {
            return ModerationFinding(check: .duplicate, status: .removed, detail: "posted \(count + 1) times")
        }
        if count >= policy.duplicatesToHold {
            return ModerationFinding(check: .duplicate, status: .pending, detail: "posted \(count + 1) times")
        }
        return nil
    }

    @Sendable static func shouting(_ subject: ModerationSubject, _ policy: ModerationPolicy) -> ModerationFinding? {
        var upper = 0
        var cased = 0
        for character in subject.text where character.isCased {
            cased += 1
            if character.isUppercase { upper += 1 }
        }
        guard cased >= policy.shoutingMinLetters, Double(upper) >= policy.shoutingUppercaseRatio * Double(cased) else { return nil }
        return ModerationFinding(check: .shouting, status: .pending, detail: "\(upper) of \(cased) letters upper-case")
    }

    @Sendable static func newAccountLinks(_ subject: ModerationSubject, _ policy: ModerationPolicy) -> ModerationFinding? {
        guard subject.now.timeIntervalSince(subject.authorCreatedAt) < policy.newAccountAge else { return nil }
        let count = TextAnalysis.links(in: subject.allText).count
        guard count > 0 else { return nil }
        return ModerationFinding(check: .newAccountLinks, status: .pending, detail: "a new account posting \(count == 1 ? "a link" : "links")")
    }
}

extension ModerationSubject {
    /// Every text field, as the checks read them.
    var allText: String {
        ([title, text, description].compactMap { $0 } + [tags.joined(separator: " ")]).joined(separator: "\n")
    }
}

/// Small text utilities the checks share (and search reuses for its terms).
public enum TextAnalysis {
    /// Lower-cased runs of letters and digits: `"Buy-Followers NOW!"` → `["buy", "followers", "now"]`.
    public static func words(in text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for character in text.lowercased() {
            if character.isLetter || character.isNumber {
                current.append(character)
            } else if !current.isEmpty {
                words.append(current)
                current = ""
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    static func contains(_ words: [String], sequence: [String]) -> Bool {
        guard sequence.count <= words.count else { return false }
        for start in 0...(words.count - sequence.count) where words[start] == sequence[0] {
            if Array(words[start..<(start + sequence.count)]) == sequence { return true }
        }
        return false
    }

    /// The http(s) and `www.` links in a text, lower-cased and without trailing punctuation.
    public static func links(in text: String) -> [String] {
        var found: [String] = []
        for token in text.split(whereSeparator: { $0.isWhitespace }) {
            let lower = token.lowercased()
            guard let start = lower.range(of: "https://") ?? lower.range(of: "http://") ?? lower.range(of: "www.") else { continue }
            var link = String(lower[start.lowerBound...])
            while let last = link.last, ".,;:!?)]}>\"'".contains(last) { link.removeLast() }
            // Something must follow the scheme (or `www.`) for it to lead anywhere.
            if link.count > lower.distance(from: start.lowerBound, to: start.upperBound) { found.append(link) }
        }
        return found
    }

    /// For duplicate detection: case and runs of whitespace do not make a post different.
    /// Every new post normalizes its author's recent posts (up to 50): ASCII text takes a byte
    /// loop, 20 times faster than splitting `Character`s (0.33 → 0.017 ms for 50 posts).
    public static func normalized(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var separated = false
        for byte in text.utf8 {
            if byte >= 0x80 { return normalizedUnicode(text) }
            // ASCII's White_Space: tab, line feed, vertical tab, form feed, carriage return, space.
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                separated = true
                continue
            }
            if separated, !out.isEmpty { out.append(0x20) }
            separated = false
            out.append((0x41...0x5A).contains(byte) ? byte + 0x20 : byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The definition `normalized` follows for any text.
    static func normalizedUnicode(_ text: String) -> String {
        text.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }
}
