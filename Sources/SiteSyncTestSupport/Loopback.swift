import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// 127.0.0.1:port as the socket calls take it: the tests' servers, probes and reserved ports all live there.
enum Loopback {
    static func address(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return addr
    }

    /// Connects `fd` to 127.0.0.1:`port`; whether it connected.
    static func connect(_ fd: Int32, _ port: Int) -> Bool {
        var addr = address(port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Binds `fd` to 127.0.0.1:`port` (0: a port the kernel picks); whether it bound.
    static func bind(_ fd: Int32, _ port: Int) -> Bool {
        var addr = address(port)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
