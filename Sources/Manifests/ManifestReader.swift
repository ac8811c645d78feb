import IngestCore

/// A streaming manifest reader: hands out rows and manifest-level diagnostics in document order.
///
/// A fatal problem (no `path` column, malformed XML, a DTD) is emitted as an error diagnostic and
/// ends the stream; I/O failures are thrown.
public protocol ManifestReader {
    func read(_ emit: (ManifestRecord) throws -> Void) throws
}

/// The formats a manifest may be in.
public enum ManifestFormat: String, Sendable, CaseIterable {
    case csv, xml

    /// Detects the format from the first bytes: XML starts with `<` after an optional BOM and
    /// whitespace; anything else is CSV.
    public static func detect(prefix: [UInt8]) -> ManifestFormat {
        var i = 0
        if prefix.count >= 3, prefix[0] == 0xEF, prefix[1] == 0xBB, prefix[2] == 0xBF { i = 3 }
        while i < prefix.count, [0x20, 0x09, 0x0A, 0x0D].contains(prefix[i]) { i += 1 }
        return i < prefix.count && prefix[i] == UInt8(ascii: "<") ? .xml : .csv
    }
}

/// Opens a manifest by name (`-` is standard input) and returns a reader of the right format.
public enum ManifestOpener {
    /// The name diagnostics use for standard input.
    public static let standardInputName = "<stdin>"

    /// - Returns: the display name and a reader.
    /// - Throws: ``IngestError`` `manifest.unreadable` when the file cannot be opened.
    public static func open(_ argument: String) throws(IngestError) -> (name: String, reader: any ManifestReader) {
        let source: ByteSource
        let name: String
        if argument == "-" {
            source = ByteSource(descriptor: 0)
            name = standardInputName
        } else {
            source = try ByteSource(path: argument)
            name = argument
        }
        let prefix = try source.peek(512)
        switch ManifestFormat.detect(prefix: prefix) {
        case .csv: return (name, CSVManifestReader(source: source, manifest: name))
        case .xml: return (name, XMLManifestReader(source: source, manifest: name))
        }
    }
}
