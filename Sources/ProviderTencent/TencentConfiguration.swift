import Foundation
import IngestCore

/// Long-lived credentials of a Tencent Cloud account (or a role's temporary ones with a token).
/// Secret: never printed.
public struct TencentCredentials: Sendable, CustomStringConvertible {
    public var secretID: String
    public var secretKey: String
    public var token: String?

    public init(secretID: String, secretKey: String, token: String? = nil) {
        self.secretID = secretID
        self.secretKey = secretKey
        self.token = token
    }

    /// From `TENCENTCLOUD_SECRET_ID`, `TENCENTCLOUD_SECRET_KEY` and optional `TENCENTCLOUD_SESSION_TOKEN`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> TencentCredentials? {
        guard let id = environment["TENCENTCLOUD_SECRET_ID"], !id.isEmpty,
            let key = environment["TENCENTCLOUD_SECRET_KEY"], !key.isEmpty
        else { return nil }
        let token = environment["TENCENTCLOUD_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return TencentCredentials(secretID: id, secretKey: key, token: token)
    }

    public var description: String { "TencentCredentials(<redacted>)" }
}

/// Where and how ``TencentProvider`` talks to the platform.
///
/// Keys: `endpoint` (`--endpoint`, default `https://vod.tencentcloudapi.com`), `cosEndpoint`
/// (`--cos-endpoint`: send COS requests to this base URL, keeping `Host: <bucket>.cos.<region>.myqcloud.com`),
/// `region` (`--region`, X-TC-Region), `subAppID` (`--sub-app-id`), `partSize` and `partConcurrency`.
public struct TencentConfiguration: Sendable {
    public var endpoint: URL
    public var cosEndpoint: URL?
    public var region: String?
    public var subAppID: Int?
    public var credentials: TencentCredentials
    /// Preferred multipart part size (raised when a file would need more than 10,000 parts).
    public var partSize: Int64
    /// Parts of one file in flight at once.
    public var partConcurrency: Int
    public var apiTimeout: Duration
    /// Deadline of one part (or simple PUT) exchange.
    public var transferTimeout: Duration
    /// Attempts of one part (or simple PUT) before the step fails with the last error.
    public var partAttempts: Int

    public init(
        endpoint: URL = URL(string: "https://vod.tencentcloudapi.com")!, cosEndpoint: URL? = nil, region: String? = nil,
        subAppID: Int? = nil, credentials: TencentCredentials, partSize: Int64 = 16 << 20, partConcurrency: Int = 4,
        apiTimeout: Duration = .seconds(30), transferTimeout: Duration = .seconds(600), partAttempts: Int = 5
    ) {
        self.endpoint = endpoint
        self.cosEndpoint = cosEndpoint
        self.region = region
        self.subAppID = subAppID
        self.credentials = credentials
        self.partSize = partSize
        self.partConcurrency = partConcurrency
        self.apiTimeout = apiTimeout
        self.transferTimeout = transferTimeout
        self.partAttempts = partAttempts
    }

    /// Host as signed: with `:port` when the endpoint has one.
    var endpointHost: String {
        let host = endpoint.host ?? "vod.tencentcloudapi.com"
        if let port = endpoint.port { return "\(host):\(port)" }
        return host
    }

    /// COS part rules (protocol notes §4.4).
    public static let partRules = PartRules(
        minimumPartSize: 1 << 20, maximumPartSize: 5 << 30, maximumParts: 10_000, maximumSimpleUpload: 5 << 30)
}
