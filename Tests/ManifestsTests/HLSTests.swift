import Foundation
import IngestCore
import IngestTesting
import Testing

@testable import Manifests

@Suite("HLS playlists: what they name")
struct HLSPlaylistTests {
    @Test func segmentsTagURIsAndVariantsInOrderEachOnce() {
        let text = """
            \u{FEFF}#EXTM3U\r
            #EXT-X-VERSION:7
            #EXT-X-KEY:METHOD=NONE
            #EXT-X-KEY:METHOD=AES-128,URI="keys/k1.key",IV=0x1
            #EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"
            #EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="avc1.4d401f,mp4a.40.2"
            v1/index.m3u8
            # a comment
            #EXTINF:4.0,
              seg 0.ts  \r
            #EXTINF:4.0,
            seg 0.ts
            #EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="iframe.m3u8"

            """
        #expect(
            HLSPlaylist.references(text) == ["keys/k1.key", "init.mp4", "audio/en.m3u8", "v1/index.m3u8", "seg 0.ts", "iframe.m3u8"])
        #expect(HLSPlaylist.isPlaylist(text: text) && !HLSPlaylist.isPlaylist(text: "seg.ts\n"))
        #expect(HLSPlaylist.namesPlaylist("a/b.M3U8?x=1") && !HLSPlaylist.namesPlaylist("a.ts"))
        #expect(HLSPlaylist.isURL("https://cdn/x.ts") && HLSPlaylist.isURL("//cdn/x.ts") && HLSPlaylist.isURL("data:abc"))
        #expect(!HLSPlaylist.isURL("seg:0.ts".replacingOccurrences(of: ":", with: "_")) && !HLSPlaylist.isURL("v1/a.ts"))
    }

    @Test func pathsResolveInsideThePackageOnly() {
        #expect(HLSPlaylist.resolve("seg.ts", against: "v1") == "v1/seg.ts")
        #expect(HLSPlaylist.resolve("../common/./a.ts", against: "v1") == "common/a.ts")
        #expect(HLSPlaylist.resolve("../a.ts", against: "") == nil)
        #expect(HLSPlaylist.resolve("/abs/a.ts", against: "") == nil)
        #expect(HLSPlaylist.resolve("http://x/a.ts", against: "") == nil)
        #expect(HLSPlaylist.folder(of: "a/b/c.ts") == "a/b" && HLSPlaylist.folder(of: "c.ts") == "")
    }
}

@Suite("Validation of HLS packages")
struct HLSValidationTests {
    func writePackage(_ lib: Library, master: String? = nil) throws {
        let ts = [UInt8(0x47)] + [UInt8](repeating: 0, count: 187)
        for variant in ["hi", "lo"] {
            for i in 0..<2 { try lib.dir.write("v/show/\(variant)/s\(i).ts", bytes: ts) }
            try lib.dir.write("v/show/\(variant)/index.m3u8", "#EXTM3U\n#EXTINF:4,\ns0.ts\n#EXTINF:4,\ns1.ts\n#EXT-X-ENDLIST\n")
        }
        try lib.dir.write(
            "v/show/master.m3u8",
            master ?? "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2\nhi/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlo/index.m3u8\n")
    }

    @Test func aPackageCarriesEveryFileItsPlaylistsName() throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        try writePackage(lib)
        let result = try lib.validate("id,path\nshow,v/show/master.m3u8\n")
        let item = try #require(result.rows.first?.item, "\(result.rows.first?.diagnostics ?? [])")
        #expect(
            item.segments?.map(\.relative) == ["hi/index.m3u8", "lo/index.m3u8", "hi/s0.ts", "hi/s1.ts", "lo/s0.ts", "lo/s1.ts"])
        let variant = Int64("#EXTM3U\n#EXTINF:4,\ns0.ts\n#EXTINF:4,\ns1.ts\n#EXT-X-ENDLIST\n".utf8.count)
        #expect(item.segments?.map(\.file.size) == [variant, variant, 188, 188, 188, 188])
        #expect(item.segments?.first?.file.resolved.hasSuffix("/v/show/hi/index.m3u8") == true)
        #expect(item.uploadBytes == (item.media.size ?? 0) + 4 * 188 + 2 * variant)
    }

    @Test(arguments: [
        ("#EXTM3U\nhi/index.m3u8\nmissing.ts\n", "hls.segment-missing"),
        ("#EXTM3U\nhttps://cdn.example.com/a.ts\n", "hls.segment-url"),
        ("#EXTM3U\n../outside.ts\n", "hls.segment-outside"),
        ("no header\nhi/s0.ts\n", "hls.unreadable"),
    ])
    func aBrokenPackageIsRefusedWithWhy(master: String, code: String) throws {
        let lib = try Library()
        defer { lib.dir.remove() }
        try writePackage(lib, master: master)
        let row = try #require(try lib.validate("id,path\nshow,v/show/master.m3u8\n").rows.first)
        #expect(row.item == nil && row.diagnostics.map(\.code.rawValue).contains(code), "\(row.diagnostics)")
        #expect(row.diagnostics.first { $0.code.rawValue == code }?.message.contains("master.m3u8") == true)
    }
}
