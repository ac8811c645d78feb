import Foundation
import IngestCore
import IngestTesting
import Testing

@testable import Manifests

@Suite("Content sniffing")
struct SnifferTests {
    static let samples = repositoryRoot() + "/samples"

    func header(_ relative: String) throws -> [UInt8] {
        try LocalFileSystem().readPrefix(Self.samples + "/" + relative, count: ContentSniffer.headerSize).get()
    }

    @Test(arguments: [
        ("media/ep1.mp4", "mp4", SniffedFormat.isoBMFF), ("media/ep2.webm", "webm", .matroska),
        ("media/theme.mp3", "mp3", nil), ("covers/ep1.jpg", "jpg", .jpeg), ("covers/ep2.png", "png", .png),
    ])
    func realSamplesMatchTheirExtensions(file: String, ext: String, format: SniffedFormat?) throws {
        let bytes = try header(file)
        #expect(ContentSniffer.check(header: bytes, fileExtension: ext) == .matches)
        if let format { #expect(ContentSniffer.detect(bytes) == format) }
    }

    @Test func badSamplesAreCaught() throws {
        #expect(ContentSniffer.check(header: try header("bad/error-page.mp4"), fileExtension: "mp4") == .mismatch(detected: .html))
        #expect(ContentSniffer.check(header: try header("bad/not-a-cover.jpg"), fileExtension: "jpg") == .mismatch(detected: .text))
    }

    @Test func signatures() {
        func bytes(_ s: String, pad: Int = 32) -> [UInt8] { Array(s.utf8) + [UInt8](repeating: 0, count: pad) }
        #expect(ContentSniffer.detect(bytes("RIFF\0\0\0\0AVI LIST")) == .avi)
        #expect(ContentSniffer.detect(bytes("RIFF\0\0\0\0WAVEfmt ")) == .wave)
        #expect(ContentSniffer.detect(bytes("RIFF\0\0\0\0WEBPVP8 ")) == .webp)
        #expect(ContentSniffer.detect(bytes("FLV\u{01}\u{05}")) == .flv)
        #expect(ContentSniffer.detect(bytes("OggS")) == .ogg)
        #expect(ContentSniffer.detect(bytes("fLaC")) == .flac)
        #expect(ContentSniffer.detect(bytes("#EXTM3U\n#EXT-X-VERSION:3\n", pad: 0)) == .m3u8)
        #expect(ContentSniffer.detect(bytes("GIF89a")) == .gif)
        #expect(ContentSniffer.detect(bytes(".RMF")) == .realMedia)
        #expect(ContentSniffer.detect(bytes("#!AMR\n")) == .amr)
        #expect(ContentSniffer.detect(bytes("FORM\0\0\0\0AIFF")) == .aiff)
        #expect(ContentSniffer.detect([0x00, 0x00, 0x01, 0xBA] + [UInt8](repeating: 0, count: 20)) == .mpegPS)
        var ts = [UInt8](repeating: 0, count: 400)
        ts[0] = 0x47
        ts[188] = 0x47
        #expect(ContentSniffer.detect(ts) == .mpegTS)
        let asf: [UInt8] = [0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE, 0x6C]
        #expect(ContentSniffer.check(header: asf + [0, 0], fileExtension: "wmv") == .matches)
        let heic: [UInt8] = [0, 0, 0, 0x18] + Array("ftypheic".utf8) + [0, 0, 0, 0] + Array("mif1heic".utf8)
        #expect(ContentSniffer.detect(heic) == .heif)
        #expect(ContentSniffer.check(header: heic, fileExtension: "heif") == .matches)
    }

    @Test func weakSignaturesNeverGiveFalseMismatches() {
        // An MP3 that starts with padding: unknown binary is not a mismatch.
        #expect(ContentSniffer.check(header: [0x00, 0x00, 0x13, 0x37, 0x42], fileExtension: "mp3") == .matches)
        // But a text file named .mp3 is.
        #expect(ContentSniffer.check(header: Array("hello world\n".utf8), fileExtension: "mp3") == .mismatch(detected: .text))
        // Extensions with no rule get nothing.
        #expect(ContentSniffer.check(header: Array("anything".utf8), fileExtension: "dat") == .matches)
        #expect(ContentSniffer.check(header: Array("anything".utf8), fileExtension: "dv") == .matches)
    }

    @Test func strongSignaturesCatchWrongContainers() {
        #expect(ContentSniffer.check(header: MediaBytes.webm, fileExtension: "mp4") == .mismatch(detected: .matroska))
        #expect(ContentSniffer.check(header: MediaBytes.png, fileExtension: "jpg") == .mismatch(detected: .png))
        #expect(ContentSniffer.check(header: [0x01, 0x02, 0x03, 0x04, 0x05], fileExtension: "mkv") == .mismatch(detected: nil))
    }
}
