import Foundation
import IngestCore
import IngestTesting
import Testing

@testable import Manifests

/// A file system that reports EACCES for chosen paths (root can read anything, so permissions
/// cannot produce `path.unreadable` in tests run as root).
struct DenyingFileSystem: FileSystemAccess {
    let base = LocalFileSystem()
    let denied: Set<String>
    func realPath(_ path: String) -> Result<String, Errno> { base.realPath(path) }
    func status(_ path: String, followSymlinks: Bool) -> Result<FileStatus, Errno> {
        base.status(path, followSymlinks: followSymlinks)
    }
    func readPrefix(_ path: String, count: Int) -> Result<[UInt8], Errno> {
        denied.contains(path) ? .failure(.accessDenied) : base.readPrefix(path, count: count)
    }
}

/// Builds a library under a temporary root and validates CSV text against it.
struct Library {
    let dir: TemporaryDirectory

    init() throws {
        dir = try TemporaryDirectory()
        try dir.write("v/ep1.mp4", bytes: MediaBytes.mp4)
        try dir.write("v/ep2.webm", bytes: MediaBytes.webm)
        try dir.write("v/song.mp3", bytes: MediaBytes.mp3)
        try dir.write("v/noext", bytes: MediaBytes.mp4)
        try dir.write("v/mystery", bytes: [0x00, 0x01, 0x02, 0x03, 0x04, 0x05])
        try dir.write("v/error.mp4", bytes: MediaBytes.html)
        try dir.write("v/empty.mp4", bytes: [])
        try dir.write("v/clip.xyz", bytes: MediaBytes.mp4)
        try dir.write("c/ep1.jpg", bytes: MediaBytes.jpeg)
        try dir.write("c/ep2.png", bytes: MediaBytes.png)
        try dir.write("c/fake.png", bytes: MediaBytes.jpeg)
        try dir.mkdir("v/folder.mp4")
        try dir.write("v/trailing.", bytes: MediaBytes.mp4)
        try dir.write("outside/secret.mp4", bytes: MediaBytes.mp4)
    }

    func validate(
        _ csv: String, profile: ProviderProfile = .tencent, fileChecks: Bool = true, checksums: Bool = false,
        root: String? = nil, fileSystem: any FileSystemAccess = LocalFileSystem(), buildsItems: Bool = true
    ) throws -> (summary: ValidationSummary, rows: [RowOutcome], manifest: [Diagnostic]) {
        let manifestPath = try dir.write("lib/manifest-\(UUID().uuidString).csv", csv)
        let pipeline = ManifestPipeline(
            options: ValidationOptions(
                profile: profile, fileChecks: fileChecks, checksums: checksums,
                now: ISO8601Timestamp.parse("2026-01-01T00:00:00Z")!, buildsItems: buildsItems),
            rootOverride: root ?? dir.path + "/v/..", currentDirectory: dir.path,
            inspector: FileInspector(fileSystem: fileSystem))
        var rows: [RowOutcome] = []
        var manifest: [Diagnostic] = []
        let summary = pipeline.run(manifests: [manifestPath], onDiagnostic: { manifest.append($0) }, onRow: { rows.append($0) })
        return (summary, rows, manifest)
    }

    func codes(
        _ csv: String, profile: ProviderProfile = .tencent, checksums: Bool = false,
        fileSystem: any FileSystemAccess = LocalFileSystem()
    ) throws -> [[String]] {
        try validate(csv, profile: profile, checksums: checksums, fileSystem: fileSystem).rows.map { $0.diagnostics.map(\.code.rawValue) }
    }
}

@Suite("Validation: every diagnostic code")
struct ValidatorTests {
    @Test func validRowsBecomeItems() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let result = try lib.validate(
            """
            id,path,cover,title,tags,category,expire_time,meta.season
            e1,v/ep1.mp4,c/ep1.jpg,Episode 1,a;b,12,2030-01-01T00:00:00Z,1
            ,v/ep2.webm,c/ep2.png,,,,,
            """)
        #expect(result.summary.valid == 2)
        #expect(result.summary.invalid == 0)
        let first = try #require(result.rows[0].item)
        #expect(first.media.size == Int64(MediaBytes.mp4.count))
        #expect(first.media.resolved == lib.dir.path + "/v/ep1.mp4")
        #expect(first.cover?.size == Int64(MediaBytes.jpeg.count))
        #expect(first.category == 12)
        #expect(first.mediaType == "mp4")
        let second = try #require(result.rows[1].item)
        #expect(second.id == "v/ep2.webm")  // derived from the path
        #expect(second.title == "ep2")  // default title: file name without extension
    }

    /// A NUL would make the file system look up a shorter name (v/ep1.mp4 for "v/ep1.mp4\0x");
    /// control characters and invalid UTF-8 are refused before any lookup, naming the row.
    @Test func controlCharactersAndInvalidUTF8InNamesAreRefusedBeforeAnyLookup() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let bytes: [UInt8] =
            Array("id,path,cover\nok,v/ep1.mp4,\nnul,\"v/ep1.mp4\u{0}x\",\nesc,\"v/\u{1B}[31mep2.webm\",\nnl,\"v/ep2\n.webm\",\n".utf8)
            + Array("bad,v/ep2".utf8) + [0xFF, 0xFE] + Array(".webm,\ncovernul,v/song.mp3,\"c/ep1.jpg\u{0}\"\n".utf8)
            + Array("coverbad,v/ep2.webm,c/ep".utf8) + [0xC3] + Array(".png\n".utf8)
        // The bytes themselves: text would turn the invalid ones into U+FFFD.
        let path = try lib.dir.write("lib/hostile.csv", bytes: bytes)
        let pipeline = ManifestPipeline(
            options: ValidationOptions(profile: .tencent, fileChecks: true, checksums: false, buildsItems: true),
            rootOverride: lib.dir.path, currentDirectory: lib.dir.path)
        var rows: [RowOutcome] = []
        _ = pipeline.run(manifests: [path], onDiagnostic: { _ in }, onRow: { rows.append($0) })
        #expect(rows.count == 7)
        let codes = rows.map { $0.diagnostics.map(\.code.rawValue) }
        #expect(
            codes == [[], ["path.invalid"], ["path.invalid"], ["path.invalid"], ["path.invalid"], ["cover.invalid"], ["cover.invalid"]],
            "\(rows.map(\.diagnostics))")
        #expect(rows.map(\.location.line) == [2, 3, 4, 5, 7, 8, 9], "a quoted newline spans two lines")
        let nul = try #require(rows[1].diagnostics.first)
        #expect(nul.message.contains(#""v/ep1.mp4\0x""#) && nul.message.contains("U+0000"), "\(nul.message)")
        #expect(!rows[2].diagnostics[0].message.contains("\u{1B}"), "never printed raw")
    }

    @Test func fileProblems() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let codes = try lib.codes(
            """
            path
            v/missing.mp4
            v/folder.mp4
            v/empty.mp4
            v/error.mp4
            v/clip.xyz
            v/trailing.
            """)
        #expect(
            codes == [
                ["path.missing"], ["path.not-regular-file"], ["file.empty"], ["content.mismatch"],
                ["extension.unsupported"], ["extension.unsupported"],
            ])
    }

    @Test func htmlErrorPageMessageSaysWhatItIs() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let result = try lib.validate("id,path\nx,v/error.mp4\n")
        let d = try #require(result.rows.first?.diagnostics.first)
        #expect(d.message.contains("HTML"))
        #expect(d.line == 2)
        #expect(d.id == "x")
        #expect(d.field == "path")
    }

    @Test func unreadableFile() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let codes = try lib.codes("path\nv/ep1.mp4\n", fileSystem: DenyingFileSystem(denied: [lib.dir.path + "/v/ep1.mp4"]))
        #expect(codes == [["path.unreadable"]])
    }

    @Test func confinementLexicalAndThroughSymlinks() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        try lib.dir.symlink("v/link-out.mp4", to: "../outside/secret.mp4")
        try lib.dir.symlink("v/link-in.mp4", to: "ep1.mp4")
        try lib.dir.symlink("v/dangling.mp4", to: "nowhere.mp4")
        try lib.dir.symlink("v/linked-dir", to: "../outside")
        let root = lib.dir.path + "/v"
        let result = try lib.validate(
            """
            path
            ../outside/secret.mp4
            link-out.mp4
            link-in.mp4
            dangling.mp4
            linked-dir/secret.mp4
            \(lib.dir.path)/outside/secret.mp4
            \(root)/song.mp3
            """, root: root)
        let codes = result.rows.map { $0.diagnostics.map(\.code.rawValue) }
        #expect(
            codes == [
                ["path.outside-root"], ["path.outside-root"], [], ["path.missing"], ["path.outside-root"],
                ["path.outside-root"], [],
            ])
        #expect(result.rows[1].diagnostics.first?.message.contains("symlink") == true)
        // link-in.mp4 resolves to ep1.mp4, which is fine and is the file's real path.
        #expect(result.rows[2].item?.media.resolved == root + "/ep1.mp4")
    }

    @Test func duplicatesNameTheFirstLine() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        try lib.dir.symlink("v/alias.mp4", to: "ep1.mp4")
        let result = try lib.validate(
            """
            id,path
            a,v/ep1.mp4
            a,v/ep2.webm
            b,v/alias.mp4
            c,v/./ep1.mp4
            """)
        let codes = result.rows.map { $0.diagnostics.map(\.code.rawValue) }
        #expect(codes == [[], ["row.duplicate-id"], ["row.duplicate-file"], ["row.duplicate-file"]])
        #expect(result.rows[1].diagnostics[0].message.contains("line 2"))
        #expect(result.rows[2].diagnostics[0].message.contains("line 2"))
        #expect(result.summary.valid == 1)
    }

    @Test func namesWithoutExtension() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let tencent = try lib.validate("path\nv/noext\nv/mystery\n")
        #expect(tencent.rows[0].item?.mediaType == "mp4")  // sniffed
        #expect(tencent.rows[0].diagnostics.isEmpty)
        #expect(tencent.rows[1].isValid)
        #expect(tencent.rows[1].diagnostics.map(\.code) == [.extensionNone])
        #expect(tencent.rows[1].diagnostics.first?.severity == .warning)
        // Alibaba's FileName must carry an extension: a sniffed type gives it; without one the row is refused.
        let aliyun = try lib.validate("path\nv/noext\nv/mystery\n", profile: .aliyun)
        #expect(aliyun.rows[0].isValid && aliyun.rows[0].item?.mediaType == "mp4")
        #expect(aliyun.rows[1].diagnostics.map(\.code) == [.extensionUnsupported] && !aliyun.rows[1].isValid)
    }

    @Test func alibabaRefusesWhatItCannotCarry() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let csv = """
            id,path,title,expire_time,storage_region,source_context
            a,v/a.mp4,A,2030-01-01T00:00:00Z,,
            b,v/a.mp4,B,,ap-chongqing,
            c,v/a.mp4,C,,outin-abc.oss-cn-shanghai.aliyuncs.com,batch-7_ok
            d,v/a.mp4,D,,,partner batch 7

            """
        try lib.dir.write("v/a.mp4", bytes: MediaBytes.mp4)
        let aliyun = try lib.codes(csv, profile: .aliyun)
        #expect(aliyun[0].contains("field.unsupported"))
        #expect(aliyun[1].contains("metadata.invalid"))
        #expect(!aliyun[2].contains("metadata.invalid") && !aliyun[2].contains("field.unsupported"))
        // source_context becomes the ReferenceId: letters, digits, - and _ only.
        #expect(aliyun[3].contains("metadata.invalid"))
        // The same rows on Tencent: an expiry is fine, a StorageLocation host is not a region.
        let tencent = try lib.codes(csv, profile: .tencent)
        #expect(!tencent[0].contains("field.unsupported"))
        #expect(!tencent[1].contains("metadata.invalid"))
        #expect(tencent[2].contains("metadata.invalid"))
        #expect(!tencent[3].contains("metadata.invalid"))
        // A BMP cover: Tencent takes it, Alibaba's CreateUploadImage does not.
        try lib.dir.write("c/a.bmp", bytes: Array("BM".utf8) + [UInt8](repeating: 0, count: 60))
        let bmp = "id,path,cover\ne,v/a.mp4,c/a.bmp\n"
        #expect(try lib.codes(bmp, profile: .aliyun)[0].contains("cover.extension-unsupported"))
        #expect(!(try lib.codes(bmp, profile: .tencent)[0].contains("cover.extension-unsupported")))
    }

    @Test func coverProblems() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        try lib.dir.write("v/a.mp4", bytes: MediaBytes.mp4)
        try lib.dir.write("v/b.mp4", bytes: MediaBytes.mp4)
        try lib.dir.write("v/c.mp4", bytes: MediaBytes.mp4)
        try lib.dir.write("v/d.mp4", bytes: MediaBytes.mp4)
        try lib.dir.write("v/e.mp4", bytes: MediaBytes.mp4)
        try lib.dir.write("c/empty.jpg", bytes: [])
        let codes = try lib.codes(
            """
            path,cover
            v/a.mp4,c/none.jpg
            v/b.mp4,c/fake.png
            v/c.mp4,v/ep2.webm
            v/d.mp4,c/empty.jpg
            v/e.mp4,../../etc/x.jpg
            """)
        #expect(
            codes == [
                ["cover.missing"], ["cover.content-mismatch"], ["cover.extension-unsupported"], ["cover.empty"],
                ["cover.outside-root"],
            ])
    }

    @Test func checksumsOnlyWithTheFlag() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let right = FileDigest.hex(MediaBytes.mp4.md5Digest)
        let csv = "id,path,md5\ngood,v/ep1.mp4,\(right.uppercased())\nbad,v/ep2.webm,00000000000000000000000000000000\n"
        #expect(try lib.codes(csv) == [[], []])
        #expect(try lib.codes(csv, checksums: true) == [[], ["checksum.mismatch"]])
    }

    @Test func metadataLimitsPerProvider() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let title70 = String(repeating: "t", count: 70)
        let csv = """
            path,title,description,tags,category,expire_time,source_context,md5,procedure,storage_region
            v/ep1.mp4,\(title70),,,,,,,,
            v/ep2.webm,ok,\(String(repeating: "d", count: 200)),,,,,,,
            v/song.mp3,ok,,\((1...17).map { "t\($0)" }.joined(separator: ";")),,,,,,
            v/noext,ok,,,drama,,,,,
            v/clip2.mp4,ok,,,,,,,,
            """
        try lib.dir.write("v/clip2.mp4", bytes: MediaBytes.mp4)
        let tencent = try lib.codes(csv)
        #expect(tencent == [["metadata.too-long"], ["metadata.too-long"], ["metadata.too-long"], ["metadata.invalid"], []])
        // Alibaba allows a 128-character title and a 1024-character description.
        let aliyun = try lib.codes(csv.replacingOccurrences(of: "v/noext", with: "v/song2.mp3"), profile: .aliyun)
        #expect(aliyun[0] == [])
        #expect(aliyun[1] == [])
        #expect(aliyun[2] == ["metadata.too-long"])
    }

    @Test func metadataInvalidValues() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        for name in ["a", "b", "c", "d", "e", "f", "g"] { try lib.dir.write("v/\(name).mp4", bytes: MediaBytes.mp4) }
        let csv = """
            path,expire_time,category,md5,sha256,procedure,storage_region,source_context
            v/a.mp4,2001-01-01T00:00:00Z,,,,,,
            v/b.mp4,soon,,,,,,
            v/c.mp4,,-4,,,,,
            v/d.mp4,,,xyz,,,,
            v/e.mp4,,,,abc,,,
            v/f.mp4,,,,,Long Video,ap chongqing,
            v/g.mp4,,,,,,,\(String(repeating: "s", count: 251))
            """
        let codes = try lib.codes(csv)
        #expect(
            codes == [
                ["metadata.invalid"], ["metadata.invalid"], ["metadata.invalid"], ["metadata.invalid"],
                ["metadata.invalid"], ["metadata.invalid", "metadata.invalid"], ["metadata.too-long"],
            ])
    }

    @Test func derivedTitleTooLongIsTruncatedWithAWarning() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let name = String(repeating: "n", count: 80)
        try lib.dir.write("v/\(name).mp4", bytes: MediaBytes.mp4)
        let result = try lib.validate("path\nv/\(name).mp4\n")
        #expect(result.rows[0].isValid)
        #expect(result.rows[0].diagnostics.map(\.severity) == [.warning])
        #expect(result.rows[0].item?.title.count == 64)
    }

    @Test func emojiRefusedByAliyunOnly() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let csv = "path,title\nv/ep1.mp4,Party 🎉\n"
        #expect(try lib.codes(csv) == [[]])
        #expect(try lib.codes(csv, profile: .aliyun) == [["metadata.invalid"]])
    }

    @Test func noFileChecksTouchesNoFile() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let result = try lib.validate("path\nv/does-not-exist.mp4\n../../../etc/passwd.mp4\n", fileChecks: false)
        #expect(result.rows[0].isValid)
        #expect(result.rows[0].item?.media.size == nil)
        #expect(result.rows[1].diagnostics.map(\.code) == [.pathOutsideRoot])
    }

    @Test func readerProblemsKeepTheRowOut() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let result = try lib.validate("id,path,title\nr1,v/ep1.mp4,a,b\n")
        #expect(result.rows[0].diagnostics.map(\.code) == [.manifestMalformed])
        #expect(result.rows[0].diagnostics.first?.id == "r1")
        #expect(result.summary.invalid == 1)
    }

    @Test func idsAreUniqueAcrossManifests() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let a = try lib.dir.write("lib/a.csv", "id,path\nx,v/ep1.mp4\n")
        let b = try lib.dir.write("lib/b.csv", "id,path\nx,v/ep2.webm\ny,v/ep1.mp4\n")
        let pipeline = ManifestPipeline(options: ValidationOptions(), rootOverride: lib.dir.path, currentDirectory: lib.dir.path)
        var rows: [RowOutcome] = []
        let summary = pipeline.run(manifests: [a, b], onDiagnostic: { _ in }, onRow: { rows.append($0) })
        #expect(summary.manifests.count == 2)
        #expect(rows.map { $0.diagnostics.map(\.code.rawValue) } == [[], ["row.duplicate-id"], ["row.duplicate-file"]])
        #expect(rows[1].diagnostics[0].message.contains("a.csv line 2"))
    }

    @Test func unreadableManifestIsCountedNotFatal() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let good = try lib.dir.write("lib/ok.csv", "path\nv/ep1.mp4\n")
        let pipeline = ManifestPipeline(options: ValidationOptions(), rootOverride: lib.dir.path, currentDirectory: lib.dir.path)
        var diagnostics: [Diagnostic] = []
        let summary = pipeline.run(
            manifests: [lib.dir.path + "/nope.csv", good], onDiagnostic: { diagnostics.append($0) }, onRow: { _ in })
        #expect(summary.unreadable == [lib.dir.path + "/nope.csv"])
        #expect(summary.valid == 1)
        #expect(diagnostics.first?.code == .manifestUnreadable)
    }

    /// A compressed manifest is refused at open, saying what it is and how to decompress it (before,
    /// a gzip was read as CSV: "header column 1 is not valid UTF-8").
    @Test func aCompressedManifestIsRefusedSayingHowToOpenIt() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let gzip = try lib.dir.write("lib/m.csv.gz", bytes: [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01])
        let zip = try lib.dir.write("lib/m.zip", bytes: Array("PK\u{03}\u{04}rest".utf8))
        let pipeline = ManifestPipeline(options: ValidationOptions(), rootOverride: lib.dir.path, currentDirectory: lib.dir.path)
        var diagnostics: [Diagnostic] = []
        let summary = pipeline.run(manifests: [gzip, zip], onDiagnostic: { diagnostics.append($0) }, onRow: { _ in })
        #expect(summary.unreadable == [gzip, zip] && summary.rows == 0)
        #expect(
            diagnostics.map(\.message) == [
                "it is a gzip archive: compressed manifests are not read. Decompress it first (gunzip -k FILE) and give the .csv or .xml",
                "it is a zip archive: compressed manifests are not read. Decompress it first (unzip FILE) and give the .csv or .xml",
            ])
    }

    /// A manifest cut short while it is read (a partner's upload replaced, a disk filling up): the
    /// rows before are checked, the cut last line is not taken for a row, and the diagnostic names
    /// the manifest, what happened and the last line read. The file is truncated from the first
    /// row's callback, while back-pressure holds the reader a few batches ahead (not at the end).
    @Test func aManifestCutShortWhileItIsReadIsUnreadableFromTheLastLineRead() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        var csv = "id,path\n"
        for i in 0..<150_000 { csv += "row\(i),v/clip\(i).mp4\n" }
        let manifest = try lib.dir.write("lib/big.csv", csv)
        let cut = csv.utf8.count * 4 / 5 + 7
        let pipeline = ManifestPipeline(
            options: ValidationOptions(fileChecks: false), rootOverride: lib.dir.path, currentDirectory: lib.dir.path)
        var diagnostics: [Diagnostic] = []
        var rows: [RowOutcome] = []
        let summary = pipeline.run(
            manifests: [manifest], onDiagnostic: { diagnostics.append($0) },
            onRow: { row in
                if rows.isEmpty { #expect(truncate(manifest, off_t(cut)) == 0) }
                rows.append(row)
            })
        #expect(summary.unreadable == [manifest])
        let diagnostic = try #require(diagnostics.first { $0.code == .manifestUnreadable }, "\(diagnostics)")
        #expect(diagnostic.manifest == manifest)
        #expect(diagnostic.message.contains("it was cut short while it was read (\(csv.utf8.count) bytes when opened, \(cut) at its end)"))
        let last = try #require(rows.last)
        #expect(diagnostic.message.contains("rows up to line \(last.location.line) were read"), "\(diagnostic.message)")
        // Every whole line before the cut, and not the cut one.
        let whole = csv.utf8.prefix(cut).count { $0 == UInt8(ascii: "\n") } - 1  // the header is not a row
        #expect(csv.utf8.prefix(cut).last != UInt8(ascii: "\n"), "the cut is inside a line")
        #expect(rows.count == whole, "\(rows.count) rows, \(whole) whole lines before the cut")
        #expect(rows.allSatisfy { $0.isValid })
    }

    @Test(arguments: [true, false])
    func withoutItemsTheVerdictsAreTheSame(fileChecks: Bool) throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        let csv = "id,path,title\na,v/ep1.mp4,One\nb,v/empty.mp4,Two\nc,v/ep1.mp4,Three\nd,v/clip.xyz,Four\ne,v/ep2.webm,\n"
        let full = try lib.validate(csv, fileChecks: fileChecks)
        let lean = try lib.validate(csv, fileChecks: fileChecks, buildsItems: false)
        // Two manifest files (different names); everything else must match.
        let counts = { (s: ValidationSummary) -> [Int] in [s.rows, s.valid, s.invalid, s.warnings] }
        #expect(counts(lean.summary) == counts(full.summary))
        #expect(lean.rows.map(\.isValid) == full.rows.map(\.isValid))
        let verdicts = { (rows: [RowOutcome]) -> [[String]] in
            rows.map { $0.diagnostics.map { "\($0.line ?? 0) \($0.code) \($0.message)" } }
        }
        #expect(verdicts(lean.rows) == verdicts(full.rows))
        #expect(full.rows.filter(\.isValid).allSatisfy { $0.item != nil })
        #expect(lean.rows.allSatisfy { $0.item == nil })
        #expect(full.summary.valid >= 2 && full.summary.invalid >= 2)
    }

    @Test func manyRowsCrossBatchesInOrder() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        var csv = "id,path\n"
        for i in 0..<3000 { csv += "r\(i),v/x\(i).mp4\n" }
        csv += "r5,v/ep1.mp4\n"
        let result = try lib.validate(csv, fileChecks: false)
        #expect(result.summary.rows == 3001)
        #expect(result.rows.map(\.location.line) == Array(2...3002))
        #expect(result.rows.last?.diagnostics.map(\.code) == [.rowDuplicateID])
    }
}

extension Array where Element == UInt8 {
    var md5Digest: [UInt8] {
        let dir = try! TemporaryDirectory()
        defer { dir.remove() }
        let path = try! dir.write("f", bytes: self)
        let hex = try! FileDigest.compute(path: path, md5: true, sha256: false).get().md5!
        return stride(from: 0, to: hex.count, by: 2).map {
            let start = hex.index(hex.startIndex, offsetBy: $0)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }
}
