import Foundation
import IngestCore

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Reads an XML manifest (`<manifest version="1">`, see manifests/manifest.xsd) as a stream.
///
/// Built on FoundationXML's event-driven `XMLParser` (libxml2), fed 128 KiB at a time, so memory
/// stays flat whatever the size. Hardening: a document type declaration (`<!DOCTYPE`) in the prolog
/// is refused before any byte reaches libxml2, so there are no internal or external entities to
/// expand (no XXE, no billion laughs); entity declarations seen anyway abort the parse; external
/// entities are never resolved. Only the five predefined entities and character references work.
public struct XMLManifestReader: ManifestReader {
    private let source: ByteSource
    private let manifest: String

    public init(source: ByteSource, manifest: String) {
        self.source = source
        self.manifest = manifest
    }

    public func read(_ emit: (ManifestRecord) throws -> Void) throws {
        let stream = GuardedInputStream(source: source)
        let parser = XMLParser(stream: stream)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        // The handler holds `emit` only for the duration of parse(); only its findings leave.
        let (ok, handler) = withoutActuallyEscaping(emit) { escapable in
            let handler = XMLManifestHandler(manifest: manifest, emit: escapable)
            parser.delegate = handler
            let ok = parser.parse()
            parser.delegate = nil
            return (ok, handler.findings)
        }
        if let thrown = handler.thrown { throw thrown }
        if let ioError = stream.ioError { throw ioError }
        if let refusal = stream.refusal {
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: refusal.line, code: .manifestMalformed, message: refusal.message)))
            return
        }
        if let fatal = handler.fatal {
            try emit(.diagnostic(fatal))
            return
        }
        if !ok || !handler.finished {
            let reason: String
            if let error = parser.parserError as NSError? {
                reason = XMLManifestHandler.describe(error)
            } else if !handler.sawRoot {
                reason = "no <manifest> element was found"
            } else {
                reason = "the document ends before </manifest>; the file may be truncated"
            }
            try emit(
                .diagnostic(
                    Diagnostic(
                        manifest: manifest, line: max(parser.lineNumber, 1), code: .manifestMalformed,
                        message: "the XML is not well-formed: \(reason)")))
        }
    }
}

/// Why the prolog guard refused a document.
struct PrologRefusal: Sendable, Equatable {
    var line: Int
    var message: String
}

/// Decides from the bytes before the root element whether a document may be parsed.
enum PrologScanner {
    enum Verdict: Equatable {
        case needMore
        case accept
        case refuse(PrologRefusal)
    }

    /// The `encoding` pseudo-attribute of an XML declaration (`xml version="1.0" encoding="..."`).
    /// Every `encoding` followed by `=` counts (one inside another value, `version="encoding"`,
    /// must not hide the real one): the first such value, or an empty string for `encoding=`
    /// without a quoted value (refused too: libxml2 reads what it can).
    static func encoding(in declaration: String) -> String? {
        var searchFrom = declaration.startIndex
        while let range = declaration.range(of: "encoding", range: searchFrom..<declaration.endIndex) {
            searchFrom = range.upperBound
            var rest = declaration[range.upperBound...].drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
            guard rest.first == "=" else { continue }
            rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
            guard let quote = rest.first, quote == "\"" || quote == "'" else { return String(rest.prefix { !$0.isWhitespace }) }
            return String(rest.dropFirst().prefix { $0 != quote })
        }
        return nil
    }

    /// Largest prolog (declarations, comments, processing instructions) accepted.
    static let maximumPrologBytes = 1 << 20

    /// Scans `bytes` (the start of the document) up to the root element.
    static func scan(_ bytes: [UInt8], atEnd: Bool) -> Verdict {
        var i = 0
        let n = bytes.count
        if n >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        func lineAt(_ index: Int) -> Int { 1 + bytes[..<index].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
        func find(_ needle: [UInt8], from: Int) -> Int? {
            guard needle.count <= n else { return nil }
            var j = from
            while j + needle.count <= n {
                if bytes[j] == needle[0], Array(bytes[j..<(j + needle.count)]) == needle { return j }
                j += 1
            }
            return nil
        }
        while true {
            while i < n, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
            if i >= n { return atEnd ? .accept : .needMore }
            // Before the root only markup may come. A document in UTF-16, UTF-32 or EBCDIC (which
            // libxml2 would detect and convert) does not start with `<` in UTF-8: refused.
            guard bytes[i] == UInt8(ascii: "<") else {
                return .refuse(
                    PrologRefusal(
                        line: lineAt(i),
                        message: "the document does not start with markup in UTF-8 (UTF-16, UTF-32 and other encodings are "
                            + "refused): save the manifest as UTF-8"))
            }
            if i + 1 >= n { return atEnd ? .accept : .needMore }
            switch bytes[i + 1] {
            case UInt8(ascii: "?"):
                // The XML declaration's encoding: a manifest is UTF-8. libxml2's push parser, which
                // XMLParser drives, dereferences a null handler for an encoding it cannot convert
                // (UTF-7 crashed the process: found by scripts/fuzz xml), so nothing else reaches it.
                // libxml2 reads the encoding even from a declaration that never closes, so the
                // declaration is taken to its first `>`, closed or not.
                if n - i >= 5, Array(bytes[i..<(i + 5)]) == Array("<?xml".utf8) {
                    guard let end = bytes[(i + 2)...].firstIndex(of: UInt8(ascii: ">")) ?? (atEnd ? n : nil) else { return .needMore }
                    let declaration = String(decoding: bytes[(i + 2)..<end], as: UTF8.self)
                    if let encoding = Self.encoding(in: declaration), !["utf-8", "utf8"].contains(encoding.lowercased()) {
                        return .refuse(
                            PrologRefusal(
                                line: lineAt(i),
                                message: "the XML declaration says encoding=\"\(encoding.prefix(40))\"; a manifest is UTF-8: "
                                    + "save it as UTF-8 and declare encoding=\"UTF-8\" (or no encoding)"))
                    }
                }
                guard let close = find(Array("?>".utf8), from: i + 2) else { return atEnd ? .accept : .needMore }
                i = close + 2
            case UInt8(ascii: "!"):
                if n - i < 9 { return atEnd ? .accept : .needMore }
                if Array(bytes[i..<(i + 4)]) == Array("<!--".utf8) {
                    guard let close = find(Array("-->".utf8), from: i + 4) else {
                        return atEnd ? .accept : .needMore
                    }
                    i = close + 3
                    continue
                }
                let word = String(decoding: bytes[(i + 2)..<(i + 9)], as: UTF8.self).uppercased()
                if word == "DOCTYPE" {
                    return .refuse(
                        PrologRefusal(
                            line: lineAt(i),
                            message: "document type declarations (<!DOCTYPE ...>) are refused: a manifest may not "
                                + "declare entities or load external files. Remove the DOCTYPE line."))
                }
                return .accept
            default:
                return .accept
            }
        }
    }
}

/// Finds processing instructions (`<?target ...?>`) anywhere in a document, outside comments and
/// CDATA sections, as the bytes stream by; the XML declaration at the very start is allowed.
/// FoundationXML passes an instruction's data to `strlen`, and libxml2 gives none for `<?x?>`: a
/// SIGSEGV (found by scripts/fuzz xml). A manifest has no use for them, so every one is refused
/// before the parser sees its chunk.
struct InstructionScanner {
    private enum State {
        case text, open, bang, bangDash, cdataOpen(Int), comment, commentDash, commentDashDash, cdata, cdataBracket,
            cdataBracketBracket, declarationName(Int), declaration, declarationQuestion
    }
    private var state = State.text
    private var offset = 0
    private var line = 1
    private static let cdata = Array("[CDATA[".utf8)

    /// Feeds the next bytes; the line of the first instruction, if these bytes hold one.
    mutating func feed(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        for b in bytes {
            defer { offset += 1 }
            if b == 0x0A { line += 1 }
            switch state {
            case .text:
                if b == UInt8(ascii: "<") { state = .open }
            case .open:
                switch b {
                case UInt8(ascii: "?"):
                    // `<?xml ` at the start (after a UTF-8 BOM): the declaration, checked by PrologScanner.
                    if offset == 1 || offset == 4 {
                        state = .declarationName(0)
                    } else {
                        return line
                    }
                case UInt8(ascii: "!"): state = .bang
                case UInt8(ascii: "<"): state = .open
                default: state = .text
                }
            case .bang:
                state = b == UInt8(ascii: "-") ? .bangDash : b == Self.cdata[0] ? .cdataOpen(1) : .text
            case .bangDash:
                state = b == UInt8(ascii: "-") ? .comment : .text
            case .cdataOpen(let matched):
                if b == Self.cdata[matched] {
                    state = matched + 1 == Self.cdata.count ? .cdata : .cdataOpen(matched + 1)
                } else {
                    state = b == UInt8(ascii: "<") ? .open : .text
                }
            case .comment:
                if b == UInt8(ascii: "-") { state = .commentDash }
            case .commentDash:
                state = b == UInt8(ascii: "-") ? .commentDashDash : .comment
            case .commentDashDash:
                state = b == UInt8(ascii: ">") ? .text : b == UInt8(ascii: "-") ? .commentDashDash : .comment
            case .cdata:
                if b == UInt8(ascii: "]") { state = .cdataBracket }
            case .cdataBracket:
                state = b == UInt8(ascii: "]") ? .cdataBracketBracket : .cdata
            case .cdataBracketBracket:
                state = b == UInt8(ascii: ">") ? .text : b == UInt8(ascii: "]") ? .cdataBracketBracket : .cdata
            case .declarationName(let matched):
                if matched < 3 {
                    guard b == Array("xml".utf8)[matched] else { return line }
                    state = .declarationName(matched + 1)
                } else {
                    guard b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D else { return line }
                    state = .declaration
                }
            case .declaration:
                if b == UInt8(ascii: "?") { state = .declarationQuestion }
            case .declarationQuestion:
                state = b == UInt8(ascii: ">") ? .text : b == UInt8(ascii: "?") ? .declarationQuestion : .declaration
            }
        }
        return nil
    }
}

/// An `InputStream` over a ``ByteSource`` that lets libxml2 see the document only after the
/// prolog has been checked by ``PrologScanner``.
final class GuardedInputStream: InputStream {
    private let source: ByteSource
    private var prolog: [UInt8] = []
    private var held: [UInt8] = []
    private var prologChecked = false
    private var finished = false
    private(set) var refusal: PrologRefusal?
    private(set) var ioError: IngestError?

    private var instructions = InstructionScanner()

    init(source: ByteSource) {
        self.source = source
        super.init(data: Data())
    }

    /// `n` when the bytes hold no processing instruction; else the refusal, and the end.
    private func screened(_ buffer: UnsafeMutablePointer<UInt8>, _ n: Int) -> Int {
        if let line = instructions.feed(UnsafeBufferPointer(start: buffer, count: n)) {
            refusal = PrologRefusal(
                line: line,
                message: "processing instructions (<?...?>) are refused: a manifest is elements and text. Remove the <?...?> on this line")
            finished = true
            return 0
        }
        return n
    }

    override func open() {}
    override func close() {}
    override var hasBytesAvailable: Bool { !finished }
    override var streamStatus: Stream.Status { finished ? .atEnd : .open }

    override func read(_ buffer: UnsafeMutablePointer<UInt8>, maxLength len: Int) -> Int {
        if finished { return 0 }
        if !prologChecked {
            // Accumulate until the verdict is known; nothing reaches the parser before that.
            while !prologChecked {
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                let n: Int
                do {
                    n = try chunk.withUnsafeMutableBytes { raw in
                        try source.read(into: raw.baseAddress!, count: raw.count)
                    }
                } catch let error as IngestError {
                    ioError = error
                    finished = true
                    return 0
                } catch {
                    finished = true
                    return 0
                }
                prolog.append(contentsOf: chunk[0..<n])
                switch PrologScanner.scan(prolog, atEnd: n == 0) {
                case .needMore:
                    if prolog.count > PrologScanner.maximumPrologBytes {
                        refusal = PrologRefusal(line: 1, message: "the XML prolog is larger than 1 MiB")
                        finished = true
                        return 0
                    }
                case .accept:
                    prologChecked = true
                    held = prolog
                    prolog = []
                case .refuse(let why):
                    refusal = why
                    finished = true
                    return 0
                }
            }
        }
        if !held.isEmpty {
            let n = min(len, held.count)
            held.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: n) }
            held.removeFirst(n)
            return screened(buffer, n)
        }
        do {
            let n = try source.read(into: buffer, count: len)
            if n == 0 { finished = true }
            return screened(buffer, n)
        } catch {
            ioError = error
            finished = true
            return 0
        }
    }
}

/// The SAX-style delegate that turns element events into ``ManifestRow``s.
final class XMLManifestHandler: NSObject, XMLParserDelegate {
    private let manifest: String
    private let emit: (ManifestRecord) throws -> Void
    private var stack: [String] = []
    private var text = ""
    private var collecting = false
    private var row: ManifestRow?
    /// Elements (and `meta` names) already given by the current item: a second one is an error,
    /// whatever <defaults> said.
    private var seen: Set<String> = []
    private var metaName: String?
    private var defaults = ManifestRow(location: SourceLocation(manifest: "", line: 0))
    private var warnedUnknown: Set<String> = []
    private(set) var thrown: (any Error)?
    private(set) var fatal: Diagnostic?
    private(set) var finished = false
    private(set) var sawRoot = false

    /// What the parse found, without the `emit` closure.
    struct Findings {
        var thrown: (any Error)?
        var fatal: Diagnostic?
        var finished: Bool
        var sawRoot: Bool
    }

    var findings: Findings { Findings(thrown: thrown, fatal: fatal, finished: finished, sawRoot: sawRoot) }
    private var rows = 0

    init(manifest: String, emit: @escaping (ManifestRecord) throws -> Void) {
        self.manifest = manifest
        self.emit = emit
    }

    private static let itemTextElements: [String: ManifestField] = [
        "title": .title, "description": .description, "category": .category, "procedure": .procedure,
        "storage-region": .storageRegion, "expire-time": .expireTime, "source-context": .sourceContext,
    ]
    private static let defaultAttributes: [String: ManifestField] = [
        "procedure": .procedure, "storage-region": .storageRegion, "category": .category,
        "expire-time": .expireTime, "source-context": .sourceContext,
    ]

    static func describe(_ error: NSError) -> String {
        if let text = error.userInfo[NSLocalizedDescriptionKey] as? String, !text.isEmpty {
            return text.trimmedSpaces()
        }
        if let code = XMLParser.ErrorCode(rawValue: error.code) {
            return "libxml2 error \(error.code) (\(code))"
        }
        return "libxml2 error \(error.code)"
    }

    private func send(_ record: ManifestRecord, parser: XMLParser) {
        guard thrown == nil else { return }
        do { try emit(record) } catch {
            thrown = error
            parser.abortParsing()
        }
    }

    private func stop(_ parser: XMLParser, code: DiagnosticCode = .manifestMalformed, field: String? = nil, _ message: String) {
        if fatal == nil {
            fatal = Diagnostic(
                manifest: manifest, line: max(parser.lineNumber, 1), field: field, code: code, message: message)
        }
        parser.abortParsing()
    }

    private func warnUnknown(_ parser: XMLParser, _ what: String, _ message: String) {
        guard warnedUnknown.insert(what).inserted else { return }
        send(
            .diagnostic(
                Diagnostic(
                    manifest: manifest, line: parser.lineNumber, field: what, code: .manifestUnknownColumn,
                    severity: .warning, message: message + " (reported once per manifest)")), parser: parser)
    }

    private func rowProblem(_ parser: XMLParser, field: String?, _ message: String) {
        guard var current = row else { return }
        current.readProblems.append(
            Diagnostic(
                at: current.location, id: current.id, field: field, code: .manifestMalformed, message: message))
        row = current
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        defer { stack.append(name) }
        switch stack.count {
        case 0:
            sawRoot = true
            guard name == "manifest" else {
                stop(parser, "the root element is <\(name)>; an XML manifest starts with <manifest version=\"1\">")
                return
            }
            if let version = attributes["version"], version != "1" {
                stop(parser, "manifest version \"\(version)\" is not supported; this tool reads version 1")
            }
        case 1:
            switch name {
            case "defaults":
                for (key, value) in attributes {
                    if let field = Self.defaultAttributes[key] {
                        defaults.set(field, value)
                    } else {
                        warnUnknown(parser, "defaults@\(key)", "unknown attribute `\(key)` on <defaults> is ignored")
                    }
                }
            case "item":
                var fresh = defaults
                fresh.location = SourceLocation(manifest: manifest, line: parser.lineNumber)
                fresh.readProblems = []
                if let id = attributes["id"] { fresh.id = id.isEmpty ? nil : id }
                row = fresh
                seen = []
            default:
                warnUnknown(parser, name, "unknown element <\(name)> is ignored")
            }
        case 2 where stack[1] == "item":
            collecting = false
            let key = name == "meta" ? "meta:\(attributes["name"] ?? "")" : name
            if !seen.insert(key).inserted {
                let shown = name == "meta" ? "<meta name=\"\(attributes["name"] ?? "")\">" : "<\(name)>"
                rowProblem(
                    parser, field: name == "meta" ? "meta.\(attributes["name"] ?? "")" : name,
                    "\(shown) appears more than once in the item")
            }
            switch name {
            case "media":
                guard let path = attributes["path"], !path.isEmpty else {
                    rowProblem(parser, field: "path", "<media> has no path attribute")
                    return
                }
                row?.path = path
                if let md5 = attributes["md5"] { row?.md5 = md5.isEmpty ? nil : md5 }
                if let sha = attributes["sha256"] { row?.sha256 = sha.isEmpty ? nil : sha }
            case "cover":
                if let path = attributes["path"], !path.isEmpty {
                    row?.cover = path
                } else {
                    rowProblem(parser, field: "cover", "<cover> has no path attribute")
                }
            case "tags":
                row?.tags = []
            case "meta":
                metaName = attributes["name"]
                if metaName?.isEmpty ?? true { rowProblem(parser, field: "meta", "<meta> has no name attribute") }
                text = ""
                collecting = true
            default:
                if Self.itemTextElements[name] != nil {
                    text = ""
                    collecting = true
                } else {
                    warnUnknown(parser, name, "unknown element <\(name)> in <item> is ignored")
                }
            }
        case 3 where stack[1] == "item" && stack[2] == "tags":
            if name == "tag" {
                text = ""
                collecting = true
            } else {
                warnUnknown(parser, "tags/\(name)", "unknown element <\(name)> in <tags> is ignored")
            }
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
        switch stack.count {
        case 0:
            finished = true
            if rows == 0 {
                send(
                    .diagnostic(
                        Diagnostic(
                            manifest: manifest, line: parser.lineNumber, code: .manifestEmpty, severity: .warning,
                            message: "the manifest has no <item> elements")), parser: parser)
            }
        case 1 where name == "item":
            if var done = row {
                if done.path == nil {
                    done.readProblems.append(
                        Diagnostic(
                            at: done.location, id: done.id, field: "path", code: .manifestMissingColumn,
                            message: "the item has no <media path=\"...\"/>; every item needs its media file"))
                }
                rows += 1
                row = nil
                send(.row(done), parser: parser)
            }
        case 2 where stack[1] == "item":
            guard collecting else { return }
            collecting = false
            let value = text.trimmedSpaces()
            if name == "meta" {
                if let metaName, !metaName.isEmpty { row?.set(.meta(metaName), value) }
            } else if let field = Self.itemTextElements[name] {
                row?.set(field, value)
            }
        case 3 where stack[2] == "tags" && name == "tag":
            collecting = false
            let value = text.trimmedSpaces()
            if !value.isEmpty { row?.tags.append(value) }
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if collecting { text += string }
    }

    func parser(_ parser: XMLParser, foundCDATA block: Data) {
        if collecting { text += String(decoding: block, as: UTF8.self) }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred error: any Error) {
        stop(parser, "the XML is not well-formed: \(Self.describe(error as NSError))")
    }

    func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) {
        stop(parser, "entity declarations are refused (entity `\(name)`)")
    }

    func parser(
        _ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?
    ) {
        stop(parser, "external entities are refused (entity `\(name)`)")
    }

    func parser(
        _ parser: XMLParser, foundUnparsedEntityDeclarationWithName name: String, publicID: String?,
        systemID: String?, notationName: String?
    ) {
        stop(parser, "entity declarations are refused (entity `\(name)`)")
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        stop(parser, "external entities are refused (entity `\(name)`)")
        return nil
    }
}
