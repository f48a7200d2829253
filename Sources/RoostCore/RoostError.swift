/// Every failure a client can cause or see, in one place. The HTTP layer maps each case to the
/// contract's status and `{"error": {"code", "message", "field"}}` body; nothing else reaches a client.
public enum RoostError: Error, Sendable, Equatable {
    case validation(field: String?, message: String)
    case invalidCursor
    case malformedJSON(String)
    case unauthorized(String)
    case forbidden(String)
    case notFound
    case conflict(field: String?, message: String)
    case payloadTooLarge
    case rateLimited(retryAfter: Int)
    case unavailable(String)

    public var status: Int {
        switch self {
        case .validation, .invalidCursor, .malformedJSON: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .payloadTooLarge: 413
        case .rateLimited: 429
        case .unavailable: 503
        }
    }

    public var code: String {
        switch self {
        case .validation: "validation_failed"
        case .invalidCursor: "invalid_cursor"
        case .malformedJSON: "malformed_json"
        case .unauthorized: "unauthorized"
        case .forbidden: "forbidden"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .payloadTooLarge: "payload_too_large"
        case .rateLimited: "rate_limited"
        case .unavailable: "unavailable"
        }
    }

    public var message: String {
        switch self {
        case .validation(_, let message), .conflict(_, let message): message
        case .invalidCursor: "cursor is invalid, tampered with, or belongs to another list"
        case .malformedJSON(let message): message
        case .unauthorized(let message), .forbidden(let message), .unavailable(let message): message
        case .notFound: "not found"
        case .payloadTooLarge: "request body is too large"
        case .rateLimited: "too many requests"
        }
    }

    public var field: String? {
        switch self {
        case .validation(let field, _), .conflict(let field, _): field
        default: nil
        }
    }
}
