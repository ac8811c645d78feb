import Foundation
import IngestTesting
import Manifests
import Testing

/// Clears the variables a test's configuration must not come from.
private let clean: [String: String] = [
    "TENCENTCLOUD_SECRET_ID": "", "TENCENTCLOUD_SECRET_KEY": "", "VODINGEST_INGEST_PROCEDURE": "", "VODINGEST_INGEST_CLASS_ID": "",
]

@Suite("configuration: flag > environment > file > default", .serialized)
struct ConfigTests {
    /// A configuration file in the state directory (owner-only, with the credentials), the
    /// environment over it and a flag over both: what the platform received says which won.
    @Test func eachLayerReachesThePlatformInItsOrder() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let emulator = try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        let state = lib.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let file = try lib.write(
            "state/vodingest.yaml",
            """
            provider: tencent
            ingest:
              procedure: FromFile
              class_id: 7
              storage_region: ap-fromfile
            tencent:
              endpoint: \(emulator.url)
              cos_endpoint: \(emulator.url)
              secret_id: \(emulator.secretID)
              secret_key: \(emulator.secretKey)
            """)
        chmod(file, 0o600)
        func media(_ id: String) async throws -> [String: Any] {
            let all = try #require(try await emulator.get("/_emulator/media") as? [[String: Any]])
            return try #require(all.first { ($0["sourceContext"] as? String)?.hasSuffix(":" + id) == true }, "\(all)")
        }
        func ingest(_ id: String, _ extra: [String] = [], environment: [String: String] = [:]) async throws -> CLI.Result {
            try lib.write("m/\(id).mp4", bytes: MediaBytes.mp4 + Array(id.utf8))
            let manifest = try lib.write("\(id).csv", "id,path\n\(id),m/\(id).mp4\n")
            return try await CLI.run(["ingest", manifest, "--state-dir", state] + extra, environment: clean.merging(environment) { $1 })
        }
        // The file alone: its credentials, endpoint, procedure and class.
        let fromFile = try await ingest("a")
        #expect(fromFile.status == 0, "\(fromFile.stdout)\(fromFile.stderr)")
        var m = try await media("a")
        #expect(m["procedure"] as? String == "FromFile" && m["classID"] as? Int == 7, "\(m)")
        // The environment over the file.
        let fromEnvironment = try await ingest("b", environment: ["VODINGEST_INGEST_PROCEDURE": "FromEnv"])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        m = try await media("b")
        #expect(m["procedure"] as? String == "FromEnv" && m["classID"] as? Int == 7)
        // A flag over both.
        let fromFlag = try await ingest(
            "c", ["--procedure", "FromFlag", "--class-id", "9"], environment: ["VODINGEST_INGEST_PROCEDURE": "FromEnv"])
        #expect(fromFlag.status == 0, "\(fromFlag.stderr)")
        m = try await media("c")
        #expect(m["procedure"] as? String == "FromFlag" && m["classID"] as? Int == 9)
        #expect(!fromFlag.stderr.contains(emulator.secretKey) && !fromFlag.stdout.contains(emulator.secretKey))

        // config show says the same, with each value's source and the secrets redacted.
        let shown = try await CLI.run(
            ["config", "show", "--state-dir", state, "--format", "json"],
            environment: clean.merging(["VODINGEST_INGEST_PROCEDURE": "FromEnv"]) { $1 })
        #expect(shown.status == 0, "\(shown.stderr)")
        let settings = try #require(try CLI.json(shown.stdout)["settings"] as? [String: [String: String]])
        #expect(settings["ingest.procedure"] == ["value": "FromEnv", "source": "VODINGEST_INGEST_PROCEDURE"])
        #expect(settings["ingest.class_id"] == ["value": "7", "source": "file \(state)/vodingest.yaml"])
        #expect(settings["state_dir"] == ["value": state, "source": "--state-dir"])
        #expect(settings["ingest.part_size"] == ["value": "16MiB", "source": "default"])
        #expect(settings["tencent.secret_key"] == ["value": "<redacted>", "source": "file \(state)/vodingest.yaml"])
        #expect(!shown.stdout.contains(emulator.secretKey))
        // report and events take the state directory from the environment too.
        let report = try await CLI.run(["report"], environment: clean.merging(["VODINGEST_STATE_DIR": state]) { $1 })
        #expect(report.status == 0 && report.stdout.split(separator: "\n").count == 4, "\(report.stdout)\(report.stderr)")
        let events = try await CLI.run(
            ["events", "--events-timeout", "0"],
            environment: clean.merging(["VODINGEST_STATE_DIR": state, "VODINGEST_LOG_FORMAT": "json"]) { $1 })
        #expect(events.stderr.split(separator: "\n").allSatisfy { (try? CLI.json(String($0))) != nil }, "\(events.stderr)")
        #expect(events.stdout.contains("report: \(state)/report.csv"), "\(events.stdout)\(events.stderr)")
        let text = try await CLI.run(["config", "show", "--state-dir", state], environment: clean)
        #expect(text.stdout.contains("ingest.class_id") && text.stdout.contains("7  [file \(state)/vodingest.yaml]"), "\(text.stdout)")
    }

    /// A file with secrets that others can read is refused (and says how to fix it); so are unknown
    /// keys, TOML, a file that cannot be read, and a bad value (naming where it came from).
    @Test func whatAConfigurationFileMayNotDo() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let open = try lib.write("open.yaml", "tencent:\n  secret_key: hunter2\n")
        chmod(open, 0o644)
        var r = try await CLI.run(["ingest", "samples/good.csv", "--config", open, "--state-dir", lib.path + "/s"], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("can be read by others (mode 644)") && r.stderr.contains("chmod 600"), "\(r.stderr)")
        #expect(!r.stderr.contains("hunter2"))
        #expect(!FileManager.default.fileExists(atPath: lib.path + "/s/journal.sqlite"), "nothing ran")

        let typo = try lib.write("typo.yaml", "ingest:\n  concurency: 8\n")
        r = try await CLI.run(["ingest", "samples/good.csv", "--config", typo], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("unknown key ingest.concurency"), "\(r.stderr)")

        let toml = try lib.write("vodingest.toml", "[ingest]\nconcurrency = 8\n")
        r = try await CLI.run(["ingest", "samples/good.csv", "--config", toml], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("TOML is not read"), "\(r.stderr)")

        r = try await CLI.run(["ingest", "samples/good.csv", "--config", lib.path + "/missing.yaml"], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("cannot read the configuration file"), "\(r.stderr)")

        let bad = try lib.write("bad.yaml", "ingest:\n  concurrency: lots\n")
        r = try await CLI.run(["ingest", "samples/good.csv", "--config", bad], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("ingest.concurrency = 'lots' (from file \(bad))"), "\(r.stderr)")

        // Checked like the flag: a part size out of range from the environment.
        r = try await CLI.run(["ingest", "samples/good.csv"], environment: clean.merging(["VODINGEST_INGEST_PART_SIZE": "10KB"]) { $1 })
        #expect(r.status == 64 && r.stderr.contains("--part-size '10KB'"), "\(r.stderr)")

        let broken = try lib.write("broken.yaml", "ingest: [unclosed\n")
        r = try await CLI.run(["config", "show", "--config", broken], environment: clean)
        #expect(r.status == 64 && r.stderr.contains("is not valid YAML"), "\(r.stderr)")
    }

    /// The log settings come from the file too.
    @Test func theLogFormatFromTheFile() async throws {
        let lib = try TemporaryDirectory()
        defer { lib.remove() }
        let file = try lib.write("c.yaml", "log:\n  format: json\n")
        let r = try await CLI.run(["ingest", "samples/good.csv", "--config", file, "--state-dir", lib.path + "/s"], environment: clean)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stderr.split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { (try? CLI.json(String($0))) != nil }, "\(r.stderr)")
    }
}
