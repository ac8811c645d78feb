import ArgumentParser
import IngestCore
import Manifests

/// Output format of a command's results.
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

/// The manifests and how to check them: shared by `validate` and `plan`.
struct ManifestOptions: ParsableArguments {
    @Argument(
        help: ArgumentHelp("Manifest files (CSV or XML, detected from the content); `-` reads standard input.", valueName: "manifest"))
    var manifests: [String] = []

    @Option(
        help: ArgumentHelp(
            "Folder that every media and cover file must be inside; relative paths resolve against it. Default: each manifest's own folder (the current folder for standard input).",
            valueName: "dir"))
    var root: String?

    @Option(
        help: ArgumentHelp(
            "Platform: tencent, aliyun, or local-tencent, local-aliyun (that platform's protocol on the embedded emulator; local = local-tencent). Default: tencent for validate and plan, local for ingest.",
            valueName: "name"))
    var provider: String?

    @Flag(help: "Compute MD5/SHA-256 of files whose row gives `md5`/`sha256` and compare (reads those files whole).")
    var checksums = false

    @Flag(help: "Check only the manifest text: no stat, no symlink resolution, no content sniffing.")
    var noFileChecks = false

    mutating func validate() throws {
        guard !manifests.isEmpty else {
            throw ValidationError("give at least one manifest (a CSV or XML file, or - for standard input)")
        }
        if manifests.count(where: { $0 == "-" }) > 1 {
            throw ValidationError("standard input (-) can be read only once")
        }
        if let provider, Platforms.choose(provider) == nil {
            throw ValidationError("unknown provider '\(provider)'; choose one of: \(Platforms.names.joined(separator: ", "))")
        }
        if checksums, noFileChecks {
            throw ValidationError("--checksums reads the files, so it cannot be combined with --no-file-checks")
        }
    }

    var profile: ProviderProfile { provider.flatMap(Platforms.choose)?.platform.profile ?? .tencent }

    /// - Parameter buildsItems: whether valid rows need their ``IngestItem`` (not for `validate`).
    func pipeline(buildsItems: Bool = true) -> ManifestPipeline {
        ManifestPipeline(
            options: ValidationOptions(
                profile: profile, fileChecks: !noFileChecks, checksums: checksums, buildsItems: buildsItems),
            rootOverride: root)
    }
}
