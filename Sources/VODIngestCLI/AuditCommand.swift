import ArgumentParser
import AsyncHTTPClient
import Emulator
import Foundation
import IngestCore
import IngestEngine
import Manifests
import VODHTTP

/// `vodingest audit`: checks a reconciliation report against the manifests, the files, and the platform.
struct AuditCommand: AsyncParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check a reconciliation report against its manifests, the files on disk and (--verify-remote) the platform.",
        discussion: """
            Every manifest row must have exactly one report row (audit.missing-row, audit.extra-row), no media id may appear twice (audit.duplicate-file-id), and each committed row's file must still have the report's size and MD5 (audit.size-mismatch, audit.checksum-mismatch). With --verify-remote, the platform (Tencent DescribeMediaInfos, Alibaba GetVideoInfos: 20 ids a call, under --api-rate) confirms each media id exists with the expected name and size, and on Tencent its SourceContext, on Alibaba its ReferenceId (audit.remote-missing, audit.remote-mismatch), that its description, tags, category and cover are what the manifest row says (audit.remote-metadata-drift), and that its MD5, where the platform gives one, is the report's (audit.remote-checksum-mismatch).

            The report may be CSV, JSONL or JSON, as `vodingest report` or `ingest` wrote it. Exit status: 0 no findings; 1 findings; 64 usage error; 66 a manifest or the report cannot be read.

            Examples:
              vodingest audit samples/good.csv samples/good.xml --report vodingest-state/report.csv
              vodingest audit library.csv --report report.jsonl --verify-remote --state-dir vodingest-state
              vodingest audit samples/good.csv --report st/report.csv --verify-remote --provider local-aliyun --state-dir st
              TENCENTCLOUD_SECRET_ID=... TENCENTCLOUD_SECRET_KEY=... \\
                vodingest audit library.csv --report report.csv --verify-remote --provider tencent
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @OptionGroup var input: ManifestOptions

    @Option(help: ArgumentHelp("The report to audit (CSV, JSONL or JSON).", valueName: "file"))
    var report: String

    @Flag(help: "Also ask the platform about every committed media id (Tencent DescribeMediaInfos, Alibaba GetVideoInfos).")
    var verifyRemote = false

    @Option(
        help: ArgumentHelp(
            "With --provider local or local-aliyun: the state directory whose embedded emulator holds the media.", valueName: "dir"))
    var stateDir = "vodingest-state"

    @OptionGroup(title: "Platform") var platformOptions: PlatformOptions
    @OptionGroup(title: "Tencent Cloud VOD") var tencent: TencentOptions
    @OptionGroup(title: "Alibaba Cloud VOD") var aliyun: AliyunOptions

    @Option(help: ArgumentHelp("Describe calls (DescribeMediaInfos, GetVideoInfos) per second.", valueName: "rate"))
    var apiRate = "20"

    @Option(help: "Output format: text, or json.")
    var format: OutputFormat = .text

    var providerName: String { input.provider ?? "local" }

    mutating func validate() throws {
        guard RequestRate(parsing: apiRate) != nil else {
            throw ValidationError("--api-rate '\(apiRate)' is not a rate such as 20 or 20/s")
        }
        guard let choice = Platforms.choose(providerName) else {
            throw ValidationError("unknown provider '\(providerName)'; choose one of: \(Platforms.names.joined(separator: ", "))")
        }
        if verifyRemote, let refusal = Platforms.check(choice, common: platformOptions, tencent: tencent, aliyun: aliyun) {
            throw ValidationError("--verify-remote: " + refusal)
        }
    }

    func run() async throws {
        let errors = FileHandle.standardError
        // 1. The report.
        let rows: [ReportRow]
        do {
            rows = try ReportFile.read(report)
        } catch let error as IngestError {
            errors.write(Data("error: \(error.message)\n".utf8))
            throw ExitStatus.manifestUnreadable.exitCode
        }
        // 2. The manifests' rows (diagnostics are the validator's business, not the audit's).
        var manifestRows: [AuditManifestRow] = []
        var index: [String: Int] = [:]
        let summary = input.pipeline().run(
            manifests: input.manifests, onDiagnostic: { _ in },
            onRow: { outcome in
                let position =
                    index[outcome.location.manifest]
                    ?? {
                        let next = index.count
                        index[outcome.location.manifest] = next
                        return next
                    }()
                manifestRows.append(
                    AuditManifestRow(
                        manifest: position, line: outcome.location.line, id: outcome.id, file: outcome.item?.media.resolved,
                        description: outcome.item?.description, tags: outcome.item?.tags ?? [], category: outcome.item?.category,
                        hasCover: outcome.item?.cover != nil))
            })
        if !summary.unreadable.isEmpty {
            errors.write(Data("error: cannot read \(summary.unreadable.joined(separator: ", "))\n".utf8))
            throw ExitStatus.manifestUnreadable.exitCode
        }
        var names = Array(repeating: "", count: index.count)
        for (name, position) in index { names[position] = name }
        // Manifests with no rows still count as audited.
        for manifest in summary.manifests where index[manifest] == nil { names.append(manifest) }

        let auditor = Auditor(manifests: names) { path in
            switch FileDigest.compute(path: path, md5: true, sha256: false, crc64: true) {
            case .failure(let error): return (nil, nil, nil, "cannot be read: \(error)")
            case .success(let digests):
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
                return (size, digests.md5, digests.crc64.map { String($0) }, nil)
            }
        }
        let cwd = FileManager.default.currentDirectoryPath
        let result: (findings: [AuditFinding], totals: AuditTotals)
        let collected = manifestRows
        if verifyRemote {
            result = try await withCatalog { catalog in
                try await auditor.audit(
                    manifestRows: collected, report: rows, currentDirectory: cwd,
                    remote: RemoteCheck(catalog: catalog, apiRate: RequestRate(parsing: apiRate)!.perSecond))
            }
        } else {
            result = try await auditor.audit(manifestRows: manifestRows, report: rows, currentDirectory: cwd)
        }

        // 3. Findings.
        let out = Console.standardOutput()
        if format == .json {
            struct Document: Encodable {
                var findings: [AuditFinding]
                var totals: AuditTotals
                var clean: Bool
            }
            out.line(JSON.encode(Document(findings: result.findings, totals: result.totals, clean: result.findings.isEmpty)))
        } else {
            for finding in result.findings {
                let place = [finding.manifest, finding.line.map(String.init)].compactMap { $0 }.joined(separator: ":")
                out.line("\(finding.code)  \(place)  \(finding.id ?? "")  \(finding.message)")
            }
            let t = result.totals
            out.line(
                "\(t.manifestRows) manifest rows, \(t.reportRows) report rows, \(t.committed) committed, \(t.filesChecked) files checked"
                    + (verifyRemote ? ", \(t.remoteChecked) media ids checked on the platform" : "")
                    + ": \(result.findings.isEmpty ? "no findings" : "\(result.findings.count) finding(s)")")
        }
        out.flush()
        if !result.findings.isEmpty { throw ExitCode(1) }
    }

    /// The platform's catalogue: the embedded emulator on the state directory's data, or the cloud.
    func withCatalog<T: Sendable>(_ body: @escaping @Sendable (any MediaCatalog) async throws -> T) async throws -> T {
        let client = AsyncHTTPTransport.makeClient(connections: 4)
        defer { _ = client.shutdown() }
        let transport = AsyncHTTPTransport(client: client)
        let choice = Platforms.choose(providerName)!
        let settings = PlatformSettings(platformOptions, tencent, aliyun)
        return try await Platforms.withProvider(choice, stateDir: stateDir, settings: settings, transport: transport) { try await body($0) }
    }
}

/// Reads a report as `report`/`ingest` wrote it: CSV (with its header), JSON Lines, or the JSON document.
enum ReportFile {
    static func read(_ path: String) throws -> [ReportRow] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw IngestError(code: "report.unreadable", message: "cannot read the report \(path)", subject: path)
        }
        let head = String(decoding: (try? handle.read(upToCount: 16)) ?? Data(), as: UTF8.self)
        try? handle.close()
        do {
            // CSV streams through the CSV reader; JSON and JSON Lines are decoded whole.
            guard head.first(where: { !$0.isWhitespace }) == "{" else { return try csv(path: path) }
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let decoder = JSONDecoder()
            if head.hasPrefix("{\"rows\":") {
                struct Document: Decodable { var rows: [ReportRow] }
                return try decoder.decode(Document.self, from: data).rows
            }
            return try data.split(separator: 0x0A).map { try decoder.decode(ReportRow.self, from: Data($0)) }
        } catch let error as IngestError {
            throw error
        } catch {
            throw IngestError(code: "report.malformed", message: "\(path) is not a vodingest report: \(error)", subject: path)
        }
    }

    /// CSV records, read with the manifests' own CSV reader (quoted cells may hold newlines), each
    /// turned into a ``ReportRow`` through its JSON form.
    static func csv(path: String) throws -> [ReportRow] {
        let reader = CSVRecordReader(source: try ByteSource(path: path))
        guard try reader.next() else {
            throw IngestError(code: "report.malformed", message: "\(path) is empty", subject: path)
        }
        let header = (0..<reader.fieldCount).map { reader.string(at: $0) ?? "" }
        guard header.first == "manifest", header.contains("status") else {
            throw IngestError(
                code: "report.malformed", message: "\(path) has no report header (manifest,line,...,status,...)", subject: path)
        }
        let integers: Set<String> = ["line", "size", "attempts"]
        let decoder = JSONDecoder()
        var rows: [ReportRow] = []
        while try reader.next() {
            var object: [String: Any] = [:]
            for (index, name) in header.enumerated() where index < reader.fieldCount {
                guard var cell = reader.string(at: index), !cell.isEmpty else { continue }
                // Undo the spreadsheet guard of CSVCell.escape.
                if cell.hasPrefix("'"), let next = cell.dropFirst().first, "=+-@\t\r".contains(next) { cell.removeFirst() }
                if integers.contains(name) {
                    object[name] = Int64(cell) ?? 0
                } else if name == "recovered" || name == "replaced_deleted" {
                    object[name] = cell == "true"
                } else {
                    object[name] = cell
                }
            }
            do {
                rows.append(try decoder.decode(ReportRow.self, from: JSONSerialization.data(withJSONObject: object)))
            } catch {
                throw IngestError(
                    code: "report.malformed", message: "\(path) line \(reader.line): not a report row (\(error))", subject: path)
            }
        }
        return rows
    }
}
