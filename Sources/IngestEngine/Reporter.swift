import Foundation
import IngestCore

/// One row of the reconciliation report: every manifest row, with its FileId or the reason it has none.
public struct ReportRow: Sendable, Codable, Hashable {
    public var manifest: String
    public var line: Int
    public var id: String
    public var path: String
    public var size: Int64?
    public var md5: String?
    /// `committed`, `failed`, `invalid` or `skipped`.
    public var status: String
    public var fileID: String?
    public var mediaURL: String?
    public var coverURL: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var attempts: Int
    public var requestID: String?

    public static let columns = [
        "manifest", "line", "id", "path", "size", "md5", "status", "file_id", "media_url", "cover_url", "error_code",
        "error_message", "attempts", "request_id",
    ]

    enum CodingKeys: String, CodingKey {
        case manifest, line, id, path, size, md5, status, attempts
        case fileID = "file_id", mediaURL = "media_url", coverURL = "cover_url", errorCode = "error_code"
        case errorMessage = "error_message", requestID = "request_id"
    }

    public init(outcome: ItemOutcome) {
        let item = outcome.item
        manifest = item.location.manifest
        line = item.location.line
        id = item.id
        path = item.media.given
        size = item.media.size
        md5 = item.md5
        status = outcome.status.rawValue
        fileID = outcome.remote?.fileID
        mediaURL = outcome.remote?.mediaURL
        coverURL = outcome.remote?.coverURL
        errorCode = outcome.error?.code ?? (outcome.status == .skipped ? "run.stopped" : nil)
        errorMessage = outcome.error.map { "\($0.step): \($0.message)" }
            ?? (outcome.status == .skipped ? "not attempted: the run stopped before this item" : nil)
        attempts = outcome.attempts
        requestID = outcome.requestID
    }

    /// A row that failed validation: never uploaded.
    public init(invalid outcome: RowOutcome, path: String?) {
        manifest = outcome.location.manifest
        line = outcome.location.line
        id = outcome.id ?? ""
        self.path = path ?? ""
        status = "invalid"
        let first = outcome.diagnostics.first { $0.severity == .error }
        errorCode = first?.code.rawValue
        errorMessage = outcome.diagnostics.filter { $0.severity == .error }.map(\.message).joined(separator: "; ")
        attempts = 0
    }

    public var csvLine: String {
        let fields: [String] = [
            manifest, String(line), id, path, size.map(String.init) ?? "", md5 ?? "", status, fileID ?? "", mediaURL ?? "",
            coverURL ?? "", errorCode ?? "", errorMessage ?? "", String(attempts), requestID ?? "",
        ]
        return fields.map(Self.csvField).joined(separator: ",")
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Writes `report.csv` and `report.jsonl` as rows arrive, and `summary.json` at the end.
public actor ReportWriter {
    private let csv: FileHandle
    private let jsonl: FileHandle
    private let directory: String
    private var pending = Data()
    private var pendingJSON = Data()
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
    public private(set) var rows = 0

    public init(directory: String) throws {
        self.directory = directory
        if let failure = Folder.create(directory) {
            throw IngestError(
                code: "report.unwritable",
                message: "cannot create the folder \(failure.folder) for the report (\(failure.reason)); choose another --state-dir",
                subject: directory)
        }
        func create(_ name: String) throws -> FileHandle {
            let path = directory + "/" + name
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw IngestError(code: "report.unwritable", message: "cannot write \(path); check the --state-dir permissions")
            }
            return handle
        }
        csv = try create("report.csv")
        jsonl = try create("report.jsonl")
        pending.append(Data((ReportRow.columns.joined(separator: ",") + "\n").utf8))
    }

    public func add(_ row: ReportRow) {
        rows += 1
        pending.append(Data((row.csvLine + "\n").utf8))
        if let data = try? encoder.encode(row) { pendingJSON.append(data + Data([0x0A])) }
        if pending.count > 64 * 1024 { flush() }
    }

    public func flush() {
        csv.write(pending)
        jsonl.write(pendingJSON)
        pending.removeAll(keepingCapacity: true)
        pendingJSON.removeAll(keepingCapacity: true)
    }

    /// Flushes, writes `summary.json`, closes the files.
    public func finish<Summary: Encodable>(summary: Summary) throws {
        flush()
        try csv.synchronize()
        try jsonl.synchronize()
        try csv.close()
        try jsonl.close()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try (encoder.encode(summary) + Data([0x0A])).write(to: URL(fileURLWithPath: directory + "/summary.json"))
    }
}
