import Foundation
import SiteSyncTestSupport
import Testing

/// The web Sync Queue in headless Chromium, driven by selenium as a person would use it, against the real
/// `sitesync server --listen` with tokens. Alone: a browser on two loaded cores would make every timing flaky.
@Suite("Sync Queue in a browser (headless Chromium)")
struct BrowserAloneTests {
    /// Where the screenshots go: `SITESYNC_SCREENSHOTS`, else `.build/browser-screenshots` (the test output).
    static var screenshots: String {
        if let dir = ProcessInfo.processInfo.environment["SITESYNC_SCREENSHOTS"] { return dir }
        let top = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return top.appendingPathComponent(".build/browser-screenshots").path
    }

    @Test("a person finds a representation, downloads it and watches it reach synced, pauses and resumes the project, removes the copy")
    func syncQueue() async throws {
        try CLI.requireBinary()
        for (path, package) in [("/usr/bin/chromium", "chromium"), ("/usr/bin/chromedriver", "chromium-driver")]
        where !FileManager.default.isExecutableFile(atPath: path) {
            Issue.record("\(path) is missing: install the Debian package \(package) (scripts/install-deps.sh test does)")
            return
        }
        let python = "\(S3Server.venv)/bin/python"
        guard (try? ChildProcess.run(python, "-c", "import selenium")) != nil else {
            Issue.record("selenium is missing from \(S3Server.venv): run scripts/install-deps.sh test")
            return
        }
        let dir = try TemporaryDirectory("browser")
        for sub in ["studio", "anna"] { _ = try dir.sub(sub) }
        let anna = CLI(dir: dir, siteID: "ws-anna")
        let admin = CLI(dir: dir, siteID: "ws-admin")
        try await anna.run("init")
        // The studio's copies are read at 2 MB/s: a 6 MB render takes three seconds to download.
        try """
            sites:
              studio: {provider: local_drive, bandwidth_limit: 2M}
            projects:
              default:
                sitesync: {active_site: studio, remote_site: studio, loop_delay: 1}
              robots: {roots: {work: \(dir.path)/studio}}
            """.write(toFile: "\(dir.path)/studio.yaml", atomically: true, encoding: .utf8)
        try await anna.run("settings", "import", "\(dir.path)/studio.yaml")
        try await anna.run("local", "set", "--root", "work=\(dir.path)/anna")
        try await anna.run("local", "set", "--project", "robots", "--active-site", "local", "--remote-site", "studio")
        // The studio publishes a few things; anna has none of them.
        for (i, folder) in ["chars/anna", "chars/bob", "props/chair", "shots/sh010"].enumerated() {
            let size = folder == "shots/sh010" ? 6_000_000 : 20_000 * (i + 1)
            let file = try dir.file("src/\(i)/big.exr", size: size, seed: UInt64(i + 1))
            try await admin.run("publish", "--project", "robots", "--folder", folder, "--product", "renderMain",
                                "--version", "1", "--name", "exr", file)
        }
        let token = "browser-full-token-0123456789abcdef"
        try "full: \(token)\n".write(toFile: "\(dir.path)/tokens", atomically: true, encoding: .utf8)
        chmod("\(dir.path)/tokens", 0o600)
        let port = SSHServer.freePort()
        let server = try anna.start(["server", "--listen", "127.0.0.1:\(port)", "--token-file", "\(dir.path)/tokens"])
        defer {
            server.signal(SIGTERM)
            _ = server.finish()
        }
        try await eventually("the server to listen", timeout: 60) { SSHServer.canConnect(port) }

        let out = Self.screenshots
        let log = "\(dir.path)/browser.log"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Browser/sync_queue.py").path
        let browser = try ChildProcess([python, script, "http://127.0.0.1:\(port)", out, token, "shots/sh010"], stdout: log, stderr: log)
        let finished = await browser.wait(timeout: 240)
        if !finished { browser.signal(SIGKILL) }
        let status = browser.wait()
        let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(finished && status == 0, "the browser run failed (screenshot: \(out)/failure.png):\n\(said.suffix(4000))")
        for name in ["1-queue", "2-downloading", "3-synced", "4-detail", "6-removed"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(name).png"), "\(name).png")
        }
        // What the page did, the catalog agrees with: the copy was downloaded, then removed on request.
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/anna/robots/shots/sh010/publish/renderMain/v001/big.exr"))
        let projects = try await anna.run("project", "list", "--json")
        #expect(projects.stdout.contains("\"paused\" : false"), "paused and resumed again: \(projects.stdout)")
    }
}
