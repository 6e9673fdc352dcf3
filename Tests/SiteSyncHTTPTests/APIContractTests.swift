import Foundation
import NIOHTTP1
@testable import SiteSyncHTTP
import SiteSyncTestSupport
import Testing

/// The OpenAPI document in the repository is the API's contract: it is a valid OpenAPI 3 document, every route is
/// in it and everything in it is routed, and real answers have what its schemas require.
@Suite("HTTP API contract: routes and answers match the OpenAPI document")
struct APIContractTests {
    nonisolated(unsafe) static let document: [String: Any] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SiteSyncHTTP/openapi.json")
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] ?? [:]
    }()

    @Test("the document is valid OpenAPI 3 (openapi-spec-validator)")
    func validDocument() throws {
        let python = S3Server.venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw TestServerFailure.missing("\(python) is missing: run scripts/install-deps.sh test (it installs openapi-spec-validator into .venv-test)")
        }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/SiteSyncHTTP/openapi.json").path
        let out = try ChildProcess.run([python, "-c", """
            import json, sys
            from openapi_spec_validator import validate
            validate(json.load(open(sys.argv[1])))
            print("valid")
            """, path])
        #expect(out.contains("valid"))
    }

    @Test("every route is documented, and every documented operation is routed")
    func routesMatch() throws {
        let paths = try #require(Self.document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, item) in paths {
            for method in ["get", "post", "put", "delete"] where item[method] != nil { documented.insert("\(method.uppercased()) \(path)") }
        }
        let routed = Set(APIRoutes.table.map { route in
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method) /\(path)"
        })
        #expect(routed == documented, "routed but not documented: \(routed.subtracting(documented)); documented but not routed: \(documented.subtracting(routed))")
    }

    @Test("answers have what the document's schemas require")
    func answersMatch() async throws {
        let f = try await APIFixture()
        let id = f.ids[0]
        let calls: [(HTTPMethod, String, String?, String, Int)] = [
            (.GET, "/access", nil, "/access", 200),
            (.GET, "/projects", nil, "/projects", 200),
            (.GET, "/projects/robots/sites", nil, "/projects/{project}/sites", 200),
            (.GET, "/projects/robots/representations?page_size=2", nil, "/projects/{project}/representations", 200),
            (.GET, "/projects/robots/representations?sort=colour", nil, "/projects/{project}/representations", 400),
            (.GET, "/representations/\(id)", nil, "/representations/{id}", 200),
            (.GET, "/representations/00000000", nil, "/representations/{id}", 404),
            (.POST, "/representations/\(id)/sites/local", #"{"priority": 70}"#, "/representations/{id}/sites/{site}", 200),
            (.POST, "/representations/\(id)/sites/backup/reset", nil, "/representations/{id}/sites/{site}/reset", 200),
            (.PUT, "/representations/\(id)/priority", #"{"priority": 3}"#, "/representations/{id}/priority", 200),
            (.DELETE, "/representations/\(id)/sites/studio", nil, "/representations/{id}/sites/{site}", 409),
            (.GET, "/activity?project=robots", nil, "/activity", 200),
            (.GET, "/activity?project=nosuch", nil, "/activity", 404),
            (.GET, "/activity?recent=5000", nil, "/activity", 400),
            (.POST, "/pause", #"{"scope": "server"}"#, "/pause", 200),
            (.POST, "/resume", #"{"scope": "server"}"#, "/resume", 200),
        ]
        for (method, url, body, documentedPath, status) in calls {
            let answer = try await f.call(method, url, body: body)
            #expect(answer.status == status, "\(method) \(url)")
            let schema = try #require(Self.responseSchema(documentedPath, method.rawValue.lowercased(), status), "\(method) \(documentedPath) \(status) is not documented")
            let problems = Self.check(answer.json, against: schema, at: "\(method) \(url)")
            #expect(problems.isEmpty, "\(problems)")
        }
        let doc = try await f.call(.GET, "/openapi.json", token: nil)
        #expect(doc.status == 200 && doc.json["openapi"] as? String == "3.0.3", "the document is served, without a token")
    }

    static func resolve(_ node: [String: Any]) -> [String: Any] {
        guard let ref = node["$ref"] as? String else { return node }
        var current: Any = document
        for part in ref.dropFirst(2).split(separator: "/") { current = (current as? [String: Any])?[String(part)] as Any }
        return resolve(current as? [String: Any] ?? [:])
    }

    static func responseSchema(_ path: String, _ method: String, _ status: Int) -> [String: Any]? {
        guard let op = ((document["paths"] as? [String: Any])?[path] as? [String: Any])?[method] as? [String: Any],
              let response = (op["responses"] as? [String: Any])?[String(status)] as? [String: Any] else { return nil }
        let resolved = resolve(response)
        return ((resolved["content"] as? [String: Any])?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    }

    /// Required properties and types, recursively (allOf, items, additionalProperties, enums, nullable).
    static func check(_ value: Any, against raw: [String: Any], at path: String) -> [String] {
        let schema = resolve(raw)
        var problems: [String] = []
        if let all = schema["allOf"] as? [[String: Any]] {
            for part in all { problems += check(value, against: part, at: path) }
            return problems
        }
        if value is NSNull { return schema["nullable"] as? Bool == true ? [] : ["\(path): null where \(schema["type"] ?? "a value") is required"] }
        switch schema["type"] as? String {
        case "object"?:
            guard let object = value as? [String: Any] else { return ["\(path): not an object"] }
            for key in schema["required"] as? [String] ?? [] where object[key] == nil { problems.append("\(path): lacks \(key)") }
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for (key, v) in object {
                if let p = properties[key] { problems += check(v, against: p, at: "\(path).\(key)") }
                else if let extra = schema["additionalProperties"] as? [String: Any] { problems += check(v, against: extra, at: "\(path).\(key)") }
            }
        case "array"?:
            guard let array = value as? [Any] else { return ["\(path): not an array"] }
            if let items = schema["items"] as? [String: Any] {
                for (i, v) in array.enumerated() { problems += check(v, against: items, at: "\(path)[\(i)]") }
            }
        case "string"?:
            guard let s = value as? String else { return ["\(path): not a string"] }
            if let allowed = schema["enum"] as? [String], !allowed.contains(s) { problems.append("\(path): '\(s)' not in \(allowed)") }
        case "integer"?:
            // JSONSerialization hands numbers over as NSNumber: a whole number that is not a boolean.
            let number = value as? NSNumber
            if number == nil || Self.isBoolean(value) || number.map({ $0.doubleValue.rounded() != $0.doubleValue }) == true {
                problems.append("\(path): not an integer")
            }
        case "boolean"?:
            if !Self.isBoolean(value) { problems.append("\(path): not a boolean") }
        default: break
        }
        return problems
    }

    /// true and false come back as NSNumber too; their object type tells them from 1 and 0.
    static func isBoolean(_ value: Any) -> Bool {
        guard let n = value as? NSNumber else { return false }
        return type(of: n) == type(of: NSNumber(value: true)) && (n == NSNumber(value: true) || n == NSNumber(value: false)) && String(cString: n.objCType) == "c"
    }
}
