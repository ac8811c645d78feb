import ArgumentParser
import Emulator
import Foundation
import IngestCore
import ProviderAliyun
import ProviderTencent
import Synchronization
import VODHTTP

/// The options every platform reads, whose defaults are the platform's.
struct PlatformOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "VOD API endpoint (default: https://vod.tencentcloudapi.com; https://vod.<region>.aliyuncs.com).", valueName: "url"))
    var endpoint: String?

    @Option(help: ArgumentHelp("Region of API calls (default: ap-guangzhou for Tencent, cn-shanghai for Alibaba).", valueName: "region"))
    var region: String?
}

/// Tencent Cloud VOD's own options.
struct TencentOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Tencent: send COS requests to this base URL, keeping Host: <bucket>.cos.<region>.myqcloud.com.", valueName: "url"))
    var cosEndpoint: String?

    @Option(help: "Tencent: VOD sub-application id.")
    var subAppId: Int?

    /// The flags given, for the refusal on another platform.
    var given: [String] { (cosEndpoint == nil ? [] : ["--cos-endpoint"]) + (subAppId == nil ? [] : ["--sub-app-id"]) }
}

/// Alibaba Cloud ApsaraVideo VOD's own options.
struct AliyunOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Alibaba: send OSS requests to this base URL instead of the UploadAddress endpoint.", valueName: "url"))
    var ossEndpoint: String?

    @Option(
        help: ArgumentHelp(
            "Alibaba: WorkflowId of every CreateUploadVideo (wins over a row's procedure, the TemplateGroupId).", valueName: "id"))
    var workflowId: String?

    @Option(help: ArgumentHelp("Alibaba: AppId of every create call (the platform's default: app-1000000).", valueName: "id"))
    var appId: String?

    var given: [String] {
        (ossEndpoint == nil ? [] : ["--oss-endpoint"]) + (workflowId == nil ? [] : ["--workflow-id"]) + (appId == nil ? [] : ["--app-id"])
    }
}

/// Everything a platform needs to build its provider: the option groups and the upload tuning.
struct PlatformSettings: Sendable {
    var endpoint: String?
    var region: String?
    var cosEndpoint: String?
    var subAppID: Int?
    var ossEndpoint: String?
    var workflowID: String?
    var appID: String?
    var partSize: Int64 = 16 << 20
    var partConcurrency = 4

    init(_ common: PlatformOptions, _ tencent: TencentOptions, _ aliyun: AliyunOptions) {
        endpoint = common.endpoint
        region = common.region
        cosEndpoint = tencent.cosEndpoint
        subAppID = tencent.subAppId
        ossEndpoint = aliyun.ossEndpoint
        workflowID = aliyun.workflowId
        appID = aliyun.appId
    }
}

extension PlatformSettings {
    /// The platform flags given, as configuration keys: `--region` and `--endpoint` in the chosen
    /// platform's section.
    static func flagSettings(
        _ common: PlatformOptions, _ tencent: TencentOptions, _ aliyun: AliyunOptions, platform: String
    )
        -> [String: String?]
    {
        [
            platform + ".region": common.region, platform + ".endpoint": common.endpoint, "tencent.cos_endpoint": tencent.cosEndpoint,
            "tencent.sub_app_id": tencent.subAppId.map(String.init), "aliyun.oss_endpoint": aliyun.ossEndpoint,
            "aliyun.workflow_id": aliyun.workflowId, "aliyun.app_id": aliyun.appId,
        ]
    }

    /// Sets the platform options not given as flags from the configuration: the chosen platform's
    /// section only (the other's keys are for runs on the other platform). The embedded emulator
    /// takes no region or endpoint but from a flag (which it refuses).
    static func configure(
        _ common: inout PlatformOptions, _ tencent: inout TencentOptions, _ aliyun: inout AliyunOptions, from c: EffectiveConfiguration,
        embedded: Bool
    ) throws {
        let section = c.platform
        if !embedded {
            // A default region or endpoint is the platform's own: left to it, not set here.
            if c.source(section + ".region") != "default" { common.region = c.string(section + ".region") }
            if c.source(section + ".endpoint") != "default" { common.endpoint = c.string(section + ".endpoint") }
        }
        if section == "tencent" {
            tencent.cosEndpoint = c.string("tencent.cos_endpoint")
            tencent.subAppId = try c.int("tencent.sub_app_id")
        } else {
            aliyun.ossEndpoint = c.string("aliyun.oss_endpoint")
            aliyun.workflowId = c.string("aliyun.workflow_id")
            aliyun.appId = c.string("aliyun.app_id")
        }
        Credentials.set(c.credentials)
    }
}

/// The credentials in effect for this process: the environment's variables, with what the
/// configuration supplies in their place (a secret from an owner-only file). Set once, before the
/// command runs.
enum Credentials {
    private static let current = Mutex<[String: String]>(ProcessInfo.processInfo.environment)
    static var environment: [String: String] { current.withLock { $0 } }
    static func set(_ values: [String: String]) { current.withLock { $0.merge(values) { $1 } } }
}

/// A platform's provider, which is also its catalogue.
typealias PlatformProvider = any VODProvider & MediaCatalog & ProcessingEvents

/// One platform the tool uploads to: its name, its profile (data), the options that are its own,
/// and how to build its provider for the cloud and for the embedded emulator. The commands go
/// through ``Platforms`` and never name a platform (rclone's backend registry).
struct Platform: Sendable {
    let name: String
    let profile: ProviderProfile
    /// The environment variables its credentials come from.
    let credentialVariables: [String]
    /// Whether the credentials are in the environment.
    let hasCredentials: @Sendable ([String: String]) -> Bool
    /// The flags of other platforms' option groups that were given (refused).
    let foreignFlags: @Sendable (TencentOptions, AliyunOptions) -> [String]
    let defaultEndpoint: @Sendable (_ region: String?) -> String
    let makeCloud: @Sendable (PlatformSettings, any HTTPTransport) throws -> PlatformProvider
    let makeEmbedded: @Sendable (Emulator.Endpoint, PlatformSettings, any HTTPTransport) -> PlatformProvider
}

extension Platform {
    static let tencent = Platform(
        name: "tencent", profile: .tencent, credentialVariables: ["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"],
        hasCredentials: { TencentCredentials.fromEnvironment($0) != nil },
        foreignFlags: { _, aliyun in aliyun.given },
        defaultEndpoint: { _ in "https://vod.tencentcloudapi.com" },
        makeCloud: { settings, transport in
            guard let credentials = TencentCredentials.fromEnvironment(Credentials.environment) else {
                throw ValidationError("no Tencent credentials")
            }
            let configuration = TencentConfiguration(
                endpoint: URL(string: settings.endpoint ?? "https://vod.tencentcloudapi.com")!,
                cosEndpoint: settings.cosEndpoint.flatMap(URL.init(string:)),
                region: settings.region ?? "ap-guangzhou", subAppID: settings.subAppID, credentials: credentials,
                partSize: settings.partSize,
                partConcurrency: settings.partConcurrency)
            return TencentProvider(configuration: configuration, transport: transport)
        },
        makeEmbedded: { endpoint, settings, transport in
            let url = URL(string: endpoint.url)!
            let configuration = TencentConfiguration(
                endpoint: url, cosEndpoint: url, region: settings.region ?? "ap-guangzhou", subAppID: settings.subAppID,
                credentials: TencentCredentials(secretID: endpoint.secretID, secretKey: endpoint.secretKey), partSize: settings.partSize,
                partConcurrency: settings.partConcurrency)
            return TencentProvider(configuration: configuration, transport: transport)
        })

    static let aliyun = Platform(
        name: "aliyun", profile: .aliyun, credentialVariables: ["ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
        hasCredentials: { AliyunCredentials.fromEnvironment($0) != nil },
        foreignFlags: { tencent, _ in tencent.given },
        defaultEndpoint: { region in AliyunConfiguration.defaultEndpoint(region: region ?? "cn-shanghai").absoluteString },
        makeCloud: { settings, transport in
            guard let credentials = AliyunCredentials.fromEnvironment(Credentials.environment) else {
                throw ValidationError("no Alibaba credentials")
            }
            let configuration = AliyunConfiguration(
                endpoint: settings.endpoint.flatMap(URL.init(string:)), ossEndpoint: settings.ossEndpoint.flatMap(URL.init(string:)),
                region: settings.region ?? "cn-shanghai", credentials: credentials, workflowID: settings.workflowID, appID: settings.appID,
                partSize: settings.partSize, partConcurrency: settings.partConcurrency)
            return AliyunProvider(configuration: configuration, transport: transport)
        },
        makeEmbedded: { endpoint, settings, transport in
            // OSS on the emulator's current address: a session journalled by an earlier run names the
            // port that emulator had (as Tencent's COS endpoint is the emulator's, not the session's).
            let configuration = AliyunConfiguration(
                endpoint: URL(string: endpoint.url)!, ossEndpoint: URL(string: endpoint.url)!, region: settings.region ?? "cn-shanghai",
                credentials: AliyunCredentials(accessKeyID: endpoint.aliyunAccessKeyID, accessKeySecret: endpoint.aliyunAccessKeySecret),
                workflowID: settings.workflowID, appID: settings.appID, partSize: settings.partSize,
                partConcurrency: settings.partConcurrency)
            return AliyunProvider(configuration: configuration, transport: transport)
        })
}

/// The registry: every platform, and the `--provider` names that choose one, on the cloud or on
/// the embedded emulator. The one place that knows every plug-in.
enum Platforms {
    static let all: [Platform] = [.tencent, .aliyun]

    /// A `--provider` value resolved: the platform, and whether it runs on the embedded emulator.
    struct Choice: Sendable {
        let platform: Platform
        let embedded: Bool
        /// As given (`local`, `local-aliyun`, `aliyun`, ...).
        let name: String
    }

    /// `tencent`, `aliyun`: the cloud; `local-<platform>`: that platform's dialect on the embedded
    /// emulator; `local` is `local-tencent`.
    static func choose(_ name: String) -> Choice? {
        let lower = name.lowercased()
        if lower == "local" { return Choice(platform: .tencent, embedded: true, name: lower) }
        for platform in all {
            if lower == platform.name { return Choice(platform: platform, embedded: false, name: lower) }
            if lower == "local-" + platform.name { return Choice(platform: platform, embedded: true, name: lower) }
        }
        return nil
    }

    /// Every accepted `--provider` value.
    static var names: [String] { ["local"] + all.flatMap { [$0.name, "local-" + $0.name] } }

    /// Checks the options against the chosen platform: nil, or why they are refused.
    static func check(_ choice: Choice, common: PlatformOptions, tencent: TencentOptions, aliyun: AliyunOptions) -> String? {
        let foreign = choice.platform.foreignFlags(tencent, aliyun)
        if !foreign.isEmpty {
            return
                "\(foreign.joined(separator: ", ")) \(foreign.count == 1 ? "is" : "are") not an option of \(choice.platform.profile.displayName) (--provider \(choice.name))"
        }
        if !choice.embedded, !choice.platform.hasCredentials(Credentials.environment) {
            return
                "--provider \(choice.name) needs \(choice.platform.credentialVariables.joined(separator: " and ")) in the environment, "
                + "or their keys in a configuration file only its owner can read (never on the command line)"
        }
        if choice.embedded, let flag = common.endpoint != nil ? "--endpoint" : common.region != nil ? "--region" : nil {
            return "\(flag) is for the cloud; --provider \(choice.name) uploads into the embedded emulator, which has one region "
                + "(use --provider \(choice.platform.name) \(flag) ... for a standalone `vodingest emulator` or the cloud)"
        }
        for url in [common.endpoint, tencent.cosEndpoint, aliyun.ossEndpoint].compactMap({ $0 }) {
            guard let parsed = URL(string: url), parsed.host != nil else {
                return "'\(url)' is not a URL such as \(choice.platform.defaultEndpoint(nil))"
            }
            guard let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                return
                    "'\(url)' is not an http:// or https:// URL; the platforms' APIs are HTTP (e.g. \(choice.platform.defaultEndpoint(nil)))"
            }
        }
        return nil
    }
}

extension Platforms {
    /// The provider for a command that works on what an ingest left (audit, events): the embedded
    /// emulator started on the state directory's data, or the cloud. Exit 64 when the state
    /// directory has no emulator data.
    static func withProvider<T: Sendable>(
        _ choice: Choice, stateDir: String, settings: PlatformSettings, transport: any HTTPTransport,
        _ body: @escaping @Sendable (PlatformProvider) async throws -> T
    ) async throws -> T {
        guard choice.embedded else { return try await body(try choice.platform.makeCloud(settings, transport)) }
        let data = URL(fileURLWithPath: stateDir).standardizedFileURL.path + "/emulator"
        guard FileManager.default.fileExists(atPath: data) else {
            StandardError.say("error: \(data) does not exist: give the --state-dir of the ingest, or --provider \(choice.platform.name)")
            throw ExitStatus.usage.exitCode
        }
        return try await Emulator.withRunning(configuration: EmulatorConfiguration(dataDirectory: data)) { endpoint in
            try await body(choice.platform.makeEmbedded(endpoint, settings, transport))
        }
    }
}
