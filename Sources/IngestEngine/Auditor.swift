import Foundation
import IngestCore

/// One problem an audit found, with a stable code.
public struct AuditFinding: Sendable, Hashable, Codable {
    public var code: String
    public var manifest: String?
    public var line: Int?
    public var id: String?
    public var fileID: String?
    public var message: String

    public init(code: String, manifest: String? = nil, line: Int? = nil, id: String? = nil, fileID: String? = nil, message: String) {
        self.code = code
        self.manifest = manifest
        self.line = line
        self.id = id
        self.fileID = fileID
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case code, manifest, line, id, message
        case fileID = "file_id"
    }

    public static let missingRow = "audit.missing-row"
    public static let extraRow = "audit.extra-row"
    public static let duplicateFileID = "audit.duplicate-file-id"
    public static let sizeMismatch = "audit.size-mismatch"
    public static let checksumMismatch = "audit.checksum-mismatch"
    public static let remoteMissing = "audit.remote-missing"
    public static let remoteMismatch = "audit.remote-mismatch"
    /// The platform's description, tags, category or cover are not what the manifest row sets.
    public static let remoteMetadataDrift = "audit.remote-metadata-drift"
    /// The platform's MD5 of the media is not the report's.
    public static let remoteChecksumMismatch = "audit.remote-checksum-mismatch"
}

/// A manifest row as the audit needs it.
public struct AuditManifestRow: Sendable, Hashable {
    /// Index of the manifest among those audited.
    public var manifest: Int
    public var line: Int
    public var id: String?
    /// The media file (absolute), when the row names one.
    public var file: String?
    /// The metadata the row sets, which the platform must hold (`--verify-remote`).
    public var description: String?
    public var tags: [String]
    public var category: Int?
    public var hasCover: Bool

    public init(
        manifest: Int, line: Int, id: String?, file: String?, description: String? = nil, tags: [String] = [], category: Int? = nil,
        hasCover: Bool = false
    ) {
        self.manifest = manifest
        self.line = line
        self.id = id
        self.file = file
        self.description = description
        self.tags = tags
        self.category = category
        self.hasCover = hasCover
    }
}

/// What the audit counted.
public struct AuditTotals: Sendable, Codable {
    public var manifestRows = 0
    public var reportRows = 0
    public var committed = 0
    public var filesChecked = 0
    public var remoteChecked = 0
}

/// Checks a reconciliation report against the manifests it came from, the files on disk, and
/// (optionally) the platform. The CLI gives it the rows and the ways to read files; it does no I/O.
public struct Auditor: Sendable {
    /// Size, MD5 and CRC-64 (decimal) of a file, or why they cannot be read.
    public typealias FileFacts = @Sendable (String) async -> (size: Int64?, md5: String?, crc64: String?, problem: String?)

    public var manifests: [String]
    public var fileFacts: FileFacts
    /// Files read at once.
    public var concurrency: Int

    public init(manifests: [String], concurrency: Int = 4, fileFacts: @escaping FileFacts) {
        self.manifests = manifests
        self.concurrency = max(1, concurrency)
        self.fileFacts = fileFacts
    }

    /// Which audited manifest a report's `manifest` cell names: the same text, the same absolute
    /// path, or the same file name when only one audited manifest has it.
    public func manifestIndex(of name: String, currentDirectory: String) -> Int? {
        if let exact = manifests.firstIndex(of: name) { return exact }
        func absolute(_ path: String) -> String {
            URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: currentDirectory, isDirectory: true)).standardizedFileURL.path
        }
        let target = absolute(name)
        if let same = manifests.firstIndex(where: { absolute($0) == target }) { return same }
        let base = (name as NSString).lastPathComponent
        let matches = manifests.indices.filter { (manifests[$0] as NSString).lastPathComponent == base }
        return matches.count == 1 ? matches[0] : nil
    }

    /// Runs the checks; findings come in a stable order (by manifest and line, then by kind).
    public func audit(
        manifestRows: [AuditManifestRow], report: [ReportRow], currentDirectory: String, remote: RemoteCheck? = nil
    ) async throws -> (findings: [AuditFinding], totals: AuditTotals) {
        var findings: [AuditFinding] = []
        var totals = AuditTotals()
        totals.manifestRows = manifestRows.count
        totals.reportRows = report.count
        struct Key: Hashable { var manifest: Int, line: Int }
        var expected: [Key: AuditManifestRow] = [:]
        for row in manifestRows { expected[Key(manifest: row.manifest, line: row.line)] = row }

        // Every manifest row has exactly one report row, and every report row a manifest row.
        var seen: [Key: Int] = [:]
        var byFileID: [String: ReportRow] = [:]
        var metadataByFileID: [String: AuditManifestRow] = [:]
        var toCheck: [(ReportRow, String)] = []
        for row in report {
            guard let index = manifestIndex(of: row.manifest, currentDirectory: currentDirectory) else {
                findings.append(
                    AuditFinding(
                        code: AuditFinding.extraRow, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                        message: "the report has a row for \(row.manifest), which is not among the manifests audited"))
                continue
            }
            let key = Key(manifest: index, line: row.line)
            guard let manifestRow = expected[key] else {
                findings.append(
                    AuditFinding(
                        code: AuditFinding.extraRow, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                        message: "the report has a row for line \(row.line), where \(manifests[index]) has no row"))
                continue
            }
            seen[key, default: 0] += 1
            if seen[key]! > 1 {
                findings.append(
                    AuditFinding(
                        code: AuditFinding.extraRow, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                        message: "the report has more than one row for this manifest row"))
            }
            if let id = manifestRow.id, !id.isEmpty, id != row.id {
                findings.append(
                    AuditFinding(
                        code: AuditFinding.extraRow, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                        message:
                            "the report's row has id '\(row.id)' where the manifest row has '\(id)': the manifest changed since the run"))
            }
            guard row.status == "committed" else { continue }
            totals.committed += 1
            if let fileID = row.fileID, !fileID.isEmpty {
                if let other = byFileID[fileID] {
                    findings.append(
                        AuditFinding(
                            code: AuditFinding.duplicateFileID, manifest: row.manifest, line: row.line, id: row.id, fileID: fileID,
                            message: "media id \(fileID) is also the media id of \(other.manifest) line \(other.line) (\(other.id))"))
                } else {
                    byFileID[fileID] = row
                    metadataByFileID[fileID] = manifestRow
                }
            }
            if let file = manifestRow.file { toCheck.append((row, file)) }
        }
        for row in manifestRows where seen[Key(manifest: row.manifest, line: row.line)] == nil {
            findings.append(
                AuditFinding(
                    code: AuditFinding.missingRow, manifest: manifests[row.manifest], line: row.line, id: row.id,
                    message: "this manifest row has no row in the report"))
        }

        // Each committed row's file still has the size and MD5 (or, without one, CRC-64) the report gives.
        totals.filesChecked = toCheck.count
        let facts = fileFacts
        let fileFindings = try await withThrowingTaskGroup(of: [AuditFinding].self) { group in
            var next = 0
            var found: [AuditFinding] = []
            func add() {
                let (row, file) = toCheck[next]
                next += 1
                group.addTask {
                    let fact = await facts(file)
                    var out: [AuditFinding] = []
                    if let problem = fact.problem {
                        out.append(
                            AuditFinding(
                                code: AuditFinding.sizeMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                                message: "\(file): \(problem)"))
                    } else if let size = row.size, let actual = fact.size, size != actual {
                        out.append(
                            AuditFinding(
                                code: AuditFinding.sizeMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                                message: "\(file) has \(actual) bytes; the report says \(size)"))
                    } else if let md5 = row.md5, let actual = fact.md5, md5.lowercased() != actual {
                        out.append(
                            AuditFinding(
                                code: AuditFinding.checksumMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                                message: "\(file) has MD5 \(actual); the report says \(md5)"))
                    } else if row.md5 == nil, let crc = row.crc64, let actual = fact.crc64, crc != actual {
                        out.append(
                            AuditFinding(
                                code: AuditFinding.checksumMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: row.fileID,
                                message: "\(file) has CRC-64 \(actual); the report says \(crc)"))
                    }
                    return out
                }
            }
            for _ in 0..<min(concurrency, toCheck.count) { add() }
            while let result = try await group.next() {
                found += result
                if next < toCheck.count { add() }
            }
            return found
        }
        findings += fileFindings

        // The platform has each FileId, with the expected name, size and SourceContext.
        if let remote {
            let committed = byFileID.values.sorted { ($0.manifest, $0.line) < ($1.manifest, $1.line) }
            totals.remoteChecked = committed.count
            findings += try await remote.check(committed, expected: metadataByFileID)
        }
        findings.sort { ($0.manifest ?? "", $0.line ?? 0, $0.code) < ($1.manifest ?? "", $1.line ?? 0, $1.code) }
        return (findings, totals)
    }
}

/// `--verify-remote`: DescribeMediaInfos in batches, under an API rate.
public struct RemoteCheck: Sendable {
    public var catalog: any MediaCatalog
    public var limiter: RateLimiter
    public var maxAttempts: Int

    public init(catalog: any MediaCatalog, apiRate: Double, maxAttempts: Int = 6) {
        self.catalog = catalog
        self.limiter = RateLimiter(rate: apiRate)
        self.maxAttempts = maxAttempts
    }

    func check(_ rows: [ReportRow], expected: [String: AuditManifestRow] = [:]) async throws -> [AuditFinding] {
        var findings: [AuditFinding] = []
        let size = max(1, catalog.describeBatchLimit)
        var start = 0
        while start < rows.count {
            let batch = Array(rows[start..<min(start + size, rows.count)])
            start += size
            let answer = try await describe(batch.compactMap(\.fileID))
            let found = Dictionary(answer.found.map { ($0.fileID, $0) }, uniquingKeysWith: { a, _ in a })
            for row in batch {
                guard let fileID = row.fileID else { continue }
                guard let media = found[fileID] else {
                    findings.append(
                        AuditFinding(
                            code: AuditFinding.remoteMissing, manifest: row.manifest, line: row.line, id: row.id, fileID: fileID,
                            message: "the platform has no media \(fileID)"))
                    continue
                }
                var differences: [String] = []
                if let title = row.title, media.name != title { differences.append("name '\(media.name)', expected '\(title)'") }
                if let expected = row.size, let size = media.size, expected != size {
                    differences.append("size \(size), expected \(expected)")
                }
                if let expected = row.sourceContext, media.sourceContext != expected {
                    differences.append("SourceContext '\(media.sourceContext ?? "")', expected '\(expected)'")
                }
                // A platform that reports processing (Alibaba) must not show the source as missing or refused.
                if let status = media.status, Self.failedStatuses.contains(status) {
                    differences.append("status \(status)")
                }
                if !differences.isEmpty {
                    findings.append(
                        AuditFinding(
                            code: AuditFinding.remoteMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: fileID,
                            message: "media \(fileID) has " + differences.joined(separator: ", ")))
                }
                if let md5 = row.md5, let remote = media.md5, md5.lowercased() != remote.lowercased() {
                    findings.append(
                        AuditFinding(
                            code: AuditFinding.remoteChecksumMismatch, manifest: row.manifest, line: row.line, id: row.id, fileID: fileID,
                            message: "the platform's MD5 of media \(fileID) is \(remote); the report says \(md5)"))
                }
                if let want = expected[fileID] {
                    let drift = Self.drift(media, want)
                    if !drift.isEmpty {
                        findings.append(
                            AuditFinding(
                                code: AuditFinding.remoteMetadataDrift, manifest: row.manifest, line: row.line, id: row.id, fileID: fileID,
                                message: "media \(fileID) has " + drift.joined(separator: ", ")
                                    + " (a next ingest of the manifest does not rewrite a committed media's metadata)"))
                    }
                }
            }
        }
        return findings
    }

    /// How the platform's metadata differs from what the manifest row sets (fields the platform did
    /// not report are not compared).
    static func drift(_ media: RemoteMediaInfo, _ want: AuditManifestRow) -> [String] {
        var drift: [String] = []
        let description = want.description ?? ""
        if let has = media.description, has != description { drift.append("description '\(has)', the manifest says '\(description)'") }
        if let has = media.tags, Set(has) != Set(want.tags) {
            drift.append("tags \(has.joined(separator: ";")), the manifest says \(want.tags.joined(separator: ";"))")
        }
        if let category = want.category, let has = media.classID, has != category {
            drift.append("category \(has), the manifest says \(category)")
        }
        if want.hasCover, media.coverURL == nil { drift.append("no cover, the manifest gives one") }
        return drift
    }

    /// Statuses of a media whose source is not (or no longer) there: Alibaba `Uploading` (the OSS write
    /// never came), `UploadFail`, `Blocked`.
    static let failedStatuses: Set<String> = ["Uploading", "UploadFail", "Blocked"]

    private func describe(_ ids: [String]) async throws -> (found: [RemoteMediaInfo], missing: [String]) {
        var attempt = 0
        while true {
            attempt += 1
            try await limiter.acquire()
            do {
                let answer = try await catalog.describe(fileIDs: ids)
                await limiter.succeeded()
                return answer
            } catch let error as ProviderError
                where (error.disposition == .retry || error.disposition == .throttled) && attempt < maxAttempts
            {
                if error.disposition == .throttled { await limiter.throttled() }
                try await Task.sleep(for: Backoff.delay(attempt: attempt))
            }
        }
    }
}
