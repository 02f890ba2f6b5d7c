/// A backend shared by several bureaud nodes says which one of them runs the background work (checkpoint
/// publishing, the retention purge, the anomaly monitor, the log's self-audit) through a lease the database
/// holds, so that the work runs on one node at a time and moves to another when that node dies.
///
/// A backend only one process opens (LMDB) does not adopt it: its one process always runs the work.
public protocol BackgroundWorkLease: Sendable {
    /// Whether this process holds the lease now, taking it when no live node holds it.
    ///
    /// Never throws: a lease that cannot be confirmed (the database is unreachable) is not held.
    func holdsBackgroundLease() -> Bool
}

extension Store {
    /// Whether this node is the one to run background work now: always with a backend of one process, and
    /// while it holds the backend's lease with one shared by several nodes (``BackgroundWorkLease``).
    public func holdsBackgroundLease() -> Bool {
        (self.backend as? any BackgroundWorkLease)?.holdsBackgroundLease() ?? true
    }
}
