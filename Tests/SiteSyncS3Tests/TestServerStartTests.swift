import Foundation
@testable import SiteSyncTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The tests' own servers start even when a port they picked is taken before they bind it: a fresh-clone CI run
/// once lost every rclone-on-S3 check to one SeaweedFS start whose gRPC port had become a client's local port.
@Suite("Test servers: ports")
struct TestServerStartTests {
    @Test("ports for test servers are below the ephemeral range, free to bind, and never handed out twice")
    func portsAreBelowTheEphemeralRangeAndDistinct() {
        var seen = Set<Int>()
        for _ in 0..<40 {
            let pair = FreePorts.pair(), one = FreePorts.one()
            #expect(pair + 10_000 < FreePorts.ephemeralStart && one < FreePorts.ephemeralStart)
            for port in [pair, pair + 10_000, one] {
                #expect(!seen.contains(port), "port \(port) handed out twice")
                seen.insert(port)
            }
        }
    }

    @Test("a SeaweedFS whose S3 port is taken fails as a taken port (so it starts again elsewhere), quoting its fatal line")
    func aTakenPortIsRecognised() throws {
        let taken = try ClosedPort(silent: true)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("s3-taken-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let process = try S3Server.launch(.seaweedfs, dir: dir, port: taken.port)
            S3Server.halt(process)
            Issue.record("SeaweedFS started on a port another socket listens on")
        } catch S3Server.Started.portTaken(let failure) {
            #expect(failure.description.contains("address already in use"))
            #expect(failure.description.contains("\(taken.port)"))
            #expect(!failure.description.contains("goroutine"), "the fatal line, not the stack trace: \(failure)")
        }
    }

    @Test("the shared SeaweedFS serves S3 on the port it reports, below the ephemeral range")
    func aStartedServerAnswers() async throws {
        let server = try await S3Server.shared(.seaweedfs)
        #expect(server.port < FreePorts.ephemeralStart)
        #expect(S3Server.get(server.port, "/")?.hasPrefix("HTTP/1.") == true)
    }
}
