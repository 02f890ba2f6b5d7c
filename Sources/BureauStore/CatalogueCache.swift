public import BureauCore
import Synchronization

/// The catalogue in force, read from the store and kept for a few seconds, so that a catalogue an
/// operator loads with the CLI while the daemon runs takes effect without a restart.
public final class CatalogueCache: Sendable {
    private let store: Store
    private let lifetime: Duration
    private let state = Mutex<(catalogue: Catalogue, expires: ContinuousClock.Instant)?>(nil)

    public init(store: Store, lifetime: Duration = .seconds(5)) {
        self.store = store
        self.lifetime = lifetime
    }

    /// The catalogue in force.
    public func current() throws -> Catalogue {
        let now = ContinuousClock.now
        if let cached = self.state.withLock({ $0 }), cached.expires > now { return cached.catalogue }
        let catalogue = try self.store.catalogue()
        self.state.withLock { $0 = (catalogue, now.advanced(by: self.lifetime)) }
        return catalogue
    }

    /// Forgets the cached catalogue, so that the next ``current()`` reads the store: for the process that
    /// just replaced it.
    public func invalidate() {
        self.state.withLock { $0 = nil }
    }
}
