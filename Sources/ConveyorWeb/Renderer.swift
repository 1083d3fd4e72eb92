import ConveyorQueue
import Foundation
import Hummingbird
import Mustache

/// Renders pages into the layout and builds the pieces every page shares.
struct Renderer: Sendable {
    let library: MustacheLibrary
    let footer: [String: String]

    static let navigation: [(String, String, String)] = [
        ("dashboard", "Dashboard", "/"), ("busy", "Busy", "/busy"), ("queues", "Queues", "/queues"),
        ("retries", "Retries", "/retries"), ("scheduled", "Scheduled", "/scheduled"), ("dead", "Dead", "/dead"),
        ("periodic", "Periodic", "/periodic"), ("migrations", "Background Migrations", "/admin/background_migrations"),
    ]

    func page(
        _ template: String, title: String, section: String, request: Request, values: [String: Any],
        error: String? = nil, status: HTTPResponse.Status = .ok
    ) -> Response {
        let body = library.render(values, withTemplate: template) ?? ""
        let query = request.uri.queryParameters
        let refresh = query["refresh"].flatMap { Int($0) }.map { min(max($0, 1), 600) }
        let path = request.uri.path
        var layout: [String: Any] = [
            "title": title, "body": body, "version": ConveyorVersion.string,
            "nav": Self.navigation.map { ["href": $0.2, "label": $0.1, "active": $0.0 == section] as [String: Any] },
            "refreshToggleHref": refresh == nil ? Self.withQuery(path, request, set: ("refresh", "5")) : Self.withQuery(path, request, set: nil),
            "refreshToggleLabel": refresh == nil ? "Auto-refresh every 5 s" : "Stop auto-refresh",
        ]
        for (key, value) in footer { layout[key] = value }
        if let refresh { layout["refreshSeconds"] = refresh }
        if let notice = query["notice"].map(String.init), !notice.isEmpty { layout["notice"] = notice }
        if let error { layout["error"] = error }
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// The current path and query with one parameter set (or `refresh` removed).
    static func withQuery(_ path: String, _ request: Request, set: (String, String)?) -> String {
        var items = request.uri.queryParameters.map { (String($0.key), String($0.value)) }.filter { $0.0 != "refresh" && $0.0 != "notice" }
        if let set { items.append(set) }
        guard !items.isEmpty else { return path }
        return path + "?" + items.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?#"))) ?? text
    }

    /// A POST button (a form with the CSRF token) for the `button` partial.
    static func button(_ action: String, _ label: String, context: AdminContext, returnTo: String, style: String = "", fields: [(String, String)] = []) -> [String: Any] {
        [
            "action": action, "label": label, "csrf": context.csrfToken, "returnTo": returnTo, "style": style,
            "fields": fields.map { ["name": $0.0, "value": $0.1] },
        ]
    }

    /// Where to go back after a POST: the form's `return_to` if it is a local path.
    static func returnPath(_ context: AdminContext, fallback: String) -> String {
        guard let path = context.form["return_to"], path.hasPrefix("/"), !path.hasPrefix("//"), !path.contains("\\") else { return fallback }
        return path
    }

    static func redirect(_ path: String, notice: String) -> Response {
        let parts = path.split(separator: "?", maxSplits: 1)
        var items = parts.count > 1 ? parts[1].split(separator: "&").filter { !$0.hasPrefix("notice=") }.map(String.init) : []
        items.append("notice=" + escape(notice))
        return .redirect(to: String(parts.first ?? "/") + "?" + items.joined(separator: "&"), type: .normal)
    }
}
