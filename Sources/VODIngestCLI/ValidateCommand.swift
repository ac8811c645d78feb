import ArgumentParser
import Foundation
import IngestCore
import Logging
import Manifests

/// `vodingest validate`: read manifests and report every problem, before any byte is sent.
struct ValidateCommand: ParsableCommand, LoggingCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check manifests row by row: extensions, files, content, covers and metadata limits.",
        discussion: """
            Exit status: 0 when no row has an error, 65 when some rows (or a manifest) have errors, 66 when a manifest cannot be opened, 64 for a usage error.

            Examples:
              vodingest validate samples/good.csv samples/good.xml
              vodingest validate --format json --checksums partner/*.csv
              cat list.csv | vodingest validate --root /srv/media -
            """)

    @OptionGroup(title: "Logging") var logging: LogOptions

    @OptionGroup var input: ManifestOptions

    @Option(help: "Output format: text (grouped by manifest and line) or json (one document).")
    var format: OutputFormat = .text

    func run() throws {
        let out = Console.standardOutput()
        let renderer: any DiagnosticRenderer =
            format == .json ? JSONDiagnosticRenderer(out: out) : TextDiagnosticRenderer(out: out)
        renderer.begin()
        let summary = input.pipeline(buildsItems: false).run(
            manifests: input.manifests,
            onDiagnostic: { renderer.manifestDiagnostic($0) },
            onRow: { outcome in
                if !outcome.diagnostics.isEmpty { renderer.row(outcome) }
            })
        renderer.end(summary)
        out.flush()
        let status = Self.status(for: summary)
        if status != .success { throw status.exitCode }
    }

    static func status(for summary: ValidationSummary) -> ExitStatus {
        if !summary.unreadable.isEmpty { return .manifestUnreadable }
        if summary.hasErrors { return .invalidRows }
        return .success
    }
}

/// Renders validation results as they stream by.
protocol DiagnosticRenderer {
    func begin()
    func manifestDiagnostic(_ diagnostic: Diagnostic)
    func row(_ outcome: RowOutcome)
    func end(_ summary: ValidationSummary)
}

/// Text: one block per manifest, one group per line, one line per diagnostic.
final class TextDiagnosticRenderer: DiagnosticRenderer {
    private let out: Console
    private var currentManifest: String?

    init(out: Console) { self.out = out }

    func begin() {}

    private func enter(_ manifest: String) {
        guard manifest != currentManifest else { return }
        if currentManifest != nil { out.line() }
        currentManifest = manifest
        out.line(manifest)
    }

    private func describe(_ d: Diagnostic) -> String {
        let severity = d.severity == .error ? Colour.red("error") + "  " : Colour.yellow("warning")
        let field = d.field.map { "\($0): " } ?? ""
        return
            "\(severity) \(d.code.rawValue.padding(toLength: max(28, d.code.rawValue.count), withPad: " ", startingAt: 0)) \(field)\(d.message)"
    }

    func manifestDiagnostic(_ d: Diagnostic) {
        enter(d.manifest)
        out.line("  \(d.line.map { "line \($0)" } ?? "manifest"): \(describe(d))")
    }

    func row(_ outcome: RowOutcome) {
        enter(outcome.location.manifest)
        out.line("  line \(outcome.location.line)\(outcome.id.map { " (id \($0.visible))" } ?? ""):")
        for d in outcome.diagnostics { out.line("    \(describe(d))") }
    }

    func end(_ s: ValidationSummary) {
        if currentManifest != nil { out.line() }
        let manifests = "\(s.manifests.count) manifest\(s.manifests.count == 1 ? "" : "s")"
        var text =
            "\(manifests), \(s.rows) row\(s.rows == 1 ? "" : "s"): \(s.valid) valid, \(s.invalid) invalid, "
            + "\(s.warnings) warning\(s.warnings == 1 ? "" : "s")"
        if s.manifestErrors > 0 { text += ", \(s.manifestErrors) manifest error\(s.manifestErrors == 1 ? "" : "s")" }
        if !s.unreadable.isEmpty { text += ", \(s.unreadable.count) unreadable" }
        out.line(text)
    }
}

/// JSON: one document, streamed so that a million diagnostics never sit in memory.
///
/// `{"diagnostics":[...],"manifests":[...],"rows":N,"valid":N,"invalid":N,"warnings":N,...}`
final class JSONDiagnosticRenderer: DiagnosticRenderer {
    private let out: Console
    private var first = true

    init(out: Console) { self.out = out }

    func begin() { out.write("{\"diagnostics\":[") }

    private func emit(_ d: Diagnostic) {
        out.write(first ? "\n" : ",\n")
        first = false
        out.write(JSON.encode(d))
    }

    func manifestDiagnostic(_ d: Diagnostic) { emit(d) }

    func row(_ outcome: RowOutcome) { outcome.diagnostics.forEach(emit) }

    func end(_ s: ValidationSummary) {
        out.write(first ? "]," : "\n],")
        out.write("\"manifests\":\(JSON.encode(s.manifests)),\"rows\":\(s.rows),\"valid\":\(s.valid),")
        out.write("\"invalid\":\(s.invalid),\"warnings\":\(s.warnings),\"manifest_errors\":\(s.manifestErrors),")
        out.write("\"unreadable\":\(JSON.encode(s.unreadable))}\n")
    }
}

/// Log events on standard error (`--log-format json` of a command whose standard output carries
/// results): one `row invalid` or `manifest problem` event per diagnostic, with its code, manifest,
/// line, field and message as metadata, then a `validated` event with the counts.
final class LogEventDiagnosticRenderer: DiagnosticRenderer {
    private let out: Console

    init(out: Console) { self.out = out }

    func begin() {}

    private func emit(_ message: String, _ d: Diagnostic, id: String? = nil) {
        var metadata: Logger.Metadata = [
            "code": "\(d.code.rawValue)", "manifest": "\(d.manifest)", "detail": "\(d.message)",
        ]
        if let line = d.line { metadata["line"] = "\(line)" }
        if let field = d.field { metadata["field"] = "\(field)" }
        if let id { metadata["item.id"] = "\(id)" }
        out.write(
            StandardErrorLogHandler.render(
                time: Date(), level: d.severity == .error ? .error : .warning, label: "vodingest.validation", message: message,
                metadata: metadata, format: .json))
    }

    func manifestDiagnostic(_ d: Diagnostic) { emit("manifest problem", d) }

    func row(_ outcome: RowOutcome) {
        for d in outcome.diagnostics { emit(outcome.item == nil ? "row invalid" : "row warning", d, id: outcome.id) }
    }

    func end(_ s: ValidationSummary) {
        out.write(
            StandardErrorLogHandler.render(
                time: Date(), level: .notice, label: "vodingest.validation", message: "validated",
                metadata: [
                    "manifests": "\(s.manifests.count)", "rows": "\(s.rows)", "valid": "\(s.valid)", "invalid": "\(s.invalid)",
                    "warnings": "\(s.warnings)", "manifest_errors": "\(s.manifestErrors)",
                ], format: .json))
    }
}
