public import BureauStore
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// The background-work lease of the nodes sharing one PostgreSQL database: a session-level advisory lock held on
/// a connection of its own to the primary. The database holds it, so it lasts exactly as long as that session:
/// a node that exits or is killed closes the session and the lock is free at once; a node whose machine vanishes
/// loses it when the server's TCP keepalives give up on the session (about 11 s, set below); a failover ends
/// every session, and the first node to reach the new primary takes it there.
///
/// Each check confirms the session is alive with one round trip before answering yes, so a node whose session
/// broke stops its background work at the next check instead of running beside the new holder.
final class AdvisoryLease: Sendable {
    /// The advisory lock's key (any constant no other tool of this database uses; `migrate` uses the one before).
    static let key = PostgresStorage.migrationLock + 1

    private let location: PostgresLocation
    private let configuration: PostgresConnection.Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    /// The lease's session and whether it holds the lock; checked one caller at a time.
    private let state = Mutex<(session: Session, held: Bool)?>(nil)
    /// Whether a check is under way, and the last answer: a caller arriving during a check gets that answer
    /// instead of waiting, so at most one thread waits on the database for the lease (a check can take the
    /// connect timeout while the primary is gone).
    private let checking = Atomic<Bool>(false)
    private let lastAnswer = Atomic<Bool>(false)

    init(location: PostgresLocation, configuration: PostgresConnection.Configuration, group: any EventLoopGroup, logger: Logger) {
        self.location = location
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Whether this process holds the lock now, taking it when it is free.
    func holds() -> Bool {
        guard self.checking.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return self.lastAnswer.load(ordering: .relaxed)
        }
        defer { self.checking.store(false, ordering: .releasing) }
        let answer = self.check()
        self.lastAnswer.store(answer, ordering: .relaxed)
        return answer
    }

    private func check() -> Bool {
        self.state.withLock { state in
            if let current = state, !current.session.connection.isClosed, !current.session.broken {
                do {
                    if current.held {
                        try current.session.run("SELECT 1")
                        return true
                    }
                    let taken = try self.tryLock(current.session)
                    state = (current.session, taken)
                    return taken
                } catch {
                    if current.held {
                        self.logger.warning("background-work lease lost", metadata: ["store": "\(self.location)", "error": "\(error)"])
                    }
                }
            }
            if let stale = state?.session { try? stale.connection.close().wait() }
            state = nil
            do {
                let session = try PrimaryConnector.connect(to: self.location, configuration: self.configuration, on: self.group, id: 0, logger: self.logger)
                state = (session, false)
                // The server notices a vanished client within idle + interval x count seconds and ends the session,
                // freeing the lock for another node.
                try session.run("SET tcp_keepalives_idle = 5")
                try session.run("SET tcp_keepalives_interval = 2")
                try session.run("SET tcp_keepalives_count = 3")
                let taken = try self.tryLock(session)
                state = (session, taken)
                return taken
            } catch {
                if let session = state?.session { try? session.connection.close().wait() }
                state = nil
                return false
            }
        }
    }

    private func tryLock(_ session: Session) throws -> Bool {
        let taken = try session.run("SELECT pg_try_advisory_lock(\(Self.key))").first?.decode(Bool.self) ?? false
        if taken { self.logger.info("background-work lease taken", metadata: ["store": "\(self.location)"]) }
        return taken
    }

    /// Gives the lease up (closes its session).
    func release() {
        let session = self.state.withLock { state in
            defer { state = nil }
            return state?.session
        }
        try? session?.connection.close().wait()
    }
}

extension PostgresStorage: BackgroundWorkLease {
    /// Whether this node runs the background work now (``AdvisoryLease``).
    public func holdsBackgroundLease() -> Bool {
        self.lease.holds()
    }
}
