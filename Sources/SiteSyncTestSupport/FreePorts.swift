import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for the servers tests start. A port is only free when it is picked; two things can take it before
/// the server binds it, and each once cost a fresh-clone CI run a whole suite:
/// - a client connection's local port: the kernel hands those out from its ephemeral range (32768–60999 by
///   default), so ports are picked below it;
/// - another server of the same test process picked at the same moment: a port is never handed out twice.
/// Servers that still lose the race start again on new ports (`PostgresServer`, `S3Server`).
public enum FreePorts {
    static let handedOut = Mutex<Set<Int>>([])

    /// A port nothing is bound to now.
    public static func one() -> Int { pick(span: 0) }

    /// A port `p` with `p + 10000` also free: SeaweedFS serves gRPC there for every service.
    public static func pair() -> Int { pick(span: 10_000) }

    static func pick(span: Int) -> Int {
        let low = 10_000, high = ephemeralStart - span
        if high - low > 100 {
            for _ in 0..<500 {
                let p = Int.random(in: low..<high)
                let taken = handedOut.withLock { set in
                    if set.contains(p) || set.contains(p + span) { return true }
                    guard canBind(p), span == 0 || canBind(p + span) else { return true }
                    set.insert(p)
                    if span > 0 { set.insert(p + span) }
                    return false
                }
                if !taken { return p }
            }
        }
        // A machine whose ephemeral range starts low: the kernel's choice.
        return (try? ClosedPort())?.port ?? 0
    }

    /// The first port of the kernel's ephemeral range.
    static let ephemeralStart: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32_768
    }()

    /// Whether a socket can be bound to 127.0.0.1:`port` now (as a server binds it, without `SO_REUSEADDR`).
    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return Loopback.bind(fd, port)
    }
}
