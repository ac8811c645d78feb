import Foundation
import IngestTesting
import Testing

/// The nightly delta, as a partner's second delivery would bring it: a committed row whose
/// metadata changed is updated on the platform, one whose file (or cover) changed is reported
/// `changed`, and replaced with `--replace-changed` (the old media deleted with
/// `--delete-replaced`); a file only touched is read, found the same, and left alone.
@Suite("nightly delta: updated in place, changed, replaced", .serialized)
struct DeltaTests {
    /// How the test reaches a platform: the embedded emulator (the default path) or a standalone one.
    enum Path: String, CaseIterable, CustomStringConvertible {
        case localTencent = "local", localAliyun = "local-aliyun", standaloneTencent = "tencent", standaloneAliyun = "aliyun"
        var description: String { rawValue }
        var aliyun: Bool { self == .localAliyun || self == .standaloneAliyun }
        var embedded: Bool { self == .localTencent || self == .localAliyun }

        /// `--provider`, and against a standalone emulator its endpoints (COS's too when `storage`:
        /// the commands that upload).
        func platformArguments(_ emulator: StandaloneEmulator?, storage: Bool) -> [String] {
            guard let emulator, !embedded else { return ["--provider", rawValue] }
            let cos = storage && !aliyun ? ["--cos-endpoint", emulator.url] : []
            return ["--provider", rawValue, "--endpoint", emulator.url] + cos
        }

        /// The platform's credential variables for a standalone emulator (none on the default path).
        func environment(_ emulator: StandaloneEmulator?) -> [String: String] {
            guard let emulator, !embedded else { return [:] }
            return aliyun
                ? emulator.aliyunEnvironment : ["TENCENTCLOUD_SECRET_ID": emulator.secretID, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        }
    }

    /// One media as the emulator's catalogue holds it, whichever platform.
    struct Media: Equatable {
        var title: String
        var description: String?
        var tags: [String]
        var category: Int?
        var size: Int64
        var extra: String?
    }

    /// A delivery of five rows; `file` and `cover` carry a source_context of their own (on Alibaba a
    /// ReferenceId, which the old media keeps when they are replaced). The second delivery changes
    /// `meta`'s title, description, tags, category and the field each platform's update call sets
    /// beyond those (Alibaba UserData from meta.*, Tencent ExpireTime).
    static func manifest(aliyun: Bool, second: Bool) -> String {
        let column = aliyun ? "meta.k" : "expire_time"
        let old = aliyun ? "v" : ""
        let new = aliyun ? "w" : "2035-01-02T03:04:05Z"
        let meta = second ? "meta,m/meta.mp4,,New title,New words,b;c,6,\(new)," : "meta,m/meta.mp4,,Old title,Old words,a;b,5,\(old),"
        return """
            id,path,cover,title,description,tags,category,\(column),source_context
            keep,m/keep.mp4,,Keep,Same,a;b,5,\(old),
            \(meta)
            file,m/file.mp4,,File,Same,a,5,\(old),ref-file-0001
            touch,m/touch.mp4,,Touch,Same,a,5,\(old),
            cover,m/cover.mp4,c/cover.png,Cover,Same,a,5,\(old),ref-cover-0001

            """
    }

    final class Setup {
        let lib: TemporaryDirectory
        let path: Path
        let emulator: StandaloneEmulator?
        let manifest: String
        var state: String { lib.path + "/state" }

        init(_ path: Path) throws {
            lib = try TemporaryDirectory()
            self.path = path
            for name in ["keep", "meta", "file", "touch", "cover"] {
                _ = try lib.write("m/\(name).mp4", bytes: MediaBytes.mp4 + Array(repeating: UInt8(name.utf8.count), count: 200))
            }
            _ = try lib.write("c/cover.png", bytes: MediaBytes.png)
            manifest = try lib.write("lib.csv", DeltaTests.manifest(aliyun: path.aliyun, second: false))
            emulator = path.embedded ? nil : try StandaloneEmulator(dataDirectory: lib.path + "/emu")
        }

        deinit { lib.remove() }

        func ingest(_ extra: [String] = []) async throws -> CLI.Result {
            try await CLI.run(
                ["ingest", manifest, "--state-dir", state] + path.platformArguments(emulator, storage: true) + extra,
                environment: path.environment(emulator))
        }

        func plan(_ extra: [String] = []) async throws -> [String: Any] {
            let r = try await CLI.run(
                ["plan", manifest, "--provider", path.aliyun ? "aliyun" : "tencent", "--state-dir", state, "--format", "json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(try CLI.json(r.stdout)["plan"] as? [String: Any])
        }

        func audit() async throws -> CLI.Result {
            try await CLI.run(
                ["audit", manifest, "--report", state + "/report.csv", "--verify-remote", "--state-dir", state]
                    + path.platformArguments(emulator, storage: false), environment: path.environment(emulator))
        }

        /// The catalogue by media id: the standalone emulator's, or one started on the embedded one's data.
        func catalogue() async throws -> [String: Media] {
            let reader = try emulator ?? StandaloneEmulator(dataDirectory: state + "/emulator")
            var result: [String: Media] = [:]
            if path.aliyun {
                for v in try #require(try await reader.get("/_emulator/videos") as? [[String: Any]]) {
                    let tags = (v["tags"] as? String).map { $0.split(separator: ",").map(String.init) } ?? []
                    result[v["videoID"] as! String] = Media(
                        title: v["title"] as! String, description: v["description"] as? String, tags: tags,
                        category: (v["cateID"] as? NSNumber)?.intValue, size: (v["size"] as? NSNumber)?.int64Value ?? -1,
                        extra: v["userData"] as? String)
                }
            } else {
                for m in try #require(try await reader.get("/_emulator/media") as? [[String: Any]]) {
                    result[m["fileID"] as! String] = Media(
                        title: m["name"] as! String, description: m["description"] as? String, tags: m["tags"] as? [String] ?? [],
                        category: m["classID"] as? Int, size: (m["size"] as? NSNumber)?.int64Value ?? -1, extra: m["expireTime"] as? String)
                }
            }
            return result
        }

        /// The second delivery: new metadata for `meta`, more bytes in `file`, a new time on
        /// `touch`, a new cover for `cover`.
        func deliverAgain() throws {
            _ = try lib.write("lib.csv", DeltaTests.manifest(aliyun: path.aliyun, second: true))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: lib.path + "/m/file.mp4"))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("more bytes".utf8))
            try handle.close()
            let later = Date().addingTimeInterval(120)
            try FileManager.default.setAttributes([.modificationDate: later], ofItemAtPath: lib.path + "/m/touch.mp4")
            _ = try lib.write("c/cover.png", bytes: MediaBytes.png + [1, 2, 3])
        }
    }

    @Test(arguments: Path.allCases)
    func aSecondDeliveryIsComparedWithWhatWasCommitted(path: Path) async throws {
        let setup = try Setup(path)
        let first = try await setup.ingest()
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        let before = try reportRows(setup.state)
        let id = Dictionary(uniqueKeysWithValues: before.map { ($0["id"]!, $0["file_id"]!) })
        #expect(id.count == 5)

        try setup.deliverAgain()
        // The plan says what the delivery changed before anything moves.
        let plan = try await setup.plan()
        let delta = try #require(plan["delta"] as? [String: Any])
        #expect(delta["unchanged"] as? Int == 1 && delta["updated"] as? Int == 1, "\(delta)")
        #expect(delta["changed"] as? Int == 2 && delta["toCheck"] as? Int == 1 && delta["new"] as? Int == 0, "\(delta)")
        #expect(plan["items"] as? Int == 0 && plan["apiCalls"] as? Int == 1, "one update call, nothing uploaded: \(plan)")
        let replacing = try await setup.plan(["--replace-changed", "--delete-replaced"])
        #expect(replacing["items"] as? Int == 2, "the two changed rows are uploaded anew: \(replacing)")

        // Without --replace-changed: the metadata is updated in place, the changed rows reported (65).
        let second = try await setup.ingest()
        #expect(second.status == 65, "\(second.stdout)\(second.stderr)")
        #expect(second.stderr.contains("--replace-changed"), "\(second.stderr)")
        var rows = Dictionary(uniqueKeysWithValues: try reportRows(setup.state).map { ($0["id"]!, $0) })
        #expect(rows["meta"]?["change"] == "updated" && rows["meta"]?["title"] == "New title", "\(rows["meta"] ?? [:])")
        #expect(rows["file"]?["change"] == "changed" && rows["file"]?["change_detail"]?.contains("size") == true)
        #expect(rows["cover"]?["change"] == "changed" && rows["cover"]?["change_detail"]?.contains("cover") == true)
        #expect(rows["touch"]?["change"] == "" && rows["keep"]?["change"] == "", "a touched file whose content is the same is unchanged")
        #expect(rows.values.allSatisfy { $0["file_id"] == id[$0["id"]!] }, "nothing uploaded again")
        var catalogue = try await setup.catalogue()
        #expect(catalogue.count == 5)
        let updated = try #require(catalogue[id["meta"]!])
        #expect(updated.title == "New title" && updated.description == "New words" && updated.category == 6)
        #expect(updated.tags == ["b", "c"], "tag a removed, c added: \(updated.tags)")
        if path.aliyun {
            #expect(updated.extra == #"{"Extend":{"k":"w"}}"#, "UpdateVideoInfo's UserData")
        } else {
            #expect(updated.extra == "2035-01-02T03:04:05Z", "ModifyMediaInfo's ExpireTime")
        }
        #expect(catalogue[id["keep"]!]?.title == "Keep" && catalogue[id["keep"]!]?.tags == ["a", "b"])

        // With --replace-changed --delete-replaced: the changed rows are new media, the old ones gone.
        let third = try await setup.ingest(["--replace-changed", "--delete-replaced"])
        #expect(third.status == 0, "\(third.stdout)\(third.stderr)")
        rows = Dictionary(uniqueKeysWithValues: try reportRows(setup.state).map { ($0["id"]!, $0) })
        for name in ["file", "cover"] {
            let row = try #require(rows[name])
            #expect(row["change"] == "replaced" && row["replaced_file_id"] == id[name] && row["replaced_deleted"] == "true", "\(row)")
            #expect(row["file_id"] != id[name] && row["file_id"]?.isEmpty == false)
        }
        catalogue = try await setup.catalogue()
        #expect(catalogue.count == 5, "one media per row: \(catalogue.keys.sorted())")
        #expect(catalogue[id["file"]!] == nil && catalogue[id["cover"]!] == nil, "the replaced media are deleted")
        #expect(catalogue[rows["file"]!["file_id"]!]?.size == Int64(MediaBytes.mp4.count + 200 + 10))
        for name in ["keep", "meta", "touch"] { #expect(rows[name]?["file_id"] == id[name]) }

        // The same delivery again is a no-op, and the report audits clean against the platform.
        let fourth = try await setup.ingest()
        #expect(fourth.status == 0 && fourth.stdout.contains("0 committed, 5 already committed"), "\(fourth.stdout)\(fourth.stderr)")
        let audit = try await setup.audit()
        #expect(audit.status == 0, "\(audit.stdout)\(audit.stderr)")
    }

    @Test func deleteReplacedNeedsReplaceChanged() async throws {
        let r = try await CLI.run(["ingest", "samples/good.csv", "--delete-replaced", "--state-dir", "/tmp/never"])
        #expect(r.status == 64 && r.stderr.contains("--replace-changed"), "\(r.stderr)")
        let plan = try await CLI.run(["plan", "samples/good.csv", "--replace-changed"])
        #expect(plan.status == 64 && plan.stderr.contains("--state-dir"), "\(plan.stderr)")
    }
}
