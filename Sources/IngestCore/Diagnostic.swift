/// Where a manifest row came from: the manifest as the user named it and the 1-based line on
/// which the row starts (a CSV record with embedded newlines starts on its first line).
public struct SourceLocation: Sendable, Hashable, Codable {
    /// The manifest as given on the command line (`-` is shown as `<stdin>`).
    public var manifest: String
    /// 1-based line number of the first line of the row.
    public var line: Int

    public init(manifest: String, line: Int) {
        self.manifest = manifest
        self.line = line
    }
}

/// How bad a diagnostic is.
public enum Severity: String, Sendable, Hashable, Codable, Comparable {
    /// The row will be uploaded; something deserves a look.
    case warning
    /// The row will not be uploaded.
    case error

    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        lhs == .warning && rhs == .error
    }
}

/// A stable, dotted diagnostic code (`path.missing`, `metadata.too-long`, ...).
///
/// Users and scripts match on these strings; once shipped a code is never renamed.
public struct DiagnosticCode: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

extension DiagnosticCode {
    // Manifest level.
    public static let manifestMalformed: DiagnosticCode = "manifest.malformed"
    public static let manifestMissingColumn: DiagnosticCode = "manifest.missing-column"
    public static let manifestUnknownColumn: DiagnosticCode = "manifest.unknown-column"
    public static let manifestUnreadable: DiagnosticCode = "manifest.unreadable"
    public static let manifestEmpty: DiagnosticCode = "manifest.empty"
    // Row identity.
    public static let rowDuplicateID: DiagnosticCode = "row.duplicate-id"
    public static let rowDuplicateFile: DiagnosticCode = "row.duplicate-file"
    // Media file.
    public static let pathMissing: DiagnosticCode = "path.missing"
    public static let pathNotRegularFile: DiagnosticCode = "path.not-regular-file"
    public static let pathUnreadable: DiagnosticCode = "path.unreadable"
    public static let pathOutsideRoot: DiagnosticCode = "path.outside-root"
    /// A control character (NUL, newline, escape, ...) or invalid UTF-8: no file is looked up.
    public static let pathInvalid: DiagnosticCode = "path.invalid"
    public static let fileEmpty: DiagnosticCode = "file.empty"
    public static let extensionUnsupported: DiagnosticCode = "extension.unsupported"
    public static let extensionNone: DiagnosticCode = "extension.none"
    public static let contentMismatch: DiagnosticCode = "content.mismatch"
    public static let checksumMismatch: DiagnosticCode = "checksum.mismatch"
    // Cover image: the same checks under the `cover.` prefix.
    public static let coverMissing: DiagnosticCode = "cover.missing"
    public static let coverNotRegularFile: DiagnosticCode = "cover.not-regular-file"
    public static let coverUnreadable: DiagnosticCode = "cover.unreadable"
    public static let coverOutsideRoot: DiagnosticCode = "cover.outside-root"
    public static let coverInvalid: DiagnosticCode = "cover.invalid"
    public static let coverEmpty: DiagnosticCode = "cover.empty"
    public static let coverExtensionUnsupported: DiagnosticCode = "cover.extension-unsupported"
    public static let coverContentMismatch: DiagnosticCode = "cover.content-mismatch"
    // Metadata.
    public static let metadataTooLong: DiagnosticCode = "metadata.too-long"
    public static let metadataInvalid: DiagnosticCode = "metadata.invalid"
    /// The platform has no parameter for this field (Alibaba: expire_time).
    public static let fieldUnsupported: DiagnosticCode = "field.unsupported"
    // HLS packages.
    public static let hlsUnreadable: DiagnosticCode = "hls.unreadable"
    public static let hlsSegmentURL: DiagnosticCode = "hls.segment-url"
    public static let hlsSegmentOutside: DiagnosticCode = "hls.segment-outside"
    public static let hlsSegmentMissing: DiagnosticCode = "hls.segment-missing"
    public static let hlsTooLarge: DiagnosticCode = "hls.too-large"
}

/// One finding about a manifest or a row: what, where, how bad, and a sentence a person understands.
public struct Diagnostic: Sendable, Hashable, Codable {
    /// The manifest as the user named it.
    public var manifest: String
    /// 1-based line of the row (or of the header / element); `nil` for the manifest as a whole.
    public var line: Int?
    /// The row's id when it is known.
    public var id: String?
    /// The column or element concerned (`path`, `cover`, `title`, `meta.season`, ...).
    public var field: String?
    /// Stable code, see ``DiagnosticCode``.
    public var code: DiagnosticCode
    /// Error: the row is not uploaded. Warning: it is.
    public var severity: Severity
    /// What happened and what to do, for a person.
    public var message: String

    public init(
        manifest: String, line: Int?, id: String? = nil, field: String? = nil,
        code: DiagnosticCode, severity: Severity = .error, message: String
    ) {
        self.manifest = manifest
        self.line = line
        self.id = id
        self.field = field
        self.code = code
        self.severity = severity
        self.message = message
    }

    /// A diagnostic about a row at `location`.
    public init(
        at location: SourceLocation, id: String? = nil, field: String? = nil,
        code: DiagnosticCode, severity: Severity = .error, message: String
    ) {
        self.init(
            manifest: location.manifest, line: location.line, id: id, field: field,
            code: code, severity: severity, message: message)
    }

    private enum CodingKeys: String, CodingKey {
        case manifest, line, id, field, code, severity, message
    }

    public func encode(to encoder: any Encoder) throws {
        // Keys are always present (null when unknown) so consumers need no optional handling.
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(manifest, forKey: .manifest)
        try c.encode(line, forKey: .line)
        try c.encode(id, forKey: .id)
        try c.encode(field, forKey: .field)
        try c.encode(code, forKey: .code)
        try c.encode(severity, forKey: .severity)
        try c.encode(message, forKey: .message)
    }
}
