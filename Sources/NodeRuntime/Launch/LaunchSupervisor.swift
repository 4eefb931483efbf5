import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs the processes of a launch file like `ros2 launch`: starts each (in its own process group, signals at
/// their defaults), restarts those with `respawn` after `respawn_delay` up to `respawn_max_retries` times, and
/// on `requestShutdown()` sends SIGTERM to every child, then SIGKILL to any still running after its
/// `sigterm_timeout`.
public final class LaunchSupervisor: @unchecked Sendable {
    /// One line per lifecycle event (started, exited, respawning, killed); stderr by default.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("[launch] " + $0 + "\n").utf8)) }

    private struct Child {
        var spec: LaunchProcess
        var pid: pid_t?
        var restarts = 0
        var restartAt: Date?
        var finished = false
        var killAt: Date?
        var lastStatus: Int32 = 0
    }

    private let file: LaunchFile
    private let selfExecutable: String
    private let lock = NSLock()
    private var shutdownRequested = false
    private var children: [Child]

    public init(file: LaunchFile, selfExecutable: String) {
        self.file = file
        self.selfExecutable = selfExecutable
        self.children = file.processes.map { Child(spec: $0) }
    }

    /// Begin the orderly stop (SIGINT/SIGTERM handler). Safe from any thread.
    public func requestShutdown() {
        lock.lock()
        shutdownRequested = true
        lock.unlock()
    }

    private var stopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return shutdownRequested
    }

    /// The pids of running children by name (for tests and status).
    public var runningPids: [String: pid_t] {
        lock.lock()
        defer { lock.unlock() }
        var out: [String: pid_t] = [:]
        for c in children { if let p = c.pid { out[c.spec.name] = p } }
        return out
    }

    /// Runs until every child has ended for good. Returns 0 after a requested shutdown or when every process
    /// exited 0, 1 otherwise.
    public func run() -> Int32 {
        for i in children.indices { spawn(i) }
        var shuttingDown = false
        var failed = false
        while true {
            if !shuttingDown && stopping {
                shuttingDown = true
                log("shutting down: SIGTERM to every process")
                lock.lock()
                for i in children.indices {
                    children[i].restartAt = nil
                    if let pid = children[i].pid {
                        kill(pid, SIGTERM)
                        children[i].killAt = Date().addingTimeInterval(children[i].spec.sigtermTimeout)
                    } else {
                        children[i].finished = true
                    }
                }
                lock.unlock()
            }
            reap(shuttingDown: shuttingDown, failed: &failed)
            let now = Date()
            lock.lock()
            for i in children.indices {
                if let pid = children[i].pid, let killAt = children[i].killAt, now >= killAt {
                    log("\(children[i].spec.name) (pid \(pid)) still running after \(children[i].spec.sigtermTimeout) s: SIGKILL")
                    kill(-pid, SIGKILL)  // its whole process group
                    kill(pid, SIGKILL)
                    children[i].killAt = nil
                }
            }
            let due = children.indices.filter { children[$0].pid == nil && !children[$0].finished && (children[$0].restartAt.map { now >= $0 } ?? false) }
            lock.unlock()
            if !shuttingDown { for i in due { spawn(i) } }
            lock.lock()
            let allDone = children.allSatisfy { $0.finished }
            lock.unlock()
            if allDone { break }
            usleep(20_000)
        }
        log("all processes stopped")
        return shuttingDown || !failed ? 0 : 1
    }

    private func reap(shuttingDown: Bool, failed: inout Bool) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            lock.lock()
            guard let i = children.firstIndex(where: { $0.pid == pid }) else {
                lock.unlock()
                continue
            }
            children[i].pid = nil
            children[i].killAt = nil
            children[i].lastStatus = status
            let spec = children[i].spec
            let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
            let how = (status & 0x7f) == 0 ? "exited with status \(exitCode)" : "killed by signal \(status & 0x7f)"
            if shuttingDown {
                children[i].finished = true
                lock.unlock()
                log("\(spec.name) (pid \(pid)) \(how)")
                continue
            }
            let canRespawn = spec.respawn && (spec.respawnMaxRetries < 0 || children[i].restarts < spec.respawnMaxRetries)
            if canRespawn {
                children[i].restarts += 1
                children[i].restartAt = Date().addingTimeInterval(spec.respawnDelay)
                let limit = spec.respawnMaxRetries < 0 ? "unlimited" : String(spec.respawnMaxRetries)
                lock.unlock()
                log("\(spec.name) (pid \(pid)) \(how); respawning in \(spec.respawnDelay) s (restart \(children[i].restarts) of \(limit))")
            } else {
                children[i].finished = true
                if exitCode != 0 { failed = true }
                lock.unlock()
                log("\(spec.name) (pid \(pid)) \(how)" + (spec.respawn ? "; respawn limit reached" : ""))
                if spec.shutdownOnExit {
                    log("\(spec.name) has on_exit: shutdown")
                    requestShutdown()
                }
            }
        }
    }

    private func spawn(_ i: Int) {
        lock.lock()
        let spec = children[i].spec
        lock.unlock()
        let command = spec.command == "perception-node" ? selfExecutable : spec.command
        var env = ProcessInfo.processInfo.environment
        for (k, v) in spec.environment { env[k] = v }
        let argv = ([command] + spec.arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        var rc: Int32
        if let cwd = spec.workingDirectory {
            let previous = FileManager.default.currentDirectoryPath
            FileManager.default.changeCurrentDirectoryPath(cwd)
            rc = posix_spawnp(&pid, command, nil, &attr, argv, envp)
            FileManager.default.changeCurrentDirectoryPath(previous)
        } else {
            rc = posix_spawnp(&pid, command, nil, &attr, argv, envp)
        }
        lock.lock()
        if rc == 0 {
            children[i].pid = pid
            children[i].restartAt = nil
            lock.unlock()
            log("started \(spec.name) (pid \(pid)): \(([command] + spec.arguments).joined(separator: " "))")
        } else {
            children[i].finished = true
            lock.unlock()
            log("cannot start \(spec.name) (\(command)): \(String(cString: strerror(rc)))")
        }
    }
}
