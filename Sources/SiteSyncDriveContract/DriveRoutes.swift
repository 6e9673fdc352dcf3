import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

enum DriveRoutes {
    struct Failure: Error, Sendable {
        var status: Int
        var reason: String
        var message: String
        var domain = "global"
        var retryAfter: Int?

        init(_ status: Int, _ reason: String, _ message: String, domain: String = "global", retryAfter: Int? = nil) {
            self.status = status
            self.reason = reason
            self.message = message
            self.domain = domain
            self.retryAfter = retryAfter
        }

        /// Google's error body.
        var response: Response {
            let body: [String: Any] = ["error": ["code": status, "message": message,
                                                 "errors": [["domain": domain, "reason": reason, "message": message]]]]
            var r = DriveRoutes.json(body, status: status)
            if let retryAfter { r.headers[.retryAfter] = String(retryAfter) }
            return r
        }
    }

    static func json(_ object: Any, status: Int = 200) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data()
        return Response(status: .init(code: status), headers: [.contentType: "application/json; charset=UTF-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func raw(_ data: Data, status: Int = 200) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json; charset=UTF-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func query(_ request: Request, _ key: String) -> String? {
        request.uri.queryParameters.get(key)
    }

    static func body(_ request: Request) async throws -> Data {
        var r = request
        let buffer = try await r.collectBody(upTo: 256 << 20)
        return Data(buffer.readableBytesView)
    }

    static func install(on router: Router<BasicRequestContext>, store: DriveStore) {
        // Every API call is authorized first and may meet an injected fault.
        @Sendable func api(_ request: Request, _ handler: () async throws -> Response) async throws -> Response {
            let upload = request.uri.path.hasPrefix("/upload/")
            if let failure = await store.authorize(request.headers[.authorization], upload: upload) { return failure.response }
            return try await handler()
        }

        router.post("/token") { request, _ in
            let form = String(decoding: try await body(request), as: UTF8.self)
            var fields: [String: String] = [:]
            for pair in form.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                if kv.count == 2 { fields[kv[0]] = kv[1] }
            }
            guard fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer", let assertion = fields["assertion"] else {
                return json(["error": "unsupported_grant_type", "error_description": "Invalid grant_type"], status: 400)
            }
            let base = await store.base
            switch await store.issueToken(assertion: assertion, audience: "\(base)/token") {
            case .success(let token): return json(["access_token": token, "expires_in": 3599, "token_type": "Bearer"])
            case .failure(let f): return json(["error": f.reason, "error_description": f.message], status: f.status)
            }
        }

        router.get("/drive/v3/files") { request, _ in
            try await api(request) {
                let pageSize = min(1000, Int(query(request, "pageSize") ?? "100") ?? 100)
                switch await store.list(q: query(request, "q") ?? "", pageSize: pageSize, pageToken: query(request, "pageToken")) {
                case .success(let out): return raw(out)
                case .failure(let f): return f.response
                }
            }
        }

        router.post("/drive/v3/files") { request, _ in
            try await api(request) {
                let meta = (try? JSONSerialization.jsonObject(with: try await body(request)) as? [String: Any]) ?? [:]
                guard let name = meta["name"] as? String else { return Failure(400, "required", "Required parameter: name").response }
                let parents = meta["parents"] as? [String] ?? ["root"]
                switch await store.create(name: name, mimeType: meta["mimeType"] as? String ?? "application/octet-stream", parents: parents) {
                case .success(let item): return raw(await store.jsonData(item))
                case .failure(let f): return f.response
                }
            }
        }

        router.get("/drive/v3/files/:id") { request, context in
            try await api(request) {
                let id = try context.parameters.require("id")
                guard let item = await store.get(id) else { return Failure(404, "notFound", "File not found: \(id).").response }
                guard query(request, "alt") == "media" else { return raw(await store.jsonData(item)) }
                var data = item.data
                var status = 200
                var headers: HTTPFields = [.contentType: "application/octet-stream"]
                if let range = request.headers[.range], range.hasPrefix("bytes="),
                   let start = Int(range.dropFirst(6).split(separator: "-").first ?? "") {
                    guard start < data.count || data.isEmpty else {
                        return Failure(416, "requestedRangeNotSatisfiable", "Request range not satisfiable").response
                    }
                    headers[.contentRange] = "bytes \(start)-\(max(start, data.count - 1))/\(data.count)"
                    data = data.subdata(in: start..<data.count)
                    status = 206
                }
                if await store.take(.dropMidDownload) {
                    let half = data.prefix(data.count / 2)
                    return Response(status: .init(code: status), headers: headers,
                                    body: .init(contentLength: data.count) { writer in
                                        try await writer.write(ByteBuffer(bytes: half))
                                        throw ContractError("connection dropped (injected)")
                                    })
                }
                return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
        }

        router.patch("/drive/v3/files/:id") { request, context in
            try await api(request) {
                let id = try context.parameters.require("id")
                let meta = (try? JSONSerialization.jsonObject(with: try await body(request)) as? [String: Any]) ?? [:]
                guard let item = await store.update(id, name: meta["name"] as? String) else {
                    return Failure(404, "notFound", "File not found: \(id).").response
                }
                return raw(await store.jsonData(item))
            }
        }

        router.delete("/drive/v3/files/:id") { request, context in
            try await api(request) {
                let id = try context.parameters.require("id")
                guard await store.delete(id) else { return Failure(404, "notFound", "File not found: \(id).").response }
                return Response(status: .noContent)
            }
        }

        router.get("/drive/v3/drives") { request, _ in
            try await api(request) { raw(await store.driveList()) }
        }

        @Sendable func startUpload(_ request: Request, replacing: String?) async throws -> Response {
            let payload = try await body(request)
            switch query(request, "uploadType") {
            case "resumable":
                let meta = (try? JSONSerialization.jsonObject(with: payload) as? [String: Any]) ?? [:]
                guard let total = request.headers[HTTPField.Name("X-Upload-Content-Length")!].flatMap(Int64.init) else {
                    return Failure(400, "badRequest", "X-Upload-Content-Length is required").response
                }
                let name = meta["name"] as? String ?? "Untitled"
                let parents = meta["parents"] as? [String] ?? ["root"]
                switch await store.startSession(name: name, parents: parents, replacing: replacing, total: total) {
                case .success(let url):
                    return Response(status: .ok, headers: [.location: url])
                case .failure(let f): return f.response
                }
            case "multipart":
                // multipart/related: a JSON metadata part, then the media part.
                guard let type = request.headers[.contentType], let b = type.components(separatedBy: "boundary=").last else {
                    return Failure(400, "badRequest", "multipart upload without a boundary").response
                }
                let parts = Multipart.split(payload, boundary: b.trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
                guard parts.count == 2 else { return Failure(400, "badRequest", "expected metadata and media parts").response }
                let meta = (try? JSONSerialization.jsonObject(with: parts[0]) as? [String: Any]) ?? [:]
                if let replacing {
                    switch await store.startSession(name: "", parents: [], replacing: replacing, total: Int64(parts[1].count)) {
                    case .success(let url):
                        let id = url.components(separatedBy: "upload_id=").last ?? ""
                        if case .complete(let out) = await store.receive(session: id, start: 0, chunk: parts[1]) { return raw(out) }
                        return Failure(500, "backendError", "upload failed").response
                    case .failure(let f): return f.response
                    }
                }
                switch await store.create(name: meta["name"] as? String ?? "Untitled", mimeType: "application/octet-stream",
                                          parents: meta["parents"] as? [String] ?? ["root"], data: parts[1]) {
                case .success(let item): return raw(await store.jsonData(item))
                case .failure(let f): return f.response
                }
            default:
                return Failure(400, "badRequest", "uploadType must be resumable or multipart").response
            }
        }

        router.post("/upload/drive/v3/files") { request, _ in
            try await api(request) { try await startUpload(request, replacing: nil) }
        }

        router.patch("/upload/drive/v3/files/:id") { request, context in
            try await api(request) { try await startUpload(request, replacing: try context.parameters.require("id")) }
        }

        router.put("/upload/drive/v3/files") { request, _ in
            // Session URLs carry their own authority (as Google's do); faults still apply.
            if let failure = await store.authorize(request.headers[.authorization], upload: true), failure.status != 401 { return failure.response }
            guard let id = query(request, "upload_id") else { return Failure(404, "notFound", "no such session").response }
            let range = request.headers[.contentRange] ?? ""
            let chunk = try await body(request)
            var start: Int64?
            if range.hasPrefix("bytes "), !range.hasPrefix("bytes */") {
                start = Int64(range.dropFirst(6).split(separator: "-").first ?? "")
            }
            if let start, await store.take(.dropMidChunk) {
                await store.keepHalf(session: id, start: start, chunk: chunk)
                return Response(status: .ok, body: .init(contentLength: 100) { writer in
                    throw ContractError("connection dropped (injected)")
                })
            }
            switch await store.receive(session: id, start: start, chunk: start == nil ? nil : chunk) {
            case .incomplete(let received):
                var headers: HTTPFields = [:]
                if received > 0 { headers[.range] = "bytes=0-\(received - 1)" }
                return Response(status: .init(code: 308, reasonPhrase: "Resume Incomplete"), headers: headers)
            case .complete(let out):
                return raw(out)
            case .gone:
                if let done = await store.doneSession(id) { return raw(done) }
                return Failure(404, "notFound", "Upload session not found or expired").response
            }
        }

        router.delete("/upload/drive/v3/files") { request, _ in
            guard let id = query(request, "upload_id"), await store.cancelSession(id) else {
                return Failure(404, "notFound", "Upload session not found").response
            }
            return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request"))
        }
    }
}

enum Multipart {
    static func split(_ data: Data, boundary: String) -> [Data] {
        let delimiter = Data("--\(boundary)".utf8)
        var parts: [Data] = []
        var ranges: [Range<Data.Index>] = []
        var search = data.startIndex..<data.endIndex
        while let r = data.range(of: delimiter, in: search) {
            ranges.append(r)
            search = r.upperBound..<data.endIndex
        }
        for (a, b) in zip(ranges, ranges.dropFirst()) {
            var part = data.subdata(in: a.upperBound..<b.lowerBound)
            guard let headerEnd = part.range(of: Data("\r\n\r\n".utf8)) else { continue }
            part = part.subdata(in: headerEnd.upperBound..<part.endIndex)
            if part.suffix(2) == Data("\r\n".utf8) { part = part.dropLast(2) }
            parts.append(part)
        }
        return parts
    }
}
