import Foundation

/// What `GET /search` looks for.
public enum SearchKind: String, Sendable, CaseIterable {
    case posts
    case users
}

/// A search as the stores receive it: only words (runs of letters and digits, lower-cased), never
/// the raw query, so no input can be read as full-text query syntax by either backend. Every
/// word must match (AND); the last one also matches as a prefix, for search-as-you-type.
///
/// Both backends tokenize indexed text the same way (letters and digits; punctuation, `_` and
/// `#` separate words), so `#server_side` finds the tag `server_side`.
public struct SearchQuery: Sendable, Hashable {
    public static let maxLength = 200
    public static let maxTerms = 8
    public static let maxTermLength = 64

    public var terms: [String]

    public init(terms: [String]) {
        self.terms = terms
    }

    /// - Throws: `validation_failed` on `q` when the query is missing, empty or too long. A query
    ///   without any word (only punctuation) is valid and simply finds nothing.
    public init(parsing raw: String?) throws(RoostError) {
        guard let raw, !raw.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .validation(field: "q", message: "q must not be empty")
        }
        guard raw.count <= Self.maxLength else {
            throw .validation(field: "q", message: "q must be at most \(Self.maxLength) characters")
        }
        var terms: [String] = []
        for word in TextAnalysis.words(in: raw) where !terms.contains(word) {
            terms.append(String(word.prefix(Self.maxTermLength)))
            if terms.count == Self.maxTerms { break }
        }
        self.terms = terms
    }

    public var isEmpty: Bool { terms.isEmpty }

    /// The search as a stable string (part of a cursor's scope).
    public var normalized: String { terms.joined(separator: " ") }

    /// Whether the last term is matched as a prefix: only from two characters on, so a lone
    /// letter does not expand to half the vocabulary.
    public var prefixLast: Bool { (terms.last?.count ?? 0) >= 2 }
}

/// One search result: a post or user id and its relevance (higher is better).
public struct SearchHit: Sendable, Equatable {
    public var id: ID
    public var score: Double

    public init(id: ID, score: Double) {
        self.id = id
        self.score = score
    }
}
