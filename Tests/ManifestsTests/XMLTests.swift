import Foundation
import IngestCore
import IngestTesting
import Testing

@testable import Manifests

@Suite("XML manifests")
struct XMLManifestTests {
    @Test func readsTheVocabularyWithDefaultsAndLines() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- comment before the root is fine -->
            <manifest version="1">
              <defaults procedure="LongVideoPreset" storage-region="ap-chongqing" category="3"/>
              <item id="ep-001">
                <media path="videos/ep1.mp4" md5="d64ffed7522a008ea55ff6b64c909b81"/>
                <cover path="covers/ep1.jpg"/>
                <title> Episode 1 </title>
                <description><![CDATA[Fish & <chips>]]></description>
                <tags><tag>drama</tag><tag>s01</tag></tags>
                <category>12</category>
                <source-context>ctx &amp; more</source-context>
                <meta name="season">1</meta>
              </item>
              <item id="ep-002"><media path="videos/ep2.mp4"/></item>
            </manifest>
            """
        let records = try readManifest(xml, name: "m.xml")
        let rows = records.compactMap(\.row)
        #expect(rows.count == 2)
        let first = rows[0]
        #expect(first.id == "ep-001")
        #expect(first.location.line == 5)
        #expect(first.path == "videos/ep1.mp4")
        #expect(first.md5 == "d64ffed7522a008ea55ff6b64c909b81")
        #expect(first.cover == "covers/ep1.jpg")
        #expect(first.title == "Episode 1")
        #expect(first.description == "Fish & <chips>")
        #expect(first.tags == ["drama", "s01"])
        #expect(first.category == "12")
        #expect(first.procedure == "LongVideoPreset")
        #expect(first.sourceContext == "ctx & more")
        #expect(first.meta == [MetaEntry(name: "season", value: "1")])
        #expect(rows[1].category == "3")  // from <defaults>
        #expect(rows[1].storageRegion == "ap-chongqing")
        #expect(rows[1].location.line == 15)
        #expect(records.compactMap(\.diagnostic).isEmpty)
    }

    @Test func doctypeIsRefusedBeforeParsing() throws {
        let bomb = """
            <?xml version="1.0"?>
            <!DOCTYPE manifest [
              <!ENTITY a "aaaaaaaaaa">
              <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
              <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
            ]>
            <manifest version="1"><item id="x"><media path="v.mp4"/><title>&c;</title></item></manifest>
            """
        let records = try readManifest(bomb, name: "bomb.xml")
        #expect(records.compactMap(\.row).isEmpty)
        let d = try #require(records.compactMap(\.diagnostic).first)
        #expect(d.code == .manifestMalformed)
        #expect(d.line == 2)
        #expect(d.message.contains("DOCTYPE"))
    }

    /// A declared encoding other than UTF-8 never reaches libxml2: `encoding="UTF-7"` made its push
    /// parser dereference a null handler (SIGSEGV; found by scripts/fuzz xml, the input is in
    /// Fuzz/corpus/xml/crash-utf7-encoding.xml).
    @Test(arguments: ["UTF-7", "ISO-8859-1", "EBCDIC-US", "x-nonsense"])
    func anEncodingOtherThanUTF8IsRefusedBeforeParsing(encoding: String) throws {
        let xml = """
            <?xml version="1.0" encoding="\(encoding)"?>
            <manifest version="1"><item id="x"><media path="v.mp4"/></item></manifest>
            """
        let records = try readManifest(xml, name: "enc.xml")
        #expect(records.compactMap(\.row).isEmpty)
        let d = try #require(records.compactMap(\.diagnostic).first)
        #expect(d.code == .manifestMalformed && d.line == 1 && d.message.contains("encoding=\"\(encoding)\""), "\(d.message)")
    }

    /// The same crash through a declaration that never closes, and an encoding behind a value
    /// that says "encoding" (the fuzzer's second find); a UTF-16 document never reaches libxml2.
    @Test func noEncodingSlipsPastTheScanner() throws {
        let unclosed: [UInt8] = Array(#"<?xml version="1.0" encoding="uTF-7" version="1">"#.utf8)
        let hidden: [UInt8] = Array(#"<?xml version="encoding" encoding="UTF-7"?><manifest version="1"></manifest>"#.utf8)
        let unquoted: [UInt8] = Array(#"<?xml version="1.0" encoding=UTF-7?><manifest version="1"></manifest>"#.utf8)
        var utf16: [UInt8] = [0xFF, 0xFE]
        for unit in "<manifest/>".utf16 { utf16 += [UInt8(unit & 0xFF), UInt8(unit >> 8)] }
        let documents = [unclosed + Array("<manifest/>".utf8), hidden, unquoted, utf16]
        for bytes in documents {
            var records: [ManifestRecord] = []
            try XMLManifestReader(source: ByteSource(bytes: bytes), manifest: "m.xml").read { records.append($0) }
            let d = try #require(records.compactMap(\.diagnostic).first, "\(bytes.prefix(40))")
            #expect(d.code == .manifestMalformed && (d.message.contains("encoding") || d.message.contains("UTF-8")), "\(d.message)")
        }
    }

    /// `<?x?>` made FoundationXML call strlen on a null pointer (SIGSEGV; scripts/fuzz xml): every
    /// processing instruction but the declaration is refused, wherever it is, before the parser
    /// sees it; one inside a comment or a CDATA section is text. Fed byte by byte too, as chunks may split anywhere.
    @Test func processingInstructionsAreRefusedWherever() throws {
        let refused = [
            "<?xm?>\n<manifest version=\"1\"/>",
            "<manifest version=\"1\">\n<?x?>\n</manifest>",
            "<?xml version=\"1.0\"?>\n<?xml-stylesheet href=\"a\"?><manifest version=\"1\"/>",
            "<manifest version=\"1\"><item id=\"a\"><title>t<?pi data?></title></item></manifest>",
        ]
        for text in refused {
            let records = try readManifest(text, name: "pi.xml")
            let d = try #require(records.compactMap(\.diagnostic).first, "\(text)")
            #expect(d.message.contains("processing instructions"), "\(text): \(d.message)")
            var scanner = InstructionScanner()
            let line = Array(text.utf8).lazy.compactMap { byte in [byte].withUnsafeBufferPointer { scanner.feed($0) } }.first
            #expect(line == d.line, "byte by byte: \(text)")
        }
        let allowed =
            #"<?xml version="1.0"?><manifest version="1"><!-- <?no?> --><item id="a"><media path="v.mp4"/><title><![CDATA[<?no?>]]></title></item></manifest>"#
        let records = try readManifest(allowed, name: "ok.xml")
        #expect(records.compactMap(\.row).first?.title == "<?no?>", "\(records.compactMap(\.diagnostic))")
    }

    @Test func utf8MayBeDeclared() throws {
        for declaration in [
            #"<?xml version="1.0" encoding="UTF-8"?>"#, "<?xml version='1.0' encoding = 'utf-8' ?>", #"<?xml version="1.0"?>"#,
        ] {
            let records = try readManifest(
                declaration + #"<manifest version="1"><item id="x"><media path="v.mp4"/></item></manifest>"#, name: "ok.xml")
            #expect(records.compactMap(\.row).count == 1, "\(declaration)")
        }
    }

    @Test func externalEntityIsRefused() throws {
        let xxe = """
            <?xml version="1.0"?>
            <!DOCTYPE manifest [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <manifest version="1"><item><media path="v.mp4"/><title>&xxe;</title></item></manifest>
            """
        let records = try readManifest(xxe, name: "xxe.xml")
        #expect(records.compactMap(\.row).isEmpty)
        #expect(!records.compactMap(\.diagnostic).contains { $0.message.contains("root:") })
        #expect(records.compactMap(\.diagnostic).first?.code == .manifestMalformed)
    }

    @Test func undeclaredEntityIsMalformed() throws {
        let records = try readManifest(
            "<manifest version=\"1\"><item><media path=\"v.mp4\"/><title>&nbsp;</title></item></manifest>", name: "e.xml")
        #expect(records.compactMap(\.diagnostic).contains { $0.code == .manifestMalformed })
    }

    @Test(arguments: [
        ("<manifest version=\"1\"><item><media path=\"v.mp4\"/></manifest>", "mismatched"),
        ("<manifest version=\"1\"><item><media path=\"v.mp4\"/></item>", "truncated"),
        ("<catalog/>", "root"),
        ("<manifest version=\"2\"/>", "version"),
    ])
    func malformedDocumentsAreReported(xml: String, hint: String) throws {
        let records = try readManifest(xml, name: "bad.xml")
        let errors = records.compactMap(\.diagnostic).filter { $0.severity == .error }
        #expect(errors.count == 1, "\(records)")
        #expect(errors.first?.code == .manifestMalformed)
    }

    @Test func itemWithoutMediaAndUnknownElements() throws {
        let records = try readManifest(
            "<manifest version=\"1\"><item id=\"a\"><title>T</title><rating>5</rating></item><item id=\"b\"><rating>1</rating><media path=\"b.mp4\"/></item></manifest>",
            name: "m.xml")
        let rows = records.compactMap(\.row)
        #expect(rows.count == 2)
        #expect(rows[0].readProblems.first?.code == .manifestMissingColumn)
        let warnings = records.compactMap(\.diagnostic).filter { $0.code == .manifestUnknownColumn }
        #expect(warnings.count == 1)  // once per element name
    }

    @Test func repeatedElementsAreRowErrorsEvenWhenDefaultsSetThem() throws {
        let xml = """
            <manifest version="1">
              <defaults procedure="Preset"/>
              <item id="override"><media path="a.mp4"/><procedure>Mine</procedure></item>
              <item id="twice"><media path="b.mp4"/><procedure>X</procedure><procedure>Y</procedure></item>
              <item id="meta"><media path="c.mp4"/><meta name="s">1</meta><meta name="s">2</meta><meta name="e">3</meta></item>
              <item id="media"><media path="d.mp4"/><media path="e.mp4"/></item>
            </manifest>
            """
        let rows = try readManifest(xml, name: "dups.xml").compactMap(\.row)
        #expect(rows.count == 4)
        #expect(rows[0].readProblems.isEmpty)
        #expect(rows[0].procedure == "Mine")
        #expect(rows[1].readProblems.map(\.field) == ["procedure"])
        #expect(rows[2].readProblems.map(\.field) == ["meta.s"])
        #expect(rows[3].readProblems.map(\.field) == ["media"])
        #expect(rows.allSatisfy { $0.readProblems.allSatisfy { $0.code == .manifestMalformed } })
    }

    @Test func prologScanner() {
        #expect(PrologScanner.scan(Array("<?xml version=\"1.0\"?>\n<manifest>".utf8), atEnd: false) == .accept)
        #expect(PrologScanner.scan(Array("<?xml version=\"1.0\"?>\n<!-- c".utf8), atEnd: false) == .needMore)
        if case .refuse(let why) = PrologScanner.scan(Array("<!-- x -->\n\n<!doctype m>".utf8), atEnd: false) {
            #expect(why.line == 3)
        } else {
            Issue.record("a lower-case doctype must be refused too")
        }
    }
}
