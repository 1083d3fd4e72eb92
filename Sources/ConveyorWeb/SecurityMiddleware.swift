import Foundation
import HTTPTypes
import Hummingbird

/// Every response: a strict Content-Security-Policy and friends, also on errors.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    static let policy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        do {
            var response = try await next(request, context)
            Self.apply(&response.headers)
            return response
        } catch var error as HTTPError {
            Self.apply(&error.headers)
            throw error
        }
    }

    static func apply(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = policy
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }
}

/// HTTP Basic authentication when a password is configured (any user name).
struct PasswordMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    let password: String

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":"),
            constantTimeEqual(String(text[text.index(after: colon)...]), password)
        {
            return try await next(request, context)
        }
        return Response(
            status: .unauthorized,
            headers: [.wwwAuthenticate: "Basic realm=\"Conveyor\", charset=\"UTF-8\"", .contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: "Conveyor needs the password (CONVEYOR_WEB_PASSWORD).\n")))
    }
}

/// CSRF protection with a double-submit token: a random token in a SameSite=Strict,
/// HttpOnly cookie, echoed in every form; a POST without the matching token is refused.
struct CSRFMiddleware: RouterMiddleware {
    typealias Context = AdminContext
    static let cookieName = "conveyor_csrf"
    static let fieldName = "authenticity_token"

    func handle(_ request: Request, context: AdminContext, next: (Request, AdminContext) async throws -> Response) async throws -> Response {
        var context = context
        let cookie: String? = request.cookies[Self.cookieName]?.value
        let existing = cookie.flatMap { $0.count == 64 && $0.allSatisfy(\.isHexDigit) ? $0 : nil }
        context.csrfToken = existing ?? Self.newToken()
        var request = request
        if request.method == .post {
            let body = try await request.collectBody(upTo: 1 << 20)
            context.form = FormData(encoded: String(buffer: body))
            guard let existing, let sent = context.form[Self.fieldName], constantTimeEqual(existing, sent) else {
                return Response(
                    status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: "Refused: this form's security token (CSRF) is missing or does not match. Reload the page and try again.\n")))
            }
        }
        var response = try await next(request, context)
        if existing == nil {
            response.headers[values: .setCookie].append("\(Self.cookieName)=\(context.csrfToken); Path=/; HttpOnly; SameSite=Strict")
        }
        return response
    }

    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    guard x.count == y.count else { return false }
    var difference: UInt8 = 0
    for i in 0..<x.count { difference |= x[i] ^ y[i] }
    return difference == 0
}
