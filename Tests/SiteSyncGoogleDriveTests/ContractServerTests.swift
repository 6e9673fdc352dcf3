import AsyncHTTPClient
import Foundation
import NIOCore
import SiteSyncDriveContract
import SiteSyncTestSupport
import Testing

/// The contract server's own behaviour where the provider does not exercise it.
@Suite("Drive v3 contract server")
struct ContractServerTests {
    @Test("multipart upload, a bad token, a bad query, and Google's error format")
    func multipartAndErrors() async throws {
        let dir = try TemporaryDirectory("contract")
        let server = try await DriveContractServer(directory: dir.path)
        let token = await server.token()
        let boundary = "sitesync-boundary"
        let body = "--\(boundary)\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\": \"m.txt\", \"parents\": [\"root\"]}\r\n"
            + "--\(boundary)\r\nContent-Type: text/plain\r\n\r\nhello multipart\r\n--\(boundary)--\r\n"
        var request = HTTPClientRequest(url: "\(server.baseURL)/upload/drive/v3/files?uploadType=multipart")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "multipart/related; boundary=\(boundary)")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 200)
        let item = try #require(await server.store.item(at: ["My Drive", "m.txt"]))
        #expect(String(decoding: item.data, as: UTF8.self) == "hello multipart")

        var unauthorized = HTTPClientRequest(url: "\(server.baseURL)/drive/v3/files?q=trashed%20%3D%20false")
        unauthorized.headers.add(name: "Authorization", value: "Bearer nope")
        let denied = try await HTTPClient.shared.execute(unauthorized, timeout: .seconds(10))
        #expect(denied.status.code == 401)
        let error = try JSONSerialization.jsonObject(with: Data((try await denied.body.collect(upTo: 1 << 16)).readableBytesView)) as? [String: Any]
        let inner = error?["error"] as? [String: Any]
        #expect(inner?["code"] as? Int == 401)
        #expect(((inner?["errors"] as? [[String: Any]])?.first?["reason"] as? String) == "authError")

        var badQuery = HTTPClientRequest(url: "\(server.baseURL)/drive/v3/files?q=fullText%20contains%20%27x%27")
        badQuery.headers.add(name: "Authorization", value: "Bearer \(token)")
        #expect(try await HTTPClient.shared.execute(badQuery, timeout: .seconds(10)).status.code == 400)
        await server.stop()
    }
}
