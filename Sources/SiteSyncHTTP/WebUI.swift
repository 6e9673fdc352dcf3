import Foundation
import Hummingbird
import NIOCore

/// The Sync Queue in a browser: three files compiled into the binary (no build step, no npm), served at `/`.
/// The page talks to the API only, with the token the person gives it.
enum WebUI {
    static let files: [String: (type: String, bytes: [UInt8])] = [
        "/": ("text/html; charset=utf-8", PackageResources.index_html),
        "/ui/app.js": ("text/javascript; charset=utf-8", PackageResources.app_js),
        "/ui/app.css": ("text/css; charset=utf-8", PackageResources.app_css),
    ]

    static func isPage(_ path: String) -> Bool { files[path] != nil || path == "/favicon.ico" }

    static func install(on router: Router<APIContext>) {
        // No icon: an empty answer rather than a 404 (or 401) in every browser's console.
        router.get("favicon.ico") { _, _ in Response(status: .noContent) }
        for (path, file) in files {
            var headers: HTTPFields = [.contentType: file.type, .cacheControl: "no-cache"]
            // The page loads nothing from elsewhere and runs no inline script.
            headers[.contentSecurityPolicy] = "default-src 'self'; img-src 'self' data:"
            let fixed = headers
            router.get(RouterPath(path)) { _, _ in
                Response(status: .ok, headers: fixed, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
            }
        }
    }
}
