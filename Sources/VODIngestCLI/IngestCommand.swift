import ArgumentParser
import AsyncHTTPClient
import Emulator
import Foundation
import IngestCore
import IngestEngine
import Manifests
import ProviderTencent
import VODHTTP

/// `vodingest ingest`: validate, then upload every valid row through the platform's server-upload
/// flow, and write the reconciliation report.
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Upload every valid row of the manifests and write the reconciliation report.",
        discussion: """
            Rows are validated first; invalid rows are reported and never uploaded. Each valid row then
            goes through ApplyUpload, the media (and cover) to COS, and CommitUpload, in parallel under
            the limits below. The report (report.csv, report.jsonl, summary.json) goes to --state-dir.

            --provider local (the default) starts the embedded emulator on a loopback port, with its data
            under --state-dir/emulator, and uploads into it over HTTP with the same Tencent code that talks
            to the cloud. --provider tencent uploads to Tencent Cloud VOD with the credentials in
            TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY (and TENCENTCLOUD_SESSION_TOKEN).

            Exit status: 0 every valid row committed and no invalid row; 65 some rows invalid (every valid
            one committed); 75 some items failed after retries or the run stopped early (a re-run may
            succeed); 64 usage error; 66 a manifest cannot be read; 70 internal error.

            Examples:
              vodingest ingest samples/good.csv samples/good.xml
              vodingest ingest --concurrency 16 --bandwidth 50MiB/s --api-rate 50 library.csv
              TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... \\
                vodingest ingest --provider tencent --region ap-guangzhou --sub-app-id 1500000000 library.csv
            """)

    @OptionGroup var input: ManifestOptions

    @Option(help: ArgumentHelp("Folder for the report (and the embedded emulator's data).", valueName: "dir"))
    var stateDir = "vodingest-state"

    @Option(help: "Files in flight at once.")
    var concurrency = 8

    @Option(help: "Parts of one file in flight at once.")
    var partConcurrency = 4

    @Option(help: ArgumentHelp("API requests per second, shared by all workers (the platform allows 100/s for ApplyUpload and CommitUpload).", valueName: "rate"))
    var apiRate = "100"

    @Option(help: ArgumentHelp("Upload bandwidth cap shared by all transfers, e.g. 50MiB/s or 400Mbit/s (default: none).", valueName: "rate"))
    var bandwidth: String?

    @Option(help: ArgumentHelp("Multipart part size (files up to this size go in one PUT).", valueName: "size"))
    var partSize = "16MiB"

    @Option(help: "Task-flow template to run after upload, for rows without a procedure.")
    var procedure: String?

    @Option(help: "Storage region, for rows without one.")
    var storageRegion: String?

    @Option(help: "Category (class) id, for rows without one.")
    var classId: Int?

    @Option(help: "VOD sub-application id.")
    var subAppId: Int?

    @Option(help: "Stop taking new items after this many failures.")
    var maxFailures: Int?

    @Option(help: ArgumentHelp("VOD API endpoint (--provider tencent).", valueName: "url"))
    var endpoint = "https://vod.tencentcloudapi.com"

    @Option(help: ArgumentHelp("Send COS requests to this base URL, keeping Host: <bucket>.cos.<region>.myqcloud.com.", valueName: "url"))
    var cosEndpoint: String?

    @Option(help: ArgumentHelp("X-TC-Region of API calls.", valueName: "region"))
    var region = "ap-guangzhou"

    @Option(help: "Output format: text, or json (JSON Lines of report rows, then the summary).")
    var format: OutputFormat = .text

    var providerName: String { input.provider ?? "local" }

    mutating func validate() throws {
        guard ["local", "tencent"].contains(providerName) else {
            throw ValidationError("ingest supports --provider local and tencent for now (aliyun comes with a later release)")
        }
        guard concurrency >= 1, partConcurrency >= 1 else { throw ValidationError("--concurrency and --part-concurrency must be at least 1") }
        guard RequestRate(parsing: apiRate) != nil else { throw ValidationError("--api-rate '\(apiRate)' is not a rate such as 100 or 50/s") }
        guard let size = ByteSize(parsing: partSize), size.bytes >= 1 << 20, size.bytes <= 5 << 30 else {
            throw ValidationError("--part-size '\(partSize)' must be a size between 1MiB and 5GiB")
        }
        if let bandwidth, ByteRate(parsing: bandwidth) == nil {
            throw ValidationError("--bandwidth '\(bandwidth)' is not a rate; give e.g. 100MB/s, 50MiB/s or 400Mbit/s")
        }
        if providerName == "tencent", TencentCredentials.fromEnvironment() == nil {
            throw ValidationError("--provider tencent needs TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY in the environment (never on the command line)")
        }
        for url in [endpoint] + (cosEndpoint.map { [$0] } ?? []) where URL(string: url)?.host == nil {
            throw ValidationError("'\(url)' is not a URL such as https://vod.tencentcloudapi.com")
        }
    }

    func run() async throws {
        let started = Date()
        let sink = OutputSink()
        let report: ReportWriter
        do {
            report = try ReportWriter(directory: stateDir)
        } catch let error as IngestError {
            await sink.message("error: \(error.message)")
            throw ExitStatus.usage.exitCode
        }
        // 1. Validate; invalid rows go to the report and to standard error.
        var items: [IngestItem] = []
        let errors = Console.standardError()
        let renderer = TextDiagnosticRenderer(out: errors)
        var invalidRows: [ReportRow] = []
        let summary = input.pipeline().run(
            manifests: input.manifests,
            onDiagnostic: { renderer.manifestDiagnostic($0) },
            onRow: { outcome in
                if !outcome.diagnostics.isEmpty { renderer.row(outcome) }
                if let item = outcome.item {
                    items.append(item)
                } else {
                    invalidRows.append(ReportRow(invalid: outcome, path: nil))
                }
            })
        renderer.end(summary)
        errors.flush()
        for row in invalidRows { await report.add(row) }
        if !summary.unreadable.isEmpty {
            try await report.finish(summary: ["error": "a manifest could not be read"])
            throw ExitStatus.manifestUnreadable.exitCode
        }
        let validItems = items
        let bytes = items.reduce(Int64(0)) { $0 + ($1.media.size ?? 0) + ($1.cover?.size ?? 0) }
        let stats = IngestStats(items: items.count, bytes: bytes)
        let options = IngestOptions(
            concurrency: concurrency, apiRate: RequestRate(parsing: apiRate)!.perSecond, maxFailures: maxFailures,
            procedure: procedure, storageRegion: storageRegion, classID: classId,
            runID: String(UUID().uuidString.prefix(8)).lowercased())

        // 2. Upload.
        let stop: IngestRunner.Stop?
        let target: String
        if providerName == "local" {
            let data = URL(fileURLWithPath: stateDir).standardizedFileURL.path + "/emulator"
            (stop, target) = try await Emulator.withRunning(configuration: EmulatorConfiguration(dataDirectory: data)) { endpoint in
                await sink.message(
                    "Uploading into the embedded emulator at \(endpoint.url) (its data: \(data)).\n"
                        + "To upload to Tencent Cloud instead: --provider tencent with TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY set.")
                let configuration = TencentConfiguration(
                    endpoint: URL(string: endpoint.url)!, cosEndpoint: URL(string: endpoint.url)!, region: region, subAppID: subAppId,
                    credentials: TencentCredentials(secretID: endpoint.secretID, secretKey: endpoint.secretKey),
                    partSize: ByteSize(parsing: partSize)!.bytes, partConcurrency: partConcurrency)
                return (try await upload(validItems, configuration: configuration, options: options, stats: stats, report: report, sink: sink), endpoint.url)
            }
        } else {
            let configuration = TencentConfiguration(
                endpoint: URL(string: endpoint)!, cosEndpoint: cosEndpoint.flatMap(URL.init(string:)), region: region, subAppID: subAppId,
                credentials: TencentCredentials.fromEnvironment()!, partSize: ByteSize(parsing: partSize)!.bytes,
                partConcurrency: partConcurrency)
            stop = try await upload(items, configuration: configuration, options: options, stats: stats, report: report, sink: sink)
            target = endpoint
        }

        // 3. Summary and exit status.
        let s = stats.snapshot
        let seconds = Date().timeIntervalSince(started)
        let result = RunSummary(
            provider: providerName, endpoint: target, manifests: summary.manifests, rows: summary.rows, invalid: summary.invalid,
            counts: s, durationSeconds: (seconds * 1000).rounded() / 1000, bytesPerSecond: seconds > 0 ? Int64(Double(s.bytesSent) / seconds) : 0,
            stoppedEarly: stop?.reason, report: stateDir + "/report.csv")
        try await report.finish(summary: result)
        if format == .json {
            await sink.result(JSON.encode(["summary": result]))
        } else {
            await sink.result(
                "\n\(s.committed) committed, \(s.failed) failed, \(s.skipped) not attempted, \(result.invalid) invalid rows; "
                    + "\(ByteSize.format(s.bytesSent)) in \(formatDuration(seconds)) (\(ByteSize.format(result.bytesPerSecond))/s), "
                    + "\(s.apiCalls) API calls, \(s.retries) retries\nreport: \(stateDir)/report.csv, report.jsonl, summary.json")
            if let reason = stop?.reason { await sink.message("The run stopped early: \(reason)") }
        }
        await sink.flush()
        if s.failed > 0 || s.skipped > 0 || stop != nil { throw ExitStatus.itemsFailed.exitCode }
        if summary.hasErrors { throw ExitStatus.invalidRows.exitCode }
    }

    func upload(
        _ items: [IngestItem], configuration: TencentConfiguration, options: IngestOptions, stats: IngestStats, report: ReportWriter,
        sink: OutputSink
    ) async throws -> IngestRunner.Stop? {
        let client = AsyncHTTPTransport.makeClient(connections: concurrency * partConcurrency + 4)
        let format = self.format
        do {
            let limiter = bandwidth.flatMap(ByteRate.init(parsing:)).map { BandwidthLimiter(bytesPerSecond: $0.bytesPerSecond) }
            var onBodyBytes: (@Sendable (Int) async -> Void)? = nil
            if let limiter { onBodyBytes = { count in await limiter.take(count) } }
            let transport = AsyncHTTPTransport(client: client, onBodyBytes: onBodyBytes)
            let provider = TencentProvider(configuration: configuration, transport: transport)
            let runner = IngestRunner(options: options, stats: stats)
            let stop = try await withThrowingTaskGroup(of: IngestRunner.Stop?.self) { group in
                group.addTask { try await Progress.show(stats: stats); return nil }
                group.addTask {
                    try await runner.run(items, provider: provider) { outcome in
                        let row = ReportRow(outcome: outcome)
                        await report.add(row)
                        if format == .json {
                            await sink.result(JSON.encode(row))
                        } else {
                            await sink.result(Self.describe(row))
                        }
                    }
                }
                let result = try await group.next() ?? nil
                group.cancelAll()
                return result
            }
            Progress.clearLine()
            try await client.shutdown()
            return stop
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func describe(_ row: ReportRow) -> String {
        switch row.status {
        case "committed": "committed  \(row.id)  FileId \(row.fileID ?? "?")  \(row.path)"
        case "skipped": "skipped    \(row.id)  not attempted (the run stopped)"
        default: "failed     \(row.id)  \(row.errorCode ?? "?"): \(row.errorMessage ?? "")\(row.requestID.map { " (request \($0))" } ?? "")"
        }
    }
}

/// `summary.json`: the run, and the engine's counters under `counts`.
struct RunSummary: Encodable, Sendable {
    var provider: String
    var endpoint: String
    var manifests: [String]
    var rows: Int
    var invalid: Int
    var counts: IngestStats.Snapshot
    var durationSeconds: Double
    var bytesPerSecond: Int64
    var stoppedEarly: String?
    var report: String
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

    func message(_ line: String) {
        err.line(line)
        err.flush()
    }

    func flush() {
        out.flush()
        err.flush()
    }
}

/// The progress line on standard error: rewritten in place on a terminal, a plain line every
/// ten seconds otherwise. Reads ``IngestStats`` only.
enum Progress {
    static let terminal = isTerminal(2)

    static func show(stats: IngestStats) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        while true {
            try await Task.sleep(for: terminal ? .milliseconds(500) : .seconds(10))
            let s = stats.snapshot
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let rate = seconds > 0 ? Double(s.bytesSent) / seconds : 0
            let done = s.committed + s.failed + s.skipped
            let eta = rate > 0 ? formatDuration(Double(max(0, s.bytesTotal - s.bytesSent)) / rate) : "?"
            let text = "\(done)/\(s.itemsTotal) items, \(ByteSize.format(s.bytesSent))/\(ByteSize.format(s.bytesTotal)), "
                + "\(ByteSize.format(Int64(rate)))/s, ETA \(eta), \(s.failed) failed, \(s.retries) retries"
            let line = terminal ? "\r\u{1B}[K" + text : text + "\n"
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    static func clearLine() {
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

extension ExitStatus: Error {}
