import IngestCore
import Testing

@testable import IngestEngine

@Suite("report rows")
struct ReporterTests {
    @Test func theHeaderIsTheDocumentedOneAndEveryRowFillsIt() {
        // The header users and auditors rely on (README, `vodingest report`).
        #expect(
            ReportRow.columns.joined(separator: ",") == """
                manifest,line,id,path,size,md5,status,file_id,media_url,cover_url,title,source_context,duplicate_of,error_code,\
                error_message,attempts,apply_request_id,commit_request_id,recovered,created_at,updated_at,committed_at,platform_status,\
                crc64,metadata_error,change,change_detail,changed_at,replaced_file_id,replaced_deleted,delete_error,upload_event_at,\
                procedure_task_id,procedure_status,procedure_status_at
                """)
        let record = JournalRecord(
            manifest: "m.csv", line: 4, id: "ep-1", path: "media/ep1.mp4", title: "=cmd", size: 1979, md5: "d64f", state: .committing,
            sourceContext: "ctx", fileID: nil, mediaURL: nil, coverURL: nil, duplicateOf: nil, errorCode: nil, errorMessage: nil,
            attempts: 2, applyRequestID: "a", commitRequestID: nil, recovered: false, createdAt: 1_700_000_000_123,
            updatedAt: 1_700_000_001_000, committedAt: nil)
        let row = ReportRow(record)
        let fields = row.csvFields
        #expect(fields.count == ReportRow.columns.count)
        let cell = Dictionary(uniqueKeysWithValues: zip(ReportRow.columns, fields))
        #expect(cell["status"] == "pending")  // in flight is pending in a report
        #expect(cell["title"] == "=cmd" && row.csvLine.contains(",'=cmd,"))
        #expect(cell["created_at"] == "2023-11-14T22:13:20.123Z")
        #expect(cell["line"] == "4" && cell["attempts"] == "2" && cell["recovered"] == "false")
    }
}
