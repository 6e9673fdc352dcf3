import Foundation
import SiteSyncTestSupport
import Testing

@Suite("catalog check and catalog copy through the CLI")
struct CatalogCommandTests {
    @Test("a studio moves from its SQLite catalog to PostgreSQL: same status, the servers carry on, nothing shown secret")
    func moveToPostgres() async throws {
        try CLI.requireBinary()
        let dir = try TemporaryDirectory("cli-catalog")
        let (admin, anna) = try await CLITests.setUp(dir)
        let first = try dir.file("src/a.ma", size: 50_000, seed: 7)
        try await anna.run("publish", "--project", "robots", "--folder", "chars/anna", "--product", "modelMain", "--version", "1",
                           "--name", "ma", first)
        try await anna.run("server", "--once")
        try await admin.run("pause", "--project", "robots")

        let check = try await admin.run("catalog", "check").stdout
        #expect(check.contains("(sqlite, schema") && check.contains("1 representation(s), 1 file(s)"), "\(check)")
        #expect(check.contains("leases: 0 running"), "\(check)")
        let sqliteCheck = try await admin.json("catalog", "check", "--json")
        #expect(sqliteCheck["kind"] as? String == "sqlite" && sqliteCheck["representations"] as? Int == 1)
        #expect((sqliteCheck["sites"] as? [String: [String: Int]])?["backup"]?["synced"] == 1, "\(sqliteCheck)")

        let pg = try await PostgresServer.started()
        let plain = try await pg.newDatabase()
        // trust authentication ignores it; it must still never be shown
        let url = plain.replacingOccurrences(of: "postgres@", with: "postgres:hunter2@")
        let copied = try await admin.run("catalog", "copy", "--to", url)
        #expect(copied.stdout.contains("copied") && copied.stdout.contains("1 representation(s), 1 file(s), 4 file × site state(s); counts checked"),
                "\(copied.stdout)")
        #expect(!(copied.stdout + copied.stderr).contains("hunter2") && copied.stdout.contains("postgres:***@"))

        // The same catalog, seen from PostgreSQL.
        let pgCheck = try await admin.json("catalog", "check", "--json", "--catalog", url)
        #expect(pgCheck["kind"] as? String == "postgresql")
        func canonical(_ object: [String: Any]) throws -> String {
            var o = object
            for key in ["catalog", "kind", "schema_version", "build_schema_version"] { o[key] = nil }
            return String(decoding: try JSONSerialization.data(withJSONObject: o, options: .sortedKeys), as: UTF8.self)
        }
        #expect(try canonical(pgCheck) == canonical(sqliteCheck))
        #expect(try await admin.run("status", "--json").stdout == admin.run("status", "--json", "--catalog", url).stdout)
        #expect(try await admin.run("project", "list", "--catalog", url).stdout.contains("paused"))

        // Copying again into the same database, or a catalog onto itself: refused, nothing changed.
        let again = try await admin.run(["catalog", "copy", "--to", url], expect: 4)
        #expect(again.stderr.contains("not empty") && !again.stderr.contains("hunter2"), "\(again.stderr)")
        let same = try await admin.run(["catalog", "copy", "--from", "\(dir.path)/catalog.sqlite", "--to", "sqlite:\(dir.path)/./catalog.sqlite"], expect: 2)
        #expect(same.stderr.contains("same catalog"), "\(same.stderr)")
        let missing = try await admin.run(["catalog", "copy", "--from", "\(dir.path)/none.sqlite", "--to", "\(dir.path)/new.sqlite"], expect: 3)
        #expect(missing.stderr.contains("sitesync init"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/new.sqlite"))
        // URLs written wrong are bad input, said without their password.
        for wrong in ["postgres:/odd:topsecret@127.0.0.1/db", "odd:topsecret@127.0.0.1/db", "postgres://odd:top@secret@127.0.0.1:x/db",
                      "postgres://odd:topsecret@127.0.0.1/db?sslmode=sometimes", ""] {
            let r = try await admin.run(["catalog", "check", "--catalog", wrong], expect: 2)
            #expect(!r.stderr.contains("topsecret") && !r.stderr.contains("secret@") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }

        // The artist's machine carries on against PostgreSQL: a new publish is synced there.
        try await admin.run("resume", "--project", "robots", "--catalog", url)
        let second = try dir.file("src/b.ma", size: 70_000, seed: 8)
        try await anna.run("publish", "--project", "robots", "--folder", "chars/anna", "--product", "modelMain", "--version", "2",
                           "--name", "ma", second, "--catalog", url)
        let run = try await anna.run("server", "--once", "--catalog", url)
        #expect(run.stdout.contains("moved 2 file(s)"), "\(run.stdout)")
        let after = try await admin.json("catalog", "check", "--json", "--catalog", url)
        #expect((after["sites"] as? [String: [String: Int]])?["studio"]?["synced"] == 2, "\(after)")
        await pg.halt(immediate: true)
    }
}
