import Foundation
import IngestCore
import IngestTesting
import Testing

@testable import Manifests

/// Reads raw CSV records with a small buffer so that records cross buffer boundaries.
func csvRecords(_ text: String, bufferSize: Int = 64, comments: Bool = false) throws -> [(line: Int, fields: [String?], problem: String?)] {
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    let path = try dir.write("r.csv", bytes: Array(text.utf8))
    let reader = CSVRecordReader(source: try ByteSource(path: path), bufferSize: bufferSize)
    var out: [(Int, [String?], String?)] = []
    while try reader.next(skippingCommentLines: comments) {
        out.append((reader.line, (0..<reader.fieldCount).map { reader.string(at: $0) }, reader.problem))
    }
    return out
}

@Suite("CSV record reader")
struct CSVRecordReaderTests {
    @Test(arguments: [64, 7, 1 << 20])
    func quotesCommasAndEmbeddedNewlinesKeepLineNumbers(bufferSize: Int) throws {
        let text = "a,b,c\n1,\"x, y\",\"say \"\"hi\"\"\"\n2,\"multi\nline\nvalue\",z\n3,last,row\n"
        let records = try csvRecords(text, bufferSize: bufferSize)
        #expect(records.map(\.line) == [1, 2, 3, 6])
        #expect(records[1].fields == ["1", "x, y", "say \"hi\""])
        #expect(records[2].fields == ["2", "multi\nline\nvalue", "z"])
        #expect(records[3].fields == ["3", "last", "row"])
        #expect(records.allSatisfy { $0.problem == nil })
    }

    @Test func crlfLoneCRAndNoFinalNewline() throws {
        let records = try csvRecords("h1,h2\r\na,b\r\n\"q\r\nq\",c\rlast,x")
        #expect(records.map(\.line) == [1, 2, 3, 5])
        #expect(records[2].fields == ["q\r\nq", "c"])
        #expect(records[3].fields == ["last", "x"])
    }

    @Test func byteOrderMarkIsSkipped() throws {
        let records = try csvRecords("\u{FEFF}path,title\nv.mp4,T\n")
        #expect(records[0].fields == ["path", "title"])
    }

    @Test func blankLinesAreSkippedButCounted() throws {
        let records = try csvRecords("a\n\n\nb\n\n")
        #expect(records.map(\.line) == [1, 4])
    }

    @Test func commentLinesOnlyWhenAsked() throws {
        let text = "# a comment with \"an odd quote\n# another\npath\nv.mp4\n"
        let records = try csvRecords(text, comments: true)
        #expect(records.first?.fields == ["path"])
        #expect(records.first?.line == 3)
    }

    @Test func emptyAndTrailingFields() throws {
        let records = try csvRecords("a,,c,\n,\n")
        #expect(records[0].fields == ["a", "", "c", ""])
        #expect(records[1].fields == ["", ""])
    }

    @Test func unterminatedQuoteIsAProblem() throws {
        let records = try csvRecords("a,b\n1,\"never closed\n2,x\n")
        #expect(records.count == 2)
        #expect(records[1].problem?.contains("never closed") == true)
    }

    @Test func textAfterClosingQuoteIsAProblem() throws {
        let records = try csvRecords("a,b\n\"x\"y,z\n")
        #expect(records[1].problem?.contains("after the closing quote") == true)
        #expect(records[1].fields.count == 2)
    }

    @Test func invalidUTF8IsReportedAsNil() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("bad.csv", bytes: Array("a,b\n".utf8) + [0x66, 0xFF, 0x66] + Array(",ok\n".utf8))
        let reader = CSVRecordReader(source: try ByteSource(path: path))
        #expect(try reader.next())
        #expect(try reader.next())
        #expect(reader.string(at: 0) == nil)
        #expect(reader.string(at: 1) == "ok")
    }
}

@Suite("a manifest that changes while it is read")
struct ChangingManifestTests {
    func readAll(_ source: ByteSource) throws -> Int {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 1)
        defer { raw.deallocate() }
        var total = 0
        while true {
            let n = try source.read(into: raw, count: 4096)
            if n == 0 { return total }
            total += n
        }
    }

    @Test func aFileReadToItsEndUnchangedEndsQuietly() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("m.csv", String(repeating: "a,b\n", count: 5000))
        #expect(try readAll(try ByteSource(path: path)) == 20_000)
    }

    /// Grown (a partner's upload still going), cut short, or written over in place: the end of the
    /// file is not taken for the end of the manifest.
    @Test(arguments: ["grown", "cut", "rewritten"])
    func aFileChangedBeforeItsEndIsRefusedThere(change: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = try dir.write("m.csv", String(repeating: "a,b\n", count: 5000))
        let source = try ByteSource(path: path)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 1)
        defer { raw.deallocate() }
        #expect(try source.read(into: raw, count: 100) == 100)
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        switch change {
        case "grown":
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("c,d\n".utf8))
        case "cut":
            try handle.truncate(atOffset: 10_000)
        default:
            usleep(20_000)  // a modification time of its own
            try handle.seek(toOffset: 1000)
            try handle.write(contentsOf: Data("x,y\n".utf8))
        }
        try handle.close()
        let words = [
            "grown": "it grew while it was read (20000 bytes when opened, 20004 at its end): it is still being written",
            "cut": "it was cut short while it was read (20000 bytes when opened, 10000 at its end)",
            "rewritten": "it was written to while it was read (its size stayed 20000 bytes)",
        ][change]!
        #expect {
            _ = try readAll(source)
        } throws: { error in
            (error as? IngestError)?.code == "manifest.unreadable" && (error as? IngestError)?.message.hasPrefix(words) == true
        }
    }
}

@Suite("CSV manifests")
struct CSVManifestTests {
    @Test func headerIsCaseInsensitiveAnyOrderWithMeta() throws {
        let records = try readManifest(" Title ,PATH,Storage-Region,meta.Season,tags\nEp 1,v/1.mp4,ap-chongqing,2,a; b;;c\n")
        let row = try #require(records.compactMap(\.row).first)
        #expect(row.title == "Ep 1")
        #expect(row.path == "v/1.mp4")
        #expect(row.storageRegion == "ap-chongqing")
        #expect(row.meta == [MetaEntry(name: "Season", value: "2")])
        #expect(row.tags == ["a", "b", "c"])
        #expect(row.location.line == 2)
    }

    @Test func unknownColumnIsAWarning() throws {
        let records = try readManifest("path,notes\nv.mp4,hello\n")
        let d = try #require(records.compactMap(\.diagnostic).first)
        #expect(d.code == .manifestUnknownColumn)
        #expect(d.severity == .warning)
        #expect(d.line == 1)
        #expect(records.compactMap(\.row).count == 1)
    }

    @Test func missingPathColumnStopsTheManifest() throws {
        let records = try readManifest("id,file\na,v.mp4\n")
        #expect(records.compactMap(\.row).isEmpty)
        #expect(records.compactMap(\.diagnostic).contains { $0.code == .manifestMissingColumn && $0.severity == .error })
    }

    @Test func duplicateColumnIsMalformed() throws {
        let records = try readManifest("path,title,TITLE\nv.mp4,a,b\n")
        let d = try #require(records.compactMap(\.diagnostic).first)
        #expect(d.code == .manifestMalformed)
        #expect(d.message.contains("twice"))
    }

    @Test func raggedRowsAreMalformedWithTheirLine() throws {
        let records = try readManifest("id,path,title\na,v1.mp4\nb,v2.mp4,T,extra\nc,v3.mp4,ok\n")
        let rows = records.compactMap(\.row)
        #expect(rows.count == 3)
        #expect(rows[0].readProblems.first?.code == .manifestMalformed)
        #expect(rows[0].readProblems.first?.line == 2)
        #expect(rows[1].readProblems.first?.message.contains("4 fields") == true)
        #expect(rows[2].readProblems.isEmpty)
    }

    @Test func emptyFileAndHeaderOnly() throws {
        #expect(try readManifest("").compactMap(\.diagnostic).first?.code == .manifestEmpty)
        let headerOnly = try readManifest("# comment\npath\n")
        #expect(headerOnly.compactMap(\.diagnostic).first?.severity == .warning)
    }
}
