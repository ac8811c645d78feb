import ArgumentParser
import Logging

/// The `vodingest` command tree. The executable's `main` forwards here.
public struct VODIngestCommand: ParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "vodingest",
        abstract: "Move whole video libraries into cloud video-on-demand platforms.",
        discussion: """
            Start with `vodingest validate MANIFEST...` to check a manifest, then `vodingest plan`
            to see what a run will cost. See README.md for manifest formats and exit codes.
            """,
        version: version,
        subcommands: [ValidateCommand.self, PlanCommand.self])

    public init() {}

    /// Entry point: logging to standard error, then the command.
    public static func runMain() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        main()
    }
}
