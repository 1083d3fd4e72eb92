import ConveyorJSON
import ConveyorMigrations
import ConveyorPlatform
import ConveyorPostgres
import ConveyorQueue
import Foundation
import Testing
import TestSupport

/// scripts/build-image's image, tested as far as this machine allows: containers cannot be
/// run here (crun cannot set rlimits), so the image's root filesystem is mounted (`buildah
/// mount`) and its programs are run under chroot, as the image's user, with only the image's
/// environment and the servers' URLs. The suite builds the image once and removes it after.
@Suite("Container image", ContainerImageScope())
struct ContainerImageTests {
    @Test("scripts/build-image: an image from scratch holding conveyor and conveyor-web, run by a non-root user as `conveyor worker`, with OCI labels, no shell, and OCI and docker archives of itself")
    func imageConfiguration() throws {
        let image = try #require(BuiltImage.current, "the suite's scope did not build the image")
        let config = image.config
        #expect(config["Entrypoint"]?.arrayValue?.compactMap(\.stringValue) == ["/usr/local/bin/conveyor"])
        #expect(config["Cmd"]?.arrayValue?.compactMap(\.stringValue) == ["worker"])
        let user = config["User"]?.stringValue ?? ""
        #expect(!user.isEmpty && !["0", "root"].contains(user.split(separator: ":").first.map(String.init) ?? ""), "the image runs as '\(user)'")
        #expect(user == "10001:10001", "deploy/kubernetes sets runAsUser 10001; the image runs as '\(user)'")
        #expect(config["Env"]?.arrayValue?.compactMap(\.stringValue).contains("PATH=/usr/local/bin") == true)

        let labels = config["Labels"]
        let version = try ProcessRunner.run(TestEnvironment.releaseBinary, ["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(labels?["org.opencontainers.image.version"]?.stringValue == version)
        let head = try ProcessRunner.run("git", ["-C", TestEnvironment.repositoryRoot.path, "rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(head.count == 40, "git rev-parse HEAD: \(head)")
        #expect(labels?["org.opencontainers.image.revision"]?.stringValue?.hasPrefix(head) == true, "revision label: \(labels?["org.opencontainers.image.revision"]?.description ?? "none")")
        let source = labels?["org.opencontainers.image.source"]?.stringValue ?? ""
        #expect(!source.isEmpty && !source.contains("@"), "source label: '\(source)'")
        #expect(labels?["org.opencontainers.image.created"]?.stringValue?.hasSuffix("Z") == true)

        // Only what the programs need: no shell, no package manager.
        let root = image.scratchRoot
        for path in ["/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/bash", "/usr/bin/apt-get", "/usr/bin/dpkg", "/bin/busybox"] {
            #expect(!FileManager.default.fileExists(atPath: root + path), "the image has \(path)")
        }
        for path in ["/usr/local/bin/conveyor", "/usr/local/bin/conveyor-web"] {
            #expect(FileManager.default.isExecutableFile(atPath: root + path), "the image lacks \(path)")
        }
        let passwd = try String(contentsOfFile: root + "/etc/passwd", encoding: .utf8)
        #expect(passwd.contains("conveyor:x:10001:10001:"))
        #expect(try String(contentsOfFile: root + "/etc/ssl/certs/ca-certificates.crt", encoding: .utf8).contains("BEGIN CERTIFICATE"))
        #expect(FileManager.default.fileExists(atPath: root + "/usr/share/zoneinfo/Europe/Berlin"))
        // The Debian packages the files came from, recorded for scanners, with their licences.
        for package in ["libc6", "libpq5", "libhiredis0.14", "ca-certificates", "tzdata"] {
            #expect(FileManager.default.fileExists(atPath: root + "/var/lib/dpkg/status.d/\(package)"), "no record of \(package)")
            #expect(FileManager.default.fileExists(atPath: root + "/usr/share/doc/\(package)/copyright"), "no copyright file of \(package)")
        }

        // The archive holds this very image: its manifest names the image's config.
        let index = try JSONValue.parse(try image.archiveMember("index.json"))
        let manifestDigest = try #require(index["manifests"]?[0]?["digest"]?.stringValue)
        let manifest = try JSONValue.parse(try image.archiveMember("blobs/sha256/" + manifestDigest.dropFirst("sha256:".count)))
        #expect(manifest["config"]?["digest"]?.stringValue == "sha256:" + image.id)
        #expect(manifest["layers"]?.arrayValue?.isEmpty == false)
        // So does the docker-archive (`docker load -i`): its manifest.json names this image's config and tag.
        let docker = try JSONValue.parse(try image.archiveMember("manifest.json", of: image.dockerArchive))
        #expect(docker[0]?["Config"]?.stringValue?.contains(image.id) == true, "\(docker)")
        #expect(docker[0]?["RepoTags"]?.arrayValue?.contains { $0.stringValue?.contains("conveyor-test") == true } == true, "\(docker)")
        #expect(docker[0]?["Layers"]?.arrayValue?.isEmpty == false, "\(docker)")
        print("container image \(image.name): \(image.sizeLine)")
    }

    @Test("in the image's root filesystem, as its user: `conveyor worker` runs Redis jobs and a batched migration on libraries from the image, exits 0 on TERM; migrations status; conveyor web answers HTTP")
    func imageRuns() throws {
        let image = try #require(BuiltImage.current, "the suite's scope did not build the image")
        let mounted = try MountedImage(image)
        defer { mounted.remove() }
        let (redis, redisURL) = try TestEnvironment.isolatedRedis()
        let (db, databaseURL, _) = try TestEnvironment.isolatedPostgres(label: "image")
        let servers = ["REDIS_URL": redisURL, "DATABASE_URL": databaseURL]

        let versionOutput = try mounted.run(["conveyor", "--version"])
        #expect(versionOutput.status == 0 && !versionOutput.stdout.isEmpty, "\(versionOutput.stderr)")
        let setup = try mounted.run(["conveyor", "migrations", "setup"], environment: servers)
        #expect(setup.status == 0, "\(setup.stdout)\(setup.stderr)")
        try RecordJob.createTable(db)
        try MigrationFixtures.createEvents(db, rows: 20_000)
        let queued = try mounted.run(
            ["conveyor", "migrations", "queue", "CopyColumnUsingBackgroundMigrationJob", "events", "id", #"[["id"],["id_convert_to_bigint"]]"#,
             "--batch-size", "5000", "--sub-batch-size", "2500", "--interval", "0", "--pause-ms", "0", "--json"],
            environment: servers)
        #expect(queued.status == 0, "\(queued.stderr)")
        let migration = try #require(try JSONValue.parse(queued.stdout)["id"]?.int64Value)
        let jobs = 300
        try QueueClient(redis: redis).pushBulk((0..<jobs).map { JobPayload(className: "RecordJob", args: [.string("image-\($0)")]) })

        // What a container runtime would start: the entrypoint with the default command.
        let worker = try mounted.start(image.entrypoint + image.command, environment: servers)
        let done = try TestEnvironment.eventually(timeout: .seconds(120)) {
            try recorded(db) == jobs && BatchedMigrationStore(db: db).require(migration).status.name == "finished"
        }
        #expect(done, "records: \((try? recorded(db)) ?? -1) of \(jobs), migration \((try? BatchedMigrationStore(db: db).require(migration).status.name) ?? "?"):\n\(worker.log)")
        #expect(try MigrationFixtures.copyState(db) == .init(rows: 20_000, wrong: 0, notExactlyOnce: 0))
        #expect(processStatus(worker.child.pid).contains(where: { $0.hasPrefix("Uid:") && $0.split(separator: "\t").dropFirst().allSatisfy { $0 == "10001" } }),
                "the worker does not run as 10001: \(processStatus(worker.child.pid))")
        // Every file the worker mapped, libpq and glibc included, is the image's own.
        let mapped = mappedFiles(worker.child.pid)
        #expect(mapped.contains { $0.contains("/libpq.so.5") }, "the worker never loaded libpq: \(mapped)")
        #expect(mapped.contains { $0.hasSuffix("/libc.so.6") }, "no libc in the worker's maps: \(mapped)")
        let foreign = mapped.filter { !$0.hasPrefix(mounted.root + "/") }
        #expect(foreign.isEmpty, "the worker mapped files from outside the image: \(foreign)")
        let stopped = worker.terminate(timeout: .seconds(60))
        #expect(stopped == 0, "TERM: exit status \(stopped.map(String.init) ?? "none"):\n\(worker.log)")
        #expect(!worker.log.contains("error"), "\(worker.log)")

        let status = try mounted.run(["conveyor", "migrations", "status"], environment: servers)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("CopyColumnUsingBackgroundMigrationJob") && status.stdout.contains("finished"), "\(status.stdout)")

        // conveyor web finds conveyor-web next to it in the image and serves on loopback.
        let port = try PrivateRedisServer.freePort()
        let web = try mounted.start(["conveyor", "web", "--bind", "127.0.0.1:\(port)"], environment: servers)
        var stats = ""
        let answered = TestEnvironment.eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            stats = (try? ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/api/stats"]).stdout) ?? ""
            return !stats.isEmpty
        }
        #expect(answered, "conveyor web did not answer on 127.0.0.1:\(port):\n\(web.log)")
        #expect(try JSONValue.parse(stats)["processed"]?.intValue ?? 0 >= jobs, "\(stats)")
        let page = try ProcessRunner.run("curl", ["-sf", "http://127.0.0.1:\(port)/admin/background_migrations?tab=finished"])
        #expect(page.status == 0 && page.stdout.contains("CopyColumnUsingBackgroundMigrationJob"), "\(page.stdout.prefix(2000))")
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(web.child.pid)/exe")) ?? ""
        #expect(executable == mounted.root + "/usr/local/bin/conveyor-web", "the web runs \(executable)")
        #expect(web.terminate(timeout: .seconds(30)) != nil, "conveyor web did not stop on TERM:\n\(web.log)")
    }

    func recorded(_ db: PostgresConnection) throws -> Int {
        try db.query("SELECT count(*) AS n FROM conveyor_records").first?["n"].int() ?? 0
    }

    func processStatus(_ pid: pid_t) -> [String] {
        (SmallFile.contents(of: "/proc/\(pid)/status") ?? "").split(separator: "\n").map(String.init)
    }

    /// Files in /proc/PID/maps, seen from outside the chroot (so with the image's mount point).
    func mappedFiles(_ pid: pid_t) -> Set<String> {
        // Foundation's String(contentsOfFile:) stops at procfs's first page; read to the end.
        let maps = SmallFile.contents(of: "/proc/\(pid)/maps") ?? ""
        // "address perms offset device inode   /path": the path is what follows the first " /".
        return Set(maps.split(separator: "\n").compactMap { line in
            line.range(of: " /").map { String(line[line.index(before: $0.upperBound)...]) }
                .flatMap { $0.hasPrefix("/dev/") ? nil : $0.replacingOccurrences(of: " (deleted)", with: "") }
        })
    }
}

@Suite("Kubernetes manifests")
struct KubernetesManifestTests {
    @Test("deploy/kubernetes: kubectl kustomize gives every container the image named once in kustomization.yaml, and the rendered manifests validate")
    func kustomization() throws {
        let directory = TestEnvironment.repositoryRoot.appendingPathComponent("deploy/kubernetes")
        let kustomization = try String(contentsOf: directory.appendingPathComponent("kustomization.yaml"), encoding: .utf8)
        let name = try #require(value(of: "newName", in: kustomization)), tag = try #require(value(of: "newTag", in: kustomization))
        let rendered = try ProcessRunner.run("kubectl", ["kustomize", directory.path])
        #expect(rendered.status == 0, "\(rendered.stderr)")
        let images = rendered.stdout.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("image:") }
            .map { $0.trimmingCharacters(in: .whitespaces).dropFirst("image:".count).trimmingCharacters(in: .whitespaces) }
        #expect(images.count == 2, "a worker and a web container expected: \(images)")
        #expect(images.allSatisfy { $0 == "\(name):\(tag)" }, "images: \(images)")
        #expect(!rendered.stdout.contains("/bin/sh"), "a manifest runs a shell, which the image does not have")

        let file = ProcessRunner.temporaryFile("kustomized.yaml")
        try rendered.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let validate = try ProcessRunner.run(
            "python3", ["-m", "kubernetes_validate", "--strict", file], environment: ["PYTHONPATH": TestEnvironment.pythonLibraryPath])
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
        #expect(validate.stdout.contains("deployment/conveyor-worker") && validate.stdout.contains("deployment/conveyor-web"), "\(validate.stdout)")
    }

    func value(of key: String, in yaml: String) -> String? {
        yaml.split(separator: "\n").lazy.map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix("\(key):") }
            .map { $0.dropFirst(key.count + 1).trimmingCharacters(in: CharacterSet(charactersIn: " \"'")) }
    }
}

/// The image the suite built with scripts/build-image, and its configuration.
struct BuiltImage: Sendable {
    @TaskLocal static var current: BuiltImage?

    let name: String
    let id: String
    let config: JSONValue
    let archive: String
    let dockerArchive: String
    let sizeLine: String
    /// A container's root filesystem, mounted for the configuration test to look at.
    let scratchRoot: String
    let scratch: MountedImage

    var entrypoint: [String] { config["Entrypoint"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
    var command: [String] { config["Cmd"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    static func build() throws -> BuiltImage {
        guard getuid() == 0 else { throw ImageTestError("the image test mounts the image and runs chroot: run scripts/test as root") }
        _ = try TestEnvironment.releaseBinary
        let name = "localhost/conveyor-test:\(getpid())"
        let archive = ProcessRunner.temporaryFile("conveyor-image.oci.tar")
        let dockerArchive = ProcessRunner.temporaryFile("conveyor-image.docker.tar")
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/build-image").path
        let started = ContinuousClock.now
        let build = try ProcessRunner.run(script, ["--no-build", name, "--oci-archive", archive, "--docker-archive", dockerArchive], timeout: .seconds(900))
        guard build.status == 0 else { throw ImageTestError("scripts/build-image failed (\(build.status)):\n\(build.stdout)\(build.stderr)") }
        let inspect = try ProcessRunner.run("buildah", ["inspect", "--type", "image", name])
        guard inspect.status == 0 else { throw ImageTestError("buildah inspect \(name): \(inspect.stderr)") }
        let description = try JSONValue.parse(inspect.stdout)
        guard let id = description["FromImageID"]?.stringValue, let config = description["OCIv1"]?["config"] else {
            throw ImageTestError("buildah inspect gave no image ID or config:\n\(inspect.stdout.prefix(2000))")
        }
        let sizeLine = build.stdout.split(separator: "\n").first { $0.hasPrefix("image ") }.map(String.init) ?? "(no size printed)"
        print("scripts/build-image took \(ContinuousClock.now - started): \(sizeLine)")
        var image = BuiltImage(name: name, id: id, config: config, archive: archive, dockerArchive: dockerArchive, sizeLine: sizeLine, scratchRoot: "", scratch: .none)
        let scratch = try MountedImage(image, bindSystemDirectories: false)
        image = BuiltImage(name: name, id: id, config: config, archive: archive, dockerArchive: dockerArchive, sizeLine: sizeLine, scratchRoot: scratch.root, scratch: scratch)
        return image
    }

    func remove() {
        scratch.remove()
        // By name: the build is reproducible, so a user's own tag may name the same image ID.
        _ = try? ProcessRunner.run("buildah", ["rmi", name])
        try? FileManager.default.removeItem(atPath: archive)
    }

    func archiveMember(_ member: some StringProtocol, of file: String? = nil) throws -> String {
        let archive = file ?? self.archive
        let output = try ProcessRunner.run("tar", ["-xOf", archive, String(member)])
        guard output.status == 0 else { throw ImageTestError("\(member) is not in \(archive): \(output.stderr)") }
        return output.stdout
    }
}

/// A container made from the image (`buildah from`), its root filesystem mounted, with the
/// host's /proc and /dev bound into it as a container runtime would provide them.
struct MountedImage: Sendable {
    let container: String
    let root: String
    let user: String
    let environment: [String: String]
    let boundDirectories: [String]

    static let none = MountedImage(container: "", root: "", user: "", environment: [:], boundDirectories: [])

    private init(container: String, root: String, user: String, environment: [String: String], boundDirectories: [String]) {
        (self.container, self.root, self.user, self.environment, self.boundDirectories) = (container, root, user, environment, boundDirectories)
    }

    init(_ image: BuiltImage, bindSystemDirectories: Bool = true) throws {
        let from = try ProcessRunner.run("buildah", ["from", "--pull=never", "--quiet", image.id])
        guard from.status == 0 else { throw ImageTestError("buildah from \(image.id): \(from.stderr)") }
        container = from.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let mount = try ProcessRunner.run("buildah", ["mount", container])
        guard mount.status == 0 else {
            _ = try? ProcessRunner.run("buildah", ["rm", container])
            throw ImageTestError("buildah mount \(container): \(mount.stderr)")
        }
        root = mount.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        user = image.config["User"]?.stringValue ?? ""
        var environment: [String: String] = [:]
        for entry in image.config["Env"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { environment[parts[0]] = parts[1] }
        }
        self.environment = environment
        var bound: [String] = []
        if bindSystemDirectories {
            for directory in ["/proc", "/dev"] {
                let bind = try ProcessRunner.run("mount", ["--bind", directory, root + directory])
                guard bind.status == 0 else {
                    MountedImage(container: container, root: root, user: user, environment: environment, boundDirectories: bound).remove()
                    throw ImageTestError("mount --bind \(directory) \(root + directory): \(bind.stderr)")
                }
                bound.append(root + directory)
            }
        }
        boundDirectories = bound
    }

    /// The chroot command line running `arguments` inside the image as its user.
    private func chroot(_ arguments: [String]) -> [String] {
        ["--userspec=\(user)", root] + arguments
    }

    private func environment(_ extra: [String: String]) -> [String: String] {
        environment.merging(extra) { $1 }
    }

    /// Runs to completion inside the image, with only the image's environment and `extra`.
    func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ImageOutput {
        let out = ProcessRunner.temporaryFile("image-stdout"), err = ProcessRunner.temporaryFile("image-stderr")
        let child = try ChildProcess("/usr/sbin/chroot", chroot(arguments), environment: environment(extra), stdout: out, stderr: err)
        var status = child.wait(timeout: .seconds(120))
        if status == nil {
            child.signal(SIGKILL)
            status = child.wait()
        }
        return ImageOutput(
            status: status ?? -1,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Starts a long-running program inside the image (chroot execs it: same pid).
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ImageProcess {
        let log = ProcessRunner.temporaryFile("image-process.log")
        return ImageProcess(child: try ChildProcess("/usr/sbin/chroot", chroot(arguments), environment: environment(extra), stdout: log, stderr: log), logPath: log)
    }

    func remove() {
        guard !container.isEmpty else { return }
        for directory in boundDirectories.reversed() { _ = try? ProcessRunner.run("umount", ["--lazy", directory]) }
        _ = try? ProcessRunner.run("buildah", ["umount", container])
        _ = try? ProcessRunner.run("buildah", ["rm", container])
    }
}

struct ImageOutput: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

final class ImageProcess: Sendable {
    let child: ChildProcess
    let logPath: String

    init(child: ChildProcess, logPath: String) {
        self.child = child
        self.logPath = logPath
    }

    deinit {
        if child.isRunning {
            child.signal(SIGKILL)
            child.wait()
        }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func terminate(timeout: Duration) -> Int32? {
        child.signal(SIGTERM)
        return child.wait(timeout: timeout)
    }
}

struct ImageTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Builds the image once around the whole suite and removes it afterwards.
struct ContainerImageScope: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let image = try BuiltImage.build()
        defer { image.remove() }
        try await BuiltImage.$current.withValue(image) { try await function() }
    }
}

extension TestEnvironment {
    /// The release `conveyor` scripts/test built (conveyor-web beside it), which the image holds.
    static var releaseBinary: String {
        get throws {
            let binary = try value("CONVEYOR_RELEASE_BINARY")
            let web = URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("conveyor-web").path
            guard FileManager.default.isExecutableFile(atPath: web) else {
                throw ImageTestError("\(web) is missing: scripts/test builds it with scripts/build-release conveyor conveyor-web")
            }
            return binary
        }
    }
}
