import Foundation
import IngestCore
import Synchronization

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
public struct ManifestPipeline: Sendable {
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
            directory = String(
                PathNormalizer.normalize(absolute).split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            )
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
                onDiagnostic(
                    Diagnostic(
                        manifest: argument, line: nil, code: .manifestUnreadable, message: error.message))
                continue
            }
            summary.manifests.append(opened.name)
            let context = ManifestContext(
                name: opened.name, index: validator.register(manifest: opened.name), root: root(for: argument))
            let failure = validateConcurrently(opened.reader, checker: validator.checker, context: context) { batch in
                for record in batch.records {
                    switch record {
                    case .diagnostic(let diagnostic):
                        if diagnostic.severity == .error { summary.manifestErrors += 1 } else { summary.warnings += 1 }
                        onDiagnostic(diagnostic)
                    case .row(let pending):
                        let outcome = validator.settle(pending, in: context)
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

    /// A batch after its row-local checks.
    private struct CheckedBatch: Sendable {
        var records: [CheckedRecord]
    }

    /// Three stages on their own threads: `reader` parses on one thread; batches of its records get
    /// their row-local checks on one worker thread per core; `consume` gets them back in manifest order
    /// on the calling thread (duplicates and output need that order). At most `2 × workers + 2` batches
    /// are in flight, so memory does not grow with the manifest.
    /// - Returns: the error that stopped reading, if any.
    private func validateConcurrently(
        _ reader: any ManifestReader, checker: RowChecker, context: ManifestContext,
        consume: (CheckedBatch) -> Void
    ) -> IngestError? {
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let work = OrderedBatchWork<[ManifestRecord], CheckedBatch>(capacity: 2 * workers + 2)
        let failure = Mutex<IngestError?>(nil)
        let handoff = Handoff(value: reader)
        let readerThread = Thread {
            var batch: [ManifestRecord] = []
            batch.reserveCapacity(Self.batchSize)
            var lastLine = 0
            do {
                try handoff.value.read { record in
                    if case .row(let row) = record { lastLine = row.location.line }
                    batch.append(record)
                    if batch.count >= Self.batchSize {
                        work.put(batch)
                        batch = []
                        batch.reserveCapacity(Self.batchSize)
                    }
                }
            } catch {
                var stopped = (error as? IngestError) ?? IngestError(code: "manifest.unreadable", message: "reading stopped: \(error)")
                if stopped.code == DiagnosticCode.manifestUnreadable.rawValue {
                    // Which rows were taken: those up to the last one read.
                    stopped.message +=
                        lastLine > 0
                        ? " [rows up to line \(lastLine) were read and are checked; none after it]" : " [no row was read]"
                }
                let reason = stopped
                failure.withLock { $0 = reason }
            }
            if !batch.isEmpty { work.put(batch) }
            work.finish()
        }
        readerThread.stackSize = 8 << 20
        readerThread.start()
        for _ in 0..<workers {
            let worker = Thread {
                work.work { records in
                    CheckedBatch(records: Self.checkRows(records, checker: checker, context: context))
                }
            }
            worker.start()
        }
        while let batch = work.next() { consume(batch) }
        return failure.withLock { $0 }
    }

    /// The row-local checks of a batch, on all cores; results in row order.
    private static func checkRows(
        _ records: [ManifestRecord], checker: RowChecker, context: ManifestContext
    ) -> [CheckedRecord] {
        // Without file checks the work is pure CPU: each worker thread takes whole batches. With file
        // checks, stat/realpath/read latency (network storage) also overlaps within a batch.
        if records.count < 64 || !checker.options.fileChecks {
            var checked: [CheckedRecord] = []
            checked.reserveCapacity(records.count)
            for record in records { checked.append(check(record, checker: checker, context: context)) }
            return checked
        }
        let results = UnsafeMutableBufferPointer<CheckedRecord?>.allocate(capacity: records.count)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        let stripes = min(ProcessInfo.processInfo.activeProcessorCount * 2, records.count)
        nonisolated(unsafe) let output = results
        DispatchQueue.concurrentPerform(iterations: stripes) { stripe in
            var index = stripe
            while index < records.count {
                output[index] = check(records[index], checker: checker, context: context)
                index += stripes
            }
        }
        return results.map { $0! }
    }

    @inline(__always)
    private static func check(_ record: ManifestRecord, checker: RowChecker, context: ManifestContext) -> CheckedRecord {
        switch record {
        case .diagnostic(let diagnostic): .diagnostic(diagnostic)
        case .row(let row): .row(checker.check(row, in: context))
        }
    }
}

/// A record after the row-local checks: what the settling thread needs, without the row itself.
private enum CheckedRecord: Sendable {
    case diagnostic(Diagnostic)
    case row(PendingRow)
}
