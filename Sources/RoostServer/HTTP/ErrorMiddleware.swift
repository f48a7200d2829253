import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import RoostCore

/// Turns every error into the contract's `{"error": {"code", "message", "field"}}` body.
/// Domain errors keep their status; framework errors (unknown route, body too large) are mapped;
/// anything unexpected is logged and answered with a bare 500 that leaks nothing.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = RoostRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as RoostError {
            return Self.response(for: error)
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return Self.response(for: .notFound)
            case .contentTooLarge: return Self.response(for: .payloadTooLarge)
            case .methodNotAllowed:
                return Self.body(status: .methodNotAllowed, code: "method_not_allowed", message: "method not allowed", field: nil)
            case .badRequest:
                return Self.response(for: .validation(field: nil, message: error.body ?? "bad request"))
            case .unauthorized: return Self.response(for: .unauthorized("authentication required"))
            default:
                if (400..<500).contains(error.status.code) {
                    return Self.body(status: error.status, code: "bad_request", message: error.body ?? "bad request", field: nil)
                }
                context.logger.error("request failed", metadata: ["error": "\(error.status.code)"])
                return Self.body(status: .internalServerError, code: "internal", message: "internal error", field: nil)
            }
        } catch is NIOTooManyBytesError {
            return Self.response(for: .payloadTooLarge)
        } catch is CancellationError {
            return Self.response(for: .unavailable("request cancelled"))
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return Self.response(for: .unavailable("the server could not complete the request; try again"))
        }
    }

    static func response(for error: RoostError) -> Response {
        var response = body(
            status: HTTPResponse.Status(code: error.status), code: error.code, message: error.message, field: error.field)
        if case .rateLimited(let retryAfter) = error {
            response.headers[.retryAfter] = String(retryAfter)
        }
        if case .unauthorized = error {
            response.headers[.wwwAuthenticate] = "Bearer"
        }
        return response
    }

    static func body(status: HTTPResponse.Status, code: String, message: String, field: String?) -> Response {
        var error: [String: String] = ["code": code, "message": message]
        if let field { error["field"] = field }
        let data = (try? JSONEncoder().encode(["error": error])) ?? Data("{\"error\":{\"code\":\"internal\",\"message\":\"\"}}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Baseline security headers on every response. The API serves JSON only, so the policy forbids
/// everything a browser could otherwise do with a response.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = RoostRequestContext
    // Both are valid header field names, so the initializer cannot fail.
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        response.headers[Self.referrerPolicy] = "no-referrer"
        response.headers[.cacheControl] = response.headers[.cacheControl] ?? "no-store"
        return response
    }
}

/// Reads an optional bearer token (header or `?access_token=`). An invalid token is a 401 even on
/// endpoints that also work anonymously, so clients learn to refresh instead of silently losing personalisation.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = RoostRequestContext
    let tokens: TokenService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            guard header.count > 7, header.prefix(7).lowercased() == "bearer " else {
                throw RoostError.unauthorized("authorization must be a bearer token")
            }
            context.session = try await tokens.session(fromBearer: String(header.dropFirst(7)))
        } else if let token = request.uri.queryParameters.get("access_token") {
            context.session = try await tokens.session(fromBearer: token)
        }
        return try await next(request, context)
    }
}
