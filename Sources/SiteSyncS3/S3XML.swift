import Foundation
import XMLCoder

/// The XML documents S3 answers with (and the one it is sent), as Codable values.
enum S3XML {
    /// `<Error><Code>…</Code><Message>…</Message>…</Error>`.
    struct ErrorBody: Decodable, Sendable {
        var code: String
        var message: String?
        var region: String?
        var serverTime: String?
        enum CodingKeys: String, CodingKey {
            case code = "Code", message = "Message", region = "Region", serverTime = "ServerTime"
        }
    }

    struct InitiateMultipartUploadResult: Decodable {
        var uploadID: String
        enum CodingKeys: String, CodingKey { case uploadID = "UploadId" }
    }

    struct ListPartsResult: Decodable {
        struct Part: Decodable {
            var number: Int
            var etag: String
            var size: Int64
            var checksumSHA256: String?
            enum CodingKeys: String, CodingKey {
                case number = "PartNumber", etag = "ETag", size = "Size", checksumSHA256 = "ChecksumSHA256"
            }
        }
        var parts: [Part]
        var isTruncated: Bool?
        var nextMarker: Int?
        enum CodingKeys: String, CodingKey {
            case parts = "Part", isTruncated = "IsTruncated", nextMarker = "NextPartNumberMarker"
        }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            parts = try c.decodeIfPresent([Part].self, forKey: .parts) ?? []
            isTruncated = try? c.decodeIfPresent(Bool.self, forKey: .isTruncated)
            nextMarker = try? c.decodeIfPresent(Int.self, forKey: .nextMarker)
        }
    }

    struct ListBucketResult: Decodable {
        var keyCount: Int?
        enum CodingKeys: String, CodingKey { case keyCount = "KeyCount" }
    }

    /// CompleteMultipartUpload's body.
    struct CompleteMultipartUpload: Encodable {
        struct Part: Encodable {
            var number: Int
            var etag: String
            var checksumSHA256: String
            enum CodingKeys: String, CodingKey {
                case number = "PartNumber", etag = "ETag", checksumSHA256 = "ChecksumSHA256"
            }
        }
        var parts: [Part]
        enum CodingKeys: String, CodingKey { case parts = "Part" }

        func xml() throws -> Data {
            let encoder = XMLEncoder()
            return try encoder.encode(self, withRootKey: "CompleteMultipartUpload",
                                      rootAttributes: ["xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"],
                                      header: XMLHeader(version: 1.0, encoding: "UTF-8"))
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data) -> T? {
        try? XMLDecoder().decode(type, from: data)
    }

    /// An `<Error>` document, also one sent with a 200 (CompleteMultipartUpload and CopyObject may fail that way).
    static func error(_ data: Data) -> ErrorBody? {
        guard let text = String(data: data.prefix(512), encoding: .utf8), text.contains("<Error") else { return nil }
        return decode(ErrorBody.self, data)
    }
}
