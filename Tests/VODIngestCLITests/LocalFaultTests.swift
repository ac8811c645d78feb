import Foundation
import IngestTesting
import Manifests
import Testing

@Suite("local faults: the journal cannot grow", .serialized)
struct LocalFaultTests {
    /// The journal cannot grow past 200 KiB (RLIMIT_FSIZE, no root needed): the run stops with exit
    /// 75 and a message naming the journal, the cause and that a resume is safe, writes the report
    /// as far as it goes, and the same command without the limit finishes with every row committed
    /// once. Before, it ended with exit 1 (70 later) and only SQLite's words.
    @Test func aJournalThatCannotGrowStopsInOrderAndResumes() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        var csv = "id,path\n"
        for i in 0..<700 {
            try lib.write("m/f\(i).mp4", bytes: MediaBytes.mp4 + Array("distinct content \(i)".utf8))
            csv += "f\(i),m/f\(i).mp4\n"
        }
        let manifest = try lib.write("f.csv", csv)
        let state = lib.path + "/state"
        let command =
            "\(CLI.binary) ingest --provider tencent --endpoint \(emulator.url) --cos-endpoint \(emulator.url) \(manifest) --state-dir \(state)"
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        let limited = try CLI.run(["/bin/bash", "-c", "ulimit -f 200; exec \(command)"], environment: environment, executable: "/bin/bash")
        #expect(limited.status == 75, "\(limited.stdout)\(limited.stderr)")
        #expect(limited.stderr.contains("cannot write the journal \(state)/journal.sqlite"), "\(limited.stderr)")
        #expect(limited.stderr.contains("200 KiB at most (ulimit -f)") && limited.stderr.contains("run the same command again; it resumes"))
        #expect(limited.stderr.contains("[journal."))
        #expect(FileManager.default.fileExists(atPath: state + "/report.csv") || limited.stderr.contains("vodingest report --state-dir"))

        let again = try CLI.run(["/bin/bash", "-c", "exec \(command)"], environment: environment, executable: "/bin/bash")
        #expect(again.status == 0, "\(again.stderr)")
        let statuses = Dictionary(grouping: try reportRows(state), by: { $0["status"] ?? "" }).mapValues(\.count)
        let media = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
        #expect(media.count == 700, "every row once: \(statuses) \(again.stdout.suffix(400)) \(limited.stdout.suffix(300))")
        #expect(Set(media.compactMap { $0["sourceContext"] as? String }).count == 700)
        #expect(try reportRows(state).filter { $0["status"] == "committed" }.count == 700)
    }
}
