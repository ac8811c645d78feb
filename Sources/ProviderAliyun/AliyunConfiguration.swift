import Foundation
import IngestCore

/// An Alibaba Cloud AccessKey pair (or a role's STS triple). Secret: never printed.
public struct AliyunCredentials: Sendable, CustomStringConvertible {
    public var accessKeyID: String
    public var accessKeySecret: String
    public var securityToken: String?

    public init(accessKeyID: String, accessKeySecret: String, securityToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.accessKeySecret = accessKeySecret
        self.securityToken = securityToken
    }

    /// From `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and optional `ALIBABA_CLOUD_SECURITY_TOKEN`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> AliyunCredentials? {
        guard let id = environment["ALIBABA_CLOUD_ACCESS_KEY_ID"], !id.isEmpty,
            let secret = environment["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], !secret.isEmpty
        else { return nil }
        let token = environment["ALIBABA_CLOUD_SECURITY_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AliyunCredentials(accessKeyID: id, accessKeySecret: secret, securityToken: token)
    }

    public var description: String { "AliyunCredentials(<redacted>)" }
}

/// Where and how ``AliyunProvider`` talks to the platform.
///
/// Keys: `endpoint` (`--endpoint`, default `https://vod.<region>.aliyuncs.com`), `ossEndpoint`
/// (`--oss-endpoint`: send OSS requests there instead of the UploadAddress endpoint), `region`
/// (`--region`, RegionId, default `cn-shanghai`), `workflowID` (`--workflow-id`), `appID`
/// (`--app-id`), `partSize`, `partConcurrency`, timeouts.
public struct AliyunConfiguration: Sendable {
    public var endpoint: URL
    public var ossEndpoint: URL?
    public var region: String
    public var credentials: AliyunCredentials
    /// WorkflowId of every CreateUploadVideo (wins over TemplateGroupId on the platform).
    public var workflowID: String?
    /// AppId of every create call (the platform's default is `app-1000000`).
    public var appID: String?
    public var partSize: Int64
    public var partConcurrency: Int
    public var apiTimeout: Duration
    public var transferTimeout: Duration
    public var partAttempts: Int

    public init(
        endpoint: URL? = nil, ossEndpoint: URL? = nil, region: String = "cn-shanghai", credentials: AliyunCredentials,
        workflowID: String? = nil,
        appID: String? = nil, partSize: Int64 = 16 << 20, partConcurrency: Int = 4, apiTimeout: Duration = .seconds(30),
        transferTimeout: Duration = .seconds(600), partAttempts: Int = 5
    ) {
        self.endpoint = endpoint ?? Self.defaultEndpoint(region: region)
        self.ossEndpoint = ossEndpoint
        self.region = region
        self.credentials = credentials
        self.workflowID = workflowID
        self.appID = appID
        self.partSize = partSize
        self.partConcurrency = partConcurrency
        self.apiTimeout = apiTimeout
        self.transferTimeout = transferTimeout
        self.partAttempts = partAttempts
    }

    /// `https://vod.<region>.aliyuncs.com`; the SDKs map `cn-hangzhou` to Shanghai's (protocol notes §2.1).
    public static func defaultEndpoint(region: String) -> URL {
        URL(string: "https://vod.\(region == "cn-hangzhou" ? "cn-shanghai" : region).aliyuncs.com")!
    }

    /// OSS part rules (protocol notes §5.4): 100 KB to 5 GB, at most 10,000.
    public static let partRules = PartRules(
        minimumPartSize: 100 * 1024, maximumPartSize: 5 << 30, maximumParts: 10_000, maximumSimpleUpload: 5 << 30)
}
