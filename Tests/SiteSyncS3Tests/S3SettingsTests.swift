import Foundation
@testable import SiteSyncS3
import SiteSyncModel
import SiteSyncProviders
import SiteSyncTestSupport
import Testing

@Suite("S3 signing, settings and credentials (no server)")
struct S3SettingsTests {
    @Test("Signature Version 4 matches AWS's documented GET Object example")
    func awsExample() {
        let signer = SigV4(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                                      sessionToken: nil, origin: "test"), region: "us-east-1")
        var headers = [("host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")]
        signer.sign(method: "GET", canonicalURI: "/test.txt", query: [], headers: &headers, payloadSHA256: SigV4.emptyPayload,
                    date: Date(timeIntervalSince1970: 1_369_353_600))
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test("keys and query values are encoded by S3's rules")
    func encoding() {
        #expect(SigV4.encode("a b+c%d/é~_.-", keepSlash: true) == "a%20b%2Bc%25d/%C3%A9~_.-")
        #expect(SigV4.encode("a/b") == "a%2Fb")
        #expect(SigV4.canonicalQuery([("uploadId", "x/y"), ("partNumber", "2"), ("uploads", "")]) == "partNumber=2&uploadId=x%2Fy&uploads=")
        #expect(S3Settings.key(of: "/studio//robots/a.ma") == "studio/robots/a.ma")
    }

    static func site(_ options: [String: ConfigValue], roots: [String: String] = ["work": "/studio"]) -> SiteConfig {
        SiteConfig(name: "cloud", provider: "s3", roots: roots.mapValues(RootPath.init), options: options.merging(["provider": .string("s3")]) { $1 })
    }

    static func problem(_ options: [String: ConfigValue], environment: [String: String] = [:],
                        roots: [String: String] = ["work": "/studio"]) -> String {
        do {
            _ = try S3Settings(site: site(options, roots: roots), platform: .current, environment: environment)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test("settings: endpoint, addressing, roots as key prefixes, part size; each mistake named with its key")
    func settings() throws {
        let keys: [String: ConfigValue] = ["bucket": .string("plates"), "access_key_id": .string("AKIAEXAMPLE1234"),
                                           "secret_access_key": .string("s3cr3t")]
        let aws = try S3Settings(site: Self.site(keys.merging(["region": .string("eu-west-1")]) { $1 }), platform: .current, environment: [:])
        #expect(aws.endpoint == "https://s3.eu-west-1.amazonaws.com" && !aws.pathStyle && aws.roots == ["work": "studio"])
        #expect(aws.partSize == 16 << 20 && aws.partConcurrency == 4)
        let minio = try S3Settings(site: Self.site(keys.merging(["endpoint": .string("http://minio.lan:9000/")]) { $1 }, roots: ["work": "/"]),
                                   platform: .current, environment: [:])
        #expect(minio.endpoint == "http://minio.lan:9000" && minio.pathStyle && minio.roots == ["work": ""])
        let client = S3Client(settings: aws)
        #expect(client.target(key: "robots/a b.ma", query: []).url == "https://plates.s3.eu-west-1.amazonaws.com/robots/a%20b.ma")
        #expect(S3Client(settings: minio).target(key: "x", query: [("uploads", "")]).url == "http://minio.lan:9000/plates/x?uploads=")

        #expect(Self.problem([:]).contains("sites.cloud.bucket"))
        #expect(Self.problem(keys.merging(["bucket": .string("plates/studio")]) { $1 }).contains("roots"))
        #expect(Self.problem(keys.merging(["endpoint": .string("http://minio.lan:9000/bucket")]) { $1 }).contains("sites.cloud.endpoint"))
        #expect(Self.problem(keys.merging(["part_size": .string("1M")]) { $1 }).contains("sites.cloud.part_size"))
        #expect(Self.problem(keys, roots: ["work": "studio"]).contains("sites.cloud.roots.work"))
        #expect(Self.problem(["bucket": .string("plates"), "access_key_id": .string("AKIA")]).contains("secret_access_key"))
        #expect(Self.problem(["bucket": .string("plates"), "secret_access_key": .string("x")]).contains("access_key_id"))
        let none = Self.problem(["bucket": .string("plates")], environment: ["HOME": "/nonexistent"])
        #expect(none.contains("no S3 credentials") && none.contains("AWS_ACCESS_KEY_ID"), "\(none)")
    }

    @Test("credentials: the site's keys, a profile, the AWS_* environment, the default profile; secrets never shown")
    func credentials() throws {
        let dir = try TemporaryDirectory("aws")
        let file = "\(dir.path)/credentials"
        try """
            [default]
            aws_access_key_id = AKIADEFAULT00001
            aws_secret_access_key = default-secret
            # a comment
            [studio]
            aws_access_key_id=AKIASTUDIO000001
            aws_secret_access_key=studio-secret
            aws_session_token = token-1
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let env = ["AWS_SHARED_CREDENTIALS_FILE": file]
        func resolved(_ options: [String: ConfigValue], _ environment: [String: String]) throws -> S3Credentials {
            try S3Settings(site: Self.site(options.merging(["bucket": .string("plates")]) { $1 }), platform: .current, environment: environment)
                .credentials.resolved
        }
        let fromSite = try resolved(["access_key_id": .string("AKIASITE00000001"), "secret_access_key": .string("site-secret")], env)
        #expect(fromSite.accessKeyID == "AKIASITE00000001" && fromSite.origin == "site settings" && fromSite.shownKeyID == "AKIA…0001")
        let profile = try resolved(["profile": .string("studio")], env)
        #expect(profile.accessKeyID == "AKIASTUDIO000001" && profile.sessionToken == "token-1" && profile.origin.contains("profile 'studio'"))
        let environment = try resolved([:], env.merging(["AWS_ACCESS_KEY_ID": "AKIAENV000000001", "AWS_SECRET_ACCESS_KEY": "env-secret"]) { $1 })
        #expect(environment.accessKeyID == "AKIAENV000000001" && environment.origin == "the AWS_* environment")
        #expect(try resolved([:], env).accessKeyID == "AKIADEFAULT00001")
        #expect(try resolved([:], env.merging(["AWS_PROFILE": "studio"]) { $1 }).accessKeyID == "AKIASTUDIO000001")
        let missing = Self.problem(["bucket": .string("plates"), "profile": .string("nope")], environment: env)
        #expect(missing.contains("profile 'nope'") && !missing.contains("studio-secret") && !missing.contains("default-secret"), "\(missing)")
    }

    @Test("the provider's schema is what settings import checks: secret keys are hidden")
    func schema() {
        let schema = S3Provider.description.schema
        #expect(schema.secretKeys.contains("secret_access_key") && schema.secretKeys.contains("session_token"))
        #expect(!schema.secretKeys.contains("access_key_id"))
    }
}

@Suite("S3 sites in studio settings")
struct S3SettingsImportTests {
    @Test("settings import refuses an s3 site's mistakes, each named where it is written")
    func importChecks() throws {
        let yaml = """
            sites:
              cloud:
                provider: s3
                bukcet: plates
                part_size: 1M
                part_concurrency: 0
                path_style: maybe
                roots: {work: /projects}
            projects:
              default: {sitesync: {always_accessible_on: [cloud]}}
              robots: {roots: {work: /mnt/projects}}
            """
        let problems = ProviderRegistry([S3Provider.description]).validator
            .problems(in: try StudioSettings(yaml: yaml, source: "studio.yaml")).map { "\($0)" }
        let text = problems.joined(separator: "\n")
        #expect(text.contains("sites.cloud.bukcet") && text.contains("did you mean 'bucket'"), "\(text)")
        #expect(text.contains("sites.cloud.part_size") && text.contains("from 5M to 5G"), "\(text)")
        #expect(text.contains("sites.cloud.part_concurrency"), "\(text)")
        #expect(text.contains("sites.cloud.path_style"), "\(text)")
    }

    @Test("settings import refuses s3 sites that could never work: endpoint, keys, bucket, session_dir, storage class, roots")
    func importRules() throws {
        func problems(_ site: String) throws -> String {
            let yaml = "sites:\n  cloud: {provider: s3, \(site)}\nprojects:\n  default: {sitesync: {always_accessible_on: [cloud]}}\n  robots: {roots: {work: /mnt/projects}}\n"
            return ProviderRegistry([S3Provider.description]).validator
                .problems(in: try StudioSettings(yaml: yaml, source: "studio.yaml")).map { "\($0)" }.joined(separator: "\n")
        }
        let ok = "bucket: plates, roots: {work: /projects}"
        #expect(try problems(ok).isEmpty)
        for (site, expected) in [
            ("bucket: plates, endpoint: 'http://minio:9000/plates', roots: {work: /p}", "has a path"),
            ("bucket: plates, endpoint: 'http://me:pw@minio:9000', roots: {work: /p}", "holds a user or password"),
            ("bucket: plates, endpoint: 'http://minio:9000?x=1', roots: {work: /p}", "has a query"),
            ("bucket: plates, access_key_id: AKIA, roots: {work: /p}", "without secret_access_key"),
            ("bucket: plates, secret_access_key: s, roots: {work: /p}", "without access_key_id"),
            ("bucket: plates, session_token: t, roots: {work: /p}", "session_token goes with"),
            ("bucket: plates, access_key_id: A, secret_access_key: s, profile: studio, roots: {work: /p}", "profile and access_key_id"),
            ("bucket: plates, session_dir: '~/s', roots: {work: /p}", "session_dir"),
            ("bucket: plates, session_dir: sessions, roots: {work: /p}", "absolute path"),
            ("bucket: Studio_Sync, roots: {work: /p}", "not an S3 bucket name"),
            ("bucket: ab, roots: {work: /p}", "not an S3 bucket name"),
            ("bucket: plates, storage_class: FLOPPY, roots: {work: /p}", "not an S3 storage class"),
            ("bucket: plates, roots: {work: /a/../b}", "'..' part"),
            ("bucket: plates, endpoint: 'http://127.0.0.1:9000', path_style: false, roots: {work: /p}", "cannot take"),
            ("bucket: plates, endpoint: 'http://localhost:9000', path_style: false, roots: {work: /p}", "remove path_style"),
        ] {
            let text = try problems(site)
            #expect(text.contains("sites.cloud") && text.contains(expected), "\(site): \(text)")
            #expect(!text.contains(":pw@"), "\(text)")
        }
        // Storage other than AWS names its buckets and classes its own way.
        #expect(try problems("bucket: Studio_Sync, endpoint: 'https://ceph.lan', storage_class: COLD, roots: {work: /p}").isEmpty)
        // A DNS name can take the bucket in front of it.
        #expect(try problems("bucket: plates, endpoint: 'https://s3.studio.lan', path_style: false, roots: {work: /p}").isEmpty)
    }
}

@Suite("S3 times")
struct S3TimeTests {
    @Test("dates in signatures and headers agree with Foundation's calendar, across years and leap days")
    func times() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        for t in stride(from: -86_400.0 * 400, to: 86_400.0 * 365 * 80, by: 86_400.0 * 37.3 + 3_599) {
            let date = Date(timeIntervalSince1970: t.rounded(.down))
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let mine = S3Time.components(date)
            #expect(mine.0 == c.year && mine.1 == c.month && mine.2 == c.day && mine.3 == c.hour && mine.4 == c.minute && mine.5 == c.second)
        }
        #expect(SigV4.stamps(Date(timeIntervalSince1970: 1_369_353_600)) == ("20130524T000000Z", "20130524"))
        #expect(S3Time.http("Sun, 06 Dec 2026 04:30:55 GMT") == Date(timeIntervalSince1970: 1_796_531_455))
        #expect(S3Time.http("Tue, 29 Feb 2028 23:59:59 GMT").map { S3Time.components($0).1 } == 2)
        #expect(S3Time.http("garbage") == nil)
    }
}
