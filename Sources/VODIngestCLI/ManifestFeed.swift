import Foundation
import IngestCore
import IngestEngine
import Manifests
import Synchronization

/// Validated rows, in batches, from the validating thread to the run.
enum FeedBatch: Sendable {
    case valid(ManifestFingerprint, [IngestItem])
    case invalid([InvalidRow])
}

/// Streams the manifests through validation on a thread of its own, in batches, with back-pressure:
/// the thread waits while `capacity` batches are not taken yet, so memory stays bounded however
/// long the manifests are.
final class ManifestStream: Sendable {
    static let batchSize = 512

    let batches: AsyncStream<FeedBatch>
    private let continuation: AsyncStream<FeedBatch>.Continuation
    private let slots: DispatchSemaphore
    private let cancelled = Atomic<Bool>(false)
    private let result = Mutex<ValidationSummary?>(nil)
    private let done = DispatchSemaphore(value: 0)
    /// Slots taken and not given back (batches sent and not taken, or a send cut short).
    private let held = Atomic<Int>(0)
    /// The validating thread has ended.
    let ended = Atomic<Bool>(false)

    init(capacity: Int = 4) {
        (batches, continuation) = AsyncStream.makeStream(of: FeedBatch.self)
        slots = DispatchSemaphore(value: capacity)
    }

    /// libdispatch traps (SIGILL) when a semaphore is released with a lower count than it started
    /// with: a run that stops with batches not taken (a journal error, say) gives the slots back.
    deinit {
        for _ in 0..<held.load(ordering: .acquiring) { slots.signal() }
    }

    /// Starts validating; rows with diagnostics are rendered to standard error as they come.
    func start(pipeline: ManifestPipeline, manifests: [String], fingerprints: [String: ManifestFingerprint]) {
        let thread = Thread { [self] in
            let errors = Console.standardError()
            let renderer: any DiagnosticRenderer =
                StandardErrorLogHandler.format == .json ? LogEventDiagnosticRenderer(out: errors) : TextDiagnosticRenderer(out: errors)
            var valid: [IngestItem] = []
            var validManifest: String? = nil
            var invalid: [InvalidRow] = []
            func fingerprint(_ name: String) -> ManifestFingerprint {
                fingerprints[name] ?? ManifestFingerprint(name: name, path: name, sha256: nil)
            }
            func flushValid() {
                if let name = validManifest, !valid.isEmpty { send(.valid(fingerprint(name), valid)) }
                valid.removeAll(keepingCapacity: true)
            }
            let summary = pipeline.run(
                manifests: manifests,
                onDiagnostic: { renderer.manifestDiagnostic($0) },
                onRow: { outcome in
                    if self.cancelled.load(ordering: .relaxed) { return }
                    if !outcome.diagnostics.isEmpty {
                        renderer.row(outcome)
                        errors.flush()
                    }
                    if let item = outcome.item {
                        if validManifest != item.location.manifest { flushValid() }
                        validManifest = item.location.manifest
                        valid.append(item)
                        if valid.count >= Self.batchSize { flushValid() }
                    } else {
                        let first = outcome.diagnostics.first { $0.severity == .error }
                        invalid.append(
                            InvalidRow(
                                manifest: fingerprint(outcome.location.manifest), line: outcome.location.line, id: outcome.id ?? "",
                                path: "", code: first?.code.rawValue ?? "row.invalid",
                                message: outcome.diagnostics.filter { $0.severity == .error }.map(\.message).joined(separator: "; ")))
                        if invalid.count >= Self.batchSize {
                            send(.invalid(invalid))
                            invalid.removeAll(keepingCapacity: true)
                        }
                    }
                })
            flushValid()
            if !invalid.isEmpty { send(.invalid(invalid)) }
            renderer.end(summary)
            errors.flush()
            result.withLock { $0 = summary }
            continuation.finish()
            ended.store(true, ordering: .releasing)
            done.signal()
        }
        thread.name = "vodingest-validate"
        thread.start()
    }

    /// Waits for a free slot (or for the run to stop reading), then hands the batch over.
    private func send(_ batch: FeedBatch) {
        while slots.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if cancelled.load(ordering: .relaxed) { return }
        }
        held.add(1, ordering: .acquiringAndReleasing)
        if cancelled.load(ordering: .relaxed) { return }
        continuation.yield(batch)
    }

    /// The consumer took a batch.
    func taken() {
        held.subtract(1, ordering: .acquiringAndReleasing)
        slots.signal()
    }

    /// The run stops reading: the validating thread drops what is left.
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
        continuation.finish()
    }

    /// The validation summary, once every manifest was read (nil after ``cancel()``).
    func summary() async -> ValidationSummary? {
        if cancelled.load(ordering: .relaxed) { return result.withLock { $0 } }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.done.wait()
                self.done.signal()
                continuation.resume()
            }
        }
        return result.withLock { $0 }
    }
}

/// The run's work: first the items an earlier run left in flight (from the journal), then the
/// manifests' rows as they are validated, each registered in the journal, which says whether to
/// upload it, or that it is committed already.
///
/// `@unchecked Sendable`: it is handed to the runner's task and used there only, one call at a time.
final class JournalFeed: WorkSource, @unchecked Sendable {
    private let journal: any JournalStore
    private let stream: ManifestStream
    private var iterator: AsyncStream<FeedBatch>.Iterator
    private var resumes: [ResumePoint]
    private let resuming: Set<Int64>
    private var buffer: [Work] = []
    private var position = 0
    private let runID: String
    private let reopenDuplicates: Bool
    private let stats: IngestStats
    private let onKnown: @Sendable (IngestItem, Registration) async -> Void
    /// The totals were counted before the run (``ManifestCount``): registrations correct them
    /// (downwards) instead of adding to them.
    private let precounted: Bool

    /// - Parameters:
    ///   - onKnown: rows the journal has committed (or skipped as duplicates) already.
    ///   - precounted: `stats` holds every valid row's count and bytes already.
    init(
        journal: any JournalStore, stream: ManifestStream, resumes: [ResumePoint], runID: String, reopenDuplicates: Bool,
        stats: IngestStats, precounted: Bool = false,
        onKnown: @escaping @Sendable (IngestItem, Registration) async -> Void
    ) {
        self.precounted = precounted
        self.journal = journal
        self.stream = stream
        self.iterator = stream.batches.makeAsyncIterator()
        self.resumes = resumes.reversed()
        self.resuming = Set(resumes.map(\.key))
        self.runID = runID
        self.reopenDuplicates = reopenDuplicates
        self.stats = stats
        self.onKnown = onKnown
        stats.update { s in
            s.itemsTotal += resumes.count
            s.bytesTotal += resumes.reduce(0) { $0 + ($1.item.media.size ?? 0) }
        }
    }

    func next() async throws -> Work? {
        if let point = resumes.popLast() {
            return Work(key: point.key, item: point.item, resume: point, sourceContext: point.sourceContext)
        }
        while position >= buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
            guard let batch = await iterator.next() else { return nil }
            stream.taken()
            switch batch {
            case .invalid(let rows):
                try await journal.registerInvalid(rows, runID: runID)
            case .valid(let manifest, let items):
                let contexts = items.map { IngestRunner.sourceContext(for: $0, runID: runID) }
                let registrations = try await journal.register(
                    items, manifest: manifest, runID: runID, sourceContexts: contexts, values: items.map { RowValues($0).encoded },
                    reopenDuplicates: reopenDuplicates)
                var count = 0
                var bytes: Int64 = 0
                // Counted before the run but not uploaded: bytes of rows done already, and rows
                // taken over from the journal (counted among the resumes too).
                var notSent: Int64 = 0
                var counted = 0
                for (index, registration) in registrations.enumerated() {
                    let item = items[index]
                    switch registration {
                    case .committed, .duplicate, .revised:
                        notSent += item.uploadBytes
                    case .inFlight:
                        counted += 1
                        notSent += item.uploadBytes
                    case .start(let key, _) where resuming.contains(key), .replacement(let key, _) where resuming.contains(key):
                        counted += 1
                        notSent += item.uploadBytes
                    default:
                        break
                    }
                    switch registration {
                    case .start(let key, let duplicates) where !resuming.contains(key):
                        // The row's token comes from the manifest's absolute path, so it is the same
                        // whichever way the manifest is named on the command line.
                        let token = RowToken.make(manifest: manifest.path == "-" ? manifest.name : manifest.path, id: item.id)
                        buffer.append(Work(key: key, item: item, sourceContext: contexts[index], duplicates: duplicates, rowToken: token))
                        count += 1
                        bytes += item.uploadBytes
                    case .replacement(let key, let replaces) where !resuming.contains(key):
                        let token = RowToken.make(manifest: manifest.path == "-" ? manifest.name : manifest.path, id: item.id)
                        buffer.append(Work(key: key, item: item, sourceContext: contexts[index], rowToken: token, replaces: replaces))
                        count += 1
                        bytes += item.uploadBytes
                    case .revised(let key, let media, let committed) where !resuming.contains(key):
                        // Committed before, delivered again with differences: the runner updates,
                        // replaces or reports it (and reads the file only when just its time changed).
                        buffer.append(
                            Work(
                                key: key, item: item, sourceContext: contexts[index],
                                rowToken: RowToken.make(manifest: manifest.path == "-" ? manifest.name : manifest.path, id: item.id),
                                revised: (media, committed)))
                        count += 1
                    case .committed, .duplicate, .revised:
                        await onKnown(item, registration)
                    case .start, .inFlight, .replacement:
                        break  // taken over from the journal above
                    }
                }
                stats.update {
                    if self.precounted {
                        $0.itemsTotal -= counted
                        $0.bytesTotal -= notSent
                    } else {
                        $0.itemsTotal += count
                        $0.bytesTotal += bytes
                    }
                }
            }
        }
        defer { position += 1 }
        return buffer[position]
    }
}

/// The totals of a run before its first byte: the manifests' valid rows and their bytes, from a
/// first validation pass (the same checks; items are built and dropped batch by batch, so memory
/// stays flat). Standard input is read once, so a run reading it has no such pass.
enum ManifestCount {
    static func count(_ pipeline: ManifestPipeline, manifests: [String]) async -> (items: Int, bytes: Int64) {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var items = 0
                var bytes: Int64 = 0
                _ = pipeline.run(
                    manifests: manifests, onDiagnostic: { _ in },
                    onRow: { outcome in
                        guard let item = outcome.item else { return }
                        items += 1
                        bytes += item.uploadBytes
                    })
                continuation.resume(returning: (items, bytes))
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
