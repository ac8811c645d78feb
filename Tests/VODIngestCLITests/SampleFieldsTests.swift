import Foundation
import IngestCore
import IngestTesting
import Manifests
import Testing

/// Every field of every sample row, read back from the platform's catalogue (the emulator's
/// listing) after `vodingest ingest` on the default path: nothing a manifest says is dropped.
@Suite("every field of every sample row arrives", .serialized)
struct SampleFieldsTests {
    /// The sample manifests validated as the tool does, by id.
    func items(_ manifests: [String], profile: ProviderProfile) -> [String: IngestItem] {
        let pipeline = ManifestPipeline(options: ValidationOptions(profile: profile), currentDirectory: CLI.root)
        var items: [String: IngestItem] = [:]
        _ = pipeline.run(manifests: manifests, onDiagnostic: { _ in }, onRow: { if let item = $0.item { items[item.id] = item } })
        return items
    }

    @Test func tencentSamples() async throws {
        let state = try TemporaryDirectory()
        defer { state.remove() }
        let manifests = ["samples/good.csv", "samples/good.xml"]
        let r = try await CLI.run(["ingest"] + manifests + ["--state-dir", state.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let expected = items(manifests, profile: .tencent)
        let rows = try reportRows(state.path)
        let reader = try StandaloneEmulator(dataDirectory: state.path + "/emulator")
        let listing = try #require(try await reader.get("/_emulator/media") as? [[String: Any]])
        #expect(listing.count == expected.count && rows.count == expected.count)
        for row in rows {
            let item = try #require(expected[row["id"]!])
            let m = try #require(listing.first { $0["fileID"] as? String == row["file_id"] }, "\(row)")
            let id = item.id
            #expect(m["name"] as? String == item.title, "\(id) MediaName")
            #expect(m["description"] as? String == item.description.flatMap { $0.isEmpty ? nil : $0 }, "\(id) Description")
            #expect((m["tags"] as? [String] ?? []) == item.tags, "\(id) tags")
            #expect(m["classID"] as? Int == item.category ?? 0, "\(id) ClassId")
            #expect(m["procedure"] as? String == item.procedure, "\(id) Procedure")
            #expect(m["storageRegion"] as? String == item.storageRegion, "\(id) StorageRegion")
            #expect(
                m["expireTime"] as? String == item.expireTime.map { ISO8601Timestamp.format(Int64($0.timeIntervalSince1970)) },
                "\(id) ExpireTime")
            #expect(m["sourceContext"] as? String == (item.sourceContext ?? row["source_context"]), "\(id) SourceContext")
            #expect(m["sessionContext"] as? String == CustomData.json(item.meta), "\(id) SessionContext")
            #expect((m["coverSize"] as? NSNumber)?.int64Value == item.cover?.size, "\(id) cover")
            #expect((m["size"] as? NSNumber)?.int64Value == item.media.size, "\(id) media")
        }
    }

    @Test func alibabaSamples() async throws {
        let state = try TemporaryDirectory()
        defer { state.remove() }
        let manifests = ["samples/aliyun.csv"]
        let r = try await CLI.run(["ingest", "--provider", "local-aliyun"] + manifests + ["--state-dir", state.path])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let expected = items(manifests, profile: .aliyun)
        let rows = try reportRows(state.path)
        let reader = try StandaloneEmulator(dataDirectory: state.path + "/emulator")
        let listing = try #require(try await reader.get("/_emulator/videos") as? [[String: Any]])
        #expect(listing.count == expected.count && rows.count == expected.count)
        for row in rows {
            let item = try #require(expected[row["id"]!])
            let v = try #require(listing.first { $0["videoID"] as? String == row["file_id"] }, "\(row)")
            let id = item.id
            #expect(v["title"] as? String == item.title, "\(id) Title")
            #expect(v["description"] as? String == item.description, "\(id) Description")
            #expect(v["tags"] as? String == (item.tags.isEmpty ? nil : item.tags.joined(separator: ",")), "\(id) Tags")
            #expect((v["cateID"] as? NSNumber)?.intValue == item.category, "\(id) CateId")
            #expect(v["templateGroupID"] as? String == item.procedure, "\(id) TemplateGroupId")
            #expect(
                v["storageLocation"] as? String == item.storageRegion
                    ?? "outin-7a3f9c2e5b1d4e8fa6c0b9d2e4f1a3c5.oss-cn-shanghai.aliyuncs.com",
                "\(id) StorageLocation")
            #expect(v["userData"] as? String == CustomData.json(item.meta).map { #"{"Extend":"# + $0 + "}" }, "\(id) UserData")
            #expect(v["referenceID"] as? String == (item.sourceContext ?? row["source_context"]), "\(id) ReferenceId")
            #expect((v["coverURL"] as? String != nil) == (item.cover != nil), "\(id) cover")
            #expect((v["size"] as? NSNumber)?.int64Value == item.media.size, "\(id) media")
        }
    }
}
