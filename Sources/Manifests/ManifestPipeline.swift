import Foundation
import IngestCore

/// Counts of a validation pass over one or more manifests.
public struct ValidationSummary: Sendable, Hashable, Codable {
    public var manifests: [String] = []
    /// Data rows read (valid + invalid).
    public var rows = 0
    public var valid = 0
    public var invalid = 0
    /// Warning diagnostics, rows and manifests together.
    public var warnings = 0
    /// Error diagnostics about a manifest as a whole (no `path` column, malformed XML, ...).
    public var manifestErrors = 0
    /// Manifests that could not be opened or read.
    public var unreadable: [String] = []

    public init() {}

    /// Whether anything was wrong enough to stop a row or a manifest.
    public var hasErrors: Bool { invalid > 0 || manifestErrors > 0 || !unreadable.isEmpty }
}

/// Reads and validates manifests in order, streaming: each row is validated as it is read and
/// handed to the caller, then forgotten.
public struct ManifestPipeline {
    public var options: ValidationOptions
    /// `--root`; `nil` means each manifest's own folder (the current directory for standard input).
    public var rootOverride: String?
    public var currentDirectory: String
    public var inspector: FileInspector

    public init(
        options: ValidationOptions, rootOverride: String? = nil,
        currentDirectory: String = FileManager.default.currentDirectoryPath,
        inspector: FileInspector = FileInspector()
    ) {
        self.options = options
        self.rootOverride = rootOverride
        self.currentDirectory = currentDirectory
        self.inspector = inspector
    }

    /// The root files of `manifest` must stay in.
    public func root(for manifest: String) -> ValidationRoot {
        let directory: String
        if let rootOverride {
            directory = rootOverride
        } else if manifest == "-" {
            directory = currentDirectory
        } else {
            let absolute = manifest.hasPrefix("/") ? manifest : currentDirectory + "/" + manifest
            directory = String(PathNormalizer.normalize(absolute).split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/"))
        }
        return ValidationRoot.make(
            directory: directory.isEmpty ? "/" : directory, currentDirectory: currentDirectory,
            fileSystem: inspector.fileSystem)
    }

    /// Validates `manifests` (paths, `-` for standard input).
    /// - Parameters:
    ///   - onDiagnostic: manifest-level diagnostics, as they are found.
    ///   - onRow: every row's outcome, in manifest order.
    public func run(
        manifests: [String], onDiagnostic: (Diagnostic) -> Void, onRow: (RowOutcome) -> Void
    ) -> ValidationSummary {
        var summary = ValidationSummary()
        var validator = Validator(options: options, inspector: inspector)
        validator.reserveCapacity(Self.estimatedRows(manifests))
        for argument in manifests {
            let opened: (name: String, reader: any ManifestReader)
            do {
                opened = try ManifestOpener.open(argument)
            } catch {
                summary.manifests.append(argument)
                summary.unreadable.append(argument)
                onDiagnostic(Diagnostic(
                    manifest: argument, line: nil, code: .manifestUnreadable, message: error.message))
                continue
            }
            summary.manifests.append(opened.name)
            let context = ManifestContext(
                name: opened.name, index: validator.register(manifest: opened.name), root: root(for: argument))
            let failure = readConcurrently(opened.reader) { records in
                // Row-local checks in parallel, then duplicates and output in manifest order.
                let pending = checkRows(records, checker: validator.checker, context: context)
                var rowIndex = 0
                for record in records {
                    switch record {
                    case .diagnostic(let diagnostic):
                        if diagnostic.severity == .error { summary.manifestErrors += 1 } else { summary.warnings += 1 }
                        onDiagnostic(diagnostic)
                    case .row:
                        let outcome = validator.settle(pending[rowIndex], in: context)
                        rowIndex += 1
                        summary.rows += 1
                        if outcome.isValid { summary.valid += 1 } else { summary.invalid += 1 }
                        if !outcome.diagnostics.isEmpty {
                            summary.warnings += outcome.diagnostics.count { $0.severity == .warning }
                        }
                        onRow(outcome)
                    }
                }
            }
            if let error = failure {
                if error.code == DiagnosticCode.manifestMalformed.rawValue {
                    summary.manifestErrors += 1
                    onDiagnostic(Diagnostic(manifest: opened.name, line: nil, code: .manifestMalformed, message: error.message))
                } else {
                    summary.unreadable.append(opened.name)
                    onDiagnostic(Diagnostic(manifest: opened.name, line: nil, code: .manifestUnreadable, message: error.message))
                }
            }
        }
        return summary
    }

    /// A guess of the row count from the manifests' sizes (at least 200 bytes a row: an underestimate only means some regrowth), so the
    /// duplicate tables are sized once instead of regrown (regrowth was 6% of validation time).
    static func estimatedRows(_ manifests: [String]) -> Int {
        var bytes = 0
        for manifest in manifests where manifest != "-" {
            if let size = try? FileManager.default.attributesOfItem(atPath: manifest)[.size] as? Int { bytes += size }
        }
        return min(bytes / 200, 50_000_000)
    }

    /// Rows handed from the reading thread to the validating one at a time.
    static let batchSize = 1024

    private enum Batch {
        case records([ManifestRecord])
        case end(IngestError?)
    }

    /// Runs `reader` on its own thread (parsing overlaps validation) and hands its records to
    /// `consume` in order, in batches, on the calling thread. At most four batches wait in between.
    /// - Returns: the error that stopped reading, if any.
    private func readConcurrently(
        _ reader: any ManifestReader, consume: ([ManifestRecord]) -> Void
    ) -> IngestError? {
        let queue = BatchQueue<Batch>(capacity: 4)
        let handoff = Handoff(value: reader)
        let thread = Thread {
            var batch: [ManifestRecord] = []
            batch.reserveCapacity(Self.batchSize)
            do {
                try handoff.value.read { record in
                    batch.append(record)
                    if batch.count >= Self.batchSize {
                        queue.put(.records(batch))
                        batch.removeAll(keepingCapacity: true)
                    }
                }
                if !batch.isEmpty { queue.put(.records(batch)) }
                queue.put(.end(nil))
            } catch {
                if !batch.isEmpty { queue.put(.records(batch)) }
                let failure = (error as? IngestError)
                    ?? IngestError(code: "manifest.unreadable", message: "reading stopped: \(error)")
                queue.put(.end(failure))
            }
        }
        thread.stackSize = 8 << 20
        thread.start()
        while true {
            switch queue.take() {
            case .records(let records): consume(records)
            case .end(let error): return error
            }
        }
    }

    /// The row-local checks of a batch, on all cores; results in row order.
    private func checkRows(_ records: [ManifestRecord], checker: RowChecker, context: ManifestContext) -> [PendingRow] {
        // Without file checks the work is pure CPU and fine-grained: threads only contend on
        // reference counts of shared strings (measured slower), so stay on this thread. With file
        // checks, stat/realpath/read latency (network storage) overlaps across threads.
        if records.count < 64 || !checker.options.fileChecks {
            var pending: [PendingRow] = []
            pending.reserveCapacity(records.count)
            for case .row(let row) in records { pending.append(checker.check(row, in: context)) }
            return pending
        }
        var rows: [ManifestRow] = []
        rows.reserveCapacity(records.count)
        for case .row(let row) in records { rows.append(row) }
        let results = UnsafeMutableBufferPointer<PendingRow?>.allocate(capacity: rows.count)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        let stripes = min(ProcessInfo.processInfo.activeProcessorCount * 2, rows.count)
        nonisolated(unsafe) let output = results
        let input = rows
        DispatchQueue.concurrentPerform(iterations: stripes) { stripe in
            var index = stripe
            while index < input.count {
                output[index] = checker.check(input[index], in: context)
                index += stripes
            }
        }
        return results.map { $0! }
    }
}
