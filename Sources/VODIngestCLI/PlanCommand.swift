import ArgumentParser
import Foundation
import IngestCore
import IngestEngine
import JournalSQLite
import Manifests

/// `vodingest plan`: totals, requests and a time estimate for a run, before any byte is sent.
struct PlanCommand: ParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Estimate a run: items, bytes, API calls, multipart parts, and how long it will take.",
        discussion: """
            The estimate is the larger of bytes / bandwidth and API calls / API rate, and names the bottleneck. Sizes take units (64MiB, 1.5GB), rates too (100MB/s, 1Gbit/s). Invalid rows are left out of the plan; the exit status is then 65 (see `validate`).

            Examples:
              vodingest plan samples/good.csv
              vodingest plan --bandwidth 200MB/s --api-rate 50 --part-size 32MiB library.csv
              vodingest plan --state-dir /var/lib/vodingest partner.csv
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @OptionGroup var input: ManifestOptions

    @Option(help: "Files uploaded at once.")
    var concurrency: Int = 8

    @Option(
        name: .customLong("api-rate"),
        help: ArgumentHelp(
            "A cap on API requests per second of all actions together (default: none; each action goes at its documented budget, as ingest does).",
            valueName: "rate"))
    var apiRate: String?

    @Option(help: ArgumentHelp("Upload bandwidth, e.g. 100MB/s or 1Gbit/s (default: 1Gbit/s assumed).", valueName: "rate"))
    var bandwidth: String?

    @Option(
        name: .customLong("part-size"),
        help: ArgumentHelp("Multipart part size, e.g. 16MiB; files up to this size go in one PUT.", valueName: "size"))
    var partSize: String = "16MiB"

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(
        help: ArgumentHelp(
            "The state directory of earlier ingests: rows committed there and delivered the same are left out, and the plan counts what a new delivery changed (updated in place, changed, to check).",
            valueName: "dir"))
    var stateDir: String?

    @Flag(help: "With --state-dir: plan changed rows as ingest --replace-changed would (uploaded anew).")
    var replaceChanged = false

    @Flag(help: "With --replace-changed: count the deletion of each replaced media.")
    var deleteReplaced = false

    mutating func validate() throws {
        guard concurrency >= 1, concurrency <= 10_000 else {
            throw ValidationError("--concurrency must be between 1 and 10000")
        }
        if let apiRate, RequestRate(parsing: apiRate) == nil {
            throw ValidationError("--api-rate '\(apiRate)' is not a rate; give requests per second such as 100 or 50/s")
        }
        if let bandwidth, ByteRate(parsing: bandwidth) == nil {
            throw ValidationError("--bandwidth '\(bandwidth)' is not a rate; give e.g. 100MB/s, 50MiB/s or 1Gbit/s")
        }
        guard let size = ByteSize(parsing: partSize) else {
            throw ValidationError("--part-size '\(partSize)' is not a size; give e.g. 16MiB or 64MB")
        }
        if (replaceChanged || deleteReplaced) && stateDir == nil {
            throw ValidationError("--replace-changed and --delete-replaced plan against earlier ingests: give their --state-dir")
        }
        if deleteReplaced && !replaceChanged {
            throw ValidationError("--delete-replaced deletes the media a replacement replaces: give it with --replace-changed")
        }
        let rules = input.profile.parts
        guard size.bytes >= rules.minimumPartSize, size.bytes <= rules.maximumPartSize else {
            throw ValidationError(
                "--part-size must be between \(ByteSize.format(rules.minimumPartSize)) and \(ByteSize.format(rules.maximumPartSize)) for \(input.profile.displayName)"
            )
        }
    }

    func run() throws {
        let options = PlanOptions(
            profile: input.profile, concurrency: concurrency,
            apiRate: apiRate.flatMap(RequestRate.init(parsing:))?.perSecond,
            bandwidth: bandwidth.flatMap(ByteRate.init(parsing:))?.bytesPerSecond,
            partSize: ByteSize(parsing: partSize)?.bytes ?? PlanOptions.defaultPartSize)
        var planner = Planner(options: options)
        let err = Console.standardError()
        var firstErrors: [Diagnostic] = []
        // Against a state directory: rows are looked up in its journal (read-only), 512 at a time.
        var journal: SQLiteJournal? = nil
        if let stateDir, FileManager.default.fileExists(atPath: stateDir + "/" + SQLiteJournal.databaseName) {
            do {
                journal = try SQLiteJournal(readingFrom: stateDir)
            } catch let error as IngestError {
                err.line("error: \(error.message)")
                err.flush()
                throw ExitStatus.usage.exitCode
            }
        }
        var batch: [IngestItem] = []
        var lookupError: IngestError? = nil
        let replaceChanged = self.replaceChanged
        let deleteReplaced = self.deleteReplaced
        func flush() {
            guard !batch.isEmpty else { return }
            defer { batch.removeAll(keepingCapacity: true) }
            var known = [Registration?](repeating: nil, count: batch.count)
            if let journal, lookupError == nil {
                // One manifest per batch: the journal keys rows by the manifest's absolute path.
                var start = 0
                while start < batch.count {
                    let name = batch[start].location.manifest
                    var end = start
                    while end < batch.count && batch[end].location.manifest == name { end += 1 }
                    let slice = Array(batch[start..<end])
                    let fingerprint = ManifestFingerprint(
                        name: name, path: name == "<stdin>" ? "-" : URL(fileURLWithPath: name).standardizedFileURL.path, sha256: nil)
                    do {
                        let found = try journal.lookup(slice, manifest: fingerprint, values: slice.map { RowValues($0).encoded })
                        for (offset, entry) in found.enumerated() { known[start + offset] = entry }
                    } catch {
                        lookupError = IngestError(
                            code: "journal.unusable", message: "cannot read the journal in \(stateDir ?? ""): \(error)")
                    }
                    start = end
                }
            }
            for (index, item) in batch.enumerated() {
                planner.add(item, known: known[index], replaceChanged: replaceChanged, deleteReplaced: deleteReplaced)
            }
        }
        let summary = input.pipeline().run(
            manifests: input.manifests,
            onDiagnostic: { d in if d.severity == .error, firstErrors.count < 5 { firstErrors.append(d) } },
            onRow: { outcome in
                if let item = outcome.item {
                    if stateDir == nil {
                        planner.add(item)
                    } else {
                        batch.append(item)
                        if batch.count >= 512 { flush() }
                    }
                } else {
                    planner.addInvalid()
                    if firstErrors.count < 5, let d = outcome.diagnostics.first(where: { $0.severity == .error }) {
                        firstErrors.append(d)
                    }
                }
            })
        flush()
        journal?.close()
        if let lookupError {
            err.line("error: \(lookupError.message)")
            err.flush()
            throw ExitStatus.usage.exitCode
        }
        let plan = planner.finish(manifests: summary.manifests)
        let out = Console.standardOutput()
        if format == .json {
            out.line(JSON.encode(PlanDocument(plan: plan, validation: summary), pretty: true))
        } else {
            PlanText.render(plan, summary: summary, to: out)
        }
        out.flush()
        if !firstErrors.isEmpty {
            err.line(
                "\(summary.invalid) invalid row\(summary.invalid == 1 ? "" : "s") and \(summary.manifestErrors + summary.unreadable.count) manifest problem(s) left out of the plan; first:"
            )
            for d in firstErrors {
                err.line("  \(d.manifest)\(d.line.map { ":\($0)" } ?? ""): [\(d.code)] \(d.message)")
            }
            err.line("Run `vodingest validate` on the same manifests for the full list.")
            err.flush()
        }
        let status = ValidateCommand.status(for: summary)
        if status != .success { throw status.exitCode }
    }
}

/// `plan --format json`: the plan and the validation counts.
struct PlanDocument: Encodable {
    var plan: Plan
    var validation: ValidationSummary
}

enum PlanText {
    static func render(_ p: Plan, summary: ValidationSummary, to out: Console) {
        func pad(_ label: String) -> String { "  " + label.padding(toLength: 16, withPad: " ", startingAt: 0) }
        let profile = ProviderProfile.named(p.provider)
        out.line("Plan for \(p.manifests.count) manifest\(p.manifests.count == 1 ? "" : "s") on \(profile?.displayName ?? p.provider)")
        out.line(pad("rows") + "\(p.rows): \(p.items) to upload, \(p.invalid) invalid left out")
        if let d = p.delta {
            out.line(
                pad("against journal") + "\(d.new) new, \(d.retried) to retry, \(d.resumed) to resume, \(d.unchanged) unchanged, "
                    + "\(d.updated) to update in place, \(d.changed) changed"
                    + (d.replaceChanged
                        ? " (uploaded anew\(d.deleteReplaced ? ", the old media deleted" : "")), "
                        : " (reported, not replaced: --replace-changed), ")
                    + "\(d.toCheck) to check (only the modification time changed)")
        }
        var media = "\(p.items) file\(p.items == 1 ? "" : "s"), \(ByteSize.format(p.mediaBytes))"
        if p.packageFiles > 0 { media += " (with the \(p.packageFiles) files of HLS packages)" }
        if p.unknownSizes > 0 { media += " (\(p.unknownSizes) of unknown size: file checks were off)" }
        out.line(pad("media") + media)
        out.line(pad("covers") + "\(p.covers) file\(p.covers == 1 ? "" : "s"), \(ByteSize.format(p.coverBytes))")
        if let l = p.largest {
            out.line(pad("largest") + "\(l.path) (\(ByteSize.format(l.size)); id \(l.id), \(l.manifest) line \(l.line))")
        }
        out.line(
            pad("object storage")
                + "\(p.simpleUploads) single PUT\(p.simpleUploads == 1 ? "" : "s"), \(p.multipartUploads) multipart upload\(p.multipartUploads == 1 ? "" : "s") in \(p.parts) parts of \(ByteSize.format(p.partSize)); \(p.storageRequests) requests"
        )
        let budgets = (profile?.actionRates(region: nil) ?? [:]).filter { name, _ in
            profile.map { [$0.actions.prepare, $0.actions.complete, $0.actions.cover, $0.actions.metadata].contains(name) } ?? false
        }
        let perAction = budgets.sorted { $0.key < $1.key }.map { "\($0.key) \(RequestRate(perSecond: $0.value))" }.joined(separator: ", ")
        out.line(
            pad("API calls") + "\(p.apiCalls) (\(profile?.uploadActions ?? "upload actions")) at \(RequestRate(perSecond: p.apiRate))"
                + (perAction.isEmpty ? "" : " (each action its own budget: \(perAction))"))
        out.line(pad("concurrency") + "\(p.concurrency) files at once")
        let bw = "\(ByteRate(bytesPerSecond: p.bandwidth))\(p.bandwidthAssumed ? " (assumed: 1 Gbit/s; set --bandwidth)" : "")"
        out.line(pad("bandwidth") + bw)
        let e = p.estimate
        out.line(
            pad("estimate") + "\(formatDuration(e.seconds)), limited by \(e.bottleneck == "bandwidth" ? "bandwidth" : "the API rate")"
                + " (transfer \(formatDuration(e.bandwidthSeconds)), API calls \(formatDuration(e.apiSeconds)))")
        if let risk = p.credentialRisk {
            out.line(
                pad("at risk") + "\(risk.count) file\(risk.count == 1 ? "" : "s") would take longer than the upload credentials last "
                    + "(\(formatDuration(Double(risk.lifetimeSeconds)))) at \(ByteRate(bytesPerSecond: p.bandwidth / Double(max(1, p.concurrency)))) each "
                    + "(bandwidth / concurrency); \(profile?.displayName ?? p.provider) cannot refresh them, so such a file starts over. "
                    + "Raise --bandwidth, lower --concurrency, or upload them on their own:")
            for l in risk.examples {
                out.line("      \(l.path) (\(ByteSize.format(l.size)); id \(l.id), \(l.manifest) line \(l.line))")
            }
        }
    }
}
