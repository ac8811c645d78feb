import Foundation
import IngestCore

/// One row of the reconciliation report: every manifest row, with its media id or the reason it has none.
public struct ReportRow: Sendable, Codable, Hashable {
    public var manifest: String
    public var line: Int
    public var id: String
    public var path: String
    public var size: Int64?
    public var md5: String?
    /// `committed`, `skipped`, `invalid`, `failed` or `pending`.
    public var status: String
    public var fileID: String?
    public var mediaURL: String?
    public var coverURL: String?
    public var title: String?
    public var sourceContext: String?
    /// For `skipped`: the FileId of the committed item with the same content.
    public var duplicateOf: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var attempts: Int
    public var applyRequestID: String?
    public var commitRequestID: String?
    /// Committed, found by a search after the answer to CommitUpload was lost.
    public var recovered: Bool
    /// ISO 8601, UTC, milliseconds.
    public var createdAt: String
    public var updatedAt: String
    public var committedAt: String?
    /// The platform's status of the media when its upload was completed (Alibaba: `Normal`); empty for Tencent.
    public var platformStatus: String?
    /// CRC-64/ECMA of the media as uploaded (decimal, as COS and OSS print it), checked by the store.
    /// A multipart media without a manifest `md5` has this and no `md5` (the MD5 needs a second read).
    public var crc64: String?
    /// `committed` with this: the media is on the platform, its metadata call (Tencent
    /// ModifyMediaInfo: description, tags) failed and is retried on the next run.
    public var metadataError: String?
    /// What a later delivery of the row did (the nightly delta): `updated` (the changed fields set
    /// on the media in place), `changed` (it differs in a way the media cannot take in place and
    /// was not replaced: `change_detail` says how), `replacing` (its new upload is under way),
    /// `replaced` (uploaded anew; `replaced_file_id` is the old media). Empty: as first committed.
    public var change: String?
    public var changeDetail: String?
    /// ISO 8601 of ``change``.
    public var changedAt: String?
    /// The media a replacement replaced, whether it was deleted (`--delete-replaced`), and why its deletion failed.
    public var replacedFileID: String?
    public var replacedDeleted: Bool?
    public var deleteError: String?
    /// What the platform said after the upload (`ingest --wait-events`, `vodingest events`): when the
    /// upload-complete event came (Tencent NewFileUpload; Alibaba the first status after the
    /// upload), the processing task (Tencent ProcedureTaskId), its status (Tencent `PROCESSING`,
    /// `FINISH`, `FAIL: ...`; Alibaba the video's `UploadSucc`, `Transcoding`, `Normal`, ...) and
    /// when that status was seen. ISO 8601.
    public var uploadEventAt: String?
    public var procedureTaskID: String?
    public var procedureStatus: String?
    public var procedureStatusAt: String?

    /// The CSV header: the coding keys, which are declared in column order (``csvFields`` follows it).
    public static let columns = CodingKeys.allCases.map(\.stringValue)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case manifest, line, id, path, size, md5, status
        case fileID = "file_id", mediaURL = "media_url", coverURL = "cover_url", title, sourceContext = "source_context"
        case duplicateOf = "duplicate_of", errorCode = "error_code", errorMessage = "error_message", attempts
        case applyRequestID = "apply_request_id", commitRequestID = "commit_request_id", recovered
        case createdAt = "created_at", updatedAt = "updated_at", committedAt = "committed_at", platformStatus = "platform_status"
        case crc64, metadataError = "metadata_error"
        case change, changeDetail = "change_detail", changedAt = "changed_at", replacedFileID = "replaced_file_id"
        case replacedDeleted = "replaced_deleted", deleteError = "delete_error"
        case uploadEventAt = "upload_event_at", procedureTaskID = "procedure_task_id", procedureStatus = "procedure_status"
        case procedureStatusAt = "procedure_status_at"
    }

    public init(_ record: JournalRecord) {
        manifest = record.manifest
        line = record.line
        id = record.id
        path = record.path
        size = record.size
        md5 = record.md5
        status = Self.status(record.state)
        fileID = record.fileID
        mediaURL = record.mediaURL
        coverURL = record.coverURL
        title = record.title
        sourceContext = record.sourceContext
        duplicateOf = record.duplicateOf
        errorCode = record.errorCode
        errorMessage = record.errorMessage
        if record.state == .skipped, let of = record.duplicateOf {
            errorCode = "duplicate"
            errorMessage =
                "duplicate of \(of): the same content (size, and MD5 or CRC-64) is committed already; --allow-duplicates uploads it again"
        }
        attempts = record.attempts
        applyRequestID = record.applyRequestID
        commitRequestID = record.commitRequestID
        recovered = record.recovered
        createdAt = Self.time(record.createdAt)
        updatedAt = Self.time(record.updatedAt)
        committedAt = record.committedAt.map(Self.time)
        platformStatus = record.platformStatus
        crc64 = record.crc64
        metadataError = record.metadataError
        change = record.change
        changeDetail = record.changeDetail
        changedAt = record.changedAt.map(Self.time)
        replacedFileID = record.replacedFileID
        replacedDeleted = record.replacedFileID == nil ? nil : record.replacedDeleted
        deleteError = record.deleteError
        uploadEventAt = record.uploadEventAt.map { Self.time($0 * 1000) }
        procedureTaskID = record.procedureTaskID
        procedureStatus = record.procedureStatus
        procedureStatusAt = record.procedureStatusAt.map { Self.time($0 * 1000) }
    }

    /// Items in flight are `pending` in a report: not finished yet.
    static func status(_ state: ItemState) -> String {
        switch state {
        case .committed, .skipped, .invalid, .failed, .pending: state.rawValue
        case .applied, .uploading, .uploaded, .committing: "pending"
        }
    }

    static func time(_ millis: Int64) -> String { ISO8601Timestamp.formatMillis(millis) }

    public var csvFields: [String] {
        [
            manifest, String(line), id, path, size.map(String.init) ?? "", md5 ?? "", status, fileID ?? "", mediaURL ?? "", coverURL ?? "",
            title ?? "", sourceContext ?? "", duplicateOf ?? "", errorCode ?? "", errorMessage ?? "", String(attempts),
            applyRequestID ?? "",
            commitRequestID ?? "", recovered ? "true" : "false", createdAt, updatedAt, committedAt ?? "", platformStatus ?? "",
            crc64 ?? "", metadataError ?? "", change ?? "", changeDetail ?? "", changedAt ?? "", replacedFileID ?? "",
            replacedDeleted.map { $0 ? "true" : "false" } ?? "", deleteError ?? "", uploadEventAt ?? "", procedureTaskID ?? "",
            procedureStatus ?? "", procedureStatusAt ?? "",
        ]
    }

    public var csvLine: String { csvFields.map(CSVCell.escape).joined(separator: ",") }
}

/// CSV cells as RFC 4180 wants them, and safe to open in a spreadsheet: a cell starting with `=`,
/// `+`, `-` or `@` (a formula) gets a leading `'` (OWASP "CSV injection").
public enum CSVCell {
    public static func escape(_ s: String) -> String {
        var value = s
        if let first = value.utf8.first,
            first == UInt8(ascii: "=") || first == UInt8(ascii: "+") || first == UInt8(ascii: "-")
                || first == UInt8(ascii: "@") || first == 0x09 || first == 0x0D
        {
            value = "'" + value
        }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The report's index (like S3 Batch Operations' completion manifest): the runs, the manifests with
/// their checksums, counts per status, bytes and duration.
public struct ReportSummary: Sendable, Codable {
    public struct Run: Sendable, Codable {
        public var id: String
        public var startedAt: String
        public var finishedAt: String?
        public var status: String
        public var toolVersion: String
        public var manifests: [ManifestFingerprint]
    }

    /// The latest run.
    public var runID: String?
    public var runs: [Run]
    public var toolVersion: String
    public var generatedAt: String
    public var rows: Int
    /// Rows per status (`committed`, `skipped`, `invalid`, `failed`, `pending`).
    public var counts: [String: Int]
    /// Bytes of the committed media.
    public var bytesCommitted: Int64
    /// From the first run's start to the last run's end (or now, mid-run).
    public var durationSeconds: Double
    /// Whether the report is final (no run going on or interrupted, nothing pending).
    public var complete: Bool
}

/// Builds the reconciliation report from the journal in any of its formats, streaming rows.
public enum ReportBuilder {
    public enum Format: String, Sendable, CaseIterable {
        case csv, jsonl, json, html
    }

    /// Writes the report of every journalled item (of the manifests at `manifestPaths`, when given)
    /// to `out`; returns its summary.
    public static func write(
        _ format: Format, journal: any JournalStore, manifestPaths: [String]? = nil, toolVersion: String, to out: ReportOutput
    ) async throws -> ReportSummary {
        var runs = try await journal.runs()
        if let paths = manifestPaths.map(Set.init) {
            runs = runs.filter { run in run.manifests.contains { paths.contains($0.path) } }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var tally = Tally()
        switch format {
        case .csv:
            out.write(ReportRow.columns.joined(separator: ",") + "\n")
            try journal.records(manifestPaths: manifestPaths) { record in
                let row = ReportRow(record)
                tally.add(record, row)
                out.write(row.csvLine + "\n")
            }
        case .jsonl:
            try journal.records(manifestPaths: manifestPaths) { record in
                let row = ReportRow(record)
                tally.add(record, row)
                out.write(try encoder.encode(row))
                out.write("\n")
            }
        case .json:
            out.write("{\"rows\":[")
            var first = true
            try journal.records(manifestPaths: manifestPaths) { record in
                let row = ReportRow(record)
                tally.add(record, row)
                out.write(first ? "\n" : ",\n")
                first = false
                out.write(try encoder.encode(row))
            }
            let summary = tally.summary(runs: runs, toolVersion: toolVersion)
            out.write("\n],\"summary\":")
            out.write(try encoder.encode(summary))
            out.write("}\n")
            try out.finish()
            return summary
        case .html:
            // Problems first: one pass for failed and invalid rows (and the counts), one for the rest.
            var problems: [ReportRow] = []
            var others: [ReportRow] = []
            try journal.records(manifestPaths: manifestPaths) { record in
                let row = ReportRow(record)
                tally.add(record, row)
                if row.status == "failed" || row.status == "invalid" {
                    if problems.count < HTMLReport.rowLimit { problems.append(row) }
                } else if others.count < HTMLReport.rowLimit {
                    others.append(row)
                }
            }
            let summary = tally.summary(runs: runs, toolVersion: toolVersion)
            out.write(HTMLReport.page(summary: summary, problems: problems, others: others, throughput: tally.throughput()))
            try out.finish()
            return summary
        }
        try out.finish()
        return tally.summary(runs: runs, toolVersion: toolVersion)
    }

    /// Counts, bytes and the commits over time, gathered while rows stream.
    struct Tally {
        var rows = 0
        var counts: [String: Int] = [:]
        var bytes: Int64 = 0
        /// (committed at, size), for the throughput chart; sampled down past 200,000.
        var commits: [(Int64, Int64)] = []

        mutating func add(_ record: JournalRecord, _ row: ReportRow) {
            rows += 1
            counts[row.status, default: 0] += 1
            if record.state == .committed {
                bytes += record.size ?? 0
                if let at = record.committedAt, commits.count < 200_000 { commits.append((at, record.size ?? 0)) }
            }
        }

        func summary(runs: [RunRecord], toolVersion: String) -> ReportSummary {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let start = runs.first?.startedAt ?? now
            let running = runs.contains { $0.status == "running" || $0.status == "interrupted" }
            let end = running ? now : runs.compactMap(\.finishedAt).max() ?? now
            return ReportSummary(
                runID: runs.last?.id,
                runs: runs.map {
                    ReportSummary.Run(
                        id: $0.id, startedAt: ReportRow.time($0.startedAt), finishedAt: $0.finishedAt.map(ReportRow.time),
                        status: $0.status,
                        toolVersion: $0.toolVersion, manifests: $0.manifests)
                },
                toolVersion: toolVersion, generatedAt: ReportRow.time(now), rows: rows, counts: counts, bytesCommitted: bytes,
                durationSeconds: Double(max(0, end - start)) / 1000,
                complete: !running && (counts["pending"] ?? 0) == 0)
        }

        /// Bytes per second in up to 60 buckets from the first to the last commit.
        func throughput() -> [(at: Int64, bytesPerSecond: Double)] {
            guard let first = commits.map(\.0).min(), let last = commits.map(\.0).max() else { return [] }
            let span = max(last - first, 1000)
            let buckets = min(60, max(1, Int(span / 1000)))
            let width = Double(span) / Double(buckets)
            var sums = Array(repeating: Int64(0), count: buckets)
            for (at, size) in commits {
                let index = min(buckets - 1, Int(Double(at - first) / width))
                sums[index] += size
            }
            return sums.enumerated().map { (first + Int64(Double($0.offset) * width), Double($0.element) / (width / 1000)) }
        }
    }
}

/// Where a report goes: a file or standard output, written in 64 KiB blocks.
public final class ReportOutput {
    private let handle: FileHandle
    private var buffer = Data()
    private let closes: Bool

    public init(handle: FileHandle, closes: Bool) {
        self.handle = handle
        self.closes = closes
    }

    /// Creates (or truncates) `path`.
    public convenience init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw IngestError(
                code: "report.unwritable", message: "cannot write \(path) (\(reason)); check the folder exists and can be written",
                subject: path)
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        self.init(handle: handle, closes: true)
    }

    public func write(_ text: String) { write(Data(text.utf8)) }

    public func write(_ data: Data) {
        buffer.append(data)
        if buffer.count >= 64 * 1024 { flush() }
    }

    func flush() {
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws {
        flush()
        if closes {
            try handle.synchronize()
            try handle.close()
        }
    }
}
