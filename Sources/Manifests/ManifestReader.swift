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

/// The compressed formats a manifest is refused in, by their first bytes, with the tool that opens each.
func compression(_ prefix: [UInt8]) -> (name: String, tool: String)? {
    let signatures: [([UInt8], String, String)] = [
        ([0x1F, 0x8B], "a gzip archive", "gunzip -k FILE"), ([0x50, 0x4B, 0x03, 0x04], "a zip archive", "unzip FILE"),
        ([0x42, 0x5A, 0x68], "a bzip2 archive", "bunzip2 -k FILE"),
        ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "an xz archive", "unxz -k FILE"),
        ([0x28, 0xB5, 0x2F, 0xFD], "a zstd archive", "unzstd FILE"),
    ]
    return signatures.first { prefix.starts(with: $0.0) }.map { ($0.1, $0.2) }
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
        if let archive = compression(prefix) {
            throw IngestError(
                code: "manifest.unreadable",
                message:
                    "it is \(archive.name): compressed manifests are not read. Decompress it first (\(archive.tool)) and give the .csv or .xml",
                subject: name)
        }
        switch ManifestFormat.detect(prefix: prefix) {
        case .csv: return (name, CSVManifestReader(source: source, manifest: name))
        case .xml: return (name, XMLManifestReader(source: source, manifest: name))
        }
    }
}
