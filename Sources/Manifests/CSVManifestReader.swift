import IngestCore

/// Reads a CSV manifest (see the README's "CSV manifests") as a stream of ``ManifestRecord``s.
///
/// `#` comment lines may precede the header. The header names the columns, case-insensitive, in any
/// order; `path` is required; an unknown column is a warning. A record whose field count differs
/// from the header's is reported as `manifest.malformed` and never uploaded (a shifted column could
/// put a description where a path belongs).
public struct CSVManifestReader: ManifestReader {
    private let records: CSVRecordReader
    private let manifest: String

    /// - Parameters:
    ///   - source: the bytes of the manifest.
    ///   - manifest: the name shown in diagnostics.
    public init(source: ByteSource, manifest: String) {
        self.records = CSVRecordReader(source: source)
        self.manifest = manifest
    }

    public func read(_ emit: (ManifestRecord) throws -> Void) throws {
        guard try records.next(skippingCommentLines: true) else {
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: nil, code: .manifestEmpty, severity: .error,
                        message: "the manifest has no header line; the first line must name the columns (at least `path`)")))
            return
        }
        let headerLine = records.line
        if let problem = records.problem {
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: headerLine, code: .manifestMalformed,
                        message: "the header line is not valid CSV: \(problem)")))
            return
        }
        var columns: [ManifestField?] = []
        var seen: [ManifestField: Int] = [:]
        for index in 0..<records.fieldCount {
            guard let name = records.string(at: index) else {
                try emit(
                    .diagnostic(
                        Diagnostic(
                            manifest: manifest, line: headerLine, code: .manifestMalformed,
                            message: "header column \(index + 1) is not valid UTF-8; save the manifest as UTF-8")))
                return
            }
            let field = ManifestField.column(named: name)
            if let field {
                if let first = seen[field] {
                    try emit(
                        .diagnostic(
                            Diagnostic(
                                manifest: manifest, line: headerLine, field: field.columnName, code: .manifestMalformed,
                                message: "column `\(field.columnName)` appears twice (columns \(first + 1) and \(index + 1)); "
                                    + "keep one")))
                    return
                }
                seen[field] = index
            } else {
                let shown = name.trimmedSpaces()
                try emit(
                    .diagnostic(
                        Diagnostic(
                            manifest: manifest, line: headerLine, field: shown, code: .manifestUnknownColumn,
                            severity: .warning,
                            message: shown.isEmpty
                                ? "column \(index + 1) has no name and is ignored"
                                : "unknown column `\(shown)` (column \(index + 1)) is ignored; known columns: "
                                    + ManifestField.simple.map(\.columnName).joined(separator: ", ") + ", meta.<name>")))
            }
            columns.append(field)
        }
        guard seen[.path] != nil else {
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: headerLine, field: "path", code: .manifestMissingColumn,
                        message: "the header has no `path` column, so no row can be read; add a `path` column "
                            + "naming each media file")))
            return
        }
        let idIndex = seen[.id]
        var rows = 0
        while try records.next() {
            rows += 1
            let location = SourceLocation(manifest: manifest, line: records.line)
            var row = ManifestRow(location: location)
            let count = records.fieldCount
            if let problem = records.problem {
                row.readProblems.append(
                    Diagnostic(
                        at: location, code: .manifestMalformed, message: "this row is not valid CSV: \(problem)"))
            } else if count != columns.count {
                row.readProblems.append(
                    Diagnostic(
                        at: location, code: .manifestMalformed,
                        message: "this row has \(count) field\(count == 1 ? "" : "s") but the header has "
                            + "\(columns.count); quote fields that contain commas"))
            }
            for index in 0..<min(count, columns.count) {
                guard let field = columns[index], !records.isEmpty(at: index) else { continue }
                guard let value = records.string(at: index) else {
                    row.readProblems.append(
                        Diagnostic(
                            at: location, field: field.columnName,
                            code: field.columnName == "path"
                                ? .pathInvalid : field.columnName == "cover" ? .coverInvalid : .manifestMalformed,
                            message: "the `\(field.columnName)` field is not valid UTF-8; no file was looked up. Save the manifest as UTF-8"
                        ))
                    continue
                }
                row.set(field, value)
            }
            if let idIndex, idIndex < count, row.id == nil, !records.isEmpty(at: idIndex) {
                row.id = records.string(at: idIndex)
            }
            try emit(.row(row))
        }
        if rows == 0 {
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: headerLine, code: .manifestEmpty, severity: .warning,
                        message: "the manifest has a header but no rows")))
        }
    }
}
