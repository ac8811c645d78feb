import ArgumentParser
import Foundation
import IngestCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The `vodingest` command tree. The executable's `main` forwards here.
public struct VODIngestCommand: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "vodingest",
        abstract: "Move whole video libraries into cloud video-on-demand platforms.",
        discussion: """
            Check a manifest with `vodingest validate`, see what a run costs with `vodingest plan`, upload with `vodingest ingest` (into the embedded emulator, Tencent's protocol by default or Alibaba's with --provider local-aliyun; --provider tencent or aliyun for the cloud). See README.md for manifest formats, how each field maps to each platform, and exit codes.
            """,
        version: version,
        subcommands: [
            IngestCommand.self, EventsCommand.self, ReportCommand.self, AuditCommand.self, ValidateCommand.self, PlanCommand.self,
            EmulatorCommand.self, ConfigCommand.self,
        ])

    public init() {}

    /// Entry point: logging to standard error, then the command.
    public static func runMain() async {
        #if canImport(Glibc)
            // Upload bodies are 256 KiB chunks allocated and freed on many threads. With glibc's
            // sliding mmap threshold they end up in arenas that are never given back, and peak RSS
            // grew with the part size (204 MiB at 64 MiB parts × 16 in flight, against 85 MiB with a
            // fixed threshold; same speed; scripts/bench-part-size). A fixed threshold maps each
            // chunk and unmaps it when freed.
            // mallopt is in <malloc.h>, which the Glibc module leaves out; M_MMAP_THRESHOLD is -3.
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
                _ = unsafeBitCast(symbol, to: Mallopt.self)(-3, 128 * 1024)
            }
        #endif
        // A file over RLIMIT_FSIZE: the write fails with EFBIG (said as such) instead of the
        // process being killed by SIGXFSZ mid-transaction.
        signal(SIGXFSZ, SIG_IGN)
        // Parse errors are ArgumentParser's (usage, 64); what a command throws that is not an exit
        // status of its own is an internal error (70), said once, with what to do.
        var parsed: any ParsableCommand
        do {
            parsed = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        // Flags, environment and configuration file, layered; then the options are checked.
        if var configurable = parsed as? any ConfigurableCommand {
            do {
                try await configurable.applyConfiguration()
            } catch {
                exit(withError: error)
            }
            parsed = configurable
        }
        let logging = (parsed as? any LoggingCommand)?.logging
        StandardErrorLogHandler.bootstrap(level: logging?.logLevel, format: logging?.logFormat)
        do {
            var command = parsed
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let status as ExitCode {
            exit(withError: status)
        } catch let validation as ValidationError {
            exit(withError: validation)
        } catch  where exitCode(for: error) != ExitCode.failure {
            // ArgumentParser's own (the help command's help request, a clean exit): its message and status.
            exit(withError: error)
        } catch {
            StandardError.say(Self.internalErrorMessage(error))
            exit(withError: ExitStatus.internalError.exitCode)
        }
    }

    /// What an internal error (exit 70) says: what happened, that nothing done is lost, what to do.
    static func internalErrorMessage(_ error: any Error) -> String {
        let what = (error as? IngestError).map { "\($0.message) [\($0.code)]" } ?? String(describing: error)
        return "internal error: \(what). vodingest could not finish; the journal keeps everything it did. "
            + "Fix the cause if it is in the environment (a full disk, a folder that cannot be written) and run the same command "
            + "again; otherwise this is a bug: please report it with the command line."
    }
}
