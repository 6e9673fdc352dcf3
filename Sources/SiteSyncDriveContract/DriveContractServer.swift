import Crypto
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import _CryptoExtras

/// A Google Drive v3 server for tests, following Google's documented behaviour for every call SiteSync makes:
/// the jwt-bearer token grant (the JWT's RS256 signature is checked with the key's public half), files.list
/// with the `q` subset we use and paging, files.get (metadata and `alt=media` with `Range`), files.create,
/// files.update, files.delete, drives.list, resumable uploads (308 with `Range`, status queries, cancel) and
/// multipart uploads, `sha256Checksum`/`md5Checksum`, and errors in Google's JSON format. Faults can be injected.
public final class DriveContractServer: Sendable {
    public let baseURL: String
    /// A service-account JSON key this server accepts.
    public let keyFile: String
    public let clientEmail = "sitesync-test@contract.iam.gserviceaccount.com"
    public let store: DriveStore
    let group: ServiceGroup
    let task: Task<Void, any Error>

    public enum Fault: Sendable, Equatable {
        /// 403 userRateLimitExceeded for the next N API requests.
        case rateLimit(Int)
        /// 429 with Retry-After: seconds, for the next N requests.
        case tooMany(Int, retryAfter: Int)
        /// 500 for the next N requests.
        case serverError(Int)
        /// 403 userRateLimitExceeded for the next N upload requests only (metadata and listing answer normally):
        /// a storm that reaches transfers, not the site check.
        case rateLimitUploads(Int)
        /// The next upload chunk: half is kept, then the connection drops.
        case dropMidChunk
        /// The next media download: half the bytes, then the connection drops.
        case dropMidDownload
        /// Every token issued so far stops working (the client must refresh on 401).
        case expireTokens
    }

    public init(directory: String) async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let portBox = PortBox()
        let store = DriveStore(publicKey: key.publicKey)
        self.store = store
        let router = Router()
        DriveRoutes.install(on: router, store: store)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in await portBox.set(channel.localAddress?.port ?? 0) },
                              logger: Logger(label: "drive-contract", factory: { _ in SwiftLogNoOpLogHandler() }))
        group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "drive-contract", factory: { _ in SwiftLogNoOpLogHandler() })))
        let g = group
        task = Task { try await g.run() }
        var port = 0
        for _ in 0..<500 {
            port = await portBox.port
            if port != 0 { break }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard port != 0 else { throw ContractError("the Drive contract server did not start") }
        baseURL = "http://127.0.0.1:\(port)"
        await store.setBase(baseURL)
        keyFile = "\(directory)/service-account.json"
        let json: [String: Any] = [
            "type": "service_account", "project_id": "contract", "private_key_id": "k1",
            "private_key": key.pkcs8PEMRepresentation, "client_email": clientEmail,
            "token_uri": "\(baseURL)/token",
        ]
        try JSONSerialization.data(withJSONObject: json, options: [.withoutEscapingSlashes]).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o600)
    }

    public func inject(_ fault: Fault) async { await store.inject(fault) }

    /// A valid access token without the JWT dance, for tests that call the API directly.
    public func token() async -> String { await store.mintToken() }

    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

struct ContractError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

actor PortBox {
    var port = 0
    func set(_ p: Int) { port = p }
}

/// Everything the fake Drive holds.
public actor DriveStore {
    public struct Item: Sendable {
        public var id: String
        public var name: String
        public var mimeType: String
        public var parents: [String]
        public var data: Data
        public var created: Date
        public var modified: Date
        public var trashed = false
        public var revisions = 1
    }

    struct Session {
        var name: String
        var parents: [String]
        var replacing: String?
        var total: Int64
        var received: Data
    }

    static let folderType = "application/vnd.google-apps.folder"
    let publicKey: _RSA.Signing.PublicKey
    var base = ""
    public private(set) var items: [String: Item] = [:]
    var drives: [String: String] = [:]  // id → name
    var sessions: [String: Session] = [:]
    var tokens: Set<String> = []
    var faults: [DriveContractServer.Fault] = []
    var counter = 0
    public private(set) var requests = 0
    /// Upload bytes received over all sessions (resumed uploads send less).
    public private(set) var uploadBytes: Int64 = 0
    public private(set) var rateLimited = 0
    /// Upload requests answered with a rate limit (`rateLimitUploads`).
    public private(set) var uploadsRateLimited = 0
    /// Answer without `sha256Checksum` (older files, some Workspace setups): clients fall back to md5.
    public var withoutSHA256 = false
    /// The next completed upload is stored with one byte flipped (a corruption Drive's checksum must reveal).
    public var corruptNextUpload = false

    public func set(withoutSHA256 value: Bool) { withoutSHA256 = value }
    /// Replaces a file's bytes behind the client's back (a copy that rots on the storage).
    public func replaceData(_ id: String, with data: Data) { items[id]?.data = data }
    public func corruptNext() { corruptNextUpload = true }

    init(publicKey: _RSA.Signing.PublicKey) {
        self.publicKey = publicKey
        items["root"] = Item(id: "root", name: "My Drive", mimeType: Self.folderType, parents: [], data: Data(),
                             created: Date(), modified: Date())
    }

    func setBase(_ b: String) { base = b }

    func inject(_ fault: DriveContractServer.Fault) {
        if fault == .expireTokens { tokens.removeAll() } else { faults.append(fault) }
    }

    func newID(_ prefix: String = "f") -> String {
        counter += 1
        return "\(prefix)\(counter)x\(UUID().uuidString.prefix(6).lowercased())"
    }

    public func addSharedDrive(_ name: String) -> String {
        let id = newID("drive")
        drives[id] = name
        items[id] = Item(id: id, name: name, mimeType: Self.folderType, parents: [], data: Data(), created: Date(), modified: Date())
        return id
    }

    /// Adds an item directly (to set up duplicates the way other Drive clients make them).
    @discardableResult
    public func add(name: String, parent: String, folder: Bool, data: Data = Data(), created: Date = Date()) -> String {
        let id = newID()
        items[id] = Item(id: id, name: name, mimeType: folder ? Self.folderType : "application/octet-stream", parents: [parent],
                         data: data, created: created, modified: created)
        return id
    }

    public func children(of parent: String) -> [Item] {
        items.values.filter { $0.parents.contains(parent) && !$0.trashed }.sorted { $0.created < $1.created }
    }

    /// The item at a path of names from a drive root (`["My Drive", "studio", "x.ma"]`).
    public func item(at path: [String]) -> Item? {
        guard let first = path.first else { return nil }
        var current: Item? = first == "My Drive" ? items["root"] : items.values.first { drives[$0.id] == first }
        for name in path.dropFirst() {
            guard let c = current else { return nil }
            current = children(of: c.id).first { $0.name == name }
        }
        return current
    }

    // MARK: Auth and faults

    func issueToken(assertion: String, audience: String) -> Result<String, DriveRoutes.Failure> {
        let parts = assertion.split(separator: ".").map(String.init)
        guard parts.count == 3, let signature = Self.unbase64URL(parts[2]),
              let claimsData = Self.unbase64URL(parts[1]),
              let claims = try? JSONSerialization.jsonObject(with: claimsData) as? [String: Any] else {
            return .failure(.init(400, "invalid_grant", "malformed JWT"))
        }
        let input = Data((parts[0] + "." + parts[1]).utf8)
        guard publicKey.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: signature), for: SHA256.hash(data: input),
                                         padding: .insecurePKCS1v1_5) else {
            return .failure(.init(400, "invalid_grant", "Invalid JWT Signature."))
        }
        let now = Date().timeIntervalSince1970
        guard claims["aud"] as? String == audience else { return .failure(.init(400, "invalid_grant", "Invalid JWT: aud")) }
        guard let exp = claims["exp"] as? Double ?? (claims["exp"] as? Int).map(Double.init), exp > now else {
            return .failure(.init(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token"))
        }
        guard (claims["scope"] as? String)?.contains("auth/drive") == true else {
            return .failure(.init(400, "invalid_scope", "no Drive scope"))
        }
        let token = "ya29.contract-\(UUID().uuidString)"
        tokens.insert(token)
        return .success(token)
    }

    func mintToken() -> String {
        let token = "ya29.contract-\(UUID().uuidString)"
        tokens.insert(token)
        return token
    }

    func authorize(_ header: String?, upload: Bool = false) -> DriveRoutes.Failure? {
        requests += 1
        guard let header, header.hasPrefix("Bearer "), tokens.contains(String(header.dropFirst(7))) else {
            return .init(401, "authError", "Request had invalid authentication credentials.")
        }
        if upload, let index = faults.firstIndex(where: { if case .rateLimitUploads = $0 { return true }; return false }),
           case .rateLimitUploads(let n) = faults[index] {
            if n - 1 <= 0 { faults.remove(at: index) } else { faults[index] = .rateLimitUploads(n - 1) }
            rateLimited += 1
            uploadsRateLimited += 1
            return .init(403, "userRateLimitExceeded", "User Rate Limit Exceeded.", domain: "usageLimits")
        }
        if let index = faults.firstIndex(where: {
            switch $0 { case .rateLimit, .tooMany, .serverError: return true; default: return false }
        }) {
            let fault = faults[index]
            switch fault {
            case .rateLimit(let n):
                faults[index] = .rateLimit(n - 1)
                if n - 1 <= 0 { faults.remove(at: index) }
                rateLimited += 1
                return .init(403, "userRateLimitExceeded", "User Rate Limit Exceeded.", domain: "usageLimits")
            case .tooMany(let n, let after):
                faults[index] = .tooMany(n - 1, retryAfter: after)
                if n - 1 <= 0 { faults.remove(at: index) }
                rateLimited += 1
                return .init(429, "rateLimitExceeded", "Rate Limit Exceeded", domain: "usageLimits", retryAfter: after)
            case .serverError(let n):
                faults[index] = .serverError(n - 1)
                if n - 1 <= 0 { faults.remove(at: index) }
                return .init(500, "backendError", "Backend Error")
            default: break
            }
        }
        return nil
    }

    func take(_ fault: DriveContractServer.Fault) -> Bool {
        guard let i = faults.firstIndex(of: fault) else { return false }
        faults.remove(at: i)
        return true
    }

    static func unbase64URL(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }

    // MARK: Files

    func jsonData(_ item: Item) -> Data { Self.encode(json(item)) }

    static func encode(_ object: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes])) ?? Data()
    }

    func json(_ item: Item) -> [String: Any] {
        var out: [String: Any] = [
            "kind": "drive#file", "id": item.id, "name": item.name, "mimeType": item.mimeType, "parents": item.parents,
            "createdTime": Self.time(item.created), "modifiedTime": Self.time(item.modified), "trashed": item.trashed,
        ]
        if item.mimeType != Self.folderType {
            out["size"] = String(item.data.count)
            out["md5Checksum"] = Insecure.MD5.hash(data: item.data).map { String(format: "%02x", $0) }.joined()
            if !withoutSHA256 {
                out["sha256Checksum"] = SHA256.hash(data: item.data).map { String(format: "%02x", $0) }.joined()
            }
        }
        if let drive = drives.first(where: { item.parents.contains($0.key) || item.id == $0.key })?.key { out["driveId"] = drive }
        return out
    }

    static func time(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    func list(q: String, pageSize: Int, pageToken: String?) -> Result<Data, DriveRoutes.Failure> {
        let terms: [QueryTerm]
        do { terms = try QueryTerm.parse(q) } catch { return .failure(.init(400, "invalidQuery", "Invalid Value: \(error)")) }
        let matches = items.values.filter { item in
            item.id != "root" && drives[item.id] == nil && terms.allSatisfy { $0.matches(item) }
        }.sorted { ($0.created, $0.id) > ($1.created, $1.id) }  // newest first: Drive promises no order, clients sort
        let start = Int(pageToken ?? "0") ?? 0
        let page = Array(matches.dropFirst(start).prefix(pageSize))
        var out: [String: Any] = ["kind": "drive#fileList", "files": page.map(json)]
        if start + page.count < matches.count { out["nextPageToken"] = String(start + page.count) }
        return .success(Self.encode(out))
    }

    func get(_ id: String) -> Item? {
        guard let item = items[id], !item.trashed else { return nil }
        return item
    }

    func create(name: String, mimeType: String, parents: [String], data: Data = Data()) -> Result<Item, DriveRoutes.Failure> {
        for parent in parents where items[parent] == nil {
            return .failure(.init(404, "notFound", "File not found: \(parent)."))
        }
        let item = Item(id: newID(), name: name, mimeType: mimeType, parents: parents, data: data, created: Date(), modified: Date())
        items[item.id] = item
        return .success(item)
    }

    func update(_ id: String, name: String?) -> Item? {
        guard var item = get(id) else { return nil }
        if let name { item.name = name }
        item.modified = Date()
        items[id] = item
        return item
    }

    @discardableResult
    public func delete(_ id: String) -> Bool {
        guard items[id] != nil, id != "root" else { return false }
        for child in items.values where child.parents.contains(id) { _ = delete(child.id) }
        items[id] = nil
        return true
    }

    func driveList() -> Data {
        Self.encode(["kind": "drive#driveList", "drives": drives.sorted { $0.key < $1.key }.map { ["kind": "drive#drive", "id": $0.key, "name": $0.value] }])
    }

    // MARK: Resumable uploads

    func startSession(name: String, parents: [String], replacing: String?, total: Int64) -> Result<String, DriveRoutes.Failure> {
        if let replacing, get(replacing) == nil { return .failure(.init(404, "notFound", "File not found: \(replacing).")) }
        for parent in parents where items[parent] == nil { return .failure(.init(404, "notFound", "File not found: \(parent).")) }
        let id = newID("upload")
        sessions[id] = Session(name: name, parents: parents, replacing: replacing, total: total, received: Data())
        return .success("\(base)/upload/drive/v3/files?uploadType=resumable&upload_id=\(id)")
    }

    enum ChunkResult {
        case incomplete(received: Int64)
        case complete(Data)
        case gone
    }

    /// A `Content-Range: bytes a-b/total` chunk, or a `bytes */total` status query (`chunk` nil).
    func receive(session id: String, start: Int64?, chunk: Data?) -> ChunkResult {
        guard var s = sessions[id] else { return .gone }
        if let start, let chunk, start == Int64(s.received.count) {
            s.received.append(chunk)
            uploadBytes += Int64(chunk.count)
        }
        sessions[id] = s
        guard Int64(s.received.count) >= s.total else { return .incomplete(received: Int64(s.received.count)) }
        // Complete: the file (or its new revision) appears only now, whole.
        sessions[id] = nil
        if corruptNextUpload, !s.received.isEmpty {
            corruptNextUpload = false
            s.received[s.received.startIndex] ^= 0xff
        }
        let item: Item
        if let replacing = s.replacing, var existing = items[replacing] {
            existing.data = s.received
            existing.modified = Date()
            existing.revisions += 1
            items[replacing] = existing
            item = existing
        } else {
            item = Item(id: newID(), name: s.name, mimeType: "application/octet-stream", parents: s.parents, data: s.received,
                        created: Date(), modified: Date())
            items[item.id] = item
        }
        sessionsDone[id] = item.id
        return .complete(jsonData(item))
    }

    var sessionsDone: [String: String] = [:]

    func doneSession(_ id: String) -> Data? {
        sessionsDone[id].flatMap { items[$0] }.map(jsonData)
    }

    func keepHalf(session id: String, start: Int64, chunk: Data) {
        guard var s = sessions[id], start == Int64(s.received.count) else { return }
        s.received.append(chunk.prefix(chunk.count / 2))
        uploadBytes += Int64(chunk.count / 2)
        sessions[id] = s
    }

    func cancelSession(_ id: String) -> Bool {
        sessions.removeValue(forKey: id) != nil
    }

    public var openSessions: Int { sessions.count }
}

/// The `q` subset SiteSync sends: `name = '…'`, `'id' in parents`, `trashed = false`, `mimeType = / != '…'`,
/// joined by `and`. Anything else is a 400, as it would be if we sent Google something it does not understand.
enum QueryTerm {
    case name(String)
    case inParents(String)
    case trashed(Bool)
    case mimeType(String, equal: Bool)

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    func matches(_ item: DriveStore.Item) -> Bool {
        switch self {
        case .name(let n): return item.name == n
        case .inParents(let p): return item.parents.contains(p)
        case .trashed(let t): return item.trashed == t
        case .mimeType(let m, let equal): return (item.mimeType == m) == equal
        }
    }

    static func parse(_ q: String) throws -> [QueryTerm] {
        var tokens: [String] = []   // strings kept with a leading quote marker
        var i = q.startIndex
        while i < q.endIndex {
            let c = q[i]
            if c == " " { i = q.index(after: i); continue }
            if c == "'" {
                var value = ""
                i = q.index(after: i)
                var closed = false
                while i < q.endIndex {
                    let d = q[i]
                    if d == "\\" {
                        i = q.index(after: i)
                        guard i < q.endIndex else { break }
                        value.append(q[i])
                    } else if d == "'" {
                        closed = true
                        break
                    } else {
                        value.append(d)
                    }
                    i = q.index(after: i)
                }
                guard closed else { throw ParseError(description: "unterminated string in \(q)") }
                tokens.append("'" + value)
                i = q.index(after: i)
            } else {
                var word = ""
                while i < q.endIndex, q[i] != " ", q[i] != "'" {
                    word.append(q[i])
                    i = q.index(after: i)
                }
                tokens.append(word)
            }
        }
        var terms: [QueryTerm] = []
        var t = tokens[...]
        while !t.isEmpty {
            let a = t.popFirst()!, op = t.popFirst() ?? "", b = t.popFirst() ?? ""
            switch (a, op, b) {
            case ("name", "=", let v) where v.hasPrefix("'"): terms.append(.name(String(v.dropFirst())))
            case (let v, "in", "parents") where v.hasPrefix("'"): terms.append(.inParents(String(v.dropFirst())))
            case ("trashed", "=", "false"): terms.append(.trashed(false))
            case ("trashed", "=", "true"): terms.append(.trashed(true))
            case ("mimeType", "=", let v) where v.hasPrefix("'"): terms.append(.mimeType(String(v.dropFirst()), equal: true))
            case ("mimeType", "!=", let v) where v.hasPrefix("'"): terms.append(.mimeType(String(v.dropFirst()), equal: false))
            default: throw ParseError(description: "unsupported query term '\(a) \(op) \(b)' in \(q)")
            }
            if let next = t.first {
                guard next == "and" else { throw ParseError(description: "expected 'and' in \(q)") }
                t = t.dropFirst()
            }
        }
        return terms
    }
}
