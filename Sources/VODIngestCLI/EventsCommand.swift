import ArgumentParser
import AsyncHTTPClient
import Emulator
import Foundation
import IngestCore
import IngestEngine
import JournalSQLite
import VODHTTP

/// The options of an event watch, shared by `ingest --wait-events` and `vodingest events`.
struct EventWatchFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Stop waiting for the platform's events after this many seconds; the media not done stay awaited for the next `vodingest events` (default: 600).",
            valueName: "seconds"))
    var eventsTimeout: Int?

    @Flag(
        help:
            "Confirm (Tencent ConfirmEvents) events of media this state directory does not know; without it they are counted, listed and left for whoever they belong to."
    )
    var confirmForeign = false

    mutating func validate() throws {
        guard eventsTimeout ?? 0 >= 0 else { throw ValidationError("--events-timeout is seconds, 0 or more") }
    }

    /// Whether either option was given.
    var given: Bool { eventsTimeout != nil || confirmForeign }

    func options(committedSince: Int64?) -> EventWatchOptions {
        EventWatchOptions(committedSince: committedSince, timeout: .seconds(eventsTimeout ?? 600), confirmForeign: confirmForeign)
    }
}

/// Runs an event watch with a platform's provider and prints what it did.
enum EventWatch {
    static func run(
        journal: any JournalStore, provider: PlatformProvider, profile: ProviderProfile, rates: [String: Double],
        options: EventWatchOptions,
        sink: OutputSink
    ) async throws -> EventWatchSummary {
        let watcher = EventWatcher(
            journal: journal, events: provider, rules: profile.processing,
            budget: RateBudget(rates: rates, defaultRate: profile.defaultAPIRate, cap: nil))
        let how =
            profile.processing.pullsEvents
            ? "pulling \(profile.processing.pull ?? "events")"
            : "polling \(profile.processing.poll ?? "statuses"), \(profile.processing.pollBatch) media a call"
        await sink.message(
            "Waiting for \(profile.displayName)'s processing news (\(how); at most \(formatDuration(options.timeout.seconds))).")
        return try await watcher.run(options) { waiting in
            if Progress.terminal {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(waiting) media still awaited".utf8))
            }
        }
    }

    /// The summary line (to standard error when standard output carries JSON), and the foreign events.
    static func describe(_ s: EventWatchSummary, sink: OutputSink, json: Bool = false) async {
        Progress.clearLine()
        var text =
            "events: \(s.awaited) media awaited, \(s.done) done (\(s.failed) failed processing), \(s.waiting) still awaited; "
            + "\(s.matched) events recorded, \(s.confirmed) confirmed in \(formatDuration(s.seconds))"
        if s.timedOut { text += "; stopped at --events-timeout (run `vodingest events` later for the rest)" }
        if json { await sink.message(text) } else { await sink.result(text) }
        if s.foreign > 0 {
            await sink.message(
                "\(s.foreign) event(s) of media this state directory does not know were left unconfirmed (--confirm-foreign confirms them): "
                    + s.foreignExamples.joined(separator: ", ") + (s.foreign > s.foreignExamples.count ? ", ..." : ""))
        }
        if s.mismatched > 0 {
            await sink.message(
                "\(s.mismatched) event(s) named a media of the journal with another SourceContext: left unconfirmed, not recorded.")
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// `vodingest events`: waits for what the platform says of a state directory's committed media
/// after their upload, records it in the journal, and writes the report again.
struct EventsCommand: AsyncParsableCommand, ConfigurableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Wait for the platform's processing news of committed media, record it in the journal, and write the report again.",
        discussion: """
            Tencent (reliable-callback mode): PullEvents, NewFileUpload and ProcedureStateChanged events matched to the journal's media by FileId (their SourceContext checked), each confirmed (ConfirmEvents) only once the journal holds what it said: a crash between the two gets the same events again, none is lost. Events of media the state directory does not know are counted and listed, and left for whoever they belong to (--confirm-foreign confirms them). Alibaba has no pull API: each video's status is polled (GetVideoInfos, 20 ids a call) until it is Normal or failed. The report gets upload_event_at, procedure_task_id, procedure_status and procedure_status_at.

            Exit status: 0 every awaited media done and none failed; 75 some still awaited at --events-timeout, or some failed processing; 64 usage error.

            Examples:
              vodingest events --state-dir vodingest-state
              vodingest events --state-dir vodingest-state --provider local-aliyun --events-timeout 60
              TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... vodingest events --provider tencent --state-dir /var/lib/vodingest
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp("The state directory of the ingests whose media to watch (default: vodingest-state).", valueName: "dir"))
    var stateDirFlag: String?

    @Option(
        name: .customLong("provider"),
        help: ArgumentHelp(
            "Platform: local (= local-tencent, the default), local-aliyun (the embedded emulator on the state directory's data), tencent, aliyun.",
            valueName: "name"))
    var providerFlag: String?

    @Option(
        help: ArgumentHelp(
            "A configuration file (default: vodingest.yaml in the state directory); see `vodingest config show`.", valueName: "file"))
    var config: String?

    var stateDir: String { stateDirFlag ?? "vodingest-state" }
    var provider: String { providerFlag ?? "local" }

    @OptionGroup(title: "Events") var watch: EventWatchFlags
    @OptionGroup(title: "Platform") var platformOptions: PlatformOptions
    @OptionGroup(title: "Tencent Cloud VOD") var tencent: TencentOptions
    @OptionGroup(title: "Alibaba Cloud VOD") var aliyun: AliyunOptions

    var flagSettings: [String: String] {
        var flags: [String: String?] = [
            "state_dir": stateDirFlag, "provider": providerFlag, "log.level": logging.logLevel?.rawValue,
            "log.format": logging.logFormat?.rawValue, "events.timeout": watch.eventsTimeout.map(String.init),
        ]
        flags.merge(PlatformSettings.flagSettings(platformOptions, tencent, aliyun, platform: platformSection)) { $1 }
        return flags.compactMapValues { $0 }
    }

    var platformSection: String { Platforms.choose(provider)?.platform.name ?? "tencent" }

    mutating func configure(_ c: EffectiveConfiguration) throws {
        stateDirFlag = c.string("state_dir")
        providerFlag = c.string("provider")
        watch.eventsTimeout = try c.int("events.timeout")
        let embedded = Platforms.choose(provider)?.embedded ?? true
        var (common, tencent, aliyun) = (platformOptions, self.tencent, self.aliyun)
        try PlatformSettings.configure(&common, &tencent, &aliyun, from: c, embedded: embedded)
        (platformOptions, self.tencent, self.aliyun) = (common, tencent, aliyun)
    }

    func check() throws {
        guard watch.eventsTimeout ?? 0 >= 0 else { throw ValidationError("--events-timeout is seconds, 0 or more") }
        guard let choice = Platforms.choose(provider) else {
            throw ValidationError("unknown provider '\(provider)'; choose one of: \(Platforms.names.joined(separator: ", "))")
        }
        if let refusal = Platforms.check(choice, common: platformOptions, tencent: tencent, aliyun: aliyun) {
            throw ValidationError(refusal)
        }
    }

    func run() async throws {
        let sink = OutputSink()
        guard FileManager.default.fileExists(atPath: stateDir + "/" + SQLiteJournal.databaseName) else {
            await sink.message("error: \(stateDir) has no journal (\(SQLiteJournal.databaseName)); give the --state-dir of an ingest")
            throw ExitStatus.manifestUnreadable.exitCode
        }
        let journal = try await IngestCommand.openJournal(stateDir, sink: sink)
        defer { journal.close() }
        let choice = Platforms.choose(provider)!
        let profile = choice.platform.profile
        let settings = PlatformSettings(platformOptions, tencent, aliyun)
        let rates = profile.actionRates(region: platformOptions.region)
        let options = watch.options(committedSince: nil)
        let client = AsyncHTTPTransport.makeClient(connections: 4)
        let transport = AsyncHTTPTransport(client: client)
        let summary: EventWatchSummary
        do {
            summary = try await Platforms.withProvider(choice, stateDir: stateDir, settings: settings, transport: transport) { provider in
                try await EventWatch.run(journal: journal, provider: provider, profile: profile, rates: rates, options: options, sink: sink)
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            if let failure = error as? ProviderError {
                await sink.message("error: \(failure)")
                throw ExitStatus.itemsFailed.exitCode
            }
            throw error
        }
        await EventWatch.describe(summary, sink: sink)
        do {
            _ = try await IngestCommand.writeReports(journal: journal, manifestPaths: nil, directory: stateDir)
        } catch let error as IngestError {
            await sink.message("error: \(error.message)")
            throw ExitStatus.internalError.exitCode
        }
        await sink.result("report: \(stateDir)/report.csv, report.jsonl, report.html")
        await sink.flush()
        if summary.waiting > 0 || summary.failed > 0 { throw ExitStatus.itemsFailed.exitCode }
    }
}
