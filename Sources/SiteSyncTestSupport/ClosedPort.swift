import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A loopback port that refuses every connection for as long as this value lives: the socket is bound but never
/// listens, so no other test can take the port meanwhile. (A port from `SSHServer.freePort()` is only free at the
/// moment it is picked: a server another test starts in parallel may get it and accept the connection.)
public final class ClosedPort: @unchecked Sendable {
    public let port: Int
    private let fd: Int32

    /// `silent`: the socket listens but never accepts, so a client's connection opens (the kernel completes the
    /// handshake) and then hears nothing: a server that hangs, which only a client's own deadline ends.
    public init(silent: Bool = false) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard fd >= 0, Loopback.bind(fd, 0),
              withUnsafeMutablePointer(to: &addr, { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }) == 0,
              !silent || listen(fd, 16) == 0 else {
            if fd >= 0 { close(fd) }
            throw SSHServer.Failure.failed("cannot reserve a loopback port: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
    }

    deinit { close(fd) }
}
