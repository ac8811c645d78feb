import Foundation
import Testing

@testable import IngestCore

@Suite("a new delivery of a committed row, compared with what was committed")
struct RevisionTests {
    func item(
        title: String = "A", description: String? = "d", tags: [String] = ["x", "y"], category: Int? = 5, size: Int64 = 100,
        modified: Double = 1000, meta: [MetaEntry] = [], cover: FileReference? = nil, md5: String? = nil, procedure: String? = nil
    ) -> IngestItem {
        IngestItem(
            location: SourceLocation(manifest: "m.csv", line: 2), id: "a",
            media: FileReference(given: "a.mp4", resolved: "/r/a.mp4", size: size, modified: modified, fileExtension: "mp4"),
            mediaType: "mp4", cover: cover, title: title, description: description, tags: tags, category: category,
            procedure: procedure, storageRegion: nil, expireTime: nil, sourceContext: nil, md5: md5, sha256: nil, meta: meta)
    }

    func committed(_ item: IngestItem, md5: String? = nil, crc64: String? = "77") -> CommittedRevision {
        CommittedRevision(values: RowValues(item).encoded, size: item.media.size, modified: item.media.modified, md5: md5, crc64: crc64)
    }

    @Test func valuesAreCanonicalJSONThatReadsBack() throws {
        let tricky = item(title: "Quote \" back\\slash\nline\u{1}", tags: ["é", "b"], meta: [MetaEntry(name: "k", value: "v/1")])
        let text = RowValues(tricky).encoded
        #expect(text.hasPrefix(#"{"title":"Quote \" back\\slash\nline\u0001","description":"d","tags":["é","b"],"category":5"#))
        // Foundation reads it back as the same values (and the same text again).
        let back = try #require(RowValues.decode(text))
        #expect(back == RowValues(tricky) && back.encoded == text)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
        // Absent values are left out; the same row gives the same text.
        #expect(RowValues(item(description: nil, tags: [], category: nil)).encoded == #"{"title":"A"}"#)
        #expect(RowValues(item()).encoded == RowValues(item()).encoded)
    }

    @Test func eachPlatformSortsTheChangedFieldsByWhatItsUpdateCallSets() {
        let before = committed(item(meta: [MetaEntry(name: "k", value: "v")]))
        let after = item(title: "B", description: nil, tags: ["y", "z"], category: 6, meta: [MetaEntry(name: "k", value: "w")])
        let tencent = Revision.between(before, after, profile: .tencent)
        #expect(tencent.updatable == ["title", "description", "tags", "category"] && tencent.fixed == ["meta"])
        #expect(tencent.contentChange == nil && !tencent.timeOnly)
        let aliyun = Revision.between(before, after, profile: .aliyun)
        #expect(aliyun.updatable == ["title", "description", "tags", "category", "meta"] && aliyun.fixed.isEmpty)
        // The tags the media had and the new delivery dropped are removed; the others stay.
        #expect(MetadataUpdate.revising(aliyun) == MetadataUpdate(fields: aliyun.updatable, removedTags: ["x"], isRevision: true))
        // A procedure or a cover only an upload carries.
        let cover = FileReference(given: "c.png", resolved: "/r/c.png", size: 9, modified: 1, fileExtension: "png")
        let fixed = Revision.between(before, item(meta: [MetaEntry(name: "k", value: "v")], cover: cover, procedure: "P"), profile: .aliyun)
        #expect(fixed.fixed == ["procedure", "cover"] && fixed.updatable.isEmpty)
    }

    @Test func theFileIsComparedBySizeClaimAndTime() {
        let before = committed(item(), md5: "aaaa")
        #expect(Revision.between(before, item(size: 120), profile: .tencent).contentChange == "size 100 → 120 bytes")
        #expect(Revision.between(before, item(md5: "bbbb"), profile: .tencent).contentChange?.contains("md5") == true)
        let touched = Revision.between(before, item(modified: 2000), profile: .tencent)
        #expect(touched.timeOnly && touched.contentChange == nil && touched.updatable.isEmpty)
        #expect(Revision.between(before, item(), profile: .tencent).isEmpty)
        // A journal without values (before they were kept) compares the file only.
        let old = CommittedRevision(values: "", size: 100, modified: nil, md5: nil, crc64: nil)
        #expect(Revision.between(old, item(title: "Z"), profile: .tencent).isEmpty)
    }

    @Test func theStepAfterTheUploadCarriesOnlyWhatTheRowSets() {
        #expect(MetadataUpdate.afterUpload(item(), profile: .tencent).fields == ["description", "tags"])
        #expect(MetadataUpdate.afterUpload(item(description: "", tags: []), profile: .tencent).fields.isEmpty)
        #expect(!ProviderProfile.aliyun.needsMetadataCall(item()))
        #expect(ProviderProfile.tencent.knownActions.isSuperset(of: ["ModifyMediaInfo", "DeleteMedia"]))
        #expect(ProviderProfile.aliyun.knownActions.isSuperset(of: ["UpdateVideoInfo", "DeleteVideo"]))
    }
}

@Suite("processing news merged into a media's state")
struct ProcessingStateTests {
    let tencent = ProviderProfile.tencent.processing
    let aliyun = ProviderProfile.aliyun.processing
    let start = ProcessingState(key: 1, fileID: "F", sourceContext: "ctx")

    func event(
        _ kind: ProcessingEvent.Kind, at: Int64, task: String? = nil, status: String? = nil, failure: String? = nil
    )
        -> ProcessingEvent
    {
        ProcessingEvent(kind: kind, type: kind.rawValue, fileID: "F", at: at, taskID: task, status: status, failure: failure)
    }

    @Test func aTencentMediaIsDoneWithItsUploadEventAndItsProcedureFinished() {
        let uploaded = start.merging(event(.upload, at: 10, task: "T1"), rules: tencent)
        #expect(uploaded.uploadEventAt == 10 && uploaded.procedureTaskID == "T1" && !uploaded.done)
        let processing = uploaded.merging(event(.procedure, at: 11, task: "T1", status: "PROCESSING"), rules: tencent)
        #expect(processing.procedureStatus == "PROCESSING" && !processing.done)
        let finished = processing.merging(event(.procedure, at: 12, task: "T1", status: "FINISH"), rules: tencent)
        #expect(finished.done && !finished.failed && finished.procedureStatusAt == 12)
        // Out of order: a late PROCESSING changes nothing; a repeated upload event keeps the first time.
        #expect(finished.merging(event(.procedure, at: 13, status: "PROCESSING"), rules: tencent) == finished)
        #expect(finished.merging(event(.upload, at: 20, task: "T1"), rules: tencent) == finished)
        // The FINISH may come before the upload event: done when both are in.
        let early = start.merging(event(.procedure, at: 12, task: "T1", status: "FINISH"), rules: tencent)
        #expect(!early.done && early.merging(event(.upload, at: 10, task: "T1"), rules: tencent).done)
        // No procedure: the upload event is all there is.
        #expect(start.merging(event(.upload, at: 10, task: ""), rules: tencent).done)
        let failed = uploaded.merging(event(.procedure, at: 12, status: "FINISH", failure: "30010 bad source"), rules: tencent)
        #expect(failed.done && failed.failed && failed.procedureStatus == "FAIL: 30010 bad source")
    }

    @Test func anAlibabaVideoIsDoneWhenNormalOrFailed() {
        let seen = start.merging(event(.status, at: 10, status: "UploadSucc"), rules: aliyun)
        #expect(seen.uploadEventAt == 10 && !seen.done)
        let transcoding = seen.merging(event(.status, at: 11, status: "Transcoding"), rules: aliyun)
        #expect(transcoding.procedureStatus == "Transcoding" && !transcoding.done && transcoding.uploadEventAt == 10)
        let normal = transcoding.merging(event(.status, at: 12, status: "Normal"), rules: aliyun)
        #expect(normal.done && !normal.failed && normal.procedureStatusAt == 12)
        #expect(normal.merging(event(.status, at: 13, status: "Transcoding"), rules: aliyun) == normal)
        #expect(seen.merging(event(.status, at: 12, status: "TranscodeFail"), rules: aliyun).failed)
        #expect(seen.merging(event(.status, at: 12, status: "NotFound", failure: "gone"), rules: aliyun).failed)
    }
}
