/// The operating systems a root path can be given for. Studios mix them; each machine picks its own.
public enum Platform: String, Sendable, CaseIterable, Codable {
    case linux, windows, darwin

    public static var current: Platform {
        #if os(Windows)
        return .windows
        #elseif os(macOS)
        return .darwin
        #else
        return .linux
        #endif
    }
}
