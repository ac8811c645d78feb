import ArgumentParser
import Configuration
import Foundation
import Logging
import Synchronization
import SystemPackage
import Yams

/// One configuration key: its flag, its environment variables, whether it is a secret.
///
/// Precedence: the flag, then the environment (`VODINGEST_` and the key in capitals, `.` as `_`;
/// a secret also from the vendor's own variable), then the file (`--config FILE`, or
/// `vodingest.yaml` in the state directory), then the default. Secrets have no flag.
struct Setting: Sendable {
    let key: String
    let flag: String?
    let secret: Bool
    let defaultValue: String?
    /// The vendor's variable for a credential (`TENCENTCLOUD_SECRET_KEY`), read before ours.
    let vendorVariable: String?
    let help: String

    init(_ key: String, flag: String?, default defaultValue: String? = nil, secret: Bool = false, vendor: String? = nil, _ help: String) {
        self.key = key
        self.flag = flag
        self.secret = secret
        self.defaultValue = defaultValue
        self.vendorVariable = vendor
        self.help = help
    }

    /// `VODINGEST_INGEST_PART_SIZE` for `ingest.part_size`.
    var variable: String { "VODINGEST_" + key.uppercased().replacingOccurrences(of: ".", with: "_") }
    /// The variables read, first wins.
    var variables: [String] { (vendorVariable.map { [$0] } ?? []) + [variable] }
}

/// Every key a configuration file may hold; anything else in a file is refused.
enum Settings {
    static let all: [Setting] = [
        Setting("state_dir", flag: "--state-dir", default: "vodingest-state", "the journal, the report, the embedded emulator's data"),
        Setting("provider", flag: "--provider", "tencent, aliyun, local, local-tencent, local-aliyun (default: local for ingest)"),
        Setting("root", flag: "--root", "the folder every media and cover file must be inside"),
        Setting("log.level", flag: "--log-level", default: "notice", "trace, debug, info, notice, warning, error, critical"),
        Setting("log.format", flag: "--log-format", default: "text", "text or json"),
        Setting("ingest.concurrency", flag: "--concurrency", default: "64", "files in flight at most"),
        Setting("ingest.part_concurrency", flag: "--part-concurrency", default: "4", "parts of one file in flight"),
        Setting("ingest.part_size", flag: "--part-size", default: "16MiB", "multipart part size"),
        Setting("ingest.api_rate", flag: "--api-rate", "a cap on API requests per second of all actions"),
        Setting("ingest.bandwidth", flag: "--bandwidth", "upload bandwidth cap, e.g. 50MiB/s"),
        Setting("ingest.procedure", flag: "--procedure", "task flow for rows without one"),
        Setting("ingest.storage_region", flag: "--storage-region", "storage region for rows without one"),
        Setting("ingest.class_id", flag: "--class-id", "category id for rows without one"),
        Setting("ingest.max_failures", flag: "--max-failures", "stop taking new items after this many failures"),
        Setting("ingest.grace", flag: "--grace", default: "30", "seconds in-flight items get after SIGINT/SIGTERM"),
        Setting("ingest.status_addr", flag: "--status-addr", "serve the live status on HOST:PORT"),
        Setting("events.timeout", flag: "--events-timeout", default: "600", "seconds to wait for processing events"),
        Setting("tencent.region", flag: "--region", default: "ap-guangzhou", "region of API calls"),
        Setting("tencent.endpoint", flag: "--endpoint", default: "https://vod.tencentcloudapi.com", "VOD API endpoint"),
        Setting("tencent.sub_app_id", flag: "--sub-app-id", "VOD sub-application id"),
        Setting("tencent.cos_endpoint", flag: "--cos-endpoint", "send COS requests to this base URL"),
        Setting("tencent.secret_id", flag: nil, secret: true, vendor: "TENCENTCLOUD_SECRET_ID", "SecretId"),
        Setting("tencent.secret_key", flag: nil, secret: true, vendor: "TENCENTCLOUD_SECRET_KEY", "SecretKey"),
        Setting("tencent.session_token", flag: nil, secret: true, vendor: "TENCENTCLOUD_SESSION_TOKEN", "a role's session token"),
        Setting("aliyun.region", flag: "--region", default: "cn-shanghai", "RegionId of API calls"),
        Setting("aliyun.endpoint", flag: "--endpoint", "VOD API endpoint (default https://vod.<region>.aliyuncs.com)"),
        Setting("aliyun.oss_endpoint", flag: "--oss-endpoint", "send OSS requests to this base URL"),
        Setting("aliyun.workflow_id", flag: "--workflow-id", "WorkflowId of every CreateUploadVideo"),
        Setting("aliyun.app_id", flag: "--app-id", "AppId of every create call"),
        Setting("aliyun.access_key_id", flag: nil, secret: true, vendor: "ALIBABA_CLOUD_ACCESS_KEY_ID", "AccessKey id"),
        Setting("aliyun.access_key_secret", flag: nil, secret: true, vendor: "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "AccessKey secret"),
        Setting("aliyun.security_token", flag: nil, secret: true, vendor: "ALIBABA_CLOUD_SECURITY_TOKEN", "an STS token"),
    ]

    static let byKey = Dictionary(uniqueKeysWithValues: all.map { ($0.key, $0) })

    /// The file names looked for in the state directory, in order.
    static let fileNames = ["vodingest.yaml", "vodingest.yml", "vodingest.json"]
}

/// Records which provider answered each key (for `vodingest config show`).
final class SourceRecorder: AccessReporter, Sendable {
    private let sources = Mutex<[String: String]>([:])

    func report(_ event: AccessEvent) {
        let key = event.metadata.key.components.joined(separator: ".")
        let answered = event.providerResults.first { result in
            if case .success(let lookup) = result.result, lookup.value != nil { return true }
            return false
        }
        sources.withLock { $0[key] = answered?.providerName }
    }

    func source(_ key: String) -> String? { sources.withLock { $0[key] } }
}

/// The configuration in effect for one command: its flags, the environment and the file, layered
/// by swift-configuration's ``ConfigReader`` (flag > environment > file > default).
struct EffectiveConfiguration: Sendable {
    let reader: ConfigReader
    let recorder: SourceRecorder
    /// The file read, if any.
    let file: String?
    /// For each key the environment supplied: the variable it came from.
    let variables: [String: String]
    /// The chosen platform's section for `--region`, `--endpoint` (`tencent` or `aliyun`).
    let platform: String

    /// The value of `key` in effect (the default included), or nil.
    func string(_ key: String) -> String? {
        let setting = Settings.byKey[key]
        return reader.string(forKey: ConfigKey(key), isSecret: setting?.secret ?? false) ?? setting?.defaultValue
    }

    /// Where the value of `key` comes from: `--flag`, `VARIABLE`, `file PATH`, `default`, or nil when unset.
    func source(_ key: String) -> String? {
        _ = string(key)
        // swift-configuration's provider names: InMemoryProvider[command line], EnvironmentVariablesProvider, FileProvider<...>.
        let answered = recorder.source(key) ?? ""
        if answered.hasPrefix("InMemoryProvider") { return Settings.byKey[key]?.flag ?? "command line" }
        if answered.hasPrefix("EnvironmentVariablesProvider") { return variables[key] ?? "environment" }
        if answered.hasPrefix("FileProvider") { return file.map { "file \($0)" } ?? "file" }
        return Settings.byKey[key]?.defaultValue == nil ? nil : "default"
    }

    /// The secrets in effect under their vendor variables (`TENCENTCLOUD_SECRET_KEY`, ...), for the providers.
    var credentials: [String: String] {
        var values: [String: String] = [:]
        for setting in Settings.all where setting.secret {
            if let variable = setting.vendorVariable, let value = string(setting.key) { values[variable] = value }
        }
        return values
    }

    /// An integer setting, or a usage error naming where the bad value came from.
    func int(_ key: String) throws -> Int? {
        guard let text = string(key) else { return nil }
        guard let value = Int(text) else {
            throw ValidationError("\(key) = '\(text)' (from \(source(key) ?? "?")) is not a whole number")
        }
        return value
    }

    /// Builds the layers. `flags` are the given flags as keys; the file is `configPath`, or the first
    /// of ``Settings/fileNames`` in the state directory (as the flag or the environment name it).
    static func load(
        flags: [String: String], configPath: String?, platform: String, environment: [String: String]
    ) async throws
        -> EffectiveConfiguration
    {
        var mapped: [String: String] = [:]
        var variables: [String: String] = [:]
        for setting in Settings.all {
            guard let name = setting.variables.first(where: { !(environment[$0] ?? "").isEmpty }), let value = environment[name] else {
                continue
            }
            // EnvironmentVariablesProvider's own name for the key: capitals, `.` as `_`.
            mapped[setting.key.uppercased().replacingOccurrences(of: ".", with: "_")] = value
            variables[setting.key] = name
        }
        let secretNames = Set(Settings.all.filter(\.secret).map { $0.key.uppercased().replacingOccurrences(of: ".", with: "_") })
        let flagValues = Dictionary(
            uniqueKeysWithValues: flags.map {
                (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), ConfigValue(.string($0.value), isSecret: false))
            })
        var providers: [any ConfigProvider] = [
            InMemoryProvider(name: "command line", values: flagValues),
            EnvironmentVariablesProvider(environmentVariables: mapped, secretsSpecifier: .specific(secretNames)),
        ]
        // The file: --config, else one in the state directory (from the flag or the environment).
        var file = configPath
        if file == nil {
            let stateDir = flags["state_dir"] ?? variables["state_dir"].flatMap { environment[$0] } ?? "vodingest-state"
            file = Settings.fileNames.map { stateDir + "/" + $0 }.first { FileManager.default.fileExists(atPath: $0) }
        }
        if let path = file {
            providers.append(try await fileProvider(path))
        }
        let recorder = SourceRecorder()
        return EffectiveConfiguration(
            reader: ConfigReader(providers: providers, accessReporter: recorder), recorder: recorder, file: file, variables: variables,
            platform: platform)
    }

    /// The file's provider, after checking that it can be read, holds only known keys, and holds
    /// secrets only if nobody but its owner can read it.
    static func fileProvider(_ path: String) async throws -> any ConfigProvider {
        let lower = path.lowercased()
        if lower.hasSuffix(".toml") {
            throw ValidationError("\(path): TOML is not read; write the same keys in YAML (vodingest.yaml) or JSON")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the configuration file \(path) (\(String(cString: strerror(errno))))")
        }
        let isJSON = lower.hasSuffix(".json")
        let tree: Any?
        do {
            tree = isJSON ? try JSONSerialization.jsonObject(with: data) : try Yams.load(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ValidationError("\(path) is not valid \(isJSON ? "JSON" : "YAML"): \(error)")
        }
        var keys: [String] = []
        func walk(_ node: Any?, _ prefix: String) throws {
            guard let mapping = node as? [String: Any] else {
                if prefix.isEmpty, node != nil { throw ValidationError("\(path): the top level must be a mapping of sections and keys") }
                if !prefix.isEmpty { keys.append(prefix) }
                return
            }
            if mapping.isEmpty, !prefix.isEmpty { keys.append(prefix) }
            for (name, value) in mapping { try walk(value, prefix.isEmpty ? name : prefix + "." + name) }
        }
        try walk(tree, "")
        let unknown = keys.filter { Settings.byKey[$0] == nil }.sorted()
        if !unknown.isEmpty {
            throw ValidationError(
                "\(path): unknown key\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); the keys are "
                    + Settings.all.map(\.key).joined(separator: ", "))
        }
        let secrets = keys.filter { Settings.byKey[$0]?.secret == true }
        if !secrets.isEmpty {
            var status = stat()
            guard stat(path, &status) == 0 else { throw ValidationError("cannot stat \(path)") }
            let mode = status.st_mode & 0o777
            if mode & 0o077 != 0 {
                throw ValidationError(
                    "\(path) holds \(secrets.joined(separator: ", ")) and can be read by others (mode \(String(mode, radix: 8))): "
                        + "run chmod 600 \(path), or give the secrets in the environment instead")
            }
        }
        let secretKeys = Set(Settings.all.filter(\.secret).map(\.key))
        if isJSON {
            return try await FileProvider<JSONSnapshot>(
                parsingOptions: .init(secretsSpecifier: .specific(secretKeys)), filePath: FilePath(path))
        }
        return try await FileProvider<YAMLSnapshot>(
            parsingOptions: .init(secretsSpecifier: .specific(secretKeys)), filePath: FilePath(path))
    }
}

/// A command whose options come from its flags, the environment and a configuration file.
protocol ConfigurableCommand: LoggingCommand, ParsableCommand {
    /// `--config FILE`.
    var config: String? { get }
    /// The flags given, as configuration keys.
    var flagSettings: [String: String] { get }
    /// The chosen platform's section (`tencent`, `aliyun`).
    var platformSection: String { get }
    /// Sets every option from the configuration in effect.
    mutating func configure(_ configuration: EffectiveConfiguration) throws
    /// Checks the options in effect (what `validate()` does for a command without configuration).
    func check() throws
}

extension ConfigurableCommand {
    /// The layers, then the options set from them and checked.
    mutating func applyConfiguration() async throws {
        let effective = try await EffectiveConfiguration.load(
            flags: flagSettings, configPath: config, platform: platformSection, environment: ProcessInfo.processInfo.environment)
        try configure(effective)
        logging.logLevel = effective.string("log.level").flatMap(Logger.Level.init(rawValue:))
        logging.logFormat = effective.string("log.format").flatMap(LogFormat.init(rawValue:))
        if let level = effective.string("log.level"), Logger.Level(rawValue: level) == nil {
            throw ValidationError(
                "log.level '\(level)' (from \(effective.source("log.level") ?? "?")) is not one of trace, debug, info, notice, warning, error, critical"
            )
        }
        if let format = effective.string("log.format"), LogFormat(rawValue: format) == nil {
            throw ValidationError("log.format '\(format)' (from \(effective.source("log.format") ?? "?")) is not text or json")
        }
        try check()
    }
}
