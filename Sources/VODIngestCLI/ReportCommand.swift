import ArgumentParser
import Foundation
import IngestCore
import IngestEngine
import JournalSQLite

extension ReportBuilder.Format: ExpressibleByArgument {}

/// `vodingest report`: the reconciliation report, built from the journal at any time (mid-run too).
struct ReportCommand: AsyncParsableCommand, ConfigurableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the reconciliation report of a state directory from its journal (also while a run goes on).",
        discussion: """
            One row per manifest row: manifest, line, id, path, size, md5, status (committed, skipped, invalid, failed, pending), file_id, media_url, cover_url, title, source_context, duplicate_of, error_code, error_message, attempts, request ids and timestamps, platform_status, crc64, metadata_error, what a later delivery did (change, change_detail, changed_at, replaced_file_id, replaced_deleted, delete_error) and what the platform said after the upload (upload_event_at, procedure_task_id, procedure_status, procedure_status_at). The summary index (runs, manifests with their SHA-256, tool version, counts per status, bytes, duration) is in the JSON and HTML reports, and next to a CSV or JSONL --output as <output>.summary.json.

            CSV cells starting with =, +, - or @ get a leading ' so a spreadsheet never runs them.

            Examples:
              vodingest report --state-dir vodingest-state > report.csv
              vodingest report --state-dir vodingest-state --format html --output report.html
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @Option(
        name: .customLong("state-dir"), help: ArgumentHelp("The state directory of an ingest (default: vodingest-state).", valueName: "dir")
    )
    var stateDirFlag: String?

    @Option(
        help: ArgumentHelp(
            "A configuration file (default: vodingest.yaml in the state directory); its state_dir and log keys apply.", valueName: "file"))
    var config: String?

    var stateDir: String { stateDirFlag ?? "vodingest-state" }
    var flagSettings: [String: String] {
        ["state_dir": stateDirFlag, "log.level": logging.logLevel?.rawValue, "log.format": logging.logFormat?.rawValue].compactMapValues {
            $0
        }
    }
    var platformSection: String { "tencent" }
    mutating func configure(_ c: EffectiveConfiguration) throws { stateDirFlag = c.string("state_dir") }
    func check() throws {}

    @Option(help: "csv, jsonl, json (rows and summary in one document) or html (one self-contained page).")
    var format: ReportBuilder.Format = .csv

    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var output: String?

    @Option(help: ArgumentHelp("Only the rows of this manifest (repeatable); default: every row of the journal.", valueName: "manifest"))
    var manifest: [String] = []

    func run() async throws {
        let journal: SQLiteJournal
        do {
            journal = try SQLiteJournal(readingFrom: stateDir)
        } catch let error as IngestError {
            StandardError.say("error: \(error.message)")
            throw ExitStatus.manifestUnreadable.exitCode
        }
        do {
            let out = try output.map { try ReportOutput(path: $0) } ?? ReportOutput(handle: .standardOutput, closes: false)
            let paths = manifest.isEmpty ? nil : manifest.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
            let summary = try await ReportBuilder.write(
                format, journal: journal, manifestPaths: paths, toolVersion: VODIngestCommand.version, to: out)
            if let output, format == .csv || format == .jsonl {
                try Data((JSON.encode(summary, pretty: true) + "\n").utf8).write(to: URL(fileURLWithPath: output + ".summary.json"))
            }
            let counts = ["committed", "skipped", "invalid", "failed", "pending"].map { "\(summary.counts[$0] ?? 0) \($0)" }
            var text = "\(summary.rows) rows: " + counts.joined(separator: ", ")
            if !summary.complete { text += " (not complete: a run is going on, was interrupted, or rows are pending)" }
            if let output { text += "\nreport: \(output)" }
            StandardError.say(text)
        } catch let error as IngestError {
            StandardError.say("error: \(error.message)")
            throw ExitStatus.usage.exitCode
        }
    }
}
