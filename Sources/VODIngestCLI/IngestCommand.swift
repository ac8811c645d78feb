import ArgumentParser
import AsyncHTTPClient
import Emulator
import Foundation
import IngestCore
import IngestEngine
import JournalSQLite
import Logging
import Manifests
import VODHTTP

/// `vodingest ingest`: validate, then upload every valid row through the platform's server-upload
/// flow, and write the reconciliation report.
struct IngestCommand: AsyncParsableCommand, ConfigurableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Upload every valid row of the manifests and write the reconciliation report.",
        discussion: """
            Rows are validated first; invalid rows are reported and never uploaded. Each valid row then goes through the platform's server upload flow, in parallel under the limits below: on Tencent ApplyUpload, the media (and cover) to COS, and CommitUpload; on Alibaba CreateUploadImage and the cover to OSS, CreateUploadVideo, the media to OSS (RefreshUploadVideo when its credentials near expiry), and GetMezzanineInfo to confirm. The report (report.csv, report.jsonl, summary.json) goes to --state-dir.

            --provider local (the default, = local-tencent) starts the embedded emulator on a loopback port, with its data under --state-dir/emulator, and uploads into it over HTTP with the same Tencent code that talks to the cloud; --provider local-aliyun does the same with the Alibaba code. --provider tencent uploads to Tencent Cloud VOD with the credentials in TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN); --provider aliyun to Alibaba Cloud VOD with ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET (and ALIBABA_CLOUD_SECURITY_TOKEN).

            A committed row delivered again is compared with what was committed: changed fields the platform can set on the media are updated in place (Tencent ModifyMediaInfo, Alibaba UpdateVideoInfo); a different file, or a changed field only an upload carries, is reported 'changed', or uploaded anew with --replace-changed (--delete-replaced then deletes the old media once the new one is committed).

            Exit status: 0 every valid row committed and no invalid row; 65 some rows invalid (every valid one committed), or committed rows delivered changed and not replaced; 75 some items failed after retries or the run stopped early (a re-run may succeed); 64 usage error; 66 a manifest cannot be read; 70 internal error.

            Examples:
              vodingest ingest samples/good.csv samples/good.xml
              vodingest ingest --concurrency 16 --bandwidth 50MiB/s --api-rate 50 library.csv
              vodingest ingest --provider local-aliyun samples/good.csv
              vodingest ingest --state-dir /var/lib/vodingest --replace-changed --delete-replaced partner.csv
              TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... \\
                vodingest ingest --provider tencent --region ap-guangzhou --sub-app-id 1500000000 library.csv
              ALIBABA_CLOUD_ACCESS_KEY_ID=... ALIBABA_CLOUD_ACCESS_KEY_SECRET=... \\
                vodingest ingest --provider aliyun --region cn-shanghai library.csv
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @OptionGroup var input: ManifestOptions

    @Option(
        name: .customLong("state-dir"),
        help: ArgumentHelp(
            "Folder of the journal (resume: run the same command again), the report, and the embedded emulator's data (default: vodingest-state).",
            valueName: "dir"))
    var stateDirFlag: String?

    @Option(
        help: ArgumentHelp(
            "Files in flight at most. Within it the run keeps as many in flight as the API budget times the observed time per file asks for (Little's law), from 8 up; large files stay at 8 (default: 64).",
            valueName: "n"))
    var concurrency: Int?

    @Option(name: .customLong("part-concurrency"), help: "Parts of one file in flight at once (default: 4).")
    var partConcurrencyFlag: Int?

    @Option(
        help: ArgumentHelp(
            "A cap on API requests per second of all actions together, on top of each action's own budget (default: none).",
            valueName: "rate"))
    var apiRate: String?

    @Option(
        help: ArgumentHelp(
            "An action's budget in requests per second, for an account whose limits differ from the documented ones (Tencent ApplyUpload and CommitUpload 100/s; Alibaba CreateUploadVideo 80/s in its large regions, 40/s elsewhere). Repeatable; '*=N' sets every action.",
            valueName: "action=rate"))
    var actionRate: [String] = []

    @Option(
        help: ArgumentHelp("Upload bandwidth cap shared by all transfers, e.g. 50MiB/s or 400Mbit/s (default: none).", valueName: "rate"))
    var bandwidth: String?

    @Option(
        name: .customLong("part-size"),
        help: ArgumentHelp("Multipart part size (files up to this size go in one PUT; default: 16MiB).", valueName: "size"))
    var partSizeFlag: String?

    @Option(help: "Task-flow template (Tencent Procedure, Alibaba TemplateGroupId) to run after upload, for rows without a procedure.")
    var procedure: String?

    @Option(help: "Storage region (Tencent StorageRegion, Alibaba StorageLocation), for rows without one.")
    var storageRegion: String?

    @Option(help: "Category id (Tencent ClassId, Alibaba CateId), for rows without one.")
    var classId: Int?

    @Option(help: "Stop taking new items after this many failures.")
    var maxFailures: Int?

    @OptionGroup(title: "Platform") var platformOptions: PlatformOptions
    @OptionGroup(title: "Tencent Cloud VOD") var tencent: TencentOptions
    @OptionGroup(title: "Alibaba Cloud VOD") var aliyun: AliyunOptions

    @Option(help: "Output format: text, or json (JSON Lines of report rows, then the summary).")
    var format: OutputFormat = .text

    @Flag(help: "Upload rows whose content (size and MD5) was committed already from this state directory.")
    var allowDuplicates = false

    @Flag(
        help:
            "Upload anew a committed row delivered again with a different file (size, checksum) or with a changed field the platform takes only with an upload (cover, procedure, storage region, ...). Without it such a row is reported 'changed' and left as it is."
    )
    var replaceChanged = false

    @Flag(
        help:
            "With --replace-changed: delete the replaced media (Tencent DeleteMedia, Alibaba DeleteVideo) once its replacement is committed."
    )
    var deleteReplaced = false

    @Option(
        name: .customLong("grace"),
        help: ArgumentHelp(
            "After SIGINT/SIGTERM, seconds in-flight items get to finish before they are stopped (a second signal stops at once; default: 30).",
            valueName: "seconds"))
    var graceFlag: Int?

    @Flag(
        help:
            "After the uploads, wait for the platform's processing news of this run's media (Tencent NewFileUpload and ProcedureStateChanged events, pulled and confirmed; Alibaba the video status, polled) and put it in the report."
    )
    var waitEvents = false

    @OptionGroup(title: "Events (with --wait-events)") var watch: EventWatchFlags

    @Option(
        help: ArgumentHelp(
            "Serve the run's live status while it goes on: /metrics (Prometheus text format), / (a page that refreshes itself), /status.json. HOST:PORT, or PORT for loopback (127.0.0.1); port 0 picks a free one.",
            valueName: "host:port"))
    var statusAddr: String?

    @Option(
        help: ArgumentHelp(
            "A configuration file (YAML or JSON; default: vodingest.yaml in the state directory, if there is one). Flags win over the environment, which wins over the file; see `vodingest config show`.",
            valueName: "file"))
    var config: String?

    /// Files in flight at most without `--concurrency`.
    static let concurrencyCap = 64

    var stateDir: String { stateDirFlag ?? "vodingest-state" }
    var partConcurrency: Int { partConcurrencyFlag ?? 4 }
    var partSize: String { partSizeFlag ?? "16MiB" }
    var grace: Int { graceFlag ?? 30 }

    /// Each action's budget: the platform's documented rates in the region, with `--action-rate` over them.
    var budget: (rates: [String: Double], defaultRate: Double) {
        let profile = choice.platform.profile
        let overrides = (try? ActionRates.parse(actionRate, profile: profile)) ?? ActionRates(rates: [:], all: nil)
        var rates = profile.actionRates(region: platformOptions.region)
        if let all = overrides.all { rates = rates.mapValues { _ in all } }
        rates.merge(overrides.rates) { _, given in given }
        return (rates, overrides.all ?? profile.defaultAPIRate)
    }

    var providerName: String { input.provider ?? "local" }
    var choice: Platforms.Choice { Platforms.choose(providerName)! }

    /// The flags given, as configuration keys (swift-configuration's first layer).
    var flagSettings: [String: String] {
        var flags: [String: String?] = [
            "state_dir": stateDirFlag, "provider": input.provider, "root": input.root, "log.level": logging.logLevel?.rawValue,
            "log.format": logging.logFormat?.rawValue, "ingest.concurrency": concurrency.map(String.init),
            "ingest.part_concurrency": partConcurrencyFlag.map(String.init), "ingest.part_size": partSizeFlag, "ingest.api_rate": apiRate,
            "ingest.bandwidth": bandwidth, "ingest.procedure": procedure, "ingest.storage_region": storageRegion,
            "ingest.class_id": classId.map(String.init), "ingest.max_failures": maxFailures.map(String.init),
            "ingest.grace": graceFlag.map(String.init), "ingest.status_addr": statusAddr,
            "events.timeout": watch.eventsTimeout.map(String.init),
        ]
        flags.merge(PlatformSettings.flagSettings(platformOptions, tencent, aliyun, platform: platformSection)) { $1 }
        return flags.compactMapValues { $0 }
    }

    /// The platform's section of the configuration: `tencent` or `aliyun`.
    var platformSection: String { Platforms.choose(input.provider ?? "local")?.platform.name ?? "tencent" }

    /// Every option not given as a flag from the environment or the file (a flag is its own first layer).
    mutating func configure(_ c: EffectiveConfiguration) throws {
        stateDirFlag = c.string("state_dir")
        input.provider = c.string("provider")
        input.root = c.string("root")
        concurrency = try c.int("ingest.concurrency")
        partConcurrencyFlag = try c.int("ingest.part_concurrency")
        partSizeFlag = c.string("ingest.part_size")
        apiRate = c.string("ingest.api_rate")
        bandwidth = c.string("ingest.bandwidth")
        procedure = c.string("ingest.procedure")
        storageRegion = c.string("ingest.storage_region")
        classId = try c.int("ingest.class_id")
        maxFailures = try c.int("ingest.max_failures")
        graceFlag = try c.int("ingest.grace")
        statusAddr = c.string("ingest.status_addr")
        // The timeout is for --wait-events; given alone, the flag is refused below.
        if waitEvents { watch.eventsTimeout = try c.int("events.timeout") }
        let embedded = Platforms.choose(providerName)?.embedded ?? true
        var (common, tencent, aliyun) = (platformOptions, self.tencent, self.aliyun)
        try PlatformSettings.configure(&common, &tencent, &aliyun, from: c, embedded: embedded)
        (platformOptions, self.tencent, self.aliyun) = (common, tencent, aliyun)
    }

    func check() throws {
        guard let choice = Platforms.choose(providerName) else {
            throw ValidationError("unknown provider '\(providerName)'; choose one of: \(Platforms.names.joined(separator: ", "))")
        }
        guard concurrency ?? 1 >= 1, partConcurrency >= 1 else {
            throw ValidationError("--concurrency and --part-concurrency must be at least 1")
        }
        if let apiRate, RequestRate(parsing: apiRate) == nil {
            throw ValidationError("--api-rate '\(apiRate)' is not a rate such as 100 or 50/s")
        }
        _ = try ActionRates.parse(actionRate, profile: choice.platform.profile)
        let rules = choice.platform.profile.parts
        guard let size = ByteSize(parsing: partSize), size.bytes >= max(rules.minimumPartSize, 1 << 20), size.bytes <= rules.maximumPartSize
        else {
            throw ValidationError("--part-size '\(partSize)' must be a size between 1MiB and \(ByteSize.format(rules.maximumPartSize))")
        }
        if let bandwidth, ByteRate(parsing: bandwidth) == nil {
            throw ValidationError("--bandwidth '\(bandwidth)' is not a rate; give e.g. 100MB/s, 50MiB/s or 400Mbit/s")
        }
        if watch.given && !waitEvents {
            throw ValidationError("--events-timeout and --confirm-foreign are for --wait-events (or `vodingest events`)")
        }
        if deleteReplaced && !replaceChanged {
            throw ValidationError("--delete-replaced deletes the media a replacement replaces: give it with --replace-changed")
        }
        if let statusAddr, StatusAddress(parsing: statusAddr) == nil {
            throw ValidationError("--status-addr '\(statusAddr)' is not HOST:PORT or PORT, such as 127.0.0.1:9100 or 9100")
        }
        if let refusal = Platforms.check(choice, common: platformOptions, tencent: tencent, aliyun: aliyun) {
            throw ValidationError(refusal)
        }
    }

    var settings: PlatformSettings {
        var settings = PlatformSettings(platformOptions, tencent, aliyun)
        settings.partSize = ByteSize(parsing: partSize)!.bytes
        settings.partConcurrency = partConcurrency
        return settings
    }

    func run() async throws {
        let started = Date()
        let sink = OutputSink()
        // 1. The journal: refuses a second process on the same state directory.
        let journal = try await Self.openJournal(stateDir, sink: sink)
        defer { journal.close() }
        let runID = String(UUID().uuidString.prefix(8)).lowercased()
        let startedMillis = Int64(started.timeIntervalSince1970 * 1000)
        let fingerprints = input.manifests.map { name in
            ManifestFingerprint(
                name: name == "-" ? "<stdin>" : name, path: name == "-" ? "-" : URL(fileURLWithPath: name).standardizedFileURL.path,
                sha256: nil)
        }
        do {
            try await journal.begin(
                RunRecord(
                    id: runID, startedAt: Int64(started.timeIntervalSince1970 * 1000), toolVersion: VODIngestCommand.version,
                    manifests: fingerprints,
                    options: runOptions))
        } catch let failure as IngestError where failure.code.hasPrefix("journal.") {
            try await Self.journalFailed(failure, journal: journal, manifestPaths: fingerprints.map(\.path), stateDir: stateDir, sink: sink)
        }
        let checksums = Task.detached { Self.checksums(of: fingerprints) }

        // 2. What an earlier run left in flight goes first; then the manifests stream through validation.
        let resumes = try await journal.inFlight()
        if !resumes.isEmpty {
            await sink.message(
                "Resuming \(resumes.count) item(s) an earlier run left in flight (journal: \(stateDir)/\(SQLiteJournal.databaseName)).")
        }
        // Totals before the first byte (a first pass over the manifests; standard input is read once).
        let stats = IngestStats()
        let precounted = !input.manifests.contains("-")
        if precounted {
            let (items, bytes) = await ManifestCount.count(input.pipeline(), manifests: input.manifests)
            stats.update {
                $0.itemsTotal = items
                $0.bytesTotal = bytes
            }
        }
        let stream = ManifestStream()
        // However the run ends (a journal error included), the validating thread stops reading.
        defer { stream.cancel() }
        stream.start(
            pipeline: input.pipeline(), manifests: input.manifests,
            fingerprints: Dictionary(fingerprints.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a }))
        let format = self.format
        let idName = choice.platform.profile.mediaIDName
        let feed = JournalFeed(
            journal: journal, stream: stream, resumes: resumes, runID: runID, reopenDuplicates: allowDuplicates, stats: stats,
            precounted: precounted
        ) { item, known in
            // With --format json the rows come from the report at the end (report.jsonl's rows).
            guard format == .text else {
                if case .committed = known { stats.update { $0.alreadyCommitted += 1 } }
                if case .duplicate = known { stats.update { $0.duplicates += 1 } }
                return
            }
            let line: String
            switch known {
            case .committed(_, let remote):
                stats.update { $0.alreadyCommitted += 1 }
                line = "done       \(item.id)  \(idName) \(remote.fileID)  (committed by an earlier run)"
            case .duplicate(_, let of):
                stats.update { $0.duplicates += 1 }
                line = "skipped    \(item.id)  duplicate of \(of)"
            default: return
            }
            await sink.result(line)
        }
        var ingestOptions = IngestOptions(
            concurrency: concurrency ?? Self.concurrencyCap, adaptiveConcurrency: true,
            apiRate: apiRate.flatMap(RequestRate.init(parsing:))?.perSecond,
            actionRates: budget.rates, defaultActionRate: budget.defaultRate, maxFailures: maxFailures,
            procedure: procedure, storageRegion: storageRegion, classID: classId, runID: runID, allowDuplicates: allowDuplicates,
            bandwidth: bandwidth.flatMap(ByteRate.init(parsing:)).map(\.bytesPerSecond))
        ingestOptions.replaceChanged = replaceChanged
        ingestOptions.deleteReplaced = deleteReplaced
        let options = ingestOptions
        let control = RunControl()

        // 3. Upload (with the live status served, when asked).
        let choice = self.choice
        let settings = self.settings
        let board = StatusBoard(stats: stats, provider: providerName)
        let uploadPhase: @Sendable () async throws -> (UploadResult, String) = {
            if choice.embedded {
                let data = URL(fileURLWithPath: stateDir).standardizedFileURL.path + "/emulator"
                return try await Emulator.withRunning(configuration: EmulatorConfiguration(dataDirectory: data)) { endpoint in
                    await sink.message(
                        "Uploading into the embedded emulator at \(endpoint.url) (\(choice.platform.profile.displayName)'s protocol; its data: \(data)).\n"
                            + "To upload to \(choice.platform.profile.displayName) instead: --provider \(choice.platform.name) with "
                            + "\(choice.platform.credentialVariables.joined(separator: "/")) set.")
                    let result = try await upload(
                        feed, provider: { transport in choice.platform.makeEmbedded(endpoint, settings, transport) }, options: options,
                        stats: stats, journal: journal, control: control, sink: sink, board: board, since: startedMillis)
                    return (result, endpoint.url)
                }
            }
            let result = try await upload(
                feed, provider: { transport in try choice.platform.makeCloud(settings, transport) }, options: options, stats: stats,
                journal: journal, control: control, sink: sink, board: board, since: startedMillis)
            return (result, settings.endpoint ?? choice.platform.defaultEndpoint(settings.region))
        }
        let result: UploadResult
        let target: String
        do {
            (result, target) = try await withStatus(board: board, sink: sink, uploadPhase)
        } catch let failure as IngestError where failure.code.hasPrefix("journal.") {
            try await Self.journalFailed(failure, journal: journal, manifestPaths: fingerprints.map(\.path), stateDir: stateDir, sink: sink)
        }
        board.phase(result.signal != nil || result.stop != nil ? "stopped" : "finished")
        let stop = result.stop
        let interrupted = result.signal ?? stop?.signal
        if stop != nil || interrupted != nil { stream.cancel() }
        let summary = await stream.summary()
        for (path, sha256) in await checksums.value { try? await journal.setChecksum(runID: runID, path: path, sha256: sha256) }

        // 4. Journal the end, write the report from the journal, print the summary.
        let s = stats.snapshot
        let seconds = Date().timeIntervalSince(started)
        let status = interrupted != nil ? "interrupted" : (stop != nil ? "stopped" : "finished")
        var run = RunSummary(
            runID: runID, provider: providerName, endpoint: target, manifests: fingerprints.map(\.name), rows: summary?.rows,
            invalid: summary?.invalid, counts: s, durationSeconds: (seconds * 1000).rounded() / 1000,
            bytesPerSecond: seconds > 0 ? Int64(Double(s.bytesSent) / seconds) : 0, stoppedEarly: stop?.reason, status: status,
            report: stateDir + "/report.csv", events: result.events)
        let report: ReportSummary
        do {
            try await journal.end(runID: runID, status: status, summary: JSON.encode(run))
            report = try await Self.writeReports(journal: journal, manifestPaths: fingerprints.map(\.path), directory: stateDir)
        } catch let error as IngestError where error.code.hasPrefix("journal.") {
            try await Self.journalFailed(error, journal: journal, manifestPaths: fingerprints.map(\.path), stateDir: stateDir, sink: sink)
        } catch let error as IngestError {
            await sink.message("error: \(error.message) [\(error.code)]")
            if error.code == "report.unwritable" {
                await sink.message(
                    "The journal keeps every row's outcome: once \(stateDir) can be written, "
                        + "`vodingest report --state-dir \(stateDir)` writes the report (or run the same command again).")
            }
            throw ExitStatus.internalError.exitCode
        }
        run.pending = report.counts["pending"] ?? 0
        // Valid rows of the journal this run left unattempted (it stopped early); those in flight
        // when it was interrupted are `interrupted`.
        run.counts.skipped = max(0, run.pending - s.interrupted)
        let summaryPath = stateDir + "/summary.json"
        do {
            try Data((JSON.encode(run, pretty: true) + "\n").utf8).write(to: URL(fileURLWithPath: summaryPath))
        } catch {
            let reason = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.localizedDescription ?? "\(error)"
            throw IngestError(code: "report.unwritable", message: "cannot write \(summaryPath): \(reason)", subject: summaryPath)
        }
        if format == .json {
            // One report row per item (report.jsonl's rows, the same fields), then the summary.
            await sink.copy(file: stateDir + "/report.jsonl")
            await sink.result(JSON.encode(["summary": run]))
        } else {
            var text =
                "\n\(s.committed) committed, \(s.alreadyCommitted) already committed, \(s.duplicates) duplicates skipped, "
                + "\(s.failed) failed, \(run.pending) pending, \(summary.map { String($0.invalid) } ?? "?") invalid rows; "
                + "\(ByteSize.format(s.bytesSent)) in \(formatDuration(seconds)) (\(ByteSize.format(run.bytesPerSecond))/s), "
                + "\(s.apiCalls) API calls, \(s.retries) retries"
            if s.resumed > 0 || s.recovered > 0 { text += "; \(s.resumed) resumed, \(s.recovered) commits recovered" }
            if s.updated > 0 || s.changed > 0 || s.replaced > 0 {
                text += "; \(s.updated) updated in place, \(s.changed) changed and not replaced, \(s.replaced) replaced"
                if s.replacedDeleted > 0 || s.deleteFailed > 0 {
                    text += " (\(s.replacedDeleted) old media deleted, \(s.deleteFailed) deletions failed)"
                }
            }
            if s.metadataFailed > 0 {
                text += "; \(s.metadataFailed) committed without their metadata (the next run sets it: run the same command again)"
            }
            text +=
                "\nreport: \(stateDir)/report.csv, report.jsonl, summary.json (again any time: vodingest report --state-dir \(stateDir))"
            await sink.result(text)
            if let reason = stop?.reason, interrupted == nil { await sink.message("The run stopped early: \(reason)") }
            if let events = result.events { await EventWatch.describe(events, sink: sink) }
            if s.changed > 0 {
                await sink.message(
                    "\(s.changed) committed row(s) were delivered again with a different file or with fields the platform takes only "
                        + "with an upload; the platform keeps the old ones (see the report's change_detail). To upload them anew: "
                        + "run again with --replace-changed (and --delete-replaced to delete the old media).")
            }
        }
        if let signal = interrupted {
            await sink.message(
                "Interrupted by \(signal == SIGINT ? "SIGINT" : "SIGTERM"): \(s.interrupted) item(s) in flight were left journalled, "
                    + "\(run.pending) row(s) are pending. Nothing is lost: run the same command again to resume "
                    + "(vodingest ingest ... --state-dir \(stateDir)).")
            await sink.flush()
            throw ExitCode(128 + signal)
        }
        await sink.flush()
        let eventsMissing = result.events.map { $0.waiting > 0 || $0.failed > 0 } ?? false
        if s.failed > 0 || s.metadataFailed > 0 || s.deleteFailed > 0 || stop != nil || run.pending > 0 || eventsMissing {
            throw ExitStatus.itemsFailed.exitCode
        }
        if summary?.hasErrors ?? true || s.changed > 0 { throw ExitStatus.invalidRows.exitCode }
    }

    /// The upload phase, with the live status served around it when `--status-addr` asks.
    func withStatus(
        board: StatusBoard, sink: OutputSink, _ uploadPhase: @escaping @Sendable () async throws -> (UploadResult, String)
    ) async throws -> (UploadResult, String) {
        guard let address = statusAddr.flatMap(StatusAddress.init(parsing:)) else { return try await uploadPhase() }
        if !address.isLoopback {
            await sink.message(
                "warning: --status-addr \(address) serves the run's status (ids, paths, errors) to other machines; it has no authentication"
            )
        }
        return try await StatusServer.withRunning(
            address, board: board, onReady: { url in await sink.message("Live status: \(url) (Prometheus: \(url)metrics)") },
            uploadPhase)
    }

    /// The journal could not be written (a full disk, a read-only or removed folder): says so, writes
    /// the report if it can (else says how to get it later), and ends with 75: a re-run resumes.
    static func journalFailed(
        _ failure: IngestError, journal: any JournalStore, manifestPaths: [String], stateDir: String, sink: OutputSink
    ) async throws -> Never {
        await sink.message("error: \(failure.message) [\(failure.code)]")
        do {
            _ = try await writeReports(journal: journal, manifestPaths: manifestPaths, directory: stateDir)
            await sink.message("The report as far as the journal goes: \(stateDir)/report.csv, report.jsonl, report.html.")
        } catch {
            let reason = (error as? IngestError)?.message ?? "\(error)"
            await sink.message(
                "The report could not be written either (\(reason)); once the cause is fixed: vodingest report --state-dir \(stateDir)")
        }
        await sink.flush()
        throw ExitStatus.itemsFailed.exitCode
    }

    /// The state directory's journal for writing; exit 75 when another process holds it (a re-run
    /// later succeeds), 64 when the folder cannot be used.
    static func openJournal(_ stateDir: String, sink: OutputSink) async throws -> SQLiteJournal {
        do {
            return try SQLiteJournal(directory: stateDir)
        } catch let error as IngestError {
            await sink.message("error: \(error.message)")
            // Another process holds it, or the disk refused a write: a later run succeeds.
            let later = ["journal.locked", "journal.full", "journal.read-only", "journal.io"].contains(error.code)
            throw (later ? ExitStatus.itemsFailed : ExitStatus.usage).exitCode
        }
    }

    /// The options that change what a run uploads, as the journal records them.
    var runOptions: [String: String] {
        var options = [
            "provider": providerName, "partSize": partSize, "allowDuplicates": String(allowDuplicates),
            "replaceChanged": String(replaceChanged), "deleteReplaced": String(deleteReplaced),
        ]
        if !choice.embedded { options["endpoint"] = settings.endpoint ?? choice.platform.defaultEndpoint(settings.region) }
        if let region = platformOptions.region { options["region"] = region }
        if let workflowID = aliyun.workflowId { options["workflowId"] = workflowID }
        if let appID = aliyun.appId { options["appId"] = appID }
        if let procedure { options["procedure"] = procedure }
        if let storageRegion { options["storageRegion"] = storageRegion }
        if let classId { options["classId"] = String(classId) }
        if let subAppId = tencent.subAppId { options["subAppId"] = String(subAppId) }
        return options
    }

    /// SHA-256 of each manifest file (not of standard input), by absolute path.
    static func checksums(of manifests: [ManifestFingerprint]) -> [(String, String)] {
        manifests.compactMap { manifest in
            guard manifest.path != "-", case .success(let digests) = FileDigest.compute(path: manifest.path, md5: false, sha256: true),
                let sha = digests.sha256
            else { return nil }
            return (manifest.path, sha)
        }
    }

    /// `report.csv`, `report.jsonl` and `report.html` in `directory`, from the journal: the rows of this run's manifests.
    static func writeReports(journal: any JournalStore, manifestPaths: [String]?, directory: String) async throws -> ReportSummary {
        var summary: ReportSummary? = nil
        for format in [ReportBuilder.Format.csv, .jsonl, .html] {
            summary = try await ReportBuilder.write(
                format, journal: journal, manifestPaths: manifestPaths, toolVersion: VODIngestCommand.version,
                to: try ReportOutput(path: directory + "/report." + format.rawValue))
        }
        return summary!
    }

    struct UploadResult: Sendable {
        var stop: IngestRunner.Stop?
        /// Set when a second signal (or the end of the grace period) stopped the run at once.
        var signal: Int32?
        /// What `--wait-events` found.
        var events: EventWatchSummary?
    }

    /// Stops the run at once: a second signal, or the grace period is over.
    struct StopNow: Error { let signal: Int32 }

    func upload(
        _ feed: JournalFeed, provider makeProvider: (any HTTPTransport) throws -> PlatformProvider, options: IngestOptions,
        stats: IngestStats,
        journal: any JournalStore, control: RunControl, sink: OutputSink, board: StatusBoard, since: Int64
    ) async throws -> UploadResult {
        let client = AsyncHTTPTransport.makeClient(connections: options.concurrency * partConcurrency + 4)
        let format = self.format
        let idName = choice.platform.profile.mediaIDName
        let grace = Duration.seconds(self.grace)
        do {
            let limiter = bandwidth.flatMap(ByteRate.init(parsing:)).map { BandwidthLimiter(bytesPerSecond: $0.bytesPerSecond) }
            let onBodyBytes: @Sendable (Int) async -> Void = { count in
                stats.update { $0.bytesOnWire += Int64(count) }
                await limiter?.take(count)
            }
            let transport = AsyncHTTPTransport(client: client, onBodyBytes: onBodyBytes)
            let provider = try makeProvider(transport)
            let runner = IngestRunner(options: options, stats: stats, journal: journal, sources: LocalSourceFiles(), control: control)
            let signals = SignalWatcher()
            let result: UploadResult
            do {
                let stop = try await withThrowingTaskGroup(of: IngestRunner.Stop?.self) { group in
                    group.addTask {
                        try await Progress.show(stats: stats); return nil
                    }
                    group.addTask {
                        try await signals.watch(control: control, grace: grace, sink: sink); return nil
                    }
                    group.addTask {
                        board.phase("uploading")
                        return try await runner.run(feed, provider: provider) { outcome in
                            board.failed(outcome)
                            if format == .text { await sink.result(Self.describe(outcome, idName: idName)) }
                        }
                    }
                    let result = try await group.next() ?? nil
                    group.cancelAll()
                    return result
                }
                result = UploadResult(stop: stop)
            } catch let now as StopNow {
                result = UploadResult(stop: control.stopped, signal: now.signal)
            }
            signals.stop()
            Progress.clearLine()
            var final = result
            if waitEvents, result.stop == nil, result.signal == nil {
                board.phase("waiting for processing events")
                let profile = choice.platform.profile
                final.events = try await EventWatch.run(
                    journal: journal, provider: provider, profile: profile, rates: budget.rates,
                    options: watch.options(committedSince: since), sink: sink)
            }
            try await client.shutdown()
            return final
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func describe(_ outcome: ItemOutcome, idName: String) -> String {
        let item = outcome.item
        switch outcome.status {
        case .committed:
            return Colour.green("committed") + "  \(item.id.visible)  \(idName) \(outcome.remote?.fileID ?? "?")  \(item.media.given)"
                + (outcome.recovered ? "  (commit answer lost; found on the platform)" : "")
                + (outcome.metadataError.map { "  metadata not set: \($0.code): \($0.message) (retried on the next run)" } ?? "")
                + (outcome.replaced.map {
                    "  (replaces \($0)" + (outcome.deleteError == nil ? ")" : "; not deleted, the next run tries again)")
                }
                    ?? "")
        case .duplicate: return "skipped    \(item.id)  duplicate of \(outcome.duplicateOf ?? "?")"
        case .updated:
            return "updated    \(item.id)  \(idName) \(outcome.remote?.fileID ?? "?")  \(outcome.changeDetail ?? "")"
        case .changed:
            return "changed    \(item.id)  \(idName) \(outcome.remote?.fileID ?? "?")  \(outcome.changeDetail ?? "")  (not replaced)"
        case .unchanged:
            return "done       \(item.id)  \(idName) \(outcome.remote?.fileID ?? "?")  (committed by an earlier run; only its time changed)"
        case .failed:
            let error = outcome.error
            return Colour.red("failed")
                + "     \(item.id.visible)  \(error?.code ?? "?"): \(error.map { "\($0.step): \($0.message)" } ?? "")"
                + (outcome.requestID.map { " (request \($0))" } ?? "")
        }
    }
}

/// `summary.json`: the run, and the engine's counters under `counts`.
struct RunSummary: Encodable, Sendable {
    var runID: String
    var provider: String
    var endpoint: String
    var manifests: [String]
    /// Nil when the run stopped before every manifest was read.
    var rows: Int?
    var invalid: Int?
    var counts: IngestStats.Snapshot
    var durationSeconds: Double
    var bytesPerSecond: Int64
    var stoppedEarly: String?
    /// `finished`, `stopped` or `interrupted`.
    var status: String
    var report: String
    /// Rows of the journal not finished (not attempted, or in flight when interrupted).
    var pending = 0
    /// What `--wait-events` found.
    var events: EventWatchSummary?
}

/// Results to standard output, messages to standard error, from any task.
actor OutputSink {
    private let out = Console.standardOutput()
    private let err = Console.standardError()

    func result(_ line: String) {
        Progress.clearLine()
        out.line(line)
        out.flush()
    }

    /// A file of results (a report's lines) to standard output, 1 MiB at a time.
    func copy(file path: String) {
        Progress.clearLine()
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { out.write(bytes: chunk) }
        out.flush()
    }

    func message(_ line: String) {
        err.flush()
        StandardError.say(line)
    }

    func flush() {
        out.flush()
        err.flush()
    }
}

/// The progress line on standard error: rewritten in place on a terminal, a plain line every
/// ten seconds otherwise (with `--log-format json`, a `progress` event). Reads ``IngestStats`` only.
enum Progress {
    /// Standard error is a terminal that takes a rewritten line (not `TERM=dumb`), and the logs are text.
    static var terminal: Bool {
        let environment = ProcessInfo.processInfo.environment
        return isTerminal(2) && StandardErrorLogHandler.format == .text && environment["TERM"] != "dumb"
    }

    static func show(stats: IngestStats) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let logger = Logger(label: "vodingest.progress")
        let live = terminal
        var rate = RateEstimate()
        while true {
            try await Task.sleep(for: live ? .milliseconds(500) : .seconds(10))
            let s = stats.snapshot
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            rate.add(seconds: seconds, bytes: s.bytesOnWire)
            let done = s.itemsDone
            let remaining = max(0, s.bytesTotal - max(s.bytesSent, s.bytesOnWire))
            let eta = rate.eta(remaining: remaining).map(formatDuration) ?? "?"
            let perSecond = rate.bytesPerSecond ?? 0
            if StandardErrorLogHandler.format == .json {
                logger.info(
                    "progress",
                    metadata: [
                        "items.done": "\(done)", "items.total": "\(s.itemsTotal)", "bytes.sent": "\(s.bytesSent)",
                        "bytes.total": "\(s.bytesTotal)", "bytes_per_second": "\(Int64(perSecond))", "eta": "\(eta)",
                        "failed": "\(s.failed)", "retries": "\(s.retries)",
                    ])
                continue
            }
            let text =
                "\(done)/\(s.itemsTotal) items, \(ByteSize.format(s.bytesSent))/\(ByteSize.format(s.bytesTotal)), "
                + "\(ByteSize.format(Int64(perSecond)))/s, ETA \(eta), \(s.failed) failed, \(s.retries) retries"
            let line = live ? "\r\u{1B}[K" + text : text + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func clearLine() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// The transfer rate the ETA uses: bytes over the last 30 seconds of samples, and no estimate
/// before 3 seconds have passed and some bytes have moved (the first second's rate, all
/// connection set-up or one small file, gives absurd ETAs).
struct RateEstimate {
    private var samples: [(seconds: Double, bytes: Int64)] = []
    static let window = 30.0
    static let warmUp = 3.0

    mutating func add(seconds: Double, bytes: Int64) {
        samples.append((seconds, bytes))
        while let first = samples.first, seconds - first.seconds > Self.window, samples.count > 2 { samples.removeFirst() }
    }

    /// Bytes per second over the window, or nil while warming up.
    var bytesPerSecond: Double? {
        guard let last = samples.last, last.seconds >= Self.warmUp else { return nil }
        // From the window's first sample, or from the start (0 s, 0 bytes) while the window is filling.
        let first = last.seconds < Self.window ? (seconds: 0.0, bytes: Int64(0)) : samples[0]
        let span = last.seconds - first.seconds
        let moved = last.bytes - first.bytes
        guard span > 0, moved > 0 else { return nil }
        return Double(moved) / span
    }

    func eta(remaining: Int64) -> Double? {
        if remaining == 0 { return 0 }
        return bytesPerSecond.map { Double(remaining) / $0 }
    }
}

extension ExitStatus: Error {}

/// `--action-rate ACTION=RATE` values: per-action budgets, and `*=RATE` for every action.
struct ActionRates {
    var rates: [String: Double]
    var all: Double?

    static func parse(_ values: [String], profile: ProviderProfile) throws -> ActionRates {
        var result = ActionRates(rates: [:], all: nil)
        for value in values {
            let pieces = value.split(separator: "=", maxSplits: 1).map(String.init)
            guard pieces.count == 2, let rate = RequestRate(parsing: pieces[1]) else {
                throw ValidationError("--action-rate '\(value)' is not ACTION=RATE, such as ApplyUpload=200 or '*=500'")
            }
            if pieces[0] == "*" {
                result.all = rate.perSecond
            } else if profile.knownActions.contains(pieces[0]) {
                result.rates[pieces[0]] = rate.perSecond
            } else {
                throw ValidationError(
                    "--action-rate: an ingest into \(profile.displayName) makes no '\(pieces[0])' call; the actions it calls are "
                        + profile.knownActions.sorted().joined(separator: ", "))
            }
        }
        return result
    }
}
