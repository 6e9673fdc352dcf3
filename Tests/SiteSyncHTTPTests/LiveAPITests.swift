import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SiteSyncTestSupport
import Testing

/// The live half of the API: what runs and what just ended, streamed; metrics; site health; the page itself.
@Suite("HTTP API while a sync server runs beside it")
struct LiveAPITests {
    @Test("/activity shows a running upload with its bytes and speed, then its completion; /metrics counts it")
    func activity() async throws {
        // 3 MB at 1 MB/s: three seconds to watch.
        let f = try await APIFixture(serve: true, backupLimit: "1M", sizes: [3_000_000, 1000, 1000])
        var sawRunning: [String: Any]?
        try await eventually("the upload to run", timeout: 60) {
            let a = try await f.call(.GET, "/activity?project=robots")
            if let r = (a.json["running"] as? [[String: Any]])?.first(where: { ($0["bytes_done"] as? Int ?? 0) > 0 }) {
                sawRunning = r
            }
            return sawRunning != nil
        }
        let running = try #require(sawRunning)
        #expect(running["target"] as? String == "backup" && running["source"] as? String == "studio")
        #expect(running["size"] as? Int == 3_000_000 && running["representation_id"] as? String == f.ids[0])
        #expect((running["bytes_per_second"] as? Double ?? 0) > 0 && running["started_at"] is String)
        try await eventually("the upload to complete", timeout: 60) {
            let a = try await f.call(.GET, "/activity?project=robots&recent=10")
            return (a.json["recent"] as? [[String: Any]])?.contains {
                $0["outcome"] as? String == "synced" && $0["site"] as? String == "backup" && $0["representation_id"] as? String == f.ids[0]
            } == true
        }
        // The catalog records a completion a moment before the server counts it.
        try await eventually("the metrics to count the upload") {
            try await f.text("/metrics").contains(#"sitesync_transfers_total{source="studio",target="backup",outcome="synced"}"#)
        }
        let metrics = try await f.text("/metrics")
        #expect(metrics.contains(#"sitesync_bytes_moved_total{source="studio",target="backup"}"#))
        #expect(metrics.contains("sitesync_transfer_duration_seconds_bucket"))
        #expect(metrics.contains(#"sitesync_site_up{site="backup"} 1"#))
        #expect(metrics.contains(#"sitesync_queue_depth{site="backup",status="#))
        // Sites carry the server's own checks.
        let sites = try await f.call(.GET, "/projects/robots/sites")
        let backup = (sites.json["sites"] as? [[String: Any]])?.first { $0["name"] as? String == "backup" }
        let health = backup?["health"] as? [String: Any]
        #expect(health?["ok"] as? Bool == true && health?["checked_at"] is String, "\(String(describing: backup))")
    }

    @Test("/events streams an activity update every second, as Server-Sent Events")
    func events() async throws {
        let f = try await APIFixture(serve: true, backupLimit: "1M", sizes: [2_000_000, 1000, 1000])
        var request = HTTPClientRequest(url: f.base + "/events?project=robots")
        request.headers.add(name: "Authorization", value: "Bearer \(APIFixture.read)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status == .ok && response.headers.first(name: "Content-Type") == "text/event-stream")
        var text = ""
        let started = ContinuousClock.now
        for try await chunk in response.body {
            text += String(buffer: chunk)
            // Four begun: at least three complete.
            if text.components(separatedBy: "event: activity\n").count > 4 { break }
            if ContinuousClock.now - started > .seconds(20) { break }
        }
        // Only complete events: each ends with a blank line, so what follows the last one is empty or an event still
        // arriving, cut where the loop stopped reading (a fresh-clone CI run parsed such a half and failed).
        let events = text.components(separatedBy: "\n\n").dropLast().filter { $0.hasPrefix("event: activity\ndata: ") }
        #expect(events.count >= 3, "\(text)")
        #expect(ContinuousClock.now - started < .seconds(12), "at least one update a second")
        for event in events {
            let json = try JSONSerialization.jsonObject(with: Data(event.dropFirst("event: activity\ndata: ".count).utf8)) as? [String: Any]
            #expect(json?["running"] is [Any] && json?["recent"] is [Any])
        }
        // Without a token: refused before any stream.
        let refused = try await f.call(.GET, "/events", token: nil)
        #expect(refused.status == 401)
    }

    @Test("web mode checks the sites itself; the page and its files are served without a token, the data is not")
    func pageAndHealth() async throws {
        let f = try await APIFixture()
        let sites = try await f.call(.GET, "/projects/robots/sites", token: APIFixture.read)
        var health: [String: [String: Any]] = [:]
        for site in sites.json["sites"] as? [[String: Any]] ?? [] { health[site["name"] as? String ?? ""] = site["health"] as? [String: Any] }
        #expect(health["studio"]?["ok"] as? Bool == true && health["backup"]?["ok"] as? Bool == true, "\(sites.json)")
        // This machine's own site has no roots here: down, saying what to set.
        #expect(health["ws-anna"]?["ok"] as? Bool == false && (health["ws-anna"]?["message"] as? String)?.contains("sitesync local set --root") == true)
        let page = try await f.text("/", token: nil)
        #expect(page.contains("<title>SiteSync — Sync Queue</title>") && page.contains("/ui/app.js"))
        #expect(try await f.text("/ui/app.js", token: nil).contains("Authorization"))
        #expect(try await f.text("/ui/app.css", token: nil).contains(".pill"))
        #expect(try await f.call(.GET, "/projects", token: nil).status == 401)
    }
}

extension APIFixture {
    /// A path under the server's root (not /api/v1), as text.
    func text(_ path: String, token: String? = APIFixture.full) async throws -> String {
        var request = HTTPClientRequest(url: root + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return String(buffer: try await response.body.collect(upTo: 16 << 20))
    }
}
