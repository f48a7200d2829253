import Foundation
import Hummingbird
import NIOCore
import NIOFoundationCompat
import RoostCore

/// Request bodies and JSON responses, with every decoding failure mapped to a contract error:
/// unparseable JSON is `malformed_json`, a wrong type or missing field is `validation_failed`
/// naming the field.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: RoostRequestContext, limit: Int) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw RoostError.payloadTooLarge
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RoostError.payloadTooLarge
        }
        guard buffer.readableBytes > 0 else { throw RoostError.malformedJSON("request body must be a JSON object") }
        do {
            return try JSONDecoder().decode(T.self, from: buffer)
        } catch let error as RoostError {
            throw error
        } catch let error as DecodingError {
            throw map(error)
        } catch {
            throw RoostError.malformedJSON("request body is not valid JSON")
        }
    }

    static func map(_ error: DecodingError) -> RoostError {
        switch error {
        case .typeMismatch(_, let context):
            if context.codingPath.isEmpty { return .malformedJSON("request body must be a JSON object") }
            let field = fieldName(context.codingPath)
            return .validation(field: field, message: "\(field) has the wrong type")
        case .valueNotFound(_, let context):
            let field = fieldName(context.codingPath)
            return .validation(field: field, message: "\(field) must not be null")
        case .keyNotFound(let key, let context):
            let field = fieldName(context.codingPath + [key])
            return .validation(field: field, message: "\(field) is required")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .malformedJSON("request body is not valid JSON") }
            let field = fieldName(context.codingPath)
            return .validation(field: field, message: "\(field) is invalid")
        @unknown default:
            return .malformedJSON("request body is not valid JSON")
        }
    }

    /// The top-level field a decoding error is about (`media[2].url` reports `media`).
    static func fieldName(_ path: [any CodingKey]) -> String {
        path.first(where: { $0.intValue == nil })?.stringValue ?? "body"
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func response(bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// An id in a JSON body: a decimal string (the contract's form). Bare JSON numbers are accepted
/// too, because some clients send them; anything else is a validation error on that field.
struct BodyID: Decodable, Sendable {
    var value: ID

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self), let id = Validation.id(text) {
            value = id
        } else if let number = try? container.decode(UInt64.self), number <= UInt64(Int64.max) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an id")
        }
    }
}

/// A JSON field that distinguishes "absent" (leave unchanged) from `null` (clear).
enum Patch<Value: Decodable & Sendable>: Sendable {
    case absent
    case null
    case value(Value)

    var update: Value?? {
        switch self {
        case .absent: nil
        case .null: .some(nil)
        case .value(let value): .some(value)
        }
    }
}

extension KeyedDecodingContainer {
    func decodePatch<Value: Decodable & Sendable>(_ type: Value.Type, forKey key: Key) throws -> Patch<Value> {
        guard contains(key) else { return .absent }
        if try decodeNil(forKey: key) { return .null }
        return .value(try decode(Value.self, forKey: key))
    }
}
