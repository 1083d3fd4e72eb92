import ConveyorJSON
import ConveyorQueue
import ConveyorScheduleYAML
import Testing

@Suite("Schedule files (YAML, sidekiq-cron's format)")
struct ScheduleYAMLTests {
    func schedule(_ yaml: String, classes: Set<String> = ["HardWorker", "NoopJob"]) throws -> PeriodicSchedule {
        PeriodicSchedule.parse(document: try ScheduleYAML.document(yaml: yaml), file: "schedule.yml", knownClasses: classes)
    }

    @Test("sidekiq-cron's README example reads as is")
    func readmeExample() throws {
        let parsed = try schedule("""
            # config/schedule.yml

            my_first_job:
              cron: "*/5 * * * *"
              class: "HardWorker"
              queue: hard_worker

            second_job:
              cron: "*/30 * * * *" # execute at every 30 minutes
              class: "HardWorker"
              queue: hard_worker_long
              args:
                hard: "stuff"
            """)
        #expect(parsed.errors.isEmpty, "\(parsed.errors)")
        #expect(parsed.entries.map(\.name) == ["my_first_job", "second_job"])
        #expect(parsed.entries[0].queue == "hard_worker")
        #expect(parsed.entries[1].args == [["hard": "stuff"]])
    }

    @Test("the list form (each item with a name) reads too, with YAML's types")
    func listForm() throws {
        let parsed = try schedule("""
            - name: every_second
              cron: "* * * * * *"
              class: NoopJob
              args: [1, 2.5, true, null, "x"]
              active: false
              unique_for: 30
            """)
        let entry = try #require(parsed.entries.first)
        #expect(entry.name == "every_second" && !entry.active)
        #expect(entry.args == [1, 2.5, true, nil, "x"])
        #expect(entry.unique?.seconds == 30)
    }

    @Test("errors name the line of the field at fault")
    func lines() throws {
        let parsed = try schedule("""
            good:
              cron: "@daily"
              class: NoopJob
            bad:
              class: NoopJob
              cron: "0 25 * * *"
            unknown:
              cron: "@hourly"
              class: NoopJob
              colour: blue
            """)
        #expect(parsed.entries.map(\.name) == ["good"])
        #expect(parsed.errors == [
            "schedule.yml:6: entry 'bad': cron \"0 25 * * *\": hour 25 is out of range (0-23)",
            "schedule.yml:10: entry 'unknown': unknown key 'colour' (known: active, args, class, cron, date_as_argument, description, queue, retry, status, unique_for, unique_until)",
        ])
    }

    @Test("a class no worker registers is refused")
    func unregistered() throws {
        #expect(try schedule("x:\n  cron: '@daily'\n  class: Missing\n").errors == ["schedule.yml:3: entry 'x': class 'Missing' is not registered in this worker"])
    }

    @Test("files that are not YAML, or not a mapping, are refused with the line", arguments: [
        ("a: [1, 2\nb: 3\n", "not valid YAML"),
        ("just a string", "a schedule is a mapping"),
        ("x: 5\n", "entry 'x' must be a mapping"),
        ("- cron: '@daily'\n", "each item of a list schedule must be a mapping with a 'name'"),
    ])
    func refused(yaml: String, message: String) {
        #expect {
            try ScheduleYAML.document(yaml: yaml)
        } throws: { error in
            String(describing: error).contains(message)
        }
    }

    @Test("an empty file has no entries")
    func empty() throws {
        #expect(try ScheduleYAML.document(yaml: "") == ["entries": []])
        #expect(try ScheduleYAML.document(yaml: "# nothing yet\n") == ["entries": []])
    }
}
