import Crypto
import Foundation
import SiteSyncModel
import SiteSyncProviders

extension ContentDigest {
    /// The digest of bytes in memory, as a copy of them would be recorded.
    static func of(_ bytes: Data) -> ContentDigest {
        ContentDigest(size: Int64(bytes.count), sha256: LocalFiles.hex(SHA256.hash(data: bytes)))
    }
}
