import Foundation
import IngestTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An HLS package (a master playlist, two variants, their segments) as a user ingests it, on both
/// platforms, on the default path and against a standalone emulator: every file lands under the
/// media's folder, so the playlist's URL plays.
@Suite("HLS packages end to end", .serialized)
struct HLSCLITests {
    typealias Path = DeltaTests.Path

    static func write(_ lib: TemporaryDirectory) throws -> String {
        for variant in ["hi", "lo"] {
            for i in 0..<2 {
                try lib.write("show/\(variant)/s\(i).ts", bytes: [0x47] + (0..<(187 + i * 188)).map { UInt8(truncatingIfNeeded: $0 &+ i) })
            }
            try lib.write("show/\(variant)/index.m3u8", "#EXTM3U\n#EXTINF:4,\ns0.ts\n#EXTINF:4,\ns1.ts\n#EXT-X-ENDLIST\n")
        }
        try lib.write(
            "show/master.m3u8", "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2\nhi/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlo/index.m3u8\n")
        return try lib.write("hls.csv", "id,path,title\nshow,show/master.m3u8,The show\n")
    }

    func fetch(_ url: String) async throws -> (Int, Data) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    @Test(arguments: Path.allCases)
    func aPackageLandsWholeUnderItsMediasFolder(path: Path) async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let manifest = try Self.write(lib)
        let plan = try await CLI.run(["plan", manifest, "--format", "json", "--provider", path.aliyun ? "aliyun" : "tencent"])
        let planned = try #require(try CLI.json(plan.stdout)["plan"] as? [String: Any])
        #expect(planned["packageFiles"] as? Int == 6 && planned["simpleUploads"] as? Int == 7, "\(planned)")

        let state = lib.path + "/state"
        let emulator = path.embedded ? nil : try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        let r = try await CLI.run(
            ["ingest", manifest, "--state-dir", state] + path.platformArguments(emulator, storage: true),
            environment: path.environment(emulator))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let row = try #require(try reportRows(state).first)
        let masterSize = try Data(contentsOf: URL(fileURLWithPath: lib.path + "/show/master.m3u8")).count
        #expect(row["status"] == "committed" && row["size"] == String(masterSize))
        // The playlist's URL, on whichever emulator now serves the data, and every file next to it.
        let server = try emulator ?? StandaloneEmulator(dataDirectory: state + "/emulator")
        let mediaURL = try #require(row["media_url"].flatMap(URL.init(string:)))
        let base = server.url + mediaURL.deletingLastPathComponent().path
        let (status, playlist) = try await fetch(server.url + mediaURL.path)
        #expect(status == 200 && String(decoding: playlist, as: UTF8.self).contains("hi/index.m3u8"))
        for file in ["hi/index.m3u8", "lo/index.m3u8", "hi/s0.ts", "hi/s1.ts", "lo/s0.ts", "lo/s1.ts"] {
            let (code, bytes) = try await fetch(base + "/" + file)
            let local = try Data(contentsOf: URL(fileURLWithPath: lib.path + "/show/" + file))
            #expect(code == 200 && bytes == local, "\(file): \(code)")
        }
        let absent = try await fetch(base + "/hi/s9.ts")
        #expect(absent.0 == 404)
    }

    /// Two packages whose playlists are the same text (the usual `index.m3u8` naming `s0.ts`, `s1.ts`)
    /// but whose segments differ are two media, never a duplicate of each other.
    @Test func packagesWithTheSamePlaylistAreNotDuplicates() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        for (show, seed) in [("a", 1), ("b", 2)] {
            for i in 0..<2 { try lib.write("\(show)/s\(i).ts", bytes: [0x47] + [UInt8](repeating: UInt8(seed * 10 + i), count: 187)) }
            try lib.write("\(show)/index.m3u8", "#EXTM3U\n#EXTINF:4,\ns0.ts\n#EXTINF:4,\ns1.ts\n#EXT-X-ENDLIST\n")
        }
        let first = try lib.write("first.csv", "id,path\na,a/index.m3u8\n")
        let second = try lib.write("second.csv", "id,path\nb,b/index.m3u8\n")
        let state = lib.path + "/state"
        #expect(try await CLI.run(["ingest", first, "--state-dir", state]).status == 0)
        let firstID = try #require(try reportRows(state).first?["file_id"])
        let r = try await CLI.run(["ingest", second, "--state-dir", state])
        #expect(r.status == 0 && r.stdout.contains("1 committed, 0 already committed, 0 duplicates skipped"), "\(r.stdout)")
        let row = try #require(try reportRows(state).first)
        #expect(row["id"] == "b" && row["status"] == "committed" && row["file_id"] != firstID && row["duplicate_of"] == "", "\(row)")
    }

    @Test func aPackageWithAMissingSegmentIsInvalidAndNothingIsSent() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let manifest = try Self.write(lib)
        try FileManager.default.removeItem(atPath: lib.path + "/show/lo/s1.ts")
        let r = try await CLI.run(["ingest", manifest, "--state-dir", lib.path + "/state"])
        #expect(r.status == 65 && r.stderr.contains("hls.segment-missing") && r.stderr.contains("lo/index.m3u8 names s1.ts"), "\(r.stderr)")
        #expect(try reportRows(lib.path + "/state").first?["status"] == "invalid")
    }
}
