import ArgumentParser
import Foundation

/// `vodingest config`: the configuration in effect.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the configuration in effect.",
        subcommands: [ConfigShowCommand.self])
}

/// `vodingest config show`: every key, its value in effect and where it comes from.
struct ConfigShowCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print every configuration key, its value in effect and where it comes from (secrets redacted).",
        discussion: """
            A value comes from its flag, else the environment (VODINGEST_ and the key in capitals with _ for ., e.g. VODINGEST_INGEST_CONCURRENCY; a credential also from the vendor's own variable, such as TENCENTCLOUD_SECRET_KEY), else the configuration file (--config FILE, or vodingest.yaml, vodingest.yml or vodingest.json in the state directory), else its default. Give the same --config, --state-dir and --provider as the ingest to see what it will use. A secret is shown as <redacted> with its source, never its value.

            Examples:
              vodingest config show --state-dir /var/lib/vodingest
              VODINGEST_INGEST_CONCURRENCY=16 vodingest config show --config /etc/vodingest.yaml --format json
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @Option(help: ArgumentHelp("The configuration file (default: vodingest.yaml in the state directory).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The state directory whose vodingest.yaml is read (default: vodingest-state).", valueName: "dir"))
    var stateDir: String?

    @Option(help: ArgumentHelp("The platform whose section --region and --endpoint would set (default: local).", valueName: "name"))
    var provider: String?

    @Option(help: "Output format: text, or json (one object: key to value and source).")
    var format: OutputFormat = .text

    struct Entry: Encodable {
        var value: String?
        var source: String?
    }

    func run() async throws {
        var flags: [String: String] = [:]
        if let stateDir { flags["state_dir"] = stateDir }
        if let provider { flags["provider"] = provider }
        if let level = logging.logLevel { flags["log.level"] = level.rawValue }
        if let format = logging.logFormat { flags["log.format"] = format.rawValue }
        let platform = Platforms.choose(provider ?? "local")?.platform.name ?? "tencent"
        let effective = try await EffectiveConfiguration.load(
            flags: flags, configPath: config, platform: platform, environment: ProcessInfo.processInfo.environment)
        var entries: [(String, Entry)] = []
        for setting in Settings.all {
            let value = effective.string(setting.key)
            let shown = setting.secret ? value.map { _ in "<redacted>" } : value
            entries.append((setting.key, Entry(value: shown, source: effective.source(setting.key))))
        }
        let out = Console.standardOutput()
        switch format {
        case .json:
            struct Shown: Encodable {
                var file: String?
                var settings: [String: Entry]
            }
            out.line(JSON.encode(Shown(file: effective.file, settings: Dictionary(uniqueKeysWithValues: entries)), pretty: true))
        case .text:
            out.line("configuration file: \(effective.file ?? "none")")
            let width = entries.map(\.0.count).max() ?? 0
            for (key, entry) in entries {
                let padded = key.padding(toLength: width, withPad: " ", startingAt: 0)
                out.line("\(padded)  \(entry.value ?? "(unset)")" + (entry.source.map { "  [\($0)]" } ?? ""))
            }
        }
        out.flush()
    }
}
