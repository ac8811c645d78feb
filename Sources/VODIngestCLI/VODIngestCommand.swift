import ArgumentParser
import Logging

/// The `vodingest` command tree. The executable's `main` forwards here.
public struct VODIngestCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "vodingest",
        abstract: "Move whole video libraries into cloud video-on-demand platforms.",
        discussion: """
            Check a manifest with `vodingest validate`, see what a run costs with `vodingest plan`,
            upload with `vodingest ingest` (into the embedded emulator unless --provider tencent).
            See README.md for manifest formats and exit codes.
            """,
        version: version,
        subcommands: [IngestCommand.self, ValidateCommand.self, PlanCommand.self, EmulatorCommand.self])

    public init() {}

    /// Entry point: logging to standard error, then the command.
    public static func runMain() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        await main()
    }
}
