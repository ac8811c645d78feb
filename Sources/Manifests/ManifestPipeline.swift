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
            do {
                try opened.reader.read { record in
                    switch record {
                    case .diagnostic(let diagnostic):
                        if diagnostic.severity == .error { summary.manifestErrors += 1 } else { summary.warnings += 1 }
                        onDiagnostic(diagnostic)
                    case .row(let row):
                        let outcome = validator.validate(row, in: context)
                        summary.rows += 1
                        if outcome.isValid { summary.valid += 1 } else { summary.invalid += 1 }
                        summary.warnings += outcome.diagnostics.count { $0.severity == .warning }
                        onRow(outcome)
                    }
                }
            } catch let error as IngestError {
                if error.code == DiagnosticCode.manifestMalformed.rawValue {
                    summary.manifestErrors += 1
                    onDiagnostic(Diagnostic(manifest: opened.name, line: nil, code: .manifestMalformed, message: error.message))
                } else {
                    summary.unreadable.append(opened.name)
                    onDiagnostic(Diagnostic(manifest: opened.name, line: nil, code: .manifestUnreadable, message: error.message))
                }
            } catch {
                summary.unreadable.append(opened.name)
                onDiagnostic(Diagnostic(
                    manifest: opened.name, line: nil, code: .manifestUnreadable, message: "reading stopped: \(error)"))
            }
        }
        return summary
    }
}
