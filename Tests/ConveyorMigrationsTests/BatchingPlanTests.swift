import ConveyorJSON
import Testing

@testable import ConveyorMigrations

@Suite("Choosing how to batch a table")
struct BatchingPlanTests {
    typealias Column = TableFacts.Column
    typealias Index = TableFacts.Index

    /// `events(partition_id int, id bigint, project_id int, uuid uuid, name text, note text NULL)`.
    let facts = TableFacts(
        table: "events",
        columns: [
            Column(name: "partition_id", type: "integer", notNull: true), Column(name: "id", type: "bigint", notNull: true),
            Column(name: "project_id", type: "integer", notNull: true), Column(name: "uuid", type: "uuid", notNull: true),
            Column(name: "name", type: "text", notNull: true), Column(name: "note", type: "text", notNull: false),
            Column(name: "at", type: "timestamp with time zone", notNull: true),
        ],
        indexes: [
            Index(name: "events_pkey", columns: ["partition_id", "id"], isUnique: true, isPrimary: true),
            Index(name: "events_uuid_key", columns: ["uuid"], isUnique: true),
            Index(name: "events_name_key", columns: ["name"], isUnique: true),
            Index(name: "events_note_key", columns: ["note"], isUnique: true),
            Index(name: "events_project_id_idx", columns: ["project_id", "id"], isUnique: false),
            Index(name: "events_at_partial_key", columns: ["at"], isUnique: true, isUsable: false),
        ])

    func choose(_ column: String, cursor: [String]? = nil, batchClass: BatchClass = .primaryKey, jobCursor: [String]? = nil) -> Result<Batching, MigrationError> {
        BatchingPlan.choose(.init(column: column, cursor: cursor, batchClass: batchClass, jobClassName: "Job", jobCursor: jobCursor), facts: facts)
    }

    func refusal(_ result: Result<Batching, MigrationError>) -> String {
        if case .failure(let error) = result { return error.message }
        return "accepted: \(result)"
    }

    @Test("an integer column is walked by key, as GitLab's PrimaryKeyBatchingStrategy does")
    func integerKey() throws {
        #expect(try choose("id").get() == .integerKey(column: "id"))
        #expect(try choose("partition_id").get().batchClass == .primaryKey)
    }

    @Test("--cursor over a unique tuple is a cursor walk; COLUMN must be its first column")
    func cursor() throws {
        #expect(try choose("partition_id", cursor: ["partition_id", "id"]).get() == .cursor(columns: ["partition_id", "id"]))
        #expect(refusal(choose("id", cursor: ["partition_id", "id"])).contains("COLUMN must be the cursor's first column"))
        #expect(refusal(choose("partition_id", cursor: ["partition_id", "partition_id"])).contains("twice"))
        #expect(refusal(choose("partition_id", cursor: ["partition_id", "nope"])).contains("cursor column 'nope' does not exist in table 'events'"))
    }

    @Test("a cursor not backed by a unique index on exactly its columns, in order, is refused with the reason and the unique indexes")
    func cursorNeedsUniqueIndex() throws {
        let reversed = refusal(choose("id", cursor: ["id", "partition_id"]))
        #expect(reversed.contains("cursor (id, partition_id) is not backed by a unique index or primary key"))
        #expect(reversed.contains("could be skipped or migrated twice"))
        #expect(reversed.contains("events_pkey (partition_id, id)"))
        #expect(refusal(choose("project_id", cursor: ["project_id", "id"])).contains("not backed by a unique index"))
        #expect(refusal(choose("partition_id", cursor: ["partition_id"])).contains("not backed by a unique index"))
        #expect(refusal(choose("at", cursor: ["at"])).contains("not backed by a unique index"), "a partial index does not count")
    }

    @Test("a nullable cursor column is refused: its NULL rows would never be migrated")
    func nullableCursor() throws {
        #expect(refusal(choose("note", cursor: ["note"])).contains("can be NULL"))
    }

    @Test("uuid and text keys without --cursor are walked as a one-column cursor when unique")
    func nonIntegerKeys() throws {
        #expect(try choose("uuid").get() == .cursor(columns: ["uuid"]))
        #expect(try choose("name").get() == .cursor(columns: ["name"]))
        let at = refusal(choose("at"))
        #expect(at.contains("'at' is timestamp with time zone, not an integer"))
        #expect(at.contains("not backed by a unique index"))
    }

    @Test("a job class's own cursor is used, and a different --cursor refused")
    func jobCursor() throws {
        #expect(try choose("partition_id", jobCursor: ["partition_id", "id"]).get() == .cursor(columns: ["partition_id", "id"]))
        #expect(try choose("partition_id", cursor: ["partition_id", "id"], jobCursor: ["partition_id", "id"]).get().isCursor)
        #expect(refusal(choose("uuid", cursor: ["uuid"], jobCursor: ["partition_id", "id"])).contains("Job walks the cursor (partition_id, id)"))
    }

    @Test("LooseIndexScanBatchingStrategy: an integer column with an index that starts with it, and no cursor")
    func looseIndexScan() throws {
        #expect(try choose("project_id", batchClass: .looseIndexScan).get() == .distinctValues(column: "project_id"))
        #expect(try choose("project_id", batchClass: .looseIndexScan).get().batchClass == .looseIndexScan)
        #expect(refusal(choose("id", batchClass: .looseIndexScan)).contains("needs a btree index whose first column is 'id'"))
        #expect(refusal(choose("name", batchClass: .looseIndexScan)).contains("walks integer columns; 'name' is text"))
        #expect(refusal(choose("project_id", cursor: ["project_id"], batchClass: .looseIndexScan)).contains("takes no cursor"))
    }

    @Test("an unknown column is refused naming it and the table")
    func unknownColumn() throws {
        #expect(refusal(choose("nope")) == "column 'nope' does not exist in table 'events'")
    }

    @Test("batch class names: GitLab's, with or without its module prefix; unknown names list the known ones")
    func batchClassNames() throws {
        #expect(try BatchClass(named: "LooseIndexScanBatchingStrategy") == .looseIndexScan)
        #expect(try BatchClass(named: "::PrimaryKeyBatchingStrategy") == .primaryKey)
        #expect(try BatchClass(named: "Gitlab::BackgroundMigration::BatchingStrategies::LooseIndexScanBatchingStrategy") == .looseIndexScan)
        #expect(throws: MigrationError.self) { try BatchClass(named: "PrimaryKey") }
        do {
            _ = try BatchClass(named: "Nope")
            Issue.record("accepted an unknown batch class")
        } catch {
            #expect((error as? MigrationError)?.message.contains("unknown batch class 'Nope' (known: PrimaryKeyBatchingStrategy, LooseIndexScanBatchingStrategy") == true)
        }
    }

    @Test("a migration row's batching: cursor columns make a cursor walk, LooseIndexScan distinct values")
    func fromRow() throws {
        #expect(try Batching(batchClassName: "PrimaryKeyBatchingStrategy", columnName: "id", cursorColumns: nil) == .integerKey(column: "id"))
        #expect(try Batching(batchClassName: "PrimaryKeyBatchingStrategy", columnName: "a", cursorColumns: ["a", "b"]) == .cursor(columns: ["a", "b"]))
        #expect(try Batching(batchClassName: "LooseIndexScanBatchingStrategy", columnName: "p", cursorColumns: nil) == .distinctValues(column: "p"))
        #expect(throws: MigrationError.self) { try Batching(batchClassName: "BackfillIssueWorkItemTypeBatchingStrategy", columnName: "id", cursorColumns: nil) }
    }
}

@Suite("Cursor values")
struct BatchCursorTests {
    @Test("a cursor is a non-empty array of non-null scalars; each value binds as its text")
    func shape() throws {
        let cursor = try BatchCursor(JSONValue.parse(#"[7, "2f1c0b6e-1d1e-4d8a-9a43-0a6f1b2c3d4e", "2025-01-02T03:04:05.123456+00:00", true]"#))
        #expect(cursor.binds == ["7", "2f1c0b6e-1d1e-4d8a-9a43-0a6f1b2c3d4e", "2025-01-02T03:04:05.123456+00:00", "true"])
        #expect(cursor.integer == nil)
        #expect(BatchCursor(integer: 42).integer == 42)
        #expect(BatchCursor(integer: 42).description == "[42]")
        for bad in ["[]", "[null]", "[1, null]", "[[1]]", #"{"a": 1}"#, "1"] {
            #expect(throws: MigrationError.self, "\(bad)") { try BatchCursor(JSONValue.parse(bad)) }
        }
    }

    @Test("big integers keep every digit")
    func bigIntegers() throws {
        let cursor = try BatchCursor(JSONValue.parse("[9223372036854775807, 12345678901234567890]"))
        #expect(cursor.binds == ["9223372036854775807", "12345678901234567890"])
    }

    @Test("ranges print as first...last, integers without brackets")
    func ranges() throws {
        #expect(BatchRange(first: BatchCursor(integer: 1), last: BatchCursor(integer: 10)).description == "1...10")
        let range = BatchRange(first: try BatchCursor(JSONValue.parse("[1,5]")), last: try BatchCursor(JSONValue.parse("[2,3]")))
        #expect(range.description == "[1,5]...[2,3]")
    }
}
