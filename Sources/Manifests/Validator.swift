import Foundation
import IngestCore

/// What validation checks and against which platform's limits.
public struct ValidationOptions: Sendable {
    /// The platform whose limits apply (`--provider`).
    public var profile: ProviderProfile
    /// Touch the disk: existence, type, readability, size, confinement after symlinks, sniffing.
    /// Off (`--no-file-checks`), only the path's text is checked.
    public var fileChecks: Bool
    /// Compute MD5/SHA-256 of files whose row gives an expected checksum (`--checksums`).
    public var checksums: Bool
    /// "Now", for `expire_time` in the past.
    public var now: Date
    /// Build the ``IngestItem`` of each valid row (`plan` and `ingest` need them; `validate` only
    /// reports, and skips the work).
    public var buildsItems: Bool

    public init(
        profile: ProviderProfile = .tencent, fileChecks: Bool = true, checksums: Bool = false, now: Date = Date(),
        buildsItems: Bool = true
    ) {
        self.profile = profile
        self.fileChecks = fileChecks
        self.checksums = checksums
        self.now = now
        self.buildsItems = buildsItems
    }
}

/// The manifest a row belongs to, as validation needs it.
public struct ManifestContext: Sendable {
    public var name: String
    /// Index given by ``Validator/register(manifest:)``.
    public var index: Int
    public var root: ValidationRoot

    public init(name: String, index: Int, root: ValidationRoot) {
        self.name = name
        self.index = index
        self.root = root
    }
}

/// Turns ``ManifestRow``s into ``IngestItem``s or diagnostics, one row at a time.
///
/// Stateful across all manifests of a run: ids must be unique within the run, and a file listed
/// twice is reported on its second row. That state is two tables of 64-bit fingerprints
/// (``FingerprintTable``, 21 to 43 bytes per row each), not the strings themselves.
public struct Validator {
    public let checker: RowChecker
    public var options: ValidationOptions { checker.options }
    private var ids = FingerprintTable()
    private var files = FingerprintTable()
    private var manifests: [String] = []

    public init(options: ValidationOptions, inspector: FileInspector = FileInspector()) {
        self.checker = RowChecker(options: options, inspector: inspector)
    }

    /// Sizes the duplicate tables for about `rows` rows.
    public mutating func reserveCapacity(_ rows: Int) {
        guard rows > 0 else { return }
        if ids.count == 0 { ids = FingerprintTable(expected: rows) }
        if files.count == 0 { files = FingerprintTable(expected: rows) }
    }

    /// Registers a manifest and returns its index for ``ManifestContext``.
    public mutating func register(manifest name: String) -> Int {
        manifests.append(name)
        return manifests.count - 1
    }

    private static func pack(_ context: ManifestContext, _ line: Int) -> UInt64 {
        UInt64(context.index) << 40 | UInt64(line & 0xFF_FFFF_FFFF)
    }

    private func unpack(_ value: UInt64) -> (manifest: String, line: Int) {
        let index = Int(value >> 40)
        return (index < manifests.count ? manifests[index] : "?", Int(value & 0xFF_FFFF_FFFF))
    }

    private func place(_ value: UInt64, relativeTo context: ManifestContext) -> String {
        let (manifest, line) = unpack(value)
        return manifest == context.name ? "line \(line)" : "\(manifest) line \(line)"
    }

    /// Validates one row: ``check(_:in:)`` then ``settle(_:in:)``.
    public mutating func validate(_ row: ManifestRow, in context: ManifestContext) -> RowOutcome {
        settle(check(row, in: context), in: context)
    }

    /// The row-local checks, see ``RowChecker/check(_:in:)``.
    public func check(_ row: ManifestRow, in context: ManifestContext) -> PendingRow {
        checker.check(row, in: context)
    }

    /// Applies the run-wide checks (unique ids, each file once) to a checked row. Call in manifest
    /// order: the first row to claim an id or a file keeps it, later ones get the error.
    public mutating func settle(_ pending: PendingRow, in context: ManifestContext) -> RowOutcome {
        var outcome = pending.outcome
        let location = outcome.location
        var duplicate: [Diagnostic] = []
        if let key = pending.idKey {
            if let first = ids.insertIfAbsent(key, value: Self.pack(context, location.line)) {
                let id = outcome.id ?? ""
                duplicate.append(
                    Diagnostic(
                        at: location, id: outcome.id, field: "id", code: .rowDuplicateID,
                        message: "the id \"\(id)\" is already used by \(place(first, relativeTo: context)); ids must be "
                            + "unique within a run"
                            + (pending.idDerived ? " (this id was derived from the path: add an `id` column)" : "")))
            }
        }
        if let key = pending.fileKey {
            if let first = files.insertIfAbsent(key, value: Self.pack(context, location.line)) {
                duplicate.append(
                    Diagnostic(
                        at: location, id: outcome.id, field: "path", code: .rowDuplicateFile,
                        message: "\(pending.path) is the same file as the one listed on \(place(first, relativeTo: context)); "
                            + "each file is uploaded once: remove this row or point it at another file"))
            }
        }
        if !duplicate.isEmpty {
            outcome = RowOutcome(
                location: location, id: outcome.id, item: nil, diagnostics: duplicate + outcome.diagnostics,
                isValid: false)
        }
        return outcome
    }

    /// What a path or cover with a control character gets: the name with its controls escaped
    /// (never printed raw, never looked up).
    static func controlCharacterMessage(_ name: String, field: String) -> String {
        let controls = name.unicodeScalars.filter { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) }
        let named = Set(controls.map { "U+" + String(format: "%04X", $0.value) }).sorted().joined(separator: ", ")
        let nul = controls.contains { $0.value == 0 } ? " (a NUL would cut the name short)" : ""
        return "the `\(field)` \(String(reflecting: name)) contains a control character (\(named)); no file was looked up\(nul). "
            + "Correct the manifest: give the file's real name"
    }

    static let supportedList: String = {
        let video = MediaRules.videoExtensions.sorted().joined(separator: " ")
        let audio = MediaRules.audioExtensions.sorted().joined(separator: " ")
        return "video \(video); audio \(audio)"
    }()

    /// The id of a row without one: its path relative to the root, normalised.
    static func derivedID(_ path: String, root: ValidationRoot) -> String {
        let absolute = FileInspector.lexicalPath(path, root: root)
        if PathNormalizer.isInside(absolute, root.lexical) {
            return String(absolute.dropFirst(root.lexical == "/" ? 1 : root.lexical.count + 1))
        }
        return path
    }
}

/// The row-local half of validation: immutable and `Sendable`, so batches of rows can be checked
/// on several threads at once (file checks on network storage overlap their latency).
public struct RowChecker: Sendable {
    public let options: ValidationOptions
    public let inspector: FileInspector

    /// The row-local checks (everything but duplicates). Touches no shared state, so rows can be
    /// checked in parallel; their results must then be settled in manifest order.
    public func check(_ row: ManifestRow, in context: ManifestContext) -> PendingRow {
        var check = RowCheck(row: row, limits: options.profile.metadata)
        check.diagnostics = row.readProblems
        let location = row.location

        // Identity.
        let trimmedPath = row.path?.trimmedSpaces()
        let explicitID = row.id?.trimmedSpaces()
        var id = explicitID.flatMap { $0.isEmpty ? nil : $0 }
        if id == nil, let trimmedPath, !trimmedPath.isEmpty {
            id = Validator.derivedID(trimmedPath, root: context.root)
        }
        check.id = id
        for index in check.diagnostics.indices where check.diagnostics[index].id == nil {
            check.diagnostics[index].id = id
        }
        if check.diagnostics.contains(where: { $0.severity == .error }) {
            return PendingRow(
                outcome: RowOutcome(location: location, id: id, item: nil, diagnostics: check.diagnostics),
                idKey: nil, fileKey: nil, idDerived: explicitID == nil, path: trimmedPath ?? "")
        }
        if let explicit = id, explicitID != nil {
            if explicit.scalarCount > 256 {
                check.error("id", .metadataTooLong, "the id is \(explicit.scalarCount) characters long; at most 256")
            } else if explicit.containsControlCharacters(allowingNewlines: false) {
                check.error("id", .metadataInvalid, "the id contains control characters")
            }
        }
        var idKey: Int? = nil
        if let id {
            var hasher = Hasher()
            hasher.combine(id)
            idKey = hasher.finalize()
        }
        let idDerived = explicitID.map { $0.isEmpty } ?? true

        guard let path = trimmedPath, !path.isEmpty else {
            check.error("path", .pathMissing, "the row has no path; give the media file in the `path` field")
            return PendingRow(
                outcome: check.outcome(location: location), idKey: idKey, fileKey: nil, idDerived: idDerived, path: "")
        }

        // A name the file system would cut short (NUL) or that no file should have: refused before any lookup.
        if path.containsControlCharacters(allowingNewlines: false) {
            check.error("path", .pathInvalid, Validator.controlCharacterMessage(path, field: "path"))
            return PendingRow(
                outcome: check.outcome(location: location), idKey: idKey, fileKey: nil, idDerived: idDerived, path: path)
        }

        // Media extension.
        let ext = MediaRules.fileExtension(ofPath: path)
        var mediaType: String? = nil
        switch ext {
        case .none:
            if !options.profile.acceptsNameWithoutExtension {
                check.error(
                    "path", .extensionUnsupported,
                    "\(options.profile.displayName) needs a file name with an extension (e.g. .mp4); rename the file")
            } else if options.profile.needsTypeForNameWithoutExtension, !options.fileChecks {
                check.error(
                    "path", .extensionUnsupported,
                    "\(options.profile.displayName) needs the file's type in its FileName, and a name without an extension gets it "
                        + "from the content: run without --no-file-checks, or rename the file with its extension")
            }
        case .some(let e) where e.isEmpty || !MediaRules.mediaExtensions.contains(e):
            let hint =
                MediaRules.coverExtensions.contains(e)
                ? " (.\(e) is an image: give it in the `cover` column)" : ""
            check.error(
                "path", .extensionUnsupported,
                e.isEmpty
                    ? "the file name ends with a dot and has no extension; rename it (e.g. to .mp4)"
                    : "the extension .\(e) is not a video or audio type the platforms accept\(hint); supported: "
                        + Validator.supportedList)
        case .some(let e):
            mediaType = e
        }

        // Media file.
        var media = FileReference(
            given: path, resolved: FileInspector.lexicalPath(path, root: context.root), size: nil, modified: nil,
            fileExtension: ext)
        var fileKey: Int? = nil
        var segments: [IngestItem.Segment]? = nil
        if options.fileChecks {
            switch inspector.inspect(path, root: context.root) {
            case .failure(let problem):
                check.report(problem, given: path, root: context.root, cover: false)
            case .success(let file):
                media.resolved = file.resolved
                media.size = file.status.size
                media.modified = file.status.modified
                media.identity = FileIdentity(device: file.status.device, inode: file.status.inode)
                var hasher = Hasher()
                hasher.combine(file.status.device)
                hasher.combine(file.status.inode)
                fileKey = hasher.finalize()
                if let e = mediaType {
                    check.sniff(file.header, ext: e, given: path, cover: false)
                } else if ext == nil {
                    if let format = ContentSniffer.detect(file.header), let type = ContentSniffer.mediaType(for: format) {
                        mediaType = type
                    } else if options.profile.needsTypeForNameWithoutExtension {
                        check.error(
                            "path", .extensionUnsupported,
                            "\(path) has no extension and its content is not a recognised media format; "
                                + "\(options.profile.displayName) needs the type in the FileName. Rename it with its real extension")
                    } else {
                        check.warning(
                            "path", .extensionNone,
                            "\(path) has no extension and its content is not a recognised media format; "
                                + "the platform may refuse it. Rename it with its real extension")
                    }
                }
                if options.checksums, row.md5 != nil || row.sha256 != nil {
                    check.verifyChecksums(file.resolved, given: path)
                }
                if mediaType == "m3u8" {
                    segments = check.hlsPackage(
                        path, root: context.root, inspector: inspector, simpleLimit: options.profile.parts.maximumSimpleUpload)
                }
            }
        } else {
            if !context.root.contains(media.resolved, resolved: false) {
                check.report(
                    .outsideRoot(resolved: media.resolved, viaSymlink: false), given: path, root: context.root,
                    cover: false)
            } else {
                var hasher = Hasher()
                hasher.combine(media.resolved)
                fileKey = hasher.finalize()
            }
            if ext == nil, options.profile.acceptsNameWithoutExtension {
                check.warning(
                    "path", .extensionNone,
                    "\(path) has no extension; its type can only be determined with file checks on")
            }
        }
        // Cover.
        var coverRef: FileReference? = nil
        if let rawCover = row.cover?.trimmedSpaces(), !rawCover.isEmpty {
            coverRef = check.cover(rawCover, root: context.root, options: options, inspector: inspector)
        }

        // Metadata.
        let title = check.title(path: path)
        check.metadata(now: options.now, profile: options.profile)

        guard !check.hasErrors else {
            return PendingRow(
                outcome: check.outcome(location: location), idKey: idKey, fileKey: fileKey, idDerived: idDerived,
                path: path)
        }
        guard options.buildsItems else {
            return PendingRow(
                outcome: RowOutcome(location: location, id: id, item: nil, diagnostics: check.diagnostics, isValid: true),
                idKey: idKey, fileKey: fileKey, idDerived: idDerived, path: path)
        }
        let item = IngestItem(
            location: location, id: id ?? path, media: media, mediaType: mediaType, cover: coverRef,
            title: title, description: row.description, tags: row.tags, category: check.category,
            procedure: row.procedure?.trimmedSpaces(),
            storageRegion: row.storageRegion?.trimmedSpaces(), expireTime: check.expireTime,
            sourceContext: row.sourceContext, md5: RowCheck.lowerHex(row.md5), sha256: RowCheck.lowerHex(row.sha256),
            meta: row.meta, segments: segments)
        return PendingRow(
            outcome: RowOutcome(location: location, id: id, item: item, diagnostics: check.diagnostics),
            idKey: idKey, fileKey: fileKey, idDerived: idDerived, path: path)
    }

}

/// A row after its row-local checks, waiting for ``Validator/settle(_:in:)``.
public struct PendingRow: Sendable {
    public var outcome: RowOutcome
    var idKey: Int?
    var fileKey: Int?
    var idDerived: Bool
    var path: String
}

/// The checks of one row, accumulating diagnostics.
struct RowCheck {
    let row: ManifestRow
    let limits: MetadataLimits
    var id: String?
    var diagnostics: [Diagnostic] = []
    var category: Int?
    var expireTime: Date?

    init(row: ManifestRow, limits: MetadataLimits) {
        self.row = row
        self.limits = limits
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    func outcome(location: SourceLocation) -> RowOutcome {
        RowOutcome(location: location, id: id, item: nil, diagnostics: diagnostics)
    }

    mutating func error(_ field: String, _ code: DiagnosticCode, _ message: String) {
        diagnostics.append(Diagnostic(at: row.location, id: id, field: field, code: code, severity: .error, message: message))
    }

    mutating func warning(_ field: String, _ code: DiagnosticCode, _ message: String) {
        diagnostics.append(Diagnostic(at: row.location, id: id, field: field, code: code, severity: .warning, message: message))
    }

    mutating func report(_ problem: FileProblem, given: String, root: ValidationRoot, cover: Bool) {
        let field = cover ? "cover" : "path"
        let what = cover ? "cover image" : "file"
        let shownRoot = root.real ?? root.lexical
        switch problem {
        case .outsideRoot(let resolved, let viaSymlink):
            error(
                field, cover ? .coverOutsideRoot : .pathOutsideRoot,
                viaSymlink
                    ? "\(given) is a symlink (or lies under one) that resolves to \(resolved), outside the root "
                        + "\(shownRoot); only files under the root are uploaded (use --root to widen it)"
                    : "\(given) resolves to \(resolved), outside the root \(root.lexical); only files under the root "
                        + "are uploaded (use --root to widen it)")
        case .missing(let resolved, let broken):
            error(
                field, cover ? .coverMissing : .pathMissing,
                broken
                    ? "\(given) is a broken symlink (or a symlink loop) at \(resolved)"
                    : "\(what) not found: \(resolved)\(given.hasPrefix("/") ? "" : " (\(given) relative to \(root.lexical))")")
        case .notRegular(let resolved, let kind):
            error(
                field, cover ? .coverNotRegularFile : .pathNotRegularFile,
                "\(resolved) is a \(kind == .fifo ? "named pipe" : kind.rawValue), not a regular file")
        case .unreadable(let resolved, let reason):
            error(
                field, cover ? .coverUnreadable : .pathUnreadable,
                "cannot read \(resolved): \(reason); check its permissions")
        case .empty(let resolved):
            error(field, cover ? .coverEmpty : .fileEmpty, "\(resolved) is empty (0 bytes); an empty \(what) cannot be uploaded")
        }
    }

    /// Most bytes of one playlist read, and most files of one package.
    static let playlistLimit = 4 << 20
    static let packageLimit = 100_000

    /// An HLS package's files: every URI the playlist names (segments, init segments, keys,
    /// variant and rendition playlists, read in turn), each relative, inside the package's folder
    /// and the root, and a readable regular file. Nil (with the errors) when one is not.
    mutating func hlsPackage(_ given: String, root: ValidationRoot, inspector: FileInspector, simpleLimit: Int64) -> [IngestItem.Segment]? {
        let top = HLSPlaylist.folder(of: given)
        func join(_ relative: String) -> String { top.isEmpty ? relative : top + "/" + relative }
        var segments: [IngestItem.Segment] = []
        var seen: Set<String> = []
        var queue: [(given: String, resolved: String, folder: String)] = []
        var failed = false
        if case .success(let file) = inspector.inspect(given, root: root) { queue.append((given, file.resolved, "")) }
        while !queue.isEmpty {
            let playlist = queue.removeFirst()
            guard case .success(let bytes) = inspector.fileSystem.readPrefix(playlist.resolved, count: Self.playlistLimit + 1),
                bytes.count <= Self.playlistLimit, let text = String(validating: bytes, as: UTF8.self), HLSPlaylist.isPlaylist(text: text)
            else {
                error(
                    "path", .hlsUnreadable,
                    "\(playlist.given) is not a readable HLS playlist (UTF-8 text starting with #EXTM3U, at most "
                        + "\(Self.playlistLimit >> 20) MiB); the package cannot be uploaded")
                return nil
            }
            for uri in HLSPlaylist.references(text) {
                if HLSPlaylist.isURL(uri) {
                    error(
                        "path", .hlsSegmentURL,
                        "\(playlist.given) names \(uri), a URL: a package is uploaded from its files, named relative to the playlist")
                    failed = true
                    continue
                }
                guard let relative = HLSPlaylist.resolve(uri, against: playlist.folder) else {
                    error(
                        "path", .hlsSegmentOutside,
                        "\(playlist.given) names \(uri), outside the package's folder \(top.isEmpty ? "." : top): its files must lie "
                            + "under the top playlist's folder, where the platform stores them")
                    failed = true
                    continue
                }
                guard seen.insert(relative).inserted else { continue }
                guard segments.count < Self.packageLimit else {
                    error("path", .hlsTooLarge, "\(given) names more than \(Self.packageLimit) files; split the package")
                    return nil
                }
                let name = join(relative)
                switch inspector.inspect(name, root: root) {
                case .failure(let problem):
                    failed = true
                    switch problem {
                    case .outsideRoot(let resolved, _):
                        error("path", .pathOutsideRoot, "\(playlist.given) names \(uri), which resolves to \(resolved), outside the root")
                    case .missing(let resolved, _):
                        error(
                            "path", .hlsSegmentMissing,
                            "\(playlist.given) names \(uri), which does not exist (\(resolved)); the package is incomplete")
                    case .notRegular(let resolved, _), .unreadable(let resolved, _), .empty(let resolved):
                        error(
                            "path", .hlsSegmentMissing,
                            "\(playlist.given) names \(uri), which cannot be uploaded: \(resolved) is not a readable, non-empty file")
                    }
                case .success(let file):
                    if file.status.size > simpleLimit {
                        error("path", .hlsTooLarge, "\(name) is larger than one storage PUT takes (\(ByteSize.format(simpleLimit)))")
                        failed = true
                    }
                    segments.append(
                        IngestItem.Segment(
                            relative: relative,
                            file: FileReference(
                                given: name, resolved: file.resolved, size: file.status.size, modified: file.status.modified,
                                fileExtension: MediaRules.fileExtension(ofPath: name),
                                identity: FileIdentity(device: file.status.device, inode: file.status.inode))))
                    if HLSPlaylist.namesPlaylist(uri) { queue.append((name, file.resolved, HLSPlaylist.folder(of: relative))) }
                }
            }
        }
        return failed ? nil : segments
    }

    mutating func sniff(_ header: [UInt8], ext: String, given: String, cover: Bool) {
        guard case .mismatch(let detected) = ContentSniffer.check(header: header, fileExtension: ext) else { return }
        let expected = (ContentSniffer.rules[ext]?.formats ?? []).map(\.phrase).sorted().joined(separator: " or ")
        let actual = detected.map { "it looks like \($0.phrase)" } ?? "it does not start with the signature of \(expected)"
        error(
            cover ? "cover" : "path", cover ? .coverContentMismatch : .contentMismatch,
            "the content of \(given) does not match its .\(ext) extension: \(actual); replace the file or correct "
                + "its extension")
    }

    mutating func verifyChecksums(_ resolved: String, given: String) {
        let wantMD5 = row.md5.map { $0.lowercased() }
        let wantSHA = row.sha256.map { $0.lowercased() }
        let md5OK = wantMD5.map { Self.isHex($0, length: 32) } ?? false
        let shaOK = wantSHA.map { Self.isHex($0, length: 64) } ?? false
        guard md5OK || shaOK else { return }  // malformed values are reported by metadata()
        switch FileDigest.compute(path: resolved, md5: md5OK, sha256: shaOK) {
        case .failure(let error):
            self.error("path", .pathUnreadable, "cannot read \(resolved) to compute its checksum: \(error)")
        case .success(let digests):
            if md5OK, let want = wantMD5, digests.md5 != want {
                self.error(
                    "md5", .checksumMismatch,
                    "MD5 of \(given) is \(digests.md5 ?? "?"), the manifest says \(want); the file differs from what the partner delivered")
            }
            if shaOK, let want = wantSHA, digests.sha256 != want {
                self.error(
                    "sha256", .checksumMismatch,
                    "SHA-256 of \(given) is \(digests.sha256 ?? "?"), the manifest says \(want); the file differs from what the partner delivered"
                )
            }
        }
    }

    mutating func cover(_ given: String, root: ValidationRoot, options: ValidationOptions, inspector: FileInspector) -> FileReference? {
        if given.containsControlCharacters(allowingNewlines: false) {
            error("cover", .coverInvalid, Validator.controlCharacterMessage(given, field: "cover"))
            return nil
        }
        let ext = MediaRules.fileExtension(ofPath: given)
        var reference = FileReference(
            given: given, resolved: FileInspector.lexicalPath(given, root: root), size: nil, modified: nil, fileExtension: ext)
        let allowed = options.profile.coverExtensions
        guard let ext, allowed.contains(ext) else {
            error(
                "cover", .coverExtensionUnsupported,
                "the cover \(given) must be an image \(options.profile.displayName) takes as a cover: "
                    + allowed.sorted().joined(separator: " "))
            return nil
        }
        if options.fileChecks {
            switch inspector.inspect(given, root: root) {
            case .failure(let problem):
                report(problem, given: given, root: root, cover: true)
                return nil
            case .success(let file):
                reference.resolved = file.resolved
                reference.size = file.status.size
                reference.modified = file.status.modified
                reference.identity = FileIdentity(device: file.status.device, inode: file.status.inode)
                sniff(file.header, ext: ext, given: given, cover: true)
            }
        } else if !root.contains(reference.resolved, resolved: false) {
            report(.outsideRoot(resolved: reference.resolved, viaSymlink: false), given: given, root: root, cover: true)
            return nil
        }
        return reference
    }

    private func length(_ text: String) -> Int { text.scalarCount }

    private static func hasControl(_ text: String, allowNewlines: Bool) -> Bool {
        text.containsControlCharacters(allowingNewlines: allowNewlines)
    }

    /// Emoji and other scalars beyond U+FFFF: four-byte UTF-8 sequences (lead byte 0xF0...).
    private static func hasAstral(_ text: String) -> Bool { text.utf8.contains { $0 >= 0xF0 } }

    /// `length` hexadecimal digits, either case.
    static func isHex(_ text: String, length: Int) -> Bool {
        text.withBytes { bytes in
            guard bytes.count == length else { return false }
            var bad = false
            for b in bytes {
                let lower = b | 0x20
                bad = bad || !((b &- 48) < 10 || (lower &- 97) < 6)
            }
            return !bad
        }
    }

    /// Lower-case hex as the platforms report it; no copy when already lower-case.
    static func lowerHex(_ text: String?) -> String? {
        guard let text else { return nil }
        let hasUpper = text.withBytes { bytes in bytes.contains { $0 &- 65 < 26 } }
        return hasUpper ? text.lowercased() : text
    }

    /// The title to use: the manifest's, or the file name without extension (truncated with a warning).
    mutating func title(path: String) -> String {
        if let explicit = row.title?.trimmedSpaces(), !explicit.isEmpty {
            if length(explicit) > limits.titleMax {
                error(
                    "title", .metadataTooLong,
                    "the title is \(length(explicit)) characters; \(limits.source) allows at most \(limits.titleMax)")
            }
            if Self.hasControl(explicit, allowNewlines: false) {
                error("title", .metadataInvalid, "the title contains control characters (line breaks, tabs, ...)")
            } else if limits.forbidsAstralCharacters, Self.hasAstral(explicit) {
                error(
                    "title", .metadataInvalid,
                    "the title contains emoji or other characters outside the Basic Multilingual Plane, which \(limits.source) refuses")
            }
            return explicit
        }
        let derived = MediaRules.baseName(ofPath: path)
        if length(derived) > limits.titleMax {
            let cut = String(String.UnicodeScalarView(derived.unicodeScalars.prefix(limits.titleMax)))
            warning(
                "title", .metadataTooLong,
                "no title given and the file name is \(length(derived)) characters; the title will be cut to its first \(limits.titleMax): \"\(cut)\""
            )
            return cut
        }
        return derived
    }

    mutating func metadata(now: Date, profile: ProviderProfile) {
        if let description = row.description {
            if length(description) > limits.descriptionMax {
                error(
                    "description", .metadataTooLong,
                    "the description is \(length(description)) characters; \(limits.source) allows at most \(limits.descriptionMax)")
            } else if limits.forbidsAstralCharacters, Self.hasAstral(description) {
                error("description", .metadataInvalid, "the description contains emoji or other characters \(limits.source) refuses")
            }
        }
        if row.tags.count > limits.tagCountMax {
            error("tags", .metadataTooLong, "\(row.tags.count) tags; \(limits.source) allows at most \(limits.tagCountMax)")
        }
        for tag in row.tags {
            if length(tag) > limits.tagLengthMax {
                error("tags", .metadataTooLong, "the tag \"\(tag)\" is \(length(tag)) characters; at most \(limits.tagLengthMax)")
            }
            if let bad = tag.first(where: { limits.tagForbiddenCharacters.contains($0) }) {
                error("tags", .metadataInvalid, "the tag \"\(tag)\" contains \"\(bad)\", which \(limits.source) uses to separate tags")
            }
            if Self.hasControl(tag, allowNewlines: false) {
                error("tags", .metadataInvalid, "the tag \"\(tag)\" contains control characters")
            } else if limits.forbidsAstralCharacters, Self.hasAstral(tag) {
                error("tags", .metadataInvalid, "the tag \"\(tag)\" contains emoji, which \(limits.source) refuses")
            }
        }
        if let raw = row.category?.trimmedSpaces() {
            if let value = Int(raw), value >= 0 {
                category = value
            } else {
                error(
                    "category", .metadataInvalid,
                    "the category \"\(raw)\" is not a non-negative integer: \(limits.source) takes a numeric \(profile.categoryParameter)")
            }
        }
        for (field, value) in [("expire_time", row.expireTime)] where value != nil {
            if let reason = profile.unsupportedFields[field] {
                error(
                    field, .fieldUnsupported,
                    "\(profile.displayName) cannot take \(field): \(reason); remove the field, or upload to another platform")
            }
        }
        if let raw = row.expireTime?.trimmedSpaces(), profile.unsupportedFields["expire_time"] == nil {
            if let date = ISO8601Timestamp.parse(raw) {
                if date <= now {
                    error("expire_time", .metadataInvalid, "expire_time \(raw) is already past; the media would be deleted at once")
                } else {
                    expireTime = date
                }
            } else {
                error("expire_time", .metadataInvalid, "expire_time \"\(raw)\" is not an ISO 8601 date-time such as 2030-01-01T00:00:00Z")
            }
        }
        if let procedure = row.procedure?.trimmedSpaces() {
            if length(procedure) > 128 {
                error("procedure", .metadataTooLong, "the procedure name is \(length(procedure)) characters; at most 128")
            } else if procedure.containsWhitespace() || procedure.containsControlCharacters(allowingNewlines: false) {
                error("procedure", .metadataInvalid, "the procedure name \"\(procedure)\" contains spaces or control characters")
            }
        }
        if let region = row.storageRegion?.trimmedSpaces() {
            let allowed = region.utf8.allSatisfy {
                ($0 >= 97 && $0 <= 122) || ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46
            }
            let rule = profile.storageRegion
            if !allowed || region.utf8.count > 128 || !rule.accepts(region) {
                error("storage_region", .metadataInvalid, "the storage region \"\(region)\" is not \(rule.description)")
            }
        }
        if let context = row.sourceContext {
            let size = limits.sourceContextInBytes ? context.utf8.count : length(context)
            if profile.sourceContextIsReferenceID, !ReferenceID.isValid(context) {
                error(
                    "source_context", .metadataInvalid,
                    "source_context \"\(context)\" becomes \(profile.displayName)'s ReferenceId, which is 6 to 64 letters, digits, '-' or '_' and unique per account"
                )
            } else if size > limits.sourceContextMax {
                error(
                    "source_context", .metadataTooLong,
                    "source_context is \(size) \(limits.sourceContextInBytes ? "bytes" : "characters"); \(limits.source) allows at most \(limits.sourceContextMax)"
                )
            }
        }
        if let md5 = row.md5, !Self.isHex(md5, length: 32) {
            error("md5", .metadataInvalid, "md5 \"\(md5)\" is not 32 hexadecimal digits")
        }
        if let sha = row.sha256, !Self.isHex(sha, length: 64) {
            error("sha256", .metadataInvalid, "sha256 \"\(sha)\" is not 64 hexadecimal digits")
        }
        if !row.meta.isEmpty {
            for entry in row.meta where Self.hasControl(entry.name, allowNewlines: false) || entry.name.containsWhitespace() {
                error(
                    "meta.\(entry.name)", .metadataInvalid, "the custom-data name \"\(entry.name)\" contains spaces or control characters")
            }
            let size = Self.customDataJSONSize(row.meta)
            if size > limits.customDataMaxBytes {
                error(
                    "meta", .metadataTooLong,
                    "the custom data (meta.* columns) is \(size) bytes as JSON; \(limits.source) allows at most \(limits.customDataMaxBytes)"
                )
            }
        }
    }

    /// Size in UTF-8 bytes of the JSON the provider sends (``CustomData/json(_:)``).
    static func customDataJSONSize(_ meta: [MetaEntry]) -> Int { CustomData.json(meta)?.utf8.count ?? 0 }
}
